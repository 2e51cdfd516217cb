//! Errors that name the problem (issue 16, section 5): a CSV given where YAML belongs
//! quotes one line, an empty trace or one without its GPU column says its first line and
//! what each format needs, a missing cluster file says it does not exist, a negative
//! count names its field, counts from input are bounded, and a bad key inside a sweep's
//! inline `replay:` is reported at its line in the user's file.

use std::path::Path;
use std::process::{Command, Output};

use crate::common::{root, scratch};

fn cellsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

/// Runs cellsim expecting failure; returns stderr.
fn refused(args: &[&str]) -> String {
    let out = cellsim(args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !out.status.success(),
        "cellsim {args:?} should fail: {}{stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    stderr
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// A Philly-like CSV of `rows` rows (about 45 bytes each).
fn csv_trace(dir: &Path, rows: usize) -> std::path::PathBuf {
    let mut text = String::from("timestamp,duration,num_gpus,gpu_time,cluster\n");
    for i in 0..rows {
        text.push_str(&format!(
            "2017-10-09 07:{:02}:55,66.0,1,66.0,11cb48\n",
            i % 60
        ));
    }
    let path = dir.join("philly.csv");
    std::fs::write(&path, text).unwrap();
    path
}

// See: issue 16 (`cellsim run philly.csv` printed the whole 3.4 MB file).
#[test]
fn a_csv_where_yaml_belongs_quotes_its_first_line_only() {
    let dir = scratch("input-errors", "csv-as-yaml");
    let csv = csv_trace(&dir, 20_000);
    let csv = s(&csv);
    for args in [
        vec!["run", csv],
        vec!["sweep", csv],
        vec!["replay", "--scenario", csv],
        vec!["serve", "--config", csv],
        vec!["validate", csv],
    ] {
        let err = refused(&args);
        assert!(
            err.len() < 1_000,
            "{args:?} printed {} bytes: {err}",
            err.len()
        );
        assert!(
            err.contains("timestamp,duration,num_gpus,gpu_time,cluster"),
            "{args:?}: {err}"
        );
        assert!(
            !err.contains("11cb48"),
            "{args:?} quoted a second line: {err}"
        );
        assert!(err.contains("CSV"), "{args:?}: {err}");
    }
}

// See: issue 16 (both got "first line matches none").
#[test]
fn an_empty_trace_or_one_without_gpus_says_its_first_line_and_what_formats_need() {
    let dir = scratch("input-errors", "traces");
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    let err = refused(&["replay", "--cluster", "2x V100x8", "--trace", s(&empty)]);
    assert!(err.contains("the file is empty"), "{err}");
    assert!(err.contains("num_gpus"), "{err}");
    let no_gpus = dir.join("nogpus.csv");
    std::fs::write(
        &no_gpus,
        "timestamp,duration,cluster\n2017-10-09 07:01:55,66.0,11cb48\n",
    )
    .unwrap();
    let err = refused(&["replay", "--cluster", "2x V100x8", "--trace", s(&no_gpus)]);
    assert!(err.contains("\"timestamp,duration,cluster\""), "{err}");
    assert!(err.contains("philly-csv needs"), "{err}");
    assert!(err.contains("(lacks num_gpus)"), "{err}");
}

// See: issue 16 (a missing file got a spec-string parse error).
#[test]
fn a_missing_cluster_file_is_said_not_to_exist() {
    let err = refused(&[
        "replay",
        "--cluster",
        "cluster.yaml",
        "--trace",
        "traces/example.csv",
    ]);
    assert!(err.contains("the file does not exist"), "{err}");
    assert!(err.contains("8x V100x8"), "{err}");
    assert!(
        !err.contains("must start with the number of nodes"),
        "{err}"
    );
}

/// The example scenario with its first one-instance, one-GPU task changed to `task`,
/// and its job files read from the project.
fn example_with(dir: &Path, task: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(root().join("scenarios/example.yaml")).unwrap();
    assert!(text.contains("tasks: [{instances: 1, gpus: 1}]"));
    let text = text
        .replacen(
            "tasks: [{instances: 1, gpus: 1}]",
            &format!("tasks: [{task}]"),
            1,
        )
        .replace(
            "jobFile: jobs/",
            &format!("jobFile: {}/", root().join("scenarios/jobs").display()),
        );
    let path = dir.join("scenario.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

// See: issue 16 ("expected u32").
#[test]
fn a_negative_gpu_count_names_the_field_and_says_positive() {
    let dir = scratch("input-errors", "negative");
    let scenario = example_with(&dir, "{instances: 1, gpus: -1}");
    let err = refused(&["run", s(&scenario), "--out", s(&dir.join("out"))]);
    assert!(err.contains("tasks[0].gpus"), "{err}");
    assert!(
        err.contains("gpus must be a positive number, found -1"),
        "{err}"
    );
    assert!(!err.contains("u32"), "{err}");
}

// See: issue 16 (`instances: 300000000` aborted the process on memory).
#[test]
fn huge_instance_counts_are_refused_with_the_field_and_the_limit() {
    let dir = scratch("input-errors", "instances");
    let scenario = example_with(&dir, "{instances: 300000000, gpus: 1}");
    let err = refused(&["run", s(&scenario), "--out", s(&dir.join("out"))]);
    assert!(err.contains("tasks[0].instances"), "{err}");
    assert!(err.contains("limit of 100000"), "{err}");

    let job = std::fs::read_to_string(root().join("scenarios/jobs/mnist-vc1-prod.yaml")).unwrap();
    assert!(job.contains("instances: 1\n"));
    let huge = dir.join("huge-job.yaml");
    std::fs::write(
        &huge,
        job.replace("instances: 1\n", "instances: 300000000\n"),
    )
    .unwrap();
    let text = std::fs::read_to_string(&scenario)
        .unwrap()
        .replace(
            &format!(
                "{}/mnist-vc1-prod.yaml",
                root().join("scenarios/jobs").display()
            ),
            s(&huge),
        )
        .replace("{instances: 300000000, gpus: 1}", "{instances: 1, gpus: 1}");
    std::fs::write(&scenario, text).unwrap();
    let err = refused(&["run", s(&scenario), "--out", s(&dir.join("out"))]);
    assert!(err.contains("taskRoles.worker.instances"), "{err}");
    assert!(err.contains("at most 100000"), "{err}");
}

// See: issue 16 (the inline block was written out again and read, so lines were wrong).
#[test]
fn a_bad_key_in_a_sweeps_inline_replay_is_reported_at_its_line() {
    let dir = scratch("input-errors", "sweep-line");
    let text = std::fs::read_to_string(root().join("scenarios/planning/example-sweep.yaml"))
        .unwrap()
        .replace(
            "trace: ../../traces/example.csv",
            &format!("trace: {}", root().join("traces/example.csv").display()),
        );
    let text = text.replacen("  seed: 1\n", "  seed: 1\n  horizn: 30d\n", 1);
    let line = text.lines().position(|l| l == "  horizn: 30d").unwrap() + 1;
    let path = dir.join("sweep.yaml");
    std::fs::write(&path, text).unwrap();
    let err = refused(&["sweep", s(&path), "--out", s(&dir.join("out"))]);
    assert!(
        err.contains(&format!(
            "sweep.yaml:{line}:3: replay.horizn: unknown field"
        )),
        "{err}"
    );
}
