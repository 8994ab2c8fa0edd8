// How fast the views for people read a long log: the core's LogView in process, and the
// command line as a user runs it, on logs of 10,000 and 100,000 events written through the
// tools. Run it with `bash scripts/bench.sh --views`; rewrites its table in BENCHMARKS.md.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { markdownTable, measured, memory, root, runtime, writeSection } from "./report.js";

const { openCore, fill, median } = await import("./harness.js");
const { openFileStore } = await import("../dist/npm/store.js");
const { loadLogView } = await import("../dist/npm/core.js");
const cli = path.join(root, "dist", "npm", "cli", "main.js");
const dir = mkdtempSync(path.join(tmpdir(), "apiary-bench-views-"));

function timed(f: () => void, runs = 3): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

/** The floor of reading a log: what sha256 over every line (chained, as the log's check is)
 * and a JSON parse of every line cost here, with the runtime's native hash and parser. */
function floor(bytes: Uint8Array): number {
  return timed(() => {
    let h = "";
    for (const line of new TextDecoder().decode(bytes).split("\n")) {
      if (line === "") continue;
      h = createHash("sha256").update(h).update(line).digest("hex");
      JSON.parse(line);
    }
  });
}

const rows: string[][] = [];
try {
  for (const events of [10_000, 100_000]) {
    const file = path.join(dir, `${events}.jsonl`);
    await fill(openCore(openFileStore(file)), events / 10);
    const bytes = new Uint8Array(readFileSync(file));
    const View = loadLogView();
    const feed = timed(() => {
      const v = new View();
      v.feed(bytes);
      v.free();
    });
    const v = new View();
    v.feed(bytes);
    const overview = timed(() => void v.overview(Date.now()));
    const stats = timed(() => void v.stats(Date.now()));
    const events50 = timed(() => void v.events({ epic_id: "epic7", limit: 50 }));
    v.free();
    const run = (...args: string[]) => timed(() => void execFileSync(process.execPath, [cli, ...args, "--log", file], { stdio: "ignore" }));
    const mb = (statSync(file).size / 2 ** 20).toFixed(1);
    const ms = (x: number) => x.toFixed(1);
    const least = floor(bytes);
    rows.push([`${events.toLocaleString("en")} events (${mb} MB)`, ms(feed), ms(least), `${(feed / least).toFixed(1)}x`, ms(overview), ms(stats), ms(events50), ms(run("status")), ms(run("stats")), ms(run("log", "--epic", "epic7"))]);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const table = markdownTable(
  ["log", "read and check (ms)", "floor: sha256 + JSON.parse (ms)", "read and check / floor", "overview (ms)", "stats (ms)", "events of one epic (ms)", "`status` (ms)", "`stats` (ms)", "`log --epic` (ms)"],
  "lrrrrrrrrr",
  rows,
);
console.log(table);
const stamp = `${measured()}, ${memory()}; the core in process under ${runtime()}, the command as a user runs it (a new process each time, wasm start-up included), medians of 3.`;
writeSection("views", `${stamp}\n\n${table}`);
process.exit(0);
