#!/usr/bin/env bash
# The demo: installs what it needs (idempotent), builds, and runs scripts/demo.ts under Bun
# (OpenCode's own runtime) against a real, isolated `opencode serve` with the scripted model.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh
exec node_modules/@oven/bun-linux-x64/bin/bun scripts/demo.ts "$@"
