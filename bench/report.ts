// What every benchmark does with its figures: a markdown table, the line that says when, at
// which commit and on what machine they were measured, and its own section of BENCHMARKS.md
// (between `<!-- name:begin -->` and `<!-- name:end -->`), which it rewrites.
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** A markdown table; `align` has a letter a column: `l` (left) or `r` (right). */
export function markdownTable(columns: string[], align: string, rows: string[][]): string {
  return [
    `| ${columns.join(" | ")} |`,
    `| ${[...align].map((a) => (a === "r" ? "---:" : "---")).join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

/** `Measured 2026-11-29 at commit abc1234 on 2 cores`; the caller adds what else matters. */
export function measured(): string {
  const commit = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: root, encoding: "utf8" }).trim();
  return `Measured ${new Date().toISOString().slice(0, 10)} at commit ${commit} on ${cpus().length} cores`;
}

/** The machine's memory, `24 GiB`. */
export const memory = (): string => `${(totalmem() / 2 ** 30).toFixed(0)} GiB`;

/** The runtime the benchmark runs under, `bun 1.x`. */
export const runtime = (): string => `bun ${(globalThis as { Bun?: { version: string } }).Bun?.version ?? "?"}`;

/** Replaces the section `name` of BENCHMARKS.md with `text`. */
export function writeSection(name: string, text: string, tag = "bench"): void {
  const file = path.join(root, "BENCHMARKS.md");
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const doc = readFileSync(file, "utf8");
  writeFileSync(file, doc.replace(new RegExp(`${begin}[\\s\\S]*${end}`), () => `${begin}\n${text}\n${end}`));
  console.error(`[${tag}] BENCHMARKS.md updated`);
}

/** The middle value (the upper one of an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The value at percentile `p` (nearest rank). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}
