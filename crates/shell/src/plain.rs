//! A hand-written reader for plain Bash statements, in front of tree-sitter.
//!
//! Most lines an agent runs are simple commands joined by `&&`, `||`, `|` and `;`, with
//! literal words, quotes and file redirections. tree-sitter-bash parses text at about
//! 1,200 instructions per byte: a 744-byte line took ~78 µs to parse alone, against issue
//! 3's budget of 100 µs at p99 for the whole analysis. This module reads the plain subset
//! directly and leaves every other statement to tree-sitter:
//!
//! 1. [`split`] cuts the line into its top-level statements at `;` and newlines, following
//!    quotes, `for|while|until|select … done` and `if … fi`. Anything that would make the
//!    cut uncertain (here-documents, `case`, parentheses, groups, substitutions, backquotes,
//!    `${…}`, `$'…'`, background jobs, comments) gives `None`, and the whole line goes to
//!    tree-sitter as before.
//! 2. Each statement is read as a plain [`Chain`] when it is one, or as a plain [`ForLoop`]
//!    (`for NAME in WORDS; do CHAINS; done`); otherwise it stays a range of text that
//!    tree-sitter parses on its own. A plain word may hold `$NAME` (bare or in double
//!    quotes), a value the text does not tell, except in command position and in a loop's
//!    word list. A loop and its `$f` words cost tree-sitter ~200,000 instructions in the
//!    744-byte sample line, two fifths of its analysis (issue 14).
//!
//! The subset is chosen so that the walker's analysis is the same either way, byte for
//! byte: `walk::tests` compares both paths over every corpus command and many thousands
//! of generated lines. When in doubt a statement is not plain; that costs only speed.
//!
//! A cut can only be wrong if this scanner and the grammar disagree about where a
//! compound statement ends. The statement before such a cut would then end inside the
//! compound, which tree-sitter reports as a syntax error, and a line with any statement
//! that does not parse is parsed whole (see `walk::Walker::script`).

use std::ops::Range;

/// One top-level statement of a line.
pub(crate) enum Part {
    /// Plain pipelines joined by `&&` and `||`.
    Plain(Chain),
    /// `for NAME in WORDS; do STATEMENTS; done` over plain words and statements.
    For(ForLoop),
    /// Anything else, as a range of the line, for tree-sitter.
    Other(Range<usize>),
}

/// Pipelines joined by `&&` and `||`, evaluated left to right.
pub(crate) struct Chain {
    pub span: Range<usize>,
    pub pipelines: Vec<Pipeline>,
    /// `ands[k]` joins `pipelines[k]` and `pipelines[k + 1]`: `true` for `&&`.
    pub ands: Vec<bool>,
}

/// `for NAME in WORDS; do BODY; done`: the loop variable, the words it takes (plain, so
/// they have no effect of their own) and the body's statements, each a plain chain.
pub(crate) struct ForLoop {
    pub span: Range<usize>,
    pub name: Range<usize>,
    pub body: Vec<Chain>,
}

/// Commands joined by `|`.
pub(crate) struct Pipeline {
    pub span: Range<usize>,
    pub commands: Vec<Command>,
}

/// Words, then file redirections.
pub(crate) struct Command {
    /// The words and the redirections.
    pub span: Range<usize>,
    /// The words alone (what tree-sitter calls the `command` node).
    pub words_span: Range<usize>,
    pub words: Vec<Word>,
    pub redirects: Vec<Redirect>,
}

/// One word as written: bare text and quoted strings, side by side.
pub(crate) struct Word {
    pub span: Range<usize>,
    pub pieces: Vec<Piece>,
}

/// Part of a word; the range is the text inside the quotes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Piece {
    Bare(Range<usize>),
    Single(Range<usize>),
    Double(Range<usize>),
    /// `$NAME`, bare or inside double quotes (the range holds the `$`): a value the text
    /// does not tell.
    Var(Range<usize>),
}

/// `[n]OP target`.
pub(crate) struct Redirect {
    pub span: Range<usize>,
    /// Written with a descriptor (`2>`).
    pub descriptor: bool,
    pub operator: &'static str,
    pub target: Word,
}

/// The line's top-level statements, or `None` when the cut would be uncertain.
pub(crate) fn split(source: &str) -> Option<Vec<Part>> {
    let bytes = source.as_bytes();
    let ranges = statements(bytes)?;
    Some(
        ranges
            .into_iter()
            .map(|range| match chain(bytes, range.clone()) {
                Some(chain) => Part::Plain(chain),
                None => match for_loop(bytes, range.clone()) {
                    Some(found) => Part::For(found),
                    None => Part::Other(range),
                },
            })
            .collect(),
    )
}

/// What closes an open compound statement.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Closer {
    Done,
    Fi,
}

/// Top-level statement ranges (first token to last token), cut at `;` and newlines outside
/// compound statements.
fn statements(b: &[u8]) -> Option<Vec<Range<usize>>> {
    let mut out = Vec::new();
    let mut open: Vec<Closer> = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = 0;
    // The next word is in command position, where reserved words count.
    let mut command_start = true;
    // The current command began with an assignment (`A=1 for` is not a loop).
    let mut assigned = false;
    // The last token was `&&`, `||` or `|`: a newline continues the line.
    let mut continued = false;
    // The last token was a redirection operator: the next word is its target.
    let mut target = false;
    // The current command has only redirections and assignments so far.
    let mut prefix_only = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        let from = i;
        match c {
            b' ' | b'\t' => {
                i += 1;
                continue;
            }
            b'\n' if continued => {
                i += 1;
                continue;
            }
            b'\n' | b';' => {
                if target
                    || (c == b';'
                        && (start.is_none()
                            || continued
                            || matches!(b.get(i + 1), Some(b';' | b'&'))))
                {
                    return None;
                }
                // tree-sitter-bash joins redirections and assignments alone on a line to
                // the next line's command.
                if prefix_only {
                    return None;
                }
                if open.is_empty()
                    && let Some(s) = start.take()
                {
                    out.push(s..end);
                }
                command_start = true;
                assigned = false;
                i += 1;
                continue;
            }
            b'&' | b'|' => {
                if target {
                    return None;
                }
                match (c, b.get(i + 1)) {
                    (b'&', Some(b'&')) | (b'|', Some(b'|')) => i += 2,
                    (b'&', Some(b'>')) => {
                        i += if b.get(i + 2) == Some(&b'>') { 3 } else { 2 };
                        target = true;
                        prefix_only |= command_start;
                        start.get_or_insert(from);
                        end = i;
                        continue;
                    }
                    (b'|', Some(b'&')) | (b'&', _) => return None,
                    _ => i += 1,
                }
                if start.is_none() || continued {
                    return None;
                }
                command_start = true;
                assigned = false;
                continued = true;
                end = i;
                continue;
            }
            b'(' | b')' | b'`' => return None,
            b'<' | b'>' => {
                if target {
                    return None;
                }
                match (c, b.get(i + 1)) {
                    (_, Some(b'(')) | (b'<', Some(b'<')) => return None,
                    (b'<', Some(b'&' | b'>')) | (b'>', Some(b'>' | b'&' | b'|')) => i += 2,
                    _ => i += 1,
                }
                target = true;
                continued = false;
                prefix_only |= command_start;
                start.get_or_insert(from);
                end = i;
                continue;
            }
            _ => {}
        }
        let bare = word_end(b, &mut i)?;
        let word = b.get(from..i).unwrap_or_default();
        continued = false;
        start.get_or_insert(from);
        end = i;
        if target {
            target = false;
            continue;
        }
        // `2>`: a descriptor, part of the redirection that follows.
        if bare && word.iter().all(u8::is_ascii_digit) && matches!(b.get(i), Some(b'<' | b'>')) {
            continue;
        }
        if !command_start {
            continue;
        }
        if !bare {
            command_start = false;
            prefix_only = false;
            continue;
        }
        match word {
            b"for" | b"select" | b"while" | b"until" | b"if" | b"then" | b"do" | b"else"
            | b"elif" | b"done" | b"fi"
                if assigned =>
            {
                return None;
            }
            b"for" | b"select" => {
                open.push(Closer::Done);
                command_start = false;
            }
            b"while" | b"until" => open.push(Closer::Done),
            b"if" => open.push(Closer::Fi),
            b"then" | b"do" | b"else" | b"elif" => {
                if open.is_empty() {
                    return None;
                }
            }
            b"done" | b"fi" => {
                let want = if word == b"done" {
                    Closer::Done
                } else {
                    Closer::Fi
                };
                if open.pop() != Some(want) {
                    return None;
                }
                command_start = false;
            }
            b"case" | b"esac" | b"in" | b"function" | b"coproc" | b"time" | b"{" | b"}" | b"!"
            | b"[[" | b"]]" => return None,
            _ if is_assignment(word) => {
                assigned = true;
                prefix_only = true;
            }
            _ => {
                command_start = false;
                prefix_only = false;
            }
        }
    }
    if !open.is_empty() || continued || target {
        return None;
    }
    if let Some(s) = start {
        out.push(s..end);
    }
    Some(out)
}

/// Move `i` past one word. `Some(true)` when the word is only unquoted text without `$`
/// or `\` (so it may be a reserved word); `None` when it holds something that would make
/// cutting the line uncertain.
fn word_end(b: &[u8], i: &mut usize) -> Option<bool> {
    let from = *i;
    let mut bare = true;
    while let Some(&c) = b.get(*i) {
        match c {
            b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => break,
            b'`' => return None,
            b'#' if *i == from => return None,
            // tree-sitter-bash misreads the lines around a word that starts with a
            // backslash (`cd` newline `\in x` is one command to it, two to Bash).
            b'\\' if *i == from => return None,
            b'\'' => {
                let close = find(b, *i + 1, b'\'')?;
                *i = close + 1;
                bare = false;
            }
            b'"' => {
                *i += 1;
                loop {
                    match *b.get(*i)? {
                        b'"' => break,
                        b'\\' => *i += 2,
                        b'`' => return None,
                        b'$' if matches!(b.get(*i + 1), Some(b'(' | b'{')) => return None,
                        _ => *i += 1,
                    }
                }
                *i += 1;
                bare = false;
            }
            b'$' => {
                if matches!(b.get(*i + 1), Some(b'(' | b'{' | b'\'' | b'"')) {
                    return None;
                }
                *i += 1;
                bare = false;
            }
            b'\\' => {
                if *i + 1 >= b.len() {
                    return None;
                }
                *i += 2;
                bare = false;
            }
            _ => *i += 1,
        }
    }
    Some(bare)
}

/// The end of `$NAME` at `at` (before `end`), where NAME is a shell variable's name and
/// what follows cannot continue it (`[`, `{`, `(` are left to tree-sitter); `None` for
/// anything else after `$` (`$1`, `$?`, `${…}`, `$(…)`).
fn variable_end(b: &[u8], at: usize, end: usize) -> Option<usize> {
    let mut i = at + 1;
    if !b
        .get(i)
        .is_some_and(|c| i < end && (c.is_ascii_alphabetic() || *c == b'_'))
    {
        return None;
    }
    while i < end
        && b.get(i)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_')
    {
        i += 1;
    }
    match b.get(i) {
        _ if i >= end => Some(i),
        Some(
            b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'"' | b'/' | b'.' | b'-',
        ) => Some(i),
        _ => None,
    }
}

fn find(b: &[u8], from: usize, byte: u8) -> Option<usize> {
    b.get(from..)?
        .iter()
        .position(|&c| c == byte)
        .map(|at| from + at)
}

/// `NAME=`, `NAME+=` or `NAME[`: an assignment in command position.
fn is_assignment(word: &[u8]) -> bool {
    let name = word
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
        .count();
    let starts_like_name = word
        .first()
        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_');
    starts_like_name
        && matches!(
            word.get(name..),
            Some([b'=', ..] | [b'+', b'=', ..] | [b'[', ..])
        )
}

/// Unquoted characters a plain word may hold: everything tree-sitter-bash reads as word
/// text, less `#` and `!` (comments, negation) and anything that expands.
fn bare(c: u8) -> bool {
    c >= 0x80
        || (c.is_ascii_graphic()
            && !matches!(
                c,
                b'\''
                    | b'"'
                    | b'<'
                    | b'>'
                    | b'{'
                    | b'}'
                    | b'['
                    | b']'
                    | b'('
                    | b')'
                    | b'`'
                    | b'$'
                    | b'|'
                    | b'&'
                    | b';'
                    | b'\\'
                    | b'#'
                    | b'!'
            ))
}

/// First words that tree-sitter reads as something other than a plain command.
const NOT_PLAIN_NAMES: &[&[u8]] = &[
    b"declare",
    b"typeset",
    b"export",
    b"readonly",
    b"local",
    b"unset",
    b"unsetenv",
    b"for",
    b"select",
    b"while",
    b"until",
    b"if",
    b"then",
    b"do",
    b"else",
    b"elif",
    b"done",
    b"fi",
    b"case",
    b"esac",
    b"in",
    b"function",
    b"coproc",
    b"time",
];

/// The statement as a plain chain, or `None` when it is not one.
fn chain(b: &[u8], span: Range<usize>) -> Option<Chain> {
    let mut reader = Reader {
        b,
        i: span.start,
        end: span.end,
    };
    let mut pipelines = Vec::new();
    let mut ands = Vec::new();
    loop {
        pipelines.push(reader.pipeline()?);
        reader.blanks(false);
        if reader.i >= reader.end {
            break;
        }
        if reader.eat(b"&&") {
            ands.push(true);
        } else if reader.eat(b"||") {
            ands.push(false);
        } else {
            return None;
        }
        reader.blanks(true);
    }
    Some(Chain {
        span,
        pipelines,
        ands,
    })
}

/// The statement as a plain `for` loop, or `None` when it is not one: `for NAME in WORDS`,
/// `;` or a newline, `do`, plain statements each ended by `;` or a newline, `done`.
fn for_loop(b: &[u8], span: Range<usize>) -> Option<ForLoop> {
    let mut reader = Reader {
        b,
        i: span.start,
        end: span.end,
    };
    let blank = |c: Option<u8>| matches!(c, Some(b' ' | b'\t'));
    if !reader.eat(b"for") || !blank(reader.peek()) {
        return None;
    }
    reader.blanks(false);
    let name_start = reader.i;
    if !reader
        .peek()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
    {
        return None;
    }
    while reader
        .peek()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
    {
        reader.i += 1;
    }
    let name = name_start..reader.i;
    if NOT_PLAIN_NAMES.contains(&b.get(name.clone())?) || !blank(reader.peek()) {
        return None;
    }
    reader.blanks(false);
    if !reader.eat(b"in") || !blank(reader.peek()) {
        return None;
    }
    let mut words = 0;
    loop {
        reader.blanks(false);
        match reader.peek() {
            Some(b';' | b'\n') => break,
            _ => {
                let word = reader.word()?;
                // A word tree-sitter may read as a reserved word or an expansion of the
                // loop's own list: left to it.
                if word.pieces.iter().any(|p| matches!(p, Piece::Var(_))) {
                    return None;
                }
                words += 1;
            }
        }
    }
    reader.i += 1;
    reader.blanks(true);
    if words == 0 || !reader.eat(b"do") || !matches!(reader.peek(), Some(b' ' | b'\t' | b'\n')) {
        return None;
    }
    let body_start = reader.i;
    let body_end = span.end.checked_sub(4)?;
    if b.get(body_end..span.end)? != b"done" || body_end < body_start {
        return None;
    }
    // The body ends with `;` or a newline before `done`.
    let before = b.get(body_start..body_end)?;
    let last = before.iter().rposition(|c| !matches!(c, b' ' | b'\t'))?;
    if !matches!(before.get(last), Some(b';' | b'\n')) {
        return None;
    }
    let mut body = Vec::new();
    for range in statements(before)? {
        let range = range.start + body_start..range.end + body_start;
        body.push(chain(b, range)?);
    }
    if body.is_empty() {
        return None;
    }
    Some(ForLoop { span, name, body })
}

struct Reader<'b> {
    b: &'b [u8],
    i: usize,
    end: usize,
}

impl Reader<'_> {
    fn peek_at(&self, ahead: usize) -> Option<u8> {
        let at = self.i + ahead;
        if at < self.end {
            self.b.get(at).copied()
        } else {
            None
        }
    }

    fn peek(&self) -> Option<u8> {
        self.peek_at(0)
    }

    fn eat(&mut self, token: &[u8]) -> bool {
        let fits = self.i + token.len() <= self.end;
        if fits && self.b.get(self.i..self.i + token.len()) == Some(token) {
            self.i += token.len();
            true
        } else {
            false
        }
    }

    /// Skip spaces and tabs, and newlines too after an operator.
    fn blanks(&mut self, newlines: bool) {
        while let Some(c) = self.peek() {
            if c == b' ' || c == b'\t' || (newlines && c == b'\n') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    fn pipeline(&mut self) -> Option<Pipeline> {
        let mut commands = Vec::new();
        loop {
            commands.push(self.command()?);
            self.blanks(false);
            if self.peek() == Some(b'|') && self.peek_at(1) != Some(b'|') {
                self.i += 1;
                self.blanks(true);
                continue;
            }
            break;
        }
        let start = commands.first()?.span.start;
        let end = commands.last()?.span.end;
        Some(Pipeline {
            span: start..end,
            commands,
        })
    }

    fn command(&mut self) -> Option<Command> {
        let mut words: Vec<Word> = Vec::new();
        let mut redirects: Vec<Redirect> = Vec::new();
        loop {
            self.blanks(false);
            let Some(c) = self.peek() else { break };
            match c {
                b'>' | b'<' => redirects.push(self.redirect(self.i)?),
                b'&' if self.peek_at(1) == Some(b'>') => redirects.push(self.redirect(self.i)?),
                b'&' | b'|' => break,
                _ => {
                    let word = self.word()?;
                    match self.peek() {
                        // `2>&1`: digits right before the operator name a descriptor.
                        Some(b'<' | b'>') => {
                            // tree-sitter-bash reads a leading `0` as a number, never a
                            // descriptor (`a 0<x` has an argument `0`): such lines are not plain.
                            let digits = match word.pieces.as_slice() {
                                [Piece::Bare(r)] => self.b.get(r.clone()).is_some_and(|t| {
                                    t.iter().all(u8::is_ascii_digit) && t.first() != Some(&b'0')
                                }),
                                _ => false,
                            };
                            if !digits {
                                return None;
                            }
                            redirects.push(self.redirect(word.span.start)?);
                        }
                        Some(b'&') if self.peek_at(1) == Some(b'>') => return None,
                        _ if !redirects.is_empty() => return None,
                        _ => words.push(word),
                    }
                }
            }
        }
        let first = words.first()?;
        // A command name known only when the line runs: left to tree-sitter.
        if first.pieces.iter().any(|p| matches!(p, Piece::Var(_))) {
            return None;
        }
        // A reserved word or declaration builtin, quoted or not (`export''` declares to
        // Bash, and is a `declaration_command` to tree-sitter): not plain.
        let mut name = Vec::new();
        for piece in &first.pieces {
            let (Piece::Bare(r) | Piece::Single(r) | Piece::Double(r) | Piece::Var(r)) = piece;
            name.extend_from_slice(self.b.get(r.clone()).unwrap_or_default());
        }
        if NOT_PLAIN_NAMES.contains(&name.as_slice()) {
            return None;
        }
        // tree-sitter also reads a reserved word with quotes after it (`case''7`) as the
        // reserved word, which Bash does not.
        if let [Piece::Bare(r), _, ..] = first.pieces.as_slice()
            && NOT_PLAIN_NAMES.contains(&self.b.get(r.clone()).unwrap_or_default())
        {
            return None;
        }
        if let [Piece::Bare(r), ..] = first.pieces.as_slice() {
            let text = self.b.get(r.clone()).unwrap_or_default();
            // `=`: an assignment. `?` and `*`: tree-sitter does not always read a pattern
            // as a command name (`a?b` is a syntax error to it), and one is opaque anyway.
            // `-`: tree-sitter reads `- 2> f` as a redirection alone. `@`, `%`: it reads
            // `a@|b` and `a%b|c` as broken expansions, and `x+:` as a broken assignment
            // (found by the `plain_agrees` fuzzer).
            let odd = text
                .iter()
                .any(|c| matches!(c, b'=' | b'?' | b'*' | b'@' | b'%'))
                || text.first() == Some(&b'-')
                || text.windows(2).any(|pair| pair == b"+:");
            if odd {
                return None;
            }
        }
        // tree-sitter drops an argument `-` before a descriptor (`cat - 2>&1` has no
        // argument to it).
        let dash = |w: &Word| matches!(w.pieces.as_slice(), [Piece::Bare(r)] if self.b.get(r.clone()) == Some(b"-"));
        if words.iter().any(dash) && redirects.iter().any(|r| r.descriptor) {
            return None;
        }
        let words_span = first.span.start..words.last()?.span.end;
        let end = redirects.last().map_or(words_span.end, |r| r.span.end);
        Some(Command {
            span: words_span.start..end,
            words_span,
            words,
            redirects,
        })
    }

    fn redirect(&mut self, start: usize) -> Option<Redirect> {
        const OPERATORS: &[&str] = &["&>>", "&>", ">>", ">&", "<&", ">", "<"];
        // `>|`, `<>` and here-documents are left to tree-sitter.
        if matches!(
            (self.peek(), self.peek_at(1)),
            (Some(b'>'), Some(b'|')) | (Some(b'<'), Some(b'>' | b'<'))
        ) {
            return None;
        }
        let operator_at = self.i;
        let operator = OPERATORS.iter().find(|op| self.eat(op.as_bytes()))?;
        self.blanks(false);
        if matches!(*operator, ">&" | "<&") && self.peek() == Some(b'-') {
            return None;
        }
        let target = self.word()?;
        if matches!(self.peek(), Some(b'<' | b'>')) {
            return None;
        }
        Some(Redirect {
            descriptor: start < operator_at,
            span: start..target.span.end,
            operator,
            target,
        })
    }

    /// One plain word, or `None` when the word is not plain (or there is none here).
    fn word(&mut self) -> Option<Word> {
        let start = self.i;
        let mut pieces = Vec::new();
        while let Some(c) = self.peek() {
            match c {
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' => break,
                b'\'' => {
                    let close = find(self.b, self.i + 1, b'\'').filter(|at| *at < self.end)?;
                    pieces.push(Piece::Single(self.i + 1..close));
                    self.i = close + 1;
                }
                b'"' => {
                    let close = find(self.b, self.i + 1, b'"').filter(|at| *at < self.end)?;
                    let text = self.b.get(self.i + 1..close)?;
                    if text.iter().any(|c| matches!(c, b'`' | b'\\')) {
                        return None;
                    }
                    // Quoted text, cut at each `$NAME`.
                    let mut from = self.i + 1;
                    let mut at = from;
                    while at < close {
                        if self.b.get(at) == Some(&b'$') {
                            let name_end = variable_end(self.b, at, close)?;
                            pieces.push(Piece::Double(from..at));
                            pieces.push(Piece::Var(at..name_end));
                            from = name_end;
                            at = name_end;
                        } else {
                            at += 1;
                        }
                    }
                    if from < close || !matches!(pieces.last(), Some(Piece::Var(_))) {
                        pieces.push(Piece::Double(from..close));
                    }
                    self.i = close + 1;
                }
                b'$' => {
                    let name_end = variable_end(self.b, self.i, self.end)?;
                    pieces.push(Piece::Var(self.i..name_end));
                    self.i = name_end;
                }
                c if bare(c) => {
                    let from = self.i;
                    while self.peek().is_some_and(bare) {
                        self.i += 1;
                    }
                    pieces.push(Piece::Bare(from..self.i));
                }
                _ => return None,
            }
        }
        // `==` and `=~` are operators to tree-sitter in argument position.
        if let Some(Piece::Bare(r)) = pieces.first()
            && self.b.get(r.start) == Some(&b'=')
        {
            return None;
        }
        if pieces.is_empty() {
            return None;
        }
        Some(Word {
            span: start..self.i,
            pieces,
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn cut(line: &str) -> Option<Vec<&str>> {
        statements(line.as_bytes()).map(|ranges| ranges.into_iter().map(|r| &line[r]).collect())
    }

    #[test]
    fn statements_are_cut_at_top_level_separators_only() {
        assert_eq!(
            cut("a b; c && d\n e | f ;g").unwrap(),
            ["a b", "c && d", "e | f", "g"]
        );
        assert_eq!(
            cut("for f in *.py; do echo \"$f\"; done; ls 'x;y' a\\;b").unwrap(),
            ["for f in *.py; do echo \"$f\"; done", "ls 'x;y' a\\;b"]
        );
        assert_eq!(
            cut("if a; then b; elif c; then d; else e; fi > f; g").unwrap(),
            ["if a; then b; elif c; then d; else e; fi > f", "g"]
        );
        assert_eq!(cut("a &&\n b; c |\n d").unwrap(), ["a &&\n b", "c |\n d"]);
        assert_eq!(
            cut("echo done; echo for").unwrap(),
            ["echo done", "echo for"]
        );
        assert_eq!(cut("  \n ").unwrap(), Vec::<&str>::new());
    }

    #[test]
    fn uncertain_lines_are_not_cut() {
        for line in [
            "cat <<EOF\nx\nEOF",
            "case x in a) b;; esac",
            "(cd x; ls)",
            "{ a; b; }",
            "echo $(a; b)",
            "echo `a; b`",
            "echo ${x;}",
            "echo $'a;b'",
            "a & b",
            "a |& b",
            "ls # c; d",
            "; a",
            "a;; b",
            "a && ; b",
            "a >",
            "for x in a; do b",
            "done; a",
            "A=1 for x in a; do b; done",
            "echo 'unterminated; x",
            "echo \"unterminated; x",
            "a \\",
            "! a; b",
            "time a; b",
            "[[ a ]]; b",
            "diff <(a) b",
        ] {
            assert_eq!(cut(line), None, "{line:?}");
        }
    }

    fn plain(line: &str) -> bool {
        chain(line.as_bytes(), 0..line.len()).is_some()
    }

    #[test]
    fn plain_chains_are_simple_commands_quotes_and_file_redirections() {
        for line in [
            "cat billing/export/filter.py",
            "pytest tests -q 2>&1 | tail -n 20 && git status --short || true",
            "grep -n 'def ' \"plain text\" x'y'\"z\" > out.txt 2>/dev/null",
            "curl -sS -o /tmp/r.json https://api.example.com/v1/rates?region=eu",
            "a &&\n b |\n c",
            "ls ~/x *.py --opt=1 &>> log",
            "echo $x \"== $HOME/x\" $a.$b",
        ] {
            assert!(plain(line), "{line:?}");
        }
        for line in [
            "A=1 cmd",
            "export A=1",
            "$x a",
            "echo $1 $?",
            "echo \"${x}\"",
            "echo $x$y",
            "echo {a,b}",
            "[ -f x ]",
            "echo a > f b",
            "> f echo a",
            "echo a2>f",
            "echo >&- x",
            "cat < <(x)",
            "echo == x",
            "echo \"a\\\"b\"",
            "c\\at .env",
            "! a",
            "a &&",
            "a | | b",
            "echo a >| f",
            "cat <> f",
        ] {
            assert!(!plain(line), "{line:?}");
        }
    }
}
