// The plugin with its log on PostgreSQL, on a real server: the coordinator's instance and each
// worker's (in its own worktree) write to the same rows, await is woken by the database's
// NOTIFY, and no file log is made.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { startFixture, workspace, type Fixture } from "./fixture.js";
import { prompt, script, spawnCall, toolParts, until } from "./scenario.js";
import { freshLog, postgresUrl, rowsOf } from "../js/pg.js";

const entry = pathToFileURL(path.join(workspace, "dist", "npm", "index.js")).href;
const LOG = freshLog("e2e");

let fx: Fixture;
before(async () => {
  fx = await startFixture({ config: { plugin: [[entry, { postgres: postgresUrl(), log_name: LOG, wake_coordinator: false }]] } });
});
after(async () => {
  await fx?.stop();
});

test("workers in their worktrees and their coordinator share one log on PostgreSQL", async () => {
  const EPIC = "pg-epic";
  const beads = ["p1", "p2", "p3"];
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator", [
      { tool_calls: beads.map((b) => spawnCall(EPIC, b, 1000)) },
      { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: EPIC, poll_interval_ms: 60_000 } }] },
      { text: "all done" },
    ]),
  );
  const awaited = await until("the await to return", 90_000, async () =>
    (await toolParts(fx, coordinator.id)).find((p) => p.tool === "swarm_await_workers" && p.state.status === "completed"),
  );
  assert.match(awaited.state.output!, new RegExp(`epic ${EPIC}: 3 workers: 3 completed, `));
  const rows = await rowsOf(LOG);
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), "gap-free sequence numbers");
  const events = rows.map((r) => JSON.parse(r.line) as { type: string; bead_id?: string; worktree_path?: string });
  const completed = events.filter((e) => e.type === "worker_completed").map((e) => e.bead_id);
  assert.deepEqual([...completed].sort(), beads);
  // Each worker ran in its worktree, so its swarm_complete was recorded by that worktree's own
  // plugin instance, into the same rows.
  for (const e of events.filter((e) => e.type === "worker_spawned")) assert.match(String(e.worktree_path), /\.apiary[\\/]worktrees[\\/]/);
  assert.equal(existsSync(path.join(fx.repo, ".git", "apiary", "events.jsonl")), false, "no file log");
  // The safety poll is 60 s: the await returned on the database's notifications.
  const lag = awaited.state.time!.end! - Math.max(...rows.map((r) => (JSON.parse(r.line) as { timestamp: number }).timestamp).filter(Boolean));
  assert.ok(lag < 30_000, `await returned ${lag} ms after the last event`);
  assert.deepEqual([...fx.offLoopback], [], "no connection off loopback");
});
