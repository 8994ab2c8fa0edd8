// A worker's last turn as `opencode-apiary show` prints it and the dashboard's panel shows it:
// shared by both (the page loads it as is, so nothing here needs Node).

/** A tool call, cut short: its name, status, input and what it returned. */
export interface TurnTool {
  type: "tool";
  tool: string;
  /** pending, running, completed or error (OpenCode's words). */
  status: string;
  input: string;
  output?: string;
  error?: string;
}

export interface TurnText {
  type: "text";
  text: string;
}

export interface TurnMessage {
  role: string;
  at: number;
  parts: (TurnText | TurnTool)[];
}

/** The worker, where its session is, and the messages of its last turn. */
export interface Turn {
  bead_id: string;
  attempt: number;
  state: string;
  agent: string;
  session_id: string;
  directory: string | null;
  server: string;
  /** Messages read from the server (the newest), and how many of them the last turn is. */
  read: number;
  messages: TurnMessage[];
}

const TEXT_LINES = 15;
const OUTPUT_LINES = 4;
const WIDTH = 160;

function cut(line: string, max = WIDTH): string {
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** At most `max` lines of `text`, each cut to the width, and how many more there were. */
function lines(text: string, max: number, indent: string): string[] {
  const all = text.replace(/\s+$/, "").split("\n");
  const shown = all.slice(0, max).map((l) => indent + cut(l));
  if (all.length > max) shown.push(`${indent}… ${all.length - max} more line(s)`);
  return shown;
}

/** A tool's input in one line: `key=value` pairs, the values as JSON. */
export function shortInput(input: Record<string, unknown> | undefined): string {
  const pairs = Object.entries(input ?? {}).map(([k, v]) => `${k}=${JSON.stringify(v) ?? "null"}`);
  return cut(pairs.join(" ").replace(/\s+/g, " "), 120);
}

/** OpenCode's tool status, with a sign a person reads at a glance. */
const SIGN: Record<string, string> = { completed: "✓", error: "✗", running: "…", pending: "·" };

function hhmmss(ms: number): string {
  return new Date(ms).toISOString().slice(11, 19);
}

export function turnText(t: Turn): string {
  const tools = t.messages.flatMap((m) => m.parts).filter((p) => p.type === "tool").length;
  const out = [
    `bead ${t.bead_id} · attempt ${t.attempt} · ${t.state} · agent ${t.agent}`,
    `session ${t.session_id}${t.directory ? ` in ${t.directory}` : ""} on ${t.server}`,
    t.messages.length === 0
      ? "no message in this session yet"
      : `the last turn: ${t.messages.length} message(s), ${tools} tool call(s)`,
  ];
  for (const m of t.messages) {
    out.push("", `${m.role} ${hhmmss(m.at)}Z`);
    for (const p of m.parts) {
      if (p.type === "text") {
        // A prompt carries the whole task: its first line says which.
        out.push(...lines(p.text, m.role === "user" ? 1 : TEXT_LINES, "  "));
      } else {
        out.push(`  ${SIGN[p.status] ?? "?"} ${p.tool} ${p.status}${p.input ? `  ${p.input}` : ""}`);
        if (p.error) out.push(...lines(`error: ${p.error}`, OUTPUT_LINES, "      "));
        else if (p.output) out.push(...lines(p.output, OUTPUT_LINES, "      "));
      }
    }
  }
  return out.join("\n");
}
