//! `random` (the artifact's `RandomScore` with random GPU selection): a node drawn
//! uniformly from those the pod fits (in name order) with the run's seeded generator; a
//! share takes a GPU drawn uniformly from those it fits, whole GPUs the lowest free ones.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::Scorer;
use crate::cell::sharing::{PodShape, SharedCluster, Slot};

/// Uniformly random placement.
#[derive(Debug, Clone, Copy)]
pub struct Random;

impl Scorer for Random {
    fn name(&self) -> &'static str {
        "random"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        rng: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        let mut fitting: Vec<usize> = (0..cluster.nodes().len())
            .filter(|&i| cluster.fits(i, pod))
            .collect();
        if fitting.is_empty() {
            return None;
        }
        fitting.sort_by_key(|&i| cluster.name_rank(i));
        let node = fitting[rng.random_range(0..fitting.len())];
        let free = cluster.free(node);
        let gpus = if pod.is_shared() {
            let fits: Vec<u16> = (0..free.gpu_milli.len())
                .filter(|&g| free.gpu_milli[g] >= pod.gpu_milli)
                .map(|g| g as u16)
                .collect();
            vec![fits[rng.random_range(0..fits.len())]]
        } else if pod.wants_gpu() {
            free.lowest_free_gpus(pod.num_gpu).unwrap_or_default()
        } else {
            Vec::new()
        };
        Some(Slot { node, gpus })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{pod, two_nodes};
    use rand::SeedableRng;

    #[test]
    fn draws_only_fitting_nodes_and_repeats_per_seed() {
        let c = two_nodes();
        // Two whole GPUs fit only node a.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..20 {
            let slot = Random.place(&c, &pod(1000, 2, 1000), &mut rng).unwrap();
            assert_eq!(slot.node, 0);
        }
        let draw = |seed| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            (0..20)
                .map(|_| Random.place(&c, &pod(1000, 1, 200), &mut rng).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        let nodes: std::collections::BTreeSet<usize> = draw(3).iter().map(|s| s.node).collect();
        assert_eq!(nodes.len(), 2, "both nodes are drawn");
    }
}
