//! `plot`: turns a JSON file of measured growth curves into one SVG of small multiples per
//! curve, a Markdown table per curve, and each series' growth rate over its last two
//! points. It reads one file and writes others; it never talks to a broker and measures
//! nothing itself, so the numbers on a plot are only ever the ones in the file.
//!
//! The SVG uses no font library: text is written as `<text>` elements and the viewer
//! picks the font, so plotters' layout of labels is an estimate; the panel sizes below
//! leave room for that.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{ensure, Context};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::{Deserialize, Serialize};

use crate::PlotCmd;

/// A set of growth curves measured in one sitting.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Curves {
    /// When and where: free text, e.g. "2026-12-03, 2 cores, load 1.2".
    pub sitting: String,
    pub curves: Vec<Curve>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Curve {
    /// Short id used in file names, e.g. "partitions".
    pub name: String,
    /// Title, e.g. "Cost as partitions grow".
    pub title: String,
    /// What x counts, e.g. "partitions".
    pub x_label: String,
    pub x: Vec<f64>,
    pub series: Vec<Series>,
    /// Its own sitting, when it was measured apart from the rest of the set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sitting: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    /// e.g. "produce throughput"
    pub name: String,
    /// e.g. "MB/s", "ms", "MB", "files", "s"
    pub unit: String,
    /// One value per x; None where not measured (e.g. a run failed).
    pub values: Vec<Option<f64>>,
}

/// One panel per series, this many side by side.
const COLUMNS: usize = 2;
/// Pixels of one panel.
const PANEL: (u32, u32) = (480, 320);
/// Pixels above the panels for the title and the sitting.
const HEADER: u32 = 64;
/// The x axis reaches this factor past the outermost points, so their markers are whole.
const X_MARGIN: f64 = 1.5;
/// At most this many labelled values on the x axis.
const MAX_X_TICKS: usize = 8;
/// Series colours, panel by panel.
const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(140, 86, 75),
];

impl Curves {
    /// Reads a curves file and checks every curve can be drawn.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let curves: Self = serde_json::from_str(&text)
            .with_context(|| format!("parsing {} as growth curves", path.display()))?;
        for curve in &curves.curves {
            curve
                .check()
                .with_context(|| format!("curve {:?} in {}", curve.name, path.display()))?;
        }
        Ok(curves)
    }
}

impl Curve {
    /// Rejects what a log x axis cannot show, values that do not line up with x, and a
    /// name that would put the SVG outside the out-dir.
    pub fn check(&self) -> anyhow::Result<()> {
        ensure!(
            !self.name.is_empty()
                && !self.name.starts_with('.')
                && self
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)),
            "the name must be a plain file name (letters, digits, '-', '_', '.')"
        );
        ensure!(!self.x.is_empty(), "no x values");
        ensure!(!self.series.is_empty(), "no series");
        for &x in &self.x {
            ensure!(
                x.is_finite() && x > 0.0,
                "x = {x}: the x axis is logarithmic, every x must be > 0"
            );
        }
        for series in &self.series {
            ensure!(
                series.values.len() == self.x.len(),
                "series {:?} has {} values for {} x values",
                series.name,
                series.values.len(),
                self.x.len()
            );
            ensure!(
                series.values.iter().flatten().all(|v| v.is_finite()),
                "series {:?} has a value that is not a finite number",
                series.name
            );
        }
        Ok(())
    }

    /// The measured points of one series, in the order of x.
    fn points(&self, series: &Series) -> Vec<(f64, f64)> {
        self.x
            .iter()
            .zip(&series.values)
            .filter_map(|(&x, v)| v.map(|y| (x, y)))
            .collect()
    }
}

/// `aeon-bench plot`: an SVG per curve in `--out-dir`, the tables on stdout.
pub fn run(cmd: &PlotCmd) -> anyhow::Result<()> {
    let curves = Curves::load(&cmd.input)?;
    render(&curves, &cmd.out_dir)?;
    let link_prefix = cmd
        .link_prefix
        .clone()
        .unwrap_or_else(|| cmd.out_dir.display().to_string());
    print!("{}", report(&curves, &link_prefix));
    Ok(())
}

/// Writes `<dir>/<name>.svg` for every curve (creating `dir`); returns the paths.
pub fn render(curves: &Curves, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::with_capacity(curves.curves.len());
    for curve in &curves.curves {
        let svg = svg(curve, curve.sitting.as_deref().unwrap_or(&curves.sitting))
            .with_context(|| format!("drawing curve {:?}", curve.name))?;
        let path = dir.join(format!("{}.svg", curve.name));
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// What `plot` prints: per curve a heading, the table, the link to its SVG and the growth
/// of each series.
pub fn report(curves: &Curves, link_prefix: &str) -> String {
    let prefix = link_prefix.trim_end_matches('/');
    let mut out = format!("Sitting: {}\n", curves.sitting);
    for curve in &curves.curves {
        let growths: Vec<String> = (0..curve.series.len())
            .map(|i| {
                let slope = growth(curve, i).map_or_else(|| "-".to_string(), |g| format!("{g:.2}"));
                format!("{} {slope}", curve.series[i].name)
            })
            .collect();
        let own = curve
            .sitting
            .as_ref()
            .map_or_else(String::new, |s| format!("Sitting: {s}\n\n"));
        let _ = write!(
            out,
            "\n### {title}\n\n{own}{table}\n![{title}]({prefix}/{name}.svg)\n\n\
             growth (log-log slope, last two points): {growths}\n",
            title = curve.title,
            table = markdown(curve),
            name = curve.name,
            growths = growths.join(", "),
        );
    }
    out
}

/// A Markdown table: x, then one column per series headed "name (unit)"; "-" where a
/// value was not measured.
pub fn markdown(curve: &Curve) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut out = format!("| {} |", cell(&curve.x_label));
    for series in &curve.series {
        let _ = write!(out, " {} ({}) |", cell(&series.name), cell(&series.unit));
    }
    out.push_str("\n|");
    for _ in 0..=curve.series.len() {
        out.push_str(" ---: |");
    }
    out.push('\n');
    for (i, &x) in curve.x.iter().enumerate() {
        let _ = write!(out, "| {} |", format_x(x));
        for series in &curve.series {
            let value = series.values.get(i).copied().flatten();
            let _ = write!(out, " {} |", value.map_or_else(|| "-".into(), format_value));
        }
        out.push('\n');
    }
    out
}

/// The log-log slope (d ln y / d ln x) of a series between its last two measured points:
/// 1.0 grows like x, 0.0 stays flat, above 1.0 grows faster than linear. `None` without
/// two measured points, or where a logarithm is undefined (a value <= 0, equal x).
pub fn growth(curve: &Curve, series: usize) -> Option<f64> {
    let points = curve.points(curve.series.get(series)?);
    let [.., (x1, y1), (x2, y2)] = points[..] else {
        return None;
    };
    if x1 <= 0.0 || x2 <= 0.0 || y1 <= 0.0 || y2 <= 0.0 || x1 == x2 {
        return None;
    }
    Some((y2 / y1).ln() / (x2 / x1).ln())
}

/// A number for a table: no decimals from 100 up, two below, two significant digits under 1.
fn format_value(v: f64) -> String {
    let magnitude = v.abs();
    if magnitude >= 100.0 || !v.is_finite() {
        format!("{v:.0}")
    } else if magnitude >= 1.0 || v == 0.0 {
        format!("{v:.2}")
    } else {
        let decimals = (1 - magnitude.log10().floor() as i32).clamp(2, 12) as usize;
        format!("{v:.decimals$}")
    }
}

/// x is usually a count: whole numbers without decimals, `1e6` style from a million up.
fn format_x(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e6 {
        format!("{x:.0}")
    } else if x.abs() >= 1e6 {
        format!("{x:e}")
    } else {
        format_value(x)
    }
}

/// The SVG of one curve: its title and the sitting on top, then one panel per series.
pub fn svg(curve: &Curve, sitting: &str) -> anyhow::Result<String> {
    let columns = curve.series.len().clamp(1, COLUMNS);
    let rows = curve.series.len().div_ceil(COLUMNS).max(1);
    let size = (PANEL.0 * columns as u32, HEADER + PANEL.1 * rows as u32);
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        root.fill(&WHITE)?;
        let (header, body) = root.split_vertically(HEADER);
        let centre = size.0 as i32 / 2;
        let top = Pos::new(HPos::Center, VPos::Top);
        header.draw_text(
            &curve.title,
            &(
                "sans-serif",
                fitting_size(&curve.title, size.0 - 20, 24, 0.62),
            )
                .into_font()
                .style(FontStyle::Bold)
                .into_text_style(&header)
                .pos(top),
            (centre, 10),
        )?;
        header.draw_text(
            sitting,
            &("sans-serif", 14)
                .into_font()
                .color(&BLACK.mix(0.6))
                .pos(top),
            (centre, 42),
        )?;
        let panels = body.split_evenly((rows, columns));
        for (i, (series, area)) in curve.series.iter().zip(&panels).enumerate() {
            draw_panel(area, curve, series, COLOURS[i % COLOURS.len()])?;
        }
        root.present()?;
    }
    Ok(out)
}

/// One series: log x over the curve's whole x range, linear y from 0 (or the lowest
/// value, if negative) to 110% of the highest; a gap in the line where a value is missing.
fn draw_panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    curve: &Curve,
    series: &Series,
    colour: RGBColor,
) -> anyhow::Result<()> {
    let (x_lo, x_hi) = curve
        .x
        .iter()
        .fold((f64::INFINITY, 0.0_f64), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let (x_lo, x_hi) = (x_lo / X_MARGIN, x_hi * X_MARGIN);
    let points = curve.points(series);
    let y_hi = points.iter().map(|p| p.1).fold(0.0, f64::max);
    let y_lo = points.iter().map(|p| p.1).fold(0.0, f64::min);
    let y_hi = if y_hi > 0.0 { y_hi * 1.1 } else { 1.0 };
    let caption = format!("{} ({})", series.name, series.unit);

    let mut chart = ChartBuilder::on(area)
        .caption(
            &caption,
            ("sans-serif", fitting_size(&caption, PANEL.0 - 24, 18, 0.5)),
        )
        .margin(12)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (x_lo..x_hi)
                .log_scale()
                .with_key_points(x_ticks(x_lo, x_hi, &curve.x)),
            (y_lo * 1.1)..y_hi,
        )?;
    chart
        .configure_mesh()
        .x_desc(&curve.x_label)
        .x_label_formatter(&|x| format_x(*x))
        .y_labels(6)
        .y_label_formatter(&|y| format_tick(*y))
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 13))
        .light_line_style(TRANSPARENT)
        .bold_line_style(BLACK.mix(0.12))
        .draw()?;

    for run in runs(curve, series) {
        chart.draw_series(LineSeries::new(run, colour.stroke_width(2)))?;
    }
    chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
    if points.is_empty() {
        let middle = ((x_lo * x_hi).sqrt(), (y_lo * 1.1 + y_hi) / 2.0);
        let style = ("sans-serif", 15)
            .into_font()
            .color(&BLACK.mix(0.6))
            .pos(Pos::new(HPos::Center, VPos::Center));
        chart
            .plotting_area()
            .draw(&Text::new("no value measured", middle, style))?;
    }
    Ok(())
}

/// Labelled x values: the measured x while they are few, else the powers of ten in range.
fn x_ticks(lo: f64, hi: f64, xs: &[f64]) -> Vec<f64> {
    let mut measured = xs.to_vec();
    measured.sort_by(f64::total_cmp);
    measured.dedup();
    if measured.len() <= MAX_X_TICKS {
        return measured;
    }
    let decades: Vec<f64> = (lo.log10().ceil() as i32..=hi.log10().floor() as i32)
        .map(|e| 10f64.powi(e))
        .collect();
    let step = decades.len().div_ceil(MAX_X_TICKS).max(1);
    decades.into_iter().step_by(step).collect()
}

/// The largest font size up to `max` at which `text` fits in `width` pixels. Without a
/// font library the width is a guess: about `em` of the size per character.
fn fitting_size(text: &str, width: u32, max: u32, em: f64) -> u32 {
    let fits = f64::from(width) / (em * text.chars().count().max(1) as f64);
    (fits.floor() as u32).clamp(10, max)
}

/// A y tick: plain, without the float noise of a computed step (0.30000000000000004).
fn format_tick(y: f64) -> String {
    let s = format!("{:.6}", y);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// The measured points as runs of consecutive values; a missing value ends a run.
fn runs(curve: &Curve, series: &Series) -> Vec<Vec<(f64, f64)>> {
    let mut runs = vec![Vec::new()];
    for (&x, value) in curve.x.iter().zip(&series.values) {
        match value {
            Some(y) => runs.last_mut().map_or((), |run| run.push((x, *y))),
            None => runs.push(Vec::new()),
        }
    }
    runs.retain(|run| run.len() >= 2);
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Curves {
        Curves {
            sitting: "2026-12-03, 2 cores".into(),
            curves: vec![Curve {
                name: "partitions".into(),
                title: "Cost as partitions grow".into(),
                x_label: "partitions".into(),
                x: vec![1.0, 10.0, 100.0],
                series: vec![
                    Series {
                        name: "produce throughput".into(),
                        unit: "MB/s".into(),
                        values: vec![Some(85.2), Some(84.0), None],
                    },
                    Series {
                        name: "RSS".into(),
                        unit: "MB".into(),
                        values: vec![Some(40.0), Some(120.4), Some(1234.0)],
                    },
                    Series {
                        name: "p99 latency".into(),
                        unit: "ms".into(),
                        values: vec![Some(0.0123), Some(0.5), Some(3.0)],
                    },
                ],
                sitting: None,
            }],
        }
    }

    #[test]
    fn markdown_table_has_a_column_per_series_and_a_dash_where_not_measured() {
        let curves = sample();
        assert_eq!(
            markdown(&curves.curves[0]),
            "| partitions | produce throughput (MB/s) | RSS (MB) | p99 latency (ms) |\n\
             | ---: | ---: | ---: | ---: |\n\
             | 1 | 85.20 | 40.00 | 0.012 |\n\
             | 10 | 84.00 | 120 | 0.50 |\n\
             | 100 | - | 1234 | 3.00 |\n"
        );
    }

    #[test]
    fn growth_of_a_square_is_a_slope_of_two() {
        let curve = Curve {
            name: "square".into(),
            title: "y = x^2".into(),
            x_label: "x".into(),
            x: vec![1.0, 10.0, 100.0, 1000.0],
            series: vec![Series {
                name: "y".into(),
                unit: "".into(),
                values: vec![Some(1.0), Some(100.0), Some(10_000.0), None],
            }],
            sitting: None,
        };
        let slope = growth(&curve, 0).unwrap();
        assert!((slope - 2.0).abs() < 1e-12, "slope {slope}");
        assert_eq!(growth(&curve, 1), None);
    }

    #[test]
    fn growth_needs_two_positive_measured_points() {
        let curves = sample();
        let curve = &curves.curves[0];
        // throughput: last measured points are x = 1 and 10.
        let flat = growth(curve, 0).unwrap();
        assert!(flat.abs() < 0.01, "slope {flat}");
        let mut curve = curve.clone();
        curve.series[1].values = vec![None, None, Some(5.0)];
        assert_eq!(growth(&curve, 1), None);
    }

    #[test]
    fn report_links_each_svg_under_the_prefix_and_ends_with_growth() {
        let text = report(&sample(), "plots/");
        assert!(text.starts_with("Sitting: 2026-12-03, 2 cores\n"));
        assert!(text.contains("\n### Cost as partitions grow\n\n| partitions |"));
        assert!(text.contains("\n![Cost as partitions grow](plots/partitions.svg)\n"));
        assert!(text.ends_with(
            "growth (log-log slope, last two points): \
             produce throughput -0.01, RSS 1.01, p99 latency 0.78\n"
        ));
    }

    #[test]
    fn rendering_writes_an_svg_per_curve_naming_every_series() {
        let dir = tempfile::tempdir().unwrap();
        let paths = render(&sample(), &dir.path().join("out")).unwrap();
        assert_eq!(paths, vec![dir.path().join("out/partitions.svg")]);
        let svg = std::fs::read_to_string(&paths[0]).unwrap();
        assert!(svg.contains("<svg"));
        for name in ["produce throughput (MB/s)", "RSS (MB)", "p99 latency (ms)"] {
            assert!(svg.contains(name), "{name} missing");
        }
        assert!(svg.contains("Cost as partitions grow"));
    }

    #[test]
    fn curves_a_log_axis_cannot_show_are_rejected() {
        let mut curve = sample().curves[0].clone();
        assert!(curve.check().is_ok());
        curve.x[0] = 0.0;
        assert!(curve.check().is_err());
        let mut curve = sample().curves[0].clone();
        curve.series[0].values.pop();
        assert!(curve.check().is_err());
        let mut curve = sample().curves[0].clone();
        curve.name = "../escape".into();
        assert!(curve.check().is_err());
    }
}
