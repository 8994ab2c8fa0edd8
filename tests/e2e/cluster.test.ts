// A swarm over three OpenCode servers on loopback, as three machines of a team: each server
// has its own HOME and its own clone of one bare repository, and all share one log on
// PostgreSQL. The coordinator's plugin places workers on the server with room (three each at
// most), a worker's swarm_complete on any server reaches the coordinator's await at once, and
// a server killed mid-swarm is found lost and its workers finish on the other two.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { freePort, startFixture, workspace, type Fixture } from "./fixture.js";
import { startScriptedModel, type ScriptedModel } from "./scripted-model.js";
import { prompt, script, spawnCall, toolParts, until } from "./scenario.js";
import { freshLog, postgresUrl, rowsOf } from "../js/pg.js";

const entry = pathToFileURL(path.join(workspace, "dist", "npm", "index.js")).href;
const LOG = freshLog("cluster");
const WORKERS = 9;
const PER_SERVER = 3;

let model: ScriptedModel;
let scratch: string;
let servers: Fixture[] = [];
let urls: string[] = [];

/** A bare repository with one commit, as a team's shared remote. */
function bareRepository(dir: string): string {
  const bare = path.join(dir, "origin.git");
  const seed = path.join(dir, "seed");
  const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, stdio: "ignore", env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1" } });
  git(dir, "init", "-q", "--bare", "-b", "main", bare);
  git(dir, "init", "-q", "-b", "main", seed);
  writeFileSync(path.join(seed, "README.md"), "# team repository\n");
  writeFileSync(path.join(seed, ".gitignore"), ".opencode/\n");
  git(seed, "add", ".");
  git(seed, "-c", "user.email=e2e@apiary.local", "-c", "user.name=e2e", "commit", "-q", "-m", "init");
  git(seed, "push", "-q", bare, "main");
  return bare;
}

before(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), "apiary-cluster-"));
  const bare = bareRepository(scratch);
  model = await startScriptedModel({ logFile: path.join(scratch, "model.jsonl") });
  const ports = [await freePort(), await freePort(), await freePort()];
  urls = ports.map((p) => `http://127.0.0.1:${p}`);
  const shared = { postgres: postgresUrl(), log_name: LOG, wake_coordinator: false };
  // The two worker machines first: the coordinator's options name their clones.
  const b = await startFixture({ model, cloneFrom: bare, port: ports[1], config: { plugin: [[entry, shared]] } });
  const c = await startFixture({ model, cloneFrom: bare, port: ports[2], config: { plugin: [[entry, shared]] } });
  const coordinatorOptions = {
    ...shared,
    max_running: WORKERS,
    retry_backoff_ms: 500,
    servers: [
      { url: urls[0], max_workers: PER_SERVER },
      { url: urls[1], max_workers: PER_SERVER, directory: b.repo },
      { url: urls[2], max_workers: PER_SERVER, directory: c.repo },
    ],
  };
  const a = await startFixture({ model, cloneFrom: bare, port: ports[0], config: { plugin: [[entry, coordinatorOptions]] } });
  servers = [a, b, c];
});

after(async () => {
  for (const fx of servers) await fx.stop();
  await model?.close();
  rmSync(scratch, { recursive: true, force: true });
});

interface Row {
  seq: number;
  type: string;
  bead_id?: string;
  epic_id?: string;
  server?: string;
  session_id?: string;
  status?: string;
  url?: string;
  timestamp: number;
}
const events = async (): Promise<Row[]> => (await rowsOf(LOG)).map((r) => JSON.parse(r.line) as Row);

/** The coordinator (on the first server) spawns `beads` in one step, then awaits the epic. */
async function runEpic(epic: string, beads: string[], workerMs: number): Promise<string> {
  const a = servers[0]!;
  const coordinator = (await a.client.session.create({ body: { title: `coordinator ${epic}` } })).data!;
  await prompt(
    a,
    coordinator.id,
    script(`coordinator-${epic}`, [
      { tool_calls: beads.map((b) => spawnCall(epic, b, workerMs)) },
      { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: epic, timeout_ms: 240_000, poll_interval_ms: 60_000 } }] },
      { text: "all done" },
    ]),
  );
  const awaited = await until(`the await of ${epic}`, 300_000, async () =>
    (await toolParts(a, coordinator.id)).find((p) => p.tool === "swarm_await_workers" && p.state.status === "completed"),
  );
  return awaited.state.output!;
}

test("nine workers spread over three servers, three each, all complete into one log", async () => {
  const epic = "spread";
  const beads = Array.from({ length: WORKERS }, (_, i) => `s${i + 1}`);
  const output = await runEpic(epic, beads, 2000);
  assert.match(output, new RegExp(`epic ${epic}: ${WORKERS} workers: ${WORKERS} completed, `));
  const rows = await events();
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), "gap-free");
  const spawned = rows.filter((r) => r.type === "worker_spawned" && r.epic_id === epic);
  const perServer = urls.map((u) => spawned.filter((r) => r.server === u).length);
  assert.deepEqual(perServer, [PER_SERVER, PER_SERVER, PER_SERVER], `placement ${perServer.join("/")}`);
  // Each session lives on the server it was placed on.
  for (const r of spawned) {
    const fx = servers[urls.indexOf(r.server!)]!;
    const found = await fx.client.session.get({ path: { id: r.session_id! }, query: { directory: fx.repo } });
    assert.equal(found.data?.id, r.session_id, `${r.bead_id} on ${r.server}`);
  }
  const done = rows.filter((r) => r.type === "worker_completed" && r.epic_id === epic && r.status === "success");
  assert.deepEqual(done.map((r) => r.bead_id).sort(), [...beads].sort());
  for (const fx of servers) assert.deepEqual([...fx.offLoopback], [], "no connection off loopback");
});

test("a server killed mid-swarm is found lost and its workers finish on the other two", async () => {
  const epic = "survive";
  const beads = Array.from({ length: WORKERS }, (_, i) => `k${i + 1}`);
  const victim = servers[2]!;
  const running = runEpic(epic, beads, 6000);
  // Once its three workers run, the third machine dies.
  await until("three workers on the third server", 120_000, async () => {
    const rows = await events();
    const mine = new Set(rows.filter((r) => r.type === "worker_spawned" && r.epic_id === epic && r.server === urls[2]).map((r) => r.session_id));
    return rows.filter((r) => r.type === "worker_started" && mine.has(r.session_id)).length >= PER_SERVER ? true : undefined;
  });
  const killedAt = Date.now();
  await victim.kill();
  const output = await running;
  const rows = await events();
  const lost = rows.filter((r) => r.type === "server_lost");
  assert.equal(lost.length, 1, "recorded once");
  assert.equal(lost[0]!.url, urls[2]);
  const detection = lost[0]!.timestamp - killedAt;
  assert.ok(detection < 30_000, `found lost ${detection} ms after the kill`);
  assert.match(output, new RegExp(`epic ${epic}: ${WORKERS} workers: ${WORKERS} completed, `));
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), "no event lost or repeated");
  const done = rows.filter((r) => r.type === "worker_completed" && r.epic_id === epic && r.status === "success");
  assert.deepEqual(done.map((r) => r.bead_id).sort(), [...beads].sort(), "each bead completed once");
  const retried = rows.filter((r) => r.type === "worker_spawned" && r.epic_id === epic && r.seq > lost[0]!.seq);
  assert.equal(retried.length, PER_SERVER, "the lost server's three workers started again");
  for (const r of retried) assert.notEqual(r.server, urls[2], `${r.bead_id} placed again on a live server`);
});
