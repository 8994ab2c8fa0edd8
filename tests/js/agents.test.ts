// The agents and the command the plugin's config hook registers, read from the package's
// shipped definitions; a user's own of the same name is never replaced.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { parseAgent, registerAgents, shippedAgents, SWARM_COMMAND } from "../../dist/npm/agents.js";
import type { Config } from "@opencode-ai/plugin";
import { workspace } from "./cli-run.js";

const packaged = pathToFileURL(path.join(workspace, "dist", "npm", "agents") + "/");

test("an agent file's frontmatter becomes its config, nested permissions included, and its body the prompt", () => {
  const agent = parseAgent("---\ndescription: Does things: well\nmode: all\ntemperature: 0.2\npermission:\n  edit: deny\n  bash: allow\nhidden: true\n---\nYou do things.\n");
  assert.deepEqual(agent, {
    description: "Does things: well",
    mode: "all",
    temperature: 0.2,
    permission: { edit: "deny", bash: "allow" },
    hidden: true,
    prompt: "You do things.",
  });
  assert.throws(() => parseAgent("no frontmatter"), /no frontmatter/);
  assert.throws(() => parseAgent("---\n: nothing\n---\n"), /cannot read the line/);
});

test("the package ships the coordinator and five worker roles, none of which may ask", () => {
  const agents = shippedAgents(packaged);
  assert.deepEqual(Object.keys(agents).sort(), ["fullstack-developer", "integration-tester", "security-specialist", "session-manager", "swarm", "task-architect"]);
  assert.equal(agents.swarm!.mode, "primary");
  for (const [name, a] of Object.entries(agents) as [string, NonNullable<(typeof agents)[string]>][]) {
    assert.ok((a.prompt ?? "").length > 200, `${name} has a prompt`);
    // A background worker's question would wait for an answer nobody sees.
    assert.ok(!JSON.stringify(a.permission ?? {}).includes("ask"), `${name} never asks`);
  }
  // The coordinator's prompt is context on every turn: it stays short.
  assert.ok(agents.swarm!.prompt!.length < 2000, `${agents.swarm!.prompt!.length} characters`);
});

test("the config hook adds the agents and /swarm, and leaves the user's own of the same name", () => {
  const mine = { description: "my swarm", mode: "subagent" as const, prompt: "Mine." };
  const config: Config = { agent: { swarm: mine }, command: {} };
  registerAgents(config, shippedAgents(packaged));
  assert.deepEqual(config.agent!.swarm, mine);
  assert.equal(config.agent!["task-architect"]!.mode, "all");
  assert.deepEqual(config.command!.swarm, SWARM_COMMAND);

  const theirs = { template: "their own $ARGUMENTS" };
  const other: Config = { command: { swarm: theirs } };
  registerAgents(other, {});
  assert.equal(other.command!.swarm, theirs);
});
