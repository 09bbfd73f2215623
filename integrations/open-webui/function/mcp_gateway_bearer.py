"""
title: MCP Gateway (Entra bearer token)
description: Lists and calls the MCP servers the signed-in user may use, through the MCP queue gateway, authenticated with the user's own Microsoft Entra access token. For Open WebUI versions that cannot use a tool connection with auth_type "system_oauth".
version: 1.0.0
license: same as the gateway
requirements:
"""

# This is an Open WebUI workspace tool (Workspace -> Tools -> +). It replaces the original
# system's function, which decoded the Entra token without checking it and sent the claims
# (X-Entra-Groups, X-Auth-Source, ...) as plain headers that anyone could forge.
#
# This one sends exactly one credential: `Authorization: Bearer <access_token>`, the access
# token Open WebUI holds for the user (`__oauth_token__["access_token"]`). It never decodes the
# token, and sends no identity header at all: the gateway verifies the token against Entra's
# keys and reads the user, tenant and groups from it. The access token must be one for the
# gateway's API scope (see the gateway's README, "Microsoft Entra ID"); a Microsoft Graph token
# is refused with 401.
#
# Only the Python standard library is used, so nothing has to be installed in Open WebUI.

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Optional

from pydantic import BaseModel, Field


class GatewayError(Exception):
    """The gateway refused or failed the call; the message is the gateway's own."""


class Tools:
    class Valves(BaseModel):
        GATEWAY_URL: str = Field(
            default="http://mcp-ingress:8080",
            description="The gateway ingress's base URL (no trailing path).",
        )
        TIMEOUT_SECONDS: float = Field(
            default=60.0,
            description="How long one call may take, and the deadline the gateway is asked to keep (X-Timeout-Ms).",
        )

    def __init__(self):
        self.valves = self.Valves()

    async def list_servers(self, __oauth_token__: Optional[dict] = None) -> str:
        """
        List the MCP servers you may use through the gateway.
        :return: the servers, as JSON.
        """
        return await self._request("GET", "/servers", None, __oauth_token__)

    async def list_tools(self, server: str, __oauth_token__: Optional[dict] = None) -> str:
        """
        List the tools of one MCP server.
        :param server: the server's id, as list_servers shows it.
        :return: the tools, as JSON.
        """
        return await self._request("GET", f"/servers/{_segment(server)}/tools", None, __oauth_token__)

    async def call_tool(self, server: str, tool: str, arguments: str = "{}", __oauth_token__: Optional[dict] = None) -> str:
        """
        Run one tool of an MCP server.
        :param server: the server's id, as list_servers shows it.
        :param tool: the tool's name, as list_tools shows it.
        :param arguments: the tool's arguments, a JSON object.
        :return: the tool's result (content, structuredContent, isError), as JSON.
        """
        try:
            parsed = json.loads(arguments) if isinstance(arguments, str) else arguments
        except json.JSONDecodeError as error:
            raise GatewayError(f"arguments must be a JSON object: {error}") from None
        if not isinstance(parsed, dict):
            raise GatewayError("arguments must be a JSON object")
        path = f"/servers/{_segment(server)}/tools/{_segment(tool)}"
        return await self._request("POST", path, parsed, __oauth_token__)

    async def _request(self, method: str, path: str, body: Optional[dict], oauth_token: Optional[dict]) -> str:
        token = (oauth_token or {}).get("access_token")
        if not token:
            raise GatewayError(
                "No Microsoft Entra access token is available for this user: sign in to Open WebUI with Microsoft "
                "(with offline_access and the gateway's scope in MICROSOFT_OAUTH_SCOPE)."
            )
        timeout = float(self.valves.TIMEOUT_SECONDS)
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "X-Timeout-Ms": str(int(timeout * 1000)),
        }
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.valves.GATEWAY_URL.rstrip("/") + path, data=data, method=method, headers=headers)
        return await asyncio.to_thread(_send, request, timeout + 5)


def _segment(value: str) -> str:
    """One path segment, escaped, so a server or tool name cannot change the route."""
    return urllib.parse.quote(str(value), safe="")


def _send(request: urllib.request.Request, timeout: float) -> str:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        text = error.read().decode("utf-8", "replace")
        try:
            message = json.loads(text)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = text[:500]
        raise GatewayError(f"The gateway answered {error.code}: {message}") from None
    except urllib.error.URLError as error:
        raise GatewayError(f"The gateway could not be reached: {error.reason}") from None
