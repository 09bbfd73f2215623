"""A minimal OTLP/HTTP trace receiver for the tests: what an OpenTelemetry Collector does first.

    python otlp_collector.py --port N --spans FILE

Accepts `POST /v1/traces` with an `ExportTraceServiceRequest` in binary protobuf
(`application/x-protobuf`, OTLP/HTTP's default encoding), and appends one JSON object per span to
FILE:

    {"service": "...", "name": "...", "kind": "SPAN_KIND_SERVER", "trace_id": "<32 hex>",
     "span_id": "<16 hex>", "parent_span_id": "<16 hex>" or "", "status": "STATUS_CODE_UNSET",
     "attributes": {"key": "the value as text (booleans as true/false)", ...}}

Answers 200 with an empty `ExportTraceServiceResponse`; another path gets 404, another content
type 415 (OTLP/JSON writes ids in hex, which protobuf's JSON parser does not read).
"""

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--spans", required=True, help="file to append received spans to, one JSON object a line")
options = parser.parse_args()


def value_text(value) -> str:
    kind = value.WhichOneof("value")
    if kind is None:
        return ""
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    return str(getattr(value, kind))


def spans_of(request: ExportTraceServiceRequest):
    for resource_spans in request.resource_spans:
        resource = {a.key: value_text(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield {
                    "service": resource.get("service.name", ""),
                    "name": span.name,
                    "kind": Span.SpanKind.Name(span.kind),
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "status": Status.StatusCode.Name(span.status.code),
                    "attributes": {a.key: value_text(a.value) for a in span.attributes},
                }


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        if self.path != "/v1/traces":
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self.headers.get("Content-Type", "").startswith("application/x-protobuf"):
            self.send_error(415)
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with open(options.spans, "a") as out:
            for span in spans_of(request):
                out.write(json.dumps(span) + "\n")
        payload = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format, *args):
        pass


ThreadingHTTPServer(("127.0.0.1", options.port), Handler).serve_forever()
