// The tools' schemas, as the model reads them, against the core's own bounds: one table, so a
// value the schema lets through is one the core takes, and the first value past a bound is
// refused by both.
import { test } from "node:test";
import assert from "node:assert/strict";
import { tool } from "@opencode-ai/plugin";
import { loadCore, type ArgLimit } from "../../dist/npm/core.js";
import { swarmTools } from "../../dist/npm/tools.js";
import { makeHost } from "../../dist/npm/host.js";
import { memoryStore } from "../../dist/npm/store.js";
import { fakeClient } from "./writer.js";

const Core = loadCore();
const limits = Core.argLimits() as ArgLimit[];
const core = new Core(makeHost(fakeClient("tools"), memoryStore()), { worktrees: false });
const tools = swarmTools(core);

function schemaOf(l: ArgLimit) {
  const shape = tools[l.tool]?.args as Record<string, unknown> | undefined;
  assert.ok(shape?.[l.arg], `${l.tool} has no argument ${l.arg}`);
  return tool.schema.object(shape as never).shape[l.arg] as { safeParse(v: unknown): { success: boolean } };
}

test("every bounded argument's schema takes exactly the core's bounds", () => {
  assert.ok(limits.length >= 7, JSON.stringify(limits));
  for (const l of limits) {
    const schema = schemaOf(l);
    const name = `${l.tool}.${l.arg}`;
    if (l.values) {
      for (const v of l.values) assert.ok(schema.safeParse(v).success, `${name} refuses ${v}`);
      assert.ok(!schema.safeParse("none-of-these").success, `${name} takes any string`);
    } else {
      assert.ok(schema.safeParse(l.min).success, `${name} refuses its min ${l.min}`);
      assert.ok(schema.safeParse(l.max).success, `${name} refuses its max ${l.max}`);
      assert.ok(!schema.safeParse(l.max! + 1).success, `${name} takes ${l.max! + 1}`);
      if (l.min! > 0) assert.ok(!schema.safeParse(l.min! - 1).success, `${name} takes ${l.min! - 1}`);
    }
  }
});

test("the core refuses the first value past a bound that the schema refuses", async () => {
  const over = (name: string) => limits.find((l) => `${l.tool}.${l.arg}` === name)!.max! + 1;
  await assert.rejects(core.history({ limit: over("swarm_log.limit") }), /limit/);
  await assert.rejects(
    core.awaitWorkers({ session_id: "s", directory: "/r" }, { epic_id: "ep", poll_interval_ms: over("swarm_await_workers.poll_interval_ms") }, Promise.resolve()),
    /poll_interval_ms/,
  );
  await assert.rejects(
    core.awaitWorkers({ session_id: "s", directory: "/r" }, { epic_id: "ep", timeout_ms: over("swarm_await_workers.timeout_ms") }, Promise.resolve()),
    /timeout_ms/,
  );
});
