//! Command-line definitions (clap derive): the raw form of what the user asked for, and
//! its built form, the settings of the run pipeline (`…Args::built`, [`crate::run`]).
//! No I/O happens here, except that a run's manifest fingerprints its input file;
//! `main.rs` dispatches each [`Command`] to the library. New subcommands are new variants
//! of [`Command`] with their own `…Args` struct.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// cellsim: a discrete-event GPU-cluster simulator with HiveD cell allocation.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "cellsim",
    version,
    about,
    propagate_version = true,
    after_help = crate::run::exit::TABLE
)]
pub struct Cli {
    /// What to do; without a subcommand, the main job: the five labs and the
    /// sharing-anomaly demo.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Check a cluster config and print a summary of its chains, nodes and VCs.
    ///
    /// Reads a HiveD config, an OpenPAI services-configuration.yaml (HiveD config under
    /// hivedscheduler.config) or an OpenPAI layout.yaml; the format is recognised from
    /// content. Exits 1 and lists every problem on stderr when the config is invalid.
    #[command(after_help = crate::run::exit::TABLE)]
    Validate(ValidateArgs),
    /// Simulate a scenario with each of its scheduler models and write the reports.
    ///
    /// Writes, per model, DIR/MODEL/jobs.csv, vcs.csv, timeline.csv, events.log,
    /// summary.json, gantt.svg, utilisation.svg, wait_cdf.svg and (hived, yarn-cs)
    /// sharing.csv, and DIR/report.html with all models side by side; then prints a
    /// per-model summary table and the sharing-anomaly table. Without SCENARIO, runs the
    /// bundled default scenario (scenarios/default.yaml). Exits 1 when the scenario is
    /// invalid, 3 when a report cannot be written.
    #[command(after_help = crate::run::exit::TABLE)]
    Run(RunArgs),
    /// Run one of the course's scheduling labs (or all five) and answer its questions.
    ///
    /// Simulates the lab on its lab cluster (scenarios/labs/, compiled in), prints per lab
    /// its title, a timeline (one line per job: submit, start, end, node and GPU,
    /// preemptions) and the answers to the lab's questions read off the simulated events,
    /// and writes the reports into DIR/LAB/ (report.html, answers.txt, and per model the
    /// files of `cellsim run`). Exits 3 when a report cannot be written.
    #[command(after_help = crate::run::exit::TABLE)]
    Lab(LabArgs),
    /// Run live: a Kubernetes scheduler extender that is a drop-in for HiveD.
    ///
    /// Serves kube-scheduler's extender verbs (POST /v1/extender/{filter,bind,preempt}),
    /// HiveD's inspect API (/v1/inspect/...), /metrics and /healthz. With Kubernetes
    /// (default), binds create the pod's Binding with HiveD's annotations, nodes and pods
    /// are watched, and state is rebuilt from bound pods on start. With --standalone, binds
    /// are acknowledged locally, every change is journaled (fsync'd) to --journal, and
    /// DELETE /v1/pods/NS/NAME, PUT /v1/nodes/NAME and GET /v1/nodes report what
    /// Kubernetes would. Exits 1 on a missing or invalid config or journal, 3 on an I/O
    /// failure. Needs the `live` cargo feature (on by default).
    #[cfg(feature = "live")]
    #[command(after_help = crate::run::exit::TABLE)]
    Serve(ServeArgs),
    /// Drive a running standalone `cellsim serve` with pods, to measure or check it.
    ///
    /// CLIENTS threads play kube-scheduler and pods on the config's cluster: filter each
    /// pod (with every node name), bind it to the answered node, delete held groups,
    /// keeping the GPUs held inside the occupancy band. Prints pairs per second and
    /// filter / bind / delete latency (p50, p99, max). With --ledger FILE, what the server
    /// acknowledged is added to FILE; with --check, the server is checked against FILE
    /// instead (every held group on its nodes and devices, every deleted group gone;
    /// groups left in doubt by a crash are then deleted) and the exit code is 4 when it
    /// differs. Exits 3 when the server cannot be reached or a file written. Needs the
    /// `live` cargo feature (on by default).
    #[cfg(feature = "live")]
    #[command(after_help = crate::run::exit::TABLE)]
    Load(LoadArgs),
    /// Replay a job trace on a cluster under each scheduler model and write the reports.
    ///
    /// --cluster takes a HiveD config, an OpenPAI layout or services-configuration, a
    /// Philly machine list, an openb node list, a PAI machine spec, or a synthetic spec
    /// such as "32x V100x8 rack=16; 64x K80x4 rack=8"; its format is recognised from
    /// content (or named with --cluster-format). --trace takes a native cellsim CSV, a
    /// Philly CSV or cluster_job_log JSON, an openb pod list, or any CSV with --mapping;
    /// its format is recognised from content (or named with --format). When the cluster
    /// has no VCs (machine lists, specs), the trace's VCs are guaranteed cells in
    /// proportion to their GPU-time. Rows set aside (unreadable, duplicate, larger than
    /// the cluster, ...) are counted with examples on stderr and in DIR/ingest.txt. Writes
    /// the report set of `cellsim run`, as each run goes: a trace already in submit order
    /// (e.g. gen-trace's) is read as a stream, so memory stays small whatever its length;
    /// other traces are sorted in memory first. Exits 1 on a bad cluster, trace or option,
    /// 3 when a report cannot be written.
    #[command(after_help = crate::run::exit::TABLE)]
    Replay(ReplayArgs),
    /// Generate a synthetic trace (native cellsim CSV), fitted to Philly by default.
    ///
    /// Seeded Poisson arrivals with a daily cycle, GPU counts, run times and VC mix; the
    /// defaults are fitted to the Philly trace. A spec file (YAML; every key with its
    /// default in the "gen-trace spec" section of traces/README.md, all of them used in
    /// traces/gen-spec-example.yaml) overrides any default; --jobs, --seed,
    /// --load and --cluster-gpus override the spec. Jobs are written as they are drawn, so
    /// traces of millions of jobs take constant memory. Exits 1 on a bad spec, 3 when the
    /// output cannot be written.
    #[command(after_help = crate::run::exit::TABLE)]
    GenTrace(GenTraceArgs),
    /// Compare a candidate run with a baseline and fail on regressions (the CI gate).
    ///
    /// BASELINE and CANDIDATE are each a summary.json, a model's folder, or the --out
    /// folder of `cellsim run` (every MODEL/summary.json inside, matched by model name).
    /// Prints per model, overall and per VC, each metric (wait_mean, wait_p50, wait_p95,
    /// wait_p99, jct_mean, utilisation, preemptions, finished) with its baseline,
    /// candidate, delta and verdict (ok, REGRESSED, improved). A metric regresses when it
    /// gets worse by more than max(relative x baseline, absolute): by default 5%, with an
    /// absolute slack of 1s for waits and JCT and 1 for preemptions. Before reading, the
    /// folders' manifest.json files are checked: a folder holding model folders its run did
    /// not write, or two runs of different inputs, seeds or clusters, are refused. Exits 0
    /// when nothing regressed, 4 when something did, 1 on bad input (unreadable or invalid
    /// file, another schemaVersion, models or VCs that differ, runs that are not
    /// comparable, a bad --tolerance).
    #[command(after_help = crate::run::exit::TABLE)]
    Compare(CompareArgs),
    /// Run a parameter sweep: a base scenario over the product of its axes, in parallel.
    ///
    /// SWEEP is a YAML file (see scenarios/planning/): a base (`replay:` a trace on a
    /// cluster, or `scenario:` a `cellsim run` scenario) and axes: nodes of a SKU added or
    /// removed, one VC's share of the GPUs, load factors, models, seeds (with `jitter`).
    /// Each finished run is appended to DIR/runs.jsonl at once; a sweep cut short keeps
    /// them and --resume runs only the missing points. When every point is in DIR, writes
    /// points.csv and points.json (per point and VC: waits, JCT, utilisation,
    /// preemptions) and p95-wait.svg. --shard I/N runs every N-th point only, for batch
    /// engines; `cellsim merge` joins the shard folders. Exits 1 on a bad sweep file or
    /// folder, 3 when results cannot be written.
    #[command(after_help = crate::run::exit::TABLE)]
    Sweep(SweepArgs),
    /// Answer "how many nodes to add so that every VC's p95 wait meets a target".
    ///
    /// Reads a sweep file's base and `plan:` section (sku, model, targetP95, maxNodes,
    /// step, vcs); the flags override it. Searches the number of nodes of the SKU to add
    /// (doubling, then bisecting), every seed of the sweep at each count; when the counts
    /// it evaluated show that more nodes made a p95 worse, says so and scans every step
    /// from 0 instead. Prints the answer with every count evaluated and writes
    /// DIR/plan.json. Exits 1 on bad input, 3 when plan.json cannot be written.
    #[command(after_help = crate::run::exit::TABLE)]
    Plan(PlanArgs),
    /// List the scheduler models: the short names, the layers and the policies, one line
    /// each. A model is LAYER+POLICY (e.g. hived+tiresias, yarn-cs+srtf, isolated+sjf).
    #[command(after_help = crate::run::exit::TABLE)]
    Models,
    /// Join the folders of a sharded sweep (`cellsim sweep --shard I/N`) into one.
    ///
    /// The folders must hold the same sweep and together every point; the output is
    /// what one unsharded `cellsim sweep` writes, byte for byte. Exits 1 when shards are
    /// missing or belong to different sweeps, 3 when the output cannot be written.
    #[command(after_help = crate::run::exit::TABLE)]
    Merge(MergeArgs),
    /// The FGD paper's fragmentation experiment on GPU-sharing pods (openb).
    ///
    /// Per placement and seed: the pod list, shuffled, is inflated with pods drawn with
    /// replacement until its GPU demand reaches --inflate x the cluster's GPU capacity,
    /// then placed pod by pod without ever releasing one (a pod that fits nowhere stays
    /// unplaced); pods share GPUs by milli-GPUs and must fit CPU, memory and gpu_spec.
    /// Writes DIR/curve.csv (allocated and fragmented GPU % per arrived %), table.csv
    /// (mean and sd over seeds at 100% and at the end), unallocated.svg and index.html,
    /// and prints the table. Exits 1 on a bad file or option, 3 when DIR cannot be
    /// written.
    Fill(FillArgs),
}

/// Options of `cellsim sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// The sweep file (YAML).
    #[arg(value_name = "SWEEP")]
    pub sweep: PathBuf,
    /// Output folder (default: out/NAME-sweep, or out/NAME-sweep-shard-I-of-N with
    /// --shard; out/NAME when NAME ends in -sweep).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// Continue a sweep whose folder already holds some results.
    #[arg(long)]
    pub resume: bool,
    /// Run only the I-th of N slices (every N-th point), e.g. 2/4.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Replace another run's results in the output folder: remove what that run wrote
    /// (its model folders and files, as its manifest.json lists them) and say so; a
    /// sweep's folder (another sweep's, or this one's without --resume) starts over.
    /// Without it, a folder holding another run's results (or files no manifest accounts
    /// for) is refused.
    #[arg(long)]
    pub replace: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `cellsim plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// The sweep file with the base (and a `plan:` section unless the flags say all).
    #[arg(value_name = "SWEEP")]
    pub sweep: PathBuf,
    /// Output folder for plan.json (default: out/NAME-plan).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// SKU of the nodes to add (overrides plan.sku).
    #[arg(long, value_name = "SKU")]
    pub sku: Option<String>,
    /// GPUs per added node (overrides plan.gpus; needed for a SKU the cluster lacks).
    #[arg(long, value_name = "N")]
    pub gpus: Option<u32>,
    /// The model the answer is for (overrides plan.model).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// The p95 wait every VC must meet, e.g. 30m (overrides plan.targetP95).
    #[arg(long, value_name = "DURATION")]
    pub target_p95: Option<String>,
    /// Most nodes to try (overrides plan.maxNodes; default 256).
    #[arg(long, value_name = "N")]
    pub max_nodes: Option<u32>,
    /// Nodes are added in multiples of this (overrides plan.step; default 1).
    #[arg(long, value_name = "N")]
    pub step: Option<u32>,
    /// Replace another run's results in the output folder: remove what that run wrote
    /// (its model folders and files, as its manifest.json lists them) and say so. Without
    /// it, a folder holding another run's results (or files no manifest accounts for) is
    /// refused; the same run may always write again.
    #[arg(long)]
    pub replace: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `cellsim fill`.
#[derive(Debug, Clone, Args)]
pub struct FillArgs {
    /// The openb node list (sn,cpu_milli,memory_mib,gpu,model).
    #[arg(long, value_name = "NODE_LIST")]
    pub cluster: PathBuf,
    /// The openb pod list (name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec]).
    #[arg(long, value_name = "POD_LIST")]
    pub trace: PathBuf,
    /// Placements, comma-separated: fgd, bestfit, gpu-packing, gpu-clustering, dotprod,
    /// random, topology, most-allocated, least-allocated (default: the paper's six).
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    pub placement: Vec<String>,
    /// GPU demand to reach, as a multiple of the cluster's GPU capacity.
    #[arg(long, value_name = "X", default_value_t = 1.3)]
    pub inflate: f64,
    /// Seeds: a range and/or a list, e.g. 42-51 or 1,2,7.
    #[arg(long, value_name = "SEEDS", default_value = "42-51")]
    pub seeds: String,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "out/fill")]
    pub out: PathBuf,
    /// Replace another run's results in DIR (what its manifest.json lists) instead of
    /// refusing to mix with them.
    #[arg(long)]
    pub replace: bool,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Options of `cellsim merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The merged sweep's folder.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// The shard folders.
    #[arg(value_name = "SHARD_DIR", required = true)]
    pub shards: Vec<PathBuf>,
}

/// Options of `cellsim compare`.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The reference: a summary.json, a model's folder or a `cellsim run` --out folder.
    #[arg(value_name = "BASELINE")]
    pub baseline: PathBuf,
    /// The run to check, in the same form.
    #[arg(value_name = "CANDIDATE")]
    pub candidate: PathBuf,
    /// Tolerances, comma-separated or repeated, applied left to right: METRIC=N% sets the
    /// relative part; METRIC=VALUE the absolute part in the metric's unit (a duration
    /// such as 30s for waits and jct_mean, a count for preemptions and finished, a
    /// fraction such as 0.02 for utilisation); all=N% sets every metric's relative part.
    /// E.g. --tolerance all=10%,wait_p95=30s.
    #[arg(long = "tolerance", value_name = "METRIC=VALUE", value_delimiter = ',')]
    pub tolerances: Vec<String>,
}

/// Options of `cellsim replay`.
#[derive(Debug, Clone, Default, Args)]
pub struct ReplayArgs {
    /// A replay scenario (YAML: cluster, trace, models, ...; see scenarios/replay/); the
    /// other options override what it says.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// The cluster: a file path or a synthetic spec string (required without --scenario).
    #[arg(long, value_name = "PATH_OR_SPEC")]
    pub cluster: Option<String>,
    /// The cluster's format: hived, philly, openb, pai or spec (default: from content).
    #[arg(long, value_name = "FORMAT")]
    pub cluster_format: Option<String>,
    /// Nodes per rack (top-level cell) of a built cluster (default 8).
    #[arg(long, value_name = "N")]
    pub rack_nodes: Option<u32>,
    /// VCs from this YAML file (a HiveD `virtualClusters` section) instead of the trace.
    #[arg(long, value_name = "FILE")]
    pub vcs: Option<PathBuf>,
    /// Kueue objects (`kubectl get resourceflavors,clusterqueues,cohorts,localqueues,
    /// workloadpriorityclasses -A -o yaml`): replay under the `kueue` layer, with
    /// --cluster a `kubectl get nodes -o yaml` dump (or a spec string) and --trace a
    /// `kubectl get workloads -A -o yaml` dump or a CSV trace with a `queue` column;
    /// ClusterQueues are the VCs (default model kueue+priority).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["scenario", "vcs", "format", "mapping", "sharing"])]
    pub kueue: Option<PathBuf>,
    /// The trace file (required without --scenario).
    #[arg(long, value_name = "PATH")]
    pub trace: Option<PathBuf>,
    /// The trace's format: native, philly-csv, philly-json, openb or mapped (default: from
    /// content).
    #[arg(long, value_name = "FMT")]
    pub format: Option<String>,
    /// Column mapping for any CSV, e.g.
    /// "submit=timestamp:datetime(%Y-%m-%d %H:%M:%S),duration=duration:s,gpus=num_gpus,vc=cluster"
    /// (syntax in traces/README.md).
    #[arg(long, value_name = "MAP")]
    pub mapping: Option<String>,
    /// openb pods using a fraction of a GPU: read as one whole GPU (`whole`, the default),
    /// skipped (`skip`), or kept as a share with every pod's CPU and memory (`share`, for
    /// the layers shared, yarn-cs and kueue); counted either way.
    #[arg(long, value_name = "HOW", value_parser = ["whole", "skip", "share"])]
    pub fractional: Option<String>,
    /// Models to run, comma-separated or repeated (default: hived,yarn-cs,fifo).
    #[arg(long = "model", value_name = "MODEL", value_delimiter = ',', long_help = model_help())]
    pub models: Vec<String>,
    /// Output folder; each model writes into DIR/MODEL/. Default: out/NAME-replay (out/NAME
    /// when NAME starts with replay-).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace another run's results in the output folder: remove what that run wrote
    /// (its model folders and files, as its manifest.json lists them) and say so. Without
    /// it, a folder holding another run's results (or files no manifest accounts for) is
    /// refused; the same run may always write again.
    #[arg(long)]
    pub replace: bool,
    /// Seed of each run's RNG (default 0).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Stop simulating at this time (e.g. 30d, 12h; default: when every job is done).
    #[arg(long, value_name = "DURATION")]
    pub horizon: Option<String>,
    /// Move numeric submit times so that the first submit is at 0 (calendar datetimes
    /// always are); without it numbers are kept as written and a trace whose first job
    /// comes on day 22 starts its reports there.
    #[arg(long)]
    pub shift_submit: bool,
    /// Run the sharing-anomaly check too (each VC's jobs again on a private cluster of its
    /// guarantee, for hived and yarn-cs): one extra run per VC and model, and each run is
    /// kept whole in memory.
    #[arg(long)]
    pub sharing: bool,
    /// Write only summary.json and vcs.csv per model (no jobs.csv, events.log, timeline or
    /// plots): faster, for capacity planning on long traces.
    #[arg(long, conflicts_with = "sharing")]
    pub summary_only: bool,
    /// Models run at the same time, each on its own thread (default: one per core). Each
    /// run at once holds its own jobs in flight, so memory grows with N; the reports are
    /// the same for any N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `cellsim gen-trace`.
#[derive(Debug, Clone, Default, Args)]
pub struct GenTraceArgs {
    /// The generator spec (YAML); the Philly-fitted defaults when absent.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Number of jobs.
    #[arg(long, value_name = "N")]
    pub jobs: Option<u64>,
    /// Seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Target offered load (0..): GPU time asked per GPU time of the cluster; needs
    /// --cluster-gpus.
    #[arg(long, value_name = "LOAD", requires = "cluster_gpus")]
    pub load: Option<f64>,
    /// GPUs of the cluster the load is meant for.
    #[arg(long, value_name = "GPUS")]
    pub cluster_gpus: Option<u64>,
    /// Output file (native CSV); `-` for stdout.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
}

/// Options of `cellsim serve`.
#[cfg(feature = "live")]
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// The cluster config (HiveD config, services-configuration.yaml or layout.yaml).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Listen address, HOST:PORT (`:PORT` means all interfaces). Default: the config's
    /// webServerAddress, else 0.0.0.0:9096 (as HiveD).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Kubeconfig file; default: in-cluster config, then $KUBECONFIG or ~/.kube/config.
    #[arg(long, value_name = "PATH", conflicts_with = "standalone")]
    pub kubeconfig: Option<PathBuf>,
    /// Run without Kubernetes; requires --journal.
    #[arg(long, requires = "journal")]
    pub standalone: bool,
    /// The standalone journal file (created when absent).
    #[arg(long, value_name = "PATH", requires = "standalone")]
    pub journal: Option<PathBuf>,
    /// Reload the config when the file changes, keeping running groups.
    #[arg(long)]
    pub watch_config: bool,
    /// Compact the journal (rewrite it as one snapshot) after this many lines.
    #[arg(long, value_name = "LINES", default_value_t = crate::live::state::COMPACT_AFTER as u64,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub journal_compact_lines: u64,
    /// Close a connection whose request headers have not all arrived after this many
    /// milliseconds (idle keep-alive connections included).
    #[arg(long, value_name = "MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub header_timeout_ms: u64,
    /// Answer 408 to a request whose body has not all arrived after this many milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub body_timeout_ms: u64,
    /// Serve at most this many connections at once; more wait to be accepted.
    #[arg(long, value_name = "N", default_value_t = 1024,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_connections: u64,
}

#[cfg(feature = "live")]
impl ServeArgs {
    /// The built options of the server.
    pub fn options(&self) -> crate::live::ServeOptions {
        let mode = match (&self.journal, self.standalone) {
            (Some(journal), true) => crate::live::ServeMode::Standalone {
                journal: journal.clone(),
            },
            _ => crate::live::ServeMode::Kubernetes {
                kubeconfig: self.kubeconfig.clone(),
            },
        };
        crate::live::ServeOptions {
            config: self.config.clone(),
            listen: self.listen.clone(),
            mode,
            watch_config: self.watch_config,
            limits: crate::live::server::Limits {
                journal_compact_lines: usize::try_from(self.journal_compact_lines)
                    .unwrap_or(usize::MAX),
                header_timeout: std::time::Duration::from_millis(self.header_timeout_ms),
                body_timeout: std::time::Duration::from_millis(self.body_timeout_ms),
                max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            },
        }
    }
}

/// Options of `cellsim load`.
#[cfg(feature = "live")]
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// The cluster config the server runs (for the VCs, GPUs and node names).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// The server's base URL.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9096")]
    pub url: String,
    /// Concurrent clients.
    #[arg(long, value_name = "N", default_value_t = 16,
          value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub clients: u64,
    /// Seconds to run.
    #[arg(long, value_name = "S", default_value_t = 25.0)]
    pub seconds: f64,
    /// Seed of the clients' choices.
    #[arg(long, default_value_t = 19)]
    pub seed: u64,
    /// Lower end of the occupancy band (fraction of the cluster's GPUs).
    #[arg(long, default_value_t = 0.7)]
    pub low: f64,
    /// Upper end of the occupancy band.
    #[arg(long, default_value_t = 0.9)]
    pub high: f64,
    /// Ledger of acknowledged binds and deletes (JSON; read when it exists, written after).
    #[arg(long, value_name = "FILE")]
    pub ledger: Option<PathBuf>,
    /// Check the server against --ledger instead of running load.
    #[arg(long, requires = "ledger")]
    pub check: bool,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `cellsim lab`.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// The lab: vc-safety (1), priority (2), opportunistic (3), gang (4), incremental (5),
    /// or all of them.
    #[arg(
        value_name = "LAB",
        value_parser = clap::builder::PossibleValuesParser::new(
            crate::labs::LAB_NAMES.into_iter().chain(["all"])
        ),
    )]
    pub lab: String,
    /// Output folder; each lab writes into DIR/LAB/. Default: out/labs.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace another run's results in the output folder: remove what that run wrote
    /// (its model folders and files, as its manifest.json lists them) and say so. Without
    /// it, a folder holding another run's results (or files no manifest accounts for) is
    /// refused; the same run may always write again.
    #[arg(long)]
    pub replace: bool,
}

/// Options of `cellsim run`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// The scenario file (YAML); the bundled default scenario when absent.
    #[arg(value_name = "SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Output folder; each model writes into DIR/MODEL/. Default: out/SCENARIO-NAME.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Models to run, comma-separated or repeated; default: the scenario's `models`.
    #[arg(
        long = "model",
        value_name = "M",
        value_parser = model_name,
        value_delimiter = ',',
        long_help = model_help(),
    )]
    pub models: Vec<String>,
    /// Replace another run's results in the output folder: remove what that run wrote
    /// (its model folders and files, as its manifest.json lists them) and say so. Without
    /// it, a folder holding another run's results (or files no manifest accounts for) is
    /// refused; the same run may always write again.
    #[arg(long)]
    pub replace: bool,
    /// Skip the sharing-anomaly check (each VC's jobs re-run alone on a private cluster of
    /// its guaranteed cells, for hived and yarn-cs); it costs one extra run per VC.
    #[arg(long)]
    pub no_sharing: bool,
    /// Models run at the same time, each on its own thread (default: one per core). Each
    /// run at once is held in memory; the reports are the same for any N.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: Option<u16>,
    /// No progress bar (it only appears on a terminal, for runs longer than a second).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--model`'s long help: what each model does and does not model.
fn model_help() -> String {
    let mut text = String::from(
        "Models to run, comma-separated or repeated (--model a,b or --model a --model b); \
         default: the scenario's `models`. A model is LAYER+POLICY (e.g. hived+tiresias) or a short name; `cellsim models` lists them.\n",
    );
    for (kind, name, _, description) in crate::sched::model_descriptions() {
        text.push_str(&format!("\n{kind} {name}: {description}\n"));
    }
    text
}

/// Parses a model name (`LAYER+POLICY` or a short name).
pub fn model_name(name: &str) -> Result<String, String> {
    crate::sched::check_model_name(name).map(|()| name.to_string())
}

/// Options of `cellsim validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The cluster config file to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

impl RunArgs {
    /// The pipeline's settings for running `scenario` (loaded from [`RunArgs::scenario`]).
    pub fn built(&self, scenario: &crate::sim::Scenario) -> crate::run::ScenarioRun {
        use crate::run::output::Manifest;
        let manifest = match &self.scenario {
            Some(path) => Manifest::new("run", &path.display().to_string()).with_input_file(path),
            None => Manifest::new("run", "scenarios/default.yaml (built in)"),
        }
        .with_seed(scenario.seed)
        .with_files(&["report.html"]);
        crate::run::ScenarioRun {
            out: self
                .out
                .clone()
                .unwrap_or_else(|| crate::run::default_out("run", &scenario.name)),
            models: self.models.clone(),
            sharing: !self.no_sharing,
            jobs: self.jobs,
            progress: crate::run::Progress::new(self.quiet),
            manifest: if self.no_sharing {
                manifest.with_option("--no-sharing")
            } else {
                manifest
            },
            replace: self.replace,
        }
    }
}

impl LabArgs {
    /// The pipeline's settings.
    pub fn built(&self) -> crate::run::LabRun {
        crate::run::LabRun {
            lab: self.lab.clone(),
            out: self
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("out").join("labs")),
            replace: self.replace,
        }
    }
}

impl SweepArgs {
    /// The pipeline's settings.
    pub fn built(&self) -> crate::run::SweepRun {
        crate::run::SweepRun {
            sweep: self.sweep.clone(),
            out: self.out.clone(),
            jobs: self.jobs,
            resume: self.resume,
            shard: self.shard.clone(),
            quiet: self.quiet,
            replace: self.replace,
        }
    }
}

impl PlanArgs {
    /// The pipeline's settings.
    pub fn built(&self) -> crate::run::PlanRun {
        crate::run::PlanRun {
            sweep: self.sweep.clone(),
            out: self.out.clone(),
            jobs: self.jobs,
            overrides: crate::sweep::PlanOverrides {
                sku: self.sku.clone(),
                gpus: self.gpus,
                model: self.model.clone(),
                target_p95: self.target_p95.clone(),
                max_nodes: self.max_nodes,
                step: self.step,
            },
            quiet: self.quiet,
            replace: self.replace,
        }
    }
}

impl ReplayArgs {
    /// The pipeline's settings (what to replay is [`ReplayArgs::options`]).
    pub fn built(&self) -> crate::run::ReplayRun {
        crate::run::ReplayRun {
            out: self.out.clone(),
            sharing: self.sharing,
            summary_only: self.summary_only,
            jobs: self.jobs,
            quiet: self.quiet,
            replace: self.replace,
        }
    }

    /// The Kueue replay's options when `--kueue` is given (`None` otherwise).
    ///
    /// Errors: `--kueue` without both --cluster and --trace, or a bad --horizon.
    pub fn kueue_options(&self) -> Result<Option<crate::kueue::KueueReplayOptions>, String> {
        let Some(kueue) = &self.kueue else {
            return Ok(None);
        };
        let (Some(cluster), Some(trace)) = (&self.cluster, &self.trace) else {
            return Err(
                "replay --kueue needs --cluster (kubectl get nodes -o yaml, or a spec) \
                 and --trace (kubectl get workloads -A -o yaml)"
                    .to_string(),
            );
        };
        let horizon_ms = self
            .horizon
            .as_deref()
            .map(crate::sim::scenario::parse_duration)
            .transpose()
            .map_err(|e| format!("--horizon: {e}"))?;
        Ok(Some(crate::kueue::KueueReplayOptions {
            cluster: cluster.clone(),
            rack_nodes: self.rack_nodes,
            kueue: kueue.clone(),
            trace: trace.clone(),
            models: self.models.clone(),
            seed: self.seed.unwrap_or(0),
            horizon_ms,
            name: None,
        }))
    }

    /// The library's replay options: the scenario file's, if any, overridden by the flags.
    ///
    /// Errors: a bad scenario file or option value, or neither a scenario nor both
    /// --cluster and --trace (the message says which).
    pub fn options(&self) -> Result<crate::replay::ReplayOptions, String> {
        let mut options = match &self.scenario {
            Some(path) => crate::replay::options_from_file(path).map_err(|e| e.to_string())?,
            None => match (&self.cluster, &self.trace) {
                (Some(_), Some(_)) => crate::replay::ReplayOptions::default(),
                _ => {
                    return Err(
                        "replay needs --cluster PATH_OR_SPEC and --trace PATH, or --scenario FILE"
                            .to_string(),
                    );
                }
            },
        };
        if let Some(cluster) = &self.cluster {
            options.cluster = cluster.clone();
        }
        if let Some(trace) = &self.trace {
            options.trace = trace.clone();
        }
        let text = crate::replay::TextOptions {
            cluster_format: self.cluster_format.as_deref(),
            format: self.format.as_deref(),
            mapping: self.mapping.as_deref(),
            fractional: self.fractional.as_deref(),
            horizon: self.horizon.as_deref(),
        };
        options.set_text_options(&text, |key| match key {
            "clusterFormat" => "--cluster-format".to_string(),
            flag => format!("--{flag}"),
        })?;
        options.shift_submit |= self.shift_submit;
        if self.rack_nodes.is_some() {
            options.rack_nodes = self.rack_nodes;
        }
        if self.vcs.is_some() {
            options.vcs_file = self.vcs.clone();
        }
        if !self.models.is_empty() {
            options.models = self.models.clone();
        }
        if let Some(seed) = self.seed {
            options.seed = seed;
        }
        Ok(options)
    }
}

impl Cli {
    /// Parse `args` (the first item is the program name) without exiting the process.
    pub fn try_parse_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <Self as Parser>::try_parse_from(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[cfg(feature = "live")]
    #[test]
    fn serve_standalone_needs_a_journal() {
        assert!(
            Cli::try_parse_from_args(["cellsim", "serve", "--config", "c", "--standalone"])
                .is_err()
        );
        let cli = Cli::try_parse_from_args([
            "cellsim",
            "serve",
            "--config",
            "c",
            "--standalone",
            "--journal",
            "j",
        ])
        .unwrap();
        let Some(Command::Serve(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.listen, None);
        assert!(matches!(
            args.options().mode,
            crate::live::ServeMode::Standalone { .. }
        ));
    }

    #[test]
    fn compare_takes_two_paths_and_tolerances() {
        let cli = Cli::try_parse_from_args([
            "cellsim",
            "compare",
            "base",
            "cand",
            "--tolerance",
            "all=10%,wait_p95=30s",
            "--tolerance",
            "finished=1",
        ])
        .unwrap();
        let Some(Command::Compare(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.baseline, PathBuf::from("base"));
        assert_eq!(args.tolerances, ["all=10%", "wait_p95=30s", "finished=1"]);
        assert!(Cli::try_parse_from_args(["cellsim", "compare", "base"]).is_err());
    }

    #[test]
    fn validate_takes_one_file() {
        let cli = Cli::try_parse_from_args(["cellsim", "validate", "c.yaml"]).unwrap();
        match cli.command {
            Some(Command::Validate(args)) => assert_eq!(args.file, PathBuf::from("c.yaml")),
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from_args(["cellsim", "validate"]).is_err());
    }

    #[test]
    fn run_takes_an_optional_scenario_out_and_known_models() {
        let cli = Cli::try_parse_from_args([
            "cellsim", "run", "s.yaml", "--out", "o", "--model", "fifo", "--model", "hived",
        ])
        .unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.scenario, Some(PathBuf::from("s.yaml")));
        assert_eq!(args.out, Some(PathBuf::from("o")));
        assert_eq!(args.models, ["fifo", "hived"]);
        let Some(Command::Run(args)) = Cli::try_parse_from_args(["cellsim", "run"])
            .unwrap()
            .command
        else {
            panic!("not run");
        };
        assert_eq!(args.scenario, None);
        assert!(Cli::try_parse_from_args(["cellsim", "run", "--model", "slurm"]).is_err());
        // No subcommand at all is the README's main command: run the default scenario.
        assert!(
            Cli::try_parse_from_args(["cellsim"])
                .unwrap()
                .command
                .is_none()
        );
    }
}
