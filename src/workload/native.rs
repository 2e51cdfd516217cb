//! cellsim's own trace format, a plain CSV (documented with an example in
//! `traces/README.md`): reader ([`read_native`]) and writer ([`write_native_csv`]).
//!
//! ```text
//! id,submit_s,duration_s,gpus,vc,priority,gpu_type
//! j1,0,3600,8,vc-a,100,V100
//! j2,12.5,600,1,vc-b,,
//! ```
//!
//! - `id`: unique job name; empty means `<file-stem>-<line>`.
//! - `submit_s`: submit time, seconds from the start of the trace (decimals allowed,
//!   kept to the millisecond).
//! - `duration_s`: run time in seconds, above 0 (at least 1 ms after rounding).
//! - `gpus`: GPUs needed at once, a whole number from 1.
//! - `vc`: virtual cluster; empty means `default`.
//! - `priority` (optional column, empty allowed): an integer (below 0 = opportunistic) or
//!   an OpenPAI class (`crit`, `prod`, `test`, `oppo`); default `test` (10).
//! - `gpu_type` (optional column, empty allowed): the GPU model (leaf cell type) the job
//!   must run on; several acceptable models are separated by `|`.
//!
//! Columns are found by name, so their order is free; a column not listed here is an
//! error, so that a misspelt `gpu_type` does not silently drop a constraint. Times are
//! relative: the ingest step does not shift them.

use std::io::{self, Read, Write};
use std::path::Path;

use super::source::{
    CsvFormat, CsvRows, CsvTrace, RowInfo, check_columns, default_priority, duration_field,
    file_stem, gpus_field, priority_field, seconds_text, time_field,
};
use super::trace::{IngestReport, TraceError, TraceJob};

/// The columns of a native trace, in the order the writer uses.
pub const NATIVE_COLUMNS: [&str; 7] = [
    "id",
    "submit_s",
    "duration_s",
    "gpus",
    "vc",
    "priority",
    "gpu_type",
];

const REQUIRED: [&str; 5] = ["id", "submit_s", "duration_s", "gpus", "vc"];
const OPTIONAL: [&str; 2] = ["priority", "gpu_type"];

/// Reads a native cellsim CSV trace row by row, in file order. See the module docs for
/// the schema.
pub type NativeReader = CsvTrace<NativeFormat>;

/// The native format's columns, found by name in the header.
pub struct NativeFormat {
    stem: String,
    columns: [usize; 5],
    priority: Option<usize>,
    gpu_type: Option<usize>,
}

/// Opens a native trace and reads its header. Fails when the file cannot be opened or the
/// header lacks a required column or has an unknown one.
pub fn read_native(path: &Path) -> Result<NativeReader, TraceError> {
    NativeFormat::reader(CsvRows::open(path, b',', true)?)
}

impl NativeReader {
    /// Reads a native trace from `input`, naming it `name` in errors and ids.
    pub fn from_reader(
        name: &Path,
        input: impl Read + Send + 'static,
    ) -> Result<NativeReader, TraceError> {
        NativeFormat::reader(CsvRows::from_reader(name, Box::new(input), b',', true)?)
    }
}

impl NativeFormat {
    fn reader(rows: CsvRows) -> Result<NativeReader, TraceError> {
        check_columns(&rows, "native", &REQUIRED, &OPTIONAL, true)?;
        let index = |name: &str| rows.index_of(name).unwrap_or(usize::MAX);
        let format = NativeFormat {
            stem: file_stem(rows.path()),
            columns: REQUIRED.map(index),
            priority: rows.index_of("priority"),
            gpu_type: rows.index_of("gpu_type"),
        };
        Ok(CsvTrace::new(rows, format))
    }
}

impl CsvFormat for NativeFormat {
    fn job(
        &self,
        rows: &CsvRows,
        row: &mut RowInfo,
        _skipped: &mut IngestReport,
    ) -> Result<Option<TraceJob>, TraceError> {
        let [id, submit, duration, gpus, vc] = self.columns;
        let submit_ms = time_field(rows, submit, "seconds", 1000)?;
        let duration_ms = duration_field(rows, duration, "seconds", 1000)?;
        let gpus = gpus_field(rows, gpus)?;
        let priority = match self.priority {
            Some(i) => priority_field(rows, i)?,
            None => default_priority(),
        };
        let gpu_type = match self.gpu_type {
            Some(i) => Some(rows.field(i)?)
                .filter(|t| !t.is_empty())
                .map(str::to_string),
            None => None,
        };
        let vc = match rows.field(vc)? {
            "" => "default".to_string(),
            name => name.to_string(),
        };
        let id_text = rows.field(id)?;
        row.id_generated = id_text.is_empty();
        let id = if id_text.is_empty() {
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

    /// Times are offsets from the start of the trace.
    fn absolute_times(&self) -> bool {
        false
    }
}

/// Writes `jobs` as a native trace (header first), times in seconds with up to three
/// decimals, so that [`read_native`] gives the same jobs back. Takes jobs or references
/// to them, so a generator's jobs stream straight to the file.
pub fn write_native_csv<J: std::borrow::Borrow<TraceJob>>(
    jobs: impl IntoIterator<Item = J>,
    writer: impl Write,
) -> io::Result<()> {
    let mut out = csv::Writer::from_writer(writer);
    out.write_record(NATIVE_COLUMNS)?;
    for job in jobs {
        let job = job.borrow();
        out.write_record([
            job.id.as_str(),
            &seconds_text(job.submit_ms),
            &seconds_text(job.duration_ms),
            &job.gpus.to_string(),
            &job.vc,
            &job.priority.to_string(),
            job.gpu_type.as_deref().unwrap_or(""),
        ])?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Vec<Result<TraceJob, TraceError>>, TraceError> {
        let reader =
            NativeReader::from_reader(Path::new("t.csv"), io::Cursor::new(text.to_string()))?;
        Ok(reader.collect())
    }

    #[test]
    fn reads_every_column_and_defaults_the_optional_ones() {
        let jobs = read("submit_s,id,duration_s,gpus,vc\n1.5,a,60,2,\n").unwrap();
        assert_eq!(
            jobs,
            vec![Ok(TraceJob {
                id: "a".into(),
                submit_ms: 1500,
                duration_ms: 60_000,
                gpus: 2,
                vc: "default".into(),
                priority: 10,
                gpu_type: None,
                resources: None,
            })]
        );
    }

    #[test]
    fn empty_ids_are_made_from_the_file_stem_and_line() {
        let jobs = read("id,submit_s,duration_s,gpus,vc\n,0,1,1,a\n").unwrap();
        assert_eq!(jobs[0].as_ref().unwrap().id, "t-2");
    }

    #[test]
    fn byte_order_marks_blank_lines_and_spaces_are_tolerated() {
        let jobs =
            read("\u{feff}id, submit_s ,duration_s,gpus,vc\n\n a , 1 ,2,3, v \n   \nb,0,1,1,v\n")
                .unwrap();
        let ids: Vec<(String, u64)> = jobs
            .into_iter()
            .map(|j| j.map(|j| (j.id, j.submit_ms)).unwrap())
            .collect();
        assert_eq!(ids, vec![("a".to_string(), 1000), ("b".to_string(), 0)]);
    }

    #[test]
    fn unknown_columns_are_refused() {
        let e = read("id,submit_s,duration_s,gpus,vc,gpu_typ\n")
            .err()
            .unwrap();
        assert_eq!(e.line, 1);
        assert_eq!(e.column.as_deref(), Some("gpu_typ"));
        assert!(e.expected.contains("rename or remove"), "{e}");
    }

    #[test]
    fn round_trips_through_the_writer() {
        let jobs = vec![
            TraceJob {
                id: "x,1".into(),
                submit_ms: 1,
                duration_ms: 123_456,
                gpus: 8,
                vc: "vc-a".into(),
                priority: -1,
                gpu_type: Some("V100|P100".into()),
                resources: None,
            },
            TraceJob {
                id: "y".into(),
                submit_ms: 7_200_000,
                duration_ms: 1,
                gpus: 1,
                vc: "default".into(),
                priority: 100,
                gpu_type: None,
                resources: None,
            },
        ];
        let mut bytes = Vec::new();
        write_native_csv(&jobs, &mut bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        let back: Vec<TraceJob> = read(&text)
            .unwrap()
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(back, jobs);
    }
}
