#!/usr/bin/env bash
# Measures what the gateway and its queue add to an MCP tool call (issue 3). See docs/performance.md.
#
#   scripts/benchmark.sh [--debug] [mcpgw-benchmark options...]
#       e.g. scripts/benchmark.sh --rounds 3 --calls 200      (--help lists the options)
#
# Starts the local services, prepares the Python venv (the fixture MCP server), builds
# mcpgw-benchmark and runs it. The report goes to stdout and to .local/benchmark/.
#
# The build is optimised (release) unless --debug is given (or MCPGW_BENCHMARK_CONFIGURATION=debug):
# a debug build is quicker to make but its figures are pessimistic, and the report says so.
# It builds in .build-benchmark/, so it never waits for, nor holds, the lock of the .build/
# that everyday debug builds use; the first release build of the whole stack takes a while.
set -euo pipefail

LOG_TAG="benchmark"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$MCPGW_REPO"

configuration="${MCPGW_BENCHMARK_CONFIGURATION:-release}"
if [[ "${1:-}" == "--debug" ]]; then
    configuration=debug
    shift
fi
[[ "$configuration" == release || "$configuration" == debug ]] \
    || die "MCPGW_BENCHMARK_CONFIGURATION must be release or debug, not '$configuration'"
scratch="$MCPGW_REPO/.build-benchmark"

scripts/services.sh start
eval "$(scripts/services.sh env)"
export MCPGW_REPO AMQP_URL DATABASE_URL
MCPGW_PYTHON="$(scripts/python-env.sh)"
export MCPGW_PYTHON

log "swift build -c $configuration --product mcpgw-benchmark (in ${scratch#"$MCPGW_REPO"/}/)"
build_started="$(now_s)"
# Build output goes to stderr, so that stdout carries the report alone.
swift build -c "$configuration" --scratch-path "$scratch" --product mcpgw-benchmark >&2
build_seconds=$(( $(now_s) - build_started ))
binary="$(swift build -c "$configuration" --scratch-path "$scratch" --show-bin-path)/mcpgw-benchmark"

# What the figures were measured against, for the report's header.
rabbitmq_version="$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || echo unknown)"
postgres_version="$(psql "$DATABASE_URL" -tAc 'SHOW server_version' 2>/dev/null || echo unknown)"
mcp_version="$("$MCPGW_PYTHON" -c 'import importlib.metadata as m; print(m.version("mcp"))' 2>/dev/null || echo unknown)"
swift_version="$(swift --version 2>/dev/null | head -n 1)"
note="swift build -c $configuration took ${build_seconds} s; $swift_version; RabbitMQ $rabbitmq_version; PostgreSQL $postgres_version (local node: fsync and synchronous_commit off); mcp SDK $mcp_version"

mkdir -p .local/benchmark
report=".local/benchmark/benchmark-$(date -u +%Y%m%dT%H%M%SZ)-$configuration.txt"
log "running $binary $*"
# Bounded: a run that hangs is interrupted (SIGINT lets it clean up), then killed.
timeout --signal=INT --kill-after=60 1800 "$binary" --note "$note" "$@" | tee "$report"
log "report saved to $report"
