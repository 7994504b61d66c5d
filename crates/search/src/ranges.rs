//! What an index can look up for an area question, instead of testing every row.
//!
//! [`Compiled::matches`](crate::Compiled::matches) decides whether a row is in an area;
//! it is the reference and stays the last word. This module only says where in a
//! sorted column the rows it can accept must lie:
//!
//! - [`area_paths`]: the paths a row's area test looks at (a read's or write's target,
//!   the files a command names), normalised the way matching normalises them: relative
//!   to the row's repository, absolute, and the last segment. An index keeps these.
//! - [`area_ranges`]: for a glob, the ranges of those normalised paths (or of their last
//!   segment) every match lies in, from the plain text before its first wildcard, and
//!   the range of recorded targets its whole-text wildcard test (tool names, hosts,
//!   commands) can accept.
//!
//! A range too narrow would lose answers silently, so the ranges are cut at whole
//! segments where `**` may match nothing (`customer_data/**` matches `customer_data`
//! itself), and the local index's parity test compares its answers with a full scan.

use std::path::Path;

use mandate_policy::glob::PathGlob;
use mandate_policy::path::{absolutize, segments};

use crate::EventRow;

/// The texts that start with `low`: `low <= text < high` (no `high`: no upper bound),
/// in byte order (SQLite's BINARY collation, PostgreSQL's `COLLATE "C"`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRange {
    pub low: String,
    pub high: Option<String>,
}

impl TextRange {
    /// Every text starting with `prefix`.
    pub fn starting_with(prefix: &str) -> TextRange {
        // UTF-8 orders as code points do, so the smallest text above every text with
        // this prefix is the prefix with its last character raised by one.
        let mut chars: Vec<char> = prefix.chars().collect();
        let mut high = None;
        while let Some(last) = chars.pop() {
            let next = match u32::from(last) + 1 {
                0xD800 => Some('\u{E000}'),
                code => char::from_u32(code),
            };
            if let Some(next) = next {
                let mut text: String = chars.iter().collect();
                text.push(next);
                high = Some(text);
                break;
            }
        }
        TextRange {
            low: prefix.to_string(),
            high,
        }
    }

    /// Does `text` lie in the range?
    pub fn contains(&self, text: &str) -> bool {
        text >= self.low.as_str() && self.high.as_deref().is_none_or(|high| text < high)
    }
}

/// The plain text a shell-style wildcard pattern (`*`, `?`) starts with.
pub fn literal_head(pattern: &str) -> &str {
    let end = pattern.find(['*', '?']).unwrap_or(pattern.len());
    pattern.get(..end).unwrap_or("")
}

/// Where an index finds every row an area (a `touched` glob) can match.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AreaRanges {
    /// Ranges of the normalised path ([`AreaPath::rel`] for a relative glob,
    /// [`AreaPath::abs`] for an absolute one).
    pub paths: Vec<TextRange>,
    /// Ranges of the path's last segment ([`AreaPath::name`]), for alternatives that
    /// start with a wildcard (`**/eu1*.csv`).
    pub names: Vec<TextRange>,
    /// The recorded targets (commands, tool names, hosts) the area's whole-text
    /// wildcard test can accept; `None` when the area starts with a wildcard and every
    /// target must be tested.
    pub targets: Option<TextRange>,
}

/// The ranges of `area`; `None` when some alternative of the glob has no plain text to
/// look up (`**`, `**/*`): only a scan answers that.
pub fn area_ranges(area: &str) -> Option<AreaRanges> {
    let glob = PathGlob::new(area).ok()?;
    let mut ranges = AreaRanges::default();
    for alternative in glob.alternatives() {
        // The plain segments it starts with, then the plain head of the next one. A
        // `**` next (or the end) leaves the prefix at a segment's end, with no slash: `**`
        // may match no segment at all.
        let plain = alternative
            .iter()
            .take_while(|s| s.is_some_and(|p| literal_head(p) == p))
            .flatten()
            .copied()
            .collect::<Vec<&str>>();
        let mut prefix = plain.join("/");
        if let Some(Some(next)) = alternative.get(plain.len()) {
            let head = literal_head(next);
            if !head.is_empty() {
                if !prefix.is_empty() {
                    prefix.push('/');
                }
                prefix.push_str(head);
            }
        }
        if !prefix.is_empty() {
            ranges.paths.push(TextRange::starting_with(&prefix));
            continue;
        }
        match alternative.last() {
            Some(Some(last)) if !literal_head(last).is_empty() => ranges
                .names
                .push(TextRange::starting_with(literal_head(last))),
            _ => return None,
        }
    }
    let head = literal_head(area);
    ranges.targets = (!head.is_empty()).then(|| TextRange::starting_with(head));
    Some(ranges)
}

/// One path an area test looks at, normalised as [`Compiled::matches`](crate::Compiled)
/// normalises it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AreaPath {
    /// Its segments below the row's repository, joined by `/` (none: outside it, or
    /// the repository itself).
    pub rel: Option<String>,
    /// Its segments from the root, joined by `/` (no leading slash).
    pub abs: String,
    /// Its last segment.
    pub name: Option<String>,
}

fn area_path(text: &str, root: Option<&str>) -> AreaPath {
    let all = segments(Path::new(text));
    let rel = root
        .and_then(|root| Path::new(text).strip_prefix(root).ok())
        .map(segments)
        .filter(|rest| !rest.is_empty())
        .map(|rest| rest.join("/"));
    AreaPath {
        rel,
        abs: all.join("/"),
        name: all.last().map(|s| (*s).to_string()),
    }
}

/// The paths `row`'s area test looks at: a read's or write's target, the files a
/// command names (each word that may be a path, made absolute from the repository).
pub fn area_paths(row: &EventRow) -> Vec<AreaPath> {
    let root = row.repository.as_deref();
    match row.kind.as_str() {
        "read" | "write" => vec![area_path(&row.target, root)],
        "execute" => {
            let base = Path::new(root.unwrap_or("/"));
            crate::path_words(&row.target)
                .map(|word| {
                    let path = absolutize(base, word, None);
                    area_path(&path.to_string_lossy(), root)
                })
                .collect()
        }
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_range_holds_every_text_with_its_prefix_and_nothing_before() {
        let range = TextRange::starting_with("customer_data");
        for inside in ["customer_data", "customer_data/eu.csv", "customer_datax"] {
            assert!(range.contains(inside), "{inside}");
        }
        for outside in ["customer_dat", "customer_datb", "d", "billing"] {
            assert!(!range.contains(outside), "{outside}");
        }
        assert_eq!(range.high.as_deref(), Some("customer_datb"));
        assert_eq!(TextRange::starting_with("é").high.as_deref(), Some("ê"));
    }

    #[test]
    fn globs_narrow_to_whole_segments_where_double_star_may_match_nothing() {
        let paths = |glob: &str| -> Vec<String> {
            area_ranges(glob)
                .unwrap()
                .paths
                .into_iter()
                .map(|r| r.low)
                .collect()
        };
        assert_eq!(paths("customer_data/**"), ["customer_data"]);
        assert_eq!(
            paths("./billing/export/file7.py"),
            ["billing/export/file7.py"]
        );
        assert_eq!(paths("src/mod*/tests/*.py"), ["src/mod"]);
        assert_eq!(
            paths("billing/{core,export}/**"),
            ["billing/core", "billing/export"]
        );
        assert_eq!(paths("/repo/deploy/**"), ["repo/deploy"]);
        let eu = area_ranges("**/eu1*.csv").unwrap();
        assert!(eu.paths.is_empty());
        assert_eq!(eu.names, [TextRange::starting_with("eu1")]);
        assert_eq!(eu.targets, None);
        let slack = area_ranges("mcp__slack__*").unwrap();
        assert_eq!(
            slack.targets,
            Some(TextRange::starting_with("mcp__slack__"))
        );
        assert_eq!(area_ranges("**"), None);
        assert_eq!(area_ranges("**/*.py"), None);
    }
}
