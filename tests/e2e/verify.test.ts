// The verify gate on a real server: a worker's success runs the epic's verify command in its
// worktree. A failing command refuses the completion with its output, and the worker's next
// call completes once it fixed the cause; a command that hangs is killed at the timeout and,
// after the last round, the worker is recorded failed with the reason.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, until, type Step, type ToolPart } from "./scenario.js";

let fx: Fixture;
before(async () => {
  fx = await startFixture({
    pluginDir: dropInPlugin,
    apiaryOptions: { wake_coordinator: false, verify_timeout_ms: 2000, verify_attempts: 2 },
  });
});
after(async () => {
  await fx?.stop();
});

const complete = (bead: string): Step => ({
  tool_calls: [{ name: "swarm_complete", args: { bead_id: bead, summary: `did ${bead}`, files_touched: [] } }],
});

/** The worker's swarm_complete calls, with what each was told. */
async function completions(bead: string): Promise<ToolPart[]> {
  const spawned = loggedEvents(fx).find((e) => e.type === "worker_spawned" && e.bead_id === bead)!;
  const res = await fx.client.session.messages({
    path: { id: String(spawned.session_id) },
    query: { directory: String(spawned.directory) },
  });
  return (res.data ?? [])
    .flatMap((m) => m.parts)
    .filter((p) => p.type === "tool" && (p as unknown as ToolPart).tool === "swarm_complete") as unknown as ToolPart[];
}

test("a failing verify refuses the completion with its output; the worker fixes it and completes", async () => {
  const bead = "fixme";
  const worker = script(`worker-${bead}`, [
    complete(bead),
    { tool_calls: [{ name: "bash", args: { command: "touch fixed.txt", description: "fix" } }] },
    complete(bead),
    { text: "done" },
  ]);
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("spawn-fixme", [
      {
        tool_calls: [
          {
            name: "swarm_spawn_async",
            args: {
              bead_id: bead,
              epic_id: "verify-epic",
              title: "make fixed.txt",
              description: worker,
              files: [],
              verify: "echo looking for fixed.txt; test -f fixed.txt",
            },
          },
        ],
      },
      { text: "spawned" },
    ]),
  );
  await until("the worker completed", 120_000, async () =>
    loggedEvents(fx).some((e) => e.type === "worker_completed" && e.bead_id === bead) ? true : undefined,
  );
  const rounds = loggedEvents(fx).filter((e) => e.type === "worker_verified" && e.bead_id === bead);
  assert.deepEqual(
    rounds.map((e) => [e.ok, e.exit_code, e.attempt]),
    [
      [false, 1, 1],
      [true, 0, 2],
    ],
  );
  const [first, second] = await completions(bead);
  assert.match(first!.state.output!, /^completion refused: verify failed \(attempt 1 of 2\): `echo looking for fixed\.txt; test -f fixed\.txt` exited with status 1\./);
  assert.match(first!.state.output!, /looking for fixed\.txt\n```\nFix the cause, then call swarm_complete again\.$/);
  assert.match(second!.state.output!, /^recorded: fixme success after .* passed\./);
});

test("a verify command that hangs is killed at the timeout and the worker is recorded failed", async () => {
  const bead = "hangs";
  const worker = script(`worker-${bead}`, [complete(bead), complete(bead), { text: "gave up" }]);
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator 2" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("spawn-hangs", [
      {
        tool_calls: [
          {
            name: "swarm_spawn_async",
            args: { bead_id: bead, epic_id: "hang-epic", title: "hang", description: worker, files: [], verify: "sleep 60" },
          },
        ],
      },
      { text: "spawned" },
    ]),
  );
  const failed = await until("the worker failed", 120_000, async () =>
    loggedEvents(fx).find((e) => e.type === "worker_failed" && e.bead_id === bead),
  );
  assert.equal(failed.error, "verify failed 2/2: `sleep 60` timed out after 2 s");
  assert.equal(failed.retryable, undefined, "not retried");
  const rounds = loggedEvents(fx).filter((e) => e.type === "worker_verified" && e.bead_id === bead);
  assert.deepEqual(
    rounds.map((e) => [e.ok, e.exit_code, e.timed_out]),
    [
      [false, 124, true],
      [false, 124, true],
    ],
  );
  assert.ok(!loggedEvents(fx).some((e) => e.type === "worker_completed" && e.bead_id === bead));
  const [first, second] = await completions(bead);
  assert.match(first!.state.output!, /`sleep 60` timed out after 2 s\. It printed nothing\.\nFix the cause/);
  assert.match(second!.state.output!, /attempt 2 of 2.*hangs is recorded failed/s);
});
