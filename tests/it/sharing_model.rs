//! Model test of GPU sharing (`cell::sharing`, issue 18): random clusters of nodes with
//! CPU, memory and GPUs, random pods (CPU-only, shares of one GPU, whole GPUs, with and
//! without `gpu_spec`) placed by every scorer or at random slots (valid or not), and
//! random releases; after every step, checked against a reference kept here: no GPU
//! holds more than 1000 milli, no node more CPU or memory than it has, what is left plus
//! what is held equals capacity, a refused allocation changes nothing, a placed pod fits
//! its model restriction, and releasing everything gives back the empty cluster.

use cellsim::cell::sharing::{Grant, MILLI, PodShape, ShareNode, SharedCluster, Slot};
use cellsim::placement::{self, NAMES, TypicalPods};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const MODELS: [&str; 3] = ["T4", "P100", "V100M16"];

fn node_strategy() -> impl Strategy<Value = ShareNode> {
    (
        prop::option::weighted(0.8, 1u64..=16),
        prop::option::weighted(0.8, 1u64..=16),
        prop::sample::select(vec![0u32, 1, 2, 4, 8]),
        0usize..3,
    )
        .prop_map(|(cpus, mem, gpus, model)| ShareNode {
            name: String::new(),
            cpu_milli: cpus.map(|c| c * 4000),
            memory_mib: mem.map(|m| m * 8192),
            gpus,
            gpu_model: if gpus == 0 {
                String::new()
            } else {
                MODELS[model].to_string()
            },
        })
}

fn pod_strategy() -> impl Strategy<Value = PodShape> {
    (
        0u64..=24,
        0u64..=24,
        prop_oneof![
            Just((0u32, 0u32)),
            (1u32..1000).prop_map(|m| (1, m)),
            prop::sample::select(vec![1u32, 2, 4, 8]).prop_map(|n| (n, 1000)),
        ],
        prop_oneof![
            3 => Just(String::new()),
            1 => prop::sample::select(vec!["T4", "P100|V100M16", "V100M16"]).prop_map(String::from),
        ],
    )
        .prop_map(|(cpu, mem, (num_gpu, gpu_milli), spec)| PodShape {
            cpu_milli: cpu * 1000,
            memory_mib: mem * 2048,
            num_gpu,
            gpu_milli,
            gpu_spec: spec,
        })
}

#[derive(Debug, Clone)]
enum Step {
    /// Place a pod with scorer `NAMES[k]`.
    Place(PodShape, usize),
    /// Try a raw slot (node, gpus), often invalid.
    Raw(PodShape, usize, Vec<u16>),
    /// Release the held grant at this index (mod held).
    Release(usize),
}

fn step_strategy() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => (pod_strategy(), 0..NAMES.len()).prop_map(|(p, k)| Step::Place(p, k)),
        2 => (pod_strategy(), 0usize..8, prop::collection::vec(0u16..9, 0..3))
            .prop_map(|(p, n, g)| Step::Raw(p, n, g)),
        2 => (0usize..64).prop_map(Step::Release),
    ]
}

/// Checks every invariant against the grants held.
fn check(cluster: &SharedCluster, held: &[Grant]) -> Result<(), TestCaseError> {
    for (i, node) in cluster.nodes().iter().enumerate() {
        let free = cluster.free(i);
        let mine = held.iter().filter(|g| g.slot.node == i);
        let (mut cpu, mut mem) = (0u64, 0u64);
        let mut gpu = vec![0u32; node.gpus as usize];
        for g in mine {
            cpu += g.shape.cpu_milli;
            mem += g.shape.memory_mib;
            for &d in &g.slot.gpus {
                gpu[d as usize] += g.shape.gpu_milli;
            }
            if g.shape.wants_gpu() {
                prop_assert!(
                    g.shape.allows_model(&node.gpu_model),
                    "model restriction broken"
                );
            }
        }
        for (d, used) in gpu.iter().enumerate() {
            prop_assert!(*used <= MILLI, "GPU {d} of node {i} holds {used} milli");
            prop_assert_eq!(free.gpu_milli[d] + used, MILLI, "GPU milli not conserved");
        }
        match node.cpu_milli {
            Some(cap) => {
                prop_assert!(cpu <= cap, "node {} over CPU", i);
                prop_assert_eq!(free.cpu_milli + cpu, cap);
            }
            None => prop_assert_eq!(free.cpu_milli, u64::MAX),
        }
        match node.memory_mib {
            Some(cap) => {
                prop_assert!(mem <= cap, "node {} over memory", i);
                prop_assert_eq!(free.memory_mib + mem, cap);
            }
            None => prop_assert_eq!(free.memory_mib, u64::MAX),
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn sharing_never_oversubscribes_and_release_restores(
        mut nodes in prop::collection::vec(node_strategy(), 1..6),
        steps in prop::collection::vec(step_strategy(), 1..60),
        seed in 0u64..1000,
    ) {
        for (i, n) in nodes.iter_mut().enumerate() {
            n.name = format!("n{i}");
        }
        let mut cluster = SharedCluster::new(nodes);
        let empty: Vec<_> = (0..cluster.nodes().len()).map(|i| cluster.free(i).clone()).collect();
        let typical = TypicalPods {
            shapes: vec![(pod(1, 1000), 0.5), (pod(1, 500), 0.3), (pod(0, 0), 0.2)],
        };
        let mut scorers: Vec<_> = NAMES.iter().map(|n| placement::scorer(n, &typical).unwrap()).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut held: Vec<Grant> = Vec::new();
        for step in steps {
            match step {
                Step::Place(pod, k) => {
                    let fits_somewhere = (0..cluster.nodes().len()).any(|i| cluster.fits(i, &pod));
                    match scorers[k].place(&cluster, &pod, &mut rng) {
                        Some(slot) => {
                            prop_assert!(fits_somewhere);
                            let grant = cluster.allocate(&pod, slot);
                            prop_assert!(grant.is_ok(), "{} chose a slot that does not fit: {:?}", NAMES[k], grant);
                            held.extend(grant.ok());
                        }
                        None => prop_assert!(!fits_somewhere, "{} found no node though one fits", NAMES[k]),
                    }
                }
                Step::Raw(pod, node, gpus) => {
                    let before: Vec<_> = (0..cluster.nodes().len()).map(|i| cluster.free(i).clone()).collect();
                    match cluster.allocate(&pod, Slot { node, gpus }) {
                        Ok(g) => held.push(g),
                        Err(_) => {
                            let after: Vec<_> = (0..cluster.nodes().len()).map(|i| cluster.free(i).clone()).collect();
                            prop_assert_eq!(before, after, "a refused allocation changed the state");
                        }
                    }
                }
                Step::Release(k) => {
                    if !held.is_empty() {
                        let g = held.remove(k % held.len());
                        cluster.release(g);
                    }
                }
            }
            check(&cluster, &held)?;
        }
        while let Some(g) = held.pop() {
            cluster.release(g);
        }
        let now: Vec<_> = (0..cluster.nodes().len()).map(|i| cluster.free(i).clone()).collect();
        prop_assert_eq!(now, empty, "releasing everything does not give back the empty cluster");
    }
}

fn pod(num_gpu: u32, gpu_milli: u32) -> PodShape {
    PodShape {
        cpu_milli: 1000,
        memory_mib: 0,
        num_gpu,
        gpu_milli,
        gpu_spec: String::new(),
    }
}
