// A worker whose model request hangs on a real server: its session stays busy but shows no
// activity, so after `stall_after_ms` the scheduler records it failed (stalled, retryable),
// aborts its session, and after the backoff starts the bead again in a new session whose prompt
// says which attempt it is; that attempt completes. Nobody prompts the coordinator meanwhile.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, messages, prompt, script, until, waitIdle, type Step } from "./scenario.js";

const STALL_MS = 3000;
const BACKOFF_MS = 200;

let fx: Fixture;
before(async () => {
  fx = await startFixture({
    pluginDir: dropInPlugin,
    apiaryOptions: { stall_after_ms: STALL_MS, retry_backoff_ms: BACKOFF_MS, worktrees: false, wake_coordinator: false },
  });
});
after(async () => {
  await fx?.stop();
});

test("a worker stalled in a model request is aborted, retried after the backoff, and its second attempt completes", async () => {
  const EPIC = "stall-epic";
  const BEAD = "st1";
  const complete = (ms: number): Step => ({
    delay_ms: ms,
    tool_calls: [{ name: "swarm_complete", args: { bead_id: BEAD, summary: `did ${BEAD}`, files_touched: [] } }],
  });
  // The first attempt's request never answers in time; a retry's prompt completes at once.
  const worker = script(`worker-${BEAD}`, [complete(120_000)], [complete(300), { text: `${BEAD} finished` }]);
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator", [
      { tool_calls: [{ name: "swarm_spawn_async", args: { bead_id: BEAD, epic_id: EPIC, title: `task ${BEAD}`, description: worker, files: [] } }] },
      { text: "spawned" },
    ]),
  );
  await waitIdle(fx, coordinator.id);

  const completed = await until("the bead to complete", 60_000, async () =>
    loggedEvents(fx).find((e) => e.type === "worker_completed" && e.bead_id === BEAD),
  );
  const events = loggedEvents(fx).filter((e) => e.bead_id === BEAD);
  const story = events.map((e) => `${e.seq} ${e.type} ${String(e.session_id ?? "")} ${e.timestamp}`).join("\n");
  const spawned = events.filter((e) => e.type === "worker_spawned");
  assert.equal(spawned.length, 2, `two sessions, one per attempt:\n${story}`);
  const [first, second] = spawned.map((e) => String(e.session_id));

  const failed = events.filter((e) => e.type === "worker_failed");
  assert.equal(failed.length, 1, story);
  assert.equal(failed[0]!.session_id, first);
  assert.equal(failed[0]!.error, "stalled: no activity for 3.0s");
  assert.equal(failed[0]!.retryable, true);

  const retried = events.filter((e) => e.type === "worker_retried");
  assert.equal(retried.length, 1, story);
  assert.equal(retried[0]!.attempt, 2);
  assert.equal(retried[0]!.previous_session_id, first);
  assert.match(String(retried[0]!.reason), /^stalled: /);
  assert.equal(Number(retried[0]!.not_before) - retried[0]!.timestamp, BACKOFF_MS, "the first retry waits the base backoff");
  assert.ok(spawned[1]!.timestamp >= Number(retried[0]!.not_before), "the new session started after the backoff");
  assert.equal(completed.session_id, second, "the second attempt completed");
  assert.deepEqual(
    events.map((e) => e.type).filter((t) => ["worker_spawned", "worker_failed", "worker_retried", "worker_completed"].includes(t)),
    ["worker_spawned", "worker_failed", "worker_retried", "worker_spawned", "worker_completed"],
  );

  // The first attempt's request was cut off by the abort; the second ran the retry's steps.
  const requests = fx.model.requests.filter((r) => r.script_id === `worker-${BEAD}`);
  const firstAttempt = requests.filter((r) => !r.retry);
  assert.equal(firstAttempt.length, 1);
  assert.equal(firstAttempt[0]!.aborted, true, "the stalled request was aborted");
  assert.ok(requests.filter((r) => r.retry).length >= 1);
  const firstSession = await messages(fx, first!);
  const lastOfFirst = firstSession.filter((m) => m.info.role === "assistant").at(-1)!;
  assert.equal((lastOfFirst.info as { error?: { name?: string } }).error?.name, "MessageAbortedError");
  const status = ((await fx.client.session.status()).data ?? {}) as Record<string, unknown>;
  assert.equal(status[first!], undefined, "the first session is not busy");

  // The retry's prompt says which attempt it is and why the one before ended.
  const retryPrompt = (await messages(fx, second!))
    .filter((m) => m.info.role === "user")[0]!
    .parts.map((p) => (p as { text?: string }).text ?? "")
    .join("");
  assert.match(retryPrompt, /\n## This is attempt 2\nThe attempt before ended without finishing: stalled: no activity for /);

  // Only the coordinator's own two steps reached the model.
  assert.equal(fx.model.requests.filter((r) => r.script_id === "coordinator").length, 2);
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
