//! The discrete-event engine: runs one [`Scenario`] through one [`Scheduler`] model and
//! records a [`RunResult`]. Time is integer milliseconds and jumps from event to event.
//!
//! Life of a job: submitted → each of its groups (one for a gang job, one per task for an
//! incremental one) waits, starts on a placement, runs `duration` and finishes; the job
//! finishes when all its groups have. A running group can be preempted (the model's
//! `Preempt`) or killed by a node failure: it is requeued and restarts from zero, or from
//! its last checkpoint when the scenario sets `checkpointIntervalSec`. The user may kill
//! a job; the model may reject one.
//!
//! After every batch of same-time events, waiting groups are offered to the model in queue
//! order: priority (descending, unless the model orders by submit time only), then submit
//! time, then job order in the scenario, then group order. A model with head-of-line
//! blocking stops the pass at the first group that must wait. When a model answers
//! `Preempt`, the victims are released at once and requeued, and the preemptor is offered
//! again in the same pass; when a pass freed anything, another pass follows at the same
//! time so that groups passed over see the freed cells. A group that waited is offered
//! again only after something was freed (placing groups only takes cells, so until then
//! its answer would not change).
//!
//! Nodes: a node going down kills and requeues the groups on it, and comes back `up`; a
//! node `removed` does the same and its GPUs leave the capacity until it is `added`
//! again; a node whose first event is `added` is outside the cluster until then. The
//! allocator sees an absent node as a bad one, as HiveD does for a configured node that
//! Kubernetes does not have.
//!
//! Not modelled: pod start-up time.
//!
//! Deterministic: ordered maps and the `(time, seq)` queue only; the same scenario and seed
//! give the same result.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound::{Excluded, Unbounded};
use std::rc::Rc;
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::queue::EventQueue;
use super::record::*;
use super::scenario::{NodeEvent, NodeEventKind, Scenario};
use crate::cell::topology::Topology;
use crate::cell::{GroupPlacement, GroupRequest, PodPlacement};
use crate::sched::{self, OfferContext, Scheduler, Verdict};

/// Run `scenario` through the model called `model` (with the scenario's model options),
/// with an RNG seeded from the scenario's seed.
pub fn run_model(scenario: &Scenario, model: &str) -> Result<RunResult, String> {
    let mut model = sched::model_with_options(model, &scenario.config, &scenario.model_options)?;
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    Ok(simulate(scenario, model.as_mut(), &mut rng))
}

/// [`run_model`] keeping only what a summary needs: the job records (without their
/// nodes), no event log, and instead of the timeline its integral ([`GpuTimeTotals`]).
/// The result's `events` and `timeline` are empty and each job's `nodes` too; everything
/// else is what [`run_model`] gives. For sweeps, where the event log (hundreds of bytes
/// per job) and the timeline would be built only to be summed and dropped.
pub fn run_model_for_summary(
    scenario: &Scenario,
    model: &str,
) -> Result<(RunResult, GpuTimeTotals), String> {
    let mut model = sched::model_with_options(model, &scenario.config, &scenario.model_options)?;
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    let mut engine = Engine::new(scenario, model.as_mut(), &mut rng, Recording::SummaryOnly);
    engine.run(&|_, _| {});
    let (result, totals) = engine.finish();
    Ok((
        result,
        totals.expect("a summary-only run integrates its timeline"),
    ))
}

/// Run `scenario` through `model`, a fresh model over the scenario's cluster. `rng` is
/// the run's only source of randomness.
pub fn simulate(scenario: &Scenario, model: &mut dyn Scheduler, rng: &mut ChaCha8Rng) -> RunResult {
    simulate_with_progress(scenario, model, rng, &|_, _| {})
}

/// How often [`simulate_with_progress`] reports: after the batch of same-time events in
/// which at least this many more events were handled since its last report.
pub const PROGRESS_EVERY_EVENTS: u64 = 1024;

/// [`simulate`], calling `progress(now_ms, events_handled)` about every
/// [`PROGRESS_EVERY_EVENTS`] events and once more when the run ends. The hook only
/// observes: the result is the same as [`simulate`]'s, whatever it does.
pub fn simulate_with_progress(
    scenario: &Scenario,
    model: &mut dyn Scheduler,
    rng: &mut ChaCha8Rng,
    progress: &dyn Fn(SimTimeMs, u64),
) -> RunResult {
    let mut engine = Engine::new(scenario, model, rng, Recording::Full);
    engine.run(progress);
    progress(engine.now, engine.handled);
    engine.finish().0
}

/// What an engine run keeps besides the job records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Recording {
    /// The event log, every timeline point and each job's nodes: what the reports show.
    Full,
    /// No event log and no job nodes; the timeline is summed into [`GpuTimeTotals`] as
    /// it goes and only its last point is kept.
    SummaryOnly,
}

/// What the queue holds.
#[derive(Debug, Clone, Copy)]
enum Event {
    Submit {
        job: usize,
    },
    /// A group's run ends, if it is still run number `epoch` of that group.
    Finish {
        job: usize,
        group: usize,
        epoch: u32,
    },
    Kill {
        job: usize,
    },
    Node {
        index: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    Pending,
    Active,
    Finished,
    Killed,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupState {
    Pending,
    Waiting,
    Running { since: SimTimeMs, epoch: u32 },
    Done,
}

#[derive(Debug, Clone)]
struct GroupRun<'a> {
    /// The scenario's request, borrowed: offering the group copies nothing.
    request: &'a GroupRequest,
    /// Groups of one class ask for the same thing (see [`RequestClass`]), so the model
    /// answers them alike while the cluster only fills up.
    class: usize,
    gpus: u32,
    state: GroupState,
    /// Work kept from earlier runs (checkpoints).
    work_done_ms: SimTimeMs,
    /// Runs started so far; a finish event is valid only for the current run.
    epoch: u32,
    last_pods: Vec<PodSpot>,
    /// The reason last logged, so a group's unchanged wait is logged once.
    last_wait_reason: Option<Rc<str>>,
}

#[derive(Debug, Clone)]
struct JobRun<'a> {
    state: JobState,
    /// Index of the job's VC in [`Engine::vc_names`].
    vc: usize,
    groups: Vec<GroupRun<'a>>,
    start_ms: Option<SimTimeMs>,
    end_ms: Option<SimTimeMs>,
    preemptions: u32,
    gpu_ms: u64,
}

/// Queue position of a waiting group: (priority key, submit time, job, group).
type QueueKey = (i64, SimTimeMs, usize, usize);

/// Why a running group is taken off its cells before its time.
enum Interruption {
    Preempted { by: usize },
    NodeFailed { node: String },
}

struct Engine<'a> {
    scenario: &'a Scenario,
    model: &'a mut dyn Scheduler,
    rng: &'a mut ChaCha8Rng,
    queue: EventQueue<Event>,
    now: SimTimeMs,
    jobs: Vec<JobRun<'a>>,
    group_index: HashMap<&'a str, (usize, usize)>,
    waiting: BTreeSet<QueueKey>,
    /// Waiting groups not offered since they joined the queue.
    fresh: BTreeSet<QueueKey>,
    /// Something was freed since the last pass began.
    dirty: bool,
    /// Times something was freed (a group left, a node changed, a group was
    /// downgraded): a class that waited is asked again only after this moved.
    frees: u64,
    /// Every VC of the run (guaranteed ones and jobs' ones), sorted: timeline points and
    /// [`JobRun::vc`] index into it.
    vc_names: Arc<[String]>,
    /// Busy GPUs per VC, in [`Engine::vc_names`] order.
    busy: Vec<u32>,
    /// GPUs of the nodes now in the cluster.
    capacity_gpus: u32,
    /// All nodes with their GPUs, in topology order.
    nodes: Vec<(String, u32)>,
    /// GPUs per node, by name.
    node_gpus: HashMap<String, u32>,
    /// Nodes not in the cluster now (not yet added, or removed).
    absent: BTreeSet<String>,
    /// Whether events are logged and jobs' nodes kept ([`Recording::Full`]).
    keep_log: bool,
    events: Vec<SimEvent>,
    /// Every point ([`Recording::Full`]), or only the last one, the earlier ones summed
    /// into `gpu_time` ([`Recording::SummaryOnly`]).
    timeline: Vec<TimelinePoint>,
    /// The timeline's integral so far, for [`Recording::SummaryOnly`].
    gpu_time: Option<GpuTimeTotals>,
    vcs: BTreeMap<String, VcCapacity>,
    /// Events handled so far (stale finish events excluded), for progress reports.
    handled: u64,
}

impl<'a> Engine<'a> {
    fn new(
        scenario: &'a Scenario,
        model: &'a mut dyn Scheduler,
        rng: &'a mut ChaCha8Rng,
        recording: Recording,
    ) -> Self {
        let mut vcs: BTreeMap<String, VcCapacity> = sched::guaranteed_gpus(&scenario.config)
            .into_iter()
            .map(|(vc, g)| (vc, VcCapacity { guaranteed_gpus: g }))
            .collect();
        for job in &scenario.jobs {
            // Looked up first: most jobs' VC is known, and cloning its name to find out
            // would allocate once per job.
            if !vcs.contains_key(&job.vc) {
                vcs.insert(job.vc.clone(), VcCapacity { guaranteed_gpus: 0 });
            }
        }
        let vc_names: Arc<[String]> = vcs.keys().cloned().collect();
        let vc_index = |vc: &str| {
            vc_names
                .binary_search_by(|n| n.as_str().cmp(vc))
                .expect("every job's VC is in the list")
        };
        let mut group_index = HashMap::new();
        let mut classes: HashMap<RequestClass, usize> = HashMap::new();
        let jobs = scenario
            .jobs
            .iter()
            .enumerate()
            .map(|(j, job)| JobRun {
                state: JobState::Pending,
                vc: vc_index(&job.vc),
                groups: job
                    .groups
                    .iter()
                    .enumerate()
                    .map(|(g, request)| {
                        group_index.insert(request.name.as_str(), (j, g));
                        let next_class = classes.len();
                        let class = *classes
                            .entry(RequestClass::of(request))
                            .or_insert(next_class);
                        GroupRun {
                            request,
                            class,
                            gpus: u32::try_from(request.leaf_count()).unwrap_or(u32::MAX),
                            state: GroupState::Pending,
                            work_done_ms: 0,
                            epoch: 0,
                            last_pods: Vec::new(),
                            last_wait_reason: None,
                        }
                    })
                    .collect(),
                start_ms: None,
                end_ms: None,
                preemptions: 0,
                gpu_ms: 0,
            })
            .collect();
        let busy = vec![0; vc_names.len()];
        let mut queue = EventQueue::new();
        for (j, job) in scenario.jobs.iter().enumerate() {
            queue.push(job.submit_ms, Event::Submit { job: j });
        }
        for (j, job) in scenario.jobs.iter().enumerate() {
            if let Some(kill) = job.kill_at_ms {
                queue.push(kill, Event::Kill { job: j });
            }
        }
        for (index, ev) in scenario.node_events.iter().enumerate() {
            queue.push(ev.at_ms, Event::Node { index });
        }
        let topology = Topology::build(&scenario.config);
        let nodes: Vec<(String, u32)> = topology
            .nodes
            .iter()
            .map(|n| {
                let gpus: u32 = n.cells.iter().map(|&c| topology.cell(c).leaf_count()).sum();
                (n.name.clone(), gpus)
            })
            .collect();
        let node_gpus: HashMap<String, u32> = nodes.iter().cloned().collect();
        let mut capacity_gpus: u32 = node_gpus.values().sum();
        // A node whose first event is `added` is not there until then. HiveD treats a
        // configured node that Kubernetes lacks as bad, so the model does too.
        let absent = absent_at_start(&scenario.node_events);
        for node in &absent {
            // The scenario checked the node exists, so the model knows it.
            let _ = model.set_node_health(node, false);
            capacity_gpus -= node_gpus.get(node).copied().unwrap_or(0);
        }
        Engine {
            scenario,
            model,
            rng,
            queue,
            now: 0,
            jobs,
            group_index,
            waiting: BTreeSet::new(),
            fresh: BTreeSet::new(),
            dirty: false,
            frees: 0,
            timeline: vec![TimelinePoint {
                t: 0,
                busy_by_vc: VcGpus::new(Arc::clone(&vc_names), busy.clone()),
                capacity_gpus,
            }],
            gpu_time: match recording {
                Recording::Full => None,
                Recording::SummaryOnly => Some(GpuTimeTotals::default()),
            },
            keep_log: recording == Recording::Full,
            vc_names,
            busy,
            capacity_gpus,
            nodes,
            node_gpus,
            absent,
            events: Vec::new(),
            vcs,
            handled: 0,
        }
    }

    /// A finish event of a run that was since preempted or killed.
    fn is_stale(&self, event: &Event) -> bool {
        match *event {
            Event::Finish { job, group, epoch } => !matches!(
                self.jobs[job].groups[group].state,
                GroupState::Running { epoch: e, .. } if e == epoch
            ),
            _ => false,
        }
    }

    fn run(&mut self, progress: &dyn Fn(SimTimeMs, u64)) {
        let mut next_report = PROGRESS_EVERY_EVENTS;
        loop {
            // Stale finish events must not move the clock (nor the end of the run).
            while let Some((_, ev)) = self.queue.peek() {
                if self.is_stale(ev) {
                    self.queue.pop();
                } else {
                    break;
                }
            }
            let Some(t) = self.queue.peek_time() else {
                break;
            };
            if let Some(h) = self.scenario.horizon_ms
                && t > h
            {
                self.now = h;
                break;
            }
            self.now = t;
            while let Some(ev) = self.queue.pop_at(t) {
                if !self.is_stale(&ev) {
                    self.handle(ev);
                    self.handled += 1;
                }
            }
            self.schedule_pass();
            self.record_timeline();
            // One comparison per time step keeps the hook off the hot path.
            if self.handled >= next_report {
                progress(self.now, self.handled);
                next_report = self.handled + PROGRESS_EVERY_EVENTS;
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Submit { job } => self.on_job_submitted(job),
            Event::Finish { job, group, .. } => self.on_group_finished(job, group),
            Event::Kill { job } => self.on_job_killed(job),
            Event::Node { index } => self.on_node_event(index),
        }
    }

    fn job_id(&self, job: usize) -> String {
        self.scenario.jobs[job].id.clone()
    }

    fn key(&self, job: usize, group: usize) -> QueueKey {
        let spec = &self.scenario.jobs[job];
        let priority = if self.model.orders_by_priority() {
            -i64::from(spec.priority)
        } else {
            0
        };
        (priority, spec.submit_ms, job, group)
    }

    fn on_job_submitted(&mut self, job: usize) {
        self.jobs[job].state = JobState::Active;
        if self.keep_log {
            self.events.push(SimEvent::JobSubmitted {
                t: self.now,
                job: self.job_id(job),
            });
        }
        for g in 0..self.jobs[job].groups.len() {
            self.jobs[job].groups[g].state = GroupState::Waiting;
            self.enqueue(job, g);
        }
    }

    /// Takes a running group off its cells: the model releases them and the GPU time it
    /// held is accounted. Returns how long it ran.
    fn stop_run(&mut self, job: usize, group: usize) -> SimTimeMs {
        let GroupState::Running { since, .. } = self.jobs[job].groups[group].state else {
            return 0;
        };
        let ran = self.now - since;
        self.freed();
        let run = &mut self.jobs[job];
        let g = &mut run.groups[group];
        run.gpu_ms += ran * u64::from(g.gpus);
        g.state = GroupState::Done;
        self.busy[run.vc] -= g.gpus;
        self.model.release(&g.request.name);
        if !self.keep_log {
            // Only the log and the job's node list read the pods of a run that ended;
            // without them, a million-job run need not keep a million placements.
            g.last_pods = Vec::new();
        }
        ran
    }

    fn on_group_finished(&mut self, job: usize, group: usize) {
        self.stop_run(job, group);
        if self.keep_log {
            let g = &self.jobs[job].groups[group];
            self.events.push(SimEvent::GroupFinished {
                t: self.now,
                job: self.job_id(job),
                group: g.request.name.clone(),
                pods: g.last_pods.clone(),
            });
        }
        if self.jobs[job]
            .groups
            .iter()
            .all(|g| g.state == GroupState::Done)
        {
            self.jobs[job].state = JobState::Finished;
            self.jobs[job].end_ms = Some(self.now);
            if self.keep_log {
                self.events.push(SimEvent::JobFinished {
                    t: self.now,
                    job: self.job_id(job),
                });
            }
        }
    }

    /// Ends a job early (killed or rejected): running groups leave, waiting ones are dropped.
    fn end_job(&mut self, job: usize, state: JobState) {
        for g in 0..self.jobs[job].groups.len() {
            match self.jobs[job].groups[g].state {
                GroupState::Running { .. } => {
                    self.stop_run(job, g);
                }
                GroupState::Waiting => self.dequeue(job, g),
                _ => {}
            }
            self.jobs[job].groups[g].state = GroupState::Done;
        }
        self.jobs[job].state = state;
        self.jobs[job].end_ms = Some(self.now);
    }

    fn on_job_killed(&mut self, job: usize) {
        if self.jobs[job].state != JobState::Active {
            return; // already over
        }
        self.end_job(job, JobState::Killed);
        if self.keep_log {
            self.events.push(SimEvent::JobKilled {
                t: self.now,
                job: self.job_id(job),
            });
        }
    }

    fn on_node_event(&mut self, index: usize) {
        let ev = &self.scenario.node_events[index];
        let (node, kind) = (ev.node.clone(), ev.kind);
        // Loaded scenarios are checked for event order; a scenario built in code may not
        // be, so events that do not apply (a node going up while removed, added twice)
        // change nothing and are not logged.
        let is_absent = self.absent.contains(&node);
        let applies = match kind {
            NodeEventKind::Added => is_absent,
            _ => !is_absent,
        };
        if !applies {
            return;
        }
        let healthy = matches!(kind, NodeEventKind::Up | NodeEventKind::Added);
        // The scenario checked the node exists, so the model knows it.
        let _ = self.model.set_node_health(&node, healthy);
        self.freed();
        let gpus = self.node_gpus.get(&node).copied().unwrap_or(0);
        let t = self.now;
        // Node events are few: the log event is built either way, and kept only when
        // the run logs.
        let logged = match kind {
            NodeEventKind::Up => SimEvent::NodeUp {
                t,
                node: node.clone(),
            },
            NodeEventKind::Added => {
                self.absent.remove(&node);
                self.capacity_gpus += gpus;
                SimEvent::NodeAdded {
                    t,
                    node: node.clone(),
                }
            }
            NodeEventKind::Down => SimEvent::NodeDown {
                t,
                node: node.clone(),
            },
            NodeEventKind::Removed => {
                self.absent.insert(node.clone());
                self.capacity_gpus -= gpus;
                SimEvent::NodeRemoved {
                    t,
                    node: node.clone(),
                }
            }
        };
        if self.keep_log {
            self.events.push(logged);
        }
        if matches!(kind, NodeEventKind::Down | NodeEventKind::Removed) {
            self.interrupt_node(&node);
        }
    }

    /// Kills and requeues every group running on `node`.
    fn interrupt_node(&mut self, node: &str) {
        for j in 0..self.jobs.len() {
            for g in 0..self.jobs[j].groups.len() {
                let group = &self.jobs[j].groups[g];
                if matches!(group.state, GroupState::Running { .. })
                    && group.last_pods.iter().any(|p| p.node == node)
                {
                    let node = node.to_string();
                    self.interrupt(j, g, Interruption::NodeFailed { node });
                }
            }
        }
    }

    /// A running group loses its cells before its time and waits again, keeping the work
    /// up to its last checkpoint.
    fn interrupt(&mut self, job: usize, group: usize, why: Interruption) {
        let ran = self.stop_run(job, group);
        let checkpoint = self.scenario.checkpoint_interval_ms;
        let g = &mut self.jobs[job].groups[group];
        let work = g.work_done_ms + ran;
        g.work_done_ms = match checkpoint {
            Some(c) => work / c * c,
            None => 0,
        };
        g.state = GroupState::Waiting;
        g.last_wait_reason = None;
        self.enqueue(job, group);
        if let Interruption::Preempted { .. } = why {
            self.jobs[job].preemptions += 1;
        }
        if !self.keep_log {
            return;
        }
        let g = &self.jobs[job].groups[group];
        let (group_name, pods) = (g.request.name.clone(), g.last_pods.clone());
        let event = match why {
            Interruption::Preempted { by } => SimEvent::GroupPreempted {
                t: self.now,
                job: self.job_id(job),
                group: group_name,
                by: self.job_id(by),
                pods,
            },
            Interruption::NodeFailed { node } => SimEvent::GroupFailed {
                t: self.now,
                job: self.job_id(job),
                group: group_name,
                node,
                pods,
            },
        };
        self.events.push(event);
    }

    /// Offers waiting groups to the model in queue order (see the module docs).
    ///
    /// A group that waited is offered again only once something was freed (a group left,
    /// a node changed, a group was downgraded): until then the model would answer the
    /// same, since placing groups only takes cells. New and requeued groups are always
    /// offered. Within a pass, once a group of some [`RequestClass`] waited, the groups
    /// of the same class behind it are not asked until something is freed: they ask for
    /// the same thing from a cluster that only filled up since, so they would wait too.
    /// This keeps a pass proportional to the kinds of request waiting, not their number.
    fn schedule_pass(&mut self) {
        let hol = self.model.head_of_line_blocking();
        // Each extra pass follows a release during the previous one (a preemption, mostly),
        // and preemption only goes down in priority, so passes are few; the cap guards
        // against a model that preempts in circles.
        let max_passes = 2 + self.group_index.len();
        for _ in 0..max_passes {
            let offer_all = std::mem::take(&mut self.dirty);
            let mut blocked = BlockedClasses::default();
            if offer_all || hol {
                let mut cursor: Option<QueueKey> = None;
                loop {
                    let next = match cursor {
                        None => self.waiting.iter().next(),
                        Some(c) => self.waiting.range((Excluded(c), Unbounded)).next(),
                    };
                    let Some(&key) = next else { break };
                    cursor = Some(key);
                    if !offer_all && !self.fresh.contains(&key) {
                        break; // a blocked head that would still wait
                    }
                    self.fresh.remove(&key);
                    if matches!(
                        self.offer_unless_blocked(key, &mut blocked),
                        Offered::Waiting
                    ) && hol
                    {
                        break;
                    }
                }
            } else {
                let fresh: Vec<QueueKey> = std::mem::take(&mut self.fresh).into_iter().collect();
                for key in fresh {
                    if self.waiting.contains(&key) {
                        self.offer_unless_blocked(key, &mut blocked);
                    }
                }
            }
            if !self.dirty {
                return;
            }
        }
    }

    /// Offers the group at `key`, unless a group of its class already waited in this pass
    /// with nothing freed since: then it waits for the same reason without asking.
    fn offer_unless_blocked(&mut self, key: QueueKey, blocked: &mut BlockedClasses) -> Offered {
        let (job, group) = (key.2, key.3);
        if blocked.frees != self.frees {
            blocked.reasons.clear();
            blocked.frees = self.frees;
        }
        let class = self.jobs[job].groups[group].class;
        if let Some(reason) = blocked.reasons.get(&class) {
            // Logged once: a group passed over keeps the reason it first got.
            if self.jobs[job].groups[group].last_wait_reason.is_none() {
                let reason = Rc::clone(reason);
                self.wait(job, group, &reason);
            }
            return Offered::Waiting;
        }
        let offered = self.offer(job, group);
        if let Offered::Waiting = offered
            && blocked.frees == self.frees
            && let Some(reason) = &self.jobs[job].groups[group].last_wait_reason
        {
            blocked.reasons.insert(class, Rc::clone(reason));
        }
        offered
    }

    /// Notes that cells, quota or nodes came free: waiting groups may now fit.
    fn freed(&mut self) {
        self.dirty = true;
        self.frees += 1;
    }

    /// Puts a group in the queue as a new waiter.
    fn enqueue(&mut self, job: usize, group: usize) {
        let key = self.key(job, group);
        self.waiting.insert(key);
        self.fresh.insert(key);
    }

    /// Takes a group out of the queue.
    fn dequeue(&mut self, job: usize, group: usize) {
        let key = self.key(job, group);
        self.waiting.remove(&key);
        self.fresh.remove(&key);
    }

    fn ask(&mut self, request: &GroupRequest, job: usize) -> Verdict {
        let mut ctx = OfferContext {
            now_ms: self.now,
            rng: &mut *self.rng,
        };
        let verdict = self.model.offer(request, &mut ctx);
        for name in self.model.take_downgraded() {
            // A downgrade gives VC quota back, which may let other groups in.
            self.freed();
            if !self.keep_log {
                continue;
            }
            if let Some(&(vj, vg)) = self.group_index.get(name.as_str()) {
                self.events.push(SimEvent::GroupDowngraded {
                    t: self.now,
                    job: self.job_id(vj),
                    group: self.jobs[vj].groups[vg].request.name.clone(),
                    by: self.job_id(job),
                });
            }
        }
        verdict
    }

    fn offer(&mut self, job: usize, group: usize) -> Offered {
        let request = self.jobs[job].groups[group].request;
        match self.ask(request, job) {
            Verdict::Start(placement) => {
                self.start(job, group, &placement);
                Offered::Started
            }
            Verdict::Preempt(victims) => {
                for victim in &victims {
                    match self.group_index.get(victim.group.as_str()) {
                        Some(&(vj, vg))
                            if matches!(
                                self.jobs[vj].groups[vg].state,
                                GroupState::Running { .. }
                            ) =>
                        {
                            self.interrupt(vj, vg, Interruption::Preempted { by: job });
                        }
                        // Not one of ours (or not running): still make the model drop it.
                        _ => self.model.release(&victim.group),
                    }
                }
                match self.ask(request, job) {
                    Verdict::Start(placement) => {
                        self.start(job, group, &placement);
                        Offered::Started
                    }
                    Verdict::Reject(reason) => {
                        self.reject(job, reason);
                        Offered::Rejected
                    }
                    other => {
                        // The victims are gone, so this should not happen; give the
                        // reservation back rather than hold cells nobody uses.
                        self.model.release(&request.name);
                        let reason = match other {
                            Verdict::Wait(reason) => reason,
                            _ => "waiting: the model asked for more preemption after its victims left".to_string(),
                        };
                        self.wait(job, group, &reason);
                        Offered::Waiting
                    }
                }
            }
            Verdict::Wait(reason) => {
                self.wait(job, group, &reason);
                Offered::Waiting
            }
            Verdict::Reject(reason) => {
                self.reject(job, reason);
                Offered::Rejected
            }
        }
    }

    fn start(&mut self, job: usize, group: usize, placement: &GroupPlacement) {
        let duration = self.scenario.jobs[job].duration_ms;
        self.dequeue(job, group);
        let now = self.now;
        let run = &mut self.jobs[job];
        run.start_ms.get_or_insert(now);
        let g = &mut run.groups[group];
        g.epoch += 1;
        g.state = GroupState::Running {
            since: now,
            epoch: g.epoch,
        };
        g.last_pods = placement.pods.iter().map(pod_spot).collect();
        g.last_wait_reason = None;
        let remaining = duration.saturating_sub(g.work_done_ms).max(1);
        let (epoch, gpus) = (g.epoch, g.gpus);
        self.busy[run.vc] += gpus;
        self.queue
            .push(now + remaining, Event::Finish { job, group, epoch });
        if self.keep_log {
            let g = &self.jobs[job].groups[group];
            self.events.push(SimEvent::GroupStarted {
                t: now,
                job: self.job_id(job),
                group: g.request.name.clone(),
                pods: g.last_pods.clone(),
            });
        }
    }

    /// Logs that a group waits: when it starts waiting, and again only when the kind of
    /// reason changes (the text before its first `:`, e.g. "waiting for quota"), not
    /// when only the live counts in it do — those would log a line per group per release.
    fn wait(&mut self, job: usize, group: usize, reason: &str) {
        let g = &mut self.jobs[job].groups[group];
        if let Some(last) = g.last_wait_reason.as_deref()
            && reason_kind(last) == reason_kind(reason)
        {
            return;
        }
        g.last_wait_reason = Some(Rc::from(reason));
        if !self.keep_log {
            return;
        }
        let name = g.request.name.clone();
        self.events.push(SimEvent::GroupWaiting {
            t: self.now,
            job: self.job_id(job),
            group: name,
            reason: reason.to_string(),
        });
    }

    fn reject(&mut self, job: usize, reason: String) {
        self.end_job(job, JobState::Rejected);
        if self.keep_log {
            self.events.push(SimEvent::JobRejected {
                t: self.now,
                job: self.job_id(job),
                reason,
            });
        }
    }

    fn record_timeline(&mut self) {
        let last = self.timeline.last().expect("starts with a point at 0");
        if last.busy_by_vc.counts() == self.busy.as_slice()
            && last.capacity_gpus == self.capacity_gpus
        {
            return;
        }
        if last.t == self.now {
            self.timeline.pop();
        } else if let Some(totals) = &mut self.gpu_time {
            // Summary only: the point is summed up to now and dropped, as summarising
            // the whole timeline would sum it.
            let held_ms = self.now - last.t;
            totals.add(last, held_ms, &self.vcs);
            self.timeline.pop();
        }
        self.timeline.push(TimelinePoint {
            t: self.now,
            busy_by_vc: VcGpus::new(Arc::clone(&self.vc_names), self.busy.clone()),
            capacity_gpus: self.capacity_gpus,
        });
    }

    /// The run's result and, for [`Recording::SummaryOnly`], its timeline's integral.
    fn finish(mut self) -> (RunResult, Option<GpuTimeTotals>) {
        let end_ms = self.now;
        if let Some(totals) = &mut self.gpu_time
            && let Some(last) = self.timeline.pop()
        {
            let held_ms = end_ms.saturating_sub(last.t);
            totals.add(&last, held_ms, &self.vcs);
        }
        // Groups still running at the end held their GPUs until then.
        for run in &mut self.jobs {
            for g in &run.groups {
                if let GroupState::Running { since, .. } = g.state {
                    run.gpu_ms += (end_ms - since) * u64::from(g.gpus);
                }
            }
        }
        let total_gpus: u64 = self
            .scenario
            .config
            .physical_cells
            .iter()
            .map(|c| c.leaf_count())
            .sum();
        let mut order: Vec<usize> = (0..self.jobs.len()).collect();
        order.sort_by_key(|&j| (self.scenario.jobs[j].submit_ms, j));
        let jobs = order
            .into_iter()
            .map(|j| {
                let spec = &self.scenario.jobs[j];
                let run = &self.jobs[j];
                let nodes: BTreeSet<&String> = if self.keep_log {
                    run.groups
                        .iter()
                        .flat_map(|g| g.last_pods.iter().map(|p| &p.node))
                        .collect()
                } else {
                    BTreeSet::new()
                };
                JobRecord {
                    id: spec.id.clone(),
                    vc: spec.vc.clone(),
                    priority: spec.priority,
                    gpus: spec.gpus(),
                    submit_ms: spec.submit_ms,
                    start_ms: run.start_ms,
                    end_ms: run.end_ms,
                    outcome: match run.state {
                        JobState::Finished => JobOutcome::Finished,
                        JobState::Killed => JobOutcome::Killed,
                        JobState::Rejected => JobOutcome::Rejected,
                        JobState::Pending | JobState::Active => JobOutcome::Unfinished,
                    },
                    preemptions: run.preemptions,
                    nodes: nodes.into_iter().cloned().collect(),
                    gpu_ms: run.gpu_ms,
                }
            })
            .collect();
        let result = RunResult {
            scenario: self.scenario.name.clone(),
            model: self.model.name().to_string(),
            seed: self.scenario.seed,
            end_ms,
            total_gpus: u32::try_from(total_gpus).unwrap_or(u32::MAX),
            vcs: self.vcs,
            nodes: self.nodes,
            jobs,
            events: self.events,
            timeline: self.timeline,
        };
        (result, self.gpu_time)
    }
}

/// What makes two waiting groups ask the model for the same thing: same VC, priority,
/// leaf type, pinned cell, lazy-preemption flag and pod shape. Names and submit times
/// differ, but no model looks at them to decide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct RequestClass {
    vc: String,
    priority: i32,
    leaf_cell_type: Option<String>,
    pinned_cell_id: Option<String>,
    lazy_preemption: bool,
    members: Vec<(u32, u32)>,
}

impl RequestClass {
    fn of(request: &GroupRequest) -> RequestClass {
        RequestClass {
            vc: request.virtual_cluster.clone(),
            priority: request.priority,
            leaf_cell_type: request.leaf_cell_type.clone(),
            pinned_cell_id: request.pinned_cell_id.clone(),
            lazy_preemption: request.lazy_preemption_enable,
            members: request
                .members
                .iter()
                .map(|m| (m.pod_number, m.leaf_cell_number))
                .collect(),
        }
    }
}

/// Classes that waited in the current pass, with their reason, valid while
/// [`Engine::frees`] stays at `frees`.
#[derive(Default)]
struct BlockedClasses {
    frees: u64,
    reasons: HashMap<usize, Rc<str>>,
}

/// What came of offering one group.
enum Offered {
    Started,
    Waiting,
    Rejected,
}

/// Nodes whose first event (in time order) is `added`: they start outside the cluster.
fn absent_at_start(events: &[NodeEvent]) -> BTreeSet<String> {
    let mut order: Vec<&NodeEvent> = events.iter().collect();
    order.sort_by_key(|e| e.at_ms);
    let mut seen = BTreeSet::new();
    order
        .into_iter()
        .filter(|e| seen.insert(e.node.as_str()))
        .filter(|e| e.kind == NodeEventKind::Added)
        .map(|e| e.node.clone())
        .collect()
}

/// The kind of a wait reason: its text before the first `:`.
fn reason_kind(reason: &str) -> &str {
    reason.split_once(':').map_or(reason, |(kind, _)| kind)
}

fn pod_spot(pod: &PodPlacement) -> PodSpot {
    PodSpot {
        node: pod.node.clone(),
        devices: pod.devices.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::load_str;
    use std::path::Path;

    /// Cluster B of labs.md (one VC, two 1-GPU nodes) with `jobs`.
    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "name: t
cluster:
  inline:
    physicalCluster:
      cellTypes:
        GPU-NODE: {{childCellType: GPU, childCellNumber: 1, isNodeLevel: true}}
        GPU-NODE-POOL: {{childCellType: GPU-NODE, childCellNumber: 2}}
      physicalCells:
      - cellType: GPU-NODE-POOL
        cellChildren: [{{cellAddress: hostname-carol}}, {{cellAddress: hostname-dan}}]
    virtualClusters:
      default: {{virtualCells: [{{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 2}}]}}
{extra}"
        );
        load_str(&text, "t.yaml", Path::new("."), "t").unwrap()
    }

    fn starts(result: &RunResult) -> Vec<(SimTimeMs, String, String)> {
        result
            .events
            .iter()
            .filter_map(|e| match e {
                SimEvent::GroupStarted { t, group, pods, .. } => {
                    Some((*t, group.clone(), pods[0].node.clone()))
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn gang_waits_for_all_its_gpus_then_starts_at_once() {
        // Lab 4: a 1-GPU job runs 0-300 s; a 2-GPU gang submitted at 60 s starts at 300 s.
        let s = scenario(
            "jobs:
- {id: one, duration: 300s, request: {tasks: [{gpus: 1}]}}
- {id: gang, submit: 60s, duration: 60s, request: {tasks: [{instances: 2, gpus: 1}]}}
",
        );
        let r = run_model(&s, "hived").unwrap();
        assert_eq!(r.jobs[1].start_ms, Some(300_000));
        assert_eq!(r.jobs[1].end_ms, Some(360_000));
        assert_eq!(r.jobs[0].gpu_ms, 300_000);
        assert_eq!(r.jobs[1].gpu_ms, 120_000);
        assert_eq!(r.end_ms, 360_000);
    }

    #[test]
    fn incremental_tasks_start_as_gpus_free_up() {
        let s = scenario(
            "jobs:
- {id: one, duration: 300s, request: {tasks: [{gpus: 1}]}}
- {id: inc, submit: 60s, duration: 60s, request: {gang: false, tasks: [{instances: 2, gpus: 1}]}}
",
        );
        let r = run_model(&s, "hived").unwrap();
        let starts = starts(&r);
        assert_eq!(starts[1].0, 60_000);
        assert_eq!(starts[2].0, 120_000, "{starts:?}");
        assert_eq!(r.jobs[1].end_ms, Some(180_000));
    }

    #[test]
    fn killed_job_leaves_and_the_next_one_starts() {
        let s = scenario(
            "jobs:
- {id: a, duration: 1h, killAt: 10m, request: {tasks: [{instances: 2, gpus: 1}]}}
- {id: b, duration: 1m, request: {tasks: [{gpus: 1}]}}
",
        );
        let r = run_model(&s, "fifo").unwrap();
        assert_eq!(r.jobs[0].outcome, JobOutcome::Killed);
        assert_eq!(r.jobs[0].end_ms, Some(600_000));
        assert_eq!(r.jobs[1].start_ms, Some(600_000));
    }

    #[test]
    fn checkpoints_keep_work_across_preemption() {
        // test job 0-60 s, preempted by prod at 60 s (prod 100 s), resumes at 160 s with
        // 50 s of work kept (checkpoints every 25 s): ends at 160 + (120 - 50) = 230 s.
        let s = scenario(
            "checkpointIntervalSec: 25
jobs:
- {id: t, duration: 120s, request: {priorityClass: test, tasks: [{instances: 2, gpus: 1}]}}
- {id: p, submit: 60s, duration: 100s, request: {priorityClass: prod, tasks: [{instances: 2, gpus: 1}]}}
",
        );
        let r = run_model(&s, "hived").unwrap();
        assert_eq!(r.jobs[0].preemptions, 1);
        assert_eq!(r.jobs[0].end_ms, Some(230_000));
        assert_eq!(r.jobs[0].gpu_ms, 2 * (60_000 + 70_000));
    }

    #[test]
    fn lazy_preemption_downgrades_instead_of_killing() {
        // Two VCs of one GPU each on one 2-node chain. `lazy` (vc a, test) runs on a's
        // cell; `prod` (vc a) arrives: lazy preemption downgrades `lazy` to opportunistic
        // (it keeps running) and `prod` takes the other, idle GPU.
        let text = "name: t
cluster:
  inline:
    physicalCluster:
      cellTypes:
        GPU-NODE: {childCellType: GPU, childCellNumber: 1, isNodeLevel: true}
        GPU-NODE-POOL: {childCellType: GPU-NODE, childCellNumber: 2}
      physicalCells:
      - cellType: GPU-NODE-POOL
        cellChildren: [{cellAddress: hostname-carol}, {cellAddress: hostname-dan}]
    virtualClusters:
      a: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 1}]}
      b: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 1}]}
jobs:
- {id: lazy, duration: 100s, request: {vc: a, lazyPreemption: true, tasks: [{gpus: 1}]}}
- {id: prod, submit: 10s, duration: 10s, request: {vc: a, priorityClass: prod, tasks: [{gpus: 1}]}}
";
        let s = load_str(text, "t.yaml", Path::new("."), "t").unwrap();
        let r = run_model(&s, "hived").unwrap();
        assert!(
            r.events.iter().any(|e| matches!(e,
                SimEvent::GroupDowngraded { t: 10_000, job, by, .. } if job == "lazy" && by == "prod")),
            "{:?}",
            r.events
        );
        assert_eq!(r.jobs[0].preemptions, 0);
        assert_eq!(r.jobs[0].end_ms, Some(100_000));
        assert_eq!(r.jobs[1].start_ms, Some(10_000));
    }

    #[test]
    fn the_progress_hook_sees_the_end_and_changes_nothing() {
        // 3000 one-second jobs, one after the other: 6000 events (submit and finish each).
        let jobs: String = (0..3000)
            .map(|i| format!("- {{id: j{i}, submit: {i}s, duration: 1s, request: {{tasks: [{{gpus: 1}}]}}}}\n"))
            .collect();
        let s = scenario(&format!("jobs:\n{jobs}"));
        let calls = std::cell::RefCell::new(Vec::new());
        let mut model = sched::model_by_name("fifo", &s.config).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed);
        let with_hook = simulate_with_progress(&s, model.as_mut(), &mut rng, &|t, n| {
            calls.borrow_mut().push((t, n))
        });
        assert_eq!(with_hook, run_model(&s, "fifo").unwrap());
        let calls = calls.into_inner();
        assert_eq!(calls.last(), Some(&(with_hook.end_ms, 6000)));
        // Every PROGRESS_EVERY_EVENTS events or so, not every event.
        assert_eq!(
            calls.len() as u64,
            6000 / PROGRESS_EVERY_EVENTS + 1,
            "{calls:?}"
        );
        assert!(
            calls
                .windows(2)
                .all(|w| w[0].0 <= w[1].0 && w[0].1 < w[1].1)
        );
    }

    #[test]
    fn a_summary_only_run_keeps_the_records_and_sums_the_timeline() {
        // Preemption, a node failure, a node leaving and coming back, a kill and a horizon
        // cut: every path that moves busy GPUs or capacity.
        let s = scenario(
            "horizon: 20m
jobs:
- {id: t, duration: 10m, request: {priorityClass: test, tasks: [{instances: 2, gpus: 1}]}}
- {id: p, submit: 1m, duration: 2m, request: {priorityClass: prod, tasks: [{gpus: 1}]}}
- {id: k, submit: 2m, duration: 1h, killAt: 15m, request: {tasks: [{gpus: 1}]}}
- {id: long, submit: 3m, duration: 1h, request: {tasks: [{gpus: 1}]}}
nodeEvents:
- {at: 4m, node: hostname-dan, event: down}
- {at: 5m, node: hostname-dan, event: up}
- {at: 6m, node: hostname-carol, event: removed}
- {at: 8m, node: hostname-carol, event: added}
",
        );
        for model in sched::MODEL_NAMES {
            let full = run_model(&s, model).unwrap();
            let (lean, totals) = run_model_for_summary(&s, model).unwrap();
            assert!(
                lean.events.is_empty() && lean.timeline.is_empty(),
                "{model}"
            );
            let mut expected = full.clone();
            expected.events.clear();
            expected.timeline.clear();
            for job in &mut expected.jobs {
                job.nodes.clear();
            }
            assert_eq!(lean, expected, "{model}");
            let from_timeline = GpuTimeTotals::of_timeline(&full.timeline, full.end_ms, &full.vcs);
            assert_eq!(totals, from_timeline, "{model}");
            assert!(totals.used_gpu_ms() > 0, "{model}");
        }
    }

    #[test]
    fn horizon_stops_the_run_and_leaves_jobs_unfinished() {
        let s = scenario(
            "horizon: 10m
jobs:
- {id: a, duration: 1h, request: {tasks: [{gpus: 1}]}}
",
        );
        let r = run_model(&s, "yarn-cs").unwrap();
        assert_eq!(r.end_ms, 600_000);
        assert_eq!(r.jobs[0].outcome, JobOutcome::Unfinished);
        assert_eq!(r.jobs[0].gpu_ms, 600_000);
    }
}
