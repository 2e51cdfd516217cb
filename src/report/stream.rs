//! A run's report files written as the engine makes the run ([`ReportSink`]): `jobs.csv`,
//! `timeline.csv` and `events.log` row by row, the summary from per-VC tallies, the plots
//! and the page's column from a [`RunDigest`]. Nothing is kept per event or timeline
//! point, so a trace of millions of jobs reports in bounded memory (apart from one wait
//! per job, for the exact percentiles). The files are byte for byte those of
//! [`super::write_run_with_page`] on the same run.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use super::busy::{AVERAGED_BUCKETS, Step, StepCounter, averaged_steps, plot_steps, steps_of};
use super::digest::RunDigest;
use super::group_runs::GroupRunTracker;
use super::html::PageRun;
use super::plots::MAX_GANTT_RUNS;
use super::summary::{RunSummary, SummarySink};
use super::tables::{JobBrief, JobsCsv, TimelineCsv, push_event_line};
use super::{WriteError, create_dir, summary_files, write_exports};
use crate::sim::sink::RunSink;
use crate::sim::{JobRecord, RunResult, SimEvent, SimJob, SimTimeMs, TimelinePoint, VcCapacity};

type FileOut = BufWriter<File>;

/// Writes one run's report folder as the run goes. Give it to the engine as its sink,
/// then call [`ReportSink::finish`] with the run's header.
///
/// A file that cannot be written stops the writing; the error (naming the file) comes
/// back from [`ReportSink::finish`].
pub struct ReportSink {
    dir: PathBuf,
    jobs_csv: JobsCsv<FileOut>,
    /// Records that came before every job submitted earlier had its row written (jobs end
    /// out of submit order): `held[i]` is the record of job `next_row + i`, if it came.
    held: VecDeque<Option<JobRecord>>,
    next_row: usize,
    timeline: TimelineFile,
    events: FileOut,
    line: String,
    /// Jobs submitted and not yet recorded: what the log says of them.
    live: HashMap<String, LiveJob>,
    gantt: GroupRunTracker,
    /// The job tallies and the timeline's integral, for the summary.
    summary: SummarySink,
    steps: StepCounter,
    error: Option<WriteError>,
}

/// What the log says of a job in flight besides its id.
struct LiveJob {
    vc: String,
    priority: i32,
    gpus: u32,
    submit_ms: SimTimeMs,
}

/// `timeline.csv`: opened at the start, its header written at the first point (whose VC
/// list, with the run's VCs, gives the columns).
enum TimelineFile {
    Opened(FileOut),
    Writing(TimelineCsv<FileOut>),
    Closed,
}

impl ReportSink {
    /// Creates `dir` and opens the run's large files in it.
    pub fn create(dir: &Path) -> Result<ReportSink, WriteError> {
        create_dir(dir)?;
        let open = |name: &str| {
            let path = dir.join(name);
            File::create(&path)
                .map(|file| BufWriter::with_capacity(1 << 16, file))
                .map_err(|source| WriteError { path, source })
        };
        let jobs_path = dir.join("jobs.csv");
        let jobs_csv = JobsCsv::new(open("jobs.csv")?).map_err(|source| WriteError {
            path: jobs_path,
            source,
        })?;
        Ok(ReportSink {
            dir: dir.to_path_buf(),
            jobs_csv,
            held: VecDeque::new(),
            next_row: 0,
            timeline: TimelineFile::Opened(open("timeline.csv")?),
            events: open("events.log")?,
            line: String::new(),
            live: HashMap::new(),
            gantt: GroupRunTracker::earliest(MAX_GANTT_RUNS),
            summary: SummarySink::default(),
            steps: StepCounter::default(),
            error: None,
        })
    }

    /// Keeps the first write error, naming the file.
    fn check(&mut self, file: &str, written: std::io::Result<()>) {
        if let Err(source) = written
            && self.error.is_none()
        {
            self.error = Some(WriteError {
                path: self.dir.join(file),
                source,
            });
        }
    }

    /// Writes the rows of the held records that are next in submit order.
    fn write_ready_rows(&mut self) {
        while let Some(Some(_)) = self.held.front() {
            let record = self.held.pop_front().flatten().expect("checked above");
            self.next_row += 1;
            if self.error.is_none() {
                let written = self.jobs_csv.row(&record);
                self.check("jobs.csv", written);
            }
        }
    }

    /// Ends the run whose header (identity, end, VCs, nodes) is `header`: flushes the
    /// large files, writes `vcs.csv`, `summary.json` and the plots, and returns the
    /// summary and the run's column of the HTML page.
    pub fn finish(mut self, header: &RunResult) -> Result<(RunSummary, PageRun), WriteError> {
        if let Some(error) = self.error {
            return Err(error);
        }
        debug_assert!(self.held.is_empty(), "every job was recorded");
        let dir = self.dir.clone();
        let failed = |name: &str| {
            let path = dir.join(name);
            move |source| WriteError { path, source }
        };
        self.jobs_csv.finish().map_err(failed("jobs.csv"))?;
        self.events.flush().map_err(failed("events.log"))?;
        let columns = match self.timeline {
            TimelineFile::Writing(csv) => {
                let columns = csv.columns().to_vec();
                csv.finish().map_err(failed("timeline.csv"))?;
                columns
            }
            // A run without a timeline point: the header alone.
            TimelineFile::Opened(out) => {
                let columns: Vec<String> = header.vcs.keys().cloned().collect();
                let csv = TimelineCsv::new(out, columns.clone());
                csv.and_then(TimelineCsv::finish)
                    .map_err(failed("timeline.csv"))?;
                columns
            }
            TimelineFile::Closed => unreachable!("closed only here"),
        };
        let summary = self.summary.summary(header);
        let gantt = self.gantt.finish(header.end_ms);
        let mut digest = RunDigest::new(
            header,
            self.summary.tallies(),
            columns.iter().map(String::as_str),
            gantt,
        );
        // The points were kept in the file's column order; the plot's order has every
        // VC of the run.
        let place: Vec<Option<usize>> = digest
            .vc_names
            .iter()
            .map(|n| columns.iter().position(|c| c == n))
            .collect();
        // The capacity column follows the VC columns in the points and in the steps.
        let capacity = columns.len();
        let reorder = |(t, busy): Step| -> Step {
            let mut row: Vec<u32> = place.iter().map(|i| i.map_or(0, |i| busy[i])).collect();
            row.push(busy[capacity]);
            (t, row)
        };
        let vcs = place.len() + 1;
        let last_t = self.steps.last_t();
        digest.busy_steps = match self.steps.into_points() {
            Some(points) => plot_steps(points.into_iter().map(reorder), vcs, header.end_ms),
            None => {
                // Too many steps to draw: averaged over buckets up to the end, which is
                // known only now, so the points are read back from the file just written.
                let t_end = header.end_ms.max(last_t);
                let path = dir.join("timeline.csv");
                let points =
                    read_timeline(&path, columns.len() + 1).map_err(failed("timeline.csv"))?;
                let mut bad = None;
                let points = points.map_while(|row| row.map_err(|e| bad = Some(e)).ok());
                let steps = steps_of(points.map(reorder), vcs);
                let averaged = averaged_steps(steps, vcs, t_end, AVERAGED_BUCKETS);
                if let Some(e) = bad {
                    return Err(failed("timeline.csv")(e));
                }
                averaged
            }
        };
        digest.busy_until_ms = header.end_ms.max(last_t);
        digest.windows = (summary.busy_window, summary.arrival_window);
        let page = PageRun::of_digest(digest);
        write_exports(&dir, &summary_files(&summary, &page.plots))?;
        Ok((summary, page))
    }
}

/// The points of a `timeline.csv` this module wrote: time and busy GPUs per column.
fn read_timeline(
    path: &Path,
    columns: usize,
) -> std::io::Result<impl Iterator<Item = std::io::Result<Step>>> {
    let reader = csv::Reader::from_path(path).map_err(std::io::Error::other)?;
    let invalid = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    Ok(reader.into_byte_records().map(move |row| {
        let row = row.map_err(std::io::Error::other)?;
        let field = |i: usize| -> std::io::Result<&str> {
            row.get(i)
                .and_then(|f| std::str::from_utf8(f).ok())
                .ok_or_else(|| invalid(format!("row {:?} lacks field {i}", row.position())))
        };
        let number = |text: &str| -> std::io::Result<u64> {
            text.parse()
                .map_err(|_| invalid(format!("{text:?} is not a number")))
        };
        let t = field(0)?;
        let (secs, millis) = t.split_once('.').unwrap_or((t, "0"));
        let t = number(secs)? * 1000 + number(millis)?;
        // A sharing run writes busy GPUs with three decimals: the plot counts them
        // rounded to whole GPUs, as the engine's whole counts (and the steps kept in
        // memory) do.
        let gpus = |text: &str| -> std::io::Result<u32> {
            match text.split_once('.') {
                Some((whole, milli)) => {
                    let milli = number(whole)? * 1000 + number(milli)?;
                    Ok(((milli + 500) / 1000) as u32)
                }
                None => number(text).map(|n| n as u32),
            }
        };
        let busy = (1..=columns)
            .map(|i| field(i).and_then(gpus))
            .collect::<std::io::Result<Vec<u32>>>()?;
        Ok((t, busy))
    }))
}

impl RunSink for ReportSink {
    fn logs(&self) -> bool {
        true
    }

    fn submitted(&mut self, job: &SimJob) {
        let live = LiveJob {
            vc: job.vc.clone(),
            priority: job.priority,
            gpus: job.gpus(),
            submit_ms: job.submit_ms,
        };
        self.live.insert(job.id.clone(), live);
    }

    fn event(&mut self, event: SimEvent) {
        let live = &self.live;
        self.gantt
            .event(&event, &|id| live.get(id).map(|j| j.vc.as_str()));
        if self.error.is_some() {
            return;
        }
        self.line.clear();
        let brief = |id: &str| {
            live.get(id).map(|j| JobBrief {
                vc: &j.vc,
                priority: j.priority,
                gpus: j.gpus,
                submit_ms: j.submit_ms,
            })
        };
        push_event_line(&mut self.line, &event, &brief);
        let written = self.events.write_all(self.line.as_bytes());
        self.check("events.log", written);
    }

    fn timeline(
        &mut self,
        point: TimelinePoint,
        until_ms: SimTimeMs,
        vcs: &BTreeMap<String, VcCapacity>,
    ) {
        self.summary.add_point(&point, until_ms, vcs);
        if let TimelineFile::Opened(_) = self.timeline {
            let TimelineFile::Opened(out) =
                std::mem::replace(&mut self.timeline, TimelineFile::Closed)
            else {
                unreachable!("matched above")
            };
            let mut columns: Vec<String> = vcs.keys().cloned().collect();
            columns.extend(point.busy_by_vc.names().iter().cloned());
            columns.sort();
            columns.dedup();
            match TimelineCsv::new(out, columns) {
                Ok(csv) => self.timeline = TimelineFile::Writing(csv),
                Err(e) => self.check("timeline.csv", Err(e)),
            }
        }
        if let TimelineFile::Writing(csv) = &mut self.timeline
            && self.error.is_none()
        {
            let written = csv.row(&point);
            self.steps.push(point.t, || {
                let mut busy = csv.last_counts().to_vec();
                busy.push(point.capacity_gpus);
                busy
            });
            self.check("timeline.csv", written);
        }
    }

    fn arrivals_ended(&mut self, last_submit_ms: SimTimeMs) {
        self.summary.end_arrivals(last_submit_ms);
    }

    /// The event log, written as it goes, holds the rejection.
    fn rejected(&mut self, _job: &str, _reason: &str) {}

    fn job(&mut self, seq: usize, record: JobRecord) {
        self.live.remove(&record.id);
        self.summary.add_job(&record);
        let Some(slot) = seq.checked_sub(self.next_row) else {
            debug_assert!(false, "job {seq} recorded twice");
            return;
        };
        if self.held.len() <= slot {
            self.held.resize_with(slot + 1, || None);
        }
        self.held[slot] = Some(record);
        self.write_ready_rows();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_that_cannot_be_made_is_named_in_the_error() {
        let root = std::env::temp_dir().join(format!("cellsim-stream-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let file = root.join("a-file");
        std::fs::write(&file, "not a folder").unwrap();
        let Err(error) = ReportSink::create(&file.join("hived")) else {
            panic!("a folder inside a file was made");
        };
        assert_eq!(error.path, file.join("hived"));
        assert!(error.to_string().contains("--out"), "{error}");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
