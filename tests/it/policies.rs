//! Each scheduling policy's defining behaviour on a small hand-made scenario (issue 15):
//! SJF picks the shorter job; SRTF preempts for a shorter arrival and the victim resumes
//! with its progress; Tiresias demotes at its threshold and promotes a starving job; EASY
//! backfills a job that ends before the head's reservation and refuses one that would
//! delay it; `isolated` never lets a VC use another's GPUs. The random search over every
//! `LAYER+POLICY` pair is in `sim_invariants.rs`.

use std::path::Path;

use cellsim::sim::scenario::load_str;
use cellsim::sim::{JobRecord, RunResult, Scenario, SimEvent, SimTimeMs, run_model};

const S: SimTimeMs = 1000;

/// `nodes` one-GPU nodes in one chain; VC `a` owns `a_nodes` of them, VC `b` the rest
/// (none when equal), then `extra` (options and jobs).
fn scenario(nodes: u32, a_nodes: u32, extra: &str) -> Scenario {
    let children: Vec<String> = (0..nodes)
        .map(|i| format!("{{cellAddress: node-{i}}}"))
        .collect();
    let b = if a_nodes < nodes {
        format!(
            "      b: {{virtualCells: [{{cellType: POOL.NODE, cellNumber: {}}}]}}\n",
            nodes - a_nodes
        )
    } else {
        String::new()
    };
    let text = format!(
        "name: t
cluster:
  inline:
    physicalCluster:
      cellTypes:
        NODE: {{childCellType: GPU, childCellNumber: 1, isNodeLevel: true}}
        POOL: {{childCellType: NODE, childCellNumber: {nodes}}}
      physicalCells:
      - cellType: POOL
        cellChildren: [{}]
    virtualClusters:
      a: {{virtualCells: [{{cellType: POOL.NODE, cellNumber: {a_nodes}}}]}}
{b}{extra}",
        children.join(", ")
    );
    load_str(&text, "t.yaml", Path::new("."), "t").unwrap()
}

fn job<'r>(r: &'r RunResult, id: &str) -> &'r JobRecord {
    r.jobs.iter().find(|j| j.id == id).unwrap()
}

/// Times the job's group started, in order.
fn starts(r: &RunResult, id: &str) -> Vec<SimTimeMs> {
    r.events
        .iter()
        .filter_map(|e| match e {
            SimEvent::GroupStarted { t, job, .. } if job == id => Some(*t),
            _ => None,
        })
        .collect()
}

#[test]
fn sjf_starts_the_shorter_of_two_waiting_jobs_first() {
    // One GPU busy until 100 s; a long job (500 s) arrives at 10 s, a short one (50 s) at
    // 20 s. SJF starts the short one at 100 s; FIFO the long one.
    let s = scenario(
        1,
        1,
        "jobs:
- {id: first, duration: 100s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: long, submit: 10s, duration: 500s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: short, submit: 20s, duration: 50s, request: {vc: a, tasks: [{gpus: 1}]}}
",
    );
    for model in ["shared+sjf", "isolated+sjf", "hived+sjf", "yarn-cs+sjf"] {
        let r = run_model(&s, model).unwrap();
        assert_eq!(job(&r, "short").start_ms, Some(100 * S), "{model}");
        assert_eq!(job(&r, "long").start_ms, Some(150 * S), "{model}");
    }
    let r = run_model(&s, "shared+fifo").unwrap();
    assert_eq!(job(&r, "long").start_ms, Some(100 * S));
    assert_eq!(job(&r, "short").start_ms, Some(600 * S));
}

#[test]
fn srtf_suspends_a_longer_job_for_a_shorter_arrival_and_resumes_it_with_its_progress() {
    // `long` (2 GPUs, 300 s) runs from 0; `short` (2 GPUs, 60 s) arrives at 100 s, when
    // `long` has 200 s left: `long` is suspended, `short` runs 100-160 s, and `long`
    // resumes at 160 s with its 100 s of work kept, ending at 360 s (not 460 s).
    let jobs = "jobs:
- {id: long, duration: 300s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
- {id: short, submit: 100s, duration: 60s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
";
    for model in ["shared+srtf", "isolated+srtf", "hived+srtf", "yarn-cs+srtf"] {
        let r = run_model(&scenario(2, 2, jobs), model).unwrap();
        assert_eq!(job(&r, "short").start_ms, Some(100 * S), "{model}");
        assert_eq!(starts(&r, "long"), [0, 160 * S], "{model}");
        assert_eq!(job(&r, "long").end_ms, Some(360 * S), "{model}");
        assert_eq!(job(&r, "long").preemptions, 1, "{model}");
        // No work lost: exactly its duration on 2 GPUs.
        assert_eq!(job(&r, "long").gpu_ms, 2 * 300 * S, "{model}");
        assert!(
            r.events.iter().any(|e| matches!(e,
                SimEvent::GroupPreempted { t, job, by, suspended: true, .. }
                    if *t == 100 * S && job == "long" && by == "short")),
            "{model}: {:?}",
            r.events
        );
    }
    // A resume delay is added to the resumed run.
    let r = run_model(
        &scenario(2, 2, &format!("resumeDelay: 10s\n{jobs}")),
        "shared+srtf",
    )
    .unwrap();
    assert_eq!(job(&r, "long").end_ms, Some(370 * S));
    // A job with less time left than the arrival keeps running.
    let r = run_model(
        &scenario(
            2,
            2,
            "jobs:
- {id: long, duration: 300s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
- {id: later, submit: 100s, duration: 250s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
",
        ),
        "shared+srtf",
    )
    .unwrap();
    assert_eq!(job(&r, "long").preemptions, 0);
    assert_eq!(job(&r, "later").start_ms, Some(300 * S));
}

/// Two 2-GPU nodes owned by VC `a`, then `jobs`.
fn two_by_two(jobs: &str) -> Scenario {
    let text = format!(
        "name: t
cluster:
  inline:
    physicalCluster:
      cellTypes:
        NODE: {{childCellType: GPU, childCellNumber: 2, isNodeLevel: true}}
        POOL: {{childCellType: NODE, childCellNumber: 2}}
      physicalCells:
      - cellType: POOL
        cellChildren: [{{cellAddress: node-0}}, {{cellAddress: node-1}}]
    virtualClusters:
      a: {{virtualCells: [{{cellType: POOL.NODE, cellNumber: 2}}]}}
{jobs}"
    );
    load_str(&text, "t.yaml", Path::new("."), "t").unwrap()
}

/// Runs `model` on `scenario` in a thread and fails (instead of hanging the test run)
/// when it does not end: the bug this guards against could suspend and resume the same
/// groups forever at one simulated time.
fn run_or_fail(scenario: &Scenario, model: &'static str) -> RunResult {
    let scenario = scenario.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(run_model(&scenario, model).unwrap());
    });
    rx.recv_timeout(std::time::Duration::from_secs(120))
        .unwrap_or_else(|_| panic!("{model}: the run did not end (suspension loop)"))
}

#[test]
fn a_preemptive_policy_suspends_nobody_whose_release_would_not_let_the_job_start() {
    // Four 1-GPU jobs fill both nodes (long1, long2 on node-0; mid3, long4 on node-1).
    // `short` (one 2-GPU pod) arrives at 10 s: by count, SRTF's victims are the two with
    // the most time left, long2 and long4, but they free one GPU on each node, where a
    // 2-GPU pod cannot start. They used to be suspended anyway: `short` still waited,
    // they resumed at once (on each other's nodes), and at 1000 s long2 was suspended and
    // resumed over and over at one instant (on the full Philly trace, without end). Now
    // nobody is suspended at 10 s; at 1000 s long1 ends, and suspending long2 once frees
    // node-0 for `short`.
    let s = two_by_two(
        "jobs:
- {id: long1, duration: 1000s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: long2, submit: 1s, duration: 3500s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: mid3, submit: 2s, duration: 1100s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: long4, submit: 3s, duration: 3100s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: short, submit: 10s, duration: 100s, request: {vc: a, tasks: [{gpus: 2}]}}
",
    );
    for model in [
        "hived+srtf",
        "isolated+srtf",
        "yarn-cs+srtf",
        "shared+srtf",
        "hived+tiresias",
        "isolated+tiresias",
    ] {
        let r = run_or_fail(&s, model);
        let node_of = |id: &str| {
            r.events.iter().find_map(|e| match e {
                SimEvent::GroupStarted { job, pods, .. } if job == id => Some(pods[0].node.clone()),
                _ => None,
            })
        };
        assert_eq!(node_of("long1"), node_of("long2"), "{model}: packing");
        assert_eq!(node_of("mid3"), node_of("long4"), "{model}: packing");
        assert!(
            !r.events
                .iter()
                .any(|e| matches!(e, SimEvent::GroupPreempted { t, .. } if *t < 1000 * S)),
            "{model}: {:?}",
            r.events
        );
        if model.ends_with("srtf") {
            assert_eq!(job(&r, "short").start_ms, Some(1000 * S), "{model}");
            assert_eq!(job(&r, "long2").preemptions, 1, "{model}");
            assert_eq!(job(&r, "long4").preemptions, 0, "{model}");
        }
    }
    // Where the victims do free a whole node, the suspension still happens.
    let s = two_by_two(
        "jobs:
- {id: long1, duration: 3000s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: long2, submit: 1s, duration: 3000s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: mid3, submit: 2s, duration: 500s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: mid4, submit: 3s, duration: 500s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: short, submit: 10s, duration: 100s, request: {vc: a, tasks: [{gpus: 2}]}}
",
    );
    for model in ["hived+srtf", "isolated+srtf", "yarn-cs+srtf", "shared+srtf"] {
        let r = run_or_fail(&s, model);
        assert_eq!(job(&r, "short").start_ms, Some(10 * S), "{model}");
        assert_eq!(job(&r, "long1").preemptions, 1, "{model}");
        assert_eq!(job(&r, "long2").preemptions, 1, "{model}");
        assert_eq!(job(&r, "mid3").preemptions, 0, "{model}");
    }
}

#[test]
fn tiresias_demotes_a_job_when_its_attained_service_crosses_the_threshold() {
    // Threshold 100 GPU-seconds, no promotion. `a` (2 GPUs, 300 s) crosses it at 50 s and
    // drops to queue 1; `b` (2 GPUs, 100 s), waiting in queue 0 since 20 s, suspends it
    // then. At 100 s `b` crosses it too and enters queue 1 after `a` (FIFO within a
    // queue), so `a` resumes (250 s left: ends 350 s) and `b` finishes after (400 s).
    let s = scenario(
        2,
        2,
        "tiresias: {queueThresholds: [100s], starvationFactor: 0}
jobs:
- {id: a, duration: 300s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
- {id: b, submit: 20s, duration: 100s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
",
    );
    let r = run_model(&s, "shared+tiresias").unwrap();
    assert_eq!(starts(&r, "b"), [50 * S, 350 * S]);
    assert_eq!(starts(&r, "a"), [0, 100 * S]);
    assert_eq!(job(&r, "a").end_ms, Some(350 * S));
    assert_eq!(job(&r, "b").end_ms, Some(400 * S));
    assert_eq!(job(&r, "a").gpu_ms, 2 * 300 * S);
}

#[test]
fn tiresias_promotes_a_starving_job_back_to_the_first_queue() {
    // Threshold 100 GPU-seconds. `a` (2 GPUs) is demoted at 50 s, and at 55 s the first
    // of a stream of short queue-0 jobs (2 GPUs, 40 s each, one every 40 s) suspends it.
    // `a` ran 55 s; with starvation factor 1 it is promoted to queue 0 at 110 s, ahead
    // of the stream's jobs that arrive later, and resumes at 135 s. Without promotion it
    // waits for the whole stream.
    let stream: String = (0..6)
        .map(|i| {
            format!(
                "- {{id: s{i}, submit: {}s, duration: 40s, request: {{vc: a, tasks: [{{instances: 2, gpus: 1}}]}}}}\n",
                55 + 40 * i
            )
        })
        .collect();
    let jobs = format!(
        "jobs:\n- {{id: a, duration: 300s, request: {{vc: a, tasks: [{{instances: 2, gpus: 1}}]}}}}\n{stream}"
    );
    let promoted = scenario(
        2,
        2,
        &format!("tiresias: {{queueThresholds: [100s], starvationFactor: 1}}\n{jobs}"),
    );
    let r = run_model(&promoted, "shared+tiresias").unwrap();
    assert_eq!(starts(&r, "a")[..2], [0, 135 * S], "{:?}", starts(&r, "a"));
    let starving = scenario(
        2,
        2,
        &format!("tiresias: {{queueThresholds: [100s], starvationFactor: 0}}\n{jobs}"),
    );
    let r = run_model(&starving, "shared+tiresias").unwrap();
    assert_eq!(starts(&r, "a"), [0, 295 * S]);
}

#[test]
fn easy_backfills_a_job_that_ends_before_the_reservation_and_refuses_one_that_would_delay_it() {
    // 4 GPUs. `running` holds 2 until 100 s. `head` (4 GPUs) waits from 10 s: its
    // reservation is at 100 s with nothing to spare. `quick` (2 GPUs, 5 s) at 20 s ends
    // before 100 s: backfilled at once. `slow` (2 GPUs, 200 s) at 30 s would run past
    // 100 s on GPUs the head needs: refused, though 2 GPUs are free; it starts after the
    // head (100-150 s).
    let s = scenario(
        4,
        4,
        "jobs:
- {id: running, duration: 100s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
- {id: head, submit: 10s, duration: 50s, request: {vc: a, tasks: [{instances: 4, gpus: 1}]}}
- {id: quick, submit: 20s, duration: 5s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
- {id: slow, submit: 30s, duration: 200s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
",
    );
    for model in ["shared+easy", "isolated+easy", "hived+easy"] {
        let r = run_model(&s, model).unwrap();
        assert_eq!(job(&r, "quick").start_ms, Some(20 * S), "{model}");
        assert_eq!(job(&r, "head").start_ms, Some(100 * S), "{model}");
        assert_eq!(job(&r, "slow").start_ms, Some(150 * S), "{model}");
        assert!(
            r.events.iter().any(|e| matches!(e,
                SimEvent::GroupWaiting { t, job, reason, .. }
                    if *t == 30 * S && job == "slow" && reason.starts_with("waiting behind a reservation"))),
            "{model}: {:?}",
            r.events
        );
    }
    // Without reservations (priority order, no blocking) `slow` starts at once and delays
    // the head; with strict FIFO nothing is backfilled.
    let r = run_model(&s, "shared+priority").unwrap();
    assert_eq!(job(&r, "slow").start_ms, Some(30 * S));
    assert!(job(&r, "head").start_ms > Some(100 * S));
    let r = run_model(&s, "shared+fifo").unwrap();
    assert_eq!(job(&r, "quick").start_ms, Some(150 * S));
}

#[test]
fn isolated_never_lets_a_vc_use_another_vcs_gpus() {
    // VC a owns 2 of 4 GPUs, VC b the other 2 and is idle. Four 1-GPU jobs of a, one
    // opportunistic: under isolated, a never holds more than 2 GPUs; the layers that
    // share (yarn-cs borrowing, hived opportunistic, shared) let it use b's.
    let s = scenario(
        4,
        2,
        "jobs:
- {id: j1, duration: 100s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: j2, duration: 100s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: j3, duration: 100s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: j4, duration: 100s, request: {vc: a, priorityClass: oppo, tasks: [{gpus: 1}]}}
",
    );
    let peak = |r: &RunResult| {
        r.timeline
            .iter()
            .map(|p| {
                p.busy_by_vc
                    .iter()
                    .find(|(vc, _)| vc.as_str() == "a")
                    .map_or(0, |(_, &n)| n)
            })
            .max()
            .unwrap_or(0)
    };
    for policy in cellsim::sched::POLICY_NAMES {
        let r = run_model(&s, &format!("isolated+{policy}")).unwrap();
        assert_eq!(peak(&r), 2, "isolated+{policy}");
        assert_eq!(job(&r, "j3").start_ms, Some(100 * S), "isolated+{policy}");
    }
    for model in ["yarn-cs", "shared+fifo"] {
        assert_eq!(peak(&run_model(&s, model).unwrap()), 4, "{model}");
    }
    assert_eq!(peak(&run_model(&s, "hived").unwrap()), 3);
}

#[test]
fn fifo_over_vcs_blocks_the_head_of_each_vc_queue_only() {
    // VC a owns 2 GPUs, VC b 2. a's `big` (2 GPUs) waits behind a's `first`; a's `small`
    // (1 GPU, 1 free) must not pass it, but b's job, in another queue, starts at once.
    let s = scenario(
        4,
        2,
        "jobs:
- {id: first, duration: 100s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: big, submit: 10s, duration: 10s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
- {id: small, submit: 20s, duration: 10s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: other, submit: 30s, duration: 10s, request: {vc: b, tasks: [{gpus: 1}]}}
",
    );
    for model in ["isolated+fifo", "hived+fifo"] {
        let r = run_model(&s, model).unwrap();
        assert_eq!(job(&r, "big").start_ms, Some(100 * S), "{model}");
        assert_eq!(job(&r, "small").start_ms, Some(110 * S), "{model}");
        assert_eq!(job(&r, "other").start_ms, Some(30 * S), "{model}");
    }
    // Without strict order the small job passes the big one.
    let r = run_model(&s, "isolated+priority").unwrap();
    assert_eq!(job(&r, "small").start_ms, Some(20 * S));
}
