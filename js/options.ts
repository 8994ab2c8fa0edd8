// The plugin's options file, read by the plugin and by the command line (which shows the queue
// against the same limits).
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
