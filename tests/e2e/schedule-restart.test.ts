// The queue lives in the log, not in memory: with `max_running: 1`, five workers spawned in one
// step leave one running and four queued; the OpenCode server is restarted in the middle of the
// running one's turn. After the restart the cut-off worker is resumed and the four queued ones
// start one after another by themselves, with no call from the coordinator.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, spawnCall, toolParts, until, waitIdle } from "./scenario.js";

let fx: Fixture;
before(async () => {
  fx = await startFixture({
    pluginDir: dropInPlugin,
    apiaryOptions: { max_running: 1, worktrees: false, wake_coordinator: false },
  });
});
after(async () => {
  await fx?.stop();
});

const EPIC = "restart-queue";
const BEADS = ["q1", "q2", "q3", "q4", "q5"];
/** Long enough for the restart to land inside the first worker's turn, short enough for five
 * in a row. Whichever bead wins the slot is the one cut off. */
const WORKER_MS = 2500;

test("a queue of four survives a server restart and drains by itself", async () => {
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(fx, coordinator.id, script("coordinator", [{ tool_calls: BEADS.map((b) => spawnCall(EPIC, b, WORKER_MS)) }, { text: "spawned" }]));
  await waitIdle(fx, coordinator.id);
  const outputs = (await toolParts(fx, coordinator.id)).filter((p) => p.tool === "swarm_spawn_async").map((p) => p.state.output ?? "");
  assert.equal(outputs.filter((o) => o.startsWith("starting ")).length, 1, outputs.join("\n"));
  assert.equal(outputs.filter((o) => /^queued q\d \(epic restart-queue\) at #[1-4]: limit: 1\/1 running; it starts by itself$/.test(o)).length, 4, outputs.join("\n"));

  // The one running worker is inside its model turn: stop the server there.
  const first = loggedEvents(fx).find((e) => e.type === "worker_spawned")!;
  await fx.model.waitFor((rs) => rs.some((r) => r.script_id === `worker-${String(first.bead_id)}` && r.ended_at === null), 30_000);
  await fx.restart();
  const before = loggedEvents(fx);
  assert.equal(before.filter((e) => e.type === "worker_spawned").length, 1, "nothing else started before the restart");
  assert.equal(before.filter((e) => e.type === "worker_completed").length, 0, "the first was cut off, not finished");
  // Every spawn entered the queue; one left it.
  assert.equal(before.filter((e) => e.type === "worker_queued").length, 5);
  // A client's first call starts the project's instance, as the TUI's would; nothing else is
  // asked of the server.
  await fx.client.session.list();

  await until("five worker_completed events after the restart", 90_000, async () =>
    loggedEvents(fx).filter((e) => e.type === "worker_completed").length === 5 ? true : undefined,
  );
  const events = loggedEvents(fx);
  const story = events.map((e) => `${e.seq} ${e.type} ${String(e.bead_id ?? "")} ${e.timestamp}`).join("\n");
  assert.deepEqual(events.filter((e) => e.type === "worker_completed").map((e) => String(e.bead_id)).sort(), BEADS, story);
  assert.deepEqual(
    events.filter((e) => e.type === "worker_interrupted").map((e) => [e.bead_id, e.resumed]),
    [[first.bead_id, true]],
    `the cut-off worker was found interrupted and resumed:\n${story}`,
  );
  assert.equal(events.filter((e) => e.type === "worker_spawned").length, 5, `one session per bead:\n${story}`);
  for (const bad of ["worker_failed", "worker_retried", "worker_cancelled", "worker_blocked"]) {
    assert.equal(events.filter((e) => e.type === bad).length, 0, `no ${bad}:\n${story}`);
  }
  // One at a time: each queued bead started after the one before it completed.
  const order = events.filter((e) => e.type === "worker_spawned" || e.type === "worker_completed").map((e) => e.type);
  assert.deepEqual(order, Array(5).fill(["worker_spawned", "worker_completed"]).flat(), story);

  // The coordinator was never asked anything after its spawn step.
  assert.equal(fx.model.requests.filter((r) => r.script_id === "coordinator").length, 2);
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
