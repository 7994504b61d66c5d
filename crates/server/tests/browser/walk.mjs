// A reviewer and a security engineer use mandate-server's pages in Chromium:
// sign in, open a run, record a review, approve the pending call; sign in as security
// and disable a tool; a page on another origin of the same host (same site, so
// SameSite cookies go along) tries to pull the kill switch as security and is refused;
// an admin reads the metrics, the team policy and the audit log. The Rust test around
// this script checks that the hook then lets the approved call through and refuses the
// disabled tool, and that the forged kill never landed.
//
// Environment: BASE_URL, RUN_ID, BOB_TOKEN, SEC_TOKEN, ADMIN_TOKEN, CHROMIUM,
// USER_DATA_DIR, SHOTS.
import { createServer } from "node:http";
import assert from "node:assert/strict";
import { env, openBrowser } from "./browser.mjs";

const base = env("BASE_URL");
const runId = env("RUN_ID");

const { context, page, shot } = await openBrowser();

async function signIn(token) {
  await page.goto(`${base}/runs`);
  // Not signed in: the runs page sends us to sign in.
  assert.match(page.url(), /\/login$/);
  await page.fill("input[name=token]", token);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/runs`);
}

try {
  // A wrong token is refused.
  await page.goto(`${base}/login`);
  await page.fill("input[name=token]", "mdt_wrong");
  await page.click("button[type=submit]");
  assert.match(await page.textContent(".error"), /not known/);

  // The reviewer signs in and opens the run from the list.
  await signIn(env("BOB_TOKEN"));
  assert.match(await page.textContent("header .who"), /bob@example.com · reviewer/);
  await shot("runs");
  await page.click(`a[href="/runs/${runId}"]`);
  await page.waitForURL(`${base}/runs/${runId}`);
  const body = await page.textContent("main");
  assert.match(body, /Touch map/);
  assert.match(body, /Denials \(2\)/);
  assert.match(body, /\.env/);
  assert.match(body, /Verification/);
  assert.match(body, /Timeline/);
  await shot("run");

  // Filters narrow the list.
  await page.goto(`${base}/runs?task=NO-SUCH-TASK`);
  assert.match(await page.textContent("main"), /No runs match/);
  await page.goto(`${base}/runs?denied=1&user=alice%40example.com`);
  assert.equal(await page.locator(`a[href="/runs/${runId}"]`).count(), 1);

  // The review form.
  await page.goto(`${base}/runs/${runId}`);
  await page.selectOption("form#review select[name=decision]", "approve");
  await page.fill("form#review textarea[name=note]", "EU rows restored; tests cover the filter");
  await page.click("form#review button[type=submit]");
  await page.waitForURL(new RegExp(`/runs/${runId}#review$`));
  assert.match(await page.textContent("main"), /bob@example.com at .*EU rows restored/);

  // The pending approval.
  await page.click("header a[href='/approvals']");
  await page.waitForURL(`${base}/approvals`);
  assert.match(await page.textContent("main"), /Pending \(1\)/);
  assert.match(await page.textContent("main"), /requirements\.txt/);
  // The reviewer sees what the write would change, not a digest.
  assert.equal(await page.textContent("pre.diff .add"), "+stripe==9\n");
  await shot("approvals");
  await page.click("button[name=decision][value=approve]");
  await page.waitForURL(`${base}/approvals`);
  assert.match(await page.textContent("main"), /Pending \(0\)/);
  assert.match(await page.textContent("main"), /Decided \(1\)/);

  // The reviewer may not pull the kill switch: the form is not offered.
  await page.goto(`${base}/registry`);
  assert.equal(await page.locator("form#disable").count(), 0);

  // Security signs in and disables the jira tool.
  await page.click("header form button");
  await page.waitForURL(`${base}/login`);
  await signIn(env("SEC_TOKEN"));
  await page.goto(`${base}/registry`);
  await page.fill("form#disable input[name=target]", "jira/get_issue");
  await page.fill("form#disable input[name=reason]", "incident 7: the tool leaks tickets");
  await page.click("form#disable button[type=submit]");
  await page.waitForURL(`${base}/registry`);
  assert.match(await page.textContent("main"), /Switched off \(1\)/);
  assert.match(await page.textContent("main"), /jira\/get_issue/);
  await shot("registry");

  // An attacker's page on another port of the same host: a form that posts itself to
  // the kill switch, and a no-cors fetch with a text/plain body to the JSON API. The
  // browser sends the session cookie with the form (same site); the server refuses it.
  const host = new URL(base).hostname;
  const attacker = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html" });
    res.end(`<!doctype html><body>
      <form id="f" method="post" action="${base}/killswitch">
        <input name="action" value="disable"><input name="target" value="csrf-form">
        <input name="reason" value="forged"></form>
      <script>
        fetch("${base}/api/v1/killswitch", {method: "POST", mode: "no-cors",
          credentials: "include", headers: {"Content-Type": "text/plain"},
          body: JSON.stringify({action: "disable", target: "csrf-fetch", reason: "forged"})})
          .finally(() => document.getElementById("f").submit());
      </script></body>`);
  });
  await new Promise((resolve) => attacker.listen(0, host, resolve));
  const evil = `http://${host}:${attacker.address().port}/`;
  const refused = page.waitForResponse((r) => r.url() === `${base}/killswitch`);
  await page.goto(evil);
  assert.equal((await refused).status(), 403, "the cross-origin form was not refused");
  // Let the form's navigation finish before going anywhere else.
  await page.waitForURL(`${base}/killswitch`);
  attacker.close();
  await page.goto(`${base}/registry`);
  const killList = await page.textContent("main");
  assert.match(killList, /Switched off \(1\)/);
  assert.doesNotMatch(killList, /csrf-form|csrf-fetch/);

  // The admin reads what only admins read.
  await page.click("header form button");
  await page.waitForURL(`${base}/login`);
  await signIn(env("ADMIN_TOKEN"));
  await page.goto(`${base}/policy`);
  assert.match(await page.textContent("main"), /Version \d+/);
  assert.match(await page.textContent("main"), /billing/);
  await page.goto(`${base}/audit`);
  const audit = await page.textContent("main");
  assert.match(audit, /chain intact/);
  assert.match(audit, /approval\.approve/);
  assert.match(audit, /killswitch\.disable/);
  assert.match(audit, /signin\.failed/);
  await shot("audit");

  // Readiness and metrics render, with charts.
  await page.goto(`${base}/metrics`);
  assert.ok((await page.locator("svg").count()) >= 2);
  await shot("metrics");
  await page.goto(`${base}/readiness`);
  assert.match(await page.textContent("main"), /Who can delegate work to the agent\?/);
  await shot("readiness");
  console.log("browser walk: ok");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await context.close();
}
