"""When to poll a feed next: pure functions of what the last poll saw.

Rules (all intervals clamped to ``[min_interval, max_interval]`` = [5 min, 24 h] by default):

* **Success** (new body parsed): the interval adapts to the feed's observed entry frequency — with
  ``n`` entries published in the last 7 days, ``interval = 7 days / n`` (Miniflux's rule); entries but
  none recent → ``max_interval``; no dates at all → ``default_interval``.
* **Not modified** (304) or **unchanged** (same body hash): the previous interval is kept.
* Server hints are lower bounds on the interval: ``Cache-Control: max-age`` and RSS ``<ttl>`` (minutes).
* **Failure** (timeout, DNS, 5xx, unparsable body…): capped exponential backoff,
  ``backoff_base × 2^(failures−1)`` up to ``max_interval``; a ``Retry-After`` (429/503) wins when it
  asks for longer. A feed is never dropped: it is retried at least once a day.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

WEEK = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    default_interval: int = 900
    min_interval: int = 300
    max_interval: int = 24 * 3600
    backoff_base: int = 300


_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)", re.IGNORECASE)
_TTL = re.compile(rb"<ttl>\s*(\d{1,7})\s*</ttl>", re.IGNORECASE)


def clamp(seconds: float, config: ScheduleConfig) -> int:
    return int(min(max(seconds, config.min_interval), config.max_interval))


def max_age(cache_control: str | None) -> int | None:
    """Seconds of ``Cache-Control: max-age=N`` (None when absent or no-cache/no-store)."""
    if not cache_control:
        return None
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


def rss_ttl(body: bytes) -> int | None:
    """RSS ``<channel><ttl>`` in seconds (the first ``<ttl>`` in the first 64 KiB)."""
    match = _TTL.search(body[:65536])
    return int(match.group(1)) * 60 if match else None


def retry_after(value: str | None, now: datetime) -> int | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return int(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0, int((when - now).total_seconds()))


def observed_interval(published: Iterable[datetime | None], now: datetime, config: ScheduleConfig) -> int:
    """The interval that the feed's own publishing rhythm suggests."""
    dates = [d for d in published if d is not None]
    if not dates:
        return config.default_interval
    recent = sum(1 for d in dates if now - timedelta(seconds=WEEK) <= d <= now + timedelta(hours=1))
    if recent == 0:
        return config.max_interval
    return clamp(WEEK / recent, config)


def after_success(
    published: Iterable[datetime | None], hints: Iterable[int | None], now: datetime, config: ScheduleConfig
) -> int:
    floor = max([h for h in hints if h is not None], default=0)
    return clamp(max(observed_interval(published, now, config), floor), config)


def after_unchanged(previous: int | None, hints: Iterable[int | None], config: ScheduleConfig) -> int:
    floor = max([h for h in hints if h is not None], default=0)
    return clamp(max(previous or config.default_interval, floor), config)


def after_failure(failures: int, retry_after_seconds: int | None, config: ScheduleConfig) -> int:
    """Backoff after the ``failures``-th consecutive failure (1 for the first)."""
    backoff = config.backoff_base * 2 ** min(max(failures - 1, 0), 20)
    wanted = max(backoff, retry_after_seconds or 0)
    return clamp(wanted, config)
