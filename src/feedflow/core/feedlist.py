"""Feed lists for the ingester: OPML files, or text files with one feed per line.

Text format::

    # comments and blank lines are ignored
    https://example.com/rss.xml
    https://badserver.example/feed   ignore-etag     # per-feed option: never send If-None-Match
    local/feed.xml                                   # a path, relative to the list file

OPML outlines with an ``xmlUrl`` are read through the same code as ``feedflow run`` (nested outlines,
relative paths resolved against the OPML file). Unknown options and unusable lines are errors: a
subscription list is configuration, and a typo must not silently drop a feed.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from urllib.parse import urlsplit

from feedflow.config import ReadConfig
from feedflow.core.readers import expand_input
from feedflow.core.state import Subscription
from feedflow.model import InputRef

OPTIONS = frozenset({"ignore-etag"})


class FeedListError(ValueError):
    """A feed list cannot be used; the message names the file and line."""


def _is_opml(path: str) -> bool:
    if path.lower().endswith(".opml"):
        return True
    with open(path, "rb") as handle:
        head = handle.read(2048).lower()
    return b"<opml" in head


def _parse_text(path: str) -> list[Subscription]:
    base = os.path.dirname(os.path.abspath(path))
    out: list[Subscription] = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            if not line:
                continue
            location, *options = line.split()
            unknown = set(options) - OPTIONS
            if unknown:
                raise FeedListError(f"{path}:{number}: unknown option(s) {', '.join(sorted(unknown))}")
            scheme = urlsplit(location).scheme.lower()
            if scheme in ("http", "https"):
                url = location
            elif scheme and len(scheme) > 1:
                raise FeedListError(f"{path}:{number}: only http(s) URLs and local paths, not {scheme}:")
            else:
                url = os.path.normpath(os.path.join(base, location))
            out.append(Subscription(url=url, ignore_etag="ignore-etag" in options))
    return out


def _parse_opml(path: str) -> list[Subscription]:
    out: list[Subscription] = []
    for item in expand_input(path, ReadConfig()):
        if not isinstance(item, InputRef):
            raise FeedListError(f"{path}: {item.reason}: {item.detail}")
        location = item.location if item.is_url else os.path.abspath(item.location)
        out.append(Subscription(url=location, title=item.title))
    return out


def read_feed_lists(paths: Sequence[str]) -> list[Subscription]:
    """Every subscription of the given lists, first listing wins for duplicates, in list order."""
    seen: dict[str, Subscription] = {}
    for path in paths:
        if not os.path.isfile(path):
            raise FeedListError(f"feed list {path} does not exist")
        try:
            subs = _parse_opml(path) if _is_opml(path) else _parse_text(path)
        except (OSError, UnicodeDecodeError) as err:
            raise FeedListError(f"cannot read feed list {path}: {err}") from err
        for sub in subs:
            seen.setdefault(sub.url, sub)
    if not seen:
        raise FeedListError(f"no feeds in {', '.join(paths)}")
    return list(seen.values())
