// Plain, aligned text for people: the core computes every view, this only lays it out.
import { duration, money, percent, tokens } from "../page/format.js";
import type { Entry, EpicView, Group, Health, Overview, Stats } from "../wasm/apiary_core.js";

/** Columns padded to their widest cell, with no trailing blanks. */
export function table(rows: readonly (readonly string[])[], indent = ""): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) => (indent + row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")).trimEnd())
    .join("\n");
}

function oneLine(text: string | null | undefined, max: number): string {
  const flat = (text ?? "").replace(/\s+/g, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** `2026-11-29 10:41:03Z`. */
export function clock(ms: number): string {
  return new Date(ms).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** The log's own line: how many events, and damage or an append in progress if any. */
export function healthLine(file: string, h: Health, now: number): string {
  let line = `${file}: ${h.events} event(s)`;
  if (h.last_at != null) line += `, the last ${duration(Math.max(0, now - h.last_at))} ago`;
  if (h.partial_bytes > 0) line += `; ${h.partial_bytes} bytes of an append in progress not read yet`;
  return line;
}

export function damageLine(h: Health): string | undefined {
  const d = h.damage;
  if (!d) return undefined;
  return `the log is damaged at line ${d.line} (byte ${d.offset}): ${d.reason}. Shown: the ${h.events} valid event(s) before it; nothing after it is read.`;
}

function epicHeader(e: EpicView): string {
  const parts = [`${e.beads} bead(s)`];
  if (e.running) parts.push(`${e.running} running`);
  if (e.waiting) parts.push(`${e.waiting} waiting`);
  if (e.succeeded) parts.push(`${e.succeeded} succeeded`);
  if (e.failed) parts.push(`${e.failed} failed`);
  return `epic ${e.epic_id} · ${parts.join(", ")} · ${duration(e.last_at - e.first_at)}`;
}

export function statusText(o: Overview, epic?: string): string {
  const epics = o.epics.filter((e) => epic === undefined || e.epic_id === epic);
  if (epics.length === 0) return epic === undefined ? "no workers yet" : `no epic ${epic} in the log`;
  const out: string[] = [`running ${o.running} · waiting ${o.waiting} · blocked ${o.blocked}`];
  for (const e of epics) {
    out.push("", epicHeader(e));
    if (e.workers.length > 0) {
      // The server column only where workers were placed on the `servers` option's.
      const placed = e.workers.some((w) => w.server != null);
      const server = (w: (typeof e.workers)[number]) => (placed ? [w.server == null ? "-" : new URL(w.server).host] : []);
      const rows = [["BEAD", "TRY", "STATE", "PROGRESS", "DURATION", "AGENT", ...(placed ? ["SERVER"] : []), "LAST WORD"]];
      for (const w of e.workers) {
        rows.push([
          w.bead_id,
          String(w.attempt),
          w.state,
          w.progress_percent == null ? "-" : `${w.progress_percent}%`,
          duration(w.duration_ms),
          w.agent,
          ...server(w),
          oneLine(w.message, 60),
        ]);
      }
      out.push(table(rows, "  "));
    }
    if (e.to_merge.length > 0) out.push(`  to merge: ${e.to_merge.join(", ")}`);
    if (e.queue.length > 0) {
      out.push("  queue:");
      const rows = [["#", "BEAD", "STATE", "PRIORITY", "TRY", "QUEUED", "WHY"]];
      for (const q of e.queue) {
        rows.push([
          q.position == null ? "-" : String(q.position),
          q.bead_id,
          q.state,
          q.priority,
          String(q.attempt),
          `${duration(Math.max(0, o.now - q.queued_at))} ago`,
          oneLine(q.reason, 60),
        ]);
      }
      out.push(table(rows, "  "));
    }
  }
  return out.join("\n");
}

function eventRow(e: Entry): string[] {
  return [`#${e.seq}`, clock(e.at), e.type, e.bead_id ?? "-", oneLine(e.detail, 100)];
}

/** One event as `--follow` prints it, as it comes (not aligned with the others). */
export function eventLine(e: Entry): string {
  return eventRow(e).join("  ");
}

export function eventsText(entries: readonly Entry[]): string {
  return table(entries.map(eventRow));
}

function groupRow(name: string, g: Group): string[] {
  const ms = (v: number | null | undefined) => (v == null ? "-" : duration(v));
  return [
    name,
    String(g.attempts),
    String(g.beads),
    String(g.retries),
    String(g.running),
    String(g.succeeded),
    String(g.failed),
    String(g.blocked),
    percent(g.success_percent),
    ms(g.p50_ms),
    ms(g.p95_ms),
    ms(g.max_ms),
    duration(g.worker_ms),
    duration(g.span_ms),
    tokens(g.tokens),
    money(g.cost_micros),
  ];
}

export function statsText(s: Stats, epic?: string): string {
  const rows = [["", "ATTEMPTS", "BEADS", "RETRIES", "RUNNING", "OK", "FAILED", "BLOCKED", "SUCCESS", "P50", "P95", "MAX", "WORKER TIME", "WALL", "TOKENS", "COST"]];
  if (epic === undefined) rows.push(groupRow("all", s.overall));
  for (const e of s.epics) if (epic === undefined || e.name === epic) rows.push(groupRow(`epic ${e.name}`, e));
  if (epic === undefined) for (const a of s.agents) rows.push(groupRow(`agent ${a.name}`, a));
  if (epic === undefined) for (const m of s.models) rows.push(groupRow(`model ${m.name}`, m));
  if (rows.length === 1) return epic === undefined ? "no workers yet" : `no epic ${epic} in the log`;
  return table(rows);
}
