//! What every trace reader offers besides its rows ([`TraceSource`]), and the plumbing the
//! CSV readers share: opening a file, reading rows lazily into one reused record, and
//! turning a field into a number, a time or a priority with an error that names the file,
//! line, column and value. Format-specific column meanings live in the readers.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use chrono::format::{Item, Parsed};
use csv::StringRecord;

use super::openpai::{DEFAULT_PRIORITY_CLASS, PRIORITY_CLASSES};
use super::trace::{IngestReport, TraceError, TraceJob};
use crate::sim::SimTimeMs;

/// A trace reader: an iterator of rows read as jobs (`Err` for a row it could not read),
/// plus what the ingest step needs to know about the rows and the file.
///
/// After an `Err`, iteration goes on with the next row unless [`TraceSource::stopped`]
/// says the reader cannot read past the problem (an I/O error, broken JSON syntax).
pub trait TraceSource: Iterator<Item = Result<TraceJob, TraceError>> {
    /// The trace file (or the name given to an in-memory trace).
    fn path(&self) -> &Path;
    /// Where the item last returned by `next` came from.
    fn last_row(&self) -> RowInfo;
    /// Rows the reader skipped on purpose (e.g. CPU-only pods), or kept but changed (e.g.
    /// fractional GPUs rounded up), counted with the first examples. Complete once the
    /// iterator has returned `None`.
    fn skipped(&self) -> &IngestReport;
    /// True when submit times are absolute (calendar dates, as milliseconds since
    /// 1970-01-01 in the trace's own time zone) rather than offsets from the start of the
    /// trace; the ingest step then shifts them so that the first submit is 0.
    fn absolute_times(&self) -> bool;
    /// True when the last `Err` ended the reading: no more rows follow.
    fn stopped(&self) -> bool;
}

/// A reader lent out keeps its answers, so that e.g. [`Ingest::sorted`]
/// (`workload::ingest`) can take `&mut reader` and the caller can look at it afterwards.
///
/// [`Ingest::sorted`]: super::ingest::Ingest::sorted
impl<S: TraceSource + ?Sized> TraceSource for &mut S {
    fn path(&self) -> &Path {
        (**self).path()
    }
    fn last_row(&self) -> RowInfo {
        (**self).last_row()
    }
    fn skipped(&self) -> &IngestReport {
        (**self).skipped()
    }
    fn absolute_times(&self) -> bool {
        (**self).absolute_times()
    }
    fn stopped(&self) -> bool {
        (**self).stopped()
    }
}

/// Where a row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RowInfo {
    /// 1-based line where the row starts (the CSV header is line 1); 0 before any row.
    pub line: u64,
    /// True when the job's id was made up by the reader (`<stem>-<line>`) because the row
    /// has none; two rows equal but for such ids are duplicates.
    pub id_generated: bool,
}

/// Priority of a job whose trace gives none: OpenPAI's default class `test`, so that trace
/// jobs and job files without a priority class compare as equals.
pub fn default_priority() -> i32 {
    PRIORITY_CLASSES
        .iter()
        .find(|(class, _)| *class == DEFAULT_PRIORITY_CLASS)
        .map_or(0, |(_, p)| *p)
}

/// The largest time a reader accepts, in milliseconds (about 285,000 years): beyond it a
/// value is surely a unit mistake, and below it `f64` holds every millisecond exactly.
pub const MAX_TIME_MS: SimTimeMs = 1 << 53;

/// A file name without directory and extension, used to make up job ids.
pub(crate) fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "trace".to_string())
}

/// Builds a [`TraceError`]; the reader-side shorthand.
pub(crate) fn trace_error(
    file: &Path,
    line: u64,
    column: Option<&str>,
    value: Option<&str>,
    expected: impl Into<String>,
) -> TraceError {
    TraceError {
        file: file.to_path_buf(),
        line,
        column: column.map(str::to_string),
        value: value.map(str::to_string),
        expected: expected.into(),
    }
}

/// The error for a file that cannot be opened.
pub(crate) fn open_error(path: &Path, e: &io::Error) -> TraceError {
    trace_error(
        path,
        0,
        None,
        None,
        format!("cannot open the trace ({e}); check the path"),
    )
}

/// A CSV file read row by row into one reused record. The header (when there is one) has
/// been read; every row is checked to have as many fields as the header.
pub struct CsvRows {
    path: PathBuf,
    reader: csv::Reader<Box<dyn Read + Send>>,
    /// Column names from the header, or `#1`, `#2`, … without one.
    names: Vec<String>,
    has_header: bool,
    /// The current row, untrimmed (fields are trimmed as they are read, which is cheaper
    /// than having csv rebuild every record trimmed).
    record: StringRecord,
    /// Line of the current row.
    pub line: u64,
    stopped: bool,
}

impl CsvRows {
    /// Opens `path`; with `has_header`, reads the header line (an empty file is an error).
    pub fn open(path: &Path, delimiter: u8, has_header: bool) -> Result<Self, TraceError> {
        let file = File::open(path).map_err(|e| open_error(path, &e))?;
        Self::from_reader(path, Box::new(file), delimiter, has_header)
    }

    /// Reads CSV from `input`, naming it `path` in errors.
    pub fn from_reader(
        path: &Path,
        input: Box<dyn Read + Send>,
        delimiter: u8,
        has_header: bool,
    ) -> Result<Self, TraceError> {
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(has_header)
            // We check field counts ourselves, to name the missing column.
            .flexible(true)
            .buffer_capacity(64 * 1024)
            .from_reader(input);
        let mut names = Vec::new();
        if has_header {
            let header = reader.headers().map_err(|e| csv_error(path, 1, &e))?;
            if header.iter().all(str::is_empty) {
                return Err(trace_error(
                    path,
                    1,
                    None,
                    None,
                    "a header line naming the columns; the file is empty",
                ));
            }
            names = header.iter().map(|n| n.trim().to_string()).collect();
        }
        Ok(CsvRows {
            path: path.to_path_buf(),
            reader,
            names,
            has_header,
            record: StringRecord::new(),
            line: 0,
            stopped: false,
        })
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Header names (empty without a header).
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// True after an error that ends the reading.
    pub fn stopped(&self) -> bool {
        self.stopped
    }

    /// Reads the next row into `self.record`: `None` at the end, `Err` for a row that
    /// cannot be split into the header's fields.
    pub fn advance(&mut self) -> Option<Result<(), TraceError>> {
        if self.stopped {
            return None;
        }
        loop {
            match self.reader.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {}
                Err(e) => {
                    let line = e.position().map_or(self.line + 1, |p| p.line());
                    self.line = line;
                    if matches!(e.kind(), csv::ErrorKind::Io(_)) {
                        self.stopped = true;
                    }
                    return Some(Err(csv_error(&self.path, line, &e)));
                }
            }
            self.line = self.record.position().map_or(self.line + 1, |p| p.line());
            // A line of only spaces is no row (csv skips truly empty lines itself).
            if self.record.len() == 1 && self.record[0].trim().is_empty() {
                continue;
            }
            if self.has_header && self.record.len() != self.names.len() {
                return Some(Err(self.width_error()));
            }
            return Some(Ok(()));
        }
    }

    fn width_error(&self) -> TraceError {
        let (have, want) = (self.record.len(), self.names.len());
        if have < want {
            let missing = &self.names[have..];
            trace_error(
                &self.path,
                self.line,
                Some(&missing[0]),
                None,
                format!(
                    "{want} fields as in the header, but the row has {have}: {} missing",
                    missing.join(", ")
                ),
            )
        } else {
            trace_error(
                &self.path,
                self.line,
                None,
                Some(self.record[want].trim()),
                format!(
                    "{want} fields as in the header, but the row has {have}; quote fields \
                     that contain the delimiter"
                ),
            )
        }
    }

    /// Field `index` of the current row, or an error naming the column when the row is
    /// too short (only possible without a header).
    pub fn field(&self, index: usize) -> Result<&str, TraceError> {
        self.record.get(index).map(str::trim).ok_or_else(|| {
            trace_error(
                &self.path,
                self.line,
                Some(&self.column_name(index)),
                None,
                format!(
                    "at least {} fields, but the row has {}",
                    index + 1,
                    self.record.len()
                ),
            )
        })
    }

    /// Name of column `index` for messages.
    pub fn column_name(&self, index: usize) -> String {
        self.names
            .get(index)
            .cloned()
            .unwrap_or_else(|| format!("#{}", index + 1))
    }

    /// An error about column `index` of the current row, quoting its value.
    pub fn error(&self, index: usize, expected: impl Into<String>) -> TraceError {
        trace_error(
            &self.path,
            self.line,
            Some(&self.column_name(index)),
            self.record.get(index).map(str::trim),
            expected,
        )
    }

    /// Index of header column `name`, if present.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }
}

/// What one CSV trace format adds to [`CsvRows`]: how its current row reads as a job.
/// [`CsvTrace`] does the rest (iteration, where each row came from, the skip counts).
pub trait CsvFormat {
    /// The current row of `rows` as a job; `Ok(None)` when the format leaves the row out
    /// on purpose (and notes it in `skipped`). Sets `row.id_generated` when it makes the
    /// id up.
    fn job(
        &self,
        rows: &CsvRows,
        row: &mut RowInfo,
        skipped: &mut IngestReport,
    ) -> Result<Option<TraceJob>, TraceError>;
    /// True when submit times are absolute; see [`TraceSource::absolute_times`].
    fn absolute_times(&self) -> bool;
}

/// A CSV trace read row by row, in file order, in format `F` (e.g.
/// [`NativeReader`](super::NativeReader) is `CsvTrace<NativeFormat>`).
pub struct CsvTrace<F> {
    rows: CsvRows,
    format: F,
    last: RowInfo,
    skipped: IngestReport,
}

impl<F: CsvFormat> CsvTrace<F> {
    /// Reads `rows` (header already checked by the format) as format `format`.
    pub(crate) fn new(rows: CsvRows, format: F) -> CsvTrace<F> {
        CsvTrace {
            rows,
            format,
            last: RowInfo::default(),
            skipped: IngestReport::default(),
        }
    }
}

impl<F: CsvFormat> Iterator for CsvTrace<F> {
    type Item = Result<TraceJob, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let advanced = self.rows.advance();
            self.last = RowInfo {
                line: self.rows.line,
                id_generated: false,
            };
            if let Err(e) = advanced? {
                return Some(Err(e));
            }
            match self
                .format
                .job(&self.rows, &mut self.last, &mut self.skipped)
            {
                Ok(Some(job)) => return Some(Ok(job)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl<F: CsvFormat> TraceSource for CsvTrace<F> {
    fn path(&self) -> &Path {
        self.rows.path()
    }
    fn last_row(&self) -> RowInfo {
        self.last
    }
    fn skipped(&self) -> &IngestReport {
        &self.skipped
    }
    fn absolute_times(&self) -> bool {
        self.format.absolute_times()
    }
    fn stopped(&self) -> bool {
        self.rows.stopped()
    }
}

/// A csv crate error as a [`TraceError`].
fn csv_error(path: &Path, line: u64, e: &csv::Error) -> TraceError {
    let expected = match e.kind() {
        csv::ErrorKind::Io(io) => format!("a readable file, but reading failed ({io})"),
        csv::ErrorKind::Utf8 { err, .. } => format!(
            "UTF-8 text, but field {} is not ({err}); re-encode the file as UTF-8",
            err.field() + 1
        ),
        _ => format!("well-formed CSV ({e})"),
    };
    trace_error(path, line, None, None, expected)
}

/// Checks that the header of a CSV file has every column in `required`, and only columns
/// in `required` or `optional` (a misspelt optional column would otherwise be ignored).
/// `format` names the format in messages.
pub(crate) fn check_columns(
    rows: &CsvRows,
    format: &str,
    required: &[&str],
    optional: &[&str],
    strict: bool,
) -> Result<(), TraceError> {
    let names = rows.names();
    let expected_list = || {
        let mut all: Vec<&str> = required.to_vec();
        all.extend(optional.iter().copied());
        all.join(",")
    };
    for (i, name) in names.iter().enumerate() {
        if names[..i].contains(name) {
            return Err(trace_error(
                rows.path(),
                1,
                Some(name),
                None,
                format!("each column once in the header of a {format} trace; remove one"),
            ));
        }
        if strict && !required.contains(&name.as_str()) && !optional.contains(&name.as_str()) {
            return Err(trace_error(
                rows.path(),
                1,
                Some(name),
                None,
                format!(
                    "only the columns of a {format} trace ({}); rename or remove this one",
                    expected_list()
                ),
            ));
        }
    }
    if let Some(missing) = required.iter().find(|r| !names.iter().any(|n| n == *r)) {
        return Err(trace_error(
            rows.path(),
            1,
            Some(missing),
            None,
            format!(
                "a {format} trace header with the columns {}; found {}",
                expected_list(),
                names.join(",")
            ),
        ));
    }
    Ok(())
}

/// `value` (a decimal number, possibly with a fraction or exponent) times `unit_ms`,
/// rounded to whole milliseconds; `None` unless finite, not negative and at most
/// [`MAX_TIME_MS`].
pub(crate) fn number_to_ms(value: &str, unit_ms: u64) -> Option<SimTimeMs> {
    // Most traces write whole numbers: skip the float path for them.
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value
            .parse::<u64>()
            .ok()?
            .checked_mul(unit_ms)
            .filter(|ms| *ms <= MAX_TIME_MS);
    }
    let x: f64 = value.parse().ok()?;
    if !x.is_finite() || x < 0.0 {
        return None;
    }
    let ms = (x * unit_ms as f64).round();
    (ms <= MAX_TIME_MS as f64).then_some(ms as SimTimeMs)
}

/// A time offset in `unit_ms` units, or the error saying what a time looks like.
pub(crate) fn time_field(
    rows: &CsvRows,
    index: usize,
    unit: &str,
    unit_ms: u64,
) -> Result<SimTimeMs, TraceError> {
    let value = rows.field(index)?;
    number_to_ms(value, unit_ms).ok_or_else(|| {
        rows.error(
            index,
            format!("a time in {unit}, 0 or more (e.g. 3600 or 12.5)"),
        )
    })
}

/// A run time in `unit_ms` units; at least 1 ms after rounding.
pub(crate) fn duration_field(
    rows: &CsvRows,
    index: usize,
    unit: &str,
    unit_ms: u64,
) -> Result<SimTimeMs, TraceError> {
    let value = rows.field(index)?;
    number_to_ms(value, unit_ms)
        .filter(|ms| *ms >= 1)
        .ok_or_else(|| {
            rows.error(
                index,
                format!("a duration in {unit}, above 0 (e.g. 3600 or 0.5)"),
            )
        })
}

/// A GPU count: a whole number, at least 1 (`2.0` is accepted as 2).
pub(crate) fn parse_gpus(value: &str) -> Option<u32> {
    if let Ok(n) = value.parse::<u32>() {
        return (n >= 1).then_some(n);
    }
    let x: f64 = value.parse().ok()?;
    (x.is_finite() && x >= 1.0 && x.fract() == 0.0 && x <= u32::MAX as f64).then_some(x as u32)
}

/// The GPU-count field of the current row.
pub(crate) fn gpus_field(rows: &CsvRows, index: usize) -> Result<u32, TraceError> {
    let value = rows.field(index)?;
    parse_gpus(value)
        .ok_or_else(|| rows.error(index, "a whole number of GPUs, at least 1 (e.g. 1 or 8)"))
}

/// A priority: an integer, or an OpenPAI priority class name; empty means the default.
pub(crate) fn parse_priority(value: &str) -> Option<i32> {
    if value.is_empty() {
        return Some(default_priority());
    }
    if let Ok(p) = value.parse::<i32>() {
        return Some(p);
    }
    PRIORITY_CLASSES
        .iter()
        .find(|(class, _)| class.eq_ignore_ascii_case(value))
        .map(|(_, p)| *p)
}

/// The priority field of the current row.
pub(crate) fn priority_field(rows: &CsvRows, index: usize) -> Result<i32, TraceError> {
    let value = rows.field(index)?;
    parse_priority(value).ok_or_else(|| {
        let classes: Vec<String> = PRIORITY_CLASSES
            .iter()
            .map(|(c, p)| format!("{c} ({p})"))
            .collect();
        rows.error(
            index,
            format!(
                "an integer priority (below 0 is opportunistic) or a priority class: {}; \
                 or nothing for the default",
                classes.join(", ")
            ),
        )
    })
}

/// `2017-10-09 07:01:55` (the Philly layout) as milliseconds since 1970-01-01, without
/// going through a format string; `None` if `value` is not exactly that layout or not a
/// real date.
pub(crate) fn philly_datetime_ms(value: &str) -> Option<SimTimeMs> {
    let b = value.as_bytes();
    if b.len() != 19 || b[4] != b'-' || b[7] != b'-' || b[10] != b' ' || b[13] != b':' {
        return None;
    }
    if b[16] != b':' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u32> {
        b[from..to].iter().try_fold(0u32, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0, 4)? as i32, num(5, 7)?, num(8, 10)?)?;
    let time = date.and_hms_opt(num(11, 13)?, num(14, 16)?, num(17, 19)?)?;
    epoch_ms(time)
}

/// A calendar time as milliseconds since 1970-01-01 00:00 of the same (unknown) zone;
/// `None` before 1970.
pub(crate) fn epoch_ms(time: NaiveDateTime) -> Option<SimTimeMs> {
    SimTimeMs::try_from(time.and_utc().timestamp_millis())
        .ok()
        .filter(|ms| *ms <= MAX_TIME_MS)
}

/// `value` read with a pre-parsed `strftime` format, as milliseconds since 1970-01-01. A
/// format with a date but no time of day means midnight.
pub(crate) fn datetime_ms(value: &str, items: &[Item<'static>]) -> Option<SimTimeMs> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, value, items.iter()).ok()?;
    let time = match parsed.to_naive_datetime_with_offset(0) {
        Ok(t) => t,
        Err(_) => parsed.to_naive_date().ok()?.and_hms_opt(0, 0, 0)?,
    };
    epoch_ms(time)
}

/// `ms` as seconds for messages: `1500` -> `1.5`.
pub(crate) fn seconds_text(ms: SimTimeMs) -> String {
    if ms.is_multiple_of(1000) {
        format!("{}", ms / 1000)
    } else {
        let text = format!("{}.{:03}", ms / 1000, ms % 1000);
        text.trim_end_matches('0').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_rounded_milliseconds() {
        assert_eq!(number_to_ms("66", 1000), Some(66_000));
        assert_eq!(number_to_ms("66.0", 1000), Some(66_000));
        assert_eq!(number_to_ms("0.0015", 1000), Some(2));
        assert_eq!(number_to_ms("1e3", 1), Some(1000));
        assert_eq!(number_to_ms("1.5", 3_600_000), Some(5_400_000));
        for bad in ["", "-1", "x", "NaN", "inf", "1e300", "99999999999999999999"] {
            assert_eq!(number_to_ms(bad, 1000), None, "{bad}");
        }
    }

    #[test]
    fn gpu_counts_are_whole_and_positive() {
        assert_eq!(parse_gpus("8"), Some(8));
        assert_eq!(parse_gpus("2.0"), Some(2));
        for bad in ["0", "0.0", "1.5", "-1", "", "two"] {
            assert_eq!(parse_gpus(bad), None, "{bad}");
        }
    }

    #[test]
    fn priorities_are_numbers_or_openpai_classes() {
        assert_eq!(parse_priority("-1"), Some(-1));
        assert_eq!(parse_priority("prod"), Some(100));
        assert_eq!(parse_priority(""), Some(default_priority()));
        assert_eq!(default_priority(), 10);
        assert_eq!(parse_priority("urgent"), None);
    }

    #[test]
    fn philly_datetimes_match_chrono() {
        let items = chrono::format::StrftimeItems::new("%Y-%m-%d %H:%M:%S")
            .parse_to_owned()
            .unwrap();
        for text in [
            "2017-10-09 07:01:55",
            "1970-01-01 00:00:00",
            "2016-02-29 23:59:59",
        ] {
            assert_eq!(
                philly_datetime_ms(text),
                datetime_ms(text, &items),
                "{text}"
            );
            assert!(philly_datetime_ms(text).is_some());
        }
        assert_eq!(philly_datetime_ms("1970-01-01 00:00:01"), Some(1000));
        for bad in [
            "2017-02-30 00:00:00",
            "2017-10-09T07:01:55",
            "2017-10-09 7:01:55",
            "None",
        ] {
            assert_eq!(philly_datetime_ms(bad), None, "{bad}");
        }
        assert_eq!(philly_datetime_ms("1969-12-31 23:59:59"), None);
    }

    #[test]
    fn date_only_formats_mean_midnight() {
        let items = chrono::format::StrftimeItems::new("%d/%m/%Y")
            .parse_to_owned()
            .unwrap();
        assert_eq!(datetime_ms("02/01/1970", &items), Some(86_400_000));
    }

    #[test]
    fn seconds_print_without_trailing_zeros() {
        assert_eq!(seconds_text(1500), "1.5");
        assert_eq!(seconds_text(60_000), "60");
        assert_eq!(seconds_text(1), "0.001");
    }
}
