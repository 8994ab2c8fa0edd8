// Nine workers on three OpenCode servers against nine on one server with a limit of three, in
// one run on this machine: real servers, the scripted model, one log on a private PostgreSQL.
// Run it with `bash scripts/bench.sh --cluster`; rewrites its table in BENCHMARKS.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { startCluster } from "../tests/e2e/cluster.ts";
import { startScriptedModel } from "../tests/e2e/scripted-model.ts";
import { prompt, script, spawnCall, toolParts, until } from "../tests/e2e/scenario.ts";
import { markdownTable, measured, median, memory, writeSection } from "./report.ts";

const url = process.argv[2];
if (!url) throw new Error("usage: bun bench/cluster.ts <postgres connection string>");
const WORKERS = 9;
const PER_SERVER = 3;
const WORKER_MS = 8000;
const RUNS = 3;

/** Seconds from the coordinator's spawn step to its await's return, for one epic; with
 * `worktrees`, each worker works in a worktree of its server's clone (the default), else in
 * the clone itself. */
async function wall(size: number, worktrees: boolean, run: number): Promise<number> {
  const scratch = mkdtempSync(path.join(tmpdir(), "apiary-bench-cluster-"));
  const model = await startScriptedModel();
  const cluster = await startCluster({
    scratch,
    model,
    size,
    shared: { postgres: url, log_name: `bench-cluster-${size}-${run}-${Date.now()}`, wake_coordinator: false },
    coordinator: { max_running: WORKERS, worktrees },
    maxWorkers: PER_SERVER,
  });
  try {
    const a = cluster.servers[0]!;
    const epic = `bench-${size}-${run}`;
    const beads = Array.from({ length: WORKERS }, (_, i) => `b${size}-${run}-${i}`);
    const coordinator = (await a.client.session.create({ body: { title: epic } })).data!;
    await prompt(
      a,
      coordinator.id,
      script(`coordinator-${epic}`, [
        { tool_calls: beads.map((b) => spawnCall(epic, b, WORKER_MS)) },
        { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: epic, timeout_ms: 600_000 } }] },
        { text: "done" },
      ]),
    );
    const parts = await until("the await", 600_000, async () => {
      const ps = await toolParts(a, coordinator.id);
      return ps.some((p) => p.tool === "swarm_await_workers" && p.state.status === "completed") ? ps : undefined;
    });
    const awaited = parts.find((p) => p.tool === "swarm_await_workers")!;
    if (!new RegExp(`${WORKERS} completed`).test(awaited.state.output ?? "")) throw new Error(awaited.state.output);
    const first = Math.min(...parts.filter((p) => p.tool === "swarm_spawn_async").map((p) => p.state.time!.start));
    const seconds = (awaited.state.time!.end! - first) / 1000;
    console.error(`[bench] ${size} server(s), worktrees ${worktrees}, run ${run + 1}: ${seconds.toFixed(2)} s\n${awaited.state.output}`);
    return seconds;
  } finally {
    for (const fx of cluster.servers) await fx.stop();
    await model.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}

const f = (x: number) => x.toFixed(2);
const rows: string[][] = [];
for (const worktrees of [true, false]) {
  const one: number[] = [];
  const three: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    one.push(await wall(1, worktrees, run));
    three.push(await wall(3, worktrees, run));
  }
  const where = worktrees ? "a worktree each (default)" : "in the clone (`worktrees: false`)";
  rows.push(
    [`one server, max_workers 3, ${where}`, f(median(one)), one.map(f).join(", "), "1.0x"],
    [`three servers, max_workers 3 each, ${where}`, f(median(three)), three.map(f).join(", "), `${(median(one) / median(three)).toFixed(2)}x`],
  );
}
const table = markdownTable(["how", "median s", "runs s", "speed-up"], "lrrr", rows);
console.log(table);
const stamp = `${measured()}, ${memory()}: ${WORKERS} workers of one ${WORKER_MS / 1000} s model turn each, first spawn to the await's return, ${RUNS} runs each, every server on this machine.`;
writeSection("cluster", `${stamp}\n\n${table}`);
process.exit(0);
