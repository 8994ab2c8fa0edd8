// Where the log is, and reading it: at once, or following it while writers append.
import { existsSync, promises as fs, watch, type FSWatcher } from "node:fs";
import * as path from "node:path";
import { readOptionsFile, splitOptions, type ServerLogin } from "../options.js";
import { findLogPath, repoRootOf } from "../store.js";

export class NoLog extends Error {}

/** Where a log is: the file log of the repository around `dir`, a file given, or a log in
 * PostgreSQL (named `logName`, by default after the repository's `origin` remote). */
export interface LogSpec {
  dir: string;
  log?: string;
  postgres?: string;
  logName?: string;
}

/** One log, opened: readers of it, each from the start, and the plugin's options beside it. */
export interface LogOrigin {
  /** The log's name in messages (never a password). */
  readonly label: string;
  open(): LogSource;
  /** The core's part of the repository's `.opencode/apiary.json` (no secret in it): the queue
   * is shown against the same limits as the plugin's. */
  options(): Record<string, unknown>;
  /** How to reach the servers of the `servers` option (passwords: never printed nor served). */
  logins(): ServerLogin[];
  close(): Promise<void>;
}

/** A log read in order: a file, or a log in PostgreSQL. */
export interface LogSource {
  offset: number;
  read(): Promise<Chunk>;
  /** Resolves when the log may have changed, or after `ms` at most. */
  changed(ms: number): Promise<void>;
  close(): void;
}

/** Finds the log; unless `mayWait` (a reader that waits for a log to appear), refuses a place
 * with no log yet, saying where it looked. */
export async function locate(spec: LogSpec, mayWait: boolean): Promise<LogOrigin> {
  if (spec.postgres !== undefined) return locatePostgres(spec, mayWait);
  if (spec.log === undefined && existsSync(spec.dir)) {
    // The log the plugin writes: in PostgreSQL when the repository's options say so.
    const { log } = splitOptions(readOptionsFile(repoRootOf(await findLogPath(spec.dir))));
    if (log.postgres !== undefined) {
      return locatePostgres({ ...spec, postgres: log.postgres, logName: spec.logName ?? log.logName }, mayWait);
    }
  }
  if (spec.logName !== undefined) throw new NoLog("--log-name needs --postgres");
  const file = await locateLog(spec.dir, spec.log, mayWait);
  // The options of the repository the log belongs to (`<repo>/.git/apiary/` or `<dir>/.apiary/`).
  const split = () => splitOptions(readOptionsFile(repoRootOf(file)));
  return { label: file, open: () => new LogFile(file), options: () => split().core, logins: () => split().logins, close: async () => undefined };
}

async function locatePostgres(spec: LogSpec, mayWait: boolean): Promise<LogOrigin> {
  if (spec.log !== undefined) throw new NoLog("give --log FILE or --postgres URL, not both");
  const { openPostgresStore, logNameFor } = await import("../pgstore.js");
  const root = existsSync(spec.dir) ? repoRootOf(await findLogPath(spec.dir)) : path.resolve(spec.dir);
  const name = spec.logName ?? (await logNameFor(root));
  const store = await openPostgresStore(spec.postgres!, name);
  if (!mayWait && (await store.readFrom(0)).length === 0) {
    await store.close();
    throw new NoLog(`no events in ${store.path} (or pass --log-name NAME)`);
  }
  let notified: Promise<void> | undefined;
  return {
    label: store.path,
    open: () => {
      const reader: LogSource = {
        offset: 0,
        async read() {
          const bytes = await store.readFrom(reader.offset);
          reader.offset += bytes.length;
          return { bytes, restart: false };
        },
        changed: (ms) =>
          new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, ms);
            // One wait on the notifications at a time: a follower of an idle log asks every
            // second, and a new wait each time would pile up until the next append.
            notified ??= store.logChanged().finally(() => (notified = undefined));
            void notified.then(() => {
              clearTimeout(timer);
              resolve();
            });
          }),
        close: () => undefined,
      };
      return reader;
    },
    options: () => splitOptions(readOptionsFile(root)).core,
    logins: () => splitOptions(readOptionsFile(root)).logins,
    close: () => store.close(),
  };
}

/** The log of the repository around `dir`, or the file given; refuses a path with no log. */
async function locateLog(dir: string, file: string | undefined, mayWait: boolean): Promise<string> {
  if (file !== undefined) {
    const resolved = path.resolve(file);
    if (!mayWait && !existsSync(resolved)) throw new NoLog(`no log file at ${resolved}`);
    return resolved;
  }
  if (!existsSync(dir)) throw new NoLog(`no directory ${path.resolve(dir)}`);
  const found = await findLogPath(dir);
  if (!mayWait && !existsSync(found)) {
    throw new NoLog(`no swarm has run here yet: no log at ${found} (or pass --log FILE)`);
  }
  return found;
}

/** What a read brought: bytes to feed on, or a file that got shorter (read it again from 0). */
export type Chunk = { bytes: Uint8Array; restart: false } | { restart: true };

/**
 * A log file read in order. A writer only ever appends, except when it cuts off a torn last
 * line that a crashed writer left: then the file is shorter than what was read, and the
 * reader must start over.
 */
export class LogFile implements LogSource {
  offset = 0;
  private watcher: FSWatcher | undefined;
  private wake: (() => void) | undefined;

  constructor(readonly path: string) {}

  async read(): Promise<Chunk> {
    const handle = await fs.open(this.path, "r").catch((e: NodeJS.ErrnoException) => {
      if (e.code === "ENOENT") return undefined;
      throw e;
    });
    if (!handle) return { bytes: new Uint8Array(), restart: false };
    try {
      const { size } = await handle.stat();
      if (size < this.offset) {
        this.offset = 0;
        return { restart: true };
      }
      const bytes = new Uint8Array(size - this.offset);
      let got = 0;
      while (got < bytes.length) {
        const { bytesRead } = await handle.read(bytes, got, bytes.length - got, this.offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      this.offset += got;
      return { bytes: bytes.subarray(0, got), restart: false };
    } finally {
      await handle.close();
    }
  }

  /** Resolves when the log's folder changes, or after `ms` at most (a watch can miss events). */
  changed(ms: number): Promise<void> {
    if (!this.watcher) {
      try {
        this.watcher = watch(path.dirname(this.path), { persistent: false }, () => this.wake?.());
        this.watcher.on("error", () => undefined);
      } catch {
        // The folder does not exist yet: the timeout alone paces the reads.
      }
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done() {
        clearTimeout(timer);
        if (self.wake === done) self.wake = undefined;
        resolve();
      }
      this.wake = done;
    });
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    this.wake?.();
  }
}
