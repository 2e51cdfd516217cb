//! `gpu-packing` (the artifact's `GpuPackingScore`): prefer, in this order, a node where
//! the pod fits on partly used GPUs (score 50..100, higher the less those GPUs have
//! left), a partly used node where it needs fully free GPUs (33..50, fewer free GPUs
//! used is better), an idle node (up to 33, fewer GPUs is better). CPU-only pods score
//! 0 everywhere (so they go to the first node by name). GPUs: the artifact's best fit.

use rand_chacha::ChaCha8Rng;

use super::{MAX_NODE_SCORE, Scorer, place_scored};
use crate::cell::sharing::{MILLI, NodeFree, PodShape, SharedCluster, Slot};

/// Packing onto used GPUs first.
#[derive(Debug, Clone, Copy)]
pub struct GpuPacking;

/// The artifact's `getPackingScore` for a node the pod fits.
fn packing_score(free: &NodeFree, pod: &PodShape) -> i64 {
    if !pod.wants_gpu() {
        return 0;
    }
    let fully_free = free.fully_free_gpus() as i64;
    if fully_free == free.gpu_milli.len() as i64 {
        return (MAX_NODE_SCORE / 3 - fully_free).max(fully_free);
    }
    // GPUs by milli left, least first (stable: equal lefts by index).
    let mut order: Vec<usize> = (0..free.gpu_milli.len()).collect();
    order.sort_by_key(|&i| free.gpu_milli[i]);
    let mut wanted = pod.num_gpu;
    let mut fully_free_used = 0i64;
    let mut used: Vec<usize> = Vec::new();
    for i in order {
        if wanted == 0 {
            break;
        }
        let left = free.gpu_milli[i];
        if pod.gpu_milli <= left {
            wanted -= 1;
            used.push(i);
            if left == MILLI {
                fully_free_used += 1;
            }
        }
    }
    if fully_free_used > 0 {
        return (MAX_NODE_SCORE / 2 - fully_free_used).max(MAX_NODE_SCORE / 3);
    }
    let free_percent: i64 = used
        .iter()
        .map(|&i| i64::from(free.gpu_milli[i]) * 100 / i64::from(MILLI))
        .sum();
    (MAX_NODE_SCORE - free_percent / 10).max(MAX_NODE_SCORE / 2)
}

impl Scorer for GpuPacking {
    fn name(&self) -> &'static str {
        "gpu-packing"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        _: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        place_scored(cluster, pod, |_, free| packing_score(free, pod))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{place_on_two_nodes, pod, slot};

    #[test]
    fn a_share_goes_onto_the_used_gpu_with_most_left_over_less() {
        // a: GPU 0 has 500 left -> 100 - 50/10 = 95; b: GPU 2 has 700 -> 93.
        assert_eq!(
            place_on_two_nodes(GpuPacking, &pod(1000, 1, 200)),
            slot(0, &[0])
        );
    }
}
