//! Live mode: `cellsim serve`, a Kubernetes scheduler extender that is a drop-in for HiveD
//! over the same allocator the simulator uses (`cell`). It answers kube-scheduler's
//! filter / bind / preempt verbs, serves HiveD's inspect API, `/metrics` and `/healthz`,
//! and keeps its state either from Kubernetes (bind-info annotations on bound pods) or,
//! standalone, in an fsync'd journal with a small pod/node API.
//!
//! - `pod.rs`: reading a `v1.Pod` and its scheduling spec.
//! - `extender.rs`: the extender wire types.
//! - `state.rs`: the decisions and the pod bookkeeping (no HTTP, no Kubernetes).
//! - `journal.rs`: the standalone journal.
//! - `metrics.rs`: Prometheus metrics.
//! - `http.rs`: the axum routes.
//! - `kube.rs`: the Kubernetes client side (rebuild, watches, binding).
//! - `server.rs`: start-up, shutdown and the options of `cellsim serve`.
//! - `load.rs`: `cellsim load`, the load and crash-check client.

pub mod extender;
pub mod http;
pub mod journal;
pub mod kube;
pub mod load;
pub mod metrics;
pub mod pod;
pub mod server;
pub mod state;

pub use server::{ServeError, ServeMode, ServeOptions, serve};
pub use state::LiveState;
