//! Choosing a trace reader: the formats by name ([`TraceFormat::from_name`], for a
//! `--format` flag), format detection from a file's first line ([`detect_format`]), and
//! [`open_trace`], which opens any format as one [`TraceReader`].

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::mapped::{ColumnMapping, MappedReader, read_mapped};
use super::native::{NativeReader, read_native};
use super::openb::{OpenbOptions, OpenbReader, read_openb};
use super::philly::{PhillyCsvReader, PhillyJsonReader, read_philly_csv, read_philly_json};
use super::source::{RowInfo, TraceSource, open_error, trace_error};
use super::trace::{IngestReport, TraceError, TraceJob};

/// The trace formats cellsim reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TraceFormat {
    /// cellsim's own CSV ([`super::native`]).
    Native,
    /// The Philly per-job CSV ([`super::philly`]).
    PhillyCsv,
    /// The raw Philly `cluster_job_log` JSON ([`super::philly`]).
    PhillyJson,
    /// Alibaba openb pod lists ([`super::openb`]).
    Openb,
    /// Any CSV, read through a column mapping ([`super::mapped`]).
    Mapped,
}

/// An unknown format name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown trace format {name:?}; use one of: {}", TraceFormat::NAMES.join(", "))]
pub struct FormatNameError {
    /// The name given.
    pub name: String,
}

impl TraceFormat {
    /// Every format.
    pub const ALL: [TraceFormat; 5] = [
        TraceFormat::Native,
        TraceFormat::PhillyCsv,
        TraceFormat::PhillyJson,
        TraceFormat::Openb,
        TraceFormat::Mapped,
    ];

    /// The names [`TraceFormat::from_name`] accepts (`philly` is short for `philly-csv`).
    pub const NAMES: [&'static str; 6] = [
        "native",
        "philly-csv",
        "philly",
        "philly-json",
        "openb",
        "mapped",
    ];

    /// The format called `name` (case-insensitive); the error lists the valid names.
    pub fn from_name(name: &str) -> Result<TraceFormat, FormatNameError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "native" => Ok(TraceFormat::Native),
            "philly" | "philly-csv" => Ok(TraceFormat::PhillyCsv),
            "philly-json" => Ok(TraceFormat::PhillyJson),
            "openb" => Ok(TraceFormat::Openb),
            "mapped" => Ok(TraceFormat::Mapped),
            _ => Err(FormatNameError {
                name: name.to_string(),
            }),
        }
    }

    /// The format's canonical name.
    pub fn name(self) -> &'static str {
        match self {
            TraceFormat::Native => "native",
            TraceFormat::PhillyCsv => "philly-csv",
            TraceFormat::PhillyJson => "philly-json",
            TraceFormat::Openb => "openb",
            TraceFormat::Mapped => "mapped",
        }
    }
}

impl fmt::Display for TraceFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for TraceFormat {
    type Err = FormatNameError;

    fn from_str(name: &str) -> Result<Self, FormatNameError> {
        TraceFormat::from_name(name)
    }
}

/// The format of a trace, judged from its first line: a JSON array is `philly-json`; a
/// CSV header is `native` (has `submit_s`, `duration_s`, `gpus`), `philly-csv` (has
/// `timestamp`, `duration`, `num_gpus`, `cluster`) or `openb` (has `name`, `num_gpu`,
/// `gpu_milli`); anything else is `mapped`, which needs a [`ColumnMapping`]. Fails only
/// when the file cannot be read.
pub fn detect_format(path: &Path) -> Result<TraceFormat, TraceError> {
    let file = File::open(path).map_err(|e| open_error(path, &e))?;
    let mut first = String::new();
    let mut input = BufReader::new(file);
    // Skip blank lines; the first line that has something decides.
    loop {
        first.clear();
        let n = input.read_line(&mut first).map_err(|e| {
            trace_error(
                path,
                0,
                None,
                None,
                format!("a readable file, but reading failed ({e})"),
            )
        })?;
        if n == 0 || !first.trim().is_empty() {
            break;
        }
    }
    Ok(format_of_first_line(&first))
}

/// The header columns each CSV format needs, for messages and detection.
const NEEDED_COLUMNS: [(&str, &[&str]); 3] = [
    ("native", &["submit_s", "duration_s", "gpus"]),
    (
        "philly-csv",
        &["timestamp", "duration", "num_gpus", "cluster"],
    ),
    ("openb", &["name", "num_gpu", "gpu_milli"]),
];

/// Why a file is in no known format (issue 16): an empty file says so; otherwise its
/// first line (cut to one line) and, per format, the columns it lacks.
fn no_known_format(path: &Path) -> String {
    let mapping_hint = "or give a column mapping (--mapping) such as \
        submit=timestamp:datetime(%Y-%m-%d %H:%M:%S),duration=duration:s,gpus=num_gpus,vc=cluster";
    let needs = NEEDED_COLUMNS
        .iter()
        .map(|(name, columns)| format!("{name} needs the columns {}", columns.join(", ")))
        .collect::<Vec<_>>()
        .join("; ");
    let first = File::open(path).ok().and_then(|file| {
        BufReader::new(file.take(64 * 1024))
            .lines()
            .map_while(Result::ok)
            .find(|l| !l.trim().is_empty())
    });
    let Some(first) = first else {
        return format!(
            "a trace, but the file is empty (no header line); {needs}; philly-json is a JSON \
             array; {mapping_hint}"
        );
    };
    let line = first.trim_start_matches('\u{feff}').trim();
    let columns: Vec<&str> = line
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    let missing = NEEDED_COLUMNS
        .iter()
        .map(|(name, needed)| {
            let lacks: Vec<&str> = needed
                .iter()
                .copied()
                .filter(|n| !columns.contains(n))
                .collect();
            format!(
                "{name} needs {} (lacks {})",
                needed.join(", "),
                lacks.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    format!(
        "a trace in a known format, but its first line {:?} matches none: {missing}; \
         philly-json is a JSON array; {mapping_hint}",
        crate::config::yaml::first_line(line)
    )
}

fn format_of_first_line(line: &str) -> TraceFormat {
    let line = line.trim_start_matches('\u{feff}').trim();
    if line.starts_with('[') {
        return TraceFormat::PhillyJson;
    }
    let columns: Vec<&str> = line
        .split(',')
        .map(|c| c.trim().trim_matches('"'))
        .collect();
    let has = |names: &[&str]| names.iter().all(|n| columns.contains(n));
    if has(&["submit_s", "duration_s", "gpus"]) {
        TraceFormat::Native
    } else if has(&["timestamp", "duration", "num_gpus", "cluster"]) {
        TraceFormat::PhillyCsv
    } else if has(&["name", "num_gpu", "gpu_milli"]) {
        TraceFormat::Openb
    } else {
        TraceFormat::Mapped
    }
}

/// How to open a trace: the format (detected when `None`), the column mapping for
/// `mapped`, and the openb choices.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// The format; `None` detects it with [`detect_format`] (or means `mapped` when a
    /// mapping is given).
    pub format: Option<TraceFormat>,
    /// The column mapping, for `mapped` only.
    pub mapping: Option<ColumnMapping>,
    /// Choices for openb pod lists.
    pub openb: OpenbOptions,
}

/// A reader of any format, as opened by [`open_trace`].
pub enum TraceReader {
    /// A native trace.
    Native(NativeReader),
    /// A Philly CSV trace.
    PhillyCsv(PhillyCsvReader),
    /// A Philly JSON job log.
    PhillyJson(PhillyJsonReader),
    /// An openb pod list.
    Openb(OpenbReader),
    /// A CSV read through a mapping.
    Mapped(MappedReader),
}

/// Opens `path` with the reader `options` call for. Fails when the file cannot be opened,
/// its header does not fit the format, a mapping is missing for a file of no known format
/// (or given for another format).
pub fn open_trace(path: &Path, options: &ReadOptions) -> Result<TraceReader, TraceError> {
    let format = match (options.format, &options.mapping) {
        (Some(format), _) => format,
        (None, Some(_)) => TraceFormat::Mapped,
        (None, None) => detect_format(path)?,
    };
    if format != TraceFormat::Mapped && options.mapping.is_some() {
        return Err(trace_error(
            path,
            0,
            None,
            None,
            format!(
                "a column mapping only with the mapped format, not {format}; drop the mapping \
                 or the format"
            ),
        ));
    }
    Ok(match format {
        TraceFormat::Native => TraceReader::Native(read_native(path)?),
        TraceFormat::PhillyCsv => TraceReader::PhillyCsv(read_philly_csv(path)?),
        TraceFormat::PhillyJson => TraceReader::PhillyJson(read_philly_json(path)?),
        TraceFormat::Openb => TraceReader::Openb(read_openb(path, options.openb)?),
        TraceFormat::Mapped => {
            let Some(mapping) = &options.mapping else {
                let hint = if options.format.is_some() {
                    "a column mapping for the mapped format".to_string()
                } else {
                    no_known_format(path)
                };
                return Err(trace_error(path, 1, None, None, hint));
            };
            TraceReader::Mapped(read_mapped(path, mapping)?)
        }
    })
}

impl TraceReader {
    /// The format being read.
    pub fn format(&self) -> TraceFormat {
        match self {
            TraceReader::Native(_) => TraceFormat::Native,
            TraceReader::PhillyCsv(_) => TraceFormat::PhillyCsv,
            TraceReader::PhillyJson(_) => TraceFormat::PhillyJson,
            TraceReader::Openb(_) => TraceFormat::Openb,
            TraceReader::Mapped(_) => TraceFormat::Mapped,
        }
    }

    fn source(&self) -> &dyn TraceSource {
        match self {
            TraceReader::Native(r) => r,
            TraceReader::PhillyCsv(r) => r,
            TraceReader::PhillyJson(r) => r,
            TraceReader::Openb(r) => r,
            TraceReader::Mapped(r) => r,
        }
    }
}

impl Iterator for TraceReader {
    type Item = Result<TraceJob, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            TraceReader::Native(r) => r.next(),
            TraceReader::PhillyCsv(r) => r.next(),
            TraceReader::PhillyJson(r) => r.next(),
            TraceReader::Openb(r) => r.next(),
            TraceReader::Mapped(r) => r.next(),
        }
    }
}

impl TraceSource for TraceReader {
    fn path(&self) -> &Path {
        self.source().path()
    }
    fn last_row(&self) -> RowInfo {
        self.source().last_row()
    }
    fn skipped(&self) -> &IngestReport {
        self.source().skipped()
    }
    fn absolute_times(&self) -> bool {
        self.source().absolute_times()
    }
    fn stopped(&self) -> bool {
        self.source().stopped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_list_the_valid_ones() {
        for format in TraceFormat::ALL {
            assert_eq!(TraceFormat::from_name(format.name()), Ok(format));
        }
        assert_eq!(TraceFormat::from_name("Philly"), Ok(TraceFormat::PhillyCsv));
        assert_eq!(
            TraceFormat::from_name("alibaba").unwrap_err().to_string(),
            "unknown trace format \"alibaba\"; use one of: native, philly-csv, philly, \
             philly-json, openb, mapped"
        );
    }

    #[test]
    fn first_lines_decide_the_format() {
        let cases = [
            (
                "id,submit_s,duration_s,gpus,vc,priority,gpu_type\n",
                TraceFormat::Native,
            ),
            (
                "\u{feff}timestamp,duration,num_gpus,gpu_time,cluster",
                TraceFormat::PhillyCsv,
            ),
            ("  [{\"jobid\": 1", TraceFormat::PhillyJson),
            (
                "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec",
                TraceFormat::Openb,
            ),
            ("job,start,end,gpus", TraceFormat::Mapped),
            ("", TraceFormat::Mapped),
        ];
        for (line, format) in cases {
            assert_eq!(format_of_first_line(line), format, "{line}");
        }
    }
}
