//! The pages' frame: escaping, the layout, badges and inline SVG bar charts.
//!
//! Plain HTML and a little CSS, no JavaScript and no external assets: a page saved from
//! the browser still reads the same in an incident review months later.

use std::fmt::Write as _;

use crate::Caller;

/// Escape text for element content and attribute values.
pub fn esc(text: &str) -> String {
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

/// Percent-encode a path segment or query value.
pub fn url(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

const STYLE: &str = "
:root { --ink: #1c2230; --sub: #5a6374; --line: #d9dde4; --bg: #f4f5f7; --card: #fff;
        --accent: #2450a6; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, 'Segoe UI', sans-serif; color: var(--ink);
       margin: 0; background: var(--bg); }
header { background: #1c2230; color: #fff; padding: 0 28px; display: flex; gap: 22px;
         align-items: center; height: 48px; }
header a { color: #cfd6e4; text-decoration: none; font-weight: 500; }
header a.here, header a:hover { color: #fff; }
header .brand { font-weight: 700; color: #fff; margin-right: 12px; letter-spacing: .02em; }
header .who { margin-left: auto; color: #aab3c3; font-size: 13px; }
header form { margin: 0; }
header button { background: none; border: 1px solid #5a6374; color: #cfd6e4; padding: 2px 10px;
                border-radius: 4px; cursor: pointer; }
main { max-width: 1160px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 10px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
p.sub { color: var(--sub); margin: 0 0 16px; }
a { color: var(--accent); }
table { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border-bottom: 1px solid #e7e9ee; }
th { background: #eef0f4; font-size: 13px; color: #394152; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code, pre { font: 12.5px ui-monospace, 'SFMono-Regular', Menlo, monospace; }
code { background: #eef0f4; padding: 0 3px; border-radius: 3px; word-break: break-all; }
pre { background: #f7f8fa; border: 1px solid var(--line); padding: 8px; overflow-x: auto;
      white-space: pre-wrap; word-break: break-all; margin: 4px 0; max-height: 220px; }
pre.diff .add { background: #e6f4ea; color: #14532d; }
pre.diff .del { background: #fdecea; color: #7f1d1d; }
pre.diff .hunk { color: #5a6374; }
.badge { display: inline-block; padding: 1px 9px; border-radius: 10px; font-weight: 600; font-size: 12.5px;
         white-space: nowrap; }
.ok { background: #dff3e4; color: #17622d; }
.bad { background: #fbe3e1; color: #9b1c12; }
.warn { background: #fdf1d6; color: #7a5200; }
.muted { background: #e8eaef; color: #4a5263; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 10px; margin: 8px 0 4px; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 9px 12px; }
.card .v { font-size: 22px; font-weight: 650; overflow-wrap: anywhere; }
.card .v.text { font-size: 16px; }
.card .l { font-size: 12px; color: var(--sub); }
form.inline { display: inline-flex; gap: 6px; align-items: center; margin: 0; flex-wrap: wrap; }
form.filters { display: flex; gap: 10px; align-items: end; flex-wrap: wrap; margin: 0 0 14px; }
label { font-size: 13px; color: var(--sub); display: flex; flex-direction: column; gap: 2px; }
label.check { flex-direction: row; align-items: center; gap: 5px; }
input[type=text], input[type=password], select, textarea { font: inherit; padding: 4px 7px;
      border: 1px solid #b9c0cc; border-radius: 4px; background: #fff; }
textarea { width: 100%; min-height: 70px; }
button { font: inherit; padding: 4px 12px; border-radius: 4px; border: 1px solid #2450a6;
         background: #2450a6; color: #fff; cursor: pointer; }
button.secondary { background: #fff; color: #9b1c12; border-color: #d6a19b; }
.error { background: #fbe3e1; color: #9b1c12; border: 1px solid #efb7b0; padding: 8px 12px; border-radius: 5px; }
.notice { background: #e8effc; border: 1px solid #c3d3f3; padding: 8px 12px; border-radius: 5px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.chart { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.chart h3 { font-size: 14px; margin: 0 0 6px; }
svg text { font: 11px system-ui, sans-serif; fill: #4a5263; }
ul.plain { margin: 4px 0; padding-left: 18px; }
";

/// The navigation entries: (path, label).
const NAV: &[(&str, &str)] = &[
    ("/runs", "Runs"),
    ("/events", "Events"),
    ("/approvals", "Approvals"),
    ("/registry", "Registry & kill switch"),
    ("/policy", "Team policy"),
    ("/readiness", "Readiness"),
    ("/metrics", "Metrics"),
    ("/audit", "Audit log"),
];

/// A whole page.
pub fn page(title: &str, here: &str, who: Option<&Caller>, body: &str) -> String {
    let mut nav = String::new();
    if let Some(who) = who {
        for (path, label) in NAV {
            let class = if *path == here { " class=\"here\"" } else { "" };
            let _ = write!(nav, "<a href=\"{path}\"{class}>{label}</a>");
        }
        let _ = write!(
            nav,
            "<span class=\"who\">{} · {}</span>\
             <form method=\"post\" action=\"/logout\"><button type=\"submit\">Sign out</button></form>",
            esc(&who.email),
            who.role
        );
    }
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · mandate</title><style>{STYLE}</style></head>\
         <body><header><span class=\"brand\">mandate</span>{nav}</header>\
         <main>{body}</main></body></html>\n",
        title = esc(title)
    )
}

pub fn badge(class: &str, text: &str) -> String {
    format!("<span class=\"badge {class}\">{}</span>", esc(text))
}

/// A badge for a run status or a decision.
pub fn status_badge(status: &str) -> String {
    let class = match status {
        "finished" | "allow" | "approve" | "approved" | "used" => "ok",
        "stopped" | "deny" | "stop" | "reject" | "denied" => "bad",
        "incomplete" | "ask" | "pending" | "request-changes" => "warn",
        _ => "muted",
    };
    badge(class, status)
}

pub fn card(value: &str, label: &str) -> String {
    // Numbers large; words (an e-mail address, a task id) smaller, so they fit.
    let class = if value.chars().all(|c| c.is_ascii_digit()) {
        "v"
    } else {
        "v text"
    };
    format!(
        "<div class=\"card\"><div class=\"{class}\">{}</div><div class=\"l\">{}</div></div>",
        esc(value),
        esc(label)
    )
}

/// A bar chart of one or more series over the same labels; `series` is (name, colour,
/// values).
pub fn bar_chart(title: &str, labels: &[String], series: &[(&str, &str, Vec<i64>)]) -> String {
    let width = 520.0_f64;
    let height = 180.0_f64;
    let left = 36.0;
    let bottom = 28.0;
    let top = 10.0;
    let max = series
        .iter()
        .flat_map(|(_, _, values)| values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let groups = labels.len().max(1) as f64;
    let group_width = (width - left - 8.0) / groups;
    let bar_width = (group_width * 0.8 / series.len().max(1) as f64).clamp(1.0, 36.0);
    let plot = height - bottom - top;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    let _ = write!(
        svg,
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{y}\" stroke=\"#b9c0cc\"/>\
         <line x1=\"{left}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" stroke=\"#b9c0cc\"/>\
         <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\">{max}</text>\
         <text x=\"{tx}\" y=\"{y}\" text-anchor=\"end\">0</text>",
        y = height - bottom,
        x2 = width - 4.0,
        tx = left - 4.0,
        ty = top + 8.0,
        max = max as i64,
    );
    let step = (labels.len() / 8).max(1);
    for (g, label) in labels.iter().enumerate() {
        let x0 = left + 4.0 + g as f64 * group_width;
        for (s, (name, colour, values)) in series.iter().enumerate() {
            let value = values.get(g).copied().unwrap_or(0);
            let h = value as f64 / max * plot;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar_width:.1}\" height=\"{h:.1}\" \
                 fill=\"{colour}\"><title>{label}: {value} {name}</title></rect>",
                x = x0 + s as f64 * bar_width,
                y = height - bottom - h,
                label = esc(label),
                name = esc(name),
            );
        }
        if g % step == 0 {
            let _ = write!(
                svg,
                "<text x=\"{x:.1}\" y=\"{y}\">{}</text>",
                esc(label),
                x = x0,
                y = height - bottom + 14.0
            );
        }
    }
    svg.push_str("</svg>");
    let legend: Vec<String> = series
        .iter()
        .map(|(name, colour, _)| {
            format!(
                "<span style=\"display:inline-block;width:10px;height:10px;background:{colour}\"></span> {}",
                esc(name)
            )
        })
        .collect();
    format!(
        "<div class=\"chart\"><h3>{}</h3>{svg}<div style=\"font-size:12px;color:#5a6374\">{}</div></div>",
        esc(title),
        legend.join(" &nbsp; ")
    )
}

/// A horizontal bar list: label, value, optional second value drawn over it.
pub fn hbar_chart(title: &str, rows: &[(String, i64, i64)], first: &str, second: &str) -> String {
    let max = rows.iter().map(|r| r.1).max().unwrap_or(0).max(1) as f64;
    let row_height = 20.0;
    let height = row_height * rows.len().max(1) as f64 + 6.0;
    let label_width = 190.0;
    let width = 520.0;
    let bar_space = width - label_width - 50.0;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {width} {height}\" width=\"100%\" role=\"img\" aria-label=\"{}\">",
        esc(title)
    );
    for (i, (label, a, b)) in rows.iter().enumerate() {
        let y = 3.0 + i as f64 * row_height;
        let wa = *a as f64 / max * bar_space;
        let wb = *b as f64 / max * bar_space;
        let short: String = label.chars().take(30).collect();
        let _ = write!(
            svg,
            "<text x=\"{lx}\" y=\"{ty:.1}\" text-anchor=\"end\">{}</text>\
             <rect x=\"{label_width}\" y=\"{y:.1}\" width=\"{wa:.1}\" height=\"14\" fill=\"#8fa9dc\">\
             <title>{}: {a} {first}</title></rect>\
             <rect x=\"{label_width}\" y=\"{y:.1}\" width=\"{wb:.1}\" height=\"14\" fill=\"#d0574b\">\
             <title>{}: {b} {second}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\">{a}</text>",
            esc(&short),
            esc(label),
            esc(label),
            lx = label_width - 6.0,
            ty = y + 11.0,
            vx = label_width + wa + 4.0,
        );
    }
    svg.push_str("</svg>");
    let swatch = |colour: &str, name: &str| {
        if name.is_empty() {
            String::new()
        } else {
            format!(
                "<span style=\"display:inline-block;width:10px;height:10px;background:{colour}\"></span> {} &nbsp; ",
                esc(name)
            )
        }
    };
    format!(
        "<div class=\"chart\"><h3>{}</h3>{svg}<div style=\"font-size:12px;color:#5a6374\">{}{}</div></div>",
        esc(title),
        swatch("#8fa9dc", first),
        swatch("#d0574b", second)
    )
}
