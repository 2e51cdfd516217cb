//! The validated, fully expanded cluster model that every loader produces and the
//! allocator consumes. Nothing here parses or validates; see `hived.rs` / `openpai.rs`.

use std::collections::BTreeMap;

/// A cluster configuration after parsing, expansion (default children and addresses
/// filled in) and validation. The allocator is built from this alone.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CellConfig {
    /// Where the config came from (a file path or a description), for messages.
    pub source: String,
    /// Non-leaf cell types by name. A type referenced as a child but absent here is a
    /// leaf cell type (one device).
    pub cell_types: BTreeMap<String, CellTypeSpec>,
    /// OpenPAI SKU sizes per leaf cell type (optional in HiveD, used by the job reader).
    pub sku_types: BTreeMap<String, SkuSpec>,
    /// Top-level physical cells, each fully expanded down to its leaves.
    pub physical_cells: Vec<PhysicalCellSpec>,
    /// Virtual clusters by name.
    pub virtual_clusters: BTreeMap<String, VirtualClusterSpec>,
    /// Scheduler server settings carried by a HiveD config.
    pub server: ServerSettings,
    /// Non-fatal findings (e.g. ignored unknown keys), each naming file and YAML path.
    pub warnings: Vec<String>,
}

/// One non-leaf cell type: `childCellNumber` children of `childCellType`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellTypeSpec {
    /// Type of each child cell.
    pub child_cell_type: String,
    /// Number of children (>= 1).
    pub child_cell_number: u32,
    /// Whether a cell of this type is exactly one node (Kubernetes node).
    pub is_node_level: bool,
}

/// Resources of one leaf cell as OpenPAI counts them (`skuTypes`).
#[derive(Debug, Clone, PartialEq)]
pub struct SkuSpec {
    /// GPUs per leaf cell.
    pub gpu: u32,
    /// CPU cores per leaf cell.
    pub cpu: f64,
    /// Memory per leaf cell, in MiB.
    pub memory_mib: u64,
}

/// A physical cell with its children expanded down to the leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhysicalCellSpec {
    /// The cell's type (a key of `cell_types`, or a leaf type).
    pub cell_type: String,
    /// This cell's own address segment: the node name for node-level cells, the device
    /// index for leaves, otherwise an index (see spec section 1 for the defaults).
    pub address: String,
    /// Pinned cell id, if the cell is pinned.
    pub pinned_cell_id: Option<String>,
    /// Children, in configuration order; empty for leaves.
    pub children: Vec<PhysicalCellSpec>,
}

/// One virtual cluster's guarantee.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VirtualClusterSpec {
    /// Preassigned (non-pinned) cells.
    pub virtual_cells: Vec<VirtualCellSpec>,
    /// Ids of pinned physical cells owned by this VC.
    pub pinned_cells: Vec<String>,
}

/// `cellNumber` preassigned cells of `cell_type` in `chain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCellSpec {
    /// The chain: the cell type of a top-level physical cell (first segment of the dotted path).
    pub chain: String,
    /// The type of each preassigned cell (last segment of the dotted path).
    pub cell_type: String,
    /// How many cells of that type.
    pub cell_number: u32,
}

/// Server keys of a HiveD config that the live server honours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    /// `webServerAddress`, default `:9096`.
    pub web_server_address: String,
    /// `waitingPodSchedulingBlockMilliSec`, if set.
    pub waiting_pod_scheduling_block_ms: Option<u64>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            web_server_address: ":9096".to_string(),
            waiting_pod_scheduling_block_ms: None,
        }
    }
}

impl CellConfig {
    /// True when `cell_type` is a leaf type (referenced as a child but not defined).
    pub fn is_leaf_type(&self, cell_type: &str) -> bool {
        !self.cell_types.contains_key(cell_type)
    }

    /// The leaf cell type reached by following `childCellType` down from `cell_type`.
    /// Config validation guarantees the chain terminates.
    pub fn leaf_type_of<'a>(&'a self, mut cell_type: &'a str) -> &'a str {
        let mut steps = 0;
        while let Some(spec) = self.cell_types.get(cell_type) {
            cell_type = &spec.child_cell_type;
            steps += 1;
            if steps > self.cell_types.len() {
                break; // a cycle; validation rejects these, so just stop
            }
        }
        cell_type
    }

    /// Number of leaf cells in one cell of `cell_type`.
    pub fn leaf_count_of<'a>(&'a self, mut cell_type: &'a str) -> u64 {
        let mut count = 1u64;
        let mut steps = 0;
        while let Some(spec) = self.cell_types.get(cell_type) {
            count = count.saturating_mul(spec.child_cell_number as u64);
            cell_type = &spec.child_cell_type;
            steps += 1;
            if steps > self.cell_types.len() {
                break;
            }
        }
        count
    }

    /// Level of `cell_type`: 1 for a leaf, parent = child level + 1.
    pub fn level_of<'a>(&'a self, mut cell_type: &'a str) -> u32 {
        let mut level = 1;
        while let Some(spec) = self.cell_types.get(cell_type) {
            level += 1;
            cell_type = &spec.child_cell_type;
            if level as usize > self.cell_types.len() + 1 {
                break;
            }
        }
        level
    }
}

impl CellConfig {
    /// The chains (cell types of top-level physical cells), in order of first appearance.
    pub fn chains(&self) -> Vec<&str> {
        let mut chains: Vec<&str> = Vec::new();
        for cell in &self.physical_cells {
            if !chains.contains(&cell.cell_type.as_str()) {
                chains.push(&cell.cell_type);
            }
        }
        chains
    }

    /// The cell types of `chain` from the top-level type down to the leaf type.
    pub fn chain_types<'a>(&'a self, chain: &'a str) -> Vec<&'a str> {
        let mut types = vec![chain];
        let mut current = chain;
        while let Some(spec) = self.cell_types.get(current) {
            current = &spec.child_cell_type;
            types.push(current);
            if types.len() > self.cell_types.len() + 1 {
                break; // a cycle; validation rejects these
            }
        }
        types
    }

    /// The physical cell carrying pinned cell `id`, with its full address
    /// (`0/10.151.41.21`, segments joined by `/` from the top-level cell down).
    pub fn pinned_cell(&self, id: &str) -> Option<(&PhysicalCellSpec, String)> {
        fn find<'a>(
            cell: &'a PhysicalCellSpec,
            id: &str,
            prefix: &str,
        ) -> Option<(&'a PhysicalCellSpec, String)> {
            let address = if prefix.is_empty() {
                cell.address.clone()
            } else {
                format!("{prefix}/{}", cell.address)
            };
            if cell.pinned_cell_id.as_deref() == Some(id) {
                return Some((cell, address));
            }
            cell.children
                .iter()
                .find_map(|child| find(child, id, &address))
        }
        self.physical_cells
            .iter()
            .find_map(|cell| find(cell, id, ""))
    }
}

impl PhysicalCellSpec {
    /// Number of leaf cells (devices) in this cell; 1 for a leaf.
    pub fn leaf_count(&self) -> u64 {
        if self.children.is_empty() {
            1
        } else {
            self.children.iter().map(PhysicalCellSpec::leaf_count).sum()
        }
    }

    /// The leaf cells under this cell (itself for a leaf), in configuration order.
    pub fn leaves(&self) -> Vec<&PhysicalCellSpec> {
        if self.children.is_empty() {
            vec![self]
        } else {
            self.children
                .iter()
                .flat_map(PhysicalCellSpec::leaves)
                .collect()
        }
    }
}
