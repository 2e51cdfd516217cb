//! Trace replay: from a cluster description (a config file, a machine list or a synthetic
//! spec) and a trace file to a [`Scenario`] the engine runs like any other. It builds the
//! cluster, reads and orders the trace, gives the cluster the trace's VCs (each guaranteed
//! cells in proportion to its GPU-time) when the cluster brings none, and shapes each
//! trace job into pods for that cluster. Every row set aside is counted in the
//! [`IngestReport`]; running the models and writing reports is the caller's business.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::builders::{
    BuildOptions, ClusterBuildError, ClusterFormat, VcSizing, build_cluster, size_vcs,
    vcs_from_file,
};
use crate::sched::{MODEL_NAMES, ModelOptions, ShareOptions};
use crate::sim::engine::run_model_into;
use crate::sim::from_trace::{ClusterShape, sim_job, sim_jobs};
use crate::sim::sink::RunSink;
use crate::sim::source::StreamedJobs;
use crate::sim::{RunResult, Scenario, SimJob, SimTimeMs};
use crate::workload::detect::{ReadOptions, open_trace};
use crate::workload::ingest::{Ingest, Ingested, TimeOrigin};
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
    /// Which of the trace's jobs to replay (all by default).
    pub select: JobSelection,
    /// Load factor: submit times are divided by it (1.0, the default, keeps them), as
    /// the sweep's `load` axis does.
    pub load: Option<f64>,
    /// Move numeric submit times too so that the first submit is at 0 (`--shift-submit`,
    /// `shiftSubmit: true`). Calendar datetimes always are; numbers are kept as written
    /// unless this is set.
    pub shift_submit: bool,
}

impl ReplayOptions {
    /// The ingest step these options call for.
    pub fn ingest(&self) -> Ingest {
        Ingest {
            origin: origin(self.shift_submit),
            ..Ingest::default()
        }
    }
}

fn origin(shift_submit: bool) -> crate::workload::TimeOrigin {
    if shift_submit {
        crate::workload::TimeOrigin::FirstSubmit
    } else {
        crate::workload::TimeOrigin::Auto
    }
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

/// Reads the whole trace in submit order, keeps the jobs `options.select` selects and
/// applies `options.load`: the jobs a replay (or a sweep's replay base) runs.
pub fn read_selected(options: &ReplayOptions) -> Result<Ingested, ReplayError> {
    use crate::workload::TraceSource as _;
    let reader = open_trace(&options.trace, &options.read)?;
    let absolute = reader.absolute_times();
    let everything = options.select.is_all();
    let ingest = Ingest {
        max_gpus: None,
        // A window is in the trace's own times, so they are kept as written until then.
        origin: if everything {
            origin(options.shift_submit)
        } else {
            TimeOrigin::AsIs
        },
        ..Ingest::default()
    };
    let mut ingested = ingest.sorted(reader)?;
    if !everything {
        options
            .select
            .apply(&mut ingested.jobs, absolute, &mut ingested.report)
            .map_err(|e| ReplayError::Option(format!("trace {}: {e}", options.trace.display())))?;
        if options.shift_submit
            && let Some(first) = ingested.jobs.iter().map(|j| j.submit_ms).min()
        {
            // The selection keeps a relative trace's times; --shift-submit moves them too.
            for job in &mut ingested.jobs {
                job.submit_ms -= first;
            }
        }
    }
    if let Some(load) = options.load {
        for job in &mut ingested.jobs {
            job.submit_ms = (job.submit_ms as f64 / load).round() as SimTimeMs;
        }
    }
    Ok(ingested)
}

/// Builds the cluster, reads the trace and returns the scenario to run.
pub fn prepare(options: &ReplayOptions) -> Result<Replay, ReplayError> {
    let cluster = build(options)?;
    let started = Instant::now();
    let ingested = read_selected(options)?;
    let mut report = ingested.report;
    let mut config = cluster.config;
    let vc_sizing = size_from_trace(options, cluster.format, &mut config, || {
        gpu_time_by_vc(&ingested.jobs)
    })?;
    let shape = ClusterShape::of(&config);
    let jobs = sim_jobs(ingested.jobs, &shape, &mut report);
    let sharing = if wants_sharing(options) {
        Some(share_options(
            options,
            cluster.node_resources,
            jobs.iter().flat_map(|j| &j.groups),
        )?)
    } else {
        None
    };
    let read_time = started.elapsed();
    let mut scenario = scenario(options, config, jobs, &report);
    scenario.model_options.sharing = sharing.map(Arc::new);
    Ok(Replay {
        scenario,
        ingest: report,
        vc_sizing,
        build_time: cluster.build_time,
        read_time,
    })
}

/// A replay whose trace is read again, row by row, for every run ([`StreamedReplay::jobs`])
/// instead of held in memory: for traces already in submit order, such as `gen-trace`'s.
/// A run then holds only the jobs in flight. Its scenario has no jobs; everything else
/// (cluster, VCs, ingest notes, job count) is what [`prepare`] gives for the same trace,
/// and so are the runs.
#[derive(Debug, Clone)]
pub struct StreamedReplay {
    /// The scenario: the built cluster with its VCs, and no jobs.
    pub scenario: Scenario,
    /// Jobs each run replays.
    pub jobs: usize,
    /// Rows set aside or changed, by the reader, the ingest step and the shaping.
    pub ingest: IngestReport,
    /// How the VCs were sized from the trace, when they were.
    pub vc_sizing: Option<VcSizing>,
    /// Wall time to build the cluster.
    pub build_time: Duration,
    /// Wall time of the reading passes before the runs (sizing and counting).
    pub read_time: Duration,
    trace: PathBuf,
    read: ReadOptions,
    ingest_step: Ingest,
    shape: ClusterShape,
    /// Lines of the rows the first pass renamed (their id repeats an earlier row's).
    renamed_lines: Arc<[u64]>,
}

/// A run's jobs read from a trace file (see [`StreamedReplay::jobs`]).
pub type TraceJobs = StreamedJobs<Box<dyn Iterator<Item = Result<SimJob, TraceError>>>, TraceError>;

impl StreamedReplay {
    /// The trace's jobs for one run, shaped for the cluster, read as the run asks. After
    /// the run, [`StreamedJobs::error`] says whether the file could not be read to its
    /// end (e.g. it changed since [`prepare_streamed`] read it).
    pub fn jobs(&self) -> Result<TraceJobs, ReplayError> {
        let reader = open_trace(&self.trace, &self.read)?;
        let shape = self.shape.clone();
        // Notes were taken when the replay was prepared; this pass repeats them.
        let mut notes = IngestReport::default();
        let jobs = self
            .ingest_step
            .stream_renaming(reader, Arc::clone(&self.renamed_lines))
            .filter_map(move |row| match row {
                Ok(job) => sim_job(job, &shape, &mut notes).map(Ok),
                Err(e) => Some(Err(e)),
            });
        let vcs = self
            .scenario
            .config
            .virtual_clusters
            .keys()
            .cloned()
            .collect();
        Ok(StreamedJobs::new(Box::new(jobs), vcs))
    }
    /// Runs `model` over the trace, handing the output to `sink`; `progress` as in
    /// [`crate::sim::simulate_with_progress`]. Returns the run's header and the sink.
    /// Fails on an unknown model, or when the trace could not be read to its end this time.
    pub fn run<S: RunSink>(
        &self,
        model: &str,
        sink: S,
        progress: &dyn Fn(SimTimeMs, u64),
    ) -> Result<(RunResult, S), ReplayError> {
        let mut jobs = self.jobs()?;
        let ran = run_model_into(&self.scenario, &mut jobs, model, sink, progress)
            .map_err(ReplayError::Option)?;
        match jobs.into_error() {
            Some(e) => Err(e.into()),
            None => Ok(ran),
        }
    }
}

/// [`prepare`] for a trace in submit order, reading it as a stream: one pass to size the
/// VCs, one to count and note what the cluster cannot run, and one per run later. Returns
/// `None` when a row submits before the one before it: such a trace must be sorted in
/// memory ([`prepare`]).
pub fn prepare_streamed(options: &ReplayOptions) -> Result<Option<StreamedReplay>, ReplayError> {
    if !options.select.is_all() || options.load.is_some() {
        // Selected or re-timed jobs are read in memory ([`prepare`]).
        return Ok(None);
    }
    let cluster = build(options)?;
    let started = Instant::now();
    let mut stream = options
        .ingest()
        .stream(open_trace(&options.trace, &options.read)?);
    let mut demand: BTreeMap<String, u64> = BTreeMap::new();
    for job in stream.by_ref() {
        let job = job?;
        // Looked up first: a VC name is cloned once, not once per job.
        let weight = u64::from(job.gpus).saturating_mul(job.duration_ms);
        match demand.get_mut(&job.vc) {
            Some(total) => *total += weight,
            None => {
                demand.insert(job.vc.clone(), weight);
            }
        }
    }
    // Later passes rename the same rows without remembering every id again.
    let renamed_lines: Arc<[u64]> = stream.renamed_lines().into();
    let mut report = stream.into_report();
    if report.count(crate::workload::ingest::OUT_OF_ORDER) > 0 {
        return Ok(None);
    }
    let mut config = cluster.config;
    let vc_sizing = size_from_trace(options, cluster.format, &mut config, || demand)?;
    let shape = ClusterShape::of(&config);
    let mut jobs = 0;
    let reader = open_trace(&options.trace, &options.read)?;
    // Kept only when some model places on a shared cluster: FGD's typical pods.
    let keep_requests = wants_sharing(options);
    let mut requests = Vec::new();
    for job in options
        .ingest()
        .stream_renaming(reader, Arc::clone(&renamed_lines))
    {
        if let Some(job) = sim_job(job?, &shape, &mut report) {
            jobs += 1;
            if keep_requests {
                requests.extend(job.groups);
            }
        }
    }
    let sharing = if keep_requests {
        Some(share_options(options, cluster.node_resources, &requests)?)
    } else {
        None
    };
    drop(requests);
    let read_time = started.elapsed();
    let mut scenario = scenario(options, config, Vec::new(), &report);
    scenario.model_options.sharing = sharing.map(Arc::new);
    Ok(Some(StreamedReplay {
        scenario,
        jobs,
        ingest: report,
        vc_sizing,
        build_time: cluster.build_time,
        read_time,
        trace: options.trace.clone(),
        read: options.read.clone(),
        ingest_step: options.ingest(),
        shape,
        renamed_lines,
    }))
}

/// The cluster a replay runs on, before VCs from the trace.
struct BuiltCluster {
    config: crate::config::CellConfig,
    format: ClusterFormat,
    build_time: Duration,
    /// CPU and memory per node, when the cluster source gives them (openb node lists).
    node_resources: NodeResources,
}

/// CPU (milli) and memory (MiB) per node name; `None`: unlimited.
pub(crate) type NodeResources = BTreeMap<String, (Option<u64>, Option<u64>)>;

/// The nodes' CPU and memory from a cluster source that gives them: an openb node list
/// (read as `cellsim fill` reads it) or a PAI 2020 machine list (`cap_cpu` cores,
/// `cap_mem` GiB); empty for other sources (unlimited).
pub(crate) fn node_resources(
    options: &ReplayOptions,
    format: ClusterFormat,
) -> Result<NodeResources, ReplayError> {
    if format == ClusterFormat::PaiMachines {
        let machines = crate::config::builders::pai_machine_resources(Path::new(&options.cluster))
            .map_err(|e| cluster_error(options, e))?;
        return Ok(machines
            .into_iter()
            .map(|(name, cpu, memory)| (name, (Some(cpu), Some(memory))))
            .collect());
    }
    if format != ClusterFormat::OpenbNodes {
        return Ok(NodeResources::new());
    }
    let nodes = crate::fill::input::read_node_list(Path::new(&options.cluster))
        .map_err(|e| ReplayError::Option(format!("cluster {}: {e}", options.cluster)))?;
    Ok(nodes
        .into_iter()
        .map(|n| (n.name, (n.cpu_milli, n.memory_mib)))
        .collect())
}

/// Whether the replay places through a shared cluster for some model (a model names
/// its placement) or keeps pods' resources (openb `--fractional share`): then the
/// scenario carries [`ShareOptions`] (nodes' CPU and memory, FGD's typical pods).
pub(crate) fn wants_sharing(options: &ReplayOptions) -> bool {
    options.read.openb.fractional == crate::workload::Fractional::Share
        || options.models.iter().any(|m| m.split('+').nth(2).is_some())
}

/// The sharing options of a replay of `requests` (every layer places pods with GPU
/// shares: the pool layers on the shared cluster, `hived` and `isolated` on leaves their
/// VCs hold, `cell/leaf_share.rs`).
fn share_options<'a>(
    options: &ReplayOptions,
    node_resources: NodeResources,
    requests: impl IntoIterator<Item = &'a crate::cell::GroupRequest>,
) -> Result<ShareOptions, ReplayError> {
    Ok(ShareOptions::of_requests(
        requests,
        node_resources,
        options.seed,
    ))
}

/// Checks the models and builds the cluster (with the VCs of `--vcs`, if given).
fn build(options: &ReplayOptions) -> Result<BuiltCluster, ReplayError> {
    for model in &options.models {
        crate::sched::check_model_name(model).map_err(|e| {
            // On the command line, say what kind of name it is.
            ReplayError::Option(e.replacen("unknown model", "unknown scheduler model", 1))
        })?;
    }
    let started = Instant::now();
    let format = match options.cluster_format {
        Some(format) => format,
        None => crate::config::builders::detect_cluster_format(&options.cluster)
            .map_err(|e| cluster_error(options, e))?,
    };
    let build = BuildOptions {
        rack_nodes: options.rack_nodes,
    };
    let mut config = build_cluster(&options.cluster, Some(format), &build)
        .map_err(|e| cluster_error(options, e))?;
    if let Some(path) = &options.vcs_file {
        config = vcs_from_file(&config, path).map_err(|e| cluster_error(options, e))?;
    }
    let node_resources = if wants_sharing(options) {
        node_resources(options, format)?
    } else {
        NodeResources::new()
    };
    Ok(BuiltCluster {
        config,
        format,
        build_time: started.elapsed(),
        node_resources,
    })
}

fn cluster_error(options: &ReplayOptions, source: ClusterBuildError) -> ReplayError {
    ReplayError::Cluster {
        cluster: options.cluster.clone(),
        source,
    }
}

/// A config file brings its own VCs; a machine list or spec has only `default`, so the
/// trace's VCs get guarantees in proportion to their GPU-time (`demand`, asked for only
/// then).
fn size_from_trace(
    options: &ReplayOptions,
    format: ClusterFormat,
    config: &mut crate::config::CellConfig,
    demand: impl FnOnce() -> BTreeMap<String, u64>,
) -> Result<Option<VcSizing>, ReplayError> {
    if format == ClusterFormat::Hived || options.vcs_file.is_some() {
        return Ok(None);
    }
    size_vcs(config, &demand())
        .map(Some)
        .map_err(|e| cluster_error(options, e))
}

/// The replay's scenario over `config` with `jobs`.
fn scenario(
    options: &ReplayOptions,
    config: crate::config::CellConfig,
    jobs: Vec<SimJob>,
    report: &IngestReport,
) -> Scenario {
    let mut warnings = config.warnings.clone();
    warnings.extend(report.lines());
    Scenario {
        name: options.name.clone().unwrap_or_else(|| stem(&options.trace)),
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
    }
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
    ingest_text_of(
        &replay.scenario,
        replay.scenario.jobs.len(),
        &replay.ingest,
        replay.vc_sizing.as_ref(),
    )
}

impl StreamedReplay {
    /// [`ingest_text`] of a streamed replay.
    pub fn ingest_text(&self) -> String {
        ingest_text_of(
            &self.scenario,
            self.jobs,
            &self.ingest,
            self.vc_sizing.as_ref(),
        )
    }
}

fn ingest_text_of(
    scenario: &Scenario,
    jobs: usize,
    ingest: &IngestReport,
    vc_sizing: Option<&VcSizing>,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace {}: {} rows read as jobs, {} jobs to replay",
        scenario.source, ingest.jobs_read, jobs
    );
    // Sorted rows are not lost, and jobs of a VC without cells still run: each kind of
    // note says which of these it is, so no count reads as rows dropped when none were.
    let without_cells: Vec<String> = crate::sched::guaranteed_gpus(&scenario.config)
        .into_iter()
        .filter(|(_, gpus)| *gpus == 0)
        .map(|(vc, _)| vc)
        .collect();
    for (heading, kinds) in ingest_groups(ingest) {
        for (kind, tally) in kinds {
            // The rows of VCs without cells are said once, on the line that names the
            // VCs below, not a second time as a row count of their own.
            if kind == crate::sim::from_trace::issue::NO_GUARANTEE && !without_cells.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  {heading}: {kind}: {} row(s), e.g. {}",
                tally.count,
                tally.examples.join("; ")
            );
        }
    }
    if !without_cells.is_empty() {
        let rows = ingest
            .issues
            .get(crate::sim::from_trace::issue::NO_GUARANTEE)
            .map_or(0, |tally| tally.count);
        let _ = writeln!(
            out,
            "  runs opportunistically: VC(s) without guaranteed cells: {}; their {rows} job(s) \
             are kept and run at opportunistic priority (-1) on idle GPUs, preempted by \
             guaranteed jobs",
            without_cells.join(", ")
        );
    }
    for warning in &scenario.config.warnings {
        let _ = writeln!(out, "  cluster: {warning}");
    }
    if let Some(sizing) = vc_sizing {
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

/// Which of a trace's jobs a replay keeps (scenario keys `submitFrom`, `submitUntil`,
/// `onlyVcs`): those submitted in a window, of some VCs. Jobs left out are counted in
/// the ingest report; time 0 of the run is the window's start when it has one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobSelection {
    /// Keep jobs submitted at or after this time.
    pub submit_from: Option<TracePoint>,
    /// Keep jobs submitted before this time.
    pub submit_until: Option<TracePoint>,
    /// Keep only jobs of these VCs (all when empty).
    pub vcs: Vec<String>,
}

/// A point in a trace's time: a date (for traces with timestamps, such as Philly's) or a
/// duration from the trace's time 0 (for traces with relative times).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TracePoint {
    /// Milliseconds since 1970-01-01, read as the trace's timestamps are (local time).
    Date(SimTimeMs),
    /// Milliseconds from the trace's time 0.
    Offset(SimTimeMs),
}

impl TracePoint {
    /// Reads `2017-10-01`, `2017-10-01 00:00:00` (a date) or a duration such as `10d`.
    pub fn parse(text: &str) -> Result<TracePoint, String> {
        use chrono::{NaiveDate, NaiveDateTime};
        let text = text.trim();
        let date = NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M"))
            .ok()
            .or_else(|| {
                NaiveDate::parse_from_str(text, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
            });
        if let Some(date) = date {
            return crate::workload::source::epoch_ms(date)
                .map(TracePoint::Date)
                .ok_or_else(|| format!("{text:?} is before 1970; write a later date"));
        }
        crate::sim::scenario::parse_duration(text)
            .map(TracePoint::Offset)
            .map_err(|_| {
                format!(
                    "{text:?} is neither a date (2017-10-01 or 2017-10-01 08:30:00) nor a duration from the trace's start (10d, 36h)"
                )
            })
    }
}

impl JobSelection {
    /// Whether every job is kept.
    pub fn is_all(&self) -> bool {
        self.submit_from.is_none() && self.submit_until.is_none() && self.vcs.is_empty()
    }

    /// Keeps the selected `jobs` (in submit order, times as the trace wrote them:
    /// `absolute` when it has timestamps) and moves time 0 to the window's start, or to
    /// the first job kept for a trace with timestamps. Left-out jobs are counted in
    /// `report`. Fails when a bound does not suit the trace's times, when the window is
    /// empty, or when `onlyVcs` names a VC without jobs in the trace.
    pub fn apply(
        &self,
        jobs: &mut Vec<crate::workload::TraceJob>,
        absolute: bool,
        report: &mut IngestReport,
    ) -> Result<(), String> {
        let bound = |key: &str, point: Option<TracePoint>| -> Result<Option<SimTimeMs>, String> {
            match point {
                None => Ok(None),
                Some(TracePoint::Date(ms)) if absolute => Ok(Some(ms)),
                Some(TracePoint::Offset(ms)) if !absolute => Ok(Some(ms)),
                Some(TracePoint::Date(_)) => Err(format!(
                    "{key}: the trace has relative times, not dates; write a duration from its start such as 10d"
                )),
                Some(TracePoint::Offset(_)) => Err(format!(
                    "{key}: the trace has timestamps; write a date such as 2017-10-01 or 2017-10-01 08:30:00"
                )),
            }
        };
        let from = bound("submitFrom", self.submit_from)?;
        let until = bound("submitUntil", self.submit_until)?;
        if let (Some(f), Some(u)) = (from, until)
            && f >= u
        {
            return Err(
                "submitUntil: the window is empty; give a time after submitFrom".to_string(),
            );
        }
        for vc in &self.vcs {
            if !jobs.iter().any(|j| &j.vc == vc) {
                let mut known: Vec<&str> = jobs.iter().map(|j| j.vc.as_str()).collect();
                known.sort_unstable();
                known.dedup();
                return Err(format!(
                    "onlyVcs: VC {vc:?} has no jobs in the trace; the trace's VCs are: {}",
                    known.join(", ")
                ));
            }
        }
        jobs.retain(|job| {
            if !self.vcs.is_empty() && !self.vcs.contains(&job.vc) {
                report.note(NOT_SELECTED_VC, || format!("{} (VC {})", job.id, job.vc));
                return false;
            }
            let early = from.is_some_and(|f| job.submit_ms < f);
            let late = until.is_some_and(|u| job.submit_ms >= u);
            if early || late {
                report.note(OUTSIDE_WINDOW, || job.id.clone());
                return false;
            }
            true
        });
        let origin = match from {
            Some(f) => f,
            None if absolute => jobs.iter().map(|j| j.submit_ms).min().unwrap_or(0),
            None => 0,
        };
        for job in jobs.iter_mut() {
            job.submit_ms -= origin;
        }
        Ok(())
    }
}

/// Ingest report kind of a job of a VC `onlyVcs` leaves out.
pub const NOT_SELECTED_VC: &str = "job of a VC not in onlyVcs (left out)";
/// Ingest report kind of a job submitted outside `submitFrom`..`submitUntil`.
pub const OUTSIDE_WINDOW: &str = "submitted outside submitFrom..submitUntil (left out)";

/// The ingest notes grouped by what happened to the rows: "reordered" (read in submit
/// order, none lost), "set aside" (not replayed), "changed" (replayed, altered as said),
/// "runs opportunistically" (a VC without cells); each group's kinds in name order.
fn ingest_groups(
    ingest: &IngestReport,
) -> Vec<(
    &'static str,
    Vec<(&String, &crate::workload::trace::IssueTally)>,
)> {
    use crate::sim::from_trace::issue;
    use crate::workload::{ingest as kinds, openb, philly};
    let group = |kind: &str| match kind {
        kinds::OUT_OF_ORDER => 0,
        issue::NO_GUARANTEE => 3,
        openb::FRACTIONAL_KEPT | openb::CPU_ONLY_KEPT => 4,
        kinds::DUPLICATE_ID
        | kinds::LARGER_THAN_CLUSTER
        | openb::FRACTIONAL_ROUNDED_UP
        | openb::NEVER_SCHEDULED
        | philly::ATTEMPT_WITHOUT_TIMES => 2,
        _ => 1,
    };
    let headings = [
        "reordered",
        "set aside",
        "changed",
        "runs opportunistically",
        "kept",
    ];
    headings
        .iter()
        .enumerate()
        .map(|(i, heading)| {
            let kinds = ingest
                .issues
                .iter()
                .filter(|(kind, _)| group(kind) == i)
                .collect();
            (*heading, kinds)
        })
        .filter(|(_, kinds): &(_, Vec<_>)| !kinds.is_empty())
        .collect()
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
/// shiftSubmit: true                 # optional: numeric submit times start at 0 too
/// format: native                    # optional: native, philly-csv, philly-json, openb, mapped
/// mapping: "submit=…,duration=…"    # optional, for any CSV
/// fractional: whole                 # optional, openb: whole, skip or share
/// models: [hived, fifo]             # optional; default: all
/// seed: 1                           # optional
/// horizon: 30d                      # optional
/// submitFrom: "2017-10-01"          # optional: jobs submitted from then (a date, or a
/// submitUntil: "2017-12-01"         #   duration for relative times) and before then
/// onlyVcs: [vc1, vc2]               # optional: only jobs of these VCs
/// load: 2.0                         # optional: submit times divided by this factor
/// ```
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplayFile {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    shift_submit: bool,
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
    #[serde(default)]
    submit_from: Option<String>,
    #[serde(default)]
    submit_until: Option<String>,
    #[serde(default)]
    only_vcs: Vec<String>,
    #[serde(default)]
    load: Option<f64>,
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
    let file = path.display();
    let raw: ReplayFile =
        crate::config::yaml::from_str_at(text, &file.to_string()).map_err(ReplayError::Option)?;
    options_from_raw(raw, path)
}

/// The options written inline under `section:` of another file (a sweep's `replay:`),
/// already parsed as `inline`; `text` is that file's text and `path` its path. An error
/// names the line of the offending key in that file (issue 16: the block was written
/// out again and read, so lines were those of the copy).
pub fn options_from_inline(
    inline: &serde_yaml_ng::Value,
    section: &str,
    text: &str,
    path: &Path,
) -> Result<ReplayOptions, ReplayError> {
    let raw: ReplayFile = serde_path_to_error::deserialize(inline).map_err(|e| {
        let key_path = e.path().to_string();
        let key = key_path.rsplit('.').next().unwrap_or("").to_string();
        let mut message = e.into_inner().to_string();
        // "unknown field `horizn`" names the key inside the message, not in the path.
        let named = message
            .split('`')
            .nth(1)
            .filter(|_| message.starts_with("unknown field"))
            .map(str::to_string);
        let key = named.unwrap_or(key);
        let at = crate::config::yaml::line_of_key_under(text, section, &key)
            .map(|(line, column)| format!(":{line}:{column}"))
            .unwrap_or_default();
        if let Some(cut) = message.find(" at line ") {
            message.truncate(cut);
        }
        let dotted = if key_path == "." || key_path.is_empty() {
            format!("{section}.{key}")
        } else {
            format!("{section}.{key_path}")
        };
        ReplayError::Option(format!("{}{at}: {dotted}: {message}", path.display()))
    })?;
    options_from_raw(raw, path)
}

/// [`ReplayOptions`] of a parsed replay scenario read from (or written in) `path`.
fn options_from_raw(raw: ReplayFile, path: &Path) -> Result<ReplayOptions, ReplayError> {
    let file = path.display();
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
    let point = |key: &str, text: &Option<String>| {
        text.as_deref()
            .map(TracePoint::parse)
            .transpose()
            .map_err(|e| ReplayError::Option(format!("{file}: {key}: {e}")))
    };
    let select = JobSelection {
        submit_from: point("submitFrom", &raw.submit_from)?,
        submit_until: point("submitUntil", &raw.submit_until)?,
        vcs: raw.only_vcs,
    };
    if let Some(load) = raw.load
        && !(load.is_finite() && load > 0.0)
    {
        return Err(ReplayError::Option(format!(
            "{file}: load: {load} is not a load factor; write a positive number (1.0 = the trace as is, 2.0 = arrivals twice as fast)"
        )));
    }
    let mut options = ReplayOptions {
        select,
        load: raw.load,
        cluster,
        rack_nodes: raw.rack_nodes,
        vcs_file: raw.vcs.map(|v| base.join(v)),
        trace: base.join(raw.trace),
        models: raw.models,
        seed: raw.seed,
        name: raw.name,
        shift_submit: raw.shift_submit,
        ..ReplayOptions::default()
    };
    let text = TextOptions {
        cluster_format: raw.cluster_format.as_deref(),
        format: raw.format.as_deref(),
        mapping: raw.mapping.as_deref(),
        fractional: raw.fractional.as_deref(),
        horizon: raw.horizon.as_deref(),
    };
    options
        .set_text_options(&text, |key| format!("{file}: {key}"))
        .map_err(ReplayError::Option)?;
    Ok(options)
}

/// Replay options written as text, the same in a replay scenario's keys and on the
/// command line: [`ReplayOptions::set_text_options`] parses them.
#[derive(Debug, Clone, Copy, Default)]
pub struct TextOptions<'a> {
    /// `clusterFormat` / `--cluster-format`: a [`ClusterFormat`] name.
    pub cluster_format: Option<&'a str>,
    /// `format` / `--format`: a trace format name.
    pub format: Option<&'a str>,
    /// `mapping` / `--mapping`: a column mapping.
    pub mapping: Option<&'a str>,
    /// `fractional` / `--fractional`: `whole`, `skip` or `share`.
    pub fractional: Option<&'a str>,
    /// `horizon` / `--horizon`: a duration such as `30d`.
    pub horizon: Option<&'a str>,
}

impl ReplayOptions {
    /// Sets the options given in `text`, leaving the others as they are. An error names
    /// the option as `label` does with its scenario key (`clusterFormat`, `format`,
    /// `mapping`, `fractional`, `horizon`) and says what to write instead.
    pub fn set_text_options(
        &mut self,
        text: &TextOptions<'_>,
        label: impl Fn(&str) -> String,
    ) -> Result<(), String> {
        use crate::workload::{ColumnMapping, Fractional, TraceFormat};
        let bad = |key: &str, message: String| format!("{}: {message}", label(key));
        if let Some(name) = text.cluster_format {
            let format =
                ClusterFormat::from_name(name).map_err(|e| bad("clusterFormat", e.to_string()))?;
            self.cluster_format = Some(format);
        }
        if let Some(name) = text.format {
            let format = TraceFormat::from_name(name).map_err(|e| bad("format", e.to_string()))?;
            self.read.format = Some(format);
        }
        if let Some(mapping) = text.mapping {
            let mapping = mapping
                .parse::<ColumnMapping>()
                .map_err(|e| bad("mapping", e.to_string()))?;
            self.read.mapping = Some(mapping);
        }
        if let Some(how) = text.fractional {
            self.read.openb.fractional = match how {
                "whole" => Fractional::WholeGpu,
                "skip" => Fractional::Skip,
                "share" => Fractional::Share,
                other => {
                    return Err(bad(
                        "fractional",
                        format!("{other:?} is not a choice; write whole, skip or share"),
                    ));
                }
            };
        }
        if let Some(horizon) = text.horizon {
            let horizon_ms =
                crate::sim::scenario::parse_duration(horizon).map_err(|e| bad("horizon", e))?;
            self.horizon_ms = Some(horizon_ms);
        }
        Ok(())
    }
}
