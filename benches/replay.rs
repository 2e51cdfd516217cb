//! Replay benchmark: the full Philly trace (`../shared/traces/philly/philly.csv`, 82,247
//! jobs) on its 2,490-GPU machine list with the trace's 15 VCs, once per model, timing
//! the three phases separately: reading (build the cluster, read, sort and shape the
//! trace), simulation (`run_model`), and report writing (every file of `cellsim replay`:
//! the CSVs, events.log, summary.json, the SVG plots and report.html, written to a
//! temporary folder as the CLI writes them). Peak memory is the process's VmHWM after
//! each model's reports. Each model then also times the lean summary path
//! (`report::summary::run_summary`) and checks it gives the same summary.
//!
//! With `CELLSIM_BENCH_TRACE=FILE` it instead replays that trace (e.g. a million-job
//! `cellsim gen-trace` output) on a 10,000-GPU cluster (`CELLSIM_BENCH_CLUSTER` to change
//! it) under `hived` through the summary-only path, or, with `CELLSIM_BENCH_FULL=1` too,
//! with every report as above. With `CELLSIM_BENCH_STREAM=1` (and no `CELLSIM_BENCH_FULL`)
//! the summary-only path reads the trace as a stream (`replay::prepare_streamed` and
//! `StreamedReplay::run` into a `SummarySink`), so that the run holds only the jobs in
//! flight: the peak printed is then the whole process's.
//!
//! A bench binary rather than criterion: one pass takes seconds and the point is the
//! split. Run with `cargo bench --bench replay`; under `cargo test --benches` it does
//! nothing. Results: `reports/2026-11-25-replay-bench-2/`.

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use cellsim::replay::{Replay, ReplayOptions, prepare, prepare_streamed};
use cellsim::report;
use cellsim::report::summary::SummarySink;
use cellsim::sched::MODEL_NAMES;
use cellsim::sim::{Scenario, run_model};

/// Peak resident memory of this process so far, in MiB (Linux `VmHWM`).
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Replay options for `trace` on `CELLSIM_BENCH_CLUSTER` (default 10,000 GPUs).
fn scale_options(trace: &str) -> ReplayOptions {
    let cluster = std::env::var("CELLSIM_BENCH_CLUSTER")
        .unwrap_or_else(|_| "1250x V100x8 rack=10".to_string());
    ReplayOptions {
        cluster,
        trace: PathBuf::from(trace),
        ..ReplayOptions::default()
    }
}

/// Reads `trace` on `CELLSIM_BENCH_CLUSTER` (default 10,000 GPUs); returns the time taken.
fn prepare_scale_run(trace: &str) -> (Replay, Duration) {
    let options = scale_options(trace);
    let started = Instant::now();
    let prepared = prepare(&options).expect("the trace and cluster read");
    (prepared, started.elapsed())
}

/// The sweep path at scale: `CELLSIM_BENCH_TRACE` (a trace file) on
/// `CELLSIM_BENCH_CLUSTER` (a cluster file or spec; default "1250x V100x8 rack=10", 10,000
/// GPUs) under `hived`, summary only (`run_summary`: no event log, no timeline), with the
/// read / simulate split and the peak memory after each.
fn lean_scale_run(trace: &str) {
    let (prepared, read) = prepare_scale_run(trace);
    let read_peak = peak_rss_mib().unwrap_or(f64::NAN);
    let started = Instant::now();
    let summary = cellsim::run::summary(&prepared.scenario, "hived").expect("known model");
    let simulate = started.elapsed();
    println!(
        "{} jobs: read {:.3} s (peak {read_peak:.0} MiB), run_summary {:.3} s (peak {:.0} MiB); \
         {} finished, utilisation {:.4}",
        prepared.scenario.jobs.len(),
        read.as_secs_f64(),
        simulate.as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN),
        summary.overall.finished,
        summary.utilisation,
    );
}

/// The streamed summary path at scale: like [`lean_scale_run`], but the trace is read
/// row by row for the run (after a sizing and a counting pass) and nothing per job is
/// kept except its wait and JCT.
fn streamed_scale_run(trace: &str) {
    let options = scale_options(trace);
    let started = Instant::now();
    let streamed = prepare_streamed(&options)
        .expect("the trace and cluster read")
        .expect("the trace is in submit order");
    let read = started.elapsed();
    let read_peak = peak_rss_mib().unwrap_or(f64::NAN);
    let started = Instant::now();
    let (header, sink) = streamed
        .run("hived", SummarySink::default(), &|_, _| {})
        .expect("the run reads the trace");
    let summary = sink.summary(&header);
    let simulate = started.elapsed();
    println!(
        "{} jobs, streamed: read passes {:.3} s (peak {read_peak:.0} MiB), run {:.3} s \
         (peak {:.0} MiB); {} finished, utilisation {:.4}",
        streamed.jobs,
        read.as_secs_f64(),
        simulate.as_secs_f64(),
        peak_rss_mib().unwrap_or(f64::NAN),
        summary.overall.finished,
        summary.utilisation,
    );
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --benches`: nothing to smoke-test without minutes to spare
    }
    if let Ok(trace) = std::env::var("CELLSIM_BENCH_TRACE") {
        if std::env::var_os("CELLSIM_BENCH_FULL").is_some() {
            let (prepared, read) = prepare_scale_run(&trace);
            full_runs(&prepared.scenario, read, &["hived"]);
        } else if std::env::var_os("CELLSIM_BENCH_STREAM").is_some() {
            streamed_scale_run(&trace);
        } else {
            lean_scale_run(&trace);
        }
        return;
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
    full_runs(scenario, read, &MODEL_NAMES);
}

/// Per model: simulate, write every report as the CLI does, then the lean summary; the
/// split and the peak memory after the reports.
fn full_runs(scenario: &Scenario, read: Duration, models: &[&str]) {
    let out_dir = std::env::temp_dir().join(format!("cellsim-replay-bench-{}", std::process::id()));
    for &model in models {
        let started = Instant::now();
        let result = run_model(scenario, model).expect("known model");
        let simulate = started.elapsed();
        // What `cellsim replay` does after a run: every file of the model's folder
        // (the large ones streamed to disk) and report.html.
        let started = Instant::now();
        let dir = out_dir.join(model);
        let (summary, page) = report::write_run_with_page(&dir, &result).expect("writable");
        let html = report::page_export(&scenario.name, std::slice::from_ref(&page), "");
        report::write_exports(&out_dir, std::slice::from_ref(&html)).expect("writable");
        let reports = started.elapsed();
        let bytes: u64 = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .sum::<u64>()
            + html.bytes.len() as u64;
        black_box(&summary);
        let events = result.events.len();
        let peak_after_reports = peak_rss_mib().unwrap_or(f64::NAN);
        drop(result);
        drop(page);
        // The sweep path: the same summary without the log or the timeline.
        let started = Instant::now();
        let lean = cellsim::run::summary(scenario, model).expect("known model");
        let lean_time = started.elapsed();
        assert_eq!(lean, summary, "run_summary must equal summarize(run_model)");
        println!(
            "{model:8} simulate {:.3} s ({events} log events), reports written {:.3} s ({:.1} MB), \
             total with read {:.3} s; peak {:.0} MiB; run_summary {:.3} s",
            simulate.as_secs_f64(),
            reports.as_secs_f64(),
            bytes as f64 / 1e6,
            (read + simulate + reports).as_secs_f64(),
            peak_after_reports,
            lean_time.as_secs_f64(),
        );
    }
    let _ = std::fs::remove_dir_all(&out_dir);
}
