// The npm package, listed in opencode.json's `plugin` (here as a file:// URL of the built
// package), loads in a real server and its tools work end to end, like the drop-in folder.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { startFixture, workspace, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, spawnCall, toolParts, until, waitIdle } from "./scenario.js";

let fx: Fixture;
before(async () => {
  const entry = pathToFileURL(path.join(workspace, "dist", "npm", "index.js")).href;
  fx = await startFixture({ config: { plugin: [entry] } });
});
after(async () => {
  await fx?.stop();
});

test("the npm package listed in opencode.json registers working swarm tools", async () => {
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(fx, coordinator.id, script("pkg", [{ tool_calls: [spawnCall("pkg", "p1", 200)] }, { text: "ok" }]));
  await waitIdle(fx, coordinator.id);
  const [spawn] = await toolParts(fx, coordinator.id);
  assert.equal(spawn?.state.status, "completed", JSON.stringify(spawn?.state));
  await until("the worker's completion", 30_000, async () =>
    loggedEvents(fx).some((e) => e.type === "worker_completed" && e.bead_id === "p1") ? true : undefined,
  );
  assert.deepEqual([...fx.offLoopback], []);
});
