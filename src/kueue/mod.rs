//! Kubernetes Kueue inputs: the files a Kueue admin already has, read into cellsim's
//! terms. [`objects`] reads Kueue's own objects (ResourceFlavors, ClusterQueues, Cohorts,
//! LocalQueues, WorkloadPriorityClasses, and Kueue's `Configuration` through
//! [`configuration`]) into a [`KueueConfig`]; [`nodes`] reads
//! `kubectl get nodes -o yaml` into a cluster; [`workloads`] reads
//! `kubectl get workloads -A -o yaml` as a trace, [`csv`] a CSV trace with a `queue`
//! column; [`replay`] puts the three together into
//! a scenario for the `kueue` layer (`sched/layers/kueue.rs`), which owns the admission
//! semantics. [`k8s`] holds what the readers share. No scheduling happens here.

pub mod configuration;
pub mod csv;
pub mod k8s;
pub mod nodes;
pub mod objects;
pub mod replay;
pub mod workloads;

pub use configuration::{FairSharing, FairStrategy};
pub use k8s::ObjectError;
pub use nodes::{
    KubeNode, KubeNodes, cluster_of_nodes, nodes_of_config, read_nodes_file, read_nodes_str,
};
pub use objects::{
    ClusterQueue, Cohort, Flavor, FlavorQuota, Fungibility, KueueConfig, Preemption,
    QueueingStrategy, ReclaimWithinCohort, WithinClusterQueue, read_kueue_file, read_kueue_str,
};
pub use replay::{KueueReplay, KueueReplayOptions, prepare};
pub use workloads::{
    KueueWorkload, PodSet, TopologyRequest, read_workloads_str, sim_jobs, sim_jobs_with,
};

/// A whole file as UTF-8 text, with errors that name it.
pub(crate) fn read_text(path: &std::path::Path) -> Result<String, ObjectError> {
    let file = path.display().to_string();
    let whole = |message: String| ObjectError {
        file: file.clone(),
        object: "the file".to_string(),
        field: None,
        message,
    };
    let bytes =
        std::fs::read(path).map_err(|e| whole(format!("cannot read it: {e}; check the path")))?;
    String::from_utf8(bytes).map_err(|e| {
        whole(format!(
            "is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })
}
