#!/usr/bin/env python3
"""Turns CustomResourceDefinitions into the JSON schemas scripts/check-manifests.sh validates
the rendered manifests against, offline. Run once per operator upgrade and commit the output:

    scripts/generate-crd-schemas.py OUT_DIR CRD.yaml...

Each served version of each CRD becomes OUT_DIR/<group>/<kind>_<version>.json: the CRD's
openAPIV3Schema without its descriptions, with `apiVersion` and `kind` fixed, and closed
(additionalProperties: false) wherever the API server would drop unknown fields, so that a
misspelt field fails the check instead of vanishing on apply.
"""
import json
import os
import sys

import yaml


def close(schema):
    if isinstance(schema, dict):
        schema.pop("description", None)
        for key in ("properties", "patternProperties", "definitions"):
            if isinstance(schema.get(key), dict):
                for child in schema[key].values():
                    close(child)
        for key in ("items", "additionalProperties", "not"):
            if isinstance(schema.get(key), dict):
                close(schema[key])
        for key in ("allOf", "anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                for child in schema[key]:
                    close(child)
        if "properties" in schema and "additionalProperties" not in schema \
                and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
    return schema


def main(out_dir, paths):
    for path in paths:
        with open(path) as handle:
            for crd in yaml.safe_load_all(handle):
                if not crd or crd.get("kind") != "CustomResourceDefinition":
                    continue
                group = crd["spec"]["group"]
                kind = crd["spec"]["names"]["kind"]
                for version in crd["spec"]["versions"]:
                    if not version.get("served", True):
                        continue
                    schema = close(version["schema"]["openAPIV3Schema"])
                    schema.setdefault("properties", {})
                    schema["properties"]["apiVersion"] = {"const": f"{group}/{version['name']}"}
                    schema["properties"]["kind"] = {"const": kind}
                    schema["properties"]["metadata"] = {"type": "object"}
                    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind", "metadata"})
                    schema["$schema"] = "http://json-schema.org/draft-07/schema#"
                    target = os.path.join(out_dir, group, f"{kind.lower()}_{version['name']}.json")
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with open(target, "w") as out:
                        json.dump(schema, out, indent=1, sort_keys=True)
                        out.write("\n")
                    print(target)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
