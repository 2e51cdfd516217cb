//! The synthetic trace generator (issue 4, `gen-trace`): determinism, the Philly-fitted
//! defaults against the constants and against the real trace, target load, diurnal
//! cycle, YAML specs and streaming. `generated_trace_is_close_to_philly` prints the fit
//! tables quoted in `reports/2026-11-25-gen-trace-fit/README.md` (run it with
//! `--nocapture`).

use std::collections::BTreeMap;

use cellsim::workload::TraceJob;
use cellsim::workload::generate::{
    Arrival, Diurnal, DurationDist, GenSpec, PHILLY_DIURNAL_AMPLITUDE, PHILLY_DIURNAL_PEAK_HOUR,
    PHILLY_DURATION_1, PHILLY_DURATION_2, PHILLY_DURATION_4, PHILLY_DURATION_8,
    PHILLY_DURATION_MORE, PHILLY_GPU_COUNTS, PHILLY_HOURLY_JOBS, PHILLY_JOBS_PER_HOUR,
    PHILLY_VC_JOBS, SizeClass, generate,
};

use crate::common::shared;

fn philly_jobs(jobs: u64, seed: u64) -> Vec<TraceJob> {
    let spec = GenSpec {
        jobs: Some(jobs),
        seed,
        ..GenSpec::philly()
    };
    generate(&spec).unwrap().collect()
}

/// Type-7 quantile (linear between order statistics) of sorted values, as fit.py does.
fn quantile(sorted: &[f64], p: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * p;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo])
}

fn class_of(gpus: u32) -> usize {
    match gpus {
        1 => 0,
        2 => 1,
        4 => 2,
        8 => 3,
        _ => 4,
    }
}

const CLASS_NAMES: [&str; 5] = ["1", "2", "4", "8", ">8"];
const TABLES: [&[(f64, f64)]; 5] = [
    &PHILLY_DURATION_1,
    &PHILLY_DURATION_2,
    &PHILLY_DURATION_4,
    &PHILLY_DURATION_8,
    &PHILLY_DURATION_MORE,
];

fn philly_total_jobs() -> f64 {
    PHILLY_GPU_COUNTS.iter().map(|g| g.1).sum::<u64>() as f64
}

#[test]
fn generated_shares_and_medians_match_the_constants() {
    let jobs = philly_jobs(50_000, 42);
    assert_eq!(jobs.len(), 50_000);
    let total = philly_total_jobs();
    let mut per_gpus: BTreeMap<u32, u64> = BTreeMap::new();
    let mut durations: Vec<Vec<f64>> = vec![Vec::new(); 5];
    let mut per_vc: BTreeMap<&str, u64> = BTreeMap::new();
    for job in &jobs {
        *per_gpus.entry(job.gpus).or_default() += 1;
        durations[class_of(job.gpus)].push(job.duration_ms as f64 / 1000.0);
        *per_vc.entry(job.vc.as_str()).or_default() += 1;
    }
    for (gpus, count) in PHILLY_GPU_COUNTS.iter().take(4) {
        let want = *count as f64 / total;
        let got = per_gpus[gpus] as f64 / jobs.len() as f64;
        assert!((got - want).abs() < 0.004, "{gpus} GPUs: {got} vs {want}");
    }
    // Medians: 1-GPU jobs (about 46,600) within 5%, the smaller classes within 20%.
    for (class, sizes) in durations.iter_mut().enumerate().take(4) {
        sizes.sort_by(f64::total_cmp);
        let median = quantile(sizes, 0.5);
        let want = TABLES[class][7].1;
        let tolerance = if class == 0 { 0.05 } else { 0.2 };
        assert!(
            (median / want - 1.0).abs() < tolerance,
            "{} GPUs: median {median} vs {want}",
            CLASS_NAMES[class]
        );
    }
    let vc_total: u64 = PHILLY_VC_JOBS.iter().map(|v| v.1).sum();
    for (vc, count) in PHILLY_VC_JOBS {
        let want = count as f64 / vc_total as f64;
        let got = per_vc.get(vc).copied().unwrap_or(0) as f64 / jobs.len() as f64;
        assert!((got - want).abs() < 0.006, "{vc}: {got} vs {want}");
    }
    let hours = jobs.last().unwrap().submit_ms as f64 / 3_600_000.0;
    let rate = jobs.len() as f64 / hours;
    assert!(
        (rate / PHILLY_JOBS_PER_HOUR - 1.0).abs() < 0.03,
        "{rate} jobs/h"
    );
}

/// Seconds since 1970-01-01 of `YYYY-MM-DD hh:mm:ss` (the trace's local time, no zone).
fn seconds(stamp: &str) -> i64 {
    let n = |range: std::ops::Range<usize>| stamp[range].parse::<i64>().unwrap();
    let (y, m, d) = (n(0..4), n(5..7), n(8..10));
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + n(11..13) * 3600 + n(14..16) * 60 + n(17..19)
}

/// The real trace as (submit s, duration s, gpus, vc).
fn philly_rows() -> Option<Vec<(i64, f64, u32, String)>> {
    let path = shared("traces/philly/philly.csv")?;
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                seconds(&r[0]),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
                r[4].to_string(),
            )
        })
        .collect();
    Some(rows)
}

#[test]
fn constants_match_the_philly_trace() {
    let Some(rows) = philly_rows() else {
        return;
    };
    assert_eq!(rows.len() as f64, philly_total_jobs());
    let mut gpus: BTreeMap<u32, u64> = BTreeMap::new();
    let mut vcs: BTreeMap<String, u64> = BTreeMap::new();
    let mut durations: Vec<Vec<f64>> = vec![Vec::new(); 5];
    let (mut cos, mut sin) = (0.0, 0.0);
    let mut hourly = [0u64; 24];
    for (t, d, g, vc) in &rows {
        hourly[(t.rem_euclid(86_400) / 3600) as usize] += 1;
        *gpus.entry(*g).or_default() += 1;
        *vcs.entry(vc.clone()).or_default() += 1;
        durations[class_of(*g)].push(*d);
        let angle = 2.0 * std::f64::consts::PI * (t.rem_euclid(86_400) as f64 / 3600.0) / 24.0;
        cos += angle.cos();
        sin += angle.sin();
    }
    let table: BTreeMap<u32, u64> = PHILLY_GPU_COUNTS.into_iter().collect();
    assert_eq!(gpus, table);
    let vc_table: BTreeMap<String, u64> = PHILLY_VC_JOBS
        .iter()
        .map(|(k, v)| (k.to_string(), *v))
        .collect();
    assert_eq!(vcs, vc_table);
    assert_eq!(hourly, PHILLY_HOURLY_JOBS);
    for (class, values) in durations.iter_mut().enumerate() {
        values.sort_by(f64::total_cmp);
        for &(p, knot) in TABLES[class] {
            let got = quantile(values, p);
            assert!(
                (got - knot).abs() <= 0.05 + 1e-6 * knot,
                "class {}: p{p}: trace {got} vs constant {knot}",
                CLASS_NAMES[class]
            );
        }
    }
    let first = rows.iter().map(|r| r.0).min().unwrap();
    let last = rows.iter().map(|r| r.0).max().unwrap();
    let rate = rows.len() as f64 / ((last - first) as f64 / 3600.0);
    assert!((rate - PHILLY_JOBS_PER_HOUR).abs() < 0.001, "{rate}");
    let n = rows.len() as f64;
    let amplitude = 2.0 * (cos / n).hypot(sin / n);
    let peak = (sin.atan2(cos) * 24.0 / (2.0 * std::f64::consts::PI)).rem_euclid(24.0);
    assert!(
        (amplitude - PHILLY_DIURNAL_AMPLITUDE).abs() < 0.001,
        "{amplitude}"
    );
    assert!((peak - PHILLY_DIURNAL_PEAK_HOUR).abs() < 0.01, "{peak}");
}

/// One row of a markdown table comparing trace and generated values.
fn row(what: &str, trace: f64, generated: f64) -> String {
    let ratio = if trace == 0.0 {
        f64::NAN
    } else {
        generated / trace
    };
    format!("| {what} | {trace:.1} | {generated:.1} | {ratio:.3} |")
}

#[test]
fn generated_trace_is_close_to_philly() {
    let Some(rows) = philly_rows() else {
        return;
    };
    // As many jobs as the trace, default seed 0: what `gen-trace --jobs 82247` gives.
    let jobs = philly_jobs(rows.len() as u64, 0);
    let mut lines = vec![
        "| statistic | Philly trace | generated | generated / trace |".to_string(),
        "|---|---|---|---|".to_string(),
    ];
    let mut trace_d: Vec<f64> = rows.iter().map(|r| r.1).collect();
    let mut gen_d: Vec<f64> = jobs.iter().map(|j| j.duration_ms as f64 / 1000.0).collect();
    trace_d.sort_by(f64::total_cmp);
    gen_d.sort_by(f64::total_cmp);
    for p in [0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99] {
        lines.push(row(
            &format!("duration p{} (s), all jobs", p * 100.0),
            quantile(&trace_d, p),
            quantile(&gen_d, p),
        ));
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    lines.push(row("duration mean (s)", mean(&trace_d), mean(&gen_d)));
    for (class, name) in CLASS_NAMES.iter().enumerate() {
        let mut t: Vec<f64> = rows
            .iter()
            .filter(|r| class_of(r.2) == class)
            .map(|r| r.1)
            .collect();
        let mut g: Vec<f64> = jobs
            .iter()
            .filter(|j| class_of(j.gpus) == class)
            .map(|j| j.duration_ms as f64 / 1000.0)
            .collect();
        t.sort_by(f64::total_cmp);
        g.sort_by(f64::total_cmp);
        lines.push(row(
            &format!("{name}-GPU jobs: share (%)"),
            100.0 * t.len() as f64 / rows.len() as f64,
            100.0 * g.len() as f64 / jobs.len() as f64,
        ));
        lines.push(row(
            &format!("{name}-GPU jobs: median duration (s)"),
            quantile(&t, 0.5),
            quantile(&g, 0.5),
        ));
        lines.push(row(
            &format!("{name}-GPU jobs: p90 duration (s)"),
            quantile(&t, 0.9),
            quantile(&g, 0.9),
        ));
    }
    let trace_gd = rows.iter().map(|r| r.1 * f64::from(r.2)).sum::<f64>() / rows.len() as f64;
    let gen_gd = jobs
        .iter()
        .map(|j| j.duration_ms as f64 / 1000.0 * f64::from(j.gpus))
        .sum::<f64>()
        / jobs.len() as f64;
    lines.push(row("GPU-seconds per job, mean", trace_gd, gen_gd));
    let spec_gd = GenSpec::philly().mean_gpu_seconds();
    let first = rows.iter().map(|r| r.0).min().unwrap();
    let last = rows.iter().map(|r| r.0).max().unwrap();
    let trace_rate = rows.len() as f64 / ((last - first) as f64 / 3600.0);
    let gen_rate = jobs.len() as f64 / (jobs.last().unwrap().submit_ms as f64 / 3_600_000.0);
    lines.push(row("jobs per hour", trace_rate, gen_rate));
    // Share of jobs submitted per 6-hour block of the day.
    let block_share = |hours: &mut dyn Iterator<Item = f64>| {
        let mut blocks = [0.0f64; 4];
        let mut n = 0.0;
        for h in hours {
            blocks[(h / 6.0) as usize % 4] += 1.0;
            n += 1.0;
        }
        blocks.map(|b| 100.0 * b / n)
    };
    let t_blocks = block_share(&mut rows.iter().map(|r| r.0.rem_euclid(86_400) as f64 / 3600.0));
    let g_blocks = block_share(
        &mut jobs
            .iter()
            .map(|j| (j.submit_ms % 86_400_000) as f64 / 3_600_000.0),
    );
    for (i, (t, g)) in t_blocks.iter().zip(g_blocks).enumerate() {
        lines.push(row(
            &format!("jobs submitted {:02}:00-{:02}:00 (%)", i * 6, i * 6 + 6),
            *t,
            g,
        ));
    }
    println!("{}", lines.join("\n"));
    println!("model mean GPU-seconds per job (closed form): {spec_gd:.0}");

    // The fit: medians of the big classes, the overall quantiles, load and rate.
    for p in [0.25, 0.5, 0.75, 0.9] {
        let ratio = quantile(&gen_d, p) / quantile(&trace_d, p);
        assert!((0.85..1.15).contains(&ratio), "p{p}: ratio {ratio}");
    }
    assert!(
        (spec_gd / trace_gd - 1.0).abs() < 0.06,
        "model {spec_gd} vs trace {trace_gd}"
    );
    assert!(
        (gen_rate / trace_rate - 1.0).abs() < 0.02,
        "{gen_rate} vs {trace_rate}"
    );
    for (t, g) in t_blocks.iter().zip(g_blocks) {
        assert!((t - g).abs() < 3.0, "{t_blocks:?} vs {g_blocks:?}");
    }
}

#[test]
fn target_load_is_met_on_average() {
    // A light-tailed spec, so that 50,000 jobs measure the mean closely.
    let spec = GenSpec {
        jobs: Some(50_000),
        seed: 3,
        arrival: Arrival::load(0.8, 200),
        diurnal: Diurnal::flat(),
        sizes: vec![SizeClass {
            gpus: [(1, 3.0), (4, 1.0)].into_iter().collect(),
            duration: DurationDist::LogNormal {
                median_s: 600.0,
                sigma: 0.5,
            },
        }],
        ..GenSpec::philly()
    };
    // E[gpus] = 1.75, E[duration] = 600 e^(0.125): rate = 0.8 * 200 / (1.75 * 679.9) per s.
    let expected_rate = 0.8 * 200.0 * 3600.0 / (1.75 * 600.0 * (0.125f64).exp());
    assert!((spec.jobs_per_hour().unwrap() / expected_rate - 1.0).abs() < 1e-9);
    let jobs: Vec<TraceJob> = generate(&spec).unwrap().collect();
    let span_s = jobs.last().unwrap().submit_ms as f64 / 1000.0;
    let gpu_s: f64 = jobs
        .iter()
        .map(|j| j.duration_ms as f64 / 1000.0 * f64::from(j.gpus))
        .sum();
    let load = gpu_s / span_s / 200.0;
    assert!((load - 0.8).abs() < 0.02, "offered load {load}");
}

#[test]
fn the_diurnal_cycle_shapes_arrivals() {
    let spec = GenSpec {
        jobs: Some(20_000),
        diurnal: Diurnal {
            amplitude: 0.9,
            peak_hour: 12.0,
            hourly: None,
        },
        ..GenSpec::philly()
    };
    let mut noon = 0u32;
    let mut midnight = 0u32;
    for job in generate(&spec).unwrap() {
        let hour = (job.submit_ms / 3_600_000) % 24;
        match hour {
            10..=13 => noon += 1,
            22 | 23 | 0 | 1 => midnight += 1,
            _ => {}
        }
    }
    // The rate at noon is (1 + 0.9) / (1 - 0.9) = 19 times the rate at midnight; over the
    // four hours around each it is still more than 8 times.
    assert!(noon > 8 * midnight, "noon {noon}, midnight {midnight}");
}

#[test]
fn a_million_jobs_stream_in_order() {
    let spec = GenSpec {
        jobs: Some(1_000_000),
        ..GenSpec::philly()
    };
    let mut last = 0;
    let mut count = 0u64;
    for job in generate(&spec).unwrap() {
        assert!(job.submit_ms >= last);
        last = job.submit_ms;
        count += 1;
    }
    assert_eq!(count, 1_000_000);
    // About 31.5 jobs an hour: roughly 3.6 years of trace.
    let years = last as f64 / (365.0 * 86_400_000.0);
    assert!((3.4..3.9).contains(&years), "{years}");
}

#[test]
fn specs_load_from_yaml_with_philly_defaults_for_the_rest() {
    let text = r#"
jobs: 1000
seed: 7
arrival: {load: 0.8, cluster_gpus: 256}
diurnal: {amplitude: 0.3, peak_hour: 14}
max_gpus: 4
sizes:
  - gpus: {1: 90, 2: 5}
    duration: {log_normal: {median_s: 1200, sigma: 2.0}}
  - gpus: {4: 3, 8: 2}
    duration: {empirical: [[0, 60], [0.5, 20000], [1, 500000]]}
vcs: {prod: 3, research: 1, 6214e9: 1}
gpu_types: {V100: 1, K80: 1}
priority: -1
id_prefix: "syn-"
"#;
    let spec = GenSpec::from_yaml_str(text, "spec.yaml").unwrap();
    assert_eq!(spec.sizes.len(), 2);
    assert!(spec.vcs.contains_key("6214e9"), "{:?}", spec.vcs);
    let jobs: Vec<TraceJob> = generate(&spec).unwrap().collect();
    assert_eq!(jobs.len(), 1000);
    assert!(
        jobs.iter()
            .all(|j| j.gpus <= 4 && j.priority == -1 && j.gpu_type.is_some())
    );
    assert_eq!(jobs[0].id, "syn-0");

    let partial = GenSpec::from_yaml_str("jobs: 5\ndiurnal: {amplitude: 0}\n", "p.yaml").unwrap();
    assert_eq!(partial.diurnal.peak_hour, PHILLY_DIURNAL_PEAK_HOUR);
    assert_eq!(
        partial.diurnal.hourly, None,
        "a diurnal mapping means the sinusoid"
    );
    let unset = GenSpec::from_yaml_str("jobs: 5\n", "p.yaml").unwrap();
    assert_eq!(unset.diurnal, Diurnal::philly());
    assert_eq!(partial.sizes, GenSpec::philly().sizes);

    let defaults = GenSpec {
        jobs: Some(10),
        ..GenSpec::philly()
    };
    let back = GenSpec::from_yaml_str(&defaults.to_yaml(), "round-trip").unwrap();
    assert_eq!(back, defaults);
}

#[test]
fn yaml_errors_name_the_field() {
    let err = GenSpec::from_yaml_str("jobs: 5\ndiurnal: {amplitud: 0.2}\n", "s.yaml").unwrap_err();
    assert_eq!(err.field, "diurnal.amplitud");
    assert!(
        err.to_string()
            .starts_with("s.yaml: diurnal.amplitud: line 2"),
        "{err}"
    );
    assert!(err.message.contains("unknown field `amplitud`"), "{err}");

    let err = GenSpec::from_yaml_str(
        "sizes: [{gpus: {1: 1}, duration: {weibull: {k: 1}}}]\n",
        "s.yaml",
    )
    .unwrap_err();
    assert_eq!(err.field, "sizes[0].duration.weibull");
    assert!(err.message.contains("unknown field `weibull`"), "{err}");

    let err =
        GenSpec::from_yaml_str("sizes: [{gpus: {1: 1}, duration: {}}]\n", "s.yaml").unwrap_err();
    assert_eq!(err.field, "sizes[0].duration");
    assert!(
        err.message.contains("give exactly one of log_normal"),
        "{err}"
    );

    let spec = GenSpec::from_yaml_str(
        "jobs: 5\nsizes: [{gpus: {1: 1}, duration: {empirical: [[0, 10], [0.5, 5], [1, 20]]}}]\n",
        "s.yaml",
    )
    .unwrap();
    let err = generate(&spec).unwrap_err().to_string();
    assert!(err.contains("sizes[0].duration: knots 0 and 1"), "{err}");
}
