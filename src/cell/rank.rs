//! Ranking index of packing units for the free-only pass (issue 3): per scope (a VC's
//! bound cells on a chain, or a whole chain for opportunistic groups) and per request
//! priority, the units ordered by the packing rank and grouped by their room, so that a
//! placement finds the best unit with room for a pod in a few ordered-set lookups instead
//! of ranking every unit with room.
//!
//! The rank of a unit depends on the request's priority (same-priority use attracts,
//! higher-priority use repels), so there is one index per (scope, priority) that a
//! request actually asked for, built on first use and kept from then on. It covers only
//! what the common case needs: the free-only pass of unpinned requests without suggested
//! nodes. The preemption pass, pinned cells and suggested nodes rank units as before
//! (`packing.rs`).
//!
//! Upkeep is lazy: leaf changes only record the leaf (`note_leaf_changed`), and the keys
//! of the units holding recorded leaves are recomputed from the counters just before an
//! index is read. Bindings add or remove their units at once, since they change which
//! units a VC has.

use std::cmp::Reverse;
use std::collections::BTreeSet;

use super::allocator::{Allocator, VcId};
use super::topology::{CellId, ChainId};

/// Which units an index holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RankScope {
    /// Units of a VC's bound, unpinned preassigned cells on a chain (guaranteed groups).
    Vc { vc: VcId, chain: ChainId },
    /// Units of a chain outside pinned cells (opportunistic groups).
    Chain(ChainId),
}

/// A unit's packing rank in the free-only pass; smaller is better. The same order as
/// `pack`'s `(!healthy, Reverse(same), higher, order)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct RankKey {
    pub unhealthy: bool,
    pub same: Reverse<u32>,
    pub higher: u32,
    /// Topology order in the scope: `(preassigned index << 32) | cell` for a VC's cells
    /// (its cells in preassigned order, each depth-first), the cell id on a chain. The
    /// low 32 bits are always the unit's cell.
    pub order: u64,
}

impl RankKey {
    /// The unit this key ranks.
    pub fn cell(&self) -> CellId {
        self.order as CellId
    }
}

/// The units of one scope, ranked for one priority.
#[derive(Debug, Clone)]
pub(crate) struct RankIndex {
    pub scope: RankScope,
    pub priority: i32,
    /// Per cell id: the unit's room and key as filed, `None` for cells that are not
    /// units of the scope.
    entries: Vec<Option<(u32, RankKey)>>,
    /// `buckets[v]`: the units with exactly `v` room; units without room are not filed.
    buckets: Vec<BTreeSet<RankKey>>,
    /// Units below the chain's units (a VC's bound cells below node level): while there
    /// are none, a changed chain unit that is not filed here holds nothing filed here.
    sub_units: u32,
}

impl RankIndex {
    fn new(scope: RankScope, priority: i32, cells: usize) -> RankIndex {
        RankIndex {
            scope,
            priority,
            entries: vec![None; cells],
            buckets: Vec::new(),
            sub_units: 0,
        }
    }

    /// Files `cell` with `room` and `key`, replacing what was filed for it; `sub` says
    /// that it lies below the chain's units.
    fn file(&mut self, cell: CellId, room: u32, key: RankKey, sub: bool) {
        match self.entries[cell as usize] {
            Some(old) if old == (room, key) => return,
            Some(_) => self.unfile(cell, sub),
            None => {}
        }
        self.sub_units += u32::from(sub);
        if room > 0 {
            let room = room as usize;
            if self.buckets.len() <= room {
                self.buckets.resize_with(room + 1, BTreeSet::new);
            }
            self.buckets[room].insert(key);
        }
        self.entries[cell as usize] = Some((room, key));
    }

    /// Removes `cell` from the index (nothing if it is not a unit of it).
    fn unfile(&mut self, cell: CellId, sub: bool) {
        if let Some((room, key)) = self.entries[cell as usize].take() {
            self.sub_units -= u32::from(sub);
            if room > 0 {
                self.buckets[room as usize].remove(&key);
            }
        }
    }

    /// The best-ranked unit with at least `k` room that is not in `excluded`.
    pub fn best(&self, k: u32, excluded: &[CellId]) -> Option<RankKey> {
        let mut best: Option<RankKey> = None;
        for bucket in self.buckets.iter().skip(k as usize) {
            // Excluded units are few (the ones a placement already holds as its own), so
            // at most that many are skipped per bucket.
            let first = bucket.iter().find(|key| !excluded.contains(&key.cell()));
            if let Some(&key) = first
                && best.is_none_or(|b| key < b)
            {
                best = Some(key);
            }
        }
        best
    }

    /// Appends the units of this index inside `cell` (a unit of the whole chain, whose
    /// own entry is missing) with their filed keys: bound cells below node level.
    fn units_inside(&self, alloc: &Allocator, cell: CellId, out: &mut Vec<(CellId, RankKey)>) {
        for &child in &alloc.topo.cell(cell).children {
            match self.entries[child as usize] {
                Some((_, key)) => out.push((child, key)),
                None => self.units_inside(alloc, child, out),
            }
        }
    }

    /// What is filed, for tests: (cell, room, key) in cell order.
    #[cfg(test)]
    pub fn filed(&self) -> Vec<(CellId, u32, RankKey)> {
        let mut out: Vec<(CellId, u32, RankKey)> = self
            .entries
            .iter()
            .enumerate()
            .filter_map(|(c, e)| e.map(|(room, key)| (c as CellId, room, key)))
            .collect();
        out.sort_unstable();
        for (cell, room, key) in &out {
            if *room > 0 {
                assert!(self.buckets[*room as usize].contains(key), "unit {cell}");
            }
        }
        let in_buckets: usize = self.buckets.iter().map(BTreeSet::len).sum();
        assert_eq!(in_buckets, out.iter().filter(|e| e.1 > 0).count());
        out
    }
}

/// Every index of an allocator and the units whose leaves changed since the indexes
/// were last brought up to date.
#[derive(Debug, Clone, Default)]
pub(crate) struct RankIndexes {
    pub indexes: Vec<RankIndex>,
    /// Per cell: its unit on the whole chain (the highest cell at or below node level
    /// holding it). Filled when the first index is built.
    chain_unit: std::sync::Arc<Vec<CellId>>,
    /// Chain units with changed leaves, in change order (runs of one unit noted once).
    dirty: Vec<CellId>,
    /// Scratch list of the units a refresh recomputes for one dirty unit; empty between
    /// calls.
    inside: Vec<(CellId, RankKey)>,
}

impl Allocator {
    /// Records that a leaf's use, reservation or health changed, so that the keys of its
    /// units are recomputed before the next read.
    pub(crate) fn note_leaf_changed(&mut self, leaf: CellId) {
        // With no index there is nothing to bring up to date later.
        if self.rank.indexes.is_empty() {
            return;
        }
        let unit = self.rank.chain_unit[leaf as usize];
        if self.rank.dirty.last() != Some(&unit) {
            self.rank.dirty.push(unit);
        }
    }

    /// Whether unit `cell` lies below the chain's units (a bound cell below node level).
    fn is_sub_unit(&self, cell: CellId) -> bool {
        self.rank.chain_unit[cell as usize] != cell
    }

    /// Each cell's unit on the whole chain (itself above the units).
    fn chain_units(&self) -> Vec<CellId> {
        let mut units: Vec<CellId> = (0..self.topo.cells.len() as CellId).collect();
        for (id, shape) in self.topo.cells.iter().enumerate() {
            let node_level = self.topo.chains[shape.chain as usize].node_level;
            // Depth-first order: a parent comes before its children, so it is final.
            if let Some(parent) = shape.parent
                && self.topo.cell(parent).level <= node_level
            {
                units[id] = units[parent as usize];
            }
        }
        units
    }

    /// Room and key of unit `cell` for a request of `priority`, from the counters: the
    /// same values `physical_unit` gives in the free-only pass.
    pub(crate) fn rank_key(&self, cell: CellId, priority: i32, order: u64) -> (u32, RankKey) {
        let state = &self.cells[cell as usize];
        let (same, higher) = self.packing_counts(cell, priority);
        let key = RankKey {
            unhealthy: state.bad > 0,
            same: Reverse(same),
            higher,
            order,
        };
        (state.vacant, key)
    }

    /// Appends the packing units inside `cell` in topology order (the cell itself when it
    /// is one), leaving out pinned cells and what lies inside them with `skip_pinned`:
    /// the units `push_units_with_room` visits when every unit has room.
    pub(crate) fn units_in(&self, cell: CellId, skip_pinned: bool, out: &mut Vec<CellId>) {
        let shape = self.topo.cell(cell);
        if skip_pinned && shape.pinned_cell_id.is_some() {
            return;
        }
        if shape.level <= self.topo.chains[shape.chain as usize].node_level {
            out.push(cell);
            return;
        }
        for &child in &shape.children {
            self.units_in(child, skip_pinned, out);
        }
    }

    /// The index of `scope` for `priority`, up to date; built on first use.
    pub(crate) fn rank_index(&mut self, scope: RankScope, priority: i32) -> usize {
        self.refresh_rank();
        if let Some(i) = self
            .rank
            .indexes
            .iter()
            .position(|x| x.scope == scope && x.priority == priority)
        {
            return i;
        }
        if self.rank.chain_unit.is_empty() {
            self.rank.chain_unit = std::sync::Arc::new(self.chain_units());
        }
        let mut index = RankIndex::new(scope, priority, self.topo.cells.len());
        let mut units = Vec::new();
        match scope {
            RankScope::Vc { vc, chain } => {
                for (i, p) in self.vcs[vc as usize].preassigned.iter().enumerate() {
                    let Some(cell) = p.bound else { continue };
                    if p.chain != chain || p.pinned.is_some() {
                        continue;
                    }
                    units.clear();
                    self.units_in(cell, false, &mut units);
                    for &u in &units {
                        let (room, key) = self.rank_key(u, priority, vc_order(i as u32, u));
                        index.file(u, room, key, self.is_sub_unit(u));
                    }
                }
            }
            RankScope::Chain(chain) => {
                for &top in &self.topo.chains[chain as usize].tops {
                    self.units_in(top, true, &mut units);
                }
                for &u in &units {
                    let (room, key) = self.rank_key(u, priority, u64::from(u));
                    index.file(u, room, key, false);
                }
            }
        }
        self.rank.indexes.push(index);
        self.rank.indexes.len() - 1
    }

    /// Recomputes the keys of the units that hold a leaf changed since the last call.
    fn refresh_rank(&mut self) {
        if self.rank.dirty.is_empty() {
            return;
        }
        let mut dirty = std::mem::take(&mut self.rank.dirty);
        let mut inside = std::mem::take(&mut self.rank.inside);
        for i in 0..self.rank.indexes.len() {
            let priority = self.rank.indexes[i].priority;
            for &unit in &dirty {
                inside.clear();
                let index = &self.rank.indexes[i];
                match index.entries[unit as usize] {
                    Some((_, key)) => inside.push((unit, key)),
                    // Not a unit here: a VC's bound cells below node level may be.
                    None if index.sub_units > 0 => index.units_inside(self, unit, &mut inside),
                    None => continue,
                }
                for &(cell, old) in &inside {
                    let (room, key) = self.rank_key(cell, priority, old.order);
                    let sub = self.is_sub_unit(cell);
                    self.rank.indexes[i].file(cell, room, key, sub);
                }
            }
        }
        dirty.clear();
        self.rank.dirty = dirty;
        inside.clear();
        self.rank.inside = inside;
    }

    /// A VC's unpinned preassigned cell `index` was bound to `cell` (`bound`) or unbound
    /// from it: its units join or leave the VC's indexes.
    pub(crate) fn rank_binding_changed(&mut self, vc: VcId, index: u32, cell: CellId, bound: bool) {
        let chain = self.topo.cell(cell).chain;
        let scope = RankScope::Vc { vc, chain };
        if !self.rank.indexes.iter().any(|x| x.scope == scope) {
            return;
        }
        let mut units = Vec::new();
        self.units_in(cell, false, &mut units);
        for i in 0..self.rank.indexes.len() {
            if self.rank.indexes[i].scope != scope {
                continue;
            }
            let priority = self.rank.indexes[i].priority;
            for &u in &units {
                let sub = self.is_sub_unit(u);
                if bound {
                    let (room, key) = self.rank_key(u, priority, vc_order(index, u));
                    self.rank.indexes[i].file(u, room, key, sub);
                } else {
                    self.rank.indexes[i].unfile(u, sub);
                }
            }
        }
    }

    /// Every index rebuilt from scratch, for tests to compare with the kept ones.
    #[cfg(test)]
    pub(crate) fn assert_rank_indexes_match(&mut self, step: usize) {
        self.refresh_rank();
        let kept = self.rank.indexes.clone();
        for index in &kept {
            let mut fresh = self.clone();
            fresh.rank = RankIndexes::default();
            let i = fresh.rank_index(index.scope, index.priority);
            assert_eq!(
                index.filed(),
                fresh.rank.indexes[i].filed(),
                "step {step}: index {:?} at priority {}",
                index.scope,
                index.priority
            );
        }
    }
}

/// Order key of unit `cell` of a VC's preassigned cell `index`.
pub(crate) fn vc_order(index: u32, cell: CellId) -> u64 {
    (u64::from(index) << 32) | u64::from(cell)
}
