// kill -9 at random moments, 100 times, on one growing log: every event a writer had
// acknowledged is there afterwards, and the log opens without damage.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { removeTempDirs, scratchRepo } from "./repo.js";
import { openCore } from "./writer.js";

after(removeTempDirs);

const ext = path.extname(fileURLToPath(import.meta.url));
const writerProgram = fileURLToPath(new URL(`./crash-writer${ext}`, import.meta.url));
const ROUNDS = 100;

/** Runs a writer, kills it with SIGKILL `ms` after its first acknowledged event (counted from
 * then, not from its start: on a loaded machine a process can take longer than `ms` to start),
 * and returns the beads it acknowledged. */
function runAndKill(repo: string, prefix: string, ms: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writerProgram, repo, prefix], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    let timer: NodeJS.Timeout | undefined;
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      timer ??= setTimeout(() => child.kill("SIGKILL"), ms);
    });
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    // A writer that acknowledges nothing at all is stopped too, and counts nothing.
    const stuck = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(stuck);
      if (signal !== "SIGKILL") reject(new Error(`writer ended by itself (${code}): ${err}`));
      else resolve(out.split("\n").filter(Boolean));
    });
  });
}

test("every acknowledged event survives 100 kill -9 of its writer and the log still opens", { timeout: 180_000 }, async (t) => {
  const repo = scratchRepo();
  const acked: string[] = [];
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed / 2 ** 31);
  for (let round = 0; round < ROUNDS; round++) {
    acked.push(...(await runAndKill(repo, `r${round}`, 60 + Math.floor(random() * 240))));
  }
  assert.ok(acked.length > ROUNDS, `the writers acknowledged ${acked.length} events`);

  const { core, poll } = await openCore(repo);
  const report = await poll("crash");
  assert.doesNotMatch(report.output, /event log line/, "no damage");
  const log = readFileSync(path.join(repo, ".git", "apiary", "events.jsonl"), "utf8");
  const lines = log.split("\n").filter(Boolean);
  const beads = new Set(lines.map((l) => (JSON.parse(l) as { bead_id: string }).bead_id));
  const lost = acked.filter((b) => !beads.has(b));
  assert.deepEqual(lost, [], "acknowledged events lost");
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { seq: number }).seq),
    lines.map((_, i) => i + 1),
  );
  assert.equal(report.total, beads.size);
  t.diagnostic(`${acked.length} acknowledged, ${beads.size} recorded (${beads.size - acked.length} written but not acknowledged before a kill)`);
  void core;
});
