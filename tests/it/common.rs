//! Helpers shared by the integration tests: locating `../shared/` and skipping politely,
//! the crate's root, scratch folders, and reading back a folder of outputs.

use std::path::PathBuf;

/// Path of a file under the sibling `shared/` folder, or `None` (with a printed notice)
/// when it is absent, as on a user's fresh clone. CI always has it (`.ci/run` checks).
pub fn shared(relative: &str) -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    if !root.is_dir() {
        eprintln!("skipping: ../shared/ is absent (tests that read it run in CI)");
        return None;
    }
    Some(root.join(relative))
}

/// The crate's root folder (where the CLI finds `scenarios/` and `traces/`).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A fresh, empty scratch folder for one test: `cellsim-AREA-PID-NAME` in the temp dir.
pub fn scratch(area: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cellsim-{area}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file under `dir`, as (path relative to `dir`, bytes), sorted by path.
pub fn files_under(dir: &std::path::Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                files.push((path.strip_prefix(dir).unwrap().to_path_buf(), bytes));
            }
        }
    }
    files.sort();
    files
}

/// A group of `pods` pods of `gpus` GPUs each in `vc` at `priority`; it follows the
/// caller's suggested nodes when `follow_suggestions` is true (HiveD's default ignores
/// them).
pub fn one_shape_group(
    name: &str,
    vc: &str,
    priority: i32,
    pods: u32,
    gpus: u32,
    follow_suggestions: bool,
) -> cellsim::cell::GroupRequest {
    cellsim::cell::GroupRequest {
        name: name.into(),
        virtual_cluster: vc.into(),
        priority,
        leaf_cell_type: None,
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        ignore_k8s_suggested_nodes: !follow_suggestions,
        members: vec![cellsim::cell::GroupMember::whole(pods, gpus)],
    }
}

/// The nodes a bind decision places its pods on, sorted; panics on any other decision.
pub fn placed_nodes(decision: &cellsim::cell::Decision) -> Vec<String> {
    match decision {
        cellsim::cell::Decision::Bind(p) => {
            let mut nodes: Vec<String> = p.pods.iter().map(|p| p.node.clone()).collect();
            nodes.sort();
            nodes
        }
        other => panic!("expected a bind, got {other:?}"),
    }
}

/// A set of node names, as a schedule call's suggested nodes.
pub fn node_set(names: &[&str]) -> std::collections::HashSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}
