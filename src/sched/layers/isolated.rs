//! The `isolated` layer: each VC runs alone on its own share, what HiveD calls the private
//! cluster. It is the allocator of `hived` with every group placed as a guaranteed
//! priority-0 group of its VC: a group only ever uses its VC's cells (bound to physical
//! cells as HiveD binds them, so shares never overlap), never borrows idle cells of other
//! VCs (opportunistic groups count as guaranteed ones), and the layer preempts nobody
//! (within a VC, preemption is the policy's). Pods asking for a share of one GPU share
//! leaves held for their VC ([`crate::cell::leaf_share`]); CPU and memory are unlimited.

use super::{Layer, allocator_wait, reason_text};
use crate::cell::leaf_share::LeafShares;
use crate::cell::{Allocator, Decision, GroupRequest};
use crate::config::CellConfig;
use crate::sched::{OfferContext, Verdict, Wait, WaitKind};

/// The layer's name.
pub const NAME: &str = "isolated";

/// What the layer does and does not model.
pub const DESCRIPTION: &str = "each VC alone on its own share (HiveD's private cluster): a \
group uses only its VC's guaranteed cells (topology-aware, as hived binds them), never idle \
cells of other VCs; opportunistic jobs count as ordinary jobs of their VC; no preemption of \
its own; pods asking for a share of one GPU share leaves held for their VC (best fit). Does not \
model: a fixed assignment of nodes to VCs (cells bind as in hived), borrowing of any kind, CPU \
or memory (not limited).";

/// Every VC on its own cells.
#[derive(Debug, Clone)]
pub struct Isolated {
    alloc: Allocator,
    shares: std::collections::BTreeMap<String, u32>,
    /// The request the layer last placed, rewritten in place for the next one (see
    /// `sched/pool.rs`): the same group as guaranteed priority 0 of its VC.
    pooled: GroupRequest,
    /// Pods with GPU shares, on leaves the allocator holds for them.
    leaf_shares: LeafShares,
}

impl Isolated {
    /// An `isolated` layer over `config`.
    pub fn new(config: &CellConfig) -> Isolated {
        Isolated {
            alloc: Allocator::new(config),
            shares: crate::sched::guaranteed_gpus(config),
            pooled: GroupRequest {
                name: String::new(),
                virtual_cluster: String::new(),
                priority: 0,
                leaf_cell_type: None,
                pinned_cell_id: None,
                lazy_preemption_enable: false,
                ignore_k8s_suggested_nodes: true,
                members: Vec::new(),
            },
            leaf_shares: LeafShares::new(),
        }
    }
}

impl Layer for Isolated {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn share_gpus(&self, vc: &str) -> Option<u64> {
        self.shares.get(vc).map(|&g| u64::from(g))
    }

    fn offer(&mut self, request: &GroupRequest, _ctx: &mut OfferContext<'_>) -> Verdict {
        if let Some(refused) = super::refuse_cpu_only(request, NAME) {
            return refused;
        }
        let pooled = &mut self.pooled;
        pooled.name.clone_from(&request.name);
        pooled.virtual_cluster.clone_from(&request.virtual_cluster);
        pooled.leaf_cell_type.clone_from(&request.leaf_cell_type);
        pooled.pinned_cell_id.clone_from(&request.pinned_cell_id);
        pooled.members.clone_from(&request.members);
        let decision = if request.has_shares() {
            self.leaf_shares.schedule(&mut self.alloc, &self.pooled)
        } else {
            self.alloc.schedule(&self.pooled, None)
        };
        match decision {
            Decision::Bind(placement) => Verdict::Start(placement),
            Decision::Wait { reason } => {
                Verdict::Wait(allocator_wait(&reason, request, reason_text(&reason)))
            }
            Decision::Reject { error } => Verdict::Reject(error.to_string()),
            Decision::Preempt { .. } => {
                // Every group has priority 0, so there is nobody to preempt; give the
                // reservation back rather than hold cells.
                self.release(&request.name);
                Verdict::Wait(Wait::new(
                    WaitKind::Quota,
                    request.leaf_count(),
                    None,
                    format!(
                        "waiting for quota: VC {} has no free cells for this group",
                        request.virtual_cluster
                    ),
                ))
            }
        }
    }

    fn fits_without(&mut self, request: &GroupRequest, released: &[String]) -> bool {
        let pooled = &mut self.pooled;
        pooled.name.clone_from(&request.name);
        pooled.virtual_cluster.clone_from(&request.virtual_cluster);
        pooled.leaf_cell_type.clone_from(&request.leaf_cell_type);
        pooled.pinned_cell_id.clone_from(&request.pinned_cell_id);
        pooled.members.clone_from(&request.members);
        if !self.leaf_shares.is_empty() || request.has_shares() {
            return self
                .leaf_shares
                .fits_without(&mut self.alloc, &self.pooled, released);
        }
        let mut trial = self.alloc.trial();
        released.iter().all(|g| trial.release(g)) && trial.fits(&self.pooled)
    }

    fn release(&mut self, group: &str) {
        if !self.leaf_shares.release(&mut self.alloc, group) {
            let _ = self.alloc.release_group(group);
        }
    }

    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        self.alloc
            .set_node_health(node, healthy)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::pool::tests::{TWO_NODE_CLUSTER, group};
    use rand::SeedableRng;

    #[test]
    fn a_vc_never_uses_another_vcs_idle_gpu_even_as_opportunistic() {
        let config = crate::config::load_str(TWO_NODE_CLUSTER, "t").unwrap();
        let mut layer = Isolated::new(&config);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = OfferContext {
            now_ms: 0,
            rng: &mut rng,
        };
        assert!(matches!(
            layer.offer(&group("a", "vc1", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
        // default's GPU is idle, but vc1 may not have it, even opportunistically.
        match layer.offer(&group("b", "vc1", -1, 1), &mut ctx) {
            Verdict::Wait(w) => assert_eq!(w.kind, WaitKind::Quota, "{w}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            layer.offer(&group("c", "default", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
    }
}
