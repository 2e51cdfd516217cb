//! One fill run: one placement, one seed. Pods arrive in the sampler's order and are
//! placed one at a time, never released; a pod that fits nowhere stays unplaced. After
//! every pod the GPU milli arrived, allocated and fragmented (against the typical shapes)
//! is noted; [`bin_curve`] turns these into one point per whole percent of arrived demand
//! the way the artifact's analysis does.

use rand_chacha::ChaCha8Rng;

use super::input::FillPod;
use crate::cell::sharing::SharedCluster;
use crate::placement::{FragCache, Scorer, TypicalPods};

/// One point of a run's curve.
#[derive(Debug, Clone, PartialEq)]
pub struct CurvePoint {
    /// Arrived GPU demand, in whole percent of the cluster's GPU capacity.
    pub arrived_pct: u32,
    /// Milli-GPUs allocated, in percent of capacity.
    pub allocated_pct: f64,
    /// Fragmented milli-GPUs (summed over nodes), in percent of capacity.
    pub fragmented_pct: f64,
}

/// What one run gives.
#[derive(Debug, Clone, PartialEq)]
pub struct FillRun {
    /// The placement's name.
    pub placement: String,
    /// The seed.
    pub seed: u64,
    /// Pods that arrived.
    pub pods: usize,
    /// Pods that fitted nowhere.
    pub unplaced: usize,
    /// One point per whole percent of arrived demand.
    pub curve: Vec<CurvePoint>,
}

/// The state after one pod: (arrived %, allocated %, fragmented %), unrounded.
type Sample = (f64, f64, f64);

/// Places `order` (indices into `pods`) onto a copy of `cluster` with `scorer`.
pub fn run(
    cluster: &SharedCluster,
    pods: &[FillPod],
    order: &[usize],
    scorer: &mut dyn Scorer,
    typical: &TypicalPods,
    rng: &mut ChaCha8Rng,
    seed: u64,
) -> FillRun {
    let mut cluster = cluster.clone();
    let ranks = super::sampler::tie_ranks(&cluster, rng);
    cluster.set_tie_ranks(ranks);
    let capacity = cluster.gpu_capacity_milli().max(1) as f64;
    // Fragmentation is measured with a cache of its own, so that the measure does not
    // depend on what the scorer looked at.
    let mut frag = FragCache::new(&cluster, typical.clone());
    let mut node_frag: Vec<f64> = (0..cluster.nodes().len())
        .map(|i| frag.node(i, cluster.free(i)))
        .collect();
    let mut arrived: u64 = 0;
    let mut used: u64 = 0;
    let mut unplaced = 0;
    let mut samples: Vec<Sample> = Vec::with_capacity(order.len());
    for &i in order {
        let shape = &pods[i].shape;
        arrived += shape.total_gpu_milli();
        let placed = scorer
            .place(&cluster, shape, rng)
            .and_then(|slot| cluster.allocate(shape, slot).ok());
        match placed {
            Some(grant) => {
                used += shape.total_gpu_milli();
                let node = grant.slot.node;
                node_frag[node] = frag.node(node, cluster.free(node));
            }
            None => unplaced += 1,
        }
        let fragmented: f64 = node_frag.iter().sum();
        samples.push((
            arrived as f64 / capacity * 100.0,
            used as f64 / capacity * 100.0,
            fragmented / capacity * 100.0,
        ));
    }
    FillRun {
        placement: scorer.name().to_string(),
        seed,
        pods: order.len(),
        unplaced,
        curve: bin_curve(&samples),
    }
}

/// Rounds to `places` decimals, halves to even (as the artifact's Python `round`).
fn round_to(x: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (x * scale).round_ties_even() / scale
}

/// One point per whole percent `p` of arrived demand, up to the last: the mean of the
/// samples whose arrived % rounds to `p`, or, when none does, of those within one
/// percent of it; skipped when there are none either. Allocation is rounded to two
/// decimals before averaging (the artifact's `merge_alloc_discrete.py`).
pub fn bin_curve(samples: &[Sample]) -> Vec<CurvePoint> {
    let rounded: Vec<(f64, f64, f64)> = samples
        .iter()
        .map(|&(a, u, f)| (round_to(a, 0), round_to(u, 2), f))
        .collect();
    let last = rounded.iter().map(|s| s.0).fold(0.0, f64::max) as u32;
    let mut curve = Vec::new();
    for p in 0..=last {
        let pf = f64::from(p);
        let mut pick: Vec<&(f64, f64, f64)> = rounded.iter().filter(|s| s.0 == pf).collect();
        if pick.is_empty() {
            pick = rounded
                .iter()
                .filter(|s| s.0 >= pf - 1.0 && s.0 <= pf + 1.0)
                .collect();
        }
        if pick.is_empty() {
            continue;
        }
        let n = pick.len() as f64;
        curve.push(CurvePoint {
            arrived_pct: p,
            allocated_pct: round_to(pick.iter().map(|s| s.1).sum::<f64>() / n, 2),
            fragmented_pct: pick.iter().map(|s| s.2).sum::<f64>() / n,
        });
    }
    curve
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_average_the_samples_of_each_percent() {
        let curve = bin_curve(&[
            (0.4, 0.4, 0.0),
            (1.2, 1.0, 1.0),
            (0.9, 0.8, 3.0),
            (3.0, 2.0, 0.0),
        ]);
        let arrived: Vec<u32> = curve.iter().map(|p| p.arrived_pct).collect();
        assert_eq!(arrived, vec![0, 1, 2, 3], "2 is filled from its neighbours");
        assert_eq!(curve[1].allocated_pct, 0.9);
        assert_eq!(curve[1].fragmented_pct, 2.0);
    }
}
