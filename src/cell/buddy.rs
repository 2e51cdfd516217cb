//! Buddy allocation of physical cells to VC preassigned cells (spec section 3): free
//! lists per chain and level, splitting on bind, merging on release, the VC safety
//! invariant, and the choice among candidate cells.

use std::collections::HashSet;

use super::allocator::{Allocator, VcId};
use super::topology::{CellId, ChainId};

/// How [`Allocator::pick_cell`] ranks a candidate, lowest first: bad, partly on nodes
/// that are not suggested, needs a split, opportunistic leaves to preempt (then cell id).
type CandidateKey = (bool, bool, bool, u32);

impl Allocator {
    fn free_insert(&mut self, cell: CellId) {
        let shape = self.topo.cell(cell);
        self.free_lists[shape.chain as usize][shape.level as usize - 1].insert(cell);
        self.cells[cell as usize].free = true;
    }

    fn free_remove(&mut self, cell: CellId) {
        let shape = self.topo.cell(cell);
        self.free_lists[shape.chain as usize][shape.level as usize - 1].remove(&cell);
        self.cells[cell as usize].free = false;
    }

    fn split(&mut self, cell: CellId) {
        self.free_remove(cell);
        self.cells[cell as usize].split = true;
        for child in self.topo.cell(cell).children.clone() {
            self.free_insert(child);
        }
    }

    /// Makes `cell` itself a free-list entry by splitting the free ancestor that contains
    /// it. Fails when the cell or an ancestor is bound (not obtainable).
    pub(crate) fn take_specific(&mut self, cell: CellId) -> Result<(), ()> {
        let mut path = vec![cell];
        let mut current = cell;
        while !self.cells[current as usize].free {
            if self.cells[current as usize].bound.is_some() {
                return Err(());
            }
            match self.topo.cell(current).parent {
                Some(p) => {
                    path.push(p);
                    current = p;
                }
                None => return Err(()),
            }
        }
        // path = [cell, ..., free ancestor]; split from the top down to cell's parent.
        for &c in path.iter().skip(1).rev() {
            self.split(c);
        }
        Ok(())
    }

    /// Binds a free-list cell to a VC's preassigned cell.
    pub(crate) fn bind(&mut self, vc: VcId, index: u32, cell: CellId) {
        self.free_remove(cell);
        self.cells[cell as usize].bound = Some((vc, index));
        let pre = &mut self.vcs[vc as usize].preassigned[index as usize];
        pre.bound = Some(cell);
        if pre.pinned.is_none() {
            let (chain, level) = (pre.chain, pre.level);
            self.demand[chain as usize][level as usize - 1] -= 1;
            self.rank_binding_changed(vc, index, cell, true);
            self.count_vc_binding(vc, cell, 1);
        }
    }

    /// Returns a preassigned cell's physical cell to the free lists, merging buddies.
    pub(crate) fn unbind(&mut self, vc: VcId, index: u32) {
        let pre = &mut self.vcs[vc as usize].preassigned[index as usize];
        let Some(cell) = pre.bound.take() else { return };
        pre.doomed = false;
        if pre.pinned.is_none() {
            let (chain, level) = (pre.chain, pre.level);
            self.demand[chain as usize][level as usize - 1] += 1;
            self.rank_binding_changed(vc, index, cell, false);
            self.count_vc_binding(vc, cell, -1);
        }
        self.cells[cell as usize].bound = None;
        self.free_insert(cell);
        let mut current = cell;
        while let Some(parent) = self.topo.cell(current).parent {
            let all_free = self
                .topo
                .cell(parent)
                .children
                .iter()
                .all(|&c| self.cells[c as usize].free);
            if !all_free {
                break;
            }
            for child in self.topo.cell(parent).children.clone() {
                self.free_remove(child);
            }
            self.cells[parent as usize].split = false;
            self.free_insert(parent);
            current = parent;
        }
    }

    /// `left` per level (index level-1): cells obtainable at that level minus the VCs'
    /// unbound demand there, computed top down as in the config check.
    pub(crate) fn safety_left(&self, chain: ChainId) -> Vec<i64> {
        self.safety_left_after(chain, |_| (0, 0))
    }

    /// [`Allocator::safety_left`] as it would be with `change(level)` = (free cells,
    /// unbound demand) added at each level.
    fn safety_left_after(&self, chain: ChainId, change: impl Fn(usize) -> (i64, i64)) -> Vec<i64> {
        let c = &self.topo.chains[chain as usize];
        let top = c.top_level() as usize;
        let mut left = vec![0i64; top];
        let mut carried = 0i64;
        for level in (1..=top).rev() {
            let (more_free, more_demand) = change(level);
            let free = self.free_lists[chain as usize][level - 1].len() as i64 + more_free;
            let available = free + carried;
            let demand = self.demand[chain as usize][level - 1] as i64 + more_demand;
            left[level - 1] = available - demand;
            carried = left[level - 1].max(0) * c.fan_out[level - 1] as i64;
            if left[level - 1] < 0 {
                carried = 0;
            }
        }
        left
    }

    /// True when the VC safety invariant holds on `chain`.
    pub fn is_safe(&self, chain: ChainId) -> bool {
        self.safety_left(chain).iter().all(|&l| l >= 0)
    }

    /// Whether binding a preassigned cell of `level` to a cell taken out of a free cell of
    /// the higher level `high` keeps the invariant wherever it holds now (spec section 3:
    /// "split only as much as the invariant allows"). The split takes one cell of `high`
    /// and leaves the other children of each split cell free below it, down to `level`,
    /// where the binding also meets one unit of demand. Having a spare cell at `high` is
    /// not enough: a level in between whose demand that cell's children were to meet
    /// loses one (a VC's switch taken from a free rack leaves one node fewer for a VC
    /// that wants every free node).
    fn split_keeps_safe(&self, chain: ChainId, level: u8, high: u8, now: &[i64]) -> bool {
        let fan_out = &self.topo.chains[chain as usize].fan_out;
        let (level, high) = (level as usize, high as usize);
        let after = self.safety_left_after(chain, |l| {
            let more_free = if l == high {
                -1
            } else if (level..high).contains(&l) {
                i64::from(fan_out[l]) - 1
            } else {
                0
            };
            (more_free, if l == level { -1 } else { 0 })
        });
        after.iter().zip(now).all(|(&a, &n)| a >= 0 || n < 0)
    }

    /// Chooses the physical cell to bind a preassigned cell of `level` to: free cells of
    /// that level first, or a cell inside a free higher cell when splitting it keeps the
    /// invariant. Prefers healthy cells, then cells wholly on suggested nodes, then no
    /// split, then the fewest opportunistic leaves to preempt. `healthy_only` refuses bad
    /// cells. With `suggested` nodes, a cell none of whose nodes is suggested is refused:
    /// no pod could go there (spec section 3: a cell is usable when at least one of its
    /// nodes is suggested).
    pub(crate) fn pick_cell(
        &self,
        chain: ChainId,
        level: u8,
        suggested: Option<&HashSet<String>>,
        healthy_only: bool,
    ) -> Option<CellId> {
        self.pick_cell_where(chain, level, suggested, |_, bad| !healthy_only || !bad)
    }

    /// [`Allocator::pick_cell`] among the candidates `accept(cell, bad)` lets through:
    /// dooming picks bad cells only with it.
    pub(crate) fn pick_cell_where(
        &self,
        chain: ChainId,
        level: u8,
        suggested: Option<&HashSet<String>>,
        accept: impl Fn(CellId, bool) -> bool,
    ) -> Option<CellId> {
        let mut best: Option<(CandidateKey, CellId)> = None;
        self.scan_candidates(chain, level, suggested, accept, |found| match found {
            Some(candidate) => {
                if best.is_none_or(|b| candidate < b) {
                    best = Some(candidate);
                }
                false
            }
            // A clean, unsplit, healthy candidate cannot be beaten by splitting.
            None => matches!(best, Some(((false, false, false, 0), _))),
        });
        best.map(|(_, c)| c)
    }

    /// Every candidate [`Allocator::pick_cell`] would consider, best first: for a
    /// search that tries them in turn, listed once rather than picked again per try.
    pub(crate) fn cells_in_order(
        &self,
        chain: ChainId,
        level: u8,
        suggested: Option<&HashSet<String>>,
        accept: impl Fn(CellId, bool) -> bool,
    ) -> Vec<CellId> {
        let mut all = Vec::new();
        self.scan_candidates(chain, level, suggested, accept, |found| {
            all.extend(found);
            false
        });
        all.sort_unstable();
        all.into_iter().map(|(_, c)| c).collect()
    }

    /// Calls `visit(Some((key, cell)))` for every cell of `level` that binding may take
    /// (free, or inside a free higher cell whose split keeps the VC safety invariant;
    /// let through by `accept`; with `suggested` nodes, on at least one of them), free
    /// levels from `level` up, and `visit(None)` after each free level: returning true
    /// there ends the scan.
    fn scan_candidates(
        &self,
        chain: ChainId,
        level: u8,
        suggested: Option<&HashSet<String>>,
        accept: impl Fn(CellId, bool) -> bool,
        mut visit: impl FnMut(Option<(CandidateKey, CellId)>) -> bool,
    ) {
        let c = &self.topo.chains[chain as usize];
        let left = self.safety_left(chain);
        for h in level..=c.top_level() {
            if h > level
                && (left[h as usize - 1] < 1 || !self.split_keeps_safe(chain, level, h, &left))
            {
                continue;
            }
            for &free in &self.free_lists[chain as usize][h as usize - 1] {
                self.for_each_at_level(free, level, &mut |cand| {
                    let state = &self.cells[cand as usize];
                    let bad = state.bad > 0;
                    if !accept(cand, bad) {
                        return;
                    }
                    let partly_unsuggested = match suggested {
                        None => false,
                        Some(s) => {
                            let (any_in, any_out) = self.suggestion_mix(cand, s);
                            if !any_in {
                                return;
                            }
                            any_out
                        }
                    };
                    visit(Some((
                        (bad, partly_unsuggested, h > level, state.opp_used),
                        cand,
                    )));
                });
            }
            if visit(None) {
                break;
            }
        }
    }

    /// Whether some of `cell`'s nodes are in `suggested`, and whether some are not. A
    /// leaf without a node counts as suggested (nothing can rule it out).
    fn suggestion_mix(&self, cell: CellId, suggested: &HashSet<String>) -> (bool, bool) {
        let (mut any_in, mut any_out) = (false, false);
        let mut last_node = None;
        for &leaf in self.topo.leaves_of(cell) {
            // A node's leaves are one run: look each node up once.
            let node = self.topo.cell(leaf).node;
            if node.is_some() && node == last_node {
                continue;
            }
            last_node = node;
            match self.topo.node_name(leaf) {
                Some(n) if !suggested.contains(n) => any_out = true,
                _ => any_in = true,
            }
            if any_in && any_out {
                break;
            }
        }
        (any_in, any_out)
    }

    fn for_each_at_level(&self, cell: CellId, level: u8, f: &mut dyn FnMut(CellId)) {
        let shape = self.topo.cell(cell);
        if shape.level == level {
            f(cell);
        } else if shape.level > level {
            for &child in &shape.children {
                self.for_each_at_level(child, level, f);
            }
        }
    }

    /// Binds a preassigned cell to the best candidate (see [`Allocator::pick_cell`]).
    pub(crate) fn bind_best(
        &mut self,
        vc: VcId,
        index: u32,
        suggested: Option<&HashSet<String>>,
        healthy_only: bool,
    ) -> Option<CellId> {
        let pre = &self.vcs[vc as usize].preassigned[index as usize];
        let (chain, level) = (pre.chain, pre.level);
        let cell = self.pick_cell(chain, level, suggested, healthy_only)?;
        self.take_specific(cell).ok()?;
        self.bind(vc, index, cell);
        Some(cell)
    }
}
