// A fresh process that opens a log as a plugin instance does, with its first tool call, and
// prints the core's linear memory then, in bytes: a process of its own, so that what other
// cores of the benchmark hold is not counted. With `worker` after the log: a worker's instance,
// in a worktree of its own, which folds only its part of the swarm.
const { wasmMemoryBytes } = await import("../dist/npm/core.js");
const { openFileStore } = await import("../dist/npm/store.js");
const { openCore } = await import("./harness.js");

const core = openCore(openFileStore(process.argv[2]!));
if (process.argv[3] === "worker") {
  core.setHome("/bench/.apiary/worktrees/bench-worker");
  await core.inbox({ session_id: "ses_bench_worker", directory: "/bench/.apiary/worktrees/bench-worker" }, {});
} else {
  await core.pollWorkers({ session_id: "ses_coord", directory: "/bench" }, { epic_id: "epic7" });
}
console.log(wasmMemoryBytes());
process.exit(0);
