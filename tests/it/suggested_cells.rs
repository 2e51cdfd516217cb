//! Suggested nodes at cell level (spec section 3): a VC's preassigned cell that spans
//! several nodes may be bound to a physical cell of which only some nodes are suggested;
//! the group's pods then go to those suggested nodes. See: issue 14, item 3.

use std::collections::HashSet;

use cellsim::cell::{Allocator, Decision, GroupRequest};

use crate::common::{node_set, one_shape_group};
use cellsim::config::load_str;

/// Two 2-node cells of 16-GPU nodes, `(n1, n2)` and `(n3, n4)`; vc1 owns one such cell.
const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    NODE16: {childCellType: GPU, childCellNumber: 16, isNodeLevel: true}
    PAIR: {childCellType: NODE16, childCellNumber: 2}
  physicalCells:
  - cellType: PAIR
    cellChildren: [{cellAddress: n1}, {cellAddress: n2}]
  - cellType: PAIR
    cellChildren: [{cellAddress: n3}, {cellAddress: n4}]
virtualClusters:
  vc1: {virtualCells: [{cellType: PAIR, cellNumber: 1}]}
";

fn group(name: &str, pods: u32, gpus: u32) -> GroupRequest {
    one_shape_group(name, "vc1", 10, pods, gpus, true)
}

fn nodes(names: &[&str]) -> HashSet<String> {
    node_set(names)
}

#[test]
fn a_cell_with_one_suggested_node_holds_a_group_that_fits_on_that_node() {
    let config = load_str(CLUSTER, "suggested-cells test").unwrap();
    let mut alloc = Allocator::new(&config);
    // Neither 2-node cell is wholly suggested, but (n3, n4) has n3, where 16 GPUs fit.
    let d = alloc.schedule(&group("g1", 1, 16), Some(&nodes(&["n3"])));
    let Decision::Bind(placement) = d else {
        panic!("expected a bind on n3, got {d:?}");
    };
    assert_eq!(placement.pods.len(), 1);
    assert_eq!(placement.pods[0].node, "n3");
    assert_eq!(placement.pods[0].devices, (0..16).collect::<Vec<u32>>());
}

#[test]
fn a_group_needing_both_nodes_of_a_cell_waits_when_only_one_is_suggested() {
    let config = load_str(CLUSTER, "suggested-cells test").unwrap();
    let mut alloc = Allocator::new(&config);
    let before = alloc.cluster_status();
    // Each cell has one suggested node; two 16-GPU pods need both nodes of one cell.
    let d = alloc.schedule(&group("g1", 2, 16), Some(&nodes(&["n2", "n3"])));
    assert!(matches!(d, Decision::Wait { .. }), "{d:?}");
    assert_eq!(
        alloc.cluster_status(),
        before,
        "a wait leaves no binding behind"
    );
}
