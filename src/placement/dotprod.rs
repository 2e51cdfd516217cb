//! `dotprod` (the artifact's `DotProductScore` with the experiment's `merge` dimensions
//! and `max` normalisation): the node whose free (CPU, GPU) vector, each divided by the
//! largest node (128 CPUs, 8 GPUs), has the smallest dot product with the pod's request
//! divided the same way: score `int((1 - dot / 2) * 100)`. GPUs: the artifact's best fit.

use rand_chacha::ChaCha8Rng;

use super::{MAX_NODE_SCORE, MAX_SPEC_CPU, MAX_SPEC_GPU, Scorer, cpu_left, place_scored};
use crate::cell::sharing::{PodShape, SharedCluster, Slot};

/// Dot product of free resources and request.
#[derive(Debug, Clone, Copy)]
pub struct DotProd;

impl Scorer for DotProd {
    fn name(&self) -> &'static str {
        "dotprod"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        _: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        let cpu_req = pod.cpu_milli as f64 / MAX_SPEC_CPU;
        let gpu_req = pod.total_gpu_milli() as f64 / MAX_SPEC_GPU;
        place_scored(cluster, pod, |_, free| {
            let dot = cpu_left(free) / MAX_SPEC_CPU * cpu_req
                + free.gpu_milli_total() as f64 / MAX_SPEC_GPU * gpu_req;
            ((1.0 - dot / 2.0) * MAX_NODE_SCORE as f64) as i64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{place_on_two_nodes, pod, slot};

    #[test]
    fn a_large_pod_goes_where_free_resources_align_least() {
        // a: 1 - (0.1875*0.09375 + 0.4375*0.125)/2 = 0.96; b: 1 - (0.09375*0.09375 + 0.2125*0.125)/2 = 0.98.
        assert_eq!(
            place_on_two_nodes(DotProd, &pod(12_000, 1, 1000)),
            slot(1, &[3])
        );
    }
}
