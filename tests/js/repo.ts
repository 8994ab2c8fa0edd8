// Scratch git repositories (with worktrees) for the shim's tests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

const made: string[] = [];

/** Removes every folder made so far; test files call it from `after`. */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A temporary folder, removed by `removeTempDirs`. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** A repository with one commit. */
export function scratchRepo(): string {
  const dir = tempDir("apiary-repo-");
  git(dir, "init", "-q", "-b", "main");
  git(dir, "config", "user.email", "test@apiary.local");
  git(dir, "config", "user.name", "Apiary test");
  writeFileSync(path.join(dir, "README.md"), "scratch\n");
  git(dir, "add", ".");
  git(dir, "commit", "-q", "-m", "init");
  return dir;
}

/** Adds a worktree on a new branch and returns its path. */
export function addWorktree(repo: string, name: string): string {
  const dir = path.join(path.dirname(repo), `${path.basename(repo)}-${name}`);
  git(repo, "worktree", "add", "-q", "-b", name, dir);
  made.push(dir);
  return dir;
}
