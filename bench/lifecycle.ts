// The worker lifecycle on a real `opencode serve` with the scripted model, side by side in one
// run: N workers (1, 8 and 30) spawned in ONE coordinator step, each one model turn of 1 s, by
//   - Apiary, a worktree per worker (the default), then swarm_await_workers;
//   - Apiary with `worktrees: false` (the workers in the coordinator's directory), then the await;
//   - OpenCode's Task tool, one call per step (the coordinator blocked on each in turn);
//   - the Task tool, all N calls in one step (run together; the coordinator blocked until the last);
//   - OpenCode's own background subagents: `task` with `background: true` (server started with
//     OPENCODE_EXPERIMENTAL_BACKGROUND_SUBAGENTS=true); each result is injected into the
//     coordinator's session as a synthetic user message, which starts a turn of its own.
//   - Apiary with `worktree_pool: N`, a second swarm after the first N were merged (the merged
//     workers' checkouts went back to the pool);
// Then Apiary's freed slot (max_running 2, five spawns: a worker's worker_completed to the next
// queued worker's worker_spawned, and on to its first model request), a server restart in the
// middle of eight workers (what finishes with no new prompt from the coordinator), and, unless
// LIFECYCLE_BIG_FILES=0, eight workers in a committed repository of 20,000 small files.
//
// Each (row, N) gets a server of its own, started fresh, one after another. Prints one JSON line
// and rewrites the lifecycle section of BENCHMARKS.md. Run it with
// `bash scripts/bench.sh --lifecycle`. LIFECYCLE_RUNS (default 1), LIFECYCLE_SIZES (default
// 1,8,30), LIFECYCLE_SERIAL_MAX (the largest N for the Task tool one call per step, default 30),
// LIFECYCLE_BIG_FILES (default 20000; 0 skips it), LIFECYCLE_PARTS (default
// rows,slot,restart,big: a run of only some parts prints its JSON and leaves BENCHMARKS.md as
// it is).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { startFixture, workspace, type Fixture, type FixtureOptions } from "../tests/e2e/fixture.js";
import { loggedEvents, messages, prompt, script, sleep, spawnCall, toolParts, until, waitIdle, type LoggedEvent, type ToolCall } from "../tests/e2e/scenario.js";
import { findScript } from "../tests/e2e/scripted-model.js";
import { lifecycleSection, type Figures, type FreedSlot, type Restart, type Row } from "./lifecycle-report.js";
import { median, writeSection } from "./report.js";

const entry = pathToFileURL(path.join(workspace, "dist", "npm", "index.js")).href;
const TURN_MS = 1000;
const RUNS = Number(process.env.LIFECYCLE_RUNS ?? 1);
const SIZES = (process.env.LIFECYCLE_SIZES ?? "1,8,30").split(",").map(Number);
const SERIAL_MAX = Number(process.env.LIFECYCLE_SERIAL_MAX ?? 30);
const BIG_FILES = Number(process.env.LIFECYCLE_BIG_FILES ?? 20_000);
const ALL_PARTS = ["rows", "slot", "restart", "big"];
const PARTS = (process.env.LIFECYCLE_PARTS ?? ALL_PARTS.join(",")).split(",");
const BIG_N = 8;
const RESTART_N = 8;
/** A restarted worker's first turn: long enough for the restart to cut it off. */
const RESTART_TURN_MS = 8000;
/** How long a row with nothing left to resume is watched after the restart. */
const RESTART_WINDOW_MS = 30_000;
const SLOT_LIMIT = 2; // max_running for the freed slot
const LIMIT = 15 * 60_000; // a safety net for a stuck run, not a measure
const opencodeVersion = execFileSync(path.join(workspace, "node_modules", "opencode-linux-x64", "bin", "opencode"), ["--version"], {
  encoding: "utf8",
  env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: tmpdir() },
}).trim();

type Kind = "apiary_worktrees" | "apiary_warm_pool" | "apiary_in_place" | "task_serial" | "task_parallel" | "task_background";
const KINDS: Kind[] = ["apiary_worktrees", "apiary_warm_pool", "apiary_in_place", "task_serial", "task_parallel", "task_background"];
/** The largest N for the warm pool row: each member holds an OpenCode instance (~200 MB). */
const WARM_POOL_MAX = 8;

function serverOptions(kind: Kind, maxRunning = 30, n = 0): FixtureOptions {
  switch (kind) {
    case "apiary_worktrees":
      return { config: { plugin: [[entry, { max_running: maxRunning, wake_coordinator: false }]] } };
    case "apiary_warm_pool":
      return { config: { plugin: [[entry, { max_running: maxRunning, wake_coordinator: false, worktree_pool: n }]] } };
    case "apiary_in_place":
      return { config: { plugin: [[entry, { max_running: maxRunning, worktrees: false, wake_coordinator: false }]] } };
    case "task_background":
      return { env: { OPENCODE_EXPERIMENTAL_BACKGROUND_SUBAGENTS: "true" } };
    default:
      return {}; // OpenCode alone, no plugin
  }
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const log = (s: string) => console.error(`[lifecycle] ${s}`);

interface Part {
  type: string;
  tool?: string;
  text?: string;
  synthetic?: boolean;
  state?: { status: string; input?: Record<string, unknown>; output?: string; time?: { start: number; end?: number } };
}
type Message = { info: { role: string; time: { created: number; completed?: number } }; parts: Part[] };

/** Starts a coordinator session on a script; returns its id. */
async function coordinate(fx: Fixture, id: string, steps: { tool_calls?: ToolCall[]; text?: string }[]): Promise<string> {
  const session = (await fx.client.session.create({ body: { title: id } })).data!;
  await prompt(fx, session.id, script(id, [...steps, { text: "done" }]));
  return session.id;
}

async function finishedToolParts(fx: Fixture, sessionID: string, count: number) {
  return until(`${count} finished tool calls in ${sessionID}`, LIMIT, async () => {
    const ps = (await toolParts(fx, sessionID)).filter((p) => p.state.status === "completed" || p.state.status === "error");
    return ps.length >= count ? ps : undefined;
  });
}

const requestsOf = (fx: Fixture, scriptId: string) => fx.model.requests.filter((r) => r.script_id === scriptId && !r.title_request);
const firstRequest = (fx: Fixture, scriptId: string) => Math.min(...requestsOf(fx, scriptId).map((r) => r.started_at));
const lastRequestEnd = (fx: Fixture, scriptId: string) => Math.max(...requestsOf(fx, scriptId).map((r) => r.ended_at ?? Infinity));
/** The coordinator's first model request that started at or after `t`: when the model sees what it learnt at `t`. */
const requestAfter = (fx: Fixture, coordId: string, t: number) =>
  Math.min(...requestsOf(fx, coordId).filter((r) => r.started_at >= t).map((r) => r.started_at));

/** A Task tool call whose subagent runs a script of one turn of TURN_MS. */
function taskCall(id: string, background: boolean): ToolCall {
  const body = script(id, [{ delay_ms: TURN_MS, text: `${id} done` }]);
  const args: Record<string, unknown> = { description: `subtask ${id}`, prompt: `Scripted subtask.\n${body}`, subagent_type: "general" };
  if (background) args.background = true;
  return { name: "task", args };
}

function figures(
  fx: Fixture,
  coordId: string,
  spawns: { start: number; end: number; worker: string }[],
  workerEnds: number[],
  notice: number,
  contextChars: number,
): Figures {
  const lastEnd = Math.max(...workerEnds);
  return {
    spawn_ms: spawns.map((s) => s.end - s.start),
    first_request_ms: spawns.map((s) => firstRequest(fx, s.worker) - s.start),
    wall_ms: lastEnd - Math.min(...spawns.map((s) => s.start)),
    notice_ms: notice - lastEnd,
    model_sees_ms: requestAfter(fx, coordId, notice) - lastEnd,
    context_chars: contextChars,
    coordinator_requests: requestsOf(fx, coordId).length,
    load_1m: 0, // set by the caller
  };
}

const outputChars = (parts: { state: { output?: string } }[]) => parts.reduce((n, p) => n + (p.state.output ?? "").length, 0);

async function runApiary(fx: Fixture, tag: string, n: number): Promise<Figures> {
  const epic = tag;
  const beads = range(n).map((i) => `${tag}-${i}`);
  const coordId = `coord-${tag}`;
  const sid = await coordinate(fx, coordId, [
    { tool_calls: beads.map((b) => spawnCall(epic, b, TURN_MS)) },
    { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: epic } }] },
  ]);
  const parts = await finishedToolParts(fx, sid, n + 1);
  await waitIdle(fx, sid, LIMIT);
  const awaited = parts.find((p) => p.tool === "swarm_await_workers")!;
  const spawnParts = parts.filter((p) => p.tool === "swarm_spawn_async");
  const events = loggedEvents(fx);
  const completedAt = new Map(events.filter((e) => e.type === "worker_completed").map((e) => [e.bead_id as string, e.timestamp]));
  const missing = beads.filter((b) => !completedAt.has(b));
  if (missing.length) throw new Error(`${tag}: no worker_completed for ${missing.join(", ")}; the await said: ${awaited.state.output}`);
  const spawns = spawnParts.map((p) => {
    const bead = (p.state.input as { bead_id: string }).bead_id;
    return { start: p.state.time!.start, end: p.state.time!.end!, worker: `worker-${bead}` };
  });
  return figures(fx, coordId, spawns, beads.map((b) => completedAt.get(b)!), awaited.state.time!.end!, outputChars(parts));
}

async function runTask(fx: Fixture, tag: string, n: number, mode: "serial" | "parallel" | "background"): Promise<Figures> {
  const coordId = `coord-${tag}`;
  const calls = range(n).map((i) => taskCall(`${tag}-${i}`, mode === "background"));
  const steps =
    mode === "serial" ? calls.map((c) => ({ tool_calls: [c] })) : mode === "parallel" ? [{ tool_calls: calls }] : [{ tool_calls: calls }, { text: "waiting" }];
  const sid = await coordinate(fx, coordId, steps);
  const parts = await finishedToolParts(fx, sid, n);
  const failed = parts.filter((p) => p.state.status === "error");
  if (failed.length) throw new Error(`${tag}: ${failed.length} task call(s) failed: ${failed[0]!.state.output ?? JSON.stringify(failed[0]!.state)}`);
  let injected: Part[] = [];
  let notice = Math.max(...parts.map((p) => p.state.time!.end!));
  if (mode === "background") {
    // Each result arrives as a synthetic user message `<task id=... state="completed">`.
    const results = await until(`${n} background results in ${sid}`, LIMIT, async () => {
      const ms = ((await messages(fx, sid)) as unknown as Message[]).filter(
        (m) => m.info.role === "user" && m.parts.some((p) => p.type === "text" && p.synthetic && (p.text ?? "").startsWith("<task id=")),
      );
      return ms.length >= n ? ms : undefined;
    });
    injected = results.flatMap((m) => m.parts.filter((p) => p.type === "text" && p.synthetic));
    const errors = injected.filter((p) => !(p.text ?? "").includes('state="completed"'));
    if (errors.length) throw new Error(`${tag}: ${errors.length} background task(s) did not complete: ${errors[0]!.text}`);
    notice = Math.max(...results.map((m) => m.info.time.created));
  }
  await waitIdle(fx, sid, LIMIT);
  const spawns = parts.map((p) => ({
    start: p.state.time!.start,
    end: p.state.time!.end!,
    worker: findScript(String((p.state.input as { prompt: string }).prompt))!.id,
  }));
  const ends = spawns.map((s) => lastRequestEnd(fx, s.worker));
  const chars = outputChars(parts) + injected.reduce((k, p) => k + (p.text ?? "").length, 0);
  return figures(fx, coordId, spawns, ends, notice, chars);
}

/** A first swarm of N, merged (each merged worker's checkout goes back to the pool), then the
 * measured one: its workers start in directories OpenCode has run a session in. */
async function runWarmPool(fx: Fixture, tag: string, n: number): Promise<Figures> {
  await runApiary(fx, `${tag}-first`, n);
  const merges = range(n).map((i) => ({ name: "swarm_worktree_merge", args: { bead_id: `${tag}-first-${i}` } }));
  const sid = await coordinate(fx, `merge-${tag}`, [{ tool_calls: merges }]);
  const parts = await finishedToolParts(fx, sid, n);
  await waitIdle(fx, sid, LIMIT);
  const refused = parts.filter((p) => !/^(merged|nothing to merge)/.test(p.state.output ?? ""));
  if (refused.length) throw new Error(`${tag}: a merge was refused: ${refused[0]!.state.output}`);
  return runApiary(fx, tag, n);
}

function run(fx: Fixture, kind: Kind, tag: string, n: number): Promise<Figures> {
  switch (kind) {
    case "apiary_warm_pool":
      return runWarmPool(fx, tag, n);
    case "apiary_worktrees":
    case "apiary_in_place":
      return runApiary(fx, tag, n);
    case "task_serial":
      return runTask(fx, tag, n, "serial");
    case "task_parallel":
      return runTask(fx, tag, n, "parallel");
    case "task_background":
      return runTask(fx, tag, n, "background");
  }
}

/** One row: a fresh server, then RUNS runs of N workers on it. */
async function measureRow(kind: Kind, n: number, extra: FixtureOptions = {}, label = ""): Promise<Row> {
  const fx = await startFixture({ ...serverOptions(kind, 30, n), ...extra });
  try {
    const runs: Figures[] = [];
    for (let r = 1; r <= RUNS; r++) {
      log(`${kind}${label} N=${n} run ${r}/${RUNS}`);
      const t0 = Date.now();
      const load = loadavg()[0]!; // the machine is shared: what else ran is part of the figure
      runs.push({ ...(await run(fx, kind, `${kind.replace(/_/g, "-")}-${n}-${r}`, n)), load_1m: load });
      log(`  took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    return { kind, n, runs };
  } finally {
    await fx.stop();
  }
}

/** Apiary with max_running 2 and five spawns in one step: for each of the three workers that
 * waited for a slot (every worker_spawned after the first two), the completion that freed it
 * (the k-th worker_completed for the k-th such start), its worker_idle, the waiting worker's
 * worker_spawned and its first model request. Every spawn is recorded worker_queued first, so
 * the queue alone does not tell which waited. */
async function measureFreedSlot(kind: "apiary_worktrees" | "apiary_in_place"): Promise<FreedSlot> {
  const load = loadavg()[0]!;
  const fx = await startFixture(serverOptions(kind, SLOT_LIMIT));
  try {
    log(`freed slot, ${kind}`);
    const tag = `slot-${kind.replace(/_/g, "-")}`;
    const beads = range(5).map((i) => `${tag}-${i}`);
    const sid = await coordinate(fx, `coord-${tag}`, [
      { tool_calls: beads.map((b) => spawnCall(tag, b, TURN_MS)) },
      { tool_calls: [{ name: "swarm_await_workers", args: { epic_id: tag } }] },
    ]);
    await finishedToolParts(fx, sid, 6);
    await waitIdle(fx, sid, LIMIT);
    const events = loggedEvents(fx).filter((e) => beads.includes(e.bead_id as string));
    const of = (type: string) => events.filter((e) => e.type === type).sort((a, b) => a.seq - b.seq);
    const completions = of("worker_completed");
    const starts = of("worker_spawned").slice(SLOT_LIMIT);
    const idleOf = (c: LoggedEvent) => of("worker_idle").find((e) => e.bead_id === c.bead_id && e.seq > c.seq);
    const slots = starts.map((s, k) => {
      const c = completions[k];
      if (!c) throw new Error(`${tag}: ${starts.length} starts after the first ${SLOT_LIMIT} but ${completions.length} completions`);
      const idle = idleOf(c);
      return {
        freed_by: c.bead_id as string,
        started: s.bead_id as string,
        completed_to_idle_ms: idle ? idle.timestamp - c.timestamp : null,
        completed_to_spawned_ms: s.timestamp - c.timestamp,
        spawned_to_request_ms: firstRequest(fx, `worker-${s.bead_id as string}`) - s.timestamp,
      };
    });
    return { kind, waited: starts.length, slots, load_1m: load };
  } finally {
    await fx.stop();
  }
}

/** Eight workers spawned in one step; the server restarted (SIGTERM, started again) while every
 * one is inside its first model turn; then nothing is asked of it but the session list a TUI
 * loads. What finishes, and whether the coordinator hears of it, with no new prompt. */
async function measureRestart(kind: "apiary_worktrees" | "apiary_in_place" | "task_parallel" | "task_background"): Promise<Restart> {
  const load = loadavg()[0]!;
  const apiary = kind.startsWith("apiary");
  const options = serverOptions(kind, 30);
  if (apiary) {
    // The coordinator is woken as by default: whether it is told is part of the figure.
    const [[entryUrl, opts]] = (options.config as { plugin: [string, Record<string, unknown>][] }).plugin;
    options.config = { plugin: [[entryUrl, { ...opts, wake_coordinator: true }]] };
  }
  const fx = await startFixture(options);
  try {
    log(`restart mid-run, ${kind}`);
    const tag = `restart-${kind.replace(/_/g, "-")}`;
    const ids = range(RESTART_N).map((i) => `${tag}-${i}`);
    // Whether the resumed turn counts the cut-off reply as a step or not, a later step ends it.
    const long = { delay_ms: RESTART_TURN_MS };
    const calls: ToolCall[] = ids.map((id) => {
      if (!apiary) {
        const body = script(id, [{ ...long, text: `${id} done` }, { delay_ms: 500, text: `${id} done` }]);
        const args: Record<string, unknown> = { description: `subtask ${id}`, prompt: `Scripted subtask.\n${body}`, subagent_type: "general" };
        if (kind === "task_background") args.background = true;
        return { name: "task", args };
      }
      const complete = { tool_calls: [{ name: "swarm_complete", args: { bead_id: id, summary: `did ${id}`, files_touched: [] } }] };
      const body = script(`worker-${id}`, [{ ...long, ...complete }, { delay_ms: 500, ...complete }, { text: `${id} finished` }]);
      return { name: "swarm_spawn_async", args: { bead_id: id, epic_id: tag, title: `task ${id}`, description: `Scripted task.\n${body}`, files: [] } };
    });
    const workerId = (id: string) => (apiary ? `worker-${id}` : id);
    const coordId = `coord-${tag}`;
    const coordinator = await coordinate(fx, coordId, [{ tool_calls: calls }, { text: "waiting" }]);
    await until(`${RESTART_N} worker turns in flight`, LIMIT, async () => {
      const inFlight = new Set(fx.model.requests.filter((r) => !r.ended_at && ids.some((id) => r.script_id === workerId(id))).map((r) => r.script_id));
      return inFlight.size === RESTART_N ? true : undefined;
    });
    await fx.restart();
    const restarted = Date.now();
    await fx.client.session.list(); // what a TUI asks first: it starts the project's instance
    const finishedAt = (): number[] => {
      if (apiary) {
        return loggedEvents(fx)
          .filter((e) => e.type === "worker_completed" && e.timestamp >= restarted)
          .map((e) => e.timestamp);
      }
      return ids.flatMap((id) => {
        const done = fx.model.requests.filter((r) => r.script_id === id && r.started_at >= restarted && r.ended_at && !r.aborted);
        return done.length ? [Math.min(...done.map((r) => r.ended_at!))] : [];
      });
    };
    const coordinatorRequests = () => requestsOf(fx, coordId).filter((r) => r.started_at >= restarted).length;
    const deadline = restarted + (apiary ? 4 * RESTART_WINDOW_MS : RESTART_WINDOW_MS);
    // Apiary's rows end when every worker is done and the coordinator was told (or after four
    // windows); the others are watched for the whole window, in case anything comes back.
    while (Date.now() < deadline) {
      if (apiary && finishedAt().length === RESTART_N && coordinatorRequests() > 0) break;
      await sleep(250);
    }
    const ends = finishedAt();
    const coordinatorTold = coordinatorRequests() > 0;
    if (coordinatorTold) await waitIdle(fx, coordinator, LIMIT);
    return {
      kind,
      n: RESTART_N,
      finished: ends.length,
      restart_to_last_ms: ends.length ? Math.max(...ends) - restarted : null,
      coordinator_told: coordinatorTold,
      window_ms: Date.now() - restarted,
      load_1m: load,
    };
  } finally {
    await fx.stop();
  }
}

/** A bare repository of `files` small committed files (and the .gitignore the fixture needs). */
function bigRepository(files: number): { bare: string; dir: string } {
  const dir = mkdtempSync(path.join(tmpdir(), "apiary-bench-big-"));
  const work = path.join(dir, "work");
  const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dir, GIT_CONFIG_NOSYSTEM: "1" };
  const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, stdio: "ignore", env });
  mkdirSync(work);
  git(work, "init", "-q", "-b", "main");
  for (let i = 0; i < files; i++) {
    const sub = path.join(work, "src", `d${String(Math.floor(i / 200)).padStart(3, "0")}`);
    if (i % 200 === 0) mkdirSync(sub, { recursive: true });
    writeFileSync(path.join(sub, `f${String(i % 200).padStart(3, "0")}.txt`), `file ${i}\n`);
  }
  writeFileSync(path.join(work, ".gitignore"), ".opencode/\n");
  writeFileSync(path.join(work, "README.md"), `# ${files} small files\n`);
  git(work, "add", ".");
  git(work, "-c", "user.email=bench@apiary.local", "-c", "user.name=bench", "commit", "-q", "-m", "many files");
  git(dir, "clone", "-q", "--bare", work, "big.git");
  rmSync(work, { recursive: true, force: true });
  return { bare: path.join(dir, "big.git"), dir };
}

const t0 = Date.now();
const rows: Row[] = [];
const skipped: { kind: Kind; n: number; why: string }[] = [];
for (const n of PARTS.includes("rows") ? SIZES : []) {
  for (const kind of KINDS) {
    if (kind === "task_serial" && n > SERIAL_MAX) {
      skipped.push({ kind, n, why: `LIFECYCLE_SERIAL_MAX=${SERIAL_MAX}` });
      continue;
    }
    if (kind === "apiary_warm_pool" && n > WARM_POOL_MAX) {
      skipped.push({ kind, n, why: `a pool of more than ${WARM_POOL_MAX} holds an OpenCode instance each` });
      continue;
    }
    rows.push(await measureRow(kind, n));
  }
}
const freed = PARTS.includes("slot") ? [await measureFreedSlot("apiary_worktrees"), await measureFreedSlot("apiary_in_place")] : [];
const restarts: Restart[] = [];
for (const kind of PARTS.includes("restart") ? (["apiary_worktrees", "apiary_in_place", "task_parallel", "task_background"] as const) : []) {
  restarts.push(await measureRestart(kind));
}
const big: Row[] = [];
let bigSetupMs = 0;
if (BIG_FILES > 0 && PARTS.includes("big")) {
  const s = Date.now();
  log(`generating a repository of ${BIG_FILES} files`);
  const repo = bigRepository(BIG_FILES);
  bigSetupMs = Date.now() - s;
  try {
    for (const kind of ["apiary_worktrees", "apiary_warm_pool", "task_background"] as Kind[]) {
      big.push(await measureRow(kind, BIG_N, { cloneFrom: repo.bare }, `, ${BIG_FILES} files`));
    }
  } finally {
    rmSync(repo.dir, { recursive: true, force: true });
  }
}
const benchMs = Date.now() - t0;

const summarize = (r: Row) => {
  const all = (k: "spawn_ms" | "first_request_ms") => r.runs.flatMap((f) => f[k]);
  const mid = (k: "wall_ms" | "notice_ms" | "model_sees_ms" | "context_chars" | "coordinator_requests") => median(r.runs.map((f) => f[k]));
  return {
    kind: r.kind,
    n: r.n,
    runs: r.runs.length,
    spawn_ms: { median: median(all("spawn_ms")), max: Math.max(...all("spawn_ms")) },
    first_request_ms: { median: median(all("first_request_ms")), max: Math.max(...all("first_request_ms")) },
    wall_ms: mid("wall_ms"),
    notice_ms: mid("notice_ms"),
    model_sees_ms: mid("model_sees_ms"),
    context_chars: mid("context_chars"),
    coordinator_requests: mid("coordinator_requests"),
    load_1m: median(r.runs.map((f) => f.load_1m)),
    runs_wall_ms: r.runs.map((f) => f.wall_ms),
  };
};
const result = {
  opencode: opencodeVersion,
  turn_ms: TURN_MS,
  runs: RUNS,
  sizes: SIZES,
  rows: rows.map(summarize),
  skipped,
  freed_slot: freed,
  restart: restarts,
  big_repo: BIG_FILES > 0 && PARTS.includes("big") ? { files: BIG_FILES, n: BIG_N, setup_ms: bigSetupMs, rows: big.map(summarize) } : null,
  bench_ms: benchMs,
};
console.log(JSON.stringify(result));
if (ALL_PARTS.every((p) => PARTS.includes(p))) writeSection("lifecycle", lifecycleSection(result), "lifecycle");
