# shellcheck shell=bash
# Helpers shared by the scripts in scripts/. Sourced, never executed.
# Callers have already set `set -euo pipefail`.

# The checkout this copy of the scripts belongs to: node data lives under it,
# so two checkouts on one machine never share a node by accident.
MCPGW_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)"
# shellcheck disable=SC2034  # used by the scripts that source this file
MCPGW_LOCAL="$MCPGW_REPO/.local"

# Messages go to stderr so that stdout stays clean for `services.sh env`.
log() { printf '[%s] %s\n' "${LOG_TAG:-mcpgw}" "$*" >&2; }
die() { log "error: $*"; exit 1; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# NAME becomes a directory, an Erlang node name and a PostgreSQL directory:
# keep it to characters that are safe in all three.
validate_name() {
    [[ "$1" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$ ]] \
        || die "invalid node name '$1' (letters, digits, '-' and '_', at most 32)"
}

# validate_port PORT MAX: an unprivileged port that leaves room for derived ports.
validate_port() {
    if ! [[ "$1" =~ ^[0-9]+$ ]] || (( $1 < 1024 || $1 > $2 )); then
        die "invalid port '$1' (expected 1024..$2)"
    fi
}

# True when something accepts TCP connections on 127.0.0.1:PORT.
# bash's /dev/tcp needs no extra tools; `timeout` bounds a connect that hangs.
port_open() {
    # shellcheck disable=SC2016  # $1 belongs to the inner bash
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# Seconds since an arbitrary start; for bounded waits.
now_s() { date +%s; }

# with_lock FILE CMD...: serialise start/stop of one node, since tests running
# in parallel may all call `start` on the same node at the same moment.
with_lock() {
    local lock="$1"; shift
    mkdir -p "$(dirname "$lock")"
    (
        flock -w 180 9 || die "timed out waiting for lock $lock"
        "$@"
    ) 9>"$lock"
}

# close_fds_and_exec CMD...: exec CMD with every descriptor above 2 closed.
# Daemons we launch must not inherit our lock descriptor (the next stop would
# wait for it forever) nor a caller's pipes (a `$(...)` or a test harness
# reading our output would never see end-of-file). Call it in a subshell.
close_fds_and_exec() {
    local fd
    for fd in /proc/self/fd/*; do
        fd="${fd##*/}"
        if (( fd > 2 )); then eval "exec ${fd}>&-"; fi
    done
    exec "$@"
}
