//! Inspect JSON shapes against HiveD's own samples (`hived-examples/api_samples/`).
//!
//! The samples were taken from HiveD running `hived-examples/config/basic/hivedscheduler.yaml`
//! (VC1 and VC2 share one `3-K80-NODE` rack of nodes 10.151.41.20-22; VC2 also owns the
//! pinned node .21) after the group `demo-group` (VC1, priority 10, K80, one member of
//! 2 pods x 2 GPUs) was placed and its first pod `uid-demo-0` was bound. The tests replay
//! exactly that and compare cellsim's views field by field: names and nesting, addresses,
//! states, priorities, and the vc / virtualCell / physicalCell links. Every difference is
//! listed by JSON path on failure.

use cellsim::cell::{
    Allocator, BIND_INFO_ANNOTATION, Decision, GroupMember, GroupRequest,
    LEAF_CELL_ISOLATION_ANNOTATION, PodBindInfo, PodSchedulingSpec, SCHEDULING_SPEC_ANNOTATION,
};
use cellsim::config::load_file;
use serde_json::Value;

use crate::common::shared;

/// The sample's group, as its `pod-scheduling-spec` annotation describes it.
fn demo_group() -> GroupRequest {
    GroupRequest {
        name: "demo-group".into(),
        virtual_cluster: "VC1".into(),
        priority: 10,
        leaf_cell_type: Some("K80".into()),
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        // The sample's spec says `ignoreK8sSuggestedNodes: false`; no suggestion is given
        // here, so every node is allowed, as in the sample run.
        ignore_k8s_suggested_nodes: false,
        members: vec![GroupMember::whole(2, 2)],
    }
}

/// The allocator in the sample's state: `demo-group` placed, its first pod bound as
/// `uid-demo-0` (HiveD lists pods by uid; the sample shows one allocated pod). `None`
/// when `../shared` is absent.
fn sample_state() -> Option<Allocator> {
    let path = shared("hived-examples/config/basic/hivedscheduler.yaml")?;
    let config = load_file(&path).unwrap_or_else(|e| panic!("basic config loads:\n{e}"));
    let mut alloc = Allocator::new(&config);
    match alloc.schedule(&demo_group(), None) {
        Decision::Bind(p) => {
            assert_eq!(p.chain, "3-K80-NODE");
            let spots: Vec<(&str, &[u32])> = p
                .pods
                .iter()
                .map(|x| (x.node.as_str(), x.devices.as_slice()))
                .collect();
            assert_eq!(
                spots,
                vec![("10.151.41.20", &[0, 1][..]), ("10.151.41.20", &[2, 3][..])],
                "demo-group should land where HiveD put it"
            );
        }
        other => panic!("demo-group should bind, got {other:?}"),
    }
    let first = alloc
        .confirm_pod("demo-group", "uid-demo-0", 2)
        .expect("first pod confirms");
    assert_eq!(
        (first.node.as_str(), first.devices.as_slice()),
        ("10.151.41.20", &[0, 1][..])
    );
    Some(alloc)
}

fn sample(name: &str) -> Value {
    let path = shared(&format!("hived-examples/api_samples/{name}")).expect("shared present");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("views serialise")
}

/// Every difference between `expected` (HiveD) and `actual` (cellsim), one line each,
/// as `path: expected X, cellsim Y`. Arrays are compared by position.
fn differences(expected: &Value, actual: &Value) -> Vec<String> {
    fn walk(path: &str, e: &Value, a: &Value, out: &mut Vec<String>) {
        match (e, a) {
            (Value::Object(em), Value::Object(am)) => {
                for (k, ev) in em {
                    let p = format!("{path}.{k}");
                    match am.get(k) {
                        Some(av) => walk(&p, ev, av, out),
                        None => out.push(format!(
                            "{p}: expected {}, cellsim has no such field",
                            brief(ev)
                        )),
                    }
                }
                for (k, av) in am {
                    if !em.contains_key(k) {
                        out.push(format!(
                            "{path}.{k}: not in the sample, cellsim has {}",
                            brief(av)
                        ));
                    }
                }
            }
            (Value::Array(ev), Value::Array(av)) => {
                for i in 0..ev.len().max(av.len()) {
                    let p = format!("{path}[{i}]");
                    match (ev.get(i), av.get(i)) {
                        (Some(x), Some(y)) => walk(&p, x, y, out),
                        (Some(x), None) => {
                            out.push(format!("{p}: expected {}, cellsim has none", brief(x)))
                        }
                        (None, Some(y)) => {
                            out.push(format!("{p}: not in the sample, cellsim has {}", brief(y)))
                        }
                        (None, None) => {}
                    }
                }
            }
            _ if e == a => {}
            _ => out.push(format!(
                "{path}: expected {}, cellsim {}",
                brief(e),
                brief(a)
            )),
        }
    }
    fn brief(v: &Value) -> String {
        let s = v.to_string();
        if s.len() > 120 {
            format!("{}…", &s[..120])
        } else {
            s
        }
    }
    let mut out = Vec::new();
    walk("$", expected, actual, &mut out);
    out
}

fn assert_same(what: &str, expected: &Value, actual: &Value) {
    let diffs = differences(expected, actual);
    assert!(
        diffs.is_empty(),
        "{what}: {} difference(s) from HiveD's sample:\n  {}\ncellsim's output:\n{}",
        diffs.len(),
        diffs.join("\n  "),
        serde_json::to_string_pretty(actual).unwrap_or_default()
    );
}

/// `(sample file, cellsim's view)` for every cell view sample.
fn cell_views(alloc: &Allocator) -> Vec<(&'static str, Value)> {
    vec![
        (
            "GET_v1_inspect_clusterstatus_physicalcluster.json",
            json(&alloc.physical_view()),
        ),
        (
            "GET_v1_inspect_clusterstatus_virtualclusters.json",
            json(&alloc.virtual_clusters_view()),
        ),
        (
            "GET_v1_inspect_clusterstatus_virtualclusters_VC1.json",
            json(&alloc.virtual_cluster_view("VC1").expect("VC1 exists")),
        ),
        (
            "GET_v1_inspect_clusterstatus.json",
            json(&alloc.cluster_status()),
        ),
    ]
}

// Covers, among the rest: `leafCellType` on a VC's top-level virtual cells inside the
// physical view, `isNodeLevel` on nested virtualCell/physicalCell entries, and leaf
// addresses of unbound virtual cells counted within the node (`VC2/0/1/2`), as HiveD
// prints them.
#[test]
fn cell_views_match_hived_samples() {
    let Some(alloc) = sample_state() else { return };
    for (file, actual) in cell_views(&alloc) {
        assert_same(file, &sample(file), &actual);
    }
}

#[test]
fn affinity_groups_view_matches_hived_sample() {
    let Some(alloc) = sample_state() else { return };
    // No normalisation needed: the pod is confirmed under the uid HiveD lists
    // (`uid-demo-0`), and the sample was taken with only that pod bound.
    assert_same(
        "GET_v1_inspect_affinitygroups.json",
        &sample("GET_v1_inspect_affinitygroups.json"),
        &json(&alloc.affinity_groups_view()),
    );
    let one = alloc
        .affinity_group_view("demo-group")
        .expect("demo-group is live");
    assert_same(
        "affinity_group_view(demo-group)",
        &sample("GET_v1_inspect_affinitygroups.json")["items"][0],
        &json(&one),
    );
    assert!(alloc.affinity_group_view("no-such-group").is_none());
}

#[test]
fn bind_info_annotations_match_hived_sample() {
    let Some(alloc) = sample_state() else { return };
    let expected = sample("pod_annotations_after_bind.json");
    let records = alloc.bind_records();
    assert_eq!(records.len(), 1, "one confirmed pod, one record");
    assert_eq!(records[0].pod, "uid-demo-0");
    let annotations = records[0].annotations();
    let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
    let sample_keys: Vec<&str> = expected
        .as_object()
        .expect("annotations are an object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, sample_keys, "annotation keys");
    let text = |key: &str| {
        expected[key]
            .as_str()
            .expect("annotation is a string")
            .to_string()
    };
    // The bind info and the device list are byte-identical to HiveD's.
    assert_eq!(
        annotations[BIND_INFO_ANNOTATION],
        text(BIND_INFO_ANNOTATION)
    );
    assert_eq!(
        annotations[LEAF_CELL_ISOLATION_ANNOTATION],
        text(LEAF_CELL_ISOLATION_ANNOTATION)
    );
    // The scheduling spec differs only in how the YAML writer quotes the empty
    // `pinnedCellId` ('' here, "" from Go): compare it as YAML, which is how it is read.
    let yaml = |s: &str| -> Value { serde_yaml_ng::from_str(s).expect("annotation is YAML") };
    assert_same(
        SCHEDULING_SPEC_ANNOTATION,
        &yaml(&text(SCHEDULING_SPEC_ANNOTATION)),
        &yaml(&annotations[SCHEDULING_SPEC_ANNOTATION]),
    );
    // HiveD's own annotation reads back as cellsim's record and describes the same group.
    let spec: PodSchedulingSpec =
        serde_yaml_ng::from_str(&text(SCHEDULING_SPEC_ANNOTATION)).expect("HiveD's spec parses");
    assert_eq!(spec, records[0].scheduling_spec);
    assert_eq!(spec.group_request(), demo_group());
    let info: PodBindInfo =
        serde_yaml_ng::from_str(&text(BIND_INFO_ANNOTATION)).expect("HiveD's bind info parses");
    assert_eq!(info, records[0].bind_info);
}

#[test]
fn second_pod_takes_the_other_slot_and_views_follow() {
    let Some(mut alloc) = sample_state() else {
        return;
    };
    let physical_before = json(&alloc.physical_view());
    let second = alloc
        .confirm_pod("demo-group", "uid-demo-1", 2)
        .expect("second pod confirms");
    assert_eq!(
        (second.node.as_str(), second.devices.as_slice()),
        ("10.151.41.20", &[2, 3][..])
    );
    // Cells were all taken by the first pod (the group is placed at once).
    assert_eq!(json(&alloc.physical_view()), physical_before);
    let group = json(&alloc.affinity_groups_view());
    assert_eq!(
        group["items"][0]["status"]["allocatedPods"],
        serde_json::json!(["uid-demo-0", "uid-demo-1"])
    );
    let records = alloc.bind_records();
    assert_eq!(records.len(), 2);
    let second_annotations = records[1].annotations();
    assert_eq!(second_annotations[LEAF_CELL_ISOLATION_ANNOTATION], "2,3");
    let info: PodBindInfo = serde_yaml_ng::from_str(&second_annotations[BIND_INFO_ANNOTATION])
        .expect("bind info parses");
    assert_eq!(info.node, "10.151.41.20");
    assert_eq!(info.leaf_cell_isolation, vec![2, 3]);
    // The group part of the bind info is the same on every pod of the group.
    assert_eq!(
        info.affinity_group_bind_info,
        records[0].bind_info.affinity_group_bind_info
    );
}

#[test]
fn releasing_the_group_frees_every_cell_in_the_views() {
    let Some(mut alloc) = sample_state() else {
        return;
    };
    alloc.release_group("demo-group").expect("live group");
    assert_eq!(
        json(&alloc.affinity_groups_view()),
        serde_json::json!({"items": []})
    );
    let status = json(&alloc.cluster_status());
    // Every physical cell is free again; only VC2's pinned node stays bound.
    fn walk(v: &Value, out: &mut Vec<(String, String, i64, Option<String>)>) {
        out.push((
            v["cellAddress"].as_str().unwrap_or_default().to_string(),
            v["cellState"].as_str().unwrap_or_default().to_string(),
            v["cellPriority"].as_i64().unwrap_or_default(),
            v["vc"].as_str().map(String::from),
        ));
        if let Some(children) = v["cellChildren"].as_array() {
            for c in children {
                walk(c, out);
            }
        }
    }
    let mut cells = Vec::new();
    for top in status["physicalCluster"].as_array().expect("array") {
        walk(top, &mut cells);
    }
    assert_eq!(
        cells.len(),
        1 + 3 * (1 + 2 + 4),
        "rack, 3 nodes, 6 pairs, 12 GPUs"
    );
    for (address, state, priority, vc) in &cells {
        assert_eq!((state.as_str(), *priority), ("Free", -2), "{address}");
        let pinned = address == "0/10.151.41.21";
        assert_eq!(vc.as_deref(), pinned.then_some("VC2"), "{address}");
    }
    // VC1's preassigned node is unbound again: no physicalCell, all free.
    let vc1 = &status["virtualClusters"]["VC1"][0];
    assert_eq!(vc1["cellAddress"], "VC1/0");
    assert_eq!(vc1["cellState"], "Free");
    assert!(vc1.get("physicalCell").is_none(), "{vc1}");
}

/// The sample cluster after a lazy preemption inside VC1: `victim` (priority 10, lazy)
/// ran on VC1's node; `boss` (priority 100) took VC1's quota, so `victim` keeps running
/// as opportunistic. An opportunistic group of VC2 then finds no usable cell.
fn lazy_state() -> Option<Allocator> {
    let path = shared("hived-examples/config/basic/hivedscheduler.yaml")?;
    let config = load_file(&path).unwrap_or_else(|e| panic!("basic config loads:\n{e}"));
    let mut alloc = Allocator::new(&config);
    let mut victim = demo_group();
    victim.name = "victim".into();
    victim.lazy_preemption_enable = true;
    victim.members = vec![GroupMember::whole(1, 4)];
    assert!(matches!(alloc.schedule(&victim, None), Decision::Bind(_)));
    alloc
        .confirm_pod("victim", "uid-victim-0", 4)
        .expect("confirms");
    let mut boss = victim.clone();
    boss.name = "boss".into();
    boss.priority = 100;
    boss.lazy_preemption_enable = false;
    match alloc.schedule(&boss, None) {
        Decision::Bind(p) => assert_ne!(p.pods[0].node, "10.151.41.20", "victim keeps its node"),
        other => panic!("boss should bind after lazily preempting victim, got {other:?}"),
    }
    alloc
        .confirm_pod("boss", "uid-boss-0", 4)
        .expect("confirms");
    let mut oppo = demo_group();
    oppo.name = "oppo".into();
    oppo.virtual_cluster = "VC2".into();
    oppo.priority = -1;
    oppo.members = vec![GroupMember::whole(1, 1)];
    // The only free node left is VC2's pinned .21, and pinned cells serve only pods that
    // name them (spec section 3), so the opportunistic group waits and holds nothing.
    let decision = alloc.schedule(&oppo, None);
    assert!(matches!(decision, Decision::Wait { .. }), "{decision:?}");
    assert!(alloc.placement("oppo").is_none());
    Some(alloc)
}

#[test]
fn lazily_preempted_and_opportunistic_groups_in_the_views() {
    let Some(alloc) = lazy_state() else { return };
    let groups = json(&alloc.affinity_groups_view());
    let by_name = |name: &str| -> Value {
        groups["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|g| g["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("{name} in the view: {groups}"))
            .clone()
    };
    let victim = by_name("victim");
    assert_eq!(victim["status"]["state"], "Allocated");
    assert_eq!(victim["status"]["vc"], "VC1");
    assert_eq!(
        victim["status"]["physicalPlacement"],
        serde_json::json!({"10.151.41.20": [0, 1, 2, 3]})
    );
    assert!(
        victim["status"].get("lazyPreemptionStatus").is_some(),
        "{victim}"
    );
    let boss = by_name("boss");
    assert!(
        boss["status"].get("lazyPreemptionStatus").is_none(),
        "{boss}"
    );
    assert_eq!(boss["status"]["priority"], 100);
    let boss_node = boss["status"]["physicalPlacement"]
        .as_object()
        .expect("placement")
        .keys()
        .next()
        .expect("one node")
        .clone();
    assert_eq!(
        boss["status"]["virtualPlacement"],
        serde_json::json!({"VC1/0": ["VC1/0/0/0", "VC1/0/0/1", "VC1/0/1/2", "VC1/0/1/3"]})
    );
    // Physical view: the victim's devices run at priority -1 outside any VC; VC1's cell
    // is now bound to the boss's node.
    let physical = json(&alloc.physical_view());
    let node = |address: &str| -> Value {
        physical[0]["cellChildren"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["cellAddress"] == address)
            .unwrap_or_else(|| panic!("{address}"))
            .clone()
    };
    let old = node("0/10.151.41.20");
    assert_eq!(
        (&old["cellState"], &old["cellPriority"]),
        (&"Used".into(), &(-1).into())
    );
    assert!(old.get("vc").is_none(), "{old}");
    let new = node(&format!("0/{boss_node}"));
    assert_eq!(
        (&new["cellState"], &new["cellPriority"]),
        (&"Used".into(), &100.into())
    );
    assert_eq!(new["vc"], "VC1");
    assert_eq!(new["virtualCell"]["cellAddress"], "VC1/0");
    // VC1's own view shows only the boss.
    let vc1 = json(&alloc.virtual_cluster_view("VC1").expect("VC1"));
    assert_eq!(vc1[0]["cellPriority"], 100);
    assert_eq!(
        vc1[0]["physicalCell"]["cellAddress"],
        format!("0/{boss_node}")
    );
}

// HiveD's `AffinityGroupStatus` (pkg/api/types.go) marks `physicalPlacement`,
// `virtualPlacement` and `allocatedPods` `omitempty`, and its `lazyPreemptionStatus` is
// `{preemptor, preemptionTime}`. cellsim prints `"virtualPlacement": {}` for groups
// without virtual cells and `{"downgradedToOpportunistic": true}` as the lazy status.
#[test]
fn affinity_group_status_follows_hived_api_types() {
    let Some(alloc) = lazy_state() else { return };
    let groups = json(&alloc.affinity_groups_view());
    for g in groups["items"].as_array().expect("items") {
        let status = &g["status"];
        for key in ["physicalPlacement", "virtualPlacement", "allocatedPods"] {
            if let Some(v) = status.get(key) {
                let empty = v.as_object().is_some_and(|o| o.is_empty())
                    || v.as_array().is_some_and(|a| a.is_empty());
                assert!(
                    !empty,
                    "{}: empty {key} should be omitted: {status}",
                    g["metadata"]["name"]
                );
            }
        }
    }
    let victim = alloc.affinity_group_view("victim").expect("live");
    let status = json(&victim)["status"]["lazyPreemptionStatus"].clone();
    assert_eq!(status["preemptor"], "boss", "{status}");
}
