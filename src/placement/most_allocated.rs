//! `most-allocated`: kube-scheduler's `NodeResourcesFit` scoring strategy
//! `MostAllocated` (bin packing): per resource the share of the node's allocatable taken
//! once the pod is on it, `requested * 100 / allocatable`, averaged with weight 1 over
//! CPU, memory and GPUs (`nvidia.com/gpu` added with weight 1); the highest score wins,
//! so pods pack onto the fullest nodes. GPUs on the node: the best fit, as every scorer.

use rand_chacha::ChaCha8Rng;

use super::{Scorer, allocated_score, place_scored};
use crate::cell::sharing::{PodShape, SharedCluster, Slot};

/// Packing by taken share of CPU, memory and GPU.
#[derive(Debug, Clone, Copy)]
pub struct MostAllocated;

impl Scorer for MostAllocated {
    fn name(&self) -> &'static str {
        "most-allocated"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        _: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        place_scored(cluster, pod, |i, free| {
            allocated_score(&cluster.nodes()[i], free, pod, |requested, allocatable| {
                requested * super::MAX_NODE_SCORE as u128 / allocatable
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{place_on_two_nodes, pod, slot};

    #[test]
    fn a_pod_packs_onto_the_fuller_node() {
        // a: CPU 9/32 = 28, memory 1, GPU 1500/4000 = 37 -> 22;
        // b: CPU 21/32 = 65, memory 2, GPU 3300/4000 = 82 -> 49.
        assert_eq!(
            place_on_two_nodes(MostAllocated, &pod(1000, 1, 1000)),
            slot(1, &[3])
        );
    }
}
