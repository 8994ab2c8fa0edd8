// The lifecycle benchmark's figures and their section of BENCHMARKS.md (bench/lifecycle.ts).
import { markdownTable, measured, median } from "./report.js";

/** One run of N workers spawned in one coordinator step. Times in ms. */
export interface Figures {
  /** Each spawn call, its tool part's start to end. */
  spawn_ms: number[];
  /** Each worker: its spawn call's start to its first model request. */
  first_request_ms: number[];
  /** The first spawn call's start to the last worker's end. */
  wall_ms: number;
  /** The last worker's end to the coordinator having every result (its await or Task call
   * ending; for background tasks, the last result injected into its session). */
  notice_ms: number;
  /** The last worker's end to the coordinator's next model request after that. */
  model_sees_ms: number;
  /** Characters of tool output (and injected results) into the coordinator's context. */
  context_chars: number;
  /** The coordinator's model requests, its first included. */
  coordinator_requests: number;
  /** The machine's 1-minute load average as the run began. */
  load_1m: number;
}

export interface Row {
  kind: string;
  n: number;
  runs: Figures[];
}

export interface FreedSlot {
  kind: string;
  /** Workers that waited for a slot. */
  waited: number;
  load_1m: number;
  slots: {
    freed_by: string;
    started: string;
    completed_to_idle_ms: number | null;
    completed_to_spawned_ms: number;
    spawned_to_request_ms: number;
  }[];
}

interface Summary {
  kind: string;
  n: number;
  runs: number;
  spawn_ms: { median: number; max: number };
  first_request_ms: { median: number; max: number };
  wall_ms: number;
  notice_ms: number;
  model_sees_ms: number;
  context_chars: number;
  coordinator_requests: number;
  load_1m: number;
}

/** Eight workers, the server restarted while every one is inside its first model turn: what
 * finishes with no new prompt from the coordinator. */
export interface Restart {
  kind: string;
  n: number;
  /** Workers whose work ended after the restart (Apiary: worker_completed; a subagent: a
   * complete final model reply). */
  finished: number;
  /** The restart (server ready again) to the last of those, ms; null when none finished. */
  restart_to_last_ms: number | null;
  /** The coordinator learnt of the results with no prompt of its own (Apiary's wake-up). */
  coordinator_told: boolean;
  /** How long the run looked after the restart, ms. */
  window_ms: number;
  load_1m: number;
}

export interface Result {
  opencode: string;
  turn_ms: number;
  runs: number;
  rows: Summary[];
  skipped: { kind: string; n: number; why: string }[];
  freed_slot: FreedSlot[];
  restart: Restart[];
  big_repo: { files: number; n: number; setup_ms: number; rows: Summary[] } | null;
  bench_ms: number;
}

const NAMES: Record<string, string> = {
  apiary_worktrees: "Apiary, a worktree each (default)",
  apiary_warm_pool: "Apiary, `worktree_pool: N`, the next N after N merged",
  apiary_in_place: "Apiary, `worktrees: false`",
  task_serial: "Task tool, one call per step",
  task_parallel: "Task tool, all calls in one step",
  task_background: "`task` with `background: true`",
};

const secs = (ms: number) => (ms / 1000).toFixed(2);
const pair = (x: { median: number; max: number }, f: (v: number) => string) => `${f(x.median)} / ${f(x.max)}`;
const ms0 = (v: number) => v.toFixed(0);

function cells(s: Summary): string[] {
  return [
    pair(s.spawn_ms, ms0),
    pair(s.first_request_ms, secs),
    secs(s.wall_ms),
    ms0(s.notice_ms),
    ms0(s.model_sees_ms),
    String(s.context_chars),
    String(s.coordinator_requests),
    s.load_1m.toFixed(1),
  ];
}

const COLUMNS = [
  "spawn call, median / max (ms)",
  "spawn to the worker's first model request, median / max (s)",
  "first spawn to the last worker's end (s)",
  "last worker's end to the coordinator having it (ms)",
  "last worker's end to the coordinator's next model request (ms)",
  "chars into the coordinator's context",
  "coordinator model requests",
  "1-min load at start",
];

export function lifecycleSection(r: Result): string {
  const minutes = (r.bench_ms / 60_000).toFixed(1);
  const stamp =
    `${measured()}, opencode ${r.opencode}: N workers spawned in one coordinator step, each one model turn of ` +
    `${r.turn_ms / 1000} s; ${r.runs} run(s) per row, each row on a fresh server, one after another. The whole bench took ${minutes} min.`;
  const sizes = [...new Set([...r.rows.map((s) => s.n), ...r.skipped.map((s) => s.n)])];
  const rows: string[][] = [];
  for (const n of sizes) {
    for (const kind of Object.keys(NAMES)) {
      const s = r.rows.find((x) => x.n === n && x.kind === kind);
      const skip = r.skipped.find((x) => x.n === n && x.kind === kind);
      if (s) rows.push([String(n), NAMES[kind]!, ...cells(s)]);
      else if (skip) rows.push([String(n), NAMES[kind]!, `skipped (${skip.why})`, ...COLUMNS.slice(1).map(() => "")]);
    }
  }
  const main = markdownTable(["N", "how", ...COLUMNS], "rlrrrrrrrr", rows);

  const slotRows = r.freed_slot.map((f) => {
    const col = (k: "completed_to_spawned_ms" | "spawned_to_request_ms") => f.slots.map((s) => s[k]);
    const idle = f.slots.map((s) => s.completed_to_idle_ms).filter((v): v is number => v !== null);
    const total = f.slots.map((s) => s.completed_to_spawned_ms + s.spawned_to_request_ms);
    const mm = (xs: number[]) => (xs.length ? `${ms0(median(xs))} / ${ms0(Math.max(...xs))}` : "(no worker_idle)");
    return [
      NAMES[f.kind]!.replace(/Apiary, /, "Apiary, max_running 2, 5 spawns, "),
      String(f.slots.length),
      mm(idle),
      mm(col("completed_to_spawned_ms")),
      mm(col("spawned_to_request_ms")),
      mm(total),
      f.load_1m.toFixed(1),
    ];
  });
  const slots = markdownTable(
    [
      "freed slot",
      "slots freed",
      "worker_completed to its worker_idle, median / max (ms)",
      "worker_completed to the next worker_spawned (ms)",
      "worker_spawned to its first model request (ms)",
      "worker_completed to that request (ms)",
      "1-min load at start",
    ],
    "lrrrrrr",
    slotRows,
  );

  const restartRows = r.restart.map((x) => [
    NAMES[x.kind]!,
    `${x.finished} of ${x.n}`,
    x.restart_to_last_ms === null ? "" : secs(x.restart_to_last_ms),
    x.coordinator_told ? "yes" : "no",
    secs(x.window_ms),
    x.load_1m.toFixed(1),
  ]);
  const restart = markdownTable(
    [
      "server restarted mid-run",
      "workers that finish with no new coordinator prompt",
      "restart to the last of them (s)",
      "coordinator told without a prompt",
      "watched after the restart (s)",
      "1-min load at start",
    ],
    "lrrlrr",
    restartRows,
  );

  let big = "";
  if (r.big_repo) {
    const b = r.big_repo;
    const table = markdownTable(
      ["how", ...COLUMNS],
      "lrrrrrrrr",
      b.rows.map((s) => [NAMES[s.kind]!, ...cells(s)]),
    );
    big =
      `\n\nThe coordinator's directory a clone of a committed repository of ${b.files.toLocaleString("en-US")} small files ` +
      `(generated in ${secs(b.setup_ms)} s), N = ${b.n}:\n\n${table}`;
  }
  return `${stamp}\n\n${main}\n\n${slots}\n\n${restart}${big}`;
}
