#!/usr/bin/env bash
# The benchmark: builds, installs the peer (swarm-mail 1.11.2, in bench/, apart from the
# workspace), runs both sides in one run and rewrites the table in BENCHMARKS.md.
#   --lifecycle  instead: Apiary's spawn + await against OpenCode's Task tool on a real server
#                (bench/lifecycle.ts), and rewrites that table.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
if [ "${1:-}" = "--lifecycle" ]; then
  exec node_modules/@oven/bun-linux-x64/bin/bun bench/lifecycle.ts
fi
if [ ! -d bench/node_modules/swarm-mail ]; then
  (cd bench && npm install --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
exec node_modules/@oven/bun-linux-x64/bin/bun bench/run.ts
