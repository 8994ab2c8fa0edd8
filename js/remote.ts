// Running a script on another OpenCode server, for the workers' worktrees there: the server's
// own shell command (`session.shell`) in a short-lived session of the clone's directory. The
// script travels base64-encoded, so no shell on the way (the server's user shell, which may be
// bash, zsh or fish) reads any of it; `sh` runs it as written.
import { unwrap, type OpencodeClient } from "./sdk.js";

/** The shell command's output, from the session's messages: its tool part's output (or its
 * error, when the command could not run). */
function shellOutput(messages: unknown): string {
  const list = Array.isArray(messages) ? (messages as Array<{ parts?: unknown[] }>) : [];
  for (const message of list.slice().reverse()) {
    for (const part of message.parts ?? []) {
      const p = part as { type?: string; state?: { status?: string; output?: unknown; error?: unknown } };
      if (p.type !== "tool" || !p.state) continue;
      if (p.state.status === "completed" && typeof p.state.output === "string") return p.state.output;
      if (p.state.status === "error") throw new Error(`the server's shell failed: ${String(p.state.error)}`);
    }
  }
  throw new Error("the server's shell gave no output");
}

/** The agents of the server behind `client` for `directory`, each with its mode. */
export async function remoteAgents(client: OpencodeClient, directory: string): Promise<{ name: string; mode: string }[]> {
  const agents = unwrap(await client.app.agents({ query: { directory } })) ?? [];
  return agents.map((a) => ({ name: a.name, mode: a.mode }));
}

/** Runs `script` with `sh` in `directory` on the server behind `client`, its shell command
 * recorded under `agent`; resolves to what it printed. The helper session is deleted
 * afterwards, whatever happened. */
export async function runRemote(client: OpencodeClient, directory: string, script: string, agent: string): Promise<string> {
  const query = { directory };
  const session = unwrap(await client.session.create({ body: { title: "apiary: worktree" }, query }));
  try {
    const command = `printf '%s' ${Buffer.from(script, "utf8").toString("base64")} | base64 -d | sh`;
    unwrap(await client.session.shell({ path: { id: session.id }, query, body: { agent, command } }));
    return shellOutput(unwrap(await client.session.messages({ path: { id: session.id }, query })));
  } finally {
    await client.session.delete({ path: { id: session.id }, query }).catch(() => undefined);
  }
}
