//! Where a URL really goes: the host a fetcher will connect to, judged as it parses it.
//!
//! A naive reading (text between `://` and the next `/`, minus user info and port) and
//! the WHATWG URL standard that Node, browsers and most HTTP clients follow disagree on
//! many strings: `https://evil.example\@docs.python.org/` goes to `evil.example` under
//! WHATWG (a backslash is a slash in special schemes), `https:evil.example` has a host
//! although it has no `//`, `http://0x7f.1/` is `127.0.0.1`, and a full-width or
//! percent-encoded host name is mapped to ASCII. So every URL is parsed with the `url`
//! crate (WHATWG), the host it yields is what the contract's expose scope is held
//! against, and any URL whose host the two readings do not agree on, or whose form
//! fetchers are known to read differently (backslashes, user info, a scheme without
//! `//`, IP literals written other than canonically, non-ASCII host names), is refused
//! rather than guessed.

use url::Url;

/// Schemes that name a local resource or carry their own data, not a network peer.
const LOCAL_SCHEMES: &[&str] = &["file", "data", "javascript", "about", "blob", "view-source"];

/// The host `text` sends data to, lower-cased, or why it is refused.
///
/// `text` is a URL, or what a network command names without a scheme: a host, a
/// `host:port`, a `host/path`, git's `user@host:path`, or a remote name (`origin`),
/// which is returned as written.
pub fn url_host(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.contains('\\') {
        return Err(refusal(
            text,
            "it holds a backslash, which WHATWG fetchers read as `/` and others do not",
        ));
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refusal(text, "it holds spaces or control characters"));
    }
    match scheme_of(text) {
        Some(scheme) => url_with_scheme(text, &scheme),
        None => bare_target(text),
    }
}

fn refusal(_text: &str, why: &str) -> String {
    format!("a URL whose destination is unclear is refused: {why}")
}

/// The URLs written inside a free-text value (an MCP argument): each word that starts
/// with a scheme fetchers know.
pub fn urls_in(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '(' | ')'))
        .filter(|word| scheme_of(word).is_some())
}

/// The scheme when `text` starts with one that fetchers know (`https:`, `ssh:`, …).
fn scheme_of(text: &str) -> Option<String> {
    let (head, _) = text.split_once(':')?;
    let mut chars = head.chars();
    let first = chars.next()?;
    if !first.is_ascii_alphabetic()
        || !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    {
        return None;
    }
    let scheme = head.to_ascii_lowercase();
    // `docs.python.org:443` is a host and port, not a scheme: a scheme has no dot unless
    // it is a known one, and a known scheme never holds one.
    let known = matches!(
        scheme.as_str(),
        "http"
            | "https"
            | "ws"
            | "wss"
            | "ftp"
            | "ftps"
            | "sftp"
            | "scp"
            | "ssh"
            | "git"
            | "git+ssh"
            | "ssh+git"
            | "git+https"
            | "rsync"
            | "telnet"
            | "dict"
            | "gopher"
            | "ldap"
            | "ldaps"
            | "smb"
            | "smtp"
            | "smtps"
            | "imap"
            | "imaps"
            | "pop3"
            | "mqtt"
            | "tftp"
            | "s3"
            | "gs"
    ) || LOCAL_SCHEMES.contains(&scheme.as_str());
    known.then_some(scheme)
}

fn url_with_scheme(text: &str, scheme: &str) -> Result<String, String> {
    if LOCAL_SCHEMES.contains(&scheme) {
        return Err(refusal(
            text,
            &format!("`{scheme}:` names no network host a contract could scope"),
        ));
    }
    let after = text.get(scheme.len() + 1..).unwrap_or("");
    if !after.starts_with("//") {
        return Err(refusal(
            text,
            "there is no `//` after the scheme, and fetchers disagree on where its host is",
        ));
    }
    let authority = after
        .get(2..)
        .unwrap_or("")
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("");
    if authority.contains('@') {
        return Err(refusal(
            text,
            "it carries user info (`…@`), which hides the host from a naive reading",
        ));
    }
    let url = Url::parse(text).map_err(|error| {
        refusal(
            text,
            &format!("it does not parse as a URL ({error}), so where it goes is unknown"),
        )
    })?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refusal(text, "it carries user info"));
    }
    // The host as the URL serialises it (`[::ffff:7f00:1]`, not Rust's IPv6 display).
    let host = match url.host_str() {
        Some(host) if !host.is_empty() => host.to_ascii_lowercase(),
        _ => return Err(refusal(text, "it names no host")),
    };
    let naive = naive_host(authority);
    if naive != host {
        return Err(refusal(
            text,
            &format!(
                "it reads as host `{naive}` but a WHATWG fetcher goes to `{host}` (percent \
                 escapes, non-ASCII or full-width letters, or an IP address in an odd form)"
            ),
        ));
    }
    Ok(host)
}

/// The host of an authority as a naive reader takes it: minus the port, lower-cased.
fn naive_host(authority: &str) -> String {
    let host = if authority.starts_with('[') {
        authority
            .split_inclusive(']')
            .next()
            .unwrap_or(authority)
            .to_string()
    } else {
        authority.split(':').next().unwrap_or("").to_string()
    };
    host.to_ascii_lowercase()
}

/// A target without a scheme: `host`, `host:port`, `host/path`, `user@host:path`.
fn bare_target(text: &str) -> Result<String, String> {
    // git's `user@host:path` and curl's `user@host` agree: the host follows the last `@`.
    let text_after_user = text.rsplit('@').next().unwrap_or(text);
    let host = text_after_user
        .split(['/', '?', '#'])
        .next()
        .unwrap_or("")
        .split(':')
        .next()
        .unwrap_or("");
    if host.is_empty() {
        return Ok(text.to_ascii_lowercase());
    }
    // Read it as a fetcher would, with the scheme curl and wget assume.
    match Url::parse(&format!("http://{host}/")) {
        Ok(url) => {
            let parsed = url.host_str().unwrap_or("").to_ascii_lowercase();
            if parsed != host.to_ascii_lowercase() {
                return Err(refusal(
                    text,
                    &format!("it reads as host `{host}` but a fetcher goes to `{parsed}`"),
                ));
            }
            Ok(parsed)
        }
        // Not a host name at all (a remote name such as `origin` parses; this is junk).
        Err(error) => Err(refusal(text, &format!("it is not a host name ({error})"))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_urls_give_their_host() {
        assert_eq!(
            url_host("https://Docs.Python.org/3/x?y").unwrap(),
            "docs.python.org"
        );
        assert_eq!(
            url_host("https://docs.python.org:443/").unwrap(),
            "docs.python.org"
        );
        assert_eq!(url_host("docs.python.org").unwrap(), "docs.python.org");
        assert_eq!(
            url_host("docs.python.org:443/x").unwrap(),
            "docs.python.org"
        );
        assert_eq!(url_host("origin").unwrap(), "origin");
        assert_eq!(
            url_host("git@github.com:org/repo.git").unwrap(),
            "github.com"
        );
        assert_eq!(url_host("http://[::1]:8080/").unwrap(), "[::1]");
        assert_eq!(url_host("http://127.0.0.1/").unwrap(), "127.0.0.1");
    }

    #[test]
    fn urls_inside_text_are_found() {
        let found: Vec<&str> = urls_in("see https://a.example/x and (http:b.example) ok").collect();
        assert_eq!(found, ["https://a.example/x", "http:b.example"]);
    }

    #[test]
    fn what_fetchers_read_differently_is_refused() {
        for text in [
            "https://evil.example\\@docs.python.org/?q=tok",
            "https://evil.example\\.python.org/",
            "https:evil.example/",
            "https:/evil.example/",
            "http://u:p@evil.example/",
            "https://docs.python.org@evil.example/",
            "http://0x7f.1/",
            "http://2130706433/",
            "http://127.1/",
            "http://0177.0.0.1/",
            "https://docs%2epython.org/",
            "https://ｄocs.python.org/",
            "https://docs.python.org%2F@evil.example/",
            "file:///etc/passwd",
            "https://",
        ] {
            assert!(url_host(text).is_err(), "{text} -> {:?}", url_host(text));
        }
    }
}
