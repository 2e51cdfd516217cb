//! Helpers for the live-mode tests: an in-process server (the axum router driven with
//! `tower::ServiceExt::oneshot`, no socket), and Kubernetes-shaped JSON for pods and
//! extender calls as kube-scheduler sends them.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use cellsim::cell::SCHEDULING_SPEC_ANNOTATION;
use cellsim::config::{CellConfig, load_str};
use cellsim::live::LiveState;
use cellsim::live::http::{App, Shared, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Two nodes of 4 GPUs (2 PCIe switches of 2) in one rack; vc-a and vc-b own one node each.
pub const TWO_NODES: &str = "
physicalCluster:
  cellTypes:
    GPU-PAIR: {childCellType: GPU, childCellNumber: 2}
    NODE: {childCellType: GPU-PAIR, childCellNumber: 2, isNodeLevel: true}
    RACK: {childCellType: NODE, childCellNumber: 2}
  physicalCells:
  - cellType: RACK
    cellChildren:
    - cellAddress: node-a
    - cellAddress: node-b
virtualClusters:
  vc-a:
    virtualCells:
    - {cellType: RACK.NODE, cellNumber: 1}
  vc-b:
    virtualCells:
    - {cellType: RACK.NODE, cellNumber: 1}
";

/// The config of [`TWO_NODES`].
pub fn two_nodes() -> CellConfig {
    load_str(TWO_NODES, "two-nodes").expect("test config loads")
}

/// A standalone-style app (no binder, pod/node API on) with all cells free.
pub fn app(config: &CellConfig) -> Shared {
    Arc::new(App::new(LiveState::new(config), None, true))
}

/// One HTTP call; the body is JSON when it parses, else a JSON string of the text.
pub async fn call(app: &Shared, method: Method, path: &str, body: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request builds");
    let response = router(app.clone())
        .oneshot(request)
        .await
        .expect("router answers");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body reads")
        .to_bytes();
    let text = String::from_utf8_lossy(&bytes).to_string();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// GET `path`, expecting 200.
pub async fn get(app: &Shared, path: &str) -> Value {
    let (status, body) = call(app, Method::GET, path, "").await;
    assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
    body
}

/// A scheduling spec annotation for one pod of `group` (`pods` x `gpus`).
pub fn spec(vc: &str, priority: i32, group: &str, pods: u32, gpus: u32) -> String {
    format!(
        "virtualCluster: {vc}\npriority: {priority}\nleafCellNumber: {gpus}\n\
         affinityGroup:\n  name: {group}\n  members:\n  - podNumber: {pods}\n    leafCellNumber: {gpus}\n"
    )
}

/// A full `v1.Pod` as kube-scheduler sends it, taking part in HiveD scheduling.
pub fn pod(namespace: &str, name: &str, uid: &str, spec_yaml: &str) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "resourceVersion": "1",
            "creationTimestamp": "2024-01-01T00:00:00Z",
            "annotations": {SCHEDULING_SPEC_ANNOTATION: spec_yaml},
            "labels": {"app": "train"}
        },
        "spec": {
            "schedulerName": "hivedscheduler",
            "restartPolicy": "Never",
            "priority": 0,
            "containers": [{
                "name": "main",
                "image": "busybox",
                "resources": {
                    "limits": {
                        "hivedscheduler.microsoft.com/pod-scheduling-enable": "1",
                        "cpu": "1"
                    },
                    "requests": {
                        "hivedscheduler.microsoft.com/pod-scheduling-enable": "1",
                        "cpu": "1"
                    }
                }
            }]
        },
        "status": {"phase": "Pending", "qosClass": "Guaranteed"}
    })
}

/// `ExtenderArgs` with node names (nodeCacheCapable), as kube-scheduler sends them.
pub fn filter_args(pod: &Value, nodes: &[&str]) -> String {
    json!({"Pod": pod, "Nodes": null, "NodeNames": nodes}).to_string()
}

/// `ExtenderBindingArgs`.
pub fn bind_args(namespace: &str, name: &str, uid: &str, node: &str) -> String {
    json!({"PodName": name, "PodNamespace": namespace, "PodUID": uid, "Node": node}).to_string()
}

/// Filters `pod` on `nodes`; returns the filter result.
pub async fn filter(app: &Shared, pod: &Value, nodes: &[&str]) -> Value {
    let (status, body) = call(
        app,
        Method::POST,
        "/v1/extender/filter",
        &filter_args(pod, nodes),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "filter: {body}");
    body
}

/// Filters then binds `pod` (it must get a node); returns the node.
pub async fn place(app: &Shared, pod: &Value, nodes: &[&str]) -> String {
    let result = filter(app, pod, nodes).await;
    let node = result["NodeNames"][0]
        .as_str()
        .unwrap_or_else(|| panic!("pod should get a node, got {result}"))
        .to_string();
    let m = &pod["metadata"];
    let (status, body) = call(
        app,
        Method::POST,
        "/v1/extender/bind",
        &bind_args(
            m["namespace"].as_str().unwrap_or_default(),
            m["name"].as_str().unwrap_or_default(),
            m["uid"].as_str().unwrap_or_default(),
            &node,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "bind: {body}");
    assert_eq!(body["Error"], "", "bind: {body}");
    node
}
