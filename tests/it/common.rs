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
