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
//! After every batch of same-time events (and at the model's timers), waiting groups are
//! offered to the model in queue order: the model's rank (ascending; given when the group
//! joins the queue), then submit time, then job order in the scenario, then group order.
//! A model with strict order stops offering the groups behind one that must wait (all of
//! them, or those of its VC). When a model answers `Preempt` (restart from the last
//! checkpoint) or `Suspend` (resume later with all progress kept), the victims are
//! released at once and requeued, and the preemptor is offered again in the same pass;
//! when a pass freed anything, another pass follows at the same time so that groups
//! passed over see the freed cells. Where the model declares it safe
//! ([`sched::Shortcuts`]), a group that waited is offered again only after something was
//! freed or a timer came (placing groups only takes cells, so until then its answer would
//! not change), and a group whose request class already waited in the pass is not asked.
//! A model that names the waiting groups a change concerns ([`Scheduler::take_woken`])
//! gets only those and the new groups offered, not every waiting group after a release.
//! The engine knows no particular policy: ranks, victims and timers are the model's.
//!
//! Within a batch, events are handled in this order: submits (in submit order), user
//! kills, node events (in the scenario's order), then finishes (in the order the runs
//! started).
//!
//! Nodes: a node going down kills and requeues the groups on it, and comes back `up`; a
//! node `removed` does the same and its GPUs leave the capacity until it is `added`
//! again; a node whose first event is `added` is outside the cluster until then. The
//! allocator sees an absent node as a bad one, as HiveD does for a configured node that
//! Kubernetes does not have.
//!
//! Memory: jobs come from a [`JobSource`] as their submit time arrives, and a job's state
//! is handed to the [`RunSink`] and dropped once the job ended, so a run holds the jobs
//! in flight, not the whole trace (what the sink keeps is its own choice).
//!
//! Not modelled: pod start-up time.
//!
//! Deterministic: ordered maps and the `(time, rank, seq)` queue only; the same scenario
//! and seed give the same result.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Bound::{Excluded, Unbounded};
use std::rc::Rc;
use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::queue::EventQueue;
use super::record::*;
use super::scenario::{NodeEvent, NodeEventKind, Scenario, SimJob};
use super::sink::{CollectRun, RunSink};
use super::source::{JobSource, JobSpec, ScenarioJobs};
use crate::cell::topology::Topology;
use crate::cell::{GroupPlacement, GroupRequest, PodPlacement};
use crate::sched::{
    self, GroupProgress, OfferContext, Scheduler, Shortcuts, StrictOrder, Verdict, Wait, WaitKind,
};

/// Run `scenario` through the model called `model` (with the scenario's model options),
/// with an RNG seeded from the scenario's seed.
pub fn run_model(scenario: &Scenario, model: &str) -> Result<RunResult, String> {
    let mut model = sched::model_with_options(model, &scenario.config, &scenario.model_options)?;
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    Ok(simulate(scenario, model.as_mut(), &mut rng))
}

/// Runs `scenario`'s cluster, node events and options through the model called `model`
/// (seeded from the scenario's seed) with the jobs of `jobs` (the scenario's own jobs are
/// not read), handing the output to `sink`; `progress` as in [`simulate_with_progress`].
/// Returns the run's header (a [`RunResult`] without jobs, events or timeline) and the
/// sink.
pub fn run_model_into<'a, S: RunSink>(
    scenario: &'a Scenario,
    jobs: &mut dyn JobSource<'a>,
    model: &str,
    sink: S,
    progress: &dyn Fn(SimTimeMs, u64),
) -> Result<(RunResult, S), String> {
    let mut model = sched::model_with_options(model, &scenario.config, &scenario.model_options)?;
    let mut rng = ChaCha8Rng::seed_from_u64(scenario.seed);
    let mut engine = Engine::new(scenario, jobs, model.as_mut(), &mut rng, sink);
    engine.run(progress);
    progress(engine.now, engine.handled);
    Ok(engine.finish())
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
    let mut jobs = ScenarioJobs::new(&scenario.jobs);
    let mut engine = Engine::new(scenario, &mut jobs, model, rng, CollectRun::default());
    engine.run(progress);
    progress(engine.now, engine.handled);
    let (header, sink) = engine.finish();
    sink.into_result(header)
}

/// What the queue holds. Submits are not queued: they come from the [`JobSource`].
#[derive(Debug, Clone, Copy)]
enum Event {
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

impl Event {
    /// Order among events at one time (after the submits): kills, node events, finishes.
    fn rank(&self) -> u8 {
        match self {
            Event::Kill { .. } => 0,
            Event::Node { .. } => 1,
            Event::Finish { .. } => 2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JobState {
    Active,
    Finished,
    Killed,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum GroupState {
    Waiting,
    Running { since: SimTimeMs, epoch: u32 },
    Done,
}

#[derive(Debug, Clone)]
struct GroupRun {
    /// Groups of one class ask for the same thing (see [`RequestClass`]), so the model
    /// answers them alike while the cluster only fills up.
    class: usize,
    gpus: u32,
    /// Its GPU demand in milli-GPUs: `gpus` x 1000, or a share's milli.
    milli: u64,
    state: GroupState,
    /// Work kept from earlier runs (checkpoints).
    work_done_ms: SimTimeMs,
    /// Runs started so far; a finish event is valid only for the current run.
    epoch: u32,
    last_pods: Vec<PodSpot>,
    /// The reason last logged, so a group's unchanged wait is logged once.
    last_wait_reason: Option<Rc<Wait>>,
    /// Its place in the queue while it waits (the rank the model gave it).
    key: QueueKey,
    /// Run time over all its runs so far (ended runs only).
    attained_ms: SimTimeMs,
    /// Its last run was suspended: the next start adds the model's resume delay.
    suspended: bool,
    /// While it waits: the time up to which its wait is accounted by kind.
    wait_mark_ms: SimTimeMs,
    /// While it waits after an interruption: when it was requeued.
    requeued_at: Option<SimTimeMs>,
}

/// A submitted job that has not been retired yet: its spec and where it stands.
#[derive(Debug, Clone)]
struct JobRun<'a> {
    spec: JobSpec<'a>,
    state: JobState,
    /// Index of the job's VC in [`Engine::vc_names`].
    vc: usize,
    groups: Vec<GroupRun>,
    start_ms: Option<SimTimeMs>,
    end_ms: Option<SimTimeMs>,
    preemptions: u32,
    gpu_ms: u64,
    /// Re-queue periods so far (see [`JobRecord::requeued_ms`]).
    requeued_ms: SimTimeMs,
    /// Waiting time so far by kind of reason (see [`JobRecord::wait_by_kind_ms`]).
    wait_by_kind_ms: [SimTimeMs; WaitKind::ALL.len()],
}

/// Queue position of a waiting group: (priority key, submit time, job, group).
type QueueKey = (i64, SimTimeMs, usize, usize);

/// Why a running group is taken off its cells before its time.
enum Interruption {
    Preempted {
        by: usize,
    },
    /// Suspended by a preemptive policy: all progress is kept.
    Suspended {
        by: usize,
    },
    NodeFailed {
        node: String,
    },
}

/// Jobs in flight, by their place in submit order (`seq`): a window from the oldest job
/// not yet retired to the newest submitted. Retired jobs leave a hole until every job
/// before them is retired too, so lookups stay an index. Jobs are boxed so that a hole
/// costs one pointer: one long job keeps the window open over every job submitted while
/// it runs, hundreds of thousands of them in a loaded million-job trace.
struct LiveJobs<'a> {
    /// Seq of `slots[0]`.
    base: usize,
    slots: VecDeque<Option<Box<JobRun<'a>>>>,
}

impl<'a> LiveJobs<'a> {
    fn new() -> Self {
        LiveJobs {
            base: 0,
            slots: VecDeque::new(),
        }
    }

    /// Seq the next submitted job gets.
    fn next_seq(&self) -> usize {
        self.base + self.slots.len()
    }

    /// Gives the next seq to a job that is never held (the horizon came before its
    /// submit); only once every held job was taken out.
    fn skip(&mut self) -> usize {
        debug_assert!(self.slots.is_empty(), "held jobs come first");
        self.base += 1;
        self.base - 1
    }

    fn push(&mut self, run: JobRun<'a>) -> usize {
        self.slots.push_back(Some(Box::new(run)));
        self.next_seq() - 1
    }

    fn get(&self, seq: usize) -> Option<&JobRun<'a>> {
        self.slots.get(seq.checked_sub(self.base)?)?.as_deref()
    }

    /// The job at `seq`, which must be live (the engine only asks for jobs it holds).
    fn run(&self, seq: usize) -> &JobRun<'a> {
        self.get(seq).expect("a live job")
    }

    fn run_mut(&mut self, seq: usize) -> &mut JobRun<'a> {
        self.slots[seq - self.base]
            .as_deref_mut()
            .expect("a live job")
    }

    /// Takes the job at `seq` out, and drops the holes at the front.
    fn take(&mut self, seq: usize) -> Option<JobRun<'a>> {
        let run = self.slots.get_mut(seq.checked_sub(self.base)?)?.take();
        while matches!(self.slots.front(), Some(None)) {
            self.slots.pop_front();
            self.base += 1;
        }
        run.map(|boxed| *boxed)
    }

    /// Seqs of the live jobs, in order.
    fn seqs(&self) -> Vec<usize> {
        (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .map(|i| self.base + i)
            .collect()
    }
}

struct Engine<'a, 's, S: RunSink> {
    scenario: &'a Scenario,
    source: &'s mut dyn JobSource<'a>,
    model: &'s mut dyn Scheduler,
    rng: &'s mut ChaCha8Rng,
    sink: S,
    queue: EventQueue<Event>,
    now: SimTimeMs,
    jobs: LiveJobs<'a>,
    /// Jobs that ended in the current batch, retired (recorded and dropped) after it.
    ended: Vec<usize>,
    /// Live groups by name: models name victims and downgraded groups by name.
    group_index: HashMap<Box<str>, (usize, usize), FastHash>,
    /// Groups submitted so far.
    groups_seen: usize,
    /// Request classes met so far (see [`RequestClass`]); a class is its index here.
    classes: RequestClasses,
    waiting: BTreeSet<QueueKey>,
    /// Waiting groups not offered since they joined the queue: exactly the waiting
    /// groups without a `last_wait_reason` (every offer or pass-over that leaves a group
    /// waiting gives it one, and only groups just taken off `fresh` are offered).
    fresh: BTreeSet<QueueKey>,
    /// Times a group joined `waiting`: a pass's look-ahead of queue keys is stale once
    /// this moved.
    enqueued: u64,
    /// Look-ahead buffer of the pass: the next queue keys after its cursor.
    ahead: Vec<QueueKey>,
    /// Classes that waited in the current pass (see [`BlockedClasses`]).
    blocked: BlockedClasses,
    /// Something was freed since the last pass began.
    dirty: bool,
    /// Times something was freed (a group left, a node changed, a group was
    /// downgraded): a class that waited is asked again only after this moved.
    frees: u64,
    /// How strictly the model serves the queue.
    strict: StrictOrder,
    /// The model picks the order of each pass's offers ([`Scheduler::orders_offers`]).
    model_orders: bool,
    /// The engine shortcuts the model is safe with.
    shortcuts: Shortcuts,
    /// The model's next timer.
    timer: Option<SimTimeMs>,
    /// A timer came since the last pass: the next one offers every waiting group.
    timer_pass: bool,
    /// Waiting groups the model woke (see [`Scheduler::take_woken`]), to offer in the
    /// next pass.
    woken: BTreeSet<QueueKey>,
    /// Buffer for the names the model wakes.
    woken_names: Vec<String>,
    /// The model named the groups to wake at the last pass ([`Engine::take_woken`]).
    naming: bool,
    /// The hooks the model listens to.
    hooks: sched::Hooks,
    /// Per VC (in [`Engine::vc_names`] order): its waiting groups, kept only under
    /// [`StrictOrder::PerVc`] to find each VC's head.
    vc_waiting: Vec<BTreeSet<QueueKey>>,
    /// Per VC: the pass in which a group of it last waited (strict order per VC).
    vc_blocked: Vec<u64>,
    /// Every VC of the run (guaranteed ones and jobs' ones), sorted: timeline points and
    /// [`JobRun::vc`] index into it.
    vc_names: Arc<[String]>,
    /// Busy GPUs per VC, in [`Engine::vc_names`] order: `busy_milli` rounded to the
    /// nearest GPU (exact without GPU shares).
    busy: Vec<u32>,
    /// Busy milli-GPUs per VC (a half-GPU pod counts 500).
    busy_milli: Vec<u64>,
    /// The run's pods may share GPUs: timeline points carry `busy_milli` too, and a
    /// change of it makes a point even when the whole-GPU counts stay.
    milli_timeline: bool,
    /// GPUs of the nodes now in the cluster.
    capacity_gpus: u32,
    /// All nodes with their GPUs, in topology order.
    nodes: Vec<(String, u32)>,
    /// GPUs per node, by name.
    node_gpus: HashMap<String, u32>,
    /// Nodes not in the cluster now (not yet added, or removed).
    absent: BTreeSet<String>,
    /// Whether events are logged and jobs' nodes kept ([`RunSink::logs`]).
    keep_log: bool,
    /// The timeline's latest point, not yet handed to the sink: a later change at the
    /// same time replaces it.
    last_point: TimelinePoint,
    vcs: BTreeMap<String, VcCapacity>,
    /// Events handled so far (stale finish events excluded), for progress reports.
    handled: u64,
}

impl<'a, 's, S: RunSink> Engine<'a, 's, S> {
    fn new(
        scenario: &'a Scenario,
        source: &'s mut dyn JobSource<'a>,
        model: &'s mut dyn Scheduler,
        rng: &'s mut ChaCha8Rng,
        sink: S,
    ) -> Self {
        // Under Kueue objects a ClusterQueue's share is its nominal quota, not cells.
        let shares = match &scenario.model_options.kueue {
            Some(kueue) => kueue.nominal_gpus(),
            None => sched::guaranteed_gpus(&scenario.config),
        };
        let mut vcs: BTreeMap<String, VcCapacity> = shares
            .into_iter()
            .map(|(vc, g)| (vc, VcCapacity { guaranteed_gpus: g }))
            .collect();
        for vc in source.vc_names() {
            vcs.entry(vc).or_insert(VcCapacity { guaranteed_gpus: 0 });
        }
        let vc_names: Arc<[String]> = vcs.keys().cloned().collect();
        // Pods with GPU shares, CPU or memory (openb --fractional share): busy GPUs per
        // VC are fractional, so the timeline keeps milli-GPUs.
        let milli_timeline = scenario
            .model_options
            .sharing
            .as_ref()
            .is_some_and(|s| s.pods_with_resources);
        let busy = vec![0; vc_names.len()];
        let mut queue = EventQueue::new();
        for (index, ev) in scenario.node_events.iter().enumerate() {
            let event = Event::Node { index };
            queue.push_ranked(ev.at_ms, event.rank(), event);
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
        let strict = model.strict_order();
        let vc_waiting = match strict {
            StrictOrder::PerVc => vec![BTreeSet::new(); vc_names.len()],
            _ => Vec::new(),
        };
        Engine {
            scenario,
            source,
            strict,
            model_orders: model.orders_offers(),
            shortcuts: model.shortcuts(),
            hooks: model.hooks(),
            timer: None,
            timer_pass: false,
            woken: BTreeSet::new(),
            woken_names: Vec::new(),
            naming: false,
            vc_blocked: vec![0; vc_waiting.len()],
            vc_waiting,
            model,
            rng,
            keep_log: sink.logs(),
            sink,
            queue,
            now: 0,
            jobs: LiveJobs::new(),
            ended: Vec::new(),
            group_index: HashMap::default(),
            groups_seen: 0,
            classes: RequestClasses::default(),
            waiting: BTreeSet::new(),
            fresh: BTreeSet::new(),
            enqueued: 0,
            ahead: Vec::new(),
            blocked: BlockedClasses::default(),
            dirty: false,
            frees: 0,
            last_point: TimelinePoint {
                t: 0,
                busy_by_vc: vc_gpus(&vc_names, &busy, milli_timeline.then(Vec::new)),
                capacity_gpus,
            },
            vc_names,
            busy_milli: vec![0; busy.len()],
            milli_timeline,
            busy,
            capacity_gpus,
            nodes,
            node_gpus,
            absent,
            vcs,
            handled: 0,
        }
    }

    /// A finish event of a run that was since preempted or killed.
    fn is_stale(&self, event: &Event) -> bool {
        match *event {
            Event::Finish { job, group, epoch } => !matches!(
                self.jobs.get(job).map(|run| &run.groups[group].state),
                Some(GroupState::Running { epoch: e, .. }) if *e == epoch
            ),
            _ => false,
        }
    }

    /// Time of the next batch: the next submit or queued event, whichever is first.
    fn next_time(&mut self) -> Option<SimTimeMs> {
        // Stale finish events must not move the clock (nor the end of the run).
        while let Some((_, ev)) = self.queue.peek() {
            if self.is_stale(ev) {
                self.queue.pop();
            } else {
                break;
            }
        }
        let next = match (self.source.peek_submit(), self.queue.peek_time()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (next, self.timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn run(&mut self, progress: &dyn Fn(SimTimeMs, u64)) {
        let mut next_report = PROGRESS_EVERY_EVENTS;
        while let Some(t) = self.next_time() {
            if let Some(h) = self.scenario.horizon_ms
                && t > h
            {
                self.now = h;
                break;
            }
            self.now = t;
            while self.source.peek_submit() == Some(t) {
                let spec = self.source.next_job().expect("a job was peeked");
                self.on_job_submitted(spec);
                self.handled += 1;
                if self.source.peek_submit().is_none() {
                    // Before this time's point is recorded: it holds past the arrivals.
                    self.sink.arrivals_ended(t);
                }
            }
            while let Some(ev) = self.queue.pop_at(t) {
                if !self.is_stale(&ev) {
                    self.handle(ev);
                    self.handled += 1;
                }
            }
            if self.timer == Some(t) {
                self.on_timer();
            }
            self.schedule_pass();
            if self.hooks.timers {
                self.timer = self.model.next_timer().filter(|&at| at > t);
            }
            self.record_timeline();
            self.retire_ended();
            // One comparison per time step keeps the hook off the hot path.
            if self.handled >= next_report {
                progress(self.now, self.handled);
                next_report = self.handled + PROGRESS_EVERY_EVENTS;
            }
        }
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Finish { job, group, .. } => self.on_group_finished(job, group),
            Event::Kill { job } => self.on_job_killed(job),
            Event::Node { index } => self.on_node_event(index),
        }
    }

    fn push_event(&mut self, t: SimTimeMs, event: Event) {
        self.queue.push_ranked(t, event.rank(), event);
    }

    fn job_id(&self, job: usize) -> String {
        self.jobs.run(job).spec.id.clone()
    }

    /// The model's timer came: groups it names get their rank again (keeping whether
    /// they were offered), and every waiting group is offered.
    fn on_timer(&mut self) {
        for name in self.model.on_timer(self.now) {
            let Some(&(job, group)) = self.group_index.get(name.as_str()) else {
                continue;
            };
            if self.jobs.run(job).groups[group].state != GroupState::Waiting {
                continue;
            }
            let old = self.jobs.run(job).groups[group].key;
            let was_fresh = self.fresh.remove(&old);
            self.waiting.remove(&old);
            let key = self.rank(job, group);
            self.jobs.run_mut(job).groups[group].key = key;
            self.waiting.insert(key);
            if was_fresh {
                self.fresh.insert(key);
            }
            if let Some(queue) = self.vc_waiting.get_mut(self.jobs.run(job).vc) {
                queue.remove(&old);
                queue.insert(key);
            }
            self.enqueued += 1;
        }
        // Ranks or what running groups may be asked to yield changed: a full pass.
        self.dirty = true;
        self.timer_pass = true;
    }

    /// The group's queue key, with the model's rank for it now.
    fn rank(&mut self, job: usize, group: usize) -> QueueKey {
        let rank = self.model.rank(&progress(&self.jobs, self.now, job, group));
        (rank, self.jobs.run(job).spec.submit_ms, job, group)
    }

    fn on_job_submitted(&mut self, spec: JobSpec<'a>) {
        let vc = self
            .vc_names
            .binary_search_by(|n| n.as_str().cmp(&spec.vc))
            .expect("the source named every VC of its jobs");
        let seq = self.jobs.next_seq();
        let groups = spec
            .groups
            .iter()
            .enumerate()
            .map(|(g, request)| {
                self.group_index
                    .insert(request.name.as_str().into(), (seq, g));
                let class = self.classes.class_of(request);
                GroupRun {
                    class,
                    gpus: u32::try_from(request.leaf_count()).unwrap_or(u32::MAX),
                    milli: request.gpu_milli(),
                    state: GroupState::Waiting,
                    work_done_ms: 0,
                    epoch: 0,
                    last_pods: Vec::new(),
                    last_wait_reason: None,
                    key: (0, 0, seq, g),
                    attained_ms: 0,
                    suspended: false,
                    wait_mark_ms: self.now,
                    requeued_at: None,
                }
            })
            .collect::<Vec<_>>();
        self.groups_seen += groups.len();
        if let Some(kill) = spec.kill_at_ms
            && kill >= spec.submit_ms
        {
            // A kill before the submit finds nothing to kill.
            self.push_event(kill, Event::Kill { job: seq });
        }
        let group_count = groups.len();
        self.jobs.push(JobRun {
            spec,
            state: JobState::Active,
            vc,
            groups,
            start_ms: None,
            end_ms: None,
            preemptions: 0,
            gpu_ms: 0,
            requeued_ms: 0,
            wait_by_kind_ms: [0; WaitKind::ALL.len()],
        });
        if self.keep_log {
            self.sink.submitted(&self.jobs.run(seq).spec);
            self.sink.event(SimEvent::JobSubmitted {
                t: self.now,
                job: self.job_id(seq),
            });
        }
        for g in 0..group_count {
            self.enqueue(seq, g);
        }
    }

    /// Takes a running group off its cells: the model releases them and the GPU time it
    /// held is accounted. Returns how long it ran.
    fn stop_run(&mut self, job: usize, group: usize) -> SimTimeMs {
        let GroupState::Running { since, .. } = self.jobs.run(job).groups[group].state else {
            return 0;
        };
        let ran = self.now - since;
        self.freed();
        if self.hooks.runs {
            self.model
                .stopped(&progress(&self.jobs, self.now, job, group));
        }
        let run = self.jobs.run_mut(job);
        run.groups[group].attained_ms += ran;
        let g = &mut run.groups[group];
        run.gpu_ms += milli_gpu_ms(ran, g.milli);
        g.state = GroupState::Done;
        self.busy_milli[run.vc] -= g.milli;
        self.busy[run.vc] = whole_gpus(self.busy_milli[run.vc]);
        self.model.release(&run.spec.groups[group].name);
        if !self.keep_log {
            // Only the log and the job's node list read the pods of a run that ended;
            // without them, a million-job run need not keep a million placements.
            run.groups[group].last_pods = Vec::new();
        }
        ran
    }

    fn on_group_finished(&mut self, job: usize, group: usize) {
        self.stop_run(job, group);
        if self.keep_log {
            let run = self.jobs.run(job);
            let event = SimEvent::GroupFinished {
                t: self.now,
                job: run.spec.id.clone(),
                group: run.spec.groups[group].name.clone(),
                pods: run.groups[group].last_pods.clone(),
            };
            self.sink.event(event);
        }
        if self
            .jobs
            .run(job)
            .groups
            .iter()
            .all(|g| g.state == GroupState::Done)
        {
            self.set_ended(job, JobState::Finished);
            if self.keep_log {
                let event = SimEvent::JobFinished {
                    t: self.now,
                    job: self.job_id(job),
                };
                self.sink.event(event);
            }
        }
    }

    /// Marks a job over; it is retired after the batch.
    fn set_ended(&mut self, job: usize, state: JobState) {
        let now = self.now;
        let run = self.jobs.run_mut(job);
        run.state = state;
        run.end_ms = Some(now);
        self.ended.push(job);
    }

    /// Ends a job early (killed or rejected): running groups leave, waiting ones are dropped.
    fn end_job(&mut self, job: usize, state: JobState) {
        for g in 0..self.jobs.run(job).groups.len() {
            match self.jobs.run(job).groups[g].state {
                GroupState::Running { .. } => {
                    self.stop_run(job, g);
                }
                GroupState::Waiting => {
                    self.account_wait(job, g);
                    self.dequeue(job, g);
                    // A model may hold something for a waiting group (Kueue's quota of a
                    // workload admitted with its pods pending); others ignore the name.
                    let name = &self.jobs.run(job).spec.groups[g].name;
                    self.model.release(name);
                }
                GroupState::Done => {}
            }
            self.jobs.run_mut(job).groups[g].state = GroupState::Done;
        }
        self.set_ended(job, state);
    }

    fn on_job_killed(&mut self, job: usize) {
        if self
            .jobs
            .get(job)
            .is_none_or(|run| run.state != JobState::Active)
        {
            return; // already over
        }
        self.end_job(job, JobState::Killed);
        if self.keep_log {
            let event = SimEvent::JobKilled {
                t: self.now,
                job: self.job_id(job),
            };
            self.sink.event(event);
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
            self.sink.event(logged);
        }
        if matches!(kind, NodeEventKind::Down | NodeEventKind::Removed) {
            self.interrupt_node(&node);
        }
    }

    /// Kills and requeues every group running on `node`.
    fn interrupt_node(&mut self, node: &str) {
        for j in self.jobs.seqs() {
            for g in 0..self.jobs.run(j).groups.len() {
                let group = &self.jobs.run(j).groups[g];
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
        let run = self.jobs.run_mut(job);
        let g = &mut run.groups[group];
        let work = g.work_done_ms + ran;
        g.work_done_ms = match (&why, checkpoint) {
            (Interruption::Suspended { .. }, _) => work,
            (_, Some(c)) => work / c * c,
            (_, None) => 0,
        };
        g.suspended = matches!(why, Interruption::Suspended { .. });
        g.requeued_at = Some(self.now);
        g.wait_mark_ms = self.now;
        g.state = GroupState::Waiting;
        g.last_wait_reason = None;
        if let Interruption::Preempted { .. } | Interruption::Suspended { .. } = why {
            run.preemptions += 1;
        }
        self.enqueue(job, group);
        if !self.keep_log {
            return;
        }
        let run = self.jobs.run(job);
        let (job_id, group_name, pods) = (
            run.spec.id.clone(),
            run.spec.groups[group].name.clone(),
            run.groups[group].last_pods.clone(),
        );
        let event = match why {
            Interruption::Preempted { by } | Interruption::Suspended { by } => {
                SimEvent::GroupPreempted {
                    t: self.now,
                    job: job_id,
                    group: group_name,
                    by: self.job_id(by),
                    pods,
                    suspended: matches!(why, Interruption::Suspended { .. }),
                }
            }
            Interruption::NodeFailed { node } => SimEvent::GroupFailed {
                t: self.now,
                job: job_id,
                group: group_name,
                node,
                pods,
            },
        };
        self.sink.event(event);
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
        let hol = self.strict != StrictOrder::No;
        // Each extra pass follows a release during the previous one (a preemption, mostly),
        // and preemption only goes down in priority, so passes are few; the cap guards
        // against a model that preempts in circles.
        let max_passes = 2 + self.groups_seen;
        for _ in 0..max_passes {
            if self.strict == StrictOrder::No
                && !std::mem::take(&mut self.timer_pass)
                && self.take_woken()
            {
                // The model names whom a change concerns: only those and new groups.
                self.dirty = false;
                if self.fresh.is_empty() && self.woken.is_empty() {
                    return;
                }
                self.blocked.new_pass();
                if self.hooks.passes {
                    self.model.pass_started(self.now);
                }
                self.offer_fresh_and_woken();
                continue;
            }
            let offer_all =
                std::mem::take(&mut self.dirty) || !self.shortcuts.waits_hold_until_free;
            self.blocked.new_pass();
            if self.hooks.passes {
                self.model.pass_started(self.now);
            }
            if self.model_orders && !hol {
                let keys: Vec<QueueKey> = if offer_all {
                    self.waiting.iter().copied().collect()
                } else {
                    self.fresh.iter().copied().collect()
                };
                self.offer_in_model_order(keys);
            } else if self.strict == StrictOrder::PerVc && !offer_all {
                self.offer_fresh_vc_heads();
            } else if offer_all || hol {
                self.offer_in_queue_order(offer_all, hol);
            } else {
                let fresh: Vec<QueueKey> = std::mem::take(&mut self.fresh).into_iter().collect();
                for key in fresh {
                    if self.is_waiting(key) {
                        self.offer_unless_blocked(key);
                    }
                }
            }
            if !self.dirty {
                return;
            }
        }
    }

    /// One pass over the queue in order: every waiting group (`offer_all`), or only the
    /// fresh ones at its head (head-of-line blocking with nothing freed); `hol` stops
    /// at the first group that waits.
    ///
    /// The pass visits, each time, the first waiting key after the last one visited.
    /// Offers change the queue (starts and rejects take keys out, preemptions put
    /// victims back in), so instead of a fresh tree search per step it reads the keys
    /// ahead in chunks, skips those that left meanwhile, and reads again whenever a key
    /// joined: the same keys in the same order, for a slice copy per step.
    fn offer_in_queue_order(&mut self, offer_all: bool, hol: bool) {
        /// Keys read ahead at once: enough to make the tree search rare, few enough
        /// that a head-of-line pass that stops at once reads little.
        const CHUNK: usize = 64;
        let per_vc = self.strict == StrictOrder::PerVc;
        let mut ahead = std::mem::take(&mut self.ahead);
        ahead.clear();
        let mut next = 0;
        let mut cursor: Option<QueueKey> = None;
        let mut read_at = self.enqueued;
        loop {
            if next == ahead.len() || read_at != self.enqueued {
                ahead.clear();
                next = 0;
                read_at = self.enqueued;
                match cursor {
                    None => ahead.extend(self.waiting.iter().take(CHUNK)),
                    Some(c) => {
                        ahead.extend(self.waiting.range((Excluded(c), Unbounded)).take(CHUNK))
                    }
                }
                if ahead.is_empty() {
                    break;
                }
            }
            let key = ahead[next];
            next += 1;
            if !self.is_waiting(key) {
                continue; // started or rejected since it was read
            }
            cursor = Some(key);
            let vc = self.jobs.run(key.2).vc;
            if per_vc && self.vc_blocked[vc] == self.blocked.pass {
                continue; // behind its VC's head that waits
            }
            let fresh = self.jobs.run(key.2).groups[key.3]
                .last_wait_reason
                .is_none();
            debug_assert_eq!(fresh, self.fresh.contains(&key), "fresh groups: {key:?}");
            if !offer_all && !fresh {
                break; // a blocked head that would still wait
            }
            if fresh {
                self.fresh.remove(&key);
            }
            if matches!(self.offer_unless_blocked(key), Offered::Waiting) && hol {
                if per_vc {
                    self.vc_blocked[vc] = self.blocked.pass;
                    continue;
                }
                break;
            }
        }
        self.ahead = ahead;
    }

    /// Asks the model which waiting groups it woke; true when it names them (their
    /// keys are then in [`Engine::woken`]), false when it does not track them.
    fn take_woken(&mut self) -> bool {
        let mut names = std::mem::take(&mut self.woken_names);
        let named = self.model.take_woken(&mut names);
        for name in names.drain(..) {
            let Some(&(job, group)) = self.group_index.get(name.as_str()) else {
                continue;
            };
            let g = &self.jobs.run(job).groups[group];
            if g.state == GroupState::Waiting {
                self.woken.insert(g.key);
            }
        }
        self.woken_names = names;
        self.naming = named;
        if !named {
            self.woken.clear();
        }
        named
    }

    /// A pass over the new groups and those the model woke, in queue order.
    fn offer_fresh_and_woken(&mut self) {
        let mut keys: Vec<QueueKey> = std::mem::take(&mut self.fresh).into_iter().collect();
        keys.extend(std::mem::take(&mut self.woken));
        keys.sort_unstable();
        keys.dedup();
        if self.model_orders {
            self.offer_in_model_order(keys);
            return;
        }
        for key in keys {
            if self.is_waiting(key) {
                self.offer_unless_blocked(key);
            }
        }
    }

    /// A pass over `keys` (in queue order) in the order the model picks
    /// ([`Scheduler::orders_offers`]): it sees them all first, then names one at a time,
    /// so each choice can follow what the offers before it changed.
    fn offer_in_model_order(&mut self, keys: Vec<QueueKey>) {
        for key in &keys {
            self.fresh.remove(key);
        }
        let groups: Vec<&GroupRequest> = keys
            .iter()
            .map(|k| &self.jobs.run(k.2).spec.groups[k.3])
            .collect();
        self.model.plan_offers(&groups);
        drop(groups);
        while let Some(i) = self.model.next_offer() {
            let Some(&key) = keys.get(i) else { break };
            if self.is_waiting(key) {
                self.offer_unless_blocked(key);
            }
        }
    }

    /// A pass with nothing freed under strict order per VC: each fresh group that heads
    /// its VC's queue is offered; one that waits blocks the rest of its VC. A group
    /// behind its VC's head (which waited before, with nothing freed since) is not asked
    /// and stays fresh.
    fn offer_fresh_vc_heads(&mut self) {
        let fresh: Vec<QueueKey> = self.fresh.iter().copied().collect();
        for key in fresh {
            if !self.is_waiting(key) || !self.fresh.contains(&key) {
                continue;
            }
            let vc = self.jobs.run(key.2).vc;
            if self.vc_blocked[vc] == self.blocked.pass {
                continue;
            }
            if self.vc_waiting[vc].first() != Some(&key) {
                self.vc_blocked[vc] = self.blocked.pass;
                continue;
            }
            self.fresh.remove(&key);
            if matches!(self.offer_unless_blocked(key), Offered::Waiting) {
                self.vc_blocked[vc] = self.blocked.pass;
            }
        }
    }

    /// Whether the group at `key` is in the queue: it waits (the key's job and group
    /// say which group; its priority and submit time never change).
    fn is_waiting(&self, key: QueueKey) -> bool {
        let waiting = self
            .jobs
            .get(key.2)
            .is_some_and(|run| run.groups[key.3].state == GroupState::Waiting);
        debug_assert_eq!(waiting, self.waiting.contains(&key), "queue of {key:?}");
        waiting
    }

    /// Offers the group at `key`, unless a group of its class already waited in this pass
    /// with nothing freed since: then it waits for the same reason without asking.
    fn offer_unless_blocked(&mut self, key: QueueKey) -> Offered {
        let (job, group) = (key.2, key.3);
        let frees = self.frees;
        let class = self.jobs.run(job).groups[group].class;
        let same_class = self.shortcuts.same_class_same_answer;
        if same_class && let Some(reason) = self.blocked.reason(class, frees) {
            // Logged once: a group passed over keeps the reason it first got.
            if self.jobs.run(job).groups[group].last_wait_reason.is_none() {
                let reason = Rc::clone(reason);
                self.wait(job, group, Reason::Shared(reason));
            }
            return Offered::Waiting;
        }
        let offered = self.offer(job, group);
        if let Offered::Waiting = offered
            && same_class
            && frees == self.frees
            && let Some(reason) = &self.jobs.run(job).groups[group].last_wait_reason
        {
            self.blocked.block(class, frees, Rc::clone(reason));
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
        let key = self.rank(job, group);
        self.jobs.run_mut(job).groups[group].key = key;
        self.waiting.insert(key);
        self.fresh.insert(key);
        if let Some(queue) = self.vc_waiting.get_mut(self.jobs.run(job).vc) {
            queue.insert(key);
        }
        self.enqueued += 1;
    }

    /// Takes a group out of the queue.
    fn dequeue(&mut self, job: usize, group: usize) {
        let key = self.jobs.run(job).groups[group].key;
        self.waiting.remove(&key);
        self.fresh.remove(&key);
        if let Some(queue) = self.vc_waiting.get_mut(self.jobs.run(job).vc) {
            queue.remove(&key);
        }
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
                let victim = self.jobs.run(vj);
                let event = SimEvent::GroupDowngraded {
                    t: self.now,
                    job: victim.spec.id.clone(),
                    group: victim.spec.groups[vg].name.clone(),
                    by: self.job_id(job),
                };
                self.sink.event(event);
            }
        }
        verdict
    }

    fn offer(&mut self, job: usize, group: usize) -> Offered {
        // A cheap handle on the spec, so the request stays readable while the engine
        // changes.
        let spec = self.jobs.run(job).spec.clone();
        let request = &spec.groups[group];
        match self.ask(request, job) {
            Verdict::Start(placement) => {
                self.start(job, group, placement);
                Offered::Started
            }
            verdict @ (Verdict::Preempt(_) | Verdict::Suspend(_)) => {
                let (victims, suspend): (Vec<String>, bool) = match verdict {
                    Verdict::Preempt(victims) => {
                        (victims.into_iter().map(|v| v.group).collect(), false)
                    }
                    Verdict::Suspend(names) => (names, true),
                    _ => unreachable!("matched above"),
                };
                for victim in &victims {
                    match self.group_index.get(victim.as_str()) {
                        Some(&(vj, vg))
                            if matches!(
                                self.jobs.run(vj).groups[vg].state,
                                GroupState::Running { .. }
                            ) =>
                        {
                            let why = if suspend {
                                Interruption::Suspended { by: job }
                            } else {
                                Interruption::Preempted { by: job }
                            };
                            self.interrupt(vj, vg, why);
                        }
                        // Not one of ours (or not running): still make the model drop it.
                        _ => self.model.release(victim),
                    }
                }
                match self.ask(request, job) {
                    Verdict::Start(placement) => {
                        self.start(job, group, placement);
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
                            _ => Wait::new(
                                sched::WaitKind::Preempting,
                                request.leaf_count(),
                                None,
                                "waiting: the model asked for more preemption after its victims left".to_string(),
                            ),
                        };
                        self.wait(job, group, Reason::New(reason));
                        if self.naming {
                            // The model was told its reservation is gone, so it cannot
                            // know to wake this group: ask it again next pass.
                            let key = self.jobs.run(job).groups[group].key;
                            self.woken.insert(key);
                        }
                        Offered::Waiting
                    }
                }
            }
            Verdict::Wait(reason) => {
                self.wait(job, group, Reason::New(reason));
                Offered::Waiting
            }
            Verdict::Reject(reason) => {
                self.reject(job, reason);
                Offered::Rejected
            }
        }
    }

    fn start(&mut self, job: usize, group: usize, placement: GroupPlacement) {
        self.account_wait(job, group);
        self.dequeue(job, group);
        let now = self.now;
        let run = self.jobs.run_mut(job);
        let duration = run.spec.duration_ms;
        run.start_ms.get_or_insert(now);
        let g = &mut run.groups[group];
        g.epoch += 1;
        g.state = GroupState::Running {
            since: now,
            epoch: g.epoch,
        };
        // The placement is ours: its node names and device lists move, not copied.
        g.last_pods = placement.pods.into_iter().map(pod_spot).collect();
        g.last_wait_reason = None;
        let mut remaining = duration.saturating_sub(g.work_done_ms).max(1);
        if std::mem::take(&mut g.suspended) {
            remaining += self.model.resume_delay_ms();
        }
        let (epoch, milli) = (g.epoch, g.milli);
        self.busy_milli[run.vc] += milli;
        self.busy[run.vc] = whole_gpus(self.busy_milli[run.vc]);
        if self.hooks.runs {
            self.model
                .started(&progress(&self.jobs, self.now, job, group));
        }
        self.push_event(now + remaining, Event::Finish { job, group, epoch });
        if self.keep_log {
            let run = self.jobs.run(job);
            let event = SimEvent::GroupStarted {
                t: now,
                job: run.spec.id.clone(),
                group: run.spec.groups[group].name.clone(),
                pods: run.groups[group].last_pods.clone(),
            };
            self.sink.event(event);
        }
    }

    /// Accounts a waiting group's time since its last mark to the kind of reason it waits
    /// for (the queue, before it was first offered), and its re-queue period when it
    /// leaves the queue; called when it starts, when its job ends, and at the run's end.
    fn account_wait(&mut self, job: usize, group: usize) {
        let now = self.now;
        let run = self.jobs.run_mut(job);
        let g = &mut run.groups[group];
        let kind = g
            .last_wait_reason
            .as_deref()
            .map_or(WaitKind::Queue, |w| w.kind);
        run.wait_by_kind_ms[kind.index()] += now - g.wait_mark_ms;
        g.wait_mark_ms = now;
        if let Some(at) = g.requeued_at.take() {
            run.requeued_ms += now - at;
        }
    }

    /// Logs that a group waits: when it starts waiting, and again only when the kind of
    /// reason changes (the text before its first `:`, e.g. "waiting for quota"), not
    /// when only the live counts in it do — those would log a line per group per release.
    fn wait(&mut self, job: usize, group: usize, reason: Reason) {
        let run = self.jobs.run_mut(job);
        let g = &mut run.groups[group];
        if let Some(last) = g.last_wait_reason.as_deref()
            && last.kind == reason.kind()
        {
            return;
        }
        // Shared only once it is kept: most waits repeat the kind and are dropped.
        let reason = match reason {
            Reason::New(wait) => Rc::new(wait),
            Reason::Shared(rc) => rc,
        };
        let kind = g
            .last_wait_reason
            .as_deref()
            .map_or(WaitKind::Queue, |w| w.kind);
        run.wait_by_kind_ms[kind.index()] += self.now - g.wait_mark_ms;
        g.wait_mark_ms = self.now;
        let sentence = self.keep_log.then(|| reason.sentence.clone());
        g.last_wait_reason = Some(reason);
        if !self.keep_log {
            return;
        }
        let event = SimEvent::GroupWaiting {
            t: self.now,
            job: run.spec.id.clone(),
            group: run.spec.groups[group].name.clone(),
            reason: sentence.unwrap_or_default(),
        };
        self.sink.event(event);
    }

    fn reject(&mut self, job: usize, reason: String) {
        self.end_job(job, JobState::Rejected);
        self.sink.rejected(&self.job_id(job), &reason);
        if self.keep_log {
            let event = SimEvent::JobRejected {
                t: self.now,
                job: self.job_id(job),
                reason,
            };
            self.sink.event(event);
        }
    }

    fn record_timeline(&mut self) {
        let last = &self.last_point;
        if last.busy_by_vc.counts() == self.busy.as_slice()
            && last.capacity_gpus == self.capacity_gpus
            && (!self.milli_timeline || last.busy_by_vc.milli() == Some(&self.busy_milli[..]))
        {
            return;
        }
        let point = TimelinePoint {
            t: self.now,
            busy_by_vc: vc_gpus(
                &self.vc_names,
                &self.busy,
                self.milli_timeline.then(|| self.busy_milli.clone()),
            ),
            capacity_gpus: self.capacity_gpus,
        };
        // A change at the same time replaces the point; otherwise the old one is final.
        let done = std::mem::replace(&mut self.last_point, point);
        if done.t != self.now {
            self.sink.timeline(done, self.now, &self.vcs);
        }
    }

    /// Hands the jobs that ended in this batch to the sink and forgets them.
    fn retire_ended(&mut self) {
        for job in std::mem::take(&mut self.ended) {
            self.retire(job);
        }
    }

    /// Hands a job's record to the sink and drops its state.
    fn retire(&mut self, job: usize) {
        let Some(run) = self.jobs.take(job) else {
            return;
        };
        for request in &run.spec.groups {
            self.group_index.remove(request.name.as_str());
        }
        // Sorted and deduplicated (a sorted list, not a set: a job has few pods).
        let mut nodes: Vec<&str> = Vec::new();
        if self.keep_log {
            nodes.extend(
                run.groups
                    .iter()
                    .flat_map(|g| g.last_pods.iter().map(|p| p.node.as_str())),
            );
            nodes.sort_unstable();
            nodes.dedup();
        }
        let nodes = nodes.into_iter().map(String::from).collect();
        let record = job_record(&run.spec, Some(&run), nodes);
        self.sink.job(job, record);
    }

    /// Ends the run: jobs still in flight (and those never submitted) are recorded as
    /// they stand. Returns the run's header and the sink.
    fn finish(mut self) -> (RunResult, S) {
        let end_ms = self.now;
        self.retire_ended();
        // Groups still running at the end held their GPUs until then; waiting ones waited.
        for job in self.jobs.seqs() {
            for g in 0..self.jobs.run(job).groups.len() {
                if self.jobs.run(job).groups[g].state == GroupState::Waiting {
                    self.account_wait(job, g);
                }
            }
            let run = self.jobs.run_mut(job);
            for g in &run.groups {
                if let GroupState::Running { since, .. } = g.state {
                    run.gpu_ms += milli_gpu_ms(end_ms - since, g.milli);
                }
            }
            self.retire(job);
        }
        // Jobs the horizon cut off before their submit.
        while let Some(spec) = self.source.next_job() {
            let seq = self.jobs.skip();
            let record = job_record(&spec, None, Vec::new());
            self.sink.job(seq, record);
        }
        let last = std::mem::replace(
            &mut self.last_point,
            TimelinePoint {
                t: end_ms,
                busy_by_vc: VcGpus::new(Arc::clone(&self.vc_names), Vec::new()),
                capacity_gpus: 0,
            },
        );
        self.sink.timeline(last, end_ms, &self.vcs);
        let total_gpus: u64 = self
            .scenario
            .config
            .physical_cells
            .iter()
            .map(|c| c.leaf_count())
            .sum();
        let header = RunResult {
            scenario: self.scenario.name.clone(),
            model: self.model.name().to_string(),
            seed: self.scenario.seed,
            end_ms,
            total_gpus: u32::try_from(total_gpus).unwrap_or(u32::MAX),
            vcs: self.vcs,
            nodes: self.nodes,
            jobs: Vec::new(),
            events: Vec::new(),
            timeline: Vec::new(),
        };
        (header, self.sink)
    }
}

/// The record of a job as it stands: `run` is its state, `None` when it was never
/// submitted (the horizon came first).
fn job_record(spec: &SimJob, run: Option<&JobRun<'_>>, nodes: Vec<String>) -> JobRecord {
    JobRecord {
        id: spec.id.clone(),
        vc: spec.vc.clone(),
        priority: spec.priority,
        gpus: spec.gpus(),
        submit_ms: spec.submit_ms,
        start_ms: run.and_then(|r| r.start_ms),
        end_ms: run.and_then(|r| r.end_ms),
        outcome: match run.map(|r| r.state) {
            Some(JobState::Finished) => JobOutcome::Finished,
            Some(JobState::Killed) => JobOutcome::Killed,
            Some(JobState::Rejected) => JobOutcome::Rejected,
            Some(JobState::Active) | None => JobOutcome::Unfinished,
        },
        preemptions: run.map_or(0, |r| r.preemptions),
        requeued_ms: run.map_or(0, |r| r.requeued_ms),
        wait_by_kind_ms: run.map_or([0; WaitKind::ALL.len()], |r| r.wait_by_kind_ms),
        nodes,
        gpu_ms: run.map_or(0, |r| r.gpu_ms),
    }
}

/// What makes two waiting groups ask the model for the same thing: same VC, priority,
/// leaf type, pinned cell, lazy-preemption flag and pod shape. Names and submit times
/// differ, but no model looks at them to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RequestClass {
    vc: String,
    priority: i32,
    leaf_cell_type: Option<String>,
    pinned_cell_id: Option<String>,
    lazy_preemption: bool,
    /// Pod counts and shapes, shares, CPU and memory included.
    members: Vec<crate::cell::GroupMember>,
}

impl RequestClass {
    fn of(request: &GroupRequest) -> RequestClass {
        RequestClass {
            vc: request.virtual_cluster.clone(),
            priority: request.priority,
            leaf_cell_type: request.leaf_cell_type.clone(),
            pinned_cell_id: request.pinned_cell_id.clone(),
            lazy_preemption: request.lazy_preemption_enable,
            members: request.members.clone(),
        }
    }

    /// Whether `request` is of this class.
    fn holds(&self, request: &GroupRequest) -> bool {
        self.vc == request.virtual_cluster
            && self.priority == request.priority
            && self.leaf_cell_type == request.leaf_cell_type
            && self.pinned_cell_id == request.pinned_cell_id
            && self.lazy_preemption == request.lazy_preemption_enable
            && self.members == request.members
    }

    /// The hash a request's class is filed under, taken from the request's fields so
    /// that finding a known class builds nothing.
    fn fingerprint(request: &GroupRequest) -> u64 {
        // A fixed seed: the fingerprint only files classes, compared field by field.
        let mut h = foldhash::fast::FixedState::default().build_hasher();
        request.virtual_cluster.hash(&mut h);
        request.priority.hash(&mut h);
        request.leaf_cell_type.hash(&mut h);
        request.pinned_cell_id.hash(&mut h);
        request.lazy_preemption_enable.hash(&mut h);
        request.members.hash(&mut h);
        h.finish()
    }
}

/// The request classes of a run, numbered in the order they were first met.
#[derive(Default)]
struct RequestClasses {
    /// Classes by fingerprint, with their numbers (collisions share a list).
    by_fingerprint: HashMap<u64, Vec<(RequestClass, usize)>, FastHash>,
    count: usize,
}

impl RequestClasses {
    /// The number of `request`'s class, a new one if it is the first of its class.
    fn class_of(&mut self, request: &GroupRequest) -> usize {
        let filed = self
            .by_fingerprint
            .entry(RequestClass::fingerprint(request))
            .or_default();
        if let Some(&(_, class)) = filed.iter().find(|(c, _)| c.holds(request)) {
            return class;
        }
        let class = self.count;
        self.count += 1;
        filed.push((RequestClass::of(request), class));
        class
    }
}

/// Hasher of the engine's maps: keys are group names and fingerprints, looked up for
/// every submit, victim and retired job, where SipHash was a visible cost. Map order is
/// never used, so runs stay deterministic.
type FastHash = foldhash::fast::RandomState;

/// Classes that waited in the current pass with nothing freed since, with their reason.
/// Entries are stamped instead of cleared: one is valid while its pass and
/// [`Engine::frees`] are the current ones (`frees` only grows), so a release, which
/// happens for nearly every pass, costs nothing here.
#[derive(Default)]
struct BlockedClasses {
    /// The current pass (counts passes).
    pass: u64,
    /// Per class: the pass and `frees` it waited at, and its reason.
    reasons: Vec<Option<(u64, u64, Rc<Wait>)>>,
}

impl BlockedClasses {
    /// Starts a pass: every class is unblocked.
    fn new_pass(&mut self) {
        self.pass += 1;
    }

    /// The reason `class` waited for in this pass, if it did with `frees` as now.
    fn reason(&self, class: usize, frees: u64) -> Option<&Rc<Wait>> {
        match self.reasons.get(class) {
            Some(Some((pass, f, reason))) if *pass == self.pass && *f == frees => Some(reason),
            _ => None,
        }
    }

    /// Records that `class` waited for `reason` with `frees` as now.
    fn block(&mut self, class: usize, frees: u64, reason: Rc<Wait>) {
        if self.reasons.len() <= class {
            self.reasons.resize(class + 1, None);
        }
        self.reasons[class] = Some((self.pass, frees, reason));
    }
}

/// A wait reason handed to [`Engine::wait`]: a fresh one from the model, or one already
/// shared (a class's reason for the groups passed over).
enum Reason {
    New(Wait),
    Shared(Rc<Wait>),
}

impl Reason {
    fn kind(&self) -> WaitKind {
        match self {
            Reason::New(wait) => wait.kind,
            Reason::Shared(rc) => rc.kind,
        }
    }
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

/// A live group's progress at `now` (a run in progress counts up to `now`).
fn progress<'j>(
    jobs: &'j LiveJobs<'_>,
    now: SimTimeMs,
    job: usize,
    group: usize,
) -> GroupProgress<'j> {
    let run = jobs.run(job);
    let g = &run.groups[group];
    let current = match g.state {
        GroupState::Running { since, .. } => now - since,
        _ => 0,
    };
    GroupProgress {
        request: &run.spec.groups[group],
        gpus: g.gpus,
        submit_ms: run.spec.submit_ms,
        duration_ms: run.spec.duration_ms,
        work_done_ms: g.work_done_ms + current,
        attained_ms: g.attained_ms + current,
        now_ms: now,
    }
}

/// GPU-ms of `milli` milli-GPUs held for `ms` (exact for whole GPUs).
fn milli_gpu_ms(ms: SimTimeMs, milli: u64) -> u64 {
    if milli.is_multiple_of(1000) {
        ms * (milli / 1000)
    } else {
        ((u128::from(ms) * u128::from(milli)) / 1000) as u64
    }
}

/// Milli-GPUs as whole GPUs for the timeline: the nearest count (halves up).
/// A timeline point's busy GPUs per VC, with `milli` when the run shares GPUs.
fn vc_gpus(names: &Arc<[String]>, busy: &[u32], milli: Option<Vec<u64>>) -> VcGpus {
    match milli {
        Some(milli) => VcGpus::with_milli(Arc::clone(names), busy.to_vec(), milli),
        None => VcGpus::new(Arc::clone(names), busy.to_vec()),
    }
}

fn whole_gpus(milli: u64) -> u32 {
    u32::try_from(milli.saturating_add(500) / 1000).unwrap_or(u32::MAX)
}

fn pod_spot(pod: PodPlacement) -> PodSpot {
    PodSpot {
        node: pod.node,
        devices: pod.devices,
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
