//! Bad nodes (spec section 6): leaves on a bad node are never placed on, and when a VC's
//! guarantee can no longer be met by healthy free cells, bad free cells are bound to it
//! as "doomed" so its accounting shows the loss instead of another VC's cells.

use super::allocator::{Allocator, AllocatorError, VcId};
use super::topology::{CellId, ChainId};

impl Allocator {
    /// Marks a node healthy or bad. Groups running there keep their cells (the caller
    /// decides whether to kill them); waiting groups see the change on their next try.
    pub fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), AllocatorError> {
        let Some(&node_id) = self.topo.node_by_name.get(node) else {
            return Err(AllocatorError::UnknownNode(node.to_string()));
        };
        let mut chains = Vec::new();
        for cell in self.topo.nodes[node_id as usize].cells.clone() {
            chains.push(self.topo.cell(cell).chain);
            for leaf in self.topo.leaves_of(cell).to_vec() {
                self.set_leaf_bad(leaf, !healthy);
            }
        }
        chains.dedup();
        for chain in chains {
            self.refresh_doomed(chain);
        }
        Ok(())
    }

    /// Whether a node is healthy (all its leaves).
    pub fn node_healthy(&self, node: &str) -> Option<bool> {
        let &node_id = self.topo.node_by_name.get(node)?;
        Some(
            self.topo.nodes[node_id as usize]
                .cells
                .iter()
                .all(|&c| self.cells[c as usize].bad == 0),
        )
    }

    /// Names of bad nodes, in topology order.
    pub fn bad_nodes(&self) -> Vec<String> {
        self.topo
            .nodes
            .iter()
            .filter(|n| n.cells.iter().any(|&c| self.cells[c as usize].bad > 0))
            .map(|n| n.name.clone())
            .collect()
    }

    fn set_leaf_bad(&mut self, leaf: CellId, bad: bool) {
        let was_bad = self.cells[leaf as usize].bad > 0;
        if was_bad == bad {
            return;
        }
        let was_vacant = self.cells[leaf as usize].is_vacant_leaf();
        let delta: i64 = if bad { 1 } else { -1 };
        self.bad_leaves = (self.bad_leaves as i64 + delta) as u32;
        self.note_leaf_changed(leaf);
        let mut cell = Some(leaf);
        while let Some(c) = cell {
            let s = &mut self.cells[c as usize];
            s.bad = (s.bad as i64 + delta) as u32;
            cell = self.topo.cell(c).parent;
        }
        let is_vacant = self.cells[leaf as usize].is_vacant_leaf();
        self.add_vacant(leaf, i64::from(is_vacant) - i64::from(was_vacant));
    }

    /// Recomputes doomed bindings on a chain: drops the unused ones, then, level by level
    /// from the top and VC by VC, binds bad free cells to a VC while its own unbound
    /// preassigned cells at that level outnumber the healthy cells obtainable there
    /// (spec section 6, as HiveD's `tryBindDoomedBadCell`). Each VC is measured against
    /// all the healthy cells, not what other VCs leave of them: two VCs that could each
    /// use the one healthy cell are both left undoomed, and the first to place takes it.
    pub(crate) fn refresh_doomed(&mut self, chain: ChainId) {
        for vc in 0..self.vcs.len() {
            for p in 0..self.vcs[vc].preassigned.len() {
                let pre = &self.vcs[vc].preassigned[p];
                if pre.chain == chain && pre.doomed && pre.usage == 0 {
                    self.unbind(vc as VcId, p as u32);
                }
            }
        }
        if self.bad_leaves == 0 {
            return;
        }
        let top = self.topo.chains[chain as usize].top_level();
        // Higher levels first: dooming a cell takes the healthy cells inside it from the
        // levels below, which must then be counted without them.
        for level in (1..=top).rev() {
            // Counted once per level, and again only after a doom (which is rare).
            let mut healthy = None;
            for vc in 0..self.vcs.len() as VcId {
                loop {
                    let unbound = self.vc_unbound_at(vc, chain, level);
                    if unbound == 0 {
                        break;
                    }
                    let left =
                        *healthy.get_or_insert_with(|| self.healthy_obtainable(chain, level));
                    if unbound <= left {
                        break;
                    }
                    // Safe splits only, as for any binding; none left means nothing to doom.
                    let Some(cell) = self.pick_cell_where(chain, level, None, |_, bad| bad) else {
                        break;
                    };
                    let Some(index) = self.vcs[vc as usize].preassigned.iter().position(|p| {
                        p.chain == chain
                            && p.level == level
                            && p.bound.is_none()
                            && p.pinned.is_none()
                    }) else {
                        break;
                    };
                    if self.take_specific(cell).is_err() {
                        break;
                    }
                    self.bind(vc, index as u32, cell);
                    self.vcs[vc as usize].preassigned[index].doomed = true;
                    healthy = None;
                }
            }
        }
    }

    /// A VC's unbound, unpinned preassigned cells at `level` of `chain`.
    fn vc_unbound_at(&self, vc: VcId, chain: ChainId, level: u8) -> u64 {
        self.vcs[vc as usize]
            .preassigned
            .iter()
            .filter(|p| {
                p.chain == chain && p.level == level && p.bound.is_none() && p.pinned.is_none()
            })
            .count() as u64
    }

    /// Healthy cells at `level` of `chain` that are free or inside a free cell (HiveD's
    /// `totalLeftCellNum` less its bad free cells): what a VC's unbound cells at that
    /// level could still be bound to, other VCs' demand not subtracted.
    fn healthy_obtainable(&self, chain: ChainId, level: u8) -> u64 {
        let c = &self.topo.chains[chain as usize];
        let mut obtainable = 0u64;
        let mut per_cell = 1u64;
        for h in level..=c.top_level() {
            if h > level {
                per_cell *= u64::from(c.fan_out[h as usize - 1]);
            }
            obtainable += self.free_lists[chain as usize][h as usize - 1].len() as u64 * per_cell;
        }
        let mut bad = 0u64;
        for &top in &c.tops {
            self.count_bad_obtainable(top, level, false, &mut bad);
        }
        obtainable.saturating_sub(bad)
    }

    /// Adds to `count` the bad cells at `level` in `cell`'s subtree that are free or lie
    /// in a free cell (`in_free`: an ancestor is free). Only bad subtrees are visited.
    fn count_bad_obtainable(&self, cell: CellId, level: u8, in_free: bool, count: &mut u64) {
        let state = &self.cells[cell as usize];
        if state.bad == 0 {
            return;
        }
        let in_free = in_free || state.free;
        let shape = self.topo.cell(cell);
        if shape.level == level {
            *count += u64::from(in_free);
            return;
        }
        // Below a bound cell nothing is obtainable; below a split one, only free parts.
        if !in_free && !state.split {
            return;
        }
        for &child in &shape.children {
            self.count_bad_obtainable(child, level, in_free, count);
        }
    }
}
