// Waking the coordinator on a real server: a coordinator that spawned workers and ended its
// turn gets one message when they finish, from the plugin's own watch of the log (the workers
// report from their worktrees' instances), recorded once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, messages, prompt, script, spawnCall, until, waitIdle } from "./scenario.js";


let fx: Fixture;
before(async () => {
  fx = await startFixture({ pluginDir: dropInPlugin });
});
after(async () => {
  await fx?.stop();
});

/** A step that waits until the file `go` appears in the worker's directory. */
const gate = { tool_calls: [{ name: "bash", args: { command: "while [ ! -f go ]; do sleep 0.1; done", description: "wait for go" } }] };

const userTexts = async (session: string) =>
  (await messages(fx, session))
    .filter((m) => m.info.role === "user")
    .map((m) => m.parts.map((p) => (p as { text?: string }).text ?? "").join(""));

test("an idle coordinator gets one message, marked as the plugin's, for workers that finish close together", async () => {
  const EPIC = "wake-epic";
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator", [{ tool_calls: [spawnCall(EPIC, "k1", 0, [gate]), spawnCall(EPIC, "k2", 0, [gate])] }, { text: "spawned, going idle" }]),
  );
  await waitIdle(fx, coordinator.id);
  // However far apart a loaded machine starts them, the two finish together: each waits for a
  // file the test writes into its worktree once both are running.
  const trees = await until("both workers running", 60_000, async () => {
    const spawned = loggedEvents(fx).filter((e) => e.type === "worker_spawned");
    const running = new Set(loggedEvents(fx).filter((e) => e.type === "worker_started").map((e) => e.bead_id));
    return spawned.length === 2 && running.size === 2 ? spawned.map((e) => String(e.worktree_path ?? e.directory)) : undefined;
  });
  for (const tree of trees) writeFileSync(path.join(tree, "go"), "");
  await until("both workers to complete", 60_000, async () =>
    loggedEvents(fx).filter((e) => e.type === "worker_completed").length === 2 ? true : undefined,
  );
  const wake = await until("the wake-up message", 30_000, async () =>
    (await userTexts(coordinator.id)).filter((t) => t.startsWith("[apiary]")).at(-1),
  );
  // The two finished within a moment of each other: one message, one turn, naming the epic.
  // The epic's spend is named once counted (its workers' turns ended before the message).
  assert.match(
    wake,
    /^\[apiary\] workers finished:\nepic wake-epic: k[12] success, k[12] success(; epic spent \d+ tok \$\d+\.\d\d)?\. Details: swarm_poll_workers \{"epic_id":"wake-epic"\}$/,
  );
  await waitIdle(fx, coordinator.id);
  const notices = loggedEvents(fx).filter((e) => e.type === "coordinator_notified");
  assert.equal(notices.length, 1, JSON.stringify(notices));
  assert.deepEqual(new Set(notices[0]!.workers as string[]).size, 2);
  const wakes = (await messages(fx, coordinator.id)).filter((m) => m.info.role === "user" && m.parts.some((p) => String((p as { text?: string }).text).startsWith("[apiary]")));
  assert.equal(wakes.length, 1, "one message");
  // Marked as the plugin's, and still read by the model.
  assert.ok(wakes[0]!.parts.some((p) => (p as { synthetic?: boolean }).synthetic === true), JSON.stringify(wakes[0]!.parts));
  assert.ok(fx.model.requests.some((r) => r.script_id === "coordinator" && r.last_user.startsWith("[apiary] workers finished")));
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
