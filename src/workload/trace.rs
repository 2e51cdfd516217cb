//! The job model every trace reader produces ([`TraceJob`]), the error a reader gives for
//! a row it cannot read ([`TraceError`]), and the tally of rows a replay set aside
//! ([`IngestReport`]). Readers live in sibling modules; turning a `TraceJob` into group
//! requests for a given cluster is the simulator's business, not theirs.

use std::fmt;
use std::path::PathBuf;

use crate::sim::SimTimeMs;

/// One job of a trace: the few facts every trace format can give.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceJob {
    /// Identifier, unique in the trace (readers invent `<file-stem>-<row>` when the format
    /// has none).
    pub id: String,
    /// Submit time, milliseconds from the start of the trace (the first row's time is not
    /// necessarily 0). Readers of formats with absolute timestamps give milliseconds since
    /// 1970-01-01 (local time, see `TraceSource::absolute_times`); the ingest step
    /// (`workload::ingest`) shifts them so that the earliest submit is 0.
    pub submit_ms: SimTimeMs,
    /// Run time on its GPUs, milliseconds (at least 1).
    pub duration_ms: SimTimeMs,
    /// GPUs the job needs at once (at least 1).
    pub gpus: u32,
    /// Virtual cluster (tenant); `default` when the format has none.
    pub vc: String,
    /// Priority (higher runs first; below 0 means opportunistic, as in HiveD).
    pub priority: i32,
    /// GPU model the job must run on (a leaf cell type / SKU name), if constrained.
    /// Several acceptable models are separated by `|` (as openb's `gpu_spec` writes
    /// them); see [`TraceJob::gpu_types`].
    pub gpu_type: Option<String>,
    /// What its one pod asks for besides whole GPUs (a share of one GPU, CPU, memory,
    /// all its GPU models), when the reader keeps them (openb `--fractional share`);
    /// `None`: `gpus` whole GPUs, as every other reader gives.
    pub resources: Option<crate::cell::PodResources>,
}

impl TraceJob {
    /// The GPU models the job may run on (empty: any), from [`TraceJob::gpu_type`] split
    /// at `|`, without repeats, in the order written.
    pub fn gpu_types(&self) -> Vec<&str> {
        let mut types: Vec<&str> = Vec::new();
        for t in self
            .gpu_type
            .iter()
            .flat_map(|t| t.split('|'))
            .map(str::trim)
        {
            if !t.is_empty() && !types.contains(&t) {
                types.push(t);
            }
        }
        types
    }
}

/// A row a reader could not read. Readers yield it and go on with the next row, so one
/// bad row does not end a replay; the caller decides whether to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceError {
    /// The trace file.
    pub file: PathBuf,
    /// 1-based line of the row (the header is line 1 in CSV files); 0 when unknown.
    pub line: u64,
    /// The column (or JSON field) at fault, when one is.
    pub column: Option<String>,
    /// The offending value, when there is one.
    pub value: Option<String>,
    /// What was expected instead, as a sentence that says how to fix it.
    pub expected: String,
}

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if self.line > 0 {
            write!(f, ":{}", self.line)?;
        }
        if let Some(column) = &self.column {
            write!(f, ": column {column}")?;
        }
        if let Some(value) = &self.value {
            write!(f, ": value {value:?}")?;
        }
        write!(f, ": {}", self.expected)
    }
}

impl std::error::Error for TraceError {}

/// How many example rows an [`IngestReport`] keeps per kind of problem.
pub const EXAMPLES_KEPT: usize = 3;

/// Rows of a trace that a replay set aside or changed, counted with the first examples,
/// so that nothing is dropped silently.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestReport {
    /// Rows read as jobs.
    pub jobs_read: u64,
    /// Problems by kind (e.g. "unreadable row", "duplicate row", "out of order",
    /// "larger than the cluster", "fractional GPU skipped"): count and first examples.
    pub issues: std::collections::BTreeMap<String, IssueTally>,
}

/// Count and first examples of one kind of problem.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueTally {
    /// How many rows had it.
    pub count: u64,
    /// The first [`EXAMPLES_KEPT`] of them, as readable one-liners.
    pub examples: Vec<String>,
}

impl IngestReport {
    /// Counts one row with problem `kind`, keeping `example` if it is among the first.
    pub fn note(&mut self, kind: &str, example: impl FnOnce() -> String) {
        let tally = self.issues.entry(kind.to_string()).or_default();
        tally.count += 1;
        if tally.examples.len() < EXAMPLES_KEPT {
            tally.examples.push(example());
        }
    }

    /// Adds the issues of `other` (counts, and examples up to [`EXAMPLES_KEPT`]) to
    /// these; `jobs_read` is left alone, as each report counts its own reading.
    pub fn merge(&mut self, other: &IngestReport) {
        for (kind, theirs) in &other.issues {
            let tally = self.issues.entry(kind.clone()).or_default();
            tally.count += theirs.count;
            let room = EXAMPLES_KEPT.saturating_sub(tally.examples.len());
            tally
                .examples
                .extend(theirs.examples.iter().take(room).cloned());
        }
    }

    /// How many rows had problem `kind`.
    pub fn count(&self, kind: &str) -> u64 {
        self.issues.get(kind).map_or(0, |t| t.count)
    }

    /// One line per kind of problem, with its count and examples; empty when none.
    pub fn lines(&self) -> Vec<String> {
        self.issues
            .iter()
            .map(|(kind, tally)| {
                format!(
                    "{kind}: {} row(s), e.g. {}",
                    tally.count,
                    tally.examples.join("; ")
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_file_line_column_value_and_fix() {
        let e = TraceError {
            file: PathBuf::from("t.csv"),
            line: 7,
            column: Some("gpus".into()),
            value: Some("x".into()),
            expected: "a whole number of GPUs, at least 1".into(),
        };
        assert_eq!(
            e.to_string(),
            "t.csv:7: column gpus: value \"x\": a whole number of GPUs, at least 1"
        );
    }

    #[test]
    fn gpu_types_split_alternatives_and_drop_repeats() {
        let mut job = TraceJob {
            id: "j".into(),
            submit_ms: 0,
            duration_ms: 1,
            gpus: 1,
            vc: "default".into(),
            priority: 0,
            gpu_type: Some("V100M16|V100M32|V100M32".into()),
            resources: None,
        };
        assert_eq!(job.gpu_types(), vec!["V100M16", "V100M32"]);
        job.gpu_type = None;
        assert!(job.gpu_types().is_empty());
    }

    #[test]
    fn merged_reports_add_counts_and_keep_the_first_examples() {
        let mut a = IngestReport::default();
        let mut b = IngestReport::default();
        a.note("x", || "a1".into());
        for i in 0..3 {
            b.note("x", || format!("b{i}"));
        }
        b.note("y", || "b".into());
        a.merge(&b);
        assert_eq!(a.count("x"), 4);
        assert_eq!(a.count("y"), 1);
        assert_eq!(a.issues["x"].examples, vec!["a1", "b0", "b1"]);
    }

    #[test]
    fn report_counts_everything_but_keeps_only_the_first_examples() {
        let mut r = IngestReport::default();
        for i in 0..5 {
            r.note("duplicate row", || format!("line {i}"));
        }
        assert_eq!(r.count("duplicate row"), 5);
        assert_eq!(r.count("out of order"), 0);
        assert_eq!(
            r.lines(),
            vec!["duplicate row: 5 row(s), e.g. line 0; line 1; line 2"]
        );
    }
}
