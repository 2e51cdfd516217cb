//! Text exports of a run: `jobs.csv`, `vcs.csv`, `timeline.csv`, `events.log`, and the
//! per-model table printed at the end of `cellsim run`. Each function returns the file's
//! bytes (or text); nothing here touches the file system. In the CSV files times are
//! seconds with three decimals and GPU time is GPU-hours with three decimals; absent
//! values are empty cells.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::summary::{RunSummary, Stats};
use crate::sim::{JobRecord, PodSpot, RunResult, SimEvent, SimTimeMs};
use crate::workload::openpai::PRIORITY_CLASSES;

/// Milliseconds as seconds with three decimals (`1500` → `1.500`).
pub fn seconds(ms: SimTimeMs) -> String {
    format!("{}.{:03}", ms / 1000, ms % 1000)
}

/// GPU-milliseconds as GPU-hours with three decimals.
pub fn gpu_hours(gpu_ms: u64) -> String {
    // Rounded in integers so the text never depends on float formatting.
    let thousandths = (u128::from(gpu_ms) * 1000 + 1_800_000) / 3_600_000;
    format!("{}.{:03}", thousandths / 1000, thousandths % 1000)
}

/// A clock time `HH:MM:SS`, with `.mmm` when not a whole second.
pub fn clock(ms: SimTimeMs) -> String {
    let secs = ms / 1000;
    let base = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if ms.is_multiple_of(1000) {
        base
    } else {
        format!("{base}.{:03}", ms % 1000)
    }
}

/// The OpenPAI priority class of a priority (`prod` for 100), or `priority N`.
pub fn priority_label(priority: i32) -> String {
    PRIORITY_CLASSES
        .iter()
        .find(|(_, p)| *p == priority)
        .map(|(c, _)| c.to_string())
        .unwrap_or_else(|| format!("priority {priority}"))
}

fn opt(value: Option<u64>, f: impl Fn(u64) -> String) -> String {
    value.map(f).unwrap_or_default()
}

fn csv_bytes(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record(header).expect("in-memory CSV");
    for row in rows {
        w.write_record(&row).expect("in-memory CSV");
    }
    w.into_inner().expect("in-memory CSV")
}

/// `jobs.csv`: one row per job in submit order. `nodes` lists the nodes of each group's
/// last placement, separated by `;`.
pub fn jobs_csv(result: &RunResult) -> Vec<u8> {
    let header = [
        "id",
        "vc",
        "priority",
        "gpus",
        "submit",
        "start",
        "end",
        "wait",
        "jct",
        "preemptions",
        "nodes",
        "outcome",
        "gpu_hours",
    ];
    let rows = result.jobs.iter().map(|j| {
        vec![
            j.id.clone(),
            j.vc.clone(),
            j.priority.to_string(),
            j.gpus.to_string(),
            seconds(j.submit_ms),
            opt(j.start_ms, seconds),
            opt(j.end_ms, seconds),
            opt(j.wait_ms(), seconds),
            opt(j.jct_ms(), seconds),
            j.preemptions.to_string(),
            j.nodes.join(";"),
            serde_json::to_value(j.outcome)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            gpu_hours(j.gpu_ms),
        ]
    });
    csv_bytes(&header, rows)
}

/// `vcs.csv`: one row per VC, from the summary.
pub fn vcs_csv(summary: &RunSummary) -> Vec<u8> {
    let header = [
        "vc",
        "jobs",
        "finished",
        "killed",
        "rejected",
        "unfinished",
        "mean_wait",
        "p50_wait",
        "p95_wait",
        "p99_wait",
        "mean_jct",
        "gpu_hours_used",
        "gpu_hours_guaranteed",
        "borrowed_gpu_hours",
        "preemptions",
    ];
    let rows = summary.vcs.iter().map(|(vc, m)| {
        let w = m.jobs.wait_ms;
        let stat = |f: fn(&Stats) -> u64| opt(w.as_ref().map(f), seconds);
        vec![
            vc.clone(),
            m.jobs.jobs.to_string(),
            m.jobs.finished.to_string(),
            m.jobs.killed.to_string(),
            m.jobs.rejected.to_string(),
            m.jobs.unfinished.to_string(),
            stat(|s| s.mean),
            stat(|s| s.p50),
            stat(|s| s.p95),
            stat(|s| s.p99),
            opt(m.jobs.mean_jct_ms, seconds),
            gpu_hours(m.gpu_ms_used),
            gpu_hours(m.gpu_ms_guaranteed),
            gpu_hours(m.gpu_ms_borrowed),
            m.jobs.preemptions.to_string(),
        ]
    });
    csv_bytes(&header, rows)
}

/// `timeline.csv`: busy GPUs per VC from `t` until the next row (one column per VC),
/// and the cluster's capacity then (`capacity_gpus`: GPUs of the nodes present).
pub fn timeline_csv(result: &RunResult) -> Vec<u8> {
    // A set, not a sorted list: 10^5 points name the same few VCs.
    let mut vcs: std::collections::BTreeSet<&String> = result.vcs.keys().collect();
    for point in &result.timeline {
        vcs.extend(point.busy_by_vc.keys());
    }
    let mut header = vec!["t"];
    header.extend(vcs.iter().map(|v| v.as_str()));
    header.push("capacity_gpus");
    let rows = result.timeline.iter().map(|p| {
        let mut row = vec![seconds(p.t)];
        row.extend(
            vcs.iter()
                .map(|vc| p.busy_by_vc.get(*vc).copied().unwrap_or(0).to_string()),
        );
        row.push(p.capacity_gpus.to_string());
        row
    });
    csv_bytes(&header, rows)
}

fn pods_text(pods: &[PodSpot]) -> String {
    if pods.is_empty() {
        return "no GPU".to_string();
    }
    pods.iter()
        .map(|p| {
            let devices: Vec<String> = p.devices.iter().map(|d| d.to_string()).collect();
            let word = if p.devices.len() == 1 { "GPU" } else { "GPUs" };
            format!("{} {word} {}", p.node, devices.join(","))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A group as people name it: the job id for a job's only gang group.
fn group_text(group: &str) -> &str {
    group.strip_suffix("/default").unwrap_or(group)
}

/// `events.log`: one readable line per event, e.g.
/// `t=00:06:00 job-config-2 (vc1, prod) preempted job-config-1 on hostname-dan GPU 0`.
pub fn events_log(result: &RunResult) -> String {
    let jobs: BTreeMap<&str, &JobRecord> = result.jobs.iter().map(|j| (j.id.as_str(), j)).collect();
    let who = |id: &str| match jobs.get(id) {
        Some(j) => format!("{id} ({}, {})", j.vc, priority_label(j.priority)),
        None => id.to_string(),
    };
    let mut out = String::new();
    for event in &result.events {
        let line = match event {
            SimEvent::JobSubmitted { job, .. } => {
                let gpus = jobs.get(job.as_str()).map_or(0, |j| j.gpus);
                let s = if gpus == 1 { "" } else { "s" };
                format!("{} submitted, {gpus} GPU{s}", who(job))
            }
            SimEvent::GroupWaiting { group, reason, .. } => {
                // Most reasons already read "waiting for …"; do not say it twice.
                if reason.starts_with("waiting ") {
                    format!("{} {reason}", group_text(group))
                } else {
                    format!("{} waiting: {reason}", group_text(group))
                }
            }
            SimEvent::GroupStarted { group, pods, .. } => {
                format!("{} started on {}", group_text(group), pods_text(pods))
            }
            SimEvent::GroupPreempted {
                group, by, pods, ..
            } => format!(
                "{} preempted {} on {}",
                who(by),
                group_text(group),
                pods_text(pods)
            ),
            SimEvent::GroupDowngraded { group, by, .. } => format!(
                "{} downgraded {} to opportunistic (lazy preemption); it keeps running",
                who(by),
                group_text(group)
            ),
            SimEvent::GroupFinished { group, pods, .. } => format!(
                "{} completed its run on {}",
                group_text(group),
                pods_text(pods)
            ),
            SimEvent::GroupFailed {
                group, node, pods, ..
            } => format!(
                "{} killed because {node} went down (was on {}); requeued",
                group_text(group),
                pods_text(pods)
            ),
            SimEvent::JobFinished { job, t } => {
                let jct = jobs
                    .get(job.as_str())
                    .map(|j| format!(" (JCT {})", clock(t - j.submit_ms)))
                    .unwrap_or_default();
                format!("{job} finished{jct}")
            }
            SimEvent::JobKilled { job, .. } => format!("{job} killed by its user"),
            SimEvent::JobRejected { job, reason, .. } => format!("{job} rejected: {reason}"),
            SimEvent::NodeDown { node, .. } => format!("node {node} down"),
            SimEvent::NodeUp { node, .. } => format!("node {node} up"),
            SimEvent::NodeAdded { node, .. } => format!("node {node} added to the cluster"),
            SimEvent::NodeRemoved { node, .. } => {
                format!("node {node} removed from the cluster")
            }
        };
        let _ = writeln!(out, "t={} {line}", clock(event.t()));
    }
    out
}

/// The per-model table `cellsim run` prints: jobs, waits, JCT, utilisation, preemptions.
pub fn summary_table(summaries: &[RunSummary]) -> String {
    let header = [
        "model",
        "jobs",
        "finished",
        "mean wait",
        "p95 wait",
        "mean JCT",
        "util",
        "preemptions",
    ];
    let rows: Vec<Vec<String>> = summaries
        .iter()
        .map(|s| {
            let w = s.overall.wait_ms;
            vec![
                s.model.clone(),
                s.overall.jobs.to_string(),
                s.overall.finished.to_string(),
                w.map_or("-".to_string(), |w| clock(w.mean)),
                w.map_or("-".to_string(), |w| clock(w.p95)),
                s.overall.mean_jct_ms.map_or("-".to_string(), clock),
                format!("{:.1}%", s.utilisation * 100.0),
                s.overall.preemptions.to_string(),
            ]
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i == 0 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in &rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{JobOutcome, VcCapacity};

    fn result() -> RunResult {
        RunResult {
            scenario: "s".into(),
            model: "hived".into(),
            seed: 1,
            end_ms: 720_000,
            total_gpus: 2,
            vcs: BTreeMap::from([("vc1".to_string(), VcCapacity { guaranteed_gpus: 1 })]),
            nodes: vec![("hostname-dan".into(), 1)],
            jobs: vec![JobRecord {
                id: "job-config-1".into(),
                vc: "vc1".into(),
                priority: 10,
                gpus: 1,
                submit_ms: 0,
                start_ms: Some(1_500),
                end_ms: None,
                outcome: JobOutcome::Unfinished,
                preemptions: 1,
                nodes: vec!["hostname-dan".into()],
                gpu_ms: 3_600_000,
            }],
            events: vec![SimEvent::GroupPreempted {
                t: 360_000,
                job: "job-config-1".into(),
                group: "job-config-1/default".into(),
                by: "job-config-2".into(),
                pods: vec![PodSpot {
                    node: "hostname-dan".into(),
                    devices: vec![0],
                }],
            }],
            timeline: vec![],
        }
    }

    #[test]
    fn times_are_seconds_with_three_decimals_and_absent_ones_empty() {
        let text = String::from_utf8(jobs_csv(&result())).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "job-config-1,vc1,10,1,0.000,1.500,,1.500,,1,hostname-dan,unfinished,1.000"
        );
    }

    #[test]
    fn event_lines_read_as_sentences() {
        let mut r = result();
        r.jobs[0].id = "job-config-2".into();
        r.jobs[0].priority = 100;
        assert_eq!(
            events_log(&r),
            "t=00:06:00 job-config-2 (vc1, prod) preempted job-config-1 on hostname-dan GPU 0\n"
        );
    }

    #[test]
    fn clock_and_gpu_hours_format() {
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(clock(1_250), "00:00:01.250");
        assert_eq!(gpu_hours(5_400_000), "1.500");
        assert_eq!(gpu_hours(0), "0.000");
    }
}
