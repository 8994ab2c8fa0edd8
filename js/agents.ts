// The agents and the command the plugin registers through OpenCode's `config` hook: the
// coordinator `swarm`, the worker roles and `/swarm <goal>`. Their definitions are the
// Markdown files in `agents/` beside this module (the same format as `.opencode/agent/*.md`),
// so a person reads and copies exactly what the plugin registers. A user's own agent or
// command of the same name wins: the hook only fills names that are free.
import { readdirSync, readFileSync } from "node:fs";
import type { Config } from "@opencode-ai/plugin";

type AgentConfig = NonNullable<Config["agent"]>[string];
type CommandConfig = NonNullable<Config["command"]>[string];

/** A scalar of the frontmatter: a number, true/false, or text. */
function scalar(text: string): unknown {
  if (text === "true" || text === "false") return text === "true";
  if (/^-?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text.replace(/^"(.*)"$/, "$1");
}

/** The agent files' frontmatter: `key: value` lines, and maps one level deep (`permission:`
 * then indented `edit: allow`), which is all the format the roles use. */
export function parseAgent(source: string): AgentConfig {
  const match = /^---\n([\s\S]*?)\n---\n?([\s\S]*)$/.exec(source);
  if (!match) throw new Error("no frontmatter");
  const agent: Record<string, unknown> = {};
  let map: Record<string, unknown> | undefined;
  for (const line of match[1]!.split("\n")) {
    if (!line.trim()) continue;
    const kv = /^(\s*)([\w.-]+):\s*(.*)$/.exec(line);
    if (!kv) throw new Error(`cannot read the line "${line}"`);
    const [, indent, key, value] = kv as unknown as [string, string, string, string];
    if (indent && map) map[key] = scalar(value);
    else if (!value) agent[key] = map = {};
    else {
      agent[key] = scalar(value);
      map = undefined;
    }
  }
  agent.prompt = match[2]!.trim();
  return agent as AgentConfig;
}

/** The definitions shipped beside this module, by name. */
export function shippedAgents(dir = new URL("./agents/", import.meta.url)): Record<string, AgentConfig> {
  const agents: Record<string, AgentConfig> = {};
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".md")).sort()) {
    try {
      agents[file.slice(0, -3)] = parseAgent(readFileSync(new URL(file, dir), "utf8"));
    } catch (e) {
      console.error(`[apiary] agents/${file}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  return agents;
}

export const SWARM_COMMAND: CommandConfig = {
  description: "Run a goal as a swarm of parallel workers, then merge",
  agent: "swarm",
  template: "Goal: $ARGUMENTS\n\nRun this goal as a swarm, as your instructions say: plan the beads, spawn them in one step, await, review, merge, check, report.",
};

/** Adds the shipped agents and `/swarm` where the user's configuration has no such name. */
export function registerAgents(config: Config, agents: Record<string, AgentConfig> = shippedAgents()): void {
  const own = (config.agent ??= {});
  for (const [name, agent] of Object.entries(agents)) {
    if (!(name in own)) own[name] = agent;
  }
  const commands = (config.command ??= {});
  if (!("swarm" in commands)) commands.swarm = SWARM_COMMAND;
}
