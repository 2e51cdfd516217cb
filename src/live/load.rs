//! `cellsim load`: a client that plays kube-scheduler and pods against a running
//! standalone `cellsim serve`, to measure it and to check it after a crash.
//!
//! Each of `clients` threads loops: while the GPUs its run holds are under the occupancy
//! band it submits a group (1/2/4/8-GPU pods and 2x8 / 4x8 gangs, some opportunistic),
//! filtering each pod with every node name as kube-scheduler sends them and binding it to
//! the answered node; above the band it deletes a held group; inside it, either. A group
//! that waits is dropped; one answered with a preemption is withdrawn (its pod deleted),
//! since this client plays no victims. Every acknowledged bind and delete goes into a
//! [`Ledger`]; an operation whose answer never came (the server died) leaves its group
//! *in doubt*. [`verify`] then checks a (restarted) server against the ledger: every held
//! group on the same nodes and devices with its pods, every deleted group gone, nothing
//! else there. Timing is reported, never asserted.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cell::SCHEDULING_SPEC_ANNOTATION;
use crate::config::CellConfig;

/// The namespace of every pod the client creates.
pub const NAMESPACE: &str = "load";

/// Options of one load run.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// Base URL of the server, e.g. `http://127.0.0.1:9096`.
    pub url: String,
    /// Concurrent clients (threads, one connection each).
    pub clients: usize,
    /// How long to run.
    pub duration: Duration,
    /// Seed of the clients' choices (client `i` uses `seed + i`).
    pub seed: u64,
    /// Occupancy band, as fractions of the cluster's GPUs held by this client.
    pub low: f64,
    /// Upper end of the band.
    pub high: f64,
    /// Ask the server for each bound group's placement (for [`verify`]); one more call
    /// per group, so off when only measuring.
    pub record_placements: bool,
}

/// What happened to a group, as far as the client knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Fate {
    /// Every pod bound (acknowledged).
    Held,
    /// Gone: every delete acknowledged, or never placed.
    Gone,
    /// An answer never came: either outcome is right.
    InDoubt,
}

/// One group of the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LedgerGroup {
    /// GPUs of the whole group.
    pub gpus: u64,
    /// Pod names (the uid is the same).
    pub pods: Vec<String>,
    /// Its fate.
    pub fate: Fate,
    /// Node -> devices, as the server showed it once bound (when recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<BTreeMap<String, Vec<u32>>>,
}

/// What the client has had acknowledged, by group name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ledger {
    /// Number of the next group (names stay unique across runs on one ledger).
    pub next_group: u64,
    /// Groups by name.
    pub groups: BTreeMap<String, LedgerGroup>,
}

/// Latencies of one kind of call, in microseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Latencies {
    /// Calls answered.
    pub count: usize,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest.
    pub max_us: u64,
}

impl Latencies {
    fn of(mut samples: Vec<u64>) -> Latencies {
        samples.sort_unstable();
        // Nearest rank, with the one percentile helper of the reports.
        let at = |pct: u32| {
            if samples.is_empty() {
                0
            } else {
                crate::report::summary::percentile(&samples, pct)
            }
        };
        Latencies {
            count: samples.len(),
            p50_us: at(50),
            p99_us: at(99),
            max_us: samples.last().copied().unwrap_or(0),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    /// Wall-clock seconds of the run.
    pub seconds: f64,
    /// Acknowledged filter+bind pairs.
    pub pairs: u64,
    /// Pairs per second.
    pub pairs_per_second: f64,
    /// Filter calls.
    pub filter: Latencies,
    /// Bind calls.
    pub bind: Latencies,
    /// Delete calls.
    pub delete: Latencies,
    /// Groups dropped because they waited.
    pub waits: u64,
    /// Groups withdrawn after a preemption answer.
    pub preemptions: u64,
    /// Pods refused (filter error or refused bind).
    pub refusals: u64,
    /// Occupancy (held GPUs / cluster GPUs) at the end.
    pub occupancy_end: f64,
    /// The first transport error, when the server stopped answering.
    pub stopped_by: Option<String>,
}

/// One group shape: pods x GPUs per pod, and its weight.
const SHAPES: [(u32, u32, u32); 6] = [
    (1, 1, 30),
    (1, 2, 15),
    (1, 4, 15),
    (1, 8, 20),
    (2, 8, 12),
    (4, 8, 8),
];

struct Shared {
    options: LoadOptions,
    total_gpus: u64,
    vcs: Vec<(String, u64)>,
    filter_prefix: String,
    filter_suffix: String,
    ledger: Mutex<Ledger>,
    /// Held groups other clients may delete.
    pool: Mutex<Vec<String>>,
    held_gpus: AtomicU64,
    stop: AtomicBool,
    stopped_by: Mutex<Option<String>>,
    pairs: AtomicU64,
    waits: AtomicU64,
    preemptions: AtomicU64,
    refusals: AtomicU64,
}

#[derive(Default)]
struct Samples {
    filter: Vec<u64>,
    bind: Vec<u64>,
    delete: Vec<u64>,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// One HTTP call; `Err` is a transport failure (the server is gone).
fn call(agent: &ureq::Agent, method: &str, url: &str, body: &str) -> Result<(u16, String), String> {
    let result = match method {
        "GET" => agent.get(url).call(),
        "DELETE" => agent.delete(url).call(),
        _ => agent
            .post(url)
            .header("content-type", "application/json")
            .send(body),
    };
    let mut response = result.map_err(|e| format!("{method} {url}: {e}"))?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("{method} {url}: {e}"))?;
    Ok((status, text))
}

fn pod_json(name: &str, spec: &str) -> Value {
    json!({
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "uid": name,
            "annotations": {SCHEDULING_SPEC_ANNOTATION: spec},
        },
        "spec": {
            "schedulerName": "hivedscheduler",
            "containers": [{
                "name": "main",
                "resources": {"limits": {
                    "hivedscheduler.microsoft.com/pod-scheduling-enable": "1"
                }}
            }]
        },
        "status": {"phase": "Pending"}
    })
}

/// How a filter call ended.
enum Filtered {
    Node(String),
    Wait,
    Preempt,
    Refused,
}

fn classify_filter(status: u16, body: &str) -> Filtered {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return Filtered::Refused;
    };
    if status != 200 || v["Error"].as_str().is_some_and(|e| !e.is_empty()) {
        return Filtered::Refused;
    }
    if let Some(node) = v["NodeNames"][0].as_str() {
        return Filtered::Node(node.to_string());
    }
    match v["FailedNodes"].as_object() {
        Some(m) if m.contains_key(super::state::WAIT_KEY) => Filtered::Wait,
        Some(m) if !m.is_empty() => Filtered::Preempt,
        _ => Filtered::Refused,
    }
}

impl Shared {
    fn fail(&self, why: String) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(mut s) = self.stopped_by.lock()
            && s.is_none()
        {
            *s = Some(why);
        }
    }

    fn set_fate(&self, group: &str, fate: Fate) {
        if let Ok(mut l) = self.ledger.lock()
            && let Some(g) = l.groups.get_mut(group)
        {
            g.fate = fate;
        }
    }

    /// Deletes `pods` of `group`; false (group left in doubt) when the server is gone.
    fn delete_pods(&self, agent: &ureq::Agent, pods: &[String], samples: &mut Samples) -> bool {
        for pod in pods {
            let url = format!("{}/v1/pods/{NAMESPACE}/{pod}", self.options.url);
            let started = Instant::now();
            match call(agent, "DELETE", &url, "") {
                // 404: the pod was never placed (or its delete was already done).
                Ok((200 | 404, _)) => samples.delete.push(started.elapsed().as_micros() as u64),
                Ok((status, body)) => {
                    self.fail(format!("DELETE {url}: {status} {body}"));
                    return false;
                }
                Err(e) => {
                    self.fail(e);
                    return false;
                }
            }
        }
        true
    }

    fn submit(&self, agent: &ureq::Agent, rng: &mut ChaCha8Rng, samples: &mut Samples) {
        let total: u32 = SHAPES.iter().map(|s| s.2).sum();
        let mut pick = rng.random_range(0..total);
        let &(pods, gpus, _) = SHAPES
            .iter()
            .find(|s| {
                if pick < s.2 {
                    true
                } else {
                    pick -= s.2;
                    false
                }
            })
            .unwrap_or(&SHAPES[0]);
        let weights: u64 = self.vcs.iter().map(|v| v.1).sum();
        let mut pick = rng.random_range(0..weights.max(1));
        let vc = self
            .vcs
            .iter()
            .find(|v| {
                if pick < v.1 {
                    true
                } else {
                    pick -= v.1;
                    false
                }
            })
            .map(|v| v.0.clone())
            .unwrap_or_default();
        let priority = if rng.random_range(0..10) == 0 { -1 } else { 10 };
        let (name, pod_names) = {
            let Ok(mut l) = self.ledger.lock() else {
                return;
            };
            let name = format!("g{}", l.next_group);
            l.next_group += 1;
            let pod_names: Vec<String> = (0..pods).map(|i| format!("{name}-{i}")).collect();
            l.groups.insert(
                name.clone(),
                LedgerGroup {
                    gpus: u64::from(pods * gpus),
                    pods: pod_names.clone(),
                    fate: Fate::InDoubt,
                    placement: None,
                },
            );
            (name, pod_names)
        };
        let spec = format!(
            "virtualCluster: {vc}\npriority: {priority}\nleafCellNumber: {gpus}\n\
             affinityGroup:\n  name: {NAMESPACE}/{name}\n  members:\n  - podNumber: {pods}\n    leafCellNumber: {gpus}\n"
        );
        for (i, pod) in pod_names.iter().enumerate() {
            let body = format!(
                "{}{}{}",
                self.filter_prefix,
                pod_json(pod, &spec),
                self.filter_suffix
            );
            let started = Instant::now();
            let url = format!("{}/v1/extender/filter", self.options.url);
            let filtered = match call(agent, "POST", &url, &body) {
                Ok((status, text)) => {
                    samples.filter.push(started.elapsed().as_micros() as u64);
                    classify_filter(status, &text)
                }
                Err(e) => return self.fail(e),
            };
            let node = match filtered {
                Filtered::Node(node) => node,
                other => {
                    match &other {
                        Filtered::Wait => self.waits.fetch_add(1, Ordering::Relaxed),
                        Filtered::Preempt => self.preemptions.fetch_add(1, Ordering::Relaxed),
                        _ => self.refusals.fetch_add(1, Ordering::Relaxed),
                    };
                    // Withdraw what was placed so far, and this pod's reservation.
                    let placed = if matches!(other, Filtered::Preempt) {
                        i + 1
                    } else {
                        i
                    };
                    if self.delete_pods(agent, &pod_names[..placed], samples) {
                        self.set_fate(&name, Fate::Gone);
                    }
                    return;
                }
            };
            let bind =
                json!({"PodName": pod, "PodNamespace": NAMESPACE, "PodUID": pod, "Node": node})
                    .to_string();
            let url = format!("{}/v1/extender/bind", self.options.url);
            let started = Instant::now();
            match call(agent, "POST", &url, &bind) {
                Ok((200, text)) if text.contains("\"Error\":\"\"") => {
                    samples.bind.push(started.elapsed().as_micros() as u64);
                    self.pairs.fetch_add(1, Ordering::Relaxed);
                }
                Ok((200, _)) => {
                    samples.bind.push(started.elapsed().as_micros() as u64);
                    self.refusals.fetch_add(1, Ordering::Relaxed);
                    if self.delete_pods(agent, &pod_names[..=i], samples) {
                        self.set_fate(&name, Fate::Gone);
                    }
                    return;
                }
                Ok((status, text)) => return self.fail(format!("bind: {status} {text}")),
                Err(e) => return self.fail(e),
            }
        }
        let mut placement = None;
        if self.options.record_placements {
            let url = format!(
                "{}/v1/inspect/affinitygroups/{NAMESPACE}/{name}",
                self.options.url
            );
            match call(agent, "GET", &url, "") {
                Ok((200, text)) => {
                    placement = serde_json::from_str::<Value>(&text).ok().and_then(|v| {
                        serde_json::from_value(v["status"]["physicalPlacement"].clone()).ok()
                    });
                }
                Ok((status, text)) => return self.fail(format!("GET {url}: {status} {text}")),
                Err(e) => return self.fail(e),
            }
        }
        if let Ok(mut l) = self.ledger.lock()
            && let Some(g) = l.groups.get_mut(&name)
        {
            g.fate = Fate::Held;
            g.placement = placement;
            self.held_gpus.fetch_add(g.gpus, Ordering::SeqCst);
        }
        if let Ok(mut pool) = self.pool.lock() {
            pool.push(name);
        }
    }

    fn delete_one(&self, agent: &ureq::Agent, rng: &mut ChaCha8Rng, samples: &mut Samples) {
        let name = {
            let Ok(mut pool) = self.pool.lock() else {
                return;
            };
            if pool.is_empty() {
                return;
            }
            let i = rng.random_range(0..pool.len());
            pool.swap_remove(i)
        };
        let (pods, gpus) = {
            let Ok(mut l) = self.ledger.lock() else {
                return;
            };
            let Some(g) = l.groups.get_mut(&name) else {
                return;
            };
            g.fate = Fate::InDoubt;
            (g.pods.clone(), g.gpus)
        };
        self.held_gpus.fetch_sub(gpus, Ordering::SeqCst);
        if self.delete_pods(agent, &pods, samples) {
            self.set_fate(&name, Fate::Gone);
        }
    }

    fn client(&self, index: usize, end: Instant) -> Samples {
        let agent = agent();
        let mut rng = ChaCha8Rng::seed_from_u64(self.options.seed.wrapping_add(index as u64));
        let mut samples = Samples::default();
        while !self.stop.load(Ordering::SeqCst) && Instant::now() < end {
            let occupancy = self.held_gpus.load(Ordering::SeqCst) as f64 / self.total_gpus as f64;
            let delete = occupancy >= self.options.high
                || (occupancy >= self.options.low && rng.random_range(0..2) == 0);
            if delete {
                self.delete_one(&agent, &mut rng, &mut samples);
            } else {
                self.submit(&agent, &mut rng, &mut samples);
            }
        }
        samples
    }
}

/// Runs the load on `config`'s cluster (the one the server runs), adding to `ledger`.
/// Groups the ledger holds count towards occupancy and may be deleted.
pub fn run(config: &CellConfig, options: &LoadOptions, ledger: Ledger) -> (LoadReport, Ledger) {
    let alloc = crate::cell::Allocator::new(config);
    let nodes: Vec<&str> = alloc
        .topology()
        .nodes
        .iter()
        .map(|n| n.name.as_str())
        .collect();
    let total_gpus = crate::sched::guaranteed_gpus(config)
        .values()
        .map(|&g| u64::from(g))
        .sum::<u64>()
        .max(1);
    let vcs: Vec<(String, u64)> = crate::sched::guaranteed_gpus(config)
        .into_iter()
        .map(|(vc, g)| (vc, u64::from(g)))
        .collect();
    let held: Vec<String> = ledger
        .groups
        .iter()
        .filter(|(_, g)| g.fate == Fate::Held)
        .map(|(n, _)| n.clone())
        .collect();
    let held_gpus: u64 = held.iter().map(|n| ledger.groups[n].gpus).sum();
    let shared = Arc::new(Shared {
        filter_prefix: "{\"Pod\":".to_string(),
        filter_suffix: format!(
            ",\"Nodes\":null,\"NodeNames\":{}}}",
            serde_json::to_string(&nodes).unwrap_or_else(|_| "[]".into())
        ),
        options: options.clone(),
        total_gpus,
        vcs,
        ledger: Mutex::new(ledger),
        pool: Mutex::new(held),
        held_gpus: AtomicU64::new(held_gpus),
        stop: AtomicBool::new(false),
        stopped_by: Mutex::new(None),
        pairs: AtomicU64::new(0),
        waits: AtomicU64::new(0),
        preemptions: AtomicU64::new(0),
        refusals: AtomicU64::new(0),
    });
    let started = Instant::now();
    let end = started + options.duration;
    let handles: Vec<_> = (0..options.clients.max(1))
        .map(|i| {
            let s = shared.clone();
            std::thread::spawn(move || s.client(i, end))
        })
        .collect();
    let mut all = Samples::default();
    for h in handles {
        if let Ok(s) = h.join() {
            all.filter.extend(s.filter);
            all.bind.extend(s.bind);
            all.delete.extend(s.delete);
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let pairs = shared.pairs.load(Ordering::SeqCst);
    let report = LoadReport {
        seconds,
        pairs,
        pairs_per_second: pairs as f64 / seconds.max(1e-9),
        filter: Latencies::of(all.filter),
        bind: Latencies::of(all.bind),
        delete: Latencies::of(all.delete),
        waits: shared.waits.load(Ordering::SeqCst),
        preemptions: shared.preemptions.load(Ordering::SeqCst),
        refusals: shared.refusals.load(Ordering::SeqCst),
        occupancy_end: shared.held_gpus.load(Ordering::SeqCst) as f64 / total_gpus as f64,
        stopped_by: shared.stopped_by.lock().ok().and_then(|s| s.clone()),
    };
    let ledger = shared.ledger.lock().map(|l| l.clone()).unwrap_or_default();
    (report, ledger)
}

/// The groups a server shows: name -> (node -> devices, allocated pod uids).
type ServerGroups = BTreeMap<String, (BTreeMap<String, Vec<u32>>, Vec<String>)>;

fn server_groups(url: &str) -> Result<ServerGroups, String> {
    let (status, text) = call(
        &agent(),
        "GET",
        &format!("{url}/v1/inspect/affinitygroups/"),
        "",
    )?;
    if status != 200 {
        return Err(format!("GET /v1/inspect/affinitygroups/: {status} {text}"));
    }
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("groups: {e}"))?;
    let mut out = ServerGroups::new();
    for g in v["items"].as_array().into_iter().flatten() {
        let name = g["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let placement =
            serde_json::from_value(g["status"]["physicalPlacement"].clone()).unwrap_or_default();
        let pods = serde_json::from_value(g["status"]["allocatedPods"].clone()).unwrap_or_default();
        out.insert(name, (placement, pods));
    }
    Ok(out)
}

/// Checks the server against `ledger`: every held group there with its pods (and its
/// recorded placement), every gone group absent, no group the ledger does not know.
/// Returns what differs (empty: all good); `Err` when the server cannot be asked.
pub fn verify(url: &str, ledger: &Ledger) -> Result<Vec<String>, String> {
    let server = server_groups(url)?;
    let mut problems = Vec::new();
    for (name, g) in &ledger.groups {
        let key = format!("{NAMESPACE}/{name}");
        match (g.fate, server.get(&key)) {
            (Fate::Held, None) => problems.push(format!("held group {key} is gone")),
            (Fate::Held, Some((placement, pods))) => {
                if let Some(want) = &g.placement
                    && want != placement
                {
                    problems.push(format!(
                        "held group {key} moved: was on {want:?}, now on {placement:?}"
                    ));
                }
                for p in &g.pods {
                    if !pods.contains(p) {
                        problems.push(format!("bound pod {p} of held group {key} is gone"));
                    }
                }
            }
            (Fate::Gone, Some(_)) => problems.push(format!("deleted group {key} is back")),
            _ => {}
        }
    }
    for key in server.keys() {
        let known = key
            .strip_prefix(&format!("{NAMESPACE}/"))
            .is_some_and(|n| ledger.groups.contains_key(n));
        if !known {
            problems.push(format!("group {key} was never placed by this client"));
        }
    }
    Ok(problems)
}

/// Resolves groups in doubt: deletes whatever of them the server still has, so that
/// the ledger is exact again. `Err` when the server cannot be asked.
pub fn settle(url: &str, ledger: &mut Ledger) -> Result<(), String> {
    let server = server_groups(url)?;
    let agent = agent();
    for (name, g) in ledger.groups.iter_mut() {
        if g.fate != Fate::InDoubt {
            continue;
        }
        if server.contains_key(&format!("{NAMESPACE}/{name}")) {
            for p in &g.pods {
                let (status, text) = call(
                    &agent,
                    "DELETE",
                    &format!("{url}/v1/pods/{NAMESPACE}/{p}"),
                    "",
                )?;
                if status != 200 && status != 404 {
                    return Err(format!("DELETE {p}: {status} {text}"));
                }
            }
        }
        g.fate = Fate::Gone;
    }
    Ok(())
}

/// The report as text lines.
pub fn render(report: &LoadReport, options: &LoadOptions) -> String {
    let row = |name: &str, l: &Latencies| {
        format!(
            "{name:<7} {:>8} calls  p50 {:>6} us  p99 {:>6} us  max {:>7} us\n",
            l.count, l.p50_us, l.p99_us, l.max_us
        )
    };
    let mut out = format!(
        "{} clients, {:.1} s: {} filter+bind pairs, {:.0} pairs/s; occupancy at the end {:.0}%\n",
        options.clients,
        report.seconds,
        report.pairs,
        report.pairs_per_second,
        report.occupancy_end * 100.0
    );
    out.push_str(&row("filter", &report.filter));
    out.push_str(&row("bind", &report.bind));
    out.push_str(&row("delete", &report.delete));
    out.push_str(&format!(
        "groups dropped: {} waited, {} preempted (withdrawn), {} refused\n",
        report.waits, report.preemptions, report.refusals
    ));
    if let Some(why) = &report.stopped_by {
        out.push_str(&format!("stopped early: {why}\n"));
    }
    out
}
