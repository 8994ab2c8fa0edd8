// The OpenCode server is stopped in the middle of a swarm and started again. A restart aborts
// the workers' turns and nothing in OpenCode resumes them; Apiary's plugin, on its first start
// after the restart, finds them interrupted in its log, prompts each to continue in its own
// session, and they complete without the coordinator doing anything.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, messages, prompt, script, toolParts, until, waitIdle, type Step } from "./scenario.js";


let fx: Fixture;
before(async () => {
  fx = await startFixture({ pluginDir: dropInPlugin });
});
after(async () => {
  await fx?.stop();
});

const EPIC = "restart-epic";
const BEADS = ["r1", "r2", "r3"];

/** A worker whose first turn is long enough to be cut off. Whether the resumed turn counts the
 * cut-off reply as a step or not, its next step completes the bead. */
function slowWorker(bead: string): string {
  const complete: Step = {
    delay_ms: 1500,
    tool_calls: [{ name: "swarm_complete", args: { bead_id: bead, summary: `did ${bead}`, files_touched: [] } }],
  };
  return script(`worker-${bead}`, [{ ...complete, delay_ms: 30_000 }, complete, { text: `${bead} finished` }]);
}

test("workers cut off by a server restart are found interrupted, resumed, and complete by themselves", async () => {
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  const spawn = (bead: string) => ({
    name: "swarm_spawn_async",
    args: { bead_id: bead, epic_id: EPIC, title: `task ${bead}`, description: slowWorker(bead), files: [] },
  });
  await prompt(fx, coordinator.id, script("coordinator", [{ tool_calls: BEADS.map(spawn) }, { text: "spawned" }]));
  await waitIdle(fx, coordinator.id);

  // Every worker is inside its long first turn.
  await until("three worker turns in flight", 60_000, async () => {
    const inFlight = fx.model.requests.filter((r) => r.script_id?.startsWith("worker-r") && !r.ended_at);
    return inFlight.length === 3 ? true : undefined;
  });
  const started = loggedEvents(fx).filter((e) => e.type === "worker_started").length;
  assert.equal(started, 3, "the log saw every worker busy before the restart");

  await fx.restart();
  // A client's first call starts the project's instance, as the TUI's would; nothing else is
  // asked of the server: the coordinator is not prompted until the workers are done.
  await fx.client.session.list();

  await until("three worker_completed events after the restart", 120_000, async () =>
    loggedEvents(fx).filter((e) => e.type === "worker_completed").length === 3 ? true : undefined,
  );
  const events = loggedEvents(fx);
  const interrupted = events.filter((e) => e.type === "worker_interrupted");
  const story = events
    .filter((e) => e.type !== "worker_spawned")
    .map((e) => `${e.seq} ${e.type} ${String(e.bead_id ?? "")} ${e.resumed ?? ""} ${e.timestamp}`)
    .join("\n");
  assert.deepEqual(interrupted.map((e) => e.bead_id).sort(), BEADS, `each worker was found interrupted once:\n${story}`);
  for (const e of interrupted) assert.equal(e.resumed, true);
  assert.equal(events.filter((e) => e.type === "worker_failed").length, 0, "none was called failed");

  // The coordinator, idle since before the restart, is told once its workers finished: no
  // event has shown the restarted server's plugin its state, so the plugin asked the server.
  await until("the coordinator told about the three workers", 60_000, async () => {
    const told = loggedEvents(fx).filter((e) => e.type === "coordinator_notified");
    return told.flatMap((e) => e.workers as string[]).length === 3 ? told : undefined;
  });
  await until("the coordinator's wake-up turns to end", 60_000, async () => {
    const told = loggedEvents(fx).filter((e) => e.type === "coordinator_notified" && e.via === "message").length;
    const all = await messages(fx, coordinator.id);
    const wakes = all.filter((m) => m.info.role === "user" && m.parts.some((p) => String((p as { text?: string }).text).startsWith("[apiary]")));
    const last = all.at(-1);
    const busy = ((await fx.client.session.status()).data ?? {}) as Record<string, unknown>;
    return wakes.length === told && last?.info.role === "assistant" && last.info.time.completed && !busy[coordinator.id] ? true : undefined;
  });

  // The coordinator, after the restart, sees every worker from the log with its right state.
  await prompt(
    fx,
    coordinator.id,
    script("coordinator-after", [{ tool_calls: [{ name: "swarm_poll_workers", args: { epic_id: EPIC } }] }, { text: "ok" }]),
  );
  const poll = await until("the coordinator's poll", 60_000, async () =>
    (await toolParts(fx, coordinator.id)).find((p) => p.tool === "swarm_poll_workers" && p.state.status === "completed"),
  );
  assert.match(poll.state.output!, /^epic restart-epic: 3 workers: 3 completed, 0 in progress, 0 failed, 0 pending/);
  for (const b of BEADS) assert.match(poll.state.output!, new RegExp(`  ${b} success \\S+(?: \\S+ tok \\S+)?: did ${b}`));
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
