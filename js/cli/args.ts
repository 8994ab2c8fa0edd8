// The command line's arguments: one command, then `--name value` options. Every mistake is
// refused with what is wrong and the usage, before any file is read.

export const USAGE = `usage: opencode-apiary <command> [options]

commands:
  status      epics and workers: state, progress, duration, and the queue
  log         the events, one a line (--follow keeps printing new ones)
  stats       durations (p50, p95), success rate, retries, tokens and cost, per epic, agent and model
  replay      the status as of --seq N or --at TIME
  show BEAD   a worker's last turn: its messages' text and its tool calls, from the
              OpenCode server its session runs on
  dashboard   a live page on 127.0.0.1, with a secret token in its address

options:
  --dir DIR       a directory in the repository (default: the current one)
  --log FILE      the log file itself (default: <git dir>/apiary/events.jsonl)
  --postgres URL  the log in PostgreSQL instead (default: the option postgres of the
                  repository's .opencode/apiary.json, as the plugin reads it)
  --log-name NAME its name there (default: the option log_name, else the origin remote)
  --json          JSON for scripts instead of aligned text
  --epic ID       only this epic (status, log, stats)
  --bead ID       only this bead (log)
  --session ID    only this session (log)
  --type T[,T]    only these event types (log)
  --limit N       only the last N events (log); messages read from the server (show,
                  default 20: the last turn is those after the last prompt)
  --server URL    the OpenCode server the worker's session is on (show, dashboard;
                  default: the server the log says it ran on, else http://127.0.0.1:4096,
                  where \`opencode serve\` listens; OPENCODE_SERVER_PASSWORD is sent if set)
  --follow        keep printing events as they are appended (log)
  --seq N         replay up to event N
  --at TIME       replay up to a time: ISO 8601 or milliseconds since the epoch
  --port N        the dashboard's port (default: any free one)

exit status: 0 done, 1 usage, no log, an unknown epic or bead, or no server to ask, 2 the log
is damaged (the part before the damage is shown, and where the damage is)`;

export type Command = "status" | "log" | "stats" | "replay" | "show" | "dashboard";
const COMMANDS: readonly Command[] = ["status", "log", "stats", "replay", "show", "dashboard"];

export interface Args {
  command: Command;
  dir: string;
  log?: string;
  postgres?: string;
  logName?: string;
  json: boolean;
  epic?: string;
  bead?: string;
  session?: string;
  types?: string[];
  limit?: number;
  follow: boolean;
  seq?: number;
  at?: number;
  port?: number;
  server?: string;
}

export class UsageError extends Error {}

const VALUE_OPTIONS = ["dir", "log", "postgres", "log-name", "epic", "bead", "session", "type", "limit", "seq", "at", "port", "server"] as const;
const FLAGS = ["json", "follow"] as const;
/** Which commands each option means something to; elsewhere it is refused, not ignored. */
const ONLY: Record<string, readonly Command[]> = {
  epic: ["status", "log", "stats"],
  bead: ["log"],
  session: ["log"],
  type: ["log"],
  limit: ["log", "show"],
  follow: ["log"],
  seq: ["replay"],
  at: ["replay"],
  port: ["dashboard"],
  server: ["show", "dashboard"],
  json: ["status", "log", "stats", "replay", "show"],
};

function whole(name: string, text: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, not "${text}"`);
  }
  return Number(text);
}

/** ISO 8601 (`2026-11-29T10:41:00Z`) or milliseconds since the epoch. */
export function parseTime(text: string): number {
  if (/^\d+$/.test(text)) return Number(text);
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) {
    throw new UsageError(`--at takes an ISO 8601 time or milliseconds since the epoch, not "${text}"`);
  }
  return ms;
}

export function parseArgs(argv: readonly string[]): Args | "help" {
  if (argv.length === 0 || argv.includes("--help") || argv.includes("-h") || argv[0] === "help") return "help";
  const [first, ...rest] = argv;
  const command = COMMANDS.find((c) => c === first);
  if (!command) throw new UsageError(`unknown command "${first}"; one of: ${COMMANDS.join(", ")}`);
  const values = new Map<string, string>();
  const flags = new Set<string>();
  // `show BEAD`: the one argument that is not an option.
  let bead: string | undefined;
  if (command === "show") {
    bead = rest[0]?.startsWith("--") === false ? rest.shift() : undefined;
    if (bead === undefined) throw new UsageError("show needs a bead: opencode-apiary show BEAD");
  }
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i] ?? "";
    const [name, inline] = arg.startsWith("--") ? arg.slice(2).split(/=(.*)/s, 2) : [undefined, undefined];
    if (name === undefined) throw new UsageError(`unexpected argument "${arg}"`);
    if ((FLAGS as readonly string[]).includes(name)) {
      if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
      flags.add(name);
    } else if ((VALUE_OPTIONS as readonly string[]).includes(name)) {
      const value = inline ?? rest[++i];
      if (value === undefined || value === "") throw new UsageError(`--${name} needs a value`);
      if (values.has(name)) throw new UsageError(`--${name} is given twice`);
      values.set(name, value);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
    const only = ONLY[name];
    if (only && !only.includes(command)) {
      throw new UsageError(`--${name} does not apply to ${command} (only to ${only.join(", ")})`);
    }
  }
  const get = (n: string) => values.get(n);
  const args: Args = {
    command,
    dir: get("dir") ?? ".",
    log: get("log"),
    postgres: get("postgres"),
    logName: get("log-name"),
    json: flags.has("json"),
    follow: flags.has("follow"),
    epic: get("epic"),
    bead: bead ?? get("bead"),
    session: get("session"),
    types: get("type")?.split(",").map((t) => t.trim()).filter((t) => t !== ""),
  };
  const limit = get("limit");
  if (limit !== undefined) args.limit = whole("limit", limit, 1);
  const seq = get("seq");
  if (seq !== undefined) args.seq = whole("seq", seq, 1);
  const at = get("at");
  if (at !== undefined) args.at = parseTime(at);
  const port = get("port");
  if (port !== undefined) args.port = whole("port", port, 0, 65535);
  const server = get("server");
  if (server !== undefined) {
    if (!/^https?:\/\/[^/]/.test(server) || !URL.canParse(server)) throw new UsageError(`--server takes an http:// or https:// URL, not "${server}"`);
    args.server = server.replace(/\/+$/, "");
  }
  if (command === "replay" && (args.seq === undefined) === (args.at === undefined)) {
    throw new UsageError("replay needs exactly one of --seq N or --at TIME");
  }
  return args;
}
