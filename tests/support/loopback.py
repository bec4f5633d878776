"""A real HTTP server on 127.0.0.1 for tests of outbound HTTP (webhooks, CRMs, data dips).

It runs in a background thread (one thread per connection), answers every
method on every path, and records each request it receives::

    with LoopbackServer() as server:
        server.reply("/dip", Reply.json({"parameters": {}}))       # this path, every time
        server.reply_once("/hook", Reply(status=500))               # next request only
        server.reply_once("/hook", Reply(status=200))               # then this one
        server.default = Reply(status=404)                          # everything else
        server.reply("/slow", Reply(status=200, delay_s=5))         # answers after 5 s
        server.reply("/moved", Reply.redirect("http://10.0.0.1/"))  # a redirect
        server.reply("/echo", lambda req: Reply(body=req.body))     # computed per request

        url = server.url("/dip")            # "http://127.0.0.1:<port>/dip"
        ...                                 # exercise the code under test
        [request] = server.requests_to("/dip")
        request.headers["authorization"], request.json()

Choosing a reply: the next one queued by `reply_once` for the path, else the
standing `reply` for the path, else `default` (200 with an empty body).
Paths are compared without the query string. Header names in recorded
requests are lower case. Delays wait on an event that closing the server
sets, so a test never hangs on a slow reply it stopped waiting for.
Request bodies must carry Content-Length (chunked uploads are not read).
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """What to answer: status, headers, body, and how long to wait first."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0

    @classmethod
    def json(cls, payload: Any, status: int = 200, delay_s: float = 0.0) -> Reply:
        return cls(
            status, json.dumps(payload).encode(), {"content-type": "application/json"}, delay_s
        )

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, b"", {"location": location})


Responder = Reply | Callable[[RecordedRequest], Reply]


class LoopbackServer:
    """A programmable HTTP server on 127.0.0.1 and a free port; use as a context manager."""

    def __init__(self) -> None:
        self.default: Responder = Reply()
        self._standing: dict[str, Responder] = {}
        self._queued: defaultdict[str, deque[Responder]] = defaultdict(deque)
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _handler_for(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="loopback-http", daemon=True
        )

    # Lifecycle -----------------------------------------------------------

    def start(self) -> LoopbackServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Programming ----------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def reply(self, path: str, responder: Responder) -> None:
        """Answer every request to `path` this way (until changed)."""
        with self._lock:
            self._standing[path] = responder

    def reply_once(self, path: str, responder: Responder) -> None:
        """Answer the next request to `path` this way; queued replies go first, in order."""
        with self._lock:
            self._queued[path].append(responder)

    # Inspection -----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [request for request in self.requests if request.path == path]

    # Serving (called on the server's threads) -------------------------------

    def _answer(self, request: RecordedRequest) -> tuple[Reply, threading.Event]:
        with self._lock:
            self._requests.append(request)
            queue = self._queued.get(request.path)
            if queue:
                responder = queue.popleft()
            else:
                responder = self._standing.get(request.path, self.default)
        reply = responder if isinstance(responder, Reply) else responder(request)
        return reply, self._closing


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gave up (timeout tests) is expected; keep test output clean.
        pass


def _handler_for(server: LoopbackServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            recorded = RecordedRequest(
                self.command,
                parts.path,
                parts.query,
                {name.lower(): value for name, value in self.headers.items()},
                body,
            )
            reply, closing = server._answer(recorded)
            if reply.delay_s and closing.wait(reply.delay_s):
                self.close_connection = True
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
