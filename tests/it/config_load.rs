//! Loading real configs: HiveD's example configs, the two lab clusters of `spec/labs.md`,
//! an OpenPAI services-configuration and both layout formats, with concrete facts checked.

use cellsim::config::{CellConfig, PhysicalCellSpec, load_file, load_str};

use crate::common;

/// `spec/labs.md`, cluster A (labs 1-3), as the project ships it for the labs.
const LAB_CLUSTER_A: &str = include_str!("../../scenarios/labs/cluster-a.yaml");

/// `spec/labs.md`, cluster B (labs 4-5), as the project ships it for the labs.
const LAB_CLUSTER_B: &str = include_str!("../../scenarios/labs/cluster-b.yaml");

/// Load `../shared/<relative>`; `None` (test skipped) when `../shared` is absent.
fn shared_config(relative: &str) -> Option<CellConfig> {
    let path = common::shared(relative)?;
    match load_file(&path) {
        Ok(config) => Some(config),
        Err(errors) => panic!("{relative} should load:\n{errors}"),
    }
}

fn node_names(config: &CellConfig) -> Vec<String> {
    fn walk(config: &CellConfig, cell: &PhysicalCellSpec, out: &mut Vec<String>) {
        if config
            .cell_types
            .get(&cell.cell_type)
            .is_some_and(|t| t.is_node_level)
        {
            out.push(cell.address.clone());
        } else {
            cell.children.iter().for_each(|c| walk(config, c, out));
        }
    }
    let mut out = Vec::new();
    config
        .physical_cells
        .iter()
        .for_each(|c| walk(config, c, &mut out));
    out
}

fn leaf_addresses(cell: &PhysicalCellSpec) -> Vec<&str> {
    cell.leaves()
        .into_iter()
        .map(|l| l.address.as_str())
        .collect()
}

#[test]
fn every_hived_example_config_loads_without_warnings() {
    let Some(root) = common::shared("hived-examples") else {
        return;
    };
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root.join("config")).unwrap() {
        files.push(dir.unwrap().path().join("hivedscheduler.yaml"));
    }
    for entry in std::fs::read_dir(root.join("feature")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("hived-config-") && name.ends_with(".yaml") {
            files.push(path);
        }
    }
    files.sort();
    assert!(
        files.len() >= 12,
        "expected the 3 configs and 9 feature configs, found {files:?}"
    );
    for file in files {
        let config =
            load_file(&file).unwrap_or_else(|e| panic!("{} should load:\n{e}", file.display()));
        assert!(
            config.warnings.is_empty(),
            "{}: {:?}",
            file.display(),
            config.warnings
        );
    }
}

#[test]
fn hived_config_1_has_two_chains_and_a_pinned_node() {
    let Some(config) = shared_config("hived-examples/feature/hived-config-1.yaml") else {
        return;
    };
    assert_eq!(config.chains(), ["3-K80-NODE", "2-K80-NODE"]);
    let pool = &config.physical_cells[0];
    assert_eq!(pool.address, "0");
    let pinned = &pool.children[1];
    assert_eq!(pinned.address, "10.151.41.25");
    assert_eq!(pinned.pinned_cell_id.as_deref(), Some("VC2-K80"));
    for node in &pool.children {
        assert_eq!(leaf_addresses(node), ["0", "1", "2", "3"]);
    }
    assert_eq!(config.virtual_clusters["vc2"].pinned_cells, ["VC2-K80"]);
    let vc1 = &config.virtual_clusters["vc1"].virtual_cells[0];
    assert_eq!(
        (vc1.chain.as_str(), vc1.cell_type.as_str(), vc1.cell_number),
        ("3-K80-NODE", "K80-NODE", 1)
    );
    let default = &config.virtual_clusters["default"].virtual_cells[0];
    assert_eq!(
        (default.chain.as_str(), default.cell_type.as_str()),
        ("2-K80-NODE", "2-K80-NODE")
    );
    let sku = &config.sku_types["K80"];
    assert_eq!((sku.gpu, sku.cpu, sku.memory_mib), (1, 4.0, 8192));
    assert_eq!(
        node_names(&config),
        [
            "10.151.41.19",
            "10.151.41.25",
            "10.151.41.26",
            "10.151.41.23",
            "10.151.41.24"
        ]
    );
}

#[test]
fn basic_config_matches_the_inspect_sample_addresses() {
    let Some(config) = shared_config("hived-examples/config/basic/hivedscheduler.yaml") else {
        return;
    };
    // GET /v1/inspect/clusterstatus/physicalcluster shows 0/10.151.41.20/1/2.
    let node = &config.physical_cells[0].children[0];
    assert_eq!(node.address, "10.151.41.20");
    assert_eq!(node.children[1].address, "1");
    assert_eq!(node.children[1].children[0].address, "2");
    assert_eq!(config.server.web_server_address, ":9096");
    assert_eq!(config.level_of("3-K80-NODE"), 4);
}

#[test]
fn design_config_keeps_explicit_and_odd_addresses() {
    let Some(config) = shared_config("hived-examples/config/design/hivedscheduler.yaml") else {
        return;
    };
    let ct1 = config
        .physical_cells
        .iter()
        .find(|c| c.address == "1.0.0.2")
        .expect("CT1 node 1.0.0.2");
    assert_eq!(ct1.cell_type, "CT1-NODE");
    assert_eq!(leaf_addresses(ct1), ["8", "9"]);
    assert_eq!(
        ct1.children[0].pinned_cell_id.as_deref(),
        Some("VC1-YQW-CT1")
    );
    // The same node also holds DGX1-P100 devices (another chain), numbered by default.
    let p100 = config
        .physical_cells
        .iter()
        .find(|c| c.cell_type == "3-DGX1-P100-NODE")
        .unwrap();
    assert_eq!(p100.address, "3");
    assert_eq!(p100.children[0].address, "1.0.0.2");
    assert_eq!(
        leaf_addresses(&p100.children[0]),
        ["0", "1", "2", "3", "4", "5", "6", "7"]
    );
    assert_eq!(
        leaf_addresses(&p100.children[2]),
        ["1", "3", "4", "7", "0", "2", "6", "5"]
    );
    assert_eq!(config.chains().len(), 6);
    assert_eq!(config.virtual_clusters["VC1"].pinned_cells.len(), 3);
    let (cell, address) = config.pinned_cell("VC1-YQW-DGX2").unwrap();
    assert_eq!(
        (cell.cell_type.as_str(), address.as_str()),
        ("2-DGX2-V100-NODE", "7/0")
    );
    assert_eq!(
        config.leaf_type_of("2-IB-DGX2-V100-NODE"),
        "IB-DGX2-V100-V100"
    );
    let vc2 = &config.virtual_clusters["VC2"].virtual_cells;
    assert!(
        vc2.iter()
            .any(|c| c.cell_type == "DGX1-P100-CPU-SOCKET" && c.cell_number == 2)
    );
}

#[test]
fn default_config_is_comments_only_and_loads_as_an_empty_cluster() {
    let Some(config) = shared_config("hived-examples/config/default/hivedscheduler.yaml") else {
        return;
    };
    assert!(config.physical_cells.is_empty());
    assert!(config.virtual_clusters.is_empty());
    assert!(config.chains().is_empty());
}

#[test]
fn lab_cluster_a_has_one_single_node_chain_per_vc() {
    let config = load_str(LAB_CLUSTER_A, "labs.md cluster A").unwrap();
    assert_eq!(config.chains(), ["GPU-C-NODE-POOL", "GPU-D-NODE-POOL"]);
    assert_eq!(node_names(&config), ["hostname-carol", "hostname-dan"]);
    assert_eq!(
        config.virtual_clusters["vc1"].virtual_cells[0].chain,
        "GPU-D-NODE-POOL"
    );
    assert_eq!(
        config.virtual_clusters["default"].virtual_cells[0].cell_type,
        "GPU-C-NODE"
    );
    assert_eq!(config.sku_types["GPU-D"].memory_mib, 4096);
    assert_eq!(leaf_addresses(&config.physical_cells[1]), ["0"]);
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn lab_cluster_b_has_one_vc_with_both_machines() {
    let config = load_str(LAB_CLUSTER_B, "labs.md cluster B").unwrap();
    assert_eq!(config.chains(), ["GPU-NODE-POOL"]);
    assert_eq!(node_names(&config), ["hostname-carol", "hostname-dan"]);
    let cells = &config.virtual_clusters["default"].virtual_cells;
    assert_eq!(cells.len(), 1);
    assert_eq!(cells[0].cell_number, 2);
    assert_eq!(config.leaf_count_of("GPU-NODE-POOL"), 2);
}

#[test]
fn services_configuration_embeds_the_hived_config() {
    let Some(config) = shared_config("openpai-examples/services-configuration.yaml") else {
        return;
    };
    assert_eq!(config.chains(), ["GPU-NODE-POOL"]);
    assert_eq!(node_names(&config), ["hostname-carol", "hostname-dan"]);
    assert_eq!(config.sku_types["GPU"].cpu, 2.0);
    assert_eq!(
        config.virtual_clusters["default"].virtual_cells[0].cell_number,
        2
    );
}

#[test]
fn layout_v1_7_has_four_gpu_workers_and_skips_the_master() {
    let Some(config) = shared_config("openpai-examples/layout-v1.7.yaml") else {
        return;
    };
    assert_eq!(
        node_names(&config),
        ["worker-1", "worker-2", "worker-3", "worker-4"]
    );
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("pai-master") && w.contains("skipped")),
        "{:?}",
        config.warnings
    );
    assert_eq!(
        config.chains(),
        [
            "k80x4-machine-NODE-POOL",
            "v100x8-machine-NODE-POOL",
            "2080tix8-machine-NODE-POOL"
        ]
    );
    assert_eq!(
        config.chain_types("v100x8-machine-NODE-POOL"),
        [
            "v100x8-machine-NODE-POOL",
            "v100x8-machine-NODE",
            "V100-4GPU",
            "V100-2GPU",
            "V100"
        ]
    );
    assert_eq!(
        config.chain_types("k80x4-machine-NODE-POOL"),
        [
            "k80x4-machine-NODE-POOL",
            "k80x4-machine-NODE",
            "K80-2GPU",
            "K80"
        ]
    );
    let k80 = &config.sku_types["K80"];
    assert_eq!((k80.gpu, k80.cpu, k80.memory_mib), (1, 6.0, 55 * 1024));
    let default = &config.virtual_clusters["default"].virtual_cells;
    assert_eq!(default.len(), 3);
    assert_eq!(default[0].cell_type, "k80x4-machine-NODE");
    assert_eq!(default[0].cell_number, 2);
    let worker3 = &config.physical_cells[1].children[0];
    assert_eq!(
        leaf_addresses(worker3),
        ["0", "1", "2", "3", "4", "5", "6", "7"]
    );
}

#[test]
fn layout_v0_12_uses_the_old_gpu_format_and_keeps_skus_apart() {
    let Some(config) = shared_config("openpai-examples/layout-v0.12.yaml") else {
        return;
    };
    // node00 is master and worker: it has GPUs, so it is a node. Nodes use `nodename`.
    assert_eq!(
        node_names(&config),
        ["192.168.1.200", "192.168.1.201", "192.168.1.202"]
    );
    assert_eq!(
        config.chains(),
        ["NODE00-NODE-POOL", "NODE01-NODE-POOL", "NODE02-NODE-POOL"]
    );
    assert_eq!(config.leaf_type_of("NODE02-NODE-POOL"), "generic");
    assert_eq!(config.leaf_count_of("NODE00-NODE-POOL"), 2);
    assert_eq!(config.leaf_count_of("NODE02-NODE-POOL"), 1);
    assert!(
        config
            .warnings
            .iter()
            .any(|w| w.contains("mem 50 has no unit")),
        "{:?}",
        config.warnings
    );
    assert_eq!(config.sku_types["generic"].cpu, 4.0);
}
