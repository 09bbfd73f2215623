"""The official `mcp` Python SDK as a client of the gateway's MCP endpoint, for the end-to-end
tests. Prints one JSON object (what it saw) on stdout; the Swift test asserts on it.

    python sdk_client.py SCENARIO --url URL --token TOKEN [options]

Scenarios:
  session   initialize, tools/list (every page), calls --call NAME=JSON_ARGS (repeatable); each
            call's result or JSON-RPC error is reported, in order
  cancel    starts --call NAME=ARGS, sends notifications/cancelled for it after --after seconds
            (or once --go-file exists), and reports what came back (nothing, or the gateway's error)
  badtoken  connects with --token and reports how the connection failed
  dropstream (raw HTTP, revision 2026-07-28, no session) posts tools/call --call NAME=ARGS,
            reads its event stream until --go-file exists, then closes the connection
  progress  initialize, then --call NAME=ARGS with a progress callback; reports the result and
            every progress notification the SDK delivered, in order
"""

import argparse
import json
import os
import sys

import anyio
import httpx
from mcp import types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamablehttp_client
from mcp.shared.exceptions import McpError

parser = argparse.ArgumentParser()
parser.add_argument("scenario", choices=["session", "cancel", "badtoken", "dropstream", "progress"])
parser.add_argument("--url", required=True)
parser.add_argument("--token", required=True)
parser.add_argument("--call", action="append", default=[], help="NAME=JSON arguments")
parser.add_argument("--after", type=float, default=1.5)
parser.add_argument("--go-file", default=None, help="cancel: send the cancellation once this file exists")
parser.add_argument("--read-timeout", type=float, default=60)
options = parser.parse_args()


def calls():
    for spec in options.call:
        name, _, arguments = spec.partition("=")
        yield name, json.loads(arguments or "{}")


def result_json(result: types.CallToolResult) -> dict:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def connect():
    return streamablehttp_client(
        options.url, headers={"Authorization": f"Bearer {options.token}"}, sse_read_timeout=options.read_timeout
    )


async def session_scenario() -> dict:
    report: dict = {"calls": []}
    async with await connect() as (read, write, get_session_id):
        async with ClientSession(read, write) as session:
            initialized = await session.initialize()
            report["protocolVersion"] = initialized.protocolVersion
            report["serverName"] = initialized.serverInfo.name
            report["sessionId"] = get_session_id()
            tools, cursor, pages = [], None, 0
            try:
                while True:
                    page = await session.list_tools(cursor=cursor)
                    pages += 1
                    tools += [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in page.tools]
                    cursor = page.nextCursor
                    if not cursor:
                        break
            except McpError as error:
                report["listError"] = {"code": error.error.code, "message": error.error.message, "data": error.error.data}
            report["tools"] = [tool["name"] for tool in tools]
            report["schemas"] = {tool["name"]: tool["inputSchema"] for tool in tools}
            report["pages"] = pages
            await session.send_ping()
            for name, arguments in calls():
                try:
                    report["calls"].append({"name": name, "result": result_json(await session.call_tool(name, arguments))})
                except McpError as error:
                    report["calls"].append(
                        {"name": name, "error": {"code": error.error.code, "message": error.error.message, "data": error.error.data}}
                    )
    return report


async def cancel_scenario() -> dict:
    report: dict = {}
    name, arguments = next(calls())
    async with await connect() as (read, write, get_session_id):
        async with ClientSession(read, write) as session:
            await session.initialize()
            report["sessionId"] = get_session_id()
            outcome: dict = {}

            async def call():
                try:
                    outcome["result"] = result_json(await session.call_tool(name, arguments))
                except McpError as error:
                    outcome["error"] = {"code": error.error.code, "message": error.error.message}

            async with anyio.create_task_group() as group:
                request_id = session._request_id  # the id the next request gets (SDK 1.x counts up)
                group.start_soon(call)
                if options.go_file:
                    with anyio.fail_after(90):
                        while not os.path.exists(options.go_file):
                            await anyio.sleep(0.05)
                else:
                    await anyio.sleep(options.after)
                await session.send_notification(
                    types.ClientNotification(
                        types.CancelledNotification(params=types.CancelledNotificationParams(requestId=request_id, reason="test cancels"))
                    )
                )
                report["cancelledRequestId"] = request_id
                # A cancelled request gets no answer the client must wait for; give the gateway a
                # moment to pass the cancellation on, then stop waiting.
                with anyio.move_on_after(options.after + 5):
                    while not outcome:
                        await anyio.sleep(0.1)
                group.cancel_scope.cancel()
            report["outcome"] = outcome
    return report


async def badtoken_scenario() -> dict:
    async with httpx.AsyncClient() as client:
        response = await client.post(
            options.url,
            headers={"Authorization": f"Bearer {options.token}", "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
        )
    report = {"status": response.status_code, "wwwAuthenticate": response.headers.get("www-authenticate")}
    try:
        async with await connect() as (read, write, _):
            async with ClientSession(read, write) as session:
                with anyio.fail_after(20):
                    await session.initialize()
        report["sdk"] = "connected"
    except BaseException as error:  # the SDK surfaces HTTP errors as exception groups
        report["sdk"] = "failed"
        report["sdkError"] = repr(error)[:500]
    return report


async def dropstream_scenario() -> dict:
    name, arguments = next(calls())
    report: dict = {"lines": []}
    headers = {
        "Authorization": f"Bearer {options.token}", "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=120)) as client:
        async with client.stream("POST", options.url, headers=headers, json=body) as response:
            report["status"] = response.status_code
            report["contentType"] = response.headers.get("content-type")
            with anyio.fail_after(90):
                async for line in response.aiter_lines():
                    report["lines"].append(line)
                    if options.go_file and os.path.exists(options.go_file):
                        break
    report["closed"] = True
    return report


async def progress_scenario() -> dict:
    name, arguments = next(calls())
    report: dict = {"progress": []}

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        report["progress"].append({"progress": progress, "total": total, "message": message})

    async with await connect() as (read, write, get_session_id):
        async with ClientSession(read, write) as session:
            await session.initialize()
            try:
                result = await session.call_tool(name, arguments, progress_callback=on_progress)
                report["result"] = result_json(result)
            except McpError as error:
                report["error"] = {"code": error.error.code, "message": error.error.message}
    return report


async def main():
    scenario = {
        "session": session_scenario, "cancel": cancel_scenario, "badtoken": badtoken_scenario, "dropstream": dropstream_scenario,
        "progress": progress_scenario,
    }[options.scenario]
    print(json.dumps(await scenario()))


if __name__ == "__main__":
    anyio.run(main)
