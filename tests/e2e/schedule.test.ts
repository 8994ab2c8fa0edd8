// The scheduler on a real server: a coordinator spawns more workers than `max_running` allows,
// or a chain of dependent workers, in one step; the queue holds them and starts each by itself
// when a slot frees or its dependency completes, with no further call from the coordinator.
// Worktrees are off: the point is the queue, not the few seconds an instance per worktree costs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, spawnCall, toolParts, until, waitIdle, type LoggedEvent } from "./scenario.js";

const MAX_RUNNING = 2;

let fx: Fixture;
before(async () => {
  // No wake-up turns: every coordinator request the model sees is one its script asked for.
  fx = await startFixture({
    pluginDir: dropInPlugin,
    apiaryOptions: { max_running: MAX_RUNNING, worktrees: false, wake_coordinator: false },
  });
});
after(async () => {
  await fx?.stop();
});

/** A worker's time at the model: from its first request's start to its last request's end. */
interface Span {
  bead: string;
  start: number;
  end: number;
}

function workerSpans(beads: string[]): Span[] {
  return beads.map((bead) => {
    const rs = fx.model.requests.filter((r) => r.script_id === `worker-${bead}`);
    assert.ok(rs.length > 0 && rs.every((r) => r.ended_at !== null), `${bead}'s model requests all ended`);
    return { bead, start: Math.min(...rs.map((r) => r.started_at)), end: Math.max(...rs.map((r) => r.ended_at!)) };
  });
}

/** The most spans in progress at one moment (a span ending as another starts does not overlap). */
function maxOverlap(spans: Span[]): number {
  const edges = spans.flatMap((s) => [
    { at: s.start, d: 1 },
    { at: s.end, d: -1 },
  ]);
  edges.sort((a, b) => a.at - b.at || a.d - b.d);
  let now = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (now += e.d));
  return most;
}

const completed = (epic: string): LoggedEvent[] =>
  loggedEvents(fx).filter((e) => e.type === "worker_completed" && e.epic_id === epic);

/** A worker of 1.5 s whose reply after swarm_complete takes 800 ms more: the slot must stay
 * taken until that last model call ends, not only until the completion is recorded. */
function slowToFinish(bead: string) {
  const call = spawnCall("limit-epic", bead, 1500);
  const complete = { name: "swarm_complete", args: { bead_id: bead, summary: `did ${bead}`, files_touched: [] } };
  const steps = [{ delay_ms: 1500, tool_calls: [complete] }, { delay_ms: 800, text: `${bead} finished` }];
  return { ...call, args: { ...call.args, description: `Scripted task.\n${script(`worker-${bead}`, steps)}` } };
}

test("six workers spawned in one step under max_running 2: never more than two at the model, all six complete", async () => {
  const EPIC = "limit-epic";
  const beads = ["l1", "l2", "l3", "l4", "l5", "l6"];
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator-limit", [
      { tool_calls: beads.map(slowToFinish) },
      { tool_calls: [{ name: "swarm_status", args: { epic_id: EPIC } }] },
      { text: "queued the rest" },
    ]),
  );
  await waitIdle(fx, coordinator.id);

  // Two start at once (prepared behind the replies); the other four are queued, each told
  // its place and why.
  const spawns = (await toolParts(fx, coordinator.id)).filter((p) => p.tool === "swarm_spawn_async");
  assert.equal(spawns.length, 6);
  const outputs = spawns.map((s) => s.state.output ?? "");
  const started = outputs.filter((o) => /^starting l\d \(epic limit-epic\); running in the background$/.test(o));
  const queued = outputs.filter((o) => o.startsWith("queued "));
  assert.equal(started.length, MAX_RUNNING, outputs.join("\n"));
  assert.equal(queued.length, 4, outputs.join("\n"));
  for (const o of queued) {
    assert.match(o, /^queued l\d \(epic limit-epic\) at #[1-4]: limit: 2\/2 running; it starts by itself$/);
  }
  assert.deepEqual(queued.map((o) => o.match(/#(\d)/)![1]).sort(), ["1", "2", "3", "4"], "each queued bead has its own place");
  const status = (await toolParts(fx, coordinator.id)).find((p) => p.tool === "swarm_status")!.state.output!;
  assert.match(status, /^running 2\/2( \(\d starting\))? · queued 4 \(max 64\) · blocked 0\n/, status);
  assert.match(status, /\nqueue:\n  #1 l\d \(epic limit-epic\) normal, waited \S+: limit: 2\/2 running\n/, status);

  await until("six worker_completed events", 90_000, async () => (completed(EPIC).length === 6 ? true : undefined));
  // Each worker's last reply, after swarm_complete, ends its turn: the slot frees then.
  await until("every worker's turn over (worker_idle after its completion)", 30_000, async () =>
    loggedEvents(fx).filter((e) => e.type === "worker_idle" && beads.includes(String(e.bead_id)))
      .length === 6
      ? true
      : undefined,
  );
  const events = loggedEvents(fx).filter((e) => e.epic_id === EPIC);
  // Every spawn enters the queue.
  assert.equal(events.filter((e) => e.type === "worker_queued").length, 6);
  assert.deepEqual(
    events.filter((e) => e.type === "worker_spawned").map((e) => String(e.bead_id)).sort(),
    beads,
    "each bead got one session",
  );
  assert.deepEqual(completed(EPIC).map((e) => String(e.bead_id)).sort(), beads);

  // The model's own log: at no moment were more than two workers' turns in progress, the last
  // reply after swarm_complete included (a slot frees when the worker's session goes idle).
  const spans = workerSpans(beads);
  const most = maxOverlap(spans);
  const t0 = Math.min(...spans.map((s) => s.start));
  const timeline = spans.map((s) => `${s.bead} ${s.start - t0}..${s.end - t0}`).join(", ");
  console.log(`worker turns (ms from the first): ${timeline}`);
  assert.ok(most <= MAX_RUNNING, `at most ${MAX_RUNNING} worker turns at once, saw ${most}: ${timeline}`);
  assert.equal(most, MAX_RUNNING, `the limit was used, not just respected: ${timeline}`);
  // No call from the coordinator started them: its only requests are its two steps and the end.
  assert.equal(fx.model.requests.filter((r) => r.script_id === "coordinator-limit").length, 3);
});

test("a chain A -> B -> C spawned in one step runs in order, each started by its dependency's completion", async () => {
  const EPIC = "chain-epic";
  const chain = ["ca", "cb", "cc"];
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  const spawns = chain.map((bead, i) => {
    const call = spawnCall(EPIC, bead, 1000);
    return i === 0 ? call : { ...call, args: { ...call.args, dependencies: [chain[i - 1]!] } };
  });
  await prompt(fx, coordinator.id, script("coordinator-chain", [{ tool_calls: spawns }, { text: "chain spawned" }]));
  await waitIdle(fx, coordinator.id);

  const outputs = (await toolParts(fx, coordinator.id)).filter((p) => p.tool === "swarm_spawn_async").map((p) => p.state.output ?? "");
  assert.equal(outputs.length, 3);
  assert.ok(outputs.some((o) => o.startsWith("starting ca ")), outputs.join("\n"));
  // The dependency may not be recorded yet when the spawns run together: then it waits for the
  // coordinator's spawn of it, which is already on its way.
  assert.ok(outputs.some((o) => /^queued cb \(epic chain-epic\) at #\d: (waits for ca|ca was never spawned); it starts by itself$/.test(o)), outputs.join("\n"));
  assert.ok(outputs.some((o) => /^queued cc \(epic chain-epic\) at #\d: (waits for cb|cb was never spawned); it starts by itself$/.test(o)), outputs.join("\n"));

  await until("the chain's three completions", 90_000, async () => (completed(EPIC).length === 3 ? true : undefined));
  const done = new Map(completed(EPIC).map((e) => [String(e.bead_id), e.timestamp]));
  const firstRequest = (bead: string) =>
    Math.min(...fx.model.requests.filter((r) => r.script_id === `worker-${bead}`).map((r) => r.started_at));
  assert.ok(firstRequest("cb") > done.get("ca")!, `cb asked the model (${firstRequest("cb")}) after ca completed (${done.get("ca")})`);
  assert.ok(firstRequest("cc") > done.get("cb")!, `cc asked the model (${firstRequest("cc")}) after cb completed (${done.get("cb")})`);
  const spawned = loggedEvents(fx).filter((e) => e.type === "worker_spawned" && e.epic_id === EPIC);
  assert.deepEqual(spawned.map((e) => e.bead_id), chain, "spawned in the chain's order");
  assert.deepEqual(spawned.map((e) => e.dependencies ?? []), [[], ["ca"], ["cb"]]);

  // Nothing prompted the coordinator: its only requests are the spawn step and the reply after it.
  const asked = fx.model.requests.filter((r) => r.script_id === "coordinator-chain");
  assert.deepEqual(asked.map((r) => r.step), [0, 1]);
  assert.ok(asked.every((r) => r.started_at < done.get("ca")!), "both before the first completion");
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
