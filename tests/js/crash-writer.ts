// A writer that is killed mid-work by the crash test: spawns workers one after another
// (several at a time) and prints each bead id once its spawn is acknowledged, which is only
// after the event is on disk. Run as a program: `crash-writer <repo> <prefix>`.
import { writeSync } from "node:fs";
import { loadCore } from "../../dist/npm/core.js";
import { makeHost } from "../../dist/npm/host.js";
import { findLogPath, openFileStore } from "../../dist/npm/store.js";
import { fakeClient, LOG_ONLY } from "./writer.js";

const [, , repo, prefix] = process.argv;
if (!repo || !prefix) throw new Error("usage: crash-writer <repo> <prefix>");
const Core = loadCore();
const core = new Core(makeHost(fakeClient(prefix), openFileStore(await findLogPath(repo))), LOG_ONLY);
const ctx = { session_id: "ses_coord", directory: repo };
let next = 0;
async function lane(): Promise<never> {
  for (;;) {
    const bead = `${prefix}-${next++}`;
    await core.spawnAsync(ctx, { bead_id: bead, epic_id: "crash", title: "t", files: [] });
    // Synchronous, so that what was printed is in the pipe even if we die right after.
    writeSync(1, `${bead}\n`);
  }
}
await Promise.all([lane(), lane(), lane()]);
