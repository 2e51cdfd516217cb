//! Where the engine's jobs come from: a [`JobSource`] hands them over in submit order, one
//! at a time, so that a run holds only the jobs submitted and not yet ended. A loaded
//! [`Scenario`](super::Scenario) lends its jobs ([`ScenarioJobs`]); a trace too large to
//! hold is read as the run goes ([`StreamedJobs`]).

use std::collections::BTreeSet;
use std::ops::Deref;
use std::rc::Rc;

use super::record::SimTimeMs;
use super::scenario::SimJob;

/// One job as the engine holds it: borrowed from a scenario, or owned when read from a
/// stream. Cloning is cheap either way (a reference or a reference count).
#[derive(Debug, Clone)]
pub enum JobSpec<'a> {
    /// A job of a scenario that outlives the run.
    Borrowed(&'a SimJob),
    /// A job read for this run only.
    Owned(Rc<SimJob>),
}

impl Deref for JobSpec<'_> {
    type Target = SimJob;

    fn deref(&self) -> &SimJob {
        match self {
            JobSpec::Borrowed(job) => job,
            JobSpec::Owned(job) => job,
        }
    }
}

/// Jobs for one run, in submit order (equal times in a fixed order).
pub trait JobSource<'a> {
    /// Every VC a job of this source may name, besides the cluster's own: the run's VC
    /// list is fixed before the first job arrives.
    fn vc_names(&self) -> BTreeSet<String>;

    /// Submit time of the next job, if any, without taking it.
    fn peek_submit(&mut self) -> Option<SimTimeMs>;

    /// Takes the next job.
    fn next_job(&mut self) -> Option<JobSpec<'a>>;
}

/// A scenario's jobs in submit order; equal times keep the scenario's order.
pub struct ScenarioJobs<'a> {
    jobs: &'a [SimJob],
    order: Vec<usize>,
    next: usize,
}

impl<'a> ScenarioJobs<'a> {
    /// The jobs of a scenario, `jobs`.
    pub fn new(jobs: &'a [SimJob]) -> ScenarioJobs<'a> {
        let mut order: Vec<usize> = (0..jobs.len()).collect();
        // Stable: equal submit times keep the scenario's order.
        order.sort_by_key(|&i| jobs[i].submit_ms);
        ScenarioJobs {
            jobs,
            order,
            next: 0,
        }
    }
}

impl<'a> JobSource<'a> for ScenarioJobs<'a> {
    fn vc_names(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for job in self.jobs {
            // Looked up first: cloning every job's VC name to find out would allocate
            // once per job.
            if !names.contains(&job.vc) {
                names.insert(job.vc.clone());
            }
        }
        names
    }

    fn peek_submit(&mut self) -> Option<SimTimeMs> {
        self.order.get(self.next).map(|&i| self.jobs[i].submit_ms)
    }

    fn next_job(&mut self) -> Option<JobSpec<'a>> {
        let &i = self.order.get(self.next)?;
        self.next += 1;
        Some(JobSpec::Borrowed(&self.jobs[i]))
    }
}

/// Jobs read lazily from an iterator already in submit order (e.g. a trace read row by
/// row). The first error ends the source; the run's caller must check
/// [`StreamedJobs::error`] afterwards, since the run saw a trace cut short.
pub struct StreamedJobs<I: Iterator<Item = Result<SimJob, E>>, E> {
    jobs: std::iter::Peekable<I>,
    vc_names: BTreeSet<String>,
    latest_submit: SimTimeMs,
    error: Option<E>,
}

impl<I, E> StreamedJobs<I, E>
where
    I: Iterator<Item = Result<SimJob, E>>,
{
    /// Jobs from `jobs`, whose VCs are among `vc_names` (besides the cluster's).
    pub fn new(jobs: I, vc_names: BTreeSet<String>) -> StreamedJobs<I, E> {
        StreamedJobs {
            jobs: jobs.peekable(),
            vc_names,
            latest_submit: 0,
            error: None,
        }
    }

    /// The error that ended the stream early, if one did.
    pub fn error(&self) -> Option<&E> {
        self.error.as_ref()
    }

    /// The error that ended the stream early, if one did.
    pub fn into_error(self) -> Option<E> {
        self.error
    }

    /// Moves the next item out of the iterator if it is an error (the first one only):
    /// the source ends there.
    fn take_error(&mut self) {
        if self.error.is_none()
            && matches!(self.jobs.peek(), Some(Err(_)))
            && let Some(Err(e)) = self.jobs.next()
        {
            self.error = Some(e);
        }
    }
}

impl<'a, I, E> JobSource<'a> for StreamedJobs<I, E>
where
    I: Iterator<Item = Result<SimJob, E>>,
{
    fn vc_names(&self) -> BTreeSet<String> {
        self.vc_names.clone()
    }

    fn peek_submit(&mut self) -> Option<SimTimeMs> {
        self.take_error();
        if self.error.is_some() {
            return None;
        }
        match self.jobs.peek() {
            Some(Ok(job)) => Some(job.submit_ms.max(self.latest_submit)),
            _ => None,
        }
    }

    fn next_job(&mut self) -> Option<JobSpec<'a>> {
        self.take_error();
        if self.error.is_some() {
            return None;
        }
        match self.jobs.next() {
            Some(Ok(mut job)) => {
                // The iterator promised submit order; never let the clock go back.
                job.submit_ms = job.submit_ms.max(self.latest_submit);
                self.latest_submit = job.submit_ms;
                Some(JobSpec::Owned(Rc::new(job)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, vc: &str, submit_ms: SimTimeMs) -> SimJob {
        SimJob {
            id: id.to_string(),
            vc: vc.to_string(),
            priority: 0,
            priority_label: "0".to_string(),
            user: None,
            submit_ms,
            duration_ms: 1,
            kill_at_ms: None,
            groups: Vec::new(),
        }
    }

    fn drain<'a>(source: &mut dyn JobSource<'a>) -> Vec<(String, SimTimeMs)> {
        let mut out = Vec::new();
        while let Some(t) = source.peek_submit() {
            let job = source.next_job().expect("peeked");
            assert_eq!(job.submit_ms, t);
            out.push((job.id.clone(), t));
        }
        assert!(source.next_job().is_none());
        out
    }

    #[test]
    fn scenario_jobs_come_in_submit_order_ties_in_file_order() {
        let jobs = vec![job("c", "x", 20), job("a", "y", 10), job("b", "x", 10)];
        let mut source = ScenarioJobs::new(&jobs);
        assert_eq!(
            source.vc_names().into_iter().collect::<Vec<_>>(),
            vec!["x", "y"]
        );
        let ids: Vec<String> = drain(&mut source).into_iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec!["a", "b", "c"]);
    }

    #[test]
    fn a_stream_stops_at_its_first_error_and_keeps_it() {
        let items: Vec<Result<SimJob, String>> = vec![
            Ok(job("a", "x", 5)),
            Ok(job("b", "x", 3)),
            Err("line 3: broken".to_string()),
            Ok(job("c", "x", 9)),
        ];
        let mut source = StreamedJobs::new(items.into_iter(), BTreeSet::new());
        // A job out of order is moved up to the time before it: time never goes back.
        assert_eq!(
            drain(&mut source),
            vec![("a".to_string(), 5), ("b".to_string(), 5)]
        );
        assert_eq!(source.error().map(String::as_str), Some("line 3: broken"));
    }
}
