// Running a script on another OpenCode server (`runRemote`), against a stand-in server whose
// shell command really runs the command it is given with `sh`, as OpenCode's does.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { remoteAgents, runRemote } from "../../dist/npm/remote.js";
import type { OpencodeClient } from "../../dist/npm/host.js";

interface Server {
  client: OpencodeClient;
  /** Agents the shell was asked to run under, in order. */
  agents: string[];
  deleted: string[];
}

/** A server with these agents; its shell fails for an agent it lacks, and `broken` makes the
 * command's tool part end in error. */
function server(agents: { name: string; mode: string }[], broken = false): Server {
  const s: Server = { client: undefined as unknown as OpencodeClient, agents: [], deleted: [] };
  let output = "";
  const client = {
    session: {
      async create() {
        return { data: { id: "ses_helper" } };
      },
      async shell(o: { body: { agent: string; command: string }; query: { directory: string } }) {
        s.agents.push(o.body.agent);
        if (!agents.some((a) => a.name === o.body.agent)) return { error: { name: "NotFoundError", data: { message: `agent ${o.body.agent}` } } };
        output = execFileSync("sh", ["-c", o.body.command], { cwd: o.query.directory, encoding: "utf8" });
        return { data: { id: "msg_1" } };
      },
      async messages() {
        const state = broken ? { status: "error", error: "shell died" } : { status: "completed", output };
        return { data: [{ info: { role: "user" }, parts: [] }, { info: { role: "assistant" }, parts: [{ type: "tool", tool: "bash", state }] }] };
      },
      async delete(o: { path: { id: string } }) {
        s.deleted.push(o.path.id);
        return { data: true };
      },
    },
    app: {
      async agents() {
        return { data: agents };
      },
    },
  };
  s.client = client as unknown as OpencodeClient;
  return s;
}

const BUILD = [{ name: "build", mode: "primary" }];
/** Quotes, dollars, backquotes and newlines: what no shell on the way may read. */
const SCRIPT = `printf '%s\\n' "it's \\$HOME \\\`x\\\`"\necho "second line"; pwd\n`;

test("a script reaches sh as written, runs in the directory, and the helper session is deleted", async () => {
  const s = server(BUILD);
  const out = await runRemote(s.client, "/tmp", SCRIPT, "build");
  assert.equal(out, "it's $HOME `x`\nsecond line\n/tmp\n");
  assert.deepEqual(s.agents, ["build"]);
  assert.deepEqual(s.deleted, ["ses_helper"]);
});

test("the script runs under the agent the core names, and the server's agents are listed with their modes", async () => {
  const agents = [{ name: "helper", mode: "subagent" }, { name: "review", mode: "primary" }];
  const s = server(agents);
  assert.equal(await runRemote(s.client, "/tmp", "echo ok", "review"), "ok\n");
  assert.deepEqual(s.agents, ["review"]);
  await assert.rejects(runRemote(s.client, "/tmp", "echo ok", "build"), /NotFoundError: agent build/);
  assert.deepEqual(s.deleted, ["ses_helper", "ses_helper"]);
  assert.deepEqual(await remoteAgents(s.client, "/tmp"), agents);
});

test("a shell that fails is an error that says so, and the helper session is still deleted", async () => {
  const s = server(BUILD, true);
  await assert.rejects(runRemote(s.client, "/tmp", "echo ok", "build"), /the server's shell failed: shell died/);
  assert.deepEqual(s.deleted, ["ses_helper"]);
});
