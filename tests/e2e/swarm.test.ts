// A coordinator on a real `opencode serve`, driven by the scripted model, spawns three workers
// whose turns wait for each other and then take 2 s each, then polls them: spawns return at
// once, the workers run at the same time, and poll reports them running and then completed.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import { dropInPlugin, startFixture, workspace, type Fixture } from "./fixture.js";
import {
  loggedEvents,
  median,
  prompt,
  script,
  spawnCall,
  toolParts,
  until,
  waitIdle,
} from "./scenario.js";

const artifacts = path.join(workspace, "tests", "artifacts");

let fx: Fixture;
before(async () => {
  // The coordinator is prompted again after its workers finish: a wake-up turn in between
  // would move its script on (waking has its own tests: wake.test.ts, restart.test.ts).
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { wake_coordinator: false } });
});
after(async () => {
  await fx?.stop();
});

const EPIC = "e2e-epic";
const BEADS = ["w1", "w2", "w3"];
const WORKER_MS = 2000;

test("three spawned workers run in parallel and poll reports them running, then completed", async () => {
  // The TUI's toasts, as any client of the server's event stream sees them.
  const toasts: { title?: string; message: string; variant: string }[] = [];
  const listening = new AbortController();
  const sse = await fx.client.event.subscribe({ signal: listening.signal });
  const reading = (async () => {
    for await (const e of sse.stream) if (e.type === "tui.toast.show") toasts.push(e.properties);
  })().catch(() => undefined);

  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    // One step with the three spawns: OpenCode runs them together, so the workers' instances
    // (one per worktree) start together too.
    script("coordinator", [
      // Each worker's turn waits until all three are in flight: however slowly their instances
      // start on a loaded machine, the meeting is met only if they run at the same time.
      { tool_calls: BEADS.map((b) => spawnCall(EPIC, b, WORKER_MS, [], { meet: { at: "workers", count: BEADS.length } })) },
      { tool_calls: [{ name: "swarm_poll_workers", args: { epic_id: EPIC } }] },
      { text: "spawned three workers" },
    ]),
  );
  await waitIdle(fx, coordinator.id);

  const spawns = (await toolParts(fx, coordinator.id)).filter((p) => p.tool === "swarm_spawn_async");
  assert.equal(spawns.length, 3, "three spawn calls ran");
  for (const s of spawns) assert.equal(s.state.status, "completed", s.state.output);

  // The first poll ran right after the spawns: nothing can have completed yet.
  const firstPoll = (await toolParts(fx, coordinator.id)).find((p) => p.tool === "swarm_poll_workers")!;
  assert.match(firstPoll.state.output!, /^epic e2e-epic: 3 workers: 0 completed, /);
  for (const b of BEADS) assert.match(firstPoll.state.output!, new RegExp(`  ${b} (starting|running)`));

  // Wait for the workers to report, then ask the coordinator to poll again.
  await until("three worker_completed events", 180_000, async () =>
    loggedEvents(fx).filter((e) => e.type === "worker_completed").length === 3 ? true : undefined,
  );
  await prompt(
    fx,
    coordinator.id,
    script("coordinator-final", [
      { tool_calls: [{ name: "swarm_poll_workers", args: { epic_id: EPIC } }] },
      { text: "all done" },
    ]),
  );
  const polls = await until("the second poll", 60_000, async () => {
    const done = (await toolParts(fx, coordinator.id)).filter((p) => p.tool === "swarm_poll_workers" && p.state.status === "completed");
    return done.length >= 2 ? done : undefined;
  });
  const finalPoll = polls.at(-1)!.state.output!;
  assert.match(finalPoll, /^epic e2e-epic: 3 workers: 3 completed, 0 in progress, 0 failed, 0 pending/);
  for (const b of BEADS) assert.match(finalPoll, new RegExp(`  ${b} success \\S+(?: \\S+ tok \\S+)?: did ${b}`));

  // One toast per completed worker, once each, from the coordinator's instance.
  await until("a toast per worker", 20_000, async () => (toasts.length >= BEADS.length ? true : undefined));
  await new Promise((r) => setTimeout(r, 1500));
  listening.abort();
  await reading;
  assert.deepEqual(
    toasts.map((t) => `${t.title} ${t.variant}`).sort(),
    BEADS.map((b) => `apiary · ${b} completed success`),
  );
  for (const b of BEADS) assert.ok(toasts.some((t) => t.message === `did ${b} (epic ${EPIC})`), JSON.stringify(toasts));

  // Each spawn returned before its worker finished.
  const events = loggedEvents(fx);
  for (const bead of BEADS) {
    const completed = events.find((e) => e.type === "worker_completed" && e.bead_id === bead)!;
    const spawn = spawns.find((s) => (s.state.input as { bead_id?: string } | undefined)?.bead_id === bead);
    assert.ok(spawn, `the spawn of ${bead} is among the coordinator's tool calls`);
    const returned = spawn.state.time!.end!;
    assert.ok(returned < completed.timestamp, `spawn of ${bead} returned (${returned}) before it completed (${completed.timestamp})`);
  }

  // The three workers' model turns overlapped in time (the scripted model's own log).
  const turns = BEADS.map((b) => fx.model.requests.find((r) => r.script_id === `worker-${b}` && r.step === 0)!);
  for (const t of turns) assert.ok(t && t.ended_at, "each worker's scripted turn ran");
  assert.deepEqual(turns.map((t) => t.met), [true, true, true], "the three workers' turns were in flight together");
  const latestStart = Math.max(...turns.map((t) => t.started_at));
  const earliestEnd = Math.min(...turns.map((t) => t.ended_at!));
  assert.ok(latestStart < earliestEnd, `worker turns overlap: last start ${latestStart} < first end ${earliestEnd}`);

  // The log holds the seed design's fields; workers are children of the coordinator.
  const spawned = events.filter((e) => e.type === "worker_spawned");
  // Spawns made in one step run together and may be recorded in any order.
  assert.deepEqual(spawned.map((e) => String(e.bead_id)).sort(), BEADS);
  for (const e of spawned) {
    assert.match(String(e.prompt_hash), /^[0-9a-f]{64}$/);
    assert.equal(e.epic_id, EPIC);
    assert.equal(e.parent_session_id, coordinator.id);
  }
  const children = ((await fx.client.session.children({ path: { id: coordinator.id } })).data ?? []).map((s) => s.id);
  assert.deepEqual([...children].sort(), spawned.map((e) => String(e.session_id)).sort());
  assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i + 1), "sequence numbers run 1..n");
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");

  // Figures for the record (spawn tool latency as OpenCode measured it).
  const latencies = spawns.map((s) => s.state.time!.end! - s.state.time!.start);
  mkdirSync(artifacts, { recursive: true });
  appendFileSync(
    path.join(artifacts, "e2e-metrics.jsonl"),
    JSON.stringify({
      at: new Date().toISOString(),
      spawn_latency_ms: latencies,
      spawn_latency_median_ms: median(latencies),
      worker_turn_ms: turns.map((t) => t.ended_at! - t.started_at),
    }) + "\n",
  );
});
