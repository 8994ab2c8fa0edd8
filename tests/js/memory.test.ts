// The core's memory budget: its linear memory in a fresh process once a plugin instance has
// opened a log with its first tool call, for the coordinator's instance and a worker's, from a
// snapshot and by replaying every line. The logs are generated with fixed times and ids by the
// core layer (tests/core_memory_logs.rs), so that one build always measures the same figure:
// a change that needs more memory must win it back, or raise a budget here and say why.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, rmSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { tempDir } from "./repo.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const reader = path.join(here, `memory-reader${path.extname(fileURLToPath(import.meta.url))}`);
/** The repository: the first folder above this file's that holds Cargo.toml (compiled tests
 * run from build/tests-js/, Bun runs the sources). */
function repository(dir: string): string {
  return existsSync(path.join(dir, "Cargo.toml")) ? dir : repository(path.dirname(dir));
}
const logs = path.join(repository(here), "build", "memory");
const MiB = 1024 * 1024;

/** Budgets in bytes of linear memory (the wasm's own 1 MiB stack and data included). A worker's
 * instance folds only its part of the swarm (its own bead, and what it started), so its
 * replay stays flat; from a snapshot it still reads the whole snapshot's text. */
const BUDGETS = [
  { log: "10k.jsonl", events: "10,010", coordinator: { replay: 3.5, snapshot: 2.6 }, worker: { replay: 1.6, snapshot: 2 } },
  { log: "100k.jsonl", events: "100,001", coordinator: { replay: 20, snapshot: 15 }, worker: { replay: 1.6, snapshot: 8 } },
] as const;

function measure(log: string, role: "coordinator" | "worker"): number {
  const out = execFileSync(process.execPath, [reader, log, role], { encoding: "utf8" });
  return Number(out.trim());
}

for (const b of BUDGETS) {
  for (const role of ["coordinator", "worker"] as const) {
    const budget = b[role];
    test(`a ${role}'s instance opening a log of ${b.events} events stays within ${budget.replay} MiB replaying it and ${budget.snapshot} MiB from its snapshot`, () => {
      const source = path.join(logs, b.log);
      assert.ok(existsSync(source), `${source} is missing: the core layer writes it (cargo test --test core_memory_logs)`);
      const log = path.join(tempDir("apiary-memory-"), "events.jsonl");
      copyFileSync(source, log);
      // The first open replays every line; a coordinator's leaves a snapshot, a worker's
      // (which folds only its part) none, so the coordinator's instance makes it for the second.
      const replay = measure(log, role);
      assert.equal(existsSync(`${log}.snapshot`), role === "coordinator", "only the whole projection is saved");
      if (role === "worker") measure(log, "coordinator");
      assert.ok(existsSync(`${log}.snapshot`), "the coordinator's replay left no snapshot");
      const snapshot = measure(log, role);
      rmSync(path.dirname(log), { recursive: true, force: true });
      const mib = (n: number) => (n / MiB).toFixed(2);
      assert.ok(replay <= budget.replay * MiB, `replaying: ${mib(replay)} MiB, over its budget of ${budget.replay} MiB`);
      assert.ok(snapshot <= budget.snapshot * MiB, `from the snapshot: ${mib(snapshot)} MiB, over its budget of ${budget.snapshot} MiB`);
      console.log(`${role}, ${b.events} events: ${mib(replay)} MiB replaying, ${mib(snapshot)} MiB from the snapshot`);
    });
  }
}
