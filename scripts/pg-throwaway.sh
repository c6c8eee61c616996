#!/usr/bin/env bash
# A throwaway PostgreSQL server for the database tests: `eval "$(scripts/pg-throwaway.sh start)"`
# prints `export FLOTILLA_TEST_PG_URL=…`; `scripts/pg-throwaway.sh stop` stops it and removes it;
# `restart` restarts it (what the several-managers test does to a server of its own).
# initdb refuses root, so the cluster belongs to the `postgres` user; it listens on loopback only.
set -euo pipefail
dir=${FLOTILLA_PG_DIR:-/tmp/flt-pg}
port=${FLOTILLA_PG_PORT:-55432}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -n "$bin" ] || { echo "no PostgreSQL server installed (apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-}" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
      as_pg "$bin/initdb" -D "$dir" -A trust -U postgres >/dev/null
    fi
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
    echo "export FLOTILLA_TEST_PG_URL=postgres://postgres@127.0.0.1:$port/postgres" ;;
  restart)
    # A real restart (fast shutdown: clients are disconnected), same options (postmaster.opts).
    as_pg "$bin/pg_ctl" -D "$dir" -m fast -w restart >/dev/null ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir" -m fast stop >/dev/null 2>&1 || true
    rm -rf "$dir" ;;
  *) echo "usage: $0 start|restart|stop" >&2; exit 2 ;;
esac
