//! A sweep's results: one [`PointResult`] per run (the point and its [`RunSummary`]),
//! appended to `runs.jsonl` as each run finishes, and the tables made from all of them:
//! `points.csv` (one row per point and VC, plus an `(all)` row) and `points.json`. The
//! tables depend only on the results, sorted by point, so a sweep run at once, resumed,
//! or run in shards and merged writes the same bytes.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SweepError;
use super::points::Point;
use crate::report::{JobMetrics, RunSummary};

/// Version of the `runs.jsonl` / `points.json` record shape; bump on incompatible change.
pub const RESULTS_VERSION: u32 = 1;

/// What a sweep's output folder holds about the sweep itself (`sweep.json`): enough to
/// refuse resuming or merging results of a different sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SweepManifest {
    /// Always [`RESULTS_VERSION`] when written by this version.
    pub results_version: u32,
    /// Sweep name.
    pub name: String,
    /// The base, in one line (trace, cluster, jitter).
    pub base: String,
    /// Every point's key, in sweep order.
    pub points: Vec<String>,
}

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PointResult {
    /// The point.
    #[serde(flatten)]
    pub point: Point,
    /// Its key (see [`Point::key`]).
    pub key: String,
    /// Trace jobs the point's cluster could not hold (left out of the run).
    pub jobs_left_out: u64,
    /// The run's summary.
    pub summary: RunSummary,
}

/// The file names in a sweep's output folder.
pub const RUNS_FILE: &str = "runs.jsonl";
/// See [`SweepManifest`].
pub const MANIFEST_FILE: &str = "sweep.json";
/// The per-point, per-VC table.
pub const TABLE_CSV: &str = "points.csv";
/// All results as one JSON document.
pub const TABLE_JSON: &str = "points.json";

/// Appends results to `DIR/runs.jsonl`, one line each, flushed at once: a sweep killed
/// mid-way keeps every run that finished.
pub struct RunsWriter {
    file: File,
    path: PathBuf,
}

impl RunsWriter {
    /// Opens (creating) `dir/runs.jsonl` for appending.
    pub fn open(dir: &Path) -> Result<RunsWriter, SweepError> {
        let path = dir.join(RUNS_FILE);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| SweepError::write(&path, e))?;
        Ok(RunsWriter { file, path })
    }

    /// Writes one result as a line and flushes it to the file.
    pub fn append(&mut self, result: &PointResult) -> Result<(), SweepError> {
        let mut line = serde_json::to_string(result).expect("plain data serialises");
        line.push('\n');
        self.file
            .write_all(line.as_bytes())
            .and_then(|()| self.file.sync_data())
            .map_err(|e| SweepError::write(&self.path, e))
    }
}

/// Reads `dir/runs.jsonl` (empty when absent). A last line cut short (the sweep was
/// killed while writing it) is dropped and the file truncated to the lines that are
/// whole; any other bad line is an error naming the line.
pub fn read_runs(dir: &Path) -> Result<Vec<PointResult>, SweepError> {
    let path = dir.join(RUNS_FILE);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SweepError::read(&path, e)),
    };
    let mut results = Vec::new();
    let mut whole_bytes = 0u64;
    let mut lines = BufReader::new(file).lines().enumerate().peekable();
    while let Some((i, line)) = lines.next() {
        let line = line.map_err(|e| SweepError::read(&path, e))?;
        match serde_json::from_str::<PointResult>(&line) {
            Ok(result) => {
                whole_bytes += line.len() as u64 + 1;
                results.push(result);
            }
            Err(_) if lines.peek().is_none() => {
                // Interrupted mid-write: forget the partial line.
                let file = OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| SweepError::write(&path, e))?;
                file.set_len(whole_bytes)
                    .map_err(|e| SweepError::write(&path, e))?;
            }
            Err(e) => {
                return Err(SweepError::Input(format!(
                    "{}:{}: not a sweep result ({e}); the folder holds something else: use another --out",
                    path.display(),
                    i + 1
                )));
            }
        }
    }
    Ok(results)
}

/// `points.csv`: per point and VC (an `(all)` row first), the waits, JCT, utilisation
/// and preemptions. Times in seconds.
pub fn table_csv(results: &[PointResult]) -> Vec<u8> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // A Kueue quota axis adds its column; other sweeps keep their table as it was.
    let kueue = results.iter().any(|r| r.point.kueue_quota.is_some());
    let mut header = vec![
        "point",
        "nodes_added",
        "vc_share",
        "load",
        "model",
        "seed",
        "total_gpus",
        "jobs_left_out",
        "vc",
        "guaranteed_gpus",
        "jobs",
        "finished",
        "unfinished",
        "wait_mean_s",
        "wait_p50_s",
        "wait_p95_s",
        "wait_p99_s",
        "jct_mean_s",
        "utilisation",
        "gpu_hours",
        "preemptions",
    ];
    if kueue {
        header.insert(3, "kueue_quota");
    }
    writer.write_record(header).expect("writing to memory");
    for result in results {
        let point = &result.point;
        let summary = &result.summary;
        let mut head = vec![
            point.index.to_string(),
            point.nodes_added.to_string(),
            point.vc_share.map_or(String::new(), |s| s.to_string()),
            point.load.to_string(),
            point.model.clone(),
            point.seed.to_string(),
            summary.total_gpus.to_string(),
            result.jobs_left_out.to_string(),
        ];
        if kueue {
            head.insert(
                3,
                point.kueue_quota.map_or(String::new(), |q| q.to_string()),
            );
        }
        let overall_capacity = summary.utilisation;
        let mut rows: Vec<(String, String, &JobMetrics, String, u64)> = vec![(
            "(all)".to_string(),
            summary.total_gpus.to_string(),
            &summary.overall,
            format!("{overall_capacity:.4}"),
            summary.gpu_ms_used,
        )];
        for (vc, metrics) in &summary.vcs {
            // A VC's utilisation is its GPU time over its guaranteed GPU time (above 1
            // when it borrows); empty for a VC with no guarantee.
            let utilisation = if metrics.gpu_ms_guaranteed == 0 {
                String::new()
            } else {
                format!(
                    "{:.4}",
                    metrics.gpu_ms_used as f64 / metrics.gpu_ms_guaranteed as f64
                )
            };
            rows.push((
                vc.clone(),
                metrics.guaranteed_gpus.to_string(),
                &metrics.jobs,
                utilisation,
                metrics.gpu_ms_used,
            ));
        }
        for (vc, guaranteed, jobs, utilisation, gpu_ms) in rows {
            let wait = |f: fn(&crate::report::Stats) -> u64| {
                jobs.wait_ms
                    .as_ref()
                    .map_or(String::new(), |w| seconds(f(w)))
            };
            let mut record = head.to_vec();
            record.extend([
                vc,
                guaranteed,
                jobs.jobs.to_string(),
                jobs.finished.to_string(),
                jobs.unfinished.to_string(),
                wait(|w| w.mean),
                wait(|w| w.p50),
                wait(|w| w.p95),
                wait(|w| w.p99),
                jobs.mean_jct_ms.map_or(String::new(), seconds),
                utilisation,
                format!("{:.3}", gpu_ms as f64 / 3_600_000.0),
                jobs.preemptions.to_string(),
            ]);
            writer.write_record(&record).expect("writing to memory");
        }
    }
    writer.into_inner().expect("writing to memory")
}

/// `points.json`: the manifest's name and base and every result, pretty-printed.
pub fn table_json(manifest: &SweepManifest, results: &[PointResult]) -> Vec<u8> {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Table<'a> {
        results_version: u32,
        name: &'a str,
        base: &'a str,
        points: &'a [PointResult],
    }
    let mut bytes = serde_json::to_vec_pretty(&Table {
        results_version: RESULTS_VERSION,
        name: &manifest.name,
        base: &manifest.base,
        points: results,
    })
    .expect("plain data serialises");
    bytes.push(b'\n');
    bytes
}

/// Milliseconds as seconds with three decimals.
fn seconds(ms: u64) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}
