//! The sharing-anomaly results as people and files read them: [`SharingReport`] (per VC,
//! its waits on the shared cluster and alone on its private share), `sharing.csv`, the
//! console table and the report page's section. The experiment that produces them (the
//! private clusters and their runs) is [`crate::run::sharing`]; this module runs nothing.

use std::fmt::Write as _;

use super::Export;
use super::plots::escape_xml;
use super::tables::seconds;
use crate::sim::SimTimeMs;
use crate::time::{human_or_dash, human_signed};

/// Absolute tolerance: a shared wait at most this much (or [`TOLERANCE_PERCENT`] of the
/// private wait, whichever is larger) above the private wait is not an anomaly.
pub const TOLERANCE_MS: SimTimeMs = 1_000;

/// Relative tolerance, in percent of the private wait (see [`TOLERANCE_MS`]).
pub const TOLERANCE_PERCENT: u64 = 5;

/// The tolerance for a private wait: the larger of [`TOLERANCE_MS`] and
/// [`TOLERANCE_PERCENT`] of it.
pub fn tolerance_ms(private_wait_ms: SimTimeMs) -> SimTimeMs {
    TOLERANCE_MS.max(private_wait_ms * TOLERANCE_PERCENT / 100)
}

/// One model's sharing comparison over a scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct SharingReport {
    /// Scenario name.
    pub scenario: String,
    /// Scheduler model.
    pub model: String,
    /// One entry per VC of the cluster config that has jobs, by VC name.
    pub vcs: Vec<VcSharing>,
    /// What the comparison left out (e.g. node events), one sentence each.
    pub notes: Vec<String>,
}

impl SharingReport {
    /// The entry of `vc`, if it has jobs.
    pub fn vc(&self, vc: &str) -> Option<&VcSharing> {
        self.vcs.iter().find(|v| v.vc == vc)
    }

    /// The VCs that suffer from sharing under this model.
    pub fn suffering(&self) -> impl Iterator<Item = &VcSharing> {
        self.vcs.iter().filter(|v| v.suffers)
    }
}

/// One VC's waits on the shared cluster and alone on its private cluster. Waits are over
/// the jobs that started; `None` when none did. Differences are shared minus private
/// (positive: sharing made the VC wait longer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VcSharing {
    /// VC name.
    pub vc: String,
    /// GPUs the VC is guaranteed (= GPUs of its private cluster).
    pub guaranteed_gpus: u32,
    /// The VC's jobs.
    pub jobs: u32,
    /// Of those, jobs that started on the shared cluster.
    pub shared_started: u32,
    /// Of those, jobs that started on the private cluster.
    pub private_started: u32,
    /// Mean wait on the shared cluster.
    pub shared_mean_wait_ms: Option<SimTimeMs>,
    /// Mean wait on the private cluster.
    pub private_mean_wait_ms: Option<SimTimeMs>,
    /// 95th-percentile wait on the shared cluster.
    pub shared_p95_wait_ms: Option<SimTimeMs>,
    /// 95th-percentile wait on the private cluster.
    pub private_p95_wait_ms: Option<SimTimeMs>,
    /// Shared minus private mean wait.
    pub mean_wait_diff_ms: Option<i64>,
    /// Shared minus private p95 wait.
    pub p95_wait_diff_ms: Option<i64>,
    /// The shared mean or p95 wait exceeds the private one by more than
    /// [`tolerance_ms`], or fewer of the VC's jobs started on the shared cluster.
    pub suffers: bool,
}

// ---------------------------------------------------------------------------------------
// Exports.

fn opt_seconds(ms: Option<u64>) -> String {
    ms.map(seconds).unwrap_or_default()
}

fn signed_seconds(ms: Option<i64>) -> String {
    match ms {
        None => String::new(),
        Some(d) if d < 0 => format!("-{}", seconds(d.unsigned_abs())),
        Some(d) => seconds(d.unsigned_abs()),
    }
}

fn opt_clock(ms: Option<u64>) -> String {
    human_or_dash(ms)
}

fn signed_clock(ms: Option<i64>) -> String {
    ms.map_or_else(|| "-".to_string(), human_signed)
}

/// `sharing.csv`: one row per VC; times in seconds with three decimals, differences
/// signed, absent values empty.
pub fn sharing_csv(report: &SharingReport) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    // Writing to a Vec cannot fail.
    w.write_record([
        "model",
        "vc",
        "guaranteed_gpus",
        "jobs",
        "shared_started",
        "private_started",
        "shared_mean_wait",
        "private_mean_wait",
        "mean_wait_diff",
        "shared_p95_wait",
        "private_p95_wait",
        "p95_wait_diff",
        "suffers",
    ])
    .expect("in-memory CSV");
    for v in &report.vcs {
        w.write_record([
            report.model.clone(),
            v.vc.clone(),
            v.guaranteed_gpus.to_string(),
            v.jobs.to_string(),
            v.shared_started.to_string(),
            v.private_started.to_string(),
            opt_seconds(v.shared_mean_wait_ms),
            opt_seconds(v.private_mean_wait_ms),
            signed_seconds(v.mean_wait_diff_ms),
            opt_seconds(v.shared_p95_wait_ms),
            opt_seconds(v.private_p95_wait_ms),
            signed_seconds(v.p95_wait_diff_ms),
            v.suffers.to_string(),
        ])
        .expect("in-memory CSV");
    }
    w.into_inner().expect("in-memory CSV")
}

const COLUMNS: [&str; 11] = [
    "model",
    "vc",
    "GPUs",
    "jobs",
    "shared mean",
    "private mean",
    "diff",
    "shared p95",
    "private p95",
    "diff",
    "suffers",
];

fn rows(reports: &[SharingReport]) -> Vec<[String; 11]> {
    reports
        .iter()
        .flat_map(|r| {
            r.vcs.iter().map(|v| {
                [
                    r.model.clone(),
                    v.vc.clone(),
                    v.guaranteed_gpus.to_string(),
                    v.jobs.to_string(),
                    opt_clock(v.shared_mean_wait_ms),
                    opt_clock(v.private_mean_wait_ms),
                    signed_clock(v.mean_wait_diff_ms),
                    opt_clock(v.shared_p95_wait_ms),
                    opt_clock(v.private_p95_wait_ms),
                    signed_clock(v.p95_wait_diff_ms),
                    if v.suffers { "yes" } else { "no" }.to_string(),
                ]
            })
        })
        .collect()
}

fn explanation() -> String {
    format!(
        "Waits (submit to first start) of each VC's jobs on the shared cluster and \
         alone on a private cluster of its guaranteed cells; diff = shared - private. A VC \
         suffers from sharing when a shared wait exceeds the private one by more than \
         max({} s, {TOLERANCE_PERCENT}%) or fewer of its jobs started.",
        TOLERANCE_MS / 1000
    )
}

/// `sharing.csv` of `report` as an [`Export`], for the model's report folder.
pub fn sharing_export(report: &SharingReport) -> Export {
    Export {
        file_name: "sharing.csv".to_string(),
        bytes: sharing_csv(report),
    }
}

/// A plain-text table of `reports` (one row per model and VC), followed by what the
/// columns mean and any notes.
pub fn sharing_table(reports: &[SharingReport]) -> String {
    let rows = rows(reports);
    let mut widths: Vec<usize> = COLUMNS.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        let text: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 2 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
    };
    line(&COLUMNS);
    for row in &rows {
        line(&row.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let _ = writeln!(out, "{}", explanation());
    for r in reports {
        for note in &r.notes {
            let _ = writeln!(out, "note ({}): {note}", r.model);
        }
    }
    out
}

/// An HTML `<section>` with the table of `reports`, for `report.html` (uses its CSS;
/// every text from the scenario is escaped).
pub fn sharing_html(reports: &[SharingReport]) -> String {
    let mut out = String::from("<section>\n<h2>Sharing anomaly</h2>\n<div class=\"panel\">\n");
    let _ = writeln!(out, "<p class=\"meta\">{}</p>", escape_xml(&explanation()));
    if reports.iter().all(|r| r.vcs.is_empty()) {
        out.push_str("<p class=\"empty\">No VC with jobs.</p>\n");
    } else {
        out.push_str("<div class=\"scroll\"><table><thead><tr>");
        for c in COLUMNS {
            let _ = write!(out, "<th>{}</th>", escape_xml(c));
        }
        out.push_str("</tr></thead><tbody>\n");
        for row in rows(reports) {
            let suffers = row[10] == "yes";
            out.push_str(if suffers {
                "<tr style=\"background:#fde8e8\">"
            } else {
                "<tr>"
            });
            for cell in &row {
                let _ = write!(out, "<td>{}</td>", escape_xml(cell));
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table></div>\n");
    }
    for r in reports {
        for note in &r.notes {
            let _ = writeln!(
                out,
                "<p class=\"meta\">Note ({}): {}</p>",
                escape_xml(&r.model),
                escape_xml(note)
            );
        }
    }
    out.push_str("</div>\n</section>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> SharingReport {
        SharingReport {
            scenario: "s".into(),
            model: "yarn-cs".into(),
            vcs: vec![VcSharing {
                vc: "<b>&".into(),
                guaranteed_gpus: 16,
                jobs: 2,
                shared_started: 2,
                private_started: 2,
                shared_mean_wait_ms: Some(90_000),
                private_mean_wait_ms: Some(0),
                shared_p95_wait_ms: Some(180_000),
                private_p95_wait_ms: Some(0),
                mean_wait_diff_ms: Some(90_000),
                p95_wait_diff_ms: Some(180_000),
                suffers: true,
            }],
            notes: vec!["a <note>".into()],
        }
    }

    #[test]
    fn the_table_shows_waits_differences_and_the_tolerance() {
        let text = sharing_table(&[report()]);
        let row = text.lines().nth(1).unwrap();
        assert!(row.contains("00:01:30"), "{text}");
        assert!(row.contains("+00:03:00"), "{text}");
        assert!(row.ends_with("yes"), "{text}");
        assert!(text.contains("max(1 s, 5%)"), "{text}");
        let csv = String::from_utf8(sharing_csv(&report())).unwrap();
        assert!(
            csv.contains("90.000,0.000,90.000,180.000,0.000,180.000,true"),
            "{csv}"
        );
        assert_eq!(signed_seconds(Some(-1_500)), "-1.500");
    }

    #[test]
    fn the_html_fragment_escapes_scenario_text() {
        let html = sharing_html(&[report()]);
        assert!(html.contains("&lt;b&gt;&amp;"), "{html}");
        assert!(html.contains("a &lt;note&gt;"), "{html}");
        assert!(!html.contains("<b>"), "{html}");
        assert!(html.starts_with("<section>") && html.ends_with("</section>\n"));
    }
}
