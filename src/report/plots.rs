//! Plots of one run as SVG text: a Gantt chart with one lane per node device, busy GPUs
//! over time stacked by VC, and the wait-time CDF per VC.
//!
//! Drawn with plotters' SVG backend only: text is left to the viewer's fonts, so no font or
//! bitmap libraries are needed. The exporters return strings and never touch the file
//! system; [`write_plots`] is the one helper that writes them into a model's folder.
//! Tables and summaries are not made here (see the other `report` modules); the per-group
//! run intervals the Gantt needs are derived from the event log by [`group_runs`].
//!
//! Output is deterministic: the same [`RunResult`] gives the same bytes. A plot with
//! nothing to show (no jobs, zero duration) is a small SVG with a "no data" note.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::path::Path;
use std::sync::Arc;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::digest::RunDigest;
pub use super::group_runs::{GroupRun, RunEnd, earliest_group_runs, group_runs};
use crate::sim::record::{RunResult, VcGpus};

/// Width of every plot, in SVG pixels.
const WIDTH: u32 = 960;
/// Height of the title row of the header.
const TITLE_H: u32 = 30;
/// Height of one row of legend entries.
const LEGEND_ROW_H: u32 = 22;
/// Room under the plotting area for the time axis labels and description.
const X_LABEL_AREA: u32 = 48;
const FONT: &str = "sans-serif";
/// The time axis' description: what its labels mean.
const TIME_DESC: &str = "time since t = 0 (Nd = days, HH:MM:SS)";
const TITLE_SIZE: f64 = 20.0;
const LABEL_SIZE: f64 = 14.0;
const BAR_LABEL_SIZE: f64 = 13.0;

/// Distinguishable categorical colours, assigned to VCs in name order: Tableau 10, then
/// ten more of Trubetskoy's "20 distinct colours" that differ from them (Philly has 15
/// VCs; issue 16). A run with more VCs than colours gives the ones past the 19th
/// [`OTHER`] and names them "other" in the legends.
pub(crate) const PALETTE: [RGBColor; 20] = [
    RGBColor(78, 121, 167),
    RGBColor(242, 142, 43),
    RGBColor(89, 161, 79),
    RGBColor(176, 122, 161),
    RGBColor(118, 183, 178),
    RGBColor(237, 201, 72),
    RGBColor(225, 87, 89),
    RGBColor(255, 157, 167),
    RGBColor(156, 117, 95),
    RGBColor(186, 176, 172),
    RGBColor(128, 0, 0),
    RGBColor(0, 0, 117),
    RGBColor(128, 128, 0),
    RGBColor(240, 50, 230),
    RGBColor(191, 239, 69),
    RGBColor(66, 212, 244),
    RGBColor(145, 30, 180),
    RGBColor(220, 190, 255),
    RGBColor(170, 255, 195),
    RGBColor(255, 216, 177),
];
/// The colour of the VCs past the palette's 19th colour, when a run has more VCs than
/// colours.
const OTHER: RGBColor = RGBColor(120, 120, 120);
const GRID: RGBColor = RGBColor(225, 225, 225);
const NODE_RULE: RGBColor = RGBColor(170, 170, 170);
const SWATCH_GREY: RGBColor = RGBColor(190, 190, 190);

type DrawResult = Result<(), Box<dyn Error>>;
type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// A linear f64 axis whose ticks we choose (round times, lane centres). plotters'
/// `with_key_points` cannot be used here: it loses the default label formatting that a
/// custom label formatter still needs to type-check.
#[derive(Clone)]
struct TickedAxis {
    linear: RangedCoordf64,
    ticks: Vec<f64>,
}

impl TickedAxis {
    fn new(lo: f64, hi: f64, ticks: Vec<f64>) -> Self {
        TickedAxis {
            linear: (lo..hi).into(),
            ticks,
        }
    }
}

impl Ranged for TickedAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.linear.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        // Light (minor) grid lines are not wanted; every tick is a bold one.
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.linear.range()
    }
}

/// Reads timeline points' counts in the order of a fixed VC list. The list of a point is
/// matched to the columns once per distinct list (an engine run has one, shared by all
/// its points), not once per point.
pub(crate) struct VcColumns {
    names: Vec<String>,
    /// The point list last seen, and for each name its index in that list.
    matched: Option<MatchedList>,
}

/// A point's VC list and, for each column, the index of its VC in that list.
type MatchedList = (Arc<[String]>, Vec<Option<usize>>);

impl VcColumns {
    /// Columns for `names`.
    pub(crate) fn new(names: &[String]) -> VcColumns {
        VcColumns {
            names: names.to_vec(),
            matched: None,
        }
    }

    /// The column names, in order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Sets `out` to the counts of `busy` in column order, 0 for a VC it lacks.
    pub(crate) fn read(&mut self, busy: &VcGpus, out: &mut Vec<u32>) {
        let index = self.index(busy);
        let counts = busy.counts();
        out.clear();
        out.extend(index.iter().map(|i| i.map_or(0, |i| counts[i])));
    }

    /// Sets `out` to the busy milli-GPUs of `busy` in column order (0 for a VC it lacks)
    /// and returns true, when the point has them (a run whose pods share GPUs).
    pub(crate) fn read_milli(&mut self, busy: &VcGpus, out: &mut Vec<u64>) -> bool {
        let Some(milli) = busy.milli() else {
            return false;
        };
        let index = self.index(busy);
        out.clear();
        out.extend(index.iter().map(|i| i.map_or(0, |i| milli[i])));
        true
    }

    /// For each column, the index of its VC in `busy`'s list.
    fn index(&mut self, busy: &VcGpus) -> &[Option<usize>] {
        let list = busy.names();
        if self
            .matched
            .as_ref()
            .is_none_or(|(seen, _)| !Arc::ptr_eq(seen, list))
        {
            let index = self
                .names
                .iter()
                .map(|n| list.binary_search(n).ok())
                .collect();
            self.matched = Some((Arc::clone(list), index));
        }
        let (_, index) = self.matched.as_ref().expect("just matched");
        index
    }
}

/// The VCs named in the run's timeline, sorted.
pub(crate) fn timeline_vc_names(run: &RunResult) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    let mut last: Option<&Arc<[String]>> = None;
    for point in &run.timeline {
        // The points of an engine run share one list: a pointer compare per point.
        let list = point.busy_by_vc.names();
        if last.is_none_or(|l| !Arc::ptr_eq(l, list)) {
            names.extend(list.iter().map(String::as_str));
            last = Some(list);
        }
    }
    names
}

/// The colour of `vc` among the run's VCs `names`, as `#rrggbb`.
pub(crate) fn vc_color_hex(names: &[String], vc: &str) -> String {
    let RGBColor(r, g, b) = vc_color(names, vc);
    format!("#{r:02x}{g:02x}{b:02x}")
}

/// Whether `vc` shares the [`OTHER`] colour: the run has more VCs than the palette has
/// colours and `vc` is not among the first 19 (or is not a VC of the run).
fn is_other(names: &[String], vc: &str) -> bool {
    let i = names.iter().position(|n| n == vc).unwrap_or(names.len());
    names.len() > PALETTE.len() && i >= PALETTE.len() - 1
}

fn vc_color(names: &[String], vc: &str) -> RGBColor {
    let i = names.iter().position(|n| n == vc).unwrap_or(names.len());
    if is_other(names, vc) {
        OTHER
    } else {
        PALETTE[i % PALETTE.len()]
    }
}

/// Legend entries for the VCs `shown` (in order), one per colour: the VCs that share
/// [`OTHER`] make one "other (N VCs)" entry at the end.
fn vc_legend<'a>(names: &[String], shown: impl IntoIterator<Item = &'a String>) -> Vec<LegendItem> {
    let mut items = Vec::new();
    let mut others = 0;
    for vc in shown {
        if is_other(names, vc) {
            others += 1;
        } else {
            items.push(LegendItem {
                swatch: Swatch::Fill(vc_color(names, vc)),
                label: vc.clone(),
            });
        }
    }
    if others > 0 {
        items.push(LegendItem {
            swatch: Swatch::Fill(OTHER),
            label: format!("other ({others} VCs)"),
        });
    }
    items
}

/// Escapes text for HTML and SVG content and attribute values.
pub(crate) fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Tick positions for a time axis from 0 to `end_ms`: round steps (1 s, 5 min, 1 h, 1 day,
/// 2 weeks …), at most about ten ([`crate::time::tick_step`]).
fn time_ticks(end_ms: u64) -> Vec<f64> {
    let end = end_ms.max(1);
    let step = crate::time::tick_step(end, 10);
    (0..=end / step).map(|i| (i * step) as f64).collect()
}

/// A round step for an integer axis from 0 to `max` with at most about eight ticks.
fn int_ticks(max: u64) -> Vec<f64> {
    let mut step = 1u64;
    'outer: loop {
        for m in [1, 2, 5] {
            if max / (step * m) <= 8 {
                step *= m;
                break 'outer;
            }
        }
        step *= 10;
    }
    (0..=max / step).map(|i| (i * step) as f64).collect()
}

/// Rough width in pixels of `text` at plotters font `size` (the SVG backend writes
/// `size / 1.24` as the font size; sans-serif glyphs average about 0.55 em).
fn text_px(text: &str, size: f64) -> f64 {
    text.chars().count() as f64 * size / 1.24 * 0.58
}

fn font(size: f64) -> TextStyle<'static> {
    TextStyle::from((FONT, size)).color(&BLACK)
}

/// Black or white, whichever reads better on `bg`.
fn ink_on(bg: RGBColor) -> &'static RGBColor {
    let RGBColor(r, g, b) = bg;
    let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b);
    if luma < 140.0 { &WHITE } else { &BLACK }
}

enum Swatch {
    Fill(RGBColor),
    Hatched,
    Bordered,
    Dashed,
    Line(RGBColor),
}

struct LegendItem {
    swatch: Swatch,
    label: String,
}

/// Top-left pixel of each legend entry, wrapping into rows, and the number of rows.
fn legend_layout(items: &[LegendItem]) -> (Vec<(i32, i32)>, u32) {
    let (mut x, mut row) = (16.0, 0u32);
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let w = 18.0 + 6.0 + text_px(&item.label, LABEL_SIZE) + 20.0;
        if x > 16.0 && x + w > f64::from(WIDTH) - 16.0 {
            x = 16.0;
            row += 1;
        }
        out.push((x as i32, (TITLE_H + row * LEGEND_ROW_H) as i32));
        x += w;
    }
    let rows = if items.is_empty() { 0 } else { row + 1 };
    (out, rows)
}

fn header_height(items: &[LegendItem]) -> u32 {
    TITLE_H + legend_layout(items).1 * LEGEND_ROW_H + 6
}

/// Diagonal hatch lines inside a `w` x `h` pixel box, as pixel offsets from its bottom
/// left corner (y grows upwards), spaced `gap` pixels apart.
fn hatch_segments(w: f64, h: f64, gap: f64) -> Vec<((f64, f64), (f64, f64))> {
    let mut out = Vec::new();
    let mut c = gap;
    // Lines x + y = c, clipped to the box.
    while c < w + h {
        let y_lo = (c - w).max(0.0);
        let y_hi = h.min(c);
        if y_hi > y_lo {
            out.push(((c - y_lo, y_lo), (c - y_hi, y_hi)));
        }
        c += gap;
    }
    out
}

/// The closed outline of a box, for borders: the SVG backend ignores the stroke width of
/// rectangles but not of paths.
fn outline<T: Copy>(x0: T, y0: T, x1: T, y1: T) -> Vec<(T, T)> {
    vec![(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
}

fn draw_header(area: &Area<'_>, title: &str, items: &[LegendItem]) -> DrawResult {
    area.draw(&Text::new(
        title.to_string(),
        (16, 8),
        TextStyle::from((FONT, TITLE_SIZE, FontStyle::Bold))
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Top)),
    ))?;
    let (spots, _) = legend_layout(items);
    for (item, &(x, y)) in items.iter().zip(&spots) {
        let (x0, y0, x1, y1) = (x, y + 3, x + 18, y + 17);
        match item.swatch {
            Swatch::Fill(c) => {
                area.draw(&Rectangle::new([(x0, y0), (x1, y1)], c.filled()))?;
            }
            Swatch::Hatched | Swatch::Bordered => {
                area.draw(&Rectangle::new([(x0, y0), (x1, y1)], SWATCH_GREY.filled()))?;
                if matches!(item.swatch, Swatch::Hatched) {
                    for ((ax, ay), (bx, by)) in hatch_segments(18.0, 14.0, 5.0) {
                        area.draw(&PathElement::new(
                            vec![
                                (x0 + ax as i32, y1 - ay as i32),
                                (x0 + bx as i32, y1 - by as i32),
                            ],
                            BLACK.stroke_width(1),
                        ))?;
                    }
                }
                area.draw(&PathElement::new(
                    outline(x0, y0, x1, y1),
                    BLACK.stroke_width(2),
                ))?;
            }
            Swatch::Dashed => {
                for k in 0..3 {
                    let xs = x0 + k * 7;
                    area.draw(&PathElement::new(
                        vec![(xs, y + 10), (xs + 4, y + 10)],
                        BLACK.stroke_width(2),
                    ))?;
                }
            }
            Swatch::Line(c) => {
                area.draw(&PathElement::new(
                    vec![(x0, y + 10), (x1, y + 10)],
                    c.stroke_width(3),
                ))?;
            }
        }
        area.draw(&Text::new(
            item.label.clone(),
            (x1 + 6, y + 10),
            font(LABEL_SIZE).pos(Pos::new(HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// Renders into a fresh SVG of `height` pixels; a drawing error (which the in-memory
/// backend does not produce in practice) yields a note instead of a half-written SVG.
fn render(title: &str, height: u32, draw: impl FnOnce(&Area<'_>) -> DrawResult) -> String {
    let mut buf = String::new();
    let outcome = (|| -> DrawResult {
        let root = SVGBackend::with_string(&mut buf, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
        Ok(())
    })();
    match outcome {
        Ok(()) => buf,
        Err(e) => note_svg(title, &format!("plot failed: {e}")),
    }
}

/// A small SVG with a title and a centred note, written by hand so it cannot fail.
fn note_svg(title: &str, note: &str) -> String {
    let (w, h) = (WIDTH, 140);
    format!(
        "<svg width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" \
         xmlns=\"http://www.w3.org/2000/svg\">\n\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#FFFFFF\"/>\n\
         <text x=\"16\" y=\"28\" font-family=\"{FONT}\" font-size=\"16\" \
         font-weight=\"bold\">{}</text>\n\
         <text x=\"{}\" y=\"84\" text-anchor=\"middle\" font-family=\"{FONT}\" \
         font-size=\"14\" fill=\"#666666\">{}</text>\n</svg>\n",
        escape_xml(title),
        w / 2,
        escape_xml(note),
    )
}

fn no_data_svg(title: &str, why: &str) -> String {
    note_svg(title, &format!("no data: {why}"))
}

/// Group runs beyond which the Gantt chart shows only the earliest ones.
pub const MAX_GANTT_RUNS: usize = 3_000;

/// GPUs beyond which a Gantt lane would be thinner than a few pixels.
pub const MAX_GANTT_GPUS: u32 = 256;

/// Whether a Gantt chart of `run` can be read: at most [`MAX_GANTT_RUNS`] group runs on
/// at most [`MAX_GANTT_GPUS`] GPUs. Larger runs get the occupancy heat map instead
/// ([`occupancy_svg_of`]): a Gantt of the first runs of a 100-day trace on a full-length
/// axis made the cluster look idle (issue 16).
pub fn gantt_readable(run: &RunDigest) -> bool {
    run.group_runs_total <= MAX_GANTT_RUNS && run.total_gpus <= MAX_GANTT_GPUS
}

/// Time columns of the occupancy heat map.
const HEAT_COLUMNS: u64 = 240;

/// The heat map's colour of `share` (busy GPUs over the VC's guarantee): white to blue
/// up to the guarantee, blue to red for borrowing beyond it (red from 150 %).
fn heat_color(share: f64) -> RGBColor {
    let lerp = |a: u8, b: u8, f: f64| (f64::from(a) + (f64::from(b) - f64::from(a)) * f) as u8;
    let (from, to, f) = if share <= 1.0 {
        ((247, 251, 255), (8, 69, 148), share.max(0.0))
    } else {
        ((8, 69, 148), (203, 24, 29), ((share - 1.0) / 0.5).min(1.0))
    };
    RGBColor(
        lerp(from.0, to.0, f),
        lerp(from.1, to.1, f),
        lerp(from.2, to.2, f),
    )
}

/// Occupancy over time per VC, for runs too large for a Gantt chart: one row per VC that
/// used GPUs, one column per 1/240 of the run, coloured by the VC's busy GPUs (time
/// average over the column) as a share of its guaranteed GPUs (white 0 %, dark blue
/// 100 %, red 150 % and more: borrowing); a VC without a guarantee is measured against
/// its own peak. The bottom row is the whole cluster against the GPUs present.
pub fn occupancy_svg_of(run: &RunDigest) -> String {
    let names = &run.vc_names;
    let title = format!(
        "Occupancy: {} ({} group runs on {} GPUs: too many for a Gantt chart)",
        run.model, run.group_runs_total, run.total_gpus
    );
    let t_end = run.busy_until_ms;
    let steps = &run.busy_steps;
    if run.jobs == 0 || t_end == 0 || steps.is_empty() {
        return no_data_svg(&title, "no jobs or zero duration");
    }
    let columns = steps[0].1.len();
    let buckets = super::busy::averaged_steps(steps.clone(), columns, t_end, HEAT_COLUMNS);
    let used: Vec<usize> = (0..names.len())
        .filter(|&k| steps.iter().any(|s| s.1.get(k).is_some_and(|&b| b > 0)))
        .collect();
    // Rows top to bottom: the VCs, then the cluster.
    let mut rows: Vec<(String, Vec<f64>)> = used
        .iter()
        .map(|&k| {
            let guaranteed = run
                .vcs
                .get(&names[k])
                .and_then(|v| v.guaranteed_gpus)
                .unwrap_or(0);
            let peak = steps.iter().map(|s| s.1[k]).max().unwrap_or(0);
            let (reference, label) = if guaranteed > 0 {
                (guaranteed, format!("{} ({guaranteed} GPUs)", names[k]))
            } else {
                (
                    peak.max(1),
                    format!("{} (no guarantee; peak {peak})", names[k]),
                )
            };
            let shares = buckets
                .iter()
                .map(|b| f64::from(b.1[k]) / f64::from(reference))
                .collect();
            (label, shares)
        })
        .collect();
    let cap_k = names.len();
    rows.push((
        "whole cluster".to_string(),
        buckets
            .iter()
            .map(|b| {
                let busy: u32 = b.1[..cap_k].iter().sum();
                let present = b.1.get(cap_k).copied().unwrap_or(run.total_gpus).max(1);
                f64::from(busy) / f64::from(present)
            })
            .collect(),
    ));
    let legend: Vec<LegendItem> = [
        (0.0, "0%"),
        (0.5, "50%"),
        (1.0, "100% of the guarantee"),
        (1.5, "150%+ (borrowing)"),
    ]
    .iter()
    .map(|&(share, label)| LegendItem {
        swatch: Swatch::Fill(heat_color(share)),
        label: label.to_string(),
    })
    .collect();
    let n = rows.len();
    let row_h: u32 = (480 / n as u32).clamp(14, 28);
    let y_label_w = rows
        .iter()
        .map(|(l, _)| text_px(l, LABEL_SIZE))
        .fold(0.0, f64::max)
        .clamp(40.0, 320.0) as u32
        + 16;
    let head_h = header_height(&legend);
    let height = head_h + n as u32 * row_h + X_LABEL_AREA + 12;
    let ticks = time_ticks(t_end);
    let y_keys: Vec<f64> = (0..n).map(|i| (n - i) as f64 - 0.5).collect();
    let width = t_end.div_ceil(HEAT_COLUMNS).max(1);

    render(&title, height, |root| {
        let (head, body) = root.split_vertically(head_h);
        draw_header(&head, &title, &legend)?;
        let frame = LaneFrame {
            t_end,
            ticks: &ticks,
            y_keys: &y_keys,
            label_width: y_label_w,
            time_grid: false,
        };
        let mut chart = frame.draw(&body, n, |i| rows[i].0.clone())?;
        let mut cells = Vec::new();
        for (i, (_, shares)) in rows.iter().enumerate() {
            let y0 = (n - 1 - i) as f64;
            for (b, &share) in buckets.iter().zip(shares) {
                let x0 = b.0 as f64;
                let x1 = (b.0 + width).min(t_end) as f64;
                cells.push(Rectangle::new(
                    [(x0, y0 + 0.06), (x1, y0 + 0.94)],
                    heat_color(share).filled(),
                ));
            }
        }
        chart.draw_series(cells)?;
        Ok(())
    })
}

/// The frame of a lane chart (the occupancy heat map, the Gantt): time across, `n`
/// labelled rows down, row 0 at the top (plotters' y grows upwards, so row i spans y in
/// [n-1-i, n-i]).
struct LaneFrame<'t> {
    t_end: u64,
    ticks: &'t [f64],
    /// Where row labels go (a row's centre, or the centre of a node's rows).
    y_keys: &'t [f64],
    /// Pixels for the row labels.
    label_width: u32,
    /// Vertical grid lines at the time ticks (the Gantt); none for the heat map, whose
    /// cells cover the whole area.
    time_grid: bool,
}

type LaneChart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<TickedAxis, TickedAxis>>;

impl LaneFrame<'_> {
    /// Draws the axes and labels on `body` (`label(i)`: row i's text) and gives the chart
    /// to draw the rows in.
    fn draw<'a>(
        &self,
        body: &Area<'a>,
        n: usize,
        label: impl Fn(usize) -> String,
    ) -> Result<LaneChart<'a>, Box<dyn Error>> {
        let x_fmt = |v: &f64| crate::time::axis_label(v.round() as u64);
        let y_fmt = |v: &f64| {
            let i = n as f64 - 1.0 - v.floor();
            if i >= 0.0 && (i as usize) < n {
                label(i as usize)
            } else {
                String::new()
            }
        };
        let mut chart = ChartBuilder::on(body)
            .margin_right(24)
            .margin_bottom(12)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(self.label_width)
            .build_cartesian_2d(
                TickedAxis::new(0.0, self.t_end as f64, self.ticks.to_vec()),
                TickedAxis::new(0.0, n as f64, self.y_keys.to_vec()),
            )?;
        let mut mesh = chart.configure_mesh();
        mesh.disable_y_mesh();
        if self.time_grid {
            mesh.bold_line_style(GRID).light_line_style(TRANSPARENT);
        } else {
            mesh.disable_x_mesh();
        }
        mesh.x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(TIME_DESC)
            .label_style(font(LABEL_SIZE))
            .axis_desc_style(font(LABEL_SIZE))
            .draw()?;
        Ok(chart)
    }
}

/// One Gantt lane: a device of a node.
struct Lane {
    node: String,
    device: u32,
}

fn gantt_lanes(run: &RunDigest, runs: &[GroupRun]) -> Vec<Lane> {
    let mut lanes: Vec<Lane> = run
        .nodes
        .iter()
        .flat_map(|(node, gpus)| {
            (0..*gpus).map(move |device| Lane {
                node: node.clone(),
                device,
            })
        })
        .collect();
    // Devices that runs used but the node list lacks (a node added mid-run, say) get
    // lanes at the end rather than being dropped.
    let known: BTreeSet<(&str, u32)> = lanes.iter().map(|l| (l.node.as_str(), l.device)).collect();
    let extra: BTreeSet<(&str, u32)> = runs
        .iter()
        .flat_map(|r| r.pods.iter())
        .flat_map(|p| p.devices.iter().map(move |d| (p.node.as_str(), *d)))
        .filter(|k| !known.contains(k))
        .collect();
    let extra: Vec<Lane> = extra
        .into_iter()
        .map(|(node, device)| Lane {
            node: node.to_string(),
            device,
        })
        .collect();
    lanes.extend(extra);
    lanes
}

/// A Gantt chart of the run: one lane per node device ("node GPU 0"), one bar per group
/// run on each of its devices, coloured by the job's VC and labelled with the job id when
/// the bar is wide enough. Preempted runs are hatched with a black border; runs cut by a
/// kill or a node failure have a black border. The time axis reads `h:mm:ss`.
///
/// A long run (more than [`MAX_GANTT_RUNS`] group runs) shows its first
/// [`MAX_GANTT_RUNS`] runs by start time on the lanes they use, and says so in the
/// title: a chart of every run of a 100-day trace would be megabytes no one can read.
pub fn gantt_svg(run: &RunResult) -> String {
    gantt_svg_of(&RunDigest::of(run))
}

/// [`gantt_svg`] of a run's digest.
pub fn gantt_svg_of(run: &RunDigest) -> String {
    if !gantt_readable(run) {
        return occupancy_svg_of(run);
    }
    let names = &run.vc_names;
    let (runs, total) = (&run.gantt_runs, run.group_runs_total);
    let cut = total > MAX_GANTT_RUNS;
    let title = if cut {
        format!(
            "Gantt: {} (first {MAX_GANTT_RUNS} of {total} group runs)",
            run.model
        )
    } else {
        format!("Gantt: {}", run.model)
    };
    let lanes = if cut {
        let used: BTreeSet<(&str, u32)> = runs
            .iter()
            .flat_map(|r| r.pods.iter())
            .flat_map(|p| p.devices.iter().map(move |d| (p.node.as_str(), *d)))
            .collect();
        let mut lanes = gantt_lanes(run, runs);
        lanes.retain(|l| used.contains(&(l.node.as_str(), l.device)));
        lanes
    } else {
        gantt_lanes(run, runs)
    };
    let t_end = runs
        .iter()
        .map(|r| r.end_ms)
        .max()
        .unwrap_or(0)
        .max(run.end_ms);
    if runs.is_empty() || lanes.is_empty() || t_end == 0 {
        return no_data_svg(&title, "no group ran");
    }
    let used_vcs: BTreeSet<&str> = runs.iter().map(|r| r.vc.as_str()).collect();
    let mut legend = vc_legend(
        names,
        names.iter().filter(|n| used_vcs.contains(n.as_str())),
    );
    if used_vcs.contains("?") && !names.iter().any(|n| n == "?") {
        legend.push(LegendItem {
            swatch: Swatch::Fill(vc_color(names, "?")),
            label: "unknown VC".into(),
        });
    }
    if runs.iter().any(|r| r.end == RunEnd::Preempted) {
        legend.push(LegendItem {
            swatch: Swatch::Hatched,
            label: "preempted".into(),
        });
    }
    if runs
        .iter()
        .any(|r| matches!(r.end, RunEnd::Killed | RunEnd::NodeDown | RunEnd::Restarted))
    {
        legend.push(LegendItem {
            swatch: Swatch::Bordered,
            label: "killed / node down".into(),
        });
    }

    let n = lanes.len();
    let lane_h: u32 = (720 / n as u32).clamp(3, 24);
    // Label every lane when there is room, else only each node's first lane, thinned
    // out so labels stay at least 12 pixels apart.
    let label_lanes: Vec<usize> = if lane_h >= 12 {
        (0..n).collect()
    } else {
        let firsts: Vec<usize> = (0..n)
            .filter(|&i| i == 0 || lanes[i].node != lanes[i - 1].node)
            .collect();
        let mut kept: Vec<usize> = Vec::new();
        for i in firsts {
            if kept.last().is_none_or(|&k| (i - k) as u32 * lane_h >= 12) {
                kept.push(i);
            }
        }
        kept
    };
    let per_lane_labels = lane_h >= 12;
    let lane_label = |i: usize| -> String {
        let l = &lanes[i];
        if per_lane_labels {
            format!("{} GPU {}", l.node, l.device)
        } else {
            l.node.clone()
        }
    };
    let y_label_w = label_lanes
        .iter()
        .map(|&i| text_px(&lane_label(i), LABEL_SIZE))
        .fold(0.0, f64::max)
        .clamp(40.0, 300.0) as u32
        + 16;
    let head_h = header_height(&legend);
    let height = head_h + n as u32 * lane_h + X_LABEL_AREA + 12;
    let ticks = time_ticks(t_end);
    // Lane i (top to bottom) spans y in [n-1-i, n-i]: plotters' y grows upwards.
    let lane_bottom = |i: usize| (n - 1 - i) as f64;
    // A lane label sits at its lane's centre, a node label at the centre of its lanes.
    let y_keys: Vec<f64> = label_lanes
        .iter()
        .map(|&i| {
            let span = if per_lane_labels {
                1
            } else {
                lanes[i..]
                    .iter()
                    .take_while(|l| l.node == lanes[i].node)
                    .count()
            };
            (n - i) as f64 - span as f64 / 2.0
        })
        .collect();

    render(&title, height, |root| {
        let (head, body) = root.split_vertically(head_h);
        draw_header(&head, &title, &legend)?;
        let frame = LaneFrame {
            t_end,
            ticks: &ticks,
            y_keys: &y_keys,
            label_width: y_label_w,
            time_grid: true,
        };
        let mut chart = frame.draw(&body, n, lane_label)?;

        let (plot_w, _) = chart.plotting_area().dim_in_pixel();
        let px_per_ms = f64::from(plot_w) / t_end as f64;
        let px_per_lane = f64::from(lane_h);
        let inset = if lane_h >= 6 { 0.12 } else { 0.0 };

        // Rules between nodes.
        let rules: Vec<f64> = (1..n)
            .filter(|&i| lanes[i].node != lanes[i - 1].node)
            .map(|i| lane_bottom(i - 1))
            .collect();
        chart.draw_series(rules.iter().map(|&y| {
            PathElement::new(vec![(0.0, y), (t_end as f64, y)], NODE_RULE.stroke_width(1))
        }))?;

        let lane_of: BTreeMap<(&str, u32), usize> = lanes
            .iter()
            .enumerate()
            .map(|(i, l)| ((l.node.as_str(), l.device), i))
            .collect();
        let mut fills = Vec::new();
        let mut seps = Vec::new();
        let mut hatches = Vec::new();
        let mut borders = Vec::new();
        let mut labels = Vec::new();
        let mut label_patches = Vec::new();
        for r in runs {
            let color = vc_color(names, &r.vc);
            let (x0, x1) = (r.start_ms as f64, r.end_ms as f64);
            let w_px = (x1 - x0) * px_per_ms;
            for pod in &r.pods {
                for d in &pod.devices {
                    let Some(&lane) = lane_of.get(&(pod.node.as_str(), *d)) else {
                        continue;
                    };
                    let (y0, y1) = (lane_bottom(lane) + inset, lane_bottom(lane) + 1.0 - inset);
                    fills.push(Rectangle::new([(x0, y0), (x1, y1)], color.filled()));
                    match r.end {
                        RunEnd::Preempted => {
                            if w_px >= 2.0 {
                                let h_px = (y1 - y0) * px_per_lane;
                                for ((ax, ay), (bx, by)) in hatch_segments(w_px, h_px, 6.0) {
                                    hatches.push(PathElement::new(
                                        vec![
                                            (x0 + ax / px_per_ms, y0 + ay / px_per_lane),
                                            (x0 + bx / px_per_ms, y0 + by / px_per_lane),
                                        ],
                                        BLACK.mix(0.75).stroke_width(1),
                                    ));
                                }
                            }
                            borders.push(PathElement::new(
                                outline(x0, y0, x1, y1),
                                BLACK.stroke_width(2),
                            ));
                        }
                        RunEnd::Killed | RunEnd::NodeDown | RunEnd::Restarted => {
                            borders.push(PathElement::new(
                                outline(x0, y0, x1, y1),
                                BLACK.stroke_width(2),
                            ));
                        }
                        RunEnd::Finished | RunEnd::Running => {
                            // A thin white edge keeps back-to-back runs apart.
                            if w_px >= 4.0 && lane_h >= 6 {
                                seps.push(Rectangle::new(
                                    [(x0, y0), (x1, y1)],
                                    WHITE.stroke_width(1),
                                ));
                            }
                        }
                    }
                    let label_px = text_px(&r.job, BAR_LABEL_SIZE);
                    if lane_h >= 12 && w_px >= label_px + 8.0 {
                        if r.end == RunEnd::Preempted {
                            // A plain patch under the label keeps it readable on the hatch.
                            let (py0, py1) = (lane_bottom(lane) + 0.25, lane_bottom(lane) + 0.75);
                            let px1 = x0 + (label_px + 6.0) / px_per_ms;
                            label_patches.push(Rectangle::new(
                                [(x0 + 2.0 / px_per_ms, py0), (px1, py1)],
                                color.filled(),
                            ));
                        }
                        labels.push(Text::new(
                            r.job.clone(),
                            (x0 + 4.0 / px_per_ms, lane_bottom(lane) + 0.5),
                            font(BAR_LABEL_SIZE)
                                .color(ink_on(color))
                                .pos(Pos::new(HPos::Left, VPos::Center)),
                        ));
                    }
                }
            }
        }
        chart.draw_series(fills)?;
        chart.draw_series(seps)?;
        chart.draw_series(hatches)?;
        chart.draw_series(borders)?;
        chart.draw_series(label_patches)?;
        chart.draw_series(labels)?;
        Ok(())
    })
}

/// Step-function vertices of `values` (one per step in `steps`) up to `t_end`, keeping
/// only the corners where the value changes.
fn step_line(times: &[u64], values: &[u64], t_end: u64) -> Vec<(f64, f64)> {
    let mut pts: Vec<(f64, f64)> = Vec::new();
    let mut prev: Option<u64> = None;
    for (&t, &v) in times.iter().zip(values) {
        let t = t.min(t_end) as f64;
        match prev {
            None => pts.push((t, v as f64)),
            Some(p) if p != v => {
                pts.push((t, p as f64));
                pts.push((t, v as f64));
            }
            Some(_) => {}
        }
        prev = Some(v);
    }
    if let Some(p) = prev {
        pts.push((t_end as f64, p as f64));
    }
    pts
}

/// Busy GPUs over time, stacked by VC (in name order from the bottom), with the cluster's
/// total capacity as a dashed line.
pub fn utilisation_svg(run: &RunResult) -> String {
    utilisation_svg_of(&RunDigest::of(run))
}

/// [`utilisation_svg`] of a run's digest.
pub fn utilisation_svg_of(run: &RunDigest) -> String {
    let names = &run.vc_names;
    let title = format!(
        "Busy GPUs: {} (util {}; arrivals {})",
        run.model,
        run.windows.0.text(),
        run.windows
            .1
            .utilisation
            .map_or("-".to_string(), |u| format!("{:.1}%", u * 100.0))
    );
    let t_end = run.busy_until_ms;
    if run.jobs == 0 || t_end == 0 {
        return no_data_svg(&title, "no jobs or zero duration");
    }
    let steps = &run.busy_steps;
    let times: Vec<u64> = steps.iter().map(|s| s.0).collect();
    // cum[k][i]: GPUs busy in VCs 0..=k at step i.
    let mut cum: Vec<Vec<u64>> = Vec::with_capacity(names.len());
    for k in 0..names.len() {
        let layer: Vec<u64> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| u64::from(s.1[k]) + if k == 0 { 0 } else { cum[k - 1][i] })
            .collect();
        cum.push(layer);
    }
    let peak = cum
        .last()
        .and_then(|c| c.iter().max().copied())
        .unwrap_or(0);
    let y_max = peak.max(u64::from(run.total_gpus)).max(1);
    let y_max = y_max.max(
        steps
            .iter()
            .filter_map(|s| s.1.get(names.len()))
            .map(|&c| u64::from(c))
            .max()
            .unwrap_or(0),
    );
    let mut legend = vc_legend(
        names,
        names
            .iter()
            .enumerate()
            .filter(|(k, _)| steps.iter().any(|s| s.1[*k] > 0))
            .map(|(_, n)| n),
    );
    // The capacity follows node events (the steps' last column); before the first point
    // that has nodes it is not drawn.
    let cap_k = names.len();
    let cap_from = steps
        .iter()
        .position(|s| s.1.get(cap_k).is_some_and(|&c| c > 0));
    let cap_times: Vec<u64> = cap_from.map_or_else(Vec::new, |i| times[i..].to_vec());
    let cap_values: Vec<u64> = cap_from.map_or_else(Vec::new, |i| {
        steps[i..].iter().map(|s| u64::from(s.1[cap_k])).collect()
    });
    let cap_peak = cap_values.iter().copied().max().unwrap_or(0);
    let cap_changes = cap_values.windows(2).any(|w| w[0] != w[1]);
    legend.push(LegendItem {
        swatch: Swatch::Dashed,
        label: if cap_changes {
            format!("GPUs present (up to {cap_peak}; follows node events)")
        } else {
            format!("capacity ({} GPUs)", run.total_gpus)
        },
    });
    let head_h = header_height(&legend);
    let height = head_h + 360 + X_LABEL_AREA;
    let ticks = time_ticks(t_end);
    let y_ticks = int_ticks(y_max);
    let zeros = vec![0u64; times.len()];

    render(&title, height, |root| {
        let (head, body) = root.split_vertically(head_h);
        draw_header(&head, &title, &legend)?;
        let x_fmt = |v: &f64| crate::time::axis_label(v.round() as u64);
        let y_fmt = |v: &f64| format!("{v:.0}");
        let mut chart = ChartBuilder::on(&body)
            .margin_right(24)
            .margin_top(8)
            .margin_bottom(12)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(64)
            .build_cartesian_2d(
                TickedAxis::new(0.0, t_end as f64, ticks.clone()),
                TickedAxis::new(0.0, y_max as f64 * 1.08, y_ticks.clone()),
            )?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc(TIME_DESC)
            .y_desc("busy GPUs")
            .label_style(font(LABEL_SIZE))
            .axis_desc_style(font(LABEL_SIZE))
            .draw()?;
        for k in 0..names.len() {
            if steps.iter().all(|s| s.1[k] == 0) {
                continue;
            }
            let lower = if k == 0 { &zeros } else { &cum[k - 1] };
            let mut poly = step_line(&times, &cum[k], t_end);
            let mut under = step_line(&times, lower, t_end);
            under.reverse();
            poly.extend(under);
            chart.draw_series(std::iter::once(Polygon::new(
                poly,
                vc_color(names, &names[k]).filled(),
            )))?;
        }
        if !cap_times.is_empty() {
            chart.draw_series(DashedLineSeries::new(
                step_line(&cap_times, &cap_values, t_end),
                8,
                5,
                BLACK.stroke_width(2),
            ))?;
        }
        Ok(())
    })
}

/// Round waits for the ticks of the wait CDF's log axis.
const WAIT_TICKS_MS: [u64; 14] = [
    1,
    10,
    100,
    1_000,
    10_000,
    60_000,
    600_000,
    3_600_000,
    21_600_000,
    86_400_000,
    7 * 86_400_000,
    30 * 86_400_000,
    365 * 86_400_000,
    3650 * 86_400_000,
];

/// The cumulative distribution of wait times (submit to first start) of the jobs that
/// started, one step line per VC; the y axis is the share of the VC's started jobs. The
/// wait axis is logarithmic (waits span seconds to weeks); jobs that did not wait at all
/// cannot sit on it, so each line starts at its zero-wait share at the left edge and the
/// legend states that share (issue 16).
pub fn wait_cdf_svg(run: &RunResult) -> String {
    wait_cdf_svg_of(&RunDigest::of(run))
}

/// [`wait_cdf_svg`] of a run's digest.
pub fn wait_cdf_svg_of(run: &RunDigest) -> String {
    let names = &run.vc_names;
    let title = format!("Wait-time CDF: {}", run.model);
    // Sorted waits of the jobs that started, per VC, for VCs with at least one.
    let waits: BTreeMap<&String, &Vec<u64>> = run
        .vcs
        .iter()
        .filter(|(_, vc)| !vc.waits_ms.is_empty())
        .map(|(name, vc)| (name, &vc.waits_ms))
        .collect();
    if waits.is_empty() {
        return no_data_svg(&title, "no job started");
    }
    let max_wait = waits
        .values()
        .filter_map(|w| w.last().copied())
        .max()
        .unwrap_or(0);
    let min_positive = waits
        .values()
        .filter_map(|w| w.iter().find(|&&x| x > 0).copied())
        .min();
    // The axis spans whole decades of round ticks around the positive waits; with no
    // positive wait at all, 1 s to 10 min.
    let lo = WAIT_TICKS_MS
        .iter()
        .copied()
        .rev()
        .find(|&t| t <= min_positive.unwrap_or(1_000).min(1_000))
        .unwrap_or(1);
    let hi = WAIT_TICKS_MS
        .iter()
        .copied()
        .find(|&t| t >= max_wait.max(600_000))
        .unwrap_or(WAIT_TICKS_MS[WAIT_TICKS_MS.len() - 1]);
    let log = |ms: u64| (ms.max(lo) as f64).log10();
    let ticks: Vec<f64> = WAIT_TICKS_MS
        .iter()
        .filter(|&&t| t >= lo && t <= hi)
        .map(|&t| log(t))
        .collect();
    let all_jobs: usize = waits.values().map(|w| w.len()).sum();
    let all_zero: usize = waits
        .values()
        .map(|w| w.iter().take_while(|&&x| x == 0).count())
        .sum();
    let legend: Vec<LegendItem> = waits
        .iter()
        .map(|(vc, w)| {
            let zero = w.iter().take_while(|&&x| x == 0).count();
            LegendItem {
                swatch: Swatch::Line(vc_color(names, vc)),
                label: format!(
                    "{vc} ({} jobs, {:.0}% no wait)",
                    w.len(),
                    zero as f64 * 100.0 / w.len() as f64
                ),
            }
        })
        .collect();
    let title = format!(
        "{title} ({:.1}% of {all_jobs} started jobs did not wait)",
        all_zero as f64 * 100.0 / all_jobs as f64
    );
    let head_h = header_height(&legend);
    let height = head_h + 320 + X_LABEL_AREA;
    let (x_lo, x_hi) = (log(lo), log(hi));

    render(&title, height, |root| {
        let (head, body) = root.split_vertically(head_h);
        draw_header(&head, &title, &legend)?;
        let x_fmt = |v: &f64| crate::time::axis_label(10f64.powf(*v).round() as u64);
        let y_fmt = |v: &f64| format!("{:.0}%", v * 100.0);
        let mut chart = ChartBuilder::on(&body)
            .margin_right(24)
            .margin_top(8)
            .margin_bottom(12)
            .x_label_area_size(X_LABEL_AREA)
            .y_label_area_size(64)
            .build_cartesian_2d(
                TickedAxis::new(x_lo, x_hi, ticks.clone()),
                TickedAxis::new(0.0, 1.04, vec![0.0, 0.25, 0.5, 0.75, 1.0]),
            )?;
        chart
            .configure_mesh()
            .bold_line_style(GRID)
            .light_line_style(TRANSPARENT)
            .x_label_formatter(&x_fmt)
            .y_label_formatter(&y_fmt)
            .x_desc("wait, log scale (Nd = days, HH:MM:SS)")
            .y_desc("started jobs")
            .label_style(font(LABEL_SIZE))
            .axis_desc_style(font(LABEL_SIZE))
            .draw()?;
        for (vc, w) in &waits {
            let n = w.len() as f64;
            let zero = w.iter().take_while(|&&x| x == 0).count();
            let mut pts = vec![(x_lo, zero as f64 / n)];
            // Thousands of steps are more corners than pixels: one per 1/1000 of the axis.
            let mut last_x = f64::NEG_INFINITY;
            let min_dx = (x_hi - x_lo) / 1000.0;
            for (i, &x) in w.iter().enumerate().skip(zero) {
                // Equal waits make one vertical step.
                if w.get(i + 1) == Some(&x) {
                    continue;
                }
                let x = log(x);
                let below = pts.last().map_or(0.0, |p| p.1);
                let y = (i + 1) as f64 / n;
                if x - last_x < min_dx && i + 1 < w.len() {
                    if let Some(p) = pts.last_mut() {
                        p.1 = y;
                    }
                    continue;
                }
                pts.push((x, below));
                pts.push((x, y));
                last_x = x;
            }
            pts.push((x_hi, 1.0));
            chart.draw_series(LineSeries::new(pts, vc_color(names, vc).stroke_width(2)))?;
        }
        Ok(())
    })
}

/// Writes `gantt.svg`, `utilisation.svg` and `wait_cdf.svg` for one run into `dir`
/// (a model's report folder), creating it if needed.
pub fn write_plots(dir: &Path, run: &RunResult) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("gantt.svg"), gantt_svg(run))?;
    std::fs::write(dir.join("utilisation.svg"), utilisation_svg(run))?;
    std::fs::write(dir.join("wait_cdf.svg"), wait_cdf_svg(run))?;
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sim::record::{JobOutcome, JobRecord, PodSpot, SimEvent, TimelinePoint, VcCapacity};

    fn spot(node: &str) -> Vec<PodSpot> {
        vec![PodSpot {
            node: node.into(),
            devices: vec![0],
        }]
    }

    fn job(
        id: &str,
        vc: &str,
        prio: i32,
        submit: u64,
        start: u64,
        end: u64,
        pre: u32,
    ) -> JobRecord {
        JobRecord {
            id: id.into(),
            vc: vc.into(),
            priority: prio,
            gpus: 1,
            submit_ms: submit,
            start_ms: Some(start),
            end_ms: Some(end),
            outcome: JobOutcome::Finished,
            preemptions: pre,
            nodes: vec![],
            gpu_ms: 0,
            requeued_ms: 0,
            wait_by_kind_ms: Default::default(),
        }
    }

    fn timeline(points: &[(u64, u32, u32)], vcs: (&str, &str)) -> Vec<TimelinePoint> {
        points
            .iter()
            .map(|&(t, a, b)| TimelinePoint {
                t,
                busy_by_vc: [(vcs.0.to_string(), a), (vcs.1.to_string(), b)].into(),
                capacity_gpus: 2,
            })
            .collect()
    }

    /// Two nodes with one GPU each, VCs `vc1` and `vc2` (the second named `vc2_name`):
    /// - job-a (vc1, opportunistic) runs on alpha GPU 0 from 0:01:00, is preempted at
    ///   0:06:00 by job-c, restarts at 0:16:00 and finishes at 0:26:00;
    /// - job-b (vc2) runs on beta GPU 0 from 0:02:00 to 0:20:00;
    /// - job-c (vc1, prod) submitted at 0:05:00 runs on alpha GPU 0 from 0:06:00 to 0:16:00.
    pub(crate) fn sample_run_named(model: &str, vc2_name: &str) -> RunResult {
        let m = 60_000;
        let vc2 = vc2_name;
        let started = |t: u64, j: &str, n: &str| SimEvent::GroupStarted {
            t: t * m,
            job: j.into(),
            group: "main".into(),
            pods: spot(n),
        };
        RunResult {
            scenario: "tiny".into(),
            model: model.into(),
            seed: 7,
            end_ms: 26 * m,
            total_gpus: 2,
            vcs: [
                ("vc1".to_string(), VcCapacity { guaranteed_gpus: 1 }),
                (vc2.to_string(), VcCapacity { guaranteed_gpus: 1 }),
            ]
            .into(),
            nodes: vec![("alpha".into(), 1), ("beta".into(), 1)],
            jobs: vec![
                job("job-a", "vc1", -1, 0, m, 26 * m, 1),
                job("job-b", vc2, 0, m, 2 * m, 20 * m, 0),
                job("job-c", "vc1", 100, 5 * m, 6 * m, 16 * m, 0),
            ],
            events: vec![
                SimEvent::JobSubmitted {
                    t: 0,
                    job: "job-a".into(),
                },
                SimEvent::JobSubmitted {
                    t: m,
                    job: "job-b".into(),
                },
                started(1, "job-a", "alpha"),
                started(2, "job-b", "beta"),
                SimEvent::JobSubmitted {
                    t: 5 * m,
                    job: "job-c".into(),
                },
                SimEvent::GroupPreempted {
                    t: 6 * m,
                    job: "job-a".into(),
                    group: "main".into(),
                    by: "job-c".into(),
                    pods: spot("alpha"),
                    suspended: false,
                },
                started(6, "job-c", "alpha"),
                // The engine reports the group's end, then the job's.
                SimEvent::GroupFinished {
                    t: 16 * m,
                    job: "job-c".into(),
                    group: "main".into(),
                    pods: spot("alpha"),
                },
                SimEvent::JobFinished {
                    t: 16 * m,
                    job: "job-c".into(),
                },
                started(16, "job-a", "alpha"),
                SimEvent::JobFinished {
                    t: 20 * m,
                    job: "job-b".into(),
                },
                SimEvent::JobFinished {
                    t: 26 * m,
                    job: "job-a".into(),
                },
            ],
            timeline: timeline(
                &[
                    (m, 1, 0),
                    (2 * m, 1, 1),
                    (6 * m, 1, 1),
                    (16 * m, 1, 1),
                    (20 * m, 1, 0),
                    (26 * m, 0, 0),
                ],
                ("vc1", vc2),
            ),
        }
    }

    pub(crate) fn sample_run(model: &str) -> RunResult {
        sample_run_named(model, "vc2")
    }

    pub(crate) fn empty_run(model: &str) -> RunResult {
        RunResult {
            scenario: "empty".into(),
            model: model.into(),
            seed: 0,
            end_ms: 0,
            total_gpus: 0,
            vcs: BTreeMap::new(),
            nodes: vec![],
            jobs: vec![],
            events: vec![],
            timeline: vec![],
        }
    }

    #[test]
    fn group_runs_follow_the_events() {
        let runs = group_runs(&sample_run("hived"));
        let got: Vec<(&str, u64, u64, RunEnd)> = runs
            .iter()
            .map(|r| {
                (
                    r.job.as_str(),
                    r.start_ms / 60_000,
                    r.end_ms / 60_000,
                    r.end,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("job-a", 1, 6, RunEnd::Preempted),
                ("job-b", 2, 20, RunEnd::Finished),
                ("job-c", 6, 16, RunEnd::Finished),
                ("job-a", 16, 26, RunEnd::Finished),
            ]
        );
    }

    #[test]
    fn node_down_and_horizon_close_runs() {
        let mut run = sample_run("hived");
        run.events.truncate(4); // job-a and job-b started, nothing ended
        run.events.push(SimEvent::NodeDown {
            t: 3 * 60_000,
            node: "beta".into(),
        });
        let ends: Vec<(String, RunEnd, u64)> = group_runs(&run)
            .into_iter()
            .map(|r| (r.job, r.end, r.end_ms))
            .collect();
        assert_eq!(
            ends,
            vec![
                ("job-a".to_string(), RunEnd::Running, run.end_ms),
                ("job-b".to_string(), RunEnd::NodeDown, 3 * 60_000),
            ]
        );
    }

    #[test]
    fn gantt_has_a_lane_per_device_and_a_labelled_bar_per_run() {
        let svg = gantt_svg(&sample_run("hived"));
        let two_vcs = ["vc1".to_string(), "vc2".to_string()];
        assert!(svg.contains(">\nalpha GPU 0\n</text>"), "{svg}");
        assert!(svg.contains(">\nbeta GPU 0\n</text>"));
        assert_eq!(svg.matches(">\njob-a\n</text>").count(), 2);
        assert_eq!(svg.matches(">\njob-b\n</text>").count(), 1);
        assert_eq!(svg.matches(">\njob-c\n</text>").count(), 1);
        // One filled bar per run in its VC's colour, plus the legend swatch; vc1 has two
        // runs of job-a and one of job-c, and the preempted run's label sits on a patch.
        assert_eq!(
            svg.matches(&format!(
                "fill=\"{}\"",
                vc_color_hex(&two_vcs, "vc1").to_uppercase()
            ))
            .count(),
            3 + 1 + 1
        );
        assert_eq!(
            svg.matches(&format!(
                "fill=\"{}\"",
                vc_color_hex(&two_vcs, "vc2").to_uppercase()
            ))
            .count(),
            1 + 1
        );
    }

    #[test]
    fn gantt_marks_the_preempted_run() {
        let svg = gantt_svg(&sample_run("hived"));
        assert!(svg.contains(">\npreempted\n</text>"));
        // The black 2px border appears on the preempted bar and on the legend swatch only.
        let borders = svg
            .lines()
            .filter(|l| {
                l.starts_with("<polyline")
                    && l.contains("stroke=\"#000000\"")
                    && l.contains("stroke-width=\"2\"")
            })
            .count();
        assert_eq!(borders, 2, "{svg}");
        assert!(svg.matches("<polyline").count() > 5, "hatch lines expected");
    }

    #[test]
    fn cdf_has_one_series_per_vc() {
        let svg = wait_cdf_svg(&sample_run("hived"));
        assert!(
            svg.contains(">\nvc1 (2 jobs, 0% no wait)\n</text>"),
            "{svg}"
        );
        assert!(
            svg.contains(">\nvc2 (1 jobs, 0% no wait)\n</text>"),
            "{svg}"
        );
        let series = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.contains("stroke-width=\"2\""))
            .count();
        assert_eq!(series, 2, "{svg}");
    }

    #[test]
    fn utilisation_shows_each_busy_vc_and_capacity() {
        let svg = utilisation_svg(&sample_run("hived"));
        assert_eq!(svg.matches("<polygon").count(), 2);
        assert!(svg.contains(">\ncapacity (2 GPUs)\n</text>"));
        assert!(svg.contains(">\n00:25:00\n</text>"), "{svg}");
    }

    #[test]
    fn output_is_byte_identical_across_calls() {
        let run = sample_run("hived");
        assert_eq!(gantt_svg(&run), gantt_svg(&run));
        assert_eq!(utilisation_svg(&run), utilisation_svg(&run));
        assert_eq!(wait_cdf_svg(&run), wait_cdf_svg(&run));
    }

    #[test]
    fn empty_input_gives_a_no_data_note() {
        let run = empty_run("fifo");
        for svg in [gantt_svg(&run), utilisation_svg(&run), wait_cdf_svg(&run)] {
            assert!(svg.starts_with("<svg"));
            assert!(svg.contains("no data"));
        }
        // Jobs that never ran, over a zero-length run.
        let mut run = sample_run("fifo");
        run.events.clear();
        run.timeline.clear();
        run.end_ms = 0;
        for j in &mut run.jobs {
            j.start_ms = None;
        }
        for svg in [gantt_svg(&run), utilisation_svg(&run), wait_cdf_svg(&run)] {
            assert!(svg.contains("no data"));
        }
    }

    #[test]
    fn vc_names_are_escaped_in_svg() {
        let run = sample_run_named("hived", "<vc&1>");
        for svg in [gantt_svg(&run), utilisation_svg(&run), wait_cdf_svg(&run)] {
            assert!(!svg.contains("<vc&1>"));
            assert!(svg.contains("&lt;vc&amp;1&gt;"));
        }
    }

    #[test]
    fn time_ticks_are_round() {
        let t = time_ticks(26 * 60_000);
        assert_eq!(t.len(), 6);
        assert_eq!(t[1], 300_000.0);
        assert_eq!(time_ticks(0), vec![0.0, 1.0]);
        // See: issue 16: a 99-day run reads in days, two weeks apart, not `2376:00:00`.
        let days = time_ticks(99 * crate::time::DAY_MS);
        assert_eq!(days[1], (14 * crate::time::DAY_MS) as f64);
        assert_eq!(crate::time::axis_label(days[1] as u64), "14d");
    }

    #[test]
    fn write_plots_writes_three_files() {
        let dir = std::env::temp_dir().join(format!("cellsim-plots-{}", std::process::id()));
        write_plots(&dir, &sample_run("hived")).unwrap();
        for f in ["gantt.svg", "utilisation.svg", "wait_cdf.svg"] {
            assert!(
                std::fs::read_to_string(dir.join(f))
                    .unwrap()
                    .starts_with("<svg")
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
