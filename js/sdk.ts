// The OpenCode SDK client the plugin is given, and its results, which are `{ data, error,
// response }` instead of a throw.
import type { PluginInput } from "@opencode-ai/plugin";

export type OpencodeClient = PluginInput["client"];

interface SdkResult<T> {
  data?: T;
  error?: unknown;
  response?: Response;
}

/** Throws the SDK's error (`NotFoundError: Session not found`) instead of returning it. */
export function unwrap<T>(result: SdkResult<T>): T {
  if (result.error !== undefined && result.error !== null) {
    throw new Error(describe(result.error, result.response));
  }
  return result.data as T;
}

function describe(error: unknown, response: Response | undefined): string {
  const status = response ? `HTTP ${response.status} ` : "";
  if (typeof error === "object" && error !== null) {
    const e = error as { name?: unknown; message?: unknown; data?: { message?: unknown } };
    const name = typeof e.name === "string" ? e.name : "";
    const message =
      typeof e.data?.message === "string" ? e.data.message : typeof e.message === "string" ? e.message : "";
    if (name || message) return `${status}${name}${name && message ? ": " : ""}${message}`;
    return `${status}${JSON.stringify(error)}`;
  }
  return `${status}${String(error)}`;
}
