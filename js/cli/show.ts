// `opencode-apiary show <bead>`: a worker's last turn, read from the OpenCode server its session
// runs on. OpenCode lists only the sessions of the directory it is asked about, and a worker's
// session lives in its worktree: the log knows the session and the directory, so this asks the
// server for exactly that session there.
import { loadLogView } from "../core.js";
import type { ServerLogin } from "../options.js";
import type { Turn, TurnMessage } from "../page/turn.js";
import { shortInput } from "../page/turn.js";
import { unwrap } from "../sdk.js";
import type { WorkerRow } from "../wasm/apiary_core.js";
import type { LogOrigin } from "./source.js";

/** Where `opencode serve` listens unless told otherwise. */
export const DEFAULT_SERVER = "http://127.0.0.1:4096";
/** Messages read from the server: the last turn is the ones after the last prompt among them. */
export const DEFAULT_MESSAGES = 20;
const TIMEOUT_MS = 10_000;

/** What `show` cannot do, said to the person: an unknown bead, a server out of reach. */
export class ShowError extends Error {
  constructor(
    message: string,
    /** The dashboard's HTTP status for it. */
    readonly status: number,
  ) {
    super(message);
  }
}

/** The latest attempt of `bead` in the log, or a ShowError naming the beads there are. */
async function workerOf(origin: LogOrigin, bead: string): Promise<WorkerRow> {
  const View = loadLogView();
  const view = new View();
  try {
    const source = origin.open();
    for (let chunk = await source.read(); ; chunk = await source.read()) {
      if (chunk.restart) continue;
      view.feed(chunk.bytes);
      break;
    }
    const epics = view.overview(Date.now()).epics;
    const rows = epics.flatMap((e) => e.workers);
    const row = rows.filter((w) => w.bead_id === bead).at(-1);
    if (row) return row;
    const queued = epics.flatMap((e) => e.queue).find((q) => q.bead_id === bead);
    if (queued) throw new ShowError(`bead ${bead} has no session yet: ${queued.state} (${queued.reason})`, 404);
    const known = [...new Set(rows.map((w) => w.bead_id))];
    const named = known.slice(-10).join(", ");
    const more = known.length > 10 ? ` and ${known.length - 10} more` : "";
    throw new ShowError(`no bead ${bead} in ${origin.label}; ${known.length === 0 ? "no worker has started yet" : `the latest: ${named}${more}`}`, 404);
  } finally {
    view.free();
  }
}

/** OpenCode's server password (HTTP basic auth): a `servers` entry's, else the environment's,
 * as `opencode serve` reads it. */
function authFor(url: string, logins: readonly ServerLogin[]): Record<string, string> {
  const login = logins.find((l) => l.url === url);
  const password = login ? login.password : process.env.OPENCODE_SERVER_PASSWORD;
  const username = (login ? login.username : process.env.OPENCODE_SERVER_USERNAME) ?? "opencode";
  return password ? { Authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` } : {};
}

interface SdkPart {
  type: string;
  text?: string;
  synthetic?: boolean;
  tool?: string;
  state?: { status: string; input?: Record<string, unknown>; output?: string; error?: string };
}
interface SdkMessage {
  info: { role: string; time: { created: number } };
  parts: SdkPart[];
}

/** The messages from the last prompt on, each cut to its text and its tool calls. */
export function lastTurn(messages: readonly SdkMessage[]): TurnMessage[] {
  let start = messages.length - 1;
  while (start > 0 && messages[start]!.info.role !== "user") start--;
  return messages.slice(start).map((m) => ({
    role: m.info.role,
    at: m.info.time.created,
    parts: m.parts.flatMap((p): TurnMessage["parts"] => {
      if (p.type === "text" && p.text && !p.synthetic) return [{ type: "text", text: p.text }];
      if (p.type === "tool" && p.state) {
        return [
          {
            type: "tool",
            tool: p.tool ?? "?",
            status: p.state.status,
            input: shortInput(p.state.input),
            ...(p.state.output === undefined ? {} : { output: p.state.output }),
            ...(p.state.error === undefined ? {} : { error: p.state.error }),
          },
        ];
      }
      return [];
    }),
  }));
}

/** The last turn of `bead`'s latest attempt, from `server` (else the server it ran on, else
 * the default address). */
export async function showWorker(origin: LogOrigin, bead: string, server: string | undefined, limit = DEFAULT_MESSAGES): Promise<Turn> {
  const w = await workerOf(origin, bead);
  const url = server ?? w.server ?? DEFAULT_SERVER;
  let createOpencodeClient: typeof import("@opencode-ai/sdk/client").createOpencodeClient;
  try {
    ({ createOpencodeClient } = await import("@opencode-ai/sdk/client"));
  } catch {
    throw new ShowError(
      "show needs the OpenCode SDK (@opencode-ai/sdk), which OpenCode installs beside @opencode-ai/plugin; none is found from here",
      500,
    );
  }
  const client = createOpencodeClient({ baseUrl: url, headers: authFor(url, origin.logins()) });
  let result;
  try {
    result = await client.session.messages({
      path: { id: w.session_id },
      query: { ...(w.directory ? { directory: w.directory } : {}), limit },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    const cause = e instanceof Error ? ((e.cause as Error | undefined)?.message ?? e.message) : String(e);
    throw new ShowError(`cannot reach the OpenCode server at ${url} (${cause}); pass --server URL, the address OpenCode listens on`, 502);
  }
  let messages: SdkMessage[];
  try {
    messages = unwrap(result) as unknown as SdkMessage[];
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new ShowError(`the OpenCode server at ${url} has no session ${w.session_id} of bead ${bead} (${why}); is it the server the worker ran on? (--server URL)`, 502);
  }
  if (!Array.isArray(messages)) {
    throw new ShowError(`${url} did not answer as an OpenCode server does; pass --server URL, the address OpenCode listens on`, 502);
  }
  return {
    bead_id: w.bead_id,
    attempt: w.attempt,
    state: w.state,
    agent: w.agent,
    session_id: w.session_id,
    directory: w.directory ?? null,
    server: url,
    read: messages.length,
    messages: lastTurn(messages),
  };
}
