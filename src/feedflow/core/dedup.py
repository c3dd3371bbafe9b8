"""Paragraph dedup keys and within-article paragraph dedup.

The dedup key folds away what does not change a paragraph's meaning for duplicate detection, in the
spirit of CCNet's ``normalize_for_dedup`` and datatrove's ``simplify_text``:

* Unicode NFD, then combining marks (accents) removed: "Café" → "cafe";
* case folded; every digit → ``0`` ("May 28, 2021" ≡ "May 29, 2022");
* punctuation and symbols → space; whitespace runs → one space; trimmed.

The key is hashed with BLAKE2b to 64 bits and stored as a signed int64 (Parquet has no uint64 in
every reader). BLAKE2b, not Python's ``hash()``, so keys are stable across processes and runs.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Sequence

from feedflow.model import Paragraph

_DIGITS = re.compile(r"\d")
_NON_WORD = re.compile(r"[\W_]+")
_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


def _without_combining(match: re.Match[str]) -> str:
    return "".join(ch for ch in match.group() if not unicodedata.combining(ch))


#: ASCII bytes → their dedup-key form: letters lower-cased, digits → "0", everything else → space.
_ASCII_FOLD = bytes(
    (ord("0") if chr(b).isdigit() else b | 0x20 if chr(b).isalpha() else b if chr(b).isalnum() else 0x20)
    if b < 0x80
    else b
    for b in range(256)
)


#: Typographic characters of news text that the general path turns into a space anyway (not word
#: characters, unchanged by NFD and case folding: the filter below keeps only such): replacing them
#: first lets text whose only non-ASCII characters are quotes, dashes or spaces take the fast path.
_TYPOGRAPHY = re.compile(
    "["
    + re.escape(
        "".join(
            ch
            for ch in "\u00a0\u2009\u200a\u202f\u3000\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u00ab\u00bb"
            "\u2010\u2011\u2012\u2013\u2014\u2015\u2026\u2022\u00b7\u2032\u2033\u00a3\u20ac\u00a2\u00a5"
            "\u00a9\u00ae\u2122\u00b0\u00a7"
            if unicodedata.normalize("NFD", ch) == ch and ch.casefold() == ch and not re.match(r"\w", ch)
        )
    )
    + "]"
)


def normalize_for_dedup(text: str) -> str:
    """The normalized dedup key of a paragraph (see module docstring)."""
    if not text.isascii():
        text = _TYPOGRAPHY.sub(" ", text)
    if text.isascii():
        # Same result as the general path below for ASCII text (NFD, combining marks and case folding
        # change nothing there but case), by one C-level byte translation: 2-3x faster, and most news
        # paragraphs are ASCII. tests/test_dedup.py checks the two paths agree.
        return b" ".join(text.encode("ascii").translate(_ASCII_FOLD).split()).decode("ascii")
    return _normalize_general(text)


def _normalize_general(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    # Combining marks are never ASCII: only non-ASCII runs are filtered char by char (most news
    # paragraphs are all ASCII; this halves the cost of the key, with the same result).
    stripped = decomposed if decomposed.isascii() else _NON_ASCII.sub(_without_combining, decomposed)
    folded = _DIGITS.sub("0", stripped.casefold())
    return _NON_WORD.sub(" ", folded).strip()


def hash64(text: str) -> int:
    """Signed 64-bit BLAKE2b hash of a string."""
    digest = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def key_hash(text: str) -> int:
    """The 64-bit hash of a paragraph's dedup key."""
    return hash64(normalize_for_dedup(text))


def dedup_paragraphs(texts: Sequence[str]) -> tuple[Paragraph, ...]:
    """Mark later copies of a paragraph (same dedup key) as duplicates of the first; keep all."""
    return dedup_with_hash(texts)[0]


def normalized_body(paragraphs: Sequence[str]) -> str:
    """A body's normalized text, what its MinHash signature shingles: the non-empty dedup keys of its
    paragraphs joined by spaces (the same string as the key of the joined body, made paragraph by
    paragraph so that one non-ASCII paragraph alone takes the slow path; tests/test_fastpaths.py)."""
    return " ".join(key for key in map(normalize_for_dedup, paragraphs) if key)


def dedup_with_hash(texts: Sequence[str]) -> tuple[tuple[Paragraph, ...], str, str]:
    """:func:`dedup_paragraphs`, the :func:`content_hash` of the deduplicated body and the
    :func:`normalized_body` of the deduplicated body, normalizing each paragraph once (the
    normalization is most of the cost of all three)."""
    first: dict[int, int] = {}
    out: list[Paragraph] = []
    keys: list[str] = []
    digest = hashlib.blake2b(digest_size=16)
    for position, text in enumerate(texts):
        normalized = normalize_for_dedup(text)
        key = hash64(normalized)
        duplicate_of = first.get(key)
        out.append(Paragraph(position, text, key, duplicate_of))
        if duplicate_of is None:
            first[key] = position
            digest.update(normalized.encode("utf-8", "surrogatepass"))
            digest.update(b"\n")
            if normalized:
                keys.append(normalized)
    return tuple(out), digest.hexdigest(), " ".join(keys)


def content_hash(paragraphs: Sequence[str]) -> str:
    """Hex BLAKE2b-128 of the deduplicated body's dedup keys: equal for equal content."""
    h = hashlib.blake2b(digest_size=16)
    for text in paragraphs:
        h.update(normalize_for_dedup(text).encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()
