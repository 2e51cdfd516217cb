//! `GET /metrics` in the Prometheus text format (the `prometheus` crate's encoder):
//! decisions by outcome, decision latency, binds and deletes by result, HTTP responses by
//! status, the journal (size, compactions, write + fsync latency), per-VC guaranteed /
//! used / opportunistic cells and bad nodes. Cell gauges are counted from the allocator at
//! scrape time under the state lock ([`CellGauges::of`], a pass over the groups) and
//! encoded after it is released; each server has its own registry, so servers in one
//! process (tests) do not mix.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
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
    binds: IntCounterVec,
    deletes: IntCounterVec,
    responses: IntCounterVec,
    journal_bytes: IntGauge,
    journal_lines: IntGauge,
    compactions: IntCounter,
    journal_write: Histogram,
}

/// The cell gauges' values, counted under the state lock and rendered after it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellGauges {
    guaranteed: Vec<(String, u32)>,
    used: std::collections::BTreeMap<String, (u64, u64)>,
    bad_nodes: u64,
}

impl CellGauges {
    /// Counts the gauges from `alloc`: one pass over its groups, no views built.
    pub fn of(alloc: &Allocator) -> CellGauges {
        CellGauges {
            guaranteed: crate::sched::guaranteed_gpus(alloc.config())
                .into_iter()
                .collect(),
            used: alloc.vc_leaves_in_use(),
            bad_nodes: alloc.bad_nodes().len() as u64,
        }
    }
}

/// How a bind call ended, as the `result` label of `cellsim_binds_total` says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindResult {
    /// Bound (and durable).
    Bound,
    /// Refused (no placement, wrong node, the Kubernetes bind failed).
    Refused,
    /// The server could not record it (503).
    Unavailable,
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
        let binds = IntCounterVec::new(
            Opts::new("cellsim_binds_total", "Bind calls by result."),
            &["result"],
        )
        .expect("valid metric");
        let deletes = IntCounterVec::new(
            Opts::new(
                "cellsim_pod_releases_total",
                "Pods released (deleted or finished) by whether the server knew them.",
            ),
            &["result"],
        )
        .expect("valid metric");
        let responses = IntCounterVec::new(
            Opts::new(
                "cellsim_http_responses_total",
                "HTTP responses by status code.",
            ),
            &["code"],
        )
        .expect("valid metric");
        let journal_bytes = IntGauge::new(
            "cellsim_journal_bytes",
            "Size of the standalone journal file.",
        )
        .expect("valid metric");
        let journal_lines = IntGauge::new(
            "cellsim_journal_lines",
            "Lines in the standalone journal since its last compaction.",
        )
        .expect("valid metric");
        let compactions = IntCounter::new(
            "cellsim_journal_compactions_total",
            "Journal compactions (snapshot rewrites).",
        )
        .expect("valid metric");
        let journal_write = Histogram::with_opts(
            HistogramOpts::new(
                "cellsim_journal_write_duration_seconds",
                "Time to write and fsync one batch of journal lines (group commit).",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .expect("valid metric");
        for c in [
            Box::new(decisions.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(guaranteed.clone()),
            Box::new(used.clone()),
            Box::new(opportunistic.clone()),
            Box::new(bad_nodes.clone()),
            Box::new(binds.clone()),
            Box::new(deletes.clone()),
            Box::new(responses.clone()),
            Box::new(journal_bytes.clone()),
            Box::new(journal_lines.clone()),
            Box::new(compactions.clone()),
            Box::new(journal_write.clone()),
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
        for r in ["bound", "refused", "unavailable"] {
            binds.with_label_values(&[r]);
        }
        for r in ["released", "unknown"] {
            deletes.with_label_values(&[r]);
        }
        Metrics {
            registry,
            decisions,
            latency,
            guaranteed,
            used,
            opportunistic,
            bad_nodes,
            binds,
            deletes,
            responses,
            journal_bytes,
            journal_lines,
            compactions,
            journal_write,
        }
    }

    /// Counts one bind call.
    pub fn bind(&self, result: BindResult) {
        let label = match result {
            BindResult::Bound => "bound",
            BindResult::Refused => "refused",
            BindResult::Unavailable => "unavailable",
        };
        self.binds.with_label_values(&[label]).inc();
    }

    /// Counts one pod release; `known` is false when the server did not know the pod.
    pub fn release(&self, known: bool) {
        let label = if known { "released" } else { "unknown" };
        self.deletes.with_label_values(&[label]).inc();
    }

    /// Counts one HTTP response.
    pub fn response(&self, code: u16) {
        self.responses
            .with_label_values(&[code.to_string().as_str()])
            .inc();
    }

    /// The journal's current size.
    pub fn journal_size(&self, bytes: u64, lines: usize) {
        self.journal_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.journal_lines
            .set(i64::try_from(lines).unwrap_or(i64::MAX));
    }

    /// Counts one compaction.
    pub fn compacted(&self) {
        self.compactions.inc();
    }

    /// One journal batch written and fsync'd in `seconds`.
    pub fn journal_write(&self, seconds: f64) {
        self.journal_write.observe(seconds);
    }

    /// Counts one decision and its duration.
    pub fn observe(&self, outcome: Outcome, seconds: f64) {
        self.decisions.with_label_values(&[outcome.label()]).inc();
        self.latency.observe(seconds);
    }

    /// The text exposition, with the cell gauges of `gauges` (see [`CellGauges::of`]).
    pub fn render(&self, gauges: &CellGauges) -> String {
        let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        for (vc, gpus) in &gauges.guaranteed {
            self.guaranteed
                .with_label_values(&[vc.as_str()])
                .set(i64::from(*gpus));
            self.used.with_label_values(&[vc.as_str()]).set(0);
            self.opportunistic.with_label_values(&[vc.as_str()]).set(0);
        }
        for (vc, (g, o)) in &gauges.used {
            self.used.with_label_values(&[vc.as_str()]).set(to_i64(*g));
            self.opportunistic
                .with_label_values(&[vc.as_str()])
                .set(to_i64(*o));
        }
        self.bad_nodes.set(to_i64(gauges.bad_nodes));
        let mut out = Vec::new();
        // Encoding into memory cannot fail for these metric types.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

/// The content type of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
