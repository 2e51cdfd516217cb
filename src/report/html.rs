//! The HTML report: one self-contained page per scenario showing every model side by side
//! — a per-VC table, the Gantt chart, busy GPUs over time and the wait-time CDF.
//!
//! The page has inline CSS and inline SVGs from [`super::plots`]: it needs no network and
//! no JavaScript. All text from the scenario (job ids, VC and model names) is escaped.
//! [`report_html`] returns the page; [`write_html`] writes it as `report.html`.
//! The per-VC numbers here are computed from the job records for display only; the
//! reference tables are the CSV exports.

use std::fmt::Write as _;
use std::path::Path;

use super::digest::RunDigest;
use super::plots::{escape_xml, gantt_svg_of, utilisation_svg_of, vc_color_hex, wait_cdf_svg_of};
use crate::sim::record::RunResult;

const CSS: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;\
background:#f6f6f6}\
h1{font-size:1.5em;margin:0 0 4px}\
h2{font-size:1.2em;margin:28px 0 8px;border-bottom:1px solid #ccc;padding-bottom:4px}\
h3{font-size:1em;margin:0 0 6px}\
.meta{color:#555;margin:0}\
.models{display:grid;gap:16px}\
.panel{background:#fff;border:1px solid #ddd;border-radius:4px;padding:10px;min-width:0}\
.panel svg{width:100%;height:auto;display:block}\
table{border-collapse:collapse;font-size:0.85em;width:100%}\
th,td{padding:3px 5px;text-align:right;border-bottom:1px solid #eee}\
td{white-space:nowrap}\
th:first-child,td:first-child{text-align:left}\
th{background:#f0f0f0}\
.sw{display:inline-block;width:10px;height:10px;margin-right:6px;border-radius:2px}\
.scroll{overflow-x:auto}\
.empty{color:#777}\
footer{margin-top:28px;color:#888;font-size:0.85em}";

/// Width below which the models stack instead of standing side by side, per model.
const MIN_PANEL_PX: usize = 480;

/// Nearest-rank percentile of sorted values (the one helper, [`super::summary::percentile`]);
/// `None` for none.
fn percentile(sorted: &[u64], pct: u32) -> Option<u64> {
    (!sorted.is_empty()).then(|| super::summary::percentile(sorted, pct))
}

fn mean(values: &[u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let sum: u128 = values.iter().map(|&v| u128::from(v)).sum();
    Some((sum as f64 / values.len() as f64).round() as u64)
}

fn hms_or_dash(ms: Option<u64>) -> String {
    ms.map_or_else(|| "–".to_string(), crate::time::human_duration)
}

fn vc_table(run: &RunDigest) -> String {
    let rows = &run.vcs;
    if rows.is_empty() {
        return "<p class=\"empty\">No VCs and no jobs.</p>".to_string();
    }
    let names = &run.vc_names;
    let mut out = String::from(
        "<div class=\"scroll\"><table><thead><tr><th>VC</th>\
         <th title=\"GPUs guaranteed to the VC\">guar. GPUs</th><th>jobs</th>\
         <th title=\"jobs that started\">started</th><th>mean wait</th><th>p95 wait</th>\
         <th title=\"times a group of the VC's jobs was preempted\">pre&shy;empted</th>\
         <th title=\"submit to first start plus every re-queue period after a preemption or failure\">mean queueing delay</th>\
         <th title=\"waiting time of the VC's jobs by the reason they waited for\">delay by reason</th></tr>\
         </thead><tbody>\n",
    );
    for (vc, row) in rows {
        let color = if names.iter().any(|n| n == vc) {
            vc_color_hex(names, vc)
        } else {
            "#bbbbbb".to_string()
        };
        let _ = writeln!(
            out,
            "<tr><td><span class=\"sw\" style=\"background:{color}\"></span>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape_xml(vc),
            row.guaranteed_gpus
                .map_or_else(|| "–".to_string(), |g| g.to_string()),
            row.jobs,
            row.waits_ms.len(),
            hms_or_dash(mean(&row.waits_ms)),
            hms_or_dash(percentile(&row.waits_ms, 95)),
            row.preemptions,
            hms_or_dash(mean(&row.queue_delays_ms)),
            reasons_text(&row.wait_by_reason_ms),
        );
    }
    out.push_str("</tbody></table></div>");
    out
}

/// The reasons a VC's jobs waited for, largest first, as "quota 1:02:03, shape 4:05";
/// a dash when they never waited.
fn reasons_text(by_reason: &super::summary::WaitByReason) -> String {
    let mut entries: Vec<(&str, u64)> = by_reason
        .entries()
        .into_iter()
        .filter(|(_, ms)| *ms > 0)
        .collect();
    if entries.is_empty() {
        return "–".to_string();
    }
    entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    entries
        .iter()
        .map(|(name, ms)| format!("{} {}", name.replace('_', " "), hms_or_dash(Some(*ms))))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One section: a heading and one panel per model, side by side.
fn section(out: &mut String, title: &str, runs: &[PageRun], panel: impl Fn(&PageRun) -> String) {
    let _ = writeln!(out, "<section>\n<h2>{}</h2>", escape_xml(title));
    let _ = writeln!(
        out,
        "<div class=\"models\" style=\"grid-template-columns:repeat({},minmax(0,1fr))\">",
        runs.len().max(1)
    );
    for run in runs {
        let _ = writeln!(
            out,
            "<div class=\"panel\">\n<h3>{}</h3>\n{}\n</div>",
            escape_xml(&run.digest.model),
            panel(run)
        );
    }
    out.push_str("</div>\n</section>\n");
}

fn join_escaped<'a>(items: impl Iterator<Item = &'a str>) -> String {
    items.map(escape_xml).collect::<Vec<_>>().join(", ")
}

/// A self-contained HTML page comparing `runs` (one per scheduler model) of `scenario`:
/// a header (scenario, models, seed, simulated time), then per section — per-VC table,
/// Gantt chart, busy GPUs, wait-time CDF — one panel per model side by side.
pub fn report_html(scenario: &str, runs: &[RunResult]) -> String {
    report_html_with(scenario, runs, "")
}

/// [`report_html`] with extra, already escaped HTML sections (e.g. the sharing-anomaly
/// table) placed right after the header.
pub fn report_html_with(scenario: &str, runs: &[RunResult], extra_sections: &str) -> String {
    let pages: Vec<PageRun> = runs.iter().map(PageRun::of).collect();
    report_html_of(scenario, &pages, extra_sections)
}

/// The three SVG plots of one run, rendered once for both its files and the HTML page
/// (on a 100-day trace each render costs as much as the simulation's reports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPlots {
    /// `gantt.svg`.
    pub gantt: String,
    /// `utilisation.svg`.
    pub utilisation: String,
    /// `wait_cdf.svg`.
    pub wait_cdf: String,
}

impl RunPlots {
    /// Renders the plots of a run's digest.
    pub fn of(run: &RunDigest) -> RunPlots {
        RunPlots {
            gantt: gantt_svg_of(run),
            utilisation: utilisation_svg_of(run),
            wait_cdf: wait_cdf_svg_of(run),
        }
    }
}

/// One model's column of the page: what it shows of the run and the rendered plots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRun {
    /// The run's digest.
    pub digest: RunDigest,
    /// Its plots.
    pub plots: RunPlots,
}

impl PageRun {
    /// The column of a finished run.
    pub fn of(run: &RunResult) -> PageRun {
        PageRun::of_digest(RunDigest::of(run))
    }

    /// The column of a run's digest (renders its plots).
    pub fn of_digest(digest: RunDigest) -> PageRun {
        let plots = RunPlots::of(&digest);
        PageRun { digest, plots }
    }
}

/// [`report_html_with`] of runs already digested and plotted.
pub fn report_html_of(scenario: &str, runs: &[PageRun], extra_sections: &str) -> String {
    let scenario_e = escape_xml(scenario);
    let stack_px = runs.len().max(1) * MIN_PANEL_PX;
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n\
         <title>cellsim: {scenario_e}</title>\n<style>{CSS}\n\
         @media (max-width:{stack_px}px){{.models{{grid-template-columns:1fr !important}}}}\
         </style>\n</head>\n<body>\n\
         <header>\n<h1>cellsim report: {scenario_e}</h1>\n"
    );
    if runs.is_empty() {
        out.push_str("<p class=\"empty\">No model was run.</p>\n</header>\n");
    } else {
        let mut seeds: Vec<u64> = runs.iter().map(|r| r.digest.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        let seeds = seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let end_ms = runs.iter().map(|r| r.digest.end_ms).max().unwrap_or(0);
        let jobs = runs.iter().map(|r| r.digest.jobs).max().unwrap_or(0);
        let gpus = runs.iter().map(|r| r.digest.total_gpus).max().unwrap_or(0);
        let _ = writeln!(
            out,
            "<p class=\"meta\">Models: {} · seed {seeds} · {jobs} jobs on {gpus} GPUs · \
             simulated until {}</p>",
            join_escaped(runs.iter().map(|r| r.digest.model.as_str())),
            crate::time::human_duration(end_ms),
        );
        let utils: Vec<String> = runs
            .iter()
            .map(|r| {
                let (busy, arrivals) = &r.digest.windows;
                format!(
                    "{} {}, arrival util {}",
                    escape_xml(&r.digest.model),
                    busy.text(),
                    arrivals.text()
                )
            })
            .collect();
        let _ = write!(
            out,
            "<p class=\"meta\">Utilisation: {}.<br><small>{}.</small></p>\n</header>\n",
            utils.join(" · "),
            escape_xml(super::tables::UTIL_NOTE)
        );
        out.push_str(extra_sections);
        section(&mut out, "Per-VC summary", runs, |r| vc_table(&r.digest));
        section(
            &mut out,
            "Gantt chart (one lane per GPU), or occupancy per VC for large runs",
            runs,
            |r| r.plots.gantt.clone(),
        );
        section(&mut out, "Busy GPUs over time", runs, |r| {
            r.plots.utilisation.clone()
        });
        section(&mut out, "Wait-time CDF", runs, |r| {
            r.plots.wait_cdf.clone()
        });
    }
    let _ = write!(
        out,
        "<footer>Generated by cellsim {}. Waits run from submit to first start; p95 is \
         nearest-rank over started jobs.</footer>\n</body>\n</html>\n",
        env!("CARGO_PKG_VERSION")
    );
    out
}

/// Writes [`report_html`] as `report.html` into `dir`, creating it if needed.
pub fn write_html(dir: &Path, scenario: &str, runs: &[RunResult]) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("report.html"), report_html(scenario, runs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::plots::tests::{empty_run, sample_run, sample_run_named};

    #[test]
    fn html_shows_each_model_and_all_three_plots() {
        let runs = [
            sample_run("hived"),
            sample_run("yarn-cs"),
            sample_run("fifo"),
        ];
        let html = report_html("tiny", &runs);
        for model in ["hived", "yarn-cs", "fifo"] {
            assert!(html.contains(&format!("<h3>{model}</h3>")));
            assert!(html.contains(&format!("Gantt: {model}")));
            assert!(html.contains(&format!("Busy GPUs: {model}")));
            assert!(html.contains(&format!("Wait-time CDF: {model}")));
        }
        assert_eq!(html.matches("<svg ").count(), 9);
        assert!(html.contains("seed 7"));
        // Self-contained: nothing to fetch, nothing to run.
        for needle in ["<script", "<link", "src=", "@import"] {
            assert!(!html.contains(needle), "{needle}");
        }
    }

    #[test]
    fn html_escapes_vc_names() {
        let html = report_html("a<b", &[sample_run_named("hived", "<vc&1>")]);
        assert!(!html.contains("<vc&1>"));
        assert!(html.contains("&lt;vc&amp;1&gt;"));
        assert!(html.contains("cellsim report: a&lt;b"));
    }

    #[test]
    fn per_vc_table_counts_jobs_waits_and_preemptions() {
        let html = report_html("tiny", &[sample_run("hived")]);
        // vc1: job-a waited 1 min, job-c 1 min; job-a was preempted once.
        assert!(
            html.contains(
                "vc1</td><td>1</td><td>2</td><td>2</td><td>00:01:00</td><td>00:01:00</td><td>1</td>"
            ),
            "{html}"
        );
        assert!(html.contains(
            "vc2</td><td>1</td><td>1</td><td>1</td><td>00:01:00</td><td>00:01:00</td><td>0</td>"
        ));
    }

    #[test]
    fn html_is_deterministic_and_handles_empty_input() {
        let runs = [sample_run("hived")];
        assert_eq!(report_html("tiny", &runs), report_html("tiny", &runs));
        let none = report_html("nothing", &[]);
        assert!(none.contains("No model was run."));
        let empty = report_html("empty", &[empty_run("fifo")]);
        assert!(empty.contains("no data"));
        assert!(empty.ends_with("</html>\n"));
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let v: Vec<u64> = (1..=20).collect();
        assert_eq!(percentile(&v, 95), Some(19));
        assert_eq!(percentile(&[5], 95), Some(5));
        assert_eq!(percentile(&[], 95), None);
    }
}
