//! The README's commands, run as written, so the README cannot drift from the CLI
//! (issue 16 §6). Every `cellsim …` line of the README's `sh` blocks runs, in order, from
//! a folder that looks like a fresh clone (`scenarios/`, `traces/`, `deploy/` and, where
//! it exists, `../shared/`), and must succeed; lines that need `../shared/` are skipped
//! with a notice when it is absent. `serve` and `load` run until stopped, so of them only
//! the files they name are checked. Also: the serve walkthrough's cluster file is the
//! cluster inside `deploy/config.yaml`, and traces/README.md documents every key of the
//! gen-trace spec.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{root, scratch};

/// The `cellsim` commands of the README's `sh` blocks, continuation lines joined and
/// comments dropped, in order.
fn readme_commands() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.starts_with("```") {
            in_sh = line == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let joined = format!("{pending}{}", line.trim_start());
        if let Some(head) = joined.strip_suffix('\\') {
            pending = head.to_string();
            continue;
        }
        pending.clear();
        if joined.starts_with("cellsim ") {
            commands.push(joined);
        }
    }
    commands
}

/// The words of `command` as a shell would split them, without a trailing `# comment`
/// or `&`.
fn words(command: &str) -> Vec<String> {
    let mut words = shlex::split(command).unwrap_or_else(|| panic!("not shell words: {command}"));
    if let Some(comment) = words.iter().position(|w| w.starts_with('#')) {
        words.truncate(comment);
    }
    if words.last().is_some_and(|w| w == "&") {
        words.pop();
    }
    words
}

/// A folder laid out like a clone: `DIR/repo/{scenarios,traces,deploy}` linked to the
/// crate's, and `DIR/shared` linked to `../shared/` when it exists.
fn fresh_clone(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for folder in ["scenarios", "traces", "deploy"] {
        std::os::unix::fs::symlink(root().join(folder), repo.join(folder)).unwrap();
    }
    let shared_dir = root().join("../shared");
    if shared_dir.is_dir() {
        std::os::unix::fs::symlink(shared_dir.canonicalize().unwrap(), dir.join("shared")).unwrap();
    }
    repo
}

#[test]
fn every_readme_command_runs() {
    let commands = readme_commands();
    assert!(commands.len() >= 15, "found only {commands:?}");
    let dir = scratch("readme", "commands");
    let repo = fresh_clone(&dir);
    let have_shared = root().join("../shared").is_dir();
    for command in &commands {
        let words = words(command);
        if words.iter().any(|w| w.contains("../shared/")) && !have_shared {
            eprintln!("skipping (needs ../shared/): {command}");
            continue;
        }
        if matches!(words[1].as_str(), "serve" | "load") {
            // Long-running: check the files it names instead.
            for path in words.iter().skip(2).filter(|w| w.ends_with(".yaml")) {
                assert!(
                    repo.join(path).is_file(),
                    "{command}: {path} does not exist"
                );
            }
            continue;
        }
        let started = std::time::Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_cellsim"))
            .current_dir(&repo)
            .args(&words[1..])
            .arg("--quiet")
            .output()
            .unwrap();
        // --quiet is not an option of every command: retry without it.
        let out = if out.status.code() == Some(2) {
            Command::new(env!("CARGO_BIN_EXE_cellsim"))
                .current_dir(&repo)
                .args(&words[1..])
                .output()
                .unwrap()
        } else {
            out
        };
        assert!(
            out.status.success(),
            "README command failed ({:?}): {command}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("ran in {:.1} s: {command}", started.elapsed().as_secs_f64());
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_readme_names_no_missing_example_file() {
    // See: issue 16 §6: cluster.yaml, hived-config.yaml and jobs.csv did not exist.
    let commands = readme_commands();
    for command in &commands {
        for word in words(command).iter().skip(2) {
            let looks_like_input = [".yaml", ".csv", ".json"]
                .iter()
                .any(|ext| word.ends_with(ext))
                && !word.starts_with("out/")
                && !word.starts_with("../shared/");
            if looks_like_input {
                assert!(
                    root().join(word).is_file(),
                    "{command}: {word} does not exist"
                );
            }
        }
    }
}

#[test]
fn the_serve_walkthrough_cluster_is_the_one_inside_deploy_config() {
    let config = std::fs::read_to_string(root().join("deploy/config.yaml")).unwrap();
    let file = std::fs::read_to_string(root().join("deploy/cluster.yaml")).unwrap();
    let first = config.split("\n---\n").next().unwrap();
    let start = first
        .find("  cluster.yaml: |\n")
        .expect("the ConfigMap's cluster.yaml")
        + 17;
    let embedded: String = first[start..]
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect();
    let body: String = file
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_eq!(
        body.trim(),
        embedded.trim(),
        "deploy/cluster.yaml must be the cluster.yaml of deploy/config.yaml"
    );
}

#[test]
fn traces_readme_documents_every_gen_trace_key() {
    // See: issue 16 §6: `gen-trace --help` pointed to a section that did not exist.
    let readme = std::fs::read_to_string(root().join("traces/README.md")).unwrap();
    let section = readme
        .split("## gen-trace spec")
        .nth(1)
        .expect("traces/README.md has a gen-trace spec section");
    let spec = cellsim::workload::GenSpec::philly();
    let yaml = serde_yaml_ng::to_value(&spec).unwrap();
    let mut keys: Vec<String> = yaml
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    // Optional keys the default leaves out.
    keys.extend(["jobs", "span_s", "max_gpus"].map(String::from));
    for key in &keys {
        assert!(
            section.contains(&format!("| `{key}` |")),
            "traces/README.md's gen-trace spec section lacks key {key}"
        );
    }
    // The example file uses every key and loads.
    let example = root().join("traces/gen-spec-example.yaml");
    let text = std::fs::read_to_string(&example).unwrap();
    for key in &keys {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key}:"))),
            "gen-spec-example.yaml lacks {key}"
        );
    }
    cellsim::workload::GenSpec::from_file(&example).unwrap();
}
