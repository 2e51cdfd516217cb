//! Sweep benchmark: `scenarios/planning/philly.yaml` (the Philly trace on its machine
//! list, 20 cluster sizes x 2 models x 5 seeds = 200 points) run once on 1 worker thread
//! and once on 2, each into a fresh temporary folder, timing the whole `sweep::run` (reading
//! the base included) and checking that both write the same `points.csv`. Prints the times,
//! the speed-up and the peak memory.
//!
//! `CELLSIM_BENCH_SHARD=I/N` runs only that shard of the points (e.g. `1/5`: 40 points) for
//! a quicker ratio. A bench binary rather than criterion: one pass takes minutes. Run with
//! `cargo bench --bench sweep`; under `cargo test --benches` it does nothing. Results:
//! `reports/2026-11-26-sweep-bench/`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use cellsim::run::Progress;
use cellsim::sweep::{self, SweepOptions, points::Shard};

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Runs the sweep's `shard` on `threads` into a fresh folder; returns the time and the
/// folder's points.csv (or runs.jsonl when a shard leaves the tables unwritten).
fn timed_run(prepared: &sweep::Sweep, shard: Shard, threads: usize) -> (Duration, Vec<u8>) {
    let out = std::env::temp_dir().join(format!(
        "cellsim-sweep-bench-{}-{threads}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&out);
    let options = SweepOptions {
        out: out.clone(),
        jobs: Some(threads),
        resume: false,
        shard,
    };
    let started = Instant::now();
    let outcome = sweep::run(prepared, &options, &Progress::new(true)).expect("the sweep runs");
    let took = started.elapsed();
    let table = if outcome.tables_written {
        std::fs::read(out.join("points.csv"))
    } else {
        // A shard's runs finish in any order: compare them sorted.
        std::fs::read_to_string(out.join("runs.jsonl")).map(|text| {
            let mut lines: Vec<&str> = text.lines().collect();
            lines.sort_unstable();
            lines.join("\n").into_bytes()
        })
    }
    .expect("the sweep wrote its results");
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "{threads} thread(s): {} points in {:.1} s ({:.2} s per point)",
        outcome.ran,
        took.as_secs_f64(),
        took.as_secs_f64() / outcome.ran.max(1) as f64
    );
    (took, table)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: nothing to smoke-test without minutes to spare
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !root.join("../shared/traces/philly").is_dir() {
        eprintln!("skipping: ../shared/traces/philly is absent");
        return;
    }
    let shard: Shard = std::env::var("CELLSIM_BENCH_SHARD")
        .map(|s| s.parse().expect("CELLSIM_BENCH_SHARD is I/N"))
        .unwrap_or(Shard::ALL);
    let started = Instant::now();
    let spec = sweep::load_file(&root.join("scenarios/planning/philly.yaml")).expect("reads");
    let prepared = sweep::Sweep::prepare(spec).expect("the Philly base reads");
    println!(
        "philly sweep: {} points (shard {}/{}), base read in {:.2} s",
        prepared.points.len(),
        shard.index,
        shard.count,
        started.elapsed().as_secs_f64()
    );
    let (one, table_one) = timed_run(&prepared, shard, 1);
    let (two, table_two) = timed_run(&prepared, shard, 2);
    assert!(
        table_one == table_two,
        "1 and 2 threads wrote different results"
    );
    println!(
        "speed-up 1 -> 2 threads: {:.2}x; peak memory {:.0} MiB",
        one.as_secs_f64() / two.as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}
