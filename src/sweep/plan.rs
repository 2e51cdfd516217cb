//! `cellsim plan`: the smallest number of nodes of a SKU to add so that every VC's p95
//! wait is at most a target under one model. It searches the nodes axis (doubling, then
//! bisecting), which is right only if adding nodes never makes a p95 worse; when the
//! points it evaluated show otherwise it says so and scans every step from 0 instead.
//! The answer comes with every point evaluated, as evidence.

use std::collections::BTreeMap;

use serde::Serialize;

use super::points::Point;
use super::results::PointResult;
use super::spec::PlanSpec;
use super::{Sweep, SweepError, run_points};
use crate::run::Progress;
use crate::sim::SimTimeMs;

/// One number of nodes evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanProbe {
    /// Nodes added.
    pub nodes_added: u32,
    /// GPUs in the cluster with them.
    pub total_gpus: u32,
    /// Per VC that counts, the worst p95 wait over the seeds (ms); `None` when jobs of
    /// the VC never started.
    pub p95_wait_ms: BTreeMap<String, Option<SimTimeMs>>,
    /// Whether every VC met the target.
    pub meets_target: bool,
}

/// The answer and its evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanAnswer {
    /// The SKU of the nodes added.
    pub sku: String,
    /// The model.
    pub model: String,
    /// The target p95 wait (ms).
    pub target_p95_ms: SimTimeMs,
    /// The load factor planned for.
    pub load: f64,
    /// Seeds every probe ran with (a probe meets the target only if every seed does).
    pub seeds: Vec<u64>,
    /// The smallest number of nodes that meets the target; `None` when even
    /// `max_nodes` does not.
    pub nodes_to_add: Option<u32>,
    /// The most nodes tried.
    pub max_nodes: u32,
    /// False when a probe with more nodes had a worse p95 than one with fewer.
    pub monotone: bool,
    /// Why the search fell back to a scan, when it did.
    pub note: Option<String>,
    /// Every probe, by nodes added.
    pub probes: Vec<PlanProbe>,
}

/// Answers `sweep.spec.plan` on `jobs` threads.
pub fn plan(
    sweep: &Sweep,
    jobs: Option<usize>,
    progress: &Progress,
) -> Result<PlanAnswer, SweepError> {
    let file = sweep.spec.file.display();
    let Some(spec) = sweep.spec.plan.clone() else {
        return Err(SweepError::Input(format!(
            "{file}: has no `plan:` section; add one (sku, model, targetP95) or give --sku, --model and --target-p95"
        )));
    };
    let axes = &sweep.spec.axes;
    if axes.share.as_ref().is_some_and(|s| s.values.len() != 1) {
        return Err(SweepError::Input(format!(
            "{file}: axes.share: plan answers for one VC share; list one value"
        )));
    }
    if axes.kueue.as_ref().is_some_and(|k| k.values.len() != 1) {
        return Err(SweepError::Input(format!(
            "{file}: axes.kueue: plan answers for one quota; list one value"
        )));
    }
    let mut search = Search {
        sweep,
        spec: &spec,
        jobs,
        probes: BTreeMap::new(),
        bar: progress.count_bar("plan", 0),
    };

    let step = spec.step;
    let mut answer = None;
    if search.meets(0)? {
        answer = Some(0);
    } else {
        // Double until the target is met, then bisect between the last miss and it.
        let mut miss = 0;
        let mut hit = None;
        // The most nodes a whole number of steps reaches within max_nodes.
        let limit = spec.max_nodes / step * step;
        let mut n = step;
        loop {
            if search.meets(n)? {
                hit = Some(n);
                break;
            }
            miss = n;
            if n >= limit {
                break;
            }
            n = (n * 2).min(limit);
        }
        if let Some(mut hi) = hit {
            let mut lo = miss;
            while hi - lo > step {
                let mid = lo + (hi - lo) / step / 2 * step;
                if search.meets(mid)? {
                    hi = mid;
                } else {
                    lo = mid;
                }
            }
            answer = Some(hi);
        }
    }

    let mut note = None;
    let monotone = match search.non_monotone() {
        None => true,
        Some(why) => {
            // The search's answer cannot be trusted: scan from 0 to the answer (or the
            // limit) and take the first number of nodes that meets the target.
            let upto = answer.unwrap_or(spec.max_nodes / step * step);
            note = Some(format!(
                "{why}; scanned every {step} node(s) from 0 to {upto} instead of searching"
            ));
            answer = search.scan(upto)?;
            false
        }
    };
    search.bar.finish_and_clear();
    Ok(PlanAnswer {
        sku: spec.sku.clone(),
        model: spec.model.clone(),
        target_p95_ms: spec.target_p95_ms,
        load: spec.load,
        seeds: axes.seeds.clone(),
        nodes_to_add: answer,
        max_nodes: spec.max_nodes,
        monotone,
        note,
        probes: search.probes.into_values().collect(),
    })
}

struct Search<'a> {
    sweep: &'a Sweep,
    spec: &'a PlanSpec,
    jobs: Option<usize>,
    probes: BTreeMap<u32, PlanProbe>,
    bar: indicatif::ProgressBar,
}

impl Search<'_> {
    /// Evaluates `nodes` (once) and says whether it meets the target.
    fn meets(&mut self, nodes: u32) -> Result<bool, SweepError> {
        self.evaluate(&[nodes])?;
        Ok(self.probes[&nodes].meets_target)
    }

    /// Evaluates every count in `counts` not evaluated yet, all seeds at once.
    fn evaluate(&mut self, counts: &[u32]) -> Result<(), SweepError> {
        let axes = &self.sweep.spec.axes;
        let share = axes.share.as_ref().map(|s| s.values[0]);
        let kueue_quota = axes.kueue.as_ref().map(|k| k.values[0]);
        let todo: Vec<u32> = counts
            .iter()
            .copied()
            .filter(|n| !self.probes.contains_key(n))
            .collect();
        let model = &self.spec.model;
        let load = self.spec.load;
        let points: Vec<Point> = todo
            .iter()
            .flat_map(|&n| {
                axes.seeds.iter().map(move |&seed| Point {
                    index: 0,
                    nodes_added: i64::from(n),
                    vc_share: share,
                    kueue_quota,
                    load,
                    model: model.clone(),
                    seed,
                })
            })
            .collect();
        self.bar.inc_length(points.len() as u64);
        let results = run_points(self.sweep, &points, self.jobs, &self.bar)?;
        for (i, &n) in todo.iter().enumerate() {
            let runs = &results[i * axes.seeds.len()..(i + 1) * axes.seeds.len()];
            let probe = self.probe(n, runs)?;
            self.probes.insert(n, probe);
        }
        Ok(())
    }

    fn probe(&self, nodes: u32, runs: &[PointResult]) -> Result<PlanProbe, SweepError> {
        let mut worst: BTreeMap<String, Option<SimTimeMs>> = BTreeMap::new();
        for run in runs {
            for (vc, metrics) in &run.summary.vcs {
                if metrics.jobs.jobs == 0 {
                    continue;
                }
                if !self.spec.vcs.is_empty() && !self.spec.vcs.contains(vc) {
                    continue;
                }
                let p95 = metrics.jobs.wait_ms.map(|w| w.p95);
                let entry = worst.entry(vc.clone()).or_insert(Some(0));
                *entry = match (*entry, p95) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
        }
        if let Some(missing) = self.spec.vcs.iter().find(|vc| !worst.contains_key(*vc)) {
            return Err(SweepError::Input(format!(
                "{}: plan.vcs: VC {missing:?} has no jobs in the runs; list VCs of the trace",
                self.sweep.spec.file.display()
            )));
        }
        let meets_target = worst
            .values()
            .all(|p| p.is_some_and(|p| p <= self.spec.target_p95_ms));
        Ok(PlanProbe {
            nodes_added: nodes,
            total_gpus: runs.first().map_or(0, |r| r.summary.total_gpus),
            p95_wait_ms: worst,
            meets_target,
        })
    }

    /// Where the probes contradict "more nodes never hurt": a VC whose p95 is worse with
    /// more nodes, or a count that misses the target above one that meets it.
    fn non_monotone(&self) -> Option<String> {
        let probes: Vec<&PlanProbe> = self.probes.values().collect();
        for pair in probes.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if a.meets_target && !b.meets_target {
                return Some(format!(
                    "+{} nodes meet the target but +{} do not",
                    a.nodes_added, b.nodes_added
                ));
            }
            for (vc, before) in &a.p95_wait_ms {
                let after = b.p95_wait_ms.get(vc).copied().flatten();
                let worse = match (before, after) {
                    (Some(x), Some(y)) => y > *x,
                    (Some(_), None) => true,
                    _ => false,
                };
                if worse {
                    return Some(format!(
                        "the p95 wait of {vc} is worse with +{} nodes ({}) than with +{} ({}): the metric is not monotone in the nodes added",
                        b.nodes_added,
                        show(after),
                        a.nodes_added,
                        show(*before)
                    ));
                }
            }
        }
        None
    }

    /// The smallest multiple of the step up to `upto` that meets the target, evaluating
    /// in ascending batches (one count per worker thread) and stopping at the first hit.
    fn scan(&mut self, upto: u32) -> Result<Option<u32>, SweepError> {
        let batch = self.jobs.unwrap_or_else(rayon::current_num_threads).max(1);
        let counts: Vec<u32> = (0..=upto / self.spec.step)
            .map(|k| k * self.spec.step)
            .collect();
        for chunk in counts.chunks(batch) {
            self.evaluate(chunk)?;
            if let Some(&n) = chunk.iter().find(|n| self.probes[n].meets_target) {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }
}

/// A wait for people in the one format of durations (`00:05:00`, `42s`), or "never
/// started".
pub fn show(ms: Option<SimTimeMs>) -> String {
    ms.map_or_else(|| "never started".to_string(), crate::time::human_duration)
}

/// The answer and the evidence as a table for the terminal.
pub fn answer_text(answer: &PlanAnswer) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let seeds = answer.seeds.len();
    let _ = writeln!(
        out,
        "Target: every VC's p95 wait <= {} under {} at load {} ({} seed{}; a count meets it only if every seed does)",
        show(Some(answer.target_p95_ms)),
        answer.model,
        answer.load,
        seeds,
        if seeds == 1 { "" } else { "s" }
    );
    let vcs: Vec<&String> = answer
        .probes
        .iter()
        .flat_map(|p| p.p95_wait_ms.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let _ = write!(out, "{:>8} {:>7} {:>5}", "+nodes", "GPUs", "meets");
    for vc in &vcs {
        let _ = write!(out, " {:>13}", truncate(vc, 13));
    }
    out.push('\n');
    for probe in &answer.probes {
        let _ = write!(
            out,
            "{:>8} {:>7} {:>5}",
            format!("+{}", probe.nodes_added),
            probe.total_gpus,
            if probe.meets_target { "yes" } else { "no" }
        );
        for vc in &vcs {
            let value = probe
                .p95_wait_ms
                .get(*vc)
                .map_or("-".to_string(), |p| show(*p));
            let _ = write!(out, " {value:>13}");
        }
        out.push('\n');
    }
    if let Some(note) = &answer.note {
        let _ = writeln!(out, "Note: {note}.");
    }
    match answer.nodes_to_add {
        Some(0) => {
            let _ = writeln!(
                out,
                "Answer: no {} node needs to be added: the cluster as it is meets the target.",
                answer.sku
            );
        }
        Some(n) => {
            let _ = writeln!(
                out,
                "Answer: add {n} {} node{} (the smallest count evaluated that meets the target).",
                answer.sku,
                if n == 1 { "" } else { "s" }
            );
        }
        None => {
            let _ = writeln!(
                out,
                "Answer: even {} more {} nodes do not meet the target; raise plan.maxNodes or the target.",
                answer.max_nodes, answer.sku
            );
        }
    }
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('~')).collect()
    }
}
