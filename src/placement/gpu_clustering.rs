//! `gpu-clustering` (the artifact's `GpuClusteringScore`): keep pods of one GPU shape
//! together. A pod's tag is `share` or `N-gpu`; a node whose only tag is the pod's scores
//! 75..100, a node with the pod's tag among others 50..75, an idle node 25..50, a node
//! with other tags only 0..25; within a band, the less GPU left the higher
//! (`25 * (8000 - left) / 8000`, integer). CPU-only pods score 0 everywhere. GPUs: the
//! artifact's best fit.

use rand_chacha::ChaCha8Rng;

use super::{MAX_NODE_SCORE, MAX_SPEC_GPU, Scorer, place_scored};
use crate::cell::sharing::{PodShape, SharedCluster, Slot};

/// Clustering pods by GPU shape.
#[derive(Debug, Clone, Copy)]
pub struct GpuClustering;

impl Scorer for GpuClustering {
    fn name(&self) -> &'static str {
        "gpu-clustering"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        _: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        let tag = pod.affinity();
        let spec = MAX_SPEC_GPU as i64;
        place_scored(cluster, pod, |_, free| {
            let Some(tag) = &tag else {
                return 0;
            };
            let fill = MAX_NODE_SCORE / 4 * (spec - free.gpu_milli_total() as i64) / spec;
            let band = if free.affinity.get(tag).copied().unwrap_or(0) > 0 {
                if free.affinity.len() == 1 { 3 } else { 2 }
            } else if free.affinity.is_empty() {
                1
            } else {
                0
            };
            fill + MAX_NODE_SCORE * band / 4
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{place_on_two_nodes, pod, slot};

    #[test]
    fn a_share_joins_the_node_holding_only_shares() {
        // a holds only a share (75 + 14); b holds a share and a 2-GPU pod (50 + 19).
        assert_eq!(
            place_on_two_nodes(GpuClustering, &pod(1000, 1, 200)),
            slot(0, &[0])
        );
        // A 1-GPU pod has no tag anywhere: the fuller node wins within the lowest band.
        assert_eq!(
            place_on_two_nodes(GpuClustering, &pod(1000, 1, 1000)),
            slot(1, &[3])
        );
    }
}
