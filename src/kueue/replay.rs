//! A Kueue replay: the cluster (a `kubectl get nodes -o yaml` dump, or a spec string
//! whose nodes get GPU-product labels), the Kueue objects and a Workload dump (or any
//! trace-shaped Workload list) put together into a [`Scenario`] whose VCs are the
//! ClusterQueues and whose model options carry the Kueue objects and each flavor's nodes
//! for the `kueue` layer. Running it is the caller's business, as for any scenario.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::csv::{looks_like_queue_csv, read_queue_csv};
use super::k8s::Skipped;
use super::nodes::{KubeNode, cluster_of_nodes, node_resources, nodes_of_config, read_nodes_file};
use super::objects::{KueueConfig, read_kueue_file};
use super::workloads::{read_workloads_str, sim_jobs_with};
use crate::config::{BuildOptions, VirtualClusterSpec, build_cluster};
use crate::sched::ModelOptions;
use crate::sched::layers::kueue::{KueueOptions, TasOptions};
use crate::sim::{Scenario, SimTimeMs};
use crate::workload::IngestReport;

/// The model a Kueue replay runs when none is named.
pub const DEFAULT_MODEL: &str = "kueue+priority";

/// What to replay.
#[derive(Debug, Clone, Default)]
pub struct KueueReplayOptions {
    /// `kubectl get nodes -o yaml` output, or a spec string such as `"4x A100x8"`.
    pub cluster: String,
    /// Nodes per rack (default: from the topology labels).
    pub rack_nodes: Option<u32>,
    /// The Kueue objects file.
    pub kueue: PathBuf,
    /// `kubectl get workloads -A -o yaml` output, or a CSV trace with a `queue` column
    /// ([`super::csv`]).
    pub trace: PathBuf,
    /// Models; [`DEFAULT_MODEL`] when empty.
    pub models: Vec<String>,
    /// Seed of each run's RNG.
    pub seed: u64,
    /// Stop simulating at this time, if set.
    pub horizon_ms: Option<SimTimeMs>,
    /// Scenario name; from the trace's file name when `None`.
    pub name: Option<String>,
}

/// A Kueue replay ready to run.
#[derive(Debug, Clone)]
pub struct KueueReplay {
    /// The scenario: ClusterQueues as VCs, the workloads as jobs.
    pub scenario: Scenario,
    /// What was read and set aside, for people (one line each).
    pub notes: String,
    /// The cluster's GPU nodes with their labels (for adding nodes of a flavor).
    pub nodes: Vec<KubeNode>,
}

/// Reads the three inputs and returns the scenario.
pub fn prepare(options: &KueueReplayOptions) -> Result<KueueReplay, String> {
    for model in &options.models {
        crate::sched::check_model_name(model)?;
    }
    let kueue = read_kueue_file(&options.kueue).map_err(|e| e.to_string())?;
    let mut notes: Vec<String> = kueue.notes.iter().map(|n| format!("kueue: {n}")).collect();
    let (nodes, mut config) = if Path::new(&options.cluster).is_file() {
        let read = read_nodes_file(Path::new(&options.cluster)).map_err(|e| e.to_string())?;
        notes.extend(read.notes.iter().map(|n| format!("nodes: {n}")));
        let config = cluster_of_nodes(&read.nodes, options.rack_nodes, &options.cluster)
            .map_err(|e| format!("cluster {}: {e}", options.cluster))?;
        (read.nodes, config)
    } else {
        let build = BuildOptions {
            rack_nodes: options.rack_nodes,
        };
        let config = build_cluster(&options.cluster, None, &build)
            .map_err(|e| format!("cluster {}: {e}", options.cluster))?;
        (nodes_of_config(&config), config)
    };
    let flavor_nodes = flavor_nodes(&kueue, &nodes, &mut notes);
    config.virtual_clusters = kueue
        .cluster_queues
        .keys()
        .map(|cq| (cq.clone(), VirtualClusterSpec::default()))
        .collect();
    let trace_file = options.trace.display().to_string();
    let text = super::read_text(&options.trace).map_err(|e| e.to_string())?;
    let mut skipped = Skipped::default();
    let workloads = if looks_like_queue_csv(&text) {
        let node_gpus = nodes.iter().map(|n| n.gpus).max().unwrap_or(1);
        read_queue_csv(&options.trace, &kueue, node_gpus).map_err(|e| e.to_string())?
    } else {
        read_workloads_str(&text, &trace_file, &kueue.priority_classes, &mut skipped)
            .map_err(|e| e.to_string())?
    };
    if !skipped.is_empty() {
        notes.push(format!(
            "trace: skipped objects other than Workload: {skipped}"
        ));
    }
    let tas = topology_requests(&workloads, &nodes, &trace_file)?;
    let mut report = IngestReport::default();
    // Pods carry CPU, memory and GPU product only for models that name a placement (they
    // place on the shared cluster); the others stay whole-GPU, as before.
    let placed = options.models.iter().any(|m| m.split('+').nth(2).is_some());
    let jobs = sim_jobs_with(workloads, &kueue, &mut report, placed);
    let mut text_notes = format!(
        "trace {trace_file}: {} workloads read, {} jobs to replay on {} ClusterQueues\n",
        report.jobs_read,
        jobs.len(),
        kueue.cluster_queues.len()
    );
    for line in report.lines() {
        text_notes.push_str(&format!("  set aside or changed: {line}\n"));
    }
    for note in &notes {
        text_notes.push_str(&format!("  {note}\n"));
    }
    let mut warnings = config.warnings.clone();
    warnings.extend(report.lines());
    let mut model_options = ModelOptions {
        kueue: Some(Arc::new(KueueOptions {
            config: kueue,
            flavor_nodes,
            tas,
        })),
        ..ModelOptions::default()
    };
    if placed {
        // A model names its placement: fgd measures fragmentation against the pod
        // shapes of these workloads, as for any scenario (not one whole GPU per pod).
        let mut sharing = crate::sched::ShareOptions::of_requests(
            jobs.iter().flat_map(|j| &j.groups),
            node_resources(&nodes),
            options.seed,
        );
        // Models without a placement keep the cell allocator (whole GPUs, outputs as before).
        sharing.pods_with_resources = false;
        model_options.sharing = Some(Arc::new(sharing));
    }
    let scenario = Scenario {
        name: options.name.clone().unwrap_or_else(|| {
            options
                .trace
                .file_stem()
                .map_or_else(|| "kueue".to_string(), |s| s.to_string_lossy().into_owned())
        }),
        source: trace_file,
        seed: options.seed,
        horizon_ms: options.horizon_ms,
        models: if options.models.is_empty() {
            vec![DEFAULT_MODEL.to_string()]
        } else {
            options.models.clone()
        },
        config,
        checkpoint_interval_ms: None,
        model_options,
        jobs,
        node_events: Vec::new(),
        warnings,
    };
    Ok(KueueReplay {
        scenario,
        notes: text_notes,
        nodes,
    })
}

/// The nodes each flavor selects by its `nodeLabels`, noting flavors with none.
pub(crate) fn flavor_nodes(
    kueue: &KueueConfig,
    nodes: &[KubeNode],
    notes: &mut Vec<String>,
) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for (name, flavor) in &kueue.flavors {
        let selected: Vec<String> = nodes
            .iter()
            .filter(|n| n.matches(&flavor.node_labels))
            .map(|n| n.name.clone())
            .collect();
        if selected.is_empty() {
            notes.push(format!(
                "kueue: ResourceFlavor {name} selects no node with GPUs (nodeLabels {:?}); workloads can never run on it",
                flavor.node_labels
            ));
        }
        out.insert(name.clone(), selected);
    }
    out
}

/// The Topology-Aware Scheduling requests of `workloads` (by job id, `namespace/name`)
/// and, per node, the labels they name as levels. A level no node carries is an error
/// naming the workload and the nodes' label keys.
fn topology_requests(
    workloads: &[super::workloads::KueueWorkload],
    nodes: &[KubeNode],
    file: &str,
) -> Result<TasOptions, String> {
    let mut tas = TasOptions::default();
    for w in workloads {
        let Some(ask) = &w.topology else { continue };
        if !nodes.iter().any(|n| n.labels.contains_key(&ask.level)) {
            let mut keys: Vec<&str> = nodes
                .iter()
                .flat_map(|n| n.labels.keys().map(String::as_str))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let annotation = if ask.required {
                super::workloads::REQUIRED_TOPOLOGY
            } else {
                super::workloads::PREFERRED_TOPOLOGY
            };
            return Err(format!(
                "{file}: Workload {}/{}: annotation {annotation}: no node has the label {:?}, so it is no topology level of this cluster; name one of the nodes' labels: {}",
                w.namespace,
                w.name,
                ask.level,
                keys.join(", ")
            ));
        }
        tas.requests
            .insert(format!("{}/{}", w.namespace, w.name), ask.clone());
    }
    let levels: std::collections::BTreeSet<&String> =
        tas.requests.values().map(|r| &r.level).collect();
    if !levels.is_empty() {
        for node in nodes {
            let labels: BTreeMap<String, String> = node
                .labels
                .iter()
                .filter(|(k, _)| levels.contains(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            tas.node_labels.insert(node.name.clone(), labels);
        }
    }
    Ok(tas)
}
