// What workers spend, on a real server: the scripted model answers with OpenAI `usage` and the
// test provider prices its model, so OpenCode records real token counts and costs on each
// reply. Four workers run; the log's `worker_usage` totals equal the sums over the sessions'
// assistant messages as the server returns them, and poll shows them per worker and per epic.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, spawnCall, toolParts, until, waitIdle } from "./scenario.js";

let fx: Fixture;
before(async () => {
  // Re-prompted after its workers finish: a wake-up turn in between would move its script on.
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { wake_coordinator: false } });
});
after(async () => {
  await fx?.stop();
});

const EPIC = "usage-epic";
const BEADS = ["u1", "u2", "u3", "u4"];

interface Spent {
  tokens: number;
  micros: number;
  replies: number;
}

test("an epic's spend in the log equals what the server recorded on its workers' replies", async () => {
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator", [{ tool_calls: BEADS.map((b) => spawnCall(EPIC, b, 0)) }, { text: "spawned" }]),
  );
  await waitIdle(fx, coordinator.id);
  // Each worker's turn ends after its last reply: then its usage is counted.
  const counted = await until("every worker's usage counted", 120_000, async () => {
    const events = loggedEvents(fx);
    const done = events.filter((e) => e.type === "worker_completed").length === BEADS.length;
    const usage = events.filter((e) => e.type === "worker_usage");
    const beads = new Set(usage.map((e) => e.bead_id));
    return done && BEADS.every((b) => beads.has(b)) ? usage : undefined;
  });
  const spawned = loggedEvents(fx).filter((e) => e.type === "worker_spawned");
  const fromLog = new Map<string, Spent>();
  for (const e of counted) {
    const s = fromLog.get(String(e.session_id)) ?? { tokens: 0, micros: 0, replies: 0 };
    for (const k of ["input", "output", "reasoning", "cache_read", "cache_write"]) s.tokens += Number(e[k]);
    s.micros += Number(e.cost_micros);
    s.replies += Number(e.replies);
    fromLog.set(String(e.session_id), s);
  }
  let epicTokens = 0;
  let epicMicros = 0;
  for (const w of spawned) {
    const session = String(w.session_id);
    const res = await fx.client.session.messages({ path: { id: session }, query: { directory: String(w.directory) } });
    const replies = (res.data ?? []).map((m) => m.info).filter((i) => i.role === "assistant");
    const server: Spent = { tokens: 0, micros: 0, replies: replies.length };
    for (const i of replies) {
      if (i.role !== "assistant") continue;
      const t = i.tokens;
      server.tokens += t.input + t.output + t.reasoning + t.cache.read + t.cache.write;
      server.micros += Math.round(i.cost * 1e6);
    }
    assert.ok(server.tokens > 0 && server.micros > 0, `the server priced ${session}'s replies: ${JSON.stringify(server)}`);
    assert.deepEqual(fromLog.get(session), server, `${w.bead_id}: the log against the server`);
    epicTokens += server.tokens;
    epicMicros += server.micros;
  }
  // Counted once each, however many turn ends and instances saw them.
  assert.equal(counted.length, BEADS.length, JSON.stringify(counted));

  await prompt(
    fx,
    coordinator.id,
    script("coordinator-poll", [{ tool_calls: [{ name: "swarm_poll_workers", args: { epic_id: EPIC } }] }, { text: "ok" }]),
  );
  const poll = await until("the poll", 60_000, async () =>
    (await toolParts(fx, coordinator.id)).find((p) => p.tool === "swarm_poll_workers" && p.state.status === "completed"),
  );
  const output = poll.state.output!;
  const cents = Math.floor((epicMicros + 5_000) / 10_000);
  const money = `$${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, "0")}`;
  assert.ok(output.includes(`\nspent: ${epicTokens} tok ${money}\n`), output);
  for (const b of BEADS) assert.match(output, new RegExp(`\\n  ${b} success .* \\d+ tok \\$\\d+\\.\\d\\d`), output);
  assert.deepEqual([...fx.offLoopback], [], "the server made no connection off loopback");
});
