// Stopping workers on a real server, each in its own worktree: swarm_cancel of an epic, and the
// user interrupting the coordinator while it awaits its workers (OpenCode then sends the
// coordinator's `session.error` MessageAbortedError). Either way every running worker's turn is
// aborted at the model, no worker session stays busy, queued beads never start, and nothing is
// taken for a failure to retry.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, messages, prompt, script, sleep, spawnCall, toolParts, until, waitIdle, type LoggedEvent } from "./scenario.js";

let fx: Fixture;
before(async () => {
  // Three may run, so a fourth spawn waits in the queue. No wake-up turns: the coordinator's
  // scripts are prompted by the tests alone.
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { max_running: 3, wake_coordinator: false } });
});
after(async () => {
  await fx?.stop();
});

/** Workers that would take a minute: whatever ends them early is what the test is about. */
const LONG_MS = 60_000;

const ofEpic = (epic: string, type: string): LoggedEvent[] =>
  loggedEvents(fx).filter((e) => e.type === type && e.epic_id === epic);

/** Waits until every worker's model turn is in flight. */
async function inFlight(beads: string[]): Promise<void> {
  await until(`${beads.join(", ")} in their model turns`, 90_000, async () =>
    beads.every((b) => fx.model.requests.some((r) => r.script_id === `worker-${b}` && r.ended_at === null)) ? true : undefined,
  );
}

/** Each worker's session is idle (absent from its own instance's status map), and each of its
 * model requests ended early, aborted by the server. */
async function stopped(spawned: LoggedEvent[]): Promise<void> {
  for (const w of spawned) {
    const directory = String(w.directory);
    await until(`${String(w.bead_id)}'s session to leave the status map of ${directory}`, 10_000, async () => {
      const status = ((await fx.client.session.status({ query: { directory } })).data ?? {}) as Record<string, unknown>;
      return status[String(w.session_id)] === undefined ? true : undefined;
    });
    const requests = () => fx.model.requests.filter((r) => r.script_id === `worker-${String(w.bead_id)}`);
    await until(`${String(w.bead_id)}'s model request to end`, 10_000, async () =>
      requests().every((r) => r.ended_at !== null) ? true : undefined,
    );
    assert.ok(requests().length > 0 && requests().every((r) => r.aborted), `${String(w.bead_id)}'s turn was aborted at the model`);
  }
}

/** Nothing undoes a cancel: no failure is recorded, no retry, no new session. */
async function staysCancelled(epic: string, sessions: number): Promise<void> {
  await sleep(1500); // a wrongly recorded failure would be retried at once
  assert.deepEqual(ofEpic(epic, "worker_failed"), [], "an aborted worker is not a failed one");
  assert.deepEqual(ofEpic(epic, "worker_retried"), []);
  assert.equal(ofEpic(epic, "worker_spawned").length, sessions, "no session started after the cancel");
}

test("swarm_cancel of an epic aborts its three running workers and leaves no session busy", async () => {
  const EPIC = "cancel-epic";
  const beads = ["c1", "c2", "c3"];
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(fx, coordinator.id, script("coordinator-spawn", [{ tool_calls: beads.map((b) => spawnCall(EPIC, b, LONG_MS)) }, { text: "spawned" }]));
  await waitIdle(fx, coordinator.id);
  await inFlight(beads);
  const spawned = ofEpic(EPIC, "worker_spawned");
  assert.equal(spawned.length, 3);
  for (const w of spawned) assert.match(String(w.directory), /[\\/]\.apiary[\\/]worktrees[\\/](c\d|pool-[\w-]+)$/, "each in its worktree");

  await prompt(
    fx,
    coordinator.id,
    script("coordinator-cancel", [
      { tool_calls: [{ name: "swarm_cancel", args: { epic_id: EPIC, reason: "plan changed" } }] },
      { tool_calls: [{ name: "swarm_status", args: {} }] },
      { text: "cancelled" },
    ]),
  );
  await waitIdle(fx, coordinator.id);
  const parts = await toolParts(fx, coordinator.id);
  const cancel = parts.find((p) => p.tool === "swarm_cancel")!.state.output!;
  assert.match(cancel, /^cancelled 3; stopped: c\d, c\d, c\d$/, cancel);
  const status = parts.find((p) => p.tool === "swarm_status")!.state.output!;
  assert.match(status, /^running 0\/3 · queued 0 \(max 64\) · blocked 0/, status);

  const cancelled = ofEpic(EPIC, "worker_cancelled");
  assert.deepEqual(cancelled.map((e) => String(e.session_id)).sort(), spawned.map((e) => String(e.session_id)).sort());
  for (const e of cancelled) assert.equal(e.reason, "plan changed");
  await stopped(spawned);
  await staysCancelled(EPIC, 3);
});

test("a coordinator interrupted while it awaits cancels its running and queued workers", async () => {
  const EPIC = "abort-epic";
  const beads = ["a1", "a2", "a3", "a4"];
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator-await", [
      { tool_calls: beads.map((b) => spawnCall(EPIC, b, LONG_MS)) },
      { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: EPIC } }] },
      { text: "waited" },
    ]),
  );
  await until("the await to be running", 60_000, async () =>
    (await toolParts(fx, coordinator.id)).find((p) => p.tool === "swarm_await_workers" && p.state.status === "running"),
  );
  // Every spawn enters the queue; three leave it for their slots, the fourth waits.
  assert.equal(ofEpic(EPIC, "worker_queued").length, 4);
  const running = await until("three workers started", 30_000, async () => {
    const s = ofEpic(EPIC, "worker_spawned");
    return s.length === 3 ? s : undefined;
  });
  await inFlight(running.map((e) => String(e.bead_id)));
  const queuedBead = beads.find((b) => !running.some((e) => e.bead_id === b))!;

  // What the user's interrupt does (Esc in the TUI).
  await fx.client.session.abort({ path: { id: coordinator.id } });

  const cancelled = await until("four worker_cancelled events", 10_000, async () => {
    const c = ofEpic(EPIC, "worker_cancelled");
    return c.length === 4 ? c : undefined;
  });
  for (const e of cancelled) assert.equal(e.reason, "coordinator aborted");
  // The queued bead had no session: it leaves the queue with an empty session id.
  assert.deepEqual(cancelled.filter((e) => !e.session_id).map((e) => e.bead_id), [queuedBead]);
  assert.deepEqual(
    cancelled.filter((e) => e.session_id).map((e) => String(e.session_id)).sort(),
    running.map((e) => String(e.session_id)).sort(),
  );
  // The assumption the cancel rests on: OpenCode ended the coordinator's turn with MessageAbortedError.
  const last = (await messages(fx, coordinator.id)).filter((m) => m.info.role === "assistant").at(-1)!;
  assert.equal((last.info as { error?: { name?: string } }).error?.name, "MessageAbortedError");
  await stopped(running);
  await staysCancelled(EPIC, 3);
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
