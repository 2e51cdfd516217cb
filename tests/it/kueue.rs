//! Kueue what-if (issue 17): the readers on realistic `kubectl -o yaml` dumps (the
//! example files of `scenarios/kueue/`, written with managedFields, status, owner
//! references and other noise), `cellsim replay --kueue` end to end with reports per
//! ClusterQueue, determinism, and bad input named by object and field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cellsim::kueue::{self, k8s::Skipped};
use cellsim::workload::IngestReport;

use crate::common::{files_under, root, scratch};

fn example(name: &str) -> PathBuf {
    root().join("scenarios/kueue").join(name)
}

fn cellsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
}

fn replay(out: &Path, extra: &[&str]) -> std::process::Output {
    cellsim()
        .args(["replay", "--cluster"])
        .arg(example("nodes.yaml"))
        .arg("--kueue")
        .arg(example("kueue.yaml"))
        .arg("--trace")
        .arg(example("workloads.yaml"))
        .arg("--out")
        .arg(out)
        .args(["--quiet"])
        .args(extra)
        .output()
        .unwrap()
}

/// `jobs.csv` of the default Kueue model after `cellsim replay --kueue` of `trace` on the
/// spec-string `cluster`; the replay must succeed.
fn kueue_jobs_csv(cluster: &str, kueue_file: &Path, trace: &Path, out: &Path) -> String {
    let output = cellsim()
        .args(["replay", "--cluster", cluster, "--kueue"])
        .arg(kueue_file)
        .arg("--trace")
        .arg(trace)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read_to_string(out.join("kueue+priority/jobs.csv")).unwrap()
}

#[test]
fn the_node_dump_gives_gpu_nodes_with_products_and_racks() {
    let nodes = kueue::read_nodes_file(&example("nodes.yaml")).unwrap();
    assert_eq!(nodes.nodes.len(), 6, "the control-plane node has no GPU");
    assert_eq!(nodes.notes, ["1 nodes without nvidia.com/gpu skipped"]);
    let skus: Vec<String> = nodes.nodes.iter().map(|n| n.sku()).collect();
    assert_eq!(skus[0], "NVIDIA-A100-SXM4-80GB");
    assert_eq!(skus[5], "NVIDIA-H100-80GB-HBM3");
    let config = kueue::cluster_of_nodes(&nodes.nodes, None, "nodes.yaml").unwrap();
    // Racks of two nodes (the rack label groups), one top-level cell each.
    assert_eq!(config.physical_cells.len(), 3);
    let rack1: Vec<&str> = config.physical_cells[0]
        .children
        .iter()
        .map(|c| c.address.as_str())
        .collect();
    assert_eq!(rack1, ["gpu-a100-r1-0", "gpu-a100-r1-1"]);
}

#[test]
fn the_kueue_dump_gives_queues_cohorts_and_notes() {
    let config = kueue::read_kueue_file(&example("kueue.yaml")).unwrap();
    assert_eq!(
        config.cluster_queues.keys().collect::<Vec<_>>(),
        ["research", "team-a", "team-b"]
    );
    let research = &config.cluster_queues["research"];
    assert_eq!(research.cohort.as_deref(), Some("ml"), "v1beta2 cohortName");
    assert_eq!(
        research
            .flavors
            .iter()
            .map(|f| f.flavor.as_str())
            .collect::<Vec<_>>(),
        ["h100", "a100"]
    );
    assert_eq!(
        config.quota("team-b", "a100").unwrap().lending_limit,
        Some(8)
    );
    assert_eq!(
        config.quota("team-a", "a100").unwrap().borrowing_limit,
        Some(8)
    );
    assert_eq!(
        config.cluster_queue_of("research", "train"),
        Some("research")
    );
    assert_eq!(config.priority_classes["batch"], 100);
    assert!(
        config.notes.iter().any(|n| n.contains("1 AdmissionCheck")),
        "{:?}",
        config.notes
    );
}

#[test]
fn the_workload_dump_is_a_trace_with_run_times_and_set_asides() {
    let config = kueue::read_kueue_file(&example("kueue.yaml")).unwrap();
    let text = std::fs::read_to_string(example("workloads.yaml")).unwrap();
    let mut skipped = Skipped::default();
    let workloads = kueue::read_workloads_str(
        &text,
        "workloads.yaml",
        &config.priority_classes,
        &mut skipped,
    )
    .unwrap();
    assert_eq!(workloads.len(), 48);
    assert!(skipped.is_empty());
    let mut report = IngestReport::default();
    let jobs = kueue::sim_jobs(workloads, &config, &mut report);
    assert_eq!(jobs.len(), 46);
    assert_eq!(report.count(kueue::workloads::issue::NOT_FINISHED), 2);
    assert_eq!(jobs[0].submit_ms, 0, "times start at the first creation");
    let by_cq: BTreeMap<&str, usize> = jobs.iter().fold(BTreeMap::new(), |mut m, j| {
        *m.entry(j.vc.as_str()).or_default() += 1;
        m
    });
    assert_eq!(by_cq.values().sum::<usize>(), 46);
    assert!(jobs.iter().all(|j| j.duration_ms > 0 && j.gpus() > 0));
}

#[test]
fn replay_with_kueue_reports_per_cluster_queue_and_is_deterministic() {
    let dir = scratch("kueue", "replay");
    let (a, b) = (dir.join("a"), dir.join("b"));
    for out in [&a, &b] {
        let output = replay(out, &["--model", "kueue+priority,kueue+fifo"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let vcs = std::fs::read_to_string(a.join("kueue+priority/vcs.csv")).unwrap();
    for cq in ["research", "team-a", "team-b"] {
        assert!(
            vcs.lines().any(|l| l.starts_with(&format!("{cq},"))),
            "{vcs}"
        );
    }
    let summary = std::fs::read_to_string(a.join("kueue+priority/summary.json")).unwrap();
    assert!(summary.contains("\"jobs\": 46"), "{summary}");
    let notes = std::fs::read_to_string(a.join("ingest.txt")).unwrap();
    assert!(
        notes.contains("not finished (run time unknown): 2"),
        "{notes}"
    );
    // Byte-identical outputs from the same inputs.
    let strip = |dir: &Path| {
        files_under(dir)
            .into_iter()
            .filter(|(p, _)| p.extension().is_some_and(|e| e != "html"))
            .collect::<Vec<_>>()
    };
    assert!(strip(&a) == strip(&b), "two replays differ");
}

#[test]
fn replay_with_kueue_names_the_bad_object_and_field() {
    let dir = scratch("kueue", "bad");
    let text = std::fs::read_to_string(example("kueue.yaml")).unwrap();
    let bad = text.replace(
        "queueingStrategy: StrictFIFO",
        "queueingStrategy: Strictest",
    );
    let bad_file = dir.join("kueue.yaml");
    std::fs::write(&bad_file, bad).unwrap();
    let output = cellsim()
        .args(["replay", "--cluster"])
        .arg(example("nodes.yaml"))
        .arg("--kueue")
        .arg(&bad_file)
        .arg("--trace")
        .arg(example("workloads.yaml"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("ClusterQueue team-b: field spec.queueingStrategy"),
        "{stderr}"
    );
    assert!(stderr.contains("StrictFIFO or BestEffortFIFO"), "{stderr}");
}

#[test]
fn models_lists_the_kueue_layer() {
    let output = cellsim().arg("models").output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("kueue"), "{stdout}");
}

/// The bundled sharing-anomaly scenario (1x8 and 2x4 teams in one cohort): the 1x8 team
/// waits 2.5 h under kueue where it would start at once alone, and nobody suffers under
/// hived (the numbers its comment explains).
#[test]
fn the_kueue_sharing_anomaly_scenario_shows_the_one_by_eight_team_suffering() {
    let dir = scratch("kueue", "sharing");
    let output = cellsim()
        .arg("run")
        .arg(example("sharing-anomaly.yaml"))
        .arg("--out")
        .arg(&dir)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = |model: &str, vc: &str| -> Vec<String> {
        stdout
            .lines()
            .find(|l| l.starts_with(model) && l.split_whitespace().nth(1) == Some(vc))
            .unwrap_or_else(|| panic!("no {model} {vc} row in\n{stdout}"))
            .split_whitespace()
            .map(str::to_string)
            .collect()
    };
    let kueue = row("kueue+priority", "one-by-eight");
    assert_eq!(kueue[4..6], ["02:30:00", "0s"], "{stdout}");
    assert_eq!(kueue.last().map(String::as_str), Some("yes"));
    for vc in ["one-by-eight", "two-by-four"] {
        assert_eq!(
            row("hived", vc).last().map(String::as_str),
            Some("no"),
            "{stdout}"
        );
    }
}

/// A Workload of `count` pods of 8 GPUs in namespace `ns`, created `created_s` seconds
/// after 08:00 and running `run_s` seconds.
fn workload(name: &str, priority: i32, created_s: u32, run_s: u32) -> String {
    let at = |s: u32| format!("2026-11-02T08:{:02}:{:02}Z", s / 60, s % 60);
    format!(
        "- apiVersion: kueue.x-k8s.io/v1beta1\n  kind: Workload\n  metadata: {{name: {name}, namespace: ns, creationTimestamp: \"{}\"}}\n  spec:\n    queueName: q\n    priority: {priority}\n    podSets:\n    - name: main\n      count: 1\n      template: {{spec: {{containers: [{{name: c, resources: {{requests: {{nvidia.com/gpu: \"8\"}}}}}}]}}}}\n  status:\n    conditions:\n    - {{type: Admitted, status: \"True\", lastTransitionTime: \"{}\"}}\n    - {{type: Finished, status: \"True\", lastTransitionTime: \"{}\"}}\n",
        at(created_s),
        at(created_s),
        at(created_s + run_s)
    )
}

/// See: issue 17 (248 of 50,000 workloads never finished). In a StrictFIFO ClusterQueue
/// a preempted workload went back to the queue behind a workload created after it, and
/// the engine's same-class shortcut then never asked that head again: the queue stood
/// still forever. A preempted workload keeps its place (Kueue orders by creation time),
/// the head is asked again once its quota is released, and every workload finishes in
/// creation order.
#[test]
fn a_preempted_workload_keeps_its_place_and_a_strict_fifo_queue_keeps_moving() {
    let dir = scratch("kueue", "strict-preempted");
    let kueue_file = dir.join("kueue.yaml");
    std::fs::write(
        &kueue_file,
        "apiVersion: kueue.x-k8s.io/v1beta1\nkind: ResourceFlavor\nmetadata: {name: a100}\nspec: {nodeLabels: {nvidia.com/gpu.product: A100}}\n---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue\nmetadata: {name: a}\nspec:\n  queueingStrategy: StrictFIFO\n  preemption: {withinClusterQueue: LowerPriority}\n  resourceGroups:\n  - coveredResources: [nvidia.com/gpu]\n    flavors:\n    - name: a100\n      resources: [{name: nvidia.com/gpu, nominalQuota: 8}]\n---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: LocalQueue\nmetadata: {name: q, namespace: ns}\nspec: {clusterQueue: a}\n",
    )
    .unwrap();
    let trace = dir.join("workloads.yaml");
    // `low` runs, `later` waits behind it, `high` preempts `low` and runs 100 s.
    let items = [
        workload("low", 0, 0, 1000),
        workload("later", 0, 1, 1000),
        workload("high", 10, 2, 100),
    ];
    std::fs::write(
        &trace,
        format!("apiVersion: v1\nkind: List\nitems:\n{}", items.concat()),
    )
    .unwrap();
    let jobs = kueue_jobs_csv("1x A100x8", &kueue_file, &trace, &dir.join("out"));
    let row = |name: &str| {
        jobs.lines()
            .find(|l| l.starts_with(&format!("ns/{name},")))
            .unwrap_or_else(|| panic!("{name} in {jobs}"))
            .split(',')
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    for name in ["low", "later", "high"] {
        assert_eq!(row(name)[11], "finished", "{jobs}");
    }
    // After `high` (2 s to 102 s), `low` runs again from zero, then `later`.
    assert_eq!(row("low")[9], "1", "{jobs}");
    assert_eq!(row("later")[5], "1102.000", "{jobs}");
}

/// A Kueue replay whose model names a placement gives `fgd` the workloads' own pod
/// shapes to measure fragmentation against, as a scenario's models do; without one the
/// replay carries no sharing options (and places as before).
#[test]
fn a_placement_in_a_kueue_replay_measures_against_the_workloads_pod_shapes() {
    let options = |models: &[&str]| kueue::KueueReplayOptions {
        cluster: example("nodes.yaml").display().to_string(),
        kueue: example("kueue.yaml"),
        trace: example("workloads.yaml"),
        models: models.iter().map(|m| m.to_string()).collect(),
        ..Default::default()
    };
    let plain = kueue::prepare(&options(&["kueue+fifo"])).unwrap();
    assert!(plain.scenario.model_options.sharing.is_none());
    let fgd = kueue::prepare(&options(&["kueue+fifo+fgd"])).unwrap();
    let sharing = fgd
        .scenario
        .model_options
        .sharing
        .as_ref()
        .expect("sharing options");
    let typical = sharing.typical.as_ref().expect("typical pods");
    // The shapes are the workloads' pods: each pod's GPU count, frequencies summing to 1.
    let pod_gpus: std::collections::BTreeSet<u32> = fgd
        .scenario
        .jobs
        .iter()
        .flat_map(|j| &j.groups)
        .flat_map(|g| g.members.iter().map(|m| m.leaf_cell_number))
        .collect();
    assert!(!typical.shapes.is_empty());
    for (shape, _) in &typical.shapes {
        assert!(
            pod_gpus.contains(&shape.num_gpu),
            "{shape:?} not a workload pod"
        );
    }
    let total: f64 = typical.shapes.iter().map(|(_, f)| f).sum();
    assert!((total - 1.0).abs() < 1e-9, "{total}");
    assert!(pod_gpus.len() > 1, "the example has pods of several sizes");
    assert!(
        typical.shapes.len() > 1,
        "not one whole GPU per pod: {:?}",
        typical.shapes
    );
}

/// Replays the fair-sharing example with `kueue_file`; the start times of each team's
/// jobs, in trace order.
fn fair_sharing_starts(kueue_file: &Path, out: &Path) -> BTreeMap<String, Vec<String>> {
    let jobs = kueue_jobs_csv("3x A100x8", kueue_file, &example("fair-sharing.csv"), out);
    let mut starts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in jobs.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        starts
            .entry(cols[1].to_string())
            .or_default()
            .push(cols[5].to_string());
    }
    starts
}

/// The bundled fair-sharing example: its Configuration turns fair sharing on, and the
/// cohort's 24 GPUs go 1:2 to the teams of weight 1 and 2 although team-a's jobs come
/// first; without the Configuration team-a takes them all first.
#[test]
fn the_fair_sharing_example_shares_the_cohort_by_weight() {
    let dir = scratch("kueue", "fair-sharing");
    let on = fair_sharing_starts(&example("fair-sharing.yaml"), &dir.join("on"));
    let count_at_zero = |starts: &BTreeMap<String, Vec<String>>, team: &str| {
        starts[team].iter().filter(|s| *s == "0.000").count()
    };
    assert_eq!(count_at_zero(&on, "team-a"), 2, "{on:?}");
    assert_eq!(count_at_zero(&on, "team-b"), 4, "{on:?}");
    let ingest = std::fs::read_to_string(dir.join("on/ingest.txt")).unwrap();
    assert!(
        ingest.contains("Configuration: only fairSharing is modelled"),
        "{ingest}"
    );
    let text = std::fs::read_to_string(example("fair-sharing.yaml")).unwrap();
    let (_, objects) = text
        .split_once("\n---\n")
        .expect("the Configuration is the first document");
    let off_file = dir.join("off.yaml");
    std::fs::write(&off_file, objects).unwrap();
    let off = fair_sharing_starts(&off_file, &dir.join("off"));
    assert_eq!(count_at_zero(&off, "team-a"), 6, "{off:?}");
    assert_eq!(count_at_zero(&off, "team-b"), 0, "{off:?}");
}
