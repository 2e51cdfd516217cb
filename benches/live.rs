//! Live-server benchmark (issue 19): the server's own work per pod on the 10,240-GPU
//! cluster (`scenarios/clusters/hived-10240.yaml`) held at about 80% occupancy, in
//! process, without HTTP or the client:
//!
//! - `live/pair` — one 1-GPU pod through filter (a new decision), bind (plan + commit)
//!   and release, on a state with no journal: the CPU a filter+bind pair costs under the
//!   state lock;
//! - `live/pair_journaled` — the same with the standalone journal on disk (in `target/`),
//!   waiting for the bind's fsync as the HTTP handler does (one request at a time, so no
//!   group commit: the fsync latency of this disk);
//! - `live/plan_bind` — a bind's lookup alone, which used to build every live pod's bind
//!   record (issue 19: 89% of server CPU under load);
//! - `live/metrics_gauges` — what `/metrics` does under the lock.
//!
//! The end-to-end numbers (HTTP, concurrent clients, group commit) come from
//! `cellsim load` against a running server: `reports/2026-12-06-live-load/`.
//! Run with `cargo bench --bench live`; under `cargo test --benches` each runs once.

use std::hint::black_box;
use std::path::PathBuf;

use cellsim::cell::SCHEDULING_SPEC_ANNOTATION;
use cellsim::config::{CellConfig, load_str};
use cellsim::live::LiveState;
use cellsim::live::metrics::CellGauges;
use cellsim::live::pod::{PodInfo, parse_pod};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::json;

fn config() -> (CellConfig, String) {
    let path: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "scenarios/clusters/hived-10240.yaml",
    ]
    .iter()
    .collect();
    let text = std::fs::read_to_string(&path).expect("the bench config is in the repository");
    (load_str(&text, "hived-10240.yaml").expect("valid"), text)
}

/// A pod of its own group at `priority`, `gpus` GPUs, spec parsed ahead (as the handler does).
fn pod(name: &str, vc: &str, priority: i32, gpus: u32) -> PodInfo {
    let spec = format!("virtualCluster: {vc}\npriority: {priority}\nleafCellNumber: {gpus}\n");
    let mut p = parse_pod(json!({
        "metadata": {"name": name, "namespace": "bench", "uid": name,
                     "annotations": {SCHEDULING_SPEC_ANNOTATION: spec}},
        "spec": {"containers": [{"resources": {"limits": {
            "hivedscheduler.microsoft.com/pod-scheduling-enable": 1}}}]}
    }))
    .expect("valid pod");
    p.parse_spec();
    p
}

/// Places pods of 1/2/4/8 GPUs until about 80% of the GPUs are bound.
fn fill(state: &mut LiveState) -> usize {
    let vcs = ["vc-a", "vc-b", "vc-c", "vc-d"];
    let sizes = [1, 2, 4, 8, 8];
    let (mut used, mut n) = (0u32, 0usize);
    while used < 8192 && n < 20_000 {
        let gpus = sizes[n % sizes.len()];
        let p = pod(&format!("fill-{n}"), vcs[n % vcs.len()], 10, gpus);
        n += 1;
        let Ok((r, _)) = state.filter(&p, None, None) else {
            continue;
        };
        let Some(node) = r.node_names.and_then(|v| v.into_iter().next()) else {
            continue;
        };
        if state.plan_bind("bench", &p.name, &p.uid, &node).is_ok()
            && state.commit_bind(&p.uid).is_ok()
        {
            used += gpus;
        }
    }
    state.pods().len()
}

/// One filter + bind + release of a 1-GPU pod.
fn pair(state: &mut LiveState, p: &PodInfo, wait: bool) {
    let (r, _) = state.filter(p, None, None).expect("available");
    let node = r
        .node_names
        .and_then(|v| v.into_iter().next())
        .expect("placed");
    let plan = state
        .plan_bind("bench", &p.name, &p.uid, &node)
        .expect("bind");
    state.commit_bind(&plan.uid).expect("available");
    if wait && let Some(t) = state.ticket() {
        t.durable_blocking().expect("durable");
    }
    state.release(&p.uid).expect("available");
}

fn bench(c: &mut Criterion) {
    let (config, text) = config();
    let mut state = LiveState::new(&config);
    let pods = fill(&mut state);
    eprintln!("live bench: {pods} pods bound on 10,240 GPUs");
    // Opportunistic: it fits in any free GPU whatever the VCs hold.
    let p = pod("probe", "vc-d", -1, 1);
    c.bench_function("live/pair", |b| b.iter(|| pair(&mut state, &p, false)));

    let (_, _) = state.filter(&p, None, None).expect("available");
    let node = state.pods()["probe"].node.clone().expect("placed");
    c.bench_function("live/plan_bind", |b| {
        b.iter(|| black_box(state.plan_bind("bench", "probe", "probe", &node)))
    });
    c.bench_function("live/metrics_gauges", |b| {
        b.iter(|| black_box(CellGauges::of(state.allocator())))
    });

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/bench-live");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("bench dir");
    let (mut journaled, _) =
        LiveState::open_journal(&config, &text, &dir.join("journal"), 10_000).expect("opens");
    fill(&mut journaled);
    c.bench_function("live/pair_journaled", |b| {
        b.iter(|| pair(&mut journaled, &p, true))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
