//! Claude Code's session transcript, read for what never reached a hook.
//!
//! Claude Code writes every tool use the model sent and the result the model was given
//! back to a JSON Lines transcript (`transcript_path` on every hook event; a subagent's
//! own file is `agent_transcript_path`). It is the one place where calls that Claude Code
//! refused itself (its permission rules, its input validation) or ran without any hook
//! can be seen. The format is internal to Claude Code and changes between releases, so
//! this reader is tolerant: it takes only what it needs (`tool_use` blocks by `id`, the
//! `tool_result` blocks that answer them, `is_error`, the text the model was given, and
//! the `permissionDecision` Claude Code notes beside a result), and it reports what it
//! could not read instead of skipping it silently.
//!
//! The reader is incremental: it starts at a byte offset saved by the previous read and
//! stops before a last line that is not complete yet (Claude Code may still be writing
//! it), so each line is read once.
//!
//! Seen with Claude Code 2.1.328 and 2.1.337 (fixtures in `tests/fixtures/transcripts/`):
//! an assistant line holds `message.content[]` with `{"type": "tool_use", "id", "name",
//! "input"}`; the next user line holds `{"type": "tool_result", "tool_use_id", "content",
//! "is_error"?}` and, at line level, `permissionDecision` (`{"decision": "accept" |
//! "reject", "source": "hook" | "config", "ruleSource"?}`); a call refused by a
//! `permissions.deny` rule has `source: "config"` and the text `<tool_use_error>File is in
//! a directory that is denied by your permission settings.</tool_use_error>`; a call whose
//! input failed validation has no `permissionDecision` and a `<tool_use_error>` text.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde_json::Value;

use mandate_run::trail::{AgentLog, Chunk, NotUnderstood, RefusedBy, ToolResult, ToolUse};

/// The most bytes read from a transcript in one go; the rest waits for the next read.
pub const MAX_READ_BYTES: u64 = 32 * 1024 * 1024;

/// The longest reason text kept from what the model was told.
const MAX_REASON_CHARS: usize = 2000;

/// Read the transcript at `path` from byte `offset`. A file that does not exist yet reads
/// as empty; a file shorter than `offset` (replaced or truncated) is reported and read
/// from its start.
pub fn read_from(path: &Path, offset: u64) -> std::io::Result<Chunk> {
    let mut file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Chunk {
                next_offset: offset,
                ..Chunk::default()
            });
        }
        Err(error) => return Err(error),
    };
    let len = file.metadata()?.len();
    let mut restarted = None;
    let start = if len < offset {
        restarted = Some(NotUnderstood {
            offset,
            why: format!(
                "the transcript is shorter ({len} bytes) than where the last read stopped \
                 ({offset}): it was replaced or cut, so it is read again from its start"
            ),
        });
        0
    } else {
        offset
    };
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.take(MAX_READ_BYTES).read_to_end(&mut bytes)?;
    let mut chunk = parse(&bytes, start);
    if let Some(problem) = restarted {
        chunk.not_understood.insert(0, problem);
    }
    Ok(chunk)
}

/// Parse the complete lines of `bytes`, which start at byte `base` of the file.
pub fn parse(bytes: &[u8], base: u64) -> Chunk {
    let mut chunk = Chunk {
        next_offset: base,
        ..Chunk::default()
    };
    let mut at = 0usize;
    while let Some(end) = bytes
        .get(at..)
        .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
    {
        let line = bytes.get(at..at + end).unwrap_or_default();
        let offset = base + at as u64;
        at += end + 1;
        chunk.next_offset = base + at as u64;
        chunk.lines += 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match serde_json::from_slice::<Value>(line) {
            Ok(value) => read_line(&value, offset, &mut chunk),
            Err(error) => chunk.not_understood.push(NotUnderstood {
                offset,
                why: format!("a line is not JSON ({error})"),
            }),
        }
    }
    chunk
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn read_line(line: &Value, offset: u64, chunk: &mut Chunk) {
    let kind = str_at(line, "type").unwrap_or("");
    if !matches!(kind, "assistant" | "user") {
        return;
    }
    let agent_id = str_at(line, "agentId").map(str::to_string);
    let time = str_at(line, "timestamp").map(str::to_string);
    let content = match line.get("message").and_then(|m| m.get("content")) {
        Some(Value::Array(blocks)) => blocks,
        // A plain prompt or reply: no tool blocks in it.
        Some(Value::String(_)) => return,
        _ => {
            chunk.not_understood.push(NotUnderstood {
                offset,
                why: format!("a `{kind}` line has no `message.content`"),
            });
            return;
        }
    };
    for block in content {
        match str_at(block, "type") {
            Some("tool_use") => {
                let (Some(id), Some(tool)) = (str_at(block, "id"), str_at(block, "name")) else {
                    chunk.not_understood.push(NotUnderstood {
                        offset,
                        why: "a `tool_use` block has no `id` or `name`".to_string(),
                    });
                    continue;
                };
                chunk.uses.push(ToolUse {
                    id: id.to_string(),
                    tool: tool.to_string(),
                    input: block.get("input").cloned().unwrap_or(Value::Null),
                    agent_id: agent_id.clone(),
                    time: time.clone(),
                });
            }
            Some("tool_result") => {
                let Some(id) = str_at(block, "tool_use_id") else {
                    chunk.not_understood.push(NotUnderstood {
                        offset,
                        why: "a `tool_result` block has no `tool_use_id`".to_string(),
                    });
                    continue;
                };
                let is_error = block
                    .get("is_error")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let text = result_text(block.get("content"));
                chunk.results.push(ToolResult {
                    tool_use_id: id.to_string(),
                    is_error,
                    refused_by: refused_by(line.get("permissionDecision"), is_error, &text),
                    text,
                    agent_id: agent_id.clone(),
                    time: time.clone(),
                });
            }
            _ => {}
        }
    }
}

/// The text the model was given: a string, or text blocks joined (others named).
fn result_text(content: Option<&Value>) -> String {
    match content {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .map(
                |block| match (str_at(block, "type"), str_at(block, "text")) {
                    (Some("text"), Some(text)) => text.to_string(),
                    (Some(other), _) => format!("[{other}]"),
                    (None, _) => "[?]".to_string(),
                },
            )
            .collect::<Vec<_>>()
            .join("\n"),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Who refused the call, if the result says it did not run.
fn refused_by(permission: Option<&Value>, is_error: bool, text: &str) -> Option<RefusedBy> {
    if let Some(decision) = permission.filter(|p| str_at(p, "decision") == Some("reject")) {
        return Some(match str_at(decision, "source") {
            Some("hook") => RefusedBy::Hook,
            Some("config" | "rule") => {
                RefusedBy::PermissionRule(str_at(decision, "ruleSource").map(str::to_string))
            }
            Some(other) => RefusedBy::Other(other.to_string()),
            None => RefusedBy::Other("unnamed".to_string()),
        });
    }
    let trimmed = text.trim_start();
    if !is_error || !trimmed.starts_with("<tool_use_error>") {
        return None;
    }
    // Older or newer releases without `permissionDecision`: read the wording.
    if trimmed.contains("permission settings") || trimmed.contains("denied by your permission") {
        Some(RefusedBy::PermissionRule(None))
    } else if trimmed.contains("hook") {
        Some(RefusedBy::Hook)
    } else {
        Some(RefusedBy::InputValidation)
    }
}

/// The reason text worth recording from what the model was told: the tags Claude Code
/// wraps around it removed, and kept short.
pub fn reason_text(text: &str) -> String {
    let text = text.trim();
    let text = text
        .strip_prefix("<tool_use_error>")
        .map(|rest| rest.strip_suffix("</tool_use_error>").unwrap_or(rest))
        .unwrap_or(text)
        .trim();
    if text.chars().count() > MAX_REASON_CHARS {
        let mut short: String = text.chars().take(MAX_REASON_CHARS).collect();
        short.push('…');
        short
    } else {
        text.to_string()
    }
}

/// Claude Code's transcript, as the run reads an agent's log.
pub const LOG: AgentLog = AgentLog {
    read: read_from,
    subagent_logs: subagent_transcripts,
    subagent_log: subagent_transcript,
};

/// Claude Code keeps a subagent's transcript beside the session's:
/// `<dir>/<session>/subagents/agent-<id>.jsonl`.
pub fn subagent_transcript(main: &Path, agent_id: &str) -> std::path::PathBuf {
    let stem = main
        .file_stem()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    main.with_file_name(stem)
        .join("subagents")
        .join(format!("agent-{agent_id}.jsonl"))
}

/// The transcripts of the subagents of the session whose transcript is `main`:
/// `<dir>/<session>/subagents/*.jsonl`, sorted.
pub fn subagent_transcripts(main: &Path) -> Vec<std::path::PathBuf> {
    let Some(stem) = main.file_stem() else {
        return Vec::new();
    };
    let dir = main.with_file_name(stem).join("subagents");
    let mut found: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn an_incomplete_last_line_waits_for_the_next_read() {
        let text = b"{\"type\":\"assistant\",\"message\":{\"content\":[{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"Read\",\"input\":{}}]}}\n{\"type\":\"user\"";
        let chunk = parse(text, 100);
        assert_eq!(chunk.uses.len(), 1);
        assert_eq!(chunk.lines, 1);
        let first_line = text.iter().position(|b| *b == b'\n').unwrap() as u64 + 1;
        assert_eq!(chunk.next_offset, 100 + first_line);
        assert!(chunk.not_understood.is_empty());
    }

    #[test]
    fn lines_that_are_not_json_or_lack_content_are_reported() {
        let chunk = parse(
            b"not json\n{\"type\":\"user\",\"message\":{}}\n{\"type\":\"summary\"}\n",
            0,
        );
        assert_eq!(chunk.not_understood.len(), 2, "{chunk:?}");
        assert_eq!(chunk.not_understood[0].offset, 0);
        assert_eq!(chunk.not_understood[1].offset, 9);
    }

    #[test]
    fn refusals_are_told_apart() {
        let rule = serde_json::json!({"decision": "reject", "source": "config", "ruleSource": "projectSettings"});
        assert_eq!(
            refused_by(Some(&rule), true, "<tool_use_error>x</tool_use_error>"),
            Some(RefusedBy::PermissionRule(Some("projectSettings".into())))
        );
        let hook = serde_json::json!({"decision": "reject", "source": "hook"});
        assert_eq!(
            refused_by(Some(&hook), true, "PreToolUse:Bash hook error: no"),
            Some(RefusedBy::Hook)
        );
        assert_eq!(
            refused_by(
                None,
                true,
                "<tool_use_error>InputValidationError: x</tool_use_error>"
            ),
            Some(RefusedBy::InputValidation)
        );
        let accept = serde_json::json!({"decision": "accept", "source": "hook"});
        assert_eq!(
            refused_by(
                Some(&accept),
                true,
                "<tool_use_error>File has not been read yet.</tool_use_error>"
            ),
            Some(RefusedBy::InputValidation)
        );
        assert_eq!(refused_by(Some(&accept), true, "Exit code 1\nboom"), None);
        assert_eq!(refused_by(None, false, "fine"), None);
    }

    #[test]
    fn the_reason_loses_its_tags() {
        assert_eq!(
            reason_text("<tool_use_error>File is denied.</tool_use_error>"),
            "File is denied."
        );
    }
}
