// Scratch git repositories (with worktrees) for the shim's tests.
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";

export function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/** A repository with one commit. */
export function scratchRepo(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "apiary-repo-"));
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
  return dir;
}
