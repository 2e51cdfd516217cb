//! Live mode against Kubernetes: a stand-in API server inside the test process speaks real
//! Kubernetes JSON (pod and node lists, watch streams of ADDED / MODIFIED / DELETED
//! events, `pods/binding`), and the server under test talks to it through the `kube`
//! client. Checked: state rebuilt from bound pods' bind-info on start, binds create a
//! `Binding` carrying HiveD's annotations, deleted or finished pods release their cells,
//! node conditions mark nodes, and a restart sees exactly the same state. See: issue 6.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing;
use cellsim::cell::{BIND_INFO_ANNOTATION, LEAF_CELL_ISOLATION_ANNOTATION, PodBindInfo};
use cellsim::live::http::Shared;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::live_support::*;

/// The stand-in API server's objects.
struct Cluster {
    rv: u64,
    pods: BTreeMap<(String, String), Value>,
    nodes: BTreeMap<String, Value>,
    bindings: Vec<Value>,
}

#[derive(Clone)]
struct Fake {
    cluster: Arc<Mutex<Cluster>>,
    /// (resourceVersion, "pods" | "nodes", event JSON).
    events: broadcast::Sender<(u64, &'static str, Value)>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            cluster: Arc::new(Mutex::new(Cluster {
                rv: 1,
                pods: BTreeMap::new(),
                nodes: BTreeMap::new(),
                bindings: Vec::new(),
            })),
            events: broadcast::channel(1024).0,
        }
    }

    /// Stores `object` with a new resourceVersion and announces it.
    fn put(&self, kind: &'static str, mut object: Value, event: &str) {
        let mut c = self.cluster.lock().expect("fake lock");
        c.rv += 1;
        let rv = c.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match (kind, event) {
            ("pods", "DELETED") => {
                c.pods.remove(&(ns, name));
            }
            ("pods", _) => {
                c.pods.insert((ns, name), object.clone());
            }
            (_, "DELETED") => {
                c.nodes.remove(&name);
            }
            _ => {
                c.nodes.insert(name, object.clone());
            }
        }
        let _ = self
            .events
            .send((rv, kind, json!({"type": event, "object": object})));
    }

    fn pod(&self, ns: &str, name: &str) -> Option<Value> {
        let c = self.cluster.lock().expect("fake lock");
        c.pods.get(&(ns.to_string(), name.to_string())).cloned()
    }
}

fn k8s_node(name: &str, ready: bool, unschedulable: bool) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": name, "uid": format!("uid-{name}"), "labels": {"kubernetes.io/hostname": name}},
        "spec": {"unschedulable": unschedulable},
        "status": {"conditions": [
            {"type": "MemoryPressure", "status": "False"},
            {"type": "Ready", "status": if ready { "True" } else { "False" }, "reason": "KubeletReady"}
        ]}
    })
}

async fn list_or_watch(
    fake: Fake,
    kind: &'static str,
    query: BTreeMap<String, String>,
) -> Response {
    if query.get("watch").map(String::as_str) == Some("true") {
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let rx = fake.events.subscribe();
        let stream = futures::stream::unfold(rx, move |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok((rv, k, event)) if k == kind && rv > from => {
                        let mut line = event.to_string();
                        line.push('\n');
                        return Some((Ok::<Bytes, Infallible>(Bytes::from(line)), rx));
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        return (
            StatusCode::OK,
            [("content-type", "application/json")],
            Body::from_stream(stream),
        )
            .into_response();
    }
    let c = fake.cluster.lock().expect("fake lock");
    let items: Vec<Value> = if kind == "pods" {
        c.pods.values().cloned().collect()
    } else {
        c.nodes.values().cloned().collect()
    };
    let list_kind = if kind == "pods" {
        "PodList"
    } else {
        "NodeList"
    };
    axum::Json(json!({
        "kind": list_kind, "apiVersion": "v1",
        "metadata": {"resourceVersion": c.rv.to_string()},
        "items": items
    }))
    .into_response()
}

async fn bind(
    State(fake): State<Fake>,
    Path((ns, name)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let Ok(binding) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let Some(mut pod) = fake.pod(&ns, &name) else {
        return (StatusCode::NOT_FOUND, axum::Json(json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404, "message": format!("pods \"{name}\" not found")}))).into_response();
    };
    // What the API server does with a Binding: set the node, copy the annotations.
    pod["spec"]["nodeName"] = binding["target"]["name"].clone();
    if let Some(a) = binding["metadata"]["annotations"].as_object() {
        for (k, v) in a {
            pod["metadata"]["annotations"][k] = v.clone();
        }
    }
    fake.cluster
        .lock()
        .expect("fake lock")
        .bindings
        .push(binding);
    fake.put("pods", pod, "MODIFIED");
    (
        StatusCode::CREATED,
        axum::Json(json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})),
    )
        .into_response()
}

async fn start_fake(fake: Fake) -> String {
    let pods = {
        let f = fake.clone();
        move |Query(q): Query<BTreeMap<String, String>>| list_or_watch(f.clone(), "pods", q)
    };
    let nodes = {
        let f = fake.clone();
        move |Query(q): Query<BTreeMap<String, String>>| list_or_watch(f.clone(), "nodes", q)
    };
    let app = Router::new()
        .route("/api/v1/pods", routing::get(pods))
        .route("/api/v1/nodes", routing::get(nodes))
        .route(
            "/api/v1/namespaces/{ns}/pods/{name}/binding",
            routing::post(bind),
        )
        .with_state(fake);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("fake listens");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

async fn connect(url: &str) -> (Shared, Vec<tokio::task::JoinHandle<()>>) {
    let config = kube::Config::new(url.parse().expect("url"));
    let client = kube::Client::try_from(config).expect("client");
    cellsim::live::kube::start_with_client(&two_nodes(), client)
        .await
        .unwrap_or_else(|e| panic!("live server starts: {e}"))
}

/// Polls `check` on the app's views for up to 10 s.
async fn eventually(app: &Shared, what: &str, check: impl Fn(&Value, &Value) -> bool) {
    for _ in 0..200 {
        let groups = get(app, "/v1/inspect/affinitygroups/").await;
        let nodes = get(app, "/v1/nodes").await;
        if check(&groups, &nodes) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

fn group_names(groups: &Value) -> Vec<String> {
    groups["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["metadata"]["name"].as_str().map(String::from))
        .collect()
}

/// A pod bound by an earlier run: `old` (vc-a, 1 pod x 2 GPUs) on node-a devices 0,1.
fn old_pod() -> Value {
    let mut p = pod("team", "old-0", "uid-old-0", &spec("vc-a", 10, "old", 1, 2));
    p["spec"]["nodeName"] = json!("node-a");
    p["status"]["phase"] = json!("Running");
    let info = "node: node-a\nleafCellIsolation:\n- 0\n- 1\ncellChain: RACK\naffinityGroupBindInfo:\n\
                - podPlacements:\n  - physicalNode: node-a\n    physicalLeafCellIndices:\n    - 0\n    - 1\n\
                \x20   preassignedCellTypes:\n    - NODE\n    - NODE\n";
    p["metadata"]["annotations"][BIND_INFO_ANNOTATION] = json!(info);
    p["metadata"]["annotations"][LEAF_CELL_ISOLATION_ANNOTATION] = json!("0,1");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubernetes_mode_rebuilds_binds_watches_and_restarts() {
    let fake = Fake::new();
    fake.put("nodes", k8s_node("node-a", true, false), "ADDED");
    fake.put("nodes", k8s_node("node-b", true, false), "ADDED");
    fake.put("pods", old_pod(), "ADDED");
    let url = start_fake(fake.clone()).await;
    let (app, tasks) = connect(&url).await;

    // Rebuilt from the bind info before serving.
    let old = get(&app, "/v1/inspect/affinitygroups/old").await;
    assert_eq!(
        old["status"]["physicalPlacement"],
        json!({"node-a": [0, 1]}),
        "{old}"
    );
    assert_eq!(old["status"]["allocatedPods"], json!(["uid-old-0"]));
    assert_eq!(
        get(&app, "/v1/nodes").await,
        json!([{"name": "node-a", "healthy": true}, {"name": "node-b", "healthy": true}])
    );

    // A new pod: filter, then bind creates a Binding with HiveD's annotations.
    let new = pod("team", "new-0", "uid-new-0", &spec("vc-a", 10, "new", 1, 2));
    fake.put("pods", new.clone(), "ADDED");
    let node = place(&app, &new, &["node-a", "node-b"]).await;
    assert_eq!(node, "node-a", "packs next to the old group in vc-a's node");
    let bound = fake.pod("team", "new-0").expect("pod exists");
    assert_eq!(bound["spec"]["nodeName"], "node-a");
    assert_eq!(
        bound["metadata"]["annotations"][LEAF_CELL_ISOLATION_ANNOTATION],
        "2,3"
    );
    let info: PodBindInfo = serde_yaml_ng::from_str(
        bound["metadata"]["annotations"][BIND_INFO_ANNOTATION]
            .as_str()
            .unwrap_or_default(),
    )
    .expect("bind info is HiveD YAML");
    assert_eq!(
        (info.node.as_str(), info.cell_chain.as_str()),
        ("node-a", "RACK")
    );
    let binding = fake.cluster.lock().expect("lock").bindings[0].clone();
    assert_eq!(binding["kind"], "Binding");
    assert_eq!(
        binding["target"],
        json!({"apiVersion": "v1", "kind": "Node", "name": "node-a"})
    );
    assert_eq!(binding["metadata"]["uid"], "uid-new-0");

    // A restart (a second server on the same cluster) rebuilds exactly the same state.
    let before = (
        get(&app, "/v1/inspect/clusterstatus").await,
        get(&app, "/v1/inspect/affinitygroups/").await,
    );
    let (restarted, restarted_tasks) = connect(&url).await;
    let after = (
        get(&restarted, "/v1/inspect/clusterstatus").await,
        get(&restarted, "/v1/inspect/affinitygroups/").await,
    );
    assert_eq!(before, after, "state rebuilt from bind info differs");
    for t in restarted_tasks {
        t.abort();
    }

    // Watches: a deleted pod and a finished pod free their groups; nodes follow conditions.
    fake.put("pods", old_pod(), "DELETED");
    eventually(&app, "the deleted pod's group is freed", |g, _| {
        group_names(g) == ["new"]
    })
    .await;
    let mut done = bound.clone();
    done["status"]["phase"] = json!("Succeeded");
    fake.put("pods", done, "MODIFIED");
    eventually(&app, "the finished pod's group is freed", |g, _| {
        group_names(g).is_empty()
    })
    .await;
    fake.put("nodes", k8s_node("node-b", false, false), "MODIFIED");
    eventually(&app, "node-b is bad", |_, n| n[1]["healthy"] == false).await;
    fake.put("nodes", k8s_node("node-b", true, false), "MODIFIED");
    eventually(&app, "node-b is back", |_, n| n[1]["healthy"] == true).await;
    fake.put("nodes", k8s_node("node-a", true, true), "MODIFIED");
    eventually(&app, "cordoned node-a is bad", |_, n| {
        n[0]["healthy"] == false
    })
    .await;
    for t in tasks {
        t.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_nodes_start_bad_and_a_failed_binding_is_reported() {
    let fake = Fake::new();
    fake.put("nodes", k8s_node("node-a", true, false), "ADDED");
    let url = start_fake(fake.clone()).await;
    let (app, tasks) = connect(&url).await;
    assert_eq!(
        get(&app, "/v1/nodes").await,
        json!([{"name": "node-a", "healthy": true}, {"name": "node-b", "healthy": false}])
    );
    // The pod is not in the cluster: the API server refuses the Binding, the extender
    // answers the error and keeps the placement for kube-scheduler's retry.
    let ghost = pod(
        "team",
        "ghost-0",
        "uid-ghost-0",
        &spec("vc-a", 10, "ghost", 1, 1),
    );
    let r = filter(&app, &ghost, &["node-a"]).await;
    let node = r["NodeNames"][0].as_str().expect("a node").to_string();
    let (status, r) = call(
        &app,
        axum::http::Method::POST,
        "/v1/extender/bind",
        &bind_args("team", "ghost-0", "uid-ghost-0", &node),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        r["Error"].as_str().unwrap_or_default().contains("failed"),
        "{r}"
    );
    for t in tasks {
        t.abort();
    }
}
