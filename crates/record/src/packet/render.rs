//! The review packet for people: Markdown and one self-contained HTML page.
//!
//! Both open with the summary a reviewer decides on (status, a stop, the last test,
//! approvals, refusals, unguarded calls, missing evidence), then the diff of every file the
//! run changed, then the packet's keys. Nothing is printed for a value the record does not
//! hold: a missing fact is said in words ("none on record"), never as `null` or an empty
//! list. Item texts are Markdown (backticks around commands and paths); the HTML page
//! renders that Markdown after escaping, so a reason can never inject markup.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::{Basis, Changes, Item, KEYS, ReviewPacket};

fn basis_tag(b: Basis) -> &'static str {
    match b {
        Basis::Witnessed => "witnessed",
        Basis::Claimed => "claimed",
    }
}

/// At most this many entry references per item; the rest are counted.
const SHOWN_REFS: usize = 8;

fn shown_refs(entries: &[u64]) -> (&[u64], usize) {
    let shown = entries.get(..SHOWN_REFS).unwrap_or(entries);
    (shown, entries.len() - shown.len())
}

/// "entry 3", "entries 3, 4, 9 and 2 more", or nothing for no entries.
fn entry_refs_md(entries: &[u64]) -> String {
    let (shown, more) = shown_refs(entries);
    let list: Vec<String> = shown.iter().map(u64::to_string).collect();
    match list.len() {
        0 => String::new(),
        1 => format!(" _(entry {})_", list.join("")),
        _ if more > 0 => format!(" _(entries {} and {more} more)_", list.join(", ")),
        _ => format!(" _(entries {})_", list.join(", ")),
    }
}

/// The same as links to the entry list at the end of the HTML page.
fn entry_refs_html(entries: &[u64]) -> String {
    let (shown, more) = shown_refs(entries);
    let links: Vec<String> = shown
        .iter()
        .map(|i| format!("<a href=\"#e{i}\">{i}</a>"))
        .collect();
    match links.len() {
        0 => String::new(),
        1 => format!(" <span class=\"refs\">entry {}</span>", links.join("")),
        _ if more > 0 => format!(
            " <span class=\"refs\">entries {} and {more} more</span>",
            links.join(", ")
        ),
        _ => format!(" <span class=\"refs\">entries {}</span>", links.join(", ")),
    }
}

/// A fence longer than any run of backticks in `text`.
fn fence(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

/// The summary lines, as (label, Markdown text) pairs; one function for both formats.
fn summary_lines(p: &ReviewPacket) -> Vec<(&'static str, String)> {
    let s = &p.summary;
    let mut lines = Vec::new();
    let mode = s
        .mode
        .as_deref()
        .map(|m| format!(" (mode {m})"))
        .unwrap_or_default();
    lines.push(("Status", format!("{}{mode}", s.status)));
    lines.push((
        "Stop",
        match &s.stop {
            Some(stop) => format!("**a stop condition halted the run**: {stop}"),
            None => "no stop condition fired".to_owned(),
        },
    ));
    lines.push((
        "Last test",
        match &s.last_test {
            Some(test) => match &s.last_test_result {
                Some(result) => format!("**{result}**: {test}"),
                None => test.clone(),
            },
            None => "no test run on record".to_owned(),
        },
    ));
    let mut approvals = Vec::new();
    for (n, what) in [
        (s.approvals_pending, "pending"),
        (s.approvals_granted, "granted"),
        (s.approvals_denied, "refused"),
        (s.approvals_used, "used"),
    ] {
        if n > 0 {
            approvals.push(format!("{n} {what}"));
        }
    }
    lines.push((
        "Approvals",
        if approvals.is_empty() {
            "none requested".to_owned()
        } else {
            approvals.join(", ")
        },
    ));
    let mut refusals = match s.refusals {
        0 => "none".to_owned(),
        n => format!("{n} refused"),
    };
    if s.would_refuse > 0 {
        let _ = write!(
            refusals,
            "; {} that shadow mode would refuse and let through",
            s.would_refuse
        );
    }
    lines.push(("Refusals", refusals));
    lines.push((
        "Unguarded calls",
        match s.unguarded_calls {
            0 => "none".to_owned(),
            n => format!("**{n}**: calls ran with no decision of mandate that let them"),
        },
    ));
    lines.push((
        "Evidence missing",
        if s.evidence_missing.is_empty() {
            format!("none, {}", s.evidence_checked_at)
        } else {
            format!(
                "**{}**, {}",
                s.evidence_missing.join(", "),
                s.evidence_checked_at
            )
        },
    ));
    lines.push((
        "Files changed",
        match (s.files_changed, &p.changes) {
            (0, _) => "none".to_owned(),
            (n, Some(_)) => format!("{n} (diffs below)"),
            (n, None) => format!("{n} (no diff: the record holds none and git was not asked)"),
        },
    ));
    lines.push((
        "Record",
        match &p.verification {
            Some(v) if v.ok => v.summary.clone(),
            Some(v) => format!("**{}**", v.summary),
            None => "not checked".to_owned(),
        },
    ));
    lines
}

fn title(p: &ReviewPacket) -> String {
    let task = p.task_request.first().map(|t| t.text.as_str());
    match (task, &p.run_id) {
        (Some(task), _) => task.lines().next().unwrap_or(task).to_owned(),
        (None, Some(run)) => format!("run {run}"),
        (None, None) => "a run with no start on record".to_owned(),
    }
}

/// "Run `X` in `/repo`, from base commit `abc`." with whatever the record holds.
fn where_line(p: &ReviewPacket) -> String {
    let mut line = match &p.run_id {
        Some(run) => format!("Run `{run}`"),
        None => "A run".to_owned(),
    };
    if let Some(repo) = &p.repository {
        let _ = write!(line, " in `{repo}`");
    }
    match &p.base_commit {
        Some(commit) => {
            let _ = write!(line, ", from base commit `{}`", short(commit));
        }
        None => line.push_str(" (no base commit on record)"),
    }
    line.push('.');
    line
}

/// The packet as Markdown.
pub fn render_markdown(p: &ReviewPacket) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Review packet: {}\n", title(p));
    let _ = writeln!(out, "{}\n", where_line(p));
    out.push_str("## Summary\n\n");
    for (label, text) in summary_lines(p) {
        let _ = writeln!(out, "- **{label}:** {text}");
    }
    out.push('\n');
    if !p.unguarded_calls.is_empty() {
        let _ = writeln!(
            out,
            "**WARNING: {} call(s) ran unguarded**: no decision of mandate let them run, so a layer \
             of enforcement did not hold.\n",
            p.unguarded_calls.len()
        );
        for item in &p.unguarded_calls {
            let _ = writeln!(
                out,
                "- {}{}",
                item.text.replace('\n', " "),
                entry_refs_md(&item.entries)
            );
        }
        out.push('\n');
    }
    if !p.status.notes.is_empty() {
        out.push_str("Record notes:\n\n");
        for item in &p.status.notes {
            let _ = writeln!(
                out,
                "- {}{}",
                item.text.replace('\n', " "),
                entry_refs_md(&item.entries)
            );
        }
        out.push('\n');
    }
    changes_md(&mut out, p);
    out.push_str(
        "Items marked **witnessed** were seen by the recorder; **claimed** items are the agent's own statements.\n",
    );
    for (key, title) in KEYS {
        let items = p.section(key);
        let _ = writeln!(out, "\n## {title}\n");
        if items.is_empty() {
            out.push_str("_none recorded_\n");
        }
        for item in items {
            let _ = writeln!(
                out,
                "- [{}] {}{}",
                basis_tag(item.basis),
                item.text.replace('\n', " "),
                entry_refs_md(&item.entries)
            );
            if let Some(diff) = &item.diff {
                let fence = fence(diff);
                let _ = writeln!(out, "\n  {fence}diff");
                for line in diff.lines() {
                    let _ = writeln!(out, "  {line}");
                }
                let _ = writeln!(out, "  {fence}");
            }
        }
    }
    out
}

fn changes_md(out: &mut String, p: &ReviewPacket) {
    out.push_str("## Changes\n\n");
    let Some(changes) = &p.changes else {
        out.push_str(
            "_No diff: the record holds none (it is written when the run finishes) and git was not asked._\n\n",
        );
        return;
    };
    let _ = writeln!(out, "{}\n", changes_intro(changes));
    for file in &changes.files {
        let _ = writeln!(
            out,
            "### `{}` ({}){}\n",
            file.path,
            file.status,
            entry_refs_md(&file.entries)
        );
        if file.diff.is_empty() {
            continue;
        }
        let fence = fence(&file.diff);
        let _ = writeln!(out, "{fence}diff");
        out.push_str(&file.diff);
        if !file.diff.ends_with('\n') {
            out.push('\n');
        }
        let _ = writeln!(out, "{fence}\n");
    }
    if !changes.outside_run.is_empty() {
        let list: Vec<String> = changes
            .outside_run
            .iter()
            .map(|f| format!("`{f}`"))
            .collect();
        let _ = writeln!(
            out,
            "Changed since the base commit by no call of this run (not shown): {}\n",
            list.join(", ")
        );
    }
}

fn changes_intro(changes: &Changes) -> String {
    let base = match &changes.base_commit {
        Some(commit) => format!("Against base commit `{}`", short(commit)),
        None => "With no base commit (not a git repository when the run started)".to_owned(),
    };
    let files = match changes.files.len() {
        0 => "no file changed by the run".to_owned(),
        1 => "1 file changed by the run".to_owned(),
        n => format!("{n} files changed by the run"),
    };
    format!(
        "{base}: {files}; diffs from git, redacted as the record is, {}.",
        changes.source
    )
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
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

/// The inline Markdown of a reason or an item (`code`, **strong**, line breaks) as HTML.
/// Everything is escaped first, so the text can add no element but these; an unpaired
/// backtick or `**` stays as it is.
pub fn inline_markdown_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    while let Some(open) = rest.find('`') {
        let (before, after) = rest.split_at(open);
        let after = after.get(1..).unwrap_or("");
        match after.find('`') {
            Some(close) => {
                out.push_str(&strong(before));
                let code = after.get(..close).unwrap_or("");
                let _ = write!(out, "<code>{}</code>", esc(code));
                rest = after.get(close + 1..).unwrap_or("");
            }
            None => break,
        }
    }
    out.push_str(&strong(rest));
    out
}

/// `**x**` as `<strong>x</strong>` and newlines as `<br>`, in escaped text. Only a `**`
/// that opens a word (after a space or the start, before a letter or digit) and a `**`
/// that closes one (after a non-space, before a space, punctuation or the end) count, so
/// a glob such as `src/**` is left as it is.
fn strong(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((open, close)) = strong_span(rest) {
        out.push_str(&lines(rest.get(..open).unwrap_or("")));
        let _ = write!(
            out,
            "<strong>{}</strong>",
            lines(rest.get(open + 2..close).unwrap_or(""))
        );
        rest = rest.get(close + 2..).unwrap_or("");
    }
    out.push_str(&lines(rest));
    out
}

/// The byte offsets of the next opening and closing `**` in `text`.
fn strong_span(text: &str) -> Option<(usize, usize)> {
    let before = |at: usize| text.get(..at).and_then(|t| t.chars().next_back());
    let after = |at: usize| text.get(at + 2..).and_then(|t| t.chars().next());
    let opens = |at: usize| {
        before(at).is_none_or(|c| c.is_whitespace() || c == '(')
            && after(at).is_some_and(char::is_alphanumeric)
    };
    let closes = |at: usize| {
        before(at).is_some_and(|c| !c.is_whitespace() && c != '*')
            && after(at).is_none_or(|c| c.is_whitespace() || ".,;:)!?".contains(c))
    };
    let marks: Vec<usize> = text.match_indices("**").map(|(at, _)| at).collect();
    let open = marks.iter().copied().find(|&at| opens(at))?;
    let close = marks
        .iter()
        .copied()
        .find(|&at| at > open + 2 && closes(at))?;
    Some((open, close))
}

fn lines(text: &str) -> String {
    esc(text).replace('\n', "<br>")
}

/// A unified diff, one span per line so additions and removals are coloured.
fn diff_html(diff: &str) -> String {
    let mut out = String::from("<pre class=\"diff\">");
    for line in diff.lines() {
        let class = if line.starts_with("+++") || line.starts_with("---") {
            "file"
        } else if line.starts_with('+') {
            "add"
        } else if line.starts_with('-') {
            "del"
        } else if line.starts_with("@@") {
            "hunk"
        } else {
            "ctx"
        };
        // Block spans: a newline between them would show as an empty line.
        let _ = write!(out, "<span class=\"{class}\">{}</span>", esc(line));
    }
    out.push_str("</pre>\n");
    out
}

/// The packet as one self-contained HTML page (inline CSS, no scripts, no external assets;
/// the only links are to entries on the page itself).
pub fn render_html(p: &ReviewPacket) -> String {
    let title = esc(&title(p));
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Review packet: {title}</title><style>\
body{{font:15px/1.5 system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;color:#1b1f24}}\
h1{{font-size:1.5rem}}h2{{font-size:1.1rem;border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:1.6rem}}\
h3{{font-size:1rem;margin:1.2rem 0 .3rem}}\
ul{{padding-left:1.2rem}}li{{margin:.25rem 0}}code{{background:#f3f4f6;padding:0 .2rem;border-radius:.2rem}}\
.tag{{display:inline-block;font-size:.75rem;border-radius:.6rem;padding:0 .45rem;margin-right:.4rem;font-weight:600}}\
.witnessed{{background:#dafbe1;color:#116329}}.claimed{{background:#fff8c5;color:#7d4e00}}\
.refs{{color:#656d76;font-size:.8rem}}.refs a{{color:#0969da}}.none{{color:#656d76;font-style:italic}}\
.status{{padding:.6rem .8rem;border-radius:.4rem;margin:.4rem 0}}.ok{{background:#dafbe1}}.bad{{background:#ffebe9}}\
table.summary{{border-collapse:collapse;margin:.4rem 0}}table.summary th{{text-align:left;padding:.2rem 1rem .2rem 0;vertical-align:top;white-space:nowrap}}\
table.summary td{{padding:.2rem 0}}tr.alert td{{color:#a40e26}}\
pre.diff{{background:#f6f8fa;border:1px solid #d0d7de;border-radius:.4rem;padding:.5rem;overflow-x:auto;font-size:.8rem;line-height:1.35}}\
pre.diff span{{display:block;white-space:pre}}pre.diff .add{{background:#dafbe1;color:#116329}}pre.diff .del{{background:#ffebe9;color:#a40e26}}\
pre.diff .hunk{{color:#8250df}}pre.diff .file{{color:#656d76;font-weight:600}}\
ol.entries{{font:12px/1.4 ui-monospace,monospace;color:#57606a;padding-left:0;list-style:none}}ol.entries li:target{{background:#fff8c5}}\
</style></head><body>\n<h1>Review packet: {title}</h1>\n<p>{}</p>\n",
        inline_markdown_html(&where_line(p))
    );
    out.push_str("<h2 id=\"summary\">Summary</h2>\n<table class=\"summary\">\n");
    let s = &p.summary;
    for (label, text) in summary_lines(p) {
        let alert = match label {
            "Stop" => s.stop.is_some(),
            "Last test" => s.last_test_result.as_deref().is_some_and(|r| r != "passed"),
            "Unguarded calls" => s.unguarded_calls > 0,
            "Evidence missing" => !s.evidence_missing.is_empty(),
            "Approvals" => s.approvals_pending > 0,
            "Record" => p.verification.as_ref().is_none_or(|v| !v.ok),
            _ => false,
        };
        let _ = writeln!(
            out,
            "<tr{}><th>{label}</th><td>{}</td></tr>",
            if alert { " class=\"alert\"" } else { "" },
            inline_markdown_html(&text)
        );
    }
    out.push_str("</table>\n");
    if !p.unguarded_calls.is_empty() {
        let _ = writeln!(
            out,
            "<div class=\"status bad\"><strong>Warning: {} call(s) ran unguarded</strong>: no \
             decision of mandate let them run, so a layer of enforcement did not hold.<ul>",
            p.unguarded_calls.len()
        );
        for item in &p.unguarded_calls {
            let _ = writeln!(
                out,
                "<li>{}{}</li>",
                inline_markdown_html(&item.text),
                entry_refs_html(&item.entries)
            );
        }
        out.push_str("</ul></div>\n");
    }
    if !p.status.notes.is_empty() {
        out.push_str("<ul class=\"notes\">\n");
        for item in &p.status.notes {
            let _ = writeln!(
                out,
                "<li>{}{}</li>",
                inline_markdown_html(&item.text),
                entry_refs_html(&item.entries)
            );
        }
        out.push_str("</ul>\n");
    }
    changes_html(&mut out, p);
    out.push_str(
        "<p><span class=\"tag witnessed\">witnessed</span>seen by the recorder \
<span class=\"tag claimed\">claimed</span>stated by the agent</p>\n",
    );
    let mut linked: BTreeSet<u64> = BTreeSet::new();
    let mut link = |entries: &[u64]| linked.extend(shown_refs(entries).0.iter().copied());
    for item in p.unguarded_calls.iter().chain(&p.status.notes) {
        link(&item.entries);
    }
    if let Some(changes) = &p.changes {
        link(&changes.entries);
        for file in &changes.files {
            link(&file.entries);
        }
    }
    for (key, title) in KEYS {
        let items = p.section(key);
        let _ = writeln!(out, "<h2 id=\"{key}\">{title}</h2>");
        if items.is_empty() {
            out.push_str("<p class=\"none\">none recorded</p>\n");
            continue;
        }
        out.push_str("<ul>\n");
        for item in items {
            link(&item.entries);
            let _ = write!(out, "{}", item_html(item));
        }
        out.push_str("</ul>\n");
    }
    // Every entry a line above points at, so a reference can be followed on the page.
    out.push_str(
        "<h2 id=\"entries\">Record entries referenced above</h2>\n<ol class=\"entries\">\n",
    );
    for i in &linked {
        let line = p.index.get(i).map(String::as_str).unwrap_or("");
        let _ = writeln!(
            out,
            "<li id=\"e{i}\">{i} {}</li>",
            inline_markdown_html(line)
        );
    }
    out.push_str("</ol>\n</body></html>\n");
    out
}

fn item_html(item: &Item) -> String {
    let tag = basis_tag(item.basis);
    let diff = item.diff.as_deref().map(diff_html).unwrap_or_default();
    format!(
        "<li><span class=\"tag {tag}\">{tag}</span>{}{}{diff}</li>\n",
        inline_markdown_html(&item.text),
        entry_refs_html(&item.entries)
    )
}

fn changes_html(out: &mut String, p: &ReviewPacket) {
    out.push_str("<h2 id=\"changes\">Changes</h2>\n");
    let Some(changes) = &p.changes else {
        out.push_str(
            "<p class=\"none\">No diff: the record holds none (it is written when the run finishes) and git was not asked.</p>\n",
        );
        return;
    };
    let _ = writeln!(
        out,
        "<p>{}{}</p>",
        inline_markdown_html(&changes_intro(changes)),
        entry_refs_html(&changes.entries)
    );
    for file in &changes.files {
        let _ = writeln!(
            out,
            "<h3><code>{}</code> ({}){}</h3>",
            esc(&file.path),
            esc(&file.status),
            entry_refs_html(&file.entries)
        );
        if !file.diff.is_empty() {
            out.push_str(&diff_html(&file.diff));
        }
    }
    if !changes.outside_run.is_empty() {
        let list: Vec<String> = changes
            .outside_run
            .iter()
            .map(|f| format!("<code>{}</code>", esc(f)))
            .collect();
        let _ = writeln!(
            out,
            "<p>Changed since the base commit by no call of this run (not shown): {}</p>",
            list.join(", ")
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn inline_markdown_is_rendered_after_escaping() {
        assert_eq!(
            inline_markdown_html("run `pytest <x>` **now**\nthen <b>stop</b>"),
            "run <code>pytest &lt;x&gt;</code> <strong>now</strong><br>then &lt;b&gt;stop&lt;/b&gt;"
        );
        // Unpaired marks stay as text; so do globs.
        assert_eq!(inline_markdown_html("a ` b ** c"), "a ` b ** c");
        assert_eq!(
            inline_markdown_html("read: src/**, docs/** and **/x"),
            "read: src/**, docs/** and **/x"
        );
        assert_eq!(
            inline_markdown_html("`<script>`"),
            "<code>&lt;script&gt;</code>"
        );
    }

    #[test]
    fn a_fence_is_longer_than_any_backticks_inside() {
        assert_eq!(fence("a"), "```");
        assert_eq!(fence("x ```` y"), "`````");
    }
}
