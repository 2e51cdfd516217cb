//! A run's output folder: what wrote it ([`Manifest`], `manifest.json` in the folder) and
//! whether a run may write into it ([`prepare`]), so that results of two runs never mix
//! silently, and the check `compare` makes before reading two folders ([`check_comparable`]).
//!
//! The rule: a run writes into an empty or new folder, or into the folder of the same run
//! (same command, input, models, seed and options: its files are all rewritten). A folder
//! holding another run's results is refused unless `--replace` is given; then what that
//! run wrote (its model folders and files, as its manifest lists them) is removed first,
//! and a note on stderr says so. A non-empty folder without a manifest is refused too;
//! with `--replace` the run writes into it and says that files it does not write are kept.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::RunError;

/// The manifest's file name in an output folder.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What wrote an output folder. Two runs are the same run when everything but the
/// cellsim version is equal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// The subcommand (`run`, `replay`, `lab`, `sweep`, `plan`).
    pub command: String,
    /// The scenario, trace or sweep file as given (or a built-in's path).
    pub input: String,
    /// CRC-32 of the input file's bytes, when it was read from a file: the same path
    /// with other contents is another input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_crc32: Option<String>,
    /// The cluster of a replay, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// The models run; each wrote `MODEL/`.
    pub models: Vec<String>,
    /// The runs' seed.
    pub seed: u64,
    /// Options that change which files are written (e.g. `--no-sharing`).
    #[serde(default)]
    pub options: Vec<String>,
    /// Files the run writes at the top of the folder (besides the model folders and
    /// this manifest).
    #[serde(default)]
    pub files: Vec<String>,
    /// The cellsim version that wrote the folder.
    pub cellsim_version: String,
}

impl Manifest {
    /// A manifest for `command` on `input`, with no models, seed 0, no options or files.
    pub fn new(command: &str, input: &str) -> Manifest {
        Manifest {
            command: command.to_string(),
            input: input.to_string(),
            input_crc32: None,
            cluster: None,
            models: Vec::new(),
            seed: 0,
            options: Vec::new(),
            files: Vec::new(),
            cellsim_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// With the CRC-32 of `path`'s bytes as the input's fingerprint (none when it cannot
    /// be read: the run's own reading will say why).
    pub fn with_input_file(mut self, path: &Path) -> Manifest {
        self.input_crc32 = std::fs::read(path)
            .ok()
            .map(|bytes| format!("{:08x}", crc32fast::hash(&bytes)));
        self
    }

    /// With these models.
    pub fn with_models(&self, models: &[String]) -> Manifest {
        Manifest {
            models: models.to_vec(),
            ..self.clone()
        }
    }

    /// With this seed.
    pub fn with_seed(mut self, seed: u64) -> Manifest {
        self.seed = seed;
        self
    }

    /// With this cluster.
    pub fn with_cluster(mut self, cluster: &str) -> Manifest {
        self.cluster = Some(cluster.to_string());
        self
    }

    /// With `option` among the options that change which files are written.
    pub fn with_option(mut self, option: &str) -> Manifest {
        self.options.push(option.to_string());
        self
    }

    /// With these top-level files.
    pub fn with_files(mut self, files: &[&str]) -> Manifest {
        self.files = files.iter().map(|f| f.to_string()).collect();
        self
    }

    /// Whether `other` describes the same run (everything but the version equal).
    pub fn same_run(&self, other: &Manifest) -> bool {
        Manifest {
            cellsim_version: String::new(),
            ..self.clone()
        } == Manifest {
            cellsim_version: String::new(),
            ..other.clone()
        }
    }

    /// The run as a person reads it: "`cellsim run scenarios/a.yaml` (models a, b; seed 0)".
    pub fn describe(&self) -> String {
        let mut text = format!("`cellsim {} {}", self.command, self.input);
        if let Some(cluster) = &self.cluster {
            text.push_str(&format!(" --cluster {cluster}"));
        }
        for option in &self.options {
            text.push(' ');
            text.push_str(option);
        }
        text.push('`');
        if !self.models.is_empty() {
            text.push_str(&format!(
                " (models {}; seed {})",
                self.models.join(", "),
                self.seed
            ));
        } else {
            text.push_str(&format!(" (seed {})", self.seed));
        }
        text
    }

    /// What this run writes in its folder, for removal: model folders with a `/`.
    fn entries(&self) -> Vec<String> {
        let mut entries: Vec<String> = self.models.iter().map(|m| format!("{m}/")).collect();
        entries.extend(self.files.iter().cloned());
        entries
    }
}

/// Reads `dir`'s manifest: `None` when there is none; an error message when it is not a
/// manifest.
pub fn read_manifest(dir: &Path) -> Result<Option<Manifest>, String> {
    let path = dir.join(MANIFEST_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| format!("{}: not a cellsim manifest: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("{}: cannot read: {e}", path.display())),
    }
}

fn write_error(path: &Path, source: std::io::Error) -> RunError {
    RunError::Write(crate::report::WriteError {
        path: path.to_path_buf(),
        source,
    })
}

/// Makes `dir` ready for the run `manifest` describes and writes the manifest into it
/// (before the run, so that even a run cut short leaves it saying what wrote the folder).
/// See the module docs for the rule; `replace` is the `--replace` flag.
pub fn prepare(dir: &Path, manifest: &Manifest, replace: bool) -> Result<(), RunError> {
    let listing: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.filter_map(|e| e.ok().map(|e| e.path())).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            return Err(RunError::Input(format!(
                "{}: cannot read: {e}",
                dir.display()
            )));
        }
    };
    if !listing.is_empty() {
        let existing = read_manifest(dir);
        match existing {
            Ok(Some(earlier)) if earlier.same_run(manifest) => {}
            Ok(Some(earlier)) if replace => {
                let removed = remove_entries(dir, &earlier.entries())?;
                say_removed(dir, &earlier.describe(), &removed);
            }
            Ok(Some(earlier)) => {
                return Err(RunError::Input(format!(
                    "{}: the folder holds the results of another run, {}; this run's files would \
                     mix with them. Choose another --out, or pass --replace to remove what that \
                     run wrote first",
                    dir.display(),
                    earlier.describe()
                )));
            }
            Ok(None) | Err(_) if replace => {
                eprintln!(
                    "warning: {}: no {MANIFEST_FILE} says what wrote the folder; with --replace \
                     this run writes into it and keeps the files it does not write",
                    dir.display()
                );
            }
            Ok(None) | Err(_) => {
                return Err(RunError::Input(format!(
                    "{}: the folder is not empty and no {MANIFEST_FILE} says what wrote it; \
                     choose another --out, or pass --replace to write into it anyway",
                    dir.display()
                )));
            }
        }
    }
    write_manifest(dir, manifest)
}

/// With `--replace`, empties a sweep's folder of what a sweep writes there (`files`, its
/// `manifest.json` included) so that another sweep, or this one from the start, writes
/// into it; says on stderr what it removed. A sweep folder has its own rule (the same
/// sweep continues with `--resume`, another is refused), which [`prepare`] does not know.
pub fn clear_sweep_folder(dir: &Path, files: &[&str]) -> Result<(), RunError> {
    let earlier = read_manifest(dir)
        .ok()
        .flatten()
        .map_or_else(|| "an earlier sweep".to_string(), |m| m.describe());
    let mut entries: Vec<String> = files.iter().map(|f| f.to_string()).collect();
    entries.push(MANIFEST_FILE.to_string());
    let removed = remove_entries(dir, &entries)?;
    say_removed(dir, &earlier, &removed);
    Ok(())
}

/// Removes `entries` of `dir` (folders end in `/`); gives those that were there.
fn remove_entries(dir: &Path, entries: &[String]) -> Result<Vec<String>, RunError> {
    let mut removed = Vec::new();
    for entry in entries {
        let path = dir.join(entry.trim_end_matches('/'));
        let gone = if entry.ends_with('/') {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        match gone {
            Ok(()) => removed.push(entry.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(write_error(&path, e)),
        }
    }
    Ok(removed)
}

/// The `--replace` note: what was removed from `dir`, and which run had written it.
fn say_removed(dir: &Path, earlier: &str, removed: &[String]) {
    eprintln!(
        "note: {}: --replace removed what {earlier} wrote there: {}",
        dir.display(),
        if removed.is_empty() {
            "nothing was left of it".to_string()
        } else {
            removed.join(", ")
        }
    );
}

/// Writes `manifest` into `dir` (created if needed), without the checks of [`prepare`]:
/// for folders whose own rule was checked already (a sweep's).
pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), RunError> {
    std::fs::create_dir_all(dir).map_err(|e| write_error(dir, e))?;
    let path = dir.join(MANIFEST_FILE);
    let mut json = serde_json::to_string_pretty(manifest).expect("plain data serialises");
    json.push('\n');
    std::fs::write(&path, json).map_err(|e| write_error(&path, e))
}

/// The run folder a `compare` argument belongs to, and the model folder it names (if
/// any): a run folder itself, a model folder in one, or a `summary.json` in one.
fn run_folder(path: &Path) -> (PathBuf, Option<String>) {
    let dir = if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    };
    if dir.join(MANIFEST_FILE).is_file() || !dir.join("summary.json").is_file() {
        return (dir, None);
    }
    let model = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned());
    let parent = dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let parent = if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent
    };
    (parent, model)
}

/// Model folders (holding a `summary.json`) inside `dir`, by name.
fn model_folders(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("summary.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Checks, before `compare` reads them, that `baseline` and `candidate` (summary files,
/// model folders or run folders) hold what one run of each wrote and that the two runs
/// are comparable: the same command and input (by fingerprint when both have one), the
/// same cluster and seed. Folders without a manifest (written before manifests existed)
/// are not checked. The error says what differs and what to do.
pub fn check_comparable(baseline: &Path, candidate: &Path) -> Result<(), String> {
    let mut sides = Vec::new();
    for (label, path) in [("baseline", baseline), ("candidate", candidate)] {
        let (dir, model) = run_folder(path);
        let Some(manifest) = read_manifest(&dir)? else {
            continue;
        };
        if model.is_none() {
            let stray: Vec<String> = model_folders(&dir)
                .into_iter()
                .filter(|m| !manifest.models.contains(m))
                .collect();
            if !stray.is_empty() {
                return Err(format!(
                    "the {label} {} holds model folder(s) {} that {} did not write: they are \
                     left from an earlier run, and reading them as one run would mix results. \
                     Remove them, or rerun into the folder with --replace",
                    dir.display(),
                    stray.join(", "),
                    manifest.describe()
                ));
            }
        }
        if let Some(model) = &model
            && !manifest.models.contains(model)
        {
            return Err(format!(
                "the {label} {} is not a model of the run that wrote {} ({}): it is left \
                 from an earlier run",
                path.display(),
                dir.display(),
                manifest.describe()
            ));
        }
        sides.push((label, dir, manifest));
    }
    // Folders written before manifests existed are compared as they are.
    if sides.len() < 2 {
        return Ok(());
    }
    let (_, base_dir, base) = &sides[0];
    let (_, cand_dir, cand) = &sides[1];
    let same_input = match (&base.input_crc32, &cand.input_crc32) {
        (Some(a), Some(b)) => a == b,
        _ => base.input == cand.input,
    };
    let mut differences = Vec::new();
    if base.command != cand.command {
        differences.push(format!("command {} vs {}", base.command, cand.command));
    }
    if !same_input {
        differences.push(format!(
            "input {}{} vs {}{}",
            base.input,
            base.input_crc32
                .as_ref()
                .map_or(String::new(), |c| format!(" (crc32 {c})")),
            cand.input,
            cand.input_crc32
                .as_ref()
                .map_or(String::new(), |c| format!(" (crc32 {c})"))
        ));
    }
    if base.cluster != cand.cluster {
        differences.push(format!(
            "cluster {} vs {}",
            base.cluster.as_deref().unwrap_or("(the scenario's)"),
            cand.cluster.as_deref().unwrap_or("(the scenario's)")
        ));
    }
    if base.seed != cand.seed {
        differences.push(format!("seed {} vs {}", base.seed, cand.seed));
    }
    if differences.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the runs are not comparable: the baseline {} was written by {}, the candidate {} \
             by {}; they differ in {}. Compare two runs of one input and seed",
            base_dir.display(),
            base.describe(),
            cand_dir.display(),
            cand.describe(),
            differences.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("cellsim-output-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn run(models: &[&str]) -> Manifest {
        Manifest::new("run", "scenarios/example.yaml")
            .with_models(&models.iter().map(|m| m.to_string()).collect::<Vec<_>>())
            .with_files(&["report.html"])
    }

    #[test]
    fn the_same_run_may_write_again_and_another_is_refused_without_replace() {
        // See: issue 16 §1 (run --model hived over a three-model folder).
        let dir = temp("refuse");
        prepare(&dir, &run(&["hived", "fifo"]), false).unwrap();
        std::fs::create_dir_all(dir.join("fifo")).unwrap();
        std::fs::write(dir.join("fifo/summary.json"), "{}").unwrap();
        std::fs::write(dir.join("report.html"), "x").unwrap();
        prepare(&dir, &run(&["hived", "fifo"]), false).unwrap();
        let Err(RunError::Input(message)) = prepare(&dir, &run(&["hived"]), false) else {
            panic!("another run's folder must be refused");
        };
        assert!(message.contains("--replace"), "{message}");
        assert!(message.contains("models hived, fifo"), "{message}");
        prepare(&dir, &run(&["hived"]), true).unwrap();
        assert!(
            !dir.join("fifo").exists(),
            "the earlier run's folders are removed"
        );
        assert!(!dir.join("report.html").exists());
        assert_eq!(read_manifest(&dir).unwrap(), Some(run(&["hived"])));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_folder_without_a_manifest_is_refused_unless_replaced() {
        let dir = temp("foreign");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("notes.txt"), "mine").unwrap();
        assert!(prepare(&dir, &run(&["hived"]), false).is_err());
        prepare(&dir, &run(&["hived"]), true).unwrap();
        assert!(
            dir.join("notes.txt").exists(),
            "files it did not write are kept"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn compare_refuses_stray_models_and_other_inputs() {
        let base = temp("cmp-base");
        let cand = temp("cmp-cand");
        for dir in [&base, &cand] {
            prepare(dir, &run(&["hived"]), false).unwrap();
            std::fs::create_dir_all(dir.join("hived")).unwrap();
            std::fs::write(dir.join("hived/summary.json"), "{}").unwrap();
        }
        check_comparable(&base, &cand).unwrap();
        check_comparable(&base.join("hived"), &cand.join("hived/summary.json")).unwrap();
        std::fs::create_dir_all(cand.join("fifo")).unwrap();
        std::fs::write(cand.join("fifo/summary.json"), "{}").unwrap();
        let message = check_comparable(&base, &cand).unwrap_err();
        assert!(
            message.contains("fifo") && message.contains("earlier run"),
            "{message}"
        );
        assert!(check_comparable(&base, &cand.join("fifo")).is_err());
        std::fs::remove_dir_all(cand.join("fifo")).unwrap();
        let other = run(&["hived"]).with_seed(7);
        std::fs::write(
            cand.join(MANIFEST_FILE),
            serde_json::to_string(&other).unwrap(),
        )
        .unwrap();
        let message = check_comparable(&base, &cand).unwrap_err();
        assert!(message.contains("seed 0 vs 7"), "{message}");
        for dir in [&base, &cand] {
            std::fs::remove_dir_all(dir).unwrap();
        }
    }
}
