// The command line on a log recorded from a real run: what it reports agrees with the lines
// themselves; damage, a torn last line and a growing log are handled; mistakes are refused.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { appendFileSync, cpSync, copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { pathToFileURL } from "node:url";
import * as path from "node:path";
import { cli, cliChild, cliJson, recordedRun, typesOf, workspace } from "./cli-run.js";
import { removeTempDirs, scratchRepo, tempDir } from "./repo.js";
import { fakeClient } from "./writer.js";
import { loadCore } from "../../dist/npm/core.js";
import { makeHost } from "../../dist/npm/host.js";
import { findLogPath, openFileStore } from "../../dist/npm/store.js";
import { startDashboard } from "../../dist/npm/cli/dashboard.js";

after(removeTempDirs);

const recorded = readFileSync(recordedRun, "utf8");
const lines = recorded.split("\n").filter((l) => l !== "");
const count = (type: string) => typesOf(recorded).filter((t) => t === type).length;

/** A copy of the recorded log (its first `n` lines), to change freely. */
function copyOf(n = lines.length, tail = ""): string {
  const file = path.join(tempDir("apiary-cli-"), "events.jsonl");
  writeFileSync(file, lines.slice(0, n).map((l) => `${l}\n`).join("") + tail);
  return file;
}

test("status shows every attempt of every epic as the log's lines have them", () => {
  const o = cliJson("status", "--log", recordedRun);
  assert.equal(o.health.events, lines.length);
  assert.equal(o.health.damage, null);
  const rows = o.epics.flatMap((e: { workers: unknown[] }) => e.workers);
  assert.equal(rows.length, count("worker_spawned"));
  const succeeded = rows.filter((w: { state: string }) => w.state === "success").length;
  assert.equal(succeeded, count("worker_completed"));
  const text = cli("status", "--log", recordedRun);
  assert.equal(text.code, 0, text.stderr);
  // Aligned: every row of a table starts its columns where its header does.
  const table = text.stdout.split("\n").filter((l) => l.startsWith("  ") && !l.startsWith("  queue"));
  const header = table.find((l) => l.includes("BEAD"))!;
  const stateAt = header.indexOf("STATE");
  for (const row of table.filter((l) => !l.includes("BEAD"))) {
    assert.match(row.slice(stateAt), /^(success|failed|running|starting|blocked|cancelled|needs_review|interrupted) /, row);
  }
});

test("stats count attempts, successes and durations per epic and per agent", () => {
  const s = cliJson("stats", "--log", recordedRun);
  assert.equal(s.overall.attempts, count("worker_spawned"));
  assert.equal(s.overall.succeeded, count("worker_completed"));
  assert.equal(s.overall.success_percent, 100);
  assert.ok(s.overall.p50_ms > 0 && s.overall.p50_ms <= s.overall.p95_ms, JSON.stringify(s.overall));
  assert.equal(s.epics.reduce((n: number, e: { attempts: number }) => n + e.attempts, 0), s.overall.attempts);
  const text = cli("stats", "--log", recordedRun).stdout;
  assert.match(text, /^all +\d+ /m);
  assert.match(text, /P50 +P95/);
});

test("log filters by type, bead and limit, in sequence order", () => {
  const done = cliJson("log", "--log", recordedRun, "--type", "worker_completed");
  assert.equal(done.total, count("worker_completed"));
  assert.ok(done.events.every((e: { type: string }) => e.type === "worker_completed"));
  const firstBead = done.events[0].bead_id as string;
  const one = cliJson("log", "--log", recordedRun, "--bead", firstBead);
  assert.ok(one.events.length >= 3 && one.events.every((e: { bead_id: string }) => e.bead_id === firstBead));
  const seqs = one.events.map((e: { seq: number }) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a: number, b: number) => a - b));
  const last = cliJson("log", "--log", recordedRun, "--limit", "3");
  assert.deepEqual(last.events.map((e: { seq: number }) => e.seq), [lines.length - 2, lines.length - 1, lines.length]);
});

test("replay shows the state as of a sequence number or a time", () => {
  const bySeq = cliJson("replay", "--log", recordedRun, "--seq", "12");
  assert.equal(bySeq.health.events, 12);
  assert.equal(bySeq.health.stopped, true);
  const at = (JSON.parse(lines[11]!) as { timestamp: number }).timestamp;
  const byTime = cliJson("replay", "--log", recordedRun, "--at", new Date(at).toISOString());
  assert.ok(byTime.health.events >= 12, `${byTime.health.events}`);
  assert.ok((byTime.health.last_at as number) <= at);
  const text = cli("replay", "--log", recordedRun, "--seq", "12").stdout;
  assert.match(text, /^replay: as of event #12 /);
});

test("a damaged log exits 2, names the line, and shows the valid part before it", () => {
  const file = copyOf();
  const damaged = lines.map((l, i) => (i === 9 ? l.replace('"seq":10', '"seq":10 ') : l));
  writeFileSync(file, damaged.join("\n") + "\n");
  const r = cli("status", "--log", file);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /the log is damaged at line 10 \(byte \d+\): .*Shown: the 9 valid event\(s\) before it/);
  assert.match(r.stdout, /: 9 event\(s\)/);
  const j = cli("log", "--log", file, "--json");
  assert.equal(j.code, 2);
  assert.equal(JSON.parse(j.stdout).health.damage.line, 10);
});

test("a torn last line is an append in progress, not damage", () => {
  const file = copyOf(20, lines[20]!.slice(0, 30));
  const r = cli("status", "--log", file);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /20 event\(s\), .*; 30 bytes of an append in progress not read yet/);
});

test("log --follow prints each appended event once, in order, as it is written", async () => {
  const file = copyOf(10);
  const child = cliChild("log", "--log", file, "--follow", "--json", "--limit", "1000");
  const seen: number[] = [];
  let buffered = "";
  const allSeen = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw only ${seen.join(",")}`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      buffered += d.toString("utf8");
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const p of parts) seen.push((JSON.parse(p) as { seq: number }).seq);
      if (seen.length >= lines.length) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  // Appended in pieces that split lines, as a writer's flushes may.
  const rest = lines.slice(10).map((l) => `${l}\n`).join("");
  for (let i = 0; i < rest.length; i += 700) {
    await new Promise((r) => setTimeout(r, 20));
    appendFileSync(file, rest.slice(i, i + 700));
  }
  try {
    await allSeen;
  } finally {
    child.kill("SIGINT");
  }
  assert.deepEqual(seen, Array.from({ length: lines.length }, (_, i) => i + 1));
});

test("mistakes are refused with what is wrong and exit 1", () => {
  const cases: [string[], RegExp][] = [
    [["explode"], /unknown command "explode"; one of: status, log/],
    [["status", "--seq", "3"], /--seq does not apply to status \(only to replay\)/],
    [["replay", "--log", recordedRun], /replay needs exactly one of --seq N or --at TIME/],
    [["log", "--limit", "0"], /--limit takes a whole number from 1/],
    [["replay", "--at", "yesterday-ish"], /--at takes an ISO 8601 time/],
    [["log", "--log", recordedRun, "--type", "worker_exploded"], /no event type "worker_exploded"; known: worker_spawned/],
    [["status", "--log", "/nonexistent/events.jsonl"], /no log file at \/nonexistent\/events.jsonl/],
  ];
  for (const [args, message] of cases) {
    const r = cli(...args);
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.stdout}`);
    assert.match(r.stderr, message, args.join(" "));
  }
  const repo = scratchRepo();
  const none = cli("status", "--dir", repo);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no swarm has run here yet: no log at .*\.git\/apiary\/events\.jsonl/);
  assert.match(cli("--help").stdout, /^usage: opencode-apiary <command>/);
});

test("the queue's reasons follow the limits in the repository's .opencode/apiary.json", async () => {
  const repo = scratchRepo();
  const options = { worktrees: false, max_running: 1 };
  mkdirSync(path.join(repo, ".opencode"));
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify(options));
  const Core = loadCore();
  const core = new Core(makeHost(fakeClient("q"), openFileStore(await findLogPath(repo))), options);
  const ctx = { session_id: "ses_coord", directory: repo };
  for (const bead of ["a", "b"]) await core.spawnAsync(ctx, { bead_id: bead, epic_id: "ep", title: bead, files: [`${bead}.txt`] });
  // The scheduler's round the plugin's duties run behind the spawns: a starts, b waits.
  await core.drain();
  const o = cliJson("status", "--dir", repo);
  assert.deepEqual(
    o.epics[0].queue.map((q: { bead_id: string; position: number; reason: string }) => [q.bead_id, q.position, q.reason]),
    [["b", 1, "limit: 1/1 running"]],
  );
  const copied = path.join(tempDir("apiary-cli-"), "events.jsonl");
  copyFileSync(await findLogPath(repo), copied);
  // Without the options file, the defaults (8 running) would start b at once.
  assert.equal(cliJson("status", "--log", copied).epics[0].queue[0].reason, "starts now");
});

test("a log in PostgreSQL reads as a file log does, and is followed through its notifications", async () => {
  const { freshLog, postgresUrl, spawnManyPg } = await import("./pg.js");
  const log = freshLog("cli");
  await spawnManyPg(log, "c", 3);
  const o = cliJson("status", "--postgres", postgresUrl(), "--log-name", log);
  // Three spawns, queued (nothing drains them here).
  assert.equal(o.health.events, 3);
  assert.equal(o.epics[0].queue.length, 3);
  assert.match(o.log, new RegExp(`^postgres://127\\.0\\.0\\.1:\\d+/apiary \\(log ${log}\\)$`));
  const child = cliChild("log", "--postgres", postgresUrl(), "--log-name", log, "--follow", "--json");
  const seen: number[] = [];
  const allSeen = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`saw only ${seen.join(",")}`)), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      for (const l of d.toString("utf8").split("\n").filter((x) => x !== "")) seen.push(JSON.parse(l).seq);
      if (seen.length >= 5) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await new Promise((r) => setTimeout(r, 500));
  await spawnManyPg(log, "d", 2);
  try {
    await allSeen;
  } finally {
    child.kill("SIGINT");
  }
  assert.deepEqual(seen, [1, 2, 3, 4, 5]);
  for (const [args, message] of [
    [["status", "--log-name", log], /--log-name needs --postgres/],
    [["status", "--postgres", postgresUrl(), "--log", recordedRun], /give --log FILE or --postgres URL, not both/],
    [["status", "--postgres", postgresUrl(), "--log-name", "no-such-log"], /no events in postgres:\/\/.* \(log no-such-log\)/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.code, 1, args.join(" "));
    assert.match(r.stderr, message);
  }
});

test("the README's team configuration is read by the command line and its secrets never reach a page", async () => {
  const { freshLog, postgresUrl, spawnManyPg } = await import("./pg.js");
  const log = freshLog("team");
  await spawnManyPg(log, "t", 2);
  const postgres = new URL(postgresUrl());
  postgres.password = "pg-secret-1";
  const repo = scratchRepo();
  mkdirSync(path.join(repo, ".opencode"));
  const team = {
    postgres: postgres.toString(),
    log_name: log,
    servers: [{ url: "http://127.0.0.1:9", max_workers: 2, password: "server-secret-2", username: "opencode" }],
    max_running: 1,
  };
  writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify(team));
  const secrets = /pg-secret-1|server-secret-2/;
  // Named on the command line, the log is read against the repository's options.
  const named = cli("status", "--dir", repo, "--postgres", postgresUrl(), "--log-name", log);
  assert.equal(named.code, 0, named.stderr);
  assert.doesNotMatch(named.stdout + named.stderr, secrets);
  // The command line reads the log where the plugin writes it: the options say PostgreSQL.
  const status = cli("status", "--dir", repo, "--json");
  assert.equal(status.code, 0, status.stderr);
  assert.doesNotMatch(status.stdout + status.stderr, secrets);
  const o = JSON.parse(status.stdout);
  assert.equal(o.health.events, 2);
  assert.match(o.log, new RegExp(`\\(log ${log}\\)$`));
  assert.equal(o.epics[0].queue.length, 2);
  const dashboard = await startDashboard({ dir: repo });
  try {
    const served = await fetch(`${dashboard.url}options`);
    assert.equal(served.status, 200);
    const text = await served.text();
    assert.doesNotMatch(text, secrets);
    const options = JSON.parse(text);
    assert.equal(options.postgres, undefined);
    assert.equal(options.log_name, undefined);
    assert.deepEqual(options.servers, [{ url: "http://127.0.0.1:9", max_workers: 2 }]);
    assert.equal(options.max_running, 1);
    assert.doesNotMatch(dashboard.log, secrets);
    const page = await fetch(dashboard.url);
    assert.doesNotMatch(await page.text(), secrets);
  } finally {
    await dashboard.close();
  }
});

const epicsOf = (file: string): string[] => cliJson("status", "--log", file).epics.map((e: { epic_id: string }) => e.epic_id);

test("an unknown --epic is refused with the epics the log knows, and exits 1", () => {
  const known = epicsOf(recordedRun);
  assert.ok(known.length > 0);
  for (const command of ["status", "stats", "log"]) {
    const r = cli(command, "--log", recordedRun, "--epic", "no-such-epic");
    assert.equal(r.code, 1, `${command}: ${r.stdout}`);
    assert.match(r.stderr, /^opencode-apiary: no epic no-such-epic in the log; known epics: /, command);
    for (const epic of known.slice(-10)) assert.ok(r.stderr.includes(epic), `${epic} in ${r.stderr}`);
    assert.equal(r.stdout, "", command);
  }
  // A known epic still answers.
  assert.equal(cli("status", "--log", recordedRun, "--epic", known[0]!).code, 0);
});

test("a worker spawned without an agent shows OpenCode's default agent, build", () => {
  const rows = cliJson("status", "--log", recordedRun).epics.flatMap((e: { workers: { agent: string }[] }) => e.workers);
  assert.ok(rows.length > 0 && rows.every((w: { agent: string }) => w.agent === "build"), JSON.stringify(rows.map((w: { agent: string }) => w.agent)));
  const text = cli("status", "--log", recordedRun).stdout;
  const header = text.split("\n").find((l) => l.includes("AGENT"))!;
  const at = header.indexOf("AGENT");
  const row = text.split("\n").find((l) => / success /.test(l))!;
  assert.match(row.slice(at), /^build /);
  assert.doesNotMatch(text, /default/);
  assert.match(cli("stats", "--log", recordedRun).stdout, /^agent build /m);
});

test("status lists the successful workers whose branch waits for a merge", async () => {
  const repo = scratchRepo();
  const Core = loadCore();
  const core = new Core(makeHost(fakeClient("m"), openFileStore(await findLogPath(repo))), { worktree_pool: 0 });
  const coordinator = { session_id: "ses_coord", directory: repo };
  for (const bead of ["m1", "m2", "m3"]) await core.spawnAsync(coordinator, { bead_id: bead, epic_id: "ep", title: bead, files: [`${bead}.txt`] });
  await core.drain();
  const workers = cliJson("status", "--dir", repo).epics[0].workers as { bead_id: string; session_id: string; directory: string }[];
  assert.equal(workers.length, 3);
  const report = (bead: string, status: "success" | "failed") => {
    const w = workers.find((x) => x.bead_id === bead)!;
    return core.complete({ session_id: w.session_id, directory: w.directory }, { bead_id: bead, status, summary: `${bead} ${status}`, files_touched: [] });
  };
  await report("m1", "success");
  await report("m2", "failed");
  await report("m3", "success");
  assert.deepEqual(cliJson("status", "--dir", repo).epics[0].to_merge, ["m1", "m3"]);
  const text = cli("status", "--dir", repo).stdout;
  assert.match(text, /^ {2}to merge: m1, m3$/m);
});

test("show refuses a bead the log does not have, naming the latest beads", () => {
  const r = cli("show", "no-such-bead", "--log", recordedRun);
  assert.equal(r.code, 1, r.stdout);
  const beads = [...new Set(cliJson("status", "--log", recordedRun).epics.flatMap((e: { workers: { bead_id: string }[] }) => e.workers.map((w) => w.bead_id)))];
  assert.match(r.stderr, /^opencode-apiary: no bead no-such-bead in .*recorded-run\.jsonl; the latest: /);
  assert.ok(r.stderr.includes(String(beads.at(-1))), r.stderr);
  const none = cli("show", "--log", recordedRun);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /show needs a bead: opencode-apiary show BEAD/);
  assert.match(cli("show", "x", "--server", "ftp://h").stderr, /--server takes an http:\/\/ or https:\/\/ URL/);
});

/** A port nothing listens on (just closed). */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test("show says which server it could not reach and how to name another", async () => {
  const bead = (JSON.parse(lines[0]!) as { bead_id: string }).bead_id;
  const port = await closedPort();
  const r = cli("show", bead, "--log", recordedRun, "--server", `http://127.0.0.1:${port}`);
  assert.equal(r.code, 1, r.stdout);
  assert.match(r.stderr, new RegExp(`^opencode-apiary: cannot reach the OpenCode server at http://127\\.0\\.0\\.1:${port} \\(.+\\); pass --server URL`));
});

test("the drop-in folder's copy of the command line runs from a project, its dashboard too", async () => {
  const project = scratchRepo();
  mkdirSync(path.join(project, ".opencode", "plugin"), { recursive: true });
  cpSync(path.join(workspace, "dist", "opencode-plugin"), path.join(project, ".opencode", "plugin"), { recursive: true });
  copyFileSync(recordedRun, path.join(project, "events.jsonl"));
  const main = path.join(".opencode", "plugin", "apiary", "cli", "main.js");
  // As the README says: `node .opencode/plugin/apiary/cli/main.js status`, in the project.
  const run = (...args: string[]) => spawnSync(process.execPath, [main, ...args], { cwd: project, encoding: "utf8" });
  const status = run("status", "--log", "events.jsonl");
  assert.equal(status.status, 0, status.stderr);
  const body = (text: string) => text.split("\n").slice(1).join("\n"); // after the log's line, which says "ago"
  assert.equal(body(status.stdout), body(cli("status", "--log", path.join(project, "events.jsonl")).stdout));
  assert.match(status.stdout, /^ {2}BEAD +TRY +STATE/m);
  const none = run("status");
  assert.equal(none.status, 1);
  assert.match(none.stderr, /no swarm has run here yet/);
  const copy = path.join(project, ".opencode", "plugin", "apiary", "cli", "dashboard.js");
  const { startDashboard: start } = (await import(pathToFileURL(copy).href)) as typeof import("../../dist/npm/cli/dashboard.js");
  const dashboard = await start({ dir: project, log: path.join(project, "events.jsonl") });
  try {
    for (const asset of ["", "dashboard.css", "page/app.js", "page/turn.js", "wasm/apiary_core_bg.wasm"]) {
      assert.equal((await fetch(dashboard.url + asset)).status, 200, asset);
    }
  } finally {
    await dashboard.close();
  }
});
