//! Secret redaction, applied to every string of an event before it is hashed.
//!
//! Redaction must happen before hashing: once an entry is in the log, removing a secret
//! would break the chain. Each match becomes `[REDACTED:<rule id>]`; for assignment-style
//! rules only the value is replaced, so the reviewer still sees *which* setting was there.
//!
//! The rules are our own patterns written from the descriptions in the public gitleaks
//! rule set (token prefixes and shapes of AWS, GitHub, GitLab, Slack, Stripe, Google,
//! npm, PyPI, SendGrid, DigitalOcean, Hugging Face, Shopify, Databricks, Vault, age,
//! Azure, Anthropic and OpenAI credentials, private key blocks, JWTs, credentials in
//! URLs, `Authorization` headers and generic `password=` / `api_key=` assignments).
//!
//! Cost: the hook is a short-lived process, so compiling ~30 regexes at every start
//! would dominate its budget. Like gitleaks' `keywords`, every rule names literal
//! substrings that any match must contain; a table of the byte pairs that begin a keyword
//! (built on first use, case-insensitive) finds which rules can match a string, and only
//! those rules' regexes are compiled (once per process) and run. An event with no
//! candidate substring costs one linear scan per string.

use regex::bytes::{Regex, RegexBuilder};
use serde_json::Value;
use std::sync::OnceLock;

/// How to decide that an assignment's value is a real secret.
#[derive(Clone, Copy)]
enum Accept {
    /// Every match is a secret (the token shape is distinctive).
    Always,
    /// Skip variable references and placeholders.
    NotPlaceholder,
    /// As `NotPlaceholder`, and the value must look random (Shannon entropy in bits/char).
    Entropy(f64),
}

struct Rule {
    id: &'static str,
    /// Lower-case literals; a string can only match if it contains one of them.
    keywords: &'static [&'static str],
    pattern: &'static str,
    /// 0 redacts the whole match; 1 redacts the first capture group that took part
    /// (alternatives such as quoted and bare values each have their own group).
    group: usize,
    accept: Accept,
}

const RULES: &[Rule] = &[
    Rule {
        id: "private-key",
        keywords: &["-----begin"],
        // Bounded, so a redaction never hides the shape of a call: a whole block holds
        // only key text (base64, PEM headers) up to its END line; a BEGIN line without an
        // END, or with shell syntax before it, takes only the key-like lines after it
        // (base64 runs of 16 or more), never the commands that follow
        // (`echo '-----BEGIN PRIVATE KEY-----' >/dev/null; pytest --pastebin=all`).
        pattern: r"-----BEGIN[ A-Z0-9_-]*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s:,.-]{0,16384}?-----END[ A-Z0-9_-]*PRIVATE KEY(?: BLOCK)?-----|(?:\s*[A-Za-z0-9+/]{16,}={0,2}){0,256}(?:\s*[A-Za-z0-9+/]{1,15}={1,2})?)",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "aws-access-key-id",
        keywords: &["akia", "asia", "abia", "acca", "a3t"],
        pattern: r"\b(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}\b",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "aws-secret-access-key",
        keywords: &["aws_secret", "secret_access_key", "secretaccesskey"],
        pattern: r#"(?i)aws_?secret_?(?:access_?)?key["']?[ \t]*(?:=|:=|=>|:)[ \t]*["']?([a-z0-9/+]{40,})"#,
        group: 1,
        accept: Accept::Always,
    },
    Rule {
        id: "github-pat",
        keywords: &["ghp_"],
        pattern: r"ghp_[0-9A-Za-z]{36}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "github-oauth",
        keywords: &["gho_"],
        pattern: r"gho_[0-9A-Za-z]{36}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "github-app-token",
        keywords: &["ghu_", "ghs_"],
        pattern: r"(?:ghu|ghs)_[0-9A-Za-z]{36}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "github-refresh-token",
        keywords: &["ghr_"],
        pattern: r"ghr_[0-9A-Za-z]{36}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "github-fine-grained-pat",
        keywords: &["github_pat_"],
        pattern: r"github_pat_[0-9A-Za-z_]{82}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "gitlab-pat",
        keywords: &["glpat-"],
        pattern: r"glpat-[0-9A-Za-z_-]{20,}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "slack-bot-token",
        keywords: &["xoxb-"],
        pattern: r"xoxb-[0-9]{10,13}-[0-9]{10,13}[A-Za-z0-9-]*",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "slack-user-token",
        keywords: &["xoxp-", "xoxe-", "xoxa-", "xoxo-", "xoxr-", "xoxs-"],
        pattern: r"xox[aeoprs](?:\.xox[a-z])?-[0-9A-Za-z-]{20,}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "slack-app-token",
        keywords: &["xapp-"],
        pattern: r"xapp-[0-9]-[A-Za-z0-9]+-[0-9]+-[A-Za-z0-9]+",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "slack-webhook-url",
        keywords: &["hooks.slack.com"],
        pattern: r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_-]{20,}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "stripe-access-token",
        keywords: &[
            "sk_live_", "sk_test_", "sk_prod_", "rk_live_", "rk_test_", "rk_prod_",
        ],
        pattern: r"\b(?:sk|rk)_(?:test|live|prod)_[A-Za-z0-9]{10,}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "anthropic-api-key",
        keywords: &["sk-ant-"],
        pattern: r"sk-ant-[a-z0-9]{2,12}-[A-Za-z0-9_-]{20,}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "openai-api-key",
        keywords: &["sk-proj-", "sk-svcacct-", "sk-admin-", "t3blbkfj"],
        pattern: r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}\b",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "gcp-api-key",
        keywords: &["aiza"],
        pattern: r"\bAIza[0-9A-Za-z_-]{35}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "gcp-oauth-client-secret",
        keywords: &["gocspx-"],
        pattern: r"GOCSPX-[A-Za-z0-9_-]{28}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "npm-access-token",
        keywords: &["npm_"],
        pattern: r"\bnpm_[A-Za-z0-9]{36}\b",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "pypi-upload-token",
        keywords: &["pypi-ageichlwas5vcmc"],
        pattern: r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "sendgrid-api-token",
        keywords: &["sg."],
        pattern: r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "digitalocean-token",
        keywords: &["dop_v1_", "doo_v1_", "dor_v1_"],
        pattern: r"\bdo[opr]_v1_[a-f0-9]{64}\b",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "huggingface-access-token",
        keywords: &["hf_"],
        pattern: r"\bhf_[A-Za-z]{34}\b",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "shopify-token",
        keywords: &["shpat_", "shpca_", "shppa_", "shpss_"],
        pattern: r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "databricks-api-token",
        keywords: &["dapi"],
        pattern: r"\bdapi[a-f0-9]{32}(?:-[0-9])?\b",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "hashicorp-vault-token",
        keywords: &["hvs.", "hvb."],
        pattern: r"\bhv[sb]\.[A-Za-z0-9_-]{24,}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "age-secret-key",
        keywords: &["age-secret-key-1"],
        pattern: r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "azure-storage-account-key",
        keywords: &["accountkey="],
        pattern: r"AccountKey=([A-Za-z0-9+/]{80,}={0,2})",
        group: 1,
        accept: Accept::Always,
    },
    Rule {
        id: "jwt",
        keywords: &["eyj"],
        pattern: r"\bey[A-Za-z0-9_-]{15,}\.ey[A-Za-z0-9_-]{15,}\.(?:[A-Za-z0-9_-]{10,}={0,2})?",
        group: 0,
        accept: Accept::Always,
    },
    Rule {
        id: "url-credentials",
        keywords: &["://"],
        pattern: r#"\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@"'`]+:([^/\s:@"'`]+)@"#,
        group: 1,
        accept: Accept::NotPlaceholder,
    },
    Rule {
        id: "authorization-header",
        keywords: &["bearer", "authorization"],
        pattern: r#"(?i)(?:\bbearer[ \t]+|authorization[ \t]*[:=][ \t]*["']?(?:basic|token)[ \t]+)([a-z0-9._~+/-]{12,}=*)"#,
        group: 1,
        accept: Accept::NotPlaceholder,
    },
    Rule {
        id: "generic-password",
        keywords: &["password", "passwd", "pwd", "passphrase"],
        pattern: r#"(?i)(?:password|passwd|pwd|passphrase)[a-z0-9_-]*["']?[ \t]*(?:=|:=|=>|:)[ \t]*(?:"([^"\n]{4,})"|'([^'\n]{4,})'|([^\s"'`,;&)(]{4,}))"#,
        group: 1,
        accept: Accept::NotPlaceholder,
    },
    Rule {
        id: "generic-api-key",
        keywords: &["key", "token", "secret", "credential", "auth"],
        pattern: r#"(?i)(?:api[_-]?key|apikey|access[_-]?key|secret|token|credential|auth)[a-z0-9_-]*["']?[ \t]*(?:=|:=|=>|:)[ \t]*["']?([a-z0-9_.=+/~-]{10,})"#,
        group: 1,
        accept: Accept::Entropy(3.5),
    },
];

/// Identifiers of all rules, in the order they are applied.
pub fn rule_ids() -> impl Iterator<Item = &'static str> {
    RULES.iter().map(|r| r.id)
}

/// (rule id, prefilter keywords, regex) of every rule, for documentation and benches.
pub fn rules() -> impl Iterator<Item = (&'static str, &'static [&'static str], &'static str)> {
    RULES.iter().map(|r| (r.id, r.keywords, r.pattern))
}

/// Which rules can match: a bit per lower-case byte pair that begins some keyword, and
/// the keywords sorted by that pair. Built in a few hundred instructions, where a general
/// multi-pattern automaton cost ~800,000 per hook process (half of a whole `Read` call).
struct Prefilter {
    /// Bit `pair` is set when some keyword starts with the two bytes of `pair`.
    starts: Box<[u64; 1024]>,
    /// (first two bytes, keyword, rule index), sorted by the pair.
    keywords: Vec<(u16, &'static [u8], usize)>,
}

fn pair(a: u8, b: u8) -> u16 {
    u16::from_be_bytes([a.to_ascii_lowercase(), b.to_ascii_lowercase()])
}

fn prefilter() -> &'static Prefilter {
    static CELL: OnceLock<Prefilter> = OnceLock::new();
    CELL.get_or_init(|| {
        let mut starts = Box::new([0u64; 1024]);
        let mut keywords = Vec::new();
        for (k, rule) in RULES.iter().enumerate() {
            for w in rule.keywords {
                // Every keyword is lower-case ASCII of at least two bytes (a test holds
                // this), so its first pair names it.
                if let [a, b, ..] = w.as_bytes() {
                    let p = pair(*a, *b);
                    if let Some(word) = starts.get_mut(usize::from(p / 64)) {
                        *word |= 1u64 << (p % 64);
                    }
                    keywords.push((p, w.as_bytes(), k));
                }
            }
        }
        keywords.sort_unstable_by_key(|(p, _, _)| *p);
        Prefilter { starts, keywords }
    })
}

impl Prefilter {
    /// A bit per rule whose keywords occur in `text` (ASCII case-insensitive).
    fn candidates(&self, text: &[u8]) -> u64 {
        let mut found = 0u64;
        for (i, window) in text.windows(2).enumerate() {
            let [a, b] = window else { continue };
            let p = pair(*a, *b);
            let hit = self
                .starts
                .get(usize::from(p / 64))
                .is_some_and(|word| word & (1u64 << (p % 64)) != 0);
            if !hit {
                continue;
            }
            let rest = text.get(i..).unwrap_or_default();
            let first = self.keywords.partition_point(|(q, _, _)| *q < p);
            for (q, word, rule) in self.keywords.get(first..).unwrap_or_default() {
                if *q != p {
                    break;
                }
                if rest
                    .get(..word.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(word))
                {
                    found |= 1u64 << rule;
                }
            }
        }
        found
    }
}

fn compiled(rule: usize) -> Option<&'static Regex> {
    static CELLS: OnceLock<Vec<OnceLock<Option<Regex>>>> = OnceLock::new();
    let cells = CELLS.get_or_init(|| RULES.iter().map(|_| OnceLock::new()).collect());
    let pattern = RULES.get(rule)?.pattern;
    cells.get(rule)?.get_or_init(|| compile(pattern)).as_ref()
}

/// Rules are ASCII patterns run over UTF-8 bytes with Unicode classes off: the
/// Unicode-aware `(?i)`, `\s` and `\b` make some patterns cost ~1 ms to compile, which a
/// short-lived hook process would pay on every call that contains a keyword.
fn compile(pattern: &str) -> Option<Regex> {
    RegexBuilder::new(pattern).unicode(false).build().ok()
}

/// Redact every string inside `value`, in place. Object keys are left alone.
pub fn redact(value: &mut Value) {
    redact_depth(value, 0);
}

fn redact_depth(value: &mut Value, depth: usize) {
    if depth > crate::canonical::MAX_DEPTH {
        return; // canonicalisation refuses such values anyway
    }
    match value {
        Value::String(s) => {
            if let Some(clean) = redact_str(s) {
                *s = clean;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_depth(v, depth + 1)),
        Value::Object(map) => map.values_mut().for_each(|v| redact_depth(v, depth + 1)),
        _ => {}
    }
}

/// The redacted form of `text`, or `None` when nothing in it looks like a secret.
pub fn redact_str(text: &str) -> Option<String> {
    let candidates = prefilter().candidates(text.as_bytes());
    if candidates == 0 {
        return None;
    }
    let mut current: Option<String> = None;
    for (k, rule) in RULES.iter().enumerate() {
        if candidates & (1u64 << k) == 0 {
            continue;
        }
        let Some(re) = compiled(k) else { continue };
        let input = current.as_deref().unwrap_or(text);
        if let Some(next) = apply(rule, re, input) {
            current = Some(next);
        }
    }
    current
}

fn apply(rule: &Rule, re: &Regex, input: &str) -> Option<String> {
    let mut out = String::new();
    let mut last = 0;
    let mut changed = false;
    for caps in re.captures_iter(input.as_bytes()) {
        let m = if rule.group == 0 {
            caps.get(0)
        } else {
            caps.iter().skip(1).flatten().next()
        };
        let Some(m) = m else {
            continue;
        };
        let Some(secret) = input.get(m.start()..m.end()) else {
            // A match that splits a character cannot happen with these ASCII-anchored
            // patterns; if it ever did, hide the whole string rather than risk a leak.
            return Some(format!("[REDACTED:{}]", rule.id));
        };
        if !accepted(rule.accept, secret) {
            continue;
        }
        out.push_str(input.get(last..m.start()).unwrap_or_default());
        out.push_str("[REDACTED:");
        out.push_str(rule.id);
        out.push(']');
        last = m.end();
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(input.get(last..).unwrap_or_default());
    Some(out)
}

fn accepted(accept: Accept, value: &str) -> bool {
    let placeholder = || {
        code_reference(value)
            || value.starts_with(['$', '%', '{', '<', '*'])
            || value.starts_with("[REDACTED")
            || value.contains("REDACTED")
            || matches!(
                value.to_ascii_lowercase().as_str(),
                "true" | "false" | "null" | "none" | "undefined" | "required" | "optional"
            )
    };
    match accept {
        Accept::Always => true,
        Accept::NotPlaceholder => !placeholder(),
        Accept::Entropy(min) => {
            !placeholder() && value.bytes().any(|b| b.is_ascii_digit()) && entropy(value) >= min
        }
    }
}

/// `os.environ`, `settings.API_KEY`: a dotted path of identifiers is code, not a secret.
fn code_reference(value: &str) -> bool {
    value.contains('.')
        && value.split('.').all(|seg| {
            let mut chars = seg.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

/// Shannon entropy of `s` in bits per character.
fn entropy(s: &str) -> f64 {
    let mut counts = [0u32; 256];
    let mut n = 0u32;
    for b in s.bytes() {
        if let Some(c) = counts.get_mut(usize::from(b)) {
            *c += 1;
        }
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let n = f64::from(n);
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Deterministic pseudo-random characters, so no real-looking secret is committed.
    fn fake(alphabet: &str, len: usize, seed: u64) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chars[(x % chars.len() as u64) as usize]
            })
            .collect()
    }
    const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    const UPPER32: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    const HEX: &str = "0123456789abcdef";
    const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";

    fn assert_redacted(rule: &str, text: &str, secret: &str) {
        let out = redact_str(text).unwrap_or_else(|| panic!("{rule}: nothing redacted in {text}"));
        assert!(!out.contains(secret), "{rule}: secret survived in {out}");
        assert!(
            out.contains(&format!("[REDACTED:{rule}]")),
            "{rule}: wrong marker in {out}"
        );
    }

    #[test]
    fn every_rule_compiles() {
        for (k, rule) in RULES.iter().enumerate() {
            assert!(compiled(k).is_some(), "{}", rule.id);
        }
        assert!(RULES.len() <= 64);
    }

    #[test]
    fn the_prefilter_finds_every_keyword_in_any_case_and_place() {
        for (k, rule) in RULES.iter().enumerate() {
            for word in rule.keywords {
                assert!(word.len() >= 2, "{}: `{word}` is too short", rule.id);
                assert_eq!(*word, word.to_ascii_lowercase(), "{}", rule.id);
                let upper = word.to_ascii_uppercase();
                for text in [
                    word.to_string(),
                    format!("x{upper}"),
                    format!("some text, then {word} and more"),
                    format!("{word}{word}"),
                ] {
                    let found = prefilter().candidates(text.as_bytes());
                    assert_ne!(found & (1u64 << k), 0, "{}: `{text}`", rule.id);
                }
                // Cut by one byte, the keyword is not a candidate for its rule unless
                // another of the rule's keywords is inside it.
                let cut = word.get(..word.len() - 1).unwrap_or_default();
                let shorter_keyword = rule.keywords.iter().any(|w| cut.contains(w));
                if !shorter_keyword {
                    assert_eq!(
                        prefilter().candidates(cut.as_bytes()) & (1u64 << k),
                        0,
                        "{}: `{cut}`",
                        rule.id
                    );
                }
            }
        }
        assert_eq!(prefilter().candidates(b"cat billing/export/filter.py"), 0);
        assert_eq!(prefilter().candidates(b""), 0);
        assert_eq!(prefilter().candidates(b"k"), 0);
    }

    #[test]
    fn private_key_blocks_whole_or_cut_off() {
        let body = fake(ALNUM, 64, 1);
        let text = format!(
            "cat id: -----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----\ndone"
        );
        assert_redacted("private-key", &text, &body);
        assert!(redact_str(&text).unwrap().ends_with("\ndone"));
        let cut = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}");
        assert_redacted("private-key", &cut, &body);
        let tail = fake(ALNUM, 40, 3);
        let cut = format!("-----BEGIN RSA PRIVATE KEY-----\n{body}\n{body}\n{tail}==");
        assert_redacted("private-key", &cut, &tail);
    }

    #[test]
    fn a_begin_line_without_end_never_hides_the_commands_after_it() {
        for line in [
            "echo '-----BEGIN PRIVATE KEY-----' >/dev/null; pytest billing/export/tests --pastebin=all",
            "echo -----BEGIN PRIVATE KEY-----\npytest billing/export/tests --pastebin=all",
            "echo '-----BEGIN PRIVATE KEY-----'; pytest billing/export/tests --pastebin=all; echo '-----END PRIVATE KEY-----'",
        ] {
            let out = redact_str(line).unwrap();
            assert!(out.contains("[REDACTED:private-key]"), "{out}");
            assert!(
                out.contains("pytest billing/export/tests --pastebin=all"),
                "{out}"
            );
        }
    }

    #[test]
    fn aws_keys() {
        let id = format!("AKIA{}", fake(UPPER32, 16, 2));
        assert_redacted(
            "aws-access-key-id",
            &format!("export AWS_ACCESS_KEY_ID={id}"),
            &id,
        );
        let secret = fake(ALNUM, 40, 3);
        assert_redacted(
            "aws-secret-access-key",
            &format!("aws_secret_access_key = {secret}"),
            &secret,
        );
        let out = redact_str(&format!("aws_secret_access_key = {secret}")).unwrap();
        assert!(out.starts_with("aws_secret_access_key = "), "{out}");
    }

    #[test]
    fn github_tokens() {
        for (rule, prefix) in [
            ("github-pat", "ghp_"),
            ("github-oauth", "gho_"),
            ("github-app-token", "ghs_"),
            ("github-app-token", "ghu_"),
            ("github-refresh-token", "ghr_"),
        ] {
            let t = format!("{prefix}{}", fake(ALNUM, 36, 4));
            assert_redacted(rule, &format!("GH_TOKEN={t} gh pr list"), &t);
        }
        let t = format!("github_pat_{}", fake(ALNUM, 82, 5));
        assert_redacted("github-fine-grained-pat", &t, &t);
    }

    #[test]
    fn gitlab_slack_and_stripe() {
        let t = format!("glpat-{}", fake(ALNUM, 20, 6));
        assert_redacted("gitlab-pat", &t, &t);
        let t = format!("xoxb-1234567890-1234567890123-{}", fake(ALNUM, 24, 7));
        assert_redacted("slack-bot-token", &format!("token: '{t}'"), &t);
        let t = format!(
            "xoxp-1234567890-1234567890-1234567890123-{}",
            fake(HEX, 32, 8)
        );
        assert_redacted("slack-user-token", &t, &t);
        let t = format!("xapp-1-A0123ABCD-1234567890123-{}", fake(HEX, 64, 9));
        assert_redacted("slack-app-token", &t, &t);
        let t = format!(
            "https://hooks.slack.com/services/T0123ABCD/B0123ABCD/{}",
            fake(ALNUM, 24, 10)
        );
        assert_redacted("slack-webhook-url", &format!("curl -X POST {t}"), &t);
        let t = format!("sk_live_{}", fake(ALNUM, 24, 11));
        assert_redacted("stripe-access-token", &t, &t);
        let t = format!("rk_test_{}", fake(ALNUM, 24, 12));
        assert_redacted("stripe-access-token", &t, &t);
    }

    #[test]
    fn anthropic_and_openai_keys() {
        let t = format!("sk-ant-api03-{}AA", fake(ALNUM, 93, 13));
        assert_redacted("anthropic-api-key", &format!("ANTHROPIC_API_KEY={t}"), &t);
        let t = format!("sk-proj-{}", fake(ALNUM, 48, 14));
        assert_redacted("openai-api-key", &t, &t);
        let t = format!("sk-{}T3BlbkFJ{}", fake(ALNUM, 20, 15), fake(ALNUM, 20, 16));
        assert_redacted("openai-api-key", &t, &t);
    }

    #[test]
    fn google_npm_pypi_sendgrid_do_hf_shopify_databricks_vault_age_azure() {
        let cases = [
            ("gcp-api-key", format!("AIza{}", fake(ALNUM, 35, 17))),
            (
                "gcp-oauth-client-secret",
                format!("GOCSPX-{}", fake(ALNUM, 28, 18)),
            ),
            ("npm-access-token", format!("npm_{}", fake(ALNUM, 36, 19))),
            (
                "pypi-upload-token",
                format!("pypi-AgEIcHlwaS5vcmc{}", fake(ALNUM, 60, 20)),
            ),
            (
                "sendgrid-api-token",
                format!("SG.{}.{}", fake(ALNUM, 22, 21), fake(ALNUM, 43, 22)),
            ),
            (
                "digitalocean-token",
                format!("dop_v1_{}", fake(HEX, 64, 23)),
            ),
            (
                "huggingface-access-token",
                format!("hf_{}", fake(LOWER, 34, 24)),
            ),
            ("shopify-token", format!("shpat_{}", fake(HEX, 32, 25))),
            ("databricks-api-token", format!("dapi{}", fake(HEX, 32, 26))),
            (
                "hashicorp-vault-token",
                format!("hvs.{}", fake(ALNUM, 90, 27)),
            ),
            (
                "age-secret-key",
                format!(
                    "AGE-SECRET-KEY-1{}",
                    fake("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 58, 28)
                ),
            ),
        ];
        for (rule, token) in cases {
            assert_redacted(rule, &format!("value {token} end"), &token);
        }
        let key = format!("{}==", fake(ALNUM, 86, 29));
        assert_redacted(
            "azure-storage-account-key",
            &format!("DefaultEndpointsProtocol=https;AccountName=x;AccountKey={key};"),
            &key,
        );
    }

    #[test]
    fn jwt() {
        let t = format!(
            "eyJhbGciOiJIUzI1NiJ9.eyJ{}.{}",
            fake(ALNUM, 30, 30),
            fake(ALNUM, 43, 31)
        );
        assert_redacted("jwt", &format!("cookie: session={t}"), &t);
    }

    #[test]
    fn urls_headers_and_generic_assignments() {
        assert_redacted(
            "url-credentials",
            "psql postgres://billing:Tr0ub4dor3@db.internal:5432/app",
            "Tr0ub4dor3",
        );
        let out = redact_str("postgres://billing:Tr0ub4dor3@db").unwrap();
        assert!(
            out.contains("billing:[REDACTED:url-credentials]@db"),
            "{out}"
        );
        let t = fake(ALNUM, 40, 32);
        assert_redacted(
            "authorization-header",
            &format!("curl -H 'Authorization: Bearer {t}' https://api"),
            &t,
        );
        assert_redacted("generic-password", "DB_PASSWORD=hunter22 ./run", "hunter22");
        assert_redacted(
            "generic-password",
            r#"{"password": "correct horse"}"#,
            "correct",
        );
        let t = fake(ALNUM, 32, 33);
        assert_redacted("generic-api-key", &format!("api_key={t}"), &t);
        assert_redacted("generic-api-key", &format!("CLIENT_SECRET: \"{t}\""), &t);
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for text in [
            "pytest billing/export/tests -q",
            "password = os.environ",
            "password: $DB_PASSWORD",
            "token = next_token(stream)",
            "api_key = settings.API_KEY",
            "see https://example.com/docs for the key",
            "the secret: write it down",
            "git commit -m 'fix the export filter'",
        ] {
            assert_eq!(redact_str(text), None, "{text}");
        }
    }

    #[test]
    fn nested_values_are_redacted_and_keys_kept() {
        let t = format!("ghp_{}", fake(ALNUM, 36, 34));
        let mut v =
            json!({"tool": "Bash", "input": {"command": format!("echo {t}")}, "list": [t.clone()]});
        redact(&mut v);
        let s = v.to_string();
        assert!(!s.contains(&t));
        assert_eq!(v["input"]["command"], "echo [REDACTED:github-pat]");
        assert_eq!(v["list"][0], "[REDACTED:github-pat]");
    }
}
