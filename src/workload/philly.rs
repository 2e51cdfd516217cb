//! Microsoft Philly traces (ATC'19): the per-job CSV as pre-processed by the Pollux
//! artifact ([`read_philly_csv`]) and the raw `cluster_job_log` JSON of the public release
//! ([`read_philly_json`]). Both give absolute submit times (local time, no zone), so the
//! ingest step shifts them to start at 0; both are read lazily, row by row or job by job.
//!
//! # CSV: `timestamp,duration,num_gpus,gpu_time,cluster`
//!
//! `timestamp` is the submit time like `2017-10-09 07:01:55`; `duration` the run seconds
//! of all attempts (a float); `num_gpus` the GPUs; `cluster` the virtual cluster. The
//! redundant `gpu_time` (= duration × GPUs) is not read, and may be absent. There is no
//! job id: jobs are named `<file-stem>-<line>` (the header is line 1, so `philly-2` is
//! the first job).
//!
//! # JSON: `cluster_job_log`
//!
//! A JSON array of jobs:
//!
//! ```text
//! [{"jobid": "application_1506638472019_1", "user": "u1", "vc": "vc1", "status": "Pass",
//!   "submitted_time": "2017-10-03 02:48:55",
//!   "attempts": [{"start_time": "2017-10-03 02:48:56", "end_time": "2017-10-03 03:10:01",
//!                 "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1"]}]}]}]
//! ```
//!
//! - id = `jobid`, VC = `vc`, submit = `submitted_time`; `user` is not read.
//! - duration = the sum over attempts of `end_time - start_time`, like the CSV above.
//!   An attempt whose start or end is `"None"` (it never started, or was still running
//!   when the log was cut) adds nothing and is counted under
//!   [`ATTEMPT_WITHOUT_TIMES`]; a job with no attempt that has both times is skipped and
//!   counted under [`JOB_NEVER_RAN`].
//! - GPUs = the **largest** number of GPUs (summed over `detail` machines) of any attempt:
//!   the first attempt may have an empty `detail` when it failed before placement, and a
//!   job asks the same number of GPUs on every retry, so the largest is the request. A
//!   job whose attempts name no GPU is skipped and counted under [`JOB_WITHOUT_GPUS`].
//! - `status` (`Pass`, `Killed`, `Failed`) is not used: killed and failed jobs held their
//!   GPUs for the attempts they ran, so they are replayed like the others.
//!
//! The JSON is read one job object at a time, so a file of any size takes the memory of
//! one job. A job object with a missing or mistyped field is an error for that job only;
//! broken JSON syntax ends the reading (there is no safe place to resume).

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use super::source::{
    CsvFormat, CsvRows, CsvTrace, RowInfo, TraceSource, check_columns, default_priority,
    duration_field, file_stem, gpus_field, open_error, philly_datetime_ms, trace_error,
};
use super::trace::{IngestReport, TraceError, TraceJob};
use crate::sim::SimTimeMs;

/// Kind noted for an attempt whose `start_time` or `end_time` is `"None"` or missing.
pub const ATTEMPT_WITHOUT_TIMES: &str = "attempt without start or end time (adds no run time)";
/// Kind noted for a job skipped because no attempt has both a start and an end time.
pub const JOB_NEVER_RAN: &str = "job never ran (skipped)";
/// Kind noted for a job skipped because no attempt names a GPU.
pub const JOB_WITHOUT_GPUS: &str = "job without GPUs in any attempt (skipped)";

const CSV_REQUIRED: [&str; 4] = ["timestamp", "duration", "num_gpus", "cluster"];
const DATETIME_HINT: &str = "a date and time like 2017-10-09 07:01:55 (after 1970)";

/// Reads the Philly CSV (`timestamp,duration,num_gpus,gpu_time,cluster`) row by row, in
/// file order (which is not submit order). See the module docs.
pub type PhillyCsvReader = CsvTrace<PhillyCsvFormat>;

/// The Philly CSV's columns, found by name in the header.
pub struct PhillyCsvFormat {
    stem: String,
    /// timestamp, duration, num_gpus, cluster.
    columns: [usize; 4],
}

/// Opens a Philly CSV trace and checks its header.
pub fn read_philly_csv(path: &Path) -> Result<PhillyCsvReader, TraceError> {
    PhillyCsvFormat::reader(CsvRows::open(path, b',', true)?)
}

impl PhillyCsvReader {
    /// Reads a Philly CSV trace from `input`, naming it `name` in errors and ids.
    pub fn from_reader(
        name: &Path,
        input: impl Read + Send + 'static,
    ) -> Result<PhillyCsvReader, TraceError> {
        PhillyCsvFormat::reader(CsvRows::from_reader(name, Box::new(input), b',', true)?)
    }
}

impl PhillyCsvFormat {
    fn reader(rows: CsvRows) -> Result<PhillyCsvReader, TraceError> {
        // Extra columns are tolerated: derived copies of this file often add some.
        check_columns(&rows, "Philly CSV", &CSV_REQUIRED, &["gpu_time"], false)?;
        let format = PhillyCsvFormat {
            stem: file_stem(rows.path()),
            columns: CSV_REQUIRED.map(|name| rows.index_of(name).unwrap_or(usize::MAX)),
        };
        Ok(CsvTrace::new(rows, format))
    }
}

impl CsvFormat for PhillyCsvFormat {
    /// Every id is made up (`<file-stem>-<line>`): the CSV has no id column.
    fn job(
        &self,
        rows: &CsvRows,
        row: &mut RowInfo,
        _skipped: &mut IngestReport,
    ) -> Result<Option<TraceJob>, TraceError> {
        row.id_generated = true;
        let [timestamp, duration, gpus, vc] = self.columns;
        let submit_ms = philly_datetime_ms(rows.field(timestamp)?)
            .ok_or_else(|| rows.error(timestamp, DATETIME_HINT))?;
        let duration_ms = duration_field(rows, duration, "seconds", 1000)?;
        let gpus = gpus_field(rows, gpus)?;
        let vc_name = rows.field(vc)?;
        if vc_name.is_empty() {
            return Err(rows.error(vc, "a virtual cluster name"));
        }
        Ok(Some(TraceJob {
            id: format!("{}-{}", self.stem, rows.line),
            submit_ms,
            duration_ms,
            gpus,
            vc: vc_name.to_string(),
            priority: default_priority(),
            gpu_type: None,
            resources: None,
        }))
    }

    /// Timestamps are calendar dates.
    fn absolute_times(&self) -> bool {
        true
    }
}

/// Counts lines and columns of the bytes read through it, so that errors of the JSON
/// parser (which starts afresh for every job) can be placed in the whole file.
struct Positioned<R> {
    inner: BufReader<R>,
    /// 1-based line of the next byte.
    line: u64,
    /// 1-based column of the next byte.
    column: u64,
}

/// Moves a line/column position past `bytes`.
fn advance_position(line: &mut u64, column: &mut u64, bytes: &[u8]) {
    for &b in bytes {
        if b == b'\n' {
            *line += 1;
            *column = 1;
        } else {
            *column += 1;
        }
    }
}

impl<R: Read> Positioned<R> {
    /// Skips whitespace (and a UTF-8 byte-order mark) and returns the next byte without
    /// consuming it; `None` at the end of the file.
    fn peek_token(&mut self) -> io::Result<Option<u8>> {
        loop {
            let buf = self.inner.fill_buf()?;
            if buf.is_empty() {
                return Ok(None);
            }
            let skip = buf
                .iter()
                .position(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | 0xEF | 0xBB | 0xBF))
                .unwrap_or(buf.len());
            let token = buf.get(skip).copied();
            advance_position(&mut self.line, &mut self.column, &buf[..skip]);
            self.inner.consume(skip);
            if let Some(b) = token {
                return Ok(Some(b));
            }
        }
    }

    fn consume_byte(&mut self) {
        self.inner.consume(1);
        self.column += 1;
    }
}

impl<R: Read> Read for Positioned<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        advance_position(&mut self.line, &mut self.column, &out[..n]);
        Ok(n)
    }
}

/// Reads a Philly `cluster_job_log` JSON array one job at a time, in file order. See the
/// module docs for how attempts become a duration and a GPU count.
pub struct PhillyJsonReader {
    path: PathBuf,
    input: Positioned<Box<dyn Read + Send>>,
    /// True once the closing `]` (or a fatal error) was met.
    done: bool,
    stopped: bool,
    /// Jobs read so far (a `,` is due before the next one).
    jobs_seen: u64,
    line: u64,
    skipped: IngestReport,
}

/// Opens a Philly `cluster_job_log` JSON file and checks that it starts a JSON array.
pub fn read_philly_json(path: &Path) -> Result<PhillyJsonReader, TraceError> {
    let file = File::open(path).map_err(|e| open_error(path, &e))?;
    PhillyJsonReader::from_reader(path, file)
}

impl PhillyJsonReader {
    /// Reads a `cluster_job_log` JSON array from `input`, naming it `name` in errors.
    pub fn from_reader(
        name: &Path,
        input: impl Read + Send + 'static,
    ) -> Result<PhillyJsonReader, TraceError> {
        let boxed: Box<dyn Read + Send> = Box::new(input);
        let mut reader = PhillyJsonReader {
            path: name.to_path_buf(),
            input: Positioned {
                inner: BufReader::with_capacity(64 * 1024, boxed),
                line: 1,
                column: 1,
            },
            done: false,
            stopped: false,
            jobs_seen: 0,
            line: 0,
            skipped: IngestReport::default(),
        };
        match reader.input.peek_token() {
            Ok(Some(b'[')) => {
                reader.input.consume_byte();
                Ok(reader)
            }
            Ok(other) => Err(trace_error(
                name,
                reader.input.line,
                None,
                other
                    .map(|b| String::from_utf8_lossy(&[b]).into_owned())
                    .as_deref(),
                "a JSON array of jobs, starting with [ (the Philly cluster_job_log format)",
            )),
            Err(e) => Err(reader.io_error(&e)),
        }
    }

    fn io_error(&self, e: &io::Error) -> TraceError {
        trace_error(
            &self.path,
            self.input.line,
            None,
            None,
            format!("a readable file, but reading failed ({e})"),
        )
    }

    /// Ends the reading with `error`.
    fn stop(&mut self, error: TraceError) -> Option<Result<TraceJob, TraceError>> {
        self.done = true;
        self.stopped = true;
        Some(Err(error))
    }

    fn syntax_error(&self, line: u64, expected: String) -> TraceError {
        trace_error(&self.path, line, None, None, expected)
    }

    /// Turns one job object into a job; `Ok(None)` when the job is skipped (and noted).
    fn job(&mut self, value: Value) -> Result<Option<TraceJob>, TraceError> {
        let line = self.line;
        let error = |field: &str, value: Option<&Value>, expected: &str| {
            let shown = value.map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            trace_error(&self.path, line, Some(field), shown.as_deref(), expected)
        };
        let Value::Object(job) = value else {
            return Err(error(".", Some(&value), "a job object {\"jobid\": …}"));
        };
        let text = |field: &str| -> Result<&str, TraceError> {
            match job.get(field) {
                Some(Value::String(s)) if !s.is_empty() => Ok(s),
                other => Err(error(field, other, "a non-empty string")),
            }
        };
        let id = text("jobid")?.to_string();
        let vc = text("vc")?.to_string();
        let submitted = text("submitted_time")?;
        let submit_ms = philly_datetime_ms(submitted)
            .ok_or_else(|| error("submitted_time", job.get("submitted_time"), DATETIME_HINT))?;
        let attempts = match job.get("attempts") {
            Some(Value::Array(a)) => a,
            other => {
                return Err(error(
                    "attempts",
                    other,
                    "an array of attempts (may be empty)",
                ));
            }
        };
        let mut duration_ms: SimTimeMs = 0;
        let mut gpus: u32 = 0;
        for (i, attempt) in attempts.iter().enumerate() {
            let field = |name: &str| format!("attempts[{i}].{name}");
            let Value::Object(attempt) = attempt else {
                return Err(error(
                    &format!("attempts[{i}]"),
                    Some(attempt),
                    "an attempt object",
                ));
            };
            // `"None"` (or a missing key) means the time is unknown; anything else must
            // be a date.
            let time = |name: &str| -> Result<Option<SimTimeMs>, TraceError> {
                match attempt.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::String(s)) if s == "None" => Ok(None),
                    Some(v @ Value::String(s)) => philly_datetime_ms(s)
                        .map(Some)
                        .ok_or_else(|| error(&field(name), Some(v), DATETIME_HINT)),
                    Some(v) => Err(error(
                        &field(name),
                        Some(v),
                        "a date and time string or \"None\"",
                    )),
                }
            };
            match (time("start_time")?, time("end_time")?) {
                (Some(start), Some(end)) if end >= start => duration_ms += end - start,
                (Some(_), Some(_)) => {
                    return Err(error(
                        &field("end_time"),
                        attempt.get("end_time"),
                        "an end time no earlier than the attempt's start_time",
                    ));
                }
                _ => {
                    let id = &id;
                    self.skipped.note(ATTEMPT_WITHOUT_TIMES, || {
                        format!("line {line}: job {id} attempt {i}")
                    });
                }
            }
            let detail = match attempt.get("detail") {
                None | Some(Value::Null) => continue,
                Some(Value::Array(d)) => d,
                Some(v) => {
                    return Err(error(
                        &field("detail"),
                        Some(v),
                        "an array of {\"ip\", \"gpus\"}",
                    ));
                }
            };
            let mut attempt_gpus: u32 = 0;
            for (j, machine) in detail.iter().enumerate() {
                match machine.get("gpus") {
                    Some(Value::Array(g)) => {
                        attempt_gpus = attempt_gpus.saturating_add(g.len() as u32);
                    }
                    other => {
                        return Err(error(
                            &format!("attempts[{i}].detail[{j}].gpus"),
                            other,
                            "an array of GPU names, e.g. [\"gpu0\", \"gpu1\"]",
                        ));
                    }
                }
            }
            gpus = gpus.max(attempt_gpus);
        }
        if duration_ms == 0 {
            self.skipped
                .note(JOB_NEVER_RAN, || format!("line {line}: job {id}"));
            return Ok(None);
        }
        if gpus == 0 {
            self.skipped
                .note(JOB_WITHOUT_GPUS, || format!("line {line}: job {id}"));
            return Ok(None);
        }
        Ok(Some(TraceJob {
            id,
            submit_ms,
            duration_ms,
            gpus,
            vc,
            priority: default_priority(),
            gpu_type: None,
            resources: None,
        }))
    }
}

impl Iterator for PhillyJsonReader {
    type Item = Result<TraceJob, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            let token = match self.input.peek_token() {
                Ok(t) => t,
                Err(e) => {
                    let error = self.io_error(&e);
                    return self.stop(error);
                }
            };
            match token {
                Some(b']') => {
                    self.input.consume_byte();
                    self.done = true;
                    return None;
                }
                Some(b',') if self.jobs_seen > 0 => {
                    self.input.consume_byte();
                    continue;
                }
                None => {
                    let error = self.syntax_error(
                        self.input.line,
                        "a closing ] at the end of the JSON array; the file is cut short"
                            .to_string(),
                    );
                    return self.stop(error);
                }
                Some(_) => {}
            }
            self.line = self.input.line;
            let (start_line, start_column) = (self.input.line, self.input.column);
            self.jobs_seen += 1;
            let mut parser = serde_json::Deserializer::from_reader(&mut self.input);
            let value = match Value::deserialize(&mut parser) {
                Ok(v) => v,
                Err(e) => {
                    let line = start_line + e.line() as u64 - 1;
                    let column = if e.line() <= 1 {
                        start_column + e.column() as u64 - 1
                    } else {
                        e.column() as u64
                    };
                    let mut message = e.to_string();
                    if let Some(at) = message.rfind(" at line ") {
                        message.truncate(at);
                    }
                    let error = self.syntax_error(
                        line,
                        format!(
                            "valid JSON, but at column {column}: {message}; fix the syntax \
                             (nothing after this point is read)"
                        ),
                    );
                    return self.stop(error);
                }
            };
            match self.job(value) {
                Ok(Some(job)) => return Some(Ok(job)),
                Ok(None) => continue,
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

impl TraceSource for PhillyJsonReader {
    fn path(&self) -> &Path {
        &self.path
    }
    fn last_row(&self) -> RowInfo {
        RowInfo {
            line: self.line,
            id_generated: false,
        }
    }
    fn skipped(&self) -> &IngestReport {
        &self.skipped
    }
    fn absolute_times(&self) -> bool {
        true
    }
    fn stopped(&self) -> bool {
        self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn csv(text: &str) -> Vec<Result<TraceJob, TraceError>> {
        PhillyCsvReader::from_reader(Path::new("p.csv"), io::Cursor::new(text.to_string()))
            .unwrap()
            .collect()
    }

    fn json(text: &str) -> (Vec<Result<TraceJob, TraceError>>, IngestReport) {
        let mut reader =
            PhillyJsonReader::from_reader(Path::new("log.json"), io::Cursor::new(text.to_string()))
                .unwrap();
        let items: Vec<_> = reader.by_ref().collect();
        (items, reader.skipped().clone())
    }

    #[test]
    fn csv_rows_become_jobs_with_epoch_submit_times() {
        let jobs = csv("timestamp,duration,num_gpus,gpu_time,cluster\n\
                        1970-01-01 00:01:00,66.0,2,132.0,vc1\n");
        let job = jobs[0].as_ref().unwrap();
        assert_eq!(job.id, "p-2");
        assert_eq!(
            (job.submit_ms, job.duration_ms, job.gpus),
            (60_000, 66_000, 2)
        );
        assert_eq!(job.vc, "vc1");
    }

    #[test]
    fn csv_bad_timestamp_names_the_column_and_value() {
        let jobs = csv("timestamp,duration,num_gpus,gpu_time,cluster\n\
                        2017-10-09T07:01:55,66.0,1,66.0,vc1\n");
        let e = jobs[0].as_ref().unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.csv:2: column timestamp: value \"2017-10-09T07:01:55\": a date and time like \
             2017-10-09 07:01:55 (after 1970)"
        );
    }

    const ONE_JOB: &str = r#"[{"jobid": "app_1", "user": "u", "vc": "v", "status": "Killed",
        "submitted_time": "1970-01-01 00:00:10",
        "attempts": [
          {"start_time": "1970-01-01 00:00:20", "end_time": "1970-01-01 00:00:30", "detail": []},
          {"start_time": "1970-01-01 00:01:00", "end_time": "None",
           "detail": [{"ip": "m1", "gpus": ["gpu0", "gpu1"]}]},
          {"start_time": "1970-01-01 00:02:00", "end_time": "1970-01-01 00:02:05",
           "detail": [{"ip": "m1", "gpus": ["gpu0"]}, {"ip": "m2", "gpus": ["gpu3"]}]}]}]"#;

    #[test]
    fn json_sums_attempt_times_and_takes_the_largest_gpu_count() {
        let (jobs, skipped) = json(ONE_JOB);
        assert_eq!(jobs.len(), 1);
        let job = jobs[0].as_ref().unwrap();
        assert_eq!((job.id.as_str(), job.vc.as_str()), ("app_1", "v"));
        assert_eq!(
            (job.submit_ms, job.duration_ms, job.gpus),
            (10_000, 15_000, 2)
        );
        assert_eq!(skipped.count(ATTEMPT_WITHOUT_TIMES), 1);
    }

    #[test]
    fn json_syntax_errors_end_the_reading_with_the_place() {
        let (jobs, _) = json("[\n{\"jobid\": \"a\",\n \"vc\" \"x\"}]");
        assert_eq!(jobs.len(), 1);
        let e = jobs[0].as_ref().unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.expected.contains("at column 7: expected `:`"), "{e}");
    }

    #[test]
    fn json_cut_short_is_an_error() {
        let (jobs, _) = json("[");
        assert!(jobs[0].as_ref().unwrap_err().expected.contains("cut short"));
    }
}
