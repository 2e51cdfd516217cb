//! `fill`'s outputs as bytes: `curve.csv` (every run's points), `table.csv` (per
//! placement, mean and standard deviation over seeds at 100% of arrived demand and at
//! the final point), `unallocated.svg` (unallocated GPU % against arrived %, median over
//! seeds, one line per placement, as the paper's Figure 7) and `index.html`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use plotters::prelude::*;

use super::run::FillRun;

/// One placement's row of `table.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct TableRow {
    /// The placement.
    pub placement: String,
    /// Seeds run.
    pub seeds: usize,
    /// Allocated % at 100% arrived: mean and sample standard deviation over seeds.
    pub at_100: (f64, f64),
    /// Arrived % of the final point (mean over seeds).
    pub final_arrived: f64,
    /// Allocated % at the final point: mean and standard deviation.
    pub at_final: (f64, f64),
    /// Fragmented % at the final point (mean).
    pub frag_final: f64,
    /// Unplaced pods (mean).
    pub unplaced: f64,
}

impl TableRow {
    /// The row's numbers as every output prints them (the precision is the table's, the
    /// layout each output's own): placement, seeds, allocated at 100% mean and sd, final
    /// arrived %, allocated at final mean and sd, fragmented at final %, unplaced pods.
    fn cells(&self) -> [String; 9] {
        [
            self.placement.clone(),
            self.seeds.to_string(),
            format!("{:.2}", self.at_100.0),
            format!("{:.2}", self.at_100.1),
            format!("{:.1}", self.final_arrived),
            format!("{:.2}", self.at_final.0),
            format!("{:.2}", self.at_final.1),
            format!("{:.2}", self.frag_final),
            format!("{:.1}", self.unplaced),
        ]
    }
}

/// Mean and sample standard deviation (0 for one value).
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    if values.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n;
    if values.len() < 2 {
        return (mean, 0.0);
    }
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

/// The table, one row per placement in the order first run.
pub fn table(runs: &[FillRun]) -> Vec<TableRow> {
    let mut order: Vec<&str> = Vec::new();
    for r in runs {
        if !order.contains(&r.placement.as_str()) {
            order.push(&r.placement);
        }
    }
    order
        .into_iter()
        .map(|placement| {
            let mine: Vec<&FillRun> = runs.iter().filter(|r| r.placement == placement).collect();
            let at = |p: u32| -> Vec<f64> {
                mine.iter()
                    .filter_map(|r| r.curve.iter().find(|c| c.arrived_pct == p))
                    .map(|c| c.allocated_pct)
                    .collect()
            };
            let last: Vec<_> = mine.iter().filter_map(|r| r.curve.last()).collect();
            let finals: Vec<f64> = last.iter().map(|c| c.allocated_pct).collect();
            TableRow {
                placement: placement.to_string(),
                seeds: mine.len(),
                at_100: mean_std(&at(100)),
                final_arrived: mean_std(
                    &last
                        .iter()
                        .map(|c| f64::from(c.arrived_pct))
                        .collect::<Vec<_>>(),
                )
                .0,
                at_final: mean_std(&finals),
                frag_final: mean_std(&last.iter().map(|c| c.fragmented_pct).collect::<Vec<_>>()).0,
                unplaced: mean_std(&mine.iter().map(|r| r.unplaced as f64).collect::<Vec<_>>()).0,
            }
        })
        .collect()
}

/// `curve.csv`.
pub fn curve_csv(runs: &[FillRun]) -> Vec<u8> {
    let mut out = String::from("placement,seed,arrived_pct,allocated_pct,fragmented_pct\n");
    for r in runs {
        for c in &r.curve {
            let _ = writeln!(
                out,
                "{},{},{},{:.2},{:.2}",
                r.placement, r.seed, c.arrived_pct, c.allocated_pct, c.fragmented_pct
            );
        }
    }
    out.into_bytes()
}

/// `table.csv`.
pub fn table_csv(rows: &[TableRow]) -> Vec<u8> {
    let mut out = String::from(
        "placement,seeds,allocated_at_100_mean,allocated_at_100_std,final_arrived_pct,allocated_final_mean,allocated_final_std,fragmented_final_mean,unplaced_pods_mean\n",
    );
    for r in rows {
        out.push_str(&r.cells().join(","));
        out.push('\n');
    }
    out.into_bytes()
}

/// The table as aligned text for the terminal.
pub fn table_text(rows: &[TableRow]) -> String {
    let mut out = format!(
        "{:<15} {:>5} {:>16} {:>8} {:>16} {:>8}\n",
        "placement", "seeds", "alloc@100% (sd)", "final %", "alloc@final (sd)", "frag %"
    );
    for r in rows {
        let [
            placement,
            seeds,
            at_100,
            at_100_sd,
            arrived,
            at_final,
            at_final_sd,
            frag,
            _,
        ] = r.cells();
        let _ = writeln!(
            out,
            "{placement:<15} {seeds:>5} {at_100:>9} ({at_100_sd}) {arrived:>8} {at_final:>9} ({at_final_sd}) {frag:>8}"
        );
    }
    out
}

/// Median of a non-empty list.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

const PALETTE: [RGBColor; 7] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

/// The unallocated-GPU plot as an SVG document.
pub fn unallocated_svg(title: &str, runs: &[FillRun]) -> String {
    // placement -> arrived % -> allocated % per seed
    let mut series: Vec<(String, BTreeMap<u32, Vec<f64>>)> = Vec::new();
    for r in runs {
        let k = match series.iter().position(|(p, _)| *p == r.placement) {
            Some(k) => k,
            None => {
                series.push((r.placement.clone(), BTreeMap::new()));
                series.len() - 1
            }
        };
        for c in &r.curve {
            series[k]
                .1
                .entry(c.arrived_pct)
                .or_default()
                .push(c.allocated_pct);
        }
    }
    let lines: Vec<(String, Vec<(f64, f64)>)> = series
        .into_iter()
        .map(|(p, points)| {
            let line = points
                .into_iter()
                .map(|(x, seeds)| (f64::from(x), 100.0 - median(seeds)))
                .collect();
            (p, line)
        })
        .collect();
    let x_hi = lines
        .iter()
        .flat_map(|(_, l)| l.iter().map(|p| p.0))
        .fold(100.0, f64::max);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        if draw(&root, title, &lines, x_hi).is_err() {
            // Drawing into a String cannot fail for I/O; on a plotters limit the caller
            // still gets a valid, empty SVG.
            let _ = root.fill(&WHITE);
        }
        let _ = root.present();
    }
    svg
}

fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    title: &str,
    lines: &[(String, Vec<(f64, f64)>)],
    x_hi: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(0.0..x_hi, 0.0..100.0)?;
    chart
        .configure_mesh()
        .light_line_style(TRANSPARENT)
        .x_desc("arrived GPU demand (% of capacity)")
        .y_desc("unallocated GPUs (% of capacity, median over seeds)")
        .label_style(("sans-serif", 11))
        .draw()?;
    for (i, (name, line)) in lines.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        chart
            .draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 12))
        .position(SeriesLabelPosition::UpperRight)
        .draw()?;
    Ok(())
}

/// Escapes text for HTML.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// `index.html`: what was run, the table and the plot.
pub fn index_html(description: &str, rows: &[TableRow]) -> Vec<u8> {
    let mut out = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>cellsim fill</title>\n<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}</style></head><body>\n<h1>cellsim fill</h1>\n",
    );
    let _ = writeln!(out, "<p>{}</p>", escape(description));
    out.push_str("<table><tr><th>placement</th><th>seeds</th><th>allocated at 100% (mean &plusmn; sd)</th><th>final arrived %</th><th>allocated at final (mean &plusmn; sd)</th><th>fragmented at final %</th><th>unplaced pods</th></tr>\n");
    for r in rows {
        let [
            placement,
            seeds,
            at_100,
            at_100_sd,
            arrived,
            at_final,
            at_final_sd,
            frag,
            unplaced,
        ] = r.cells();
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{seeds}</td><td>{at_100} &plusmn; {at_100_sd}</td><td>{arrived}</td><td>{at_final} &plusmn; {at_final_sd}</td><td>{frag}</td><td>{unplaced}</td></tr>",
            escape(&placement),
        );
    }
    out.push_str("</table>\n<p><img src=\"unallocated.svg\" alt=\"unallocated GPU % against arrived %\"></p>\n<p>Data: <a href=\"curve.csv\">curve.csv</a>, <a href=\"table.csv\">table.csv</a>.</p>\n</body></html>\n");
    out.into_bytes()
}
