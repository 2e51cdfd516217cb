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
        let mut demand: BTreeMap<String, u64> = BTreeMap::new();
        for job in &ingested.jobs {
            *demand.entry(job.vc.clone()).or_default() +=
                u64::from(job.gpus).saturating_mul(job.duration_ms);
        }
        Some(size_vcs(&mut config, &demand).map_err(cluster_error)?)
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
