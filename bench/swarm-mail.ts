// swarm-mail 1.11.2's side of the benchmark, in a fresh process, through its public API
// (createEvent + the package-level appendEvent(event, projectPath), readEvents): prints one
// JSON object of figures. Its database goes to SWARM_DB_PATH, set by the runner.
import { statSync } from "node:fs";

const t0 = performance.now();
const mail = (await import("swarm-mail")) as unknown as {
  createEvent(type: string, data: Record<string, unknown>): Record<string, unknown>;
  appendEvent(event: Record<string, unknown>, projectPath?: string): Promise<unknown>;
  readEvents(options: Record<string, unknown>, projectPath?: string): Promise<Record<string, unknown>[]>;
};
const project = process.env.BENCH_PROJECT!;
const dbPath = process.env.SWARM_DB_PATH!;

const event = (type: string, data: Record<string, unknown>) =>
  mail.createEvent(type, { project_key: project, agent_name: "bench", ...data });

// Import and the first append: what a plugin built on it pays before its first tool call.
await mail.appendEvent(event("task_started", { bead_id: "first", epic_id: "none" }), project);
const importAndFirstCallMs = performance.now() - t0;
const rssAfterOpen = process.memoryUsage().rss;

async function progressRun(lanes: number, perLane: number, tag: string): Promise<number> {
  const start = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async (_, i) => {
      for (let k = 0; k < perLane; k++) {
        await mail.appendEvent(
          event("task_progress", { bead_id: `${tag}-${i}`, progress_percent: k % 100, message: "compiling" }),
          project,
        );
      }
    }),
  );
  return (lanes * perLane) / ((performance.now() - start) / 1000);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

// Two parts, each in a fresh process with a fresh database: the append rates, and the 10,000
// event log (status, bytes).
if (process.env.BENCH_PART === "rates") {
  const single = await progressRun(1, 2000, "one");
  const concurrent = await progressRun(8, 500, "eight");
  console.log(
    JSON.stringify({
      runtime: typeof Bun === "undefined" ? `node ${process.version}` : `bun ${Bun.version}`,
      import_and_first_call_ms: importAndFirstCallMs,
      rss_bytes_after_open: rssAfterOpen,
      appends_per_s_1_writer: single,
      appends_per_s_8_concurrent: concurrent,
    }),
  );
  process.exit(0);
}

// 10,000 events (plus the first): 1000 workers of 10 events (start, 8 progress, complete), in
// epics of 10, appended with the same 32-lane concurrency Apiary's fill uses.
const before = (await mail.readEvents({}, project)).length;
let next = 0;
await Promise.all(
  Array.from({ length: 32 }, async () => {
    for (let w = next++; w < 1000; w = next++) {
      const epic = `epic${Math.floor(w / 10)}`;
      await mail.appendEvent(event("task_started", { bead_id: `w${w}`, epic_id: epic }), project);
      for (let k = 1; k <= 8; k++) {
        await mail.appendEvent(event("task_progress", { bead_id: `w${w}`, progress_percent: k * 10, message: "step" }), project);
      }
      await mail.appendEvent(
        event("task_completed", { bead_id: `w${w}`, summary: "done", files_touched: ["src/lib.rs"], success: true }),
        project,
      );
    }
  }),
);
const total = (await mail.readEvents({}, project)).length;

// Epic status by folding the epic's events, as its readEvents API allows.
async function epicStatus(epic: string): Promise<Record<string, string>> {
  const events = await mail.readEvents({ projectKey: project, types: ["task_started", "task_progress", "task_completed"] }, project);
  const beads = new Set(events.filter((e) => e.type === "task_started" && e.epic_id === epic).map((e) => String(e.bead_id)));
  const state: Record<string, string> = {};
  for (const e of events) {
    const b = String(e.bead_id);
    if (beads.has(b)) state[b] = e.type === "task_completed" ? "completed" : "in_progress";
  }
  return state;
}
const samples: number[] = [];
for (let i = 0; i < 20; i++) {
  const s = performance.now();
  await epicStatus(`epic${i}`);
  samples.push(performance.now() - s);
}
const bytes = ["", "-wal", "-shm"].reduce((sum, ext) => {
  try {
    return sum + statSync(dbPath + ext).size;
  } catch {
    return sum;
  }
}, 0);

console.log(
  JSON.stringify({
    epic_status_ms_median_at_10k: median(samples),
    events_at_status: total,
    bytes_per_event: bytes / total,
    rss_bytes_after_10k: process.memoryUsage().rss,
    fill_events: total - before,
  }),
);
process.exit(0);

declare const Bun: { version: string } | undefined;
