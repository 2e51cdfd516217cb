//! The README's main command: `cellsim` with no arguments runs the five labs and the
//! sharing-anomaly demo from any folder (everything it needs is compiled in) and says
//! where the reports are.

use std::process::Command;

#[test]
fn no_arguments_runs_the_labs_and_the_sharing_demo_and_names_the_reports() {
    let dir = std::env::temp_dir().join(format!("cellsim-main-job-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .current_dir(&dir)
        .output()
        .expect("cellsim runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "exit {:?}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    for lab in [
        "vc-safety",
        "priority",
        "opportunistic",
        "gang",
        "incremental",
    ] {
        let report = dir.join("out/labs").join(lab).join("report.html");
        assert!(report.is_file(), "missing {}", report.display());
    }
    let demo = dir.join("out/sharing-anomaly/report.html");
    assert!(demo.is_file(), "missing {}", demo.display());
    let html = std::fs::read_to_string(&demo).unwrap();
    assert!(
        html.contains("hived") && html.contains("yarn-cs"),
        "both models in the demo report"
    );
    // The answers are computed: lab 1's names the machine the vc1 jobs ran on.
    assert!(
        stdout.contains("All 3 vc1 jobs ran on hostname-dan"),
        "{stdout}"
    );
    // The sharing table shows yarn-cs's training VC suffering and hived's not.
    let suffering: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_end().ends_with("yes"))
        .collect();
    assert_eq!(suffering.len(), 1, "{stdout}");
    assert!(
        suffering[0].starts_with("yarn-cs") && suffering[0].contains("training"),
        "{stdout}"
    );
    assert!(
        stdout.contains("out/sharing-anomaly/report.html"),
        "says where the report is"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
