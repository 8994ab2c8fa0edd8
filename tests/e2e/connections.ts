// Watches a process's TCP connections (from /proc) and remembers every remote address that is
// not loopback, so a test can assert that the server under test never left the machine.
// Sampling every 100 ms misses only connections shorter than that.
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

function socketInodes(pid: number): Set<string> {
  const inodes = new Set<string>();
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`, "utf8"));
      if (m) inodes.add(m[1]!);
    }
  } catch {
    // The process is gone or a descriptor closed while we looked.
  }
  return inodes;
}

/** `0100007F:1F90` (IPv4, little-endian) or 32 hex digits (IPv6) to an address string. */
function decode(hex: string): string {
  const [addr, port] = hex.split(":") as [string, string];
  if (addr.length === 8) {
    const bytes = addr.match(/../g)!.map((b) => parseInt(b, 16)).reverse();
    return `${bytes.join(".")}:${parseInt(port, 16)}`;
  }
  const words = addr.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(""));
  return `[${words.join("").match(/.{4}/g)!.join(":")}]:${parseInt(port, 16)}`;
}

function isLoopback(address: string): boolean {
  return (
    address.startsWith("127.") ||
    address.startsWith("0.0.0.0:") ||
    address.startsWith("[0000:0000:0000:0000:0000:0000:0000:0001]") ||
    address.startsWith("[0000:0000:0000:0000:0000:0000:0000:0000]") ||
    /^\[0000:0000:0000:0000:0000:ffff:7f/.test(address)
  );
}

export function remoteAddresses(pid: number): string[] {
  const inodes = socketInodes(pid);
  const out: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = readFileSync(table, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 9 && inodes.has(cols[9]!)) out.push(decode(cols[2]!));
    }
  }
  return out;
}

/** Samples `pid()` until stopped; `foreign` holds every non-loopback remote address seen. */
export function watchConnections(pid: () => number | undefined): { foreign: Set<string>; stop(): void } {
  const foreign = new Set<string>();
  const timer = setInterval(() => {
    const p = pid();
    if (p) for (const a of remoteAddresses(p)) if (!isLoopback(a)) foreign.add(a);
  }, 100);
  timer.unref();
  return { foreign, stop: () => clearInterval(timer) };
}
