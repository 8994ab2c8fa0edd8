// The dashboard page: reads the log as a stream from the local server, feeds it to the wasm
// core's LogView, and draws what the core computes: a timeline per epic, the queue, metrics.
import init, { LogView, type EpicView, type Group, type Overview, type QueueRow, type Stats } from "../wasm/apiary_core.js";
import { duration, money, percent, tokens } from "./format.js";
import { turnText, type Turn } from "./turn.js";

const RECONNECT_MS = 1000;
/** Redraws at most this often while events pour in, and this often while a worker runs. */
const REDRAW_MS = 150;
const TICK_MS = 1000;

let view: LogView;
let received = 0;
let redrawTimer: ReturnType<typeof setTimeout> | undefined;

const $ = (id: string) => document.getElementById(id)!;

function el<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, cls?: string): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function setLive(state: "connecting" | "live" | "reconnecting"): void {
  const live = $("live");
  live.dataset.state = state;
  live.textContent = state === "live" ? "live" : `${state}…`;
}

/** A state in words, with a sign, so that no state is told by its colour alone. */
const STATE_WORDS: Record<string, string> = {
  success: "✓ success",
  failed: "✗ failed",
  blocked: "⏸ blocked",
  cancelled: "⊘ cancelled",
  needs_review: "? needs review",
  interrupted: "↯ interrupted",
  running: "▶ running",
  starting: "… starting",
};
const stateWords = (state: string) => STATE_WORDS[state] ?? state;

function bar(w: EpicView["workers"][number], from: number, span: number): HTMLElement {
  const node = el("div", undefined, "bar");
  node.dataset.bead = w.bead_id;
  node.dataset.attempt = String(w.attempt);
  node.dataset.state = w.state;
  if (w.server) node.dataset.server = w.server;
  node.style.left = `${((w.spawned_at - from) / span) * 100}%`;
  node.style.width = `${(Math.max(w.duration_ms, 1) / span) * 100}%`;
  const progress = w.progress_percent == null ? "" : `${w.progress_percent}% · `;
  node.textContent = `${progress}${w.message ?? w.state}`;
  node.title = [
    `${w.bead_id} attempt ${w.attempt}: ${w.title}`,
    `${stateWords(w.state)}, ${duration(w.duration_ms)}, agent ${w.agent}${w.server ? `, on ${w.server}` : ""}`,
    w.message ?? "",
    "(click: its last turn)",
  ].join("\n");
  // A button for the keyboard and screen readers too: it opens the worker's last turn.
  node.setAttribute("role", "button");
  node.tabIndex = 0;
  node.setAttribute("aria-label", `${w.bead_id} attempt ${w.attempt}: ${w.state.replace("_", " ")}, ${duration(w.duration_ms)}. ${w.message ?? ""}`);
  node.addEventListener("click", () => void openTurn(w.bead_id));
  node.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      void openTurn(w.bead_id);
    }
  });
  if (w.progress_percent != null && (w.state === "running" || w.state === "starting")) {
    const fill = el("div", undefined, "progress");
    fill.style.width = `${w.progress_percent}%`;
    node.append(fill);
  }
  return node;
}

function epicBlock(e: EpicView): HTMLElement {
  const block = el("div", undefined, "epic");
  block.dataset.epic = e.epic_id;
  const span = Math.max(e.last_at - e.first_at, 1);
  const title = el("h3", `epic ${e.epic_id} `);
  const parts = [`${e.beads} bead(s)`, `${e.running} running`, `${e.succeeded} succeeded`, `${e.failed} failed`];
  if (e.waiting) parts.push(`${e.waiting} waiting`);
  title.append(el("small", `${parts.join(" · ")} · ${duration(span)}`));
  const axis = el("div", undefined, "axis");
  axis.append(el("span", new Date(e.first_at).toLocaleTimeString()), el("span", `+${duration(span)}`));
  block.append(title, axis);
  if (e.to_merge.length > 0) block.append(el("p", `to merge: ${e.to_merge.join(", ")}`, "to-merge"));
  for (const w of e.workers) {
    const row = el("div", undefined, "row");
    const label = el("div", `${w.bead_id}${w.attempt > 1 ? ` #${w.attempt}` : ""}`, "label");
    label.title = w.title;
    // The state in words beside the bar, however narrow the bar is.
    const state = el("div", stateWords(w.state), "state");
    state.dataset.state = w.state;
    const track = el("div", undefined, "track");
    track.append(bar(w, e.first_at, span));
    row.append(label, state, track);
    block.append(row);
  }
  return block;
}

function tableOf(table: HTMLElement, head: readonly string[], rows: readonly (readonly string[])[], numeric: ReadonlySet<number>): void {
  const tr = el("tr");
  head.forEach((h, i) => tr.append(el("th", h, numeric.has(i) ? "num" : undefined)));
  const body = rows.map((r) => {
    const row = el("tr");
    r.forEach((cell, i) => row.append(el("td", cell, numeric.has(i) ? "num" : i === r.length - 1 ? "why" : undefined)));
    return row;
  });
  table.replaceChildren(tr, ...body);
}

function drawQueue(o: Overview): void {
  const rows: QueueRow[] = o.epics.flatMap((e) => e.queue);
  tableOf(
    $("queue"),
    ["#", "bead", "epic", "state", "priority", "try", "waited", "why"],
    rows.map((q) => [
      q.position == null ? "-" : String(q.position),
      q.bead_id,
      q.epic_id,
      q.state,
      q.priority,
      String(q.attempt),
      duration(Math.max(0, o.now - q.queued_at)),
      q.reason,
    ]),
    new Set([0, 5, 6]),
  );
  $("queue").dataset.rows = String(rows.length);
  if (rows.length === 0) $("queue").replaceChildren(el("caption", "nothing waits", "empty"));
}

function drawStats(s: Stats): void {
  const row = (name: string, g: Group) => [
    name,
    String(g.attempts),
    String(g.succeeded),
    String(g.failed),
    String(g.blocked),
    String(g.retries),
    percent(g.success_percent),
    g.p50_ms == null ? "-" : duration(g.p50_ms),
    g.p95_ms == null ? "-" : duration(g.p95_ms),
    duration(g.worker_ms),
    duration(g.span_ms),
    tokens(g.tokens),
    money(g.cost_micros),
  ];
  const rows = [
    row("all", s.overall),
    ...s.epics.map((e) => row(`epic ${e.name}`, e)),
    ...s.agents.map((a) => row(`agent ${a.name}`, a)),
    ...s.models.map((m) => row(`model ${m.name}`, m)),
  ];
  tableOf(
    $("stats"),
    ["", "attempts", "ok", "failed", "blocked", "retries", "success", "p50", "p95", "worker time", "wall", "tokens", "cost"],
    rows,
    new Set([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
  );
}

function draw(): void {
  redrawTimer = undefined;
  const now = Date.now();
  const o = view.overview(now);
  const h = o.health;
  const epics = $("epics");
  if (o.epics.length === 0) epics.replaceChildren(el("p", "no workers yet", "empty"));
  else epics.replaceChildren(...o.epics.map(epicBlock));
  drawQueue(o);
  drawStats(view.stats(now));
  const last = h.last_at == null ? "" : ` · last event ${duration(Math.max(0, now - h.last_at))} ago`;
  $("summary").textContent = `${h.events} events · running ${o.running} · waiting ${o.waiting} · blocked ${o.blocked}${last}`;
  const damage = $("damage");
  damage.hidden = !h.damage;
  damage.textContent = h.damage
    ? `The log is damaged at line ${h.damage.line}: ${h.damage.reason}. Shown: the ${h.events} events before it.`
    : "";
  document.body.dataset.events = String(h.events);
}

/** The panel with a worker's last turn, asked of OpenCode through this page's own server. */
async function openTurn(bead: string): Promise<void> {
  const panel = $("turn");
  const body = $("turn-body");
  panel.hidden = false;
  $("turn-title").textContent = `${bead}: the last turn`;
  body.textContent = "asking OpenCode…";
  panel.dataset.bead = bead;
  delete panel.dataset.state;
  let text: string;
  let ok = false;
  try {
    const res = await fetch(`show?bead=${encodeURIComponent(bead)}`, { cache: "no-store" });
    const answer = (await res.json()) as Turn | { error: string };
    ok = res.ok && !("error" in answer);
    text = "error" in answer ? answer.error : turnText(answer);
  } catch (e) {
    text = `the dashboard's server did not answer: ${e instanceof Error ? e.message : String(e)}`;
  }
  if (panel.dataset.bead !== bead) return; // another worker was clicked meanwhile
  body.textContent = text;
  panel.dataset.state = ok ? "shown" : "error";
}

function redrawSoon(): void {
  redrawTimer ??= setTimeout(draw, REDRAW_MS);
}

/** Reads the log from where this page is, and keeps reading as the server streams appends. */
async function stream(): Promise<never> {
  for (;;) {
    try {
      const res = await fetch(`log?from=${received}`, { cache: "no-store" });
      if (res.status === 409) {
        // The log got shorter (a torn line cut off): start over.
        view.free();
        view = await freshView();
        received = 0;
        continue;
      }
      if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
      // Live once the log as it was when asked is drawn, not as soon as the server answers.
      const end = Number(res.headers.get("X-Log-End") ?? received);
      let caughtUp = false;
      const catchUp = () => {
        if (caughtUp || received < end) return;
        caughtUp = true;
        clearTimeout(redrawTimer);
        draw();
        setLive("live");
      };
      catchUp();
      const reader = res.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        received += value.length;
        if (view.feed(value) > 0) redrawSoon();
        catchUp();
      }
    } catch {
      // The server went away or the stream broke: try again shortly.
    }
    setLive("reconnecting");
    await new Promise((resolve) => setTimeout(resolve, RECONNECT_MS));
  }
}

/** A fresh view, with the plugin's options so that the queue's reasons match the plugin's. */
async function freshView(): Promise<LogView> {
  const next = new LogView();
  try {
    const res = await fetch("options", { cache: "no-store" });
    if (res.ok) next.setOptions(await res.json());
  } catch {
    // The defaults, then: only the queue's reasons can differ.
  }
  return next;
}

$("turn-close").addEventListener("click", () => {
  $("turn").hidden = true;
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape") $("turn").hidden = true;
});

await init();
view = await freshView();
draw();
setInterval(() => {
  if (view.overview(Date.now()).running > 0) redrawSoon();
}, TICK_MS);
void stream();
