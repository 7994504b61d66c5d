// What the page walks share: their environment, and Debian's Chromium (through
// playwright-core) on a profile of their own, with screenshots kept under SHOTS.
//
// Environment: CHROMIUM, USER_DATA_DIR, SHOTS (and each walk's own).
import { chromium } from "playwright-core";
import { mkdirSync } from "node:fs";

/** The value of an environment variable the walk needs; an error names a missing one. */
export const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};

/**
 * Chromium opened headless: its context, its page (15 s per step) and `shot(name)`, a
 * full-page screenshot saved as SHOTS/PREFIXname.png.
 */
export async function openBrowser(prefix = "") {
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
  const shot = (name) =>
    page.screenshot({ path: `${shots}/${prefix}${name}.png`, fullPage: true });
  return { context, page, shot };
}
