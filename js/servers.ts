// Clients for the servers of the `servers` option (OpenCode servers on other machines or
// ports). Each carries its server's password, which never reaches the core or the log; the
// core places workers, probes the servers through the host and records them lost or back.
import type { ServerLogin } from "./options.js";
import type { OpencodeClient } from "./sdk.js";

/** A client per server, by url. The SDK's client is loaded only when there are servers: a
 * drop-in folder without the option never needs it. */
export async function serverClients(logins: readonly ServerLogin[]): Promise<Map<string, OpencodeClient>> {
  const clients = new Map<string, OpencodeClient>();
  if (logins.length === 0) return clients;
  const { createOpencodeClient } = await import("@opencode-ai/sdk/client");
  for (const { url, username, password } of logins) {
    // OpenCode's server password (OPENCODE_SERVER_PASSWORD) is HTTP basic auth.
    const auth = password === undefined ? {} : { Authorization: `Basic ${Buffer.from(`${username ?? "opencode"}:${password}`).toString("base64")}` };
    clients.set(url, createOpencodeClient({ baseUrl: url, headers: auth }) as unknown as OpencodeClient);
  }
  return clients;
}
