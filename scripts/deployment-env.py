#!/usr/bin/env python3
"""Writes the environment every deployment file gives each of our processes, as JSON, for the
start-up test (Tests/SharedTests/Deployment/DeploymentStartupTests.swift), which feeds it to the
real binaries. scripts/check-manifests.sh runs it after rendering the overlays:

    scripts/deployment-env.py OUT.json RENDERED.yaml... compose/compose.yaml

Output: {"<source>/<process>": {"command": [...], "env": {NAME: value}}}. Values the test must
replace are markers: "@AMQP_URL" and "@DATABASE_URL" (the local broker and database),
"@KEY32" (a generated base64 key), "@POD" (the pod name), "@DEV_KEYS/..." (the development
key pair's folder). Everything else is the manifest's own value.
"""
import base64
import json
import os
import re
import sys

import yaml

OURS = {"mcp-ingress", "mcp-worker", "mcpgw"}
KEYS = {"ENVELOPE_SIGNING_KEY", "CREDENTIALS_KEY"}


def marker(name, value):
    if name == "AMQP_URL":
        return "@AMQP_URL"
    if name == "DATABASE_URL":
        return "@DATABASE_URL"
    if name in KEYS:
        return "@KEY32"
    return value


def kubernetes(path, result):
    source = os.path.splitext(os.path.basename(path))[0]
    with open(path) as handle:
        docs = [d for d in yaml.safe_load_all(handle) if d]
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"}
    secrets = {}
    for d in docs:
        if d["kind"] == "Secret":
            values = {k: base64.b64decode(v).decode() for k, v in (d.get("data") or {}).items()}
            values.update(d.get("stringData") or {})
            secrets[d["metadata"]["name"]] = values
    for d in docs:
        if d["kind"] not in ("Deployment", "Job"):
            continue
        for container in d["spec"]["template"]["spec"]["containers"]:
            command = container.get("command", [])
            if not command or command[0] not in OURS:
                continue
            env = {}
            for source_ref in container.get("envFrom", []):
                env.update(config_maps[source_ref["configMapRef"]["name"]])
            for entry in container.get("env", []):
                name = entry["name"]
                if "value" in entry:
                    env[name] = entry["value"]
                elif "fieldRef" in entry.get("valueFrom", {}):
                    env[name] = "@POD"
                elif "configMapKeyRef" in entry.get("valueFrom", {}):
                    ref = entry["valueFrom"]["configMapKeyRef"]
                    env[name] = config_maps[ref["name"]][ref["key"]]
                elif "secretKeyRef" in entry.get("valueFrom", {}):
                    ref = entry["valueFrom"]["secretKeyRef"]
                    if ref.get("optional") and ref["name"] not in secrets:
                        continue
                    env[name] = secrets.get(ref["name"], {}).get(ref["key"], "@SECRET")
            env = {name: marker(name, value) for name, value in env.items()}
            # The broker login parts only compose AMQP_URL, which the test replaces.
            for part in ("RABBITMQ_USERNAME", "RABBITMQ_PASSWORD", "RABBITMQ_HOST"):
                env.pop(part, None)
            result[f"kubernetes-{source}/{d['metadata']['name'].split('-')[0]}-{d['metadata']['name'].split('-')[1]}"] = {
                "command": command, "env": env}


def interpolate(value, defaults):
    def replace(match):
        name, op, default = match.group(1), match.group(2) or "", match.group(3) or ""
        return defaults.get(name) or (default if op.startswith(":-") or op == "-" else defaults.get(name, ""))
    return re.sub(r"\$\{(\w+)(:?[-?])?([^}]*)\}", replace, value) if isinstance(value, str) else str(value)


def compose(path, result):
    with open(path) as handle:
        document = yaml.safe_load(handle)
    # Example values for the variables compose/example.env leaves for the operator to fill in.
    defaults = {"ENTRA_TENANT_IDS": "00000000-0000-0000-0000-000000000000", "ENTRA_CLIENT_ID": "11111111-1111-1111-1111-111111111111"}
    for name, service in document["services"].items():
        command = service.get("entrypoint") or service.get("command") or []
        if isinstance(command, str) or not command or command[0] not in OURS or name == "cli":
            continue
        env = {key: interpolate(value, defaults) for key, value in (service.get("environment") or {}).items()}
        env = {key: value for key, value in env.items() if value != "" or key in KEYS}
        env = {key: marker(key, value.replace("file:///dev-keys/", "@DEV_KEYS/")) for key, value in env.items()}
        result[f"compose/{name}"] = {"command": command, "env": env}


def main(out, paths):
    result = {}
    for path in paths:
        if os.path.basename(path) == "compose.yaml":
            compose(path, result)
        else:
            kubernetes(path, result)
    with open(out, "w") as handle:
        json.dump(result, handle, indent=1, sort_keys=True)
    print(f"{out}: {', '.join(sorted(result))}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
