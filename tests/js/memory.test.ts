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

/** Budgets in bytes of linear memory (the wasm's own 1 MiB stack and data included). */
const BUDGETS = [
  { log: "10k.jsonl", events: "10,010", replay: 3.5 * MiB, snapshot: 3 * MiB },
  { log: "100k.jsonl", events: "100,001", replay: 20 * MiB, snapshot: 18 * MiB },
] as const;

function measure(log: string, role: "coordinator" | "worker"): number {
  const out = execFileSync(process.execPath, [reader, log, role], { encoding: "utf8" });
  return Number(out.trim());
}

for (const b of BUDGETS) {
  for (const role of ["coordinator", "worker"] as const) {
    test(`a ${role}'s instance opening a log of ${b.events} events stays within ${b.replay / MiB} MiB replaying it and ${b.snapshot / MiB} MiB from its snapshot`, () => {
      const source = path.join(logs, b.log);
      assert.ok(existsSync(source), `${source} is missing: the core layer writes it (cargo test --test core_memory_logs)`);
      const log = path.join(tempDir("apiary-memory-"), "events.jsonl");
      copyFileSync(source, log);
      // The first open replays every line and leaves a snapshot; the second starts from it.
      const replay = measure(log, role);
      assert.ok(existsSync(`${log}.snapshot`), "the replay left no snapshot");
      const snapshot = measure(log, role);
      rmSync(path.dirname(log), { recursive: true, force: true });
      const mib = (n: number) => (n / MiB).toFixed(2);
      assert.ok(replay <= b.replay, `replaying: ${mib(replay)} MiB, over its budget of ${mib(b.replay)} MiB`);
      assert.ok(snapshot <= b.snapshot, `from the snapshot: ${mib(snapshot)} MiB, over its budget of ${mib(b.snapshot)} MiB`);
      console.log(`${role}, ${b.events} events: ${mib(replay)} MiB replaying, ${mib(snapshot)} MiB from the snapshot`);
    });
  }
}
