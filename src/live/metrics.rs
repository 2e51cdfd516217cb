//! `GET /metrics` in the Prometheus text format (the `prometheus` crate's encoder):
//! decisions by outcome, decision latency, per-VC guaranteed / used / opportunistic cells
//! and bad nodes. Cell gauges are computed from the allocator at scrape time; each server
//! has its own registry, so servers in one process (tests) do not mix.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

use crate::cell::Allocator;

/// What a scheduling call ended in, as the `outcome` label says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The pod got a node.
    Bind,
    /// Victims must leave first.
    Preempt,
    /// Not now.
    Wait,
    /// The pod's spec is wrong (user error).
    Reject,
    /// The pod does not take part in HiveD scheduling.
    Ignored,
}

impl Outcome {
    fn label(self) -> &'static str {
        match self {
            Outcome::Bind => "bind",
            Outcome::Preempt => "preempt",
            Outcome::Wait => "wait",
            Outcome::Reject => "reject",
            Outcome::Ignored => "ignored",
        }
    }
}

/// The server's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    decisions: IntCounterVec,
    latency: Histogram,
    guaranteed: IntGaugeVec,
    used: IntGaugeVec,
    opportunistic: IntGaugeVec,
    bad_nodes: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric at zero.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        // The metric definitions are constants: building them cannot fail at run time.
        let decisions = IntCounterVec::new(
            Opts::new(
                "cellsim_decisions_total",
                "Scheduling decisions (filter and preempt calls) by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "cellsim_decision_duration_seconds",
                "Time to answer a filter or preempt call.",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .expect("valid metric");
        let gauge = |name: &str, help: &str| {
            IntGaugeVec::new(Opts::new(name, help), &["vc"]).expect("valid metric")
        };
        let guaranteed = gauge(
            "cellsim_vc_guaranteed_cells",
            "Leaf cells (GPUs) a VC is guaranteed: its virtual and pinned cells.",
        );
        let used = gauge(
            "cellsim_vc_used_cells",
            "Leaf cells used by a VC's guaranteed groups.",
        );
        let opportunistic = gauge(
            "cellsim_vc_opportunistic_cells",
            "Leaf cells used by a VC's opportunistic (or lazily preempted) groups.",
        );
        let bad_nodes = IntGauge::new("cellsim_bad_nodes", "Nodes marked bad.").expect("valid");
        for c in [
            Box::new(decisions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(guaranteed.clone()),
            Box::new(used.clone()),
            Box::new(opportunistic.clone()),
            Box::new(bad_nodes.clone()),
        ] {
            registry.register(c).expect("distinct metric names");
        }
        for o in [
            Outcome::Bind,
            Outcome::Preempt,
            Outcome::Wait,
            Outcome::Reject,
            Outcome::Ignored,
        ] {
            decisions.with_label_values(&[o.label()]);
        }
        Metrics {
            registry,
            decisions,
            latency,
            guaranteed,
            used,
            opportunistic,
            bad_nodes,
        }
    }

    /// Counts one decision and its duration.
    pub fn observe(&self, outcome: Outcome, seconds: f64) {
        self.decisions.with_label_values(&[outcome.label()]).inc();
        self.latency.observe(seconds);
    }

    /// The text exposition, with the cell gauges taken from `alloc` now.
    pub fn render(&self, alloc: &Allocator) -> String {
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (vc, gpus) in crate::sched::guaranteed_gpus(alloc.config()) {
            self.guaranteed
                .with_label_values(&[vc.as_str()])
                .set(i64::from(gpus));
            self.used.with_label_values(&[vc.as_str()]).set(0);
            self.opportunistic.with_label_values(&[vc.as_str()]).set(0);
        }
        let mut used: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
        for g in alloc.affinity_groups_view().items {
            if g.status.state == "Preempting" {
                continue;
            }
            let leaves: u64 = g
                .status
                .physical_placement
                .values()
                .map(|d| d.len() as u64)
                .sum();
            let entry = used.entry(g.status.vc.clone()).or_default();
            if g.status.priority < 0 || g.status.lazy_preemption_status.is_some() {
                entry.1 += leaves;
            } else {
                entry.0 += leaves;
            }
        }
        for (vc, (g, o)) in used {
            self.used.with_label_values(&[vc.as_str()]).set(to_i64(g));
            self.opportunistic
                .with_label_values(&[vc.as_str()])
                .set(to_i64(o));
        }
        self.bad_nodes.set(to_i64(alloc.bad_nodes().len() as u64));
        let mut out = Vec::new();
        // Encoding into memory cannot fail for these metric types.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
