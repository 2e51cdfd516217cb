//! Bind records: what is written on a pod when it is bound (HiveD's `pod-bind-info`,
//! `pod-leaf-cell-isolation` and `pod-scheduling-spec` annotations), and rebuilding all
//! allocator state from them after a restart or a config change (spec section 7).

use std::collections::{BTreeMap, HashSet};

use serde::{Deserialize, Serialize};

use super::allocator::{Allocator, GroupId, GroupState, PodSlot, VcId};
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
    /// Groups whose cells no longer exist or conflict: their pods must be deleted.
    pub lost: Vec<(String, String)>,
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
                let mut leaves = s.leaves.clone();
                leaves.sort_by_key(|&l| self.topo.cell(l).device_index);
                let types = leaves
                    .iter()
                    .map(|&l| self.preassigned_type_of(g, l))
                    .collect();
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
            match alloc.restore_group(recs) {
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
    fn restore_group(&mut self, records: &[&BindRecord]) -> Result<bool, String> {
        let first = records[0];
        let request = first.scheduling_spec.group_request();
        let Some(&vc) = self.vc_by_name.get(&request.virtual_cluster) else {
            // The VC is gone; the group can still run opportunistically if its cells exist.
            return self.restore_as(records, &request, 0, false).map(|_| false);
        };
        let guaranteed = request.priority >= 0
            && first.bind_info.affinity_group_bind_info.iter().any(|m| {
                m.pod_placements
                    .iter()
                    .any(|p| p.preassigned_cell_types.iter().any(|t| !t.is_empty()))
            });
        // Only a guaranteed group the new config no longer covers is newly downgraded;
        // opportunistic (or already downgraded) groups come back as they were.
        self.restore_as(records, &request, vc, guaranteed)
            .map(|covered| covered || !guaranteed)
    }

    fn restore_as(
        &mut self,
        records: &[&BindRecord],
        request: &GroupRequest,
        vc: VcId,
        guaranteed: bool,
    ) -> Result<bool, String> {
        let first = records[0];
        let info = &first.bind_info;
        let Some(&chain) = self.topo.chain_by_name.get(&info.cell_chain) else {
            return Err(format!("chain {:?} no longer exists", info.cell_chain));
        };
        if self.group_by_name.contains_key(&request.name) {
            return Err("a group of that name was already restored".to_string());
        }
        // Slots in member order with their leaves and preassigned types.
        let mut slots: Vec<(u32, Vec<CellId>, Vec<String>)> = Vec::new();
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
        let mut seen = HashSet::new();
        for (m, member) in info.affinity_group_bind_info.iter().enumerate() {
            let size = request
                .members
                .get(m)
                .map(|x| x.leaf_cell_number)
                .unwrap_or(0);
            for p in &member.pod_placements {
                let Some(&node) = self.topo.node_by_name.get(&p.physical_node) else {
                    return Err(format!("node {:?} no longer exists", p.physical_node));
                };
                let mut leaves = Vec::new();
                for &d in &p.physical_leaf_cell_indices {
                    match self.topo.leaf_by_device.get(&(node, d)) {
                        Some(&l) if self.topo.cell(l).chain == chain => leaves.push(l),
                        _ => {
                            return Err(format!(
                                "device {d} on node {:?} no longer exists",
                                p.physical_node
                            ));
                        }
                    }
                }
                if leaves
                    .iter()
                    .any(|&l| self.cells[l as usize].user.is_some())
                {
                    return Err(format!(
                        "devices on {:?} are already used by another group",
                        p.physical_node
                    ));
                }
                if leaves.iter().any(|&l| !seen.insert(l)) {
                    return Err(format!(
                        "a device on {:?} is listed twice in the group",
                        p.physical_node
                    ));
                }
                slots.push((size, leaves, p.preassigned_cell_types.clone()));
            }
        }
        let mut covered = guaranteed;
        let mut new_bindings: Vec<(VcId, u32)> = Vec::new();
        if guaranteed {
            'outer: for (_, leaves, types) in &slots {
                for (leaf, t) in leaves.iter().zip(types) {
                    if !self.cover_leaf(vc, chain, *leaf, t, request, &mut new_bindings) {
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
        let pods: HashSet<(String, Vec<u32>)> = records
            .iter()
            .map(|r| {
                (
                    r.bind_info.node.clone(),
                    r.bind_info.leaf_cell_isolation.clone(),
                )
            })
            .collect();
        let mut names: BTreeMap<(String, Vec<u32>), String> = BTreeMap::new();
        for r in records {
            names.insert(
                (
                    r.bind_info.node.clone(),
                    r.bind_info.leaf_cell_isolation.clone(),
                ),
                r.pod.clone(),
            );
        }
        let mut pod_slots = Vec::new();
        for (size, leaves, _) in &slots {
            let node = leaves
                .first()
                .and_then(|&l| self.topo.node_name(l))
                .unwrap_or_default()
                .to_string();
            let mut devices: Vec<u32> = leaves
                .iter()
                .filter_map(|&l| self.topo.cell(l).device_index)
                .collect();
            devices.sort_unstable();
            let key = (node, devices);
            let pod = if pods.contains(&key) {
                names.get(&key).cloned()
            } else {
                None
            };
            pod_slots.push(PodSlot {
                leaf_cell_number: *size,
                leaves: leaves.clone(),
                pod,
            });
        }
        self.groups.insert(
            gid,
            super::allocator::Group {
                id: gid,
                request: request.clone(),
                vc,
                chain,
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
        for (_, leaves, _) in &slots {
            for &leaf in leaves {
                self.set_leaf_user(leaf, Some((gid, priority)));
                if covered {
                    self.add_usage(leaf, 1);
                }
            }
        }
        Ok(covered)
    }

    /// Makes sure `leaf` lies in a cell of type `cell_type` bound to `vc`, binding one of
    /// the VC's free preassigned cells to it if needed and safe.
    fn cover_leaf(
        &mut self,
        vc: VcId,
        chain: ChainId,
        leaf: CellId,
        cell_type: &str,
        request: &GroupRequest,
        new_bindings: &mut Vec<(VcId, u32)>,
    ) -> bool {
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
