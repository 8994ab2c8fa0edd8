// Files a worker owns, on a real server: a spawn whose files overlap a running worker's waits
// for them and starts when that worker ends; and a worker's write outside its own files is
// stopped before it runs (the plugin's tool.execute.before hook in the worker's own instance,
// in its worktree), while a write to a file it owns goes through.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, prompt, script, spawnCall, until, waitIdle, type ToolPart } from "./scenario.js";

let fx: Fixture;
before(async () => {
  // No ready worktrees: a worker's script names its files by its worktree's path before the
  // spawn, and only a worktree made at the start is at `.apiary/worktrees/<bead>`.
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { wake_coordinator: false, worktree_pool: 0 } });
});
after(async () => {
  await fx?.stop();
});

const completedAt = (bead: string) =>
  loggedEvents(fx).find((e) => e.type === "worker_completed" && e.bead_id === bead)?.timestamp;

test("a spawn on files a running worker holds is queued, named, and starts when that worker ends", async () => {
  const EPIC = "files-epic";
  const owner = spawnCall(EPIC, "owner", 2500);
  const overlapping = spawnCall(EPIC, "later", 500);
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator-files", [
      { tool_calls: [{ ...owner, args: { ...owner.args, files: ["src/**"] } }] },
      { tool_calls: [{ ...overlapping, args: { ...overlapping.args, files: ["./src/later.txt"] } }] },
      { text: "spawned" },
    ]),
  );
  await waitIdle(fx, coordinator.id);
  const replies = ((await fx.client.session.messages({ path: { id: coordinator.id } })).data ?? [])
    .flatMap((m) => m.parts)
    .filter((p) => p.type === "tool") as unknown as ToolPart[];
  assert.equal(
    replies[1]!.state.output,
    "queued later (epic files-epic) at #1: files held by owner: src/later.txt ~ src/**; it starts by itself",
  );
  await until("both workers completed", 90_000, async () => (completedAt("later") ? true : undefined));
  const laterSpawned = loggedEvents(fx).find((e) => e.type === "worker_spawned" && e.bead_id === "later")!;
  assert.ok(laterSpawned.timestamp >= completedAt("owner")!, "later started only after owner completed");
});

test("a worker's write outside its files is stopped and the file never appears; its own file is written", async () => {
  const EPIC = "guard-epic";
  const bead = "guarded";
  const tree = path.join(fx.repo, ".apiary", "worktrees", bead);
  const worker = script(`worker-${bead}`, [
    { tool_calls: [{ name: "write", args: { filePath: path.join(tree, "notes", "mine.txt"), content: "mine\n" } }] },
    { tool_calls: [{ name: "write", args: { filePath: path.join(tree, "outside.txt"), content: "nope\n" } }] },
    { tool_calls: [{ name: "swarm_complete", args: { bead_id: bead, summary: "tried", files_touched: ["notes/mine.txt"] } }] },
    { text: "done" },
  ]);
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator-guard", [
      {
        tool_calls: [
          {
            name: "swarm_spawn_async",
            args: { bead_id: bead, epic_id: EPIC, title: "write notes", description: worker, files: ["notes/**"] },
          },
        ],
      },
      { text: "spawned" },
    ]),
  );
  await until("the guarded worker completed", 90_000, async () => (completedAt(bead) ? true : undefined));
  const session = String(loggedEvents(fx).find((e) => e.type === "worker_spawned" && e.bead_id === bead)!.session_id);
  const parts = ((await fx.client.session.messages({ path: { id: session }, query: { directory: tree } })).data ?? [])
    .flatMap((m) => m.parts)
    .filter((p) => p.type === "tool" && (p as unknown as ToolPart).tool === "write") as unknown as (ToolPart & {
    state: { error?: string };
  })[];
  assert.equal(parts.length, 2);
  assert.equal(parts[0]!.state.status, "completed", JSON.stringify(parts[0]!.state));
  assert.equal(readFileSync(path.join(tree, "notes", "mine.txt"), "utf8"), "mine\n");
  assert.equal(parts[1]!.state.status, "error", JSON.stringify(parts[1]!.state));
  assert.match(
    parts[1]!.state.error ?? "",
    /refused: guarded owns only notes\/\*\*; outside\.txt is not one of them\. Nothing was changed\./,
  );
  assert.ok(!existsSync(path.join(tree, "outside.txt")), "the refused write never ran");
  // What the model was told is the refusal, as its tool result.
  const told = fx.model.requests.filter((r) => r.script_id === `worker-${bead}`).flatMap((r) => r.tool_results);
  assert.ok(told.some((t) => t.includes("guarded owns only notes/**")), told.join("\n"));
});

test("the plugin registers the coordinator, the worker roles and /swarm, and a worker runs as one of them", async () => {
  const roles = readdirSync(path.join(dropInPlugin, "apiary", "agents")).map((f) => f.replace(/\.md$/, ""));
  assert.deepEqual(roles.sort(), ["fullstack-developer", "integration-tester", "security-specialist", "session-manager", "swarm", "task-architect"]);
  // Nothing copied into .opencode/agent/: the plugin's config hook adds them.
  const agents = (await fx.client.app.agents()).data ?? [];
  for (const r of roles) assert.ok(agents.some((a) => a.name === r), `${r} is an agent: ${agents.map((a) => a.name).join(", ")}`);
  const swarm = agents.find((a) => a.name === "swarm")!;
  assert.equal(swarm.mode, "primary");
  assert.match(swarm.prompt ?? "", /swarm_spawn_async/);
  const commands = (await fx.client.command.list()).data ?? [];
  const command = commands.find((c) => c.name === "swarm");
  assert.ok(command, `commands: ${commands.map((c) => c.name).join(", ")}`);
  assert.equal(command.agent, "swarm");
  assert.match(command.template, /\$ARGUMENTS/);

  const bead = "tester";
  const call = spawnCall("roles-epic", bead, 200);
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  await prompt(
    fx,
    coordinator.id,
    script("coordinator-roles", [{ tool_calls: [{ ...call, args: { ...call.args, agent: "integration-tester" } }] }, { text: "spawned" }]),
  );
  await until("the tester completed", 90_000, async () => (completedAt(bead) ? true : undefined));
  const spawned = loggedEvents(fx).find((e) => e.type === "worker_spawned" && e.bead_id === bead)!;
  assert.equal(spawned.agent, "integration-tester");
  const tree = String(spawned.directory);
  const info = ((await fx.client.session.messages({ path: { id: String(spawned.session_id) }, query: { directory: tree } })).data ?? [])
    .map((m) => m.info as { role: string; mode?: string; agent?: string })
    .filter((i) => i.role === "assistant");
  assert.ok(info.length > 0 && info.every((i) => (i.agent ?? i.mode) === "integration-tester"), JSON.stringify(info));

  // The worker is offered its own tools, never the coordinator's nor `question`.
  const offered = fx.model.requests.filter((r) => r.script_id === `worker-${bead}`).map((r) => r.tools);
  assert.ok(offered.length > 0);
  for (const tools of offered) {
    assert.ok(tools.includes("swarm_complete") && tools.includes("swarm_send"), tools.join(", "));
    for (const off of ["swarm_spawn_async", "swarm_worktree_merge", "swarm_cancel", "question"]) assert.ok(!tools.includes(off), `${off} offered`);
  }
  const coordinatorTools = fx.model.requests.find((r) => r.script_id === "coordinator-roles")!.tools;
  assert.ok(coordinatorTools.includes("swarm_spawn_async"), coordinatorTools.join(", "));
});

test("a user's own agent named swarm is left as the user wrote it", async () => {
  const dir = path.join(fx.repo, ".opencode", "agent");
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "swarm.md"), "---\ndescription: my own swarm agent\nmode: subagent\n---\nMine.\n");
  try {
    await fx.restart();
    const agents = (await fx.client.app.agents()).data ?? [];
    const swarm = agents.find((a) => a.name === "swarm")!;
    assert.equal(swarm.description, "my own swarm agent");
    assert.equal(swarm.mode, "subagent");
    assert.equal(swarm.prompt?.trim(), "Mine.");
    // The roles it did not define are still added.
    assert.ok(agents.some((a) => a.name === "task-architect"));
  } finally {
    rmSync(path.join(dir, "swarm.md"));
  }
});
