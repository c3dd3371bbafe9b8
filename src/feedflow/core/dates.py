"""Lenient date parsing for every date feedflow reads: feeds, JSON records, page metadata.

:func:`parse_datetime` accepts what real inputs carry (RFC 822 and its sloppy variants, ISO 8601 / W3C
dates, "May 28, 2021", epoch seconds or milliseconds, the ``time.struct_time`` feedparser produces) and
returns a timezone-aware UTC :class:`~datetime.datetime`, or None for anything it cannot read. It never
raises and never depends on the machine's local time zone or on today's date: a string that lacks a
year, month or day is rejected rather than completed from "now".
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, date, datetime, timedelta, tzinfo

from dateutil import parser as _du_parser
from dateutil import tz as _du_tz

__all__ = ["parse_datetime"]

#: Strings longer than this are not dates (and would only slow the fallback parser down).
_MAX_DATE_CHARS = 100

# Epoch values above this (in absolute value) are taken as milliseconds: 1e11 s is the year 5138.
_EPOCH_MS_THRESHOLD = 1e11

_HOURS = 3600

#: Zone abbreviations seen in feeds. Only unambiguous-enough ones; an unknown name counts as UTC
#: (the same rule as for naive times), never as the local zone of the machine.
_ZONE_OFFSETS: dict[str, int] = {
    "UT": 0,
    "UTC": 0,
    "GMT": 0,
    "Z": 0,
    "WET": 0,
    "WEST": 1 * _HOURS,
    "BST": 1 * _HOURS,
    "CET": 1 * _HOURS,
    "MET": 1 * _HOURS,
    "CEST": 2 * _HOURS,
    "MEST": 2 * _HOURS,
    "EET": 2 * _HOURS,
    "EEST": 3 * _HOURS,
    "MSK": 3 * _HOURS,
    "IST": 5 * _HOURS + 1800,
    "HKT": 8 * _HOURS,
    "SGT": 8 * _HOURS,
    "AWST": 8 * _HOURS,
    "JST": 9 * _HOURS,
    "KST": 9 * _HOURS,
    "ACST": 9 * _HOURS + 1800,
    "AEST": 10 * _HOURS,
    "AEDT": 11 * _HOURS,
    "NZST": 12 * _HOURS,
    "NZDT": 13 * _HOURS,
    "AST": -4 * _HOURS,
    "ADT": -3 * _HOURS,
    "EST": -5 * _HOURS,
    "EDT": -4 * _HOURS,
    "CST": -6 * _HOURS,
    "CDT": -5 * _HOURS,
    "MST": -7 * _HOURS,
    "MDT": -6 * _HOURS,
    "PST": -8 * _HOURS,
    "PDT": -7 * _HOURS,
    "AKST": -9 * _HOURS,
    "AKDT": -8 * _HOURS,
    "HST": -10 * _HOURS,
}

# Two reference "defaults" that differ in year, month and day: a string that leaves any of them unset
# parses differently under the two and is rejected (dateutil would otherwise fill them from today).
_DEFAULT_A = datetime(2000, 1, 1)
_DEFAULT_B = datetime(2004, 2, 2)

_DIGITS = re.compile(r"[+-]?\d+(\.\d+)?")
# "2021-05-28 10:00:00 +0000 UTC" (Go's default format) and similar doubled zone designators.
_TRAILING_ZONE_NAME = re.compile(r"([+-]\d{2}:?\d{2})\s+[A-Z]{2,5}$")


def _tzinfos(name: str | None, offset: int | None) -> tzinfo | None:
    """dateutil zone callback: numeric offsets as given, known names from the table, others None (UTC)."""
    if offset is not None:
        return _du_tz.tzoffset(name, offset)
    if name is not None:
        seconds = _ZONE_OFFSETS.get(name.upper())
        if seconds is not None:
            return _du_tz.tzoffset(name, seconds)
    return None


def _to_utc(value: datetime) -> datetime | None:
    try:
        if value.tzinfo is None or value.utcoffset() is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):  # e.g. year 1 with a positive offset
        return None


def _from_epoch(seconds: float) -> datetime | None:
    if not math.isfinite(seconds):
        return None
    if abs(seconds) >= _EPOCH_MS_THRESHOLD:
        seconds /= 1000.0
    try:
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    except (OverflowError, ValueError):
        return None


def _from_struct(value: time.struct_time | tuple[object, ...]) -> datetime | None:
    fields = [f for f in tuple(value)[:6] if isinstance(f, int) and not isinstance(f, bool)]
    if len(fields) < 6:
        return None
    year, month, day, hour, minute, second = fields
    try:
        # struct_time allows a leap second (60); datetime does not.
        return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except (OverflowError, ValueError):
        return None


def _parse_string(text: str) -> datetime | None:
    text = text.strip()
    if not text or len(text) > _MAX_DATE_CHARS:
        return None
    if _DIGITS.fullmatch(text):
        # 8 digits is a compact date (20210528); longer runs of digits are epoch seconds/milliseconds.
        if len(text.lstrip("+-").split(".")[0]) >= 9:
            return _from_epoch(float(text))
    else:
        iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            return _to_utc(datetime.fromisoformat(iso))
        except ValueError:
            pass
    return _parse_with_dateutil(_TRAILING_ZONE_NAME.sub(r"\1", text))


def _parse_with_dateutil(text: str) -> datetime | None:
    results: list[datetime] = []
    for default in (_DEFAULT_A, _DEFAULT_B):
        try:
            results.append(_du_parser.parse(text, default=default, tzinfos=_tzinfos))
        except (ValueError, OverflowError, TypeError, AttributeError, IndexError):
            # ValueError covers dateutil's ParserError; the others are its known crashes on junk.
            return None
    first, second = results
    if first.date() != second.date():
        return None  # year, month or day missing from the string
    return _to_utc(first)


def parse_datetime(value: object) -> datetime | None:
    """Any common date representation → timezone-aware UTC datetime; None when it is not a date.

    Accepted: ``datetime`` (naive means UTC), ``date`` (midnight UTC), ``time.struct_time`` or a
    9-tuple as feedparser gives them (UTC), epoch seconds or milliseconds as int/float/digit string,
    and strings in RFC 822/1123/2822, ISO 8601 / W3C-DTF and the usual human formats
    ("May 28, 2021", "28 May 2021 10:00 EST", "2021/05/28"). Never raises.
    """
    try:
        if value is None or isinstance(value, bool):
            return None
        if isinstance(value, datetime):
            return _to_utc(value)
        if isinstance(value, date):
            return datetime(value.year, value.month, value.day, tzinfo=UTC)
        if isinstance(value, time.struct_time | tuple):
            return _from_struct(value)
        if isinstance(value, int | float):
            return _from_epoch(float(value))
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str):
            return _parse_string(value)
    except RecursionError:  # pragma: no cover - pathological inputs only
        return None
    return None
