//! Config validation: one test per rule of `spec/hived-semantics.md` section 1, each
//! checking that the message names the file, the YAML path and what to change; plus
//! property tests that no input makes the loader panic.

use cellsim::config::{ConfigError, load_file, load_str};
use proptest::prelude::*;

/// A valid config shaped like HiveD's `hived-config-6.yaml`: a K80 pool of 4 nodes and an
/// M60 pool of 1 node; the tests break it one way at a time.
const GOOD: &str = "
physicalCluster:
  skuTypes:
    K80: {gpu: 1, cpu: 4, memory: 8192Mi}
  cellTypes:
    K80-2GPU: {childCellType: K80, childCellNumber: 2}
    K80-NODE: {childCellType: K80-2GPU, childCellNumber: 2, isNodeLevel: true}
    K80-NODE-POOL: {childCellType: K80-NODE, childCellNumber: 4}
    M60-NODE: {childCellType: M60, childCellNumber: 4, isNodeLevel: true}
    M60-NODE-POOL: {childCellType: M60-NODE, childCellNumber: 1}
  physicalCells:
  - cellType: K80-NODE-POOL
    cellChildren:
    - cellAddress: 10.151.41.18
    - cellAddress: 10.151.41.19
      pinnedCellId: PIN-19
    - cellAddress: 10.151.41.23
    - cellAddress: 10.151.41.24
  - cellType: M60-NODE-POOL
    cellChildren:
    - cellAddress: 10.151.41.26
virtualClusters:
  vc1:
    virtualCells:
    - cellType: K80-NODE-POOL.K80-NODE
      cellNumber: 2
    - cellType: M60-NODE-POOL.M60-NODE
      cellNumber: 1
    pinnedCells:
    - pinnedCellId: PIN-19
  default:
    virtualCells:
    - cellType: K80-NODE-POOL.K80-NODE
      cellNumber: 1
";

const FILE: &str = "bad.yaml";

/// `GOOD` with `from` replaced by `to` (which must occur exactly once).
fn variant(from: &str, to: &str) -> String {
    assert_eq!(
        GOOD.matches(from).count(),
        1,
        "{from:?} must occur once in GOOD"
    );
    GOOD.replacen(from, to, 1)
}

/// The errors of loading `text`; fails the test when it loads.
fn load_errors(text: &str) -> Vec<ConfigError> {
    match load_str(text, FILE) {
        Ok(_) => panic!("expected errors for:\n{text}"),
        Err(errors) => errors.0,
    }
}

/// Assert one of `errors` is at `path` and its message holds all `words`.
#[track_caller]
fn assert_error(errors: &[ConfigError], path: &str, words: &[&str]) {
    let found = errors.iter().any(|e| {
        e.file == FILE && e.yaml_path == path && words.iter().all(|w| e.message.contains(w))
    });
    let listed: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        found,
        "no error at {path} with {words:?}; got:\n{}",
        listed.join("\n")
    );
}

#[test]
fn the_base_config_is_valid() {
    let config = load_str(GOOD, FILE).unwrap();
    assert!(config.warnings.is_empty(), "{:?}", config.warnings);
}

#[test]
fn unknown_top_level_cell_type_is_rejected() {
    let errors = load_errors(&variant(
        "  - cellType: M60-NODE-POOL\n",
        "  - cellType: M70-NODE-POOL\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellType",
        &["unknown cell type M70-NODE-POOL", "define it"],
    );
}

#[test]
fn a_leaf_type_cannot_be_a_top_level_cell() {
    let errors = load_errors(&variant(
        "  - cellType: M60-NODE-POOL\n",
        "  - cellType: M60\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellType",
        &["M60 is a leaf", "node-level"],
    );
}

#[test]
fn cycles_in_cell_types_are_rejected() {
    let text = variant(
        "K80-2GPU: {childCellType: K80, childCellNumber: 2}",
        "K80-2GPU: {childCellType: K80-NODE-POOL, childCellNumber: 2}",
    );
    let errors = load_errors(&text);
    assert_error(
        &errors,
        "physicalCluster.cellTypes.K80-2GPU.childCellType",
        &["cycle", "K80-2GPU -> K80-NODE-POOL -> K80-NODE -> K80-2GPU"],
    );
    // One error for the cycle, none cascading from it (the VCs on the chain say nothing).
    assert_eq!(errors.len(), 1, "{errors:?}");
}

#[test]
fn child_cell_number_must_be_a_whole_number_of_at_least_one() {
    for (bad, words) in [
        ("0", &["at least 1", "got 0"][..]),
        ("-2", &["at least 1", "got -2"]),
        ("2.5", &["whole number", "2.5"]),
        ("\"2\"", &["whole number", "remove the quotes"]),
        ("[2]", &["whole number", "a list"]),
    ] {
        let text = variant(
            "K80-NODE: {childCellType: K80-2GPU, childCellNumber: 2,",
            &format!("K80-NODE: {{childCellType: K80-2GPU, childCellNumber: {bad},"),
        );
        let errors = load_errors(&text);
        let mut expected = words.to_vec();
        expected.push("set childCellNumber");
        assert_error(
            &errors,
            "physicalCluster.cellTypes.K80-NODE.childCellNumber",
            &expected,
        );
    }
}

#[test]
fn a_chain_needs_a_node_level_type() {
    let errors = load_errors(&variant(
        "M60-NODE: {childCellType: M60, childCellNumber: 4, isNodeLevel: true}",
        "M60-NODE: {childCellType: M60, childCellNumber: 4}",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellType",
        &["no node-level type", "isNodeLevel: true"],
    );
}

#[test]
fn a_chain_may_not_have_two_node_level_types() {
    let errors = load_errors(&variant(
        "K80-2GPU: {childCellType: K80, childCellNumber: 2}",
        "K80-2GPU: {childCellType: K80, childCellNumber: 2, isNodeLevel: true}",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[0].cellType",
        &["2 node-level types", "K80-NODE, K80-2GPU"],
    );
}

#[test]
fn node_level_cells_need_an_address() {
    let errors = load_errors(&variant(
        "    - cellAddress: 10.151.41.23\n",
        "    - pinnedCellId: NO-NAME\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[0].cellChildren[2]",
        &["no cellAddress", "Kubernetes node name"],
    );
}

#[test]
fn leaving_out_a_node_creates_one_without_a_name() {
    let errors = load_errors(&variant("    - cellAddress: 10.151.41.24\n", ""));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[0].cellChildren[3]",
        &[
            "no cellAddress",
            "fewer cellChildren than its childCellNumber",
        ],
    );
}

#[test]
fn duplicate_node_names_are_rejected() {
    let errors = load_errors(&variant(
        "    - cellAddress: 10.151.41.24\n",
        "    - cellAddress: 10.151.41.18\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[0].cellChildren[3].cellAddress",
        &[
            "duplicate node name 10.151.41.18",
            "physicalCluster.physicalCells[0].cellChildren[0]",
        ],
    );
}

#[test]
fn duplicate_pinned_ids_are_rejected() {
    let errors = load_errors(&variant(
        "    - cellAddress: 10.151.41.26\n",
        "    - cellAddress: 10.151.41.26\n      pinnedCellId: PIN-19\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellChildren[0].pinnedCellId",
        &[
            "duplicate pinnedCellId PIN-19",
            "physicalCluster.physicalCells[0].cellChildren[1]",
            "unique",
        ],
    );
}

#[test]
fn a_pinned_id_belongs_to_one_vc() {
    let errors = load_errors(&variant(
        "  default:\n    virtualCells:\n",
        "  default:\n    pinnedCells: [{pinnedCellId: PIN-19}]\n    virtualCells:\n",
    ));
    assert_error(
        &errors,
        "virtualClusters.default.pinnedCells[0].pinnedCellId",
        &[
            "PIN-19 is already used by VC vc1",
            "virtualClusters.vc1.pinnedCells[0].pinnedCellId",
            "remove it",
        ],
    );
}

#[test]
fn unknown_pinned_ids_are_rejected() {
    let errors = load_errors(&variant(
        "    - pinnedCellId: PIN-19\n",
        "    - pinnedCellId: PIN-20\n",
    ));
    assert_error(
        &errors,
        "virtualClusters.vc1.pinnedCells[0].pinnedCellId",
        &["unknown pinnedCellId PIN-20", "PIN-19"],
    );
}

#[test]
fn unknown_chains_in_vc_paths_are_rejected() {
    let errors = load_errors(&variant(
        "- cellType: M60-NODE-POOL.M60-NODE",
        "- cellType: P100-NODE-POOL.M60-NODE",
    ));
    assert_error(
        &errors,
        "virtualClusters.vc1.virtualCells[1].cellType",
        &[
            "unknown chain P100-NODE-POOL",
            "K80-NODE-POOL, M60-NODE-POOL",
        ],
    );
}

#[test]
fn a_vc_path_must_start_at_a_chain() {
    let errors = load_errors(&variant(
        "- cellType: M60-NODE-POOL.M60-NODE",
        "- cellType: M60-NODE",
    ));
    assert_error(
        &errors,
        "virtualClusters.vc1.virtualCells[1].cellType",
        &["M60-NODE is not a chain", "e.g. M60-NODE-POOL.M60-NODE"],
    );
}

#[test]
fn unknown_types_in_vc_paths_are_rejected() {
    let errors = load_errors(&variant(
        "- cellType: M60-NODE-POOL.M60-NODE",
        "- cellType: M60-NODE-POOL.M60-4GPU",
    ));
    assert_error(
        &errors,
        "virtualClusters.vc1.virtualCells[1].cellType",
        &[
            "M60-4GPU is an unknown cell type",
            "M60-NODE-POOL > M60-NODE > M60",
        ],
    );
}

#[test]
fn vc_path_segments_must_follow_the_hierarchy_down() {
    let errors = load_errors(&variant(
        "- cellType: M60-NODE-POOL.M60-NODE",
        "- cellType: M60-NODE-POOL.K80-NODE",
    ));
    assert_error(
        &errors,
        "virtualClusters.vc1.virtualCells[1].cellType",
        &["K80-NODE is not in chain M60-NODE-POOL"],
    );
    let errors = load_errors(&variant(
        "- cellType: M60-NODE-POOL.M60-NODE",
        "- cellType: M60-NODE-POOL.M60.M60-NODE",
    ));
    assert_error(
        &errors,
        "virtualClusters.vc1.virtualCells[1].cellType",
        &["M60-NODE is not below M60"],
    );
}

// `cellNumber: 0` is valid HiveD (the VC has none of that type): it loads as if the
// entry were absent. A negative number is an error.
#[test]
fn cell_number_zero_means_none_and_negative_is_rejected() {
    let zero = load_str(
        &variant(
            "M60-NODE\n      cellNumber: 1\n",
            "M60-NODE\n      cellNumber: 0\n",
        ),
        FILE,
    )
    .unwrap_or_else(|e| panic!("cellNumber 0 must load: {e}"));
    let without = load_str(GOOD, FILE).expect("GOOD loads");
    let vc1 = |c: &cellsim::config::CellConfig| c.virtual_clusters["vc1"].virtual_cells.clone();
    assert_eq!(vc1(&zero).len() + 1, vc1(&without).len());
    assert!(vc1(&zero).iter().all(|c| c.chain != "M60-NODE-POOL"));
    let errors = load_errors(&variant(
        "M60-NODE\n      cellNumber: 1\n",
        "M60-NODE\n      cellNumber: -1\n",
    ));
    assert_error(
        &errors,
        "virtualClusters.vc1.virtualCells[1].cellNumber",
        &["at least 0", "got -1", "set cellNumber"],
    );
}

#[test]
fn more_children_than_child_cell_number_is_rejected() {
    let errors = load_errors(&variant(
        "    - cellAddress: 10.151.41.26\n",
        "    - cellAddress: 10.151.41.26\n    - cellAddress: 10.151.41.27\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellChildren",
        &[
            "2 cellChildren listed but a M60-NODE-POOL holds 1",
            "physicalCluster.cellTypes.M60-NODE-POOL.childCellNumber",
            "remove 1",
        ],
    );
}

#[test]
fn a_child_of_the_wrong_type_is_rejected() {
    let errors = load_errors(&variant(
        "    - cellAddress: 10.151.41.26\n",
        "    - cellAddress: 10.151.41.26\n      cellType: K80-NODE\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellChildren[0].cellType",
        &[
            "cellType K80-NODE does not fit",
            "children of a M60-NODE-POOL are M60-NODE",
        ],
    );
}

#[test]
fn over_demand_names_chain_type_counts_and_vcs() {
    // hived-config-6 with vc1 asking for 4 instead of 3 K80 nodes (PIN-19 unpinned).
    let text = variant("      pinnedCellId: PIN-19\n", "")
        .replace("    pinnedCells:\n    - pinnedCellId: PIN-19\n", "")
        .replacen(
            "cellType: K80-NODE-POOL.K80-NODE\n      cellNumber: 2",
            "cellType: K80-NODE-POOL.K80-NODE\n      cellNumber: 4",
            1,
        );
    let errors = load_errors(&text);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].yaml_path, "virtualClusters");
    assert_eq!(
        errors[0].message,
        "chain K80-NODE-POOL: VCs ask for 5 cells of type K80-NODE but the cluster has 4 (vc1: 4, default: 1); lower cellNumber or add nodes"
    );
}

#[test]
fn over_demand_counts_pinned_cells_and_larger_cells() {
    // vc1 has 2 nodes + PIN-19, default 1 node: the pool is full. Asking default for one
    // more 2-GPU cell must fail at the K80-2GPU level, with nothing left there.
    let text = variant(
        "  default:\n    virtualCells:\n",
        "  default:\n    virtualCells:\n    - cellType: K80-NODE-POOL.K80-NODE.K80-2GPU\n      cellNumber: 1\n",
    );
    let errors = load_errors(&text);
    assert_eq!(
        errors[0].message,
        "chain K80-NODE-POOL: VCs ask for 1 cell of type K80-2GPU but the cluster has 0 (default: 1); lower cellNumber or add nodes \
         (the chain has 8 cells of type K80-2GPU; 8 of them are inside larger cells that VCs already ask for or pin)"
    );
    // Pinned cells are counted at their own level and shown per VC.
    let text = variant("      cellNumber: 2\n", "      cellNumber: 3\n");
    let errors = load_errors(&text);
    assert_eq!(
        errors[0].message,
        "chain K80-NODE-POOL: VCs ask for 5 cells of type K80-NODE but the cluster has 4 (vc1: 4 (1 pinned), default: 1); lower cellNumber or add nodes"
    );
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let errors = load_errors("physicalCluster:\n  cellTypes: {a: 1\nvirtualClusters: {}\n");
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].message.starts_with("line 3, column 16: "),
        "{}",
        errors[0]
    );
    assert!(errors[0].message.contains("fix the YAML syntax"));
}

#[test]
fn wrong_types_name_the_yaml_path() {
    let errors = load_errors(&variant(
        "isNodeLevel: true}\n    K80-NODE-POOL",
        "isNodeLevel: yes}\n    K80-NODE-POOL",
    ));
    assert_error(
        &errors,
        "physicalCluster.cellTypes.K80-NODE.isNodeLevel",
        &["true or false", "\"yes\""],
    );
    let errors = load_errors(&variant(
        "    - cellAddress: 10.151.41.26\n",
        "    - cellAddress: 10.151.41.26\n      cellChildren: 4\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellChildren[0].cellChildren",
        &["invalid type", "a list of cells"],
    );
    let errors = load_errors(&variant(
        "  vc1:\n    virtualCells:\n",
        "  vc1:\n    virtualCells: many\n    unused:\n",
    ));
    assert_error(
        &errors,
        "virtualClusters.vc1.virtualCells",
        &["invalid type", "cellType: CHAIN.TYPE"],
    );
}

#[test]
fn misspelt_keys_are_errors_and_other_unknown_keys_warnings() {
    let errors = load_errors(&variant("childCellNumber: 4}", "childCellNumbr: 4}"));
    assert_error(
        &errors,
        "physicalCluster.cellTypes.K80-NODE-POOL.childCellNumbr",
        &[
            "unknown key `childCellNumbr`",
            "did you mean `childCellNumber`",
        ],
    );
    // No second error saying childCellNumber is missing.
    assert_eq!(errors.len(), 1, "{errors:?}");

    let config = load_str(&variant("  vc1:\n", "  vc1:\n    owner: alice\n"), FILE).unwrap();
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0]
            .starts_with("bad.yaml: virtualClusters.vc1.owner: unknown key `owner` is ignored"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn leaf_addresses_must_be_device_indices_unique_in_the_node() {
    let errors = load_errors(&variant(
        "    - cellAddress: 10.151.41.26\n",
        "    - cellAddress: 10.151.41.26\n      cellChildren: [{cellAddress: 0}, {cellAddress: gpu1}, {cellAddress: 0}]\n",
    ));
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellChildren[0].cellChildren[1].cellAddress",
        &["device index", "whole number"],
    );
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1].cellChildren[0].cellChildren[2].cellAddress",
        &["device index 0 appears twice in node 10.151.41.26"],
    );
}

#[test]
fn all_errors_are_reported_not_just_the_first() {
    let text = variant("childCellNumber: 4}", "childCellNumber: 0}")
        .replacen("cellNumber: 1\n", "cellNumber: -1\n", 1)
        .replacen("- pinnedCellId: PIN-19", "- pinnedCellId: PIN-99", 1);
    let errors = load_errors(&text);
    assert_error(
        &errors,
        "physicalCluster.cellTypes.K80-NODE-POOL.childCellNumber",
        &["at least 1"],
    );
    assert_error(
        &errors,
        "virtualClusters.vc1.virtualCells[1].cellNumber",
        &["at least 0", "got -1"],
    );
    assert_error(
        &errors,
        "virtualClusters.vc1.pinnedCells[0].pinnedCellId",
        &["unknown pinnedCellId PIN-99"],
    );
    let shown = cellsim::config::ConfigErrors(errors).to_string();
    assert_eq!(shown.lines().count(), 3, "{shown}");
    assert!(
        shown.lines().all(|l| l.starts_with("bad.yaml: ")),
        "{shown}"
    );
}

#[test]
fn errors_in_an_embedded_config_say_where_it_is() {
    let embedded = GOOD.replacen("childCellNumber: 4}", "childCellNumber: 0}", 1);
    let indented: String = embedded.lines().map(|l| format!("    {l}\n")).collect();
    let text = format!(
        "cluster:\n  common:\n    cluster-id: pai\nhivedscheduler:\n  config: |\n{indented}"
    );
    let errors = load_errors(&text);
    assert_error(
        &errors,
        "hivedscheduler.config > physicalCluster.cellTypes.K80-NODE-POOL.childCellNumber",
        &["at least 1"],
    );

    let text = "hivedscheduler:\n  config: |\n    physicalCluster:\n      cellTypes: [1, 2\n";
    let errors = load_errors(text);
    assert_eq!(errors[0].yaml_path, "hivedscheduler.config");
    assert!(
        errors[0].message.contains("of the embedded config (line "),
        "{}",
        errors[0]
    );

    let errors = load_errors("hivedscheduler:\n  other: 1\n");
    assert_error(&errors, "hivedscheduler.config", &["missing"]);
}

#[test]
fn a_file_that_is_no_cluster_config_is_rejected() {
    let errors = load_errors("protocolVersion: 2\nname: job\ntaskRoles: {}\n");
    assert_error(&errors, "", &["not a cluster config", "machine-sku"]);
    let errors = load_errors("- a\n- b\n");
    assert_error(
        &errors,
        "",
        &["expected a cluster config", "reads as a list"],
    );
}

#[test]
fn layout_errors_name_the_machine() {
    let text = "machine-sku:\n  g:\n    computing-device: {type: nvidia.com/gpu, count: 2}\nmachine-list:\n  - {hostname: a, machine-type: g}\n  - {hostname: b, machine-type: h}\n";
    let errors = load_errors(text);
    assert_error(
        &errors,
        "machine-sku.g.computing-device.model",
        &["model is missing"],
    );
    assert_error(
        &errors,
        "machine-list[1].machine-type",
        &["machine-type h is not in machine-sku"],
    );
}

#[test]
fn an_unreadable_file_is_an_error_naming_it() {
    let path = std::env::temp_dir().join(format!("cellsim-missing-{}.yaml", std::process::id()));
    let errors = load_file(&path).unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors.0[0].file, path.display().to_string());
    assert!(errors.0[0].message.contains("cannot read the file"));
}

#[test]
fn huge_fan_out_is_refused_before_expanding() {
    let text = variant(
        "M60-NODE: {childCellType: M60, childCellNumber: 4,",
        "M60-NODE: {childCellType: M60, childCellNumber: 4000000000,",
    );
    let errors = load_errors(&text);
    assert_error(
        &errors,
        "physicalCluster.physicalCells[1]",
        &["cellsim supports at most"],
    );
}

/// Strategy for YAML-ish documents built from the config's own vocabulary, so that the
/// loader's deeper paths (not just the parser) see odd shapes.
fn yamlish() -> impl Strategy<Value = String> {
    let word = prop::sample::select(vec![
        "physicalCluster",
        "virtualClusters",
        "cellTypes",
        "physicalCells",
        "skuTypes",
        "childCellType",
        "childCellNumber",
        "isNodeLevel",
        "cellType",
        "cellAddress",
        "cellChildren",
        "pinnedCellId",
        "virtualCells",
        "pinnedCells",
        "cellNumber",
        "A",
        "B",
        "A.B",
        "hivedscheduler",
        "config",
        "machine-sku",
        "machine-list",
        "computing-device",
        "count",
        "model",
        "gpu",
        "memory",
        "mem",
        "hostname",
        "machine-type",
        "0",
        "-1",
        "2",
        "4294967296",
        "true",
        "null",
        "~",
        "1.5",
        "8Gi",
        "&x",
        "*x",
        "<<",
        "!tag",
        "''",
        "-",
        "[",
        "]",
        "{",
        "}",
        ":",
        ",",
        "|",
        "#",
    ]);
    let token = (
        word,
        prop::sample::select(vec![": ", "\n", "\n  ", "\n    ", "\n  - ", " ", ", ", "."]),
    );
    prop::collection::vec(token, 0..60)
        .prop_map(|tokens| tokens.into_iter().map(|(w, s)| format!("{w}{s}")).collect())
}

/// Strategy for well-formed YAML documents: random trees of the config's keys and odd
/// scalars, serialised, so that every stage after parsing is exercised.
fn config_trees() -> impl Strategy<Value = String> {
    use serde_yaml_ng::{Mapping, Value};
    let key = prop::sample::select(vec![
        "physicalCluster",
        "virtualClusters",
        "cellTypes",
        "physicalCells",
        "skuTypes",
        "childCellType",
        "childCellNumber",
        "isNodeLevel",
        "cellType",
        "cellAddress",
        "cellChildren",
        "pinnedCellId",
        "virtualCells",
        "pinnedCells",
        "cellNumber",
        "gpu",
        "cpu",
        "memory",
        "A",
        "B",
        "C",
        "A.B",
        "B.A",
        "vc",
        "P",
        "webServerAddress",
    ]);
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-3i64..6).prop_map(|n| Value::Number(n.into())),
        Just(Value::Number(u64::MAX.into())),
        Just(Value::Number(1.5.into())),
        prop::sample::select(vec![
            "A", "B", "C", "A.B", "A.B.C", "B.A", "P", "8Gi", "x/y", "", "4096Mi"
        ])
        .prop_map(|s| Value::String(s.to_string())),
    ];
    let tree = leaf.prop_recursive(6, 120, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Sequence),
            prop::collection::vec((key.clone(), inner), 0..6).prop_map(|entries| {
                let mut map = Mapping::new();
                for (k, v) in entries {
                    map.insert(Value::String(k.to_string()), v);
                }
                Value::Mapping(map)
            }),
        ]
    });
    tree.prop_map(|value| serde_yaml_ng::to_string(&value).unwrap_or_default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        if let Err(errors) = load_str(&text, "fuzz") {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn yamlish_documents_never_panic(text in yamlish()) {
        if let Err(errors) = load_str(&text, "fuzz") {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn random_config_trees_never_panic(text in config_trees()) {
        if let Err(errors) = load_str(&text, "fuzz") {
            prop_assert!(!errors.is_empty());
        }
    }

    #[test]
    fn mutated_valid_configs_never_panic(at in 0..GOOD.len(), cut in 0usize..40, insert in "[ -~\n]{0,12}") {
        let at = (0..=at).rev().find(|i| GOOD.is_char_boundary(*i)).unwrap_or(0);
        let end = (at + cut).min(GOOD.len());
        let text = format!("{}{}{}", &GOOD[..at], insert, &GOOD[end..]);
        if let Err(errors) = load_str(&text, "fuzz") {
            prop_assert!(!errors.is_empty());
        }
    }
}
