//! Writes a large synthetic Kueue setup for the `kueue` layer's speed measurement
//! (issue 17: 50,000 workloads over 1,000 ClusterQueues, Kueue's own scale-test size):
//! `kueue.yaml` (two flavors, `CQS` ClusterQueues in cohorts of 10, each with 4 A100 and
//! 4 H100 nominal, mixed queueing strategies and preemption settings, one LocalQueue
//! each) and `workloads.yaml` (`WORKLOADS` finished Workloads over a week, at about 80 %
//! of the cluster's GPU time), for the cluster spec `"CQS/2x A100x8; CQS/2x H100x8"`.
//! Seeded and deterministic.
//!
//! ```sh
//! cargo run --release --example kueue_scale -- out/kueue-scale 1000 50000
//! cellsim replay --cluster "500x A100x8; 500x H100x8" --kueue out/kueue-scale/kueue.yaml \
//!     --trace out/kueue-scale/workloads.yaml --summary-only ...
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;

use rand::{Rng, SeedableRng};

/// A uniform draw in [0, 1) from 53 random bits.
fn unit(rng: &mut rand_chacha::ChaCha8Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A uniform index below `n`.
fn below(rng: &mut rand_chacha::ChaCha8Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: kueue_scale OUT_DIR [CLUSTER_QUEUES=1000] [WORKLOADS=50000]";
    let out = PathBuf::from(args.get(1).ok_or(usage)?);
    let cqs: usize = args
        .get(2)
        .map_or(Ok(1000), |a| a.parse())
        .map_err(|_| usage)?;
    let workloads: usize = args
        .get(3)
        .map_or(Ok(50_000), |a| a.parse())
        .map_err(|_| usage)?;
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(17);

    let mut kueue = String::from("apiVersion: v1\nkind: List\nitems:\n");
    for (flavor, sku) in [("a100", "A100"), ("h100", "H100")] {
        let _ = write!(
            kueue,
            "- apiVersion: kueue.x-k8s.io/v1beta1\n  kind: ResourceFlavor\n  metadata: {{name: {flavor}}}\n  spec:\n    nodeLabels: {{nvidia.com/gpu.product: {sku}}}\n"
        );
    }
    for i in 0..cqs {
        let strategy = if i % 4 == 0 {
            "StrictFIFO"
        } else {
            "BestEffortFIFO"
        };
        let within = ["Never", "LowerPriority", "LowerOrNewerEqualPriority"][i % 3];
        let reclaim = ["Any", "LowerPriority", "Never"][i % 3];
        let _ = write!(
            kueue,
            "- apiVersion: kueue.x-k8s.io/v1beta1\n  kind: ClusterQueue\n  metadata: {{name: cq-{i:04}}}\n  spec:\n    cohort: cohort-{:03}\n    queueingStrategy: {strategy}\n    preemption: {{withinClusterQueue: {within}, reclaimWithinCohort: {reclaim}}}\n    resourceGroups:\n    - coveredResources: [nvidia.com/gpu]\n      flavors:\n      - name: a100\n        resources: [{{name: nvidia.com/gpu, nominalQuota: 4, borrowingLimit: 16}}]\n      - name: h100\n        resources: [{{name: nvidia.com/gpu, nominalQuota: 4, lendingLimit: 2}}]\n- apiVersion: kueue.x-k8s.io/v1beta1\n  kind: LocalQueue\n  metadata: {{name: q, namespace: ns-{i:04}}}\n  spec: {{clusterQueue: cq-{i:04}}}\n",
            i / 10
        );
    }
    std::fs::write(out.join("kueue.yaml"), kueue).map_err(|e| e.to_string())?;

    // Sizes (pods x GPUs) and their weights; mean about 4.3 GPUs.
    let shapes = [
        (1u32, 1u32, 40u32),
        (1, 2, 20),
        (1, 4, 20),
        (1, 8, 12),
        (2, 8, 8),
    ];
    let total_weight: u32 = shapes.iter().map(|s| s.2).sum();
    let week_s: f64 = 7.0 * 24.0 * 3600.0;
    let gpus = (cqs as f64) * 8.0;
    // Mean run time so that the offered load is about 0.8 of the cluster over the week.
    let mean_gpus = shapes
        .iter()
        .map(|s| f64::from(s.0 * s.1 * s.2))
        .sum::<f64>()
        / f64::from(total_weight);
    let mean_run_s = 0.8 * gpus * week_s / (workloads as f64 * mean_gpus);
    let start = 1_793_520_000i64; // 2026-11-02T08:00:00Z
    let mut text = String::from("apiVersion: v1\nkind: List\nitems:\n");
    let mut t = 0.0f64;
    for n in 0..workloads {
        t += -(1.0 - unit(&mut rng)).ln() * week_s / workloads as f64;
        let mut pick = below(&mut rng, u64::from(total_weight)) as u32;
        let &(pods, per_pod, _) = shapes
            .iter()
            .find(|s| {
                if pick < s.2 {
                    true
                } else {
                    pick -= s.2;
                    false
                }
            })
            .expect("weights cover the range");
        let run = (-(1.0 - unit(&mut rng)).ln() * mean_run_s).max(60.0);
        let cq = below(&mut rng, cqs as u64) as usize;
        let priority = [0, 100, 1000][below(&mut rng, 3) as usize];
        let created = start + t as i64;
        let admitted = created + 1;
        let finished = admitted + run as i64;
        let ts = |s: i64| {
            chrono::DateTime::from_timestamp(s, 0)
                .expect("in range")
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        };
        let _ = write!(
            text,
            "- apiVersion: kueue.x-k8s.io/v1beta1\n  kind: Workload\n  metadata: {{name: wl-{n:06}, namespace: ns-{cq:04}, creationTimestamp: \"{}\"}}\n  spec:\n    queueName: q\n    priority: {priority}\n    podSets:\n    - name: main\n      count: {pods}\n      template: {{spec: {{containers: [{{name: c, resources: {{requests: {{nvidia.com/gpu: \"{per_pod}\"}}}}}}]}}}}\n  status:\n    conditions:\n    - {{type: Admitted, status: \"True\", lastTransitionTime: \"{}\"}}\n    - {{type: Finished, status: \"True\", lastTransitionTime: \"{}\"}}\n",
            ts(created),
            ts(admitted),
            ts(finished)
        );
    }
    std::fs::write(out.join("workloads.yaml"), text).map_err(|e| e.to_string())?;
    println!(
        "wrote {}/kueue.yaml and workloads.yaml; cluster: \"{}x A100x8; {}x H100x8\"",
        out.display(),
        cqs / 2,
        cqs / 2
    );
    Ok(())
}
