//! Kueue what-if beyond the Workload dump (issue 17): a CSV trace with a `queue` column,
//! `--summary-only` with `--kueue`, the sweep axis over a quota field, and `cellsim plan`
//! adding nodes of a ResourceFlavor, each run through the CLI on the bundled examples or
//! on a small hand-made case whose answer can be worked out by hand.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{root, scratch};

fn example(name: &str) -> PathBuf {
    root().join("scenarios/kueue").join(name)
}

fn cellsim() -> Command {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
}

fn replay(trace: &Path, out: &Path, extra: &[&str]) -> Output {
    cellsim()
        .args(["replay", "--cluster"])
        .arg(example("nodes.yaml"))
        .arg("--kueue")
        .arg(example("kueue.yaml"))
        .arg("--trace")
        .arg(trace)
        .arg("--out")
        .arg(out)
        .arg("--quiet")
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `vcs.csv` rows as (ClusterQueue, jobs, finished).
fn vc_jobs(path: &Path) -> Vec<(String, u64, u64)> {
    let mut reader = csv::Reader::from_path(path).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].to_string(),
                r[1].parse().unwrap(),
                r[2].parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_csv_trace_with_a_queue_column_replays_per_cluster_queue() {
    let out = scratch("kueue-surface", "csv");
    let output = replay(&example("workloads.csv"), &out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let ingest = std::fs::read_to_string(out.join("ingest.txt")).unwrap();
    assert!(
        ingest.contains("8 workloads read, 8 jobs to replay on 3 ClusterQueues"),
        "{ingest}"
    );
    // LocalQueues team-a/default, team-b/default and research/train map to the
    // ClusterQueues of the same names: 3 + 3 + 2 rows of the file.
    assert_eq!(
        vc_jobs(&out.join("kueue+priority/vcs.csv")),
        [
            ("research".to_string(), 2, 2),
            ("team-a".to_string(), 3, 3),
            ("team-b".to_string(), 3, 3),
        ]
    );
    // pretrain-1 asks for 2 pods of 8 GPUs: the pods column shapes the gang.
    let events = std::fs::read_to_string(out.join("kueue+priority/events.log")).unwrap();
    assert!(events.contains("team-a/pretrain-1"), "{events}");
}

#[test]
fn a_csv_row_naming_an_unknown_local_queue_is_an_error_with_file_line_and_the_known_queues() {
    let dir = scratch("kueue-surface", "csv-bad");
    let trace = dir.join("bad.csv");
    std::fs::write(
        &trace,
        "id,submit_s,duration_s,gpus,queue\nok,0,60,8,team-a/default\nlost,5,60,8,team-a/trian\n",
    )
    .unwrap();
    let output = replay(&trace, &dir.join("out"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("bad.csv:3: column queue: value \"team-a/trian\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("research/train, team-a/default, team-b/default"),
        "{stderr}"
    );
}

#[test]
fn summary_only_gives_the_summary_of_the_full_kueue_replay() {
    let dir = scratch("kueue-surface", "summary-only");
    let models = ["--model", "kueue+priority,kueue+fifo"];
    let full = replay(&example("workloads.yaml"), &dir.join("full"), &models);
    assert!(full.status.success(), "{}", text(&full.stderr));
    let mut args = models.to_vec();
    args.push("--summary-only");
    let short = replay(&example("workloads.yaml"), &dir.join("short"), &args);
    assert!(short.status.success(), "{}", text(&short.stderr));
    for model in ["kueue+priority", "kueue+fifo"] {
        for file in ["summary.json", "vcs.csv"] {
            let a = std::fs::read(dir.join("full").join(model).join(file)).unwrap();
            let b = std::fs::read(dir.join("short").join(model).join(file)).unwrap();
            assert!(a == b, "{model}/{file} differs");
        }
        assert!(!dir.join("short").join(model).join("jobs.csv").exists());
    }
    assert!(!dir.join("short/report.html").exists());
}

#[test]
fn the_quota_sweep_runs_once_per_value_with_different_results() {
    let out = scratch("kueue-surface", "sweep");
    let output = cellsim()
        .arg("sweep")
        .arg(example("quota-sweep.yaml"))
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let mut reader = csv::Reader::from_path(out.join("points.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let column = |name: &str| headers.iter().position(|h| h == name).unwrap();
    let (quota, vc, wait) = (column("kueue_quota"), column("vc"), column("wait_mean_s"));
    let research: Vec<(String, String)> = reader
        .records()
        .map(Result::unwrap)
        .filter(|r| &r[vc] == "research")
        .map(|r| (r[quota].to_string(), r[wait].to_string()))
        .collect();
    assert_eq!(research.len(), 2, "one run per value: {research:?}");
    assert_eq!((research[0].0.as_str(), research[1].0.as_str()), ("0", "8"));
    assert_ne!(
        research[0].1, research[1].1,
        "borrowing 0 or 8 H100 changes research's waits"
    );
}

fn sweep_error(dir: &Path, axis: &str) -> String {
    let file = dir.join("sweep.yaml");
    let body = format!(
        "name: bad\nreplay:\n  cluster: {}\n  kueue: {}\n  trace: {}\naxes:\n  {axis}\n",
        example("nodes.yaml").display(),
        example("kueue.yaml").display(),
        example("workloads.csv").display()
    );
    std::fs::write(&file, body).unwrap();
    let output = cellsim()
        .arg("sweep")
        .arg(&file)
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{axis}");
    text(&output.stderr)
}

#[test]
fn a_bad_quota_axis_names_the_line_and_what_exists() {
    let dir = scratch("kueue-surface", "sweep-bad");
    let err = sweep_error(
        &dir,
        "kueue: {clusterQueue: team-z, field: nominalQuota, flavor: a100, values: [8]}",
    );
    assert!(
        err.contains("sweep.yaml:7:3: axes.kueue: clusterQueue"),
        "{err}"
    );
    assert!(
        err.contains("they define research, team-a, team-b"),
        "{err}"
    );
    let err = sweep_error(
        &dir,
        "kueue: {clusterQueue: team-a, field: borrowLimit, flavor: a100, values: [8]}",
    );
    assert!(err.contains("sweep.yaml:7:3: axes.kueue.field"), "{err}");
    assert!(
        err.contains("nominalQuota, borrowingLimit, lendingLimit"),
        "{err}"
    );
    let err = sweep_error(
        &dir,
        "kueue: {cohort: ml, field: nominalQuota, flavor: v100, values: [8]}",
    );
    assert!(
        err.contains(
            "flavor: the Kueue objects define no ResourceFlavor \"v100\"; they define a100, h100"
        ),
        "{err}"
    );
}

/// One 8-GPU node and four 8-GPU jobs of one hour submitted together: with n nodes the
/// last of them waits (4 / n rounded up - 1) hours, so a p95 wait of at most 30 min
/// needs 4 nodes, 3 added, when the ClusterQueue's quota grows with them; with its
/// quota kept at 8 GPUs, no number of nodes helps.
#[test]
fn plan_answers_how_many_nodes_of_a_flavor() {
    let dir = scratch("kueue-surface", "plan");
    std::fs::write(
        dir.join("kueue.yaml"),
        "apiVersion: kueue.x-k8s.io/v1beta1\nkind: ResourceFlavor\nmetadata: {name: a100}\nspec: {nodeLabels: {nvidia.com/gpu.product: A100}}\n---\n\
         apiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue\nmetadata: {name: team}\nspec:\n  resourceGroups:\n  - coveredResources: [nvidia.com/gpu]\n    flavors:\n    - name: a100\n      resources: [{name: nvidia.com/gpu, nominalQuota: 8}]\n---\n\
         apiVersion: kueue.x-k8s.io/v1beta1\nkind: LocalQueue\nmetadata: {name: q, namespace: ns}\nspec: {clusterQueue: team}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("jobs.csv"),
        "id,submit_s,duration_s,gpus,queue\na,0,3600,8,ns/q\nb,0,3600,8,ns/q\nc,0,3600,8,ns/q\nd,0,3600,8,ns/q\n",
    )
    .unwrap();
    let plan = |owner: &str, name: &str| -> serde_json::Value {
        let file = dir.join(format!("{name}.yaml"));
        std::fs::write(
            &file,
            format!(
                "name: {name}\nreplay: {{cluster: \"1x A100x8\", kueue: kueue.yaml, trace: jobs.csv}}\nplan: {{sku: a100, {owner}model: kueue+priority, targetP95: 30m, maxNodes: 6}}\n"
            ),
        )
        .unwrap();
        let out = dir.join(format!("out-{name}"));
        let output = cellsim()
            .arg("plan")
            .arg(&file)
            .arg("--out")
            .arg(&out)
            .arg("--quiet")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).unwrap()).unwrap()
    };
    let owned = plan("clusterQueue: team, ", "owned");
    assert_eq!(owned["nodesToAdd"], 3, "{owned:#}");
    let kept = plan("", "kept");
    assert!(kept["nodesToAdd"].is_null(), "{kept:#}");
}

/// The bundled TAS example (its comment says what each workload shows): the required
/// 2-pod gang runs within one rack, the required 3-pod gang never finds a rack of three
/// and stays unfinished, the preferred one runs across racks.
#[test]
fn topology_required_keeps_a_gang_in_one_rack_or_waits_and_preferred_falls_back() {
    let out = scratch("kueue-surface", "tas");
    let output = replay(&example("tas-workloads.yaml"), &out, &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let events = std::fs::read_to_string(out.join("kueue+priority/events.log")).unwrap();
    let started = |job: &str| -> Vec<String> {
        let line = events
            .lines()
            .find(|l| l.contains(job) && l.contains(" started on "))
            .unwrap_or_else(|| panic!("{job} never started:\n{events}"));
        let mut racks: Vec<String> = line
            .split_whitespace()
            .filter(|w| w.starts_with("gpu-a100-"))
            .map(|w| w.split('-').nth(2).unwrap().to_string())
            .collect();
        racks.dedup();
        racks
    };
    assert_eq!(started("jobset-gang-rack"), ["r1"]);
    assert_eq!(started("jobset-wide-pref").len(), 2, "across two racks");
    assert!(
        !events.contains("jobset-wide-rack started"),
        "no A100 rack has three nodes:\n{events}"
    );
    assert!(events.contains("waiting for one topology.kubernetes.io/rack domain"));
    assert_eq!(
        vc_jobs(&out.join("kueue+priority/vcs.csv"))[1],
        ("team-a".to_string(), 2, 1)
    );
}

#[test]
fn a_topology_level_no_node_has_is_an_error_naming_the_workload() {
    let dir = scratch("kueue-surface", "tas-bad");
    let text_in = std::fs::read_to_string(example("tas-workloads.yaml")).unwrap();
    let trace = dir.join("w.yaml");
    std::fs::write(
        &trace,
        text_in.replacen(
            "podset-required-topology: topology.kubernetes.io/rack",
            "podset-required-topology: example.com/pod",
            1,
        ),
    )
    .unwrap();
    let output = replay(&trace, &dir.join("out"), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("Workload team-a/jobset-gang-rack: annotation kueue.x-k8s.io/podset-required-topology: no node has the label \"example.com/pod\""),
        "{stderr}"
    );
    assert!(stderr.contains("topology.kubernetes.io/rack"), "{stderr}");
}
