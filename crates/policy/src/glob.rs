//! Globs over paths and commands.
//!
//! Path globs use `**` for any number of path segments (zero included) and `*` / `?`
//! within one segment; `{a,b}` alternatives are expanded when the glob is compiled. A
//! trailing `/**` therefore matches the folder itself as well as everything in it, which
//! is what people mean by "billing/export/**".
//!
//! Command patterns are matched against a whole command line, `*` matching any run of
//! characters, spaces included.
//!
//! Besides "does this path match", the evaluator asks two questions of a glob about a
//! folder: could some path under it match (a search over that folder might reach a blocked
//! file), and does the glob cover every path under it (the whole folder is in scope).
//! Both are answered on the compiled segments without touching the file system.

/// The most alternatives one `{…}` pattern may expand to; more is a validation error.
const MAX_ALTERNATIVES: usize = 64;

/// The most segments one alternative of a path glob may have: the matcher keeps the
/// reachable positions of an alternative in one 64-bit word.
const MAX_SEGMENTS: usize = 63;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of segments.
    AnyDepth,
    /// One segment, possibly with `*` and `?`: bytes `start..end` of the glob's text.
    Pattern(u32, u32),
}

/// A compiled path glob: one or more alternatives, each a list of segments.
///
/// Compiling runs for every rule on every hook call, so a glob is three allocations
/// whatever its length: the source, the segments of all alternatives one after another
/// (as byte ranges of the text), and where each alternative's segments are. A glob with
/// `{…}` keeps its expanded alternatives in one more string.
#[derive(Clone, Debug)]
pub struct PathGlob {
    source: String,
    /// The alternatives' text, when braces were expanded; otherwise the source is the text.
    expanded: Option<String>,
    segments: Vec<Segment>,
    /// `segments[start..end]` of each alternative.
    alternatives: Vec<(u32, u32)>,
}

impl PathGlob {
    /// Compile a glob written relative to some root (the caller decides which). Leading
    /// `./` and `/` are removed; an absolute glob is compiled the same way and matched
    /// against absolute paths split into segments.
    pub fn new(source: &str) -> Result<PathGlob, String> {
        if source.trim().is_empty() {
            return Err("an empty glob matches nothing; remove it".to_string());
        }
        let mut glob = PathGlob {
            source: source.to_string(),
            expanded: None,
            segments: Vec::new(),
            alternatives: Vec::with_capacity(1),
        };
        let per_alternative = source.bytes().filter(|b| *b == b'/').count() + 1;
        if source.contains('{') {
            let alternatives = expand_braces(source)?;
            glob.alternatives.reserve_exact(alternatives.len());
            glob.segments
                .reserve_exact(alternatives.len() * per_alternative);
            let mut text = String::with_capacity(alternatives.iter().map(String::len).sum());
            for alternative in &alternatives {
                let offset = text.len();
                text.push_str(alternative);
                glob.push_alternative(alternative, offset)?;
            }
            glob.expanded = Some(text);
        } else {
            glob.segments.reserve_exact(per_alternative);
            glob.push_alternative(source, 0)?;
        }
        Ok(glob)
    }

    /// True when [`PathGlob::new`] cannot fail on `source`, told from its text without
    /// compiling it: not blank, at most 62 slashes (no alternative can then have more
    /// than [`MAX_SEGMENTS`] segments, since each is cut from the source's own text), at
    /// most 6 commas (braces then expand to at most 2⁶ = [`MAX_ALTERNATIVES`]
    /// alternatives: each comma at most doubles them), and short enough for the `u32`
    /// offsets. The engine leaves such a rule uncompiled when a call cannot match it;
    /// a rule that might not compile is always compiled, so its error still refuses.
    pub fn surely_compiles(source: &str) -> bool {
        let (mut slashes, mut commas) = (0usize, 0u32);
        for byte in source.bytes() {
            match byte {
                b'/' => slashes += 1,
                b',' => commas += 1,
                _ => {}
            }
        }
        !source.trim().is_empty()
            && source.len() <= 1 << 16
            && slashes < MAX_SEGMENTS
            && 1usize << commas.min(usize::BITS - 1) <= MAX_ALTERNATIVES
    }

    /// The first segment every path this glob matches starts with, when the source
    /// spells it as plain text (`billing` of `billing/{a,b}/**`); `None` when it starts
    /// with a wildcard, `**`, a brace, `.`, or a slash. A path whose first segment is
    /// other plain text is matched by no alternative, and no path under such a folder
    /// is either.
    pub fn plain_head(source: &str) -> Option<&str> {
        let head = source.split('/').next()?;
        let plain = !head.is_empty()
            && !head.starts_with('.')
            && !head
                .bytes()
                .any(|b| matches!(b, b'*' | b'?' | b'[' | b']' | b'{' | b'}' | b',' | b'\\'));
        plain.then_some(head)
    }

    /// [`PathGlob::plain_head`] of a source that [`PathGlob::surely_compiles`] and has no
    /// `..` segment, else `None`: what the engine asks of every path rule of a touch's
    /// kind before it skips the rule, told in one pass over the bytes (the three walks it
    /// replaces cost about a thousand instructions a rule).
    pub fn skippable_head(source: &str) -> Option<&str> {
        let bytes = source.as_bytes();
        if bytes.len() > 1 << 16 {
            return None;
        }
        let (mut slashes, mut commas) = (0usize, 0u32);
        // Where the first segment ends, once a slash is seen; whether it is plain so far.
        let mut head_end = None;
        let mut head_plain = true;
        let mut segment_start = 0;
        for (at, byte) in bytes.iter().enumerate() {
            match byte {
                b'/' => {
                    if bytes.get(segment_start..at) == Some(&b".."[..]) {
                        return None;
                    }
                    head_end.get_or_insert(at);
                    slashes += 1;
                    segment_start = at + 1;
                }
                b',' => {
                    commas += 1;
                    head_plain &= head_end.is_some();
                }
                b'*' | b'?' | b'[' | b']' | b'{' | b'}' | b'\\' => {
                    head_plain &= head_end.is_some();
                }
                _ => {}
            }
        }
        let head = source.get(..head_end.unwrap_or(bytes.len()))?;
        let vouched = head_plain
            && !head.is_empty()
            && !head.starts_with('.')
            && bytes.get(segment_start..) != Some(&b".."[..])
            && slashes < MAX_SEGMENTS
            && 1usize << commas.min(usize::BITS - 1) <= MAX_ALTERNATIVES
            && !source.trim().is_empty();
        vouched.then_some(head)
    }

    /// Split one alternative (found at `offset` of the text) into segments.
    fn push_alternative(&mut self, alternative: &str, offset: usize) -> Result<(), String> {
        let too_long = || format!("`{}` has more than {MAX_SEGMENTS} segments", self.source);
        let first = u32::try_from(self.segments.len()).map_err(|_| too_long())?;
        let mut rest = alternative;
        while let Some(stripped) = rest.strip_prefix("./") {
            rest = stripped;
        }
        let mut start = offset + (alternative.len() - rest.len());
        for segment in rest.split('/') {
            let end = start + segment.len();
            if !segment.is_empty() && segment != "." {
                self.segments.push(if segment == "**" {
                    Segment::AnyDepth
                } else {
                    Segment::Pattern(
                        u32::try_from(start).map_err(|_| too_long())?,
                        u32::try_from(end).map_err(|_| too_long())?,
                    )
                });
            }
            start = end + 1;
        }
        let last = u32::try_from(self.segments.len()).map_err(|_| too_long())?;
        if (last - first) as usize > MAX_SEGMENTS {
            return Err(too_long());
        }
        self.alternatives.push((first, last));
        Ok(())
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Each alternative's segments as compiled: `None` for `**`, otherwise the
    /// segment's pattern (`*` and `?` wildcards). An index narrows a search with these
    /// (the plain text every matching path starts with); [`PathGlob::matches`] decides.
    pub fn alternatives(&self) -> Vec<Vec<Option<&str>>> {
        let text = self.text();
        self.each()
            .map(|segments| {
                segments
                    .iter()
                    .map(|segment| match segment {
                        Segment::AnyDepth => None,
                        Segment::Pattern(start, end) => {
                            Some(text.get(*start as usize..*end as usize).unwrap_or(""))
                        }
                    })
                    .collect()
            })
            .collect()
    }

    fn text(&self) -> &str {
        self.expanded.as_deref().unwrap_or(&self.source)
    }

    /// Each alternative's segments.
    fn each(&self) -> impl Iterator<Item = &[Segment]> {
        self.alternatives.iter().map(|(first, last)| {
            self.segments
                .get(*first as usize..*last as usize)
                .unwrap_or_default()
        })
    }

    /// Does the glob match this path, given as segments?
    pub fn matches(&self, path: &[&str]) -> bool {
        let text = self.text();
        self.each()
            .any(|segments| accepts(reachable_states(text, segments, path), segments))
    }

    /// Could some path at or under `dir` match?
    pub fn may_match_under(&self, dir: &[&str]) -> bool {
        let text = self.text();
        self.each()
            .any(|segments| reachable_states(text, segments, dir) != 0)
    }

    /// Does the glob match `dir` and every path under it?
    pub fn covers_tree(&self, dir: &[&str]) -> bool {
        let text = self.text();
        self.each().any(|segments| {
            // A reached `**` with nothing but `**` after it matches every descendant.
            states(reachable_states(text, segments, dir)).any(|state| {
                segments.get(state..).is_some_and(|rest| {
                    !rest.is_empty() && rest.iter().all(|s| *s == Segment::AnyDepth)
                })
            })
        })
    }

    /// Could a path named by the shell pattern `pattern` (segments that may hold `*`, `?`)
    /// also be matched by this glob? Conservative: says yes when unsure.
    pub fn overlaps(&self, pattern: &[&str]) -> bool {
        let text = self.text();
        self.each()
            .any(|segments| segments_overlap(text, segments, pattern))
    }
}

/// The positions set in a state word.
fn states(mut word: u64) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        if word == 0 {
            return None;
        }
        let state = word.trailing_zeros() as usize;
        word &= word - 1;
        Some(state)
    })
}

/// True when a reachable state accepts: the end of the pattern, or only `**` left.
fn accepts(reached: u64, segments: &[Segment]) -> bool {
    states(reached).any(|state| {
        segments
            .get(state..)
            .is_some_and(|rest| rest.iter().all(|s| *s == Segment::AnyDepth))
    })
}

/// Run the segment automaton over `path`, returning the positions reachable at the end
/// (bit `i`: position `i`; an alternative has at most [`MAX_SEGMENTS`] segments).
fn reachable_states(text: &str, segments: &[Segment], path: &[&str]) -> u64 {
    let mut current = close_any_depth(segments, 1);
    for part in path {
        let mut next = 0u64;
        for state in states(current) {
            match segments.get(state) {
                // `**` absorbs this segment and stays.
                Some(Segment::AnyDepth) => next |= 1 << state,
                Some(Segment::Pattern(start, end)) => {
                    let pattern = text.get(*start as usize..*end as usize).unwrap_or("");
                    if wildcard_match(pattern, part) {
                        next |= 1u64.checked_shl(state as u32 + 1).unwrap_or(0);
                    }
                }
                None => {}
            }
        }
        current = close_any_depth(segments, next);
        if current == 0 {
            break;
        }
    }
    current
}

/// `**` may also match zero segments: from a reached `**` the next position is reached.
fn close_any_depth(segments: &[Segment], mut reached: u64) -> u64 {
    for (state, segment) in segments.iter().enumerate() {
        if *segment == Segment::AnyDepth && reached & (1 << state) != 0 {
            reached |= 1u64.checked_shl(state as u32 + 1).unwrap_or(0);
        }
    }
    reached
}

/// Shell-style match of one segment: `*` any run, `?` one character.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    // Matching runs for every rule on every call, so the usual case (ASCII on both
    // sides, where a byte is a character) works on the bytes without allocating.
    if pattern.is_ascii() && text.is_ascii() {
        return star_match(pattern.as_bytes(), text.as_bytes(), Some(b'?'));
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    star_match(&pattern, &text, Some('?'))
}

/// Match `text` against `pattern`, where `*` matches any run and `any` (when given) one
/// unit; everything else matches itself. Greedy with backtracking to the last `*`.
fn star_match<T: Copy + PartialEq + From<u8>>(pattern: &[T], text: &[T], any: Option<T>) -> bool {
    let star_unit = T::from(b'*');
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(c) if *c == star_unit => {
                star = Some((p, t));
                p += 1;
            }
            Some(c) if Some(*c) == any || Some(c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .is_some_and(|rest| rest.iter().all(|c| *c == star_unit))
}

/// Could two single-segment wildcard patterns match a common string?
fn wildcard_overlap(a: &[char], b: &[char]) -> bool {
    // Dynamic programming over prefixes: cell (i, j) means a[..i] and b[..j] can produce a
    // common string. A `*` may consume nothing or one character of the other side's output.
    let mut table = vec![vec![false; b.len() + 1]; a.len() + 1];
    for i in 0..=a.len() {
        for j in 0..=b.len() {
            let value = if i == 0 && j == 0 {
                true
            } else {
                let a_char = i.checked_sub(1).and_then(|k| a.get(k));
                let b_char = j.checked_sub(1).and_then(|k| b.get(k));
                let cell = |x: Option<usize>, y: Option<usize>| -> bool {
                    match (x, y) {
                        (Some(x), Some(y)) => table
                            .get(x)
                            .and_then(|row| row.get(y))
                            .copied()
                            .unwrap_or(false),
                        _ => false,
                    }
                };
                let mut reachable = false;
                if a_char == Some(&'*') {
                    // `*` in a stops (empty), or eats a character b produces.
                    reachable |= cell(i.checked_sub(1), Some(j));
                    reachable |= cell(Some(i), j.checked_sub(1));
                }
                if b_char == Some(&'*') {
                    reachable |= cell(Some(i), j.checked_sub(1));
                    reachable |= cell(i.checked_sub(1), Some(j));
                }
                if let (Some(x), Some(y)) = (a_char, b_char)
                    && *x != '*'
                    && *y != '*'
                    && (*x == '?' || *y == '?' || x == y)
                {
                    reachable |= cell(i.checked_sub(1), j.checked_sub(1));
                }
                reachable
            };
            if let Some(slot) = table.get_mut(i).and_then(|row| row.get_mut(j)) {
                *slot = value;
            }
        }
    }
    table
        .get(a.len())
        .and_then(|row| row.get(b.len()))
        .copied()
        .unwrap_or(false)
}

/// Could a glob (with `**`) and a shell pattern (segments with `*`, `?`) name a common path?
fn segments_overlap(text: &str, glob: &[Segment], pattern: &[&str]) -> bool {
    let pattern: Vec<Vec<char>> = pattern.iter().map(|s| s.chars().collect()).collect();
    let mut table = vec![vec![false; pattern.len() + 1]; glob.len() + 1];
    if let Some(cell) = table.get_mut(0).and_then(|row| row.get_mut(0)) {
        *cell = true;
    }
    for i in 0..=glob.len() {
        for j in 0..=pattern.len() {
            let get = |x: usize, y: usize| -> bool {
                table
                    .get(x)
                    .and_then(|row| row.get(y))
                    .copied()
                    .unwrap_or(false)
            };
            let mut value = get(i, j);
            if i > 0 {
                if let Some(Segment::AnyDepth) = glob.get(i - 1) {
                    // `**` matches zero segments, or one more segment of the pattern.
                    value |= get(i - 1, j);
                    if j > 0 {
                        value |= get(i, j - 1);
                    }
                } else if let (Some(Segment::Pattern(start, end)), true) = (glob.get(i - 1), j > 0)
                {
                    let g = text.get(*start as usize..*end as usize).unwrap_or("");
                    let g: Vec<char> = g.chars().collect();
                    if let Some(p) = pattern.get(j - 1) {
                        // The shell's `*` and `?` never name a leading dot (no dotglob).
                        let hidden_only = g.first() == Some(&'.');
                        let wild_start = matches!(p.first(), Some('*' | '?'));
                        if !(hidden_only && wild_start) && wildcard_overlap(&g, p) {
                            value |= get(i - 1, j - 1);
                        }
                    }
                }
            }
            if let Some(cell) = table.get_mut(i).and_then(|row| row.get_mut(j)) {
                *cell = value;
            }
        }
    }
    table
        .get(glob.len())
        .and_then(|row| row.get(pattern.len()))
        .copied()
        .unwrap_or(false)
}

/// Expand `{a,b}` alternatives (nested allowed). Unbalanced braces are taken literally.
fn expand_braces(source: &str) -> Result<Vec<String>, String> {
    if !source.contains('{') {
        // Most globs have no alternatives.
        return Ok(vec![source.to_string()]);
    }
    // Byte offsets: the braces and the comma are ASCII, so every cut is on a character
    // boundary, and the text between braces is copied a run at a time.
    let bytes = source.as_bytes();
    let mut results = vec![String::new()];
    let mut literal_start = 0;
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        if byte == b'{'
            && let Some(close) = matching_brace(bytes, index)
        {
            let literal = source.get(literal_start..index).unwrap_or("");
            let inner = source.get(index + 1..close).unwrap_or("");
            // Parts without braces of their own are used as they are, not copied.
            let mut options: Vec<std::borrow::Cow<'_, str>> = Vec::new();
            for part in split_top_level(inner) {
                if part.contains('{') {
                    options.extend(expand_braces(part)?.into_iter().map(Into::into));
                } else {
                    options.push(part.into());
                }
            }
            let mut next = Vec::with_capacity(results.len() * options.len());
            for prefix in &results {
                for option in &options {
                    let mut alternative =
                        String::with_capacity(prefix.len() + literal.len() + option.len());
                    alternative.push_str(prefix);
                    alternative.push_str(literal);
                    alternative.push_str(option);
                    next.push(alternative);
                }
            }
            if next.len() > MAX_ALTERNATIVES {
                return Err(format!(
                    "`{source}` expands to more than {MAX_ALTERNATIVES} alternatives"
                ));
            }
            results = next;
            index = close + 1;
            literal_start = index;
            continue;
        }
        index += 1;
    }
    let literal = source.get(literal_start..).unwrap_or("");
    for result in &mut results {
        result.push_str(literal);
    }
    Ok(results)
}

fn matching_brace(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (offset, byte) in bytes.iter().enumerate().skip(open) {
        match byte {
            b'{' => depth += 1,
            b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Some(offset);
                }
            }
            _ => {}
        }
    }
    None
}

/// The comma-separated parts of a brace's inside, nested braces kept whole. Cut at byte
/// offsets: `{`, `}` and `,` are ASCII, so every cut is on a character boundary.
fn split_top_level(inner: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, byte) in inner.bytes().enumerate() {
        match byte {
            b'{' => depth += 1,
            b'}' => depth = depth.saturating_sub(1),
            b',' if depth == 0 => {
                parts.push(inner.get(start..index).unwrap_or(""));
                start = index + 1;
            }
            _ => {}
        }
    }
    parts.push(inner.get(start..).unwrap_or(""));
    parts
}

/// A command pattern: `*` matches any run of characters; runs of white space compare equal.
#[derive(Clone, Debug)]
pub struct CommandPattern {
    source: String,
    normalized: String,
}

impl CommandPattern {
    pub fn new(source: &str) -> Result<CommandPattern, String> {
        let normalized = normalize_command(source);
        if normalized.is_empty() {
            return Err("an empty command pattern matches nothing; remove it".to_string());
        }
        Ok(CommandPattern {
            source: source.to_string(),
            normalized,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// True when the pattern has no `*`: it names one exact command.
    pub fn is_exact(&self) -> bool {
        !self.normalized.contains('*')
    }

    pub fn matches(&self, command: &str) -> bool {
        // Each rule of the kind is tried on each command: a command already in the
        // normal form (the analyser's lines are) is matched as it is, not copied.
        let normalized;
        let command = if is_normalized(command) {
            command
        } else {
            normalized = normalize_command(command);
            normalized.as_str()
        };
        if self.is_exact() {
            return self.normalized == command;
        }
        // `*` spans spaces here, unlike in path segments.
        wildcard_match_no_question(&self.normalized, command)
    }
}

/// Collapse runs of white space to one space and trim.
/// Is `command` what [`normalize_command`] makes of it: words joined by single spaces,
/// with no other whitespace?
fn is_normalized(command: &str) -> bool {
    let mut after_space = true;
    for c in command.chars() {
        if c == ' ' {
            if after_space {
                return false;
            }
            after_space = true;
        } else if c.is_whitespace() {
            return false;
        } else {
            after_space = false;
        }
    }
    !after_space || command.is_empty()
}

pub fn normalize_command(command: &str) -> String {
    let mut out = String::with_capacity(command.len());
    for word in command.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Like [`wildcard_match`] but `?` is literal: command lines are full of question marks.
fn wildcard_match_no_question(pattern: &str, text: &str) -> bool {
    if pattern.is_ascii() && text.is_ascii() {
        return star_match(pattern.as_bytes(), text.as_bytes(), None);
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    star_match(&pattern, &text, None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn segs(path: &str) -> Vec<&str> {
        path.split('/').filter(|s| !s.is_empty()).collect()
    }

    fn glob(source: &str) -> PathGlob {
        PathGlob::new(source).unwrap()
    }

    /// 60,000 sources of up to `max_len` pieces of `alphabet` (xorshift from `seed`),
    /// every third one under `ab/`.
    fn generated_sources<'a>(
        seed: u64,
        alphabet: &'a [&'a str],
        max_len: u64,
    ) -> impl Iterator<Item = String> + 'a {
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..60_000).map(move |round| {
            let len = next() % max_len;
            let mut source: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
                .collect();
            if round % 3 == 0 {
                source.insert_str(0, "ab/");
            }
            source
        })
    }

    /// The one-pass reading says what the three it replaces say together, over generated
    /// sources of the characters that matter (and `..`, spaces, non-ASCII white space).
    #[test]
    fn the_skippable_head_is_the_plain_head_of_a_glob_that_surely_compiles() {
        let alphabet = [
            "a", "b", "/", "/", "{", "}", ",", ",", "*", "?", ".", "..", " ", "[", "]", "\\",
            "\u{a0}", "é",
        ];
        let mut skippable = 0;
        for source in generated_sources(0x9e37_79b9_7f4a_7c15, &alphabet, 80) {
            let want = (PathGlob::surely_compiles(&source)
                && !source.split('/').any(|s| s == ".."))
            .then(|| PathGlob::plain_head(&source))
            .flatten();
            skippable += usize::from(want.is_some());
            assert_eq!(PathGlob::skippable_head(&source), want, "{source:?}");
        }
        for source in [
            "..", "a/..", "../a", "a/../b", "a/..b", "..a/b", "\u{a0}", "a/b/",
        ] {
            let want = (PathGlob::surely_compiles(source) && !source.split('/').any(|s| s == ".."))
                .then(|| PathGlob::plain_head(source))
                .flatten();
            assert_eq!(PathGlob::skippable_head(source), want, "{source:?}");
        }
        assert!(skippable > 10_000, "{skippable}");
    }

    /// `surely_compiles` never vouches for a glob that does not compile, and a plain
    /// head is the first segment of every alternative: checked over generated sources
    /// made of the characters that matter (slashes, braces, commas, wildcards, dots).
    #[test]
    fn what_is_told_from_the_text_holds_for_the_compiled_glob() {
        let alphabet = [
            "a", "b", "/", "/", "{", "}", ",", ",", "*", "?", ".", " ", "[",
        ];
        let mut vouched = 0;
        for source in generated_sources(0x2545_f491_4f6c_dd1d, &alphabet, 72) {
            let compiled = PathGlob::new(&source);
            if PathGlob::surely_compiles(&source) {
                vouched += 1;
                assert!(compiled.is_ok(), "{source:?}: {compiled:?}");
            }
            if let (Some(head), Ok(glob)) = (PathGlob::plain_head(&source), &compiled) {
                for segments in glob.each() {
                    let first = segments.first();
                    assert!(
                        matches!(first, Some(Segment::Pattern(start, end))
                            if glob.text().get(*start as usize..*end as usize) == Some(head)),
                        "{source:?}: {head:?}"
                    );
                }
            }
        }
        assert!(vouched > 10_000, "{vouched}");
        // At the limits.
        let deep = vec!["d"; 63].join("/");
        assert!(PathGlob::surely_compiles(&deep));
        assert!(!PathGlob::surely_compiles(&format!("{deep}/e")));
        assert!(PathGlob::new(&format!("{deep}/e")).is_err());
        let wide = "{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}";
        assert!(PathGlob::surely_compiles(wide) && PathGlob::new(wide).is_ok());
        let wider = format!("{wide}{{a,b}}");
        assert!(!PathGlob::surely_compiles(&wider) && PathGlob::new(&wider).is_err());
        assert!(!PathGlob::surely_compiles("  "));
    }

    /// A command is taken as it is exactly when normalising it would change nothing.
    #[test]
    fn a_command_is_normalized_exactly_when_normalising_changes_nothing() {
        let parts = [
            "", " ", "  ", "a", "bc", "\t", "\n", "\u{a0}", "\u{3000}", "*", "é",
        ];
        for one in parts {
            for two in parts {
                for three in parts {
                    for four in parts {
                        let command = format!("{one}{two}{three}{four}");
                        assert_eq!(
                            is_normalized(&command),
                            normalize_command(&command) == command,
                            "{command:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn any_depth_matches_zero_or_more_segments() {
        assert!(glob("**/.env*").matches(&segs(".env")));
        assert!(glob("**/.env*").matches(&segs("a/b/.env.local")));
        assert!(!glob("**/.env*").matches(&segs("a/env")));
        assert!(glob("billing/export/**").matches(&segs("billing/export")));
        assert!(glob("billing/export/**").matches(&segs("billing/export/a/b.py")));
        assert!(!glob("billing/export/**").matches(&segs("billing/exports/a.py")));
        assert!(glob("**/migrations/**").matches(&segs("billing/migrations/0001.sql")));
        assert!(glob("**/requirements*.txt").matches(&segs("requirements-dev.txt")));
    }

    #[test]
    fn star_stays_within_a_segment() {
        assert!(glob("docs/*.md").matches(&segs("docs/a.md")));
        assert!(!glob("docs/*.md").matches(&segs("docs/x/a.md")));
    }

    #[test]
    fn braces_expand() {
        assert!(glob("src/{a,b}/**").matches(&segs("src/b/x")));
        assert!(!glob("src/{a,b}/**").matches(&segs("src/c/x")));
    }

    #[test]
    fn segments_are_cut_where_the_text_says() {
        // Leading `./` and `/`, doubled and `.` segments: the same segments as written plainly.
        for source in ["./a/*/c", "/a/*/c", "a//*/./c", "././a/*/c/"] {
            let g = glob(source);
            assert!(g.matches(&segs("a/b/c")), "{source}");
            assert!(!g.matches(&segs("a/b/d")), "{source}");
            assert!(!g.matches(&segs("a/b")), "{source}");
        }
        // Alternatives after expansion keep their own segments.
        let g = glob("./{x/y,z}/**/*.py");
        assert!(g.matches(&segs("x/y/q/r.py")));
        assert!(g.matches(&segs("z/r.py")));
        assert!(!g.matches(&segs("x/r.py")));
        assert!(!g.matches(&segs("y/r.py")));
        // 63 segments are matched (the positions fill the state word); 64 are refused.
        let deep = vec!["d"; 63].join("/");
        assert!(glob(&deep).matches(&vec!["d"; 63]));
        assert!(!glob(&deep).matches(&vec!["d"; 62]));
        let below = vec!["d"; 62].join("/");
        assert!(glob(&format!("{below}/**")).covers_tree(&vec!["d"; 63]));
        assert!(!glob(&format!("{below}/**")).covers_tree(&vec!["d"; 61]));
        let error = PathGlob::new(&format!("{deep}/e")).unwrap_err();
        assert!(error.contains("more than 63 segments"), "{error}");
    }

    #[test]
    fn brace_edge_cases() {
        let expand = |s: &str| expand_braces(s).unwrap();
        assert_eq!(expand("a{b{c,d}"), ["a{bc", "a{bd"]);
        assert_eq!(expand("x/{a,b{1,2}}/y"), ["x/a/y", "x/b1/y", "x/b2/y"]);
        assert_eq!(expand("{a,b}{c,d}"), ["ac", "ad", "bc", "bd"]);
        assert_eq!(expand("a}b{"), ["a}b{"]);
        assert_eq!(expand("é{x,y}ü"), ["éxü", "éyü"]);
        assert_eq!(expand("{,x}"), ["", "x"]);
        assert!(expand_braces("{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}").is_err());
    }

    #[test]
    fn wildcards_count_characters_not_bytes() {
        assert!(wildcard_match("?.txt", "é.txt"));
        assert!(!wildcard_match("??.txt", "é.txt"));
        assert!(wildcard_match("*é", "xxé"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("?", ""));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
        assert!(CommandPattern::new("echo ?").unwrap().matches("echo ?"));
        assert!(!CommandPattern::new("echo ?").unwrap().matches("echo x"));
        assert!(
            CommandPattern::new("grep * é*")
                .unwrap()
                .matches("grep -n   éa")
        );
    }

    #[test]
    fn folder_questions() {
        assert!(glob("**/.env*").may_match_under(&segs("billing/export")));
        assert!(!glob("customer_data/**").may_match_under(&segs("billing/export")));
        assert!(glob("customer_data/**").may_match_under(&[]));
        assert!(glob("billing/export/**").covers_tree(&segs("billing/export/tests")));
        assert!(!glob("billing/export/**").covers_tree(&segs("billing")));
        assert!(glob("**").covers_tree(&[]));
        assert!(!glob("billing/export").covers_tree(&segs("billing/export")));
    }

    #[test]
    fn overlap_of_globs_and_shell_patterns() {
        assert!(glob("**/.env*").overlaps(&segs(".e*")));
        assert!(glob("**/.env*").overlaps(&segs(".*")));
        assert!(glob("**/.env*").overlaps(&segs("*/.e?v")));
        // Bash's `*` does not name dot files.
        assert!(!glob("**/.env*").overlaps(&segs("*")));
        assert!(glob("secrets/**").overlaps(&segs("s*/key")));
        assert!(!glob("secrets/**").overlaps(&segs("billing/*.py")));
        assert!(!glob("**/.env*").overlaps(&segs("billing/*.py")));
        assert!(glob("**/.env*").overlaps(&segs("billing/.??v")));
    }

    #[test]
    fn command_patterns() {
        let pattern = CommandPattern::new("pytest billing/export/tests*").unwrap();
        assert!(pattern.matches("pytest billing/export/tests -q"));
        assert!(pattern.matches("pytest   billing/export/tests"));
        assert!(!pattern.matches("pytest billing"));
        assert!(
            CommandPattern::new("git push*")
                .unwrap()
                .matches("git push origin main")
        );
        assert!(
            !CommandPattern::new("git push*")
                .unwrap()
                .matches("git status")
        );
        assert!(
            CommandPattern::new("kubectl *")
                .unwrap()
                .matches("kubectl get pods")
        );
    }
}
