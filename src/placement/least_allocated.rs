//! `least-allocated`: kube-scheduler's `NodeResourcesFit` scoring strategy
//! `LeastAllocated` (spreading): per resource the share of the node's allocatable left
//! after the pod, `(allocatable - requested) * 100 / allocatable`, averaged with weight 1
//! over CPU, memory and GPUs (`nvidia.com/gpu` added with weight 1, as a GPU cluster
//! configures it); the highest score wins, so pods spread over the emptiest nodes.
//! GPUs on the node: the best fit, as every scorer.

use rand_chacha::ChaCha8Rng;

use super::{Scorer, allocated_score, place_scored};
use crate::cell::sharing::{PodShape, SharedCluster, Slot};

/// Spreading by free share of CPU, memory and GPU.
#[derive(Debug, Clone, Copy)]
pub struct LeastAllocated;

impl Scorer for LeastAllocated {
    fn name(&self) -> &'static str {
        "least-allocated"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        _: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        place_scored(cluster, pod, |i, free| {
            allocated_score(&cluster.nodes()[i], free, pod, |requested, allocatable| {
                (allocatable - requested) * super::MAX_NODE_SCORE as u128 / allocatable
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{place_on_two_nodes, pod, slot};

    #[test]
    fn a_pod_spreads_to_the_emptier_node() {
        // a: CPU (32-8-1)/32 = 71, memory 98, GPU (4000-500-1000)/4000 = 62 -> 77;
        // b: CPU (32-20-1)/32 = 34, memory 97, GPU (4000-2300-1000)/4000 = 17 -> 49.
        assert_eq!(
            place_on_two_nodes(LeastAllocated, &pod(1000, 1, 1000)),
            slot(0, &[1])
        );
    }
}
