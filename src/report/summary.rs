//! The metrics of one run: [`RunSummary`], a versioned, serialisable digest of a
//! [`RunResult`] (per-VC wait and JCT statistics, GPU time used, guaranteed and borrowed,
//! preemptions, overall utilisation). `summary.json` is this type; `vcs.csv` and the
//! stdout table are views of it. Times are integer milliseconds, GPU time GPU-ms.
//!
//! Version 2 (issue 15) adds the queueing delay as the literature measures it (submit to
//! first start plus every re-queue period), its decomposition by the typed wait reasons,
//! and queueing delay by job size; version-1 files still read (the new fields default
//! to empty).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::sim::sink::RunSink;
use crate::sim::{
    GpuTimeTotals, JobOutcome, JobRecord, RunResult, SimEvent, SimJob, SimTimeMs, TimelinePoint,
    VcCapacity,
};

/// Version of the [`RunSummary`] JSON shape; bump it on any incompatible change.
/// Version 3 (issue 16): `utilisation` is measured over `busyWindow` (first submit to
/// last end), no longer from time 0 to the end; `arrivalWindow` is new.
pub const SCHEMA_VERSION: u32 = 3;

/// The versions [`crate::report::compare`] reads: this one, version 2 and version 1
/// (which lacks the queueing-delay fields). Versions 1 and 2 measured `utilisation`
/// from time 0.
pub const READABLE_SCHEMA_VERSIONS: [u32; 3] = [1, 2, SCHEMA_VERSION];

/// The job-size buckets of the Philly analysis (ATC'19), by GPUs asked for: upper bounds
/// (inclusive) and names.
pub const SIZE_BUCKETS: [(u32, &str); 4] = [(1, "1"), (4, "2-4"), (8, "5-8"), (u32::MAX, ">8")];

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
    /// Busy GPU time over the GPU time of the nodes present within
    /// [`RunSummary::busy_window`] (first submit to last end), 0 to 1; 0 when the window
    /// is empty. (Before version 3: from time 0 to the end.)
    pub utilisation: f64,
    /// The window of `utilisation`: from the first submit to the last job's end (the
    /// end of the run when a job had not ended).
    #[serde(default)]
    pub busy_window: UtilWindow,
    /// Utilisation while jobs still arrive: from the first submit to the last.
    #[serde(default)]
    pub arrival_window: UtilWindow,
    /// Busy GPU-milliseconds over the run (including work later lost to preemption).
    pub gpu_ms_used: u64,
    /// Metrics over all jobs.
    pub overall: JobMetrics,
    /// Metrics per VC (the job's VC).
    pub vcs: BTreeMap<String, VcMetrics>,
    /// Queueing delay by job size ([`SIZE_BUCKETS`], in that order). Empty in version 1.
    #[serde(default)]
    pub by_size: Vec<SizeMetrics>,
}

/// Utilisation over a stated stretch of simulated time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct UtilWindow {
    /// Start of the window.
    pub from_ms: SimTimeMs,
    /// End of the window.
    pub to_ms: SimTimeMs,
    /// Busy GPU time over the GPU time of the nodes present in the window, 0 to 1;
    /// `None` for an empty window (no job, or all submitted at once) or no GPUs.
    pub utilisation: Option<f64>,
}

// The share is a ratio of integers with a positive denominator: never NaN, so equality
// is an equivalence (the page digest that holds windows compares as `Eq`).
impl Eq for UtilWindow {}

impl UtilWindow {
    fn of(from_ms: SimTimeMs, to_ms: SimTimeMs, used: u64, capacity: u64) -> UtilWindow {
        UtilWindow {
            from_ms,
            to_ms,
            utilisation: (to_ms > from_ms && capacity > 0).then(|| used as f64 / capacity as f64),
        }
    }

    /// `43.1% (from 22d 00:00:00 to 99d 03:00:00)`, or a dash and the window.
    pub fn text(&self) -> String {
        let share = self
            .utilisation
            .map_or("-".to_string(), |u| format!("{:.1}%", u * 100.0));
        format!(
            "{share} (from {} to {})",
            crate::time::human_duration(self.from_ms),
            crate::time::human_duration(self.to_ms)
        )
    }
}

/// Queueing delay of the jobs of one size bucket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SizeMetrics {
    /// The bucket (`1`, `2-4`, `5-8`, `>8` GPUs).
    pub gpus: String,
    /// Jobs of this size.
    pub jobs: u32,
    /// Queueing delay of those that started.
    pub queue_delay_ms: Option<Stats>,
}

/// Waiting time by the kind of reason waited for (sums over jobs, ms): the delay
/// decomposition. A group's wait counts under the kind of its latest reason; before its
/// first offer (behind others in the queue) it counts as `queue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WaitByReason {
    /// The VC's share is used up (guaranteed cells, maximum capacity): fair-share delay.
    pub quota: u64,
    /// Not enough free GPUs where the group may run.
    pub capacity: u64,
    /// Enough free GPUs but not in the shape a one-pod group needs.
    pub shape: u64,
    /// Enough free GPUs but not where a gang's pods fit at once.
    pub gang: u64,
    /// Would fit if bad or absent nodes were healthy.
    pub bad_node: u64,
    /// Preempted groups still leaving.
    pub preempting: u64,
    /// Behind another group's reservation (EASY).
    pub reservation: u64,
    /// Behind other groups in the queue, not yet offered.
    pub queue: u64,
}

impl WaitByReason {
    fn add(&mut self, by_kind: &[u64; crate::sched::WaitKind::ALL.len()]) {
        use crate::sched::WaitKind as K;
        for kind in K::ALL {
            let ms = by_kind[kind.index()];
            *match kind {
                K::Quota => &mut self.quota,
                K::Capacity => &mut self.capacity,
                K::Shape => &mut self.shape,
                K::Gang => &mut self.gang,
                K::BadNode => &mut self.bad_node,
                K::Preempting => &mut self.preempting,
                K::Reservation => &mut self.reservation,
                K::Queue => &mut self.queue,
            } += ms;
        }
    }

    fn absorb(&mut self, other: &WaitByReason) {
        let fields = [
            (&mut self.quota, other.quota),
            (&mut self.capacity, other.capacity),
            (&mut self.shape, other.shape),
            (&mut self.gang, other.gang),
            (&mut self.bad_node, other.bad_node),
            (&mut self.preempting, other.preempting),
            (&mut self.reservation, other.reservation),
            (&mut self.queue, other.queue),
        ];
        for (mine, theirs) in fields {
            *mine += theirs;
        }
    }

    /// (name, ms) per reason, in [`crate::sched::WaitKind::ALL`] order.
    pub fn entries(&self) -> [(&'static str, u64); 8] {
        [
            ("quota", self.quota),
            ("capacity", self.capacity),
            ("shape", self.shape),
            ("gang", self.gang),
            ("bad_node", self.bad_node),
            ("preempting", self.preempting),
            ("reservation", self.reservation),
            ("queue", self.queue),
        ]
    }
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
    /// Queueing delay (submit to first start plus every re-queue period) of jobs that
    /// started. Absent in version 1.
    #[serde(default)]
    pub queue_delay_ms: Option<Stats>,
    /// Waiting time by reason (see [`WaitByReason`]). Zero in version 1.
    #[serde(default)]
    pub wait_by_reason_ms: WaitByReason,
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
        let sum: u128 = sorted.iter().map(|&v| u128::from(v)).sum();
        Some(Stats {
            mean: rounded_mean(sum, sorted.len() as u64)?,
            p50: percentile(&sorted, 50),
            p95: percentile(&sorted, 95),
            p99: percentile(&sorted, 99),
        })
    }
}

/// `sum / count` rounded to the nearest integer (halves up), as [`Stats::of`] rounds its
/// mean; `None` for no values.
fn rounded_mean(sum: u128, count: u64) -> Option<u64> {
    let n = u128::from(count);
    (n > 0).then(|| ((sum + n / 2) / n) as u64)
}

/// Nearest-rank percentile of sorted, non-empty `values`.
pub fn percentile(sorted: &[u64], pct: u32) -> u64 {
    let n = sorted.len();
    let rank = (pct as usize * n).div_ceil(100).max(1);
    sorted[rank.min(n) - 1]
}

/// Counts and times over jobs, fed one at a time.
#[derive(Default)]
struct JobTally {
    metrics: JobMetrics,
    waits: Vec<u64>,
    queue_delays: Vec<u64>,
    /// JCTs of finished jobs: only their mean is reported, so a sum and a count.
    jct_sum_ms: u128,
    jct_count: u64,
}

impl JobTally {
    fn add(&mut self, job: &JobRecord) {
        let m = &mut self.metrics;
        m.jobs += 1;
        match job.outcome {
            JobOutcome::Finished => {
                m.finished += 1;
                if let Some(jct) = job.jct_ms() {
                    self.jct_sum_ms += u128::from(jct);
                    self.jct_count += 1;
                }
            }
            JobOutcome::Killed => m.killed += 1,
            JobOutcome::Rejected => m.rejected += 1,
            JobOutcome::Unfinished => m.unfinished += 1,
        }
        self.waits.extend(job.wait_ms());
        self.queue_delays.extend(job.queue_delay_ms());
        m.preemptions += job.preemptions;
        m.wait_by_reason_ms.add(&job.wait_by_kind_ms);
    }

    /// Adds another tally's jobs to this one.
    fn absorb(&mut self, other: &JobTally) {
        let (m, o) = (&mut self.metrics, &other.metrics);
        m.jobs += o.jobs;
        m.finished += o.finished;
        m.killed += o.killed;
        m.rejected += o.rejected;
        m.unfinished += o.unfinished;
        m.preemptions += o.preemptions;
        m.wait_by_reason_ms.absorb(&o.wait_by_reason_ms);
        self.waits.extend_from_slice(&other.waits);
        self.queue_delays.extend_from_slice(&other.queue_delays);
        self.jct_sum_ms += other.jct_sum_ms;
        self.jct_count += other.jct_count;
    }

    fn metrics(&self) -> JobMetrics {
        JobMetrics {
            wait_ms: Stats::of(&self.waits),
            queue_delay_ms: Stats::of(&self.queue_delays),
            mean_jct_ms: rounded_mean(self.jct_sum_ms, self.jct_count),
            ..self.metrics.clone()
        }
    }
}

/// The per-VC job tallies of a run, fed one job record at a time in any order: what a
/// summary needs of the jobs (counts, and a wait and a JCT per job for the exact
/// percentiles), without the records.
#[derive(Default)]
pub struct JobTallies {
    by_vc: BTreeMap<String, JobTally>,
    /// Earliest submit.
    first_submit_ms: Option<SimTimeMs>,
    /// Latest end of a job that ended.
    last_end_ms: Option<SimTimeMs>,
    /// Whether a job had not ended by the end of the run.
    open: bool,
    /// Per size bucket: jobs, and queueing delays of those that started.
    by_size: [(u32, Vec<u64>); SIZE_BUCKETS.len()],
}

impl JobTallies {
    /// Counts `job` in its VC.
    pub fn add(&mut self, job: &JobRecord) {
        let bucket = SIZE_BUCKETS
            .iter()
            .position(|&(max, _)| job.gpus <= max)
            .unwrap_or(SIZE_BUCKETS.len() - 1);
        self.by_size[bucket].0 += 1;
        self.by_size[bucket].1.extend(job.queue_delay_ms());
        self.first_submit_ms = Some(
            self.first_submit_ms
                .map_or(job.submit_ms, |t| t.min(job.submit_ms)),
        );
        match job.end_ms {
            Some(end) => self.last_end_ms = Some(self.last_end_ms.map_or(end, |t| t.max(end))),
            None => self.open = true,
        }
        // Looked up first: a name is cloned once per VC, not once per job.
        if let Some(tally) = self.by_vc.get_mut(&job.vc) {
            tally.add(job);
        } else {
            self.by_vc.entry(job.vc.clone()).or_default().add(job);
        }
    }

    /// Per VC with jobs, in name order: its job counts, preemptions and waiting time by
    /// reason (no statistics yet), the waits of its jobs that started and their queueing
    /// delays, in the order the jobs came.
    pub fn by_vc(&self) -> impl Iterator<Item = (&str, &JobMetrics, &[u64], &[u64])> {
        self.by_vc.iter().map(|(vc, tally)| {
            (
                vc.as_str(),
                &tally.metrics,
                tally.waits.as_slice(),
                tally.queue_delays.as_slice(),
            )
        })
    }

    /// The utilisation windows of the run whose header is `result` and whose timeline
    /// is summed up in `gpu_time`: first submit to last end, and first to last submit.
    pub fn windows(
        &self,
        result: &RunResult,
        gpu_time: &GpuTimeTotals,
    ) -> (UtilWindow, UtilWindow) {
        let gpu_ms_used = gpu_time.used_gpu_ms();
        let end = result.end_ms;
        // No job runs before the first submit, none after the last end: the busy window
        // holds all the GPU time used.
        let first = self.first_submit_ms.unwrap_or(0).min(end);
        // A run without job records (hand-made timelines) is measured over all of it.
        let last_end = match self.last_end_ms {
            Some(last) if !self.open => last.clamp(first, end),
            _ => end,
        };
        let busy_window = UtilWindow::of(
            first,
            last_end,
            gpu_ms_used,
            gpu_time.capacity_gpu_ms_between(first, last_end),
        );
        let arrivals_end = gpu_time.arrivals_end_ms().unwrap_or(end).clamp(first, end);
        let arrival_window = UtilWindow::of(
            first,
            arrivals_end,
            gpu_time.used_before_arrivals_end(),
            gpu_time.capacity_gpu_ms_between(first, arrivals_end),
        );
        (busy_window, arrival_window)
    }

    /// The summary of the run whose header (identity, end, VCs) is `result` (its jobs
    /// are not read) and whose timeline is summed up in `gpu_time`.
    pub fn summary(&self, result: &RunResult, gpu_time: &GpuTimeTotals) -> RunSummary {
        let empty = JobTally::default();
        let mut overall = JobTally::default();
        let mut vc_names: Vec<&str> = result.vcs.keys().map(String::as_str).collect();
        vc_names.extend(self.by_vc.keys().map(String::as_str));
        vc_names.sort_unstable();
        vc_names.dedup();
        let vcs = vc_names
            .into_iter()
            .map(|vc| {
                let tally = self.by_vc.get(vc).unwrap_or(&empty);
                overall.absorb(tally);
                let guaranteed_gpus = result.vcs.get(vc).map_or(0, |c| c.guaranteed_gpus);
                let (used, borrowed) = gpu_time.vc(vc);
                let metrics = VcMetrics {
                    guaranteed_gpus,
                    jobs: tally.metrics(),
                    gpu_ms_used: used,
                    gpu_ms_guaranteed: u64::from(guaranteed_gpus) * result.end_ms,
                    gpu_ms_borrowed: borrowed,
                };
                (vc.to_string(), metrics)
            })
            .collect();
        let gpu_ms_used = gpu_time.used_gpu_ms();
        let (busy_window, arrival_window) = self.windows(result, gpu_time);
        RunSummary {
            schema_version: SCHEMA_VERSION,
            scenario: result.scenario.clone(),
            model: result.model.clone(),
            seed: result.seed,
            end_ms: result.end_ms,
            total_gpus: result.total_gpus,
            utilisation: busy_window.utilisation.unwrap_or(0.0),
            busy_window,
            arrival_window,
            gpu_ms_used,
            overall: overall.metrics(),
            vcs,
            by_size: SIZE_BUCKETS
                .iter()
                .zip(&self.by_size)
                .map(|((_, name), (jobs, delays))| SizeMetrics {
                    gpus: name.to_string(),
                    jobs: *jobs,
                    queue_delay_ms: Stats::of(delays),
                })
                .collect(),
        }
    }
}

/// Digest one run.
pub fn summarize(result: &RunResult) -> RunSummary {
    let gpu_time = GpuTimeTotals::of_timeline(
        &result.timeline,
        result.end_ms,
        &result.vcs,
        crate::sim::arrivals_end(&result.jobs, result.end_ms),
    );
    summarize_with_gpu_time(result, &gpu_time)
}

/// Digest one run whose timeline is summed up in `gpu_time` (`result.timeline` is not
/// read): what [`summarize`] gives when `gpu_time` is its timeline's totals.
pub fn summarize_with_gpu_time(result: &RunResult, gpu_time: &GpuTimeTotals) -> RunSummary {
    let mut tallies = JobTallies::default();
    for job in &result.jobs {
        tallies.add(job);
    }
    tallies.summary(result, gpu_time)
}

/// A [`RunSink`] that keeps only what the summary needs: the job tallies and the
/// timeline's integral. No record, event or point is kept, so memory grows by one
/// number per job that started (its wait, for exact percentiles).
#[derive(Default)]
pub struct SummarySink {
    tallies: JobTallies,
    gpu_time: GpuTimeTotals,
}

impl SummarySink {
    /// The summary of the run whose header is `header`.
    pub fn summary(&self, header: &RunResult) -> RunSummary {
        self.tallies.summary(header, &self.gpu_time)
    }

    /// The per-VC job tallies so far.
    pub fn tallies(&self) -> &JobTallies {
        &self.tallies
    }

    /// Adds a timeline point held until `until_ms` (what [`RunSink::timeline`] does).
    pub fn add_point(
        &mut self,
        point: &TimelinePoint,
        until_ms: SimTimeMs,
        vcs: &BTreeMap<String, VcCapacity>,
    ) {
        self.gpu_time
            .add(point, until_ms.saturating_sub(point.t), vcs);
    }

    /// The last job was submitted at `t` (what [`RunSink::arrivals_ended`] does).
    pub fn end_arrivals(&mut self, t: SimTimeMs) {
        self.gpu_time.end_arrivals(t);
    }

    /// Counts a job's record (what [`RunSink::job`] does).
    pub fn add_job(&mut self, record: &JobRecord) {
        self.tallies.add(record);
    }
}

impl RunSink for SummarySink {
    fn logs(&self) -> bool {
        false
    }

    /// Never called: the summary keeps no event log ([`RunSink::logs`] is false).
    fn submitted(&mut self, _: &SimJob) {}

    /// The job's record counts it as rejected.
    fn rejected(&mut self, _: &str, _: &str) {}

    fn event(&mut self, _: SimEvent) {}

    fn timeline(
        &mut self,
        point: TimelinePoint,
        until_ms: SimTimeMs,
        vcs: &BTreeMap<String, VcCapacity>,
    ) {
        self.add_point(&point, until_ms, vcs);
    }

    fn job(&mut self, _: usize, record: JobRecord) {
        self.add_job(&record);
    }

    fn arrivals_ended(&mut self, last_submit_ms: SimTimeMs) {
        self.end_arrivals(last_submit_ms);
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
    use crate::sim::Scenario;
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
                    busy_by_vc: BTreeMap::from([("a".to_string(), 3)]).into(),
                    capacity_gpus: 4,
                },
                TimelinePoint {
                    t: 50,
                    busy_by_vc: BTreeMap::from([("a".to_string(), 1)]).into(),
                    capacity_gpus: 4,
                },
            ],
        };
        let s = summarize(&result);
        assert_eq!(s.vcs["a"].gpu_ms_used, 3 * 50 + 50);
        assert_eq!(s.vcs["a"].gpu_ms_borrowed, 2 * 50);
        assert_eq!(s.vcs["a"].gpu_ms_guaranteed, 100);
        assert!((s.utilisation - 200.0 / 400.0).abs() < 1e-12);
        assert!(summary_json(&s).contains("\"schemaVersion\": 3"));
    }

    /// `crate::run::summary` must give exactly what summarising a full run gives.
    fn assert_lean_summary_matches(scenario: &Scenario) {
        for model in crate::sched::MODEL_NAMES {
            let full = summarize(&crate::sim::run_model(scenario, model).unwrap());
            let lean = crate::run::summary(scenario, model).unwrap();
            assert_eq!(lean, full, "{} under {model}", scenario.name);
            // Also as text: the f64 utilisation must be the same bits, not just close.
            assert_eq!(summary_json(&lean), summary_json(&full));
        }
    }

    #[test]
    fn lean_summary_equals_the_full_one_on_the_default_scenario() {
        assert_lean_summary_matches(&crate::sim::scenario::default_scenario().unwrap());
    }

    #[test]
    fn lean_summary_equals_the_full_one_on_the_sharing_demo() {
        assert_lean_summary_matches(&crate::run::sharing::demo_scenario().unwrap());
    }

    #[test]
    fn lean_summary_equals_the_full_one_on_a_small_replay() {
        use crate::workload::{Arrival, GenSpec, generate, write_native_csv};
        // 600 Philly-like jobs offering 150% of a 48-GPU cluster: queues, borrowing and
        // the trace's VCs sized by GPU-time, as in a real replay.
        let spec = GenSpec {
            jobs: Some(600),
            seed: 3,
            arrival: Arrival::load(1.5, 48),
            max_gpus: Some(8),
            ..GenSpec::philly()
        };
        let trace =
            std::env::temp_dir().join(format!("cellsim-lean-summary-{}.csv", std::process::id()));
        let file = std::fs::File::create(&trace).unwrap();
        write_native_csv(generate(&spec).unwrap(), std::io::BufWriter::new(file)).unwrap();
        let options = crate::replay::ReplayOptions {
            cluster: "4x V100x8 rack=2; 4x K80x4 rack=2".to_string(),
            trace: trace.clone(),
            ..crate::replay::ReplayOptions::default()
        };
        let replay = crate::replay::prepare(&options);
        let _ = std::fs::remove_file(&trace);
        let replay = replay.unwrap();
        assert!(replay.scenario.jobs.len() > 500);
        assert_lean_summary_matches(&replay.scenario);
    }

    #[test]
    fn an_unknown_model_is_an_error_not_a_panic() {
        let scenario = crate::sim::scenario::default_scenario().unwrap();
        assert!(crate::run::summary(&scenario, "no-such-model").is_err());
    }
}
