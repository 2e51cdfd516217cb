//! The pool's second backend: the cluster as a [`SharedCluster`] (nodes with CPU, memory
//! and GPUs that pods may share) placed by a placement scorer ([`crate::placement`]),
//! for models named `LAYER+POLICY+PLACEMENT` and for workloads whose pods carry GPU
//! shares, CPU or memory ([`crate::cell::PodResources`]). A group's pods are placed one
//! at a time in member order, each where the scorer puts it; when one does not fit, the
//! pods placed so far are given back (a gang runs whole or not at all).
//!
//! What it does not do (the cell backend's HiveD notions): buddy cells, racks, pinned
//! cells, priorities. It never preempts; quotas and ordering stay the layers' and
//! policies'.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::pool::PoolAnswer;
use super::{Wait, WaitKind};
use crate::cell::sharing::{Grant, MILLI, PodShape, ShareNode, SharedCluster};
use crate::cell::topology::Topology;
use crate::cell::{GroupMember, GroupPlacement, GroupRequest, PodPlacement};
use crate::config::CellConfig;
use crate::placement::{self, Scorer, TypicalPods};

/// What a run tells the pool about sharing: the nodes' CPU and memory, the workload's
/// typical pods (for `fgd`), whether its pods carry resources, and the seed of the
/// placement's generator (for `random`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ShareOptions {
    /// CPU (milli) and memory (MiB) per node name, when the cluster source gives them;
    /// a node not listed, or `None`, has unlimited CPU or memory.
    pub node_resources: BTreeMap<String, (Option<u64>, Option<u64>)>,
    /// The workload's pod shapes as FGD estimates them; `None`: every pod one whole GPU.
    pub typical: Option<TypicalPods>,
    /// Some pod carries a GPU share, CPU or memory: the pool layers place on the shared
    /// cluster even with the default placement. A Kueue replay leaves it false though
    /// its pods carry CPU and memory: there only the models that name a placement place
    /// on the shared cluster, and `kueue+POLICY` keeps whole GPUs.
    pub pods_with_resources: bool,
    /// Seed of the placement's own generator (the run's seed).
    pub seed: u64,
}

impl ShareOptions {
    /// Options for `jobs`' groups: typical pods estimated from their pods (each pod
    /// counted once, as `fill` counts a pod list) and whether any pod carries resources.
    pub fn of_requests<'a>(
        requests: impl IntoIterator<Item = &'a GroupRequest>,
        node_resources: BTreeMap<String, (Option<u64>, Option<u64>)>,
        seed: u64,
    ) -> ShareOptions {
        let mut pods = Vec::new();
        let mut with_resources = false;
        for request in requests {
            for member in &request.members {
                with_resources |= member.resources.is_some();
                let shape = pod_shape(request, member);
                for _ in 0..member.pod_number {
                    pods.push(shape.clone());
                }
            }
        }
        ShareOptions {
            node_resources,
            typical: (!pods.is_empty()).then(|| TypicalPods::from_pods(&pods)),
            pods_with_resources: with_resources,
            seed,
        }
    }
}

/// The shape one pod of `member` asks for on a shared cluster: its resources when it
/// has them, else `leaf_cell_number` whole GPUs; GPU models from its `gpu_spec`, else the
/// group's leaf cell type.
pub(crate) fn pod_shape(request: &GroupRequest, member: &GroupMember) -> PodShape {
    let resources = member.resources.as_ref();
    let gpu_spec = resources
        .map(|r| r.gpu_spec.as_str())
        .filter(|s| !s.is_empty())
        .or(request.leaf_cell_type.as_deref())
        .unwrap_or("")
        .to_string();
    let (num_gpu, gpu_milli) = match resources.and_then(|r| r.gpu_milli) {
        Some(milli) if milli < MILLI => (1, milli),
        _ if member.leaf_cell_number == 0 => (0, 0),
        _ => (member.leaf_cell_number, MILLI),
    };
    PodShape {
        cpu_milli: resources.map_or(0, |r| r.cpu_milli),
        memory_mib: resources.map_or(0, |r| r.memory_mib),
        num_gpu,
        gpu_milli,
        gpu_spec,
    }
}

/// A shared cluster, its scorer and the groups it holds.
#[derive(Clone)]
pub(crate) struct SharePool {
    cluster: SharedCluster,
    /// Shared by a pool and its copies (trials): scorers keep only caches of values that
    /// depend on a node's state, never on which copy asked.
    scorer: Arc<Mutex<Box<dyn Scorer>>>,
    rng: ChaCha8Rng,
    /// Per node: the chain of its first node-level cell (a placement's chain).
    chains: Vec<String>,
    node_by_name: HashMap<String, usize>,
    /// Bad nodes (closed to new pods while bad).
    bad: Vec<bool>,
    groups: HashMap<String, (GroupPlacement, Vec<Grant>)>,
}

impl std::fmt::Debug for SharePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharePool")
            .field("nodes", &self.cluster.nodes().len())
            .field("groups", &self.groups.len())
            .finish_non_exhaustive()
    }
}

impl SharePool {
    /// The nodes of `config` as a shared cluster (CPU and memory from `options`), placed
    /// by the scorer `placement`.
    pub(crate) fn new(
        config: &CellConfig,
        placement: &str,
        options: &ShareOptions,
    ) -> Result<SharePool, String> {
        let topology = Topology::build(config);
        let mut nodes = Vec::with_capacity(topology.nodes.len());
        let mut chains = Vec::with_capacity(topology.nodes.len());
        for node in &topology.nodes {
            let gpus: u32 = node
                .cells
                .iter()
                .map(|&c| topology.cell(c).leaf_count())
                .sum();
            let chain = node
                .cells
                .first()
                .map(|&c| &topology.chains[topology.cell(c).chain as usize]);
            let (cpu_milli, memory_mib) = options
                .node_resources
                .get(&node.name)
                .copied()
                .unwrap_or((None, None));
            nodes.push(ShareNode {
                name: node.name.clone(),
                cpu_milli,
                memory_mib,
                gpus,
                gpu_model: chain.map(|c| c.leaf_type.clone()).unwrap_or_default(),
            });
            chains.push(chain.map(|c| c.name.clone()).unwrap_or_default());
        }
        let typical = options.typical.clone().unwrap_or_else(|| TypicalPods {
            shapes: vec![(
                PodShape {
                    cpu_milli: 0,
                    memory_mib: 0,
                    num_gpu: 1,
                    gpu_milli: MILLI,
                    gpu_spec: String::new(),
                },
                1.0,
            )],
        });
        let scorer = placement::scorer(placement, &typical).map_err(|e| e.to_string())?;
        let node_by_name = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        Ok(SharePool {
            bad: vec![false; nodes.len()],
            cluster: SharedCluster::new(nodes),
            scorer: Arc::new(Mutex::new(scorer)),
            rng: ChaCha8Rng::seed_from_u64(options.seed),
            chains,
            node_by_name,
            groups: HashMap::new(),
        })
    }

    /// Places `request` on `nodes` only (all healthy nodes when `None`).
    pub(crate) fn place_on(
        &mut self,
        request: &GroupRequest,
        nodes: Option<&HashSet<String>>,
    ) -> PoolAnswer {
        let mut shapes = Vec::new();
        for member in &request.members {
            let shape = pod_shape(request, member);
            if let Err(e) = shape.validate() {
                return PoolAnswer::Reject(format!("group {:?}: {e}", request.name));
            }
            for _ in 0..member.pod_number {
                shapes.push(shape.clone());
            }
        }
        if let Some(reason) = self.never_fits(request, &shapes) {
            return PoolAnswer::Reject(reason);
        }
        // Close the nodes the filter leaves out for this placement only.
        let filtered: Vec<usize> = match nodes {
            None => Vec::new(),
            Some(keep) => (0..self.cluster.nodes().len())
                .filter(|&i| !self.bad[i] && !keep.contains(&self.cluster.nodes()[i].name))
                .collect(),
        };
        for &i in &filtered {
            self.cluster.set_closed(i, true);
        }
        let answer = self.place_pods(request, &shapes);
        for &i in &filtered {
            self.cluster.set_closed(i, false);
        }
        answer
    }

    fn place_pods(&mut self, request: &GroupRequest, shapes: &[PodShape]) -> PoolAnswer {
        let mut grants: Vec<Grant> = Vec::with_capacity(shapes.len());
        let mut scorer = self.scorer.lock().unwrap_or_else(|e| e.into_inner());
        for shape in shapes {
            let granted = scorer
                .place(&self.cluster, shape, &mut self.rng)
                .and_then(|slot| self.cluster.allocate(shape, slot).ok());
            match granted {
                Some(grant) => grants.push(grant),
                None => {
                    // Give back what the gang took so far, newest first.
                    for grant in grants.into_iter().rev() {
                        self.cluster.release(grant);
                    }
                    drop(scorer);
                    return PoolAnswer::Wait(self.wait_reason(request, shapes, shape));
                }
            }
        }
        drop(scorer);
        let placement = GroupPlacement {
            group: request.name.clone(),
            chain: grants
                .first()
                .map(|g| self.chains[g.slot.node].clone())
                .unwrap_or_default(),
            pods: grants
                .iter()
                .map(|g| PodPlacement {
                    node: self.cluster.nodes()[g.slot.node].name.clone(),
                    devices: g.slot.gpus.iter().map(|&d| u32::from(d)).collect(),
                    leaf_cell_number: g.shape.num_gpu,
                })
                .collect(),
        };
        self.groups
            .insert(request.name.clone(), (placement.clone(), grants));
        PoolAnswer::Bind(placement)
    }

    /// Why a group that could ever run does not fit now: too few free milli-GPUs on the
    /// open nodes (capacity), or enough but not where a pod's GPU, CPU and memory fit
    /// together (shape, or gang for several pods).
    fn wait_reason(&self, request: &GroupRequest, shapes: &[PodShape], stuck: &PodShape) -> Wait {
        let needed_milli: u64 = shapes.iter().map(PodShape::total_gpu_milli).sum();
        let free_milli: u64 = (0..self.cluster.nodes().len())
            .filter(|&i| !self.cluster.is_closed(i))
            .filter(|&i| {
                !stuck.wants_gpu() || stuck.allows_model(&self.cluster.nodes()[i].gpu_model)
            })
            .map(|i| self.cluster.free(i).gpu_milli_total())
            .sum();
        let needed = request.leaf_count();
        let free_gpus = free_milli / u64::from(MILLI);
        if free_milli < needed_milli {
            return Wait::new(
                WaitKind::Capacity,
                needed,
                Some(free_gpus),
                format!(
                    "waiting for free GPUs: {} of the {} GPUs this group needs are free where it may run",
                    gpus_text(free_milli),
                    gpus_text(needed_milli)
                ),
            );
        }
        let kind = if shapes.len() > 1 {
            WaitKind::Gang
        } else {
            WaitKind::Shape
        };
        Wait::new(
            kind,
            needed,
            Some(free_gpus),
            format!(
                "waiting for room: {} GPUs are free, but no open node has the GPU share, CPU \
                 and memory a pod of this {}-pod group needs together",
                gpus_text(free_milli),
                shapes.len()
            ),
        )
    }

    /// Why the group can never run on this cluster, if it cannot: a pod no node could
    /// hold even empty, or more GPUs than the cluster has.
    fn never_fits(&self, request: &GroupRequest, shapes: &[PodShape]) -> Option<String> {
        let n = self.cluster.nodes().len();
        let mut checked: Vec<&PodShape> = Vec::new();
        for shape in shapes {
            if checked.contains(&shape) {
                continue;
            }
            checked.push(shape);
            if !(0..n).any(|i| self.cluster.fits_empty(i, shape)) {
                return Some(format!(
                    "group {:?} has a pod ({}) that no node of the cluster could ever hold; \
                     ask for less or allow more GPU models",
                    request.name,
                    shape_text(shape)
                ));
            }
        }
        let needed: u64 = shapes.iter().map(PodShape::total_gpu_milli).sum();
        (needed > self.cluster.gpu_capacity_milli()).then(|| {
            format!(
                "group {:?} needs {} GPUs but the cluster could never hold it (it has {}); \
                 ask for fewer GPUs or use gangAllocation: false",
                request.name,
                gpus_text(needed),
                gpus_text(self.cluster.gpu_capacity_milli())
            )
        })
    }

    pub(crate) fn release(&mut self, group: &str) -> bool {
        match self.groups.remove(group) {
            Some((_, grants)) => {
                for grant in grants {
                    self.cluster.release(grant);
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn placement(&self, group: &str) -> Option<GroupPlacement> {
        self.groups.get(group).map(|(p, _)| p.clone())
    }

    pub(crate) fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        let &i = self
            .node_by_name
            .get(node)
            .ok_or_else(|| format!("unknown node {node:?}: the cluster has no such node"))?;
        self.bad[i] = !healthy;
        self.cluster.set_closed(i, !healthy);
        Ok(())
    }
}

/// Milli-GPUs as GPUs: `3` or `2.5`.
fn gpus_text(milli: u64) -> String {
    let whole = milli / u64::from(MILLI);
    let rest = milli % u64::from(MILLI);
    if rest == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{}", format!("{rest:03}").trim_end_matches('0'))
    }
}

/// A pod shape for people: `0.5 GPU of T4|P100, 4000 mCPU, 2048 MiB`.
fn shape_text(shape: &PodShape) -> String {
    let gpus = if shape.wants_gpu() {
        let models = if shape.gpu_spec.is_empty() {
            String::new()
        } else {
            format!(" of {}", shape.gpu_spec)
        };
        format!("{} GPU{models}", gpus_text(shape.total_gpu_milli()))
    } else {
        "no GPU".to_string()
    };
    format!("{gpus}, {} mCPU, {} MiB", shape.cpu_milli, shape.memory_mib)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::PodResources;

    const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    T4-NODE: {childCellType: T4, childCellNumber: 2, isNodeLevel: true}
  physicalCells:
  - {cellType: T4-NODE, cellAddress: a}
  - {cellType: T4-NODE, cellAddress: b}
virtualClusters:
  default: {virtualCells: [{cellType: T4-NODE, cellNumber: 2}]}
";

    fn request(name: &str, pods: u32, milli: Option<u32>) -> GroupRequest {
        GroupRequest {
            name: name.into(),
            virtual_cluster: "default".into(),
            priority: 0,
            leaf_cell_type: None,
            pinned_cell_id: None,
            lazy_preemption_enable: false,
            ignore_k8s_suggested_nodes: true,
            members: vec![GroupMember {
                pod_number: pods,
                leaf_cell_number: 1,
                resources: milli.map(|m| PodResources {
                    gpu_milli: Some(m),
                    ..PodResources::default()
                }),
            }],
        }
    }

    fn pool() -> SharePool {
        let config = crate::config::load_str(CLUSTER, "c.yaml").unwrap();
        SharePool::new(&config, "topology", &ShareOptions::default()).unwrap()
    }

    #[test]
    fn a_gang_that_does_not_fit_whole_gives_back_its_pods() {
        let mut p = pool();
        assert!(matches!(
            p.place_on(&request("a", 3, None), None),
            PoolAnswer::Bind(_)
        ));
        match p.place_on(&request("b", 2, None), None) {
            PoolAnswer::Wait(w) => assert_eq!(w.kind, WaitKind::Capacity, "{w}"),
            other => panic!("{other:?}"),
        }
        // b's first pod was rolled back: one GPU is still free.
        assert_eq!(p.cluster.gpu_used_milli(), 3000);
        assert!(matches!(
            p.place_on(&request("c", 1, None), None),
            PoolAnswer::Bind(_)
        ));
    }

    #[test]
    fn shares_fill_one_gpu_and_release_gives_them_back() {
        let mut p = pool();
        for name in ["a", "b"] {
            match p.place_on(&request(name, 1, Some(500)), None) {
                PoolAnswer::Bind(placement) => {
                    assert_eq!(placement.pods[0].devices, vec![0]);
                }
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(p.cluster.gpu_used_milli(), 1000);
        assert!(p.release("a"));
        assert!(!p.release("a"));
        assert_eq!(p.cluster.gpu_used_milli(), 500);
    }

    #[test]
    fn node_filters_and_bad_nodes_close_nodes() {
        let mut p = pool();
        let only_b: HashSet<String> = ["b".to_string()].into();
        match p.place_on(&request("a", 1, None), Some(&only_b)) {
            PoolAnswer::Bind(placement) => assert_eq!(placement.pods[0].node, "b"),
            other => panic!("{other:?}"),
        }
        p.set_node_health("a", false).unwrap();
        assert!(matches!(
            p.place_on(&request("b", 2, None), None),
            PoolAnswer::Wait(_)
        ));
        assert!(p.set_node_health("zz", false).is_err());
    }

    #[test]
    fn a_pod_no_node_can_hold_is_rejected() {
        let mut p = pool();
        let mut big = request("big", 1, None);
        big.members[0].leaf_cell_number = 3;
        match p.place_on(&big, None) {
            PoolAnswer::Reject(reason) => assert!(reason.contains("no node"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(gpus_text(2500), "2.5");
        assert_eq!(gpus_text(3000), "3");
    }
}
