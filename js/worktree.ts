// The filesystem side of workers' git worktrees: running git, and readying a new worktree so
// that OpenCode, which makes one instance per directory and loads plugins from that
// directory's own `.opencode/`, finds Apiary (and the user's other plugins) there too.
import { execFile } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import * as path from "node:path";

export interface GitOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs git; a non-zero exit resolves with its code, only a git that cannot start rejects. */
export function runGit(cwd: string, args: string[]): Promise<GitOutput> {
  return new Promise((resolve, reject) => {
    execFile(
      "git",
      args,
      { cwd, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, GIT_TERMINAL_PROMPT: "0", LC_ALL: "C" } },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") {
          reject(new Error(`git could not run in ${cwd}: ${error.message}`));
          return;
        }
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

/** The line that keeps the worktrees' folder out of `git status`, in `info/exclude` (local to
 * the clone, never committed). */
const IGNORE_LINE = "/.apiary/";

export async function prepareWorktree(root: string, worktree: string): Promise<string[]> {
  const exclude = await runGit(root, ["rev-parse", "--git-path", "info/exclude"]);
  if (exclude.code === 0) {
    const file = path.resolve(root, exclude.stdout.trim());
    const text = existsSync(file) ? readFileSync(file, "utf8") : "";
    if (!text.split("\n").includes(IGNORE_LINE)) {
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(file, `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${IGNORE_LINE}\n`);
    }
  }
  const links: string[] = [];
  linkMissing(path.join(root, ".opencode"), path.join(worktree, ".opencode"), ".opencode", links);
  return links;
}

/**
 * Links into `to` whatever of `from` the checkout lacks (untracked plugin files, the installed
 * `node_modules`, ...): the whole folder when the worktree has none, else entry by entry.
 * Links, not copies: the plugin and its dependencies stay one install.
 */
function linkMissing(from: string, to: string, relative: string, links: string[]): void {
  if (!isDirectory(from)) return;
  if (ours(from, to)) {
    links.push(relative);
    return;
  }
  if (!exists(to)) {
    symlinkSync(from, to);
    links.push(relative);
    return;
  }
  if (!isDirectory(to) || lstatSync(to).isSymbolicLink()) return;
  for (const name of readdirSync(from)) {
    const source = path.join(from, name);
    const target = path.join(to, name);
    if (ours(source, target)) {
      links.push(`${relative}/${name}`);
    } else if (!exists(target)) {
      symlinkSync(source, target);
      links.push(`${relative}/${name}`);
    } else if (name !== "node_modules" && isDirectory(source)) {
      linkMissing(source, target, `${relative}/${name}`, links);
    }
  }
}

/** Whether `target` is the link to `source` an earlier attempt made: reported again, so that
 * a retried worker's merge leaves it out too. */
function ours(source: string, target: string): boolean {
  try {
    return lstatSync(target).isSymbolicLink() && readlinkSync(target) === source;
  } catch {
    return false;
  }
}

function exists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
