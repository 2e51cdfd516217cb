//! One shared pool of GPUs placed by the allocator: the physical-packing half of the
//! layers that have no VC topology guarantees (`yarn-cs`, `shared`). It builds an
//! allocator over a copy of the cluster config with ONE virtual cluster owning every
//! top-level cell and places every group as guaranteed priority 0 in it, so the allocator
//! only does physical packing (same cell tree, same buddy and packing rules as `hived`)
//! and never preempts. Quotas, borrowing and ordering belong to the layers and policies.
//!
//! That is the pool's default backend (placement `topology`, whole GPUs). A model named
//! `LAYER+POLICY+PLACEMENT` with another placement, or a workload whose pods carry GPU
//! shares, CPU or memory, gets the second backend instead ([`Pool::for_model`]): a
//! shared cluster placed by a scorer (`sched/share_pool.rs`). The layers see the same
//! methods either way.

use std::collections::{BTreeMap, HashSet};

use super::layers::{allocator_wait, reason_text};
use super::share_pool::{ShareOptions, SharePool};
use super::{Wait, WaitKind};
use crate::cell::{Allocator, Decision, GroupPlacement, GroupRequest, RequestError, WaitReason};
use crate::config::{CellConfig, PhysicalCellSpec, VirtualCellSpec, VirtualClusterSpec};

/// The one VC of the pool's allocator. Never shown to users: messages are reworded.
const POOL_VC: &str = "cellsim-pool";

/// What the pool answers for a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PoolAnswer {
    Bind(GroupPlacement),
    Wait(Wait),
    Reject(String),
}

/// A single-VC allocator and the groups it holds, or a shared cluster and a scorer.
#[derive(Debug, Clone)]
pub(crate) struct Pool {
    backend: Backend,
}

// One per layer, and the allocator backend is the hot path of every whole-GPU model:
// kept inline rather than boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
enum Backend {
    Cells(CellPool),
    Shared(Box<SharePool>),
}

/// The default backend: the HiveD allocator with one VC.
#[derive(Debug, Clone)]
struct CellPool {
    alloc: Allocator,
    /// The request the pool last placed, rewritten in place for the next one: its
    /// strings and members keep their buffers, so an offer allocates nothing for it.
    pooled: GroupRequest,
}

/// Whether `placement` (a model's third part, `None` when it has none) with `sharing`
/// needs the shared-cluster backend: any placement but `topology`, or pods with
/// resources.
pub(crate) fn needs_share_pool(placement: Option<&str>, sharing: Option<&ShareOptions>) -> bool {
    placement.is_some_and(|p| p != crate::placement::NAMES[0])
        || sharing.is_some_and(|s| s.pods_with_resources)
}

impl Pool {
    pub(crate) fn new(config: &CellConfig) -> Pool {
        Pool {
            backend: Backend::Cells(CellPool {
                alloc: Allocator::new(&single_vc_config(config)),
                pooled: GroupRequest {
                    name: String::new(),
                    virtual_cluster: POOL_VC.to_string(),
                    priority: 0,
                    leaf_cell_type: None,
                    pinned_cell_id: None,
                    lazy_preemption_enable: false,
                    ignore_k8s_suggested_nodes: true,
                    members: Vec::new(),
                },
            }),
        }
    }

    /// The pool a model's layer places through: the default one ([`Pool::new`]) unless
    /// [`needs_share_pool`] says otherwise, then a shared cluster of `config`'s nodes
    /// placed by `placement` (`topology` when `None`). Fails on an unknown placement.
    pub(crate) fn for_model(
        config: &CellConfig,
        placement: Option<&str>,
        sharing: Option<&ShareOptions>,
    ) -> Result<Pool, String> {
        if !needs_share_pool(placement, sharing) {
            return Ok(Pool::new(config));
        }
        let default_options = ShareOptions::default();
        let pool = SharePool::new(
            config,
            placement.unwrap_or(crate::placement::NAMES[0]),
            sharing.unwrap_or(&default_options),
        )?;
        Ok(Pool {
            backend: Backend::Shared(Box::new(pool)),
        })
    }

    /// Places `request` as a priority-0 group of the pool, ignoring its VC, priority,
    /// pinned cell and lazy-preemption setting.
    pub(crate) fn place(&mut self, request: &GroupRequest) -> PoolAnswer {
        self.place_on(request, None)
    }

    /// [`Pool::place`] on `nodes` only (all nodes when `None`), as kube-scheduler would
    /// filter them by a node selector.
    pub(crate) fn place_on(
        &mut self,
        request: &GroupRequest,
        nodes: Option<&HashSet<String>>,
    ) -> PoolAnswer {
        match &mut self.backend {
            Backend::Cells(cells) => cells.place_on(request, nodes),
            Backend::Shared(shared) => shared.place_on(request, nodes),
        }
    }

    pub(crate) fn release(&mut self, group: &str) {
        match &mut self.backend {
            Backend::Cells(cells) => {
                let _ = cells.alloc.release_group(group);
            }
            Backend::Shared(shared) => {
                shared.release(group);
            }
        }
    }

    /// Whether `request` would be placed now if the groups `released` were gone; the
    /// pool is left as it was.
    pub(crate) fn fits_without(&mut self, request: &GroupRequest, released: &[String]) -> bool {
        let mut trial = self.trial();
        released.iter().all(|g| trial.release(g)) && trial.fits(request)
    }

    /// A what-if on the pool (see [`crate::cell::Trial`]), undone when it is dropped.
    pub(crate) fn trial(&mut self) -> PoolTrial<'_> {
        match &mut self.backend {
            Backend::Cells(cells) => PoolTrial::Cells {
                trial: cells.alloc.trial(),
                pooled: &mut cells.pooled,
            },
            // A copy: the shared cluster has no undo log, and trials are rare (a
            // reclaim or a suspension to check).
            Backend::Shared(shared) => PoolTrial::Shared(shared.clone()),
        }
    }

    /// Where `group` runs in the pool, if it does.
    pub(crate) fn placement(&self, group: &str) -> Option<GroupPlacement> {
        match &self.backend {
            Backend::Cells(cells) => cells.alloc.placement(group),
            Backend::Shared(shared) => shared.placement(group),
        }
    }

    pub(crate) fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        match &mut self.backend {
            Backend::Cells(cells) => cells
                .alloc
                .set_node_health(node, healthy)
                .map_err(|e| e.to_string()),
            Backend::Shared(shared) => shared.set_node_health(node, healthy),
        }
    }
}

impl CellPool {
    fn place_on(&mut self, request: &GroupRequest, nodes: Option<&HashSet<String>>) -> PoolAnswer {
        let pooled = &mut self.pooled;
        pooled.ignore_k8s_suggested_nodes = nodes.is_none();
        pooled.name.clone_from(&request.name);
        pooled.leaf_cell_type.clone_from(&request.leaf_cell_type);
        pooled.members.clone_from(&request.members);
        let pooled = &self.pooled;
        match self.alloc.schedule(pooled, nodes) {
            Decision::Bind(placement) => PoolAnswer::Bind(placement),
            Decision::Wait { reason } => PoolAnswer::Wait(pool_wait(&reason, request)),
            Decision::Reject { error } => PoolAnswer::Reject(reject_text(request, &error)),
            Decision::Preempt { .. } => {
                // Every pool group has the same priority, so the allocator has nobody to
                // preempt; cancel the reservation rather than hold cells.
                let _ = self.alloc.release_group(&pooled.name);
                PoolAnswer::Wait(Wait::new(
                    WaitKind::Capacity,
                    request.leaf_count(),
                    None,
                    "waiting for free GPUs".to_string(),
                ))
            }
        }
    }
}

/// A trial on the pool: groups released and requests placed as the pool places them.
pub(crate) enum PoolTrial<'a> {
    /// On the allocator, rolled back when dropped.
    Cells {
        trial: crate::cell::Trial<'a>,
        pooled: &'a mut GroupRequest,
    },
    /// On a copy of the shared cluster.
    Shared(Box<SharePool>),
}

impl PoolTrial<'_> {
    /// Where `group` runs, as things stand in the trial.
    pub(crate) fn placement(&self, group: &str) -> Option<GroupPlacement> {
        match self {
            PoolTrial::Cells { trial, .. } => trial.placement(group),
            PoolTrial::Shared(shared) => shared.placement(group),
        }
    }

    /// Releases `group` for the trial; false when the pool does not hold it.
    pub(crate) fn release(&mut self, group: &str) -> bool {
        match self {
            PoolTrial::Cells { trial, .. } => trial.release(group),
            PoolTrial::Shared(shared) => shared.release(group),
        }
    }

    /// Whether the pool would place `request` now, as things stand in the trial.
    pub(crate) fn fits(&mut self, request: &GroupRequest) -> bool {
        self.fits_on(request, None)
    }

    /// [`PoolTrial::fits`] on `nodes` only (all nodes when `None`), as
    /// [`Pool::place_on`] places.
    pub(crate) fn fits_on(
        &mut self,
        request: &GroupRequest,
        nodes: Option<&HashSet<String>>,
    ) -> bool {
        match self {
            PoolTrial::Cells { trial, pooled } => {
                let pooled = &mut **pooled;
                pooled.name.clone_from(&request.name);
                pooled.leaf_cell_type.clone_from(&request.leaf_cell_type);
                pooled.members.clone_from(&request.members);
                trial.fits_on(pooled, nodes)
            }
            PoolTrial::Shared(shared) => {
                // A placement in the trial stays there: release it so that the copy
                // keeps describing the pool, as the cell trial does.
                let fits = matches!(shared.place_on(request, nodes), PoolAnswer::Bind(_));
                if fits {
                    shared.release(&request.name);
                }
                fits
            }
        }
    }
}

/// `config` with pinned cells dropped and one VC owning every top-level cell.
fn single_vc_config(config: &CellConfig) -> CellConfig {
    fn unpin(cell: &mut PhysicalCellSpec) {
        cell.pinned_cell_id = None;
        cell.children.iter_mut().for_each(unpin);
    }
    let mut pooled = config.clone();
    pooled.physical_cells.iter_mut().for_each(unpin);
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for cell in &config.physical_cells {
        *counts.entry(cell.cell_type.as_str()).or_default() += 1;
    }
    let virtual_cells = config
        .chains()
        .into_iter()
        .map(|chain| VirtualCellSpec {
            chain: chain.to_string(),
            cell_type: chain.to_string(),
            cell_number: counts[chain],
        })
        .collect();
    pooled.virtual_clusters = BTreeMap::from([(
        POOL_VC.to_string(),
        VirtualClusterSpec {
            virtual_cells,
            pinned_cells: Vec::new(),
        },
    )]);
    pooled
}

/// The allocator's reason, in terms of the whole cluster instead of the pool's VC. The
/// pool's VC is the cluster, so its quota wait is a capacity wait.
fn pool_wait(reason: &WaitReason, request: &GroupRequest) -> Wait {
    match reason {
        WaitReason::Quota {
            needed, available, ..
        }
        | WaitReason::InsufficientCapacity { needed, available } => Wait::new(
            WaitKind::Capacity,
            *needed,
            Some(*available),
            format!(
                "waiting for free GPUs: {available} of the {needed} GPUs this group needs are free in the cluster"
            ),
        ),
        other => allocator_wait(other, request, pool_text(other)),
    }
}

/// The sentence of a pool wait other than a capacity one.
fn pool_text(reason: &WaitReason) -> String {
    match reason {
        WaitReason::Fragmentation {
            needed, available, ..
        } => format!(
            "waiting for topology: the cluster has {available} free GPUs but not in the shape this \
             {needed}-GPU group needs (nodes/buddy cells are fragmented)"
        ),
        other => reason_text(other),
    }
}

fn reject_text(request: &GroupRequest, error: &RequestError) -> String {
    match error {
        RequestError::NeverFits(_) => format!(
            "group {:?} needs {} GPUs in {} pods ({}) but the cluster could never hold it; \
             ask for fewer GPUs or use gangAllocation: false",
            request.name,
            request.leaf_count(),
            request.pod_count(),
            request
                .pod_sizes()
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join("+"),
        ),
        other => other
            .to_string()
            .replace(&format!("VC {POOL_VC:?}"), "the cluster"),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::cell::GroupMember;

    /// Cluster A of labs.md (the project's copy the labs run on): two 1-GPU nodes of
    /// different SKUs, one VC each.
    pub(crate) const TWO_NODE_CLUSTER: &str = include_str!("../../scenarios/labs/cluster-a.yaml");

    pub(crate) fn group(name: &str, vc: &str, priority: i32, pods: u32) -> GroupRequest {
        GroupRequest {
            name: name.to_string(),
            virtual_cluster: vc.to_string(),
            priority,
            leaf_cell_type: None,
            pinned_cell_id: None,
            lazy_preemption_enable: false,
            ignore_k8s_suggested_nodes: true,
            members: vec![GroupMember::whole(pods, 1)],
        }
    }

    #[test]
    fn pool_ignores_vcs_and_packs_the_whole_cluster() {
        let config = crate::config::load_str(TWO_NODE_CLUSTER, "t").unwrap();
        let mut pool = Pool::new(&config);
        // Both vc1 jobs run: the pool has no VC boundaries.
        assert!(matches!(
            pool.place(&group("a", "vc1", 100, 1)),
            PoolAnswer::Bind(_)
        ));
        assert!(matches!(
            pool.place(&group("b", "vc1", 10, 1)),
            PoolAnswer::Bind(_)
        ));
        // Priority does not preempt in the pool.
        match pool.place(&group("c", "vc1", 1000, 1)) {
            PoolAnswer::Wait(reason) => {
                assert!(reason.sentence.contains("0 of the 1 GPUs"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        pool.release("a");
        assert!(matches!(
            pool.place(&group("c", "vc1", 1000, 1)),
            PoolAnswer::Bind(_)
        ));
    }

    #[test]
    fn pool_rejects_groups_larger_than_the_cluster_in_cluster_terms() {
        let config = crate::config::load_str(TWO_NODE_CLUSTER, "t").unwrap();
        let mut pool = Pool::new(&config);
        match pool.place(&group("big", "vc1", 10, 3)) {
            PoolAnswer::Reject(reason) => {
                assert!(
                    reason.contains("the cluster could never hold it"),
                    "{reason}"
                );
                assert!(!reason.contains(POOL_VC), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }
}
