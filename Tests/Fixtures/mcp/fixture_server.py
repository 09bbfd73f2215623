"""A small MCP server for the worker's MCP client tests, built on the official `mcp` SDK.

    python fixture_server.py --transport stdio|sse|streamable-http [--port N] [--json-response]
                             [--events FILE]

Tools:
  echo(text)            -> the text back as text content
  add(a, b)             -> the sum, with structured output {"result": a + b}
  sleep(seconds)        -> sleeps, sending a progress notification each second when the call
                           carries a progress token; a cancelled sleep is written to the events file
  fail(message)         -> a tool error (isError: true) with the message
  crash()               -> the server process exits at once, mid-call
  whoami()              -> over HTTP the Authorization, Mcp-Session-Id, traceparent, tracestate and
                           X-* request headers; over stdio the environment variables named in
                           FIXTURE_WHOAMI_ENV (comma-separated), or all of them when unset; plus
                           the pid and the request's _meta (as "meta")
  add_tool(name)        -> registers a tool `name` (it echoes) and sends
                           notifications/tools/list_changed on the calling request's stream
  events()              -> what the events file holds so far
  rpc_error(code, message) -> a JSON-RPC error response with that code and message
  show_credential()     -> SHA-256 fingerprints of the credential the call arrived with
                           (Authorization / X-Api-Key over HTTP, FIXTURE_CREDENTIAL over stdio)
  poll_echo(text)       -> with --resumable, closes the POST's event stream before answering, so
                           the answer only arrives on a stream resumed with Last-Event-ID

With --page-size N, tools/list answers N tools per page with a nextCursor.

The events file (--events) receives one JSON object per line, so a test can see what the server
observed even after the server has died: {"event": "started", "pid": ...} at start and
{"event": "cancel_notification", "request_id": ...} when the client's notifications/cancelled for an
in-flight request arrives, and {"event": "cancelled", "tool": "sleep", "request_id": ...} when a
sleep is cancelled.
"""

import argparse
import hashlib
import json
import os
import sys
import time
from typing import Any

import anyio
from mcp import types
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.streamable_http import EventMessage, EventStore
from mcp.shared.exceptions import McpError
from mcp.shared import session as shared_session

parser = argparse.ArgumentParser()
parser.add_argument("--transport", choices=["stdio", "sse", "streamable-http"], default="stdio")
parser.add_argument("--port", type=int, default=8000)
parser.add_argument("--json-response", action="store_true", help="answer POSTs with JSON, not SSE")
parser.add_argument("--events", default=None, help="file to append observed events to")
parser.add_argument("--page-size", type=int, default=0, help="answer tools/list in pages of this many tools")
parser.add_argument("--list-delay", type=float, default=0.0, help="seconds every tools/list takes (a slow backend)")
parser.add_argument(
    "--resumable", action="store_true", help="streamable HTTP: keep events so that a closed stream can be resumed"
)
options = parser.parse_args()


def record(event: dict) -> None:
    if not options.events:
        return
    event = {"ts": time.time(), **event}
    with open(options.events, "a", encoding="utf-8") as handle:
        handle.write(json.dumps(event, sort_keys=True) + "\n")


# The SDK reaches RequestResponder.cancel only when the client sends notifications/cancelled for
# an in-flight request (pinned mcp 1.30.0), so recording it proves the notification arrived,
# whatever else (a closed connection) may also end the request.
_sdk_cancel = shared_session.RequestResponder.cancel


async def _recording_cancel(self):
    record({"event": "cancel_notification", "request_id": self.request_id})
    await _sdk_cancel(self)


shared_session.RequestResponder.cancel = _recording_cancel


class MemoryEventStore(EventStore):
    """Every event of every stream, in memory, for resuming with Last-Event-ID."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []

    async def store_event(self, stream_id, message):
        event_id = str(len(self.events) + 1)
        self.events.append((event_id, stream_id, message))
        return event_id

    async def replay_events_after(self, last_event_id, send_callback):
        index = next((i for i, (event_id, _, _) in enumerate(self.events) if event_id == last_event_id), None)
        if index is None:
            return None
        stream_id = self.events[index][1]
        for event_id, event_stream, message in self.events[index + 1 :]:
            if event_stream == stream_id and message is not None:
                await send_callback(EventMessage(message, event_id))
        record({"event": "resumed", "after": last_event_id})
        return stream_id


server = FastMCP(
    "fixture",
    event_store=MemoryEventStore() if options.resumable else None,
    retry_interval=100 if options.resumable else None,
    host="127.0.0.1",
    port=options.port,
    json_response=options.json_response,
    log_level="WARNING",
)


@server.tool()
def echo(text: str) -> str:
    """Returns the text unchanged."""
    return text


@server.tool(structured_output=True)
def add(a: float, b: float) -> float:
    """Adds two numbers."""
    total = a + b
    return int(total) if float(total).is_integer() else total


@server.tool()
async def sleep(seconds: float, ctx: Context) -> str:
    """Sleeps, reporting progress once a second."""
    try:
        elapsed = 0.0
        while elapsed < seconds:
            step = min(1.0, seconds - elapsed)
            await anyio.sleep(step)
            elapsed += step
            await ctx.report_progress(elapsed, seconds, f"slept {elapsed:g}s")
        return f"slept {seconds:g}s"
    except anyio.get_cancelled_exc_class():
        record({"event": "cancelled", "tool": "sleep", "request_id": ctx.request_id})
        raise


@server.tool()
def fail(message: str) -> str:
    """Always fails with a tool error carrying the message."""
    raise ValueError(message)


@server.tool()
def crash() -> str:
    """Ends the server process in the middle of the call."""
    record({"event": "crash", "pid": os.getpid()})
    sys.stdout.flush()
    os._exit(3)


@server.tool(structured_output=True)
def whoami(ctx: Context) -> dict[str, Any]:
    """Who the server thinks is calling: HTTP headers, or the process environment over stdio."""
    request = ctx.request_context.request
    answer: dict = {"pid": os.getpid(), "transport": options.transport}
    if request is not None and hasattr(request, "headers"):
        answer["headers"] = {
            key.lower(): value
            for key, value in request.headers.items()
            if key.lower() in ("authorization", "mcp-session-id", "mcp-protocol-version", "traceparent", "tracestate")
            or key.lower().startswith("x-")
        }
    else:
        names = os.environ.get("FIXTURE_WHOAMI_ENV")
        wanted = names.split(",") if names else list(os.environ)
        answer["environment"] = {name: os.environ[name] for name in wanted if name in os.environ}
    meta = ctx.request_context.meta
    if meta is not None:
        answer["meta"] = meta.model_dump(exclude_none=True)
    return answer


@server.tool()
async def add_tool(name: str, ctx: Context) -> str:
    """Adds an echoing tool at run time and tells the client the tool list changed."""

    def extra(text: str) -> str:
        return text

    server.add_tool(extra, name=name, description=f"added at run time as {name}")
    await ctx.session.send_notification(
        types.ServerNotification(types.ToolListChangedNotification()),
        related_request_id=ctx.request_id,
    )
    return f"added {name}"


@server.tool()
def events() -> str:
    """The events file so far."""
    if not options.events or not os.path.exists(options.events):
        return ""
    with open(options.events, encoding="utf-8") as handle:
        return handle.read()


@server.tool()
async def poll_echo(text: str, ctx: Context) -> str:
    """Closes its own event stream (when the server is --resumable), then answers: the client
    must resume the stream with Last-Event-ID to get the answer."""
    close = ctx.request_context.close_sse_stream
    if close is not None:
        await close()
        record({"event": "stream_closed", "request_id": ctx.request_id})
    await anyio.sleep(0.5)
    return text


@server.tool()
def rpc_error(code: int, message: str) -> str:
    """Answers with a JSON-RPC error (not a tool error) carrying this code and message."""
    raise AssertionError("handled before FastMCP sees it")


# ---- Tenancy (issue 5): which backend credential a call arrived with --------------------------


@server.tool(structured_output=True)
def show_credential(ctx: Context) -> dict[str, Any]:
    """Which credential this call arrived with, as SHA-256 hex fingerprints (never the value, so
    the reply, the audit record and the call ledger hold no secret): over HTTP of the
    Authorization and X-Api-Key headers, over stdio of FIXTURE_CREDENTIAL. Absent ones are null."""

    def fingerprint(value):
        return hashlib.sha256(value.encode("utf-8")).hexdigest() if value is not None else None

    request = ctx.request_context.request
    if request is not None and hasattr(request, "headers"):
        return {
            "transport": options.transport,
            "authorization": fingerprint(request.headers.get("authorization")),
            "x_api_key": fingerprint(request.headers.get("x-api-key")),
        }
    return {"transport": options.transport, "env": fingerprint(os.environ.get("FIXTURE_CREDENTIAL"))}


# ---- end of tenancy tools ---------------------------------------------------------------------


# ---- Tools for the client-facing surfaces (MCP endpoint, OpenAPI) tests -------------------------
# Only with FIXTURE_SURFACE_TOOLS=1 in the environment, so other tests see the tool list above:
# odd.name/ü x(text)  -> echoes; a name with a dot, a slash, a space and a non-ASCII letter
# scalar_schema        -> listed only, with an inputSchema that is not an object ({"type": "string"})
# FIXTURE_BULK_TOOLS=N -> N more echoing tools, bulk_0000 ... (for paginated listings)
# FIXTURE_EXTRA_TOOLS=a,b -> more echoing tools by these names (for names that collide on /mcp)
# wait_for_cancel(seconds) -> sleeps; records {"event": "wait_started"} when it starts and
#                        {"event": "cancelled", "tool": "wait_for_cancel"} when it is cancelled

if os.environ.get("FIXTURE_SURFACE_TOOLS"):
    def _odd_echo(text: str) -> str:
        return text

    server.add_tool(_odd_echo, name="odd.name/\u00fc x", description="Echoes; its name has odd characters.")

    for _index in range(int(os.environ.get("FIXTURE_BULK_TOOLS", "0"))):
        server.add_tool(_odd_echo, name=f"bulk_{_index:04d}", description=f"Bulk tool {_index}.")

    for _name in filter(None, os.environ.get("FIXTURE_EXTRA_TOOLS", "").split(",")):
        server.add_tool(_odd_echo, name=_name, description=f"Echoes; named {_name}.")

    @server.tool()
    async def wait_for_cancel(seconds: float, ctx: Context) -> str:
        """Sleeps; tells the events file when it started and when it was cancelled."""
        record({"event": "wait_started", "request_id": ctx.request_id})
        try:
            await anyio.sleep(seconds)
            return f"waited {seconds:g}s"
        except anyio.get_cancelled_exc_class():
            record({"event": "cancelled", "tool": "wait_for_cancel", "request_id": ctx.request_id})
            raise

    _fastmcp_list_tools = server.list_tools

    async def _list_tools_with_scalar_schema():
        tools = await _fastmcp_list_tools()
        return tools + [types.Tool(name="scalar_schema", description="Its schema is not an object.", inputSchema={"type": "string"})]

    server.list_tools = _list_tools_with_scalar_schema
    server._mcp_server.list_tools()(_list_tools_with_scalar_schema)
# ---- end of the surface tests' tools ------------------------------------------------------------


# ---- Ground truth for fault tests (reliability) ---------------------------------------------------
# Only with FIXTURE_SIDE_EFFECTS=1, so other tests keep their tool list:
# side_effect(id, seconds) -> a tool with a side effect the gateway does not control: records
#                        {"event": "side_effect_started", "id": id} when it starts and, after
#                        `seconds`, {"event": "side_effect", "id": id} when it has run; answers id.
#                        A fault test counts these lines to know what ran once, twice or never.

if os.environ.get("FIXTURE_SIDE_EFFECTS"):

    @server.tool()
    async def side_effect(id: str, seconds: float = 0.0) -> str:
        """Records one execution of `id` in the events file, then answers `id`."""
        record({"event": "side_effect_started", "id": id})
        if seconds > 0:
            await anyio.sleep(seconds)
        record({"event": "side_effect", "id": id})
        return id

# ---- end of the fault tests' tools ------------------------------------------------------------------


# FastMCP turns every exception in a tool into a tool error (isError: true). A JSON-RPC error
# needs an McpError raised from the low-level handler, so rpc_error is answered there.
_sdk_call_tool = server._mcp_server.request_handlers[types.CallToolRequest]


async def _call_tool(request: types.CallToolRequest):
    if request.params.name == "rpc_error":
        arguments = request.params.arguments or {}
        raise McpError(types.ErrorData(code=int(arguments.get("code", -32000)), message=str(arguments.get("message", ""))))
    return await _sdk_call_tool(request)


server._mcp_server.request_handlers[types.CallToolRequest] = _call_tool

if options.page_size > 0:
    # FastMCP lists every tool at once; with --page-size, tools/list pages with a numeric cursor.
    async def _paginated_list_tools(request: types.ListToolsRequest):
        tools = await server.list_tools()
        cursor = request.params.cursor if request.params else None
        start = int(cursor) if cursor else 0
        end = start + options.page_size
        record({"event": "list_tools_page", "cursor": cursor})
        return types.ServerResult(
            types.ListToolsResult(tools=tools[start:end], nextCursor=str(end) if end < len(tools) else None)
        )

    server._mcp_server.request_handlers[types.ListToolsRequest] = _paginated_list_tools


if options.list_delay > 0:
    # A slow backend: every tools/list waits before it answers.
    _sdk_list_tools = server._mcp_server.request_handlers[types.ListToolsRequest]

    async def _slow_list_tools(request: types.ListToolsRequest):
        await anyio.sleep(options.list_delay)
        return await _sdk_list_tools(request)

    server._mcp_server.request_handlers[types.ListToolsRequest] = _slow_list_tools


if __name__ == "__main__":
    record({"event": "started", "pid": os.getpid(), "transport": options.transport})
    server.run(transport=options.transport)
