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
import { removeTempDirs, scratchRepo, tempDir } from "../js/repo.js";
import { LOG_ONLY, fakeClient } from "../js/writer.js";
import { loadCore } from "../../dist/npm/core.js";
import { makeHost } from "../../dist/npm/host.js";
import { findLogPath, openFileStore } from "../../dist/npm/store.js";
import { createServer } from "node:net";
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

test("the page says connecting… until it has drawn the log, and only then live", async () => {
  const log = path.join(tempDir("apiary-dash-"), "events.jsonl");
  writeFileSync(log, text(lines.length));
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let asked!: () => void;
  const logAsked = new Promise<void>((resolve) => (asked = resolve));
  const { dashboard, page } = await openDashboard(browser, log, 0, {
    before: async (p) => {
      // Each state the badge shows, with the number of events drawn at that moment.
      await p.addInitScript(() => {
        const seen: string[] = ((window as unknown as { liveSeen: string[] }).liveSeen = []);
        new MutationObserver(() => {
          const live = document.getElementById("live")?.textContent ?? "";
          const entry = `${live}@${document.body?.dataset.events ?? "-"}`;
          if (seen.at(-1)?.split("@")[0] !== live) seen.push(entry);
        }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
      });
      // The log's stream is held back: the page has drawn nothing from it yet.
      await p.route(/\/log\?from=/, async (route) => {
        asked();
        await held;
        await route.continue();
      });
    },
  });
  try {
    await logAsked;
    assert.equal(await page.textContent("#live"), "connecting…");
    assert.equal(await page.getAttribute("body", "data-events"), "0");
    release();
    await drawn(page, lines.length);
    await page.waitForSelector('#live[data-state="live"]', { timeout: 20_000 });
    assert.equal(await page.textContent("#live"), "live");
    // "live" came only once the whole log was drawn.
    const seen = await page.evaluate(() => (window as unknown as { liveSeen: string[] }).liveSeen);
    assert.deepEqual(seen.filter((s) => s.startsWith("live")), [`live@${lines.length}`], seen.join(" "));
  } finally {
    release();
    await page.close();
    await dashboard.close();
  }
});

/** A port nothing listens on (just closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test("a failed worker says failed in words, and a click on a worker opens a panel of its last turn", async () => {
  const repo = scratchRepo();
  const file = await findLogPath(repo);
  const core = new (loadCore())(makeHost(fakeClient("f"), openFileStore(file)), LOG_ONLY);
  const coordinator = { session_id: "ses_coord", directory: repo };
  for (const bead of ["good", "bad"]) await core.spawnAsync(coordinator, { bead_id: bead, epic_id: "ep", title: bead, files: [] });
  await core.drain();
  const spawned = readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.includes('"worker_spawned"'))
    .map((l) => JSON.parse(l) as { bead_id: string; session_id: string });
  for (const w of spawned) {
    const status = w.bead_id === "bad" ? "failed" : "success";
    await core.complete({ session_id: w.session_id, directory: repo }, { bead_id: w.bead_id, status, summary: `${w.bead_id} ${status}`, files_touched: [] });
  }
  const events = typesOf(readFileSync(file, "utf8")).length;
  const port = await closedPort();
  const { dashboard, page, errors } = await openDashboard(browser, file, events, { opencode: `http://127.0.0.1:${port}` });
  try {
    const states = await page.$$eval(".row", (rows) => rows.map((r) => `${r.querySelector(".label")?.textContent}=${r.querySelector(".state")?.textContent}`));
    assert.deepEqual(states, ["good=✓ success", "bad=✗ failed"]);
    assert.match((await page.getAttribute('.bar[data-bead="bad"]', "aria-label")) ?? "", /^bad attempt 1: failed, /);
    assert.equal(await page.getAttribute('.bar[data-bead="bad"]', "role"), "button");
    await screenshot(page, "dashboard-failed.png");

    assert.equal(await page.isVisible("#turn"), false);
    await page.click('.bar[data-bead="bad"]');
    await page.waitForSelector('#turn[data-state="error"]', { timeout: 20_000 });
    assert.equal(await page.textContent("#turn-title"), "bad: the last turn");
    // No OpenCode server here: the panel says which address the dashboard's server asked.
    assert.match((await page.textContent("#turn-body")) ?? "", new RegExp(`^cannot reach the OpenCode server at http://127\\.0\\.0\\.1:${port} `));
    await screenshot(page, "dashboard-turn.png");
    await page.keyboard.press("Escape");
    assert.equal(await page.isVisible("#turn"), false);
    // The keyboard opens it too.
    await page.focus('.bar[data-bead="good"]');
    await page.keyboard.press("Enter");
    await page.waitForSelector('#turn[data-bead="good"][data-state]', { timeout: 20_000 });
    assert.deepEqual(errors.filter((e) => !/502/.test(e)), []);
  } finally {
    await page.close();
    await dashboard.close();
  }
});
