//! A VC's cell is bound by splitting a higher free cell only as far as the VC safety
//! invariant allows (spec section 3), also when bad nodes push the choice away from the
//! free cell of the right size: a spare cell at the higher level is not enough when the
//! levels in between are all promised to another VC. Found by the rebuild property test
//! (a guaranteed group came back opportunistic after a restart, because the rebuild saw
//! the unsafe binding the live decision had made).

use cellsim::cell::{Allocator, Decision, WaitReason};
use cellsim::config::load_str;

use crate::common::{one_shape_group, placed_nodes};

/// Two racks of two 4-GPU nodes (two 2-GPU switches each). vc-a owns two switches (half a
/// node's worth), vc-b three whole nodes: together every GPU is promised.
const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    SW: {childCellType: GPU, childCellNumber: 2}
    NODE: {childCellType: SW, childCellNumber: 2, isNodeLevel: true}
    RACK: {childCellType: NODE, childCellNumber: 2}
  physicalCells:
  - cellType: RACK
    cellChildren: [{cellAddress: n1}, {cellAddress: n2}]
  - cellType: RACK
    cellChildren: [{cellAddress: n3}, {cellAddress: n4}]
virtualClusters:
  vc-a: {virtualCells: [{cellType: RACK.NODE.SW, cellNumber: 2}]}
  vc-b: {virtualCells: [{cellType: RACK.NODE, cellNumber: 3}]}
";

#[test]
fn a_bad_node_does_not_let_one_vc_split_a_node_another_vc_is_promised() {
    let config = load_str(CLUSTER, "safe-split test").unwrap();
    let mut alloc = Allocator::new(&config);
    let first = alloc.schedule(&one_shape_group("a1", "vc-a", 0, 1, 1, false), None);
    let a_node = placed_nodes(&first).remove(0);
    // vc-a's second switch is the buddy of its first, on the node that now goes bad.
    alloc.set_node_health(&a_node, false).unwrap();
    // Taking a switch of a healthy node instead would leave two whole nodes for vc-b's
    // three: vc-a's group waits for its node to return.
    let second = alloc.schedule(&one_shape_group("a2", "vc-a", 0, 1, 1, false), None);
    assert!(
        matches!(&second, Decision::Wait { reason: WaitReason::BadNodes { nodes } } if nodes.as_slice() == std::slice::from_ref(&a_node)),
        "{second:?}"
    );
    // vc-b gets the three whole healthy nodes it was promised.
    let b = alloc.schedule(&one_shape_group("b", "vc-b", 0, 3, 4, false), None);
    let mut healthy: Vec<String> = ["n1", "n2", "n3", "n4"]
        .iter()
        .map(|n| n.to_string())
        .filter(|n| n != &a_node)
        .collect();
    healthy.sort();
    assert_eq!(placed_nodes(&b), healthy);
}
