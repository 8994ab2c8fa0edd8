// A real, isolated `opencode serve` in a scratch git repository, driven by the scripted model:
// the fixture every end-to-end scenario and the demo run on.
//
// Isolation: HOME and the XDG folders are the fixture's own, the only provider is the scripted
// model on 127.0.0.1, and OpenCode's update, share, model-list and LSP downloads are off.
// Start-up stall: at start OpenCode makes sure each config folder ($XDG_CONFIG_HOME/opencode and
// <repo>/.opencode) has `@opencode-ai/plugin` installed, running an npm install otherwise, which
// stalls about 70 s without a registry. Each folder gets a package.json naming the same version
// and a `node_modules` link to this workspace's, where that version is installed.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
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
  /** The server's output. */
  logFile: string;
  /** Every remote address off loopback the server connected to (should stay empty). */
  offLoopback: Set<string>;
  /** SIGTERM, then start again on the same port with the same folders. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface FixtureOptions {
  /** A folder whose contents are copied into <repo>/.opencode/plugin/. */
  pluginDir?: string;
  /** Extra OpenCode config merged over the scripted provider's (e.g. `plugin`). */
  config?: Record<string, unknown>;
  model?: ScriptedModel;
  keep?: boolean;
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** The workspace root, from this file's place (tests/e2e/ or build/tests-js/tests/e2e/). */
export const workspace = path.resolve(here, here.includes(`${path.sep}build${path.sep}`) ? "../../../.." : "../..");
const opencodeBin = path.join(workspace, "node_modules", "opencode-linux-x64", "bin", "opencode");
const pluginVersion = (
  JSON.parse(readFileSync(path.join(workspace, "node_modules", "@opencode-ai", "plugin", "package.json"), "utf8")) as {
    version: string;
  }
).version;

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const p of live) p.kill("SIGKILL");
});

function git(cwd: string, ...args: string[]): void {
  execFileSync("git", args, { cwd, stdio: "ignore" });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** The config folder scripts/setup.sh prepared: @opencode-ai/plugin installed with npm. */
const preparedConfig = path.join(workspace, "build", "opencode-config");

/** Gives a config folder what OpenCode would otherwise install from the registry. */
function prepareConfigFolder(dir: string): void {
  if (readFileSync(path.join(preparedConfig, ".version"), "utf8").trim() !== pluginVersion) {
    throw new Error(`${preparedConfig} is not for @opencode-ai/plugin ${pluginVersion}: run scripts/setup.sh`);
  }
  mkdirSync(dir, { recursive: true });
  for (const f of ["package.json", "package-lock.json"]) cpSync(path.join(preparedConfig, f), path.join(dir, f));
  symlinkSync(path.join(preparedConfig, "node_modules"), path.join(dir, "node_modules"), "dir");
}

function config(modelUrl: string, extra: Record<string, unknown>): string {
  return JSON.stringify({
    $schema: "https://opencode.ai/config.json",
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
        models: { "scripted-model": { name: "Scripted", tool_call: true, limit: { context: 100000, output: 4096 } } },
      },
    },
    ...extra,
  });
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, "utf8").split("\n").slice(-lines).join("\n");
  } catch {
    return "(no output)";
  }
}

export async function startFixture(opts: FixtureOptions = {}): Promise<Fixture> {
  const root = mkdtempSync(path.join(tmpdir(), "apiary-e2e-"));
  const home = path.join(root, "home");
  const repo = path.join(root, "repo");
  const xdg = {
    XDG_CONFIG_HOME: path.join(home, ".config"),
    XDG_DATA_HOME: path.join(home, ".local", "share"),
    XDG_STATE_HOME: path.join(home, ".local", "state"),
    XDG_CACHE_HOME: path.join(home, ".cache"),
  };
  for (const dir of Object.values(xdg)) mkdirSync(dir, { recursive: true });
  prepareConfigFolder(path.join(xdg.XDG_CONFIG_HOME, "opencode"));

  mkdirSync(repo);
  git(repo, "init", "-q", "-b", "main");
  git(repo, "config", "user.email", "e2e@apiary.local");
  git(repo, "config", "user.name", "Apiary e2e");
  writeFileSync(path.join(repo, "README.md"), "# scratch repository\n");
  writeFileSync(path.join(repo, ".gitignore"), ".opencode/\n");
  git(repo, "add", ".");
  git(repo, "commit", "-q", "-m", "init");
  prepareConfigFolder(path.join(repo, ".opencode"));
  if (opts.pluginDir) cpSync(opts.pluginDir, path.join(repo, ".opencode", "plugin"), { recursive: true });

  const ownModel = !opts.model;
  const model = opts.model ?? (await startScriptedModel({ logFile: path.join(root, "model.jsonl") }));
  const port = await freePort();
  const baseUrl = `http://127.0.0.1:${port}`;
  const logFile = path.join(root, "opencode.log");
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    LANG: "C.UTF-8",
    HOME: home,
    ...xdg,
    OPENCODE_CONFIG_CONTENT: config(model.url, opts.config ?? {}),
    OPENCODE_DISABLE_AUTOUPDATE: "1",
    OPENCODE_DISABLE_SHARE: "1",
    OPENCODE_DISABLE_MODELS_FETCH: "1",
    OPENCODE_DISABLE_LSP_DOWNLOAD: "1",
    OPENCODE_DISABLE_DEFAULT_PLUGINS: "1",
  };

  let server: ChildProcess | undefined;
  const connections = watchConnections(() => server?.pid);
  async function start(): Promise<void> {
    const out = createWriteStream(logFile, { flags: "a" });
    const child = spawn(opencodeBin, ["serve", "--port", String(port), "--hostname", "127.0.0.1", "--print-logs"], {
      cwd: repo,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    live.add(child);
    server = child;
    child.on("exit", () => live.delete(child));
    await new Promise<void>((resolve, reject) => {
      let seen = "";
      const timer = setTimeout(() => reject(new Error(`opencode serve did not start in 60 s:\n${tail(logFile)}`)), 60_000);
      const onData = (d: Buffer) => {
        out.write(d);
        seen = (seen + d.toString()).slice(-4096);
        if (seen.includes("opencode server listening")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`opencode serve exited with ${code}:\n${tail(logFile)}`));
      });
    });
  }

  async function halt(): Promise<void> {
    const child = server;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
    await exited;
    clearTimeout(timer);
  }

  try {
    await start();
  } catch (e) {
    connections.stop();
    await halt();
    if (ownModel) await model.close();
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
    async stop() {
      connections.stop();
      await halt();
      if (ownModel) await model.close();
      if (!opts.keep && process.env.APIARY_KEEP_E2E !== "1") rmSync(root, { recursive: true, force: true });
    },
  };
}
