"""fetch_url against a real local HTTP server: limits, redirects, errors. Nothing leaves 127.0.0.1."""

from __future__ import annotations

import dataclasses
import gzip
from dataclasses import replace

import pytest

from conftest import LocalHTTPServer
from feedflow.config import DEFAULT_USER_AGENT, FetchConfig
from feedflow.core.fetch import FetchResult, fetch_url
from feedflow.model import Rejection

FAST = FetchConfig(connect_timeout=2.0, read_timeout=0.5, max_bytes=64 * 1024, max_redirects=3, allow_private=True)
RSS = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


def ok(result: FetchResult | Rejection) -> FetchResult:
    assert isinstance(result, FetchResult), result
    return result


def rejected(result: FetchResult | Rejection, reason: str) -> Rejection:
    assert isinstance(result, Rejection), result
    assert result.reason == reason, result
    assert result.input and result.detail
    return result


def test_ok_body_headers_and_request_headers(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/feed.xml", RSS, headers={"Content-Type": "application/rss+xml; charset=utf-8"})
    result = ok(fetch_url(url, FetchConfig(allow_private=True)))
    assert result.body == RSS
    assert result.status == 200
    assert result.url == result.final_url == url
    assert not result.permanent_redirect
    assert result.header("Content-Type") == "application/rss+xml; charset=utf-8"
    assert result.content_type == "application/rss+xml"
    assert all(name == name.lower() for name, _ in result.headers)
    assert result.headers_dict()["content-length"] == str(len(RSS))
    assert result.fetched_at.tzinfo is not None
    seen = http_server.requests[-1]
    assert seen.headers["user-agent"] == DEFAULT_USER_AGENT
    assert "application/rss+xml" in seen.headers["accept"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = 500  # type: ignore[misc]


def test_caller_headers_override_defaults(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/x", b"hello")
    config = FetchConfig(user_agent="ua/1", allow_private=True)
    ok(fetch_url(url, config, headers={"Accept": "text/plain", "X-Test": "1"}))
    seen = http_server.requests[-1].headers
    assert seen["user-agent"] == "ua/1"
    assert seen["accept"] == "text/plain"
    assert seen["x-test"] == "1"


def test_gzip_content_encoding_is_decoded(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/gz", gzip.compress(RSS), headers={"Content-Encoding": "gzip"})
    assert ok(fetch_url(url, FAST)).body == RSS


def test_permanent_and_temporary_redirects(http_server: LocalHTTPServer) -> None:
    target = http_server.route("/new.xml", RSS)
    http_server.redirect("/moved", "/new.xml", status=301)
    http_server.redirect("/hop", "/moved", status=308)
    http_server.redirect("/temp", "/new.xml", status=302)
    moved = ok(fetch_url(http_server.url("/hop"), FAST))
    assert moved.final_url == target and moved.permanent_redirect
    assert moved.url == http_server.url("/hop")
    temp = ok(fetch_url(http_server.url("/temp"), FAST))
    assert temp.final_url == target and not temp.permanent_redirect


def test_too_many_redirects(http_server: LocalHTTPServer) -> None:
    http_server.redirect("/a", "/b")
    http_server.redirect("/b", "/a")
    rejected(fetch_url(http_server.url("/a"), FAST), "too_many_redirects")


def test_redirect_to_unsupported_scheme(http_server: LocalHTTPServer) -> None:
    http_server.redirect("/ftp", "ftp://127.0.0.1/feed.xml")
    rejected(fetch_url(http_server.url("/ftp"), FAST), "unsupported_url_scheme")


@pytest.mark.parametrize("status", [404, 410, 500, 503])
def test_http_error_statuses(http_server: LocalHTTPServer, status: int) -> None:
    url = http_server.route("/err", b"<h1>Error page</h1>", status=status)
    rejection = rejected(fetch_url(url, FAST), f"http_{status}")
    assert "Error page" in rejection.excerpt


def test_missing_route_is_404(http_server: LocalHTTPServer) -> None:
    rejected(fetch_url(http_server.url("/nothing-here"), FAST), "http_404")


def test_connection_refused_is_unreachable(closed_port_url: str) -> None:
    rejected(fetch_url(closed_port_url, FAST), "url_unreachable")


def test_timeout_before_response(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/slow", RSS, delay=3.0)
    rejected(fetch_url(url, FAST), "http_timeout")  # answers after the timeout


def test_timeout_in_mid_body(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/stall", RSS * 50, body_delay=3.0)
    rejected(fetch_url(url, FAST), "http_timeout")


def test_a_body_paced_under_the_read_timeout_still_meets_the_overall_deadline(http_server: LocalHTTPServer) -> None:
    """Each pause is shorter than read_timeout, so only the overall deadline can end the fetch."""
    url = http_server.route("/trickle", RSS * 50, body_delay=2.0)
    patient = replace(FAST, read_timeout=5.0, total_timeout=0.8)
    rejection = rejected(fetch_url(url, patient), "http_timeout")
    assert "0.8 s" in rejection.detail
    complete = fetch_url(url, replace(patient, total_timeout=10.0))
    assert isinstance(complete, FetchResult) and complete.body == RSS * 50


def test_connection_dropped_mid_body(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/short", RSS, headers={"Content-Length": str(len(RSS) + 500)})
    rejected(fetch_url(url, FAST), "http_incomplete_body")


def test_too_large_by_content_length(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/big", b"x" * (FAST.max_bytes + 1))
    rejected(fetch_url(url, FAST), "too_large")


def test_too_large_streamed_without_length(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/big-chunked", b"y" * (FAST.max_bytes * 3), chunked=True)
    rejection = rejected(fetch_url(url, FAST), "too_large")
    assert rejection.excerpt.startswith("yyyy")


def test_exactly_max_bytes_is_fine(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/edge", b"z" * FAST.max_bytes, chunked=True)
    assert len(ok(fetch_url(url, FAST)).body) == FAST.max_bytes


def test_too_large_is_measured_after_decompression(http_server: LocalHTTPServer) -> None:
    bomb = gzip.compress(b"\0" * (FAST.max_bytes * 40))  # ~2.5 MiB inflated from a few KiB
    assert len(bomb) < FAST.max_bytes
    url = http_server.route("/bomb", bomb, headers={"Content-Encoding": "gzip"})
    rejected(fetch_url(url, FAST), "too_large")


def test_corrupt_gzip_encoding(http_server: LocalHTTPServer) -> None:
    url = http_server.route(
        "/bad-gz", b"\x1f\x8b\x08\x00garbage-not-deflate" * 20, headers={"Content-Encoding": "gzip"}
    )
    rejected(fetch_url(url, FAST), "bad_content_encoding")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://127.0.0.1/feed.xml", "unsupported_url_scheme"),
        ("file:///etc/hosts", "unsupported_url_scheme"),
        ("feeds/local.xml", "unsupported_url_scheme"),
        ("http://", "invalid_url"),
        ("http://[::1", "invalid_url"),
    ],
)
def test_urls_not_fetched(url: str, reason: str) -> None:
    rejection = rejected(fetch_url(url, FAST), reason)
    assert rejection.input == url
