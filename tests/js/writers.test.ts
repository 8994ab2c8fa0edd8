// Several writers on one log at once: other processes and this one, all through the core.
// Every event must land exactly once, numbered 1..n without gaps or repeats.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { removeTempDirs, scratchRepo } from "./repo.js";
import { spawnMany } from "./writer.js";

after(removeTempDirs);

// The writer program beside this file: writer.ts under Bun, the compiled writer.js under Node.
const writerProgram = fileURLToPath(new URL(`./writer${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

function writerProcess(repo: string, prefix: string, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writerProgram, repo, prefix, String(count)], { stdio: ["ignore", "ignore", "pipe"] });
    let err = "";
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    child.once("exit", (c) => (c === 0 ? resolve() : reject(new Error(`writer exited with ${c}: ${err}`))));
  });
}

// 500 spawns each: a spawn's round in a process without duties grows with the queue it plans
// over (250 spawns in one process take 3.8 s, 500 take 9.7 s on a loaded machine), and four
// writers of 1,000 took Bun past its 180 s limit on a shared machine.
test("two processes and two in-process instances spawning 500 workers each lose nothing and never reuse a number", async () => {
  const repo = scratchRepo();
  await Promise.all([
    writerProcess(repo, "a", 500),
    writerProcess(repo, "b", 500),
    spawnMany(repo, "c", 500),
    spawnMany(repo, "d", 500),
  ]);
  const lines = readFileSync(path.join(repo, ".git", "apiary", "events.jsonl"), "utf8").trim().split("\n");
  const events = lines.map((l) => JSON.parse(l) as { seq: number; bead_id: string });
  assert.equal(events.length, 2000);
  assert.deepEqual(
    events.map((e) => e.seq),
    Array.from({ length: 2000 }, (_, i) => i + 1),
  );
  assert.equal(new Set(events.map((e) => e.bead_id)).size, 2000, "every event once");
});
