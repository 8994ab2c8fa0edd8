// A log writer for the multi-writer tests: spawns `count` workers with bead ids `prefix-i`
// through its own core, over a fake client. Run as a program: `writer <repo> <prefix> <count>`.
import { loadCore } from "../../dist/npm/core.js";
import { makeHost } from "../../dist/npm/host.js";
import { findLogPath, openFileStore } from "../../dist/npm/store.js";
import type { PluginInput } from "@opencode-ai/plugin";

/** These tests are about the log: workers share the repository instead of getting worktrees,
 * and every spawn starts at once (no limit queues them). */
export const LOG_ONLY = { worktrees: false, max_running: 100_000, max_queued: 100_000 };

/** A caller that is not a coordinator: its polls record nothing. */
export const OBSERVER = { session_id: "", directory: "" };

/** A core over the repository's log with a fake client, and a poll helper. */
export async function openCore(repo: string) {
  const Core = loadCore();
  const core = new Core(makeHost(fakeClient("poll"), openFileStore(await findLogPath(repo))), LOG_ONLY);
  return { core, poll: (epic_id: string) => core.pollWorkers(OBSERVER, { epic_id }) };
}

/** An SDK client that answers every call Apiary makes at once, with ids `ses_<prefix>_<n>`. */
export function fakeClient(prefix: string): PluginInput["client"] {
  let n = 0;
  const ok = <T>(data: T) => ({ data });
  return {
    session: {
      create: async () => ok({ id: `ses_${prefix}_${++n}` }),
      promptAsync: async () => ok(undefined),
      delete: async () => ok(true),
      status: async () => ok({}),
      messages: async () => ok([]),
    },
  } as unknown as PluginInput["client"];
}

export async function spawnMany(repo: string, prefix: string, count: number): Promise<void> {
  const Core = loadCore();
  const core = new Core(makeHost(fakeClient(prefix), openFileStore(await findLogPath(repo))), LOG_ONLY);
  const ctx = { session_id: "ses_coord", directory: repo };
  await Promise.all(
    Array.from({ length: count }, (_, i) => core.spawnAsync(ctx, { bead_id: `${prefix}-${i}`, epic_id: "ep", title: "t", files: [] })),
  );
}

const [, script, repo, prefix, count] = process.argv;
if (script && /(^|\/)writer\.(js|ts)$/.test(script) && repo && prefix && count) {
  await spawnMany(repo, prefix, Number(count));
}
