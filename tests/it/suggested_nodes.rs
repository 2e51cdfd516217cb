//! Suggested nodes (spec sections 2-4): with `ignoreK8sSuggestedNodes: false` a group is
//! placed only on the nodes the caller suggests (Kubernetes' filtered node list), and
//! waits when they cannot hold it; with the default (`true`) suggestions are ignored.

use std::collections::HashSet;

use cellsim::cell::{Allocator, Decision, GroupMember, GroupRequest};
use cellsim::config::load_str;

/// Four 4-GPU nodes in one pool; vc1 owns two of them, vc2 the other two.
const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    G-PAIR: {childCellType: G, childCellNumber: 2}
    G-NODE: {childCellType: G-PAIR, childCellNumber: 2, isNodeLevel: true}
    G-POOL: {childCellType: G-NODE, childCellNumber: 4}
  physicalCells:
  - cellType: G-POOL
    cellChildren: [{cellAddress: a}, {cellAddress: b}, {cellAddress: c}, {cellAddress: d}]
virtualClusters:
  vc1: {virtualCells: [{cellType: G-POOL.G-NODE, cellNumber: 2}]}
  vc2: {virtualCells: [{cellType: G-POOL.G-NODE, cellNumber: 2}]}
";

fn group(name: &str, priority: i32, pods: u32, gpus: u32, ignore: bool) -> GroupRequest {
    GroupRequest {
        name: name.into(),
        virtual_cluster: "vc1".into(),
        priority,
        leaf_cell_type: None,
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        ignore_k8s_suggested_nodes: ignore,
        members: vec![GroupMember::whole(pods, gpus)],
    }
}

fn nodes(names: &[&str]) -> HashSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn placed_nodes(d: &Decision) -> Vec<String> {
    match d {
        Decision::Bind(p) => p.pods.iter().map(|p| p.node.clone()).collect(),
        other => panic!("expected a bind, got {other:?}"),
    }
}

#[test]
fn guaranteed_group_binds_its_vc_cell_on_a_suggested_node() {
    let config = load_str(CLUSTER, "suggested-nodes test").unwrap();
    let mut alloc = Allocator::new(&config);
    // Without suggestions the first free node would be `a`; only `c` is suggested.
    let d = alloc.schedule(&group("g1", 10, 1, 4, false), Some(&nodes(&["c"])));
    assert_eq!(placed_nodes(&d), vec!["c"]);
}

#[test]
fn suggestions_are_ignored_by_default() {
    let config = load_str(CLUSTER, "suggested-nodes test").unwrap();
    let mut alloc = Allocator::new(&config);
    let d = alloc.schedule(&group("g1", 10, 1, 4, true), Some(&nodes(&["c"])));
    assert_eq!(placed_nodes(&d), vec!["a"]);
}

#[test]
fn group_waits_when_suggested_nodes_cannot_hold_it_and_state_is_unchanged() {
    let config = load_str(CLUSTER, "suggested-nodes test").unwrap();
    let mut alloc = Allocator::new(&config);
    let before = alloc.cluster_status();
    let d = alloc.schedule(&group("g1", 10, 2, 4, false), Some(&nodes(&["c"])));
    assert!(matches!(d, Decision::Wait { .. }), "{d:?}");
    assert_eq!(
        alloc.cluster_status(),
        before,
        "a wait leaves no binding behind"
    );
    // With two suggested nodes the 2 x 4-GPU gang fits.
    let d = alloc.schedule(&group("g1", 10, 2, 4, false), Some(&nodes(&["b", "d"])));
    let mut got = placed_nodes(&d);
    got.sort();
    assert_eq!(got, vec!["b", "d"]);
}

#[test]
fn opportunistic_group_uses_only_suggested_nodes() {
    let config = load_str(CLUSTER, "suggested-nodes test").unwrap();
    let mut alloc = Allocator::new(&config);
    let d = alloc.schedule(&group("o1", -1, 3, 1, false), Some(&nodes(&["d"])));
    assert_eq!(placed_nodes(&d), vec!["d", "d", "d"]);
}
