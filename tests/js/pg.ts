// The private PostgreSQL that scripts/test.sh starts for these tests, and helpers over it.
import pg from "pg";
import { randomBytes } from "node:crypto";
import { loadCore } from "../../dist/npm/core.js";
import { makeHost } from "../../dist/npm/host.js";
import { openPostgresStore } from "../../dist/npm/pgstore.js";
import { fakeClient, LOG_ONLY } from "./writer.js";

/** The connection string; the tests fail, never skip, without one. */
export function postgresUrl(): string {
  const url = process.env.APIARY_TEST_POSTGRES;
  if (!url) throw new Error("APIARY_TEST_POSTGRES is not set: run the tests with scripts/test.sh, which starts PostgreSQL");
  return url;
}

/** A log name no other test uses. */
export const freshLog = (what: string) => `test-${what}-${randomBytes(6).toString("hex")}`;

/** Each row of a log: its sequence number, byte offset and line. */
export async function rowsOf(log: string): Promise<{ seq: number; offset: number; line: string }[]> {
  const client = new pg.Client({ connectionString: postgresUrl() });
  await client.connect();
  try {
    const { rows } = await client.query<{ seq: string; byte_offset: string; line: Buffer }>(
      "SELECT seq, byte_offset, line FROM apiary_events WHERE log = $1 ORDER BY seq",
      [log],
    );
    return rows.map((r) => ({ seq: Number(r.seq), offset: Number(r.byte_offset), line: r.line.toString("utf8") }));
  } finally {
    await client.end();
  }
}

/** A core over the PostgreSQL log `log`, with a fake client whose sessions are `ses_<prefix>_<n>`. */
export async function pgCore(log: string, prefix: string, options: object = LOG_ONLY) {
  const store = await openPostgresStore(postgresUrl(), log);
  const Core = loadCore();
  return { store, core: new Core(makeHost(fakeClient(prefix), store), options) };
}

/** Spawns `count` workers `<prefix>-i` of epic "ep" at once through its own core. */
export async function spawnManyPg(log: string, prefix: string, count: number): Promise<void> {
  const { store, core } = await pgCore(log, prefix);
  const ctx = { session_id: "ses_coord", directory: "/repo" };
  try {
    await Promise.all(
      Array.from({ length: count }, (_, i) => core.spawnAsync(ctx, { bead_id: `${prefix}-${i}`, epic_id: "ep", title: "t", files: [] })),
    );
  } finally {
    core.free();
    await store.close();
  }
}
