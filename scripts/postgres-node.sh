#!/usr/bin/env bash
# A private PostgreSQL cluster for this checkout, on loopback only.
#
#   scripts/postgres-node.sh start   NAME PORT   initdb on first use, start (idempotent), wait until ready
#   scripts/postgres-node.sh stop    NAME PORT   fast shutdown (idempotent)
#   scripts/postgres-node.sh restart NAME PORT   stop, then start
#   scripts/postgres-node.sh status  NAME PORT   exit 0 accepting, 1 not accepting, 3 stopped
#   scripts/postgres-node.sh wait    NAME PORT   wait until it accepts connections
#
# The cluster listens on 127.0.0.1:PORT, trusts local connections (dev and
# test only), and has a database `mcpgw` owned by `postgres`. Its files are
# under <repo>/.local/postgres/NAME/ (data/, postgres.log); the Unix socket
# is in data/. The system's PostgreSQL service is never used or touched.
#
# Environment: MCPGW_PG_START_TIMEOUT (seconds, default 60),
# MCPGW_PG_BINDIR (default: the newest /usr/lib/postgresql/*/bin).
set -euo pipefail

LOG_TAG=postgres
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    sed -n '3,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

(( $# == 3 )) || usage
cmd="$1" name="$2" port="$3"
case "$cmd" in start | stop | restart | status | wait) ;; *) usage ;; esac
validate_name "$name"
validate_port "$port" 65535
[[ "$port" != 5432 ]] || die "5432 belongs to the system PostgreSQL; pick another port"

LOG_TAG="postgres $name"
START_TIMEOUT="${MCPGW_PG_START_TIMEOUT:-60}"
DB_NAME=mcpgw
NODE_DIR="$MCPGW_LOCAL/postgres/$name"
LOCK_FILE="$MCPGW_LOCAL/postgres/.$name.lock"

# Client variables from the caller (PGHOST, PGPORT, PGDATA, ...) must not
# redirect our commands to another server: every call below is explicit.
for var in $(compgen -e); do
    if [[ "$var" == PG* ]]; then unset "$var"; fi
done

find_bindir() {
    if [[ -n "${MCPGW_PG_BINDIR:-}" ]]; then
        echo "$MCPGW_PG_BINDIR"
        return
    fi
    # Debian installs each major version side by side; take the newest.
    local dir
    dir="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
    [[ -n "$dir" ]] || die "PostgreSQL server is not installed (no /usr/lib/postgresql/*/bin); run 'scripts/services.sh start' as root to install it"
    echo "$dir"
}
PG_BIN="$(find_bindir)"
[[ -x "$PG_BIN/pg_ctl" && -x "$PG_BIN/initdb" && -x "$PG_BIN/psql" ]] \
    || die "incomplete PostgreSQL installation in $PG_BIN"

# PostgreSQL refuses to run as root. As root we run its tools as the Debian
# `postgres` user (created by the postgresql package); as anyone else, as
# ourselves.
if is_root; then
    id -u postgres >/dev/null 2>&1 \
        || die "user 'postgres' does not exist; install the postgresql package ('scripts/services.sh start' as root)"
    PG_RUN=(runuser -u postgres --)
    PG_OWNER=postgres
else
    PG_RUN=()
    PG_OWNER="$(id -un)"
fi
as_pg() { "${PG_RUN[@]}" "$@"; }

# The directory the server's user works in. Normally NODE_DIR itself; see
# prepare_node_dir for when it is a symlink to a directory elsewhere.
node_real() { readlink -f "$NODE_DIR"; }

# Create NODE_DIR owned by the server's user. If that user cannot reach it
# (the checkout sits below a private directory such as /root), keep the
# cluster in /var/tmp instead and leave a symlink at NODE_DIR, so that the
# data still appears under .local and `rm -rf .local` still resets it.
prepare_node_dir() {
    [[ -e "$NODE_DIR" ]] && return 0
    mkdir -p "$NODE_DIR"
    if is_root; then
        chown "$PG_OWNER:" "$NODE_DIR"
        if ! runuser -u postgres -- test -w "$NODE_DIR" 2>/dev/null; then
            local alt
            alt="/var/tmp/mcpgw-postgres-$(printf '%s' "$NODE_DIR" | sha256sum | cut -c1-16)"
            log "user postgres cannot reach $NODE_DIR; keeping the cluster in $alt"
            rmdir "$NODE_DIR"
            # A fresh .local means a fresh cluster: drop what an earlier checkout
            # left, unless its server still runs (.local removed without a stop).
            if [[ -f "$alt/data/postmaster.pid" ]] \
                && kill -0 "$(head -n 1 "$alt/data/postmaster.pid")" 2>/dev/null; then
                die "a server still runs from $alt; stop it first: pg_ctl -D $alt/data stop"
            fi
            rm -rf "$alt"
            mkdir -p "$alt"
            chown "$PG_OWNER:" "$alt"
            chmod 700 "$alt"
            ln -s "$alt" "$NODE_DIR"
        fi
    fi
}

data_dir() { echo "$(node_real)/data"; }
log_file() { echo "$(node_real)/postgres.log"; }

psql_() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U postgres "$@"
}

accepting() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -t 2 >/dev/null 2>&1; }

# pg_ctl status: 0 running, 3 not running, 4 no data directory.
server_running() {
    [[ -f "$(data_dir)/PG_VERSION" ]] || return 1
    (cd "$(node_real)" && as_pg "$PG_BIN/pg_ctl" -D "$(data_dir)" status >/dev/null 2>&1)
}

init_cluster() {
    local real data tmp
    real="$(node_real)"
    data="$real/data"
    tmp="$real/data.initdb"
    log "initdb in $data (PostgreSQL $("$PG_BIN/postgres" -V | awk '{print $3}'))"
    rm -rf "$tmp"
    # Into a temporary name first: an interrupted initdb never leaves a
    # half-made cluster where start would find it.
    # --auth=trust: a loopback-only dev/test cluster; --no-locale keeps sorting
    # identical on every machine.
    (cd "$real" && as_pg "$PG_BIN/initdb" -D "$tmp" --auth=trust --username=postgres \
        --encoding=UTF8 --no-locale --no-sync >"$real/initdb.log" 2>&1) || {
        cat "$real/initdb.log" >&2
        die "initdb failed"
    }
    # Our settings live in mcpgw.conf, rewritten on each start; ALTER SYSTEM
    # (postgresql.auto.conf) is read later and still wins.
    printf "\n# Added by scripts/postgres-node.sh\ninclude_if_exists = 'mcpgw.conf'\n" \
        >>"$tmp/postgresql.conf"
    mv "$tmp" "$data"
}

write_config() {
    local data socket_dir
    data="$(data_dir)"
    socket_dir="$data"
    # A Unix socket path must fit in 107 bytes; a deep checkout can exceed
    # that. TCP on loopback is what clients use anyway, so go without.
    if (( ${#data} + ${#port} + 10 > 107 )); then
        log "data path too long for a Unix socket; TCP only"
        socket_dir=""
    fi
    cat >"$data/mcpgw.conf" <<EOF
# Generated by scripts/postgres-node.sh; rewritten on every start.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$socket_dir'
# Many test processes run in parallel, each with its own pool.
max_connections = 300
# Dev/test cluster: durability is traded for speed. A machine crash can lose
# or corrupt the data; reset with 'scripts/services.sh stop && rm -rf .local'.
fsync = off
synchronous_commit = off
full_page_writes = off
timezone = 'UTC'
log_timezone = 'UTC'
log_line_prefix = '%m [%p] %q%u@%d '
EOF
    chown "$PG_OWNER:" "$data/mcpgw.conf"
}

# Wait until the server accepts connections, or fail with its log.
await_ready() {
    local deadline=$(( $(now_s) + START_TIMEOUT ))
    until accepting; do
        if (( $(now_s) >= deadline )); then
            log "not accepting connections on 127.0.0.1:$port after ${START_TIMEOUT}s; last lines of $(log_file):"
            tail -n 30 "$(log_file)" >&2 || true
            return 1
        fi
        sleep 0.5
    done
}

ensure_database() {
    local exists
    exists="$(psql_ -d postgres -tA -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")"
    if [[ "$exists" != 1 ]]; then
        psql_ -d postgres -c "CREATE DATABASE $DB_NAME OWNER postgres"
        log "created database $DB_NAME"
    fi
}

do_start() {
    local started
    prepare_node_dir
    if server_running; then
        local running_port
        running_port="$(sed -n 's/^port = //p' "$(data_dir)/mcpgw.conf" 2>/dev/null)"
        if [[ -n "$running_port" && "$running_port" != "$port" ]]; then
            die "already running on port $running_port, not $port; use 'restart' to move it"
        fi
        log "already running; checking that it is ready"
        await_ready
        ensure_database
        log "ready: postgresql://postgres@127.0.0.1:$port/$DB_NAME"
        return 0
    fi
    if port_open "$port"; then
        die "127.0.0.1:$port is already in use by another process"
    fi
    [[ -f "$(data_dir)/PG_VERSION" ]] || init_cluster
    write_config
    started=$(now_s)
    log "starting on 127.0.0.1:$port, data in $(data_dir)"
    # pg_ctl detaches the postmaster. It must not inherit our lock or the
    # caller's pipes (close_fds_and_exec).
    if ! (cd "$(node_real)" && close_fds_and_exec "${PG_RUN[@]}" "$PG_BIN/pg_ctl" \
        -D "$(data_dir)" -l "$(log_file)" -w -t "$START_TIMEOUT" start >/dev/null); then
        log "pg_ctl start failed; last lines of $(log_file):"
        tail -n 30 "$(log_file)" >&2 || true
        return 1
    fi
    await_ready
    ensure_database
    log "ready after $(( $(now_s) - started ))s: postgresql://postgres@127.0.0.1:$port/$DB_NAME"
}

do_stop() {
    if [[ ! -e "$NODE_DIR" ]] || ! server_running; then
        log "not running"
        return 0
    fi
    log "stopping (fast)"
    # Fast: roll back open transactions and disconnect clients, which is
    # what tests restarting the server want to see.
    if ! (cd "$(node_real)" && as_pg "$PG_BIN/pg_ctl" -D "$(data_dir)" -m fast -w -t 60 stop >/dev/null); then
        log "fast shutdown timed out; immediate shutdown"
        (cd "$(node_real)" && as_pg "$PG_BIN/pg_ctl" -D "$(data_dir)" -m immediate -w -t 30 stop >/dev/null)
    fi
    log "stopped"
}

do_restart() {
    do_stop
    do_start
}

do_status() {
    if [[ ! -e "$NODE_DIR" ]] || ! server_running; then
        echo "postgres $name: stopped"
        return 3
    fi
    if accepting; then
        echo "postgres $name: running, postgresql://postgres@127.0.0.1:$port/$DB_NAME, data $(data_dir)"
        return 0
    fi
    echo "postgres $name: running but not accepting connections on 127.0.0.1:$port"
    return 1
}

do_wait() {
    local deadline=$(( $(now_s) + START_TIMEOUT ))
    until accepting; do
        (( $(now_s) < deadline )) || die "127.0.0.1:$port not accepting connections after ${START_TIMEOUT}s"
        sleep 0.5
    done
}

case "$cmd" in
    start) with_lock "$LOCK_FILE" do_start ;;
    stop) with_lock "$LOCK_FILE" do_stop ;;
    restart) with_lock "$LOCK_FILE" do_restart ;;
    status) do_status ;;
    wait) do_wait ;;
esac
