//! Doomed bad cells are decided per VC, on its own (spec section 6): a VC's preassigned
//! cell is bound to a bad cell only when the VC's own unbound cells at that level
//! outnumber the healthy free cells left there. Two VCs never compete for one healthy
//! cell in this bookkeeping. See: issue 14, item 4.

use cellsim::cell::{Allocator, Decision, GroupRequest, WaitReason};

use crate::common::{one_shape_group, placed_nodes};
use cellsim::config::load_str;

/// Two 2-node cells of 8-GPU nodes, `(n1, n2)` and `(n3, n4)`; vc1 and vc2 own one each.
const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    NODE8: {childCellType: GPU, childCellNumber: 8, isNodeLevel: true}
    PAIR: {childCellType: NODE8, childCellNumber: 2}
  physicalCells:
  - cellType: PAIR
    cellChildren: [{cellAddress: n1}, {cellAddress: n2}]
  - cellType: PAIR
    cellChildren: [{cellAddress: n3}, {cellAddress: n4}]
virtualClusters:
  vc1: {virtualCells: [{cellType: PAIR, cellNumber: 1}]}
  vc2: {virtualCells: [{cellType: PAIR, cellNumber: 1}]}
";

fn group(name: &str, vc: &str, pods: u32, gpus: u32) -> GroupRequest {
    one_shape_group(name, vc, 10, pods, gpus, false)
}

#[test]
fn a_vc_is_not_doomed_while_a_healthy_cell_is_left_for_it() {
    let config = load_str(CLUSTER, "doomed-per-vc test").unwrap();
    let mut alloc = Allocator::new(&config);
    alloc.set_node_health("n1", false).unwrap();
    // One healthy 2-node cell is left and each VC wants one: neither VC is doomed, so
    // vc2's 16-GPU group takes the healthy cell (HiveD binds it there too).
    let d = alloc.schedule(&group("v2", "vc2", 2, 8), None);
    assert_eq!(placed_nodes(&d), ["n3", "n4"]);
    // Now vc1's cell can only be the bad one: a 16-GPU group waits for n1 ...
    let d = alloc.schedule(&group("v1-big", "vc1", 2, 8), None);
    assert!(
        matches!(&d, Decision::Wait { reason: WaitReason::BadNodes { nodes } } if nodes == &["n1"]),
        "{d:?}"
    );
    // ... and an 8-GPU one runs on the healthy node of that cell.
    let d = alloc.schedule(&group("v1-small", "vc1", 1, 8), None);
    assert_eq!(placed_nodes(&d), ["n2"]);
}

#[test]
fn a_vc_left_with_only_the_bad_cell_waits_until_the_node_returns() {
    let config = load_str(CLUSTER, "doomed-per-vc test").unwrap();
    let mut alloc = Allocator::new(&config);
    alloc.set_node_health("n3", false).unwrap();
    let d = alloc.schedule(&group("v1", "vc1", 2, 8), None);
    assert_eq!(placed_nodes(&d), ["n1", "n2"]);
    let d = alloc.schedule(&group("v2", "vc2", 2, 8), None);
    assert!(matches!(d, Decision::Wait { .. }), "{d:?}");
    // When the node comes back, vc2's group fits on its own cell.
    alloc.set_node_health("n3", true).unwrap();
    let d = alloc.schedule(&group("v2", "vc2", 2, 8), None);
    assert_eq!(placed_nodes(&d), ["n3", "n4"]);
}
