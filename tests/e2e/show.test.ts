// `opencode-apiary show <bead>` and the dashboard's panel on a real server: a worker runs a
// scripted turn with a tool call in its own worktree, and its text and tool call are read back
// from OpenCode, where its session is not among the coordinator directory's sessions.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startDashboard } from "../../dist/npm/cli/dashboard.js";
import type { Turn } from "../../dist/npm/page/turn.js";
import { cli } from "../js/cli-run.js";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, spawnCall, until } from "./scenario.js";

let fx: Fixture;
before(async () => {
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { wake_coordinator: false } });
});
after(async () => {
  await fx?.stop();
});

const BEAD = "shown";

test("show prints a worker's last turn, its text and its tool call, from the server it ran on", async () => {
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  const bash = { name: "bash", args: { command: "echo hello from the worker", description: "Say hello" } };
  await prompt(fx, coordinator.id, script("show", [{ tool_calls: [spawnCall("show-epic", BEAD, 100, [{ tool_calls: [bash] }])] }, { text: "ok" }]));
  const session = await until("the worker's session", 60_000, async () =>
    loggedEvents(fx).find((e) => e.type === "worker_spawned" && e.bead_id === BEAD)?.session_id as string | undefined,
  );
  await until("the worker's report", 60_000, async () =>
    loggedEvents(fx).some((e) => e.type === "worker_completed" && e.bead_id === BEAD) ? true : undefined,
  );
  const directory = loggedEvents(fx).find((e) => e.type === "worker_spawned" && e.bead_id === BEAD)!.directory as string;
  // Its closing reply follows its report.
  await until("the worker's closing text", 30_000, async () => {
    const r = cli("show", BEAD, "--dir", fx.repo, "--server", fx.baseUrl);
    return r.code === 0 && r.stdout.includes(`${BEAD} finished`) ? r : undefined;
  });

  const r = cli("show", BEAD, "--dir", fx.repo, "--server", fx.baseUrl);
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout;
  assert.match(out, new RegExp(`^bead ${BEAD} · attempt 1 · success · agent build$`, "m"));
  assert.ok(out.includes(`session ${session} in ${directory} on ${fx.baseUrl}`), out);
  assert.match(out, /^ {2}✓ bash completed {2}command="echo hello from the worker" description="Say hello"$/m);
  assert.match(out, /^ {6}hello from the worker$/m);
  assert.match(out, /^ {2}✓ swarm_complete completed {2}bead_id="shown"/m);
  assert.match(out, new RegExp(`^  ${BEAD} finished$`, "m"));
  // The prompt opens the turn, cut to its first line.
  assert.match(out, /^user \d\d:\d\d:\d\dZ$/m);

  const json = JSON.parse(cli("show", BEAD, "--dir", fx.repo, "--server", fx.baseUrl, "--json").stdout) as Turn;
  const tools = json.messages.flatMap((m) => m.parts).filter((p) => p.type === "tool");
  assert.deepEqual(
    tools.map((t) => (t.type === "tool" ? [t.tool, t.status] : [])),
    [
      ["bash", "completed"],
      ["swarm_complete", "completed"],
    ],
  );

  // The dashboard asks the same of OpenCode through its own server.
  const dashboard = await startDashboard({ dir: fx.repo }, 0, fx.baseUrl);
  try {
    const res = await fetch(`${dashboard.url}show?bead=${BEAD}`);
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as Turn).messages, json.messages);
    const unknown = await fetch(`${dashboard.url}show?bead=nobody`);
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { error: string }).error, /^no bead nobody in /);
  } finally {
    await dashboard.close();
  }
});
