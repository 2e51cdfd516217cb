//! The FGD paper's workload inflation (the artifact's `SortClusterPods` with shuffling and
//! `TunePodsByNodeTotalResource`): per seed, the pods sorted by name are shuffled; when
//! their total GPU request is below `ratio` x the cluster's GPU capacity, pods drawn
//! uniformly with replacement from the list are appended until the next one would pass
//! it; when above, pods drawn at random are removed until it is not. The same seed gives
//! the same sequence, whatever the placement.

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::input::FillPod;
use crate::cell::sharing::SharedCluster;

/// The arrival sequence (indices into `pods`) for `seed`, and the run's generator after
/// drawing it (the `random` placement goes on drawing from it).
pub fn inflate(
    pods: &[FillPod],
    capacity_milli: u64,
    ratio: f64,
    seed: u64,
) -> (Vec<usize>, ChaCha8Rng) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..pods.len()).collect();
    order.sort_by(|&a, &b| pods[a].name.cmp(&pods[b].name).then(a.cmp(&b)));
    order.shuffle(&mut rng);
    let target = ratio * capacity_milli as f64;
    let demand = |i: usize| pods[i].shape.total_gpu_milli();
    let mut total: u64 = order.iter().map(|&i| demand(i)).sum();
    if (total as f64) > target {
        while (total as f64) > target && !order.is_empty() {
            let k = rng.random_range(0..order.len());
            total -= demand(order.remove(k));
        }
    } else if !pods.is_empty() && pods.iter().any(|p| p.shape.total_gpu_milli() > 0) {
        loop {
            let i = rng.random_range(0..pods.len());
            if (total + demand(i)) as f64 > target {
                break;
            }
            total += demand(i);
            order.push(i);
        }
    }
    (order, rng)
}

/// A seeded tie order for `cluster`'s nodes (see [`SharedCluster::set_tie_ranks`]):
/// the artifact prefixes the name-sorted nodes with `rand.Perm`, drawn after the pods.
pub fn tie_ranks(cluster: &SharedCluster, rng: &mut ChaCha8Rng) -> Vec<u32> {
    let mut perm: Vec<u32> = (0..cluster.nodes().len() as u32).collect();
    perm.shuffle(rng);
    let mut ranks = vec![0u32; perm.len()];
    for (k, node) in cluster.name_order().into_iter().enumerate() {
        ranks[node] = perm[k];
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::sharing::PodShape;

    fn pods() -> Vec<FillPod> {
        (0..50)
            .map(|i| FillPod {
                name: format!("p{i:02}"),
                shape: PodShape {
                    cpu_milli: 1000,
                    memory_mib: 10,
                    num_gpu: 1,
                    gpu_milli: [1000, 500, 250][i % 3],
                    gpu_spec: String::new(),
                },
            })
            .collect()
    }

    #[test]
    fn same_seed_same_sequence_other_seed_other_sequence() {
        let p = pods();
        let (a, _) = inflate(&p, 20_000, 1.3, 42);
        let (b, _) = inflate(&p, 20_000, 1.3, 42);
        let (c, _) = inflate(&p, 20_000, 1.3, 43);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn demand_stops_just_below_the_target() {
        let p = pods();
        let (order, _) = inflate(&p, 20_000, 2.0, 1);
        let total: u64 = order.iter().map(|&i| p[i].shape.total_gpu_milli()).sum();
        assert!(total <= 40_000 && total > 40_000 - 1000, "{total}");
        // Every original pod arrives before any drawn copy.
        let mut first: Vec<usize> = order[..50].to_vec();
        first.sort();
        assert_eq!(first, (0..50).collect::<Vec<_>>());
    }

    #[test]
    fn too_much_demand_is_pruned() {
        let p = pods();
        let (order, _) = inflate(&p, 10_000, 1.0, 5);
        let total: u64 = order.iter().map(|&i| p[i].shape.total_gpu_milli()).sum();
        assert!(total <= 10_000 && order.len() < 50);
    }
}
