//! Turns trace jobs ([`TraceJob`]: GPUs, VC, GPU type) into scenario jobs ([`SimJob`]) for
//! a given cluster: how many pods of how many GPUs each, and which jobs the cluster can
//! never hold. Jobs set aside are counted in the [`IngestReport`] with first examples,
//! never dropped silently.
//!
//! Pod shape: a trace says only "N GPUs". A job becomes one gang group of `N / p` pods of
//! `p` GPUs, where `p` is the largest divisor of `N` that fits on one node of the job's
//! GPU type (the biggest such node). So 8 GPUs on 8-GPU nodes is one pod, 16 GPUs two
//! pods of 8, 6 GPUs on 2-GPU nodes three pods of 2, and 5 GPUs on 8-GPU nodes one pod of
//! 5 (5 is prime; one pod fits). A job is "larger than the cluster" when it needs more
//! GPUs of its type than the cluster has.

use std::collections::BTreeMap;

use crate::cell::topology::Topology;
use crate::cell::{GroupMember, GroupRequest, OPPORTUNISTIC_PRIORITY};
use crate::config::CellConfig;
use crate::workload::openpai::PRIORITY_CLASSES;
use crate::workload::{IngestReport, TraceJob};

use super::scenario::SimJob;

/// Problem kinds this module notes in the [`IngestReport`].
pub mod issue {
    /// The job asks for more GPUs (of its type) than the cluster has.
    pub const LARGER_THAN_CLUSTER: &str = "larger than the cluster";
    /// The job's GPU type is not in the cluster.
    pub const UNKNOWN_GPU_TYPE: &str = "GPU type not in the cluster";
    /// The job's VC is not in the cluster config.
    pub const UNKNOWN_VC: &str = "VC not in the cluster config";
    /// The job's VC has no guaranteed cells, so the job runs opportunistically.
    pub const NO_GUARANTEE: &str = "VC without guaranteed cells (run opportunistically)";
}

/// What the cluster offers per GPU type, for shaping trace jobs.
#[derive(Debug, Clone)]
pub struct ClusterShape {
    /// Per leaf type: (GPUs on the biggest node, GPUs in all).
    by_type: BTreeMap<String, (u32, u64)>,
    /// VCs the config defines.
    vcs: Vec<String>,
    /// Those of them with no cells at all (a share of a trace's GPU-time too small for
    /// one cell): their jobs can only run opportunistically.
    without_cells: Vec<String>,
}

impl ClusterShape {
    /// Reads the shape of `config`.
    pub fn of(config: &CellConfig) -> ClusterShape {
        let topology = Topology::build(config);
        let mut by_type: BTreeMap<String, (u32, u64)> = BTreeMap::new();
        for node in &topology.nodes {
            for &cell in &node.cells {
                let shape = topology.cell(cell);
                let leaf_type = topology.chains[shape.chain as usize].leaf_type.clone();
                let gpus = shape.leaf_count();
                let entry = by_type.entry(leaf_type).or_default();
                entry.0 = entry.0.max(gpus);
                entry.1 += u64::from(gpus);
            }
        }
        ClusterShape {
            by_type,
            vcs: config.virtual_clusters.keys().cloned().collect(),
            without_cells: config
                .virtual_clusters
                .iter()
                .filter(|(_, spec)| spec.virtual_cells.is_empty() && spec.pinned_cells.is_empty())
                .map(|(name, _)| name.clone())
                .collect(),
        }
    }

    /// The largest node and the total GPUs for a job's GPU type (any type when `None`:
    /// the biggest node of any type and all GPUs).
    fn capacity(&self, gpu_type: Option<&str>) -> Option<(u32, u64)> {
        match gpu_type {
            Some(t) => self.by_type.get(t).copied(),
            None => self
                .by_type
                .values()
                .copied()
                .reduce(|a, b| (a.0.max(b.0), a.1 + b.1)),
        }
    }

    /// The first of a job's acceptable GPU types (`A|B` lists alternatives, as openb's
    /// `gpu_spec` does) that the cluster has.
    fn pick_type<'a>(&self, wanted: &'a str) -> Option<&'a str> {
        wanted
            .split('|')
            .map(str::trim)
            .find(|t| self.by_type.contains_key(*t))
    }
}

/// Converts trace jobs into scenario jobs for the cluster `shape`; jobs it cannot place
/// are noted in `report` and left out.
pub fn sim_jobs(
    jobs: impl IntoIterator<Item = TraceJob>,
    shape: &ClusterShape,
    report: &mut IngestReport,
) -> Vec<SimJob> {
    jobs.into_iter()
        .filter_map(|job| sim_job(job, shape, report))
        .collect()
}

/// One trace job as a scenario job, or `None` (noted in `report`) when the cluster can
/// never hold it.
pub fn sim_job(job: TraceJob, shape: &ClusterShape, report: &mut IngestReport) -> Option<SimJob> {
    if !shape.vcs.iter().any(|vc| vc == &job.vc) {
        report.note(issue::UNKNOWN_VC, || {
            format!(
                "{} (VC {:?}; the cluster has {})",
                job.id,
                job.vc,
                shape.vcs.join(", ")
            )
        });
        return None;
    }
    let gpu_type = match job.gpu_type.as_deref() {
        None | Some("") => None,
        Some(wanted) => match shape.pick_type(wanted) {
            Some(t) => Some(t.to_string()),
            None => {
                report.note(issue::UNKNOWN_GPU_TYPE, || {
                    format!("{} (wants {wanted:?})", job.id)
                });
                return None;
            }
        },
    };
    let (biggest_node, total) = shape.capacity(gpu_type.as_deref())?;
    if u64::from(job.gpus) > total || biggest_node == 0 {
        report.note(issue::LARGER_THAN_CLUSTER, || {
            format!(
                "{} ({} GPUs{}, the cluster has {total})",
                job.id,
                job.gpus,
                gpu_type
                    .as_deref()
                    .map(|t| format!(" of {t}"))
                    .unwrap_or_default()
            )
        });
        return None;
    }
    // A pod with resources (openb --fractional share) is one pod: its CPU and memory
    // are the pod's, and it must fit one node whole.
    let pod_gpus = if job.resources.is_some() && job.gpus == 0 {
        // A CPU-only pod (openb --fractional share): one pod of no GPU.
        0
    } else if job.resources.is_some() {
        if job.gpus > biggest_node {
            report.note(issue::LARGER_THAN_CLUSTER, || {
                format!(
                    "{} (one pod of {} GPUs, the biggest node has {biggest_node})",
                    job.id, job.gpus
                )
            });
            return None;
        }
        job.gpus
    } else {
        pod_size(job.gpus, biggest_node)
    };
    let mut priority = job.priority;
    if priority >= 0 && shape.without_cells.contains(&job.vc) {
        report.note(issue::NO_GUARANTEE, || {
            format!("{} (VC {:?})", job.id, job.vc)
        });
        priority = OPPORTUNISTIC_PRIORITY;
    }
    let request = GroupRequest {
        name: job.id.clone(),
        virtual_cluster: job.vc.clone(),
        priority,
        leaf_cell_type: gpu_type,
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        // A simulation has no kube-scheduler to suggest nodes.
        ignore_k8s_suggested_nodes: true,
        members: vec![GroupMember {
            pod_number: job.gpus.checked_div(pod_gpus).unwrap_or(1),
            leaf_cell_number: pod_gpus,
            resources: job.resources,
        }],
    };
    Some(SimJob {
        priority_label: priority_label(priority),
        id: job.id,
        vc: job.vc,
        priority,
        user: None,
        submit_ms: job.submit_ms,
        duration_ms: job.duration_ms,
        kill_at_ms: None,
        groups: vec![request],
    })
}

/// The largest divisor of `gpus` no bigger than `node_gpus` (at least 1).
pub fn pod_size(gpus: u32, node_gpus: u32) -> u32 {
    (1..=gpus.min(node_gpus).max(1))
        .rev()
        .find(|p| gpus.is_multiple_of(*p))
        .unwrap_or(1)
}

/// OpenPAI's class name for a priority, or the number.
fn priority_label(priority: i32) -> String {
    PRIORITY_CLASSES
        .iter()
        .find(|(_, p)| *p == priority)
        .map_or_else(|| priority.to_string(), |(c, _)| (*c).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(id: &str, gpus: u32, vc: &str, gpu_type: Option<&str>) -> TraceJob {
        TraceJob {
            id: id.into(),
            submit_ms: 0,
            duration_ms: 1000,
            gpus,
            vc: vc.into(),
            priority: 10,
            gpu_type: gpu_type.map(String::from),
            resources: None,
        }
    }

    const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    K80-NODE: {childCellType: K80, childCellNumber: 2, isNodeLevel: true}
    K80-RACK: {childCellType: K80-NODE, childCellNumber: 2}
    V100-NODE: {childCellType: V100, childCellNumber: 8, isNodeLevel: true}
  physicalCells:
  - cellType: K80-RACK
    cellChildren: [{cellAddress: k0}, {cellAddress: k1}]
  - cellType: V100-NODE
    cellAddress: v0
virtualClusters:
  a: {virtualCells: [{cellType: K80-RACK, cellNumber: 1}]}
  b: {virtualCells: [{cellType: V100-NODE, cellNumber: 1}]}
";

    #[test]
    fn pods_are_the_largest_divisor_that_fits_a_node() {
        assert_eq!(pod_size(16, 8), 8);
        assert_eq!(pod_size(6, 2), 2);
        assert_eq!(pod_size(5, 8), 5);
        assert_eq!(pod_size(7, 2), 1);
        assert_eq!(pod_size(1, 8), 1);
    }

    #[test]
    fn jobs_get_their_type_pods_and_the_rest_are_counted() {
        let config = crate::config::load_str(CLUSTER, "c.yaml").unwrap();
        let shape = ClusterShape::of(&config);
        let mut report = IngestReport::default();
        let jobs = sim_jobs(
            vec![
                job("k", 4, "a", Some("K80")),
                job("v", 8, "b", Some("P100|V100")),
                job("any", 12, "b", None),
                job("huge", 9, "b", Some("V100")),
                job("nope", 1, "b", Some("T4")),
                job("who", 1, "zz", None),
            ],
            &shape,
            &mut report,
        );
        let shapes: Vec<(&str, Option<&str>, u32, u32)> = jobs
            .iter()
            .map(|j| {
                let g = &j.groups[0];
                (
                    j.id.as_str(),
                    g.leaf_cell_type.as_deref(),
                    g.members[0].pod_number,
                    g.members[0].leaf_cell_number,
                )
            })
            .collect();
        assert_eq!(
            shapes,
            [
                ("k", Some("K80"), 2, 2),
                ("v", Some("V100"), 1, 8),
                ("any", None, 2, 6)
            ]
        );
        assert_eq!(jobs[0].priority_label, "test");
        assert_eq!(report.count(issue::LARGER_THAN_CLUSTER), 1);
        assert_eq!(report.count(issue::UNKNOWN_GPU_TYPE), 1);
        assert_eq!(report.count(issue::UNKNOWN_VC), 1);
        assert!(
            report
                .lines()
                .iter()
                .any(|l| l.contains("huge (9 GPUs of V100, the cluster has 8)"))
        );
    }
}
