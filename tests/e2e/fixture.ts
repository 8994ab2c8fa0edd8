// A real, isolated `opencode serve` in a scratch git repository, driven by the scripted model:
// the fixture every end-to-end scenario and the demo run on.
//
// Isolation: HOME and the XDG folders are the fixture's own, the environment is a short allow
// list, the only provider is the scripted model on 127.0.0.1, and OpenCode's update, share,
// model-list and LSP downloads are off.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { cpSync, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { createOpencodeClient } from "@opencode-ai/sdk";
import { watchConnections } from "./connections.js";
import { startScriptedModel, type ScriptedModel } from "./scripted-model.js";

export type OpencodeClient = ReturnType<typeof createOpencodeClient>;

export interface Fixture {
  root: string;
  repo: string;
  baseUrl: string;
  model: ScriptedModel;
  client: OpencodeClient;
  /** The server's output (every start appends). */
  logFile: string;
  /** Every remote address off loopback the server connected to (should stay empty). */
  offLoopback: Set<string>;
  /** SIGTERM, wait for the exit, then start again on the same port with the same folders. */
  restart(): Promise<void>;
  /** SIGKILL to the server and everything it started, as a machine that dies. */
  kill(): Promise<void>;
  /** Stops the server (and the model, if the fixture made it); removes `root` unless kept. */
  stop(): Promise<void>;
}

export interface FixtureOptions {
  /** A folder whose contents are copied into <repo>/.opencode/plugin/. */
  pluginDir?: string;
  /** Apiary's options, written to <repo>/.opencode/apiary.json before the server starts. */
  apiaryOptions?: Record<string, unknown>;
  /** Extra OpenCode config merged over the scripted provider's (e.g. `plugin`). */
  config?: Record<string, unknown>;
  /** A model server to share; by default the fixture starts (and later closes) its own. */
  model?: ScriptedModel;
  /** Clone this (bare) repository instead of making a new one; it must ignore `.opencode/`. */
  cloneFrom?: string;
  /** The port to listen on (one chosen with `freePort`); any free one by default. */
  port?: number;
  /** Leave `root` on disk after stop() (so does APIARY_KEEP_E2E=1). */
  keep?: boolean;
  /** Extra environment for the server (e.g. an OpenCode experimental flag), over the fixture's. */
  env?: Record<string, string>;
}

/** The workspace root: the nearest folder above this file (tests/e2e/ from source,
 * build/tests-js/tests/e2e/ compiled) that holds the installed OpenCode binary. */
export const workspace = ((): string => {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "node_modules", "opencode-linux-x64", "bin", "opencode"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no node_modules/opencode-linux-x64 above ${here}: run scripts/setup.sh`);
  }
})();
/** The built drop-in folder, for `pluginDir`. */
export const dropInPlugin = path.join(workspace, "dist", "opencode-plugin");
const opencodeBin = path.join(workspace, "node_modules", "opencode-linux-x64", "bin", "opencode");
const pluginPackage = path.join(workspace, "node_modules", "@opencode-ai", "plugin");
const pluginVersion = (JSON.parse(readFileSync(path.join(pluginPackage, "package.json"), "utf8")) as { version: string }).version;

/**
 * Stops OpenCode's dependency install in a config folder ($XDG_CONFIG_HOME/opencode, a
 * project's .opencode/, a worktree's .opencode/).
 *
 * What 1.18.33 does (its `Npm.install`, read in the binary and checked by experiment): for each
 * config folder it adds `@opencode-ai/plugin` and installs from the registry unless (a) the
 * folder is not writable, or (b) `node_modules` exists AND every dependency named in
 * package.json, plus `@opencode-ai/plugin`, is listed in package-lock.json's `packages[""]`.
 * Versions and the contents of node_modules are not checked. Otherwise the install runs in the
 * background: here it reached the registry (203.0.113.80:443); with no registry, the first
 * prompt stalls about 70 s. An EMPTY node_modules passes (b), but then a plugin importing
 * `@opencode-ai/plugin` (Apiary's does, for `tool`) fails to load and its tools are missing.
 *
 * So the folder gets its own node_modules holding one symlink to the workspace's installed
 * package (whose own imports resolve from the link's real path) and a minimal lock. Measured:
 * listening 1.1-2.5 s after spawn, no connection off loopback, Apiary's tools load. A private
 * node_modules rather than a link to the workspace's whole node_modules: should OpenCode ever
 * run npm here, it can only touch this folder, never the workspace's packages.
 */
export function prepareConfigFolder(dir: string): void {
  mkdirSync(path.join(dir, "node_modules", "@opencode-ai"), { recursive: true });
  const deps = { "@opencode-ai/plugin": pluginVersion };
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ dependencies: deps }, null, 2) + "\n");
  writeFileSync(
    path.join(dir, "package-lock.json"),
    JSON.stringify({ lockfileVersion: 3, requires: true, packages: { "": { dependencies: deps } } }, null, 2) + "\n",
  );
  const link = path.join(dir, "node_modules", "@opencode-ai", "plugin");
  if (!existsSync(link)) symlinkSync(pluginPackage, link, "dir");
}

// Every server this process started, so none outlives it: each runs in its own process group
// (OpenCode's children, e.g. the bash tool's shells, go with it), killed on exit and on the
// usual termination signals, which otherwise end Node without running `exit` handlers. The
// scratch folders of fixtures not stopped yet go too, unless kept.
const live = new Set<ChildProcess>();
const scratch = new Set<string>();
function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // The group is gone already.
  }
}
let reaperInstalled = false;
function installReaper(): void {
  if (reaperInstalled) return;
  reaperInstalled = true;
  const reap = () => {
    for (const child of live) killGroup(child, "SIGKILL");
    for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", reap);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      reap();
      process.kill(process.pid, signal); // our listener is gone: the default action follows
    });
  }
}

/** Where each run's event log is kept: the command line and the dashboard are tested on them. */
export const e2eLogs = path.join(workspace, "build", "e2e-logs");
let logsKept = 0;
function keepEventLog(repo: string): void {
  const log = path.join(repo, ".git", "apiary", "events.jsonl");
  if (!existsSync(log)) return;
  mkdirSync(e2eLogs, { recursive: true });
  const test = path.basename(process.argv[1] ?? "run").replace(/(\.test)?\.(js|ts)$/, "");
  cpSync(log, path.join(e2eLogs, `${test}-${process.pid}-${++logsKept}.jsonl`));
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function config(modelUrl: string, extra: Record<string, unknown>): string {
  return JSON.stringify({
    autoupdate: false,
    share: "disabled",
    enabled_providers: ["scripted"],
    model: "scripted/scripted-model",
    small_model: "scripted/scripted-model",
    provider: {
      scripted: {
        name: "Scripted model",
        npm: "@ai-sdk/openai-compatible",
        options: { baseURL: modelUrl, apiKey: "unused" },
        // Priced (per million tokens), so that OpenCode records a cost on every reply.
        models: {
          "scripted-model": { name: "Scripted", tool_call: true, limit: { context: 100000, output: 4096 }, cost: { input: 1000, output: 2000 } },
        },
      },
    },
    ...extra,
  });
}

export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  installReaper();
  const root = mkdtempSync(path.join(tmpdir(), "apiary-e2e-"));
  const keep = opts.keep === true || process.env.APIARY_KEEP_E2E === "1";
  if (!keep) scratch.add(root);
  const home = path.join(root, "home");
  const repo = path.join(root, "repo");
  const xdg = {
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_DATA_HOME: path.join(home, ".local", "share"),
    XDG_STATE_HOME: path.join(home, ".local", "state"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
  };
  for (const dir of Object.values(xdg)) mkdirSync(dir, { recursive: true });
  const baseEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C.UTF-8", HOME: home, ...xdg };

  // git under the fixture's HOME, so the user's ~/.gitconfig (signing, hooks) stays out.
  const git = (...args: string[]) =>
    execFileSync("git", args, { cwd: repo, stdio: "ignore", env: { ...baseEnv, GIT_CONFIG_NOSYSTEM: "1" } });
  if (opts.cloneFrom) {
    // A clone of a shared repository, as each machine of a team has (its `origin` names the
    // repository's log in a shared database).
    execFileSync("git", ["clone", "-q", opts.cloneFrom, repo], { stdio: "ignore", env: { ...baseEnv, GIT_CONFIG_NOSYSTEM: "1" } });
    git("config", "user.email", "e2e@apiary.local");
    git("config", "user.name", "Apiary e2e");
  } else {
    mkdirSync(repo);
    git("init", "-q", "-b", "main");
    git("config", "user.email", "e2e@apiary.local");
    git("config", "user.name", "Apiary e2e");
    writeFileSync(path.join(repo, "README.md"), "# scratch repository\n");
    // .opencode/ (plugin copy, config-folder files) stays out of `git status` and of worktrees.
    writeFileSync(path.join(repo, ".gitignore"), ".opencode/\n");
    git("add", ".");
    git("commit", "-q", "-m", "init");
  }

  prepareConfigFolder(path.join(xdg.XDG_CONFIG_HOME, "opencode"));
  prepareConfigFolder(path.join(repo, ".opencode"));
  if (opts.pluginDir) cpSync(opts.pluginDir, path.join(repo, ".opencode", "plugin"), { recursive: true });
  if (opts.apiaryOptions) {
    mkdirSync(path.join(repo, ".opencode"), { recursive: true });
    writeFileSync(path.join(repo, ".opencode", "apiary.json"), JSON.stringify(opts.apiaryOptions));
  }

  const ownModel = !opts.model;
  const model = opts.model ?? (await startScriptedModel({ logFile: path.join(root, "model.jsonl") }));
  const port = opts.port ?? (await freePort());
  const baseUrl = `http://127.0.0.1:${port}`;
  const logFile = path.join(root, "opencode.log");
  const env: NodeJS.ProcessEnv = {
    ...baseEnv,
    OPENCODE_CONFIG_CONTENT: config(model.url, opts.config ?? {}),
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_SHARE: "1",
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
    ...opts.env,
  };

  let server: ChildProcess | undefined;
  let recent = ""; // the output's tail, for error messages (the log file may lag behind)
  const connections = watchConnections(() => server?.pid);

  async function start(): Promise<void> {
    const out = createWriteStream(logFile, { flags: "a" });
    const child = spawn(opencodeBin, ["serve", "--port", String(port), "--hostname", "127.0.0.1", "--print-logs"], {
      cwd: repo,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      detached: true, // its own process group, killed as a whole
    });
    server = child;
    live.add(child);
    child.once("exit", () => {
      live.delete(child);
      killGroup(child, "SIGKILL"); // whatever it left running
      out.end();
    });
    const t0 = Date.now();
    recent = "";
    await new Promise<void>((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        reject(new Error(`opencode serve ${why} (log ${logFile}); last output:\n${recent.split("\n").slice(-30).join("\n")}`));
      };
      const timer = setTimeout(() => {
        fail("did not print 'opencode server listening' within 60 s");
        killGroup(child, "SIGKILL");
      }, 60_000);
      const onData = (d: Buffer) => {
        out.write(d);
        recent = (recent + d.toString("utf8")).slice(-16_384);
        if (recent.includes("opencode server listening")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("error", (e) => fail(`could not start: ${e.message}`));
      child.once("exit", (code, signal) => fail(`exited (code ${code}, signal ${signal}) ${Date.now() - t0} ms after start`));
    });
  }

  async function halt(): Promise<void> {
    const child = server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  let stopped = false;
  async function stop(keepFiles = keep): Promise<void> {
    if (stopped) return;
    stopped = true;
    scratch.delete(root);
    connections.stop();
    await halt();
    keepEventLog(repo);
    if (ownModel) await model.close();
    if (!keepFiles) rmSync(root, { recursive: true, force: true });
  }

  try {
    await start();
  } catch (e) {
    await stop(true); // a failed start keeps its folders: the error names the log file
    throw e;
  }
  return {
    root,
    repo,
    baseUrl,
    model,
    client: createOpencodeClient({ baseUrl }),
    logFile,
    offLoopback: connections.foreign,
    async restart() {
      await halt();
      await start();
    },
    kill: async () => {
      const child = server;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      killGroup(child, "SIGKILL");
      await exited;
    },
    stop: () => stop(),
  };
}
