//! `fgd` (fragmentation gradient descent, the artifact's `FGDScore`): the node, and for a
//! share the GPU, whose fragmentation ([`super::frag`]) against the workload's typical
//! pod shapes grows least when the pod is put there. Score
//! `int(sigmoid((frag_before - frag_after) / 1000) * 100)`; for a share every GPU it fits
//! is tried and the first best kept; whole GPUs are the lowest free ones (the node's
//! fragmentation after does not depend on which free GPUs are taken). As in the artifact,
//! a pod's CPU changes the node's CPU left; its memory does not enter fragmentation.

use rand_chacha::ChaCha8Rng;

use super::frag::{FragCache, TypicalPods};
use super::{MAX_NODE_SCORE, MILLI_F, Scorer, best_node};
use crate::cell::sharing::{MILLI, PodShape, SharedCluster, Slot};

/// Fragmentation gradient descent.
#[derive(Debug, Clone)]
pub struct Fgd {
    typical: TypicalPods,
    cache: Option<FragCache>,
    scratch: Vec<u32>,
}

impl Fgd {
    /// FGD against `typical`.
    pub fn new(typical: TypicalPods) -> Fgd {
        Fgd {
            typical,
            cache: None,
            scratch: Vec::new(),
        }
    }
}

/// The artifact's score of a fragmentation change.
fn score(before: f64, after: f64) -> i64 {
    let x = (before - after) / MILLI_F;
    (1.0 / (1.0 + (-x).exp()) * MAX_NODE_SCORE as f64) as i64
}

impl Scorer for Fgd {
    fn name(&self) -> &'static str {
        "fgd"
    }

    fn place(
        &mut self,
        cluster: &SharedCluster,
        pod: &PodShape,
        _: &mut ChaCha8Rng,
    ) -> Option<Slot> {
        if self.cache.is_none() {
            self.cache = Some(FragCache::new(cluster, self.typical.clone()));
        }
        let Fgd { cache, scratch, .. } = self;
        let cache = cache.as_mut()?;
        let (node, gpu) = best_node(cluster, pod, |i, free| {
            let before = cache.node(i, free);
            let cpu_after = if free.cpu_milli == u64::MAX {
                u64::MAX
            } else {
                free.cpu_milli - pod.cpu_milli
            };
            scratch.clear();
            scratch.extend_from_slice(&free.gpu_milli);
            if pod.is_shared() {
                let mut best: Option<(i64, u16)> = None;
                for g in 0..scratch.len() {
                    let left = free.gpu_milli[g];
                    // A GPU with the same left as an earlier one gives the same node
                    // state, so the same score; the earlier one is kept anyway.
                    if left < pod.gpu_milli || free.gpu_milli[..g].contains(&left) {
                        continue;
                    }
                    scratch[g] = left - pod.gpu_milli;
                    let s = score(before, cache.frag(i, cpu_after, scratch));
                    scratch[g] = left;
                    if best.is_none_or(|(b, _)| s > b) {
                        best = Some((s, g as u16));
                    }
                }
                let (s, g) = best.unwrap_or((0, 0));
                (s, Some(g))
            } else {
                if pod.wants_gpu() {
                    let mut wanted = pod.num_gpu;
                    for left in scratch.iter_mut() {
                        if wanted > 0 && *left == MILLI {
                            *left = 0;
                            wanted -= 1;
                        }
                    }
                }
                (score(before, cache.frag(i, cpu_after, scratch)), None)
            }
        })?;
        let gpus = match gpu {
            Some(g) => vec![g],
            None if pod.wants_gpu() => cluster
                .free(node)
                .lowest_free_gpus(pod.num_gpu)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Some(Slot { node, gpus })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::{place_on_two_nodes, pod, slot};

    #[test]
    fn a_share_goes_where_it_leaves_no_unusable_sliver() {
        // The workload is all 1-GPU pods. On b, 700 of GPU 2 is stranded; taking exactly
        // it removes the fragment (66). On a, the pod would strand 300 of a free GPU (42).
        let typical = TypicalPods {
            shapes: vec![(pod(1000, 1, 1000), 1.0)],
        };
        assert_eq!(
            place_on_two_nodes(Fgd::new(typical), &pod(1000, 1, 700)),
            slot(1, &[2])
        );
    }

    #[test]
    fn the_score_is_the_artifacts_sigmoid() {
        assert_eq!(score(700.0, 0.0), 66);
        assert_eq!(score(500.0, 800.0), 42);
        assert_eq!(score(0.0, 0.0), 50);
    }
}
