//! The simulation engine end to end: hand-drawn scenarios through every scheduler model
//! with start and end times worked out by hand, determinism, node failures, and the
//! `cellsim run` command.

use std::path::{Path, PathBuf};
use std::process::Command;

use cellsim::report;
use cellsim::sched::MODEL_NAMES;
use cellsim::sim::scenario::{self, Scenario};
use cellsim::sim::{JobOutcome, RunResult, SimEvent, SimTimeMs, run_model};

/// Cluster A of labs.md: hostname-carol (VC `default`) and hostname-dan (VC `vc1`), one
/// GPU each, of different SKUs.
const CLUSTER_A: &str = "
cluster:
  inline:
    physicalCluster:
      cellTypes:
        GPU-C-NODE: {childCellType: GPU-C, childCellNumber: 1, isNodeLevel: true}
        GPU-C-NODE-POOL: {childCellType: GPU-C-NODE, childCellNumber: 1}
        GPU-D-NODE: {childCellType: GPU-D, childCellNumber: 1, isNodeLevel: true}
        GPU-D-NODE-POOL: {childCellType: GPU-D-NODE, childCellNumber: 1}
      physicalCells:
      - cellType: GPU-C-NODE-POOL
        cellChildren: [{cellAddress: hostname-carol}]
      - cellType: GPU-D-NODE-POOL
        cellChildren: [{cellAddress: hostname-dan}]
    virtualClusters:
      default: {virtualCells: [{cellType: GPU-C-NODE-POOL.GPU-C-NODE, cellNumber: 1}]}
      vc1: {virtualCells: [{cellType: GPU-D-NODE-POOL.GPU-D-NODE, cellNumber: 1}]}
";

/// Cluster B of labs.md: both machines in the one VC `default`.
const CLUSTER_B: &str = "
cluster:
  inline:
    physicalCluster:
      cellTypes:
        GPU-NODE: {childCellType: GPU, childCellNumber: 1, isNodeLevel: true}
        GPU-NODE-POOL: {childCellType: GPU-NODE, childCellNumber: 2}
      physicalCells:
      - cellType: GPU-NODE-POOL
        cellChildren: [{cellAddress: hostname-carol}, {cellAddress: hostname-dan}]
    virtualClusters:
      default: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 2}]}
";

fn scenario(cluster: &str, rest: &str) -> Scenario {
    let text = format!("name: t\n{cluster}{rest}");
    scenario::load_str(&text, "test.yaml", Path::new("."), "t")
        .unwrap_or_else(|e| panic!("scenario: {e}"))
}

const S: SimTimeMs = 1000;

/// (time, job, node of the first pod) of every group start.
fn starts(r: &RunResult) -> Vec<(SimTimeMs, String, String)> {
    r.events
        .iter()
        .filter_map(|e| match e {
            SimEvent::GroupStarted { t, job, pods, .. } => {
                Some((*t, job.clone(), pods[0].node.clone()))
            }
            _ => None,
        })
        .collect()
}

fn job<'a>(r: &'a RunResult, id: &str) -> &'a cellsim::sim::JobRecord {
    r.jobs.iter().find(|j| j.id == id).expect("job in result")
}

fn start(t: SimTimeMs, job: &str, node: &str) -> (SimTimeMs, String, String) {
    (t, job.to_string(), node.to_string())
}

/// Lab 2 (priority and preemption) on cluster A, through every model.
///
/// `test` (vc1, test, 1 GPU, 360 s) is submitted at 0 s; `prod` (vc1, prod, 1 GPU, 360 s)
/// at 60 s. Worked out by hand:
///
/// - hived: vc1 owns only hostname-dan. test runs there 0-60 s; prod preempts it at 60 s
///   and runs 60-420 s; test (guaranteed, so it may not use default's hostname-carol)
///   waits and restarts at 420 s, ending at 780 s = prod submit + prod duration + test
///   duration.
/// - yarn-cs: vc1's quota is 1 GPU; test takes the first GPU the packing picks
///   (hostname-carol, first in the config) 0-360 s; prod borrows default's idle GPU, so
///   runs at once on hostname-dan 60-420 s. Nobody is preempted.
/// - fifo: no VCs, no preemption: the same as yarn-cs.
#[test]
fn lab2_prod_preempts_test_in_hived_and_borrows_elsewhere() {
    let s = scenario(
        CLUSTER_A,
        "jobs:
- {id: test, duration: 360s, request: {vc: vc1, priorityClass: test, tasks: [{gpus: 1}]}}
- {id: prod, submit: 60s, duration: 360s, request: {vc: vc1, priorityClass: prod, tasks: [{gpus: 1}]}}
",
    );
    for model in MODEL_NAMES {
        let r = run_model(&s, model).unwrap();
        let (test, prod) = (job(&r, "test"), job(&r, "prod"));
        match model {
            "hived" => {
                assert_eq!(
                    starts(&r),
                    [
                        start(0, "test", "hostname-dan"),
                        start(60 * S, "prod", "hostname-dan"),
                        start(420 * S, "test", "hostname-dan"),
                    ],
                    "{model}"
                );
                assert!(r.events.iter().any(|e| matches!(e,
                    SimEvent::GroupPreempted { t, job, by, .. }
                        if *t == 60 * S && job == "test" && by == "prod")));
                assert_eq!(test.end_ms, Some(780 * S), "60 + 360 + 360");
                assert_eq!(prod.end_ms, Some(420 * S));
                assert_eq!(test.preemptions, 1);
                // The lost first run counts as GPU time used.
                assert_eq!(test.gpu_ms, 60 * S + 360 * S);
            }
            "yarn-cs" | "fifo" => {
                assert_eq!(
                    starts(&r),
                    [
                        start(0, "test", "hostname-carol"),
                        start(60 * S, "prod", "hostname-dan"),
                    ],
                    "{model}"
                );
                assert_eq!(test.end_ms, Some(360 * S), "{model}");
                assert_eq!(prod.end_ms, Some(420 * S), "{model}");
                assert_eq!(test.preemptions + prod.preemptions, 0, "{model}");
            }
            other => panic!("add the expected times for model {other}"),
        }
        assert_eq!(test.outcome, JobOutcome::Finished);
        assert_eq!(prod.outcome, JobOutcome::Finished);
    }
}

/// yarn-cs reclaim on cluster A: vc1 runs `a` (0 s) and borrows default's GPU for `b`
/// (10 s); at 20 s `owner` (default, within its 1-GPU quota) reclaims it by preempting the
/// youngest borrower, `b`, which waits and borrows the GPU again when `owner` ends at 70 s,
/// rerunning from zero 70-170 s.
#[test]
fn yarn_owner_reclaims_borrowed_gpus_from_the_youngest_borrower() {
    let s = scenario(
        CLUSTER_A,
        "models: [yarn-cs]
jobs:
- {id: a, duration: 100s, request: {vc: vc1, tasks: [{gpus: 1}]}}
- {id: b, submit: 10s, duration: 100s, request: {vc: vc1, tasks: [{gpus: 1}]}}
- {id: owner, submit: 20s, duration: 50s, request: {vc: default, tasks: [{gpus: 1}]}}
",
    );
    let r = run_model(&s, "yarn-cs").unwrap();
    assert!(r.events.iter().any(|e| matches!(e,
        SimEvent::GroupPreempted { t, job, by, .. } if *t == 20 * S && job == "b" && by == "owner")));
    assert_eq!(job(&r, "owner").start_ms, Some(20 * S));
    assert_eq!(job(&r, "b").start_ms, Some(10 * S));
    assert_eq!(job(&r, "b").end_ms, Some(170 * S));
    // vc1 borrowed one GPU 10-20 s and 70-100 s (after that `b` is within vc1's quota).
    let summary = report::summarize(&r);
    assert_eq!(summary.vcs["vc1"].gpu_ms_borrowed, 40 * S);
}

/// A node going down kills the group on it; the group is requeued and restarts from zero
/// on the other node at once (cluster B, both nodes in one VC). `a` starts at 0 s on the
/// first node, that node fails at 120 s, `a` restarts at 120 s and ends at 120 + 600 s.
#[test]
fn node_down_kills_and_requeues_the_group_on_it() {
    for model in MODEL_NAMES {
        let first = {
            let s = scenario(
                CLUSTER_B,
                "jobs:\n- {id: a, duration: 600s, request: {tasks: [{gpus: 1}]}}\n",
            );
            starts(&run_model(&s, model).unwrap())[0].2.clone()
        };
        let other = if first == "hostname-carol" {
            "hostname-dan"
        } else {
            "hostname-carol"
        };
        let s = scenario(
            CLUSTER_B,
            &format!(
                "jobs:
- {{id: a, duration: 600s, request: {{tasks: [{{gpus: 1}}]}}}}
nodeEvents:
- {{at: 120s, node: {first}, event: down}}
"
            ),
        );
        let r = run_model(&s, model).unwrap();
        assert!(
            r.events.iter().any(|e| matches!(e,
                SimEvent::GroupFailed { t, job, node, .. } if *t == 120 * S && job == "a" && node == &first)),
            "{model}"
        );
        assert_eq!(
            starts(&r),
            [start(0, "a", &first), start(120 * S, "a", other)],
            "{model}"
        );
        let a = job(&r, "a");
        assert_eq!(a.end_ms, Some(720 * S), "{model}");
        assert_eq!(a.gpu_ms, 720 * S, "{model}: lost work counts as used");
        assert_eq!(a.nodes, [other.to_string()], "{model}");
    }
}

/// While the only free node is down, a waiting group waits for it and starts when it
/// returns.
#[test]
fn a_group_waits_for_a_bad_node_to_return() {
    let s = scenario(
        CLUSTER_B,
        "models: [hived]
jobs:
- {id: long, duration: 1h, request: {tasks: [{gpus: 1}]}}
- {id: short, submit: 1m, duration: 1m, request: {tasks: [{gpus: 1}]}}
nodeEvents:
- {at: 30s, node: hostname-dan, event: down}
- {at: 5m, node: hostname-dan, event: up}
",
    );
    let r = run_model(&s, "hived").unwrap();
    assert_eq!(starts(&r)[0].2, "hostname-carol");
    assert_eq!(job(&r, "short").start_ms, Some(300 * S));
    assert!(r.events.iter().any(|e| matches!(e,
        SimEvent::GroupWaiting { job, reason, .. } if job == "short" && reason.contains("bad nodes"))));
}

/// Capacity planning with a node bought mid-run: hostname-dan joins at 10 min. A 2-GPU
/// gang submitted at 0 waits for it under every model and starts at 10 min; the timeline
/// counts 1 GPU of capacity before and 2 after, and utilisation is measured against it.
#[test]
fn a_node_added_later_is_absent_until_then() {
    for model in MODEL_NAMES {
        let s = scenario(
            CLUSTER_B,
            "jobs:
- {id: gang, duration: 10m, request: {tasks: [{instances: 2, gpus: 1}]}}
nodeEvents:
- {at: 10m, node: hostname-dan, event: added}
",
        );
        let r = run_model(&s, model).unwrap();
        assert_eq!(job(&r, "gang").start_ms, Some(600 * S), "{model}");
        assert!(r.events.iter().any(|e| matches!(e,
            SimEvent::NodeAdded { t, node } if *t == 600 * S && node == "hostname-dan")));
        let mut capacity: Vec<(SimTimeMs, u32)> =
            r.timeline.iter().map(|p| (p.t, p.capacity_gpus)).collect();
        capacity.dedup_by_key(|&mut (_, gpus)| gpus);
        assert_eq!(capacity, [(0, 1), (600 * S, 2)], "{model}");
        // 2 GPUs busy for 10 min out of 1 GPU x 10 min + 2 GPUs x 10 min.
        let summary = report::summarize(&r);
        assert!((summary.utilisation - 20.0 / 30.0).abs() < 1e-9, "{model}");
        let log = report::tables::events_log(&r);
        assert!(
            log.contains("t=00:10:00 node hostname-dan added to the cluster"),
            "{log}"
        );
    }
}

/// A node removed for good: the group on it is killed and requeued, and a group that
/// needs two GPUs never starts again (the run ends with it unfinished at the horizon).
#[test]
fn a_removed_node_takes_its_group_and_capacity_away() {
    for model in MODEL_NAMES {
        let s = scenario(
            CLUSTER_B,
            "horizon: 1h
jobs:
- {id: gang, duration: 30m, request: {tasks: [{instances: 2, gpus: 1}]}}
nodeEvents:
- {at: 5m, node: hostname-carol, event: removed}
",
        );
        let r = run_model(&s, model).unwrap();
        assert!(
            r.events.iter().any(|e| matches!(e,
            SimEvent::GroupFailed { t, job, .. } if *t == 300 * S && job == "gang")),
            "{model}"
        );
        assert_eq!(job(&r, "gang").outcome, JobOutcome::Unfinished, "{model}");
        assert_eq!(r.timeline.last().unwrap().capacity_gpus, 1, "{model}");
    }
}

/// Node events must make sense in time order; the error names the event and the fix.
#[test]
fn node_events_out_of_order_are_rejected_with_the_fix() {
    let text = format!(
        "name: t\n{CLUSTER_B}jobs: []\nnodeEvents:\n- {{at: 1m, node: hostname-dan, event: removed}}\n- {{at: 2m, node: hostname-dan, event: up}}\n"
    );
    let err = scenario::load_str(&text, "bad.yaml", Path::new("."), "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.yaml"), "{err}");
    assert!(err.contains("nodeEvents[1].event"), "{err}");
    assert!(err.contains("add it first with `event: added`"), "{err}");
    let text = format!(
        "name: t\n{CLUSTER_B}jobs: []\nnodeEvents:\n- {{at: 1m, node: hostname-dan, event: added}}\n- {{at: 2m, node: hostname-dan, event: added}}\n"
    );
    let err = scenario::load_str(&text, "bad.yaml", Path::new("."), "t")
        .unwrap_err()
        .to_string();
    assert!(err.contains("nodeEvents[1].event"), "{err}");
    assert!(err.contains("already in the cluster"), "{err}");
}

fn all_exports(s: &Scenario) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for model in MODEL_NAMES {
        let r = run_model(s, model).unwrap();
        for file in report::exports(&r).1 {
            out.push((format!("{model}/{}", file.file_name), file.bytes));
        }
    }
    out
}

#[test]
fn same_scenario_and_seed_give_byte_identical_outputs() {
    let s = scenario::default_scenario().unwrap();
    let first = all_exports(&s);
    let second = all_exports(&scenario::default_scenario().unwrap());
    assert_eq!(first.len(), second.len());
    for ((name, a), (_, b)) in first.iter().zip(&second) {
        assert!(a == b, "{name} differs between two runs");
        assert!(!a.is_empty(), "{name} is empty");
    }
}

fn out_dir(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// `cellsim run --jobs` runs the models (and their sharing checks) at the same time; the
/// files and what is printed are the same as when they run one after another.
#[test]
fn cli_run_with_models_at_once_writes_what_it_writes_one_after_another() {
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/demos/sharing-anomaly.yaml");
    let run = |jobs: &str| {
        let out = out_dir(&format!("cli-run-jobs-{jobs}"));
        let output = Command::new(env!("CARGO_BIN_EXE_cellsim"))
            .arg("run")
            .arg(&scenario)
            .args(["--model", "hived", "--model", "yarn-cs", "--model", "fifo"])
            .args(["--jobs", jobs, "-q", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{stdout}");
        let files = crate::common::files_under(&out);
        (files, stdout.replace(out.to_str().unwrap(), "OUT"))
    };
    let (one, one_stdout) = run("1");
    let (three, three_stdout) = run("3");
    let names =
        |files: &[(PathBuf, Vec<u8>)]| files.iter().map(|f| f.0.clone()).collect::<Vec<_>>();
    assert_eq!(names(&one), names(&three));
    for ((path, a), (_, b)) in one.iter().zip(&three) {
        assert!(a == b, "{} differs with --jobs 3", path.display());
    }
    assert_eq!(one_stdout, three_stdout);
    let sharing_files = one
        .iter()
        .filter(|(p, _)| p.ends_with("sharing.csv"))
        .count();
    assert_eq!(
        sharing_files, 2,
        "hived and yarn-cs each get a sharing check"
    );
}

#[test]
fn cli_run_writes_every_report_file_per_model() {
    let out = out_dir("cli-run-example");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/example.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for model in MODEL_NAMES {
        assert!(stdout.lines().any(|l| l.starts_with(model)), "{stdout}");
        for file in [
            "jobs.csv",
            "vcs.csv",
            "timeline.csv",
            "events.log",
            "summary.json",
        ] {
            let path = out.join(model).join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(!text.is_empty(), "{}", path.display());
        }
    }
    let log = std::fs::read_to_string(out.join("hived/events.log")).unwrap();
    assert!(
        log.contains("t=00:01:00 prod-1 (vc1, prod) preempted test-1 on hostname-dan GPU 0"),
        "{log}"
    );
    let summary: report::RunSummary =
        serde_json::from_str(&std::fs::read_to_string(out.join("fifo/summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary.schema_version, report::SCHEMA_VERSION);
    assert_eq!(summary.model, "fifo");
}

/// Also determinism across processes (hash seeds differ between processes).
#[test]
fn cli_run_with_a_model_filter_runs_only_that_model_the_same_way_twice() {
    let mut runs = Vec::new();
    for name in ["cli-run-default-1", "cli-run-default-2"] {
        let out = out_dir(name);
        let output = Command::new(env!("CARGO_BIN_EXE_cellsim"))
            .args(["run", "--model", "hived", "--model", "fifo", "--out"])
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success());
        assert!(out.join("fifo/jobs.csv").is_file());
        assert!(!out.join("yarn-cs").exists());
        runs.push(out);
    }
    for model in ["hived", "fifo"] {
        for file in [
            "jobs.csv",
            "vcs.csv",
            "timeline.csv",
            "events.log",
            "summary.json",
        ] {
            let a = std::fs::read(runs[0].join(model).join(file)).unwrap();
            let b = std::fs::read(runs[1].join(model).join(file)).unwrap();
            assert!(a == b, "{model}/{file} differs between two processes");
        }
    }
}

#[test]
fn cli_run_rejects_an_unknown_scenario_key_naming_it() {
    let dir = out_dir("cli-run-bad");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.yaml");
    std::fs::write(
        &file,
        format!("name: bad\n{CLUSTER_B}jobs: []\nhorizn: 1h\n"),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .arg("run")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.yaml"), "{stderr}");
    assert!(stderr.contains("unknown field `horizn`"), "{stderr}");
}

/// A random scenario on a two-SKU cluster with three VCs: jobs of every priority class,
/// gang and incremental, some killed, and node failures. Deterministic in `seed`.
fn random_scenario(seed: u64) -> Scenario {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut pick = |n: u32| rng.next_u32() % n;
    let mut text = String::from(
        "name: random
cluster:
  inline:
    physicalCluster:
      cellTypes:
        V-NODE: {childCellType: V, childCellNumber: 4, isNodeLevel: true}
        V-RACK: {childCellType: V-NODE, childCellNumber: 2}
        K-NODE: {childCellType: K, childCellNumber: 2, isNodeLevel: true}
      physicalCells:
      - {cellType: V-RACK, cellChildren: [{cellAddress: v0}, {cellAddress: v1}]}
      - {cellType: V-RACK, cellChildren: [{cellAddress: v2}, {cellAddress: v3}]}
      - {cellType: K-NODE, cellAddress: k0}
      - {cellType: K-NODE, cellAddress: k1}
    virtualClusters:
      a: {virtualCells: [{cellType: V-RACK, cellNumber: 1}, {cellType: K-NODE, cellNumber: 1}]}
      b: {virtualCells: [{cellType: V-RACK.V-NODE, cellNumber: 1}, {cellType: K-NODE, cellNumber: 1}]}
      c: {virtualCells: [{cellType: V-RACK.V-NODE, cellNumber: 1}]}
",
    );
    if pick(2) == 0 {
        text.push_str("checkpointIntervalSec: 100\n");
    }
    text.push_str("jobs:\n");
    let mut t = 0;
    for j in 0..30 {
        t += pick(200);
        let vc = ["a", "b", "c"][pick(3) as usize];
        let class = ["prod", "test", "test", "oppo"][pick(4) as usize];
        let gang = pick(3) != 0;
        let lazy = pick(5) == 0;
        let gpus = [1, 1, 2, 4][pick(4) as usize];
        let instances = [1, 1, 2, 3][pick(4) as usize];
        let kill = if pick(10) == 0 {
            format!(", killAt: {}", t + pick(2000))
        } else {
            String::new()
        };
        text.push_str(&format!(
            "- {{id: j{j}, submit: {t}, duration: {}{kill}, request: {{vc: {vc}, priorityClass: {class}, \
             gang: {gang}, lazyPreemption: {lazy}, tasks: [{{instances: {instances}, gpus: {gpus}}}]}}}}\n",
            1 + pick(1500)
        ));
    }
    text.push_str("nodeEvents:\n");
    for _ in 0..3 {
        let at = pick(t + 1);
        let node = ["v0", "v2", "k1"][pick(3) as usize];
        text.push_str(&format!("- {{at: {at}, node: {node}, event: down}}\n"));
        text.push_str(&format!(
            "- {{at: {}, node: {node}, event: up}}\n",
            at + 1 + pick(1000)
        ));
    }
    scenario::load_str(&text, "random.yaml", Path::new("."), "random")
        .unwrap_or_else(|e| panic!("{e}\n{text}"))
}

/// Invariants on random scenarios, every model: no job starts before it is submitted,
/// busy GPUs never exceed the cluster, every job ends in a known state, and the GPU time
/// charged to jobs equals the sum over started runs read off the event log.
#[test]
fn invariants_hold_on_random_scenarios() {
    use std::collections::BTreeMap;
    for seed in 0..12 {
        let s = random_scenario(seed);
        for model in MODEL_NAMES {
            let r = run_model(&s, model).unwrap();
            let ctx = format!("seed {seed}, model {model}");
            for j in &r.jobs {
                if let Some(start) = j.start_ms {
                    assert!(start >= j.submit_ms, "{ctx}: {} starts early", j.id);
                }
                match j.outcome {
                    JobOutcome::Unfinished => assert_eq!(j.end_ms, None, "{ctx}"),
                    _ => assert!(j.end_ms.is_some(), "{ctx}: {} has no end", j.id),
                }
            }
            for p in &r.timeline {
                let busy: u32 = p.busy_by_vc.values().sum();
                assert!(busy <= r.total_gpus, "{ctx}: {busy} busy at {}", p.t);
            }
            // Replay the log: group runs open at GroupStarted and close when they finish,
            // are preempted or fail, or when their job is killed or rejected.
            let mut open: BTreeMap<String, (String, SimTimeMs, u64)> = BTreeMap::new();
            let mut charged: BTreeMap<String, u64> = BTreeMap::new();
            let mut close = |open: &mut BTreeMap<String, (String, SimTimeMs, u64)>,
                             group: &str,
                             t: SimTimeMs| {
                if let Some((job, since, gpus)) = open.remove(group) {
                    *charged.entry(job).or_default() += (t - since) * gpus;
                }
            };
            for e in &r.events {
                match e {
                    SimEvent::GroupStarted {
                        t,
                        job,
                        group,
                        pods,
                        ..
                    } => {
                        let gpus: u64 = pods.iter().map(|p| p.devices.len() as u64).sum();
                        assert!(
                            open.insert(group.clone(), (job.clone(), *t, gpus))
                                .is_none()
                        );
                    }
                    SimEvent::GroupFinished { t, group, .. }
                    | SimEvent::GroupPreempted { t, group, .. }
                    | SimEvent::GroupFailed { t, group, .. } => close(&mut open, group, *t),
                    SimEvent::JobKilled { t, job } | SimEvent::JobRejected { t, job, .. } => {
                        let groups: Vec<String> = open
                            .iter()
                            .filter(|(_, (j, _, _))| j == job)
                            .map(|(g, _)| g.clone())
                            .collect();
                        for g in groups {
                            close(&mut open, &g, *t);
                        }
                    }
                    _ => {}
                }
            }
            for g in open.keys().cloned().collect::<Vec<_>>() {
                close(&mut open, &g, r.end_ms);
            }
            for j in &r.jobs {
                assert_eq!(
                    charged.get(&j.id).copied().unwrap_or(0),
                    j.gpu_ms,
                    "{ctx}: GPU time of {}",
                    j.id
                );
            }
            let used: u64 = r.jobs.iter().map(|j| j.gpu_ms).sum();
            assert_eq!(report::summarize(&r).gpu_ms_used, used, "{ctx}");
        }
    }
}
