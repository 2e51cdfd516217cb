//! Sweeps and plans over a Kueue replay (issue 17): the `kueue:` axis, which sets one
//! quota field (`nominalQuota`, `borrowingLimit`, `lendingLimit`) of one flavor of one
//! ClusterQueue or Cohort to each of its values, and the Kueue base, which reads the
//! Kueue objects, nodes and workloads once and makes each point's scenario: the quota
//! of the point, nodes of a ResourceFlavor added (nodes with that flavor's labels) for
//! the nodes axis and `plan`, and the jobs at the point's load and seed. Admission
//! itself is the `kueue` layer's.

use std::sync::Arc;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::SweepError;
use super::points::Point;
use super::spec::SweepSpec;
use crate::config::CellConfig;
use crate::config::VirtualClusterSpec;
use crate::kueue::nodes::PRODUCT_LABEL;
use crate::kueue::{FlavorQuota, KubeNode, KueueConfig, KueueReplay, KueueReplayOptions};
use crate::sched::layers::kueue::KueueOptions;
use crate::sim::Scenario;

/// Whose quota the axis sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaOwner {
    /// A ClusterQueue, by name.
    ClusterQueue(String),
    /// A Cohort, by name (one only named by ClusterQueues gets a Cohort object).
    Cohort(String),
}

impl std::fmt::Display for QuotaOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuotaOwner::ClusterQueue(name) => write!(f, "ClusterQueue {name}"),
            QuotaOwner::Cohort(name) => write!(f, "Cohort {name}"),
        }
    }
}

/// Which quota field the axis sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaField {
    /// `nominalQuota`.
    Nominal,
    /// `borrowingLimit`.
    BorrowingLimit,
    /// `lendingLimit`.
    LendingLimit,
}

impl QuotaField {
    /// The names Kueue gives the fields.
    pub const NAMES: [&'static str; 3] = ["nominalQuota", "borrowingLimit", "lendingLimit"];

    /// The field called `name`; the error lists the valid names.
    pub fn from_name(name: &str) -> Result<QuotaField, String> {
        match name {
            "nominalQuota" => Ok(QuotaField::Nominal),
            "borrowingLimit" => Ok(QuotaField::BorrowingLimit),
            "lendingLimit" => Ok(QuotaField::LendingLimit),
            other => Err(format!(
                "{other:?} is not a quota field; write one of {}",
                QuotaField::NAMES.join(", ")
            )),
        }
    }

    /// Kueue's name of the field.
    pub fn name(self) -> &'static str {
        match self {
            QuotaField::Nominal => "nominalQuota",
            QuotaField::BorrowingLimit => "borrowingLimit",
            QuotaField::LendingLimit => "lendingLimit",
        }
    }
}

/// `axes.kueue`: one quota field of one flavor of a ClusterQueue or Cohort, set to each
/// value in turn (`nvidia.com/gpu`, in GPUs).
#[derive(Debug, Clone, PartialEq)]
pub struct KueueAxis {
    /// Whose quota.
    pub owner: QuotaOwner,
    /// Which field.
    pub field: QuotaField,
    /// The ResourceFlavor.
    pub flavor: String,
    /// GPUs, in the order given.
    pub values: Vec<u64>,
    /// Where `kueue:` is written in the sweep file (`file:line:column`), for messages.
    pub at: String,
}

impl KueueAxis {
    /// Checks that `config` has the axis' owner and flavor and that every value is a
    /// quota Kueue would accept there (a lendingLimit at most the nominalQuota).
    pub fn check(&self, config: &KueueConfig) -> Result<(), SweepError> {
        let bad =
            |message: String| SweepError::Input(format!("{}: axes.kueue: {message}", self.at));
        if !config.flavors.contains_key(&self.flavor) {
            return Err(bad(format!(
                "flavor: the Kueue objects define no ResourceFlavor {:?}; they define {}",
                self.flavor,
                names(config.flavors.keys())
            )));
        }
        let quota = match &self.owner {
            QuotaOwner::ClusterQueue(cq) => {
                let Some(queue) = config.cluster_queues.get(cq) else {
                    return Err(bad(format!(
                        "clusterQueue: the Kueue objects define no ClusterQueue {cq:?}; they define {}",
                        names(config.cluster_queues.keys())
                    )));
                };
                let Some(quota) = queue.flavors.iter().find(|q| q.flavor == self.flavor) else {
                    return Err(bad(format!(
                        "flavor: ClusterQueue {cq} has no nvidia.com/gpu quota for flavor {:?} (its flavors are {}); add the flavor to its resourceGroups",
                        self.flavor,
                        names(queue.flavors.iter().map(|q| &q.flavor))
                    )));
                };
                quota.clone()
            }
            QuotaOwner::Cohort(cohort) => {
                if !cohort_names(config).any(|c| c == cohort) {
                    return Err(bad(format!(
                        "cohort: the Kueue objects define or name no Cohort {cohort:?}; they have {}",
                        names(cohort_names(config))
                    )));
                }
                cohort_quota(config, cohort, &self.flavor)
            }
        };
        for &value in &self.values {
            let (nominal, lending) = match self.field {
                QuotaField::Nominal => (value, quota.lending_limit),
                QuotaField::LendingLimit => (quota.nominal, Some(value)),
                QuotaField::BorrowingLimit => continue,
            };
            if lending.is_some_and(|l| l > nominal) {
                return Err(bad(format!(
                    "values: {value} would make the lendingLimit ({}) of {} flavor {} larger than its nominalQuota ({nominal}), which Kueue refuses; list values that keep lendingLimit <= nominalQuota",
                    lending.unwrap_or(0),
                    self.owner,
                    self.flavor
                )));
            }
        }
        Ok(())
    }

    /// `config` with the axis' field set to `value` (checked by [`KueueAxis::check`]).
    pub fn apply(&self, config: &mut KueueConfig, value: u64) {
        let quota =
            match &self.owner {
                QuotaOwner::ClusterQueue(cq) => config
                    .cluster_queues
                    .get_mut(cq)
                    .and_then(|q| q.flavors.iter_mut().find(|f| f.flavor == self.flavor)),
                QuotaOwner::Cohort(name) => {
                    let cohort = config.cohorts.entry(name.clone()).or_insert_with(|| {
                        crate::kueue::Cohort {
                            name: name.clone(),
                            parent: None,
                            flavors: Vec::new(),
                            fair_weight: 1.0,
                        }
                    });
                    if !cohort.flavors.iter().any(|f| f.flavor == self.flavor) {
                        cohort.flavors.push(empty_quota(&self.flavor));
                    }
                    cohort.flavors.iter_mut().find(|f| f.flavor == self.flavor)
                }
            };
        if let Some(quota) = quota {
            match self.field {
                QuotaField::Nominal => quota.nominal = value,
                QuotaField::BorrowingLimit => quota.borrowing_limit = Some(value),
                QuotaField::LendingLimit => quota.lending_limit = Some(value),
            }
        }
    }
}

fn empty_quota(flavor: &str) -> FlavorQuota {
    FlavorQuota {
        flavor: flavor.to_string(),
        nominal: 0,
        borrowing_limit: None,
        lending_limit: None,
    }
}

/// The quota of `cohort` for `flavor` (none written: 0 and no limits).
fn cohort_quota(config: &KueueConfig, cohort: &str, flavor: &str) -> FlavorQuota {
    config
        .cohorts
        .get(cohort)
        .and_then(|c| c.flavors.iter().find(|f| f.flavor == flavor))
        .cloned()
        .unwrap_or_else(|| empty_quota(flavor))
}

/// Every cohort the objects define or name (as a ClusterQueue's cohort or a parent).
fn cohort_names(config: &KueueConfig) -> impl Iterator<Item = &String> {
    let mut all: Vec<&String> = config
        .cohorts
        .values()
        .flat_map(|c| std::iter::once(&c.name).chain(c.parent.as_ref()))
        .chain(
            config
                .cluster_queues
                .values()
                .filter_map(|q| q.cohort.as_ref()),
        )
        .collect();
    all.sort();
    all.dedup();
    all.into_iter()
}

fn names<'a>(items: impl Iterator<Item = &'a String>) -> String {
    let all: Vec<&str> = items.map(String::as_str).collect();
    if all.is_empty() {
        "none".to_string()
    } else {
        all.join(", ")
    }
}

/// A Kueue replay read once: the scenario of `replay --kueue` and its nodes.
#[derive(Debug)]
pub struct KueueBase {
    /// What was read.
    pub options: KueueReplayOptions,
    /// The prepared replay (jobs in submit order, ClusterQueues as VCs).
    pub replay: KueueReplay,
}

impl KueueBase {
    /// Reads the Kueue objects, nodes and workloads of `options`.
    pub fn load(options: &KueueReplayOptions) -> Result<KueueBase, SweepError> {
        let replay = crate::kueue::prepare(options)
            .map_err(|e| SweepError::Input(format!("replay: {e}")))?;
        Ok(KueueBase {
            options: options.clone(),
            replay,
        })
    }

    fn kueue(&self) -> &KueueOptions {
        self.replay
            .scenario
            .model_options
            .kueue
            .as_deref()
            .expect("a Kueue replay's scenario carries its Kueue objects")
    }

    /// The nodes with `count` nodes of `flavor` added (negative: its last ones removed).
    /// An added node copies the labels of the flavor's last node (its GPU product and
    /// topology), or has the flavor's `nodeLabels` and `gpus` GPUs when it has none.
    fn nodes(&self, flavor: &str, gpus: Option<u32>, count: i64) -> Result<Vec<KubeNode>, String> {
        let config = &self.kueue().config;
        let Some(spec) = config.flavors.get(flavor) else {
            return Err(format!(
                "the Kueue objects define no ResourceFlavor {flavor:?} to add nodes of; they define {}",
                names(config.flavors.keys())
            ));
        };
        let mut nodes = self.replay.nodes.clone();
        let of_flavor: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].matches(&spec.node_labels))
            .collect();
        if count < 0 {
            let remove = count.unsigned_abs() as usize;
            if remove > of_flavor.len() {
                return Err(format!(
                    "cannot remove {remove} nodes of flavor {flavor}: it has {}",
                    of_flavor.len()
                ));
            }
            let gone: Vec<usize> = of_flavor[of_flavor.len() - remove..].to_vec();
            let mut i = 0;
            nodes.retain(|_| {
                i += 1;
                !gone.contains(&(i - 1))
            });
            return Ok(nodes);
        }
        let template = match of_flavor.last() {
            Some(&last) => {
                let mut node = nodes[last].clone();
                if let Some(g) = gpus {
                    node.gpus = g;
                }
                node
            }
            None => {
                let Some(gpus) = gpus else {
                    return Err(format!(
                        "flavor {flavor} selects no node to copy; say how many GPUs a new node has with `gpus:`"
                    ));
                };
                let mut labels = spec.node_labels.clone();
                labels
                    .entry(PRODUCT_LABEL.to_string())
                    .or_insert_with(|| flavor.to_string());
                KubeNode {
                    name: String::new(),
                    labels,
                    gpus,
                    cpu_milli: None,
                    memory_mib: None,
                }
            }
        };
        let mut n = 0u64;
        let mut added = 0;
        while added < count {
            let name = format!("{flavor}-added-{n}");
            n += 1;
            if nodes.iter().any(|node| node.name == name) {
                continue;
            }
            let mut node = template.clone();
            node.labels
                .insert("kubernetes.io/hostname".to_string(), name.clone());
            node.name = name;
            nodes.push(node);
            added += 1;
        }
        Ok(nodes)
    }

    /// The cluster with `nodes_added` nodes of the nodes axis' (or plan's) flavor.
    pub fn cluster(&self, spec: &SweepSpec, nodes_added: i64) -> Result<CellConfig, SweepError> {
        if nodes_added == 0 {
            return Ok(self.replay.scenario.config.clone());
        }
        let (flavor, gpus) = added_flavor(spec)?;
        let at = |e: String| {
            SweepError::Input(format!(
                "{}: nodes {nodes_added:+} of flavor {flavor:?} (axes.nodes.sku or plan.sku): {e}",
                spec.file.display()
            ))
        };
        let nodes = self.nodes(flavor, gpus, nodes_added).map_err(at)?;
        let mut config =
            crate::kueue::cluster_of_nodes(&nodes, self.options.rack_nodes, &self.options.cluster)
                .map_err(|e| at(e.to_string()))?;
        config.virtual_clusters = self.replay.scenario.config.virtual_clusters.clone();
        Ok(config)
    }

    /// The scenario of `point` on `config` (from [`KueueBase::cluster`]).
    pub fn scenario(
        &self,
        spec: &SweepSpec,
        config: &CellConfig,
        point: &Point,
    ) -> Result<Scenario, SweepError> {
        let base = &self.replay.scenario;
        let mut rng = ChaCha8Rng::seed_from_u64(point.seed);
        let mut jobs = base.jobs.clone();
        for job in &mut jobs {
            job.submit_ms =
                super::base::retime(job.submit_ms, point.load, spec.jitter_ms, &mut rng);
        }
        jobs.sort_by_key(|j| j.submit_ms);
        let mut kueue = self.kueue().clone();
        let mut model_options = base.model_options.clone();
        if let (Some(axis), Some(value)) = (&spec.axes.kueue, point.kueue_quota) {
            axis.apply(&mut kueue.config, value);
        }
        if point.nodes_added != 0 {
            let (flavor, gpus) = added_flavor(spec)?;
            let nodes = self
                .nodes(flavor, gpus, point.nodes_added)
                .map_err(SweepError::Input)?;
            // The plan's ClusterQueue owns what is bought: its nominal quota grows by
            // the added GPUs (shrinks by the removed ones).
            if let Some(cq) = spec.plan.as_ref().and_then(|p| p.cluster_queue.as_ref()) {
                let before: u64 = self.replay.nodes.iter().map(|n| u64::from(n.gpus)).sum();
                let after: u64 = nodes.iter().map(|n| u64::from(n.gpus)).sum();
                if let Some(quota) = kueue
                    .config
                    .cluster_queues
                    .get_mut(cq)
                    .and_then(|q| q.flavors.iter_mut().find(|f| f.flavor == flavor))
                {
                    quota.nominal = (quota.nominal + after).saturating_sub(before);
                }
            }
            let mut notes = Vec::new();
            kueue.flavor_nodes =
                crate::kueue::replay::flavor_nodes(&kueue.config, &nodes, &mut notes);
            // Added nodes bring the CPU and memory of the node they copy.
            if let Some(sharing) = &mut model_options.sharing {
                Arc::make_mut(sharing).node_resources = crate::kueue::nodes::node_resources(&nodes);
            }
            // Added nodes join the topology domains of the labels they copied.
            if !kueue.tas.requests.is_empty() {
                let levels: std::collections::BTreeSet<&String> =
                    kueue.tas.requests.values().map(|r| &r.level).collect();
                kueue.tas.node_labels = nodes
                    .iter()
                    .map(|n| {
                        let labels = n
                            .labels
                            .iter()
                            .filter(|(k, _)| levels.contains(k))
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect();
                        (n.name.clone(), labels)
                    })
                    .collect();
            }
        }
        let mut config = config.clone();
        config.virtual_clusters = kueue
            .config
            .cluster_queues
            .keys()
            .map(|cq| (cq.clone(), VirtualClusterSpec::default()))
            .collect();
        model_options.kueue = Some(Arc::new(kueue));
        Ok(Scenario {
            jobs,
            seed: point.seed,
            models: vec![point.model.clone()],
            name: spec.name.clone(),
            config,
            model_options,
            warnings: Vec::new(),
            ..base.clone()
        })
    }

    /// Checks the axes against the Kueue objects before anything runs.
    pub fn check_axes(&self, spec: &SweepSpec) -> Result<(), SweepError> {
        let file = spec.file.display();
        if spec.axes.share.is_some() {
            return Err(SweepError::Input(format!(
                "{file}: axes.share: a Kueue base's shares are its ClusterQueues' quotas; use axes.kueue (clusterQueue, field: nominalQuota, flavor, values) instead"
            )));
        }
        if let Some(axis) = &spec.axes.kueue {
            axis.check(&self.kueue().config)?;
        }
        let config = &self.kueue().config;
        if let Some(plan) = &spec.plan {
            if !config.flavors.contains_key(&plan.sku) {
                return Err(SweepError::Input(format!(
                    "{file}: plan.sku: under a Kueue base the nodes added are a ResourceFlavor's, and the Kueue objects define no ResourceFlavor {:?}; they define {}",
                    plan.sku,
                    names(config.flavors.keys())
                )));
            }
            if let Some(cq) = &plan.cluster_queue
                && config.quota(cq, &plan.sku).is_none()
            {
                return Err(SweepError::Input(format!(
                    "{file}: plan.clusterQueue: no ClusterQueue {cq:?} with a quota for flavor {}; ClusterQueues: {}",
                    plan.sku,
                    names(config.cluster_queues.keys())
                )));
            }
        }
        if let Some(nodes) = &spec.axes.nodes
            && !config.flavors.contains_key(&nodes.sku)
        {
            return Err(SweepError::Input(format!(
                "{file}: axes.nodes.sku: under a Kueue base the nodes added are a ResourceFlavor's, and the Kueue objects define no ResourceFlavor {:?}; they define {}",
                nodes.sku,
                names(config.flavors.keys())
            )));
        }
        Ok(())
    }
}

/// The flavor (and node size) nodes are added of: the nodes axis', else the plan's.
fn added_flavor(spec: &SweepSpec) -> Result<(&str, Option<u32>), SweepError> {
    spec.axes
        .nodes
        .as_ref()
        .map(|n| (n.sku.as_str(), n.gpus))
        .or_else(|| spec.plan.as_ref().map(|p| (p.sku.as_str(), p.gpus)))
        .ok_or_else(|| SweepError::Input("nodes added without a nodes axis or plan".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KueueConfig {
        crate::kueue::read_kueue_str(
            r#"
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: a100}
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ClusterQueue
metadata: {name: team-a}
spec:
  cohort: ml
  resourceGroups:
  - coveredResources: [nvidia.com/gpu]
    flavors:
    - name: a100
      resources: [{name: nvidia.com/gpu, nominalQuota: 8, lendingLimit: 4}]
"#,
            "k.yaml",
        )
        .unwrap()
    }

    fn axis(owner: QuotaOwner, field: QuotaField, values: Vec<u64>) -> KueueAxis {
        KueueAxis {
            owner,
            field,
            flavor: "a100".to_string(),
            values,
            at: "s.yaml:7:3".to_string(),
        }
    }

    #[test]
    fn a_cluster_queue_field_is_set() {
        let mut config = config();
        let axis = axis(
            QuotaOwner::ClusterQueue("team-a".into()),
            QuotaField::BorrowingLimit,
            vec![0, 8],
        );
        axis.check(&config).unwrap();
        axis.apply(&mut config, 8);
        assert_eq!(
            config.quota("team-a", "a100").unwrap().borrowing_limit,
            Some(8)
        );
    }

    #[test]
    fn a_cohort_named_only_by_its_queues_gets_a_quota() {
        let mut config = config();
        let axis = axis(
            QuotaOwner::Cohort("ml".into()),
            QuotaField::Nominal,
            vec![16],
        );
        axis.check(&config).unwrap();
        axis.apply(&mut config, 16);
        assert_eq!(config.cohorts["ml"].flavors[0].nominal, 16);
    }

    #[test]
    fn unknown_names_and_bad_lending_limits_are_named() {
        let config = config();
        let err = axis(
            QuotaOwner::ClusterQueue("team-z".into()),
            QuotaField::Nominal,
            vec![1],
        )
        .check(&config)
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("s.yaml:7:3: axes.kueue: clusterQueue"),
            "{err}"
        );
        assert!(err.contains("they define team-a"), "{err}");
        let err = axis(
            QuotaOwner::ClusterQueue("team-a".into()),
            QuotaField::Nominal,
            vec![2],
        )
        .check(&config)
        .unwrap_err()
        .to_string();
        assert!(err.contains("lendingLimit <= nominalQuota"), "{err}");
        let err = axis(
            QuotaOwner::Cohort("other".into()),
            QuotaField::Nominal,
            vec![2],
        )
        .check(&config)
        .unwrap_err()
        .to_string();
        assert!(err.contains("no Cohort \"other\"; they have ml"), "{err}");
        assert!(
            QuotaField::from_name("borrowLimit")
                .unwrap_err()
                .contains("nominalQuota, borrowingLimit, lendingLimit")
        );
    }
}
