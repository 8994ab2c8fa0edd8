// Messages on a real server: a worker asks its coordinator (importance high) and ends its turn;
// poll shows it blocked with the question; the idle coordinator is prompted with the message
// once; the coordinator's urgent answer reaches the waiting worker as a prompt, which finishes
// its bead; and after a server restart the whole conversation is still in the inboxes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { dropInPlugin, startFixture, type Fixture } from "./fixture.js";
import { loggedEvents, messages, prompt, script, toolParts, until, waitIdle } from "./scenario.js";

let fx: Fixture;
before(async () => {
  fx = await startFixture({ pluginDir: dropInPlugin, apiaryOptions: { worktrees: false, wake_coordinator: false } });
});
after(async () => {
  await fx?.stop();
});

const EPIC = "mail-epic";
const BEAD = "asker";

/** Runs one tool call in the coordinator's session and returns its output. */
async function coordinatorCalls(id: string, scriptId: string, name: string, args: Record<string, unknown>): Promise<string> {
  const before = (await toolParts(fx, id)).length;
  await prompt(fx, id, script(scriptId, [{ tool_calls: [{ name, args }] }, { text: "ok" }]));
  const part = await until(`${scriptId}'s ${name} call`, 60_000, async () => {
    const done = (await toolParts(fx, id)).slice(before).filter((p) => p.state.status === "completed" || p.state.status === "error");
    return done[0];
  });
  await waitIdle(fx, id);
  return part.state.output ?? "";
}

test("a worker's question blocks it in poll, reaches the idle coordinator once, and the urgent answer resumes it", async () => {
  const worker = script(`worker-${BEAD}`, [
    {
      tool_calls: [
        {
          name: "swarm_send",
          args: { to: ["coordinator"], subject: "Which database?", body: "Postgres or SQLite?", importance: "high" },
        },
      ],
    },
    { text: "asked; waiting for the answer" },
    { tool_calls: [{ name: "swarm_complete", args: { bead_id: BEAD, summary: "used the answer", files_touched: [] } }] },
    { text: "done" },
  ]);
  const coordinator = (await fx.client.session.create({ body: { title: "coordinator" } })).data!;
  const spawned = await coordinatorCalls(coordinator.id, "coordinator-spawn", "swarm_spawn_async", {
    bead_id: BEAD,
    epic_id: EPIC,
    title: "pick a database",
    description: worker,
    files: [],
  });
  assert.match(spawned, /^starting asker /);

  // The question is recorded and delivered to the coordinator, as a prompt, once.
  await until("the question delivered to the coordinator", 60_000, async () =>
    loggedEvents(fx).some((e) => e.type === "message_delivered" && e.recipient === "coordinator") ? true : undefined,
  );
  await waitIdle(fx, coordinator.id);
  const userTexts = (await messages(fx, coordinator.id))
    .filter((m) => m.info.role === "user")
    .map((m) => (m.parts as { type: string; text?: string }[]).map((p) => p.text ?? "").join(""));
  const told = userTexts.filter((t) => t.startsWith("[apiary] message(s) from your workers:"));
  assert.equal(told.length, 1, userTexts.join("\n---\n"));
  assert.match(told[0]!, /from asker \(high\) .*: Which database\?\n {4}Postgres or SQLite\?/);

  const poll = await coordinatorCalls(coordinator.id, "coordinator-poll", "swarm_poll_workers", { epic_id: EPIC });
  assert.match(poll, /in progress:\n {2}asker blocked \S+(?: \S+ tok \S+)?: asks: Which database\?/);

  const answer = await coordinatorCalls(coordinator.id, "coordinator-answer", "swarm_send", {
    to: [BEAD],
    subject: "SQLite",
    body: "Use SQLite for now.",
    importance: "urgent",
  });
  assert.match(answer, /^sent m-\w+ \(urgent\); asker: delivered as a prompt$/);
  await until("the worker completed after the answer", 60_000, async () =>
    loggedEvents(fx).some((e) => e.type === "worker_completed" && e.bead_id === BEAD) ? true : undefined,
  );
  const workerSession = String(loggedEvents(fx).find((e) => e.type === "worker_spawned")!.session_id);
  const prompts = (await messages(fx, workerSession))
    .filter((m) => m.info.role === "user")
    .map((m) => (m.parts as { type: string; text?: string }[]).map((p) => p.text ?? "").join(""));
  assert.equal(prompts.filter((t) => t.startsWith("[apiary] urgent message(s) for you:")).length, 1);

  // After a restart the conversation is still there, with what became of each message.
  await fx.restart();
  const inbox = await coordinatorCalls(coordinator.id, "coordinator-inbox", "swarm_inbox", {});
  assert.match(inbox, /^1 message\(s\) for coordinator, 1 unread:\n\* m-\w+ from asker \(high\) \S+ ago: Which database\?/);
  assert.match(inbox, /sent by you:\n {2}m-\w+ to asker: SQLite: asker got it \S+ ago \(prompt\)/);
});
