//! The `hived` layer: the cell allocator as it is. Each VC owns virtual cells bound lazily
//! to physical cells; guaranteed groups use only their VC's cells, opportunistic ones any
//! free cell; higher priority preempts lower within a VC, guaranteed preempts
//! opportunistic; gangs are all-or-nothing; lazy preemption downgrades instead of killing.
//! Pods asking for a share of one GPU take shares of leaves their VC holds through the
//! same allocator ([`crate::cell::leaf_share`]); CPU and memory are unlimited.

use std::collections::BTreeSet;

use super::{Layer, allocator_wait, reason_text};
use crate::cell::leaf_share::LeafShares;
use crate::cell::{Allocator, Decision, GroupRequest};
use crate::config::CellConfig;
use crate::sched::{OfferContext, Scheduler, Verdict};

/// The layer's name (and, alone, the model `hived+priority`).
pub const NAME: &str = "hived";

/// What the layer does and does not model.
pub const DESCRIPTION: &str = "HiveD: the cell allocator as it runs in production. Models VC \
guarantees as virtual cells (topology-aware, buddy-bound to physical cells), guaranteed \
(0..=1000) and opportunistic (-1) priorities, preemption of lower priority groups within a VC \
and of opportunistic groups anywhere, gangs (all-or-nothing), lazy preemption and bad nodes. \
Pods asking for a share of one GPU share leaves held for their VC and priority (best fit), a \
leaf taken and given back as a one-GPU group; preempting a shared leaf preempts every pod on \
it. Does not model: Kubernetes suggested nodes (all nodes are candidates), pod start-up delays, \
the waiting-pod scheduling block, or CPU/memory other than through leaf cells (a pod's CPU and \
memory are not limited).";

/// HiveD: every decision is the allocator's.
#[derive(Debug, Clone)]
pub struct Hived {
    alloc: Allocator,
    /// Running groups that allow lazy preemption and are not downgraded yet: the only ones
    /// a schedule call can downgrade, so the only ones to check after it.
    lazy_candidates: BTreeSet<String>,
    /// GPUs each VC is guaranteed.
    shares: std::collections::BTreeMap<String, u32>,
    /// The allocator's downgrade count when the candidates were last checked: until it
    /// moves, none of them was downgraded.
    downgrades_seen: u64,
    /// Pods with GPU shares, on leaves the allocator holds for them.
    leaf_shares: LeafShares,
}

impl Hived {
    /// A `hived` model over `config` (all cells free and healthy).
    pub fn new(config: &CellConfig) -> Hived {
        Hived {
            alloc: Allocator::new(config),
            lazy_candidates: BTreeSet::new(),
            shares: crate::sched::guaranteed_gpus(config),
            downgrades_seen: 0,
            leaf_shares: LeafShares::new(),
        }
    }

    /// The allocator, for inspection.
    pub fn allocator(&self) -> &Allocator {
        &self.alloc
    }

    /// The leaves held for GPU shares, for inspection.
    pub fn leaf_shares(&self) -> &LeafShares {
        &self.leaf_shares
    }
}

impl Layer for Hived {
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
        let decision = if request.has_shares() {
            self.leaf_shares.schedule(&mut self.alloc, request)
        } else {
            self.alloc.schedule(request, None)
        };
        match decision {
            Decision::Bind(placement) => {
                if request.lazy_preemption_enable
                    && !request.is_opportunistic()
                    && !request.has_shares()
                {
                    self.lazy_candidates.insert(request.name.clone());
                }
                Verdict::Start(placement)
            }
            // A shared leaf's holder stands for every pod on it.
            Decision::Preempt { victims } => {
                Verdict::Preempt(self.leaf_shares.expand_victims(victims))
            }
            Decision::Wait { reason } => {
                Verdict::Wait(allocator_wait(&reason, request, reason_text(&reason)))
            }
            Decision::Reject { error } => Verdict::Reject(error.to_string()),
        }
    }

    fn fits_without(&mut self, request: &GroupRequest, released: &[String]) -> bool {
        if !self.leaf_shares.is_empty() || request.has_shares() {
            return self
                .leaf_shares
                .fits_without(&mut self.alloc, request, released);
        }
        let mut trial = self.alloc.trial();
        released.iter().all(|g| trial.release(g)) && trial.fits(request)
    }

    fn release(&mut self, group: &str) {
        self.lazy_candidates.remove(group);
        if !self.leaf_shares.release(&mut self.alloc, group) {
            let _ = self.alloc.release_group(group);
        }
    }

    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        self.alloc
            .set_node_health(node, healthy)
            .map_err(|e| e.to_string())
    }

    fn take_downgraded(&mut self) -> Vec<String> {
        // Asked after every offer; downgrades are rare, so look only when one happened.
        if self.alloc.downgrades == self.downgrades_seen {
            return Vec::new();
        }
        self.downgrades_seen = self.alloc.downgrades;
        let mut downgraded: Vec<String> = self
            .lazy_candidates
            .iter()
            .filter(|g| matches!(self.alloc.group_status(g), Some((_, _, true))))
            .cloned()
            .collect();
        for g in &downgraded {
            self.lazy_candidates.remove(g);
        }
        downgraded.extend(self.leaf_shares.take_downgraded(&self.alloc));
        downgraded
    }
}

/// The layer alone is the model `hived` (`hived+priority`), for callers that drive the
/// allocator through the model interface without a policy (the live parity test, the
/// sharing check's unit tests).
impl Scheduler for Hived {
    fn name(&self) -> &str {
        NAME
    }

    fn describe(&self) -> String {
        DESCRIPTION.to_string()
    }

    fn offer(&mut self, request: &GroupRequest, ctx: &mut OfferContext<'_>) -> Verdict {
        Layer::offer(self, request, ctx)
    }

    fn release(&mut self, group: &str) {
        Layer::release(self, group)
    }

    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        Layer::set_node_health(self, node, healthy)
    }

    fn take_downgraded(&mut self) -> Vec<String> {
        Layer::take_downgraded(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::pool::tests::{TWO_NODE_CLUSTER, group};
    use crate::sched::{OfferContext, Verdict};
    use rand::SeedableRng;

    #[test]
    fn prod_preempts_test_in_the_same_vc_then_starts_after_release() {
        let config = crate::config::load_str(TWO_NODE_CLUSTER, "t").unwrap();
        let mut model = Hived::new(&config);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = OfferContext {
            now_ms: 0,
            rng: &mut rng,
        };
        let Verdict::Start(p) = Layer::offer(&mut model, &group("test", "vc1", 10, 1), &mut ctx)
        else {
            panic!("test job should start");
        };
        assert_eq!(p.pods[0].node, "hostname-dan");
        let prod = group("prod", "vc1", 100, 1);
        let Verdict::Preempt(victims) = Layer::offer(&mut model, &prod, &mut ctx) else {
            panic!("prod should preempt");
        };
        assert_eq!(victims[0].group, "test");
        Layer::release(&mut model, "test");
        assert!(matches!(
            Layer::offer(&mut model, &prod, &mut ctx),
            Verdict::Start(_)
        ));
        // The guaranteed test job may not use vc1's neighbour's cell.
        assert!(matches!(
            Layer::offer(&mut model, &group("test", "vc1", 10, 1), &mut ctx),
            Verdict::Wait(_)
        ));
    }
}
