// A security lead reads the runs of two machines in Chromium: filters by user, mode,
// decision and date, sorts by a column, pages through the list and through a long run's
// timeline, and follows every metric to the runs or events behind it.
//
// Environment: BASE_URL, ADMIN_TOKEN, LONG_RUN (a run of more than 1,000 entries),
// RUNS (how many runs there are), TODAY (YYYY-MM-DD), CHROMIUM, USER_DATA_DIR, SHOTS.
import assert from "node:assert/strict";
import { env, openBrowser } from "./browser.mjs";

const base = env("BASE_URL");
const total = Number(env("RUNS"));
const longRun = env("LONG_RUN");
const today = env("TODAY");

const { context, page, shot } = await openBrowser();
const rows = () => page.locator("table#runs tr:has(td)").count();
const count = async () => (await page.textContent("#count")).trim();

try {
  await page.goto(`${base}/login`);
  await page.fill("input[name=token]", env("ADMIN_TOKEN"));
  await page.click("button[type=submit]");
  await page.waitForURL(`${base}/runs`);

  // Every run, times written for people.
  assert.equal(await rows(), total);
  assert.match(await count(), new RegExp(`^${total} runs match · page 1 of 1$`));
  assert.match(await page.textContent("table#runs time"), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  await shot("runs-all");

  // Paging: two a page.
  await page.goto(`${base}/runs?per_page=2`);
  assert.equal(await rows(), 2);
  const pages = Math.ceil(total / 2);
  assert.match(await count(), new RegExp(`page 1 of ${pages}$`));
  const firstPage = await page.locator("table#runs tr:has(td) td:first-child").allTextContents();
  await page.click("a[rel=next]");
  assert.match(await count(), new RegExp(`page 2 of ${pages}$`));
  const secondPage = await page.locator("table#runs tr:has(td) td:first-child").allTextContents();
  assert.equal(firstPage.filter((r) => secondPage.includes(r)).length, 0, "pages overlap");

  // Filters: the form, then what it put in the address.
  await page.goto(`${base}/runs`);
  await page.fill("input[name=user]", "bob@example.com");
  await page.click("form.filters button[type=submit]");
  assert.match(page.url(), /user=bob%40example.com/);
  assert.match(await count(), /^1 run match/);
  await page.goto(`${base}/runs`);
  await page.selectOption("select[name=mode]", "shadow");
  await page.click("form.filters button[type=submit]");
  assert.match(await count(), /^1 run match/);
  assert.match(await page.textContent("table#runs"), /bob@example.com/);
  await page.goto(`${base}/runs?decision=would_deny`);
  assert.match(await count(), /^1 run match/);
  await page.goto(`${base}/runs?decision=deny`);
  assert.match(await count(), new RegExp(`^${total - 1} runs match`));
  assert.doesNotMatch(await page.textContent("table#runs"), /bob@example.com/);
  await page.goto(`${base}/runs?since=${today}&until=${today}`);
  assert.match(await count(), new RegExp(`^${total} runs match`));
  await page.goto(`${base}/runs?until=2000-01-01`);
  assert.match(await count(), /^0 runs match/);
  await shot("runs-filtered");

  // Sorting by a column, and back.
  await page.goto(`${base}/runs`);
  await page.click("a[data-sort=started]");
  assert.match(page.url(), /sort=started&dir=desc/);
  const order = () => page.locator("table#runs tr:has(td) td:first-child").allTextContents();
  const descending = await order();
  await page.click("a[data-sort=started]");
  assert.match(page.url(), /sort=started&dir=asc/);
  const ascending = await order();
  assert.deepEqual(ascending, [...descending].reverse());
  await page.click("a[data-sort=calls]");
  const calls = (await page.locator("table#runs tr:has(td) td:nth-child(7)").allTextContents()).map(Number);
  assert.deepEqual(calls, [...calls].sort((a, b) => b - a));

  // A long run: its timeline comes a page at a time, never all at once.
  const response = await page.goto(`${base}/runs/${longRun}`);
  const size = (await response.body()).length;
  assert.ok(size < 1_000_000, `the run page is ${size} bytes`);
  const timeline = page.locator("#timeline + p.pager + table tr:has(td)");
  assert.equal(await timeline.count(), 500);
  assert.match(await page.textContent("#timeline"), /page 1 of \d+/);
  await page.click("a[rel=next]");
  assert.match(page.url(), /page=2/);
  assert.match(await page.textContent("#timeline"), /page 2 of \d+/);
  assert.equal(
    (await page.locator("#timeline + p.pager + table tr:has(td) td:first-child").first().textContent()).trim(),
    "500",
  );
  await shot("long-run");

  // Every metric leads to what is behind it.
  await page.goto(`${base}/metrics?project=billing`);
  assert.ok((await page.locator("svg").count()) >= 2);
  await shot("metrics");
  await page.click("a.card:has-text('runs')");
  assert.match(page.url(), /\/runs\?project=billing/);
  assert.match(await count(), new RegExp(`^${total} runs match`));
  await page.goto(`${base}/metrics?project=billing`);
  const refused = await page.locator("a.card:has-text('refused')").first().getAttribute("href");
  assert.match(refused, /^\/events\?repo=billing&decision=deny$/);
  const shadow = await page.locator("a.card:has-text('would refuse')").getAttribute("href");
  assert.match(shadow, /decision=would_deny/);
  await page.click("a.card:has-text('stop triggers')");
  assert.match(page.url(), /status=stopped/);
  await page.goto(`${base}/metrics?project=billing`);
  await page.click("a.card:has-text('awaiting review')");
  assert.match(page.url(), /review=none/);
  assert.match(await count(), /runs? match/);
  // Every card and every row of the figures table links somewhere.
  const cards = await page.goto(`${base}/metrics?project=billing`).then(() =>
    page.locator("a.card").evaluateAll((as) => as.map((a) => a.getAttribute("href"))));
  assert.ok(cards.length >= 10 && cards.every((h) => h && h.startsWith("/")), String(cards));

  // Readiness: the CLI's fifteen questions.
  await page.goto(`${base}/readiness`);
  assert.match(await page.textContent("main"), /Who can delegate work to the agent\?/);
  assert.equal(await page.locator("tr[id^=q]").count(), 15);
  // The machines the hooks, sandbox and managed-settings checks were answered from.
  const machines = await page.textContent("table#machines");
  assert.match(machines, /alice@example\.com/);
  assert.match(machines, /bob@example\.com/);
  await shot("readiness");
  console.log("runs walk: ok");
} catch (error) {
  await shot("failure").catch(() => {});
  console.error(error);
  process.exitCode = 1;
} finally {
  await context.close();
}
