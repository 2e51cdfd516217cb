//! Invariants of the simulator on random small scenarios, through every scheduler model
//! (issue 3, "Determinism and correctness tests"). A proptest builds a random cluster (1-3
//! chains with or without rack and PCIe-switch levels, VCs carved out of random cells),
//! 5-40 jobs (random submit times, sizes, priorities including -1, gang or per-task,
//! lazy preemption, kill times, leaf types), node down/up pairs, and sometimes a horizon
//! and checkpoints, runs it through each model and checks the run against the event log:
//!
//! - no group starts before its job is submitted, on a node that is down, on a device
//!   another running group holds, or with a GPU count other than its request's;
//! - the busy-GPU timeline matches the log and never exceeds the cluster (in total and
//!   per VC);
//! - every job ends finished, killed (at its kill time) or rejected, or is reported
//!   unfinished only when the horizon cut the run;
//! - a run that finishes lasted its duration (less the work kept at checkpoints), and the
//!   GPU time charged to jobs (`JobRecord.gpu_ms`) equals the sum over runs in the log;
//! - the same scenario and seed give identical results and byte-identical exports.
//!
//! tests/it/sim_engine.rs checks hand-worked scenarios and a fixed set of seeds; this file
//! owns the random search. A failing case is to be kept below as a named test that says
//! what it pins (none so far: about 13,000 cases have passed), not in a regressions file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use cellsim::cell::{GroupMember, GroupRequest};
use cellsim::config::{self, CellConfig};
use cellsim::report;
use cellsim::sched::{MODEL_NAMES, ModelOptions, yarn_cs::YarnOptions};
use cellsim::sim::scenario::{NodeEvent, NodeEventKind};
use cellsim::sim::{JobOutcome, RunResult, Scenario, SimEvent, SimJob, SimTimeMs, run_model};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

const S: SimTimeMs = 1000;

// ---------------------------------------------------------------------------------------
// Random scenarios, as plain data so that proptest can shrink them and a failing case can
// be pasted into a named test.

/// One chain: top cells are racks of nodes, or nodes when `nodes_per_rack` is 0.
#[derive(Debug, Clone)]
struct ChainSpec {
    /// 1, 2, 4 or 8 GPUs per node.
    gpus_per_node: u32,
    /// 4- and 8-GPU nodes as 2 PCIe switches.
    switches: bool,
    /// 0: nodes are the top cells.
    nodes_per_rack: u32,
    /// Top cells.
    tops: u32,
    /// The leaf type is `GPU`, shared with other chains that say so, instead of `G<chain>`.
    shared_leaf: bool,
}

#[derive(Debug, Clone)]
struct JobSpec {
    submit_s: u64,
    duration_s: u64,
    /// Index into the VCs that got cells; 7 names a VC the config does not have.
    vc: usize,
    priority: i32,
    gang: bool,
    lazy: bool,
    pods: u32,
    gpus_per_pod: u32,
    /// Killed this long after its submit time.
    kill_after_s: Option<u64>,
    /// Asks for the leaf type of this chain (modulo the chain count).
    leaf_of_chain: Option<usize>,
}

#[derive(Debug, Clone)]
struct NodeOutage {
    /// Index into the cluster's nodes (modulo their count).
    node: usize,
    down_s: u64,
    up_after_s: u64,
    /// The node is removed and added back instead of going down and up.
    removal: bool,
}

#[derive(Debug, Clone)]
struct Case {
    chains: Vec<ChainSpec>,
    vcs: usize,
    /// Choices that carve VC cells out of the physical cells, read in order (see `carve`).
    carve: Vec<u8>,
    jobs: Vec<JobSpec>,
    outages: Vec<NodeOutage>,
    horizon_s: Option<u64>,
    checkpoint_s: Option<u64>,
    yarn_max_percent: u32,
    seed: u64,
}

fn chain_spec() -> impl Strategy<Value = ChainSpec> {
    (
        prop::sample::select(vec![1u32, 2, 4, 4, 8]),
        any::<bool>(),
        0u32..=3,
        1u32..=2,
        any::<bool>(),
    )
        .prop_map(
            |(gpus_per_node, switches, nodes_per_rack, tops, shared_leaf)| ChainSpec {
                gpus_per_node,
                switches,
                nodes_per_rack,
                tops,
                shared_leaf,
            },
        )
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (
        (0u64..600, 1u64..=400, 0usize..8),
        prop::sample::select(vec![-1, -1, 0, 10, 10, 100, 1000]),
        (prop::bool::weighted(0.7), prop::bool::weighted(0.2)),
        (
            1u32..=3,
            prop::sample::select(vec![1u32, 1, 1, 2, 2, 3, 4, 8]),
        ),
        prop::option::weighted(0.15, 0u64..500),
        prop::option::weighted(0.1, 0usize..3),
    )
        .prop_map(
            |(
                (submit_s, duration_s, vc),
                priority,
                (gang, lazy),
                (pods, gpus_per_pod),
                kill_after_s,
                leaf_of_chain,
            )| JobSpec {
                submit_s,
                duration_s,
                vc,
                priority,
                gang,
                lazy,
                pods,
                gpus_per_pod,
                kill_after_s,
                leaf_of_chain,
            },
        )
}

fn outage() -> impl Strategy<Value = NodeOutage> {
    (0usize..64, 0u64..800, 1u64..400, any::<bool>()).prop_map(
        |(node, down_s, up_after_s, removal)| NodeOutage {
            node,
            down_s,
            up_after_s,
            removal,
        },
    )
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec(chain_spec(), 1..=3),
        1usize..=3,
        prop::collection::vec(any::<u8>(), 0..48),
        prop::collection::vec(job_spec(), 5..=40),
        prop::collection::vec(outage(), 0..=3),
        prop::option::weighted(0.25, 100u64..1200),
        prop::option::weighted(0.3, 1u64..200),
        prop::sample::select(vec![100u32, 100, 50, 30]),
        any::<u64>(),
    )
        .prop_map(
            |(
                chains,
                vcs,
                carve,
                jobs,
                outages,
                horizon_s,
                checkpoint_s,
                yarn_max_percent,
                seed,
            )| {
                Case {
                    chains,
                    vcs,
                    carve,
                    jobs,
                    outages,
                    horizon_s,
                    checkpoint_s,
                    yarn_max_percent,
                    seed,
                }
            },
        )
}

/// A chain's cell types top-down: (type, children per cell), the last one the leaf.
fn levels(c: usize, chain: &ChainSpec) -> Vec<(String, u32)> {
    let mut levels = Vec::new();
    if chain.nodes_per_rack > 0 {
        levels.push((format!("R{c}"), chain.nodes_per_rack));
    }
    let switches = chain.switches && chain.gpus_per_node >= 4;
    levels.push((
        format!("N{c}"),
        if switches { 2 } else { chain.gpus_per_node },
    ));
    if switches {
        levels.push((format!("S{c}"), chain.gpus_per_node / 2));
    }
    let leaf = if chain.shared_leaf {
        "GPU".to_string()
    } else {
        format!("G{c}")
    };
    levels.push((leaf, 0));
    levels
}

/// Gives VC cells out of one physical cell at `level` (and, when split, out of its
/// children), reading one choice per cell: 0 keeps it out of every VC, 5 splits it, the
/// rest give it whole to a VC. Once the choices run out, cells go whole to the VCs in
/// turn.
fn carve(
    levels: &[(String, u32)],
    level: usize,
    vcs: usize,
    choices: &mut impl Iterator<Item = u8>,
    demand: &mut BTreeMap<(usize, String), u32>,
) {
    let b = choices.next().unwrap_or_else(|| 1 + 6 * demand.len() as u8);
    match b % 6 {
        0 => {}
        5 if level + 1 < levels.len() => {
            for _ in 0..levels[level].1 {
                carve(levels, level + 1, vcs, choices, demand);
            }
        }
        _ => {
            let path: Vec<&str> = levels[..=level].iter().map(|(t, _)| t.as_str()).collect();
            *demand
                .entry((usize::from(b / 6) % vcs, path.join(".")))
                .or_default() += 1;
        }
    }
}

/// The HiveD config of a case, its nodes, and the leaf type of each chain.
fn cluster(case: &Case) -> (String, Vec<String>, Vec<String>) {
    let mut y = String::from("physicalCluster:\n  cellTypes:\n");
    let mut cells = String::from("  physicalCells:\n");
    let mut nodes = Vec::new();
    let mut leaves = Vec::new();
    let mut demand: BTreeMap<(usize, String), u32> = BTreeMap::new();
    let mut choices = case.carve.iter().copied();
    for (c, chain) in case.chains.iter().enumerate() {
        let levels = levels(c, chain);
        for pair in levels.windows(2) {
            let node_level = pair[0].0.starts_with('N');
            let _ = writeln!(
                y,
                "    {}: {{childCellType: {}, childCellNumber: {}, isNodeLevel: {node_level}}}",
                pair[0].0, pair[1].0, pair[0].1
            );
        }
        leaves.push(levels[levels.len() - 1].0.clone());
        for t in 0..chain.tops {
            if chain.nodes_per_rack > 0 {
                let _ = writeln!(cells, "  - cellType: R{c}\n    cellChildren:");
                for n in 0..chain.nodes_per_rack {
                    let node = format!("c{c}t{t}n{n}");
                    let _ = writeln!(cells, "    - cellAddress: {node}");
                    nodes.push(node);
                }
            } else {
                let node = format!("c{c}t{t}n0");
                let _ = writeln!(cells, "  - {{cellType: N{c}, cellAddress: {node}}}");
                nodes.push(node);
            }
            carve(&levels, 0, case.vcs, &mut choices, &mut demand);
        }
    }
    y.push_str(&cells);
    y.push_str("virtualClusters:\n");
    let mut by_vc: BTreeMap<usize, Vec<(String, u32)>> = BTreeMap::new();
    for ((vc, path), n) in demand {
        by_vc.entry(vc).or_default().push((path, n));
    }
    for (vc, cells) in by_vc {
        let _ = writeln!(y, "  vc{vc}:\n    virtualCells:");
        for (path, n) in cells {
            let _ = writeln!(y, "    - {{cellType: {path}, cellNumber: {n}}}");
        }
    }
    (y, nodes, leaves)
}

fn build(case: &Case) -> Scenario {
    let (yaml, nodes, leaves) = cluster(case);
    let config: CellConfig = config::load_str(&yaml, "sim_invariants")
        .unwrap_or_else(|e| panic!("the generated config is invalid: {e}\n{yaml}"));
    let vc_names: Vec<String> = config.virtual_clusters.keys().cloned().collect();
    let jobs = case
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| {
            let id = format!("j{i}");
            let vc = match vc_names.len() {
                _ if j.vc == 7 => "ghost".to_string(),
                0 => "ghost".to_string(),
                n => vc_names[j.vc % n].clone(),
            };
            let group = |name: String, pods: u32| GroupRequest {
                name,
                virtual_cluster: vc.clone(),
                priority: j.priority,
                leaf_cell_type: j.leaf_of_chain.map(|c| leaves[c % leaves.len()].clone()),
                pinned_cell_id: None,
                lazy_preemption_enable: j.lazy,
                ignore_k8s_suggested_nodes: true,
                members: vec![GroupMember::whole(pods, j.gpus_per_pod)],
            };
            let groups = if j.gang {
                vec![group(format!("{id}/default"), j.pods)]
            } else {
                (0..j.pods)
                    .map(|p| group(format!("{id}/task-{p}"), 1))
                    .collect()
            };
            SimJob {
                id,
                vc: vc.clone(),
                priority: j.priority,
                priority_label: j.priority.to_string(),
                user: None,
                submit_ms: j.submit_s * S,
                duration_ms: j.duration_s * S,
                kill_at_ms: j.kill_after_s.map(|k| (j.submit_s + k) * S),
                groups,
            }
        })
        .collect();
    let mut node_events = Vec::new();
    for o in &case.outages {
        let node = nodes[o.node % nodes.len()].clone();
        let (leave, back) = if o.removal {
            (NodeEventKind::Removed, NodeEventKind::Added)
        } else {
            (NodeEventKind::Down, NodeEventKind::Up)
        };
        node_events.push(NodeEvent {
            at_ms: o.down_s * S,
            node: node.clone(),
            kind: leave,
        });
        node_events.push(NodeEvent {
            at_ms: (o.down_s + o.up_after_s) * S,
            node,
            kind: back,
        });
    }
    Scenario {
        name: "random".to_string(),
        source: "tests/it/sim_invariants.rs".to_string(),
        seed: case.seed,
        horizon_ms: case.horizon_s.map(|h| h * S),
        models: MODEL_NAMES.iter().map(|m| m.to_string()).collect(),
        config,
        checkpoint_interval_ms: case.checkpoint_s.map(|c| c * S),
        model_options: ModelOptions {
            yarn_cs: YarnOptions {
                max_capacity_percent: case.yarn_max_percent,
                ..YarnOptions::default()
            },
            ..ModelOptions::default()
        },
        jobs,
        node_events,
        warnings: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// The checks

/// Fails the check with a message (a `?`-able `assert!`).
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

/// A group's run in progress while replaying the log.
struct OpenRun {
    job: usize,
    since: SimTimeMs,
    gpus: u64,
    devices: Vec<(String, u32)>,
}

/// Replays `r`'s event log against `s` and checks every invariant of the module docs.
fn check_run(s: &Scenario, r: &RunResult) -> Result<(), String> {
    let job_index: BTreeMap<&str, usize> = s
        .jobs
        .iter()
        .enumerate()
        .map(|(i, j)| (j.id.as_str(), i))
        .collect();
    // Group name -> (job, GPUs it asks for).
    let groups: BTreeMap<&str, (usize, u64)> = s
        .jobs
        .iter()
        .enumerate()
        .flat_map(|(i, j)| {
            j.groups
                .iter()
                .map(move |g| (g.name.as_str(), (i, g.leaf_count())))
        })
        .collect();
    let node_gpus: BTreeMap<&str, u32> = r.nodes.iter().map(|(n, g)| (n.as_str(), *g)).collect();
    let cut = s.horizon_ms.is_some_and(|h| r.end_ms == h);
    ensure!(
        s.horizon_ms.is_none_or(|h| r.end_ms <= h),
        "the run ended at {} ms, after the horizon",
        r.end_ms
    );
    ensure!(
        r.total_gpus == node_gpus.values().sum::<u32>(),
        "total_gpus {} is not the sum over nodes",
        r.total_gpus
    );

    let mut open: BTreeMap<String, OpenRun> = BTreeMap::new();
    let mut held: BTreeMap<(String, u32), String> = BTreeMap::new();
    let mut down: BTreeSet<String> = BTreeSet::new();
    // Work kept at checkpoints, per group.
    let mut kept: BTreeMap<String, SimTimeMs> = BTreeMap::new();
    let mut charged = vec![0u64; s.jobs.len()];
    let mut first_start: Vec<Option<SimTimeMs>> = vec![None; s.jobs.len()];
    let mut finished_groups: BTreeSet<String> = BTreeSet::new();
    let mut job_end: BTreeMap<usize, (SimTimeMs, &'static str)> = BTreeMap::new();
    let checkpoint = |work: SimTimeMs| match s.checkpoint_interval_ms {
        Some(c) => work / c * c,
        None => 0,
    };

    fn close(
        open: &mut BTreeMap<String, OpenRun>,
        held: &mut BTreeMap<(String, u32), String>,
        charged: &mut [u64],
        group: &str,
        t: SimTimeMs,
    ) -> Option<SimTimeMs> {
        let run = open.remove(group)?;
        for d in &run.devices {
            held.remove(d);
        }
        charged[run.job] += (t - run.since) * run.gpus;
        Some(t - run.since)
    }
    let busy_of = |open: &BTreeMap<String, OpenRun>| {
        let mut busy: BTreeMap<String, u32> = BTreeMap::new();
        for run in open.values() {
            *busy.entry(s.jobs[run.job].vc.clone()).or_default() += run.gpus as u32;
        }
        busy
    };
    let timeline_at = |t: SimTimeMs| {
        let point = r.timeline.iter().rev().find(|p| p.t <= t);
        let mut busy: BTreeMap<String, u32> = BTreeMap::new();
        for (vc, &n) in point.map(|p| &p.busy_by_vc).into_iter().flatten() {
            if n > 0 {
                busy.insert(vc.clone(), n);
            }
        }
        busy
    };

    let mut last_t = 0;
    for (k, e) in r.events.iter().enumerate() {
        let t = e.t();
        ensure!(t >= last_t, "event {k} ({e:?}) goes back in time");
        ensure!(
            t <= r.end_ms,
            "event {k} ({e:?}) is after the end of the run"
        );
        last_t = t;
        match e {
            SimEvent::JobSubmitted { job, .. } => {
                let j = job_index[job.as_str()];
                ensure!(t == s.jobs[j].submit_ms, "{job} submitted at {t} ms");
            }
            SimEvent::GroupStarted {
                job, group, pods, ..
            } => {
                let Some(&(j, gpus)) = groups.get(group.as_str()) else {
                    return Err(format!("unknown group {group} started"));
                };
                ensure!(
                    t >= s.jobs[j].submit_ms,
                    "{group} started at {t} ms, before its submit time {} ms",
                    s.jobs[j].submit_ms
                );
                ensure!(s.jobs[j].id == *job, "{group} started for job {job}");
                ensure!(!open.contains_key(group), "{group} started twice");
                let mut devices = Vec::new();
                for pod in pods {
                    ensure!(
                        !down.contains(&pod.node),
                        "{group} started at {t} ms on {}, which is down",
                        pod.node
                    );
                    let Some(&node_gpus) = node_gpus.get(pod.node.as_str()) else {
                        return Err(format!("{group} started on unknown node {}", pod.node));
                    };
                    for &d in &pod.devices {
                        ensure!(d < node_gpus, "{group} uses {} GPU {d}", pod.node);
                        let key = (pod.node.clone(), d);
                        if let Some(holder) = held.get(&key) {
                            return Err(format!(
                                "{group} started at {t} ms on {} GPU {d}, which {holder} holds",
                                pod.node
                            ));
                        }
                        held.insert(key.clone(), group.clone());
                        devices.push(key);
                    }
                }
                ensure!(
                    devices.len() as u64 == gpus,
                    "{group} started on {} GPUs, asked for {gpus}",
                    devices.len()
                );
                first_start[j].get_or_insert(t);
                open.insert(
                    group.clone(),
                    OpenRun {
                        job: j,
                        since: t,
                        gpus,
                        devices,
                    },
                );
            }
            SimEvent::GroupFinished { group, .. } => {
                let Some(ran) = close(&mut open, &mut held, &mut charged, group, t) else {
                    return Err(format!("{group} finished at {t} ms but was not running"));
                };
                let j = groups[group.as_str()].0;
                let work = kept.get(group).copied().unwrap_or(0);
                let expected = s.jobs[j].duration_ms.saturating_sub(work).max(1);
                ensure!(
                    ran == expected,
                    "{group} finished after running {ran} ms; expected {expected} ms \
                     (duration {} ms, {work} ms kept at checkpoints)",
                    s.jobs[j].duration_ms
                );
                finished_groups.insert(group.clone());
            }
            SimEvent::GroupPreempted { group, .. } | SimEvent::GroupFailed { group, .. } => {
                let suspended = matches!(
                    e,
                    SimEvent::GroupPreempted {
                        suspended: true,
                        ..
                    }
                );
                if let SimEvent::GroupFailed { node, pods, .. } = e {
                    ensure!(down.contains(node), "{group} failed on {node}, which is up");
                    ensure!(
                        pods.iter().any(|p| p.node == *node),
                        "{group} failed because of {node} but does not run there"
                    );
                }
                let Some(ran) = close(&mut open, &mut held, &mut charged, group, t) else {
                    return Err(format!("{group} interrupted at {t} ms but was not running"));
                };
                let work = kept.entry(group.clone()).or_default();
                // A suspension (preemptive policies) keeps all the work.
                *work = if suspended {
                    *work + ran
                } else {
                    checkpoint(*work + ran)
                };
            }
            SimEvent::JobKilled { job, .. } | SimEvent::JobRejected { job, .. } => {
                let j = job_index[job.as_str()];
                let mine: Vec<String> = open
                    .iter()
                    .filter(|(_, run)| run.job == j)
                    .map(|(g, _)| g.clone())
                    .collect();
                for g in mine {
                    close(&mut open, &mut held, &mut charged, &g, t);
                }
                let kind = if matches!(e, SimEvent::JobKilled { .. }) {
                    ensure!(
                        s.jobs[j].kill_at_ms == Some(t),
                        "{job} killed at {t} ms, its kill time is {:?}",
                        s.jobs[j].kill_at_ms
                    );
                    "killed"
                } else {
                    "rejected"
                };
                ensure!(job_end.insert(j, (t, kind)).is_none(), "{job} ended twice");
            }
            SimEvent::JobFinished { job, .. } => {
                let j = job_index[job.as_str()];
                for g in &s.jobs[j].groups {
                    ensure!(
                        finished_groups.contains(&g.name),
                        "{job} finished at {t} ms but {} did not",
                        g.name
                    );
                }
                ensure!(
                    job_end.insert(j, (t, "finished")).is_none(),
                    "{job} ended twice"
                );
            }
            SimEvent::NodeDown { node, .. } | SimEvent::NodeRemoved { node, .. } => {
                down.insert(node.clone());
            }
            SimEvent::NodeUp { node, .. } | SimEvent::NodeAdded { node, .. } => {
                down.remove(node);
            }
            SimEvent::GroupWaiting { group, .. } | SimEvent::GroupDowngraded { group, .. } => {
                ensure!(groups.contains_key(group.as_str()), "unknown group {group}");
            }
        }
        // After the last event at this time, the timeline must show what the log shows.
        if r.events.get(k + 1).is_none_or(|next| next.t() > t) {
            let busy = busy_of(&open);
            ensure!(
                timeline_at(t) == busy,
                "at {t} ms the timeline shows {:?} busy, the log {busy:?}",
                timeline_at(t)
            );
        }
    }
    ensure!(
        open.is_empty() || cut,
        "groups {:?} still run when the run ends at {} ms without a horizon cut",
        open.keys().collect::<Vec<_>>(),
        r.end_ms
    );
    for g in open.keys().cloned().collect::<Vec<_>>() {
        close(&mut open, &mut held, &mut charged, &g, r.end_ms);
    }

    for p in &r.timeline {
        let busy: u32 = p.busy_by_vc.values().sum();
        ensure!(
            busy <= p.capacity_gpus && p.capacity_gpus <= r.total_gpus,
            "{busy} GPUs busy at {} ms with {} GPUs present",
            p.t,
            p.capacity_gpus
        );
        ensure!(
            busy <= r.total_gpus,
            "{busy} GPUs busy at {} ms, the cluster has {}",
            p.t,
            r.total_gpus
        );
        for (vc, &n) in &p.busy_by_vc {
            ensure!(n <= r.total_gpus, "{vc} has {n} GPUs busy at {} ms", p.t);
        }
    }

    ensure!(r.jobs.len() == s.jobs.len(), "{} job records", r.jobs.len());
    for rec in &r.jobs {
        let j = job_index[rec.id.as_str()];
        let spec = &s.jobs[j];
        ensure!(
            rec.start_ms == first_start[j],
            "{}: start {:?} ms, the log's first start {:?} ms",
            rec.id,
            rec.start_ms,
            first_start[j]
        );
        if let Some(start) = rec.start_ms {
            ensure!(
                start >= spec.submit_ms,
                "{} starts before its submit",
                rec.id
            );
        }
        let logged = job_end.get(&j).copied();
        match rec.outcome {
            JobOutcome::Finished => ensure!(
                logged.is_some_and(|(t, k)| k == "finished" && rec.end_ms == Some(t)),
                "{} finished at {:?} ms, the log says {logged:?}",
                rec.id,
                rec.end_ms
            ),
            JobOutcome::Killed => ensure!(
                logged.is_some_and(|(t, k)| k == "killed" && rec.end_ms == Some(t)),
                "{} killed at {:?} ms, the log says {logged:?}",
                rec.id,
                rec.end_ms
            ),
            JobOutcome::Rejected => ensure!(
                logged.is_some_and(|(t, k)| k == "rejected" && rec.end_ms == Some(t)),
                "{} rejected at {:?} ms, the log says {logged:?}",
                rec.id,
                rec.end_ms
            ),
            JobOutcome::Unfinished => {
                ensure!(
                    cut,
                    "{} is unfinished but the run ended at {} ms with no horizon cut \
                     (horizon {:?} ms): a job waits forever",
                    rec.id,
                    r.end_ms,
                    s.horizon_ms
                );
                ensure!(
                    rec.end_ms.is_none() && logged.is_none(),
                    "{} is unfinished but ended",
                    rec.id
                );
            }
        }
        ensure!(
            rec.gpu_ms == charged[j],
            "{}: gpu_ms {} but the log's runs add up to {}",
            rec.id,
            rec.gpu_ms,
            charged[j]
        );
    }
    let used: u64 = r.jobs.iter().map(|j| j.gpu_ms).sum();
    ensure!(
        used == charged.iter().sum::<u64>(),
        "GPU time used {used} ms differs from the log's runs"
    );
    Ok(())
}

/// Every model over the case: the invariants, then determinism (a second run gives the
/// same result and byte-identical exports).
fn check_case(case: &Case) -> Result<(), String> {
    let s = build(case);
    for model in MODEL_NAMES {
        let first = run_model(&s, model)?;
        check_run(&s, &first).map_err(|e| format!("{model}: {e}"))?;
        let second = run_model(&s, model)?;
        ensure!(first == second, "{model}: two runs with one seed differ");
        let (a, b) = (report::exports(&first).1, report::exports(&second).1);
        ensure!(a.len() == b.len(), "{model}: export counts differ");
        for (x, y) in a.iter().zip(&b) {
            ensure!(
                x == y,
                "{model}: {} differs between two runs with one seed",
                x.file_name
            );
        }
        for name in ["jobs.csv", "events.log"] {
            ensure!(a.iter().any(|x| x.file_name == name), "{model}: no {name}");
        }
    }
    Ok(())
}

/// Every `LAYER+POLICY` model over the case (issue 15): the same invariants (no device
/// held twice, GPU time charged equals the log's runs, busy never above capacity, runs
/// last their duration less the work kept), determinism, and under `isolated` no VC
/// ever busier than its guaranteed GPUs.
fn check_case_all_policies(case: &Case) -> Result<(), String> {
    let s = build(case);
    let guaranteed = cellsim::sched::guaranteed_gpus(&s.config);
    for layer in cellsim::sched::LAYER_NAMES {
        for policy in cellsim::sched::POLICY_NAMES {
            let model = format!("{layer}+{policy}");
            let first = run_model(&s, &model)?;
            check_run(&s, &first).map_err(|e| format!("{model}: {e}"))?;
            let second = run_model(&s, &model)?;
            ensure!(first == second, "{model}: two runs with one seed differ");
            if layer == "isolated" {
                for p in &first.timeline {
                    for (vc, &n) in &p.busy_by_vc {
                        let own = guaranteed.get(vc).copied().unwrap_or(0);
                        ensure!(
                            n <= own,
                            "{model}: {vc} has {n} GPUs busy at {} ms, its share is {own}",
                            p.t
                        );
                    }
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_policy_over_every_layer_keeps_the_invariants(case in case()) {
        if let Err(e) = check_case_all_policies(&case) {
            return Err(TestCaseError::fail(format!("{e}\n{case:#?}")));
        }
    }
}

proptest! {
    // Failures become named tests in this file (see the module docs), so no
    // regressions file is written.
    #![proptest_config(ProptestConfig {
        cases: 128,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_model_keeps_the_invariants_on_random_scenarios(case in case()) {
        if let Err(e) = check_case(&case) {
            return Err(TestCaseError::fail(format!("{e}\n{case:#?}")));
        }
    }
}

/// Found by the search above (issue 17): under `kueue+easy` a workload admitted by quota
/// with its pods pending (j0) was held back by EASY's reservation for a gang that no
/// chain can hold (j2), which in turn waited for the quota j0 held: both waited forever.
/// An admitted workload now skips the policy's refusal, j0 runs, and j2 is rejected.
#[test]
fn kueue_never_placeable_gang_is_rejected_under_easy() {
    let job = |submit_s, duration_s, gang, pods, gpus_per_pod| JobSpec {
        submit_s,
        duration_s,
        vc: 0,
        priority: -1,
        gang,
        lazy: false,
        pods,
        gpus_per_pod,
        kill_after_s: None,
        leaf_of_chain: None,
    };
    let chain = |gpus_per_node, tops| ChainSpec {
        gpus_per_node,
        switches: false,
        nodes_per_rack: 0,
        tops,
        shared_leaf: false,
    };
    let case = Case {
        chains: vec![chain(4, 1), chain(1, 2)],
        vcs: 1,
        carve: vec![1, 103, 1],
        jobs: vec![
            job(124, 1, false, 1, 2),
            job(0, 1, false, 1, 1),
            job(45, 1, true, 3, 2),
            job(0, 1, false, 1, 1),
            job(0, 124, true, 3, 1),
        ],
        outages: vec![],
        horizon_s: None,
        checkpoint_s: None,
        yarn_max_percent: 100,
        seed: 0,
    };
    check_case_all_policies(&case).unwrap();
}
