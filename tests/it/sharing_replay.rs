//! GPU sharing through the engine (issue 18): openb pods replayed with their GPU shares,
//! CPU and memory (`--fractional share`) on hand-made openb node lists, under the pool
//! layers and a model's placement (`LAYER+POLICY+PLACEMENT`) and under the HiveD layers
//! (`cell/leaf_share.rs`); the refusals (`hived` with a placement, unknown placements);
//! and the real openb default trace when `../shared/` is there.

use std::path::{Path, PathBuf};
use std::process::Command;

use cellsim::replay::{ReplayOptions, prepare};
use cellsim::sim::{JobOutcome, JobRecord, run_model};
use cellsim::workload::{Fractional, OpenbOptions, ReadOptions};

use crate::common::{scratch, shared};

const POD_HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time\n";

/// Writes an openb node list and pod list (rows after the headers) into a scratch folder.
fn inputs(name: &str, nodes: &str, pods: &str) -> (PathBuf, PathBuf) {
    let dir = scratch("sharing-replay", name);
    let node_file = dir.join("nodes.csv");
    let pod_file = dir.join("pods.csv");
    std::fs::write(
        &node_file,
        format!("sn,cpu_milli,memory_mib,gpu,model\n{nodes}"),
    )
    .unwrap();
    std::fs::write(&pod_file, format!("{POD_HEADER}{pods}")).unwrap();
    (node_file, pod_file)
}

fn options(nodes: &Path, pods: &Path, fractional: Fractional) -> ReplayOptions {
    ReplayOptions {
        cluster: nodes.display().to_string(),
        trace: pods.to_path_buf(),
        read: ReadOptions {
            openb: OpenbOptions {
                fractional,
                ..OpenbOptions::default()
            },
            ..ReadOptions::default()
        },
        ..ReplayOptions::default()
    }
}

/// The jobs of `model` replaying `pods` on `nodes`.
fn replay(nodes: &Path, pods: &Path, fractional: Fractional, model: &str) -> Vec<JobRecord> {
    let mut o = options(nodes, pods, fractional);
    o.models = vec![model.to_string()];
    let prepared = prepare(&o).unwrap();
    let result = run_model(&prepared.scenario, model).unwrap();
    assert!(
        result
            .jobs
            .iter()
            .all(|j| j.outcome == JobOutcome::Finished),
        "{model}: every job finishes"
    );
    result.jobs
}

fn job<'a>(jobs: &'a [JobRecord], id: &str) -> &'a JobRecord {
    jobs.iter().find(|j| j.id == id).unwrap()
}

fn wait_s(job: &JobRecord) -> u64 {
    (job.start_ms.unwrap() - job.submit_ms) / 1000
}

fn cellsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(args)
        .output()
        .expect("cellsim runs")
}

#[test]
fn two_half_gpu_pods_run_at_once_on_one_gpu() {
    let (nodes, pods) = inputs(
        "halves",
        "n0,32000,65536,1,T4\n",
        "a,1000,1024,1,500,,LS,Running,0,100,0\n\
         b,1000,1024,1,500,,LS,Running,0,100,0\n",
    );
    let jobs = replay(&nodes, &pods, Fractional::Share, "shared+fifo");
    assert_eq!((wait_s(job(&jobs, "a")), wait_s(job(&jobs, "b"))), (0, 0));
    // Each is charged half a GPU for its 100 s.
    assert_eq!(job(&jobs, "b").gpu_ms, 50_000);
    // Read as whole GPUs, the second waits for the first.
    let whole = replay(&nodes, &pods, Fractional::WholeGpu, "shared+fifo");
    assert_eq!(wait_s(job(&whole, "b")), 100);
    assert_eq!(job(&whole, "b").gpu_ms, 100_000);
}

#[test]
fn half_gpu_pods_count_as_half_a_busy_gpu() {
    let (nodes, pods) = inputs(
        "busy",
        "n0,32000,65536,2,T4\n",
        "a,1000,1024,1,500,,LS,Running,0,100,0\n\
         b,1000,1024,1,500,,LS,Running,0,100,0\n",
    );
    let mut o = options(&nodes, &pods, Fractional::Share);
    o.models = vec!["shared+fifo".into()];
    let prepared = prepare(&o).unwrap();
    let result = run_model(&prepared.scenario, "shared+fifo").unwrap();
    let busiest = result
        .timeline
        .iter()
        .map(|p| p.busy_by_vc.values().sum::<u32>())
        .max();
    assert_eq!(busiest, Some(1), "two halves are one busy GPU, not two");
}

#[test]
fn a_cpu_full_node_makes_a_pod_wait() {
    // GPUs are free on n0 while a runs, but its CPU is not.
    let (nodes, pods) = inputs(
        "cpu-wait",
        "n0,8000,65536,2,T4\n",
        "a,6000,1024,1,1000,,LS,Running,0,100,0\n\
         b,4000,1024,1,1000,,LS,Running,10,110,10\n",
    );
    let jobs = replay(&nodes, &pods, Fractional::Share, "shared+fifo");
    assert_eq!(wait_s(job(&jobs, "b")), 90);
    // Without CPU (whole-GPU reading), it starts at once.
    let whole = replay(&nodes, &pods, Fractional::WholeGpu, "shared+fifo");
    assert_eq!(wait_s(job(&whole, "b")), 0);
}

#[test]
fn a_memory_full_node_sends_a_pod_elsewhere() {
    // n0 is the fuller node after a (topology packs there), but b's memory fits only n1.
    let (nodes, pods) = inputs(
        "memory-elsewhere",
        "n0,32000,8192,2,T4\nn1,32000,65536,4,T4\n",
        "a,1000,6000,1,1000,,LS,Running,0,100,0\n\
         b,1000,4000,1,1000,,LS,Running,10,110,10\n\
         c,1000,1000,1,1000,,LS,Running,20,120,20\n",
    );
    let jobs = replay(&nodes, &pods, Fractional::Share, "shared+fifo");
    assert_eq!(job(&jobs, "a").nodes, ["n0"]);
    assert_eq!(job(&jobs, "b").nodes, ["n1"]);
    assert_eq!(job(&jobs, "c").nodes, ["n0"], "packing where memory allows");
    assert_eq!(wait_s(job(&jobs, "b")), 0);
}

/// A PAI 2020 machine list carries CPU (cores) and memory (GiB) too.
#[test]
fn a_pai_machine_lists_cpu_limits_its_node() {
    let (_, pods) = inputs(
        "pai-cpu",
        "",
        "a,3000,1024,1,1000,,LS,Running,0,100,0\n\
         b,3000,1024,1,1000,,LS,Running,10,110,10\n",
    );
    let machines = pods.with_file_name("pai_machine_spec.csv");
    std::fs::write(&machines, "m0,T4,4,16,2\n").unwrap();
    let jobs = replay(&machines, &pods, Fractional::Share, "shared+fifo");
    assert_eq!(
        wait_s(job(&jobs, "b")),
        90,
        "4 cores hold one 3-core pod at a time"
    );
}

#[test]
fn gpu_spec_restricts_the_node() {
    // Both nodes are empty and alike but for the model: the tie would go to n0.
    let (nodes, pods) = inputs(
        "gpu-spec",
        "n0,32000,65536,2,T4\nn1,32000,65536,2,P100\n",
        "a,1000,1024,1,500,P100|V100M16,LS,Running,0,100,0\n\
         b,1000,1024,1,500,,LS,Running,0,100,0\n",
    );
    for model in ["shared+fifo", "yarn-cs+fifo+bestfit", "kueue+fifo+fgd"] {
        let jobs = replay(&nodes, &pods, Fractional::Share, model);
        assert_eq!(job(&jobs, "a").nodes, ["n1"], "{model}");
    }
}

/// n0 has 4 GPUs and few CPUs, n1 2 GPUs and many: `topology` (fewest GPUs left) puts a
/// 1-GPU pod on n1, `bestfit` (least CPU and GPU left, weighted alike) on n0.
#[test]
fn the_placement_chooses_where_a_pod_goes() {
    let (nodes, pods) = inputs(
        "placement",
        "n0,8000,65536,4,T4\nn1,128000,65536,2,T4\n",
        "a,1000,1024,1,1000,,LS,Running,0,100,0\n",
    );
    let on = |model: &str| {
        job(&replay(&nodes, &pods, Fractional::Share, model), "a")
            .nodes
            .clone()
    };
    assert_eq!(on("shared+fifo"), ["n1"]);
    assert_eq!(on("shared+fifo+topology"), ["n1"]);
    assert_eq!(on("shared+fifo+bestfit"), ["n0"]);
    // Whole GPUs, any placement but topology: the shared cluster places too.
    let whole = replay(&nodes, &pods, Fractional::WholeGpu, "shared+fifo+bestfit");
    assert_eq!(job(&whole, "a").nodes, ["n0"]);
}

/// kube-scheduler's two strategies as placements: `most-allocated` packs two 1-GPU pods
/// onto one of two empty nodes, `least-allocated` spreads them, under the pool layers
/// (the Kueue knob "MostAllocated or LeastAllocated").
#[test]
fn most_allocated_packs_and_least_allocated_spreads() {
    let (nodes, pods) = inputs(
        "allocated",
        "n0,64000,262144,8,A100\nn1,64000,262144,8,A100\n",
        "a,4000,8192,1,1000,,LS,Running,0,100,0\nb,4000,8192,1,1000,,LS,Running,10,100,10\n",
    );
    let nodes_of = |model: &str| {
        let jobs = replay(&nodes, &pods, Fractional::WholeGpu, model);
        [job(&jobs, "a").nodes.clone(), job(&jobs, "b").nodes.clone()]
    };
    for layer in ["shared", "kueue"] {
        let packed = nodes_of(&format!("{layer}+fifo+most-allocated"));
        assert_eq!(packed[0], packed[1], "{layer}: packed on one node");
        let spread = nodes_of(&format!("{layer}+fifo+least-allocated"));
        assert_ne!(spread[0], spread[1], "{layer}: spread over both nodes");
    }
}

/// Naming the default placement changes nothing: `+topology` is today's model, byte for
/// byte, on a bundled scenario.
#[test]
fn naming_the_default_placement_changes_no_output() {
    let dir = scratch("sharing-replay", "default-outputs");
    let scenario = crate::common::root().join("scenarios/labs/gang.yaml");
    let run = |model: &str| {
        let out = dir.join(model.replace('+', "-"));
        let o = cellsim(&[
            "run",
            &scenario.display().to_string(),
            "--model",
            model,
            "--out",
            &out.display().to_string(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        std::fs::read_to_string(out.join(model).join("jobs.csv")).unwrap()
    };
    for (plain, named) in [
        ("shared+fifo", "shared+fifo+topology"),
        ("yarn-cs+priority", "yarn-cs+priority+topology"),
    ] {
        assert_eq!(run(plain), run(named), "{named}");
    }
}

#[test]
fn hived_refuses_a_placement_and_unknown_placements_are_listed() {
    let (nodes, pods) = inputs(
        "refusals",
        "n0,32000,65536,2,T4\n",
        "a,1000,1024,1,500,,LS,Running,0,100,0\n",
    );
    let (nodes, pods) = (nodes.display().to_string(), pods.display().to_string());
    let replay = |extra: &[&str]| {
        let mut args = vec!["replay", "--cluster", &nodes, "--trace", &pods, "--quiet"];
        args.extend_from_slice(extra);
        let o = cellsim(&args);
        assert_eq!(o.status.code(), Some(1), "{extra:?}");
        String::from_utf8_lossy(&o.stderr).into_owned()
    };
    let e = replay(&["--model", "hived+fifo+fgd"]);
    assert!(
        e.contains("hived layer") && e.contains("shared, yarn-cs, kueue"),
        "{e}"
    );
    let e = replay(&["--model", "isolated+fifo+bestfit"]);
    assert!(e.contains("isolated layer"), "{e}");
    let e = replay(&["--model", "shared+fifo+tightest"]);
    assert!(
        e.contains("unknown placement \"tightest\"")
            && e.contains("topology, fgd, bestfit, gpu-packing, gpu-clustering, dotprod, random"),
        "{e}"
    );
}

/// Under `hived` and `isolated`, two half-GPU pods of the one VC an openb cluster gets
/// share its one GPU and a third waits; CPU and memory are not limited there (a pod
/// asking for more CPU than the node has still runs), while the shared pool refuses it.
#[test]
fn hived_and_isolated_replay_shares_on_shared_leaves() {
    let (nodes, pods) = inputs(
        "hived-halves",
        "n0,2000,65536,1,T4\n",
        "a,1000,1024,1,500,,LS,Running,0,100,0\n\
         b,1000,1024,1,500,,LS,Running,0,100,0\n\
         c,8000,1024,1,500,,LS,Running,0,100,0\n",
    );
    for model in ["hived+fifo", "isolated+fifo", "hived+priority+topology"] {
        let jobs = replay(&nodes, &pods, Fractional::Share, model);
        let waits: Vec<u64> = ["a", "b", "c"]
            .iter()
            .map(|id| wait_s(job(&jobs, id)))
            .collect();
        assert_eq!(waits, [0, 0, 100], "{model}");
        assert_eq!(
            job(&jobs, "b").gpu_ms,
            50_000,
            "{model}: half a GPU charged"
        );
        assert_eq!(job(&jobs, "b").nodes, ["n0"], "{model}");
    }
    // The same pods on the shared cluster: c's 8 CPUs never fit the 2-CPU node.
    let mut o = options(&nodes, &pods, Fractional::Share);
    o.models = vec!["shared+fifo".into()];
    let prepared = prepare(&o).unwrap();
    let result = run_model(&prepared.scenario, "shared+fifo").unwrap();
    assert_eq!(
        job(&result.jobs, "c").outcome,
        JobOutcome::Rejected,
        "CPU counts in the pool"
    );
}

#[test]
fn a_bad_cpu_value_names_the_row_and_column() {
    let (nodes, pods) = inputs(
        "bad-cpu",
        "n0,32000,65536,2,T4\n",
        "a,lots,1024,1,500,,LS,Running,0,100,0\n",
    );
    let o = options(&nodes, &pods, Fractional::Share);
    let prepared = prepare(&o).unwrap();
    let line = prepared.ingest.lines().join("\n");
    assert!(line.contains("pods.csv:2: column cpu_milli"), "{line}");
}

/// The real openb default pod list with its creation and deletion times and its shares,
/// CPU and memory, on the openb GPU nodes, under FGD: every pod runs, and the GPU time
/// charged is the shares' (less than reading each share as a whole GPU).
#[test]
fn openb_replays_with_shares_under_every_pool_layer_placement() {
    let (Some(nodes), Some(pods)) = (
        shared("traces/openb/openb_node_list_gpu_node.csv"),
        shared("traces/openb/openb_pod_list_default.csv"),
    ) else {
        return;
    };
    let gpu_ms = |fractional, model: &str| -> u64 {
        replay(&nodes, &pods, fractional, model)
            .iter()
            .map(|j| j.gpu_ms)
            .sum()
    };
    let shares = gpu_ms(Fractional::Share, "shared+fifo+fgd");
    let whole = gpu_ms(Fractional::WholeGpu, "shared+fifo");
    assert!(shares < whole, "shares {shares} < whole {whole}");
    let mut o = options(&nodes, &pods, Fractional::Share);
    o.models = vec!["shared+fifo+fgd".into()];
    let prepared = prepare(&o).unwrap();
    // 7,063 GPU pods and, with shares, the 1,088 CPU-only pods (CPU and memory only).
    assert_eq!(prepared.scenario.jobs.len(), 7063 + 1088);
    assert_eq!(
        prepared
            .ingest
            .count(cellsim::workload::openb::FRACTIONAL_KEPT),
        3077
    );
    assert_eq!(
        prepared
            .ingest
            .count(cellsim::workload::openb::CPU_ONLY_KEPT),
        1088
    );
}

/// The Kueue CPU/memory fit example (`scenarios/kueue/cpu-fit/`), replayed under `models`.
fn kueue_fit(models: &[&str]) -> cellsim::sim::Scenario {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kueue/cpu-fit");
    let options = cellsim::kueue::KueueReplayOptions {
        cluster: dir.join("nodes.yaml").display().to_string(),
        kueue: dir.join("kueue.yaml"),
        trace: dir.join("workloads.yaml"),
        models: models.iter().map(|m| m.to_string()).collect(),
        ..Default::default()
    };
    cellsim::kueue::prepare(&options).unwrap().scenario
}

#[test]
fn a_kueue_replay_with_a_placement_fits_pod_cpu_and_gpu_model_on_node_dumps() {
    let scenario = kueue_fit(&["kueue+fifo+bestfit"]);
    let jobs = run_model(&scenario, "kueue+fifo+bestfit").unwrap().jobs;
    // Each node has 16 CPUs; each pod asks for 12. a100-second must wait for the A100
    // node's CPUs (the T4 node has CPUs and GPUs free, but the wrong model).
    let at = |id: &str| {
        let j = job(&jobs, &format!("team/{id}"));
        (wait_s(j), j.nodes.clone())
    };
    assert_eq!(at("a100-first"), (0, vec!["node-a100".to_string()]));
    assert_eq!(at("any-model"), (0, vec!["node-t4".to_string()]));
    assert_eq!(at("a100-second"), (3580, vec!["node-a100".to_string()]));
}

#[test]
fn a_kueue_replay_without_a_placement_stays_whole_gpu_beside_one_with_it() {
    let alone = run_model(&kueue_fit(&["kueue+fifo"]), "kueue+fifo")
        .unwrap()
        .jobs;
    // Whole GPUs only: CPU does not hold anyone back.
    assert!(alone.iter().all(|j| wait_s(j) == 0), "{alone:?}");
    // A run that also has a placed model carries pod resources; kueue+fifo ignores them.
    let beside = run_model(
        &kueue_fit(&["kueue+fifo", "kueue+fifo+bestfit"]),
        "kueue+fifo",
    )
    .unwrap()
    .jobs;
    assert_eq!(alone, beside);
}

#[test]
fn a_bad_node_quantity_in_a_kueue_replay_names_the_node_and_field() {
    let dir = scratch("sharing-replay", "kueue-bad-cpu");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/kueue/cpu-fit");
    let nodes = std::fs::read_to_string(src.join("nodes.yaml"))
        .unwrap()
        .replace("cpu: 16000m", "cpu: sixteen");
    std::fs::write(dir.join("nodes.yaml"), nodes).unwrap();
    let output = cellsim(&[
        "replay",
        "--cluster",
        dir.join("nodes.yaml").to_str().unwrap(),
        "--kueue",
        src.join("kueue.yaml").to_str().unwrap(),
        "--trace",
        src.join("workloads.yaml").to_str().unwrap(),
        "--model",
        "kueue+fifo+fgd",
        "--out",
        dir.join("out").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("Node node-t4: field status.allocatable.cpu: cannot read \"sixteen\""),
        "{stderr}"
    );
}

/// A sweep over `models` replaying `pods` on `nodes` with `fractional: share`; its
/// points.csv rows as (header -> value) maps, or its failure's stderr.
fn share_sweep(
    name: &str,
    nodes: &Path,
    pods: &Path,
    models: &str,
) -> Result<Vec<std::collections::HashMap<String, String>>, String> {
    // Not `name`'s folder: that holds the inputs, and scratch empties it.
    let dir = scratch("sharing-replay", &format!("{name}-run"));
    let file = dir.join("sweep.yaml");
    std::fs::write(
        &file,
        format!(
            "name: share\nreplay:\n  cluster: {}\n  trace: {}\n  fractional: share\naxes:\n  models: [{models}]\n  seeds: [1]\n",
            nodes.display(),
            pods.display()
        ),
    )
    .unwrap();
    let out = dir.join("out");
    let output = cellsim(&[
        "sweep",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let table = std::fs::read_to_string(out.join("points.csv")).unwrap();
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    Ok(lines
        .map(|line| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(line.split(',').map(str::to_string))
                .collect()
        })
        .collect())
}

#[test]
fn a_sweep_with_fractional_share_gives_pods_their_shares() {
    let (nodes, pods) = inputs(
        "sweep-halves",
        "n0,32000,65536,1,T4\n",
        "a,1000,1024,1,500,,LS,Running,0,100,0\n\
         b,1000,1024,1,500,,LS,Running,0,100,0\n",
    );
    let rows = share_sweep(
        "sweep-halves",
        &nodes,
        &pods,
        "shared+fifo, shared+fifo+fgd",
    )
    .unwrap();
    for model in ["shared+fifo", "shared+fifo+fgd"] {
        let waits: Vec<&str> = rows
            .iter()
            .filter(|r| r["model"] == model)
            .map(|r| r["wait_mean_s"].as_str())
            .collect();
        // Both halves share the one GPU at once (as whole GPUs, b would wait 100 s).
        assert!(
            !waits.is_empty() && waits.iter().all(|w| w.parse::<f64>() == Ok(0.0)),
            "{model}: {waits:?}"
        );
    }
}

/// `hived` places shares on leaves its VCs hold, so a `fractional: share` sweep runs it
/// with shares too: the two half-GPU pods share the one GPU at once.
#[test]
fn a_sweep_with_fractional_share_runs_hived_with_shares() {
    let (nodes, pods) = inputs(
        "sweep-hived",
        "n0,32000,65536,1,T4\n",
        "a,1000,1024,1,500,,LS,Running,0,100,0\n\
         b,1000,1024,1,500,,LS,Running,0,100,0\n",
    );
    let rows = share_sweep("sweep-hived", &nodes, &pods, "hived+fifo").unwrap();
    assert!(
        !rows.is_empty() && rows.iter().all(|r| r["wait_mean_s"] == "0.000"),
        "{rows:?}"
    );
}

#[test]
fn cpu_only_pods_take_cpu_and_memory_under_fractional_share() {
    let (nodes, pods) = inputs(
        "cpu-only",
        "n0,32000,65536,2,T4\n",
        "cpu,30000,1024,0,0,,LS,Running,0,100,0\n\
         gpu,4000,1024,1,1000,,LS,Running,1,101,1\n",
    );
    let jobs = replay(&nodes, &pods, Fractional::Share, "shared+fifo");
    let cpu = job(&jobs, "cpu");
    // The CPU-only pod runs at once and holds no GPU time; the GPU pod waits for its CPUs.
    assert_eq!((wait_s(cpu), cpu.gpus, cpu.gpu_ms), (0, 0, 0));
    assert_eq!(wait_s(job(&jobs, "gpu")), 99);
    // Without shares the CPU-only pod is skipped, as before.
    let whole = replay(&nodes, &pods, Fractional::WholeGpu, "shared+fifo");
    assert_eq!(whole.len(), 1);
    assert_eq!(wait_s(job(&whole, "gpu")), 0);
}

#[test]
fn the_timeline_of_a_sharing_run_keeps_milli_gpus() {
    let (nodes, pods) = inputs(
        "milli-timeline",
        "n0,32000,65536,2,T4\n",
        "a,1000,1024,1,300,,LS,Running,0,100,0\n\
         b,1000,1024,1,450,,LS,Running,50,150,50\n",
    );
    let timeline = |fractional| {
        let mut o = options(&nodes, &pods, fractional);
        o.models = vec!["shared+fifo".into()];
        let prepared = prepare(&o).unwrap();
        let result = run_model(&prepared.scenario, "shared+fifo").unwrap();
        let mut csv = Vec::new();
        cellsim::report::tables::write_timeline_csv(&result, &mut csv).unwrap();
        String::from_utf8(csv).unwrap()
    };
    // 0.3 GPU, then 0.75 (rounded, a whole-GPU count would say 0 then 1), then 0.45.
    assert_eq!(
        timeline(Fractional::Share),
        "t,default,capacity_gpus\n0.000,0.300,2\n50.000,0.750,2\n100.000,0.450,2\n150.000,0.000,2\n"
    );
    // Whole GPUs: counts as before.
    assert_eq!(
        timeline(Fractional::WholeGpu),
        "t,default,capacity_gpus\n0.000,1,2\n50.000,2,2\n100.000,1,2\n150.000,0,2\n"
    );
}

#[test]
fn a_long_sharing_timeline_is_written_and_plotted() {
    // 2,100 half-GPU pods one after another: over 4,000 timeline changes, so the plot
    // reads timeline.csv back (its milli-GPU rows) instead of keeping every step.
    let pods: String = (0..2100)
        .map(|i| {
            format!(
                "p{i},1000,1024,1,500,,LS,Running,{},{},{}\n",
                i * 10,
                i * 10 + 5,
                i * 10
            )
        })
        .collect();
    let (nodes, pods) = inputs("long-timeline", "n0,32000,65536,1,T4\n", &pods);
    let out = nodes.parent().unwrap().join("out");
    let output = cellsim(&[
        "replay",
        "--cluster",
        nodes.to_str().unwrap(),
        "--trace",
        pods.to_str().unwrap(),
        "--fractional",
        "share",
        "--model",
        "shared+fifo",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let timeline = std::fs::read_to_string(out.join("shared+fifo/timeline.csv")).unwrap();
    assert!(
        timeline.lines().count() > 4000,
        "{}",
        timeline.lines().count()
    );
    assert!(
        timeline.contains("\n10.000,0.500,1\n"),
        "{}",
        &timeline[..200]
    );
    assert!(out.join("shared+fifo/utilisation.svg").is_file());
}

/// The real openb default pod list with its shares under `hived+fifo` (issue 18): it
/// runs end to end on the openb GPU nodes, every pod finishes, and the GPU time charged
/// is the shares' (what the pool's `shared+fifo+fgd` charges, the same pods at the same
/// times on a cluster where nobody waits).
#[test]
fn openb_replays_with_shares_under_hived() {
    let (Some(nodes), Some(pods)) = (
        shared("traces/openb/openb_node_list_gpu_node.csv"),
        shared("traces/openb/openb_pod_list_default.csv"),
    ) else {
        return;
    };
    let gpu_ms = |jobs: &[JobRecord]| -> u64 { jobs.iter().map(|j| j.gpu_ms).sum() };
    // Under hived the CPU-only pods are rejected (HiveD places GPUs only), every GPU pod
    // finishes; the pool places both.
    let mut o = options(&nodes, &pods, Fractional::Share);
    o.models = vec!["hived+fifo".to_string()];
    let prepared = prepare(&o).unwrap();
    let hived_jobs = run_model(&prepared.scenario, "hived+fifo").unwrap().jobs;
    for j in &hived_jobs {
        let expected = if j.gpus == 0 {
            JobOutcome::Rejected
        } else {
            JobOutcome::Finished
        };
        assert_eq!(j.outcome, expected, "{}", j.id);
    }
    let hived = gpu_ms(&hived_jobs);
    assert_eq!(
        hived,
        gpu_ms(&replay(&nodes, &pods, Fractional::Share, "shared+fifo+fgd"))
    );
    let whole = gpu_ms(&replay(&nodes, &pods, Fractional::WholeGpu, "hived+fifo"));
    assert!(hived < whole, "shares {hived} < whole {whole}");
}
