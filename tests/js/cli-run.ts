// Runs the command line as a user does (`opencode-apiary ...` is `node dist/npm/cli/main.js`),
// under the runtime running the tests: Node, or Bun.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

/** The workspace root: the nearest folder above this file with a Cargo.toml. */
export const workspace = ((): string => {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "Cargo.toml"))) return dir;
    if (path.dirname(dir) === dir) throw new Error("no Cargo.toml above the tests");
  }
})();
export const cliPath = path.join(workspace, "dist", "npm", "cli", "main.js");
export const recordedRun = path.join(workspace, "tests", "fixtures", "recorded-run.jsonl");

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(...args: string[]): Ran {
  const r = spawnSync(process.execPath, [cliPath, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `cli(...).stdout` parsed, after checking it exited 0. */
export function cliJson<T = any>(...args: string[]): T {
  const r = cli(...args, "--json");
  if (r.code !== 0) throw new Error(`opencode-apiary ${args.join(" ")} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

export function cliChild(...args: string[]): ChildProcess {
  return spawn(process.execPath, [cliPath, ...args], { stdio: ["ignore", "pipe", "pipe"] });
}

/** The `type` of each line of a log. */
export function typesOf(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => (JSON.parse(l) as { type: string }).type);
}
