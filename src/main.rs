//! The `cellsim` binary: parse the command line, run the library, and turn the outcome
//! into an exit code (the only place that does): 0 success, 1 invalid input (e.g. a bad
//! config or scenario, all problems listed on stderr), 2 usage error (clap's own code),
//! 3 a report could not be written. `cellsim compare` is a gate with its own codes: 0 no
//! regression, 1 a metric regressed, 2 bad input (as a usage error).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use cellsim::cli::{
    Cli, Command, CompareArgs, GenTraceArgs, LabArgs, MergeArgs, PlanArgs, ReplayArgs, RunArgs,
    SweepArgs, ValidateArgs,
};
use cellsim::config::{self, ConfigErrors};
use cellsim::labs::{self, LabError};
use cellsim::progress::{Progress, run_model_with_progress};
use cellsim::report::{self, WriteError, sharing};
use cellsim::sim::{self, ScenarioError};
use rayon::prelude::*;

/// Why a command failed; each maps to one exit code.
enum Failure {
    /// The input config is invalid: exit 1.
    InvalidConfig(ConfigErrors),
    /// The scenario is invalid: exit 1.
    InvalidScenario(ScenarioError),
    /// A report file could not be written: exit 3.
    Write(WriteError),
    /// Bad input to `cellsim replay` or `cellsim gen-trace` (cluster, trace, spec or an
    /// option): exit 1.
    InvalidInput(String),
    /// `cellsim serve` failed: exit 1 (invalid config or journal) or 3 (I/O).
    Serve(cellsim::live::ServeError),
    /// `cellsim compare` had bad input: exit 2.
    CompareInput(report::compare::CompareError),
    /// `cellsim sweep`, `plan` or `merge` failed: exit 1 (bad input) or 3 (write).
    Sweep(cellsim::sweep::SweepError),
    /// `cellsim compare` found a regression (the table is printed): exit 1.
    Regressed,
    /// `cellsim load` could not reach the server or read / write a file: exit 3.
    LoadIo(String),
    /// `cellsim load --check` found the server differing from the ledger: exit 1.
    Mismatch(usize),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" to clap but succeed.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::InvalidConfig(errors)) => {
            let mut stderr = std::io::stderr().lock();
            for error in &errors {
                let _ = writeln!(stderr, "error: {error}");
            }
            let count = errors.len();
            let _ = writeln!(
                stderr,
                "cellsim: the config is invalid ({count} error{})",
                if count == 1 { "" } else { "s" }
            );
            ExitCode::from(1)
        }
        Err(Failure::InvalidScenario(error)) => {
            eprintln!("error: {error}");
            eprintln!("cellsim: the scenario is invalid");
            ExitCode::from(1)
        }
        Err(Failure::InvalidInput(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Err(Failure::Write(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(3)
        }
        Err(Failure::Serve(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code())
        }
        Err(Failure::CompareInput(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
        Err(Failure::Sweep(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(match error {
                cellsim::sweep::SweepError::Write { .. } => 3,
                _ => 1,
            })
        }
        Err(Failure::LoadIo(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(3)
        }
        Err(Failure::Mismatch(count)) => {
            eprintln!(
                "cellsim: the server differs from the ledger in {count} place(s) (see MISMATCH lines)"
            );
            ExitCode::from(1)
        }
        Err(Failure::Regressed) => {
            eprintln!("cellsim: regression beyond tolerance (see REGRESSED rows)");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    // With no subcommand, cellsim runs the README's main job: the labs and the sharing demo.
    let Some(command) = cli.command else {
        return main_job();
    };
    match command {
        Command::Validate(args) => validate(&args),
        Command::Run(args) => run_scenario(&args),
        Command::Lab(args) => run_labs(&args),
        Command::Replay(args) => replay(&args),
        Command::GenTrace(args) => gen_trace(&args),
        Command::Compare(args) => compare(&args),
        Command::Sweep(args) => sweep(&args),
        Command::Plan(args) => plan(&args),
        Command::Merge(args) => merge(&args),
        Command::Load(args) => load(&args),
        Command::Models => {
            print!("{}", cellsim::sched::models_listing());
            Ok(())
        }
        Command::Serve(args) => cellsim::live::serve(args.options()).map_err(|e| match e {
            cellsim::live::ServeError::Config(errors) => Failure::InvalidConfig(errors),
            other => Failure::Serve(other),
        }),
    }
}

fn load(args: &cellsim::cli::LoadArgs) -> Result<(), Failure> {
    use cellsim::live::load;
    let text = std::fs::read_to_string(&args.config).map_err(|e| {
        Failure::LoadIo(format!(
            "cannot read the config {}: {e}",
            args.config.display()
        ))
    })?;
    let config = cellsim::config::load_str(&text, &args.config.display().to_string())
        .map_err(Failure::InvalidConfig)?;
    let ledger: load::Ledger = match &args.ledger {
        Some(path) if path.exists() => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| Failure::LoadIo(format!("cannot read {}: {e}", path.display())))?;
            serde_json::from_str(&text).map_err(|e| {
                Failure::InvalidInput(format!("{} is not a load ledger: {e}", path.display()))
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

fn run_scenario(args: &RunArgs) -> Result<(), Failure> {
    let scenario = match &args.scenario {
        Some(path) => sim::scenario::load_file(path),
        None => sim::scenario::default_scenario(),
    }
    .map_err(Failure::InvalidScenario)?;
    simulate_and_report(&scenario, args).map(|_| ())
}

/// The README's main job (no arguments): the five labs, then the sharing-anomaly demo.
fn main_job() -> Result<(), Failure> {
    let labs_out = PathBuf::from("out").join("labs");
    run_labs(&LabArgs {
        lab: "all".to_string(),
        out: Some(labs_out.clone()),
    })?;
    let demo = sharing::demo_scenario().map_err(Failure::InvalidScenario)?;
    println!("\nSharing anomaly demo ({}):", sharing::DEMO_PATH);
    let demo_out = simulate_and_report(&demo, &RunArgs::default())?;
    println!(
        "\nMain job done. Lab reports: {}/<lab>/report.html; sharing-anomaly report: {}/report.html",
        labs_out.display(),
        demo_out.display()
    );
    Ok(())
}

/// Runs every model of a loaded scenario and writes its reports; returns the folder.
fn simulate_and_report(scenario: &sim::Scenario, args: &RunArgs) -> Result<PathBuf, Failure> {
    for warning in &scenario.warnings {
        eprintln!("warning: {warning}");
    }
    let models = if args.models.is_empty() {
        scenario.models.clone()
    } else {
        args.models.clone()
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&scenario.name));
    let progress = Progress::new(args.quiet);
    // Each model's files are written right after its run, so a later failure loses
    // nothing; its sharing check runs on the same thread.
    let run_one = |model: &String| -> Result<_, Failure> {
        let result = run_model_with_progress(scenario, model, &progress).map_err(|message| {
            Failure::InvalidScenario(ScenarioError::Invalid {
                file: scenario.source.clone(),
                yaml_path: "models".to_string(),
                location: None,
                message,
            })
        })?;
        let dir = out.join(model);
        let (summary, page) = report::write_run_with_page(&dir, &result).map_err(Failure::Write)?;
        let sharing_check = (!args.no_sharing && sharing::has_sharing_check(model))
            .then(|| sharing::sharing_from_shared_run(scenario, &result, &progress));
        if let Some(Ok(found)) = &sharing_check {
            report::write_exports(&dir, &[sharing::sharing_export(found)])
                .map_err(Failure::Write)?;
        }
        Ok((summary, page, sharing_check))
    };
    let mut summaries = Vec::new();
    let mut pages = Vec::new();
    let mut sharing_reports = Vec::new();
    for (model, (summary, page, sharing_check)) in
        models.iter().zip(run_models(&models, args.jobs, run_one)?)
    {
        summaries.push(summary);
        pages.push(page);
        match sharing_check {
            Some(Ok(found)) => sharing_reports.push(found),
            // The check is an extra; a VC it cannot isolate must not sink the run.
            Some(Err(why)) => {
                eprintln!("warning: sharing-anomaly check for {model} skipped: {why}")
            }
            None => {}
        }
    }
    let extra = if sharing_reports.is_empty() {
        String::new()
    } else {
        sharing::sharing_html(&sharing_reports)
    };
    report::write_exports(&out, &[report::page_export(&scenario.name, &pages, &extra)])
        .map_err(Failure::Write)?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{}",
        run_heading(&scenario.name, scenario.jobs.len(), models.len())
    );
    let _ = stdout.write_all(report::tables::summary_table(&summaries).as_bytes());
    if !sharing_reports.is_empty() {
        let _ = writeln!(stdout);
        let _ = stdout.write_all(sharing::sharing_table(&sharing_reports).as_bytes());
    }
    let _ = writeln!(
        stdout,
        "reports: {}/report.html, and per model {}/<model>/ (jobs.csv, vcs.csv, timeline.csv, events.log, summary.json, SVG plots, sharing.csv)",
        out.display(),
        out.display()
    );
    Ok(out)
}

/// Runs `run_one` for every model, on up to `jobs` threads at once (default: one per
/// core), and gives the outcomes in `models` order whatever order the runs end in; the
/// first failure in that order, if any.
fn run_models<T: Send>(
    models: &[String],
    jobs: Option<u16>,
    run_one: impl Fn(&String) -> Result<T, Failure> + Sync,
) -> Result<Vec<T>, Failure> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = jobs.map_or(cores, usize::from).min(models.len());
    if threads <= 1 {
        // On this thread: a worker thread's malloc arena would hold on to more memory.
        return models.iter().map(&run_one).collect();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| {
            Failure::InvalidInput(format!("--jobs: cannot start the worker threads: {e}"))
        })?;
    let ran: Vec<Result<T, Failure>> = pool.install(|| models.par_iter().map(&run_one).collect());
    ran.into_iter().collect()
}

/// The first line of a run's stdout: "scenario NAME: N jobs, M models".
fn run_heading(scenario: &str, jobs: usize, models: usize) -> String {
    let s = if models == 1 { "" } else { "s" };
    format!("scenario {scenario}: {jobs} jobs, {models} model{s}")
}

/// `cellsim compare`: load both sides, print the delta table, fail on a regression.
fn compare(args: &CompareArgs) -> Result<(), Failure> {
    use report::compare;
    let tolerances = compare::Tolerances::parse(&args.tolerances).map_err(Failure::CompareInput)?;
    let baseline = compare::load(&args.baseline).map_err(Failure::CompareInput)?;
    let candidate = compare::load(&args.candidate).map_err(Failure::CompareInput)?;
    let comparison =
        compare::compare(baseline, candidate, &tolerances).map_err(Failure::CompareInput)?;
    let _ = std::io::stdout()
        .lock()
        .write_all(comparison.table().as_bytes());
    if comparison.regressed() {
        Err(Failure::Regressed)
    } else {
        Ok(())
    }
}

/// `cellsim replay`: build the cluster, read the trace, then run and report as `run`.
/// Without `--sharing` the reports are written as each run goes ([`replay_streaming`]);
/// the sharing-anomaly check needs every run whole, so with it the replay reports as
/// `cellsim run` does.
fn replay(args: &ReplayArgs) -> Result<(), Failure> {
    let options = replay_options(args).map_err(Failure::InvalidInput)?;
    if !args.sharing {
        return replay_streaming(&options, args);
    }
    let prepared =
        cellsim::replay::prepare(&options).map_err(|e| Failure::InvalidInput(e.to_string()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&prepared.scenario.name));
    write_ingest_notes(&out, cellsim::replay::ingest_text(&prepared))?;
    // The ingest notes are in ingest.txt and were printed above.
    let mut scenario = prepared.scenario;
    scenario.warnings.clear();
    let run_args = RunArgs {
        scenario: None,
        out: Some(out),
        models: Vec::new(),
        no_sharing: false,
        jobs: args.jobs,
        quiet: args.quiet,
    };
    simulate_and_report(&scenario, &run_args).map(|_| ())
}

/// Prints what a replay read and set aside, and writes it to `OUT/ingest.txt`.
fn write_ingest_notes(out: &std::path::Path, text: String) -> Result<(), Failure> {
    eprint!("{text}");
    report::write_exports(
        out,
        &[report::Export {
            file_name: "ingest.txt".to_string(),
            bytes: text.into_bytes(),
        }],
    )
    .map(|_| ())
    .map_err(Failure::Write)
}

/// A replay whose runs hand their output to a sink as they go: with `--summary-only`
/// per model only `summary.json` and `vcs.csv`, otherwise every report file, written
/// row by row ([`report::stream::ReportSink`]), and `report.html`. A trace in submit
/// order is read as a stream for each run (a run then holds the jobs in flight and a
/// wait per job); another is sorted in memory first.
fn replay_streaming(
    options: &cellsim::replay::ReplayOptions,
    args: &ReplayArgs,
) -> Result<(), Failure> {
    use cellsim::report::stream::ReportSink;
    use cellsim::report::summary::{SummarySink, summary_json};

    let invalid = |e: cellsim::replay::ReplayError| Failure::InvalidInput(e.to_string());
    let jobs = match cellsim::replay::prepare_streamed(options).map_err(invalid)? {
        Some(streamed) => ReplayJobs::Streamed(Box::new(streamed)),
        None => {
            eprintln!(
                "note: the trace is not in submit order, so it is read into memory and sorted \
                 (a sorted trace, such as gen-trace's, is streamed)"
            );
            ReplayJobs::InMemory(Box::new(
                cellsim::replay::prepare(options).map_err(invalid)?,
            ))
        }
    };
    let (scenario, ingest_text, job_count) = match &jobs {
        ReplayJobs::Streamed(s) => (&s.scenario, s.ingest_text(), s.jobs),
        ReplayJobs::InMemory(p) => (
            &p.scenario,
            cellsim::replay::ingest_text(p),
            p.scenario.jobs.len(),
        ),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(&scenario.name));
    write_ingest_notes(&out, ingest_text)?;
    let progress = Progress::new(args.quiet);
    // Each model's files are written during or right after its run, so a later failure
    // loses nothing; runs at once share nothing but the trace file they read.
    let run_one = |model: &String| -> Result<_, Failure> {
        let dir = out.join(model);
        if args.summary_only {
            let sink = SummarySink::default();
            let (header, sink) = run_replay(&jobs, model, sink, &progress, job_count)?;
            let summary = sink.summary(&header);
            let files = [
                report::Export {
                    file_name: "summary.json".to_string(),
                    bytes: summary_json(&summary).into_bytes(),
                },
                report::Export {
                    file_name: "vcs.csv".to_string(),
                    bytes: report::tables::vcs_csv(&summary),
                },
            ];
            report::write_exports(&dir, &files).map_err(Failure::Write)?;
            Ok((summary, None))
        } else {
            let sink = ReportSink::create(&dir).map_err(Failure::Write)?;
            let (header, sink) = run_replay(&jobs, model, sink, &progress, job_count)?;
            let (summary, page) = sink.finish(&header).map_err(Failure::Write)?;
            Ok((summary, Some(page)))
        }
    };
    let mut summaries = Vec::new();
    let mut pages = Vec::new();
    for (summary, page) in run_models(&scenario.models, args.jobs, run_one)? {
        summaries.push(summary);
        pages.extend(page);
    }
    if !args.summary_only {
        let page = report::page_export(&scenario.name, &pages, "");
        report::write_exports(&out, &[page]).map_err(Failure::Write)?;
    }
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{}{}",
        run_heading(&scenario.name, job_count, scenario.models.len()),
        if matches!(jobs, ReplayJobs::Streamed(_)) {
            " (trace streamed)"
        } else {
            ""
        }
    );
    let _ = stdout.write_all(report::tables::summary_table(&summaries).as_bytes());
    let files = if args.summary_only {
        "summary.json, vcs.csv"
    } else {
        "jobs.csv, vcs.csv, timeline.csv, events.log, summary.json, SVG plots"
    };
    let _ = writeln!(
        stdout,
        "reports: {}per model {}/<model>/ ({files}), and {}/ingest.txt",
        if args.summary_only {
            String::new()
        } else {
            format!("{}/report.html, ", out.display())
        },
        out.display(),
        out.display()
    );
    Ok(())
}

/// A replay's jobs: read from the trace for each run, or sorted in memory once.
enum ReplayJobs {
    Streamed(Box<cellsim::replay::StreamedReplay>),
    InMemory(Box<cellsim::replay::Replay>),
}

/// One run of `model` over a replay's jobs into `sink`, with a progress bar.
fn run_replay<S: cellsim::sim::sink::RunSink>(
    jobs: &ReplayJobs,
    model: &str,
    sink: S,
    progress: &Progress,
    job_count: usize,
) -> Result<(cellsim::sim::RunResult, S), Failure> {
    // A trace job is one group: a submit and a finish each.
    let bar = progress.run_bar(model, 2 * job_count as u64);
    let tick = |now, events| bar.update(now, events);
    let ran = match jobs {
        ReplayJobs::Streamed(s) => s
            .run(model, sink, &tick)
            .map_err(|e| Failure::InvalidInput(e.to_string())),
        ReplayJobs::InMemory(p) => {
            let scenario = &p.scenario;
            let mut source = cellsim::sim::source::ScenarioJobs::new(&scenario.jobs);
            cellsim::sim::engine::run_model_into(scenario, &mut source, model, sink, &tick)
                .map_err(Failure::InvalidInput)
        }
    };
    bar.finish();
    ran
}

/// The library's replay options: the scenario file's, if any, overridden by the flags.
fn replay_options(args: &ReplayArgs) -> Result<cellsim::replay::ReplayOptions, String> {
    let mut options = match &args.scenario {
        Some(path) => cellsim::replay::options_from_file(path).map_err(|e| e.to_string())?,
        None => match (&args.cluster, &args.trace) {
            (Some(_), Some(_)) => cellsim::replay::ReplayOptions::default(),
            _ => {
                return Err(
                    "replay needs --cluster PATH_OR_SPEC and --trace PATH, or --scenario FILE"
                        .to_string(),
                );
            }
        },
    };
    if let Some(cluster) = &args.cluster {
        options.cluster = cluster.clone();
    }
    if let Some(trace) = &args.trace {
        options.trace = trace.clone();
    }
    let text = cellsim::replay::TextOptions {
        cluster_format: args.cluster_format.as_deref(),
        format: args.format.as_deref(),
        mapping: args.mapping.as_deref(),
        fractional: args.fractional.as_deref(),
        horizon: args.horizon.as_deref(),
    };
    options.set_text_options(&text, |key| match key {
        "clusterFormat" => "--cluster-format".to_string(),
        flag => format!("--{flag}"),
    })?;
    options.shift_submit |= args.shift_submit;
    if args.rack_nodes.is_some() {
        options.rack_nodes = args.rack_nodes;
    }
    if args.vcs.is_some() {
        options.vcs_file = args.vcs.clone();
    }
    if !args.models.is_empty() {
        options.models = args.models.clone();
    }
    if let Some(seed) = args.seed {
        options.seed = seed;
    }
    Ok(options)
}

/// `cellsim gen-trace`: draw jobs from the spec and write them as native CSV as they come.
fn gen_trace(args: &GenTraceArgs) -> Result<(), Failure> {
    use cellsim::workload::{Arrival, GenSpec};
    let mut spec = match &args.spec {
        Some(path) => GenSpec::from_file(path).map_err(|e| Failure::InvalidInput(e.to_string()))?,
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
    let jobs =
        cellsim::workload::generate(&spec).map_err(|e| Failure::InvalidInput(e.to_string()))?;
    let write_error = |source: std::io::Error| {
        Failure::Write(WriteError {
            path: args.out.clone(),
            source,
        })
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
    let config = config::load_file(&args.file).map_err(Failure::InvalidConfig)?;
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

/// `cellsim lab`: run each chosen lab, write its reports into DIR/LAB/ and print its
/// title, timeline, answers and where the report is.
fn run_labs(args: &LabArgs) -> Result<(), Failure> {
    // The lab files are compiled in: a failure to load or run one is a bug in them.
    let bug = |message: String| {
        Failure::InvalidScenario(ScenarioError::Invalid {
            file: "scenarios/labs".to_string(),
            yaml_path: String::new(),
            location: None,
            message,
        })
    };
    let chosen = labs::selection(&args.lab).map_err(bug)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join("labs"));
    let mut stdout = std::io::stdout().lock();
    for (i, lab) in chosen.into_iter().enumerate() {
        let outcome = labs::run_lab(lab).map_err(|error| match error {
            LabError::Scenario { source, .. } => Failure::InvalidScenario(source),
            LabError::Write(error) => Failure::Write(error),
            other => bug(other.to_string()),
        })?;
        let report = labs::write_lab(&outcome, &out.join(lab.name())).map_err(Failure::Write)?;
        if i > 0 {
            let _ = writeln!(stdout);
        }
        let _ = stdout.write_all(outcome.text().as_bytes());
        let _ = writeln!(stdout, "\nReport: {}", report.display());
    }
    Ok(())
}

/// `cellsim sweep`: run the sweep (or one shard of it) and say where the results are.
fn sweep(args: &SweepArgs) -> Result<(), Failure> {
    use cellsim::sweep::{self, SweepOptions, points::Shard};
    let shard = match &args.shard {
        Some(text) => text
            .parse::<Shard>()
            .map_err(|e| Failure::InvalidInput(format!("--shard: {e}")))?,
        None => Shard::ALL,
    };
    let spec = sweep::load_file(&args.sweep).map_err(Failure::Sweep)?;
    let prepared = sweep::Sweep::prepare(spec).map_err(Failure::Sweep)?;
    let out = args.out.clone().unwrap_or_else(|| {
        let name = if shard == Shard::ALL {
            prepared.spec.name.clone()
        } else {
            format!(
                "{}-shard-{}-of-{}",
                prepared.spec.name, shard.index, shard.count
            )
        };
        PathBuf::from("out").join(name)
    });
    let options = SweepOptions {
        out: out.clone(),
        jobs: args.jobs.map(usize::from),
        resume: args.resume,
        shard,
    };
    let started = std::time::Instant::now();
    let outcome =
        sweep::run(&prepared, &options, &Progress::new(args.quiet)).map_err(Failure::Sweep)?;
    let seconds = started.elapsed().as_secs_f64();
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

/// `cellsim plan`: search the nodes to add and print the answer with its evidence.
fn plan(args: &PlanArgs) -> Result<(), Failure> {
    use cellsim::sweep::{self, PlanOverrides};
    let overrides = PlanOverrides {
        sku: args.sku.clone(),
        gpus: args.gpus,
        model: args.model.clone(),
        target_p95: args.target_p95.clone(),
        max_nodes: args.max_nodes,
        step: args.step,
    };
    let spec = sweep::load_file_with(&args.sweep, &overrides).map_err(Failure::Sweep)?;
    let prepared = sweep::Sweep::prepare(spec.into_plan()).map_err(Failure::Sweep)?;
    let answer = sweep::plan(
        &prepared,
        args.jobs.map(usize::from),
        &Progress::new(args.quiet),
    )
    .map_err(Failure::Sweep)?;
    print!("{}", sweep::plan::answer_text(&answer));
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{}-plan", prepared.spec.name)));
    let path = out.join("plan.json");
    let mut json = serde_json::to_vec_pretty(&answer).expect("plain data serialises");
    json.push(b'\n');
    std::fs::create_dir_all(&out)
        .and_then(|()| std::fs::write(&path, json))
        .map_err(|e| {
            Failure::Sweep(cellsim::sweep::SweepError::Write {
                path: path.clone(),
                message: e.to_string(),
            })
        })?;
    println!("Evidence: {}", path.display());
    Ok(())
}

/// `cellsim merge`: join shard folders.
fn merge(args: &MergeArgs) -> Result<(), Failure> {
    let outcome = cellsim::sweep::merge(&args.out, &args.shards).map_err(Failure::Sweep)?;
    println!(
        "Merged {} shard folders of sweep {} ({} points) into {}",
        outcome.shards,
        outcome.name,
        outcome.points,
        args.out.display()
    );
    Ok(())
}
