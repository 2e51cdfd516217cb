//! Trial placements that are rolled back: "would this group start now if those groups
//! were gone?" asked of the allocator itself, without copying it. A [`Trial`] releases
//! groups and places requests as the allocator always does; when it ends, each placement
//! it made is released and each released group is put back on its own cells with its own
//! cell bindings, which leaves the allocator exactly as it was (the buddy free lists, VC
//! totals and ranking indexes are functions of what is bound and used). With bad nodes in
//! the cluster, doomed bindings may move during the trial; the trial then keeps a copy
//! instead, the rare case where restoring by hand would be fragile.

use std::collections::HashSet;

use super::allocator::{Allocator, Group, GroupId, GroupState, VcId};
use super::decision::{Decision, GroupPlacement};
use super::request::GroupRequest;
use super::topology::CellId;

/// A what-if on an allocator; see the module docs. Dropping it restores the allocator.
pub struct Trial<'a> {
    alloc: &'a mut Allocator,
    /// Groups released so far, in release order.
    released: Vec<Group>,
    /// The bindings of the released groups' cells before their release, in the order
    /// first seen: (VC, preassigned index, physical cell, doomed).
    bindings: Vec<(VcId, u32, CellId, bool)>,
    /// The allocator's next group id, which a trial placement moves.
    next_group_id: GroupId,
    /// A copy to restore from, taken only when bad nodes make by-hand restoring fragile.
    snapshot: Option<Box<Allocator>>,
    /// Groups [`Trial::place`] placed and keeps until the trial ends.
    placed: Vec<String>,
}

impl Allocator {
    /// Starts a trial on this allocator: release groups and ask whether a request fits,
    /// then drop the trial to undo it all.
    pub fn trial(&mut self) -> Trial<'_> {
        let snapshot = (self.bad_leaves > 0).then(|| Box::new(self.clone()));
        Trial {
            next_group_id: self.next_group_id,
            alloc: self,
            released: Vec::new(),
            bindings: Vec::new(),
            snapshot,
            placed: Vec::new(),
        }
    }
}

impl Trial<'_> {
    /// Where `group` runs, as things stand in the trial.
    pub fn placement(&self, group: &str) -> Option<GroupPlacement> {
        self.alloc.placement(group)
    }

    /// Releases the placed group `group` for the trial. False (and nothing changes) when
    /// no such group is placed (unknown, or still preempting).
    pub fn release(&mut self, group: &str) -> bool {
        let Some(&gid) = self.alloc.group_by_name.get(group) else {
            return false;
        };
        if self.alloc.groups[&gid].state != GroupState::Allocated {
            return false;
        }
        let leaves: Vec<CellId> = self.alloc.groups[&gid].all_leaves().collect();
        for leaf in leaves {
            let Some((vc, p)) = self.alloc.binding_of(leaf) else {
                continue;
            };
            if self.bindings.iter().any(|&(v, i, _, _)| (v, i) == (vc, p)) {
                continue;
            }
            let pre = &self.alloc.vcs[vc as usize].preassigned[p as usize];
            if let Some(cell) = pre.bound {
                self.bindings.push((vc, p, cell, pre.doomed));
            }
        }
        let group = self.alloc.groups[&gid].clone();
        self.alloc.release_by_id(gid);
        self.released.push(group);
        true
    }

    /// Whether `request` would be placed now without preempting anyone, as things stand
    /// in the trial. The placement, if any, is undone at once. A request whose name is a
    /// live group, or that the allocator would reject, does not fit.
    pub fn fits(&mut self, request: &GroupRequest) -> bool {
        self.fits_on(request, None)
    }

    /// [`Trial::fits`] on `nodes` only (all nodes when `None`), as a node selector
    /// filters them.
    pub fn fits_on(&mut self, request: &GroupRequest, nodes: Option<&HashSet<String>>) -> bool {
        let Ok(vc) = self.alloc.check_request(request) else {
            return false;
        };
        if self.alloc.group_by_name.contains_key(&request.name) {
            return false;
        }
        // No lazy preemption and no reservation: only a placement on free cells counts,
        // and nothing but that placement changes.
        let decision = self.alloc.schedule_new(request, vc, nodes, false, false);
        let fits = matches!(decision, Decision::Bind(_));
        if fits && let Some(&gid) = self.alloc.group_by_name.get(&request.name) {
            self.alloc.release_by_id(gid);
        }
        fits
    }

    /// Places `request` on free cells for the rest of the trial (no preemption, no
    /// lazy downgrade) and returns its placement; `None` (nothing changes) when it does
    /// not fit, is rejected, or names a live group. Later calls see it as placed: this is
    /// how several groups are asked to fit at once (the shared leaves a gang of GPU
    /// shares needs, `cell/leaf_share.rs`).
    pub fn place(&mut self, request: &GroupRequest) -> Option<GroupPlacement> {
        let vc = self.alloc.check_request(request).ok()?;
        if self.alloc.group_by_name.contains_key(&request.name) {
            return None;
        }
        match self.alloc.schedule_new(request, vc, None, false, false) {
            Decision::Bind(placement) => {
                self.placed.push(request.name.clone());
                Some(placement)
            }
            _ => None,
        }
    }
}

impl Drop for Trial<'_> {
    fn drop(&mut self) {
        if let Some(snapshot) = self.snapshot.take() {
            *self.alloc = *snapshot;
            return;
        }
        // Kept placements go first, newest first, so that every trial placement is
        // released before the released groups come back, as below assumes.
        for name in self.placed.drain(..).rev() {
            if let Some(&gid) = self.alloc.group_by_name.get(&name) {
                self.alloc.release_by_id(gid);
            }
        }
        self.alloc.next_group_id = self.next_group_id;
        // The released groups' cells are free now (each trial placement was released),
        // so each binding is taken back first, then the groups return onto their cells
        // as a placement would set them: users, then usage.
        for &(vc, p, cell, doomed) in &self.bindings {
            let pre = &self.alloc.vcs[vc as usize].preassigned[p as usize];
            if pre.bound != Some(cell) {
                if pre.bound.is_some() {
                    self.alloc.unbind(vc, p);
                }
                self.alloc
                    .take_specific(cell)
                    .expect("a released group's cell is free again after its trial");
                self.alloc.bind(vc, p, cell);
            }
            self.alloc.vcs[vc as usize].preassigned[p as usize].doomed = doomed;
        }
        for group in self.released.drain(..).rev() {
            let (gid, priority) = (group.id, group.priority);
            let leaves: Vec<CellId> = group.all_leaves().collect();
            self.alloc
                .group_by_name
                .insert(group.request.name.clone(), gid);
            self.alloc.groups.insert(gid, group);
            self.alloc.count_group(gid, 1);
            self.alloc.set_leaves_user(&leaves, Some((gid, priority)));
            if priority >= 0 {
                for &leaf in &leaves {
                    self.alloc.add_usage(leaf, 1);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    // The allocator tests' cluster: two racks of two 4-GPU nodes, a pinned pair, and
    // four VCs (one rack, one node, the pinned pair, one pair).
    use crate::cell::allocator::tests::CLUSTER;

    /// The allocator tests' request, with lazy preemption in VC a so that trials meet
    /// downgrades too.
    fn request(name: String, vc: &str, priority: i32, pods: u32, size: u32) -> GroupRequest {
        GroupRequest {
            lazy_preemption_enable: vc == "a",
            ..crate::cell::allocator::tests::request(name, vc, priority, pods, size)
        }
    }

    fn random_request(rng: &mut ChaCha8Rng, name: String) -> GroupRequest {
        let vc = ["a", "b", "c", "d"][rng.random_range(0..4)];
        let priority = [-1, 10, 100][rng.random_range(0..3)];
        let priority = if vc == "c" { 10 } else { priority };
        let size = [1, 2, 4][rng.random_range(0..3)];
        request(name, vc, priority, rng.random_range(1..=2), size)
    }

    /// Everything a decision can depend on, in a comparable form (group names sorted).
    fn state(alloc: &Allocator) -> String {
        let mut names: Vec<_> = alloc.group_by_name.iter().collect();
        names.sort();
        format!(
            "{:?} {:?}",
            (
                &alloc.cells,
                &alloc.free_lists,
                &alloc.demand,
                &alloc.vcs,
                &alloc.groups,
                names,
            ),
            (
                alloc.next_group_id,
                alloc.reserved_leaves,
                &alloc.guaranteed_groups,
                &alloc.opportunistic_groups,
                &alloc.chain_used,
                alloc.downgrades,
                &alloc.vc_room,
            )
        )
    }

    /// Random schedules, releases and node health changes on an allocator that also runs
    /// random trials, against a twin that never does: every trial answers what releasing
    /// for real on a copy answers, leaves the state exactly as it was, and the two
    /// allocators decide everything alike.
    #[test]
    fn a_trial_answers_like_a_real_release_and_leaves_no_trace() {
        let config = crate::config::load_str(CLUSTER, "test").unwrap();
        let mut alloc = Allocator::new(&config);
        let mut twin = Allocator::new(&config);
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut live: Vec<String> = Vec::new();
        let (mut trials, mut fitting) = (0, 0);
        for step in 1..=4_000 {
            match rng.random_range(0..12) {
                0..=5 => {
                    let asked = random_request(&mut rng, format!("g{step}"));
                    let decision = alloc.schedule(&asked, None);
                    assert_eq!(decision, twin.schedule(&asked, None), "step {step}");
                    match decision {
                        Decision::Bind(_) => live.push(asked.name.clone()),
                        Decision::Preempt { victims } => {
                            for v in victims {
                                alloc.release_group(&v.group).unwrap();
                                twin.release_group(&v.group).unwrap();
                                live.retain(|g| *g != v.group);
                            }
                            let again = alloc.schedule(&asked, None);
                            assert_eq!(again, twin.schedule(&asked, None), "step {step}");
                            live.push(asked.name.clone());
                        }
                        _ => {}
                    }
                }
                6..=7 if !live.is_empty() => {
                    let g = live.swap_remove(rng.random_range(0..live.len()));
                    alloc.release_group(&g).unwrap();
                    twin.release_group(&g).unwrap();
                }
                8 => {
                    let node = ["n0", "n1", "n2", "n3"][rng.random_range(0..4)];
                    let healthy = rng.random_range(0..4) > 0;
                    alloc.set_node_health(node, healthy).unwrap();
                    twin.set_node_health(node, healthy).unwrap();
                }
                _ => {
                    let before = state(&alloc);
                    let released: Vec<String> = live
                        .iter()
                        .filter(|_| rng.random_range(0..3) == 0)
                        .cloned()
                        .collect();
                    let asked = random_request(&mut rng, format!("t{step}"));
                    // The reference: release for real on a copy, then place there.
                    let mut copy = alloc.clone();
                    for g in &released {
                        copy.release_group(g).unwrap();
                    }
                    let vc = copy.check_request(&asked);
                    let expected = vc.is_ok_and(|vc| {
                        matches!(
                            copy.schedule_new(&asked, vc, None, false, false),
                            Decision::Bind(_)
                        )
                    });
                    let mut trial = alloc.trial();
                    for g in &released {
                        assert!(trial.release(g), "step {step}: {g}");
                    }
                    let fits = trial.fits(&asked);
                    // Asking twice changes nothing either.
                    assert_eq!(fits, trial.fits(&asked), "step {step}");
                    drop(trial);
                    assert_eq!(fits, expected, "step {step}: released {released:?}");
                    assert_eq!(state(&alloc), before, "step {step}: state after a trial");
                    alloc.assert_rank_indexes_match(step);
                    trials += 1;
                    fitting += usize::from(fits);
                }
            }
        }
        assert!(
            trials > 500 && fitting > 100 && trials - fitting > 100,
            "{trials} trials, {fitting} fit"
        );
    }

    #[test]
    fn a_trial_cannot_release_an_unknown_group() {
        let config = crate::config::load_str(CLUSTER, "test").unwrap();
        let mut alloc = Allocator::new(&config);
        let before = state(&alloc);
        let mut trial = alloc.trial();
        assert!(!trial.release("nobody"));
        assert!(trial.fits(&request("x".into(), "b", 10, 1, 4)));
        assert!(!trial.fits(&request("y".into(), "b", 10, 2, 4)));
        drop(trial);
        assert_eq!(state(&alloc), before);
    }
}
