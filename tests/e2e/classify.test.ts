// Four workers end four ways on a real server, and poll and await tell them apart: one
// completes, one fails with a provider error (retried as the default allows, failing each
// time), one ends its turn without swarm_complete, one's session is deleted (never retried).
// Each attempt's failure is recorded once, with its reason.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, toolParts, until, workerScript, type Step } from "./scenario.js";


let fx: Fixture;
before(async () => {
  // The coordinator is prompted again after its workers finish: a wake-up turn in between
  // would move its script on (waking has its own tests: wake.test.ts, restart.test.ts).
  // A short backoff: the provider error's two retries take moments, not 10 s and 20 s.
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { wake_coordinator: false, retry_backoff_ms: 200 } });
});
after(async () => {
  await fx?.stop();
});

const EPIC = "four-ways";
const scripts: Record<string, string> = {
  done: workerScript("done", 500),
  broken: script("worker-broken", [{ error: { status: 400, message: "scripted provider refusal: model overloaded" } }]),
  quiet: script("worker-quiet", [{ delay_ms: 300, text: "I looked around and stopped." }]),
  gone: script("worker-gone", [{ delay_ms: 60_000, text: "never said" } as Step]),
};

test("complete, provider error, idle without swarm_complete and deleted are each classified", async () => {
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  const spawn = (bead: string) => ({
    name: "swarm_spawn_async",
    args: { bead_id: bead, epic_id: EPIC, title: `task ${bead}`, description: scripts[bead]!, files: [] },
  });
  await prompt(fx, coordinator.id, script("coordinator", [{ tool_calls: Object.keys(scripts).map(spawn) }, { text: "spawned" }]));

  // Delete the long-running worker's session once it is busy, in its own instance.
  const gone = await until("the gone worker's turn", 60_000, async () => {
    const spawned = loggedEvents(fx).find((e) => e.type === "worker_spawned" && e.bead_id === "gone");
    const busy = fx.model.requests.some((r) => r.script_id === "worker-gone" && !r.ended_at);
    return spawned && busy ? spawned : undefined;
  });
  const deleted = await fx.client.session.delete({
    path: { id: String(gone.session_id) },
    query: { directory: String(gone.directory) },
  });
  assert.ok(!deleted.error, JSON.stringify(deleted.error));

  await prompt(
    fx,
    coordinator.id,
    script("coordinator-wait", [
      { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: EPIC, timeout_ms: 60_000 } }] },
      { tool_calls: [{ name: "swarm_poll_workers", args: { epic_id: EPIC } }] },
      { text: "reviewed" },
    ]),
  );
  const parts = await until("the await and the poll", 90_000, async () => {
    const ps = (await toolParts(fx, coordinator.id)).filter(
      (p) => (p.tool === "swarm_await_workers" || p.tool === "swarm_poll_workers") && p.state.status === "completed",
    );
    return ps.length === 2 ? ps : undefined;
  });
  for (const p of parts) {
    const out = p.state.output!;
    assert.match(out, /epic four-ways: 4 workers: 2 completed \(1 needs review\), 0 in progress, 2 failed, 0 pending/, out);
    assert.match(out, /  done success \S+(?: \S+ tok \S+)?: did done/, out);
    assert.match(out, /  quiet needs_review/, out);
    assert.match(out, /  broken failed \S+ attempt 3(?: \S+ tok \S+)?: .*scripted provider refusal/, out);
    assert.match(out, /  gone failed \S+(?: \S+ tok \S+)?: .*deleted/, out);
  }
  const events = loggedEvents(fx);
  const failed = events.filter((e) => e.type === "worker_failed");
  assert.deepEqual(failed.map((e) => e.bead_id).sort(), ["broken", "broken", "broken", "gone"], "each attempt's failure recorded once");
  assert.deepEqual(failed.map((e) => [e.bead_id, e.retryable === true]).sort(), [["broken", true], ["broken", true], ["broken", true], ["gone", false]]);
  const retried = events.filter((e) => e.type === "worker_retried");
  assert.deepEqual(retried.map((e) => [e.bead_id, e.attempt]), [["broken", 2], ["broken", 3]], "max_attempts 3: two retries, then failed");
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
