//! What callers ask the allocator for: affinity groups (gangs) of pods with a
//! scheduling spec, mirroring HiveD's `pod-scheduling-spec` annotation.

use serde::{Deserialize, Serialize};

/// Lowest guaranteed priority; 0..=1000 are guaranteed.
pub const MIN_GUARANTEED_PRIORITY: i32 = 0;
/// Highest priority a pod may carry.
pub const MAX_GUARANTEED_PRIORITY: i32 = 1000;
/// The one opportunistic priority.
pub const OPPORTUNISTIC_PRIORITY: i32 = -1;

/// One member of an affinity group: `pod_number` pods of `leaf_cell_number` leaves each.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupMember {
    /// Pods of this shape.
    pub pod_number: u32,
    /// Leaf cells (devices) per pod.
    pub leaf_cell_number: u32,
    /// What each pod asks for besides whole devices (a share of one GPU, CPU, memory,
    /// GPU models), for the layers that place on a shared cluster
    /// ([`crate::cell::sharing`]); `None`: whole devices only, as HiveD places them.
    /// The HiveD allocator itself ignores it: the `hived` and `isolated` layers place
    /// shares through [`crate::cell::leaf_share`], with CPU and memory unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<PodResources>,
}

/// A pod's requests beyond whole devices (GPU sharing): a share of its one GPU, CPU,
/// memory and the GPU models it may use. Zero CPU or memory asks for none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodResources {
    /// Share of its one GPU in milli-GPUs (1..=999), with `leaf_cell_number` 1; `None`
    /// for whole GPUs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_milli: Option<u32>,
    /// CPU in milli-CPUs.
    #[serde(default)]
    pub cpu_milli: u64,
    /// Memory in MiB.
    #[serde(default)]
    pub memory_mib: u64,
    /// GPU models the pod may use, `|`-separated (openb's `gpu_spec`); empty: the
    /// group's `leaf_cell_type`, or any.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub gpu_spec: String,
}

impl GroupMember {
    /// `pod_number` pods of `leaf_cell_number` whole devices each.
    pub fn whole(pod_number: u32, leaf_cell_number: u32) -> GroupMember {
        GroupMember {
            pod_number,
            leaf_cell_number,
            resources: None,
        }
    }

    /// True when its pods share a GPU (ask for less than one whole GPU).
    pub fn is_shared(&self) -> bool {
        self.resources
            .as_ref()
            .is_some_and(|r| r.gpu_milli.is_some_and(|m| m < 1000))
    }
}

/// A request to place one affinity group (gang): all its pods are placed at once,
/// within one chain, or not at all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRequest {
    /// Group name, unique among live groups (`namespace/pod` for a lone pod).
    pub name: String,
    /// Virtual cluster the group runs in.
    pub virtual_cluster: String,
    /// -1 (opportunistic) or 0..=1000 (guaranteed).
    pub priority: i32,
    /// Leaf cell type to use; `None` means any type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leaf_cell_type: Option<String>,
    /// Pinned cell to run in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pinned_cell_id: Option<String>,
    /// Downgrade to opportunistic instead of being killed by a same-VC preemptor.
    #[serde(default)]
    pub lazy_preemption_enable: bool,
    /// Ignore the caller's suggested nodes (HiveD default: true).
    #[serde(default = "default_true")]
    pub ignore_k8s_suggested_nodes: bool,
    /// The gang's members.
    pub members: Vec<GroupMember>,
}

fn default_true() -> bool {
    true
}

impl GroupRequest {
    /// Total pods in the group.
    pub fn pod_count(&self) -> u64 {
        // In u64: a hostile request must get a rejection, not an overflow.
        self.members.iter().map(|m| m.pod_number as u64).sum()
    }

    /// Total leaf cells the group needs.
    pub fn leaf_count(&self) -> u64 {
        self.members
            .iter()
            .map(|m| m.pod_number as u64 * m.leaf_cell_number as u64)
            .sum()
    }

    /// True for priority -1.
    pub fn is_opportunistic(&self) -> bool {
        self.priority == OPPORTUNISTIC_PRIORITY
    }

    /// The group's shape in words, by member: `2 x 4 GPUs + 1 x 1 GPU`.
    pub fn shape(&self) -> String {
        self.members
            .iter()
            .map(|m| {
                let s = if m.leaf_cell_number == 1 { "" } else { "s" };
                format!("{} x {} GPU{s}", m.pod_number, m.leaf_cell_number)
            })
            .collect::<Vec<_>>()
            .join(" + ")
    }

    /// True when a pod of the group shares a GPU.
    pub fn has_shares(&self) -> bool {
        self.members.iter().any(GroupMember::is_shared)
    }

    /// The group's GPU demand in milli-GPUs: a share counts its milli, whole devices
    /// 1000 each.
    pub fn gpu_milli(&self) -> u64 {
        self.members
            .iter()
            .map(|m| {
                let per_pod = match m.resources.as_ref().and_then(|r| r.gpu_milli) {
                    Some(milli) if milli < 1000 => u64::from(milli),
                    _ => u64::from(m.leaf_cell_number) * 1000,
                };
                u64::from(m.pod_number) * per_pod
            })
            .sum()
    }

    /// Leaf counts of every pod, in member order.
    pub fn pod_sizes(&self) -> Vec<u32> {
        self.members
            .iter()
            .flat_map(|m| std::iter::repeat_n(m.leaf_cell_number, m.pod_number as usize))
            .collect()
    }
}
