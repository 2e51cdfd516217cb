//! The `fifo` policy: submit order, strict. A group that must wait blocks the later
//! groups of its queue (head-of-line blocking): per VC over a layer with VCs, for the
//! whole cluster over `shared` (today's `fifo` model). No preemption.

use super::Policy;
use crate::sched::{GroupProgress, Hooks};

/// The policy's name.
pub const NAME: &str = "fifo";

/// What the policy does and does not model.
pub const DESCRIPTION: &str = "first in, first out: submit order, strict (the first group of \
a queue that cannot start blocks the later ones: per VC, or for the whole cluster over \
shared), no preemption. Ignores priorities and durations.";

/// Submit order, head-of-line blocking.
#[derive(Debug, Clone, Copy, Default)]
pub struct Fifo;

impl Policy for Fifo {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn waits_follow_layer(&self) -> bool {
        true
    }

    fn hooks(&self) -> Hooks {
        // It only ranks: no starts, stops, passes or timers to hear about.
        Hooks::NONE
    }

    fn strict_order(&self) -> bool {
        true
    }

    fn rank(&mut self, _group: &GroupProgress<'_>) -> i64 {
        0
    }
}
