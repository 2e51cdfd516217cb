//! The allocator's state and its public API: schedule a group, confirm pods, release,
//! mark nodes, and the group lifecycle (allocated, preempting, lazily preempted).
//! Buddy binding lives in `buddy.rs`, leaf choice in `packing.rs`, bad nodes in
//! `health.rs`, bind records in `bindinfo.rs`, views in `inspect.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use super::decision::*;
use super::request::*;
use super::topology::*;
use crate::config::CellConfig;

/// Index of a VC in the allocator.
pub type VcId = u16;
/// Stable id of a live group (never reused within one allocator).
pub type GroupId = u64;

/// Priority recorded on a free leaf (HiveD's `freePriority`).
pub const FREE_PRIORITY: i32 = -2;

/// Dynamic state of one physical cell.
#[derive(Debug, Clone, Default)]
pub(crate) struct CellState {
    /// Buddy: the cell is split (some descendant is bound).
    pub split: bool,
    /// Buddy: the cell is in its level's free list.
    pub free: bool,
    /// Bound to this VC's preassigned cell (index into `Vc::preassigned`).
    pub bound: Option<(VcId, u32)>,
    /// Leaves in the subtree used by any group.
    pub used: u32,
    /// Leaves in the subtree used at opportunistic priority.
    pub opp_used: u32,
    /// Unhealthy leaves in the subtree.
    pub bad: u32,
    /// Leaves in the subtree that are healthy, unused and unreserved: the room a
    /// free-only placement has. Kept up to date on every leaf change so that placement
    /// reads one counter instead of scanning leaves.
    pub vacant: u32,
    /// Used leaves in the subtree per physical priority, ascending by priority, no zero
    /// counts; always empty on leaves (a leaf's `user` and `priority` say it). Gives
    /// packing its same/higher-priority counts and the room of a preemption pass
    /// without a leaf scan.
    pub used_by_priority: Vec<(i32, u32)>,
    /// Leaf only: the group using it.
    pub user: Option<GroupId>,
    /// Leaf only: that group's physical priority, or `FREE_PRIORITY`.
    pub priority: i32,
    /// Leaf only: the preemptor that reserved it.
    pub reserved_by: Option<GroupId>,
}

impl CellState {
    /// Leaf only: whether a free-only placement may take it (healthy, unused, unreserved).
    pub(crate) fn is_vacant_leaf(&self) -> bool {
        self.bad == 0 && self.user.is_none() && self.reserved_by.is_none()
    }
}

/// Moves `n` used leaves from priority `old` to `new` in `counts` (`None`: not in use).
/// The same as moving them one at a time: a count only clamps at zero.
fn move_priority(counts: &mut Vec<(i32, u32)>, old: Option<i32>, new: Option<i32>, n: u32) {
    if old == new || n == 0 {
        return;
    }
    let n = n as i32;
    if let Some(p) = old {
        count_priority(counts, p, -n);
    }
    if let Some(p) = new {
        count_priority(counts, p, n);
    }
}

/// The summed change of a batch's leaves below one ancestor, carried up the tree by
/// [`Allocator::set_leaves_user`] so that each ancestor is updated once per batch.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AncestorDelta {
    cell: CellId,
    used: i64,
    opp: i64,
    vacant: i64,
    /// Leaves below whose priority moved (from the run's old priority to the new one).
    moved: u32,
    /// Whether these leaves lie in a bound cell below `cell`: a leaf counts in the VC
    /// totals of the first bound cell above it only.
    bound_below: bool,
}

/// Appends `d` to `out`, adding it to the last entry instead when that one is for the
/// same cell on the same terms (a batch's leaves come in subtree runs).
fn push_merged(out: &mut Vec<AncestorDelta>, d: AncestorDelta) {
    if let Some(last) = out.last_mut()
        && last.cell == d.cell
        && last.bound_below == d.bound_below
    {
        last.used += d.used;
        last.opp += d.opp;
        last.vacant += d.vacant;
        last.moved += d.moved;
        return;
    }
    out.push(d);
}

/// Adds `delta` to the count of `priority` in a per-priority list kept sorted ascending,
/// dropping entries that reach zero.
fn count_priority(counts: &mut Vec<(i32, u32)>, priority: i32, delta: i32) {
    match counts.binary_search_by_key(&priority, |&(p, _)| p) {
        Ok(i) => {
            let n = (counts[i].1 as i32 + delta).max(0) as u32;
            if n == 0 {
                counts.remove(i);
            } else {
                counts[i].1 = n;
            }
        }
        Err(i) if delta > 0 => counts.insert(i, (priority, delta as u32)),
        Err(_) => {}
    }
}

/// Totals over a VC's bound, unpinned preassigned cells on one chain, kept on every leaf
/// change and binding: the room of a guaranteed request's pass and its wait reason
/// without a walk over the VC's cells (a VC of 40 node cells has 40 of them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VcRoom {
    /// Vacant leaves in the bound cells.
    pub vacant: u32,
    /// Used leaves in the bound cells per physical priority, as `CellState`'s.
    pub used_by_priority: Vec<(i32, u32)>,
    /// Leaves of the bound cells.
    pub bound_leaves: u64,
    /// Leaves of the unbound cells.
    pub unbound_leaves: u64,
}

impl VcRoom {
    /// Used leaves in the bound cells at `priority` or higher.
    pub(crate) fn used_at_or_above(&self, priority: i32) -> u64 {
        self.used_by_priority
            .iter()
            .filter(|&&(p, _)| p >= priority)
            .map(|&(_, n)| u64::from(n))
            .sum()
    }
}

/// One preassigned (or pinned) cell of a VC: the unit of its guarantee.
#[derive(Debug, Clone)]
pub(crate) struct Preassigned {
    pub chain: ChainId,
    pub level: u8,
    pub pinned: Option<String>,
    /// Physical cell it is bound to.
    pub bound: Option<CellId>,
    /// Bound to a bad cell so the VC's accounting shows the loss (spec section 6).
    pub doomed: bool,
    /// Leaves in use or reserved by this VC's guaranteed groups.
    pub usage: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Vc {
    pub name: String,
    pub preassigned: Vec<Preassigned>,
}

/// The extender phase a live schedule call is in (spec section 9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchedulePhase {
    /// kube-scheduler's filter call: a preemption is only reported, nothing reserved.
    Filtering,
    /// kube-scheduler's preempt call: a preemption reserves the preemptor's cells.
    Preempting,
}

/// Lifecycle state of a group, as the inspect API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum GroupState {
    /// Placed and running (or about to).
    Allocated,
    /// Waiting for its victims to leave; its cells are reserved.
    Preempting,
}

/// One pod slot of a placed group.
#[derive(Debug, Clone)]
pub(crate) struct PodSlot {
    pub leaf_cell_number: u32,
    pub leaves: Vec<CellId>,
    /// Pod bound to this slot (confirmed), if any.
    pub pod: Option<String>,
    /// Where the pod was recorded to run when some of its devices are no longer in the
    /// config (a rebuild after a node was deleted): `leaves` then holds only the devices
    /// that still exist, and this keeps the pod's whole placement for its bind record.
    pub recorded: Option<Box<RecordedPod>>,
}

/// A rebuilt pod's placement as its bind record gave it, kept when some of its devices
/// are gone from the config (spec section 7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordedPod {
    /// Node name as recorded.
    pub node: String,
    /// Device indices as recorded, sorted.
    pub devices: Vec<u32>,
    /// Per recorded device (same order), its preassigned cell type as recorded.
    pub types: Vec<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct Group {
    pub id: GroupId,
    pub request: GroupRequest,
    pub vc: VcId,
    pub chain: ChainId,
    /// Further chains the group's leaves lie in: empty except for a group rebuilt after a
    /// config change moved some of its nodes to another chain (spec section 7).
    pub other_chains: Vec<ChainId>,
    /// Physical priority: the request's, or -1 once lazily preempted.
    pub priority: i32,
    pub state: GroupState,
    pub slots: Vec<PodSlot>,
    pub lazy_preempted: bool,
    /// The group whose placement downgraded this one, when known.
    pub lazy_preemptor: Option<String>,
}

impl Group {
    pub(crate) fn all_leaves(&self) -> impl Iterator<Item = CellId> + '_ {
        self.slots.iter().flat_map(|s| s.leaves.iter().copied())
    }
}

/// The cell allocator. See the module docs and `spec/hived-semantics.md`.
#[derive(Debug, Clone)]
pub struct Allocator {
    /// Shared, never changed after `new`: cloning the allocator (lazy preemption's undo
    /// snapshot) then copies only the dynamic state.
    pub(crate) config: Arc<CellConfig>,
    pub(crate) topo: Arc<Topology>,
    pub(crate) cells: Vec<CellState>,
    /// Free lists per chain and level (index level-1), ordered by cell id for determinism.
    pub(crate) free_lists: Vec<Vec<BTreeSet<CellId>>>,
    /// Unbound non-pinned preassigned cells per chain and level (index level-1).
    pub(crate) demand: Vec<Vec<u32>>,
    pub(crate) vcs: Vec<Vc>,
    pub(crate) vc_by_name: BTreeMap<String, VcId>,
    pub(crate) groups: BTreeMap<GroupId, Group>,
    pub(crate) group_by_name: NameMap<GroupId>,
    pub(crate) next_group_id: GroupId,
    pub(crate) bad_leaves: u32,
    /// Leaves reserved by preempting groups; while none are, an unused healthy cell is
    /// wholly available without looking at its leaves.
    pub(crate) reserved_leaves: u32,
    /// Live guaranteed groups per (VC, chain, priority), and opportunistic ones per chain:
    /// when a chain holds nothing a request may preempt, its preemption pass is skipped
    /// (it would scan every cell of the VC to find nothing).
    pub(crate) guaranteed_groups: BTreeMap<(VcId, ChainId, i32), u32>,
    pub(crate) opportunistic_groups: Vec<u32>,
    /// Leaves per chain, and per VC and chain the leaves of the VC's unpinned
    /// preassigned cells: fixed by the config, asked on every request check.
    pub(crate) chain_capacity: Vec<u64>,
    pub(crate) vc_capacity: Vec<Vec<u64>>,
    /// Per VC and chain: whether the VC has unpinned preassigned cells there (the chains
    /// a guaranteed request may use), fixed by the config.
    pub(crate) vc_on_chain: Vec<Vec<bool>>,
    /// Used leaves per chain (the sum of its top cells' `used`), kept on every leaf
    /// change: an opportunistic group's wait reason without a walk over the tops.
    pub(crate) chain_used: Vec<u64>,
    /// Groups downgraded by lazy preemption so far: a model that tracks downgrades need
    /// look for new ones only after this moved.
    pub(crate) downgrades: u64,
    /// Per VC and chain: totals over its bound, unpinned preassigned cells.
    pub(crate) vc_room: Vec<Vec<VcRoom>>,
    /// Scratch list of packing units, reused by every placement (`packing.rs`); empty
    /// between calls.
    pub(crate) unit_buffer: Vec<super::packing::Unit>,
    /// Scratch list of the cells a ranked placement takes out of its index
    /// (`packing.rs`); empty between calls.
    pub(crate) excluded_buffer: Vec<CellId>,
    /// Scratch list of the leaves of a batched leaf change (`set_leaves_user`); empty
    /// between calls, so a clone copies nothing.
    pub(crate) leaf_buffer: Vec<CellId>,
    /// Scratch lists of `set_leaves_user`'s pending ancestor updates, of one tree level
    /// and of the next; empty between calls.
    pub(crate) walk_buffers: [Vec<AncestorDelta>; 2],
    /// Scratch list of a schedule call's candidate chains; empty between calls.
    pub(crate) chain_buffer: Vec<ChainId>,
    /// Memo of `could_ever_fit` per request shape; depends on the config only.
    pub(crate) fit_cache: std::cell::RefCell<HashMap<u64, Vec<FitMemo>, BuildNameHasher>>,
    /// Ranking indexes of the free-only pass (`rank.rs`).
    pub(crate) rank: super::rank::RankIndexes,
    /// Whether placement may use the ranking indexes; tests turn it off to compare.
    pub(crate) rank_enabled: bool,
}

/// One memoised `could_ever_fit` answer: the parts of a request that decide whether it
/// could ever fit, and the answer. The memo is filed under a fingerprint of those parts
/// hashed straight from the request and compared field by field, so no key is built per
/// call. (The same pod sizes in another member order get an entry of their own, with
/// the same answer.)
#[derive(Debug, Clone)]
pub(crate) struct FitMemo {
    vc: VcId,
    chain: ChainId,
    opportunistic: bool,
    pinned: Option<String>,
    members: Vec<GroupMember>,
    fits: bool,
}

impl FitMemo {
    /// The fingerprint a request's memo is filed under.
    fn fingerprint(request: &GroupRequest, vc: VcId, chain: ChainId) -> u64 {
        use std::hash::{BuildHasher, Hash, Hasher};
        // A fixed seed: the fingerprint only files the memo, whose entries are compared
        // field by field.
        let mut h = foldhash::fast::FixedState::default().build_hasher();
        (vc, chain, request.is_opportunistic()).hash(&mut h);
        request.members.hash(&mut h);
        request.pinned_cell_id.hash(&mut h);
        h.finish()
    }

    fn answers(&self, request: &GroupRequest, vc: VcId, chain: ChainId) -> bool {
        self.vc == vc
            && self.chain == chain
            && self.opportunistic == request.is_opportunistic()
            && self.members == request.members
            && self.pinned == request.pinned_cell_id
    }
}

/// Hasher of the group-name map: names are short and looked up on every schedule call,
/// where SipHash was a visible cost. foldhash is about as fast as FxHash and seeded at
/// random per process, so group names crafted by users of the live server cannot be
/// aimed at one bucket. Map order is never used, so runs stay deterministic.
pub(crate) type BuildNameHasher = foldhash::fast::RandomState;

/// Map from group name, hashed with [`BuildNameHasher`].
pub(crate) type NameMap<V> = HashMap<String, V, BuildNameHasher>;

/// Errors of calls that name things the allocator does not know. The caller can continue;
/// state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AllocatorError {
    /// No such node.
    #[error("unknown node {0:?}")]
    UnknownNode(String),
    /// No such live group.
    #[error("unknown group {0:?}")]
    UnknownGroup(String),
    /// The group has no free slot for this pod.
    #[error("{0}")]
    NoSlot(String),
}

impl Allocator {
    /// Builds an allocator with all cells free and healthy; pinned cells are bound at once.
    pub fn new(config: &CellConfig) -> Allocator {
        let topo = Topology::build(config);
        let mut cells: Vec<CellState> = topo
            .cells
            .iter()
            .map(|shape| CellState {
                priority: FREE_PRIORITY,
                vacant: shape.leaf_count(),
                ..Default::default()
            })
            .collect();
        let mut free_lists: Vec<Vec<BTreeSet<CellId>>> = topo
            .chains
            .iter()
            .map(|c| vec![BTreeSet::new(); c.top_level() as usize])
            .collect();
        for (ci, chain) in topo.chains.iter().enumerate() {
            for &top in &chain.tops {
                free_lists[ci][chain.top_level() as usize - 1].insert(top);
                cells[top as usize].free = true;
            }
        }
        let demand = topo
            .chains
            .iter()
            .map(|c| vec![0u32; c.top_level() as usize])
            .collect();
        let topo_chain_count = topo.chains.len();
        let mut alloc = Allocator {
            config: Arc::new(config.clone()),
            topo: Arc::new(topo),
            cells,
            free_lists,
            demand,
            vcs: Vec::new(),
            vc_by_name: BTreeMap::new(),
            groups: BTreeMap::new(),
            group_by_name: NameMap::default(),
            next_group_id: 0,
            bad_leaves: 0,
            reserved_leaves: 0,
            guaranteed_groups: BTreeMap::new(),
            opportunistic_groups: vec![0; topo_chain_count],
            chain_capacity: Vec::new(),
            vc_capacity: Vec::new(),
            vc_on_chain: Vec::new(),
            chain_used: vec![0; topo_chain_count],
            downgrades: 0,
            vc_room: Vec::new(),
            unit_buffer: Vec::new(),
            excluded_buffer: Vec::new(),
            leaf_buffer: Vec::new(),
            chain_buffer: Vec::new(),
            walk_buffers: Default::default(),
            fit_cache: Default::default(),
            rank: Default::default(),
            rank_enabled: true,
        };
        for (name, spec) in &config.virtual_clusters {
            let vc_id = alloc.vcs.len() as VcId;
            let mut preassigned = Vec::new();
            for vcell in &spec.virtual_cells {
                let Some(&chain) = alloc.topo.chain_by_name.get(&vcell.chain) else {
                    continue;
                };
                let Some(level) = alloc.topo.chains[chain as usize].level_of(&vcell.cell_type)
                else {
                    continue;
                };
                for _ in 0..vcell.cell_number {
                    preassigned.push(Preassigned {
                        chain,
                        level,
                        pinned: None,
                        bound: None,
                        doomed: false,
                        usage: 0,
                    });
                    alloc.demand[chain as usize][level as usize - 1] += 1;
                }
            }
            for pin in &spec.pinned_cells {
                let Some(&cell) = alloc.topo.pinned.get(pin) else {
                    continue;
                };
                let shape = alloc.topo.cell(cell);
                preassigned.push(Preassigned {
                    chain: shape.chain,
                    level: shape.level,
                    pinned: Some(pin.clone()),
                    bound: None,
                    doomed: false,
                    usage: 0,
                });
            }
            alloc.vcs.push(Vc {
                name: name.clone(),
                preassigned,
            });
            alloc.vc_by_name.insert(name.clone(), vc_id);
        }
        alloc.chain_capacity = alloc
            .topo
            .chains
            .iter()
            .map(|c| {
                c.tops
                    .iter()
                    .map(|&t| u64::from(alloc.topo.cell(t).leaf_count()))
                    .sum()
            })
            .collect();
        alloc.vc_capacity = alloc
            .vcs
            .iter()
            .map(|v| {
                let mut per_chain = vec![0u64; alloc.topo.chains.len()];
                for p in v.preassigned.iter().filter(|p| p.pinned.is_none()) {
                    per_chain[p.chain as usize] +=
                        u64::from(alloc.level_leaf_count(p.chain, p.level));
                }
                per_chain
            })
            .collect();
        alloc.vc_on_chain = alloc
            .vcs
            .iter()
            .map(|v| {
                let mut on_chain = vec![false; alloc.topo.chains.len()];
                for p in v.preassigned.iter().filter(|p| p.pinned.is_none()) {
                    on_chain[p.chain as usize] = true;
                }
                on_chain
            })
            .collect();
        alloc.vc_room = alloc
            .vc_capacity
            .iter()
            .map(|per_chain| {
                per_chain
                    .iter()
                    .map(|&leaves| VcRoom {
                        unbound_leaves: leaves,
                        ..VcRoom::default()
                    })
                    .collect()
            })
            .collect();
        // Pinned cells are bound at start-up (spec section 3).
        for vc in 0..alloc.vcs.len() {
            for p in 0..alloc.vcs[vc].preassigned.len() {
                if let Some(pin) = alloc.vcs[vc].preassigned[p].pinned.clone() {
                    let cell = alloc.topo.pinned[&pin];
                    if alloc.take_specific(cell).is_ok() {
                        alloc.bind(vc as VcId, p as u32, cell);
                    }
                }
            }
        }
        alloc
    }

    /// The config the allocator was built from.
    pub fn config(&self) -> &CellConfig {
        &self.config
    }

    /// The immutable cluster shape.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// Names of the virtual clusters.
    pub fn vc_names(&self) -> impl Iterator<Item = &str> {
        self.vcs.iter().map(|v| v.name.as_str())
    }

    /// Places a whole group, or says why not. Placing commits the group as `Allocated`
    /// (its pods then take its slots with [`Allocator::confirm_pod`]); a preemption
    /// reserves the cells and marks the group `Preempting` until the victims are gone and
    /// the same request is scheduled again. `suggested_nodes` limits placement to those
    /// nodes unless the request ignores suggestions. This is the extender's Preempting
    /// phase; the simulator decides every request this way.
    pub fn schedule(
        &mut self,
        request: &GroupRequest,
        suggested_nodes: Option<&HashSet<String>>,
    ) -> Decision {
        self.schedule_in_phase(request, suggested_nodes, SchedulePhase::Preempting)
    }

    /// [`Allocator::schedule`] in a given extender phase (spec section 9): in
    /// [`SchedulePhase::Filtering`] a preemption is only reported (its victims), nothing
    /// is reserved and no group enters `Preempting`; in [`SchedulePhase::Preempting`] it
    /// reserves the preemptor's cells. A group already preempting is decided again in
    /// either phase: when its reservation touches a bad node, or a node this call does
    /// not suggest (unless it ignores suggestions), the preemption is cancelled and it
    /// waits; when its victims are gone it binds.
    pub fn schedule_in_phase(
        &mut self,
        request: &GroupRequest,
        suggested_nodes: Option<&HashSet<String>>,
        phase: SchedulePhase,
    ) -> Decision {
        let vc = match self.check_request(request) {
            Ok(vc) => vc,
            Err(error) => return Decision::Reject { error },
        };
        let suggested = if request.ignore_k8s_suggested_nodes {
            None
        } else {
            suggested_nodes
        };
        if let Some(&gid) = self.group_by_name.get(&request.name) {
            return self.schedule_existing(gid, request, suggested);
        }
        let reserve = phase == SchedulePhase::Preempting;
        let decision = self.schedule_new(request, vc, suggested, true, reserve);
        if self.bad_leaves > 0 && matches!(decision, Decision::Bind(_) | Decision::Preempt { .. }) {
            // Doomed bindings are a function of the current state, so a placement (and its
            // release) leaves them exactly as a fresh computation would.
            self.refresh_all_doomed();
        }
        decision
    }

    pub(crate) fn refresh_all_doomed(&mut self) {
        for chain in 0..self.topo.chains.len() {
            self.refresh_doomed(chain as ChainId);
        }
    }

    fn schedule_existing(
        &mut self,
        gid: GroupId,
        request: &GroupRequest,
        suggested: Option<&HashSet<String>>,
    ) -> Decision {
        let group = &self.groups[&gid];
        if group.request.members != request.members
            || group.request.virtual_cluster != request.virtual_cluster
        {
            return Decision::Reject {
                error: RequestError::GroupConflict(format!(
                    "group {:?} is already placed with a different VC or members; use a new group name",
                    request.name
                )),
            };
        }
        match group.state {
            // An allocated group insists on its placement, even on nodes that went bad
            // or are not suggested now (HiveD).
            GroupState::Allocated => Decision::Bind(self.placement_of(gid)),
            GroupState::Preempting => {
                let (bad, unsuggested) = self.reservation_trouble(gid, suggested);
                if !bad.is_empty() || !unsuggested.is_empty() {
                    // Cancel so that the group is placed afresh on a later call.
                    self.release_by_id(gid);
                    return Decision::Wait {
                        reason: WaitReason::PreemptionCanceled { bad, unsuggested },
                    };
                }
                let victims = self.blocking_groups(gid);
                if victims.is_empty() {
                    self.finish_preemption(gid);
                    Decision::Bind(self.placement_of(gid))
                } else {
                    Decision::Preempt {
                        victims: victims.iter().map(|&v| self.victim_of(v)).collect(),
                    }
                }
            }
        }
    }

    /// Nodes of a preempting group's reservation that are bad now, and (when `suggested`
    /// is given) those it does not suggest, each sorted.
    fn reservation_trouble(
        &self,
        gid: GroupId,
        suggested: Option<&HashSet<String>>,
    ) -> (Vec<String>, Vec<String>) {
        let mut bad = BTreeSet::new();
        let mut unsuggested = BTreeSet::new();
        for leaf in self.groups[&gid].all_leaves() {
            let Some(node) = self.topo.node_name(leaf) else {
                continue;
            };
            if self.cells[leaf as usize].bad > 0 {
                bad.insert(node);
            }
            if suggested.is_some_and(|s| !s.contains(node)) {
                unsuggested.insert(node);
            }
        }
        (
            bad.into_iter().map(str::to_string).collect(),
            unsuggested.into_iter().map(str::to_string).collect(),
        )
    }

    /// Groups still using cells that `gid` reserved.
    fn blocking_groups(&self, gid: GroupId) -> Vec<GroupId> {
        let mut set = BTreeSet::new();
        for leaf in self.groups[&gid].all_leaves() {
            if let Some(user) = self.cells[leaf as usize].user
                && user != gid
            {
                set.insert(user);
            }
        }
        set.into_iter().collect()
    }

    fn finish_preemption(&mut self, gid: GroupId) {
        let mut leaves = std::mem::take(&mut self.leaf_buffer);
        leaves.extend(self.groups[&gid].all_leaves());
        let priority = self.groups[&gid].priority;
        // The users are set (in one batch) before the reservations go: a leaf that is
        // reserved and then used is never vacant in between, so no counter has to walk
        // up for it twice. The counters end the same in either order.
        self.set_leaves_user(&leaves, Some((gid, priority)));
        for &leaf in &leaves {
            self.set_reservation(leaf, None);
        }
        leaves.clear();
        self.leaf_buffer = leaves;
        self.groups.get_mut(&gid).expect("live group").state = GroupState::Allocated;
    }

    /// Places a group new to the allocator (`vc` is its VC's id), or says why not.
    pub(crate) fn schedule_new(
        &mut self,
        request: &GroupRequest,
        vc: VcId,
        suggested: Option<&HashSet<String>>,
        allow_lazy: bool,
        reserve: bool,
    ) -> Decision {
        // The chain list is a kept buffer (most calls wait, and a fresh list per call was
        // a visible cost). A nested call (lazy preemption) finds it taken and uses its
        // own; a snapshot taken meanwhile holds an empty one.
        let mut chains = std::mem::take(&mut self.chain_buffer);
        chains.clear();
        chains.extend(self.candidate_chains(request, vc));
        let decision = self.schedule_new_on(request, suggested, allow_lazy, reserve, vc, &chains);
        self.chain_buffer = chains;
        decision
    }

    /// [`Allocator::schedule_new`] over the request's candidate `chains`.
    fn schedule_new_on(
        &mut self,
        request: &GroupRequest,
        suggested: Option<&HashSet<String>>,
        allow_lazy: bool,
        reserve: bool,
        vc: VcId,
        chains: &[ChainId],
    ) -> Decision {
        let guaranteed = !request.is_opportunistic();
        let modes: &[Option<i32>] = if guaranteed {
            &[None, Some(request.priority)]
        } else {
            &[None]
        };
        for &mode in modes {
            for &chain in chains {
                if let Some(priority) = mode
                    && !self.has_preemptible(vc, chain, priority)
                {
                    continue;
                }
                let Some(plan) = self.plan_on_chain(request, vc, chain, mode, suggested) else {
                    continue;
                };
                if plan.victims.is_empty() {
                    return Decision::Bind(self.commit_allocated(request, vc, plan));
                }
                if allow_lazy {
                    let lazy: Vec<GroupId> = plan
                        .victims
                        .iter()
                        .copied()
                        .filter(|v| {
                            let g = &self.groups[v];
                            g.vc == vc && g.priority >= 0 && g.request.lazy_preemption_enable
                        })
                        .collect();
                    if !lazy.is_empty() {
                        self.rollback_plan(plan);
                        // Lazy preemption only happens if the preemptor then gets cells; a
                        // wait must leave the victims as they were, so try on a snapshot.
                        let snapshot = self.clone();
                        for victim in lazy {
                            self.downgrade(victim, &request.name);
                        }
                        let decision = self.schedule_new(request, vc, suggested, false, reserve);
                        if matches!(decision, Decision::Wait { .. } | Decision::Reject { .. }) {
                            *self = snapshot;
                        }
                        return decision;
                    }
                }
                let victims = plan.victims.clone();
                if reserve {
                    self.commit_preempting(request, vc, plan);
                } else {
                    // Filtering phase: the victims are reported, nothing is reserved.
                    self.rollback_plan(plan);
                }
                return Decision::Preempt {
                    victims: victims.iter().map(|&v| self.victim_of(v)).collect(),
                };
            }
        }
        Decision::Wait {
            reason: self.wait_reason(request, vc, chains),
        }
    }

    /// Chains a request may run in: those of its leaf type where (for guaranteed groups)
    /// its VC has cells, in configuration order; a pinned request's cell's chain.
    /// Asked twice per schedule call, so listed without allocating.
    pub(crate) fn candidate_chains<'a>(
        &'a self,
        request: &'a GroupRequest,
        vc: VcId,
    ) -> impl Iterator<Item = ChainId> + Clone + 'a {
        let pinned = request
            .pinned_cell_id
            .as_ref()
            .map(|pin| self.topo.pinned.get(pin).map(|&c| self.topo.cell(c).chain));
        let unpinned = pinned.is_none();
        let by_type = self
            .topo
            .chains
            .iter()
            .enumerate()
            .filter(move |&(ci, chain)| {
                unpinned
                    && request
                        .leaf_cell_type
                        .as_ref()
                        .is_none_or(|t| &chain.leaf_type == t)
                    && (request.is_opportunistic() || self.vc_on_chain[vc as usize][ci])
            })
            .map(|(ci, _)| ci as ChainId);
        pinned.flatten().into_iter().chain(by_type)
    }

    /// Rejects what the user must fix (spec section 2); otherwise gives the request's VC
    /// id, so that it is looked up by name once per call.
    pub(crate) fn check_request(&self, request: &GroupRequest) -> Result<VcId, RequestError> {
        if request.priority != OPPORTUNISTIC_PRIORITY
            && !(MIN_GUARANTEED_PRIORITY..=MAX_GUARANTEED_PRIORITY).contains(&request.priority)
        {
            return Err(RequestError::Priority(request.priority));
        }
        let Some(&vc) = self.vc_by_name.get(&request.virtual_cluster) else {
            return Err(RequestError::UnknownVc(request.virtual_cluster.clone()));
        };
        if request.members.is_empty() {
            return Err(RequestError::Shape(format!(
                "group {:?} has no members; give at least one",
                request.name
            )));
        }
        for (i, m) in request.members.iter().enumerate() {
            if m.pod_number == 0 || m.leaf_cell_number == 0 {
                return Err(RequestError::Shape(format!(
                    "group {:?} member {i}: podNumber and leafCellNumber must be at least 1 (got {} and {})",
                    request.name, m.pod_number, m.leaf_cell_number
                )));
            }
        }
        if let Some(pin) = &request.pinned_cell_id {
            if request.is_opportunistic() {
                return Err(RequestError::PinnedCell(format!(
                    "opportunistic group {:?} names pinned cell {pin:?}; pinned cells are for guaranteed jobs only",
                    request.name
                )));
            }
            let owned = self.vcs[vc as usize]
                .preassigned
                .iter()
                .any(|p| p.pinned.as_deref() == Some(pin));
            if !owned {
                return Err(RequestError::PinnedCell(format!(
                    "pinned cell {pin:?} is not in VC {:?}; use one of its pinnedCells",
                    request.virtual_cluster
                )));
            }
        }
        if let Some(t) = &request.leaf_cell_type {
            let exists = self.topo.chains.iter().any(|c| &c.leaf_type == t);
            if !exists {
                return Err(RequestError::NoCellsOfType(format!(
                    "leaf cell type {t:?} does not exist in the cluster; use one of: {}",
                    self.leaf_types().join(", ")
                )));
            }
        }
        let chains = self.candidate_chains(request, vc);
        let capacity = chains
            .clone()
            .map(|c| self.capacity_for(request, vc, c))
            .max()
            .unwrap_or(0);
        let no_chains = chains.clone().next().is_none();
        let never_fits = || {
            let scope = if request.is_opportunistic() {
                "the cluster".to_string()
            } else {
                format!("VC {:?}", request.virtual_cluster)
            };
            RequestError::NeverFits(format!(
                "group {:?} needs {} GPUs ({}) but {scope} could never hold it: it has {capacity} GPUs of that type; \
                 ask for fewer GPUs or use gangAllocation: false",
                request.name,
                request.leaf_count(),
                request.shape(),
            ))
        };
        if !no_chains && request.leaf_count() > capacity {
            // Decided without listing pods one by one, so huge requests stay cheap.
            return Err(never_fits());
        }
        if no_chains {
            let what = request.leaf_cell_type.as_deref().unwrap_or("any type");
            return Err(RequestError::NoCellsOfType(format!(
                "VC {:?} has no cells of {what}; ask for a type the VC has",
                request.virtual_cluster
            )));
        }
        if !chains
            .clone()
            .any(|c| self.could_ever_fit_cached(request, vc, c))
        {
            // Enough GPUs in number, but not in the group's shape: say so, not "needs N,
            // has N".
            let scope = if request.is_opportunistic() {
                "the cluster".to_string()
            } else {
                format!("VC {:?}", request.virtual_cluster)
            };
            return Err(RequestError::NeverFits(format!(
                "group {:?} needs {} GPUs ({}) and {scope} has {capacity} GPUs of that type, but \
                 it could never hold the group in that shape: each pod must fit within one node \
                 and the whole group within one chain of its cells; ask for pods that fit its \
                 nodes, or fewer pods",
                request.name,
                request.leaf_count(),
                request.shape(),
            )));
        }
        Ok(vc)
    }

    /// `could_ever_fit` depends only on the request's shape and the config, so it is
    /// computed once per shape (it packs the whole VC, too slow to repeat per call).
    fn could_ever_fit_cached(&self, request: &GroupRequest, vc: VcId, chain: ChainId) -> bool {
        let fingerprint = FitMemo::fingerprint(request, vc, chain);
        if let Some(memo) = self
            .fit_cache
            .borrow()
            .get(&fingerprint)
            .and_then(|memos| memos.iter().find(|m| m.answers(request, vc, chain)))
        {
            return memo.fits;
        }
        let fits = self.could_ever_fit(request, vc, chain);
        self.fit_cache
            .borrow_mut()
            .entry(fingerprint)
            .or_default()
            .push(FitMemo {
                vc,
                chain,
                opportunistic: request.is_opportunistic(),
                pinned: request.pinned_cell_id.clone(),
                members: request.members.clone(),
                fits,
            });
        fits
    }

    fn leaf_types(&self) -> Vec<String> {
        let set: BTreeSet<&str> = self
            .topo
            .chains
            .iter()
            .map(|c| c.leaf_type.as_str())
            .collect();
        set.into_iter().map(String::from).collect()
    }

    /// Leaves the request could use in a chain when everything is free.
    fn capacity_for(&self, request: &GroupRequest, vc: VcId, chain: ChainId) -> u64 {
        if request.is_opportunistic() {
            return self.chain_capacity[chain as usize];
        }
        if request.pinned_cell_id.is_none() {
            return self.vc_capacity[vc as usize][chain as usize];
        }
        self.vcs[vc as usize]
            .preassigned
            .iter()
            .filter(|p| p.chain == chain && self.preassigned_matches(p, request))
            .map(|p| self.level_leaf_count(chain, p.level) as u64)
            .sum()
    }

    pub(crate) fn preassigned_matches(&self, p: &Preassigned, request: &GroupRequest) -> bool {
        match &request.pinned_cell_id {
            Some(pin) => p.pinned.as_deref() == Some(pin.as_str()),
            None => p.pinned.is_none(),
        }
    }

    /// Leaves in one cell at `level` of `chain`.
    pub(crate) fn level_leaf_count(&self, chain: ChainId, level: u8) -> u32 {
        self.topo.chains[chain as usize].fan_out[..level as usize]
            .iter()
            .product()
    }

    fn commit_allocated(
        &mut self,
        request: &GroupRequest,
        vc: VcId,
        mut plan: Plan,
    ) -> GroupPlacement {
        let mut leaves = std::mem::take(&mut self.leaf_buffer);
        leaves.extend(plan.pods.iter().flat_map(|p| p.leaves.iter().copied()));
        let gid = self.insert_group(request, vc, &mut plan, GroupState::Allocated);
        let priority = request.priority;
        // The users are set in one batch before the usage moves leaf by leaf. Usage can
        // unbind a cell only through a canceled reservation, and a VC's totals are the
        // sum over its bound cells whichever comes first, so the order changes nothing.
        self.set_leaves_user(&leaves, Some((gid, priority)));
        for &leaf in &leaves {
            if priority >= 0 {
                self.add_usage(leaf, 1);
            }
            self.take_from_canceled(leaf, &plan.canceled);
        }
        leaves.clear();
        self.leaf_buffer = leaves;
        for canceled in plan.canceled {
            self.release_by_id(canceled);
        }
        self.placement_of(gid)
    }

    fn commit_preempting(&mut self, request: &GroupRequest, vc: VcId, mut plan: Plan) {
        let mut leaves = std::mem::take(&mut self.leaf_buffer);
        leaves.extend(plan.pods.iter().flat_map(|p| p.leaves.iter().copied()));
        let gid = self.insert_group(request, vc, &mut plan, GroupState::Preempting);
        for &leaf in &leaves {
            self.add_usage(leaf, 1);
            self.take_from_canceled(leaf, &plan.canceled);
            self.set_reservation(leaf, Some(gid));
        }
        leaves.clear();
        self.leaf_buffer = leaves;
        for canceled in plan.canceled {
            self.release_by_id(canceled);
        }
    }

    /// A leaf reserved by a canceled (lower-priority) preemptor changes hands: its usage
    /// moves to the new owner, which has already counted it, so the old count goes.
    fn take_from_canceled(&mut self, leaf: CellId, canceled: &BTreeSet<GroupId>) {
        if let Some(old) = self.cells[leaf as usize].reserved_by
            && canceled.contains(&old)
        {
            self.set_reservation(leaf, None);
            self.add_usage(leaf, -1);
        }
    }

    /// Reserves a leaf for a preempting group (or clears it), keeping the count of
    /// reserved leaves right.
    pub(crate) fn set_reservation(&mut self, leaf: CellId, group: Option<GroupId>) {
        let was_vacant = self.cells[leaf as usize].is_vacant_leaf();
        let slot = &mut self.cells[leaf as usize].reserved_by;
        match (slot.is_some(), group.is_some()) {
            (false, true) => self.reserved_leaves += 1,
            (true, false) => self.reserved_leaves -= 1,
            _ => {}
        }
        *slot = group;
        let is_vacant = self.cells[leaf as usize].is_vacant_leaf();
        self.add_vacant(leaf, i64::from(is_vacant) - i64::from(was_vacant));
    }

    /// Adds `delta` to the vacant count of `leaf` and of every ancestor.
    pub(crate) fn add_vacant(&mut self, leaf: CellId, delta: i64) {
        if delta == 0 {
            return;
        }
        self.note_leaf_changed(leaf);
        if let Some(room) = self.vc_room_of(leaf) {
            room.vacant = (i64::from(room.vacant) + delta) as u32;
        }
        let mut cell = Some(leaf);
        while let Some(c) = cell {
            let state = &mut self.cells[c as usize];
            state.vacant = (i64::from(state.vacant) + delta) as u32;
            cell = self.topo.cells[c as usize].parent;
        }
    }

    /// The totals of the VC whose bound, unpinned preassigned cell holds `leaf`.
    fn vc_room_of(&mut self, leaf: CellId) -> Option<&mut VcRoom> {
        let binding = self.binding_of(leaf)?;
        self.vc_room_mut(binding)
    }

    /// The totals of the VC of binding `(vc, p)`, unless the cell is pinned.
    fn vc_room_mut(&mut self, (vc, p): (VcId, u32)) -> Option<&mut VcRoom> {
        let pre = &self.vcs[vc as usize].preassigned[p as usize];
        if pre.pinned.is_some() {
            return None;
        }
        Some(&mut self.vc_room[vc as usize][pre.chain as usize])
    }

    /// Adds (`sign` 1) or removes (-1) a cell just bound to, or about to be unbound from,
    /// an unpinned preassigned cell of `vc` to the VC's totals.
    pub(crate) fn count_vc_binding(&mut self, vc: VcId, cell: CellId, sign: i32) {
        let shape = self.topo.cell(cell);
        let leaves = u64::from(shape.leaf_count());
        let state = &self.cells[cell as usize];
        let used: Vec<(i32, u32)> = if shape.level == 1 {
            state
                .user
                .map(|_| (state.priority, 1))
                .into_iter()
                .collect()
        } else {
            state.used_by_priority.clone()
        };
        let vacant = state.vacant;
        let room = &mut self.vc_room[vc as usize][shape.chain as usize];
        if sign > 0 {
            room.bound_leaves += leaves;
            room.unbound_leaves -= leaves;
            room.vacant += vacant;
        } else {
            room.bound_leaves -= leaves;
            room.unbound_leaves += leaves;
            room.vacant -= vacant;
        }
        for (p, n) in used {
            count_priority(&mut room.used_by_priority, p, sign * n as i32);
        }
    }

    /// Files a new group with the plan's pods as its slots; the pods' leaf lists move
    /// into the slots (the plan keeps empty ones).
    fn insert_group(
        &mut self,
        request: &GroupRequest,
        vc: VcId,
        plan: &mut Plan,
        state: GroupState,
    ) -> GroupId {
        let gid = self.next_group_id;
        self.next_group_id += 1;
        let slots = plan
            .pods
            .iter_mut()
            .map(|p| PodSlot {
                leaf_cell_number: p.size,
                leaves: std::mem::take(&mut p.leaves),
                pod: None,
                recorded: None,
            })
            .collect();
        self.groups.insert(
            gid,
            Group {
                id: gid,
                request: request.clone(),
                vc,
                chain: plan.chain,
                other_chains: Vec::new(),
                priority: request.priority,
                state,
                slots,
                lazy_preempted: false,
                lazy_preemptor: None,
            },
        );
        self.count_group(gid, 1);
        self.group_by_name.insert(request.name.clone(), gid);
        gid
    }

    /// Marks a leaf used by a group (or free), keeping ancestor counters right.
    pub(crate) fn set_leaf_user(&mut self, leaf: CellId, user: Option<(GroupId, i32)>) {
        self.set_leaves_user(&[leaf], user);
    }

    /// Marks leaves used by a group (or free), keeping ancestor counters right. The
    /// same as [`Allocator::set_leaf_user`] on each leaf in turn, but each ancestor's
    /// counters move once per batch with the summed change of its leaves (a pod of 8
    /// GPUs walked up the tree 8 times).
    pub(crate) fn set_leaves_user(&mut self, leaves: &[CellId], user: Option<(GroupId, i32)>) {
        let [mut level, mut next] = std::mem::take(&mut self.walk_buffers);
        let (new_used, new_opp) = match user {
            Some((_, p)) => (1i64, (p < 0) as i64),
            None => (0, 0),
        };
        let new_priority = user.map(|u| u.1);
        // Leaves are walked up in runs of one old priority, the key of their moves.
        let mut run: Option<Option<i32>> = None;
        for &leaf in leaves {
            let old = &self.cells[leaf as usize];
            let old_priority = old.user.map(|_| old.priority);
            let was_vacant = old.is_vacant_leaf();
            let (old_used, old_opp) = (
                old.user.is_some() as i64,
                (old.user.is_some() && old.priority < 0) as i64,
            );
            let is_vacant = {
                let state = &mut self.cells[leaf as usize];
                state.user = user.map(|u| u.0);
                state.priority = new_priority.unwrap_or(FREE_PRIORITY);
                state.is_vacant_leaf()
            };
            let (du, dopp) = (new_used - old_used, new_opp - old_opp);
            let dvacant = i64::from(is_vacant) - i64::from(was_vacant);
            if du == 0 && dopp == 0 && dvacant == 0 && old_priority == new_priority {
                continue;
            }
            if let Some(old) = run
                && old != old_priority
            {
                self.walk_ancestors(&mut level, &mut next, old, new_priority);
            }
            run = Some(old_priority);
            self.note_leaf_changed(leaf);
            let state = &mut self.cells[leaf as usize];
            state.used = (state.used as i64 + du) as u32;
            state.opp_used = (state.opp_used as i64 + dopp) as u32;
            state.vacant = (i64::from(state.vacant) + dvacant) as u32;
            let binding = state.bound;
            if du != 0 {
                let chain = self.topo.cells[leaf as usize].chain as usize;
                self.chain_used[chain] = (self.chain_used[chain] as i64 + du) as u64;
            }
            if let Some(room) = binding.and_then(|b| self.vc_room_mut(b)) {
                room.vacant = (i64::from(room.vacant) + dvacant) as u32;
                move_priority(&mut room.used_by_priority, old_priority, new_priority, 1);
            }
            if let Some(parent) = self.topo.cells[leaf as usize].parent {
                let delta = AncestorDelta {
                    cell: parent,
                    used: du,
                    opp: dopp,
                    vacant: dvacant,
                    moved: u32::from(old_priority != new_priority),
                    bound_below: binding.is_some(),
                };
                push_merged(&mut level, delta);
            }
        }
        if let Some(old) = run {
            self.walk_ancestors(&mut level, &mut next, old, new_priority);
        }
        self.walk_buffers = [level, next];
    }

    /// Applies the pending ancestor updates in `level` (leaves moved from priority `old`
    /// to `new`) level by level up to the tops, merging those of one parent; leaves
    /// both lists empty.
    fn walk_ancestors(
        &mut self,
        level: &mut Vec<AncestorDelta>,
        next: &mut Vec<AncestorDelta>,
        old: Option<i32>,
        new: Option<i32>,
    ) {
        while !level.is_empty() {
            for &d in level.iter() {
                let state = &mut self.cells[d.cell as usize];
                state.used = (state.used as i64 + d.used) as u32;
                state.opp_used = (state.opp_used as i64 + d.opp) as u32;
                state.vacant = (i64::from(state.vacant) + d.vacant) as u32;
                move_priority(&mut state.used_by_priority, old, new, d.moved);
                let mut bound_below = d.bound_below;
                if !bound_below && let Some(b) = state.bound {
                    bound_below = true;
                    if let Some(room) = self.vc_room_mut(b) {
                        room.vacant = (i64::from(room.vacant) + d.vacant) as u32;
                        move_priority(&mut room.used_by_priority, old, new, d.moved);
                    }
                }
                if let Some(parent) = self.topo.cells[d.cell as usize].parent {
                    let up = AncestorDelta {
                        cell: parent,
                        bound_below,
                        ..d
                    };
                    push_merged(next, up);
                }
            }
            level.clear();
            std::mem::swap(level, next);
        }
    }

    /// Used leaves in `cell` whose physical priority is `priority` or higher.
    pub(crate) fn used_at_or_above(&self, cell: CellId, priority: i32) -> u32 {
        let state = &self.cells[cell as usize];
        if self.topo.cells[cell as usize].level == 1 {
            return u32::from(state.user.is_some() && state.priority >= priority);
        }
        if state.used == 0 {
            return 0;
        }
        state
            .used_by_priority
            .iter()
            .filter(|&&(p, _)| p >= priority)
            .map(|&(_, n)| n)
            .sum()
    }

    /// The packing ranking's counts of `cell` for a request of `priority`: leaves used at
    /// the same level and above it. Opportunistic groups pack onto opportunistic use and
    /// stay away from guaranteed use; guaranteed ones onto their own priority, away from
    /// higher. One definition for the ranking of `packing.rs` and the index of `rank.rs`,
    /// which must agree.
    pub(crate) fn packing_counts(&self, cell: CellId, priority: i32) -> (u32, u32) {
        let state = &self.cells[cell as usize];
        if priority < 0 {
            (state.opp_used, state.used - state.opp_used)
        } else if state.used == 0 {
            (0, 0)
        } else {
            self.used_at_and_above(cell, priority)
        }
    }

    /// Used leaves in `cell` at exactly `priority`, and above it.
    pub(crate) fn used_at_and_above(&self, cell: CellId, priority: i32) -> (u32, u32) {
        let state = &self.cells[cell as usize];
        if self.topo.cells[cell as usize].level == 1 {
            let used = state.user.is_some();
            return (
                u32::from(used && state.priority == priority),
                u32::from(used && state.priority > priority),
            );
        }
        let (mut at, mut above) = (0, 0);
        for &(p, n) in &state.used_by_priority {
            if p == priority {
                at += n;
            } else if p > priority {
                above += n;
            }
        }
        (at, above)
    }

    /// The VC preassigned cell whose bound physical cell contains `leaf`.
    pub(crate) fn binding_of(&self, leaf: CellId) -> Option<(VcId, u32)> {
        let mut cell = Some(leaf);
        while let Some(c) = cell {
            if let Some(b) = self.cells[c as usize].bound {
                return Some(b);
            }
            cell = self.topo.cells[c as usize].parent;
        }
        None
    }

    /// Adds to the guaranteed usage of the preassigned cell holding `leaf`; unbinds it
    /// when its usage drops to zero (bindings are lazy both ways).
    pub(crate) fn add_usage(&mut self, leaf: CellId, delta: i32) {
        let Some((vc, p)) = self.binding_of(leaf) else {
            return;
        };
        let pre = &mut self.vcs[vc as usize].preassigned[p as usize];
        pre.usage = (pre.usage as i32 + delta).max(0) as u32;
        let healthy_again =
            pre.doomed && pre.bound.is_some_and(|c| self.cells[c as usize].bad == 0);
        if pre.usage == 0 && pre.pinned.is_none() && (!pre.doomed || healthy_again) {
            self.unbind(vc, p);
        }
    }

    /// Lazy preemption: the group keeps running as opportunistic and gives its VC quota back.
    pub(crate) fn downgrade(&mut self, gid: GroupId, preemptor: &str) {
        let leaves: Vec<CellId> = self.groups[&gid].all_leaves().collect();
        self.set_leaves_user(&leaves, Some((gid, OPPORTUNISTIC_PRIORITY)));
        for &leaf in &leaves {
            self.add_usage(leaf, -1);
        }
        self.count_group(gid, -1);
        let g = self.groups.get_mut(&gid).expect("live group");
        g.priority = OPPORTUNISTIC_PRIORITY;
        g.lazy_preempted = true;
        g.lazy_preemptor = Some(preemptor.to_string());
        self.count_group(gid, 1);
        self.downgrades += 1;
    }

    /// Adds `delta` to the live-group counts under a group's VC, chain and priority
    /// (call with -1 before the group changes or leaves, +1 after it joins or changed).
    pub(crate) fn count_group(&mut self, gid: GroupId, delta: i32) {
        let Some(g) = self.groups.get(&gid) else {
            return;
        };
        let (vc, priority) = (g.vc, g.priority);
        // A rebuilt group may span chains; it counts in each so that a request on any of
        // them sees it as preemptible.
        for chain in std::iter::once(g.chain).chain(g.other_chains.iter().copied()) {
            let count = if priority < 0 {
                &mut self.opportunistic_groups[chain as usize]
            } else {
                self.guaranteed_groups
                    .entry((vc, chain, priority))
                    .or_insert(0)
            };
            *count = count.saturating_add_signed(delta);
            if priority >= 0 && *count == 0 {
                self.guaranteed_groups.remove(&(vc, chain, priority));
            }
        }
    }

    /// Whether a guaranteed request of `vc` at `priority` could find anything to preempt
    /// on `chain`: an opportunistic group there, or a lower-priority group of its VC.
    fn has_preemptible(&self, vc: VcId, chain: ChainId, priority: i32) -> bool {
        self.opportunistic_groups[chain as usize] > 0
            || self
                .guaranteed_groups
                .range((vc, chain, 0)..(vc, chain, priority))
                .next()
                .is_some()
    }

    /// Assigns a pod to the next free slot of its placed group with `leaf_cell_number`
    /// leaves and returns that slot's placement.
    pub fn confirm_pod(
        &mut self,
        group: &str,
        pod: &str,
        leaf_cell_number: u32,
    ) -> Result<PodPlacement, AllocatorError> {
        let gid = *self
            .group_by_name
            .get(group)
            .ok_or_else(|| AllocatorError::UnknownGroup(group.into()))?;
        if self.groups[&gid].state != GroupState::Allocated {
            return Err(AllocatorError::NoSlot(format!(
                "group {group:?} is still preempting; schedule it again first"
            )));
        }
        let g = self.groups.get_mut(&gid).expect("live group");
        if let Some(i) = g.slots.iter().position(|s| s.pod.as_deref() == Some(pod)) {
            return Ok(self.pod_placement(gid, i));
        }
        let Some(i) = g
            .slots
            .iter()
            .position(|s| s.pod.is_none() && s.leaf_cell_number == leaf_cell_number)
        else {
            return Err(AllocatorError::NoSlot(format!(
                "group {group:?} has no free slot of {leaf_cell_number} GPUs for pod {pod:?}; \
                 the pod's leafCellNumber must match a member of its group"
            )));
        };
        g.slots[i].pod = Some(pod.to_string());
        Ok(self.pod_placement(gid, i))
    }

    /// A pod of a group is gone. The group's cells are freed when none of its confirmed pods
    /// is left.
    pub fn release_pod(&mut self, group: &str, pod: &str) -> Result<(), AllocatorError> {
        let gid = *self
            .group_by_name
            .get(group)
            .ok_or_else(|| AllocatorError::UnknownGroup(group.into()))?;
        let g = self.groups.get_mut(&gid).expect("live group");
        let Some(slot) = g.slots.iter_mut().find(|s| s.pod.as_deref() == Some(pod)) else {
            return Err(AllocatorError::NoSlot(format!(
                "pod {pod:?} is not bound in group {group:?}"
            )));
        };
        slot.pod = None;
        if g.slots.iter().all(|s| s.pod.is_none()) {
            self.release_by_id(gid);
        }
        Ok(())
    }

    /// Frees a whole group (finished, killed, or a preemptor that gave up).
    pub fn release_group(&mut self, group: &str) -> Result<(), AllocatorError> {
        let gid = *self
            .group_by_name
            .get(group)
            .ok_or_else(|| AllocatorError::UnknownGroup(group.into()))?;
        self.release_by_id(gid);
        Ok(())
    }

    pub(crate) fn release_by_id(&mut self, gid: GroupId) {
        self.count_group(gid, -1);
        let Some(group) = self.groups.remove(&gid) else {
            return;
        };
        self.group_by_name.remove(&group.request.name);
        let guaranteed = group.priority >= 0;
        // The leaves the group uses are freed in one batch first, then reservations and
        // usage go leaf by leaf: each leaf still sees its own steps in the same order,
        // and a usage that unbinds a cell leaves the VC's totals the sum over its bound
        // cells whichever comes first.
        let mut used = std::mem::take(&mut self.leaf_buffer);
        used.extend(
            group
                .all_leaves()
                .filter(|&l| self.cells[l as usize].user == Some(gid)),
        );
        self.set_leaves_user(&used, None);
        // `used` is in leaf order, so whether a leaf was used is whether it is next there.
        let mut next_used = used.iter().copied().peekable();
        for leaf in group.all_leaves() {
            let reserved = self.cells[leaf as usize].reserved_by;
            let mut counted = false;
            if next_used.next_if_eq(&leaf).is_some() {
                counted = guaranteed;
            }
            if reserved == Some(gid) {
                self.set_reservation(leaf, None);
                counted = true;
            }
            if counted {
                self.add_usage(leaf, -1);
            }
        }
        used.clear();
        self.leaf_buffer = used;
        // Doomed choices depend on opportunistic use too, so any release refreshes them.
        if self.bad_leaves > 0 {
            self.refresh_all_doomed();
        }
    }

    /// Name of a live group's VC, priority and state, for callers that track groups.
    pub fn group_status(&self, group: &str) -> Option<(GroupState, i32, bool)> {
        let gid = self.group_by_name.get(group)?;
        let g = &self.groups[gid];
        Some((g.state, g.priority, g.lazy_preempted))
    }

    /// Placement of a live group.
    pub fn placement(&self, group: &str) -> Option<GroupPlacement> {
        self.group_by_name.get(group).map(|&g| self.placement_of(g))
    }

    pub(crate) fn placement_of(&self, gid: GroupId) -> GroupPlacement {
        let g = &self.groups[&gid];
        GroupPlacement {
            group: g.request.name.clone(),
            chain: self.topo.chains[g.chain as usize].name.clone(),
            pods: g.slots.iter().map(|s| self.slot_placement(s)).collect(),
        }
    }

    pub(crate) fn pod_placement(&self, gid: GroupId, slot: usize) -> PodPlacement {
        self.slot_placement(&self.groups[&gid].slots[slot])
    }

    /// Where a pod slot's pod goes (the group looked up once by the caller).
    fn slot_placement(&self, s: &PodSlot) -> PodPlacement {
        if let Some(recorded) = &s.recorded {
            // Some devices are gone from the config; the pod still runs where it was put.
            return PodPlacement {
                node: recorded.node.clone(),
                devices: recorded.devices.clone(),
                leaf_cell_number: s.leaf_cell_number,
            };
        }
        let node = s
            .leaves
            .first()
            .and_then(|&l| self.topo.node_name(l))
            .unwrap_or_default()
            .to_string();
        // Sized at once: a filtered collect would grow it step by step.
        let mut devices: Vec<u32> = Vec::with_capacity(s.leaves.len());
        devices.extend(
            s.leaves
                .iter()
                .filter_map(|&l| self.topo.cell(l).device_index),
        );
        devices.sort_unstable();
        PodPlacement {
            node,
            devices,
            leaf_cell_number: s.leaf_cell_number,
        }
    }

    fn victim_of(&self, gid: GroupId) -> Victim {
        let g = &self.groups[&gid];
        Victim {
            group: g.request.name.clone(),
            virtual_cluster: g.request.virtual_cluster.clone(),
            priority: g.priority,
            pods: self.placement_of(gid).pods,
        }
    }

    /// Number of live groups.
    pub fn group_count(&self) -> usize {
        self.groups.len()
    }
}

/// A tentative placement on one chain; bindings it made are already applied and are
/// undone by `rollback_plan` if the plan is not committed.
#[derive(Debug)]
pub(crate) struct Plan {
    pub chain: ChainId,
    /// Size and chosen leaves per pod, in member order.
    pub pods: super::packing::Packed,
    /// Preassigned cells bound for this plan: (vc, index).
    pub new_bindings: Vec<(VcId, u32)>,
    /// Running groups that must leave.
    pub victims: BTreeSet<GroupId>,
    /// Lower-priority preemptors whose reservations this plan takes.
    pub canceled: BTreeSet<GroupId>,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Two racks of two 4-GPU nodes (GPU -> pair -> node -> rack), a pinned pair, and
    /// four VCs: one rack, one node, the pinned pair, and one pair (a bound cell below
    /// node level, its own packing unit).
    pub(crate) const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    PAIR: {childCellType: V100, childCellNumber: 2}
    NODE: {childCellType: PAIR, childCellNumber: 2, isNodeLevel: true}
    RACK: {childCellType: NODE, childCellNumber: 2}
  physicalCells:
  - cellType: RACK
    cellChildren: [{cellAddress: n0}, {cellAddress: n1}]
  - cellType: RACK
    cellChildren:
    - cellAddress: n2
    - cellAddress: n3
      cellChildren: [{cellAddress: '0', pinnedCellId: pin}]
virtualClusters:
  a: {virtualCells: [{cellType: RACK, cellNumber: 1}]}
  b: {virtualCells: [{cellType: RACK.NODE, cellNumber: 1}]}
  c: {pinnedCells: [{pinnedCellId: pin}]}
  d: {virtualCells: [{cellType: RACK.NODE.PAIR, cellNumber: 1}]}
";

    /// Recounts every cell's vacant leaves and per-priority use from its leaves and
    /// compares them with the incrementally kept counters.
    fn assert_counters_match_leaves(alloc: &Allocator, step: usize) {
        for (id, shape) in alloc.topo.cells.iter().enumerate() {
            let leaves = alloc.topo.leaves_of(id as CellId);
            let vacant = leaves
                .iter()
                .filter(|&&l| alloc.cells[l as usize].is_vacant_leaf())
                .count() as u32;
            assert_eq!(
                alloc.cells[id].vacant, vacant,
                "step {step}: vacant of cell {id}"
            );
            if shape.level == 1 {
                assert!(alloc.cells[id].used_by_priority.is_empty());
                continue;
            }
            let mut counts: BTreeMap<i32, u32> = BTreeMap::new();
            for &l in leaves {
                let s = &alloc.cells[l as usize];
                if s.user.is_some() {
                    *counts.entry(s.priority).or_default() += 1;
                }
            }
            let expected: Vec<(i32, u32)> = counts.into_iter().collect();
            assert_eq!(
                alloc.cells[id].used_by_priority, expected,
                "step {step}: use per priority of cell {id}"
            );
        }
        for (chain, c) in alloc.topo.chains.iter().enumerate() {
            let used: u64 = c
                .tops
                .iter()
                .map(|&t| u64::from(alloc.cells[t as usize].used))
                .sum();
            assert_eq!(
                alloc.chain_used[chain], used,
                "step {step}: use of chain {chain}"
            );
        }
    }

    /// Recomputes every VC's totals over its bound, unpinned cells and compares them.
    fn assert_vc_rooms_match(alloc: &Allocator, step: usize) {
        for (vc, v) in alloc.vcs.iter().enumerate() {
            for chain in 0..alloc.topo.chains.len() {
                let mut expected = VcRoom::default();
                let mut counts: BTreeMap<i32, u32> = BTreeMap::new();
                for p in v.preassigned.iter() {
                    if p.chain as usize != chain || p.pinned.is_some() {
                        continue;
                    }
                    let leaves = u64::from(alloc.level_leaf_count(p.chain, p.level));
                    let Some(cell) = p.bound else {
                        expected.unbound_leaves += leaves;
                        continue;
                    };
                    expected.bound_leaves += leaves;
                    expected.vacant += alloc.cells[cell as usize].vacant;
                    for &l in alloc.topo.leaves_of(cell) {
                        let s = &alloc.cells[l as usize];
                        if s.user.is_some() {
                            *counts.entry(s.priority).or_default() += 1;
                        }
                    }
                }
                expected.used_by_priority = counts.into_iter().collect();
                assert_eq!(
                    alloc.vc_room[vc][chain], expected,
                    "step {step}: totals of VC {vc} on chain {chain}"
                );
            }
        }
    }

    pub(crate) fn request(
        name: String,
        vc: &str,
        priority: i32,
        pods: u32,
        size: u32,
    ) -> GroupRequest {
        GroupRequest {
            name,
            virtual_cluster: vc.to_string(),
            priority,
            leaf_cell_type: None,
            pinned_cell_id: (vc == "c").then(|| "pin".to_string()),
            lazy_preemption_enable: false,
            ignore_k8s_suggested_nodes: true,
            members: vec![GroupMember::whole(pods, size)],
        }
    }

    /// Also checks the ranking indexes (`rank.rs`) against indexes rebuilt from scratch,
    /// and every decision against a twin allocator that ranks without them.
    #[test]
    fn placement_counters_follow_every_leaf_change() {
        let config = crate::config::load_str(CLUSTER, "test").unwrap();
        let mut alloc = Allocator::new(&config);
        let mut twin = Allocator::new(&config);
        twin.rank_enabled = false;
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let nodes = ["n0", "n1", "n2", "n3"];
        let mut live: Vec<String> = Vec::new();
        let mut placed = 0;
        assert_counters_match_leaves(&alloc, 0);
        for step in 1..=3_000 {
            match rng.random_range(0..10) {
                0..=5 => {
                    let vc = ["a", "b", "c", "d"][rng.random_range(0..4)];
                    let priority = [-1, 10, 100][rng.random_range(0..3)];
                    let priority = if vc == "c" { 10 } else { priority };
                    let size = [1, 2, 4][rng.random_range(0..3)];
                    let pods = rng.random_range(1..=2);
                    let name = format!("g{step}");
                    let asked = request(name.clone(), vc, priority, pods, size);
                    let decision = alloc.schedule(&asked, None);
                    assert_eq!(decision, twin.schedule(&asked, None), "step {step}");
                    match decision {
                        Decision::Bind(_) => {
                            placed += 1;
                            live.push(name);
                        }
                        Decision::Preempt { victims } => {
                            for v in victims {
                                alloc.release_group(&v.group).unwrap();
                                twin.release_group(&v.group).unwrap();
                                live.retain(|g| *g != v.group);
                            }
                            assert_counters_match_leaves(&alloc, step);
                            let decision = alloc.schedule(&asked, None);
                            assert!(matches!(decision, Decision::Bind(_)));
                            assert_eq!(decision, twin.schedule(&asked, None), "step {step}");
                            live.push(name);
                        }
                        Decision::Wait { .. } | Decision::Reject { .. } => {}
                    }
                }
                6..=8 if !live.is_empty() => {
                    let g = live.swap_remove(rng.random_range(0..live.len()));
                    alloc.release_group(&g).unwrap();
                    twin.release_group(&g).unwrap();
                }
                _ => {
                    let node = nodes[rng.random_range(0..nodes.len())];
                    let healthy = rng.random_range(0..3) > 0;
                    alloc.set_node_health(node, healthy).unwrap();
                    twin.set_node_health(node, healthy).unwrap();
                }
            }
            assert_counters_match_leaves(&alloc, step);
            assert_vc_rooms_match(&alloc, step);
            alloc.assert_rank_indexes_match(step);
        }
        assert!(
            alloc.rank.indexes.len() >= 5,
            "the sequence should build indexes for several scopes and priorities"
        );
        assert!(placed > 100, "the sequence should place groups ({placed})");
    }
}
