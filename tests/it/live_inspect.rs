//! The live server's inspect routes and bind annotations against HiveD's own samples
//! (`hived-examples/api_samples/`). The samples were taken from HiveD running
//! `config/basic/hivedscheduler.yaml` after pod `uid-demo-0` of `demo-group` (VC1,
//! priority 10, 2 pods x 2 K80) was bound; here the same pod goes through the filter and
//! bind verbs with the spec annotation of `pod_annotations_after_bind.json`, and every
//! route is compared field by field. See: issue 6.

use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use cellsim::cell::{
    BIND_INFO_ANNOTATION, LEAF_CELL_ISOLATION_ANNOTATION, SCHEDULING_SPEC_ANNOTATION,
};
use cellsim::config::load_file;
use cellsim::live::LiveState;
use cellsim::live::http::{App, BindFuture, Binder, Shared};
use cellsim::live::state::BindPlan;
use serde_json::Value;

use crate::common::shared;
use crate::live_support::*;

/// Records binds instead of calling Kubernetes.
#[derive(Default)]
struct Recorder(Mutex<Vec<BindPlan>>);

impl Binder for Recorder {
    fn bind<'a>(&'a self, plan: &'a BindPlan) -> BindFuture<'a> {
        if let Ok(mut plans) = self.0.lock() {
            plans.push(plan.clone());
        }
        Box::pin(async { Ok(()) })
    }
}

fn sample(name: &str) -> Option<Value> {
    let path = shared(&format!("hived-examples/api_samples/{name}"))?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name} is not JSON: {e}")))
}

/// Differences by JSON path, one line each.
fn differences(path: &str, e: &Value, a: &Value, out: &mut Vec<String>) {
    match (e, a) {
        (Value::Object(em), Value::Object(am)) => {
            for (k, ev) in em {
                match am.get(k) {
                    Some(av) => differences(&format!("{path}.{k}"), ev, av, out),
                    None => out.push(format!("{path}.{k}: missing, HiveD has {ev}")),
                }
            }
            for k in am.keys().filter(|k| !em.contains_key(*k)) {
                out.push(format!("{path}.{k}: not in HiveD's sample"));
            }
        }
        (Value::Array(ev), Value::Array(av)) if ev.len() == av.len() => {
            for (i, (x, y)) in ev.iter().zip(av).enumerate() {
                differences(&format!("{path}[{i}]"), x, y, out);
            }
        }
        _ if e == a => {}
        _ => out.push(format!("{path}: HiveD {e}, cellsim {a}")),
    }
}

fn assert_same(what: &str, expected: &Value, actual: &Value) {
    let mut diffs = Vec::new();
    differences("$", expected, actual, &mut diffs);
    assert!(
        diffs.is_empty(),
        "{what}: differs from HiveD's sample:\n  {}",
        diffs.join("\n  ")
    );
}

/// The sample state through the verbs; `None` without `../shared`.
async fn sample_server() -> Option<(Shared, Arc<Recorder>, Value)> {
    let config = load_file(&shared("hived-examples/config/basic/hivedscheduler.yaml")?)
        .unwrap_or_else(|e| panic!("basic config loads:\n{e}"));
    let annotations = sample("pod_annotations_after_bind.json")?;
    let recorder = Arc::new(Recorder::default());
    let binder: Arc<dyn Binder> = recorder.clone();
    let app = Arc::new(App::new(LiveState::new(&config), Some(binder), false));
    let spec_yaml = annotations[SCHEDULING_SPEC_ANNOTATION]
        .as_str()
        .expect("spec annotation");
    let p = pod("default", "demo-0", "uid-demo-0", spec_yaml);
    // The spec says ignoreK8sSuggestedNodes: false, so the suggestions matter: all nodes.
    let node = place(&app, &p, &["10.151.41.20", "10.151.41.21", "10.151.41.22"]).await;
    assert_eq!(node, "10.151.41.20");
    Some((app, recorder, annotations))
}

#[tokio::test]
async fn inspect_routes_match_hived_samples() {
    let Some((app, _, _)) = sample_server().await else {
        return;
    };
    for (route, file) in [
        (
            "/v1/inspect/affinitygroups/",
            "GET_v1_inspect_affinitygroups.json",
        ),
        (
            "/v1/inspect/affinitygroups",
            "GET_v1_inspect_affinitygroups.json",
        ),
        (
            "/v1/inspect/clusterstatus",
            "GET_v1_inspect_clusterstatus.json",
        ),
        (
            "/v1/inspect/clusterstatus/physicalcluster",
            "GET_v1_inspect_clusterstatus_physicalcluster.json",
        ),
        (
            "/v1/inspect/clusterstatus/virtualclusters/",
            "GET_v1_inspect_clusterstatus_virtualclusters.json",
        ),
        (
            "/v1/inspect/clusterstatus/virtualclusters/VC1",
            "GET_v1_inspect_clusterstatus_virtualclusters_VC1.json",
        ),
    ] {
        let expected = sample(file).expect("shared present");
        assert_same(route, &expected, &get(&app, route).await);
    }
    let all = sample("GET_v1_inspect_affinitygroups.json").expect("shared present");
    assert_same(
        "/v1/inspect/affinitygroups/demo-group",
        &all["items"][0],
        &get(&app, "/v1/inspect/affinitygroups/demo-group").await,
    );
}

#[tokio::test]
async fn bind_writes_hived_annotations() {
    let Some((_, recorder, annotations)) = sample_server().await else {
        return;
    };
    let plans = recorder.0.lock().expect("recorder").clone();
    assert_eq!(plans.len(), 1, "one bind");
    let plan = &plans[0];
    assert_eq!(
        (
            plan.namespace.as_str(),
            plan.name.as_str(),
            plan.uid.as_str()
        ),
        ("default", "demo-0", "uid-demo-0")
    );
    let ours = plan.record.annotations();
    assert_eq!(
        ours[LEAF_CELL_ISOLATION_ANNOTATION],
        annotations[LEAF_CELL_ISOLATION_ANNOTATION]
            .as_str()
            .unwrap_or_default()
    );
    let yaml = |s: &str| -> serde_yaml_ng::Value { serde_yaml_ng::from_str(s).expect("YAML") };
    assert_eq!(
        yaml(&ours[BIND_INFO_ANNOTATION]),
        yaml(
            annotations[BIND_INFO_ANNOTATION]
                .as_str()
                .unwrap_or_default()
        ),
        "pod-bind-info differs from HiveD's:\n{}",
        ours[BIND_INFO_ANNOTATION]
    );
}

#[tokio::test]
async fn the_second_pod_takes_the_groups_next_slot() {
    let Some((app, recorder, annotations)) = sample_server().await else {
        return;
    };
    let spec_yaml = annotations[SCHEDULING_SPEC_ANNOTATION]
        .as_str()
        .unwrap_or_default();
    let p = pod("default", "demo-1", "uid-demo-1", spec_yaml);
    assert_eq!(
        place(&app, &p, &["10.151.41.20", "10.151.41.21", "10.151.41.22"]).await,
        "10.151.41.20"
    );
    let plans = recorder.0.lock().expect("recorder").clone();
    assert_eq!(plans[1].record.bind_info.leaf_cell_isolation, vec![2, 3]);
    let g = get(&app, "/v1/inspect/affinitygroups/demo-group").await;
    assert_eq!(
        g["status"]["allocatedPods"],
        serde_json::json!(["uid-demo-0", "uid-demo-1"])
    );
    // A third pod of a two-pod group has no slot: a user error, not a crash.
    let p = pod("default", "demo-2", "uid-demo-2", spec_yaml);
    let (status, r) = call(
        &app,
        Method::POST,
        "/v1/extender/filter",
        &filter_args(&p, &["10.151.41.20"]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        r["Error"]
            .as_str()
            .unwrap_or_default()
            .contains("no free slot"),
        "{r}"
    );
}
