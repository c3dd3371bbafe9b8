"""Shared pytest fixtures: a real local HTTP server, and where the shared evaluation data lives."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"


@dataclass(frozen=True)
class Route:
    """One canned response of :class:`LocalHTTPServer`."""

    body: bytes
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    body_delay: float = 0.0
    chunked: bool = False


@dataclass(frozen=True)
class SeenRequest:
    """A request the server answered: method, path (with query) and headers (names lowercased)."""

    method: str
    path: str
    headers: Mapping[str, str]


class LocalHTTPServer:
    """A real ``ThreadingHTTPServer`` on 127.0.0.1 (random port) answering canned routes.

    Use ``route()`` to register responses, ``url()`` to build URLs, ``requests`` to see what was asked.
    Unknown paths answer 404. Stopping it interrupts pending delays, so slow routes never hold up
    teardown.
    """

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[SeenRequest] = []
        handler = self._make_handler()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="http_server", daemon=True
        )

    def start(self) -> LocalHTTPServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def url(self, path: str = "/") -> str:
        """The absolute URL of ``path`` on this server (``path`` starts with "/")."""
        if not path.startswith("/"):
            path = "/" + path
        return f"http://127.0.0.1:{self.port}{path}"

    def route(
        self,
        path: str,
        body: bytes | str,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        *,
        body_delay: float = 0.0,
        chunked: bool = False,
    ) -> str:
        """Serve ``body`` at ``path`` (exact path, query included if given); returns its URL.

        ``headers`` are sent as given (add ``Content-Type``, ``Location`` for redirects,
        ``Content-Encoding: gzip`` with a gzipped body …); ``Content-Length`` is added unless given
        (a larger one simulates a connection dropped mid-body) or ``chunked``, which streams the body
        with chunked transfer encoding. ``delay`` waits before the
        status line; ``body_delay`` sends the headers and the first half of the body, then waits
        before the rest (to test read timeouts in mid-body).
        """
        data = body.encode("utf-8") if isinstance(body, str) else body
        with self._lock:
            self._routes[path] = Route(data, status, dict(headers or {}), delay, body_delay, chunked)
        return self.url(path)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        """Answer ``path`` with a redirect to ``to`` (a path on this server or an absolute URL)."""
        location = self.url(to) if to.startswith("/") else to
        return self.route(path, b"", status=status, headers={"Location": location})

    def _lookup(self, path: str) -> Route | None:
        with self._lock:
            return self._routes.get(path) or self._routes.get(urlsplit(path).path)

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                return

            def _answer(self, send_body: bool) -> None:
                server.requests.append(
                    SeenRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
                )
                route = server._lookup(self.path) or Route(b"not found", 404, {"Content-Type": "text/plain"})
                if route.delay and server._stopping.wait(route.delay):
                    return
                try:
                    self.send_response(route.status)
                    for name, value in route.headers.items():
                        self.send_header(name, value)
                    if route.chunked:
                        self.send_header("Transfer-Encoding", "chunked")
                    elif not any(name.lower() == "content-length" for name in route.headers):
                        self.send_header("Content-Length", str(len(route.body)))
                    self.send_header("Connection", "close")
                    self.end_headers()
                    if not send_body:
                        return
                    half = len(route.body) // 2 if route.body_delay else len(route.body)
                    self._write(route.body[:half], route.chunked)
                    if route.body_delay:
                        self.wfile.flush()
                        if server._stopping.wait(route.body_delay):
                            return
                        self._write(route.body[half:], route.chunked)
                    if route.chunked:
                        self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (e.g. after a timeout or a size limit)

            def _write(self, data: bytes, chunked: bool) -> None:
                if not chunked:
                    self.wfile.write(data)
                    return
                step = 16 * 1024
                for start in range(0, len(data), step):
                    piece = data[start : start + step]
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")

            def do_GET(self) -> None:
                self._answer(send_body=True)

            def do_HEAD(self) -> None:
                self._answer(send_body=False)

        return Handler


@pytest.fixture(autouse=True, scope="session")
def child_temp_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``TMPDIR`` for every child process the tests start: a folder under pytest's own temporary root.

    The fault tests kill ``feedflow`` with SIGKILL, and a killed run cannot remove the empty
    ``beam-pipeline-temp*`` folder Beam made for its pipeline; without this, each suite run left four
    of them in the system's temporary folder. pytest keeps only its last few roots."""
    folder = tmp_path_factory.mktemp("child-tmp")
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", str(folder))
    try:
        yield folder
    finally:
        patch.undo()


@pytest.fixture
def http_server() -> Iterator[LocalHTTPServer]:
    """A real local HTTP server (``http.server.ThreadingHTTPServer`` on 127.0.0.1, random port).

    API::

        url = http_server.route("/feed.xml", body_bytes, status=200,
                                headers={"Content-Type": "application/rss+xml"}, delay=0.0)
        http_server.url("/feed.xml")            # absolute URL of a path
        http_server.redirect("/old", "/feed.xml", status=301)
        http_server.route("/slow", b"...", body_delay=2.0)   # stall mid-body
        http_server.route("/big", b"...", chunked=True)      # no Content-Length
        http_server.requests                    # [SeenRequest(method, path, headers)], in order

    Unknown paths answer 404. Function-scoped: every test gets its own server and routes; it is
    stopped (pending delays interrupted) when the test ends. Nothing leaves 127.0.0.1.
    """
    server = LocalHTTPServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def closed_port_url() -> str:
    """An http URL on 127.0.0.1 whose port was just free: connecting to it is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed.xml"


@pytest.fixture
def fixtures_dir() -> Path:
    """``tests/fixtures``: small input files written for these tests."""
    return FIXTURES


def eval_data_dir() -> Path:
    """The shared evaluation data: ``$FEEDFLOW_EVAL_DATA``, else ``<repo>/../shared/data``."""
    return Path(os.environ.get("FEEDFLOW_EVAL_DATA") or REPO_ROOT.parent / "shared" / "data")


@pytest.fixture
def eval_data() -> Path:
    """The shared evaluation data folder; skips the test (saying why) when it is absent."""
    path = eval_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared evaluation data not found at {path} (set FEEDFLOW_EVAL_DATA)")
    return path
