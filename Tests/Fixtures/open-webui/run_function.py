"""Drives the Open WebUI function (integrations/open-webui/function) against a running ingress,
as Open WebUI would: imports it, sets its valves, and calls its methods with an
``__oauth_token__`` shaped like Open WebUI's (access, ID and refresh tokens, parsed ID-token
claims with groups). Between the function and the ingress sits a recording proxy, so the test
sees every header the function sent.

    python run_function.py --function PATH --gateway http://127.0.0.1:PORT --token JWT \
        --server echo --tool echo --arguments '{"text":"hi"}'

Prints one JSON object: {"servers": ..., "tools": ..., "call": ..., "noToken": "...",
"requests": [{"method", "path", "headers": [[name, value], ...]}, ...]}.
"""

import argparse
import asyncio
import http.client
import importlib.util
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RECORDED = []


def proxy(gateway):
    target = urllib.parse.urlsplit(gateway)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def forward(self):
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length) if length else None
            RECORDED.append({"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()]})
            connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            self.send_response(response.status)
            for name, value in response.getheaders():
                if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            connection.close()

        do_GET = forward
        do_POST = forward

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--function", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--tool", required=True)
    parser.add_argument("--arguments", default="{}")
    args = parser.parse_args()

    spec = importlib.util.spec_from_file_location("owui_function", args.function)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    tools = module.Tools()
    tools.valves.GATEWAY_URL = proxy(args.gateway)
    tools.valves.TIMEOUT_SECONDS = 30
    # What Open WebUI stores for a Microsoft sign-in: the token response plus the parsed ID token.
    oauth_token = {
        "token_type": "Bearer", "scope": "api://gateway/mcp.invoke", "expires_in": 3599, "expires_at": 4102444800,
        "access_token": args.token, "refresh_token": "0.AAAA-refresh", "id_token": "eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
        "userinfo": {"email": "mallory@example.com", "groups": ["MCP-Admin"], "oid": "forged-oid", "tid": "forged-tid"},
    }
    result = {
        "servers": json.loads(await tools.list_servers(__oauth_token__=oauth_token)),
        "tools": json.loads(await tools.list_tools(args.server, __oauth_token__=oauth_token)),
        "call": json.loads(await tools.call_tool(args.server, args.tool, args.arguments, __oauth_token__=oauth_token)),
    }
    try:
        await tools.list_servers(__oauth_token__=None)
        result["noToken"] = None
    except module.GatewayError as error:
        result["noToken"] = str(error)
    try:
        await tools.call_tool(args.server, "no-such-tool", "{}", __oauth_token__=oauth_token)
        result["refused"] = None
    except module.GatewayError as error:
        result["refused"] = str(error)
    result["requests"] = RECORDED
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
