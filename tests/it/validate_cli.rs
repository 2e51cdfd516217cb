//! `cellsim validate FILE` run as a user would: summary on stdout and exit 0 for a good
//! config; every error (with YAML paths) on stderr and exit 1 for a bad one; exit 2 for
//! usage errors.

use std::path::PathBuf;
use std::process::{Command, Output};

const GOOD: &str = "
physicalCluster:
  skuTypes:
    GPU: {gpu: 1, cpu: 2, memory: 4096Mi}
  cellTypes:
    GPU-NODE: {childCellType: GPU, childCellNumber: 1, isNodeLevel: true}
    GPU-NODE-POOL: {childCellType: GPU-NODE, childCellNumber: 2}
  physicalCells:
  - cellType: GPU-NODE-POOL
    cellChildren: [{cellAddress: hostname-carol}, {cellAddress: hostname-dan}]
virtualClusters:
  default: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 1}]}
  vc1: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 1}], comment: lab}
";

/// Three independent mistakes: a misspelt key, a negative cellNumber, too much demand.
const BAD: &str = "
physicalCluster:
  cellTypes:
    GPU-NODE: {childCellType: GPU, childCellNumber: 1, isNodeLevl: true}
    GPU-NODE-POOL: {childCellType: GPU-NODE, childCellNumber: 2}
    K80-NODE: {childCellType: K80, childCellNumber: 4, isNodeLevel: true}
  physicalCells:
  - cellType: K80-NODE
    cellAddress: k1
virtualClusters:
  default: {virtualCells: [{cellType: K80-NODE, cellNumber: -1}]}
  vc1: {virtualCells: [{cellType: K80-NODE.K80, cellNumber: 5}]}
";

/// Write `text` to a fresh file in the temp dir (unique per process and test).
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cellsim-validate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn cellsim(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(args)
        .output()
        .expect("run cellsim")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_good_config_prints_its_chains_and_vcs() {
    let path = temp_file("good.yaml", GOOD);
    let out = cellsim(&["validate".as_ref(), path.as_os_str()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stdout.contains("chains: 1"), "{stdout}");
    assert!(
        stdout.contains("GPU-NODE-POOL: 1 top-level cell, leaf type GPU"),
        "{stdout}"
    );
    assert!(stdout.contains("GPU: 2 nodes, 2 devices"), "{stdout}");
    assert!(stdout.contains("virtual clusters: 2"), "{stdout}");
    assert!(
        stdout.contains("  vc1:\n    GPU-NODE-POOL: 1 x GPU-NODE = 1 leaf cell (GPU)"),
        "{stdout}"
    );
    // The unknown key is a warning on stderr, naming file and path.
    assert!(
        stderr.contains("warning: ") && stderr.contains("virtualClusters.vc1.comment"),
        "{stderr}"
    );
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_shared_example_validates() {
    let Some(path) = crate::common::shared("hived-examples/feature/hived-config-1.yaml") else {
        return;
    };
    let out = cellsim(&["validate".as_ref(), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("3-K80-NODE: 1 top-level cell"), "{stdout}");
    assert!(
        stdout.contains("pinned VC2-K80: K80-NODE at 0/10.151.41.25 = 4 leaf cells (K80)"),
        "{stdout}"
    );
}

#[test]
fn a_bad_config_lists_every_error_and_exits_1() {
    let path = temp_file("bad.yaml", BAD);
    let out = cellsim(&["validate".as_ref(), path.as_os_str()]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    assert!(stdout.is_empty(), "no summary for a bad config: {stdout}");
    let file = path.display().to_string();
    for expected in [
        format!(
            "error: {file}: physicalCluster.cellTypes.GPU-NODE.isNodeLevl: unknown key `isNodeLevl`: did you mean `isNodeLevel`?"
        ),
        format!(
            "error: {file}: virtualClusters.default.virtualCells[0].cellNumber: must be at least 0, got -1"
        ),
        format!(
            "error: {file}: virtualClusters: chain K80-NODE: VCs ask for 5 cells of type K80 but the cluster has 4 (vc1: 5); lower cellNumber or add nodes"
        ),
    ] {
        assert!(
            stderr.contains(&expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("invalid (3 errors)"), "{stderr}");
    let _ = std::fs::remove_file(&path);
}

#[test]
fn a_missing_file_exits_1_naming_it() {
    let path = std::env::temp_dir().join(format!("cellsim-no-such-{}.yaml", std::process::id()));
    let out = cellsim(&["validate".as_ref(), path.as_os_str()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot read the file"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn usage_errors_exit_2() {
    let out = cellsim(&["validate".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("FILE"), "{}", text(&out.stderr));
    let out = cellsim(&["frobnicate".as_ref()]);
    assert_eq!(out.status.code(), Some(2));
    let out = cellsim(&["--help".as_ref()]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("validate"));
}
