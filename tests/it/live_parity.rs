//! One hand-drawn sequence of group requests through the simulator's `hived` model and
//! through the live server's extender verbs: both must make the same decisions and the
//! same placements, since both place through the same allocator. See: issue 6.
//!
//! The cluster: one rack of three 4-GPU nodes (two PCIe pairs each); vc-a owns two nodes,
//! vc-b one.
//!
//! ```text
//! a1  vc-a prio 10  2 pods x 2 GPUs   -> bind (one node, both pairs)
//! b1  vc-b prio 10  1 pod  x 1 GPU    -> bind
//! o1  vc-b prio -1  1 pod  x 4 GPUs   -> bind on the free node (opportunistic)
//! a2  vc-a prio 10  1 pod  x 4 GPUs   -> preempts o1 (vc-a's second node), then binds
//! b1 leaves
//! b2  vc-b prio 100 2 pods x 2 GPUs   -> bind
//! a3  vc-a prio 5   1 pod  x 1 GPU    -> waits (vc-a is full)
//! a1 leaves
//! a3 again                            -> bind
//! ```

use std::collections::BTreeMap;

use axum::http::Method;
use cellsim::cell::{GroupMember, GroupRequest};
use cellsim::config::{CellConfig, load_str};
use cellsim::sched::{Hived, OfferContext, Scheduler, Verdict};
use rand::SeedableRng;
use serde_json::Value;

use crate::live_support::*;

const THREE_NODES: &str = "
physicalCluster:
  cellTypes:
    PAIR: {childCellType: V100, childCellNumber: 2}
    NODE: {childCellType: PAIR, childCellNumber: 2, isNodeLevel: true}
    RACK: {childCellType: NODE, childCellNumber: 3}
  physicalCells:
  - cellType: RACK
    cellChildren:
    - cellAddress: n1
    - cellAddress: n2
    - cellAddress: n3
virtualClusters:
  vc-a:
    virtualCells:
    - {cellType: RACK.NODE, cellNumber: 2}
  vc-b:
    virtualCells:
    - {cellType: RACK.NODE, cellNumber: 1}
";

enum Step {
    Submit(&'static str, &'static str, i32, u32, u32),
    Leave(&'static str),
}

fn steps() -> Vec<Step> {
    use Step::*;
    vec![
        Submit("a1", "vc-a", 10, 2, 2),
        Submit("b1", "vc-b", 10, 1, 1),
        Submit("o1", "vc-b", -1, 1, 4),
        Submit("a2", "vc-a", 10, 1, 4),
        Leave("b1"),
        Submit("b2", "vc-b", 100, 2, 2),
        Submit("a3", "vc-a", 5, 1, 1),
        Leave("a1"),
        Submit("a3", "vc-a", 5, 1, 1),
    ]
}

fn request(name: &str, vc: &str, priority: i32, pods: u32, gpus: u32) -> GroupRequest {
    GroupRequest {
        name: name.into(),
        virtual_cluster: vc.into(),
        priority,
        leaf_cell_type: None,
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        ignore_k8s_suggested_nodes: true,
        members: vec![GroupMember::whole(pods, gpus)],
    }
}

/// What happened to one submission: "bind", "preempt a,b then bind", or "wait".
type Log = Vec<(String, String)>;

/// node -> devices of every live group, from an affinity-groups view.
fn placements(view: &Value) -> BTreeMap<String, Value> {
    view["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            (
                g["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                serde_json::json!({
                    "physical": g["status"]["physicalPlacement"],
                    "virtual": g["status"]["virtualPlacement"],
                    "state": g["status"]["state"],
                }),
            )
        })
        .collect()
}

fn simulate(config: &CellConfig) -> (Log, Vec<BTreeMap<String, Value>>) {
    let mut model = Hived::new(config);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut log = Vec::new();
    let mut views = Vec::new();
    for step in steps() {
        match step {
            Step::Submit(name, vc, priority, pods, gpus) => {
                let req = request(name, vc, priority, pods, gpus);
                let mut ctx = OfferContext {
                    now_ms: 0,
                    rng: &mut rng,
                };
                let outcome = match model.offer(&req, &mut ctx) {
                    Verdict::Start(_) => "bind".to_string(),
                    Verdict::Preempt(victims) => {
                        let names: Vec<String> = victims.iter().map(|v| v.group.clone()).collect();
                        for v in &names {
                            model.release(v);
                        }
                        let mut ctx = OfferContext {
                            now_ms: 0,
                            rng: &mut rng,
                        };
                        match model.offer(&req, &mut ctx) {
                            Verdict::Start(_) => format!("preempt {} then bind", names.join(",")),
                            other => format!("preempt {} then {other:?}", names.join(",")),
                        }
                    }
                    Verdict::Wait(_) => "wait".to_string(),
                    Verdict::Reject(why) => format!("reject {why}"),
                    // The hived layer alone has no policy, so it never suspends.
                    Verdict::Suspend(names) => format!("suspend {}", names.join(",")),
                };
                log.push((name.to_string(), outcome));
            }
            Step::Leave(name) => model.release(name),
        }
        views.push(placements(
            &serde_json::to_value(model.allocator().affinity_groups_view()).expect("view"),
        ));
    }
    (log, views)
}

async fn live(config: &CellConfig) -> (Log, Vec<BTreeMap<String, Value>>) {
    let app = app(config);
    let nodes = ["n1", "n2", "n3"];
    let mut log = Vec::new();
    let mut views = Vec::new();
    let mut pods_of: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for step in steps() {
        match step {
            Step::Submit(name, vc, priority, pods, gpus) => {
                let spec_yaml = spec(vc, priority, name, pods, gpus);
                let all: Vec<Value> = (0..pods)
                    .map(|i| {
                        pod(
                            "default",
                            &format!("{name}-{i}"),
                            &format!("uid-{name}-{i}"),
                            &spec_yaml,
                        )
                    })
                    .collect();
                let first = filter(&app, &all[0], &nodes).await;
                let mut outcome = if first["NodeNames"].is_array() {
                    "bind".to_string()
                } else if first["FailedNodes"]["hivedscheduler"].is_string() {
                    "wait".to_string()
                } else if let Some(failed) =
                    first["FailedNodes"].as_object().filter(|m| !m.is_empty())
                {
                    // Victims, as kube-scheduler would delete them.
                    let mut victims: Vec<String> = Vec::new();
                    for message in failed.values() {
                        let list = message.as_str().unwrap_or_default();
                        let list = list.split(": ").nth(1).unwrap_or_default();
                        for key in list.split(", ") {
                            let pod_name = key.trim_start_matches("default/");
                            let group = pod_name.rsplit_once('-').map(|x| x.0).unwrap_or(pod_name);
                            if !victims.iter().any(|v| v == group) {
                                victims.push(group.to_string());
                            }
                            call(&app, Method::DELETE, &format!("/v1/pods/{key}"), "").await;
                        }
                    }
                    victims.sort();
                    format!("preempt {} then bind", victims.join(","))
                } else {
                    format!("reject {}", first["Error"])
                };
                if outcome == "wait" || outcome.starts_with("reject") {
                    log.push((name.to_string(), outcome));
                } else {
                    for p in &all {
                        place(&app, p, &nodes).await;
                    }
                    pods_of.insert(name, (0..pods).map(|i| format!("{name}-{i}")).collect());
                    if !outcome.starts_with("preempt") {
                        outcome = "bind".into();
                    }
                    log.push((name.to_string(), outcome));
                }
            }
            Step::Leave(name) => {
                for p in pods_of.remove(name).unwrap_or_default() {
                    call(&app, Method::DELETE, &format!("/v1/pods/default/{p}"), "").await;
                }
            }
        }
        views.push(placements(&get(&app, "/v1/inspect/affinitygroups/").await));
    }
    (log, views)
}

#[tokio::test]
async fn simulator_and_live_server_place_the_same_way() {
    let config = load_str(THREE_NODES, "three-nodes").expect("config loads");
    let (sim_log, sim_views) = simulate(&config);
    let (live_log, live_views) = live(&config).await;
    let expected: Vec<(&str, &str)> = vec![
        ("a1", "bind"),
        ("b1", "bind"),
        ("o1", "bind"),
        ("a2", "preempt o1 then bind"),
        ("b2", "bind"),
        ("a3", "wait"),
        ("a3", "bind"),
    ];
    let as_str = |l: &Log| {
        l.iter()
            .map(|(a, b)| (a.clone(), b.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        as_str(&sim_log),
        expected
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect::<Vec<_>>(),
        "the simulator's decisions"
    );
    assert_eq!(
        sim_log, live_log,
        "decisions differ between simulator and live server"
    );
    for (i, (s, l)) in sim_views.iter().zip(&live_views).enumerate() {
        assert_eq!(s, l, "placements differ after step {i}");
    }
}
