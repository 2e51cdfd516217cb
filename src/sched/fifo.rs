//! The `fifo` model: one queue in submit order, no VCs, gangs, strict order (the first
//! group that cannot start blocks every group behind it), packing placement through the
//! shared pool (`sched/pool.rs`), no preemption. The baseline every other model should beat.

use super::pool::{Pool, PoolAnswer};
use super::{OfferContext, Scheduler, Verdict};
use crate::cell::GroupRequest;
use crate::config::CellConfig;

/// The model's name.
pub const NAME: &str = "fifo";

/// What the model does and does not model.
pub const DESCRIPTION: &str = "FIFO: one queue in submit order for the whole cluster, gangs \
(all-or-nothing), strict order (head-of-line blocking: the first group that cannot start \
blocks all later ones), placement with the same cell tree and packing as hived. Does not \
model: VCs or quotas (a job's VC is kept for reports only), priorities, preemption, pinned \
cells, backfilling.";

/// First in, first out over the whole cluster.
#[derive(Debug, Clone)]
pub struct Fifo {
    pool: Pool,
}

impl Fifo {
    /// A `fifo` model over `config`.
    pub fn new(config: &CellConfig) -> Fifo {
        Fifo {
            pool: Pool::new(config),
        }
    }
}

impl Scheduler for Fifo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn head_of_line_blocking(&self) -> bool {
        true
    }

    fn orders_by_priority(&self) -> bool {
        false
    }

    fn offer(&mut self, request: &GroupRequest, _ctx: &mut OfferContext<'_>) -> Verdict {
        match self.pool.place(request) {
            PoolAnswer::Bind(placement) => Verdict::Start(placement),
            PoolAnswer::Wait(reason) => Verdict::Wait(reason),
            PoolAnswer::Reject(reason) => Verdict::Reject(reason),
        }
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
    fn fifo_blocks_the_head_ignores_vcs_and_never_preempts() {
        let config = crate::config::load_str(TWO_NODE_CLUSTER, "t").unwrap();
        let mut model = Fifo::new(&config);
        assert!(model.head_of_line_blocking());
        assert!(!model.orders_by_priority());
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = OfferContext {
            now_ms: 0,
            rng: &mut rng,
        };
        // Even a VC the config does not have runs: fifo has no VCs.
        assert!(matches!(
            model.offer(&group("a", "nowhere", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
        assert!(matches!(
            model.offer(&group("b", "vc1", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
        assert!(matches!(
            model.offer(&group("c", "vc1", 1000, 1), &mut ctx),
            Verdict::Wait(_)
        ));
    }
}
