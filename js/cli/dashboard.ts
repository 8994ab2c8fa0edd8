// `opencode-apiary dashboard`: a page on 127.0.0.1 that shows the swarm live. The server only
// streams the log's bytes; the page feeds them to the wasm core and draws what it computes.
//
// Only the address with the random token is served, so another local user who finds the port
// cannot read the log; the Host header must name the loopback address, so a web page cannot
// reach the server by rebinding a domain name to 127.0.0.1.
//
// A worker's last turn (a click on its bar) is asked of OpenCode by this server, never by the
// page: the page talks to its own origin only, and a server's password stays here.
import { randomBytes } from "node:crypto";
import { promises as fs } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Args } from "./args.js";
import { ShowError, showWorker } from "./show.js";
import { locate, type LogOrigin, type LogSpec } from "./source.js";

/** The package's files the page needs, by their path under the token. */
const ASSETS: Record<string, { file: string; type: string }> = {
  "": { file: "page/index.html", type: "text/html; charset=utf-8" },
  "dashboard.css": { file: "page/dashboard.css", type: "text/css; charset=utf-8" },
  "page/app.js": { file: "page/app.js", type: "text/javascript; charset=utf-8" },
  "page/format.js": { file: "page/format.js", type: "text/javascript; charset=utf-8" },
  "page/turn.js": { file: "page/turn.js", type: "text/javascript; charset=utf-8" },
  "wasm/apiary_core.js": { file: "wasm/apiary_core.js", type: "text/javascript; charset=utf-8" },
  "wasm/apiary_core_bg.wasm": { file: "wasm/apiary_core_bg.wasm", type: "application/wasm" },
};
const PACKAGE_ROOT = new URL("../", import.meta.url);
const FOLLOW_POLL_MS = 500;

const HEADERS = {
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Content-Security-Policy":
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; connect-src 'self'; img-src 'self' data:",
};

export interface Dashboard {
  url: string;
  log: string;
  close(): Promise<void>;
}

/** Streams the log from byte `from`, then every append, until the client goes away. */
async function streamLog(origin: LogOrigin, from: number, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const source = origin.open();
  source.offset = from;
  let open = true;
  req.on("close", () => {
    open = false;
    source.close();
  });
  const first = await source.read();
  if (first.restart) {
    // The file is shorter than what the page has: it must start over from byte 0.
    res.writeHead(409, { ...HEADERS, "Content-Type": "text/plain" }).end("the log got shorter: read it from 0\n");
    return;
  }
  // X-Log-End: where the log ended when asked; the page says it is live once it has drawn that.
  const end = String(from + first.bytes.length);
  res.writeHead(200, { ...HEADERS, "Content-Type": "application/octet-stream", "X-Log-Offset": String(from), "X-Log-End": end });
  res.flushHeaders();
  if (first.bytes.length > 0) res.write(first.bytes);
  while (open) {
    await source.changed(FOLLOW_POLL_MS);
    if (!open) break;
    const chunk = await source.read();
    if (chunk.restart) break; // the page reconnects from where it is, gets 409, starts over
    if (chunk.bytes.length > 0) res.write(chunk.bytes);
  }
  res.end();
}

/** `show?bead=ID`: the worker's last turn as JSON, or `{ error }` with the status it means. */
function showTurn(origin: LogOrigin, bead: string, server: string | undefined, res: ServerResponse): void {
  const send = (status: number, body: unknown) =>
    res.writeHead(status, { ...HEADERS, "Content-Type": "application/json" }).end(JSON.stringify(body));
  showWorker(origin, bead, server).then(
    (turn) => send(200, turn),
    (e: unknown) => send(e instanceof ShowError ? e.status : 500, { error: e instanceof Error ? e.message : String(e) }),
  );
}

/** `opencode`: the OpenCode server workers' turns are asked of (as `show --server`). */
export async function startDashboard(spec: LogSpec, port = 0, opencode?: string): Promise<Dashboard> {
  const origin = await locate(spec, true);
  const token = randomBytes(16).toString("hex");
  const server = createServer((req, res) => {
    const host = req.headers.host ?? "";
    const address = server.address() as AddressInfo;
    if (host !== `127.0.0.1:${address.port}` && host !== `localhost:${address.port}`) {
      res.writeHead(403, HEADERS).end();
      return;
    }
    const url = new URL(req.url ?? "/", `http://${host}`);
    const prefix = `/${token}/`;
    if (req.method !== "GET" || !url.pathname.startsWith(prefix)) {
      res.writeHead(404, HEADERS).end();
      return;
    }
    const rest = url.pathname.slice(prefix.length);
    if (rest === "log") {
      const from = Number(url.searchParams.get("from") ?? "0");
      if (!Number.isSafeInteger(from) || from < 0) {
        res.writeHead(400, HEADERS).end();
        return;
      }
      streamLog(origin, from, req, res).catch(() => res.destroy());
      return;
    }
    if (rest === "show") {
      const bead = url.searchParams.get("bead");
      if (!bead) {
        res.writeHead(400, HEADERS).end();
        return;
      }
      showTurn(origin, bead, opencode, res);
      return;
    }
    if (rest === "options") {
      // Read at each request: the plugin's limits, for the queue's reasons. Only the core's
      // part: where the log is and the servers' passwords never reach the page.
      let body: string;
      try {
        body = JSON.stringify(origin.options());
      } catch {
        body = "{}";
      }
      res.writeHead(200, { ...HEADERS, "Content-Type": "application/json" }).end(body);
      return;
    }
    const asset = ASSETS[rest];
    if (!asset) {
      res.writeHead(404, HEADERS).end();
      return;
    }
    fs.readFile(new URL(asset.file, PACKAGE_ROOT)).then(
      (body) => res.writeHead(200, { ...HEADERS, "Content-Type": asset.type }).end(body),
      () => res.writeHead(500, HEADERS).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/${token}/`,
    log: origin.label,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      });
      await origin.close();
    },
  };
}

/** Serves until interrupted; prints the address to open. */
export async function serveDashboard(args: Args): Promise<number> {
  const dashboard = await startDashboard(args, args.port, args.server);
  process.stdout.write(`dashboard of ${dashboard.log}\nopen ${dashboard.url}\n(Ctrl-C stops it)\n`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await dashboard.close();
  return 0;
}
