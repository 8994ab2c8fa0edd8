#!/usr/bin/env bash
# Runs every test of the project: the README's test command, and what CI runs.
#   1. core: cargo fmt --check, clippy (native and wasm32), cargo test
#   2. build: wasm-pack + wasm-opt + size budget, the shim, the packages
#   3. wasm: wasm-bindgen tests in Node, headless Chromium and headless Firefox
#   4. shim: tsc --strict --noEmit, the shim's tests in Node and in Bun (the PostgreSQL log's
#      against a private instance started here)
#   5. e2e: a real `opencode serve` driven by the scripted model
#   6. observe: the command line and the dashboard (headless Chromium) on the logs of layer 5
#   7. fuzz: the log's line decoder and reading path under cargo fuzz, for a fixed 30 s
# Every layer must run at least one test: a layer that ran none fails the whole run.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

bash scripts/setup.sh --test || { echo "setup failed"; exit 1; }

LOGS=build/test-logs
rm -rf "$LOGS" && mkdir -p "$LOGS"

# A private PostgreSQL for the tests of the log's PostgreSQL backend, stopped on exit.
PG_DIR=$(mktemp -d /tmp/apiary-test-pg-XXXXXX)
trap 'bash scripts/postgres.sh stop "$PG_DIR"; rm -rf "$PG_DIR"' EXIT
if ! APIARY_TEST_POSTGRES=$(bash scripts/postgres.sh start "$PG_DIR"); then
  echo "could not start PostgreSQL for the tests"
  exit 1
fi
export APIARY_TEST_POSTGRES
BUN=node_modules/@oven/bun-linux-x64/bin/bun
total_passed=0
total_failed=0
failures=()
started=$(date +%s)

# run NAME PARSER CMD...: runs CMD with its output in $LOGS/NAME.log, then counts its tests
# with PARSER (cargo, node, bun or none). Fails when the command fails or ran no test.
run() {
  local name=$1 parser=$2
  shift 2
  local log="$LOGS/$name.log" t0=$(date +%s)
  "$@" >"$log" 2>&1
  local rc=$? passed=0 failed=0
  case $parser in
    cargo)
      passed=$(grep -Eo '^test result: [a-zA-Z]+\. [0-9]+ passed' "$log" | awk '{s+=$4} END {print s+0}')
      failed=$(grep -Eo '[0-9]+ failed;' "$log" | awk '{s+=$1} END {print s+0}') ;;
    node)
      passed=$(grep -Eo '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
      failed=$(grep -Eo '^# fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}') ;;
    bun)
      passed=$(grep -Eo '^ *[0-9]+ pass$' "$log" | awk '{s+=$1} END {print s+0}')
      failed=$(grep -Eo '^ *[0-9]+ fail$' "$log" | awk '{s+=$1} END {print s+0}') ;;
    fuzz)
      # One fuzz target that ran at least one input and found nothing counts as one test.
      passed=$(grep -Eq '^Done [1-9][0-9]* runs' "$log" && echo 1 || echo 0) ;;
  esac
  local verdict=ok
  if [ "$rc" -ne 0 ] || [ "$failed" -gt 0 ]; then
    verdict=FAILED
  elif [ "$parser" != none ] && [ "$passed" -eq 0 ]; then
    verdict="FAILED (ran no test)"
  fi
  total_passed=$((total_passed + passed))
  total_failed=$((total_failed + failed))
  printf '%-22s %-22s %4s passed %3s failed  %4ss\n' "$name" "$verdict" "$passed" "$failed" "$(($(date +%s) - t0))"
  if [ "$verdict" != ok ]; then
    failures+=("$name")
    [ "$failed" -gt 0 ] || total_failed=$((total_failed + 1))
    echo "---- last lines of $log ----"
    tail -n 40 "$log"
    echo "----"
    return 1
  fi
}

echo "== 1. core"
run fmt none cargo fmt --check
run clippy-native none cargo clippy --all-targets --locked -- -D warnings
run clippy-wasm32 none cargo clippy --all-targets --locked --target wasm32-unknown-unknown -- -D warnings
run cargo-test cargo cargo test --locked

echo "== 2. build"
if ! run build none bash scripts/build.sh; then
  echo "the build failed: the later layers need it"
  echo "apiary tests: $total_passed passed, $total_failed failed"
  exit 1
fi
grep -h 'apiary_core_bg.wasm' "$LOGS/build.log" | sed 's/^\[build\] /   /'

echo "== 3. wasm"
wasm_test() { cargo test --locked --target wasm32-unknown-unknown --test wasm_core; }
run wasm-node cargo env -u WASM_BINDGEN_USE_BROWSER bash -c "$(declare -f wasm_test); wasm_test"
run wasm-chromium cargo env WASM_BINDGEN_USE_BROWSER=1 CHROMEDRIVER=/usr/bin/chromedriver \
  bash -c "$(declare -f wasm_test); wasm_test"
run wasm-firefox cargo env WASM_BINDGEN_USE_BROWSER=1 GECKODRIVER="$(command -v geckodriver)" \
  bash -c "$(declare -f wasm_test); wasm_test"
# The browser runs must really have run in the browsers, not fallen back to Node.
grep -q "headless tests in Chrome" "$LOGS/wasm-chromium.log" || { echo "wasm-chromium did not run in Chromium"; failures+=(wasm-chromium-browser); }
grep -q "headless tests in Firefox" "$LOGS/wasm-firefox.log" || { echo "wasm-firefox did not run in Firefox"; failures+=(wasm-firefox-browser); }

echo "== 4. shim"
run tsc-strict none node_modules/.bin/tsc -p tsconfig.json
rm -rf build/tests-js
run tsc-tests none node_modules/.bin/tsc -p tests/tsconfig.json
# Compiled tests import ../../dist as their sources do.
ln -sfn ../../dist build/tests-js/dist
run shim-node node node --test build/tests-js/tests/js/
# One Bun process per file: Bun's node:test runs files in one process and refuses a file's
# first test() while an earlier file's last test is still settling.
bun_files() {
  local rc=0 f
  for f in tests/js/*.test.ts; do "$BUN" test --timeout 180000 "./$f" || rc=1; done
  return $rc
}
run shim-bun bun bash -c "BUN=$BUN; $(declare -f bun_files); bun_files"

echo "== 5. e2e (real opencode serve, scripted model)"
rm -rf build/e2e-logs build/test-artifacts
run e2e node node --test --test-concurrency=1 build/tests-js/tests/e2e/

echo "== 6. observe (command line and dashboard in headless Chromium)"
run observe node node --test --test-concurrency=1 build/tests-js/tests/observe/
ls build/test-artifacts/*.png 2>/dev/null | sed 's/^/   screenshot: /'

echo "== 7. fuzz (cargo fuzz, 30 s)"
fuzz_run() {
  rm -rf build/fuzz-corpus && mkdir -p build/fuzz-corpus && cp fuzz/seeds/* build/fuzz-corpus/
  cd fuzz && cargo +nightly fuzz run decode_line ../build/fuzz-corpus -- -max_total_time=30
}
run fuzz fuzz bash -c "$(declare -f fuzz_run); fuzz_run"
grep -h '^Done' "$LOGS/fuzz.log" | sed 's/^/   /'

elapsed=$(($(date +%s) - started))
echo "== done in ${elapsed}s; logs in $LOGS/"
if [ ${#failures[@]} -gt 0 ]; then
  echo "failed layers: ${failures[*]}"
  echo "apiary tests: $total_passed passed, $total_failed failed"
  exit 1
fi
echo "apiary tests: $total_passed passed, $total_failed failed"
