// The `servers` option: OpenCode servers on other machines (or ports) to place workers on. The
// shim makes a client per server (with its password, which never reaches the core or the log)
// and probes them; the core places workers and records a server lost or back.
import type { ApiaryCore } from "./core.js";
import type { OpencodeClient } from "./host.js";

/** Between two probes of each server. */
const PROBE_EVERY_MS = 2_000;
/** A probe not answered in this time failed. */
const PROBE_TIMEOUT_MS = 2_000;
/** Consecutive failed probes that make a server lost: about 6 to 12 s after it stops. */
const FAILED_PROBES = 3;

/** A server as the core sees it: no password. */
export interface CoreServer {
  url: string;
  max_workers: unknown;
  directory?: unknown;
}

export interface Servers {
  /** For the core's options. */
  core: CoreServer[];
  /** By url. */
  clients: Map<string, OpencodeClient>;
}

/** Reads the option; refuses what is not a list of `{ url, max_workers, password?, directory? }`.
 * The SDK's client is loaded only then: a drop-in folder without the option never needs it. */
export async function parseServers(value: unknown): Promise<Servers> {
  const servers: Servers = { core: [], clients: new Map() };
  if (value === undefined) return servers;
  if (!Array.isArray(value)) throw new Error("[apiary] option servers must be a list of { url, max_workers, password?, directory? }");
  const { createOpencodeClient } = await import("@opencode-ai/sdk/client");
  value.forEach((entry: unknown, i) => {
    if (typeof entry !== "object" || entry === null) throw new Error(`[apiary] servers[${i}] must be an object`);
    const { url, password, username, ...rest } = entry as Record<string, unknown>;
    if (typeof url !== "string" || !/^https?:\/\/[^/]+/.test(url)) {
      throw new Error(`[apiary] servers[${i}].url must be an http(s) address, e.g. http://10.0.0.5:4096`);
    }
    if (password !== undefined && typeof password !== "string") throw new Error(`[apiary] servers[${i}].password must be a string`);
    if (username !== undefined && typeof username !== "string") throw new Error(`[apiary] servers[${i}].username must be a string`);
    // OpenCode's server password (OPENCODE_SERVER_PASSWORD) is HTTP basic auth.
    const auth = password === undefined ? {} : { Authorization: `Basic ${Buffer.from(`${username ?? "opencode"}:${password}`).toString("base64")}` };
    const client = createOpencodeClient({ baseUrl: url, headers: auth }) as unknown as OpencodeClient;
    servers.clients.set(url, client);
    servers.core.push({ url, ...rest } as CoreServer);
  });
  return servers;
}

/** Whether the server answers a cheap call in time. */
async function probe(client: OpencodeClient): Promise<string | undefined> {
  try {
    const result = await client.session.status({ signal: AbortSignal.timeout(PROBE_TIMEOUT_MS) });
    return result.error === undefined ? undefined : `HTTP ${result.response?.status ?? "error"}`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

/** Probes each server for the plugin's lifetime: a server that fails FAILED_PROBES in a row is
 * reported lost to the core, and back once it answers again. Unref'd: never keeps a process up. */
export function watchServers(core: ApiaryCore, clients: ReadonlyMap<string, OpencodeClient>, report: (e: unknown) => void): void {
  const failures = new Map<string, number>();
  const lost = new Set<string>();
  const round = async () => {
    await Promise.all(
      [...clients].map(async ([url, client]) => {
        const failed = await probe(client);
        if (failed === undefined) {
          failures.set(url, 0);
          if (lost.delete(url)) await core.serverBack(url).catch(report);
          return;
        }
        const n = (failures.get(url) ?? 0) + 1;
        failures.set(url, n);
        if (n >= FAILED_PROBES && !lost.has(url)) {
          lost.add(url);
          await core.serverLost(url, `no answer to ${n} probes: ${failed}`).catch(report);
        }
      }),
    );
    setTimeout(() => void round(), PROBE_EVERY_MS).unref?.();
  };
  setTimeout(() => void round(), PROBE_EVERY_MS).unref?.();
}
