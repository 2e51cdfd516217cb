//! A plain-text summary of a loaded [`CellConfig`] for `cellsim validate`: chains and
//! their levels, nodes and devices per leaf type, and each VC's guarantee. Deterministic:
//! chains in configuration order, leaf types and VCs by name.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write;

use super::model::{CellConfig, PhysicalCellSpec};

/// Render `config` as readable text, one fact per line, ending with a newline.
pub fn summary(config: &CellConfig) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_summary(config, &mut out);
    out
}

fn write_summary(config: &CellConfig, out: &mut String) -> std::fmt::Result {
    writeln!(out, "config: {}", config.source)?;
    let chains = config.chains();
    if chains.is_empty() {
        writeln!(out, "chains: 0 (empty cluster)")?;
    } else {
        writeln!(out, "chains: {}", chains.len())?;
    }
    for chain in &chains {
        let tops: Vec<&PhysicalCellSpec> = config
            .physical_cells
            .iter()
            .filter(|c| c.cell_type == *chain)
            .collect();
        let types = config.chain_types(chain);
        let leaf = types.last().copied().unwrap_or(chain);
        let plural = if tops.len() == 1 { "" } else { "s" };
        writeln!(
            out,
            "  {chain}: {} top-level cell{plural}, leaf type {leaf}",
            tops.len()
        )?;
        let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
        for top in &tops {
            count_types(top, &mut counts);
        }
        let width = types.iter().map(|t| t.len()).max().unwrap_or(0);
        for cell_type in &types {
            let level = config.level_of(cell_type);
            let count = counts.get(cell_type).copied().unwrap_or(0);
            let node = if config
                .cell_types
                .get(*cell_type)
                .is_some_and(|t| t.is_node_level)
            {
                "  (node level)"
            } else {
                ""
            };
            let cells = if count == 1 { "cell" } else { "cells" };
            writeln!(
                out,
                "    level {level:<2} {cell_type:<width$}  {count} {cells}{node}"
            )?;
        }
    }

    // Nodes and devices per leaf type; a node may hold several leaf types.
    let mut per_leaf: BTreeMap<String, (BTreeSet<String>, u64)> = BTreeMap::new();
    for top in &config.physical_cells {
        collect_nodes(config, top, &mut per_leaf);
    }
    let all_nodes: BTreeSet<&String> = per_leaf.values().flat_map(|(nodes, _)| nodes).collect();
    writeln!(out, "nodes: {}", all_nodes.len())?;
    for (leaf, (nodes, devices)) in &per_leaf {
        writeln!(
            out,
            "  {leaf}: {}, {}",
            plural(nodes.len() as u64, "node"),
            plural(*devices, "device")
        )?;
    }

    writeln!(out, "virtual clusters: {}", config.virtual_clusters.len())?;
    for (name, vc) in &config.virtual_clusters {
        writeln!(out, "  {name}:")?;
        if vc.virtual_cells.is_empty() && vc.pinned_cells.is_empty() {
            writeln!(out, "    (no cells)")?;
        }
        // Sum entries naming the same chain and type, keeping first-appearance order.
        let mut guarantees: Vec<(&str, &str, u64)> = Vec::new();
        for cell in &vc.virtual_cells {
            match guarantees
                .iter_mut()
                .find(|(c, t, _)| *c == cell.chain && *t == cell.cell_type)
            {
                Some(entry) => entry.2 += u64::from(cell.cell_number),
                None => {
                    guarantees.push((&cell.chain, &cell.cell_type, u64::from(cell.cell_number)))
                }
            }
        }
        for (chain, cell_type, number) in guarantees {
            let leaves = number.saturating_mul(config.leaf_count_of(cell_type));
            let leaf = config.leaf_type_of(cell_type);
            writeln!(
                out,
                "    {chain}: {number} x {cell_type} = {} ({leaf})",
                plural(leaves, "leaf cell")
            )?;
        }
        for id in &vc.pinned_cells {
            match config.pinned_cell(id) {
                Some((cell, address)) => {
                    let leaf = config.leaf_type_of(&cell.cell_type);
                    writeln!(
                        out,
                        "    pinned {id}: {} at {address} = {} ({leaf})",
                        cell.cell_type,
                        plural(cell.leaf_count(), "leaf cell")
                    )?;
                }
                None => writeln!(out, "    pinned {id}: (not found)")?,
            }
        }
    }
    Ok(())
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn count_types<'a>(cell: &'a PhysicalCellSpec, counts: &mut BTreeMap<&'a str, u64>) {
    *counts.entry(&cell.cell_type).or_default() += 1;
    for child in &cell.children {
        count_types(child, counts);
    }
}

fn collect_nodes(
    config: &CellConfig,
    cell: &PhysicalCellSpec,
    out: &mut BTreeMap<String, (BTreeSet<String>, u64)>,
) {
    if config
        .cell_types
        .get(&cell.cell_type)
        .is_some_and(|t| t.is_node_level)
    {
        let leaf = config.leaf_type_of(&cell.cell_type).to_string();
        let entry = out.entry(leaf).or_default();
        entry.0.insert(cell.address.clone());
        entry.1 += cell.leaf_count();
        return;
    }
    for child in &cell.children {
        collect_nodes(config, child, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    const CLUSTER_B: &str = "
physicalCluster:
  cellTypes:
    GPU-NODE: {childCellType: GPU, childCellNumber: 1, isNodeLevel: true}
    GPU-NODE-POOL: {childCellType: GPU-NODE, childCellNumber: 2}
  physicalCells:
  - cellType: GPU-NODE-POOL
    cellChildren: [{cellAddress: hostname-carol}, {cellAddress: hostname-dan}]
virtualClusters:
  default: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 2}]}
";

    #[test]
    fn summary_lists_chain_levels_nodes_and_guarantees() {
        let config = load_str(CLUSTER_B, "b.yaml").unwrap();
        let text = summary(&config);
        assert_eq!(
            text,
            "config: b.yaml
chains: 1
  GPU-NODE-POOL: 1 top-level cell, leaf type GPU
    level 3  GPU-NODE-POOL  1 cell
    level 2  GPU-NODE       2 cells  (node level)
    level 1  GPU            2 cells
nodes: 2
  GPU: 2 nodes, 2 devices
virtual clusters: 1
  default:
    GPU-NODE-POOL: 2 x GPU-NODE = 2 leaf cells (GPU)
"
        );
    }

    #[test]
    fn empty_cluster_says_so() {
        let config = load_str("# nothing\n", "e.yaml").unwrap();
        assert!(summary(&config).contains("chains: 0 (empty cluster)"));
    }
}
