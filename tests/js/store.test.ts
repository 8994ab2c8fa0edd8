// The log's storage: where the file is found, and the byte operations the core relies on.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { findLogPath, memoryStore, openFileStore } from "../../dist/npm/store.js";
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
  assert.match(readFileSync(`${file}.lock`, "utf8"), new RegExp(`^${process.pid} `));
  await store.unlock();
  assert.equal(existsSync(`${file}.lock`), false);
});
