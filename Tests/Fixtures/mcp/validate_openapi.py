"""Validates an OpenAPI document (a file, or stdin) with openapi-spec-validator; prints
{"valid": true} or {"valid": false, "error": "..."} and exits 0 either way."""

import json
import sys

from openapi_spec_validator import validate

document = json.load(open(sys.argv[1]) if len(sys.argv) > 1 else sys.stdin)
try:
    validate(document)
    print(json.dumps({"valid": True}))
except Exception as error:  # the validator raises several kinds
    print(json.dumps({"valid": False, "error": str(error)[:2000]}))
