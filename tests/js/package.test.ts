// The npm package as published: `npm pack` of dist/npm, unpacked as an install would place it.
// Its `bin` is the command line, and the files it lists carry everything the command and the
// dashboard's page load (a file missing from `files` would only show after publishing).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { recordedRun, workspace } from "./cli-run.js";

// Inside the workspace, so that its dependencies (pg, the SDK) resolve from node_modules above
// it as they would from the project that installs it.
const root = path.join(workspace, "build", `pack-test-${process.pid}`);
after(() => rmSync(root, { recursive: true, force: true }));

function unpacked(): string {
  mkdirSync(root, { recursive: true });
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", root, path.join(workspace, "dist", "npm")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const filename = (JSON.parse(out) as { filename: string }[])[0]?.filename;
  if (!filename) throw new Error(`npm pack printed no file name: ${out}`);
  const dir = path.join(root, "node_modules", "opencode-apiary");
  mkdirSync(dir, { recursive: true });
  execFileSync("tar", ["-xzf", path.join(root, filename), "-C", dir, "--strip-components=1"]);
  return dir;
}

test("the packed package's bin runs the command line and serves the dashboard's every file", async () => {
  const dir = unpacked();
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { bin: Record<string, string> };
  const bin = path.join(dir, pkg.bin["opencode-apiary"]!);
  const status = execFileSync(process.execPath, [bin, "status", "--log", recordedRun, "--json"], { encoding: "utf8" });
  assert.equal(JSON.parse(status).health.events, readFileSync(recordedRun, "utf8").trim().split("\n").length);

  const child = spawn(process.execPath, [bin, "dashboard", "--log", recordedRun], { stdio: ["ignore", "pipe", "pipe"] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = "";
      child.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        const m = /open (http:\/\/127\.0\.0\.1:\d+\/[0-9a-f]{32}\/)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.on("exit", (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
    });
    for (const file of ["", "dashboard.css", "page/app.js", "page/format.js", "page/turn.js", "wasm/apiary_core.js", "wasm/apiary_core_bg.wasm", "log"]) {
      const res = await fetch(url + file);
      assert.equal(res.status, 200, `${file || "the page"}: HTTP ${res.status}`);
      if (file === "log") {
        // The stream stays open: read its first bytes only.
        const reader = res.body!.getReader();
        const { value } = await reader.read();
        assert.ok(value && value.length > 0);
        await reader.cancel();
      } else {
        assert.ok((await res.arrayBuffer()).byteLength > 0, file);
      }
    }
  } finally {
    child.kill("SIGINT");
  }
});
