//! HiveD's feature demos (`hived-examples/feature/`, README of HiveD's `example/feature`)
//! replayed through the allocator on their own config and job files, one test each,
//! asserting placements by node and device. Where the spec and HiveD's demo text
//! disagree, the spec wins and the test says so.

use std::path::PathBuf;

use cellsim::cell::{Allocator, Decision, GroupPlacement, GroupRequest, RequestError, WaitReason};
use cellsim::config::{CellConfig, load_file};
use cellsim::workload::{JobSpec, read_job_file};

use crate::common::shared;

fn feature(name: &str) -> Option<PathBuf> {
    shared(&format!("hived-examples/feature/{name}"))
}

/// Loads a feature config and an allocator over it.
fn setup(config_file: &str) -> Option<(CellConfig, Allocator)> {
    let config = load_file(&feature(config_file)?).expect("feature config loads");
    let alloc = Allocator::new(&config);
    Some((config, alloc))
}

/// Reads a feature job file; `user` makes repeated submissions distinct.
fn job(name: &str, config: &CellConfig, user: &str) -> JobSpec {
    let path = feature(name).expect("shared present");
    read_job_file(&path, config)
        .expect("feature job reads")
        .for_user(user)
}

fn bind(alloc: &mut Allocator, group: &GroupRequest) -> GroupPlacement {
    match alloc.schedule(group, None) {
        Decision::Bind(p) => p,
        other => panic!("expected {} to bind, got {other:?}", group.name),
    }
}

fn wait(alloc: &mut Allocator, group: &GroupRequest) -> WaitReason {
    match alloc.schedule(group, None) {
        Decision::Wait { reason } => reason,
        other => panic!("expected {} to wait, got {other:?}", group.name),
    }
}

/// (node, devices) of every pod, in pod order.
fn spots(p: &GroupPlacement) -> Vec<(String, Vec<u32>)> {
    p.pods
        .iter()
        .map(|x| (x.node.clone(), x.devices.clone()))
        .collect()
}

fn spot(node: &str, devices: &[u32]) -> (String, Vec<u32>) {
    (node.to_string(), devices.to_vec())
}

// See: HiveD demo "VC Safety" (hived-config-1, itc-safety-1/2). vc1 owns one K80 node of
// the 3-K80-NODE rack; both 2-pod jobs land on that one node, buddies together, and a
// third job waits although other nodes are idle. HiveD's demo landed on 10.151.41.26;
// cellsim binds the first free node of the rack (.19) — both are valid, the point is
// that all tasks share the VC's single node and never touch .25 (VC2's pinned node).
#[test]
fn vc_safety_keeps_a_vcs_jobs_inside_its_own_cells() {
    let Some((config, mut alloc)) = setup("hived-config-1.yaml") else {
        return;
    };
    let a = job("itc-safety-1.yaml", &config, "alice");
    let b = job("itc-safety-2.yaml", &config, "bob");
    let pa = bind(&mut alloc, &a.groups[0]);
    let pb = bind(&mut alloc, &b.groups[0]);
    assert_eq!(
        spots(&pa),
        vec![spot("10.151.41.19", &[0]), spot("10.151.41.19", &[1])]
    );
    assert_eq!(
        spots(&pb),
        vec![spot("10.151.41.19", &[2]), spot("10.151.41.19", &[3])]
    );
    let c = job("itc-safety-1.yaml", &config, "carol");
    match wait(&mut alloc, &c.groups[0]) {
        WaitReason::Quota {
            vc,
            needed,
            available,
        } => {
            assert_eq!((vc.as_str(), needed, available), ("vc1", 2, 0));
        }
        other => panic!("expected a quota wait, got {other}"),
    }
}

// See: HiveD demo "Pinned Cells" (hived-config-8, itc-pin).
#[test]
fn pinned_cells_are_used_only_by_pods_that_name_them() {
    let Some((config, mut alloc)) = setup("hived-config-8.yaml") else {
        return;
    };
    let j = job("itc-pin.yaml", &config, "u");
    let pinned = j
        .groups
        .iter()
        .find(|g| g.pinned_cell_id.is_some())
        .expect("pinned group");
    let free = j
        .groups
        .iter()
        .find(|g| g.pinned_cell_id.is_none())
        .expect("unpinned group");
    let pp = bind(&mut alloc, pinned);
    let pf = bind(&mut alloc, free);
    assert_eq!(
        spots(&pp),
        (0..4)
            .map(|d| spot("10.151.41.25", &[d]))
            .collect::<Vec<_>>(),
        "vc1pinned runs on the pinned node"
    );
    assert!(
        pf.pods.iter().all(|p| p.node == "10.151.41.19"),
        "vc1nopinned avoids the pinned node: {pf:?}"
    );
}

// See: HiveD demo "SKU Type" with skuType (hived-config-2, itc-k80-type): partially runs.
#[test]
fn sku_type_limits_a_job_to_that_device_type() {
    let Some((config, mut alloc)) = setup("hived-config-2.yaml") else {
        return;
    };
    let j = job("itc-k80-type.yaml", &config, "u");
    assert_eq!(j.groups.len(), 6);
    let placed: Vec<GroupPlacement> = j.groups[..4].iter().map(|g| bind(&mut alloc, g)).collect();
    for (i, p) in placed.iter().enumerate() {
        assert_eq!(spots(p), vec![spot("10.151.41.18", &[i as u32])]);
    }
    for g in &j.groups[4..] {
        assert!(matches!(wait(&mut alloc, g), WaitReason::Quota { .. }));
    }
}

// See: HiveD demo "SKU Type" without skuType (hived-config-2, itc-no-type): fully runs,
// on K80 (10.151.41.18) and M60 (10.151.41.26).
#[test]
fn no_sku_type_may_use_any_device_type() {
    let Some((config, mut alloc)) = setup("hived-config-2.yaml") else {
        return;
    };
    let j = job("itc-no-type.yaml", &config, "u");
    let nodes: Vec<(String, Vec<u32>)> = j
        .groups
        .iter()
        .flat_map(|g| spots(&bind(&mut alloc, g)))
        .collect();
    assert_eq!(
        nodes,
        vec![
            spot("10.151.41.18", &[0]),
            spot("10.151.41.18", &[1]),
            spot("10.151.41.18", &[2]),
            spot("10.151.41.18", &[3]),
            spot("10.151.41.26", &[0]),
            spot("10.151.41.26", &[1]),
        ]
    );
}

// See: HiveD demo "Gang Scheduling" (hived-config-2, itc-gang, itc-gang4). The spec makes
// a gang that can never fit its VC a user error, so itc-gang (6 K80 pods, vc1 has 4 K80s)
// is rejected rather than left waiting; then a larger gang that fits the VC but not now
// waits while a smaller later gang runs (no head-of-line blocking), and the waiting gang
// starts whole once room appears.
#[test]
fn gangs_are_all_or_nothing_without_head_of_line_blocking() {
    let Some((config, mut alloc)) = setup("hived-config-2.yaml") else {
        return;
    };
    let too_big = job("itc-gang.yaml", &config, "u");
    match alloc.schedule(&too_big.groups[0], None) {
        Decision::Reject {
            error: RequestError::NeverFits(msg),
        } => {
            assert!(msg.contains("needs 6 GPUs") && msg.contains("vc1"), "{msg}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let first = job("itc-buddy.yaml", &config, "first");
    bind(&mut alloc, &first.groups[0]);
    let big = job("itc-gang4.yaml", &config, "big");
    assert!(matches!(
        wait(&mut alloc, &big.groups[0]),
        WaitReason::Quota {
            needed: 4,
            available: 2,
            ..
        }
    ));
    assert!(
        alloc.placement(&big.groups[0].name).is_none(),
        "a waiting gang holds nothing"
    );
    let small = job("itc-buddy.yaml", &config, "small");
    let ps = bind(&mut alloc, &small.groups[0]);
    assert_eq!(
        spots(&ps),
        vec![spot("10.151.41.18", &[2]), spot("10.151.41.18", &[3])]
    );
    alloc.release_group(&first.groups[0].name).unwrap();
    assert!(matches!(
        wait(&mut alloc, &big.groups[0]),
        WaitReason::Quota { available: 2, .. }
    ));
    alloc.release_group(&small.groups[0].name).unwrap();
    let pb = bind(&mut alloc, &big.groups[0]);
    assert_eq!(
        spots(&pb),
        (0..4)
            .map(|d| spot("10.151.41.18", &[d]))
            .collect::<Vec<_>>()
    );
}

// See: HiveD demos "Incremental Scheduling" and "Guaranteed Job" (hived-config-1,
// itc-elastic): 6 one-pod groups beyond vc1's 4-GPU quota partly run, all on one node.
#[test]
fn incremental_job_runs_partly_and_guaranteed_pods_stay_in_their_vc() {
    let Some((config, mut alloc)) = setup("hived-config-1.yaml") else {
        return;
    };
    let j = job("itc-elastic.yaml", &config, "u");
    assert_eq!(j.groups.len(), 6);
    for (i, g) in j.groups[..4].iter().enumerate() {
        assert_eq!(
            spots(&bind(&mut alloc, g)),
            vec![spot("10.151.41.19", &[i as u32])]
        );
    }
    for g in &j.groups[4..] {
        assert!(matches!(wait(&mut alloc, g), WaitReason::Quota { vc, .. } if vc == "vc1"));
    }
}

// See: HiveD demo "Opportunistic Job" (hived-config-1, itc-oppo): uses more than one node
// although vc1 has one.
#[test]
fn opportunistic_job_spreads_beyond_its_vc() {
    let Some((config, mut alloc)) = setup("hived-config-1.yaml") else {
        return;
    };
    let j = job("itc-oppo.yaml", &config, "u");
    let all: Vec<(String, Vec<u32>)> = j
        .groups
        .iter()
        .flat_map(|g| spots(&bind(&mut alloc, g)))
        .collect();
    let nodes: std::collections::BTreeSet<&str> = all.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(all.len(), 6);
    assert!(nodes.len() >= 2, "spreads over nodes: {all:?}");
    // Packing: fill one node, then the next.
    assert_eq!(
        &all[..4],
        &(0..4)
            .map(|d| spot("10.151.41.19", &[d]))
            .collect::<Vec<_>>()[..]
    );
}

// See: HiveD demo "Intra-VC Preemption / Immediate" (hived-config-3).
#[test]
fn intra_vc_immediate_preemption() {
    let Some((config, mut alloc)) = setup("hived-config-3.yaml") else {
        return;
    };
    let test = job("itc-intra-imd-preempt-test.yaml", &config, "u");
    let prod = job("itc-intra-imd-preempt-prod.yaml", &config, "u");
    let pt = bind(&mut alloc, &test.groups[0]);
    assert_eq!(spots(&pt), vec![spot("10.151.41.26", &[0, 1, 2, 3])]);
    match alloc.schedule(&prod.groups[0], None) {
        Decision::Preempt { victims } => {
            assert_eq!(victims.len(), 1);
            assert_eq!(victims[0].group, test.groups[0].name);
            assert_eq!(victims[0].pods[0].node, "10.151.41.26");
        }
        other => panic!("expected preemption, got {other:?}"),
    }
    // While the victim leaves, the preemptor keeps asking and is told the same.
    assert!(matches!(
        alloc.schedule(&prod.groups[0], None),
        Decision::Preempt { .. }
    ));
    alloc.release_group(&test.groups[0].name).unwrap();
    assert_eq!(
        spots(&bind(&mut alloc, &prod.groups[0])),
        vec![spot("10.151.41.26", &[0, 1, 2, 3])]
    );
    // The retried test job now waits for its VC's M60 node.
    assert!(matches!(
        wait(&mut alloc, &test.groups[0]),
        WaitReason::Quota { .. }
    ));
}

// See: HiveD demo "Intra-VC Preemption / Lazy" (hived-config-3): the prod job downgrades
// the lazy test job to opportunistic instead of killing it, since everything still fits;
// prod2 in `default` then needs its cells and preempts it for real.
#[test]
fn intra_vc_lazy_preemption_then_real_preemption_when_full() {
    let Some((config, mut alloc)) = setup("hived-config-3.yaml") else {
        return;
    };
    let test = job("itc-intra-lazy-preempt-test.yaml", &config, "u");
    let prod = job("itc-intra-lazy-preempt-prod.yaml", &config, "u");
    let prod2 = job("itc-intra-lazy-preempt-prod2.yaml", &config, "u");
    assert!(test.groups[0].lazy_preemption_enable);
    assert_eq!(
        spots(&bind(&mut alloc, &test.groups[0])),
        vec![spot("10.151.41.18", &[0, 1, 2, 3])]
    );
    assert_eq!(
        spots(&bind(&mut alloc, &prod.groups[0])),
        vec![spot("10.151.41.19", &[0, 1, 2, 3])]
    );
    let (_, priority, lazy) = alloc
        .group_status(&test.groups[0].name)
        .expect("still running");
    assert_eq!(
        (priority, lazy),
        (-1, true),
        "test job downgraded to opportunistic"
    );
    assert_eq!(
        alloc.placement(&test.groups[0].name).map(|p| spots(&p)),
        Some(vec![spot("10.151.41.18", &[0, 1, 2, 3])])
    );
    let view = alloc
        .affinity_group_view(&test.groups[0].name)
        .expect("view");
    assert!(view.status.lazy_preemption_status.is_some());
    match alloc.schedule(&prod2.groups[0], None) {
        Decision::Preempt { victims } => {
            assert_eq!(
                victims.iter().map(|v| v.group.as_str()).collect::<Vec<_>>(),
                vec![test.groups[0].name.as_str()]
            );
        }
        other => panic!("expected a real preemption, got {other:?}"),
    }
    alloc.release_group(&test.groups[0].name).unwrap();
    let p2 = bind(&mut alloc, &prod2.groups[0]);
    let mut nodes: Vec<String> = p2.pods.iter().map(|p| p.node.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, vec!["10.151.41.18", "10.151.41.23", "10.151.41.24"]);
}

// See: HiveD demo "Inter-VC Preemption". The demo uses hived-config-2, whose `default` VC
// has only 2 K80 nodes, so a 3 x 4-GPU gang could never fit it (a rejection under the
// spec); hived-config-3 gives `default` 3 K80 nodes, which is what the demo needs.
#[test]
fn inter_vc_preemption_of_an_opportunistic_job() {
    let Some((config, mut alloc)) = setup("hived-config-3.yaml") else {
        return;
    };
    let oppo = job("itc-inter-preempt-oppo.yaml", &config, "u");
    let prod = job("itc-inter-preempt-prod.yaml", &config, "u");
    let po = bind(&mut alloc, &oppo.groups[0]);
    assert_eq!(
        spots(&po),
        vec![
            spot("10.151.41.18", &[0, 1, 2, 3]),
            spot("10.151.41.19", &[0, 1, 2, 3])
        ]
    );
    match alloc.schedule(&prod.groups[0], None) {
        Decision::Preempt { victims } => {
            assert_eq!(victims.len(), 1);
            assert_eq!(victims[0].group, oppo.groups[0].name);
            assert_eq!(victims[0].priority, -1);
        }
        other => panic!("expected preemption, got {other:?}"),
    }
    alloc.release_group(&oppo.groups[0].name).unwrap();
    let pp = bind(&mut alloc, &prod.groups[0]);
    let mut nodes: Vec<String> = pp.pods.iter().map(|p| p.node.clone()).collect();
    nodes.sort();
    assert_eq!(nodes, vec!["10.151.41.18", "10.151.41.23", "10.151.41.24"]);
}

// See: HiveD demo "Topology-Aware Intra-VC Scheduling" (hived-config-2, itc-buddy): the two
// 1-GPU pods get buddy GPUs (same K80-2GPU cell), even when the first free GPU is not.
#[test]
fn two_pod_group_gets_buddy_devices() {
    let Some((config, mut alloc)) = setup("hived-config-2.yaml") else {
        return;
    };
    let j = job("itc-buddy.yaml", &config, "u");
    assert_eq!(
        spots(&bind(&mut alloc, &j.groups[0])),
        vec![spot("10.151.41.18", &[0]), spot("10.151.41.18", &[1])]
    );
    alloc.release_group(&j.groups[0].name).unwrap();
    // Occupy GPU 0 with a single-pod job: free GPUs are 1, 2, 3; buddies are 2 and 3.
    let single = job("itc-k80-type.yaml", &config, "u");
    assert_eq!(
        spots(&bind(&mut alloc, &single.groups[0])),
        vec![spot("10.151.41.18", &[0])]
    );
    assert_eq!(
        spots(&bind(&mut alloc, &j.groups[0])),
        vec![spot("10.151.41.18", &[2]), spot("10.151.41.18", &[3])]
    );
}

// See: HiveD demo "Bad Hardware Awareness" (hived-config-2, itc-badnode50): the job waits
// while the only M60 node is bad and starts when it returns, without resubmission.
#[test]
fn bad_node_makes_a_job_wait_until_it_returns() {
    let Some((config, mut alloc)) = setup("hived-config-2.yaml") else {
        return;
    };
    let j = job("itc-badnode50.yaml", &config, "u");
    alloc.set_node_health("10.151.41.26", false).unwrap();
    match wait(&mut alloc, &j.groups[0]) {
        WaitReason::BadNodes { nodes } => assert_eq!(nodes, vec!["10.151.41.26"]),
        other => panic!("expected a bad-node wait, got {other}"),
    }
    // The VC view shows its M60 cell doomed to the bad node rather than taking another VC's.
    let vc1 = alloc.virtual_cluster_view("vc1").expect("vc1");
    let m60 = vc1
        .iter()
        .find(|c| c.leaf_cell_type.as_deref() == Some("M60"))
        .expect("M60 cell");
    assert_eq!(m60.cell_healthiness, "Bad");
    assert_eq!(
        m60.physical_cell.as_ref().map(|p| p.cell_address.as_str()),
        Some("1/10.151.41.26")
    );
    alloc.set_node_health("10.151.41.26", true).unwrap();
    assert_eq!(
        spots(&bind(&mut alloc, &j.groups[0])),
        vec![spot("10.151.41.26", &[0])]
    );
}

// See: HiveD demo "Work-Preserving Reconfiguration". Each case places a job, exports the
// bind records, and rebuilds an allocator on the changed config from them.
#[test]
fn work_preserving_reconfiguration() {
    let Some((config2, mut alloc)) = setup("hived-config-2.yaml") else {
        return;
    };
    let load = |name: &str| load_file(&feature(name).expect("shared")).expect("config");
    let confirm_all = |alloc: &mut Allocator, g: &GroupRequest| {
        for (i, m) in g.members.iter().enumerate() {
            for k in 0..m.pod_number {
                alloc
                    .confirm_pod(&g.name, &format!("{}-{i}-{k}", g.name), m.leaf_cell_number)
                    .unwrap();
            }
        }
    };
    // Delete PhysicalCell: the M60 job's cells vanish from the config; it is lost to
    // cellsim (HiveD ignores its usage), and nothing else changes.
    let r1 = job("itc-reconfig-1.yaml", &config2, "u");
    bind(&mut alloc, &r1.groups[0]);
    confirm_all(&mut alloc, &r1.groups[0]);
    let (after, report) =
        Allocator::from_records(&load("hived-config-33.yaml"), &alloc.bind_records());
    assert_eq!(report.lost.len(), 1, "{report:?}");
    assert!(after.placement(&r1.groups[0].name).is_none());

    // Add PhysicalCell: a K80 job keeps running, still accounted to vc1.
    let config33 = load("hived-config-33.yaml");
    let mut small = Allocator::new(&config33);
    let k80 = job("itc-k80-type.yaml", &config33, "u");
    let before = spots(&bind(&mut small, &k80.groups[0]));
    confirm_all(&mut small, &k80.groups[0]);
    let (grown, report) = Allocator::from_records(&config2, &small.bind_records());
    assert_eq!(report.restored, vec![k80.groups[0].name.clone()]);
    assert_eq!(
        grown.placement(&k80.groups[0].name).map(|p| spots(&p)),
        Some(before)
    );
    assert_eq!(
        grown.group_status(&k80.groups[0].name).map(|s| s.1),
        Some(100)
    );

    // Update PhysicalCell - add node: the M60 job keeps its quota, so a same-priority job
    // asking for all M60 nodes waits instead of preempting it.
    let r1b = job("itc-reconfig-1.yaml", &config2, "v");
    let mut a2 = Allocator::new(&config2);
    bind(&mut a2, &r1b.groups[0]);
    confirm_all(&mut a2, &r1b.groups[0]);
    let config4 = load("hived-config-4.yaml");
    let (mut a4, report) = Allocator::from_records(&config4, &a2.bind_records());
    assert_eq!(report.restored.len(), 1);
    let r2 = job("itc-reconfig-2.yaml", &config4, "v");
    assert!(matches!(
        wait(&mut a4, &r2.groups[0]),
        WaitReason::Quota { .. }
    ));

    // Update PhysicalCell - delete node: HiveD's documented outcome is that "the job will
    // still run without any impact, but its deleted node usage is ignored". The group is
    // kept with its placement, its devices on .19 stay used (by vc `default`, which still
    // covers them), and the pod on .18 is named in a warning.
    let r3 = job("itc-reconfig-3.yaml", &config2, "w");
    let mut a3 = Allocator::new(&config2);
    let p3 = bind(&mut a3, &r3.groups[0]);
    assert_eq!(
        spots(&p3),
        vec![
            spot("10.151.41.18", &[0, 1, 2, 3]),
            spot("10.151.41.19", &[0, 1, 2, 3])
        ]
    );
    confirm_all(&mut a3, &r3.groups[0]);
    let config7 = load("hived-config-7.yaml");
    let (mut a7, report) = Allocator::from_records(&config7, &a3.bind_records());
    assert!(report.lost.is_empty(), "{report:?}");
    assert_eq!(report.restored, vec![r3.groups[0].name.clone()]);
    assert_eq!(report.warnings.len(), 1, "{report:?}");
    assert!(
        report.warnings[0].contains("default-0-0") && report.warnings[0].contains("10.151.41.18"),
        "{:?}",
        report.warnings[0]
    );
    assert_eq!(
        a7.placement(&r3.groups[0].name).map(|p| spots(&p)),
        Some(spots(&p3)),
        "the job keeps running where it was"
    );
    assert_eq!(
        a7.group_status(&r3.groups[0].name).map(|s| (s.1, s.2)),
        Some((10, false)),
        "still guaranteed, not lazily preempted"
    );
    // Nothing new lands on .19's devices: a 4-GPU default pod waits for default's quota
    // (its one node is .19, still in use), and an opportunistic one goes elsewhere.
    let mut again = job("itc-reconfig-3.yaml", &config7, "w2").groups[0].clone();
    again.members[0].pod_number = 1;
    assert!(matches!(wait(&mut a7, &again), WaitReason::Quota { .. }));
    let mut oppo = again.clone();
    oppo.name = "oppo".into();
    oppo.priority = -1;
    let placed = bind(&mut a7, &oppo);
    assert!(
        placed.pods.iter().all(|p| p.node != "10.151.41.19"),
        "{placed:?}"
    );

    // Delete VirtualCluster / move quota: `default` disappears (hived-config-5) or gives a
    // K80 node to vc1 (hived-config-6). The job keeps running, lazily preempted, and a vc1
    // job asking for all K80 nodes then preempts it at once.
    for (config_name, follow_up) in [
        ("hived-config-5.yaml", "itc-reconfig-4.yaml"),
        ("hived-config-6.yaml", "itc-reconfig-5.yaml"),
    ] {
        let new_config = load(config_name);
        let (mut moved, report) = Allocator::from_records(&new_config, &a3.bind_records());
        assert_eq!(
            report.lazily_preempted,
            vec![r3.groups[0].name.clone()],
            "{config_name}"
        );
        assert_eq!(
            moved.placement(&r3.groups[0].name).map(|p| spots(&p)),
            Some(spots(&p3)),
            "keeps running"
        );
        let next = job(follow_up, &new_config, "x");
        match moved.schedule(&next.groups[0], None) {
            Decision::Preempt { victims } => {
                assert_eq!(victims[0].group, r3.groups[0].name, "{config_name}")
            }
            other => panic!("{config_name}: expected preemption, got {other:?}"),
        }
    }
}

// See: HiveD demo "TensorFlow Distributed Training" (hived-config-2, itc-dtf): a job of
// a 4-GPU worker and a 1-GPU parameter server in the default VC is gang scheduled as one
// group and succeeds: the worker gets a whole K80 node, the ps one GPU of another.
#[test]
fn tensorflow_parameter_server_job_is_placed_as_one_gang() {
    let Some((config, mut alloc)) = setup("hived-config-2.yaml") else {
        return;
    };
    let dtf = job("itc-dtf.yaml", &config, "u");
    assert_eq!(dtf.groups.len(), 1, "worker and ps are one affinity group");
    let group = &dtf.groups[0];
    assert_eq!(group.virtual_cluster, "default");
    let mut sizes = group.pod_sizes();
    sizes.sort_unstable();
    assert_eq!(sizes, vec![1, 4]);
    let placed = bind(&mut alloc, group);
    let mut by_size: Vec<(u32, String, Vec<u32>)> = placed
        .pods
        .iter()
        .map(|p| (p.leaf_cell_number, p.node.clone(), p.devices.clone()))
        .collect();
    by_size.sort();
    let (ps, worker) = (&by_size[0], &by_size[1]);
    assert_eq!(worker.2, vec![0, 1, 2, 3], "the worker has a whole node");
    assert_eq!(ps.2.len(), 1);
    assert_ne!(ps.1, worker.1, "the ps is on the default VC's other node");
    let k80_nodes = [
        "10.151.41.18",
        "10.151.41.19",
        "10.151.41.20",
        "10.151.41.21",
    ];
    assert!(k80_nodes.contains(&worker.1.as_str()) && k80_nodes.contains(&ps.1.as_str()));
    // Both pods take their slots; the job then runs as a whole.
    for (i, m) in group.members.iter().enumerate() {
        for k in 0..m.pod_number {
            alloc
                .confirm_pod(&group.name, &format!("dtf-{i}-{k}"), m.leaf_cell_number)
                .expect("slot");
        }
    }
    assert_eq!(
        alloc.group_status(&group.name).map(|s| s.0),
        Some(cellsim::cell::GroupState::Allocated)
    );
}
