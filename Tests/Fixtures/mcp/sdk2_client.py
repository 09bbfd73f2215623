"""The official `mcp` Python SDK 2.x as a client of the gateway's MCP endpoint, the way Open WebUI
0.12.4 and later connect: `Client(..., mode="auto")` probes `server/discover` (the stateless
2026-07-28 revision) and falls back to `initialize` only when the server does not know it.
Prints one JSON object (what it saw) on stdout; the Swift test asserts on it.

    python sdk2_client.py --url URL --token TOKEN --call NAME=JSON_ARGS [--call ...]
"""

import argparse
import json

import anyio
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--token", required=True)
parser.add_argument("--call", action="append", default=[], help="NAME=JSON arguments")
options = parser.parse_args()


async def main() -> None:
    report: dict = {"calls": []}
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {options.token}"})
    async with http:
        async with Client(streamable_http_client(options.url, http_client=http), mode="auto") as client:
            session = getattr(client, "_session", None)
            report["protocolVersion"] = getattr(session, "protocol_version", None)
            report["tools"], cursor, report["pages"] = [], None, 0
            while True:
                page = await client.list_tools(cursor=cursor)
                report["tools"] += [tool.name for tool in page.tools]
                report["pages"] += 1
                cursor = page.next_cursor
                if not cursor or report["pages"] > 100:
                    break
            for spec in options.call:
                name, _, arguments = spec.partition("=")
                try:
                    result = await client.call_tool(name, json.loads(arguments or "{}"))
                    report["calls"].append({"result": result.model_dump(mode="json", by_alias=True, exclude_none=True)})
                except Exception as error:  # the SDK raises MCPError for JSON-RPC errors
                    report["calls"].append({"error": repr(error)[:500]})
    print(json.dumps(report))


if __name__ == "__main__":
    anyio.run(main)
