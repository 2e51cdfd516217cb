//! Helpers shared by the integration tests: locating `../shared/` and skipping politely.

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
