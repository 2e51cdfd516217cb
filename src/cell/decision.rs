//! What a schedule call answers: bind, preempt, wait (with a reason people can act on)
//! or reject (the user's fault). Decisions are plain data; the allocator applies them.

use serde::Serialize;

/// Where one pod of a group goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacement {
    /// Node name.
    pub node: String,
    /// Device (leaf cell) indices on that node, ascending.
    pub devices: Vec<u32>,
    /// Leaf cells the pod asked for.
    pub leaf_cell_number: u32,
}

/// A whole group's placement, pods in member order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupPlacement {
    /// Group name.
    pub group: String,
    /// Chain the group runs in.
    pub chain: String,
    /// One entry per pod, in member order.
    pub pods: Vec<PodPlacement>,
}

/// A group that must leave so a preemptor can run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Victim {
    /// Victim group name.
    pub group: String,
    /// Its virtual cluster.
    pub virtual_cluster: String,
    /// Its current (physical) priority.
    pub priority: i32,
    /// Its pods' placements.
    pub pods: Vec<PodPlacement>,
}

/// Why a group waits. Each variant's `Display` is a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[non_exhaustive]
pub enum WaitReason {
    /// The VC's own cells are busy with jobs of equal or higher priority.
    Quota {
        /// Virtual cluster.
        vc: String,
        /// Leaf cells the group needs.
        needed: u64,
        /// Leaf cells of the VC (usable type) that are free or preemptible now.
        available: u64,
    },
    /// Enough free cells in total, but not in the shape (topology) the group needs.
    Fragmentation {
        /// Virtual cluster, or `None` for an opportunistic group.
        vc: Option<String>,
        /// Leaf cells the group needs.
        needed: u64,
        /// Leaf cells free now.
        available: u64,
    },
    /// The group would fit if bad nodes were healthy.
    BadNodes {
        /// Bad nodes that hold cells the group could use.
        nodes: Vec<String>,
    },
    /// Not enough free cells in the whole cluster for an opportunistic group.
    InsufficientCapacity {
        /// Leaf cells the group needs.
        needed: u64,
        /// Leaf cells free in the cluster (usable type).
        available: u64,
    },
    /// The group's preemption victims are still leaving.
    PreemptionInProgress {
        /// Groups still holding the reserved cells.
        victims: Vec<String>,
    },
    /// The group's preemption was cancelled because its reserved cells are on nodes that
    /// went bad or that this call did not suggest; it is placed afresh on a later call.
    PreemptionCanceled {
        /// Bad nodes of the reservation.
        bad: Vec<String>,
        /// Nodes of the reservation the call did not suggest.
        unsuggested: Vec<String>,
    },
}

impl std::fmt::Display for WaitReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitReason::Quota {
                vc,
                needed,
                available,
            } => write!(
                f,
                "waiting for quota: VC {vc} has {available} of the {needed} GPUs this group needs free \
                 (its cells are used by jobs of equal or higher priority; guaranteed jobs use only their own VC's cells)"
            ),
            WaitReason::Fragmentation {
                vc: Some(vc),
                needed,
                available,
            } => write!(
                f,
                "waiting for topology: VC {vc} has {available} free GPUs but not in the shape this \
                 {needed}-GPU group needs (nodes/buddy cells are fragmented)"
            ),
            WaitReason::Fragmentation {
                vc: None,
                needed,
                available,
            } => write!(
                f,
                "waiting for topology: the cluster has {available} free GPUs but not in the shape this \
                 {needed}-GPU group needs"
            ),
            WaitReason::BadNodes { nodes } => {
                write!(f, "waiting for bad nodes to return: {}", nodes.join(", "))
            }
            WaitReason::InsufficientCapacity { needed, available } => write!(
                f,
                "waiting for free capacity: opportunistic group needs {needed} GPUs, {available} are free"
            ),
            WaitReason::PreemptionInProgress { victims } => {
                write!(
                    f,
                    "waiting for preempted groups to leave: {}",
                    victims.join(", ")
                )
            }
            WaitReason::PreemptionCanceled { bad, unsuggested } => {
                write!(f, "preemption canceled: the reserved cells are on ")?;
                match (bad.is_empty(), unsuggested.is_empty()) {
                    (false, true) => write!(f, "bad node(s) {}", bad.join(", "))?,
                    (true, _) => {
                        write!(f, "node(s) not suggested now: {}", unsuggested.join(", "))?
                    }
                    (false, false) => write!(
                        f,
                        "bad node(s) {} and node(s) not suggested now: {}",
                        bad.join(", "),
                        unsuggested.join(", ")
                    )?,
                }
                write!(f, "; the group is placed afresh on its next try")
            }
        }
    }
}

/// A request that can never be satisfied as written: the user must change it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "kind", content = "message")]
#[non_exhaustive]
pub enum RequestError {
    /// The named VC does not exist.
    #[error("unknown virtual cluster {0:?}; use one of the VCs in the config")]
    UnknownVc(String),
    /// The VC has no cells of the requested leaf type.
    #[error("{0}")]
    NoCellsOfType(String),
    /// The pinned cell does not exist or belongs to another VC.
    #[error("{0}")]
    PinnedCell(String),
    /// Priority outside -1..=1000.
    #[error("priority {0} is out of range: use -1 (opportunistic) or 0..=1000 (guaranteed)")]
    Priority(i32),
    /// Members empty, zero pods or zero leaf cells.
    #[error("{0}")]
    Shape(String),
    /// The group can never fit its VC (or the cluster, for opportunistic groups).
    #[error("{0}")]
    NeverFits(String),
    /// A different request reuses the name of a live group.
    #[error("{0}")]
    GroupConflict(String),
}

/// The answer to a schedule call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "camelCase")]
pub enum Decision {
    /// Place the group here (all pods).
    Bind(GroupPlacement),
    /// These groups must leave first; the preemptor's cells are reserved meanwhile.
    Preempt {
        /// Victim groups.
        victims: Vec<Victim>,
    },
    /// Not now; try again when something changes.
    Wait {
        /// Why.
        reason: WaitReason,
    },
    /// Never, as written.
    Reject {
        /// What is wrong.
        error: RequestError,
    },
}
