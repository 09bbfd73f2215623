#!/usr/bin/env python3
"""Checks compose/compose.yaml and compose/Dockerfile offline (scripts/check-manifests.sh runs it):

  1. compose.yaml against the Compose Specification's JSON schema (compose/schema/);
  2. the project's rules: a healthcheck on every long-running service (one-shots, which others
     wait for with service_completed_successfully, are exempt), no env_file (each service gets
     only the variables it reads), the secrets each service may hold, the development signing
     key trusted only by services of the `dev` profile, every image pinned to a version tag;
  3. the Dockerfile's base images pinned to a version tag and its pip installs pinned (==).

    scripts/validate-compose.py [compose.yaml] [Dockerfile]
"""
import json
import os
import re
import sys

import jsonschema
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRETS = {"ENVELOPE_SIGNING_KEY", "CREDENTIALS_KEY", "DATABASE_URL", "ENTRA_GRAPH_CLIENT_SECRET", "WEBUI_SECRET_KEY",
           "MICROSOFT_CLIENT_SECRET", "RABBITMQ_DEFAULT_PASS", "POSTGRES_PASSWORD"}
# Which secret each service may be handed.
ALLOWED = {
    "rabbitmq": {"RABBITMQ_DEFAULT_PASS"},
    "postgres": {"POSTGRES_PASSWORD"},
    "migrate": {"DATABASE_URL"},
    "setup": {"DATABASE_URL"},
    "ingress": {"ENVELOPE_SIGNING_KEY", "ENTRA_GRAPH_CLIENT_SECRET"},
    "ingress-dev": {"ENVELOPE_SIGNING_KEY"},
    "worker": {"DATABASE_URL", "ENVELOPE_SIGNING_KEY", "CREDENTIALS_KEY"},
    "mcp-time": set(),
    "mcp-git": set(),
    "open-webui": {"WEBUI_SECRET_KEY", "MICROSOFT_CLIENT_SECRET"},
    "open-webui-dev": {"WEBUI_SECRET_KEY"},
    "cli": {"DATABASE_URL", "CREDENTIALS_KEY"},
}
DEV_TRUST = {"AUTH_JWKS_URL", "AUTH_ISSUER", "AUTH_AUDIENCE"}
PINNED_IMAGE = re.compile(r"^[^\s:@]+(:[^:@\s]*\d[^:@\s]*)$|@sha256:[0-9a-f]{64}$")


def check_compose(path, errors):
    with open(path) as handle:
        text = handle.read()
    document = yaml.safe_load(text)
    with open(os.path.join(REPO, "compose", "schema", "compose-spec.json")) as handle:
        schema = json.load(handle)
    for error in jsonschema.Draft7Validator(schema).iter_errors(document):
        errors.append(f"schema: {'/'.join(str(p) for p in error.path)}: {error.message}")
    services = document.get("services", {})
    for name, service in services.items():
        if name not in ALLOWED:
            errors.append(f"{name}: unknown service; add the secrets it may hold to ALLOWED in {os.path.basename(__file__)}")
            continue
        one_shot = service.get("restart") == "no"
        health = service.get("healthcheck", {})
        if not one_shot and (not health or health.get("disable")):
            errors.append(f"{name}: no healthcheck")
        if "env_file" in service:
            errors.append(f"{name}: env_file hands the service every key of the file; name the variables it reads")
        environment = service.get("environment", {}) or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
        held = {key for key in environment if key in SECRETS}
        # A URL with a password in it is a secret too.
        held |= {key for key, value in environment.items() if isinstance(value, str) and re.search(r"://[^/@\s]+:[^/@\s]+@", value)
                 and key in SECRETS}
        extra = held - ALLOWED[name]
        if extra:
            errors.append(f"{name}: holds secrets it does not read: {sorted(extra)}")
        if DEV_TRUST & set(environment) and service.get("profiles") != ["dev"]:
            errors.append(f"{name}: trusts the development key (AUTH_*) outside the dev profile only")
        image = service.get("image", "")
        if image and not PINNED_IMAGE.search(image) and "build" not in service:
            errors.append(f"{name}: image {image} is not pinned to a version")
        if image.endswith(":latest"):
            errors.append(f"{name}: image {image} uses latest")


def check_dockerfile(path, errors):
    with open(path) as handle:
        text = handle.read()
    arguments = dict(re.findall(r"^ARG (\w+)=(\S+)", text, re.M))
    for image in re.findall(r"^FROM\s+(\S+)", text, re.M):
        image = re.sub(r"\$\{(\w+)\}", lambda m: arguments.get(m.group(1), m.group(0)), image)
        if ":" not in image and "@" not in image and not re.match(r"^[a-z]+$", image):
            errors.append(f"Dockerfile: FROM {image} has no tag")
        elif ":" in image and not re.search(r":\S*\d", image):
            errors.append(f"Dockerfile: FROM {image} is not pinned to a version")
    for line in re.findall(r"pip install[^\n]*", text):
        if "-r " not in line:
            errors.append(f"Dockerfile: pip install without a pinned requirements file: {line.strip()}")
    for requirements in re.findall(r"COPY (\S+requirements\S*\.txt)", text):
        with open(os.path.join(REPO, requirements)) as handle:
            for entry in handle:
                entry = entry.split("#")[0].strip()
                if entry and "==" not in entry:
                    errors.append(f"{requirements}: {entry} is not pinned (==)")


def main(arguments):
    compose = arguments[0] if arguments else os.path.join(REPO, "compose", "compose.yaml")
    dockerfile = arguments[1] if len(arguments) > 1 else os.path.join(REPO, "compose", "Dockerfile")
    errors = []
    check_compose(compose, errors)
    check_dockerfile(dockerfile, errors)
    for error in errors:
        print(f"{compose}: {error}", file=sys.stderr)
    print(f"{compose}: {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
