//! The `kueue` layer: Kubernetes Kueue's admission over ClusterQueues (a ClusterQueue is
//! a VC). A workload is admitted whole when one flavor of its ClusterQueue has room for
//! all its GPUs: the ClusterQueue's nominal quota plus what it may borrow from its cohort
//! ([`quota`]: within its `borrowingLimit`, from what the others lend within their
//! `lendingLimit`). Flavors are tried in order with `flavorFungibility`; a workload that
//! does not fit may preempt (`withinClusterQueue`, `reclaimWithinCohort`,
//! `borrowWithinCohort`), with the fewest victims found as Kueue finds them (remove
//! candidates in order until it fits, then give back every victim it fits without).
//! `StrictFIFO` ClusterQueues block behind their head; `BestEffortFIFO` ones do not.
//! With fair sharing on ([`fair`]) the layer orders each pass's offers across
//! ClusterQueues by share and preempts by the fair-sharing strategies.
//! The admitted workload holds its quota from admission on, and its pods are placed on
//! the nodes of its flavor by the shared allocator (`sched/pool.rs`, packing as
//! kube-scheduler's MostAllocated would) as soon as they fit.
//!
//! Wait kinds: `quota` (the ClusterQueue's own nominal quota plus borrowing limit is
//! used up), `capacity` (cohort borrowing: its own limits allow it, but the cohort has
//! nothing left to lend), `shape` / `gang` (placement: admitted by quota, pods pending
//! on full or fragmented nodes of the flavor), `queue` (behind the head of a StrictFIFO
//! ClusterQueue).
//!
//! Speed: the layer names the waiting workloads a release concerns (those of the
//! cohort tree where quota came back, those waiting for room on the released nodes), as
//! Kueue requeues its inadmissible workloads, so the engine asks only those again.

mod fair;
mod placement;
mod quota;
mod tas;

pub use tas::TasOptions;

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::Layer;
use crate::cell::{GroupRequest, Victim};
use crate::config::CellConfig;
use crate::kueue::{KueueConfig, QueueingStrategy, ReclaimWithinCohort, WithinClusterQueue};
use crate::sched::pool::{Pool, PoolAnswer};
use crate::sched::{OfferContext, Shortcuts, Verdict, Wait, WaitKind};
use crate::sim::SimTimeMs;
use quota::QuotaTree;

/// The layer's name.
pub const NAME: &str = "kueue";

/// Maps keyed by workload name, looked up on every offer and release: a fast hasher
/// (their order is never used: the engine sorts the workloads it is told to wake).
type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
/// Sets of workload names, as [`FastMap`].
type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// What the layer does and does not model.
pub const DESCRIPTION: &str = "Kubernetes Kueue admission: each ClusterQueue is a VC with \
per-flavor nvidia.com/gpu quotas (nominalQuota, borrowingLimit, lendingLimit) in cohorts, \
hierarchical Cohort objects with their own quota included; a workload is admitted whole on \
the first flavor (in the ClusterQueue's order, with flavorFungibility) where it fits, then \
its pods are placed on that flavor's nodes by the shared allocator (packing). StrictFIFO \
ClusterQueues block behind their head (Kueue's order: priority, then creation), \
BestEffortFIFO ones do not. Preemption: withinClusterQueue (Never, LowerPriority, \
LowerOrNewerEqualPriority), reclaimWithinCohort (Never, LowerPriority, Any) and \
borrowWithinCohort, fewest victims as Kueue picks them; a victim keeps its place in the \
queue. Fair sharing, when Kueue's Configuration turns it on: shares of borrowed quota \
by fairSharing.weight, heads admitted lowest share after admission first (Kueue's \
tournament per cohort tree), preemption by the fair-sharing strategies. A workload \
admitted by quota holds its quota while its pods wait for room. Needs the Kueue objects \
(replay --kueue). Does not model: admission fair sharing, resources other than \
nvidia.com/gpu, a different flavor per pod set, partial \
admission, admission checks, LeastAllocated spreading. Topology-Aware Scheduling: a pod \
set's required or preferred topology level keeps the gang in one domain (BestFit), \
without Kueue's fallback to higher levels.";

/// What the layer is built from: the Kueue objects and the nodes of each flavor.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KueueOptions {
    /// The Kueue objects.
    pub config: KueueConfig,
    /// Names of the cluster's nodes each ResourceFlavor selects (by `nodeLabels`).
    pub flavor_nodes: BTreeMap<String, Vec<String>>,
    /// Topology-Aware Scheduling requests and the node labels of their levels.
    pub tas: TasOptions,
}

impl KueueOptions {
    /// Each ClusterQueue's nominal GPUs over all its flavors: its share in reports.
    pub fn nominal_gpus(&self) -> BTreeMap<String, u32> {
        self.config
            .cluster_queues
            .keys()
            .map(|cq| {
                let gpus = self.config.nominal_gpus(cq);
                (cq.clone(), u32::try_from(gpus).unwrap_or(u32::MAX))
            })
            .collect()
    }

    /// The VCs of `cluster` read as ClusterQueues, for a scenario that brings no Kueue
    /// objects: one ResourceFlavor `gpu` on every node; each VC a ClusterQueue whose
    /// nominal quota is its guaranteed GPUs, all in one cohort `cluster` with no
    /// borrowing limit, BestEffortFIFO, preemption `withinClusterQueue: LowerPriority`
    /// and `reclaimWithinCohort: Any` (a common Kueue setup).
    pub fn of_cluster(cluster: &CellConfig) -> KueueOptions {
        use crate::kueue::{ClusterQueue, Flavor, FlavorQuota, Fungibility, Preemption};
        let flavor = "gpu".to_string();
        let mut config = KueueConfig::default();
        config.flavors.insert(
            flavor.clone(),
            Flavor {
                name: flavor.clone(),
                node_labels: BTreeMap::new(),
            },
        );
        for (vc, gpus) in crate::sched::guaranteed_gpus(cluster) {
            let cq = ClusterQueue {
                name: vc.clone(),
                cohort: Some("cluster".to_string()),
                flavors: vec![FlavorQuota {
                    flavor: flavor.clone(),
                    nominal: u64::from(gpus),
                    borrowing_limit: None,
                    lending_limit: None,
                }],
                queueing: QueueingStrategy::BestEffortFifo,
                preemption: Preemption {
                    within_cluster_queue: WithinClusterQueue::LowerPriority,
                    reclaim_within_cohort: ReclaimWithinCohort::Any,
                    borrow_within_cohort: None,
                },
                fungibility: Fungibility::default(),
                fair_weight: 1.0,
            };
            config.cluster_queues.insert(vc, cq);
        }
        let nodes = crate::kueue::nodes_of_config(cluster)
            .into_iter()
            .map(|n| n.name)
            .collect();
        KueueOptions {
            config,
            flavor_nodes: BTreeMap::from([(flavor, nodes)]),
            tas: TasOptions::default(),
        }
    }
}

/// One flavor as the layer uses it.
#[derive(Debug, Clone)]
struct FlavorNodes {
    name: String,
    /// Its nodes; `None` when it selects every node (no restriction to pass).
    nodes: Option<HashSet<String>>,
    /// GPUs of its largest node: a pod bigger than that never fits on it.
    biggest_node: u32,
}

/// The settings of one ClusterQueue the offers use.
#[derive(Debug, Clone, Copy)]
struct CqSpec {
    strict: bool,
    preemption: crate::kueue::Preemption,
    fungibility: crate::kueue::Fungibility,
}

/// An admitted workload.
#[derive(Debug, Clone, Copy)]
struct Admitted {
    cq: usize,
    flavor: usize,
    gpus: i64,
    priority: i32,
    /// When it joined the queue (Kueue's creation or requeue time) and in which order.
    queued: (SimTimeMs, u64),
    /// Admission order, for "most recently admitted first".
    admitted_seq: u64,
    /// When it was admitted: fair sharing takes no victim admitted at the current instant.
    admitted_ms: SimTimeMs,
    /// Its pods are placed. Until then it holds its quota with its pods pending, as
    /// Kueue admits by quota alone and leaves placement to kube-scheduler.
    placed: bool,
}

/// Kueue's admission and preemption over the shared allocator.
pub struct Kueue {
    pool: Pool,
    tree: QuotaTree,
    config: KueueConfig,
    /// ClusterQueue names by node index.
    cq_names: Vec<String>,
    /// Per ClusterQueue: its flavors' indices, in its order.
    cq_flavors: Vec<Vec<usize>>,
    /// Per ClusterQueue: its settings (looked up by index: offers are the hot path).
    cq_specs: Vec<CqSpec>,
    /// Per ClusterQueue: the other ClusterQueues of its cohort tree.
    cohort_peers: Vec<Vec<usize>>,
    flavors: Vec<FlavorNodes>,
    /// Per flavor: the flavors sharing a node with it (itself included): a release on
    /// one makes room on the others.
    flavor_overlap: Vec<Vec<usize>>,
    running: FastMap<String, Admitted>,
    /// Running workloads per ClusterQueue, by name (deterministic candidate order),
    /// with their records (a preemption scan reads them without a lookup each).
    running_by_cq: Vec<BTreeMap<String, Admitted>>,
    /// Waiting workloads: when they joined the queue and in which order.
    queued: FastMap<String, (SimTimeMs, u64)>,
    /// Per StrictFIFO ClusterQueue: the waiting head that blocks it (its queue key).
    blocked_by: HashMap<usize, (QueueKey, String)>,
    next_seq: u64,
    /// The time of the offer being answered.
    now_ms: SimTimeMs,
    /// Per cohort-tree root: bumped whenever a workload of the tree is admitted or
    /// leaves, the only changes a quota answer depends on.
    tree_gen: Vec<u64>,
    /// Bumped on every placement or release anywhere: placement answers depend on it.
    pool_gen: u64,
    /// Bumped when a waiting workload leaves or a node changes health.
    epoch: u64,
    /// Whether the decision being made looked at placement.
    touched_pool: bool,
    /// Topology-Aware Scheduling ([`tas`]).
    tas: tas::Tas,
    /// The last wait of each waiting workload and the state it was decided in: while
    /// that state holds, the answer is the same (Kueue likewise parks an inadmissible
    /// workload until its cohort changes). Under a policy that does not follow the
    /// layer's wake-ups the engine offers every waiting workload after each release,
    /// so this keeps those offers cheap on large clusters.
    memo: FastMap<String, Memo>,
    /// Waiting workloads by ClusterQueue, woken when quota is released in its cohort
    /// tree (as Kueue requeues its inadmissible workloads) or its StrictFIFO head
    /// leaves the queue.
    cq_waiters: Vec<FastSet<String>>,
    /// Per flavor: waiting workloads whose last answer came from placement on its
    /// nodes, woken when a release there makes room.
    pool_waiters: Vec<FastSet<String>>,
    /// Each waiting workload's ClusterQueue and the flavor whose placement it waits
    /// for, if any (to take it out of the sets above).
    waiter_of: FastMap<String, (usize, Option<usize>)>,
    /// ClusterQueues and flavors whose waiters were woken since the engine last asked
    /// ([`Layer::take_woken`]), each once, with a flag per index.
    woken_cqs: Vec<usize>,
    cq_woken: Vec<bool>,
    woken_flavors: Vec<usize>,
    flavor_woken: Vec<bool>,
    /// Workloads this layer chose as victims that the engine has not released yet: they
    /// return to the queue with their old place (Kueue orders a preempted workload by
    /// its creation time).
    evicting: FastSet<String>,
    /// The flavor whose placement the decision being made looked at.
    touched_flavor: Option<usize>,
    /// Fair sharing, when the Kueue Configuration turns it on ([`fair`]).
    fair: Option<crate::kueue::FairSharing>,
    /// The pass being ordered under fair sharing.
    plan: fair::Plan,
}

/// A remembered wait and the generations it was decided at.
#[derive(Debug, Clone)]
struct Memo {
    tree_gen: u64,
    pool_gen: Option<u64>,
    epoch: u64,
    wait: Wait,
}

/// A running workload a preemption may take, with what the choice reads.
#[derive(Debug, Clone)]
struct Candidate {
    name: String,
    /// Of another ClusterQueue (a reclaim) rather than the preemptor's own.
    other: bool,
    cq: usize,
    gpus: i64,
    priority: i32,
    admitted_seq: u64,
}

/// Kueue's queue order: higher priority first, then earlier queued.
type QueueKey = (Reverse<i32>, SimTimeMs, u64);

/// How a workload fits one flavor.
enum FlavorFit {
    Fits { borrows: bool },
    Preempts(Vec<String>),
    No(Wait),
}

impl Kueue {
    /// A `kueue` layer over `cluster` with the Kueue objects of `options`.
    /// Fails when a flavor's node list names a node the cluster does not have.
    pub fn new(cluster: &CellConfig, options: &KueueOptions) -> Result<Kueue, String> {
        let config = options.config.clone();
        let tree = QuotaTree::new(&config);
        let node_gpus: HashMap<String, u32> = crate::kueue::nodes_of_config(cluster)
            .into_iter()
            .map(|n| (n.name, n.gpus))
            .collect();
        let all_nodes = node_gpus.len();
        for (flavor, nodes) in &options.flavor_nodes {
            if let Some(node) = nodes.iter().find(|n| !node_gpus.contains_key(*n)) {
                return Err(format!(
                    "ResourceFlavor {flavor} selects node {node:?}, which the cluster does not have"
                ));
            }
        }
        let flavors: Vec<FlavorNodes> = tree
            .flavor_index
            .keys()
            .map(|name| {
                let nodes: HashSet<String> = options
                    .flavor_nodes
                    .get(name)
                    .into_iter()
                    .flatten()
                    .cloned()
                    .collect();
                let biggest_node = nodes.iter().map(|n| node_gpus[n]).max().unwrap_or(0);
                FlavorNodes {
                    name: name.clone(),
                    nodes: (nodes.len() < all_nodes).then_some(nodes),
                    biggest_node,
                }
            })
            .collect();
        let n = tree.cq_index.len();
        let mut cq_names = vec![String::new(); n];
        let mut cq_flavors = vec![Vec::new(); n];
        let mut cq_specs = Vec::with_capacity(n);
        let cohort_peers: Vec<Vec<usize>> = (0..n)
            .map(|i| (0..n).filter(|&j| j != i && tree.same_tree(i, j)).collect())
            .collect();
        for (name, &i) in &tree.cq_index {
            let spec = &config.cluster_queues[name];
            cq_specs.push(CqSpec {
                strict: spec.queueing == QueueingStrategy::StrictFifo,
                preemption: spec.preemption,
                fungibility: spec.fungibility,
            });
            cq_names[i] = name.clone();
            cq_flavors[i] = config.cluster_queues[name]
                .flavors
                .iter()
                .map(|q| tree.flavor_index[&q.flavor])
                .collect();
        }
        let tree_nodes = tree.node_count();
        let flavor_overlap = (0..flavors.len())
            .map(|a| {
                (0..flavors.len())
                    .filter(|&b| match (&flavors[a].nodes, &flavors[b].nodes) {
                        (Some(x), Some(y)) => a == b || !x.is_disjoint(y),
                        _ => true,
                    })
                    .collect()
            })
            .collect();
        let cq_count = cq_names.len();
        let flavor_count = flavors.len();
        Ok(Kueue {
            pool: Pool::new(cluster),
            running_by_cq: vec![BTreeMap::new(); cq_names.len()],
            tree,
            config,
            cq_names,
            cq_flavors,
            cq_specs,
            cohort_peers,
            flavors,
            flavor_overlap,
            running: FastMap::default(),
            queued: FastMap::default(),
            blocked_by: HashMap::new(),
            next_seq: 0,
            now_ms: 0,
            tree_gen: vec![0; tree_nodes],
            pool_gen: 0,
            epoch: 0,
            touched_pool: false,
            tas: tas::Tas::new(cluster, &options.tas),
            memo: FastMap::default(),
            cq_waiters: vec![FastSet::default(); cq_count],
            pool_waiters: vec![FastSet::default(); flavor_count],
            waiter_of: FastMap::default(),
            woken_cqs: Vec::new(),
            cq_woken: vec![false; cq_count],
            woken_flavors: Vec::new(),
            flavor_woken: vec![false; flavor_count],
            evicting: FastSet::default(),
            touched_flavor: None,
            fair: options.config.fair_sharing.clone(),
            plan: fair::Plan::default(),
        })
    }

    /// GPUs each ClusterQueue has admitted, per flavor name (for tests and reports).
    pub fn usage(&self, cq: &str, flavor: &str) -> Option<i64> {
        let c = *self.tree.cq_index.get(cq)?;
        let f = *self.tree.flavor_index.get(flavor)?;
        Some(self.tree.usage(c, f))
    }

    fn key_of(&self, priority: i32, queued: (SimTimeMs, u64)) -> QueueKey {
        (Reverse(priority), queued.0, queued.1)
    }

    /// How `request` (of ClusterQueue `cq`, `gpus` GPUs) fits flavor `f`.
    fn fit(&mut self, request: &GroupRequest, cq: usize, f: usize, gpus: i64) -> FlavorFit {
        let available = self.tree.available(cq, f);
        if gpus <= available {
            let borrows = self.tree.usage(cq, f) + gpus > self.tree.nominal(cq, f);
            return FlavorFit::Fits { borrows };
        }
        let queued = self.queued.get(&request.name).copied().unwrap_or((0, 0));
        let victims = if self.fair.is_some() {
            self.fair_preemption(request, cq, f, gpus, queued)
        } else {
            self.preemption(request, cq, f, gpus, queued)
        };
        if let Some(victims) = victims {
            return FlavorFit::Preempts(victims);
        }
        FlavorFit::No(self.quota_wait(cq, f, gpus, available))
    }

    fn quota_wait(&self, cq: usize, f: usize, gpus: i64, available: i64) -> Wait {
        let name = &self.cq_names[cq];
        let flavor = &self.flavors[f].name;
        let used = self.tree.usage(cq, f);
        let nominal = self.tree.nominal(cq, f);
        let free = u64::try_from(available.max(0)).unwrap_or(0);
        match self.tree.own_room(cq, f) {
            Some(room) if gpus > room => Wait::new(
                WaitKind::Quota,
                gpus as u64,
                Some(free),
                format!(
                    "waiting for quota: ClusterQueue {name} uses {used} of its {nominal} nominal GPUs of flavor {flavor}, may hold {} by its limits, and this workload needs {gpus}",
                    used + room
                ),
            ),
            _ => Wait::new(
                WaitKind::Capacity,
                gpus as u64,
                Some(free),
                format!(
                    "waiting for cohort capacity: ClusterQueue {name} may borrow, but its cohort has only {free} GPUs of flavor {flavor} to give and this workload needs {gpus}"
                ),
            ),
        }
    }

    /// Victims so that `request` fits flavor `f` of `cq`, as Kueue chooses them; `None`
    /// when preemption cannot make it fit.
    fn preemption(
        &mut self,
        request: &GroupRequest,
        cq: usize,
        f: usize,
        gpus: i64,
        queued: (SimTimeMs, u64),
    ) -> Option<Vec<String>> {
        let rules = self.cq_specs[cq].preemption;
        let priority = request.priority;
        let within = rules.within_cluster_queue;
        let reclaim = rules.reclaim_within_cohort;
        let own_ok = |w: &Admitted| {
            w.flavor == f
                && (w.priority < priority
                    || (within == WithinClusterQueue::LowerOrNewerEqualPriority
                        && w.priority == priority
                        && w.queued > queued))
        };
        let other_ok = |w: &Admitted| {
            w.flavor == f && (reclaim == ReclaimWithinCohort::Any || w.priority < priority)
        };
        let own = (within != WithinClusterQueue::Never).then_some(cq);
        let others: &[usize] = if reclaim == ReclaimWithinCohort::Never {
            &[]
        } else {
            &self.cohort_peers[cq]
        };
        // Taking every candidate away frees at most their GPUs: when even that is too
        // little, nobody is worth looking at (most waits on a busy cohort end here).
        let mut reachable = self.tree.available(cq, f);
        if let Some(c) = own {
            reachable += self.running_by_cq[c]
                .values()
                .filter(|w| own_ok(w))
                .map(|w| w.gpus)
                .sum::<i64>();
        }
        for &o in others {
            if self.tree.borrowing(o, f) {
                reachable += self.running_by_cq[o]
                    .values()
                    .filter(|w| other_ok(w))
                    .map(|w| w.gpus)
                    .sum::<i64>();
            }
        }
        if reachable < gpus {
            return None;
        }
        let mut candidates: Vec<Candidate> = Vec::new();
        let candidate = |name: &String, w: &Admitted, other: bool| Candidate {
            name: name.clone(),
            other,
            cq: w.cq,
            gpus: w.gpus,
            priority: w.priority,
            admitted_seq: w.admitted_seq,
        };
        if let Some(c) = own {
            for (name, w) in &self.running_by_cq[c] {
                if own_ok(w) {
                    candidates.push(candidate(name, w, false));
                }
            }
        }
        for &o in others {
            if !self.tree.borrowing(o, f) {
                continue;
            }
            for (name, w) in &self.running_by_cq[o] {
                if other_ok(w) {
                    candidates.push(candidate(name, w, true));
                }
            }
        }
        if candidates.is_empty() {
            return None;
        }
        // Kueue's order: other ClusterQueues first, lower priority first, most recently
        // admitted first.
        candidates.sort_by_key(|c| (Reverse(c.other), c.priority, Reverse(c.admitted_seq)));
        if candidates.iter().all(|c| !c.other) {
            return self.minimal(&candidates, cq, f, gpus, true);
        }
        if let Some(threshold) = rules.borrow_within_cohort {
            let allowed: Vec<Candidate> = candidates
                .iter()
                .filter(|c| {
                    !c.other || (c.priority < priority && threshold.is_none_or(|t| c.priority <= t))
                })
                .cloned()
                .collect();
            if let Some(victims) = self.minimal(&allowed, cq, f, gpus, true) {
                return Some(victims);
            }
        }
        if let Some(victims) = self.minimal(&candidates, cq, f, gpus, false) {
            return Some(victims);
        }
        let same: Vec<Candidate> = candidates.into_iter().filter(|c| !c.other).collect();
        self.minimal(&same, cq, f, gpus, true)
    }

    /// Kueue's minimal preemption set: take candidates away in order until the workload
    /// fits (without borrowing unless `allow_borrowing`), then give back every one it
    /// still fits without, last taken first.
    fn minimal(
        &mut self,
        candidates: &[Candidate],
        cq: usize,
        f: usize,
        gpus: i64,
        allow_borrowing: bool,
    ) -> Option<Vec<String>> {
        let fits = |tree: &QuotaTree| {
            gpus <= tree.available(cq, f)
                && (allow_borrowing || tree.usage(cq, f) + gpus <= tree.nominal(cq, f))
        };
        let mut taken: Vec<usize> = Vec::new(); // candidate indices
        let mut found = false;
        for (i, c) in candidates.iter().enumerate() {
            // A lender taken back to its nominal quota is no longer a reclaim target.
            if c.other && !self.tree.borrowing(c.cq, f) {
                continue;
            }
            self.tree.add_usage(c.cq, f, -c.gpus);
            taken.push(i);
            if fits(&self.tree) {
                found = true;
                break;
            }
        }
        let mut victims = Vec::new();
        if found {
            // Give back, from the one before the last down to the first, what is not needed.
            let mut keep = vec![true; taken.len()];
            for t in (0..taken.len().saturating_sub(1)).rev() {
                let c = &candidates[taken[t]];
                self.tree.add_usage(c.cq, f, c.gpus);
                if fits(&self.tree) {
                    keep[t] = false;
                } else {
                    self.tree.add_usage(c.cq, f, -c.gpus);
                }
            }
            for (t, &i) in taken.iter().enumerate() {
                if keep[t] {
                    let c = &candidates[i];
                    victims.push(c.name.clone());
                    self.tree.add_usage(c.cq, f, c.gpus);
                }
            }
        } else {
            for &i in &taken {
                let c = &candidates[i];
                self.tree.add_usage(c.cq, f, c.gpus);
            }
        }
        found.then_some(victims)
    }

    /// Preempts `victims` only if the workload can then be placed on flavor `f`'s nodes
    /// (asked of the pool by a trial that is rolled back): here a workload is admitted
    /// on quota it takes from victims only when it can then run, so that a preemption
    /// never frees quota the preemptor cannot use.
    fn preempt_if_placeable(
        &mut self,
        request: &GroupRequest,
        f: usize,
        victims: Vec<String>,
    ) -> Verdict {
        self.touched_pool = true;
        self.touched_flavor = Some(f);
        let fits = {
            let mut trial = self.pool.trial();
            for name in &victims {
                trial.release(name);
            }
            trial.fits_on(request, self.flavors[f].nodes.as_ref())
        };
        if !fits {
            let kind = if request.pod_count() > 1 {
                WaitKind::Gang
            } else {
                WaitKind::Shape
            };
            return Verdict::Wait(Wait::new(
                kind,
                request.leaf_count(),
                None,
                format!(
                    "waiting for room on the nodes of flavor {}: preempting {} workload(s) would free quota but not room for {}",
                    self.flavors[f].name,
                    victims.len(),
                    request.shape()
                ),
            ));
        }
        self.evicting.extend(victims.iter().cloned());
        Verdict::Preempt(
            victims
                .into_iter()
                .map(|name| {
                    let w = &self.running[&name];
                    Victim {
                        pods: self
                            .pool
                            .placement(&name)
                            .map(|p| p.pods)
                            .unwrap_or_default(),
                        virtual_cluster: self.cq_names[w.cq].clone(),
                        priority: w.priority,
                        group: name,
                    }
                })
                .collect(),
        )
    }

    /// Admits `request` on flavor `f` by quota (the quota is held from now on, as Kueue
    /// reserves it at admission), then places its pods.
    fn admit(
        &mut self,
        request: &GroupRequest,
        cq: usize,
        f: usize,
        gpus: i64,
        ctx: &OfferContext<'_>,
    ) -> Verdict {
        if let Some(wait) = self.unassignable_topology(request, f) {
            // Waits for room on the flavor's nodes, not for quota.
            self.touched_pool = true;
            self.touched_flavor = Some(f);
            return Verdict::Wait(wait);
        }
        self.tree.add_usage(cq, f, gpus);
        self.tree_gen[self.tree.root_of(cq)] += 1;
        let queued = self.queued.remove(&request.name).unwrap_or((ctx.now_ms, 0));
        let admitted = Admitted {
            cq,
            flavor: f,
            gpus,
            priority: request.priority,
            queued,
            admitted_seq: self.next_seq,
            admitted_ms: ctx.now_ms,
            placed: false,
        };
        self.next_seq += 1;
        self.running.insert(request.name.clone(), admitted);
        self.running_by_cq[cq].insert(request.name.clone(), admitted);
        // Admitted, it no longer heads its StrictFIFO queue, even while its pods wait.
        self.left_queue(cq, &request.name);
        self.place_admitted(request, admitted)
    }

    /// Places the pods of admitted workload `w` on its flavor's nodes; while they do not
    /// fit it waits holding its quota (a `shape` or `gang` wait: placement).
    fn place_admitted(&mut self, request: &GroupRequest, w: Admitted) -> Verdict {
        let f = w.flavor;
        self.touched_pool = true;
        self.touched_flavor = Some(f);
        match self.place_on_flavor(request, f) {
            PoolAnswer::Bind(placement) => {
                self.pool_gen += 1;
                self.memo.remove(&request.name);
                for record in [
                    self.running.get_mut(&request.name),
                    self.running_by_cq[w.cq].get_mut(&request.name),
                ]
                .into_iter()
                .flatten()
                {
                    record.placed = true;
                }
                Verdict::Start(placement)
            }
            PoolAnswer::Wait(wait) => {
                // Whatever the pool says (fragmented or full), this is placement delay:
                // the quota is the workload's already.
                let kind = if request.pod_count() > 1 {
                    WaitKind::Gang
                } else {
                    WaitKind::Shape
                };
                let sentence = format!(
                    "waiting for placement: admitted by quota on flavor {} (holding {} GPUs of ClusterQueue {}), pods pending: {}",
                    self.flavors[f].name, w.gpus, self.cq_names[w.cq], wait.sentence
                );
                Verdict::Wait(Wait {
                    kind,
                    sentence,
                    ..wait
                })
            }
            PoolAnswer::Reject(reason) => {
                self.unadmit(&request.name);
                Verdict::Reject(reason)
            }
        }
    }

    /// Takes an admitted workload out (finished, preempted, gone or refused): its quota
    /// goes back, which wakes its cohort tree and the waiters on its flavor's nodes.
    fn unadmit(&mut self, group: &str) -> Option<Admitted> {
        let w = self.running.remove(group)?;
        self.tree.add_usage(w.cq, w.flavor, -w.gpus);
        self.running_by_cq[w.cq].remove(group);
        self.tree_gen[self.tree.root_of(w.cq)] += 1;
        self.wake_tree(w.cq);
        self.wake_pool(w.flavor);
        Some(w)
    }
}

impl Layer for Kueue {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn owns_queue_order(&self) -> bool {
        true
    }

    fn orders_offers(&self) -> bool {
        self.fair.is_some()
    }

    fn plan_offers(&mut self, groups: &[&GroupRequest]) {
        Kueue::plan_offers(self, groups);
    }

    fn next_offer(&mut self) -> Option<usize> {
        self.next_planned()
    }

    fn share_gpus(&self, vc: &str) -> Option<u64> {
        self.config
            .cluster_queues
            .contains_key(vc)
            .then(|| self.config.nominal_gpus(vc))
    }

    fn offer(&mut self, request: &GroupRequest, ctx: &mut OfferContext<'_>) -> Verdict {
        self.now_ms = ctx.now_ms;
        let vc = &request.virtual_cluster;
        let Some(&cq) = self.tree.cq_index.get(vc) else {
            return Verdict::Reject(format!(
                "unknown ClusterQueue {vc:?}; the Kueue objects define {}",
                self.cq_names.join(", ")
            ));
        };
        let tree_gen = self.tree_gen[self.tree.root_of(cq)];
        if let Some(memo) = self.memo.get(&request.name) {
            let valid = memo.tree_gen == tree_gen
                && memo.epoch == self.epoch
                && memo.pool_gen.is_none_or(|g| g == self.pool_gen);
            if valid {
                return Verdict::Wait(memo.wait.clone());
            }
        }
        self.touched_pool = false;
        self.touched_flavor = None;
        let verdict = self.decide(request, cq, ctx);
        if let Verdict::Wait(wait) = &verdict {
            let memo = Memo {
                tree_gen,
                pool_gen: self.touched_pool.then_some(self.pool_gen),
                epoch: self.epoch,
                wait: wait.clone(),
            };
            self.memo.insert(request.name.clone(), memo);
            let flavor = if self.touched_pool {
                self.touched_flavor
            } else {
                None
            };
            self.register_waiter(&request.name, cq, flavor);
        } else {
            self.memo.remove(&request.name);
            self.unregister_waiter(&request.name);
            self.left_queue(cq, &request.name);
        }
        verdict
    }

    fn admitted_waiting(&self, request: &GroupRequest) -> bool {
        self.running.contains_key(&request.name)
    }

    fn shortcuts(&self) -> Shortcuts {
        Shortcuts {
            waits_hold_until_free: true,
            // A StrictFIFO head and the workloads behind it may be of one class and
            // get different answers (the head is asked, the others wait behind it).
            same_class_same_answer: false,
        }
    }

    fn take_woken(&mut self, woken: &mut Vec<String>) -> bool {
        for cq in self.woken_cqs.drain(..) {
            self.cq_woken[cq] = false;
            woken.extend(self.cq_waiters[cq].iter().cloned());
        }
        for f in self.woken_flavors.drain(..) {
            self.flavor_woken[f] = false;
            woken.extend(self.pool_waiters[f].iter().cloned());
        }
        true
    }

    fn fits_without(&mut self, request: &GroupRequest, released: &[String]) -> bool {
        let Some(&cq) = self.tree.cq_index.get(&request.virtual_cluster) else {
            return false;
        };
        let gpus = i64::try_from(request.leaf_count()).unwrap_or(i64::MAX);
        // The victims' quota is given back for the question and taken again after it.
        let freed: Vec<(usize, usize, i64)> = released
            .iter()
            .filter_map(|g| self.running.get(g))
            .map(|w| (w.cq, w.flavor, w.gpus))
            .collect();
        for &(c, f, g) in &freed {
            self.tree.add_usage(c, f, -g);
        }
        let by_quota: Vec<usize> = self.cq_flavors[cq]
            .iter()
            .copied()
            .filter(|&f| gpus <= self.tree.available(cq, f))
            .collect();
        for &(c, f, g) in &freed {
            self.tree.add_usage(c, f, g);
        }
        if by_quota.is_empty() {
            return false;
        }
        // Then room on one of those flavors' nodes, by a trial on the pool.
        let mut trial = self.pool.trial();
        for name in released {
            trial.release(name);
        }
        by_quota
            .into_iter()
            .any(|f| trial.fits_on(request, self.flavors[f].nodes.as_ref()))
    }

    fn release(&mut self, group: &str) {
        if let Some(w) = self.unadmit(group) {
            // A victim of this layer goes back to the queue at its old place.
            if self.evicting.remove(group) {
                self.queued.insert(group.to_string(), w.queued);
            }
        } else if self.queued.remove(group).is_some() {
            // A waiting workload left: a StrictFIFO queue it headed may move.
            self.epoch += 1;
            if let Some(&(cq, _)) = self.waiter_of.get(group) {
                self.left_queue(cq, group);
            }
            self.unregister_waiter(group);
        }
        self.memo.remove(group);
        self.pool.release(group);
        self.pool_gen += 1;
    }

    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        self.epoch += 1;
        self.pool_gen += 1;
        for cq in 0..self.cq_waiters.len() {
            self.wake_cq(cq);
        }
        self.pool.set_node_health(node, healthy)
    }
}

impl Kueue {
    /// Files a waiting workload under its ClusterQueue, and under the flavor whose
    /// placement it waits for.
    fn register_waiter(&mut self, name: &str, cq: usize, flavor: Option<usize>) {
        if let Some((_, Some(old))) = self.waiter_of.insert(name.to_string(), (cq, flavor))
            && Some(old) != flavor
        {
            self.pool_waiters[old].remove(name);
        }
        if !self.cq_waiters[cq].contains(name) {
            self.cq_waiters[cq].insert(name.to_string());
        }
        if let Some(f) = flavor
            && !self.pool_waiters[f].contains(name)
        {
            self.pool_waiters[f].insert(name.to_string());
        }
    }

    /// Takes a workload that no longer waits out of the waiters.
    fn unregister_waiter(&mut self, name: &str) {
        if let Some((cq, flavor)) = self.waiter_of.remove(name) {
            self.cq_waiters[cq].remove(name);
            if let Some(f) = flavor {
                self.pool_waiters[f].remove(name);
            }
        }
    }

    /// A workload of `cq` left the queue (admitted, preempting, rejected or gone): if
    /// it was the head a StrictFIFO queue waited behind, the others may move.
    fn left_queue(&mut self, cq: usize, name: &str) {
        if self
            .blocked_by
            .get(&cq)
            .is_some_and(|(_, head)| head == name)
        {
            self.blocked_by.remove(&cq);
            self.wake_cq(cq);
        }
    }

    /// Wakes the waiting workloads of ClusterQueue `cq` (named when the engine asks).
    fn wake_cq(&mut self, cq: usize) {
        if !self.cq_woken[cq] {
            self.cq_woken[cq] = true;
            self.woken_cqs.push(cq);
        }
    }

    /// Wakes the waiting workloads of `cq`'s cohort tree: quota was released there.
    fn wake_tree(&mut self, cq: usize) {
        self.wake_cq(cq);
        for i in 0..self.cohort_peers[cq].len() {
            self.wake_cq(self.cohort_peers[cq][i]);
        }
    }

    /// Wakes the workloads waiting for room on nodes that flavor `f` shares.
    fn wake_pool(&mut self, f: usize) {
        for &g in &self.flavor_overlap[f] {
            if !self.flavor_woken[g] {
                self.flavor_woken[g] = true;
                self.woken_flavors.push(g);
            }
        }
    }

    /// The decision for `request` of ClusterQueue `cq`, worked out afresh.
    fn decide(&mut self, request: &GroupRequest, cq: usize, ctx: &mut OfferContext<'_>) -> Verdict {
        if let Some(&w) = self.running.get(&request.name) {
            // Admitted by quota earlier; its pods wait for room.
            return self.place_admitted(request, w);
        }
        let vc = &request.virtual_cluster;
        let gpus = i64::try_from(request.leaf_count()).unwrap_or(i64::MAX);
        let queued = match self.queued.get(&request.name) {
            Some(&q) => q,
            None => {
                let q = (ctx.now_ms, self.next_seq);
                self.next_seq += 1;
                self.queued.insert(request.name.clone(), q);
                q
            }
        };
        let key = self.key_of(request.priority, queued);
        let strict = self.cq_specs[cq].strict;
        if strict
            && let Some((head_key, head)) = self.blocked_by.get(&cq)
            && *head != request.name
            && *head_key < key
            && self.queued.contains_key(head)
        {
            return Verdict::Wait(Wait::new(
                WaitKind::Queue,
                gpus as u64,
                None,
                format!("waiting behind {head}, the head of StrictFIFO ClusterQueue {vc}"),
            ));
        }
        let largest_pod = request
            .members
            .iter()
            .map(|m| m.leaf_cell_number)
            .max()
            .unwrap_or(0);
        let fungibility = self.cq_specs[cq].fungibility;
        let mut first_wait: Option<Wait> = None;
        let mut borrow_choice: Option<usize> = None;
        let mut preempt_choice: Option<(usize, Vec<String>)> = None;
        let mut chosen: Option<usize> = None;
        let mut possible = false;
        for i in 0..self.cq_flavors[cq].len() {
            let f = self.cq_flavors[cq][i];
            if largest_pod > self.flavors[f].biggest_node || gpus > self.tree.potential(cq, f) {
                continue;
            }
            possible = true;
            match self.fit(request, cq, f, gpus) {
                FlavorFit::Fits { borrows: false } => {
                    chosen = Some(f);
                    break;
                }
                FlavorFit::Fits { borrows: true } => {
                    if fungibility.stop_when_can_borrow {
                        chosen = Some(f);
                        break;
                    }
                    borrow_choice.get_or_insert(f);
                }
                FlavorFit::Preempts(victims) => {
                    if fungibility.stop_when_can_preempt && borrow_choice.is_none() {
                        preempt_choice = Some((f, victims));
                        break;
                    }
                    if preempt_choice.is_none() {
                        preempt_choice = Some((f, victims));
                    }
                }
                FlavorFit::No(wait) => {
                    first_wait.get_or_insert(wait);
                }
            }
        }
        if !possible {
            self.queued.remove(&request.name);
            return Verdict::Reject(format!(
                "workload {:?} needs {gpus} GPUs ({}) but no flavor of ClusterQueue {vc} could ever hold it \
                 (its quota with everything it may borrow, or the largest node of the flavor, is smaller); \
                 raise the quota or ask for fewer GPUs",
                request.name,
                request.shape()
            ));
        }
        let verdict = match (chosen.or(borrow_choice), preempt_choice) {
            (Some(f), _) => self.admit(request, cq, f, gpus, ctx),
            (None, Some((f, victims))) => self.preempt_if_placeable(request, f, victims),
            (None, None) => Verdict::Wait(first_wait.expect("a possible flavor gave a reason")),
        };
        if strict && matches!(verdict, Verdict::Wait(_)) {
            let replace = self
                .blocked_by
                .get(&cq)
                .is_none_or(|(k, head)| key <= *k || !self.queued.contains_key(head));
            if replace {
                self.blocked_by.insert(cq, (key, request.name.clone()));
            }
        }
        verdict
    }
}

#[cfg(test)]
mod tests;
