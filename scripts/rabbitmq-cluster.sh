#!/usr/bin/env bash
# A private three-node RabbitMQ cluster for this checkout, on loopback only.
#
#   scripts/rabbitmq-cluster.sh start      NAME BASEPORT    start NAME-1..3, cluster them, wait for 3 running members
#   scripts/rabbitmq-cluster.sh stop       NAME BASEPORT    stop all three (idempotent)
#   scripts/rabbitmq-cluster.sh kill       NAME BASEPORT N  kill -9 node N's Erlang VM (N = 1, 2 or 3)
#   scripts/rabbitmq-cluster.sh start-node NAME BASEPORT N  bring node N back into the cluster
#   scripts/rabbitmq-cluster.sh leader     NAME BASEPORT QUEUE  print the index (1..3) of QUEUE's leader
#   scripts/rabbitmq-cluster.sh members    NAME BASEPORT QUEUE  print the indexes of QUEUE's replicas ("1 2 3")
#   scripts/rabbitmq-cluster.sh status     NAME BASEPORT    each node, and the running members
#   scripts/rabbitmq-cluster.sh addresses  NAME BASEPORT    print AMQP_ADDRESSES for the cluster
#
# Node N is scripts/rabbitmq-node.sh's node NAME-N@localhost on AMQP port BASEPORT+N-1 (and
# distribution port BASEPORT+N-1+10000), with its files under <repo>/.local/rabbitmq/NAME-N/.
# The three share one Erlang cookie, kept in <repo>/.local/rabbitmq/NAME.cookie.
# Environment: as rabbitmq-node.sh; MCPGW_RABBITMQ_CLUSTER_TIMEOUT (seconds, default 120)
# bounds the wait for members and for a leader.
set -euo pipefail

LOG_TAG=rabbitmq-cluster
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
    sed -n '3,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

(( $# >= 3 )) || usage
cmd="$1" name="$2" base="$3"
shift 3
case "$cmd" in
    start | stop | status | addresses) (( $# == 0 )) || usage ;;
    kill | start-node)
        (( $# == 1 )) || usage
        [[ "$1" =~ ^[123]$ ]] || die "node index must be 1, 2 or 3, got '$1'"
        ;;
    leader | members) (( $# == 1 )) || usage ;;
    *) usage ;;
esac
# NAME-N must still be a valid node name; ports leave room for +2 and +10000.
validate_name "$name-3"
validate_port "$base" 55533
(( base > 5672 || base + 2 < 5672 )) || die "ports $base..$(( base + 2 )) include 5672, the system RabbitMQ's"

NODE_SCRIPT="$(dirname "${BASH_SOURCE[0]}")/rabbitmq-node.sh"
TIMEOUT="${MCPGW_RABBITMQ_CLUSTER_TIMEOUT:-120}"
COOKIE_FILE="$MCPGW_LOCAL/rabbitmq/$name.cookie"

node_name() { echo "$name-$1"; }
node_port() { echo $(( base + $1 - 1 )); }
# on_node N ARGS...: rabbitmq-node.sh ARGS[0] NAME-N PORT ARGS[1..], with the cluster's cookie.
on_node() {
    local index="$1" command="$2"
    shift 2
    MCPGW_RABBITMQ_COOKIE="$(cookie)" "$NODE_SCRIPT" "$command" "$(node_name "$index")" "$(node_port "$index")" "$@"
}

cookie() {
    if [[ ! -s "$COOKIE_FILE" ]]; then
        mkdir -p "$(dirname "$COOKIE_FILE")"
        (umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$COOKIE_FILE")
    fi
    cat "$COOKIE_FILE"
}

# The running members node N sees (names, one a line); nothing if it does not answer.
running_members() {
    on_node "$1" ctl -q cluster_status --formatter json 2>/dev/null \
        | grep -o '"running_nodes":\[[^]]*\]' | grep -o "$name-[123]@localhost" || true
}

# wait_members N COUNT: until node N sees COUNT running members, or fail.
wait_members() {
    local deadline=$(( $(now_s) + TIMEOUT ))
    until (( $(running_members "$1" | wc -l) >= $2 )); do
        (( $(now_s) < deadline )) || die "node $1 does not see $2 running members after ${TIMEOUT}s"
        sleep 1
    done
}

# Joins node N to node 1 unless it is already a member of that cluster (join_cluster resets it).
join() {
    local index="$1"
    if running_members "$index" | grep -qx "$(node_name 1)@localhost"; then
        return 0
    fi
    log "joining $(node_name "$index") to $(node_name 1)"
    on_node "$index" ctl -q stop_app >/dev/null
    on_node "$index" ctl -q join_cluster "$(node_name 1)@localhost" >/dev/null
    on_node "$index" ctl -q start_app >/dev/null
}

# Starts the given nodes side by side (a clustered node waits for its peers while it boots).
start_nodes() {
    local index pids=() rc=0
    cookie >/dev/null
    for index in "$@"; do
        on_node "$index" start &
        pids+=("$!")
    done
    for index in "${pids[@]}"; do wait "$index" || rc=1; done
    (( rc == 0 )) || die "a node failed to start"
}

do_start() {
    local started
    started=$(now_s)
    # Node 1 first; fresh nodes 2 and 3 then join it as they boot (peer discovery), which
    # saves a stop_app/join_cluster/start_app round per node. `join` covers the rest.
    start_nodes 1
    MCPGW_RABBITMQ_CLUSTER_SEED="$(node_name 1)@localhost" start_nodes 2 3
    join 2
    join 3
    wait_members 1 3
    log "ready after $(( $(now_s) - started ))s: AMQP_ADDRESSES=$(addresses)"
}

do_stop() {
    local index pids=() rc=0
    for index in 1 2 3; do
        on_node "$index" stop &
        pids+=("$!")
    done
    for index in "${pids[@]}"; do wait "$index" || rc=1; done
    return "$rc"
}

# kill -9 of node N's VM (rabbitmq-node.sh records its pid); waits until it and its launcher are
# gone and epmd has forgotten the name, so that start-node can follow at once.
do_kill() {
    local index="$1" dir pid launcher deadline
    dir="$MCPGW_LOCAL/rabbitmq/$(node_name "$index")"
    pid="$(tr -dc '0-9' <"$dir/rabbitmq.pid" 2>/dev/null)" || pid=""
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && [[ "$(readlink "/proc/$pid/cwd")" == "$dir" ]] \
        || die "node $index ($(node_name "$index")) is not running"
    launcher="$(tr -dc '0-9' <"$dir/launcher.pid" 2>/dev/null)" || launcher=""
    log "kill -9 $(node_name "$index") (pid $pid)"
    kill -KILL "$pid"
    deadline=$(( $(now_s) + 30 ))
    while kill -0 "$pid" 2>/dev/null || { [[ -n "$launcher" ]] && kill -0 "$launcher" 2>/dev/null; } \
        || epmd -names 2>/dev/null | grep -q "^name $(node_name "$index") at port "; do
        (( $(now_s) < deadline )) || die "node $index is still around 30s after kill -9"
        sleep 0.2
    done
}

do_start_node() {
    start_nodes "$1"
    # A node that was killed rejoins by itself; one that was reset (or never joined) is joined.
    if (( $1 != 1 )); then join "$1"; fi
    wait_members "$1" 3
}

# queue_info QUEUE ITEM: ITEM (leader, members...) of QUEUE, from the first node that answers
# (a dead node would keep rabbitmqctl waiting, so nodes not listening are skipped).
queue_info() {
    local index
    for index in 1 2 3; do
        port_open "$(node_port "$index")" || continue
        on_node "$index" ctl -q list_queues name "$2" --no-table-headers 2>/dev/null \
            | awk -F'\t' -v q="$1" '$1 == q { print $2; found = 1 } END { exit !found }' && return 0
    done
    return 1
}

# Prints QUEUE's leader once there is one (an election may be in progress).
do_leader() {
    local queue="$1" deadline=$(( $(now_s) + TIMEOUT )) leader
    while :; do
        leader="$(queue_info "$queue" leader)" || leader=""
        if [[ "$leader" =~ ^$name-([123])@localhost$ ]]; then
            echo "${BASH_REMATCH[1]}"
            return 0
        fi
        (( $(now_s) < deadline )) || die "no leader for queue '$queue' after ${TIMEOUT}s"
        sleep 1
    done
}

do_members() {
    local members
    members="$(queue_info "$1" members)" || die "no node knows queue '$1'"
    grep -o "$name-[123]@localhost" <<<"$members" | sed "s/^$name-\([123]\)@localhost$/\1/" | sort | tr '\n' ' ' | sed 's/ $/\n/'
}

do_status() {
    local index rc=0 members
    for index in 1 2 3; do on_node "$index" status || rc=1; done
    for index in 1 2 3; do
        port_open "$(node_port "$index")" || continue
        members="$(running_members "$index" | tr '\n' ' ')"
        if [[ -n "$members" ]]; then
            echo "running members: $members"
            (( $(wc -w <<<"$members") == 3 )) || rc=1
            return "$rc"
        fi
    done
    echo "running members: none answer"
    return 1
}

addresses() { echo "127.0.0.1:$(node_port 1),127.0.0.1:$(node_port 2),127.0.0.1:$(node_port 3)"; }

case "$cmd" in
    start) do_start ;;
    stop) do_stop ;;
    kill) do_kill "$1" ;;
    start-node) do_start_node "$1" ;;
    leader) do_leader "$1" ;;
    members) do_members "$1" ;;
    status) do_status ;;
    addresses) addresses ;;
esac
