// A separate writer process for the PostgreSQL log's tests.
//   pg-writer spawn <log> <prefix> <count>   appends `count` spawns at once, then exits
//   pg-writer hold <log>                     takes the log's lock, prints "held", waits to be killed
import { postgresUrl, spawnManyPg } from "./pg.js";
import { openPostgresStore } from "../../dist/npm/pgstore.js";

const [, script, mode, log, prefix, count] = process.argv;
if (script && /(^|\/)pg-writer\.(js|ts)$/.test(script) && log) {
  if (mode === "spawn" && prefix && count) {
    await spawnManyPg(log, prefix, Number(count));
  } else if (mode === "hold") {
    const store = await openPostgresStore(postgresUrl(), log);
    await store.lock();
    process.stdout.write("held\n");
    await new Promise(() => undefined);
  }
}
