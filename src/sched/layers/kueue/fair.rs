//! Kueue's fair sharing (on when the Kueue `Configuration` has `fairSharing`), as its
//! scheduler does it (`pkg/scheduler/fair_sharing_iterator.go`,
//! `pkg/scheduler/preemption/fairsharing/`), with shares from [`super::quota`]:
//!
//! - **Admission order**: of the workloads the engine is about to offer, each
//!   ClusterQueue's first (in the policy's order) is its head; within a cohort tree a
//!   tournament runs from the root down: at each Cohort, the child (Cohort or
//!   ClusterQueue) whose share *after admitting its nominated head* is lowest wins, a child
//!   not borrowing on the head's flavor before one that is (Kueue's default
//!   `FairSharingPrioritizeNonBorrowing`), then higher priority, then earlier in the
//!   queue. Trees take turns by their earliest head; a ClusterQueue without a cohort
//!   offers its head straight away.
//! - **Preemption**: candidates as Kueue finds them (its own by `withinClusterQueue`,
//!   borrowing ClusterQueues' of the tree by `reclaimWithinCohort`), taken from the
//!   ClusterQueue reached by always entering the child with the highest share; a
//!   workload of another ClusterQueue goes only when the strategy allows it (comparing
//!   the shares of the two children of their lowest common Cohort), or unconditionally
//!   when the preemptor stays within its nominal quota; then every victim the workload
//!   fits without is given back.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, HashMap, VecDeque};

use super::quota::{QuotaTree, Share};
use super::{Candidate, Kueue};
use crate::cell::GroupRequest;
use crate::kueue::{FairStrategy, ReclaimWithinCohort, WithinClusterQueue};
use crate::sim::SimTimeMs;

/// One group of the pass being ordered.
#[derive(Debug, Clone, Copy)]
struct Planned {
    gpus: i64,
    priority: i32,
}

/// The pass being ordered: the groups the engine will offer, queued per ClusterQueue.
#[derive(Debug, Default)]
pub(super) struct Plan {
    entries: Vec<Planned>,
    /// Per ClusterQueue: its planned groups, in the engine's order.
    per_cq: Vec<VecDeque<usize>>,
    /// (index of its head, ClusterQueue) of each ClusterQueue with planned groups.
    heads: BTreeSet<(usize, usize)>,
    /// The same per cohort-tree root (a tournament looks at one tree only).
    tree_heads: HashMap<usize, BTreeSet<(usize, usize)>>,
    /// ClusterQueues with planned groups (emptied at the next plan, not all of them).
    touched: Vec<usize>,
    /// Groups of unknown ClusterQueues (offered first, to be rejected).
    loose: VecDeque<usize>,
}

impl Kueue {
    /// Takes the groups of a pass, in the engine's order (see [`Plan`]).
    pub(super) fn plan_offers(&mut self, groups: &[&GroupRequest]) {
        let n = self.cq_names.len();
        let plan = &mut self.plan;
        plan.entries.clear();
        plan.heads.clear();
        plan.tree_heads.clear();
        plan.loose.clear();
        plan.per_cq.resize_with(n, VecDeque::new);
        for &cq in &plan.touched {
            plan.per_cq[cq].clear();
        }
        plan.touched.clear();
        for (i, r) in groups.iter().enumerate() {
            let Some(&cq) = self.tree.cq_index.get(&r.virtual_cluster) else {
                plan.loose.push_back(i);
                plan.entries.push(Planned {
                    gpus: 0,
                    priority: 0,
                });
                continue;
            };
            plan.entries.push(Planned {
                gpus: i64::try_from(r.leaf_count()).unwrap_or(i64::MAX),
                priority: r.priority,
            });
            if plan.per_cq[cq].is_empty() {
                plan.heads.insert((i, cq));
                plan.tree_heads
                    .entry(self.tree.root_of(cq))
                    .or_default()
                    .insert((i, cq));
                plan.touched.push(cq);
            }
            plan.per_cq[cq].push_back(i);
        }
    }

    /// The next group of the plan to offer, taken out of it; `None` when all were.
    pub(super) fn next_planned(&mut self) -> Option<usize> {
        if let Some(i) = self.plan.loose.pop_front() {
            return Some(i);
        }
        let &(_, first) = self.plan.heads.first()?;
        let winner = match self.tree.parent(first) {
            None => first,
            Some(_) => {
                let root = self.tree.root_of(first);
                let levels = self.head_levels(root);
                self.tournament(root, &levels).unwrap_or(first)
            }
        };
        let root = self.tree.root_of(winner);
        let plan = &mut self.plan;
        let i = plan.per_cq[winner].pop_front()?;
        plan.heads.remove(&(i, winner));
        let tree_heads = plan.tree_heads.entry(root).or_default();
        tree_heads.remove(&(i, winner));
        if let Some(&next) = plan.per_cq[winner].front() {
            plan.heads.insert((next, winner));
            tree_heads.insert((next, winner));
        }
        Some(i)
    }

    /// The flavor a head's share is computed on: the first of its ClusterQueue's flavors
    /// it fits by quota now, else the first it could ever fit, else the first (Kueue
    /// computes it on the flavor its assigner chose).
    fn head_flavor(&self, cq: usize, gpus: i64) -> Option<usize> {
        let flavors = &self.cq_flavors[cq];
        flavors
            .iter()
            .copied()
            .find(|&f| gpus <= self.tree.available(cq, f))
            .or_else(|| {
                flavors
                    .iter()
                    .copied()
                    .find(|&f| gpus <= self.tree.potential(cq, f))
            })
            .or_else(|| flavors.first().copied())
    }

    /// For each head of the tree under `root` and each Cohort above it: the share of the
    /// Cohort's child on the head's path once the head is admitted, and whether that
    /// child then borrows on the head's flavor.
    fn head_levels(&mut self, root: usize) -> HashMap<(usize, usize), (Share, bool)> {
        let mut levels = HashMap::new();
        let heads: Vec<(usize, usize)> = self
            .plan
            .tree_heads
            .get(&root)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        for (i, cq) in heads {
            let gpus = self.plan.entries[i].gpus;
            // A ClusterQueue without GPU flavors has nothing to add (its workloads are
            // rejected when offered).
            let f = self.head_flavor(cq, gpus);
            if let Some(f) = f {
                self.tree.add_usage(cq, f, gpus);
            }
            let mut node = cq;
            while let Some(p) = self.tree.parent(node) {
                let borrows = f.is_some_and(|f| self.tree.borrows_on(node, f));
                levels.insert((p, i), (self.tree.share(node), borrows));
                node = p;
            }
            if let Some(f) = f {
                self.tree.add_usage(cq, f, -gpus);
            }
        }
        levels
    }

    /// Kueue's tournament below Cohort `cohort`: the group its children nominate.
    fn tournament(
        &self,
        cohort: usize,
        levels: &HashMap<(usize, usize), (Share, bool)>,
    ) -> Option<usize> {
        let cqs = self.cq_names.len();
        let mut best: Option<(usize, usize)> = None; // (entry, ClusterQueue)
        for &child in self.tree.children(cohort) {
            let nominee = if child >= cqs {
                self.tournament(child, levels)
                    .map(|cq| (self.plan.per_cq[cq][0], cq))
            } else {
                self.plan.per_cq[child].front().map(|&i| (i, child))
            };
            let Some(nominee) = nominee else { continue };
            let better = best.is_none_or(|b| {
                let (a, b) = (nominee.0, b.0);
                let (sa, borrow_a) = levels[&(cohort, a)];
                let (sb, borrow_b) = levels[&(cohort, b)];
                let (pa, pb) = (self.plan.entries[a].priority, self.plan.entries[b].priority);
                if borrow_a != borrow_b {
                    return !borrow_a;
                }
                match sa.cmp_fair(sb) {
                    Ordering::Less => true,
                    Ordering::Greater => false,
                    Ordering::Equal => (Reverse(pa), a) < (Reverse(pb), b),
                }
            });
            if better {
                best = Some(nominee);
            }
        }
        best.map(|(_, cq)| cq)
    }

    /// Fair-sharing victims so that `request` (`gpus` GPUs) fits flavor `f` of `cq`, as
    /// Kueue's `fairPreemptions` picks them; `None` when the strategies do not allow
    /// enough.
    pub(super) fn fair_preemption(
        &mut self,
        request: &GroupRequest,
        cq: usize,
        f: usize,
        gpus: i64,
        queued: (SimTimeMs, u64),
    ) -> Option<Vec<String>> {
        let strategies = self.fair.as_ref()?.preemption_strategies.clone();
        let rules = self.cq_specs[cq].preemption;
        let priority = request.priority;
        let within = rules.within_cluster_queue;
        let reclaim = rules.reclaim_within_cohort;
        let mut candidates: Vec<Candidate> = Vec::new();
        let candidate = |name: &String, w: &super::Admitted, other: bool| Candidate {
            name: name.clone(),
            other,
            cq: w.cq,
            gpus: w.gpus,
            priority: w.priority,
            admitted_seq: w.admitted_seq,
        };
        if within != WithinClusterQueue::Never {
            for (name, w) in &self.running_by_cq[cq] {
                let newer_equal = within == WithinClusterQueue::LowerOrNewerEqualPriority
                    && w.priority == priority
                    && w.queued > queued;
                if w.flavor == f && (w.priority < priority || newer_equal) {
                    candidates.push(candidate(name, w, false));
                }
            }
        }
        if reclaim != ReclaimWithinCohort::Never {
            for &o in &self.cohort_peers[cq] {
                if !self.tree.borrowing(o, f) {
                    continue;
                }
                for (name, w) in &self.running_by_cq[o] {
                    // Not one admitted this instant: in Kueue an eviction takes time
                    // (pods stop, the workload is requeued), so two ClusterQueues do not
                    // take GPUs back and forth at one instant, as an instantaneous model
                    // of the strategies would (a 16-GPU and a 1-GPU workload preempted
                    // each other 2,500 times at one instant of the 5k scale trace).
                    if w.admitted_ms == self.now_ms {
                        continue;
                    }
                    if w.flavor == f
                        && (reclaim == ReclaimWithinCohort::Any || w.priority < priority)
                    {
                        candidates.push(candidate(name, w, true));
                    }
                }
            }
        }
        // Taking every candidate frees at most their GPUs.
        let reachable = self.tree.available(cq, f) + candidates.iter().map(|c| c.gpus).sum::<i64>();
        if candidates.is_empty() || reachable < gpus {
            return None;
        }
        // Kueue's candidate order: other ClusterQueues first, lower priority, most
        // recently admitted.
        candidates.sort_by_key(|c| (Reverse(c.other), c.priority, Reverse(c.admitted_seq)));
        let mut search = FairSearch {
            tree: &mut self.tree,
            candidates: &candidates,
            preemptor: cq,
            f,
            gpus,
            targets: Vec::new(),
        };
        // Shares include the incoming workload, as in Kueue.
        search.tree.add_usage(cq, f, gpus);
        let all: Vec<usize> = (0..candidates.len()).collect();
        let (mut fits, retry) = search.first_strategy(&all, strategies[0]);
        if !fits && strategies.len() > 1 {
            fits = search.second_strategy(&retry);
        }
        search.tree.add_usage(cq, f, -gpus);
        let mut targets = std::mem::take(&mut search.targets);
        if fits {
            // Give back, from the one before the last down to the first, every victim
            // the workload fits without.
            // The preemptor's usage is out of the tree by now, so the question is
            // asked directly (not through `fits`, which would take it out twice).
            for t in (0..targets.len().saturating_sub(1)).rev() {
                let c = &candidates[targets[t]];
                search.tree.add_usage(c.cq, f, c.gpus);
                if gpus <= search.tree.available(cq, f) {
                    targets.remove(t);
                } else {
                    search.tree.add_usage(c.cq, f, -c.gpus);
                }
            }
        }
        for &t in &targets {
            let c = &candidates[t];
            search.tree.add_usage(c.cq, f, c.gpus);
        }
        fits.then(|| {
            targets
                .into_iter()
                .map(|t| candidates[t].name.clone())
                .collect()
        })
    }
}

/// One fair-sharing preemption search over the tree, with the preemptor's usage added.
struct FairSearch<'a> {
    tree: &'a mut QuotaTree,
    candidates: &'a [Candidate],
    preemptor: usize,
    f: usize,
    gpus: i64,
    /// Candidates taken so far (their usage is out of the tree).
    targets: Vec<usize>,
}

/// Kueue's `TargetClusterQueueOrdering`: the candidates left per ClusterQueue and what
/// was pruned.
struct TargetOrdering {
    per_cq: HashMap<usize, VecDeque<usize>>,
    pruned: BTreeSet<usize>,
}

impl FairSearch<'_> {
    /// Whether the workload fits now (its own usage taken out for the question).
    fn fits(&mut self) -> bool {
        self.tree.add_usage(self.preemptor, self.f, -self.gpus);
        let fits = self.gpus <= self.tree.available(self.preemptor, self.f);
        self.tree.add_usage(self.preemptor, self.f, self.gpus);
        fits
    }

    fn take(&mut self, candidate: usize) {
        let c = &self.candidates[candidate];
        self.tree.add_usage(c.cq, self.f, -c.gpus);
        self.targets.push(candidate);
    }

    fn ordering(&self, candidates: &[usize]) -> TargetOrdering {
        let mut per_cq: HashMap<usize, VecDeque<usize>> = HashMap::new();
        for &c in candidates {
            per_cq
                .entry(self.candidates[c].cq)
                .or_default()
                .push_back(c);
        }
        TargetOrdering {
            per_cq,
            pruned: BTreeSet::new(),
        }
    }

    /// Whether `cohort` is an ancestor of the preemptor.
    fn on_preemptor_path(&self, cohort: usize) -> bool {
        let mut at = self.preemptor;
        while let Some(p) = self.tree.parent(at) {
            if p == cohort {
                return true;
            }
            at = p;
        }
        false
    }

    /// The next ClusterQueue to take candidates from (Kueue's `nextTarget`, iterated
    /// until it yields one); `None` once the root is pruned.
    fn next_target(&self, ordering: &mut TargetOrdering) -> Option<usize> {
        let Some(_) = self.tree.parent(self.preemptor) else {
            let has = ordering
                .per_cq
                .get(&self.preemptor)
                .is_some_and(|q| !q.is_empty());
            return (has && !ordering.pruned.contains(&self.preemptor)).then_some(self.preemptor);
        };
        let root = self.tree.root_of(self.preemptor);
        while !ordering.pruned.contains(&root) {
            if let Some(cq) = self.target_below(root, ordering) {
                return Some(cq);
            }
        }
        None
    }

    fn target_below(&self, cohort: usize, ordering: &mut TargetOrdering) -> Option<usize> {
        let cqs = self.tree.cq_index.len();
        let mut best_cq: Option<(usize, Share)> = None;
        let mut best_cohort: Option<(usize, Share)> = None;
        for &child in self.tree.children(cohort) {
            if ordering.pruned.contains(&child) {
                continue;
            }
            let share = self.tree.share(child);
            if child < cqs {
                let front = ordering.per_cq.get(&child).and_then(|q| q.front().copied());
                let Some(front) = front else {
                    ordering.pruned.insert(child);
                    continue;
                };
                if !share.borrowing && child != self.preemptor {
                    ordering.pruned.insert(child);
                    continue;
                }
                best_cq = match best_cq {
                    None => Some((child, share)),
                    Some((b, bs)) => match share.cmp_fair(bs) {
                        Ordering::Greater => Some((child, share)),
                        Ordering::Equal => {
                            let key = |c: usize| {
                                let c = &self.candidates[c];
                                (Reverse(c.other), c.priority, Reverse(c.admitted_seq))
                            };
                            let other = ordering.per_cq[&b][0];
                            if key(front) < key(other) {
                                Some((child, share))
                            } else {
                                Some((b, bs))
                            }
                        }
                        Ordering::Less => Some((b, bs)),
                    },
                };
            } else if !share.borrowing && !self.on_preemptor_path(child) {
                ordering.pruned.insert(child);
            } else if best_cohort.is_none_or(|(_, bs)| share.cmp_fair(bs) != Ordering::Less) {
                best_cohort = Some((child, share));
            }
        }
        match (best_cohort, best_cq) {
            (None, None) => {
                ordering.pruned.insert(cohort);
                None
            }
            // A tie goes to the Cohort: within it the most unfair node can be chosen.
            (Some((c, cs)), q) if q.is_none_or(|(_, qs)| cs.cmp_fair(qs) != Ordering::Less) => {
                self.target_below(c, ordering)
            }
            (_, Some((q, _))) => Some(q),
            (Some(_), None) => unreachable!("handled by the arm above"),
        }
    }

    /// The child of the lowest common Cohort of the preemptor and `target` on `node`'s
    /// path (Kueue's almost-LCA), whose share the strategies compare.
    fn almost_lca(&self, node: usize, target: usize) -> usize {
        // The LCA: the first ancestor of the target on the preemptor's path.
        let mut lca = self.tree.parent(target);
        while let Some(c) = lca {
            if self.on_preemptor_path(c) {
                break;
            }
            lca = self.tree.parent(c);
        }
        let mut at = node;
        while let Some(p) = self.tree.parent(at) {
            if Some(p) == lca {
                break;
            }
            at = p;
        }
        at
    }

    /// Rule S2-a or S2-b as the first strategy; returns whether the workload fits and
    /// the candidates to try again under the second.
    fn first_strategy(
        &mut self,
        candidates: &[usize],
        strategy: FairStrategy,
    ) -> (bool, Vec<usize>) {
        let mut ordering = self.ordering(candidates);
        let mut retry = Vec::new();
        let within_nominal = !self.tree.borrowing(self.preemptor, self.f);
        while let Some(target) = self.next_target(&mut ordering) {
            let queue = ordering
                .per_cq
                .get_mut(&target)
                .expect("a target has candidates");
            if target == self.preemptor || within_nominal {
                let c = queue.pop_front().expect("a target has candidates");
                self.take(c);
                if self.fits() {
                    return (true, retry);
                }
                continue;
            }
            let preemptor_new = self.tree.share(self.almost_lca(self.preemptor, target));
            let target_node = self.almost_lca(target, target);
            let target_old = self.tree.share(target_node);
            if preemptor_new.value().is_infinite() && !target_old.value().is_infinite() {
                // No candidate here can pass either strategy.
                retry.extend(queue.drain(..));
                continue;
            }
            while let Some(c) = ordering.per_cq.get_mut(&target).and_then(|q| q.pop_front()) {
                let (cq, gpus) = (self.candidates[c].cq, self.candidates[c].gpus);
                self.tree.add_usage(cq, self.f, -gpus);
                let target_new = self.tree.share(target_node);
                self.tree.add_usage(cq, self.f, gpus);
                let passed = match strategy {
                    FairStrategy::LessThanOrEqualToFinalShare => {
                        preemptor_new.cmp_fair(target_new) != Ordering::Greater
                    }
                    FairStrategy::LessThanInitialShare => {
                        preemptor_new.cmp_fair(target_old) == Ordering::Less
                    }
                };
                if passed {
                    self.take(c);
                    if self.fits() {
                        return (true, retry);
                    }
                    // Shares changed: the target is chosen again.
                    break;
                }
                retry.push(c);
            }
        }
        (false, retry)
    }

    /// Rule S2-b over the candidates the first strategy passed over: at most one
    /// victim per ClusterQueue, while the preemptor's share stays below the target's.
    fn second_strategy(&mut self, retry: &[usize]) -> bool {
        let mut ordering = self.ordering(retry);
        while let Some(target) = self.next_target(&mut ordering) {
            let preemptor_new = self.tree.share(self.almost_lca(self.preemptor, target));
            let target_old = self.tree.share(self.almost_lca(target, target));
            let c = ordering
                .per_cq
                .get_mut(&target)
                .and_then(|q| q.pop_front())
                .expect("a target has candidates");
            if preemptor_new.cmp_fair(target_old) == Ordering::Less {
                self.take(c);
                if self.fits() {
                    return true;
                }
            }
            ordering.pruned.insert(target);
        }
        false
    }
}
