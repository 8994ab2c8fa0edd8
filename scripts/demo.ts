// The demo: a real OpenCode server with the Apiary plugin and the scripted model, a
// coordinator that spawns six workers at once, their state shown live from Apiary's own core,
// and a final table of wall time against the workers' model turns run one after another.
// Run it with `bash scripts/demo.sh` (builds first), or `bun scripts/demo.ts` after a build.
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { loadCore, type PollReport, type WorkerView } from "../dist/npm/core.js";
import { makeHost } from "../dist/npm/host.js";
import { findLogPath, openFileStore } from "../dist/npm/store.js";
import { startDashboard } from "../dist/npm/cli/dashboard.js";
import { execFileSync } from "node:child_process";
import { dropInPlugin, startFixture } from "../tests/e2e/fixture.js";
import { loggedEvents, script, sleep, type Step, until, waitIdle } from "../tests/e2e/scenario.js";

const workspace = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const EPIC = "demo";
// Bead id and scripted working time (ms) of each worker: short for real work, long enough
// that the few seconds OpenCode takes to start each worktree's instance do not hide the point.
const WORKERS: [string, number][] = [
  ["parser", 6000],
  ["lexer", 9000],
  ["codegen", 12000],
  ["docs", 4500],
  ["tests", 10500],
  ["cli", 7500],
];

const tty = process.stdout.isTTY === true;
/** `--screenshot FILE`: a picture of the live dashboard mid-run (the README's is made so). */
const screenshotTo = ((i) => (i >= 0 ? process.argv[i + 1] : undefined))(process.argv.indexOf("--screenshot"));

/** Opens the dashboard in headless Chromium and saves a picture of it. */
async function screenshot(url: string, file: string): Promise<void> {
  const { chromium } = await import("playwright-core");
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", headless: true });
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    await page.goto(url);
    await page.waitForSelector("body[data-events]:not([data-events='0'])");
    await sleep(500);
    await page.screenshot({ path: file, fullPage: true });
  } finally {
    await browser.close();
  }
}
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const colour: Record<string, string> = { success: "32", running: "36", starting: "33", failed: "31", blocked: "31" };
const paint = (state: string, s: string) => (tty && colour[state] ? `\x1b[${colour[state]}m${s}\x1b[0m` : s);

function workerSteps(bead: string, ms: number): Step[] {
  return [
    {
      delay_ms: ms / 2,
      tool_calls: [{ name: "swarm_progress", args: { bead_id: bead, progress_percent: 50, message: "halfway" } }],
    },
    {
      delay_ms: ms / 2,
      tool_calls: [
        { name: "swarm_complete", args: { bead_id: bead, summary: `${bead} done`, files_touched: [`src/${bead}.rs`] } },
      ],
    },
    { text: `${bead} finished` },
  ];
}

function coordinatorScript(): string {
  return script("demo-coordinator", [
    {
      // All six spawns in one model step: OpenCode runs the calls, each returns at once.
      tool_calls: WORKERS.map(([bead, ms]) => ({
        name: "swarm_spawn_async",
        args: {
          bead_id: bead,
          epic_id: EPIC,
          title: `Build the ${bead}`,
          description: `A scripted worker.\n${script(`demo-${bead}`, workerSteps(bead, ms))}`,
          files: [`src/${bead}.rs`],
        },
      })),
    },
    { tool_calls: [{ name: "swarm_poll_workers", args: { epic_id: EPIC } }] },
    { text: "Six workers are running in the background." },
  ]);
}

function table(report: PollReport, elapsedMs: number): string[] {
  const all: WorkerView[] = [...report.completed, ...report.in_progress, ...report.failed, ...report.pending];
  all.sort((a, b) => WORKERS.findIndex(([w]) => w === a.bead_id) - WORKERS.findIndex(([w]) => w === b.bead_id));
  const lines = [
    bold(`t+${(elapsedMs / 1000).toFixed(1)}s  ${report.summary}`),
    `  ${"worker".padEnd(9)} ${"state".padEnd(13)} ${"progress".padEnd(9)} ${"time".padStart(6)}  note`,
  ];
  for (const w of all) {
    const progress = w.progress_percent === undefined ? "" : `${w.progress_percent}%`;
    const time = `${(w.elapsed_ms / 1000).toFixed(1)}s`;
    lines.push(
      `  ${w.bead_id.padEnd(9)} ${paint(w.state, w.state.padEnd(13))} ${progress.padEnd(9)} ${time.padStart(6)}  ${w.note ?? ""}`,
    );
  }
  return lines;
}

async function main(): Promise<void> {
  console.log(bold("Apiary demo: one coordinator, six workers, a real OpenCode server, the scripted model"));
  const started = Date.now();
  const fx = await startFixture({ pluginDir: dropInPlugin });
  console.log(`opencode serve ready at ${fx.baseUrl} in ${((Date.now() - started) / 1000).toFixed(1)}s (repo ${fx.repo})`);
  try {
    // The live view uses Apiary's own core, reading the same log the plugin writes.
    const ApiaryCore = loadCore();
    const core = new ApiaryCore(makeHost(fx.client, openFileStore(await findLogPath(fx.repo))));

    const dashboard = await startDashboard({ dir: fx.repo });
    console.log(`watch it live: ${dashboard.url}`);
    let pictured = screenshotTo === undefined;

    // As a person starts a swarm in OpenCode: `/swarm <goal>`, which runs the plugin's
    // coordinator agent (the scripted model plays it, its script carried in the goal).
    const coordinator = (await fx.client.session.create({ body: { title: "demo coordinator" } })).data!;
    const t0 = Date.now();
    console.log(`/swarm build the compiler: parser, lexer, codegen, docs, tests, cli`);
    const sent = await fx.client.session.command({
      path: { id: coordinator.id },
      body: { command: "swarm", arguments: `build the compiler: parser, lexer, codegen, docs, tests, cli ${coordinatorScript()}` },
    });
    if (sent.error) throw new Error(`/swarm failed: ${JSON.stringify(sent.error)}`);
    await until("the first spawn", 30_000, async () => (loggedEvents(fx).length > 0 ? true : undefined));

    let drawn = 0;
    let last = "";
    for (;;) {
      const report = await core.pollWorkers({ session_id: "", directory: "" }, { epic_id: EPIC });
      const lines = table(report, Date.now() - t0);
      if (tty) {
        if (drawn) process.stdout.write(`\x1b[${drawn}A\x1b[0J`);
        process.stdout.write(lines.join("\n") + "\n");
        drawn = lines.length;
      } else if (report.summary !== last) {
        console.log(lines.join("\n"));
      }
      last = report.summary;
      if (!pictured && report.completed.length >= 2 && report.in_progress.length >= 2) {
        pictured = true;
        await screenshot(dashboard.url, screenshotTo!);
      }
      if (report.total === WORKERS.length && report.completed.length + report.failed.length === WORKERS.length) break;
      if (Date.now() - t0 > 120_000) throw new Error("the workers did not finish within 2 minutes");
      await sleep(250);
    }
    await waitIdle(fx, coordinator.id);
    await dashboard.close();

    // Each worker's spend is counted when its turn ends, moments after its report.
    const workers = loggedEvents(fx).filter((e) => e.type === "worker_spawned").length;
    await until("every worker's spend counted", 30_000, async () =>
      new Set(loggedEvents(fx).filter((e) => e.type === "worker_usage").map((e) => e.bead_id)).size >= workers ? true : undefined,
    ).catch(() => undefined);
    const events = loggedEvents(fx);
    const spawnedAt = new Map(events.filter((e) => e.type === "worker_spawned").map((e) => [e.bead_id, e.timestamp]));
    // A blocking Task tool runs the same model turns one after another, in the coordinator's
    // own instance; here each worker also waits for OpenCode to start the instance of its
    // worktree, counted in "in session" but not in "model turns".
    const turnsOf = (bead: string) =>
      fx.model.requests
        .filter((r) => r.script_id === `demo-${bead}` && r.ended_at)
        .reduce((sum, r) => sum + (r.ended_at! - r.started_at), 0);
    const rows = events
      .filter((e) => e.type === "worker_completed")
      .map((e) => ({ bead: String(e.bead_id), ms: Number(e.duration_ms), turns: turnsOf(String(e.bead_id)), end: e.timestamp }));
    const first = Math.min(...spawnedAt.values());
    const wall = Math.max(...rows.map((r) => r.end)) - first;
    const serial = rows.reduce((s, r) => s + r.turns, 0);
    const secs = (ms: number) => `${(ms / 1000).toFixed(2)}s`.padStart(11);
    console.log("");
    console.log(bold("Final"));
    console.log(`  ${"worker".padEnd(9)} ${"in session".padStart(11)} ${"model turns".padStart(11)}`);
    for (const r of rows) console.log(`  ${r.bead.padEnd(9)} ${secs(r.ms)} ${secs(r.turns)}`);
    console.log(`  ${"serial".padEnd(9)} ${"".padStart(11)} ${secs(serial)}   (the same turns one after another, as the Task tool runs them)`);
    console.log(`  ${"wall".padEnd(9)} ${secs(wall)} ${"".padStart(11)}   (first spawn to last completion, in parallel, worktree start-up included)`);
    console.log(`  speed-up  ${(serial / wall).toFixed(1)}x, ${events.length} events in the log`);
    if (process.env.APIARY_KEEP_E2E === "1") console.log(`  the log: ${await findLogPath(fx.repo)}`);
    else console.log("  (the scratch repository is removed on exit; APIARY_KEEP_E2E=1 keeps it)");
    // The same run as the command line shows it, from the log alone.
    const cli = path.join(workspace, "dist", "npm", "cli", "main.js");
    for (const command of ["status", "stats"]) {
      console.log("");
      console.log(bold(`$ npx opencode-apiary ${command}`));
      console.log(execFileSync(process.execPath, [cli, command, "--dir", fx.repo], { encoding: "utf8" }).trimEnd());
    }
    console.log("");
    console.log(
      [
        "Use it in your own project with a real model:",
        "  1. bash scripts/build.sh",
        "  2. cp -r dist/opencode-plugin/* <your-project>/.opencode/plugin/",
        "     (or list the package in opencode.json: \"plugin\": [\"opencode-apiary\"])",
        "  3. run opencode there with your usual provider and give the swarm a goal:",
        "     /swarm add a login page with its route, its tests and a security review",
      ].join("\n"),
    );
  } finally {
    await fx.stop();
  }
}

main().catch((e: unknown) => {
  console.error(`demo failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}`);
  process.exit(1);
});
