//! `bestfit` (the artifact's `BestFitScore`): the node whose CPU and GPU left after the
//! pod, each normalised by the largest node (128 CPUs, 8 GPUs) and weighted one half,
//! add up to least: score `int((1 - sum) * 100)`. GPUs: the artifact's best fit.

use rand_chacha::ChaCha8Rng;

use super::{MAX_NODE_SCORE, MAX_SPEC_CPU, MAX_SPEC_GPU, Scorer, cpu_left, place_scored};
use crate::cell::sharing::{PodShape, SharedCluster, Slot};

/// Best fit on CPU and GPU.
#[derive(Debug, Clone, Copy)]
pub struct BestFit;

impl Scorer for BestFit {
    fn name(&self) -> &'static str {
        "bestfit"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        _: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        let cpu_req = pod.cpu_milli as f64;
        let gpu_req = pod.total_gpu_milli() as f64;
        place_scored(cluster, pod, |_, free| {
            let left = (cpu_left(free) - cpu_req) / MAX_SPEC_CPU * 0.5
                + (free.gpu_milli_total() as f64 - gpu_req) / MAX_SPEC_GPU * 0.5;
            ((1.0 - left) * MAX_NODE_SCORE as f64) as i64
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{place_on_two_nodes, pod, slot};

    #[test]
    fn a_whole_gpu_goes_where_least_cpu_and_gpu_stay_free() {
        // a: 1 - (20000/128000 + 2500/8000)/2 = 0.77; b: 1 - (8000/128000 + 700/8000)/2 = 0.93.
        assert_eq!(
            place_on_two_nodes(BestFit, &pod(4000, 1, 1000)),
            slot(1, &[3])
        );
    }
}
