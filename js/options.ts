// The plugin's options, read by the plugin, the command line and the dashboard alike. The core
// owns every option (its name, default and limits, checked when it starts); the shim keeps back
// only what it acts on itself and what must never leave the process: where the log is
// (`postgres`, whose URL may carry a password, and `log_name`) and each server's credentials.
import { readFileSync } from "node:fs";
import * as path from "node:path";

/** `.opencode/apiary.json`: the options for users of the drop-in folder, which OpenCode gives
 * no options; options in opencode.json's `plugin` entry override it key by key. */
export function readOptionsFile(root: string): Record<string, unknown> {
  const file = path.join(root, ".opencode", "apiary.json");
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return {};
  }
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Record<string, unknown>;
  } catch (e) {
    throw new Error(`[apiary] ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Where the log lives: a PostgreSQL database (the log named `logName` there, by default after
 * the repository's `origin`), or the file log beside the repository when `postgres` is absent. */
export interface LogPlace {
  postgres?: string;
  logName?: string;
}

/** How to reach a server of the `servers` option: its url and, for OpenCode's server password
 * (HTTP basic auth), the user and password. */
export interface ServerLogin {
  url: string;
  username?: string;
  password?: string;
}

/** The options, split by who acts on them. */
export interface SplitOptions {
  /** For the core (`new ApiaryCore`, `LogView.setOptions`): every option but the shim's own,
   * with no secret in it, so it may be shown (the dashboard serves it to its page). */
  core: Record<string, unknown>;
  log: LogPlace;
  /** One per `servers` entry, in order. */
  logins: ServerLogin[];
}

const SERVERS_SHAPE = "a list of { url, max_workers, password?, username?, directory? }";

/** Splits the options; refuses, naming the key, what the shim itself must act on and cannot. */
export function splitOptions(options: Record<string, unknown>): SplitOptions {
  const { postgres, log_name, servers, ...core } = options;
  const log: LogPlace = {};
  if (postgres !== undefined) {
    if (typeof postgres !== "string" || !/^postgres(ql)?:\/\//.test(postgres)) {
      throw new Error("[apiary] option postgres must be a connection string: postgres://user@host:port/database");
    }
    log.postgres = postgres;
  }
  if (log_name !== undefined) {
    if (typeof log_name !== "string" || log_name === "") throw new Error("[apiary] option log_name must be a non-empty string");
    if (postgres === undefined) throw new Error("[apiary] option log_name needs option postgres");
    log.logName = log_name;
  }
  const logins: ServerLogin[] = [];
  if (servers !== undefined) {
    if (!Array.isArray(servers)) throw new Error(`[apiary] option servers must be ${SERVERS_SHAPE}`);
    core.servers = servers.map((entry: unknown, i) => {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        throw new Error(`[apiary] servers[${i}] must be an object: ${SERVERS_SHAPE}`);
      }
      const { password, username, ...rest } = entry as Record<string, unknown>;
      if (password !== undefined && typeof password !== "string") throw new Error(`[apiary] servers[${i}].password must be a string`);
      if (username !== undefined && typeof username !== "string") throw new Error(`[apiary] servers[${i}].username must be a string`);
      logins.push({ url: String(rest.url), ...(username === undefined ? {} : { username }), ...(password === undefined ? {} : { password }) });
      return rest;
    });
  }
  return { core, log, logins };
}
