#!/usr/bin/env bash
# A private PostgreSQL for the tests and the benchmark, from Debian's packages: its own data
# folder, a free port on 127.0.0.1, its socket in that folder, durable settings left as they are.
#   scripts/postgres.sh start DIR   starts it and prints its connection string
#   scripts/postgres.sh stop DIR    stops it (DIR can then be removed)
# PostgreSQL refuses to run as root: as root, it runs as the `postgres` user the package made.
set -euo pipefail

bindir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do [ -x "$d/initdb" ] && echo "$d"; done | sort -V | tail -n 1
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }
bin=$(bindir)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (scripts/setup.sh --test installs it)" >&2; exit 1; }

case $cmd in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    port=$(node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
    as_owner "$bin/initdb" -D "$dir/data" -U apiary --auth=trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    "$bin/psql" -q -h 127.0.0.1 -p "$port" -U apiary -d postgres -c "CREATE DATABASE apiary" >/dev/null
    echo "postgres://apiary@127.0.0.1:$port/apiary"
    ;;
  stop)
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
