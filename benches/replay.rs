//! Replay benchmark: the full Philly trace (`../shared/traces/philly/philly.csv`, 82,247
//! jobs) on its 2,490-GPU machine list with the trace's 15 VCs, once per model, timing
//! the three phases separately: reading (build the cluster, read, sort and shape the
//! trace), simulation (`run_model`), and report building (every export of `cellsim
//! replay`: the CSVs, events.log, summary.json, the SVG plots and report.html, built in
//! memory, not written). Peak memory is the process's VmHWM after each model.
//!
//! A bench binary rather than criterion: one pass takes seconds and the point is the
//! split. Run with `cargo bench --bench replay`; under `cargo test --benches` it does
//! nothing. Results: `reports/2026-11-25-replay-bench/`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use cellsim::replay::{ReplayOptions, prepare};
use cellsim::report;
use cellsim::sched::MODEL_NAMES;
use cellsim::sim::run_model;

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: nothing to smoke-test without minutes to spare
    }
    let shared = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/traces/philly");
    if !shared.is_dir() {
        eprintln!("skipping: ../shared/traces/philly is absent");
        return;
    }
    let options = ReplayOptions {
        cluster: shared.join("cluster_machine_list").display().to_string(),
        trace: shared.join("philly.csv"),
        ..ReplayOptions::default()
    };
    let started = Instant::now();
    let prepared = prepare(&options).expect("the Philly files read");
    let read = started.elapsed();
    let scenario = &prepared.scenario;
    println!(
        "read: {:.3} s ({} jobs, cluster build {:.3} s, trace {:.3} s); peak {:.0} MiB",
        read.as_secs_f64(),
        scenario.jobs.len(),
        prepared.build_time.as_secs_f64(),
        prepared.read_time.as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN)
    );
    for model in MODEL_NAMES {
        let started = Instant::now();
        let result = run_model(scenario, model).expect("known model");
        let simulate = started.elapsed();
        let started = Instant::now();
        let (summary, files, plots) = report::exports_with_plots(&result);
        let html = report::report_export_with_plots(
            &scenario.name,
            std::slice::from_ref(&result),
            std::slice::from_ref(&plots),
            "",
        );
        let bytes: usize = files.iter().map(|f| f.bytes.len()).sum::<usize>() + html.bytes.len();
        let reports = started.elapsed();
        black_box(&summary);
        println!(
            "{model:8} simulate {:.3} s ({} log events), reports {:.3} s ({:.1} MB), total with read {:.3} s; peak {:.0} MiB",
            simulate.as_secs_f64(),
            result.events.len(),
            reports.as_secs_f64(),
            bytes as f64 / 1e6,
            (read + simulate + reports).as_secs_f64(),
            peak_rss_mib().unwrap_or(f64::NAN)
        );
    }
}
