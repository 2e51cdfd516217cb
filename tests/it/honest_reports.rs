//! Utilisation, time and plots that mean what they say (issue 16, sections 3 and 4):
//! utilisation over a stated window, numeric submit times shifted on request, `d`
//! durations, one duration format in tables and lab answers, and plots that stay
//! readable at trace scale (an occupancy map instead of an unreadable Gantt, a colour per
//! VC, day ticks, a log wait axis with the zero-wait share, a capacity line that follows
//! node events, a page of bounded size for full Philly).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output};

use crate::common::{root, scratch, shared};

fn cellsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cellsim"))
        .current_dir(root())
        .args(args)
        .output()
        .unwrap()
}

/// Runs cellsim and insists it succeeds; returns stdout.
fn ok(args: &[&str]) -> String {
    let out = cellsim(args);
    assert!(
        out.status.success(),
        "cellsim {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Two 8-GPU one-hour jobs back to back, the first submitted on day 22.
fn late_trace(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("late.csv");
    std::fs::write(
        &path,
        "id,submit_s,duration_s,gpus,vc\na,1900800,3600,8,vc1\nb,1904400,3600,8,vc1\n",
    )
    .unwrap();
    path
}

// See: issue 16 (a trace whose first job comes on day 22 reported a fraction of its use).
#[test]
fn utilisation_is_measured_from_the_first_submit_and_the_window_is_said() {
    let dir = scratch("honest-reports", "late");
    let trace = late_trace(&dir);
    let out = dir.join("out");
    let stdout = ok(&[
        "replay",
        "--cluster",
        "1x V100x8",
        "--trace",
        s(&trace),
        "--model",
        "fifo",
        "--out",
        s(&out),
    ]);
    let row = stdout.lines().find(|l| l.starts_with("fifo")).unwrap();
    assert!(row.contains("100.0%"), "{stdout}");
    assert!(row.contains("22d 00:00:00 - 22d 02:00:00"), "{stdout}");
    assert!(
        stdout.contains("from the first submit to the last job's end"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("fifo/summary.json")).unwrap()).unwrap();
    assert_eq!(summary["utilisation"], 1.0);
    assert_eq!(summary["busyWindow"]["fromMs"], 1_900_800_000u64);
    assert_eq!(summary["busyWindow"]["toMs"], 1_908_000_000u64);
    // Arrivals: from the first submit to the last, one hour of one busy node.
    assert_eq!(summary["arrivalWindow"]["toMs"], 1_904_400_000u64);
    assert_eq!(summary["arrivalWindow"]["utilisation"], 1.0);
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(page.contains("fifo 100.0% (from 22d 00:00:00 to 22d 02:00:00)"));
}

// See: issue 16 (numeric submit times could not be moved to start at 0).
#[test]
fn shift_submit_starts_numeric_times_at_zero() {
    let dir = scratch("honest-reports", "shift");
    let trace = late_trace(&dir);
    let out = dir.join("out");
    ok(&[
        "replay",
        "--cluster",
        "1x V100x8",
        "--trace",
        s(&trace),
        "--model",
        "fifo",
        "--shift-submit",
        "--out",
        s(&out),
    ]);
    let jobs = std::fs::read_to_string(out.join("fifo/jobs.csv")).unwrap();
    let submits: Vec<&str> = jobs
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(4).unwrap())
        .collect();
    assert_eq!(submits, ["0.000", "3600.000"]);
}

// See: issue 16 (`--horizon 30d`, the example of `replay --help`, was refused).
#[test]
fn a_horizon_in_days_is_accepted() {
    let dir = scratch("honest-reports", "horizon");
    ok(&[
        "replay",
        "--cluster",
        "8x V100x8 rack=4; 16x K80x2",
        "--trace",
        "traces/example.csv",
        "--model",
        "fifo",
        "--horizon",
        "30d",
        "--summary-only",
        "--out",
        s(&dir),
    ]);
}

// See: issue 16 (tables read `00:00:00` and `2376:00:00`, lab answers `13:00`).
#[test]
fn durations_read_one_way_in_tables_and_lab_answers() {
    let dir = scratch("honest-reports", "durations");
    let stdout = ok(&[
        "run",
        "scenarios/example.yaml",
        "--out",
        s(&dir.join("run")),
    ]);
    let hived = stdout.lines().find(|l| l.starts_with("hived ")).unwrap();
    assert!(hived.contains(" 0s "), "{stdout}");
    assert!(hived.contains("00:09:00"), "{stdout}");
    assert!(!stdout.contains("00:00:00 "), "{stdout}");
    let lab = ok(&["lab", "priority", "--out", s(&dir.join("labs"))]);
    assert!(lab.contains("finished at 00:07:00"), "{lab}");
    assert!(!lab.contains(" 7:00"), "{lab}");
}

/// A trace of 4,000 jobs over ten days in 16 VCs (more than the 10 colours there were).
fn big_trace(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("id,submit_s,duration_s,gpus,vc\n");
    for i in 0..4_000u64 {
        let duration = 3_600 + (i * 7_919) % 20_000;
        let gpus = 1 << (i % 4);
        text.push_str(&format!(
            "j{i},{},{duration},{gpus},vc{:02}\n",
            i * 216,
            i % 16
        ));
    }
    let path = dir.join("big.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// The distinct fill colours of the SVG's polygons (the stacked areas).
fn polygon_fills(svg: &str) -> BTreeSet<String> {
    svg.split("<polygon")
        .skip(1)
        .filter_map(|p| p.split("fill=\"").nth(1))
        .map(|f| f[..7].to_string())
        .collect()
}

// See: issue 16 (15 VCs shared 10 colours, the Gantt showed 3,000 runs on a full-length
// axis, axes read hours past 24, the wait CDF was squeezed into its left edge).
#[test]
fn plots_stay_readable_at_trace_scale() {
    let dir = scratch("honest-reports", "scale");
    let trace = big_trace(&dir);
    let out = dir.join("out");
    ok(&[
        "replay",
        "--cluster",
        "40x V100x8 rack=8",
        "--trace",
        s(&trace),
        "--model",
        "fifo",
        "--out",
        s(&out),
    ]);
    let gantt = std::fs::read_to_string(out.join("fifo/gantt.svg")).unwrap();
    assert!(gantt.contains("Occupancy: fifo"), "no occupancy map");
    assert!(gantt.contains("whole cluster"));
    let busy = std::fs::read_to_string(out.join("fifo/utilisation.svg")).unwrap();
    assert_eq!(polygon_fills(&busy).len(), 16, "one colour per VC");
    assert!(
        busy.contains("\n2d\n") || busy.contains(">2d<"),
        "day ticks"
    );
    assert!(!busy.contains("48:00:00"), "hours past 24");
    let cdf = std::fs::read_to_string(out.join("fifo/wait_cdf.svg")).unwrap();
    assert!(cdf.contains("log scale"));
    assert!(cdf.contains("% no wait)"));
    assert!(cdf.contains("did not wait)"));
}

// See: issue 16 (the capacity line ignored removed nodes).
#[test]
fn the_capacity_line_follows_node_events() {
    let dir = scratch("honest-reports", "capacity");
    ok(&["run", "scenarios/example.yaml", "--out", s(&dir)]);
    let busy = std::fs::read_to_string(dir.join("hived/utilisation.svg")).unwrap();
    assert!(
        busy.contains("GPUs present (up to 2; follows node events)"),
        "{busy}"
    );
}

// See: issue 16 (keep the page under a few MB at full Philly).
#[test]
fn the_full_philly_page_stays_small() {
    let Some(philly) = shared("traces/philly") else {
        return;
    };
    let dir = scratch("honest-reports", "philly");
    ok(&[
        "replay",
        "--cluster",
        s(&philly.join("cluster_machine_list")),
        "--trace",
        s(&philly.join("philly.csv")),
        "--out",
        s(&dir),
    ]);
    let page = std::fs::metadata(dir.join("report.html")).unwrap().len();
    assert!(page < 4_000_000, "report.html is {page} bytes");
    let html = std::fs::read_to_string(dir.join("report.html")).unwrap();
    assert!(html.contains("Occupancy: hived"));
    let _ = std::fs::remove_dir_all(&dir);
}
