// The event log on PostgreSQL, for swarms that span several machines: the same storage half of
// the host as the file log, so the core is unchanged. One row per line, numbered by the core.
//
// A writer takes the log's lock (a transaction-scoped advisory lock, so a writer that dies
// mid-append releases it with its connection), catches up, inserts its lines and commits: the
// commit is the flush. The primary key (log, seq) and a check of the last sequence number under
// the lock keep the numbers gap-free and strictly increasing whatever the writers. Every commit
// sends a NOTIFY, so readers on any machine wake at once instead of polling.
import pg from "pg";
import type { LogStore } from "./store.js";

const CHANNEL = "apiary_log";
/** How long a writer waits for another's lock before giving up with an error. */
const LOCK_WAIT = "30s";
const RECONNECT_MS = 1000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS apiary_events (
  log text NOT NULL,
  seq bigint NOT NULL,
  byte_offset bigint NOT NULL,
  line bytea NOT NULL,
  PRIMARY KEY (log, seq),
  UNIQUE (log, byte_offset)
);
CREATE TABLE IF NOT EXISTS apiary_snapshots (
  log text PRIMARY KEY,
  data bytea NOT NULL
);`;

export interface PostgresStore extends LogStore {
  /** Ends the store's connections (the plugin's instances keep theirs for their lifetime). */
  close(): Promise<void>;
}

/** A FIFO async mutex: one lock holder per store at a time, in the order they asked. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  async lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const previous = this.tail;
    this.tail = previous.then(() => next);
    await previous;
    return release;
  }
}

/** `{"seq":N,`: the core writes every line so; anything else is refused, not stored. */
function seqOf(line: Buffer): number {
  const m = /^\{"seq":(\d+),/.exec(line.subarray(0, 32).toString("latin1"));
  if (!m) throw new Error("a line that does not start with its sequence number");
  return Number(m[1]);
}

/** Waiters for the next change of each log, woken by NOTIFY over one listening connection. */
class Listener {
  private client: pg.Client | undefined;
  private waiters = new Map<string, (() => void)[]>();
  private closed = false;
  private connecting: Promise<void> | undefined;

  constructor(private readonly config: pg.ClientConfig) {}

  changed(log: string): Promise<void> {
    void this.ensure();
    return new Promise((resolve) => {
      const list = this.waiters.get(log) ?? [];
      list.push(resolve);
      this.waiters.set(log, list);
    });
  }

  private wake(log: string): void {
    const list = this.waiters.get(log);
    this.waiters.delete(log);
    for (const w of list ?? []) w();
  }

  /** Wakes everyone: after a lost connection, notifications may have been missed. */
  private wakeAll(): void {
    for (const log of [...this.waiters.keys()]) this.wake(log);
  }

  private ensure(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= (async () => {
      const client = new pg.Client(this.config);
      client.on("notification", (n) => n.channel === CHANNEL && n.payload !== undefined && this.wake(n.payload));
      client.on("error", () => {
        this.client = undefined;
        client.end().catch(() => undefined);
        this.wakeAll();
      });
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANNEL}`);
        this.client = client;
      } catch {
        await client.end().catch(() => undefined);
        await new Promise((r) => setTimeout(r, RECONNECT_MS));
        this.wakeAll();
      } finally {
        this.connecting = undefined;
      }
    })();
    return this.connecting;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
    this.wakeAll();
  }
}

/**
 * The log named `log` in the database at `connectionString`. The tables are made on first use.
 * `label` names the log in messages without the connection string's password.
 */
export async function openPostgresStore(connectionString: string, log: string): Promise<PostgresStore> {
  const config: pg.ClientConfig = { connectionString, application_name: "apiary" };
  const pool = new pg.Pool({ ...config, max: 4 });
  pool.on("error", () => undefined); // an idle connection dropped: the next query reconnects
  await withSchemaLock(pool);
  const listener = new Listener(config);
  const mutex = new Mutex();
  let held: { client: pg.PoolClient; release: () => void; open: boolean } | undefined;
  const url = new URL(connectionString);
  const label = `postgres://${url.host}${url.pathname} (log ${log})`;

  /** Ends the holder's transaction, once: the commit (or rollback) releases the lock. */
  async function finish(h: NonNullable<typeof held>, commit: boolean): Promise<void> {
    if (!h.open) return;
    h.open = false;
    await h.client.query(commit ? "COMMIT" : "ROLLBACK");
  }

  return {
    path: label,
    async lock() {
      const release = await mutex.lock();
      let client: pg.PoolClient | undefined;
      try {
        client = await pool.connect();
        // One round trip (statements without parameters may go together).
        await client.query(
          `BEGIN; SET LOCAL lock_timeout = '${LOCK_WAIT}'; ` +
            `SELECT pg_advisory_xact_lock(hashtextextended(${client.escapeLiteral(`apiary:${log}`)}, 0))`,
        );
        held = { client, release, open: true };
      } catch (e) {
        if (client) {
          await client.query("ROLLBACK").catch(() => undefined);
          client.release();
        }
        release();
        throw new Error(`the log's lock in ${label}: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
    async unlock() {
      const h = held;
      if (!h) return;
      held = undefined;
      try {
        // A lock taken only to read (nothing appended) still ends its transaction here: a
        // connection back in the pool must never keep the lock.
        await finish(h, true).catch(async (e) => {
          await h.client.query("ROLLBACK").catch(() => undefined);
          throw e;
        });
      } finally {
        h.client.release();
        h.release();
      }
    },
    async readFrom(offset: number, max?: number) {
      // Whole lines from the one holding `offset`, up to the first that reaches `offset + max`.
      // A maximum past what a bigint holds (the core asks for u64::MAX to mean all) is no limit.
      const end = max === undefined || offset + max > Number.MAX_SAFE_INTEGER ? null : offset + max;
      const { rows } = await pool.query<{ byte_offset: string; line: Buffer }>(
        `SELECT byte_offset, line FROM apiary_events
          WHERE log = $1 AND byte_offset >= coalesce(
            (SELECT max(byte_offset) FROM apiary_events WHERE log = $1 AND byte_offset <= $2), 0)
            AND ($3::bigint IS NULL OR byte_offset < $3)
          ORDER BY seq`,
        [log, offset, end],
      );
      if (rows.length === 0) return new Uint8Array();
      const all = Buffer.concat(rows.map((r) => r.line));
      return new Uint8Array(all.subarray(Math.max(0, offset - Number(rows[0]!.byte_offset))));
    },
    async write(bytes: Uint8Array) {
      const h = held;
      if (!h?.open) throw new Error(`a write to ${label} without its lock`);
      const client = h.client;
      try {
        const text = Buffer.from(bytes);
        if (text.length > 0 && text[text.length - 1] !== 0x0a) throw new Error("an append that does not end a line");
        const { rows } = await client.query<{ seq: string; end: string }>(
          `SELECT seq, byte_offset + octet_length(line) AS end FROM apiary_events
            WHERE log = $1 ORDER BY seq DESC LIMIT 1`,
          [log],
        );
        let seq = rows[0] ? Number(rows[0].seq) : 0;
        let offset = rows[0] ? Number(rows[0].end) : 0;
        const seqs: number[] = [];
        const offsets: number[] = [];
        const lines: Buffer[] = [];
        for (let start = 0; start < text.length; ) {
          const end = text.indexOf(0x0a, start) + 1;
          const line = text.subarray(start, end);
          const n = seqOf(line);
          if (n !== seq + 1) throw new Error(`sequence number ${n} does not follow ${seq}`);
          seqs.push(n);
          offsets.push(offset);
          lines.push(line);
          seq = n;
          offset += line.length;
          start = end;
        }
        // The insert and the notification in one statement (a data-modifying WITH always runs).
        await client.query(
          `WITH inserted AS (
             INSERT INTO apiary_events (log, seq, byte_offset, line)
               SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::bytea[]))
           SELECT pg_notify($5, $1)`,
          [log, seqs, offsets, lines, CHANNEL],
        );
        // The commit is the flush: an append is acknowledged once it is durable.
        await finish(h, true);
      } catch (e) {
        await finish(h, false).catch(() => undefined);
        throw new Error(`append to ${label}: ${e instanceof Error ? e.message : String(e)}`);
      }
    },
    async sync() {
      // Each write commits; with synchronous_commit on (PostgreSQL's default) it is on disk.
    },
    async truncate(length: number) {
      // Rows are whole lines, so no torn line can exist; kept for the host's contract.
      if (!held?.open) throw new Error(`a truncate of ${label} without its lock`);
      await held.client.query("DELETE FROM apiary_events WHERE log = $1 AND byte_offset >= $2", [log, length]);
    },
    async loadSnapshot() {
      const { rows } = await pool.query<{ data: Buffer }>("SELECT data FROM apiary_snapshots WHERE log = $1", [log]);
      return rows[0] ? new Uint8Array(rows[0].data) : undefined;
    },
    async saveSnapshot(bytes: Uint8Array) {
      await pool.query(
        `INSERT INTO apiary_snapshots (log, data) VALUES ($1, $2)
           ON CONFLICT (log) DO UPDATE SET data = excluded.data`,
        [log, Buffer.from(bytes)],
      );
    },
    logChanged() {
      return listener.changed(log);
    },
    async close() {
      await listener.close();
      await pool.end();
    },
  };
}

/** Makes the tables once, whichever process gets there first. */
async function withSchemaLock(pool: pg.Pool): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtextextended('apiary:schema', 0))");
    await client.query(SCHEMA);
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw e;
  } finally {
    client.release();
  }
}

/**
 * The log's name in the database when the options give none: the repository's `origin` remote
 * (without credentials), the same from every clone of it on every machine; without a remote,
 * the repository's folder, which only its own machine shares.
 */
export async function logNameFor(repoRoot: string): Promise<string> {
  const { execFile } = await import("node:child_process");
  const origin = await new Promise<string>((resolve) =>
    execFile("git", ["-C", repoRoot, "remote", "get-url", "origin"], (err, out) => resolve(err ? "" : String(out).trim())),
  );
  if (origin === "") return repoRoot;
  try {
    const url = new URL(origin);
    url.username = "";
    url.password = "";
    return url.toString().replace(/(\.git)?\/?$/, "");
  } catch {
    return origin.replace(/(\.git)?\/?$/, ""); // a path or scp-like `host:path`
  }
}
