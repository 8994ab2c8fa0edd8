// A scripted OpenAI-compatible chat-completions server on loopback. It plays whatever agent it
// is asked to play: the script travels inside the conversation, so one server serves a
// coordinator and all its workers at once, and logs every request for the tests' assertions.
//
// A script is `<apiary-script>{"id": "...", "steps": [...]}</apiary-script>` in a user message.
// Step k answers the k-th model request that follows that message: wait `delay_ms`, then reply
// with `text` and/or `tool_calls`. Past the last step the reply is "done".
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { appendFileSync } from "node:fs";
import type { AddressInfo } from "node:net";

export interface ScriptStep {
  delay_ms?: number;
  text?: string;
  tool_calls?: { name: string; args: Record<string, unknown> }[];
}

export interface RequestRecord {
  script_id: string | null;
  step: number;
  started_at: number;
  ended_at: number | null;
  aborted: boolean;
  title_request: boolean;
  /** Outputs of the tool calls the previous step made (the request's trailing tool messages). */
  tool_results: string[];
  reply: ScriptStep | null;
}

export interface ScriptedModel {
  url: string;
  port: number;
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

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((p: { type?: string; text?: string }) => (p && p.type === "text" && typeof p.text === "string" ? p.text : ""))
      .join("\n");
  }
  return "";
}

/** The first script block in `text`. Scripts nest (a coordinator's tool arguments hold whole
 * worker scripts), so each closing tag is tried in turn until the JSON between parses. */
export function findScript(text: string): { id: string; steps: ScriptStep[] } | null {
  const start = text.indexOf(OPEN);
  if (start < 0) return null;
  for (let end = text.indexOf(CLOSE, start); end >= 0; end = text.indexOf(CLOSE, end + 1)) {
    try {
      const parsed = JSON.parse(text.slice(start + OPEN.length, end)) as { id?: unknown; steps?: unknown };
      if (typeof parsed.id === "string" && Array.isArray(parsed.steps)) {
        return { id: parsed.id, steps: parsed.steps as ScriptStep[] };
      }
    } catch {
      // A closing tag inside a nested script: try the next one.
    }
  }
  return null;
}

/** The script that governs this request: the last user message holding one (so a later prompt
 * with a new script starts over), and the step = assistant messages after that message. */
function plan(messages: ChatMessage[]): { id: string; steps: ScriptStep[]; step: number } | null {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i]!;
    if (m.role !== "user") continue;
    const script = findScript(textOf(m.content));
    if (!script) continue;
    const step = messages.slice(i + 1).filter((x) => x.role === "assistant").length;
    return { ...script, step };
  }
  return null;
}

function trailingToolResults(messages: ChatMessage[]): string[] {
  const out: string[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]!.role === "tool"; i--) {
    out.unshift(textOf(messages[i]!.content));
  }
  return out;
}

function chunk(res: ServerResponse, id: string, delta: object, finish: string | null = null): void {
  const frame = {
    id,
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model: "scripted-model",
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  res.write(`data: ${JSON.stringify(frame)}\n\n`);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const p of req) parts.push(p as Buffer);
  return Buffer.concat(parts).toString("utf8");
}

export async function startScriptedModel(opts: { logFile?: string } = {}): Promise<ScriptedModel> {
  const requests: RequestRecord[] = [];
  let calls = 0;

  const server = createServer(async (req, res) => {
    if (req.method === "GET" && req.url?.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "scripted-model", object: "model", owned_by: "apiary" }] }));
      return;
    }
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(await readBody(req)) as { messages?: ChatMessage[]; tools?: unknown[] };
    const messages = body.messages ?? [];
    const titleRequest = !body.tools || body.tools.length === 0;
    const p = titleRequest ? null : plan(messages);
    const reply: ScriptStep | null = titleRequest
      ? { text: "Scripted session" }
      : p
        ? (p.steps[p.step] ?? { text: "done" })
        : { text: "no script" };
    const record: RequestRecord = {
      script_id: p?.id ?? null,
      step: p?.step ?? 0,
      started_at: Date.now(),
      ended_at: null,
      aborted: false,
      title_request: titleRequest,
      tool_results: trailingToolResults(messages),
      reply,
    };
    requests.push(record);

    const id = `chatcmpl-${++calls}`;
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" });
    chunk(res, id, { role: "assistant", content: "" });
    let gone = false;
    res.on("close", () => (gone = !res.writableFinished));
    const delay = reply?.delay_ms ?? 0;
    for (let waited = 0; waited < delay && !gone; waited += 25) {
      await new Promise((r) => setTimeout(r, Math.min(25, delay - waited)));
    }
    if (gone) {
      record.aborted = true;
      record.ended_at = Date.now();
      return;
    }
    if (reply?.text) chunk(res, id, { content: reply.text });
    const calls_ = reply?.tool_calls ?? [];
    calls_.forEach((c, index) =>
      chunk(res, id, {
        tool_calls: [
          { index, id: `call_${calls}_${index}`, type: "function", function: { name: c.name, arguments: JSON.stringify(c.args) } },
        ],
      }),
    );
    chunk(res, id, {}, calls_.length ? "tool_calls" : "stop");
    res.write(
      `data: ${JSON.stringify({
        id,
        object: "chat.completion.chunk",
        created: Math.floor(Date.now() / 1000),
        model: "scripted-model",
        choices: [],
        usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 },
      })}\n\n`,
    );
    res.write("data: [DONE]\n\n");
    res.end();
    record.ended_at = Date.now();
    if (opts.logFile) appendFileSync(opts.logFile, JSON.stringify(record) + "\n");
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
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
