"""HTTP(S) fetching with hard limits, for feeds and pages.

:func:`fetch_url` never raises: it returns a :class:`FetchResult` for a usable response, or a
:class:`~feedflow.model.Rejection` whose ``reason`` says why not:

=========================  ==========================================================================
``unsupported_url_scheme``  not http/https (also a redirect to such a URL)
``invalid_url``             unparseable URL, no host
``private_address``         the host is (or resolved to) a loopback, private, link-local or other
                            non-global address, for a URL that came from data (see below)
``url_unreachable``         DNS failure, connection refused/reset, no route, proxy failure
``tls_error``               TLS handshake or certificate failure
``http_timeout``            connect timeout, or no byte for ``read_timeout`` seconds (also mid-body)
``too_many_redirects``      more than ``max_redirects`` redirects
``http_<status>``           a final status other than 2xx or 304 (``http_404``, ``http_500`` …)
``too_large``               body over ``max_bytes`` *after* content-decoding (gzip/deflate)
``bad_content_encoding``    body whose gzip/deflate stream is corrupt
``http_incomplete_body``    connection closed before the announced body was complete
``http_error``              anything else that went wrong in the HTTP stack
=========================  ==========================================================================

A fresh :class:`requests.Session` is used per call (no shared, process-global state). Proxy settings
from the environment are honoured, as for any requests client.

Server-side request forgery: a URL found in fetched data (an OPML list served over HTTP, a feed
entry's link, every redirect hop) must not make feedflow fetch from this machine or its network.
Unless the caller says the URL was typed by the user (``user_given=True``, and then only for the
first hop) or ``FetchConfig.allow_private`` is set, the address is checked *after* DNS resolution:
every address the host resolves to must be global (``ipaddress.is_global``, not multicast), and so
must the connected socket's peer address. The second check is made on the connection actually used,
so a name that resolves to a public address once and to 127.0.0.1 the next time (DNS rebinding)
cannot slip through. Redirects are followed here, hop by hop, so each hop is checked (scheme and
address). Through a proxy from the environment the peer is the proxy, so only the first check
applies (the proxy resolves again: best effort).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.adapters
import requests.utils
import urllib3.connection
import urllib3.connectionpool
import urllib3.exceptions

from feedflow.config import FetchConfig
from feedflow.core.excerpt import excerpt
from feedflow.model import Rejection

__all__ = ["ACCEPT_FEEDS", "FetchResult", "address_problem", "causes", "fetch_response", "fetch_url"]

#: Default Accept header: feeds first, then XML and HTML pages, then anything.
ACCEPT_FEEDS = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/rdf+xml;q=0.9, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, text/html;q=0.7, */*;q=0.5"
)
_CHUNK = 64 * 1024
_PERMANENT = frozenset({301, 308})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_DETAIL = 300


@dataclass(frozen=True, slots=True)
class FetchResult:
    """A usable HTTP response: status 2xx (or 304), body fully read and content-decoded.

    ``headers`` are ``(lowercased name, value)`` pairs in response order (repeated headers joined by
    ", " as requests does). ``permanent_redirect`` is True when the request was redirected and every
    hop was permanent (301/308): ``final_url`` is then the resource's new address.
    """

    url: str
    final_url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    permanent_redirect: bool = False
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def header(self, name: str, default: str | None = None) -> str | None:
        """The value of header ``name`` (case-insensitive), or ``default``."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return default

    def headers_dict(self) -> dict[str, str]:
        """The headers as a plain dict with lowercased names (what feedparser's response_headers wants)."""
        return dict(self.headers)

    @property
    def content_type(self) -> str:
        """The media type without parameters, lowercased ("" when absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()


# ----------------------------------------------------------------------------- address policy


def address_problem(address: str) -> str | None:
    """Why ``address`` (an IP literal) may not be fetched from data, or None when it is global."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return f"{address!r} is not an IP address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind in ("loopback", "private", "link_local", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{kind}"):
            return f"{ip} is a {kind.replace('_', '-')} address"
    if not ip.is_global:
        return f"{ip} is not a global address"
    return None


class BlockedAddressError(OSError):
    """A connection reached (or a name resolved to) an address that URLs from data may not use."""


def _checked_peer(sock: socket.socket, host: str) -> socket.socket:
    try:
        peer = str(sock.getpeername()[0])
    except OSError as error:
        sock.close()
        raise BlockedAddressError(f"cannot tell which address {host} connected to: {error}") from error
    problem = address_problem(peer)
    if problem is not None:
        sock.close()
        raise BlockedAddressError(f"{host} connected to {problem}")
    return sock


class _PublicHTTPConnection(urllib3.connection.HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked_peer(super()._new_conn(), self.host)


class _PublicHTTPSConnection(urllib3.connection.HTTPSConnection):
    def _new_conn(self) -> socket.socket:  # HTTPSConnection.connect() wraps this socket in TLS
        return _checked_peer(super()._new_conn(), self.host)


class _PublicHTTPPool(urllib3.connectionpool.HTTPConnectionPool):
    ConnectionCls = _PublicHTTPConnection


class _PublicHTTPSPool(urllib3.connectionpool.HTTPSConnectionPool):
    ConnectionCls = _PublicHTTPSConnection


class _PublicOnlyAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter whose direct connections refuse non-global peers (checked after connect)."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _PublicHTTPPool, "https": _PublicHTTPSPool}


def _resolved_problem(url: str) -> str | None:
    """Every address the host resolves to now must be global. Checked before connecting, so a local
    port is never even probed (a refused connection would tell an attacker it is closed); the
    connection's peer is checked again after connecting (the name may resolve differently then).
    A name that does not resolve is left to the connection attempt to report."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80), 0, socket.SOCK_STREAM)
    except (OSError, UnicodeError, ValueError):
        return None
    for info in infos:
        problem = address_problem(str(info[4][0]))
        if problem is not None:
            return f"{host} resolves to {problem}"
    return None


def _session(public_only: bool) -> requests.Session:
    session = requests.Session()
    if public_only:
        adapter = _PublicOnlyAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _reject(url: str, reason: str, detail: str, sample: bytes | str = b"") -> Rejection:
    return Rejection(input=url, locator="", reason=reason, detail=_short(detail), excerpt=excerpt(sample or url))


def causes(error: BaseException) -> Iterator[BaseException]:
    """``error``, its ``__cause__``/``__context__`` chain and exceptions wrapped in its args."""
    seen: set[int] = set()
    stack: list[BaseException] = [error]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        stack.extend(arg for arg in current.args if isinstance(arg, BaseException))
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                stack.append(linked)


def _is_timeout(error: BaseException) -> bool:
    # urllib3's NewConnectionError (refused, DNS) subclasses ConnectTimeoutError for history's sake.
    timeouts = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    return any(
        isinstance(e, timeouts) and not isinstance(e, urllib3.exceptions.NewConnectionError) for e in causes(error)
    )


def _classify(url: str, error: Exception, *, in_body: bool) -> Rejection:
    """Map a requests/urllib3 exception to a Rejection; ``in_body``: raised while reading the body."""
    detail = f"{type(error).__name__}: {error}"
    blocked = next((e for e in causes(error) if isinstance(e, BlockedAddressError)), None)
    if blocked is not None:
        return _reject(url, "private_address", f"refused: {blocked}")
    if isinstance(error, requests.TooManyRedirects):
        return _reject(url, "too_many_redirects", detail)
    if isinstance(error, requests.exceptions.InvalidSchema):
        return _reject(url, "unsupported_url_scheme", detail)
    if isinstance(error, requests.exceptions.MissingSchema | requests.exceptions.InvalidURL):
        return _reject(url, "invalid_url", detail)
    if isinstance(error, requests.exceptions.ContentDecodingError) or any(
        isinstance(e, urllib3.exceptions.DecodeError) for e in causes(error)
    ):
        return _reject(url, "bad_content_encoding", detail)
    if _is_timeout(error):
        return _reject(url, "http_timeout", detail)
    if in_body:
        return _reject(url, "http_incomplete_body", detail)
    if isinstance(error, requests.exceptions.SSLError):
        return _reject(url, "tls_error", detail)
    if isinstance(error, requests.ConnectionError | OSError):
        return _reject(url, "url_unreachable", detail)
    return _reject(url, "http_error", detail)


def _check_url(url: str) -> Rejection | None:
    try:
        parts = urlsplit(url)
    except ValueError as error:
        return _reject(url, "invalid_url", f"cannot parse URL: {error}")
    if parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme or "(none)"
        return _reject(url, "unsupported_url_scheme", f"scheme {scheme!r}: only http and https are fetched")
    if not parts.hostname:
        return _reject(url, "invalid_url", "URL has no host")
    return None


def _literal_problem(url: str) -> str | None:
    """For a host given as an IP literal: why it may not be fetched from data (no connection tried)."""
    host = urlsplit(url).hostname or ""
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    return address_problem(host)


def _read_body(response: requests.Response, url: str, max_bytes: int) -> bytes | Rejection:
    """The content-decoded body, read in chunks and abandoned as soon as it exceeds ``max_bytes``.

    urllib3 (≥ 2.6) bounds each decompression step by the chunk size, so a small gzip bomb never
    expands into memory past one chunk over the limit.
    """
    encoding = response.headers.get("content-encoding", "").strip().lower()
    length = response.headers.get("content-length", "")
    if encoding in ("", "identity") and length.isdigit() and int(length) > max_bytes:
        return _reject(url, "too_large", f"Content-Length {length} exceeds the limit of {max_bytes} bytes")
    chunks: list[bytes] = []
    total = 0
    for chunk in response.iter_content(chunk_size=_CHUNK):
        total += len(chunk)
        if total > max_bytes:
            return _reject(
                url,
                "too_large",
                f"body exceeds the limit of {max_bytes} bytes (after decompression)",
                b"".join(chunks)[:1024] or chunk[:1024],
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _result(url: str, final_url: str, hops: list[int], response: requests.Response, body: bytes) -> FetchResult:
    return FetchResult(
        url=url,
        final_url=final_url,
        status=response.status_code,
        headers=tuple((k.lower(), v) for k, v in response.headers.items()),
        body=body,
        permanent_redirect=bool(hops) and all(status in _PERMANENT for status in hops),
        fetched_at=datetime.now(UTC),
    )


def fetch_url(
    url: str, config: FetchConfig, headers: Mapping[str, str] | None = None, *, user_given: bool = False
) -> FetchResult | Rejection:
    """GET ``url`` within ``config``'s limits; a FetchResult for 2xx/304, else a Rejection. Never raises.

    ``headers`` are added to (and override) the defaults: User-Agent from the config and an Accept
    header preferring feeds. Redirects are followed up to ``config.max_redirects``. ``user_given``:
    the user typed this URL (command line, own feed list), so its first hop may be a local address;
    otherwise (and for every redirect hop) non-global addresses are refused unless
    ``config.allow_private`` (see the module docstring).
    """
    return _fetch(url, config, headers, keep_errors=False, user_given=user_given)


def fetch_response(
    url: str, config: FetchConfig, headers: Mapping[str, str] | None = None, *, user_given: bool = False
) -> FetchResult | Rejection:
    """Like :func:`fetch_url`, but an HTTP error status (4xx/5xx) also comes back as a FetchResult
    (its body cut to a 512-byte sample), so callers can read headers such as Retry-After. Transport
    failures (timeouts, DNS, size limits) are still Rejections."""
    return _fetch(url, config, headers, keep_errors=True, user_given=user_given)


def _fetch(
    url: str, config: FetchConfig, headers: Mapping[str, str] | None, *, keep_errors: bool, user_given: bool
) -> FetchResult | Rejection:
    request_headers = {"User-Agent": config.user_agent, "Accept": ACCEPT_FEEDS}
    request_headers.update(headers or {})
    current = url
    hops: list[int] = []
    for hop in range(max(0, config.max_redirects) + 1):
        bad = _check_url(current)
        if bad is not None:
            if hop:
                return _reject(url, bad.reason, f"redirect {hop} to {current}: {bad.detail}")
            return bad
        public_only = not config.allow_private and (hop > 0 or not user_given)
        outcome = _fetch_hop(url, current, hops, config, request_headers, keep_errors, public_only)
        if not isinstance(outcome, str):
            return outcome
        current = outcome
    return _reject(url, "too_many_redirects", f"more than {config.max_redirects} redirects (last to {current})")


def _fetch_hop(
    url: str,
    current: str,
    hops: list[int],
    config: FetchConfig,
    request_headers: Mapping[str, str],
    keep_errors: bool,
    public_only: bool,
) -> FetchResult | Rejection | str:
    """One request: a result, a Rejection, or the URL a redirect points to (its status added to ``hops``)."""
    if public_only:
        problem = _literal_problem(current) or _resolved_problem(current)
        if problem is not None:
            where = f"redirect {len(hops)} to {current}: " if hops else ""
            return _reject(url, "private_address", f"refused: {where}{problem}")
    try:
        with (
            _session(public_only) as session,
            session.get(
                current,
                headers=request_headers,
                timeout=(config.connect_timeout, config.read_timeout),
                stream=True,
                allow_redirects=False,
            ) as response,
        ):
            status = response.status_code
            target = session.get_redirect_target(response) if status in _REDIRECTS else None
            if target is not None:
                hops.append(status)
                return requests.utils.requote_uri(urljoin(current, target))
            if not (200 <= status < 300 or status == 304):
                sample = b""
                try:
                    sample = response.raw.read(512, decode_content=True) or b""
                except Exception:  # noqa: BLE001 - the status already says what matters
                    sample = b""
                if keep_errors:
                    return _result(url, current, hops, response, sample)
                return _reject(url, f"http_{status}", f"HTTP {status} {response.reason or ''}".strip(), sample)
            # A server trickling bytes just under read_timeout could hold the body forever: a
            # watchdog closes the response at the overall deadline, which ends the blocked read.
            expired = threading.Event()

            def expire() -> None:
                expired.set()
                response.close()

            watchdog = threading.Timer(config.total_timeout, expire)
            watchdog.daemon = True
            watchdog.start()
            try:
                body = _read_body(response, url, config.max_bytes)
            except (
                requests.RequestException,
                urllib3.exceptions.HTTPError,
                OSError,
                ValueError,
                AttributeError,
            ) as error:
                body = _classify(url, error, in_body=True)
            finally:
                watchdog.cancel()
            if expired.is_set():
                return _reject(url, "http_timeout", f"no complete body within {config.total_timeout:g} s")
            if isinstance(body, Rejection):
                return body
            return _result(url, current, hops, response, body)
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as error:
        return _classify(url, error, in_body=False)
    except Exception as error:  # noqa: BLE001 - fetch_url's contract: never raise
        return _reject(url, "http_error", f"{type(error).__name__}: {error}")
