//! Binding a VC's preassigned cell is a search (spec section 3): when the first physical
//! candidate cannot hold the group's pods after packing (here: too few of its nodes are
//! suggested), the next candidates are tried before the group waits. See: issue 14,
//! item 3.

use std::collections::HashSet;

use cellsim::cell::{Allocator, Decision, GroupRequest};

use crate::common::{node_set, one_shape_group};
use cellsim::config::load_str;

/// Two 4-node cells of 8-GPU nodes, `(a, b, c, d)` and `(e, f, g, h)`; vc1 owns one.
const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    NODE8: {childCellType: GPU, childCellNumber: 8, isNodeLevel: true}
    QUAD: {childCellType: NODE8, childCellNumber: 4}
  physicalCells:
  - cellType: QUAD
    cellChildren: [{cellAddress: a}, {cellAddress: b}, {cellAddress: c}, {cellAddress: d}]
  - cellType: QUAD
    cellChildren: [{cellAddress: e}, {cellAddress: f}, {cellAddress: g}, {cellAddress: h}]
virtualClusters:
  vc1: {virtualCells: [{cellType: QUAD, cellNumber: 1}]}
";

fn group(name: &str, pods: u32, gpus: u32) -> GroupRequest {
    one_shape_group(name, "vc1", 10, pods, gpus, true)
}

fn nodes(names: &[&str]) -> HashSet<String> {
    node_set(names)
}

#[test]
fn the_next_candidate_cell_is_tried_when_the_first_cannot_hold_the_pods() {
    let config = load_str(CLUSTER, "binding-backtrack test").unwrap();
    let mut alloc = Allocator::new(&config);
    // The first cell has one suggested node (b), the second two (e, f): two 8-GPU pods
    // fit only in the second.
    let d = alloc.schedule(&group("g1", 2, 8), Some(&nodes(&["b", "e", "f"])));
    let Decision::Bind(placement) = d else {
        panic!("expected a bind on e and f, got {d:?}");
    };
    let mut placed: Vec<&str> = placement.pods.iter().map(|p| p.node.as_str()).collect();
    placed.sort();
    assert_eq!(placed, ["e", "f"]);
    for pod in &placement.pods {
        assert_eq!(pod.devices, (0..8).collect::<Vec<u32>>());
    }
}

#[test]
fn a_group_no_candidate_can_hold_waits_and_leaves_no_binding() {
    let config = load_str(CLUSTER, "binding-backtrack test").unwrap();
    let mut alloc = Allocator::new(&config);
    let before = alloc.cluster_status();
    let d = alloc.schedule(&group("g1", 3, 8), Some(&nodes(&["b", "e", "f"])));
    assert!(matches!(d, Decision::Wait { .. }), "{d:?}");
    assert_eq!(alloc.cluster_status(), before);
    // The same group binds once a cell has three suggested nodes.
    let d = alloc.schedule(&group("g1", 3, 8), Some(&nodes(&["b", "e", "f", "h"])));
    let Decision::Bind(placement) = d else {
        panic!("expected a bind, got {d:?}");
    };
    let mut placed: Vec<&str> = placement.pods.iter().map(|p| p.node.as_str()).collect();
    placed.sort();
    assert_eq!(placed, ["e", "f", "h"]);
}
