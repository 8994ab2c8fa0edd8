// A cluster of OpenCode servers on loopback, as the machines of a team: each has its own HOME
// and its own clone of one bare repository, and the plugin on each shares one log (its options
// name the database). The first server's plugin places workers on all of them.
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { freePort, startFixture, workspace, type Fixture } from "./fixture.js";
import type { ScriptedModel } from "./scripted-model.js";

const entry = pathToFileURL(path.join(workspace, "dist", "npm", "index.js")).href;

/** A bare repository with one commit, as a team's shared remote. */
export function bareRepository(dir: string): string {
  const bare = path.join(dir, "origin.git");
  const seed = path.join(dir, "seed");
  const git = (cwd: string, ...args: string[]) =>
    execFileSync("git", args, { cwd, stdio: "ignore", env: { ...process.env, GIT_CONFIG_NOSYSTEM: "1" } });
  git(dir, "init", "-q", "--bare", "-b", "main", bare);
  git(dir, "init", "-q", "-b", "main", seed);
  writeFileSync(path.join(seed, "README.md"), "# team repository\n");
  writeFileSync(path.join(seed, ".gitignore"), ".opencode/\n");
  git(seed, "add", ".");
  git(seed, "-c", "user.email=e2e@apiary.local", "-c", "user.name=e2e", "commit", "-q", "-m", "init");
  git(seed, "push", "-q", bare, "main");
  return bare;
}

export interface ClusterOptions {
  /** A folder for the bare repository (each server's folders are its fixture's own). */
  scratch: string;
  model: ScriptedModel;
  size: number;
  /** The plugin's options on every server (the database, the log's name). */
  shared: Record<string, unknown>;
  /** More options for the first server's plugin, which places the workers. */
  coordinator: Record<string, unknown>;
  /** Each server's limit in the `servers` option. */
  maxWorkers: number;
}

export interface Cluster {
  /** The first one is the coordinator's. */
  servers: Fixture[];
  urls: string[];
  /** The shared remote, `origin` of every server's clone. */
  bare: string;
}

export async function startCluster(o: ClusterOptions): Promise<Cluster> {
  const bare = bareRepository(o.scratch);
  const ports: number[] = [];
  for (let i = 0; i < o.size; i++) ports.push(await freePort());
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  // The worker machines first: the coordinator's options name their clones.
  const others: Fixture[] = [];
  for (let i = 1; i < o.size; i++) {
    others.push(await startFixture({ model: o.model, cloneFrom: bare, port: ports[i], config: { plugin: [[entry, o.shared]] } }));
  }
  const options = {
    ...o.shared,
    ...o.coordinator,
    servers: urls.map((url, i) => ({ url, max_workers: o.maxWorkers, ...(i > 0 ? { directory: others[i - 1]!.repo } : {}) })),
  };
  const first = await startFixture({ model: o.model, cloneFrom: bare, port: ports[0], config: { plugin: [[entry, options]] } });
  return { servers: [first, ...others], urls, bare };
}
