// The event log's storage: one append-only JSON-lines file per repository.
//
// The file lives in the repository's common git directory (`.git/apiary/events.jsonl`), which
// every worktree of the repository shares: a worker running in a worktree writes to the same
// log as its coordinator, and the log is never committed by accident.
import { createHash } from "node:crypto";
import {
  promises as fs,
  fdatasyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
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

/**
 * Who holds the lock: `<pid> start=<ticks> boot=<id> token=<t>`. The pid alone does not name a
 * process: a server killed holding the lock and restarted in a container gets the same pid
 * (often 1), and any pid is reused in time. `start` (field 22 of /proc/<pid>/stat, clock ticks
 * since boot) and `boot` (the start of the kernel's boot id) tell the live holder from an
 * earlier process with its pid; `token`, fresh at every acquisition, tells which lock of this
 * very process is held (see `heldTokens`). Without /proc (macOS) only the pid and the token
 * are written, and liveness falls back on the pid. Old versions' lock files hold `<pid> <ms>`.
 */
interface Holder {
  pid: number;
  start?: string;
  boot?: string;
  token?: string;
}

function parseHolder(text: string): Holder | undefined {
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const field = (name: string) => new RegExp(`(?:^|\\s)${name}=(\\S+)`).exec(text)?.[1];
  return { pid, start: field("start"), boot: field("boot"), token: field("token") };
}

const readText = (file: string): string | undefined => {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
};

/**
 * The holder line of a lock or a claim: the target of its symbolic link (an old version's
 * lock is a regular file holding it). Undefined if there is none; "" if it cannot be read.
 */
function readHolder(file: string): string | undefined {
  try {
    return readlinkSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "EINVAL") return readText(file);
    return code === "ENOENT" ? undefined : "";
  }
}

/** A process's state and start time from /proc/<pid>/stat; undefined without /proc. */
function procStat(pid: number | "self"): { state: string; start: string } | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  // Field 2, the command, is in parentheses and may itself hold spaces and parentheses: the
  // fields after it start after the last ')'. There, field 3 (state) comes first, 22 is 20th.
  const fields = stat?.slice(stat.lastIndexOf(")") + 2).split(" ");
  const start = fields?.[19];
  return fields && start && /^\d+$/.test(start) ? { state: fields[0] ?? "", start } : undefined;
}

/** The boot id's first 8 hex digits: enough to tell one boot from the one before. */
const shortBoot = (id: string | undefined) => id?.trim().slice(0, 8) || undefined;

/** This process's start time and boot, read once; none where there is no /proc. */
let self: { boot?: string; text: string } | undefined;
function identity(): { boot?: string; text: string } {
  if (!self) {
    const start = procStat("self")?.start;
    const boot = start ? shortBoot(readText("/proc/sys/kernel/random/boot_id")) : undefined;
    self = { boot, text: `${start ? ` start=${start}` : ""}${boot ? ` boot=${boot}` : ""}` };
  }
  return self;
}

/**
 * This process's holder line, with a fresh token. At most 56 characters (a 7-digit pid, 11
 * digits of ticks): ext4 keeps a symbolic link's target of under 60 bytes in the inode; a
 * longer one needs a disk block of its own, and making and removing the link then cost 70 µs
 * to 1.8 ms here instead of 15 µs.
 */
function holderLine(): { line: string; token: string } {
  const token = Math.floor(Math.random() * 2 ** 40).toString(16).padStart(10, "0");
  return { line: `${process.pid}${identity().text} token=${token}`, token };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The tokens of the file locks held right now in this process. OpenCode may load the plugin
 * module more than once in one process (one instance per directory), and every copy of the
 * module has its own stores and locks; this set on `globalThis` is what they share.
 */
const registryKey = Symbol.for("apiary.fileLocks");
const heldTokens: Set<string> = ((globalThis as Record<symbol, Set<string> | undefined>)[registryKey] ??= new Set());

/** Whether the process a holder line names still holds what it names (in doubt, it does). */
function holderAlive(holder: Holder): boolean {
  // This pid is this process now: any earlier process with it is gone, and this process
  // holds the lock only while one of its locks holds that token.
  if (holder.pid === process.pid) return holder.token !== undefined && heldTokens.has(holder.token);
  const boot = identity().boot;
  if (holder.boot && boot && shortBoot(holder.boot) !== boot) return false;
  if (!pidAlive(holder.pid)) return false;
  const now = procStat(holder.pid);
  // A zombie is dead; another start time is another process that got the pid.
  if (now && (now.state === "Z" || now.state === "X")) return false;
  return !(holder.start && now && now.start !== holder.start);
}

/** The wall-clock time (ms) a process started, from its start ticks and the boot time. */
function startedAtMs(pid: number): number | undefined {
  const start = procStat(pid)?.start;
  const btime = /^btime (\d+)$/m.exec(readText("/proc/stat") ?? "")?.[1];
  // USER_HZ, the unit of the start time, is 100 on every Linux architecture Node runs on.
  return start && btime ? Number(btime) * 1000 + Number(start) * 10 : undefined;
}

const errorCode = (e: unknown) => (e as NodeJS.ErrnoException).code;

/**
 * The lock between processes: a symbolic link beside the log whose target is this process's
 * holder line (see `Holder`), made in one atomic syscall that fails if the name exists, and
 * read with one `readlink`. Nothing names the process between appends: old versions
 * hard-linked a long-lived pid file onto the lock's name, and every process stopped by a
 * signal left its pid files behind. Node and Bun have no flock, so a lock whose holder is gone
 * (kill -9 mid-append) is taken over; writers hold it for one append, milliseconds.
 */
class FileLock {
  private token: string | undefined;
  private swept = false;

  constructor(private readonly lock: string) {}

  async acquire(): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (let attempt = 0, vanished = false; ; attempt++) {
      if (this.tryLock()) return;
      const holder = readHolder(this.lock);
      // Released meanwhile: try again at once, but not in a loop.
      if (holder === undefined && !vanished) {
        vanished = true;
        continue;
      }
      vanished = false;
      const named = holder ? parseHolder(holder) : undefined;
      if (holder && named && !holderAlive(named) && this.takeOver(this.lock, holder)) continue;
      if (Date.now() > deadline) {
        throw new Error(`the event log is locked by process ${holder?.trim() || "?"} (${this.lock}) for over ${LOCK_WAIT_MS / 1000} s`);
      }
      await sleep(Math.min(1 + attempt, 10));
    }
  }

  release(): void {
    try {
      unlinkSync(this.lock);
    } catch {
      // Already gone: nothing to release.
    }
    if (this.token) heldTokens.delete(this.token);
    this.token = undefined;
  }

  private tryLock(): boolean {
    if (!this.swept) {
      mkdirSync(path.dirname(this.lock), { recursive: true });
      this.sweepLeftovers();
      this.swept = true;
    }
    const { line, token } = holderLine();
    // Known as held before the name exists: another copy of the module that reads the lock
    // must never find the token missing. (Synchronous from here to the link's end.)
    heldTokens.add(token);
    try {
      symlinkSync(line, this.lock);
      this.token = token;
      return true;
    } catch (e) {
      heldTokens.delete(token);
      if (errorCode(e) === "ENOENT") this.swept = false; // the folder was removed: make it again
      else if (errorCode(e) !== "EEXIST") throw e;
      return false;
    }
  }

  /**
   * Removes `target` (the lock, or a claim) if it still reads `stale`; false if another
   * process is removing it.
   *
   * Two processes that find the same stale lock must not both remove "it": the second would
   * remove the lock the first has just made. So removing is claimed first, under a name made
   * from the stale content (`<lock>.stale.<hash>`), which only one process can create. The
   * claimer then reads the lock again: if it still reads `stale` (no two holder lines are
   * alike: each has a fresh token), it is the stale one, and stays so until the claimer unlinks
   * it: its holder is gone, writers only create the name (and fail while it exists), and any
   * other remover must first win the same claim. If it reads otherwise, it was removed and
   * maybe made again meanwhile: the claimer leaves it alone. Either way it drops the claim. A
   * claim names its claimer, with a token no lock holds: a claim left by a claimer that died
   * between the two steps (or by an earlier process with this pid) is removed the same way,
   * one level down. Claims of this process exist only within this synchronous function.
   */
  private takeOver(target: string, stale: string, depth = 0): boolean {
    const claim = `${this.lock}.stale.${createHash("sha256").update(stale).digest("hex").slice(0, 16)}`;
    try {
      symlinkSync(holderLine().line, claim);
    } catch (e) {
      if (errorCode(e) === "ENOENT") return true; // the folder was removed: nothing to take over
      if (errorCode(e) !== "EEXIST") throw e;
      const claimer = readHolder(claim);
      const named = claimer ? parseHolder(claimer) : undefined;
      if (claimer && named && !holderAlive(named) && depth < 2) this.takeOver(claim, claimer, depth + 1);
      return false;
    }
    try {
      if (readHolder(target) === stale) unlinkSync(target);
    } finally {
      rmSync(claim, { force: true });
    }
    return true;
  }

  /**
   * Removes what dead processes left beside the log: old versions' pid files
   * (`<lock>.<pid>.<random>`, regular files holding `<pid> <ms>`) and claims of claimers that
   * died in the middle of a takeover.
   */
  private sweepLeftovers(): void {
    const dir = path.dirname(this.lock);
    const prefix = `${path.basename(this.lock)}.`;
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return;
    }
    for (const name of names) {
      if (!name.startsWith(prefix)) continue;
      const file = path.join(dir, name);
      const rest = name.slice(prefix.length);
      if (rest.startsWith("stale.")) {
        const claimer = readHolder(file);
        const named = claimer ? parseHolder(claimer) : undefined;
        if (claimer && named && !holderAlive(named)) this.takeOver(file, claimer, 1);
        continue;
      }
      const pid = /^\d+\./.test(rest) ? Number.parseInt(rest, 10) : NaN;
      if (Number.isInteger(pid) && this.leftBehind(file, pid)) rmSync(file, { force: true });
    }
  }

  private leftBehind(file: string, pid: number): boolean {
    // This pid is this process's now (and it has no pid file): the file is an earlier one's.
    if (pid === process.pid || !pidAlive(pid)) return true;
    // An old pid file holds no start time: it is an earlier process's if it is older than the
    // live process with its pid (a second of slack, the boot time's unit).
    const startedAt = startedAtMs(pid);
    try {
      return startedAt !== undefined && statSync(file).mtimeMs < startedAt - 1000;
    } catch {
      return false;
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
 * Group commit without the thread pool. Writers append under the lock, so a flush when the
 * lock is let go covers every write so far: a writer whose lock goes straight to another
 * writer (a handoff, at most `HANDOFF_LIMIT` in a row) waits for the flush at the end of that
 * chain; one that leaves the lock free flushes at once.
 *
 * The flush is a synchronous fdatasync on purpose. A thread-pool callback waits for the event
 * loop to come round, and a burst of tool calls keeps it from coming round: 360 ms for the
 * first of thirty spawns in one step, where the call itself takes 0.3 to 2 ms on this disk.
 */
export class Flusher {
  private written = 0;
  private synced = 0;
  private waiting: { upTo: number; resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(private readonly flush: () => void) {}

  wrote(): void {
    this.written += 1;
  }

  /** Flushes what is written and not yet flushed, and settles the writers waiting for it. */
  flushNow(): void {
    if (this.synced >= this.written) return;
    const upTo = this.written;
    let waiting = this.waiting;
    try {
      this.flush();
    } catch (e) {
      this.waiting = [];
      for (const w of waiting) w.reject(e);
      throw e;
    }
    this.synced = upTo;
    waiting = this.waiting.filter((w) => w.upTo <= upTo);
    this.waiting = this.waiting.filter((w) => w.upTo > upTo);
    for (const w of waiting) w.resolve();
  }

  /** Resolves once the writes so far are on disk; `later` when the lock's holder will flush. */
  async sync(later: boolean): Promise<void> {
    const upTo = this.written;
    if (this.synced >= upTo) return;
    if (!later) return this.flushNow();
    return new Promise<void>((resolve, reject) => this.waiting.push({ upTo, resolve, reject }));
  }
}

/**
 * Everything from `offset` to the end, read synchronously (page-cache reads of what is new are
 * microseconds) until a read comes back short.
 */
function readAll(fd: number, offset: number, max = Infinity): Uint8Array {
  const chunks: Uint8Array[] = [];
  let total = 0;
  // Most catch-ups find nothing or a few lines: start small, grow for long reads.
  for (let size = 4096; total < max; size = Math.min(size * 4, 16 * 1024 * 1024)) {
    const want = Math.min(size, max - total);
    const chunk = new Uint8Array(want);
    const read = readSync(fd, chunk, 0, want, offset + total);
    if (read > 0) chunks.push(chunk.subarray(0, read));
    total += read;
    if (read < want) break;
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
  // Writes, reads and the flush are synchronous: each is a fraction of a millisecond on a local
  // disk, and the thread pool they would otherwise queue in is shared with the server's work.
  let appendFd: number | undefined;
  const appendTo = (): number => {
    if (appendFd === undefined) {
      mkdirSync(path.dirname(file), { recursive: true });
      appendFd = openSync(file, "a");
    }
    return appendFd;
  };
  let readFd: number | undefined;
  const flusher = new Flusher(() => fdatasyncSync(appendTo()));
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
      let handoff = false;
      try {
        if (mutex.queued > 1 && handoffs < HANDOFF_LIMIT) {
          handoffs += 1;
          handoff = true;
        } else {
          handoffs = 0;
          holdingFileLock = false;
          fileLock.release();
        }
      } finally {
        mutex.unlock();
        // No handoff: the chain of writers ends here, and its flush with it. A failed flush
        // rejects the writers waiting for it; this writer's own sync tries again.
        if (!handoff) {
          try {
            flusher.flushNow();
          } catch {
            // Reported to every writer's sync.
          }
        }
      }
    },
    async readFrom(offset, max) {
      if (readFd === undefined) {
        try {
          readFd = openSync(file, "r");
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === "ENOENT") return new Uint8Array(0);
          throw e;
        }
      }
      return readAll(readFd, offset, max);
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
    // The lock is held or wanted: its holder's unlock flushes for everyone.
    sync: () => flusher.sync(mutex.queued > 0),
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
    async readFrom(offset, max = Infinity) {
      const from = Math.min(offset, data.length);
      return data.slice(from, Math.min(data.length, from + max));
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
