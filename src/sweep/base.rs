//! The base of a sweep, read once, and the scenario of each point built from it: the
//! cluster with nodes added or removed, the VCs re-sized (with one VC's share fixed if
//! the share axis asks), and the trace's jobs at the point's load and seed. Reading the
//! trace once is what makes a sweep cheap: a point only reshapes jobs already in memory.

use std::collections::BTreeMap;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::SweepError;
use super::points::Point;
use super::spec::{BaseSpec, SweepSpec};
use crate::config::CellConfig;
use crate::config::builders::{
    BuildOptions, BuiltNodes, ClusterFormat, build_cluster, detect_cluster_format, rack_size,
    read_node_groups, size_vcs, vcs_from_file,
};
use crate::replay::ReplayOptions;
use crate::sim::from_trace::{ClusterShape, sim_jobs};
use crate::sim::{Scenario, SimJob, SimTimeMs};
use crate::workload::{IngestReport, TraceJob};

/// What every point starts from, read once.
#[derive(Debug)]
pub enum Base {
    /// A trace replayed on a cluster.
    Replay(Box<ReplayBase>),
    /// A `cellsim run` scenario (fixed cluster and jobs).
    Scenario(Box<Scenario>),
    /// A Kueue replay ([`super::kueue`]).
    Kueue(Box<super::kueue::KueueBase>),
}

/// A replay base: the cluster as nodes (when built from a machine list or spec) and the
/// trace's jobs in submit order.
#[derive(Debug)]
pub struct ReplayBase {
    options: ReplayOptions,
    /// The cluster's nodes when it is built; `None` for a HiveD config (fixed cells).
    nodes: Option<BuiltNodes>,
    /// The HiveD config when the cluster is one.
    fixed: Option<CellConfig>,
    /// The trace's jobs, sorted, with what the reader set aside.
    jobs: Vec<TraceJob>,
    read_report: IngestReport,
    /// GPU-milliseconds per VC in the trace: the weights VCs are sized by.
    demand: BTreeMap<String, u64>,
    /// CPU and memory per node (an openb node list or PAI machine list), read when the
    /// sweep shares GPUs (`fractional: share`, or a model naming a placement).
    node_resources: crate::replay::NodeResources,
}

/// One point's scenario, with what was set aside to make it.
#[derive(Debug)]
pub struct PointScenario {
    /// What the engine runs.
    pub scenario: Scenario,
    /// Trace jobs this point's cluster cannot hold (e.g. bigger than all its GPUs of the
    /// model they ask for), left out of the scenario.
    pub left_out: u64,
}

impl Base {
    /// Reads the base of `spec`: builds nothing per point yet, but reads the trace (or
    /// the scenario) once.
    pub fn load(spec: &SweepSpec) -> Result<Base, SweepError> {
        match &spec.base {
            BaseSpec::Kueue(options) => {
                // The sweep's models decide, as a replay's do, whether pods carry their
                // CPU and memory (a model naming a placement).
                let mut options = options.as_ref().clone();
                if !spec.axes.models.is_empty() {
                    options.models = spec.axes.models.clone();
                }
                Ok(Base::Kueue(Box::new(super::kueue::KueueBase::load(
                    &options,
                )?)))
            }
            BaseSpec::Scenario(path) => {
                let scenario = crate::sim::scenario::load_file(path)
                    .map_err(|e| SweepError::Input(format!("scenario: {e}")))?;
                Ok(Base::Scenario(Box::new(scenario)))
            }
            BaseSpec::Replay(options) => {
                let options = options.as_ref().clone();
                let input = |e: String| SweepError::Input(format!("replay: {e}"));
                let format = match options.cluster_format {
                    Some(format) => format,
                    None => detect_cluster_format(&options.cluster)
                        .map_err(|e| input(format!("cluster {}: {e}", options.cluster)))?,
                };
                let build = BuildOptions {
                    rack_nodes: options.rack_nodes,
                };
                let (nodes, fixed) = if format == ClusterFormat::Hived {
                    let config = build_cluster(&options.cluster, Some(format), &build)
                        .map_err(|e| input(format!("cluster {}: {e}", options.cluster)))?;
                    (None, Some(config))
                } else {
                    let nodes =
                        read_node_groups(&options.cluster, format, rack_size(format, &build))
                            .map_err(|e| input(format!("cluster {}: {e}", options.cluster)))?;
                    (Some(nodes), None)
                };
                let (jobs, read_report) = match &spec.generate {
                    // Generated jobs arrive in submit order, each valid by construction.
                    Some(generator) => {
                        let jobs: Vec<TraceJob> = crate::workload::generate(generator)
                            .map_err(|e| SweepError::Input(format!("generate: {e}")))?
                            .collect();
                        let read_report = IngestReport {
                            jobs_read: jobs.len() as u64,
                            ..IngestReport::default()
                        };
                        (jobs, read_report)
                    }
                    None => {
                        // The base's job selection and load apply before the axes'.
                        let ingested = crate::replay::read_selected(&options)
                            .map_err(|e| input(e.to_string()))?;
                        (ingested.jobs, ingested.report)
                    }
                };
                let demand = crate::replay::gpu_time_by_vc(&jobs);
                let placed = spec.axes.models.iter().any(|m| names_placement(m));
                let node_resources = if crate::replay::wants_sharing(&options) || placed {
                    crate::replay::node_resources(&options, format)
                        .map_err(|e| input(e.to_string()))?
                } else {
                    crate::replay::NodeResources::new()
                };
                Ok(Base::Replay(Box::new(ReplayBase {
                    options,
                    nodes,
                    fixed,
                    jobs,
                    read_report,
                    demand,
                    node_resources,
                })))
            }
        }
    }

    /// What the trace reader and the ingest step set aside or changed (replay bases).
    pub fn read_report(&self) -> Option<&IngestReport> {
        match self {
            Base::Replay(base) => Some(&base.read_report),
            Base::Scenario(_) | Base::Kueue(_) => None,
        }
    }

    /// The models the base names, for a sweep whose file lists none.
    pub fn models(&self) -> Vec<String> {
        match self {
            Base::Scenario(scenario) => scenario.models.clone(),
            Base::Kueue(base) => base.replay.scenario.models.clone(),
            Base::Replay(_) => crate::sched::MODEL_NAMES
                .iter()
                .map(|m| m.to_string())
                .collect(),
        }
    }

    /// A one-line description of the base, stored with the results so that `--resume`
    /// and `merge` refuse results of another sweep.
    pub fn describe(&self, spec: &SweepSpec) -> String {
        let what = match self {
            Base::Scenario(scenario) => format!("scenario {}", scenario.source),
            Base::Kueue(base) => format!(
                "kueue replay of {} ({} jobs) on {} with {}",
                base.options.trace.display(),
                base.replay.scenario.jobs.len(),
                base.options.cluster,
                base.options.kueue.display()
            ),
            Base::Replay(base) => {
                let trace = match &spec.generate {
                    // The whole generator spec: any change to it is another sweep.
                    Some(generator) => format!(
                        "jobs generated by {}",
                        serde_json::to_string(generator).expect("plain data serialises")
                    ),
                    None => base.options.trace.display().to_string(),
                };
                format!(
                    "replay of {trace} ({} jobs) on {}",
                    base.jobs.len(),
                    base.options.cluster
                )
            }
        };
        format!("{what}; jitter {} ms", spec.jitter_ms)
    }

    /// The cluster of a point: nodes added or removed, VCs sized (with the share axis'
    /// VC fixed) or read from the VC file.
    pub fn cluster(
        &self,
        spec: &SweepSpec,
        nodes_added: i64,
        vc_share: Option<f64>,
    ) -> Result<CellConfig, SweepError> {
        let base = match self {
            Base::Scenario(scenario) => return Ok(scenario.config.clone()),
            Base::Kueue(base) => return base.cluster(spec, nodes_added),
            Base::Replay(base) => base,
        };
        let Some(nodes) = &base.nodes else {
            // A HiveD config: only points that change neither nodes nor shares exist
            // (checked when the axes are checked against the base).
            return base.fixed.clone().ok_or_else(|| {
                SweepError::Input("replay: the cluster could not be read".to_string())
            });
        };
        let nodes = if nodes_added == 0 {
            nodes.clone()
        } else {
            let axis = spec
                .axes
                .nodes
                .as_ref()
                .map(|n| (n.sku.as_str(), n.gpus))
                .or_else(|| spec.plan.as_ref().map(|p| (p.sku.as_str(), p.gpus)))
                .ok_or_else(|| {
                    SweepError::Input("nodes added without a nodes axis or plan".to_string())
                })?;
            with_nodes_added(nodes, axis.0, axis.1, nodes_added).map_err(|e| {
                SweepError::Input(format!(
                    "{}: nodes {nodes_added:+} of SKU {:?} (axes.nodes.sku or plan.sku): {e}",
                    spec.file.display(),
                    axis.0
                ))
            })?
        };
        let at = |e: String| {
            SweepError::Input(format!(
                "{}: nodes {nodes_added:+}{}: {e}",
                spec.file.display(),
                vc_share.map_or(String::new(), |s| format!(", share {s}"))
            ))
        };
        let mut config = nodes.build().map_err(|e| at(e.to_string()))?;
        if let Some(path) = &base.options.vcs_file {
            config = vcs_from_file(&config, path).map_err(|e| at(e.to_string()))?;
        } else {
            let weights = match (vc_share, &spec.axes.share) {
                (Some(share), Some(axis)) => shared_weights(&base.demand, &axis.vc, share),
                _ => base.demand.clone(),
            };
            size_vcs(&mut config, &weights).map_err(|e| at(e.to_string()))?;
        }
        Ok(config)
    }

    /// The scenario of `point` on `config` (from [`Base::cluster`] for the point's nodes
    /// and share): the base's jobs at the point's load and seed, shaped for the cluster.
    pub fn scenario(
        &self,
        spec: &SweepSpec,
        config: &CellConfig,
        point: &Point,
    ) -> Result<PointScenario, SweepError> {
        let mut rng = ChaCha8Rng::seed_from_u64(point.seed);
        Ok(match self {
            Base::Kueue(base) => PointScenario {
                scenario: base.scenario(spec, config, point)?,
                left_out: 0,
            },
            Base::Scenario(base) => {
                let mut jobs = base.jobs.clone();
                for job in &mut jobs {
                    let moved = retime(job.submit_ms, point.load, spec.jitter_ms, &mut rng);
                    move_job(job, moved);
                }
                jobs.sort_by_key(|j| j.submit_ms);
                let mut scenario = Scenario {
                    jobs,
                    seed: point.seed,
                    models: vec![point.model.clone()],
                    name: spec.name.clone(),
                    ..base.as_ref().clone()
                };
                scenario.warnings.clear();
                PointScenario {
                    scenario,
                    left_out: 0,
                }
            }
            Base::Replay(base) => {
                let mut jobs = base.jobs.clone();
                for job in &mut jobs {
                    job.submit_ms = retime(job.submit_ms, point.load, spec.jitter_ms, &mut rng);
                }
                jobs.sort_by_key(|j| j.submit_ms);
                let mut report = IngestReport::default();
                let shape = ClusterShape::of(config);
                let jobs = sim_jobs(jobs, &shape, &mut report);
                let left_out = (base.jobs.len() - jobs.len()) as u64;
                let sharing = base.share_options(config, &jobs, point);
                PointScenario {
                    scenario: Scenario {
                        name: spec.name.clone(),
                        source: base.options.trace.display().to_string(),
                        seed: point.seed,
                        horizon_ms: base.options.horizon_ms,
                        models: vec![point.model.clone()],
                        config: config.clone(),
                        checkpoint_interval_ms: None,
                        model_options: crate::sched::ModelOptions {
                            sharing: sharing.map(std::sync::Arc::new),
                            ..Default::default()
                        },
                        jobs,
                        node_events: Vec::new(),
                        warnings: Vec::new(),
                    },
                    left_out,
                }
            }
        })
    }

    /// Checks that the base can take every value of the axes (e.g. that nodes can be
    /// added to its cluster), before anything runs.
    pub fn check_axes(&self, spec: &SweepSpec) -> Result<(), SweepError> {
        let file = spec.file.display();
        if let Base::Kueue(base) = self {
            return base.check_axes(spec);
        }
        if spec.axes.kueue.is_some() {
            return Err(SweepError::Input(format!(
                "{file}: axes.kueue: a quota axis needs a Kueue base (`replay:` with `kueue:`)"
            )));
        }
        if let Base::Replay(base) = self {
            let changes_nodes =
                spec.axes.nodes.as_ref().is_some_and(|n| n.values != [0]) || spec.plan.is_some();
            if changes_nodes && base.nodes.is_none() {
                return Err(SweepError::Input(format!(
                    "{file}: axes.nodes: the base cluster {} is a HiveD/OpenPAI config whose cells are written by hand, so cellsim cannot add or remove its nodes; give the cluster as a machine list or a spec string",
                    base.options.cluster
                )));
            }
            if let Some(axis) = &spec.axes.share {
                if base.options.vcs_file.is_some() || base.nodes.is_none() {
                    return Err(SweepError::Input(format!(
                        "{file}: axes.share: the base's VCs come from a file, not from the trace, so they cannot be re-sized; drop `vcs` from the replay or the share axis"
                    )));
                }
                if !base.demand.contains_key(&axis.vc) {
                    let names: Vec<&str> = base.demand.keys().map(String::as_str).collect();
                    return Err(SweepError::Input(format!(
                        "{file}: axes.share.vc: the trace has no VC {:?}; its VCs are {}",
                        axis.vc,
                        names.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

impl ReplayBase {
    /// The sharing options of `point`'s run of `jobs` on `config`, as `cellsim replay`
    /// gives them (`None` when it would give none: no `fractional: share` and no
    /// placement in the model): FGD's typical pods from the jobs' pods, the nodes' CPU
    /// and memory, the point's seed for `random`. A node the nodes axis added has the
    /// CPU and memory of the base's last node of its GPU model.
    fn share_options(
        &self,
        config: &CellConfig,
        jobs: &[SimJob],
        point: &Point,
    ) -> Option<crate::sched::ShareOptions> {
        let wanted = self.options.read.openb.fractional == crate::workload::Fractional::Share
            || names_placement(&point.model);
        if !wanted {
            return None;
        }
        let mut resources = self.node_resources.clone();
        if point.nodes_added > 0 && !resources.is_empty() {
            let topology = crate::cell::topology::Topology::build(config);
            let model_of = |node: &crate::cell::topology::Node| {
                node.cells.first().map(|&c| {
                    topology.chains[topology.cell(c).chain as usize]
                        .leaf_type
                        .clone()
                })
            };
            let mut last_of_model: BTreeMap<String, (Option<u64>, Option<u64>)> = BTreeMap::new();
            for node in &topology.nodes {
                if let (Some(model), Some(&r)) = (model_of(node), resources.get(&node.name)) {
                    last_of_model.insert(model, r);
                }
            }
            for node in &topology.nodes {
                if !resources.contains_key(&node.name)
                    && let Some(&r) = model_of(node).and_then(|m| last_of_model.get(&m))
                {
                    resources.insert(node.name.clone(), r);
                }
            }
        }
        Some(crate::sched::ShareOptions::of_requests(
            jobs.iter().flat_map(|j| &j.groups),
            resources,
            point.seed,
        ))
    }
}

/// Whether `model` names a placement (`LAYER+POLICY+PLACEMENT`).
fn names_placement(model: &str) -> bool {
    model.split('+').nth(2).is_some()
}

/// A submit time at load `load` (divided by it) moved by a uniform offset within
/// `jitter_ms` either way, never below 0. Draws one number per job even when the jitter
/// is 0, so a job's offset depends only on the seed and its position.
pub(super) fn retime(
    submit_ms: SimTimeMs,
    load: f64,
    jitter_ms: SimTimeMs,
    rng: &mut ChaCha8Rng,
) -> SimTimeMs {
    let scaled = (submit_ms as f64 / load).round() as SimTimeMs;
    let offset = rng.random_range(0..=jitter_ms.saturating_mul(2));
    (scaled + offset).saturating_sub(jitter_ms)
}

/// Moves a scenario job to submit at `submit_ms`, its kill time with it.
fn move_job(job: &mut SimJob, submit_ms: SimTimeMs) {
    if let Some(kill) = job.kill_at_ms.as_mut() {
        let after = kill.saturating_sub(job.submit_ms);
        *kill = submit_ms.saturating_add(after);
    }
    job.submit_ms = submit_ms;
}

/// `demand` re-weighted so that `vc` gets `share` of the total and the others split the
/// rest in proportion to their own demand.
fn shared_weights(demand: &BTreeMap<String, u64>, vc: &str, share: f64) -> BTreeMap<String, u64> {
    // Weights are integers: scale so that rounding moves shares by under a millionth.
    const SCALE: f64 = 1e12;
    let others: u128 = demand
        .iter()
        .filter(|(name, _)| name.as_str() != vc)
        .map(|(_, &w)| u128::from(w))
        .sum();
    demand
        .iter()
        .map(|(name, &w)| {
            let weight = if name == vc {
                share * SCALE
            } else if others == 0 {
                0.0
            } else {
                (1.0 - share) * SCALE * (w as f64 / others as f64)
            };
            (name.clone(), weight.round() as u64)
        })
        .collect()
}

/// `nodes` with `count` nodes of `sku` added (negative: the last ones removed). Added
/// nodes join the last group of that SKU (and size, if `gpus` is given), so they fill its
/// last rack first; a SKU or size the cluster lacks starts a new group.
fn with_nodes_added(
    nodes: &BuiltNodes,
    sku: &str,
    gpus: Option<u32>,
    count: i64,
) -> Result<BuiltNodes, SweepError> {
    let mut nodes = nodes.clone();
    let matches =
        |g: &crate::config::builders::NodeGroup| g.sku == sku && gpus.is_none_or(|n| g.gpus == n);
    let skus = |nodes: &BuiltNodes| {
        let mut names: Vec<String> = nodes
            .groups
            .iter()
            .map(|g| format!("{}x{}", g.sku, g.gpus))
            .collect();
        names.dedup();
        names.join(", ")
    };
    if count < 0 {
        let mut left = count.unsigned_abs();
        let present: u64 = nodes
            .groups
            .iter()
            .filter(|g| matches(g))
            .map(|g| g.names.len() as u64)
            .sum();
        if present < left {
            return Err(SweepError::Input(format!(
                "cannot remove {left} nodes of {sku}: the cluster has {present} (its nodes are {})",
                skus(&nodes)
            )));
        }
        for group in nodes.groups.iter_mut().rev().filter(|g| matches(g)) {
            let take = left.min(group.names.len() as u64) as usize;
            group.names.truncate(group.names.len() - take);
            left -= take as u64;
        }
        nodes.groups.retain(|g| !g.names.is_empty());
        return Ok(nodes);
    }
    let existing: std::collections::HashSet<String> = nodes
        .groups
        .iter()
        .flat_map(|g| g.names.iter().cloned())
        .collect();
    let prefix = format!("{}-added", sku.to_lowercase());
    let mut names = Vec::new();
    let mut n = 0u64;
    while (names.len() as i64) < count {
        let name = format!("{prefix}-{n}");
        if !existing.contains(&name) {
            names.push(name);
        }
        n += 1;
    }
    match nodes.groups.iter_mut().rev().find(|g| matches(g)) {
        Some(group) => group.names.extend(names),
        None => {
            let Some(gpus) = gpus else {
                return Err(SweepError::Input(format!(
                    "the cluster has no {sku} nodes to copy (its nodes are {}); say how many GPUs a new node has with `gpus:`",
                    skus(&nodes)
                )));
            };
            let rack_nodes = nodes.groups.first().map_or(8, |g| g.rack_nodes);
            nodes.groups.push(crate::config::builders::NodeGroup {
                sku: sku.to_string(),
                gpus,
                rack_nodes,
                names,
            });
        }
    }
    Ok(nodes)
}
