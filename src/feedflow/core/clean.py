"""Text cleaning: raw article text or HTML → a list of clean paragraphs.

Rules, applied to every paragraph (and to titles, as one line):

1. Mojibake is repaired with ftfy, but only where ftfy's own badness check flags the text
   (``ftfy.badness.is_bad``): fixing every string costs more than the rest of cleaning together.
2. Unicode NFC; control and format characters (C0/C1 controls, zero-width spaces, BOMs, bidi
   overrides) removed; every run of whitespace collapsed to one space. Typographic quotes are kept.
3. A leading bullet glyph or list marker (``•``, ``·``, ``▪``, ``●``, ``‣``, ``►``, ``-``, ``*``, ``+``,
   …, followed by a space) is stripped: "• Official says…" → "Official says…".
4. Paragraphs that are empty, contain no letter or digit, or are boilerplate only are dropped.
   Boilerplate is matched after folding case and punctuation, against ``DEFAULT_BOILERPLATE`` below
   (or ``CleanConfig.boilerplate_lines``): "Advertisement", "Share this article", "Read more", …

Plain text is split into paragraphs at blank lines; inside a block, a line that starts with a bullet
starts a new paragraph and other line breaks are joined with a space (hard-wrapped text). HTML goes
through :func:`feedflow.core.html.html_to_paragraphs` first.

Cleaning is idempotent: ``clean_paragraphs(clean_paragraphs(x)) == clean_paragraphs(x)``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

import ftfy
from ftfy.badness import is_bad

from feedflow.config import CleanConfig

#: Lines dropped as boilerplate (compared after :func:`fold_line`). Kept short and literal on purpose:
#: cross-article boilerplate ("Sign up for our newsletter…" repeated per source) is a dedup concern.
DEFAULT_BOILERPLATE: frozenset[str] = frozenset(
    {
        "advertisement",
        "advertising",
        "ad",
        "sponsored",
        "sponsored content",
        "skip advertisement",
        "story continues below advertisement",
        "article continues below advertisement",
        "continue reading",
        "continue reading below",
        "continue reading the main story",
        "read more",
        "read more here",
        "click here",
        "share",
        "share this",
        "share this article",
        "share this story",
        "share on facebook",
        "share on twitter",
        "tweet",
        "email",
        "print",
        "comments",
        "view comments",
        "related articles",
        "related stories",
        "related",
        "most read",
        "follow us",
        "subscribe",
        "sign up",
        "scroll to continue",
        "scroll down for video",
        "video",
        "watch",
        "listen",
        "image",
        "photo",
        "loading",
        "getty images",
    }
)

_BULLET = re.compile(r"^(?:[•·▪▫◦‣∙●○■□◆◇►▸▶➢➤✓✔\-–—*+]\s+)+")
_BULLET_LINE = re.compile(r"^\s*[•·▪▫◦‣∙●○■□◆◇►▸▶➢➤✓✔\-–—*+]\s+")
_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")
_FOLD = re.compile(r"[\W_]+")
_HAS_WORD = re.compile(r"[^\W_]")


def _drop_controls(text: str) -> str:
    """Controls (Cc) become spaces; format, surrogate, private-use and unassigned characters go."""
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            out.append(ch)
            continue
        category = unicodedata.category(ch)
        if category == "Cc":
            out.append(" ")
        elif category[0] != "C":
            out.append(ch)
    return "".join(out)


def _needs_control_scan(text: str) -> bool:
    return not text.isprintable()


def clean_line(text: str) -> str:
    """Clean one line of text: mojibake, NFC, controls, whitespace, a leading bullet.

    Applied until nothing changes (at most four passes), so that cleaning is idempotent even where
    one repair uncovers another (ftfy on text that was mojibake twice, a bullet behind a control)."""
    return _clean_ascii(text) if text.isascii() else _clean_general(text)


def _clean_general(text: str) -> str:
    for _ in range(4):
        cleaned = _clean_once(text)
        if cleaned == text:
            break
        text = cleaned
    return text


#: Non-ASCII characters of plain news typography that no pattern of ftfy's badness check can match
#: without some other non-ASCII character (quotes, dashes, ellipsis, spaces, bullet, guillemets, ©®™).
SAFE_TYPOGRAPHY = (
    "\u00a0\u2009\u202f\u2013\u2014\u2015\u2026\u2018\u2019\u201a\u201c\u201d\u201e\u2022\u00b7"
    "\u00ab\u00bb\u2039\u203a\u00a9\u00ae\u2122"
)
_MAYBE_BAD = re.compile("[^\x00-\x7f" + SAFE_TYPOGRAPHY + "]")


def _clean_once(text: str) -> str:
    if not text:
        return ""
    # Every pattern of ftfy's badness check needs a non-ASCII character other than plain typography, so
    # text without one is never bad (checked for every triple of ASCII and SAFE_TYPOGRAPHY characters in
    # tests/test_fastpaths.py); the check costs ~13 µs a paragraph, the scan for such a character ~1 µs.
    if _MAYBE_BAD.search(text) and is_bad(text):
        text = ftfy.fix_text(text, normalization="NFC", uncurl_quotes=False)
    text = unicodedata.normalize("NFC", text)
    if _needs_control_scan(text):
        text = _drop_controls(text)
    text = " ".join(text.split())  # whitespace runs → one space: split() and \s both mean str.isspace()
    return _BULLET.sub("", text)


#: ASCII controls that are not whitespace → space (what ``_drop_controls`` does to them).
_ASCII_CONTROLS = str.maketrans({c: " " for c in (*range(32), 127) if not chr(c).isspace()})


def _clean_ascii(text: str) -> str:
    """:func:`clean_line` of ASCII text in one pass (~90% of news paragraphs; 3-4x faster): ftfy and
    NFC change no ASCII text, its only controls are the C0 ones and DEL, and whitespace is collapsed by
    ``split``, which splits on exactly the characters ``\\s`` matches. The result is a fixed point (no
    controls, no whitespace runs, no leading bullet), so the general loop's second pass would change
    nothing. tests/test_fastpaths.py checks both paths agree."""
    if not text.isprintable():
        text = text.translate(_ASCII_CONTROLS)
    return _BULLET.sub("", " ".join(text.split()))


def fold_line(text: str) -> str:
    """Case- and punctuation-folded form used to compare against the boilerplate list."""
    return _FOLD.sub(" ", text.casefold()).strip()


_ASCII_ALNUM = bytes(c for c in range(128) if chr(c).isalnum())


def folds_longer_than(text: str, length: int) -> bool:
    """Whether ``fold_line(text)`` is surely longer than ``length``, told without folding: for ASCII
    text the fold keeps every letter and digit (lower-cased), so more of them than ``length`` is
    enough. False means "fold it and see" (non-ASCII text: casefold can change lengths)."""
    if not text.isascii() or len(text) <= length:
        return False
    return len(text) - len(text.encode("ascii").translate(None, _ASCII_ALNUM)) > length


def split_text(text: str) -> list[str]:
    """Split plain text into raw paragraphs: blank lines separate them, bullets start new ones."""
    out: list[str] = []
    for block in _BLANK_LINES.split(text.replace("\r\n", "\n").replace("\r", "\n")):
        current: list[str] = []
        for line in block.split("\n"):
            if _BULLET_LINE.match(line) and current:
                out.append(" ".join(current))
                current = []
            if line.strip():
                current.append(line.strip())
        if current:
            out.append(" ".join(current))
    return out


def clean_paragraphs(paragraphs: Iterable[str], config: CleanConfig | None = None) -> list[str]:
    """Clean each paragraph and drop empty, wordless and boilerplate ones (order kept)."""
    boilerplate = (config.boilerplate_lines if config else frozenset()) or DEFAULT_BOILERPLATE
    min_chars = config.min_paragraph_chars if config else 1
    longest = max(map(len, boilerplate))
    out: list[str] = []
    for raw in paragraphs:
        text = clean_line(raw)
        if len(text) < min_chars or not _HAS_WORD.search(text):
            continue
        if not folds_longer_than(text, longest) and fold_line(text) in boilerplate:
            continue
        out.append(text)
    return out


def clean_text(text: str, config: CleanConfig | None = None) -> list[str]:
    """Plain text → clean paragraphs."""
    return clean_paragraphs(split_text(text), config)


def clean_title(title: str | None) -> str | None:
    """A title as one clean line, or None when nothing is left."""
    if not title:
        return None
    return clean_line(title) or None


def first_words(paragraphs: Sequence[str], limit: int = 200) -> str:
    """A short excerpt of a body (used in reject details)."""
    text = " ".join(paragraphs)
    return text if len(text) <= limit else text[: limit - 1] + "…"
