//! Intra-VC policies: which waiting group goes next, and which running one yields. A
//! policy ranks groups for the queue, may refuse a group before the layer is asked (a
//! reservation), may turn the layer's `Wait` into a suspension of running groups (a
//! preemptive policy), sees groups start and stop with their progress, and may ask for
//! timers. It places nothing: placement is the layer's. One file per policy:
//!
//! - [`fifo`]: submit order, strict (a waiting group blocks the later ones of its queue).
//! - [`priority`]: priority, then submit order (today's `hived` and `yarn-cs` order).
//! - [`sjf`]: shortest job first by known duration, non-preemptive.
//! - [`srtf`]: shortest remaining time first, preemptive (suspend / resume).
//! - [`tiresias`]: discretised 2D-LAS with starvation promotion, preemptive.
//! - [`easy`]: EASY backfilling behind a reservation for the head of each queue.

pub mod easy;
pub mod fifo;
pub mod priority;
pub mod sjf;
pub mod srtf;
pub mod tiresias;

use super::layers::Layer;
use super::{GroupProgress, Hooks, ModelOptions, Shortcuts, Verdict, Wait, WaitKind};
use crate::cell::GroupRequest;
use crate::sim::SimTimeMs;

/// Names of the policies [`policy_by_name`] knows.
pub const POLICY_NAMES: [&str; 6] = [
    fifo::NAME,
    priority::NAME,
    sjf::NAME,
    srtf::NAME,
    tiresias::NAME,
    easy::NAME,
];

/// What a policy sees when it decides about a group: the time and the layer (read-only:
/// whether it has one queue, each VC's share).
pub struct PolicyContext<'a> {
    /// Current time.
    pub now_ms: SimTimeMs,
    /// The layer the policy runs over.
    pub layer: &'a dyn Layer,
}

impl PolicyContext<'_> {
    /// The queue a group of `vc` is in: its VC, or one queue for the whole cluster.
    pub fn queue_of<'v>(&self, vc: &'v str) -> &'v str {
        if self.layer.one_queue() { "" } else { vc }
    }
}

/// An intra-VC scheduling policy. Only [`Policy::name`], [`Policy::describe`] and
/// [`Policy::rank`] are required; the defaults describe a non-preemptive policy that
/// needs no timers.
pub trait Policy {
    /// The policy's name (`fifo`, `srtf`, ...).
    fn name(&self) -> &'static str;

    /// What the policy does and does not model.
    fn describe(&self) -> &'static str;

    /// True when a group that must wait blocks the later groups of its queue.
    fn strict_order(&self) -> bool {
        false
    }

    /// The engine shortcuts the policy is safe with (see [`Shortcuts`]).
    fn shortcuts(&self) -> Shortcuts {
        Shortcuts::ALL
    }

    /// True when the policy only ranks: it never refuses a group itself nor replaces
    /// the layer's answer, so a waiting group's answer changes only when the layer's
    /// does and the engine may offer only the groups the layer wakes
    /// ([`crate::sched::Scheduler::take_woken`]). Default: false.
    fn waits_follow_layer(&self) -> bool {
        false
    }

    /// The hooks the policy listens to (default: all). A policy that only ranks returns
    /// [`Hooks::NONE`] so the engine skips the calls.
    fn hooks(&self) -> Hooks {
        Hooks::ALL
    }

    /// The group's place in the queue: lower goes first (ties by submit time). Asked when
    /// the group joins the queue, and again when [`Policy::on_timer`] names it.
    fn rank(&mut self, group: &GroupProgress<'_>) -> i64;

    /// Asked before the layer: `Some` keeps the group waiting without asking the layer.
    fn admit(&mut self, _request: &GroupRequest, _ctx: &PolicyContext<'_>) -> Option<Wait> {
        None
    }

    /// The layer's answer, which the policy may replace (a `Wait` by a `Suspend` of
    /// running groups, for a preemptive policy).
    fn after_layer(
        &mut self,
        _request: &GroupRequest,
        verdict: Verdict,
        _ctx: &PolicyContext<'_>,
    ) -> Verdict {
        verdict
    }

    /// A group started.
    fn started(&mut self, _group: &GroupProgress<'_>) {}

    /// A running group stops (its progress includes the run that ends).
    fn stopped(&mut self, _group: &GroupProgress<'_>) {}

    /// A pass over the queue begins.
    fn pass_started(&mut self, _now_ms: SimTimeMs) {}

    /// The next time the policy wants to be woken, if any.
    fn next_timer(&self) -> Option<SimTimeMs> {
        None
    }

    /// The timer came: the waiting groups whose rank changed.
    fn on_timer(&mut self, _now_ms: SimTimeMs) -> Vec<String> {
        Vec::new()
    }

    /// Extra run time a suspended group needs to resume.
    fn resume_delay_ms(&self) -> SimTimeMs {
        0
    }
}

/// The policy called `name`, with `options`.
pub fn policy_by_name(name: &str, options: &ModelOptions) -> Result<Box<dyn Policy>, String> {
    match name {
        fifo::NAME => Ok(Box::new(fifo::Fifo)),
        priority::NAME => Ok(Box::new(priority::Priority)),
        sjf::NAME => Ok(Box::new(sjf::Sjf)),
        srtf::NAME => Ok(Box::new(srtf::Srtf::new(options.resume_delay_ms))),
        tiresias::NAME => Ok(Box::new(tiresias::Tiresias::new(
            &options.tiresias,
            options.resume_delay_ms,
        )?)),
        easy::NAME => Ok(Box::new(easy::Easy::new(&options.easy)?)),
        other => Err(format!(
            "unknown policy {other:?}; use one of: {}",
            POLICY_NAMES.join(", ")
        )),
    }
}

/// Each policy's name, one-line summary and description.
pub fn descriptions() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            fifo::NAME,
            "submit order, head-of-line blocking per queue",
            fifo::DESCRIPTION,
        ),
        (
            priority::NAME,
            "priority, then submit order; waiting groups block nobody",
            priority::DESCRIPTION,
        ),
        (
            sjf::NAME,
            "shortest job first (known duration), non-preemptive",
            sjf::DESCRIPTION,
        ),
        (
            srtf::NAME,
            "shortest remaining time first, preemptive (suspend/resume)",
            srtf::DESCRIPTION,
        ),
        (
            tiresias::NAME,
            "discretised 2D-LAS with starvation promotion, preemptive",
            tiresias::DESCRIPTION,
        ),
        (
            easy::NAME,
            "EASY backfilling behind the head's reservation",
            easy::DESCRIPTION,
        ),
    ]
}

/// What a preemptive policy remembers of a running group to judge it as a victim.
#[derive(Debug, Clone)]
pub struct RunningGroup {
    /// Its VC.
    pub vc: String,
    /// GPUs it holds.
    pub gpus: u32,
    /// Its priority (opportunistic groups only yield to opportunistic ones: they hold
    /// other VCs' cells, which a guaranteed group cannot use).
    pub priority: i32,
    /// Its GPU type, if it asked for one.
    pub leaf_cell_type: Option<String>,
    /// When its current run started.
    pub started_ms: SimTimeMs,
}

impl RunningGroup {
    /// The running group of `group`'s progress.
    pub fn of(group: &GroupProgress<'_>) -> RunningGroup {
        RunningGroup {
            vc: group.request.virtual_cluster.clone(),
            gpus: group.gpus,
            priority: group.request.priority,
            leaf_cell_type: group.request.leaf_cell_type.clone(),
            started_ms: group.now_ms,
        }
    }

    /// Whether suspending this group frees GPUs `request` can use: same queue (VC, unless
    /// the layer has one queue), same kind (guaranteed or opportunistic), a compatible
    /// GPU type.
    pub fn frees_for(&self, request: &GroupRequest, ctx: &PolicyContext<'_>) -> bool {
        (ctx.layer.one_queue() || self.vc == request.virtual_cluster)
            && (self.priority < 0) == (request.priority < 0)
            && match (&request.leaf_cell_type, &self.leaf_cell_type) {
                (Some(want), Some(have)) => want == have,
                _ => true,
            }
    }
}

/// The victims a preemptive policy suspends so that a group of rank `rank` fits by count:
/// among `candidates` (name, GPUs, current rank) those ranked strictly behind it, the
/// worst first (ties by name), until they hold `shortfall` GPUs; `None` when they cannot.
/// Only for waits by count (quota, capacity): a shape wait may not be cured by freeing
/// GPUs, and a suspension that does not help would be undone at once.
pub fn pick_victims<'a>(
    wait: &Wait,
    rank: i64,
    candidates: impl Iterator<Item = (&'a str, u32, i64)>,
) -> Option<Vec<String>> {
    if !matches!(wait.kind, WaitKind::Quota | WaitKind::Capacity) {
        return None;
    }
    let shortfall = wait.shortfall_gpus().filter(|&s| s > 0)?;
    let mut behind: Vec<(&str, u32, i64)> = candidates.filter(|c| c.2 > rank).collect();
    behind.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(b.0)));
    let mut freed = 0u64;
    let mut victims = Vec::new();
    for (name, gpus, _) in behind {
        victims.push(name.to_string());
        freed += u64::from(gpus);
        if freed >= shortfall {
            return Some(victims);
        }
    }
    None
}
