//! Latency-by-percentile charts as standalone, hand-written SVG.
//!
//! The x axis is log10(1/(1-p)), so 90 %, 99 %, 99.9 %, ... are equally spaced and the tail gets
//! as much room as the median; the y axis is latency in µs, linear from zero.

use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use crate::report::{PercentilePoint, Report};

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 560.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 30.0;
const TOP: f64 = 60.0;
const BOTTOM: f64 = 70.0;
/// Decades of 1/(1-p) on the x axis: 0 to 99.999 %.
const DECADES: u32 = 5;
/// Distinct colours for up to eight runs (they repeat after that).
const COLOURS: [&str; 8] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
];

/// One curve: a run's name and its percentile points.
#[derive(Debug, Clone, Deserialize)]
pub struct Series {
    /// Legend entry.
    pub label: String,
    /// Points as in the JSON report.
    pub percentiles: Vec<PercentilePoint>,
}

impl From<&Report> for Series {
    fn from(report: &Report) -> Self {
        Self {
            label: report.label.clone(),
            percentiles: report.percentiles.clone(),
        }
    }
}

/// Reads saved `--json` outputs. Only `label` and `percentiles` are needed, so files from a
/// newer layout with extra fields still plot.
pub fn load_runs(paths: &[impl AsRef<Path>]) -> Result<Vec<Series>, String> {
    paths
        .iter()
        .map(|path| {
            let path = path.as_ref();
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("reading {}: {e}", path.display()))?;
            serde_json::from_str(&text).map_err(|e| {
                format!(
                    "{} is not an omnia-loadtest --json result: {e}",
                    path.display()
                )
            })
        })
        .collect()
}

/// Renders the curves into one SVG document.
pub fn render(title: &str, series: &[Series]) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max_latency = series
        .iter()
        .flat_map(|s| s.percentiles.iter())
        .filter(|p| in_range(p.percentile))
        .map(|p| p.latency_us)
        .max()
        .unwrap_or(0);
    let (y_max, y_step) = nice_axis(max_latency as f64);
    let x_of = |percentile: f64| LEFT + decades(percentile) / f64::from(DECADES) * plot_w;
    let y_of = |us: f64| TOP + plot_h - us / y_max * plot_h;

    let mut svg = String::with_capacity(16 * 1024);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="13">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="32" text-anchor="middle" font-size="18" font-weight="bold">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );

    // Vertical grid: one line per decade, labelled with its percentile.
    svg.push_str("<g stroke=\"#dddddd\" stroke-width=\"1\">\n");
    for decade in 0..=DECADES {
        let x = LEFT + f64::from(decade) / f64::from(DECADES) * plot_w;
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}"/>"#,
            TOP + plot_h
        );
    }
    // Horizontal grid: one line per latency tick.
    let mut tick = 0.0;
    while tick <= y_max + y_step / 2.0 {
        let y = y_of(tick);
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
            LEFT + plot_w
        );
        tick += y_step;
    }
    svg.push_str("</g>\n");

    svg.push_str("<g fill=\"#333333\">\n");
    for decade in 0..=DECADES {
        let x = LEFT + f64::from(decade) / f64::from(DECADES) * plot_w;
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            TOP + plot_h + 20.0,
            decade_label(decade)
        );
    }
    let mut tick = 0.0;
    while tick <= y_max + y_step / 2.0 {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y_of(tick) + 4.0,
            tick_label(tick)
        );
        tick += y_step;
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="14">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 20.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="22" y="{:.1}" text-anchor="middle" font-size="14" transform="rotate(-90 22 {:.1})">latency (µs)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    svg.push_str("</g>\n");
    let _ = writeln!(
        svg,
        r##"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333333"/>"##
    );

    for (index, run) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let mut d = String::new();
        for point in run.percentiles.iter().filter(|p| in_range(p.percentile)) {
            let command = if d.is_empty() { 'M' } else { 'L' };
            let _ = write!(
                d,
                "{command}{:.1},{:.1} ",
                x_of(point.percentile),
                y_of(point.latency_us as f64)
            );
        }
        if !d.is_empty() {
            let _ = writeln!(
                svg,
                r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
                d.trim_end()
            );
        }
    }

    // Legend in the top-left corner, where latency curves are lowest.
    let legend_h = 10.0 + 20.0 * series.len() as f64;
    let legend_w = 20.0
        + 8.0
            * series
                .iter()
                .map(|s| s.label.chars().count())
                .max()
                .unwrap_or(0) as f64
        + 40.0;
    let _ = writeln!(
        svg,
        r##"<g class="legend"><rect x="{:.1}" y="{:.1}" width="{legend_w:.1}" height="{legend_h:.1}" fill="white" fill-opacity="0.9" stroke="#999999"/>"##,
        LEFT + 12.0,
        TOP + 12.0
    );
    for (index, run) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let y = TOP + 12.0 + 20.0 * (index as f64 + 1.0);
        let x = LEFT + 22.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{y:.1}">{}</text>"#,
            y - 4.0,
            x + 24.0,
            y - 4.0,
            x + 32.0,
            escape(&run.label)
        );
    }
    svg.push_str("</g>\n</svg>\n");
    svg
}

/// Whether a percentile falls on the x axis (0 to 99.999 %, allowing float rounding).
fn in_range(percentile: f64) -> bool {
    (0.0..=100.0 - 10f64.powi(-(DECADES as i32)) * 100.0 + 1e-9).contains(&percentile)
}

/// log10(1/(1-p)) for a percentile p in percent.
fn decades(percentile: f64) -> f64 {
    let rest = (1.0 - percentile / 100.0).max(10f64.powi(-(DECADES as i32)));
    -rest.log10()
}

fn decade_label(decade: u32) -> &'static str {
    match decade {
        0 => "0%",
        1 => "90%",
        2 => "99%",
        3 => "99.9%",
        4 => "99.99%",
        _ => "99.999%",
    }
}

fn tick_label(us: f64) -> String {
    format!("{}", us.round() as u64)
}

/// A rounded axis maximum and tick step (1, 2 or 5 times a power of ten, about five ticks).
fn nice_axis(max: f64) -> (f64, f64) {
    if max <= 0.0 {
        return (1.0, 1.0);
    }
    let rough = max / 5.0;
    let magnitude = 10f64.powf(rough.log10().floor());
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|step| *step >= rough)
        .unwrap_or(10.0 * magnitude)
        .max(1.0);
    ((max / step).ceil() * step, step)
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(label: &str, scale: u64) -> Series {
        let percentiles = (0u32..=100)
            .map(|k| {
                let quantile = 1.0 - 10f64.powf(-f64::from(k) / 20.0);
                PercentilePoint {
                    percentile: quantile * 100.0,
                    latency_us: scale * (1 + u64::from(k)),
                }
            })
            .collect();
        Series {
            label: label.to_owned(),
            percentiles,
        }
    }

    /// Checks that every tag is closed in order: enough "XML-ish" to catch broken output.
    fn assert_balanced(svg: &str) {
        let mut stack = Vec::new();
        let mut rest = svg;
        while let Some(open) = rest.find('<') {
            let close = rest[open..].find('>').expect("unterminated tag") + open;
            let tag = &rest[open + 1..close];
            let name: String = tag
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            if tag.starts_with('/') {
                assert_eq!(stack.pop().as_deref(), Some(name.as_str()), "bad </{name}>");
            } else if !tag.ends_with('/') {
                stack.push(name);
            }
            rest = &rest[close + 1..];
        }
        assert!(stack.is_empty(), "unclosed: {stack:?}");
    }

    #[test]
    fn two_runs_make_a_well_formed_chart_with_a_legend() {
        let svg = render(
            "nginx <vs> gateway",
            &[series("nginx", 10), series("gateway & co", 7)],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_balanced(&svg);
        assert_eq!(svg.matches("<path d=\"M").count(), 2);
        let path = svg.split("<path d=\"").nth(1).unwrap();
        assert!(path.split('"').next().unwrap().matches('L').count() >= 100);
        assert!(svg.contains("class=\"legend\""));
        assert!(svg.contains(">nginx</text>"));
        assert!(svg.contains(">gateway &amp; co</text>"));
        assert!(svg.contains("nginx &lt;vs&gt; gateway"));
        for label in ["99.9%", "99.999%", "latency (µs)", "percentile"] {
            assert!(svg.contains(label), "missing {label}");
        }
    }

    #[test]
    fn saved_reports_load_by_label_and_percentiles() {
        let dir = std::env::temp_dir().join(format!("omnia-loadtest-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("run.json");
        std::fs::write(
            &file,
            r#"{"label":"a","percentiles":[{"percentile":50.0,"latency_us":9}],"extra":1}"#,
        )
        .unwrap();
        let runs = load_runs(&[&file]).unwrap();
        assert_eq!(runs[0].label, "a");
        assert_eq!(runs[0].percentiles[0].latency_us, 9);
        std::fs::write(&file, "{}").unwrap();
        assert!(load_runs(&[&file]).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn axis_ticks_are_round_numbers() {
        assert_eq!(nice_axis(930.0), (1000.0, 200.0));
        assert_eq!(nice_axis(4.0), (4.0, 1.0));
        assert_eq!(nice_axis(0.0), (1.0, 1.0));
        assert!((decades(99.9) - 3.0).abs() < 1e-9);
        assert!(decades(0.0).abs() < 1e-12);
    }
}
