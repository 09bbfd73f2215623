#!/usr/bin/env bash
# Creates <repo>/.local/venv when missing and installs scripts/requirements.txt into it when that
# file changed since the last install (a stamp holds its sha256). Prints the venv's python path.
# Idempotent and quiet on success; on failure prints pip's output and exits non-zero.
#
#   MCPGW_PYTHON=$(scripts/python-env.sh) swift test --filter WorkerTests
#   scripts/python-env.sh sdk2     the same for .local/venv-sdk2 and scripts/requirements-sdk2.txt
#                                  (the mcp 2.x SDK, which cannot share a venv with mcp-proxy)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="${1:-}"
case "$name" in
    "") venv="$repo/.local/venv"; requirements="$repo/scripts/requirements.txt" ;;
    sdk2) venv="$repo/.local/venv-sdk2"; requirements="$repo/scripts/requirements-sdk2.txt" ;;
    *) echo "python-env.sh: unknown environment '$name' (expected nothing or sdk2)" >&2; exit 2 ;;
esac
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    mkdir -p "$repo/.local"
    "$python" -m venv "$venv" >&2
fi

wanted="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    log="$(mktemp)"
    if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q -r "$requirements" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "python-env.sh: installing $requirements failed" >&2
        exit 1
    fi
    rm -f "$log"
    echo "$wanted" >"$stamp"
fi

echo "$venv/bin/python"
