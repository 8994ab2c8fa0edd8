// A fresh process that opens a log as a plugin instance does, with its first tool call, and
// prints the core's linear memory then, in bytes (the memory budget's measure).
//   memory-reader <log> coordinator   the coordinator's instance: swarm_poll_workers
//   memory-reader <log> worker        a worker's instance (in the worktree of w7): swarm_inbox in
//                                     its worker's session
import { wasmMemoryBytes } from "../../dist/npm/core.js";
import { makeHost } from "../../dist/npm/host.js";
import { openFileStore } from "../../dist/npm/store.js";
import { loadCore } from "../../dist/npm/core.js";

const [, script, log, role] = process.argv;
if (script && /(^|\/)memory-reader\.(js|ts)$/.test(script) && log) {
  const ok = <T>(data: T) => ({ data });
  // A client that answers at once: nothing here starts, the log is only read.
  const client = {
    session: {
      create: async () => ok({ id: "ses_unused" }),
      promptAsync: async () => ok(undefined),
      delete: async () => ok(true),
      status: async () => ok({}),
      messages: async () => ok([]),
    },
  } as never;
  const Core = loadCore();
  const core = new Core(makeHost(client, openFileStore(log)), { worktrees: false });
  if (role === "worker") {
    core.setHome("/bench/.apiary/worktrees/w7");
    await core.inbox({ session_id: "ses_00000007", directory: "/bench" }, {});
  } else {
    await core.pollWorkers({ session_id: "ses_coord", directory: "/bench" }, { epic_id: "epic7" });
  }
  process.stdout.write(`${wasmMemoryBytes()}\n`);
  process.exit(0);
}
