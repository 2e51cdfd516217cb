//! GPU fragmentation as the FGD paper defines it, and the workload's target pod shapes
//! ([`TypicalPods`]) it is measured against.
//!
//! A node's fragmentation ([`node_frag`]) is the expected number of its idle milli-GPUs
//! that a pod drawn from the typical shapes could not use: for each typical shape with
//! frequency `p`, the node's idle GPU milli is sorted into the artifact's seven classes
//! (Q1 lacks GPU and CPU, Q2 lacks GPU, Q3 fits, Q4 lacks CPU, XL/XR a CPU-only pod that
//! fits / does not, NA the shape's `gpu_spec` excludes the node); everything but Q3
//! counts, and of a Q3 node the GPUs with less left than the shape's share count.
//! (`NodeGpuShareFragAmountScore` in the artifact's `pkg/utils/frag.go`.)
//!
//! [`FragCache`] remembers fragmentation per node state (model, CPU left, sorted GPU
//! lefts): the value depends on nothing else, and the same states recur across nodes.

use std::collections::HashMap;

use crate::cell::sharing::{NodeFree, PodShape, SharedCluster};

/// The workload's distribution of pod shapes, as the FGD artifact estimates it
/// (`GetTypicalPods`): shapes (CPU, GPU share, GPU count, GPU models; memory is not part
/// of a shape) counted over the whole pod list, CPU-only pods included, most frequent
/// first (ties: the larger shape first), taken one at a time until they cover 95% of
/// the pods, with frequencies renormalised over the shapes taken.
#[derive(Debug, Clone, PartialEq)]
pub struct TypicalPods {
    /// (shape, frequency); frequencies sum to 1. Memory is 0 in every shape.
    pub shapes: Vec<(PodShape, f64)>,
}

/// The share of pods the typical shapes must cover (the artifact's
/// `podPopularityThreshold` of its experiment scripts, 95).
pub const POPULARITY_PERCENT: f64 = 95.0;

impl TypicalPods {
    /// The typical shapes of `pods`.
    pub fn from_pods<'a>(pods: impl IntoIterator<Item = &'a PodShape>) -> TypicalPods {
        let mut counts: HashMap<PodShape, f64> = HashMap::new();
        let mut total = 0.0;
        for pod in pods {
            let shape = PodShape {
                memory_mib: 0,
                ..pod.clone()
            };
            *counts.entry(shape).or_insert(0.0) += 1.0;
            total += 1.0;
        }
        let mut list: Vec<(PodShape, f64)> = counts.into_iter().collect();
        // Decreasing count; equal counts: the larger shape (CPU, share, count, models) first.
        list.sort_by(|(a, ca), (b, cb)| {
            cb.total_cmp(ca).then_with(|| {
                (b.cpu_milli, b.gpu_milli, b.num_gpu, &b.gpu_spec).cmp(&(
                    a.cpu_milli,
                    a.gpu_milli,
                    a.num_gpu,
                    &a.gpu_spec,
                ))
            })
        });
        let expected = POPULARITY_PERCENT * total / 100.0;
        let mut cumulative = 0.0;
        let mut taken = 0;
        while cumulative < expected && taken < list.len() {
            cumulative += list[taken].1;
            taken += 1;
        }
        list.truncate(taken);
        for (_, freq) in &mut list {
            *freq /= cumulative;
        }
        TypicalPods { shapes: list }
    }
}

/// The artifact's fragment classes, in its order.
const Q1_LACK_BOTH: usize = 0;
const Q2_LACK_GPU: usize = 1;
const Q3_SATISFIED: usize = 2;
const Q4_LACK_CPU: usize = 3;
const XL_SATISFIED: usize = 4;
const XR_LACK_CPU: usize = 5;
const NO_ACCESS: usize = 6;

/// The fragmentation (milli-GPUs) of a node of GPU model `model` with `cpu_left`
/// milli-CPUs and `gpu_left` milli-GPUs per GPU, against `typical`.
pub fn node_frag(model: &str, cpu_left: u64, gpu_left: &[u32], typical: &TypicalPods) -> f64 {
    let total: u64 = gpu_left.iter().map(|&m| u64::from(m)).sum();
    if total == 0 {
        return 0.0;
    }
    let total_f = total as f64;
    // Summed per class, then over classes, in the artifact's order, so that the floats
    // (and the integer scores made from them) come out the same.
    let mut data = [0.0f64; 7];
    for (shape, freq) in &typical.shapes {
        let cpu_fits = cpu_left >= shape.cpu_milli;
        if !shape.wants_gpu() {
            let class = if cpu_fits { XL_SATISFIED } else { XR_LACK_CPU };
            data[class] += freq * total_f;
            continue;
        }
        if !shape.gpu_spec.is_empty() && (model.is_empty() || !shape.allows_model(model)) {
            data[NO_ACCESS] += freq * total_f;
            continue;
        }
        let hosting = gpu_left.iter().filter(|&&m| m >= shape.gpu_milli).count();
        if hosting >= shape.num_gpu as usize {
            if cpu_fits {
                let stranded: u64 = gpu_left
                    .iter()
                    .filter(|&&m| m < shape.gpu_milli)
                    .map(|&m| u64::from(m))
                    .sum();
                data[Q2_LACK_GPU] += freq * stranded as f64;
                data[Q3_SATISFIED] += freq * (total - stranded) as f64;
            } else {
                data[Q4_LACK_CPU] += freq * total_f;
            }
        } else {
            let class = if cpu_fits { Q2_LACK_GPU } else { Q1_LACK_BOTH };
            data[class] += freq * total_f;
        }
    }
    data.iter()
        .enumerate()
        .filter(|(i, _)| *i != Q3_SATISFIED)
        .map(|(_, v)| v)
        .sum()
}

/// Key of a node state: model id, CPU left, GPU count, sorted GPU lefts packed 10 bits each.
type StateKey = (u16, u64, u8, u128);

/// [`node_frag`] with a memory of node states, for one cluster and one workload.
#[derive(Debug, Clone)]
pub struct FragCache {
    typical: TypicalPods,
    /// Per node: its model's id and name.
    node_model: Vec<(u16, String)>,
    seen: HashMap<StateKey, f64>,
    sorted: Vec<u32>,
}

/// Nodes with more GPUs than this are not cached (their key would not fit a `u128`).
const MAX_CACHED_GPUS: usize = 12;

impl FragCache {
    /// A cache for `cluster`'s nodes against `typical`.
    pub fn new(cluster: &SharedCluster, typical: TypicalPods) -> FragCache {
        let mut models: Vec<String> = Vec::new();
        let node_model = cluster
            .nodes()
            .iter()
            .map(|n| {
                let id = match models.iter().position(|m| *m == n.gpu_model) {
                    Some(id) => id,
                    None => {
                        models.push(n.gpu_model.clone());
                        models.len() - 1
                    }
                };
                (id as u16, n.gpu_model.clone())
            })
            .collect();
        FragCache {
            typical,
            node_model,
            seen: HashMap::new(),
            sorted: Vec::new(),
        }
    }

    /// The typical shapes it measures against.
    pub fn typical(&self) -> &TypicalPods {
        &self.typical
    }

    /// Fragmentation of node `node` if it had `cpu_left` and `gpu_left`.
    pub fn frag(&mut self, node: usize, cpu_left: u64, gpu_left: &[u32]) -> f64 {
        let (model_id, model) = &self.node_model[node];
        if gpu_left.len() > MAX_CACHED_GPUS {
            return node_frag(model, cpu_left, gpu_left, &self.typical);
        }
        self.sorted.clear();
        self.sorted.extend_from_slice(gpu_left);
        self.sorted.sort_unstable();
        let packed = self
            .sorted
            .iter()
            .fold(0u128, |acc, &m| (acc << 10) | u128::from(m.min(1023)));
        let key = (*model_id, cpu_left, gpu_left.len() as u8, packed);
        if let Some(v) = self.seen.get(&key) {
            return *v;
        }
        let v = node_frag(model, cpu_left, gpu_left, &self.typical);
        self.seen.insert(key, v);
        v
    }

    /// Fragmentation of node `node` as it is.
    pub fn node(&mut self, node: usize, free: &NodeFree) -> f64 {
        self.frag(node, free.cpu_milli, &free.gpu_milli)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::test_support::pod;

    #[test]
    fn typical_pods_cover_95_percent_most_frequent_first() {
        let mut pods = vec![pod(1000, 1, 1000); 90];
        pods.extend(vec![pod(2000, 1, 500); 6]);
        pods.extend(vec![pod(3000, 0, 0); 4]);
        let t = TypicalPods::from_pods(&pods);
        assert_eq!(t.shapes.len(), 2, "90 + 6 >= 95: the CPU pods are left out");
        assert_eq!(t.shapes[0].0.cpu_milli, 1000);
        assert!((t.shapes[0].1 - 90.0 / 96.0).abs() < 1e-12);
    }

    #[test]
    fn fragment_counts_gpus_a_typical_pod_cannot_use() {
        let t = TypicalPods {
            shapes: vec![(pod(1000, 1, 600), 1.0)],
        };
        // 500 cannot hold 600: stranded; 1000 can.
        assert_eq!(node_frag("T4", 10_000, &[500, 1000], &t), 500.0);
        // Not enough CPU: every idle milli counts.
        assert_eq!(node_frag("T4", 500, &[500, 1000], &t), 1500.0);
        let mut spec = pod(1000, 1, 600);
        spec.gpu_spec = "P100".into();
        let t = TypicalPods {
            shapes: vec![(spec, 1.0)],
        };
        assert_eq!(node_frag("T4", 10_000, &[1000], &t), 1000.0);
    }
}
