//! Scenario files: what to simulate. A scenario names a cluster (a HiveD config, an OpenPAI
//! services-configuration or layout, or an inline HiveD config), the jobs (submit time,
//! an OpenPAI job file or an inline request, duration, optional kill time), the models to
//! compare, a seed, a horizon and node events. `scenarios/example.yaml` documents every
//! key. Unknown keys are errors; every error names the file, the YAML path and what to
//! change. This module reads and checks; the engine runs.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::record::SimTimeMs;
use crate::cell::topology::Topology;
use crate::cell::{GroupMember, GroupRequest};
use crate::config::{self, CellConfig, ConfigErrors, ConfigFormat};
use crate::sched::policies::{easy::EasyOptions, tiresias::TiresiasOptions};
use crate::sched::{self, ModelOptions, yarn_cs::YarnOptions};
use crate::workload::openpai::{DEFAULT_PRIORITY_CLASS, DEFAULT_VIRTUAL_CLUSTER, PRIORITY_CLASSES};
use crate::workload::{JobFileError, read_job_file};

/// Where the documented example lives, for error hints.
const EXAMPLE: &str = "scenarios/example.yaml";

/// A scenario, read and checked: everything the engine needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Scenario name (also the default output folder name).
    pub name: String,
    /// Where it was read from (a path or a description).
    pub source: String,
    /// Seed of each run's RNG.
    pub seed: u64,
    /// Stop time; `None` runs until no event is left.
    pub horizon_ms: Option<SimTimeMs>,
    /// Models to run, in order.
    pub models: Vec<String>,
    /// The cluster.
    pub config: CellConfig,
    /// Work is checkpointed every this often; a preempted or failed group restarts from
    /// its last checkpoint. `None`: it restarts from zero.
    pub checkpoint_interval_ms: Option<SimTimeMs>,
    /// Settings of the models.
    pub model_options: ModelOptions,
    /// Jobs in file order.
    pub jobs: Vec<SimJob>,
    /// Node events in file order.
    pub node_events: Vec<NodeEvent>,
    /// Non-fatal findings from the cluster config and job files.
    pub warnings: Vec<String>,
}

/// One job of a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct SimJob {
    /// Unique id; group names are `<id>/<group>`.
    pub id: String,
    /// Virtual cluster.
    pub vc: String,
    /// Priority (-1 opportunistic, 0..=1000 guaranteed).
    pub priority: i32,
    /// OpenPAI priority class (`prod`, `test`, …), or the number when it has none.
    pub priority_label: String,
    /// Who submitted it, if the scenario says.
    pub user: Option<String>,
    /// Submit time.
    pub submit_ms: SimTimeMs,
    /// Run time of each group once started.
    pub duration_ms: SimTimeMs,
    /// The user kills the job at this time, if set.
    pub kill_at_ms: Option<SimTimeMs>,
    /// The groups to place: one for a gang job, one per task for an incremental one.
    pub groups: Vec<GroupRequest>,
}

impl SimJob {
    /// GPUs (leaf cells) of all its groups.
    pub fn gpus(&self) -> u32 {
        let total: u64 = self.groups.iter().map(GroupRequest::leaf_count).sum();
        u32::try_from(total).unwrap_or(u32::MAX)
    }
}

/// A node failing, coming back, joining or leaving the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeEvent {
    /// When.
    pub at_ms: SimTimeMs,
    /// Node name (as in the cluster config).
    pub node: String,
    /// Down, up, added or removed.
    pub kind: NodeEventKind,
}

/// What happens to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeEventKind {
    /// The node fails: groups on it are killed and requeued.
    Down,
    /// The node is healthy again.
    Up,
    /// The node joins the cluster. A node whose first event is `added` is absent until
    /// then: HiveD sees a configured node that Kubernetes does not have as a bad node, so
    /// the allocator does too, but its GPUs do not count in the capacity.
    Added,
    /// The node leaves the cluster: groups on it are killed and requeued (as when it
    /// goes down), its GPUs leave the capacity, and only `added` can bring it back.
    Removed,
}

impl NodeEventKind {
    /// The word scenarios use.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeEventKind::Down => "down",
            NodeEventKind::Up => "up",
            NodeEventKind::Added => "added",
            NodeEventKind::Removed => "removed",
        }
    }
}

/// Checks that each node's events, in time order, make sense: `down` and `up` only while
/// the node is in the cluster, `added` only while it is not (a node whose first event is
/// `added` starts outside), `removed` only while it is. Returns the first bad event's
/// index and what is wrong.
fn check_node_event_order(events: &[NodeEvent]) -> Result<(), (usize, String)> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by_key(|&i| (events[i].at_ms, i));
    let mut present: HashMap<&str, bool> = HashMap::new();
    for i in order {
        let ev = &events[i];
        let here = *present
            .entry(ev.node.as_str())
            .or_insert(ev.kind != NodeEventKind::Added);
        let problem = match (ev.kind, here) {
            (NodeEventKind::Added, true) => Some(format!(
                "node {:?} is already in the cluster at this time, so it cannot be `added`; \
                 remove it first with `event: removed`, or drop this event",
                ev.node
            )),
            (NodeEventKind::Down | NodeEventKind::Up | NodeEventKind::Removed, false) => {
                Some(format!(
                    "node {:?} is not in the cluster at this time (not added yet, or removed), \
                     so it cannot be `{}`; add it first with `event: added`",
                    ev.node,
                    ev.kind.as_str()
                ))
            }
            _ => None,
        };
        if let Some(problem) = problem {
            return Err((i, problem));
        }
        present.insert(
            ev.node.as_str(),
            match ev.kind {
                NodeEventKind::Added => true,
                NodeEventKind::Removed => false,
                _ => here,
            },
        );
    }
    Ok(())
}

/// Why a scenario could not be read. None is recoverable for that scenario: fix the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The scenario file could not be read.
    #[error("{file}: cannot read the scenario: {source}")]
    Read {
        /// The file.
        file: String,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A key is missing, unknown, or has a bad value; the message says how to fix it.
    #[error("{file}{}: {}{message}", at(location), path_prefix(yaml_path))]
    Invalid {
        /// The scenario file.
        file: String,
        /// Dotted YAML path, e.g. `jobs[2].duration`; empty for the whole file.
        yaml_path: String,
        /// Line and column, when the parser knows them.
        location: Option<(usize, usize)>,
        /// What is wrong and what to change.
        message: String,
    },
    /// The cluster config the scenario names is invalid.
    #[error("{file}: {yaml_path}: the cluster config is invalid:\n{errors}")]
    Cluster {
        /// The scenario file.
        file: String,
        /// The `cluster.*` key that names the config.
        yaml_path: String,
        /// Every problem of the config.
        errors: ConfigErrors,
    },
    /// A job file the scenario names is invalid.
    #[error("{file}: {yaml_path}: {source}")]
    JobFile {
        /// The scenario file.
        file: String,
        /// `jobs[i].jobFile`.
        yaml_path: String,
        /// The job file's own error (naming that file).
        source: Box<JobFileError>,
    },
}

fn at(location: &Option<(usize, usize)>) -> String {
    location
        .map(|(l, c)| format!(":{l}:{c}"))
        .unwrap_or_default()
}

fn path_prefix(yaml_path: &str) -> String {
    if yaml_path.is_empty() {
        String::new()
    } else {
        format!("{yaml_path}: ")
    }
}

/// Parse a duration: a number with a unit (`ms`, `s`, `m`, `h`, `d`), possibly several
/// (`1h30m`, `2d12h`), or a bare number of seconds. Decimals are allowed down to the millisecond
/// (`1.5s`, `0.25m`).
pub fn parse_duration(text: &str) -> Result<SimTimeMs, String> {
    let fix = "write a number with a unit (ms, s, m, h, d), e.g. \"90s\", \"1h30m\", \"30d\", \
               or an integer number of seconds";
    let s = text.trim();
    if s.is_empty() {
        return Err(format!("empty duration; {fix}"));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<u64>()
            .ok()
            .and_then(|secs| secs.checked_mul(1000))
            .ok_or_else(|| format!("duration {text:?} is too large"));
    }
    let mut total: u64 = 0;
    let mut rest = s;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, after) = rest.split_at(number_len);
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let unit_ms: u64 = match unit.trim() {
            "ms" => 1,
            "s" => 1_000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "" => {
                return Err(format!(
                    "invalid duration {text:?}: {number:?} has no unit; {fix}"
                ));
            }
            other => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {other:?}; {fix}"
                ));
            }
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if number.is_empty() || (whole.is_empty() && frac.is_empty()) || frac.contains('.') {
            return Err(format!("invalid duration {text:?}; {fix}"));
        }
        let parse = |digits: &str| -> Option<u64> {
            if digits.is_empty() {
                Some(0)
            } else {
                digits.parse().ok()
            }
        };
        let too_large = || format!("duration {text:?} is too large");
        let whole = parse(whole).ok_or_else(|| format!("invalid duration {text:?}; {fix}"))?;
        let mut ms = whole.checked_mul(unit_ms).ok_or_else(too_large)?;
        if !frac.is_empty() {
            let scale = 10u64
                .checked_pow(frac.len() as u32)
                .ok_or_else(|| format!("invalid duration {text:?}: too many decimals"))?;
            let numerator = parse(frac)
                .ok_or_else(|| format!("invalid duration {text:?}; {fix}"))?
                .checked_mul(unit_ms)
                .ok_or_else(too_large)?;
            if numerator % scale != 0 {
                return Err(format!(
                    "invalid duration {text:?}: not a whole number of milliseconds; round it to 1 ms"
                ));
            }
            ms = ms.checked_add(numerator / scale).ok_or_else(too_large)?;
        }
        total = total.checked_add(ms).ok_or_else(too_large)?;
        rest = after;
    }
    Ok(total)
}

/// A duration in a scenario: a string with units or an integer number of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct DurationMs(SimTimeMs);

impl<'de> Deserialize<'de> for DurationMs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationMs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a duration such as \"90s\", \"5m\", \"1h30m\" or an integer number of seconds",
                )
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DurationMs, E> {
                v.checked_mul(1000)
                    .map(DurationMs)
                    .ok_or_else(|| E::custom(format!("duration {v} s is too large")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DurationMs, E> {
                u64::try_from(v).map_err(|_| {
                    E::custom(format!("negative duration {v}; durations count from the scenario start and must be >= 0"))
                })
                .and_then(|v| self.visit_u64(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DurationMs, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number of seconds; write it with a unit, e.g. \"{v}s\""
                )))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationMs, E> {
                parse_duration(v).map(DurationMs).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(V)
    }
}

// ---------------------------------------------------------------------------------------
// Raw file shape.

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawScenario {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    seed: Option<u64>,
    #[serde(default)]
    horizon: Option<DurationMs>,
    #[serde(default)]
    models: Option<Vec<String>>,
    cluster: RawCluster,
    #[serde(default)]
    checkpoint_interval_sec: Option<DurationMs>,
    #[serde(default)]
    yarn_cs: Option<RawYarn>,
    #[serde(default)]
    tiresias: Option<RawTiresias>,
    #[serde(default)]
    easy: Option<RawEasy>,
    #[serde(default)]
    resume_delay: Option<DurationMs>,
    jobs: Vec<RawJob>,
    #[serde(default)]
    node_events: Vec<RawNodeEvent>,
}

/// Exactly one key must be set; checked after parsing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawCluster {
    #[serde(default)]
    hived_config: Option<PathBuf>,
    #[serde(default)]
    services_configuration: Option<PathBuf>,
    #[serde(default)]
    layout: Option<PathBuf>,
    #[serde(default)]
    inline: Option<serde_yaml_ng::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawYarn {
    #[serde(default)]
    max_capacity_percent: Option<u32>,
    #[serde(default)]
    vc_max_capacity_percent: BTreeMap<String, u32>,
}

/// The `tiresias` policy's settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTiresias {
    /// Attained service (GPU time) between queues, ascending.
    #[serde(default)]
    queue_thresholds: Option<Vec<DurationMs>>,
    #[serde(default)]
    starvation_factor: Option<u32>,
}

/// The `easy` policy's settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawEasy {
    #[serde(default)]
    estimate_factor_percent: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawJob {
    id: String,
    #[serde(default)]
    submit: Option<DurationMs>,
    #[serde(default)]
    job_file: Option<PathBuf>,
    #[serde(default)]
    request: Option<RawRequest>,
    duration: DurationMs,
    #[serde(default)]
    kill_at: Option<DurationMs>,
    #[serde(default)]
    user: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawRequest {
    #[serde(default)]
    vc: Option<String>,
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    priority_class: Option<String>,
    #[serde(default)]
    gang: Option<bool>,
    #[serde(default)]
    lazy_preemption: Option<bool>,
    tasks: Vec<RawTask>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawTask {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    instances: Option<u32>,
    gpus: u32,
    #[serde(default)]
    sku_type: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawNodeEvent {
    at: DurationMs,
    node: String,
    event: NodeEventKind,
}

// ---------------------------------------------------------------------------------------
// Loading.

/// The bundled default scenario (`scenarios/default.yaml`, compiled in), which
/// `cellsim run` runs when given no scenario.
pub fn default_scenario() -> Result<Scenario, ScenarioError> {
    load_str(
        include_str!("../../scenarios/default.yaml"),
        "scenarios/default.yaml (built in)",
        Path::new("."),
        "default",
    )
}

/// Read a scenario file; relative paths in it are relative to its folder.
pub fn load_file(path: &Path) -> Result<Scenario, ScenarioError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScenarioError::Read {
        file: file.clone(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "scenario".to_string());
    load_str(&text, &file, base, &stem)
}

/// Read a scenario from `text`. `source` names it in messages, `base_dir` resolves
/// relative paths, `default_name` is its name when it has no `name` key.
pub fn load_str(
    text: &str,
    source: &str,
    base_dir: &Path,
    default_name: &str,
) -> Result<Scenario, ScenarioError> {
    let reader = Reader {
        file: source,
        base_dir,
    };
    if let Some(message) = crate::config::yaml::not_a_mapping(text, "a scenario") {
        return Err(reader.invalid("", message));
    }
    let raw: RawScenario =
        serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text))
            .map_err(|e| reader.parse_error(e))?;
    reader.build(raw, default_name)
}

struct Reader<'a> {
    file: &'a str,
    base_dir: &'a Path,
}

impl Reader<'_> {
    fn invalid(&self, yaml_path: impl Into<String>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::Invalid {
            file: self.file.to_string(),
            yaml_path: yaml_path.into(),
            location: None,
            message: message.into(),
        }
    }

    fn parse_error(&self, e: serde_path_to_error::Error<serde_yaml_ng::Error>) -> ScenarioError {
        let mut path = e.path().to_string();
        if path == "." {
            path.clear();
        }
        let inner = e.into_inner();
        let location = inner.location().map(|l| (l.line(), l.column()));
        let mut message = inner.to_string();
        // serde_yaml_ng appends the position and may prefix its own copy of the path;
        // we print both once, in our own place.
        if let Some(l) = inner.location() {
            let suffix = format!(" at line {} column {}", l.line(), l.column());
            if let Some(i) = message.find(&suffix) {
                message.replace_range(i..i + suffix.len(), "");
            }
        }
        // serde_yaml_ng's own path stops at the map holding an unknown key, ours names the key.
        if let Some((head, rest)) = message.split_once(": ")
            && !head.is_empty()
            && !head.contains(' ')
            && path.starts_with(head)
        {
            message = rest.to_string();
        }
        let field = path.rsplit('.').next().unwrap_or("").to_string();
        let field = field.split('[').next().unwrap_or("").to_string();
        if let Some(plain) = crate::config::yaml::unsigned_message(&message, &field) {
            message = plain;
        }
        let hint = if message.contains("must be a positive") {
            String::new()
        } else if message.contains("unknown field") || message.contains("unknown variant") {
            format!("remove the key or fix its spelling ({EXAMPLE} documents every key)")
        } else if message.contains("missing field") {
            format!("add it ({EXAMPLE} documents every key)")
        } else if message.contains("duration") || message.contains("unit") {
            String::new()
        } else {
            format!("see {EXAMPLE} for the expected shape")
        };
        if !hint.is_empty() {
            message = format!("{message}; {hint}");
        }
        ScenarioError::Invalid {
            file: self.file.to_string(),
            yaml_path: path,
            location,
            message,
        }
    }

    fn build(&self, raw: RawScenario, default_name: &str) -> Result<Scenario, ScenarioError> {
        let name = raw.name.unwrap_or_else(|| default_name.to_string());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            || name.starts_with('.')
        {
            return Err(self.invalid(
                "name",
                format!(
                    "{name:?} cannot be used as a folder name; use letters, digits, '-', '_' and '.' (not first)"
                ),
            ));
        }
        let models = self.models(raw.models)?;
        let mut warnings = Vec::new();
        let config = self.cluster(raw.cluster, &mut warnings)?;
        let model_options = ModelOptions {
            yarn_cs: match raw.yarn_cs {
                None => YarnOptions::default(),
                Some(y) => YarnOptions {
                    max_capacity_percent: y.max_capacity_percent.unwrap_or(100),
                    vc_max_capacity_percent: y.vc_max_capacity_percent,
                },
            },
            tiresias: {
                let defaults = TiresiasOptions::default();
                match raw.tiresias {
                    None => defaults,
                    Some(t) => TiresiasOptions {
                        queue_thresholds_gpu_ms: t
                            .queue_thresholds
                            .map(|v| v.into_iter().map(|d| d.0).collect())
                            .unwrap_or(defaults.queue_thresholds_gpu_ms),
                        starvation_factor: t
                            .starvation_factor
                            .unwrap_or(defaults.starvation_factor),
                    },
                }
            },
            easy: EasyOptions {
                estimate_factor_percent: raw
                    .easy
                    .and_then(|e| e.estimate_factor_percent)
                    .unwrap_or(100),
            },
            resume_delay_ms: raw.resume_delay.map_or(0, |d| d.0),
            kueue: None,
            sharing: None,
        };
        sched::yarn_cs::YarnCs::new(&config, &model_options.yarn_cs)
            .map_err(|e| self.invalid("yarnCs", e))?;
        sched::policies::tiresias::Tiresias::new(&model_options.tiresias, 0)
            .map_err(|e| self.invalid("tiresias", e))?;
        sched::policies::easy::Easy::new(&model_options.easy)
            .map_err(|e| self.invalid("easy", e))?;
        let checkpoint_interval_ms = match raw.checkpoint_interval_sec {
            Some(DurationMs(0)) => {
                return Err(self.invalid(
                    "checkpointIntervalSec",
                    "must be positive; remove the key to restart preempted jobs from zero",
                ));
            }
            other => other.map(|d| d.0),
        };
        let mut jobs = Vec::with_capacity(raw.jobs.len());
        let mut ids = BTreeSet::new();
        for (i, job) in raw.jobs.into_iter().enumerate() {
            let path = format!("jobs[{i}]");
            if !ids.insert(job.id.clone()) {
                return Err(self.invalid(
                    format!("{path}.id"),
                    format!(
                        "job id {:?} is used twice; give every job its own id",
                        job.id
                    ),
                ));
            }
            jobs.push(self.job(&path, job, &config, &mut warnings)?);
        }
        let topology = Topology::build(&config);
        let mut node_events = Vec::with_capacity(raw.node_events.len());
        for (i, ev) in raw.node_events.into_iter().enumerate() {
            if !topology.node_by_name.contains_key(&ev.node) {
                let known: Vec<&str> = topology.nodes.iter().map(|n| n.name.as_str()).collect();
                return Err(self.invalid(
                    format!("nodeEvents[{i}].node"),
                    format!(
                        "unknown node {:?}; use one of the cluster's nodes: {}",
                        ev.node,
                        known.join(", ")
                    ),
                ));
            }
            node_events.push(NodeEvent {
                at_ms: ev.at.0,
                node: ev.node,
                kind: ev.event,
            });
        }
        if let Err((i, message)) = check_node_event_order(&node_events) {
            return Err(self.invalid(format!("nodeEvents[{i}].event"), message));
        }
        let seed = raw.seed.unwrap_or(0);
        let mut model_options = model_options;
        if models.iter().any(|m| m.split('+').nth(2).is_some()) {
            // A model names its placement: fgd measures against this scenario's pods.
            model_options.sharing = Some(std::sync::Arc::new(sched::ShareOptions::of_requests(
                jobs.iter().flat_map(|j| &j.groups),
                Default::default(),
                seed,
            )));
        }
        Ok(Scenario {
            name,
            source: self.file.to_string(),
            seed,
            horizon_ms: raw.horizon.map(|h| h.0),
            models,
            config,
            checkpoint_interval_ms,
            model_options,
            jobs,
            node_events,
            warnings,
        })
    }

    fn models(&self, models: Option<Vec<String>>) -> Result<Vec<String>, ScenarioError> {
        let Some(models) = models else {
            return Ok(sched::MODEL_NAMES.iter().map(|m| m.to_string()).collect());
        };
        if models.is_empty() {
            return Err(self.invalid(
                "models",
                format!(
                    "the list is empty; name at least one of: {}",
                    sched::MODEL_NAMES.join(", ")
                ),
            ));
        }
        let mut seen = BTreeSet::new();
        for (i, m) in models.iter().enumerate() {
            if let Err(e) = sched::check_model_name(m) {
                return Err(self.invalid(format!("models[{i}]"), e));
            }
            if !seen.insert(m) {
                return Err(self.invalid(
                    format!("models[{i}]"),
                    format!("model {m:?} is listed twice; list it once"),
                ));
            }
        }
        Ok(models)
    }

    fn cluster(
        &self,
        cluster: RawCluster,
        warnings: &mut Vec<String>,
    ) -> Result<CellConfig, ScenarioError> {
        let RawCluster {
            hived_config,
            services_configuration,
            layout,
            inline,
        } = cluster;
        let given = [
            hived_config.is_some(),
            services_configuration.is_some(),
            layout.is_some(),
            inline.is_some(),
        ];
        if given.iter().filter(|&&g| g).count() != 1 {
            return Err(self.invalid(
                "cluster",
                "give exactly one of hivedConfig: PATH, servicesConfiguration: PATH, layout: PATH \
                 or inline: <HiveD config>",
            ));
        }
        let (key, expected, path) = match (hived_config, services_configuration, layout, inline) {
            (_, _, _, Some(value)) => {
                let source = format!("{} (cluster.inline)", self.file);
                let config = config::from_hived_value(&value, &source).map_err(|errors| {
                    ScenarioError::Cluster {
                        file: self.file.to_string(),
                        yaml_path: "cluster.inline".to_string(),
                        errors,
                    }
                })?;
                warnings.extend(config.warnings.iter().cloned());
                return Ok(config);
            }
            (Some(p), _, _, _) => ("cluster.hivedConfig", ConfigFormat::HivedConfig, p),
            (_, Some(p), _, _) => (
                "cluster.servicesConfiguration",
                ConfigFormat::ServicesConfiguration,
                p,
            ),
            (_, _, Some(p), _) => ("cluster.layout", ConfigFormat::Layout, p),
            (None, None, None, None) => unreachable!("checked above: one key is set"),
        };
        let resolved = self.base_dir.join(&path);
        let text = std::fs::read_to_string(&resolved).map_err(|e| {
            self.invalid(
                key,
                format!(
                    "cannot read {}: {e}; paths are relative to the scenario file's folder",
                    resolved.display()
                ),
            )
        })?;
        if let Ok(value) = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text)
            && let Ok(found) = config::detect_format(&value)
            && found != expected
        {
            let (right_key, what) = match found {
                ConfigFormat::HivedConfig => ("hivedConfig", "a HiveD config"),
                ConfigFormat::ServicesConfiguration => {
                    ("servicesConfiguration", "an OpenPAI services-configuration")
                }
                _ => ("layout", "an OpenPAI layout"),
            };
            return Err(self.invalid(
                key,
                format!(
                    "{} is {what}, not what this key expects; use cluster.{right_key}",
                    resolved.display()
                ),
            ));
        }
        let config =
            config::load_str(&text, &resolved.display().to_string()).map_err(|errors| {
                ScenarioError::Cluster {
                    file: self.file.to_string(),
                    yaml_path: key.to_string(),
                    errors,
                }
            })?;
        warnings.extend(config.warnings.iter().cloned());
        Ok(config)
    }

    fn job(
        &self,
        path: &str,
        job: RawJob,
        config: &CellConfig,
        warnings: &mut Vec<String>,
    ) -> Result<SimJob, ScenarioError> {
        if job.id.is_empty() || job.id.contains('/') || job.id.chars().any(char::is_whitespace) {
            return Err(self.invalid(
                format!("{path}.id"),
                format!(
                    "job id {:?} must be non-empty, without '/' or spaces (group names are <id>/<group>)",
                    job.id
                ),
            ));
        }
        let submit_ms = job.submit.map(|d| d.0).unwrap_or(0);
        if job.duration.0 == 0 {
            return Err(self.invalid(format!("{path}.duration"), "must be positive, e.g. \"60s\""));
        }
        if let Some(kill) = job.kill_at
            && kill.0 < submit_ms
        {
            return Err(self.invalid(
                format!("{path}.killAt"),
                "is before the job's submit time; kill it at or after its submit time",
            ));
        }
        let (vc, priority, priority_label, groups) = match (job.job_file, job.request) {
            (Some(file), None) => {
                let resolved = self.base_dir.join(&file);
                let spec =
                    read_job_file(&resolved, config).map_err(|source| ScenarioError::JobFile {
                        file: self.file.to_string(),
                        yaml_path: format!("{path}.jobFile"),
                        source: Box::new(source),
                    })?;
                warnings.extend(spec.warnings.iter().cloned());
                let prefix = format!("{}/", spec.name);
                let groups = spec
                    .groups
                    .iter()
                    .map(|g| {
                        let rest = g.name.strip_prefix(&prefix).unwrap_or(&g.name);
                        GroupRequest {
                            name: format!("{}/{rest}", job.id),
                            ..g.clone()
                        }
                    })
                    .collect();
                (
                    spec.virtual_cluster,
                    spec.priority,
                    spec.priority_class,
                    groups,
                )
            }
            (None, Some(request)) => self.request(path, &job.id, request)?,
            (Some(_), Some(_)) => {
                return Err(self.invalid(path, "has both jobFile and request; give one of them"));
            }
            (None, None) => {
                return Err(self.invalid(
                    path,
                    "has neither jobFile nor request; give an OpenPAI job file (jobFile: PATH) or an inline request",
                ));
            }
        };
        // A job of a VC the cluster does not have would be rejected by some models and run
        // by others, so they would compare different workloads: refuse it here.
        if !config.virtual_clusters.contains_key(&vc) {
            let known: Vec<&str> = config.virtual_clusters.keys().map(String::as_str).collect();
            return Err(self.invalid(
                path,
                format!(
                    "job {:?} names virtual cluster {vc:?}, which the cluster does not have; \
                     use one of: {}",
                    job.id,
                    known.join(", ")
                ),
            ));
        }
        Ok(SimJob {
            id: job.id,
            vc,
            priority,
            priority_label,
            user: job.user,
            submit_ms,
            duration_ms: job.duration.0,
            kill_at_ms: job.kill_at.map(|d| d.0),
            groups,
        })
    }

    fn request(
        &self,
        path: &str,
        id: &str,
        request: RawRequest,
    ) -> Result<(String, i32, String, Vec<GroupRequest>), ScenarioError> {
        let classes = || {
            PRIORITY_CLASSES
                .iter()
                .map(|(c, p)| format!("{c} ({p})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let (priority, label) = match (request.priority, request.priority_class) {
            (Some(_), Some(_)) => {
                return Err(self.invalid(
                    format!("{path}.request"),
                    "has both priority and priorityClass; give one of them",
                ));
            }
            (Some(p), None) => {
                let label = PRIORITY_CLASSES
                    .iter()
                    .find(|(_, v)| *v == p)
                    .map(|(c, _)| c.to_string())
                    .unwrap_or_else(|| p.to_string());
                (p, label)
            }
            (None, Some(class)) => {
                let Some(&(_, p)) = PRIORITY_CLASSES.iter().find(|(c, _)| *c == class) else {
                    return Err(self.invalid(
                        format!("{path}.request.priorityClass"),
                        format!(
                            "unknown priority class {class:?}; use one of: {}",
                            classes()
                        ),
                    ));
                };
                (p, class)
            }
            (None, None) => {
                let p = PRIORITY_CLASSES
                    .iter()
                    .find(|(c, _)| *c == DEFAULT_PRIORITY_CLASS)
                    .map_or(0, |(_, p)| *p);
                (p, DEFAULT_PRIORITY_CLASS.to_string())
            }
        };
        if request.tasks.is_empty() {
            return Err(self.invalid(
                format!("{path}.request.tasks"),
                "is empty; give at least one task, e.g. [{instances: 1, gpus: 1}]",
            ));
        }
        let gang = request.gang.unwrap_or(true);
        let vc = request
            .vc
            .unwrap_or_else(|| DEFAULT_VIRTUAL_CLUSTER.to_string());
        let lazy = request.lazy_preemption.unwrap_or(false);
        let mut names = BTreeSet::new();
        let mut members: Vec<(String, u32, GroupMember, Option<String>)> = Vec::new();
        for (k, task) in request.tasks.into_iter().enumerate() {
            let tpath = format!("{path}.request.tasks[{k}]");
            let instances = task.instances.unwrap_or(1);
            if instances == 0 {
                return Err(self.invalid(format!("{tpath}.instances"), "must be at least 1"));
            }
            let max = crate::workload::openpai::MAX_INSTANCES;
            if instances > max {
                return Err(self.invalid(
                    format!("{tpath}.instances"),
                    format!("{instances} is more than the limit of {max} instances per task"),
                ));
            }
            if task.gpus == 0 {
                return Err(self.invalid(
                    format!("{tpath}.gpus"),
                    "must be at least 1 (a simulated task holds GPUs)",
                ));
            }
            let name = task.name.unwrap_or_else(|| format!("task{k}"));
            if !names.insert(name.clone()) {
                return Err(self.invalid(
                    format!("{tpath}.name"),
                    format!("task name {name:?} is used twice in this job; name tasks uniquely"),
                ));
            }
            members.push((
                name,
                instances,
                GroupMember::whole(instances, task.gpus),
                task.sku_type,
            ));
        }
        let group = |name: String, members: Vec<GroupMember>, sku: Option<String>| GroupRequest {
            name,
            virtual_cluster: vc.clone(),
            priority,
            leaf_cell_type: sku,
            pinned_cell_id: None,
            lazy_preemption_enable: lazy,
            ignore_k8s_suggested_nodes: true,
            members,
        };
        let groups = if gang {
            let skus: BTreeSet<&Option<String>> = members.iter().map(|m| &m.3).collect();
            if skus.len() > 1 {
                return Err(self.invalid(
                    format!("{path}.request.tasks"),
                    "tasks of a gang job ask for different skuTypes; a gang runs on one SKU, so use one skuType or gang: false",
                ));
            }
            let sku = members[0].3.clone();
            vec![group(
                format!("{id}/default"),
                members.iter().map(|m| m.2.clone()).collect(),
                sku,
            )]
        } else {
            let mut groups = Vec::new();
            for (name, instances, member, sku) in &members {
                for i in 0..*instances {
                    groups.push(group(
                        format!("{id}/{name}-{i}"),
                        vec![GroupMember::whole(1, member.leaf_cell_number)],
                        sku.clone(),
                    ));
                }
            }
            groups
        };
        Ok((vc, priority, label, groups))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLUSTER: &str = "
cluster:
  inline:
    physicalCluster:
      skuTypes:
        GPU: {gpu: 1, cpu: 2, memory: 4096Mi}
      cellTypes:
        GPU-NODE: {childCellType: GPU, childCellNumber: 1, isNodeLevel: true}
        GPU-NODE-POOL: {childCellType: GPU-NODE, childCellNumber: 2}
      physicalCells:
      - cellType: GPU-NODE-POOL
        cellChildren: [{cellAddress: hostname-carol}, {cellAddress: hostname-dan}]
    virtualClusters:
      default: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 2}]}
";

    fn load(jobs: &str) -> Result<Scenario, ScenarioError> {
        let text = format!("name: t\n{CLUSTER}{jobs}");
        load_str(&text, "t.yaml", Path::new("."), "t")
    }

    #[test]
    fn durations_take_units_or_integer_seconds() {
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("90"), Ok(90_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("2h"), Ok(7_200_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500));
        assert_eq!(parse_duration("0.25m"), Ok(15_000));
        assert_eq!(parse_duration(" 5m "), Ok(300_000));
        // See: issue 16 (`--horizon 30d`, the example of `replay --help`).
        assert_eq!(parse_duration("30d"), Ok(30 * 86_400_000));
        assert_eq!(parse_duration("1d12h"), Ok(36 * 3_600_000));
    }

    #[test]
    fn bad_durations_say_how_to_write_one() {
        for bad in [
            "",
            "5 minutes",
            "5x",
            "m",
            "1.2.3s",
            "0.0001s",
            "99999999999999999999h",
        ] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.contains("unit")
                    || err.contains("too large")
                    || err.contains("millisecond")
                    || err.contains("empty"),
                "{bad}: {err}"
            );
        }
        assert!(
            parse_duration("5 minutes")
                .unwrap_err()
                .contains("e.g. \"90s\"")
        );
    }

    #[test]
    fn unknown_key_error_names_the_key_the_file_and_the_path() {
        let err =
            load("jobs:\n- {id: a, duration: 60s, durations: 5, request: {tasks: [{gpus: 1}]}}\n")
                .unwrap_err()
                .to_string();
        assert!(err.starts_with("t.yaml:"), "{err}");
        assert!(
            err.contains(": jobs[0].durations: unknown field `durations`"),
            "{err}"
        );
        assert!(err.contains("remove the key or fix its spelling"), "{err}");
        let err = load("jobz: []\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `jobz`"), "{err}");
    }

    #[test]
    fn bad_duration_in_a_job_names_its_path() {
        let err = load("jobs:\n- {id: a, duration: 5 minutes, request: {tasks: [{gpus: 1}]}}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("jobs[0].duration"), "{err}");
        assert!(err.contains("\"5 minutes\""), "{err}");
    }

    #[test]
    fn inline_requests_become_gang_or_per_task_groups() {
        let s = load(
            "jobs:
- {id: g, duration: 60s, request: {priorityClass: prod, tasks: [{instances: 2, gpus: 1}]}}
- {id: i, submit: 1m, duration: 60s, request: {gang: false, tasks: [{name: w, instances: 2, gpus: 1}]}}
",
        )
        .unwrap();
        assert_eq!(s.jobs[0].groups.len(), 1);
        assert_eq!(s.jobs[0].groups[0].name, "g/default");
        assert_eq!(s.jobs[0].priority, 100);
        assert_eq!(s.jobs[0].priority_label, "prod");
        assert_eq!(s.jobs[0].gpus(), 2);
        let names: Vec<&str> = s.jobs[1].groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["i/w-0", "i/w-1"]);
        assert_eq!(s.jobs[1].submit_ms, 60_000);
        assert_eq!(s.models, ["hived", "yarn-cs", "fifo"]);
    }

    #[test]
    fn semantic_errors_say_what_to_change() {
        let cases = [
            (
                "jobs:\n- {id: a, duration: 1s}\n",
                "has neither jobFile nor request",
            ),
            (
                "jobs:\n- {id: a, duration: 1s, request: {tasks: [{gpus: 1}]}}\n- {id: a, duration: 1s, request: {tasks: [{gpus: 1}]}}\n",
                "jobs[1].id: job id \"a\" is used twice",
            ),
            (
                "jobs:\n- {id: a, duration: 1s, request: {priorityClass: urgent, tasks: [{gpus: 1}]}}\n",
                "unknown priority class \"urgent\"",
            ),
            (
                "models: [hived, slurm]\njobs: []\n",
                "models[1]: unknown model \"slurm\"",
            ),
            (
                "jobs: []\nnodeEvents: [{at: 1m, node: hostname-eve, event: down}]\n",
                "nodeEvents[0].node: unknown node \"hostname-eve\"",
            ),
            (
                "jobs:\n- {id: a, submit: 5m, killAt: 1m, duration: 1s, request: {tasks: [{gpus: 1}]}}\n",
                "jobs[0].killAt",
            ),
        ];
        for (jobs, expected) in cases {
            let err = load(jobs).unwrap_err().to_string();
            assert!(err.contains(expected), "{jobs}\n=> {err}");
        }
    }

    #[test]
    fn cluster_must_be_one_of_the_known_sources() {
        let text = "cluster: {kubeconfig: x}\njobs: []\n";
        let err = load_str(text, "t.yaml", Path::new("."), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `kubeconfig`"), "{err}");
        assert!(err.contains("hivedConfig"), "{err}");
    }
}
