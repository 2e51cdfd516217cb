//! Inspect views (spec section 8) in the JSON shapes of HiveD's inspect API
//! (`/v1/inspect/affinitygroups`, `/v1/inspect/clusterstatus/...`). Views are computed
//! from state on demand, and virtual cell indices are canonical (bound cells first, by
//! physical position), so an allocator rebuilt from bind records shows the same views.

use std::collections::BTreeMap;

use serde::Serialize;

use super::allocator::{Allocator, GroupId, GroupState, VcId};
use super::topology::CellId;

/// A physical or virtual cell as HiveD's inspect API prints it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CellView {
    /// Leaf cell type (top-level cells only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leaf_cell_type: Option<String>,
    /// Cell type.
    pub cell_type: String,
    /// Present (true) on node-level cells.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_node_level: Option<bool>,
    /// Full address.
    pub cell_address: String,
    /// `Free|Used|Reserving|Reserved`.
    pub cell_state: String,
    /// `Healthy|Bad`.
    pub cell_healthiness: String,
    /// Highest priority in use below (-2 when free).
    pub cell_priority: i32,
    /// Children.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cell_children: Option<Vec<CellView>>,
    /// VC the cell is bound to (physical view) or owned by (nested physical cell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vc: Option<String>,
    /// Bound virtual cell (physical view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub virtual_cell: Option<Box<CellView>>,
    /// Bound physical cell (virtual view).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub physical_cell: Option<Box<CellView>>,
}

/// `GET /v1/inspect/clusterstatus`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterStatus {
    /// Physical cell trees.
    pub physical_cluster: Vec<CellView>,
    /// Virtual cell trees per VC.
    pub virtual_clusters: BTreeMap<String, Vec<CellView>>,
}

/// One entry of `GET /v1/inspect/affinitygroups`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AffinityGroupView {
    /// `{name}`.
    pub metadata: GroupMetadata,
    /// Status.
    pub status: AffinityGroupStatus,
}

/// Metadata of a group view.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupMetadata {
    /// Group name.
    pub name: String,
}

/// Status of a group view.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AffinityGroupStatus {
    /// VC.
    pub vc: String,
    /// Requested priority.
    pub priority: i32,
    /// `Allocated|Preempting|BeingPreempted`.
    pub state: String,
    /// Node -> device indices (omitted when empty, as HiveD's `omitempty`).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub physical_placement: BTreeMap<String, Vec<u32>>,
    /// Preassigned virtual cell -> virtual leaf addresses (guaranteed groups only).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub virtual_placement: BTreeMap<String, Vec<String>>,
    /// Confirmed pods.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allocated_pods: Vec<String>,
    /// Present when the group was lazily preempted (runs as opportunistic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lazy_preemption_status: Option<LazyPreemptionStatus>,
}

/// Lazy preemption status of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LazyPreemptionStatus {
    /// The group whose placement downgraded this one (HiveD's `preemptor`); empty when
    /// unknown, e.g. for a group downgraded by a config change. cellsim has no clock, so
    /// HiveD's `preemptionTime` is not shown.
    pub preemptor: String,
}

/// The affinity group list wrapper (`{"items": [...]}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AffinityGroupList {
    /// Groups by name.
    pub items: Vec<AffinityGroupView>,
}

impl Allocator {
    fn leaf_state(&self, leaf: CellId) -> (&'static str, i32) {
        let s = &self.cells[leaf as usize];
        let reserver_priority = s
            .reserved_by
            .and_then(|r| self.groups.get(&r))
            .map(|g| g.priority);
        match (s.user, reserver_priority) {
            (Some(_), Some(_)) => ("Reserving", s.priority),
            (None, Some(p)) => ("Reserved", p),
            (Some(_), None) => ("Used", s.priority),
            (None, None) => ("Free", super::allocator::FREE_PRIORITY),
        }
    }

    /// State and priority of a cell from its leaves; `only_vc` keeps only usage by that
    /// VC's guaranteed groups (the virtual view).
    fn cell_state(&self, cell: CellId, only_vc: Option<VcId>) -> (&'static str, i32) {
        let mut rank = 0;
        let mut priority = super::allocator::FREE_PRIORITY;
        for &leaf in self.topo.leaves_of(cell) {
            if let Some(vc) = only_vc
                && !self.leaf_counts_for_vc(leaf, vc)
            {
                continue;
            }
            let (state, p) = self.leaf_state(leaf);
            let r = match state {
                "Reserving" => 3,
                "Reserved" => 2,
                "Used" => 1,
                _ => 0,
            };
            rank = rank.max(r);
            if state != "Free" {
                priority = priority.max(p);
            }
        }
        let state = ["Free", "Used", "Reserved", "Reserving"][rank];
        (state, priority)
    }

    fn leaf_counts_for_vc(&self, leaf: CellId, vc: VcId) -> bool {
        let s = &self.cells[leaf as usize];
        let of_vc = |g: GroupId| {
            self.groups
                .get(&g)
                .is_some_and(|g| g.vc == vc && g.priority >= 0)
        };
        s.user.is_some_and(of_vc) || s.reserved_by.is_some_and(of_vc)
    }

    fn healthiness(&self, cell: CellId) -> String {
        if self.cells[cell as usize].bad == 0 {
            "Healthy"
        } else {
            "Bad"
        }
        .to_string()
    }

    /// Canonical index of each preassigned cell of a VC: configuration blocks in order,
    /// bound cells first by physical position inside a block.
    fn canonical_order(&self, vc: VcId) -> Vec<u32> {
        let pres = &self.vcs[vc as usize].preassigned;
        let mut idx: Vec<u32> = (0..pres.len() as u32).collect();
        idx.sort_by_key(|&i| {
            let p = &pres[i as usize];
            let block = pres
                .iter()
                .position(|q| q.chain == p.chain && q.level == p.level && q.pinned == p.pinned);
            (block, p.bound.is_none(), p.bound, i)
        });
        idx
    }

    fn virtual_index(&self, vc: VcId, pre: u32) -> usize {
        self.canonical_order(vc)
            .iter()
            .position(|&i| i == pre)
            .unwrap_or(0)
    }

    /// Virtual address of a physical cell inside the preassigned cell bound at `root`.
    fn virtual_address(&self, vc: VcId, pre: u32, root: CellId, cell: CellId) -> String {
        let mut addr = format!(
            "{}/{}",
            self.vcs[vc as usize].name,
            self.virtual_index(vc, pre)
        );
        let root_level = self.topo.cell(root).level;
        let chain = &self.topo.chains[self.topo.cell(root).chain as usize];
        let target_level = self.topo.cell(cell).level;
        for level in (target_level..root_level).rev() {
            let Some(anc) = self.topo.ancestor_at(cell, level) else {
                break;
            };
            // Below node level, indices count within the node; above it, within the root.
            let base_level = if level < chain.node_level && root_level > chain.node_level {
                chain.node_level
            } else {
                root_level
            };
            let base = self.topo.ancestor_at(anc, base_level).unwrap_or(root);
            addr.push('/');
            addr.push_str(&self.index_within(base, anc).to_string());
        }
        addr
    }

    fn index_within(&self, base: CellId, cell: CellId) -> u32 {
        let mut path = Vec::new();
        let mut c = cell;
        while c != base {
            path.push(c);
            match self.topo.cell(c).parent {
                Some(p) => c = p,
                None => break,
            }
        }
        let mut idx = 0u32;
        for &step in path.iter().rev() {
            let parent = self.topo.cell(step).parent.expect("below base");
            idx = idx * self.topo.cell(parent).children.len() as u32
                + self.topo.cell(step).child_position;
        }
        idx
    }

    /// The physical cluster view.
    pub fn physical_view(&self) -> Vec<CellView> {
        let mut out = Vec::new();
        for chain in &self.topo.chains {
            for &top in &chain.tops {
                let mut v = self.physical_cell_view(top, None);
                v.leaf_cell_type = Some(chain.leaf_type.clone());
                out.push(v);
            }
        }
        out
    }

    fn physical_cell_view(
        &self,
        cell: CellId,
        bound_above: Option<(VcId, u32, CellId)>,
    ) -> CellView {
        let shape = self.topo.cell(cell);
        let (state, priority) = self.cell_state(cell, None);
        let here = self.cells[cell as usize].bound.map(|(vc, p)| (vc, p, cell));
        let binding = here.or(bound_above);
        let mut vc_name = None;
        let mut virtual_cell = None;
        if let Some((vc, pre, root)) = binding {
            let show = here.is_some()
                || self
                    .topo
                    .leaves_of(cell)
                    .iter()
                    .any(|&l| self.leaf_counts_for_vc(l, vc));
            if show {
                vc_name = Some(self.vcs[vc as usize].name.clone());
                let (vstate, vprio) = self.cell_state(cell, Some(vc));
                let chain = &self.topo.chains[shape.chain as usize];
                virtual_cell = Some(Box::new(CellView {
                    // HiveD names the leaf type on a preassigned cell's root only.
                    leaf_cell_type: (cell == root).then(|| chain.leaf_type.clone()),
                    cell_type: shape.cell_type.clone(),
                    is_node_level: shape.is_node_level.then_some(true),
                    cell_address: self.virtual_address(vc, pre, root, cell),
                    cell_state: vstate.to_string(),
                    cell_healthiness: self.healthiness(cell),
                    cell_priority: vprio,
                    cell_children: None,
                    vc: None,
                    virtual_cell: None,
                    physical_cell: None,
                }));
            }
        }
        let children: Vec<CellView> = shape
            .children
            .iter()
            .map(|&c| self.physical_cell_view(c, binding))
            .collect();
        CellView {
            leaf_cell_type: None,
            cell_type: shape.cell_type.clone(),
            is_node_level: shape.is_node_level.then_some(true),
            cell_address: shape.address.clone(),
            cell_state: state.to_string(),
            cell_healthiness: self.healthiness(cell),
            cell_priority: priority,
            cell_children: (!children.is_empty()).then_some(children),
            vc: vc_name,
            virtual_cell,
            physical_cell: None,
        }
    }

    /// The virtual cells of every VC.
    pub fn virtual_clusters_view(&self) -> BTreeMap<String, Vec<CellView>> {
        (0..self.vcs.len() as VcId)
            .map(|vc| (self.vcs[vc as usize].name.clone(), self.vc_view(vc)))
            .collect()
    }

    /// The virtual cells of one VC, or `None` if there is no such VC.
    pub fn virtual_cluster_view(&self, name: &str) -> Option<Vec<CellView>> {
        self.vc_by_name.get(name).map(|&vc| self.vc_view(vc))
    }

    fn vc_view(&self, vc: VcId) -> Vec<CellView> {
        let order = self.canonical_order(vc);
        order
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let pre = &self.vcs[vc as usize].preassigned[p as usize];
                let chain = &self.topo.chains[pre.chain as usize];
                let address = format!("{}/{}", self.vcs[vc as usize].name, i);
                let mut view = match pre.bound {
                    Some(cell) => self.bound_virtual_view(vc, p, cell, cell),
                    None => {
                        self.unbound_virtual_view(pre.chain, pre.level, pre.level, &address, (0, 0))
                    }
                };
                view.leaf_cell_type = Some(chain.leaf_type.clone());
                view
            })
            .collect()
    }

    fn bound_virtual_view(&self, vc: VcId, pre: u32, root: CellId, cell: CellId) -> CellView {
        let shape = self.topo.cell(cell);
        let (vstate, vprio) = self.cell_state(cell, Some(vc));
        let (pstate, pprio) = self.cell_state(cell, None);
        let show_physical = cell == root
            || self
                .topo
                .leaves_of(cell)
                .iter()
                .any(|&l| self.leaf_counts_for_vc(l, vc));
        let children: Vec<CellView> = shape
            .children
            .iter()
            .map(|&c| self.bound_virtual_view(vc, pre, root, c))
            .collect();
        CellView {
            leaf_cell_type: None,
            cell_type: shape.cell_type.clone(),
            is_node_level: shape.is_node_level.then_some(true),
            cell_address: self.virtual_address(vc, pre, root, cell),
            cell_state: vstate.to_string(),
            cell_healthiness: self.healthiness(cell),
            cell_priority: vprio,
            cell_children: (!children.is_empty()).then_some(children),
            vc: None,
            virtual_cell: None,
            physical_cell: show_physical.then(|| {
                Box::new(CellView {
                    leaf_cell_type: None,
                    cell_type: shape.cell_type.clone(),
                    is_node_level: shape.is_node_level.then_some(true),
                    cell_address: shape.address.clone(),
                    cell_state: pstate.to_string(),
                    cell_healthiness: self.healthiness(cell),
                    cell_priority: pprio,
                    cell_children: None,
                    vc: Some(self.vcs[vc as usize].name.clone()),
                    virtual_cell: None,
                    physical_cell: None,
                })
            }),
        }
    }

    /// A not-yet-bound preassigned cell's virtual tree. Addresses follow the physical
    /// default rule: below node level, indices count within the node; above, within the
    /// preassigned cell. `at` = (index within the preassigned cell, index within the node).
    fn unbound_virtual_view(
        &self,
        chain: u16,
        root_level: u8,
        level: u8,
        address: &str,
        at: (u32, u32),
    ) -> CellView {
        let c = &self.topo.chains[chain as usize];
        let children: Vec<CellView> = if level > 1 {
            let fan = c.fan_out[level as usize - 1];
            (0..fan)
                .map(|i| {
                    let in_root = at.0 * fan + i;
                    let in_node = if level == c.node_level {
                        i
                    } else {
                        at.1 * fan + i
                    };
                    let segment = if level - 1 < c.node_level && root_level > c.node_level {
                        in_node
                    } else {
                        in_root
                    };
                    self.unbound_virtual_view(
                        chain,
                        root_level,
                        level - 1,
                        &format!("{address}/{segment}"),
                        (in_root, in_node),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        CellView {
            leaf_cell_type: None,
            cell_type: c.level_types[level as usize - 1].clone(),
            is_node_level: (level == c.node_level).then_some(true),
            cell_address: address.to_string(),
            cell_state: "Free".to_string(),
            cell_healthiness: "Healthy".to_string(),
            cell_priority: super::allocator::FREE_PRIORITY,
            cell_children: (!children.is_empty()).then_some(children),
            vc: None,
            virtual_cell: None,
            physical_cell: None,
        }
    }

    /// The whole cluster status.
    pub fn cluster_status(&self) -> ClusterStatus {
        ClusterStatus {
            physical_cluster: self.physical_view(),
            virtual_clusters: self.virtual_clusters_view(),
        }
    }

    /// All live groups, by name.
    pub fn affinity_groups_view(&self) -> AffinityGroupList {
        let mut items: Vec<AffinityGroupView> =
            self.groups.keys().map(|&g| self.group_view(g)).collect();
        items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        AffinityGroupList { items }
    }

    /// One group's view.
    pub fn affinity_group_view(&self, name: &str) -> Option<AffinityGroupView> {
        self.group_by_name.get(name).map(|&g| self.group_view(g))
    }

    fn group_view(&self, gid: GroupId) -> AffinityGroupView {
        let g = &self.groups[&gid];
        let being_preempted = g.state == GroupState::Allocated
            && g.all_leaves()
                .any(|l| self.cells[l as usize].reserved_by.is_some_and(|r| r != gid));
        let state = match g.state {
            GroupState::Preempting => "Preempting",
            GroupState::Allocated if being_preempted => "BeingPreempted",
            GroupState::Allocated => "Allocated",
        };
        let mut physical: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        let mut virtual_placement: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for leaf in g.all_leaves() {
            if let (Some(node), Some(d)) =
                (self.topo.node_name(leaf), self.topo.cell(leaf).device_index)
            {
                physical.entry(node.to_string()).or_default().push(d);
            }
            if g.priority >= 0
                && let Some((vc, pre)) = self.binding_of(leaf)
                && vc == g.vc
            {
                let root = self.vcs[vc as usize].preassigned[pre as usize]
                    .bound
                    .expect("bound");
                let key = self.virtual_address(vc, pre, root, root);
                virtual_placement
                    .entry(key)
                    .or_default()
                    .push(self.virtual_address(vc, pre, root, leaf));
            }
        }
        for v in physical.values_mut() {
            v.sort_unstable();
        }
        for v in virtual_placement.values_mut() {
            v.sort();
        }
        AffinityGroupView {
            metadata: GroupMetadata {
                name: g.request.name.clone(),
            },
            status: AffinityGroupStatus {
                vc: g.request.virtual_cluster.clone(),
                priority: g.request.priority,
                state: state.to_string(),
                physical_placement: physical,
                virtual_placement,
                allocated_pods: g.slots.iter().filter_map(|s| s.pod.clone()).collect(),
                lazy_preemption_status: g.lazy_preempted.then(|| LazyPreemptionStatus {
                    preemptor: g.lazy_preemptor.clone().unwrap_or_default(),
                }),
            },
        }
    }

    /// Leaf cells in use per VC as `(guaranteed, opportunistic)`, where lazily preempted
    /// groups count as opportunistic; preempting groups' reservations are not counted.
    /// The same sums as over [`Allocator::affinity_groups_view`], without building any
    /// view: `/metrics` asks on every scrape, under the state lock.
    pub fn vc_leaves_in_use(&self) -> BTreeMap<String, (u64, u64)> {
        let mut used: BTreeMap<String, (u64, u64)> = BTreeMap::new();
        for g in self.groups.values() {
            if g.state == GroupState::Preempting {
                continue;
            }
            let leaves: u64 = g.slots.iter().map(|s| s.leaves.len() as u64).sum();
            let entry = used.entry(g.request.virtual_cluster.clone()).or_default();
            if g.request.priority < 0 || g.lazy_preempted {
                entry.1 += leaves;
            } else {
                entry.0 += leaves;
            }
        }
        used
    }
}
