//! Shell words after quote removal, and brace expansion.
//!
//! A word is built from the syntax tree piece by piece. Every character remembers whether
//! it was quoted, because only unquoted `{`, `,`, `}` expand braces and only unquoted `*`,
//! `?`, `[` glob. A piece whose value the text does not tell (a `$VAR`, a `$(…)`) is kept
//! as written and marks the whole word unknown: the caller must not treat such a word as
//! a harmless path.

/// The most words one brace expansion may produce; more makes the word unknown.
pub(crate) const MAX_BRACE_WORDS: usize = 128;

/// One word after quote removal.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Word {
    /// The text after quote removal; unknown pieces as written (`$HOME/x`).
    pub text: String,
    /// Some piece is an expansion whose value is unknown.
    pub unknown: bool,
    /// Some unquoted `*`, `?` or `[`: the word is a glob pattern.
    pub glob: bool,
    /// A process substitution (`<(…)`): names a pipe, not a file.
    pub pipe: bool,
}

impl Word {
    /// A literal word (for words the analyser makes up, like `{}` replacements).
    pub fn literal(text: &str) -> Word {
        Word {
            text: text.to_string(),
            ..Word::default()
        }
    }

    /// A word standing for text the line does not hold (`xargs` input).
    pub fn unknown(text: &str) -> Word {
        Word {
            text: text.to_string(),
            unknown: true,
            ..Word::default()
        }
    }

    /// The same kind of word (known or not, glob, pipe) with other text.
    pub fn with_text(&self, text: String) -> Word {
        Word {
            text,
            unknown: self.unknown,
            glob: self.glob,
            pipe: self.pipe,
        }
    }

    /// Is this a plain, known word equal to `s`?
    pub fn is(&self, s: &str) -> bool {
        !self.unknown && self.text == s
    }
}

/// A word under construction: characters with their quoting.
#[derive(Clone, Debug, Default)]
pub(crate) struct RawWord {
    chars: Vec<(char, bool)>,
    unknown: bool,
    pipe: bool,
}

impl RawWord {
    /// An empty word with room for `bytes` characters (a word has at most as many
    /// characters as its source has bytes).
    pub fn with_capacity(bytes: usize) -> RawWord {
        RawWord {
            chars: Vec::with_capacity(bytes),
            ..RawWord::default()
        }
    }

    fn push_char(&mut self, c: char, quoted: bool) {
        self.chars.push((c, quoted));
    }

    pub fn push_unquoted(&mut self, text: &str) {
        self.chars.extend(text.chars().map(|c| (c, false)));
    }

    pub fn push_quoted(&mut self, text: &str) {
        self.chars.extend(text.chars().map(|c| (c, true)));
    }

    /// A piece whose value is unknown, kept as written.
    pub fn push_unknown(&mut self, text: &str) {
        self.push_quoted(text);
        self.unknown = true;
    }

    pub fn mark_pipe(&mut self) {
        self.pipe = true;
    }

    /// `~user/…`: another user's home, which the text does not tell.
    pub fn tilde_user(&self) -> bool {
        matches!(self.chars.first(), Some(('~', false)))
            && self.chars.get(1).is_some_and(|(c, _)| *c != '/')
    }

    pub fn is_empty(&self) -> bool {
        self.chars.is_empty()
    }

    /// Has an unquoted character from `set`.
    pub fn has_unquoted(&self, set: &[char]) -> bool {
        self.chars.iter().any(|(c, q)| !q && set.contains(c))
    }

    /// Brace-expand into finished words. Too many alternatives make one unknown word.
    pub fn finish(self) -> Vec<Word> {
        let unknown = self.unknown;
        let pipe = self.pipe;
        if !self.chars.iter().any(|(c, q)| *c == '{' && !q) {
            // Nothing to brace-expand: the one word as it stands.
            return vec![Word {
                glob: self
                    .chars
                    .iter()
                    .any(|(c, q)| !q && matches!(c, '*' | '?' | '[')),
                text: self.chars.iter().map(|(c, _)| *c).collect(),
                unknown,
                pipe,
            }];
        }
        let mut out = Vec::new();
        let mut overflow = false;
        expand(self.chars.clone(), &mut out, &mut overflow, 0);
        if overflow {
            return vec![Word {
                text: self.chars.iter().map(|(c, _)| *c).collect(),
                unknown: true,
                glob: false,
                pipe,
            }];
        }
        out.into_iter()
            .map(|chars| Word {
                glob: chars
                    .iter()
                    .any(|(c, q)| !q && matches!(c, '*' | '?' | '[')),
                text: chars.iter().map(|(c, _)| *c).collect(),
                unknown,
                pipe,
            })
            .collect()
    }
}

type Chars = Vec<(char, bool)>;

/// Bash brace expansion over unquoted braces: `a{b,c}d`, `{1..3}`, `{a..c}`.
fn expand(chars: Chars, out: &mut Vec<Chars>, overflow: &mut bool, depth: usize) {
    if *overflow {
        return;
    }
    if out.len() >= MAX_BRACE_WORDS || depth > 16 {
        *overflow = true;
        return;
    }
    let Some((open, close, alternatives)) = first_brace(&chars) else {
        out.push(chars);
        return;
    };
    let prefix: Chars = chars.get(..open).map(<[_]>::to_vec).unwrap_or_default();
    let suffix: Chars = chars
        .get(close + 1..)
        .map(<[_]>::to_vec)
        .unwrap_or_default();
    for alternative in alternatives {
        let mut next = prefix.clone();
        next.extend(alternative);
        next.extend(suffix.iter().copied());
        expand(next, out, overflow, depth + 1);
        if *overflow {
            return;
        }
    }
}

/// The first unquoted `{…}` that expands, with its alternatives.
fn first_brace(chars: &[(char, bool)]) -> Option<(usize, usize, Vec<Chars>)> {
    let mut start = 0;
    while let Some(offset) = chars
        .get(start..)?
        .iter()
        .position(|(c, q)| *c == '{' && !q)
    {
        let open = start + offset;
        // `${` is a parameter expansion, kept quoted by the builder; skip defensively.
        let mut depth = 0usize;
        let mut commas = Vec::new();
        let mut close = None;
        for (index, (c, quoted)) in chars.iter().enumerate().skip(open) {
            if *quoted {
                continue;
            }
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        close = Some(index);
                        break;
                    }
                }
                ',' if depth == 1 => commas.push(index),
                _ => {}
            }
        }
        let close = close?;
        if !commas.is_empty() {
            let mut alternatives = Vec::new();
            let mut from = open + 1;
            for comma in commas.iter().copied().chain(std::iter::once(close)) {
                alternatives.push(
                    chars
                        .get(from..comma)
                        .map(<[_]>::to_vec)
                        .unwrap_or_default(),
                );
                from = comma + 1;
            }
            return Some((open, close, alternatives));
        }
        let inner: String = chars
            .get(open + 1..close)
            .unwrap_or_default()
            .iter()
            .map(|(c, _)| *c)
            .collect();
        if let Some(sequence) = sequence(&inner) {
            return Some((open, close, sequence));
        }
        start = open + 1;
    }
    None
}

/// `1..5`, `5..1`, `1..10..2`, `a..e`: the sequence, or `None` when it is not one.
fn sequence(inner: &str) -> Option<Vec<Chars>> {
    let parts: Vec<&str> = inner.split("..").collect();
    let (from, to, step) = match parts.as_slice() {
        [from, to] => (*from, *to, None),
        [from, to, step] => (*from, *to, Some(*step)),
        _ => return None,
    };
    let step: i64 = match step {
        Some(s) => s.parse::<i64>().ok()?.checked_abs()?.max(1),
        None => 1,
    };
    let to_chars = |s: String| s.chars().map(|c| (c, false)).collect::<Chars>();
    if let (Ok(a), Ok(b)) = (from.parse::<i64>(), to.parse::<i64>()) {
        let count = (a - b).checked_abs()? / step + 1;
        if count > MAX_BRACE_WORDS as i64 {
            // Too many to list: one word per end is enough to be honest about the range.
            return Some(vec![
                to_chars(format!("{{{inner}}}"))
                    .into_iter()
                    .map(|(c, _)| (c, true))
                    .collect(),
            ]);
        }
        let mut out = Vec::new();
        let mut value = a;
        for _ in 0..count {
            out.push(to_chars(value.to_string()));
            value = if a <= b { value + step } else { value - step };
        }
        return Some(out);
    }
    let (mut a, mut b) = (from.chars(), to.chars());
    if let (Some(a), None, Some(b), None) = (a.next(), a.next(), b.next(), b.next())
        && a.is_ascii_alphabetic()
        && b.is_ascii_alphabetic()
    {
        let (lo, hi) = (a as u32, b as u32);
        let range: Vec<u32> = if lo <= hi {
            (lo..=hi).step_by(step as usize).collect()
        } else {
            (hi..=lo).rev().step_by(step as usize).collect()
        };
        return Some(
            range
                .into_iter()
                .filter_map(char::from_u32)
                .map(|c| vec![(c, false)])
                .collect(),
        );
    }
    None
}

/// Quote removal for an unquoted word's text: a backslash quotes the next character, a
/// backslash-newline disappears.
pub(crate) fn push_unquoted_text(word: &mut RawWord, text: &str) {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('\n') | None => {}
                Some(next) => word.push_char(next, true),
            }
        } else {
            word.push_char(c, false);
        }
    }
}

/// Quote removal inside double quotes: a backslash quotes only `$`, `` ` ``, `"`, `\` and
/// a newline.
pub(crate) fn push_double_quoted_text(word: &mut RawWord, text: &str) {
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.peek().copied() {
                Some('\n') => {
                    chars.next();
                }
                Some(next @ ('$' | '`' | '"' | '\\')) => {
                    chars.next();
                    word.push_char(next, true);
                }
                _ => word.push_char('\\', true),
            }
        } else {
            word.push_char(c, true);
        }
    }
}

/// Decode the inside of `$'…'`. `None` when an escape is not understood.
pub(crate) fn decode_ansi_c(inner: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = chars.next()?;
        match escaped {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'e' | 'E' => out.push('\u{1b}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            '\\' | '\'' | '"' | '?' => out.push(escaped),
            'x' => {
                let mut value = 0u32;
                let mut digits = 0;
                while digits < 2 {
                    match chars.peek().and_then(|c| c.to_digit(16)) {
                        Some(d) => {
                            value = value * 16 + d;
                            chars.next();
                            digits += 1;
                        }
                        None => break,
                    }
                }
                if digits == 0 || value > 0x7f {
                    return None;
                }
                out.push(char::from_u32(value)?);
            }
            '0'..='7' => {
                let mut value = escaped.to_digit(8)?;
                for _ in 0..2 {
                    match chars.peek().and_then(|c| c.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            chars.next();
                        }
                        None => break,
                    }
                }
                if value > 0x7f {
                    return None;
                }
                out.push(char::from_u32(value)?);
            }
            _ => return None,
        }
    }
    // A NUL ends the string in Bash; anything after it is not part of the word.
    Some(match out.split_once('\0') {
        Some((head, _)) => head.to_string(),
        None => out,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn texts(raw: &str) -> Vec<String> {
        let mut word = RawWord::default();
        push_unquoted_text(&mut word, raw);
        word.finish().into_iter().map(|w| w.text).collect()
    }

    #[test]
    fn braces_expand_into_separate_words() {
        assert_eq!(texts("a{b,c}d"), ["abd", "acd"]);
        assert_eq!(texts(".{env,git}"), [".env", ".git"]);
        assert_eq!(texts("{a,b}{1,2}"), ["a1", "a2", "b1", "b2"]);
        assert_eq!(texts("x{1..3}"), ["x1", "x2", "x3"]);
        assert_eq!(texts("{c..a}"), ["c", "b", "a"]);
        assert_eq!(texts("{a,{b,c}}"), ["a", "b", "c"]);
    }

    #[test]
    fn braces_that_do_not_expand_stay() {
        assert_eq!(texts("{}"), ["{}"]);
        assert_eq!(texts("{x}"), ["{x}"]);
        assert_eq!(texts("a{b"), ["a{b"]);
        assert_eq!(texts("\\{a,b}"), ["{a,b}"]);
    }

    #[test]
    fn too_many_alternatives_make_the_word_unknown() {
        let words = {
            let mut word = RawWord::default();
            push_unquoted_text(&mut word, "{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}");
            word.finish()
        };
        assert_eq!(words.len(), 1);
        assert!(words[0].unknown);
    }

    #[test]
    fn backslashes_quote() {
        assert_eq!(texts("\\rm"), ["rm"]);
        assert_eq!(texts("a\\\nb"), ["ab"]);
        let mut word = RawWord::default();
        push_unquoted_text(&mut word, "\\*");
        assert!(!word.finish()[0].glob);
    }

    #[test]
    fn ansi_c_strings_decode() {
        assert_eq!(decode_ansi_c("a\\x41\\101\\n").unwrap(), "aAA\n");
        assert_eq!(decode_ansi_c("\\x2eenv").unwrap(), ".env");
        assert_eq!(decode_ansi_c("\\u0041"), None);
        assert_eq!(decode_ansi_c("ab\\0cd").unwrap(), "ab");
    }
}
