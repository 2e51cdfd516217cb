//! What a simulation run produces: the per-job records, the event log and the busy-GPU
//! timeline of one model on one scenario. The engine fills a [`RunResult`]; `report/`
//! turns it into tables, plots and HTML. Plain data, no behaviour.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde::ser::SerializeMap;

/// Simulation time in milliseconds since the scenario start.
pub type SimTimeMs = u64;

/// How a job's life ended (or did not, by the horizon).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum JobOutcome {
    /// Ran to completion.
    Finished,
    /// Killed by the user at its kill time.
    Killed,
    /// Rejected by the model (a request that can never run).
    Rejected,
    /// Still waiting or running at the horizon.
    Unfinished,
}

/// One job's life, as `jobs.csv` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    /// Job id (from the scenario or trace).
    pub id: String,
    /// Virtual cluster.
    pub vc: String,
    /// Priority (-1 opportunistic, 0..=1000 guaranteed).
    pub priority: i32,
    /// GPUs (leaf cells) the job asks for in total.
    pub gpus: u32,
    /// Submit time.
    pub submit_ms: SimTimeMs,
    /// First time any of its groups started.
    pub start_ms: Option<SimTimeMs>,
    /// Finish/kill/reject time.
    pub end_ms: Option<SimTimeMs>,
    /// How it ended.
    pub outcome: JobOutcome,
    /// Times one of its groups was preempted.
    pub preemptions: u32,
    /// Nodes it ran on (last placement of each group), sorted, deduplicated.
    pub nodes: Vec<String>,
    /// GPU-milliseconds it held, including work later lost to preemption.
    pub gpu_ms: u64,
    /// Time its groups spent back in the queue after a preemption, suspension or node
    /// failure (each re-queue period, to the restart or the job's end).
    pub requeued_ms: SimTimeMs,
    /// Time its groups spent waiting, by the kind of the reason they waited for
    /// (indexed by [`crate::sched::WaitKind::index`]; a group not yet offered waits in
    /// the queue). Summed over its groups.
    pub wait_by_kind_ms: [SimTimeMs; crate::sched::WaitKind::ALL.len()],
}

impl SimEvent {
    /// When the event happened.
    pub fn t(&self) -> SimTimeMs {
        match self {
            SimEvent::JobSubmitted { t, .. }
            | SimEvent::GroupWaiting { t, .. }
            | SimEvent::GroupStarted { t, .. }
            | SimEvent::GroupPreempted { t, .. }
            | SimEvent::GroupDowngraded { t, .. }
            | SimEvent::GroupFinished { t, .. }
            | SimEvent::GroupFailed { t, .. }
            | SimEvent::JobFinished { t, .. }
            | SimEvent::JobKilled { t, .. }
            | SimEvent::JobRejected { t, .. }
            | SimEvent::NodeDown { t, .. }
            | SimEvent::NodeUp { t, .. }
            | SimEvent::NodeAdded { t, .. }
            | SimEvent::NodeRemoved { t, .. } => *t,
        }
    }
}

impl JobRecord {
    /// Time from submit to first start.
    pub fn wait_ms(&self) -> Option<SimTimeMs> {
        self.start_ms.map(|s| s - self.submit_ms)
    }

    /// Time from submit to the end.
    pub fn jct_ms(&self) -> Option<SimTimeMs> {
        self.end_ms.map(|e| e - self.submit_ms)
    }

    /// Queueing delay as the literature measures it (Philly, ATC'19): submit to first
    /// start plus every re-queue period; `None` when the job never started.
    pub fn queue_delay_ms(&self) -> Option<SimTimeMs> {
        self.wait_ms().map(|w| w + self.requeued_ms)
    }
}

/// Where one pod of a group runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodSpot {
    /// Node name.
    pub node: String,
    /// Device indices.
    pub devices: Vec<u32>,
}

/// An engine event, named as a fact. `events.log` prints one line per event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum SimEvent {
    /// A job arrived.
    JobSubmitted {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
    },
    /// A group could not start; the model's reason. Logged when the group starts to
    /// wait and when the kind of reason changes, not for every change of the counts in it.
    GroupWaiting {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
        /// Group name.
        group: String,
        /// Why, in words.
        reason: String,
    },
    /// A group started on these spots.
    GroupStarted {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
        /// Group name.
        group: String,
        /// One entry per pod.
        pods: Vec<PodSpot>,
    },
    /// A group was preempted by another job's group and requeued.
    GroupPreempted {
        /// When.
        t: SimTimeMs,
        /// Job id of the victim.
        job: String,
        /// Victim group.
        group: String,
        /// Job id of the preemptor.
        by: String,
        /// Where the victim was running.
        pods: Vec<PodSpot>,
        /// Suspended by a preemptive policy: it keeps all its progress (otherwise it
        /// restarts from its last checkpoint).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        suspended: bool,
    },
    /// A group was downgraded to opportunistic by lazy preemption and keeps running.
    GroupDowngraded {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
        /// Group.
        group: String,
        /// Job id of the preemptor.
        by: String,
    },
    /// A group ran its full duration and left its cells.
    GroupFinished {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
        /// Group.
        group: String,
        /// Where it ran.
        pods: Vec<PodSpot>,
    },
    /// A group was killed because a node it ran on went down; it is requeued.
    GroupFailed {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
        /// Group.
        group: String,
        /// The node that went down.
        node: String,
        /// Where the group was running.
        pods: Vec<PodSpot>,
    },
    /// All of a job's groups finished.
    JobFinished {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
    },
    /// The user killed the job.
    JobKilled {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
    },
    /// The model rejected a group of the job.
    JobRejected {
        /// When.
        t: SimTimeMs,
        /// Job id.
        job: String,
        /// Why.
        reason: String,
    },
    /// A node failed; groups on it are killed and requeued.
    NodeDown {
        /// When.
        t: SimTimeMs,
        /// Node.
        node: String,
    },
    /// A node came back.
    NodeUp {
        /// When.
        t: SimTimeMs,
        /// Node.
        node: String,
    },
    /// A node joined the cluster (it was absent until now); its GPUs add to capacity.
    NodeAdded {
        /// When.
        t: SimTimeMs,
        /// Node.
        node: String,
    },
    /// A node left the cluster for good; groups on it are killed and requeued and its
    /// GPUs leave the capacity.
    NodeRemoved {
        /// When.
        t: SimTimeMs,
        /// Node.
        node: String,
    },
}

/// Busy GPUs per VC from time `t` until the next point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// When.
    pub t: SimTimeMs,
    /// Busy GPUs per VC (jobs' VC, including opportunistic use).
    pub busy_by_vc: VcGpus,
    /// GPUs of the nodes present in the cluster (down nodes count; nodes not yet added
    /// or removed do not).
    pub capacity_gpus: u32,
}

/// GPU counts per VC at one timeline point: one count per name of a sorted VC list that
/// every point of a run shares. A run has ~10^5 points and a dozen VCs; a map of names
/// per point cost an allocation per VC per change in the engine and a string compare per
/// VC per point in every report. Reads like the map it replaced (`iter`, `values`, `get`)
/// and serialises as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcGpus {
    /// VC names, sorted and distinct; shared by all points of a run.
    names: Arc<[String]>,
    /// `gpus[i]` is the count of `names[i]`.
    gpus: Box<[u32]>,
    /// Busy milli-GPUs per name, in runs whose pods share GPUs (`gpus` is then these
    /// rounded to the nearest GPU); `None` in whole-GPU runs, where `gpus` is exact.
    milli: Option<Box<[u64]>>,
}

impl VcGpus {
    /// Counts `gpus` (one per name, in order) of the VCs `names` (sorted, distinct). A
    /// count missing at the end reads as zero; extra counts are dropped.
    pub fn new(names: Arc<[String]>, mut gpus: Vec<u32>) -> VcGpus {
        debug_assert!(
            names.windows(2).all(|w| w[0] < w[1]),
            "sorted, distinct names"
        );
        gpus.resize(names.len(), 0);
        VcGpus {
            names,
            gpus: gpus.into_boxed_slice(),
            milli: None,
        }
    }

    /// [`VcGpus::new`] with the exact busy milli-GPUs `milli` (one per name, in order;
    /// missing ones read as zero) of a run whose pods share GPUs.
    pub fn with_milli(names: Arc<[String]>, gpus: Vec<u32>, mut milli: Vec<u64>) -> VcGpus {
        milli.resize(names.len(), 0);
        VcGpus {
            milli: Some(milli.into_boxed_slice()),
            ..VcGpus::new(names, gpus)
        }
    }

    /// The busy milli-GPUs, in [`VcGpus::names`] order, when the run shares GPUs.
    pub fn milli(&self) -> Option<&[u64]> {
        self.milli.as_deref()
    }

    /// The VC names, sorted; the same allocation for every point of an engine run.
    pub fn names(&self) -> &Arc<[String]> {
        &self.names
    }

    /// The counts, in [`VcGpus::names`] order.
    pub fn counts(&self) -> &[u32] {
        &self.gpus
    }

    /// Number of VCs.
    pub fn len(&self) -> usize {
        self.gpus.len()
    }

    /// No VC at all.
    pub fn is_empty(&self) -> bool {
        self.gpus.is_empty()
    }

    /// The count of `vc`, `None` when it is not one of the names.
    pub fn get(&self, vc: &str) -> Option<u32> {
        self.names
            .binary_search_by(|n| n.as_str().cmp(vc))
            .ok()
            .map(|i| self.gpus[i])
    }

    /// The names, in order.
    pub fn keys(&self) -> std::slice::Iter<'_, String> {
        self.names.iter()
    }

    /// The counts, in name order.
    pub fn values(&self) -> std::slice::Iter<'_, u32> {
        self.gpus.iter()
    }

    /// `(name, count)` pairs in name order.
    pub fn iter(&self) -> std::iter::Zip<std::slice::Iter<'_, String>, std::slice::Iter<'_, u32>> {
        self.names.iter().zip(self.gpus.iter())
    }
}

impl<'a> IntoIterator for &'a VcGpus {
    type Item = (&'a String, &'a u32);
    type IntoIter = std::iter::Zip<std::slice::Iter<'a, String>, std::slice::Iter<'a, u32>>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A map's entries, e.g. for a hand-made timeline in a test.
impl From<BTreeMap<String, u32>> for VcGpus {
    fn from(map: BTreeMap<String, u32>) -> VcGpus {
        let (names, gpus): (Vec<String>, Vec<u32>) = map.into_iter().unzip();
        VcGpus::new(names.into(), gpus)
    }
}

impl<const N: usize> From<[(String, u32); N]> for VcGpus {
    fn from(entries: [(String, u32); N]) -> VcGpus {
        VcGpus::from(BTreeMap::from(entries))
    }
}

/// As a map from VC name to count, the shape the map it replaced had.
impl Serialize for VcGpus {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (name, gpus) in self {
            map.serialize_entry(name, gpus)?;
        }
        map.end()
    }
}

/// GPU time summed over a run's timeline: per VC the GPU-ms used and the GPU-ms used
/// beyond the VC's guarantee, and the GPU-ms of the nodes present. `summarize` computes it
/// from a full timeline; a summary-only engine run sums it as it goes, point by point, in
/// the same integer arithmetic, so both give the same numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuTimeTotals {
    /// Every VC seen in a point so far, sorted; the vectors below are in this order.
    names: Arc<[String]>,
    /// Guaranteed GPUs of each name (0 for a VC without a guarantee).
    guaranteed_gpus: Vec<u32>,
    used_gpu_ms: Vec<u64>,
    borrowed_gpu_ms: Vec<u64>,
    capacity_gpu_ms: u64,
    /// The last submit, once known ([`GpuTimeTotals::end_arrivals`]).
    arrivals_end_ms: Option<SimTimeMs>,
    /// GPU-ms used (all VCs) before `arrivals_end_ms` (all of it while unknown).
    used_before_arrivals_end: u64,
    /// Where the GPUs present change: (from, GPUs present); the last holds until
    /// `held_until_ms`. Node events are few, so this stays short.
    capacity_steps: Vec<(SimTimeMs, u32)>,
    held_until_ms: SimTimeMs,
}

/// When a run's arrivals ended, from its job records: the last submit, or `None` when
/// the run ended (at its horizon) before some job's submit. What the engine tells its
/// sink with [`super::sink::RunSink::arrivals_ended`].
pub fn arrivals_end(jobs: &[JobRecord], end_ms: SimTimeMs) -> Option<SimTimeMs> {
    let last = jobs.iter().map(|j| j.submit_ms).max()?;
    (last <= end_ms).then_some(last)
}

impl Default for GpuTimeTotals {
    fn default() -> GpuTimeTotals {
        GpuTimeTotals {
            names: Arc::from(Vec::new()),
            guaranteed_gpus: Vec::new(),
            used_gpu_ms: Vec::new(),
            borrowed_gpu_ms: Vec::new(),
            capacity_gpu_ms: 0,
            arrivals_end_ms: None,
            used_before_arrivals_end: 0,
            capacity_steps: Vec::new(),
            held_until_ms: 0,
        }
    }
}

impl GpuTimeTotals {
    /// The totals of `timeline` for a run that ended at `end_ms` and whose last job was
    /// submitted at `arrivals_end_ms` ([`arrivals_end`]): each point holds until the next
    /// one (or the end), and not past the end.
    pub fn of_timeline(
        timeline: &[TimelinePoint],
        end_ms: SimTimeMs,
        vcs: &BTreeMap<String, VcCapacity>,
        arrivals_end_ms: Option<SimTimeMs>,
    ) -> GpuTimeTotals {
        let mut totals = GpuTimeTotals::default();
        if let Some(t) = arrivals_end_ms {
            totals.end_arrivals(t);
        }
        for (i, point) in timeline.iter().enumerate() {
            let until = timeline
                .get(i + 1)
                .map_or(end_ms, |next| next.t)
                .min(end_ms);
            totals.add(point, until.saturating_sub(point.t), vcs);
        }
        totals
    }

    /// Adds `point` held for `held_ms`; `vcs` gives the guarantees.
    pub fn add(
        &mut self,
        point: &TimelinePoint,
        held_ms: SimTimeMs,
        vcs: &BTreeMap<String, VcCapacity>,
    ) {
        let names = point.busy_by_vc.names();
        // An engine run's points share one name list: one pointer compare per point.
        if !Arc::ptr_eq(names, &self.names) {
            if **names == *self.names {
                self.names = Arc::clone(names);
            } else {
                self.adopt(names, vcs);
            }
        }
        let mut busy_sum: u64 = 0;
        if self.names.len() == names.len() {
            for (i, &busy) in point.busy_by_vc.counts().iter().enumerate() {
                self.add_vc(i, busy, held_ms);
                busy_sum += u64::from(busy);
            }
        } else {
            // A hand-made point naming fewer VCs than seen before.
            for (name, &busy) in &point.busy_by_vc {
                if let Ok(i) = self.names.binary_search(name) {
                    self.add_vc(i, busy, held_ms);
                    busy_sum += u64::from(busy);
                }
            }
        }
        self.capacity_gpu_ms += u64::from(point.capacity_gpus) * held_ms;
        let before = self
            .arrivals_end_ms
            .map_or(held_ms, |end| end.saturating_sub(point.t).min(held_ms));
        self.used_before_arrivals_end += busy_sum * before;
        if held_ms > 0 {
            if self.capacity_steps.last().map(|s| s.1) != Some(point.capacity_gpus) {
                self.capacity_steps.push((point.t, point.capacity_gpus));
            }
            self.held_until_ms = point.t + held_ms;
        }
    }

    /// The last job was submitted at `t`: GPU time used from then on is past the
    /// arrival window. Call before adding a point that holds past `t`.
    pub fn end_arrivals(&mut self, t: SimTimeMs) {
        self.arrivals_end_ms = Some(t);
    }

    /// When the last job was submitted, if the run got that far.
    pub fn arrivals_end_ms(&self) -> Option<SimTimeMs> {
        self.arrivals_end_ms
    }

    /// GPU-ms used by all VCs before the last submit (all of it when it is not known).
    pub fn used_before_arrivals_end(&self) -> u64 {
        self.used_before_arrivals_end
    }

    /// GPU-ms of the nodes present between `from_ms` and `to_ms`.
    pub fn capacity_gpu_ms_between(&self, from_ms: SimTimeMs, to_ms: SimTimeMs) -> u64 {
        let mut total = 0;
        for (i, &(t, gpus)) in self.capacity_steps.iter().enumerate() {
            let until = self
                .capacity_steps
                .get(i + 1)
                .map_or(self.held_until_ms, |next| next.0);
            let (a, b) = (t.max(from_ms), until.min(to_ms));
            if b > a {
                total += u64::from(gpus) * (b - a);
            }
        }
        total
    }

    fn add_vc(&mut self, i: usize, busy: u32, held_ms: SimTimeMs) {
        self.used_gpu_ms[i] += u64::from(busy) * held_ms;
        self.borrowed_gpu_ms[i] +=
            u64::from(busy.saturating_sub(self.guaranteed_gpus[i])) * held_ms;
    }

    /// Takes in the names of a point that names VCs not seen so far.
    fn adopt(&mut self, names: &Arc<[String]>, vcs: &BTreeMap<String, VcCapacity>) {
        let mut all: Vec<String> = self.names.iter().chain(names.iter()).cloned().collect();
        all.sort();
        all.dedup();
        let mut used = vec![0; all.len()];
        let mut borrowed = vec![0; all.len()];
        for (k, name) in self.names.iter().enumerate() {
            if let Ok(i) = all.binary_search(name) {
                used[i] = self.used_gpu_ms[k];
                borrowed[i] = self.borrowed_gpu_ms[k];
            }
        }
        self.guaranteed_gpus = all
            .iter()
            .map(|n| vcs.get(n).map_or(0, |c| c.guaranteed_gpus))
            .collect();
        self.used_gpu_ms = used;
        self.borrowed_gpu_ms = borrowed;
        self.names = if **names == *all {
            Arc::clone(names)
        } else {
            all.into()
        };
    }

    /// GPU-ms the VC used and used beyond its guarantee; zeros for a VC never seen.
    pub fn vc(&self, vc: &str) -> (u64, u64) {
        self.names
            .binary_search_by(|n| n.as_str().cmp(vc))
            .map_or((0, 0), |i| (self.used_gpu_ms[i], self.borrowed_gpu_ms[i]))
    }

    /// GPU-ms used by all VCs together.
    pub fn used_gpu_ms(&self) -> u64 {
        self.used_gpu_ms.iter().sum()
    }

    /// GPU-ms of the nodes present in the cluster.
    pub fn capacity_gpu_ms(&self) -> u64 {
        self.capacity_gpu_ms
    }
}

/// A VC's guarantee, for reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VcCapacity {
    /// GPUs the VC is guaranteed.
    pub guaranteed_gpus: u32,
}

/// One model's run over one scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    /// Scenario name.
    pub scenario: String,
    /// Scheduler model name.
    pub model: String,
    /// Seed of the run's RNG.
    pub seed: u64,
    /// Time of the last event processed (or the horizon).
    pub end_ms: SimTimeMs,
    /// GPUs in the cluster.
    pub total_gpus: u32,
    /// Per VC guarantee.
    pub vcs: BTreeMap<String, VcCapacity>,
    /// All nodes with their GPU counts, in topology order (for Gantt lanes).
    pub nodes: Vec<(String, u32)>,
    /// One record per job, in submit order.
    pub jobs: Vec<JobRecord>,
    /// Every event, in processing order.
    pub events: Vec<SimEvent>,
    /// Busy GPUs per VC over time.
    pub timeline: Vec<TimelinePoint>,
}
