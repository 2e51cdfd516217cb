//! The HiveD config (`physicalCluster`, `virtualClusters`, server keys) read from a parsed
//! YAML value, expanded (default children and addresses filled in) and validated into a
//! [`CellConfig`]. Reports every problem it finds, each with the YAML path and a fix. Does
//! not detect formats or read files (see `mod.rs`), and knows nothing of OpenPAI layouts.
//!
//! Choices where the spec is silent:
//! - A document that is empty or only comments is an empty cluster (no chains, no VCs).
//! - `cellChildren: null` or `[]` counts as absent; fewer children than `childCellNumber`
//!   are completed with created cells (so a node-level child left out is an error: it has
//!   no node name).
//! - Default addresses follow HiveD's rule: a child's default index is
//!   `parent_index * childCellNumber + i`, restarted at 0 below a top-level cell and below
//!   a node-level cell, so leaves get device indices 0..n-1 across the whole node and
//!   cells above node level are numbered per level within their top-level cell. Explicit
//!   addresses are kept and do not shift the defaults of their siblings.
//! - A leaf's address is its device index and must be a whole number; sibling addresses
//!   and leaf addresses within one node must be unique.
//! - A node name may appear once per leaf cell type (the design example puts one node in
//!   two chains with different leaf types).
//! - A VC path `CHAIN.….TYPE` may skip levels (HiveD reads only the first and last
//!   segments) but every segment must be strictly below the previous one in the chain.
//! - Pinned cells owned by a VC count as that VC's demand at their level; a pinned cell no
//!   VC owns gets a warning. A pinned cell inside another pinned cell is an error.
//! - Unknown keys are ignored with a warning naming file and YAML path, except keys that
//!   look like a misspelling of a key valid at that place (`childCellNumbr`,
//!   `child_cell_number`, `IsNodeLevel`): those are errors everywhere in the document, not
//!   only in cellTypes/physicalCells/virtualClusters entries, because the misspelt value
//!   would be dropped and the config would mean something else (see `yaml::check_keys`).
//! - Bare numbers for `skuTypes.*.memory` are read as MiB, with a warning.
//! - `forcePodBindThreshold` is accepted silently, `quotaExcludeVCs` with a warning that
//!   cellsim ignores it.
//! - At most [`MAX_CELLS`] cells and [`MAX_LEVELS`] levels per chain, so that no input can
//!   exhaust memory or the stack.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, Visitor};
use serde_yaml_ng::{Mapping, Value};

use super::error::{ConfigErrors, Diag};
use super::model::{
    CellConfig, CellTypeSpec, PhysicalCellSpec, ServerSettings, SkuSpec, VirtualCellSpec,
    VirtualClusterSpec,
};
use super::quantity::{self, Memory};
use super::yaml::{
    check_keys, describe, get, index_path, key_path, key_text, mapping_or_empty, scalar_text,
    sequence_or_empty, typed, whole_number,
};

/// Most cells (all levels, all chains) a config may expand to.
pub const MAX_CELLS: u64 = 2_000_000;
/// Most levels (leaf = 1) a chain may have.
pub const MAX_LEVELS: usize = 32;

/// Top-level keys of a HiveD config.
pub(crate) const KNOWN_TOP: &[&str] = &[
    "physicalCluster",
    "virtualClusters",
    "webServerAddress",
    "waitingPodSchedulingBlockMilliSec",
    "kubeApiServerAddress",
    "kubeConfigFilePath",
    "forcePodBindThreshold",
    "quotaExcludeVCs",
];
const KNOWN_PHYSICAL_CLUSTER: &[&str] = &["cellTypes", "skuTypes", "physicalCells"];
const KNOWN_CELL_TYPE: &[&str] = &["childCellType", "childCellNumber", "isNodeLevel"];
const KNOWN_SKU: &[&str] = &["gpu", "cpu", "memory"];
const KNOWN_PHYSICAL_CELL: &[&str] = &["cellType", "cellAddress", "pinnedCellId", "cellChildren"];
const KNOWN_VC: &[&str] = &["virtualCells", "pinnedCells"];
const KNOWN_VIRTUAL_CELL: &[&str] = &["cellType", "cellNumber"];
const KNOWN_PINNED: &[&str] = &["pinnedCellId"];

/// Read a HiveD config from an already parsed YAML document. `source` names the file in
/// messages. Returns every problem found, or the expanded config (with warnings).
pub fn from_hived_value(value: &Value, source: &str) -> Result<CellConfig, ConfigErrors> {
    let mut diag = Diag::new(source);
    match build(value, &mut diag) {
        Some(config) if !diag.has_errors() => Ok(config),
        _ => Err(diag.into_errors()),
    }
}

/// Build the config, recording problems in `diag`; `None` when there is any error.
/// Warnings are copied into the config.
pub(crate) fn build(value: &Value, diag: &mut Diag) -> Option<CellConfig> {
    let errors_before = diag.error_count();
    let mut config = CellConfig {
        source: diag.file.clone(),
        ..CellConfig::default()
    };
    let top = match value {
        Value::Null => None,
        Value::Mapping(m) => Some(m),
        other => {
            diag.error(
                "",
                format!(
                    "expected a HiveD config (a mapping with physicalCluster and virtualClusters), found {}",
                    describe(other)
                ),
            );
            return None;
        }
    };
    if let Some(top) = top {
        check_keys(top, KNOWN_TOP, "", diag);
        config.server = server_settings(value, top, diag);
        let mut builder = Builder::new(diag);
        builder.run(top, &mut config);
    }
    config.warnings = diag.warnings.clone();
    (diag.error_count() == errors_before).then_some(config)
}

/// A name written as a string or a number (`cellAddress: 8`). `float` marks numbers like
/// `1.10` whose text YAML may not keep as written.
#[derive(Debug, Clone)]
struct Name {
    text: String,
    float: bool,
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = Name;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a name (a string or a number)")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Name, E> {
                Ok(Name {
                    text: v.to_string(),
                    float: false,
                })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Name, E> {
                Ok(Name {
                    text: v.to_string(),
                    float: false,
                })
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Name, E> {
                Ok(Name {
                    text: v.to_string(),
                    float: false,
                })
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Name, E> {
                Ok(Name {
                    text: v.to_string(),
                    float: true,
                })
            }
        }
        deserializer.deserialize_any(NameVisitor)
    }
}

fn non_empty(name: Option<Name>) -> Option<Name> {
    name.filter(|n| !n.text.is_empty())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawServer {
    web_server_address: Option<Name>,
    waiting_pod_scheduling_block_milli_sec: Option<Value>,
    // kubeApiServerAddress, kubeConfigFilePath and forcePodBindThreshold are accepted (see
    // KNOWN_TOP) but not read: the live server takes its Kubernetes connection from its
    // own options, so they do not change what a config means.
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCellType {
    child_cell_type: Option<Name>,
    child_cell_number: Option<Value>,
    is_node_level: Option<Value>,
}

#[derive(Deserialize)]
struct RawSku {
    gpu: Option<Value>,
    cpu: Option<Value>,
    memory: Option<Value>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawPhysicalCell {
    cell_type: Option<Name>,
    cell_address: Option<Name>,
    pinned_cell_id: Option<Name>,
    cell_children: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVirtualCluster {
    virtual_cells: Option<Vec<Value>>,
    pinned_cells: Option<Vec<Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawVirtualCell {
    cell_type: Option<Name>,
    cell_number: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPinnedCell {
    pinned_cell_id: Option<Name>,
}

fn server_settings(value: &Value, top: &Mapping, diag: &mut Diag) -> ServerSettings {
    let mut server = ServerSettings::default();
    let Some(raw) = typed::<RawServer>(value, "", diag) else {
        return server;
    };
    if let Some(address) = raw.web_server_address {
        server.web_server_address = address.text;
    }
    if let Some(block) = &raw.waiting_pod_scheduling_block_milli_sec {
        match block {
            Value::Null => {}
            Value::Number(n) if n.as_u64().is_some() => server.waiting_pod_scheduling_block_ms = n.as_u64(),
            other => diag.error(
                "waitingPodSchedulingBlockMilliSec",
                format!(
                    "must be a whole number of milliseconds >= 0, got {}; e.g. waitingPodSchedulingBlockMilliSec: 50",
                    describe(other)
                ),
            ),
        }
    }
    if get(top, "quotaExcludeVCs").is_some_and(|v| !v.is_null()) {
        diag.warn(
            "quotaExcludeVCs",
            "cellsim ignores quotaExcludeVCs: every VC's quota is enforced",
        );
    }
    server
}

/// One defined cell type as read; `None` in [`Builder::defs`] when its entry is broken.
#[derive(Debug, Clone)]
struct TypeDef {
    child: String,
    number: u32,
    node: bool,
}

/// A chain's shape: its types from the top-level type down to the leaf type.
#[derive(Debug, Clone)]
struct Chain {
    types: Vec<String>,
    /// `fanout[k]` children per cell of `types[k]`; one shorter than `types`.
    fanout: Vec<u32>,
    node_index: usize,
    cells_per_top: u64,
}

impl Chain {
    fn leaf(&self) -> &str {
        self.types.last().map(String::as_str).unwrap_or("")
    }

    fn position(&self, cell_type: &str) -> Option<usize> {
        self.types.iter().position(|t| t == cell_type)
    }
}

/// A pinned physical cell as found while expanding.
#[derive(Debug, Clone)]
struct Pinned {
    chain: String,
    level_index: usize,
    path: String,
}

/// One VC's demand as read, in config order.
#[derive(Debug, Default)]
struct VcDemand {
    name: String,
    /// (chain, level index in the chain, cell number)
    cells: Vec<(String, usize, u32)>,
    /// (pinned cell id, YAML path of the reference)
    pinned: Vec<(String, String)>,
}

struct Builder<'d> {
    diag: &'d mut Diag,
    /// Defined cell types; `None` for entries with errors.
    defs: BTreeMap<String, Option<TypeDef>>,
    /// Types referenced as a child but not defined: devices.
    leaves: BTreeSet<String>,
    /// Types that are broken or lead to a broken type or a cycle.
    bad: BTreeSet<String>,
    /// Chains by top-level type, in order of first use; `None` when the chain is invalid.
    chains: Vec<(String, Option<Chain>)>,
    /// Top-level physical cells per chain.
    top_counts: HashMap<String, u64>,
    pinned: BTreeMap<String, Pinned>,
    /// (leaf type, node name) -> path of its node-level cell.
    nodes: HashMap<(String, String), String>,
    /// Device indices seen in the node-level cell being expanded -> path.
    node_leaves: HashMap<String, String>,
    /// (node, device index) -> leaf types, to warn about indices shared across chains.
    devices: BTreeMap<(String, String), BTreeSet<String>>,
    cells: u64,
    /// Every pinnedCellId written anywhere under physicalCells, even in cells that could
    /// not be expanded, so that a VC naming one of those gets no second error.
    declared_pinned: BTreeSet<String>,
}

impl<'d> Builder<'d> {
    fn new(diag: &'d mut Diag) -> Self {
        Self {
            diag,
            defs: BTreeMap::new(),
            leaves: BTreeSet::new(),
            bad: BTreeSet::new(),
            chains: Vec::new(),
            top_counts: HashMap::new(),
            pinned: BTreeMap::new(),
            nodes: HashMap::new(),
            node_leaves: HashMap::new(),
            devices: BTreeMap::new(),
            cells: 0,
            declared_pinned: BTreeSet::new(),
        }
    }

    fn run(&mut self, top: &Mapping, config: &mut CellConfig) {
        let pc = mapping_or_empty(
            get(top, "physicalCluster"),
            "physicalCluster",
            "the physical cluster",
            self.diag,
        );
        let empty = Mapping::new();
        let pc = pc.unwrap_or(&empty);
        check_keys(pc, KNOWN_PHYSICAL_CLUSTER, "physicalCluster", self.diag);

        self.read_cell_types(get(pc, "cellTypes"));
        self.resolve_types();
        let types_ok = self.defs.values().all(Option::is_some) && self.bad.is_empty();
        config.sku_types = self.read_sku_types(get(pc, "skuTypes"), types_ok);
        config.physical_cells = self.read_physical_cells(get(pc, "physicalCells"));
        if let Some(cells) = get(pc, "physicalCells") {
            collect_pinned_ids(cells, &mut self.declared_pinned);
        }
        self.warn_shared_device_indices();
        let vcs = self.read_virtual_clusters(get(top, "virtualClusters"));
        let owners = self.check_pinned_owners(&vcs);
        self.check_capacity(&vcs, &owners);

        config.cell_types = self
            .defs
            .iter()
            .filter_map(|(name, def)| {
                let def = def.as_ref()?;
                let spec = CellTypeSpec {
                    child_cell_type: def.child.clone(),
                    child_cell_number: def.number,
                    is_node_level: def.node,
                };
                Some((name.clone(), spec))
            })
            .collect();
        config.virtual_clusters = vcs
            .into_iter()
            .map(|vc| {
                let spec = VirtualClusterSpec {
                    virtual_cells: vc
                        .cells
                        .iter()
                        .filter_map(|(chain, k, n)| {
                            let chain_info = self.chain(chain)?;
                            Some(VirtualCellSpec {
                                chain: chain.clone(),
                                cell_type: chain_info.types[*k].clone(),
                                cell_number: *n,
                            })
                        })
                        .collect(),
                    pinned_cells: vc.pinned.into_iter().map(|(id, _)| id).collect(),
                };
                (vc.name, spec)
            })
            .collect();
    }

    // ---- cell types -------------------------------------------------------------------

    fn read_cell_types(&mut self, value: Option<&Value>) {
        const BASE: &str = "physicalCluster.cellTypes";
        let Some(map) = mapping_or_empty(value, BASE, "cell types by name", self.diag) else {
            return;
        };
        for (key, entry) in map {
            let Some(name) = key_text(key, BASE, self.diag) else {
                continue;
            };
            let path = key_path(BASE, &name);
            let def = self.read_cell_type(&name, entry, &path);
            self.defs.insert(name, def);
        }
        let children: Vec<String> = self
            .defs
            .values()
            .flatten()
            .map(|d| d.child.clone())
            .collect();
        for child in children {
            if !self.defs.contains_key(&child) {
                self.leaves.insert(child);
            }
        }
    }

    fn read_cell_type(&mut self, name: &str, entry: &Value, path: &str) -> Option<TypeDef> {
        let mut ok = true;
        if name.is_empty() || name.contains('.') {
            self.diag.error(
                path,
                format!(
                    "cell type name {name:?} must be non-empty and contain no '.' (VC paths use '.' between types); rename it"
                ),
            );
            ok = false;
        }
        let Value::Mapping(map) = entry else {
            self.diag.error(
                path,
                format!(
                    "expected a cell type `{{childCellType: T, childCellNumber: N, isNodeLevel: bool}}`, found {}",
                    describe(entry)
                ),
            );
            return None;
        };
        let misspelt = check_keys(map, KNOWN_CELL_TYPE, path, self.diag);
        let raw: RawCellType = typed(entry, path, self.diag)?;
        let child = match non_empty(raw.child_cell_type) {
            Some(child) => Some(child.text),
            None => {
                if !misspelt.contains(&"childCellType") {
                    self.diag.error(
                        &key_path(path, "childCellType"),
                        format!(
                            "childCellType is missing: name the type of a {name}'s children (a leaf type such as K80 if they are devices)"
                        ),
                    );
                }
                None
            }
        };
        let number = match &raw.child_cell_number {
            Some(v) => {
                let child_name = child.as_deref().unwrap_or("child");
                let fix = format!(
                    "set childCellNumber to how many {child_name} cells one {name} holds (>= 1)"
                );
                whole_number(v, 1, &key_path(path, "childCellNumber"), &fix, self.diag)
            }
            None => {
                if !misspelt.contains(&"childCellNumber") {
                    self.diag.error(
                        &key_path(path, "childCellNumber"),
                        format!("childCellNumber is missing: say how many children one {name} holds (>= 1)"),
                    );
                }
                None
            }
        };
        let node = match &raw.is_node_level {
            None | Some(Value::Null) => Some(false),
            Some(Value::Bool(b)) => Some(*b),
            Some(other) => {
                self.diag.error(
                    &key_path(path, "isNodeLevel"),
                    format!(
                        "isNodeLevel must be true or false, got {}; set it to true only on the type that is exactly one Kubernetes node",
                        describe(other)
                    ),
                );
                None
            }
        };
        let (Some(child), Some(number), Some(node), true) = (child, number, node, ok) else {
            return None;
        };
        if child.contains('.') {
            self.diag.error(
                &key_path(path, "childCellType"),
                format!("cell type name {child:?} must contain no '.' (VC paths use '.' between types); rename it"),
            );
            return None;
        }
        Some(TypeDef {
            child,
            number,
            node,
        })
    }

    /// Find cycles and types that lead to broken ones; report each cycle once.
    fn resolve_types(&mut self) {
        let mut done: HashMap<String, bool> = HashMap::new(); // type -> ok
        let names: Vec<String> = self.defs.keys().cloned().collect();
        let mut reported = BTreeSet::new();
        for start in names {
            let mut path: Vec<String> = Vec::new();
            let mut current = start.clone();
            let ok = loop {
                if let Some(&ok) = done.get(&current) {
                    break ok;
                }
                if let Some(at) = path.iter().position(|t| *t == current) {
                    let cycle = &path[at..];
                    let first = cycle.iter().min().cloned().unwrap_or_default();
                    if reported.insert(first.clone()) {
                        let mut shown: Vec<&str> = cycle.iter().map(String::as_str).collect();
                        let rotate = shown.iter().position(|t| **t == first).unwrap_or(0);
                        shown.rotate_left(rotate);
                        shown.push(&first);
                        self.diag.error(
                            &format!("physicalCluster.cellTypes.{first}.childCellType"),
                            format!(
                                "cell types form a cycle: {}; each type's children must be of a smaller type, ending at a leaf (device) type",
                                shown.join(" -> ")
                            ),
                        );
                    }
                    break false;
                }
                match self.defs.get(&current) {
                    None => break true, // a leaf type
                    Some(None) => break false,
                    Some(Some(def)) => {
                        path.push(current.clone());
                        current = def.child.clone();
                    }
                }
            };
            for t in path {
                if !ok {
                    self.bad.insert(t.clone());
                }
                done.insert(t, ok);
            }
            if !ok {
                self.bad.insert(start);
            }
        }
    }

    fn is_known_type(&self, name: &str) -> bool {
        self.defs.contains_key(name) || self.leaves.contains(name)
    }

    /// The chain rooted at `top`, or an error message.
    fn chain_shape(&self, top: &str) -> Result<Chain, Option<String>> {
        let mut types = vec![top.to_string()];
        let mut fanout = Vec::new();
        let mut nodes = Vec::new();
        let mut current = top;
        while let Some(def) = self.defs.get(current) {
            let Some(def) = def else { return Err(None) };
            if self.bad.contains(current) {
                return Err(None);
            }
            if def.node {
                nodes.push(types.len() - 1);
            }
            fanout.push(def.number);
            types.push(def.child.clone());
            current = &def.child;
            if types.len() > MAX_LEVELS {
                return Err(Some(format!(
                    "the type hierarchy under {top} is deeper than {MAX_LEVELS} levels; cellsim supports at most {MAX_LEVELS}"
                )));
            }
        }
        let shown = types.join(" -> ");
        match nodes.as_slice() {
            [] => Err(Some(format!(
                "chain {top} has no node-level type on its path {shown}; set isNodeLevel: true on the type that is exactly one Kubernetes node"
            ))),
            [node_index] => {
                let mut cells_per_top: u64 = 0;
                let mut level: u64 = 1;
                cells_per_top = cells_per_top.saturating_add(level);
                for n in &fanout {
                    level = level.saturating_mul(u64::from(*n));
                    cells_per_top = cells_per_top.saturating_add(level);
                }
                Ok(Chain {
                    types,
                    fanout,
                    node_index: *node_index,
                    cells_per_top,
                })
            }
            several => {
                let names: Vec<&str> = several.iter().map(|i| types[*i].as_str()).collect();
                Err(Some(format!(
                    "chain {top} has {} node-level types on its path ({}); exactly one type per chain may have isNodeLevel: true",
                    several.len(),
                    names.join(", ")
                )))
            }
        }
    }

    fn chain(&self, name: &str) -> Option<&Chain> {
        self.chains
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| c.as_ref())
    }

    // ---- skuTypes ---------------------------------------------------------------------

    fn read_sku_types(
        &mut self,
        value: Option<&Value>,
        types_ok: bool,
    ) -> BTreeMap<String, SkuSpec> {
        const BASE: &str = "physicalCluster.skuTypes";
        let mut skus = BTreeMap::new();
        let Some(map) = mapping_or_empty(value, BASE, "SKU sizes by leaf cell type", self.diag)
        else {
            return skus;
        };
        for (key, entry) in map {
            let Some(name) = key_text(key, BASE, self.diag) else {
                continue;
            };
            let path = key_path(BASE, &name);
            let Value::Mapping(fields) = entry else {
                self.diag.error(
                    &path,
                    format!(
                        "expected `{{gpu: 1, cpu: 4, memory: 8192Mi}}`, found {}",
                        describe(entry)
                    ),
                );
                continue;
            };
            let misspelt = check_keys(fields, KNOWN_SKU, &path, self.diag);
            let Some(raw) = typed::<RawSku>(entry, &path, self.diag) else {
                continue;
            };
            let missing = |diag: &mut Diag, field: &'static str, example: &str| {
                if !misspelt.contains(&field) {
                    diag.error(
                        &key_path(&path, field),
                        format!("{field} is missing: give the {field} of one {name} leaf cell, e.g. {field}: {example}"),
                    );
                }
            };
            let gpu = match &raw.gpu {
                Some(v) => whole_number(
                    v,
                    0,
                    &key_path(&path, "gpu"),
                    "give the GPUs per leaf cell, e.g. gpu: 1",
                    self.diag,
                ),
                None => {
                    missing(self.diag, "gpu", "1");
                    None
                }
            };
            let cpu = match &raw.cpu {
                Some(v) => quantity::cpu_cores(v)
                    .map_err(|m| self.diag.error(&key_path(&path, "cpu"), m))
                    .ok(),
                None => {
                    missing(self.diag, "cpu", "4");
                    None
                }
            };
            let memory = match &raw.memory {
                Some(v) => {
                    match quantity::memory(v) {
                        Ok(Memory::Mib(mib)) => Some(mib),
                        Ok(Memory::Bare(x)) => {
                            self.diag.warn(
                            &key_path(&path, "memory"),
                            format!("memory {x} has no unit and is read as {x}Mi; write {x}Mi to say so"),
                        );
                            Some(x.round() as u64)
                        }
                        Err(m) => {
                            self.diag.error(&key_path(&path, "memory"), m);
                            None
                        }
                    }
                }
                None => {
                    missing(self.diag, "memory", "8192Mi");
                    None
                }
            };
            if types_ok && !self.leaves.contains(&name) {
                self.diag.warn(
                    &path,
                    format!(
                        "{name} is not a leaf cell type (a childCellType that is not itself defined in cellTypes); OpenPAI looks skuTypes up by leaf type"
                    ),
                );
            }
            if let (Some(gpu), Some(cpu), Some(memory_mib)) = (gpu, cpu, memory) {
                skus.insert(
                    name,
                    SkuSpec {
                        gpu,
                        cpu,
                        memory_mib,
                    },
                );
            }
        }
        skus
    }

    // ---- physical cells ---------------------------------------------------------------

    fn read_physical_cells(&mut self, value: Option<&Value>) -> Vec<PhysicalCellSpec> {
        const BASE: &str = "physicalCluster.physicalCells";
        let mut cells = Vec::new();
        let Some(list) = sequence_or_empty(value, BASE, "the top-level physical cells", self.diag)
        else {
            return cells;
        };
        let mut over_budget = false;
        for (i, raw) in list.iter().enumerate() {
            let path = index_path(BASE, i);
            let Some(top_type) = self.top_cell_type(raw, &path) else {
                continue;
            };
            let type_path = key_path(&path, "cellType");
            if !self.chains.iter().any(|(n, _)| *n == top_type) {
                let chain = match self.chain_shape(&top_type) {
                    Ok(chain) => Some(chain),
                    Err(message) => {
                        if let Some(message) = message {
                            self.diag.error(&type_path, message);
                        }
                        None
                    }
                };
                self.chains.push((top_type.clone(), chain));
            }
            let Some(chain) = self.chain(&top_type).cloned() else {
                continue;
            };
            *self.top_counts.entry(top_type.clone()).or_default() += 1;
            if over_budget {
                continue;
            }
            self.cells = self.cells.saturating_add(chain.cells_per_top);
            if self.cells > MAX_CELLS {
                self.diag.error(
                    &path,
                    format!(
                        "the physical cluster grows past {MAX_CELLS} cells here (a {top_type} has {} cells); cellsim supports at most {MAX_CELLS}: check childCellNumber values",
                        chain.cells_per_top
                    ),
                );
                over_budget = true;
                continue;
            }
            let pos = i as u64;
            if let Some(cell) = self.expand(&chain, Some(raw), &path, 0, pos, None, "", None, false)
            {
                cells.push(cell);
            }
        }
        cells
    }

    /// The chain type of `physicalCells[i]`, reporting a missing or unknown one.
    fn top_cell_type(&mut self, raw: &Value, path: &str) -> Option<String> {
        let type_path = key_path(path, "cellType");
        let given = match raw {
            Value::Mapping(m) => get(m, "cellType")
                .and_then(scalar_text)
                .filter(|t| !t.is_empty()),
            _ => None,
        };
        let Some(name) = given else {
            if let Value::Mapping(m) = raw {
                if get(m, "cellType").is_none()
                    && m.keys()
                        .any(|k| scalar_text(k).as_deref() == Some("cellTyp"))
                {
                    return None; // reported as a misspelling while expanding
                }
                if let Some(v) =
                    get(m, "cellType").filter(|v| !v.is_null() && scalar_text(v).is_none())
                {
                    self.diag.error(
                        &type_path,
                        format!("expected a cell type name, found {}", describe(v)),
                    );
                    return None;
                }
            } else {
                self.diag.error(
                    path,
                    format!("expected a top-level cell `{{cellType: T, cellChildren: [...]}}`, found {}", describe(raw)),
                );
                return None;
            }
            self.diag.error(
                &type_path,
                "cellType is missing: a top-level physical cell must name its type (a key of physicalCluster.cellTypes)",
            );
            return None;
        };
        if self.leaves.contains(&name) {
            self.diag.error(
                &type_path,
                format!(
                    "{name} is a leaf (device) type, so a top-level cell of it has no node-level type; use a type at or above node level"
                ),
            );
            return None;
        }
        if !self.defs.contains_key(&name) {
            self.diag.error(
                &type_path,
                format!(
                    "unknown cell type {name}: define it under physicalCluster.cellTypes{}",
                    self.known_types_hint()
                ),
            );
            return None;
        }
        Some(name)
    }

    fn known_types_hint(&self) -> String {
        if self.defs.is_empty() {
            " (there are none yet)".to_string()
        } else {
            let names: Vec<&str> = self.defs.keys().map(String::as_str).collect();
            format!(" or use one of: {}", names.join(", "))
        }
    }

    /// Expand one physical cell of `chain.types[k]` and its subtree. `raw` is `None` for a
    /// cell created because fewer children were listed than the type holds.
    #[allow(clippy::too_many_arguments)]
    fn expand(
        &mut self,
        chain: &Chain,
        raw: Option<&Value>,
        path: &str,
        k: usize,
        pos: u64,
        node: Option<&str>,
        address_prefix: &str,
        in_pinned: Option<&str>,
        created: bool,
    ) -> Option<PhysicalCellSpec> {
        let cell_type = chain.types[k].clone();
        let is_leaf = k + 1 == chain.types.len();
        let is_node = k == chain.node_index;
        let mut misspelt = Vec::new();
        let raw_cell = match raw {
            None | Some(Value::Null) => RawPhysicalCell::default(),
            Some(v @ Value::Mapping(m)) => {
                misspelt = check_keys(m, KNOWN_PHYSICAL_CELL, path, self.diag);
                match typed::<RawPhysicalCell>(v, path, self.diag) {
                    Some(raw) => raw,
                    None => {
                        return None;
                    }
                }
            }
            Some(other) => {
                self.diag.error(
                    path,
                    format!(
                        "expected a cell such as `{{cellAddress: node1}}`, found {}",
                        describe(other)
                    ),
                );
                return None;
            }
        };
        let mut ok = true;
        if k > 0
            && let Some(given) = &raw_cell.cell_type
            && given.text != cell_type
        {
            let parent = &chain.types[k - 1];
            self.diag.error(
                &key_path(path, "cellType"),
                format!(
                    "cellType {} does not fit here: the children of a {parent} are {cell_type} (physicalCluster.cellTypes.{parent}.childCellType); fix cellType or leave it out",
                    given.text
                ),
            );
            ok = false;
        }

        // Address: explicit, or the default index; node-level cells need a node name.
        let explicit = non_empty(raw_cell.cell_address);
        let address_path = key_path(path, "cellAddress");
        if let Some(a) = explicit.as_ref().filter(|a| a.float) {
            self.diag.warn(
                &address_path,
                format!("cellAddress {} was read as a number; quote it (\"...\") to keep it exactly as written", a.text),
            );
        }
        let address = match explicit {
            Some(a) => {
                if a.text.contains('/') {
                    self.diag.error(
                        &address_path,
                        format!("cellAddress {:?} must not contain '/' (cell addresses are joined with '/')", a.text),
                    );
                    ok = false;
                } else if is_leaf && a.text.parse::<u32>().is_err() {
                    self.diag.error(
                        &address_path,
                        format!(
                            "a leaf cell's cellAddress is its device index, a whole number such as 0; got {:?}",
                            a.text
                        ),
                    );
                    ok = false;
                }
                a.text
            }
            None if is_node => {
                if !misspelt.contains(&"cellAddress") {
                    let why = if created {
                        " (this cell is created because the parent lists fewer cellChildren than its childCellNumber: list the missing node or lower childCellNumber)"
                    } else {
                        ""
                    };
                    self.diag.error(
                        path,
                        format!(
                            "node-level cell (type {cell_type}) has no cellAddress: set cellAddress to its Kubernetes node name{why}"
                        ),
                    );
                }
                ok = false;
                String::from("?")
            }
            None => pos.to_string(),
        };
        let full_address = if address_prefix.is_empty() {
            address.clone()
        } else {
            format!("{address_prefix}/{address}")
        };

        if is_node && ok {
            let key = (chain.leaf().to_string(), address.clone());
            if let Some(first) = self.nodes.get(&key) {
                self.diag.error(
                    &address_path,
                    format!(
                        "duplicate node name {address} for leaf type {}: it is already at {first}; list each node once per leaf cell type",
                        chain.leaf()
                    ),
                );
                ok = false;
            } else {
                self.nodes.insert(key, path.to_string());
            }
        }
        if is_node {
            self.node_leaves.clear();
        }

        let pinned = non_empty(raw_cell.pinned_cell_id).map(|p| p.text);
        if let Some(id) = &pinned {
            let id_path = key_path(path, "pinnedCellId");
            if let Some(outer) = in_pinned {
                self.diag.error(
                    &id_path,
                    format!(
                        "pinned cell {id} is inside pinned cell {outer}; a cell can belong to one pinned cell only, remove one pinnedCellId"
                    ),
                );
                ok = false;
            } else if let Some(first) = self.pinned.get(id) {
                self.diag.error(
                    &id_path,
                    format!(
                        "duplicate pinnedCellId {id}: {} has it too; pinned ids must be unique",
                        first.path
                    ),
                );
                ok = false;
            } else {
                let entry = Pinned {
                    chain: chain.types[0].clone(),
                    level_index: k,
                    path: path.to_string(),
                };
                self.pinned.insert(id.clone(), entry);
            }
        }
        let inner_pinned = in_pinned.or(pinned.as_deref());

        let raw_children = raw_cell.cell_children.unwrap_or_default();
        let children_path = key_path(path, "cellChildren");
        if is_leaf {
            if !raw_children.is_empty() {
                self.diag.error(
                    &children_path,
                    format!("a {cell_type} cell is a leaf (one device) and cannot have cellChildren; remove them"),
                );
                ok = false;
            }
            if let Some(node) = node {
                if let Some(first) = self.node_leaves.get(&address) {
                    self.diag.error(
                        &address_path,
                        format!(
                            "device index {address} appears twice in node {node} (also at {first}); give each leaf its own cellAddress"
                        ),
                    );
                    ok = false;
                } else {
                    self.node_leaves.insert(address.clone(), path.to_string());
                    self.devices
                        .entry((node.to_string(), address.clone()))
                        .or_default()
                        .insert(cell_type.clone());
                }
            }
            let cell = PhysicalCellSpec {
                cell_type,
                address,
                pinned_cell_id: pinned,
                children: Vec::new(),
            };
            return ok.then_some(cell);
        }

        let n = chain.fanout[k] as usize;
        if raw_children.len() > n {
            self.diag.error(
                &children_path,
                format!(
                    "{} cellChildren listed but a {cell_type} holds {n} (physicalCluster.cellTypes.{cell_type}.childCellNumber); remove {} of them or raise childCellNumber",
                    raw_children.len(),
                    raw_children.len() - n
                ),
            );
            ok = false;
        }
        // Default indices restart under a top-level cell and under a node (HiveD's rule,
        // with the spec's per-top-level-cell numbering above node level).
        let base = if k == 0 || is_node {
            0
        } else {
            pos.saturating_mul(n as u64)
        };
        let child_node = if is_node {
            Some(address.as_str())
        } else {
            node
        };
        let mut children = Vec::with_capacity(n);
        let mut siblings: HashMap<String, usize> = HashMap::new();
        for i in 0..n {
            let child_path = index_path(&children_path, i);
            let child_raw = raw_children.get(i);
            let child = self.expand(
                chain,
                child_raw,
                &child_path,
                k + 1,
                base + i as u64,
                child_node,
                &full_address,
                inner_pinned,
                child_raw.is_none(),
            );
            match child {
                Some(child) => {
                    if let Some(j) = siblings.get(&child.address) {
                        self.diag.error(
                            &key_path(&child_path, "cellAddress"),
                            format!(
                                "duplicate cellAddress {}: sibling cellChildren[{j}] has it too; give each child its own address",
                                child.address
                            ),
                        );
                        ok = false;
                    }
                    siblings.insert(child.address.clone(), i);
                    children.push(child);
                }
                None => ok = false,
            }
        }
        ok.then_some(PhysicalCellSpec {
            cell_type,
            address,
            pinned_cell_id: pinned,
            children,
        })
    }

    fn warn_shared_device_indices(&mut self) {
        let shared: Vec<_> = self
            .devices
            .iter()
            .filter(|(_, types)| types.len() > 1)
            .collect();
        let mut warnings = Vec::new();
        for ((node, index), types) in shared {
            let names: Vec<&str> = types.iter().map(String::as_str).collect();
            warnings.push(format!(
                "node {node}: device index {index} is used by leaf types {}; if they are the same kind of device, give each its own index",
                names.join(" and ")
            ));
        }
        for w in warnings {
            self.diag.warn("physicalCluster.physicalCells", w);
        }
    }

    // ---- virtual clusters -------------------------------------------------------------

    fn read_virtual_clusters(&mut self, value: Option<&Value>) -> Vec<VcDemand> {
        const BASE: &str = "virtualClusters";
        let mut vcs = Vec::new();
        let Some(map) = mapping_or_empty(value, BASE, "virtual clusters by name", self.diag) else {
            return vcs;
        };
        for (key, entry) in map {
            let Some(name) = key_text(key, BASE, self.diag) else {
                continue;
            };
            let path = key_path(BASE, &name);
            let mut vc = VcDemand {
                name: name.clone(),
                ..VcDemand::default()
            };
            match entry {
                Value::Null => {}
                Value::Mapping(fields) => {
                    check_keys(fields, KNOWN_VC, &path, self.diag);
                    if let Some(raw) = typed::<RawVirtualCluster>(entry, &path, self.diag) {
                        let cells_path = key_path(&path, "virtualCells");
                        for (i, cell) in raw.virtual_cells.unwrap_or_default().iter().enumerate() {
                            let cell_path = index_path(&cells_path, i);
                            // `cellNumber: 0` is valid HiveD: the VC has none of that type,
                            // as if the entry were absent.
                            if let Some(demand) = self.read_virtual_cell(&name, cell, &cell_path)
                                && demand.2 > 0
                            {
                                vc.cells.push(demand);
                            }
                        }
                        let pinned_path = key_path(&path, "pinnedCells");
                        for (i, cell) in raw.pinned_cells.unwrap_or_default().iter().enumerate() {
                            let cell_path = index_path(&pinned_path, i);
                            if let Some(id) = self.read_pinned_ref(cell, &cell_path) {
                                vc.pinned.push((id, key_path(&cell_path, "pinnedCellId")));
                            }
                        }
                    }
                }
                other => self.diag.error(
                    &path,
                    format!(
                        "expected a VC `{{virtualCells: [...], pinnedCells: [...]}}`, found {}",
                        describe(other)
                    ),
                ),
            }
            vcs.push(vc);
        }
        vcs
    }

    fn read_virtual_cell(
        &mut self,
        vc: &str,
        cell: &Value,
        path: &str,
    ) -> Option<(String, usize, u32)> {
        let Value::Mapping(fields) = cell else {
            self.diag.error(
                path,
                format!(
                    "expected `{{cellType: CHAIN.TYPE, cellNumber: N}}`, found {}",
                    describe(cell)
                ),
            );
            return None;
        };
        let misspelt = check_keys(fields, KNOWN_VIRTUAL_CELL, path, self.diag);
        let raw: RawVirtualCell = typed(cell, path, self.diag)?;
        let type_path = key_path(path, "cellType");
        let resolved = match non_empty(raw.cell_type) {
            Some(t) => self.resolve_vc_path(&t.text, &type_path),
            None => {
                if !misspelt.contains(&"cellType") {
                    self.diag.error(
                        &type_path,
                        "cellType is missing: write the dotted path CHAIN.….TYPE of the cells this VC is guaranteed",
                    );
                }
                None
            }
        };
        let number_path = key_path(path, "cellNumber");
        let number = match &raw.cell_number {
            Some(v) => whole_number(
                v,
                0,
                &number_path,
                &format!(
                    "set cellNumber to how many cells {vc} is guaranteed (0 for none), or remove the entry"
                ),
                self.diag,
            ),
            None => {
                if !misspelt.contains(&"cellNumber") {
                    self.diag.error(
                        &number_path,
                        format!("cellNumber is missing: say how many cells {vc} is guaranteed"),
                    );
                }
                None
            }
        };
        let (chain, k) = resolved?;
        Some((chain, k, number?))
    }

    /// Resolve `CHAIN.….TYPE` to (chain, level index). `None` when invalid (reported) or
    /// when the chain itself is broken (reported where it is defined).
    fn resolve_vc_path(&mut self, text: &str, path: &str) -> Option<(String, usize)> {
        let segments: Vec<&str> = text.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            self.diag.error(
                path,
                format!("cellType {text:?} has an empty segment; write CHAIN.….TYPE"),
            );
            return None;
        }
        let first = segments[0];
        if !self.chains.iter().any(|(n, _)| n == first) {
            let chains: Vec<&str> = self.chains.iter().map(|(n, _)| n.as_str()).collect();
            let listed = if chains.is_empty() {
                "there are none".to_string()
            } else {
                chains.join(", ")
            };
            if self.is_known_type(first) {
                let examples: Vec<String> = self
                    .chains
                    .iter()
                    .filter_map(|(_, chain)| {
                        let chain = chain.as_ref()?;
                        let at = chain.position(first)?;
                        Some(chain.types[..=at].join("."))
                    })
                    .collect();
                let example = if examples.is_empty() {
                    String::new()
                } else {
                    format!(", e.g. {}", examples.join(" or "))
                };
                self.diag.error(
                    path,
                    format!(
                        "{first} is not a chain (no physicalCells entry has cellType {first}); start the path with a chain ({listed}){example}"
                    ),
                );
            } else {
                self.diag.error(
                    path,
                    format!("unknown chain {first} in {text:?}: it is not the cellType of any physicalCells entry; chains are: {listed}"),
                );
            }
            return None;
        }
        let chain = self.chain(first)?.clone();
        let mut k = 0;
        for segment in &segments[1..] {
            match chain.position(segment) {
                Some(at) if at > k => k = at,
                Some(_) => {
                    self.diag.error(
                        path,
                        format!(
                            "{segment} is not below {} in {text:?}: the path goes down chain {first} ({})",
                            chain.types[k],
                            chain.types.join(" > ")
                        ),
                    );
                    return None;
                }
                None => {
                    let what = if self.is_known_type(segment) {
                        "is not in"
                    } else {
                        "is an unknown cell type, not in"
                    };
                    self.diag.error(
                        path,
                        format!(
                            "{segment} {what} chain {first} (its types: {}); fix the path {text:?}",
                            chain.types.join(" > ")
                        ),
                    );
                    return None;
                }
            }
        }
        Some((first.to_string(), k))
    }

    fn read_pinned_ref(&mut self, cell: &Value, path: &str) -> Option<String> {
        let Value::Mapping(fields) = cell else {
            self.diag.error(
                path,
                format!("expected `{{pinnedCellId: ID}}`, found {}", describe(cell)),
            );
            return None;
        };
        let misspelt = check_keys(fields, KNOWN_PINNED, path, self.diag);
        let raw: RawPinnedCell = typed(cell, path, self.diag)?;
        match non_empty(raw.pinned_cell_id) {
            Some(id) => Some(id.text),
            None => {
                if !misspelt.contains(&"pinnedCellId") {
                    self.diag.error(
                        &key_path(path, "pinnedCellId"),
                        "pinnedCellId is missing: name a pinnedCellId set on a physical cell",
                    );
                }
                None
            }
        }
    }

    /// Check pinned-cell references; returns each referenced pinned id's owning VC.
    fn check_pinned_owners(&mut self, vcs: &[VcDemand]) -> BTreeMap<String, String> {
        let mut owners: BTreeMap<String, (String, String)> = BTreeMap::new();
        for vc in vcs {
            for (id, path) in &vc.pinned {
                if !self.pinned.contains_key(id) {
                    // A broken physical cell may hold the id; its own error says so.
                    if !self.declared_pinned.contains(id) {
                        let known: Vec<&str> = self.pinned.keys().map(String::as_str).collect();
                        let known = if known.is_empty() {
                            "no physical cell has a pinnedCellId".to_string()
                        } else {
                            format!("pinned ids are: {}", known.join(", "))
                        };
                        self.diag.error(
                            path,
                            format!(
                                "unknown pinnedCellId {id} ({known}); set pinnedCellId on a cell under physicalCluster.physicalCells or fix the id"
                            ),
                        );
                    }
                    continue;
                }
                match owners.get(id) {
                    Some((owner, _)) if *owner == vc.name => self.diag.error(
                        path,
                        format!("pinned cell {id} is listed twice in VC {owner}; remove one"),
                    ),
                    Some((owner, first)) => self.diag.error(
                        path,
                        format!(
                            "pinned cell {id} is already used by VC {owner} (at {first}); a pinned cell belongs to one VC, remove it from one of them"
                        ),
                    ),
                    None => {
                        owners.insert(id.clone(), (vc.name.clone(), path.clone()));
                    }
                }
            }
        }
        let unowned: Vec<(String, String)> = self
            .pinned
            .iter()
            .filter(|(id, _)| !owners.contains_key(*id))
            .map(|(id, p)| (id.clone(), p.path.clone()))
            .collect();
        for (id, path) in unowned {
            self.diag.warn(
                &key_path(&path, "pinnedCellId"),
                format!("pinned cell {id} is in no VC's pinnedCells, so no VC is guaranteed it"),
            );
        }
        owners.into_iter().map(|(id, (vc, _))| (id, vc)).collect()
    }

    /// Per chain, top level down: `left = available - demand` must stay >= 0 and
    /// `available(next level) = left * fan-out`. Pinned cells count as their owner's demand.
    fn check_capacity(&mut self, vcs: &[VcDemand], owners: &BTreeMap<String, String>) {
        let chains: Vec<(String, Chain)> = self
            .chains
            .iter()
            .filter_map(|(n, c)| Some((n.clone(), c.clone()?)))
            .collect();
        for (name, chain) in chains {
            let levels = chain.types.len();
            let top = self.top_counts.get(&name).copied().unwrap_or(0);
            // demand[vc][k] = (preassigned cells, pinned cells)
            let demand: Vec<(&str, Vec<(u64, u64)>)> = vcs
                .iter()
                .map(|vc| {
                    let mut d = vec![(0u64, 0u64); levels];
                    for (c, k, n) in &vc.cells {
                        if *c == name {
                            d[*k].0 = d[*k].0.saturating_add(u64::from(*n));
                        }
                    }
                    for (id, owner) in owners {
                        if let Some(p) = self
                            .pinned
                            .get(id)
                            .filter(|p| p.chain == name && *owner == vc.name)
                        {
                            d[p.level_index].1 += 1;
                        }
                    }
                    (vc.name.as_str(), d)
                })
                .collect();
            let mut available = top;
            let mut total = top;
            for k in 0..levels {
                let asked: u64 = demand
                    .iter()
                    .map(|(_, d)| d[k].0.saturating_add(d[k].1))
                    .fold(0, u64::saturating_add);
                if asked > available {
                    let breakdown: Vec<String> = demand
                        .iter()
                        .filter(|(_, d)| d[k].0 + d[k].1 > 0)
                        .map(|(vc, d)| match d[k].1 {
                            0 => format!("{vc}: {}", d[k].0),
                            p => format!("{vc}: {} ({p} pinned)", d[k].0 + p),
                        })
                        .collect();
                    let cell_type = &chain.types[k];
                    let mut message = format!(
                        "chain {name}: VCs ask for {asked} {} of type {cell_type} but the cluster has {available} ({}); lower cellNumber or add nodes",
                        if asked == 1 { "cell" } else { "cells" },
                        breakdown.join(", ")
                    );
                    if available < total {
                        message.push_str(&format!(
                            " (the chain has {total} cells of type {cell_type}; {} of them are inside larger cells that VCs already ask for or pin)",
                            total - available
                        ));
                    }
                    self.diag.error("virtualClusters", message);
                    break;
                }
                if k + 1 < levels {
                    let fanout = u64::from(chain.fanout[k]);
                    available = (available - asked).saturating_mul(fanout);
                    total = total.saturating_mul(fanout);
                }
            }
        }
    }
}

/// Every `pinnedCellId` scalar under `value`, at any depth.
fn collect_pinned_ids(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Sequence(items) => items.iter().for_each(|v| collect_pinned_ids(v, out)),
        Value::Mapping(map) => {
            for (key, v) in map {
                if key.as_str() == Some("pinnedCellId") {
                    if let Some(id) = scalar_text(v) {
                        out.insert(id);
                    }
                } else {
                    collect_pinned_ids(v, out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;

    const TYPES: &str = "
physicalCluster:
  cellTypes:
    K80-2GPU: {childCellType: K80, childCellNumber: 2}
    K80-NODE: {childCellType: K80-2GPU, childCellNumber: 2, isNodeLevel: true}
    2-K80-NODE: {childCellType: K80-NODE, childCellNumber: 2}
    4-K80-NODE: {childCellType: 2-K80-NODE, childCellNumber: 2}
";

    fn load(cells: &str) -> CellConfig {
        let text = format!("{TYPES}  physicalCells:\n{cells}");
        match load_str(&text, "t.yaml") {
            Ok(config) => config,
            Err(errors) => panic!("{errors}\n--- config:\n{text}"),
        }
    }

    fn addresses(cell: &PhysicalCellSpec) -> Vec<String> {
        cell.children.iter().map(|c| c.address.clone()).collect()
    }

    fn leaf_addresses(cell: &PhysicalCellSpec) -> Vec<String> {
        cell.leaves().iter().map(|c| c.address.clone()).collect()
    }

    #[test]
    fn leaves_are_numbered_across_the_whole_node() {
        let config = load("  - cellType: K80-NODE\n    cellAddress: n1\n");
        let node = &config.physical_cells[0];
        assert_eq!(addresses(node), ["0", "1"]);
        assert_eq!(addresses(&node.children[0]), ["0", "1"]);
        assert_eq!(addresses(&node.children[1]), ["2", "3"]);
    }

    #[test]
    fn cells_above_node_level_are_numbered_within_their_top_level_cell() {
        let config = load(
            "  - cellType: 4-K80-NODE\n    cellChildren:\n    - cellChildren: [{cellAddress: a}, {cellAddress: b}]\n    - cellChildren: [{cellAddress: c}, {cellAddress: d}]\n  - cellType: 4-K80-NODE\n    cellChildren:\n    - cellChildren: [{cellAddress: e}, {cellAddress: f}]\n    - cellChildren: [{cellAddress: g}, {cellAddress: h}]\n",
        );
        let [first, second] = &config.physical_cells[..] else {
            panic!()
        };
        assert_eq!(
            (first.address.as_str(), second.address.as_str()),
            ("0", "1")
        );
        assert_eq!(addresses(first), ["0", "1"]);
        assert_eq!(
            addresses(second),
            ["0", "1"],
            "restarts in each top-level cell"
        );
        assert_eq!(addresses(&second.children[1]), ["g", "h"]);
        // Leaves restart at 0 in every node.
        assert_eq!(
            leaf_addresses(&second.children[1].children[1]),
            ["0", "1", "2", "3"]
        );
    }

    #[test]
    fn a_top_level_cell_defaults_to_its_position_in_the_list() {
        let config = load(
            "  - cellType: K80-NODE\n    cellAddress: n0\n  - cellType: 2-K80-NODE\n    cellChildren: [{cellAddress: n1}, {cellAddress: n2}]\n",
        );
        assert_eq!(
            config.physical_cells[0].address, "n0",
            "node-level: the node name"
        );
        assert_eq!(config.physical_cells[1].address, "1");
    }

    #[test]
    fn explicit_addresses_are_kept_in_any_order() {
        let config = load(
            "  - cellType: K80-NODE\n    cellAddress: n1\n    cellChildren:\n    - cellAddress: 1\n      cellChildren: [{cellAddress: 7}, {cellAddress: 5}]\n    - cellAddress: 0\n",
        );
        let node = &config.physical_cells[0];
        assert_eq!(addresses(node), ["1", "0"]);
        assert_eq!(addresses(&node.children[0]), ["7", "5"]);
        // The second switch's leaves are created with node-wide defaults.
        assert_eq!(addresses(&node.children[1]), ["2", "3"]);
    }

    #[test]
    fn missing_children_are_created_and_null_counts_as_absent() {
        let config = load(
            "  - cellType: K80-NODE\n    cellAddress: n1\n    cellChildren:\n    - cellChildren: null\n",
        );
        let node = &config.physical_cells[0];
        assert_eq!(node.children.len(), 2);
        assert_eq!(node.leaf_count(), 4);
        assert_eq!(leaf_addresses(node), ["0", "1", "2", "3"]);
    }

    #[test]
    fn a_node_level_cell_needs_its_node_name() {
        let text = format!(
            "{TYPES}  physicalCells:\n  - cellType: 2-K80-NODE\n    cellChildren: [{{cellAddress: a}}]\n"
        );
        let errors = load_str(&text, "t.yaml").unwrap_err();
        assert_eq!(errors.len(), 1, "{errors}");
        assert_eq!(
            errors.0[0].yaml_path,
            "physicalCluster.physicalCells[0].cellChildren[1]"
        );
        assert!(errors.0[0].message.contains("no cellAddress"), "{errors}");
        assert!(
            errors.0[0].message.contains("fewer cellChildren"),
            "{errors}"
        );
    }

    #[test]
    fn an_empty_document_is_an_empty_cluster() {
        for text in [
            "",
            "# only a comment\n",
            "---\n",
            "physicalCluster:\nvirtualClusters:\n",
        ] {
            let config = load_str(text, "e.yaml").unwrap();
            assert!(
                config.physical_cells.is_empty() && config.virtual_clusters.is_empty(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn vc_paths_may_skip_levels_but_not_go_up() {
        let base = format!(
            "{TYPES}  physicalCells:\n  - cellType: 2-K80-NODE\n    cellChildren: [{{cellAddress: a}}, {{cellAddress: b}}]\n"
        );
        let ok = format!(
            "{base}virtualClusters:\n  v: {{virtualCells: [{{cellType: 2-K80-NODE.K80-2GPU, cellNumber: 2}}]}}\n"
        );
        let config = load_str(&ok, "t.yaml").unwrap();
        assert_eq!(
            config.virtual_clusters["v"].virtual_cells[0].cell_type,
            "K80-2GPU"
        );
        let bad = format!(
            "{base}virtualClusters:\n  v: {{virtualCells: [{{cellType: 2-K80-NODE.K80-2GPU.K80-NODE, cellNumber: 1}}]}}\n"
        );
        let errors = load_str(&bad, "t.yaml").unwrap_err();
        assert!(
            errors.0[0]
                .message
                .contains("K80-NODE is not below K80-2GPU"),
            "{errors}"
        );
    }
}
