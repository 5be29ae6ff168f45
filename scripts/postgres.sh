#!/usr/bin/env bash
# A real PostgreSQL for the tests: Debian's PostgreSQL 15 as a throwaway cluster, listening on a
# unix socket in its own folder and on a loopback port. The engine's PostgreSQL state store
# (packages/engine/src/store/postgres) is tested against it; nothing is emulated.
#
#   bash scripts/postgres.sh start    starts it unless it already answers; prints the connection file
#   bash scripts/postgres.sh stop     stops it and removes its folder
#   bash scripts/postgres.sh status   exits 0 when it answers, 1 when it does not
#   bash scripts/postgres.sh env      prints PG* variables for psql (eval "$(bash scripts/postgres.sh env)")
#
# The cluster lives in $CAIRN_POSTGRES_DIR (default .tools/postgres), owned by the `postgres` user
# (initdb refuses root), on port $CAIRN_POSTGRES_PORT (default 25432). It runs with fsync,
# synchronous_commit and full_page_writes off: durability is not under test here, and those
# settings are for throwaway test clusters only. With CAIRN_POSTGRES_DURABLE=1 it keeps PostgreSQL's
# production defaults instead (fsync, synchronous_commit and full_page_writes on): the bench's
# PostgreSQL row (bench/postgres-server.ts) compares durable commits with SQLite's. The connection
# (socket folder, host, port, user, password) is written as JSON to $CAIRN_POSTGRES_DIR/connection.json. Tests make a database each
# (`createTestDatabase()`), so one cluster serves a whole test run.
set -Eeuo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${CAIRN_POSTGRES_DIR:-$root/.tools/postgres}"
# Below Linux's ephemeral range (32768-60999): a port inside it can be held, for a moment, as the
# local end of some other program's loopback connection (the S3 gateway's Ceph daemons, started
# just before, open many), and then nothing answers on it but PostgreSQL cannot bind it either.
port="${CAIRN_POSTGRES_PORT:-25432}"
data="$dir/data"
connection="$dir/connection.json"
user=cairn_test
password=cairn-test-password-not-for-production

log() { printf '[postgres] %s\n' "$*" >&2; }

on_error() {
  local status=$? line=$1
  log "failed (exit $status) at line $line: $BASH_COMMAND"
  if [ -s "$dir/server.log" ]; then
    log "last lines of $dir/server.log:"
    tail -n 12 "$dir/server.log" >&2
  fi
}

# Debian puts the server binaries under /usr/lib/postgresql/<major>/bin (pg_wrapper links only
# the clients into /usr/bin); some machines also link them into /usr/local/bin.
find_binaries() {
  local candidate
  for candidate in "$(command -v pg_ctl 2>/dev/null || true)" /usr/lib/postgresql/*/bin/pg_ctl; do
    [ -n "$candidate" ] && [ -x "$candidate" ] || continue
    bin="$(dirname "$(readlink -f "$candidate")")"
    [ -x "$bin/initdb" ] && [ -x "$bin/postgres" ] && [ -x "$bin/psql" ] && return 0
  done
  return 1
}

ensure_installed() {
  find_binaries && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    # shellcheck source=scripts/apt-get-waiting.sh
    source "$root/scripts/apt-get-waiting.sh"
    log "PostgreSQL is missing: installing Debian's postgresql (waiting up to ${apt_lock_seconds} s for another apt to finish, if one is running)"
    apt_get update -qq
    apt_get install -y -qq postgresql
    find_binaries && return 0
  fi
  log "PostgreSQL's server binaries (pg_ctl, initdb, postgres) were not found: install them with apt-get install -y postgresql (scripts/setup.sh --for-tests does, as root)"
  exit 1
}

# Runs a command as the cluster's owner: initdb and the server refuse to run as root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

answers() {
  find_binaries || return 1
  [ -f "$connection" ] || return 1
  PGPASSWORD="$password" "$bin/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -Atqc 'select 1' >/dev/null 2>&1
}

stop() {
  if find_binaries && [ -f "$data/postmaster.pid" ]; then
    as_owner "$bin/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

start() {
  # Vitest projects may each ask at once: one starts it, the others wait and find it answering.
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock 9
  if answers; then
    echo "$connection"
    return
  fi
  bash "${BASH_SOURCE[0]}" start-unlocked 9>&-
}

write_connection() {
  cat >"$connection" <<EOF
{
  "host": "127.0.0.1",
  "socketDirectory": "$1",
  "port": $port,
  "user": "$user",
  "password": "$password",
  "database": "postgres"
}
EOF
}

# One attempt; the caller holds the lock.
start_unlocked() {
  trap 'on_error $LINENO' ERR
  ensure_installed
  stop
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    # Another checkout's test cluster (a CI clone beside a work tree) answers with the same test
    # role: share it, as every test makes databases of its own.
    local socket_directory
    if socket_directory=$(PGPASSWORD="$password" "$bin/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -Atqc 'show unix_socket_directories' 2>/dev/null); then
      mkdir -p "$dir"
      write_connection "${socket_directory%%,*}"
      log "sharing the test cluster that already answers on 127.0.0.1:$port (connection: $connection)"
      echo "$connection"
      return
    fi
    log "port $port on 127.0.0.1 is taken by another program: set CAIRN_POSTGRES_PORT to a free port"
    exit 1
  fi
  mkdir -p "$dir"
  # The owner must reach the folder: every parent must be searchable by others.
  chown postgres:postgres "$dir" 2>/dev/null || true
  local password_file="$dir/password"
  printf '%s\n' "$password" >"$password_file"
  chown postgres:postgres "$password_file" 2>/dev/null || true
  as_owner "$bin/initdb" -D "$data" -U "$user" --pwfile="$password_file" --auth-local=trust --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 --no-instructions >"$dir/initdb.log" 2>&1 || {
    log "initdb failed; its output:"
    tail -n 20 "$dir/initdb.log" >&2
    exit 1
  }
  rm -f "$password_file"
  local durability
  if [ "${CAIRN_POSTGRES_DURABLE:-0}" = 1 ]; then
    durability="# Durable (CAIRN_POSTGRES_DURABLE=1): fsync, synchronous_commit and full_page_writes keep their defaults (on)."
  else
    durability=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off'
  fi
  cat >>"$data/postgresql.conf" <<EOF
# Throwaway test cluster (scripts/postgres.sh): never use these settings for data you keep.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
$durability
max_connections = 200
shared_buffers = 128MB
log_min_messages = warning
EOF
  as_owner "$bin/pg_ctl" -D "$data" -l "$dir/server.log" -w -t 60 start >/dev/null
  write_connection "$dir"
  answers || { log "PostgreSQL did not answer on 127.0.0.1:$port; its log: $dir/server.log"; exit 1; }
  log "PostgreSQL answers on 127.0.0.1:$port and in $dir (connection: $connection)"
  echo "$connection"
}

case "${1:-start}" in
  start) start ;;
  start-unlocked) start_unlocked ;;
  stop) stop ;;
  status) answers ;;
  env)
    printf 'export PGHOST=%q PGPORT=%q PGUSER=%q PGPASSWORD=%q PGDATABASE=postgres\n' 127.0.0.1 "$port" "$user" "$password"
    ;;
  *) log "usage: $0 start|stop|status|env"; exit 2 ;;
esac
