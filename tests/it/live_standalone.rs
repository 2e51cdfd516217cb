//! `cellsim serve --standalone` as a real process: the journal survives `kill -9` (the
//! restarted server shows exactly the inspect output it had), `--watch-config` reloads
//! the config keeping running groups, and bad start-up input exits 1. See: issue 6.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::live_support::{TWO_NODES, bind_args, filter_args, pod, spec};

struct Server {
    child: Child,
    base: String,
    /// Its stderr, line by line (kept so the reader thread never blocks).
    lines: Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cellsim-live-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn command(config: &Path, journal: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cellsim"));
    c.arg("serve")
        .arg("--standalone")
        .arg("--journal")
        .arg(journal)
        .arg("--config")
        .arg(config)
        .args(["--listen", "127.0.0.1:0"])
        .args(extra);
    c
}

/// Starts the binary and waits for "listening on ADDR" on stderr.
fn start(config: &Path, journal: &Path, extra: &[&str]) -> Server {
    let mut child = command(config, journal, extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cellsim starts");
    let stderr = child.stderr.take();
    let (tx, rx) = channel();
    // Dropping the server (also when this function panics) kills and reaps the child.
    let mut server = Server {
        child,
        base: String::new(),
        lines: rx,
    };
    let stderr = stderr.expect("stderr piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match server.lines.recv_timeout(left) {
            Ok(line) => {
                if let Some(addr) = line.strip_prefix("cellsim serve: listening on ") {
                    server.base = format!("http://{addr}");
                    wait_healthy(&server.base);
                    return server;
                }
                seen.push(line);
            }
            Err(_) => panic!("the server did not start; stderr:\n{}", seen.join("\n")),
        }
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

fn http(method: &str, url: &str, body: &str) -> (u16, Value) {
    let a = agent();
    let result = match method {
        "GET" => a.get(url).call(),
        "DELETE" => a.delete(url).call(),
        "PUT" => a
            .put(url)
            .header("content-type", "application/json")
            .send(body),
        _ => a
            .post(url)
            .header("content-type", "application/json")
            .send(body),
    };
    let mut response = result.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn wait_healthy(base: &str) {
    for _ in 0..100 {
        if let Ok(r) = agent().get(&format!("{base}/healthz")).call()
            && r.status().as_u16() == 200
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{base}/healthz never answered 200");
}

impl Server {
    fn get(&self, path: &str) -> Value {
        let (status, body) = http("GET", &format!("{}{path}", self.base), "");
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Filters (and binds, when `bind`) one pod; returns the filter result.
    fn place(&self, name: &str, spec_yaml: &str, bind: bool) -> Value {
        let p = pod("default", name, &format!("uid-{name}"), spec_yaml);
        let (status, r) = http(
            "POST",
            &format!("{}/v1/extender/filter", self.base),
            &filter_args(&p, &["node-a", "node-b"]),
        );
        assert_eq!(status, 200, "{r}");
        if bind {
            let node = r["NodeNames"][0]
                .as_str()
                .unwrap_or_else(|| panic!("no node: {r}"));
            let (status, b) = http(
                "POST",
                &format!("{}/v1/extender/bind", self.base),
                &bind_args("default", name, &format!("uid-{name}"), node),
            );
            assert_eq!((status, b["Error"].as_str()), (200, Some("")), "{b}");
        }
        r
    }

    fn views(&self) -> Vec<Value> {
        [
            "/v1/inspect/clusterstatus",
            "/v1/inspect/affinitygroups/",
            "/v1/nodes",
        ]
        .iter()
        .map(|p| self.get(p))
        .collect()
    }

    /// SIGKILL: no chance to flush or clean up.
    fn kill9(mut self) {
        self.child.kill().expect("kill -9");
        let _ = self.child.wait();
    }
}

#[test]
fn journal_survives_kill_9() {
    let dir = temp_dir("kill9");
    let config = dir.join("cluster.yaml");
    let journal = dir.join("journal.jsonl");
    std::fs::write(&config, TWO_NODES).expect("config written");
    let server = start(&config, &journal, &[]);
    server.place("g1-0", &spec("vc-a", 10, "g1", 2, 2), true);
    server.place("g1-1", &spec("vc-a", 10, "g1", 2, 2), true);
    server.place("g2-0", &spec("vc-b", 10, "g2", 1, 1), true);
    // Placed but never bound: the restart must show it the same way.
    server.place("g3-0", &spec("vc-b", -1, "g3", 1, 1), false);
    let (status, r) = http(
        "PUT",
        &format!("{}/v1/nodes/node-b", server.base),
        r#"{"healthy": false}"#,
    );
    assert_eq!(status, 200, "{r}");
    let (status, r) = http(
        "DELETE",
        &format!("{}/v1/pods/default/g1-0", server.base),
        "",
    );
    assert_eq!(
        (status, &r["groupFreed"]),
        (200, &Value::Bool(false)),
        "{r}"
    );
    let before = server.views();
    server.kill9();

    let server = start(&config, &journal, &[]);
    assert_eq!(server.views(), before, "state after kill -9 differs");
    // It goes on from there: the group's last pod leaves, the node returns.
    let (status, r) = http(
        "DELETE",
        &format!("{}/v1/pods/default/g1-1", server.base),
        "",
    );
    assert_eq!((status, &r["groupFreed"]), (200, &Value::Bool(true)), "{r}");
    let (status, _) = http(
        "PUT",
        &format!("{}/v1/nodes/node-b", server.base),
        r#"{"healthy": true}"#,
    );
    assert_eq!(status, 200);
    let before = server.views();
    server.kill9();

    let server = start(&config, &journal, &[]);
    assert_eq!(
        server.views(),
        before,
        "state after the second kill -9 differs"
    );
    let groups = server.get("/v1/inspect/affinitygroups/");
    let names: Vec<&str> = groups["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|g| g["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["g2", "g3"]);
}

#[test]
fn watch_config_reloads_and_keeps_running_groups() {
    let dir = temp_dir("watch");
    let config = dir.join("cluster.yaml");
    let journal = dir.join("journal.jsonl");
    std::fs::write(&config, TWO_NODES).expect("config written");
    let server = start(&config, &journal, &["--watch-config"]);
    server.place("w-0", &spec("vc-a", 10, "w", 1, 2), true);
    let group = server.get("/v1/inspect/affinitygroups/w");
    // A third node joins the rack.
    let grown = TWO_NODES
        .replace(
            "RACK: {childCellType: NODE, childCellNumber: 2}",
            "RACK: {childCellType: NODE, childCellNumber: 3}",
        )
        .replace(
            "    - cellAddress: node-b\n",
            "    - cellAddress: node-b\n    - cellAddress: node-c\n",
        );
    assert_ne!(grown, TWO_NODES);
    std::fs::write(&config, &grown).expect("config rewritten");
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.get("/v1/nodes").as_array().map(Vec::len) != Some(3) {
        assert!(Instant::now() < deadline, "the new config was not loaded");
        std::thread::sleep(Duration::from_millis(100));
    }
    let after = server.get("/v1/inspect/affinitygroups/w");
    assert_eq!(
        after["status"]["physicalPlacement"],
        group["status"]["physicalPlacement"]
    );
    assert_eq!(
        after["status"]["allocatedPods"],
        group["status"]["allocatedPods"]
    );
    // An invalid edit is ignored: the server keeps the config it has.
    std::fs::write(&config, "physicalCluster: [").expect("config rewritten");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(server.get("/v1/nodes").as_array().map(Vec::len), Some(3));
    let before = server.views();
    server.kill9();
    std::fs::write(&config, &grown).expect("config restored");
    let server = start(&config, &journal, &[]);
    assert_eq!(
        server.views(),
        before,
        "the reloaded config was not journaled"
    );
}

#[test]
fn bad_config_or_journal_exits_1() {
    let dir = temp_dir("bad");
    let config = dir.join("cluster.yaml");
    let journal = dir.join("journal.jsonl");
    std::fs::write(&config, "physicalCluster: {cellTypes: 3}").expect("written");
    let out = command(&config, &journal, &[]).output().expect("runs");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&config, TWO_NODES).expect("written");
    std::fs::write(&journal, "{\"op\":\"bind\",\"uid\":\"x\"}\nnot a journal\n").expect("written");
    let out = command(&config, &journal, &[]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line"), "{stderr}");
    // --standalone without --journal is a usage error.
    let out = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(["serve", "--standalone", "--config"])
        .arg(&config)
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

/// A preemption still in flight (victims not gone yet) is not journaled: a reservation
/// is not a placement. After a restart the victim is still placed exactly where it was,
/// nothing is preempting, and the preemptor is decided again when it is retried: it
/// preempts again, and binds once the victim is gone. See: issue 19.
#[tokio::test]
async fn a_preemption_in_flight_is_decided_again_after_a_restart() {
    use crate::live_support::{call, filter, get, place, two_nodes};
    use axum::http::Method;
    use cellsim::live::LiveState;
    use cellsim::live::http::App;
    use std::sync::Arc;

    let dir = temp_dir("inflight");
    let journal = dir.join("journal.jsonl");
    let open = || {
        let (state, restored) = LiveState::open_journal(&two_nodes(), TWO_NODES, &journal, 10_000)
            .expect("journal opens");
        assert!(restored.reconfigured.is_none(), "same config");
        Arc::new(App::new(state, None, true))
    };
    let app = open();
    let low = pod("default", "low", "uid-low", &spec("vc-a", 10, "low", 1, 4));
    let node = place(&app, &low, &["node-a", "node-b"]).await;
    let high = pod(
        "default",
        "high",
        "uid-high",
        &spec("vc-a", 100, "high", 1, 4),
    );
    let r = filter(&app, &high, &["node-a", "node-b"]).await;
    assert!(r["FailedNodes"][&node].is_string(), "{r}");
    // kube-scheduler then calls preempt, which reserves the cells.
    let args = serde_json::json!({"Pod": high, "NodeNameToMetaVictims": {&node: {"Pods": [], "NumPDBViolations": 0}}});
    let (status, r) = call(
        &app,
        Method::POST,
        "/v1/extender/preempt",
        &args.to_string(),
    )
    .await;
    assert_eq!(status, axum::http::StatusCode::OK, "{r}");
    let groups = get(&app, "/v1/inspect/affinitygroups/").await;
    assert_eq!(
        groups["items"][0]["status"]["state"], "Preempting",
        "{groups}"
    );
    let low_before = get(&app, "/v1/inspect/affinitygroups/low").await;
    drop(app);
    let app = open();
    let low_after = get(&app, "/v1/inspect/affinitygroups/low").await;
    assert_eq!(
        low_after["status"]["physicalPlacement"],
        low_before["status"]["physicalPlacement"]
    );
    assert_eq!(low_after["status"]["state"], "Allocated");
    let groups = get(&app, "/v1/inspect/affinitygroups/").await;
    assert_eq!(
        groups["items"].as_array().map(Vec::len),
        Some(1),
        "{groups}"
    );
    let r = filter(&app, &high, &["node-a", "node-b"]).await;
    assert!(r["FailedNodes"][&node].is_string(), "{r}");
    let (status, _) = call(&app, Method::DELETE, "/v1/pods/default/low", "").await;
    assert_eq!(status, axum::http::StatusCode::OK);
    assert_eq!(place(&app, &high, &["node-a", "node-b"]).await, node);
}

/// Two racks of two 4-GPU nodes; vc-a and vc-b own two nodes each.
const FOUR_NODES: &str = "
physicalCluster:
  cellTypes:
    NODE: {childCellType: GPU, childCellNumber: 4, isNodeLevel: true}
    RACK: {childCellType: NODE, childCellNumber: 2}
  physicalCells:
  - cellType: RACK
    cellChildren: [{cellAddress: node-a}, {cellAddress: node-b}]
  - cellType: RACK
    cellChildren: [{cellAddress: node-c}, {cellAddress: node-d}]
virtualClusters:
  vc-a: {virtualCells: [{cellType: RACK.NODE, cellNumber: 2}]}
  vc-b: {virtualCells: [{cellType: RACK.NODE, cellNumber: 2}]}
";

/// FOUR_NODES with node-b deleted (node-e takes its place in the rack).
fn node_b_deleted() -> String {
    FOUR_NODES.replace("node-b", "node-e")
}

/// FOUR_NODES with the first rack split into two top-level nodes (a chain of their own).
fn first_rack_split() -> String {
    FOUR_NODES
        .replace(
            "  - cellType: RACK\n    cellChildren: [{cellAddress: node-a}, {cellAddress: node-b}]\n",
            "  - {cellType: NODE, cellAddress: node-a}\n  - {cellType: NODE, cellAddress: node-b}\n",
        )
        .replace(
            "vc-a: {virtualCells: [{cellType: RACK.NODE, cellNumber: 2}]}",
            "vc-a: {virtualCells: [{cellType: NODE, cellNumber: 2}]}",
        )
}

impl Server {
    /// Places and binds whole-node opportunistic pods until one waits; their nodes.
    fn fill_with_whole_nodes(&self, prefix: &str) -> Vec<String> {
        let mut nodes = Vec::new();
        for k in 0..8 {
            let name = format!("{prefix}-{k}");
            let r = self.place(&name, &spec("vc-b", -1, &name, 1, 4), false);
            let Some(node) = r["NodeNames"][0].as_str() else {
                break;
            };
            let (status, b) = http(
                "POST",
                &format!("{}/v1/extender/bind", self.base),
                &bind_args("default", &name, &format!("uid-{name}"), node),
            );
            assert_eq!((status, b["Error"].as_str()), (200, Some("")), "{b}");
            nodes.push(node.to_string());
        }
        nodes
    }
}

/// A 2-pod vc-a gang on node-a and node-b, bound.
fn start_with_a_gang(config: &Path, journal: &Path, extra: &[&str]) -> (Server, Value) {
    std::fs::write(config, FOUR_NODES).expect("config written");
    let server = start(config, journal, extra);
    let gang = spec("vc-a", 10, "gang", 2, 4);
    let first = server.place("gang-0", &gang, true);
    let second = server.place("gang-1", &gang, true);
    let mut nodes = vec![
        first["NodeNames"][0]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        second["NodeNames"][0]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ];
    nodes.sort();
    assert_eq!(nodes, ["node-a", "node-b"]);
    let placement =
        server.get("/v1/inspect/affinitygroups/gang")["status"]["physicalPlacement"].clone();
    (server, placement)
}

/// After a config change the running gang keeps its place, and new pods never get the
/// GPUs it still holds. Checked through a restart on the journal and through
/// `--watch-config`, for a deleted node and for a rack split into top-level nodes.
#[test]
fn reconfiguration_never_places_a_pod_on_a_running_pods_gpus() {
    for (case, edited, gang_nodes) in [
        ("deleted", node_b_deleted(), vec!["node-a"]),
        ("split", first_rack_split(), vec!["node-a", "node-b"]),
    ] {
        assert_ne!(edited, FOUR_NODES, "{case}: the edit changed nothing");
        // Through a restart with the edited config.
        let dir = temp_dir(&format!("reconfig-{case}"));
        let (config, journal) = (dir.join("cluster.yaml"), dir.join("journal.jsonl"));
        let (server, placement) = start_with_a_gang(&config, &journal, &[]);
        server.kill9();
        std::fs::write(&config, &edited).expect("config edited");
        let server = start(&config, &journal, &[]);
        let check = |server: &Server, how: &str| {
            // Inspect shows (as HiveD's) the devices still in the config.
            let after = server.get("/v1/inspect/affinitygroups/gang");
            let mut kept = placement.clone();
            if let Some(map) = kept.as_object_mut() {
                map.retain(|node, _| gang_nodes.contains(&node.as_str()));
            }
            assert_eq!(
                after["status"]["physicalPlacement"], kept,
                "{case} ({how}): the gang moved"
            );
            let filled = server.fill_with_whole_nodes(&format!("fill-{how}"));
            for node in &gang_nodes {
                assert!(
                    !filled.contains(&node.to_string()),
                    "{case} ({how}): a new pod was put on {node}, which the gang holds: {filled:?}"
                );
            }
            assert_eq!(
                filled.len(),
                4 - gang_nodes.len(),
                "{case} ({how}): every other node is usable: {filled:?}"
            );
        };
        check(&server, "restart");
        drop(server);

        // Through --watch-config, without a restart.
        let dir = temp_dir(&format!("watch-{case}"));
        let (config, journal) = (dir.join("cluster.yaml"), dir.join("journal.jsonl"));
        let (server, _) = start_with_a_gang(&config, &journal, &["--watch-config"]);
        std::fs::write(&config, &edited).expect("config edited");
        let deadline = Instant::now() + Duration::from_secs(20);
        let nodes_now = |server: &Server| server.get("/v1/nodes").to_string();
        let expected_node = if case == "deleted" {
            "node-e"
        } else {
            "node-a"
        };
        while case == "deleted" && !nodes_now(&server).contains(expected_node) {
            assert!(
                Instant::now() < deadline,
                "the edited config was not loaded"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        if case == "split" {
            // Nothing in the node list changes: wait for the reload's log line.
            loop {
                let left = deadline.saturating_duration_since(Instant::now());
                match server.lines.recv_timeout(left) {
                    Ok(line) if line.contains("config reloaded") => break,
                    Ok(_) => {}
                    Err(_) => panic!("the edited config was not loaded"),
                }
            }
        }
        check(&server, "watch");
    }
}
