#!/usr/bin/env python3
"""Validates rendered Kubernetes manifests offline (scripts/check-manifests.sh runs it):

  1. every built-in object against the Kubernetes OpenAPI schemas (kubernetes-validate, strict:
     unknown fields fail) of each version in K8S_VERSIONS;
  2. every custom resource against the committed CRD schemas in kubernetes/schemas/ (KEDA,
     RabbitMQ Cluster Operator, CloudNativePG, Prometheus Operator); a kind with no schema fails;
  3. the project's own rules for the gateway's pods (the ones labelled part-of mcp-gateway):
     hardening, resources, no API token, per-component secrets, KEDA-owned worker count, and
     terminationGracePeriodSeconds above the configured shutdown grace plus the preStop pause.

    scripts/validate-manifests.py RENDERED.yaml...
"""
import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

K8S_VERSIONS = ["1.30.0", "1.33.0"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMAS = os.path.join(REPO, "kubernetes", "schemas")
BUILTIN_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "rbac.authorization.k8s.io", "autoscaling"}
# What each component may read from Secrets, and nothing more.
SECRET_VARIABLES = {
    "mcp-ingress": {"RABBITMQ_USERNAME", "RABBITMQ_PASSWORD", "RABBITMQ_HOST", "ENVELOPE_SIGNING_KEY", "ENVELOPE_SIGNING_KEY_ID",
                    "ENTRA_GRAPH_CLIENT_SECRET"},
    "mcp-worker": {"RABBITMQ_USERNAME", "RABBITMQ_PASSWORD", "RABBITMQ_HOST", "DATABASE_URL", "ENVELOPE_SIGNING_KEY",
                   "ENVELOPE_SIGNING_KEY_ID", "CREDENTIALS_KEY", "CREDENTIALS_KEY_ID"},
    "mcp-migrate": {"DATABASE_URL"},
}
GRACE_VARIABLE = {"mcp-ingress": "INGRESS_SHUTDOWN_GRACE_MS", "mcp-worker": "WORKER_SHUTDOWN_GRACE_MS"}


def group_of(api_version):
    return api_version.split("/")[0] if "/" in api_version else ""


def validate_schema(doc, errors):
    name = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    api_version = doc.get("apiVersion", "")
    group = group_of(api_version)
    if group in BUILTIN_GROUPS:
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = "/".join(str(p) for p in error.path)
                errors.append(f"{name}: Kubernetes {version} schema: {path}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                errors.append(f"{name}: {error.message}")
        return
    path = os.path.join(SCHEMAS, group, f"{doc['kind'].lower()}_{api_version.split('/')[1]}.json")
    if not os.path.exists(path):
        errors.append(f"{name}: no schema for {api_version} {doc['kind']} (add it under kubernetes/schemas/)")
        return
    with open(path) as handle:
        schema = json.load(handle)
    for error in jsonschema.Draft7Validator(schema).iter_errors(doc):
        errors.append(f"{name}: {api_version} schema: {'/'.join(str(p) for p in error.path)}: {error.message}")


def check_gateway_pods(docs, errors):
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in docs if d.get("kind") == "ConfigMap"}
    workloads = [d for d in docs if d.get("kind") in ("Deployment", "StatefulSet", "Job")]
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        labels = doc["spec"]["template"].get("metadata", {}).get("labels", {})
        component = labels.get("app.kubernetes.io/name", "")
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        # Hardening: every pod of the overlays, the gateway's and the development data stores'.
        if pod.get("automountServiceAccountToken") is not False:
            errors.append(f"{name}: automountServiceAccountToken must be false")
        security = pod.get("securityContext", {})
        if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
            errors.append(f"{name}: seccompProfile RuntimeDefault missing")
        if security.get("runAsNonRoot") is not True:
            errors.append(f"{name}: runAsNonRoot missing")
        for container in pod.get("initContainers", []) + pod["containers"]:
            where = f"{name} container {container['name']}"
            context = container.get("securityContext", {})
            if context.get("readOnlyRootFilesystem") is not True:
                errors.append(f"{where}: readOnlyRootFilesystem must be true")
            if context.get("allowPrivilegeEscalation") is not False:
                errors.append(f"{where}: allowPrivilegeEscalation must be false")
            if "ALL" not in context.get("capabilities", {}).get("drop", []):
                errors.append(f"{where}: capabilities must drop ALL")
            resources = container.get("resources", {})
            if not resources.get("requests", {}).get("memory") or not resources.get("limits", {}).get("memory"):
                errors.append(f"{where}: memory request and limit required")
            if component in SECRET_VARIABLES:
                if container.get("envFrom") and any("secretRef" in e for e in container["envFrom"]):
                    errors.append(f"{where}: envFrom a Secret hands the pod every key; use secretKeyRef")
                from_secrets = {e["name"] for e in container.get("env", []) if "secretKeyRef" in e.get("valueFrom", {})}
                extra = from_secrets - SECRET_VARIABLES[component]
                if extra:
                    errors.append(f"{where}: reads secrets it does not need: {sorted(extra)}")
        if component == "mcp-worker" and doc["kind"] == "Deployment" and "replicas" in doc["spec"]:
            errors.append(f"{name}: sets replicas, but KEDA owns the worker count")
        if component in GRACE_VARIABLE:
            container = pod["containers"][0]
            settings = {}
            for source in container.get("envFrom", []):
                settings.update(config_maps.get(source.get("configMapRef", {}).get("name"), {}))
            settings.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
            grace_ms = int(settings.get(GRACE_VARIABLE[component], "30000"))
            pre_stop = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            period = pod.get("terminationGracePeriodSeconds", 30)
            if period * 1000 <= grace_ms + pre_stop * 1000:
                errors.append(f"{name}: terminationGracePeriodSeconds {period} s is not above "
                              f"{GRACE_VARIABLE[component]} {grace_ms} ms plus the preStop pause {pre_stop} s")
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for needed in [("ScaledObject", "mcp-worker"), ("PodDisruptionBudget", "mcp-ingress"), ("PodDisruptionBudget", "mcp-worker"),
                   ("NetworkPolicy", "mcp-default-deny")]:
        if needed not in kinds:
            errors.append(f"{needed[0]}/{needed[1]} is missing")


def main(paths):
    failed = False
    for path in paths:
        with open(path) as handle:
            docs = [d for d in yaml.safe_load_all(handle) if d]
        errors = []
        for doc in docs:
            validate_schema(doc, errors)
        check_gateway_pods(docs, errors)
        for error in errors:
            print(f"{path}: {error}", file=sys.stderr)
        print(f"{path}: {len(docs)} objects, {len(errors)} problems")
        failed = failed or bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
