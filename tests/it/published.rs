//! The published scenarios of `scenarios/published/` (issue 15 §3) on the public Philly
//! trace: the Helios setup selects its window and VCs, runs, writes its per-VC table,
//! and keeps every VC on nodes no other VC uses at the same time. Skips without
//! `../shared/`.

use std::collections::BTreeMap;
use std::process::Command;

use cellsim::replay::{NOT_SELECTED_VC, OUTSIDE_WINDOW, options_from_file, prepare};
use cellsim::sim::{SimEvent, run_model};

use crate::common::{root, scratch, shared};

const HELIOS_VCS: [&str; 11] = [
    "6214e9", "7f04ca", "11cb48", "b436b2", "ee9e8c", "e13805", "6c71a0", "2869ce", "ed69ec",
    "103959", "0e4a51",
];

#[test]
fn helios_philly_keeps_its_window_and_vcs_and_isolates_every_vc() {
    if shared("traces/philly/philly.csv").is_none() {
        return;
    }
    let file = root().join("scenarios/published/helios-philly.yaml");
    let options = options_from_file(&file).unwrap();
    let replay = prepare(&options).unwrap();
    let scenario = &replay.scenario;
    // The window and the VC subset left jobs out, and every job kept is of the 11 VCs.
    assert!(replay.ingest.count(OUTSIDE_WINDOW) > 0);
    assert!(replay.ingest.count(NOT_SELECTED_VC) > 0);
    assert!(
        (60_000..75_000).contains(&scenario.jobs.len()),
        "{} jobs",
        scenario.jobs.len()
    );
    let vc_of: BTreeMap<&str, &str> = scenario
        .jobs
        .iter()
        .map(|j| (j.id.as_str(), j.vc.as_str()))
        .collect();
    assert!(vc_of.values().all(|vc| HELIOS_VCS.contains(vc)));
    assert_eq!(scenario.config.virtual_clusters.len(), 11);

    // No node ever holds groups of two VCs at once.
    let result = run_model(scenario, "isolated+fifo").unwrap();
    let mut on_node: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    let mut starts = 0;
    for event in &result.events {
        match event {
            SimEvent::GroupStarted { job, pods, .. } => {
                let vc = vc_of[job.as_str()];
                for pod in pods {
                    let users = on_node.entry(pod.node.as_str()).or_default();
                    assert!(
                        users.iter().all(|(other, &n)| *other == vc || n == 0),
                        "{job} of VC {vc} starts on {} while {users:?} run there",
                        pod.node
                    );
                    *users.entry(vc).or_default() += 1;
                }
                starts += 1;
            }
            SimEvent::GroupFinished { job, pods, .. }
            | SimEvent::GroupPreempted { job, pods, .. }
            | SimEvent::GroupFailed { job, pods, .. } => {
                let vc = vc_of[job.as_str()];
                for pod in pods {
                    *on_node
                        .get_mut(pod.node.as_str())
                        .and_then(|users| users.get_mut(vc))
                        .unwrap() -= 1;
                }
            }
            _ => {}
        }
    }
    assert!(starts >= scenario.jobs.len());

    // The CLI writes the per-VC table: average JCT and queueing delay of each VC.
    let out = scratch("published", "helios");
    let status = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .args(["replay", "--scenario"])
        .arg(&file)
        .args(["--model", "isolated+sjf", "--jobs", "1", "--out"])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let table = std::fs::read_to_string(out.join("isolated+sjf/vcs.csv")).unwrap();
    let header: Vec<&str> = table.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"mean_jct") && header.contains(&"mean_queue_delay"));
    let vcs: Vec<&str> = table
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    let mut expected = HELIOS_VCS.to_vec();
    expected.sort_unstable();
    assert_eq!(vcs, expected);
}

/// The sharing-anomaly scenarios read (on a fresh clone too: only the trace is missing
/// then) and ask for the six models at the trace's load and twice it.
#[test]
fn hived_sharing_anomaly_scenarios_name_six_models_at_two_loads() {
    let models = [
        "yarn-cs+fifo",
        "yarn-cs+srtf",
        "yarn-cs+tiresias",
        "hived+fifo",
        "hived+srtf",
        "hived+tiresias",
    ];
    for (file, load) in [
        ("hived-sharing-anomaly.yaml", None),
        ("hived-sharing-anomaly-2x.yaml", Some(2.0)),
    ] {
        let options = options_from_file(&root().join("scenarios/published").join(file)).unwrap();
        assert_eq!(options.models, models, "{file}");
        assert_eq!(options.load, load, "{file}");
        assert!(options.trace.ends_with("shared/traces/philly/philly.csv"));
    }
}
