//! The pipeline of `cellsim replay`: a trace on a cluster, prepared by [`crate::replay`],
//! run per model into sinks that write the reports as each run goes (or, with the
//! sharing check, held whole and reported as `cellsim run` reports).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::output::{self, Manifest};
use super::{
    NoteRejections, Progress, RunError, ScenarioRun, for_each_model, run_heading, run_scenario,
};
use crate::replay::{self as prepare, ReplayError, ReplayOptions};
use crate::report::stream::ReportSink;
use crate::report::summary::{SummarySink, summary_json};
use crate::report::{self, Export};
use crate::sim::RunResult;
use crate::sim::sink::RunSink;

/// How to run a replay ([`replay`]), besides what to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayRun {
    /// The output folder (default: `out/NAME-replay`).
    pub out: Option<PathBuf>,
    /// Run the sharing-anomaly check (keeps each run whole in memory).
    pub sharing: bool,
    /// Write only `summary.json` and `vcs.csv` per model.
    pub summary_only: bool,
    /// Models run at once (default: one per core).
    pub jobs: Option<u16>,
    /// No progress bars.
    pub quiet: bool,
    /// Replace another run's results in the folder (see [`output::prepare`]).
    pub replace: bool,
}

fn invalid(e: ReplayError) -> RunError {
    RunError::Input(e.to_string())
}

/// The manifest of a replay of `options` with `models`.
fn manifest(options: &ReplayOptions, run: &ReplayRun, models: &[String]) -> Manifest {
    let mut manifest = Manifest::new("replay", &options.trace.display().to_string())
        .with_input_file(&options.trace)
        .with_cluster(&options.cluster)
        .with_models(models)
        .with_seed(options.seed);
    if run.sharing {
        manifest = manifest.with_option("--sharing");
    }
    if run.summary_only {
        manifest
            .with_option("--summary-only")
            .with_files(&["ingest.txt"])
    } else {
        manifest.with_files(&["ingest.txt", "report.html"])
    }
}

/// `cellsim replay`: build the cluster, read the trace, then run and report as `run`.
/// Without `sharing` the reports are written as each run goes ([`replay_streaming`]);
/// the sharing-anomaly check needs every run whole, so with it the replay reports as
/// `cellsim run` does.
pub fn replay(options: &ReplayOptions, run: &ReplayRun) -> Result<(), RunError> {
    if !run.sharing {
        return replay_streaming(options, run);
    }
    let prepared = prepare::prepare(options).map_err(invalid)?;
    let out = run
        .out
        .clone()
        .unwrap_or_else(|| super::default_out("replay", &prepared.scenario.name));
    let manifest = manifest(options, run, &prepared.scenario.models);
    output::prepare(&out, &manifest, run.replace)?;
    write_ingest_notes(&out, prepare::ingest_text(&prepared))?;
    // The ingest notes are in ingest.txt and were printed above.
    let mut scenario = prepared.scenario;
    scenario.warnings.clear();
    run_scenario(
        &scenario,
        &ScenarioRun {
            out,
            models: Vec::new(),
            sharing: true,
            jobs: run.jobs,
            progress: Progress::new(run.quiet),
            manifest,
            // Prepared just above, for this very run.
            replace: false,
        },
    )
}

/// `cellsim replay --kueue`: the Kueue objects, nodes and workloads read into a scenario
/// ([`crate::kueue::prepare`]), then run and reported as other replays are: each model's
/// reports written as its run goes, or with `summary_only` only `summary.json` and
/// `vcs.csv`. The ClusterQueues are the VCs; no sharing check (a `cellsim run` of a
/// scenario has it). A Workload dump is read into memory whole (YAML), so its jobs are
/// held once and each run reads them from there.
pub fn replay_kueue(
    options: &crate::kueue::KueueReplayOptions,
    run: &ReplayRun,
) -> Result<(), RunError> {
    if run.sharing {
        return Err(RunError::Input(
            "replay --kueue has no sharing check; run it without --sharing".to_string(),
        ));
    }
    let prepared = crate::kueue::prepare(options).map_err(RunError::Input)?;
    let out = run
        .out
        .clone()
        .unwrap_or_else(|| super::default_out("replay", &prepared.scenario.name));
    let mut manifest = Manifest::new("replay", &options.trace.display().to_string())
        .with_input_file(&options.trace)
        .with_cluster(&options.cluster)
        .with_models(&prepared.scenario.models)
        .with_seed(options.seed)
        .with_option(&format!("--kueue {}", options.kueue.display()));
    manifest = if run.summary_only {
        manifest
            .with_option("--summary-only")
            .with_files(&["ingest.txt"])
    } else {
        manifest.with_files(&["ingest.txt", "report.html"])
    };
    output::prepare(&out, &manifest, run.replace)?;
    write_ingest_notes(&out, prepared.notes)?;
    // The ingest notes are in ingest.txt and were printed above.
    let mut scenario = prepared.scenario;
    scenario.warnings.clear();
    let job_count = scenario.jobs.len();
    report_runs(
        &ReplayJobs::Scenario(Box::new(scenario)),
        job_count,
        &out,
        run,
    )
}

/// Prints what a replay read and set aside, and writes it to `OUT/ingest.txt`.
fn write_ingest_notes(out: &Path, text: String) -> Result<(), RunError> {
    eprint!("{text}");
    report::write_exports(
        out,
        &[Export {
            file_name: "ingest.txt".to_string(),
            bytes: text.into_bytes(),
        }],
    )
    .map(|_| ())
    .map_err(RunError::Write)
}

/// A replay whose runs hand their output to a sink as they go: with `summary_only` per
/// model only `summary.json` and `vcs.csv`, otherwise every report file, written row by
/// row ([`ReportSink`]), and `report.html`. A trace in submit order is read as a stream
/// for each run (a run then holds the jobs in flight and a wait per job); another is
/// sorted in memory first.
fn replay_streaming(options: &ReplayOptions, run: &ReplayRun) -> Result<(), RunError> {
    let jobs = match prepare::prepare_streamed(options).map_err(invalid)? {
        Some(streamed) => ReplayJobs::Streamed(Box::new(streamed)),
        None => {
            if options.select.is_all() && options.load.is_none() {
                eprintln!(
                    "note: the trace is not in submit order, so it is read into memory and \
                     sorted (a sorted trace, such as gen-trace's, is streamed)"
                );
            } else {
                eprintln!(
                    "note: submitFrom/submitUntil, onlyVcs or load is set, so the trace is read \
                     into memory to select and re-time its jobs"
                );
            }
            ReplayJobs::InMemory(Box::new(prepare::prepare(options).map_err(invalid)?))
        }
    };
    let (scenario, ingest_text, job_count) = match &jobs {
        ReplayJobs::Streamed(s) => (&s.scenario, s.ingest_text(), s.jobs),
        ReplayJobs::InMemory(p) => (&p.scenario, prepare::ingest_text(p), p.scenario.jobs.len()),
        // Only a Kueue replay holds a bare scenario; it writes its own notes.
        ReplayJobs::Scenario(s) => (&**s, String::new(), s.jobs.len()),
    };
    let out = run
        .out
        .clone()
        .unwrap_or_else(|| super::default_out("replay", &scenario.name));
    output::prepare(&out, &manifest(options, run, &scenario.models), run.replace)?;
    write_ingest_notes(&out, ingest_text)?;
    report_runs(&jobs, job_count, &out, run)
}

/// Runs every model of `jobs`' scenario into sinks that write its reports to `out` as
/// it goes (only `summary.json` and `vcs.csv` with `summary_only`), then the report
/// page and the summary table on stdout.
fn report_runs(
    jobs: &ReplayJobs,
    job_count: usize,
    out: &Path,
    run: &ReplayRun,
) -> Result<(), RunError> {
    let scenario = jobs.scenario();
    let progress = Progress::new(run.quiet);
    // Each model's files are written during or right after its run, so a later failure
    // loses nothing; runs at once share nothing but the trace file they read.
    let run_one = |model: &String| -> Result<_, RunError> {
        let dir = out.join(model);
        if run.summary_only {
            let sink = NoteRejections::new(model, SummarySink::default());
            let (header, sink) = run_replay(jobs, model, sink, &progress, job_count)?;
            let (sink, rejected) = sink.into_parts();
            let summary = sink.summary(&header);
            let files = [
                Export {
                    file_name: "summary.json".to_string(),
                    bytes: summary_json(&summary).into_bytes(),
                },
                Export {
                    file_name: "vcs.csv".to_string(),
                    bytes: report::tables::vcs_csv(&summary),
                },
            ];
            report::write_exports(&dir, &files).map_err(RunError::Write)?;
            Ok((summary, None, rejected))
        } else {
            let sink =
                NoteRejections::new(model, ReportSink::create(&dir).map_err(RunError::Write)?);
            let (header, sink) = run_replay(jobs, model, sink, &progress, job_count)?;
            let (sink, rejected) = sink.into_parts();
            let (summary, page) = sink.finish(&header).map_err(RunError::Write)?;
            Ok((summary, Some(page), rejected))
        }
    };
    let mut summaries = Vec::new();
    let mut pages = Vec::new();
    let mut rejections = Vec::new();
    for (summary, page, rejected) in for_each_model(&scenario.models, run.jobs, run_one)? {
        summaries.push(summary);
        pages.extend(page);
        rejections.push(rejected);
    }
    let extra = super::say_rejections(&rejections);
    if !run.summary_only {
        let page = report::page_export(&scenario.name, &pages, &extra);
        report::write_exports(out, &[page]).map_err(RunError::Write)?;
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
    let files = if run.summary_only {
        "summary.json, vcs.csv"
    } else {
        "jobs.csv, vcs.csv, timeline.csv, events.log, summary.json, SVG plots"
    };
    let _ = writeln!(
        stdout,
        "reports: {}per model {}/<model>/ ({files}), and {}/ingest.txt",
        if run.summary_only {
            String::new()
        } else {
            format!("{}/report.html, ", out.display())
        },
        out.display(),
        out.display()
    );
    Ok(())
}

/// A replay's jobs: read from the trace for each run, or sorted in memory once (a trace
/// replay, or a Kueue replay's scenario).
enum ReplayJobs {
    Streamed(Box<prepare::StreamedReplay>),
    InMemory(Box<prepare::Replay>),
    Scenario(Box<crate::sim::Scenario>),
}

impl ReplayJobs {
    /// The scenario the runs share (without its jobs when streamed).
    fn scenario(&self) -> &crate::sim::Scenario {
        match self {
            ReplayJobs::Streamed(s) => &s.scenario,
            ReplayJobs::InMemory(p) => &p.scenario,
            ReplayJobs::Scenario(scenario) => scenario,
        }
    }
}

/// One run of `model` over a replay's jobs into `sink`, with a progress bar.
fn run_replay<S: RunSink>(
    jobs: &ReplayJobs,
    model: &str,
    sink: S,
    progress: &Progress,
    job_count: usize,
) -> Result<(RunResult, S), RunError> {
    // A trace job is one group: a submit and a finish each.
    let bar = progress.run_bar(model, 2 * job_count as u64);
    let tick = |now, events| bar.update(now, events);
    let ran = match jobs {
        ReplayJobs::Streamed(s) => s.run(model, sink, &tick).map_err(invalid),
        ReplayJobs::InMemory(_) | ReplayJobs::Scenario(_) => {
            let scenario = jobs.scenario();
            let mut source = crate::sim::source::ScenarioJobs::new(&scenario.jobs);
            crate::sim::engine::run_model_into(scenario, &mut source, model, sink, &tick)
                .map_err(RunError::Input)
        }
    };
    bar.finish();
    ran
}
