//! The regression gate: compare a candidate run's [`RunSummary`]s with a baseline's,
//! metric by metric, per model and per VC, against [`Tolerances`]. It owns the metric
//! list, the tolerance syntax and the delta table; it does no I/O beyond [`load`], and
//! turns no outcome into an exit code (`main.rs` does).
//!
//! # Inputs
//!
//! Each side is a `summary.json` file or a report folder (what `cellsim run --out DIR`
//! wrote). A folder holding `summary.json` itself is one model's folder; otherwise every
//! `DIR/<model>/summary.json` is read and the two sides are matched by model (folder)
//! name. Two single files are compared with each other whatever their model.
//!
//! # Metrics
//!
//! Per model, over all jobs (VC `(all)`) and per VC: `wait_mean`, `wait_p50`, `wait_p95`,
//! `wait_p99`, `jct_mean`, `preemptions` (lower is better), `finished` (higher is
//! better); and, overall only (the summary has no per-VC figure), `utilisation` (higher is
//! better).
//!
//! # Tolerances
//!
//! A metric regresses when it moves in its worse direction by more than
//! `max(relative × |baseline|, absolute)`. Defaults: 5 % relative for all; absolute 1 s for
//! waits and JCT, 1 for preemptions, 0 for `finished` and `utilisation`. The absolute slack
//! keeps a 0 → 1 s wait from being an infinite regression. `--tolerance` takes
//! comma-separated `METRIC=VALUE` items, applied left to right:
//!
//! - `METRIC=N%` sets the relative part (`wait_p95=10%`);
//! - `METRIC=VALUE` without `%` sets the absolute part, in the metric's unit: a duration
//!   for times (`wait_p95=30s`, `jct_mean=2m`, `500ms`; a bare number is seconds), a count
//!   for `preemptions` and `finished`, a fraction of the cluster for `utilisation`
//!   (`utilisation=0.02` is two points);
//! - `all=N%` sets the relative part of every metric (`all` takes only percentages, as the
//!   metrics' units differ).
//!
//! A metric that moves the other way by more than its tolerance is reported `improved`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::summary::{JobMetrics, READABLE_SCHEMA_VERSIONS, RunSummary, SCHEMA_VERSION};
use crate::sim::scenario::parse_duration;

/// Why a comparison could not be made. None is recoverable for the comparison: the input
/// must be fixed (the binary exits 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// A file or folder could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A `summary.json` is not valid JSON or a field has the wrong type.
    #[error("{}: {field}: {message}; is it a summary.json written by `cellsim run`?", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The JSON path of the offending field (`.` for the document).
        field: String,
        /// What was wrong.
        message: String,
    },
    /// A `summary.json` of another schema version.
    #[error(
        "{}: schemaVersion is {found}, this cellsim reads {expected}; re-run the scenario with this cellsim to refresh it",
        path.display()
    )]
    Schema {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: String,
        /// [`SCHEMA_VERSION`].
        expected: u32,
    },
    /// A folder holds neither `summary.json` nor `<model>/summary.json`.
    #[error("{}: no summary.json nor <model>/summary.json inside; pass a summary.json or the --out folder of `cellsim run`", path.display())]
    NoSummaries {
        /// The folder.
        path: PathBuf,
    },
    /// The two sides do not describe the same runs (models, VCs or scenario differ).
    #[error("{0}")]
    Mismatch(String),
    /// A `--tolerance` item is malformed or names an unknown metric.
    #[error("--tolerance {item:?}: {message}")]
    Tolerance {
        /// The item as given.
        item: String,
        /// What is wrong and what is accepted.
        message: String,
    },
}

/// Which way is better for a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    /// Lower values are better (waits, JCT, preemptions).
    Lower,
    /// Higher values are better (finished jobs, utilisation).
    Higher,
}

/// One compared metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    /// Mean wait, ms.
    WaitMean,
    /// Median wait, ms.
    WaitP50,
    /// 95th-percentile wait, ms.
    WaitP95,
    /// 99th-percentile wait, ms.
    WaitP99,
    /// Mean job completion time, ms.
    JctMean,
    /// Overall utilisation, a fraction (overall only).
    Utilisation,
    /// Preemptions, a count.
    Preemptions,
    /// Finished jobs, a count.
    Finished,
}

/// Every metric, in table order.
pub const METRICS: [Metric; 8] = [
    Metric::WaitMean,
    Metric::WaitP50,
    Metric::WaitP95,
    Metric::WaitP99,
    Metric::JctMean,
    Metric::Utilisation,
    Metric::Preemptions,
    Metric::Finished,
];

impl Metric {
    /// The name used in `--tolerance` and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Metric::WaitMean => "wait_mean",
            Metric::WaitP50 => "wait_p50",
            Metric::WaitP95 => "wait_p95",
            Metric::WaitP99 => "wait_p99",
            Metric::JctMean => "jct_mean",
            Metric::Utilisation => "utilisation",
            Metric::Preemptions => "preemptions",
            Metric::Finished => "finished",
        }
    }

    /// The metric called `name`, if any.
    pub fn from_name(name: &str) -> Option<Metric> {
        METRICS.into_iter().find(|m| m.name() == name)
    }

    /// Which way is better.
    pub fn better(self) -> Better {
        match self {
            Metric::Utilisation | Metric::Finished => Better::Higher,
            _ => Better::Lower,
        }
    }

    fn is_time(self) -> bool {
        matches!(
            self,
            Metric::WaitMean
                | Metric::WaitP50
                | Metric::WaitP95
                | Metric::WaitP99
                | Metric::JctMean
        )
    }

    /// Its value in `metrics` (ms for times, counts as numbers); `None` when undefined
    /// (no job started or finished) or not a per-job-set metric (`utilisation`).
    fn of(self, metrics: &JobMetrics) -> Option<f64> {
        let wait = metrics.wait_ms.as_ref();
        let value = match self {
            Metric::WaitMean => wait?.mean,
            Metric::WaitP50 => wait?.p50,
            Metric::WaitP95 => wait?.p95,
            Metric::WaitP99 => wait?.p99,
            Metric::JctMean => metrics.mean_jct_ms?,
            Metric::Utilisation => return None,
            Metric::Preemptions => u64::from(metrics.preemptions),
            Metric::Finished => u64::from(metrics.finished),
        };
        Some(value as f64)
    }

    /// `value` for the table: seconds for times, a percentage for utilisation.
    fn format(self, value: Option<f64>) -> String {
        match value {
            None => "-".to_string(),
            Some(v) if self.is_time() => {
                let ms = v.round();
                if ms < 0.0 {
                    crate::time::human_signed(ms as i64)
                } else {
                    crate::time::human_duration(ms as u64)
                }
            }
            Some(v) if self == Metric::Utilisation => format!("{:.1}%", v * 100.0),
            Some(v) => format!("{v:.0}"),
        }
    }
}

/// How far one metric may move in its worse direction:
/// `max(relative × |baseline|, absolute)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerance {
    /// Fraction of the baseline value (0.05 is 5 %).
    pub relative: f64,
    /// In the metric's unit (ms for times, a count, a fraction for utilisation).
    pub absolute: f64,
}

impl Tolerance {
    /// The allowed move from `baseline`.
    pub fn allowed(&self, baseline: f64) -> f64 {
        (self.relative * baseline.abs()).max(self.absolute)
    }
}

/// A [`Tolerance`] per metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerances {
    by_metric: BTreeMap<Metric, Tolerance>,
}

impl Default for Tolerances {
    /// 5 % relative for all; absolute 1 s for times, 1 for preemptions, else 0.
    fn default() -> Self {
        let by_metric = METRICS
            .into_iter()
            .map(|m| {
                let absolute = if m.is_time() {
                    1000.0
                } else if m == Metric::Preemptions {
                    1.0
                } else {
                    0.0
                };
                (
                    m,
                    Tolerance {
                        relative: 0.05,
                        absolute,
                    },
                )
            })
            .collect();
        Tolerances { by_metric }
    }
}

impl Tolerances {
    /// The defaults with `items` (`METRIC=N%`, `METRIC=VALUE`, `all=N%`; see the module
    /// docs) applied left to right.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<Tolerances, CompareError> {
        let mut tolerances = Tolerances::default();
        for item in items {
            tolerances.apply(item.as_ref())?;
        }
        Ok(tolerances)
    }

    /// The tolerance of `metric`.
    pub fn of(&self, metric: Metric) -> Tolerance {
        self.by_metric[&metric]
    }

    fn apply(&mut self, item: &str) -> Result<(), CompareError> {
        let error = |message: String| CompareError::Tolerance {
            item: item.to_string(),
            message,
        };
        let valid = || {
            let names: Vec<&str> = METRICS.iter().map(|m| m.name()).collect();
            format!("valid metrics: all, {}", names.join(", "))
        };
        let Some((name, value)) = item.split_once('=') else {
            return Err(error(format!(
                "expected METRIC=VALUE such as wait_p95=10% or wait_p95=30s; {}",
                valid()
            )));
        };
        let (name, value) = (name.trim(), value.trim());
        let metrics: Vec<Metric> = if name == "all" {
            METRICS.to_vec()
        } else {
            match Metric::from_name(name) {
                Some(m) => vec![m],
                None => return Err(error(format!("unknown metric {name:?}; {}", valid()))),
            }
        };
        if let Some(pct) = value.strip_suffix('%') {
            let relative = pct
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|p| p.is_finite() && *p >= 0.0)
                .ok_or_else(|| error(format!("{value:?} is not a percentage >= 0 such as 5%")))?;
            for m in metrics {
                if let Some(t) = self.by_metric.get_mut(&m) {
                    t.relative = relative / 100.0;
                }
            }
            return Ok(());
        }
        let [metric] = metrics[..] else {
            return Err(error(
                "`all` takes only a percentage (e.g. all=10%): the metrics' units differ"
                    .to_string(),
            ));
        };
        let absolute = if metric.is_time() {
            parse_duration(value).map(|ms| ms as f64).map_err(|e| {
                error(format!(
                    "{e}; {} takes a duration such as 30s or a percentage",
                    metric.name()
                ))
            })?
        } else if metric == Metric::Utilisation {
            value
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite() && (0.0..=1.0).contains(f))
                .ok_or_else(|| {
                    error(format!(
                        "utilisation takes a fraction 0..1 (0.02 is two points) or a percentage such as 2%, not {value:?}"
                    ))
                })?
        } else {
            value.parse::<u64>().map(|n| n as f64).map_err(|_| {
                error(format!(
                    "{} takes a count such as 2 or a percentage, not {value:?}",
                    metric.name()
                ))
            })?
        };
        if let Some(t) = self.by_metric.get_mut(&metric) {
            t.absolute = absolute;
        }
        Ok(())
    }
}

/// The verdict on one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within tolerance (or undefined on a side).
    Ok,
    /// Worse by more than the tolerance.
    Regressed,
    /// Better by more than the tolerance.
    Improved,
}

impl Verdict {
    /// `ok`, `REGRESSED` or `improved`.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Regressed => "REGRESSED",
            Verdict::Improved => "improved",
        }
    }
}

/// VC label of the rows over all jobs.
pub const ALL_VCS: &str = "(all)";

/// One row of the delta table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Model (folder name, or `base->cand` model names for two single files that differ).
    pub model: String,
    /// VC, or [`ALL_VCS`].
    pub vc: String,
    /// The metric.
    pub metric: Metric,
    /// Baseline value (`None`: undefined, e.g. no job started).
    pub baseline: Option<f64>,
    /// Candidate value.
    pub candidate: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
}

impl Row {
    /// `(candidate - baseline) / baseline` in percent, as text (`-` when undefined,
    /// `new` when the baseline is 0 and the candidate is not).
    pub fn delta_text(&self) -> String {
        let (Some(b), Some(c)) = (self.baseline, self.candidate) else {
            return "-".to_string();
        };
        if b == c {
            "+0.0%".to_string()
        } else if b == 0.0 {
            if c > 0.0 { "+new" } else { "-new" }.to_string()
        } else {
            format!("{:+.1}%", (c - b) / b.abs() * 100.0)
        }
    }
}

/// The result of a comparison: rows in model, VC (`(all)` first), metric order.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The rows.
    pub rows: Vec<Row>,
}

impl Comparison {
    /// Rows that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.verdict == Verdict::Regressed)
    }

    /// Whether any metric regressed.
    pub fn regressed(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// The delta table, aligned, with a closing verdict line.
    pub fn table(&self) -> String {
        let header = [
            "model",
            "vc",
            "metric",
            "baseline",
            "candidate",
            "delta",
            "verdict",
        ];
        let cells: Vec<[String; 7]> = self
            .rows
            .iter()
            .map(|r| {
                [
                    r.model.clone(),
                    r.vc.clone(),
                    r.metric.name().to_string(),
                    r.metric.format(r.baseline),
                    r.metric.format(r.candidate),
                    r.delta_text(),
                    r.verdict.label().to_string(),
                ]
            })
            .collect();
        let mut widths = header.map(str::len);
        for row in &cells {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[&str]| {
            let mut text = String::new();
            for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
                // Names left-aligned, numbers right-aligned, as in the run summary table.
                if (3..6).contains(&i) {
                    let _ = write!(text, "{cell:>w$}  ");
                } else {
                    let _ = write!(text, "{cell:<w$}  ");
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        line(&header);
        for row in &cells {
            line(&row.each_ref().map(String::as_str));
        }
        let regressions = self.regressions().count();
        let _ = writeln!(
            out,
            "{} metric{} compared: {}",
            self.rows.len(),
            if self.rows.len() == 1 { "" } else { "s" },
            if regressions == 0 {
                "no regression".to_string()
            } else {
                format!(
                    "{regressions} REGRESSED beyond tolerance ({})",
                    self.regressions()
                        .map(|r| format!("{} {} {}", r.model, r.vc, r.metric.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        );
        out
    }
}

/// One side of a comparison: a single summary, or a report folder's summaries by model.
#[derive(Debug, Clone, PartialEq)]
pub enum Side {
    /// One `summary.json` (a file, or a model's folder).
    Single(Box<RunSummary>),
    /// `DIR/<model>/summary.json` by folder name.
    Folder(BTreeMap<String, RunSummary>),
}

impl Side {
    fn into_models(self) -> BTreeMap<String, RunSummary> {
        match self {
            Side::Single(s) => BTreeMap::from([(s.model.clone(), *s)]),
            Side::Folder(map) => map,
        }
    }
}

/// Parse one `summary.json`'s text; `path` is for messages. Checks `schemaVersion` first,
/// so a file of another version is reported as such rather than as a field error.
pub fn parse_summary(path: &Path, text: &str) -> Result<RunSummary, CompareError> {
    let parse_error = |field: String, message: String| CompareError::Parse {
        path: path.to_path_buf(),
        field,
        message,
    };
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| parse_error(".".to_string(), e.to_string()))?;
    match value.get("schemaVersion") {
        None => {
            return Err(parse_error(
                "schemaVersion".to_string(),
                "missing field".to_string(),
            ));
        }
        Some(v)
            if !READABLE_SCHEMA_VERSIONS
                .iter()
                .any(|&r| v.as_u64() == Some(u64::from(r))) =>
        {
            return Err(CompareError::Schema {
                path: path.to_path_buf(),
                found: v.to_string(),
                expected: SCHEMA_VERSION,
            });
        }
        Some(_) => {}
    }
    serde_path_to_error::deserialize::<_, RunSummary>(value)
        .map_err(|e| parse_error(e.path().to_string(), e.inner().to_string()))
}

/// Read one side: a `summary.json`, a model's folder (holding `summary.json`) or a report
/// folder (every `<model>/summary.json` inside, by folder name).
pub fn load(path: &Path) -> Result<Side, CompareError> {
    let read = |file: &Path| {
        std::fs::read_to_string(file).map_err(|source| CompareError::Read {
            path: file.to_path_buf(),
            source,
        })
    };
    let read_error = |source| CompareError::Read {
        path: path.to_path_buf(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(read_error)?;
    if !metadata.is_dir() {
        return Ok(Side::Single(Box::new(parse_summary(path, &read(path)?)?)));
    }
    let own = path.join("summary.json");
    if own.is_file() {
        return Ok(Side::Single(Box::new(parse_summary(&own, &read(&own)?)?)));
    }
    let mut models = BTreeMap::new();
    for entry in std::fs::read_dir(path).map_err(read_error)? {
        let entry = entry.map_err(read_error)?;
        let file = entry.path().join("summary.json");
        if !file.is_file() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        models.insert(name, parse_summary(&file, &read(&file)?)?);
    }
    if models.is_empty() {
        return Err(CompareError::NoSummaries {
            path: path.to_path_buf(),
        });
    }
    Ok(Side::Folder(models))
}

/// Compare `candidate` with `baseline`. Two single summaries are paired whatever their
/// model; otherwise both sides must hold the same models. Each pair must be of the same
/// scenario with the same VCs.
pub fn compare(
    baseline: Side,
    candidate: Side,
    tolerances: &Tolerances,
) -> Result<Comparison, CompareError> {
    let pairs: Vec<(String, RunSummary, RunSummary)> = match (baseline, candidate) {
        (Side::Single(b), Side::Single(c)) => {
            let label = if b.model == c.model {
                b.model.clone()
            } else {
                format!("{}->{}", b.model, c.model)
            };
            vec![(label, *b, *c)]
        }
        (b, c) => {
            let (b, mut c) = (b.into_models(), c.into_models());
            let only_b: Vec<&String> = b.keys().filter(|m| !c.contains_key(*m)).collect();
            let only_c: Vec<&String> = c.keys().filter(|m| !b.contains_key(*m)).collect();
            if !only_b.is_empty() || !only_c.is_empty() {
                return Err(CompareError::Mismatch(format!(
                    "the sides hold different models: only in the baseline {only_b:?}, only in the candidate {only_c:?}; run the same models or compare one model's summary.json files"
                )));
            }
            b.into_iter()
                .map(|(model, base)| {
                    let cand = c.remove(&model).expect("same model sets were checked");
                    (model, base, cand)
                })
                .collect()
        }
    };
    let mut rows = Vec::new();
    for (model, base, cand) in pairs {
        if base.scenario != cand.scenario {
            return Err(CompareError::Mismatch(format!(
                "{model}: the baseline is of scenario {:?}, the candidate of {:?}",
                base.scenario, cand.scenario
            )));
        }
        let base_vcs: Vec<&String> = base.vcs.keys().collect();
        let cand_vcs: Vec<&String> = cand.vcs.keys().collect();
        if base_vcs != cand_vcs {
            return Err(CompareError::Mismatch(format!(
                "{model}: the baseline has VCs {base_vcs:?}, the candidate {cand_vcs:?}; was the scenario's cluster changed? Refresh the baseline"
            )));
        }
        let mut push = |vc: &str, metric: Metric, b: Option<f64>, c: Option<f64>| {
            rows.push(Row {
                model: model.clone(),
                vc: vc.to_string(),
                metric,
                baseline: b,
                candidate: c,
                verdict: verdict(metric, tolerances.of(metric), b, c),
            });
        };
        for metric in METRICS {
            let (b, c) = if metric == Metric::Utilisation {
                (Some(base.utilisation), Some(cand.utilisation))
            } else {
                (metric.of(&base.overall), metric.of(&cand.overall))
            };
            push(ALL_VCS, metric, b, c);
        }
        for (vc, b) in &base.vcs {
            let c = &cand.vcs[vc];
            for metric in METRICS.into_iter().filter(|m| *m != Metric::Utilisation) {
                push(vc, metric, metric.of(&b.jobs), metric.of(&c.jobs));
            }
        }
    }
    Ok(Comparison { rows })
}

/// The verdict on a move from `baseline` to `candidate`. An undefined side (no job
/// started or finished) is `ok`: the `finished` count catches the loss of work.
fn verdict(
    metric: Metric,
    tolerance: Tolerance,
    baseline: Option<f64>,
    candidate: Option<f64>,
) -> Verdict {
    let (Some(b), Some(c)) = (baseline, candidate) else {
        return Verdict::Ok;
    };
    let worse_by = match metric.better() {
        Better::Lower => c - b,
        Better::Higher => b - c,
    };
    let allowed = tolerance.allowed(b);
    if worse_by > allowed {
        Verdict::Regressed
    } else if -worse_by > allowed {
        Verdict::Improved
    } else {
        Verdict::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::summary::{Stats, VcMetrics, summary_json};

    fn summary(wait_p95_ms: u64, preemptions: u32) -> RunSummary {
        let jobs = JobMetrics {
            jobs: 4,
            finished: 4,
            wait_ms: Some(Stats {
                mean: 1000,
                p50: 0,
                p95: wait_p95_ms,
                p99: wait_p95_ms,
            }),
            mean_jct_ms: Some(60_000),
            preemptions,
            ..JobMetrics::default()
        };
        RunSummary {
            schema_version: SCHEMA_VERSION,
            scenario: "s".into(),
            model: "hived".into(),
            seed: 0,
            end_ms: 100_000,
            total_gpus: 4,
            utilisation: 0.5,
            busy_window: Default::default(),
            arrival_window: Default::default(),
            gpu_ms_used: 200_000,
            overall: jobs.clone(),
            vcs: BTreeMap::from([(
                "a".to_string(),
                VcMetrics {
                    guaranteed_gpus: 4,
                    jobs,
                    gpu_ms_used: 200_000,
                    gpu_ms_guaranteed: 400_000,
                    gpu_ms_borrowed: 0,
                },
            )]),
            by_size: Vec::new(),
        }
    }

    fn run(base: RunSummary, cand: RunSummary, tolerances: &[&str]) -> Comparison {
        compare(
            Side::Single(Box::new(base)),
            Side::Single(Box::new(cand)),
            &Tolerances::parse(tolerances).unwrap(),
        )
        .unwrap()
    }

    fn verdict_of(c: &Comparison, vc: &str, metric: Metric) -> Verdict {
        c.rows
            .iter()
            .find(|r| r.vc == vc && r.metric == metric)
            .unwrap()
            .verdict
    }

    #[test]
    fn identical_summaries_do_not_regress() {
        let c = run(summary(10_000, 1), summary(10_000, 1), &[]);
        assert!(!c.regressed());
        assert!(c.table().contains("no regression"));
    }

    #[test]
    fn a_worse_p95_beyond_five_percent_regresses_overall_and_per_vc() {
        let c = run(summary(10_000, 0), summary(12_000, 0), &[]);
        assert_eq!(verdict_of(&c, ALL_VCS, Metric::WaitP95), Verdict::Regressed);
        assert_eq!(verdict_of(&c, "a", Metric::WaitP95), Verdict::Regressed);
        assert!(c.table().contains("REGRESSED"));
        let c = run(
            summary(10_000, 0),
            summary(12_000, 0),
            &["wait_p95=25%", "wait_p99=25%"],
        );
        assert!(!c.regressed(), "{}", c.table());
    }

    #[test]
    fn absolute_slack_keeps_zero_to_one_second_ok() {
        let c = run(summary(0, 0), summary(1000, 1), &[]);
        assert!(!c.regressed(), "{}", c.table());
        let c = run(summary(0, 0), summary(1001, 0), &[]);
        assert_eq!(verdict_of(&c, ALL_VCS, Metric::WaitP95), Verdict::Regressed);
        let c = run(
            summary(0, 0),
            summary(20_000, 0),
            &["wait_p95=30s", "wait_p99=30s"],
        );
        assert!(!c.regressed(), "{}", c.table());
    }

    #[test]
    fn fewer_finished_jobs_regress_and_better_waits_improve() {
        let mut cand = summary(5000, 0);
        cand.overall.finished = 3;
        let c = run(summary(10_000, 0), cand, &[]);
        assert_eq!(
            verdict_of(&c, ALL_VCS, Metric::Finished),
            Verdict::Regressed
        );
        assert_eq!(verdict_of(&c, ALL_VCS, Metric::WaitP95), Verdict::Improved);
    }

    #[test]
    fn tolerance_syntax_errors_name_the_valid_metrics() {
        let err = Tolerances::parse(&["wait_p96=5%"]).unwrap_err().to_string();
        assert!(
            err.contains("wait_p96") && err.contains("wait_p95, wait_p99"),
            "{err}"
        );
        assert!(Tolerances::parse(&["all=30s"]).is_err());
        assert!(Tolerances::parse(&["wait_p95"]).is_err());
        assert!(Tolerances::parse(&["preemptions=1.5"]).is_err());
        assert!(Tolerances::parse(&["utilisation=-1%"]).is_err());
        let t = Tolerances::parse(&["all=10%", "wait_p95=2m", "utilisation=0.02"]).unwrap();
        assert_eq!(t.of(Metric::WaitP95).relative, 0.10);
        assert_eq!(t.of(Metric::WaitP95).absolute, 120_000.0);
        assert_eq!(t.of(Metric::Utilisation).absolute, 0.02);
    }

    #[test]
    fn parse_checks_the_schema_version_and_names_bad_fields() {
        let path = Path::new("x/summary.json");
        let good = summary_json(&summary(1, 0));
        assert_eq!(parse_summary(path, &good).unwrap(), summary(1, 0));
        let old = good.replace("\"schemaVersion\": 3", "\"schemaVersion\": 0");
        assert!(matches!(
            parse_summary(path, &old),
            Err(CompareError::Schema { .. })
        ));
        // Version 1 (no queueing-delay fields) still reads, the new fields empty.
        let mut v1: serde_json::Value = serde_json::from_str(&good).unwrap();
        v1["schemaVersion"] = 1.into();
        v1.as_object_mut().unwrap().remove("bySize");
        let strip = |m: &mut serde_json::Value| {
            let m = m.as_object_mut().unwrap();
            m.remove("queueDelayMs");
            m.remove("waitByReasonMs");
        };
        strip(&mut v1["overall"]);
        for vc in v1["vcs"].as_object_mut().unwrap().values_mut() {
            strip(vc);
        }
        let read = parse_summary(path, &v1.to_string()).unwrap();
        assert_eq!(read.schema_version, 1);
        assert_eq!(read.overall.wait_ms, summary(1, 0).overall.wait_ms);
        assert!(read.by_size.is_empty());
        let bad = good.replace("\"finished\": 4", "\"finished\": \"four\"");
        let err = parse_summary(path, &bad).unwrap_err().to_string();
        assert!(
            err.contains("x/summary.json") && err.contains("finished"),
            "{err}"
        );
    }

    #[test]
    fn mismatched_vcs_are_an_input_error() {
        let mut cand = summary(1, 0);
        cand.vcs.clear();
        let err = compare(
            Side::Single(Box::new(summary(1, 0))),
            Side::Single(Box::new(cand)),
            &Tolerances::default(),
        );
        assert!(matches!(err, Err(CompareError::Mismatch(_))));
    }
}
