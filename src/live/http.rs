//! The HTTP surface (axum): kube-scheduler's extender verbs, HiveD's inspect routes,
//! `/metrics`, `/healthz`, and the standalone pod/node API. Handlers parse (the request
//! JSON and the pod's scheduling-spec YAML) before taking the state lock, call
//! `state.rs` under it, and wait for the journal outside it: a bind, delete or node change
//! is acknowledged only once its journal entry is durable. Inspect views and `/metrics`
//! copy what they need under the lock and build their answer after it. A malformed
//! request is 400 with a message naming the field; a user error in a pod's spec is 200
//! with the extender result's `Error` (as HiveD answers); a server that can no longer
//! journal is 503; every error status has a JSON body `{"error": ...}`. No handler
//! panics on input.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use serde::Serialize;
use serde_json::Value;

use super::extender::{
    ExtenderBindingResult, ExtenderFilterResult, parse_bind_args, parse_filter_args,
    parse_preempt_args,
};
use super::journal::Ticket;
use super::metrics::{BindResult, CONTENT_TYPE, CellGauges, Metrics, Outcome};
use super::pod::{PodInfo, kind_of, parse_pod};
use super::state::{BindError, BindPlan, LiveState, Unavailable};
use crate::cell::Allocator;

/// A future answering one bind.
pub type BindFuture<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// Writes a bind where the pods live (Kubernetes: a `Binding` with the bind-info
/// annotations). Standalone servers have none: binds are acknowledged locally.
pub trait Binder: Send + Sync {
    /// Binds the pod of `plan`; the error is a sentence for kube-scheduler's log.
    fn bind<'a>(&'a self, plan: &'a BindPlan) -> BindFuture<'a>;
}

/// What every handler shares.
pub struct App {
    /// The state, behind one lock: decisions are serialised, as in HiveD.
    pub state: Mutex<LiveState>,
    /// Kubernetes binder, or `None` in standalone mode.
    pub binder: Option<Arc<dyn Binder>>,
    /// Serve `DELETE /v1/pods/..` and `PUT /v1/nodes/..` (standalone mode: Kubernetes
    /// mode learns about pods and nodes by watching them).
    pub standalone_api: bool,
    /// The state's metrics handles (shared), usable without the lock.
    pub metrics: Metrics,
    /// The state's failure flag (shared): `/healthz` reads it without the lock.
    pub failed: Arc<OnceLock<String>>,
}

impl App {
    /// An app over `state`.
    pub fn new(state: LiveState, binder: Option<Arc<dyn Binder>>, standalone_api: bool) -> App {
        App {
            metrics: state.metrics().clone(),
            failed: state.failure_flag(),
            state: Mutex::new(state),
            binder,
            standalone_api,
        }
    }

    /// The state lock. A poisoned lock (a bug panicked while holding it) is answered 503
    /// rather than risking a half-applied change.
    pub fn lock(&self) -> Result<MutexGuard<'_, LiveState>, Poisoned> {
        self.state.lock().map_err(|_| Poisoned)
    }
}

/// The state lock is poisoned; answered 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poisoned;

impl IntoResponse for Poisoned {
    fn into_response(self) -> Response {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "internal error: an earlier request failed while changing the state; restart the server",
        )
    }
}

/// Shared app handle.
pub type Shared = Arc<App>;

/// The router of a server.
pub fn router(app: Shared) -> Router {
    let mut r = Router::new()
        .route("/v1/extender/filter", post(filter))
        .route("/v1/extender/bind", post(bind))
        .route("/v1/extender/preempt", post(preempt))
        .route("/v1/inspect/affinitygroups", get(groups))
        .route("/v1/inspect/affinitygroups/", get(groups))
        .route("/v1/inspect/affinitygroups/{*name}", get(group))
        .route("/v1/inspect/clusterstatus", get(cluster_status))
        .route(
            "/v1/inspect/clusterstatus/physicalcluster",
            get(physical_cluster),
        )
        .route(
            "/v1/inspect/clusterstatus/virtualclusters",
            get(virtual_clusters),
        )
        .route(
            "/v1/inspect/clusterstatus/virtualclusters/",
            get(virtual_clusters),
        )
        .route(
            "/v1/inspect/clusterstatus/virtualclusters/{vc}",
            get(virtual_cluster),
        )
        .route("/v1/nodes", get(list_nodes))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz));
    if app.standalone_api {
        r = r
            .route("/v1/pods/{namespace}/{name}", delete(delete_pod))
            .route("/v1/nodes/{name}", put(put_node));
    }
    r.fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            json_errors_and_count,
        ))
        .with_state(app)
}

/// The longest error body rewritten as JSON; axum's own rejections are one sentence.
const MAX_ERROR_TEXT: usize = 4096;

/// Counts every response by status and gives error statuses that axum or a layer
/// answered in plain text (413 body too large, 400 bad path, 408 body timeout) the JSON
/// body `{"error": ...}` every other error has.
async fn json_errors_and_count(
    State(app): State<Shared>,
    request: Request,
    next: Next,
) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    app.metrics.response(status.as_u16());
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (_, body) = response.into_parts();
    let text = axum::body::to_bytes(body, MAX_ERROR_TEXT)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    // tower-http's body timeout surfaces as axum's "failed to buffer the body" (400);
    // the client was too slow, which HTTP calls 408.
    let status = if text.contains("within the designated timeout") {
        StatusCode::REQUEST_TIMEOUT
    } else {
        status
    };
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_lowercase()
    } else {
        text
    };
    error(status, message)
}

async fn method_not_allowed(uri: Uri, method: axum::http::Method) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "method {method} is not allowed on {}; the extender verbs are POST, inspect views GET",
            uri.path()
        ),
    )
}

/// A JSON error body `{"error": message}` with `status`.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    (status, axum::Json(value)).into_response()
}

async fn not_found(uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "path not found: {}; see /v1/extender/{{filter,bind,preempt}}, /v1/inspect/..., /metrics, /healthz",
            uri.path()
        ),
    )
}

/// Reads the pod of an extender call; `what` names the args type in messages.
fn read_pod(value: Value, what: &str) -> Result<PodInfo, String> {
    let mut pod = parse_pod(value).map_err(|e| format!("{what}: field Pod: {e}"))?;
    if pod.participates {
        if pod.name.is_empty() {
            return Err(format!(
                "{what}: field Pod.metadata.name is missing; every pod needs a name"
            ));
        }
        if pod.uid.is_empty() {
            // Kubernetes always sends one; hand-written standalone calls may not.
            pod.uid = pod.key();
        }
    }
    Ok(pod)
}

fn filter_error(status: StatusCode, message: String) -> Response {
    json(
        status,
        &ExtenderFilterResult {
            error: message,
            ..Default::default()
        },
    )
}

async fn filter(State(app): State<Shared>, body: Bytes) -> Response {
    let start = Instant::now();
    let mut args = match parse_filter_args(&body) {
        Ok(a) => a,
        Err(e) => return filter_error(StatusCode::BAD_REQUEST, e.0),
    };

    let mut pod = match read_pod(std::mem::take(&mut args.pod), "ExtenderArgs") {
        Ok(p) => p,
        Err(e) => return filter_error(StatusCode::BAD_REQUEST, e),
    };
    pod.parse_spec();
    // The candidates matter to a pod that takes part only when it does not ignore them
    // (HiveD's default is to ignore), so the 1,280 names of a large cluster are
    // usually never read.
    let needed = match &pod.parsed_spec {
        Some(Ok(spec)) => !spec.ignore_k8s_suggested_nodes,
        Some(Err(_)) => false,
        None => true,
    };
    let candidates = if needed { args.candidate_names() } else { None };
    // The guard lives in this block only, so it is never held across the await below.
    let (result, outcome, block) = {
        let mut state = match app.lock() {
            Ok(s) => s,
            Err(r) => return r.into_response(),
        };
        let (result, outcome) = match state.filter(&pod, candidates, args.nodes.as_ref()) {
            Ok(answer) => answer,
            Err(e) => return filter_error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        };
        state
            .metrics()
            .observe(outcome, start.elapsed().as_secs_f64());
        (result, outcome, state.wait_block())
    };
    if outcome == Outcome::Wait
        && let Some(block) = block
    {
        // HiveD blocks the whole scheduling on a waiting pod; the lock is not held.
        tokio::time::sleep(block).await;
    }
    json(StatusCode::OK, &result)
}

async fn preempt(State(app): State<Shared>, body: Bytes) -> Response {
    let start = Instant::now();
    let args = match parse_preempt_args(&body) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.0),
    };
    let mut pod = match read_pod(args.pod, "ExtenderPreemptionArgs") {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    pod.parse_spec();
    let mut state = match app.lock() {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    match state.preempt(&pod, &args.nodes) {
        Ok((result, outcome)) => {
            state
                .metrics()
                .observe(outcome, start.elapsed().as_secs_f64());
            json(StatusCode::OK, &result)
        }
        // ExtenderPreemptionResult has no error field: HiveD answers these with a status.
        Err(Ok(message)) => error(StatusCode::BAD_REQUEST, message),
        Err(Err(e)) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

fn bind_result(status: StatusCode, message: String) -> Response {
    json(status, &ExtenderBindingResult { error: message })
}

/// Waits until `ticket`'s journal entry is durable (at once without a journal).
async fn durable(ticket: Option<Ticket>) -> Result<(), Unavailable> {
    match ticket {
        Some(t) => t.durable().await.map_err(Unavailable),
        None => Ok(()),
    }
}

async fn bind(State(app): State<Shared>, body: Bytes) -> Response {
    let args = match parse_bind_args(&body) {
        Ok(a) => a,
        Err(e) => return bind_result(StatusCode::BAD_REQUEST, e.0),
    };
    let metrics = app.metrics.clone();
    let refused = |e: BindError| match e {
        BindError::Refused(m) => {
            metrics.bind(BindResult::Refused);
            bind_result(StatusCode::OK, m)
        }
        BindError::Unavailable(u) => unavailable_bind(&metrics, u),
    };
    let standalone = app.binder.is_none();
    // The guard lives in this block only, so it is never held across an await below.
    let (plan, ticket) = {
        let mut state = match app.lock() {
            Ok(s) => s,
            Err(r) => return r.into_response(),
        };
        let plan = match state.plan_bind(
            &args.pod_namespace,
            &args.pod_name,
            &args.pod_uid,
            &args.node,
        ) {
            Ok(p) => p,
            Err(e) => return refused(e),
        };
        if standalone {
            // Standalone: acknowledged locally once the journal has it on disk.
            if let Err(u) = state.commit_bind(&plan.uid) {
                return unavailable_bind(&metrics, u);
            }
        }
        (plan, state.ticket())
    };
    if standalone {
        return match durable(ticket).await {
            Ok(()) => {
                metrics.bind(BindResult::Bound);
                bind_result(StatusCode::OK, String::new())
            }
            Err(u) => unavailable_bind(&metrics, u),
        };
    }
    let Some(binder) = app.binder.clone() else {
        return bind_result(StatusCode::OK, String::new());
    };
    // The lock is not held across the API call; the placement stays reserved meanwhile.
    if let Err(e) = binder.bind(&plan).await {
        metrics.bind(BindResult::Refused);
        return bind_result(
            StatusCode::OK,
            format!(
                "binding pod {}/{} to node {} failed: {e}",
                plan.namespace, plan.name, plan.node
            ),
        );
    }
    let mut state = match app.lock() {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    match state.commit_bind(&plan.uid) {
        Ok(()) => {
            metrics.bind(BindResult::Bound);
            bind_result(StatusCode::OK, String::new())
        }
        Err(u) => unavailable_bind(&metrics, u),
    }
}

fn unavailable_bind(metrics: &Metrics, u: Unavailable) -> Response {
    metrics.bind(BindResult::Unavailable);
    bind_result(StatusCode::SERVICE_UNAVAILABLE, u.to_string())
}

/// Answers an inspect view: the allocator is copied under the state lock (a fraction of
/// the time the view takes to build at 10,000 GPUs) and the view built from the copy on
/// a blocking thread, so an inspect call never holds decisions up for long.
async fn inspect<T, F>(app: &App, view: F, what: String) -> Response
where
    T: Serialize + Send + 'static,
    F: FnOnce(&Allocator) -> Option<T> + Send + 'static,
{
    let alloc = match app.lock() {
        Ok(s) => s.allocator().clone(),
        Err(r) => return r.into_response(),
    };
    match tokio::task::spawn_blocking(move || view(&alloc).map(|v| serde_json::to_vec(&v))).await {
        Ok(Some(Ok(bytes))) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response(),
        Ok(Some(Err(e))) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the view could not be written as JSON: {e}"),
        ),
        Ok(None) => error(StatusCode::NOT_FOUND, what),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("building the view failed: {e}"),
        ),
    }
}

async fn groups(State(app): State<Shared>) -> Response {
    inspect(&app, |a| Some(a.affinity_groups_view()), String::new()).await
}

async fn group(State(app): State<Shared>, Path(name): Path<String>) -> Response {
    let what = format!(
        "affinity group {name:?} does not exist; GET /v1/inspect/affinitygroups/ lists the live groups"
    );
    inspect(&app, move |a| a.affinity_group_view(&name), what).await
}

async fn cluster_status(State(app): State<Shared>) -> Response {
    inspect(&app, |a| Some(a.cluster_status()), String::new()).await
}

async fn physical_cluster(State(app): State<Shared>) -> Response {
    inspect(&app, |a| Some(a.physical_view()), String::new()).await
}

async fn virtual_clusters(State(app): State<Shared>) -> Response {
    inspect(&app, |a| Some(a.virtual_clusters_view()), String::new()).await
}

async fn virtual_cluster(State(app): State<Shared>, Path(vc): Path<String>) -> Response {
    let what = format!(
        "virtual cluster {vc:?} does not exist; GET /v1/inspect/clusterstatus/virtualclusters/ lists them"
    );
    inspect(&app, move |a| a.virtual_cluster_view(&vc), what).await
}

async fn list_nodes(State(app): State<Shared>) -> Response {
    let nodes = match app.lock() {
        Ok(s) => s.nodes(),
        Err(r) => return r.into_response(),
    };
    json(StatusCode::OK, &nodes)
}

async fn metrics(State(app): State<Shared>) -> Response {
    // Counted under the lock (one pass over the groups), encoded after it.
    let gauges = match app.lock() {
        Ok(s) => CellGauges::of(s.allocator()),
        Err(r) => return r.into_response(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        app.metrics.render(&gauges),
    )
        .into_response()
}

async fn healthz(State(app): State<Shared>) -> Response {
    // No lock: a slow request must not make the server look dead.
    match app.failed.get() {
        None => (StatusCode::OK, "ok\n").into_response(),
        Some(why) => error(StatusCode::SERVICE_UNAVAILABLE, why.clone()),
    }
}

async fn delete_pod(
    State(app): State<Shared>,
    Path((namespace, name)): Path<(String, String)>,
) -> Response {
    let (released, ticket) = {
        let mut state = match app.lock() {
            Ok(s) => s,
            Err(r) => return r.into_response(),
        };
        let Some(uid) = state.uid_of(&namespace, &name) else {
            app.metrics.release(false);
            return error(
                StatusCode::NOT_FOUND,
                format!(
                    "pod {namespace}/{name} is not placed by this server; GET /v1/inspect/affinitygroups/ lists placed groups"
                ),
            );
        };
        (state.release(&uid), state.ticket())
    };
    app.metrics.release(matches!(released, Ok(Some(_))));
    match released {
        Ok(Some(r)) => match durable(ticket).await {
            Ok(()) => json(StatusCode::OK, &r),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("pod {namespace}/{name} is not placed by this server"),
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}

async fn put_node(State(app): State<Shared>, Path(name): Path<String>, body: Bytes) -> Response {
    let healthy = match serde_json::from_slice::<Value>(&body) {
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body is not JSON ({e}); send {{\"healthy\": true}} or {{\"healthy\": false}}"
                ),
            );
        }
        Ok(v) => match v.get("healthy") {
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "field healthy must be true or false, found {}",
                        kind_of(other)
                    ),
                );
            }
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "field healthy is missing; send {\"healthy\": true} or {\"healthy\": false}",
                );
            }
        },
    };
    let (changed, ticket) = {
        let mut state = match app.lock() {
            Ok(s) => s,
            Err(r) => return r.into_response(),
        };
        (state.set_node_health(&name, healthy), state.ticket())
    };
    match changed {
        Ok(true) => match durable(ticket).await {
            Ok(()) => json(StatusCode::OK, &super::state::NodeStatus { name, healthy }),
            Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        },
        Ok(false) => error(
            StatusCode::NOT_FOUND,
            format!("node {name:?} is not in the config; GET /v1/nodes lists the nodes"),
        ),
        Err(e) => error(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
    }
}
