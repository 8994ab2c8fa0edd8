// The dashboard in real headless Chromium: a recorded run drawn as the wasm core computes it,
// updated live as events are appended, served only at its secret address on the loopback.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { loadLogView } from "../../dist/npm/core.js";
import { recordedRun, typesOf } from "../js/cli-run.js";
import { removeTempDirs, tempDir } from "../js/repo.js";
import { bars, drawn, launch, openDashboard, screenshot, statsRow } from "./browser.js";

let browser: Browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
  removeTempDirs();
});

const lines = readFileSync(recordedRun, "utf8").split("\n").filter((l) => l !== "");
const text = (n: number) => lines.slice(0, n).map((l) => `${l}\n`).join("");

/** What the core computes for these bytes, in Node: the page must draw the same. */
function expectedBars(bytes: string): string[] {
  const View = loadLogView();
  const view = new View();
  view.feed(new TextEncoder().encode(bytes));
  const o = view.overview(Date.now());
  view.free();
  return o.epics.flatMap((e) => e.workers.map((w) => `${w.bead_id}#${w.attempt}:${w.state}`));
}

test("a recorded run is drawn bar by bar, then follows appended events without a reload", async () => {
  const log = path.join(tempDir("apiary-dash-"), "events.jsonl");
  const cut = 20;
  writeFileSync(log, text(cut));
  const { dashboard, page, errors } = await openDashboard(browser, log, cut);
  try {
    const early = await bars(page);
    assert.equal(early.length, typesOf(text(cut)).filter((t) => t === "worker_spawned").length);
    assert.deepEqual(early, expectedBars(text(cut)));
    assert.ok(early.some((b) => b.endsWith(":running")), early.join(" "));
    assert.equal(await page.getAttribute("#queue", "data-rows"), "2");
    assert.match((await page.textContent("#summary")) ?? "", /^20 events · running 2 · waiting 2 · blocked 0/);
    await screenshot(page, "dashboard-live.png");

    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));
    // The rest arrives in pieces that split lines, as a writer's flushes may.
    const rest = lines.slice(cut).map((l) => `${l}\n`).join("");
    for (let i = 0; i < rest.length; i += 900) appendFileSync(log, rest.slice(i, i + 900));
    await drawn(page, lines.length);
    assert.equal(await page.evaluate(() => (window as unknown as { marker?: number }).marker), 42, "the page reloaded");
    const done = await bars(page);
    assert.deepEqual(done, expectedBars(text(lines.length)));
    assert.ok(done.every((b) => b.endsWith(":success")), done.join(" "));
    const all = await statsRow(page, "all");
    const spawned = typesOf(text(lines.length)).filter((t) => t === "worker_spawned").length;
    assert.equal(all[1], String(spawned), `attempts in ${all.join("|")}`);
    assert.equal(all[6], "100%", `success in ${all.join("|")}`);
    assert.equal(await page.getAttribute("#queue", "data-rows"), "0");
    assert.equal(await page.textContent("#live"), "live");
    await screenshot(page, "dashboard.png");
    assert.deepEqual(errors, []);
  } finally {
    await page.close();
    await dashboard.close();
  }
});

test("a damaged log shows where the damage is and the valid part before it", async () => {
  const log = path.join(tempDir("apiary-dash-"), "events.jsonl");
  const damaged = lines.map((l, i) => (i === 14 ? l.replace('"seq":15', '"seq":15 ') : l));
  writeFileSync(log, damaged.join("\n") + "\n");
  const { dashboard, page } = await openDashboard(browser, log, 14);
  try {
    assert.equal(await page.isVisible("#damage"), true);
    assert.match((await page.textContent("#damage")) ?? "", /damaged at line 15: .*Shown: the 14 events before it/);
    assert.deepEqual(await bars(page), expectedBars(text(14)));
  } finally {
    await page.close();
    await dashboard.close();
  }
});

/** A GET with the Host header given, to the dashboard's port. */
function get(port: number, pathname: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: pathname, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.end();
  });
}

test("only the secret address on the loopback interface is served", async () => {
  const log = path.join(tempDir("apiary-dash-"), "events.jsonl");
  writeFileSync(log, text(5));
  const { startDashboard } = await import("../../dist/npm/cli/dashboard.js");
  const dashboard = await startDashboard({ dir: path.dirname(log), log });
  try {
    const url = new URL(dashboard.url);
    assert.equal(url.hostname, "127.0.0.1");
    assert.match(url.pathname, /^\/[0-9a-f]{32}\/$/);
    const port = Number(url.port);
    const host = `127.0.0.1:${port}`;
    assert.equal(await get(port, url.pathname, host), 200);
    assert.equal(await get(port, `${url.pathname}log`, host), 200);
    assert.equal(await get(port, "/", host), 404);
    assert.equal(await get(port, "/0123456789abcdef0123456789abcdef/", host), 404);
    assert.equal(await get(port, `${url.pathname}../../etc/passwd`, host), 404);
    // A page elsewhere that rebinds its own name to 127.0.0.1 sends its own name as Host.
    assert.equal(await get(port, url.pathname, `attacker.example:${port}`), 403);
  } finally {
    await dashboard.close();
  }
});
