// `ApiaryHost` over the OpenCode SDK client the plugin was given and a log store.
// Each method forwards one call; replies are decoded and judged by the core.
import { readFileSync } from "node:fs";
import * as os from "node:os";
import type { ApiaryHost } from "./wasm/apiary_core.js";
import type { LogStore } from "./store.js";
import { remoteAgents, runRemote } from "./remote.js";
import { unwrap, type OpencodeClient } from "./sdk.js";
import { runGit, runShell } from "./worktree.js";
import { warmInstance } from "./warm.js";

export type { OpencodeClient };

/** `query.directory` selects the OpenCode instance a call is about; none is the plugin's own. */
const at = (directory: string | undefined) => (directory === undefined ? {} : { directory });

/**
 * The host over the plugin's own client and, for sessions on the servers of the `servers`
 * option, a client per server (by url). A call about a server with no client is refused.
 */
export function makeHost(own: OpencodeClient, store: LogStore, servers: ReadonlyMap<string, OpencodeClient> = new Map()): ApiaryHost {
  const on = (server: string | undefined): OpencodeClient => {
    if (server === undefined) return own;
    const client = servers.get(server);
    if (!client) throw new Error(`no client for server ${server}: it is not in the servers option`);
    return client;
  };
  return {
    async createSession(parentId, title, directory, server) {
      const session = unwrap(await on(server).session.create({ body: { parentID: parentId, title }, query: at(directory) }));
      return session.id;
    },
    async deleteSession(id, directory, server) {
      unwrap(await on(server).session.delete({ path: { id }, query: at(directory) }));
    },
    async promptAsync({ sessionId, directory, server, text, agent, model, toolsOff, synthetic }) {
      const tools = toolsOff?.length ? { tools: Object.fromEntries(toolsOff.map((t) => [t, false])) } : {};
      unwrap(
        await on(server).session.promptAsync({
          path: { id: sessionId },
          query: at(directory),
          body: { parts: [{ type: "text", text, ...(synthetic ? { synthetic } : {}) }], ...(agent === undefined ? {} : { agent }), ...(model ? { model } : {}), ...tools },
        }),
      );
    },
    async sessionStatus(directory, server) {
      return unwrap(await on(server).session.status({ query: at(directory) }));
    },
    async sessionMessages(id, directory, limit, server) {
      return unwrap(await on(server).session.messages({ path: { id }, query: { ...at(directory), limit } }));
    },
    async agents() {
      const agents = unwrap(await own.app.agents());
      return (agents ?? []).map((a) => a.name);
    },
    async showToast(title, message, variant) {
      const v = variant as "info" | "success" | "warning" | "error";
      unwrap(await own.tui.showToast({ body: { title, message, variant: v } }));
    },
    async abortSession(id, directory, server) {
      unwrap(await on(server).session.abort({ path: { id }, query: at(directory) }));
    },
    warmInstance: (directory, server) => warmInstance(on(server), directory),
    async disposeInstance(directory, server) {
      unwrap(await on(server).instance.dispose({ query: { directory } }));
    },
    async probeServer(server, timeoutMs) {
      unwrap(await on(server).session.status({ signal: AbortSignal.timeout(timeoutMs) }));
    },
    async machine() {
      const cpus = os.availableParallelism?.() ?? os.cpus().length;
      return {
        load_percent: Math.round((100 * (os.loadavg()[0] ?? 0)) / Math.max(1, cpus)),
        free_memory_mb: availableMemoryMb(),
      };
    },
    git: runGit,
    shell: runShell,
    remoteShell: (server, directory, script, agent) => runRemote(on(server), directory, script, agent),
    remoteAgents: (server, directory) => remoteAgents(on(server), directory),
    lock: () => store.lock(),
    unlock: () => store.unlock(),
    readFrom: (offset, max) => store.readFrom(offset, max),
    write: (bytes) => store.write(bytes),
    sync: () => store.sync(),
    truncate: (length) => store.truncate(length),
    loadSnapshot: () => store.loadSnapshot(),
    saveSnapshot: (bytes) => store.saveSnapshot(bytes),
    now: () => Date.now(),
    logChanged: () => store.logChanged(),
    idleSleep: (ms) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref?.()),
    warn: (message) => console.error(`[apiary] ${message}`),
  };
}

/** Memory the kernel could give a new process (MemAvailable, which counts reclaimable cache),
 * falling back on free memory where /proc is not there. */
function availableMemoryMb(): number {
  try {
    const match = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
    if (match) return Math.floor(Number(match[1]) / 1024);
  } catch {
    // Not Linux: os.freemem is the best there is.
  }
  return Math.floor(os.freemem() / (1024 * 1024));
}
