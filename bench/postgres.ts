// The event log on PostgreSQL against the file log, in one run on one machine: durable appends
// per second, and how soon a coordinator's await in one process learns that a worker in another
// process completed. Run it with `bash scripts/bench.sh --postgres`, which starts a private
// PostgreSQL and passes its connection string; rewrites its table in BENCHMARKS.md.
import { spawn as spawnProcess } from "node:child_process";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { createInterface } from "node:readline";
import { markdownTable, measured, memory, root, runtime, writeSection } from "./report.js";

const url = process.argv[2];
if (!url) throw new Error("usage: bun bench/postgres.ts <postgres connection string>");
const { openCore, ctx, spawn, progressRun, median, percentile } = await import("./harness.js");
const { openFileStore } = await import("../dist/npm/store.js");
const { openPostgresStore } = await import("../dist/npm/pgstore.js");
const ROUNDS = 30;
const now = () => performance.timeOrigin + performance.now();
const dir = mkdtempSync(path.join(tmpdir(), "apiary-bench-pg-"));
const run = Date.now().toString(36);

type Backend = "file" | "postgres";
const storeFor = async (backend: Backend, name: string) =>
  backend === "file" ? openFileStore(path.join(dir, `${name}.jsonl`)) : openPostgresStore(url, `bench-${run}-${name}`);
const whereFor = (backend: Backend, name: string) => (backend === "file" ? path.join(dir, `${name}.jsonl`) : url);

/** Completion notices: this process awaits, a worker process completes; ms from the worker's
 * durable append to the await's return, per round. */
async function notices(backend: Backend): Promise<number[]> {
  const name = "notice";
  const core = openCore(await storeFor(backend, name));
  const worker = spawnProcess(process.execPath, [path.join(root, "bench", "notice-worker.ts"), backend, whereFor(backend, name), `bench-${run}-${name}`], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const replies = createInterface({ input: worker.stdout! })[Symbol.asyncIterator]();
  const lags: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    const epic = `n${i}`;
    const session = await spawn(core, epic, `b${i}`);
    let returned = 0;
    const waiting = core
      .awaitWorkers(ctx("ses_coord"), { epic_id: epic, timeout_ms: 60_000, poll_interval_ms: 60_000 }, new Promise(() => undefined))
      .then((r) => {
        returned = now();
        return r;
      });
    await new Promise((r) => setTimeout(r, 50));
    worker.stdin!.write(`complete ${session} b${i}\n`);
    const reply = await replies.next();
    const durable = Number(String(reply.value).split(" ")[1]);
    const report = await waiting;
    if (report.completed.length !== 1) throw new Error(`round ${i}: ${report.summary}`);
    lags.push(returned - durable);
  }
  worker.stdin!.end("stop\n");
  return lags;
}

async function measure(backend: Backend) {
  const single = await progressRun(openCore(await storeFor(backend, "single")), "one", 1, 1000);
  const eight = await progressRun(openCore(await storeFor(backend, "eight")), "eight", 8, 250);
  const lags = await notices(backend);
  return { single, eight, lagMedian: median(lags), lagP95: percentile(lags, 95) };
}

try {
  const file = await measure("file");
  const pg = await measure("postgres");
  const n = (x: number, d = 0) => x.toFixed(d);
  const rows = [
    ["durable appends/s, 1 writer", n(file.single), n(pg.single), `${n(pg.single / file.single, 2)}x`],
    ["durable appends/s, 8 concurrent appenders", n(file.eight), n(pg.eight), `${n(pg.eight / file.eight, 2)}x`],
    [`completion notice to an await in another process, median ms (${ROUNDS} rounds)`, n(file.lagMedian, 1), n(pg.lagMedian, 1), ""],
    [`completion notice to an await in another process, p95 ms`, n(file.lagP95, 1), n(pg.lagP95, 1), ""],
  ];
  const table = markdownTable(["measure", "file log", "PostgreSQL log", "PostgreSQL vs file"], "lrrr", rows);
  console.log(table);
  const version = execFileSync("psql", [url, "-tAc", "SHOW server_version"], { encoding: "utf8" }).trim();
  const stamp = `${measured()}, ${memory()}, PostgreSQL ${version} on 127.0.0.1 (default settings, synchronous_commit on), ${runtime()}.`;
  writeSection("postgres", `${stamp}\n\n${table}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
