//! Kueue Workload objects, as `kubectl get workloads -A -o yaml` prints them, read as a
//! trace: each finished workload is one job (its queue, priority, pod sets with their
//! GPU requests, its creation time, and its run time from admission to finish). What
//! cannot be replayed is counted in the [`IngestReport`] with first examples: unfinished
//! workloads (no run time), workloads without GPUs, workloads of an unknown LocalQueue.
//! Each pod set's CPU and memory (Kubernetes' effective pod request) and GPU product
//! node selector are read too; [`sim_jobs_with`] carries them into the jobs' pods for
//! models that place on the shared cluster.

use std::collections::BTreeMap;

use serde_yaml_ng::Value;

use super::k8s::{self, Object, ObjectError, Skipped};
use super::objects::{GPU_RESOURCE, KueueConfig};
use crate::cell::{GroupMember, GroupRequest, PodResources};
use crate::sim::SimJob;
use crate::workload::IngestReport;

/// Problem kinds this reader notes in the [`IngestReport`].
pub mod issue {
    /// The workload has not finished, so its run time is unknown.
    pub const NOT_FINISHED: &str = "not finished (run time unknown)";
    /// No pod of the workload asks for a GPU.
    pub const NO_GPUS: &str = "no GPU requested";
    /// The workload's LocalQueue is not among the Kueue objects.
    pub const UNKNOWN_QUEUE: &str = "LocalQueue not in the Kueue objects";
    /// Pod sets without GPUs (launchers, CPU-only workers) are left out of the gang.
    pub const CPU_POD_SETS: &str = "pod sets without GPUs left out";
    /// A Topology-Aware Scheduling request the layer does not honour: a
    /// `topologyRequest` field, or an annotation on a pod set without GPUs.
    pub const TOPOLOGY_REQUEST: &str = "topology request not modelled";
}

/// One pod set: `count` pods of `gpus` GPUs, CPU and memory each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSet {
    /// Pods.
    pub count: u32,
    /// GPUs per pod.
    pub gpus: u32,
    /// CPU per pod in milli-CPUs: Kubernetes' effective request (the containers'
    /// requests summed, at least each init container's).
    pub cpu_milli: u64,
    /// Memory per pod in MiB, the effective request as for CPU.
    pub memory_mib: u64,
    /// The GPU model its `nodeSelector` asks for (`nvidia.com/gpu.product`, made a cell
    /// type name as a node's is); empty: any.
    pub gpu_product: String,
}

/// One Workload as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KueueWorkload {
    /// `metadata.namespace`.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `spec.queueName`: a LocalQueue of the namespace.
    pub queue: String,
    /// `status.admission.clusterQueue`, when it was admitted.
    pub admitted_to: Option<String>,
    /// `spec.priority`, or the value of `spec.priorityClassName` (0 when neither).
    pub priority: i32,
    /// `spec.priorityClassName`, if any.
    pub priority_class: Option<String>,
    /// `metadata.creationTimestamp`, ms since the epoch.
    pub created_ms: i64,
    /// Pod sets in order (GPU-less ones included, with `gpus` 0).
    pub pod_sets: Vec<PodSet>,
    /// Admission (`Admitted`, else `QuotaReserved`) to `Finished`, when both happened.
    pub run_ms: Option<u64>,
    /// Pod sets with a topology request (annotation or `topologyRequest`).
    pub topology_requests: u32,
    /// The Topology-Aware Scheduling request of its first GPU pod set that has one.
    pub topology: Option<TopologyRequest>,
}

/// A pod set's Topology-Aware Scheduling annotation: all its pods in one domain of a
/// topology level (a node label key such as a rack label or `kubernetes.io/hostname`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopologyRequest {
    /// The node label key of the level.
    pub level: String,
    /// `podset-required-topology` (wait for one domain) rather than
    /// `podset-preferred-topology` (one domain if possible, else anywhere).
    pub required: bool,
}

/// The annotation of a required topology level.
pub const REQUIRED_TOPOLOGY: &str = "kueue.x-k8s.io/podset-required-topology";
/// The annotation of a preferred topology level.
pub const PREFERRED_TOPOLOGY: &str = "kueue.x-k8s.io/podset-preferred-topology";

/// Reads the workloads of `text` (`file` names it in messages). `priority_classes` gives
/// the value of a `priorityClassName` when `spec.priority` is absent. Other kinds are
/// counted in `skipped`.
pub fn read_workloads_str(
    text: &str,
    file: &str,
    priority_classes: &BTreeMap<String, i32>,
    skipped: &mut Skipped,
) -> Result<Vec<KueueWorkload>, ObjectError> {
    let mut out = Vec::new();
    for object in k8s::objects(text, file)? {
        if object.kind != "Workload" || !object.api_version.starts_with("kueue.x-k8s.io/") {
            skipped.add(&object.kind);
            continue;
        }
        out.push(read_workload(&object, priority_classes)?);
    }
    Ok(out)
}

fn read_workload(
    object: &Object,
    classes: &BTreeMap<String, i32>,
) -> Result<KueueWorkload, ObjectError> {
    let created_ms = object
        .get("metadata.creationTimestamp")
        .ok_or_else(|| {
            object.error(
                "metadata.creationTimestamp",
                "a workload needs its creation time",
            )
        })
        .and_then(|v| {
            k8s::timestamp_ms(v).map_err(|e| object.error("metadata.creationTimestamp", e))
        })?;
    let queue = object.str_at("spec.queueName")?.unwrap_or_default();
    let priority_class = object.str_at("spec.priorityClassName")?;
    let priority = match object.get("spec.priority") {
        Some(v) => v
            .as_i64()
            .and_then(|p| i32::try_from(p).ok())
            .ok_or_else(|| {
                object.error(
                    "spec.priority",
                    format!("expected a whole number, found {}", k8s::describe(v)),
                )
            })?,
        None => priority_class
            .as_ref()
            .and_then(|c| classes.get(c))
            .copied()
            .unwrap_or(0),
    };
    let mut pod_sets = Vec::new();
    let mut topology_requests = 0;
    let mut topology = None;
    for (i, set) in k8s::list_at(object, object.get("spec.podSets"), "spec.podSets")?
        .iter()
        .enumerate()
    {
        let path = format!("spec.podSets[{i}]");
        let count = match k8s::get_path(set, "count") {
            None => 1,
            Some(v) => v
                .as_u64()
                .and_then(|c| u32::try_from(c).ok())
                .ok_or_else(|| {
                    object.error(
                        &format!("{path}.count"),
                        format!("expected a whole number, found {}", k8s::describe(v)),
                    )
                })?,
        };
        let gpus = pod_gpus(object, set, &path)?;
        let annotations =
            k8s::get_path(set, "template.metadata.annotations").and_then(Value::as_mapping);
        let mut annotated = false;
        for (key, required) in [(REQUIRED_TOPOLOGY, true), (PREFERRED_TOPOLOGY, false)] {
            let Some(value) = annotations.and_then(|m| m.get(key)) else {
                continue;
            };
            annotated = true;
            let field = format!("{path}.template.metadata.annotations[\"{key}\"]");
            let level = k8s::text(value)
                .filter(|l| !l.trim().is_empty())
                .ok_or_else(|| {
                    object.error(
                        &field,
                        "name a node label that is a topology level (e.g. kubernetes.io/hostname or a rack label)",
                    )
                })?;
            // The first GPU pod set's request is the workload's: its pods are the gang.
            if topology.is_none() && gpus > 0 {
                topology = Some(TopologyRequest {
                    level: level.trim().to_string(),
                    required,
                });
            }
        }
        if annotated || k8s::get_path(set, "topologyRequest").is_some() {
            topology_requests += 1;
        }
        let (cpu_milli, memory_mib) = pod_requests(object, set, &path)?;
        let selector_path = format!("{path}.template.spec.nodeSelector");
        let gpu_product = match k8s::mapping_at(
            object,
            k8s::get_path(set, "template.spec.nodeSelector"),
            &selector_path,
        )?
        .and_then(|m| m.get(super::nodes::PRODUCT_LABEL))
        {
            None => String::new(),
            Some(v) => k8s::text(v)
                .map(|p| super::nodes::sku_of_product(p.trim()))
                .ok_or_else(|| {
                    object.error(
                        &format!("{selector_path}[\"{}\"]", super::nodes::PRODUCT_LABEL),
                        format!("expected a GPU product name, found {}", k8s::describe(v)),
                    )
                })?,
        };
        pod_sets.push(PodSet {
            count,
            gpus,
            cpu_milli,
            memory_mib,
            gpu_product,
        });
    }
    let condition_time = |kind: &str| -> Result<Option<i64>, ObjectError> {
        let conditions =
            k8s::list_at(object, object.get("status.conditions"), "status.conditions")?;
        for (i, c) in conditions.iter().enumerate() {
            let is_it = k8s::get_path(c, "type").and_then(k8s::text).as_deref() == Some(kind)
                && k8s::get_path(c, "status").and_then(k8s::text).as_deref() == Some("True");
            if is_it {
                let path = format!("status.conditions[{i}].lastTransitionTime");
                let at = k8s::get_path(c, "lastTransitionTime")
                    .ok_or_else(|| object.error(&path, "a condition needs lastTransitionTime"))?;
                return k8s::timestamp_ms(at)
                    .map(Some)
                    .map_err(|e| object.error(&path, e));
            }
        }
        Ok(None)
    };
    let admitted = match condition_time("Admitted")? {
        Some(t) => Some(t),
        None => condition_time("QuotaReserved")?,
    };
    let finished = condition_time("Finished")?;
    let run_ms = match (admitted, finished) {
        (Some(start), Some(end)) => {
            if end < start {
                return Err(object.error(
                    "status.conditions",
                    "the Finished condition is older than the admission; check the timestamps",
                ));
            }
            Some((end - start) as u64)
        }
        _ => None,
    };
    Ok(KueueWorkload {
        namespace: object.namespace.clone(),
        name: object.name.clone(),
        queue,
        admitted_to: object.str_at("status.admission.clusterQueue")?,
        priority,
        priority_class,
        created_ms,
        pod_sets,
        run_ms,
        topology_requests,
        topology,
    })
}

/// GPUs one pod of a pod set asks for: the sum over its containers of the
/// `nvidia.com/gpu` request (the limit where no request is written, as Kubernetes
/// defaults it).
fn pod_gpus(object: &Object, set: &Value, path: &str) -> Result<u32, ObjectError> {
    let containers_path = format!("{path}.template.spec.containers");
    let containers = k8s::list_at(
        object,
        k8s::get_path(set, "template.spec.containers"),
        &containers_path,
    )?;
    let mut total: u64 = 0;
    for (c, container) in containers.iter().enumerate() {
        for part in ["requests", "limits"] {
            let key = format!("resources.{part}");
            if let Some(v) = k8s::get_path(container, &key)
                .and_then(Value::as_mapping)
                .and_then(|m| m.get(GPU_RESOURCE))
            {
                let field = format!("{containers_path}[{c}].{key}[\"{GPU_RESOURCE}\"]");
                total += k8s::whole_quantity(v).map_err(|e| object.error(&field, e))?;
                break;
            }
        }
    }
    u32::try_from(total).map_err(|_| {
        object.error(
            &containers_path,
            format!("{total} GPUs per pod is too many"),
        )
    })
}

/// CPU (milli) and memory (MiB) one pod of a pod set asks for, as Kubernetes counts a
/// pod's effective request: the containers' requests summed, raised to any single init
/// container's request (init containers run one at a time, before the others). A
/// container without a request but with a limit asks for its limit, as Kubernetes
/// defaults it.
fn pod_requests(object: &Object, set: &Value, path: &str) -> Result<(u64, u64), ObjectError> {
    let mut total = (0u64, 0u64);
    for (key, is_init) in [("containers", false), ("initContainers", true)] {
        let list_path = format!("{path}.template.spec.{key}");
        let list = k8s::list_at(
            object,
            k8s::get_path(set, &format!("template.spec.{key}")),
            &list_path,
        )?;
        for (c, container) in list.iter().enumerate() {
            let mut asked = [0u64; 2];
            for (slot, resource) in ["cpu", "memory"].into_iter().enumerate() {
                for part in ["requests", "limits"] {
                    let Some(v) = k8s::get_path(container, &format!("resources.{part}"))
                        .and_then(Value::as_mapping)
                        .and_then(|m| m.get(resource))
                    else {
                        continue;
                    };
                    let field = format!("{list_path}[{c}].resources.{part}.{resource}");
                    asked[slot] = if resource == "cpu" {
                        k8s::cpu_milli(v)
                    } else {
                        k8s::memory_mib(v)
                    }
                    .map_err(|e| object.error(&field, e))?;
                    break;
                }
            }
            if is_init {
                total = (total.0.max(asked[0]), total.1.max(asked[1]));
            } else {
                total = (total.0 + asked[0], total.1 + asked[1]);
            }
        }
    }
    Ok(total)
}

/// The workloads as scenario jobs, ordered by creation time (then namespace and name),
/// with times from the first creation: a job per finished workload that asks for GPUs
/// and whose LocalQueue maps to a ClusterQueue (the job's VC). The rest is noted in
/// `report`.
pub fn sim_jobs(
    workloads: Vec<KueueWorkload>,
    kueue: &KueueConfig,
    report: &mut IngestReport,
) -> Vec<SimJob> {
    sim_jobs_with(workloads, kueue, report, false)
}

/// [`sim_jobs`], whose pods also carry their pod set's CPU, memory and GPU product
/// ([`PodResources`]) when `with_resources`: for models that place on the shared
/// cluster (a model naming a placement), which fits them beside the GPUs. Without it
/// the pods are whole GPUs only, as the HiveD allocator places them.
pub fn sim_jobs_with(
    mut workloads: Vec<KueueWorkload>,
    kueue: &KueueConfig,
    report: &mut IngestReport,
    with_resources: bool,
) -> Vec<SimJob> {
    workloads.sort_by(|a, b| {
        (a.created_ms, &a.namespace, &a.name).cmp(&(b.created_ms, &b.namespace, &b.name))
    });
    let origin = workloads.first().map_or(0, |w| w.created_ms);
    let mut jobs = Vec::with_capacity(workloads.len());
    for w in workloads {
        report.jobs_read += 1;
        let id = format!("{}/{}", w.namespace, w.name);
        let Some(run_ms) = w.run_ms else {
            report.note(issue::NOT_FINISHED, || id.clone());
            continue;
        };
        let Some(cq) = kueue.cluster_queue_of(&w.namespace, &w.queue) else {
            report.note(issue::UNKNOWN_QUEUE, || {
                format!("{id} (queue {:?})", w.queue)
            });
            continue;
        };
        let members: Vec<GroupMember> = w
            .pod_sets
            .iter()
            .filter(|s| s.gpus > 0 && s.count > 0)
            .map(|s| GroupMember {
                resources: with_resources.then(|| PodResources {
                    gpu_milli: None,
                    cpu_milli: s.cpu_milli,
                    memory_mib: s.memory_mib,
                    gpu_spec: s.gpu_product.clone(),
                }),
                ..GroupMember::whole(s.count, s.gpus)
            })
            .collect();
        if members.is_empty() {
            report.note(issue::NO_GPUS, || id.clone());
            continue;
        }
        if members.len() < w.pod_sets.len() {
            report.note(issue::CPU_POD_SETS, || id.clone());
        }
        // The first GPU pod set's annotation is honoured by the layer; other requests
        // are said.
        if w.topology_requests > u32::from(w.topology.is_some()) {
            report.note(issue::TOPOLOGY_REQUEST, || id.clone());
        }
        let request = GroupRequest {
            name: id.clone(),
            virtual_cluster: cq.to_string(),
            priority: w.priority,
            leaf_cell_type: None,
            pinned_cell_id: None,
            lazy_preemption_enable: false,
            ignore_k8s_suggested_nodes: true,
            members,
        };
        jobs.push(SimJob {
            priority_label: w
                .priority_class
                .clone()
                .unwrap_or_else(|| w.priority.to_string()),
            vc: cq.to_string(),
            priority: w.priority,
            user: Some(w.namespace.clone()),
            submit_ms: (w.created_ms - origin) as u64,
            duration_ms: run_ms,
            kill_at_ms: None,
            groups: vec![request],
            id,
        });
    }
    jobs
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKLOAD: &str = r#"
apiVersion: kueue.x-k8s.io/v1beta1
kind: Workload
metadata:
  name: job-train-1
  namespace: team-a
  creationTimestamp: "2026-11-02T08:00:00Z"
spec:
  queueName: q
  priority: 50
  podSets:
  - name: launcher
    count: 1
    template: {spec: {containers: [{name: l, resources: {requests: {cpu: "1"}}}]}}
  - name: worker
    count: 2
    template:
      spec:
        containers:
        - name: w
          resources:
            limits: {nvidia.com/gpu: "4"}
status:
  admission: {clusterQueue: team-a-cq}
  conditions:
  - {type: QuotaReserved, status: "True", lastTransitionTime: "2026-11-02T08:01:00Z"}
  - {type: Admitted, status: "True", lastTransitionTime: "2026-11-02T08:01:00Z"}
  - {type: Finished, status: "True", lastTransitionTime: "2026-11-02T09:01:00Z", reason: Succeeded}
"#;

    #[test]
    fn a_finished_workload_has_its_pod_sets_and_run_time() {
        let mut skipped = Skipped::default();
        let w = read_workloads_str(WORKLOAD, "w.yaml", &BTreeMap::new(), &mut skipped).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].pod_sets,
            [
                PodSet {
                    count: 1,
                    gpus: 0,
                    cpu_milli: 1000,
                    ..PodSet::default()
                },
                PodSet {
                    count: 2,
                    gpus: 4,
                    ..PodSet::default()
                }
            ]
        );
        assert_eq!(w[0].run_ms, Some(3_600_000));
        assert_eq!(w[0].priority, 50);
        assert_eq!(w[0].admitted_to.as_deref(), Some("team-a-cq"));
    }

    const RESOURCES: &str = r#"
    template:
      spec:
        nodeSelector: {nvidia.com/gpu.product: "NVIDIA A100"}
        initContainers:
        - {name: fetch, resources: {requests: {cpu: "6", memory: 1Gi}}}
        - {name: warm, resources: {limits: {cpu: 500m, memory: 40Gi}}}
        containers:
        - name: w
          resources:
            requests: {cpu: "2", memory: 16Gi, nvidia.com/gpu: "4"}
        - name: sidecar
          resources:
            requests: {cpu: 250m, memory: "268435456"}
"#;

    fn with_resources() -> String {
        let worker = WORKLOAD
            .find("    template:\n      spec:\n        containers:")
            .unwrap();
        let status = WORKLOAD.find("status:").unwrap();
        format!(
            "{}{}{}",
            &WORKLOAD[..worker],
            &RESOURCES[1..],
            &WORKLOAD[status..]
        )
    }

    #[test]
    fn pod_requests_are_the_containers_sum_at_least_each_init_container() {
        let w = read_workloads_str(
            &with_resources(),
            "w.yaml",
            &BTreeMap::new(),
            &mut Skipped::default(),
        )
        .unwrap();
        // CPU: 2 + 0.25 = 2.25 cores, raised to the first init container's 6.
        // Memory: 16 GiB + 256 MiB, raised to the second init container's limit, 40 GiB.
        assert_eq!(
            w[0].pod_sets[1],
            PodSet {
                count: 2,
                gpus: 4,
                cpu_milli: 6000,
                memory_mib: 40 * 1024,
                gpu_product: "NVIDIA-A100".into(),
            }
        );
    }

    #[test]
    fn only_jobs_for_shared_placement_carry_pod_resources() {
        let text = format!(
            "{}---\n{}",
            with_resources(),
            "apiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue\nmetadata: {name: team-a-cq}\nspec: {}\n---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: LocalQueue\nmetadata: {name: q, namespace: team-a}\nspec: {clusterQueue: team-a-cq}\n"
        );
        let kueue = crate::kueue::read_kueue_str(&text, "k.yaml").unwrap();
        let workloads =
            read_workloads_str(&text, "w.yaml", &BTreeMap::new(), &mut Skipped::default()).unwrap();
        let mut report = IngestReport::default();
        let whole = sim_jobs(workloads.clone(), &kueue, &mut report);
        assert_eq!(whole[0].groups[0].members, [GroupMember::whole(2, 4)]);
        let shared = sim_jobs_with(workloads, &kueue, &mut report, true);
        let resources = shared[0].groups[0].members[0].resources.clone().unwrap();
        assert_eq!(
            (
                resources.cpu_milli,
                resources.memory_mib,
                resources.gpu_spec.as_str()
            ),
            (6000, 40 * 1024, "NVIDIA-A100")
        );
    }

    #[test]
    fn a_bad_cpu_request_names_the_container_field() {
        let text = with_resources().replace("cpu: \"2\"", "cpu: two");
        let err = read_workloads_str(&text, "w.yaml", &BTreeMap::new(), &mut Skipped::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("w.yaml: Workload team-a/job-train-1: field spec.podSets[1].template.spec.containers[0].resources.requests.cpu: "),
            "{err}"
        );
    }

    #[test]
    fn a_bad_priority_names_the_workload() {
        let text = WORKLOAD.replace("priority: 50", "priority: high");
        let err = read_workloads_str(&text, "w.yaml", &BTreeMap::new(), &mut Skipped::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("w.yaml: Workload team-a/job-train-1: field spec.priority"),
            "{err}"
        );
    }

    #[test]
    fn priority_classes_give_the_priority_when_spec_has_none() {
        let text = WORKLOAD.replace("priority: 50", "priorityClassName: high");
        let classes = BTreeMap::from([("high".to_string(), 900)]);
        let w = read_workloads_str(&text, "w.yaml", &classes, &mut Skipped::default()).unwrap();
        assert_eq!(w[0].priority, 900);
    }
}
