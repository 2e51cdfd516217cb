//! Where a run's output goes as the engine makes it: a [`RunSink`] receives the event log,
//! the timeline points and the job records one at a time, so that what is kept is the
//! sink's choice. [`CollectRun`] keeps everything (a [`RunResult`] for the reports);
//! a sink that writes files or tallies as it goes (the reports' and the summary's) keeps
//! nothing per job.

use std::collections::BTreeMap;

use super::record::*;
use super::scenario::SimJob;

/// Receives one run's output, in the order the engine makes it.
pub trait RunSink {
    /// Whether the run builds its event log and keeps the nodes each job ran on (both
    /// cost memory and time only the reports need).
    fn logs(&self) -> bool;

    /// A job arrived, before the event that logs it; called only when [`RunSink::logs`].
    /// The log names jobs by id: a sink that writes it as it goes learns here what
    /// else to say of them (VC, priority, GPUs).
    ///
    /// Required, as is [`RunSink::arrivals_ended`], though most sinks ignore it: a sink
    /// that wraps another must forward every hook, and a default no-op would let a
    /// wrapper drop one silently (it once lost `arrivals_ended`, and with it the
    /// arrival window of every report).
    fn submitted(&mut self, job: &SimJob);

    /// One event of the log, in time order; called only when [`RunSink::logs`].
    fn event(&mut self, event: SimEvent);

    /// A point of the busy-GPU timeline, final, held until `until_ms` (the next point's
    /// time, or the end of the run). Points come in time order.
    fn timeline(
        &mut self,
        point: TimelinePoint,
        until_ms: SimTimeMs,
        vcs: &BTreeMap<String, VcCapacity>,
    );

    /// A job's record, when it ended (or at the end of the run for jobs that did not);
    /// `seq` is the job's place in submit order. Records come in the order jobs end.
    fn job(&mut self, seq: usize, record: JobRecord);

    /// The model rejected job `job` for `reason`: called for every rejection, with or
    /// without an event log, so that a run that keeps none (`--summary-only`) can still
    /// say why a job could not run.
    fn rejected(&mut self, job: &str, reason: &str);

    /// The last job was submitted, at `last_submit_ms`: called once, before any timeline
    /// point that holds past that time, and never when the horizon cuts submissions off.
    /// Ends the arrival window over which utilisation is also measured.
    fn arrivals_ended(&mut self, last_submit_ms: SimTimeMs);
}

/// Keeps all of a run: the event log, every timeline point and every job's record.
#[derive(Debug, Default)]
pub struct CollectRun {
    events: Vec<SimEvent>,
    timeline: Vec<TimelinePoint>,
    jobs: Vec<(usize, JobRecord)>,
}

impl CollectRun {
    /// `header` (the run's identity and totals, with no jobs, events or timeline) filled
    /// with what was collected; jobs in submit order.
    pub fn into_result(mut self, header: RunResult) -> RunResult {
        self.jobs.sort_unstable_by_key(|(seq, _)| *seq);
        RunResult {
            jobs: self.jobs.into_iter().map(|(_, job)| job).collect(),
            events: self.events,
            timeline: self.timeline,
            ..header
        }
    }
}

impl RunSink for CollectRun {
    fn logs(&self) -> bool {
        true
    }

    /// The log names the job; the result keeps its record, so nothing more to keep.
    fn submitted(&mut self, _job: &SimJob) {}

    fn event(&mut self, event: SimEvent) {
        self.events.push(event);
    }

    fn timeline(&mut self, point: TimelinePoint, _: SimTimeMs, _: &BTreeMap<String, VcCapacity>) {
        self.timeline.push(point);
    }

    fn job(&mut self, seq: usize, record: JobRecord) {
        self.jobs.push((seq, record));
    }

    /// The event log holds the rejection.
    fn rejected(&mut self, _job: &str, _reason: &str) {}

    /// The reports take the arrival window from the jobs' submit times.
    fn arrivals_ended(&mut self, _last_submit_ms: SimTimeMs) {}
}
