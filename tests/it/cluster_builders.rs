//! Cluster builders (issue 4): Philly / openb / PAI machine lists and synthetic spec
//! strings into cell configs, format detection, VC sizing from GPU-time and VC files.
//! Hand-made files pin the exact error texts; the real lists under `../shared/traces/`
//! pin the published machine and GPU counts.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use cellsim::cell::{Allocator, Decision, GroupMember, GroupRequest};
use cellsim::config::{
    BuildOptions, CellConfig, ClusterBuildError, ClusterFormat, PhysicalCellSpec, build_cluster,
    detect_cluster_format, size_vcs, vcs_from_file, vcs_from_str,
};

use crate::common::shared;

/// A file in this process's scratch folder, holding `text`.
fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cellsim-builders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch folder");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("scratch file");
    path
}

fn build(arg: &str) -> Result<CellConfig, ClusterBuildError> {
    build_cluster(arg, None, &BuildOptions::default())
}

fn build_ok(arg: &str) -> CellConfig {
    build(arg).unwrap_or_else(|err| panic!("{arg}: {err}"))
}

/// Node-level cells and GPUs per leaf type: leaf type -> (nodes, GPUs).
fn inventory(config: &CellConfig) -> BTreeMap<String, (u64, u64)> {
    fn walk(config: &CellConfig, cell: &PhysicalCellSpec, out: &mut BTreeMap<String, (u64, u64)>) {
        let node = config
            .cell_types
            .get(&cell.cell_type)
            .is_some_and(|t| t.is_node_level);
        if node {
            let leaf = config.leaf_type_of(&cell.cell_type).to_string();
            let entry = out.entry(leaf).or_default();
            entry.0 += 1;
            entry.1 += cell.leaf_count();
        } else {
            for child in &cell.children {
                walk(config, child, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    for top in &config.physical_cells {
        walk(config, top, &mut out);
    }
    out
}

fn totals(config: &CellConfig) -> (u64, u64) {
    inventory(config)
        .values()
        .fold((0, 0), |(n, g), (nodes, gpus)| (n + nodes, g + gpus))
}

fn request(name: &str, vc: &str, gpus: u32) -> GroupRequest {
    GroupRequest {
        name: name.to_string(),
        virtual_cluster: vc.to_string(),
        priority: 0,
        leaf_cell_type: None,
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        ignore_k8s_suggested_nodes: true,
        members: vec![GroupMember::whole(1, gpus)],
    }
}

/// The config loads into the allocator and VC `vc` can place a 1-GPU and an 8-GPU job.
fn schedules_1_and_8_gpus(config: &CellConfig, vc: &str) {
    let mut allocator = Allocator::new(config);
    for (name, gpus) in [("one", 1), ("eight", 8)] {
        match allocator.schedule(&request(name, vc, gpus), None) {
            Decision::Bind(placement) => {
                assert_eq!(placement.pods[0].devices.len(), gpus as usize, "{name}");
                allocator
                    .confirm_pod(name, &format!("{name}-pod"), gpus)
                    .expect("confirm the bound pod");
            }
            other => panic!("{}: {name}: expected a bind, got {other:?}", config.source),
        }
    }
}

// ---- Philly ------------------------------------------------------------------------------

#[test]
fn philly_machine_list_builds_racks_per_sku() {
    let path = scratch(
        "philly_list",
        "machineId, number of GPUs, single GPU mem\nm0,2, 12GB\nm1,2, 12GB\nm2,8, 24GB\nm3,2, 12GB\n",
    );
    let arg = path.to_str().unwrap();
    assert_eq!(
        detect_cluster_format(arg),
        Ok(ClusterFormat::PhillyMachines)
    );
    let options = BuildOptions {
        rack_nodes: Some(2),
    };
    let config = build_cluster(arg, None, &options).unwrap();
    assert_eq!(
        config.chains(),
        [
            "GPU12GBx2-2NODE-RACK",
            "GPU12GBx2-1NODE-RACK",
            "GPU24GBx8-1NODE-RACK"
        ]
    );
    let inv = inventory(&config);
    assert_eq!(inv["GPU12GB"], (3, 6));
    assert_eq!(inv["GPU24GB"], (1, 8));
    let nodes: Vec<&str> = config.physical_cells[0]
        .children
        .iter()
        .map(|n| n.address.as_str())
        .collect();
    assert_eq!(nodes, ["m0", "m1"]);
    schedules_1_and_8_gpus(&config, "default");
}

#[test]
fn philly_bad_rows_name_file_line_column_value_and_fix() {
    let path = scratch(
        "philly_bad",
        "machineId, number of GPUs, single GPU mem\nm0,two, 12GB\nm1,2, 12\nm0,2, 12GB\nm3,2\n",
    );
    let arg = path.to_str().unwrap();
    let err = build(arg).unwrap_err();
    let ClusterBuildError::Rows { errors, more } = &err else {
        panic!("expected row errors, got {err:?}")
    };
    assert_eq!((errors.len(), *more), (4, 0), "{err}");
    let text = err.to_string();
    for piece in [
        format!("{arg}:2: column number of GPUs: value \"two\": expected a whole number of GPUs"),
        format!(
            "{arg}:3: column single GPU mem: value \"12\": expected the memory of one GPU in GB, e.g. 12GB"
        ),
        format!("{arg}:4: column machineId: value \"m0\": machine name already used on line 2"),
        format!(
            "{arg}:5: value \"m3,2\": expected 3 comma-separated fields `machineId,number of GPUs,single GPU mem`"
        ),
    ] {
        assert!(text.contains(&piece), "missing {piece:?} in:\n{text}");
    }
}

#[test]
fn real_philly_list_has_552_nodes_and_2490_gpus() {
    let Some(path) = shared("traces/philly/cluster_machine_list") else {
        return;
    };
    let config = build_ok(path.to_str().unwrap());
    assert_eq!(totals(&config), (552, 2490));
    let inv = inventory(&config);
    assert_eq!(inv["GPU12GB"], (321, 642));
    assert_eq!(inv["GPU24GB"], (231, 1848));
    // 231 = 28 racks of 8 + one of 7; 321 = 40 racks of 8 + one of 1.
    assert!(config.chains().contains(&"GPU24GBx8-7NODE-RACK"));
    assert!(config.chains().contains(&"GPU12GBx2-1NODE-RACK"));
    schedules_1_and_8_gpus(&config, "default");
}

// ---- openb -------------------------------------------------------------------------------

#[test]
fn openb_node_list_skips_and_counts_cpu_nodes() {
    let path = scratch(
        "openb.csv",
        "sn,cpu_milli,memory_mib,gpu,model\nn0,32000,262144,0,\nn1,64000,262144,2,P100\nn2,96000,786432,8,G2\nn3,32000,262144,0,\nn4,64000,262144,4,V100M16\nn5,64000,262144,1,V100M16\n",
    );
    let arg = path.to_str().unwrap();
    assert_eq!(detect_cluster_format(arg), Ok(ClusterFormat::OpenbNodes));
    let config = build_ok(arg);
    assert_eq!(totals(&config), (4, 15));
    assert_eq!(inventory(&config)["V100M16"], (2, 5));
    assert!(config.cell_types.contains_key("V100M16x4-NODE"));
    assert!(config.cell_types.contains_key("V100M16x1-NODE"));
    let skipped = format!("{arg}: skipped 2 nodes without GPUs (lines 2, 5)");
    assert!(config.warnings.contains(&skipped), "{:?}", config.warnings);
    schedules_1_and_8_gpus(&config, "default");
}

#[test]
fn openb_bad_rows_name_the_column() {
    let path = scratch(
        "openb_bad.csv",
        "sn,cpu_milli,memory_mib,gpu,model\nn0,32000,262144,2,\nn1,32000,262144,-1,T4\nn2,1,1,1,V1.00\n",
    );
    let arg = path.to_str().unwrap();
    let text = build(arg).unwrap_err().to_string();
    for piece in [
        format!("{arg}:2: column model: value \"\": expected the GPU model of a machine with GPUs"),
        format!(
            "{arg}:3: column gpu: value \"-1\": expected a whole number of GPUs (0 for a machine without GPUs)"
        ),
        format!(
            "{arg}:4: column model: value \"V1.00\": expected a GPU model of letters, digits, '-' and '_'"
        ),
    ] {
        assert!(text.contains(&piece), "missing {piece:?} in:\n{text}");
    }
}

#[test]
fn real_openb_lists_have_1213_gpu_nodes_and_6212_gpus() {
    let Some(gpu_list) = shared("traces/openb/openb_node_list_gpu_node.csv") else {
        return;
    };
    let all_list = shared("traces/openb/openb_node_list_all_node.csv").unwrap();
    let expected: BTreeMap<String, (u64, u64)> = [
        ("A10", (2, 2)),
        ("G2", (549, 4392)),
        ("G3", (39, 312)),
        ("P100", (134, 265)),
        ("T4", (404, 842)),
        ("V100M16", (55, 195)),
        ("V100M32", (30, 204)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    for path in [&gpu_list, &all_list] {
        let config = build_ok(path.to_str().unwrap());
        assert_eq!(totals(&config), (1213, 6212), "{}", path.display());
        assert_eq!(inventory(&config), expected, "{}", path.display());
        schedules_1_and_8_gpus(&config, "default");
    }
    let all = build_ok(all_list.to_str().unwrap());
    assert!(
        all.warnings
            .iter()
            .any(|w| w.contains("skipped 310 nodes without GPUs")),
        "{:?}",
        all.warnings
    );
}

// ---- PAI ---------------------------------------------------------------------------------

#[test]
fn pai_spec_reads_columns_from_the_sibling_header() {
    let path = scratch(
        "pai_small.csv",
        "a1,CPU,96,512,0\na2,V100,96,512,8\na3,T4,64,256,2\n",
    );
    scratch(
        "pai_small.header",
        "machine,gpu_type,cap_cpu,cap_mem,cap_gpu\n",
    );
    let arg = path.to_str().unwrap();
    assert_eq!(detect_cluster_format(arg), Ok(ClusterFormat::PaiMachines));
    let config = build_ok(arg);
    assert_eq!(totals(&config), (2, 10));
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("skipped 1 machines without GPUs (lines 1)"))
    );

    // Columns in another order than the default: the header file decides.
    let odd = scratch("pai_odd.csv", "8,b1,V100\n2,b2,T4\n");
    scratch("pai_odd.header", "cap_gpu,machine,gpu_type\n");
    let config = build_cluster(
        odd.to_str().unwrap(),
        Some(ClusterFormat::PaiMachines),
        &BuildOptions::default(),
    )
    .unwrap();
    assert_eq!(inventory(&config)["V100"], (1, 8));
}

#[test]
fn pai_header_without_gpu_column_is_an_error() {
    let path = scratch("pai_nohdr.csv", "a1,V100,96,512,8\n");
    scratch("pai_nohdr.header", "machine,type,cpu,mem,gpus\n");
    let text = build(path.to_str().unwrap()).unwrap_err().to_string();
    assert!(text.contains("pai_nohdr.header:1"), "{text}");
    assert!(text.contains("missing: gpu_type, cap_gpu"), "{text}");
}

#[test]
fn real_pai_spec_has_1897_machines_and_6742_gpus() {
    let Some(path) = shared("traces/pai2020/pai_machine_spec.csv") else {
        return;
    };
    let config = build_ok(path.to_str().unwrap());
    // 1,897 machines, of which 83 are CPU-only.
    assert_eq!(totals(&config), (1814, 6742));
    let inv = inventory(&config);
    assert_eq!(inv["MISC"], (280, 2240));
    assert_eq!(inv["P100"], (798, 1596));
    assert_eq!(inv["T4"], (497, 994));
    assert_eq!(inv["V100"], (104, 832));
    assert_eq!(inv["V100M32"], (135, 1080));
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("skipped 83 machines without GPUs")),
        "{:?}",
        config.warnings
    );
    schedules_1_and_8_gpus(&config, "default");
}

// ---- synthetic specs and detection ---------------------------------------------------------

#[test]
fn spec_strings_build_the_issue_example() {
    let config = build_ok("32x V100x8 rack=16; 64x K80x4 rack=8");
    assert_eq!(totals(&config), (96, 512));
    assert_eq!(config.chains(), ["V100x8-16NODE-RACK", "K80x4-8NODE-RACK"]);
    assert_eq!(config.physical_cells.len(), 2 + 8);
    assert_eq!(config.physical_cells[0].children[0].address, "v100-0");
    assert_eq!(config.physical_cells[2].children[7].address, "k80-7");
    schedules_1_and_8_gpus(&config, "default");

    // Default rack size 8, a partial last rack, and the options' rack size.
    let config = build_ok("10x A100x8");
    assert_eq!(config.chains(), ["A100x8-8NODE-RACK", "A100x8-2NODE-RACK"]);
    let options = BuildOptions {
        rack_nodes: Some(5),
    };
    let config = build_cluster("10x A100x8", None, &options).unwrap();
    assert_eq!(config.chains(), ["A100x8-5NODE-RACK"]);
}

#[test]
fn spec_errors_point_at_the_item() {
    let err = build("4x V100x8; 2x K80").unwrap_err().to_string();
    assert!(
        err.contains("is neither an existing file nor a cluster spec"),
        "{err}"
    );
    assert!(err.contains("cluster spec item 2 (\"2x K80\")"), "{err}");
    assert!(err.contains("COUNTx SKUxGPUS [rack=N]"), "{err}");
    // Forced to spec, the error is the spec error itself.
    let err = build_cluster(
        "2x K80 rack=x",
        Some(ClusterFormat::Spec),
        &BuildOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("cluster spec item 1"), "{err}");
    assert!(
        err.contains("the rack size (nodes per rack) must be a whole number"),
        "{err}"
    );
}

#[test]
fn hived_files_go_to_the_hived_reader() {
    let path = scratch(
        "hived.yaml",
        "physicalCluster:\n  cellTypes:\n    N: {childCellType: G, childCellNumber: 2, isNodeLevel: true}\n  physicalCells:\n  - {cellType: N, cellAddress: n0}\nvirtualClusters:\n  v: {virtualCells: [{cellType: N, cellNumber: 1}]}\n",
    );
    let arg = path.to_str().unwrap();
    assert_eq!(detect_cluster_format(arg), Ok(ClusterFormat::Hived));
    let config = build_ok(arg);
    assert!(config.virtual_clusters.contains_key("v"));
    // A CSV that is none of the lists falls to the HiveD reader, which says what it wanted.
    let other = scratch("jobs.csv", "id,submit,duration\n1,2,3\n");
    let err = build(other.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.contains("cluster config"), "{err}");
}

#[test]
fn missing_files_and_folders_are_read_errors() {
    let dir = std::env::temp_dir();
    let err = build(dir.to_str().unwrap()).unwrap_err().to_string();
    assert!(err.contains("is a folder"), "{err}");
    let err = build_cluster(
        "/no/such/list",
        Some(ClusterFormat::PhillyMachines),
        &BuildOptions::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("/no/such/list: cannot read the file"),
        "{err}"
    );
}

// ---- VC sizing -----------------------------------------------------------------------------

fn demand(pairs: &[(&str, u64)]) -> BTreeMap<String, u64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Cells per chain handed out to all VCs, and node-level cells per chain.
fn check_within_capacity(config: &CellConfig) {
    let inv_by_chain: BTreeMap<&str, u64> = config
        .chains()
        .into_iter()
        .map(|chain| {
            let nodes: u64 = config
                .physical_cells
                .iter()
                .filter(|c| c.cell_type == chain)
                .map(|c| c.children.len() as u64)
                .sum();
            (chain, nodes)
        })
        .collect();
    let mut given: BTreeMap<&str, u64> = BTreeMap::new();
    for vc in config.virtual_clusters.values() {
        for cell in &vc.virtual_cells {
            *given.entry(cell.chain.as_str()).or_default() += u64::from(cell.cell_number);
        }
    }
    for (chain, n) in given {
        assert!(
            n <= inv_by_chain[chain],
            "{chain}: {n} > {}",
            inv_by_chain[chain]
        );
    }
}

#[test]
fn vc_cells_are_proportional_to_gpu_time() {
    // Two pools of 10 nodes each; shares 60/30/10 % and one VC with no GPU-time.
    let mut config = build_ok("10x V100x8 rack=4; 10x K80x2 rack=10");
    let sizing = size_vcs(
        &mut config,
        &demand(&[("a", 6_000), ("b", 3_000), ("c", 1_000), ("idle", 0)]),
    )
    .unwrap();
    let nodes_of = |vc: &str, sku: &str| -> u32 {
        config.virtual_clusters[vc]
            .virtual_cells
            .iter()
            .filter(|c| c.cell_type.starts_with(sku))
            .map(|c| c.cell_number)
            .sum()
    };
    assert_eq!(
        (
            nodes_of("a", "V100"),
            nodes_of("b", "V100"),
            nodes_of("c", "V100")
        ),
        (6, 3, 1)
    );
    assert_eq!(
        (
            nodes_of("a", "K80"),
            nodes_of("b", "K80"),
            nodes_of("c", "K80")
        ),
        (6, 3, 1)
    );
    assert!(config.virtual_clusters["idle"].virtual_cells.is_empty());
    assert_eq!(sizing.without_cells(), ["idle"]);
    assert_eq!(sizing.cluster_gpus, 100);
    assert_eq!(sizing.guaranteed_gpus(), 100);
    let a = sizing.vcs.iter().find(|v| v.vc == "a").unwrap();
    assert_eq!((a.gpus, a.share), (60, 0.6));
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("VC idle has 0.0000% of the GPU-time"))
    );
    check_within_capacity(&config);
    schedules_1_and_8_gpus(&config, "a");
    // A VC with no cells cannot run guaranteed jobs: the allocator rejects them.
    let mut allocator = Allocator::new(&config);
    assert!(matches!(
        allocator.schedule(&request("x", "idle", 1), None),
        Decision::Reject { .. }
    ));
}

#[test]
fn vc_sizing_never_exceeds_any_chain() {
    // Deterministic pseudo-random demands on clusters with partial racks.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for spec in [
        "7x V100x8 rack=3; 5x K80x4 rack=2; 3x T4x1",
        "1x A100x8",
        "13x P100x2 rack=4",
    ] {
        for _ in 0..50 {
            let vcs = 1 + next() % 9;
            let d: BTreeMap<String, u64> = (0..vcs)
                .map(|i| (format!("vc{i}"), next() % 4 * (next() % 1_000_000)))
                .collect();
            let mut config = build_ok(spec);
            let sizing = size_vcs(&mut config, &d).unwrap();
            check_within_capacity(&config);
            assert!(sizing.guaranteed_gpus() <= sizing.cluster_gpus);
            // Every pool is handed out whole (all-zero demand means equal shares).
            assert_eq!(
                sizing.guaranteed_gpus(),
                sizing.cluster_gpus,
                "{spec} {d:?}"
            );
        }
    }
}

#[test]
fn philly_vcs_sized_from_the_trace_fit_the_cluster() {
    let (Some(list), Some(trace)) = (
        shared("traces/philly/cluster_machine_list"),
        shared("traces/philly/philly.csv"),
    ) else {
        return;
    };
    let mut d: BTreeMap<String, u64> = BTreeMap::new();
    let mut reader = csv::Reader::from_path(&trace).unwrap();
    for row in reader.records() {
        let row = row.unwrap();
        let gpu_s: f64 = row[3].parse().unwrap();
        *d.entry(row[4].to_string()).or_default() += (gpu_s * 1000.0) as u64;
    }
    assert_eq!(d.len(), 15);
    let mut config = build_ok(list.to_str().unwrap());
    let sizing = size_vcs(&mut config, &d).unwrap();
    assert_eq!(sizing.cluster_gpus, 2490);
    assert!(sizing.guaranteed_gpus() <= 2490);
    check_within_capacity(&config);
    // ee9e8c has the largest share (26%): about 26% of the 8-GPU nodes.
    let big = sizing.vcs.iter().find(|v| v.vc == "ee9e8c").unwrap();
    assert!(
        (big.gpus as f64 / 2490.0 - big.share).abs() < 0.01,
        "{big:?}"
    );
    schedules_1_and_8_gpus(&config, "ee9e8c");
}

// ---- VC files ------------------------------------------------------------------------------

#[test]
fn vc_files_apply_to_a_built_cluster() {
    let base = build_ok("4x V100x8 rack=4; 2x K80x4 rack=2");
    let short = scratch(
        "vcs_short.yaml",
        "a: [{cellType: V100x8-4NODE-RACK.V100x8-NODE, cellNumber: 3}]\nb:\n  - {cellType: K80x4-2NODE-RACK.K80-SWITCH, cellNumber: 4}\n  - {cellType: V100x8-4NODE-RACK.V100x8-NODE, cellNumber: 1}\n",
    );
    let config = vcs_from_file(&base, &short).unwrap();
    assert_eq!(config.virtual_clusters.len(), 2);
    assert_eq!(
        config.virtual_clusters["b"].virtual_cells[0].cell_type,
        "K80-SWITCH"
    );
    assert!(
        config
            .source
            .ends_with(&format!("with VCs from {}", short.display()))
    );
    schedules_1_and_8_gpus(&config, "a");

    let hived_form = "virtualClusters:\n  a:\n    virtualCells: [{cellType: K80x4-2NODE-RACK.K80x4-NODE, cellNumber: 2}]\n";
    let config = vcs_from_str(&base, hived_form, "vcs.yaml").unwrap();
    assert_eq!(config.virtual_clusters["a"].virtual_cells[0].cell_number, 2);
}

#[test]
fn vc_file_errors_name_the_file_path_and_fix() {
    let base = build_ok("4x V100x8 rack=4");
    let err = vcs_from_str(
        &base,
        "a: [{cellType: V100.V100x8-NODE, cellNumber: 1}]\n",
        "vcs.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with(
            "vcs.yaml: virtualClusters.a.virtualCells[0].cellType: V100 is not a chain"
        ),
        "{err}"
    );
    assert!(err.contains("V100x8-4NODE-RACK"), "{err}");

    let err = vcs_from_str(
        &base,
        "a: [{cellType: V100x8-4NODE-RACK.V100x8-NODE, cellNumber: 3}]\nb: [{cellType: V100x8-4NODE-RACK.V100x8-NODE, cellNumber: 2}]\n",
        "vcs.yaml",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("VCs ask for 5 cells of type V100x8-NODE but the cluster has 4"),
        "{err}"
    );

    let err = vcs_from_str(&base, "physicalCluster: {}\n", "vcs.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("without a virtualClusters section"), "{err}");

    let err = vcs_from_str(&base, "- a\n", "vcs.yaml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected VCs by name"), "{err}");
}

#[test]
fn built_clusters_have_unique_node_names_and_device_indices() {
    let config = build_ok("3x V100x8 rack=2; 2x V100x4; 1x K80x3");
    let mut seen = HashSet::new();
    fn nodes<'a>(
        config: &'a CellConfig,
        cell: &'a PhysicalCellSpec,
        out: &mut Vec<&'a PhysicalCellSpec>,
    ) {
        if config
            .cell_types
            .get(&cell.cell_type)
            .is_some_and(|t| t.is_node_level)
        {
            out.push(cell);
        } else {
            cell.children.iter().for_each(|c| nodes(config, c, out));
        }
    }
    let mut all = Vec::new();
    for top in &config.physical_cells {
        nodes(&config, top, &mut all);
    }
    for node in all {
        assert!(seen.insert(node.address.clone()), "{}", node.address);
        let devices: Vec<u32> = node
            .leaves()
            .iter()
            .map(|l| l.address.parse().unwrap())
            .collect();
        let expected: Vec<u32> = (0..devices.len() as u32).collect();
        assert_eq!(devices, expected, "{}", node.address);
    }
    assert_eq!(seen.len(), 6);
    assert!(seen.contains("v100-4") && seen.contains("k80-0"));
}
