//! OpenPAI job protocol v2 files become the right affinity groups: every lab job file and
//! every HiveD feature-test job file (`../shared/`), plus hand-written bad files, one per
//! error the reader reports.

use std::collections::BTreeMap;

use cellsim::cell::request::GroupMember;
use cellsim::config::{CellConfig, CellTypeSpec, SkuSpec, VirtualCellSpec, VirtualClusterSpec};
use cellsim::workload::{JobFileError, JobSpec, read_job_file, read_job_str};

use crate::common::shared;

// ---------------------------------------------------------------------------------------
// Cluster configs, built by hand from the files they mirror.

fn sku(gpu: u32, cpu: f64, memory_mib: u64) -> SkuSpec {
    SkuSpec {
        gpu,
        cpu,
        memory_mib,
    }
}

fn cell_type(child: &str, number: u32, node: bool) -> CellTypeSpec {
    CellTypeSpec {
        child_cell_type: child.into(),
        child_cell_number: number,
        is_node_level: node,
    }
}

fn vc(cells: &[(&str, &str, u32)]) -> VirtualClusterSpec {
    VirtualClusterSpec {
        virtual_cells: cells
            .iter()
            .map(|&(chain, cell_type, cell_number)| VirtualCellSpec {
                chain: chain.into(),
                cell_type: cell_type.into(),
                cell_number,
            })
            .collect(),
        pinned_cells: vec![],
    }
}

/// `hived-examples/feature/hived-config-2.yaml`: K80 and M60 (gpu 1, cpu 4, 8192Mi).
fn hived_config_2() -> CellConfig {
    let mut c = CellConfig {
        source: "hived-config-2 (by hand)".into(),
        ..CellConfig::default()
    };
    for leaf in ["K80", "M60"] {
        c.sku_types.insert(leaf.into(), sku(1, 4.0, 8192));
    }
    c.cell_types = BTreeMap::from([
        ("K80-2GPU".into(), cell_type("K80", 2, false)),
        ("K80-NODE".into(), cell_type("K80-2GPU", 2, true)),
        ("K80-NODE-POOL".into(), cell_type("K80-NODE", 4, false)),
        ("M60-2GPU".into(), cell_type("M60", 2, false)),
        ("M60-NODE".into(), cell_type("M60-2GPU", 2, true)),
        ("M60-NODE-POOL".into(), cell_type("M60-NODE", 1, false)),
    ]);
    c.virtual_clusters = BTreeMap::from([
        (
            "vc1".into(),
            vc(&[
                ("K80-NODE-POOL", "K80-NODE", 1),
                ("M60-NODE-POOL", "M60-NODE", 1),
            ]),
        ),
        ("default".into(), vc(&[("K80-NODE-POOL", "K80-NODE", 2)])),
    ]);
    c
}

/// Lab cluster A (`spec/labs.md`): GPU-C for `default`, GPU-D for `vc1`.
fn lab_cluster_a() -> CellConfig {
    let mut c = CellConfig {
        source: "lab cluster A (by hand)".into(),
        ..CellConfig::default()
    };
    for leaf in ["GPU-C", "GPU-D"] {
        c.sku_types.insert(leaf.into(), sku(1, 2.0, 4096));
    }
    c.cell_types = BTreeMap::from([
        ("GPU-C-NODE".into(), cell_type("GPU-C", 1, true)),
        ("GPU-C-NODE-POOL".into(), cell_type("GPU-C-NODE", 1, false)),
        ("GPU-D-NODE".into(), cell_type("GPU-D", 1, true)),
        ("GPU-D-NODE-POOL".into(), cell_type("GPU-D-NODE", 1, false)),
    ]);
    c.virtual_clusters = BTreeMap::from([
        (
            "default".into(),
            vc(&[("GPU-C-NODE-POOL", "GPU-C-NODE", 1)]),
        ),
        ("vc1".into(), vc(&[("GPU-D-NODE-POOL", "GPU-D-NODE", 1)])),
    ]);
    c
}

/// Lab cluster B: one VC `default` with both 1-GPU machines.
fn lab_cluster_b() -> CellConfig {
    let mut c = CellConfig {
        source: "lab cluster B (by hand)".into(),
        ..CellConfig::default()
    };
    c.sku_types.insert("GPU".into(), sku(1, 2.0, 4096));
    c.cell_types = BTreeMap::from([
        ("GPU-NODE".into(), cell_type("GPU", 1, true)),
        ("GPU-NODE-POOL".into(), cell_type("GPU-NODE", 2, false)),
    ]);
    c.virtual_clusters =
        BTreeMap::from([("default".into(), vc(&[("GPU-NODE-POOL", "GPU-NODE", 2)]))]);
    c
}

// ---------------------------------------------------------------------------------------
// Expectations.

/// One expected group: name, members `(podNumber, leafCellNumber)`, leaf type, pinned id.
struct G {
    name: String,
    members: Vec<(u32, u32)>,
    leaf_type: Option<&'static str>,
    pinned: Option<&'static str>,
}

fn g(name: &str, members: &[(u32, u32)], leaf_type: Option<&'static str>) -> G {
    G {
        name: name.into(),
        members: members.to_vec(),
        leaf_type,
        pinned: None,
    }
}

/// `n` one-pod groups `<job>/<role>-<i>` of `leaves` leaf cells each.
fn per_instance(
    job: &str,
    role: &str,
    n: u32,
    leaves: u32,
    leaf_type: Option<&'static str>,
) -> Vec<G> {
    (0..n)
        .map(|i| g(&format!("{job}/{role}-{i}"), &[(1, leaves)], leaf_type))
        .collect()
}

struct Expect {
    file: String,
    name: String,
    vc: &'static str,
    priority: i32,
    gang: bool,
    lazy: bool,
    groups: Vec<G>,
}

/// Read `expect.file` from `../shared/` and compare everything; false when `../shared/`
/// is absent (the caller stops).
fn check(expect: Expect, config: &CellConfig) -> bool {
    let Some(path) = shared(&expect.file) else {
        return false;
    };
    let f = expect.file.as_str();
    let job = read_job_file(&path, config).unwrap_or_else(|e| panic!("{f}: {e}"));
    assert_eq!(job.name, expect.name, "{f}: name");
    assert_eq!(job.virtual_cluster, expect.vc, "{f}: virtual cluster");
    assert_eq!(job.priority, expect.priority, "{f}: priority");
    assert_eq!(job.gang, expect.gang, "{f}: gang");
    let names: Vec<&str> = job.groups.iter().map(|g| g.name.as_str()).collect();
    let want: Vec<&str> = expect.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, want, "{f}: group names");
    for (got, want) in job.groups.iter().zip(&expect.groups) {
        let n = &want.name;
        let members: Vec<GroupMember> = want
            .members
            .iter()
            .map(|&(pod_number, leaf_cell_number)| GroupMember::whole(pod_number, leaf_cell_number))
            .collect();
        assert_eq!(got.members, members, "{f}: {n}: members");
        assert_eq!(
            got.leaf_cell_type.as_deref(),
            want.leaf_type,
            "{f}: {n}: leaf type"
        );
        assert_eq!(
            got.pinned_cell_id.as_deref(),
            want.pinned,
            "{f}: {n}: pinned cell"
        );
        assert_eq!(
            got.lazy_preemption_enable, expect.lazy,
            "{f}: {n}: lazy preemption"
        );
        assert_eq!(got.virtual_cluster, expect.vc, "{f}: {n}: group VC");
        assert_eq!(got.priority, expect.priority, "{f}: {n}: group priority");
        assert!(
            got.ignore_k8s_suggested_nodes,
            "{f}: {n}: HiveD's default is to ignore suggested nodes"
        );
    }
    assert!(
        job.warnings.is_empty(),
        "{f}: unexpected warnings {:?}",
        job.warnings
    );
    true
}

// ---------------------------------------------------------------------------------------
// The lab job files.

fn lab(n: u32, vc: &'static str, priority: i32) -> Expect {
    let name = format!("job-config-{n}");
    // cpu 2, memory 4096 and 1 GPU are exactly one lab leaf cell; no skuType: any type.
    let groups = vec![g(&format!("{name}/default"), &[(1, 1)], None)];
    Expect {
        file: format!("labs/{name}.yaml"),
        name,
        vc,
        priority,
        gang: true,
        lazy: false,
        groups,
    }
}

#[test]
fn lab_job_files_read_as_in_the_labs() {
    let a = lab_cluster_a();
    for expect in [
        lab(0, "vc1", 100),
        lab(1, "vc1", 10),
        lab(2, "vc1", 100),
        lab(3, "vc1", 100),
        lab(4, "vc1", -1),
    ] {
        if !check(expect, &a) {
            return;
        }
    }
    let b = lab_cluster_b();
    check(lab(5, "default", 100), &b);
    // Lab 4: two tasks of one GPU, all or nothing.
    check(
        Expect {
            groups: vec![g("job-config-6/default", &[(2, 1)], None)],
            ..lab(6, "default", 100)
        },
        &b,
    );
    // Lab 5: gangAllocation false, each task alone.
    check(
        Expect {
            gang: false,
            groups: per_instance("job-config-7", "train", 2, 1, None),
            ..lab(7, "default", 100)
        },
        &b,
    );
}

#[test]
fn lab_gang_job_names_task_and_group() {
    let Some(path) = shared("labs/job-config-7.yaml") else {
        return;
    };
    let job = read_job_file(&path, &lab_cluster_b()).unwrap();
    let task = &job.tasks[0];
    assert_eq!(
        (task.name.as_str(), task.instances, task.leaf_cell_number),
        ("train", 2, 1)
    );
    assert_eq!(task.leaf_cell_type, None);
    assert_eq!(task.affinity_group, None, "incremental: no shared group");
    assert_eq!(
        job.group_of("train", 1).map(|g| g.name.as_str()),
        Some("job-config-7/train-1")
    );
}

// ---------------------------------------------------------------------------------------
// HiveD's feature-test job files (run against hived-config-2's SKUs).

fn feature(file: &str, name: &str, vc: &'static str, priority: i32, groups: Vec<G>) -> Expect {
    Expect {
        file: file.into(),
        name: name.into(),
        vc,
        priority,
        gang: true,
        lazy: false,
        groups,
    }
}

fn gang(job: &str, members: &[(u32, u32)], leaf_type: &'static str) -> Vec<G> {
    vec![g(&format!("{job}/default"), members, Some(leaf_type))]
}

#[test]
fn hived_feature_job_files_read_as_hived_runs_them() {
    let c = hived_config_2();
    let k80 = Some("K80");
    let expects = vec![
        feature(
            "hived-examples/feature/itc-badnode50.yaml",
            "itc-badnode50",
            "vc1",
            100,
            gang("itc-badnode50", &[(1, 1)], "M60"),
        ),
        feature(
            "hived-examples/feature/itc-buddy.yaml",
            "itc-buddy",
            "vc1",
            100,
            gang("itc-buddy", &[(2, 1)], "K80"),
        ),
        // No extras at all: VC `default`, priority test, one gang of both roles. The worker
        // asks 4 GPUs (4 leaves; its 16384 MB would need only 2); the ps 1 GPU, 8192 MB.
        feature(
            "hived-examples/feature/itc-dtf.yaml",
            "hived-distributed-tf",
            "default",
            10,
            vec![g("hived-distributed-tf/default", &[(1, 4), (1, 1)], None)],
        ),
        Expect {
            gang: false,
            ..feature(
                "hived-examples/feature/itc-elastic.yaml",
                "itc-elactic",
                "vc1",
                100,
                per_instance("itc-elactic", "train", 6, 1, k80),
            )
        },
        feature(
            "hived-examples/feature/itc-gang.yaml",
            "itc-gang",
            "vc1",
            100,
            gang("itc-gang", &[(6, 1)], "K80"),
        ),
        feature(
            "hived-examples/feature/itc-gang4.yaml",
            "itc-gang4",
            "vc1",
            100,
            gang("itc-gang4", &[(4, 1)], "K80"),
        ),
        // 4 GPUs, 16 CPUs, 32768 MB: 4 leaves by every measure.
        feature(
            "hived-examples/feature/itc-inter-preempt-oppo.yaml",
            "itc-inter-preempt-oppo",
            "vc1",
            -1,
            gang("itc-inter-preempt-oppo", &[(2, 4)], "K80"),
        ),
        feature(
            "hived-examples/feature/itc-inter-preempt-prod.yaml",
            "itc-inter-preempt-prod",
            "default",
            100,
            gang("itc-inter-preempt-prod", &[(3, 4)], "K80"),
        ),
        feature(
            "hived-examples/feature/itc-intra-imd-preempt-prod.yaml",
            "itc-intra-imd-preempt-prod",
            "vc1",
            100,
            gang("itc-intra-imd-preempt-prod", &[(1, 4)], "M60"),
        ),
        feature(
            "hived-examples/feature/itc-intra-imd-preempt-test.yaml",
            "itc-intra-imd-preempt-test",
            "vc1",
            10,
            gang("itc-intra-imd-preempt-test", &[(1, 4)], "M60"),
        ),
        feature(
            "hived-examples/feature/itc-intra-lazy-preempt-prod.yaml",
            "itc-intra-lazy-preempt-prod",
            "vc1",
            100,
            gang("itc-intra-lazy-preempt-prod", &[(1, 4)], "K80"),
        ),
        feature(
            "hived-examples/feature/itc-intra-lazy-preempt-prod2.yaml",
            "itc-intra-lazy-preempt-prod2",
            "default",
            100,
            gang("itc-intra-lazy-preempt-prod2", &[(3, 4)], "K80"),
        ),
        // Job-level extras.hivedScheduler.lazyPreemptionEnable.
        Expect {
            lazy: true,
            ..feature(
                "hived-examples/feature/itc-intra-lazy-preempt-test.yaml",
                "itc-intra-lazy-preempt-test",
                "vc1",
                10,
                gang("itc-intra-lazy-preempt-test", &[(1, 4)], "K80"),
            )
        },
        Expect {
            gang: false,
            ..feature(
                "hived-examples/feature/itc-k80-type.yaml",
                "itc-k80-type",
                "vc1",
                100,
                per_instance("itc-k80-type", "train", 6, 1, k80),
            )
        },
        // No skuType: any type, sized by vc1's smallest SKU (K80 and M60 are equal).
        Expect {
            gang: false,
            ..feature(
                "hived-examples/feature/itc-no-type.yaml",
                "itc-no-type",
                "vc1",
                100,
                per_instance("itc-no-type", "train", 6, 1, None),
            )
        },
        Expect {
            gang: false,
            ..feature(
                "hived-examples/feature/itc-oppo.yaml",
                "itc-oppo",
                "vc1",
                -1,
                per_instance("itc-oppo", "train", 6, 1, k80),
            )
        },
        // Two affinity groups: one by type, one by pinned cell (cpu 3 still fits one leaf).
        feature(
            "hived-examples/feature/itc-pin.yaml",
            "itc-pin",
            "vc1",
            100,
            vec![
                g("itc-pin/vc1nopinned", &[(4, 1)], k80),
                G {
                    pinned: Some("VC1-K80"),
                    ..g("itc-pin/vc1pinned", &[(4, 1)], None)
                },
            ],
        ),
        feature(
            "hived-examples/feature/itc-reconfig-1.yaml",
            "itc-reconfig-1",
            "vc1",
            10,
            gang("itc-reconfig-1", &[(1, 4)], "M60"),
        ),
        feature(
            "hived-examples/feature/itc-reconfig-2.yaml",
            "itc-reconfig-2",
            "vc1",
            10,
            gang("itc-reconfig-2", &[(2, 4)], "M60"),
        ),
        feature(
            "hived-examples/feature/itc-reconfig-3.yaml",
            "itc-reconfig-3",
            "default",
            10,
            gang("itc-reconfig-3", &[(2, 4)], "K80"),
        ),
        feature(
            "hived-examples/feature/itc-reconfig-4.yaml",
            "itc-reconfig-4",
            "vc1",
            10,
            gang("itc-reconfig-4", &[(4, 4)], "K80"),
        ),
        feature(
            "hived-examples/feature/itc-reconfig-5.yaml",
            "itc-reconfig-5",
            "vc1",
            10,
            gang("itc-reconfig-5", &[(3, 4)], "K80"),
        ),
        feature(
            "hived-examples/feature/itc-safety-1.yaml",
            "itc-safety-1",
            "vc1",
            100,
            gang("itc-safety-1", &[(2, 1)], "K80"),
        ),
        feature(
            "hived-examples/feature/itc-safety-2.yaml",
            "itc-safety-2",
            "vc1",
            100,
            gang("itc-safety-2", &[(2, 1)], "K80"),
        ),
    ];
    // Every itc-*.yaml in the folder is covered, so a new file cannot slip by untested.
    let Some(dir) = shared("hived-examples/feature") else {
        return;
    };
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("itc-") && n.ends_with(".yaml"))
        .collect();
    on_disk.sort();
    let mut covered: Vec<String> = expects
        .iter()
        .map(|e| {
            e.file
                .trim_start_matches("hived-examples/feature/")
                .to_string()
        })
        .collect();
    covered.sort();
    assert_eq!(covered, on_disk);
    for expect in expects {
        if !check(expect, &c) {
            return;
        }
    }
}

#[test]
fn itc_pin_roles_keep_their_own_settings() {
    let Some(path) = shared("hived-examples/feature/itc-pin.yaml") else {
        return;
    };
    let job = read_job_file(&path, &hived_config_2()).unwrap();
    /// Name, leaf type, pinned cell and shared group of one task role.
    type Role<'a> = (&'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);
    let roles: Vec<Role> = job
        .tasks
        .iter()
        .map(|t| {
            (
                t.name.as_str(),
                t.leaf_cell_type.as_deref(),
                t.pinned_cell_id.as_deref(),
                t.affinity_group.as_deref(),
            )
        })
        .collect();
    let expected: Vec<Role> = vec![
        (
            "vc1nopinned",
            Some("K80"),
            None,
            Some("itc-pin/vc1nopinned"),
        ),
        (
            "vc1pinned",
            None,
            Some("VC1-K80"),
            Some("itc-pin/vc1pinned"),
        ),
    ];
    assert_eq!(roles, expected);
}

// ---------------------------------------------------------------------------------------
// Bad files: each error names the file, the YAML path and how to fix it.

const GOOD_ROLE: &str = "taskRoles:\n  train:\n    instances: 1\n    resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192}\n";

fn bad(text: &str) -> JobFileError {
    match read_job_str(text, "bad-job.yaml", &hived_config_2()) {
        Err(e) => e,
        Ok(job) => panic!("expected an error, read {job:?}"),
    }
}

fn with_header(body: &str) -> String {
    format!("protocolVersion: 2\nname: bad\ntype: job\n{body}")
}

/// Assert an `Invalid` error at `yaml_path` whose message names the file and says `fix`.
fn assert_invalid(e: &JobFileError, yaml_path: &str, fix: &str) {
    assert_eq!(e.yaml_path(), Some(yaml_path), "{e}");
    let text = e.to_string();
    assert!(text.starts_with("bad-job.yaml"), "file not named: {text}");
    assert!(text.contains(yaml_path), "path not in message: {text}");
    assert!(text.contains(fix), "no `{fix}` in: {text}");
}

#[test]
fn malformed_yaml_reports_line_and_column() {
    let e = bad("protocolVersion: 2\nname: bad\ntaskRoles:\n  train: [1, 2\n");
    match &e {
        JobFileError::Syntax {
            file,
            location: Some(loc),
            ..
        } => {
            assert_eq!(file, "bad-job.yaml");
            assert!(loc.line >= 4, "{e}");
        }
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert!(e.to_string().starts_with("bad-job.yaml:"), "{e}");
}

#[test]
fn wrong_type_reports_path_line_and_expected_type() {
    let e = bad(&with_header(
        "taskRoles:\n  train:\n    instances: many\n    resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192}\n",
    ));
    assert_invalid(&e, "taskRoles.train.instances", "whole number >= 1");
    assert!(e.to_string().starts_with("bad-job.yaml:6:"), "{e}");

    let e = bad(&with_header(&format!(
        "{GOOD_ROLE}extras: {{gangAllocation: sometimes}}\n"
    )));
    assert_invalid(&e, "extras.gangAllocation", "true or false");
}

#[test]
fn missing_task_roles_is_an_error() {
    assert_invalid(
        &bad(&with_header("defaults: {virtualCluster: vc1}\n")),
        "taskRoles",
        "add `taskRoles:`",
    );
    assert_invalid(
        &bad(&with_header("taskRoles: {}\n")),
        "taskRoles",
        "add `taskRoles:`",
    );
}

#[test]
fn fewer_than_one_instance_is_an_error() {
    let e = bad(&with_header(
        "taskRoles:\n  train:\n    instances: 0\n    resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192}\n",
    ));
    assert_invalid(&e, "taskRoles.train.instances", "at least 1 instance");
}

#[test]
fn unknown_sku_type_lists_the_known_ones() {
    let e = bad(&with_header(&format!(
        "{GOOD_ROLE}extras: {{hivedScheduler: {{taskRoles: {{train: {{skuType: V100}}}}}}}}\n"
    )));
    assert_invalid(
        &e,
        "extras.hivedScheduler.taskRoles.train.skuType",
        "K80, M60",
    );
    assert!(e.to_string().contains("V100"), "{e}");
}

#[test]
fn unknown_priority_class_lists_the_valid_ones() {
    let e = bad(&with_header(&format!(
        "{GOOD_ROLE}extras: {{hivedScheduler: {{jobPriorityClass: high}}}}\n"
    )));
    assert_invalid(
        &e,
        "extras.hivedScheduler.jobPriorityClass",
        "crit (120), prod (100), test (10), oppo (-1)",
    );
}

#[test]
fn roles_of_one_affinity_group_must_agree_on_sku_type() {
    let body = "taskRoles:\n  ps: {instances: 1, resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192}}\n  worker: {instances: 2, resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192}}\nextras:\n  hivedScheduler:\n    taskRoles:\n      ps: {skuType: K80, affinityGroupName: g}\n      worker: {skuType: M60, affinityGroupName: g}\n";
    let e = bad(&with_header(body));
    assert_invalid(
        &e,
        "extras.hivedScheduler.taskRoles.worker.skuType",
        "the same skuType",
    );
    let text = e.to_string();
    assert!(
        text.contains("`ps`") && text.contains("`worker`"),
        "both roles must be named: {text}"
    );
}

#[test]
fn roles_of_the_default_gang_must_agree_on_pinned_cell() {
    let body = "taskRoles:\n  a: {resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192}}\n  b: {resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192}}\nextras: {hivedScheduler: {taskRoles: {b: {pinnedCellId: VC1-K80}}}}\n";
    let e = bad(&with_header(body));
    assert_invalid(
        &e,
        "extras.hivedScheduler.taskRoles.b.pinnedCellId",
        "affinityGroupName",
    );
}

#[test]
fn sku_type_and_pinned_cell_together_is_an_error() {
    let e = bad(&with_header(&format!(
        "{GOOD_ROLE}extras: {{hivedScheduler: {{taskRoles: {{train: {{skuType: K80, pinnedCellId: VC1-K80}}}}}}}}\n"
    )));
    assert_invalid(&e, "extras.hivedScheduler.taskRoles.train", "keep only one");
}

#[test]
fn hived_settings_for_a_missing_task_role_are_an_error() {
    let e = bad(&with_header(&format!(
        "{GOOD_ROLE}extras: {{hivedScheduler: {{taskRoles: {{trian: {{skuType: K80}}}}}}}}\n"
    )));
    assert_invalid(&e, "extras.hivedScheduler.taskRoles.trian", "train");
}

#[test]
fn missing_resources_and_header_keys_are_errors() {
    assert_invalid(
        &bad(&with_header("taskRoles:\n  train: {instances: 1}\n")),
        "taskRoles.train.resourcePerInstance",
        "add `resourcePerInstance",
    );
    assert_invalid(
        &bad(&with_header(
            "taskRoles:\n  train: {resourcePerInstance: {gpu: 1, memoryMB: 1}}\n",
        )),
        "taskRoles.train.resourcePerInstance.cpu",
        "add `cpu",
    );
    assert_invalid(
        &bad(&format!("name: bad\ntype: job\n{GOOD_ROLE}")),
        "protocolVersion",
        "protocolVersion: 2",
    );
    assert_invalid(
        &bad(&format!(
            "protocolVersion: 1\nname: bad\ntype: job\n{GOOD_ROLE}"
        )),
        "protocolVersion",
        "protocolVersion: 2",
    );
    assert_invalid(
        &bad(&format!("protocolVersion: 2\ntype: job\n{GOOD_ROLE}")),
        "name",
        "add `name",
    );
    assert_invalid(
        &bad(&format!(
            "protocolVersion: 2\nname: a/b\ntype: job\n{GOOD_ROLE}"
        )),
        "name",
        "letters, digits",
    );
}

#[test]
fn missing_file_names_the_path() {
    let path = std::path::Path::new("/nonexistent/cellsim/job.yaml");
    let e = read_job_file(path, &hived_config_2()).unwrap_err();
    assert!(matches!(e, JobFileError::Read { .. }), "{e:?}");
    assert!(
        e.to_string().contains("/nonexistent/cellsim/job.yaml"),
        "{e}"
    );
}

#[test]
fn keys_that_do_not_affect_scheduling_are_ignored() {
    let text = with_header(
        "parameters: {x: 1}\nsecrets: {s: t}\ndeployments: [{name: d, taskRoles: {train: {preCommands: [ls]}}}]\ntaskRoles:\n  train:\n    instances: 1\n    dockerImage: img\n    commands: [python x.py]\n    completion: {minFailedInstances: 1}\n    resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192, ports: {http: 1}}\nextras: {com.microsoft.pai.runtimeplugin: [{plugin: ssh}]}\n",
    );
    let job: JobSpec = read_job_str(&text, "ok.yaml", &hived_config_2()).unwrap();
    assert_eq!(job.groups.len(), 1);
    assert!(job.warnings.is_empty(), "{:?}", job.warnings);
}
