//! The `srtf` policy: shortest remaining time first, preemptive. The queue is ordered by
//! remaining run time (the trace's duration less the work kept); when a group waits for
//! GPUs (by count) that running groups of its queue with more time left hold, those are
//! suspended, the longest remaining first, and resume later with their progress kept.

use std::collections::BTreeMap;

use super::{Policy, PolicyContext, RunningGroup, pick_victims};
use crate::cell::GroupRequest;
use crate::sched::{GroupProgress, Verdict};
use crate::sim::SimTimeMs;

/// The policy's name.
pub const NAME: &str = "srtf";

/// What the policy does and does not model.
pub const DESCRIPTION: &str = "shortest remaining time first: the queue is ordered by remaining \
run time (known exactly from the trace); a group that waits for GPUs held by running groups \
of its queue with more time left suspends them (longest remaining first), and they resume \
with their progress kept (plus resumeDelay, default 0). Preempts only for a shortage of GPUs \
by count, not for a shape. Ignores priorities.";

/// Shortest remaining time first.
#[derive(Debug, Clone, Default)]
pub struct Srtf {
    /// Remaining time of waiting groups, from their rank.
    waiting: BTreeMap<String, SimTimeMs>,
    /// Running groups with their remaining time when they started.
    running: BTreeMap<String, (RunningGroup, SimTimeMs)>,
    resume_delay_ms: SimTimeMs,
}

impl Srtf {
    /// An `srtf` policy; suspended groups need `resume_delay_ms` more to resume.
    pub fn new(resume_delay_ms: SimTimeMs) -> Srtf {
        Srtf {
            resume_delay_ms,
            ..Srtf::default()
        }
    }
}

fn as_rank(ms: SimTimeMs) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

impl Policy for Srtf {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn rank(&mut self, group: &GroupProgress<'_>) -> i64 {
        let remaining = group.remaining_ms();
        self.waiting.insert(group.name().to_string(), remaining);
        as_rank(remaining)
    }

    fn after_layer(
        &mut self,
        request: &GroupRequest,
        verdict: Verdict,
        ctx: &PolicyContext<'_>,
    ) -> Verdict {
        let Verdict::Wait(wait) = verdict else {
            return verdict;
        };
        let Some(&remaining) = self.waiting.get(&request.name) else {
            return Verdict::Wait(wait);
        };
        let now = ctx.now_ms;
        let candidates = self
            .running
            .iter()
            .filter(|(_, (r, _))| r.frees_for(request, ctx))
            .map(|(name, (r, at_start))| {
                let left = at_start.saturating_sub(now - r.started_ms);
                (name.as_str(), r.gpus, as_rank(left))
            });
        match pick_victims(&wait, as_rank(remaining), candidates) {
            Some(victims) => Verdict::Suspend(victims),
            None => Verdict::Wait(wait),
        }
    }

    fn started(&mut self, group: &GroupProgress<'_>) {
        self.waiting.remove(group.name());
        self.running.insert(
            group.name().to_string(),
            (RunningGroup::of(group), group.remaining_ms()),
        );
    }

    fn stopped(&mut self, group: &GroupProgress<'_>) {
        self.running.remove(group.name());
    }

    fn resume_delay_ms(&self) -> SimTimeMs {
        self.resume_delay_ms
    }
}
