// Building blocks for end-to-end scenarios: scripts for the scripted model, waits on the real
// server, and readers for what Apiary recorded.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { Fixture } from "./fixture.js";

export interface ToolCall {
  name: string;
  args: Record<string, unknown>;
}
export interface Step {
  delay_ms?: number;
  /** Hold the reply until `count` requests of the meeting `at` are in flight (see the scripted model). */
  meet?: { at: string; count: number; timeout_ms?: number };
  /** An HTTP error answer instead of a reply (see the scripted model). */
  error?: { status: number; message: string };
  text?: string;
  tool_calls?: ToolCall[];
}

/** A script block the scripted model follows when it finds it in a user message; a retry's
 * prompt (Apiary's attempt 2 and later) follows `retrySteps` instead, when given. */
export function script(id: string, steps: Step[], retrySteps?: Step[]): string {
  const body = retrySteps ? { id, steps, retry_steps: retrySteps } : { id, steps };
  return `<apiary-script>${JSON.stringify(body)}</apiary-script>`;
}

/** A worker that "works" for `ms`, then reports with swarm_complete; `work` adds to that step. */
export function workerScript(bead: string, ms: number, extra: Step[] = [], work: Step = {}): string {
  return script(`worker-${bead}`, [
    ...extra,
    {
      ...work,
      delay_ms: ms,
      tool_calls: [
        { name: "swarm_complete", args: { bead_id: bead, summary: `did ${bead}`, files_touched: [] } },
      ],
    },
    { text: `${bead} finished` },
  ]);
}

export function spawnCall(epic: string, bead: string, workerMs: number, extra: Step[] = [], work: Step = {}): ToolCall {
  return {
    name: "swarm_spawn_async",
    args: {
      bead_id: bead,
      epic_id: epic,
      title: `task ${bead}`,
      description: `Scripted task.\n${workerScript(bead, workerMs, extra, work)}`,
      files: [`src/${bead}.txt`],
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once `check` returns a value other than undefined; rejects with `what` on timeout. */
export async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

export interface ToolPart {
  type: "tool";
  tool: string;
  state: { status: string; output?: string; input?: unknown; time?: { start: number; end?: number } };
}

type MessageList = { info: { role: string; time: { completed?: number } }; parts: { type: string }[] }[];

export async function messages(fx: Fixture, sessionID: string): Promise<MessageList> {
  const res = await fx.client.session.messages({ path: { id: sessionID } });
  return (res.data ?? []) as unknown as MessageList;
}

/** The session's finished tool calls, in order. */
export async function toolParts(fx: Fixture, sessionID: string): Promise<ToolPart[]> {
  return (await messages(fx, sessionID))
    .flatMap((m) => m.parts)
    .filter((p): p is ToolPart => p.type === "tool") as ToolPart[];
}

/** Waits until the session is not busy and its last assistant message is complete. */
export async function waitIdle(fx: Fixture, sessionID: string, timeoutMs = 60_000): Promise<void> {
  await until(`session ${sessionID} to finish its turn`, timeoutMs, async () => {
    const status = ((await fx.client.session.status()).data ?? {}) as Record<string, unknown>;
    if (status[sessionID]) return undefined;
    const last = (await messages(fx, sessionID)).filter((m) => m.info.role === "assistant").at(-1);
    return last?.info.time.completed ? true : undefined;
  });
}

export async function prompt(fx: Fixture, sessionID: string, text: string): Promise<void> {
  const res = await fx.client.session.promptAsync({ path: { id: sessionID }, body: { parts: [{ type: "text", text }] } });
  if (res.error) throw new Error(`promptAsync failed: ${JSON.stringify(res.error)}`);
}

export interface LoggedEvent {
  seq: number;
  type: string;
  timestamp: number;
  [field: string]: unknown;
}

/** The events Apiary recorded in the fixture's repository. */
export function loggedEvents(fx: Fixture): LoggedEvent[] {
  let text = "";
  try {
    text = readFileSync(path.join(fx.repo, ".git", "apiary", "events.jsonl"), "utf8");
  } catch {
    return [];
  }
  // A line still being written has no newline yet: only whole lines are read.
  return text
    .slice(0, text.lastIndexOf("\n") + 1)
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as LoggedEvent);
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
