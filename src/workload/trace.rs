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
    /// necessarily 0; readers shift so that the earliest submit is 0 when the format has
    /// absolute timestamps).
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
    pub gpu_type: Option<String>,
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
