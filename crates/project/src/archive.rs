//! The names an archive or a patch writes, read before the command that unpacks it runs
//! (`tar -x`, `unzip`, `git apply`), so that each can be judged as a write.
//!
//! Tar archives are read block by block (ustar, GNU long names and links, pax `path` and
//! `linkpath`); a compressed one is first expanded by the system's own `gzip`, `bzip2`,
//! `xz` or `zstd` (chosen by the file's first bytes, as tar chooses), with a deadline and a
//! size bound. Zip archives are read from their central directory, which is what `unzip`
//! unpacks by. Patches are read as `git apply` reads them: `diff --git` headers, `---`/`+++`
//! names, renames, copies and new links. Whatever cannot be read is an error, which the
//! evaluator refuses: it never guesses the names.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mandate_policy::{ArchiveEntry, ArchiveFormat, EntryKind};

/// The longest reading one archive may take.
const DEADLINE: Duration = Duration::from_secs(3);
/// The most bytes read from one archive (after decompression).
const MAX_BYTES: u64 = 256 * 1024 * 1024;
/// The most names read from one archive; the evaluator judges fewer.
const MAX_ENTRIES: usize = 10_000;
/// The longest long name or pax header read.
const MAX_HEADER: usize = 64 * 1024;

pub fn entries(path: &Path, format: ArchiveFormat) -> Result<Vec<ArchiveEntry>, String> {
    match format {
        ArchiveFormat::Tar => tar(path),
        ArchiveFormat::Zip => {
            let bytes = read_file(path)?;
            zip(&bytes)
        }
        ArchiveFormat::Patch => {
            let bytes = read_file(path)?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| "the patch is not UTF-8 text".to_string())?;
            patch(text)
        }
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("it cannot be opened ({e})"))?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("it cannot be read ({e})"))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(format!("it is larger than {} MiB", MAX_BYTES >> 20));
    }
    Ok(bytes)
}

/// A tar archive, expanded first when its first bytes say it is compressed.
fn tar(path: &Path) -> Result<Vec<ArchiveEntry>, String> {
    let mut head = [0u8; 6];
    let mut file = std::fs::File::open(path).map_err(|e| format!("it cannot be opened ({e})"))?;
    let got = file
        .read(&mut head)
        .map_err(|e| format!("it cannot be read ({e})"))?;
    let head = head.get(..got).unwrap_or_default();
    let program = if head.starts_with(&[0x1f, 0x8b]) {
        Some("gzip")
    } else if head.starts_with(b"BZh") {
        Some("bzip2")
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some("xz")
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Some("zstd")
    } else if head.starts_with(&[0x1f, 0x9d]) || head.starts_with(b"LZIP") {
        return Err("it is compressed in a form mandate does not expand".to_string());
    } else {
        None
    };
    let bytes = match program {
        None => read_file(path)?,
        Some(program) => expand(program, path)?,
    };
    tar_entries(&bytes)
}

/// The output of `PROGRAM -dc < path`, within the deadline and the size bound.
fn expand(program: &str, path: &Path) -> Result<Vec<u8>, String> {
    let input = std::fs::File::open(path).map_err(|e| format!("it cannot be opened ({e})"))?;
    let mut child = Command::new(program)
        .arg("-dc")
        .stdin(input)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("it is compressed and `{program}` cannot be started ({e})"))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| format!("`{program}` gave no output"))?;
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        (&mut stdout)
            .take(MAX_BYTES + 1)
            .read_to_end(&mut out)
            .ok()
            .map(|_| out)
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() < DEADLINE => std::thread::sleep(Duration::from_millis(2)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "expanding it took longer than {} s, or more than {} MiB",
                    DEADLINE.as_secs(),
                    MAX_BYTES >> 20
                ));
            }
        }
    };
    let out = reader
        .join()
        .ok()
        .flatten()
        .ok_or_else(|| format!("`{program}`'s output cannot be read"))?;
    if !status.success() {
        return Err(format!("`{program} -d` cannot expand it"));
    }
    if out.len() as u64 > MAX_BYTES {
        return Err(format!("it expands to more than {} MiB", MAX_BYTES >> 20));
    }
    Ok(out)
}

/// A NUL-terminated field.
fn field(bytes: &[u8]) -> &[u8] {
    match bytes.iter().position(|&b| b == 0) {
        Some(end) => bytes.get(..end).unwrap_or_default(),
        None => bytes,
    }
}

fn text(bytes: &[u8]) -> Result<String, String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| "it holds a name that is not UTF-8, which mandate cannot judge".to_string())
}

/// A numeric header field: octal digits, or base-256 when its first byte has the high bit.
fn number(bytes: &[u8]) -> Option<u64> {
    if bytes.first().is_some_and(|b| b & 0x80 != 0) {
        let mut value: u64 = u64::from(bytes.first()? & 0x7f);
        for b in bytes.get(1..)? {
            value = value.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(value);
    }
    let digits = std::str::from_utf8(field(bytes)).ok()?.trim();
    if digits.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(digits, 8).ok()
}

fn tar_entries(bytes: &[u8]) -> Result<Vec<ArchiveEntry>, String> {
    const BLOCK: usize = 512;
    let bad = || "it is not a tar archive mandate can read".to_string();
    let mut entries = Vec::new();
    let mut offset = 0usize;
    let mut long_name: Option<String> = None;
    let mut long_link: Option<String> = None;
    let mut pax_path: Option<String> = None;
    let mut pax_link: Option<String> = None;
    loop {
        let Some(header) = bytes.get(offset..offset + BLOCK) else {
            // The end without the closing zero blocks: tar reads this far too.
            if offset >= bytes.len() && !entries.is_empty() {
                break;
            }
            return Err(bad());
        };
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let stored = number(header.get(148..156).ok_or_else(bad)?).ok_or_else(bad)?;
        let sum: u64 = header
            .iter()
            .enumerate()
            .map(|(i, &b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    u64::from(b)
                }
            })
            .sum();
        if sum != stored {
            return Err(bad());
        }
        let size = number(header.get(124..136).ok_or_else(bad)?).ok_or_else(bad)?;
        let size = usize::try_from(size).map_err(|_| bad())?;
        let data_start = offset + BLOCK;
        let data_end = data_start.checked_add(size).ok_or_else(bad)?;
        let data = || bytes.get(data_start..data_end).ok_or_else(bad);
        let kind = *header.get(156).ok_or_else(bad)?;
        let magic = header.get(257..263).ok_or_else(bad)?;
        let mut name = text(field(header.get(0..100).ok_or_else(bad)?))?;
        if magic == b"ustar\0" {
            let prefix = text(field(header.get(345..500).ok_or_else(bad)?))?;
            if !prefix.is_empty() {
                name = format!("{prefix}/{name}");
            }
        }
        let link = text(field(header.get(157..257).ok_or_else(bad)?))?;
        match kind {
            b'L' | b'K' | b'x' => {
                if size > MAX_HEADER {
                    return Err("it holds a header longer than mandate reads".to_string());
                }
                let data = data()?;
                match kind {
                    b'L' => long_name = Some(text(field(data))?),
                    b'K' => long_link = Some(text(field(data))?),
                    _ => {
                        for (key, value) in pax_records(data)? {
                            match key.as_str() {
                                "path" => pax_path = Some(value),
                                "linkpath" => pax_link = Some(value),
                                _ => {}
                            }
                        }
                    }
                }
            }
            b'g' => {
                if size > MAX_HEADER {
                    return Err("it holds a header longer than mandate reads".to_string());
                }
                if pax_records(data()?)?
                    .iter()
                    .any(|(key, _)| key == "path" || key == "linkpath")
                {
                    return Err("it names files in a global header".to_string());
                }
            }
            b'V' => {}
            b'M' => return Err("it continues another volume".to_string()),
            _ => {
                let name = pax_path.take().or(long_name.take()).unwrap_or(name);
                let link = pax_link.take().or(long_link.take()).unwrap_or(link);
                let kind = match kind {
                    b'1' => EntryKind::Hardlink(link),
                    b'2' => EntryKind::Symlink(link),
                    b'5' | b'D' => EntryKind::Dir,
                    _ => EntryKind::File,
                };
                entries.push(ArchiveEntry { name, kind });
                if entries.len() > MAX_ENTRIES {
                    return Err(format!("it holds more than {MAX_ENTRIES} names"));
                }
            }
        }
        let blocks = size.div_ceil(BLOCK);
        offset = data_start
            .checked_add(blocks.checked_mul(BLOCK).ok_or_else(bad)?)
            .ok_or_else(bad)?;
    }
    Ok(entries)
}

/// pax records: `LENGTH KEY=VALUE\n`, LENGTH counting the whole record.
fn pax_records(data: &[u8]) -> Result<Vec<(String, String)>, String> {
    let bad = || "it holds a pax header mandate cannot read".to_string();
    let mut records = Vec::new();
    let mut rest = data;
    while !rest.is_empty() && rest.first() != Some(&0) {
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let length: usize = std::str::from_utf8(rest.get(..space).ok_or_else(bad)?)
            .map_err(|_| bad())?
            .parse()
            .map_err(|_| bad())?;
        let record = rest.get(space + 1..length).ok_or_else(bad)?;
        let record = record.strip_suffix(b"\n").ok_or_else(bad)?;
        let equals = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let key = text(record.get(..equals).ok_or_else(bad)?)?;
        let value = text(record.get(equals + 1..).ok_or_else(bad)?)?;
        records.push((key, value));
        rest = rest.get(length..).ok_or_else(bad)?;
    }
    Ok(records)
}

fn u16_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b = bytes.get(at..at + 2)?;
    Some(usize::from(u16::from_le_bytes([*b.first()?, *b.get(1)?])))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<usize> {
    let b: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(b)).ok()
}

/// A zip archive's central directory: each name, and whether it is a folder or a link
/// (a Unix mode in the external attributes; the target is the entry's stored data).
fn zip(bytes: &[u8]) -> Result<Vec<ArchiveEntry>, String> {
    let bad = || "it is not a zip archive mandate can read".to_string();
    // The end of central directory record: the last one within the final 64 KiB + 22.
    let from = bytes.len().saturating_sub(0xffff + 22);
    let end = (from..bytes.len().saturating_sub(21))
        .rev()
        .find(|&at| bytes.get(at..at + 4) == Some(b"PK\x05\x06"))
        .ok_or_else(bad)?;
    let count = u16_at(bytes, end + 10).ok_or_else(bad)?;
    let start = u32_at(bytes, end + 16).ok_or_else(bad)?;
    if count == 0xffff || start == 0xffff_ffff {
        return Err("it is a zip64 archive, which mandate does not read".to_string());
    }
    if count > MAX_ENTRIES {
        return Err(format!("it holds more than {MAX_ENTRIES} names"));
    }
    let mut entries = Vec::new();
    let mut at = start;
    for _ in 0..count {
        if bytes.get(at..at + 4) != Some(b"PK\x01\x02") {
            return Err(bad());
        }
        let made_by_unix = bytes.get(at + 5) == Some(&3);
        let method = u16_at(bytes, at + 10).ok_or_else(bad)?;
        let compressed = u32_at(bytes, at + 20).ok_or_else(bad)?;
        let name_len = u16_at(bytes, at + 28).ok_or_else(bad)?;
        let extra_len = u16_at(bytes, at + 30).ok_or_else(bad)?;
        let comment_len = u16_at(bytes, at + 32).ok_or_else(bad)?;
        let attributes = u32_at(bytes, at + 38).ok_or_else(bad)?;
        let local = u32_at(bytes, at + 42).ok_or_else(bad)?;
        let name = text(bytes.get(at + 46..at + 46 + name_len).ok_or_else(bad)?)?;
        let mode = attributes >> 16;
        let kind = if made_by_unix && mode & 0o170000 == 0o120000 {
            if method != 0 {
                return Err(format!(
                    "it holds a link (`{name}`) whose target is compressed, which mandate \
                     does not expand"
                ));
            }
            let local_name = u16_at(bytes, local + 26).ok_or_else(bad)?;
            let local_extra = u16_at(bytes, local + 28).ok_or_else(bad)?;
            let data = local + 30 + local_name + local_extra;
            let target = text(bytes.get(data..data + compressed).ok_or_else(bad)?)?;
            EntryKind::Symlink(target)
        } else if name.ends_with('/') {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        // unzip takes `\` for `/` in names from some systems: judged both ways.
        if name.contains('\\') {
            entries.push(ArchiveEntry {
                name: name.replace('\\', "/"),
                kind: kind.clone(),
            });
        }
        entries.push(ArchiveEntry { name, kind });
        at += 46 + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

/// A name in a patch header: unquoted (`"a/x\ty"` as git quotes it), the tab and what
/// follows it in `---`/`+++` lines dropped. `None` for `/dev/null`.
fn patch_name(raw: &str) -> Result<Option<String>, String> {
    let raw = raw.trim_end_matches('\r');
    let name = if let Some(quoted) = raw.strip_prefix('"') {
        let mut out = String::new();
        let mut chars = quoted.chars();
        loop {
            match chars.next() {
                None => return Err("it holds a quoted name without its end".to_string()),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some(c @ ('"' | '\\')) => out.push(c),
                    _ => {
                        return Err("it holds a name with escapes mandate does not read".into());
                    }
                },
                Some(c) => out.push(c),
            }
        }
        out
    } else {
        raw.split('\t').next().unwrap_or(raw).to_string()
    };
    Ok((name != "/dev/null").then_some(name))
}

/// The names a patch writes, with the `a/`/`b/` (or any first) component still on, as
/// `git apply -p1` strips it; renames and copies name whole paths, so they are given a
/// component to strip.
fn patch(text: &str) -> Result<Vec<ArchiveEntry>, String> {
    let mut entries: Vec<ArchiveEntry> = Vec::new();
    let mut push = |name: String, kind: EntryKind| {
        let entry = ArchiveEntry { name, kind };
        if !entries.contains(&entry) {
            entries.push(entry);
        }
    };
    let mut lines = text.lines().peekable();
    let mut link_next: Option<String> = None;
    let mut header = false;
    while let Some(line) = lines.next() {
        if let Some(rest) = line.strip_prefix("diff --git ") {
            header = true;
            link_next = None;
            // Both names, when they can be told apart; the `+++`/`---` lines follow anyway.
            if !rest.starts_with('"')
                && let Some((old, new)) = rest.split_once(" b/")
            {
                push(old.to_string(), EntryKind::File);
                push(format!("b/{new}"), EntryKind::File);
            }
            continue;
        }
        if header
            && let Some(rest) = line
                .strip_prefix("rename from ")
                .or_else(|| line.strip_prefix("rename to "))
        {
            if let Some(name) = patch_name(rest)? {
                push(format!("x/{name}"), EntryKind::File);
            }
            continue;
        }
        if header && let Some(rest) = line.strip_prefix("copy from ") {
            if let Some(name) = patch_name(rest)? {
                push(format!("x/{name}"), EntryKind::Source);
            }
            continue;
        }
        if header && let Some(rest) = line.strip_prefix("copy to ") {
            if let Some(name) = patch_name(rest)? {
                push(format!("x/{name}"), EntryKind::File);
            }
            continue;
        }
        if header
            && (line.starts_with("new file mode 120000") || line.starts_with("new mode 120000"))
        {
            link_next = Some(String::new());
            continue;
        }
        if let Some(rest) = line.strip_prefix("--- ") {
            if let Some(name) = patch_name(rest)? {
                push(name, EntryKind::File);
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("+++ ") {
            header = false;
            let Some(name) = patch_name(rest)? else {
                continue;
            };
            if link_next.is_some() {
                // The link's target is the hunk's one added line.
                let target = lines
                    .by_ref()
                    .skip_while(|l| l.starts_with("@@"))
                    .find_map(|l| l.strip_prefix('+'))
                    .unwrap_or_default()
                    .to_string();
                push(name, EntryKind::Symlink(target));
                link_next = None;
            } else {
                push(name, EntryKind::File);
            }
            continue;
        }
        if line.starts_with("GIT binary patch") {
            header = false;
        }
    }
    if entries.is_empty() {
        return Err("it names no file".to_string());
    }
    Ok(entries)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn names(entries: &[ArchiveEntry]) -> Vec<(&str, &EntryKind)> {
        entries.iter().map(|e| (e.name.as_str(), &e.kind)).collect()
    }

    #[test]
    fn a_git_diff_names_both_sides_renames_and_links() {
        let patch_text = "diff --git a/x.py b/x.py\nindex 1..2 100644\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\ndiff --git a/old b/new\nsimilarity index 100%\nrename from old\nrename to .claude/settings.json\ndiff --git a/l b/l\nnew file mode 120000\nindex 0..1\n--- /dev/null\n+++ b/l\n@@ -0,0 +1 @@\n+../../customer_data\n\\ No newline at end of file\n";
        let entries = patch(patch_text).unwrap();
        let got = names(&entries);
        assert!(got.contains(&("b/x.py", &EntryKind::File)), "{got:?}");
        assert!(
            got.contains(&("x/.claude/settings.json", &EntryKind::File)),
            "{got:?}"
        );
        assert!(got.contains(&("x/old", &EntryKind::File)), "{got:?}");
        assert!(
            got.contains(&(
                "b/l",
                &EntryKind::Symlink("../../customer_data".to_string())
            )),
            "{got:?}"
        );
    }

    #[test]
    fn a_patch_without_names_is_unreadable() {
        assert!(patch("hello\n").is_err());
    }

    #[test]
    fn garbage_is_neither_tar_nor_zip() {
        assert!(tar_entries(&[7u8; 2048]).is_err());
        assert!(zip(&[7u8; 2048]).is_err());
    }
}
