#!/usr/bin/env bash
# The local services this checkout's code and tests use.
#
#   scripts/services.sh start     install missing Debian packages (as root), start both nodes
#   scripts/services.sh stop      stop both nodes
#   scripts/services.sh status    show both nodes; exit 0 only if both are up
#   scripts/services.sh env       print exports: eval "$(scripts/services.sh env)"
#   scripts/services.sh install   only install missing Debian packages (as root)
#
# Nodes: RabbitMQ `mcpgw` on 127.0.0.1:${MCPGW_AMQP_PORT:-35672} and PostgreSQL
# `mcpgw` on 127.0.0.1:${MCPGW_PG_PORT:-35432}, both with their files under
# <repo>/.local/ (node name overridable with MCPGW_SERVICES_NAME). The system's own rabbitmq-server and postgresql services are
# neither used nor started nor stopped.
set -euo pipefail

LOG_TAG=services
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    sed -n '3,8p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

AMQP_PORT="${MCPGW_AMQP_PORT:-35672}"
PG_PORT="${MCPGW_PG_PORT:-35432}"
# A second checkout on the same machine sets all three, e.g. MCPGW_SERVICES_NAME=mcpgw2.
NODE_NAME="${MCPGW_SERVICES_NAME:-mcpgw}"
SCRIPTS="$MCPGW_REPO/scripts"

# Everything the build, the tests and the node scripts need from Debian.
PACKAGES=(rabbitmq-server librabbitmq-dev amqp-tools postgresql libpq-dev libssl-dev pkg-config)

missing_packages() {
    local pkg
    for pkg in "${PACKAGES[@]}"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null)" != installed ]]; then
            echo "$pkg"
        fi
    done
}

POLICY_RC=/usr/sbin/policy-rc.d
remove_policy_rc() { rm -f "$POLICY_RC"; }

install_packages() {
    local missing
    mapfile -t missing < <(missing_packages)
    (( ${#missing[@]} > 0 )) || return 0
    is_root || die "missing Debian packages: ${missing[*]}; install them with: sudo apt-get install ${missing[*]}"
    log "installing missing Debian packages: ${missing[*]}"
    # Keep the packages' own services from starting during installation
    # (policy-rc.d exit 101 = "action forbidden"): we run private nodes, and a
    # system broker or cluster would only hold ports 5672/5432 and memory.
    # Only a policy file we created is removed again.
    if [[ ! -e "$POLICY_RC" ]]; then
        printf '#!/bin/sh\n# Temporary, from mcpgw scripts/services.sh\nexit 101\n' >"$POLICY_RC"
        chmod 755 "$POLICY_RC"
        trap remove_policy_rc EXIT
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Bounded: a stuck mirror or dpkg lock must fail the run, not hang it.
    timeout 900 apt-get -q -o DPkg::Lock::Timeout=300 update </dev/null
    timeout 1800 apt-get -q -y -o DPkg::Lock::Timeout=300 install --no-install-recommends \
        "${missing[@]}" </dev/null
    if [[ -e "$POLICY_RC" ]] && grep -q 'mcpgw scripts/services.sh' "$POLICY_RC"; then
        remove_policy_rc
        trap - EXIT
    fi
    mapfile -t missing < <(missing_packages)
    (( ${#missing[@]} == 0 )) || die "still missing after apt-get install: ${missing[*]}"
}

do_start() {
    local pg_pid pg_rc=0 rmq_rc=0
    install_packages
    # RabbitMQ takes ~15 s to boot; start PostgreSQL alongside it.
    "$SCRIPTS/postgres-node.sh" start "$NODE_NAME" "$PG_PORT" &
    pg_pid=$!
    "$SCRIPTS/rabbitmq-node.sh" start "$NODE_NAME" "$AMQP_PORT" || rmq_rc=$?
    wait "$pg_pid" || pg_rc=$?
    (( rmq_rc == 0 )) || die "RabbitMQ node $NODE_NAME failed to start (exit $rmq_rc)"
    (( pg_rc == 0 )) || die "PostgreSQL node $NODE_NAME failed to start (exit $pg_rc)"
    log "services up; for a shell: eval \"\$(scripts/services.sh env)\""
}

do_stop() {
    local rc=0
    "$SCRIPTS/rabbitmq-node.sh" stop "$NODE_NAME" "$AMQP_PORT" || rc=1
    "$SCRIPTS/postgres-node.sh" stop "$NODE_NAME" "$PG_PORT" || rc=1
    return "$rc"
}

do_status() {
    local rc=0
    "$SCRIPTS/rabbitmq-node.sh" status "$NODE_NAME" "$AMQP_PORT" || rc=1
    "$SCRIPTS/postgres-node.sh" status "$NODE_NAME" "$PG_PORT" || rc=1
    return "$rc"
}

# Only exports on stdout, quoted for the shell, so that eval is safe.
do_env() {
    printf 'export MCPGW_REPO=%q\n' "$MCPGW_REPO"
    printf 'export MCPGW_SCRIPTS=%q\n' "$SCRIPTS"
    printf 'export MCPGW_SERVICES_NAME=%q\n' "$NODE_NAME"
    printf 'export MCPGW_AMQP_PORT=%q\n' "$AMQP_PORT"
    printf 'export MCPGW_PG_PORT=%q\n' "$PG_PORT"
    printf 'export AMQP_URL=%q\n' "amqp://guest:guest@127.0.0.1:$AMQP_PORT/%2f"
    printf 'export DATABASE_URL=%q\n' "postgresql://postgres@127.0.0.1:$PG_PORT/mcpgw"
}

(( $# == 1 )) || usage
case "$1" in
    start) do_start ;;
    stop) do_stop ;;
    status) do_status ;;
    env) do_env ;;
    install) install_packages ;;
    *) usage ;;
esac
