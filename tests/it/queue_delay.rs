//! Queueing delay as the literature measures it (issue 15, section 2): submit to first
//! start plus every re-queue period, its decomposition by the typed wait reasons, and
//! delay by job size, in the job records, `summary.json` and `vcs.csv`.

use std::path::Path;

use cellsim::report::{self, summarize};
use cellsim::sim::scenario::load_str;
use cellsim::sim::{Scenario, SimTimeMs, run_model};

const S: SimTimeMs = 1000;

/// Two one-GPU nodes, VC `a` owning both, with `jobs`.
fn scenario(jobs: &str) -> Scenario {
    let text = format!(
        "name: t
cluster:
  inline:
    physicalCluster:
      cellTypes:
        NODE: {{childCellType: GPU, childCellNumber: 1, isNodeLevel: true}}
        POOL: {{childCellType: NODE, childCellNumber: 2}}
      physicalCells:
      - cellType: POOL
        cellChildren: [{{cellAddress: n0}}, {{cellAddress: n1}}]
    virtualClusters:
      a: {{virtualCells: [{{cellType: POOL.NODE, cellNumber: 2}}]}}
{jobs}"
    );
    load_str(&text, "t.yaml", Path::new("."), "t").unwrap()
}

#[test]
fn a_preempted_job_counts_its_requeue_period_as_queueing_delay() {
    // `t` starts at once (first wait 0), is preempted by `p` at 60 s and restarts when `p`
    // ends at 160 s: 100 s back in the queue, waiting for its VC's cells (quota).
    let s = scenario(
        "jobs:
- {id: t, duration: 120s, request: {vc: a, priorityClass: test, tasks: [{instances: 2, gpus: 1}]}}
- {id: p, submit: 60s, duration: 100s, request: {vc: a, priorityClass: prod, tasks: [{instances: 2, gpus: 1}]}}
",
    );
    let r = run_model(&s, "hived").unwrap();
    let t = &r.jobs[0];
    assert_eq!(t.wait_ms(), Some(0));
    assert_eq!(t.requeued_ms, 100 * S);
    assert_eq!(t.queue_delay_ms(), Some(100 * S));
    let quota = cellsim::sched::WaitKind::Quota.index();
    assert_eq!(t.wait_by_kind_ms[quota], 100 * S, "{:?}", t.wait_by_kind_ms);
    assert_eq!(t.wait_by_kind_ms.iter().sum::<u64>(), 100 * S);

    let summary = summarize(&r);
    assert_eq!(summary.schema_version, 3);
    let a = &summary.vcs["a"].jobs;
    assert_eq!(a.wait_ms.unwrap().mean, 0);
    assert_eq!(a.queue_delay_ms.unwrap().mean, 50 * S);
    assert_eq!(a.wait_by_reason_ms.quota, 100 * S);
    let sizes: Vec<(&str, u32)> = summary
        .by_size
        .iter()
        .map(|b| (b.gpus.as_str(), b.jobs))
        .collect();
    assert_eq!(sizes, [("1", 0), ("2-4", 2), ("5-8", 0), (">8", 0)]);
    assert_eq!(summary.by_size[1].queue_delay_ms.unwrap().p95, 100 * S);

    let vcs = String::from_utf8(report::tables::vcs_csv(&summary)).unwrap();
    let mut lines = vcs.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("mean_queue_delay"), "50.000");
    assert_eq!(col("delay_quota"), "100.000");
    assert_eq!(col("mean_wait"), "0.000");
}

#[test]
fn waits_are_decomposed_by_their_typed_reason() {
    // EASY: `head` (2 GPUs) waits for `first` (capacity) from 10 s to 100 s; `late` (1
    // GPU, 500 s) would delay it and waits behind the reservation from 20 s until the
    // head starts at 100 s, then for capacity until 150 s.
    let s = scenario(
        "jobs:
- {id: first, duration: 100s, request: {vc: a, tasks: [{gpus: 1}]}}
- {id: head, submit: 10s, duration: 50s, request: {vc: a, tasks: [{instances: 2, gpus: 1}]}}
- {id: late, submit: 20s, duration: 500s, request: {vc: a, tasks: [{gpus: 1}]}}
",
    );
    let r = run_model(&s, "shared+easy").unwrap();
    use cellsim::sched::WaitKind;
    let late = &r.jobs[2];
    assert_eq!(late.start_ms, Some(150 * S));
    assert_eq!(late.wait_by_kind_ms[WaitKind::Reservation.index()], 80 * S);
    assert_eq!(late.wait_by_kind_ms[WaitKind::Capacity.index()], 50 * S);
    let head = &r.jobs[1];
    assert_eq!(head.wait_by_kind_ms[WaitKind::Capacity.index()], 90 * S);
}
