// The worker side of the completion-notice benchmark, in its own process: for each line
// `complete <session> <bead>` on stdin it reports the bead complete through its own core, and
// prints `done <time>` with the time (ms, sub-ms precision) at which the append was durable.
import { createInterface } from "node:readline";

const [, , backend, where, log] = process.argv;
const { openCore, ctx } = await import("./harness.js");
const store =
  backend === "postgres"
    ? await (await import("../dist/npm/pgstore.js")).openPostgresStore(where!, log!)
    : (await import("../dist/npm/store.js")).openFileStore(where!);
const core = openCore(store);
const now = () => performance.timeOrigin + performance.now();

for await (const line of createInterface({ input: process.stdin })) {
  const [verb, session, bead] = line.split(" ");
  if (verb !== "complete") break;
  await core.complete(ctx(session!), { bead_id: bead!, summary: "done", files_touched: [] });
  process.stdout.write(`done ${now()}\n`);
}
process.exit(0);
