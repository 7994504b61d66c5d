// A reviewer and a security engineer use mandate-server's pages in Chromium:
// sign in, open a run, record a review, approve the pending call; sign in as security
// and disable a tool. The Rust test around this script checks that the hook then lets
// the approved call through and refuses the disabled tool.
//
// Environment: BASE_URL, RUN_ID, BOB_TOKEN, SEC_TOKEN, CHROMIUM, USER_DATA_DIR, SHOTS.
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";
import assert from "node:assert/strict";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("BASE_URL");
const runId = env("RUN_ID");
const shots = env("SHOTS");
mkdirSync(shots, { recursive: true });

const context = await chromium.launchPersistentContext(env("USER_DATA_DIR"), {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
  viewport: { width: 1280, height: 900 },
});
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(15000);
const shot = (name) => page.screenshot({ path: `${shots}/${name}.png`, fullPage: true });

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

  // Readiness and metrics render, with charts.
  await page.goto(`${base}/metrics`);
  assert.ok((await page.locator("svg").count()) >= 2);
  await shot("metrics");
  await page.goto(`${base}/readiness`);
  assert.match(await page.textContent("main"), /Who delegates work to agents\?/);
  await shot("readiness");
  console.log("browser walk: ok");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await context.close();
}
