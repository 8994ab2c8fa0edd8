#!/usr/bin/env bash
# Installs what the build, the demo and the tests need. Idempotent: every step first checks
# whether the pinned version is already there, so a second run costs a few seconds.
#   scripts/setup.sh          toolchain + npm packages (enough for the build and the demo)
#   scripts/setup.sh --test   also the browsers, their drivers and the fuzzer for the test ladder
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned versions. WASM_BINDGEN must equal the wasm-bindgen version in Cargo.lock, or the
# generated glue and the compiled module disagree.
WASM_BINDGEN=0.2.129
WASM_PACK=0.15.1
GECKODRIVER=0.37.1
CARGO_FUZZ=0.13.2

want_browsers=0
[ "${1:-}" = "--test" ] && want_browsers=1

log() { printf '[setup] %s\n' "$*" >&2; }

have_version() { # have_version CMD WANTED: the command prints WANTED in its --version output
  # Output captured first: `grep -q` leaving a pipe early would make a long --version (e.g.
  # geckodriver's) die of SIGPIPE, which pipefail reports as "not installed".
  local out
  command -v "$1" >/dev/null 2>&1 && out=$("$1" --version 2>/dev/null) && grep -qF "$2" <<<"$out"
}

export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if ! grep -q "name = \"wasm-bindgen\"" Cargo.lock 2>/dev/null \
  || ! grep -A1 "name = \"wasm-bindgen\"" Cargo.lock | grep -qF "\"$WASM_BINDGEN\""; then
  log "warning: Cargo.lock does not pin wasm-bindgen $WASM_BINDGEN"
fi

if ! have_version wasm-bindgen "$WASM_BINDGEN"; then
  log "installing wasm-bindgen-cli $WASM_BINDGEN"
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN" --locked --force
fi

if ! have_version wasm-pack "$WASM_PACK"; then
  log "installing wasm-pack $WASM_PACK"
  cargo install wasm-pack --version "$WASM_PACK" --locked --force
fi

# npm packages: reinstall only when package-lock.json changed since the last install.
stamp=node_modules/.apiary-lock-hash
lock_hash=$(sha256sum package-lock.json | cut -c1-64)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_hash" ]; then
  log "installing npm packages from package-lock.json"
  # `npm install --no-save` rather than `npm ci`: the lock file this npm writes lists only this
  # platform's optional packages, which `npm ci` rejects. --ignore-scripts: opencode-ai's
  # postinstall would run the binary under the real HOME; the tests and the demo call the
  # platform binaries directly instead.
  npm install --ignore-scripts --no-save --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >"$stamp"
fi

if [ "$want_browsers" = 1 ]; then
  missing=()
  # postgresql: the log's second backend, tested against a private instance (scripts/postgres.sh).
  for pkg in chromium chromium-driver firefox-esr postgresql; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]} from Debian"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # The fuzz layer needs a nightly toolchain (sanitizer flags) and cargo-fuzz.
  if ! rustup toolchain list | grep -q '^nightly'; then
    log "installing the nightly toolchain (for cargo fuzz)"
    rustup toolchain install nightly --profile minimal
  fi
  if ! have_version cargo-fuzz "$CARGO_FUZZ"; then
    log "installing cargo-fuzz $CARGO_FUZZ"
    cargo install cargo-fuzz --version "$CARGO_FUZZ" --locked --force
  fi
  if ! have_version geckodriver "$GECKODRIVER"; then
    log "installing geckodriver $GECKODRIVER"
    cargo install geckodriver --version "$GECKODRIVER" --locked --force
  fi
fi
log "ready"
