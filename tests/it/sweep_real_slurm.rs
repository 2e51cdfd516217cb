//! The Slurm recipe on a real Slurm (issue 20): `deploy/sweep/test-real-slurm.sh` brings up
//! a one-machine cluster (slurmctld + slurmd + munged, state in a temporary folder), submits
//! `deploy/sweep/slurm-sweep.sh` and waits for its merge job; the merged output must equal
//! one unsharded run byte for byte, with one shard pre-empted after two points, requeued by
//! Slurm and resumed from its runs.jsonl. Skips with a notice where Slurm cannot be
//! installed (no root, no apt-get), never when CI=true.

use std::process::Command;

use crate::common::{root, scratch};
use crate::sweep::{assert_same_outputs, s, small_sweep};

/// `cellsim` as the compute node finds it on PATH: the binary under test, except that shard
/// 2's first attempt stops after two points (keeping what a pre-empted task leaves: its
/// manifest and two runs) and asks Slurm to requeue it, as pre-emption or a lost node would.
const CELLSIM_WITH_ONE_PREEMPTION: &str = r#"#!/usr/bin/env bash
set -euo pipefail
real="$CELLSIM_UNDER_TEST"
if [ "${1:-}" = sweep ] && [ "${SLURM_ARRAY_TASK_ID:-}" = 2 ] && [ "${SLURM_RESTART_COUNT:-0}" = 0 ]; then
    out=""; prev=""
    for arg in "$@"; do
        [ "$prev" = --out ] && out="$arg"
        prev="$arg"
    done
    "$real" "$@"
    head -n 2 "$out/runs.jsonl" >"$out/runs.jsonl.kept"
    find "$out" -type f ! -name sweep.json ! -name runs.jsonl.kept -delete
    mv "$out/runs.jsonl.kept" "$out/runs.jsonl"
    echo "fault injected: shard 2 stops after 2 points and is requeued"
    scontrol requeue "$SLURM_JOB_ID"
    # The requeue ends this attempt; should it not, fail the task.
    sleep 60
    exit 1
fi
exec "$real" "$@"
"#;

#[test]
fn the_slurm_recipe_on_a_real_slurm_requeues_a_preempted_shard_and_merges_to_the_unsharded_output()
{
    let dir = scratch("sweep", "real-slurm");
    let sweep = small_sweep(&dir);
    let whole = dir.join("whole");
    let out = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .current_dir(root())
        .args(["sweep", s(&sweep), "--out", s(&whole), "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    let bin_dir = dir.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    let wrapper = bin_dir.join("cellsim");
    std::fs::write(&wrapper, CELLSIM_WITH_ONE_PREEMPTION).unwrap();
    let status = Command::new("chmod")
        .arg("+x")
        .arg(&wrapper)
        .status()
        .unwrap();
    assert!(status.success());
    // Jobs run with the submitter's environment (sbatch's default --export=ALL), so this
    // PATH is the compute node's.
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );

    let results = dir.join("slurm");
    let out = Command::new("bash")
        .arg(root().join("deploy/sweep/test-real-slurm.sh"))
        .args([s(&sweep), s(&results), "3"])
        .env("PATH", &path)
        .env("CELLSIM_UNDER_TEST", env!("CARGO_BIN_EXE_cellsim"))
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.code() == Some(77) {
        eprintln!("skipping the real-Slurm test: {said}");
        return;
    }
    assert!(out.status.success(), "test-real-slurm.sh failed:\n{said}");
    assert_same_outputs(&whole, &results.join("merged"));

    // Shard 2's log (appended across attempts) shows the requeue and the resume.
    let shard_2_log = std::fs::read_dir(&results)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with("_2.out"))
        .unwrap_or_else(|| panic!("no slurm-*_2.out in {}", results.display()));
    let log = std::fs::read_to_string(&shard_2_log).unwrap();
    assert!(log.contains("fault injected"), "{log}");
    assert!(log.contains("2 were already done"), "{log}");
    std::fs::remove_dir_all(&dir).unwrap();
}
