//! The one run pipeline: a scenario or a trace goes to the engine, once per model, with a
//! progress bar, into sinks that write the report files, and a summary goes to stdout.
//! `cellsim run`, `replay`, `lab`, `sweep`, `plan` and the main job all come through here
//! instead of each wiring the engine, the sinks and the bars itself; `main.rs` only parses
//! the command line, calls one function of this module and maps its [`RunError`] to an
//! exit code ([`exit`]).
//!
//! Experiments that run simulations live beside the pipeline: the sharing-anomaly check
//! ([`sharing`]). `report/` only turns results into files and never runs the engine.
//! What a run's output folder holds, and whether a run may write into it, is [`output`].

pub mod exit;
pub mod output;
pub mod progress;
mod replay;
pub mod sharing;
mod sweep;

use std::io::Write;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::config::ConfigErrors;
use crate::labs::{self, LabError};
use crate::report::rejections::{Rejections, rejections_html};
use crate::report::summary::{RunSummary, SummarySink};
use crate::report::{self, WriteError};
use crate::sim::engine::run_model_into;
use crate::sim::sink::RunSink;
use crate::sim::source::ScenarioJobs;
use crate::sim::{
    JobOutcome, JobRecord, RunResult, Scenario, ScenarioError, SimEvent, SimJob, SimTimeMs,
    TimelinePoint, VcCapacity, simulate_with_progress,
};

pub use exit::Exit;
pub use progress::Progress;
pub use replay::{ReplayRun, replay, replay_kueue};
pub use sweep::{PlanRun, SweepRun, merge, plan, sweep};

/// Why a command of the pipeline failed. Each variant maps to one exit code
/// ([`RunError::exit`]); none of them can be continued from.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The cluster config is invalid (every problem listed): bad input.
    Config(ConfigErrors),
    /// The scenario is invalid: bad input.
    Scenario(ScenarioError),
    /// Bad input other than a config or scenario (a trace, an option, an output folder
    /// holding something else); the message names it and says what to change.
    Input(String),
    /// A report file could not be written: cannot write.
    Write(WriteError),
    /// A sweep or plan failed: bad input, or cannot write.
    Sweep(crate::sweep::SweepError),
}

impl RunError {
    /// The exit code for this failure.
    pub fn exit(&self) -> Exit {
        match self {
            RunError::Config(_) | RunError::Scenario(_) | RunError::Input(_) => Exit::BadInput,
            RunError::Write(_) => Exit::CannotWrite,
            RunError::Sweep(crate::sweep::SweepError::Write { .. }) => Exit::CannotWrite,
            RunError::Sweep(_) => Exit::BadInput,
        }
    }

    /// What to print on stderr, one problem a line, ending with a newline.
    pub fn message(&self) -> String {
        match self {
            RunError::Config(errors) => {
                let mut text = String::new();
                for error in errors {
                    text.push_str(&format!("error: {error}\n"));
                }
                let count = errors.len();
                text.push_str(&format!(
                    "cellsim: the config is invalid ({count} error{})\n",
                    if count == 1 { "" } else { "s" }
                ));
                text
            }
            RunError::Scenario(error) => {
                format!("error: {error}\ncellsim: the scenario is invalid\n")
            }
            RunError::Input(message) => format!("error: {message}\n"),
            RunError::Write(error) => format!("error: {error}\n"),
            RunError::Sweep(error) => format!("error: {error}\n"),
        }
    }
}

/// Runs `scenario` through the model called `model` with a bar from `progress` labelled
/// with the model's name: the same result as [`crate::sim::run_model`].
///
/// Errors: an unknown model name or bad model options (the message says which).
pub fn simulate(
    scenario: &Scenario,
    model: &str,
    progress: &Progress,
) -> Result<RunResult, String> {
    let mut scheduler =
        crate::sched::model_with_options(model, &scenario.config, &scenario.model_options)?;
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    let bar = progress.run_bar(model, progress::expected_events(scenario));
    let result = simulate_with_progress(scenario, scheduler.as_mut(), &mut rng, &|now, events| {
        bar.update(now, events)
    });
    bar.finish();
    Ok(result)
}

/// Runs `model` over `scenario` and returns its summary: exactly
/// `summarize(&run_model(scenario, model)?)`, without building what only the other
/// reports need (the event log, the timeline, the job records). For sweeps and plans.
///
/// Errors: an unknown model name or bad model options (the message says which).
pub fn summary(scenario: &Scenario, model: &str) -> Result<RunSummary, String> {
    let mut jobs = ScenarioJobs::new(&scenario.jobs);
    let (header, sink) = run_model_into(
        scenario,
        &mut jobs,
        model,
        SummarySink::default(),
        &|_, _| {},
    )?;
    Ok(sink.summary(&header))
}

/// Runs `run_one` for every model, on up to `jobs` threads at once (default: one per
/// core), and gives the outcomes in `models` order whatever order the runs end in; the
/// first failure in that order, if any.
pub fn for_each_model<T: Send>(
    models: &[String],
    jobs: Option<u16>,
    run_one: impl Fn(&String) -> Result<T, RunError> + Sync,
) -> Result<Vec<T>, RunError> {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = jobs.map_or(cores, usize::from).min(models.len());
    if threads <= 1 {
        // On this thread: a worker thread's malloc arena would hold on to more memory.
        return models.iter().map(&run_one).collect();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| RunError::Input(format!("--jobs: cannot start the worker threads: {e}")))?;
    let ran: Vec<Result<T, RunError>> = pool.install(|| models.par_iter().map(&run_one).collect());
    ran.into_iter().collect()
}

/// The jobs `run`'s model rejected, with the first reasons.
pub fn rejections_of(run: &RunResult) -> Rejections {
    let mut rejections = Rejections::new(&run.model);
    for event in &run.events {
        if let SimEvent::JobRejected { job, reason, .. } = event {
            rejections.note(job, reason);
        }
    }
    rejections.jobs = run.jobs.len() as u32;
    rejections.count = run
        .jobs
        .iter()
        .filter(|j| j.outcome == JobOutcome::Rejected)
        .count() as u32;
    rejections
}

/// A sink that hands everything on to `inner` and notes the jobs the model rejected,
/// for runs whose output is written as it goes.
pub struct NoteRejections<S> {
    inner: S,
    rejections: Rejections,
}

impl<S: RunSink> NoteRejections<S> {
    /// Notes the rejections of `model`'s run into `inner`.
    pub fn new(model: &str, inner: S) -> NoteRejections<S> {
        NoteRejections {
            inner,
            rejections: Rejections::new(model),
        }
    }

    /// The inner sink and what was rejected.
    pub fn into_parts(self) -> (S, Rejections) {
        (self.inner, self.rejections)
    }
}

impl<S: RunSink> RunSink for NoteRejections<S> {
    fn logs(&self) -> bool {
        self.inner.logs()
    }

    fn submitted(&mut self, job: &SimJob) {
        self.inner.submitted(job);
    }

    fn event(&mut self, event: SimEvent) {
        self.inner.event(event);
    }

    fn rejected(&mut self, job: &str, reason: &str) {
        self.rejections.note(job, reason);
        self.inner.rejected(job, reason);
    }

    fn timeline(
        &mut self,
        point: TimelinePoint,
        until_ms: SimTimeMs,
        vcs: &std::collections::BTreeMap<String, VcCapacity>,
    ) {
        self.inner.timeline(point, until_ms, vcs);
    }

    fn job(&mut self, seq: usize, record: JobRecord) {
        self.rejections.jobs += 1;
        if record.outcome == JobOutcome::Rejected {
            self.rejections.count += 1;
        }
        self.inner.job(seq, record);
    }

    fn arrivals_ended(&mut self, last_submit_ms: SimTimeMs) {
        self.inner.arrivals_ended(last_submit_ms);
    }
}

/// Says on stderr, per model in order, how many jobs it rejected and the first reasons;
/// returns the report page's section on them.
fn say_rejections(all: &[Rejections]) -> String {
    for line in all.iter().filter_map(Rejections::line) {
        eprintln!("{line}");
    }
    rejections_html(all)
}

/// The first line of a run's stdout: "scenario NAME: N jobs, M models".
fn run_heading(scenario: &str, jobs: usize, models: usize) -> String {
    let s = if models == 1 { "" } else { "s" };
    format!("scenario {scenario}: {jobs} jobs, {models} model{s}")
}

/// How to run a loaded scenario ([`run_scenario`]).
#[derive(Debug, Clone)]
pub struct ScenarioRun {
    /// The output folder; each model writes into `out/MODEL/`.
    pub out: PathBuf,
    /// The models (empty: the scenario's own).
    pub models: Vec<String>,
    /// Run the sharing-anomaly check for the models it applies to.
    pub sharing: bool,
    /// Models run at once (default: one per core).
    pub jobs: Option<u16>,
    /// Where the bars go.
    pub progress: Progress,
    /// What the folder's manifest says wrote it.
    pub manifest: output::Manifest,
    /// Replace another run's results in `out` (see [`output::prepare`]).
    pub replace: bool,
}

/// Runs every model of a loaded scenario and writes its reports into `run.out`: per model
/// the report set (and `sharing.csv` when checked), `report.html` with every model, and
/// the folder's manifest; prints the summary table (and the sharing table) on stdout.
pub fn run_scenario(scenario: &Scenario, run: &ScenarioRun) -> Result<(), RunError> {
    for warning in &scenario.warnings {
        eprintln!("warning: {warning}");
    }
    let models = if run.models.is_empty() {
        scenario.models.clone()
    } else {
        run.models.clone()
    };
    let out = &run.out;
    let manifest = run.manifest.with_models(&models);
    output::prepare(out, &manifest, run.replace)?;
    let progress = &run.progress;
    // Each model's files are written right after its run, so a later failure loses
    // nothing; its sharing check runs on the same thread.
    let run_one = |model: &String| -> Result<_, RunError> {
        let result = simulate(scenario, model, progress).map_err(|message| {
            RunError::Scenario(ScenarioError::Invalid {
                file: scenario.source.clone(),
                yaml_path: "models".to_string(),
                location: None,
                message,
            })
        })?;
        let dir = out.join(model);
        let (summary, page) =
            report::write_run_with_page(&dir, &result).map_err(RunError::Write)?;
        let sharing_check = (run.sharing && sharing::has_sharing_check(model))
            .then(|| sharing::sharing_from_shared_run(scenario, &result, progress));
        if let Some(Ok(found)) = &sharing_check {
            report::write_exports(&dir, &[report::sharing::sharing_export(found)])
                .map_err(RunError::Write)?;
        }
        Ok((summary, page, sharing_check, rejections_of(&result)))
    };
    let mut summaries = Vec::new();
    let mut pages = Vec::new();
    let mut sharing_reports = Vec::new();
    let mut rejections = Vec::new();
    for (model, (summary, page, sharing_check, rejected)) in models
        .iter()
        .zip(for_each_model(&models, run.jobs, run_one)?)
    {
        summaries.push(summary);
        pages.push(page);
        rejections.push(rejected);
        match sharing_check {
            Some(Ok(found)) => sharing_reports.push(found),
            // The check is an extra; a VC it cannot isolate must not sink the run.
            Some(Err(why)) => {
                eprintln!("warning: sharing-anomaly check for {model} skipped: {why}")
            }
            None => {}
        }
    }
    let mut extra = say_rejections(&rejections);
    if !sharing_reports.is_empty() {
        extra.push_str(&report::sharing::sharing_html(&sharing_reports));
    }
    report::write_exports(out, &[report::page_export(&scenario.name, &pages, &extra)])
        .map_err(RunError::Write)?;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "{}",
        run_heading(&scenario.name, scenario.jobs.len(), models.len())
    );
    let _ = stdout.write_all(report::tables::summary_table(&summaries).as_bytes());
    if !sharing_reports.is_empty() {
        let _ = writeln!(stdout);
        let _ = stdout.write_all(report::sharing::sharing_table(&sharing_reports).as_bytes());
    }
    let _ = writeln!(
        stdout,
        "reports: {}/report.html, and per model {}/<model>/ (jobs.csv, vcs.csv, timeline.csv, events.log, summary.json, SVG plots, sharing.csv)",
        out.display(),
        out.display()
    );
    Ok(())
}

/// How to run labs ([`labs`]).
#[derive(Debug, Clone)]
pub struct LabRun {
    /// `all` or a lab's name.
    pub lab: String,
    /// The folder each lab writes into, as `out/LAB/`.
    pub out: PathBuf,
    /// Replace another run's results in a lab's folder (see [`output::prepare`]).
    pub replace: bool,
}

/// `cellsim lab`: runs each chosen lab, writes its reports into `out/LAB/` and prints its
/// title, timeline, answers and where the report is.
pub fn labs(run: &LabRun) -> Result<(), RunError> {
    // The lab files are compiled in: a failure to load or run one is a bug in them.
    let bug = |message: String| {
        RunError::Scenario(ScenarioError::Invalid {
            file: "scenarios/labs".to_string(),
            yaml_path: String::new(),
            location: None,
            message,
        })
    };
    let chosen = labs::selection(&run.lab).map_err(bug)?;
    let mut stdout = std::io::stdout().lock();
    for (i, lab) in chosen.into_iter().enumerate() {
        let outcome = labs::run_lab(lab).map_err(|error| match error {
            LabError::Scenario { source, .. } => RunError::Scenario(source),
            LabError::Write(error) => RunError::Write(error),
            other => bug(other.to_string()),
        })?;
        let dir = run.out.join(lab.name());
        let manifest = output::Manifest::new("lab", &outcome.scenario.source)
            .with_models(&outcome.scenario.models)
            .with_seed(outcome.scenario.seed)
            .with_files(&["report.html", "answers.txt"]);
        output::prepare(&dir, &manifest, run.replace)?;
        let report = labs::write_lab(&outcome, &dir).map_err(RunError::Write)?;
        if i > 0 {
            let _ = writeln!(stdout);
        }
        let _ = stdout.write_all(outcome.text().as_bytes());
        let _ = writeln!(stdout, "\nReport: {}", report.display());
    }
    Ok(())
}

/// The README's main job (`cellsim` without arguments): the five labs into `out/labs/`,
/// then the sharing-anomaly demo into `out/sharing-anomaly/`.
pub fn main_job() -> Result<(), RunError> {
    let labs_out = PathBuf::from("out").join("labs");
    labs(&LabRun {
        lab: "all".to_string(),
        out: labs_out.clone(),
        replace: true,
    })?;
    let demo = sharing::demo_scenario().map_err(RunError::Scenario)?;
    println!("\nSharing anomaly demo ({}):", sharing::DEMO_PATH);
    let demo_out = PathBuf::from("out").join(&demo.name);
    run_scenario(
        &demo,
        &ScenarioRun {
            out: demo_out.clone(),
            models: Vec::new(),
            sharing: true,
            jobs: None,
            progress: Progress::new(false),
            manifest: output::Manifest::new("run", sharing::DEMO_PATH).with_seed(demo.seed),
            // The main job is rerun as is: its folders are its own.
            replace: true,
        },
    )?;
    println!(
        "\nMain job done. Lab reports: {}/<lab>/report.html; sharing-anomaly report: {}/report.html",
        labs_out.display(),
        demo_out.display()
    );
    Ok(())
}

/// The default output folder of a command: `out/NAME` for `run`, `out/NAME-COMMAND` for
/// the others (`out/NAME` when NAME already says the command, as `replay-example` or
/// `example-sweep` do), so that two commands on inputs of one name do not share a folder.
pub fn default_out(command: &str, name: &str) -> PathBuf {
    let says_it =
        name.starts_with(&format!("{command}-")) || name.ends_with(&format!("-{command}"));
    if command == "run" || says_it {
        Path::new("out").join(name)
    } else {
        Path::new("out").join(format!("{name}-{command}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_run_is_the_plain_run() {
        let s = sharing::demo_scenario().unwrap();
        let run = simulate(&s, "hived", &Progress::hidden()).unwrap();
        assert_eq!(run, crate::sim::run_model(&s, "hived").unwrap());
        assert!(simulate(&s, "slurm", &Progress::hidden()).is_err());
    }

    #[test]
    fn default_folders_of_different_commands_differ() {
        // See: issue 16 §1 (run and replay of one name both wrote out/example).
        assert_eq!(default_out("run", "example"), Path::new("out/example"));
        assert_eq!(
            default_out("replay", "example"),
            Path::new("out/example-replay")
        );
        assert_ne!(
            default_out("sweep", "philly"),
            default_out("replay", "philly")
        );
        assert_eq!(
            default_out("sweep", "example-sweep"),
            Path::new("out/example-sweep")
        );
        assert_eq!(
            default_out("replay", "replay-example"),
            Path::new("out/replay-example")
        );
    }
}
