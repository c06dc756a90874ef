#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests (ARCHITECTURE.md decision 7): installed with apt when missing, started as
# the postgres user on a non-default port, no fsync, trust authentication on 127.0.0.1 only; stopped and removed after.
#   infra/postgres/throwaway.sh start DIR [PORT]   prints the Npgsql connection string
#   infra/postgres/throwaway.sh stop DIR
#   infra/postgres/throwaway.sh pause DIR | resume DIR PORT   (failure tests: the server goes away and comes back)
# SIDEP_PG_OPTIONS adds server options (e.g. "-c shared_preload_libraries=pg_stat_statements" for perf/bench-scale.sh).
# DIR must be reachable by the postgres user when run as root (e.g. /tmp/sidep-pg-1234, not inside a 0700 directory).
set -euo pipefail
# The postgres user must reach what this creates, whatever umask the caller runs under (Sidep's own is 077).
umask 022
cmd=${1:?start or stop}
dir=$(realpath -m "${2:?a directory for the cluster}")
port=${3:-55432}

find_bin() {
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ]; then echo "$d"; return 0; fi
  done
  return 1
}

as_owner() {
  # initdb refuses to run as root: the cluster belongs to the postgres user when we are root.
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

bin=$(find_bin || true)
# The postgres user may not be able to read the caller's directory.
cd /
case "$cmd" in
  start)
    if [ -z "$bin" ]; then
      sudo=""; if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
      $sudo apt-get update -qq >/dev/null
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
      # The package starts its own cluster on 5432; tests do not need it.
      $sudo service postgresql stop >/dev/null 2>&1 || true
      bin=$(find_bin)
    fi
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres "$dir"; fi
    as_owner "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${SIDEP_PG_OPTIONS:-}" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    echo "Host=127.0.0.1;Port=$port;Username=postgres;Database=postgres"
    ;;
  pause)
    as_owner "$bin/pg_ctl" -D "$dir/data" -w -m fast stop >/dev/null
    ;;
  resume)
    as_owner "$bin/pg_ctl" -D "$dir/data" -w -l "$dir/server.log" \
      -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${SIDEP_PG_OPTIONS:-}" start >/dev/null
    ;;
  stop)
    if [ -n "$bin" ] && [ -d "$dir/data" ]; then
      as_owner "$bin/pg_ctl" -D "$dir/data" -w -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "usage: $0 start DIR [PORT] | stop DIR | pause DIR | resume DIR PORT" >&2
    exit 2
    ;;
esac
