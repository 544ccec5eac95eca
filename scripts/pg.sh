#!/usr/bin/env bash
# Project-local PostgreSQL server for the NYC taxi DAGs, tests and benchmarks.
#
# Why: no Docker and no system-wide cluster here, so we run our own postgres out of
# $PG_DIR (default <repo>/.pg), bound to 127.0.0.1 only, with the DataTalksClub
# course credentials (root/root, db ny_taxi). postgres refuses to run as root, so when
# invoked as root the server runs as a non-root user (postgres, else a system user
# "taxipg") that owns $PG_DIR.
#
# Usage: scripts/pg.sh start|stop|status|uri|psql [args...]|createdb NAME|dropdb NAME|destroy
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_DIR="$(realpath -m "${PG_DIR:-$REPO_ROOT/.pg}")"
PG_PORT="${PG_PORT:-54329}"
PG_USER="${PG_USER:-root}"
PG_PASSWORD="${PG_PASSWORD:-root}"
PG_DB="${PG_DB:-ny_taxi}"
VENV="${VENV:-$REPO_ROOT/.venv}"
DATA="$PG_DIR/data" RUN="$PG_DIR/run" LOG="$PG_DIR/postgres.log"
PGSERVER_PIN="pgserver==0.1.4"
RUN_AS="" BIN="" PSQL=""

die() { echo "pg.sh: $*" >&2; exit 1; }
has_pg_ctl() { [[ -n "$1" && -x "$1/pg_ctl" ]]; }

pgserver_bin() {  # bin dir bundled in the pgserver wheel installed in $VENV, if any
  local pkg
  pkg="$("$VENV/bin/python" -c 'import importlib.util as u; s = u.find_spec("pgserver"); print(s.submodule_search_locations[0] if s else "")' 2>/dev/null)" || return 0
  if [[ -n "$pkg" ]]; then find "$pkg" -type f -name pg_ctl -perm -u+x -printf '%h\n' -quit 2>/dev/null; fi
}

resolve_bin() {  # sets BIN (server binaries) and PSQL; $1=install allows installing pgserver
  find_bin "${1:-}"
  if [[ -x "$BIN/psql" ]]; then PSQL="$BIN/psql"; else PSQL="$(command -v psql)" || die "psql not found"; fi
}

find_bin() {
  local d
  if [[ -n "${PG_BIN:-}" ]]; then has_pg_ctl "$PG_BIN" || die "PG_BIN=$PG_BIN has no pg_ctl"; BIN="$PG_BIN"; return; fi
  for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do  # unmatched glob fails has_pg_ctl
    if has_pg_ctl "$d"; then BIN="$d"; return; fi
  done
  d="$(pg_config --bindir 2>/dev/null || true)"
  if has_pg_ctl "$d"; then BIN="$d"; return; fi
  [[ -x "$VENV/bin/python" ]] || die "no PostgreSQL binaries found (set PG_BIN or install postgresql); no $VENV/bin/python to install pgserver into"
  d="$(pgserver_bin)"
  if ! has_pg_ctl "$d" && [[ "${1:-}" == install ]]; then
    echo "pg.sh: no system PostgreSQL; installing $PGSERVER_PIN into $VENV" >&2
    if [[ -x "$VENV/bin/uv" ]]; then "$VENV/bin/uv" pip install --python "$VENV/bin/python" "$PGSERVER_PIN" >&2
    else "$VENV/bin/python" -m pip install "$PGSERVER_PIN" >&2; fi
    d="$(pgserver_bin)"
  fi
  has_pg_ctl "$d" || die "no PostgreSQL binaries found (PG_BIN, /usr/lib/postgresql/*/bin, pg_config, $PGSERVER_PIN in $VENV)"
  BIN="$d"
}

resolve_user() {  # $1=create: create the system user if needed
  [[ $EUID -eq 0 ]] || return 0
  if [[ -d "$DATA" && "$(stat -c %U "$DATA")" != root && "$(stat -c %U "$DATA")" != UNKNOWN ]]; then
    RUN_AS="$(stat -c %U "$DATA")"            # whoever owns an existing cluster
  elif id -u postgres >/dev/null 2>&1; then RUN_AS=postgres
  else
    RUN_AS=taxipg
    if ! id -u taxipg >/dev/null 2>&1; then
      [[ "${1:-}" == create ]] || return 0
      useradd --system --no-create-home --shell /usr/sbin/nologin taxipg
    fi
  fi
}

as_pg() {  # run a command as the server user (cd / so an unreadable cwd doesn't matter)
  if [[ -n "$RUN_AS" ]]; then (cd / && runuser -u "$RUN_AS" -- "$@"); else "$@"; fi
}

check_traversal() {  # the server user must be able to reach $PG_DIR
  [[ -n "$RUN_AS" ]] || return 0
  as_pg test -x "$PG_DIR" && return 0
  local d="" part
  IFS=/ read -ra parts <<<"${PG_DIR#/}"
  for part in "${parts[@]}"; do
    d="$d/$part"
    as_pg test -x "$d" || die "user $RUN_AS cannot traverse $d (needs o+x, e.g. chmod o+x '$d'); or set PG_DIR elsewhere"
  done
}

is_running() { [[ -f "$DATA/PG_VERSION" ]] && as_pg "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }
running_port() { sed -n 4p "$DATA/postmaster.pid" 2>/dev/null; }
show_log() { echo "---- last 50 lines of $LOG ----" >&2; tail -n 50 "$LOG" >&2 2>/dev/null || true; }
uri() { echo "postgresql://$PG_USER:$1@127.0.0.1:$PG_PORT/$PG_DB"; }

init_cluster() {
  local pwfile="$PG_DIR/.pwfile.$$" locale=C
  grep -qixE 'c\.utf-?8' <<<"$(locale -a 2>/dev/null)" && locale=C.UTF-8
  (umask 077; printf '%s\n' "$PG_PASSWORD" >"$pwfile")
  [[ -z "$RUN_AS" ]] || chown "$RUN_AS" "$pwfile"
  trap 'rm -f "$pwfile"' EXIT
  if ! as_pg "$BIN/initdb" -D "$DATA" -U "$PG_USER" --pwfile="$pwfile" -E UTF8 --locale="$locale" \
      --auth-local=trust --auth-host=scram-sha-256 >>"$LOG" 2>&1; then
    show_log; die "initdb failed"
  fi
  rm -f "$pwfile"; trap - EXIT
  cat >>"$DATA/postgresql.conf" <<EOF

# ---- added by scripts/pg.sh (port/socket/listen are also passed on every start) ----
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$RUN'
max_connections = 200
shared_buffers = 512MB
work_mem = 64MB
maintenance_work_mem = 512MB
max_wal_size = 4GB
checkpoint_timeout = 15min
logging_collector = off
EOF
}

sql_as_pg() {  # run SQL (stdin) via the unix socket as the server user; -v db=$1
  as_pg "$PSQL" -X -q -v ON_ERROR_STOP=1 -h "$RUN" -p "$PG_PORT" -U "$PG_USER" -d postgres -v db="$1"
}
sql_tcp() {  # run SQL (stdin) via TCP with the password; -v db=$1
  PGPASSWORD="$PG_PASSWORD" "$PSQL" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -v db="$1"
}
create_sql() { echo "SELECT format('CREATE DATABASE %I', :'db') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\\gexec"; }

cmd_start() {
  [[ "$PG_DIR" != *"'"* ]] || die "PG_DIR must not contain a single quote"
  (( ${#RUN} + 17 < 108 )) || die "socket path $RUN is too long for a unix socket; use a shorter PG_DIR"
  resolve_bin install; resolve_user create
  if is_running; then
    local p; p="$(running_port)"
    [[ "$p" == "$PG_PORT" ]] || die "already running on port $p, not $PG_PORT; run '$0 stop' first"
    echo "postgres already running (pid $(head -n1 "$DATA/postmaster.pid"))"
  else
    mkdir -p "$RUN"; chmod 700 "$RUN"; touch "$LOG"   # 700: local socket auth is trust
    [[ -z "$RUN_AS" ]] || { chown -R "$RUN_AS": "$PG_DIR"; check_traversal; }
    [[ -f "$DATA/PG_VERSION" ]] || init_cluster
    if ! as_pg "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 \
        -o "-p $PG_PORT -h 127.0.0.1 -k '$RUN'" start >/dev/null; then
      show_log; die "server failed to start"
    fi
  fi
  create_sql | sql_as_pg "$PG_DB" || { show_log; die "could not create database $PG_DB"; }
  echo "postgres ready: $(uri '***') (data $DATA, log $LOG)"
}

cmd_stop() {
  [[ -f "$DATA/PG_VERSION" ]] || { echo "postgres not running"; return 0; }
  resolve_bin; resolve_user
  if is_running; then as_pg "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; echo "postgres stopped"
  else echo "postgres not running"; fi
}

cmd_status() {
  if [[ -f "$DATA/PG_VERSION" ]]; then resolve_bin; resolve_user; fi
  if is_running; then echo "postgres running (pid $(head -n1 "$DATA/postmaster.pid"), port $(running_port), data $DATA)"
  else echo "postgres not running (data $DATA)"; exit 3; fi
}

cmd_destroy() {
  cmd_stop
  if [[ -d "$PG_DIR" && -n "$(ls -A "$PG_DIR")" && ! -e "$DATA" && ! -e "$RUN" && ! -e "$LOG" ]]; then
    die "refusing to rm -rf $PG_DIR: it does not look like a pg.sh directory"
  fi
  rm -rf "$PG_DIR"; echo "removed $PG_DIR"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  uri) uri "$PG_PASSWORD" ;;
  psql) shift; resolve_bin
        PGPASSWORD="$PG_PASSWORD" exec "$PSQL" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" "$@" ;;
  createdb) [[ -n "${2:-}" ]] || die "usage: $0 createdb NAME"; resolve_bin; create_sql | sql_tcp "$2" ;;
  dropdb) [[ -n "${2:-}" ]] || die "usage: $0 dropdb NAME"; resolve_bin
          echo "SELECT format('DROP DATABASE IF EXISTS %I WITH (FORCE)', :'db')\\gexec" | sql_tcp "$2" ;;
  destroy) cmd_destroy ;;
  *) echo "usage: $0 start|stop|status|uri|psql [args...]|createdb NAME|dropdb NAME|destroy" >&2; exit 2 ;;
esac
