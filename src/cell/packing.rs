//! Topology-aware packing (spec section 4): which "nodes" (packing units) a group's pods
//! go to and which leaves inside each, for guaranteed groups inside their VC (binding
//! preassigned cells lazily) and for opportunistic groups on the physical chain.

use std::collections::{BTreeSet, HashSet};

use super::allocator::{Allocator, GroupId, Plan, VcId};
use super::decision::WaitReason;
use super::rank::{RankScope, vc_order};
use super::request::GroupRequest;
use super::topology::{CellId, ChainId};

/// A candidate "node" for packing.
#[derive(Debug, Clone)]
enum UnitKind {
    /// A physical packing unit. Leaves used at a priority below `preempt_below` count as
    /// available (their groups become victims).
    Physical {
        cell: CellId,
        preempt_below: Option<i32>,
    },
    /// A unit of a not-yet-bound preassigned cell (`pre`), or a hypothetical empty unit
    /// (`None`) when checking whether a group could ever fit.
    Virtual { pre: Option<u32> },
}

#[derive(Debug, Clone)]
pub(crate) struct Unit {
    kind: UnitKind,
    /// Leaves still available to this group in the unit.
    free: u32,
    healthy: bool,
    suggested: bool,
    same: u32,
    higher: u32,
    order: u64,
}

/// What [`Allocator::push_units_with_room`] collects.
#[derive(Debug, Clone, Copy)]
struct RoomScope {
    /// `None` for the free-only pass, `Some(priority)` for the preemption pass.
    preempt_below: Option<i32>,
    /// Leave out pinned cells and what lies inside them.
    skip_pinned: bool,
    /// The request's priority, for the units' ranking counts.
    priority: i32,
    /// Least room a unit needs to be of use: the group's smallest pod. Packing never puts
    /// a pod on a unit with less room than the pod, and room only shrinks while packing,
    /// so smaller units are never chosen and need not be built.
    min_room: u32,
}

impl RoomScope {
    fn new(request: &GroupRequest, preempt_below: Option<i32>, skip_pinned: bool) -> RoomScope {
        let min_room = request
            .members
            .iter()
            .map(|m| m.leaf_cell_number)
            .min()
            .unwrap_or(1)
            .max(1);
        RoomScope {
            preempt_below,
            skip_pinned,
            priority: request.priority,
            min_room,
        }
    }
}

/// Which of a VC's cells packing may use, and how.
#[derive(Debug, Clone, Copy)]
struct UnitScope<'a> {
    /// `None` for the free-only pass, `Some(priority)` for the preemption pass.
    preempt_below: Option<i32>,
    /// Preassigned cells bound just now for this plan.
    fresh: &'a [u32],
    /// Whether unbound preassigned cells take part as virtual units.
    with_virtual: bool,
}

/// Order of the first virtual unit in the ranked path: after every physical unit, whose
/// order is at most `(preassigned index << 32) | cell`.
const VIRTUAL_ORDER: u64 = 1 << 63;

/// The pods a VC packing (`packed` over `units`) put on the virtual units of unbound
/// preassigned cell `pre`: what the physical cell bound to it must hold.
#[derive(Debug, Clone, Copy)]
struct PodsOf<'a> {
    pre: u32,
    packed: &'a Packed,
    units: &'a [Unit],
}

/// Result of packing: per pod (in member order) the unit index and leaves (physical) or
/// nothing (virtual).
pub(crate) type Packed = Vec<PackedPod>;

/// One pod of a packing.
#[derive(Debug, Clone)]
pub(crate) struct PackedPod {
    /// Index of its unit in the packing's unit list (`usize::MAX` until chosen).
    pub unit: usize,
    /// Its leaves, the member's `leaf_cell_number`.
    pub size: u32,
    /// Its leaves on a physical unit; none on a virtual one.
    pub leaves: Vec<CellId>,
}

/// The request's pods in member order, none placed yet. The sizes live here rather
/// than in a list of their own (one allocation less per placement).
fn unpacked(request: &GroupRequest) -> Packed {
    let mut packed = Vec::with_capacity(request.pod_count() as usize);
    for m in &request.members {
        for _ in 0..m.pod_number {
            packed.push(PackedPod {
                unit: usize::MAX,
                size: m.leaf_cell_number,
                leaves: Vec::new(),
            });
        }
    }
    packed
}

impl Allocator {
    fn leaf_available(&self, leaf: CellId, preempt_below: Option<i32>, taken: &[CellId]) -> bool {
        let s = &self.cells[leaf as usize];
        if s.bad > 0 || taken.contains(&leaf) {
            return false;
        }
        let below = |p: i32| preempt_below.is_some_and(|t| p < t);
        if s.user.is_some() && !below(s.priority) {
            return false;
        }
        if let Some(r) = s.reserved_by {
            return below(self.groups.get(&r).map(|g| g.priority).unwrap_or(i32::MAX));
        }
        true
    }

    /// Leaves of `cell` a placement in this mode may take: healthy, and either unused and
    /// unreserved (free-only pass, `preempt_below` = `None`) or used / reserved only below
    /// `preempt_below`. Read from the counters; a leaf scan only for a preemption pass
    /// while reservations exist or the cell has bad leaves.
    fn room_in(&self, cell: CellId, preempt_below: Option<i32>) -> u32 {
        let state = &self.cells[cell as usize];
        match preempt_below {
            None => state.vacant,
            Some(t) if self.reserved_leaves == 0 && state.bad == 0 => {
                self.topo.cell(cell).leaf_count() - self.used_at_or_above(cell, t)
            }
            Some(_) => self.available_in(cell, preempt_below, &[]),
        }
    }

    /// An upper bound of [`Allocator::room_in`] for `cell` and for every cell inside it,
    /// without a leaf scan: when it is below a pod's size, no packing unit inside `cell`
    /// can take the pod, so its subtree can be skipped.
    fn room_bound(&self, cell: CellId, preempt_below: Option<i32>) -> u32 {
        match preempt_below {
            None => self.cells[cell as usize].vacant,
            Some(t) => self.topo.cell(cell).leaf_count() - self.used_at_or_above(cell, t),
        }
    }

    fn physical_unit(
        &self,
        cell: CellId,
        preempt_below: Option<i32>,
        priority: i32,
        order: u64,
        suggested: Option<&HashSet<String>>,
    ) -> Unit {
        let state = &self.cells[cell as usize];
        let suggested_ok =
            suggested.is_none_or(|s| self.topo.node_name(cell).is_none_or(|n| s.contains(n)));
        let free = self.room_in(cell, preempt_below);
        let (same, higher) = self.packing_counts(cell, priority);
        Unit {
            kind: UnitKind::Physical {
                cell,
                preempt_below,
            },
            free,
            healthy: state.bad == 0,
            suggested: suggested_ok,
            same,
            higher,
            order,
        }
    }

    /// Appends a unit for every packing unit inside `cell` (the cell itself when it is
    /// one) with at least `scope.min_room` room, in topology order, numbering them from
    /// `order`. Units with less are left out: packing never chooses them, and leaving
    /// them out keeps the relative order (and so every choice) of the rest. Subtrees
    /// whose counters show too little room are not visited, so a busy cluster costs only
    /// its units with room; with `scope.skip_pinned`, neither are pinned cells and what
    /// lies inside them.
    fn push_units_with_room(
        &self,
        cell: CellId,
        scope: RoomScope,
        suggested: Option<&HashSet<String>>,
        order: &mut u32,
        out: &mut Vec<Unit>,
    ) {
        let shape = self.topo.cell(cell);
        if scope.skip_pinned && shape.pinned_cell_id.is_some() {
            return;
        }
        if self.room_bound(cell, scope.preempt_below) < scope.min_room {
            return;
        }
        if shape.level <= self.topo.chains[shape.chain as usize].node_level {
            let unit = self.physical_unit(
                cell,
                scope.preempt_below,
                scope.priority,
                u64::from(*order),
                suggested,
            );
            *order += 1;
            if unit.free >= scope.min_room {
                out.push(unit);
            }
            return;
        }
        for &child in &shape.children {
            self.push_units_with_room(child, scope, suggested, order, out);
        }
    }

    /// Packs pods greedily: smallest pods first, each on the best-ranked unit with room
    /// (healthy, suggested, most same-priority use, least higher-priority use); then,
    /// per unit, the pods placed there get leaves under the lowest common ancestor that
    /// holds them all, so a group's pods on one node are buddies when they can be.
    fn pack(&self, units: &mut [Unit], request: &GroupRequest) -> Option<Packed> {
        self.pack_pods(units, unpacked(request))
    }

    /// [`Allocator::pack`] of the pods in `packed` (none placed yet): the whole group,
    /// or the part of it that one preassigned cell must hold.
    fn pack_pods(&self, units: &mut [Unit], mut packed: Packed) -> Option<Packed> {
        for pod in pods_smallest_first(&packed) {
            let k = packed[pod].size;
            let u = best_listed(units, k)?;
            units[u].free -= k;
            units[u].same += k;
            packed[pod].unit = u;
        }
        self.place_pods(units, packed)
    }

    /// [`Allocator::pack`] over the units of ranking index `index` plus the units listed
    /// in `units` (virtual units, and units placed by other rules, whose cells are in
    /// `excluded` so the index's entry for them is not used). The best unit with room
    /// for a pod is the better of the index's best and the list's best; an indexed unit
    /// that takes a pod moves into the list (its room and use change while packing), so
    /// the choices are the ones `pack` makes over all units.
    fn pack_ranked(
        &self,
        index: usize,
        units: &mut Vec<Unit>,
        excluded: &mut Vec<CellId>,
        request: &GroupRequest,
    ) -> Option<Packed> {
        let ranked = &self.rank.indexes[index];
        let mut packed = unpacked(request);
        for pod in pods_smallest_first(&packed) {
            let k = packed[pod].size;
            let listed = best_listed(units, k);
            let indexed = ranked.best(k, excluded).filter(|key| {
                listed.is_none_or(|u| {
                    let x = &units[u];
                    let listed_key = (!x.healthy, std::cmp::Reverse(x.same), x.higher, x.order);
                    (key.unhealthy, key.same, key.higher, key.order) < listed_key
                })
            });
            let u = match (indexed, listed) {
                (Some(key), _) => {
                    let cell = key.cell();
                    let unit = self.physical_unit(cell, None, ranked.priority, key.order, None);
                    debug_assert_eq!(
                        (!unit.healthy, unit.same, unit.higher),
                        (key.unhealthy, key.same.0, key.higher),
                        "ranking index out of date for unit {cell}"
                    );
                    excluded.push(cell);
                    units.push(unit);
                    units.len() - 1
                }
                (None, Some(u)) => u,
                (None, None) => return None,
            };
            units[u].free -= k;
            units[u].same += k;
            packed[pod].unit = u;
        }
        self.place_pods(units, packed)
    }

    /// The leaves of every pod on the units packing chose (`packed`, per pod its unit
    /// and an empty leaf list to fill). Units go in ascending order and, on each, pods
    /// largest first (ties in pod order). Both orders are found by scanning the pods
    /// rather than by sorted lists: a group has few pods, and most groups one.
    fn place_pods(&self, units: &[Unit], mut packed: Packed) -> Option<Packed> {
        let mut taken: Vec<CellId> = Vec::new();
        let mut placed = 0;
        let mut last_unit = None;
        while let Some(u) = next_after(packed.iter().map(|p| p.unit), last_unit) {
            last_unit = Some(u);
            let UnitKind::Physical {
                cell,
                preempt_below,
            } = units[u].kind
            else {
                placed += pods_on(&packed, u).count();
                continue;
            };
            let total: u32 = pods_on(&packed, u).map(|p| packed[p].size).sum();
            let lowest = self.lowest_cell_with(cell, total, preempt_below, &taken);
            let root = lowest.map_or(cell, |(root, _)| root);
            let mut last_pod = None;
            while let Some(key) = next_after(
                pods_on(&packed, u).map(|p| (std::cmp::Reverse(packed[p].size), p)),
                last_pod,
            ) {
                last_pod = Some(key);
                let p = key.1;
                let size = packed[p].size;
                let leaves = if size == total {
                    // The unit's only pod. `pick_leaves` would search `root`'s subtree
                    // again for the best cell with room for it and find `root` itself,
                    // the best one in the whole unit (or, with none there, nothing).
                    let (root, avail) = lowest?;
                    self.gather_sorted(root, total, avail, preempt_below, &taken)
                } else {
                    self.pick_leaves(root, size, preempt_below, &taken)
                        .or_else(|| self.pick_leaves(cell, size, preempt_below, &taken))?
                };
                placed += 1;
                // Only later pods look at what is taken.
                if placed < packed.len() {
                    taken.extend(&leaves);
                }
                packed[p].leaves = leaves;
            }
        }
        Some(packed)
    }

    /// The lowest, tightest cell inside `unit` with at least `k` available leaves, and
    /// its available leaves.
    fn lowest_cell_with(
        &self,
        unit: CellId,
        k: u32,
        preempt_below: Option<i32>,
        taken: &[CellId],
    ) -> Option<(CellId, u32)> {
        let mut best: Option<(u8, u32, CellId)> = None;
        self.best_subtree(unit, k, preempt_below, taken, &mut best);
        best.map(|(_, avail, cell)| (cell, avail))
    }

    /// Picks `k` available leaves inside `unit` whose lowest common ancestor is as low as
    /// possible (buddies first); among equal levels the tightest fit.
    fn pick_leaves(
        &self,
        unit: CellId,
        k: u32,
        preempt_below: Option<i32>,
        taken: &[CellId],
    ) -> Option<Vec<CellId>> {
        let mut best: Option<(u8, u32, CellId)> = None;
        let total = self.best_subtree(unit, k, preempt_below, taken, &mut best);
        if total < k {
            return None;
        }
        let (_, avail, root) = best?;
        Some(self.gather_sorted(root, k, avail, preempt_below, taken))
    }

    /// `k` available leaves of `root` (which has `avail` of them) as [`Allocator::gather`]
    /// picks them, in ascending order.
    fn gather_sorted(
        &self,
        root: CellId,
        k: u32,
        avail: u32,
        preempt_below: Option<i32>,
        taken: &[CellId],
    ) -> Vec<CellId> {
        let mut out = Vec::with_capacity(k as usize);
        self.gather(root, k, avail, preempt_below, taken, &mut out);
        out.sort_unstable();
        out
    }

    fn best_subtree(
        &self,
        cell: CellId,
        k: u32,
        preempt_below: Option<i32>,
        taken: &[CellId],
        best: &mut Option<(u8, u32, CellId)>,
    ) -> u32 {
        let shape = self.topo.cell(cell);
        if preempt_below.is_none() {
            // Free-only: every cell's room is a counter, and a cell with less than `k`
            // has no descendant with `k`, so only candidates' subtrees are visited. The
            // best key is a minimum over all candidates, so visiting fewer changes nothing.
            let avail = self.vacant_excluding(cell, taken);
            if avail >= k {
                let key = (shape.level, avail, cell);
                if best.is_none_or(|b| key < b) {
                    *best = Some(key);
                }
                for &c in &shape.children {
                    self.best_subtree(c, k, preempt_below, taken, best);
                }
            }
            return avail;
        }
        let avail = if shape.level == 1 {
            self.leaf_available(cell, preempt_below, taken) as u32
        } else {
            shape
                .children
                .iter()
                .map(|&c| self.best_subtree(c, k, preempt_below, taken, best))
                .sum()
        };
        if avail >= k {
            let key = (shape.level, avail, cell);
            if best.is_none_or(|b| key < b) {
                *best = Some(key);
            }
        }
        avail
    }

    /// Vacant leaves of `cell` not in `taken`: its free-only room during packing.
    fn vacant_excluding(&self, cell: CellId, taken: &[CellId]) -> u32 {
        let leaves = self.topo.leaves_of(cell);
        let (first, last) = (leaves[0], leaves[leaves.len() - 1]);
        // Leaf ids of a subtree are one ascending run, so containment is a range test.
        let taken_here = taken
            .iter()
            .filter(|&&l| (first..=last).contains(&l) && self.cells[l as usize].is_vacant_leaf())
            .count() as u32;
        self.cells[cell as usize].vacant - taken_here
    }

    fn available_in(&self, cell: CellId, preempt_below: Option<i32>, taken: &[CellId]) -> u32 {
        if preempt_below.is_none() {
            return self.vacant_excluding(cell, taken);
        }
        self.topo
            .leaves_of(cell)
            .iter()
            .filter(|&&l| self.leaf_available(l, preempt_below, taken))
            .count() as u32
    }

    /// Appends `need` available leaves of `cell` (which has `avail` of them), keeping
    /// them under the lowest descendant that can hold them.
    fn gather(
        &self,
        cell: CellId,
        need: u32,
        avail: u32,
        preempt_below: Option<i32>,
        taken: &[CellId],
        out: &mut Vec<CellId>,
    ) {
        if need == avail {
            // Every available leaf goes, wherever it is: that is what the descent below
            // ends with (each child gives all it has), found in one pass over the leaves.
            out.extend(
                self.topo
                    .leaves_of(cell)
                    .iter()
                    .copied()
                    .filter(|&l| self.leaf_available(l, preempt_below, taken)),
            );
            return;
        }
        let shape = self.topo.cell(cell);
        // One child that holds everything keeps the pod under the lowest ancestor.
        // (Found without collecting the children: this is the common case.)
        let fitting = shape
            .children
            .iter()
            .map(|&c| (self.available_in(c, preempt_below, taken), c))
            .filter(|&(a, _)| a >= need)
            .min();
        if let Some((a, c)) = fitting {
            self.gather(c, need, a, preempt_below, taken, out);
            return;
        }
        let mut children: Vec<(u32, CellId)> = shape
            .children
            .iter()
            .map(|&c| (self.available_in(c, preempt_below, taken), c))
            .collect();
        children.sort_by_key(|&(a, c)| (std::cmp::Reverse(a), c));
        let mut need = need;
        for (a, c) in children {
            if need == 0 {
                break;
            }
            let n = a.min(need);
            if n > 0 {
                self.gather(c, n, a, preempt_below, taken, out);
                need -= n;
            }
        }
    }

    /// Virtual units of an unbound preassigned cell: one per node-level cell it would hold
    /// (or one for the whole cell when it is below node level).
    fn virtual_units(
        &self,
        chain: ChainId,
        level: u8,
        pre: Option<u32>,
        order: &mut u32,
        out: &mut Vec<Unit>,
    ) {
        let c = &self.topo.chains[chain as usize];
        let unit_level = level.min(c.node_level);
        let count: u32 = c.fan_out[unit_level as usize..level as usize]
            .iter()
            .product();
        let free = self.level_leaf_count(chain, unit_level);
        for _ in 0..count {
            out.push(Unit {
                kind: UnitKind::Virtual { pre },
                free,
                healthy: true,
                suggested: true,
                same: 0,
                higher: 0,
                order: u64::from(*order),
            });
            *order += 1;
        }
    }

    /// Units of the VC's bound cells (and, if `scope.with_virtual`, of its unbound ones).
    fn vc_units(
        &self,
        request: &GroupRequest,
        vc: VcId,
        chain: ChainId,
        scope: UnitScope<'_>,
        suggested: Option<&HashSet<String>>,
        units: &mut Vec<Unit>,
    ) {
        units.clear();
        let UnitScope {
            preempt_below,
            fresh,
            with_virtual,
        } = scope;
        let mut virtual_per_level: std::collections::BTreeMap<u8, u32> =
            std::collections::BTreeMap::new();
        let mut order = 0;
        let mut virtual_units = Vec::new();
        for (i, p) in self.vcs[vc as usize].preassigned.iter().enumerate() {
            if p.chain != chain || !self.preassigned_matches(p, request) {
                continue;
            }
            match p.bound {
                Some(cell) => {
                    // Freshly bound cells may hold opportunistic pods: those are preemptible
                    // even in the free-only pass, as HiveD's buddy choice has accepted them.
                    let threshold = if fresh.contains(&(i as u32)) {
                        preempt_below.max(Some(0))
                    } else {
                        preempt_below
                    };
                    self.push_units_with_room(
                        cell,
                        RoomScope::new(request, threshold, false),
                        suggested,
                        &mut order,
                        units,
                    );
                }
                // Unbound preassigned cells of one level are interchangeable, so a group
                // never needs more of them than it has pods: skip the rest (speed).
                None if with_virtual
                    && (virtual_per_level.get(&p.level).copied().unwrap_or(0) as u64)
                        < request.pod_count() =>
                {
                    *virtual_per_level.entry(p.level).or_insert(0) += 1;
                    self.virtual_units(
                        chain,
                        p.level,
                        Some(i as u32),
                        &mut order,
                        &mut virtual_units,
                    );
                }
                None => {}
            }
        }
        for u in &mut virtual_units {
            u.order += u64::from(order);
        }
        units.extend(virtual_units);
    }

    /// The virtual units of the VC's unbound preassigned cells (as [`Allocator::vc_units`]
    /// adds them), into the emptied `units`, ranked after every physical unit.
    fn vc_virtual_units(
        &self,
        request: &GroupRequest,
        vc: VcId,
        chain: ChainId,
        units: &mut Vec<Unit>,
    ) {
        units.clear();
        let mut per_level: std::collections::BTreeMap<u8, u32> = Default::default();
        let mut order = 0;
        for (i, p) in self.vcs[vc as usize].preassigned.iter().enumerate() {
            if p.chain != chain || p.bound.is_some() || !self.preassigned_matches(p, request) {
                continue;
            }
            // As in `vc_units`: unbound cells of one level are interchangeable.
            let taken = per_level.entry(p.level).or_insert(0);
            if u64::from(*taken) < request.pod_count() {
                *taken += 1;
                self.virtual_units(chain, p.level, Some(i as u32), &mut order, units);
            }
        }
        for u in units.iter_mut() {
            u.order += VIRTUAL_ORDER;
        }
    }

    /// The units of preassigned cells bound just now for a plan (`fresh`), into the
    /// emptied `units`, as [`Allocator::vc_units`] builds them (their opportunistic pods
    /// are preemptible) and ordered as the ranking index orders the VC's units. Lists
    /// every unit of those cells in the emptied `excluded`: the index's free-only entries
    /// for them must not be used.
    fn fresh_units(
        &self,
        request: &GroupRequest,
        vc: VcId,
        fresh: &[u32],
        units: &mut Vec<Unit>,
        excluded: &mut Vec<CellId>,
    ) {
        units.clear();
        excluded.clear();
        for &i in fresh {
            let Some(cell) = self.vcs[vc as usize].preassigned[i as usize].bound else {
                continue;
            };
            let first = units.len();
            let scope = RoomScope::new(request, Some(0), false);
            self.push_units_with_room(cell, scope, None, &mut 0, units);
            for u in &mut units[first..] {
                if let UnitKind::Physical { cell, .. } = u.kind {
                    u.order = vc_order(i, cell);
                }
            }
            self.units_in(cell, false, excluded);
        }
    }

    /// An upper bound of the leaves packing could give the group on `chain` in this pass:
    /// the room of the chain (opportunistic) or of the VC's bound cells plus the size of
    /// its unbound ones (guaranteed).
    fn room_bound_for(
        &self,
        request: &GroupRequest,
        vc: VcId,
        chain: ChainId,
        preempt_below: Option<i32>,
    ) -> u64 {
        if request.is_opportunistic() {
            return self.topo.chains[chain as usize]
                .tops
                .iter()
                .map(|&top| u64::from(self.cells[top as usize].vacant))
                .sum();
        }
        if request.pinned_cell_id.is_none() {
            // The same sum, from the VC's totals.
            let room = &self.vc_room[vc as usize][chain as usize];
            let bound = match preempt_below {
                None => u64::from(room.vacant),
                Some(t) => room.bound_leaves - room.used_at_or_above(t),
            };
            return bound + room.unbound_leaves;
        }
        self.vcs[vc as usize]
            .preassigned
            .iter()
            .filter(|p| p.chain == chain && self.preassigned_matches(p, request))
            .map(|p| match p.bound {
                Some(cell) => u64::from(self.room_bound(cell, preempt_below)),
                None => u64::from(self.level_leaf_count(chain, p.level)),
            })
            .sum()
    }

    /// Tries to place the group on one chain. `preempt_below` is `None` for the free-only
    /// pass and `Some(priority)` for the preemption pass.
    pub(crate) fn plan_on_chain(
        &mut self,
        request: &GroupRequest,
        vc: VcId,
        chain: ChainId,
        preempt_below: Option<i32>,
        suggested: Option<&HashSet<String>>,
    ) -> Option<Plan> {
        // The units buffer is kept between calls: a busy cluster has hundreds of units
        // with room, and allocating their list on every call was a visible cost. So is
        // the list of units the ranked path excludes, allocated on most calls otherwise.
        let mut units = std::mem::take(&mut self.unit_buffer);
        let mut excluded = std::mem::take(&mut self.excluded_buffer);
        units.clear();
        excluded.clear();
        let plan = self.plan_on_chain_in(
            request,
            vc,
            chain,
            preempt_below,
            suggested,
            &mut units,
            &mut excluded,
        );
        units.clear();
        excluded.clear();
        self.unit_buffer = units;
        self.excluded_buffer = excluded;
        plan
    }

    /// [`Allocator::plan_on_chain`] with `units` and `excluded` as the (empty) buffers
    /// for the units and for the cells the ranked path excludes.
    #[allow(clippy::too_many_arguments)]
    fn plan_on_chain_in(
        &mut self,
        request: &GroupRequest,
        vc: VcId,
        chain: ChainId,
        preempt_below: Option<i32>,
        suggested: Option<&HashSet<String>>,
        units: &mut Vec<Unit>,
        excluded: &mut Vec<CellId>,
    ) -> Option<Plan> {
        // A group larger than the room the counters allow cannot be packed: answer
        // without building units (the common case for waiting groups on a busy cluster).
        if self.room_bound_for(request, vc, chain, preempt_below) < request.leaf_count() {
            return None;
        }
        // The ranking indexes serve the common case: the free-only pass of an unpinned
        // request without suggested nodes. Everything else ranks every unit with room.
        let ranked = self.rank_enabled
            && preempt_below.is_none()
            && suggested.is_none()
            && request.pinned_cell_id.is_none();
        if request.is_opportunistic() && ranked {
            let index = self.rank_index(RankScope::Chain(chain), request.priority);
            let packed = self.pack_ranked(index, units, excluded, request)?;
            return Some(self.plan_from(chain, packed, Vec::new()));
        }
        if request.is_opportunistic() {
            // Pinned cells serve only pods that name them (spec section 3), so
            // opportunistic groups never use them.
            let mut order = 0;
            let scope = RoomScope::new(request, None, true);
            for &top in &self.topo.chains[chain as usize].tops {
                self.push_units_with_room(top, scope, suggested, &mut order, units);
            }
            let packed = self.pack(units, request)?;
            return Some(self.plan_from(chain, packed, Vec::new()));
        }
        let index = ranked.then(|| self.rank_index(RankScope::Vc { vc, chain }, request.priority));
        let packed = match index {
            Some(index) => {
                self.vc_virtual_units(request, vc, chain, units);
                self.pack_ranked(index, units, excluded, request)?
            }
            None => {
                let scope = UnitScope {
                    preempt_below,
                    fresh: &[],
                    with_virtual: true,
                };
                self.vc_units(request, vc, chain, scope, suggested, units);
                self.pack(units, request)?
            }
        };
        let needed: BTreeSet<u32> = packed
            .iter()
            .filter_map(|p| match units[p.unit].kind {
                UnitKind::Virtual { pre, .. } => pre,
                UnitKind::Physical { .. } => None,
            })
            .collect();
        if needed.is_empty() {
            return Some(self.plan_from(chain, packed, Vec::new()));
        }
        let mut bound = Vec::new();
        for &pre in &needed {
            let cell = match suggested {
                None => self.bind_best(vc, pre, None, true),
                Some(nodes) => {
                    let pods = PodsOf {
                        pre,
                        packed: &packed,
                        units,
                    };
                    self.bind_holding(request, vc, pods, preempt_below, nodes)
                }
            };
            match cell {
                Some(_) => bound.push((vc, pre)),
                None => {
                    self.undo_bindings(&bound);
                    return None;
                }
            }
        }
        let fresh: Vec<u32> = needed.iter().copied().collect();
        let repacked = match index {
            Some(index) => {
                self.fresh_units(request, vc, &fresh, units, excluded);
                self.pack_ranked(index, units, excluded, request)
            }
            None => {
                let scope = UnitScope {
                    preempt_below,
                    fresh: &fresh,
                    with_virtual: false,
                };
                self.vc_units(request, vc, chain, scope, suggested, units);
                self.pack(units, request)
            }
        };
        match repacked {
            Some(packed) => Some(self.plan_from(chain, packed, bound)),
            None => {
                self.undo_bindings(&bound);
                None
            }
        }
    }

    /// Binds the preassigned cell `pods.pre` of `vc` to the first candidate, in
    /// [`Allocator::pick_cell`]'s order, whose suggested nodes can hold the pods the VC
    /// packing put on it: binding is a search, not a single guess (spec section 3, as
    /// HiveD's backtracking `buddyAlloc`). Without suggested nodes the first healthy
    /// candidate always holds them (it is a whole healthy cell of the virtual cell's
    /// shape), so only this path searches. When no candidate holds them alone, the first
    /// is bound as before the search: the VC's repacking may still place the pods with
    /// its other cells, and waits otherwise.
    fn bind_holding(
        &mut self,
        request: &GroupRequest,
        vc: VcId,
        pods: PodsOf<'_>,
        preempt_below: Option<i32>,
        suggested: &HashSet<String>,
    ) -> Option<CellId> {
        let pre = &self.vcs[vc as usize].preassigned[pods.pre as usize];
        let (chain, level) = (pre.chain, pre.level);
        let wanted: Packed = pods
            .packed
            .iter()
            .filter(|p| match pods.units[p.unit].kind {
                UnitKind::Virtual { pre } => pre == Some(pods.pre),
                UnitKind::Physical { .. } => false,
            })
            .map(|p| PackedPod {
                unit: usize::MAX,
                size: p.size,
                leaves: Vec::new(),
            })
            .collect();
        // A fresh cell's units as the repacking builds them (`vc_units`): its
        // opportunistic pods are preemptible even in the free-only pass.
        let scope = RoomScope::new(request, preempt_below.max(Some(0)), false);
        let candidates = self.cells_in_order(chain, level, Some(suggested), |_, bad| !bad);
        let mut local: Vec<Unit> = Vec::new();
        let holds = candidates.iter().copied().find(|&cell| {
            local.clear();
            self.push_units_with_room(cell, scope, Some(suggested), &mut 0, &mut local);
            self.pack_pods(&mut local, wanted.clone()).is_some()
        });
        let chosen = holds.or(candidates.first().copied())?;
        self.take_specific(chosen).ok()?;
        self.bind(vc, pods.pre, chosen);
        Some(chosen)
    }

    fn undo_bindings(&mut self, bound: &[(VcId, u32)]) {
        for &(vc, pre) in bound.iter().rev() {
            self.unbind(vc, pre);
        }
    }

    fn plan_from(&self, chain: ChainId, packed: Packed, new_bindings: Vec<(VcId, u32)>) -> Plan {
        let mut victims = BTreeSet::new();
        let mut canceled = BTreeSet::new();
        for pod in &packed {
            for &leaf in &pod.leaves {
                let s = &self.cells[leaf as usize];
                if let Some(u) = s.user {
                    victims.insert(u);
                }
                if let Some(r) = s.reserved_by {
                    canceled.insert(r);
                }
            }
        }
        // A victim that is itself a canceled preemptor's target stays a victim; a canceled
        // preemptor is never also a victim (it holds reservations, not running pods).
        let victims: BTreeSet<GroupId> = victims.difference(&canceled).copied().collect();
        Plan {
            chain,
            pods: packed,
            new_bindings,
            victims,
            canceled,
        }
    }

    /// Undoes the bindings a plan made.
    pub(crate) fn rollback_plan(&mut self, plan: Plan) {
        self.undo_bindings(&plan.new_bindings);
    }

    /// Whether the group fits its VC (or, if opportunistic, the chain) when all is free.
    pub(crate) fn could_ever_fit(&self, request: &GroupRequest, vc: VcId, chain: ChainId) -> bool {
        let mut units = Vec::new();
        let mut order = 0;
        if request.is_opportunistic() {
            let c = &self.topo.chains[chain as usize];
            for _ in &c.tops {
                self.virtual_units(chain, c.top_level(), None, &mut order, &mut units);
            }
        } else {
            for p in &self.vcs[vc as usize].preassigned {
                if p.chain == chain && self.preassigned_matches(p, request) {
                    self.virtual_units(chain, p.level, None, &mut order, &mut units);
                }
            }
        }
        self.pack(&mut units, request).is_some()
    }

    /// Explains why no chain could take the group now.
    pub(crate) fn wait_reason(
        &self,
        request: &GroupRequest,
        vc: VcId,
        chains: &[ChainId],
    ) -> WaitReason {
        let needed = request.leaf_count();
        let threshold = if request.is_opportunistic() {
            None
        } else {
            Some(request.priority)
        };
        let mut available = 0u64;
        let mut available_if_healthy = 0u64;
        let mut bad_nodes = BTreeSet::new();
        let mut count_cell =
            |this: &Self, cell: CellId, available: &mut u64, available_if_healthy: &mut u64| {
                if this.bad_leaves == 0 {
                    // All leaves healthy: the usable ones are the leaves not used at or
                    // above the threshold, which the counters give without a walk.
                    let unusable = match threshold {
                        None => this.cells[cell as usize].used,
                        Some(t) => this.used_at_or_above(cell, t),
                    };
                    let usable = u64::from(this.topo.cell(cell).leaf_count() - unusable);
                    *available += usable;
                    *available_if_healthy += usable;
                    return;
                }
                for &l in this.topo.leaves_of(cell) {
                    let s = &this.cells[l as usize];
                    let usable = s
                        .user
                        .is_none_or(|_| threshold.is_some_and(|t| s.priority < t));
                    if usable {
                        *available_if_healthy += 1;
                        if s.bad == 0 {
                            *available += 1;
                        } else if let Some(n) = this.topo.node_name(l) {
                            bad_nodes.insert(n.to_string());
                        }
                    }
                }
            };
        for &chain in chains {
            if request.is_opportunistic() && self.bad_leaves == 0 {
                // What `count_cell` sums over the chain's top cells, from the chain's
                // totals.
                let usable = self.chain_capacity[chain as usize] - self.chain_used[chain as usize];
                available += usable;
                available_if_healthy += usable;
                continue;
            }
            if request.is_opportunistic() {
                for &top in &self.topo.chains[chain as usize].tops {
                    count_cell(self, top, &mut available, &mut available_if_healthy);
                }
                continue;
            }
            if let (0, None, Some(t)) = (self.bad_leaves, &request.pinned_cell_id, threshold) {
                // What `count_cell` sums over the cells below, from the VC's totals.
                let room = &self.vc_room[vc as usize][chain as usize];
                let usable = room.bound_leaves - room.used_at_or_above(t) + room.unbound_leaves;
                available += usable;
                available_if_healthy += usable;
                continue;
            }
            for p in &self.vcs[vc as usize].preassigned {
                if p.chain != chain || !self.preassigned_matches(p, request) {
                    continue;
                }
                match p.bound {
                    Some(cell) => count_cell(self, cell, &mut available, &mut available_if_healthy),
                    None => {
                        let n = self.level_leaf_count(chain, p.level) as u64;
                        available += n;
                        available_if_healthy += n;
                    }
                }
            }
        }
        if available < needed && available_if_healthy >= needed && !bad_nodes.is_empty() {
            return WaitReason::BadNodes {
                nodes: bad_nodes.into_iter().collect(),
            };
        }
        if request.is_opportunistic() {
            if available < needed {
                return WaitReason::InsufficientCapacity { needed, available };
            }
            return WaitReason::Fragmentation {
                vc: None,
                needed,
                available,
            };
        }
        if available < needed {
            return WaitReason::Quota {
                vc: request.virtual_cluster.clone(),
                needed,
                available,
            };
        }
        // Enough on paper: unbound cells could not be bound to healthy physical cells.
        // (With no bad leaf anywhere the walk below would find nothing.)
        let chain_bad: BTreeSet<String> = if self.bad_leaves == 0 {
            BTreeSet::new()
        } else {
            chains
                .iter()
                .flat_map(|&c| self.topo.chains[c as usize].tops.clone())
                .flat_map(|t| self.topo.leaves_of(t).to_vec())
                .filter(|&l| self.cells[l as usize].bad > 0)
                .filter_map(|l| self.topo.node_name(l).map(String::from))
                .collect()
        };
        if !chain_bad.is_empty() {
            return WaitReason::BadNodes {
                nodes: chain_bad.into_iter().collect(),
            };
        }
        WaitReason::Fragmentation {
            vc: Some(request.virtual_cluster.clone()),
            needed,
            available,
        }
    }
}

/// Pod indices by size, smallest first (ties in member order): packing's pod order.
/// Sizes already in that order (every one-member group) need no sorted list.
fn pods_smallest_first(packed: &Packed) -> impl Iterator<Item = usize> + use<> {
    let sorted = (!packed.is_sorted_by_key(|p| p.size)).then(|| {
        let mut order: Vec<usize> = (0..packed.len()).collect();
        order.sort_by_key(|&i| (packed[i].size, i));
        order
    });
    let identity = if sorted.is_none() { packed.len() } else { 0 };
    (0..identity).chain(sorted.into_iter().flatten())
}

/// The pods packed on unit `u`, in pod order.
fn pods_on(packed: &Packed, u: usize) -> impl Iterator<Item = usize> + '_ {
    (0..packed.len()).filter(move |&p| packed[p].unit == u)
}

/// The smallest of `items` greater than `after` (the smallest of all for `None`): the
/// next step of an ascending walk over distinct values without sorting them.
fn next_after<T: Ord + Copy>(items: impl Iterator<Item = T>, after: Option<T>) -> Option<T> {
    items.filter(|&x| after.is_none_or(|a| x > a)).min()
}

/// The best-ranked unit of `units` with room for a `k`-leaf pod. `order` is unique, so
/// it is the minimum: one linear scan instead of a full sort per pod.
fn best_listed(units: &[Unit], k: u32) -> Option<usize> {
    (0..units.len())
        .filter(|&u| units[u].suggested && units[u].free > 0 && units[u].free >= k)
        .min_by_key(|&u| {
            let x = &units[u];
            (!x.healthy, std::cmp::Reverse(x.same), x.higher, x.order)
        })
}
