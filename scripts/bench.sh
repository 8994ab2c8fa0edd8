#!/usr/bin/env bash
# The benchmark: builds, installs the peer (swarm-mail 1.11.2, in bench/, apart from the
# workspace), runs both sides in one run and rewrites the table in BENCHMARKS.md.
#   --lifecycle  instead: Apiary's spawn + await against OpenCode's Task tool on a real server
#                (bench/lifecycle.ts), and rewrites that table.
#   --postgres   instead: the log on a private PostgreSQL against the file log (bench/postgres.ts),
#                and rewrites that table.
#   --cluster    instead: nine workers on three OpenCode servers against one server with a limit
#                of three (bench/cluster.ts), all sharing a private PostgreSQL log.
#   --views      instead: the command line's and the dashboard's views on logs of 10,000 and
#                100,000 events (bench/views.ts).
#   --base       instead: what taking the coordinator's uncommitted files costs a worker's start,
#                in a small repository and in one of 20,000 files (bench/base.ts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
if [ "${1:-}" = "--lifecycle" ]; then
  exec node_modules/@oven/bun-linux-x64/bin/bun bench/lifecycle.ts
fi
if [ "${1:-}" = "--postgres" ] || [ "${1:-}" = "--cluster" ]; then
  pg_dir=$(mktemp -d /tmp/apiary-bench-pg-XXXXXX)
  trap 'bash scripts/postgres.sh stop "$pg_dir"; rm -rf "$pg_dir"' EXIT
  url=$(bash scripts/postgres.sh start "$pg_dir")
  node_modules/@oven/bun-linux-x64/bin/bun "bench/${1#--}.ts" "$url"
  exit 0
fi
if [ "${1:-}" = "--views" ] || [ "${1:-}" = "--base" ]; then
  exec node_modules/@oven/bun-linux-x64/bin/bun "bench/${1#--}.ts"
fi
if [ ! -d bench/node_modules/swarm-mail ]; then
  (cd bench && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
exec node_modules/@oven/bun-linux-x64/bin/bun bench/run.ts
