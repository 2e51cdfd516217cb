//! Text exports of a run: `jobs.csv`, `vcs.csv`, `timeline.csv`, `events.log`, and the
//! per-model table printed at the end of `cellsim run`. Each function returns the file's
//! bytes (or text); nothing here touches the file system. In the CSV files times are
//! seconds with three decimals and GPU time is GPU-hours with three decimals; absent
//! values are empty cells.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use super::plots::VcColumns;
use super::summary::{RunSummary, Stats};
use crate::sim::{JobOutcome, JobRecord, PodSpot, RunResult, SimEvent, SimTimeMs, TimelinePoint};
use crate::time::human_or_dash;
use crate::workload::openpai::PRIORITY_CLASSES;

/// Milliseconds as seconds with three decimals (`1500` → `1.500`).
pub fn seconds(ms: SimTimeMs) -> String {
    let mut text = String::new();
    push_seconds(&mut text, ms);
    text
}

/// GPU-milliseconds as GPU-hours with three decimals.
pub fn gpu_hours(gpu_ms: u64) -> String {
    let mut text = String::new();
    push_gpu_hours(&mut text, gpu_ms);
    text
}

/// A clock time `HH:MM:SS`, with `.mmm` when not a whole second.
pub fn clock(ms: SimTimeMs) -> String {
    let mut text = String::new();
    push_clock(&mut text, ms);
    text
}

/// The OpenPAI priority class of a priority (`prod` for 100), or `priority N`.
pub fn priority_label(priority: i32) -> String {
    PRIORITY_CLASSES
        .iter()
        .find(|(_, p)| *p == priority)
        .map(|(c, _)| c.to_string())
        .unwrap_or_else(|| format!("priority {priority}"))
}

fn opt(value: Option<u64>, f: impl Fn(u64) -> String) -> String {
    value.map(f).unwrap_or_default()
}

fn csv_bytes(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record(header).expect("in-memory CSV");
    for row in rows {
        w.write_record(&row).expect("in-memory CSV");
    }
    w.into_inner().expect("in-memory CSV")
}

/// The header of `jobs.csv`.
const JOBS_HEADER: [&str; 13] = [
    "id",
    "vc",
    "priority",
    "gpus",
    "submit",
    "start",
    "end",
    "wait",
    "jct",
    "preemptions",
    "nodes",
    "outcome",
    "gpu_hours",
];

/// `jobs.csv`: one row per job in submit order. `nodes` lists the nodes of each group's
/// last placement, separated by `;`.
pub fn jobs_csv(result: &RunResult) -> Vec<u8> {
    let mut out = Vec::new();
    write_jobs_csv(result, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// [`jobs_csv`] written to `out` as it is made (a file, for a trace of millions of jobs).
pub fn write_jobs_csv(result: &RunResult, out: impl std::io::Write) -> std::io::Result<()> {
    let mut rows = JobsCsv::new(out)?;
    for job in &result.jobs {
        rows.row(job)?;
    }
    rows.finish()
}

/// Writes `jobs.csv` one row at a time: the header when made, then [`JobsCsv::row`] per
/// job in the order given (submit order for the file to read as documented).
pub struct JobsCsv<W: std::io::Write> {
    writer: csv::Writer<W>,
    /// One buffer for the formatted fields of a row: no String per field per job.
    text: String,
}

impl<W: std::io::Write> JobsCsv<W> {
    /// Starts the file: writes the header.
    pub fn new(out: W) -> std::io::Result<JobsCsv<W>> {
        let mut writer = csv::Writer::from_writer(out);
        writer.write_record(JOBS_HEADER)?;
        Ok(JobsCsv {
            writer,
            text: String::new(),
        })
    }

    /// Writes the row of `j`.
    pub fn row(&mut self, j: &JobRecord) -> std::io::Result<()> {
        let w = &mut self.writer;
        w.write_field(&j.id)?;
        w.write_field(&j.vc)?;
        let text = &mut self.text;
        let mut field = |w: &mut csv::Writer<W>, f: &dyn Fn(&mut String)| {
            text.clear();
            f(text);
            w.write_field(&*text)
        };
        field(w, &|t| push_int(t, j.priority))?;
        field(w, &|t| push_int(t, j.gpus))?;
        field(w, &|t| push_seconds(t, j.submit_ms))?;
        for value in [j.start_ms, j.end_ms, j.wait_ms(), j.jct_ms()] {
            field(w, &|t| {
                if let Some(ms) = value {
                    push_seconds(t, ms)
                }
            })?;
        }
        field(w, &|t| push_int(t, j.preemptions))?;
        field(w, &|t| {
            for (i, node) in j.nodes.iter().enumerate() {
                if i > 0 {
                    t.push(';');
                }
                t.push_str(node);
            }
        })?;
        w.write_field(outcome_name(j.outcome))?;
        field(w, &|t| push_gpu_hours(t, j.gpu_ms))?;
        w.write_record(None::<&[u8]>)?;
        Ok(())
    }

    /// Flushes what is buffered; returns the underlying writer's error, if any.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.writer.flush()
    }
}

/// A job outcome as `jobs.csv` names it (its serde name).
fn outcome_name(outcome: JobOutcome) -> &'static str {
    match outcome {
        JobOutcome::Finished => "finished",
        JobOutcome::Killed => "killed",
        JobOutcome::Rejected => "rejected",
        JobOutcome::Unfinished => "unfinished",
    }
}

/// Appends an integer (what `to_string` gives, without its allocation).
fn push_int(out: &mut String, value: impl itoa::Integer) {
    // itoa, not `write!`: a 1,000-ClusterQueue timeline writes 80 million numbers, and
    // the formatter's machinery was a tenth of that replay's time.
    out.push_str(itoa::Buffer::new().format(value));
}

/// Appends [`seconds`] of `ms`.
fn push_seconds(out: &mut String, ms: SimTimeMs) {
    let _ = write!(out, "{}.{:03}", ms / 1000, ms % 1000);
}

/// Appends [`gpu_hours`] of `gpu_ms`.
fn push_gpu_hours(out: &mut String, gpu_ms: u64) {
    // Rounded in integers so the text never depends on float formatting.
    let thousandths = (u128::from(gpu_ms) * 1000 + 1_800_000) / 3_600_000;
    let _ = write!(out, "{}.{:03}", thousandths / 1000, thousandths % 1000);
}

/// `vcs.csv`: one row per VC, from the summary.
pub fn vcs_csv(summary: &RunSummary) -> Vec<u8> {
    let header = [
        "vc",
        "jobs",
        "finished",
        "killed",
        "rejected",
        "unfinished",
        "mean_wait",
        "p50_wait",
        "p95_wait",
        "p99_wait",
        "mean_jct",
        "gpu_hours_used",
        "gpu_hours_guaranteed",
        "borrowed_gpu_hours",
        "preemptions",
        "mean_queue_delay",
        "p95_queue_delay",
        "delay_quota",
        "delay_capacity",
        "delay_shape",
        "delay_gang",
        "delay_bad_node",
        "delay_preempting",
        "delay_reservation",
        "delay_queue",
    ];
    let rows = summary.vcs.iter().map(|(vc, m)| {
        let w = m.jobs.wait_ms;
        let stat = |f: fn(&Stats) -> u64| opt(w.as_ref().map(f), seconds);
        let q = m.jobs.queue_delay_ms;
        let delay = |f: fn(&Stats) -> u64| opt(q.as_ref().map(f), seconds);
        vec![
            vc.clone(),
            m.jobs.jobs.to_string(),
            m.jobs.finished.to_string(),
            m.jobs.killed.to_string(),
            m.jobs.rejected.to_string(),
            m.jobs.unfinished.to_string(),
            stat(|s| s.mean),
            stat(|s| s.p50),
            stat(|s| s.p95),
            stat(|s| s.p99),
            opt(m.jobs.mean_jct_ms, seconds),
            gpu_hours(m.gpu_ms_used),
            gpu_hours(m.gpu_ms_guaranteed),
            gpu_hours(m.gpu_ms_borrowed),
            m.jobs.preemptions.to_string(),
            delay(|s| s.mean),
            delay(|s| s.p95),
        ]
        .into_iter()
        .chain(
            m.jobs
                .wait_by_reason_ms
                .entries()
                .into_iter()
                .map(|(_, ms)| seconds(ms)),
        )
        .collect::<Vec<_>>()
    });
    csv_bytes(&header, rows)
}

/// `timeline.csv`: busy GPUs per VC from `t` until the next row (one column per VC),
/// and the cluster's capacity then (`capacity_gpus`: GPUs of the nodes present).
pub fn timeline_csv(result: &RunResult) -> Vec<u8> {
    let mut out = Vec::new();
    write_timeline_csv(result, &mut out).expect("writing to a Vec cannot fail");
    out
}

/// [`timeline_csv`] written to `out` as it is made.
pub fn write_timeline_csv(result: &RunResult, out: impl std::io::Write) -> std::io::Result<()> {
    let mut vcs: BTreeSet<&String> = result.vcs.keys().collect();
    let mut last_names = None;
    for point in &result.timeline {
        // The points of an engine run share one list: one pointer compare per point.
        let names = point.busy_by_vc.names();
        if last_names.is_none_or(|last| !Arc::ptr_eq(last, names)) {
            vcs.extend(names.iter());
            last_names = Some(names);
        }
    }
    let mut rows = TimelineCsv::new(out, vcs.into_iter().cloned().collect())?;
    for point in &result.timeline {
        rows.row(point)?;
    }
    rows.finish()
}

/// Writes `timeline.csv` one point at a time, with a fixed list of VC columns: the
/// run's VCs and every VC its points name (an engine run's points all name the same
/// list, so its first point and the run's VCs give the columns).
pub struct TimelineCsv<W: std::io::Write> {
    out: W,
    columns: VcColumns,
    counts: Vec<u32>,
    milli: Vec<u64>,
    row: String,
}

impl<W: std::io::Write> TimelineCsv<W> {
    /// Starts the file with `columns` (sorted VC names): writes the header.
    pub fn new(mut out: W, columns: Vec<String>) -> std::io::Result<TimelineCsv<W>> {
        let mut header = vec!["t"];
        header.extend(columns.iter().map(String::as_str));
        header.push("capacity_gpus");
        {
            let mut w = csv::Writer::from_writer(&mut out);
            w.write_record(&header)?;
            w.flush()?;
        }
        Ok(TimelineCsv {
            out,
            columns: VcColumns::new(&columns),
            counts: Vec::new(),
            milli: Vec::new(),
            row: String::new(),
        })
    }

    /// The VC columns, in order.
    pub fn columns(&self) -> &[String] {
        self.columns.names()
    }

    /// The VC counts of the last row written, in column order.
    pub fn last_counts(&self) -> &[u32] {
        &self.counts
    }

    /// Writes the row of `p`; a VC of the point that has no column is left out. A run
    /// whose pods share GPUs gives busy GPUs with three decimals (milli-GPUs), others
    /// whole numbers.
    pub fn row(&mut self, p: &TimelinePoint) -> std::io::Result<()> {
        self.columns.read(&p.busy_by_vc, &mut self.counts);
        let exact = self.columns.read_milli(&p.busy_by_vc, &mut self.milli);
        // Rows are numbers only, which CSV never quotes: written directly.
        let row = &mut self.row;
        row.clear();
        push_seconds(row, p.t);
        if exact {
            for &m in &self.milli {
                row.push(',');
                push_int(row, m / 1000);
                row.push('.');
                let rest = m % 1000;
                for digit in [rest / 100, rest / 10 % 10, rest % 10] {
                    row.push(char::from(b'0' + digit as u8));
                }
            }
        } else {
            for &n in &self.counts {
                row.push(',');
                push_int(row, n);
            }
        }
        row.push(',');
        push_int(row, p.capacity_gpus);
        row.push('\n');
        self.out.write_all(row.as_bytes())
    }

    /// Flushes what is buffered.
    pub fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

fn pods_text(out: &mut String, pods: &[PodSpot]) {
    if pods.is_empty() {
        out.push_str("no GPU");
        return;
    }
    for (i, p) in pods.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(&p.node);
        out.push_str(if p.devices.len() == 1 {
            " GPU "
        } else {
            " GPUs "
        });
        for (k, d) in p.devices.iter().enumerate() {
            if k > 0 {
                out.push(',');
            }
            push_int(out, *d);
        }
    }
}

/// A group as people name it: the job id for a job's only gang group.
fn group_text(group: &str) -> &str {
    group.strip_suffix("/default").unwrap_or(group)
}

/// Appends [`clock`] of `ms`.
fn push_clock(out: &mut String, ms: SimTimeMs) {
    let secs = ms / 1000;
    let _ = write!(
        out,
        "{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if !ms.is_multiple_of(1000) {
        let _ = write!(out, ".{:03}", ms % 1000);
    }
}

/// `events.log`: one readable line per event, e.g.
/// `t=00:06:00 job-config-2 (vc1, prod) preempted job-config-1 on hostname-dan GPU 0`.
pub fn events_log(result: &RunResult) -> String {
    let mut out = Vec::new();
    write_events_log(result, &mut out).expect("writing to a Vec cannot fail");
    String::from_utf8(out).expect("the log is made of str pieces")
}

/// [`events_log`] written to `out` as it is made.
pub fn write_events_log(result: &RunResult, mut out: impl std::io::Write) -> std::io::Result<()> {
    let jobs: HashMap<&str, &JobRecord> = result.jobs.iter().map(|j| (j.id.as_str(), j)).collect();
    let brief = |id: &str| jobs.get(id).map(|j| JobBrief::of(j));
    // One line buffer for the whole log: no String per event.
    let mut line = String::new();
    for event in &result.events {
        line.clear();
        push_event_line(&mut line, event, &brief);
        out.write_all(line.as_bytes())?;
    }
    out.flush()
}

/// What a line of `events.log` says of a job besides its id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobBrief<'a> {
    /// Its VC.
    pub vc: &'a str,
    /// Its priority.
    pub priority: i32,
    /// GPUs it asks for.
    pub gpus: u32,
    /// When it was submitted (for the JCT on its finish line).
    pub submit_ms: SimTimeMs,
}

impl<'a> JobBrief<'a> {
    /// The brief of a job's record.
    pub fn of(job: &'a JobRecord) -> JobBrief<'a> {
        JobBrief {
            vc: &job.vc,
            priority: job.priority,
            gpus: job.gpus,
            submit_ms: job.submit_ms,
        }
    }
}

/// Appends the `events.log` line of `event` (with its newline); `jobs` tells about the
/// jobs it names (a job it does not know is named by its id alone).
pub fn push_event_line<'j>(
    line: &mut String,
    event: &SimEvent,
    jobs: &dyn Fn(&str) -> Option<JobBrief<'j>>,
) {
    let who = |line: &mut String, id: &str| match jobs(id) {
        Some(j) => {
            let _ = write!(line, "{id} ({}, ", j.vc);
            match PRIORITY_CLASSES.iter().find(|(_, p)| *p == j.priority) {
                Some((class, _)) => line.push_str(class),
                None => {
                    let _ = write!(line, "priority {}", j.priority);
                }
            }
            line.push(')');
        }
        None => line.push_str(id),
    };
    line.push_str("t=");
    push_clock(line, event.t());
    line.push(' ');
    match event {
        SimEvent::JobSubmitted { job, .. } => {
            let gpus = jobs(job).map_or(0, |j| j.gpus);
            let s = if gpus == 1 { "" } else { "s" };
            who(line, job);
            let _ = write!(line, " submitted, {gpus} GPU{s}");
        }
        SimEvent::GroupWaiting { group, reason, .. } => {
            line.push_str(group_text(group));
            // Most reasons already read "waiting for …"; do not say it twice.
            if !reason.starts_with("waiting ") {
                line.push_str(" waiting:");
            }
            line.push(' ');
            line.push_str(reason);
        }
        SimEvent::GroupStarted { group, pods, .. } => {
            line.push_str(group_text(group));
            line.push_str(" started on ");
            pods_text(line, pods);
        }
        SimEvent::GroupPreempted {
            group,
            by,
            pods,
            suspended,
            ..
        } => {
            who(line, by);
            line.push_str(if *suspended {
                " suspended "
            } else {
                " preempted "
            });
            line.push_str(group_text(group));
            line.push_str(" on ");
            pods_text(line, pods);
            if *suspended {
                line.push_str(" (its progress is kept)");
            }
        }
        SimEvent::GroupDowngraded { group, by, .. } => {
            who(line, by);
            let _ = write!(
                line,
                " downgraded {} to opportunistic (lazy preemption); it keeps running",
                group_text(group)
            );
        }
        SimEvent::GroupFinished { group, pods, .. } => {
            line.push_str(group_text(group));
            line.push_str(" completed its run on ");
            pods_text(line, pods);
        }
        SimEvent::GroupFailed {
            group, node, pods, ..
        } => {
            let _ = write!(
                line,
                "{} killed because {node} went down (was on ",
                group_text(group)
            );
            pods_text(line, pods);
            line.push_str("); requeued");
        }
        SimEvent::JobFinished { job, t } => {
            line.push_str(job);
            line.push_str(" finished");
            if let Some(j) = jobs(job) {
                line.push_str(" (JCT ");
                push_clock(line, t - j.submit_ms);
                line.push(')');
            }
        }
        SimEvent::JobKilled { job, .. } => {
            let _ = write!(line, "{job} killed by its user");
        }
        SimEvent::JobRejected { job, reason, .. } => {
            let _ = write!(line, "{job} rejected: {reason}");
        }
        SimEvent::NodeDown { node, .. } => {
            let _ = write!(line, "node {node} down");
        }
        SimEvent::NodeUp { node, .. } => {
            let _ = write!(line, "node {node} up");
        }
        SimEvent::NodeAdded { node, .. } => {
            let _ = write!(line, "node {node} added to the cluster");
        }
        SimEvent::NodeRemoved { node, .. } => {
            let _ = write!(line, "node {node} removed from the cluster");
        }
    }
    line.push('\n');
}

/// The per-model table `cellsim run` prints: jobs, waits, JCT, utilisation over its
/// window and over the arrival window, preemptions; then a line saying what the
/// utilisation windows are.
pub fn summary_table(summaries: &[RunSummary]) -> String {
    let header = [
        "model",
        "jobs",
        "finished",
        "mean wait",
        "p95 wait",
        "mean JCT",
        "util",
        "util window",
        "arrival util",
        "preemptions",
    ];
    let share = |u: Option<f64>| u.map_or("-".to_string(), |u| format!("{:.1}%", u * 100.0));
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            let w = s.overall.wait_ms;
            vec![
                s.model.clone(),
                s.overall.jobs.to_string(),
                s.overall.finished.to_string(),
                human_or_dash(w.map(|w| w.mean)),
                human_or_dash(w.map(|w| w.p95)),
                human_or_dash(s.overall.mean_jct_ms),
                share(s.busy_window.utilisation),
                format!(
                    "{} - {}",
                    crate::time::human_duration(s.busy_window.from_ms),
                    crate::time::human_duration(s.busy_window.to_ms)
                ),
                share(s.arrival_window.utilisation),
                s.overall.preemptions.to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    if !summaries.is_empty() {
        out.push_str(UTIL_NOTE);
        out.push('\n');
    }
    out
}

/// What the utilisation columns mean, printed under the table and shown on the page.
pub const UTIL_NOTE: &str = "util: busy GPU time over the GPU time of the nodes present \
     within the util window, from the first submit to the last job's end; arrival util: the \
     same from the first submit to the last submit (times since t = 0)";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::VcCapacity;
    use std::collections::BTreeMap;

    fn result() -> RunResult {
        RunResult {
            scenario: "s".into(),
            model: "hived".into(),
            seed: 1,
            end_ms: 720_000,
            total_gpus: 2,
            vcs: BTreeMap::from([("vc1".to_string(), VcCapacity { guaranteed_gpus: 1 })]),
            nodes: vec![("hostname-dan".into(), 1)],
            jobs: vec![JobRecord {
                id: "job-config-1".into(),
                vc: "vc1".into(),
                priority: 10,
                gpus: 1,
                submit_ms: 0,
                start_ms: Some(1_500),
                end_ms: None,
                outcome: JobOutcome::Unfinished,
                preemptions: 1,
                nodes: vec!["hostname-dan".into()],
                gpu_ms: 3_600_000,
                requeued_ms: 0,
                wait_by_kind_ms: Default::default(),
            }],
            events: vec![SimEvent::GroupPreempted {
                t: 360_000,
                job: "job-config-1".into(),
                group: "job-config-1/default".into(),
                by: "job-config-2".into(),
                pods: vec![PodSpot {
                    node: "hostname-dan".into(),
                    devices: vec![0],
                }],
                suspended: false,
            }],
            timeline: vec![],
        }
    }

    #[test]
    fn times_are_seconds_with_three_decimals_and_absent_ones_empty() {
        let text = String::from_utf8(jobs_csv(&result())).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "job-config-1,vc1,10,1,0.000,1.500,,1.500,,1,hostname-dan,unfinished,1.000"
        );
    }

    #[test]
    fn event_lines_read_as_sentences() {
        let mut r = result();
        r.jobs[0].id = "job-config-2".into();
        r.jobs[0].priority = 100;
        assert_eq!(
            events_log(&r),
            "t=00:06:00 job-config-2 (vc1, prod) preempted job-config-1 on hostname-dan GPU 0\n"
        );
    }

    #[test]
    fn clock_and_gpu_hours_format() {
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(clock(1_250), "00:00:01.250");
        assert_eq!(gpu_hours(5_400_000), "1.500");
        assert_eq!(gpu_hours(0), "0.000");
    }
}
