// The event log on PostgreSQL: the same core over a second storage backend. Lines are rows,
// numbered gap-free under concurrent writers in several processes; readers are woken by NOTIFY;
// a writer that dies holding the lock releases it; what is not a line of the log is refused.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { openPostgresStore } from "../../dist/npm/pgstore.js";
import { freshLog, pgCore, postgresUrl, rowsOf, spawnManyPg } from "./pg.js";

const writerProgram = fileURLToPath(new URL(`./pg-writer${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));
const open: { close(): Promise<void> }[] = [];
after(async () => {
  for (const s of open.splice(0)) await s.close();
});

function runWriter(...args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [writerProgram, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`writer exited ${code}: ${stderr}`))));
  });
}

/** Rows numbered 1..n, each starting where the one before ended. */
function assertGapFree(rows: { seq: number; offset: number; line: string }[], n: number): void {
  assert.equal(rows.length, n);
  let offset = 0;
  rows.forEach((r, i) => {
    assert.equal(r.seq, i + 1);
    assert.equal(r.offset, offset);
    assert.equal(JSON.parse(r.line).seq, r.seq);
    offset += Buffer.byteLength(r.line);
  });
}

test("a core on PostgreSQL appends one row per event, and another core reads them back", async () => {
  const log = freshLog("rows");
  await spawnManyPg(log, "a", 5);
  assertGapFree(await rowsOf(log), 5);
  const { store, core } = await pgCore(log, "reader");
  open.push(store);
  const report = await core.pollWorkers({ session_id: "", directory: "" }, { epic_id: "ep" });
  assert.equal(report.total, 5);
  core.free();
});

test("two processes appending 1,000 events each at once leave 2,000 rows, gap-free, no repeats", async () => {
  const log = freshLog("race");
  await Promise.all([runWriter("spawn", log, "p", "1000"), runWriter("spawn", log, "q", "1000")]);
  const rows = await rowsOf(log);
  assertGapFree(rows, 2000);
  const beads = rows.map((r) => JSON.parse(r.line).bead_id as string);
  assert.equal(new Set(beads).size, 2000);
});

test("a reader is woken by another process's append, without polling", async () => {
  const log = freshLog("notify");
  const store = await openPostgresStore(postgresUrl(), log);
  open.push(store);
  const changed = store.logChanged();
  // The listening connection is made on first use: give it a moment before the append.
  await new Promise((r) => setTimeout(r, 300));
  let timer: ReturnType<typeof setTimeout> | undefined;
  const woken = await Promise.race([
    changed.then(() => "woken"),
    new Promise<string>((r) => (timer = setTimeout(() => r("not woken within 20 s"), 20_000))),
    runWriter("spawn", log, "n", "1").then(() => changed).then(() => "woken"),
  ]);
  clearTimeout(timer);
  assert.equal(woken, "woken");
});

test("await on one instance returns when a worker completes through another", async () => {
  const log = freshLog("await");
  const coordinator = await pgCore(log, "c");
  open.push(coordinator.store);
  const ctx = { session_id: "ses_coord", directory: "/repo" };
  await coordinator.core.spawnAsync(ctx, { bead_id: "b1", epic_id: "ep", title: "t", files: [] });
  // The start the plugin's duties make behind a spawn.
  await coordinator.core.drain();
  const spawned = (await rowsOf(log)).map((r) => JSON.parse(r.line)).find((e) => e.type === "worker_spawned");
  const waiting = coordinator.core.awaitWorkers(ctx, { epic_id: "ep", timeout_ms: 60_000, poll_interval_ms: 60_000 }, new Promise(() => undefined));
  await new Promise((r) => setTimeout(r, 300));
  const worker = await pgCore(log, "w");
  open.push(worker.store);
  const t0 = Date.now();
  await worker.core.complete({ session_id: spawned.session_id, directory: "/repo" }, { bead_id: "b1", summary: "done", files_touched: [] });
  const report = await waiting;
  assert.equal(report.completed.length, 1, report.summary);
  // Woken by the NOTIFY, not by the 60 s safety poll.
  assert.ok(Date.now() - t0 < 30_000, `await returned ${Date.now() - t0} ms after the completion`);
  coordinator.core.free();
  worker.core.free();
});

test("a writer killed while holding the lock releases it with its connection", async () => {
  const log = freshLog("kill");
  const child = spawn(process.execPath, [writerProgram, "hold", log], { stdio: ["ignore", "pipe", "inherit"] });
  await new Promise<void>((resolve) => child.stdout!.on("data", (d: Buffer) => d.toString().includes("held") && resolve()));
  child.kill("SIGKILL");
  await spawnManyPg(log, "after", 3);
  assertGapFree(await rowsOf(log), 3);
});

test("what is not the next line of the log is refused, and nothing is stored", async () => {
  const log = freshLog("refuse");
  await spawnManyPg(log, "ok", 2);
  const store = await openPostgresStore(postgresUrl(), log);
  open.push(store);
  const before = await rowsOf(log);
  const line = (seq: number) => `{"seq":${seq},"v":2,"timestamp":1,"type":"worker_started","session_id":"s","bead_id":"b"}\n`;
  for (const [bytes, reason] of [
    [line(5), /sequence number 5 does not follow 2/],
    [line(2), /sequence number 2 does not follow 2/],
    ["not a line of the log\n", /does not start with its sequence number/],
    [line(3).trimEnd(), /does not end a line/],
  ] as const) {
    await store.lock();
    await assert.rejects(store.write(new TextEncoder().encode(bytes)), reason);
    await store.unlock();
  }
  assert.deepEqual(await rowsOf(log), before);
  const bytes = await store.readFrom(0);
  assert.equal(new TextDecoder().decode(bytes), before.map((r) => r.line).join(""));
  // A read from the middle of a line starts there, as the file log's does.
  assert.equal(new TextDecoder().decode(await store.readFrom(5)), before.map((r) => r.line).join("").slice(5));
  // A piece at a time: whole lines up to the first that reaches `offset + max`, at least `max`
  // bytes unless the log ends sooner.
  const all = before.map((r) => r.line).join("");
  const piece = new TextDecoder().decode(await store.readFrom(5, 1));
  assert.equal(piece, before[0]!.line.slice(5));
  const two = new TextDecoder().decode(await store.readFrom(0, before[0]!.line.length + 1));
  assert.equal(two, before[0]!.line + before[1]!.line);
  assert.equal(new TextDecoder().decode(await store.readFrom(0, 1e9)), all);
  // The core's "everything" (u64::MAX, as a JS number) is no limit, not a bigint overflow.
  assert.equal(new TextDecoder().decode(await store.readFrom(0, 2 ** 64)), all);
});

test("the projection's snapshot is kept beside the log and read back", async () => {
  const store = await openPostgresStore(postgresUrl(), freshLog("snap"));
  open.push(store);
  assert.equal(await store.loadSnapshot(), undefined);
  await store.saveSnapshot(new Uint8Array([1, 2, 3]));
  await store.saveSnapshot(new Uint8Array([4, 5]));
  assert.deepEqual(Array.from((await store.loadSnapshot())!), [4, 5]);
});

test("a lock taken only to read is released with its transaction, for writers elsewhere", async () => {
  const log = freshLog("readlock");
  const [a, b] = [await openPostgresStore(postgresUrl(), log), await openPostgresStore(postgresUrl(), log)];
  open.push(a, b);
  // As the core does when it catches up under the lock and has nothing to append.
  for (let i = 0; i < 5; i++) {
    await a.lock();
    await a.readFrom(0);
    await a.unlock();
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const got = await Promise.race([
    b.lock().then(() => "locked"),
    new Promise<string>((r) => (timer = setTimeout(() => r("still held by a connection back in the pool"), 10_000))),
  ]);
  clearTimeout(timer);
  assert.equal(got, "locked");
  await b.unlock();
});
