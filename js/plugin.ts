// The OpenCode plugin: one core per plugin instance (OpenCode makes one per directory), the
// swarm tools, and the event hook that tells the core when worker sessions go busy or idle.
import type { Hooks, Plugin } from "@opencode-ai/plugin";
import { loadCore, type Options } from "./core.js";
import { makeHost } from "./host.js";
import { findLogPath, openFileStore } from "./store.js";
import { swarmTools } from "./tools.js";

export const ApiaryPlugin: Plugin = async ({ client, directory, worktree }, options) => {
  const ApiaryCore = loadCore();
  const store = openFileStore(await findLogPath(worktree || directory));
  const core = new ApiaryCore(makeHost(client, store), options as Options | undefined);

  // Events are handed to the core one at a time, in the order the server sent them, so a
  // session's "busy" is always recorded before its "idle". Each call resolves once its own
  // event is recorded.
  let events: Promise<void> = Promise.resolve();
  const hooks: Hooks = {
    tool: swarmTools(core),
    event: async ({ event }) => {
      const { type, properties } = event as { type: string; properties: unknown };
      const mine = events.then(() =>
        core.observe(type, properties).catch((e: unknown) => {
          console.error(`[apiary] ${type}: ${e instanceof Error ? e.message : String(e)}`);
        }),
      );
      events = mine;
      await mine;
    },
  };
  return hooks;
};
