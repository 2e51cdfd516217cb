//! The sharing-anomaly check, an experiment beside the run pipeline: does a VC wait longer on the shared cluster than it would alone on
//! the cells it is guaranteed? For one scenario and one model, each VC's jobs are re-run
//! alone on a *private cluster* made of exactly its guaranteed cells, with the same model,
//! and the VC's waits on the shared and the private run are compared ([`SharingReport`]).
//! A VC whose shared wait exceeds its private wait by more than the tolerance
//! ([`TOLERANCE_MS`], [`TOLERANCE_PERCENT`]) *suffers from sharing*: the scheduler does
//! not give it what its share promises. HiveD's VC safety says this never happens under
//! `hived`; under `yarn-cs` a quota is a GPU count, not a shape, so borrowed small jobs
//! of other VCs can fragment the nodes a VC of large jobs needs.
//!
//! # The private cluster ([`private_cluster`])
//!
//! A new [`CellConfig`] with the same cell types, SKUs and server settings, one VC (the
//! VC itself) and, as physical cells, copies of the cell subtrees the VC is guaranteed:
//!
//! - for each preassigned cell of type `T` in chain `C` (`cellNumber` times): a physical
//!   cell of type `T` from chain `C`'s cells, the first in configuration order that is
//!   not already taken for this private cluster and holds no pinned cell (of any VC),
//!   becomes a top-level cell of a chain named `T`. Larger types are taken first, so
//!   smaller ones fill in around them. All cells of a type have the same shape, so which
//!   ones are taken only decides the node names shown in reports;
//! - each pinned cell of the VC is copied as itself (same pinned id), top-level;
//! - node names and device indices are kept, so reports stay readable. A cell below
//!   node level (a socket, a GPU) cannot be a top-level cell and stay on its node, so it
//!   is wrapped in a node-level cell of a new type `T@node` (one child, `T`) carrying
//!   the node's name; two such cells of one node show as that node twice;
//! - the VC owns every non-pinned top-level cell as a virtual cell of its chain, plus
//!   its pinned cells.
//!
//! The VC's guaranteed GPU count ([`crate::sched::guaranteed_gpus`]) is the private
//! cluster's GPU count.
//!
//! # The private run ([`private_scenario`])
//!
//! The scenario with the private cluster, only the VC's jobs, the same seed, horizon,
//! checkpoint interval and model options (per-VC `yarn-cs` settings of other VCs
//! dropped).
//!
//! # Limits
//!
//! - Node events are not replayed on private clusters: which physical cells a private
//!   cluster copies is arbitrary, so a node failure there would hit it by chance. Compare
//!   scenarios without node events for a clean answer (the report notes it).
//! - In a private cluster each copied cell is its own top-level cell: placement can not
//!   span two of them through a common parent (two sockets of one node copied for a VC
//!   are two `T@node` cells, and a pod can not use both). HiveD's VC view has the same
//!   limit; `yarn-cs` on the shared cluster does not.
//! - Jobs of a VC the cluster config does not have are left out (every model rejects
//!   them).
//! - Waits are those of `vcs.csv`: submit to first start, over the jobs that started
//!   ([`crate::report::Stats`]: mean, nearest-rank p95). Jobs that never started
//!   (rejected, killed while waiting, still waiting at the horizon) are counted apart,
//!   and more of them on the shared cluster also counts as suffering.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::progress::Progress;
use crate::config::{
    CellConfig, CellTypeSpec, PhysicalCellSpec, VirtualCellSpec, VirtualClusterSpec,
};
pub use crate::report::sharing::{
    SharingReport, TOLERANCE_MS, TOLERANCE_PERCENT, VcSharing, tolerance_ms,
};
use crate::report::summary::Stats;
use crate::sched;
use crate::sim::scenario::load_str;
use crate::sim::{JobRecord, RunResult, Scenario, ScenarioError};

/// The models whose VCs the sharing anomaly is about (the others have no VC guarantees:
/// `fifo` ignores VCs).
pub const SHARING_MODELS: [&str; 3] = [
    sched::hived::NAME,
    sched::yarn_cs::NAME,
    sched::layers::kueue::NAME,
];

/// Whether the sharing check applies to `model`: its layer shares the cluster among VCs
/// with guarantees (`hived`, `yarn-cs`, with any policy). `isolated` is the private
/// share itself and `shared` has no VCs.
pub fn has_sharing_check(model: &str) -> bool {
    sched::parse_model_name(model).is_ok_and(|(layer, _)| SHARING_MODELS.contains(&layer))
}

/// Where the demo scenario lives in the repository.
pub const DEMO_PATH: &str = "scenarios/demos/sharing-anomaly.yaml";

/// The sharing-anomaly demo ([`DEMO_PATH`], compiled in, so it runs from any folder):
/// `yarn-cs` makes its 8-GPU VC wait longer than on its private share, `hived` does not.
pub fn demo_scenario() -> Result<Scenario, ScenarioError> {
    load_str(
        include_str!("../../scenarios/demos/sharing-anomaly.yaml"),
        &format!("{DEMO_PATH} (built in)"),
        Path::new("scenarios/demos"),
        "sharing-anomaly",
    )
}

/// Run `scenario` with `model` on the shared cluster and each VC alone on its private
/// cluster, and compare their waits.
pub fn sharing_anomaly(scenario: &Scenario, model: &str) -> Result<SharingReport, String> {
    sharing_anomaly_with_progress(scenario, model, &Progress::hidden())
}

/// [`sharing_anomaly`] with a progress bar per run.
pub fn sharing_anomaly_with_progress(
    scenario: &Scenario,
    model: &str,
    progress: &Progress,
) -> Result<SharingReport, String> {
    let shared = super::simulate(scenario, model, progress)?;
    sharing_from_shared_run(scenario, &shared, progress)
}

/// [`sharing_anomaly`] reusing a shared run already made (`shared`, a run of `scenario`
/// with the model named in it): only the private runs are made.
pub fn sharing_from_shared_run(
    scenario: &Scenario,
    shared: &RunResult,
    progress: &Progress,
) -> Result<SharingReport, String> {
    let model = shared.model.as_str();
    let guaranteed = sched::guaranteed_gpus(&scenario.config);
    let with_jobs: BTreeSet<&str> = scenario.jobs.iter().map(|j| j.vc.as_str()).collect();
    let mut vcs = Vec::new();
    for (vc, &gpus) in &guaranteed {
        if !with_jobs.contains(vc.as_str()) {
            continue;
        }
        let private = private_scenario(scenario, vc)?;
        let private_run = super::simulate(&private, model, progress)
            .map_err(|e| format!("private run of VC {vc:?} with {model}: {e}"))?;
        let shared_jobs: Vec<&JobRecord> = shared.jobs.iter().filter(|j| &j.vc == vc).collect();
        let private_jobs: Vec<&JobRecord> = private_run.jobs.iter().collect();
        vcs.push(compare(vc, gpus, &shared_jobs, &private_jobs));
    }
    let mut notes = Vec::new();
    if !scenario.node_events.is_empty() {
        notes.push(format!(
            "the scenario's {} node events were replayed on the shared cluster only",
            scenario.node_events.len()
        ));
    }
    let unknown: BTreeSet<&str> = with_jobs
        .into_iter()
        .filter(|vc| !guaranteed.contains_key(*vc))
        .collect();
    if !unknown.is_empty() {
        notes.push(format!(
            "jobs of VCs the cluster does not have were left out: {}",
            unknown.into_iter().collect::<Vec<_>>().join(", ")
        ));
    }
    Ok(SharingReport {
        scenario: scenario.name.clone(),
        model: model.to_string(),
        vcs,
        notes,
    })
}

fn waits(jobs: &[&JobRecord]) -> (u32, Option<Stats>) {
    let waits: Vec<u64> = jobs.iter().filter_map(|j| j.wait_ms()).collect();
    (waits.len() as u32, Stats::of(&waits))
}

fn diff(shared: Option<u64>, private: Option<u64>) -> Option<i64> {
    Some(i64::try_from(shared?).ok()? - i64::try_from(private?).ok()?)
}

fn exceeds(shared: Option<u64>, private: Option<u64>) -> bool {
    match (shared, private) {
        (Some(s), Some(p)) => s > p + tolerance_ms(p),
        _ => false,
    }
}

fn compare(vc: &str, gpus: u32, shared: &[&JobRecord], private: &[&JobRecord]) -> VcSharing {
    let (shared_started, s) = waits(shared);
    let (private_started, p) = waits(private);
    let (sm, pm) = (s.map(|s| s.mean), p.map(|p| p.mean));
    let (s95, p95) = (s.map(|s| s.p95), p.map(|p| p.p95));
    VcSharing {
        vc: vc.to_string(),
        guaranteed_gpus: gpus,
        jobs: shared.len() as u32,
        shared_started,
        private_started,
        shared_mean_wait_ms: sm,
        private_mean_wait_ms: pm,
        shared_p95_wait_ms: s95,
        private_p95_wait_ms: p95,
        mean_wait_diff_ms: diff(sm, pm),
        p95_wait_diff_ms: diff(s95, p95),
        suffers: exceeds(sm, pm) || exceeds(s95, p95) || shared_started < private_started,
    }
}

// ---------------------------------------------------------------------------------------
// The private cluster.

/// A cell of the shared cluster, as the path of child indices from its top-level cell
/// (whose index in `physical_cells` comes first).
type CellPath = Vec<usize>;

fn is_within(inner: &[usize], outer: &[usize]) -> bool {
    inner.starts_with(outer)
}

fn overlaps(a: &[usize], b: &[usize]) -> bool {
    is_within(a, b) || is_within(b, a)
}

fn cell_at<'a>(config: &'a CellConfig, path: &[usize]) -> &'a PhysicalCellSpec {
    let mut cell = &config.physical_cells[path[0]];
    for &i in &path[1..] {
        cell = &cell.children[i];
    }
    cell
}

/// Every cell of the cluster, depth-first in configuration order, with its path.
fn all_cells(config: &CellConfig) -> Vec<(CellPath, &PhysicalCellSpec)> {
    fn walk<'a>(
        cell: &'a PhysicalCellSpec,
        path: &mut CellPath,
        out: &mut Vec<(CellPath, &'a PhysicalCellSpec)>,
    ) {
        out.push((path.clone(), cell));
        for (i, child) in cell.children.iter().enumerate() {
            path.push(i);
            walk(child, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    for (i, top) in config.physical_cells.iter().enumerate() {
        walk(top, &mut vec![i], &mut out);
    }
    out
}

/// Whether a cell of `cell_type` is a node or holds nodes.
fn holds_a_node(config: &CellConfig, cell_type: &str) -> bool {
    let mut current = cell_type;
    for _ in 0..=config.cell_types.len() {
        match config.cell_types.get(current) {
            Some(spec) if spec.is_node_level => return true,
            Some(spec) => current = &spec.child_cell_type,
            None => return false,
        }
    }
    false
}

/// The node name of the node-level cell above the cell at `path`, if any.
fn node_above(config: &CellConfig, path: &[usize]) -> Option<String> {
    let mut cell = &config.physical_cells[path[0]];
    let mut node = None;
    for &i in &path[1..] {
        if config
            .cell_types
            .get(&cell.cell_type)
            .is_some_and(|t| t.is_node_level)
        {
            node = Some(cell.address.clone());
        }
        cell = &cell.children[i];
    }
    node
}

/// The private cluster of `vc` in `config`: copies of exactly the cells it is guaranteed,
/// owned by `vc` alone (see the module docs for the construction and its limits). Fails
/// when `config` has no VC `vc` or too few free cells of a type the VC is guaranteed.
pub fn private_cluster(config: &CellConfig, vc: &str) -> Result<CellConfig, String> {
    let Some(spec) = config.virtual_clusters.get(vc) else {
        return Err(format!(
            "unknown VC {vc:?}; use one of the cluster's VCs: {}",
            config
                .virtual_clusters
                .keys()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let cells = all_cells(config);
    let pinned: Vec<&CellPath> = cells
        .iter()
        .filter(|(_, c)| c.pinned_cell_id.is_some())
        .map(|(p, _)| p)
        .collect();
    // (path, pinned): the cells copied, in the order taken.
    let mut taken: Vec<(CellPath, bool)> = Vec::new();
    let mut wanted: Vec<&VirtualCellSpec> = spec.virtual_cells.iter().collect();
    // Larger cells first, so that smaller ones fill in around them.
    wanted.sort_by_key(|v| std::cmp::Reverse(config.level_of(&v.cell_type)));
    for want in wanted {
        let mut found = 0;
        for (path, cell) in &cells {
            if found == want.cell_number {
                break;
            }
            if cell.cell_type != want.cell_type
                || config.physical_cells[path[0]].cell_type != want.chain
                || pinned.iter().any(|p| overlaps(p, path))
                || taken.iter().any(|(t, _)| overlaps(t, path))
            {
                continue;
            }
            taken.push((path.clone(), false));
            found += 1;
        }
        if found < want.cell_number {
            return Err(format!(
                "VC {vc:?} is guaranteed {} cells of type {} in chain {}, but only {found} \
                 such cells are free of pinned cells and of the VC's other cells; check the \
                 cluster config with `cellsim validate`",
                want.cell_number, want.cell_type, want.chain
            ));
        }
    }
    for id in &spec.pinned_cells {
        let Some((path, _)) = cells
            .iter()
            .find(|(_, c)| c.pinned_cell_id.as_deref() == Some(id.as_str()))
        else {
            return Err(format!(
                "VC {vc:?} owns pinned cell {id:?}, which no physical cell carries; check the \
                 cluster config with `cellsim validate`"
            ));
        };
        taken.push((path.clone(), true));
    }
    // Configuration order, so nodes are listed as in the shared cluster.
    taken.sort();

    let mut private = CellConfig {
        source: format!("{} (private share of VC {vc})", config.source),
        cell_types: config.cell_types.clone(),
        sku_types: config.sku_types.clone(),
        physical_cells: Vec::new(),
        virtual_clusters: BTreeMap::new(),
        server: config.server.clone(),
        warnings: Vec::new(),
    };
    // Non-pinned top-level cells per chain, in order of first appearance.
    let mut owned: Vec<(String, u32)> = Vec::new();
    let mut tops_per_chain: BTreeMap<String, usize> = BTreeMap::new();
    for (path, is_pinned) in &taken {
        let cell = cell_at(config, path);
        let top = if holds_a_node(config, &cell.cell_type) || path.len() == 1 {
            let mut top = cell.clone();
            let is_node = config
                .cell_types
                .get(&cell.cell_type)
                .is_some_and(|t| t.is_node_level);
            if !is_node && holds_a_node(config, &cell.cell_type) {
                // Above node level a top-level cell's address is its position in its chain.
                let position = tops_per_chain.get(&cell.cell_type).copied().unwrap_or(0);
                top.address = position.to_string();
            }
            top
        } else {
            let wrapper = format!("{}@node", cell.cell_type);
            private.cell_types.insert(
                wrapper.clone(),
                CellTypeSpec {
                    child_cell_type: cell.cell_type.clone(),
                    child_cell_number: 1,
                    is_node_level: true,
                },
            );
            PhysicalCellSpec {
                cell_type: wrapper,
                // A cell below node level always has a node above it in a valid config.
                address: node_above(config, path).unwrap_or_else(|| cell.address.clone()),
                pinned_cell_id: None,
                children: vec![cell.clone()],
            }
        };
        *tops_per_chain.entry(top.cell_type.clone()).or_default() += 1;
        if !is_pinned {
            match owned.iter_mut().find(|(c, _)| *c == top.cell_type) {
                Some((_, n)) => *n += 1,
                None => owned.push((top.cell_type.clone(), 1)),
            }
        }
        private.physical_cells.push(top);
    }
    private.virtual_clusters.insert(
        vc.to_string(),
        VirtualClusterSpec {
            virtual_cells: owned
                .into_iter()
                .map(|(chain, n)| VirtualCellSpec {
                    chain: chain.clone(),
                    cell_type: chain,
                    cell_number: n,
                })
                .collect(),
            pinned_cells: spec.pinned_cells.clone(),
        },
    );
    Ok(private)
}

/// `scenario` with `vc` alone on its private cluster ([`private_cluster`]): only its jobs,
/// no node events, the same seed, horizon, checkpoints and model options.
pub fn private_scenario(scenario: &Scenario, vc: &str) -> Result<Scenario, String> {
    let config = private_cluster(&scenario.config, vc)?;
    let mut model_options = scenario.model_options.clone();
    model_options
        .yarn_cs
        .vc_max_capacity_percent
        .retain(|name, _| name == vc);
    Ok(Scenario {
        name: format!("{}-private-{vc}", scenario.name),
        source: format!("{} (VC {vc} alone on its private cluster)", scenario.source),
        seed: scenario.seed,
        horizon_ms: scenario.horizon_ms,
        models: scenario.models.clone(),
        config,
        checkpoint_interval_ms: scenario.checkpoint_interval_ms,
        model_options,
        jobs: scenario
            .jobs
            .iter()
            .filter(|j| j.vc == vc)
            .cloned()
            .collect(),
        node_events: Vec::new(),
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cell::topology::Topology;

    const MULTI_SKU: &str = include_str!("../../scenarios/clusters/multi-sku.yaml");

    fn multi_sku() -> CellConfig {
        crate::config::load_str(MULTI_SKU, "multi-sku.yaml").unwrap()
    }

    fn gpus(config: &CellConfig) -> u64 {
        config.physical_cells.iter().map(|c| c.leaf_count()).sum()
    }

    fn nodes(config: &CellConfig) -> Vec<String> {
        Topology::build(config)
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect()
    }

    #[test]
    fn a_private_cluster_has_as_many_gpus_as_the_vc_is_guaranteed() {
        let config = multi_sku();
        for (vc, guaranteed) in sched::guaranteed_gpus(&config) {
            let private = private_cluster(&config, &vc).unwrap();
            assert_eq!(gpus(&private), u64::from(guaranteed), "{vc}");
            assert_eq!(sched::guaranteed_gpus(&private)[&vc], guaranteed, "{vc}");
            assert_eq!(
                private.virtual_clusters.keys().collect::<Vec<_>>(),
                [&vc],
                "one VC"
            );
        }
    }

    #[test]
    fn pinned_cells_are_kept_as_themselves() {
        let config = multi_sku();
        let private = private_cluster(&config, "students").unwrap();
        let (cell, _) = private
            .pinned_cell("COURSE-NODE")
            .expect("pinned cell kept");
        let (original, _) = config.pinned_cell("COURSE-NODE").unwrap();
        assert_eq!(cell, original, "same subtree, same node name");
        assert_eq!(
            private.virtual_clusters["students"].pinned_cells,
            ["COURSE-NODE"]
        );
        assert_eq!(nodes(&private), ["v100-r2-n4", "k80-n1", "k80-n2"]);
        // Another VC's private cluster never copies a pinned cell, nor a cell holding one.
        let research = private_cluster(&config, "research").unwrap();
        assert!(research.pinned_cell("COURSE-NODE").is_none());
        assert!(nodes(&research).contains(&"v100-r1-n1".to_string()));
        assert!(!nodes(&research).contains(&"v100-r2-n4".to_string()));
    }

    #[test]
    fn cells_are_copied_with_their_node_names_and_below_node_level_wrapped() {
        let config = multi_sku();
        // product: two V100 nodes and one socket, all in the V100-RACK chain.
        let private = private_cluster(&config, "product").unwrap();
        assert_eq!(nodes(&private), ["v100-r1-n1", "v100-r1-n2", "v100-r1-n3"]);
        let types: Vec<&str> = private
            .physical_cells
            .iter()
            .map(|c| c.cell_type.as_str())
            .collect();
        assert_eq!(types, ["V100-NODE", "V100-NODE", "V100-SOCKET@node"]);
        let socket = &private.physical_cells[2];
        assert_eq!(socket.leaf_count(), 4);
        let devices: Vec<&str> = socket.leaves().iter().map(|l| l.address.as_str()).collect();
        assert_eq!(devices, ["0", "1", "2", "3"], "device indices kept");
        let vcells = &private.virtual_clusters["product"].virtual_cells;
        assert_eq!(vcells.len(), 2);
        assert_eq!(
            (vcells[0].chain.as_str(), vcells[0].cell_number),
            ("V100-NODE", 2)
        );
        assert_eq!(
            (vcells[1].chain.as_str(), vcells[1].cell_number),
            ("V100-SOCKET@node", 1)
        );
    }

    #[test]
    fn pinned_groups_run_on_their_pinned_cell_in_the_private_cluster() {
        use crate::cell::{GroupMember, GroupRequest};
        use crate::sched::{OfferContext, Scheduler, Verdict};
        use rand::SeedableRng;
        let private = private_cluster(&multi_sku(), "students").unwrap();
        let mut model = sched::Hived::new(&private);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = OfferContext {
            now_ms: 0,
            rng: &mut rng,
        };
        let request = GroupRequest {
            name: "course/default".into(),
            virtual_cluster: "students".into(),
            priority: 10,
            leaf_cell_type: None,
            pinned_cell_id: Some("COURSE-NODE".into()),
            lazy_preemption_enable: false,
            ignore_k8s_suggested_nodes: true,
            members: vec![GroupMember::whole(1, 8)],
        };
        let Verdict::Start(placement) = model.offer(&request, &mut ctx) else {
            panic!("the pinned node is free");
        };
        assert_eq!(placement.pods[0].node, "v100-r2-n4");
    }

    #[test]
    fn unknown_vcs_are_errors_that_list_the_known_ones() {
        let err = private_cluster(&multi_sku(), "nobody").unwrap_err();
        assert!(err.contains("research"), "{err}");
    }

    fn scenario(jobs: &str) -> Scenario {
        let text = format!(
            "name: t\ncluster: {{inline: {}}}\n{jobs}",
            serde_json::to_string(
                &serde_yaml_ng::from_str::<serde_json::Value>(MULTI_SKU).unwrap()
            )
            .unwrap()
        );
        load_str(&text, "t.yaml", Path::new("."), "t").unwrap()
    }

    #[test]
    fn every_model_runs_on_private_clusters() {
        let s = scenario(
            "jobs:
- {id: p8, duration: 10m, request: {vc: product, tasks: [{instances: 2, gpus: 8}]}}
- {id: p4, duration: 10m, request: {vc: product, tasks: [{gpus: 4}]}}
- {id: r32, duration: 10m, request: {vc: research, tasks: [{instances: 4, gpus: 8}]}}
- {id: s4, duration: 10m, request: {vc: students, tasks: [{gpus: 4, skuType: K80}]}}
nodeEvents: [{at: 1m, node: k80-n4, event: down}]
",
        );
        for model in SHARING_MODELS {
            let report = sharing_anomaly(&s, model).unwrap();
            assert_eq!(report.model, model);
            let names: Vec<&str> = report.vcs.iter().map(|v| v.vc.as_str()).collect();
            assert_eq!(names, ["product", "research", "students"]);
            for v in &report.vcs {
                assert_eq!(v.private_started, v.jobs, "{model} {v:?}");
                assert_eq!(v.private_mean_wait_ms, Some(0), "{model} {v:?}");
                assert!(!v.suffers, "{model} {v:?}");
            }
            assert_eq!(report.notes.len(), 1, "{:?}", report.notes);
            let csv = String::from_utf8(crate::report::sharing::sharing_csv(&report)).unwrap();
            assert_eq!(csv.lines().count(), 4, "{csv}");
        }
    }

    #[test]
    fn private_scenarios_keep_only_the_vcs_jobs_and_options() {
        let mut s = scenario(
            "jobs:
- {id: a, duration: 1m, request: {vc: product, tasks: [{gpus: 1}]}}
- {id: b, duration: 1m, request: {vc: research, tasks: [{gpus: 1}]}}
",
        );
        s.model_options
            .yarn_cs
            .vc_max_capacity_percent
            .extend([("product".to_string(), 50), ("research".to_string(), 50)]);
        let p = private_scenario(&s, "product").unwrap();
        assert_eq!(p.jobs.len(), 1);
        assert_eq!(p.jobs[0].id, "a");
        assert_eq!(
            p.model_options
                .yarn_cs
                .vc_max_capacity_percent
                .keys()
                .collect::<Vec<_>>(),
            ["product"]
        );
        assert!(sched::model_with_options("yarn-cs", &p.config, &p.model_options).is_ok());
    }

    #[test]
    fn the_built_in_demo_is_the_file() {
        let built_in = demo_scenario().unwrap();
        let file =
            crate::sim::scenario::load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join(DEMO_PATH))
                .unwrap();
        assert_eq!(built_in.jobs, file.jobs);
        assert_eq!(built_in.config.physical_cells, file.config.physical_cells);
    }

    #[test]
    fn suffering_needs_more_than_the_tolerance() {
        assert_eq!(tolerance_ms(0), 1_000);
        assert_eq!(tolerance_ms(100_000), 5_000);
        assert!(!exceeds(Some(1_000), Some(0)));
        assert!(exceeds(Some(1_001), Some(0)));
        assert!(!exceeds(Some(105_000), Some(100_000)));
        assert!(exceeds(Some(105_001), Some(100_000)));
        assert!(!exceeds(None, Some(0)));
    }
}
