//! `cellsim compare`, the regression gate (issue 5, item 4): the regression scenario run
//! afresh matches its committed baseline (exit 0); the same scenario with every job 20%
//! longer is caught (exit 4, REGRESSED rows); bad input exits 1 naming the file or field
//! (the one exit-code table, issue 16 §5); run folders whose manifests say they are not
//! one run, or not comparable, are refused (issue 16 §1).

use std::path::Path;
use std::process::{Command, Output};

use cellsim::report::{self, summary::summary_json};
use cellsim::sim;

use crate::common::{root, scratch};

const SCENARIO: &str = "scenarios/regression/scenario.yaml";
const BASELINE: &str = "scenarios/regression/baseline";

fn cellsim(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

fn compare(baseline: &Path, candidate: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "compare".as_ref(),
        baseline.as_os_str(),
        candidate.as_os_str(),
    ];
    args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
    let out = cellsim(&args);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Each of the scenario's models run on `scenario`, summaries written as `cellsim run`
/// would (`DIR/<model>/summary.json`).
fn write_summaries(scenario: &sim::Scenario, dir: &Path) {
    for model in &scenario.models {
        let result = sim::run_model(scenario, model).unwrap();
        let summary = report::summarize(&result);
        let model_dir = dir.join(model);
        std::fs::create_dir_all(&model_dir).unwrap();
        std::fs::write(model_dir.join("summary.json"), summary_json(&summary)).unwrap();
    }
}

#[test]
fn a_fresh_run_of_the_regression_scenario_matches_its_baseline() {
    let out = scratch("compare", "fresh");
    let run = cellsim(&[
        "run".as_ref(),
        SCENARIO.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--quiet".as_ref(),
        "--no-sharing".as_ref(),
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (code, stdout, stderr) = compare(&root().join(BASELINE), &out, &[]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("no regression"), "{stdout}");
    for model in ["hived", "yarn-cs", "fifo"] {
        assert!(stdout.contains(model), "{model} missing:\n{stdout}");
    }
    // The library path gives byte-identical summaries to the binary's.
    let lib = scratch("compare", "fresh-lib");
    write_summaries(
        &sim::scenario::load_file(&root().join(SCENARIO)).unwrap(),
        &lib,
    );
    for model in ["hived", "yarn-cs", "fifo"] {
        let a = std::fs::read_to_string(out.join(model).join("summary.json")).unwrap();
        let b = std::fs::read_to_string(lib.join(model).join("summary.json")).unwrap();
        assert_eq!(a, b, "{model}");
    }
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::remove_dir_all(lib);
}

#[test]
fn jobs_twenty_percent_longer_are_caught_as_a_regression() {
    let mut scenario = sim::scenario::load_file(&root().join(SCENARIO)).unwrap();
    for job in &mut scenario.jobs {
        job.duration_ms = job.duration_ms * 6 / 5;
    }
    let dir = scratch("compare", "slower");
    write_summaries(&scenario, &dir);
    let (code, stdout, stderr) = compare(&root().join(BASELINE), &dir, &[]);
    assert_eq!(code, 4, "{stdout}{stderr}");
    assert!(stdout.contains("REGRESSED"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("jct_mean") && l.contains("REGRESSED")),
        "{stdout}"
    );
    // A tolerance loose enough lets it through.
    let (code, stdout, _) = compare(&root().join(BASELINE), &dir, &["--tolerance", "all=1000%"]);
    assert_eq!(code, 0, "{stdout}");
    // Deterministic: the same inputs give the same table.
    let (_, again, _) = compare(&root().join(BASELINE), &dir, &[]);
    let (_, first, _) = compare(&root().join(BASELINE), &dir, &[]);
    assert_eq!(again, first);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn bad_input_exits_1_naming_the_file_or_field() {
    let dir = scratch("compare", "bad");
    let base_file = root().join(BASELINE).join("hived").join("summary.json");
    let good = std::fs::read_to_string(&base_file).unwrap();

    let missing = dir.join("nope.json");
    let (code, _, stderr) = compare(&base_file, &missing, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("nope.json"), "{stderr}");

    let bad_field = dir.join("bad-field.json");
    std::fs::write(
        &bad_field,
        good.replacen("\"finished\": ", "\"finished\": -", 1),
    )
    .unwrap();
    let (code, _, stderr) = compare(&base_file, &bad_field, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("bad-field.json") && stderr.contains("overall.finished"),
        "{stderr}"
    );

    let not_json = dir.join("not-json.json");
    std::fs::write(&not_json, "{ this is not json").unwrap();
    let (code, _, stderr) = compare(&not_json, &base_file, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("not-json.json"), "{stderr}");

    let other_schema = dir.join("v99.json");
    std::fs::write(
        &other_schema,
        good.replace("\"schemaVersion\": 1", "\"schemaVersion\": 99"),
    )
    .unwrap();
    let (code, _, stderr) = compare(&base_file, &other_schema, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("schemaVersion is 99"), "{stderr}");

    let (code, _, stderr) = compare(&base_file, &base_file, &["--tolerance", "wait_p42=5%"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("wait_p42") && stderr.contains("wait_p95"),
        "{stderr}"
    );

    // A model on one side only.
    let partial = dir.join("partial");
    std::fs::create_dir_all(partial.join("hived")).unwrap();
    std::fs::write(partial.join("hived").join("summary.json"), &good).unwrap();
    std::fs::create_dir_all(partial.join("other")).unwrap();
    std::fs::write(partial.join("other").join("summary.json"), &good).unwrap();
    let (code, _, stderr) = compare(&root().join(BASELINE), &partial, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("other"), "{stderr}");

    let empty = scratch("compare", "empty");
    let (code, _, stderr) = compare(&root().join(BASELINE), &empty, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("no summary.json"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(empty);
}

#[test]
fn a_model_folder_left_from_an_earlier_run_is_refused() {
    // See: issue 16 §1: `run --model hived` into a three-model folder left the others,
    // and compare read them as one run. Now the second run needs --replace, which
    // removes them; a folder whose manifest does not account for a model is refused.
    let out = scratch("compare", "stale");
    let run = |extra: &[&str]| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "run".as_ref(),
            SCENARIO.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
            "--quiet".as_ref(),
            "--no-sharing".as_ref(),
        ];
        args.extend(extra.iter().map(|s| std::ffi::OsStr::new(*s)));
        cellsim(&args)
    };
    assert!(run(&[]).status.success());
    let refused = run(&["--model", "hived"]);
    assert_eq!(refused.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--replace"), "{stderr}");
    let replaced = run(&["--model", "hived", "--replace"]);
    assert!(replaced.status.success());
    let stderr = String::from_utf8_lossy(&replaced.stderr);
    assert!(
        stderr.contains("removed what") && stderr.contains("fifo/"),
        "{stderr}"
    );
    assert!(!out.join("fifo").exists());
    // A stray model folder (copied in by hand) is caught by compare.
    std::fs::create_dir_all(out.join("fifo")).unwrap();
    std::fs::copy(
        root().join(BASELINE).join("fifo").join("summary.json"),
        out.join("fifo").join("summary.json"),
    )
    .unwrap();
    let (code, _, stderr) = compare(&root().join(BASELINE), &out, &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("fifo") && stderr.contains("earlier run"),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(out);
}
