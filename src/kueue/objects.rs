//! Kueue's own objects, as `kubectl get resourceflavors,clusterqueues,cohorts,localqueues,
//! workloadpriorityclasses -A -o yaml` prints them (API `kueue.x-k8s.io/v1beta1` or
//! `v1beta2`, and `v1alpha1` Cohorts), read into a [`KueueConfig`]: the quotas of
//! `nvidia.com/gpu` per flavor, cohorts, queueing and preemption settings. Other resources
//! (cpu, memory, ...) are read past with a one-line note; other kinds are counted and
//! skipped. What the settings mean is the `kueue` layer's business
//! (`sched/layers/kueue.rs`).

use std::collections::BTreeMap;

use super::configuration::{self as kueue_configuration, FairSharing};
use super::k8s::{self, Object, ObjectError, Skipped};

/// The resource name the quotas are read for.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// A ResourceFlavor: the nodes it stands for, by label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flavor {
    /// `metadata.name`.
    pub name: String,
    /// `spec.nodeLabels`: a node is of this flavor when it has every one of them.
    pub node_labels: BTreeMap<String, String>,
}

/// The GPU quota of one flavor in a ClusterQueue or Cohort.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlavorQuota {
    /// The ResourceFlavor's name.
    pub flavor: String,
    /// `nominalQuota` of `nvidia.com/gpu`.
    pub nominal: u64,
    /// `borrowingLimit`: most GPUs above `nominal` it may borrow; `None` = no limit.
    pub borrowing_limit: Option<u64>,
    /// `lendingLimit`: most of its `nominal` others may borrow; `None` = all of it.
    pub lending_limit: Option<u64>,
}

/// `spec.queueingStrategy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueingStrategy {
    /// The head blocks the queue until it is admitted.
    StrictFifo,
    /// A head that cannot be admitted lets later workloads that fit go (Kueue's default).
    #[default]
    BestEffortFifo,
}

/// `spec.preemption.withinClusterQueue`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WithinClusterQueue {
    /// No preemption inside the ClusterQueue (Kueue's default).
    #[default]
    Never,
    /// Workloads of lower priority.
    LowerPriority,
    /// Lower priority, or equal priority and created later.
    LowerOrNewerEqualPriority,
}

/// `spec.preemption.reclaimWithinCohort`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReclaimWithinCohort {
    /// Never take back lent quota by preemption (Kueue's default).
    #[default]
    Never,
    /// Preempt borrowing workloads of other ClusterQueues with lower priority.
    LowerPriority,
    /// Preempt any borrowing workload of other ClusterQueues.
    Any,
}

/// `spec.preemption` of a ClusterQueue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Preemption {
    /// `withinClusterQueue`.
    pub within_cluster_queue: WithinClusterQueue,
    /// `reclaimWithinCohort`.
    pub reclaim_within_cohort: ReclaimWithinCohort,
    /// `borrowWithinCohort`: when set (`policy: LowerPriority`), a workload that must
    /// borrow may preempt in the cohort workloads of lower priority, up to this
    /// `maxPriorityThreshold` (inclusive; `None` = any lower priority).
    pub borrow_within_cohort: Option<Option<i32>>,
}

/// `spec.flavorFungibility`: whether the flavor search stops at the first flavor where
/// the workload fits by borrowing / by preempting, or tries the next flavor first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fungibility {
    /// `whenCanBorrow: Borrow` (v1beta2 `MayStopSearch`, the default): true.
    pub stop_when_can_borrow: bool,
    /// `whenCanPreempt: Preempt` (v1beta2 `MayStopSearch`): true; `TryNextFlavor` (the
    /// default): false.
    pub stop_when_can_preempt: bool,
}

impl Default for Fungibility {
    fn default() -> Self {
        Fungibility {
            stop_when_can_borrow: true,
            stop_when_can_preempt: false,
        }
    }
}

/// A ClusterQueue: a VC in cellsim's reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterQueue {
    /// `metadata.name`.
    pub name: String,
    /// `spec.cohort` (v1beta1) or `spec.cohortName` (v1beta2).
    pub cohort: Option<String>,
    /// GPU quotas in the order of the flavors of the resource group covering
    /// `nvidia.com/gpu` (the order Kueue tries them in).
    pub flavors: Vec<FlavorQuota>,
    /// `spec.queueingStrategy`.
    pub queueing: QueueingStrategy,
    /// `spec.preemption`.
    pub preemption: Preemption,
    /// `spec.flavorFungibility`.
    pub fungibility: Fungibility,
    /// `spec.fairSharing.weight` (default 1): its weight when fair sharing is on.
    pub fair_weight: f64,
}

/// A Cohort object: a node of the cohort tree, with its own quota.
#[derive(Debug, Clone, PartialEq)]
pub struct Cohort {
    /// `metadata.name`.
    pub name: String,
    /// `spec.parentName` (v1beta2) or `spec.parent` (v1alpha1).
    pub parent: Option<String>,
    /// Its own GPU quotas (lent to its members), per flavor.
    pub flavors: Vec<FlavorQuota>,
    /// `spec.fairSharing.weight` (default 1): its weight among its parent's children
    /// when fair sharing is on.
    pub fair_weight: f64,
}

/// Every Kueue object that matters for GPU admission.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KueueConfig {
    /// ResourceFlavors by name.
    pub flavors: BTreeMap<String, Flavor>,
    /// ClusterQueues by name.
    pub cluster_queues: BTreeMap<String, ClusterQueue>,
    /// Cohort objects by name (cohorts only named by a ClusterQueue have none).
    pub cohorts: BTreeMap<String, Cohort>,
    /// LocalQueues: (namespace, name) -> ClusterQueue.
    pub local_queues: BTreeMap<(String, String), String>,
    /// WorkloadPriorityClasses: name -> value.
    pub priority_classes: BTreeMap<String, i32>,
    /// Fair sharing, when a Kueue `Configuration` document turns it on.
    pub fair_sharing: Option<FairSharing>,
    /// What was read past: skipped kinds, ignored resources.
    pub notes: Vec<String>,
}

impl KueueConfig {
    /// The ClusterQueue a workload of `namespace` submitted to LocalQueue `queue` goes to.
    pub fn cluster_queue_of(&self, namespace: &str, queue: &str) -> Option<&str> {
        self.local_queues
            .get(&(namespace.to_string(), queue.to_string()))
            .map(String::as_str)
    }

    /// The GPU quota of `flavor` in ClusterQueue `cq`, if it has one.
    pub fn quota(&self, cq: &str, flavor: &str) -> Option<&FlavorQuota> {
        self.cluster_queues
            .get(cq)?
            .flavors
            .iter()
            .find(|f| f.flavor == flavor)
    }

    /// Nominal GPUs of every flavor of `cq` together (its share in reports).
    pub fn nominal_gpus(&self, cq: &str) -> u64 {
        self.cluster_queues
            .get(cq)
            .map_or(0, |q| q.flavors.iter().map(|f| f.nominal).sum())
    }
}

/// Reads the Kueue objects of `text` (`file` names it in messages).
pub fn read_kueue_str(text: &str, file: &str) -> Result<KueueConfig, ObjectError> {
    let mut config = KueueConfig::default();
    let mut skipped = Skipped::default();
    let mut ignored_resources: BTreeMap<String, u64> = BTreeMap::new();
    let mut configurations = 0;
    for object in k8s::objects(text, file)? {
        if kueue_configuration::is_configuration(&object) {
            configurations += 1;
            if configurations > 1 {
                return Err(object.error(
                    "kind",
                    "a second Kueue Configuration; keep the one Kueue's controller runs with",
                ));
            }
            let (fair, note) = kueue_configuration::read_configuration(&object)?;
            config.fair_sharing = fair;
            config.notes.extend(note);
            continue;
        }
        let kueue_api = object.api_version.starts_with("kueue.x-k8s.io/");
        match (kueue_api, object.kind.as_str()) {
            (true, "ResourceFlavor") => {
                let flavor = read_flavor(&object)?;
                config.flavors.insert(flavor.name.clone(), flavor);
            }
            (true, "ClusterQueue") => {
                let cq = read_cluster_queue(&object, &mut ignored_resources)?;
                config.cluster_queues.insert(cq.name.clone(), cq);
            }
            (true, "Cohort") => {
                let cohort = read_cohort(&object, &mut ignored_resources)?;
                config.cohorts.insert(cohort.name.clone(), cohort);
            }
            (true, "LocalQueue") => {
                let cq = object.str_at("spec.clusterQueue")?.ok_or_else(|| {
                    object.error(
                        "spec.clusterQueue",
                        "a LocalQueue must name its ClusterQueue",
                    )
                })?;
                config
                    .local_queues
                    .insert((object.namespace.clone(), object.name.clone()), cq);
            }
            (true, "WorkloadPriorityClass") => {
                let value = object
                    .get("value")
                    .and_then(|v| v.as_i64())
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| {
                        object.error(
                            "value",
                            "a WorkloadPriorityClass needs a whole-number value",
                        )
                    })?;
                config.priority_classes.insert(object.name.clone(), value);
            }
            _ => skipped.add(&object.kind),
        }
    }
    check_references(&config, file)?;
    if !skipped.is_empty() {
        config
            .notes
            .push(format!("skipped objects of other kinds: {skipped}"));
    }
    if !ignored_resources.is_empty() {
        let parts: Vec<String> = ignored_resources
            .iter()
            .map(|(r, n)| format!("{r} ({n} quotas)"))
            .collect();
        config.notes.push(format!(
            "only {GPU_RESOURCE} quotas are modelled; ignored {}",
            parts.join(", ")
        ));
    }
    Ok(config)
}

/// Reads a Kueue objects file (see [`read_kueue_str`]).
pub fn read_kueue_file(path: &std::path::Path) -> Result<KueueConfig, ObjectError> {
    let file = path.display().to_string();
    let text = super::read_text(path)?;
    read_kueue_str(&text, &file)
}

fn read_flavor(object: &Object) -> Result<Flavor, ObjectError> {
    let mut node_labels = BTreeMap::new();
    if let Some(labels) = k8s::mapping_at(object, object.get("spec.nodeLabels"), "spec.nodeLabels")?
    {
        for (key, value) in labels {
            let (Some(key), Some(value)) = (k8s::text(key), k8s::text(value)) else {
                return Err(object.error("spec.nodeLabels", "labels must be text: key: value"));
            };
            node_labels.insert(key, value);
        }
    }
    Ok(Flavor {
        name: object.name.clone(),
        node_labels,
    })
}

/// The GPU quotas of `spec.resourceGroups` (a ClusterQueue's or a Cohort's), counting the
/// other resources in `ignored`.
fn read_quotas(
    object: &Object,
    ignored: &mut BTreeMap<String, u64>,
) -> Result<Vec<FlavorQuota>, ObjectError> {
    let mut quotas = Vec::new();
    let groups = k8s::list_at(
        object,
        object.get("spec.resourceGroups"),
        "spec.resourceGroups",
    )?;
    for (g, group) in groups.iter().enumerate() {
        let gpath = format!("spec.resourceGroups[{g}]");
        let flavors = k8s::list_at(
            object,
            k8s::get_path(group, "flavors"),
            &format!("{gpath}.flavors"),
        )?;
        for (f, flavor) in flavors.iter().enumerate() {
            let fpath = format!("{gpath}.flavors[{f}]");
            let name = k8s::get_path(flavor, "name")
                .and_then(k8s::text)
                .ok_or_else(|| {
                    object.error(&format!("{fpath}.name"), "each flavor needs a name")
                })?;
            let resources = k8s::list_at(
                object,
                k8s::get_path(flavor, "resources"),
                &format!("{fpath}.resources"),
            )?;
            for (r, resource) in resources.iter().enumerate() {
                let rpath = format!("{fpath}.resources[{r}]");
                let rname = k8s::get_path(resource, "name")
                    .and_then(k8s::text)
                    .ok_or_else(|| {
                        object.error(&format!("{rpath}.name"), "each resource needs a name")
                    })?;
                if rname != GPU_RESOURCE {
                    *ignored.entry(rname).or_default() += 1;
                    continue;
                }
                let field = |key: &str| -> Result<Option<u64>, ObjectError> {
                    k8s::get_path(resource, key)
                        .map(|v| {
                            k8s::whole_quantity(v)
                                .map_err(|e| object.error(&format!("{rpath}.{key}"), e))
                        })
                        .transpose()
                };
                let nominal = field("nominalQuota")?.ok_or_else(|| {
                    object.error(
                        &format!("{rpath}.nominalQuota"),
                        "a quota needs nominalQuota",
                    )
                })?;
                quotas.push(FlavorQuota {
                    flavor: name.clone(),
                    nominal,
                    borrowing_limit: field("borrowingLimit")?,
                    lending_limit: field("lendingLimit")?,
                });
            }
        }
    }
    Ok(quotas)
}

fn read_cluster_queue(
    object: &Object,
    ignored: &mut BTreeMap<String, u64>,
) -> Result<ClusterQueue, ObjectError> {
    let cohort = match object.str_at("spec.cohortName")? {
        Some(c) => Some(c),
        None => object.str_at("spec.cohort")?,
    }
    .filter(|c| !c.is_empty());
    let queueing = match object.str_at("spec.queueingStrategy")?.as_deref() {
        None | Some("") | Some("BestEffortFIFO") => QueueingStrategy::BestEffortFifo,
        Some("StrictFIFO") => QueueingStrategy::StrictFifo,
        Some(other) => {
            return Err(object.error(
                "spec.queueingStrategy",
                format!("{other:?} is not a queueing strategy; use StrictFIFO or BestEffortFIFO"),
            ));
        }
    };
    let within = match object
        .str_at("spec.preemption.withinClusterQueue")?
        .as_deref()
    {
        None | Some("") | Some("Never") => WithinClusterQueue::Never,
        Some("LowerPriority") => WithinClusterQueue::LowerPriority,
        Some("LowerOrNewerEqualPriority") => WithinClusterQueue::LowerOrNewerEqualPriority,
        Some(other) => {
            return Err(object.error(
                "spec.preemption.withinClusterQueue",
                format!("{other:?} is not a choice; use Never, LowerPriority or LowerOrNewerEqualPriority"),
            ));
        }
    };
    let reclaim = match object
        .str_at("spec.preemption.reclaimWithinCohort")?
        .as_deref()
    {
        None | Some("") | Some("Never") => ReclaimWithinCohort::Never,
        Some("LowerPriority") => ReclaimWithinCohort::LowerPriority,
        Some("Any") => ReclaimWithinCohort::Any,
        Some(other) => {
            return Err(object.error(
                "spec.preemption.reclaimWithinCohort",
                format!("{other:?} is not a choice; use Never, LowerPriority or Any"),
            ));
        }
    };
    let borrow = match object
        .str_at("spec.preemption.borrowWithinCohort.policy")?
        .as_deref()
    {
        None | Some("") | Some("Never") => None,
        Some("LowerPriority") => {
            let path = "spec.preemption.borrowWithinCohort.maxPriorityThreshold";
            let threshold = object
                .get(path)
                .map(|v| {
                    v.as_i64()
                        .and_then(|v| i32::try_from(v).ok())
                        .ok_or_else(|| {
                            object.error(
                                path,
                                format!("expected a whole number, found {}", k8s::describe(v)),
                            )
                        })
                })
                .transpose()?;
            Some(threshold)
        }
        Some(other) => {
            return Err(object.error(
                "spec.preemption.borrowWithinCohort.policy",
                format!("{other:?} is not a choice; use Never or LowerPriority"),
            ));
        }
    };
    let stop = |path: &str, yes: &str, default: bool| -> Result<bool, ObjectError> {
        match object.str_at(path)?.as_deref() {
            None | Some("") => Ok(default),
            Some("MayStopSearch") => Ok(true),
            Some("TryNextFlavor") => Ok(false),
            Some(s) if s == yes => Ok(true),
            Some(other) => Err(object.error(
                path,
                format!(
                    "{other:?} is not a choice; use {yes} (v1beta2: MayStopSearch) or TryNextFlavor"
                ),
            )),
        }
    };
    let fungibility = Fungibility {
        stop_when_can_borrow: stop("spec.flavorFungibility.whenCanBorrow", "Borrow", true)?,
        stop_when_can_preempt: stop("spec.flavorFungibility.whenCanPreempt", "Preempt", false)?,
    };
    Ok(ClusterQueue {
        name: object.name.clone(),
        cohort,
        flavors: read_quotas(object, ignored)?,
        queueing,
        preemption: Preemption {
            within_cluster_queue: within,
            reclaim_within_cohort: reclaim,
            borrow_within_cohort: borrow,
        },
        fungibility,
        fair_weight: fair_weight(object)?,
    })
}

/// `spec.fairSharing.weight` of a ClusterQueue or Cohort (default 1).
fn fair_weight(object: &Object) -> Result<f64, ObjectError> {
    match object.get("spec.fairSharing.weight") {
        None => Ok(1.0),
        Some(v) => weight(v).map_err(|e| object.error("spec.fairSharing.weight", e)),
    }
}

/// A fair-sharing weight: a number or a quantity string (`"1"`, `"500m"`).
fn weight(value: &serde_yaml_ng::Value) -> Result<f64, String> {
    let parsed = match value {
        serde_yaml_ng::Value::Number(n) => n.as_f64(),
        serde_yaml_ng::Value::String(s) => match s.trim().strip_suffix('m') {
            Some(milli) => milli.parse::<f64>().ok().map(|m| m / 1000.0),
            None => s.trim().parse::<f64>().ok(),
        },
        _ => None,
    };
    parsed
        .filter(|w| w.is_finite() && *w >= 0.0)
        .ok_or_else(|| {
            format!(
                "expected a weight such as 1 or 500m, found {}",
                k8s::describe(value)
            )
        })
}

fn read_cohort(
    object: &Object,
    ignored: &mut BTreeMap<String, u64>,
) -> Result<Cohort, ObjectError> {
    let parent = match object.str_at("spec.parentName")? {
        Some(p) => Some(p),
        None => object.str_at("spec.parent")?,
    }
    .filter(|p| !p.is_empty());
    Ok(Cohort {
        name: object.name.clone(),
        parent,
        flavors: read_quotas(object, ignored)?,
        fair_weight: fair_weight(object)?,
    })
}

/// Every named flavor, LocalQueue target and cohort parent exists, and cohorts form a
/// tree (no cycle).
fn check_references(config: &KueueConfig, file: &str) -> Result<(), ObjectError> {
    let err = |object: String, field: &str, message: String| ObjectError {
        file: file.to_string(),
        object,
        field: Some(field.to_string()),
        message,
    };
    for cq in config.cluster_queues.values() {
        for (i, quota) in cq.flavors.iter().enumerate() {
            if !config.flavors.contains_key(&quota.flavor) {
                return Err(err(
                    format!("ClusterQueue {}", cq.name),
                    &format!("nvidia.com/gpu flavor {i}"),
                    format!(
                        "names ResourceFlavor {:?}, which the file does not define; add it (kubectl get resourceflavors -o yaml)",
                        quota.flavor
                    ),
                ));
            }
        }
    }
    for ((ns, name), cq) in &config.local_queues {
        if !config.cluster_queues.contains_key(cq) {
            return Err(err(
                format!("LocalQueue {ns}/{name}"),
                "spec.clusterQueue",
                format!("names ClusterQueue {cq:?}, which the file does not define"),
            ));
        }
    }
    for cohort in config.cohorts.values() {
        let mut seen = vec![cohort.name.as_str()];
        let mut at = cohort;
        while let Some(parent) = &at.parent {
            if seen.contains(&parent.as_str()) {
                return Err(err(
                    format!("Cohort {}", cohort.name),
                    "spec.parentName",
                    format!("cohorts form a cycle: {} -> {parent}", seen.join(" -> ")),
                ));
            }
            seen.push(parent);
            match config.cohorts.get(parent) {
                Some(p) => at = p,
                None => break, // an implicit cohort with no object: a root
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OBJECTS: &str = r#"
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: a100}
spec: {nodeLabels: {gpu: a100}}
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata: {name: team-a}
spec:
  cohortName: research
  queueingStrategy: StrictFIFO
  resourceGroups:
  - coveredResources: [cpu, nvidia.com/gpu]
    flavors:
    - name: a100
      resources:
      - {name: cpu, nominalQuota: 64}
      - {name: nvidia.com/gpu, nominalQuota: 8, borrowingLimit: "4", lendingLimit: 2}
  preemption:
    withinClusterQueue: LowerOrNewerEqualPriority
    reclaimWithinCohort: Any
    borrowWithinCohort: {policy: LowerPriority, maxPriorityThreshold: 100}
  flavorFungibility: {whenCanBorrow: TryNextFlavor, whenCanPreempt: MayStopSearch}
  fairSharing: {weight: 500m}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: LocalQueue
metadata: {name: q, namespace: ns-a}
spec: {clusterQueue: team-a}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: WorkloadPriorityClass
metadata: {name: high}
value: 1000
---
apiVersion: v1
kind: ConfigMap
metadata: {name: other}
"#;

    #[test]
    fn v1beta2_fields_are_read() {
        let config = read_kueue_str(OBJECTS, "k.yaml").unwrap();
        let cq = &config.cluster_queues["team-a"];
        assert_eq!(cq.cohort.as_deref(), Some("research"));
        assert_eq!(cq.queueing, QueueingStrategy::StrictFifo);
        assert_eq!(
            cq.flavors,
            [FlavorQuota {
                flavor: "a100".into(),
                nominal: 8,
                borrowing_limit: Some(4),
                lending_limit: Some(2)
            }]
        );
        assert_eq!(
            cq.preemption.within_cluster_queue,
            WithinClusterQueue::LowerOrNewerEqualPriority
        );
        assert_eq!(
            cq.preemption.reclaim_within_cohort,
            ReclaimWithinCohort::Any
        );
        assert_eq!(cq.preemption.borrow_within_cohort, Some(Some(100)));
        assert!(!cq.fungibility.stop_when_can_borrow);
        assert!(cq.fungibility.stop_when_can_preempt);
        assert_eq!(cq.fair_weight, 0.5);
        assert_eq!(config.cluster_queue_of("ns-a", "q"), Some("team-a"));
        assert_eq!(config.priority_classes["high"], 1000);
        assert_eq!(config.flavors["a100"].node_labels["gpu"], "a100");
        let notes = config.notes.join("\n");
        assert!(notes.contains("1 ConfigMap"), "{notes}");
        assert!(notes.contains("cpu (1 quotas)"), "{notes}");
    }

    #[test]
    fn a_bad_value_names_the_object_and_field() {
        let text = OBJECTS.replace("queueingStrategy: StrictFIFO", "queueingStrategy: Strict");
        let err = read_kueue_str(&text, "k.yaml").unwrap_err().to_string();
        assert!(
            err.contains("k.yaml: ClusterQueue team-a: field spec.queueingStrategy"),
            "{err}"
        );
        assert!(err.contains("StrictFIFO or BestEffortFIFO"), "{err}");
        let text = OBJECTS.replace("nominalQuota: 8,", "nominalQuota: 8.5,");
        let err = read_kueue_str(&text, "k.yaml").unwrap_err().to_string();
        assert!(
            err.contains("resourceGroups[0].flavors[0].resources[1].nominalQuota"),
            "{err}"
        );
    }

    #[test]
    fn unknown_references_are_errors() {
        let text = OBJECTS.replace("clusterQueue: team-a", "clusterQueue: team-z");
        let err = read_kueue_str(&text, "k.yaml").unwrap_err().to_string();
        assert!(
            err.contains("LocalQueue ns-a/q") && err.contains("team-z"),
            "{err}"
        );
        let text = OBJECTS.replace(
            "- name: a100\n      resources",
            "- name: h100\n      resources",
        );
        let err = read_kueue_str(&text, "k.yaml").unwrap_err().to_string();
        assert!(err.contains("ResourceFlavor \"h100\""), "{err}");
    }

    #[test]
    fn cohort_cycles_are_errors() {
        let text = "apiVersion: kueue.x-k8s.io/v1beta2\nkind: Cohort\nmetadata: {name: x}\nspec: {parentName: y}\n---\napiVersion: kueue.x-k8s.io/v1alpha1\nkind: Cohort\nmetadata: {name: y}\nspec: {parent: x}\n";
        let err = read_kueue_str(text, "k.yaml").unwrap_err().to_string();
        assert!(err.contains("cycle"), "{err}");
    }
}
