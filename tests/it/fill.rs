//! `cellsim fill` (issue 18): the FGD inflation experiment through the CLI on a small
//! hand-made node and pod list (outputs, byte-identical reruns, bad input), and on the
//! real openb lists when `../shared/` is there.

use std::path::Path;
use std::process::Command;

use crate::common::{scratch, shared};

const NODES: &str = "sn,cpu_milli,memory_mib,gpu,model
n0,32000,65536,4,T4
n1,32000,65536,2,P100
n2,16000,32768,8,V100M16
";

const PODS: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time
p0,4000,8192,1,1000,,LS,Running,0,10,0
p1,2000,4096,1,500,,LS,Running,0,10,0
p2,1000,2048,1,250,T4,LS,Running,0,10,0
p3,8000,8192,2,1000,,LS,Running,0,10,0
p4,1000,1024,0,0,,BE,Running,0,10,0
p5,2000,4096,1,300,P100|V100M16,LS,Running,0,10,0
";

fn cellsim(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(args)
        .output()
        .expect("cellsim runs")
}

fn write_inputs(dir: &Path) -> (String, String) {
    let nodes = dir.join("nodes.csv");
    let pods = dir.join("pods.csv");
    std::fs::write(&nodes, NODES).unwrap();
    std::fs::write(&pods, PODS).unwrap();
    (nodes.display().to_string(), pods.display().to_string())
}

#[test]
fn fill_writes_curves_table_plot_and_page_and_reruns_byte_identical() {
    let dir = scratch("fill", "small");
    let (nodes, pods) = write_inputs(&dir);
    let run = |out: &str| {
        let out = dir.join(out);
        let o = cellsim(&[
            "fill",
            "--cluster",
            &nodes,
            "--trace",
            &pods,
            "--placement",
            "fgd,bestfit,gpu-packing,gpu-clustering,dotprod,random,topology",
            "--inflate",
            "1.5",
            "--seeds",
            "1-3",
            "--out",
            &out.display().to_string(),
            "--quiet",
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        out
    };
    let a = run("a");
    let b = run("b");
    for file in ["curve.csv", "table.csv", "unallocated.svg", "index.html"] {
        let bytes = std::fs::read(a.join(file)).unwrap();
        assert!(!bytes.is_empty(), "{file} is empty");
        assert_eq!(
            bytes,
            std::fs::read(b.join(file)).unwrap(),
            "{file} differs between reruns"
        );
    }
    let table = std::fs::read_to_string(a.join("table.csv")).unwrap();
    assert_eq!(table.lines().count(), 1 + 7, "{table}");
    let curve = std::fs::read_to_string(a.join("curve.csv")).unwrap();
    // 18 GPUs; demand stops within one pod (at most 2 GPUs, 11%) below 150%.
    for line in curve.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let allocated: f64 = fields[3].parse().unwrap();
        assert!(allocated <= 100.0, "{line}");
    }
    let last: u32 = curve
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap().parse::<u32>().unwrap())
        .max()
        .unwrap();
    assert!((139..=150).contains(&last), "{curve}");
}

#[test]
fn fill_names_the_file_line_and_fix_of_bad_input() {
    let dir = scratch("fill", "bad");
    let (nodes, _) = write_inputs(&dir);
    let bad = dir.join("bad.csv");
    std::fs::write(
        &bad,
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,1000,10,2,500\n",
    )
    .unwrap();
    let o = cellsim(&[
        "fill",
        "--cluster",
        &nodes,
        "--trace",
        &bad.display().to_string(),
        "--out",
        &dir.join("o").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("bad.csv, line 2") && err.contains("num_gpu to 1"),
        "{err}"
    );

    std::fs::write(
        &bad,
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np0,lots,10,1,500\n",
    )
    .unwrap();
    let o = cellsim(&[
        "fill",
        "--cluster",
        &nodes,
        "--trace",
        &bad.display().to_string(),
        "--out",
        &dir.join("o").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("line 2") && err.contains("cpu_milli"), "{err}");

    let pods = dir.join("pods.csv").display().to_string();
    // The lists swapped: the header says what is missing.
    let o = cellsim(&[
        "fill",
        "--cluster",
        &pods,
        "--trace",
        &nodes,
        "--out",
        &dir.join("o").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("pods.csv, line 1: the header lacks sn, gpu"),
        "{err}"
    );

    let o = cellsim(&[
        "fill",
        "--cluster",
        &nodes,
        "--trace",
        &pods,
        "--placement",
        "best",
        "--out",
        &dir.join("o").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown placement 'best'"));

    let o = cellsim(&[
        "fill",
        "--cluster",
        &nodes,
        "--trace",
        &pods,
        "--seeds",
        "9-1",
        "--out",
        &dir.join("o").display().to_string(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--seeds"));
}

/// The paper's main result on one seed: FGD strands less than random (at 130% arrived,
/// the paper's means are 95.39% and 87.47% allocated).
#[test]
fn fgd_allocates_more_than_random_on_openb() {
    let (Some(nodes), Some(pods)) = (
        shared("traces/openb/openb_node_list_gpu_node.csv"),
        shared("traces/openb/openb_pod_list_default.csv"),
    ) else {
        return;
    };
    let dir = scratch("fill", "openb");
    let o = cellsim(&[
        "fill",
        "--cluster",
        &nodes.display().to_string(),
        "--trace",
        &pods.display().to_string(),
        "--placement",
        "fgd,random",
        "--seeds",
        "42",
        "--out",
        &dir.display().to_string(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let table = std::fs::read_to_string(dir.join("table.csv")).unwrap();
    let final_of = |name: &str| -> f64 {
        let line = table
            .lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap();
        line.split(',').nth(5).unwrap().parse().unwrap()
    };
    let (fgd, random) = (final_of("fgd"), final_of("random"));
    assert!(fgd > 94.0 && random < 90.0 && fgd > random + 5.0, "{table}");
}
