//! Reports of simulation runs: metrics ([`summary`]), text exports ([`tables`]), SVG plots
//! ([`plots`]) and the side-by-side HTML page ([`html`]) of [`RunResult`]s. Exporters
//! return bytes; [`write_exports`] is the one function that writes files.
//!
//! Per model, a run writes into `DIR/<model>/`: `jobs.csv`, `vcs.csv`, `timeline.csv`,
//! `events.log`, `summary.json`, `gantt.svg`, `utilisation.svg` and `wait_cdf.svg` (see
//! [`exports`]); `DIR/report.html` shows all models side by side ([`report_export`]).
//! A run's files can also be written as the run goes, without keeping the run
//! ([`stream`]): the plots and the page then draw from a [`RunDigest`].
//! [`compare`] is the regression gate over two runs' `summary.json` files.

pub mod busy;
pub mod compare;
pub mod digest;
pub mod group_runs;
pub mod html;
pub mod plots;
pub mod rejections;
pub mod sharing;
pub mod stream;
pub mod summary;
pub mod tables;

use std::io::Write;
use std::path::{Path, PathBuf};

pub use summary::{JobMetrics, RunSummary, SCHEMA_VERSION, Stats, VcMetrics, summarize};

pub use digest::RunDigest;
pub use html::{PageRun, RunPlots};

use crate::sim::{GpuTimeTotals, RunResult};

/// The files of a model's report folder, in the order [`exports`] gives them.
pub const RUN_FILES: [&str; 8] = [
    "jobs.csv",
    "vcs.csv",
    "timeline.csv",
    "events.log",
    "summary.json",
    "gantt.svg",
    "utilisation.svg",
    "wait_cdf.svg",
];

/// One output file: its name inside the model's folder and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// File name, e.g. `jobs.csv`.
    pub file_name: String,
    /// The bytes to write.
    pub bytes: Vec<u8>,
}

/// A file could not be written. The files written before it are kept; the caller may go
/// on with other models.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}; check that the folder is writable or choose another with --out", path.display())]
pub struct WriteError {
    /// The file or folder.
    pub path: PathBuf,
    /// What the OS said.
    pub source: std::io::Error,
}

/// All text exports of one run, in a fixed order, with the summary they were built from.
pub fn exports(result: &RunResult) -> (RunSummary, Vec<Export>) {
    let (summary, files, _) = exports_with_page(result);
    (summary, files)
}

/// [`exports`], also handing back the run's column of the HTML page (its digest and
/// rendered plots), so that the page need not render them again ([`page_export`]).
pub fn exports_with_page(result: &RunResult) -> (RunSummary, Vec<Export>, PageRun) {
    let (summary, page) = summary_and_page(result);
    let plots = &page.plots;
    let files = vec![
        ("jobs.csv", tables::jobs_csv(result)),
        ("vcs.csv", tables::vcs_csv(&summary)),
        ("timeline.csv", tables::timeline_csv(result)),
        ("events.log", tables::events_log(result).into_bytes()),
        ("summary.json", summary::summary_json(&summary).into_bytes()),
        ("gantt.svg", plots.gantt.clone().into_bytes()),
        ("utilisation.svg", plots.utilisation.clone().into_bytes()),
        ("wait_cdf.svg", plots.wait_cdf.clone().into_bytes()),
    ];
    let files = files
        .into_iter()
        .map(|(name, bytes)| Export {
            file_name: name.to_string(),
            bytes,
        })
        .collect();
    (summary, files, page)
}

/// The summary and the page column of a finished run, its jobs tallied once for both.
fn summary_and_page(result: &RunResult) -> (RunSummary, PageRun) {
    let mut tallies = summary::JobTallies::default();
    for job in &result.jobs {
        tallies.add(job);
    }
    let gpu_time = GpuTimeTotals::of_timeline(
        &result.timeline,
        result.end_ms,
        &result.vcs,
        crate::sim::arrivals_end(&result.jobs, result.end_ms),
    );
    let summary = tallies.summary(result, &gpu_time);
    let page = PageRun::of_digest(RunDigest::of_tallied(result, &tallies));
    (summary, page)
}

/// The HTML page comparing all models of a scenario, for the run's top folder.
pub fn report_export(scenario: &str, runs: &[RunResult]) -> Export {
    report_export_with(scenario, runs, "")
}

/// [`report_export`] with extra escaped HTML sections after the header.
pub fn report_export_with(scenario: &str, runs: &[RunResult], extra_sections: &str) -> Export {
    Export {
        file_name: "report.html".to_string(),
        bytes: html::report_html_with(scenario, runs, extra_sections).into_bytes(),
    }
}

/// [`report_export_with`] of runs already digested and plotted (one [`PageRun`] per
/// model, from [`exports_with_page`], [`write_run_with_page`] or a streamed run).
pub fn page_export(scenario: &str, runs: &[PageRun], extra_sections: &str) -> Export {
    Export {
        file_name: "report.html".to_string(),
        bytes: html::report_html_of(scenario, runs, extra_sections).into_bytes(),
    }
}

/// Write `files` into `dir` (created if needed); returns the paths written.
pub fn write_exports(dir: &Path, files: &[Export]) -> Result<Vec<PathBuf>, WriteError> {
    create_dir(dir)?;
    let mut written = Vec::with_capacity(files.len());
    for file in files {
        let path = dir.join(&file.file_name);
        std::fs::write(&path, &file.bytes).map_err(|source| WriteError {
            path: path.clone(),
            source,
        })?;
        written.push(path);
    }
    Ok(written)
}

/// Creates `dir` and its parents if needed.
pub fn create_dir(dir: &Path) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })
}

/// Export one run and write its files into `dir`; returns its summary.
pub fn write_run(dir: &Path, result: &RunResult) -> Result<RunSummary, WriteError> {
    write_run_with_page(dir, result).map(|(summary, _)| summary)
}

/// [`write_run`], also returning the run's column of the HTML page for [`page_export`].
///
/// The same files as [`exports_with_page`], but the large ones (`jobs.csv`,
/// `timeline.csv`, `events.log`: tens of MB for a long trace) are written to disk as they
/// are made instead of first being built in memory.
pub fn write_run_with_page(
    dir: &Path,
    result: &RunResult,
) -> Result<(RunSummary, PageRun), WriteError> {
    create_dir(dir)?;
    let (summary, page) = summary_and_page(result);
    write_streamed(dir, "jobs.csv", |out| tables::write_jobs_csv(result, out))?;
    write_streamed(dir, "timeline.csv", |out| {
        tables::write_timeline_csv(result, out)
    })?;
    write_streamed(dir, "events.log", |out| {
        tables::write_events_log(result, out)
    })?;
    write_exports(dir, &summary_files(&summary, &page.plots))?;
    Ok((summary, page))
}

/// Writes `dir/name` through a buffer as `write` makes it.
fn write_streamed(
    dir: &Path,
    name: &str,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), WriteError> {
    let path = dir.join(name);
    let written = std::fs::File::create(&path).and_then(|file| {
        let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
        write(&mut out)?;
        out.flush()
    });
    written.map_err(|source| WriteError { path, source })
}

/// The small files of a run: `vcs.csv`, `summary.json` and the three plots.
pub fn summary_files(summary: &RunSummary, plots: &html::RunPlots) -> Vec<Export> {
    [
        ("vcs.csv", tables::vcs_csv(summary)),
        ("summary.json", summary::summary_json(summary).into_bytes()),
        ("gantt.svg", plots.gantt.clone().into_bytes()),
        ("utilisation.svg", plots.utilisation.clone().into_bytes()),
        ("wait_cdf.svg", plots.wait_cdf.clone().into_bytes()),
    ]
    .into_iter()
    .map(|(name, bytes)| Export {
        file_name: name.to_string(),
        bytes,
    })
    .collect()
}
