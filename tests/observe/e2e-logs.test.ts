// The command line and the dashboard on every log the end-to-end layer kept: real runs of the
// real server, with retries, cancels, stalls, restarts and messages. Run after that layer.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import type { Browser } from "playwright-core";
import { e2eLogs } from "../e2e/fixture.js";
import { cli, cliJson, typesOf } from "../js/cli-run.js";
import { money, tokens } from "../../dist/npm/page/format.js";
import { bars, launch, openDashboard, statsRow } from "./browser.js";

const logs = existsSync(e2eLogs) ? readdirSync(e2eLogs).filter((f) => f.endsWith(".jsonl")).sort() : [];

let browser: Browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

test("the end-to-end layer kept its logs", () => {
  assert.ok(logs.length >= 10, `only ${logs.length} log(s) in ${e2eLogs}: run the e2e layer first`);
});

for (const name of logs) {
  test(`${name}: status, stats, log and the dashboard agree with its lines`, async () => {
    const file = path.join(e2eLogs, name);
    const text = readFileSync(file, "utf8");
    const types = typesOf(text);
    const spawned = types.filter((t) => t === "worker_spawned").length;

    const status = cliJson("status", "--log", file);
    assert.equal(status.health.damage, null);
    assert.equal(status.health.events, types.length);
    const rows = status.epics.flatMap((e: { workers: unknown[] }) => e.workers);
    assert.equal(rows.length, spawned);
    const stats = cliJson("stats", "--log", file);
    assert.equal(stats.overall.attempts, spawned);
    // A worker reports once (a second report is refused), so each success line is one attempt.
    const events = text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l) as Record<string, unknown> & { type: string; status?: string });
    const successes = events.filter((e) => e.type === "worker_completed" && e.status === "success").length;
    assert.equal(stats.overall.succeeded, successes);
    // What the workers spent: each reply is counted on one line, and the stats sum the lines.
    const usage = events.filter((e) => e.type === "worker_usage");
    const spentTokens = usage.reduce(
      (n, e) => n + ["input", "output", "reasoning", "cache_read", "cache_write"].reduce((m, k) => m + Number(e[k]), 0),
      0,
    );
    const spentMicros = usage.reduce((n, e) => n + Number(e.cost_micros), 0);
    assert.equal(stats.overall.tokens, spentTokens);
    assert.equal(stats.overall.cost_micros, spentMicros);
    assert.equal(cliJson("log", "--log", file).total, types.length);
    for (const command of ["status", "stats", "log"]) {
      const r = cli(command, "--log", file);
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
    }

    const { dashboard, page, errors } = await openDashboard(browser, file, types.length);
    try {
      assert.equal((await bars(page)).length, spawned);
      const all = await statsRow(page, "all");
      assert.deepEqual(all.slice(-2), [tokens(spentTokens), money(spentMicros)]);
      assert.deepEqual(errors, []);
    } finally {
      await page.close();
      await dashboard.close();
    }
  });
}
