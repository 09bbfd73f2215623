#!/usr/bin/env bash
# A private RabbitMQ node for this checkout, on loopback only.
#
#   scripts/rabbitmq-node.sh start   NAME PORT   start (idempotent), wait until ready
#   scripts/rabbitmq-node.sh stop    NAME PORT   stop cleanly (idempotent)
#   scripts/rabbitmq-node.sh restart NAME PORT   stop, then start
#   scripts/rabbitmq-node.sh status  NAME PORT   exit 0 running, 1 unresponsive, 3 stopped
#   scripts/rabbitmq-node.sh wait    NAME PORT   wait until PORT speaks AMQP
#   scripts/rabbitmq-node.sh ctl     NAME PORT ARGS...   rabbitmqctl against the node
#
# Node NAME@localhost listens for AMQP on 127.0.0.1:PORT and for Erlang
# distribution on 127.0.0.1:PORT+10000. Everything it writes (database,
# logs, config, Erlang cookie) is under <repo>/.local/rabbitmq/NAME/.
# The system's rabbitmq-server service is never used or touched.
#
# Environment: MCPGW_RABBITMQ_START_TIMEOUT (seconds, default 90),
# MCPGW_RABBITMQ_BIN (default /usr/lib/rabbitmq/bin), MCPGW_RABBITMQ_COOKIE
# (the Erlang cookie, for nodes that form a cluster; default: one of its own),
# MCPGW_RABBITMQ_CLUSTER_SEED (a running node a fresh node joins: NAME@localhost).
set -euo pipefail

LOG_TAG=rabbitmq
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    sed -n '3,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

(( $# >= 3 )) || usage
cmd="$1" name="$2" port="$3"
shift 3
case "$cmd" in
    start | stop | restart | status | wait) (( $# == 0 )) || usage ;;
    ctl) (( $# >= 1 )) || usage ;;
    *) usage ;;
esac
validate_name "$name"
# PORT+10000 is the distribution port, so PORT must leave room for it.
validate_port "$port" 55535
[[ "$port" != 5672 ]] || die "5672 belongs to the system RabbitMQ; pick another port"

RMQ_BIN="${MCPGW_RABBITMQ_BIN:-/usr/lib/rabbitmq/bin}"
START_TIMEOUT="${MCPGW_RABBITMQ_START_TIMEOUT:-90}"
NODE="$name@localhost"
DIST_PORT=$(( port + 10000 ))
NODE_DIR="$MCPGW_LOCAL/rabbitmq/$name"
LOCK_FILE="$MCPGW_LOCAL/rabbitmq/.$name.lock"
LAUNCHER_PID_FILE="$NODE_DIR/launcher.pid"
LOG_TAG="rabbitmq $name"

[[ -x "$RMQ_BIN/rabbitmq-server" && -x "$RMQ_BIN/rabbitmqctl" ]] \
    || die "RabbitMQ is not installed ($RMQ_BIN/rabbitmq-server missing); run 'scripts/services.sh start' as root to install it"

# The node and every CLI call share this environment. Inherited RABBITMQ_*
# variables are dropped first so that a caller's settings (or the system's
# /etc/rabbitmq/rabbitmq-env.conf) can never point us at another node's files.
node_env() {
    local var
    for var in $(compgen -e); do
        if [[ "$var" == RABBITMQ_* ]]; then unset "$var"; fi
    done
    # Erlang reads the cookie from $HOME; a private HOME gives a private cookie.
    export HOME="$NODE_DIR/home"
    export RABBITMQ_NODENAME="$NODE"
    export RABBITMQ_MNESIA_BASE="$NODE_DIR/mnesia"
    export RABBITMQ_LOG_BASE="$NODE_DIR/log"
    export RABBITMQ_CONFIG_FILE="$NODE_DIR/rabbitmq.conf"
    export RABBITMQ_ADVANCED_CONFIG_FILE="$NODE_DIR/advanced.config"
    export RABBITMQ_ENABLED_PLUGINS_FILE="$NODE_DIR/enabled_plugins"
    export RABBITMQ_PID_FILE="$NODE_DIR/rabbitmq.pid"
    # Not a regular file, so rabbitmq-env sources nothing, and it stops the
    # default /etc/rabbitmq/rabbitmq-env.conf from being read.
    export RABBITMQ_CONF_ENV_FILE=/dev/null
    export RABBITMQ_DIST_PORT="$DIST_PORT"
    # epmd is started by the first node and shared by all; keep it on loopback.
    export ERL_EPMD_ADDRESS=127.0.0.1
    # Bind the node's distribution listener to loopback too.
    export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    # The CLI is an Erlang node as well. By default it listens on 0.0.0.0 at
    # 35672..35682, which is exactly our default AMQP port: a rabbitmqctl call
    # running while a node starts would steal its listener. An OS-chosen port
    # on loopback collides with nothing.
    export RABBITMQ_CTL_DIST_PORT_MIN=0 RABBITMQ_CTL_DIST_PORT_MAX=0
    export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
}

rabbitmqctl_() { "$RMQ_BIN/rabbitmqctl" -n "$NODE" "$@"; }

# A pid from FILE, only if that process is alive and runs in NODE_DIR (we
# launch the node with that working directory). This guards against stale
# files and against pid reuse by an unrelated process.
live_pid_from() {
    local pid
    [[ -s "$1" ]] || return 1
    pid="$(tr -dc '0-9' <"$1")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == "$NODE_DIR" ]] || return 1
    echo "$pid"
}

launcher_pid() { live_pid_from "$LAUNCHER_PID_FILE"; }
beam_pid() { live_pid_from "$RABBITMQ_PID_FILE"; }

# True when PORT answers the AMQP 0-9-1 protocol header with a method frame on
# channel 0 (connection.start): the broker is really serving, not just bound.
amqp_ready() {
    local reply
    # shellcheck disable=SC2016  # $1 belongs to the inner bash
    reply="$(timeout 5 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        printf "AMQP\x00\x00\x09\x01" >&3
        head -c 3 <&3 | od -An -tx1' _ "$port" 2>/dev/null)" || return 1
    [[ "${reply//[[:space:]]/}" == "010000" ]]
}

write_config() {
    mkdir -p "$NODE_DIR/home" "$NODE_DIR/mnesia" "$NODE_DIR/log"
    # Rewritten on every start, so a changed PORT or setting takes effect.
    cat >"$RABBITMQ_CONFIG_FILE" <<EOF
# Generated by scripts/rabbitmq-node.sh; rewritten on every start.
listeners.tcp.default = 127.0.0.1:$port
# guest/guest stays the user: RabbitMQ allows guest from loopback only,
# which is all this node listens on.
heartbeat = 30
# Long tool calls stay unacked for a while; the default 30 min is too short.
consumer_timeout = 3600000
vm_memory_high_watermark.relative = 0.4
# Dev machines and CI can run low on disk; the default alarm would block publishers.
disk_free_limit.absolute = 50MB
log.console = false
log.file = rabbit.log
log.file.level = info
EOF
    # A fresh node joins the cluster of MCPGW_RABBITMQ_CLUSTER_SEED (NAME@localhost, running)
    # as it first boots (scripts/rabbitmq-cluster.sh); a clustered node ignores this.
    if [[ -n "${MCPGW_RABBITMQ_CLUSTER_SEED:-}" ]]; then
        [[ "$MCPGW_RABBITMQ_CLUSTER_SEED" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,31}@localhost$ ]] \
            || die "MCPGW_RABBITMQ_CLUSTER_SEED must be NAME@localhost"
        cat >>"$RABBITMQ_CONFIG_FILE" <<EOF
cluster_formation.peer_discovery_backend = classic_config
cluster_formation.classic_config.nodes.1 = $MCPGW_RABBITMQ_CLUSTER_SEED
EOF
    fi
    # Optional TLS listener (tests of amqps://): MCPGW_RABBITMQ_TLS_PORT and a folder
    # MCPGW_RABBITMQ_TLS_DIR holding ca.pem, server.pem and server.key.
    if [[ -n "${MCPGW_RABBITMQ_TLS_PORT:-}" ]]; then
        local tls_dir="${MCPGW_RABBITMQ_TLS_DIR:?MCPGW_RABBITMQ_TLS_DIR must name the certificate folder}"
        validate_port "$MCPGW_RABBITMQ_TLS_PORT" 65535
        cat >>"$RABBITMQ_CONFIG_FILE" <<EOF
listeners.ssl.default = 127.0.0.1:$MCPGW_RABBITMQ_TLS_PORT
ssl_options.cacertfile = $tls_dir/ca.pem
ssl_options.certfile = $tls_dir/server.pem
ssl_options.keyfile = $tls_dir/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
ssl_options.versions.1 = tlsv1.3
ssl_options.versions.2 = tlsv1.2
EOF
    fi
    # No plugins: the management UI and friends only slow the start.
    echo '[].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
    # Create the cookie ourselves so that the server and the CLI agree on it
    # from the first call; Erlang insists on mode 0400. Nodes of one cluster
    # share a cookie: MCPGW_RABBITMQ_COOKIE sets it (scripts/rabbitmq-cluster.sh).
    if [[ -n "${MCPGW_RABBITMQ_COOKIE:-}" ]]; then
        [[ "$MCPGW_RABBITMQ_COOKIE" =~ ^[A-Za-z0-9]{16,255}$ ]] \
            || die "MCPGW_RABBITMQ_COOKIE must be 16 to 255 letters and digits"
        if [[ "$(cat "$HOME/.erlang.cookie" 2>/dev/null)" != "$MCPGW_RABBITMQ_COOKIE" ]]; then
            rm -f "$HOME/.erlang.cookie"
            (umask 077 && printf '%s' "$MCPGW_RABBITMQ_COOKIE" >"$HOME/.erlang.cookie")
            chmod 400 "$HOME/.erlang.cookie"
        fi
    elif [[ ! -s "$HOME/.erlang.cookie" ]]; then
        # (head reads a fixed count, so no SIGPIPE trips pipefail.)
        (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$HOME/.erlang.cookie")
        chmod 400 "$HOME/.erlang.cookie"
    fi
}

print_logs() {
    log "last lines of $NODE_DIR/server.out:"
    tail -n 20 "$NODE_DIR/server.out" >&2 2>/dev/null || true
    log "last lines of $RABBITMQ_LOG_BASE/rabbit.log:"
    tail -n 30 "$RABBITMQ_LOG_BASE/rabbit.log" >&2 2>/dev/null || true
}

# Wait until the node serves AMQP and has finished booting, or fail.
await_ready() {
    local deadline=$(( $(now_s) + START_TIMEOUT ))
    until amqp_ready; do
        if ! launcher_pid >/dev/null && ! beam_pid >/dev/null; then
            log "the node exited during startup"
            print_logs
            return 1
        fi
        if (( $(now_s) >= deadline )); then
            log "no AMQP on 127.0.0.1:$port after ${START_TIMEOUT}s"
            print_logs
            return 1
        fi
        sleep 1
    done
    # The listener opens near the end of boot; this confirms the rest.
    local left=$(( deadline - $(now_s) ))
    (( left >= 10 )) || left=10
    if ! rabbitmqctl_ -q await_startup --timeout "$left" >/dev/null; then
        log "rabbitmqctl await_startup failed"
        print_logs
        return 1
    fi
}

do_start() {
    local pid started
    if pid="$(launcher_pid)" || pid="$(beam_pid)"; then
        local running_port
        running_port="$(sed -n 's/^listeners\.tcp\.default = 127\.0\.0\.1://p' "$RABBITMQ_CONFIG_FILE" 2>/dev/null)"
        if [[ -n "$running_port" && "$running_port" != "$port" ]]; then
            die "already running on port $running_port, not $port; use 'restart' to move it"
        fi
        log "already running (pid $pid); checking that it is ready"
        await_ready
        log "ready: amqp://guest:guest@127.0.0.1:$port/"
        return 0
    fi
    # The node is NAME@localhost; Erlang distribution (and so rabbitmqctl)
    # only works if that name resolves to this machine.
    getent ahostsv4 localhost | grep -q '^127\.' \
        || die "'localhost' does not resolve to 127.x.x.x (check /etc/hosts)"
    # Names are global on the machine (epmd), ports are per node: a second
    # checkout reusing NAME with other ports would fail deep inside Erlang.
    if epmd -names 2>/dev/null | grep -q "^name $name at port "; then
        die "node name '$name' is already registered with epmd by another node (another checkout?); choose another NAME"
    fi
    if port_open "$port"; then
        die "127.0.0.1:$port is already in use by another process"
    fi
    if port_open "$DIST_PORT"; then
        die "distribution port 127.0.0.1:$DIST_PORT is already in use by another process"
    fi
    write_config
    rm -f "$RABBITMQ_PID_FILE"
    started=$(now_s)
    log "starting $NODE on 127.0.0.1:$port (distribution $DIST_PORT), data in $NODE_DIR"
    # setsid: own session and process group, so the node survives the caller
    # (a CI step, a test process) and `stop` can end the whole group at once.
    # The working directory marks the processes as this node's (live_pid_from).
    (
        cd "$NODE_DIR"
        close_fds_and_exec setsid nohup "$RMQ_BIN/rabbitmq-server" \
            >>"$NODE_DIR/server.out" 2>&1 </dev/null
    ) &
    echo "$!" >"$LAUNCHER_PID_FILE"
    await_ready
    log "ready after $(( $(now_s) - started ))s: amqp://guest:guest@127.0.0.1:$port/"
}

# wait_gone PID SECONDS: true once PID has exited.
wait_gone() {
    local i
    for (( i = 0; i < $2 * 5; i++ )); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.2
    done
    ! kill -0 "$1" 2>/dev/null
}

do_stop() {
    local launcher beam
    launcher="$(launcher_pid)" || launcher=""
    beam="$(beam_pid)" || beam=""
    if [[ -z "$launcher" && -z "$beam" ]]; then
        log "not running"
        rm -f "$LAUNCHER_PID_FILE" "$RABBITMQ_PID_FILE"
        return 0
    fi
    log "stopping $NODE"
    # A clean stop flushes message stores; `stop PIDFILE` returns once the VM is gone.
    local clean=no
    if [[ -n "$beam" ]]; then
        if timeout 60 "$RMQ_BIN/rabbitmqctl" -q -n "$NODE" stop "$RABBITMQ_PID_FILE" >/dev/null; then
            clean=yes
        else
            log "rabbitmqctl stop failed; terminating the processes"
        fi
    fi
    # The launcher (rabbitmq-server's shell) exits with the VM. If it is still
    # here, the node hung or never booted: end its process group (CONT first,
    # in case it was stopped, so that TERM can act).
    if [[ -n "$launcher" ]] && ! { [[ "$clean" == yes ]] && wait_gone "$launcher" 15; }; then
        log "terminating process group $launcher"
        kill -CONT -- "-$launcher" 2>/dev/null || true
        kill -TERM -- "-$launcher" 2>/dev/null || true
        if ! wait_gone "$launcher" 15; then
            kill -KILL -- "-$launcher" 2>/dev/null || true
        fi
    fi
    if [[ -n "$beam" ]] && ! wait_gone "$beam" 10; then
        kill -KILL "$beam" 2>/dev/null || true
        wait_gone "$beam" 5 || die "could not stop pid $beam"
    fi
    rm -f "$LAUNCHER_PID_FILE" "$RABBITMQ_PID_FILE"
    log "stopped"
}

do_restart() {
    do_stop
    do_start
}

do_status() {
    local pid
    if ! pid="$(launcher_pid)" && ! pid="$(beam_pid)"; then
        echo "$NODE: stopped"
        return 3
    fi
    if amqp_ready && rabbitmqctl_ -q await_startup --timeout 10 >/dev/null 2>&1; then
        echo "$NODE: running (pid $pid), amqp://guest:guest@127.0.0.1:$port/, data $NODE_DIR"
        return 0
    fi
    echo "$NODE: process $pid exists but the node is not ready (starting, or hung)"
    return 1
}

do_wait() {
    local deadline=$(( $(now_s) + START_TIMEOUT ))
    until amqp_ready; do
        if (( $(now_s) >= deadline )); then
            die "127.0.0.1:$port does not speak AMQP after ${START_TIMEOUT}s"
        fi
        sleep 1
    done
}

node_env
case "$cmd" in
    start) with_lock "$LOCK_FILE" do_start ;;
    stop) with_lock "$LOCK_FILE" do_stop ;;
    restart) with_lock "$LOCK_FILE" do_restart ;;
    status) do_status ;;
    wait) do_wait ;;
    ctl) rabbitmqctl_ "$@" ;;
esac
