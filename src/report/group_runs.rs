//! Group runs — one group's time on its devices, from `GroupStarted` to what ended it —
//! derived from an event log, for the Gantt chart and the labs' answers. A
//! [`GroupRunTracker`] reads the log one event at a time, so a run can be followed as the
//! engine makes it as well as from a finished [`RunResult`].

use std::collections::{BTreeMap, HashMap};

use crate::sim::record::{PodSpot, RunResult, SimEvent, SimTimeMs};

/// How one run of a group ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// The job finished.
    Finished,
    /// Another job's group preempted it (it was requeued).
    Preempted,
    /// The user killed the job, or the model rejected another of its groups.
    Killed,
    /// A node it ran on went down (it was requeued).
    NodeDown,
    /// The group started again without an event ending this run; the run is cut there.
    Restarted,
    /// Still running at the end of the simulation.
    Running,
}

/// One run of one group: from its `GroupStarted` event to the event that ended it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRun {
    /// Job id.
    pub job: String,
    /// Group name.
    pub group: String,
    /// The job's VC (`?` when the job has no record).
    pub vc: String,
    /// When the group started.
    pub start_ms: SimTimeMs,
    /// When the run ended (the run's end time for [`RunEnd::Running`]).
    pub end_ms: SimTimeMs,
    /// Where its pods ran.
    pub pods: Vec<PodSpot>,
    /// How it ended.
    pub end: RunEnd,
}

/// Derives every group run from the event log, sorted by start time, then job and group.
///
/// A run opens at `GroupStarted` and closes at the first of: `GroupFinished`,
/// `GroupPreempted` or `GroupFailed` of the same group, `JobFinished` / `JobKilled` /
/// `JobRejected` of its job, `NodeDown` of a node it runs on, or the end of the run.
pub fn group_runs(run: &RunResult) -> Vec<GroupRun> {
    let vc_of = vc_lookup(run);
    let mut tracker = GroupRunTracker::all();
    for event in &run.events {
        tracker.event(event, &|job| vc_of.get(job).copied());
    }
    tracker.finish(run.end_ms).0
}

/// The first `limit` of [`group_runs`] (in its order) and how many there are in all.
/// An engine's log is in time order, so the runs that started up to the `limit`-th
/// start are all that can be among the first `limit`: only those are followed, and the
/// log is read only until the last of them has ended.
pub fn earliest_group_runs(run: &RunResult, limit: usize) -> (Vec<GroupRun>, usize) {
    let in_time_order = run.events.windows(2).all(|w| w[0].t() <= w[1].t());
    if !in_time_order {
        let mut runs = group_runs(run);
        let total = runs.len();
        runs.truncate(limit);
        return (runs, total);
    }
    let vc_of = vc_lookup(run);
    let mut tracker = GroupRunTracker::earliest(limit);
    let mut events = run.events.iter();
    for event in events.by_ref() {
        tracker.event(event, &|job| vc_of.get(job).copied());
        if tracker.is_done() {
            break;
        }
    }
    // The rest can open or close no followed run: only counted, and their times seen.
    for event in events {
        tracker.pass(event);
    }
    tracker.finish(run.end_ms)
}

fn vc_lookup(run: &RunResult) -> HashMap<&str, &str> {
    run.jobs
        .iter()
        .map(|j| (j.id.as_str(), j.vc.as_str()))
        .collect()
}

/// A group run not yet ended.
#[derive(Debug)]
struct OpenRun {
    vc: String,
    start_ms: SimTimeMs,
    pods: Vec<PodSpot>,
}

/// Follows group runs through an event log read in order, one event at a time. Follows
/// every run, or only the earliest `limit` by start (then the log must be in time order,
/// as an engine's is, and memory stays bounded by `limit`).
#[derive(Debug)]
pub struct GroupRunTracker {
    /// `None`: follow every run.
    limit: Option<usize>,
    /// `GroupStarted` events seen.
    starts: usize,
    /// Time of the `limit`-th start, once seen: later starts are not followed.
    cutoff: Option<SimTimeMs>,
    /// Latest event time seen.
    last_t: SimTimeMs,
    /// An event after the cutoff has been seen: no later start is followed.
    past_cutoff: bool,
    /// Open runs by job, then group: a job's groups are found together.
    open: BTreeMap<String, BTreeMap<String, OpenRun>>,
    done: Vec<GroupRun>,
}

impl GroupRunTracker {
    /// Follows every run.
    pub fn all() -> GroupRunTracker {
        GroupRunTracker::new(None)
    }

    /// Follows the runs that can be among the first `limit` by start time.
    pub fn earliest(limit: usize) -> GroupRunTracker {
        GroupRunTracker::new(Some(limit))
    }

    fn new(limit: Option<usize>) -> GroupRunTracker {
        GroupRunTracker {
            limit,
            starts: 0,
            cutoff: None,
            last_t: 0,
            past_cutoff: false,
            open: BTreeMap::new(),
            done: Vec::new(),
        }
    }

    /// Every run that will be followed has been seen and has ended: later events change
    /// nothing but the counts ([`GroupRunTracker::pass`] is enough for them).
    pub fn is_done(&self) -> bool {
        self.past_cutoff && self.open.is_empty()
    }

    /// Counts `event` without following it (after [`GroupRunTracker::is_done`]).
    pub fn pass(&mut self, event: &SimEvent) {
        self.last_t = self.last_t.max(event.t());
        if matches!(event, SimEvent::GroupStarted { .. }) {
            self.starts += 1;
        }
    }

    /// Reads the next event; `vc_of` names a job's VC (`None`: the run shows `?`).
    pub fn event<'j>(&mut self, event: &SimEvent, vc_of: &dyn Fn(&str) -> Option<&'j str>) {
        if self.is_done() {
            return self.pass(event);
        }
        let t = event.t();
        self.last_t = self.last_t.max(t);
        let past_cutoff = self.cutoff.is_some_and(|c| t > c);
        self.past_cutoff |= past_cutoff;
        match event {
            SimEvent::GroupStarted {
                job, group, pods, ..
            } => {
                self.starts += 1;
                if self.limit == Some(self.starts) {
                    self.cutoff = Some(t);
                }
                if past_cutoff {
                    // Not followed, but it still ends the run it restarts.
                    self.close(job, group, t, RunEnd::Restarted);
                    return;
                }
                let fresh = OpenRun {
                    vc: vc_of(job).unwrap_or("?").to_string(),
                    start_ms: t,
                    pods: pods.clone(),
                };
                let groups = self.open.entry(job.clone()).or_default();
                if let Some(prev) = groups.insert(group.clone(), fresh) {
                    self.done
                        .push(closed(job, group, prev, t, RunEnd::Restarted));
                }
            }
            SimEvent::GroupPreempted { job, group, .. } => {
                self.close(job, group, t, RunEnd::Preempted)
            }
            SimEvent::GroupFinished { job, group, .. } => {
                self.close(job, group, t, RunEnd::Finished)
            }
            SimEvent::GroupFailed { job, group, .. } => self.close(job, group, t, RunEnd::NodeDown),
            // Job- and node-level ends close whatever group-level events did not.
            SimEvent::JobFinished { job, .. } => self.close_job(job, t, RunEnd::Finished),
            SimEvent::JobKilled { job, .. } | SimEvent::JobRejected { job, .. } => {
                self.close_job(job, t, RunEnd::Killed)
            }
            SimEvent::NodeDown { node, .. } | SimEvent::NodeRemoved { node, .. } => {
                let hit: Vec<(String, String)> = self
                    .open
                    .iter()
                    .flat_map(|(job, groups)| {
                        groups
                            .iter()
                            .filter(|(_, o)| o.pods.iter().any(|p| &p.node == node))
                            .map(move |(group, _)| (job.clone(), group.clone()))
                    })
                    .collect();
                for (job, group) in hit {
                    self.close(&job, &group, t, RunEnd::NodeDown);
                }
            }
            // Submissions, waits, downgrades (the group keeps running) and nodes coming
            // back neither start nor end a run.
            _ => {}
        }
    }

    fn close(&mut self, job: &str, group: &str, t: SimTimeMs, end: RunEnd) {
        let Some(groups) = self.open.get_mut(job) else {
            return;
        };
        if let Some(o) = groups.remove(group) {
            if groups.is_empty() {
                self.open.remove(job);
            }
            self.done.push(closed(job, group, o, t, end));
        }
    }

    fn close_job(&mut self, job: &str, t: SimTimeMs, end: RunEnd) {
        if let Some(groups) = self.open.remove(job) {
            for (group, o) in groups {
                self.done.push(closed(job, &group, o, t, end));
            }
        }
    }

    /// Ends the log: runs still open ran until the end (`end_ms`, or the last event if
    /// later). Returns the runs sorted by start time, then job and group (the first
    /// `limit` when limited), and how many runs started in all.
    pub fn finish(mut self, end_ms: SimTimeMs) -> (Vec<GroupRun>, usize) {
        let horizon = end_ms.max(self.last_t);
        for (job, groups) in std::mem::take(&mut self.open) {
            for (group, o) in groups {
                self.done
                    .push(closed(&job, &group, o, horizon, RunEnd::Running));
            }
        }
        let mut done = self.done;
        done.sort_by(|a, b| (a.start_ms, &a.job, &a.group).cmp(&(b.start_ms, &b.job, &b.group)));
        if let Some(limit) = self.limit {
            done.truncate(limit);
        }
        (done, self.starts)
    }
}

fn closed(job: &str, group: &str, o: OpenRun, end_ms: SimTimeMs, end: RunEnd) -> GroupRun {
    GroupRun {
        job: job.to_string(),
        group: group.to_string(),
        vc: o.vc,
        start_ms: o.start_ms,
        end_ms: end_ms.max(o.start_ms),
        pods: o.pods,
        end,
    }
}
