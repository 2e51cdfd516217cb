//! A model composed of a layer and a policy ([`Model`]): the policy ranks and may refuse
//! or turn a wait into a suspension, the layer places. The engine sees only the
//! [`Scheduler`] this implements.

use super::layers::Layer;
use super::policies::{Policy, PolicyContext};
use super::{GroupProgress, Hooks, OfferContext, Scheduler, Shortcuts, StrictOrder, Verdict};
use crate::cell::GroupRequest;
use crate::sim::SimTimeMs;

/// A layer plus a policy, under one name.
pub struct Model {
    name: String,
    layer: Box<dyn Layer>,
    policy: Box<dyn Policy>,
}

impl Model {
    /// The model `name` made of `layer` and `policy` (a user's policy too: see
    /// `examples/custom_policy.rs`).
    pub fn new(name: &str, layer: Box<dyn Layer>, policy: Box<dyn Policy>) -> Model {
        Model {
            name: name.to_string(),
            layer,
            policy,
        }
    }

    /// The layer.
    pub fn layer(&self) -> &dyn Layer {
        self.layer.as_ref()
    }

    /// The policy.
    pub fn policy(&self) -> &dyn Policy {
        self.policy.as_ref()
    }
}

impl Scheduler for Model {
    fn name(&self) -> &str {
        &self.name
    }

    fn describe(&self) -> String {
        format!(
            "layer {}: {} Policy {}: {}",
            self.layer.name(),
            self.layer.describe(),
            self.policy.name(),
            self.policy.describe()
        )
    }

    fn strict_order(&self) -> StrictOrder {
        if self.layer.owns_queue_order() {
            return StrictOrder::No;
        }
        match (self.policy.strict_order(), self.layer.one_queue()) {
            (false, _) => StrictOrder::No,
            (true, true) => StrictOrder::Global,
            (true, false) => StrictOrder::PerVc,
        }
    }

    fn shortcuts(&self) -> Shortcuts {
        let (policy, layer) = (self.policy.shortcuts(), self.layer.shortcuts());
        Shortcuts {
            waits_hold_until_free: policy.waits_hold_until_free && layer.waits_hold_until_free,
            same_class_same_answer: policy.same_class_same_answer && layer.same_class_same_answer,
        }
    }

    fn hooks(&self) -> Hooks {
        self.policy.hooks()
    }

    fn rank(&mut self, group: &GroupProgress<'_>) -> i64 {
        self.policy.rank(group)
    }

    fn offer(&mut self, request: &GroupRequest, ctx: &mut OfferContext<'_>) -> Verdict {
        let now_ms = ctx.now_ms;
        if !self.layer.admitted_waiting(request) {
            let refused = self.policy.admit(
                request,
                &PolicyContext {
                    now_ms,
                    layer: self.layer.as_ref(),
                },
            );
            if let Some(wait) = refused {
                return Verdict::Wait(wait);
            }
        }
        let verdict = self.layer.offer(request, ctx);
        let verdict = self.policy.after_layer(
            request,
            verdict,
            &PolicyContext {
                now_ms,
                layer: self.layer.as_ref(),
            },
        );
        match verdict {
            // Victims whose release would not let the group start (they free GPUs by
            // count, not in the shape it needs) are left running: suspended, they would
            // be resumed at once and suspended again on every pass. The group waits for
            // the layer's reason, which asking again gives (the trial changed nothing).
            Verdict::Suspend(victims) if !self.layer.fits_without(request, &victims) => {
                self.layer.offer(request, ctx)
            }
            other => other,
        }
    }

    fn release(&mut self, group: &str) {
        self.layer.release(group);
    }

    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        self.layer.set_node_health(node, healthy)
    }

    fn take_downgraded(&mut self) -> Vec<String> {
        self.layer.take_downgraded()
    }

    fn started(&mut self, group: &GroupProgress<'_>) {
        self.policy.started(group);
    }

    fn stopped(&mut self, group: &GroupProgress<'_>) {
        self.policy.stopped(group);
    }

    fn pass_started(&mut self, now_ms: SimTimeMs) {
        self.policy.pass_started(now_ms);
    }

    fn next_timer(&self) -> Option<SimTimeMs> {
        self.policy.next_timer()
    }

    fn on_timer(&mut self, now_ms: SimTimeMs) -> Vec<String> {
        self.policy.on_timer(now_ms)
    }

    fn resume_delay_ms(&self) -> SimTimeMs {
        self.policy.resume_delay_ms()
    }

    fn orders_offers(&self) -> bool {
        self.layer.orders_offers()
    }

    fn plan_offers(&mut self, groups: &[&GroupRequest]) {
        self.layer.plan_offers(groups);
    }

    fn next_offer(&mut self) -> Option<usize> {
        self.layer.next_offer()
    }

    fn take_woken(&mut self, woken: &mut Vec<String>) -> bool {
        // Asked either way, so that the layer's list does not grow unread.
        let named = self.layer.take_woken(woken);
        if named && self.policy.waits_follow_layer() {
            return true;
        }
        woken.clear();
        false
    }
}
