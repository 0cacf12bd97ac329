"""Local HTTP endpoints that stand in for Google's APIs in tests: they record each request and
answer from a small route table. Real clients (gcloud, google-cloud-storage) are pointed at them
through endpoint overrides, so the tests assert on exactly what those clients send.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # without the query string
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# A route answers (status, JSON body) for a request whose path matched its pattern.
Responder = Callable[[Request, re.Match], tuple[int, Any]]


@dataclass
class RecordingEndpoint:
    """An HTTP server on 127.0.0.1 that records requests and answers by route."""

    routes: list[tuple[str, re.Pattern, Responder]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)

    def route(self, method: str, pattern: str, responder: Responder) -> None:
        self.routes.append((method, re.compile(pattern), responder))

    def start(self) -> RecordingEndpoint:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    self.command, path, query, dict(self.headers), self.rfile.read(length)
                )
                endpoint.requests.append(request)
                status, body = 404, {"error": {"code": 404, "message": f"no route {path}"}}
                for method, pattern, responder in endpoint.routes:
                    match = pattern.fullmatch(path)
                    if method == self.command and match:
                        status, body = responder(request, match)
                        break
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def bucket_metadata_endpoint(buckets: dict[str, tuple[str, str]]) -> RecordingEndpoint:
    """Answers Cloud Storage bucket metadata: {name: (location, locationType)}. The storage
    emulator cannot do this, since it reports every bucket as a US multi-region one."""
    endpoint = RecordingEndpoint()

    def get_bucket(request: Request, match: re.Match) -> tuple[int, Any]:
        name = match["name"]
        if name not in buckets:
            return 404, {"error": {"code": 404, "message": f"bucket {name} not found"}}
        location, location_type = buckets[name]
        return 200, {
            "kind": "storage#bucket",
            "name": name,
            "id": name,
            "location": location,
            "locationType": location_type,
        }

    endpoint.route("GET", r"/storage/v1/b/(?P<name>[^/]+)", get_bucket)
    return endpoint.start()
