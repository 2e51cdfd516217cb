//! The Kubernetes side of live mode (the `kube` client): on start, rebuild all state from
//! bound pods' `pod-bind-info` annotations and mark nodes by their conditions; then watch
//! nodes (Ready and schedulable -> healthy) and pods (deleted or finished -> released),
//! and bind pods by creating their `Binding` with the bind-info annotations, as HiveD does.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::Client;
use kube::api::{Api, ListParams, PostParams};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use tokio::task::JoinHandle;

use super::http::{App, BindFuture, Binder, Shared};
use super::pod::{PodInfo, parse_pod};
use super::server::ServeError;
use super::state::{BindPlan, LiveState};
use crate::cell::{BIND_INFO_ANNOTATION, LEAF_CELL_ISOLATION_ANNOTATION};
use crate::config::CellConfig;

/// Connects with `kubeconfig` (or the in-cluster / default config) and starts.
pub async fn start(
    config: &CellConfig,
    kubeconfig: Option<&Path>,
) -> Result<(Shared, Vec<JoinHandle<()>>), ServeError> {
    let io = |what: &str, e: String| ServeError::Io(format!("{what}: {e}"));
    let client_config = match kubeconfig {
        Some(path) => {
            let kc = kube::config::Kubeconfig::read_from(path)
                .map_err(|e| io(&format!("cannot read the kubeconfig {}", path.display()), e.to_string()))?;
            kube::Config::from_custom_kubeconfig(kc, &kube::config::KubeConfigOptions::default())
                .await
                .map_err(|e| io(&format!("kubeconfig {}", path.display()), e.to_string()))?
        }
        None => kube::Config::infer().await.map_err(|e| {
            io(
                "no Kubernetes config found (in-cluster, $KUBECONFIG or ~/.kube/config); pass --kubeconfig or use --standalone",
                e.to_string(),
            )
        })?,
    };
    let client = Client::try_from(client_config)
        .map_err(|e| io("cannot build the Kubernetes client", e.to_string()))?;
    start_with_client(config, client).await
}

/// Rebuilds from the cluster reachable through `client`, then starts the watches.
pub async fn start_with_client(
    config: &CellConfig,
    client: Client,
) -> Result<(Shared, Vec<JoinHandle<()>>), ServeError> {
    let io = |what: &str, e: kube::Error| ServeError::Io(format!("{what}: {e}"));
    let pods: Api<Pod> = Api::all(client.clone());
    let listed = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| io("cannot list pods", e))?;
    let mut records = Vec::new();
    for pod in listed.items {
        let Some(info) = pod_info(&pod) else { continue };
        if info.finished() || info.terminating || info.node_name.is_none() {
            continue;
        }
        match info.bind_record() {
            None => {}
            Some(Ok(record)) => {
                records.push((info.namespace.clone(), info.name.clone(), true, record))
            }
            Some(Err(e)) => eprintln!("warning: {e}; the pod is ignored"),
        }
    }
    let (mut state, report) = LiveState::from_records(config, &records);
    eprintln!(
        "cellsim serve: rebuilt from {} bound pod(s): {} group(s) restored, {} lazily preempted, {} lost",
        records.len(),
        report.restored.len(),
        report.lazily_preempted.len(),
        report.lost.len()
    );
    for (group, why) in &report.lost {
        eprintln!("warning: group {group} could not be restored: {why}; delete its pods");
    }
    for w in &report.warnings {
        eprintln!("warning: {w}");
    }
    let nodes: Api<Node> = Api::all(client.clone());
    let listed = nodes
        .list(&ListParams::default())
        .await
        .map_err(|e| io("cannot list nodes", e))?;
    let mut healthy: BTreeSet<String> = BTreeSet::new();
    for node in &listed.items {
        if node_healthy(node)
            && let Some(name) = &node.metadata.name
        {
            healthy.insert(name.clone());
        }
    }
    // A node the cluster does not report (or reports not Ready) is bad until it is.
    for n in state.nodes() {
        let _ = state.set_node_health(&n.name, healthy.contains(&n.name));
    }
    let binder: Arc<dyn Binder> = Arc::new(KubeBinder {
        client: client.clone(),
    });
    let app = Arc::new(App::new(state, Some(binder), false));
    let tasks = vec![
        tokio::spawn(watch_pods(app.clone(), pods)),
        tokio::spawn(watch_nodes(app.clone(), nodes)),
    ];
    Ok((app, tasks))
}

fn pod_info(pod: &Pod) -> Option<PodInfo> {
    let mut info = parse_pod(serde_json::to_value(pod).ok()?).ok()?;
    if info.uid.is_empty() {
        info.uid = info.key();
    }
    Some(info)
}

/// Ready and schedulable.
pub fn node_healthy(node: &Node) -> bool {
    let unschedulable = node
        .spec
        .as_ref()
        .and_then(|s| s.unschedulable)
        .unwrap_or(false);
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    ready && !unschedulable
}

fn release(app: &App, uid: &str) {
    let Ok(mut state) = app.state.lock() else {
        return;
    };
    match state.release(uid) {
        Ok(Some(r)) => eprintln!(
            "cellsim serve: pod {} released{}",
            r.pod,
            if r.group_freed {
                format!("; group {} freed", r.group)
            } else {
                String::new()
            }
        ),
        Ok(None) => {}
        Err(e) => eprintln!("error: {e}"),
    }
}

async fn watch_pods(app: Shared, api: Api<Pod>) {
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    // During a relist: the pods known when it began, and the uids it has listed. Known
    // pods it did not list were deleted meanwhile; pods placed after it began (a filter
    // while the list was in flight) may be missing from it and must be kept.
    let mut relist: Option<(BTreeSet<String>, BTreeSet<String>)> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(Event::Apply(pod)) => {
                if let Some(info) = pod_info(&pod)
                    && (info.finished() || info.terminating)
                {
                    release(&app, &info.uid);
                }
            }
            Ok(Event::Delete(pod)) => {
                if let Some(info) = pod_info(&pod) {
                    release(&app, &info.uid);
                }
            }
            Ok(Event::Init) => {
                let known: BTreeSet<String> = match app.state.lock() {
                    Ok(state) => state.pods().keys().cloned().collect(),
                    Err(_) => return,
                };
                relist = Some((known, BTreeSet::new()));
            }
            Ok(Event::InitApply(pod)) => {
                if let Some(info) = pod_info(&pod) {
                    if info.finished() || info.terminating {
                        release(&app, &info.uid);
                    } else if let Some((_, seen)) = relist.as_mut() {
                        seen.insert(info.uid);
                    }
                }
            }
            Ok(Event::InitDone) => {
                if let Some((known, seen)) = relist.take() {
                    for uid in known.difference(&seen) {
                        release(&app, uid);
                    }
                }
            }
            Err(e) => eprintln!("warning: pod watch: {e}; retrying"),
        }
    }
}

async fn watch_nodes(app: Shared, api: Api<Node>) {
    let mut stream = watcher::watcher(api, watcher::Config::default())
        .default_backoff()
        .boxed();
    let mut relist: Option<BTreeMap<String, bool>> = None;
    while let Some(event) = stream.next().await {
        let mark = |name: &str, healthy: bool| {
            if let Ok(mut state) = app.state.lock()
                && let Err(e) = state.set_node_health(name, healthy)
            {
                eprintln!("error: {e}");
            }
        };
        match event {
            Ok(Event::Apply(node)) => {
                if let Some(name) = &node.metadata.name {
                    mark(name, node_healthy(&node));
                }
            }
            Ok(Event::Delete(node)) => {
                if let Some(name) = &node.metadata.name {
                    mark(name, false);
                }
            }
            Ok(Event::Init) => relist = Some(BTreeMap::new()),
            Ok(Event::InitApply(node)) => {
                if let (Some(seen), Some(name)) = (relist.as_mut(), &node.metadata.name) {
                    seen.insert(name.clone(), node_healthy(&node));
                }
            }
            Ok(Event::InitDone) => {
                if let Some(seen) = relist.take() {
                    let names: Vec<String> = match app.state.lock() {
                        Ok(state) => state.nodes().into_iter().map(|n| n.name).collect(),
                        Err(_) => return,
                    };
                    for name in names {
                        mark(&name, seen.get(&name).copied().unwrap_or(false));
                    }
                }
            }
            Err(e) => eprintln!("warning: node watch: {e}; retrying"),
        }
    }
}

/// Binds through the API server: `POST .../pods/NAME/binding` with the annotations that
/// the API server copies onto the pod.
struct KubeBinder {
    client: Client,
}

impl Binder for KubeBinder {
    fn bind<'a>(&'a self, plan: &'a BindPlan) -> BindFuture<'a> {
        Box::pin(async move {
            let annotations = plan.record.annotations();
            let keep: BTreeMap<&str, &String> = annotations
                .iter()
                .filter(|(k, _)| {
                    k.as_str() == BIND_INFO_ANNOTATION
                        || k.as_str() == LEAF_CELL_ISOLATION_ANNOTATION
                })
                .map(|(k, v)| (k.as_str(), v))
                .collect();
            let binding = serde_json::json!({
                "apiVersion": "v1",
                "kind": "Binding",
                "metadata": {
                    "name": plan.name,
                    "namespace": plan.namespace,
                    "uid": plan.uid,
                    "annotations": keep,
                },
                "target": {"apiVersion": "v1", "kind": "Node", "name": plan.node},
            });
            let api: Api<Pod> = Api::namespaced(self.client.clone(), &plan.namespace);
            api.create_subresource::<_, serde_json::Value>(
                "binding",
                &plan.name,
                &PostParams::default(),
                &binding,
            )
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
        })
    }
}
