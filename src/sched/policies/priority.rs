//! The `priority` policy: priority (highest first), then submit order; a group that
//! waits blocks nobody. Today's order of `hived` and `yarn-cs`; preemption by priority,
//! where there is any, is the layer's (HiveD's VC priorities).

use super::Policy;
use crate::sched::{GroupProgress, Hooks};

/// The policy's name.
pub const NAME: &str = "priority";

/// What the policy does and does not model.
pub const DESCRIPTION: &str = "priority (highest first), then submit order; a group that \
cannot start blocks nobody (later groups may start around it). Preempts nothing itself: \
priority preemption is the layer's (hived).";

/// Priority, then submit time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Priority;

impl Policy for Priority {
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

    fn rank(&mut self, group: &GroupProgress<'_>) -> i64 {
        -i64::from(group.request.priority)
    }
}
