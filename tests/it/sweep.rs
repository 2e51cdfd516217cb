//! `cellsim sweep`, `plan` and `merge` (issue 5): a sweep's tables follow its axes;
//! sharded and merged output, a resumed sweep and the shipped Slurm / Kubernetes recipes
//! all write the same bytes as one unsharded run; `plan` answers with its evidence and
//! says when the metric is not monotone; bad sweep files and folders exit 1 naming the
//! file and key.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{root, scratch, shared};

/// The files a finished sweep folder holds, all compared byte for byte.
const OUTPUTS: [&str; 5] = [
    "runs.jsonl",
    "sweep.json",
    "points.csv",
    "points.json",
    "p95-wait.svg",
];

fn cellsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs cellsim and insists it succeeds, returning stdout.
fn ok(args: &[&str]) -> String {
    let out = cellsim(args);
    assert!(
        out.status.success(),
        "cellsim {args:?} failed: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Runs cellsim expecting exit 1 (bad input), returning stderr.
fn refused(args: &[&str]) -> String {
    let out = cellsim(args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "cellsim {args:?}: {}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// A small sweep of the project's example trace: K80 nodes -1..+2, two loads, two
/// models, two seeds (24 points, well under a second).
pub(crate) fn small_sweep(dir: &Path) -> PathBuf {
    let trace = root().join("traces/example.csv");
    let path = dir.join("small.yaml");
    std::fs::write(
        &path,
        format!(
            r#"name: small
replay:
  cluster: "2x V100x8 rack=2; 3x K80x4 rack=4"
  trace: {trace}
jitter: 5m
axes:
  nodes: {{sku: K80, values: [-1, 0, 2]}}
  load: [1, 2]
  models: [hived, fifo]
  seeds: [1, 2]
"#,
            trace = trace.display()
        ),
    )
    .unwrap();
    path
}

pub(crate) fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

pub(crate) fn assert_same_outputs(expected: &Path, actual: &Path) {
    for file in OUTPUTS {
        let want = std::fs::read(expected.join(file)).unwrap();
        let got = std::fs::read(actual.join(file))
            .unwrap_or_else(|e| panic!("{}: {e}", actual.join(file).display()));
        assert!(
            want == got,
            "{file} differs between {} and {}",
            expected.display(),
            actual.display()
        );
    }
}

/// Rows of points.csv as (header -> value) maps.
fn csv_rows(dir: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let table = std::fs::read_to_string(dir.join("points.csv")).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|line| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(line.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

#[test]
fn a_sweep_tabulates_every_point_and_more_nodes_shorten_the_waits_they_serve() {
    let dir = scratch("sweep", "table");
    let sweep = small_sweep(&dir);
    let out = dir.join("out");
    let stdout = ok(&["sweep", s(&sweep), "--out", s(&out), "--quiet"]);
    assert!(stdout.contains("24 points"), "{stdout}");
    for file in OUTPUTS {
        assert!(out.join(file).is_file(), "{file} missing");
    }
    let rows = csv_rows(&out);
    let points: std::collections::BTreeSet<&str> =
        rows.iter().map(|r| r["point"].as_str()).collect();
    assert_eq!(points.len(), 24);
    // Every point has its (all) row and one per VC of the trace (three).
    assert_eq!(rows.len(), 24 * 4);

    // vc-c's K80 jobs wait for K80s: under hived at double load, its p95 wait with one
    // K80 node fewer is longer than with two more, for every seed.
    let p95 = |nodes: &str, seed: &str| -> f64 {
        rows.iter()
            .find(|r| {
                r["nodes_added"] == nodes
                    && r["load"] == "2"
                    && r["model"] == "hived"
                    && r["seed"] == seed
                    && r["vc"] == "vc-c"
            })
            .unwrap()["wait_p95_s"]
            .parse()
            .unwrap()
    };
    for seed in ["1", "2"] {
        assert!(
            p95("-1", seed) > p95("2", seed),
            "seed {seed}: -1 node {} vs +2 nodes {}",
            p95("-1", seed),
            p95("2", seed)
        );
    }
    // The cluster sizes follow the axis: 28 GPUs, 4 per K80 node.
    for (nodes, gpus) in [("-1", "24"), ("0", "28"), ("2", "36")] {
        assert!(
            rows.iter()
                .filter(|r| r["nodes_added"] == nodes)
                .all(|r| r["total_gpus"] == gpus)
        );
    }
}

#[test]
fn seeds_move_submit_times_and_the_same_seed_gives_the_same_bytes() {
    let dir = scratch("sweep", "determinism");
    let sweep = small_sweep(&dir);
    let (a, b) = (dir.join("a"), dir.join("b"));
    ok(&["sweep", s(&sweep), "--out", s(&a), "--quiet", "--jobs", "1"]);
    ok(&["sweep", s(&sweep), "--out", s(&b), "--quiet", "--jobs", "2"]);
    assert_same_outputs(&a, &b);
    // The seeds differ: some point's metrics change with the seed alone.
    let rows = csv_rows(&a);
    let by_seed = |seed: &str| -> Vec<String> {
        rows.iter()
            .filter(|r| r["seed"] == seed)
            .map(|r| format!("{} {}", r["wait_mean_s"], r["jct_mean_s"]))
            .collect()
    };
    assert_ne!(by_seed("1"), by_seed("2"));
}

#[test]
fn sharded_and_merged_output_equals_the_unsharded_output_byte_for_byte() {
    let dir = scratch("sweep", "shards");
    let sweep = small_sweep(&dir);
    let whole = dir.join("whole");
    ok(&["sweep", s(&sweep), "--out", s(&whole), "--quiet"]);

    let mut shards = Vec::new();
    for i in 1..=3 {
        let shard = dir.join(format!("shard-{i}"));
        let stdout = ok(&[
            "sweep",
            s(&sweep),
            "--shard",
            &format!("{i}/3"),
            "--out",
            s(&shard),
            "--quiet",
            "--jobs",
            "1",
        ]);
        assert!(
            stdout.contains(&format!("(shard {i}/3: 8 of them)")),
            "{stdout}"
        );
        // A shard alone is not the whole sweep: no tables yet.
        assert!(!shard.join("points.csv").exists());
        shards.push(shard);
    }
    let merged = dir.join("merged");
    let mut args = vec!["merge", "--out", s(&merged)];
    args.extend(shards.iter().map(|p| s(p)));
    ok(&args);
    assert_same_outputs(&whole, &merged);

    // Two of three shards are not the sweep: merge names what is missing.
    let err = refused(&[
        "merge",
        "--out",
        s(&dir.join("partial")),
        s(&shards[0]),
        s(&shards[1]),
    ]);
    assert!(
        err.contains("8 of 24 points are in none of the shard folders"),
        "{err}"
    );
}

#[test]
fn an_interrupted_sweep_keeps_its_runs_and_resume_finishes_it_to_the_same_bytes() {
    let dir = scratch("sweep", "resume");
    let sweep = small_sweep(&dir);
    let whole = dir.join("whole");
    ok(&["sweep", s(&sweep), "--out", s(&whole), "--quiet"]);

    // What a sweep killed mid-way leaves: its manifest, 10 whole runs and half a line.
    let cut = dir.join("cut");
    std::fs::create_dir_all(&cut).unwrap();
    std::fs::copy(whole.join("sweep.json"), cut.join("sweep.json")).unwrap();
    let runs = std::fs::read_to_string(whole.join("runs.jsonl")).unwrap();
    let mut kept: String = runs.lines().take(10).map(|l| format!("{l}\n")).collect();
    let eleventh = runs.lines().nth(10).unwrap();
    kept.push_str(&eleventh[..eleventh.len() / 2]);
    std::fs::write(cut.join("runs.jsonl"), kept).unwrap();

    let err = refused(&["sweep", s(&sweep), "--out", s(&cut), "--quiet"]);
    assert!(err.contains("--resume"), "{err}");
    let stdout = ok(&["sweep", s(&sweep), "--out", s(&cut), "--quiet", "--resume"]);
    assert!(stdout.contains("ran 14"), "{stdout}");
    assert!(stdout.contains("10 were already done"), "{stdout}");
    assert_same_outputs(&whole, &cut);

    // Another sweep's folder is refused, not mixed.
    let other = dir.join("other.yaml");
    let changed = std::fs::read_to_string(&sweep)
        .unwrap()
        .replace("seeds: [1, 2]", "seeds: [1, 3]");
    std::fs::write(&other, changed).unwrap();
    let err = refused(&["sweep", s(&other), "--out", s(&cut), "--quiet", "--resume"]);
    assert!(err.contains("holds results of another sweep"), "{err}");

    // --replace starts the folder over for the other sweep: what it writes there is
    // what it writes into a new folder, with nothing of the first sweep left.
    let fresh = dir.join("fresh");
    ok(&["sweep", s(&other), "--out", s(&fresh), "--quiet"]);
    let replaced = cellsim(&["sweep", s(&other), "--out", s(&cut), "--quiet", "--replace"]);
    let stderr = text(&replaced.stderr);
    assert!(replaced.status.success(), "{stderr}");
    assert!(stderr.contains("--replace removed"), "{stderr}");
    assert!(stderr.contains("runs.jsonl"), "{stderr}");
    assert_same_outputs(&fresh, &cut);
}

#[test]
fn the_shipped_slurm_and_kubernetes_recipes_run_shards_that_merge_to_the_unsharded_output() {
    let dir = scratch("sweep", "deploy");
    let sweep = small_sweep(&dir);
    let whole = dir.join("whole");
    ok(&["sweep", s(&sweep), "--out", s(&whole), "--quiet"]);
    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    // `cellsim` on PATH, as the recipes expect.
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_cellsim"), bin_dir.join("cellsim")).unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    // Slurm: a stand-in `sbatch` runs each `--wrap` command at once, once per array task
    // with the variables Slurm sets, and prints a job id.
    let sbatch = bin_dir.join("sbatch");
    std::fs::write(
        &sbatch,
        r#"#!/usr/bin/env bash
set -euo pipefail
array=""; wrap=""
for arg in "$@"; do
    case "$arg" in
        --array=*) array="${arg#--array=}" ;;
        --wrap=*) wrap="${arg#--wrap=}" ;;
    esac
done
if [ -n "$array" ]; then
    last="${array#1-}"
    for i in $(seq 1 "$last"); do
        SLURM_ARRAY_TASK_ID=$i SLURM_ARRAY_TASK_COUNT=$last bash -c "$wrap" >/dev/null
    done
else
    bash -c "$wrap" >/dev/null
fi
echo $RANDOM
"#,
    )
    .unwrap();
    let status = Command::new("chmod")
        .arg("+x")
        .arg(&sbatch)
        .status()
        .unwrap();
    assert!(status.success());
    let slurm_results = dir.join("slurm");
    let out = Command::new("bash")
        .arg(root().join("deploy/sweep/slurm-sweep.sh"))
        .args([s(&sweep), s(&slurm_results), "3", "1"])
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert_same_outputs(&whole, &slurm_results.join("merged"));

    // Kubernetes: each index runs the Indexed Job's container command with
    // JOB_COMPLETION_INDEX set, then the merge Job's; /input and /results are folders here.
    let job: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("deploy/sweep/kubernetes-indexed-job.yaml")).unwrap(),
    )
    .unwrap();
    let spec = &job["spec"];
    let completions = spec["completions"].as_u64().unwrap();
    assert_eq!(spec["completionMode"].as_str(), Some("Indexed"));
    assert_eq!(spec["parallelism"].as_u64(), Some(completions));
    let container = &spec["template"]["spec"]["containers"][0];
    let env: Vec<(String, String)> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(env.contains(&("SHARDS".to_string(), completions.to_string())));
    let k8s = dir.join("k8s");
    let (input, results) = (k8s.join("input"), k8s.join("results"));
    std::fs::create_dir_all(&input).unwrap();
    std::fs::create_dir_all(&results).unwrap();
    std::fs::copy(&sweep, input.join("sweep.yaml")).unwrap();
    let in_folders = |command: &str| {
        command
            .replace("/input/", &format!("{}/", input.display()))
            .replace("/results/", &format!("{}/", results.display()))
    };
    let shard_command = in_folders(container["args"][0].as_str().unwrap());
    for index in 0..completions {
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(&shard_command)
            .envs(env.iter().cloned())
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "index {index}: {}", text(&out.stderr));
    }
    let merge_job: serde_yaml_ng::Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(root().join("deploy/sweep/kubernetes-merge-job.yaml")).unwrap(),
    )
    .unwrap();
    let merge_command = in_folders(
        merge_job["spec"]["template"]["spec"]["containers"][0]["args"][0]
            .as_str()
            .unwrap(),
    );
    let out = Command::new("/bin/sh")
        .arg("-c")
        .arg(&merge_command)
        .env("PATH", &path)
        .output()
        .unwrap();
    assert!(out.status.success(), "merge: {}", text(&out.stderr));
    assert_same_outputs(&whole, &results.join("merged"));
}

#[test]
fn plan_finds_the_smallest_count_that_meets_the_target_with_its_evidence() {
    let dir = scratch("sweep", "plan");
    let sweep = small_sweep(&dir);
    // vc-c's K80 jobs: with K80 nodes added, their p95 falls to 0 (vc-a's V100 jobs do
    // not care, so only vc-c counts).
    let with_plan = dir.join("with-plan.yaml");
    let mut file = std::fs::read_to_string(&sweep).unwrap();
    file.push_str("plan: {sku: K80, model: hived, targetP95: 1m, maxNodes: 16, vcs: [vc-c]}\n");
    std::fs::write(&with_plan, file).unwrap();
    let out = dir.join("plan");
    let stdout = ok(&["plan", s(&with_plan), "--out", s(&out), "--quiet"]);
    let answer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    let probes = answer["probes"].as_array().unwrap();
    let meets = |n: u64| {
        probes
            .iter()
            .find(|p| p["nodesAdded"] == n)
            .map(|p| p["meetsTarget"].as_bool().unwrap())
    };
    let n = answer["nodesToAdd"]
        .as_u64()
        .expect("the target is reachable");
    assert_eq!(meets(n), Some(true));
    assert!(
        stdout.contains(&format!("Answer: add {n} K80 nodes")),
        "{stdout}"
    );
    // Smallest: every count below it that was evaluated misses, and the one just below
    // was evaluated (the search brackets the answer).
    assert!(
        n > 0,
        "the base must miss the target for this test to mean anything"
    );
    assert_eq!(meets(n - 1), Some(false));
    for probe in probes {
        if probe["nodesAdded"].as_u64().unwrap() < n {
            assert_eq!(probe["meetsTarget"], false);
        }
    }
    // The evidence is printed too: one row per count evaluated.
    let rows = stdout
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("+nodes"))
        .skip(1)
        .filter(|l| l.trim_start().starts_with('+'))
        .count();
    assert_eq!(rows, probes.len(), "{stdout}");
}

#[test]
fn plan_says_when_more_nodes_made_a_wait_worse_and_scans_instead() {
    let dir = scratch("sweep", "plan-scan");
    let out = dir.join("plan");
    // The project's example: V100 nodes added change how the VCs' guaranteed cells are
    // cut, and vc-a's p95 wait rises before it falls.
    let stdout = ok(&[
        "plan",
        "scenarios/planning/example-sweep.yaml",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let answer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(answer["monotone"], false, "{stdout}");
    assert!(stdout.contains("not monotone"), "{stdout}");
    let n = answer["nodesToAdd"].as_u64().unwrap();
    // The scan evaluated every count from 0 to the answer, all but the last missing.
    let probes = answer["probes"].as_array().unwrap();
    for k in 0..=n {
        let probe = probes
            .iter()
            .find(|p| p["nodesAdded"] == k)
            .unwrap_or_else(|| panic!("+{k} not scanned"));
        assert_eq!(probe["meetsTarget"], k == n, "+{k}");
    }
}

#[test]
fn bad_sweep_files_options_and_folders_are_refused_naming_the_file_and_key() {
    let dir = scratch("sweep", "bad");
    let sweep = small_sweep(&dir);
    let good = std::fs::read_to_string(&sweep).unwrap();
    let case = |name: &str, content: String, expect: &[&str]| {
        let path = dir.join(format!("{name}.yaml"));
        std::fs::write(&path, content).unwrap();
        let err = refused(&["sweep", s(&path), "--out", s(&dir.join(name)), "--quiet"]);
        assert!(err.contains(&format!("{name}.yaml")), "{name}: {err}");
        for word in expect {
            assert!(err.contains(word), "{name}: {err}");
        }
    };
    case("unknown-key", good.replace("jitter:", "jiter:"), &["jiter"]);
    case(
        "seeds-without-jitter",
        good.replace("jitter: 5m\n", ""),
        &["seed", "jitter"],
    );
    case(
        "unknown-sku",
        good.replace("sku: K80", "sku: H100"),
        &["H100"],
    );
    case(
        "unknown-model",
        good.replace("models: [hived, fifo]", "models: [hived, fifi]"),
        &["fifi"],
    );
    case(
        "trace-and-generate",
        good.replace(
            "jitter: 5m",
            "jitter: 5m\ngenerate: {jobs: 10, arrival: {jobs_per_hour: 10}}",
        ),
        &["replay.trace", "generate"],
    );
    case(
        "bad-generator",
        good.replace(
            &format!("  trace: {}\n", root().join("traces/example.csv").display()),
            "",
        )
        .replace(
            "jitter: 5m",
            "jitter: 5m\ngenerate: {jobs: 10, arival: {jobs_per_hour: 10}}",
        ),
        &["generate", "arival"],
    );
    for shard in ["0/3", "4/3", "two"] {
        let err = refused(&[
            "sweep",
            s(&sweep),
            "--shard",
            shard,
            "--out",
            s(&dir.join("s")),
            "--quiet",
        ]);
        assert!(err.contains("shard"), "{shard}: {err}");
    }
    // A folder that is not a sweep's is not written into.
    let foreign = dir.join("foreign");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("runs.jsonl"), "something else\n").unwrap();
    let err = refused(&[
        "sweep",
        s(&sweep),
        "--out",
        s(&foreign),
        "--quiet",
        "--resume",
    ]);
    // Refused by the output-folder rule (no manifest says what wrote it; issue 16 §1).
    assert!(err.contains("no manifest.json says what wrote it"), "{err}");
    assert_eq!(
        std::fs::read_to_string(foreign.join("runs.jsonl")).unwrap(),
        "something else\n"
    );
}

#[test]
fn generated_jobs_feed_a_sweep_like_a_trace() {
    let dir = scratch("sweep", "generate");
    let path = dir.join("gen.yaml");
    std::fs::write(
        &path,
        r#"name: gen
replay:
  cluster: "4x V100x8 rack=4"
generate:
  seed: 7
  jobs: 300
  arrival: {jobs_per_hour: 60}
  vcs: {a: 1, b: 1}
axes:
  nodes: {sku: V100, values: [0, 4]}
  models: [hived]
"#,
    )
    .unwrap();
    let out = dir.join("out");
    ok(&["sweep", s(&path), "--out", s(&out), "--quiet"]);
    let rows = csv_rows(&out);
    let all: Vec<_> = rows.iter().filter(|r| r["vc"] == "(all)").collect();
    assert_eq!(all.len(), 2);
    for row in &all {
        assert_eq!(row["jobs"], "300");
    }
    // More GPUs for the same jobs (a queue forms on 32 GPUs): the mean wait shrinks.
    let mean = |nodes: &str| -> f64 {
        all.iter().find(|r| r["nodes_added"] == nodes).unwrap()["wait_mean_s"]
            .parse()
            .unwrap()
    };
    assert!(mean("4") < mean("0"), "{} vs {}", mean("4"), mean("0"));
}

#[test]
fn the_planning_examples_run() {
    // The fresh-clone examples: every point of the small one; the PAI mix's first point.
    let dir = scratch("sweep", "examples");
    ok(&[
        "sweep",
        "scenarios/planning/example-sweep.yaml",
        "--out",
        s(&dir.join("example")),
        "--quiet",
    ]);
    assert!(dir.join("example/p95-wait.svg").is_file());
    let pai = dir.join("pai");
    ok(&[
        "sweep",
        "scenarios/planning/pai2020-mix.yaml",
        "--shard",
        "1/30",
        "--out",
        s(&pai),
        "--quiet",
    ]);
    let runs = std::fs::read_to_string(pai.join("runs.jsonl")).unwrap();
    assert_eq!(runs.lines().count(), 1);
    assert!(
        runs.contains("\"totalGpus\":6742"),
        "the PAI 2020 mix has 6,742 GPUs"
    );
}

#[test]
fn the_philly_planning_example_runs_on_the_real_trace() {
    let Some(trace) = shared("traces/philly/philly.csv") else {
        return;
    };
    assert!(trace.is_file());
    let dir = scratch("sweep", "philly");
    // One point of the 200 (the first shard of 200): the example reads the real machine
    // list and trace through ../shared.
    let out = dir.join("philly");
    ok(&[
        "sweep",
        "scenarios/planning/philly.yaml",
        "--shard",
        "1/200",
        "--out",
        s(&out),
        "--quiet",
    ]);
    let runs = std::fs::read_to_string(out.join("runs.jsonl")).unwrap();
    assert_eq!(runs.lines().count(), 1);
    let run: serde_json::Value = serde_json::from_str(runs.lines().next().unwrap()).unwrap();
    assert!(
        run["summary"]["overall"]["jobs"].as_u64().unwrap() > 80_000,
        "{}",
        run["summary"]["overall"]
    );
}

#[test]
fn the_share_axis_moves_one_vcs_guarantee_and_the_others_split_the_rest() {
    let dir = scratch("sweep", "share");
    let trace = root().join("traces/example.csv");
    let path = dir.join("share.yaml");
    std::fs::write(
        &path,
        format!(
            r#"name: share
replay:
  cluster: "4x V100x8 rack=4"
  trace: {}
axes:
  share: {{vc: vc-b, values: [0.25, 0.5, 0.75]}}
  models: [hived]
"#,
            trace.display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    ok(&["sweep", s(&path), "--out", s(&out), "--quiet"]);
    let rows = csv_rows(&out);
    let guaranteed = |share: &str, vc: &str| -> u32 {
        rows.iter()
            .find(|r| r["vc_share"] == share && r["vc"] == vc)
            .unwrap()["guaranteed_gpus"]
            .parse()
            .unwrap()
    };
    // Node-level cells of 8 GPUs out of 32: vc-b gets its share of them.
    assert_eq!(guaranteed("0.25", "vc-b"), 8);
    assert_eq!(guaranteed("0.5", "vc-b"), 16);
    assert_eq!(guaranteed("0.75", "vc-b"), 24);
    for share in ["0.25", "0.5", "0.75"] {
        let others = guaranteed(share, "vc-a") + guaranteed(share, "vc-c");
        assert_eq!(others + guaranteed(share, "vc-b"), 32, "share {share}");
    }
    // A share outside (0, 1) is refused by key.
    let bad = dir.join("bad-share.yaml");
    std::fs::write(
        &bad,
        std::fs::read_to_string(&path)
            .unwrap()
            .replace("0.75]", "1.5]"),
    )
    .unwrap();
    let err = refused(&["sweep", s(&bad), "--out", s(&dir.join("bad")), "--quiet"]);
    assert!(
        err.contains("bad-share.yaml") && err.contains("share"),
        "{err}"
    );
}

#[test]
fn a_run_scenario_can_be_the_base_for_load_model_and_seed_axes_only() {
    let dir = scratch("sweep", "scenario-base");
    let scenario = root().join("scenarios/demos/sharing-anomaly.yaml");
    let path = dir.join("base.yaml");
    let file = format!(
        "name: scenario-base\nscenario: {}\njitter: 1m\naxes:\n  load: [1, 3]\n  models: [hived, yarn-cs]\n  seeds: [1, 2]\n",
        scenario.display()
    );
    std::fs::write(&path, &file).unwrap();
    let out = dir.join("out");
    ok(&["sweep", s(&path), "--out", s(&out), "--quiet"]);
    let rows = csv_rows(&out);
    let all: Vec<_> = rows.iter().filter(|r| r["vc"] == "(all)").collect();
    assert_eq!(all.len(), 8);
    // Three times the arrival rate on the same cluster: the mean wait grows.
    let mean_wait = |load: &str| -> f64 {
        all.iter()
            .filter(|r| r["load"] == load)
            .map(|r| r["wait_mean_s"].parse::<f64>().unwrap())
            .sum()
    };
    assert!(
        mean_wait("3") > mean_wait("1"),
        "{} vs {}",
        mean_wait("3"),
        mean_wait("1")
    );

    // Its cluster is fixed: a nodes axis is refused, saying what to use instead.
    let nodes = dir.join("nodes.yaml");
    std::fs::write(
        &nodes,
        file.replace("axes:\n", "axes:\n  nodes: {sku: V100, values: [0, 2]}\n"),
    )
    .unwrap();
    let err = refused(&["sweep", s(&nodes), "--out", s(&dir.join("n")), "--quiet"]);
    assert!(
        err.contains("nodes.yaml") && err.contains("replay"),
        "{err}"
    );
}
