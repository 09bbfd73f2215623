#!/usr/bin/env bash
# The project's one test command: start the local services, build, run the tests.
#
#   scripts/test.sh [swift test args...]     e.g. scripts/test.sh --filter Configuration
#
# Tests reach the services through AMQP_URL and DATABASE_URL, and find the
# node scripts (for throwaway nodes, restarts, alarms) through MCPGW_SCRIPTS.
# The services are left running afterwards; 'scripts/services.sh stop' ends them.
set -euo pipefail

LOG_TAG="test"
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
cd "$MCPGW_REPO"

scripts/services.sh start
eval "$(scripts/services.sh env)"
export MCPGW_REPO MCPGW_SCRIPTS AMQP_URL DATABASE_URL
# Real MCP servers (the official Python SDK, servers from PyPI) run from a private venv.
MCPGW_PYTHON="$(scripts/python-env.sh)"
# The mcp 2.x SDK (the stateless 2026-07-28 revision) as a client, in a venv of its own.
MCPGW_PYTHON_SDK2="$(scripts/python-env.sh sdk2)"
export MCPGW_PYTHON MCPGW_PYTHON_SDK2

# The deployment start-up test feeds the binaries what the manifests set; that environment is
# rendered by the manifest checks (CI runs them as a step of their own, before this script).
if [[ ! -f "$MCPGW_REPO/.local/manifests/startup-env.json" ]]; then
    log "rendering the deployment files for the start-up test (scripts/check-manifests.sh)"
    scripts/check-manifests.sh
fi

log "swift build --build-tests"
swift build --build-tests

# The tests run with swift-testing, in parallel, but at most MCPGW_TEST_PARALLELISM tests at a
# time (default 4): many of them start real servers (MCP backends in Python, throwaway broker and
# database nodes), and on a 2-core machine unbounded parallelism starves them. The test bundle is
# run directly because `swift test` cannot pass that limit on. Arguments go to the bundle
# (e.g. --filter AMQP). The exit status is the tests'.
bundle="$(swift build --show-bin-path)/mcp-queue-gatewayPackageTests.xctest"
width="${MCPGW_TEST_PARALLELISM:-4}"
log "swift-testing ($width at a time) $*"
# The output is also kept in .local/test-output.log, so that a failed run can name its failures
# last (CI shows only the tail of what a run printed).
mkdir -p "$MCPGW_LOCAL"
output="$MCPGW_LOCAL/test-output.log"
rc=0
"$bundle" --testing-library swift-testing --experimental-maximum-parallelization-width "$width" "$@" 2>&1 \
    | tee "$output" || rc=$?
log "tests exited with $rc"
if (( rc != 0 )); then
    log "failures (from $output):"
    grep -a -E '✘|recorded an issue' "$output" | tail -n 40 >&2 || true
fi
exit "$rc"
