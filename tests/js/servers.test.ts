// The servers of the `servers` option across a restart of the plugin: what is lost is what the
// log says, not what one process remembers.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import type { PluginInput } from "@opencode-ai/plugin";
import { ApiaryPlugin } from "../../dist/npm/index.js";
import { findLogPath } from "../../dist/npm/store.js";
import { removeTempDirs, scratchRepo } from "./repo.js";
import { fakeClient } from "./writer.js";

after(removeTempDirs);

const lostServer = fileURLToPath(new URL(`./lost-server${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url));

/** A stand-in OpenCode server on 127.0.0.1 that answers the probe's `GET /session/status`. */
function answering(port = 0): Promise<Server> {
  const server = createServer((req, res) => {
    res.writeHead(req.url?.startsWith("/session/status") ? 200 : 404, { "Content-Type": "application/json" }).end("{}");
  });
  return new Promise((resolve) => server.listen(port, "127.0.0.1", () => resolve(server)));
}

async function freePort(): Promise<number> {
  const server = await answering();
  const { port } = server.address() as AddressInfo;
  await new Promise((r) => server.close(r));
  return port;
}

async function waitFor(what: string, check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`no ${what} after ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a server lost before the plugin restarted is recorded back once it answers again", async () => {
  const repo = scratchRepo();
  const url = `http://127.0.0.1:${await freePort()}`;
  // Before: nothing listens there; the plugin of another process records it lost and stops.
  const before = spawnSync(process.execPath, [lostServer, repo, url], { encoding: "utf8", timeout: 60_000 });
  assert.equal(before.status, 0, before.stderr);
  const log = await findLogPath(repo);
  const count = (type: string) => readFileSync(log, "utf8").split(`"type":"${type}"`).length - 1;
  assert.equal(count("server_lost"), 1);
  // After: the server answers, and a new plugin instance starts over the same log.
  const server = await answering(Number(new URL(url).port));
  try {
    const input = { client: fakeClient("back"), directory: repo, worktree: repo } as unknown as PluginInput;
    await ApiaryPlugin(input, { worktrees: false, servers: [{ url, max_workers: 1 }] });
    await waitFor("server_back", () => count("server_back") === 1, 20_000);
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
});
