"""Per-feed polling state in an embedded SQLite database: ``DIR/_state/feeds.sqlite``.

One row per subscribed feed (table ``feeds``). The ingester reads it at the start of a tick and writes
the tick's new states in one transaction only after the tick's data committed: a crash in between
re-polls those feeds next time, and the dataset's id/content checks make that re-poll add nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATE_DIR = "_state"
STATE_FILE = "feeds.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    url                  TEXT PRIMARY KEY,   -- the feed as listed by the user
    fetch_url            TEXT NOT NULL,      -- where it is fetched now (moves on 301/308)
    title                TEXT,
    etag                 TEXT,
    last_modified        TEXT,
    body_hash            TEXT,               -- BLAKE2b of the last body: unchanged bodies are not parsed
    ignore_etag          INTEGER NOT NULL DEFAULT 0,
    last_status          TEXT,               -- ok, not_modified, unchanged, or a reject reason (feed_http_500…)
    last_http_status     INTEGER,
    last_error           TEXT,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    last_polled_at       TEXT,               -- ISO-8601 UTC
    last_success_at      TEXT,
    next_due_at          TEXT,               -- NULL: due now
    interval_seconds     INTEGER,
    entries_seen         INTEGER NOT NULL DEFAULT 0,
    active               INTEGER NOT NULL DEFAULT 1  -- 0 once the feed left every feed list
)
"""


@dataclass(frozen=True, slots=True)
class FeedState:
    """What feedflow knows about one feed between polls."""

    url: str
    fetch_url: str
    title: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    ignore_etag: bool = False
    last_status: str | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    consecutive_failures: int = 0
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    next_due_at: datetime | None = None
    interval_seconds: int | None = None
    entries_seen: int = 0
    active: bool = True

    def is_due(self, now: datetime) -> bool:
        return self.active and (self.next_due_at is None or self.next_due_at <= now)


_COLUMNS = tuple(f.name for f in fields(FeedState))
_TIMES = {"last_polled_at", "last_success_at", "next_due_at"}
_BOOLS = {"ignore_etag", "active"}


def _to_sql(state: FeedState) -> tuple[Any, ...]:
    out: list[Any] = []
    for name in _COLUMNS:
        value = getattr(state, name)
        if name in _TIMES and value is not None:
            value = value.astimezone(UTC).isoformat()
        elif name in _BOOLS:
            value = int(value)
        out.append(value)
    return tuple(out)


def _from_sql(row: sqlite3.Row) -> FeedState:
    values: dict[str, Any] = {}
    for name in _COLUMNS:
        value = row[name]
        if name in _TIMES and value is not None:
            value = datetime.fromisoformat(value)
        elif name in _BOOLS:
            value = bool(value)
        values[name] = value
    return FeedState(**values)


@dataclass(frozen=True, slots=True)
class Subscription:
    """A feed as listed by the user, with its per-feed options."""

    url: str
    ignore_etag: bool = False
    title: str | None = None


class StateStore:
    """The feeds table of one dataset (``DIR/_state/feeds.sqlite``)."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root) / STATE_DIR / STATE_FILE

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as con:
            con.row_factory = sqlite3.Row
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(_SCHEMA)
            with con:  # one transaction: committed on success, rolled back on error
                yield con

    def load(self) -> list[FeedState]:
        with self._connect() as con:
            return [_from_sql(row) for row in con.execute("SELECT * FROM feeds ORDER BY url")]

    def save(self, states: Iterable[FeedState]) -> None:
        """Insert or replace the given states, all in one transaction."""
        placeholders = ", ".join("?" for _ in _COLUMNS)
        sql = f"INSERT OR REPLACE INTO feeds ({', '.join(_COLUMNS)}) VALUES ({placeholders})"
        with self._connect() as con:
            con.executemany(sql, [_to_sql(s) for s in states])

    def subscribe(self, subscriptions: Iterable[Subscription]) -> list[FeedState]:
        """Make the feeds table match the feed lists: new feeds are added (due now), feeds no longer
        listed are marked inactive (their history is kept), per-feed options are refreshed.
        Returns the active states."""
        wanted = {s.url: s for s in subscriptions}
        current = {s.url: s for s in self.load()}
        changed: list[FeedState] = []
        for url, sub in wanted.items():
            old = current.get(url)
            if old is None:
                changed.append(FeedState(url=url, fetch_url=url, ignore_etag=sub.ignore_etag, title=sub.title))
            elif not old.active or old.ignore_etag != sub.ignore_etag or (sub.title and old.title != sub.title):
                changed.append(replace(old, active=True, ignore_etag=sub.ignore_etag, title=sub.title or old.title))
        changed += [replace(s, active=False) for url, s in current.items() if url not in wanted and s.active]
        if changed:
            self.save(changed)
        return [s for s in self.load() if s.active]


def state_to_json(state: FeedState) -> dict[str, Any]:
    """A state as plain JSON values (datetimes as ISO-8601 UTC)."""
    return dict(zip(_COLUMNS, _to_sql(state), strict=True))


def state_from_json(document: dict[str, Any]) -> FeedState:
    values = dict(document)
    for name in _TIMES:
        if values.get(name) is not None:
            values[name] = datetime.fromisoformat(values[name])
    for name in _BOOLS:
        values[name] = bool(values.get(name))
    return FeedState(**values)
