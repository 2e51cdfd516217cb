//! From a list of nodes (name, SKU, GPUs) to a validated [`CellConfig`]: the cell types of
//! the module doc, racks as top-level cells, one VC `default` owning every node. The cells
//! are written as a HiveD document and read back through the HiveD reader, so a built
//! cluster passes exactly the validation a hand-written config does. Also turns a
//! config's physical part back into a HiveD document (for re-validating with new VCs).

use std::collections::{BTreeMap, HashMap};

use serde_yaml_ng::{Mapping, Value};

use super::ClusterBuildError;
use crate::config::error::{ConfigError, ConfigErrors, Diag};
use crate::config::hived::{self, MAX_CELLS};
use crate::config::model::{CellConfig, PhysicalCellSpec};

/// One machine of a cluster to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// Node name (the Kubernetes node name; unique in the cluster).
    pub name: String,
    /// GPU model: becomes the leaf cell type. Letters, digits, `-` and `_` only.
    pub sku: String,
    /// GPUs in the node (at least 1).
    pub gpus: u32,
}

/// Nodes of one SKU and size that are cut into racks of `rack_nodes`.
#[derive(Debug, Clone)]
pub(crate) struct NodeGroup {
    pub sku: String,
    pub gpus: u32,
    pub rack_nodes: u32,
    pub names: Vec<String>,
}

/// Whether `name` can be a cell type name (and so a SKU): non-empty, letters, digits,
/// `-` and `_`. Dots would break VC paths (`CHAIN.TYPE`) and slashes cell addresses.
pub(crate) fn valid_sku(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Group nodes by (SKU, GPUs) in order of first appearance, all with racks of `rack`.
pub(crate) fn group_nodes(nodes: Vec<NodeSpec>, rack: u32) -> Vec<NodeGroup> {
    let mut groups: Vec<NodeGroup> = Vec::new();
    let mut index: HashMap<(String, u32), usize> = HashMap::new();
    for node in nodes {
        let key = (node.sku.clone(), node.gpus);
        let at = *index.entry(key).or_insert_with(|| {
            groups.push(NodeGroup {
                sku: node.sku.clone(),
                gpus: node.gpus,
                rack_nodes: rack,
                names: Vec::new(),
            });
            groups.len() - 1
        });
        groups[at].names.push(node.name);
    }
    groups
}

/// Build a cluster from `nodes` grouped by SKU and size into racks of `rack_nodes`.
/// `source` names the input in messages and becomes the config's `source`.
pub fn cluster_from_nodes(
    nodes: Vec<NodeSpec>,
    rack_nodes: u32,
    source: &str,
) -> Result<CellConfig, ClusterBuildError> {
    for node in &nodes {
        if !valid_sku(&node.sku) || node.gpus == 0 {
            return Err(ClusterBuildError::Empty {
                source_name: source.to_string(),
                message: format!(
                    "node {} has SKU {:?} and {} GPUs; a node needs at least 1 GPU and a SKU of letters, digits, '-' and '_'",
                    node.name, node.sku, node.gpus
                ),
            });
        }
    }
    build(group_nodes(nodes, rack_nodes.max(1)), source)
}

/// The node-level type of `sku` x `gpus` and the types below it, as (name, child, number).
fn node_types(sku: &str, gpus: u32) -> (String, Vec<(String, String, u32)>) {
    let switch = format!("{sku}-SWITCH");
    let socket = format!("{sku}-SOCKET");
    let node = format!("{sku}x{gpus}-NODE");
    let mut below = Vec::new();
    let (child, number) = match gpus {
        8 => {
            below.push((switch.clone(), sku.to_string(), 2));
            below.push((socket.clone(), switch, 2));
            (socket, 2)
        }
        4 => {
            below.push((switch.clone(), sku.to_string(), 2));
            (switch, 2)
        }
        n => (sku.to_string(), n),
    };
    below.push((node.clone(), child, number));
    (node, below)
}

fn rack_type(sku: &str, gpus: u32, nodes: usize) -> String {
    format!("{sku}x{gpus}-{nodes}NODE-RACK")
}

/// Cells in one node of `gpus` GPUs (leaves plus inner cells plus the node).
pub(crate) fn cells_per_node(gpus: u32) -> u64 {
    match gpus {
        8 => 8 + 4 + 2 + 1,
        4 => 4 + 2 + 1,
        n => u64::from(n) + 1,
    }
}

fn cell_type_value(child: &str, number: u32, node: bool) -> Value {
    let mut m = Mapping::new();
    m.insert("childCellType".into(), child.into());
    m.insert("childCellNumber".into(), u64::from(number).into());
    if node {
        m.insert("isNodeLevel".into(), true.into());
    }
    Value::Mapping(m)
}

/// Build and validate the cluster of `groups`; `source` names the input.
pub(crate) fn build(groups: Vec<NodeGroup>, source: &str) -> Result<CellConfig, ClusterBuildError> {
    let groups: Vec<NodeGroup> = groups.into_iter().filter(|g| !g.names.is_empty()).collect();
    if groups.is_empty() {
        return Err(ClusterBuildError::Empty {
            source_name: source.to_string(),
            message: "no node with GPUs, so there is nothing to schedule on; check that the file lists GPU machines".to_string(),
        });
    }
    // Checked before building anything, so that a spec like "10000000x V100x8" is refused
    // without first building a huge document.
    let cells: u64 = groups
        .iter()
        .map(|g| {
            let racks = (g.names.len() as u64).div_ceil(u64::from(g.rack_nodes.max(1)));
            (g.names.len() as u64).saturating_mul(cells_per_node(g.gpus)) + racks
        })
        .fold(0, u64::saturating_add);
    if cells > MAX_CELLS {
        return Err(ClusterBuildError::Empty {
            source_name: source.to_string(),
            message: format!(
                "the cluster would have {cells} cells; cellsim supports at most {MAX_CELLS}: use fewer nodes"
            ),
        });
    }
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for group in &groups {
        for name in &group.names {
            if let Some(first) = seen.insert(name, &group.sku) {
                return Err(ClusterBuildError::Empty {
                    source_name: source.to_string(),
                    message: format!(
                        "node name {name} is used twice (SKUs {first} and {}); give every node its own name",
                        group.sku
                    ),
                });
            }
        }
    }

    let mut cell_types: BTreeMap<String, (String, u32, bool)> = BTreeMap::new();
    let mut define =
        |name: String, child: String, number: u32, node: bool| match cell_types.get(&name) {
            Some(existing) if *existing != (child.clone(), number, node) => Err(name),
            _ => {
                cell_types.insert(name, (child, number, node));
                Ok(())
            }
        };
    let clash = |name: String| ClusterBuildError::Empty {
        source_name: source.to_string(),
        message: format!(
            "the generated cell type {name} would be defined twice, differently (a SKU name looks like a generated type name); rename the SKU"
        ),
    };
    let mut physical_cells = Vec::new();
    let mut vc_cells: Vec<(String, String, u64)> = Vec::new();
    for group in &groups {
        let (node_type, below) = node_types(&group.sku, group.gpus);
        for (name, child, number) in below {
            let node = name == node_type;
            define(name, child, number, node).map_err(clash)?;
        }
        for rack in group.names.chunks(group.rack_nodes.max(1) as usize) {
            let top = rack_type(&group.sku, group.gpus, rack.len());
            let Ok(count) = u32::try_from(rack.len()) else {
                continue; // a rack holds at most rack_nodes (a u32) nodes
            };
            define(top.clone(), node_type.clone(), count, false).map_err(clash)?;
            let children: Vec<Value> = rack
                .iter()
                .map(|name| {
                    let mut c = Mapping::new();
                    c.insert("cellAddress".into(), name.as_str().into());
                    Value::Mapping(c)
                })
                .collect();
            let mut cell = Mapping::new();
            cell.insert("cellType".into(), top.as_str().into());
            cell.insert("cellChildren".into(), Value::Sequence(children));
            physical_cells.push(Value::Mapping(cell));
            match vc_cells.iter_mut().find(|(chain, _, _)| *chain == top) {
                Some(entry) => entry.2 += rack.len() as u64,
                None => vc_cells.push((top, node_type.clone(), rack.len() as u64)),
            }
        }
    }
    // A leaf type that is also a generated non-leaf type (SKU "V100-SWITCH" next to SKU
    // "V100") would silently change the hierarchy.
    for group in &groups {
        if cell_types.contains_key(&group.sku) {
            return Err(clash(group.sku.clone()));
        }
    }

    let mut types = Mapping::new();
    for (name, (child, number, node)) in &cell_types {
        types.insert(name.as_str().into(), cell_type_value(child, *number, *node));
    }
    let mut physical = Mapping::new();
    physical.insert("cellTypes".into(), Value::Mapping(types));
    physical.insert("physicalCells".into(), Value::Sequence(physical_cells));
    let virtual_cells: Vec<Value> = vc_cells
        .into_iter()
        .map(|(chain, node, n)| {
            let mut m = Mapping::new();
            m.insert("cellType".into(), format!("{chain}.{node}").into());
            m.insert("cellNumber".into(), n.into());
            Value::Mapping(m)
        })
        .collect();
    let mut default_vc = Mapping::new();
    default_vc.insert("virtualCells".into(), Value::Sequence(virtual_cells));
    let mut vcs = Mapping::new();
    vcs.insert("default".into(), Value::Mapping(default_vc));
    let mut doc = Mapping::new();
    doc.insert("physicalCluster".into(), Value::Mapping(physical));
    doc.insert("virtualClusters".into(), Value::Mapping(vcs));

    let mut diag = Diag::new(source);
    diag.prefix = "(cells built from it)".to_string();
    let config = hived::build(&Value::Mapping(doc), &mut diag);
    finish(config, diag, source)
}

/// The validated config, or the errors (never an empty list).
pub(crate) fn finish(
    config: Option<CellConfig>,
    diag: Diag,
    source: &str,
) -> Result<CellConfig, ClusterBuildError> {
    match config {
        Some(config) if !diag.has_errors() => Ok(config),
        _ => {
            let mut errors = diag.into_errors();
            if errors.is_empty() {
                errors = ConfigErrors::single(ConfigError::new(
                    source,
                    "",
                    "the cluster could not be built",
                ));
            }
            Err(ClusterBuildError::Config(errors))
        }
    }
}

/// `config`'s physical part as a HiveD `physicalCluster` mapping, every cell written out
/// with its address so that reading it back gives the same cells.
pub(crate) fn physical_value(config: &CellConfig) -> Value {
    fn cell(spec: &PhysicalCellSpec, top: bool) -> Value {
        let mut m = Mapping::new();
        if top {
            m.insert("cellType".into(), spec.cell_type.as_str().into());
        }
        m.insert("cellAddress".into(), spec.address.as_str().into());
        if let Some(id) = &spec.pinned_cell_id {
            m.insert("pinnedCellId".into(), id.as_str().into());
        }
        if !spec.children.is_empty() {
            let children = spec.children.iter().map(|c| cell(c, false)).collect();
            m.insert("cellChildren".into(), Value::Sequence(children));
        }
        Value::Mapping(m)
    }
    let mut types = Mapping::new();
    for (name, spec) in &config.cell_types {
        types.insert(
            name.as_str().into(),
            cell_type_value(
                &spec.child_cell_type,
                spec.child_cell_number,
                spec.is_node_level,
            ),
        );
    }
    let mut skus = Mapping::new();
    for (name, sku) in &config.sku_types {
        let mut m = Mapping::new();
        m.insert("gpu".into(), u64::from(sku.gpu).into());
        m.insert("cpu".into(), sku.cpu.into());
        m.insert("memory".into(), format!("{}Mi", sku.memory_mib).into());
        skus.insert(name.as_str().into(), Value::Mapping(m));
    }
    let mut physical = Mapping::new();
    physical.insert("cellTypes".into(), Value::Mapping(types));
    if !skus.is_empty() {
        physical.insert("skuTypes".into(), Value::Mapping(skus));
    }
    let cells = config
        .physical_cells
        .iter()
        .map(|c| cell(c, true))
        .collect();
    physical.insert("physicalCells".into(), Value::Sequence(cells));
    Value::Mapping(physical)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(sku: &str, gpus: u32, n: usize) -> Vec<NodeSpec> {
        (0..n)
            .map(|i| NodeSpec {
                name: format!("{}-{i}", sku.to_lowercase()),
                sku: sku.to_string(),
                gpus,
            })
            .collect()
    }

    #[test]
    fn eight_gpu_nodes_get_switch_and_socket_levels() {
        let config = cluster_from_nodes(nodes("V100", 8, 3), 2, "t").unwrap();
        let t = &config.cell_types;
        assert_eq!(t["V100-SWITCH"].child_cell_type, "V100");
        assert_eq!(t["V100-SOCKET"].child_cell_type, "V100-SWITCH");
        assert_eq!(t["V100x8-NODE"].child_cell_type, "V100-SOCKET");
        assert!(t["V100x8-NODE"].is_node_level);
        assert_eq!(t["V100x8-2NODE-RACK"].child_cell_number, 2);
        assert_eq!(t["V100x8-1NODE-RACK"].child_cell_number, 1);
        assert_eq!(config.chains(), ["V100x8-2NODE-RACK", "V100x8-1NODE-RACK"]);
        let leaves: Vec<&str> = config.physical_cells[0].children[1]
            .leaves()
            .iter()
            .map(|l| l.address.as_str())
            .collect();
        assert_eq!(leaves, ["0", "1", "2", "3", "4", "5", "6", "7"]);
        let vc = &config.virtual_clusters["default"].virtual_cells;
        assert_eq!(vc.len(), 2);
        assert_eq!(
            (vc[0].cell_type.as_str(), vc[0].cell_number),
            ("V100x8-NODE", 2)
        );
    }

    #[test]
    fn other_sizes_hang_gpus_under_the_node() {
        let mut all = nodes("K80", 4, 1);
        all.extend(nodes("T4", 2, 1));
        all.extend(nodes("A10", 1, 1));
        all.extend(nodes("X", 6, 1));
        let config = cluster_from_nodes(all, 8, "t").unwrap();
        let t = &config.cell_types;
        assert_eq!(t["K80x4-NODE"].child_cell_type, "K80-SWITCH");
        assert_eq!(t["T4x2-NODE"].child_cell_type, "T4");
        assert_eq!(t["T4x2-NODE"].child_cell_number, 2);
        assert_eq!(t["A10x1-NODE"].child_cell_number, 1);
        assert_eq!(t["Xx6-NODE"].child_cell_number, 6);
        assert!(!t.contains_key("T4-SWITCH"));
    }

    #[test]
    fn a_sku_named_like_a_generated_type_is_refused() {
        let mut all = nodes("V100", 8, 1);
        all.extend(nodes("V100-SWITCH", 2, 1));
        let err = cluster_from_nodes(all, 8, "t").unwrap_err().to_string();
        assert!(err.contains("rename the SKU"), "{err}");
    }

    #[test]
    fn the_physical_part_reads_back_identically() {
        let config = cluster_from_nodes(nodes("V100", 8, 3), 2, "t").unwrap();
        let mut doc = Mapping::new();
        doc.insert("physicalCluster".into(), physical_value(&config));
        let back = crate::config::from_hived_value(&Value::Mapping(doc), "t").unwrap();
        assert_eq!(back.physical_cells, config.physical_cells);
        assert_eq!(back.cell_types, config.cell_types);
    }
}
