// The path a person takes: `/swarm <goal>` in OpenCode runs the plugin's coordinator agent,
// which spawns its workers in one step, awaits them, merges each and reports; and a
// compaction of the coordinator's session keeps its live epics (the plugin's
// `experimental.session.compacting` hook), read from the log.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, script, until, waitIdle, type Step } from "./scenario.js";

let fx: Fixture;
before(async () => {
  // The coordinator's script moves one step per model call: a wake-up turn would move it on.
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { wake_coordinator: false } });
});
after(async () => {
  await fx?.stop();
});

const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, encoding: "utf8" });

/** A worker that writes one file with a shell command, then reports. */
function writer(bead: string, ms = 0): string {
  const steps: Step[] = [
    { delay_ms: ms, tool_calls: [{ name: "bash", args: { command: `echo ${bead} > ${bead}.txt`, description: `write ${bead}.txt` } }] },
    { tool_calls: [{ name: "swarm_complete", args: { bead_id: bead, summary: `wrote ${bead}.txt`, files_touched: [`${bead}.txt`] } }] },
    { text: `${bead} finished` },
  ];
  return script(`worker-${bead}`, steps);
}

const spawn = (epic: string, bead: string, ms = 0) => ({
  name: "swarm_spawn_async",
  args: { bead_id: bead, epic_id: epic, title: `write ${bead}.txt`, description: writer(bead, ms), files: [`${bead}.txt`] },
});

test("/swarm <goal> runs the coordinator agent: three workers spawned in one step, awaited, merged, reported", async () => {
  const EPIC = "goal";
  const beads = ["bd-1", "bd-2", "bd-3"];
  const coordinator = script("coordinator-swarm", [
    { tool_calls: beads.map((b) => spawn(EPIC, b)) },
    { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: EPIC } }] },
    { tool_calls: beads.map((b) => ({ name: "swarm_worktree_merge", args: { bead_id: b } })) },
    { text: "Merged bd-1, bd-2 and bd-3." },
  ]);
  const session = (await fx.client.session.create({ body: { title: "swarm" } })).data!;
  const sent = await fx.client.session.command({ path: { id: session.id }, body: { command: "swarm", arguments: `write three files ${coordinator}` } });
  assert.equal(sent.error, undefined, JSON.stringify(sent.error));
  await until("the coordinator's report", 120_000, async () =>
    fx.model.requests.some((r) => r.script_id === "coordinator-swarm" && r.step === 3 && r.ended_at) ? true : undefined,
  );
  await waitIdle(fx, session.id);

  // The command's template carried the goal to the `swarm` agent.
  const first = fx.model.requests.find((r) => r.script_id === "coordinator-swarm")!;
  assert.match(first.last_user, /Goal: write three files/);
  const replies = ((await fx.client.session.messages({ path: { id: session.id } })).data ?? []).map((m) => m.info as { role: string; agent?: string; mode?: string });
  assert.ok(replies.filter((i) => i.role === "assistant").every((i) => (i.agent ?? i.mode) === "swarm"), JSON.stringify(replies));
  // The three spawns came in one step, and the three files are merged into the main tree.
  const spawned = loggedEvents(fx).filter((e) => e.type === "worker_spawned" && e.epic_id === EPIC);
  assert.deepEqual(spawned.map((e) => e.bead_id).sort(), beads);
  for (const b of beads) assert.equal(readFileSync(path.join(fx.repo, `${b}.txt`), "utf8"), `${b}\n`);
  assert.equal(git(fx.repo, "status", "--porcelain"), "");
  assert.equal(loggedEvents(fx).filter((e) => e.type === "worktree_merged").length, 3);
});

test("a compaction of the coordinator's session keeps its live epic's beads", async () => {
  const EPIC = "long";
  const session = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  const sent = await fx.client.session.promptAsync({
    path: { id: session.id },
    body: { parts: [{ type: "text", text: script("coordinator-long", [{ tool_calls: [spawn(EPIC, "slow-1", 20_000), spawn(EPIC, "slow-2", 20_000)] }, { text: "spawned" }]) }] },
  });
  assert.equal(sent.error, undefined);
  await waitIdle(fx, session.id);
  const before = fx.model.requests.length;
  const summarized = await fx.client.session.summarize({ path: { id: session.id }, body: { providerID: "scripted", modelID: "scripted-model" } });
  assert.equal(summarized.error, undefined, JSON.stringify(summarized.error));
  const asked = fx.model.requests.slice(before).map((r) => r.last_user).find((t) => t.includes("Apiary swarm you coordinate"));
  assert.ok(asked, "the compaction prompt has the swarm's context");
  assert.match(asked, /epic long:\n {2}(running|queued): slow-1, slow-2/);
});
