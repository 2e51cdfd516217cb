//! Rebuilding allocator state from bind records (spec section 7): after a restart the
//! scheduler sees only the annotations on running pods, and must come back with exactly
//! the same cluster and affinity-group views. And work-preserving reconfiguration: with a
//! changed config, groups whose cells are gone are reported lost, groups their VC no
//! longer covers keep running as lazily preempted, and added cells come up free.
//!
//! The property tests place random workloads (random groups, VCs, priorities, shapes;
//! every pod confirmed; preemptions either completed or abandoned so no reservation is
//! left; some groups and pods released) on random configs and on HiveD's example configs,
//! then rebuild with `Allocator::from_records` and compare the views as JSON. Each bind
//! record's annotations must also read back (as YAML) into the same structures.

use std::collections::{BTreeMap, BTreeSet};

use cellsim::cell::{
    Allocator, BIND_INFO_ANNOTATION, BindRecord, Decision, GroupMember, GroupRequest, GroupState,
    LEAF_CELL_ISOLATION_ANNOTATION, PodBindInfo, PodSchedulingSpec, SCHEDULING_SPEC_ANNOTATION,
};
use cellsim::config::{CellConfig, load_file, load_str};
use proptest::prelude::*;
use serde_json::Value;

use crate::common::shared;

// ---------------------------------------------------------------------------------------
// Random configs
// ---------------------------------------------------------------------------------------

/// One chain: `tops` pools of `nodes` nodes of `switches` PCIe switches of `leaves` GPUs.
#[derive(Debug, Clone)]
struct ChainShape {
    leaves: u32,
    switches: u32,
    nodes: u32,
    tops: u32,
    /// A pool-level VC cell for vc0 when a whole pool is available.
    pool_cell: bool,
    /// Pin one node and give it to vc0.
    pin: bool,
}

fn chain_shape() -> impl Strategy<Value = ChainShape> {
    (
        prop::sample::select(vec![1u32, 2, 4]),
        1u32..=2,
        1u32..=3,
        1u32..=2,
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(leaves, switches, nodes, tops, pool_cell, pin)| ChainShape {
                leaves,
                switches,
                nodes,
                tops,
                pool_cell,
                pin,
            },
        )
}

/// A HiveD config (as YAML, loaded through the real loader) from chain shapes; VCs take
/// node-level and switch-level cells by `shares`, never more than the chain can hold.
fn random_config(chains: &[ChainShape], vc_count: usize, shares: &[u32]) -> CellConfig {
    let mut types = String::new();
    let mut cells = String::new();
    let mut vcs: BTreeMap<String, (Vec<String>, Vec<String>)> = (0..vc_count)
        .map(|v| (format!("vc{v}"), (Vec::new(), Vec::new())))
        .collect();
    let mut share = shares.iter().copied().cycle();
    for (c, shape) in chains.iter().enumerate() {
        let leaf = format!("G{c}");
        let (sw, node, pool) = (
            format!("{leaf}-SW"),
            format!("{leaf}-NODE"),
            format!("{leaf}-POOL"),
        );
        types += &format!(
            "    {sw}: {{childCellType: {leaf}, childCellNumber: {}}}\n\
             \x20   {node}: {{childCellType: {sw}, childCellNumber: {}, isNodeLevel: true}}\n\
             \x20   {pool}: {{childCellType: {node}, childCellNumber: {}}}\n",
            shape.leaves, shape.switches, shape.nodes
        );
        let pinned = shape.pin && shape.nodes * shape.tops >= 2;
        for t in 0..shape.tops {
            cells += &format!("  - cellType: {pool}\n    cellChildren:\n");
            for n in 0..shape.nodes {
                cells += &format!("    - cellAddress: n{c}-{t}-{n}\n");
                // The last node of the last pool is pinned.
                if pinned && t == shape.tops - 1 && n == shape.nodes - 1 {
                    cells += &format!("      pinnedCellId: PIN-{c}\n");
                }
            }
        }
        if pinned {
            vcs.get_mut("vc0").expect("vc0").1.push(format!("PIN-{c}"));
        }
        // Top-down capacity: whole pools, then nodes, then switches.
        let free_tops = shape.tops - pinned as u32;
        let pool_demand = (shape.pool_cell && free_tops > 0) as u32;
        if pool_demand > 0 {
            vcs.get_mut("vc0")
                .expect("vc0")
                .0
                .push(format!("{{cellType: {pool}, cellNumber: 1}}"));
        }
        let mut free_nodes = shape.nodes * shape.tops - pinned as u32 - pool_demand * shape.nodes;
        for v in 0..vc_count {
            let want = share.next().unwrap_or(1).min(free_nodes);
            if want > 0 {
                free_nodes -= want;
                vcs.get_mut(&format!("vc{v}"))
                    .expect("vc")
                    .0
                    .push(format!("{{cellType: {pool}.{node}, cellNumber: {want}}}"));
            }
        }
        let mut free_switches = free_nodes * shape.switches;
        for v in 0..vc_count {
            let want = share.next().unwrap_or(0).min(free_switches);
            if want > 0 {
                free_switches -= want;
                vcs.get_mut(&format!("vc{v}")).expect("vc").0.push(format!(
                    "{{cellType: {pool}.{node}.{sw}, cellNumber: {want}}}"
                ));
            }
        }
    }
    let mut text = format!(
        "physicalCluster:\n  cellTypes:\n{types}  physicalCells:\n{cells}virtualClusters:\n"
    );
    for (name, (virtual_cells, pinned)) in &vcs {
        text += &format!(
            "  {name}:\n    virtualCells: [{}]\n    pinnedCells: [{}]\n",
            virtual_cells.join(", "),
            pinned
                .iter()
                .map(|p| format!("{{pinnedCellId: {p}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    load_str(&text, "rebuild-test")
        .unwrap_or_else(|e| panic!("generated config should load:\n{e}\n---\n{text}"))
}

// ---------------------------------------------------------------------------------------
// Random workloads
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Schedule a new group. On preempt, either evict the victims and retry until bound
    /// (`complete`), or give up and release the preemptor.
    Schedule {
        vc: usize,
        priority: i32,
        members: Vec<(u32, u32)>,
        lazy: bool,
        leaf_type: Option<usize>,
        pinned: bool,
        complete: bool,
    },
    /// Release the i-th live group.
    Release(usize),
    /// One pod of the i-th live group goes away.
    ReleasePod(usize, usize),
    /// Node i goes bad (false) or comes back (true).
    Health(usize, bool),
}

fn op() -> impl Strategy<Value = Op> {
    let members = prop::collection::vec(
        (1u32..=2, prop::sample::select(vec![1u32, 1, 1, 2, 2, 4, 8])),
        1..=2,
    );
    prop_oneof![
        8 => (
            0usize..8,
            prop::sample::select(vec![-1, -1, 0, 10, 10, 100, 1000]),
            members,
            any::<bool>(),
            prop::option::weighted(0.3, 0usize..4),
            prop::bool::weighted(0.15),
            any::<bool>(),
        )
            .prop_map(|(vc, priority, members, lazy, leaf_type, pinned, complete)| Op::Schedule {
                vc,
                priority,
                members,
                lazy,
                leaf_type,
                pinned,
                complete,
            }),
        1 => (0usize..64).prop_map(Op::Release),
        1 => (0usize..64, 0usize..8).prop_map(|(g, p)| Op::ReleasePod(g, p)),
    ]
}

/// `op()` plus nodes going bad and coming back.
fn op_with_health() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => op(),
        1 => (0usize..64, any::<bool>()).prop_map(|(n, up)| Op::Health(n, up)),
    ]
}

/// Confirms every pod of a bound group, checking each pod gets its placement's slot.
fn confirm_all(alloc: &mut Allocator, req: &GroupRequest) -> Result<(), TestCaseError> {
    let placement = alloc
        .placement(&req.name)
        .expect("bound group has a placement");
    for (i, pod) in placement.pods.iter().enumerate() {
        let got = alloc
            .confirm_pod(
                &req.name,
                &format!("{}-pod{i}", req.name),
                pod.leaf_cell_number,
            )
            .map_err(|e| TestCaseError::fail(format!("confirm {}: {e}", req.name)))?;
        prop_assert_eq!(&got, pod, "pod {} of {} took another slot", i, req.name);
    }
    Ok(())
}

/// Applies the ops; afterwards no group is left preempting (so nothing is reserved).
fn place_workload(
    alloc: &mut Allocator,
    config: &CellConfig,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let vcs: Vec<String> = config.virtual_clusters.keys().cloned().collect();
    let leaf_types: Vec<String> = alloc
        .topology()
        .chains
        .iter()
        .map(|c| c.leaf_type.clone())
        .collect();
    let mut counter = 0;
    for op in ops {
        let live: Vec<String> = alloc
            .affinity_groups_view()
            .items
            .into_iter()
            .map(|g| g.metadata.name)
            .collect();
        match op {
            Op::Schedule {
                vc,
                priority,
                members,
                lazy,
                leaf_type,
                pinned,
                complete,
            } => {
                counter += 1;
                let vc = vcs[vc % vcs.len()].clone();
                let pin = config.virtual_clusters[&vc].pinned_cells.first().cloned();
                let req = GroupRequest {
                    name: format!("g{counter:02}"),
                    virtual_cluster: vc,
                    priority: *priority,
                    leaf_cell_type: leaf_type.map(|t| leaf_types[t % leaf_types.len()].clone()),
                    pinned_cell_id: if *pinned && *priority >= 0 { pin } else { None },
                    lazy_preemption_enable: *lazy,
                    ignore_k8s_suggested_nodes: true,
                    members: members
                        .iter()
                        .map(|&(pod_number, leaf_cell_number)| {
                            GroupMember::whole(pod_number, leaf_cell_number)
                        })
                        .collect(),
                };
                match alloc.schedule(&req, None) {
                    Decision::Bind(_) => confirm_all(alloc, &req)?,
                    Decision::Preempt { victims } if *complete => {
                        for v in &victims {
                            alloc.release_group(&v.group).expect("victim is live");
                        }
                        let again = alloc.schedule(&req, None);
                        prop_assert!(
                            matches!(again, Decision::Bind(_)),
                            "preemptor {} not bound after its victims left: {:?}",
                            req.name,
                            again
                        );
                        confirm_all(alloc, &req)?;
                    }
                    Decision::Preempt { .. } => {
                        alloc.release_group(&req.name).expect("preemptor is live");
                    }
                    Decision::Wait { .. } | Decision::Reject { .. } => {}
                }
            }
            Op::Release(i) => {
                if !live.is_empty() {
                    alloc
                        .release_group(&live[i % live.len()])
                        .expect("live group");
                }
            }
            Op::Health(i, up) => {
                let nodes: Vec<String> = alloc
                    .topology()
                    .nodes
                    .iter()
                    .map(|n| n.name.clone())
                    .collect();
                alloc
                    .set_node_health(&nodes[i % nodes.len()], *up)
                    .expect("known node");
            }
            Op::ReleasePod(i, p) => {
                if !live.is_empty() {
                    let name = &live[i % live.len()];
                    let view = alloc.affinity_group_view(name).expect("live");
                    let pods = &view.status.allocated_pods;
                    if !pods.is_empty() {
                        alloc
                            .release_pod(name, &pods[p % pods.len()])
                            .expect("allocated pod releases");
                    }
                }
            }
        }
    }
    for g in alloc.affinity_groups_view().items {
        prop_assert!(
            matches!(
                alloc.group_status(&g.metadata.name),
                Some((GroupState::Allocated, _, _))
            ),
            "group {} left preempting",
            g.metadata.name
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------

/// The first difference between two JSON values, by path, with both sides.
fn first_difference(before: &Value, after: &Value) -> Option<String> {
    fn walk(path: String, a: &Value, b: &Value) -> Option<String> {
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
                keys.into_iter().find_map(|k| match (x.get(k), y.get(k)) {
                    (Some(p), Some(q)) => walk(format!("{path}.{k}"), p, q),
                    (p, q) => Some(format!("{path}.{k}: before {p:?}, after {q:?}")),
                })
            }
            (Value::Array(x), Value::Array(y)) => {
                (0..x.len().max(y.len())).find_map(|i| match (x.get(i), y.get(i)) {
                    (Some(p), Some(q)) => walk(format!("{path}[{i}]"), p, q),
                    (p, q) => Some(format!("{path}[{i}]: before {p:?}, after {q:?}")),
                })
            }
            _ if a == b => None,
            _ => Some(format!("{path}: before {a}, after {b}")),
        }
    }
    walk("$".into(), before, after)
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("views serialise")
}

/// Every annotation of a record reads back into the record's own structures.
fn check_annotations(record: &BindRecord) -> Result<(), TestCaseError> {
    let annotations = record.annotations();
    let info: PodBindInfo =
        serde_yaml_ng::from_str(&annotations[BIND_INFO_ANNOTATION]).map_err(|e| {
            TestCaseError::fail(format!("bind info of {} is not YAML: {e}", record.pod))
        })?;
    prop_assert_eq!(&info, &record.bind_info);
    let spec: PodSchedulingSpec = serde_yaml_ng::from_str(&annotations[SCHEDULING_SPEC_ANNOTATION])
        .map_err(|e| TestCaseError::fail(format!("spec of {} is not YAML: {e}", record.pod)))?;
    prop_assert_eq!(&spec, &record.scheduling_spec);
    let devices: Vec<String> = record
        .bind_info
        .leaf_cell_isolation
        .iter()
        .map(u32::to_string)
        .collect();
    prop_assert_eq!(
        &annotations[LEAF_CELL_ISOLATION_ANNOTATION],
        &devices.join(",")
    );
    prop_assert!(!devices.is_empty(), "pod {} bound to no device", record.pod);
    Ok(())
}

/// Rebuilds from the bind records on the same config (then reports the same bad nodes,
/// as the live server learns them after a restart) and demands identical views.
fn check_rebuild(alloc: &Allocator, config: &CellConfig) -> Result<(), TestCaseError> {
    let records = alloc.bind_records();
    for r in &records {
        check_annotations(r)?;
    }
    let (mut rebuilt, report) = Allocator::from_records(config, &records);
    for node in alloc.bad_nodes() {
        rebuilt.set_node_health(&node, false).expect("known node");
    }
    prop_assert!(
        report.lost.is_empty(),
        "groups lost on a same-config rebuild: {:?}",
        report.lost
    );
    let live: BTreeSet<String> = alloc
        .affinity_groups_view()
        .items
        .into_iter()
        .map(|g| g.metadata.name)
        .collect();
    let reported: BTreeSet<String> = report
        .restored
        .iter()
        .chain(&report.lazily_preempted)
        .cloned()
        .collect();
    prop_assert_eq!(&reported, &live, "every live group is restored once");
    for (what, before, after) in [
        (
            "cluster_status",
            json(&alloc.cluster_status()),
            json(&rebuilt.cluster_status()),
        ),
        (
            "affinity_groups_view",
            json(&alloc.affinity_groups_view()),
            json(&rebuilt.affinity_groups_view()),
        ),
    ] {
        if let Some(diff) = first_difference(&before, &after) {
            return Err(TestCaseError::fail(format!(
                "{what} differs after rebuild: {diff}\nrecords: {}",
                serde_json::to_string(&records).unwrap_or_default()
            )));
        }
    }
    for name in &live {
        prop_assert_eq!(
            alloc.group_status(name),
            rebuilt.group_status(name),
            "status of {}",
            name
        );
    }
    prop_assert_eq!(rebuilt.bind_records(), records, "records after rebuild");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn rebuild_from_records_restores_the_same_views_on_random_configs(
        chains in prop::collection::vec(chain_shape(), 1..=2),
        vc_count in 1usize..=3,
        shares in prop::collection::vec(prop::sample::select(vec![0u32, 1, 1, 2, 3]), 1..=6),
        ops in prop::collection::vec(op(), 1..50),
    ) {
        let config = random_config(&chains, vc_count, &shares);
        let mut alloc = Allocator::new(&config);
        place_workload(&mut alloc, &config, &ops)?;
        check_rebuild(&alloc, &config)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    /// The same with nodes going bad and coming back during the workload.
    #[test]
    fn rebuild_from_records_restores_the_same_views_with_bad_nodes(
        chains in prop::collection::vec(chain_shape(), 1..=2),
        vc_count in 1usize..=3,
        shares in prop::collection::vec(prop::sample::select(vec![0u32, 1, 1, 2, 3]), 1..=6),
        ops in prop::collection::vec(op_with_health(), 1..50),
    ) {
        let config = random_config(&chains, vc_count, &shares);
        let mut alloc = Allocator::new(&config);
        place_workload(&mut alloc, &config, &ops)?;
        check_rebuild(&alloc, &config)?;
    }
}

/// HiveD's example configs that the property test below draws from.
const EXAMPLE_CONFIGS: &[&str] = &[
    "hived-examples/feature/hived-config-1.yaml",
    "hived-examples/feature/hived-config-2.yaml",
    "hived-examples/feature/hived-config-3.yaml",
    "hived-examples/feature/hived-config-33.yaml",
    "hived-examples/feature/hived-config-4.yaml",
    "hived-examples/feature/hived-config-5.yaml",
    "hived-examples/feature/hived-config-6.yaml",
    "hived-examples/feature/hived-config-7.yaml",
    "hived-examples/feature/hived-config-8.yaml",
    "hived-examples/config/basic/hivedscheduler.yaml",
    "hived-examples/config/design/hivedscheduler.yaml",
];

fn example_configs() -> Option<&'static [CellConfig]> {
    static CONFIGS: std::sync::OnceLock<Option<Vec<CellConfig>>> = std::sync::OnceLock::new();
    CONFIGS
        .get_or_init(|| {
            EXAMPLE_CONFIGS
                .iter()
                .map(|f| {
                    let path = shared(f)?;
                    Some(load_file(&path).unwrap_or_else(|e| panic!("{f} loads:\n{e}")))
                })
                .collect()
        })
        .as_deref()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn rebuild_from_records_restores_the_same_views_on_hived_examples(
        which in 0usize..EXAMPLE_CONFIGS.len(),
        ops in prop::collection::vec(op(), 1..50),
    ) {
        let Some(configs) = example_configs() else { return Ok(()) };
        let config = &configs[which];
        let mut alloc = Allocator::new(config);
        place_workload(&mut alloc, config, &ops)?;
        check_rebuild(&alloc, config)?;
    }
}

// ---------------------------------------------------------------------------------------
// Work-preserving reconfiguration (hand-written, on HiveD's example configs)
// ---------------------------------------------------------------------------------------

fn feature_config(name: &str) -> Option<CellConfig> {
    let path = shared(&format!("hived-examples/feature/{name}"))?;
    Some(load_file(&path).unwrap_or_else(|e| panic!("{name} loads:\n{e}")))
}

fn group(
    name: &str,
    vc: &str,
    priority: i32,
    leaf_type: &str,
    pods: u32,
    leaves: u32,
) -> GroupRequest {
    GroupRequest {
        name: name.into(),
        virtual_cluster: vc.into(),
        priority,
        leaf_cell_type: Some(leaf_type.into()),
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        ignore_k8s_suggested_nodes: true,
        members: vec![GroupMember::whole(pods, leaves)],
    }
}

/// (node, devices) of every pod of a live group.
fn spots(alloc: &Allocator, name: &str) -> Vec<(String, Vec<u32>)> {
    alloc
        .placement(name)
        .unwrap_or_else(|| panic!("{name} is not live"))
        .pods
        .into_iter()
        .map(|p| (p.node, p.devices))
        .collect()
}

fn spot(node: &str, devices: &[u32]) -> (String, Vec<u32>) {
    (format!("10.151.41.{node}"), devices.to_vec())
}

/// Schedules a group that must bind, confirms its pods, returns its spots.
fn run(alloc: &mut Allocator, req: &GroupRequest) -> Vec<(String, Vec<u32>)> {
    match alloc.schedule(req, None) {
        Decision::Bind(_) => {}
        other => panic!("{} should bind, got {other:?}", req.name),
    }
    let placement = alloc.placement(&req.name).expect("bound");
    for (i, pod) in placement.pods.iter().enumerate() {
        alloc
            .confirm_pod(
                &req.name,
                &format!("{}-{i}", req.name),
                pod.leaf_cell_number,
            )
            .expect("pod confirms");
    }
    spots(alloc, &req.name)
}

/// State, priority and bound VC of the physical cell at `address` (full HiveD address).
fn physical_cell(alloc: &Allocator, address: &str) -> Option<(String, i64, Option<String>)> {
    fn find(v: &Value, address: &str) -> Option<(String, i64, Option<String>)> {
        if v["cellAddress"] == address {
            return Some((
                v["cellState"].as_str()?.to_string(),
                v["cellPriority"].as_i64()?,
                v["vc"].as_str().map(String::from),
            ));
        }
        v["cellChildren"]
            .as_array()?
            .iter()
            .find_map(|c| find(c, address))
    }
    json(&alloc.physical_view())
        .as_array()?
        .iter()
        .find_map(|top| find(top, address))
}

fn names(list: &[String]) -> Vec<&str> {
    list.iter().map(String::as_str).collect()
}

// hived-config-2 -> hived-config-33: the M60 pool (node .26) is removed. vc1's M60 job is
// lost with a reason; the K80 jobs come back exactly where they ran.
#[test]
fn reconfig_removing_cells_reports_their_groups_lost() {
    let (Some(before), Some(after)) = (
        feature_config("hived-config-2.yaml"),
        feature_config("hived-config-33.yaml"),
    ) else {
        return;
    };
    let mut alloc = Allocator::new(&before);
    assert_eq!(
        run(&mut alloc, &group("m60-job", "vc1", 100, "M60", 1, 4)),
        vec![spot("26", &[0, 1, 2, 3])]
    );
    let vc1_k80 = run(&mut alloc, &group("vc1-k80", "vc1", 100, "K80", 2, 2));
    assert_eq!(vc1_k80, vec![spot("18", &[0, 1]), spot("18", &[2, 3])]);
    let default_k80 = run(
        &mut alloc,
        &group("default-k80", "default", 10, "K80", 1, 4),
    );
    assert_eq!(default_k80, vec![spot("19", &[0, 1, 2, 3])]);

    let records = alloc.bind_records();
    let (rebuilt, report) = Allocator::from_records(&after, &records);
    assert_eq!(report.lost.len(), 1, "{report:?}");
    assert_eq!(report.lost[0].0, "m60-job");
    assert!(
        report.lost[0].1.contains("M60-NODE-POOL") || report.lost[0].1.contains("10.151.41.26"),
        "the reason names what is gone: {:?}",
        report.lost[0].1
    );
    // Restored by priority, then name.
    assert_eq!(names(&report.restored), vec!["vc1-k80", "default-k80"]);
    assert!(report.lazily_preempted.is_empty(), "{report:?}");
    assert!(rebuilt.placement("m60-job").is_none());
    assert_eq!(spots(&rebuilt, "vc1-k80"), vc1_k80);
    assert_eq!(spots(&rebuilt, "default-k80"), default_k80);
    // The survivors' records are unchanged; the lost group has none.
    let kept: Vec<BindRecord> = records
        .into_iter()
        .filter(|r| r.scheduling_spec.affinity_group.name != "m60-job")
        .collect();
    assert_eq!(rebuilt.bind_records(), kept);
    // Device-level view: the survivors' leaves are used at their priority and bound to
    // their VCs; no M60 chain is shown any more.
    assert_eq!(
        physical_cell(&rebuilt, "0/10.151.41.18/1/3"),
        Some(("Used".into(), 100, Some("vc1".into())))
    );
    assert_eq!(
        physical_cell(&rebuilt, "0/10.151.41.19/0/0"),
        Some(("Used".into(), 10, Some("default".into())))
    );
    assert!(
        !json(&rebuilt.physical_view()).to_string().contains("M60"),
        "the removed chain still shows"
    );
}

// hived-config-2 -> hived-config-7: K80 node .18 is removed from the pool (4 nodes -> 3).
// The vc1 job on .18 is lost; the default job on .19 is restored on the same devices.
#[test]
fn reconfig_removing_a_node_loses_only_the_groups_on_it() {
    let (Some(before), Some(after)) = (
        feature_config("hived-config-2.yaml"),
        feature_config("hived-config-7.yaml"),
    ) else {
        return;
    };
    let mut alloc = Allocator::new(&before);
    assert_eq!(
        run(&mut alloc, &group("on-18", "vc1", 100, "K80", 1, 2)),
        vec![spot("18", &[0, 1])]
    );
    let on_19 = run(&mut alloc, &group("on-19", "default", 100, "K80", 2, 1));
    assert_eq!(on_19, vec![spot("19", &[0]), spot("19", &[1])]);
    let (rebuilt, report) = Allocator::from_records(&after, &alloc.bind_records());
    assert_eq!(
        report.lost.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(),
        vec!["on-18"],
        "{report:?}"
    );
    assert!(
        report.lost[0].1.contains("10.151.41.18"),
        "{:?}",
        report.lost[0].1
    );
    assert_eq!(names(&report.restored), vec!["on-19"]);
    assert_eq!(spots(&rebuilt, "on-19"), on_19);
    assert_eq!(physical_cell(&rebuilt, "0/10.151.41.18"), None);
    assert_eq!(
        physical_cell(&rebuilt, "0/10.151.41.19/0/1"),
        Some(("Used".into(), 100, Some("default".into())))
    );
}

// hived-config-6 -> hived-config-2: two of vc1's three K80 nodes of quota move to
// `default` (vc1 3 -> 1, default 1 -> 2). All four jobs keep running where they are;
// vc1's second and third jobs are no longer covered by its quota, so they are lazily
// preempted (opportunistic, reported, `lazyPreemptionStatus` in the view) and are the
// first to go when `default` claims its new quota.
#[test]
fn reconfig_moving_quota_lazily_preempts_the_uncovered_groups() {
    let (Some(before), Some(after)) = (
        feature_config("hived-config-6.yaml"),
        feature_config("hived-config-2.yaml"),
    ) else {
        return;
    };
    let mut alloc = Allocator::new(&before);
    let mut placed = BTreeMap::new();
    for (name, vc) in [
        ("vc1-a", "vc1"),
        ("vc1-b", "vc1"),
        ("vc1-c", "vc1"),
        ("default-a", "default"),
    ] {
        placed.insert(name, run(&mut alloc, &group(name, vc, 100, "K80", 1, 4)));
    }
    assert_eq!(placed["vc1-a"], vec![spot("18", &[0, 1, 2, 3])]);
    assert_eq!(placed["vc1-b"], vec![spot("19", &[0, 1, 2, 3])]);
    assert_eq!(placed["vc1-c"], vec![spot("23", &[0, 1, 2, 3])]);
    assert_eq!(placed["default-a"], vec![spot("24", &[0, 1, 2, 3])]);

    let (mut rebuilt, report) = Allocator::from_records(&after, &alloc.bind_records());
    assert!(report.lost.is_empty(), "{report:?}");
    // Restoring goes by priority, then name: vc1-a keeps vc1's one node of quota.
    assert_eq!(names(&report.restored), vec!["default-a", "vc1-a"]);
    assert_eq!(names(&report.lazily_preempted), vec!["vc1-b", "vc1-c"]);
    for (name, spots_before) in &placed {
        assert_eq!(&spots(&rebuilt, name), spots_before, "{name} moved");
    }
    for (name, lazy) in [
        ("vc1-a", false),
        ("vc1-b", true),
        ("vc1-c", true),
        ("default-a", false),
    ] {
        let (state, priority, downgraded) = rebuilt.group_status(name).expect("live");
        assert_eq!(state, GroupState::Allocated, "{name}");
        assert_eq!(downgraded, lazy, "{name}");
        assert_eq!(priority, if lazy { -1 } else { 100 }, "{name}");
        let view = json(&rebuilt.affinity_group_view(name).expect("live"));
        let vc = if name.starts_with("vc1") {
            "vc1"
        } else {
            "default"
        };
        assert_eq!(view["status"]["vc"], vc, "{name}");
        assert_eq!(
            view["status"].get("lazyPreemptionStatus").is_some(),
            lazy,
            "{name}: {view}"
        );
        // A lazily preempted group holds no virtual cells any more.
        assert_eq!(
            view["status"]["virtualPlacement"]
                .as_object()
                .is_none_or(|m| m.is_empty()),
            lazy,
            "{name}: {view}"
        );
    }
    // The downgraded groups' devices run at priority -1, outside any VC.
    assert_eq!(
        physical_cell(&rebuilt, "0/10.151.41.19/0/0"),
        Some(("Used".into(), -1, None))
    );
    assert_eq!(
        physical_cell(&rebuilt, "0/10.151.41.18/0/0"),
        Some(("Used".into(), 100, Some("vc1".into())))
    );
    // vc1 has no quota left for another job of equal priority ...
    assert!(matches!(
        rebuilt.schedule(&group("vc1-d", "vc1", 100, "K80", 1, 4), None),
        Decision::Wait { .. }
    ));
    // ... while default's new quota is there, held by a lazily preempted vc1 job.
    match rebuilt.schedule(&group("default-b", "default", 100, "K80", 1, 4), None) {
        Decision::Preempt { victims } => {
            assert_eq!(victims.len(), 1, "{victims:?}");
            assert!(
                ["vc1-b", "vc1-c"].contains(&victims[0].group.as_str()),
                "{victims:?}"
            );
            assert_eq!(victims[0].priority, -1);
        }
        other => panic!("default should preempt a lazily preempted vc1 job, got {other:?}"),
    }
}

// hived-config-1 -> hived-config-8: pinned node .25 moves from vc2 (`VC2-K80`) to vc1
// (`VC1-K80`). vc2's pinned job keeps running on it, lazily preempted.
#[test]
fn reconfig_moving_a_pinned_cell_lazily_preempts_its_groups() {
    let (Some(before), Some(after)) = (
        feature_config("hived-config-1.yaml"),
        feature_config("hived-config-8.yaml"),
    ) else {
        return;
    };
    let mut alloc = Allocator::new(&before);
    let mut pinned = group("pinned", "vc2", 100, "K80", 1, 2);
    pinned.pinned_cell_id = Some("VC2-K80".into());
    let at = run(&mut alloc, &pinned);
    assert_eq!(at, vec![spot("25", &[0, 1])]);
    let (rebuilt, report) = Allocator::from_records(&after, &alloc.bind_records());
    assert!(report.lost.is_empty(), "{report:?}");
    assert_eq!(names(&report.lazily_preempted), vec!["pinned"]);
    assert_eq!(spots(&rebuilt, "pinned"), at);
    assert_eq!(
        rebuilt.group_status("pinned"),
        Some((GroupState::Allocated, -1, true))
    );
    assert_eq!(
        physical_cell(&rebuilt, "0/10.151.41.25").map(|c| c.2),
        Some(Some("vc1".into()))
    );
}

// hived-config-7 -> hived-config-2: node .18 is added to the K80 pool (3 nodes -> 4) and
// default's quota grows by one node. Every job is restored unchanged; .18 comes up free
// and takes default's next job.
#[test]
fn reconfig_adding_cells_restores_groups_and_frees_the_new_cells() {
    let (Some(before), Some(after)) = (
        feature_config("hived-config-7.yaml"),
        feature_config("hived-config-2.yaml"),
    ) else {
        return;
    };
    let mut alloc = Allocator::new(&before);
    let mut placed = BTreeMap::new();
    placed.insert(
        "vc1-k80",
        run(&mut alloc, &group("vc1-k80", "vc1", 100, "K80", 2, 2)),
    );
    placed.insert(
        "default-k80",
        run(
            &mut alloc,
            &group("default-k80", "default", 10, "K80", 1, 2),
        ),
    );
    placed.insert(
        "vc1-m60",
        run(&mut alloc, &group("vc1-m60", "vc1", 100, "M60", 1, 2)),
    );
    placed.insert(
        "oppo",
        run(&mut alloc, &group("oppo", "default", -1, "K80", 1, 1)),
    );
    assert_eq!(
        placed["vc1-k80"],
        vec![spot("19", &[0, 1]), spot("19", &[2, 3])]
    );
    assert_eq!(placed["default-k80"], vec![spot("23", &[0, 1])]);
    assert_eq!(placed["vc1-m60"], vec![spot("26", &[0, 1])]);
    let before_views = json(&alloc.affinity_groups_view());

    let (mut rebuilt, report) = Allocator::from_records(&after, &alloc.bind_records());
    assert!(report.lost.is_empty(), "{report:?}");
    for (name, spots_before) in &placed {
        assert_eq!(&spots(&rebuilt, name), spots_before, "{name} moved");
    }
    // The groups look exactly as before the change.
    assert_eq!(json(&rebuilt.affinity_groups_view()), before_views);
    // The new node is free, bound to no VC, down to its devices.
    assert_eq!(
        physical_cell(&rebuilt, "0/10.151.41.18"),
        Some(("Free".into(), -2, None))
    );
    for leaf in ["0/0", "0/1", "1/2", "1/3"] {
        assert_eq!(
            physical_cell(&rebuilt, &format!("0/10.151.41.18/{leaf}")),
            Some(("Free".into(), -2, None)),
            "{leaf}"
        );
    }
    // default's grown quota is usable at once: a whole free node for its next job.
    let next = run(
        &mut rebuilt,
        &group("default-next", "default", 10, "K80", 1, 4),
    );
    assert_eq!(next.len(), 1);
    assert!(
        ["10.151.41.18", "10.151.41.24"].contains(&next[0].0.as_str()),
        "{next:?}"
    );
}

// hived-config-2 -> hived-config-4: the M60 pool grows by node .25 and vc1's M60 quota by
// one node. vc1's M60 job stays on .26; a second one binds on the new node.
#[test]
fn reconfig_adding_a_node_to_a_pool_gives_the_vc_its_new_quota() {
    let (Some(before), Some(after)) = (
        feature_config("hived-config-2.yaml"),
        feature_config("hived-config-4.yaml"),
    ) else {
        return;
    };
    let mut alloc = Allocator::new(&before);
    let first = run(&mut alloc, &group("m60-a", "vc1", 100, "M60", 1, 4));
    assert_eq!(first, vec![spot("26", &[0, 1, 2, 3])]);
    assert!(matches!(
        alloc.schedule(&group("m60-b", "vc1", 100, "M60", 1, 4), None),
        Decision::Wait { .. }
    ));
    let (mut rebuilt, report) = Allocator::from_records(&after, &alloc.bind_records());
    assert_eq!(names(&report.restored), vec!["m60-a"]);
    assert_eq!(spots(&rebuilt, "m60-a"), first);
    assert_eq!(
        physical_cell(&rebuilt, "1/10.151.41.25"),
        Some(("Free".into(), -2, None))
    );
    assert_eq!(
        run(&mut rebuilt, &group("m60-b", "vc1", 100, "M60", 1, 4)),
        vec![spot("25", &[0, 1, 2, 3])]
    );
}

// An opportunistic group is restored as it was; `lazily_preempted` is documented as
// "guaranteed groups their VC no longer covers", but from_records files every group it
// restores at priority -1 there (restore_as returns Ok(false) for them).
#[test]
fn rebuild_reports_opportunistic_groups_as_restored() {
    let Some(config) = feature_config("hived-config-2.yaml") else {
        return;
    };
    let mut alloc = Allocator::new(&config);
    run(&mut alloc, &group("oppo", "default", -1, "K80", 1, 1));
    run(&mut alloc, &group("prod", "default", 100, "K80", 1, 1));
    let (rebuilt, report) = Allocator::from_records(&config, &alloc.bind_records());
    assert_eq!(
        rebuilt.group_status("oppo"),
        Some((GroupState::Allocated, -1, false))
    );
    assert_eq!(names(&report.restored), vec!["prod", "oppo"], "{report:?}");
    assert!(report.lazily_preempted.is_empty(), "{report:?}");
}

// hived-config-2 -> hived-config-3: `default` is granted the K80 node no VC owned
// (2 -> 3 nodes; vc1 keeps its one). Everything keeps running where it is; the
// opportunistic job on the formerly unowned node is what `default` preempts to use its
// new quota, where before the change it had to wait.
#[test]
fn reconfig_granting_unowned_cells_to_a_vc_keeps_groups_and_extends_its_quota() {
    let (Some(before), Some(after)) = (
        feature_config("hived-config-2.yaml"),
        feature_config("hived-config-3.yaml"),
    ) else {
        return;
    };
    let mut alloc = Allocator::new(&before);
    let mut placed = BTreeMap::new();
    for (name, vc, priority) in [
        ("vc1-a", "vc1", 100),
        ("default-a", "default", 100),
        ("default-b", "default", 100),
        ("oppo", "vc1", -1),
    ] {
        placed.insert(
            name,
            run(&mut alloc, &group(name, vc, priority, "K80", 1, 4)),
        );
    }
    assert_eq!(placed["vc1-a"], vec![spot("18", &[0, 1, 2, 3])]);
    assert_eq!(placed["default-a"], vec![spot("19", &[0, 1, 2, 3])]);
    assert_eq!(placed["default-b"], vec![spot("23", &[0, 1, 2, 3])]);
    assert_eq!(placed["oppo"], vec![spot("24", &[0, 1, 2, 3])]);
    let third = group("default-c", "default", 100, "K80", 1, 4);
    assert!(matches!(
        alloc.clone().schedule(&third, None),
        Decision::Wait { .. }
    ));

    let (mut rebuilt, report) = Allocator::from_records(&after, &alloc.bind_records());
    assert!(report.lost.is_empty(), "{report:?}");
    for name in ["vc1-a", "default-a", "default-b"] {
        assert!(
            report.restored.iter().any(|r| r == name),
            "{name}: {report:?}"
        );
        assert_eq!(
            rebuilt.group_status(name),
            Some((GroupState::Allocated, 100, false))
        );
    }
    for (name, spots_before) in &placed {
        assert_eq!(&spots(&rebuilt, name), spots_before, "{name} moved");
    }
    assert_eq!(
        json(&rebuilt.affinity_groups_view()),
        json(&alloc.affinity_groups_view())
    );
    match rebuilt.schedule(&third, None) {
        Decision::Preempt { victims } => {
            let names: Vec<&str> = victims.iter().map(|v| v.group.as_str()).collect();
            assert_eq!(names, vec!["oppo"]);
        }
        other => panic!("default should preempt the opportunistic job, got {other:?}"),
    }
}

/// One pool of two 4-GPU nodes `a`, `b`; vc0 owns the whole pool.
const ONE_POOL: &str = "
physicalCluster:
  cellTypes:
    G-NODE: {childCellType: G, childCellNumber: 4, isNodeLevel: true}
    G-POOL: {childCellType: G-NODE, childCellNumber: 2}
  physicalCells:
  - cellType: G-POOL
    cellChildren: [{cellAddress: a}, {cellAddress: b}]
virtualClusters:
  vc0: {virtualCells: [{cellType: G-POOL, cellNumber: 1}]}
";

// Node `a` goes bad, so vc0's pool is bound to it as doomed (spec section 6). A vc0 job
// then runs on `b`, inside that binding; `a` comes back; the job ends. Nothing runs and
// every node is healthy, so no cell should stay bound (bindings are lazy both ways), as
// in a fresh or rebuilt allocator. Today the pool stays bound to vc0: refresh_doomed
// (src/cell/health.rs) only drops doomed bindings that are unused at the time, never
// clears `doomed` on one in use, and add_usage (allocator.rs) never unbinds a doomed
// cell; release_by_id refreshes only while some leaf is bad.
#[test]
fn a_doomed_binding_goes_once_its_node_is_back_and_its_groups_leave() {
    let config = load_str(ONE_POOL, "one-pool").expect("config loads");
    let mut alloc = Allocator::new(&config);
    let idle = json(&alloc.cluster_status());
    alloc.set_node_health("a", false).expect("node");
    assert_eq!(
        run(&mut alloc, &group("job", "vc0", 0, "G", 1, 1)),
        vec![("b".to_string(), vec![0])]
    );
    alloc.set_node_health("a", true).expect("node");
    alloc.release_group("job").expect("live");
    let now = json(&alloc.cluster_status());
    assert!(
        now == idle,
        "state after the job left differs from an idle allocator: {}",
        first_difference(&idle, &now).unwrap_or_default()
    );
    let (rebuilt, _) = Allocator::from_records(&config, &alloc.bind_records());
    assert_eq!(json(&rebuilt.cluster_status()), now);
}

// hived-config-1, node .24 (half of `default`'s 2-K80-NODE pool) is bad. `default` runs a
// lazily preemptible priority-0 job on .23; a priority-10 `default` job that needs the
// whole pool cannot be placed (the pool has a bad node) and is told to wait. The wait
// must change nothing, yet schedule_new (src/cell/allocator.rs) downgrades the victim
// before re-planning and keeps the downgrade when the re-plan waits; `default`'s pool is
// then unbound and, as schedule() refreshes doomed bindings only on bind/preempt, not
// doomed either, unlike in an allocator rebuilt from the same records.
#[test]
fn a_wait_leaves_lazily_preemptible_groups_alone() {
    let Some(config) = feature_config("hived-config-1.yaml") else {
        return;
    };
    let mut alloc = Allocator::new(&config);
    let mut lazy = group("lazy", "default", 0, "K80", 1, 1);
    lazy.lazy_preemption_enable = true;
    assert_eq!(run(&mut alloc, &lazy), vec![spot("23", &[0])]);
    alloc.set_node_health("10.151.41.24", false).expect("node");
    let before = json(&alloc.cluster_status());
    let mut big = group("big", "default", 10, "K80", 2, 1);
    big.members.push(GroupMember::whole(1, 2));
    let decision = alloc.schedule(&big, None);
    assert!(matches!(decision, Decision::Wait { .. }), "{decision:?}");
    assert_eq!(
        alloc.group_status("lazy"),
        Some((GroupState::Allocated, 0, false))
    );
    let after = json(&alloc.cluster_status());
    assert!(
        after == before,
        "a wait changed state: {}",
        first_difference(&before, &after).unwrap_or_default()
    );
    let (mut rebuilt, _) = Allocator::from_records(&config, &alloc.bind_records());
    rebuilt
        .set_node_health("10.151.41.24", false)
        .expect("node");
    assert_eq!(json(&rebuilt.cluster_status()), after);
}
