//! Bind records: what is written on a pod when it is bound (HiveD's `pod-bind-info`,
//! `pod-leaf-cell-isolation` and `pod-scheduling-spec` annotations), and rebuilding all
//! allocator state from them after a restart or a config change (spec section 7).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::allocator::{Allocator, GroupId, GroupState, PodSlot, RecordedPod, VcId};
use super::request::{GroupMember, GroupRequest, OPPORTUNISTIC_PRIORITY};
use super::topology::{CellId, ChainId};
use crate::config::CellConfig;

/// Annotation key of the bind info.
pub const BIND_INFO_ANNOTATION: &str = "hivedscheduler.microsoft.com/pod-bind-info";
/// Annotation key of the device list (`NVIDIA_VISIBLE_DEVICES`).
pub const LEAF_CELL_ISOLATION_ANNOTATION: &str =
    "hivedscheduler.microsoft.com/pod-leaf-cell-isolation";
/// Annotation key of the scheduling spec.
pub const SCHEDULING_SPEC_ANNOTATION: &str = "hivedscheduler.microsoft.com/pod-scheduling-spec";

/// A pod's scheduling spec as HiveD reads it from `pod-scheduling-spec`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSchedulingSpec {
    /// Virtual cluster.
    pub virtual_cluster: String,
    /// -1..=1000.
    pub priority: i32,
    /// Pinned cell id, empty for none.
    #[serde(default)]
    pub pinned_cell_id: String,
    /// Leaf cell type, empty for any.
    #[serde(default)]
    pub leaf_cell_type: String,
    /// Leaf cells of this pod.
    pub leaf_cell_number: u32,
    /// Kept for compatibility; cellsim never releases a gang early.
    #[serde(default)]
    pub gang_release_enable: bool,
    /// Lazy preemption of this pod's group.
    #[serde(default)]
    pub lazy_preemption_enable: bool,
    /// Ignore Kubernetes' suggested nodes.
    #[serde(default = "default_true")]
    pub ignore_k8s_suggested_nodes: bool,
    /// The affinity group.
    pub affinity_group: AffinityGroupSpec,
}

fn default_true() -> bool {
    true
}

/// `affinityGroup` of a scheduling spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AffinityGroupSpec {
    /// Group name.
    pub name: String,
    /// Members.
    pub members: Vec<GroupMember>,
}

impl PodSchedulingSpec {
    /// The spec of one pod of `group` with `leaf_cell_number` leaves.
    pub fn for_pod(group: &GroupRequest, leaf_cell_number: u32) -> PodSchedulingSpec {
        PodSchedulingSpec {
            virtual_cluster: group.virtual_cluster.clone(),
            priority: group.priority,
            pinned_cell_id: group.pinned_cell_id.clone().unwrap_or_default(),
            leaf_cell_type: group.leaf_cell_type.clone().unwrap_or_default(),
            leaf_cell_number,
            gang_release_enable: false,
            lazy_preemption_enable: group.lazy_preemption_enable,
            ignore_k8s_suggested_nodes: group.ignore_k8s_suggested_nodes,
            affinity_group: AffinityGroupSpec {
                name: group.name.clone(),
                members: group.members.clone(),
            },
        }
    }

    /// The group request this spec describes.
    pub fn group_request(&self) -> GroupRequest {
        GroupRequest {
            name: self.affinity_group.name.clone(),
            virtual_cluster: self.virtual_cluster.clone(),
            priority: self.priority,
            leaf_cell_type: (!self.leaf_cell_type.is_empty()).then(|| self.leaf_cell_type.clone()),
            pinned_cell_id: (!self.pinned_cell_id.is_empty()).then(|| self.pinned_cell_id.clone()),
            lazy_preemption_enable: self.lazy_preemption_enable,
            ignore_k8s_suggested_nodes: self.ignore_k8s_suggested_nodes,
            members: self.affinity_group.members.clone(),
        }
    }
}

/// HiveD's `pod-bind-info`: the pod's own node and devices plus the whole group's placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodBindInfo {
    /// Node of this pod.
    pub node: String,
    /// Devices of this pod.
    pub leaf_cell_isolation: Vec<u32>,
    /// Chain of the group.
    pub cell_chain: String,
    /// Per member, the placements of its pods.
    pub affinity_group_bind_info: Vec<MemberBindInfo>,
}

/// One member's pod placements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberBindInfo {
    /// One entry per pod of the member.
    pub pod_placements: Vec<PodPlacementInfo>,
}

/// One pod's placement in a bind info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodPlacementInfo {
    /// Node.
    pub physical_node: String,
    /// Device indices.
    pub physical_leaf_cell_indices: Vec<u32>,
    /// Per device, the type of the VC preassigned cell it is in ("" when opportunistic).
    pub preassigned_cell_types: Vec<String>,
}

/// Everything recorded on one bound pod: enough to rebuild the allocator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BindRecord {
    /// Pod name (namespace/name or uid).
    pub pod: String,
    /// The pod's scheduling spec.
    pub scheduling_spec: PodSchedulingSpec,
    /// The bind info written at bind time.
    pub bind_info: PodBindInfo,
    /// The group that lazily preempted this pod's group, if any (cellsim's addition,
    /// kept so a rebuild shows the same lazy-preemption status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lazy_preemptor: Option<String>,
}

impl BindRecord {
    /// The three HiveD annotations as Kubernetes would carry them.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(
            BIND_INFO_ANNOTATION.to_string(),
            serde_yaml_ng::to_string(&self.bind_info).unwrap_or_default(),
        );
        out.insert(
            LEAF_CELL_ISOLATION_ANNOTATION.to_string(),
            self.bind_info
                .leaf_cell_isolation
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        out.insert(
            SCHEDULING_SPEC_ANNOTATION.to_string(),
            serde_yaml_ng::to_string(&self.scheduling_spec).unwrap_or_default(),
        );
        out
    }
}

/// What happened to each group while rebuilding from records.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RebuildReport {
    /// Groups restored as they were.
    pub restored: Vec<String>,
    /// Guaranteed groups their VC no longer covers: kept running as opportunistic.
    pub lazily_preempted: Vec<String>,
    /// Groups none of whose devices still exist: their pods must be deleted.
    pub lost: Vec<(String, String)>,
    /// Kept groups some of whose devices were skipped, one line per pod and cause (the
    /// device left the config, or another restored group holds it); the group's other
    /// devices stay used.
    pub warnings: Vec<String>,
}

impl Allocator {
    /// Bind records of every confirmed pod of every allocated group, in group-name order.
    pub fn bind_records(&self) -> Vec<BindRecord> {
        let mut groups: Vec<&super::allocator::Group> = self
            .groups
            .values()
            .filter(|g| g.state == GroupState::Allocated)
            .collect();
        groups.sort_by(|a, b| a.request.name.cmp(&b.request.name));
        let mut out = Vec::new();
        for g in groups {
            for (i, slot) in g.slots.iter().enumerate() {
                if let Some(pod) = &slot.pod {
                    out.push(self.bind_record(g.id, i, pod));
                }
            }
        }
        out
    }

    /// The bind record of one pod slot.
    pub(crate) fn bind_record(&self, gid: GroupId, slot: usize, pod: &str) -> BindRecord {
        let g = &self.groups[&gid];
        let placement = self.pod_placement(gid, slot);
        let mut members = Vec::new();
        let mut next = 0;
        for m in &g.request.members {
            let mut pod_placements = Vec::new();
            for _ in 0..m.pod_number {
                let s = &g.slots[next];
                next += 1;
                let p = self.pod_placement(gid, next - 1);
                let types = match &s.recorded {
                    // Devices gone from the config keep the type they were recorded with.
                    Some(recorded) => recorded
                        .devices
                        .iter()
                        .zip(&recorded.types)
                        .map(|(&d, recorded_type)| {
                            s.leaves
                                .iter()
                                .find(|&&l| self.topo.cell(l).device_index == Some(d))
                                .map_or_else(
                                    || recorded_type.clone(),
                                    |&l| self.preassigned_type_of(g, l),
                                )
                        })
                        .collect(),
                    None => {
                        let mut leaves = s.leaves.clone();
                        leaves.sort_by_key(|&l| self.topo.cell(l).device_index);
                        leaves
                            .iter()
                            .map(|&l| self.preassigned_type_of(g, l))
                            .collect()
                    }
                };
                pod_placements.push(PodPlacementInfo {
                    physical_node: p.node,
                    physical_leaf_cell_indices: p.devices,
                    preassigned_cell_types: types,
                });
            }
            members.push(MemberBindInfo { pod_placements });
        }
        BindRecord {
            pod: pod.to_string(),
            scheduling_spec: PodSchedulingSpec::for_pod(&g.request, g.slots[slot].leaf_cell_number),
            bind_info: PodBindInfo {
                node: placement.node,
                leaf_cell_isolation: placement.devices,
                cell_chain: self.topo.chains[g.chain as usize].name.clone(),
                affinity_group_bind_info: members,
            },
            lazy_preemptor: g.lazy_preemptor.clone(),
        }
    }

    fn preassigned_type_of(&self, g: &super::allocator::Group, leaf: CellId) -> String {
        if g.priority < 0 {
            return String::new();
        }
        match self.binding_of(leaf) {
            Some((vc, p)) if vc == g.vc => {
                let pre = &self.vcs[vc as usize].preassigned[p as usize];
                self.topo.chains[pre.chain as usize].level_types[pre.level as usize - 1].clone()
            }
            _ => String::new(),
        }
    }

    /// Builds an allocator for `config` and restores every group in `records`. Groups whose
    /// VC no longer covers them are lazily preempted (kept, as opportunistic); groups whose
    /// cells are gone are reported lost. Guaranteed groups are restored first, highest
    /// priority first, so they keep their quota.
    pub fn from_records(config: &CellConfig, records: &[BindRecord]) -> (Allocator, RebuildReport) {
        let mut alloc = Allocator::new(config);
        let mut report = RebuildReport::default();
        let mut by_group: BTreeMap<String, Vec<&BindRecord>> = BTreeMap::new();
        for r in records {
            by_group
                .entry(r.scheduling_spec.affinity_group.name.clone())
                .or_default()
                .push(r);
        }
        let mut order: Vec<(&String, &Vec<&BindRecord>)> = by_group.iter().collect();
        order.sort_by_key(|(name, recs)| {
            let r = recs[0];
            let downgraded = r.bind_info.affinity_group_bind_info.iter().all(|m| {
                m.pod_placements
                    .iter()
                    .all(|p| p.preassigned_cell_types.iter().all(|t| t.is_empty()))
            });
            let priority = if downgraded {
                OPPORTUNISTIC_PRIORITY
            } else {
                r.scheduling_spec.priority
            };
            (std::cmp::Reverse(priority), (*name).clone())
        });
        for (name, recs) in order {
            match alloc.restore_group(recs, &mut report.warnings) {
                Ok(true) => report.restored.push(name.clone()),
                Ok(false) => report.lazily_preempted.push(name.clone()),
                Err(why) => report.lost.push((name.clone(), why)),
            }
        }
        for chain in 0..alloc.topo.chains.len() {
            if alloc.bad_leaves > 0 {
                alloc.refresh_doomed(chain as ChainId);
            }
        }
        (alloc, report)
    }

    /// Restores one group; Ok(true) = as it was, Ok(false) = downgraded to opportunistic.
    /// Devices that are gone are skipped with a line in `warnings`.
    fn restore_group(
        &mut self,
        records: &[&BindRecord],
        warnings: &mut Vec<String>,
    ) -> Result<bool, String> {
        let first = records[0];
        let request = first.scheduling_spec.group_request();
        let Some(&vc) = self.vc_by_name.get(&request.virtual_cluster) else {
            // The VC is gone; the group can still run opportunistically if its cells exist.
            return self
                .restore_as(records, &request, 0, false, warnings)
                .map(|_| false);
        };
        let guaranteed = request.priority >= 0
            && first.bind_info.affinity_group_bind_info.iter().any(|m| {
                m.pod_placements
                    .iter()
                    .any(|p| p.preassigned_cell_types.iter().any(|t| !t.is_empty()))
            });
        // Only a guaranteed group the new config no longer covers is newly downgraded;
        // opportunistic (or already downgraded) groups come back as they were.
        self.restore_as(records, &request, vc, guaranteed, warnings)
            .map(|covered| covered || !guaranteed)
    }

    fn restore_as(
        &mut self,
        records: &[&BindRecord],
        request: &GroupRequest,
        vc: VcId,
        guaranteed: bool,
        warnings: &mut Vec<String>,
    ) -> Result<bool, String> {
        let first = records[0];
        let info = &first.bind_info;
        if self.group_by_name.contains_key(&request.name) {
            return Err("a group of that name was already restored".to_string());
        }
        // A record must describe the group it claims: one entry per member, each with
        // podNumber placements of leafCellNumber distinct devices. Anything else is a
        // spoiled record; restoring it would leave state the allocator cannot explain.
        if info.affinity_group_bind_info.len() != request.members.len()
            || info
                .affinity_group_bind_info
                .iter()
                .zip(&request.members)
                .any(|(b, m)| {
                    b.pod_placements.len() != m.pod_number as usize
                        || b.pod_placements.iter().any(|p| {
                            p.physical_leaf_cell_indices.len() != m.leaf_cell_number as usize
                                || p.preassigned_cell_types.len()
                                    != p.physical_leaf_cell_indices.len()
                        })
                })
        {
            return Err(
                "the bind info does not match the group's members (pods or devices per pod)"
                    .to_string(),
            );
        }
        // Which recorded pod runs in which placement, by node and sorted devices.
        let pod_at = |node: &str, devices: &[u32]| -> Option<String> {
            records.iter().find_map(|r| {
                let mut own = r.bind_info.leaf_cell_isolation.clone();
                own.sort_unstable();
                (r.bind_info.node == node && own == devices).then(|| r.pod.clone())
            })
        };
        let mut slots: Vec<RestoredSlot> = Vec::new();
        let mut seen = HashSet::new();
        let mut group_warnings = Vec::new();
        let mut first_missing: Option<String> = None;
        for (member, placements) in request.members.iter().zip(&info.affinity_group_bind_info) {
            for p in &placements.pod_placements {
                let mut recorded: Vec<(u32, String)> = p
                    .physical_leaf_cell_indices
                    .iter()
                    .copied()
                    .zip(p.preassigned_cell_types.iter().cloned())
                    .collect();
                recorded.sort_by_key(|&(d, _)| d);
                let devices: Vec<u32> = recorded.iter().map(|&(d, _)| d).collect();
                let pod = pod_at(&p.physical_node, &devices);
                let who = match &pod {
                    Some(name) => format!("pod {name} of group {}", request.name),
                    None => format!("an unbound pod slot of group {}", request.name),
                };
                let node = self.topo.node_by_name.get(&p.physical_node).copied();
                let mut leaves = Vec::new();
                let mut types = Vec::new();
                let (mut gone, mut held, mut twice) = (Vec::new(), Vec::new(), Vec::new());
                for (d, t) in &recorded {
                    // Node names are unique in a config, so the lookup by node and
                    // device finds the leaf in whichever chain the node now lies in.
                    match node.and_then(|n| self.topo.leaf_by_device.get(&(n, *d)).copied()) {
                        None => gone.push(*d),
                        Some(leaf) if self.cells[leaf as usize].user.is_some() => held.push(*d),
                        // A device listed twice in the group is counted once.
                        Some(leaf) if !seen.insert(leaf) => twice.push(*d),
                        Some(leaf) => {
                            leaves.push(leaf);
                            types.push(t.clone());
                        }
                    }
                }
                let on = &p.physical_node;
                if !gone.is_empty() {
                    let why = if node.is_none() {
                        format!("node {on:?} no longer exists")
                    } else {
                        format!("devices {gone:?} of node {on:?} no longer exist")
                    };
                    group_warnings.push(format!(
                        "{who}: {why}; their use is ignored and the group's other devices \
                         stay used"
                    ));
                    first_missing.get_or_insert(why);
                }
                if !held.is_empty() {
                    let why = format!(
                        "devices {held:?} of node {on:?} are already held by another restored group"
                    );
                    group_warnings.push(format!("{who}: {why}; they stay with that group"));
                    first_missing.get_or_insert(why);
                }
                if !twice.is_empty() {
                    group_warnings.push(format!(
                        "{who}: devices {twice:?} of node {on:?} are listed for another pod of \
                         the group too; the record is spoiled, they are counted once"
                    ));
                }
                let complete = leaves.len() == devices.len();
                slots.push(RestoredSlot {
                    leaf_cell_number: member.leaf_cell_number,
                    leaves,
                    types,
                    pod,
                    recorded: (!complete).then(|| {
                        Box::new(RecordedPod {
                            node: p.physical_node.clone(),
                            devices,
                            types: recorded.into_iter().map(|(_, t)| t).collect(),
                        })
                    }),
                });
            }
        }
        // A group is dropped only when none of its devices is left.
        let mut chains: Vec<ChainId> = Vec::new();
        for leaf in slots.iter().flat_map(|s| s.leaves.iter()) {
            let chain = self.topo.cell(*leaf).chain;
            if !chains.contains(&chain) {
                chains.push(chain);
            }
        }
        if chains.is_empty() {
            return Err(first_missing.unwrap_or_else(|| "the group has no devices".to_string()));
        }
        // The recorded chain stays the group's own when it still holds some of its leaves.
        if let Some(&recorded) = self.topo.chain_by_name.get(&info.cell_chain)
            && let Some(i) = chains.iter().position(|&c| c == recorded)
        {
            chains.swap(0, i);
            chains[1..].sort_unstable();
        }
        warnings.extend(group_warnings);
        let mut covered = guaranteed;
        let mut new_bindings: Vec<(VcId, u32)> = Vec::new();
        if guaranteed {
            'outer: for slot in &slots {
                for (leaf, t) in slot.leaves.iter().zip(&slot.types) {
                    if !self.cover_leaf(vc, *leaf, t, request, &mut new_bindings) {
                        covered = false;
                        break 'outer;
                    }
                }
            }
            if !covered {
                for &(v, p) in new_bindings.iter().rev() {
                    self.unbind(v, p);
                }
            }
        }
        let priority = if covered {
            request.priority
        } else {
            OPPORTUNISTIC_PRIORITY
        };
        let gid = self.next_group_id;
        self.next_group_id += 1;
        let leaves: Vec<CellId> = slots
            .iter()
            .flat_map(|s| s.leaves.iter().copied())
            .collect();
        let pod_slots = slots
            .into_iter()
            .map(|s| PodSlot {
                leaf_cell_number: s.leaf_cell_number,
                leaves: s.leaves,
                pod: s.pod,
                recorded: s.recorded,
            })
            .collect();
        self.groups.insert(
            gid,
            super::allocator::Group {
                id: gid,
                request: request.clone(),
                vc,
                chain: chains[0],
                other_chains: chains[1..].to_vec(),
                priority,
                state: GroupState::Allocated,
                slots: pod_slots,
                lazy_preempted: !covered && request.priority >= 0,
                lazy_preemptor: if covered {
                    None
                } else {
                    first.lazy_preemptor.clone()
                },
            },
        );
        self.count_group(gid, 1);
        self.group_by_name.insert(request.name.clone(), gid);
        for &leaf in &leaves {
            self.set_leaf_user(leaf, Some((gid, priority)));
            if covered {
                self.add_usage(leaf, 1);
            }
        }
        Ok(covered)
    }

    /// Makes sure `leaf` lies in a cell of type `cell_type` bound to `vc`, binding one of
    /// the VC's free preassigned cells to it if needed and safe.
    fn cover_leaf(
        &mut self,
        vc: VcId,
        leaf: CellId,
        cell_type: &str,
        request: &GroupRequest,
        new_bindings: &mut Vec<(VcId, u32)>,
    ) -> bool {
        // The leaf's own chain: a rebuilt group's node may have moved to another chain.
        let chain = self.topo.cell(leaf).chain;
        let Some(level) = self.topo.chains[chain as usize].level_of(cell_type) else {
            return false;
        };
        let Some(cell) = self.topo.ancestor_at(leaf, level) else {
            return false;
        };
        if let Some((owner, _)) = self.cells[cell as usize].bound {
            return owner == vc;
        }
        let candidate = self.vcs[vc as usize].preassigned.iter().position(|p| {
            p.chain == chain
                && p.level == level
                && p.bound.is_none()
                && self.preassigned_matches(p, request)
        });
        let Some(p) = candidate else { return false };
        if self.take_specific(cell).is_err() {
            return false;
        }
        self.bind(vc, p as u32, cell);
        if !self.is_safe(chain) {
            self.unbind(vc, p as u32);
            return false;
        }
        new_bindings.push((vc, p as u32));
        true
    }

    /// The bind record of pod `pod` (as confirmed) of the allocated group `group`, built
    /// from that group alone: work proportional to the group, not to the cluster.
    /// `None` when the group is not allocated or holds no such pod.
    pub fn pod_bind_record(&self, group: &str, pod: &str) -> Option<BindRecord> {
        let &gid = self.group_by_name.get(group)?;
        let g = self.groups.get(&gid)?;
        if g.state != GroupState::Allocated {
            return None;
        }
        let slot = g.slots.iter().position(|s| s.pod.as_deref() == Some(pod))?;
        Some(self.bind_record(gid, slot, pod))
    }

    /// Bind records of every confirmed pod of the allocated group `group` (empty when it
    /// is not allocated).
    pub fn group_bind_records(&self, group: &str) -> Vec<BindRecord> {
        let Some(&gid) = self.group_by_name.get(group) else {
            return Vec::new();
        };
        let Some(g) = self
            .groups
            .get(&gid)
            .filter(|g| g.state == GroupState::Allocated)
        else {
            return Vec::new();
        };
        g.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some(self.bind_record(gid, i, s.pod.as_deref()?)))
            .collect()
    }

    /// Names of the groups that `preemptor`'s placement lazily preempted (downgraded to
    /// opportunistic), in name order.
    pub fn groups_downgraded_by(&self, preemptor: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .groups
            .values()
            .filter(|g| g.lazy_preempted && g.lazy_preemptor.as_deref() == Some(preemptor))
            .map(|g| g.request.name.clone())
            .collect();
        names.sort();
        names
    }

    /// How many groups lazy preemption has downgraded so far (moves only then): a caller
    /// that records downgrades looks for new ones only after this changed.
    pub fn downgrade_count(&self) -> u64 {
        self.downgrades
    }
}

/// One pod placement of a bind record as a rebuild found it.
struct RestoredSlot {
    leaf_cell_number: u32,
    /// The recorded devices that still exist (and no other restored group holds).
    leaves: Vec<CellId>,
    /// Recorded preassigned cell type of each of `leaves`.
    types: Vec<String>,
    /// The recorded pod in this placement, if any.
    pod: Option<String>,
    /// The whole recorded placement, when some of its devices were skipped.
    recorded: Option<Box<RecordedPod>>,
}
