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

    /// Recomputes doomed bindings on a chain: drop unused doomed bindings, then bind bad
    /// cells to the VCs whose unbound preassigned cells cannot all get healthy ones.
    pub(crate) fn refresh_doomed(&mut self, chain: ChainId) {
        for vc in 0..self.vcs.len() {
            for p in 0..self.vcs[vc].preassigned.len() {
                let pre = &self.vcs[vc].preassigned[p];
                if pre.chain == chain && pre.doomed && pre.usage == 0 {
                    self.unbind(vc as VcId, p as u32);
                }
            }
        }
        // Try to give every unbound preassigned cell a healthy physical cell, highest
        // levels first; the ones that cannot get one are doomed to a bad cell.
        let mut wanted: Vec<(u8, VcId, u32)> = Vec::new();
        for (vc, v) in self.vcs.iter().enumerate() {
            for (p, pre) in v.preassigned.iter().enumerate() {
                if pre.chain == chain && pre.bound.is_none() && pre.pinned.is_none() {
                    wanted.push((pre.level, vc as VcId, p as u32));
                }
            }
        }
        wanted.sort_by_key(|&(level, vc, p)| (std::cmp::Reverse(level), vc, p));
        let mut tentative = Vec::new();
        let mut doomed = Vec::new();
        for &(_, vc, p) in &wanted {
            if self.bind_best(vc, p, None, true).is_some() {
                tentative.push((vc, p));
            } else {
                doomed.push((vc, p));
            }
        }
        // Doom while the healthy cells are still taken, so only bad cells are left to pick.
        for (vc, p) in doomed {
            if self.bind_best(vc, p, None, false).is_some() {
                self.vcs[vc as usize].preassigned[p as usize].doomed = true;
            }
        }
        for &(vc, p) in tentative.iter().rev() {
            self.unbind(vc, p);
        }
    }
}
