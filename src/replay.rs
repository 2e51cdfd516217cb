//! Trace replay: from a cluster description (a config file, a machine list or a synthetic
//! spec) and a trace file to a [`Scenario`] the engine runs like any other. It builds the
//! cluster, reads and orders the trace, gives the cluster the trace's VCs (each guaranteed
//! cells in proportion to its GPU-time) when the cluster brings none, and shapes each
//! trace job into pods for that cluster. Every row set aside is counted in the
//! [`IngestReport`]; running the models and writing reports is the caller's business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::builders::{
    BuildOptions, ClusterBuildError, ClusterFormat, VcSizing, build_cluster, size_vcs,
    vcs_from_file,
};
use crate::sched::{MODEL_NAMES, ModelOptions};
use crate::sim::from_trace::{ClusterShape, sim_jobs};
use crate::sim::{Scenario, SimTimeMs};
use crate::workload::detect::{ReadOptions, open_trace};
use crate::workload::ingest::Ingest;
use crate::workload::{IngestReport, TraceError};

/// What to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// The cluster: a file (HiveD config, OpenPAI layout / services-configuration, Philly
    /// machine list, openb node list, PAI machine spec) or a synthetic spec string.
    pub cluster: String,
    /// The cluster's format; recognised from content when `None`.
    pub cluster_format: Option<ClusterFormat>,
    /// Nodes per rack for built clusters (`None`: the format's default).
    pub rack_nodes: Option<u32>,
    /// VCs from this file (the HiveD `virtualClusters` section) instead of from the trace.
    pub vcs_file: Option<PathBuf>,
    /// The trace file.
    pub trace: PathBuf,
    /// How to read the trace (format, column mapping, openb choices).
    pub read: ReadOptions,
    /// Models to run; all of them when empty.
    pub models: Vec<String>,
    /// Seed of each run's RNG.
    pub seed: u64,
    /// Stop simulating at this time, if set.
    pub horizon_ms: Option<SimTimeMs>,
    /// The scenario's name (report titles, default output folder); from the trace's file
    /// name when `None`.
    pub name: Option<String>,
}

/// A replay ready to run, with what it took to get there.
#[derive(Debug, Clone)]
pub struct Replay {
    /// The scenario: the built cluster with its VCs and the trace's jobs.
    pub scenario: Scenario,
    /// Rows set aside or changed, by the reader, the ingest step and the shaping.
    pub ingest: IngestReport,
    /// How the VCs were sized from the trace, when they were.
    pub vc_sizing: Option<VcSizing>,
    /// Wall time to build the cluster.
    pub build_time: Duration,
    /// Wall time to read, order and shape the trace.
    pub read_time: Duration,
}

/// Why a replay could not be prepared. None is recoverable for that input: fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The cluster description is wrong.
    #[error("cluster {cluster}: {source}")]
    Cluster {
        /// The `--cluster` argument.
        cluster: String,
        /// What is wrong.
        source: ClusterBuildError,
    },
    /// The trace cannot be read.
    #[error("{0}")]
    Trace(#[from] TraceError),
    /// An option is wrong (e.g. an unknown model).
    #[error("{0}")]
    Option(String),
}

/// GPU-milliseconds each VC asks for in `jobs`: the weights VCs are sized by.
pub(crate) fn gpu_time_by_vc(jobs: &[crate::workload::TraceJob]) -> BTreeMap<String, u64> {
    let mut demand: BTreeMap<String, u64> = BTreeMap::new();
    for job in jobs {
        *demand.entry(job.vc.clone()).or_default() +=
            u64::from(job.gpus).saturating_mul(job.duration_ms);
    }
    demand
}

/// Builds the cluster, reads the trace and returns the scenario to run.
pub fn prepare(options: &ReplayOptions) -> Result<Replay, ReplayError> {
    for model in &options.models {
        if !MODEL_NAMES.contains(&model.as_str()) {
            return Err(ReplayError::Option(format!(
                "unknown scheduler model {model:?}; use one of: {}",
                MODEL_NAMES.join(", ")
            )));
        }
    }
    let cluster_error = |source| ReplayError::Cluster {
        cluster: options.cluster.clone(),
        source,
    };
    let started = Instant::now();
    let format = match options.cluster_format {
        Some(format) => format,
        None => crate::config::builders::detect_cluster_format(&options.cluster)
            .map_err(cluster_error)?,
    };
    let build = BuildOptions {
        rack_nodes: options.rack_nodes,
    };
    let mut config =
        build_cluster(&options.cluster, Some(format), &build).map_err(cluster_error)?;
    if let Some(path) = &options.vcs_file {
        config = vcs_from_file(&config, path).map_err(cluster_error)?;
    }
    let build_time = started.elapsed();

    let started = Instant::now();
    let reader = open_trace(&options.trace, &options.read)?;
    let ingest = Ingest {
        max_gpus: None,
        ..Ingest::default()
    };
    let ingested = ingest.sorted(reader)?;
    let mut report = ingested.report;
    // A config file brings its own VCs; a machine list or spec has only `default`, so the
    // trace's VCs get guarantees in proportion to their GPU-time.
    let vc_sizing = if format != ClusterFormat::Hived && options.vcs_file.is_none() {
        Some(size_vcs(&mut config, &gpu_time_by_vc(&ingested.jobs)).map_err(cluster_error)?)
    } else {
        None
    };
    let shape = ClusterShape::of(&config);
    let jobs = sim_jobs(ingested.jobs, &shape, &mut report);
    let read_time = started.elapsed();

    let name = options.name.clone().unwrap_or_else(|| stem(&options.trace));
    let mut warnings = config.warnings.clone();
    warnings.extend(report.lines());
    let scenario = Scenario {
        name,
        source: options.trace.display().to_string(),
        seed: options.seed,
        horizon_ms: options.horizon_ms,
        models: if options.models.is_empty() {
            MODEL_NAMES.iter().map(|m| m.to_string()).collect()
        } else {
            options.models.clone()
        },
        config,
        checkpoint_interval_ms: None,
        model_options: ModelOptions::default(),
        jobs,
        node_events: Vec::new(),
        warnings,
    };
    Ok(Replay {
        scenario,
        ingest: report,
        vc_sizing,
        build_time,
        read_time,
    })
}

/// A file's name without its extension (the whole name when it has none).
fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "replay".to_string())
}

/// What a replay read and set aside, for people: the trace's rows, the problems with
/// counts and examples, and the VCs sized from the trace (one line each).
pub fn ingest_text(replay: &Replay) -> String {
    use std::fmt::Write as _;
    let scenario = &replay.scenario;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace {}: {} rows read as jobs, {} jobs to replay",
        scenario.source,
        replay.ingest.jobs_read,
        scenario.jobs.len()
    );
    for line in replay.ingest.lines() {
        let _ = writeln!(out, "  set aside or changed: {line}");
    }
    for warning in &scenario.config.warnings {
        let _ = writeln!(out, "  cluster: {warning}");
    }
    if let Some(sizing) = &replay.vc_sizing {
        let _ = writeln!(
            out,
            "VCs sized from the trace's GPU-time: {} of {} GPUs guaranteed",
            sizing.guaranteed_gpus(),
            sizing.cluster_gpus
        );
        for vc in &sizing.vcs {
            let _ = writeln!(
                out,
                "  {}: {:.1}% of GPU-time -> {} GPUs",
                vc.vc,
                vc.share * 100.0,
                vc.gpus
            );
        }
    }
    out
}

/// A replay scenario file (`cellsim replay --scenario FILE`): the command's options as
/// YAML, paths relative to the file. Unknown keys are errors.
///
/// ```yaml
/// name: philly                      # optional; default: the trace's file name
/// cluster: "8x V100x8 rack=4"       # a file path (relative to this file) or a spec string
/// clusterFormat: spec               # optional: hived, philly, openb, pai, spec
/// rackNodes: 8                      # optional
/// vcs: vcs.yaml                     # optional: VCs from a file instead of the trace
/// trace: ../traces/example.csv
/// format: native                    # optional: native, philly-csv, philly-json, openb, mapped
/// mapping: "submit=…,duration=…"    # optional, for any CSV
/// fractional: whole                 # optional, openb: whole or skip
/// models: [hived, fifo]             # optional; default: all
/// seed: 1                           # optional
/// horizon: 30d                      # optional
/// ```
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplayFile {
    #[serde(default)]
    name: Option<String>,
    cluster: String,
    #[serde(default)]
    cluster_format: Option<String>,
    #[serde(default)]
    rack_nodes: Option<u32>,
    #[serde(default)]
    vcs: Option<PathBuf>,
    trace: PathBuf,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    mapping: Option<String>,
    #[serde(default)]
    fractional: Option<String>,
    #[serde(default)]
    models: Vec<String>,
    #[serde(default)]
    seed: u64,
    #[serde(default)]
    horizon: Option<String>,
}

/// Reads a replay scenario file into [`ReplayOptions`]. Errors name the file and the key
/// (or the YAML position) and say what to write instead.
pub fn options_from_file(path: &Path) -> Result<ReplayOptions, ReplayError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ReplayError::Option(format!(
            "{}: cannot read the replay scenario: {e}; check the path",
            path.display()
        ))
    })?;
    options_from_str(&text, path)
}

/// [`options_from_file`] on text already read; `path` names it in errors and anchors
/// relative paths.
pub fn options_from_str(text: &str, path: &Path) -> Result<ReplayOptions, ReplayError> {
    use crate::config::builders::ClusterFormat;
    use crate::workload::{ColumnMapping, Fractional, OpenbOptions, TraceFormat};
    let file = path.display();
    let raw: ReplayFile =
        crate::config::yaml::from_str_at(text, &file.to_string()).map_err(ReplayError::Option)?;
    let bad = |key: &str, message: String| ReplayError::Option(format!("{file}: {key}: {message}"));
    let base = path.parent().unwrap_or(Path::new("."));
    // A cluster that names an existing file relative to the scenario is that file; any
    // other text (a spec string) is kept as written.
    let cluster = {
        let relative = base.join(&raw.cluster);
        if !Path::new(&raw.cluster).is_absolute() && relative.is_file() {
            relative.display().to_string()
        } else {
            raw.cluster.clone()
        }
    };
    let cluster_format = raw
        .cluster_format
        .as_deref()
        .map(ClusterFormat::from_name)
        .transpose()
        .map_err(|e| bad("clusterFormat", e.to_string()))?;
    let format = raw
        .format
        .as_deref()
        .map(TraceFormat::from_name)
        .transpose()
        .map_err(|e| bad("format", e.to_string()))?;
    let mapping = raw
        .mapping
        .as_deref()
        .map(str::parse::<ColumnMapping>)
        .transpose()
        .map_err(|e| bad("mapping", e.to_string()))?;
    let fractional = match raw.fractional.as_deref() {
        None | Some("whole") => Fractional::WholeGpu,
        Some("skip") => Fractional::Skip,
        Some(other) => {
            return Err(bad(
                "fractional",
                format!("{other:?} is not a choice; write whole or skip"),
            ));
        }
    };
    let horizon_ms = raw
        .horizon
        .as_deref()
        .map(crate::sim::scenario::parse_duration)
        .transpose()
        .map_err(|e| bad("horizon", e))?;
    Ok(ReplayOptions {
        cluster,
        cluster_format,
        rack_nodes: raw.rack_nodes,
        vcs_file: raw.vcs.map(|v| base.join(v)),
        trace: base.join(raw.trace),
        read: ReadOptions {
            format,
            mapping,
            openb: OpenbOptions {
                fractional,
                ..OpenbOptions::default()
            },
        },
        models: raw.models,
        seed: raw.seed,
        horizon_ms,
        name: raw.name,
    })
}
