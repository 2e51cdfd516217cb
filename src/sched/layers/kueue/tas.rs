//! Topology-Aware Scheduling for the `kueue` layer: a workload whose pod set carries
//! `kueue.x-k8s.io/podset-required-topology` or `-preferred-topology` (a node label key
//! that is a topology level: a rack or block label, `kubernetes.io/hostname`) has its
//! pods placed within one domain of that level (the nodes sharing one value of the
//! label). Domains are tried as Kueue's BestFit does: among the domains of the flavor
//! with enough free slots for every pod, the one with the fewest free slots first (ties:
//! fewest free GPUs, then name). Required: no domain fits, the workload waits
//! (`shape`). Preferred: no domain fits, it is placed anywhere on the flavor.
//!
//! Not modelled: Kueue's fallback for a preferred level to the next level up (here it
//! goes straight to the whole flavor), per-pod-set levels (the first GPU pod set's
//! request holds for the whole gang), slices (`podset-slice-*`), and Topology objects
//! (the level is a node label, whatever the Topology lists). Preemption and
//! `fits_without` check room on the flavor, not within one domain.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::Kueue;
use crate::cell::GroupRequest;
use crate::config::CellConfig;
use crate::kueue::TopologyRequest;
use crate::sched::pool::PoolAnswer;
use crate::sched::{Wait, WaitKind};

/// The topology requests of a replay and the labels of the levels they name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TasOptions {
    /// Per workload (its group name, `namespace/name`): its request.
    pub requests: BTreeMap<String, TopologyRequest>,
    /// Per node: the values of the labels the requests name as levels.
    pub node_labels: BTreeMap<String, BTreeMap<String, String>>,
}

/// What the layer keeps for Topology-Aware Scheduling.
#[derive(Debug, Clone, Default)]
pub(super) struct Tas {
    requests: HashMap<String, TopologyRequest>,
    /// Level -> domain (label value) -> its nodes.
    domains: BTreeMap<String, BTreeMap<String, Vec<String>>>,
    /// GPUs per node.
    node_gpus: HashMap<String, u32>,
}

impl Tas {
    pub(super) fn new(cluster: &CellConfig, options: &TasOptions) -> Tas {
        if options.requests.is_empty() {
            return Tas::default();
        }
        let mut domains: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
        for (node, labels) in &options.node_labels {
            for (level, value) in labels {
                domains
                    .entry(level.clone())
                    .or_default()
                    .entry(value.clone())
                    .or_default()
                    .push(node.clone());
            }
        }
        Tas {
            requests: options
                .requests
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            domains,
            node_gpus: crate::kueue::nodes_of_config(cluster)
                .into_iter()
                .map(|n| (n.name, n.gpus))
                .collect(),
        }
    }
}

/// One domain that could hold a request.
struct Domain {
    slots: u64,
    free: u64,
    name: String,
    nodes: HashSet<String>,
}

impl Kueue {
    /// Places `request` on flavor `f`'s nodes, within one topology domain when it asks
    /// for one: the hook of the layer's admission.
    pub(super) fn place_on_flavor(&mut self, request: &GroupRequest, f: usize) -> PoolAnswer {
        let Some(ask) = self.tas.requests.get(&request.name).cloned() else {
            return self.pool.place_on(request, self.flavors[f].nodes.as_ref());
        };
        let domains = self.fitting_domains(request, &ask.level, f);
        for domain in &domains {
            if let PoolAnswer::Bind(placement) = self.pool.place_on(request, Some(&domain.nodes)) {
                return PoolAnswer::Bind(placement);
            }
        }
        if !ask.required {
            return self.pool.place_on(request, self.flavors[f].nodes.as_ref());
        }
        PoolAnswer::Wait(self.no_domain_wait(request, &ask.level, f))
    }

    /// The wait of a workload whose required topology level has no domain on flavor `f`
    /// with free slots for all its pods, checked before admission: Kueue admits such a
    /// workload only with a topology assignment, so until a domain fits it holds no
    /// quota (a workload that cannot fit any rack would otherwise hold its quota for
    /// ever). `None` when the workload asks for no required level or a domain fits.
    pub(super) fn unassignable_topology(&self, request: &GroupRequest, f: usize) -> Option<Wait> {
        let ask = self.tas.requests.get(&request.name)?;
        if !ask.required || !self.fitting_domains(request, &ask.level, f).is_empty() {
            return None;
        }
        Some(self.no_domain_wait(request, &ask.level, f))
    }

    /// "No domain of `level` fits": a placement wait (shape, or gang for several pods).
    fn no_domain_wait(&self, request: &GroupRequest, level: &str, f: usize) -> Wait {
        let pods: u32 = request.members.iter().map(|m| m.pod_number).sum();
        let freest = self.freest_domain(level, f);
        let kind = if pods > 1 {
            WaitKind::Gang
        } else {
            WaitKind::Shape
        };
        Wait::new(
            kind,
            request.leaf_count(),
            Some(freest),
            format!(
                "waiting for one {level} domain of flavor {} with room for all {pods} pods \
                 (podset-required-topology); the freest has {freest} free GPUs",
                self.flavors[f].name
            ),
        )
    }

    /// Free GPUs per node: capacity minus what the admitted workloads hold.
    fn free_gpus(&self) -> HashMap<&str, u64> {
        let mut free: HashMap<&str, u64> = self
            .tas
            .node_gpus
            .iter()
            .map(|(n, g)| (n.as_str(), u64::from(*g)))
            .collect();
        for name in self.running.keys() {
            for pod in self.pool.placement(name).into_iter().flat_map(|p| p.pods) {
                if let Some(f) = free.get_mut(pod.node.as_str()) {
                    *f = f.saturating_sub(pod.devices.len() as u64);
                }
            }
        }
        free
    }

    /// The domains of `level` on flavor `f` with free slots for every pod of
    /// `request`, in BestFit order.
    fn fitting_domains(&self, request: &GroupRequest, level: &str, f: usize) -> Vec<Domain> {
        let free = self.free_gpus();
        let pod_gpus = u64::from(
            request
                .members
                .iter()
                .map(|m| m.leaf_cell_number)
                .max()
                .unwrap_or(1)
                .max(1),
        );
        let pods: u64 = request
            .members
            .iter()
            .map(|m| u64::from(m.pod_number))
            .sum();
        let flavor = self.flavors[f].nodes.as_ref();
        let mut out: Vec<Domain> = self
            .tas
            .domains
            .get(level)
            .into_iter()
            .flatten()
            .filter_map(|(name, nodes)| {
                let nodes: HashSet<String> = nodes
                    .iter()
                    .filter(|n| flavor.is_none_or(|f| f.contains(*n)))
                    .cloned()
                    .collect();
                let node_free = || {
                    nodes
                        .iter()
                        .map(|n| free.get(n.as_str()).copied().unwrap_or(0))
                };
                let slots: u64 = node_free().map(|g| g / pod_gpus).sum();
                let total: u64 = node_free().sum();
                (slots >= pods && total >= request.leaf_count()).then(|| Domain {
                    slots,
                    free: total,
                    name: name.clone(),
                    nodes,
                })
            })
            .collect();
        out.sort_by(|a, b| (a.slots, a.free, &a.name).cmp(&(b.slots, b.free, &b.name)));
        out
    }

    /// Free GPUs of the freest domain of `level` on flavor `f`, for wait messages.
    fn freest_domain(&self, level: &str, f: usize) -> u64 {
        let free = self.free_gpus();
        let flavor = self.flavors[f].nodes.as_ref();
        self.tas
            .domains
            .get(level)
            .into_iter()
            .flatten()
            .map(|(_, nodes)| {
                nodes
                    .iter()
                    .filter(|n| flavor.is_none_or(|f| f.contains(*n)))
                    .map(|n| free.get(n.as_str()).copied().unwrap_or(0))
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use rand::SeedableRng;

    use super::super::{KueueOptions, Layer};
    use super::*;
    use crate::cell::GroupMember;
    use crate::config::{BuildOptions, build_cluster};
    use crate::kueue::read_kueue_str;
    use crate::sched::{OfferContext, Verdict};

    const KUEUE: &str = "apiVersion: kueue.x-k8s.io/v1beta1\nkind: ResourceFlavor\nmetadata: {name: f}\n---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue\nmetadata: {name: q}\nspec:\n  resourceGroups:\n  - coveredResources: [nvidia.com/gpu]\n    flavors:\n    - name: f\n      resources: [{name: nvidia.com/gpu, nominalQuota: 64}]\n";

    /// 6 nodes of 8 GPUs: rack r1 = nodes 0-1, r2 = nodes 2-4, r3 = node 5.
    fn layer(requests: &[(&str, bool)]) -> Kueue {
        let cluster = build_cluster("6x A100x8", None, &BuildOptions::default()).unwrap();
        let racks = ["r1", "r1", "r2", "r2", "r2", "r3"];
        let node_labels = (0..6)
            .map(|i| {
                (
                    format!("a100-{i}"),
                    BTreeMap::from([("rack".to_string(), racks[i].to_string())]),
                )
            })
            .collect();
        let options = KueueOptions {
            config: read_kueue_str(KUEUE, "k").unwrap(),
            flavor_nodes: BTreeMap::from([(
                "f".to_string(),
                (0..6).map(|i| format!("a100-{i}")).collect(),
            )]),
            tas: TasOptions {
                requests: requests
                    .iter()
                    .map(|(name, required)| {
                        let ask = TopologyRequest {
                            level: "rack".to_string(),
                            required: *required,
                        };
                        (name.to_string(), ask)
                    })
                    .collect(),
                node_labels,
            },
        };
        Kueue::new(&cluster, &options).unwrap()
    }

    fn request(name: &str, pods: u32, gpus: u32) -> GroupRequest {
        GroupRequest {
            name: name.to_string(),
            virtual_cluster: "q".to_string(),
            priority: 0,
            leaf_cell_type: None,
            pinned_cell_id: None,
            lazy_preemption_enable: false,
            ignore_k8s_suggested_nodes: true,
            members: vec![GroupMember::whole(pods, gpus)],
        }
    }

    /// The racks of the nodes a started workload runs on, or the wait kind.
    fn offer(k: &mut Kueue, r: &GroupRequest) -> Result<Vec<&'static str>, String> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = OfferContext {
            now_ms: 0,
            rng: &mut rng,
        };
        let racks = ["r1", "r1", "r2", "r2", "r2", "r3"];
        match k.offer(r, &mut ctx) {
            Verdict::Start(p) => {
                let mut out: Vec<&str> = p
                    .pods
                    .iter()
                    .map(|pod| {
                        let i: usize = pod.node.trim_start_matches("a100-").parse().unwrap();
                        racks[i]
                    })
                    .collect();
                out.dedup();
                Ok(out)
            }
            Verdict::Wait(w) => Err(format!("wait:{}", w.kind)),
            _ => Err("other".to_string()),
        }
    }

    #[test]
    fn required_topology_keeps_the_gang_in_the_fullest_rack_that_fits() {
        let mut k = layer(&[("two", true), ("three", true)]);
        // Two pods of 8: r1 (2 slots) fits exactly and is the best fit; r2 has 3.
        assert_eq!(offer(&mut k, &request("two", 2, 8)), Ok(vec!["r1"]));
        // Three pods of 8: only r2 has three free nodes.
        assert_eq!(offer(&mut k, &request("three", 3, 8)), Ok(vec!["r2"]));
    }

    #[test]
    fn required_topology_waits_when_no_rack_fits_though_the_flavor_has_room() {
        let mut k = layer(&[("four", true)]);
        // 48 GPUs free on the flavor, but no rack has 4 nodes: a placement wait, before
        // admission (no topology assignment, so no quota held).
        assert_eq!(
            offer(&mut k, &request("four", 4, 8)),
            Err("wait:gang".to_string())
        );
    }

    #[test]
    fn preferred_topology_falls_back_to_any_nodes() {
        let mut k = layer(&[("four", false), ("two", false)]);
        let racks = offer(&mut k, &request("four", 4, 8)).unwrap();
        assert!(racks.len() > 1, "spread over racks: {racks:?}");
        // Two nodes are left, in different racks or one: a preferred gang still starts.
        assert!(offer(&mut k, &request("two", 2, 8)).is_ok());
    }

    #[test]
    fn workloads_without_a_request_are_placed_as_before() {
        let mut k = layer(&[]);
        assert!(offer(&mut k, &request("plain", 6, 8)).is_ok());
    }
}
