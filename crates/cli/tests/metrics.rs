#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! `mandate metrics` and `mandate touch-map` over runs recorded through the real hook, and
//! the HTML reports rendered in headless Chromium: the charts must draw.

mod report;

use report::{Repo, chromium, png_stats, render};

#[test]
fn metrics_count_what_the_records_show() {
    let repo = Repo::new();
    repo.two_runs();
    let m = repo.json(&["metrics", "--format", "json"]);
    assert_eq!(m["runs"], 2);
    assert_eq!(m["runs_finished"], 2);
    assert_eq!(m["tool_calls"], 9);
    assert_eq!(m["subagent_calls"], 3);
    assert_eq!(m["decisions"]["allow"], 5);
    assert_eq!(m["decisions"]["deny"], 4);
    assert_eq!(m["refused"], 4);
    assert_eq!(
        m["unguarded_calls"], 1,
        "the Bash result with no decision before it"
    );
    assert_eq!(m["box_moved_touches"], 4);
    assert_eq!(m["box_moved_ran"], 0);
    assert_eq!(m["mcp_tools"]["mcp__jira__get_issue"]["calls"], 1);
    assert_eq!(m["evidence"]["runs_complete"], 0);
    assert_eq!(
        m["tests"]["runs_without_tests"].as_array().unwrap().len(),
        2
    );
    assert_eq!(m["runs_awaiting_review"], 2);
    assert_eq!(m["days"].as_array().unwrap().len(), 1);
    let none = repo.json(&["metrics", "--since", "2999-01-01", "--format", "json"]);
    assert_eq!(none["runs"], 0);
    let text = repo.ok(&["metrics"]);
    assert!(text.contains("unguarded calls 1"), "{text}");

    // Each run's figures are kept between reports; a run that grows is read again.
    repo.ok(&["start", ".mandate/contracts/BILL-142.toml"]);
    let read = serde_json::json!({"file_path": "billing/export/filter.py"});
    repo.call("s9", None, "k1", "Read", read.clone());
    let m = repo.json(&["metrics", "--format", "json"]);
    assert_eq!(
        (m["runs"].as_u64(), m["tool_calls"].as_u64()),
        (Some(3), Some(10))
    );
    repo.call("s9", None, "k2", "Read", read);
    let m = repo.json(&["metrics", "--format", "json"]);
    assert_eq!(
        (m["runs"].as_u64(), m["tool_calls"].as_u64()),
        (Some(3), Some(11))
    );
    assert!(repo.records.join("cache/figures").is_dir());
}

#[test]
fn touch_map_shows_declared_beside_observed_and_the_box_moving() {
    let repo = Repo::new();
    repo.two_runs();
    // The run that wrote to deploy/ is the first; the other is the latest.
    let deploy = repo.json(&["touched", "deploy/**", "--json"]);
    let first = deploy["touches"][0]["run"].as_str().unwrap().to_string();
    let all = repo.json(&["touched", "**", "--json"]);
    let second = all["touches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["run"].as_str().unwrap().to_string())
        .find(|r| *r != first)
        .unwrap();
    let runs = [first, second];
    let map = repo.json(&["touch-map", &runs[0], "--format", "json"]);
    assert_eq!(map["read"]["declared"][0], "billing/export/**");
    assert_eq!(map["read"]["declared_use"][0]["used"], 1);
    assert_eq!(
        map["read"]["declared_use"][1]["used"], 0,
        "docs unused in run 1"
    );
    let moved = map["read"]["box_moved"].as_array().unwrap();
    assert_eq!(moved.len(), 1);
    assert_eq!(moved[0]["outcome"], "refused");
    assert_eq!(moved[0]["subagent"], true);
    assert!(
        moved[0]["target"]
            .as_str()
            .unwrap()
            .ends_with("customer_data/eu.csv")
    );
    assert_eq!(
        map["write"]["box_moved"].as_array().unwrap().len(),
        2,
        "early edit and deploy/"
    );
    assert_eq!(map["call"]["declared_use"][0]["used"], 1);
    // The default run is the workspace's most recent.
    let latest = repo.json(&["touch-map", "--json"]);
    assert_eq!(latest["run"], runs[1].as_str());
    let text = repo.ok(&["touch-map", &runs[0], "--observed"]);
    assert!(text.contains("THE BOX MOVED: 3 touch targets"), "{text}");
    assert!(
        text.contains("! outside   refused: customer_data/eu.csv"),
        "{text}"
    );
    assert!(
        text.contains("observed  billing/export/filter.py"),
        "{text}"
    );
}

#[test]
fn html_reports_render_in_a_real_browser_and_the_charts_draw() {
    let Some(browser) = chromium() else {
        println!("SKIPPED: no Chromium (apt-get install -y chromium)");
        return;
    };
    let repo = Repo::new();
    repo.ok(&["install", "--allow-unsafe-binary"]);
    repo.two_runs();
    let work = repo.dir.path().join("browser");
    std::fs::create_dir_all(&work).unwrap();
    let keep = std::env::var_os("MANDATE_REPORT_SCREENSHOTS").map(std::path::PathBuf::from);

    let html = repo.ok(&["metrics", "--format", "html"]);
    assert!(
        !html.contains("<script") && !html.contains("http://")
            || html.contains("xmlns=\"http://www.w3.org/2000/svg\"")
    );
    assert!(!html.contains("<script"), "no JavaScript");
    let (dom, png) = render(&browser, &html, &work, "metrics");
    assert!(
        dom.contains("mandate metrics"),
        "the page loaded: {dom:.200}"
    );
    let svgs = dom.matches("<svg").count();
    assert!(svgs >= 4, "charts in the DOM: {svgs}");
    // Bars with non-zero geometry.
    let bars: Vec<f64> = dom
        .split("class=\"bar\"")
        .skip(1)
        .filter_map(|rest| {
            let h = rest.split("height=\"").nth(1)?.split('"').next()?;
            h.parse().ok()
        })
        .collect();
    assert!(
        bars.len() >= 3 && bars.iter().all(|h| *h > 0.0),
        "bar heights: {bars:?}"
    );
    assert!(
        dom.contains("class=\"dot\""),
        "the denial-rate line has points"
    );
    // The screenshot is not blank, and the chart colours are on it.
    let (w, h, colours, blue) = png_stats(&png, (0x3b, 0x7d, 0xd8));
    assert_eq!((w, h), (1200, 2000));
    assert!(colours > 50, "a blank page has few colours: {colours}");
    assert!(
        blue > 500,
        "the allowed-calls bars drew: {blue} pixels of bar blue"
    );
    let (_, _, _, red) = png_stats(&png, (0xd9, 0x53, 0x4f));
    assert!(
        red > 200,
        "the refused-calls bars drew: {red} pixels of bar red"
    );

    let readiness = repo.run(&["readiness", "--format", "html"]);
    let readiness = String::from_utf8_lossy(&readiness.stdout).to_string();
    let (dom, png2) = render(&browser, &readiness, &work, "readiness");
    assert!(dom.contains("Who can delegate work to the agent?"));
    let (_, _, colours, _) = png_stats(&png2, (0, 0, 0));
    assert!(colours > 50, "readiness page drew: {colours}");

    let map = repo.ok(&["touch-map", "--format", "html", "--observed"]);
    let (dom, png3) = render(&browser, &map, &work, "touch-map");
    assert!(dom.contains("the box moved"));
    let (_, _, colours, _) = png_stats(&png3, (0, 0, 0));
    assert!(colours > 50, "touch map drew: {colours}");

    if let Some(dir) = keep {
        std::fs::create_dir_all(&dir).unwrap();
        for (png, name) in [
            (&png, "metrics.png"),
            (&png2, "readiness.png"),
            (&png3, "touch-map.png"),
        ] {
            std::fs::copy(png, dir.join(name)).unwrap();
        }
    }
}
