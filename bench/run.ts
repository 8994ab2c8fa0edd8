// The benchmark: Apiary's event log against swarm-mail 1.11.2, on this machine, in one run,
// each side in fresh processes under the same runtime (Bun, as OpenCode runs plugins).
// Prints a table and writes BENCHMARKS.md. Run it with `bash scripts/bench.sh`.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { markdownTable, measured, memory, writeSection } from "./report.js";

const here = path.dirname(fileURLToPath(import.meta.url));
type Figures = Record<string, number | string>;

function run(script: string, env: Record<string, string> = {}): Figures {
  const out = execFileSync(process.execPath, [path.join(here, script)], {
    cwd: here,
    env: { ...process.env, ...env },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 600_000,
  });
  return JSON.parse(out.trim().split("\n").at(-1)!) as Figures;
}

function swarmMail(part: string): Figures {
  const dir = mkdtempSync(path.join(tmpdir(), "swarm-mail-bench-"));
  try {
    mkdirSync(path.join(dir, "home"));
    mkdirSync(path.join(dir, "project"));
    return run("swarm-mail.ts", {
      HOME: path.join(dir, "home"),
      SWARM_DB_PATH: path.join(dir, "swarm.db"),
      BENCH_PROJECT: path.join(dir, "project"),
      BENCH_PART: part,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

console.error("[bench] swarm-mail: append rates");
const smRates = swarmMail("rates");
console.error("[bench] swarm-mail: 10,000 events");
const sm10k = swarmMail("10k");
console.error("[bench] apiary");
const ap = run("apiary.ts");

const size = JSON.parse(readFileSync(path.join(here, "..", "build", "wasm", "size.json"), "utf8")) as { wasm_gzip_bytes: number };
const n = (v: number | string | undefined, digits = 0) => (typeof v === "number" ? v.toFixed(digits) : "n/a");
const mb = (v: number | string | undefined) => (typeof v === "number" ? `${(v / 1048576).toFixed(1)} MB` : "n/a");
const ratio = (a: unknown, b: unknown) => (typeof a === "number" && typeof b === "number" ? `${(a / b).toFixed(1)}x` : "");
const rows: [string, string, string, string, string][] = [
  ["durable appends/s, 1 writer", n(ap.appends_per_s_1_writer), n(smRates.appends_per_s_1_writer), ratio(ap.appends_per_s_1_writer, smRates.appends_per_s_1_writer), ">= 2x"],
  ["durable appends/s, 8 concurrent appenders", n(ap.appends_per_s_8_concurrent), n(smRates.appends_per_s_8_concurrent), ratio(ap.appends_per_s_8_concurrent, smRates.appends_per_s_8_concurrent), ">= 10x"],
  ["epic status at 10,000 events (median ms)", n(ap.epic_status_ms_median_at_10k, 3), n(sm10k.epic_status_ms_median_at_10k, 1), "", "<= 0.03 ms"],
  ["bytes per event on disk", n(ap.bytes_per_event), n(sm10k.bytes_per_event), "", "<= 250"],
  ["import + first tool call (ms)", n(ap.import_and_first_call_ms, 1), n(smRates.import_and_first_call_ms, 1), "", "<= 15 ms"],
  ["wasm memory at 10,000 events, a coordinator's instance opening the log", mb(ap.wasm_memory_bytes_at_10k), "(no wasm)", "", "<= 6 MB"],
  ["the same, the snapshot deleted", mb(ap.wasm_memory_bytes_at_10k_replay), "", "", ""],
  ["the same, a worker's instance (its part of the swarm), from the snapshot", mb(ap.wasm_memory_bytes_at_10k_worker), "", "", ""],
  ["the same, a worker's instance, replaying", mb(ap.wasm_memory_bytes_at_10k_worker_replay), "", "", ""],
  ["`.wasm` gzipped", `${(size.wasm_gzip_bytes / 1024).toFixed(1)} KB`, "(no wasm)", "", "<= 200 KB"],
  ["process RSS after opening", "", mb(smRates.rss_bytes_after_open), "", ""],
  ["open a log of 100,000 events (ms), from its snapshot", n(ap.open_100k_with_snapshot_ms, 1), "", "", "<= 40 ms"],
  ["open a log of 100,000 events (ms), snapshot deleted", n(ap.open_100k_full_replay_ms, 1), "", "", "<= 150 ms"],
];
const table = markdownTable(["measure", "Apiary", "swarm-mail 1.11.2", "Apiary vs swarm-mail", "target"], "lrrrl", rows);
console.log(table);

const cpu = cpus()[0]?.model ?? "unknown CPU";
writeSection("bench", `${measured()} (${cpu}), ${memory()}, ${ap.runtime}.\n\n${table}`);
