//! Sweep files: a base (a replay scenario or a `cellsim run` scenario) plus the axes to
//! vary and, for `cellsim plan`, the question to answer. This module reads and checks the
//! YAML; `points` expands the axes and `base` applies a point to the base. Unknown keys
//! are errors, and every error names the file and the key.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::SweepError;
use crate::replay::{self, ReplayOptions};
use crate::sched::MODEL_NAMES;
use crate::sim::SimTimeMs;
use crate::sim::scenario::parse_duration;
use crate::workload::GenSpec;

/// Where the documented example lives, for error hints.
const EXAMPLE: &str = "scenarios/planning/example-sweep.yaml";

/// What a replay base's trace is called when `generate:` draws its jobs.
pub const GENERATED_TRACE: &str = "(generated)";

/// A sweep file, read and checked.
#[derive(Debug, Clone)]
pub struct SweepSpec {
    /// Sweep name (default output folder `out/NAME`).
    pub name: String,
    /// The file it was read from.
    pub file: PathBuf,
    /// What every point starts from.
    pub base: BaseSpec,
    /// Each seed moves every submit time by a uniform offset in `[-jitter, +jitter]`
    /// (never below 0); 0 keeps the trace's times.
    pub jitter_ms: SimTimeMs,
    /// The axes.
    pub axes: Axes,
    /// The `plan` question, if the file asks one.
    pub plan: Option<PlanSpec>,
    /// When set, the replay base's jobs are drawn by the trace generator (the keys of a
    /// `cellsim gen-trace` spec) instead of read from `replay.trace`.
    pub generate: Option<GenSpec>,
}

/// The scenario a sweep varies.
#[derive(Debug, Clone)]
pub enum BaseSpec {
    /// A trace replayed on a cluster (the options of `cellsim replay`).
    Replay(Box<ReplayOptions>),
    /// A `cellsim run` scenario file: its cluster is fixed, so only the load, model and
    /// seed axes apply.
    Scenario(PathBuf),
    /// A Kueue replay (`replay:` with a `kueue:` key, as `cellsim replay --kueue`).
    Kueue(Box<crate::kueue::KueueReplayOptions>),
}

/// The values of each axis; an absent axis has one value (the base's).
#[derive(Debug, Clone, PartialEq)]
pub struct Axes {
    /// Nodes of one SKU added (negative: removed).
    pub nodes: Option<NodesAxis>,
    /// Fraction of the cluster's GPUs guaranteed to one VC.
    pub share: Option<ShareAxis>,
    /// One Kueue quota field (a Kueue base only).
    pub kueue: Option<super::kueue::KueueAxis>,
    /// Load factors: submit times are divided by the factor (1.0 = the trace as is).
    pub load: Vec<f64>,
    /// Scheduler models.
    pub models: Vec<String>,
    /// Seeds.
    pub seeds: Vec<u64>,
}

/// Nodes of `sku` added to (or, negative, removed from) the base cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct NodesAxis {
    /// GPU model (leaf cell type) of the nodes.
    pub sku: String,
    /// GPUs per added node; `None`: the size of the base's nodes of that SKU.
    pub gpus: Option<u32>,
    /// Node counts, in the order given.
    pub values: Vec<i64>,
}

/// The share of the cluster guaranteed to `vc`; the other VCs split the rest in
/// proportion to their GPU-time in the trace.
#[derive(Debug, Clone, PartialEq)]
pub struct ShareAxis {
    /// The VC.
    pub vc: String,
    /// Fractions from 0 to 1.
    pub values: Vec<f64>,
}

/// "Smallest number of `sku` nodes to add so that every VC's p95 wait is at most
/// `target_p95_ms` under `model`".
#[derive(Debug, Clone, PartialEq)]
pub struct PlanSpec {
    /// The SKU of the nodes to add.
    pub sku: String,
    /// GPUs per added node (as in [`NodesAxis::gpus`]).
    pub gpus: Option<u32>,
    /// The model the answer is for.
    pub model: String,
    /// The p95 wait every VC must meet.
    pub target_p95_ms: SimTimeMs,
    /// Give up above this many nodes.
    pub max_nodes: u32,
    /// Nodes are bought in multiples of this (e.g. a rack).
    pub step: u32,
    /// Only these VCs count; empty: every VC with jobs.
    pub vcs: Vec<String>,
    /// The load factor to plan for (`plan.load`; default: the load axis' value when it
    /// has one, else 1.0).
    pub load: f64,
    /// Under a Kueue base: the ClusterQueue whose nominal quota of the flavor grows by
    /// the GPUs added (`plan.clusterQueue`); `None` keeps every quota as written.
    pub cluster_queue: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SweepFile {
    name: Option<String>,
    replay: Option<serde_yaml_ng::Value>,
    scenario: Option<PathBuf>,
    generate: Option<serde_yaml_ng::Value>,
    jitter: Option<String>,
    #[serde(default)]
    axes: AxesFile,
    plan: Option<PlanFile>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct AxesFile {
    nodes: Option<NodesFile>,
    share: Option<ShareFile>,
    kueue: Option<KueueAxisFile>,
    load: Option<Vec<f64>>,
    models: Option<Vec<String>>,
    seeds: Option<Vec<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NodesFile {
    sku: String,
    gpus: Option<u32>,
    values: Vec<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct KueueAxisFile {
    cluster_queue: Option<String>,
    cohort: Option<String>,
    field: String,
    flavor: String,
    values: Vec<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ShareFile {
    vc: String,
    values: Vec<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PlanFile {
    sku: Option<String>,
    gpus: Option<u32>,
    model: Option<String>,
    target_p95: String,
    max_nodes: Option<u32>,
    step: Option<u32>,
    #[serde(default)]
    vcs: Vec<String>,
    load: Option<f64>,
    cluster_queue: Option<String>,
}

/// Nodes `plan` tries at most when the file does not say.
pub const DEFAULT_MAX_NODES: u32 = 256;

/// Values for the `plan:` section given on the command line; each replaces the file's.
#[derive(Debug, Clone, Default)]
pub struct PlanOverrides {
    /// `--sku`.
    pub sku: Option<String>,
    /// `--gpus`.
    pub gpus: Option<u32>,
    /// `--model`.
    pub model: Option<String>,
    /// `--target-p95`, a duration such as `30m`.
    pub target_p95: Option<String>,
    /// `--max-nodes`.
    pub max_nodes: Option<u32>,
    /// `--step`.
    pub step: Option<u32>,
}

impl SweepSpec {
    /// The spec `cellsim plan` runs: the nodes it adds are the plan's SKU (and node
    /// size), whatever the nodes axis of the sweep says, and the other axes' values other
    /// than seeds and share are not run. Unchanged when the file asks no plan.
    pub fn into_plan(mut self) -> SweepSpec {
        if let Some(plan) = &self.plan {
            self.axes.nodes = Some(NodesAxis {
                sku: plan.sku.clone(),
                gpus: plan.gpus,
                values: vec![0],
            });
            self.axes.load = vec![plan.load];
            self.axes.models = vec![plan.model.clone()];
        }
        self
    }
}

impl PlanOverrides {
    fn is_empty(&self) -> bool {
        self.sku.is_none()
            && self.gpus.is_none()
            && self.model.is_none()
            && self.target_p95.is_none()
            && self.max_nodes.is_none()
            && self.step.is_none()
    }
}

/// Reads and checks the sweep file at `path`.
pub fn load_file(path: &Path) -> Result<SweepSpec, SweepError> {
    load_file_with(path, &PlanOverrides::default())
}

/// [`load_file`] with the `plan:` section's values replaced by `overrides` (a section is
/// made when the file has none).
pub fn load_file_with(path: &Path, overrides: &PlanOverrides) -> Result<SweepSpec, SweepError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        SweepError::Input(format!(
            "{}: cannot read the sweep file: {e}; check the path",
            path.display()
        ))
    })?;
    load_str_with(&text, path, overrides)
}

/// [`load_file`] on text already read; `path` names it in errors and anchors relative
/// paths.
pub fn load_str(text: &str, path: &Path) -> Result<SweepSpec, SweepError> {
    load_str_with(text, path, &PlanOverrides::default())
}

/// [`load_file_with`] on text already read.
pub fn load_str_with(
    text: &str,
    path: &Path,
    overrides: &PlanOverrides,
) -> Result<SweepSpec, SweepError> {
    let file = path.display().to_string();
    let raw: SweepFile = crate::config::yaml::from_str_at(text, &file)
        .map_err(|e| SweepError::Input(format!("{e} (see {EXAMPLE})")))?;
    let bad = |key: &str, message: String| SweepError::Input(format!("{file}: {key}: {message}"));
    let dir = path.parent().unwrap_or(Path::new("."));

    // Set when the replay base is inline and its trace is left to `generate:`.
    let mut generated_trace = false;
    let base = match (raw.replay, raw.scenario) {
        (Some(_), Some(_)) => {
            return Err(bad(
                "replay",
                "give either `replay` or `scenario` as the base, not both".to_string(),
            ));
        }
        (None, None) => {
            return Err(bad(
                "replay",
                format!(
                    "the sweep has no base: add `replay:` (a replay scenario file or its keys inline) or `scenario:` (a cellsim run scenario file); see {EXAMPLE}"
                ),
            ));
        }
        (Some(serde_yaml_ng::Value::String(replay_file)), None) => {
            let options = replay::options_from_file(&dir.join(&replay_file))
                .map_err(|e| bad("replay", e.to_string()))?;
            BaseSpec::Replay(Box::new(options))
        }
        (Some(serde_yaml_ng::Value::Mapping(inline)), None)
            if inline.contains_key(serde_yaml_ng::Value::from("kueue")) =>
        {
            if raw.generate.is_some() {
                return Err(bad(
                    "generate",
                    "a Kueue base replays its workload dump or CSV trace; remove the generate section".to_string(),
                ));
            }
            BaseSpec::Kueue(Box::new(kueue_base(inline, text, path)?))
        }
        (Some(serde_yaml_ng::Value::Mapping(mut inline)), None) => {
            // The inline keys are exactly a replay scenario's: read them with its reader,
            // anchored at the sweep file so that relative paths mean the same.
            if raw.generate.is_some() {
                let trace = serde_yaml_ng::Value::from("trace");
                if inline.contains_key(&trace) {
                    return Err(bad(
                        "replay.trace",
                        "the jobs come from `generate:`; remove replay.trace or the generate section".to_string(),
                    ));
                }
                inline.insert(trace, serde_yaml_ng::Value::from(GENERATED_TRACE));
                generated_trace = true;
            }
            let inline = serde_yaml_ng::Value::Mapping(inline);
            // Read from the parsed block, not a copy written out again: an error then
            // names the line of the sweep file (issue 16).
            let options = replay::options_from_inline(&inline, "replay", text, path)
                .map_err(|e| SweepError::Input(e.to_string()))?;
            BaseSpec::Replay(Box::new(options))
        }
        (Some(_), None) => {
            return Err(bad(
                "replay",
                "write a replay scenario file name or a mapping of its keys (cluster, trace, ...)"
                    .to_string(),
            ));
        }
        (None, Some(scenario)) => BaseSpec::Scenario(dir.join(scenario)),
    };
    let generate = match raw.generate {
        None => None,
        Some(_) if !generated_trace => {
            return Err(bad(
                "generate",
                "generated jobs replace a replay's trace; use an inline `replay:` base (cluster, ...) with it".to_string(),
            ));
        }
        Some(value) => Some(generator_spec(value, dir, &file)?),
    };

    let jitter_ms = match raw.jitter.as_deref() {
        None => 0,
        Some(text) => parse_duration(text).map_err(|e| bad("jitter", e))?,
    };

    let axes = raw.axes;
    let nodes = match axes.nodes {
        None => None,
        Some(n) => {
            if n.values.is_empty() {
                return Err(bad(
                    "axes.nodes.values",
                    "list at least one node count, e.g. [0, 8, 16]".to_string(),
                ));
            }
            check_gpus(n.gpus, "axes.nodes.gpus", &bad)?;
            check_unique(&n.values, "axes.nodes.values", &bad)?;
            Some(NodesAxis {
                sku: n.sku,
                gpus: n.gpus,
                values: n.values,
            })
        }
    };
    let share = match axes.share {
        None => None,
        Some(s) => {
            if s.values.is_empty() {
                return Err(bad(
                    "axes.share.values",
                    "list at least one fraction, e.g. [0.1, 0.2, 0.3]".to_string(),
                ));
            }
            if let Some(v) = s.values.iter().find(|v| !(0.0..=1.0).contains(*v)) {
                return Err(bad(
                    "axes.share.values",
                    format!("{v} is not a fraction of the cluster; write values from 0 to 1"),
                ));
            }
            check_unique(&s.values, "axes.share.values", &bad)?;
            Some(ShareAxis {
                vc: s.vc,
                values: s.values,
            })
        }
    };
    let kueue = match axes.kueue {
        None => None,
        Some(k) => Some(kueue_axis(k, &base, text, &file)?),
    };
    let load = axes.load.unwrap_or_else(|| vec![1.0]);
    if load.is_empty() {
        return Err(bad(
            "axes.load",
            "list at least one load factor, e.g. [1.0]".to_string(),
        ));
    }
    if let Some(v) = load.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(bad(
            "axes.load",
            format!(
                "{v} is not a load factor; write positive numbers (1.0 = the trace as is, 2.0 = arrivals twice as fast)"
            ),
        ));
    }
    check_unique(&load, "axes.load", &bad)?;
    let base_models = match &base {
        BaseSpec::Replay(options) => options.models.clone(),
        BaseSpec::Kueue(options) => options.models.clone(),
        BaseSpec::Scenario(_) => Vec::new(),
    };
    let models = axes.models.unwrap_or(base_models);
    check_models(&models, "axes.models", &bad)?;
    let base_seed = match &base {
        BaseSpec::Replay(options) => options.seed,
        BaseSpec::Kueue(options) => options.seed,
        BaseSpec::Scenario(_) => 0,
    };
    let seeds = axes.seeds.unwrap_or_else(|| vec![base_seed]);
    if seeds.is_empty() {
        return Err(bad(
            "axes.seeds",
            "list at least one seed, e.g. [1]".to_string(),
        ));
    }
    check_unique(&seeds, "axes.seeds", &bad)?;
    if seeds.len() > 1 && jitter_ms == 0 {
        return Err(bad(
            "axes.seeds",
            format!(
                "{} seeds, but nothing in this sweep depends on the seed (the trace is replayed as is, and the models draw no random numbers), so every seed would give the same result; set `jitter: 10m` (each seed moves every submit time by up to that much) or list one seed",
                seeds.len()
            ),
        ));
    }
    if matches!(base, BaseSpec::Scenario(_)) {
        if nodes.is_some() {
            return Err(bad(
                "axes.nodes",
                "a `scenario:` base has a fixed cluster; use a `replay:` base whose cluster is a machine list or a spec string to add or remove nodes".to_string(),
            ));
        }
        if share.is_some() {
            return Err(bad(
                "axes.share",
                "a `scenario:` base has fixed VCs; use a `replay:` base whose VCs are sized from the trace".to_string(),
            ));
        }
    }

    let plan_file = match (raw.plan, overrides.is_empty()) {
        (plan, true) => plan,
        (plan, false) => {
            let mut p = plan.unwrap_or(PlanFile {
                sku: None,
                gpus: None,
                model: None,
                target_p95: String::new(),
                max_nodes: None,
                step: None,
                vcs: Vec::new(),
                load: None,
                cluster_queue: None,
            });
            p.sku = overrides.sku.clone().or(p.sku);
            p.gpus = overrides.gpus.or(p.gpus);
            p.model = overrides.model.clone().or(p.model);
            if let Some(target) = &overrides.target_p95 {
                p.target_p95 = target.clone();
            }
            p.max_nodes = overrides.max_nodes.or(p.max_nodes);
            p.step = overrides.step.or(p.step);
            Some(p)
        }
    };
    let plan = match plan_file {
        None => None,
        Some(p) => {
            if p.target_p95.is_empty() {
                return Err(bad(
                    "plan.targetP95",
                    "give the p95 wait every VC must meet (e.g. `targetP95: 30m` or --target-p95 30m)".to_string(),
                ));
            }
            let sku = p
                .sku
                .or_else(|| nodes.as_ref().map(|n| n.sku.clone()))
                .ok_or_else(|| {
                    bad(
                        "plan.sku",
                        "name the SKU of the nodes to add (e.g. `sku: V100`)".to_string(),
                    )
                })?;
            let gpus = p.gpus.or_else(|| nodes.as_ref().and_then(|n| n.gpus));
            check_gpus(gpus, "plan.gpus", &bad)?;
            let model = match p.model {
                Some(model) => model,
                None if models.len() == 1 => models[0].clone(),
                None => {
                    return Err(bad(
                        "plan.model",
                        format!(
                            "name the model the answer is for (one of {})",
                            MODEL_NAMES.join(", ")
                        ),
                    ));
                }
            };
            check_models(std::slice::from_ref(&model), "plan.model", &bad)?;
            let target_p95_ms =
                parse_duration(&p.target_p95).map_err(|e| bad("plan.targetP95", e))?;
            let step = p.step.unwrap_or(1);
            if step == 0 {
                return Err(bad(
                    "plan.step",
                    "write a step of at least 1 node".to_string(),
                ));
            }
            let max_nodes = p.max_nodes.unwrap_or(DEFAULT_MAX_NODES);
            if max_nodes < step {
                return Err(bad(
                    "plan.maxNodes",
                    format!("{max_nodes} is below the step ({step}); allow at least one step"),
                ));
            }
            if matches!(base, BaseSpec::Scenario(_)) {
                return Err(bad(
                    "plan",
                    "plan adds nodes, so it needs a `replay:` base whose cluster is a machine list or a spec string".to_string(),
                ));
            }
            let load = match p.load {
                Some(load) if !(load.is_finite() && load > 0.0) => {
                    return Err(bad(
                        "plan.load",
                        format!("{load} is not a load factor; write a positive number"),
                    ));
                }
                Some(load) => load,
                None if load.len() == 1 => load[0],
                None => 1.0,
            };
            if p.cluster_queue.is_some() && !matches!(base, BaseSpec::Kueue(_)) {
                return Err(bad(
                    "plan.clusterQueue",
                    "a ClusterQueue's quota grows with the nodes only under a Kueue base (`replay:` with `kueue:`); remove it".to_string(),
                ));
            }
            Some(PlanSpec {
                cluster_queue: p.cluster_queue,
                load,
                sku,
                gpus,
                model,
                target_p95_ms,
                max_nodes,
                step,
                vcs: p.vcs,
            })
        }
    };

    let name = raw.name.unwrap_or_else(|| {
        path.file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "sweep".to_string())
    });
    Ok(SweepSpec {
        name,
        file: path.to_path_buf(),
        base,
        jitter_ms,
        axes: Axes {
            nodes,
            share,
            kueue,
            load,
            models,
            seeds,
        },
        plan,
        generate,
    })
}

fn check_gpus(
    gpus: Option<u32>,
    key: &str,
    bad: &dyn Fn(&str, String) -> SweepError,
) -> Result<(), SweepError> {
    match gpus {
        Some(0) => Err(bad(key, "a node needs at least 1 GPU".to_string())),
        _ => Ok(()),
    }
}

fn check_models(
    models: &[String],
    key: &str,
    bad: &dyn Fn(&str, String) -> SweepError,
) -> Result<(), SweepError> {
    for model in models {
        if let Err(e) = crate::sched::check_model_name(model) {
            return Err(bad(
                key,
                e.replacen("unknown model", "unknown scheduler model", 1),
            ));
        }
    }
    check_unique(models, key, bad)
}

fn check_unique<T: PartialEq + std::fmt::Debug>(
    values: &[T],
    key: &str,
    bad: &dyn Fn(&str, String) -> SweepError,
) -> Result<(), SweepError> {
    for (i, v) in values.iter().enumerate() {
        if values[..i].contains(v) {
            return Err(bad(
                key,
                format!("{v:?} is listed twice; list each value once"),
            ));
        }
    }
    Ok(())
}

/// The `generate:` section: the keys of a `cellsim gen-trace` spec inline, or the name of
/// such a file (relative to the sweep file).
fn generator_spec(
    value: serde_yaml_ng::Value,
    dir: &Path,
    file: &str,
) -> Result<GenSpec, SweepError> {
    let bad = |message: String| SweepError::Input(format!("{file}: generate: {message}"));
    match value {
        serde_yaml_ng::Value::String(name) => {
            let path = dir.join(&name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
            GenSpec::from_yaml_str(&text, &path.display().to_string())
                .map_err(|e| bad(e.to_string()))
        }
        inline @ serde_yaml_ng::Value::Mapping(_) => {
            let text = serde_yaml_ng::to_string(&inline)
                .map_err(|e| bad(format!("cannot read the inline generator spec: {e}")))?;
            GenSpec::from_yaml_str(&text, &format!("{file} (generate)"))
                .map_err(|e| bad(e.to_string()))
        }
        _ => Err(bad(
            "write a gen-trace spec file name or a mapping of its keys (jobs, arrival, vcs, ...; see traces/README.md)".to_string(),
        )),
    }
}

/// `axes.kueue`, checked as far as the file alone allows (names are checked against
/// the Kueue objects when the base is read). Errors name the line of `kueue:`.
fn kueue_axis(
    k: KueueAxisFile,
    base: &BaseSpec,
    text: &str,
    file: &str,
) -> Result<super::kueue::KueueAxis, SweepError> {
    use super::kueue::{KueueAxis, QuotaField, QuotaOwner};
    let at = match crate::config::yaml::line_of_key_under(text, "axes", "kueue") {
        Some((line, column)) => format!("{file}:{line}:{column}"),
        None => file.to_string(),
    };
    let bad = |key: &str, message: String| {
        SweepError::Input(format!("{at}: axes.kueue.{key}: {message} (see {EXAMPLE})"))
    };
    if !matches!(base, BaseSpec::Kueue(_)) {
        return Err(bad(
            "clusterQueue",
            "a quota axis needs a Kueue base: add `kueue: KUEUE_OBJECTS.yaml` to the inline `replay:` section".to_string(),
        ));
    }
    let owner = match (k.cluster_queue, k.cohort) {
        (Some(cq), None) => QuotaOwner::ClusterQueue(cq),
        (None, Some(cohort)) => QuotaOwner::Cohort(cohort),
        _ => {
            return Err(bad(
                "clusterQueue",
                "name either `clusterQueue: NAME` or `cohort: NAME` (one of them)".to_string(),
            ));
        }
    };
    let field = QuotaField::from_name(&k.field).map_err(|e| bad("field", e))?;
    if k.values.is_empty() {
        return Err(bad(
            "values",
            "list at least one quota in GPUs, e.g. [0, 8, 16]".to_string(),
        ));
    }
    for (i, v) in k.values.iter().enumerate() {
        if k.values[..i].contains(v) {
            return Err(bad(
                "values",
                format!("{v} is listed twice; list each value once"),
            ));
        }
    }
    Ok(KueueAxis {
        owner,
        field,
        flavor: k.flavor,
        values: k.values,
        at,
    })
}

/// The keys of an inline `replay:` section a Kueue base takes.
const KUEUE_BASE_KEYS: [&str; 8] = [
    "name",
    "cluster",
    "rackNodes",
    "kueue",
    "trace",
    "models",
    "seed",
    "horizon",
];

/// A Kueue base: the inline `replay:` section with a `kueue:` key, read with the
/// replay scenario's reader (paths relative to the sweep file) plus the Kueue objects.
fn kueue_base(
    mut inline: serde_yaml_ng::Mapping,
    text: &str,
    path: &Path,
) -> Result<crate::kueue::KueueReplayOptions, SweepError> {
    let file = path.display();
    for key in inline.keys() {
        let name = key.as_str().unwrap_or("");
        if !KUEUE_BASE_KEYS.contains(&name) {
            let at = crate::config::yaml::line_of_key_under(text, "replay", name)
                .map(|(line, column)| format!(":{line}:{column}"))
                .unwrap_or_default();
            return Err(SweepError::Input(format!(
                "{file}{at}: replay.{name}: a Kueue base (replay with kueue:) takes only {}; remove it",
                KUEUE_BASE_KEYS.join(", ")
            )));
        }
    }
    let kueue = inline
        .remove(serde_yaml_ng::Value::from("kueue"))
        .and_then(|v| v.as_str().map(str::to_string))
        .ok_or_else(|| {
            SweepError::Input(format!(
                "{file}: replay.kueue: write the file of Kueue objects (kubectl get resourceflavors,clusterqueues,... -o yaml)"
            ))
        })?;
    let options =
        replay::options_from_inline(&serde_yaml_ng::Value::Mapping(inline), "replay", text, path)
            .map_err(|e| SweepError::Input(e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    Ok(crate::kueue::KueueReplayOptions {
        cluster: options.cluster,
        rack_nodes: options.rack_nodes,
        kueue: dir.join(kueue),
        trace: options.trace,
        models: options.models,
        seed: options.seed,
        horizon_ms: options.horizon_ms,
        name: options.name,
    })
}
