//! The `tiresias` policy: discretised two-dimensional least attained service (Tiresias,
//! NSDI'19, its `dlas-gpu` scheduler). A group's attained service is GPUs x run time;
//! K queues split it at thresholds: every group starts in queue 0 and is demoted when its
//! service crosses its queue's threshold (a timer at that moment). The queue is served
//! queue 0 first, first come first served within a queue (by the time the group entered
//! it); a waiting group may suspend running groups behind it in that order. Starvation
//! promotion: a waiting group below queue 0 that has waited (since it last ran) at least
//! `starvationFactor` times its run time since its last promotion goes back to queue 0
//! with its service counted from zero, as the Tiresias simulator does.
//!
//! Defaults: two queues split at 3,600 GPU-seconds, starvation factor 10 (set with
//! `tiresias: {queueThresholds: [1h, ...], starvationFactor: N}`; 0 turns promotion off).
//! Placement is the layer's (Tiresias' consolidation choice is not modelled).

use std::collections::{BTreeMap, BTreeSet};

use super::{Policy, PolicyContext, RunningGroup, pick_victims};
use crate::cell::GroupRequest;
use crate::sched::{GroupProgress, Verdict};
use crate::sim::SimTimeMs;

/// The policy's name.
pub const NAME: &str = "tiresias";

/// What the policy does and does not model.
pub const DESCRIPTION: &str = "Tiresias' discretised 2D-LAS: attained service = GPUs x run \
time; queues split at thresholds (default two queues at 3600 GPU-seconds); a group is demoted \
when its service crosses its queue's threshold; queue 0 first, first come first served within \
a queue; a waiting group suspends running ones behind it (they resume with their progress); \
starvation promotion back to queue 0 after waiting starvationFactor (default 10) times its \
run time since its last promotion. Does not model: Tiresias' placement (consolidation) \
choice, the Gittins-index variant.";

/// Settings of `tiresias`, from a scenario's `tiresias` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TiresiasOptions {
    /// Thresholds between queues in GPU-milliseconds of attained service, ascending; K-1
    /// of them for K queues.
    pub queue_thresholds_gpu_ms: Vec<u64>,
    /// Promote a waiting group to queue 0 after waiting this many times its run time
    /// since its last promotion; 0 never promotes.
    pub starvation_factor: u32,
}

impl Default for TiresiasOptions {
    fn default() -> Self {
        TiresiasOptions {
            queue_thresholds_gpu_ms: vec![3_600_000],
            starvation_factor: 10,
        }
    }
}

/// Bits of a rank below the queue index: the time the group entered its queue (ms, good
/// for 139 years).
const QUEUE_SHIFT: u32 = 42;

#[derive(Debug, Clone)]
struct State {
    /// Attained service since the last promotion, GPU-ms (up to the last stop).
    service_gpu_ms: u64,
    /// Run time since the last promotion (up to the last stop).
    executed_ms: SimTimeMs,
    queue: usize,
    entered_ms: SimTimeMs,
    gpus: u32,
    /// Set while it runs.
    running: Option<RunningGroup>,
    /// When it last started waiting.
    waiting_since: SimTimeMs,
    /// Its pending timer, to take back when it starts or stops.
    timer: Option<SimTimeMs>,
}

impl State {
    fn rank(&self) -> i64 {
        let entered = i64::try_from(self.entered_ms).unwrap_or(i64::MAX) & ((1 << QUEUE_SHIFT) - 1);
        ((self.queue as i64) << QUEUE_SHIFT) | entered
    }
}

/// Discretised 2D least attained service.
#[derive(Debug, Clone)]
pub struct Tiresias {
    thresholds: Vec<u64>,
    starvation_factor: u32,
    resume_delay_ms: SimTimeMs,
    groups: BTreeMap<String, State>,
    /// Pending timers: demotions of running groups, promotions of waiting ones.
    timers: BTreeSet<(SimTimeMs, String)>,
}

impl Tiresias {
    /// A `tiresias` policy. Fails when the thresholds are not ascending and positive.
    pub fn new(options: &TiresiasOptions, resume_delay_ms: SimTimeMs) -> Result<Tiresias, String> {
        let t = &options.queue_thresholds_gpu_ms;
        if t.first() == Some(&0) || t.windows(2).any(|w| w[0] >= w[1]) {
            return Err(format!(
                "tiresias.queueThresholds must be positive and ascending (got {} GPU-ms); \
                 e.g. queueThresholds: [1h, 10h]",
                t.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
            ));
        }
        Ok(Tiresias {
            thresholds: t.clone(),
            starvation_factor: options.starvation_factor,
            resume_delay_ms,
            groups: BTreeMap::new(),
            timers: BTreeSet::new(),
        })
    }

    /// The queue of a group with `service` GPU-ms.
    fn queue_of(&self, service: u64) -> usize {
        self.thresholds
            .iter()
            .position(|&t| service < t)
            .unwrap_or(self.thresholds.len())
    }

    fn set_timer(&mut self, name: &str, at: Option<SimTimeMs>) {
        let Some(state) = self.groups.get_mut(name) else {
            return;
        };
        if let Some(old) = state.timer.take() {
            self.timers.remove(&(old, name.to_string()));
        }
        if let Some(at) = at {
            state.timer = Some(at);
            self.timers.insert((at, name.to_string()));
        }
    }

    /// When a running group's service crosses its queue's threshold, if it has one.
    fn demotion_at(&self, state: &State, started_ms: SimTimeMs) -> Option<SimTimeMs> {
        let threshold = *self.thresholds.get(state.queue)?;
        let left = threshold.saturating_sub(state.service_gpu_ms);
        let gpus = u64::from(state.gpus.max(1));
        Some(started_ms + left.div_ceil(gpus).max(1))
    }

    /// When a waiting group gets promoted, if it ever does.
    fn promotion_at(&self, state: &State) -> Option<SimTimeMs> {
        (self.starvation_factor > 0 && state.queue > 0 && state.executed_ms > 0).then(|| {
            state.waiting_since
                + state
                    .executed_ms
                    .saturating_mul(u64::from(self.starvation_factor))
        })
    }
}

impl Policy for Tiresias {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn rank(&mut self, group: &GroupProgress<'_>) -> i64 {
        let name = group.name().to_string();
        let state = self.groups.entry(name.clone()).or_insert_with(|| State {
            service_gpu_ms: 0,
            executed_ms: 0,
            queue: 0,
            entered_ms: group.submit_ms,
            gpus: group.gpus,
            running: None,
            waiting_since: group.now_ms,
            timer: None,
        });
        state.waiting_since = group.now_ms;
        let rank = state.rank();
        let at = self.promotion_at(&self.groups[&name]);
        self.set_timer(&name, at);
        rank
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
        let Some(me) = self.groups.get(&request.name) else {
            return Verdict::Wait(wait);
        };
        let candidates = self.groups.iter().filter_map(|(name, s)| {
            let r = s.running.as_ref()?;
            r.frees_for(request, ctx)
                .then(|| (name.as_str(), r.gpus, s.rank()))
        });
        match pick_victims(&wait, me.rank(), candidates) {
            Some(victims) => Verdict::Suspend(victims),
            None => Verdict::Wait(wait),
        }
    }

    fn started(&mut self, group: &GroupProgress<'_>) {
        let name = group.name();
        let Some(state) = self.groups.get_mut(name) else {
            return;
        };
        state.running = Some(RunningGroup::of(group));
        let at = self.demotion_at(&self.groups[name], group.now_ms);
        self.set_timer(name, at);
    }

    fn stopped(&mut self, group: &GroupProgress<'_>) {
        let name = group.name();
        self.set_timer(name, None);
        let finished = group.remaining_ms() == 0;
        if finished {
            self.groups.remove(name);
            return;
        }
        let Some(state) = self.groups.get_mut(name) else {
            return;
        };
        let Some(run) = state.running.take() else {
            return;
        };
        let ran = group.now_ms - run.started_ms;
        state.executed_ms += ran;
        state.service_gpu_ms += ran * u64::from(state.gpus);
        let queue = self.queue_of(self.groups[name].service_gpu_ms);
        let state = self.groups.get_mut(name).expect("looked up above");
        if queue != state.queue {
            // Demoted by this run's end (its timer would have come at the same time).
            state.queue = queue;
            state.entered_ms = group.now_ms;
        }
    }

    fn next_timer(&self) -> Option<SimTimeMs> {
        self.timers.first().map(|(at, _)| *at)
    }

    fn on_timer(&mut self, now_ms: SimTimeMs) -> Vec<String> {
        let mut promoted = Vec::new();
        while let Some((at, name)) = self.timers.first().cloned() {
            if at > now_ms {
                break;
            }
            self.timers.remove(&(at, name.clone()));
            let Some(state) = self.groups.get_mut(&name) else {
                continue;
            };
            state.timer = None;
            if let Some(run) = state.running.clone() {
                // Demotion: account the run so far, as if it stopped and went on.
                let ran = now_ms - run.started_ms;
                let service = state.service_gpu_ms + ran * u64::from(state.gpus);
                let queue = self.queue_of(service);
                let state = self.groups.get_mut(&name).expect("looked up above");
                state.service_gpu_ms = service;
                state.executed_ms += ran;
                if let Some(r) = state.running.as_mut() {
                    r.started_ms = now_ms;
                }
                if queue != state.queue {
                    state.queue = queue;
                    state.entered_ms = now_ms;
                }
                let at = self.demotion_at(&self.groups[&name], now_ms);
                self.set_timer(&name, at);
            } else {
                // Promotion of a starving group.
                state.queue = 0;
                state.service_gpu_ms = 0;
                state.executed_ms = 0;
                state.entered_ms = now_ms;
                promoted.push(name);
            }
        }
        promoted
    }

    fn resume_delay_ms(&self) -> SimTimeMs {
        self.resume_delay_ms
    }
}
