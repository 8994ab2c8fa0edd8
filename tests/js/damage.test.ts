// A damaged log file, opened by a fresh core: each kind of damage gives a clear message or a
// documented recovery, and no complete event before the damage is lost.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { removeTempDirs, scratchRepo } from "./repo.js";
import { openCore, spawnMany } from "./writer.js";

after(removeTempDirs);

const logOf = (repo: string) => path.join(repo, ".git", "apiary", "events.jsonl");

/** A repository whose log holds `n` spawned workers of epic "ep", and the log's bytes. */
async function logWith(n: number): Promise<{ repo: string; file: string; bytes: Buffer }> {
  const repo = scratchRepo();
  await spawnMany(repo, "w", n);
  const file = logOf(repo);
  return { repo, file, bytes: readFileSync(file) };
}

const spawnArgs = { bead_id: "new", epic_id: "ep", title: "t", files: [] };
const ctx = (repo: string) => ({ session_id: "ses_coord", directory: repo });

test("a flipped byte in the middle is named by line; the lines before it stay readable; nothing is written", async () => {
  const { repo, file, bytes } = await logWith(10);
  const lines = bytes.toString("utf8").split("\n");
  // One byte of line 6 changes: the title "t" becomes "u".
  lines[5] = lines[5]!.replace('"title":"t"', '"title":"u"');
  const damaged = Buffer.from(lines.join("\n"));
  assert.equal(damaged.length, bytes.length);
  writeFileSync(file, damaged);
  const { core, poll } = await openCore(repo);
  const report = await poll("ep");
  assert.equal(report.total, 5, "the five events before line 6");
  assert.match(report.output, /warning: event log line 6: checksum mismatch/);
  await assert.rejects(core.spawnAsync(ctx(repo), spawnArgs), /event log line 6: checksum mismatch/);
  assert.deepEqual(readFileSync(file), damaged, "the damaged file is left as it was");
});

test("a file cut short mid-line loses only the torn line, which is cut off and reported", async () => {
  const { repo, file, bytes } = await logWith(10);
  writeFileSync(file, bytes.subarray(0, bytes.length - 30));
  const { core, poll } = await openCore(repo);
  const report = await poll("ep");
  assert.equal(report.total, 9);
  assert.match(report.output, /warning: a torn last line \(\d+ bytes\) left by a crashed writer was cut off/);
  await core.spawnAsync(ctx(repo), spawnArgs);
  const after = readFileSync(file, "utf8").trim().split("\n");
  assert.equal(after.length, 10);
  assert.equal((JSON.parse(after[9]!) as { seq: number }).seq, 10, "numbering goes on from the last whole event");
});

test("a file of garbage is damage at line 1 with nothing readable and a clear error on write", async () => {
  const repo = scratchRepo();
  await spawnMany(repo, "w", 1);
  writeFileSync(logOf(repo), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 251)));
  const { core, poll } = await openCore(repo);
  const report = await poll("ep");
  assert.equal(report.total, 0);
  assert.match(report.output, /warning: event log line 1: /);
  await assert.rejects(core.spawnAsync(ctx(repo), spawnArgs), /^Error: event log line 1: /);
});

test("an empty file is an empty log", async () => {
  const repo = scratchRepo();
  await spawnMany(repo, "w", 1);
  writeFileSync(logOf(repo), "");
  const { core, poll } = await openCore(repo);
  assert.equal((await poll("ep")).total, 0);
  await core.spawnAsync(ctx(repo), spawnArgs);
  assert.match(readFileSync(logOf(repo), "utf8"), /^\{"seq":1,/);
});

test("a line over 1 MB is damage named by line, after the events before it", async () => {
  const { repo, file, bytes } = await logWith(3);
  writeFileSync(file, Buffer.concat([bytes, Buffer.from(`{"seq":4,"pad":"${"x".repeat(1 << 20)}"}\n`)]));
  const { poll } = await openCore(repo);
  const report = await poll("ep");
  assert.equal(report.total, 3);
  assert.match(report.output, /warning: event log line 4: line is \d+ bytes long; the limit is 1048576/);
});

test("a file of garbage without a line break is reported, not cut off", async () => {
  const repo = scratchRepo();
  await spawnMany(repo, "w", 1);
  const garbage = Buffer.from("x".repeat(5000));
  writeFileSync(logOf(repo), garbage);
  const { poll } = await openCore(repo);
  assert.match((await poll("ep")).output, /warning: event log line 1: the last 5000 bytes are not a complete line/);
  assert.deepEqual(readFileSync(logOf(repo)), garbage);
});
