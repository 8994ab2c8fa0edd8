// What Apiary's benchmarks share: a core over any log store with a client that answers at
// once (what is measured is the log), and the append workloads.
const { loadCore } = await import("../dist/npm/core.js");
const Core = loadCore();
export type Core = InstanceType<typeof Core>;
type Store = Parameters<typeof import("../dist/npm/host.js").makeHost>[1];
const { makeHost } = await import("../dist/npm/host.js");

let sessions = 0;
/** The bead each session was made for (its title starts with the bead's id). */
const beadOf = new Map<string, string>();
/** The session of each bead whose start is recorded: its first prompt comes after the log has
 * its `worker_spawned`, so a report from it is known to the log. */
const sessionOf = new Map<string, string>();
const ok = <T>(data: T) => ({ data });
// A stand-in for the OpenCode client that answers at once.
const client = {
  session: {
    create: async (req: { body?: { title?: string } }) => {
      const id = `ses_${process.pid}_${++sessions}`;
      beadOf.set(id, String(req.body?.title ?? "").split(":")[0]!);
      return ok({ id });
    },
    promptAsync: async (req: { path: { id: string } }) => {
      const bead = beadOf.get(req.path.id);
      if (bead !== undefined) sessionOf.set(bead, req.path.id);
      return ok(undefined);
    },
    delete: async () => ok(true),
    status: async () => ok({}),
    messages: async () => ok([]),
  },
} as never;

/** The log is measured, not the scheduler: every spawn starts at once (no limit, and the
 * workers' shared file is not reserved). */
export function openCore(store: Store): Core {
  return new Core(makeHost(client, store), {
    worktrees: false,
    max_running: 1_000_000,
    max_queued: 1_000_000,
    on_file_conflict: "allow",
  });
}

export const ctx = (s: string) => ({ session_id: s, directory: "/bench" });

/** Spawns `bead` and waits for its start (made behind the spawn's reply): its session. */
export async function spawn(core: Core, epic: string, bead: string): Promise<string> {
  const r = await core.spawnAsync(ctx("ses_coord"), { bead_id: bead, epic_id: epic, title: "bench task", files: ["src/lib.rs"] });
  if (r.session_id) return r.session_id;
  // Its start is made behind the reply, by this call's round or another's.
  for (let tries = 0; tries < 1000; tries++) {
    await core.drain();
    const session = sessionOf.get(bead);
    if (session) return session;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  throw new Error(`${bead} did not start: ${r.output}`);
}

/** `lanes` workers, each making `perLane` progress reports in sequence; all lanes at once.
 * Returns appends per second. */
export async function progressRun(core: Core, epic: string, lanes: number, perLane: number): Promise<number> {
  const sessionsOf = await Promise.all(Array.from({ length: lanes }, (_, i) => spawn(core, epic, `${epic}-${i}`)));
  const start = performance.now();
  await Promise.all(
    sessionsOf.map(async (session, i) => {
      for (let k = 0; k < perLane; k++) {
        await core.progress(ctx(session), { bead_id: `${epic}-${i}`, progress_percent: k % 100, message: "compiling" });
      }
    }),
  );
  return (lanes * perLane) / ((performance.now() - start) / 1000);
}

/** A log of `workers` workers of 10 events each (spawn, 8 progress reports, completion), in
 * epics of 10, written by `lanes` workers' worth of calls at once. */
export async function fill(core: Core, workers: number, lanes = 32): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      for (let w = next++; w < workers; w = next++) {
        const bead = `w${w}`;
        const session = await spawn(core, `epic${Math.floor(w / 10)}`, bead);
        for (let k = 1; k <= 8; k++) {
          await core.progress(ctx(session), { bead_id: bead, progress_percent: k * 10, message: "step" });
        }
        await core.complete(ctx(session), { bead_id: bead, summary: "done", files_touched: ["src/lib.rs"] });
      }
    }),
  );
}

export { median, percentile } from "./report.js";
