// The log's storage: where the file is found, and the byte operations the core relies on.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { Flusher, findLogPath, memoryStore, openFileStore } from "../../dist/npm/store.js";
import { addWorktree, removeTempDirs, scratchRepo, tempDir } from "./repo.js";

after(removeTempDirs);

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

test("the log of a repository lives in its git directory", async () => {
  const repo = scratchRepo();
  assert.equal(await findLogPath(repo), path.join(repo, ".git", "apiary", "events.jsonl"));
  assert.equal(await findLogPath(path.join(repo, "deep", "er")), path.join(repo, ".git", "apiary", "events.jsonl"));
});

test("a worktree finds the main repository's log, not a copy of its own", async () => {
  const repo = scratchRepo();
  const tree = addWorktree(repo, "w1");
  const log = await findLogPath(tree);
  assert.equal(path.basename(log), "events.jsonl");
  assert.equal(realpathSync(path.dirname(path.dirname(log))), realpathSync(path.join(repo, ".git")));
});

test("outside a git repository the log goes to .apiary in the directory", async () => {
  const dir = tempDir("apiary-nogit-");
  assert.equal(await findLogPath(dir), path.join(dir, ".apiary", "events.jsonl"));
});

for (const [name, make] of [
  ["file", () => openFileStore(path.join(tempDir("apiary-store-"), "sub", "events.jsonl"))],
  ["memory", () => memoryStore()],
] as const) {
  test(`a ${name} store reads from an offset, writes, syncs and truncates`, async () => {
    const store = make();
    assert.equal((await store.readFrom(0)).length, 0, "a missing log reads as empty");
    await store.write(bytes("one\n"));
    await store.write(bytes("two\n"));
    await store.sync();
    assert.equal(text(await store.readFrom(0)), "one\ntwo\n");
    assert.equal(text(await store.readFrom(4)), "two\n");
    assert.equal((await store.readFrom(100)).length, 0);
    // A piece at a time: `max` bytes unless the log ends sooner.
    assert.equal(text(await store.readFrom(2, 3)), "e\nt");
    assert.equal(text(await store.readFrom(6, 10)), "o\n");
    await store.truncate(4);
    assert.equal(text(await store.readFrom(0)), "one\n");
  });

  test(`a ${name} store keeps a snapshot beside the log and replaces it whole`, async () => {
    const store = make();
    assert.equal(await store.loadSnapshot(), undefined);
    await store.saveSnapshot(bytes("first"));
    await store.saveSnapshot(bytes("second"));
    assert.equal(text((await store.loadSnapshot())!), "second");
  });

  test(`a ${name} store's concurrent syncs share flushes and all resolve`, async () => {
    const store = make();
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        await store.write(bytes(`${i}\n`));
        await store.sync();
      }),
    );
    assert.equal(text(await store.readFrom(0)).split("\n").filter(Boolean).length, 20);
  });

  test(`a ${name} store's lock serves waiters in order`, async () => {
    const store = make();
    const order: number[] = [];
    await store.lock();
    const waiters = [1, 2, 3].map((i) =>
      store.lock().then(async () => {
        order.push(i);
        await store.unlock();
      }),
    );
    order.push(0);
    await store.unlock();
    await Promise.all(waiters);
    assert.deepEqual(order, [0, 1, 2, 3]);
  });
}

test("a file store's sync resolves within the turn of the event loop that asked, however busy the loop is", async () => {
  // A burst of tool calls is a long chain of promise jobs: a flush that waited for the loop
  // to come round (a thread-pool callback, a timer) waited for the whole burst.
  const store = openFileStore(path.join(tempDir("apiary-store-"), "events.jsonl"));
  await store.lock();
  await store.write(bytes("one\n"));
  await store.unlock();
  let synced = false;
  void store.sync().then(() => (synced = true));
  for (let i = 0; i < 100 && !synced; i++) await Promise.resolve();
  assert.ok(synced);
});

test("writes flush at once with nobody waiting for the lock, and a chain of writers handing it on shares one flush at its end", async () => {
  let flushes = 0;
  const f = new Flusher(() => void (flushes += 1));
  f.wrote();
  await f.sync(false);
  assert.equal(flushes, 1);
  await f.sync(false);
  assert.equal(flushes, 1, "nothing new written: no flush");
  // Two writers hand the lock on: they wait for the flush the last one's unlock makes.
  f.wrote();
  const first = f.sync(true);
  f.wrote();
  const second = f.sync(true);
  await Promise.resolve();
  assert.equal(flushes, 1, "no flush before the chain ends");
  f.flushNow();
  await Promise.all([first, second]);
  assert.equal(flushes, 2);
});

test("a failed flush rejects the writers waiting for it, and the next sync flushes again", async () => {
  let fail = true;
  let flushes = 0;
  const f = new Flusher(() => {
    flushes += 1;
    if (fail) throw new Error("EIO");
  });
  f.wrote();
  const waiting = f.sync(true);
  assert.throws(() => f.flushNow(), /EIO/);
  await assert.rejects(waiting, /EIO/);
  fail = false;
  await f.sync(false);
  assert.equal(flushes, 2);
});

test("a file store's lock excludes another process until released", async () => {
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const store = openFileStore(file);
  await store.lock();
  // Another process tries to take the same lock, reports when it has it, and releases it.
  const other = spawn(process.execPath, [
    "--input-type=module",
    "-e",
    `import { openFileStore } from ${JSON.stringify(new URL("../../dist/npm/store.js", import.meta.url).href)};
     const s = openFileStore(${JSON.stringify(file)}); await s.lock(); console.log("got " + Date.now()); await s.unlock();`,
  ]);
  let out = "";
  other.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(out, "", "the other process waits while the lock is held");
  const released = Date.now();
  await store.unlock();
  await new Promise((r) => other.once("exit", r));
  assert.match(out, /^got \d+/);
  assert.ok(Number(out.slice(4)) >= released, "it got the lock only after release");
});

test("a lock left by a dead process is taken over", async () => {
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid!;
  writeFileSync(`${file}.lock`, `${dead} ${Date.now()}\n`);
  const store = openFileStore(file);
  await store.lock();
  assert.match(readlinkSync(`${file}.lock`), new RegExp(`^${process.pid} `));
  await store.unlock();
  assert.equal(existsSync(`${file}.lock`), false);
});

// The lock's holder is a process, not a pid: pids are reused (a server restarted in a
// container gets the pid of the one that was killed), so the lock (a symbolic link whose
// target is the holder line) records the process's start time and the boot, and every lock
// of this process a token.

const hasProc = existsSync("/proc/self/stat");
const bootId = () => readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
/** Field 22 of /proc/<pid>/stat, counted after the command's closing parenthesis. */
const startTime = (pid: number | "self") => {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]!;
};
const holderLine = (pid: number, start: string, token = "0123456789") =>
  `${pid} start=${start} boot=${bootId().slice(0, 8)} token=${token}`;
/** A lock as a process of this version leaves it when it dies holding it. */
const plantLock = (file: string, line: string) => symlinkSync(line, `${file}.lock`);

/** One append as the core makes it: under the lock, then flushed. */
async function append(store: ReturnType<typeof openFileStore>, line: string): Promise<void> {
  await store.lock();
  await store.write(bytes(line));
  await store.unlock();
  await store.sync();
}

/** A live process unrelated to the log: `sleep 30`, killed by the caller. */
async function sleeper(): Promise<ChildProcess> {
  const child = spawn("sleep", ["30"], { stdio: "ignore" });
  await new Promise((resolve, reject) => child.once("spawn", resolve).once("error", reject));
  return child;
}
const killed = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });

const lockFiles = (file: string) =>
  readdirSync(path.dirname(file)).filter((n) => n.startsWith(`${path.basename(file)}.lock`));

test("a lock naming this process's pid, left by an earlier process with another start time or by an old version, is taken over and no append is lost", { skip: !hasProc, timeout: 10_000 }, async () => {
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const store = openFileStore(file);
  await append(store, "before\n");
  // A server killed mid-append and restarted with the same pid (pid 1 in a container).
  plantLock(file, holderLine(process.pid, String(Number(startTime("self")) - 1)));
  await append(store, "after\n");
  // The same after an upgrade: an old version's lock file holds only `<pid> <ms>`.
  writeFileSync(`${file}.lock`, `${process.pid} ${Date.now()}\n`);
  await append(store, "upgraded\n");
  assert.equal(readFileSync(file, "utf8"), "before\nafter\nupgraded\n");
  assert.deepEqual(lockFiles(file), [], "nothing left beside the log");
});

test("a lock naming this very process with a token none of its locks holds is taken over", { skip: !hasProc, timeout: 10_000 }, async () => {
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const store = openFileStore(file);
  plantLock(file, holderLine(process.pid, startTime("self"), "00000000ff"));
  await append(store, "one\n");
  assert.equal(readFileSync(file, "utf8"), "one\n");
});

test("a second copy of the store module in this process waits for the first copy's lock instead of taking it over", { timeout: 10_000 }, async () => {
  // OpenCode may load the plugin once per directory in one process: a copy of the compiled
  // module, loaded from elsewhere, has its own stores and locks.
  const copy = path.join(tempDir("apiary-module-"), "store.mjs");
  writeFileSync(copy, readFileSync(new URL("../../dist/npm/store.js", import.meta.url)));
  const other = (await import(pathToFileURL(copy).href)) as { openFileStore: typeof openFileStore };
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const first = openFileStore(file);
  const second = other.openFileStore(file);
  assert.notEqual(first, second, "two stores for one file");
  await first.lock();
  let got = false;
  const waiting = second.lock().then(() => (got = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(got, false, "the second copy waits while the first holds the lock");
  await first.write(bytes("first\n"));
  await first.unlock();
  await waiting;
  await second.write(bytes("second\n"));
  await second.unlock();
  assert.equal(readFileSync(file, "utf8"), "first\nsecond\n");
});

test("a lock naming a live process with another start time (a reused pid) is taken over and no append is lost", { skip: !hasProc, timeout: 10_000 }, async () => {
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const store = openFileStore(file);
  const child = await sleeper();
  try {
    await append(store, "before\n");
    plantLock(file, holderLine(child.pid!, String(Number(startTime(child.pid!)) - 1)));
    await append(store, "after\n");
    assert.equal(readFileSync(file, "utf8"), "before\nafter\n");
  } finally {
    await killed(child);
  }
});

test("a lock naming a live process with its own start time is not taken over until that process is gone", { skip: !hasProc, timeout: 10_000 }, async () => {
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const store = openFileStore(file);
  const child = await sleeper();
  const held = holderLine(child.pid!, startTime(child.pid!));
  plantLock(file, held);
  let got = false;
  const waiting = store.lock().then(() => (got = true));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(got, false, "the writer waits for the live holder");
  assert.equal(readlinkSync(`${file}.lock`), held);
  await killed(child);
  await waiting;
  assert.match(readlinkSync(`${file}.lock`), new RegExp(`^${process.pid} `));
  await store.unlock();
});

test("a writer stopped by SIGTERM after appending leaves no pid file beside the log", { timeout: 20_000 }, async () => {
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const writer = spawn(process.execPath, [
    "--input-type=module",
    "-e",
    `import { openFileStore } from ${JSON.stringify(new URL("../../dist/npm/store.js", import.meta.url).href)};
     const s = openFileStore(${JSON.stringify(file)});
     for (let i = 0; i < 3; i++) { await s.lock(); await s.write(new TextEncoder().encode(i + "\\n")); await s.unlock(); await s.sync(); }
     console.log("ready"); setInterval(() => {}, 1000);`,
  ]);
  await new Promise<void>((resolve, reject) => {
    writer.stdout.on("data", (d: Buffer) => d.toString().includes("ready") && resolve());
    writer.once("exit", (code) => reject(new Error(`the writer ended by itself (${code})`)));
  });
  const stopped = new Promise((r) => writer.once("exit", (_code, signal) => r(signal)));
  writer.kill("SIGTERM");
  assert.equal(await stopped, "SIGTERM");
  assert.equal(readFileSync(file, "utf8"), "0\n1\n2\n");
  assert.deepEqual(lockFiles(file), []);
});

test("pid files and takeover claims left by dead processes, and pid files of earlier processes with a live pid, are swept; those of live processes kept", { skip: !hasProc, timeout: 10_000 }, async () => {
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const lock = `${file}.lock`;
  const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid!;
  const child = await sleeper();
  const pid = child.pid!;
  try {
    const hourAgo = new Date(Date.now() - 3_600_000);
    const plant = (name: string, content: string, mtime?: Date) => {
      writeFileSync(`${lock}.${name}`, content);
      if (mtime) utimesSync(`${lock}.${name}`, mtime, mtime);
    };
    // Old versions' pid files hold `<pid> <ms>`, and are older than a later process with the pid.
    plant(`${dead}.dead`, `${dead} ${Date.now()}\n`);
    plant(`${process.pid}.earlier`, `${process.pid} ${hourAgo.getTime()}\n`, hourAgo);
    plant(`${pid}.earlier`, `${pid} ${hourAgo.getTime()}\n`, hourAgo);
    plant(`${pid}.live`, `${pid} ${Date.now()}\n`);
    // Claims to remove a stale lock, left by a claimer killed in the middle of it, and held.
    symlinkSync(holderLine(dead, "1"), `${lock}.stale.0123456789abcdef`);
    symlinkSync(holderLine(pid, startTime(pid)), `${lock}.stale.fedcba9876543210`);
    const store = openFileStore(file);
    await append(store, "one\n");
    assert.deepEqual(lockFiles(file).sort(), [`events.jsonl.lock.${pid}.live`, `events.jsonl.lock.stale.fedcba9876543210`]);
  } finally {
    await killed(child);
  }
});

test("a stale lock whose removal a live process has claimed is left to it, and taken over once that claimer is gone", { skip: !hasProc, timeout: 10_000 }, async () => {
  // Two processes that find one stale lock: only the one that claimed it removes it, or the
  // second could remove the lock the first has just made.
  const file = path.join(tempDir("apiary-lock-"), "events.jsonl");
  const dead = spawnSync(process.execPath, ["-e", "process.exit(0)"]).pid!;
  // An old version's lock, which any version takes over at once unless it honours the claim.
  const stale = `${dead} ${Date.now()}\n`;
  writeFileSync(`${file}.lock`, stale);
  const child = await sleeper();
  const claim = `${file}.lock.stale.${createHash("sha256").update(stale).digest("hex").slice(0, 16)}`;
  symlinkSync(holderLine(child.pid!, startTime(child.pid!)), claim);
  const store = openFileStore(file);
  let got = false;
  const waiting = store.lock().then(() => (got = true));
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(got, false, "the writer leaves the claimed lock to its claimer");
  assert.equal(readFileSync(`${file}.lock`, "utf8"), stale);
  await killed(child);
  await waiting;
  await store.write(bytes("one\n"));
  await store.unlock();
  assert.equal(readFileSync(file, "utf8"), "one\n");
  assert.deepEqual(lockFiles(file), []);
});
