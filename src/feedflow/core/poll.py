"""Poll one feed politely: conditional GET, body-hash skip, redirects, failures — and its next state.

:func:`poll_feed` never raises. It fetches with feedflow's own HTTP client (requests), sending
``If-None-Match`` / ``If-Modified-Since`` from the stored ETag / Last-Modified (ETag left out for feeds
marked ``ignore_etag``), and hands the body bytes plus the response headers to the feed reader.

Outcomes:

``not_modified``  304: no work.
``unchanged``     200 with the same body as last time (many servers ignore conditional headers):
                  not parsed.
``new``           a body to parse: its entries become RawArticles (the dataset's id and content
                  checks decide which are new, revised or already known).
``failed``        transport failure, HTTP error or an unparsable body: one reject row
                  (``feed_timeout``, ``feed_unreachable``, ``feed_http_500``, ``not_a_feed``…),
                  consecutive failures + 1, capped exponential backoff (Retry-After honoured).

A 301/308 moves the feed: the new URL is stored for next time. 302/307 are temporary: followed, not
stored. Entries keep the subscription URL as ``feed_url``, so guid-based ids survive a move.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from feedflow.config import ReadConfig
from feedflow.core.fetch import FetchResult, fetch_response
from feedflow.core.readers import read_fetched
from feedflow.core.schedule import (
    ScheduleConfig,
    after_failure,
    after_success,
    after_unchanged,
    max_age,
    retry_after,
    rss_ttl,
)
from feedflow.core.state import FeedState
from feedflow.model import RawArticle, Rejection

NEW = "new"
NOT_MODIFIED = "not_modified"
UNCHANGED = "unchanged"
FAILED = "failed"

#: Reader reasons that mean "this body is not a usable feed": the poll failed.
_UNPARSABLE = frozenset(
    {"not_a_feed", "malformed_feed", "feed_parser_error", "binary_file", "empty_response", "bad_compression",
     "internal_error", "unsupported_input", "no_main_text", "too_large", "bad_json"}
)  # fmt: skip
_FETCH_REASONS = {
    "http_timeout": "feed_timeout",
    "url_unreachable": "feed_unreachable",
    "unreadable_file": "feed_unreadable",
    "too_large": "feed_too_large",
}


@dataclass(frozen=True, slots=True)
class PollConfig:
    read: ReadConfig = field(default_factory=ReadConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass(frozen=True, slots=True)
class PollResult:
    """The state to store if the tick commits, what happened, and the records to process."""

    state: FeedState
    outcome: str
    records: tuple[RawArticle | Rejection, ...] = ()


def feed_reason(reason: str) -> str:
    """Fetch-level reasons as feed reasons: http_500 → feed_http_500, http_timeout → feed_timeout."""
    return _FETCH_REASONS.get(reason) or (reason if reason.startswith("feed_") else f"feed_{reason}")


def body_hash(body: bytes) -> str:
    return hashlib.blake2b(body, digest_size=16).hexdigest()


def _failed(
    state: FeedState, now: datetime, reason: str, detail: str, config: PollConfig, *,
    http_status: int | None = None, retry_seconds: int | None = None,
    records: tuple[RawArticle | Rejection, ...] = (), fetch_url: str | None = None,
) -> PollResult:  # fmt: skip
    failures = state.consecutive_failures + 1
    delay = after_failure(failures, retry_seconds, config.schedule)
    new_state = replace(
        state,
        fetch_url=fetch_url or state.fetch_url,
        last_status=reason,
        last_http_status=http_status,
        last_error=detail[:500],
        consecutive_failures=failures,
        last_polled_at=now,
        next_due_at=now + timedelta(seconds=delay),
    )
    if not records:
        records = (Rejection(input=state.url, locator="", reason=reason, detail=detail[:300]),)
    return PollResult(new_state, FAILED, records)


def is_http_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in ("http", "https")


def read_local(path: str, max_bytes: int, now: datetime) -> FetchResult | Rejection:
    """A local feed file as if served with status 200 (no conditional GET; the body hash still skips
    unchanged files)."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            return Rejection(input=path, locator="", reason="too_large", detail=f"{size} bytes > {max_bytes}")
        with open(path, "rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as err:
        return Rejection(input=path, locator="", reason="unreadable_file", detail=str(err.strerror or err))
    return FetchResult(url=path, final_url=path, status=200, headers=(), body=body, fetched_at=now)


def poll_feed(state: FeedState, config: PollConfig, now: datetime | None = None) -> PollResult:
    """Poll one feed (see module docstring). Never raises."""
    now = now or datetime.now(UTC)
    headers: dict[str, str] = {}
    if state.etag and not state.ignore_etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    if is_http_url(state.fetch_url):
        # The subscription's own URL is the user's; a URL it moved to came from a server's redirect.
        user_given = state.fetch_url == state.url
        result = fetch_response(state.fetch_url, config.read.fetch, headers, user_given=user_given)
    else:
        result = read_local(state.fetch_url, config.read.max_bytes, now)
    if isinstance(result, Rejection):
        return _failed(state, now, feed_reason(result.reason), result.detail, config)
    moved_to = result.final_url if result.permanent_redirect else None
    if result.status >= 400:
        retry = retry_after(result.header("retry-after"), now) if result.status in (429, 503) else None
        detail = f"HTTP {result.status}" + (f", Retry-After {retry}s" if retry is not None else "")
        return _failed(
            state, now, f"feed_http_{result.status}", detail, config,
            http_status=result.status, retry_seconds=retry, fetch_url=moved_to,
        )  # fmt: skip
    return _polled(state, result, moved_to, config, now)


def _polled(
    state: FeedState, result: FetchResult, moved_to: str | None, config: PollConfig, now: datetime
) -> PollResult:
    hints = [max_age(result.header("cache-control"))]
    base = replace(
        state,
        fetch_url=moved_to or state.fetch_url,
        last_http_status=result.status,
        last_error=None,
        consecutive_failures=0,
        last_polled_at=now,
        last_success_at=now,
        etag=result.header("etag") or state.etag,
        last_modified=result.header("last-modified") or state.last_modified,
    )

    def no_work(outcome: str) -> PollResult:
        interval = after_unchanged(state.interval_seconds, hints, config.schedule)
        next_due = now + timedelta(seconds=interval)
        return PollResult(replace(base, last_status=outcome, interval_seconds=interval, next_due_at=next_due), outcome)

    if result.status == 304:
        return no_work(NOT_MODIFIED)
    digest = body_hash(result.body)
    hints.append(rss_ttl(result.body))
    if digest == state.body_hash:
        return no_work(UNCHANGED)
    records: list[RawArticle | Rejection] = []
    for record in read_fetched(state.url, result, config.read, state.title):
        if isinstance(record, RawArticle):
            record = replace(record, feed_url=state.url, fetched_at=record.fetched_at or now)
        records.append(record)
    entries = [r for r in records if isinstance(r, RawArticle)]
    if not entries and any(isinstance(r, Rejection) and r.reason in _UNPARSABLE for r in records):
        first = next(r for r in records if isinstance(r, Rejection))
        return _failed(
            state, now, first.reason, first.detail, config,
            http_status=result.status, records=tuple(records), fetch_url=moved_to,
        )  # fmt: skip
    interval = after_success([e.published for e in entries], hints, now, config.schedule)
    new_state = replace(
        base,
        body_hash=digest,
        last_status="ok",
        interval_seconds=interval,
        next_due_at=now + timedelta(seconds=interval),
        entries_seen=state.entries_seen + len(entries),
    )
    return PollResult(new_state, NEW, tuple(records))
