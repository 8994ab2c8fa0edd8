// The end-to-end fixture itself, with no plugin: a real `opencode serve` follows the scripted
// model's scripts (text, delays, a built-in tool call, a retry's own steps), runs sessions in
// parallel, reports an aborted turn, survives a restart, and never leaves loopback.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startFixture, type Fixture } from "./fixture.js";
import type { RequestRecord } from "./scripted-model.js";
import { messages, prompt, script, until, waitIdle } from "./scenario.js";

let fx: Fixture;
before(async () => {
  const t0 = Date.now();
  fx = await startFixture({});
  console.log(`fixture ready in ${Date.now() - t0} ms (${fx.root})`);
});
after(async () => {
  await fx?.stop();
});

/** A new session. Without a title OpenCode asks the model for one; with a title it does not. */
async function newSession(title?: string): Promise<string> {
  const res = await fx.client.session.create({ body: title === undefined ? {} : { title } });
  assert.ok(res.data, `session.create failed: ${JSON.stringify(res.error)}`);
  return res.data.id;
}

/** The text of the session's last assistant message. */
async function lastReply(sessionID: string): Promise<string> {
  const last = (await messages(fx, sessionID)).filter((m) => m.info.role === "assistant").at(-1);
  const parts = (last?.parts ?? []) as { type: string; text?: string }[];
  return parts
    .filter((p) => p.type === "text")
    .map((p) => p.text ?? "")
    .join("");
}

const turn = (id: string, step = 0): RequestRecord | undefined =>
  fx.model.requests.find((r) => r.script_id === id && r.step === step);

test("a scripted text reply reaches the session", async () => {
  const id = await newSession();
  const t0 = Date.now();
  await prompt(fx, id, script("text", [{ delay_ms: 500, text: "hello from script" }]));
  await waitIdle(fx, id);
  console.log(`first prompt to idle: ${Date.now() - t0} ms`);
  assert.equal(await lastReply(id), "hello from script");
  const r = turn("text");
  assert.ok(r, "the model saw the scripted request");
  assert.equal(r.aborted, false);
  assert.ok(r.ended_at! - r.started_at >= 500, "the step's delay was served");
  // The untitled session also made OpenCode ask for a title: a request without tools, which
  // holds the user's script too and must not run it.
  await fx.model.waitFor((rs) => rs.some((x) => x.title_request && x.script_id === null), 5_000);
});

test("two sessions' scripted turns meet: both are in flight at one moment", async () => {
  const [a, b] = await Promise.all([newSession("a"), newSession("b")]);
  const step = (text: string) => ({ meet: { at: "overlap", count: 2 }, delay_ms: 500, text });
  await Promise.all([
    prompt(fx, a, script("overlap-a", [step("a done")])),
    prompt(fx, b, script("overlap-b", [step("b done")])),
  ]);
  await Promise.all([waitIdle(fx, a), waitIdle(fx, b)]);
  assert.equal(await lastReply(a), "a done");
  assert.equal(await lastReply(b), "b done");
  const ra = turn("overlap-a");
  const rb = turn("overlap-b");
  assert.ok(ra?.ended_at && rb?.ended_at, "both turns finished");
  assert.deepEqual([ra.met, rb.met], [true, true]);
  const lastStart = Math.max(ra.started_at, rb.started_at);
  const firstEnd = Math.min(ra.ended_at, rb.ended_at);
  assert.ok(lastStart < firstEnd, `turns overlap: last start ${lastStart} < first end ${firstEnd}`);
});

test("a meeting nobody else comes to is given up at its timeout, and says so", async () => {
  const id = await newSession("alone");
  await prompt(fx, id, script("alone", [{ meet: { at: "alone", count: 2, timeout_ms: 300 }, text: "alone done" }]));
  await waitIdle(fx, id);
  assert.equal(await lastReply(id), "alone done");
  assert.equal(turn("alone")?.met, false);
});

test("a scripted bash tool call runs and its output reaches the next request", async () => {
  const id = await newSession("bash");
  await prompt(
    fx,
    id,
    script("bash", [
      { tool_calls: [{ name: "bash", args: { command: "echo hi from bash", description: "Say hi" } }] },
      { text: "bash said hi" },
    ]),
  );
  await waitIdle(fx, id);
  const next = turn("bash", 1);
  assert.ok(next, "the model was asked for step 1 after the tool call");
  assert.equal(next.tool_results.length, 1);
  assert.match(next.tool_results[0]!, /hi from bash/);
  assert.equal(await lastReply(id), "bash said hi");
});

test("a retry's prompt follows the script's retry_steps, a first prompt its steps", async () => {
  const steps = [{ text: "first attempt" }];
  const retrySteps = [{ text: "second attempt" }];
  const first = await newSession("attempt 1");
  await prompt(fx, first, `Task.\n${script("attempts", steps, retrySteps)}`);
  await waitIdle(fx, first);
  assert.equal(await lastReply(first), "first attempt");
  const retry = await newSession("attempt 2");
  await prompt(fx, retry, `Task.\n${script("attempts", steps, retrySteps)}\n## This is attempt 2\nThe attempt before ended.`);
  await waitIdle(fx, retry);
  assert.equal(await lastReply(retry), "second attempt");
  const asked = fx.model.requests.filter((r) => r.script_id === "attempts");
  assert.deepEqual(asked.map((r) => r.retry), [false, true]);
});

test("a turn aborted during its delay is recorded as aborted", async () => {
  const id = await newSession("abort");
  await prompt(fx, id, script("abort", [{ delay_ms: 20_000, text: "never sent" }]));
  await fx.model.waitFor(() => turn("abort") !== undefined, 30_000);
  await fx.client.session.abort({ path: { id } });
  await fx.model.waitFor(() => turn("abort")!.aborted, 5_000);
  assert.notEqual(await lastReply(id), "never sent");
});

test("restart serves again on the same port and keeps the sessions", async () => {
  const id = await newSession("before restart");
  const t0 = Date.now();
  await fx.restart();
  console.log(`restart: ready in ${Date.now() - t0} ms`);
  const got = await fx.client.session.get({ path: { id } });
  assert.equal(got.data?.id, id, `session.get after restart: ${JSON.stringify(got.error)}`);
  await prompt(fx, id, script("after-restart", [{ text: "still here" }]));
  await until("the reply after restart", 30_000, async () => ((await lastReply(id)) === "still here" ? true : undefined));
  await waitIdle(fx, id);
});

test("the server made no connection off loopback", () => {
  assert.deepEqual([...fx.offLoopback], []);
});
