#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! URLs judged as the fetcher parses them (issue 20, item 2), checked against a WHATWG
//! reference: Node's `URL`. For every URL below, Node's host, the `url` crate's host and
//! mandate's judgement are compared: mandate either refuses the URL or names exactly the
//! host Node would connect to, and never a host an allow rule would see differently.

use std::process::Command;

use mandate_policy::url_target::url_host;

/// Tricky URLs: (text, mandate must refuse it).
const CASES: &[(&str, bool)] = &[
    ("https://docs.python.org/3/library/", false),
    ("https://DOCS.python.org:443/x?y#z", false),
    ("http://docs.python.org./", false),
    ("https://evil.example\\@docs.python.org/?q=tok", true),
    ("https://evil.example\\.python.org/", true),
    ("https:\\\\evil.example/", true),
    ("https:evil.example/", true),
    ("https:/evil.example/", true),
    ("https:///evil.example/", true),
    ("http://user:pass@evil.example/", true),
    ("https://docs.python.org@evil.example/", true),
    ("https://docs.python.org:@evil.example/", true),
    ("https://docs.python.org%40evil.example/", true),
    ("https://docs%2epython.org/", true),
    ("https://ｄｏｃｓ.python.org/", true),
    ("https://docs.pythoǹ.org/", true),
    ("https://xn--dcs-5na.python.org/", false),
    ("http://0x7f.1/", true),
    ("http://0x7f000001/", true),
    ("http://2130706433/", true),
    ("http://127.1/", true),
    ("http://0177.0.0.1/", true),
    ("http://127.0.0.1/", false),
    ("http://[::1]/", false),
    ("http://[::ffff:127.0.0.1]/", true),
    ("http://[0:0:0:0:0:0:0:1]/", true),
    ("https://docs.python.org\t.evil.example/", true),
    ("https://docs.python.org\n.evil.example/", true),
    ("https://docs.python.org#@evil.example/", false),
    ("https://docs.python.org?@evil.example/", false),
    ("https://docs.python.org/@evil.example/", false),
    ("HTTPS://Docs.Python.Org/", false),
    ("https://docs.python.org:99999/", true),
];

#[test]
fn mandate_refuses_or_agrees_with_node_url() {
    let node = Command::new("node")
        .args([
            "-e",
            "const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));\
             console.log(JSON.stringify(cases.map(c => { \
               try { return new URL(c).hostname; } catch (e) { return null; } })));",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn();
    let Ok(mut node) = node else {
        if std::env::var("MANDATE_E2E_REQUIRED").as_deref() == Ok("1") {
            panic!("node is not installed: the WHATWG reference is missing");
        }
        eprintln!("SKIPPED: node is not installed");
        return;
    };
    let texts: Vec<&str> = CASES.iter().map(|(t, _)| *t).collect();
    {
        use std::io::Write;
        let mut stdin = node.stdin.take().unwrap();
        stdin
            .write_all(serde_json::to_string(&texts).unwrap().as_bytes())
            .unwrap();
    }
    let output = node.wait_with_output().unwrap();
    assert!(output.status.success(), "node failed: {output:?}");
    let hosts: Vec<Option<String>> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(hosts.len(), CASES.len());
    let mut problems = Vec::new();
    for ((text, refuse), node_host) in CASES.iter().zip(&hosts) {
        // The url crate is the WHATWG parser mandate uses: it must agree with Node.
        let crate_host = url::Url::parse(text)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string));
        if crate_host != *node_host {
            problems.push(format!(
                "{text:?}: url crate says {crate_host:?}, Node says {node_host:?}"
            ));
        }
        match (url_host(text), node_host) {
            (Ok(host), Some(node_host)) if host == *node_host => {
                if *refuse {
                    problems.push(format!("{text:?}: expected a refusal, allowed as `{host}`"));
                }
            }
            (Ok(host), _) => problems.push(format!(
                "{text:?}: mandate judged it as `{host}`, Node goes to {node_host:?}"
            )),
            (Err(_), _) if !refuse => {
                problems.push(format!("{text:?}: refused, but it is a plain URL"))
            }
            (Err(_), _) => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
