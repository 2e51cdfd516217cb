//! From a reader's rows to the jobs a simulation replays ([`Ingest`]): submit order, time
//! origin, duplicates, unique ids, and a tally of everything set aside or changed
//! ([`IngestReport`]), so that nothing is dropped silently and one bad row does not end a
//! replay. The ingest step does not know the cluster; jobs larger than it are noted when
//! the caller gives the cluster's size ([`Ingest::max_gpus`],
//! [`note_larger_than_cluster`]).
//!
//! Two ways to ingest:
//!
//! - [`Ingest::sorted`] reads the whole trace, then sorts it by submit time (stable, so
//!   equal times keep file order). Real traces are often unsorted (the Philly CSV is), and
//!   the simulator needs submit order.
//! - [`Ingest::stream`] keeps the reader's streaming, for traces already in submit order:
//!   a row submitted before the one before it is counted as out of order and moved up to
//!   that earlier row's time, so the output never goes back in time.
//!
//! In both, rows:
//! - that cannot be read are counted under [`UNREADABLE`] with their error as example;
//!   an error after which the reader cannot go on (I/O, broken JSON) ends the ingest
//!   with that error instead, since a cut-short trace would give wrong results;
//! - equal to an earlier row in every field (ids included unless the reader made them
//!   up) are dropped and counted under [`DUPLICATE`] (when [`Ingest::drop_duplicates`]);
//! - whose id an earlier job already has get `<id>@<line>` and are counted under
//!   [`DUPLICATE_ID`];
//! - that submit before an earlier row are counted under [`OUT_OF_ORDER`];
//! - that need more GPUs than [`Ingest::max_gpus`] are kept and counted under
//!   [`LARGER_THAN_CLUSTER`]; the scheduler will reject them.
//!
//! Times: with [`TimeOrigin::Auto`], absolute timestamps (Philly, mapped datetimes) are
//! shifted so that the first submit is at 0; relative times (native, openb, mapped
//! numbers) are kept as they are.

use std::collections::{HashMap, HashSet};

use super::source::{RowInfo, TraceSource, seconds_text};
use super::trace::{IngestReport, TraceError, TraceJob};
use crate::sim::SimTimeMs;

/// Kind noted for a row the reader could not read.
pub const UNREADABLE: &str = "unreadable row (skipped)";
/// Kind noted for a row equal to an earlier one.
pub const DUPLICATE: &str = "duplicate row (dropped)";
/// Kind noted for a job whose id an earlier job has.
pub const DUPLICATE_ID: &str = "duplicate id (renamed <id>@<line>)";
/// Kind noted for a row submitted before an earlier row of the file.
pub const OUT_OF_ORDER: &str = "out of order";
/// Kind noted for a job that needs more GPUs than the cluster has.
pub const LARGER_THAN_CLUSTER: &str = "larger than the cluster (kept; will be rejected)";

/// Where simulated time 0 is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeOrigin {
    /// At the first submit for absolute timestamps; as written for relative times.
    #[default]
    Auto,
    /// At the first submit, whatever the format (e.g. Unix seconds read as numbers).
    FirstSubmit,
    /// As written.
    AsIs,
}

/// How to ingest a trace; `Ingest::default()` shifts absolute times, drops duplicates and
/// does not check job sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ingest {
    /// Where time 0 is.
    pub origin: TimeOrigin,
    /// Drop rows equal to an earlier row (counted either way).
    pub drop_duplicates: bool,
    /// The cluster's GPU count, if known: larger jobs are noted.
    pub max_gpus: Option<u32>,
}

impl Default for Ingest {
    fn default() -> Self {
        Ingest {
            origin: TimeOrigin::Auto,
            drop_duplicates: true,
            max_gpus: None,
        }
    }
}

/// A whole trace, ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// The jobs in submit order (ties in file order).
    pub jobs: Vec<TraceJob>,
    /// Rows set aside or changed, by the reader and by the ingest step.
    pub report: IngestReport,
    /// What was subtracted from every submit time: the first submit's absolute time (ms
    /// since 1970-01-01, local time) when times were shifted, else 0.
    pub origin_ms: SimTimeMs,
}

/// Counts `job` under [`LARGER_THAN_CLUSTER`] when it needs more than `max_gpus` GPUs;
/// true if it does.
pub fn note_larger_than_cluster(job: &TraceJob, max_gpus: u32, report: &mut IngestReport) -> bool {
    if job.gpus <= max_gpus {
        return false;
    }
    report.note(LARGER_THAN_CLUSTER, || {
        format!(
            "{} needs {} GPUs, the cluster has {max_gpus}",
            job.id, job.gpus
        )
    });
    true
}

/// The fields that make two rows the same job; the id only when the file gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SameJob<S> {
    id: Option<S>,
    submit_ms: SimTimeMs,
    duration_ms: SimTimeMs,
    gpus: u32,
    vc: S,
    priority: i32,
    gpu_type: Option<S>,
}

fn same_job(job: &TraceJob, row: RowInfo) -> SameJob<&str> {
    SameJob {
        id: (!row.id_generated).then_some(job.id.as_str()),
        submit_ms: job.submit_ms,
        duration_ms: job.duration_ms,
        gpus: job.gpus,
        vc: &job.vc,
        priority: job.priority,
        gpu_type: job.gpu_type.as_deref(),
    }
}

fn owned(key: SameJob<&str>) -> SameJob<String> {
    SameJob {
        id: key.id.map(str::to_string),
        submit_ms: key.submit_ms,
        duration_ms: key.duration_ms,
        gpus: key.gpus,
        vc: key.vc.to_string(),
        priority: key.priority,
        gpu_type: key.gpu_type.map(str::to_string),
    }
}

fn note_unreadable(report: &mut IngestReport, error: &TraceError) {
    report.note(UNREADABLE, || error.to_string());
}

fn note_duplicate(report: &mut IngestReport, job: &TraceJob, line: u64, first_line: u64) {
    report.note(DUPLICATE, || {
        format!("line {line} ({}) repeats line {first_line}", job.id)
    });
}

fn note_out_of_order(report: &mut IngestReport, job: &TraceJob, line: u64, latest: SimTimeMs) {
    report.note(OUT_OF_ORDER, || {
        format!(
            "line {line} ({}) submits at {} s, before an earlier row's {} s",
            job.id,
            seconds_text(job.submit_ms),
            seconds_text(latest)
        )
    });
}

/// For rows sorted by submit time: false for every row equal to an earlier one (noted).
/// Equal rows share a submit time, so only rows of one submit time are compared: pairwise
/// for the usual handful, through a hash map for large groups.
fn first_copies(rows: &[(TraceJob, RowInfo)], report: &mut IngestReport) -> Vec<bool> {
    const PAIRWISE_UP_TO: usize = 16;
    let mut keep = vec![true; rows.len()];
    let mut start = 0;
    while start < rows.len() {
        let submit = rows[start].0.submit_ms;
        let end = start + rows[start..].partition_point(|(job, _)| job.submit_ms == submit);
        let group = &rows[start..end];
        let key = |i: usize| same_job(&group[i].0, group[i].1);
        for i in 1..group.len().min(PAIRWISE_UP_TO) {
            if let Some(first) = (0..i).find(|&j| keep[start + j] && key(j) == key(i)) {
                note_duplicate(report, &group[i].0, group[i].1.line, group[first].1.line);
                keep[start + i] = false;
            }
        }
        if group.len() > PAIRWISE_UP_TO {
            let mut seen: HashMap<SameJob<&str>, usize> = HashMap::with_capacity(group.len());
            for i in 0..group.len() {
                if !keep[start + i] {
                    continue;
                }
                match seen.get(&key(i)) {
                    Some(&first) => {
                        note_duplicate(report, &group[i].0, group[i].1.line, group[first].1.line);
                        keep[start + i] = false;
                    }
                    None => {
                        seen.insert(key(i), i);
                    }
                }
            }
        }
        start = end;
    }
    keep
}

/// Indices (ascending) of rows whose id an earlier row has.
fn repeated_ids(rows: &[(TraceJob, RowInfo)]) -> Vec<usize> {
    let mut seen: HashSet<&str> = HashSet::with_capacity(rows.len());
    (0..rows.len())
        .filter(|&i| !seen.insert(rows[i].0.id.as_str()))
        .collect()
}

/// Gives `job` the id `<id>@<line>`, noted.
fn rename(job: &mut TraceJob, line: u64, report: &mut IngestReport) {
    let renamed = format!("{}@{line}", job.id);
    report.note(DUPLICATE_ID, || {
        format!("line {line}: {} -> {renamed}", job.id)
    });
    job.id = renamed;
}

/// Ids seen so far in a stream, kept as 128-bit fingerprints rather than strings: a
/// million-job trace needs about 30 MB for them instead of about 100. Two different ids
/// share a fingerprint with a probability of about n² / 2¹²⁹ (below 10⁻²⁶ for a million
/// ids), so a unique id is in practice never taken for a repeat.
#[derive(Debug, Default)]
struct SeenIds(HashSet<u128>);

impl SeenIds {
    fn fingerprint(id: &str) -> u128 {
        use std::hash::{DefaultHasher, Hash, Hasher};
        // `DefaultHasher::new()` has fixed keys: the same id always gives the same half.
        let half = |salt: u8| {
            let mut hasher = DefaultHasher::new();
            salt.hash(&mut hasher);
            id.hash(&mut hasher);
            hasher.finish()
        };
        (u128::from(half(0)) << 64) | u128::from(half(1))
    }

    /// Records `id`; false when it was seen before.
    fn insert(&mut self, id: &str) -> bool {
        self.0.insert(Self::fingerprint(id))
    }
}

/// How a stream finds the rows whose id an earlier row has.
#[derive(Debug)]
enum RepeatedIds {
    /// Remembers every id seen; notes the lines of the rows it renames.
    Seen { ids: SeenIds, renamed: Vec<u64> },
    /// The lines (ascending) of the rows to rename, found by an earlier pass over the same
    /// trace ([`IngestStream::renamed_lines`]): nothing is remembered per row.
    Known(std::sync::Arc<[u64]>),
}

impl RepeatedIds {
    /// Renames `job` (read at `line`) when an earlier row has its id.
    fn make_unique(&mut self, job: &mut TraceJob, line: u64, report: &mut IngestReport) {
        match self {
            RepeatedIds::Seen { ids, renamed } => {
                if !ids.insert(&job.id) {
                    rename(job, line, report);
                    ids.insert(&job.id);
                    renamed.push(line);
                }
            }
            RepeatedIds::Known(lines) => {
                if lines.binary_search(&line).is_ok() {
                    rename(job, line, report);
                }
            }
        }
    }
}

impl Ingest {
    /// Reads the whole trace, then returns its jobs in submit order with the report. Fails
    /// only when the reader stops on an error it cannot read past.
    pub fn sorted<S: TraceSource>(&self, mut source: S) -> Result<Ingested, TraceError> {
        let mut report = IngestReport::default();
        let mut rows: Vec<(TraceJob, RowInfo)> = Vec::new();
        while let Some(item) = source.next() {
            match item {
                Ok(job) => rows.push((job, source.last_row())),
                Err(e) if source.stopped() => return Err(e),
                Err(e) => note_unreadable(&mut report, &e),
            }
        }
        report.jobs_read = rows.len() as u64;
        let origin_ms = match (self.origin, source.absolute_times()) {
            (TimeOrigin::FirstSubmit, _) | (TimeOrigin::Auto, true) => {
                rows.iter().map(|(job, _)| job.submit_ms).min().unwrap_or(0)
            }
            (TimeOrigin::Auto, false) | (TimeOrigin::AsIs, _) => 0,
        };
        let mut latest: SimTimeMs = 0;
        for (job, row) in &mut rows {
            job.submit_ms -= origin_ms;
            if job.submit_ms < latest {
                note_out_of_order(&mut report, job, row.line, latest);
            }
            latest = latest.max(job.submit_ms);
        }
        // Stable: equal submit times keep file order, so the first copy of a duplicate
        // is the one kept.
        rows.sort_by_key(|(job, _)| job.submit_ms);
        if self.drop_duplicates {
            let keep = first_copies(&rows, &mut report);
            let mut index = 0;
            rows.retain(|_| {
                index += 1;
                keep[index - 1]
            });
        }
        let renames = repeated_ids(&rows);
        let mut jobs = Vec::with_capacity(rows.len());
        for (i, (mut job, row)) in rows.into_iter().enumerate() {
            if renames.binary_search(&i).is_ok() {
                rename(&mut job, row.line, &mut report);
            }
            if let Some(max_gpus) = self.max_gpus {
                note_larger_than_cluster(&job, max_gpus, &mut report);
            }
            jobs.push(job);
        }
        report.merge(source.skipped());
        Ok(Ingested {
            jobs,
            report,
            origin_ms,
        })
    }

    /// Passes the trace through row by row, for traces in submit order. See the module
    /// docs; the report is complete once the stream has returned `None`.
    pub fn stream<S: TraceSource>(&self, source: S) -> IngestStream<S> {
        self.stream_with(
            source,
            RepeatedIds::Seen {
                ids: SeenIds::default(),
                renamed: Vec::new(),
            },
        )
    }

    /// [`Ingest::stream`] for a trace already streamed once: the rows whose ids repeat
    /// are those at `renamed_lines` (that stream's [`IngestStream::renamed_lines`]), so
    /// the ids seen need not be remembered again. The same jobs come out, with the same
    /// ids, if the file has not changed.
    pub fn stream_renaming<S: TraceSource>(
        &self,
        source: S,
        renamed_lines: std::sync::Arc<[u64]>,
    ) -> IngestStream<S> {
        self.stream_with(source, RepeatedIds::Known(renamed_lines))
    }

    fn stream_with<S: TraceSource>(&self, source: S, ids: RepeatedIds) -> IngestStream<S> {
        IngestStream {
            source,
            ingest: *self,
            report: IngestReport::default(),
            origin_ms: None,
            latest: 0,
            same_time: HashMap::new(),
            ids,
            finished: false,
        }
    }
}

/// Jobs of a trace in submit order, read lazily ([`Ingest::stream`]). An `Err` ends the
/// stream: the reader could not go on. Unreadable rows are in [`IngestStream::report`].
pub struct IngestStream<S> {
    source: S,
    ingest: Ingest,
    report: IngestReport,
    origin_ms: Option<SimTimeMs>,
    latest: SimTimeMs,
    /// Jobs submitted at `latest`, to find duplicates (they share the submit time).
    same_time: HashMap<SameJob<String>, u64>,
    ids: RepeatedIds,
    finished: bool,
}

impl<S: TraceSource> IngestStream<S> {
    /// Rows set aside or changed so far (complete after the end of the stream).
    pub fn report(&self) -> &IngestReport {
        &self.report
    }

    /// The report, once the stream is done with.
    pub fn into_report(self) -> IngestReport {
        self.report
    }

    /// Lines of the rows renamed so far because an earlier row had their id, ascending:
    /// what [`Ingest::stream_renaming`] needs to read the trace again the same way.
    pub fn renamed_lines(&self) -> &[u64] {
        match &self.ids {
            RepeatedIds::Seen { renamed, .. } => renamed,
            RepeatedIds::Known(lines) => lines,
        }
    }

    /// What is subtracted from every submit time (known after the first job).
    pub fn origin_ms(&self) -> Option<SimTimeMs> {
        self.origin_ms
    }

    fn finish(&mut self) {
        if !self.finished {
            self.finished = true;
            self.report.merge(self.source.skipped());
        }
    }
}

impl<S: TraceSource> Iterator for IngestStream<S> {
    type Item = Result<TraceJob, TraceError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let Some(item) = self.source.next() else {
                self.finish();
                return None;
            };
            let mut job = match item {
                Ok(job) => job,
                Err(e) if self.source.stopped() => {
                    self.finish();
                    return Some(Err(e));
                }
                Err(e) => {
                    note_unreadable(&mut self.report, &e);
                    continue;
                }
            };
            self.report.jobs_read += 1;
            let row = self.source.last_row();
            let shift = match self.ingest.origin {
                TimeOrigin::FirstSubmit => true,
                TimeOrigin::Auto => self.source.absolute_times(),
                TimeOrigin::AsIs => false,
            };
            let origin = *self
                .origin_ms
                .get_or_insert(if shift { job.submit_ms } else { 0 });
            // A row before the first one cannot go below 0: count it and start it at 0.
            let submit = job.submit_ms.checked_sub(origin);
            job.submit_ms = submit.unwrap_or(0);
            if submit.is_none() || job.submit_ms < self.latest {
                note_out_of_order(&mut self.report, &job, row.line, self.latest);
                job.submit_ms = self.latest;
            }
            if job.submit_ms > self.latest {
                self.latest = job.submit_ms;
                self.same_time.clear();
            }
            if self.ingest.drop_duplicates {
                let key = owned(same_job(&job, row));
                if let Some(first_line) = self.same_time.get(&key) {
                    note_duplicate(&mut self.report, &job, row.line, *first_line);
                    continue;
                }
                self.same_time.insert(key, row.line);
            }
            self.ids.make_unique(&mut job, row.line, &mut self.report);
            if let Some(max_gpus) = self.ingest.max_gpus {
                note_larger_than_cluster(&job, max_gpus, &mut self.report);
            }
            return Some(Ok(job));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::native::NativeReader;
    use crate::workload::philly::PhillyCsvReader;
    use std::io::Cursor;
    use std::path::Path;

    fn philly(rows: &str) -> PhillyCsvReader {
        let text = format!("timestamp,duration,num_gpus,gpu_time,cluster\n{rows}");
        PhillyCsvReader::from_reader(Path::new("p.csv"), Cursor::new(text)).unwrap()
    }

    const UNSORTED: &str = "2017-10-09 07:00:10,60,1,60,a\n\
                            2017-10-09 07:00:00,60,2,120,b\n\
                            2017-10-09 07:00:10,60,1,60,a\n\
                            2017-10-09 07:00:10,x,1,60,a\n\
                            2017-10-09 07:00:20,60,16,960,a\n";

    #[test]
    fn sorted_shifts_sorts_drops_duplicates_and_reports() {
        let ingest = Ingest {
            max_gpus: Some(8),
            ..Ingest::default()
        };
        let out = ingest.sorted(philly(UNSORTED)).unwrap();
        let summary: Vec<(&str, SimTimeMs)> = out
            .jobs
            .iter()
            .map(|j| (j.id.as_str(), j.submit_ms))
            .collect();
        assert_eq!(summary, vec![("p-3", 0), ("p-2", 10_000), ("p-6", 20_000)]);
        assert_eq!(out.report.jobs_read, 4);
        assert_eq!(out.report.count(OUT_OF_ORDER), 1);
        assert_eq!(out.report.count(DUPLICATE), 1);
        assert_eq!(out.report.count(UNREADABLE), 1);
        assert_eq!(out.report.count(LARGER_THAN_CLUSTER), 1);
        assert_eq!(
            out.report.issues[DUPLICATE].examples,
            vec!["line 4 (p-4) repeats line 2"]
        );
        assert_eq!(
            out.report.issues[OUT_OF_ORDER].examples,
            vec!["line 3 (p-3) submits at 0 s, before an earlier row's 10 s"]
        );
    }

    #[test]
    fn stream_never_goes_back_in_time() {
        let mut stream = Ingest::default().stream(philly(UNSORTED));
        let jobs: Vec<TraceJob> = stream.by_ref().map(Result::unwrap).collect();
        let summary: Vec<(&str, SimTimeMs)> =
            jobs.iter().map(|j| (j.id.as_str(), j.submit_ms)).collect();
        assert_eq!(summary, vec![("p-2", 0), ("p-3", 0), ("p-6", 10_000)]);
        let report = stream.into_report();
        assert_eq!(report.count(OUT_OF_ORDER), 1);
        assert_eq!(report.count(DUPLICATE), 1);
        assert_eq!(report.count(UNREADABLE), 1);
    }

    #[test]
    fn same_ids_are_renamed_but_same_content_with_other_ids_is_kept() {
        let text = "id,submit_s,duration_s,gpus,vc\na,0,1,1,v\nb,0,1,1,v\na,1,1,1,v\n";
        let reader = NativeReader::from_reader(Path::new("n.csv"), Cursor::new(text)).unwrap();
        let out = Ingest::default().sorted(reader).unwrap();
        let ids: Vec<&str> = out.jobs.iter().map(|j| j.id.as_str()).collect();
        assert_eq!(ids, vec!["a", "b", "a@4"]);
        assert_eq!(out.report.count(DUPLICATE), 0);
        assert_eq!(out.report.count(DUPLICATE_ID), 1);
        assert_eq!(out.origin_ms, 0);
    }

    #[test]
    fn a_second_pass_renames_the_rows_the_first_one_did() {
        // `a` repeats, and a later row is called what the repeat was renamed to.
        let text = "id,submit_s,duration_s,gpus,vc\na,0,1,1,v\nb,0,1,1,v\na,1,1,1,v\n\
                    a@4,2,1,1,v\nc,3,1,1,v\n";
        let read = || NativeReader::from_reader(Path::new("n.csv"), Cursor::new(text)).unwrap();
        let mut first = Ingest::default().stream(read());
        let ids = |jobs: &mut dyn Iterator<Item = Result<TraceJob, TraceError>>| {
            jobs.map(|j| j.unwrap().id).collect::<Vec<String>>()
        };
        let first_ids = ids(&mut first);
        assert_eq!(first_ids, vec!["a", "b", "a@4", "a@4@5", "c"]);
        assert_eq!(first.renamed_lines(), &[4, 5]);
        let mut again = Ingest::default().stream_renaming(read(), first.renamed_lines().into());
        assert_eq!(ids(&mut again), first_ids);
        assert_eq!(again.report().count(DUPLICATE_ID), 2);
    }
}
