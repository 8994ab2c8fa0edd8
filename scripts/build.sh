#!/usr/bin/env bash
# One build, two products:
#   dist/npm/            the npm package (ESM + .d.ts, from pkg-template/)
#   dist/opencode-plugin the drop-in for .opencode/plugin/: apiary.js + apiary/
# Fails if the gzipped .wasm exceeds the size budget.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Raised from 150 KB when the worker lifecycle (await, worktrees, agents, resume, waking) landed,
# from 192 KB when scheduling did, from 232 KB for file reservations and messages, from 264 KB
# for the views the command line and the dashboard share, and from 280 KB for placing workers
# on several servers: see BENCHMARKS.md, "Size of the core", for what each part costs. Lowered
# from 312 KB to 264 KB when serde left the .wasm (the tools' arguments, the host's answers and
# the replies go through the core's own JSON codec), and to 262 KB when the largest decoders
# read into a default value field by field (`json_fields!`): it only goes
# down from here.
WASM_GZIP_BUDGET=$((262 * 1024))
log() { printf '[build] %s\n' "$*" >&2; }

log "wasm-pack (release)"
rm -rf build/wasm
wasm-pack --quiet build --release --target web --no-pack --out-dir build/wasm --out-name apiary_core . >/dev/null
rm -f build/wasm/.gitignore

log "wasm-opt -Oz"
# --converge runs the passes until the module stops shrinking. --zero-filled-memory: the module
# defines its own memory, which starts zeroed, so zero bytes need no data segment.
# --low-memory-unused: Rust places its 1 MB stack first, growing down towards address 0, so the
# first kilobyte is reached only by a stack overflow (which traps below 0); wasm-opt may then
# fold constant offsets into loads and stores (about 2.5 KB gzipped).
node_modules/.bin/wasm-opt -Oz --converge --zero-filled-memory --low-memory-unused \
  --strip-producers --strip-target-features --enable-bulk-memory --enable-nontrapping-float-to-int \
  --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
  build/wasm/apiary_core_bg.wasm -o build/wasm/apiary_core_bg.opt.wasm
mv build/wasm/apiary_core_bg.opt.wasm build/wasm/apiary_core_bg.wasm

raw=$(stat -c %s build/wasm/apiary_core_bg.wasm)
gz=$(gzip -9 -c build/wasm/apiary_core_bg.wasm | wc -c)
log "apiary_core_bg.wasm: $raw bytes raw, $gz bytes gzipped (budget $WASM_GZIP_BUDGET)"
if [ "$gz" -gt "$WASM_GZIP_BUDGET" ]; then
  log "error: the gzipped .wasm ($gz bytes) exceeds the budget of $WASM_GZIP_BUDGET bytes"
  exit 1
fi
printf '{"wasm_raw_bytes":%s,"wasm_gzip_bytes":%s}\n' "$raw" "$gz" >build/wasm/size.json

log "tsc (shim)"
rm -rf build/js
node_modules/.bin/tsc -p js/tsconfig.json

log "assembling dist/"
rm -rf dist
node scripts/assemble.mjs
log "done: dist/npm and dist/opencode-plugin"
