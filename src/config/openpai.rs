//! OpenPAI inputs: the HiveD config embedded as a string under `hivedscheduler.config` in
//! `services-configuration.yaml`, and `layout.yaml` (`machine-sku` + `machine-list`)
//! turned into a HiveD cell config. Both end in the HiveD reader (`hived.rs`), so the same
//! expansion and validation apply.
//!
//! Layout choices (the spec says only "one node-level cell per worker, grouped per SKU, one
//! VC `default` owning everything"):
//! - Every machine whose SKU has devices becomes a node, master or not (OpenPAI v0.12
//!   clusters often run workers on the master); machines whose SKU has no devices are
//!   skipped with a warning.
//! - The node name is `nodename` when given (the Kubernetes node name in v0.12 layouts),
//!   else `hostname`.
//! - One chain per SKU: type `<SKU>-NODE-POOL` holding all its machines, node type
//!   `<SKU>-NODE`, leaf type = the device `model` (v1.7 `computing-device`) or the `type`
//!   (older `gpu`). Power-of-two counts >= 4 get buddy levels `<leaf>-2GPU`,
//!   `<leaf>-4GPU`, … so packing sees PCIe-switch/socket levels; other counts hang the
//!   leaves straight under the node.
//! - VC `default` gets `<SKU>-NODE-POOL.<SKU>-NODE` x machines, per SKU.
//! - `skuTypes` per leaf type: gpu 1, cpu = vcores / devices, memory = mem / devices (MiB,
//!   rounded down). When SKUs sharing a leaf type differ, the smallest share is used (a
//!   task then asks for at least enough leaf cells) and a warning says so. A bare number
//!   for `mem` is read as GiB (v0.12 write-ups use GB), with a warning.

use std::collections::{BTreeMap, HashMap};

use serde_yaml_ng::{Mapping, Value};

use super::error::Diag;
use super::model::CellConfig;
use super::quantity::{self, Memory};
use super::yaml::{self, describe, get, index_path, key_path, key_text, scalar_text, whole_number};
use super::{hived, model::SkuSpec};

/// Read the HiveD config under `hivedscheduler.config` of a services-configuration file.
/// `text` is the whole file, used to turn lines of the embedded string into file lines.
pub(crate) fn from_services_configuration(
    text: &str,
    value: &Value,
    diag: &mut Diag,
) -> Option<CellConfig> {
    const PATH: &str = "hivedscheduler.config";
    let section = match value {
        Value::Mapping(top) => get(top, "hivedscheduler"),
        _ => None,
    };
    let config = match section {
        Some(Value::Mapping(section)) => get(section, "config"),
        Some(other) => {
            diag.error(
                "hivedscheduler",
                format!(
                    "expected a mapping with `config: |` holding the HiveD config, found {}",
                    describe(other)
                ),
            );
            return None;
        }
        None => None,
    };
    let inner = match config {
        Some(Value::String(embedded)) => {
            diag.prefix = PATH.to_string();
            let parsed = yaml::parse(embedded, "", embedded_start_line(text), diag);
            let Some(parsed) = parsed else {
                diag.prefix.clear();
                return None;
            };
            if parsed.is_null() {
                diag.warn("", "the embedded HiveD config is empty: no cells, no VCs");
            }
            parsed
        }
        // Also take the config written as a YAML mapping instead of a string.
        Some(mapping @ Value::Mapping(_)) => {
            diag.prefix = PATH.to_string();
            mapping.clone()
        }
        Some(other) => {
            diag.error(
                PATH,
                format!(
                    "expected the HiveD config as a string (`config: |`), found {}",
                    describe(other)
                ),
            );
            return None;
        }
        None => {
            diag.error(
                PATH,
                "missing: put the HiveD config as a string under hivedscheduler.config (`config: |` then the indented YAML)",
            );
            return None;
        }
    };
    let config = hived::build(&inner, diag);
    diag.prefix.clear();
    config
}

/// The 1-based file line where the block scalar under `hivedscheduler:`/`config: |`
/// starts, if the file is laid out that way (the common case).
fn embedded_start_line(text: &str) -> Option<usize> {
    let mut in_section = false;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            in_section = line.trim_end() == "hivedscheduler:";
            continue;
        }
        if in_section && let Some(rest) = trimmed.strip_prefix("config:") {
            let rest = rest.trim();
            return (rest.starts_with('|') || rest.starts_with('>')).then_some(i + 2);
        }
    }
    None
}

/// One machine SKU as read from `machine-sku`.
#[derive(Debug, Clone)]
struct Sku {
    name: String,
    leaf: String,
    devices: u32,
    cpu: Option<f64>,
    memory_mib: Option<u64>,
}

/// Turn a `layout.yaml` into a cell config (see the module doc for the rules).
pub(crate) fn from_layout(value: &Value, diag: &mut Diag) -> Option<CellConfig> {
    let Value::Mapping(top) = value else {
        return None;
    };
    let skus = read_skus(top, diag);
    let machines = read_machines(top, &skus, diag);
    if diag.has_errors() {
        return None;
    }
    let doc = hived_document(&skus, &machines, diag)?;
    diag.prefix = "(cells generated from the layout)".to_string();
    let config = hived::build(&doc, diag);
    diag.prefix.clear();
    config
}

fn read_skus(top: &Mapping, diag: &mut Diag) -> Vec<Sku> {
    const BASE: &str = "machine-sku";
    let mut skus = Vec::new();
    let map = match get(top, BASE) {
        Some(Value::Mapping(map)) => map,
        None | Some(Value::Null) => {
            diag.error(
                BASE,
                "machine-sku is missing: describe each machine type (computing-device, cpu, mem)",
            );
            return skus;
        }
        Some(other) => {
            diag.error(
                BASE,
                format!(
                    "expected machine SKUs by name (a mapping), found {}",
                    describe(other)
                ),
            );
            return skus;
        }
    };
    for (key, entry) in map {
        let Some(name) = key_text(key, BASE, diag) else {
            continue;
        };
        let path = key_path(BASE, &name);
        let Value::Mapping(fields) = entry else {
            diag.error(
                &path,
                format!(
                    "expected a machine SKU (a mapping), found {}",
                    describe(entry)
                ),
            );
            continue;
        };
        let (leaf, devices) = sku_devices(fields, &path, diag);
        let cpu = match get(fields, "cpu") {
            None | Some(Value::Null) => None,
            Some(Value::Mapping(cpu)) => get(cpu, "vcore").and_then(|v| {
                quantity::cpu_cores(v)
                    .map_err(|m| diag.error(&key_path(&path, "cpu.vcore"), m))
                    .ok()
            }),
            Some(v) => quantity::cpu_cores(v)
                .map_err(|m| diag.error(&key_path(&path, "cpu"), m))
                .ok(),
        };
        let memory_mib = match get(fields, "mem") {
            None | Some(Value::Null) => None,
            Some(v) => {
                match quantity::memory(v) {
                    Ok(Memory::Mib(mib)) => Some(mib),
                    Ok(Memory::Bare(gib)) => {
                        diag.warn(
                        &key_path(&path, "mem"),
                        format!("mem {gib} has no unit and is read as {gib}Gi; write {gib}Gi to say so"),
                    );
                        Some((gib * 1024.0).round() as u64)
                    }
                    Err(m) => {
                        diag.error(&key_path(&path, "mem"), m);
                        None
                    }
                }
            }
        };
        skus.push(Sku {
            name,
            leaf,
            devices,
            cpu,
            memory_mib,
        });
    }
    skus
}

/// Leaf type and device count of one SKU, from `computing-device` (v1.7+) or `gpu`.
fn sku_devices(fields: &Mapping, path: &str, diag: &mut Diag) -> (String, u32) {
    let device = get(fields, "computing-device").filter(|v| !v.is_null());
    let gpu = get(fields, "gpu").filter(|v| !v.is_null());
    if device.is_some() && gpu.is_some() {
        diag.warn(
            &key_path(path, "gpu"),
            "both computing-device and gpu are given; gpu is ignored",
        );
    }
    let (section, name_key, fix) = match (device, gpu) {
        (Some(d), _) => (
            d,
            "model",
            "name the device model, e.g. model: V100; it becomes the leaf cell type",
        ),
        (None, Some(g)) => (
            g,
            "type",
            "name the GPU type, e.g. type: K80; it becomes the leaf cell type",
        ),
        (None, None) => return (String::new(), 0),
    };
    let section_name = if device.is_some() {
        "computing-device"
    } else {
        "gpu"
    };
    let section_path = key_path(path, section_name);
    let Value::Mapping(section) = section else {
        diag.error(
            &section_path,
            format!(
                "expected a mapping with {name_key} and count, found {}",
                describe(section)
            ),
        );
        return (String::new(), 0);
    };
    let count = match get(section, "count") {
        Some(v) => whole_number(
            v,
            0,
            &key_path(&section_path, "count"),
            "give the number of devices per machine",
            diag,
        )
        .unwrap_or(0),
        None => {
            diag.error(
                &key_path(&section_path, "count"),
                "count is missing: give the number of devices per machine",
            );
            0
        }
    };
    let leaf = get(section, name_key)
        .and_then(scalar_text)
        .filter(|s| !s.is_empty());
    match leaf {
        Some(leaf) if leaf.contains('.') => {
            diag.error(
                &key_path(&section_path, name_key),
                format!("{leaf:?} cannot be a cell type name (it contains '.'); rename it"),
            );
            (String::new(), 0)
        }
        Some(leaf) => (leaf, count),
        None if count > 0 => {
            diag.error(
                &key_path(&section_path, name_key),
                format!("{name_key} is missing: {fix}"),
            );
            (String::new(), 0)
        }
        None => (String::new(), 0),
    }
}

/// Machines with devices, grouped per SKU name, in machine-list order.
fn read_machines(top: &Mapping, skus: &[Sku], diag: &mut Diag) -> BTreeMap<String, Vec<String>> {
    const BASE: &str = "machine-list";
    let mut pools: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let list = match get(top, BASE) {
        Some(Value::Sequence(list)) => list,
        None | Some(Value::Null) => {
            diag.error(
                BASE,
                "machine-list is missing: list the machines (hostname, machine-type)",
            );
            return pools;
        }
        Some(other) => {
            diag.error(
                BASE,
                format!("expected a list of machines, found {}", describe(other)),
            );
            return pools;
        }
    };
    let mut seen: HashMap<String, String> = HashMap::new();
    for (i, machine) in list.iter().enumerate() {
        let path = index_path(BASE, i);
        let Value::Mapping(fields) = machine else {
            diag.error(
                &path,
                format!(
                    "expected a machine (a mapping), found {}",
                    describe(machine)
                ),
            );
            continue;
        };
        let text = |key: &str| {
            get(fields, key)
                .and_then(scalar_text)
                .filter(|s| !s.is_empty())
        };
        let name_key = if text("nodename").is_some() {
            "nodename"
        } else {
            "hostname"
        };
        let Some(name) = text(name_key) else {
            diag.error(
                &key_path(&path, "hostname"),
                "hostname is missing: give the machine's name",
            );
            continue;
        };
        let Some(sku_name) = text("machine-type") else {
            diag.error(
                &key_path(&path, "machine-type"),
                "machine-type is missing: name its SKU from machine-sku",
            );
            continue;
        };
        let Some(sku) = skus.iter().find(|s| s.name == sku_name) else {
            let names: Vec<&str> = skus.iter().map(|s| s.name.as_str()).collect();
            diag.error(
                &key_path(&path, "machine-type"),
                format!(
                    "machine-type {sku_name} is not in machine-sku (SKUs: {}); fix the name",
                    names.join(", ")
                ),
            );
            continue;
        };
        if let Some(first) = seen.get(&name) {
            diag.error(
                &key_path(&path, name_key),
                format!(
                    "duplicate machine {name}: {first} has the same name; each machine appears once"
                ),
            );
            continue;
        }
        seen.insert(name.clone(), path.clone());
        if sku.devices == 0 {
            diag.warn(
                &path,
                format!("machine {name} (SKU {sku_name}) has no GPUs; skipped"),
            );
            continue;
        }
        pools.entry(sku_name).or_default().push(name);
    }
    pools
}

/// The HiveD config equivalent to the layout.
fn hived_document(
    skus: &[Sku],
    pools: &BTreeMap<String, Vec<String>>,
    diag: &mut Diag,
) -> Option<Value> {
    fn cell_type(child: &str, number: u32, node: bool) -> Value {
        let mut m = Mapping::new();
        m.insert("childCellType".into(), child.into());
        m.insert("childCellNumber".into(), u64::from(number).into());
        if node {
            m.insert("isNodeLevel".into(), true.into());
        }
        Value::Mapping(m)
    }
    let mut cell_types = Mapping::new();
    let mut define = |diag: &mut Diag, name: String, spec: Value| -> bool {
        match cell_types.get(name.as_str()) {
            Some(existing) if *existing != spec => {
                diag.error(
                    "machine-sku",
                    format!("the generated cell type {name} would be defined twice, differently; rename a SKU or device model"),
                );
                false
            }
            _ => {
                cell_types.insert(name.into(), spec);
                true
            }
        }
    };
    let mut physical_cells = Vec::new();
    let mut virtual_cells = Vec::new();
    let mut shares: BTreeMap<String, Vec<(&Sku, f64, u64)>> = BTreeMap::new();
    let mut missing_sizes: Vec<&str> = Vec::new();
    // machine-sku order, so the chains come out in the order the admin wrote them.
    for sku in skus {
        let Some(machines) = pools.get(&sku.name) else {
            continue;
        };
        let leaf = &sku.leaf;
        let node_type = format!("{}-NODE", sku.name);
        let pool_type = format!("{}-NODE-POOL", sku.name);
        let mut child = leaf.clone();
        let mut number = sku.devices;
        if sku.devices >= 4 && sku.devices.is_power_of_two() {
            let mut size = 2;
            while size < sku.devices {
                let name = format!("{leaf}-{size}GPU");
                if !define(diag, name.clone(), cell_type(&child, 2, false)) {
                    return None;
                }
                child = name;
                size *= 2;
            }
            number = 2;
        }
        let Ok(count) = u32::try_from(machines.len()) else {
            return None;
        };
        if !define(diag, node_type.clone(), cell_type(&child, number, true))
            || !define(diag, pool_type.clone(), cell_type(&node_type, count, false))
        {
            return None;
        }
        let mut top = Mapping::new();
        top.insert("cellType".into(), pool_type.as_str().into());
        let children: Vec<Value> = machines
            .iter()
            .map(|m| {
                let mut c = Mapping::new();
                c.insert("cellAddress".into(), m.as_str().into());
                Value::Mapping(c)
            })
            .collect();
        top.insert("cellChildren".into(), Value::Sequence(children));
        physical_cells.push(Value::Mapping(top));
        let mut vc_cell = Mapping::new();
        vc_cell.insert("cellType".into(), format!("{pool_type}.{node_type}").into());
        vc_cell.insert("cellNumber".into(), u64::from(count).into());
        virtual_cells.push(Value::Mapping(vc_cell));
        match (sku.cpu, sku.memory_mib) {
            (Some(cpu), Some(mib)) => shares.entry(leaf.clone()).or_default().push((
                sku,
                cpu / f64::from(sku.devices),
                mib / u64::from(sku.devices),
            )),
            _ => missing_sizes.push(&sku.name),
        }
    }
    for name in missing_sizes {
        diag.warn(
            &key_path("machine-sku", name),
            "no cpu.vcore or mem given, so no skuTypes entry is made for its devices (job cpu/memory requests cannot be mapped to cells)",
        );
    }
    let mut sku_types = Mapping::new();
    for (leaf, list) in &shares {
        let cpu = list.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
        let mib = list.iter().map(|s| s.2).min().unwrap_or(0);
        if list.iter().any(|s| s.1 != cpu || s.2 != mib) {
            let names: Vec<&str> = list.iter().map(|s| s.0.name.as_str()).collect();
            diag.warn(
                "machine-sku",
                format!(
                    "SKUs {} share leaf type {leaf} but not cpu/memory per device; skuTypes.{leaf} uses the smallest: cpu {cpu}, memory {mib}Mi",
                    names.join(", ")
                ),
            );
        }
        let spec = SkuSpec {
            gpu: 1,
            cpu,
            memory_mib: mib,
        };
        let mut m = Mapping::new();
        m.insert("gpu".into(), u64::from(spec.gpu).into());
        m.insert("cpu".into(), spec.cpu.into());
        m.insert("memory".into(), format!("{}Mi", spec.memory_mib).into());
        sku_types.insert(leaf.as_str().into(), Value::Mapping(m));
    }
    if physical_cells.is_empty() {
        diag.warn("machine-list", "no machine has GPUs: the cluster is empty");
    }
    let mut physical = Mapping::new();
    physical.insert("skuTypes".into(), Value::Mapping(sku_types));
    physical.insert("cellTypes".into(), Value::Mapping(cell_types));
    physical.insert("physicalCells".into(), Value::Sequence(physical_cells));
    let mut doc = Mapping::new();
    doc.insert("physicalCluster".into(), Value::Mapping(physical));
    if !virtual_cells.is_empty() {
        let mut vc = Mapping::new();
        vc.insert("virtualCells".into(), Value::Sequence(virtual_cells));
        let mut vcs = Mapping::new();
        vcs.insert("default".into(), Value::Mapping(vc));
        doc.insert("virtualClusters".into(), Value::Mapping(vcs));
    }
    Some(Value::Mapping(doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(text: &str) -> Result<CellConfig, Vec<String>> {
        let mut diag = Diag::new("layout.yaml");
        let value: Value = serde_yaml_ng::from_str(text).unwrap();
        match from_layout(&value, &mut diag) {
            Some(c) if !diag.has_errors() => Ok(c),
            _ => Err(diag.errors.iter().map(|e| e.to_string()).collect()),
        }
    }

    #[test]
    fn eight_gpu_machines_get_buddy_levels() {
        let config = layout(
            "machine-sku:\n  big:\n    computing-device: {type: nvidia.com/gpu, model: V100, count: 8}\n    mem: 256Gi\n    cpu: {vcore: 64}\nmachine-list:\n  - {hostname: w1, machine-type: big}\n",
        )
        .unwrap();
        assert_eq!(config.cell_types["V100-2GPU"].child_cell_type, "V100");
        assert_eq!(config.cell_types["V100-4GPU"].child_cell_type, "V100-2GPU");
        assert_eq!(config.cell_types["big-NODE"].child_cell_type, "V100-4GPU");
        assert_eq!(config.cell_types["big-NODE"].child_cell_number, 2);
        assert!(config.cell_types["big-NODE"].is_node_level);
        assert_eq!(config.sku_types["V100"].cpu, 8.0);
        assert_eq!(config.sku_types["V100"].memory_mib, 32 * 1024);
        let node = &config.physical_cells[0].children[0];
        assert_eq!(node.address, "w1");
        let leaves: Vec<&str> = node
            .children
            .iter()
            .flat_map(|s| &s.children)
            .flat_map(|p| &p.children)
            .map(|l| l.address.as_str())
            .collect();
        assert_eq!(leaves, ["0", "1", "2", "3", "4", "5", "6", "7"]);
    }

    #[test]
    fn odd_counts_hang_leaves_under_the_node() {
        let config = layout(
            "machine-sku:\n  s:\n    gpu: {type: generic, count: 3}\nmachine-list:\n  - {hostname: a, machine-type: s}\n",
        )
        .unwrap();
        assert_eq!(config.cell_types["s-NODE"].child_cell_type, "generic");
        assert_eq!(config.cell_types["s-NODE"].child_cell_number, 3);
        assert!(config.sku_types.is_empty());
        assert!(
            config
                .warnings
                .iter()
                .any(|w| w.contains("no skuTypes entry"))
        );
    }

    #[test]
    fn unknown_machine_type_is_an_error() {
        let errors = layout("machine-sku:\n  s:\n    gpu: {type: g, count: 1}\nmachine-list:\n  - {hostname: a, machine-type: t}\n")
            .unwrap_err();
        assert!(
            errors[0].contains("machine-list[0].machine-type"),
            "{errors:?}"
        );
    }

    #[test]
    fn embedded_start_line_finds_the_block_scalar() {
        let text = "a: 1\nhivedscheduler:\n  config: |\n    physicalCluster: {}\n";
        assert_eq!(embedded_start_line(text), Some(4));
        assert_eq!(embedded_start_line("hivedscheduler:\n  config: x\n"), None);
    }
}
