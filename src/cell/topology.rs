//! The physical cell tree, built once from a validated [`CellConfig`]: an arena of cells
//! in depth-first order so that every cell's leaves are one contiguous range, plus the
//! per-chain level structure the buddy allocator and packing need. Only the immutable
//! shape lives here; dynamic state (usage, binding, health) lives in the allocator.

use std::collections::{BTreeMap, HashMap};

use crate::config::{CellConfig, PhysicalCellSpec};

/// Index of a cell in [`Topology::cells`].
pub type CellId = u32;
/// Index of a chain in [`Topology::chains`].
pub type ChainId = u16;
/// Index of a node in [`Topology::nodes`].
pub type NodeId = u32;

/// One physical cell's immutable shape.
#[derive(Debug, Clone)]
pub struct CellShape {
    /// Chain the cell belongs to.
    pub chain: ChainId,
    /// Level: 1 for a leaf, counting up.
    pub level: u8,
    /// Cell type name.
    pub cell_type: String,
    /// Parent cell, `None` at the top.
    pub parent: Option<CellId>,
    /// Child cells in configuration order.
    pub children: Vec<CellId>,
    /// Full address as HiveD prints it (`0/10.151.41.20/1/2`).
    pub address: String,
    /// The node this cell is on (node-level cells and below).
    pub node: Option<NodeId>,
    /// Whether this cell is node-level.
    pub is_node_level: bool,
    /// Device index for leaves (the leaf's own address parsed as an integer).
    pub device_index: Option<u32>,
    /// Pinned cell id, if pinned.
    pub pinned_cell_id: Option<String>,
    /// Range of this cell's leaves in [`Topology::leaves`].
    pub leaf_range: std::ops::Range<u32>,
    /// Index among its siblings.
    pub child_position: u32,
}

impl CellShape {
    /// Number of leaves under this cell.
    pub fn leaf_count(&self) -> u32 {
        self.leaf_range.end - self.leaf_range.start
    }
}

/// A chain: the cells whose top-level type is the same.
#[derive(Debug, Clone)]
pub struct Chain {
    /// Chain name (the top-level cell type).
    pub name: String,
    /// Leaf cell type of the chain.
    pub leaf_type: String,
    /// Cell type per level, index 0 = level 1 (leaf).
    pub level_types: Vec<String>,
    /// Fan-out per level: `fan_out[l]` = children of a cell at level `l + 1`; index 0 unused (1).
    pub fan_out: Vec<u32>,
    /// Level of node-level cells.
    pub node_level: u8,
    /// Top-level cells of this chain.
    pub tops: Vec<CellId>,
    /// The "nodes" packing works on: node-level cells, or top cells when those are below node level.
    pub packing_units: Vec<CellId>,
}

impl Chain {
    /// Top level of the chain.
    pub fn top_level(&self) -> u8 {
        self.level_types.len() as u8
    }

    /// Level of a type in this chain, if the type belongs to it.
    pub fn level_of(&self, cell_type: &str) -> Option<u8> {
        self.level_types
            .iter()
            .position(|t| t == cell_type)
            .map(|i| i as u8 + 1)
    }
}

/// A Kubernetes node.
#[derive(Debug, Clone)]
pub struct Node {
    /// Node name.
    pub name: String,
    /// Node-level cells on this node (usually one; several if a node carries several chains).
    pub cells: Vec<CellId>,
}

/// The immutable cluster shape.
#[derive(Debug, Clone, Default)]
pub struct Topology {
    /// All cells, depth-first.
    pub cells: Vec<CellShape>,
    /// All leaves, depth-first; a cell's leaves are `leaves[leaf_range]`.
    pub leaves: Vec<CellId>,
    /// Chains in configuration order of first appearance.
    pub chains: Vec<Chain>,
    /// Chain index by name.
    pub chain_by_name: BTreeMap<String, ChainId>,
    /// Nodes in order of first appearance.
    pub nodes: Vec<Node>,
    /// Node index by name.
    pub node_by_name: HashMap<String, NodeId>,
    /// Leaf by (node, device index).
    pub leaf_by_device: HashMap<(NodeId, u32), CellId>,
    /// Pinned cell by id.
    pub pinned: BTreeMap<String, CellId>,
}

impl Topology {
    /// Builds the arena from a validated config.
    pub fn build(config: &CellConfig) -> Topology {
        let mut topo = Topology::default();
        for spec in &config.physical_cells {
            let chain = match topo.chain_by_name.get(&spec.cell_type) {
                Some(&c) => c,
                None => {
                    let chain = make_chain(config, &spec.cell_type);
                    let id = topo.chains.len() as ChainId;
                    topo.chain_by_name.insert(spec.cell_type.clone(), id);
                    topo.chains.push(chain);
                    id
                }
            };
            let top_level = topo.chains[chain as usize].top_level();
            let position = topo.chains[chain as usize].tops.len() as u32;
            let id = topo.add_cell(config, spec, chain, top_level, None, "", None, position);
            topo.chains[chain as usize].tops.push(id);
        }
        for chain in 0..topo.chains.len() {
            let node_level = topo.chains[chain].node_level;
            let mut units = Vec::new();
            for &top in &topo.chains[chain].tops.clone() {
                topo.collect_units(top, node_level, &mut units);
            }
            topo.chains[chain].packing_units = units;
        }
        topo
    }

    fn collect_units(&self, cell: CellId, node_level: u8, out: &mut Vec<CellId>) {
        let shape = &self.cells[cell as usize];
        if shape.level <= node_level {
            out.push(cell);
        } else {
            for &child in &shape.children {
                self.collect_units(child, node_level, out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add_cell(
        &mut self,
        config: &CellConfig,
        spec: &PhysicalCellSpec,
        chain: ChainId,
        level: u8,
        parent: Option<CellId>,
        parent_address: &str,
        node: Option<NodeId>,
        position: u32,
    ) -> CellId {
        let id = self.cells.len() as CellId;
        let address = if parent_address.is_empty() {
            spec.address.clone()
        } else {
            format!("{parent_address}/{}", spec.address)
        };
        let is_node_level = config
            .cell_types
            .get(&spec.cell_type)
            .is_some_and(|t| t.is_node_level)
            || (level == 1 && node.is_none() && self.chains[chain as usize].node_level == 1);
        let node = if is_node_level {
            let name = spec.address.clone();
            let node_id = match self.node_by_name.get(&name) {
                Some(&n) => n,
                None => {
                    let n = self.nodes.len() as NodeId;
                    self.nodes.push(Node {
                        name: name.clone(),
                        cells: Vec::new(),
                    });
                    self.node_by_name.insert(name, n);
                    n
                }
            };
            self.nodes[node_id as usize].cells.push(id);
            Some(node_id)
        } else {
            node
        };
        let device_index = if level == 1 {
            spec.address.parse().ok().or(Some(position))
        } else {
            None
        };
        if let (Some(n), Some(d)) = (node, device_index) {
            self.leaf_by_device.insert((n, d), id);
        }
        if let Some(pin) = &spec.pinned_cell_id {
            self.pinned.insert(pin.clone(), id);
        }
        let leaf_start = self.leaves.len() as u32;
        self.cells.push(CellShape {
            chain,
            level,
            cell_type: spec.cell_type.clone(),
            parent,
            children: Vec::new(),
            address: address.clone(),
            node,
            is_node_level,
            device_index,
            pinned_cell_id: spec.pinned_cell_id.clone(),
            leaf_range: leaf_start..leaf_start,
            child_position: position,
        });
        if level == 1 {
            self.leaves.push(id);
        }
        let mut children = Vec::with_capacity(spec.children.len());
        for (i, child) in spec.children.iter().enumerate() {
            children.push(self.add_cell(
                config,
                child,
                chain,
                level - 1,
                Some(id),
                &address,
                node,
                i as u32,
            ));
        }
        let leaf_end = self.leaves.len() as u32;
        let shape = &mut self.cells[id as usize];
        shape.children = children;
        shape.leaf_range = leaf_start..leaf_end;
        id
    }

    /// The cell's leaves.
    pub fn leaves_of(&self, cell: CellId) -> &[CellId] {
        let r = &self.cells[cell as usize].leaf_range;
        &self.leaves[r.start as usize..r.end as usize]
    }

    /// Shape of a cell.
    pub fn cell(&self, cell: CellId) -> &CellShape {
        &self.cells[cell as usize]
    }

    /// The ancestor of `cell` at `level` (or the cell itself).
    pub fn ancestor_at(&self, mut cell: CellId, level: u8) -> Option<CellId> {
        loop {
            let shape = &self.cells[cell as usize];
            if shape.level == level {
                return Some(cell);
            }
            if shape.level > level {
                return None;
            }
            cell = shape.parent?;
        }
    }

    /// Node name of a cell on a node.
    pub fn node_name(&self, cell: CellId) -> Option<&str> {
        self.cells[cell as usize]
            .node
            .map(|n| self.nodes[n as usize].name.as_str())
    }
}

fn make_chain(config: &CellConfig, top_type: &str) -> Chain {
    let mut down = vec![top_type.to_string()];
    let mut fan = vec![];
    let mut node_level_from_top = None;
    let mut current = top_type.to_string();
    while let Some(spec) = config.cell_types.get(&current) {
        if spec.is_node_level && node_level_from_top.is_none() {
            node_level_from_top = Some(down.len() - 1);
        }
        fan.push(spec.child_cell_number);
        current = spec.child_cell_type.clone();
        down.push(current.clone());
        if down.len() > config.cell_types.len() + 1 {
            break;
        }
    }
    let depth = down.len();
    let level_types: Vec<String> = down.iter().rev().cloned().collect();
    let mut fan_out = vec![1u32];
    fan_out.extend(fan.iter().rev().copied());
    // A chain whose top is a leaf has no node level; treat the leaf as the node.
    let node_level = node_level_from_top.map(|i| (depth - i) as u8).unwrap_or(1);
    Chain {
        name: top_type.to_string(),
        leaf_type: level_types[0].clone(),
        level_types,
        fan_out,
        node_level,
        tops: Vec::new(),
        packing_units: Vec::new(),
    }
}
