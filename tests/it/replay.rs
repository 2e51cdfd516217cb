//! Trace replay end to end: the full Philly trace on its machine list under every model
//! (every job accounted for, GPU time conserved, capacity never exceeded), and the
//! `cellsim replay` / `cellsim gen-trace` commands on the project's own small files.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use cellsim::replay::{ReplayOptions, prepare};
use cellsim::report;
use cellsim::sched::MODEL_NAMES;
use cellsim::sim::{JobOutcome, run_model};

use crate::common::shared;

fn cellsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
}

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cellsim-replay-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The issue's acceptance run: philly.csv (82,247 rows, 65 duplicates) on the 2,490-GPU
/// machine list with the trace's 15 VCs, under hived, yarn-cs and fifo.
#[test]
fn full_philly_replay_accounts_for_every_job_under_every_model() {
    let (Some(machines), Some(trace)) = (
        shared("traces/philly/cluster_machine_list"),
        shared("traces/philly/philly.csv"),
    ) else {
        return;
    };
    let prepared = prepare(&ReplayOptions {
        cluster: machines.display().to_string(),
        trace,
        ..ReplayOptions::default()
    })
    .unwrap();
    let scenario = &prepared.scenario;
    assert_eq!(prepared.ingest.jobs_read, 82_247);
    assert_eq!(prepared.ingest.count("duplicate row (dropped)"), 65);
    assert_eq!(scenario.jobs.len(), 82_247 - 65);
    assert_eq!(scenario.config.virtual_clusters.len(), 15);
    let sizing = prepared.vc_sizing.as_ref().unwrap();
    assert_eq!(sizing.cluster_gpus, 2_490);
    assert!(sizing.guaranteed_gpus() <= 2_490);

    let asked: BTreeMap<&str, u64> = scenario
        .jobs
        .iter()
        .map(|j| (j.id.as_str(), u64::from(j.gpus()) * j.duration_ms))
        .collect();
    for model in MODEL_NAMES {
        let result = run_model(scenario, model).unwrap();
        assert_eq!(result.jobs.len(), scenario.jobs.len(), "{model}");
        let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
        for job in &result.jobs {
            *outcomes.entry(format!("{:?}", job.outcome)).or_default() += 1;
            // A job that finished without being interrupted used exactly what it asked.
            if job.outcome == JobOutcome::Finished && job.preemptions == 0 {
                assert_eq!(job.gpu_ms, asked[job.id.as_str()], "{model}: {}", job.id);
            }
            if job.outcome == JobOutcome::Finished {
                assert!(job.gpu_ms >= asked[job.id.as_str()], "{model}: {}", job.id);
            }
        }
        assert_eq!(
            outcomes.values().sum::<usize>(),
            scenario.jobs.len(),
            "{model}: {outcomes:?}"
        );
        for point in &result.timeline {
            let busy: u32 = point.busy_by_vc.values().sum();
            assert!(busy <= point.capacity_gpus, "{model} at {} ms", point.t);
        }
        let summary = report::summarize(&result);
        // GPU time used (timeline integral) equals what the jobs were charged.
        let charged: u64 = result.jobs.iter().map(|j| j.gpu_ms).sum();
        assert_eq!(summary.gpu_ms_used, charged, "{model}");
        println!(
            "{model}: {outcomes:?}, utilisation {:.1}%, mean wait {} ms",
            summary.utilisation * 100.0,
            summary.overall.wait_ms.map_or(0, |w| w.mean)
        );
    }
}

#[test]
fn cli_replays_a_native_trace_on_a_synthetic_spec_and_reports_what_it_set_aside() {
    let trace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/example.csv");
    let out = out_dir("spec");
    let output = cellsim()
        .args([
            "replay",
            "--cluster",
            "2x V100x8 rack=2; 4x K80x4 rack=4",
            "--trace",
        ])
        .arg(&trace)
        .args(["--model", "hived,fifo", "-q", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("rows read as jobs"), "{stderr}");
    for model in ["hived", "fifo"] {
        for file in [
            "jobs.csv",
            "vcs.csv",
            "timeline.csv",
            "events.log",
            "summary.json",
        ] {
            assert!(out.join(model).join(file).is_file(), "{model}/{file}");
        }
    }
    assert!(!out.join("yarn-cs").exists());
    let ingest = std::fs::read_to_string(out.join("ingest.txt")).unwrap();
    assert!(
        ingest.contains("VCs sized from the trace's GPU-time"),
        "{ingest}"
    );
    assert!(out.join("report.html").is_file());
}

#[test]
fn cli_replay_rejects_a_bad_spec_and_an_unknown_model_with_exit_1() {
    let trace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces/example.csv");
    let output = cellsim()
        .args(["replay", "--cluster", "2x V100 rack=2", "--trace"])
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("2x V100 rack=2"), "{stderr}");

    let output = cellsim()
        .args([
            "replay",
            "--cluster",
            "2x V100x8",
            "--model",
            "slurm",
            "--trace",
        ])
        .arg(&trace)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown scheduler model \"slurm\""),
        "{stderr}"
    );
}

/// gen-trace is deterministic, and what it writes replays.
#[test]
fn generated_traces_are_reproducible_and_replay() {
    let dir = out_dir("gen");
    std::fs::create_dir_all(&dir).unwrap();
    let (a, b) = (dir.join("a.csv"), dir.join("b.csv"));
    for path in [&a, &b] {
        let status = cellsim()
            .args(["gen-trace", "--jobs", "500", "--seed", "7", "--out"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }
    let text = std::fs::read_to_string(&a).unwrap();
    assert_eq!(text, std::fs::read_to_string(&b).unwrap());
    assert_eq!(text.lines().count(), 501, "header + 500 jobs");
    let prepared = prepare(&ReplayOptions {
        cluster: "8x V100x8 rack=4; 16x K80x2 rack=8".to_string(),
        trace: a,
        models: vec!["hived".to_string()],
        ..ReplayOptions::default()
    })
    .unwrap();
    let accepted = prepared.scenario.jobs.len() as u64;
    let set_aside: u64 = prepared.ingest.issues.values().map(|t| t.count).sum();
    assert!(accepted > 0 && accepted <= 500, "{accepted}");
    assert!(accepted + set_aside >= 500, "{accepted} + {set_aside}");
    let result = run_model(&prepared.scenario, "hived").unwrap();
    assert_eq!(result.jobs.len() as u64, accepted);
}

/// The same replay through a scenario file: it runs on a fresh clone, a flag overrides
/// its models, and an unknown key is named with the keys it could have been.
#[test]
fn replay_scenario_files_run_and_name_unknown_keys() {
    let scenario = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/replay/example.yaml");
    let out = out_dir("scenario");
    let output = cellsim()
        .args(["replay", "-q", "--model", "fifo", "--scenario"])
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("fifo/jobs.csv").is_file());
    assert!(
        !out.join("hived").exists(),
        "--model overrides the file's models"
    );
    let jobs = std::fs::read_to_string(out.join("fifo/jobs.csv")).unwrap();
    assert_eq!(
        jobs.lines().count(),
        21,
        "header + the 20 jobs of traces/example.csv"
    );

    let options = cellsim::replay::options_from_file(&scenario).unwrap();
    assert_eq!(options.models, ["hived", "yarn-cs", "fifo"]);
    assert!(options.trace.ends_with("traces/example.csv"));

    let err = cellsim::replay::options_from_str(
        "cluster: \"1x V100x8\"\ntrace: t.csv\nmodel: [hived]\n",
        std::path::Path::new("bad.yaml"),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("unknown field `model`"), "{err}");
    assert!(err.contains("`models`"), "{err}");
}

/// Runs `cellsim replay` with `args`; returns (success, stdout, stderr).
fn replay_cli(args: &[&str]) -> (bool, String, String) {
    let out = cellsim().arg("replay").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `DIR/jobs.csv`: `jobs` jobs from `cellsim gen-trace` (in submit order) with `seed`.
fn generated_trace(dir: &std::path::Path, jobs: u32, seed: u64) -> PathBuf {
    let trace = dir.join("jobs.csv");
    let generated = cellsim()
        .args([
            "gen-trace",
            "--jobs",
            &jobs.to_string(),
            "--seed",
            &seed.to_string(),
        ])
        .arg("--out")
        .arg(&trace)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{generated:?}");
    trace
}

/// Replays `trace` on `cluster` twice, into `DIR/full` with every report and into
/// `DIR/lean` with `--summary-only`; both must succeed. Returns the two folders and the
/// summary-only run's stdout and stderr.
fn full_and_summary_only(
    dir: &std::path::Path,
    cluster: &str,
    trace: &std::path::Path,
) -> (PathBuf, PathBuf, String, String) {
    let (full, lean) = (dir.join("full"), dir.join("lean"));
    let common = [
        "--cluster",
        cluster,
        "--trace",
        trace.to_str().unwrap(),
        "-q",
    ];
    let (ok, _, err) = replay_cli(&[&common[..], &["--out", full.to_str().unwrap()]].concat());
    assert!(ok, "{err}");
    let (ok, stdout, err) = replay_cli(
        &[
            &common[..],
            &["--summary-only", "--out", lean.to_str().unwrap()],
        ]
        .concat(),
    );
    assert!(ok, "{err}");
    (full, lean, stdout, err)
}

/// `--summary-only` on a sorted trace (gen-trace's) streams it, and gives the same
/// summary.json, vcs.csv and ingest notes as the full replay, without the other files.
#[test]
fn summary_only_streams_a_sorted_trace_and_matches_the_full_replay() {
    let dir = crate::common::scratch("replay", "summary-only-sorted");
    let trace = generated_trace(&dir, 3000, 7);
    let cluster = "12x V100x8 rack=4";
    let (full, lean, stdout, _) = full_and_summary_only(&dir, cluster, &trace);
    assert!(
        stdout.contains("3000 jobs, 3 models (trace streamed)"),
        "{stdout}"
    );
    let read = |p: PathBuf| std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    for model in MODEL_NAMES {
        for file in ["summary.json", "vcs.csv"] {
            assert_eq!(
                read(lean.join(model).join(file)),
                read(full.join(model).join(file)),
                "{model}/{file}"
            );
        }
        assert!(!lean.join(model).join("jobs.csv").exists());
        assert!(!lean.join(model).join("events.log").exists());
    }
    assert_eq!(read(lean.join("ingest.txt")), read(full.join("ingest.txt")));
    // The run queued jobs (load above the 96 GPUs), so the summary is not trivial.
    let summary: report::RunSummary =
        serde_json::from_slice(&read(lean.join("fifo/summary.json"))).unwrap();
    assert!(summary.overall.wait_ms.unwrap().p95 > 0);
}

/// A trace out of submit order cannot be streamed: `--summary-only` says so, sorts it in
/// memory, and still gives the full replay's summary. `--sharing` needs the full run.
#[test]
fn summary_only_sorts_an_unsorted_trace_and_refuses_sharing() {
    let dir = crate::common::scratch("replay", "summary-only-unsorted");
    let trace = dir.join("unsorted.csv");
    std::fs::write(
        &trace,
        "id,submit_s,duration_s,gpus,vc\n\
         a,60,600,8,prod\nb,0,900,4,dev\nc,30,300,8,prod\nd,10,1200,2,dev\n",
    )
    .unwrap();
    let (full, lean, stdout, err) = full_and_summary_only(&dir, "2x V100x8", &trace);
    assert!(err.contains("not in submit order"), "{err}");
    assert!(!stdout.contains("streamed"), "{stdout}");
    for model in MODEL_NAMES {
        assert_eq!(
            std::fs::read(lean.join(model).join("summary.json")).unwrap(),
            std::fs::read(full.join(model).join("summary.json")).unwrap(),
            "{model}"
        );
    }
    let (ok, _, err) = replay_cli(&[
        "--cluster",
        "2x V100x8",
        "--trace",
        trace.to_str().unwrap(),
        "--summary-only",
        "--sharing",
    ]);
    assert!(!ok);
    assert!(
        err.contains("--sharing") && err.contains("--summary-only"),
        "{err}"
    );
}

/// `cellsim replay` writes its reports as each run goes, without keeping the run. They
/// must be the files the whole-run writer makes of the same runs, byte for byte: here on
/// a trace long enough that the utilisation plot averages its steps (read back from
/// timeline.csv) and the Gantt chart shows only the first 3,000 of its group runs.
#[test]
fn streamed_reports_equal_the_reports_of_the_whole_run() {
    let dir = crate::common::scratch("replay", "streamed-reports");
    let trace = generated_trace(&dir, 5000, 11);
    let cluster = "12x V100x8 rack=4";
    let streamed = dir.join("streamed");
    let (ok, stdout, err) = replay_cli(&[
        "--cluster",
        cluster,
        "--trace",
        trace.to_str().unwrap(),
        "-q",
        "--out",
        streamed.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(stdout.contains("(trace streamed)"), "{stdout}");

    let prepared = prepare(&ReplayOptions {
        cluster: cluster.to_string(),
        trace: trace.clone(),
        ..ReplayOptions::default()
    })
    .unwrap();
    let whole = dir.join("whole");
    let mut pages = Vec::new();
    let mut rejections = Vec::new();
    for model in MODEL_NAMES {
        let run = run_model(&prepared.scenario, model).unwrap();
        let (_, page) = report::write_run_with_page(&whole.join(model), &run).unwrap();
        pages.push(page);
        rejections.push(cellsim::run::rejections_of(&run));
        for file in report::RUN_FILES {
            let read = |root: &PathBuf| std::fs::read(root.join(model).join(file)).unwrap();
            assert!(
                read(&streamed) == read(&whole),
                "{model}/{file} differs between the streamed and the whole-run reports"
            );
        }
        // The long-run paths were taken: averaged steps (fifo's queue moves most often)
        // and, for a run too large for a Gantt chart, the occupancy map (issue 16).
        if model == "fifo" {
            assert!(run.timeline.len() > report::busy::MAX_PLOT_STEPS);
        }
        let gantt = std::fs::read_to_string(streamed.join(model).join("gantt.svg")).unwrap();
        assert!(gantt.contains("Occupancy: "), "{model}");
    }
    // The page also says which jobs each model rejected.
    let extra = report::rejections::rejections_html(&rejections);
    let page = report::page_export(&prepared.scenario.name, &pages, &extra);
    assert!(std::fs::read(streamed.join("report.html")).unwrap() == page.bytes);
}

/// `--jobs` runs the models at the same time; what they write and print is the same as
/// when they run one after another, for a streamed trace and for a sorted-in-memory one.
#[test]
fn models_run_at_once_write_what_they_write_one_after_another() {
    let dir = crate::common::scratch("replay", "jobs");
    let sorted = generated_trace(&dir, 2000, 11);
    // The same jobs, last row first: not in submit order, so read into memory and sorted.
    let text = std::fs::read_to_string(&sorted).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let last = lines.pop().unwrap();
    lines.insert(1, last);
    let unsorted = dir.join("unsorted.csv");
    std::fs::write(&unsorted, lines.join("\n") + "\n").unwrap();
    for (name, trace) in [("streamed", &sorted), ("in-memory", &unsorted)] {
        let run = |jobs: &str| {
            let out = dir.join(format!("{name}-{jobs}"));
            let (ok, stdout, err) = replay_cli(&[
                "--cluster",
                "10x V100x8 rack=5",
                "--trace",
                trace.to_str().unwrap(),
                "--jobs",
                jobs,
                "-q",
                "--out",
                out.to_str().unwrap(),
            ]);
            assert!(ok, "{err}");
            (
                crate::common::files_under(&out),
                stdout.replace(out.to_str().unwrap(), "OUT"),
            )
        };
        let (one, one_stdout) = run("1");
        let (three, three_stdout) = run("3");
        assert_eq!(one.len(), three.len(), "{name}: same files");
        for ((path, a), (other, b)) in one.iter().zip(&three) {
            assert_eq!(path, other, "{name}: same files");
            assert!(a == b, "{name}: {} differs with --jobs 3", path.display());
        }
        assert_eq!(one_stdout, three_stdout, "{name}: same summary printed");
        assert_eq!(
            one_stdout.contains("(trace streamed)"),
            name == "streamed",
            "{one_stdout}"
        );
        let models = one
            .iter()
            .filter(|(p, _)| p.ends_with("summary.json"))
            .count();
        assert_eq!(models, 3, "{name}: one summary per model");
    }
    let (ok, _, err) = replay_cli(&["--cluster", "2x V100x8", "--trace", "t.csv", "--jobs", "0"]);
    assert!(!ok && err.contains("--jobs"), "{err}");
}

/// A replay scenario's job selection (`submitFrom`, `submitUntil`, `onlyVcs`) and `load`:
/// jobs left out are counted, time 0 moves to the window's start, and a wrong value is
/// an error naming its key.
#[test]
fn replay_scenarios_select_jobs_by_window_and_vc_and_scale_the_load() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/replay");
    let options = |extra: &str| {
        cellsim::replay::options_from_str(
            &format!(
                "cluster: \"4x V100x8 rack=2; 8x K80x4 rack=4\"\ntrace: ../../traces/example.csv\n{extra}"
            ),
            &dir.join("t.yaml"),
        )
    };
    let prepared = |extra: &str| prepare(&options(extra).unwrap());
    // traces/example.csv: 20 jobs of vc-a (7), vc-b (10), vc-c (3), submitted 0..3600.25 s.
    let all = prepared("").unwrap();
    assert_eq!(all.scenario.jobs.len(), 20);
    let some = prepared("submitFrom: 30s\nsubmitUntil: 1h\nonlyVcs: [vc-b, vc-c]\n").unwrap();
    let kept = &some.scenario.jobs;
    assert!(kept.iter().all(|j| j.vc != "vc-a"));
    let expected: Vec<u64> = all
        .scenario
        .jobs
        .iter()
        .filter(|j| j.vc != "vc-a" && (30_000..3_600_000).contains(&j.submit_ms))
        .map(|j| j.submit_ms - 30_000)
        .collect();
    assert!(!expected.is_empty() && expected.len() < 13);
    assert_eq!(
        kept.iter().map(|j| j.submit_ms).collect::<Vec<_>>(),
        expected
    );
    assert_eq!(
        some.ingest.count(cellsim::replay::NOT_SELECTED_VC)
            + some.ingest.count(cellsim::replay::OUTSIDE_WINDOW),
        20 - expected.len() as u64
    );
    let doubled = prepared("load: 2\n").unwrap();
    for (a, b) in all.scenario.jobs.iter().zip(&doubled.scenario.jobs) {
        assert_eq!(b.submit_ms, (a.submit_ms as f64 / 2.0).round() as u64);
    }

    for (extra, key, hint) in [
        ("submitFrom: someday\n", "submitFrom", "neither a date"),
        ("load: 0\n", "load", "positive number"),
    ] {
        let err = options(extra).unwrap_err().to_string();
        assert!(
            err.contains("t.yaml") && err.contains(key) && err.contains(hint),
            "{err}"
        );
    }
    for (extra, key, hint) in [
        (
            "submitFrom: \"2017-10-01\"\n",
            "submitFrom",
            "relative times",
        ),
        ("onlyVcs: [vc-z]\n", "onlyVcs", "vc-a, vc-b, vc-c"),
        ("submitFrom: 1h\nsubmitUntil: 30s\n", "submitUntil", "empty"),
    ] {
        let err = prepared(extra).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains(hint), "{err}");
    }
}

/// A sorted trace read into memory because the scenario selects or re-times its jobs is
/// not said to be out of order (it read as if the trace had been sorted wrongly).
#[test]
fn a_selected_sorted_trace_is_not_called_out_of_order() {
    let dir = crate::common::scratch("replay", "selected-sorted");
    let trace = generated_trace(&dir, 200, 3);
    let scenario = dir.join("loaded.yaml");
    std::fs::write(
        &scenario,
        format!(
            "cluster: \"4x V100x8\"\ntrace: {}\nmodels: [fifo]\nload: 2\n",
            trace.display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let (ok, _, err) = replay_cli(&[
        "--scenario",
        scenario.to_str().unwrap(),
        "-q",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(!err.contains("not in submit order"), "{err}");
    assert!(err.contains("read into memory to select"), "{err}");
}
