// The worker lifecycle against OpenCode's own Task tool, on one real `opencode serve` with the
// scripted model, in one run: eight subtasks whose model turns take 2 s each, run
//   - by Apiary: eight swarm_spawn_async in one step, then swarm_await_workers;
//   - by the Task tool, one call per step (the coordinator blocked on each in turn);
//   - by the Task tool, eight calls in one step (OpenCode runs them together; the coordinator
//     is still blocked until the last one ends, and their outputs fill its context).
// Worktrees are off for Apiary here, so the three run in the same instance and the same
// directory. Prints one JSON line; run it with `bash scripts/bench.sh --lifecycle`.
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { startFixture, type Fixture } from "../tests/e2e/fixture.js";
import { prompt, script, spawnCall, toolParts, until, type ToolCall } from "../tests/e2e/scenario.js";
import { markdownTable, measured, median, root, writeSection } from "./report.js";

const entry = pathToFileURL(path.join(root, "dist", "npm", "index.js")).href;
const N = 8;
const TURN_MS = 2000;
const RUNS = Number(process.env.LIFECYCLE_RUNS ?? 3);

/** Runs a coordinator script; returns the time from its first tool call's start to its last
 * tool call's end, and the characters its tool outputs added to its context. */
async function coordinate(fx: Fixture, id: string, steps: ToolCall[][]) {
  const session = (await fx.client.session.create({ body: { title: id } })).data!;
  await prompt(fx, session.id, script(id, [...steps.map((calls) => ({ tool_calls: calls })), { text: "done" }]));
  const total = steps.flat().length;
  const parts = await until(`${id}'s tool calls`, 300_000, async () => {
    const ps = (await toolParts(fx, session.id)).filter((p) => p.state.status === "completed" || p.state.status === "error");
    return ps.length === total ? ps : undefined;
  });
  const start = Math.min(...parts.map((p) => p.state.time!.start));
  const end = Math.max(...parts.map((p) => p.state.time!.end!));
  return { ms: end - start, context_chars: parts.reduce((n, p) => n + (p.state.output ?? "").length, 0) };
}

function taskCall(run: number, i: number): ToolCall {
  const body = script(`task-${run}-${i}`, [{ delay_ms: TURN_MS, text: `subtask ${i} done` }]);
  return { name: "task", args: { description: `subtask ${i}`, prompt: `Scripted subtask.\n${body}`, subagent_type: "general" } };
}


const fx = await startFixture({ config: { plugin: [[entry, { worktrees: false, wake_coordinator: false }]] } });
try {
  const results: Record<string, { ms: number; context_chars: number }[]> = { apiary: [], task_serial: [], task_parallel: [] };
  for (let run = 1; run <= RUNS; run++) {
    const epic = `bench-${run}`;
    const beads = Array.from({ length: N }, (_, i) => `b${run}-${i}`);
    console.error(`[lifecycle] run ${run}/${RUNS}: apiary`);
    results.apiary!.push(
      await coordinate(fx, `apiary-${run}`, [
        beads.map((b) => spawnCall(epic, b, TURN_MS)),
        [{ name: "swarm_await_workers", args: { epic_id: epic } }],
      ]),
    );
    console.error(`[lifecycle] run ${run}/${RUNS}: task tool, one per step`);
    results.task_serial!.push(await coordinate(fx, `serial-${run}`, beads.map((_, i) => [taskCall(run, i)])));
    console.error(`[lifecycle] run ${run}/${RUNS}: task tool, all in one step`);
    results.task_parallel!.push(await coordinate(fx, `parallel-${run}`, [beads.map((_, i) => taskCall(run + 100, i))]));
  }
  const summary = Object.fromEntries(
    Object.entries(results).map(([k, v]) => [k, { median_ms: median(v.map((r) => r.ms)), context_chars: median(v.map((r) => r.context_chars)), runs_ms: v.map((r) => r.ms) }]),
  );
  console.log(JSON.stringify({ workers: N, turn_ms: TURN_MS, runs: RUNS, ...summary }));
  writeTable(summary as Record<string, { median_ms: number; context_chars: number; runs_ms: number[] }>);
} finally {
  await fx.stop();
}

function writeTable(s: Record<string, { median_ms: number; context_chars: number; runs_ms: number[] }>): void {
  const secs = (ms: number) => (ms / 1000).toFixed(2);
  const row = (name: string, k: string, blocked: string) => [
    name,
    secs(s[k]!.median_ms),
    s[k]!.runs_ms.map(secs).join(", "),
    `${(s[k]!.median_ms / s.apiary!.median_ms).toFixed(1)}x`,
    String(s[k]!.context_chars),
    blocked,
  ];
  const table = markdownTable(
    ["how", "median s", "runs s", "time vs Apiary", "chars into the coordinator's context", "coordinator blocked"],
    "lrrrrl",
    [
      row("Apiary: spawn x8 in one step, then swarm_await_workers", "apiary", "only while it chooses to await"),
      row("Task tool, one call per step", "task_serial", "for every subtask, in turn"),
      row("Task tool, eight calls in one step", "task_parallel", "until the last subtask ends"),
    ],
  );
  const stamp = `${measured()}, opencode 1.18.33, ${N} subtasks of one ${TURN_MS / 1000} s model turn each, ${RUNS} runs.`;
  writeSection("lifecycle", `${stamp}\n\n${table}`, "lifecycle");
}
