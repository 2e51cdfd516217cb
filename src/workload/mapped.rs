//! Any CSV trace, read through a column mapping ([`ColumnMapping`], [`read_mapped`]).
//!
//! # Mapping syntax
//!
//! A comma-separated list of `key=value` items, e.g.
//!
//! ```text
//! submit=timestamp:datetime(%Y-%m-%d %H:%M:%S),duration=duration:s,gpus=num_gpus,vc=cluster
//! ```
//!
//! | key | value | meaning |
//! | --- | --- | --- |
//! | `submit` (required) | `COLUMN[:TIME]` | submit time |
//! | `duration` | `COLUMN[:UNIT]` | run time; give `duration` or `end` |
//! | `end` | `COLUMN[:TIME]` | end time: duration = end − start (or − submit) |
//! | `start` | `COLUMN[:TIME]` | start time, only with `end` |
//! | `gpus` (required) | `COLUMN` | GPUs, a whole number from 1 |
//! | `vc` | `COLUMN` | virtual cluster (default `default`) |
//! | `id` | `COLUMN` | job id (default `<file-stem>-<line>`) |
//! | `priority` | `COLUMN` | integer or OpenPAI class (default `test`, 10) |
//! | `gpu_type` | `COLUMN` | GPU model(s), `|`-separated (default any) |
//! | `header` | `yes` or `no` | does the first line name the columns (default `yes`) |
//! | `delimiter` | `comma`, `semicolon`, `tab`, `pipe`, `space` | field separator (default `comma`) |
//!
//! - `COLUMN` is a header name, or `#N` for the N-th column (from 1); a name containing
//!   `,` `:` `=` or `(` must be given as `#N`. With `header=no`, only `#N` works.
//! - `UNIT` is `s` (default), `ms`, `min` or `h`: the value is a number (decimals allowed).
//! - `TIME` is a `UNIT`, or `datetime(FORMAT)` with a chrono/strftime `FORMAT` such as
//!   `%Y-%m-%d %H:%M:%S` (the default when written `datetime` alone). Datetimes are
//!   absolute (local time, no zone, so daylight-saving changes are ignored): the ingest
//!   step shifts them so that the first submit is 0. Numbers are offsets and are kept.
//!   `submit`, `end` and `start` must all be numbers or all be datetimes.
//! - Spaces around items, keys and values are ignored; commas inside `datetime(…)` do not
//!   split items.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use chrono::format::{Item, StrftimeItems};

use super::source::{
    CsvFormat, CsvRows, CsvTrace, RowInfo, datetime_ms, default_priority, file_stem, gpus_field,
    number_to_ms, priority_field, trace_error,
};
use super::trace::{IngestReport, TraceError, TraceJob};
use crate::sim::SimTimeMs;

/// The keys a mapping knows, in the order [`ColumnMapping`]'s `Display` writes them.
pub const MAPPING_KEYS: [&str; 11] = [
    "submit",
    "duration",
    "end",
    "start",
    "gpus",
    "vc",
    "id",
    "priority",
    "gpu_type",
    "header",
    "delimiter",
];

const UNITS: [(&str, u64); 4] = [("ms", 1), ("s", 1000), ("min", 60_000), ("h", 3_600_000)];
const DELIMITERS: [(&str, u8); 5] = [
    ("comma", b','),
    ("semicolon", b';'),
    ("tab", b'\t'),
    ("pipe", b'|'),
    ("space", b' '),
];
const DEFAULT_DATETIME: &str = "%Y-%m-%d %H:%M:%S";
const EXAMPLE: &str =
    "submit=timestamp:datetime(%Y-%m-%d %H:%M:%S),duration=duration:s,gpus=num_gpus,vc=cluster";

/// A bad column mapping: which item, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("column mapping{}: {problem}; {fix}", item.as_ref().map(|i| format!(" item {i:?}")).unwrap_or_default())]
pub struct MappingError {
    /// The offending `key=value` item, when one is at fault.
    pub item: Option<String>,
    /// What is wrong.
    pub problem: String,
    /// How to fix it.
    pub fix: String,
}

fn mapping_error(
    item: Option<&str>,
    problem: impl Into<String>,
    fix: impl Into<String>,
) -> MappingError {
    MappingError {
        item: item.map(str::to_string),
        problem: problem.into(),
        fix: fix.into(),
    }
}

/// A column of the CSV file: by header name or by 0-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnRef {
    /// A header name.
    Name(String),
    /// A position, 0-based (written `#1` for the first column).
    Index(usize),
}

impl fmt::Display for ColumnRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ColumnRef::Name(name) => f.write_str(name),
            ColumnRef::Index(i) => write!(f, "#{}", i + 1),
        }
    }
}

/// How a time column is written.
#[derive(Debug, Clone)]
pub enum TimeFormat {
    /// A number of units; `unit_ms` milliseconds per unit, `unit` its name (`s`, …).
    Number {
        /// The unit's name.
        unit: &'static str,
        /// Milliseconds per unit.
        unit_ms: u64,
    },
    /// A calendar date and time in a strftime format.
    DateTime {
        /// The format as written.
        format: String,
        /// The format, parsed once.
        items: Vec<Item<'static>>,
    },
}

impl PartialEq for TimeFormat {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl Eq for TimeFormat {}

impl fmt::Display for TimeFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TimeFormat::Number { unit, .. } => f.write_str(unit),
            TimeFormat::DateTime { format, .. } => write!(f, "datetime({format})"),
        }
    }
}

/// A time column and how to read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeColumn {
    /// The column.
    pub column: ColumnRef,
    /// How its values are written.
    pub format: TimeFormat,
}

impl fmt::Display for TimeColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.column, self.format)
    }
}

/// Where a job's run time comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DurationSource {
    /// A duration column in a unit (always [`TimeFormat::Number`]).
    Column(TimeColumn),
    /// An end time, minus the start time when given, else minus the submit time.
    End {
        /// The end time.
        end: TimeColumn,
        /// The start time, if the trace has one.
        start: Option<TimeColumn>,
    },
}

/// Which CSV columns hold the job fields, and how times are written. Parse one from the
/// syntax in the module docs with [`str::parse`] / [`ColumnMapping::from_str`];
/// `Display` writes it back in the same syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMapping {
    /// Submit time.
    pub submit: TimeColumn,
    /// Run time.
    pub duration: DurationSource,
    /// GPU count.
    pub gpus: ColumnRef,
    /// Virtual cluster, if the trace has one.
    pub vc: Option<ColumnRef>,
    /// Job id, if the trace has one.
    pub id: Option<ColumnRef>,
    /// Priority, if the trace has one.
    pub priority: Option<ColumnRef>,
    /// GPU model constraint, if the trace has one.
    pub gpu_type: Option<ColumnRef>,
    /// Whether the first line is a header.
    pub header: bool,
    /// Field separator.
    pub delimiter: u8,
}

impl ColumnMapping {
    /// True when submit times are calendar datetimes (the ingest step shifts them).
    pub fn absolute_times(&self) -> bool {
        matches!(self.submit.format, TimeFormat::DateTime { .. })
    }
}

impl fmt::Display for ColumnMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "submit={}", self.submit)?;
        match &self.duration {
            DurationSource::Column(c) => write!(f, ",duration={c}")?,
            DurationSource::End { end, start } => {
                write!(f, ",end={end}")?;
                if let Some(start) = start {
                    write!(f, ",start={start}")?;
                }
            }
        }
        write!(f, ",gpus={}", self.gpus)?;
        for (key, column) in [
            ("vc", &self.vc),
            ("id", &self.id),
            ("priority", &self.priority),
            ("gpu_type", &self.gpu_type),
        ] {
            if let Some(column) = column {
                write!(f, ",{key}={column}")?;
            }
        }
        if !self.header {
            f.write_str(",header=no")?;
        }
        if self.delimiter != b',' {
            let name = DELIMITERS
                .iter()
                .find(|(_, d)| *d == self.delimiter)
                .map_or("comma", |(n, _)| n);
            write!(f, ",delimiter={name}")?;
        }
        Ok(())
    }
}

/// Splits at commas outside parentheses.
fn split_items(text: &str) -> Result<Vec<&str>, MappingError> {
    let mut items = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth.checked_sub(1).ok_or_else(|| {
                    mapping_error(
                        Some(text[start..].split(',').next().unwrap_or("").trim()),
                        "a ) without a matching (",
                        "write datetime(FORMAT) with both parentheses",
                    )
                })?;
            }
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth > 0 {
        return Err(mapping_error(
            Some(text[start..].trim()),
            "a ( is never closed",
            "close datetime(FORMAT) with )",
        ));
    }
    items.push(&text[start..]);
    Ok(items)
}

fn parse_column(item: &str, text: &str) -> Result<ColumnRef, MappingError> {
    if text.is_empty() {
        return Err(mapping_error(
            Some(item),
            "names no column",
            "write key=COLUMN with a header name or #N (from #1)",
        ));
    }
    if let Some(position) = text.strip_prefix('#') {
        return match position.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(ColumnRef::Index(n - 1)),
            _ => Err(mapping_error(
                Some(item),
                format!("{text:?} is not a column position"),
                "write #N with N from 1 for the first column",
            )),
        };
    }
    Ok(ColumnRef::Name(text.to_string()))
}

fn parse_unit(item: &str, text: &str) -> Result<TimeFormat, MappingError> {
    UNITS
        .iter()
        .find(|(name, _)| *name == text)
        .map(|(unit, unit_ms)| TimeFormat::Number {
            unit,
            unit_ms: *unit_ms,
        })
        .ok_or_else(|| {
            mapping_error(
                Some(item),
                format!("unknown time unit {text:?}"),
                "use s, ms, min or h (or datetime(FORMAT) for submit, end and start)",
            )
        })
}

fn parse_time_format(item: &str, text: &str) -> Result<TimeFormat, MappingError> {
    let Some(rest) = text.strip_prefix("datetime") else {
        return parse_unit(item, text);
    };
    let format = match rest.trim() {
        "" => DEFAULT_DATETIME.to_string(),
        inner => inner
            .strip_prefix('(')
            .and_then(|f| f.strip_suffix(')'))
            .filter(|f| !f.trim().is_empty())
            .ok_or_else(|| {
                mapping_error(
                    Some(item),
                    format!("{text:?} is not datetime(FORMAT)"),
                    format!("write e.g. datetime({DEFAULT_DATETIME})"),
                )
            })?
            .to_string(),
    };
    let items = StrftimeItems::new(&format).parse_to_owned().map_err(|_| {
        mapping_error(
            Some(item),
            format!("{format:?} is not a valid date format"),
            "use strftime fields such as %Y-%m-%d %H:%M:%S (%Y year, %m month, %d day, \
             %H hour, %M minute, %S second, %s Unix seconds)",
        )
    })?;
    Ok(TimeFormat::DateTime { format, items })
}

/// Splits `COLUMN[:FORMAT]` at the first `:` (a datetime format has more).
fn split_format(value: &str) -> (&str, Option<&str>) {
    match value.split_once(':') {
        Some((column, format)) => (column.trim(), Some(format.trim())),
        None => (value.trim(), None),
    }
}

impl FromStr for ColumnMapping {
    type Err = MappingError;

    fn from_str(text: &str) -> Result<Self, MappingError> {
        if text.trim().is_empty() {
            return Err(mapping_error(
                None,
                "is empty",
                format!("give at least submit, duration (or end) and gpus, e.g. {EXAMPLE}"),
            ));
        }
        let mut values: [Option<(String, String)>; MAPPING_KEYS.len()] = Default::default();
        for item in split_items(text)? {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let Some((key, value)) = item.split_once('=') else {
                return Err(mapping_error(
                    Some(item),
                    "has no =",
                    "write key=COLUMN, e.g. gpus=num_gpus",
                ));
            };
            let key = key.trim();
            let Some(slot) = MAPPING_KEYS.iter().position(|k| *k == key) else {
                let closest = MAPPING_KEYS
                    .iter()
                    .min_by_key(|k| strsim::levenshtein(key, k));
                let hint = closest
                    .filter(|k| strsim::levenshtein(key, k) <= 2)
                    .map(|k| format!("did you mean {k}? "))
                    .unwrap_or_default();
                return Err(mapping_error(
                    Some(item),
                    format!("unknown key {key:?}"),
                    format!("{hint}keys are {}", MAPPING_KEYS.join(", ")),
                ));
            };
            if values[slot].is_some() {
                return Err(mapping_error(
                    Some(item),
                    format!("{key} is given twice"),
                    "keep one of them",
                ));
            }
            values[slot] = Some((item.to_string(), value.trim().to_string()));
        }
        let [
            submit,
            duration,
            end,
            start,
            gpus,
            vc,
            id,
            priority,
            gpu_type,
            header,
            delimiter,
        ] = values;
        let header = match header {
            None => true,
            Some((item, value)) => match value.as_str() {
                "yes" | "true" => true,
                "no" | "false" => false,
                _ => {
                    return Err(mapping_error(
                        Some(&item),
                        format!("{value:?} is not yes or no"),
                        "write header=yes or header=no",
                    ));
                }
            },
        };
        let delimiter = match delimiter {
            None => b',',
            Some((item, value)) => DELIMITERS
                .iter()
                .find(|(name, _)| *name == value)
                .map(|(_, d)| *d)
                .ok_or_else(|| {
                    let names: Vec<&str> = DELIMITERS.iter().map(|(n, _)| *n).collect();
                    mapping_error(
                        Some(&item),
                        format!("unknown delimiter {value:?}"),
                        format!("use one of {}", names.join(", ")),
                    )
                })?,
        };
        let plain_column = |entry: Option<(String, String)>,
                            key: &str|
         -> Result<Option<ColumnRef>, MappingError> {
            let Some((item, value)) = entry else {
                return Ok(None);
            };
            if let (_, Some(format)) = split_format(&value) {
                return Err(mapping_error(
                    Some(&item),
                    format!("{key} takes no format (:{format})"),
                    format!("write {key}=COLUMN"),
                ));
            }
            parse_column(&item, &value).map(Some)
        };
        let time_column =
            |entry: Option<(String, String)>| -> Result<Option<TimeColumn>, MappingError> {
                let Some((item, value)) = entry else {
                    return Ok(None);
                };
                let (column, format) = split_format(&value);
                let format = match format {
                    None => parse_unit(&item, "s")?,
                    Some(f) => parse_time_format(&item, f)?,
                };
                Ok(Some(TimeColumn {
                    column: parse_column(&item, column)?,
                    format,
                }))
            };
        let missing = |key: &str| {
            mapping_error(
                None,
                format!("has no {key}"),
                format!("add {key}=COLUMN, e.g. {EXAMPLE}"),
            )
        };
        let submit = time_column(submit)?.ok_or_else(|| missing("submit"))?;
        let duration_item = duration.as_ref().map(|(item, _)| item.clone());
        let duration = match (time_column(duration)?, time_column(end)?, start) {
            (Some(_), Some(_), _) => {
                return Err(mapping_error(
                    duration_item.as_deref(),
                    "duration and end are both given",
                    "give either duration=COLUMN:UNIT or end=COLUMN:TIME",
                ));
            }
            (None, None, _) => {
                return Err(mapping_error(
                    None,
                    "has no duration",
                    "add duration=COLUMN:UNIT (e.g. duration=run_time:s), or end=COLUMN:TIME \
                     for a trace with end times",
                ));
            }
            (Some(column), None, start) => {
                if let Some((item, _)) = start {
                    return Err(mapping_error(
                        Some(&item),
                        "start is only used with end",
                        "remove start, or replace duration with end=COLUMN:TIME",
                    ));
                }
                if let TimeFormat::DateTime { .. } = column.format {
                    return Err(mapping_error(
                        duration_item.as_deref(),
                        "a duration is a length of time, not a date",
                        "use a unit (s, ms, min, h); for end times write end=COLUMN:datetime(…)",
                    ));
                }
                DurationSource::Column(column)
            }
            (None, Some(end), start) => {
                let start = time_column(start)?;
                let dated = |t: &TimeColumn| matches!(t.format, TimeFormat::DateTime { .. });
                let mixed = dated(&end) != dated(&submit)
                    || start.as_ref().is_some_and(|s| dated(s) != dated(&submit));
                if mixed {
                    return Err(mapping_error(
                        None,
                        "submit, end and start mix datetimes and numbers",
                        "write all three as datetime(FORMAT) or all as numbers with units",
                    ));
                }
                DurationSource::End { end, start }
            }
        };
        let mapping = ColumnMapping {
            submit,
            duration,
            gpus: plain_column(gpus, "gpus")?.ok_or_else(|| missing("gpus"))?,
            vc: plain_column(vc, "vc")?,
            id: plain_column(id, "id")?,
            priority: plain_column(priority, "priority")?,
            gpu_type: plain_column(gpu_type, "gpu_type")?,
            header,
            delimiter,
        };
        if !mapping.header
            && let Some(name) = mapping.columns().find_map(|(_, c)| match c {
                ColumnRef::Name(n) => Some(n.clone()),
                ColumnRef::Index(_) => None,
            })
        {
            return Err(mapping_error(
                None,
                format!("names column {name:?} but header=no"),
                "without a header, refer to columns by position: #1, #2, …",
            ));
        }
        Ok(mapping)
    }
}

impl ColumnMapping {
    /// Every (key, column) the mapping reads.
    fn columns(&self) -> impl Iterator<Item = (&'static str, &ColumnRef)> {
        let (duration, end, start) = match &self.duration {
            DurationSource::Column(c) => (Some(&c.column), None, None),
            DurationSource::End { end, start } => {
                (None, Some(&end.column), start.as_ref().map(|s| &s.column))
            }
        };
        [
            ("submit", Some(&self.submit.column)),
            ("duration", duration),
            ("end", end),
            ("start", start),
            ("gpus", Some(&self.gpus)),
            ("vc", self.vc.as_ref()),
            ("id", self.id.as_ref()),
            ("priority", self.priority.as_ref()),
            ("gpu_type", self.gpu_type.as_ref()),
        ]
        .into_iter()
        .filter_map(|(key, column)| column.map(|c| (key, c)))
    }
}

/// A time column resolved to a position.
#[derive(Debug, Clone)]
struct Resolved {
    index: usize,
    format: TimeFormat,
}

/// Reads any CSV trace through a [`ColumnMapping`], row by row, in file order.
pub type MappedReader = CsvTrace<MappedFormat>;

/// A [`ColumnMapping`] resolved against a file's header.
pub struct MappedFormat {
    stem: String,
    absolute: bool,
    submit: Resolved,
    /// A duration column, or (end, start).
    duration: Result<Resolved, (Resolved, Option<Resolved>)>,
    gpus: usize,
    vc: Option<usize>,
    id: Option<usize>,
    priority: Option<usize>,
    gpu_type: Option<usize>,
}

/// Opens `path` as a CSV trace described by `mapping`, and checks that the header has
/// the columns the mapping names.
pub fn read_mapped(path: &Path, mapping: &ColumnMapping) -> Result<MappedReader, TraceError> {
    MappedFormat::reader(
        CsvRows::open(path, mapping.delimiter, mapping.header)?,
        mapping,
    )
}

impl MappedReader {
    /// Reads a CSV trace from `input`, naming it `name` in errors and ids.
    pub fn from_reader(
        name: &Path,
        input: impl Read + Send + 'static,
        mapping: &ColumnMapping,
    ) -> Result<MappedReader, TraceError> {
        let rows = CsvRows::from_reader(name, Box::new(input), mapping.delimiter, mapping.header)?;
        MappedFormat::reader(rows, mapping)
    }
}

impl MappedFormat {
    fn reader(rows: CsvRows, mapping: &ColumnMapping) -> Result<MappedReader, TraceError> {
        let resolve = |key: &str, column: &ColumnRef| -> Result<usize, TraceError> {
            let names = rows.names();
            match column {
                ColumnRef::Name(name) => rows.index_of(name).ok_or_else(|| {
                    trace_error(
                        rows.path(),
                        1,
                        Some(name),
                        None,
                        format!(
                            "a column named {name:?} (the mapping's {key}={name}), but the \
                             header has {}; fix the name in the mapping or use #N",
                            names.join(",")
                        ),
                    )
                }),
                ColumnRef::Index(i) if !names.is_empty() && *i >= names.len() => Err(trace_error(
                    rows.path(),
                    1,
                    Some(&format!("#{}", i + 1)),
                    None,
                    format!(
                        "a column #{} (the mapping's {key}), but the header has only {}",
                        i + 1,
                        names.len()
                    ),
                )),
                ColumnRef::Index(i) => Ok(*i),
            }
        };
        let time = |key: &str, t: &TimeColumn| -> Result<Resolved, TraceError> {
            Ok(Resolved {
                index: resolve(key, &t.column)?,
                format: t.format.clone(),
            })
        };
        let optional =
            |key: &str, c: &Option<ColumnRef>| c.as_ref().map(|c| resolve(key, c)).transpose();
        let duration = match &mapping.duration {
            DurationSource::Column(c) => Ok(time("duration", c)?),
            DurationSource::End { end, start } => Err((
                time("end", end)?,
                start.as_ref().map(|s| time("start", s)).transpose()?,
            )),
        };
        let format = MappedFormat {
            stem: file_stem(rows.path()),
            absolute: mapping.absolute_times(),
            submit: time("submit", &mapping.submit)?,
            duration,
            gpus: resolve("gpus", &mapping.gpus)?,
            vc: optional("vc", &mapping.vc)?,
            id: optional("id", &mapping.id)?,
            priority: optional("priority", &mapping.priority)?,
            gpu_type: optional("gpu_type", &mapping.gpu_type)?,
        };
        Ok(CsvTrace::new(rows, format))
    }

    fn time(&self, rows: &CsvRows, column: &Resolved) -> Result<SimTimeMs, TraceError> {
        let value = rows.field(column.index)?;
        let ms = match &column.format {
            TimeFormat::Number { unit_ms, .. } => number_to_ms(value, *unit_ms),
            TimeFormat::DateTime { items, .. } => datetime_ms(value, items),
        };
        ms.ok_or_else(|| {
            let expected = match &column.format {
                TimeFormat::Number { unit, .. } => {
                    format!("a time in {unit}, 0 or more (as the mapping says :{unit})")
                }
                TimeFormat::DateTime { format, .. } => format!(
                    "a date and time in the mapping's format {format} (after 1970); fix the \
                     value or the mapping's datetime(…)"
                ),
            };
            rows.error(column.index, expected)
        })
    }
}

impl CsvFormat for MappedFormat {
    fn job(
        &self,
        rows: &CsvRows,
        row: &mut RowInfo,
        _skipped: &mut IngestReport,
    ) -> Result<Option<TraceJob>, TraceError> {
        let submit_ms = self.time(rows, &self.submit)?;
        let duration_ms = match &self.duration {
            Ok(column) => {
                let ms = self.time(rows, column)?;
                if ms == 0 {
                    let unit = column.format.to_string();
                    return Err(rows.error(
                        column.index,
                        format!("a duration in {unit}, above 0 (e.g. 3600 or 0.5)"),
                    ));
                }
                ms
            }
            Err((end, start)) => {
                let end_ms = self.time(rows, end)?;
                let (start_ms, from) = match start {
                    Some(start) => (self.time(rows, start)?, start.index),
                    None => (submit_ms, self.submit.index),
                };
                if end_ms <= start_ms {
                    let from_name = rows.column_name(from);
                    return Err(rows.error(
                        end.index,
                        format!(
                            "an end time after {from_name} ({}), so that the job runs for \
                             some time",
                            rows.field(from)?
                        ),
                    ));
                }
                end_ms - start_ms
            }
        };
        let gpus = gpus_field(rows, self.gpus)?;
        let priority = match self.priority {
            Some(i) => priority_field(rows, i)?,
            None => default_priority(),
        };
        let text = |index: Option<usize>| -> Result<&str, TraceError> {
            index.map_or(Ok(""), |i| rows.field(i))
        };
        let vc = match text(self.vc)? {
            "" => "default".to_string(),
            vc => vc.to_string(),
        };
        let gpu_type = Some(text(self.gpu_type)?)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        let id_text = text(self.id)?;
        let id = if id_text.is_empty() {
            row.id_generated = true;
            format!("{}-{}", self.stem, rows.line)
        } else {
            id_text.to_string()
        };
        Ok(Some(TraceJob {
            id,
            submit_ms,
            duration_ms,
            gpus,
            vc,
            priority,
            gpu_type,
            resources: None,
        }))
    }

    fn absolute_times(&self) -> bool {
        self.absolute
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn mapping(text: &str) -> ColumnMapping {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    fn error(text: &str) -> String {
        text.parse::<ColumnMapping>().unwrap_err().to_string()
    }

    #[test]
    fn the_philly_example_parses_and_prints_back() {
        let m = mapping(EXAMPLE);
        assert!(m.absolute_times());
        assert_eq!(m.to_string(), EXAMPLE);
        assert_eq!(m.gpus, ColumnRef::Name("num_gpus".into()));
    }

    #[test]
    fn commas_inside_datetime_formats_do_not_split_items() {
        let m = mapping("submit=#1:datetime(%d %b, %Y),duration=#2:min,gpus=#3,header=no");
        assert_eq!(m.submit.format.to_string(), "datetime(%d %b, %Y)");
        assert_eq!(m.submit.column, ColumnRef::Index(0));
        assert!(!m.header);
    }

    #[test]
    fn bad_mappings_say_how_to_fix_them() {
        let cases = [
            ("", "column mapping: is empty; give at least submit"),
            (
                "submit=a,duration=b,gpu=c",
                "unknown key \"gpu\"; did you mean gpus?",
            ),
            (
                "submit=a,duration=b:days,gpus=c",
                "item \"duration=b:days\": unknown time unit \"days\"; use s, ms, min or h",
            ),
            (
                "submit=a,gpus=c",
                "has no duration; add duration=COLUMN:UNIT",
            ),
            (
                "submit=a,duration=b,end=e,gpus=c",
                "duration and end are both given",
            ),
            (
                "submit=a:datetime(%Y-%m-%d,duration=b,gpus=c",
                "a ( is never closed",
            ),
            (
                "submit=a:datetime(%Q),duration=b,gpus=c",
                "is not a valid date format",
            ),
            ("submit=a,duration=b,gpus=c:s", "gpus takes no format (:s)"),
            (
                "submit=a,duration=b,gpus=#0",
                "\"#0\" is not a column position",
            ),
            (
                "submit=a,duration=b,gpus=c,header=no",
                "names column \"a\" but header=no",
            ),
            ("submit=a,duration=b,gpus", "item \"gpus\": has no ="),
            (
                "submit=a,submit=b,duration=b,gpus=c",
                "submit is given twice",
            ),
            (
                "submit=a:datetime,end=b:s,gpus=c",
                "mix datetimes and numbers",
            ),
            (
                "submit=a,duration=b:datetime,gpus=c",
                "a duration is a length of time",
            ),
        ];
        for (text, piece) in cases {
            let message = error(text);
            assert!(message.contains(piece), "{text}: {message}");
        }
    }

    #[test]
    fn rows_are_read_through_the_mapping() {
        let m = mapping(
            "submit=t:datetime,end=e:datetime,start=s:datetime,gpus=g,id=name,priority=p,gpu_type=sku,vc=team",
        );
        let text = "name,t,s,e,g,p,sku,team\n\
                    j1,1970-01-01 00:00:10,1970-01-01 00:00:20,1970-01-01 00:01:20,4,prod,V100,a\n\
                    ,1970-01-01 00:00:10,1970-01-01 00:00:20,1970-01-01 00:00:20,4,,,\n";
        let mut reader =
            MappedReader::from_reader(Path::new("x.csv"), Cursor::new(text), &m).unwrap();
        let job = reader.next().unwrap().unwrap();
        assert_eq!(
            job,
            TraceJob {
                id: "j1".into(),
                submit_ms: 10_000,
                duration_ms: 60_000,
                gpus: 4,
                vc: "a".into(),
                priority: 100,
                gpu_type: Some("V100".into()),
                resources: None,
            }
        );
        let e = reader.next().unwrap().unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.csv:3: column e: value \"1970-01-01 00:00:20\": an end time after s \
             (1970-01-01 00:00:20), so that the job runs for some time"
        );
        assert!(reader.next().is_none());
    }

    #[test]
    fn a_mapping_naming_an_absent_column_lists_the_header() {
        let m = mapping("submit=submitted,duration=d,gpus=g");
        let e = MappedReader::from_reader(Path::new("x.csv"), Cursor::new("submit,d,g\n"), &m)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            "x.csv:1: column submitted: a column named \"submitted\" (the mapping's \
             submit=submitted), but the header has submit,d,g; fix the name in the mapping \
             or use #N"
        );
    }
}
