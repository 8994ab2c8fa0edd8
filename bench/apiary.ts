// Apiary's side of the benchmark, in a fresh process: prints one JSON object of figures.
// Appends go through the public tools (swarm_spawn_async, swarm_progress), each acknowledged
// only once durable (fdatasync), exactly as a plugin instance makes them.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, statSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const t0 = performance.now();
const { openFileStore } = await import("../dist/npm/store.js");
const { openCore, progressRun, median, fill } = await import("./harness.js");
type Core = import("./harness.js").Core;

const openCoreAt = (file: string): Core => openCore(openFileStore(file));

const dir = mkdtempSync(path.join(tmpdir(), "apiary-bench-"));
try {
  // Import and the first tool call, in this fresh process.
  const firstCore = openCoreAt(path.join(dir, "first.jsonl"));
  await firstCore.pollWorkers({ session_id: "", directory: "" }, { epic_id: "none" });
  const importAndFirstCallMs = performance.now() - t0;

  const single = await progressRun(openCoreAt(path.join(dir, "single.jsonl")), "one", 1, 2000);
  const concurrent = await progressRun(openCoreAt(path.join(dir, "eight.jsonl")), "eight", 8, 500);

  // 10,000 events: epic status, bytes per event, memory.
  const file10k = path.join(dir, "10k.jsonl");
  await fill(openCoreAt(file10k), 1000);
  const reader = openCoreAt(file10k);
  await reader.pollWorkers({ session_id: "", directory: "" }, { epic_id: "epic50" });
  const samples: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const s = performance.now();
    await reader.pollWorkers({ session_id: "", directory: "" }, { epic_id: `epic${i % 100}` });
    samples.push(performance.now() - s);
  }
  const bytesPerEvent = statSync(file10k).size / 10_000;
  // An instance opening the log in a process of its own: from the snapshot the writers keep,
  // then by replaying every line.
  const opened = (file: string, role = "coordinator") =>
    Number(execFileSync(process.execPath, [path.join(import.meta.dirname, "open-memory.ts"), file, role], { encoding: "utf8" }).trim());
  const wasmBytesAt10k = opened(file10k);
  const wasmBytesAt10kWorker = opened(file10k, "worker");
  const replay10k = path.join(dir, "replay.jsonl");
  copyFileSync(file10k, replay10k);
  // A worker's instance saves no snapshot: it replays first, then the coordinator's leaves one.
  const wasmBytesAt10kWorkerReplay = opened(replay10k, "worker");
  const wasmBytesAt10kReplay = opened(replay10k);

  // 100,000 events: opening, from the snapshot the writers keep, and from nothing.
  const file100k = path.join(dir, "100k.jsonl");
  await fill(openCoreAt(file100k), 10_000, 64);
  const openMs = async () => {
    const s = performance.now();
    const report = await openCoreAt(file100k).pollWorkers({ session_id: "", directory: "" }, { epic_id: "epic7" });
    if (report.total !== 10) throw new Error(`opened wrong: ${report.output}`);
    return performance.now() - s;
  };
  const open100kSnapshotMs = median([await openMs(), await openMs(), await openMs()]);
  unlinkSync(`${file100k}.snapshot`);
  const open100kReplayMs = await openMs();

  console.log(
    JSON.stringify({
      runtime: typeof Bun === "undefined" ? `node ${process.version}` : `bun ${Bun.version}`,
      import_and_first_call_ms: importAndFirstCallMs,
      appends_per_s_1_writer: single,
      appends_per_s_8_concurrent: concurrent,
      epic_status_ms_median_at_10k: median(samples),
      bytes_per_event: bytesPerEvent,
      wasm_memory_bytes_at_10k: wasmBytesAt10k,
      wasm_memory_bytes_at_10k_replay: wasmBytesAt10kReplay,
      wasm_memory_bytes_at_10k_worker: wasmBytesAt10kWorker,
      wasm_memory_bytes_at_10k_worker_replay: wasmBytesAt10kWorkerReplay,
      rss_bytes_after_10k: process.memoryUsage().rss,
      open_100k_with_snapshot_ms: open100kSnapshotMs,
      open_100k_full_replay_ms: open100kReplayMs,
    }),
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}

declare const Bun: { version: string } | undefined;
