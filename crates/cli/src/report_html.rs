//! HTML for the rollout reports (readiness, touch map, metrics): one self-contained page
//! per report, charts drawn as inline SVG.
//!
//! The pages are read by people who may open them offline, from an archive, months later:
//! no external assets, no JavaScript, no web fonts. Everything the page shows is in the
//! HTML text itself, so it also survives printing and diffing.

use std::fmt::Write as _;

use clap::ValueEnum;

/// How a report is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    #[default]
    Text,
    Json,
    Html,
}

/// Escape text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body { font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; color: #1d2433;
       margin: 0; background: #f5f6f8; }
main { max-width: 1100px; margin: 0 auto; padding: 28px 32px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 10px; border-bottom: 1px solid #d8dce3; padding-bottom: 4px; }
p.sub { color: #5b6475; margin: 0 0 18px; }
.badge { display: inline-block; padding: 2px 10px; border-radius: 10px; font-weight: 600;
         font-size: 13px; }
.ok { background: #dff3e4; color: #17622d; }
.bad { background: #fbe3e1; color: #9b1c12; }
.warn { background: #fdf1d6; color: #7a5200; }
.muted { background: #e8eaef; color: #4a5263; }
table { border-collapse: collapse; width: 100%; background: #fff; border: 1px solid #d8dce3; }
th, td { text-align: left; vertical-align: top; padding: 7px 10px; border-bottom: 1px solid #e6e9ee; }
th { background: #eef0f4; font-size: 13px; color: #3a4254; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font: 13px ui-monospace, 'SFMono-Regular', Menlo, monospace; background: #eef0f4;
       padding: 0 3px; border-radius: 3px; word-break: break-all; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(160px, 1fr)); gap: 10px; }
.card { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: 10px 12px; }
.card .v { font-size: 24px; font-weight: 650; }
.card .l { font-size: 12px; color: #5b6475; }
.chart { background: #fff; border: 1px solid #d8dce3; border-radius: 6px; padding: 8px 10px;
         margin-bottom: 14px; }
.chart h3 { font-size: 14px; margin: 2px 0 4px; }
svg text { font: 11px system-ui, sans-serif; fill: #3a4254; }
ul.plain { margin: 4px 0; padding-left: 18px; }
";

/// A whole page around `body` (already HTML).
pub fn page(title: &str, subtitle: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{STYLE}</style></head>\n<body><main>\n<h1>{t}</h1>\
         <p class=\"sub\">{s}</p>\n{body}\n</main></body></html>\n",
        t = escape(title),
        s = escape(subtitle),
    )
}

/// A status badge: `class` is one of `ok`, `bad`, `warn`, `muted`.
pub fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {class}\">{}</span>", escape(text))
}

/// Summary cards: (value, label).
pub fn cards(items: &[(String, &str)]) -> String {
    let mut out = String::from("<div class=\"cards\">");
    for (value, label) in items {
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"v\">{}</div><div class=\"l\">{}</div></div>",
            escape(value),
            escape(label)
        );
    }
    out.push_str("</div>");
    out
}

/// A table; cells are HTML already (escape text with [`escape`]).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<table><thead><tr>");
    for header in headers {
        let _ = write!(out, "<th>{}</th>", escape(header));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

/// Series colours, chosen to stay apart for the common colour-vision deficiencies.
pub const COLOURS: [&str; 6] = [
    "#3b7dd8", "#d9534f", "#f0ad4e", "#6f42c1", "#2e9d6a", "#8a8f98",
];

const CHART_W: f64 = 1000.0;
const CHART_H: f64 = 220.0;
const LEFT: f64 = 46.0;
const RIGHT: f64 = 12.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 40.0;

fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let magnitude = 10f64.powf(max.log10().floor());
    // Steps that divide into four round ticks.
    for step in [1.0, 2.0, 4.0, 6.0, 8.0, 10.0] {
        if max <= step * magnitude {
            return step * magnitude;
        }
    }
    10.0 * magnitude
}

fn legend(out: &mut String, names: &[&str]) {
    let mut x = LEFT;
    for (index, name) in names.iter().enumerate() {
        let colour = COLOURS
            .get(index % COLOURS.len())
            .copied()
            .unwrap_or("#000");
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{tx:.1}\" y=\"{ty:.1}\">{}</text>",
            escape(name),
            y = CHART_H - 12.0,
            tx = x + 14.0,
            ty = CHART_H - 3.0,
        );
        x += 24.0 + 7.0 * name.chars().count() as f64;
    }
}

fn axes(out: &mut String, max: f64, unit: &str) {
    for step in 0..=4 {
        let value = max * f64::from(step) / 4.0;
        let y = TOP + (CHART_H - TOP - BOTTOM) * (1.0 - f64::from(step) / 4.0);
        let _ = write!(
            out,
            "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e3e6eb\"/>\
             <text x=\"{tx}\" y=\"{ty:.1}\" text-anchor=\"end\">{label}{unit}</text>",
            x2 = CHART_W - RIGHT,
            tx = LEFT - 6.0,
            ty = y + 4.0,
            label = format_tick(value),
        );
    }
}

fn format_tick(value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

fn day_labels(out: &mut String, days: &[String], slot: f64) {
    // At most ~12 labels, so long ranges stay readable.
    let every = days.len().div_ceil(12).max(1);
    for (index, day) in days.iter().enumerate() {
        if index % every != 0 {
            continue;
        }
        let x = LEFT + slot * (index as f64 + 0.5);
        let label = day.get(5..).unwrap_or(day);
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"middle\">{}</text>",
            escape(label),
            y = CHART_H - BOTTOM + 14.0,
        );
    }
}

/// A stacked bar chart over days: `series` are (name, one value per day).
pub fn stacked_bars(title: &str, days: &[String], series: &[(&str, Vec<f64>)]) -> String {
    let mut out = format!(
        "<div class=\"chart\"><h3>{}</h3><svg class=\"chart-svg\" viewBox=\"0 0 {CHART_W} {CHART_H}\" \
         width=\"100%\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title),
        escape(title)
    );
    let totals: Vec<f64> = (0..days.len())
        .map(|d| {
            series
                .iter()
                .map(|(_, v)| v.get(d).copied().unwrap_or(0.0))
                .sum()
        })
        .collect();
    let max = nice_max(totals.iter().copied().fold(0.0, f64::max));
    axes(&mut out, max, "");
    let plot_h = CHART_H - TOP - BOTTOM;
    let slot = (CHART_W - LEFT - RIGHT) / days.len().max(1) as f64;
    let width = (slot * 0.7).clamp(2.0, 60.0);
    for (d, day) in days.iter().enumerate() {
        let mut base = CHART_H - BOTTOM;
        let x = LEFT + slot * d as f64 + (slot - width) / 2.0;
        for (index, (name, values)) in series.iter().enumerate() {
            let value = values.get(d).copied().unwrap_or(0.0);
            if value <= 0.0 {
                continue;
            }
            let h = plot_h * value / max;
            base -= h;
            let colour = COLOURS
                .get(index % COLOURS.len())
                .copied()
                .unwrap_or("#000");
            let _ = write!(
                out,
                "<rect class=\"bar\" x=\"{x:.1}\" y=\"{base:.1}\" width=\"{width:.1}\" \
                 height=\"{h:.1}\" fill=\"{colour}\"><title>{}: {} {}</title></rect>",
                escape(day),
                format_tick(value),
                escape(name)
            );
        }
    }
    day_labels(&mut out, days, slot);
    legend(
        &mut out,
        &series.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
    );
    out.push_str("</svg></div>");
    out
}

/// A line chart over days: `series` are (name, one value per day; `None` = no data).
pub fn lines(
    title: &str,
    unit: &str,
    days: &[String],
    series: &[(&str, Vec<Option<f64>>)],
) -> String {
    let mut out = format!(
        "<div class=\"chart\"><h3>{}</h3><svg class=\"chart-svg\" viewBox=\"0 0 {CHART_W} {CHART_H}\" \
         width=\"100%\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title),
        escape(title)
    );
    let max = nice_max(
        series
            .iter()
            .flat_map(|(_, v)| v.iter().flatten().copied())
            .fold(0.0, f64::max),
    );
    axes(&mut out, max, unit);
    let plot_h = CHART_H - TOP - BOTTOM;
    let slot = (CHART_W - LEFT - RIGHT) / days.len().max(1) as f64;
    for (index, (name, values)) in series.iter().enumerate() {
        let colour = COLOURS
            .get(index % COLOURS.len())
            .copied()
            .unwrap_or("#000");
        let points: Vec<(f64, f64, f64)> = values
            .iter()
            .enumerate()
            .filter_map(|(d, v)| {
                v.map(|v| {
                    (
                        LEFT + slot * (d as f64 + 0.5),
                        CHART_H - BOTTOM - plot_h * v / max,
                        v,
                    )
                })
            })
            .collect();
        if points.len() > 1 {
            let path: Vec<String> = points
                .iter()
                .map(|(x, y, _)| format!("{x:.1},{y:.1}"))
                .collect();
            let _ = write!(
                out,
                "<polyline class=\"line\" points=\"{}\" fill=\"none\" stroke=\"{colour}\" \
                 stroke-width=\"2\"/>",
                path.join(" ")
            );
        }
        for (x, y, v) in &points {
            let _ = write!(
                out,
                "<circle class=\"dot\" cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"3.5\" fill=\"{colour}\">\
                 <title>{}: {}{unit}</title></circle>",
                escape(name),
                format_tick(*v)
            );
        }
    }
    day_labels(&mut out, days, slot);
    legend(
        &mut out,
        &series.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
    );
    out.push_str("</svg></div>");
    out
}

/// Horizontal bars for a ranking (e.g. per-tool use): (label, value).
pub fn ranking(title: &str, items: &[(String, f64)]) -> String {
    let row_h = 22.0;
    let label_w = 280.0;
    let height = TOP + row_h * items.len().max(1) as f64 + 8.0;
    let mut out = format!(
        "<div class=\"chart\"><h3>{}</h3><svg class=\"chart-svg\" viewBox=\"0 0 {CHART_W} {height:.0}\" \
         width=\"100%\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title),
        escape(title)
    );
    let max = nice_max(items.iter().map(|(_, v)| *v).fold(0.0, f64::max));
    let span = CHART_W - label_w - 60.0;
    for (index, (label, value)) in items.iter().enumerate() {
        let y = TOP + row_h * index as f64;
        let w = (span * value / max).max(1.0);
        let _ = write!(
            out,
            "<text x=\"{lx:.1}\" y=\"{ty:.1}\" text-anchor=\"end\">{}</text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{bh:.1}\" \
             fill=\"{c}\"/><text x=\"{vx:.1}\" y=\"{ty:.1}\">{}</text>",
            escape(label),
            format_tick(*value),
            lx = label_w - 8.0,
            ty = y + 14.0,
            bh = row_h - 6.0,
            c = COLOURS.first().copied().unwrap_or("#000"),
            vx = label_w + w + 6.0,
        );
    }
    out.push_str("</svg></div>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<a href='x'>&</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn scales_are_round() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(7.0), 8.0);
        assert_eq!(nice_max(13.0), 20.0);
        assert_eq!(nice_max(240.0), 400.0);
    }

    #[test]
    fn a_bar_per_nonzero_value() {
        let days = vec!["2026-01-01".to_string(), "2026-01-02".to_string()];
        let svg = stacked_bars(
            "calls",
            &days,
            &[("allowed", vec![3.0, 0.0]), ("refused", vec![1.0, 2.0])],
        );
        assert_eq!(svg.matches("<rect class=\"bar\"").count(), 3);
        assert!(svg.contains("01-02"));
    }
}
