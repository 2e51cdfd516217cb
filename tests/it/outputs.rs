//! Outputs a user can trust at a glance (issue 16): default folders that differ between
//! commands, a manifest in every output folder, another run's folder refused without
//! --replace, rejected jobs said per model on stderr and in the report page, ingest notes
//! that tell reordered rows from rows set aside, one exit-code table in --help, and
//! `--model a,b` accepted by `run` as by `replay`.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{root, scratch};

fn cellsim_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A cluster of two 1-GPU nodes, all of it VC `default`, and a gang of 4 GPUs that no
/// model can ever run beside a job that runs.
const TOO_BIG: &str = "name: too-big
cluster:
  inline:
    physicalCluster:
      cellTypes:
        GPU-NODE: {childCellType: GPU, childCellNumber: 1, isNodeLevel: true}
        GPU-NODE-POOL: {childCellType: GPU-NODE, childCellNumber: 2}
      physicalCells:
      - cellType: GPU-NODE-POOL
        cellChildren: [{cellAddress: carol}, {cellAddress: dan}]
    virtualClusters:
      default: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 2}]}
models: [hived, fifo]
jobs:
- {id: fits, duration: 1m, request: {tasks: [{instances: 1, gpus: 1}]}}
- {id: huge, duration: 1m, request: {tasks: [{instances: 4, gpus: 1}]}}
";

#[test]
fn rejected_jobs_are_said_per_model_on_stderr_and_in_the_report_page() {
    // See: issue 16 §2: the console said only "finished 1 of 2".
    let dir = scratch("outputs", "rejected");
    std::fs::write(dir.join("too-big.yaml"), TOO_BIG).unwrap();
    let out = cellsim_in(&dir, &["run", "too-big.yaml", "--quiet", "--no-sharing"]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    for model in ["hived", "fifo"] {
        let line = stderr
            .lines()
            .find(|l| l.starts_with(&format!("warning: {model} rejected 1 of 2 job(s): huge: ")))
            .unwrap_or_else(|| panic!("no rejection line for {model}:\n{stderr}"));
        assert!(line.len() > 40, "the reason is given: {line}");
    }
    let page = std::fs::read_to_string(dir.join("out/too-big/report.html")).unwrap();
    assert!(page.contains("<h2>Rejected jobs</h2>"), "report page");
    assert!(page.contains("huge: "), "the page names the job");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_summary_only_replay_still_says_why_it_rejected_a_job() {
    // It keeps no event log; the reason used to be "in events.log of a full run".
    let dir = scratch("outputs", "rejected-summary-only");
    std::fs::write(
        dir.join("t.csv"),
        "id,submit_s,duration_s,gpus,vc,priority,gpu_type\n\
         a,0,3600,8,vc-a,,\n\
         b,0,3600,8,vc-b,,\n\
         huge,10,60,16,vc-b,,\n",
    )
    .unwrap();
    let args = [
        "replay",
        "--cluster",
        "2x V100x8",
        "--trace",
        "t.csv",
        "--model",
        "hived",
        "--summary-only",
        "--quiet",
    ];
    let out = cellsim_in(&dir, &args);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("warning: hived rejected 1 of 3 job(s): huge: "))
        .unwrap_or_else(|| panic!("no rejection line with the reason:\n{stderr}"));
    assert!(line.contains("could never hold it"), "{line}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn run_and_replay_of_one_name_write_different_default_folders_with_manifests() {
    // See: issue 16 §1: `run scenarios/example.yaml` and the replay of
    // traces/example.csv both wrote out/example.
    let dir = scratch("outputs", "defaults");
    let scenario = root().join("scenarios/example.yaml");
    let trace = root().join("traces/example.csv");
    let run = cellsim_in(
        &dir,
        &["run", scenario.to_str().unwrap(), "--quiet", "--no-sharing"],
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let replay = cellsim_in(
        &dir,
        &[
            "replay",
            "--cluster",
            "8x V100x8 rack=4; 16x K80x2",
            "--trace",
            trace.to_str().unwrap(),
            "--model",
            "hived,fifo",
            "--quiet",
        ],
    );
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let run_manifest = std::fs::read_to_string(dir.join("out/example/manifest.json")).unwrap();
    let replay_manifest =
        std::fs::read_to_string(dir.join("out/example-replay/manifest.json")).unwrap();
    assert!(
        run_manifest.contains("\"command\": \"run\""),
        "{run_manifest}"
    );
    assert!(run_manifest.contains("example.yaml"), "{run_manifest}");
    assert!(run_manifest.contains("\"yarn-cs\""), "{run_manifest}");
    assert!(
        run_manifest.contains("\"cellsimVersion\""),
        "{run_manifest}"
    );
    assert!(replay_manifest.contains("\"command\": \"replay\""));
    assert!(replay_manifest.contains("example.csv"), "{replay_manifest}");
    // The two folders are not comparable runs, and compare says so.
    let compare = cellsim_in(&dir, &["compare", "out/example", "out/example-replay"]);
    assert_eq!(compare.status.code(), Some(1));
    let stderr = text(&compare.stderr);
    assert!(stderr.contains("not comparable"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn run_accepts_models_comma_separated_and_repeated() {
    // See: issue 16 §6: `--model a,b` worked for replay only.
    let dir = scratch("outputs", "models");
    let scenario = root().join("scenarios/example.yaml");
    let path = scenario.to_str().unwrap();
    for (name, models) in [
        ("comma", vec!["--model", "hived,fifo"]),
        ("repeated", vec!["--model", "hived", "--model", "fifo"]),
    ] {
        let out_dir = dir.join(name);
        let mut args = vec!["run", path, "--quiet", "--no-sharing", "--out"];
        args.push(out_dir.to_str().unwrap());
        args.extend(models);
        let out = cellsim_in(&dir, &args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(text(&out.stdout).starts_with("scenario example: 5 jobs, 2 models"));
        assert!(out_dir.join("fifo/summary.json").is_file());
        assert!(!out_dir.join("yarn-cs").exists());
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn every_help_prints_the_one_exit_code_table() {
    // See: issue 16 §5.
    for args in [
        vec!["--help"],
        vec!["run", "--help"],
        vec!["compare", "--help"],
        vec!["replay", "--help"],
    ] {
        let out = cellsim_in(&root(), &args);
        assert!(out.status.success());
        let help = text(&out.stdout);
        assert!(help.contains("Exit codes (every command):"), "{args:?}");
        assert!(help.contains("3  cannot write"), "{args:?}");
    }
}

#[cfg(feature = "live")]
#[test]
fn a_missing_serve_config_exits_1_as_its_help_says() {
    // See: issue 16 §5: it exited 3 while the help said 1.
    let dir = scratch("outputs", "serve");
    let out = cellsim_in(&dir, &["serve", "--config", "no-such.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("no-such.yaml"));
    let help = text(&cellsim_in(&dir, &["serve", "--help"]).stdout);
    assert!(
        help.contains("Exits 1 on a missing or invalid config"),
        "{help}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ingest_notes_say_reordered_rows_are_not_set_aside() {
    // See: issue 16 §2: "set aside or changed: out of order: 82242 row(s)" read as rows
    // dropped when they were only sorted.
    let dir = scratch("outputs", "ingest");
    std::fs::write(
        dir.join("t.csv"),
        "id,submit_s,duration_s,gpus,vc,priority,gpu_type\n\
         a,60,60,1,vc-a,,\n\
         b,0,60,1,vc-a,,\n\
         c,0,60,64,vc-a,,\n\
         d,120,1,1,vc-b,,\n",
    )
    .unwrap();
    let out = cellsim_in(
        &dir,
        &[
            "replay",
            "--cluster",
            "2x V100x8",
            "--trace",
            "t.csv",
            "--model",
            "hived",
            "--quiet",
        ],
    );
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("  reordered: out of order: 2 row(s)"),
        "{stderr}"
    );
    assert!(!stderr.contains("set aside or changed"), "{stderr}");
    let notes = std::fs::read_to_string(dir.join("out/t-replay/ingest.txt")).unwrap();
    assert!(notes.contains("reordered: out of order"), "{notes}");
    assert!(notes.contains("larger than the cluster"), "{notes}");
    // vc-b's sliver of the GPU-time rounds to no cell: its job still runs.
    assert!(
        notes.contains("runs opportunistically: VC(s) without guaranteed cells: vc-b;"),
        "{notes}"
    );
    assert!(!notes.contains("set aside: VC without"), "{notes}");
    // Said once: the VC line counts its rows, with no second line of its own for them.
    assert!(notes.contains("their 1 job(s) are kept"), "{notes}");
    assert_eq!(
        notes.matches("runs opportunistically").count(),
        1,
        "{notes}"
    );
    let _ = std::fs::remove_dir_all(dir);
}
