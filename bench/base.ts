// What a worker's base costs its start: the start of a worker in a new worktree (pool off) when
// the coordinator's tree is clean, and when it holds two uncommitted files, which the start
// takes as a commit for the worker to start from (`script::SNAPSHOT`); in a small repository
// and in one of 20,000 files. Run it with `bash scripts/bench.sh --base`; rewrites its table in
// BENCHMARKS.md.
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { markdownTable, measured, memory, writeSection } from "./report.js";

const { median } = await import("./harness.js");
const { loadCore } = await import("../dist/npm/core.js");
const { makeHost } = await import("../dist/npm/host.js");
const { openFileStore } = await import("../dist/npm/store.js");
const Core = loadCore();

const RUNS = 5;
const dir = mkdtempSync(path.join(tmpdir(), "apiary-bench-base-"));
const git = (cwd: string, ...args: string[]) => execFileSync("git", args, { cwd, stdio: "pipe" });

/** A repository of `files` files in folders of 100, one commit. */
function repository(name: string, files: number): string {
  const repo = path.join(dir, name);
  mkdirSync(repo);
  for (let i = 0; i < files; i++) {
    const folder = path.join(repo, `d${Math.floor(i / 100)}`);
    if (i % 100 === 0) mkdirSync(folder);
    writeFileSync(path.join(folder, `f${i}.txt`), `file ${i}\n`);
  }
  git(repo, "init", "-q", "-b", "main");
  git(repo, "add", "-A");
  git(repo, "-c", "user.name=bench", "-c", "user.email=bench@localhost", "commit", "-q", "-m", "files");
  return repo;
}

let sessions = 0;
const ok = <T>(data: T) => ({ data });
const client = {
  session: {
    create: async () => ok({ id: `ses_base_${++sessions}` }),
    promptAsync: async () => ok(undefined),
    delete: async () => ok(true),
    status: async () => ok({}),
    messages: async () => ok([]),
  },
} as never;

/** Milliseconds from a spawn to its worker started, `RUNS` times, each in a new worktree. */
async function starts(repo: string, label: string): Promise<number> {
  const core = new Core(makeHost(client, openFileStore(path.join(dir, `${label}.jsonl`))), {
    worktrees: true,
    worktree_pool: 0,
    max_running: 100,
  });
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await core.spawnAsync({ session_id: "ses_coord", directory: repo }, { bead_id: `${label}-${i}`, epic_id: label, title: "bench", files: [] });
    await core.drain();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

/** Milliseconds of the snapshot's own look at the tree, its costliest step: `git add -A` on a
 * copy of the index (which stats every file and hashes what changed). */
function look(repo: string): number {
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const index = path.join(dir, "index.copy");
    const t0 = performance.now();
    copyFileSync(path.join(repo, ".git", "index"), index);
    execFileSync("git", ["add", "-A"], { cwd: repo, stdio: "pipe", env: { ...process.env, GIT_INDEX_FILE: index } });
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

const rows: string[][] = [];
try {
  for (const [name, files] of [["small", 20], ["large", 20_000]] as const) {
    const repo = repository(name, files);
    const clean = await starts(repo, `${name}-clean`);
    writeFileSync(path.join(repo, "d0", "f0.txt"), "edited\n");
    writeFileSync(path.join(repo, "draft.txt"), "new\n");
    const dirty = await starts(repo, `${name}-dirty`);
    const scan = look(repo);
    git(repo, "checkout", "-q", "--", ".");
    rmSync(path.join(repo, "draft.txt"));
    rows.push([`${files.toLocaleString("en")} files`, clean.toFixed(0), dirty.toFixed(0), scan.toFixed(0)]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const table = markdownTable(
  ["repository", "start, clean tree (ms)", "start, 2 uncommitted files (ms)", "of which the look at the tree (ms)"],
  "lrrr",
  rows,
);
console.log(table);
const stamp = `${measured()}, ${memory()}; a spawn to its worker started in a new worktree (pool off), medians of ${RUNS}.`;
writeSection("base", `${stamp}\n\n${table}`);
process.exit(0);
