//! What a simulation run produces: the per-job records, the event log and the busy-GPU
//! timeline of one model on one scenario. The engine fills a [`RunResult`]; `report/`
//! turns it into tables, plots and HTML. Plain data, no behaviour.

use std::collections::BTreeMap;

use serde::Serialize;

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
    pub busy_by_vc: BTreeMap<String, u32>,
    /// GPUs of the nodes present in the cluster (down nodes count; nodes not yet added
    /// or removed do not).
    pub capacity_gpus: u32,
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
