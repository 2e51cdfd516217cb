//! The nodes of a Kubernetes cluster, as `kubectl get nodes -o yaml` prints them, read
//! into [`KubeNode`]s (name, labels, allocatable `nvidia.com/gpu`, CPU and memory) and
//! built into a cellsim cluster ([`cluster_of_nodes`]) with each node's CPU and memory
//! for GPU sharing ([`node_resources`]). Nodes without GPUs are counted and skipped.
//!
//! The cell hierarchy is the one of `config::builders` (node, PCIe switch, socket inside a
//! node; racks of nodes as top-level cells). The GPU model (the leaf cell type) comes from
//! the `nvidia.com/gpu.product` label of NVIDIA's GPU feature discovery (other characters
//! than letters, digits, `-` and `_` become `-`), `GPU` without it. Racks follow the first
//! topology label the nodes carry of [`RACK_LABELS`]: nodes are ordered by it, and a rack
//! holds as many nodes as its largest label group (unless `--rack-nodes` says), so nodes
//! sharing a label value share a top-level cell when the groups are of equal size. Deeper
//! levels (zone above block above rack) are kept as labels only: the allocator's packing
//! sees nodes and racks.

use std::collections::BTreeMap;

use super::k8s::{self, ObjectError, Skipped};
use super::objects::GPU_RESOURCE;
use crate::config::{CellConfig, ClusterBuildError, NodeSpec, cluster_from_nodes};

/// Label of the GPU model (NVIDIA GPU feature discovery).
pub const PRODUCT_LABEL: &str = "nvidia.com/gpu.product";

/// Topology labels that make racks, most specific first.
pub const RACK_LABELS: [&str; 6] = [
    "topology.kubernetes.io/rack",
    "network.topology.kubernetes.io/rack",
    "cloud.google.com/gce-topology-subblock",
    "network.topology.kubernetes.io/block",
    "cloud.google.com/gce-topology-block",
    "topology.kubernetes.io/zone",
];

/// The leaf cell type of a GPU product label value: characters other than letters,
/// digits, `-` and `_` become `-` (a valid cell type name).
pub fn sku_of_product(product: &str) -> String {
    product
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// One node with GPUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeNode {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `status.allocatable["nvidia.com/gpu"]`.
    pub gpus: u32,
    /// `status.allocatable.cpu` in milli-CPUs; `None` (not given): unlimited.
    pub cpu_milli: Option<u64>,
    /// `status.allocatable.memory` in MiB; `None` (not given): unlimited.
    pub memory_mib: Option<u64>,
}

impl KubeNode {
    /// The leaf cell type of the node: its GPU product, made a valid cell type name.
    pub fn sku(&self) -> String {
        match self.labels.get(PRODUCT_LABEL) {
            Some(product) if !product.is_empty() => sku_of_product(product),
            _ => "GPU".to_string(),
        }
    }

    /// Whether the node has every label of `selector`.
    pub fn matches(&self, selector: &BTreeMap<String, String>) -> bool {
        selector.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}

/// The nodes of a dump, with a note of what was skipped.
#[derive(Debug, Clone, Default)]
pub struct KubeNodes {
    /// Nodes with at least one GPU, in file order.
    pub nodes: Vec<KubeNode>,
    /// Skipped objects and nodes, one line each.
    pub notes: Vec<String>,
}

/// Reads the nodes of `text` (`file` names it in messages).
pub fn read_nodes_str(text: &str, file: &str) -> Result<KubeNodes, ObjectError> {
    let mut out = KubeNodes::default();
    let mut skipped = Skipped::default();
    let mut without_gpus = 0u64;
    for object in k8s::objects(text, file)? {
        if object.kind != "Node" {
            skipped.add(&object.kind);
            continue;
        }
        let mut labels = BTreeMap::new();
        if let Some(map) =
            k8s::mapping_at(&object, object.get("metadata.labels"), "metadata.labels")?
        {
            for (key, value) in map {
                let (Some(key), Some(value)) = (k8s::text(key), k8s::text(value)) else {
                    return Err(object.error("metadata.labels", "labels must be text: key: value"));
                };
                labels.insert(key, value);
            }
        }
        let field = format!("status.allocatable[\"{GPU_RESOURCE}\"]");
        let allocatable = k8s::mapping_at(
            &object,
            object.get("status.allocatable"),
            "status.allocatable",
        )?;
        let gpus = match allocatable.and_then(|m| m.get(GPU_RESOURCE)) {
            None => 0,
            Some(v) => k8s::whole_quantity(v).map_err(|e| object.error(&field, e))?,
        };
        if gpus == 0 {
            without_gpus += 1;
            continue;
        }
        let gpus = u32::try_from(gpus)
            .map_err(|_| object.error(&field, format!("{gpus} GPUs in one node is too many")))?;
        // CPU and memory only matter to pods placed on the shared cluster; read them
        // always so that a bad value is found whatever the model.
        let cpu_milli = match allocatable.and_then(|m| m.get("cpu")) {
            None => None,
            Some(v) => {
                Some(k8s::cpu_milli(v).map_err(|e| object.error("status.allocatable.cpu", e))?)
            }
        };
        let memory_mib = match allocatable.and_then(|m| m.get("memory")) {
            None => None,
            Some(v) => {
                Some(k8s::memory_mib(v).map_err(|e| object.error("status.allocatable.memory", e))?)
            }
        };
        out.nodes.push(KubeNode {
            name: object.name.clone(),
            labels,
            gpus,
            cpu_milli,
            memory_mib,
        });
    }
    if without_gpus > 0 {
        out.notes.push(format!(
            "{without_gpus} nodes without {GPU_RESOURCE} skipped"
        ));
    }
    if !skipped.is_empty() {
        out.notes
            .push(format!("skipped objects other than Node: {skipped}"));
    }
    if out.nodes.is_empty() {
        return Err(ObjectError {
            file: file.to_string(),
            object: "the file".to_string(),
            field: None,
            message: format!(
                "no Node with allocatable {GPU_RESOURCE}; give the output of `kubectl get nodes -o yaml`"
            ),
        });
    }
    Ok(out)
}

/// Reads a nodes file (see [`read_nodes_str`]).
pub fn read_nodes_file(path: &std::path::Path) -> Result<KubeNodes, ObjectError> {
    let file = path.display().to_string();
    let text = super::read_text(path)?;
    read_nodes_str(&text, &file)
}

/// The cellsim cluster of `nodes` (see the module doc); `rack_nodes` overrides the rack
/// size found from the topology labels. Its one VC, `default`, is replaced by the caller.
pub fn cluster_of_nodes(
    nodes: &[KubeNode],
    rack_nodes: Option<u32>,
    source: &str,
) -> Result<CellConfig, ClusterBuildError> {
    let rack_label = RACK_LABELS
        .iter()
        .find(|label| nodes.iter().any(|n| n.labels.contains_key(**label)));
    let mut ordered: Vec<&KubeNode> = nodes.iter().collect();
    let mut rack = crate::config::builders::DEFAULT_RACK_NODES;
    if let Some(label) = rack_label {
        // Stable: nodes of one rack keep their file order.
        ordered.sort_by(|a, b| a.labels.get(*label).cmp(&b.labels.get(*label)));
        let mut sizes: BTreeMap<(String, u32, Option<&String>), u32> = BTreeMap::new();
        for node in &ordered {
            *sizes
                .entry((node.sku(), node.gpus, node.labels.get(*label)))
                .or_default() += 1;
        }
        rack = sizes.values().copied().max().unwrap_or(rack);
    }
    let specs = ordered
        .iter()
        .map(|n| NodeSpec {
            name: n.name.clone(),
            sku: n.sku(),
            gpus: n.gpus,
        })
        .collect();
    cluster_from_nodes(specs, rack_nodes.unwrap_or(rack), source)
}

/// CPU (milli) and memory (MiB) per node name, as the shared cluster takes them
/// ([`crate::sched::ShareOptions::node_resources`]); `None`: unlimited.
pub fn node_resources(nodes: &[KubeNode]) -> BTreeMap<String, (Option<u64>, Option<u64>)> {
    nodes
        .iter()
        .map(|n| (n.name.clone(), (n.cpu_milli, n.memory_mib)))
        .collect()
}

/// The nodes of a cluster cellsim built (a spec string such as `"4x A100x8"` or a
/// machine list), each labelled `nvidia.com/gpu.product=<SKU>` and
/// `kubernetes.io/hostname=<name>`, so that ResourceFlavors can select them.
pub fn nodes_of_config(config: &CellConfig) -> Vec<KubeNode> {
    let topology = crate::cell::topology::Topology::build(config);
    topology
        .nodes
        .iter()
        .filter_map(|node| {
            let first = *node.cells.first()?;
            let shape = topology.cell(first);
            let sku = topology.chains[shape.chain as usize].leaf_type.clone();
            let gpus: u32 = node
                .cells
                .iter()
                .map(|&c| topology.cell(c).leaf_count())
                .sum();
            Some(KubeNode {
                name: node.name.clone(),
                labels: BTreeMap::from([
                    (PRODUCT_LABEL.to_string(), sku),
                    ("kubernetes.io/hostname".to_string(), node.name.clone()),
                ]),
                gpus,
                cpu_milli: None,
                memory_mib: None,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodes_without_gpus_and_other_kinds_are_counted() {
        let text = "apiVersion: v1\nkind: List\nitems:\n- kind: Node\n  metadata: {name: cpu-1}\n  status: {allocatable: {cpu: '64'}}\n- kind: Node\n  metadata: {name: g-1, labels: {nvidia.com/gpu.product: NVIDIA-A100-SXM4-80GB}}\n  status: {allocatable: {nvidia.com/gpu: '8'}}\n- kind: Pod\n  metadata: {name: p}\n";
        let nodes = read_nodes_str(text, "n.yaml").unwrap();
        assert_eq!(nodes.nodes.len(), 1);
        assert_eq!(nodes.nodes[0].gpus, 8);
        assert_eq!(nodes.nodes[0].sku(), "NVIDIA-A100-SXM4-80GB");
        assert_eq!(
            nodes.notes,
            [
                "1 nodes without nvidia.com/gpu skipped",
                "skipped objects other than Node: 1 Pod"
            ]
        );
    }

    #[test]
    fn a_bad_gpu_count_names_the_node() {
        let text =
            "kind: Node\nmetadata: {name: g-1}\nstatus: {allocatable: {nvidia.com/gpu: lots}}\n";
        let err = read_nodes_str(text, "n.yaml").unwrap_err().to_string();
        assert!(
            err.contains("n.yaml: Node g-1: field status.allocatable[\"nvidia.com/gpu\"]"),
            "{err}"
        );
    }

    #[test]
    fn cpu_and_memory_are_read_as_kubernetes_quantities() {
        let text = "kind: List\nitems:\n- kind: Node\n  metadata: {name: a}\n  status: {allocatable: {nvidia.com/gpu: '8', cpu: '96', memory: 503Gi}}\n- kind: Node\n  metadata: {name: b}\n  status: {allocatable: {nvidia.com/gpu: '8', cpu: 95500m, memory: 1000000Ki}}\n- kind: Node\n  metadata: {name: c}\n  status: {allocatable: {nvidia.com/gpu: '8'}}\n";
        let nodes = read_nodes_str(text, "n.yaml").unwrap().nodes;
        let got: Vec<(Option<u64>, Option<u64>)> =
            nodes.iter().map(|n| (n.cpu_milli, n.memory_mib)).collect();
        // 1000000Ki = 976.5625 MiB, rounded; c gives neither: unlimited.
        assert_eq!(
            got,
            [
                (Some(96_000), Some(503 * 1024)),
                (Some(95_500), Some(977)),
                (None, None)
            ]
        );
        assert_eq!(node_resources(&nodes)["b"], (Some(95_500), Some(977)));
    }

    #[test]
    fn a_bad_cpu_or_memory_names_the_node_and_field() {
        for (field, value, says) in [
            ("cpu", "lots", "status.allocatable.cpu"),
            ("memory", "8GB", "status.allocatable.memory"),
        ] {
            let text = format!(
                "kind: Node\nmetadata: {{name: g-1}}\nstatus: {{allocatable: {{nvidia.com/gpu: '8', {field}: {value}}}}}\n"
            );
            let err = read_nodes_str(&text, "n.yaml").unwrap_err().to_string();
            assert!(
                err.contains(&format!("n.yaml: Node g-1: field {says}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn racks_follow_the_rack_label() {
        let node = |name: &str, rack: &str| KubeNode {
            name: name.to_string(),
            labels: BTreeMap::from([("topology.kubernetes.io/rack".to_string(), rack.to_string())]),
            gpus: 4,
            cpu_milli: None,
            memory_mib: None,
        };
        // File order interleaves the racks; the cluster groups them.
        let nodes = [
            node("a1", "r1"),
            node("b1", "r2"),
            node("a2", "r1"),
            node("b2", "r2"),
        ];
        let config = cluster_of_nodes(&nodes, None, "t").unwrap();
        assert_eq!(config.physical_cells.len(), 2);
        let names = |i: usize| -> Vec<String> {
            config.physical_cells[i]
                .children
                .iter()
                .map(|c| c.address.clone())
                .collect()
        };
        let first = names(0).join(",");
        assert!(first.contains("a1") && first.contains("a2"), "{first}");
    }
}
