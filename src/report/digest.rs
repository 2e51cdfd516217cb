//! What the plots and the HTML page show of one run ([`RunDigest`]): the run's identity,
//! per-VC job counts and waits, the earliest group runs for the Gantt chart and the
//! busy-GPU steps for the utilisation plot. Bounded apart from one wait per started job,
//! so it can be kept for every model of a long trace; made from a finished
//! [`RunResult`] ([`RunDigest::of`]) or as a run goes (`report::stream`).

use std::collections::{BTreeMap, BTreeSet};

use super::busy::{Step, plot_steps};
use super::group_runs::{GroupRun, earliest_group_runs};
use super::plots::{MAX_GANTT_RUNS, VcColumns, timeline_vc_names};
use super::summary::{JobTallies, UtilWindow};
use crate::sim::{RunResult, SimTimeMs};

/// One model's run, as the plots and the report page show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDigest {
    /// Scheduler model.
    pub model: String,
    /// Seed of the run.
    pub seed: u64,
    /// End of the run.
    pub end_ms: SimTimeMs,
    /// GPUs in the cluster.
    pub total_gpus: u32,
    /// Nodes with their GPU counts, in topology order (the Gantt lanes).
    pub nodes: Vec<(String, u32)>,
    /// Jobs in the run.
    pub jobs: usize,
    /// Every VC of the run (guarantees, jobs, timeline), sorted: the order that assigns
    /// their colours.
    pub vc_names: Vec<String>,
    /// Per VC with a guarantee or a job: what the page's table shows.
    pub vcs: BTreeMap<String, VcDigest>,
    /// The earliest [`MAX_GANTT_RUNS`] group runs by start time.
    pub gantt_runs: Vec<GroupRun>,
    /// Group runs in the whole run.
    pub group_runs_total: usize,
    /// Busy GPUs per VC over time in [`RunDigest::vc_names`] order, then the GPUs of the
    /// nodes present (the capacity, which follows node events), averaged over time
    /// buckets when there are too many steps to draw.
    pub busy_steps: Vec<Step>,
    /// Time up to which the busy steps hold: the end, or the last timeline point if later.
    pub busy_until_ms: SimTimeMs,
    /// Utilisation from the first submit to the last end, and over the arrival window
    /// (as in the run's summary).
    pub windows: (UtilWindow, UtilWindow),
}

/// One VC's row of the page's table and its wait-time CDF.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VcDigest {
    /// GPUs guaranteed, `None` for a VC the cluster does not guarantee anything.
    pub guaranteed_gpus: Option<u32>,
    /// Its jobs.
    pub jobs: u64,
    /// Waits of its jobs that started, sorted.
    pub waits_ms: Vec<u64>,
    /// Times a group of its jobs was preempted.
    pub preemptions: u64,
    /// Queueing delays (first wait plus re-queue periods) of the jobs that started, sorted.
    pub queue_delays_ms: Vec<u64>,
    /// Waiting time by reason.
    pub wait_by_reason_ms: super::summary::WaitByReason,
}

impl RunDigest {
    /// The digest of a finished run.
    pub fn of(run: &RunResult) -> RunDigest {
        let mut tallies = JobTallies::default();
        for job in &run.jobs {
            tallies.add(job);
        }
        RunDigest::of_tallied(run, &tallies)
    }

    /// [`RunDigest::of`] with the run's jobs already tallied.
    pub fn of_tallied(run: &RunResult, tallies: &JobTallies) -> RunDigest {
        let timeline_vcs = timeline_vc_names(run);
        let mut digest = RunDigest::new(
            run,
            tallies,
            timeline_vcs,
            earliest_group_runs(run, MAX_GANTT_RUNS),
        );
        let gpu_time = crate::sim::GpuTimeTotals::of_timeline(
            &run.timeline,
            run.end_ms,
            &run.vcs,
            crate::sim::arrivals_end(&run.jobs, run.end_ms),
        );
        digest.windows = tallies.windows(run, &gpu_time);
        let mut columns = VcColumns::new(&digest.vc_names);
        let points = run.timeline.iter().map(|p| {
            let mut busy = Vec::new();
            columns.read(&p.busy_by_vc, &mut busy);
            busy.push(p.capacity_gpus);
            (p.t, busy)
        });
        digest.busy_steps = plot_steps(points, digest.vc_names.len() + 1, run.end_ms);
        digest.busy_until_ms = run.end_ms.max(run.timeline.last().map_or(0, |p| p.t));
        digest
    }

    /// The digest of the run whose header is `header` (its jobs, events and timeline are
    /// not read), whose jobs are `tallies`, whose timeline names `timeline_vcs` and whose
    /// earliest group runs are `gantt`; the busy steps are left empty, to be filled.
    pub fn new<'v>(
        header: &RunResult,
        tallies: &JobTallies,
        timeline_vcs: impl IntoIterator<Item = &'v str>,
        gantt: (Vec<GroupRun>, usize),
    ) -> RunDigest {
        let mut vcs: BTreeMap<String, VcDigest> = header
            .vcs
            .iter()
            .map(|(vc, capacity)| {
                let row = VcDigest {
                    guaranteed_gpus: Some(capacity.guaranteed_gpus),
                    ..VcDigest::default()
                };
                (vc.clone(), row)
            })
            .collect();
        let mut jobs = 0;
        for (vc, metrics, waits, delays) in tallies.by_vc() {
            let row = vcs.entry(vc.to_string()).or_default();
            row.jobs = u64::from(metrics.jobs);
            row.preemptions = u64::from(metrics.preemptions);
            row.waits_ms = waits.to_vec();
            row.waits_ms.sort_unstable();
            row.queue_delays_ms = delays.to_vec();
            row.queue_delays_ms.sort_unstable();
            row.wait_by_reason_ms = metrics.wait_by_reason_ms;
            jobs += metrics.jobs as usize;
        }
        let mut names: BTreeSet<String> = vcs.keys().cloned().collect();
        names.extend(timeline_vcs.into_iter().map(str::to_string));
        let vc_names = names.into_iter().collect();
        let (gantt_runs, group_runs_total) = gantt;
        RunDigest {
            model: header.model.clone(),
            seed: header.seed,
            end_ms: header.end_ms,
            total_gpus: header.total_gpus,
            nodes: header.nodes.clone(),
            jobs,
            vc_names,
            vcs,
            gantt_runs,
            group_runs_total,
            busy_steps: Vec::new(),
            busy_until_ms: header.end_ms,
            windows: Default::default(),
        }
    }
}
