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
export MCPGW_PYTHON

log "swift build --build-tests"
swift build --build-tests

# swift-testing runs tests in parallel by default. The exit status is the tests'.
log "swift test $*"
rc=0
swift test "$@" || rc=$?
log "swift test exited with $rc"
exit "$rc"
