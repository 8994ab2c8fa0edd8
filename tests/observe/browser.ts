// Debian's Chromium, headless, driven by playwright-core; and the dashboard started on a log.
import { chromium, type Browser, type Page } from "playwright-core";
import { mkdirSync } from "node:fs";
import * as path from "node:path";
import { startDashboard, type Dashboard } from "../../dist/npm/cli/dashboard.js";
import { workspace } from "../js/cli-run.js";

export const CHROMIUM = "/usr/bin/chromium";
/** Screenshots kept after the run, for people to look at. */
export const artifacts = path.join(workspace, "build", "test-artifacts");

export async function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true });
}

export interface Opened {
  dashboard: Dashboard;
  page: Page;
  /** Errors the page threw or logged. */
  errors: string[];
}

/** Serves `log` and opens the page; resolves once the page has drawn `events` events.
 * `before` runs on the page before it loads (e.g. to hold a request back). */
export async function openDashboard(
  browser: Browser,
  log: string,
  events: number,
  opts: { opencode?: string; before?: (page: Page) => Promise<unknown> } = {},
): Promise<Opened> {
  const dashboard = await startDashboard({ dir: path.dirname(log), log }, 0, opts.opencode);
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  await opts.before?.(page);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
  await page.goto(dashboard.url);
  await drawn(page, events);
  return { dashboard, page, errors };
}

export async function drawn(page: Page, events: number): Promise<void> {
  await page.waitForSelector(`body[data-events="${events}"]`, { timeout: 20_000 });
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(artifacts, { recursive: true });
  const file = path.join(artifacts, name);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Each bar's bead, attempt and state, top to bottom. */
export async function bars(page: Page): Promise<string[]> {
  return page.$$eval(".bar", (els) => els.map((e) => `${(e as HTMLElement).dataset.bead}#${(e as HTMLElement).dataset.attempt}:${(e as HTMLElement).dataset.state}`));
}

/** The metrics table's row named `name`, cell by cell. */
export async function statsRow(page: Page, name: string): Promise<string[]> {
  return page.$$eval(
    "#stats tr",
    (rows, wanted) =>
      rows.map((r) => Array.from(r.children, (c) => c.textContent ?? "")).find((cells) => cells[0] === wanted) ?? [],
    name,
  );
}
