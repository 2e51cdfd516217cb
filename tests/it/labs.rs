//! The five scheduling labs (`spec/labs.md`): the project's lab job files read to the same
//! requests as the course's, every expected observation of the labs holds on the simulated
//! events, the answers name the facts the events show, and `cellsim lab all` writes a
//! report per lab. See: issue 3, item 5.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use cellsim::config::{self, CellConfig};
use cellsim::labs::{self, Lab, LabOutcome, clock};
use cellsim::report::plots::{GroupRun, RunEnd, group_runs};
use cellsim::sim::scenario;
use cellsim::sim::{JobOutcome, RunResult, SimEvent, SimJob, SimTimeMs};
use cellsim::workload::read_job_file;

use crate::common::shared;

const S: SimTimeMs = 1000;

fn labs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/labs")
}

fn cluster(name: &str) -> CellConfig {
    config::load_file(&labs_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn run(lab: Lab) -> LabOutcome {
    labs::run_lab(lab).unwrap_or_else(|e| panic!("{lab}: {e}"))
}

fn spec<'a>(o: &'a LabOutcome, id: &str) -> &'a SimJob {
    o.scenario
        .jobs
        .iter()
        .find(|j| j.id == id)
        .unwrap_or_else(|| panic!("{}: no job {id}", o.lab))
}

/// Runs of `job`'s groups, by start time.
fn runs_of(r: &RunResult, job: &str) -> Vec<GroupRun> {
    group_runs(r).into_iter().filter(|g| g.job == job).collect()
}

fn nodes_of(run: &GroupRun) -> BTreeSet<String> {
    run.pods.iter().map(|p| p.node.clone()).collect()
}

fn finished_at(r: &RunResult, id: &str) -> Option<SimTimeMs> {
    r.events.iter().find_map(|e| match e {
        SimEvent::JobFinished { t, job } if job == id => Some(*t),
        _ => None,
    })
}

fn waits_of(r: &RunResult, id: &str) -> Vec<(SimTimeMs, String)> {
    r.events
        .iter()
        .filter_map(|e| match e {
            SimEvent::GroupWaiting { t, job, reason, .. } if job == id => {
                Some((*t, reason.clone()))
            }
            _ => None,
        })
        .collect()
}

/// Every started run on `node`.
fn runs_on(r: &RunResult, node: &str) -> Vec<GroupRun> {
    group_runs(r)
        .into_iter()
        .filter(|g| g.pods.iter().any(|p| p.node == node))
        .collect()
}

fn all_answers(o: &LabOutcome) -> String {
    o.answers
        .iter()
        .map(|a| a.answer.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------
// The lab files.

/// The project's job file standing for the course's `job-config-N.yaml`.
fn counterpart(n: u32) -> PathBuf {
    let prefix = format!("job{n}-");
    let mut found: Vec<PathBuf> = std::fs::read_dir(labs_dir().join("jobs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|f| f.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    assert_eq!(found.len(), 1, "one jobs/{prefix}*.yaml: {found:?}");
    found.remove(0)
}

#[test]
fn lab_job_files_read_to_the_same_requests_as_the_course_files() {
    let (a, b) = (cluster("cluster-a.yaml"), cluster("cluster-b.yaml"));
    for n in 0..=7 {
        let Some(theirs) = shared(&format!("labs/job-config-{n}.yaml")) else {
            return;
        };
        // Jobs 0-4 are labs 1-3 on cluster A, jobs 5-7 labs 4-5 on cluster B.
        let config = if n <= 4 { &a } else { &b };
        let ours_path = counterpart(n);
        let ours = read_job_file(&ours_path, config)
            .unwrap_or_else(|e| panic!("{}: {e}", ours_path.display()));
        let theirs = read_job_file(&theirs, config).unwrap_or_else(|e| panic!("{n}: {e}"));
        let what = format!("{} vs job-config-{n}", ours_path.display());
        assert!(ours.warnings.is_empty(), "{what}: {:?}", ours.warnings);
        assert_eq!(ours.virtual_cluster, theirs.virtual_cluster, "{what}");
        assert_eq!(ours.priority, theirs.priority, "{what}");
        assert_eq!(ours.priority_class, theirs.priority_class, "{what}");
        assert_eq!(ours.gang, theirs.gang, "{what}");
        assert_eq!(ours.groups.len(), theirs.groups.len(), "{what}");
        for (g, h) in ours.groups.iter().zip(&theirs.groups) {
            assert_eq!(g.members, h.members, "{what}");
            assert_eq!(g.leaf_cell_type, h.leaf_cell_type, "{what}");
            assert_eq!(g.virtual_cluster, h.virtual_cluster, "{what}");
            assert_eq!(g.priority, h.priority, "{what}");
            assert_eq!(g.pinned_cell_id, h.pinned_cell_id, "{what}");
            assert_eq!(g.lazy_preemption_enable, h.lazy_preemption_enable, "{what}");
        }
        let instances = |s: &cellsim::workload::openpai::JobSpec| -> Vec<(u32, u32)> {
            s.tasks
                .iter()
                .map(|t| (t.instances, t.leaf_cell_number))
                .collect()
        };
        assert_eq!(instances(&ours), instances(&theirs), "{what}");
    }
}

/// The lab scenarios run on a fresh clone: each loads from its file with paths relative to
/// it, and is the scenario `cellsim lab` runs (compiled in).
#[test]
fn lab_scenarios_load_from_their_files_as_cellsim_lab_runs_them() {
    for lab in Lab::ALL {
        let path = labs_dir().join(lab.scenario_file());
        let on_disk = scenario::load_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let built_in = labs::scenario(lab).unwrap();
        assert!(on_disk.warnings.is_empty(), "{lab}: {:?}", on_disk.warnings);
        assert_eq!(on_disk.name, lab.name());
        assert_eq!(on_disk.jobs, built_in.jobs, "{lab}");
        assert_eq!(on_disk.models, built_in.models, "{lab}");
        assert_eq!(
            on_disk.config.virtual_clusters, built_in.config.virtual_clusters,
            "{lab}"
        );
        assert_eq!(on_disk.models[0], labs::ANSWER_MODEL, "{lab}");
    }
}

/// The durations the scenario comments promise: 60 s per MNIST run, 360 s for the jobs
/// that add `sleep 5m` (job files 1-5).
#[test]
fn lab_durations_are_60_s_for_mnist_and_360_s_with_the_sleep() {
    for lab in Lab::ALL {
        let text = std::fs::read_to_string(labs_dir().join(lab.scenario_file())).unwrap();
        for job in labs::scenario(lab).unwrap().jobs {
            let line = text
                .lines()
                .find(|l| l.contains(&format!("id: {},", job.id)))
                .unwrap();
            let sleeps = ["job1-", "job2-", "job3-", "job4-", "job5-"]
                .iter()
                .any(|p| line.contains(&format!("jobs/{p}")));
            let expected = if sleeps { 360 * S } else { 60 * S };
            assert_eq!(job.duration_ms, expected, "{lab} {}", job.id);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Lab 1: VC safety.

#[test]
fn lab1_vc1_jobs_run_one_after_another_on_dan_while_carol_stays_idle() {
    let o = run(Lab::VcSafety);
    let r = o.answer_run();
    let ids: Vec<&str> = o.scenario.jobs.iter().map(|j| j.id.as_str()).collect();
    assert!((3..=4).contains(&ids.len()));
    let mut runs: Vec<GroupRun> = Vec::new();
    for job in &o.scenario.jobs {
        assert_eq!(job.vc, "vc1");
        assert_eq!(job.priority_label, "prod");
        assert_eq!(job.submit_ms, 0, "submitted at the same time");
        let job_runs = runs_of(r, &job.id);
        assert_eq!(job_runs.len(), 1, "{}: one run", job.id);
        assert_eq!(job_runs[0].end, RunEnd::Finished);
        runs.extend(job_runs);
    }
    runs.sort_by_key(|g| g.start_ms);
    for g in &runs {
        assert_eq!(
            nodes_of(g),
            BTreeSet::from(["hostname-dan".to_string()]),
            "{}",
            g.job
        );
    }
    // One after another: each starts when the previous ends.
    assert_eq!(runs[0].start_ms, 0);
    for w in runs.windows(2) {
        assert_eq!(
            w[1].start_ms, w[0].end_ms,
            "{} after {}",
            w[1].job, w[0].job
        );
    }
    // The waiting ones waited for vc1's quota, and hostname-carol ran nothing at all.
    for g in &runs[1..] {
        let waits = waits_of(r, &g.job);
        assert!(
            waits
                .iter()
                .any(|(t, why)| *t == 0 && why.contains("quota")),
            "{}: {waits:?}",
            g.job
        );
    }
    assert!(runs_on(r, "hostname-carol").is_empty(), "carol idle");
    assert_eq!(
        r.timeline
            .iter()
            .map(|p| p.busy_by_vc.values().sum::<u32>())
            .max(),
        Some(1),
        "never more than one GPU busy"
    );

    // The answers name the node, the start times and the idle machine.
    let starts: Vec<String> = runs.iter().map(|g| clock(g.start_ms)).collect();
    let text = all_answers(&o);
    assert!(
        o.answers[0]
            .answer
            .contains(&format!("All {} vc1 jobs ran on hostname-dan", ids.len())),
        "{text}"
    );
    assert!(o.answers[0].answer.contains("one after another"), "{text}");
    for start in &starts {
        assert!(o.answers[0].answer.contains(start.as_str()), "{text}");
    }
    assert!(
        o.answers[1]
            .answer
            .contains("hostname-carol (VC default's machine) was idle the whole time"),
        "{text}"
    );
    assert!(o.answers[1].answer.contains(&runs[1].job), "{text}");
}

// ---------------------------------------------------------------------------------------
// Lab 2: priority and preemption.

#[test]
fn lab2_prod_preempts_test_at_once_and_test_finishes_after_prod() {
    let o = run(Lab::Priority);
    let r = o.answer_run();
    let (test, prod) = (&o.scenario.jobs[0], &o.scenario.jobs[1]);
    assert_eq!(
        (test.priority_label.as_str(), test.vc.as_str()),
        ("test", "vc1")
    );
    assert_eq!(
        (prod.priority_label.as_str(), prod.vc.as_str()),
        ("prod", "vc1")
    );
    assert!(prod.submit_ms > test.submit_ms);

    // Test runs first, then prod preempts it the moment it is submitted.
    let test_runs = runs_of(r, &test.id);
    assert_eq!(test_runs[0].start_ms, test.submit_ms);
    assert!(test_runs[0].end_ms > prod.submit_ms || test_runs[0].end == RunEnd::Preempted);
    assert!(
        r.events.iter().any(|e| matches!(e,
            SimEvent::GroupPreempted { t, job, by, .. }
                if *t == prod.submit_ms && *job == test.id && *by == prod.id)),
        "{:?}",
        r.events
    );
    let prod_runs = runs_of(r, &prod.id);
    assert_eq!(prod_runs.len(), 1);
    assert_eq!(prod_runs[0].start_ms, prod.submit_ms, "prod did not wait");
    assert_eq!(test_runs[0].end, RunEnd::Preempted);
    assert_eq!(test_runs[0].end_ms, prod.submit_ms);

    // Test is retried: it waits, then restarts when prod ends.
    let waits = waits_of(r, &test.id);
    assert!(
        waits.iter().any(|(t, _)| *t == prod.submit_ms),
        "test waits after preemption: {waits:?}"
    );
    let prod_end = finished_at(r, &prod.id).unwrap();
    assert_eq!(prod_end, prod.submit_ms + prod.duration_ms);
    assert_eq!(test_runs.len(), 2);
    assert_eq!(test_runs[1].start_ms, prod_end, "restarts when prod ends");
    assert_eq!(nodes_of(&test_runs[1]), nodes_of(&prod_runs[0]));

    // Both finish at prod submit + prod duration + test duration.
    let expected = prod.submit_ms + prod.duration_ms + test.duration_ms;
    assert_eq!(finished_at(r, &test.id), Some(expected));
    assert_eq!(expected, 780 * S);
    let record = r.jobs.iter().find(|j| j.id == test.id).unwrap();
    assert_eq!(record.preemptions, 1);
    assert_eq!(record.outcome, JobOutcome::Finished);

    let text = all_answers(&o);
    assert!(o.answers[0].answer.starts_with("No: job2-prod"), "{text}");
    for fact in [
        format!(
            "preempted {} (vc1, test) at once, at {}",
            test.id,
            clock(prod.submit_ms)
        ),
        "hostname-dan".to_string(),
        format!("restarted from zero at {}", clock(prod_end)),
    ] {
        assert!(o.answers[0].answer.contains(&fact), "{fact}\n{text}");
    }
    for fact in [
        format!("{} finished at {}", prod.id, clock(prod_end)),
        format!("{} at {}", test.id, clock(expected)),
        format!("= {}", clock(expected)),
        "lost work".to_string(),
    ] {
        assert!(o.answers[1].answer.contains(&fact), "{fact}\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Lab 3: an opportunistic job.

#[test]
fn lab3_oppo_starts_at_once_on_carol_is_preempted_by_default_and_runs_again() {
    let o = run(Lab::Opportunistic);
    let r = o.answer_run();
    let (prod, oppo, test) = (
        &o.scenario.jobs[0],
        &o.scenario.jobs[1],
        &o.scenario.jobs[2],
    );
    assert_eq!(prod.priority_label, "prod");
    assert_eq!((oppo.priority_label.as_str(), oppo.priority), ("oppo", -1));
    assert_eq!(
        (test.vc.as_str(), test.priority_label.as_str()),
        ("default", "test")
    );

    let prod_runs = runs_of(r, &prod.id);
    let oppo_runs = runs_of(r, &oppo.id);
    // The oppo job starts at once on hostname-carol, while prod runs on hostname-dan.
    assert_eq!(oppo_runs[0].start_ms, oppo.submit_ms, "oppo did not wait");
    assert_eq!(
        nodes_of(&oppo_runs[0]),
        BTreeSet::from(["hostname-carol".to_string()])
    );
    assert_eq!(
        nodes_of(&prod_runs[0]),
        BTreeSet::from(["hostname-dan".to_string()])
    );
    assert!(prod_runs[0].start_ms <= oppo.submit_ms && prod_runs[0].end_ms > oppo.submit_ms);

    // The default test job preempts it at once.
    assert!(
        r.events.iter().any(|e| matches!(e,
            SimEvent::GroupPreempted { t, job, by, .. }
                if *t == test.submit_ms && *job == oppo.id && *by == test.id)),
        "{:?}",
        r.events
    );
    let test_runs = runs_of(r, &test.id);
    assert_eq!(test_runs[0].start_ms, test.submit_ms);
    assert_eq!(
        nodes_of(&test_runs[0]),
        BTreeSet::from(["hostname-carol".to_string()])
    );
    assert_eq!(oppo_runs[0].end, RunEnd::Preempted);

    // The oppo job waits, then runs again when a cell frees up.
    assert!(
        waits_of(r, &oppo.id)
            .iter()
            .any(|(t, _)| *t == test.submit_ms)
    );
    assert_eq!(oppo_runs.len(), 2, "{oppo_runs:?}");
    let restart = oppo_runs[1].start_ms;
    let freed: Vec<String> = group_runs(r)
        .into_iter()
        .filter(|g| g.job != oppo.id && g.end_ms == restart && g.end == RunEnd::Finished)
        .filter(|g| nodes_of(g) == nodes_of(&oppo_runs[1]))
        .map(|g| g.job)
        .collect();
    assert_eq!(
        freed,
        std::slice::from_ref(&test.id),
        "restarts when the default test job frees carol"
    );
    assert_eq!(restart, test.submit_ms + test.duration_ms);
    assert_eq!(finished_at(r, &oppo.id), Some(restart + oppo.duration_ms));

    let text = all_answers(&o);
    for fact in [
        format!("started at once, at {}", clock(oppo.submit_ms)),
        "hostname-carol GPU 0 (VC default's idle machine)".to_string(),
        "did not wait for the prod job".to_string(),
    ] {
        assert!(o.answers[0].answer.contains(&fact), "{fact}\n{text}");
    }
    for fact in [
        format!(
            "preempted {} at once, at {}",
            oppo.id,
            clock(test.submit_ms)
        ),
        format!("until {}, when {} finished", clock(restart), test.id),
        format!("finished at {}", clock(restart + oppo.duration_ms)),
    ] {
        assert!(o.answers[1].answer.contains(&fact), "{fact}\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Lab 4: gang scheduling.

#[test]
fn lab4_gang_waits_for_job5_then_both_tasks_start_together() {
    let o = run(Lab::Gang);
    let r = o.answer_run();
    let (holder, gang) = (&o.scenario.jobs[0], &o.scenario.jobs[1]);
    assert_eq!(gang.groups.len(), 1, "one gang group");
    assert_eq!(gang.groups[0].pod_count(), 2);

    let holder_runs = runs_of(r, &holder.id);
    let holder_end = finished_at(r, &holder.id).unwrap();
    assert!(gang.submit_ms > holder.submit_ms && gang.submit_ms < holder_end);
    let gang_runs = runs_of(r, &gang.id);
    assert_eq!(gang_runs.len(), 1);
    // Waits for job 5, then both tasks start at the same time, on both machines.
    assert!(
        waits_of(r, &gang.id)
            .iter()
            .any(|(t, _)| *t == gang.submit_ms)
    );
    assert_eq!(gang_runs[0].start_ms, holder_end);
    assert_eq!(gang_runs[0].pods.len(), 2);
    assert_eq!(nodes_of(&gang_runs[0]).len(), 2);
    let started: Vec<&SimEvent> = r
        .events
        .iter()
        .filter(|e| matches!(e, SimEvent::GroupStarted { job, .. } if *job == gang.id))
        .collect();
    assert_eq!(started.len(), 1, "both pods in one start event");
    // ... although one machine was free the whole time.
    let busy: BTreeSet<String> = holder_runs.iter().flat_map(nodes_of).collect();
    let free: Vec<String> = r
        .nodes
        .iter()
        .map(|(n, _)| n.clone())
        .filter(|n| !busy.contains(n))
        .collect();
    assert_eq!(free.len(), 1);
    assert!(
        runs_on(r, &free[0])
            .iter()
            .all(|g| g.start_ms >= gang_runs[0].start_ms),
        "{} free until the gang starts",
        free[0]
    );

    let text = all_answers(&o);
    assert!(
        o.answers[0].answer.contains(&format!(
            "started at {}, exactly when {} finished",
            clock(holder_end),
            holder.id
        )),
        "{text}"
    );
    assert!(
        o.answers[1].answer.contains(&format!(
            "No: both tasks started together at {}",
            clock(holder_end)
        )),
        "{text}"
    );
    assert!(
        o.answers[1]
            .answer
            .contains(&format!("{} had been free since {}", free[0], clock(0))),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// Lab 5: incremental scheduling.

#[test]
fn lab5_incremental_tasks_start_as_gpus_free_and_a_too_big_gang_is_rejected() {
    let o = run(Lab::Incremental);
    let r = o.answer_run();
    let (holder, inc) = (&o.scenario.jobs[0], &o.scenario.jobs[1]);
    let (gang4, inc4) = (spec(&o, "gang-4"), spec(&o, "incremental-4"));
    assert_eq!(inc.groups.len(), 2, "one group per task");

    let holder_end = finished_at(r, &holder.id).unwrap();
    let holder_nodes: BTreeSet<String> = runs_of(r, &holder.id).iter().flat_map(nodes_of).collect();
    let inc_runs = runs_of(r, &inc.id);
    assert_eq!(inc_runs.len(), 2);
    // One task starts at once on the free machine, the other when job 5 ends, on its node.
    assert_eq!(inc_runs[0].start_ms, inc.submit_ms);
    assert!(nodes_of(&inc_runs[0]).is_disjoint(&holder_nodes));
    assert_eq!(inc_runs[1].start_ms, holder_end);
    assert_eq!(nodes_of(&inc_runs[1]), holder_nodes);
    assert!(inc_runs[0].end_ms > holder_end, "the first task still runs");

    // The 4-task gang is rejected at once with a clear message.
    let rejected: Vec<(SimTimeMs, &str)> = r
        .events
        .iter()
        .filter_map(|e| match e {
            SimEvent::JobRejected { t, job, reason } if *job == gang4.id => {
                Some((*t, reason.as_str()))
            }
            _ => None,
        })
        .collect();
    assert_eq!(rejected.len(), 1);
    let (t, reason) = rejected[0];
    assert_eq!(t, gang4.submit_ms);
    for part in [
        "4 GPUs",
        "could never hold it",
        "2 GPUs",
        "gangAllocation: false",
    ] {
        assert!(reason.contains(part), "{part}: {reason}");
    }
    assert!(runs_of(r, &gang4.id).is_empty());

    // The 4-task incremental job is accepted and runs 2 at a time as tasks finish.
    let runs4 = runs_of(r, &inc4.id);
    assert_eq!(runs4.len(), 4);
    assert!(runs4.iter().all(|g| g.end == RunEnd::Finished));
    let starts: Vec<SimTimeMs> = runs4.iter().map(|g| g.start_ms).collect();
    let first = inc4.submit_ms;
    assert_eq!(starts, [first, first, first + 60 * S, first + 60 * S]);
    for late in &runs4[2..] {
        assert!(
            runs4[..2].iter().any(|g| g.end_ms == late.start_ms),
            "starts when a task finishes"
        );
    }
    assert_eq!(finished_at(r, &inc4.id), Some(first + 120 * S));

    let text = all_answers(&o);
    for fact in [
        format!("started at once at {}", clock(inc.submit_ms)),
        "(the free machine)".to_string(),
        format!(
            "started at {} on {}, when {} finished there",
            clock(holder_end),
            holder_nodes.iter().next().unwrap(),
            holder.id
        ),
    ] {
        assert!(o.answers[0].answer.contains(&fact), "{fact}\n{text}");
    }
    assert!(
        o.answers[1].answer.starts_with("No: gang-4")
            && o.answers[1]
                .answer
                .contains(&format!("rejected at once, at {}", clock(gang4.submit_ms)))
            && o.answers[1].answer.contains(reason),
        "{text}"
    );
    assert!(
        o.answers[2].answer.contains("was accepted")
            && o.answers[2].answer.contains("at most 2 at a time")
            && o.answers[2]
                .answer
                .contains(&format!("finished at {}", clock(first + 120 * S))),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------
// The command.

#[test]
fn cellsim_lab_all_prints_every_lab_and_writes_a_report_per_lab() {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-lab-all");
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(["lab", "all", "--out"])
        .arg(&out)
        // Any folder: the lab files are compiled in.
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for lab in Lab::ALL {
        assert!(stdout.contains(lab.title()), "{stdout}");
        let report = out.join(lab.name()).join("report.html");
        let html = std::fs::read_to_string(&report)
            .unwrap_or_else(|e| panic!("{}: {e}", report.display()));
        assert!(html.contains("questions and answers"), "{lab}");
        assert!(stdout.contains(&format!("Report: {}", report.display())));
        assert!(out.join(lab.name()).join("hived/events.log").is_file());
        assert!(out.join(lab.name()).join("answers.txt").is_file());
    }
    assert!(stdout.contains("Timeline:"));
    assert!(stdout.contains("A: All 3 vc1 jobs ran on hostname-dan"));
}

#[test]
fn cellsim_lab_rejects_an_unknown_lab_listing_the_choices() {
    let output = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(["lab", "gangs"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("vc-safety") && stderr.contains("all"),
        "{stderr}"
    );
}
