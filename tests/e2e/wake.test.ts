// Waking the coordinator on a real server: a coordinator that spawned workers and ended its
// turn gets one message when they finish, from the plugin's own watch of the log (the workers
// report from their worktrees' instances), recorded once.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, messages, prompt, script, spawnCall, until, waitIdle } from "./scenario.js";


let fx: Fixture;
before(async () => {
  fx = await startFixture({ pluginDir: dropInPlugin });
});
after(async () => {
  await fx?.stop();
});

const userTexts = async (session: string) =>
  (await messages(fx, session))
    .filter((m) => m.info.role === "user")
    .map((m) => m.parts.map((p) => (p as { text?: string }).text ?? "").join(""));

test("an idle coordinator gets one message when its workers finish, and only one", async () => {
  const EPIC = "wake-epic";
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator", [{ tool_calls: [spawnCall(EPIC, "k1", 1000), spawnCall(EPIC, "k2", 1000)] }, { text: "spawned, going idle" }]),
  );
  await waitIdle(fx, coordinator.id);
  await until("both workers to complete", 60_000, async () =>
    loggedEvents(fx).filter((e) => e.type === "worker_completed").length === 2 ? true : undefined,
  );
  const wake = await until("the wake-up message", 30_000, async () =>
    (await userTexts(coordinator.id)).filter((t) => t.startsWith("[apiary]")).at(-1),
  );
  assert.match(wake, /^\[apiary\] [12] worker\(s\) finished: k[12] success \(epic wake-epic\)/);
  await waitIdle(fx, coordinator.id);
  // Both workers told, each once, whether in one message or two.
  const notices = loggedEvents(fx).filter((e) => e.type === "coordinator_notified");
  const told = notices.flatMap((e) => e.workers as string[]);
  assert.equal(told.length, 2, JSON.stringify(notices));
  assert.equal(new Set(told).size, 2);
  const wakes = (await userTexts(coordinator.id)).filter((t) => t.startsWith("[apiary]"));
  assert.equal(wakes.length, notices.length, "one message per record");
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
