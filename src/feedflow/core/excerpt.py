"""Short, printable excerpts of offending input for reject rows.

An excerpt must be safe to print in a terminal, store in Parquet and read in a query result: one line,
no control characters, invalid bytes visible as ``\\xNN``, and bounded in length.
"""

from __future__ import annotations

import unicodedata

__all__ = ["excerpt"]

_ELLIPSIS = "…"
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
#: Unicode categories escaped: controls, format characters (zero-width, bidi overrides), lone
#: surrogates (from ``surrogateescape``-decoded text), unassigned, private use, and separators other
#: than the plain space (no-break and other odd spaces, line/paragraph separators) — exactly what
#: ``str.isprintable`` refuses.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Cn", "Co", "Zl", "Zp", "Zs"})


def _escape_char(char: str) -> str:
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    if char in " \\" or unicodedata.category(char) not in _ESCAPED_CATEGORIES:
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte smuggled in by surrogateescape: show the byte itself
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def excerpt(data: bytes | str, limit: int = 200) -> str:
    """At most ``limit`` printable characters from the start of ``data``.

    Bytes are decoded as UTF-8 with undecodable bytes shown as ``\\xNN``; control and invisible
    characters are escaped (``\\n``, ``\\x00``, ``\\u200b``); a cut excerpt ends with "…" (counted in
    ``limit``). Escapes are never cut in half. Never raises.
    """
    if limit <= 0:
        return ""
    if isinstance(data, bytes | bytearray | memoryview):
        # Every output character needs at most 4 input bytes; decode no more than that. Undecodable
        # bytes become lone surrogates here, shown as \xNN by _escape_char.
        raw = bytes(data[: limit * 4 + 4])
        text = raw.decode("utf-8", "surrogateescape")
        truncated_input = len(data) > len(raw)
    else:
        text = str(data)[: limit + 1]
        truncated_input = len(data) > len(text)
    pieces: list[str] = []
    used = 0
    complete = True
    for char in text:
        piece = _escape_char(char)
        if used + len(piece) > limit:
            complete = False
            break
        pieces.append(piece)
        used += len(piece)
    if complete and not truncated_input:
        return "".join(pieces)
    while pieces and used + len(_ELLIPSIS) > limit:
        used -= len(pieces.pop())
    return "".join(pieces) + _ELLIPSIS
