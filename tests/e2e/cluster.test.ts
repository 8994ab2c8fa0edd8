// A swarm over three OpenCode servers on loopback, as three machines of a team: each server
// has its own HOME and its own clone of one bare repository, and all share one log on
// PostgreSQL. The coordinator's plugin places workers on the server with room (three each at
// most), a worker's swarm_complete on any server reaches the coordinator's await at once, and
// a server killed mid-swarm is found lost and its workers finish on the other two.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { startCluster } from "./cluster.js";
import { workspace, type Fixture } from "./fixture.js";
import { startScriptedModel, type ScriptedModel } from "./scripted-model.js";
import { prompt, script, spawnCall, toolParts, until, type Step, type ToolPart } from "./scenario.js";
import { freshLog, postgresUrl, rowsOf } from "../js/pg.js";
import { cli, cliJson } from "../js/cli-run.js";

const LOG = freshLog("cluster");
const WORKERS = 9;
const PER_SERVER = 3;
/** The default worktree_pool: each server keeps this many ready checkouts of its clone. */
const POOL = 2;

let model: ScriptedModel;
let scratch: string;
let servers: Fixture[] = [];
let urls: string[] = [];
let bare: string;

const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8", env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1" } });

before(async () => {
  scratch = mkdtempSync(path.join(tmpdir(), "apiary-cluster-"));
  model = await startScriptedModel({ logFile: path.join(scratch, "model.jsonl") });
  const cluster = await startCluster({
    scratch,
    model,
    size: 3,
    shared: { postgres: postgresUrl(), log_name: LOG, wake_coordinator: false },
    coordinator: { max_running: WORKERS, retry_backoff_ms: 500 },
    maxWorkers: PER_SERVER,
  });
  servers = cluster.servers;
  urls = cluster.urls;
  bare = cluster.bare;
});

after(async () => {
  for (const fx of servers) await fx.stop();
  await model?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/** Figures for the record, beside the other end-to-end tests' (tests/artifacts/). */
function record(figures: Record<string, number>): void {
  const dir = path.join(workspace, "tests", "artifacts");
  mkdirSync(dir, { recursive: true });
  appendFileSync(path.join(dir, "e2e-metrics.jsonl"), JSON.stringify({ at: new Date().toISOString(), ...figures }) + "\n");
}

interface Row {
  seq: number;
  type: string;
  bead_id?: string;
  directory?: string;
  epic_id?: string;
  server?: string;
  session_id?: string;
  status?: string;
  url?: string;
  timestamp: number;
}
const events = async (): Promise<Row[]> => (await rowsOf(LOG)).map((r) => JSON.parse(r.line) as Row);

/** The coordinator (on the first server) spawns `beads` in one step, then awaits the epic;
 * with `edit`, each worker first writes `<bead>.txt` in its directory with the bash tool, and
 * the coordinator then merges every bead in one step. Resolves to the await's output and the
 * merges' outputs. */
async function runEpic(epic: string, beads: string[], workerMs: number, edit = false): Promise<{ awaited: string; merges: string[] }> {
  const a = servers[0]!;
  const coordinator = (await a.client.session.create({ body: { title: `coordinator ${epic}` } })).data!;
  const write = (bead: string): Step[] =>
    edit ? [{ tool_calls: [{ name: "bash", args: { command: `echo ${bead} > ${bead}.txt`, description: `write ${bead}.txt` } }] }] : [];
  await prompt(
    a,
    coordinator.id,
    script(`coordinator-${epic}`, [
      { tool_calls: beads.map((b) => spawnCall(epic, b, workerMs, write(b))) },
      { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: epic, timeout_ms: 240_000, poll_interval_ms: 60_000 } }] },
      ...(edit ? [{ tool_calls: beads.map((b) => ({ name: "swarm_worktree_merge", args: { bead_id: b } })) }] : []),
      { text: "all done" },
    ]),
  );
  const finished = (p: ToolPart) => p.state.status === "completed" || p.state.status === "error";
  const awaited = await until(`the await of ${epic}`, 300_000, async () =>
    (await toolParts(a, coordinator.id)).find((p) => p.tool === "swarm_await_workers" && finished(p)),
  );
  if (!edit) return { awaited: awaited.state.output!, merges: [] };
  const merges = await until(`the merges of ${epic}`, 120_000, async () => {
    const done = (await toolParts(a, coordinator.id)).filter((p) => p.tool === "swarm_worktree_merge" && finished(p));
    return done.length === beads.length ? done : undefined;
  });
  return { awaited: awaited.state.output!, merges: merges.map((p) => `${p.state.status}: ${p.state.output ?? JSON.stringify(p.state)}`) };
}

test("nine workers spread over three servers, never more than three on one, all complete into one log", async () => {
  const epic = "spread";
  const beads = Array.from({ length: WORKERS }, (_, i) => `s${i + 1}`);
  const t0 = Date.now();
  const { awaited: output, merges } = await runEpic(epic, beads, 2000, true);
  record({ cluster_9_workers_of_2s_on_3_servers_ms: Date.now() - t0 });
  assert.match(output, new RegExp(`epic ${epic}: ${WORKERS} workers: ${WORKERS} completed, `));
  const rows = await events();
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), "gap-free");
  const spawned = rows.filter((r) => r.type === "worker_spawned" && r.epic_id === epic);
  // Spawns that lose the race for a slot start a moment later, wherever a slot freed, so the
  // counts per server may differ; what must hold is that no server ever ran more than its limit.
  const serverOf = new Map(spawned.map((r) => [r.session_id, r.server]));
  const running = new Map<string, number>();
  const most = new Map<string, number>();
  for (const r of rows) {
    const server = serverOf.get(r.session_id);
    if (!server) continue;
    if (r.type === "worker_spawned") running.set(server, (running.get(server) ?? 0) + 1);
    if (r.type === "worker_completed" || r.type === "worker_failed") running.set(server, running.get(server)! - 1);
    most.set(server, Math.max(most.get(server) ?? 0, running.get(server)!));
  }
  for (const u of urls) assert.ok((most.get(u) ?? 0) <= PER_SERVER, `${u} ran ${most.get(u)} at once`);
  const perServer = urls.map((u) => spawned.filter((r) => r.server === u).length);
  assert.ok(perServer.every((n) => n >= 2), `every server took work: ${perServer.join("/")}`);
  assert.equal(spawned.length, WORKERS);
  // Each session lives on the server it was placed on, in a worktree of that server's clone:
  // one of its pool's, or one made for it.
  for (const r of spawned) {
    const fx = servers[urls.indexOf(r.server!)]!;
    const worktrees = path.join(fx.repo, ".apiary", "worktrees");
    const own = r.directory === path.join(worktrees, r.bead_id!);
    assert.ok(own || r.directory!.startsWith(path.join(worktrees, "pool-")), `${r.bead_id} in its server's clone: ${r.directory}`);
    const found = await fx.client.session.get({ path: { id: r.session_id! }, query: { directory: r.directory! } });
    assert.equal(found.data?.id, r.session_id, `${r.bead_id} on ${r.server}`);
  }
  // Each worker pushed its branch when it completed; the coordinator merged every one, from
  // whichever machine, into its own tree; merged worktrees and branches are gone everywhere.
  assert.equal(rows.filter((r) => r.type === "worktree_pushed" && beads.includes(r.bead_id!)).length, WORKERS);
  for (const [i, m] of merges.entries()) assert.match(m, /^completed: merged apiary\/s\d \(worker success\) into your branch at \w+: 1 file changed: s\d\.txt; its worktree and branch were removed$/, `merge ${i + 1}`);
  const coordinatorRepo = servers[0]!.repo;
  for (const b of beads) assert.equal(readFileSync(path.join(coordinatorRepo, `${b}.txt`), "utf8"), `${b}\n`, `${b}.txt merged`);
  assert.equal(git(coordinatorRepo, "status", "--porcelain"), "", "the coordinator's tree is clean");
  assert.equal(git(bare, "for-each-ref", "refs/heads/apiary", "refs/apiary"), "", "no worker branch or base is left on origin");
  // What is left on each server is its pool: detached ready checkouts, no more than its size.
  for (const fx of servers) {
    const listed = git(fx.repo, "worktree", "list", "--porcelain").split("\n\n").slice(1).filter(Boolean);
    const left = listed.filter((e) => !(e.includes("/.apiary/worktrees/pool-") && e.includes("\ndetached")));
    assert.deepEqual(left, [], `no worker's worktree left on ${fx.repo}`);
    assert.ok(listed.length <= POOL, `${listed.length} pool members on ${fx.repo}`);
  }
  const done = rows.filter((r) => r.type === "worker_completed" && r.epic_id === epic && r.status === "success");
  assert.deepEqual(done.map((r) => r.bead_id).sort(), [...beads].sort());
  for (const fx of servers) assert.deepEqual([...fx.offLoopback], [], "no connection off loopback");
  // Asked on each server, the plugin tells the same events in the same order.
  const told = await Promise.all(
    servers.map(async (fx, k) => {
      const session = (await fx.client.session.create({ body: { title: `reader ${k}` } })).data!;
      await prompt(fx, session.id, script(`reader-${k}`, [{ tool_calls: [{ name: "swarm_log", args: { epic_id: epic, limit: 200 } }] }, { text: "read" }]));
      const part = await until(`swarm_log on server ${k + 1}`, 60_000, async () =>
        (await toolParts(fx, session.id)).find((p) => p.tool === "swarm_log" && p.state.status === "completed"),
      );
      // Without the "12.3s ago" that depends on when each was asked.
      return part.state.output!.replace(/ \d+(\.\d+)?(ms|s|m\d+s|h\d+m) ago /g, " ");
    }),
  );
  // Events may still arrive between the three asks (the workers' last replies): compare up to
  // the last event all three had seen.
  const lines = told.map((t) => t.split("\n").filter((l) => l.startsWith("#")));
  const seqOf = (l: string) => Number(/^#(\d+)/.exec(l)![1]);
  const common = Math.min(...lines.map((ls) => seqOf(ls.at(-1)!)));
  const upTo = lines.map((ls) => ls.filter((l) => seqOf(l) <= common));
  assert.ok(upTo[0]!.length >= WORKERS * 2, `${upTo[0]!.length} events compared`);
  assert.deepEqual(upTo[1], upTo[0], "the second server tells the same story");
  assert.deepEqual(upTo[2], upTo[0], "the third server tells the same story");
  // The command line reads the cluster's log from the database and shows where each ran.
  const status = cliJson("status", "--postgres", postgresUrl(), "--log-name", LOG);
  const rowsOfEpic = status.epics.find((e: { epic_id: string }) => e.epic_id === epic).workers as { server: string }[];
  assert.deepEqual(urls.map((u) => rowsOfEpic.filter((w) => w.server === u).length), perServer);
  assert.match(cli("status", "--postgres", postgresUrl(), "--log-name", LOG).stdout, /BEAD +TRY +STATE +PROGRESS +DURATION +AGENT +SERVER +LAST WORD/);
});

test("workers on three servers that end without swarm_complete are pushed by their servers when merged", async () => {
  const epic = "silent";
  const beads = ["q1", "q2", "q3"];
  const a = servers[0]!;
  const coordinator = (await a.client.session.create({ body: { title: `coordinator ${epic}` } })).data!;
  // Each writes its file and ends its turn without reporting: nothing is pushed at the end.
  const silent = (b: string) => ({
    name: "swarm_spawn_async",
    args: {
      bead_id: b,
      epic_id: epic,
      title: `task ${b}`,
      files: [`${b}.txt`],
      description: script(`worker-${b}`, [
        { tool_calls: [{ name: "bash", args: { command: `echo ${b} > ${b}.txt`, description: `write ${b}.txt` } }] },
        { text: `${b} written, not reported` },
      ]),
    },
  });
  await prompt(
    a,
    coordinator.id,
    script(`coordinator-${epic}`, [
      { tool_calls: beads.map(silent) },
      { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: epic, timeout_ms: 120_000 } }] },
      // Forced: a worker that never reported did not succeed, and its merge is refused without.
      { tool_calls: beads.map((b) => ({ name: "swarm_worktree_merge", args: { bead_id: b, force: true } })) },
      { text: "merged" },
    ]),
  );
  const merges = await until(`the merges of ${epic}`, 180_000, async () => {
    const done = (await toolParts(a, coordinator.id)).filter((p) => p.tool === "swarm_worktree_merge" && p.state.status !== "pending" && p.state.status !== "running");
    return done.length === beads.length ? done : undefined;
  });
  const rows = await events();
  const spawned = rows.filter((r) => r.type === "worker_spawned" && r.epic_id === epic);
  assert.deepEqual(spawned.map((r) => r.server).sort(), [...urls].sort(), "one on each server");
  assert.equal(rows.filter((r) => r.type === "worktree_pushed" && beads.includes(r.bead_id!)).length, 0, "none pushed by itself");
  // Merged, and kept where they are: a worker that never reported may still be asked to go on.
  for (const m of merges) assert.match(m.state.output ?? JSON.stringify(m.state), /^merged apiary\/q\d \(worker needs_review, forced\) into your branch at \w+: 1 file changed: q\d\.txt$/);
  for (const b of beads) assert.equal(readFileSync(path.join(servers[0]!.repo, `${b}.txt`), "utf8"), `${b}\n`);
});

test("a server killed mid-swarm is found lost and its workers finish on the other two", async () => {
  const epic = "survive";
  const beads = Array.from({ length: WORKERS }, (_, i) => `k${i + 1}`);
  const victim = servers[2]!;
  const running = runEpic(epic, beads, 6000).then((r) => r.awaited);
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
  record({ cluster_server_lost_after_kill_ms: detection, cluster_survive_epic_ms: Date.now() - killedAt });
  assert.match(output, new RegExp(`epic ${epic}: ${WORKERS} workers: ${WORKERS} completed, `));
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), "no event lost or repeated");
  const done = rows.filter((r) => r.type === "worker_completed" && r.epic_id === epic && r.status === "success");
  assert.deepEqual(done.map((r) => r.bead_id).sort(), [...beads].sort(), "each bead completed once");
  // The victim's workers still running when it was found lost start again elsewhere.
  const onVictim = rows.filter((r) => r.type === "worker_spawned" && r.epic_id === epic && r.server === urls[2] && r.seq < lost[0]!.seq);
  const cutOff = onVictim.filter((w) => !rows.some((r) => r.type === "worker_completed" && r.session_id === w.session_id && r.seq < lost[0]!.seq));
  assert.ok(cutOff.length >= 1, "a worker was running on the victim when it died");
  const retried = rows.filter((r) => r.type === "worker_spawned" && r.epic_id === epic && r.seq > lost[0]!.seq);
  const story = rows
    .filter((r) => r.epic_id === epic || r.type === "server_lost")
    .map((r) => `${r.seq} ${r.type} ${r.bead_id ?? r.url ?? ""} ${r.server ?? ""}`)
    .join("\n");
  assert.deepEqual(retried.map((r) => r.bead_id).sort(), cutOff.map((r) => r.bead_id).sort(), `the lost server's running workers started again:\n${story}`);
  for (const r of retried) assert.notEqual(r.server, urls[2], `${r.bead_id} placed again on a live server`);
});

test("two coordinators on different servers append 1,000 events each at once: 2,000, gap-free", async () => {
  const PER = 1000;
  const STEP = 100;
  // Coordinators on the first and second servers, each sending PER messages to a worker of
  // the first test, STEP tool calls per model turn, both at once.
  const sessions = await Promise.all(
    [servers[0]!, servers[1]!].map(async (fx, k) => {
      const session = (await fx.client.session.create({ body: { title: `sender ${k}` } })).data!;
      const steps = Array.from({ length: PER / STEP }, (_, s) => ({
        tool_calls: Array.from({ length: STEP }, (_, i) => ({
          name: "swarm_send",
          args: { to: ["s1"], subject: `note ${k}-${s * STEP + i}`, body: "." },
        })),
      }));
      await prompt(fx, session.id, script(`sender-${k}`, [...steps, { text: "sent" }]));
      return { fx, id: session.id };
    }),
  );
  const t0 = Date.now();
  await until("2,000 messages", 300_000, async () => {
    const rows = await events();
    return rows.filter((r) => r.type === "message_sent").length >= 2 * PER ? true : undefined;
  });
  const rows = await events();
  assert.deepEqual(rows.map((r) => r.seq), rows.map((_, i) => i + 1), "no gap, no repeat");
  for (const { id } of sessions) {
    const mine = rows.filter((r) => r.type === "message_sent" && (r as unknown as { from_session?: string }).from_session === id);
    assert.equal(mine.length, PER, `from ${id}`);
  }
  record({ two_coordinators_2000_messages_ms: Date.now() - t0 });
});
