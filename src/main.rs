//! The `cellsim` binary: parse the command line, call the library (the run pipeline,
//! [`cellsim::run`], for every command that simulates), and turn the outcome into an exit
//! code: the only place that does, after the one table of [`cellsim::run::exit`] that
//! `--help` prints (0 ok, 1 bad input, 2 usage, 3 cannot write, 4 a check failed).

use std::io::Write;
use std::process::ExitCode;

use cellsim::cli::{Cli, Command, CompareArgs, GenTraceArgs, MergeArgs, ValidateArgs};
use cellsim::config;
use cellsim::report::{self, WriteError};
use cellsim::run::{self, Exit, RunError};

/// Why a command failed; each maps to one exit code of [`Exit`].
enum Failure {
    /// A failure of the run pipeline (or of a config, an input, a write).
    Run(RunError),
    /// `cellsim serve` failed: bad input or I/O.
    #[cfg(feature = "live")]
    Serve(cellsim::live::ServeError),
    /// `cellsim compare` had bad input.
    CompareInput(String),
    /// `cellsim compare` found a regression (the table is printed).
    Regressed,
    /// `cellsim load` could not reach the server or read / write a file.
    #[cfg(feature = "live")]
    LoadIo(String),
    /// `cellsim load --check` found the server differing from the ledger.
    #[cfg(feature = "live")]
    Mismatch(usize),
}

impl From<RunError> for Failure {
    fn from(error: RunError) -> Failure {
        Failure::Run(error)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" to clap but succeed.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(Exit::Usage.code()));
        }
    };
    let exit = match run(cli) {
        Ok(()) => Exit::Ok,
        Err(Failure::Run(error)) => {
            eprint!("{}", error.message());
            error.exit()
        }
        #[cfg(feature = "live")]
        Err(Failure::Serve(error)) => {
            eprintln!("error: {error}");
            return ExitCode::from(error.exit_code());
        }
        Err(Failure::CompareInput(message)) => {
            eprintln!("error: {message}");
            Exit::BadInput
        }
        #[cfg(feature = "live")]
        Err(Failure::LoadIo(message)) => {
            eprintln!("error: {message}");
            Exit::CannotWrite
        }
        #[cfg(feature = "live")]
        Err(Failure::Mismatch(count)) => {
            eprintln!(
                "cellsim: the server differs from the ledger in {count} place(s) (see MISMATCH lines)"
            );
            Exit::CheckFailed
        }
        Err(Failure::Regressed) => {
            eprintln!("cellsim: regression beyond tolerance (see REGRESSED rows)");
            Exit::CheckFailed
        }
    };
    exit.into()
}

fn run(cli: Cli) -> Result<(), Failure> {
    // With no subcommand, cellsim runs the README's main job: the labs and the sharing demo.
    let Some(command) = cli.command else {
        return Ok(run::main_job()?);
    };
    match command {
        Command::Validate(args) => validate(&args),
        Command::Run(args) => {
            let scenario = match &args.scenario {
                Some(path) => cellsim::sim::scenario::load_file(path),
                None => cellsim::sim::scenario::default_scenario(),
            }
            .map_err(RunError::Scenario)?;
            Ok(run::run_scenario(&scenario, &args.built(&scenario))?)
        }
        Command::Lab(args) => Ok(run::labs(&args.built())?),
        Command::Replay(args) => {
            if let Some(kueue) = args.kueue_options().map_err(RunError::Input)? {
                return Ok(run::replay_kueue(&kueue, &args.built())?);
            }
            let options = args.options().map_err(RunError::Input)?;
            Ok(run::replay(&options, &args.built())?)
        }
        Command::GenTrace(args) => gen_trace(&args),
        Command::Compare(args) => compare(&args),
        Command::Sweep(args) => Ok(run::sweep(&args.built())?),
        Command::Plan(args) => Ok(run::plan(&args.built())?),
        Command::Merge(args) => merge(&args),
        Command::Fill(args) => fill(&args),
        #[cfg(feature = "live")]
        Command::Load(args) => load(&args),
        Command::Models => {
            print!("{}", cellsim::sched::models_listing());
            Ok(())
        }
        #[cfg(feature = "live")]
        Command::Serve(args) => cellsim::live::serve(args.options()).map_err(|e| match e {
            cellsim::live::ServeError::Config(errors) => Failure::Run(RunError::Config(errors)),
            other => Failure::Serve(other),
        }),
    }
}

#[cfg(feature = "live")]
fn load(args: &cellsim::cli::LoadArgs) -> Result<(), Failure> {
    use cellsim::live::load;
    let text = std::fs::read_to_string(&args.config).map_err(|e| {
        Failure::LoadIo(format!(
            "cannot read the config {}: {e}",
            args.config.display()
        ))
    })?;
    let config = cellsim::config::load_str(&text, &args.config.display().to_string())
        .map_err(RunError::Config)?;
    let ledger: load::Ledger = match &args.ledger {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::LoadIo(format!("cannot read {}: {e}", path.display())))?;
            serde_json::from_str(&text).map_err(|e| {
                Failure::Run(RunError::Input(format!(
                    "{} is not a load ledger: {e}",
                    path.display()
                )))
            })?
        }
        _ => load::Ledger::default(),
    };
    let save = |ledger: &load::Ledger| -> Result<(), Failure> {
        if let Some(path) = &args.ledger {
            let text = serde_json::to_string(ledger).unwrap_or_default();
            std::fs::write(path, text)
                .map_err(|e| Failure::LoadIo(format!("cannot write {}: {e}", path.display())))?;
        }
        Ok(())
    };
    if args.check {
        let mut ledger = ledger;
        let problems = load::verify(&args.url, &ledger).map_err(Failure::LoadIo)?;
        for p in &problems {
            eprintln!("MISMATCH {p}");
        }
        let held = ledger
            .groups
            .values()
            .filter(|g| g.fate == load::Fate::Held)
            .count();
        let doubt = ledger
            .groups
            .values()
            .filter(|g| g.fate == load::Fate::InDoubt)
            .count();
        load::settle(&args.url, &mut ledger).map_err(Failure::LoadIo)?;
        save(&ledger)?;
        println!(
            "checked {} groups ({held} held, {doubt} in doubt): {} mismatch(es)",
            ledger.groups.len(),
            problems.len()
        );
        return if problems.is_empty() {
            Ok(())
        } else {
            Err(Failure::Mismatch(problems.len()))
        };
    }
    let options = load::LoadOptions {
        url: args.url.clone(),
        clients: usize::try_from(args.clients).unwrap_or(1),
        duration: std::time::Duration::from_secs_f64(args.seconds.clamp(0.0, 1e7)),
        seed: args.seed,
        low: args.low,
        high: args.high,
        record_placements: args.ledger.is_some(),
    };
    let (report, ledger) = load::run(&config, &options, ledger);
    save(&ledger)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
    } else {
        print!("{}", load::render(&report, &options));
    }
    match report.stopped_by {
        Some(why) if args.ledger.is_none() => Err(Failure::LoadIo(format!(
            "the server stopped answering: {why}"
        ))),
        _ => Ok(()),
    }
}

/// `cellsim compare`: load both sides, print the delta table, fail on a regression.
fn compare(args: &CompareArgs) -> Result<(), Failure> {
    use report::compare;
    let tolerances = compare::Tolerances::parse(&args.tolerances)
        .map_err(|e| Failure::CompareInput(e.to_string()))?;
    run::output::check_comparable(&args.baseline, &args.candidate)
        .map_err(Failure::CompareInput)?;
    let baseline =
        compare::load(&args.baseline).map_err(|e| Failure::CompareInput(e.to_string()))?;
    let candidate =
        compare::load(&args.candidate).map_err(|e| Failure::CompareInput(e.to_string()))?;
    let comparison = compare::compare(baseline, candidate, &tolerances)
        .map_err(|e| Failure::CompareInput(e.to_string()))?;
    let _ = std::io::stdout()
        .lock()
        .write_all(comparison.table().as_bytes());
    if comparison.regressed() {
        Err(Failure::Regressed)
    } else {
        Ok(())
    }
}

/// `cellsim gen-trace`: draw jobs from the spec and write them as native CSV as they come.
fn gen_trace(args: &GenTraceArgs) -> Result<(), Failure> {
    use cellsim::workload::{Arrival, GenSpec};
    let mut spec = match &args.spec {
        Some(path) => GenSpec::from_file(path).map_err(|e| RunError::Input(e.to_string()))?,
        None => GenSpec::philly(),
    };
    if let Some(jobs) = args.jobs {
        spec.jobs = Some(jobs);
        spec.span_s = None;
    }
    if let Some(seed) = args.seed {
        spec.seed = seed;
    }
    if let (Some(load), Some(gpus)) = (args.load, args.cluster_gpus) {
        spec.arrival = Arrival::load(load, gpus);
    }
    let jobs = cellsim::workload::generate(&spec).map_err(|e| RunError::Input(e.to_string()))?;
    let write_error = |source: std::io::Error| {
        Failure::Run(RunError::Write(WriteError {
            path: args.out.clone(),
            source,
        }))
    };
    let mut count = 0u64;
    let jobs = jobs.inspect(|_| count += 1);
    if args.out.as_os_str() == "-" {
        cellsim::workload::write_native_csv(jobs, std::io::stdout().lock())
    } else {
        let file = std::fs::File::create(&args.out).map_err(write_error)?;
        cellsim::workload::write_native_csv(jobs, std::io::BufWriter::new(file))
    }
    .map_err(write_error)?;
    if args.out.as_os_str() != "-" {
        eprintln!("wrote {count} jobs to {}", args.out.display());
    }
    Ok(())
}

fn validate(args: &ValidateArgs) -> Result<(), Failure> {
    let config = config::load_file(&args.file).map_err(RunError::Config)?;
    let mut stderr = std::io::stderr().lock();
    for warning in &config.warnings {
        let _ = writeln!(stderr, "warning: {warning}");
    }
    // A closed stdout (e.g. `| head`) is not a failure of the config check.
    let _ = std::io::stdout()
        .lock()
        .write_all(config::summary(&config).as_bytes());
    Ok(())
}

/// `cellsim fill`: the FGD paper's fragmentation experiment, into a folder that records
/// what wrote it (as every command's output folder does).
fn fill(args: &cellsim::cli::FillArgs) -> Result<(), Failure> {
    use cellsim::fill::{self, FillError};
    use cellsim::run::output::{self, Manifest};
    let started = std::time::Instant::now();
    let to_run_error = |e: FillError| match e {
        FillError::Write { path, source } => RunError::Write(WriteError { path, source }),
        other => RunError::Input(other.to_string()),
    };
    let options = fill::FillOptions::from_args(args).map_err(to_run_error)?;
    // Inputs are read and checked first, so a bad file leaves the folder untouched.
    let input = fill::load(&options).map_err(to_run_error)?;
    let manifest = Manifest::new("fill", &args.trace.display().to_string())
        .with_input_file(&args.trace)
        .with_cluster(&args.cluster.display().to_string())
        .with_models(&args.placement)
        .with_option(&format!("--inflate {}", args.inflate))
        .with_option(&format!("--seeds {}", args.seeds))
        .with_files(&["curve.csv", "table.csv", "unallocated.svg", "index.html"]);
    output::prepare(&args.out, &manifest, args.replace)?;
    let outcome = fill::fill_loaded(&input, &options, &run::Progress::new(args.quiet))
        .map_err(to_run_error)?;
    print!("{}", fill::report::table_text(&outcome.table));
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("{} runs in {seconds:.1} s", outcome.runs.len());
    Ok(())
}

/// `cellsim merge`: join shard folders.
fn merge(args: &MergeArgs) -> Result<(), Failure> {
    let outcome = run::merge(&args.out, &args.shards)?;
    println!(
        "Merged {} shard folders of sweep {} ({} points) into {}",
        outcome.shards,
        outcome.name,
        outcome.points,
        args.out.display()
    );
    Ok(())
}
