//! The sweep's plot: p95 wait against the axis that varies (nodes added, else the VC
//! share, else the load), one panel per VC plus one for all jobs, one line per model
//! (and per value of any other varying axis) through the mean over seeds, with a bar
//! from the lowest to the highest seed's value. SVG via plotters, no network needed.

use std::collections::BTreeMap;

use plotters::prelude::*;

use super::results::PointResult;
use crate::report::plots::PALETTE;

/// File name of the plot in a sweep's folder.
pub const P95_PLOT: &str = "p95-wait.svg";

const PANEL_W: u32 = 460;
const PANEL_H: u32 = 300;
const COLUMNS: usize = 3;
/// Height of the title row; one legend row of [`LEGEND_ROW_H`] follows per row of series.
const HEADER_H: u32 = 40;
const LEGEND_ROW_H: u32 = 20;
const FONT: &str = "sans-serif";
const ALL_JOBS: &str = "(all jobs)";

/// Which numeric axis is on x.
#[derive(Clone, Copy, PartialEq, Eq)]
enum XAxis {
    Nodes,
    Share,
    Kueue,
    Load,
}

impl XAxis {
    fn value(self, r: &PointResult) -> f64 {
        match self {
            XAxis::Nodes => r.point.nodes_added as f64,
            XAxis::Share => r.point.vc_share.unwrap_or(0.0),
            XAxis::Kueue => r.point.kueue_quota.unwrap_or(0) as f64,
            XAxis::Load => r.point.load,
        }
    }

    /// A tick label: whole numbers of nodes without decimals.
    fn tick(self, v: f64) -> String {
        match self {
            XAxis::Nodes if v.fract() == 0.0 => format!("{v:+}"),
            _ => format!("{v}"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            XAxis::Nodes => "nodes added",
            XAxis::Share => "VC share of the GPUs",
            XAxis::Kueue => "Kueue quota (GPUs)",
            XAxis::Load => "load factor",
        }
    }
}

/// One line: values per x, each the p95 waits of the seeds (ms).
type Series = BTreeMap<u64, Vec<u64>>;

/// The p95-wait plot of `results` (any order) as an SVG document.
pub fn p95_wait_svg(name: &str, results: &[PointResult]) -> String {
    let distinct = |f: &dyn Fn(&PointResult) -> u64| {
        let mut values: Vec<u64> = results.iter().map(f).collect();
        values.sort_unstable();
        values.dedup();
        values.len()
    };
    let nodes_vary = distinct(&|r| r.point.nodes_added as u64) > 1;
    let share_vary = distinct(&|r| r.point.vc_share.unwrap_or(0.0).to_bits()) > 1;
    let kueue_vary = distinct(&|r| r.point.kueue_quota.unwrap_or(0)) > 1;
    let load_vary = distinct(&|r| r.point.load.to_bits()) > 1;
    let x = if nodes_vary {
        XAxis::Nodes
    } else if share_vary {
        XAxis::Share
    } else if kueue_vary {
        XAxis::Kueue
    } else if load_vary {
        XAxis::Load
    } else {
        XAxis::Nodes
    };
    // Series are named by model and the other axes that vary.
    let series_name = |r: &PointResult| {
        let mut label = r.point.model.clone();
        if share_vary && x != XAxis::Share {
            label.push_str(&format!(" share={}", r.point.vc_share.unwrap_or(0.0)));
        }
        if kueue_vary && x != XAxis::Kueue {
            label.push_str(&format!(" kueue={}", r.point.kueue_quota.unwrap_or(0)));
        }
        if load_vary && x != XAxis::Load {
            label.push_str(&format!(" load={}", r.point.load));
        }
        label
    };
    // panel -> series -> x (as bits, ordered by value below) -> p95 per seed
    let mut panels: BTreeMap<String, BTreeMap<String, Series>> = BTreeMap::new();
    let mut series_order: Vec<String> = Vec::new();
    for r in results {
        let series = series_name(r);
        if !series_order.contains(&series) {
            series_order.push(series.clone());
        }
        let xv = ordered_bits(x.value(r));
        let mut add = |panel: &str, p95: Option<u64>| {
            if let Some(p95) = p95 {
                panels
                    .entry(panel.to_string())
                    .or_default()
                    .entry(series.clone())
                    .or_default()
                    .entry(xv)
                    .or_default()
                    .push(p95);
            }
        };
        add(ALL_JOBS, r.summary.overall.wait_ms.map(|w| w.p95));
        for (vc, metrics) in &r.summary.vcs {
            add(vc, metrics.jobs.wait_ms.map(|w| w.p95));
        }
    }
    let mut names: Vec<String> = panels.keys().filter(|k| *k != ALL_JOBS).cloned().collect();
    if panels.contains_key(ALL_JOBS) {
        names.insert(0, ALL_JOBS.to_string());
    }
    let rows = names.len().div_ceil(COLUMNS).max(1);
    let columns = names.len().clamp(1, COLUMNS);
    let width = PANEL_W * columns as u32;
    let (_, legend_rows) = legend_layout(&series_order, width);
    let height = HEADER_H + legend_rows * LEGEND_ROW_H + PANEL_H * rows as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height)).into_drawing_area();
        let drawn = draw(
            &root,
            name,
            x,
            &names,
            &panels,
            &series_order,
            rows,
            columns,
        );
        if drawn.is_err() {
            // Drawing into a String cannot fail for I/O; an error means a plotters limit
            // (e.g. a degenerate range): the caller still gets a valid, empty SVG.
            let _ = root.fill(&WHITE);
        }
        let _ = root.present();
    }
    svg
}

#[allow(clippy::too_many_arguments)]
fn draw(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    name: &str,
    x: XAxis,
    names: &[String],
    panels: &BTreeMap<String, BTreeMap<String, Series>>,
    series_order: &[String],
    rows: usize,
    columns: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    let (width, _) = root.dim_in_pixel();
    let (spots, legend_rows) = legend_layout(series_order, width);
    let (head, body) = root.split_vertically(HEADER_H + legend_rows * LEGEND_ROW_H);
    head.draw(&Text::new(
        format!(
            "{name}: p95 wait per VC against {} (bars: seed range)",
            x.label()
        ),
        (10, 12),
        (FONT, 18).into_font(),
    ))?;
    // One legend for all panels, above them: inside a panel it covered points (issue 16).
    for (i, (label, &(lx, ly))) in series_order.iter().zip(&spots).enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        head.draw(&PathElement::new(
            vec![(lx, ly + 7), (lx + 18, ly + 7)],
            color.stroke_width(3),
        ))?;
        head.draw(&Text::new(
            label.clone(),
            (lx + 24, ly),
            (FONT, 12).into_font(),
        ))?;
    }
    let max_ms = panels
        .values()
        .flat_map(|s| s.values())
        .flat_map(|s| s.values())
        .flatten()
        .copied()
        .max()
        .unwrap_or(0);
    // Hours or minutes on the axis (round ticks), labelled in the one duration format.
    let unit_ms = if max_ms >= 2 * 3_600_000 {
        3_600_000.0
    } else {
        60_000.0
    };
    let cells = body.split_evenly((rows, columns));
    for (panel_name, area) in names.iter().zip(cells.iter()) {
        let series = &panels[panel_name];
        let xs: Vec<f64> = series
            .values()
            .flat_map(|s| s.keys())
            .map(|b| from_ordered_bits(*b))
            .collect();
        let (x_lo, x_hi) = span(&xs);
        let y_hi = series
            .values()
            .flat_map(|s| s.values())
            .flatten()
            .copied()
            .max()
            .unwrap_or(0) as f64
            / unit_ms;
        let y_hi = if y_hi > 0.0 { y_hi * 1.1 } else { 1.0 };
        let mut chart = ChartBuilder::on(area)
            .caption(panel_name, (FONT, 15))
            .margin(8)
            .x_label_area_size(32)
            .y_label_area_size(72)
            .build_cartesian_2d(x_lo..x_hi, 0.0..y_hi)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .x_desc(x.label())
            .y_desc("p95 wait")
            .y_label_formatter(&|v| crate::time::axis_label((v.max(0.0) * unit_ms).round() as u64))
            .label_style((FONT, 11))
            .x_labels(6)
            .x_label_formatter(&|v| x.tick(*v))
            .y_labels(5)
            .draw()?;
        for (i, label) in series_order.iter().enumerate() {
            let Some(points) = series.get(label) else {
                continue;
            };
            let color = PALETTE[i % PALETTE.len()];
            let line: Vec<(f64, f64)> = points
                .iter()
                .map(|(xb, seeds)| {
                    let mean = seeds.iter().sum::<u64>() as f64 / seeds.len() as f64;
                    (from_ordered_bits(*xb), mean / unit_ms)
                })
                .collect();
            chart.draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?;
            chart.draw_series(line.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
            chart.draw_series(
                points
                    .iter()
                    .filter(|(_, s)| s.len() > 1)
                    .map(|(xb, seeds)| {
                        let lo = *seeds.iter().min().unwrap_or(&0) as f64 / unit_ms;
                        let hi = *seeds.iter().max().unwrap_or(&0) as f64 / unit_ms;
                        let xv = from_ordered_bits(*xb);
                        PathElement::new(vec![(xv, lo), (xv, hi)], color.stroke_width(1))
                    }),
            )?;
        }
    }
    Ok(())
}

/// Top-left pixel of each legend entry in the header (under the title), wrapping at
/// `width`, and the number of rows.
fn legend_layout(labels: &[String], width: u32) -> (Vec<(i32, i32)>, u32) {
    let (mut x, mut row) = (10i32, 0u32);
    let mut spots = Vec::with_capacity(labels.len());
    for label in labels {
        let w = 24 + label.chars().count() as i32 * 7 + 18;
        if x > 10 && x + w > width as i32 - 10 {
            x = 10;
            row += 1;
        }
        spots.push((x, (HEADER_H + row * LEGEND_ROW_H) as i32 - 6));
        x += w;
    }
    (spots, if labels.is_empty() { 0 } else { row + 1 })
}

/// The x range to show: the values' span, widened when it is a single value.
fn span(xs: &[f64]) -> (f64, f64) {
    let lo = xs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if (hi - lo).abs() < f64::EPSILON {
        return (lo - 1.0, hi + 1.0);
    }
    let pad = (hi - lo) * 0.04;
    (lo - pad, hi + pad)
}

/// f64 bits that sort like the numbers (for map keys).
fn ordered_bits(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn from_ordered_bits(b: u64) -> f64 {
    f64::from_bits(if b >> 63 == 1 { b & !(1 << 63) } else { !b })
}
