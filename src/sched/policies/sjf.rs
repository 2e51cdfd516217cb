//! The `sjf` policy: shortest job first by the duration the trace knows, non-preemptive.
//! Groups that cannot start block nobody, so shorter jobs behind a large one start
//! around it.

use super::Policy;
use crate::sched::{GroupProgress, Hooks};

/// The policy's name.
pub const NAME: &str = "sjf";

/// What the policy does and does not model.
pub const DESCRIPTION: &str = "shortest job first: the queue is ordered by the job's duration \
(known exactly from the trace), then submit order; non-preemptive; a group that cannot \
start blocks nobody. Ignores priorities; long jobs can starve.";

/// Shortest job first.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sjf;

impl Policy for Sjf {
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
        i64::try_from(group.duration_ms).unwrap_or(i64::MAX)
    }
}
