//! Engine benchmark: simulation throughput of the `fifo`, `hived` and `yarn-cs` models on
//! a synthetic 2,000-GPU cluster (25 racks x 10 nodes x 8 GPUs, levels GPU -> PCIe switch
//! -> socket -> node -> rack, four VCs guaranteed as rack and node cells that add up to
//! the whole cluster) under a seeded synthetic workload of 100,000 gang jobs.
//!
//! The workload: Poisson arrivals (mean gap [`MEAN_GAP_MS`], 73% offered load),
//! 1/2/4/8/16/32 GPUs skewed to small (16 and 32 are 2 and 4 pods of 8), log-normal
//! durations (median 20 min, clamped to 1 min .. 24 h), VCs in proportion to their
//! guarantee, 10% opportunistic and the rest `test` or `prod`. Everything is built in code
//! from [`SEED`], so runs are comparable.
//!
//! Two measurements, both on one thread:
//! - criterion (`engine/<model>`) times a whole run over the first [`PREFIX_JOBS`] jobs,
//!   ten samples, and reports its throughput in engine events per second;
//! - a report pass runs the full 100,000 jobs once per model, timed with `Instant` and the
//!   thread CPU clock, and prints events/s and jobs/s (per wall and per CPU second: on a
//!   shared machine the thread's CPU time is the closer measure of one core), and what
//!   the workload did (utilisation, waits, preemptions); then it runs each model again
//!   with its calls metered, to split the time between the engine and the model.
//!
//! "Engine events" are the events the engine's queue handled (submits, finishes, kills,
//! node events; stale finishes of preempted runs excluded), read from the progress hook.
//! The report also prints the `RunResult.events` count (the `events.log` lines, which add
//! starts, waits, job ends and preemptions), so both rates are known.
//!
//! Run with `cargo bench --bench engine`; `-- report` runs only the report pass (the
//! criterion ids do not contain "report"), `-- report/hived` only one model's part of it,
//! `-- engine/` only criterion. Under
//! `cargo test --benches` everything runs once on a 2,000-job prefix as a smoke test.
//! Results and the machine they came from are in `reports/2026-11-25-engine-bench/` and
//! `reports/2026-11-25-engine-bench-2/`.

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cellsim::cell::{GroupMember, GroupRequest, OPPORTUNISTIC_PRIORITY};
use cellsim::config::{CellConfig, load_str};
use cellsim::sched::{
    self, GroupProgress, Hooks, ModelOptions, OfferContext, Scheduler, Shortcuts, StrictOrder,
    Verdict,
};
use cellsim::sim::{
    JobOutcome, RunResult, Scenario, SimEvent, SimJob, SimTimeMs, simulate_with_progress,
};
use criterion::{BenchmarkId, Criterion, Throughput};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------
// The cluster

const RACKS: u32 = 25;
const NODES_PER_RACK: u32 = 10;
const GPUS_PER_NODE: u32 = 8;
const TOTAL_GPUS: u32 = RACKS * NODES_PER_RACK * GPUS_PER_NODE;
/// Seed of the workload and of every run (the report date).
const SEED: u64 = 20_261_125;

/// One VC's guarantee: whole racks plus single nodes, and its weight in the workload.
struct VcShare {
    name: &'static str,
    racks: u32,
    nodes: u32,
}

/// Four VCs that together guarantee the whole cluster (9 racks; 6 racks; 4 racks and 20
/// nodes; 40 nodes): 720, 480, 480 and 320 GPUs.
const VCS: [VcShare; 4] = [
    VcShare {
        name: "vc-a",
        racks: 9,
        nodes: 0,
    },
    VcShare {
        name: "vc-b",
        racks: 6,
        nodes: 0,
    },
    VcShare {
        name: "vc-c",
        racks: 4,
        nodes: 20,
    },
    VcShare {
        name: "vc-d",
        racks: 0,
        nodes: 40,
    },
];

impl VcShare {
    fn gpus(&self) -> u32 {
        (self.racks * NODES_PER_RACK + self.nodes) * GPUS_PER_NODE
    }
}

/// The HiveD config text of the cluster.
fn cluster_yaml() -> String {
    let mut y = String::new();
    let _ = write!(
        y,
        "physicalCluster:\n\
         \x20 cellTypes:\n\
         \x20   PCIE-SWITCH: {{childCellType: V100, childCellNumber: 2}}\n\
         \x20   CPU-SOCKET: {{childCellType: PCIE-SWITCH, childCellNumber: 2}}\n\
         \x20   NODE: {{childCellType: CPU-SOCKET, childCellNumber: 2, isNodeLevel: true}}\n\
         \x20   RACK: {{childCellType: NODE, childCellNumber: {NODES_PER_RACK}}}\n\
         \x20 physicalCells:\n"
    );
    for r in 0..RACKS {
        y.push_str("  - cellType: RACK\n    cellChildren:\n");
        for n in 0..NODES_PER_RACK {
            let _ = writeln!(y, "    - cellAddress: r{r:02}-n{n:02}");
        }
    }
    y.push_str("virtualClusters:\n");
    for vc in &VCS {
        let _ = writeln!(y, "  {}:\n    virtualCells:", vc.name);
        if vc.racks > 0 {
            let _ = writeln!(y, "    - {{cellType: RACK, cellNumber: {}}}", vc.racks);
        }
        if vc.nodes > 0 {
            let _ = writeln!(y, "    - {{cellType: RACK.NODE, cellNumber: {}}}", vc.nodes);
        }
    }
    y
}

fn cluster_config() -> CellConfig {
    match load_str(&cluster_yaml(), "benches/engine.rs") {
        Ok(config) => config,
        Err(errors) => panic!("the generated bench config is invalid: {errors:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// The workload

/// Jobs of the full workload.
const FULL_JOBS: usize = 100_000;
/// Jobs of the prefix criterion runs (a full run per sample would take too long).
const PREFIX_JOBS: usize = 20_000;
/// Jobs of the smoke run under `cargo test --benches`.
const SMOKE_JOBS: usize = 2_000;

/// Job sizes: (pods, GPUs per pod, weight in percent). Mean 5.75 GPUs.
const SHAPES: [((u32, u32), u32); 6] = [
    ((1, 1), 35),
    ((1, 2), 20),
    ((1, 4), 15),
    ((1, 8), 15),
    ((2, 8), 10),
    ((4, 8), 5),
];
/// Priorities: (priority, OpenPAI class, weight in percent); 10% opportunistic.
const PRIORITIES: [((i32, &str), u32); 3] = [
    ((10, "test"), 70),
    ((100, "prod"), 20),
    ((OPPORTUNISTIC_PRIORITY, "oppo"), 10),
];
/// Log-normal durations: median and sigma of the underlying normal, and clamps.
const DURATION_MEDIAN_MS: f64 = 20.0 * 60_000.0;
const DURATION_SIGMA: f64 = 1.5;
const DURATION_MIN_MS: f64 = 60_000.0;
const DURATION_MAX_MS: f64 = 24.0 * 3_600_000.0;
/// Mean gap between arrivals. A job asks for about 5.75 GPUs x 61 min (the clamped
/// log-normal mean) = 350 GPU-minutes; at one job per 14 s that is about 73% of the
/// cluster (the report prints the exact figure): busy, with queues that drain. At 12 s
/// (85%) `hived`'s run takes over 15 minutes, as its opportunistic backlog grows.
const MEAN_GAP_MS: f64 = 14_000.0;

fn pick_weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|i| i.1).sum();
    let mut x = rng.random_range(0..total);
    for &(item, w) in items {
        if x < w {
            return item;
        }
        x -= w;
    }
    items[items.len() - 1].0
}

/// A uniform number in (0, 1], safe for `ln`.
fn unit_open(rng: &mut ChaCha8Rng) -> f64 {
    1.0 - rng.random::<f64>()
}

/// A standard normal sample (Box-Muller).
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let (u1, u2) = (unit_open(rng), rng.random::<f64>());
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

/// The first `jobs` jobs of the seeded workload, as a scenario (no horizon, no node
/// events, all three models).
fn workload(config: &CellConfig, jobs: usize) -> Scenario {
    let mut rng = ChaCha8Rng::seed_from_u64(SEED);
    let vc_weights: Vec<(&str, u32)> = VCS.iter().map(|v| (v.name, v.gpus())).collect();
    let mut t_ms: f64 = 0.0;
    let jobs = (0..jobs)
        .map(|i| {
            t_ms += -unit_open(&mut rng).ln() * MEAN_GAP_MS;
            let (pods, per_pod) = pick_weighted(&mut rng, &SHAPES);
            let vc = pick_weighted(&mut rng, &vc_weights);
            let (priority, label) = pick_weighted(&mut rng, &PRIORITIES);
            let duration = (DURATION_MEDIAN_MS
                * (DURATION_SIGMA * standard_normal(&mut rng)).exp())
            .clamp(DURATION_MIN_MS, DURATION_MAX_MS);
            let id = format!("j{i:06}");
            SimJob {
                groups: vec![GroupRequest {
                    name: format!("{id}/default"),
                    virtual_cluster: vc.to_string(),
                    priority,
                    leaf_cell_type: None,
                    pinned_cell_id: None,
                    lazy_preemption_enable: false,
                    ignore_k8s_suggested_nodes: true,
                    members: vec![GroupMember::whole(pods, per_pod)],
                }],
                id,
                vc: vc.to_string(),
                priority,
                priority_label: label.to_string(),
                user: None,
                submit_ms: t_ms as SimTimeMs,
                duration_ms: duration as SimTimeMs,
                kill_at_ms: None,
            }
        })
        .collect();
    Scenario {
        name: "engine-bench".to_string(),
        source: "benches/engine.rs".to_string(),
        seed: SEED,
        horizon_ms: None,
        models: sched::MODEL_NAMES.iter().map(|m| m.to_string()).collect(),
        config: config.clone(),
        checkpoint_interval_ms: None,
        model_options: ModelOptions::default(),
        jobs,
        node_events: Vec::new(),
        warnings: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// One run

/// Models in the order the report lists them (the targets are for `fifo` and `hived`).
const MODELS: [&str; 3] = ["fifo", "hived", "yarn-cs"];

/// One run of `scenario` through `model`: the result and the engine events handled.
/// Building the model (an allocator over the cluster) is part of the run.
fn run(scenario: &Scenario, model: &str) -> (RunResult, u64) {
    run_observed(scenario, model, &|_, _| {})
}

/// [`run`], calling `observe(now_ms, events_handled)` about every
/// [`cellsim::sim::PROGRESS_EVERY_EVENTS`] engine events.
fn run_observed(
    scenario: &Scenario,
    model: &str,
    observe: &dyn Fn(SimTimeMs, u64),
) -> (RunResult, u64) {
    let mut model =
        match sched::model_with_options(model, &scenario.config, &scenario.model_options) {
            Ok(m) => m,
            Err(e) => panic!("model {model}: {e}"),
        };
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    let handled = Cell::new(0);
    let result = simulate_with_progress(scenario, model.as_mut(), &mut rng, &|t, n| {
        handled.set(n);
        observe(t, n);
    });
    (result, handled.get())
}

/// Wall-clock and thread CPU time of `f`.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Duration, Duration) {
    let cpu_start = thread_cpu_time();
    let start = Instant::now();
    let out = f();
    let wall = start.elapsed();
    let cpu = thread_cpu_time().saturating_sub(cpu_start);
    (out, wall, cpu)
}

/// CPU time used by this thread so far (nanosecond clock on Linux).
#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// No thread CPU clock here: CPU columns read 0.
#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    Duration::ZERO
}

/// A model wrapped to count and time the engine's calls into it, for the report's
/// breakdown of where a run's time goes (engine vs. model/allocator).
struct Metered<'a> {
    inner: &'a mut dyn Scheduler,
    /// Offers answered Start, Preempt, Wait, Reject.
    verdicts: [u64; 4],
    offer_time: Duration,
    releases: u64,
    release_time: Duration,
}

impl Scheduler for Metered<'_> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn strict_order(&self) -> StrictOrder {
        self.inner.strict_order()
    }

    fn shortcuts(&self) -> Shortcuts {
        self.inner.shortcuts()
    }

    fn hooks(&self) -> Hooks {
        self.inner.hooks()
    }

    fn rank(&mut self, group: &GroupProgress<'_>) -> i64 {
        self.inner.rank(group)
    }

    fn started(&mut self, group: &GroupProgress<'_>) {
        self.inner.started(group)
    }

    fn stopped(&mut self, group: &GroupProgress<'_>) {
        self.inner.stopped(group)
    }

    fn pass_started(&mut self, now_ms: u64) {
        self.inner.pass_started(now_ms)
    }

    fn next_timer(&self) -> Option<u64> {
        self.inner.next_timer()
    }

    fn on_timer(&mut self, now_ms: u64) -> Vec<String> {
        self.inner.on_timer(now_ms)
    }

    fn resume_delay_ms(&self) -> u64 {
        self.inner.resume_delay_ms()
    }

    fn offer(&mut self, request: &GroupRequest, ctx: &mut OfferContext<'_>) -> Verdict {
        let start = Instant::now();
        let verdict = self.inner.offer(request, ctx);
        self.offer_time += start.elapsed();
        let kind = match verdict {
            Verdict::Start(_) => 0,
            Verdict::Preempt(_) => 1,
            Verdict::Wait(_) => 2,
            Verdict::Reject(_) => 3,
            // Counted with preemptions: both send groups back to the queue.
            Verdict::Suspend(_) => 1,
        };
        self.verdicts[kind] += 1;
        verdict
    }

    fn release(&mut self, group: &str) {
        let start = Instant::now();
        self.inner.release(group);
        self.release_time += start.elapsed();
        self.releases += 1;
    }

    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        self.inner.set_node_health(node, healthy)
    }

    fn take_downgraded(&mut self) -> Vec<String> {
        self.inner.take_downgraded()
    }
}

/// Runs `model` once through [`Metered`] and prints how many model calls the engine made
/// and what share of the run they took.
fn breakdown(scenario: &Scenario, model: &str) {
    let mut inner =
        match sched::model_with_options(model, &scenario.config, &scenario.model_options) {
            Ok(m) => m,
            Err(e) => panic!("model {model}: {e}"),
        };
    let mut metered = Metered {
        inner: inner.as_mut(),
        verdicts: [0; 4],
        offer_time: Duration::ZERO,
        releases: 0,
        release_time: Duration::ZERO,
    };
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    let handled = Cell::new(0u64);
    let start = Instant::now();
    let result = simulate_with_progress(scenario, &mut metered, &mut rng, &|_, n| handled.set(n));
    let wall = start.elapsed().as_secs_f64();
    drop(black_box(result));
    let offers: u64 = metered.verdicts.iter().sum();
    let [start_n, preempt_n, wait_n, reject_n] = metered.verdicts;
    let (offer_s, release_s) = (
        metered.offer_time.as_secs_f64(),
        metered.release_time.as_secs_f64(),
    );
    println!(
        "  {model:<8} breakdown: {offers} offers ({:.2} per engine event; start {start_n}, \
         preempt {preempt_n}, wait {wait_n}, reject {reject_n}), {:.1} µs per offer, \
         {} releases {:.1} µs each; model calls {:.0}% of the run's {wall:.2} s, \
         engine bookkeeping {:.0}%",
        offers as f64 / handled.get().max(1) as f64,
        offer_s * 1e6 / offers.max(1) as f64,
        metered.releases,
        release_s * 1e6 / metered.releases.max(1) as f64,
        (offer_s + release_s) / wall * 100.0,
        (1.0 - (offer_s + release_s) / wall) * 100.0,
    );
}

// ---------------------------------------------------------------------------------------
// Criterion

fn bench_engine(c: &mut Criterion, plan: &Plan, scenario: &Scenario) {
    let mut group = c.benchmark_group("engine");
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(20));
    for model in MODELS {
        let jobs = format!("{}-jobs", scenario.jobs.len());
        // Counting the events costs a run; skip models the filter leaves out.
        if !plan.selects(&format!("engine/{model}/{jobs}")) {
            continue;
        }
        // Throughput in engine events: count them once (the run is deterministic).
        let (_, events) = run(scenario, model);
        group.throughput(Throughput::Elements(events));
        group.bench_function(BenchmarkId::new(model, &jobs), |b| {
            // Freeing the result is not the engine's work: drop it outside the clock.
            b.iter_with_large_drop(|| run(black_box(scenario), model))
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Report pass

fn hours(ms: u64) -> f64 {
    ms as f64 / 3_600_000.0
}

/// What the workload did under one model, to show the cluster was busy and drained.
fn describe(r: &RunResult) -> String {
    let last_submit = r.jobs.iter().map(|j| j.submit_ms).max().unwrap_or(0);
    let used: u64 = r.jobs.iter().map(|j| j.gpu_ms).sum();
    let utilisation = used as f64 / (f64::from(r.total_gpus) * r.end_ms.max(1) as f64);
    let mut waits: Vec<u64> = r.jobs.iter().filter_map(|j| j.wait_ms()).collect();
    waits.sort_unstable();
    let at = |q: f64| {
        if waits.is_empty() {
            0
        } else {
            waits[((q * waits.len() as f64) as usize).min(waits.len() - 1)]
        }
    };
    let mean_wait = waits.iter().sum::<u64>() as f64 / waits.len().max(1) as f64;
    let count = |o: JobOutcome| r.jobs.iter().filter(|j| j.outcome == o).count();
    let preemptions: u32 = r.jobs.iter().map(|j| j.preemptions).sum();
    let waiting_lines = r
        .events
        .iter()
        .filter(|e| matches!(e, SimEvent::GroupWaiting { .. }))
        .count();
    format!(
        "simulated {:.0} h (last submit at {:.0} h); GPU utilisation {:.1}%; wait mean {:.1} min, \
         p50 {:.1} min, p99 {:.1} h; finished {}, rejected {}, unfinished {}; preemptions {}; \
         {waiting_lines} GroupWaiting log events",
        hours(r.end_ms),
        hours(last_submit),
        utilisation * 100.0,
        mean_wait / 60_000.0,
        at(0.5) as f64 / 60_000.0,
        hours(at(0.99)),
        count(JobOutcome::Finished),
        count(JobOutcome::Rejected),
        count(JobOutcome::Unfinished),
        preemptions
    )
}

/// Engine events per wall second in each simulated day, from the progress marks: the
/// cost of an event depends on how many groups wait, which changes over a run.
fn rate_by_day(marks: &[(Duration, SimTimeMs, u64)]) -> String {
    const DAY_MS: SimTimeMs = 24 * 3_600_000;
    let mut out = String::from("engine events/s by simulated day:");
    let mut prev = (Duration::ZERO, 0u64);
    for (i, &(wall, t, n)) in marks.iter().enumerate() {
        let last_of_day = marks
            .get(i + 1)
            .is_none_or(|next| next.1 / DAY_MS != t / DAY_MS);
        if last_of_day && wall > prev.0 {
            let rate = (n - prev.1) as f64 / (wall - prev.0).as_secs_f64();
            let _ = write!(out, " d{}={:.1}k", t / DAY_MS, rate / 1000.0);
            prev = (wall, n);
        }
    }
    out
}

/// Runs every model `plan` selects (`report/<model>`) once over `scenario`, timed, and
/// prints the rates.
fn report(scenario: &Scenario, plan: &Plan) {
    let models: Vec<&str> = MODELS
        .into_iter()
        .filter(|m| plan.selects(&format!("report/{m}")))
        .collect();
    let jobs = scenario.jobs.len();
    let demand_gpu_ms: f64 = scenario
        .jobs
        .iter()
        .map(|j| f64::from(j.gpus()) * j.duration_ms as f64)
        .sum();
    let last_submit = scenario.jobs.iter().map(|j| j.submit_ms).max().unwrap_or(0);
    println!(
        "\n== engine report: {TOTAL_GPUS} GPUs ({RACKS} racks x {NODES_PER_RACK} nodes x \
         {GPUS_PER_NODE} GPUs), 4 VCs, {jobs} jobs, seed {SEED} ==\n  offered load {:.1}% \
         (GPU time asked / cluster GPU time until the last submit at {:.0} h)",
        demand_gpu_ms / (f64::from(TOTAL_GPUS) * last_submit.max(1) as f64) * 100.0,
        hours(last_submit)
    );
    for &model in &models {
        // (wall time, simulated time, engine events) about every 1,024 events.
        let marks: RefCell<Vec<(Duration, SimTimeMs, u64)>> = RefCell::new(Vec::new());
        let start = Instant::now();
        let ((result, engine_events), wall, cpu) = timed(|| {
            run_observed(scenario, model, &|t, n| {
                marks.borrow_mut().push((start.elapsed(), t, n))
            })
        });
        let log_events = result.events.len() as f64;
        let secs = wall.as_secs_f64();
        let cpu_secs = cpu.as_secs_f64();
        println!(
            "  {model:<8} wall {secs:>7.3} s (cpu {cpu_secs:>7.3} s): {:>8.0} engine events/s \
             ({engine_events} events), {:>8.0} log events/s ({log_events} events), {:>7.0} jobs/s; \
             per CPU second: {:>8.0} engine events, {:>8.0} log events, {:>7.0} jobs",
            engine_events as f64 / secs,
            log_events / secs,
            jobs as f64 / secs,
            engine_events as f64 / cpu_secs,
            log_events / cpu_secs,
            jobs as f64 / cpu_secs,
        );
        println!("  {:<8} {}", "", describe(&result));
        println!("  {:<8} {}", "", rate_by_day(&marks.into_inner()));
        // Keep the result alive until after the clock stopped: dropping it is not the
        // engine's work.
        drop(black_box(result));
    }
    println!("  where the time goes (a second, metered run; timers add a little overhead):");
    for &model in &models {
        breakdown(scenario, model);
    }
}

/// Criterion's options that take a separate value (criterion 0.8 `configure_from_args`).
const VALUE_OPTIONS: [&str; 20] = [
    "-c",
    "--color",
    "--colour",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

/// What the command line asks for: bench or test mode, and the name filters.
struct Plan {
    /// Run by `cargo bench` (`--bench`) rather than `cargo test --benches`.
    bench: bool,
    /// `--list`: criterion lists its benches; run nothing.
    list: bool,
    exact: bool,
    filters: Vec<String>,
}

impl Plan {
    fn from_args() -> Plan {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let has = |flag: &str| args.iter().any(|a| a == flag);
        Plan {
            bench: has("--bench") && !has("--test"),
            list: has("--list"),
            exact: has("--exact"),
            // The values of criterion's options are not filters.
            filters: args
                .iter()
                .enumerate()
                .filter(|&(i, a)| {
                    !a.starts_with('-')
                        && (i == 0 || !VALUE_OPTIONS.contains(&args[i - 1].as_str()))
                })
                .map(|(_, a)| a.clone())
                .collect(),
        }
    }

    /// Whether the filters select the id (criterion's rule: contains, or equals with
    /// `--exact`; no filter selects everything).
    fn selects(&self, id: &str) -> bool {
        !self.list
            && (self.filters.is_empty()
                || self.filters.iter().any(|f| {
                    if self.exact {
                        id == f
                    } else {
                        id.contains(f.as_str())
                    }
                }))
    }
}

/// Whether the filters select the report pass of any model (`-- report` selects all of
/// them, `-- report/hived` one).
fn selects_report(plan: &Plan) -> bool {
    MODELS.iter().any(|m| plan.selects(&format!("report/{m}")))
}

fn main() {
    let plan = Plan::from_args();
    let config = cluster_config();
    let mut criterion = Criterion::default().configure_from_args();
    if plan.bench {
        let full = workload(&config, FULL_JOBS);
        let prefix = Scenario {
            jobs: full.jobs[..PREFIX_JOBS].to_vec(),
            ..full.clone()
        };
        bench_engine(&mut criterion, &plan, &prefix);
        if selects_report(&plan) {
            report(&full, &plan);
        }
    } else {
        // Test mode: one quick pass over a small prefix.
        let smoke = workload(&config, SMOKE_JOBS);
        bench_engine(&mut criterion, &plan, &smoke);
        if selects_report(&plan) {
            report(&smoke, &plan);
        }
    }
    criterion.final_summary();
}
