//! The `shared` layer: one pool of GPUs for the whole cluster, no VCs (a job's VC is kept
//! for reports only), gangs, packing placement through the shared pool
//! (`sched/pool.rs`), no preemption of its own. With the `fifo` policy it is today's
//! `fifo` model, the baseline every other model should beat.

use super::Layer;
use crate::cell::GroupRequest;
use crate::config::CellConfig;
use crate::sched::pool::{Pool, PoolAnswer};
use crate::sched::{OfferContext, Verdict};

/// The layer's name.
pub const NAME: &str = "shared";

/// What the layer does and does not model.
pub const DESCRIPTION: &str = "one pool for the whole cluster: no VCs or quotas (a job's VC \
is kept for reports only), gangs (all-or-nothing), placement with the same cell tree and \
packing as hived, one queue for all jobs. Does not model: priorities (unless the policy \
orders by them), preemption of its own, pinned cells.";

/// The whole cluster as one pool.
#[derive(Debug, Clone)]
pub struct Shared {
    pool: Pool,
    total_gpus: u64,
}

impl Shared {
    /// A `shared` layer over `config`.
    pub fn new(config: &CellConfig) -> Shared {
        Shared::with_pool(config, Pool::new(config))
    }

    /// A `shared` layer over `config` placing through `pool` (a model's placement).
    pub(crate) fn with_pool(config: &CellConfig, pool: Pool) -> Shared {
        Shared {
            pool,
            total_gpus: config.physical_cells.iter().map(|c| c.leaf_count()).sum(),
        }
    }
}

impl Layer for Shared {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn one_queue(&self) -> bool {
        true
    }

    fn share_gpus(&self, _vc: &str) -> Option<u64> {
        Some(self.total_gpus)
    }

    fn offer(&mut self, request: &GroupRequest, _ctx: &mut OfferContext<'_>) -> Verdict {
        match self.pool.place(request) {
            PoolAnswer::Bind(placement) => Verdict::Start(placement),
            PoolAnswer::Wait(reason) => Verdict::Wait(reason),
            PoolAnswer::Reject(reason) => Verdict::Reject(reason),
        }
    }

    fn fits_without(&mut self, request: &GroupRequest, released: &[String]) -> bool {
        self.pool.fits_without(request, released)
    }

    fn release(&mut self, group: &str) {
        self.pool.release(group);
    }

    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        self.pool.set_node_health(node, healthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::pool::tests::{TWO_NODE_CLUSTER, group};
    use rand::SeedableRng;

    #[test]
    fn shared_ignores_vcs_and_never_preempts() {
        let config = crate::config::load_str(TWO_NODE_CLUSTER, "t").unwrap();
        let mut layer = Shared::new(&config);
        assert!(layer.one_queue());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = OfferContext {
            now_ms: 0,
            rng: &mut rng,
        };
        // Even a VC the config does not have runs: the layer has no VCs.
        assert!(matches!(
            layer.offer(&group("a", "nowhere", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
        assert!(matches!(
            layer.offer(&group("b", "vc1", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
        assert!(matches!(
            layer.offer(&group("c", "vc1", 1000, 1), &mut ctx),
            Verdict::Wait(_)
        ));
    }
}
