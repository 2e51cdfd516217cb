//! The pipeline of `cellsim sweep` and `cellsim plan`: load and prepare the sweep, run
//! its points (each through [`super::summary`]) with a bar, write the results and say
//! where they are.

use std::path::{Path, PathBuf};

use super::output::{self, Manifest};
use super::{Progress, RunError};
use crate::sweep::{self, PlanOverrides, SweepError, SweepOptions, points::Shard};

/// How to run a sweep ([`sweep`]).
#[derive(Debug, Clone)]
pub struct SweepRun {
    /// The sweep file.
    pub sweep: PathBuf,
    /// The output folder (default: `out/NAME-sweep`, or `out/NAME-sweep-shard-I-of-N`;
    /// see [`super::default_out`]).
    pub out: Option<PathBuf>,
    /// Worker threads (default: one per core).
    pub jobs: Option<u16>,
    /// Continue a sweep whose folder already holds some results.
    pub resume: bool,
    /// `I/N`: run only every N-th point.
    pub shard: Option<String>,
    /// No progress bar.
    pub quiet: bool,
    /// Replace another run's results in the folder (see [`output::prepare`]).
    pub replace: bool,
}

/// `cellsim sweep`: run the sweep (or one shard of it) and say where the results are.
pub fn sweep(run: &SweepRun) -> Result<(), RunError> {
    let shard = match &run.shard {
        Some(text) => text
            .parse::<Shard>()
            .map_err(|e| RunError::Input(format!("--shard: {e}")))?,
        None => Shard::ALL,
    };
    let spec = sweep::load_file(&run.sweep).map_err(RunError::Sweep)?;
    let prepared = sweep::Sweep::prepare(spec).map_err(RunError::Sweep)?;
    let out = run.out.clone().unwrap_or_else(|| {
        let all = super::default_out("sweep", &prepared.spec.name);
        if shard == Shard::ALL {
            all
        } else {
            let name = all.file_name().unwrap_or_default().to_string_lossy();
            all.with_file_name(format!("{name}-shard-{}-of-{}", shard.index, shard.count))
        }
    });
    let sweep_files = [
        sweep::results::MANIFEST_FILE,
        sweep::results::RUNS_FILE,
        "points.csv",
        "points.json",
        "p95-wait.svg",
    ];
    let mut manifest = Manifest::new("sweep", &run.sweep.display().to_string())
        .with_input_file(&run.sweep)
        .with_files(&sweep_files);
    if shard != Shard::ALL {
        manifest = manifest.with_option(&format!("--shard {}/{}", shard.index, shard.count));
    }
    // A sweep's own folder (its sweep.json) has its own rule: the same sweep continues
    // with --resume, another is refused. Any other folder follows the manifest's rule.
    // --replace (without --resume) starts the folder over, whichever sweep wrote it.
    let mut sweep_folder = out.join(sweep::results::MANIFEST_FILE).is_file();
    if sweep_folder && run.replace && !run.resume {
        output::clear_sweep_folder(&out, &sweep_files)?;
        sweep_folder = false;
    }
    if !sweep_folder {
        output::prepare(&out, &manifest, run.replace)?;
    }
    let options = SweepOptions {
        out: out.clone(),
        jobs: run.jobs.map(usize::from),
        resume: run.resume,
        shard,
    };
    let started = std::time::Instant::now();
    let outcome =
        sweep::run(&prepared, &options, &Progress::new(run.quiet)).map_err(RunError::Sweep)?;
    let seconds = started.elapsed().as_secs_f64();
    if sweep_folder {
        output::write_manifest(&out, &manifest)?;
    }
    let slice = if shard == Shard::ALL {
        String::new()
    } else {
        format!(
            " (shard {}/{}: {} of them)",
            shard.index, shard.count, outcome.in_shard
        )
    };
    println!(
        "Sweep {}: {} points{slice}; ran {} in {seconds:.1} s, {} were already done.",
        prepared.spec.name, outcome.points, outcome.ran, outcome.already_done
    );
    if outcome.tables_written {
        println!(
            "Results: {} (points.csv, points.json, p95-wait.svg)",
            out.display()
        );
    } else {
        println!(
            "Results so far: {}/runs.jsonl; join the shard folders with `cellsim merge --out DIR SHARD_DIR...`",
            out.display()
        );
    }
    Ok(())
}

/// How to run a plan ([`plan`]).
#[derive(Debug, Clone)]
pub struct PlanRun {
    /// The sweep file with the base and (unless the overrides say all) a `plan:` section.
    pub sweep: PathBuf,
    /// The output folder for `plan.json` (default: `out/NAME-plan`).
    pub out: Option<PathBuf>,
    /// Worker threads (default: one per core).
    pub jobs: Option<u16>,
    /// What the flags override in the file's `plan:` section.
    pub overrides: PlanOverrides,
    /// No progress bar.
    pub quiet: bool,
    /// Replace another run's results in the folder (see [`output::prepare`]).
    pub replace: bool,
}

/// `cellsim plan`: search the nodes to add and print the answer with its evidence.
pub fn plan(run: &PlanRun) -> Result<(), RunError> {
    let spec = sweep::load_file_with(&run.sweep, &run.overrides).map_err(RunError::Sweep)?;
    let prepared = sweep::Sweep::prepare(spec.into_plan()).map_err(RunError::Sweep)?;
    let out = run
        .out
        .clone()
        .unwrap_or_else(|| super::default_out("plan", &prepared.spec.name));
    let mut manifest = Manifest::new("plan", &run.sweep.display().to_string())
        .with_input_file(&run.sweep)
        .with_files(&["plan.json"]);
    let o = &run.overrides;
    for (flag, value) in [
        ("--sku", o.sku.clone()),
        ("--gpus", o.gpus.map(|g| g.to_string())),
        ("--model", o.model.clone()),
        ("--target-p95", o.target_p95.clone()),
        ("--max-nodes", o.max_nodes.map(|n| n.to_string())),
        ("--step", o.step.map(|n| n.to_string())),
    ] {
        if let Some(value) = value {
            manifest = manifest.with_option(&format!("{flag} {value}"));
        }
    }
    output::prepare(&out, &manifest, run.replace)?;
    let answer = sweep::plan(
        &prepared,
        run.jobs.map(usize::from),
        &Progress::new(run.quiet),
    )
    .map_err(RunError::Sweep)?;
    print!("{}", sweep::plan::answer_text(&answer));
    let path = out.join("plan.json");
    let mut json = serde_json::to_vec_pretty(&answer).expect("plain data serialises");
    json.push(b'\n');
    std::fs::create_dir_all(&out)
        .and_then(|()| std::fs::write(&path, json))
        .map_err(|e| {
            RunError::Sweep(SweepError::Write {
                path: path.clone(),
                message: e.to_string(),
            })
        })?;
    println!("Evidence: {}", path.display());
    Ok(())
}

/// `cellsim merge`: joins the shard folders into `out` (see [`sweep::merge`]) and gives
/// it the manifest an unsharded sweep writes (the shards' without `--shard`).
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<sweep::MergeOutcome, RunError> {
    if !out.join(sweep::results::MANIFEST_FILE).is_file() {
        // Not a merged sweep already: a folder holding something else is refused.
        if let Some(manifest) = shard_manifest(shards)? {
            output::prepare(out, &manifest, false)?;
        }
    }
    let outcome = sweep::merge(out, shards).map_err(RunError::Sweep)?;
    if let Some(manifest) = shard_manifest(shards)? {
        output::write_manifest(out, &manifest)?;
    }
    Ok(outcome)
}

/// The first shard's manifest without its `--shard` option, if it has one.
fn shard_manifest(shards: &[PathBuf]) -> Result<Option<Manifest>, RunError> {
    let Some(first) = shards.first() else {
        return Ok(None);
    };
    let manifest = output::read_manifest(first).map_err(RunError::Input)?;
    Ok(manifest.map(|mut m| {
        m.options.retain(|o| !o.starts_with("--shard "));
        m
    }))
}
