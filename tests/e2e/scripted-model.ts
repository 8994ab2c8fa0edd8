// A scripted OpenAI-compatible chat-completions server on loopback. It plays whatever agent it
// is asked to play: the script travels inside the conversation, so one server serves a
// coordinator and all its workers at once, and logs every request for the tests' assertions.
//
// A script is `<apiary-script>{"id": "...", "steps": [...]}</apiary-script>` in a user message.
// Step k answers the k-th model request that follows that message: send the role chunk, wait
// `delay_ms`, then reply with `text` and/or `tool_calls`. Past the last step the reply is "done".
// A script may also hold `retry_steps`: they replace `steps` when the user message is a retry's
// (Apiary's prompt for attempt 2 and later holds the same script and a "## This is attempt N"
// section), so a worker's first attempt can hang or fail and its retry complete.
//
// What OpenCode 1.18.33 sends (captured): always `stream: true` with
// `stream_options.include_usage`; content is a plain string; the title request has no `tools`
// key at all, a system prompt, "Generate a title for this conversation:" and then the user's
// message itself (script included), which is why it must never run a script; after a tool
// call the conversation ends `assistant {content: "", tool_calls}` + one `tool` message per call.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { appendFileSync } from "node:fs";
import type { AddressInfo } from "node:net";

export interface ScriptStep {
  delay_ms?: number;
  /** Hold the reply (before `delay_ms`) until `count` requests naming the same meeting `at` have
   * arrived, this one included, or `timeout_ms` (default 120 s) has passed. A meeting that is met
   * proves those requests were in flight at one moment, however slowly their sessions started. */
  meet?: { at: string; count: number; timeout_ms?: number };
  /** Answer with this HTTP error instead of a reply: a provider error. OpenCode retries every
   * error 5 times; the reply asks it to wait only 10 ms between tries (`retry-after-ms`). */
  error?: { status: number; message: string };
  text?: string;
  tool_calls?: { name: string; args: Record<string, unknown> }[];
}

export interface Script {
  id: string;
  steps: ScriptStep[];
  /** The steps of a retry's prompt (one that holds RETRY_MARK); `steps` when absent. */
  retry_steps?: ScriptStep[];
}

/** What Apiary's prompt for a retried bead holds (its `## This is attempt N` section). */
export const RETRY_MARK = "## This is attempt ";

export interface RequestRecord {
  script_id: string | null;
  step: number;
  started_at: number;
  ended_at: number | null;
  aborted: boolean;
  /** No tools offered: OpenCode's title request, answered without looking for a script. */
  title_request: boolean;
  /** The governing user message is a retry's prompt (holds RETRY_MARK). */
  retry: boolean;
  /** Outputs of the tool calls the previous step made (the request's trailing tool messages). */
  tool_results: string[];
  /** The names of the tools the request offered the model. */
  tools: string[];
  /** The text of the request's last user message (its last 4,000 characters). */
  last_user: string;
  reply: ScriptStep | null;
  /** Whether the step's meeting was met (null: the step has none). */
  met: boolean | null;
}

export interface ScriptedModel {
  /** The OpenAI base URL, `http://127.0.0.1:PORT/v1`. */
  url: string;
  port: number;
  /** Every chat-completions request, in arrival order; a record is completed when its reply ends. */
  requests: RequestRecord[];
  close(): Promise<void>;
  waitFor(pred: (r: RequestRecord[]) => boolean, timeoutMs: number): Promise<void>;
}

interface ChatMessage {
  role: string;
  content?: unknown;
}

const OPEN = "<apiary-script>";
const CLOSE = "</apiary-script>";
const TITLE = "Scripted session";

/** Message content is a string or an array of parts; only text parts count. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .map((p: unknown) => {
      const part = p as { type?: unknown; text?: unknown } | null;
      return part && part.type === "text" && typeof part.text === "string" ? part.text : "";
    })
    .join("\n");
}

/** The first script block in `text`. Scripts nest (a coordinator's tool arguments hold whole
 * worker scripts, closing tags included), so each later closing tag is tried in turn until the
 * text between parses as a script. */
export function findScript(text: string): Script | null {
  const start = text.indexOf(OPEN);
  if (start < 0) return null;
  for (let end = text.indexOf(CLOSE, start); end >= 0; end = text.indexOf(CLOSE, end + 1)) {
    try {
      const parsed = JSON.parse(text.slice(start + OPEN.length, end)) as { id?: unknown; steps?: unknown; retry_steps?: unknown };
      if (typeof parsed.id === "string" && Array.isArray(parsed.steps)) {
        const script: Script = { id: parsed.id, steps: parsed.steps as ScriptStep[] };
        if (Array.isArray(parsed.retry_steps)) script.retry_steps = parsed.retry_steps as ScriptStep[];
        return script;
      }
    } catch {
      // This closing tag belongs to a nested script: try the next one.
    }
  }
  return null;
}

/** The script that governs a request and the step it is at. The script comes from the LAST
 * user message that holds one, so prompting a session again with a new script starts that
 * script at step 0 (swarm.test.ts re-prompts its coordinator); user messages without a script
 * are passed over. The step is the number of assistant messages after that user message. A
 * retry's prompt follows the script's `retry_steps`, when it has some. */
function plan(messages: ChatMessage[]): (Script & { step: number; retry: boolean }) | null {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== "user") continue;
    const text = textOf(m.content);
    const script = findScript(text);
    if (!script) continue;
    const step = messages.slice(i + 1).filter((x) => x.role === "assistant").length;
    const retry = text.includes(RETRY_MARK);
    return { ...script, steps: (retry ? script.retry_steps : undefined) ?? script.steps, step, retry };
  }
  return null;
}

/** The contents of the `tool` messages at the end of the conversation, in order. */
function trailingToolResults(messages: ChatMessage[]): string[] {
  const out: string[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]!.role === "tool"; i--) {
    out.unshift(textOf(messages[i]!.content));
  }
  return out;
}

function frame(id: string, choices: unknown[], extra: object = {}): string {
  const body = { id, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model: "scripted-model", choices, ...extra };
  return `data: ${JSON.stringify(body)}\n\n`;
}

function delta(id: string, d: object, finish: string | null = null): string {
  return frame(id, [{ index: 0, delta: d, finish_reason: finish }]);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

export async function startScriptedModel(opts: { logFile?: string } = {}): Promise<ScriptedModel> {
  const requests: RequestRecord[] = [];
  let serial = 0;
  // Meetings by name: how many requests have arrived, and the wake-ups of those still waiting.
  const meetings = new Map<string, { arrived: number; wake: (() => void)[] }>();
  const meet = async (m: NonNullable<ScriptStep["meet"]>): Promise<boolean> => {
    const meeting = meetings.get(m.at) ?? { arrived: 0, wake: [] };
    meetings.set(m.at, meeting);
    meeting.arrived += 1;
    if (meeting.arrived >= m.count) meeting.wake.splice(0).forEach((w) => w());
    else {
      await new Promise<void>((r) => {
        const t = setTimeout(r, m.timeout_ms ?? 120_000);
        meeting.wake.push(() => (clearTimeout(t), r()));
      });
    }
    return meeting.arrived >= m.count;
  };

  const finish = (record: RequestRecord): void => {
    record.ended_at = Date.now();
    if (opts.logFile) appendFileSync(opts.logFile, JSON.stringify(record) + "\n");
  };

  async function complete(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: { messages?: ChatMessage[]; tools?: unknown[] };
    try {
      body = JSON.parse(await readBody(req)) as typeof body;
    } catch (e) {
      // OpenCode retries even a 400 for about 70 s: say why here, in the test's output.
      console.error(`scripted model: unreadable request body: ${String(e)}`);
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":{"message":"bad json"}}');
      return;
    }
    const messages = Array.isArray(body.messages) ? body.messages : [];
    const titleRequest = !Array.isArray(body.tools) || body.tools.length === 0;
    const p = titleRequest ? null : plan(messages);
    const reply: ScriptStep = titleRequest ? { text: TITLE } : p ? (p.steps[p.step] ?? { text: "done" }) : { text: "no script" };
    const record: RequestRecord = {
      script_id: p?.id ?? null,
      step: p?.step ?? 0,
      started_at: Date.now(),
      ended_at: null,
      aborted: false,
      title_request: titleRequest,
      retry: p?.retry ?? false,
      tool_results: trailingToolResults(messages),
      last_user: textOf(messages.filter((m) => m.role === "user").at(-1)?.content).slice(-4000),
      tools: (body.tools ?? []).map((t) => String((t as { function?: { name?: unknown } }).function?.name)),
      reply,
      met: null,
    };
    requests.push(record);

    // The client going away (a turn aborted, the server stopped) ends the reply early.
    let gone = false;
    res.on("close", () => {
      if (!res.writableFinished) gone = true;
    });
    const id = `chatcmpl-${++serial}`;
    if (reply.error) {
      res.writeHead(reply.error.status, { "content-type": "application/json", "retry-after-ms": "10" });
      res.end(JSON.stringify({ error: { message: reply.error.message, type: "invalid_request_error", code: null } }));
      finish(record);
      return;
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    res.write(delta(id, { role: "assistant", content: "" }));
    if (reply.meet) record.met = await meet(reply.meet);
    const delay = reply.delay_ms ?? 0;
    for (const until = Date.now() + delay; !gone && Date.now() < until; ) {
      await new Promise((r) => setTimeout(r, Math.min(25, until - Date.now())));
    }
    if (gone) {
      record.aborted = true;
      finish(record);
      return;
    }
    if (reply.text) res.write(delta(id, { content: reply.text }));
    const calls = reply.tool_calls ?? [];
    calls.forEach((c, index) => {
      const call = { index, id: `call_${serial}_${index}`, type: "function", function: { name: c.name, arguments: JSON.stringify(c.args ?? {}) } };
      res.write(delta(id, { tool_calls: [call] }));
    });
    res.write(delta(id, {}, calls.length ? "tool_calls" : "stop"));
    res.write(frame(id, [], { usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 } }));
    res.end("data: [DONE]\n\n");
    finish(record);
  }

  const server = createServer((req, res) => {
    const url = req.url ?? "";
    if (req.method === "GET" && url.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "scripted-model", object: "model", owned_by: "apiary" }] }));
    } else if (req.method === "POST" && url.endsWith("/chat/completions")) {
      complete(req, res).catch((e: unknown) => {
        console.error(`scripted model: ${String(e)}`);
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    } else {
      res.writeHead(404).end();
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
    async waitFor(pred, timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      while (!pred(requests)) {
        if (Date.now() > deadline) throw new Error(`scripted model: condition not met within ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}
