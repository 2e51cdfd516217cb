//! Reconfiguration never double-books (spec section 7, issue 14): after a config change,
//! rebuilding from bind records keeps every still-existing device of a running pod used,
//! skips the devices that are gone (with a warning naming the pod), finds nodes that moved
//! to another chain, and drops a group only when none of its devices is left. Checked on
//! hand-made cases and by a property test over random clusters, running groups and edits.

use std::collections::{BTreeMap, BTreeSet};

use cellsim::cell::{Allocator, Decision, GroupRequest};
use cellsim::config::{CellConfig, load_str};
use proptest::prelude::*;

use crate::common::one_shape_group;

/// (node, device) of a GPU.
type Device = (String, u32);

fn config(yaml: &str) -> CellConfig {
    load_str(yaml, "reconfig-safety").unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

fn request(name: &str, vc: &str, priority: i32, pods: u32, gpus: u32) -> GroupRequest {
    one_shape_group(name, vc, priority, pods, gpus, false)
}

/// Schedules a group and, when it binds, confirms all its pods; returns its devices.
fn run(alloc: &mut Allocator, r: &GroupRequest) -> Option<Vec<Device>> {
    match alloc.schedule(r, None) {
        Decision::Bind(p) => {
            for k in 0..r.members[0].pod_number {
                alloc
                    .confirm_pod(
                        &r.name,
                        &format!("{}-{k}", r.name),
                        r.members[0].leaf_cell_number,
                    )
                    .expect("slot");
            }
            Some(
                p.pods
                    .iter()
                    .flat_map(|pod| pod.devices.iter().map(|&d| (pod.node.clone(), d)))
                    .collect(),
            )
        }
        Decision::Preempt { .. } => {
            // Only allocated groups matter here: drop the reservation.
            alloc.release_group(&r.name).expect("preempting group");
            None
        }
        _ => None,
    }
}

/// Places 1-GPU pods (guaranteed per VC, then opportunistic) until none fits, and
/// returns every device they got: what a new pod could be given.
fn fill(alloc: &mut Allocator, vcs: &[&str]) -> Vec<Device> {
    let mut got = Vec::new();
    for (i, vc) in vcs.iter().enumerate() {
        for k in 0.. {
            match run(alloc, &request(&format!("fill-g{i}-{k}"), vc, 1000, 1, 1)) {
                Some(d) => got.extend(d),
                None => break,
            }
        }
    }
    for k in 0.. {
        match run(alloc, &request(&format!("fill-o{k}"), vcs[0], -1, 1, 1)) {
            Some(d) => got.extend(d),
            None => break,
        }
    }
    got
}

/// Racks of two 8-GPU nodes; vc1 owns a rack's worth of nodes, vc2 two nodes.
const RACKS: &str = "
physicalCluster:
  cellTypes:
    NODE: {childCellType: GPU, childCellNumber: 8, isNodeLevel: true}
    RACK: {childCellType: NODE, childCellNumber: 2}
  physicalCells:
  - cellType: RACK
    cellChildren: [{cellAddress: n1}, {cellAddress: n2}]
  - cellType: RACK
    cellChildren: [{cellAddress: n3}, {cellAddress: n4}]
virtualClusters:
  vc1: {virtualCells: [{cellType: RACK.NODE, cellNumber: 2}]}
  vc2: {virtualCells: [{cellType: RACK.NODE, cellNumber: 2}]}
";

/// RACKS with the first rack split into two top-level nodes (a chain of their own).
fn split() -> String {
    let edited = RACKS
        .replace(
            "  - cellType: RACK\n    cellChildren: [{cellAddress: n1}, {cellAddress: n2}]\n",
            "  - {cellType: NODE, cellAddress: n1}\n  - {cellType: NODE, cellAddress: n2}\n",
        )
        .replacen(
            "vc1: {virtualCells: [{cellType: RACK.NODE, cellNumber: 2}]}",
            "vc1: {virtualCells: [{cellType: NODE, cellNumber: 2}]}",
            1,
        );
    assert_ne!(edited, RACKS);
    edited
}

/// RACKS with node n2 deleted (n5 takes its place in the rack).
fn n2_deleted() -> String {
    RACKS.replace("n2}", "n5}")
}

fn devices_of(alloc: &Allocator, group: &str) -> Vec<Device> {
    alloc
        .placement(group)
        .map(|p| {
            p.pods
                .iter()
                .flat_map(|pod| pod.devices.iter().map(|&d| (pod.node.clone(), d)))
                .collect()
        })
        .unwrap_or_default()
}

fn on_node(devices: &[Device], node: &str) -> usize {
    devices.iter().filter(|(n, _)| n == node).count()
}

#[test]
fn a_group_in_a_split_top_cell_is_kept_on_its_nodes() {
    let mut alloc = Allocator::new(&config(RACKS));
    let running = run(&mut alloc, &request("big", "vc1", 10, 2, 8)).expect("binds");
    assert_eq!((on_node(&running, "n1"), on_node(&running, "n2")), (8, 8));
    let (mut rebuilt, report) = Allocator::from_records(&config(&split()), &alloc.bind_records());
    assert!(report.lost.is_empty(), "{report:?}");
    assert_eq!(report.restored, ["big"], "{report:?}");
    assert_eq!(devices_of(&rebuilt, "big"), running);
    // vc1's two node cells are the two nodes it runs on: a new vc1 pod waits, and nothing
    // new is put on n1 or n2.
    assert!(matches!(
        rebuilt.schedule(&request("next", "vc1", 10, 1, 8), None),
        Decision::Wait { .. }
    ));
    let filled = fill(&mut rebuilt, &["vc1", "vc2"]);
    assert_eq!(on_node(&filled, "n1") + on_node(&filled, "n2"), 0);
    assert_eq!(filled.len(), 16, "n3 and n4 are still usable: {filled:?}");
}

#[test]
fn a_deleted_node_keeps_the_groups_other_devices_used() {
    let mut alloc = Allocator::new(&config(RACKS));
    let running = run(&mut alloc, &request("pair", "vc2", 10, 2, 8)).expect("binds");
    assert_eq!((on_node(&running, "n1"), on_node(&running, "n2")), (8, 8));
    let (mut rebuilt, report) =
        Allocator::from_records(&config(&n2_deleted()), &alloc.bind_records());
    assert!(report.lost.is_empty(), "{report:?}");
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(
        report.warnings[0].contains("pair-1") && report.warnings[0].contains("\"n2\""),
        "the warning names the pod and the node: {:?}",
        report.warnings[0]
    );
    assert_eq!(
        devices_of(&rebuilt, "pair"),
        running,
        "placement as recorded"
    );
    // The next 2-node group of vc2 cannot have n1's GPUs.
    if let Decision::Bind(p) = rebuilt.schedule(&request("next", "vc2", 10, 2, 8), None) {
        assert!(p.pods.iter().all(|pod| pod.node != "n1"), "{p:?}");
    }
    let mut fresh = Allocator::from_records(&config(&n2_deleted()), &alloc.bind_records()).0;
    let filled = fill(&mut fresh, &["vc1", "vc2"]);
    assert_eq!(on_node(&filled, "n1"), 0, "{filled:?}");
    assert_eq!(filled.len(), 24, "n5, n3 and n4 are usable");
    // The rebuilt records say the same: a second rebuild keeps the pod on n2 recorded.
    let records = rebuilt.bind_records();
    let pod = records.iter().find(|r| r.pod == "pair-1").expect("record");
    assert_eq!(pod.bind_info.node, "n2");
    let (again, report) = Allocator::from_records(&config(&n2_deleted()), &records);
    assert!(report.lost.is_empty(), "{report:?}");
    assert_eq!(devices_of(&again, "pair"), running);
}

#[test]
fn a_group_is_dropped_only_when_none_of_its_devices_is_left() {
    // The first 8-GPU pod goes to n1; the second, to n2.
    let mut a = Allocator::new(&config(RACKS));
    let first = run(&mut a, &request("on-n1", "vc1", 10, 1, 8)).expect("binds");
    let second = run(&mut a, &request("on-n2", "vc2", 10, 1, 8)).expect("binds");
    assert_eq!(on_node(&first, "n1"), 8);
    assert_eq!(on_node(&second, "n2"), 8);
    let (rebuilt, report) = Allocator::from_records(&config(&n2_deleted()), &a.bind_records());
    assert_eq!(
        report.lost.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
        ["on-n2"]
    );
    assert!(report.lost[0].1.contains("n2"), "{:?}", report.lost[0].1);
    assert_eq!(devices_of(&rebuilt, "on-n1"), first);
}

// ---- property test -------------------------------------------------------------------

/// A cluster: racks of `per_rack` nodes and standalone (top-level) nodes, `gpus` each.
#[derive(Debug, Clone)]
struct Layout {
    gpus: u32,
    per_rack: u32,
    racks: Vec<Vec<String>>,
    singles: Vec<String>,
    /// Per VC: node cells wanted in the RACK chain and in the NODE chain.
    quotas: Vec<(u32, u32)>,
}

impl Layout {
    fn yaml(&self) -> String {
        let mut y = format!(
            "physicalCluster:\n  cellTypes:\n    NODE: {{childCellType: GPU, childCellNumber: {}, \
             isNodeLevel: true}}\n    RACK: {{childCellType: NODE, childCellNumber: {}}}\n  \
             physicalCells:\n",
            self.gpus, self.per_rack
        );
        for rack in &self.racks {
            y += "  - cellType: RACK\n    cellChildren:\n";
            for n in rack {
                y += &format!("    - cellAddress: {n}\n");
            }
        }
        for n in &self.singles {
            y += &format!("  - {{cellType: NODE, cellAddress: {n}}}\n");
        }
        y += "virtualClusters:\n";
        for (v, &(in_racks, single)) in self.quotas.iter().enumerate() {
            let mut cells = Vec::new();
            if in_racks > 0 {
                cells.push(format!("{{cellType: RACK.NODE, cellNumber: {in_racks}}}"));
            }
            if single > 0 {
                cells.push(format!("{{cellType: NODE, cellNumber: {single}}}"));
            }
            y += &format!("  vc{v}: {{virtualCells: [{}]}}\n", cells.join(", "));
        }
        y
    }

    fn nodes(&self) -> BTreeSet<String> {
        self.racks
            .iter()
            .flatten()
            .chain(&self.singles)
            .cloned()
            .collect()
    }

    /// Splits `total` node cells of each chain between two VCs by the given fractions.
    fn share(&mut self, fractions: (u32, u32, u32, u32)) {
        let in_racks = self.racks.len() as u32 * self.per_rack;
        let singles = self.singles.len() as u32;
        let a = fractions.0 % (in_racks + 1);
        let b = fractions.1 % (in_racks - a + 1);
        let c = fractions.2 % (singles + 1);
        let d = fractions.3 % (singles - c + 1);
        self.quotas = vec![(a, c), (b, d)];
    }
}

/// What happens to the cluster: per rack 0 keep, 1 split into top-level nodes, 2 split
/// and delete one of its nodes, 3 delete it; per standalone node whether it is deleted;
/// whether standalone nodes are merged into a new rack; the new VC shares.
#[derive(Debug, Clone)]
struct Edit {
    racks: Vec<u8>,
    delete_singles: Vec<bool>,
    merge: bool,
    shares: (u32, u32, u32, u32),
}

fn edit(before: &Layout, e: &Edit) -> Layout {
    let mut after = Layout {
        racks: Vec::new(),
        singles: Vec::new(),
        quotas: Vec::new(),
        ..before.clone()
    };
    for (i, rack) in before.racks.iter().enumerate() {
        match e.racks.get(i).copied().unwrap_or(0) {
            0 => after.racks.push(rack.clone()),
            1 => after.singles.extend(rack.iter().cloned()),
            2 => after.singles.extend(rack.iter().skip(1).cloned()),
            _ => {}
        }
    }
    for (i, n) in before.singles.iter().enumerate() {
        if !e.delete_singles.get(i).copied().unwrap_or(false) {
            after.singles.push(n.clone());
        }
    }
    if e.merge && after.singles.len() >= after.per_rack as usize {
        let merged: Vec<String> = after.singles.drain(..after.per_rack as usize).collect();
        after.racks.push(merged);
    }
    after.share(e.shares);
    after
}

fn layout_strategy() -> impl Strategy<Value = Layout> {
    (
        prop::sample::select(vec![2u32, 4]),
        1u32..=3,
        0usize..=3,
        0usize..=3,
        (0u32..8, 0u32..8, 0u32..8, 0u32..8),
    )
        .prop_filter("a cluster has a node", |(_, _, r, s, _)| r + s > 0)
        .prop_map(|(gpus, per_rack, racks, singles, shares)| {
            let mut l = Layout {
                gpus,
                per_rack,
                racks: (0..racks)
                    .map(|r| (0..per_rack).map(|i| format!("r{r}n{i}")).collect())
                    .collect(),
                singles: (0..singles).map(|i| format!("s{i}")).collect(),
                quotas: Vec::new(),
            };
            l.share(shares);
            l
        })
}

fn edit_strategy() -> impl Strategy<Value = Edit> {
    (
        prop::collection::vec(0u8..4, 3),
        prop::collection::vec(any::<bool>(), 3),
        any::<bool>(),
        (0u32..8, 0u32..8, 0u32..8, 0u32..8),
    )
        .prop_map(|(racks, delete_singles, merge, shares)| Edit {
            racks,
            delete_singles,
            merge,
            shares,
        })
}

/// A running group to place before the edit: VC, priority, pods, GPUs per pod (as a
/// fraction of a node: 1 GPU, half a node, a whole node).
type Job = (usize, i32, u32, u8);

fn jobs_strategy() -> impl Strategy<Value = Vec<Job>> {
    prop::collection::vec(
        (
            0usize..2,
            prop::sample::select(vec![-1, 10, 20]),
            1u32..=3,
            0u8..3,
        ),
        1..12,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn rebuilding_after_any_edit_never_double_books(
        before in layout_strategy(),
        jobs in jobs_strategy(),
        e in edit_strategy(),
    ) {
        let old = config(&before.yaml());
        let mut alloc = Allocator::new(&old);
        let mut running: BTreeMap<String, Vec<Device>> = BTreeMap::new();
        for (i, &(vc, priority, pods, size)) in jobs.iter().enumerate() {
            let gpus = match size {
                0 => 1,
                1 => (before.gpus / 2).max(1),
                _ => before.gpus,
            };
            let name = format!("job{i}");
            if let Some(d) = run(&mut alloc, &request(&name, &format!("vc{vc}"), priority, pods, gpus)) {
                running.insert(name, d);
            }
        }
        let after = edit(&before, &e);
        let new = config(&after.yaml());
        let nodes = after.nodes();
        let (mut rebuilt, report) = Allocator::from_records(&new, &alloc.bind_records());

        let mut held: BTreeSet<Device> = BTreeSet::new();
        for (group, devices) in &running {
            let surviving: Vec<Device> =
                devices.iter().filter(|(n, _)| nodes.contains(n)).cloned().collect();
            let lost = report.lost.iter().any(|(g, _)| g == group);
            prop_assert_eq!(lost, surviving.is_empty(), "{} lost: {:?}", group, report);
            if !lost {
                // Kept where it runs, including the devices that are gone.
                prop_assert_eq!(&devices_of(&rebuilt, group), devices);
                if surviving.len() < devices.len() {
                    prop_assert!(
                        report.warnings.iter().any(|w| w.contains(&format!("{group}-"))),
                        "no warning names a pod of {}: {:?}", group, report.warnings
                    );
                }
            }
            for d in surviving {
                prop_assert!(held.insert(d.clone()), "{:?} held twice", d);
            }
        }
        // Every free device can be given to a new pod, and none that a running pod holds.
        let filled = fill(&mut rebuilt, &["vc0", "vc1"]);
        let mut given = BTreeSet::new();
        for d in &filled {
            prop_assert!(!held.contains(d), "{:?} given while a running pod holds it", d);
            prop_assert!(given.insert(d.clone()), "{:?} given twice", d);
        }
        prop_assert_eq!(
            held.len() + given.len(),
            nodes.len() * after.gpus as usize,
            "every device is either held or can be given"
        );
    }
}
