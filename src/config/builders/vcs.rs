//! Virtual clusters for a built (or loaded) physical cluster: sized from each VC's share
//! of a trace's GPU-time ([`size_vcs`]) or read from a file ([`vcs_from_file`]). Either
//! way the result is re-read through the HiveD reader, so it passes the same validation
//! (capacity per chain and level, known chains and types) as a hand-written config.
//!
//! Sizing rule ([`size_vcs`]):
//! - A VC's share is its GPU-time divided by the total. When every VC has zero
//!   GPU-time, all VCs get equal shares (there is nothing else to go by).
//! - The unit of a guarantee is a node-level cell. Chains with the same node-level type
//!   (for built clusters: full and partial racks of one SKU and node size) form a pool,
//!   and each VC gets its share of every pool: `share * nodes in the pool`, rounded by
//!   largest remainder (exact integer arithmetic; ties go to the larger GPU-time, then to
//!   the name that sorts first). So every pool is handed out whole and never
//!   over-committed, and every VC's guarantee has the same SKU mix as the cluster (the
//!   trace says nothing about SKUs).
//! - Inside a pool, VCs are laid into its chains in order (largest allocation first),
//!   filling one chain before the next, so a VC's cells span as few chains as possible.
//! - A VC whose share rounds to 0 cells in every pool is kept, with no cells: its name is
//!   known to the scheduler, but it has no guarantee, so its jobs can only run
//!   opportunistically (priority -1) — a guaranteed job of such a VC is rejected. The
//!   config's warnings name those VCs, and [`VcSizing::without_cells`] lists them.
//! - The new VCs replace all existing ones (pinned cells lose their owners, with a
//!   warning from the reader).

use std::collections::BTreeMap;
use std::path::Path;

use serde_yaml_ng::{Mapping, Value};

use super::ClusterBuildError;
use super::layout::{finish, physical_value};
use crate::config::error::Diag;
use crate::config::hived;
use crate::config::model::{CellConfig, VirtualCellSpec};
use crate::config::yaml;

/// One VC's guarantee as [`size_vcs`] chose it.
#[derive(Debug, Clone, PartialEq)]
pub struct VcShare {
    /// The VC.
    pub vc: String,
    /// Its GPU-time in the trace, GPU-milliseconds.
    pub demand_gpu_ms: u64,
    /// Its share of the total GPU-time (0..=1).
    pub share: f64,
    /// Its preassigned cells (node-level cells, one entry per chain it has cells in).
    pub cells: Vec<VirtualCellSpec>,
    /// GPUs in those cells.
    pub gpus: u64,
}

/// What [`size_vcs`] gave each VC, VCs by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VcSizing {
    /// Per VC, by name.
    pub vcs: Vec<VcShare>,
    /// GPUs in all node-level cells of the cluster (what could be handed out).
    pub cluster_gpus: u64,
}

impl VcSizing {
    /// VCs that got no cells (their share rounded to zero everywhere).
    pub fn without_cells(&self) -> Vec<&str> {
        self.vcs
            .iter()
            .filter(|v| v.cells.is_empty())
            .map(|v| v.vc.as_str())
            .collect()
    }

    /// GPUs guaranteed to all VCs together (never above [`VcSizing::cluster_gpus`]).
    pub fn guaranteed_gpus(&self) -> u64 {
        self.vcs.iter().map(|v| v.gpus).sum()
    }
}

/// Chains sharing one node-level type: (chain, node-level cells in it).
#[derive(Debug)]
struct Pool {
    node_type: String,
    gpus_per_node: u64,
    chains: Vec<(String, u64)>,
}

fn pools(config: &CellConfig) -> Vec<Pool> {
    let mut pools: Vec<Pool> = Vec::new();
    for chain in config.chains() {
        let types = config.chain_types(chain);
        let Some(node_at) = types.iter().position(|t| {
            config
                .cell_types
                .get(*t)
                .is_some_and(|spec| spec.is_node_level)
        }) else {
            continue; // validation gives every chain a node level
        };
        let tops = config
            .physical_cells
            .iter()
            .filter(|c| c.cell_type == chain)
            .count() as u64;
        let per_top = types[..node_at]
            .iter()
            .filter_map(|t| config.cell_types.get(*t))
            .map(|spec| u64::from(spec.child_cell_number))
            .fold(1u64, u64::saturating_mul);
        let node_type = types[node_at];
        let nodes = tops.saturating_mul(per_top);
        match pools.iter_mut().find(|p| p.node_type == node_type) {
            Some(pool) => pool.chains.push((chain.to_string(), nodes)),
            None => pools.push(Pool {
                node_type: node_type.to_string(),
                gpus_per_node: config.leaf_count_of(node_type),
                chains: vec![(chain.to_string(), nodes)],
            }),
        }
    }
    pools
}

/// Largest-remainder apportionment of `seats` by `weights` (exact, in integers). Ties
/// in the remainder go to the larger weight, then to the earlier index.
fn apportion(seats: u64, weights: &[u64]) -> Vec<u64> {
    let total: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    if total == 0 {
        return vec![0; weights.len()];
    }
    let mut out = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let exact = u128::from(seats) * u128::from(*w);
        out.push((exact / total) as u64);
        remainders.push((exact % total, *w, i));
    }
    let given: u64 = out.iter().sum();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)).then(a.2.cmp(&b.2)));
    for &(rest, _, i) in remainders.iter().take((seats - given) as usize) {
        if rest > 0 {
            out[i] += 1;
        }
    }
    out
}

/// Replace `config`'s VCs with one per key of `demand` (GPU-milliseconds of each VC in
/// the trace, e.g. the sum of `gpus * duration_ms` of its jobs), each guaranteed node-level
/// cells in proportion to its share of the total (rules in the module doc). The total
/// handed out never exceeds the cluster. The new config is re-validated; an error means
/// a bug, never a bad input, but is returned rather than panicking. An empty `demand`
/// leaves the cluster with no VCs.
pub fn size_vcs(
    config: &mut CellConfig,
    demand: &BTreeMap<String, u64>,
) -> Result<VcSizing, ClusterBuildError> {
    if demand.len() > usize::from(u16::MAX) {
        return Err(ClusterBuildError::Format(format!(
            "{} VCs: cellsim supports at most {}; the VC column probably holds something else",
            demand.len(),
            u16::MAX
        )));
    }
    let names: Vec<&String> = demand.keys().collect();
    let mut weights: Vec<u64> = demand.values().copied().collect();
    if weights.iter().all(|w| *w == 0) {
        weights.iter_mut().for_each(|w| *w = 1);
    }
    let total_weight: u128 = weights.iter().map(|w| u128::from(*w)).sum();
    let mut cells: Vec<Vec<VirtualCellSpec>> = vec![Vec::new(); names.len()];
    let mut gpus = vec![0u64; names.len()];
    let mut cluster_gpus = 0u64;
    for pool in pools(config) {
        let seats: u64 = pool.chains.iter().map(|(_, n)| n).sum();
        cluster_gpus = cluster_gpus.saturating_add(seats.saturating_mul(pool.gpus_per_node));
        let given = apportion(seats, &weights);
        let mut order: Vec<usize> = (0..names.len()).filter(|i| given[*i] > 0).collect();
        order.sort_by(|a, b| given[*b].cmp(&given[*a]).then(names[*a].cmp(names[*b])));
        let mut chains = pool.chains.iter().map(|(c, n)| (c.as_str(), *n)).peekable();
        let mut left_in_chain = chains.peek().map_or(0, |c| c.1);
        for vc in order {
            let mut wanted = given[vc];
            gpus[vc] = gpus[vc].saturating_add(wanted.saturating_mul(pool.gpus_per_node));
            while wanted > 0 {
                let Some(&(chain, _)) = chains.peek() else {
                    break; // cannot happen: the pool holds `seats` cells
                };
                let take = wanted.min(left_in_chain);
                if take > 0 {
                    cells[vc].push(VirtualCellSpec {
                        chain: chain.to_string(),
                        cell_type: pool.node_type.clone(),
                        cell_number: u32::try_from(take).unwrap_or(u32::MAX),
                    });
                    wanted -= take;
                    left_in_chain -= take;
                }
                if left_in_chain == 0 {
                    chains.next();
                    left_in_chain = chains.peek().map_or(0, |c| c.1);
                }
            }
        }
    }

    let mut vcs = Mapping::new();
    for (i, name) in names.iter().enumerate() {
        let list: Vec<Value> = cells[i]
            .iter()
            .map(|c| {
                let mut m = Mapping::new();
                m.insert(
                    "cellType".into(),
                    format!("{}.{}", c.chain, c.cell_type).into(),
                );
                m.insert("cellNumber".into(), u64::from(c.cell_number).into());
                Value::Mapping(m)
            })
            .collect();
        let mut vc = Mapping::new();
        vc.insert("virtualCells".into(), Value::Sequence(list));
        vcs.insert(name.as_str().into(), Value::Mapping(vc));
    }
    let mut diag = Diag::new(&config.source);
    diag.prefix = "(VCs sized from the trace)".to_string();
    let mut sized = with_vcs(config, Value::Mapping(vcs), diag)?;
    sized.source = config.source.clone();

    let sizing = VcSizing {
        vcs: names
            .iter()
            .enumerate()
            .map(|(i, name)| VcShare {
                vc: name.to_string(),
                demand_gpu_ms: demand[*name],
                share: if total_weight == 0 {
                    0.0
                } else {
                    weights[i] as f64 / total_weight as f64
                },
                cells: cells[i].clone(),
                gpus: gpus[i],
            })
            .collect(),
        cluster_gpus,
    };
    for vc in &sizing.vcs {
        if vc.cells.is_empty() {
            sized.warnings.push(format!(
                "{}: VC {} has {:.4}% of the GPU-time, which rounds to no cell: it has no guarantee and its jobs can only run opportunistically",
                config.source,
                vc.vc,
                vc.share * 100.0
            ));
        }
    }
    *config = sized;
    Ok(sizing)
}

/// `config`'s physical cluster with `vcs` (a HiveD `virtualClusters` mapping) as its VCs,
/// read through the HiveD reader with `diag`. Keeps the server settings and the original
/// warnings (plus new ones).
fn with_vcs(
    config: &CellConfig,
    vcs: Value,
    mut diag: Diag,
) -> Result<CellConfig, ClusterBuildError> {
    let mut doc = Mapping::new();
    doc.insert("physicalCluster".into(), physical_value(config));
    doc.insert("virtualClusters".into(), vcs);
    let source = diag.file.clone();
    let built = hived::build(&Value::Mapping(doc), &mut diag);
    let mut built = finish(built, diag, &source)?;
    built.server = config.server.clone();
    let mut warnings = config.warnings.clone();
    for w in built.warnings {
        if !warnings.contains(&w) {
            warnings.push(w);
        }
    }
    built.warnings = warnings;
    Ok(built)
}

/// [`vcs_from_str`] on the contents of the file at `path`.
pub fn vcs_from_file(config: &CellConfig, path: &Path) -> Result<CellConfig, ClusterBuildError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ClusterBuildError::Read {
        file: file.clone(),
        message: format!("cannot read the VC file: {err}"),
    })?;
    vcs_from_str(config, &text, &file)
}

/// `config` with its VCs replaced by those in `text` (`source` names it in messages).
/// Accepted shapes, all YAML:
/// - `VC: [{cellType: CHAIN.TYPE, cellNumber: N}, …]` per VC (the short form);
/// - `VC: {virtualCells: […], pinnedCells: […]}` per VC (HiveD's `virtualClusters`);
/// - either of them under a top-level `virtualClusters:` key (so a whole HiveD config
///   can be given; its `physicalCluster` is then ignored, with a warning).
///
/// Errors name the VC file and the YAML path as HiveD writes it
/// (`virtualClusters.VC.virtualCells[0].cellType`, also for the short form) and say what
/// to change; chains and types must be those of `config` (see the module doc of
/// `config::builders` for the names of built clusters).
pub fn vcs_from_str(
    config: &CellConfig,
    text: &str,
    source: &str,
) -> Result<CellConfig, ClusterBuildError> {
    let mut diag = Diag::new(source);
    let Some(value) = yaml::parse(text, "", None, &mut diag) else {
        return finish(None, diag, source);
    };
    let Value::Mapping(top) = value else {
        diag.error(
            "",
            format!(
                "expected VCs by name (a mapping such as `vc-a: [{{cellType: CHAIN.TYPE, cellNumber: 2}}]`), found {}",
                yaml::describe(&value)
            ),
        );
        return finish(None, diag, source);
    };
    let section = match top.get("virtualClusters") {
        Some(Value::Mapping(section)) => {
            if top.contains_key("physicalCluster") {
                diag.warn(
                    "physicalCluster",
                    "ignored: only the virtualClusters of this file are used, on the cluster built from the cluster argument",
                );
            }
            section.clone()
        }
        Some(other) => {
            diag.error(
                "virtualClusters",
                format!(
                    "expected VCs by name (a mapping), found {}",
                    yaml::describe(other)
                ),
            );
            return finish(None, diag, source);
        }
        None if top.contains_key("physicalCluster") => {
            diag.error(
                "",
                "this looks like a HiveD config without a virtualClusters section; add virtualClusters, or give VCs by name (`vc-a: [{cellType: CHAIN.TYPE, cellNumber: 2}]`)",
            );
            return finish(None, diag, source);
        }
        None => top,
    };
    let mut vcs = Mapping::new();
    for (name, entry) in section {
        let entry = match entry {
            Value::Sequence(cells) => {
                let mut m = Mapping::new();
                m.insert("virtualCells".into(), Value::Sequence(cells));
                Value::Mapping(m)
            }
            other => other,
        };
        vcs.insert(name, entry);
    }
    let mut built = with_vcs(config, Value::Mapping(vcs), diag)?;
    built.source = format!("{} with VCs from {source}", config.source);
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn largest_remainder_hands_out_every_seat_once() {
        assert_eq!(apportion(10, &[1, 1, 1]), [4, 3, 3]);
        assert_eq!(apportion(10, &[0, 5, 5]), [0, 5, 5]);
        assert_eq!(apportion(3, &[1, 0, 0, 1000]), [0, 0, 0, 3]);
        assert_eq!(apportion(7, &[0, 0]), [0, 0]);
        // 1.25 / 1.25 / 2.5: the largest remainder gets the last seat.
        assert_eq!(apportion(5, &[1, 1, 2]), [1, 1, 3]);
        // A tie in remainder and weight goes to the earlier index.
        assert_eq!(apportion(1, &[1, 1]), [1, 0]);
        assert_eq!(apportion(0, &[3, 4]), [0, 0]);
    }
}
