//! The `easy` policy: EASY backfilling (Lifka 1995; Mu'alem & Feitelson 2001). Submit
//! order; the first group of a queue that cannot start (the head) gets a reservation at
//! its earliest start, the time at which, by the running groups' estimated ends, enough of
//! its queue's GPUs are free; a later group may start before the head only if it does not
//! delay it: it ends (by its estimate) before the reservation, or it uses only GPUs the
//! head leaves over at that time. Estimates are the trace's durations, exact or scaled by
//! `easy.estimateFactorPercent`.
//!
//! The reservation counts GPUs, not shapes: a queue's GPUs are its VC's share (the whole
//! cluster over `shared`), the used ones are those its running groups hold. Each pass
//! computes the reservations afresh, so the policy turns the engine's shortcuts off.

use std::collections::BTreeMap;

use super::{Policy, PolicyContext};
use crate::cell::GroupRequest;
use crate::sched::{GroupProgress, Shortcuts, Verdict, Wait, WaitKind};
use crate::sim::SimTimeMs;

/// The policy's name.
pub const NAME: &str = "easy";

/// What the policy does and does not model.
pub const DESCRIPTION: &str = "EASY backfilling: submit order; the first group of a queue that \
cannot start gets a reservation at its earliest start (by the running groups' estimated ends); \
later groups start only if they end before it or use GPUs it leaves over. Estimates are the \
trace's durations times estimateFactorPercent (default 100: exact). Counts GPUs, not shapes: \
a backfilled group can still delay the head through fragmentation. No preemption.";

/// Settings of `easy`, from a scenario's `easy` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EasyOptions {
    /// Run-time estimates as a percentage of the real duration (100 = exact).
    pub estimate_factor_percent: u32,
}

impl Default for EasyOptions {
    fn default() -> Self {
        EasyOptions {
            estimate_factor_percent: 100,
        }
    }
}

/// A head's reservation: when it is expected to start, and the GPUs left over then.
#[derive(Debug, Clone, Copy)]
struct Reservation {
    start_ms: SimTimeMs,
    extra_gpus: u64,
}

#[derive(Debug, Clone)]
struct Known {
    vc: String,
    gpus: u32,
    /// Estimated run time still needed.
    estimate_ms: SimTimeMs,
}

/// EASY backfilling.
#[derive(Debug, Clone)]
pub struct Easy {
    factor_percent: u32,
    /// Waiting groups, from their rank.
    waiting: BTreeMap<String, Known>,
    /// Running groups with their estimated end.
    running: BTreeMap<String, (Known, SimTimeMs)>,
    /// This pass's reservations, by queue.
    heads: BTreeMap<String, Reservation>,
    /// A backfilled group admitted on the head's extra GPUs, until the layer answers.
    on_extra: Option<(String, u64)>,
}

impl Easy {
    /// An `easy` policy. Fails on an estimate factor of 0.
    pub fn new(options: &EasyOptions) -> Result<Easy, String> {
        if options.estimate_factor_percent == 0 {
            return Err(
                "easy.estimateFactorPercent is 0: use a positive percentage (100 = exact estimates)"
                    .to_string(),
            );
        }
        Ok(Easy {
            factor_percent: options.estimate_factor_percent,
            waiting: BTreeMap::new(),
            running: BTreeMap::new(),
            heads: BTreeMap::new(),
            on_extra: None,
        })
    }

    fn estimate(&self, remaining_ms: SimTimeMs) -> SimTimeMs {
        remaining_ms.saturating_mul(u64::from(self.factor_percent)) / 100
    }

    /// The reservation of a head of `queue` needing `needed` GPUs at `now`.
    fn reserve(&self, queue: &str, vc: &str, needed: u64, ctx: &PolicyContext<'_>) -> Reservation {
        let share = ctx.layer.share_gpus(vc).unwrap_or(0);
        let mut ends: Vec<(SimTimeMs, u64)> = self
            .running
            .values()
            .filter(|(k, _)| ctx.queue_of(&k.vc) == queue)
            .map(|(k, end)| ((*end).max(ctx.now_ms), u64::from(k.gpus)))
            .collect();
        let used: u64 = ends.iter().map(|e| e.1).sum();
        let mut free = share.saturating_sub(used);
        ends.sort_unstable();
        let mut at = ctx.now_ms;
        for (end, gpus) in ends {
            if free >= needed {
                break;
            }
            free += gpus;
            at = end;
        }
        if free < needed {
            // Its share can never hold it by count (borrowing, or a shape question): no
            // reservation to protect.
            return Reservation {
                start_ms: SimTimeMs::MAX,
                extra_gpus: 0,
            };
        }
        Reservation {
            start_ms: at,
            extra_gpus: free - needed,
        }
    }
}

impl Policy for Easy {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn shortcuts(&self) -> Shortcuts {
        Shortcuts::NONE
    }

    fn rank(&mut self, group: &GroupProgress<'_>) -> i64 {
        let known = Known {
            vc: group.vc().to_string(),
            gpus: group.gpus,
            estimate_ms: self.estimate(group.remaining_ms()),
        };
        self.waiting.insert(group.name().to_string(), known);
        0
    }

    fn pass_started(&mut self, _now_ms: SimTimeMs) {
        self.heads.clear();
    }

    fn admit(&mut self, request: &GroupRequest, ctx: &PolicyContext<'_>) -> Option<Wait> {
        self.on_extra = None;
        let queue = ctx.queue_of(&request.virtual_cluster);
        let head = self.heads.get(queue)?;
        let known = self.waiting.get(&request.name)?;
        let ends_ms = ctx.now_ms.saturating_add(known.estimate_ms);
        if ends_ms <= head.start_ms {
            return None;
        }
        if u64::from(known.gpus) <= head.extra_gpus {
            self.on_extra = Some((queue.to_string(), u64::from(known.gpus)));
            return None;
        }
        Some(Wait::new(
            WaitKind::Reservation,
            request.leaf_count(),
            None,
            format!(
                "waiting behind a reservation: the head of the queue is expected to start at {} ms \
                 with {} GPUs to spare; this group would run until {ends_ms} ms on {} GPUs",
                head.start_ms, head.extra_gpus, known.gpus
            ),
        ))
    }

    fn after_layer(
        &mut self,
        request: &GroupRequest,
        verdict: Verdict,
        ctx: &PolicyContext<'_>,
    ) -> Verdict {
        let queue = ctx.queue_of(&request.virtual_cluster).to_string();
        match &verdict {
            Verdict::Start(_) => {
                if let Some((q, gpus)) = self.on_extra.take()
                    && let Some(head) = self.heads.get_mut(&q)
                {
                    head.extra_gpus = head.extra_gpus.saturating_sub(gpus);
                }
            }
            Verdict::Wait(_) if !self.heads.contains_key(&queue) => {
                let reservation =
                    self.reserve(&queue, &request.virtual_cluster, request.leaf_count(), ctx);
                self.heads.insert(queue, reservation);
            }
            _ => {}
        }
        verdict
    }

    fn started(&mut self, group: &GroupProgress<'_>) {
        let Some(known) = self.waiting.remove(group.name()) else {
            return;
        };
        let end = group.now_ms.saturating_add(known.estimate_ms);
        self.running.insert(group.name().to_string(), (known, end));
    }

    fn stopped(&mut self, group: &GroupProgress<'_>) {
        self.running.remove(group.name());
    }
}
