// Issue 19: the pages show what the machines and the API show. A reviewer and a
// security engineer read the pages after two machines made their changes (see
// crates/cli/tests/sync.rs): the stopped run is "stopped" and reviewed, both reviews are
// on its page (the one written on a machine marked as the record's word), no approval
// waits and none offers an Approve button, every decided one is "used"; the registry
// lists jira from mandate.toml, and the target a machine switched off is listed apart
// from the organisation's kill list.
//
// Environment: BASE_URL, RUN1, RUN2, BOB_TOKEN, SEC_TOKEN, CHROMIUM, USER_DATA_DIR, SHOTS.
import assert from "node:assert/strict";
import { env, openBrowser } from "./browser.mjs";

const base = env("BASE_URL");
const run1 = env("RUN1");
const run2 = env("RUN2");

const { context, page, shot } = await openBrowser("sync-");

async function signIn(token) {
  await page.goto(`${base}/login`);
  await page.fill("input[name=token]", token);
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/runs`);
}

try {
  await signIn(env("BOB_TOKEN"));

  // The runs list: run 1 stopped and reviewed (its newest review), run 2 there too.
  const row1 = await page.textContent(`tr:has(a[href="/runs/${run1}"])`);
  assert.match(row1, /stopped/, row1);
  assert.doesNotMatch(row1, /not reviewed/, row1);
  assert.match(row1, /approve/, row1);
  assert.equal(await page.locator(`a[href="/runs/${run2}"]`).count(), 1);
  await shot("runs");

  // Run 1: the reviews, from the machine's record and from the server.
  await page.goto(`${base}/runs/${run1}`);
  const reviews = await page.locator("p.review").allTextContents();
  assert.equal(reviews.length, 3, reviews.join("\n"));
  const recorded = reviews.find((r) => /add a test for EU rows/.test(r));
  assert.ok(recorded, reviews.join("\n"));
  assert.match(recorded, /request-changes/);
  assert.match(recorded, /the record's word/);
  const signedIn = reviews.find((r) => /EU rows restored/.test(r));
  assert.ok(signedIn, reviews.join("\n"));
  assert.doesNotMatch(signedIn, /the record's word/);
  const main = await page.textContent("main");
  assert.match(main, /EU rows are filtered by country code/, "the evidence is shown");
  await shot("run");

  // Approvals: nothing waits, nothing offers a decision, each one was used.
  await page.goto(`${base}/approvals`);
  const approvals = await page.textContent("main");
  assert.match(approvals, /Pending \(0\)/);
  assert.match(approvals, /Decided \(3\)/);
  assert.equal(await page.locator("button[name=decision]").count(), 0, "an Approve button is offered");
  assert.equal((approvals.match(/used/g) ?? []).length >= 3, true, approvals);
  assert.match(approvals, /mandate approve/, "a decision made on a machine says so");
  await shot("approvals");

  // Security: the registry from mandate.toml, and what a machine switched off.
  await page.click("header form button");
  await page.waitForURL(`${base}/login`);
  await signIn(env("SEC_TOKEN"));
  await page.goto(`${base}/registry`);
  const registry = await page.textContent("main");
  assert.match(registry, /Switched off \(0\)/);
  assert.match(registry, /Switched off on machines \(1\)/);
  const machineRow = await page.textContent("h2#machines + p + table tr:nth-child(2)");
  assert.match(machineRow, /expose/);
  assert.match(machineRow, /alice@example\.com/);
  assert.match(machineRow, /bob@example\.com/);
  const jira = await page.textContent("tr:has(td code:text-is('jira'))");
  assert.match(jira, /it-tools@example\.com/);
  assert.match(jira, /mandate\.toml of project billing/);
  assert.match(jira, /create_issue: write/);
  await shot("registry");
} finally {
  await context.close();
}
