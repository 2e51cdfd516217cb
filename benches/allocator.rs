//! Allocator benchmark: schedule and release latency and allocator memory on a loaded
//! cluster of 1,024 and 10,240 GPUs (8 and 80 racks of 16 nodes x 8 GPUs, levels GPU ->
//! PCIe switch -> socket -> node -> rack, four VCs guaranteed as rack and node cells that
//! add up to the whole cluster). It owns the workload and the measuring; it asserts no
//! targets (see `reports/` for results and the machine they came from).
//!
//! A seeded stream of 1, 2, 4, 8, 16 (2x8) and 32 (4x8) GPU groups, 10% opportunistic and
//! guaranteed at mixed priorities, keeps the cluster 70-90% occupied by releasing random
//! groups; a preemptor's victims leave at once and it is scheduled again. Criterion
//! measures the mean/median of one schedule call and of one release call (only the call
//! itself is timed; keeping the band is not). Because criterion reports no percentiles, a
//! report pass then times every call of a long mixed stream on its own, by wall clock and
//! by thread CPU time (which leaves out time the thread was descheduled), and prints
//! median, p90, p99, p99.9 and max per decision kind; a counting global allocator gives
//! the heap bytes of the config, of an empty allocator and of a loaded one.
//!
//! Run with `cargo bench --bench allocator`. The report runs for the sizes whose id
//! `report/<GPUs>` contains the name filter, if one is given (`-- report/10240`;
//! `-- --exact report/1024`); `CELLSIM_BENCH_STEPS` shortens its stream for profiling
//! (callgrind: `--toggle-collect=allocator::measured_schedule`). It prints a digest of
//! every decision: a change that only makes the allocator faster keeps the digest (same
//! toolchain). Under `cargo test --benches` everything runs once on the small cluster.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use cellsim::cell::{Allocator, Decision, GroupMember, GroupRequest, OPPORTUNISTIC_PRIORITY};
use cellsim::config::{CellConfig, load_str};
use criterion::{BenchmarkId, Criterion};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------
// Heap accounting

/// Counts live heap bytes (and the peak since the last reset) so the bench can say how
/// much memory building and holding an allocator takes. Frees of blocks allocated before
/// a reset are counted too, so only differences taken on one thread with nothing else
/// running mean anything.
struct CountingAlloc;

static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static PEAK_BYTES: AtomicIsize = AtomicIsize::new(0);

// SAFETY: every method forwards to `System` unchanged and only updates counters.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            note_alloc(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note_alloc(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with this layout.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note_alloc(new_size as isize - layout.size() as isize);
        }
        new
    }
}

fn note_alloc(delta: isize) {
    let live = LIVE_BYTES.fetch_add(delta, Ordering::Relaxed) + delta;
    PEAK_BYTES.fetch_max(live, Ordering::Relaxed);
}

#[global_allocator]
static GLOBAL: CountingAlloc = CountingAlloc;

/// Live heap bytes now.
fn live_bytes() -> isize {
    LIVE_BYTES.load(Ordering::Relaxed)
}

/// Resets the peak to the current live bytes and returns that baseline.
fn reset_peak() -> isize {
    let live = live_bytes();
    PEAK_BYTES.store(live, Ordering::Relaxed);
    live
}

fn peak_bytes() -> isize {
    PEAK_BYTES.load(Ordering::Relaxed)
}

fn mib(bytes: isize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

// ---------------------------------------------------------------------------------------
// The cluster

const NODES_PER_RACK: u32 = 16;
const GPUS_PER_NODE: u32 = 8;
/// Seed of the request stream (the report date), fixed so that runs are comparable.
const SEED: u64 = 20_261_125;

/// One VC's guarantee: whole racks plus single nodes.
struct VcShare {
    name: &'static str,
    racks: u32,
    nodes: u32,
}

/// Four VCs that together guarantee the whole cluster: two of whole racks, one mixed,
/// one of single nodes (3/8, 1/4, 1/8 + 1/16 and 3/16 of the racks).
fn vc_shares(racks: u32) -> Vec<VcShare> {
    assert!(
        racks.is_multiple_of(8),
        "rack count must be a multiple of 8"
    );
    vec![
        VcShare {
            name: "vc-a",
            racks: racks * 3 / 8,
            nodes: 0,
        },
        VcShare {
            name: "vc-b",
            racks: racks / 4,
            nodes: 0,
        },
        VcShare {
            name: "vc-c",
            racks: racks / 8,
            nodes: racks,
        },
        VcShare {
            name: "vc-d",
            racks: 0,
            nodes: racks * 3,
        },
    ]
}

/// The HiveD config text of a cluster of `racks` racks.
fn cluster_yaml(racks: u32) -> String {
    let mut y = String::new();
    y.push_str(
        "physicalCluster:\n\
         \x20 cellTypes:\n\
         \x20   PCIE-SWITCH: {childCellType: V100, childCellNumber: 2}\n\
         \x20   CPU-SOCKET: {childCellType: PCIE-SWITCH, childCellNumber: 2}\n\
         \x20   NODE: {childCellType: CPU-SOCKET, childCellNumber: 2, isNodeLevel: true}\n\
         \x20   RACK: {childCellType: NODE, childCellNumber: 16}\n\
         \x20 physicalCells:\n",
    );
    for r in 0..racks {
        y.push_str("  - cellType: RACK\n    cellChildren:\n");
        for n in 0..NODES_PER_RACK {
            let _ = writeln!(y, "    - cellAddress: r{r:02}-n{n:02}");
        }
    }
    y.push_str("virtualClusters:\n");
    for vc in vc_shares(racks) {
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

fn cluster_config(racks: u32) -> CellConfig {
    let source = format!("benches/allocator.rs ({racks} racks)");
    match load_str(&cluster_yaml(racks), &source) {
        Ok(config) => config,
        Err(errors) => panic!("the generated bench config is invalid: {errors:?}"),
    }
}

fn gpus(racks: u32) -> u64 {
    (racks * NODES_PER_RACK * GPUS_PER_NODE) as u64
}

// ---------------------------------------------------------------------------------------
// The workload

/// Group shapes: (pods, GPUs per pod, weight in percent).
const SHAPES: [(u32, u32, u32); 6] = [
    (1, 1, 30),
    (1, 2, 15),
    (1, 4, 15),
    (1, 8, 20),
    (2, 8, 12),
    (4, 8, 8),
];
/// Guaranteed priorities: (priority, weight in percent).
const PRIORITIES: [(i32, u32); 4] = [(0, 40), (100, 30), (500, 20), (1000, 10)];
/// Percent of groups that are opportunistic.
const OPPORTUNISTIC_PERCENT: u32 = 10;
/// Occupancy band kept by releasing or submitting groups.
const LOW: f64 = 0.77;
const HIGH: f64 = 0.83;
/// Band every timed call starts in: below it the driver refills first (a preemption can
/// free more than it takes); the report warns if a call starts outside it.
const BAND: (f64, f64) = (0.70, 0.90);

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

/// Kind of a decision, for counting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Bind,
    Preempt,
    Wait,
    Reject,
}

fn kind_of(d: &Decision) -> Kind {
    match d {
        Decision::Bind(_) => Kind::Bind,
        Decision::Preempt { .. } => Kind::Preempt,
        Decision::Wait { .. } => Kind::Wait,
        Decision::Reject { .. } => Kind::Reject,
    }
}

/// An allocator under a seeded stream of groups, with the bookkeeping to release random
/// live groups. Only the one allocator call a bench measures is timed, never the driver.
struct Driver {
    alloc: Allocator,
    rng: ChaCha8Rng,
    vcs: Vec<(&'static str, u32)>,
    capacity: u64,
    used: u64,
    /// Live (bound) groups: name and GPUs, for picking a random one to release.
    live: Vec<(String, u64)>,
    live_index: HashMap<String, usize>,
    next_id: u64,
    /// Rejects seen (a correct workload has none).
    rejects: u64,
    /// Hash of every decision so far, in order: two builds that print the same digest
    /// made the same decisions (a check for pure speed-ups).
    digest: DefaultHasher,
}

impl Driver {
    fn new(config: &CellConfig, racks: u32) -> Driver {
        let vcs = vc_shares(racks)
            .iter()
            .map(|v| (v.name, v.racks * NODES_PER_RACK + v.nodes))
            .collect();
        Driver {
            alloc: Allocator::new(config),
            rng: ChaCha8Rng::seed_from_u64(SEED ^ racks as u64),
            vcs,
            capacity: gpus(racks),
            used: 0,
            live: Vec::new(),
            live_index: HashMap::new(),
            next_id: 0,
            rejects: 0,
            digest: DefaultHasher::new(),
        }
    }

    fn occupancy(&self) -> f64 {
        self.used as f64 / self.capacity as f64
    }

    fn next_request(&mut self) -> GroupRequest {
        let (pods, per_pod) = {
            let shapes: Vec<((u32, u32), u32)> =
                SHAPES.iter().map(|&(p, g, w)| ((p, g), w)).collect();
            pick_weighted(&mut self.rng, &shapes)
        };
        let vc = pick_weighted(&mut self.rng, &self.vcs.clone());
        let priority = if self.rng.random_range(0..100) < OPPORTUNISTIC_PERCENT {
            OPPORTUNISTIC_PRIORITY
        } else {
            pick_weighted(&mut self.rng, &PRIORITIES)
        };
        self.next_id += 1;
        GroupRequest {
            name: format!("{vc}/g{}", self.next_id),
            virtual_cluster: vc.to_string(),
            priority,
            leaf_cell_type: None,
            pinned_cell_id: None,
            lazy_preemption_enable: false,
            ignore_k8s_suggested_nodes: true,
            members: vec![GroupMember::whole(pods, per_pod)],
        }
    }

    fn add_live(&mut self, request: &GroupRequest) {
        for pod in 0..request.pod_count() {
            let per_pod = request.members[0].leaf_cell_number;
            let name = format!("{}-{pod}", request.name);
            if let Err(e) = self.alloc.confirm_pod(&request.name, &name, per_pod) {
                panic!("confirm_pod after a bind failed: {e}");
            }
        }
        let gpus = request.leaf_count();
        self.live_index
            .insert(request.name.clone(), self.live.len());
        self.live.push((request.name.clone(), gpus));
        self.used += gpus;
    }

    fn forget(&mut self, name: &str) {
        let Some(i) = self.live_index.remove(name) else {
            return;
        };
        let (_, gpus) = self.live.swap_remove(i);
        if let Some((moved, _)) = self.live.get(i) {
            self.live_index.insert(moved.clone(), i);
        }
        self.used -= gpus;
    }

    /// Applies a decision the way the simulator would: a preemptor's victims leave at
    /// once and the preemptor is scheduled again (it gives up after a few rounds).
    fn apply(&mut self, request: &GroupRequest, decision: Decision) {
        let mut decision = decision;
        for _ in 0..4 {
            format!("{decision:?}").hash(&mut self.digest);
            match decision {
                Decision::Bind(_) => {
                    self.add_live(request);
                    return;
                }
                Decision::Preempt { victims } => {
                    for v in victims {
                        self.release(&v.group);
                    }
                    decision = self.alloc.schedule(request, None);
                }
                Decision::Wait { .. } => return,
                Decision::Reject { .. } => {
                    self.rejects += 1;
                    return;
                }
            }
        }
        // Still preempting: cancel the reservation.
        let _ = self.alloc.release_group(&request.name);
    }

    fn release(&mut self, name: &str) {
        if let Err(e) = self.alloc.release_group(name) {
            panic!("release of a live group failed: {e}");
        }
        self.forget(name);
    }

    fn random_live(&mut self) -> Option<String> {
        if self.live.is_empty() {
            return None;
        }
        let i = self.rng.random_range(0..self.live.len());
        Some(self.live[i].0.clone())
    }

    fn schedule_untimed(&mut self) {
        let request = self.next_request();
        let decision = self.alloc.schedule(&request, None);
        self.apply(&request, decision);
    }

    fn release_untimed(&mut self) {
        if let Some(name) = self.random_live() {
            self.release(&name);
        }
    }

    /// Fills the empty cluster to the middle of the band and runs `steps` mixed steps.
    fn fill(&mut self, steps: usize) {
        let target = (LOW + HIGH) / 2.0;
        let mut attempts = 0;
        while self.occupancy() < target && attempts < 100 * self.capacity {
            self.schedule_untimed();
            attempts += 1;
        }
        for _ in 0..steps {
            if self.next_is_release() {
                self.release_untimed();
            } else {
                self.schedule_untimed();
            }
        }
    }

    /// Whether the next step of the mixed stream is a release: always above the band,
    /// never below it, a coin flip inside it.
    fn next_is_release(&mut self) -> bool {
        let occ = self.occupancy();
        if occ > HIGH {
            true
        } else if occ < LOW {
            false
        } else {
            self.rng.random_bool(0.5)
        }
    }

    /// Runs untimed steps until the stream's next step is a schedule. A preemption can
    /// free more than its preemptor takes (a 4x8 victim for one 8-GPU pod), so first
    /// refill to the band if that happened.
    fn advance_to_schedule(&mut self) {
        let mut tries = 0;
        while self.occupancy() < BAND.0 && tries < 10_000 {
            self.schedule_untimed();
            tries += 1;
        }
        while self.next_is_release() && !self.live.is_empty() {
            self.release_untimed();
        }
    }

    /// Runs untimed schedule steps until the stream's next step is a release.
    fn advance_to_release(&mut self) {
        let mut tries = 0;
        while (!self.next_is_release() || self.live.is_empty()) && tries < 10_000 {
            self.schedule_untimed();
            tries += 1;
        }
    }

    /// One timed schedule call of the stream; the decision is applied untimed.
    fn timed_schedule(&mut self) -> ScheduleSample {
        self.advance_to_schedule();
        let request = self.next_request();
        let occupancy = self.occupancy();
        let (decision, timing) = timed(|| measured_schedule(&mut self.alloc, &request));
        let kind = kind_of(&decision);
        self.apply(&request, decision);
        ScheduleSample {
            timing,
            kind,
            opportunistic: request.is_opportunistic(),
            occupancy,
        }
    }

    /// One timed release call of the stream, and the occupancy it started from; `None`
    /// when no group is live (the cluster could not be filled).
    fn timed_release(&mut self) -> Option<(Timing, f64)> {
        self.advance_to_release();
        let name = self.random_live()?;
        let occupancy = self.occupancy();
        let (result, timing) = timed(|| measured_release(&mut self.alloc, &name));
        if let Err(e) = result {
            panic!("release of a live group failed: {e}");
        }
        self.forget(&name);
        Some((timing, occupancy))
    }
}

/// The timed schedule call, kept out of line so that a profiler can count exactly the
/// measured calls: `valgrind --tool=callgrind --toggle-collect=allocator::measured_schedule`.
#[inline(never)]
fn measured_schedule(alloc: &mut Allocator, request: &GroupRequest) -> Decision {
    alloc.schedule(black_box(request), None)
}

/// The timed release call (see [`measured_schedule`]).
#[inline(never)]
fn measured_release(
    alloc: &mut Allocator,
    name: &str,
) -> Result<(), cellsim::cell::AllocatorError> {
    alloc.release_group(black_box(name))
}

/// Wall-clock and thread CPU time of one call. CPU time leaves out the time the thread
/// was descheduled, which on a shared 2-core machine is most of the tail.
#[derive(Debug, Clone, Copy)]
struct Timing {
    wall: Duration,
    cpu: Duration,
}

/// Runs `f` and times it; the CPU clock reads sit outside the wall-clock window.
fn timed<T>(f: impl FnOnce() -> T) -> (T, Timing) {
    let cpu_start = thread_cpu_time();
    let start = Instant::now();
    let out = f();
    let wall = start.elapsed();
    let cpu = thread_cpu_time().saturating_sub(cpu_start);
    (out, Timing { wall, cpu })
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

/// One timed schedule call.
struct ScheduleSample {
    timing: Timing,
    kind: Kind,
    opportunistic: bool,
    /// Occupancy the call started from.
    occupancy: f64,
}

// ---------------------------------------------------------------------------------------
// Criterion benches

/// Cluster sizes in racks: 1,024 and 10,240 GPUs.
const SIZES: [u32; 2] = [8, 80];

fn bench_build(c: &mut Criterion) {
    let mut group = c.benchmark_group("allocator_new");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    for racks in SIZES {
        let config = cluster_config(racks);
        group.bench_with_input(BenchmarkId::from_parameter(gpus(racks)), &config, |b, c| {
            b.iter(|| Allocator::new(black_box(c)))
        });
    }
    group.finish();
}

fn bench_schedule(c: &mut Criterion) {
    let mut group = c.benchmark_group("schedule");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(8));
    for racks in SIZES {
        let config = cluster_config(racks);
        let mut driver = Driver::new(&config, racks);
        driver.fill(2_000);
        group.bench_function(BenchmarkId::from_parameter(gpus(racks)), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| driver.timed_schedule().timing.wall)
                    .sum()
            })
        });
    }
    group.finish();
}

fn bench_release(c: &mut Criterion) {
    let mut group = c.benchmark_group("release");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));
    for racks in SIZES {
        let config = cluster_config(racks);
        let mut driver = Driver::new(&config, racks);
        driver.fill(2_000);
        group.bench_function(BenchmarkId::from_parameter(gpus(racks)), |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .filter_map(|_| driver.timed_release())
                    .map(|(t, _)| t.wall)
                    .sum()
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// Percentile and memory report

/// Latency summary of individually timed calls.
struct Summary {
    n: usize,
    median: Duration,
    p90: Duration,
    p99: Duration,
    p999: Duration,
    max: Duration,
    mean: Duration,
}

fn summarize(samples: &mut [Duration]) -> Option<Summary> {
    if samples.is_empty() {
        return None;
    }
    samples.sort_unstable();
    let n = samples.len();
    // Nearest-rank percentile.
    let at = |q: f64| samples[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
    let total: Duration = samples.iter().sum();
    Some(Summary {
        n,
        median: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        p999: at(0.999),
        max: samples[n - 1],
        mean: total / n as u32,
    })
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Prints the wall-clock and CPU-time percentiles of one kind of call, in µs.
fn print_row(label: &str, samples: &[Timing]) {
    let mut wall: Vec<Duration> = samples.iter().map(|t| t.wall).collect();
    let mut cpu: Vec<Duration> = samples.iter().map(|t| t.cpu).collect();
    for (clock, values) in [("wall", &mut wall), ("cpu", &mut cpu)] {
        let label = if clock == "wall" { label } else { "" };
        match summarize(values) {
            Some(s) => println!(
                "  {label:<24} {clock:<4} n={:<6} median {:>7.2}  p90 {:>7.2}  p99 {:>7.2}  p99.9 {:>8.2}  max {:>8.2}  mean {:>7.2}",
                s.n,
                us(s.median),
                us(s.p90),
                us(s.p99),
                us(s.p999),
                us(s.max),
                us(s.mean)
            ),
            None => println!("  {label:<24} {clock:<4} n=0"),
        }
    }
}

/// Times every call of a mixed stream of `steps` steps and prints percentiles, then
/// prints the allocator's memory.
fn report(racks: u32, steps: usize, warm_steps: usize) {
    let gpus = gpus(racks);
    println!(
        "\n== allocator report: {gpus} GPUs ({racks} racks x {NODES_PER_RACK} nodes x {GPUS_PER_NODE} GPUs), seed {SEED} =="
    );

    // Memory: the config, an empty allocator, and the allocator at load.
    let yaml = cluster_yaml(racks);
    let base = reset_peak();
    let config = match load_str(&yaml, "bench") {
        Ok(c) => c,
        Err(e) => panic!("the generated bench config is invalid: {e:?}"),
    };
    let config_bytes = live_bytes() - base;
    let config_peak = peak_bytes() - base;

    let base = reset_peak();
    let start = Instant::now();
    let alloc = Allocator::new(&config);
    let build_time = start.elapsed();
    let empty_bytes = live_bytes() - base;
    let build_peak = peak_bytes() - base;
    let base = live_bytes();
    let topo = alloc.topology().clone();
    let topo_bytes = live_bytes() - base;
    drop(topo);
    let base = live_bytes();
    let config_copy = alloc.config().clone();
    let config_copy_bytes = live_bytes() - base;
    drop(config_copy);
    drop(alloc);

    let mut driver = Driver::new(&config, racks);
    driver.fill(warm_steps);

    println!(
        "  config YAML {:.2} MiB text; CellConfig {:.2} MiB live ({:.2} MiB peak while parsing)",
        mib(yaml.len() as isize),
        mib(config_bytes),
        mib(config_peak)
    );
    println!(
        "  Allocator::new: {:.2} ms; empty allocator {:.2} MiB live ({:.2} MiB peak while building); \
         of which Topology {:.2} MiB, its CellConfig copy {:.2} MiB",
        build_time.as_secs_f64() * 1e3,
        mib(empty_bytes),
        mib(build_peak),
        mib(topo_bytes),
        mib(config_copy_bytes)
    );

    // Latency: one mixed stream, every call timed on its own.
    let mut all = Vec::new();
    let mut by_kind: HashMap<Kind, Vec<Timing>> = HashMap::new();
    let mut guaranteed = Vec::new();
    let mut opportunistic = Vec::new();
    let mut releases = Vec::new();
    let mut occupancies = Vec::new();
    for _ in 0..steps {
        if driver.next_is_release()
            && let Some((t, occ)) = driver.timed_release()
        {
            releases.push(t);
            occupancies.push(occ);
            continue;
        }
        let sample = driver.timed_schedule();
        all.push(sample.timing);
        occupancies.push(sample.occupancy);
        by_kind.entry(sample.kind).or_default().push(sample.timing);
        if sample.opportunistic {
            opportunistic.push(sample.timing);
        } else {
            guaranteed.push(sample.timing);
        }
    }
    let occ_min = occupancies.iter().copied().fold(f64::MAX, f64::min);
    let occ_max = occupancies.iter().copied().fold(0.0, f64::max);
    let occ_mean = occupancies.iter().sum::<f64>() / occupancies.len().max(1) as f64;
    println!(
        "  occupancy at the timed calls: min {:.1}%, mean {:.1}%, max {:.1}% (band {:.0}-{:.0}%); rejects {}",
        occ_min * 100.0,
        occ_mean * 100.0,
        occ_max * 100.0,
        BAND.0 * 100.0,
        BAND.1 * 100.0,
        driver.rejects
    );
    println!("  latency in µs:");
    print_row("schedule (all)", &all);
    let mut kinds: Vec<_> = by_kind.into_iter().collect();
    kinds.sort_by_key(|(k, _)| *k);
    for (kind, samples) in kinds {
        print_row(&format!("schedule -> {kind:?}"), &samples);
    }
    print_row("schedule guaranteed", &guaranteed);
    print_row("schedule opportunistic", &opportunistic);
    print_row("release_group", &releases);
    if occ_min < BAND.0 || occ_max > BAND.1 {
        println!("  WARNING: occupancy left the {BAND:?} band");
    }

    // What the loaded allocator holds is what dropping it gives back (capacity slack
    // included, unlike a clone).
    println!(
        "  timed calls: {} schedule, {} release; decision digest {:016x}",
        all.len(),
        releases.len(),
        driver.digest.finish()
    );
    let (occupancy, groups) = (driver.occupancy(), driver.alloc.group_count());
    let Driver { alloc, .. } = driver;
    // A whole-state copy, as a lazy preemption attempt takes one to roll back to.
    let (snapshot, clone_timing) = timed(|| alloc.clone());
    drop(snapshot);
    let base = live_bytes();
    drop(alloc);
    let loaded_bytes = base - live_bytes();
    println!(
        "  allocator after the stream ({:.0}% occupancy, {groups} live groups): {:.2} MiB; \
         Allocator::clone {:.0} µs wall",
        occupancy * 100.0,
        mib(loaded_bytes),
        us(clone_timing.wall)
    );
}

/// Whether cargo runs this as a bench (`--bench`, from `cargo bench`) rather than as a
/// test (`cargo test --benches`), and the report sizes (in racks) the name filter selects:
/// all without a filter, else those whose id `report/<GPUs>` contains a filter (equals
/// it with `--exact`, as for criterion's own ids).
fn report_plan() -> (bool, Vec<u32>) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        return (false, Vec::new());
    }
    let bench = args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test");
    let exact = args.iter().any(|a| a == "--exact");
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let sizes = SIZES
        .into_iter()
        .filter(|&racks| {
            let id = format!("report/{}", gpus(racks));
            let matches = |f: &&String| {
                if exact {
                    id == **f
                } else {
                    id.contains(f.as_str())
                }
            };
            filters.is_empty() || filters.iter().any(matches)
        })
        .collect();
    (bench, sizes)
}

/// Steps of the report's timed stream: 40,000, or `CELLSIM_BENCH_STEPS` (fewer make a
/// profiler run, e.g. under callgrind, take minutes instead of hours).
fn report_steps() -> usize {
    std::env::var("CELLSIM_BENCH_STEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000)
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .configure_from_args();
    bench_build(&mut criterion);
    bench_schedule(&mut criterion);
    bench_release(&mut criterion);
    let (bench, sizes) = report_plan();
    for racks in sizes {
        if bench {
            report(racks, report_steps(), 5_000);
        } else if racks == SIZES[0] {
            // Test mode: a quick smoke run on the small cluster.
            report(racks, 500, 200);
        }
    }
    criterion.final_summary();
}
