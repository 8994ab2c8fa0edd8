// The processes behind workers' git worktrees: git, and `sh` for the scripts the core writes
// (what readies a worktree for OpenCode is decided there; this only runs it).
import { execFile } from "node:child_process";

export interface GitOutput {
  code: number;
  stdout: string;
  stderr: string;
}

const options = (cwd: string) => ({
  cwd,
  maxBuffer: 16 * 1024 * 1024,
  env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" },
});

/** Runs `file` with `args` in `cwd`; a non-zero exit resolves with its code, only a program
 * that cannot start rejects. */
function run(file: string, args: string[], cwd: string): Promise<GitOutput> {
  return new Promise((resolve, reject) => {
    execFile(file, args, options(cwd), (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") {
        reject(new Error(`${file} could not run in ${cwd}: ${error.message}`));
        return;
      }
      resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
    });
  });
}

/** Runs git; a non-zero exit resolves with its code, only a git that cannot start rejects. */
export function runGit(cwd: string, args: string[]): Promise<GitOutput> {
  return run("git", args, cwd);
}

/** Runs a POSIX `sh` script in `cwd`; resolves to what it printed, stdout then stderr, whatever
 * its exit (the script reports its own outcome). */
export async function runShell(cwd: string, script: string): Promise<string> {
  const out = await run("sh", ["-c", script], cwd);
  return out.stdout + out.stderr;
}
