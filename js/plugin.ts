// The OpenCode plugin: one core per plugin instance (OpenCode makes one per directory), the
// swarm tools, and the event hook that tells the core when worker sessions go busy or idle.
import type { Hooks, Plugin } from "@opencode-ai/plugin";
import { loadCore, type ApiaryCore, type Options } from "./core.js";
import { makeHost } from "./host.js";
import { readOptionsFile } from "./options.js";
import { parseServers, watchServers } from "./servers.js";
import { findLogPath, openFileStore, repoRootOf, type LogStore } from "./store.js";
import { swarmTools } from "./tools.js";

/** How long after the plugin starts its background duties begin. */
const START_DELAY_MS = 500;
/** The tools that change files (OpenCode's names); the core checks them against what a worker
 * owns. Other tools never reach it. */
const WRITE_TOOLS = new Set(["edit", "write", "multiedit", "patch", "apply_patch"]);
/** The longest the scheduler waits for recovery before it starts anyway. */
const RECOVERY_WAIT_MS = 10_000;
/** The coordinators' safety-net recheck; log changes wake it sooner. */
const WATCH_INTERVAL_MS = 30_000;

/** Whenever the log changes (a worker in any instance or process finished, failed or went
 * quiet) and at least every WATCH_INTERVAL_MS: runs the scheduler, which starts queued workers,
 * retries, fails stalled ones and deletes old sessions, then tells idle coordinators about
 * finished workers; the coordinator's instance also shows a toast per worker outcome. The
 * scheduler names the next moment it has something to do (a backoff ending, a stall deadline)
 * and the loop wakes then. */
async function watch(core: ApiaryCore, store: LogStore, schedules: boolean): Promise<void> {
  for (;;) {
    const changed = store.logChanged();
    let wait = WATCH_INTERVAL_MS;
    if (schedules) {
      const due = await core.drain().catch((e: unknown) => (report("scheduling", e), 0));
      if (due > 0) wait = Math.min(wait, due);
      await core.toastNews().catch((e: unknown) => report("toasts", e));
    }
    await core.tellCoordinators().catch((e: unknown) => report("waking the coordinator", e));
    await Promise.race([changed, new Promise((r) => setTimeout(r, wait).unref?.())]);
  }
}

/** A worker's own OpenCode instance (its worktree) leaves scheduling to the coordinator's. */
export function isWorkerInstance(directory: string): boolean {
  return /[\\/]\.apiary[\\/]worktrees[\\/]/.test(directory);
}

/** Message events come at the rate a model streams; the core needs only their session. */
function reduce(type: string, properties: unknown): unknown {
  if (type !== "message.updated" && type !== "message.part.updated") return properties;
  const p = properties as { info?: { sessionID?: unknown }; part?: { sessionID?: unknown } } | null;
  return { sessionID: p?.info?.sessionID ?? p?.part?.sessionID };
}

function report(what: string, e: unknown): void {
  console.error(`[apiary] ${what}: ${e instanceof Error ? e.message : String(e)}`);
}

/** The options the shim acts on itself (where the log is); the rest go to the core. */
interface StorageOptions {
  /** A PostgreSQL connection string: the log lives there instead of in `.git/apiary/`. */
  postgres?: unknown;
  /** The log's name in that database; by default the repository's `origin` remote. */
  log_name?: unknown;
}

/** The file log by default; with `postgres`, the log in that database (loaded only then, so
 * that the `pg` client is needed only by those who use it). */
async function openStore(root: string, opts: StorageOptions): Promise<LogStore> {
  if (opts.postgres === undefined) {
    if (opts.log_name !== undefined) throw new Error("[apiary] option log_name needs option postgres");
    return openFileStore(await findLogPath(root));
  }
  if (typeof opts.postgres !== "string" || !/^postgres(ql)?:\/\//.test(opts.postgres)) {
    throw new Error("[apiary] option postgres must be a connection string: postgres://user@host:port/database");
  }
  if (opts.log_name !== undefined && (typeof opts.log_name !== "string" || opts.log_name === "")) {
    throw new Error("[apiary] option log_name must be a non-empty string");
  }
  const { openPostgresStore, logNameFor } = await import("./pgstore.js");
  const name = (opts.log_name as string | undefined) ?? (await logNameFor(repoRootOf(await findLogPath(root))));
  return openPostgresStore(opts.postgres, name);
}

export const ApiaryPlugin: Plugin = async ({ client, directory, worktree }, options) => {
  const ApiaryCore = loadCore();
  const root = worktree || directory;
  const { postgres, log_name, servers, ...settings } = { ...readOptionsFile(root), ...(options ?? {}) } as Options &
    StorageOptions & { servers?: unknown };
  const cluster = await parseServers(servers);
  const store = await openStore(root, { postgres, log_name });
  const core = new ApiaryCore(makeHost(client, store, cluster.clients), { ...settings, servers: cluster.core } as Options);
  core.setHome(directory);
  if (cluster.clients.size > 0 && !isWorkerInstance(directory)) {
    watchServers(core, cluster.clients, (e) => report("servers", e));
  }

  // Background duties, never awaited here: a call to this instance's own server while it is
  // still starting would wait for the start, which waits for this function.
  // 1. Recovery: workers whose turn a restart cut off are found and resumed.
  // 2. Scheduling and waking coordinators: runs for the plugin's lifetime, on log changes.
  // Unref'd timers: these duties never keep a process alive by themselves.
  // Recovery goes first: a worker a restart cut off is resumed in its own session, not taken
  // for a stalled one (its last activity is from before the restart) and retried afresh.
  // A recovery that hangs (a server slow to answer) holds the rest back RECOVERY_WAIT_MS at most.
  setTimeout(() => {
    const recovered = core.recover().catch((e: unknown) => report("recovery", e));
    const timeout = new Promise((r) => setTimeout(r, RECOVERY_WAIT_MS).unref?.());
    void Promise.race([recovered, timeout]).then(() => watch(core, store, !isWorkerInstance(directory)));
  }, START_DELAY_MS).unref?.();

  // Events are handed to the core one at a time, in the order the server sent them, so a
  // session's "busy" is always recorded before its "idle". Each call resolves once its own
  // event is recorded.
  let events: Promise<void> = Promise.resolve();
  const hooks: Hooks = {
    tool: swarmTools(core),
    // A worker's edit, write and patch calls on files it does not own throw here, before they
    // run; OpenCode gives the model the error's message as the tool's result.
    "tool.execute.before": async (input, output) => {
      if (WRITE_TOOLS.has(input.tool)) await core.guardWrite(input.sessionID, input.tool, output.args);
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
