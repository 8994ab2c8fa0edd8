// The built package as OpenCode loads it: the plugin function, its tools and its event hook,
// over a fake SDK client and a real log file in a scratch git repository.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import type { PluginInput, ToolContext } from "@opencode-ai/plugin";
import * as pkg from "../../dist/npm/index.js";
import { runShell } from "../../dist/npm/worktree.js";
import { fakeClient, type FakeClient } from "./fake-client.js";
import { addWorktree, git, removeTempDirs, scratchRepo } from "./repo.js";

after(removeTempDirs);

type ToolOut = { title: string; output: string; metadata: Record<string, unknown> };

async function plugin(client: FakeClient, directory: string, options?: object) {
  const input = { client, directory, worktree: directory } as unknown as PluginInput;
  return pkg.ApiaryPlugin(input, options as never);
}

/** Options for tests about a worktree's exact place: no ready worktrees, so that each start
 * makes its own at `.apiary/worktrees/<bead>`. */
const NO_POOL = { worktree_pool: 0 };

function ctx(sessionID: string, directory: string): ToolContext {
  return {
    sessionID,
    messageID: "msg_1",
    agent: "build",
    directory,
    worktree: directory,
    abort: new AbortController().signal,
    metadata: () => {},
    ask: async () => {},
  };
}

async function run(hooks: Awaited<ReturnType<typeof plugin>>, name: string, args: object, c: ToolContext) {
  const t = hooks.tool?.[name];
  assert.ok(t, `tool ${name} is registered`);
  return (await t.execute(args as never, c)) as ToolOut;
}

type Logged = { type: string; bead_id?: string; session_id?: string; error?: string; config_links?: string[] };

function logged(repo: string): Logged[] {
  const file = path.join(repo, ".git", "apiary", "events.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Logged);
}

/** Waits until `found` gives something, for 10 s at most. */
async function until<T>(what: string, found: () => T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = found();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`no ${what} after 10 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A spawn as a coordinator makes it: the tool's reply, then the start the plugin's duties
 * carry out behind it (its worker recorded and prompted). */
async function spawned(hooks: Awaited<ReturnType<typeof plugin>>, client: FakeClient, repo: string, args: object, c: ToolContext) {
  const out = await run(hooks, "swarm_spawn_async", args, c);
  const bead = (args as { bead_id: string }).bead_id;
  const w = await until(`worker_spawned of ${bead}`, () => logged(repo).find((e) => e.type === "worker_spawned" && e.bead_id === bead));
  await until(`the prompt of ${bead}`, () => client.prompts.find((p) => p.id === w.session_id));
  return { out, session: w.session_id! };
}

/** Each bead owns a file of its own, so that no spawn waits for another's files. */
const spawnArgs = (bead: string) => ({ bead_id: bead, epic_id: "ep", title: `task ${bead}`, files: [`src/${bead}.ts`] });

test("the package exports only the plugin function", () => {
  assert.deepEqual(Object.keys(pkg), ["ApiaryPlugin"]);
  assert.equal(typeof pkg.ApiaryPlugin, "function");
});

test("the plugin registers the swarm tools with the seed design's argument names", async () => {
  const hooks = await plugin(fakeClient(), scratchRepo());
  assert.deepEqual(Object.keys(hooks.tool ?? {}).sort(), [
    "swarm_ack",
    "swarm_await_workers",
    "swarm_cancel",
    "swarm_complete",
    "swarm_inbox",
    "swarm_log",
    "swarm_poll_workers",
    "swarm_progress",
    "swarm_review",
    "swarm_send",
    "swarm_spawn_async",
    "swarm_status",
    "swarm_worktree_cleanup",
    "swarm_worktree_merge",
  ]);
  assert.deepEqual(Object.keys(hooks.tool!.swarm_spawn_async!.args).sort(), [
    "agent",
    "bead_id",
    "dependencies",
    "description",
    "epic_id",
    "files",
    "model",
    "priority",
    "shared_context",
    "title",
    "verify",
  ]);
  assert.deepEqual(Object.keys(hooks.tool!.swarm_await_workers!.args).sort(), [
    "epic_id",
    "include_messages",
    "poll_interval_ms",
    "timeout_ms",
  ]);
});

test("spawn creates a child session, prompts it and writes the log in the git directory", async () => {
  const repo = scratchRepo();
  const client = fakeClient();
  const hooks = await plugin(client, repo, NO_POOL);
  const out = await run(hooks, "swarm_spawn_async", spawnArgs("bd-1"), ctx("ses_coord", repo));
  const tree = path.join(repo, ".apiary", "worktrees", "bd-1");
  // The reply comes first: the worktree and the session are made behind it.
  assert.equal(out.output, `starting bd-1 (epic ep) in worktree ${tree} (branch apiary/bd-1); running in the background`);
  assert.equal(out.metadata.status, "starting");
  assert.equal(out.metadata.session_id, "");
  assert.equal(client.created.length, 0);
  const w = await until("worker_spawned", () => logged(repo).find((e) => e.type === "worker_spawned"));
  assert.equal(w.session_id, "ses_fake1");
  await until("the prompt", () => client.prompts[0]);
  assert.deepEqual(client.created[0], { parentID: "ses_coord", title: "bd-1: task bd-1", directory: tree });
  assert.equal(client.prompts[0]!.directory, tree);
  assert.match(client.prompts[0]!.text, /# Apiary worker: bd-1 \(epic ep\)/);
  const log = readFileSync(path.join(repo, ".git", "apiary", "events.jsonl"), "utf8");
  assert.match(log, /^\{"seq":1,"v":2,"timestamp":\d+,"type":"worker_queued"/);
});

test("a plugin instance in a worktree shares the main repository's log", async () => {
  const repo = scratchRepo();
  const tree = addWorktree(repo, "bd-1");
  const main = await plugin(fakeClient(), repo);
  const inTree = await plugin(fakeClient(), tree);
  await run(main, "swarm_spawn_async", spawnArgs("bd-1"), ctx("ses_coord", repo));
  const poll = await run(inTree, "swarm_poll_workers", { epic_id: "ep" }, ctx("ses_x", tree));
  assert.match(poll.output, /^epic ep: 1 worker: 0 completed, 0 in progress, 0 failed, 1 pending/);
});

test("an invalid bead id is refused with the reason and nothing is written", async () => {
  const repo = scratchRepo();
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await assert.rejects(
    run(hooks, "swarm_spawn_async", spawnArgs("../etc"), ctx("ses_coord", repo)),
    /invalid argument `bead_id`: "\.\.\/etc" contains `\.\.`/,
  );
  assert.equal(client.created.length, 0);
  assert.throws(() => readFileSync(path.join(repo, ".git", "apiary", "events.jsonl")), /ENOENT/);
});

test("an SDK error at a start is recorded once with the server's words", async () => {
  const repo = scratchRepo();
  const client = fakeClient();
  client.failNext = { name: "NotFoundError", data: { message: "Session not found" } };
  // No ready worktrees: their instances' first calls would take the failure instead.
  const hooks = await plugin(client, repo, NO_POOL);
  await run(hooks, "swarm_spawn_async", spawnArgs("bd-1"), ctx("ses_coord", repo));
  const failed = await until("worker_failed", () => logged(repo).find((e) => e.type === "worker_failed"));
  assert.match(failed.error!, /^could not start: session\.create failed: HTTP 404 NotFoundError: Session not found/);
  assert.equal(logged(repo).filter((e) => e.type === "worker_failed").length, 1);
});

test("the event hook records a worker's busy and idle in order", async () => {
  const repo = scratchRepo();
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  const fire = (type: string, properties: object) => hooks.event!({ event: { type, properties } as never });
  await fire("session.status", { sessionID: "ses_fake1", status: { type: "busy" } });
  await fire("message.part.updated", { part: { type: "text" } });
  await fire("session.idle", { sessionID: "ses_fake1" });
  const poll = await run(hooks, "swarm_poll_workers", { epic_id: "ep" }, ctx("ses_coord", repo));
  assert.match(poll.output, /bd-1 needs_review/);
  const types = readFileSync(path.join(repo, ".git", "apiary", "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).type);
  // The coordinator's poll showed it the finished worker: it needs no message about it.
  assert.deepEqual(types, ["worker_queued", "worker_spawned", "worker_started", "worker_idle", "coordinator_notified"]);
});

test("a worker completes through swarm_complete from its own session", async () => {
  const repo = scratchRepo();
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  const done = await run(
    hooks,
    "swarm_complete",
    { bead_id: "bd-1", summary: "wrote a.ts", files_touched: ["src/a.ts"] },
    ctx("ses_fake1", repo),
  );
  assert.match(done.output, /^recorded: bd-1 success/);
  const poll = await run(hooks, "swarm_poll_workers", { epic_id: "ep" }, ctx("ses_coord", repo));
  assert.match(poll.output, /completed:\n  bd-1 success \S+: wrote a\.ts/);
});

test("concurrent spawns each get their own worktree although git adds one at a time", async () => {
  const repo = scratchRepo();
  const client = fakeClient();
  const hooks = await plugin(client, repo, NO_POOL);
  const beads = ["bd-1", "bd-2", "bd-3", "bd-4", "bd-5", "bd-6"];
  await Promise.all(beads.map((b) => spawned(hooks, client, repo, spawnArgs(b), ctx("ses_coord", repo))));
  const listed = git(repo, "worktree", "list", "--porcelain");
  for (const b of beads) assert.ok(listed.includes(path.join(repo, ".apiary", "worktrees", b)), `${b} in\n${listed}`);
  assert.equal(git(repo, "status", "--porcelain"), "", "the worktrees' folder is ignored");
});

test("a worktree reaches the repository's plugins through a link", async () => {
  const repo = scratchRepo();
  mkdirSync(path.join(repo, ".opencode", "plugin"), { recursive: true });
  writeFileSync(path.join(repo, ".opencode", "plugin", "apiary.js"), "export {};\n");
  const client = fakeClient();
  const hooks = await plugin(client, repo, NO_POOL);
  const { out } = await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  const tree = path.join(repo, ".apiary", "worktrees", "bd-1");
  assert.ok(existsSync(path.join(tree, ".opencode", "plugin", "apiary.js")), "the plugin is visible in the worktree");
  assert.equal(out.metadata.worktree, tree);
  assert.equal(out.metadata.branch, "apiary/bd-1");
  // The link shows as untracked in the worker's checkout; merges never commit it (core tests).
  assert.equal(git(tree, "status", "--porcelain"), "?? .opencode\n");
  assert.equal(git(repo, "status", "--porcelain"), "?? .opencode/\n", "the main tree shows only its own files");
});

test("a link an earlier attempt made is reported again, so a retried worker's merge leaves it out", async () => {
  const repo = scratchRepo();
  mkdirSync(path.join(repo, ".opencode", "plugin"), { recursive: true });
  // What the earlier attempt left: the worktree, and its link to the repository's plugins.
  const tree = path.join(repo, ".apiary", "worktrees", "bd-1");
  git(repo, "worktree", "add", "-q", "-b", "apiary/bd-1", tree);
  symlinkSync(path.join(repo, ".opencode"), path.join(tree, ".opencode"));
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  const started = logged(repo).find((e) => e.type === "worker_spawned");
  assert.deepEqual(started?.config_links, [".opencode"]);
});

test("the host's shell resolves to what a script printed, whatever its exit", async () => {
  const dir = scratchRepo();
  assert.equal(await runShell(dir, "echo out; echo err >&2; exit 3"), "out\nerr\n");
  await assert.rejects(runShell(path.join(dir, "missing"), "true"), /sh could not run in/);
});

test("an unknown agent is refused with the agents the server has, and nothing is started", async () => {
  const repo = scratchRepo();
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await assert.rejects(
    run(hooks, "swarm_spawn_async", { ...spawnArgs("bd-1"), agent: "reviewer" }, ctx("ses_coord", repo)),
    /invalid argument `agent`: no agent "reviewer" on this server; known agents: build, plan, general/,
  );
  assert.equal(client.created.length, 0);
  const { out: ok } = await spawned(hooks, client, repo, { ...spawnArgs("bd-2"), agent: "plan", model: "scripted/w" }, ctx("ses_coord", repo));
  assert.match(ok.output, /^starting bd-2/);
  assert.equal(client.prompts[0]!.agent, "plan");
  assert.deepEqual(client.prompts[0]!.model, { providerID: "scripted", modelID: "w" });
});

test("an idle coordinator is told once, by a message, that its worker finished", async () => {
  const repo = scratchRepo();
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  const fire = (type: string, properties: object) => hooks.event!({ event: { type, properties } as never });
  await fire("session.idle", { sessionID: "ses_coord" });
  await run(hooks, "swarm_complete", { bead_id: "bd-1", summary: "ok", files_touched: [] }, ctx("ses_fake1", repo));
  await fire("session.idle", { sessionID: "ses_fake1" });
  const told = () => client.prompts.filter((p) => p.id === "ses_coord");
  // Held a moment for other workers finishing close by, then sent.
  await until("the message", () => told()[0]);
  assert.equal(told().length, 1);
  assert.match(told()[0]!.text, /^\[apiary\] workers finished:\nepic ep: bd-1 success\. Details: swarm_poll_workers \{"epic_id":"ep"\}$/);
  await fire("session.idle", { sessionID: "ses_coord" });
  assert.equal(told().length, 1, "exactly once");
});

test("options come from .opencode/apiary.json, and a bad file is a clear error", async () => {
  const repo = scratchRepo();
  mkdirSync(path.join(repo, ".opencode"), { recursive: true });
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify({ worktrees: false }));
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  const { out } = await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  assert.equal(out.metadata.worktree, undefined, "worktrees off");
  assert.equal(client.created[0]!.directory, undefined);
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify({ worktree: false }));
  await assert.rejects(plugin(fakeClient(), repo), /unknown field `worktree`/);
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), "{ nope");
  await assert.rejects(plugin(fakeClient(), repo), /apiary\.json: /);
});

test("past max_running a spawn is queued, swarm_status shows why, and swarm_cancel aborts and empties", async () => {
  const repo = scratchRepo();
  mkdirSync(path.join(repo, ".opencode"), { recursive: true });
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify({ worktrees: false, max_running: 1 }));
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  const queued = await run(hooks, "swarm_spawn_async", { ...spawnArgs("bd-2"), priority: "high" }, ctx("ses_coord", repo));
  assert.equal(queued.output, "queued bd-2 (epic ep) at #1: limit: 1/1 running; it starts by itself");
  assert.equal(queued.metadata.status, "queued");
  const status = await run(hooks, "swarm_status", {}, ctx("ses_coord", repo));
  assert.match(status.output, /^running 1\/1 · queued 1 \(max 64\) · blocked 0\nmachine: load \d+% of CPUs, \d+ MB free\nqueue:\n  #1 bd-2 \(epic ep\) high, waited \S+: limit: 1\/1 running$/);
  const cancelled = await run(hooks, "swarm_cancel", { epic_id: "ep" }, ctx("ses_coord", repo));
  assert.equal(cancelled.output, "cancelled 2; stopped: bd-1; taken off the queue: bd-2");
  assert.deepEqual(client.aborted, [{ id: "ses_fake1", directory: repo }]);
  assert.equal(client.created.length, 1, "the queued bead never got a session");
});

test("message events reach the core as activity of their session only", async () => {
  const repo = scratchRepo();
  mkdirSync(path.join(repo, ".opencode"), { recursive: true });
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify({ worktrees: false, stall_after_ms: 4000 }));
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  const fire = (type: string, properties: object) => hooks.event!({ event: { type, properties } as never });
  const text = "x".repeat(100_000);
  await fire("message.part.updated", { part: { sessionID: "ses_fake1", type: "text", text } });
  await fire("message.part.updated", { part: { sessionID: "ses_fake1", type: "text", text } });
  await fire("message.updated", { info: { sessionID: "ses_other" } });
  const types = readFileSync(path.join(repo, ".git", "apiary", "events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l).type);
  // One activity record per interval (a quarter of the stall time), none for other sessions.
  assert.deepEqual(types, ["worker_queued", "worker_spawned", "worker_active"]);
});

test("tool.execute.before stops a worker's write outside its files and lets its own through", async () => {
  const repo = scratchRepo();
  mkdirSync(path.join(repo, ".opencode"), { recursive: true });
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify({ worktrees: false }));
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  const before = hooks["tool.execute.before"]!;
  const call = (tool: string, args: object, sessionID = "ses_fake1") =>
    before({ tool, sessionID, callID: "call_1" }, { args });
  await call("write", { filePath: path.join(repo, "src", "bd-1.ts"), content: "ok" });
  await assert.rejects(
    call("edit", { filePath: path.join(repo, "package.json"), oldString: "a", newString: "b" }),
    /^Error: refused: bd-1 owns only src\/bd-1\.ts; package\.json is not one of them\. Nothing was changed\./,
  );
  await call("read", { filePath: path.join(repo, "package.json") });
  await call("write", { filePath: path.join(repo, "package.json") }, "ses_coord");
});

test("the coordinator's instance shows one toast when a worker completes", async () => {
  const repo = scratchRepo();
  mkdirSync(path.join(repo, ".opencode"), { recursive: true });
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify({ worktrees: false }));
  const client = fakeClient();
  const hooks = await plugin(client, repo);
  await spawned(hooks, client, repo, spawnArgs("bd-1"), ctx("ses_coord", repo));
  await run(hooks, "swarm_complete", { bead_id: "bd-1", summary: "wrote it", files_touched: [] }, ctx("ses_fake1", repo));
  const deadline = Date.now() + 10_000;
  while (client.toasts.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(client.toasts, [{ title: "apiary · bd-1 completed", message: "wrote it (epic ep)", variant: "success" }]);
});
