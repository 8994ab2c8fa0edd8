#!/usr/bin/env node
// `npx opencode-apiary <command>`: the state, events and metrics of a repository's swarm, read
// from its event log by the same wasm core the plugin runs.
import { loadLogView } from "../core.js";
import type { EventFilter, LogView } from "../wasm/apiary_core.js";
import { parseArgs, UsageError, USAGE, type Args } from "./args.js";
import { serveDashboard } from "./dashboard.js";
import { turnText } from "../page/turn.js";
import { ShowError, showWorker } from "./show.js";
import { locate, NoLog, type LogOrigin, type LogSource } from "./source.js";
import { clock, damageLine, eventLine, eventsText, healthLine, statsText, statusText } from "./text.js";

const FOLLOW_POLL_MS = 1000;
const print = (text: string) => process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
const json = (value: unknown) => print(JSON.stringify(value, null, 2));

/** An `--epic` the log does not have is a mistake to say, not an empty answer. */
class UnknownEpic extends Error {}
const KNOWN_EPICS_SHOWN = 10;

function checkEpic(view: LogView, epic: string | undefined): void {
  if (epic === undefined) return;
  const known = view.overview(Date.now()).epics.map((e) => e.epic_id);
  if (known.includes(epic)) return;
  if (known.length === 0) throw new UnknownEpic(`no epic ${epic}: the log has no epic yet`);
  // The newest, as the oldest are the least likely meant.
  const shown = known.slice(-KNOWN_EPICS_SHOWN).join(", ");
  const more = known.length > KNOWN_EPICS_SHOWN ? ` (and ${known.length - KNOWN_EPICS_SHOWN} older)` : "";
  throw new UnknownEpic(`no epic ${epic} in the log; known epics: ${shown}${more}`);
}

/** Reads the whole log into a fresh view. */
async function readAll(origin: LogOrigin, source: LogSource, args: Args): Promise<LogView> {
  const View = loadLogView();
  const view = new View(args.command === "replay" ? { seq: args.seq, time: args.at } : undefined);
  view.setOptions(origin.options());
  for (;;) {
    const chunk = await source.read();
    if (!chunk.restart) {
      view.feed(chunk.bytes);
      return view;
    }
  }
}

function filterOf(args: Args): EventFilter {
  return { epic_id: args.epic, bead_id: args.bead, session_id: args.session, types: args.types, limit: args.limit };
}

/** Prints new events as they are appended, until interrupted or the log turns out damaged. */
async function follow(origin: LogOrigin, source: LogSource, first: LogView, args: Args): Promise<number> {
  let view = first;
  let after = view.health().events;
  let stop = false;
  process.once("SIGINT", () => {
    stop = true;
    source.close();
  });
  while (!stop) {
    await source.changed(FOLLOW_POLL_MS);
    const chunk = await source.read();
    if (chunk.restart) {
      // A torn last line was cut off: read again from the start, print only what is new.
      view = await readAll(origin, source, args);
    } else {
      view.feed(chunk.bytes);
    }
    for (const e of view.events({ ...filterOf(args), limit: undefined, after_seq: after }).events) {
      print(args.json ? JSON.stringify(e) : eventLine(e));
    }
    after = view.health().events;
    const damage = damageLine(view.health());
    if (damage) {
      process.stderr.write(`${damage}\n`);
      return 2;
    }
  }
  return 0;
}

async function run(args: Args): Promise<number> {
  if (args.command === "dashboard") return serveDashboard(args);
  const following = args.command === "log" && args.follow;
  const origin = await locate(args, following);
  try {
    if (args.command === "show") {
      const turn = await showWorker(origin, args.bead!, args.server, args.limit);
      if (args.json) json(turn);
      else print(turnText(turn));
      return 0;
    }
    return await show(origin, args, following);
  } finally {
    await origin.close();
  }
}

async function show(origin: LogOrigin, args: Args, following: boolean): Promise<number> {
  const file = origin.label;
  const source = origin.open();
  const view = await readAll(origin, source, args);
  // A follower may wait for an epic to come.
  if (!following) checkEpic(view, args.epic);
  const health = view.health();
  const now = args.command === "replay" ? (args.at ?? health.last_at ?? Date.now()) : Date.now();
  switch (args.command) {
    case "status":
    case "replay": {
      const overview = view.overview(now);
      if (args.json) {
        json({ log: file, ...overview });
        break;
      }
      if (args.command === "replay") {
        print(
          health.events === 0
            ? "replay: no event at or before that point"
            : `replay: as of event #${health.events} (${clock(health.last_at ?? now)})${health.stopped ? "" : "; the log ends there"}`,
        );
      } else {
        print(healthLine(file, health, now));
      }
      print(statusText(overview, args.epic));
      break;
    }
    case "stats": {
      const stats = view.stats(now);
      if (args.json) json({ log: file, health, ...stats });
      else print(`${healthLine(file, health, now)}\n${statsText(stats, args.epic)}`);
      break;
    }
    case "log": {
      const page = view.events(following ? { ...filterOf(args), limit: args.limit ?? 20 } : filterOf(args));
      if (args.json && following) for (const e of page.events) print(JSON.stringify(e));
      else if (args.json) json({ log: file, health, ...page });
      else {
        const shown = page.events.length < page.total ? `, the last ${page.events.length} shown` : "";
        print(`${page.total} event(s)${shown}`);
        if (page.events.length > 0) print(eventsText(page.events));
      }
      if (following && !health.damage) return follow(origin, source, view, args);
      break;
    }
  }
  const damage = damageLine(health);
  if (damage) {
    process.stderr.write(`${damage}\n`);
    return 2;
  }
  return 0;
}

async function main(argv: readonly string[]): Promise<number> {
  let args: Args | "help";
  try {
    args = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`opencode-apiary: ${e.message}\n\n${USAGE}\n`);
    return 1;
  }
  if (args === "help") {
    print(USAGE);
    return 0;
  }
  try {
    return await run(args);
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    const said = e instanceof NoLog || e instanceof UnknownEpic || e instanceof ShowError;
    process.stderr.write(`opencode-apiary: ${said ? "" : "error: "}${message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
