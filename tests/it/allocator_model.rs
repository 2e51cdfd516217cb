//! Model test of the allocator (STYLE.md "Model test for the allocator"): random valid
//! cluster configs and random sequences of schedule / confirm / release / node-down /
//! node-up, checked after every step against invariants computed independently from the
//! public views: no device held twice, leaf counts conserved, the VC safety invariant,
//! gangs all-or-nothing, release restores the prior state, and a guaranteed group that
//! fits its VC's free quota never waits because of other VCs.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use cellsim::cell::{Allocator, CellView, Decision, GroupMember, GroupRequest, GroupState};
use cellsim::config::{
    CellConfig, CellTypeSpec, PhysicalCellSpec, VirtualCellSpec, VirtualClusterSpec,
};
use proptest::prelude::*;

/// A random chain: fan-outs top-down (product capped to keep cases small), node level.
#[derive(Debug, Clone)]
struct ChainShape {
    fan_outs: Vec<u32>,
    node_depth: usize,
    tops: u32,
}

fn chain_strategy() -> impl Strategy<Value = ChainShape> {
    (1usize..=4, 1u32..=3)
        .prop_flat_map(|(inner_levels, tops)| {
            (
                prop::collection::vec(1u32..=8, inner_levels),
                0..inner_levels,
                Just(tops),
            )
        })
        .prop_map(|(mut fan_outs, node_depth, tops)| {
            // Keep each top cell at most 32 leaves so a case stays fast.
            while fan_outs.iter().product::<u32>() > 32 {
                let max = fan_outs.iter().copied().max().unwrap_or(1);
                let i = fan_outs.iter().position(|&f| f == max).unwrap_or(0);
                fan_outs[i] = (fan_outs[i] / 2).max(1);
            }
            ChainShape {
                fan_outs,
                node_depth,
                tops,
            }
        })
}

/// Builds a config from chain shapes; VCs take a random share of each chain's cells.
fn build_config(chains: &[ChainShape], vc_count: usize, shares: &[u32], pin: bool) -> CellConfig {
    let mut config = CellConfig {
        source: "model-test".into(),
        ..Default::default()
    };
    let mut node_counter = 0;
    let mut vcs: BTreeMap<String, VirtualClusterSpec> = (0..vc_count)
        .map(|v| (format!("vc{v}"), VirtualClusterSpec::default()))
        .collect();
    let mut share_iter = shares.iter().cycle();
    for (ci, shape) in chains.iter().enumerate() {
        let depth = shape.fan_outs.len();
        // Type names top-down: level depth+1 .. 2, leaf is "L{ci}".
        let type_at = |d: usize| {
            if d == depth {
                format!("L{ci}")
            } else {
                format!("C{ci}-{d}")
            }
        };
        for d in 0..depth {
            config.cell_types.insert(
                type_at(d),
                CellTypeSpec {
                    child_cell_type: type_at(d + 1),
                    child_cell_number: shape.fan_outs[d],
                    is_node_level: d == shape.node_depth,
                },
            );
        }
        #[allow(clippy::too_many_arguments)] // a recursive test helper; a struct would only hide the same values
        fn expand(
            depth: usize,
            d: usize,
            node_depth: usize,
            fan: &[u32],
            type_at: &dyn Fn(usize) -> String,
            position: u32,
            node_counter: &mut u32,
            leaf_index: &mut u32,
        ) -> PhysicalCellSpec {
            let is_node = d == node_depth;
            let address = if is_node {
                *node_counter += 1;
                *leaf_index = 0;
                format!("n{}", *node_counter)
            } else if d == depth {
                *leaf_index += 1;
                (*leaf_index - 1).to_string()
            } else {
                position.to_string()
            };
            let children = if d == depth {
                Vec::new()
            } else {
                (0..fan[d])
                    .map(|i| {
                        expand(
                            depth,
                            d + 1,
                            node_depth,
                            fan,
                            type_at,
                            i,
                            node_counter,
                            leaf_index,
                        )
                    })
                    .collect()
            };
            PhysicalCellSpec {
                cell_type: type_at(d),
                address,
                pinned_cell_id: None,
                children,
            }
        }
        let mut tops = Vec::new();
        for t in 0..shape.tops {
            let mut leaf_index = 0;
            tops.push(expand(
                depth,
                0,
                shape.node_depth,
                &shape.fan_outs,
                &type_at,
                t,
                &mut node_counter,
                &mut leaf_index,
            ));
        }
        // Pin the first node-level cell of the first top when asked (and there are >= 2 tops).
        let mut pinned_owner = None;
        if pin && shape.tops >= 2 {
            let mut cell = &mut tops[0];
            for _ in 0..shape.node_depth {
                cell = &mut cell.children[0];
            }
            let id = format!("PIN-{ci}");
            cell.pinned_cell_id = Some(id.clone());
            pinned_owner = Some(id);
        }
        config.physical_cells.extend(tops);
        // VC demand: node-level cells of this chain shared out among VCs, never over capacity.
        let nodes_per_top: u32 = shape.fan_outs[..shape.node_depth].iter().product();
        let mut available = nodes_per_top * shape.tops;
        if let Some(pin) = pinned_owner {
            available -= 1;
            vcs.get_mut("vc0").expect("vc0").pinned_cells.push(pin);
        }
        for v in 0..vc_count {
            let want = (*share_iter.next().unwrap_or(&1)).min(available);
            if want == 0 {
                continue;
            }
            available -= want;
            vcs.get_mut(&format!("vc{v}"))
                .expect("vc")
                .virtual_cells
                .push(VirtualCellSpec {
                    chain: type_at(0),
                    cell_type: type_at(shape.node_depth),
                    cell_number: want,
                });
        }
    }
    config.virtual_clusters = vcs;
    config
}

#[derive(Debug, Clone)]
enum Op {
    Schedule {
        vc: usize,
        priority: i32,
        members: Vec<(u32, u32)>,
        lazy: bool,
        pinned: bool,
        typed: bool,
    },
    ScheduleThenRelease {
        vc: usize,
        members: Vec<(u32, u32)>,
    },
    Retry(usize),
    Confirm(usize),
    Release(usize),
    NodeDown(usize),
    NodeUp(usize),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let members = prop::collection::vec(
        (1u32..=3, prop::sample::select(vec![1u32, 1, 2, 4, 8])),
        1..=2,
    );
    prop_oneof![
        4 => (0usize..4, prop::sample::select(vec![-1, -1, 0, 10, 100, 1000]), members.clone(), any::<bool>(), prop::bool::weighted(0.1), any::<bool>())
            .prop_map(|(vc, priority, members, lazy, pinned, typed)| Op::Schedule { vc, priority, members, lazy, pinned, typed }),
        1 => (0usize..4, members).prop_map(|(vc, members)| Op::ScheduleThenRelease { vc, members }),
        1 => (0usize..64).prop_map(Op::Retry),
        2 => (0usize..64).prop_map(Op::Confirm),
        2 => (0usize..64).prop_map(Op::Release),
        1 => (0usize..64).prop_map(Op::NodeDown),
        1 => (0usize..64).prop_map(Op::NodeUp),
    ]
}

fn request(
    name: String,
    vc: usize,
    vc_count: usize,
    priority: i32,
    members: &[(u32, u32)],
    lazy: bool,
) -> GroupRequest {
    GroupRequest {
        name,
        virtual_cluster: format!("vc{}", vc % vc_count),
        priority,
        leaf_cell_type: None,
        pinned_cell_id: None,
        lazy_preemption_enable: lazy,
        ignore_k8s_suggested_nodes: true,
        members: members
            .iter()
            .map(|&(p, l)| GroupMember::whole(p, l))
            .collect(),
    }
}

fn walk<'a>(view: &'a CellView, out: &mut Vec<&'a CellView>) {
    out.push(view);
    if let Some(children) = &view.cell_children {
        for c in children {
            walk(c, out);
        }
    }
}

/// Checks every invariant; `live` maps group name -> request for groups the test thinks are live.
fn check_invariants(
    alloc: &Allocator,
    live: &BTreeMap<String, GroupRequest>,
) -> Result<(), TestCaseError> {
    // No device held twice by allocated groups; every placement is whole.
    let mut held: HashMap<(String, u32), String> = HashMap::new();
    let mut used_leaves = 0usize;
    for (name, req) in live {
        let Some((state, _, _)) = alloc.group_status(name) else {
            return Err(TestCaseError::fail(format!("group {name} vanished")));
        };
        let placement = alloc.placement(name).expect("live group has a placement");
        prop_assert_eq!(
            placement.pods.len() as u64,
            req.pod_count(),
            "gang {} not whole",
            name
        );
        let mut sizes: Vec<u32> = placement
            .pods
            .iter()
            .map(|p| p.devices.len() as u32)
            .collect();
        let mut want = req.pod_sizes();
        sizes.sort_unstable();
        want.sort_unstable();
        prop_assert_eq!(sizes, want, "pod sizes of {}", name);
        if state == GroupState::Allocated {
            for pod in &placement.pods {
                for &d in &pod.devices {
                    if let Some(other) = held.insert((pod.node.clone(), d), name.clone()) {
                        return Err(TestCaseError::fail(format!(
                            "{}:{d} held by {other} and {name}",
                            pod.node
                        )));
                    }
                    used_leaves += 1;
                }
            }
        }
    }
    prop_assert_eq!(alloc.group_count(), live.len());
    // Leaf counts conserved: the physical view's used leaves are exactly the groups' leaves.
    let view = alloc.physical_view();
    let mut cells = Vec::new();
    for top in &view {
        walk(top, &mut cells);
    }
    let leaves: Vec<&&CellView> = cells.iter().filter(|c| c.cell_children.is_none()).collect();
    let used_in_view = leaves
        .iter()
        .filter(|c| c.cell_state == "Used" || c.cell_state == "Reserving")
        .count();
    prop_assert_eq!(used_in_view, used_leaves, "used leaves in view vs groups");
    // VC safety, reference computation: unbound demand per chain and level from the VC
    // views must fit in the maximal unbound physical cells, top down.
    for chain in 0..alloc.topology().chains.len() {
        prop_assert!(
            alloc.is_safe(chain as u16),
            "allocator reports chain {} unsafe",
            chain
        );
    }
    let topo = alloc.topology();
    for (ci, chain) in topo.chains.iter().enumerate() {
        let top = chain.top_level() as usize;
        let mut demand = vec![0i64; top + 1];
        for cells in alloc.virtual_clusters_view().values() {
            for c in cells {
                if c.physical_cell.is_none()
                    && chain.level_of(&c.cell_type).is_some()
                    && c.leaf_cell_type.as_deref() == Some(chain.leaf_type.as_str())
                {
                    // Only count VC cells that belong to this chain by type.
                    if topo
                        .chains
                        .iter()
                        .filter(|other| other.level_of(&c.cell_type).is_some())
                        .count()
                        == 1
                    {
                        demand[chain.level_of(&c.cell_type).expect("level") as usize] += 1;
                    }
                }
            }
        }
        // Maximal unbound physical cells per level: no vc in the subtree and none above.
        let mut free = vec![0i64; top + 1];
        fn has_vc(v: &CellView) -> bool {
            v.vc.is_some()
                || v.cell_children
                    .as_ref()
                    .is_some_and(|cs| cs.iter().any(has_vc))
        }
        fn count_free(v: &CellView, level: usize, free: &mut [i64]) {
            if !has_vc(v) {
                free[level] += 1;
            } else if let Some(cs) = &v.cell_children {
                for c in cs {
                    count_free(c, level - 1, free);
                }
            }
        }
        for &t in &chain.tops {
            let address = &topo.cell(t).address;
            if let Some(v) = view
                .iter()
                .find(|v| &v.cell_address == address && v.cell_type == chain.name)
            {
                count_free(v, top, &mut free);
            }
        }
        let mut carried = 0i64;
        for level in (1..=top).rev() {
            let left = free[level] + carried - demand[level];
            prop_assert!(
                left >= 0,
                "chain {} level {}: demand {} > obtainable {}",
                ci,
                level,
                demand[level],
                free[level] + carried
            );
            carried = left * chain.fan_out[level - 1] as i64;
        }
    }
    Ok(())
}

/// The first differing lines of two views as pretty JSON, for a readable failure.
fn first_difference<T: serde::Serialize>(a: &T, b: &T) -> String {
    let a = serde_json::to_string_pretty(a).unwrap_or_default();
    let b = serde_json::to_string_pretty(b).unwrap_or_default();
    for (i, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        if x != y {
            let context: Vec<&str> = a.lines().skip(i.saturating_sub(8)).take(9).collect();
            return format!(
                "line {i}: before {x:?}, after {y:?}; context before:\n{}",
                context.join("\n")
            );
        }
    }
    "lengths differ".to_string()
}

fn run_case(
    chains: Vec<ChainShape>,
    vc_count: usize,
    shares: Vec<u32>,
    pin: bool,
    ops: Vec<Op>,
) -> Result<(), TestCaseError> {
    let config = build_config(&chains, vc_count, &shares, pin);
    let mut alloc = Allocator::new(&config);
    let nodes: Vec<String> = alloc
        .topology()
        .nodes
        .iter()
        .map(|n| n.name.clone())
        .collect();
    let pins: BTreeMap<String, String> = config
        .virtual_clusters
        .iter()
        .flat_map(|(vc, spec)| {
            spec.pinned_cells
                .iter()
                .map(move |p| (vc.clone(), p.clone()))
        })
        .collect();
    let mut live: BTreeMap<String, GroupRequest> = BTreeMap::new();
    let mut counter = 0;
    check_invariants(&alloc, &live)?;
    for op in ops {
        match op {
            Op::Schedule {
                vc,
                priority,
                members,
                lazy,
                pinned,
                typed,
            } => {
                counter += 1;
                let mut req = request(
                    format!("g{counter}"),
                    vc,
                    vc_count,
                    priority,
                    &members,
                    lazy,
                );
                if pinned
                    && priority >= 0
                    && let Some(pin) = pins.get(&req.virtual_cluster)
                {
                    req.pinned_cell_id = Some(pin.clone());
                }
                if typed {
                    req.leaf_cell_type = Some(format!("L{}", counter % chains.len()));
                }
                let before = alloc.cluster_status();
                let vc_free = vc_free_quota(&alloc, &config, &req, &live);
                let decision = alloc.schedule(&req, None);
                match &decision {
                    Decision::Bind(_) | Decision::Preempt { .. } => {
                        live.insert(req.name.clone(), req.clone());
                    }
                    Decision::Wait { .. } => {
                        prop_assert!(
                            alloc.placement(&req.name).is_none(),
                            "waiting group holds cells"
                        );
                        // A guaranteed group of 1-GPU pods that fits its VC's free quota on a
                        // healthy cluster never waits because of other VCs' jobs.
                        if req.priority >= 0
                            && req.pinned_cell_id.is_none()
                            && alloc.bad_nodes().is_empty()
                            && req.members.iter().all(|m| m.leaf_cell_number == 1)
                            && let Some(free) = vc_free
                        {
                            prop_assert!(
                                free < req.leaf_count(),
                                "group {:?} waited with {} free quota: {:?}",
                                req,
                                free,
                                decision
                            );
                        }
                    }
                    Decision::Reject { .. } => {
                        prop_assert!(alloc.placement(&req.name).is_none());
                        let after = alloc.cluster_status();
                        prop_assert!(
                            after == before,
                            "reject changed state: {}",
                            first_difference(&before, &after)
                        );
                    }
                }
                // Lazy preemption may have downgraded victims; drop nothing, they keep running.
            }
            Op::ScheduleThenRelease { vc, members } => {
                counter += 1;
                let req = request(format!("g{counter}"), vc, vc_count, 10, &members, false);
                let before = alloc.cluster_status();
                let before_groups = alloc.affinity_groups_view();
                if let Decision::Bind(_) = alloc.schedule(&req, None) {
                    let mut others = alloc.affinity_groups_view();
                    others.items.retain(|g| g.metadata.name != req.name);
                    // Only a placement that touched no other group (no lazy downgrade, no
                    // canceled reservation) must be undone exactly by its release.
                    if others == before_groups {
                        alloc.release_group(&req.name).expect("live");
                        let after = alloc.cluster_status();
                        prop_assert!(
                            after == before,
                            "release did not restore state: {}",
                            first_difference(&before, &after)
                        );
                        prop_assert_eq!(alloc.affinity_groups_view(), before_groups);
                    } else {
                        live.insert(req.name.clone(), req);
                    }
                } else if alloc.placement(&req.name).is_some() {
                    live.insert(req.name.clone(), req);
                }
            }
            Op::Retry(i) => {
                let preempting: Vec<String> = live
                    .keys()
                    .filter(|n| {
                        matches!(alloc.group_status(n), Some((GroupState::Preempting, _, _)))
                    })
                    .cloned()
                    .collect();
                if let Some(name) = preempting.get(i % preempting.len().max(1)) {
                    let req = live[name].clone();
                    let d = alloc.schedule(&req, None);
                    match &d {
                        Decision::Bind(_) | Decision::Preempt { .. } => {}
                        // A reservation on a node gone bad is cancelled (spec section 9):
                        // the group is gone and nothing is reserved for it.
                        Decision::Wait {
                            reason: cellsim::cell::WaitReason::PreemptionCanceled { bad, .. },
                        } if !bad.is_empty() => {
                            prop_assert!(alloc.group_status(name).is_none(), "still live");
                            live.remove(name);
                        }
                        other => prop_assert!(false, "retry: {:?}", other),
                    }
                }
            }
            Op::Confirm(i) => {
                if let Some(name) = live.keys().nth(i % live.len().max(1)).cloned()
                    && let Some((GroupState::Allocated, _, _)) = alloc.group_status(&name)
                {
                    let size = live[&name].members[0].leaf_cell_number;
                    let _ = alloc.confirm_pod(&name, &format!("{name}-pod{i}"), size);
                }
            }
            Op::Release(i) => {
                if let Some(name) = live.keys().nth(i % live.len().max(1)).cloned() {
                    alloc.release_group(&name).expect("live group releases");
                    live.remove(&name);
                    // Preemptors whose reservations were canceled are gone too.
                    live.retain(|n, _| alloc.group_status(n).is_some());
                }
            }
            Op::NodeDown(i) => {
                alloc
                    .set_node_health(&nodes[i % nodes.len()], false)
                    .expect("node");
            }
            Op::NodeUp(i) => {
                alloc
                    .set_node_health(&nodes[i % nodes.len()], true)
                    .expect("node");
            }
        }
        // A lower-priority preemptor canceled by a higher one disappears.
        live.retain(|n, _| alloc.group_status(n).is_some());
        check_invariants(&alloc, &live)?;
    }
    Ok(())
}

/// Leaves of the request's VC (non-pinned cells of usable chains) not used by its own
/// guaranteed groups of equal or higher priority; `None` when the VC has several chains
/// of the type (then quota alone does not say which chain must take it).
fn vc_free_quota(
    alloc: &Allocator,
    config: &CellConfig,
    req: &GroupRequest,
    live: &BTreeMap<String, GroupRequest>,
) -> Option<u64> {
    let spec = config.virtual_clusters.get(&req.virtual_cluster)?;
    let chains: BTreeSet<&String> = spec
        .virtual_cells
        .iter()
        .filter(|v| {
            req.leaf_cell_type
                .as_ref()
                .is_none_or(|t| config.leaf_type_of(&v.chain) == t)
        })
        .map(|v| &v.chain)
        .collect();
    if chains.len() != 1 {
        return None;
    }
    let total: u64 = spec
        .virtual_cells
        .iter()
        .filter(|v| chains.contains(&v.chain))
        .map(|v| v.cell_number as u64 * config.leaf_count_of(&v.cell_type))
        .sum();
    let mut used = 0u64;
    for (name, other) in live {
        if other.virtual_cluster != req.virtual_cluster || other.pinned_cell_id.is_some() {
            continue;
        }
        if let Some((_, priority, _)) = alloc.group_status(name)
            && priority >= req.priority
            && let Some(p) = alloc.placement(name)
            && chains.contains(&p.chain)
        {
            used += other.leaf_count();
        }
    }
    Some(total.saturating_sub(used))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn allocator_keeps_its_invariants(
        chains in prop::collection::vec(chain_strategy(), 1..=3),
        vc_count in 1usize..=4,
        shares in prop::collection::vec(0u32..=3, 1..=4),
        pin in any::<bool>(),
        ops in prop::collection::vec(op_strategy(), 1..40),
    ) {
        run_case(chains, vc_count, shares, pin, ops)?;
    }
}
