//! The extender verbs with real kube-scheduler JSON (full `v1.Pod`s, PascalCase keys, and
//! keys in other letter cases as Go accepts them): bind, wait, preemption through the
//! filter and preempt verbs, user errors in the spec annotation (200 with `Error`),
//! pods that do not take part, and bad HTTP requests (400 naming the field, state
//! untouched). See: issue 6.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::live_support::*;

#[tokio::test]
async fn a_pod_is_placed_bound_and_listed() {
    let app = app(&two_nodes());
    let p = pod("default", "train-0", "uid-0", &spec("vc-a", 10, "g1", 1, 2));
    let node = place(&app, &p, &["node-a", "node-b"]).await;
    assert!(node == "node-a" || node == "node-b");
    let group = get(&app, "/v1/inspect/affinitygroups/g1").await;
    assert_eq!(group["status"]["allocatedPods"], json!(["uid-0"]));
    assert_eq!(group["status"]["state"], "Allocated");
    // Filtering the same pod again insists on the placement (binding is idempotent).
    let again = filter(&app, &p, &["node-a", "node-b"]).await;
    assert_eq!(again["NodeNames"], json!([node]));
}

#[tokio::test]
async fn keys_in_any_letter_case_are_accepted() {
    let app = app(&two_nodes());
    let p = pod("default", "p", "u", &spec("vc-a", 10, "g", 1, 1));
    let body = json!({"pod": p, "nodenames": ["node-a", "node-b"]}).to_string();
    let (status, r) = call(&app, Method::POST, "/v1/extender/filter", &body).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let node = r["NodeNames"][0].as_str().expect("a node").to_string();
    let bind = json!({"podName": "p", "PODNAMESPACE": "default", "podUid": "u", "node": node});
    let (status, r) = call(&app, Method::POST, "/v1/extender/bind", &bind.to_string()).await;
    assert_eq!(
        (status, r["Error"].as_str()),
        (StatusCode::OK, Some("")),
        "{r}"
    );
}

#[tokio::test]
async fn non_participating_pods_pass_every_node() {
    let app = app(&two_nodes());
    let mut p = pod("default", "web", "uid-web", "");
    p["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "1"}});
    let r = filter(&app, &p, &["node-a", "node-b", "node-x"]).await;
    assert_eq!(r["NodeNames"], json!(["node-a", "node-b", "node-x"]));
    assert_eq!(r["Error"], "");
    assert!(
        get(&app, "/v1/inspect/affinitygroups/").await["items"]
            .as_array()
            .is_some_and(|a| a.is_empty())
    );
}

#[tokio::test]
async fn a_bad_spec_annotation_is_a_user_error_naming_the_problem() {
    let app = app(&two_nodes());
    let cases = [
        (
            "virtualCluster: vc-a\nleafCellNumber: two\n",
            "leafCellNumber",
        ),
        ("leafCellNumber: 1\n", "virtualCluster"),
        (
            "virtualCluster: vc-a\npriority: 5000\nleafCellNumber: 1\n",
            "priority",
        ),
        ("virtualCluster: nope\nleafCellNumber: 1\n", "nope"),
        ("virtualCluster: vc-a\nleafCellNumber: 9\n", "9"),
        ("virtualCluster: [\n", "YAML"),
    ];
    for (i, (spec_yaml, needle)) in cases.into_iter().enumerate() {
        let p = pod("default", &format!("bad-{i}"), &format!("u{i}"), spec_yaml);
        let r = filter(&app, &p, &["node-a"]).await;
        let error = r["Error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{spec_yaml:?}: {r}");
        assert!(r["NodeNames"].is_null(), "{r}");
    }
    // A participating pod without the annotation says what to add.
    let mut p = pod("default", "none", "u-none", "");
    p["metadata"]["annotations"] = json!({});
    let r = filter(&app, &p, &["node-a"]).await;
    assert!(
        r["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("pod-scheduling-spec"),
        "{r}"
    );
}

#[tokio::test]
async fn a_full_vc_waits_with_hived_reason() {
    let app = app(&two_nodes());
    place(
        &app,
        &pod("default", "a", "ua", &spec("vc-a", 10, "ga", 1, 4)),
        &["node-a", "node-b"],
    )
    .await;
    let r = filter(
        &app,
        &pod("default", "b", "ub", &spec("vc-a", 10, "gb", 1, 1)),
        &["node-a"],
    )
    .await;
    let reason = r["FailedNodes"]["hivedscheduler"]
        .as_str()
        .unwrap_or_default();
    assert!(
        reason.starts_with("Pod is waiting for preemptible or free resource to appear"),
        "{r}"
    );
    assert!(reason.contains("vc-a"), "{r}");
    assert!(r["NodeNames"].is_null());
}

#[tokio::test]
async fn higher_priority_preempts_through_filter_and_preempt_verbs() {
    let app = app(&two_nodes());
    let low = pod("default", "low", "uid-low", &spec("vc-a", 10, "low", 1, 4));
    let node = place(&app, &low, &["node-a", "node-b"]).await;
    let high = pod(
        "default",
        "high",
        "uid-high",
        &spec("vc-a", 100, "high", 1, 4),
    );
    let r = filter(&app, &high, &["node-a", "node-b"]).await;
    let message = r["FailedNodes"][&node].as_str().unwrap_or_default();
    assert!(message.contains("default/low"), "{r}");
    let r = preempt_on(&app, &high, &node).await;
    assert_eq!(
        r["NodeNameToMetaVictims"][&node]["Pods"],
        json!([{"UID": "uid-low"}]),
        "{r}"
    );
    let group = get(&app, "/v1/inspect/affinitygroups/high").await;
    assert_eq!(group["status"]["state"], "Preempting");
    // kube-scheduler deletes the victim; the preemptor then binds where it reserved.
    let (status, r) = call(&app, Method::DELETE, "/v1/pods/default/low", "").await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["groupFreed"], true);
    assert_eq!(place(&app, &high, &["node-a", "node-b"]).await, node);
}

#[tokio::test]
async fn bind_without_placement_or_on_another_node_is_refused() {
    let app = app(&two_nodes());
    let (status, r) = call(
        &app,
        Method::POST,
        "/v1/extender/bind",
        &bind_args("default", "x", "ux", "node-a"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        r["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("without a scheduling placement"),
        "{r}"
    );
    let p = pod("default", "p", "up", &spec("vc-a", 10, "g", 1, 1));
    let node = filter(&app, &p, &["node-a", "node-b"]).await["NodeNames"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let other = if node == "node-a" { "node-b" } else { "node-a" };
    let (_, r) = call(
        &app,
        Method::POST,
        "/v1/extender/bind",
        &bind_args("default", "p", "up", other),
    )
    .await;
    assert!(
        r["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("node mismatch"),
        "{r}"
    );
}

/// Every malformed request: (method, path, body, words the 400 message must contain).
fn bad_requests() -> Vec<(Method, &'static str, String, &'static str)> {
    let p = pod("default", "p", "u", &spec("vc-a", 10, "g", 1, 1));
    vec![
        (
            Method::POST,
            "/v1/extender/filter",
            "{not json".into(),
            "not JSON",
        ),
        (
            Method::POST,
            "/v1/extender/filter",
            "[1,2]".into(),
            "object",
        ),
        (
            Method::POST,
            "/v1/extender/filter",
            r#"{"NodeNames": ["a"]}"#.into(),
            "Pod",
        ),
        (
            Method::POST,
            "/v1/extender/filter",
            r#"{"Pod": 7}"#.into(),
            "Pod",
        ),
        (
            Method::POST,
            "/v1/extender/filter",
            json!({"Pod": p, "NodeNames": "node-a"}).to_string(),
            "NodeNames",
        ),
        (
            Method::POST,
            "/v1/extender/filter",
            json!({"Pod": p, "NodeNames": [1]}).to_string(),
            "NodeNames[0]",
        ),
        (
            Method::POST,
            "/v1/extender/filter",
            json!({"Pod": {"metadata": {"name": 5}}}).to_string(),
            "metadata.name",
        ),
        (
            Method::POST,
            "/v1/extender/filter",
            json!({"Pod": {"metadata": {"annotations": []}}}).to_string(),
            "metadata.annotations",
        ),
        (
            Method::POST,
            "/v1/extender/bind",
            r#"{"PodName": "p", "PodNamespace": "default", "Node": "node-a"}"#.into(),
            "PodUID",
        ),
        (
            Method::POST,
            "/v1/extender/bind",
            r#"{"PodName": 1, "PodNamespace": "d", "PodUID": "u", "Node": "n"}"#.into(),
            "PodName",
        ),
        (Method::POST, "/v1/extender/bind", "".into(), "not JSON"),
        (
            Method::POST,
            "/v1/extender/preempt",
            r#"{"NodeNameToMetaVictims": {}}"#.into(),
            "Pod",
        ),
        (
            Method::POST,
            "/v1/extender/preempt",
            json!({"Pod": p, "NodeNameToMetaVictims": [1]}).to_string(),
            "NodeNameToMetaVictims",
        ),
        (Method::PUT, "/v1/nodes/node-a", "{}".into(), "healthy"),
        (
            Method::PUT,
            "/v1/nodes/node-a",
            r#"{"healthy": "yes"}"#.into(),
            "healthy",
        ),
        (Method::PUT, "/v1/nodes/node-a", "true".into(), "healthy"),
        (Method::PUT, "/v1/nodes/node-a", "nope".into(), "not JSON"),
    ]
}

#[tokio::test]
async fn bad_requests_get_400_naming_the_field_and_change_nothing() {
    let app = app(&two_nodes());
    place(
        &app,
        &pod(
            "default",
            "keep",
            "uid-keep",
            &spec("vc-b", 10, "keep", 1, 2),
        ),
        &["node-a", "node-b"],
    )
    .await;
    let before = (
        get(&app, "/v1/inspect/clusterstatus").await,
        get(&app, "/v1/inspect/affinitygroups/").await,
        get(&app, "/v1/nodes").await,
    );
    for (method, path, body, needle) in bad_requests() {
        let (status, r) = call(&app, method.clone(), path, &body).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{method} {path} {body}: {r}"
        );
        let message = match &r {
            Value::Object(m) => m
                .get("Error")
                .or_else(|| m.get("error"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            other => other.to_string(),
        };
        assert!(
            message.contains(needle),
            "{method} {path} {body}: {message}"
        );
    }
    let after = (
        get(&app, "/v1/inspect/clusterstatus").await,
        get(&app, "/v1/inspect/affinitygroups/").await,
        get(&app, "/v1/nodes").await,
    );
    assert_eq!(before, after, "a bad request changed the state");
    // Unknown names are 404s with a hint, not 400s or panics.
    let (status, r) = call(&app, Method::GET, "/v1/inspect/affinitygroups/nope", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{r}");
    let (status, _) = call(
        &app,
        Method::GET,
        "/v1/inspect/clusterstatus/virtualclusters/nope",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        &app,
        Method::PUT,
        "/v1/nodes/ghost",
        r#"{"healthy": false}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, Method::DELETE, "/v1/pods/default/ghost", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, Method::GET, "/v2/whatever", "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_nodes_are_avoided_and_listed() {
    let app = app(&two_nodes());
    let (status, r) = call(
        &app,
        Method::PUT,
        "/v1/nodes/node-a",
        r#"{"healthy": false}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        get(&app, "/v1/nodes").await,
        json!([{"name": "node-a", "healthy": false}, {"name": "node-b", "healthy": true}])
    );
    // Opportunistic pods may go anywhere healthy.
    let p = pod("default", "o", "uo", &spec("vc-a", -1, "opp", 1, 1));
    assert_eq!(place(&app, &p, &["node-a", "node-b"]).await, "node-b");
    let metrics = call(&app, Method::GET, "/metrics", "").await.1;
    let text = metrics.as_str().unwrap_or_default();
    assert!(text.contains("cellsim_bad_nodes 1"), "{text}");
    assert!(
        text.contains("cellsim_vc_opportunistic_cells{vc=\"vc-a\"} 1"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_and_healthz() {
    let app = app(&two_nodes());
    place(
        &app,
        &pod("default", "a", "ua", &spec("vc-a", 10, "ga", 1, 2)),
        &["node-a", "node-b"],
    )
    .await;
    filter(
        &app,
        &pod("default", "b", "ub", &spec("vc-a", 10, "gb", 1, 4)),
        &["node-a"],
    )
    .await;
    let (status, body) = call(&app, Method::GET, "/healthz", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let text = call(&app, Method::GET, "/metrics", "").await.1;
    let text = text.as_str().unwrap_or_default();
    for line in [
        "cellsim_decisions_total{outcome=\"bind\"} 1",
        "cellsim_decisions_total{outcome=\"wait\"} 1",
        "cellsim_decision_duration_seconds_count 2",
        "cellsim_vc_guaranteed_cells{vc=\"vc-a\"} 4",
        "cellsim_vc_used_cells{vc=\"vc-a\"} 2",
        "cellsim_vc_used_cells{vc=\"vc-b\"} 0",
        "cellsim_bad_nodes 0",
        "# TYPE cellsim_decision_duration_seconds histogram",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}

/// The cluster config of `deploy/config.yaml` (the ConfigMap `cellsim-config`).
fn deploy_cluster() -> cellsim::config::CellConfig {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/config.yaml");
    let text = std::fs::read_to_string(path).expect("deploy/config.yaml");
    let mut cluster = None;
    for doc in serde_yaml_ng::Deserializer::from_str(&text) {
        let v = <serde_yaml_ng::Value as serde::Deserialize>::deserialize(doc).expect("YAML");
        if let Some(c) = v["data"]["cluster.yaml"].as_str() {
            cluster = Some(c.to_string());
        }
    }
    cellsim::config::load_str(&cluster.expect("cluster.yaml in the ConfigMap"), "deploy")
        .unwrap_or_else(|e| panic!("deploy/config.yaml's cluster config loads:\n{e}"))
}

// The README's standalone curl session, call for call.
#[tokio::test]
async fn readme_standalone_example_works() {
    let app = app(&deploy_cluster());
    let filter_body = r#"{"Pod": {"metadata": {"name": "job1-0", "namespace": "slurm",
  "uid": "job1-0", "annotations": {"hivedscheduler.microsoft.com/pod-scheduling-spec":
  "virtualCluster: vc1\npriority: 10\nleafCellNumber: 4\n"}}, "spec": {"containers": [{"resources":
  {"limits": {"hivedscheduler.microsoft.com/pod-scheduling-enable": 1}}}]}}}"#;
    let (status, r) = call(&app, Method::POST, "/v1/extender/filter", filter_body).await;
    assert_eq!(
        (status, &r["NodeNames"]),
        (StatusCode::OK, &json!(["node1"])),
        "{r}"
    );
    let bind =
        r#"{"PodName": "job1-0", "PodNamespace": "slurm", "PodUID": "job1-0", "Node": "node1"}"#;
    let (status, r) = call(&app, Method::POST, "/v1/extender/bind", bind).await;
    assert_eq!((status, &r["Error"]), (StatusCode::OK, &json!("")), "{r}");
    let g = get(&app, "/v1/inspect/affinitygroups/slurm/job1-0").await;
    assert_eq!(
        g["status"]["physicalPlacement"],
        json!({"node1": [0, 1, 2, 3]})
    );
    let (status, r) = call(&app, Method::DELETE, "/v1/pods/slurm/job1-0", "").await;
    assert_eq!(
        (status, &r["groupFreed"]),
        (StatusCode::OK, &json!(true)),
        "{r}"
    );
    let (status, _) = call(
        &app,
        Method::PUT,
        "/v1/nodes/node2",
        r#"{"healthy": false}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        get(&app, "/v1/nodes").await[1],
        json!({"name": "node2", "healthy": false})
    );
}

#[tokio::test]
async fn without_node_cache_the_answer_is_a_node_list() {
    let app = app(&two_nodes());
    let p = pod("default", "p", "u", &spec("vc-b", 10, "g", 1, 1));
    let nodes = json!({"kind": "NodeList", "apiVersion": "v1", "items": [
        {"metadata": {"name": "node-a"}}, {"metadata": {"name": "node-b"}}]});
    let body = json!({"Pod": p, "Nodes": nodes, "NodeNames": null}).to_string();
    let (status, r) = call(&app, Method::POST, "/v1/extender/filter", &body).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    let items = r["Nodes"]["items"].as_array().cloned().unwrap_or_default();
    assert_eq!(items.len(), 1, "{r}");
    assert!(r["NodeNames"].is_null(), "{r}");
}

// HiveD's waitingPodSchedulingBlockMilliSec: the answer to a waiting pod is held back,
// which blocks kube-scheduler's one-pod-at-a-time loop; others are answered at once.
#[tokio::test]
async fn waiting_answers_are_held_back_as_configured() {
    let text = format!("waitingPodSchedulingBlockMilliSec: 300\n{TWO_NODES}");
    let app = app(&cellsim::config::load_str(&text, "blocking").expect("config loads"));
    place(
        &app,
        &pod("default", "a", "ua", &spec("vc-a", 10, "ga", 1, 4)),
        &["node-a", "node-b"],
    )
    .await;
    let start = std::time::Instant::now();
    let r = filter(
        &app,
        &pod("default", "b", "ub", &spec("vc-a", 10, "gb", 1, 1)),
        &["node-a"],
    )
    .await;
    assert!(r["FailedNodes"]["hivedscheduler"].is_string(), "{r}");
    assert!(start.elapsed() >= std::time::Duration::from_millis(300));
    // Meanwhile the state is not locked: inspect answers.
    get(&app, "/v1/inspect/clusterstatus").await;
}

/// Spec section 9: a filter call only reports the victims; the preempt call reserves.
#[tokio::test]
async fn filter_reports_victims_and_only_preempt_reserves() {
    let app = app(&two_nodes());
    let low = pod("default", "low", "uid-low", &spec("vc-a", 10, "low", 1, 4));
    let node = place(&app, &low, &["node-a", "node-b"]).await;
    let high = pod(
        "default",
        "high",
        "uid-high",
        &spec("vc-a", 100, "high", 1, 4),
    );
    for _ in 0..2 {
        let r = filter(&app, &high, &["node-a", "node-b"]).await;
        assert!(r["FailedNodes"][&node].is_string(), "{r}");
        let (status, _) = call(&app, Method::GET, "/v1/inspect/affinitygroups/high", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "filter made a preemptor");
        let victim = get(&app, "/v1/inspect/affinitygroups/low").await;
        assert_eq!(victim["status"]["state"], "Allocated", "{victim}");
        let cluster = get(&app, "/v1/inspect/clusterstatus").await.to_string();
        assert!(
            !cluster.contains("Reserv"),
            "filter reserved cells: {cluster}"
        );
    }
    preempt_on(&app, &high, &node).await;
    let group = get(&app, "/v1/inspect/affinitygroups/high").await;
    assert_eq!(group["status"]["state"], "Preempting");
    let victim = get(&app, "/v1/inspect/affinitygroups/low").await;
    assert_eq!(victim["status"]["state"], "BeingPreempted", "{victim}");
}

/// Calls preempt for `pod` with `node` as the only candidate; returns the answer.
async fn preempt_on(app: &cellsim::live::http::Shared, pod: &Value, node: &str) -> Value {
    let args = json!({"Pod": pod, "NodeNameToVictims": {}, "NodeNameToMetaVictims": {node: {"Pods": [], "NumPDBViolations": 0}}});
    let (status, r) = call(app, Method::POST, "/v1/extender/preempt", &args.to_string()).await;
    assert_eq!(status, StatusCode::OK, "{r}");
    r
}

/// Spec section 9: a preempting group is decided again on every call; when its
/// reservation touches a node gone bad, or one the call does not suggest, the
/// preemption is cancelled (victims no longer being preempted) and the pod waits.
#[tokio::test]
async fn a_preemption_is_cancelled_when_its_node_goes_bad_or_is_not_suggested() {
    for case in ["bad node", "not suggested"] {
        let app = app(&two_nodes());
        let low = pod("default", "low", "uid-low", &spec("vc-a", 10, "low", 1, 4));
        let node = place(&app, &low, &["node-a", "node-b"]).await;
        let other = if node == "node-a" { "node-b" } else { "node-a" };
        let high_spec = format!(
            "{}ignoreK8sSuggestedNodes: false\n",
            spec("vc-a", 100, "high", 1, 4)
        );
        let high = pod("default", "high", "uid-high", &high_spec);
        let r = preempt_on(&app, &high, &node).await;
        assert_eq!(
            r["NodeNameToMetaVictims"][&node]["Pods"],
            json!([{"UID": "uid-low"}])
        );
        let suggested = match case {
            "bad node" => {
                let (status, r) = call(
                    &app,
                    Method::PUT,
                    &format!("/v1/nodes/{node}"),
                    r#"{"healthy": false}"#,
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{r}");
                vec![node.as_str(), other]
            }
            _ => vec![other],
        };
        let r = filter(&app, &high, &suggested).await;
        let reason = r["FailedNodes"]["hivedscheduler"]
            .as_str()
            .unwrap_or_default();
        assert!(reason.contains("preemption canceled"), "{case}: {r}");
        assert!(
            reason.contains(&node),
            "{case}: the reason names the node: {r}"
        );
        let (status, _) = call(&app, Method::GET, "/v1/inspect/affinitygroups/high", "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{case}: still a preemptor");
        let victim = get(&app, "/v1/inspect/affinitygroups/low").await;
        assert_eq!(victim["status"]["state"], "Allocated", "{case}: {victim}");
        // Its victims stay: the pod cannot bind where it had reserved.
        let (_, r) = call(
            &app,
            Method::POST,
            "/v1/extender/bind",
            &bind_args("default", "high", "uid-high", &node),
        )
        .await;
        assert!(
            !r["Error"].as_str().unwrap_or_default().is_empty(),
            "{case}: {r}"
        );
    }
}
