//! Parameter sweeps for capacity planning: a base scenario (a trace replayed on a
//! cluster, or a `cellsim run` scenario) run over the cartesian product of its axes
//! (nodes of a SKU added or removed, one VC's guaranteed share, load, models, seeds) in
//! parallel on rayon. Each finished run is appended to `runs.jsonl` at once, so an
//! interrupted sweep keeps its work and `--resume` runs only what is missing; `--shard
//! I/N` runs one slice for a batch engine and [`merge`] joins the slices. The tables
//! and plots are made from the results alone, sorted by point, so one process, a resumed
//! run and merged shards write the same bytes. [`plan`] answers "how many nodes to add"
//! by searching the nodes axis.
//!
//! Module map: [`spec`] reads sweep files, [`points`] expands the axes, [`base`] builds
//! each point's scenario ([`kueue`] for a Kueue replay and its quota axis), [`results`] stores and tabulates results, [`plot`] draws them,
//! [`plan`] searches.

pub mod base;
pub mod kueue;
pub mod plan;
pub mod plot;
pub mod points;
pub mod results;
pub mod spec;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use indicatif::ProgressBar;
use rayon::prelude::*;

use base::Base;
use points::{Point, Shard};
use results::{PointResult, RunsWriter, SweepManifest};
use spec::SweepSpec;

use crate::config::CellConfig;
use crate::run::Progress;

pub use plan::{PlanAnswer, plan};
pub use spec::{PlanOverrides, load_file, load_file_with, load_str};

/// Why a sweep, a plan or a merge failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SweepError {
    /// Bad input: the sweep file, its base, an option, or an output folder holding
    /// something else. The message names the file and key and says what to change.
    #[error("{0}")]
    Input(String),
    /// A result or table could not be written.
    #[error("{path}: cannot write: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
}

impl SweepError {
    fn write(path: &Path, err: std::io::Error) -> SweepError {
        SweepError::Write {
            path: path.to_path_buf(),
            message: err.to_string(),
        }
    }

    fn read(path: &Path, err: std::io::Error) -> SweepError {
        SweepError::Input(format!("{}: cannot read: {err}", path.display()))
    }
}

/// How to run a sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// The output folder.
    pub out: PathBuf,
    /// Worker threads; `None`: one per core.
    pub jobs: Option<usize>,
    /// Continue a sweep whose folder already holds results.
    pub resume: bool,
    /// The slice of the sweep to run.
    pub shard: Shard,
}

/// What a sweep did.
#[derive(Debug, Clone)]
pub struct SweepOutcome {
    /// Points in the whole sweep.
    pub points: usize,
    /// Points of this shard.
    pub in_shard: usize,
    /// Points found done in the folder (resumed).
    pub already_done: usize,
    /// Points run now.
    pub ran: usize,
    /// Whether the tables and plots were written (the whole sweep is done in this folder).
    pub tables_written: bool,
}

/// A sweep ready to run: the spec, the base read once, and the points.
pub struct Sweep {
    /// The sweep file, with the models resolved from the base when it lists none.
    pub spec: SweepSpec,
    /// The base.
    pub base: Base,
    /// Every point.
    pub points: Vec<Point>,
}

impl Sweep {
    /// Reads the base of `spec`, checks the axes against it and expands the points.
    pub fn prepare(mut spec: SweepSpec) -> Result<Sweep, SweepError> {
        let base = Base::load(&spec)?;
        if spec.axes.models.is_empty() {
            spec.axes.models = base.models();
        }
        base.check_axes(&spec)?;
        let points = points::expand(&spec.axes);
        Ok(Sweep { spec, base, points })
    }

    /// The manifest stored with the results.
    pub fn manifest(&self) -> SweepManifest {
        SweepManifest {
            results_version: results::RESULTS_VERSION,
            name: self.spec.name.clone(),
            base: self.base.describe(&self.spec),
            points: self.points.iter().map(Point::key).collect(),
        }
    }

    /// Runs `point` on `config` (its cluster) and digests the run.
    pub fn run_point(&self, config: &CellConfig, point: &Point) -> Result<PointResult, SweepError> {
        let made = self.base.scenario(&self.spec, config, point)?;
        let summary = crate::run::summary(&made.scenario, &point.model).map_err(|e| {
            SweepError::Input(format!("point {} ({}): {e}", point.index, point.key()))
        })?;
        Ok(PointResult {
            point: point.clone(),
            key: point.key(),
            jobs_left_out: made.left_out,
            summary,
        })
    }

    /// Builds the cluster of every distinct (nodes, share) among `points`, so that a
    /// point the base cannot take fails before anything runs.
    fn clusters(&self, points: &[&Point]) -> Result<BTreeMap<ClusterKey, CellConfig>, SweepError> {
        let keys: BTreeSet<ClusterKey> = points.iter().map(|p| ClusterKey::of(p)).collect();
        keys.into_iter()
            .map(|key| {
                let config = self.base.cluster(
                    &self.spec,
                    key.nodes_added,
                    key.share.map(f64::from_bits),
                )?;
                Ok((key, config))
            })
            .collect()
    }
}

/// Which cluster a point runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ClusterKey {
    nodes_added: i64,
    /// The share's bits (f64 is not `Ord`).
    share: Option<u64>,
}

impl ClusterKey {
    fn of(point: &Point) -> ClusterKey {
        ClusterKey {
            nodes_added: point.nodes_added,
            share: point.vc_share.map(f64::to_bits),
        }
    }
}

/// Runs `sweep` (the slice `options.shard`) into `options.out`: points already in the
/// folder are skipped when resuming, the rest run on `options.jobs` threads, each result
/// is appended as it finishes, and when the folder holds every point of the sweep the
/// tables and plots are written.
pub fn run(
    sweep: &Sweep,
    options: &SweepOptions,
    progress: &Progress,
) -> Result<SweepOutcome, SweepError> {
    let out = &options.out;
    let manifest = sweep.manifest();
    prepare_folder(out, &manifest, options.resume)?;
    let done = results::read_runs(out)?;
    check_results(out, &manifest, &done)?;
    let done_indices: BTreeSet<usize> = done.iter().map(|r| r.point.index).collect();
    let in_shard: Vec<&Point> = sweep
        .points
        .iter()
        .filter(|p| options.shard.holds(p.index))
        .collect();
    let todo: Vec<&Point> = in_shard
        .iter()
        .copied()
        .filter(|p| !done_indices.contains(&p.index))
        .collect();
    let clusters = sweep.clusters(&todo)?;

    let writer = Mutex::new(RunsWriter::open(out)?);
    let bar = progress.count_bar("sweep", todo.len() as u64);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(options.jobs.unwrap_or(0))
        .build()
        .map_err(|e| SweepError::Input(format!("--jobs: cannot start the worker threads: {e}")))?;
    pool.install(|| {
        todo.par_iter().try_for_each(|point| {
            let config = &clusters[&ClusterKey::of(point)];
            let result = sweep.run_point(config, point)?;
            writer
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .append(&result)?;
            bar.inc(1);
            Ok::<(), SweepError>(())
        })
    })?;
    bar.finish_and_clear();

    let all = results::read_runs(out)?;
    let complete = all.len() == sweep.points.len();
    if complete {
        write_tables(out, &manifest, all)?;
    }
    Ok(SweepOutcome {
        points: sweep.points.len(),
        in_shard: in_shard.len(),
        already_done: in_shard.len() - todo.len(),
        ran: todo.len(),
        tables_written: complete,
    })
}

/// Makes `out` ready for `manifest`'s results: a new folder gets the manifest; a folder
/// with results continues only with `resume` and only for the same sweep.
fn prepare_folder(out: &Path, manifest: &SweepManifest, resume: bool) -> Result<(), SweepError> {
    std::fs::create_dir_all(out).map_err(|e| SweepError::write(out, e))?;
    let path = out.join(results::MANIFEST_FILE);
    let has_runs = out.join(results::RUNS_FILE).is_file();
    match read_manifest(&path)? {
        Some(existing) => {
            if existing != *manifest {
                return Err(SweepError::Input(format!(
                    "{}: the folder holds results of another sweep ({}; {} points); choose another --out or remove it",
                    out.display(),
                    existing.name,
                    existing.points.len()
                )));
            }
            if has_runs && !resume {
                return Err(SweepError::Input(format!(
                    "{}: the folder already holds results of this sweep; pass --resume to run only what is missing, or remove the folder to start over",
                    out.display()
                )));
            }
            Ok(())
        }
        None => {
            if has_runs {
                return Err(SweepError::Input(format!(
                    "{}: holds {} but no {}; it is not a sweep folder: choose another --out",
                    out.display(),
                    results::RUNS_FILE,
                    results::MANIFEST_FILE
                )));
            }
            write_file(&path, &manifest_json(manifest))
        }
    }
}

fn manifest_json(manifest: &SweepManifest) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(manifest).expect("plain data serialises");
    bytes.push(b'\n');
    bytes
}

fn read_manifest(path: &Path) -> Result<Option<SweepManifest>, SweepError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(SweepError::read(path, e)),
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        SweepError::Input(format!(
            "{}: not a sweep manifest ({e}); the folder holds something else",
            path.display()
        ))
    })
}

/// Every result must be a point of `manifest`, under the key it has there.
fn check_results(
    dir: &Path,
    manifest: &SweepManifest,
    results: &[PointResult],
) -> Result<(), SweepError> {
    for result in results {
        let expected = manifest.points.get(result.point.index);
        if expected != Some(&result.key) || result.point.key() != result.key {
            return Err(SweepError::Input(format!(
                "{}: result {:?} is not point {} of this sweep; the folder holds results of another sweep",
                dir.join(results::RUNS_FILE).display(),
                result.key,
                result.point.index
            )));
        }
    }
    Ok(())
}

/// Writes the outputs made from the whole sweep's results: `runs.jsonl` in point order,
/// `points.csv`, `points.json` and the plots.
fn write_tables(
    out: &Path,
    manifest: &SweepManifest,
    mut all: Vec<PointResult>,
) -> Result<(), SweepError> {
    all.sort_by_key(|r| r.point.index);
    all.dedup_by_key(|r| r.point.index);
    let mut runs = Vec::new();
    for result in &all {
        runs.extend(serde_json::to_vec(result).expect("plain data serialises"));
        runs.push(b'\n');
    }
    write_file(&out.join(results::RUNS_FILE), &runs)?;
    write_file(&out.join(results::MANIFEST_FILE), &manifest_json(manifest))?;
    write_file(&out.join(results::TABLE_CSV), &results::table_csv(&all))?;
    write_file(
        &out.join(results::TABLE_JSON),
        &results::table_json(manifest, &all),
    )?;
    write_file(
        &out.join(plot::P95_PLOT),
        plot::p95_wait_svg(&manifest.name, &all).as_bytes(),
    )?;
    Ok(())
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<(), SweepError> {
    std::fs::write(path, bytes).map_err(|e| SweepError::write(path, e))
}

/// What [`merge`] joined.
#[derive(Debug, Clone)]
pub struct MergeOutcome {
    /// The sweep's name.
    pub name: String,
    /// Points in the sweep (all present).
    pub points: usize,
    /// Shard folders read.
    pub shards: usize,
}

/// Joins the folders of a sweep's shards into `out`: they must hold the same sweep and
/// together every point (each once, or identical where they overlap). Writes what an
/// unsharded run writes, byte for byte.
pub fn merge(out: &Path, shards: &[PathBuf]) -> Result<MergeOutcome, SweepError> {
    let Some(first) = shards.first() else {
        return Err(SweepError::Input(
            "merge needs at least one shard folder".to_string(),
        ));
    };
    let manifest_of = |dir: &Path| {
        read_manifest(&dir.join(results::MANIFEST_FILE))?.ok_or_else(|| {
            SweepError::Input(format!(
                "{}: no {}; give folders written by `cellsim sweep --shard I/N --out DIR`",
                dir.display(),
                results::MANIFEST_FILE
            ))
        })
    };
    let manifest = manifest_of(first)?;
    let mut by_index: BTreeMap<usize, (PointResult, PathBuf)> = BTreeMap::new();
    for dir in shards {
        let other = manifest_of(dir)?;
        if other != manifest {
            return Err(SweepError::Input(format!(
                "{} holds sweep {:?} ({} points) but {} holds {:?} ({} points), or the same sweep on another base; merge shards of one sweep only",
                dir.display(),
                other.name,
                other.points.len(),
                first.display(),
                manifest.name,
                manifest.points.len()
            )));
        }
        let results = results::read_runs(dir)?;
        check_results(dir, &manifest, &results)?;
        for result in results {
            match by_index.get(&result.point.index) {
                Some((seen, seen_in)) if *seen != result => {
                    return Err(SweepError::Input(format!(
                        "point {} ({}) has different results in {} and {}; the shards were run from different inputs",
                        result.point.index,
                        result.key,
                        seen_in.display(),
                        dir.display()
                    )));
                }
                Some(_) => {}
                None => {
                    by_index.insert(result.point.index, (result, dir.clone()));
                }
            }
        }
    }
    let missing: Vec<&String> = manifest
        .points
        .iter()
        .enumerate()
        .filter(|(i, _)| !by_index.contains_key(i))
        .map(|(_, key)| key)
        .collect();
    if !missing.is_empty() {
        let examples: Vec<&str> = missing.iter().take(3).map(|k| k.as_str()).collect();
        return Err(SweepError::Input(format!(
            "{} of {} points are in none of the shard folders (first: {}); run the missing shards (with --resume to finish a cut-short one) and merge again",
            missing.len(),
            manifest.points.len(),
            examples.join("; ")
        )));
    }
    std::fs::create_dir_all(out).map_err(|e| SweepError::write(out, e))?;
    let all: Vec<PointResult> = by_index.into_values().map(|(r, _)| r).collect();
    write_tables(out, &manifest, all)?;
    Ok(MergeOutcome {
        name: manifest.name.clone(),
        points: manifest.points.len(),
        shards: shards.len(),
    })
}

/// Runs `points` of `sweep` on `jobs` threads without writing anything (for [`plan`]),
/// returning results in the order given.
pub(crate) fn run_points(
    sweep: &Sweep,
    points: &[Point],
    jobs: Option<usize>,
    bar: &ProgressBar,
) -> Result<Vec<PointResult>, SweepError> {
    let refs: Vec<&Point> = points.iter().collect();
    let clusters = sweep.clusters(&refs)?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
        .map_err(|e| SweepError::Input(format!("--jobs: cannot start the worker threads: {e}")))?;
    pool.install(|| {
        points
            .par_iter()
            .map(|point| {
                let result = sweep.run_point(&clusters[&ClusterKey::of(point)], point);
                bar.inc(1);
                result
            })
            .collect()
    })
}
