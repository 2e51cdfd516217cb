//! GPU sharing at node level: a [`SharedCluster`] of nodes with CPU (milli), memory (MiB)
//! and GPUs that several pods may share, each pod taking a share of one GPU in milli-GPUs
//! (1000 = a whole GPU) or whole GPUs. The node-level counterpart of the HiveD
//! [`crate::cell::Allocator`], which places whole devices (and shares on leaves it holds
//! for a VC, [`crate::cell::leaf_share`]) and is not changed by it: whole-GPU models keep
//! their allocator and outputs; `cellsim fill`, the pool layers and the placement scorers
//! ([`crate::placement`]) place through this one.
//!
//! The rules (those of the FGD artifact's Open-GPU-Share filter and kube-scheduler's
//! resource fit):
//! - a pod fits a node when its CPU and memory fit what is left (a node without CPU or
//!   memory capacity has unlimited CPU or memory), and its GPUs fit: a shared pod
//!   (`num_gpu` 1, `gpu_milli` < 1000) needs one GPU with at least `gpu_milli` left, a
//!   whole-GPU pod needs `num_gpu` fully free GPUs;
//! - `gpu_spec` (models separated by `|`, empty = any) restricts the node's GPU model for
//!   pods with GPUs; CPU-only pods may go on any node;
//! - no GPU ever holds more than 1000 milli, no node more CPU or memory than it has;
//! - [`SharedCluster::release`] returns exactly what [`SharedCluster::allocate`] took.
//!
//! No I/O, no clock, no RNG: which node and GPUs a pod takes is chosen by a scorer.

use std::collections::BTreeMap;

/// One GPU, in milli-GPUs.
pub const MILLI: u32 = 1000;

/// A node of a [`SharedCluster`], as the cluster source describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareNode {
    /// Node name (ties between equally good nodes go to the smallest name).
    pub name: String,
    /// CPU capacity in milli-CPUs; `None`: unlimited (the source gives none).
    pub cpu_milli: Option<u64>,
    /// Memory capacity in MiB; `None`: unlimited.
    pub memory_mib: Option<u64>,
    /// Number of GPUs (0 for a CPU-only node).
    pub gpus: u32,
    /// GPU model (e.g. `V100M16`); empty when the node has no GPUs.
    pub gpu_model: String,
}

/// What one pod asks for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodShape {
    /// CPU in milli-CPUs.
    pub cpu_milli: u64,
    /// Memory in MiB.
    pub memory_mib: u64,
    /// GPUs wanted (0: CPU-only).
    pub num_gpu: u32,
    /// Share of each GPU in milli-GPUs: 1000 for whole GPUs, below 1000 for a shared GPU
    /// (only with `num_gpu` 1); 0 when `num_gpu` is 0.
    pub gpu_milli: u32,
    /// GPU models allowed, `|`-separated as in the trace; empty: any.
    pub gpu_spec: String,
}

/// Why a [`PodShape`] is not a valid request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShapeError {
    /// A share of a GPU for more than one GPU: the caller must fix the request.
    #[error(
        "a pod asks for {gpu_milli} milli-GPUs of each of {num_gpu} GPUs; a share below 1000 is only possible for one GPU (set num_gpu to 1 or gpu_milli to 1000)"
    )]
    SharedMultiGpu {
        /// GPUs asked for.
        num_gpu: u32,
        /// Share asked for.
        gpu_milli: u32,
    },
    /// A share above one GPU.
    #[error("a pod asks for {0} milli-GPUs of a GPU; at most 1000 (one whole GPU)")]
    OverOneGpu(u32),
}

impl PodShape {
    /// Checks the request is one a node can ever satisfy in shape (not in size).
    pub fn validate(&self) -> Result<(), ShapeError> {
        if self.gpu_milli > MILLI {
            return Err(ShapeError::OverOneGpu(self.gpu_milli));
        }
        if self.num_gpu > 1 && self.gpu_milli < MILLI && self.gpu_milli > 0 {
            return Err(ShapeError::SharedMultiGpu {
                num_gpu: self.num_gpu,
                gpu_milli: self.gpu_milli,
            });
        }
        Ok(())
    }

    /// True for a pod with GPUs.
    pub fn wants_gpu(&self) -> bool {
        self.num_gpu > 0 && self.gpu_milli > 0
    }

    /// True for a pod that shares one GPU.
    pub fn is_shared(&self) -> bool {
        self.wants_gpu() && self.gpu_milli < MILLI
    }

    /// Its total GPU request in milli-GPUs.
    pub fn total_gpu_milli(&self) -> u64 {
        if self.wants_gpu() {
            u64::from(self.num_gpu) * u64::from(self.gpu_milli)
        } else {
            0
        }
    }

    /// Whether it may use GPUs of `model` (`gpu_spec` empty, or one of its models).
    pub fn allows_model(&self, model: &str) -> bool {
        let mut named = false;
        for wanted in self.gpu_spec.split('|').filter(|m| !m.is_empty()) {
            named = true;
            if wanted == model {
                return true;
            }
        }
        !named
    }

    /// The GPU-clustering tag of the artifact: `share`, `N-gpu`, or none for CPU pods.
    pub fn affinity(&self) -> Option<String> {
        if !self.wants_gpu() {
            None
        } else if self.is_shared() {
            Some("share".to_string())
        } else {
            Some(format!("{}-gpu", self.num_gpu))
        }
    }
}

/// What is left on one node right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFree {
    /// CPU left (milli); `u64::MAX` when unlimited.
    pub cpu_milli: u64,
    /// Memory left (MiB); `u64::MAX` when unlimited.
    pub memory_mib: u64,
    /// Milli-GPUs left per GPU, by device index.
    pub gpu_milli: Vec<u32>,
    /// Pods with GPUs on the node per affinity tag (for GPU clustering).
    pub affinity: BTreeMap<String, u32>,
}

impl NodeFree {
    /// Milli-GPUs left on all GPUs.
    pub fn gpu_milli_total(&self) -> u64 {
        self.gpu_milli.iter().map(|&m| u64::from(m)).sum()
    }

    /// GPUs with nothing taken.
    pub fn fully_free_gpus(&self) -> usize {
        self.gpu_milli.iter().filter(|&&m| m == MILLI).count()
    }

    /// The lowest-index fully free GPUs, `n` of them, or `None` when there are fewer.
    pub fn lowest_free_gpus(&self, n: u32) -> Option<Vec<u16>> {
        let picked: Vec<u16> = self
            .gpu_milli
            .iter()
            .enumerate()
            .filter(|(_, m)| **m == MILLI)
            .map(|(i, _)| i as u16)
            .take(n as usize)
            .collect();
        (picked.len() == n as usize).then_some(picked)
    }
}

/// Where a pod goes: a node and the GPUs it takes there (empty for CPU-only pods).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Node index in the cluster.
    pub node: usize,
    /// Device indices on the node; one for a shared pod.
    pub gpus: Vec<u16>,
}

/// What one allocation took, to be given back by [`SharedCluster::release`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Where.
    pub slot: Slot,
    /// The request it was made for.
    pub shape: PodShape,
}

/// Why an allocation was refused (the caller's slot does not fit; state unchanged).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocError {
    /// No such node.
    #[error("node index {0} is out of range")]
    NoNode(usize),
    /// The pod does not fit there (resources, model or device list).
    #[error("the pod does not fit node {node}: {why}")]
    DoesNotFit {
        /// Node name.
        node: String,
        /// Which resource.
        why: &'static str,
    },
    /// The request is malformed.
    #[error(transparent)]
    Shape(#[from] ShapeError),
}

/// Nodes with CPU, memory and shareable GPUs, and what is left on each.
#[derive(Debug, Clone)]
pub struct SharedCluster {
    nodes: Vec<ShareNode>,
    free: Vec<NodeFree>,
    /// Node indices in name order, for ties.
    name_rank: Vec<u32>,
    /// Nodes closed to new pods (bad, or filtered out by the caller); what they hold
    /// stays until released.
    closed: Vec<bool>,
}

impl SharedCluster {
    /// An empty cluster (nothing taken) of `nodes`.
    pub fn new(nodes: Vec<ShareNode>) -> SharedCluster {
        let free = nodes
            .iter()
            .map(|n| NodeFree {
                cpu_milli: n.cpu_milli.unwrap_or(u64::MAX),
                memory_mib: n.memory_mib.unwrap_or(u64::MAX),
                gpu_milli: vec![MILLI; n.gpus as usize],
                affinity: BTreeMap::new(),
            })
            .collect();
        let mut order: Vec<usize> = (0..nodes.len()).collect();
        order.sort_by(|&a, &b| nodes[a].name.cmp(&nodes[b].name).then(a.cmp(&b)));
        let mut name_rank = vec![0u32; nodes.len()];
        for (rank, &i) in order.iter().enumerate() {
            name_rank[i] = rank as u32;
        }
        SharedCluster {
            closed: vec![false; nodes.len()],
            nodes,
            free,
            name_rank,
        }
    }

    /// The nodes.
    pub fn nodes(&self) -> &[ShareNode] {
        &self.nodes
    }

    /// What is left on node `i`.
    pub fn free(&self, i: usize) -> &NodeFree {
        &self.free[i]
    }

    /// Node `i`'s place in the tie order (smaller wins ties): name order unless set by
    /// [`SharedCluster::set_tie_ranks`].
    pub fn name_rank(&self, i: usize) -> u32 {
        self.name_rank[i]
    }

    /// Node indices in name order.
    pub fn name_order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        order.sort_by(|&a, &b| self.nodes[a].name.cmp(&self.nodes[b].name).then(a.cmp(&b)));
        order
    }

    /// Sets the tie order: node `i` ranks `ranks[i]` (a permutation of `0..nodes`).
    /// The FGD artifact prefixes node names with a seeded random permutation, so that
    /// its smallest-name tie-break is a random node order per seed; `fill` does the same.
    pub fn set_tie_ranks(&mut self, ranks: Vec<u32>) {
        debug_assert_eq!(ranks.len(), self.nodes.len());
        if ranks.len() == self.nodes.len() {
            self.name_rank = ranks;
        }
    }

    /// Closes node `i` to new pods (`true`) or opens it again; what it holds stays. A
    /// scheduler closes bad nodes and nodes a request's node filter leaves out.
    pub fn set_closed(&mut self, i: usize, closed: bool) {
        self.closed[i] = closed;
    }

    /// Whether node `i` is closed to new pods.
    pub fn is_closed(&self, i: usize) -> bool {
        self.closed[i]
    }

    /// Whether the pod would fit node `i` if nothing were taken there (and it were open):
    /// whether the node can ever hold it.
    pub fn fits_empty(&self, i: usize, pod: &PodShape) -> bool {
        let node = &self.nodes[i];
        if node.cpu_milli.is_some_and(|c| pod.cpu_milli > c)
            || node.memory_mib.is_some_and(|m| pod.memory_mib > m)
        {
            return false;
        }
        !pod.wants_gpu() || (node.gpus >= pod.num_gpu && pod.allows_model(&node.gpu_model))
    }

    /// Total GPUs' capacity in milli-GPUs.
    pub fn gpu_capacity_milli(&self) -> u64 {
        self.nodes
            .iter()
            .map(|n| u64::from(n.gpus) * u64::from(MILLI))
            .sum()
    }

    /// Milli-GPUs taken in the whole cluster.
    pub fn gpu_used_milli(&self) -> u64 {
        self.gpu_capacity_milli() - self.free.iter().map(NodeFree::gpu_milli_total).sum::<u64>()
    }

    /// Whether the pod fits node `i` at all (CPU, memory, model and GPUs).
    pub fn fits(&self, i: usize, pod: &PodShape) -> bool {
        self.misfit(i, pod).is_none()
    }

    /// Why the pod does not fit node `i`, or `None` when it does.
    fn misfit(&self, i: usize, pod: &PodShape) -> Option<&'static str> {
        let node = &self.nodes[i];
        let free = &self.free[i];
        if self.closed[i] {
            return Some("the node is closed to new pods");
        }
        if pod.cpu_milli > free.cpu_milli {
            return Some("not enough CPU left");
        }
        if pod.memory_mib > free.memory_mib {
            return Some("not enough memory left");
        }
        if !pod.wants_gpu() {
            return None;
        }
        if node.gpus == 0 {
            return Some("the node has no GPUs");
        }
        if !pod.allows_model(&node.gpu_model) {
            return Some("gpu_spec excludes the node's GPU model");
        }
        let fitting = free
            .gpu_milli
            .iter()
            .filter(|&&m| m >= pod.gpu_milli)
            .count();
        if fitting < pod.num_gpu as usize {
            return Some("not enough GPU left");
        }
        None
    }

    /// Whether `slot` is a valid place for the pod: it fits the node and the GPUs listed
    /// are distinct, exist and each has the pod's share left.
    fn check_slot(&self, slot: &Slot, pod: &PodShape) -> Result<(), AllocError> {
        pod.validate()?;
        if slot.node >= self.nodes.len() {
            return Err(AllocError::NoNode(slot.node));
        }
        let not_fit = |why| AllocError::DoesNotFit {
            node: self.nodes[slot.node].name.clone(),
            why,
        };
        if let Some(why) = self.misfit(slot.node, pod) {
            return Err(not_fit(why));
        }
        let wanted = if pod.wants_gpu() {
            pod.num_gpu as usize
        } else {
            0
        };
        if slot.gpus.len() != wanted {
            return Err(not_fit("the slot lists a different number of GPUs"));
        }
        let free = &self.free[slot.node];
        for (k, &g) in slot.gpus.iter().enumerate() {
            if slot.gpus[..k].contains(&g) {
                return Err(not_fit("the slot lists a GPU twice"));
            }
            match free.gpu_milli.get(g as usize) {
                None => return Err(not_fit("the slot lists a GPU the node does not have")),
                Some(&left) if left < pod.gpu_milli => {
                    return Err(not_fit("a GPU of the slot has not enough left"));
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    /// Takes the pod's resources at `slot`, or refuses (state unchanged).
    pub fn allocate(&mut self, pod: &PodShape, slot: Slot) -> Result<Grant, AllocError> {
        self.check_slot(&slot, pod)?;
        let free = &mut self.free[slot.node];
        if free.cpu_milli != u64::MAX {
            free.cpu_milli -= pod.cpu_milli;
        }
        if free.memory_mib != u64::MAX {
            free.memory_mib -= pod.memory_mib;
        }
        for &g in &slot.gpus {
            free.gpu_milli[g as usize] -= pod.gpu_milli;
        }
        if let Some(tag) = pod.affinity() {
            *free.affinity.entry(tag).or_insert(0) += 1;
        }
        Ok(Grant {
            slot,
            shape: pod.clone(),
        })
    }

    /// Gives back exactly what `grant` took.
    pub fn release(&mut self, grant: Grant) {
        let free = &mut self.free[grant.slot.node];
        if free.cpu_milli != u64::MAX {
            free.cpu_milli += grant.shape.cpu_milli;
        }
        if free.memory_mib != u64::MAX {
            free.memory_mib += grant.shape.memory_mib;
        }
        for &g in &grant.slot.gpus {
            free.gpu_milli[g as usize] += grant.shape.gpu_milli;
        }
        if let Some(tag) = grant.shape.affinity()
            && let Some(count) = free.affinity.get_mut(&tag)
        {
            *count -= 1;
            if *count == 0 {
                free.affinity.remove(&tag);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, gpus: u32, model: &str) -> ShareNode {
        ShareNode {
            name: name.into(),
            cpu_milli: Some(8000),
            memory_mib: Some(16384),
            gpus,
            gpu_model: model.into(),
        }
    }

    fn pod(cpu: u64, mem: u64, num_gpu: u32, milli: u32) -> PodShape {
        PodShape {
            cpu_milli: cpu,
            memory_mib: mem,
            num_gpu,
            gpu_milli: milli,
            gpu_spec: String::new(),
        }
    }

    #[test]
    fn shares_of_one_gpu_add_up_to_at_most_one_gpu() {
        let mut c = SharedCluster::new(vec![node("a", 1, "T4")]);
        let p = pod(100, 100, 1, 600);
        c.allocate(
            &p,
            Slot {
                node: 0,
                gpus: vec![0],
            },
        )
        .unwrap();
        assert!(!c.fits(0, &p), "600 + 600 > 1000");
        assert!(c.fits(0, &pod(100, 100, 1, 400)));
        assert!(
            c.allocate(
                &p,
                Slot {
                    node: 0,
                    gpus: vec![0]
                }
            )
            .is_err()
        );
        assert_eq!(c.free(0).gpu_milli, vec![400]);
    }

    #[test]
    fn cpu_and_memory_must_fit_too() {
        let c = SharedCluster::new(vec![node("a", 2, "T4")]);
        assert!(!c.fits(0, &pod(9000, 1, 1, 100)));
        assert!(!c.fits(0, &pod(1, 20000, 1, 100)));
        assert!(c.fits(0, &pod(8000, 16384, 2, 1000)));
    }

    #[test]
    fn gpu_spec_limits_models_of_gpu_pods_only() {
        let c = SharedCluster::new(vec![node("a", 2, "T4")]);
        let mut p = pod(1, 1, 1, 1000);
        p.gpu_spec = "P100|V100M16".into();
        assert!(!c.fits(0, &p));
        p.gpu_spec = "P100|T4".into();
        assert!(c.fits(0, &p));
        let mut cpu = pod(1, 1, 0, 0);
        cpu.gpu_spec = "P100".into();
        assert!(c.fits(0, &cpu));
    }

    #[test]
    fn release_gives_back_exactly_what_was_taken() {
        let mut c = SharedCluster::new(vec![node("a", 4, "T4")]);
        let before = c.free(0).clone();
        let g1 = c
            .allocate(
                &pod(500, 700, 2, 1000),
                Slot {
                    node: 0,
                    gpus: vec![1, 3],
                },
            )
            .unwrap();
        let g2 = c
            .allocate(
                &pod(100, 10, 1, 250),
                Slot {
                    node: 0,
                    gpus: vec![0],
                },
            )
            .unwrap();
        c.release(g1);
        c.release(g2);
        assert_eq!(c.free(0), &before);
    }

    #[test]
    fn whole_gpu_pods_need_fully_free_gpus() {
        let mut c = SharedCluster::new(vec![node("a", 2, "T4")]);
        c.allocate(
            &pod(1, 1, 1, 100),
            Slot {
                node: 0,
                gpus: vec![0],
            },
        )
        .unwrap();
        assert!(!c.fits(0, &pod(1, 1, 2, 1000)));
        assert!(
            c.allocate(
                &pod(1, 1, 1, 1000),
                Slot {
                    node: 0,
                    gpus: vec![0]
                }
            )
            .is_err()
        );
        assert!(c.fits(0, &pod(1, 1, 1, 1000)));
    }

    #[test]
    fn a_share_of_several_gpus_is_refused() {
        assert!(pod(1, 1, 2, 500).validate().is_err());
        assert!(pod(1, 1, 1, 1500).validate().is_err());
    }
}
