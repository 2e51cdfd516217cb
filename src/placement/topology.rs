//! `topology`: cellsim's default placement on a shared cluster, the node-level form of
//! the HiveD allocator's packing: among the nodes the pod fits, the one with the fewest
//! milli-GPUs left once the pod is on it (so partly used nodes fill up before empty ones
//! are opened); the tightest GPU for a share, the lowest free GPUs otherwise.

use rand_chacha::ChaCha8Rng;

use super::{Scorer, place_scored};
use crate::cell::sharing::{PodShape, SharedCluster, Slot};

/// The default placement.
#[derive(Debug, Clone, Copy)]
pub struct Topology;

impl Scorer for Topology {
    fn name(&self) -> &'static str {
        "topology"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        _: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        let asked = pod.total_gpu_milli() as i64;
        place_scored(cluster, pod, |_, free| {
            -(free.gpu_milli_total() as i64 - asked)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{place_on_two_nodes, pod, slot};

    #[test]
    fn a_share_goes_to_the_fuller_node_on_its_tightest_gpu() {
        assert_eq!(
            place_on_two_nodes(Topology, &pod(1000, 1, 200)),
            slot(1, &[2])
        );
    }
}
