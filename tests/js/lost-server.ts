// A plugin instance that finds a server of its `servers` option gone, records it lost, and
// exits, as a server stopped after its probes failed. Run as a program: `lost-server <repo> <url>`.
import { readFileSync } from "node:fs";
import type { PluginInput } from "@opencode-ai/plugin";
import { ApiaryPlugin } from "../../dist/npm/index.js";
import { findLogPath } from "../../dist/npm/store.js";
import { fakeClient } from "./writer.js";

const [repo, url] = process.argv.slice(2) as [string, string];
const input = { client: fakeClient("lost"), directory: repo, worktree: repo } as unknown as PluginInput;
await ApiaryPlugin(input, { worktrees: false, servers: [{ url, max_workers: 1 }] });
const log = await findLogPath(repo);
const deadline = Date.now() + 30_000;
for (;;) {
  let text = "";
  try {
    text = readFileSync(log, "utf8");
  } catch {
    // No log yet.
  }
  if (text.includes('"type":"server_lost"')) process.exit(0);
  if (Date.now() > deadline) {
    console.error(`no server_lost in ${log} after 30 s`);
    process.exit(1);
  }
  await new Promise((r) => setTimeout(r, 200));
}
