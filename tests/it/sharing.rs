//! The sharing anomaly demo (`scenarios/demos/sharing-anomaly.yaml`, issue 3 item 6):
//! under `yarn-cs` the 8-GPU VC waits far longer on the shared cluster than alone on its
//! guaranteed cells (other VCs' 1-GPU jobs fragment every node); under `hived` no VC waits
//! longer than on its private share.

use std::path::PathBuf;

use cellsim::run::sharing::{SharingReport, sharing_anomaly, tolerance_ms};
use cellsim::sim::{Scenario, scenario::load_file};

const MINUTE_MS: u64 = 60_000;

fn demo() -> Scenario {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scenarios/demos/sharing-anomaly.yaml");
    load_file(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn report(model: &str) -> SharingReport {
    sharing_anomaly(&demo(), model).unwrap_or_else(|e| panic!("{model}: {e}"))
}

#[test]
fn yarn_cs_makes_the_8_gpu_vc_wait_longer_than_on_its_private_share() {
    let report = report("yarn-cs");
    let training = report.vc("training").expect("training has jobs");
    assert_eq!(training.jobs, 8);
    assert_eq!(
        (training.shared_started, training.private_started),
        (8, 8),
        "{training:?}"
    );
    let shared = training.shared_mean_wait_ms.unwrap();
    let private = training.private_mean_wait_ms.unwrap();
    assert_eq!(
        private, 0,
        "alone on its 2 nodes, every 8-GPU job starts at once"
    );
    assert!(
        shared >= private + 30 * MINUTE_MS,
        "a clear margin: shared mean wait {shared} ms vs private {private} ms"
    );
    let (shared_p95, private_p95) = (
        training.shared_p95_wait_ms.unwrap(),
        training.private_p95_wait_ms.unwrap(),
    );
    assert!(
        shared_p95 >= private_p95 + 60 * MINUTE_MS,
        "p95: shared {shared_p95} ms vs private {private_p95} ms"
    );
    assert!(training.suffers);
    // The 1-GPU VC borrowed: it waited less than alone, so it does not suffer.
    let notebooks = report.vc("notebooks").expect("notebooks has jobs");
    assert!(!notebooks.suffers, "{notebooks:?}");
    assert!(notebooks.mean_wait_diff_ms.unwrap() < 0, "{notebooks:?}");
    let suffering: Vec<&str> = report.suffering().map(|v| v.vc.as_str()).collect();
    assert_eq!(suffering, ["training"]);
}

#[test]
fn hived_gives_every_vc_at_least_its_private_share() {
    let report = report("hived");
    assert_eq!(report.vcs.len(), 2);
    for vc in &report.vcs {
        assert_eq!(vc.shared_started, vc.private_started, "{vc:?}");
        let (shared, private) = (
            vc.shared_mean_wait_ms.unwrap(),
            vc.private_mean_wait_ms.unwrap(),
        );
        assert!(shared <= private + tolerance_ms(private), "{vc:?}");
        let (shared, private) = (
            vc.shared_p95_wait_ms.unwrap(),
            vc.private_p95_wait_ms.unwrap(),
        );
        assert!(shared <= private + tolerance_ms(private), "{vc:?}");
        assert!(!vc.suffers, "{vc:?}");
    }
    assert!(report.notes.is_empty(), "{:?}", report.notes);
}

#[test]
fn the_sharing_report_is_deterministic() {
    let a = report("yarn-cs");
    let b = report("yarn-cs");
    assert_eq!(a, b);
    assert_eq!(
        cellsim::report::sharing::sharing_csv(&a),
        cellsim::report::sharing::sharing_csv(&b)
    );
}
