// A fresh process that opens a log as a plugin instance does, with its first tool call, and
// prints the core's linear memory then, in bytes: a process of its own, so that what other
// cores of the benchmark hold is not counted.
const { wasmMemoryBytes } = await import("../dist/npm/core.js");
const { openFileStore } = await import("../dist/npm/store.js");
const { openCore } = await import("./harness.js");

const core = openCore(openFileStore(process.argv[2]!));
await core.pollWorkers({ session_id: "ses_coord", directory: "/bench" }, { epic_id: "epic7" });
console.log(wasmMemoryBytes());
process.exit(0);
