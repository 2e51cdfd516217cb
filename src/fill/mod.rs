//! `cellsim fill`: the FGD paper's fragmentation experiment (ATC'23, "Beware of
//! Fragmentation"). Per placement and seed, the pod list is inflated to a multiple of the
//! cluster's GPU capacity ([`sampler`]) and placed pod by pod, never released, on a
//! [`SharedCluster`] made from the node list ([`run`]); the share of GPU capacity
//! allocated and fragmented is recorded per percent of arrived demand and written as
//! `curve.csv`, `table.csv`, `unallocated.svg` and `index.html` ([`report`]). Runs go in
//! parallel on rayon; each is deterministic in its seed, so outputs are byte-identical
//! whatever the thread count.

pub mod input;
pub mod report;
pub mod run;
pub mod sampler;

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::cell::sharing::SharedCluster;
use crate::placement::{self, TypicalPods};
use crate::run::Progress;
pub use input::FillPod;
pub use run::{CurvePoint, FillRun};

/// The placements run when none is named: the six of the FGD paper.
pub const PAPER_PLACEMENTS: [&str; 6] = [
    "fgd",
    "bestfit",
    "gpu-packing",
    "gpu-clustering",
    "dotprod",
    "random",
];

/// What to run.
#[derive(Debug, Clone)]
pub struct FillOptions {
    /// The openb node list.
    pub cluster: PathBuf,
    /// The openb pod list.
    pub trace: PathBuf,
    /// Placement names.
    pub placements: Vec<String>,
    /// Arrived GPU demand to reach, as a multiple of capacity (the paper: 1.3).
    pub inflate: f64,
    /// Seeds, one run per seed and placement.
    pub seeds: Vec<u64>,
    /// Output folder.
    pub out: PathBuf,
}

impl FillOptions {
    /// The options of `cellsim fill`'s flags (seeds parsed, the paper's six placements
    /// when none is named).
    pub fn from_args(args: &crate::cli::FillArgs) -> Result<FillOptions, FillError> {
        let seeds = parse_seeds(&args.seeds).map_err(|e| option_error("--seeds", e))?;
        let placements = if args.placement.is_empty() {
            PAPER_PLACEMENTS.iter().map(|p| p.to_string()).collect()
        } else {
            args.placement.clone()
        };
        Ok(FillOptions {
            cluster: args.cluster.clone(),
            trace: args.trace.clone(),
            placements,
            inflate: args.inflate,
            seeds,
            out: args.out.clone(),
        })
    }
}

/// Why `fill` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FillError {
    /// A bad input file or option: the user must fix it (exit 1).
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(", line {l}")).unwrap_or_default())]
    Input {
        /// The file (or the option's name).
        path: PathBuf,
        /// The line, when one is at fault.
        line: Option<u64>,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// An output could not be written (exit 3).
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
}

/// What a finished `fill` gives: every run and the table.
#[derive(Debug, Clone)]
pub struct FillOutcome {
    /// Every run, placement-major in the order asked, then by seed.
    pub runs: Vec<FillRun>,
    /// One row per placement.
    pub table: Vec<report::TableRow>,
}

/// Parses seeds: `42-51`, `1,2,7` or a mix (`1,5-7`).
pub fn parse_seeds(text: &str) -> Result<Vec<u64>, String> {
    let mut seeds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("bad seeds '{part}': give numbers or ranges such as 42-51 or 1,2,7");
        match part.split_once('-') {
            Some((a, b)) => {
                let a: u64 = a.trim().parse().map_err(|_| bad())?;
                let b: u64 = b.trim().parse().map_err(|_| bad())?;
                if b < a || b - a > 100_000 {
                    return Err(bad());
                }
                seeds.extend(a..=b);
            }
            None => seeds.push(part.parse().map_err(|_| bad())?),
        }
    }
    if seeds.is_empty() {
        return Err("no seeds given: use e.g. --seeds 42-51".into());
    }
    Ok(seeds)
}

fn option_error(option: &str, message: String) -> FillError {
    FillError::Input {
        path: PathBuf::from(option),
        line: None,
        message,
    }
}

/// The inputs of a fill, read and checked: nothing is written before they are.
pub struct FillInput {
    pods: Vec<input::FillPod>,
    cluster: SharedCluster,
    typical: TypicalPods,
}

/// Reads and checks what `options` names: the node and pod lists, `--inflate` and the
/// placement names.
pub fn load(options: &FillOptions) -> Result<FillInput, FillError> {
    if !(options.inflate > 0.0 && options.inflate.is_finite()) {
        return Err(option_error(
            "--inflate",
            format!(
                "{} is not a positive multiple of capacity; the paper uses 1.3",
                options.inflate
            ),
        ));
    }
    let nodes = input::read_node_list(&options.cluster)?;
    let pods = input::read_pod_list(&options.trace)?;
    let cluster = SharedCluster::new(nodes);
    // The target workload FGD measures fragmentation against: the pod list as given.
    let typical = TypicalPods::from_pods(pods.iter().map(|p| &p.shape));
    for name in &options.placements {
        placement::scorer(name, &typical)
            .map_err(|e| option_error("--placement", e.to_string()))?;
    }
    Ok(FillInput {
        pods,
        cluster,
        typical,
    })
}

/// Reads the inputs ([`load`]), runs every placement x seed and writes the outputs into
/// `options.out`.
pub fn fill(options: &FillOptions, progress: &Progress) -> Result<FillOutcome, FillError> {
    let input = load(options)?;
    fill_loaded(&input, options, progress)
}

/// Runs every placement x seed on inputs already read and writes the outputs into
/// `options.out`.
pub fn fill_loaded(
    input: &FillInput,
    options: &FillOptions,
    progress: &Progress,
) -> Result<FillOutcome, FillError> {
    let FillInput {
        pods,
        cluster,
        typical,
    } = input;
    let jobs: Vec<(&str, u64)> = options
        .placements
        .iter()
        .flat_map(|p| options.seeds.iter().map(move |&s| (p.as_str(), s)))
        .collect();
    let bar = progress.count_bar("fill", jobs.len() as u64);
    let capacity = cluster.gpu_capacity_milli();
    let runs: Vec<FillRun> = jobs
        .par_iter()
        .map(|&(name, seed)| {
            let (order, mut rng) = sampler::inflate(pods, capacity, options.inflate, seed);
            // Checked above, so this cannot fail; an unknown name would have stopped us.
            let mut scorer = placement::scorer(name, typical)
                .map_err(|e| option_error("--placement", e.to_string()))?;
            let result = run::run(
                cluster,
                pods,
                &order,
                scorer.as_mut(),
                typical,
                &mut rng,
                seed,
            );
            bar.inc(1);
            Ok(result)
        })
        .collect::<Result<_, FillError>>()?;
    bar.finish_and_clear();
    let table = report::table(&runs);
    write_outputs(options, &runs, &table)?;
    Ok(FillOutcome { runs, table })
}

fn write_outputs(
    options: &FillOptions,
    runs: &[FillRun],
    table: &[report::TableRow],
) -> Result<(), FillError> {
    let dir = &options.out;
    std::fs::create_dir_all(dir).map_err(|source| FillError::Write {
        path: dir.clone(),
        source,
    })?;
    let name = |p: &Path| {
        p.file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    let title = format!(
        "{} on {}, inflated to {}%",
        name(&options.trace),
        name(&options.cluster),
        options.inflate * 100.0
    );
    let description = format!(
        "{title}; placements {}; seeds {}; {} runs.",
        options.placements.join(", "),
        options
            .seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        runs.len()
    );
    let files: [(&str, Vec<u8>); 4] = [
        ("curve.csv", report::curve_csv(runs)),
        ("table.csv", report::table_csv(table)),
        (
            "unallocated.svg",
            report::unallocated_svg(&title, runs).into_bytes(),
        ),
        ("index.html", report::index_html(&description, table)),
    ];
    for (file, bytes) in files {
        let path = dir.join(file);
        std::fs::write(&path, bytes).map_err(|source| FillError::Write { path, source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_parse_as_ranges_and_lists() {
        assert_eq!(parse_seeds("42-44").unwrap(), vec![42, 43, 44]);
        assert_eq!(parse_seeds("1,5-6").unwrap(), vec![1, 5, 6]);
        assert!(parse_seeds("9-1").is_err());
        assert!(parse_seeds("x").is_err());
        assert!(parse_seeds("").is_err());
    }
}
