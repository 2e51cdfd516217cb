//! GPU shares inside the HiveD allocator: pods that ask for a share of one GPU
//! ([`PodResources::gpu_milli`] below 1000, one leaf cell) under the `hived` and
//! `isolated` layers. The allocator itself still places whole leaves only; this module
//! keeps the shares on top of it, and every leaf it uses is taken and given back through
//! the allocator's own path, so HiveD's rules hold for shared leaves unchanged:
//!
//! - A VC's first share pod (of a priority, lazy-preemption setting and pinned cell)
//!   takes a leaf with a one-leaf request of that VC at the pod's priority, a **holder**
//!   group named `shared leaf #N` (a name no Kubernetes pod or trace id has: it holds a
//!   space). VC safety, the buddy invariant, packing and preemption of opportunistic
//!   cells then apply to the holder exactly as to any one-GPU group.
//! - Later share pods of the same VC, the **same priority** (not only the same class:
//!   a pod must never sit on a holder of lower priority, or a preemptor HiveD would not
//!   let preempt it could take it), the same lazy-preemption setting and pinned cell, and
//!   (when they name one) the same leaf cell type, go onto a leaf already held for them
//!   when it has room: best fit, the least milli left that fits, ties in the allocator's
//!   leaf order. Only then is a new leaf taken. No leaf ever holds more than 1000 milli.
//! - A gang of share pods is placed pod by pod in member order; when one pod waits or is
//!   rejected, the pods placed so far and the leaves taken for them are given back
//!   (all or nothing). When a pod's new leaf needs a preemption, the holder keeps its
//!   reservation and the group's other pods stay placed until the victims are gone and
//!   the group is asked again.
//! - A leaf is released to the allocator when its last share pod leaves; release gives
//!   back exactly what was taken.
//! - When the allocator preempts a holder, every group with a pod on that leaf is a
//!   victim ([`LeafShares::expand_victims`]); when it lazily downgrades one, every group
//!   on it is downgraded and the leaf takes no new pods.
//!
//! What it does not do: CPU and memory (unlimited under these layers), `gpu_spec`
//! alternatives beyond the group's leaf cell type, groups mixing shares and whole GPUs
//! (rejected), and a gang's pods across chains are not kept in one chain (each pod's
//! leaf is placed on its own). The live server places no shares.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use super::allocator::Allocator;
use super::decision::{Decision, GroupPlacement, PodPlacement, RequestError, Victim};
use super::request::{GroupMember, GroupRequest};
use super::topology::CellId;

/// One GPU in milli-GPUs.
const MILLI: u32 = 1000;

/// The start of every holder group's name (see the module docs).
pub const HOLDER_PREFIX: &str = "shared leaf #";

/// The holder group of leaf `id`.
fn holder_name(id: u64) -> String {
    format!("{HOLDER_PREFIX}{id}")
}

/// The leaf id of a holder group's name, `None` for any other group.
fn holder_id(group: &str) -> Option<u64> {
    group.strip_prefix(HOLDER_PREFIX)?.parse().ok()
}

/// Which share pods may share a leaf: the same VC, priority, lazy-preemption setting and
/// pinned cell (the leaf cell type is matched per leaf, see [`HeldLeaf::leaf_type`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ShareKey {
    vc: String,
    priority: i32,
    lazy: bool,
    pinned: Option<String>,
}

impl ShareKey {
    fn of(request: &GroupRequest) -> ShareKey {
        ShareKey {
            vc: request.virtual_cluster.clone(),
            priority: request.priority,
            lazy: request.lazy_preemption_enable,
            pinned: request.pinned_cell_id.clone(),
        }
    }
}

/// A leaf held for shares by its holder group.
#[derive(Debug, Clone)]
struct HeldLeaf {
    key: ShareKey,
    /// The leaf's type (its chain's leaf type).
    leaf_type: String,
    /// The leaf's cell: the allocator's order, for ties.
    cell: CellId,
    chain: String,
    node: String,
    device: u32,
    /// Milli-GPUs not yet shared out.
    free: u32,
    /// The pods on it: (group, milli), in arrival order.
    pods: Vec<(String, u32)>,
    /// Takes new pods (false once lazily downgraded to opportunistic).
    open: bool,
}

/// Where a share group's pod is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// On the held leaf `id`.
    Placed(u64),
    /// Waiting for leaf `id`, whose holder is preempting.
    Pending(u64),
}

/// A group of share pods: each pod's share and slot, in member order.
#[derive(Debug, Clone)]
struct ShareGroup {
    milli: Vec<u32>,
    slots: Vec<Slot>,
}

/// One held leaf as [`LeafShares::leaves`] shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedLeaf {
    /// The holder group's name in the allocator.
    pub holder: String,
    /// Node name.
    pub node: String,
    /// Device index on the node.
    pub device: u32,
    /// The VC the leaf is held for.
    pub vc: String,
    /// Priority of its pods (and of the holder).
    pub priority: i32,
    /// Milli-GPUs its pods use.
    pub used_milli: u32,
    /// Its pods: (group, milli), in arrival order.
    pub pods: Vec<(String, u32)>,
}

/// The share bookkeeping of one allocator (see the module docs). Every call takes the
/// allocator it was made for.
#[derive(Debug, Clone, Default)]
pub struct LeafShares {
    leaves: BTreeMap<u64, HeldLeaf>,
    /// Per key, the open leaves as (free milli, cell, id): best fit is the first entry
    /// at or above a pod's share.
    open: HashMap<ShareKey, BTreeSet<(u32, CellId, u64)>>,
    groups: HashMap<String, ShareGroup>,
    next_id: u64,
    /// Held leaves whose holder allows lazy preemption and is not downgraded yet.
    lazy_holders: BTreeSet<u64>,
    /// The allocator's downgrade count when `lazy_holders` was last checked.
    downgrades_seen: u64,
    /// Groups downgraded with their leaf, not yet taken.
    downgraded: Vec<String>,
}

/// Each pod's share of `request`, in member order, or why it cannot be shared.
fn pod_shares(request: &GroupRequest) -> Result<Vec<u32>, RequestError> {
    let mut shares = Vec::new();
    for (i, member) in request.members.iter().enumerate() {
        let milli = member.resources.as_ref().and_then(|r| r.gpu_milli);
        let milli = match milli {
            Some(m) if (1..MILLI).contains(&m) && member.leaf_cell_number == 1 => m,
            Some(0) => {
                return Err(RequestError::Shape(format!(
                    "group {:?} member {i}: a GPU share of 0 milli-GPUs; ask for 1..=999, or \
                     no GPU share for whole GPUs",
                    request.name
                )));
            }
            Some(m) if m < MILLI => {
                return Err(RequestError::Shape(format!(
                    "group {:?} member {i}: a share of {m} milli-GPUs of each of {} leaf cells; \
                     a share is only possible for one leaf cell (set leafCellNumber to 1)",
                    request.name, member.leaf_cell_number
                )));
            }
            _ => {
                return Err(RequestError::Shape(format!(
                    "group {:?} mixes pods with GPU shares and pods of whole GPUs, which the \
                     HiveD allocator places differently (shares pod by pod on shared leaves, \
                     whole GPUs as one gang); split it into two groups",
                    request.name
                )));
            }
        };
        shares.extend(std::iter::repeat_n(milli, member.pod_number as usize));
    }
    Ok(shares)
}

impl LeafShares {
    /// No leaf held, no share placed.
    pub fn new() -> LeafShares {
        LeafShares::default()
    }

    /// True when `group` is a share group placed (or preempting) here.
    pub fn holds(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// True when no leaf is held for shares.
    pub fn is_empty(&self) -> bool {
        self.leaves.is_empty() && self.groups.is_empty()
    }

    /// The held leaves, by holder id.
    pub fn leaves(&self) -> Vec<SharedLeaf> {
        self.leaves
            .iter()
            .map(|(&id, leaf)| SharedLeaf {
                holder: holder_name(id),
                node: leaf.node.clone(),
                device: leaf.device,
                vc: leaf.key.vc.clone(),
                priority: leaf.key.priority,
                used_milli: MILLI - leaf.free,
                pods: leaf.pods.clone(),
            })
            .collect()
    }

    /// The one-leaf request that holds leaf `id` for `request`'s VC and priority.
    fn holder_request(id: u64, request: &GroupRequest) -> GroupRequest {
        GroupRequest {
            name: holder_name(id),
            virtual_cluster: request.virtual_cluster.clone(),
            priority: request.priority,
            leaf_cell_type: request.leaf_cell_type.clone(),
            pinned_cell_id: request.pinned_cell_id.clone(),
            lazy_preemption_enable: request.lazy_preemption_enable,
            ignore_k8s_suggested_nodes: true,
            members: vec![GroupMember::whole(1, 1)],
        }
    }

    /// What the allocator would reject of `request` as shares: its shape, and what it
    /// rejects of the group as the fewest whole leaves its shares could fill (unknown VC,
    /// priority, pinned cell, leaf type, more than the VC could ever hold).
    fn check(
        alloc: &Allocator,
        request: &GroupRequest,
    ) -> Result<(Vec<u32>, GroupRequest), RequestError> {
        if request.name.starts_with(HOLDER_PREFIX) {
            return Err(RequestError::Shape(format!(
                "group name {:?} is reserved for the leaves the allocator holds for GPU \
                 shares; rename the group",
                request.name
            )));
        }
        let shares = pod_shares(request)?;
        let total: u64 = shares.iter().map(|&m| u64::from(m)).sum();
        let leaves = total.div_ceil(u64::from(MILLI)).max(1);
        let as_whole = GroupRequest {
            members: vec![GroupMember::whole(
                u32::try_from(leaves).unwrap_or(u32::MAX),
                1,
            )],
            ..request.clone()
        };
        alloc.check_request(&as_whole)?;
        Ok((shares, as_whole))
    }

    /// Places a group of share pods (every member a share of one leaf), or says why not;
    /// see the module docs. A group already placed gets its placement again; a group
    /// whose leaves wait for victims gets the victims until they are gone.
    pub fn schedule(&mut self, alloc: &mut Allocator, request: &GroupRequest) -> Decision {
        let shares = match Self::check(alloc, request) {
            Ok((shares, _)) => shares,
            Err(error) => return Decision::Reject { error },
        };
        self.refresh_downgraded(alloc);
        let key = ShareKey::of(request);
        let mut group = match self.groups.remove(&request.name) {
            Some(group) if group.milli != shares => {
                self.groups.insert(request.name.clone(), group);
                return Decision::Reject {
                    error: RequestError::GroupConflict(format!(
                        "group {:?} is already placed with other GPU shares; use a new group name",
                        request.name
                    )),
                };
            }
            Some(group) => group,
            None => ShareGroup {
                milli: shares.clone(),
                slots: Vec::with_capacity(shares.len()),
            },
        };
        let mut victims: Vec<Victim> = Vec::new();
        // Leaves whose holders answered preempt in this call: asked once per call.
        let mut preempting: Vec<u64> = Vec::new();
        for (i, &milli) in shares.iter().enumerate() {
            let id = match group.slots.get(i) {
                Some(Slot::Placed(_)) => continue,
                Some(&Slot::Pending(id)) => id,
                None => {
                    if let Some(id) = self.best_fit(&key, request.leaf_cell_type.as_deref(), milli)
                    {
                        self.take(id, &request.name, milli);
                        group.slots.push(Slot::Placed(id));
                        continue;
                    }
                    // A leaf this group waits for has room too (best fit, oldest first).
                    let id = Self::pending_fit(&group, milli).unwrap_or_else(|| {
                        self.next_id += 1;
                        self.next_id
                    });
                    group.slots.push(Slot::Pending(id));
                    id
                }
            };
            if self.leaves.contains_key(&id) {
                // Bound for an earlier pod of this group in this call.
                self.take(id, &request.name, milli);
                group.slots[i] = Slot::Placed(id);
                continue;
            }
            if preempting.contains(&id) {
                continue;
            }
            match alloc.schedule(&Self::holder_request(id, request), None) {
                Decision::Bind(placement) => {
                    self.hold(alloc, id, key.clone(), &placement);
                    self.take(id, &request.name, milli);
                    group.slots[i] = Slot::Placed(id);
                }
                Decision::Preempt { victims: more } => {
                    preempting.push(id);
                    // Two leaves may need the same victim (a gang on both).
                    for victim in more {
                        if !victims.iter().any(|v| v.group == victim.group) {
                            victims.push(victim);
                        }
                    }
                }
                other => {
                    self.give_back(alloc, &request.name, &group);
                    return other;
                }
            }
        }
        self.groups.insert(request.name.clone(), group);
        if victims.is_empty() {
            Decision::Bind(self.placement(&request.name))
        } else {
            Decision::Preempt {
                victims: self.expand_victims(victims),
            }
        }
    }

    /// The leaf `group` waits for (its holder preempting) with the least room left that
    /// holds `milli`, the oldest first on ties.
    fn pending_fit(group: &ShareGroup, milli: u32) -> Option<u64> {
        let mut room: BTreeMap<u64, u32> = BTreeMap::new();
        for (&m, slot) in group.milli.iter().zip(&group.slots) {
            if let Slot::Pending(id) = slot {
                *room.entry(*id).or_insert(MILLI) -= m;
            }
        }
        room.into_iter()
            .filter(|&(_, left)| left >= milli)
            .min_by_key(|&(id, left)| (left, id))
            .map(|(id, _)| id)
    }

    /// The open leaf of `key` (of type `leaf_type` when given) with the least milli left
    /// that holds `milli`; ties in the allocator's leaf order.
    fn best_fit(&self, key: &ShareKey, leaf_type: Option<&str>, milli: u32) -> Option<u64> {
        self.open
            .get(key)?
            .range((milli, 0, 0)..)
            .find(|&&(_, _, id)| leaf_type.is_none_or(|t| self.leaves[&id].leaf_type == t))
            .map(|&(_, _, id)| id)
    }

    /// Records leaf `id` as held (its holder just bound at `placement`).
    fn hold(&mut self, alloc: &Allocator, id: u64, key: ShareKey, placement: &GroupPlacement) {
        let pod = &placement.pods[0];
        let device = pod.devices[0];
        let topology = alloc.topology();
        let cell = topology
            .node_by_name
            .get(&pod.node)
            .and_then(|&n| topology.leaf_by_device.get(&(n, device)))
            .copied()
            .unwrap_or(CellId::MAX);
        let leaf_type = topology
            .chain_by_name
            .get(&placement.chain)
            .map(|&c| topology.chains[c as usize].leaf_type.clone())
            .unwrap_or_default();
        if key.lazy {
            self.lazy_holders.insert(id);
        }
        self.open
            .entry(key.clone())
            .or_default()
            .insert((MILLI, cell, id));
        self.leaves.insert(
            id,
            HeldLeaf {
                key,
                leaf_type,
                cell,
                chain: placement.chain.clone(),
                node: pod.node.clone(),
                device,
                free: MILLI,
                pods: Vec::new(),
                open: true,
            },
        );
    }

    /// Moves `milli` of leaf `id` to a pod of `group`.
    fn take(&mut self, id: u64, group: &str, milli: u32) {
        let leaf = self.leaves.get_mut(&id).expect("a held leaf");
        let before = leaf.free;
        leaf.free = before
            .checked_sub(milli)
            .expect("best fit and new leaves have room for the share");
        leaf.pods.push((group.to_string(), milli));
        if leaf.open
            && let Some(set) = self.open.get_mut(&leaf.key)
        {
            set.remove(&(before, leaf.cell, id));
            set.insert((leaf.free, leaf.cell, id));
        }
    }

    /// Gives `group`'s pod's `milli` on leaf `id` back; the leaf goes back to the
    /// allocator when it was the last pod.
    fn untake(&mut self, alloc: &mut Allocator, id: u64, group: &str, milli: u32) {
        let Some(leaf) = self.leaves.get_mut(&id) else {
            return;
        };
        let Some(at) = leaf
            .pods
            .iter()
            .position(|(g, m)| g == group && *m == milli)
        else {
            return;
        };
        leaf.pods.remove(at);
        let before = leaf.free;
        leaf.free += milli;
        let set = self.open.get_mut(&leaf.key);
        if let Some(set) = set {
            set.remove(&(before, leaf.cell, id));
            if leaf.open && !leaf.pods.is_empty() {
                set.insert((leaf.free, leaf.cell, id));
            }
        }
        if leaf.pods.is_empty() {
            if self.open.get(&leaf.key).is_some_and(BTreeSet::is_empty) {
                self.open.remove(&leaf.key);
            }
            self.leaves.remove(&id);
            self.lazy_holders.remove(&id);
            let _ = alloc.release_group(&holder_name(id));
        }
    }

    /// Gives back everything `group` holds: its pods' shares and its pending leaves.
    fn give_back(&mut self, alloc: &mut Allocator, name: &str, group: &ShareGroup) {
        for (&milli, &slot) in group.milli.iter().zip(&group.slots).rev() {
            match slot {
                Slot::Placed(id) => self.untake(alloc, id, name, milli),
                Slot::Pending(id) => {
                    let _ = alloc.release_group(&holder_name(id));
                }
            }
        }
    }

    /// A share group leaves (finished, preempted, or a preemptor giving up); false when
    /// `group` is not one.
    pub fn release(&mut self, alloc: &mut Allocator, group: &str) -> bool {
        match self.groups.remove(group) {
            Some(g) => {
                self.give_back(alloc, group, &g);
                true
            }
            None => false,
        }
    }

    /// Where a placed share group's pods run (pods on pending leaves are left out).
    fn placement(&self, group: &str) -> GroupPlacement {
        let slots = self.groups.get(group).map_or(&[][..], |g| &g.slots[..]);
        let mut chain = String::new();
        let mut pods = Vec::with_capacity(slots.len());
        for slot in slots {
            if let Slot::Placed(id) = slot {
                let leaf = &self.leaves[id];
                if chain.is_empty() {
                    chain.clone_from(&leaf.chain);
                }
                pods.push(PodPlacement {
                    node: leaf.node.clone(),
                    devices: vec![leaf.device],
                    leaf_cell_number: 1,
                });
            }
        }
        GroupPlacement {
            group: group.to_string(),
            chain,
            pods,
        }
    }

    /// The allocator's victims with each holder replaced by every group with a pod on
    /// its leaf (each group once, in order of first appearance).
    pub fn expand_victims(&self, victims: Vec<Victim>) -> Vec<Victim> {
        if self.leaves.is_empty() {
            return victims;
        }
        let mut seen: HashSet<String> = HashSet::new();
        let mut out = Vec::with_capacity(victims.len());
        for victim in victims {
            let Some(leaf) = holder_id(&victim.group).and_then(|id| self.leaves.get(&id)) else {
                if seen.insert(victim.group.clone()) {
                    out.push(victim);
                }
                continue;
            };
            for (group, _) in &leaf.pods {
                if seen.insert(group.clone()) {
                    out.push(Victim {
                        group: group.clone(),
                        virtual_cluster: victim.virtual_cluster.clone(),
                        priority: victim.priority,
                        pods: self.placement(group).pods,
                    });
                }
            }
        }
        out
    }

    /// Closes the leaves whose holders the allocator lazily downgraded since the last
    /// look, and notes their groups as downgraded.
    fn refresh_downgraded(&mut self, alloc: &Allocator) {
        if alloc.downgrades == self.downgrades_seen {
            return;
        }
        self.downgrades_seen = alloc.downgrades;
        let downgraded: Vec<u64> = self
            .lazy_holders
            .iter()
            .copied()
            .filter(|&id| matches!(alloc.group_status(&holder_name(id)), Some((_, _, true))))
            .collect();
        for id in downgraded {
            self.lazy_holders.remove(&id);
            let leaf = self.leaves.get_mut(&id).expect("a lazy holder is held");
            leaf.open = false;
            if let Some(set) = self.open.get_mut(&leaf.key) {
                set.remove(&(leaf.free, leaf.cell, id));
            }
            for (group, _) in &leaf.pods {
                if !self.downgraded.contains(group) {
                    self.downgraded.push(group.clone());
                }
            }
        }
    }

    /// Share groups downgraded to opportunistic (with a leaf they are on) since the last
    /// call.
    pub fn take_downgraded(&mut self, alloc: &Allocator) -> Vec<String> {
        self.refresh_downgraded(alloc);
        std::mem::take(&mut self.downgraded)
    }

    /// Whether `request` (shares or whole GPUs) would be placed now on free cells if the
    /// groups `released` (share groups or others) were gone, asked on a trial of `alloc`
    /// that is rolled back. A released share group frees a leaf only when it was the
    /// leaf's last pod.
    pub fn fits_without(
        &self,
        alloc: &mut Allocator,
        request: &GroupRequest,
        released: &[String],
    ) -> bool {
        let share_request = request.has_shares();
        let checked = if share_request {
            match Self::check(alloc, request) {
                Ok((shares, _)) if !self.groups.contains_key(&request.name) => Some(shares),
                _ => return false,
            }
        } else {
            None
        };
        let mut freed: BTreeMap<u64, u32> = BTreeMap::new();
        let mut others: Vec<&str> = Vec::new();
        for name in released {
            match self.groups.get(name) {
                Some(group) => {
                    for (&milli, slot) in group.milli.iter().zip(&group.slots) {
                        match slot {
                            Slot::Placed(id) => *freed.entry(*id).or_default() += milli,
                            // A group still waiting for its victims is not running.
                            Slot::Pending(_) => return false,
                        }
                    }
                }
                None => others.push(name),
            }
        }
        let emptied: BTreeSet<u64> = freed
            .iter()
            .filter(|&(id, &milli)| MILLI - self.leaves[id].free == milli)
            .map(|(&id, _)| id)
            .collect();
        let mut trial = alloc.trial();
        for name in others {
            if !trial.release(name) {
                return false;
            }
        }
        for &id in &emptied {
            if !trial.release(&holder_name(id)) {
                return false;
            }
        }
        let Some(shares) = checked else {
            return trial.fits(request);
        };
        // Best fit over the key's open leaves as they would be, then new leaves in the
        // trial for the pods that fit none.
        let key = ShareKey::of(request);
        let mut room: Vec<(u32, CellId, u64)> = self
            .open
            .get(&key)
            .into_iter()
            .flatten()
            .filter(|(_, _, id)| !emptied.contains(id))
            .filter(|(_, _, id)| {
                request
                    .leaf_cell_type
                    .as_deref()
                    .is_none_or(|t| self.leaves[id].leaf_type == t)
            })
            .map(|&(free, cell, id)| (free + freed.get(&id).copied().unwrap_or(0), cell, id))
            .collect();
        let mut trial_id = self.next_id;
        for milli in shares {
            let best = room
                .iter_mut()
                .filter(|(free, _, _)| *free >= milli)
                .min_by_key(|&&mut entry| entry);
            if let Some(entry) = best {
                entry.0 -= milli;
                continue;
            }
            trial_id += 1;
            match trial.place(&Self::holder_request(trial_id, request)) {
                Some(_) => room.push((MILLI - milli, CellId::MAX, u64::MAX - trial_id)),
                None => return false,
            }
        }
        true
    }
}
