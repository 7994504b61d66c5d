//! A small reader of sed scripts, only as far as effects go.
//!
//! `sed -n 1,5p` only prints, but a sed script can also write files (`w FILE`, the `w`
//! flag of `s`), read them (`r`, `R`) and run commands (`e`, the `e` flag of `s`). This
//! module walks the script's commands (GNU syntax) and reports those; anything it cannot
//! follow is an error, which the caller turns into an opaque part.

/// Files a sed script touches by itself, besides its input.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct ScriptEffects {
    pub reads: Vec<String>,
    pub writes: Vec<String>,
    pub executes: bool,
}

/// Scan a sed script.
pub(crate) fn scan(script: &str) -> Result<ScriptEffects, String> {
    let chars: Vec<char> = script.chars().collect();
    let mut effects = ScriptEffects::default();
    let mut i = 0;
    let fail = |what: &str| {
        Err(format!(
            "the sed script `{script}` could not be read ({what})"
        ))
    };
    while i < chars.len() {
        // Separators and blanks.
        while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == ';') {
            i += 1;
        }
        let Some(&c) = chars.get(i) else { break };
        if c == '#' {
            while chars.get(i).is_some_and(|c| *c != '\n') {
                i += 1;
            }
            continue;
        }
        // Addresses.
        i = skip_address(&chars, i)?;
        while chars.get(i).is_some_and(|c| *c == ' ') {
            i += 1;
        }
        if chars.get(i) == Some(&',') {
            i += 1;
            while chars.get(i).is_some_and(|c| *c == ' ') {
                i += 1;
            }
            if chars.get(i).is_some_and(|c| *c == '+' || *c == '~') {
                i += 1;
            }
            i = skip_address(&chars, i)?;
        }
        while chars.get(i).is_some_and(|c| c.is_whitespace() || *c == '!') {
            i += 1;
        }
        let Some(&command) = chars.get(i) else {
            return fail("an address without a command");
        };
        i += 1;
        match command {
            '{' | '}' | '=' | 'd' | 'D' | 'g' | 'G' | 'h' | 'H' | 'n' | 'N' | 'p' | 'P' | 'x'
            | 'z' | 'F' => {}
            'l' | 'q' | 'Q' | 'L' => {
                while chars
                    .get(i)
                    .is_some_and(|c| c.is_ascii_digit() || *c == ' ')
                {
                    i += 1;
                }
            }
            ':' | 'b' | 't' | 'T' | 'v' => {
                while chars
                    .get(i)
                    .is_some_and(|c| *c != ';' && *c != '\n' && *c != '}')
                {
                    i += 1;
                }
            }
            'a' | 'i' | 'c' => {
                // Text to the end of the line (a trailing backslash continues it).
                while let Some(&c) = chars.get(i) {
                    i += 1;
                    if c == '\\' {
                        i += 1;
                    } else if c == '\n' {
                        break;
                    }
                }
            }
            'r' | 'R' | 'w' | 'W' => {
                let (file, next) = rest_of_line(&chars, i);
                i = next;
                if file.is_empty() {
                    return fail("a file command without a file");
                }
                if command == 'r' || command == 'R' {
                    effects.reads.push(file);
                } else {
                    effects.writes.push(file);
                }
            }
            'e' => {
                effects.executes = true;
                let (_, next) = rest_of_line(&chars, i);
                i = next;
            }
            's' | 'y' => {
                let Some(&delimiter) = chars.get(i) else {
                    return fail("`s` without a delimiter");
                };
                if delimiter == '\n' || delimiter == '\\' {
                    return fail("an unusual delimiter");
                }
                i += 1;
                for _ in 0..2 {
                    loop {
                        let Some(&c) = chars.get(i) else {
                            return fail("an unterminated `s` command");
                        };
                        i += 1;
                        if c == '\\' {
                            i += 1;
                        } else if c == delimiter {
                            break;
                        }
                    }
                }
                if command == 'y' {
                    continue;
                }
                // Flags.
                while let Some(&flag) = chars.get(i) {
                    match flag {
                        'g' | 'p' | 'i' | 'I' | 'm' | 'M' | '0'..='9' => i += 1,
                        'e' => {
                            effects.executes = true;
                            i += 1;
                        }
                        'w' => {
                            let (file, next) = rest_of_line(&chars, i + 1);
                            i = next;
                            if file.is_empty() {
                                return fail("the `w` flag without a file");
                            }
                            effects.writes.push(file);
                        }
                        _ => break,
                    }
                }
            }
            other => return fail(&format!("the command `{other}`")),
        }
    }
    Ok(effects)
}

fn skip_address(chars: &[char], mut i: usize) -> Result<usize, String> {
    match chars.get(i) {
        Some(c) if c.is_ascii_digit() => {
            while chars
                .get(i)
                .is_some_and(|c| c.is_ascii_digit() || *c == '~')
            {
                i += 1;
            }
        }
        Some('$') => i += 1,
        Some(&open @ ('/' | '\\')) => {
            let delimiter = if open == '\\' {
                i += 1;
                *chars.get(i).ok_or("an address without a delimiter")?
            } else {
                '/'
            };
            i += 1;
            loop {
                let c = *chars.get(i).ok_or("an unterminated address")?;
                i += 1;
                if c == '\\' {
                    i += 1;
                } else if c == delimiter {
                    break;
                }
            }
            while chars.get(i).is_some_and(|c| *c == 'I' || *c == 'M') {
                i += 1;
            }
        }
        _ => {}
    }
    Ok(i)
}

/// A file name: the rest of the line, leading blanks removed.
fn rest_of_line(chars: &[char], mut i: usize) -> (String, usize) {
    while chars.get(i).is_some_and(|c| *c == ' ' || *c == '\t') {
        i += 1;
    }
    let mut file = String::new();
    while let Some(&c) = chars.get(i) {
        if c == '\n' {
            break;
        }
        file.push(c);
        i += 1;
    }
    (file, i)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn printing_scripts_touch_nothing() {
        for script in [
            "1,5p",
            "s/a/b/g",
            "/^#/d",
            "$!N;P;D",
            "y/abc/xyz/",
            "s|x|y|2",
            "1~2p",
        ] {
            assert_eq!(scan(script).unwrap(), ScriptEffects::default(), "{script}");
        }
    }

    #[test]
    fn file_commands_are_reported() {
        let effects = scan("s/a/b/w out.txt").unwrap();
        assert_eq!(effects.writes, ["out.txt"]);
        let effects = scan("1r .env").unwrap();
        assert_eq!(effects.reads, [".env"]);
        let effects = scan("/x/w /tmp/leak").unwrap();
        assert_eq!(effects.writes, ["/tmp/leak"]);
    }

    #[test]
    fn execution_is_reported() {
        assert!(scan("1e id").unwrap().executes);
        assert!(scan("s/.*/id/e").unwrap().executes);
    }

    #[test]
    fn unreadable_scripts_are_errors() {
        assert!(scan("s/a/b").is_err());
        assert!(scan("1,5").is_err());
        assert!(scan("k").is_err());
    }
}
