"""A local stand-in for the parts of Microsoft Entra ID and Microsoft Graph the gateway talks to.

Entra itself is out of reach from the test machines, so the tests serve its endpoints here, on
127.0.0.1, with the tests' own keys and directory:

* ``GET /{tid}/discovery/v2.0/keys``: the tenant's signing keys (the JWKS file given).
* ``GET /{tid}/v2.0/.well-known/openid-configuration``: OpenID metadata naming that JWKS.
* ``POST /{tid}/oauth2/v2.0/token``: the client-credentials grant; answers an app-only token
  for the tenant when ``client_id``/``client_secret`` match, else 401 ``invalid_client``.
* ``GET /v1.0/users/{oid}/transitiveMemberOf``: the user's groups (and one directory role, as
  Graph lists those too), ``pageSize`` at a time, with ``@odata.nextLink`` paging. Only an app
  token this server issued for the user's tenant is accepted.

Behaviour comes from the JSON ``--state`` file, read again on every request so that a test can
change it while the server runs::

    {"clientId": "...", "clientSecret": "...", "tenant": "<tid>",
     "members": {"<oid>": ["<group id>", ...]}, "pageSize": 100, "expiresIn": 3599,
     "failGraph": false, "failToken": false, "delayMs": 0, "metadataIssuer": null,
     "foreignNextLink": false}

Every request is appended to the ``--events`` file as one JSON line:
``{"kind": "jwks" | "metadata" | "token" | "graph", "tenant": ..., "oid": ..., ...}``.
"""

import argparse
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
ISSUED = {}  # app token -> tenant
COUNTER = [0]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--jwks", required=True)
    parser.add_argument("--events", required=True)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_):
            pass

        def state(self):
            with open(args.state, encoding="utf-8") as handle:
                return json.load(handle)

        def record(self, event):
            with LOCK, open(args.events, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(event) + "\n")

        def answer(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            state = self.state()
            if state.get("delayMs"):
                time.sleep(state["delayMs"] / 1000)
            url = urllib.parse.urlsplit(self.path)
            parts = [p for p in url.path.split("/") if p]
            if len(parts) == 4 and parts[1:] == ["discovery", "v2.0", "keys"]:
                self.record({"kind": "jwks", "tenant": parts[0]})
                with open(args.jwks, encoding="utf-8") as handle:
                    return self.answer(200, json.load(handle))
            if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
                tenant = parts[0]
                self.record({"kind": "metadata", "tenant": tenant})
                issuer = state.get("metadataIssuer") or f"https://login.microsoftonline.com/{tenant}/v2.0"
                base = f"http://127.0.0.1:{args.port}"
                return self.answer(200, {
                    "issuer": issuer,
                    "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                    "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                    "id_token_signing_alg_values_supported": ["RS256"],
                })
            if len(parts) == 4 and parts[0] == "v1.0" and parts[1] == "users" and parts[3] == "transitiveMemberOf":
                return self.graph(state, parts[2], urllib.parse.parse_qs(url.query))
            self.answer(404, {"error": {"code": "NotFound"}})

        def graph(self, state, oid, query):
            authorization = self.headers.get("Authorization", "")
            token = authorization[len("Bearer "):] if authorization.startswith("Bearer ") else ""
            with LOCK:
                tenant = ISSUED.get(token)
            skip = int(query.get("$skiptoken", ["0"])[0])
            self.record({"kind": "graph", "oid": oid, "tenant": tenant, "skip": skip,
                         "select": query.get("$select", [None])[0], "top": query.get("$top", [None])[0]})
            if state.get("failGraph"):
                return self.answer(503, {"error": {"code": "serviceNotAvailable", "message": "try later"}})
            if tenant is None or tenant != state.get("tenant"):
                return self.answer(401, {"error": {"code": "InvalidAuthenticationToken"}})
            members = state.get("members", {})
            if oid not in members:
                return self.answer(404, {"error": {"code": "Request_ResourceNotFound"}})
            entries = [{"@odata.type": "#microsoft.graph.group", "id": group} for group in members[oid]]
            # Graph lists directory roles among the memberships too; they are not groups.
            entries.insert(len(entries) // 2, {"@odata.type": "#microsoft.graph.directoryRole",
                                               "id": "62e90394-69f5-4237-9190-012177145e10"})
            size = max(1, int(state.get("pageSize", 100)))
            page = entries[skip:skip + size]
            body = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directoryObjects(id)", "value": page}
            if skip + size < len(entries):
                host = "graph.attacker.example" if state.get("foreignNextLink") else f"127.0.0.1:{args.port}"
                body["@odata.nextLink"] = (f"http://{host}/v1.0/users/{oid}/transitiveMemberOf"
                                           f"?$select=id&$top=999&$skiptoken={skip + size}")
            self.answer(200, body)

        def do_POST(self):
            state = self.state()
            length = int(self.headers.get("Content-Length", "0"))
            form = urllib.parse.parse_qs(self.rfile.read(length).decode())
            parts = [p for p in urllib.parse.urlsplit(self.path).path.split("/") if p]
            if not (len(parts) == 4 and parts[1:] == ["oauth2", "v2.0", "token"]):
                return self.answer(404, {"error": "not_found"})
            tenant = parts[0]
            field = lambda name: form.get(name, [None])[0]
            self.record({"kind": "token", "tenant": tenant, "grant_type": field("grant_type"), "scope": field("scope"),
                         "client_id": field("client_id")})
            if state.get("failToken"):
                return self.answer(500, {"error": "temporarily_unavailable"})
            if field("grant_type") != "client_credentials" or field("client_id") != state.get("clientId") \
                    or field("client_secret") != state.get("clientSecret"):
                return self.answer(401, {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret."})
            with LOCK:
                COUNTER[0] += 1
                token = f"app-token-{tenant}-{COUNTER[0]}"
                ISSUED[token] = tenant
            self.answer(200, {"token_type": "Bearer", "expires_in": state.get("expiresIn", 3599),
                              "ext_expires_in": state.get("expiresIn", 3599), "access_token": token})

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
