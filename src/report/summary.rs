//! The metrics of one run: [`RunSummary`], a versioned, serialisable digest of a
//! [`RunResult`] (per-VC wait and JCT statistics, GPU time used, guaranteed and borrowed,
//! preemptions, overall utilisation). `summary.json` is this type; `vcs.csv` and the
//! stdout table are views of it. Times are integer milliseconds, GPU time GPU-ms.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sim::{JobOutcome, JobRecord, RunResult, SimTimeMs};

/// Version of the [`RunSummary`] JSON shape; bump it on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// One model's run over one scenario, digested.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Always [`SCHEMA_VERSION`] when written by this version.
    pub schema_version: u32,
    /// Scenario name.
    pub scenario: String,
    /// Scheduler model.
    pub model: String,
    /// Seed of the run's RNG.
    pub seed: u64,
    /// End of the run (last event or horizon).
    pub end_ms: SimTimeMs,
    /// GPUs in the cluster.
    pub total_gpus: u32,
    /// Busy GPU time over the GPU time of the nodes present (`total_gpus * end_ms` when
    /// no node is added or removed), 0 to 1.
    pub utilisation: f64,
    /// Busy GPU-milliseconds over the run (including work later lost to preemption).
    pub gpu_ms_used: u64,
    /// Metrics over all jobs.
    pub overall: JobMetrics,
    /// Metrics per VC (the job's VC).
    pub vcs: BTreeMap<String, VcMetrics>,
}

/// Job counts and times over a set of jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct JobMetrics {
    /// Jobs submitted in the scenario.
    pub jobs: u32,
    /// Jobs that ran to completion.
    pub finished: u32,
    /// Jobs killed by their user.
    pub killed: u32,
    /// Jobs the model rejected.
    pub rejected: u32,
    /// Jobs still waiting or running at the end.
    pub unfinished: u32,
    /// Wait (submit to first start) of jobs that started; `None` when none did.
    pub wait_ms: Option<Stats>,
    /// Mean job completion time (submit to finish) of finished jobs.
    pub mean_jct_ms: Option<u64>,
    /// Times groups of these jobs were preempted.
    pub preemptions: u32,
}

/// Mean and nearest-rank percentiles of a set of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stats {
    /// Mean, rounded to the millisecond.
    pub mean: u64,
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
}

/// One VC's metrics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VcMetrics {
    /// GPUs the VC is guaranteed in the cluster config (0 for a VC the config lacks).
    pub guaranteed_gpus: u32,
    /// Counts, waits, JCT and preemptions of the VC's jobs.
    #[serde(flatten)]
    pub jobs: JobMetrics,
    /// GPU time the VC's jobs held.
    pub gpu_ms_used: u64,
    /// GPU time the VC was guaranteed over the run (`guaranteed_gpus * end_ms`).
    pub gpu_ms_guaranteed: u64,
    /// GPU time used beyond the guarantee (borrowed or opportunistic), summed over time.
    pub gpu_ms_borrowed: u64,
}

impl Stats {
    /// Statistics of `values`, `None` when empty.
    pub fn of(values: &[u64]) -> Option<Stats> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_unstable();
        let n = sorted.len() as u128;
        let sum: u128 = sorted.iter().map(|&v| u128::from(v)).sum();
        Some(Stats {
            mean: ((sum + n / 2) / n) as u64,
            p50: percentile(&sorted, 50),
            p95: percentile(&sorted, 95),
            p99: percentile(&sorted, 99),
        })
    }
}

/// Nearest-rank percentile of sorted, non-empty `values`.
pub fn percentile(sorted: &[u64], pct: u32) -> u64 {
    let n = sorted.len();
    let rank = (pct as usize * n).div_ceil(100).max(1);
    sorted[rank.min(n) - 1]
}

fn job_metrics<'a>(jobs: impl Iterator<Item = &'a JobRecord>) -> JobMetrics {
    let mut m = JobMetrics::default();
    let mut waits = Vec::new();
    let mut jcts = Vec::new();
    for job in jobs {
        m.jobs += 1;
        match job.outcome {
            JobOutcome::Finished => {
                m.finished += 1;
                jcts.extend(job.jct_ms());
            }
            JobOutcome::Killed => m.killed += 1,
            JobOutcome::Rejected => m.rejected += 1,
            JobOutcome::Unfinished => m.unfinished += 1,
        }
        waits.extend(job.wait_ms());
        m.preemptions += job.preemptions;
    }
    m.wait_ms = Stats::of(&waits);
    m.mean_jct_ms = Stats::of(&jcts).map(|s| s.mean);
    m
}

/// GPU time of the nodes present in the cluster, integrated over the timeline (nodes
/// added or removed during the run count only while they are in).
fn capacity_gpu_ms(result: &RunResult) -> u64 {
    result
        .timeline
        .iter()
        .enumerate()
        .map(|(i, point)| {
            let until = result
                .timeline
                .get(i + 1)
                .map_or(result.end_ms, |next| next.t)
                .min(result.end_ms);
            u64::from(point.capacity_gpus) * until.saturating_sub(point.t)
        })
        .sum()
}

/// GPU-ms used and used beyond the guarantee per VC, integrated over the timeline.
fn gpu_time(result: &RunResult) -> BTreeMap<String, (u64, u64)> {
    let mut out: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (i, point) in result.timeline.iter().enumerate() {
        let until = result
            .timeline
            .get(i + 1)
            .map_or(result.end_ms, |next| next.t)
            .min(result.end_ms);
        let dt = until.saturating_sub(point.t);
        for (vc, &busy) in &point.busy_by_vc {
            let guaranteed = result.vcs.get(vc).map_or(0, |c| c.guaranteed_gpus);
            let entry = out.entry(vc.clone()).or_default();
            entry.0 += u64::from(busy) * dt;
            entry.1 += u64::from(busy.saturating_sub(guaranteed)) * dt;
        }
    }
    out
}

/// Digest one run.
pub fn summarize(result: &RunResult) -> RunSummary {
    let time = gpu_time(result);
    let mut vc_names: Vec<&String> = result.vcs.keys().collect();
    for job in &result.jobs {
        if !result.vcs.contains_key(&job.vc) {
            vc_names.push(&job.vc);
        }
    }
    vc_names.sort();
    vc_names.dedup();
    let vcs = vc_names
        .into_iter()
        .map(|vc| {
            let guaranteed_gpus = result.vcs.get(vc).map_or(0, |c| c.guaranteed_gpus);
            let (used, borrowed) = time.get(vc).copied().unwrap_or_default();
            let metrics = VcMetrics {
                guaranteed_gpus,
                jobs: job_metrics(result.jobs.iter().filter(|j| &j.vc == vc)),
                gpu_ms_used: used,
                gpu_ms_guaranteed: u64::from(guaranteed_gpus) * result.end_ms,
                gpu_ms_borrowed: borrowed,
            };
            (vc.clone(), metrics)
        })
        .collect();
    let gpu_ms_used: u64 = time.values().map(|(used, _)| used).sum();
    let capacity = capacity_gpu_ms(result);
    RunSummary {
        schema_version: SCHEMA_VERSION,
        scenario: result.scenario.clone(),
        model: result.model.clone(),
        seed: result.seed,
        end_ms: result.end_ms,
        total_gpus: result.total_gpus,
        utilisation: if capacity == 0 {
            0.0
        } else {
            gpu_ms_used as f64 / capacity as f64
        },
        gpu_ms_used,
        overall: job_metrics(result.jobs.iter()),
        vcs,
    }
}

/// `summary.json`: the summary as pretty JSON with a trailing newline.
pub fn summary_json(summary: &RunSummary) -> String {
    let mut text = serde_json::to_string_pretty(summary).expect("plain data serialises");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{TimelinePoint, VcCapacity};

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50), 50);
        assert_eq!(percentile(&v, 95), 95);
        assert_eq!(percentile(&v, 99), 99);
        assert_eq!(percentile(&[7], 99), 7);
        let s = Stats::of(&[10, 20, 40]).unwrap();
        assert_eq!((s.mean, s.p50, s.p95), (23, 20, 40));
        assert_eq!(Stats::of(&[]), None);
    }

    #[test]
    fn borrowed_time_is_use_beyond_the_guarantee() {
        let result = RunResult {
            scenario: "s".into(),
            model: "m".into(),
            seed: 0,
            end_ms: 100,
            total_gpus: 4,
            vcs: BTreeMap::from([("a".to_string(), VcCapacity { guaranteed_gpus: 1 })]),
            nodes: vec![],
            jobs: vec![],
            events: vec![],
            timeline: vec![
                TimelinePoint {
                    t: 0,
                    busy_by_vc: BTreeMap::from([("a".to_string(), 3)]),
                    capacity_gpus: 4,
                },
                TimelinePoint {
                    t: 50,
                    busy_by_vc: BTreeMap::from([("a".to_string(), 1)]),
                    capacity_gpus: 4,
                },
            ],
        };
        let s = summarize(&result);
        assert_eq!(s.vcs["a"].gpu_ms_used, 3 * 50 + 50);
        assert_eq!(s.vcs["a"].gpu_ms_borrowed, 2 * 50);
        assert_eq!(s.vcs["a"].gpu_ms_guaranteed, 100);
        assert!((s.utilisation - 200.0 / 400.0).abs() < 1e-12);
        assert!(summary_json(&s).contains("\"schemaVersion\": 1"));
    }
}
