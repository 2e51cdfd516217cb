//! Placement scorers: which fitting node (and which GPUs there) a pod takes on a
//! [`SharedCluster`]. One file per scorer, a registry by name ([`scorer`], [`NAMES`]):
//!
//! - `topology` (the default): cellsim's packing at node level: the fitting node with the
//!   fewest milli-GPUs left after the pod, the tightest GPU for a share;
//! - the six policies of the FGD paper (ATC'23), with the definitions of its artifact's
//!   kube-scheduler score plugins (hkust-adsl/kubernetes-scheduler-simulator):
//!   `fgd`, `bestfit`, `gpu-packing`, `gpu-clustering`, `dotprod`, `random`;
//! - kube-scheduler's two `NodeResourcesFit` strategies: `most-allocated` (packing) and
//!   `least-allocated` (spreading).
//!
//! Every scorer gives each fitting node an integer score (0..=100 where the artifact
//! does, so that its ties are the artifact's ties); the highest score wins and a tie goes
//! to the node with the smallest name, as in the artifact's patched kube-scheduler
//! (`selectHost`). The scorer then picks the GPUs on that node ([`best_fit_gpus`] unless
//! it says otherwise).

mod bestfit;
mod dotprod;
mod fgd;
pub mod frag;
mod gpu_clustering;
mod gpu_packing;
mod least_allocated;
mod most_allocated;
mod random;
mod topology;

use rand_chacha::ChaCha8Rng;

use crate::cell::sharing::{MILLI, NodeFree, PodShape, SharedCluster, Slot};
pub use frag::{FragCache, TypicalPods};

/// The scorers' names, default first.
pub const NAMES: [&str; 9] = [
    "topology",
    "fgd",
    "bestfit",
    "gpu-packing",
    "gpu-clustering",
    "dotprod",
    "random",
    "most-allocated",
    "least-allocated",
];

/// The artifact's largest node CPU (milli), used to normalise CPU in scores.
pub const MAX_SPEC_CPU: f64 = 128_000.0;
/// The artifact's largest node GPU (milli), used to normalise GPU in scores.
pub const MAX_SPEC_GPU: f64 = 8_000.0;
/// kube-scheduler's highest node score.
pub const MAX_NODE_SCORE: i64 = 100;

/// A way of choosing where a pod goes. Made once per run ([`scorer`]); it may keep caches.
pub trait Scorer: Send {
    /// Its registry name.
    fn name(&self) -> &'static str;

    /// The slot for `pod` on `cluster`, or `None` when no node fits. `rng` is the run's
    /// seeded generator (only `random` draws from it).
    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        rng: &mut ChaCha8Rng,
    ) -> Option<Slot>;
}

/// Why a scorer name is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown placement '{0}'; known: {known}", known = NAMES.join(", "))]
pub struct UnknownScorer(pub String);

/// The scorer named `name`. `typical` is the workload's pod-shape distribution (used by
/// `fgd`, see [`TypicalPods`]).
pub fn scorer(name: &str, typical: &TypicalPods) -> Result<Box<dyn Scorer>, UnknownScorer> {
    Ok(match name {
        "topology" => Box::new(topology::Topology),
        "fgd" => Box::new(fgd::Fgd::new(typical.clone())),
        "bestfit" => Box::new(bestfit::BestFit),
        "gpu-packing" => Box::new(gpu_packing::GpuPacking),
        "gpu-clustering" => Box::new(gpu_clustering::GpuClustering),
        "dotprod" => Box::new(dotprod::DotProd),
        "random" => Box::new(random::Random),
        "most-allocated" => Box::new(most_allocated::MostAllocated),
        "least-allocated" => Box::new(least_allocated::LeastAllocated),
        other => return Err(UnknownScorer(other.to_string())),
    })
}

/// The fitting node with the highest `score` (ties: smallest name), with the value
/// `score` returned beside it. `score` is called only for nodes the pod fits.
pub fn best_node<T>(
    cluster: &SharedCluster,
    pod: &PodShape,
    mut score: impl FnMut(usize, &NodeFree) -> (i64, T),
) -> Option<(usize, T)> {
    let mut best: Option<(i64, u32, usize, T)> = None;
    for i in 0..cluster.nodes().len() {
        if !cluster.fits(i, pod) {
            continue;
        }
        let (s, extra) = score(i, cluster.free(i));
        let rank = cluster.name_rank(i);
        let better = match &best {
            None => true,
            Some((bs, br, _, _)) => s > *bs || (s == *bs && rank < *br),
        };
        if better {
            best = Some((s, rank, i, extra));
        }
    }
    best.map(|(_, _, i, extra)| (i, extra))
}

/// The artifact's "best" GPU choice on a node the pod fits: for a share, the GPU with the
/// least left that still fits (lowest index among equals); for whole GPUs, the
/// lowest-index fully free ones; none for a CPU-only pod.
pub fn best_fit_gpus(free: &NodeFree, pod: &PodShape) -> Vec<u16> {
    if !pod.wants_gpu() {
        return Vec::new();
    }
    if pod.is_shared() {
        let mut pick: Option<(u32, u16)> = None;
        for (i, &left) in free.gpu_milli.iter().enumerate() {
            if left >= pod.gpu_milli && pick.is_none_or(|(l, _)| left < l) {
                pick = Some((left, i as u16));
            }
        }
        return pick.map(|(_, i)| vec![i]).unwrap_or_default();
    }
    free.lowest_free_gpus(pod.num_gpu).unwrap_or_default()
}

/// Places with `score` per node and [`best_fit_gpus`] on the winner.
pub fn place_scored(
    cluster: &SharedCluster,
    pod: &PodShape,
    score: impl FnMut(usize, &NodeFree) -> i64,
) -> Option<Slot> {
    let mut score = score;
    let (node, ()) = best_node(cluster, pod, |i, f| (score(i, f), ()))?;
    Some(Slot {
        node,
        gpus: best_fit_gpus(cluster.free(node), pod),
    })
}

/// kube-scheduler's `NodeResourcesFit` score of a node for `pod`: `per_resource` of
/// (requested once the pod is placed, allocatable) for CPU, memory and GPU milli, each
/// in 0..=100, averaged with weight 1 by integer division as kube-scheduler does. A
/// resource the node has no limit on (or none of) is left out of the average, as
/// kube-scheduler skips a resource with zero allocatable.
pub(crate) fn allocated_score(
    node: &crate::cell::sharing::ShareNode,
    free: &NodeFree,
    pod: &PodShape,
    per_resource: impl Fn(u128, u128) -> u128,
) -> i64 {
    let gpu_capacity = u64::from(node.gpus) * u64::from(MILLI);
    let resources = [
        (node.cpu_milli, free.cpu_milli, pod.cpu_milli),
        (node.memory_mib, free.memory_mib, pod.memory_mib),
        (
            Some(gpu_capacity),
            free.gpu_milli_total(),
            pod.total_gpu_milli(),
        ),
    ];
    let (mut sum, mut weights) = (0u128, 0u128);
    for (allocatable, left, request) in resources {
        let Some(allocatable) = allocatable.filter(|&a| a > 0) else {
            continue;
        };
        let requested = (allocatable.saturating_sub(left) + request).min(allocatable);
        sum += per_resource(u128::from(requested), u128::from(allocatable));
        weights += 1;
    }
    if weights == 0 {
        return 0;
    }
    i64::try_from(sum / weights).unwrap_or(0)
}

/// A node's CPU left as the artifact sees it: unlimited counts as the largest node.
pub(crate) fn cpu_left(free: &NodeFree) -> f64 {
    if free.cpu_milli == u64::MAX {
        MAX_SPEC_CPU
    } else {
        free.cpu_milli as f64
    }
}

/// Milli-GPUs in one GPU, as a float.
pub(crate) const MILLI_F: f64 = MILLI as f64;

#[cfg(test)]
pub(crate) mod test_support {
    //! The hand-made two-node cluster of the scorer tests.
    use crate::cell::sharing::{PodShape, ShareNode, SharedCluster, Slot};

    /// Two 4-GPU T4 nodes with 32 CPUs and 128 GiB: `a` and `b`. `a` holds a 500-milli
    /// pod on GPU 0 (8 CPUs), `b` holds a 2-GPU pod on GPUs 0-1 (16 CPUs) and a
    /// 300-milli pod on GPU 2 (4 CPUs).
    pub fn two_nodes() -> SharedCluster {
        let node = |name: &str| ShareNode {
            name: name.into(),
            cpu_milli: Some(32_000),
            memory_mib: Some(131_072),
            gpus: 4,
            gpu_model: "T4".into(),
        };
        let mut c = SharedCluster::new(vec![node("a"), node("b")]);
        c.allocate(
            &pod(8000, 1, 500),
            Slot {
                node: 0,
                gpus: vec![0],
            },
        )
        .unwrap();
        c.allocate(
            &pod(16_000, 2, 1000),
            Slot {
                node: 1,
                gpus: vec![0, 1],
            },
        )
        .unwrap();
        c.allocate(
            &pod(4000, 1, 300),
            Slot {
                node: 1,
                gpus: vec![2],
            },
        )
        .unwrap();
        c
    }

    /// Where `scorer` puts `pod` on [`two_nodes`] (random draws seeded with 0).
    pub fn place_on_two_nodes(mut scorer: impl super::Scorer, pod: &PodShape) -> Slot {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        scorer
            .place(&two_nodes(), pod, &mut rng)
            .expect("the pod fits one of the two nodes")
    }

    /// Node `node`'s GPUs `gpus`.
    pub fn slot(node: usize, gpus: &[u16]) -> Slot {
        Slot {
            node,
            gpus: gpus.to_vec(),
        }
    }

    /// A pod of `cpu` milli-CPUs, 1 GiB and `num_gpu` x `milli`.
    pub fn pod(cpu: u64, num_gpu: u32, milli: u32) -> PodShape {
        PodShape {
            cpu_milli: cpu,
            memory_mib: 1024,
            num_gpu,
            gpu_milli: milli,
            gpu_spec: String::new(),
        }
    }
}
