// The OpenCode plugin: one core per plugin instance (OpenCode makes one per directory), the
// swarm tools, the hooks that hand the core what the server reports, and the core's
// background duties, started once and left to run.
import type { Hooks, Plugin } from "@opencode-ai/plugin";
import { registerAgents } from "./agents.js";
import { loadCore, type Options } from "./core.js";
import { makeHost } from "./host.js";
import { readOptionsFile, splitOptions, type LogPlace } from "./options.js";
import { serverClients } from "./servers.js";
import { findLogPath, openFileStore, repoRootOf, type LogStore } from "./store.js";
import { swarmTools } from "./tools.js";

/** Message events come at the rate a model streams; the core needs only their session. */
function reduce(type: string, properties: unknown): unknown {
  if (type !== "message.updated" && type !== "message.part.updated") return properties;
  const p = properties as { info?: { sessionID?: unknown }; part?: { sessionID?: unknown } } | null;
  return { sessionID: p?.info?.sessionID ?? p?.part?.sessionID };
}

/** The file log by default; with `postgres`, the log in that database (loaded only then, so
 * that the `pg` client is needed only by those who use it). */
async function openStore(root: string, place: LogPlace): Promise<LogStore> {
  if (place.postgres === undefined) return openFileStore(await findLogPath(root));
  const { openPostgresStore, logNameFor } = await import("./pgstore.js");
  const name = place.logName ?? (await logNameFor(repoRootOf(await findLogPath(root))));
  return openPostgresStore(place.postgres, name);
}

export const ApiaryPlugin: Plugin = async ({ client, directory, worktree }, options) => {
  const ApiaryCore = loadCore();
  const root = worktree || directory;
  const { core: settings, log, logins } = splitOptions({ ...readOptionsFile(root), ...(options ?? {}) });
  const servers = await serverClients(logins);
  const store = await openStore(root, log);
  const core = new ApiaryCore(makeHost(client, store, servers), settings as Options);
  core.setHome(directory);
  // Never awaited: a call to this instance's own server while it is still starting would
  // wait for the start, which waits for this function. The core waits a moment first.
  void core.runDuties();

  // Events are handed to the core one at a time, in the order the server sent them, so a
  // session's "busy" is always recorded before its "idle". Each call resolves once its own
  // event is recorded.
  let events: Promise<void> = Promise.resolve();
  const hooks: Hooks = {
    tool: swarmTools(core),
    // The coordinator agent `swarm`, the worker roles and `/swarm <goal>`, for the drop-in
    // folder and the npm package alike, with nothing to copy.
    config: async (config) => registerAgents(config),
    // A worker's edit, write and patch calls on files it does not own throw here, before they
    // run; OpenCode gives the model the error's message as the tool's result. The core knows
    // which tools write, and answers every other tool at once.
    // A coordinator's compaction keeps its swarm: the live epics' beads and what waits on it,
    // from the log, so that after it the coordinator carries on without guessing.
    "experimental.session.compacting": async ({ sessionID }, output) => {
      const context = await core.compactionContext(sessionID).catch(() => "");
      if (context) output.context.push(context);
    },
    "tool.execute.before": async (input, output) => {
      await core.guardWrite(input.sessionID, input.tool, output.args);
    },
    event: async ({ event }) => {
      const { type, properties } = event as { type: string; properties: unknown };
      const mine = events.then(() =>
        core.observe(type, reduce(type, properties)).catch((e: unknown) => {
          console.error(`[apiary] ${type}: ${e instanceof Error ? e.message : String(e)}`);
        }),
      );
      events = mine;
      await mine;
    },
  };
  return hooks;
};
