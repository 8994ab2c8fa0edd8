// The event log's storage: one append-only JSON-lines file per repository.
//
// The file lives in the repository's common git directory (`.git/apiary/events.jsonl`), which
// every worktree of the repository shares: a worker running in a worktree writes to the same
// log as its coordinator, and the log is never committed by accident.
import {
  promises as fs,
  fdatasync,
  linkSync,
  mkdirSync,
  openSync,
  readSync,
  rmSync,
  unlinkSync,
  watch,
  writeSync,
} from "node:fs";
import * as path from "node:path";
import type { ApiaryHost } from "./wasm/apiary_core.js";

/** The storage half of `ApiaryHost` (its methods are documented there), and where it lives. */
export type LogStore = Pick<
  ApiaryHost,
  "lock" | "unlock" | "readFrom" | "write" | "sync" | "truncate" | "loadSnapshot" | "saveSnapshot" | "logChanged"
> & { readonly path: string };

/** Wakes every caller of `next()` at the next `fire()`. */
class Signal {
  private waiters: (() => void)[] = [];
  next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  fire(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}

/** Finds the log file for a directory inside a git repository or one of its worktrees. */
export async function findLogPath(directory: string): Promise<string> {
  const common = await gitCommonDir(directory);
  return common
    ? path.join(common, "apiary", "events.jsonl")
    : path.join(directory, ".apiary", "events.jsonl");
}

/** The repository (or folder) a log found by `findLogPath` belongs to. */
export function repoRootOf(logPath: string): string {
  const folder = path.dirname(path.dirname(logPath));
  return path.basename(folder) === ".git" ? path.dirname(folder) : folder;
}

async function gitCommonDir(start: string): Promise<string | undefined> {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    const dotGit = path.join(dir, ".git");
    const stat = await fs.stat(dotGit).catch(() => undefined);
    if (stat?.isDirectory()) return dotGit;
    if (stat?.isFile()) {
      // A worktree: `.git` is a file `gitdir: <main>/.git/worktrees/<name>`, whose
      // `commondir` file points back to the main repository's git directory.
      const text = await fs.readFile(dotGit, "utf8");
      const gitdir = path.resolve(dir, text.replace(/^gitdir:\s*/, "").trim());
      const common = await fs.readFile(path.join(gitdir, "commondir"), "utf8").catch(() => undefined);
      return common ? path.resolve(gitdir, common.trim()) : gitdir;
    }
    if (path.dirname(dir) === dir) return undefined;
  }
}

/** A FIFO async mutex: waiters are served in the order they asked. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  private release: (() => void) | undefined;
  /** Callers holding or waiting for the mutex. */
  queued = 0;

  async lock(): Promise<void> {
    this.queued += 1;
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const previous = this.tail;
    this.tail = previous.then(() => next);
    await previous;
    this.release = release;
  }

  unlock(): void {
    this.queued -= 1;
    const release = this.release;
    this.release = undefined;
    release?.();
  }
}

// Plugin instances of one process that open the same log share one mutex (OpenCode makes one
// instance per directory: the coordinator's and each worktree's).
const mutexes = new Map<string, Mutex>();

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** How long a writer waits for another process's lock before giving up with an error. */
const LOCK_WAIT_MS = 30_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The lock between processes: the lock file beside the log, made by hard-linking a file that
 * holds this process's pid onto its name (one atomic syscall that fails if the name exists).
 * Node and Bun have no flock, so a lock whose owner died (kill -9 mid-append) is taken over once
 * the owner's pid is gone; writers hold it for one append, milliseconds.
 */
class FileLock {
  private pidFile: string | undefined;

  constructor(private readonly lock: string) {}

  private async ownPidFile(): Promise<string> {
    if (!this.pidFile) {
      const name = `${this.lock}.${process.pid}.${Math.random().toString(36).slice(2)}`;
      await fs.mkdir(path.dirname(name), { recursive: true });
      await this.sweepDeadPidFiles();
      await fs.writeFile(name, `${process.pid} ${Date.now()}\n`);
      this.pidFile = name;
      process.once("exit", () => rmSync(name, { force: true }));
    }
    return this.pidFile;
  }

  /** Removes the pid files of processes that died without cleaning up (kill -9). */
  private async sweepDeadPidFiles(): Promise<void> {
    const prefix = `${path.basename(this.lock)}.`;
    const names = await fs.readdir(path.dirname(this.lock)).catch(() => [] as string[]);
    for (const name of names) {
      const pid = name.startsWith(prefix) ? Number.parseInt(name.slice(prefix.length), 10) : NaN;
      if (Number.isInteger(pid) && pid !== process.pid && !alive(pid)) {
        await fs.rm(path.join(path.dirname(this.lock), name), { force: true });
      }
    }
  }

  async acquire(): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let attempt = 0; ; attempt++) {
      const mine = await this.ownPidFile();
      try {
        // Synchronous: a link is microseconds, a trip through the I/O thread pool is not.
        linkSync(mine, this.lock);
        return;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === "ENOENT") {
          // Our pid file was removed under us: make a new one.
          this.pidFile = undefined;
          continue;
        }
        if (code !== "EEXIST") throw e;
      }
      const holder = await fs.readFile(this.lock, "utf8").catch(() => "");
      const pid = Number.parseInt(holder, 10);
      if (holder && Number.isInteger(pid) && pid !== process.pid && !alive(pid)) {
        await fs.rm(this.lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`the event log is locked by process ${holder.trim() || "?"} (${this.lock}) for over ${LOCK_WAIT_MS / 1000} s`);
      }
      await sleep(Math.min(1 + attempt, 10));
    }
  }

  release(): void {
    try {
      unlinkSync(this.lock);
    } catch {
      // Already gone (taken over after we were presumed dead): nothing to release.
    }
  }
}

/**
 * Writers of one process share the file lock: while more of them are waiting, the lock is
 * handed from one to the next without being released, up to a bound so that writers in other
 * processes get their turn.
 */
const HANDOFF_LIMIT = 32;

/**
 * Group commit: `sync` waits for one fdatasync that started after the caller's write. While a
 * flush is in progress, later writers queue behind it and share the next one.
 */
class Flusher {
  private written = 0;
  private synced = 0;
  private flushing: Promise<void> | undefined;

  constructor(private readonly flush: () => Promise<void>) {}

  wrote(): void {
    this.written += 1;
  }

  async sync(): Promise<void> {
    const target = this.written;
    while (this.synced < target) {
      if (!this.flushing) {
        const upTo = this.written;
        this.flushing = this.flush()
          .then(() => {
            this.synced = Math.max(this.synced, upTo);
          })
          .finally(() => {
            this.flushing = undefined;
          });
      }
      await this.flushing;
    }
  }
}

/**
 * Everything from `offset` to the end, read synchronously (page-cache reads of what is new are
 * microseconds) until a read comes back short.
 */
function readAll(fd: number, offset: number): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Most catch-ups find nothing or a few lines: start small, grow for long reads.
  for (let size = 4096; ; size = Math.min(size * 4, 16 * 1024 * 1024)) {
    const chunk = new Uint8Array(size);
    const read = readSync(fd, chunk, 0, size, offset + total);
    if (read > 0) chunks.push(chunk.subarray(0, read));
    total += read;
    if (read < size) break;
  }
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// One store per log file per process: plugin instances of one process share its lock, its
// file handle and its flushes.
const fileStores = new Map<string, LogStore>();

/** The log file at `file`, created on first write. */
export function openFileStore(file: string): LogStore {
  const existing = fileStores.get(file);
  if (existing) return existing;
  const mutex = new Mutex();
  const fileLock = new FileLock(`${file}.lock`);
  let holdingFileLock = false;
  let handoffs = 0;
  const snapshot = `${file}.snapshot`;
  // Small writes and reads are synchronous; only the flush goes through the thread pool, so
  // it never blocks the event loop on the disk and writers can share it.
  let appendFd: number | undefined;
  const appendTo = (): number => {
    if (appendFd === undefined) {
      mkdirSync(path.dirname(file), { recursive: true });
      appendFd = openSync(file, "a");
    }
    return appendFd;
  };
  let readFd: number | undefined;
  const flusher = new Flusher(
    () => new Promise<void>((resolve, reject) => fdatasync(appendTo(), (e) => (e ? reject(e) : resolve()))),
  );
  // Appends by any instance in this process (they share this store) wake waiters at once;
  // a watch on the folder catches appends by other processes.
  const changes = new Signal();
  let watching = false;
  const watchOtherProcesses = () => {
    if (watching) return;
    watching = true;
    try {
      mkdirSync(path.dirname(file), { recursive: true });
      const base = path.basename(file);
      const watcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
        if (name === null || name === base) changes.fire();
      });
      watcher.on("error", () => undefined);
    } catch {
      // No watch here: waits fall back on their poll interval.
    }
  };
  const store: LogStore = {
    path: file,
    async lock() {
      await mutex.lock();
      if (holdingFileLock) return;
      try {
        await fileLock.acquire();
        holdingFileLock = true;
      } catch (e) {
        mutex.unlock();
        throw e;
      }
    },
    async unlock() {
      try {
        if (mutex.queued > 1 && handoffs < HANDOFF_LIMIT) {
          handoffs += 1;
        } else {
          handoffs = 0;
          holdingFileLock = false;
          fileLock.release();
        }
      } finally {
        mutex.unlock();
      }
    },
    async readFrom(offset) {
      if (readFd === undefined) {
        try {
          readFd = openSync(file, "r");
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOENT") return new Uint8Array(0);
          throw e;
        }
      }
      return readAll(readFd, offset);
    },
    async write(bytes) {
      const fd = appendTo();
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done);
      flusher.wrote();
      changes.fire();
    },
    logChanged() {
      watchOtherProcesses();
      return changes.next();
    },
    sync: () => flusher.sync(),
    async truncate(length) {
      await fs.truncate(file, length);
    },
    async loadSnapshot() {
      return fs.readFile(snapshot).then(
        (b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength),
        () => undefined,
      );
    },
    async saveSnapshot(bytes) {
      const tmp = `${snapshot}.${process.pid}.tmp`;
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(tmp, bytes);
      await fs.rename(tmp, snapshot);
    },
  };
  fileStores.set(file, store);
  return store;
}

/** A log in memory, for tests and for browsers. */
export function memoryStore(initial: Uint8Array = new Uint8Array(0)): LogStore & { bytes(): Uint8Array } {
  let data = initial.slice();
  let snap: Uint8Array | undefined;
  const mutex = new Mutex();
  const changes = new Signal();
  return {
    path: ":memory:",
    logChanged: () => changes.next(),
    bytes: () => data.slice(),
    lock: () => mutex.lock(),
    async unlock() {
      mutex.unlock();
    },
    async readFrom(offset) {
      return data.slice(Math.min(offset, data.length));
    },
    async write(bytes) {
      const next = new Uint8Array(data.length + bytes.length);
      next.set(data);
      next.set(bytes, data.length);
      data = next;
      changes.fire();
    },
    async sync() {},
    async truncate(length) {
      data = data.slice(0, length);
    },
    async loadSnapshot() {
      return snap?.slice();
    },
    async saveSnapshot(bytes) {
      snap = bytes.slice();
    },
  };
}
