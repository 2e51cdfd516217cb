//! Topology-aware packing (spec section 4): which "nodes" (packing units) a group's pods
//! go to and which leaves inside each, for guaranteed groups inside their VC (binding
//! preassigned cells lazily) and for opportunistic groups on the physical chain.

use std::collections::{BTreeSet, HashSet};

use super::allocator::{Allocator, GroupId, Plan, VcId};
use super::decision::WaitReason;
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
struct Unit {
    kind: UnitKind,
    /// Leaves still available to this group in the unit.
    free: u32,
    healthy: bool,
    suggested: bool,
    same: u32,
    higher: u32,
    order: u32,
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

/// Result of packing: per pod (in member order) the unit index and leaves (physical) or
/// nothing (virtual).
type Packed = Vec<(usize, Vec<CellId>)>;

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

    fn physical_unit(
        &self,
        cell: CellId,
        preempt_below: Option<i32>,
        priority: i32,
        order: u32,
        suggested: Option<&HashSet<String>>,
    ) -> Unit {
        let state = &self.cells[cell as usize];
        let leaf_count = self.topo.cell(cell).leaf_count();
        let suggested_ok =
            suggested.is_none_or(|s| self.topo.node_name(cell).is_none_or(|n| s.contains(n)));
        // Full units are common in a busy cluster and can never be chosen: skip the leaf
        // scan for them (their rank does not matter; `pack` drops units with no room).
        let full = preempt_below.is_none() && (state.used >= leaf_count || state.bad >= leaf_count);
        // An unused healthy unit with no reservation anywhere is wholly free: no scan.
        let empty = state.used == 0 && state.bad == 0 && self.reserved_leaves == 0;
        let (mut same, mut higher, mut free) = (0, 0, 0);
        if empty {
            free = leaf_count;
        } else if !full {
            if priority < 0 {
                (same, higher) = (state.opp_used, state.used - state.opp_used);
            }
            // One pass over the leaves gives both the ranking counts and the room.
            for &l in self.topo.leaves_of(cell) {
                let s = &self.cells[l as usize];
                if priority >= 0 && s.user.is_some() {
                    if s.priority == priority {
                        same += 1;
                    } else if s.priority > priority {
                        higher += 1;
                    }
                }
                free += self.leaf_available(l, preempt_below, &[]) as u32;
            }
        }
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

    /// Packs pods greedily: smallest pods first, each on the best-ranked unit with room
    /// (healthy, suggested, most same-priority use, least higher-priority use); then,
    /// per unit, the pods placed there get leaves under the lowest common ancestor that
    /// holds them all, so a group's pods on one node are buddies when they can be.
    fn pack(&self, units: &mut [Unit], request: &GroupRequest) -> Option<Packed> {
        let sizes = request.pod_sizes();
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        order.sort_by_key(|&i| (sizes[i], i));
        let mut unit_of = vec![usize::MAX; sizes.len()];
        // Units without room never gain any (room only shrinks while packing): leave them
        // out of the ranking so each pod sorts only candidates.
        let ranking: Vec<usize> = (0..units.len())
            .filter(|&u| units[u].suggested && units[u].free > 0)
            .collect();
        for &pod in &order {
            let k = sizes[pod];
            // `order` is unique, so the best-ranked unit with room is the minimum: one
            // linear scan instead of a full sort per pod.
            let u = ranking
                .iter()
                .copied()
                .filter(|&u| units[u].free >= k)
                .min_by_key(|&u| {
                    let x = &units[u];
                    (!x.healthy, std::cmp::Reverse(x.same), x.higher, x.order)
                })?;
            units[u].free -= k;
            units[u].same += k;
            unit_of[pod] = u;
        }
        let mut result: Vec<Vec<CellId>> = vec![Vec::new(); sizes.len()];
        let mut taken: Vec<CellId> = Vec::new();
        let mut used_units: Vec<usize> = unit_of.clone();
        used_units.sort_unstable();
        used_units.dedup();
        for u in used_units {
            let UnitKind::Physical {
                cell,
                preempt_below,
            } = units[u].kind
            else {
                continue;
            };
            let mut pods: Vec<usize> = (0..sizes.len()).filter(|&p| unit_of[p] == u).collect();
            pods.sort_by_key(|&p| (std::cmp::Reverse(sizes[p]), p));
            let total: u32 = pods.iter().map(|&p| sizes[p]).sum();
            let root = self
                .lowest_cell_with(cell, total, preempt_below, &taken)
                .unwrap_or(cell);
            for p in pods {
                let leaves = self
                    .pick_leaves(root, sizes[p], preempt_below, &taken)
                    .or_else(|| self.pick_leaves(cell, sizes[p], preempt_below, &taken))?;
                taken.extend(&leaves);
                result[p] = leaves;
            }
        }
        Some(unit_of.into_iter().zip(result).collect())
    }

    /// The lowest, tightest cell inside `unit` with at least `k` available leaves.
    fn lowest_cell_with(
        &self,
        unit: CellId,
        k: u32,
        preempt_below: Option<i32>,
        taken: &[CellId],
    ) -> Option<CellId> {
        let mut best: Option<(u8, u32, CellId)> = None;
        self.best_subtree(unit, k, preempt_below, taken, &mut best);
        best.map(|b| b.2)
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
        let (_, _, root) = best?;
        let mut out = Vec::with_capacity(k as usize);
        self.gather(root, k, preempt_below, taken, &mut out);
        out.sort_unstable();
        Some(out)
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

    fn available_in(&self, cell: CellId, preempt_below: Option<i32>, taken: &[CellId]) -> u32 {
        self.topo
            .leaves_of(cell)
            .iter()
            .filter(|&&l| self.leaf_available(l, preempt_below, taken))
            .count() as u32
    }

    fn gather(
        &self,
        cell: CellId,
        need: u32,
        preempt_below: Option<i32>,
        taken: &[CellId],
        out: &mut Vec<CellId>,
    ) {
        let shape = self.topo.cell(cell);
        if shape.level == 1 {
            if self.leaf_available(cell, preempt_below, taken) {
                out.push(cell);
            }
            return;
        }
        let mut children: Vec<(u32, CellId)> = shape
            .children
            .iter()
            .map(|&c| (self.available_in(c, preempt_below, taken), c))
            .collect();
        // One child that holds everything keeps the pod under the lowest ancestor.
        if let Some(&(_, c)) = children.iter().filter(|(a, _)| *a >= need).min() {
            self.gather(c, need, preempt_below, taken, out);
            return;
        }
        children.sort_by_key(|&(a, c)| (std::cmp::Reverse(a), c));
        let mut need = need;
        for (a, c) in children {
            if need == 0 {
                break;
            }
            let n = a.min(need);
            if n > 0 {
                self.gather(c, n, preempt_below, taken, out);
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
                order: *order,
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
    ) -> Vec<Unit> {
        let UnitScope {
            preempt_below,
            fresh,
            with_virtual,
        } = scope;
        let mut virtual_per_level: std::collections::BTreeMap<u8, u32> =
            std::collections::BTreeMap::new();
        // At most one unit per packing unit of the chain: no regrowth while pushing.
        let mut units = Vec::with_capacity(self.topo.chains[chain as usize].packing_units.len());
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
                    // A full bound cell has no room in the free-only pass: skip all its
                    // nodes with one check instead of one per node (speed on big VCs).
                    let leaf_count = self.topo.cell(cell).leaf_count();
                    if threshold.is_none() && self.cells[cell as usize].used >= leaf_count {
                        continue;
                    }
                    for &unit in self.topo.units_within(cell).iter() {
                        units.push(self.physical_unit(
                            unit,
                            threshold,
                            request.priority,
                            order,
                            suggested,
                        ));
                        order += 1;
                    }
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
            u.order += order;
        }
        units.extend(virtual_units);
        units
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
        if request.is_opportunistic() {
            // Pinned cells serve only pods that name them (spec section 3), so
            // opportunistic groups never use them.
            let units_cells = &self.topo.chains[chain as usize].packing_units;
            let mut units: Vec<Unit> = units_cells
                .iter()
                .enumerate()
                .filter(|&(_, &c)| !self.topo.in_pinned_cell(c))
                .map(|(i, &c)| self.physical_unit(c, None, request.priority, i as u32, suggested))
                .collect();
            let packed = self.pack(&mut units, request)?;
            return Some(self.plan_from(request, chain, packed, Vec::new()));
        }
        let scope = UnitScope {
            preempt_below,
            fresh: &[],
            with_virtual: true,
        };
        let mut units = self.vc_units(request, vc, chain, scope, suggested);
        let packed = self.pack(&mut units, request)?;
        let needed: BTreeSet<u32> = packed
            .iter()
            .filter_map(|(u, _)| match units[*u].kind {
                UnitKind::Virtual { pre, .. } => pre,
                UnitKind::Physical { .. } => None,
            })
            .collect();
        if needed.is_empty() {
            return Some(self.plan_from(request, chain, packed, Vec::new()));
        }
        let mut bound = Vec::new();
        for &pre in &needed {
            match self.bind_best(vc, pre, suggested, true) {
                Some(_) => bound.push((vc, pre)),
                None => {
                    self.undo_bindings(&bound);
                    return None;
                }
            }
        }
        let fresh: Vec<u32> = needed.iter().copied().collect();
        let scope = UnitScope {
            preempt_below,
            fresh: &fresh,
            with_virtual: false,
        };
        let mut units = self.vc_units(request, vc, chain, scope, suggested);
        match self.pack(&mut units, request) {
            Some(packed) => Some(self.plan_from(request, chain, packed, bound)),
            None => {
                self.undo_bindings(&bound);
                None
            }
        }
    }

    fn undo_bindings(&mut self, bound: &[(VcId, u32)]) {
        for &(vc, pre) in bound.iter().rev() {
            self.unbind(vc, pre);
        }
    }

    fn plan_from(
        &self,
        request: &GroupRequest,
        chain: ChainId,
        packed: Packed,
        new_bindings: Vec<(VcId, u32)>,
    ) -> Plan {
        let sizes = request.pod_sizes();
        let mut victims = BTreeSet::new();
        let mut canceled = BTreeSet::new();
        for (_, leaves) in &packed {
            for &leaf in leaves {
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
            pods: packed
                .into_iter()
                .zip(sizes)
                .map(|((_, leaves), size)| (size, leaves))
                .collect(),
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
            if request.is_opportunistic() {
                for &top in &self.topo.chains[chain as usize].tops {
                    count_cell(self, top, &mut available, &mut available_if_healthy);
                }
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
        let chain_bad: BTreeSet<String> = chains
            .iter()
            .flat_map(|&c| self.topo.chains[c as usize].tops.clone())
            .flat_map(|t| self.topo.leaves_of(t).to_vec())
            .filter(|&l| self.cells[l as usize].bad > 0)
            .filter_map(|l| self.topo.node_name(l).map(String::from))
            .collect();
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
