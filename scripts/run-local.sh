#!/usr/bin/env bash
# Runs the whole gateway on this machine, for trying it out.
#
#   scripts/run-local.sh          install what is missing, start RabbitMQ, PostgreSQL and real MCP
#                                 servers, build, migrate, seed, start one ingress and two workers,
#                                 and print how to call a tool
#   scripts/run-local.sh stop     stop the ingress and workers (scripts/services.sh stop ends the rest)
#
# Ports: ingress 127.0.0.1:${MCPGW_INGRESS_PORT:-38080}, worker health 39091 and 39092, the
# streamable-HTTP demo MCP server 38101. Logs, pids, keys: .local/run/ and .local/dev/.
# The development signing key under .local/dev is trusted by this local ingress only.
set -euo pipefail

LOG_TAG=run-local
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$MCPGW_REPO"

RUN="$MCPGW_LOCAL/run"
DEV="$MCPGW_LOCAL/dev"
INGRESS_PORT="${MCPGW_INGRESS_PORT:-38080}"
DEMO_HTTP_PORT="${MCPGW_DEMO_HTTP_PORT:-38101}"
BIN="$MCPGW_REPO/.build/debug"

stop_all() {
    local pidfile pid
    for pidfile in "$RUN"/*.pid; do
        [[ -f "$pidfile" ]] || continue
        pid="$(cat "$pidfile")"
        if kill -0 "$pid" 2>/dev/null; then
            log "stopping $(basename "$pidfile" .pid) ($pid)"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}

if [[ "${1:-}" == stop ]]; then
    stop_all
    exit 0
fi
[[ $# -eq 0 ]] || die "usage: scripts/run-local.sh [stop]"

# start NAME CMD...: run CMD in the background with its log under .local/run.
start() {
    local name="$1"; shift
    (close_fds_and_exec setsid "$@" >"$RUN/$name.log" 2>&1 </dev/null) &
    echo $! >"$RUN/$name.pid"
}

mkdir -p "$RUN" "$DEV"
stop_all

scripts/services.sh start
eval "$(scripts/services.sh env)"
export AMQP_URL DATABASE_URL
PYTHON="$(scripts/python-env.sh)"

log "building (debug; the first build takes 10 to 20 minutes on 2 cores)"
swift build --product mcp-ingress
swift build --product mcp-worker
swift build --product mcpgw

# One key pair for envelope signing, one for local tokens; both stay under .local/dev.
if [[ ! -f "$DEV/envelope.key" ]]; then
    head -c 32 /dev/urandom | base64 >"$DEV/envelope.key"
    chmod 600 "$DEV/envelope.key"
fi
export ENVELOPE_SIGNING_KEY
ENVELOPE_SIGNING_KEY="$(cat "$DEV/envelope.key")"
# The key that seals backend credentials at rest (AES-256-GCM); workers refuse to start without it.
if [[ ! -f "$DEV/credentials.key" ]]; then
    head -c 32 /dev/urandom | base64 >"$DEV/credentials.key"
    chmod 600 "$DEV/credentials.key"
fi
export CREDENTIALS_KEY CREDENTIALS_KEY_ID=local-1
CREDENTIALS_KEY="$(cat "$DEV/credentials.key")"
"$BIN/mcpgw" dev-keys --dir "$DEV" >/dev/null

"$BIN/mcpgw" migrate
"$BIN/mcpgw" seed
# Real MCP servers from PyPI over stdio, and the project's fixture server over streamable HTTP.
"$BIN/mcpgw" servers add --id time --name "Time (mcp-server-time)" --transport stdio \
    --command "$PYTHON" --arg=-m --arg=mcp_server_time --arg=--local-timezone --arg=UTC
"$BIN/mcpgw" servers add --id git --name "Git (mcp-server-git)" --transport stdio \
    --command "$PYTHON" --arg=-m --arg=mcp_server_git --arg=--repository "--arg=$MCPGW_REPO"
"$BIN/mcpgw" servers add --id demo --name "Demo (streamable HTTP)" --transport streamable_http \
    --url "http://127.0.0.1:$DEMO_HTTP_PORT/mcp"
"$BIN/mcpgw" grants add-group Local-Developers time
"$BIN/mcpgw" grants add-group Local-Developers demo
"$BIN/mcpgw" grants add-group MCP-GitHub git

start demo-mcp "$PYTHON" "$MCPGW_REPO/Tests/Fixtures/mcp/fixture_server.py" --transport streamable-http --port "$DEMO_HTTP_PORT"

export AUTH_JWKS_URL="file://$DEV/jwks.json" AUTH_ISSUER=mcpgw-dev AUTH_AUDIENCE=mcp-gateway AUTH_DEFAULT_TENANT=local
export INGRESS_HOST=127.0.0.1 INGRESS_PORT="$INGRESS_PORT" WORKER_HEALTH_HOST=127.0.0.1
start ingress "$BIN/mcp-ingress"
WORKER_ID=local-worker-1 WORKER_HEALTH_PORT=39091 start worker-1 "$BIN/mcp-worker"
WORKER_ID=local-worker-2 WORKER_HEALTH_PORT=39092 start worker-2 "$BIN/mcp-worker"

deadline=$(( $(now_s) + 60 ))
until curl -fs "http://127.0.0.1:$INGRESS_PORT/readyz" >/dev/null 2>&1; do
    (( $(now_s) < deadline )) || die "the ingress did not become ready; see $RUN/ingress.log"
    sleep 0.5
done
# Workers declare server queues from the catalog; give them a moment.
sleep 2

cat <<EOF

The gateway is running: ingress http://127.0.0.1:$INGRESS_PORT, workers' health on 39091 and 39092.
Logs: $RUN/*.log.  Stop: scripts/run-local.sh stop && scripts/services.sh stop

  TOKEN=\$($BIN/mcpgw dev-token --dir $DEV --subject alice --groups Local-Developers)
  curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$INGRESS_PORT/servers
  curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$INGRESS_PORT/servers/time/tools
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"timezone":"Europe/Paris"}' http://127.0.0.1:$INGRESS_PORT/servers/time/tools/get_current_time
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d '{"text":"hello"}' http://127.0.0.1:$INGRESS_PORT/servers/demo/tools/echo
  curl -s -H "Authorization: Bearer \$TOKEN" http://127.0.0.1:$INGRESS_PORT/servers/git/tools   # 403: not granted

EOF
