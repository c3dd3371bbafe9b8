"""The input layer: command-line arguments → :class:`InputRef` → :class:`RawArticle` / :class:`Rejection`.

* :func:`check_input_arg` validates one argument at the CLI edge.
* :func:`expand_input` turns one argument (file, directory, glob, URL, OPML file or URL) into refs.
* :func:`read_input` reads one ref. It never raises; every record of the input (a line, an item, a
  feed entry, the whole file) becomes exactly one RawArticle or Rejection, and an input with no
  records at all becomes exactly one Rejection.

Input kinds are chosen by extension, with content sniffing where the extension lies or is missing:

==========================  =====================================================================
``.txt .text .md .markdown``  one article: first non-empty line is the title (``#`` stripped for
                              Markdown, YAML front matter read), the rest the body
``.jsonl .ndjson``            one article per line (an object)
``.json``                     an object, an array of objects, a wrapper ``{"articles": [...]}``, or
                              a JSON Feed (1.0/1.1); JSON Lines in a .json file are read as such
``.html .htm .xhtml``         a page: main text and metadata via trafilatura
``.xml .rss .atom .rdf``      a feed, parsed by feedparser (RSS 0.9x/1.0/2.0, Atom 0.3/1.0, CDF)
``.opml``                     the feeds it lists, each read in turn
``.gz .bz2 .xz`` (any inner)  decompressed (bounded by ``max_bytes``), then read by the inner name
http(s) URLs                  fetched; read as feed, JSON Feed, OPML or HTML page by content
==========================  =====================================================================

Rejection reasons (``Rejection.reason``), besides the HTTP ones of :mod:`feedflow.core.fetch`:

``file_not_found``      the path (or glob) names nothing
``unreadable_file``     permission denied, a directory, a FIFO/device, an I/O error
``empty_directory``     a directory argument with no readable input files in it
``too_large``           over ``ReadConfig.max_bytes`` on disk or once decompressed; a feed with more
                        than ``max_feed_entries`` entries; a record longer than ``max_record_chars``
``bad_compression``     a corrupt gzip/bzip2/xz stream
``empty_file``          no bytes, or only whitespace (``empty_response`` for a URL)
``binary_file``         NUL bytes or mostly control bytes, and not a known feed encoding
``invalid_encoding``    text or JSON that is not UTF-8 (a BOM, also UTF-16/32, is allowed)
``bad_json``            a JSON document or JSON line that does not parse (locator ``line N``)
``bad_record``          JSON that is not an object, or an object with no title/body field
``no_records``          a well-formed container with nothing in it (``[]``, ``{"items": []}``)
``no_main_text``        an HTML page in which trafilatura finds no main text
``not_a_feed``          a body that is no RSS/Atom/RDF feed (feedparser's bozo exception in detail)
``malformed_feed``      recognisably a feed, but broken before any entry could be read
``empty_feed``          a valid feed with no entries
``feed_parser_error``   feedparser itself crashed on the body
``bad_opml``            OPML that does not parse, or whose root is not ``<opml>``
``empty_opml``          OPML listing no feed (no ``xmlUrl``)
``nested_opml``         an OPML listed inside an OPML being read (not followed)
``unsupported_input``   an input no reader fits (e.g. XML that is neither feed, page nor OPML)
``unsupported_url_scheme``  a URL other than http(s) (``file://`` is read as a path, except in an
                            OPML fetched over HTTP: data from the network never names local files)
``internal_error``      a bug: an exception escaped a reader (detail has its type and message)
"""

from __future__ import annotations

import bz2
import glob
import gzip
import io
import itertools
import json
import lzma
import os
import re
import stat
import xml.etree.ElementTree as StdET
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from html import unescape as _unescape_entities
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit
from urllib.request import url2pathname

import defusedxml
import defusedxml.ElementTree as DefusedET
import feedparser

from feedflow.config import ReadConfig
from feedflow.core.dates import parse_datetime
from feedflow.core.excerpt import excerpt
from feedflow.core.fetch import FetchResult, fetch_url
from feedflow.core.html import extract_page, html_to_paragraphs
from feedflow.model import KIND_FEED, KIND_HTML, KIND_JSON, KIND_TEXT, InputRef, RawArticle, Rejection

__all__ = ["check_input_arg", "expand_input", "read_input"]

# --------------------------------------------------------------------------------------------------
# Kinds and extensions

_TEXT = "text"
_MARKDOWN = "markdown"
_JSONL = "jsonl"
_JSON = "json"
_HTML = "html"
_FEED = "feed"
_OPML = "opml"

_EXTENSION_KINDS: Mapping[str, str] = {
    ".txt": _TEXT,
    ".text": _TEXT,
    ".md": _MARKDOWN,
    ".markdown": _MARKDOWN,
    ".mdown": _MARKDOWN,
    ".jsonl": _JSONL,
    ".ndjson": _JSONL,
    ".json": _JSON,
    ".html": _HTML,
    ".htm": _HTML,
    ".xhtml": _HTML,
    ".xml": _FEED,
    ".rss": _FEED,
    ".atom": _FEED,
    ".rdf": _FEED,
    ".opml": _OPML,
}
_COMPRESSED_EXTENSIONS = frozenset({".gz", ".gzip", ".bz2", ".xz"})
#: Files never taken from a directory or glob (besides hidden ones).
_IGNORED_NAMES = frozenset({"thumbs.db", "desktop.ini", "icon\r"})
_IGNORED_SUFFIXES = ("~", ".swp", ".swo", ".tmp", ".part", ".crdownload", ".pyc")

_MAX_DETAIL = 300
_SNIFF_BYTES = 4096
_BINARY_SAMPLE = 8192
#: Share of control bytes above which a sample counts as binary.
_BINARY_CONTROL_RATIO = 0.10
#: A first line longer than this is a paragraph, not a title: the body keeps it.
_MAX_TITLE_CHARS = 300

_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)
#: Starts of XML documents in wide or EBCDIC encodings (without BOM), which feedparser can read.
_WIDE_XML_STARTS: tuple[tuple[bytes, str], ...] = (
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00?\x00", "utf-16-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"\x4c\x6f\xa7\x94", "cp037"),
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13)) + b"\x7f"

_FEED_ROOTS = frozenset({"rss", "feed", "rdf", "channel"})
_HTML_ROOTS = frozenset(
    {
        "html", "head", "body", "p", "div", "span", "article", "section", "main", "header", "table",
        "h1", "h2", "h3", "h4", "h5", "h6", "meta", "title", "script", "style", "link", "ul", "ol",
        "br", "img", "a", "b", "i", "em", "strong", "form", "nav", "center", "font", "iframe",
    }
)  # fmt: skip
_ROOT_TAG = re.compile(r"<([A-Za-z_][\w:.\-]*)")
_DOCTYPE = re.compile(r"<!DOCTYPE\s+([\w:.\-]+)", re.IGNORECASE)
_GLOB_MAGIC = re.compile(r"[*?\[]")
_ENTRY_TAG = re.compile(rb"<(?:[A-Za-z_][\w.\-]*:)?(?:item|entry)[\s/>]")
#: ``data:``, ``javascript:``, ``mailto:`` …: a scheme without ``//`` (one letter is a Windows drive).
_OPAQUE_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")


# --------------------------------------------------------------------------------------------------
# Small helpers


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "…"


def _reject(source: str, reason: str, detail: str, sample: bytes | str = b"", locator: str = "") -> Rejection:
    return Rejection(input=source, locator=locator, reason=reason, detail=_short(detail), excerpt=excerpt(sample))


def _describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _is_http_url(arg: str) -> bool:
    return urlsplit(arg).scheme.lower() in ("http", "https") if "://" in arg else False


def _url_scheme(arg: str) -> str | None:
    """The scheme of ``arg`` when it is URL-like (``x://``), None for paths (also ``C:\\...``)."""
    match = re.match(r"([A-Za-z][A-Za-z0-9+.\-]*)://", arg)
    return match.group(1).lower() if match else None


def _user_given(ref: InputRef) -> bool:
    """Whether the user named this URL (a command-line argument, an OPML or list file of their own),
    as opposed to a URL found in fetched data (an OPML served over HTTP): only the former may point
    at loopback or private addresses (see :mod:`feedflow.core.fetch`)."""
    return not _is_http_url(ref.origin) or ref.origin == ref.location


def _file_url_to_path(url: str) -> str:
    parts = urlsplit(url)
    path = url2pathname(unquote(parts.path))
    if parts.netloc and parts.netloc != "localhost":
        path = f"//{parts.netloc}{path}"
    return path


def _extension(name: str) -> str:
    return os.path.splitext(name)[1].lower()


def _strip_compression_extension(name: str) -> str:
    root, ext = os.path.splitext(name)
    return root if ext.lower() in _COMPRESSED_EXTENSIONS else name


def _kind_from_name(name: str) -> str | None:
    return _EXTENSION_KINDS.get(_extension(name))


def _clean_str(value: object) -> str | None:
    if isinstance(value, str):
        value = " ".join(value.split())
        return value or None
    return None


# --------------------------------------------------------------------------------------------------
# Bytes: size, compression, encoding, sniffing


def _decode_utf(data: bytes) -> str | tuple[int, str]:
    """UTF-8 (or UTF-16/32 with a BOM) → str; on failure ``(byte offset, message)``."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom) :].decode(encoding)
            except UnicodeDecodeError as error:
                return len(bom) + error.start, f"invalid {encoding} at byte {len(bom) + error.start}"
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start, f"not UTF-8: invalid byte 0x{data[error.start]:02x} at byte {error.start}"


def _encoding_reject(source: str, data: bytes, failure: tuple[int, str], locator: str = "") -> Rejection:
    offset, message = failure
    return _reject(source, "invalid_encoding", message, data[max(0, offset - 40) : offset + 80], locator)


def _is_binary(data: bytes) -> bool:
    sample = data[:_BINARY_SAMPLE]
    if not sample:
        return False
    if any(sample.startswith(bom) for bom, _ in _BOMS) or any(
        sample.startswith(start) for start, _ in _WIDE_XML_STARTS
    ):
        return False
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL_BYTES))
    return controls / len(sample) > _BINARY_CONTROL_RATIO


def _head_text(data: bytes) -> str:
    """The start of ``data`` decoded just well enough to look at its structure."""
    head = data[:_SNIFF_BYTES]
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(encoding, "ignore")
    for start, encoding in _WIDE_XML_STARTS:
        if head.startswith(start):
            return head.decode(encoding, "ignore")
    return head.decode("utf-8", "ignore")


def _root_tag(text: str) -> tuple[str | None, str | None]:
    """``(doctype name, first element name)``, both lowercased (prefix kept); None where not found."""
    pos = 0
    length = len(text)
    doctype: str | None = None
    while pos < length:
        while pos < length and text[pos].isspace():
            pos += 1
        if text.startswith("<?", pos):
            end = text.find("?>", pos)
            if end < 0:
                break
            pos = end + 2
        elif text.startswith("<!--", pos):
            end = text.find("-->", pos)
            if end < 0:
                break
            pos = end + 3
        elif text.startswith("<!", pos):
            match = _DOCTYPE.match(text, pos)
            if match:
                doctype = match.group(1).lower()
            close = text.find(">", pos)
            bracket = text.find("[", pos)
            if 0 <= bracket < close:
                close = text.find("]", bracket)
                close = text.find(">", close) if close >= 0 else -1
            if close < 0:
                break
            pos = close + 1
        else:
            element = _ROOT_TAG.match(text, pos)
            return doctype, element.group(1).lower() if element else None
    return doctype, None


def _sniff(data: bytes) -> str:
    """One of "empty", "binary", "json", "opml", "feed", "html", "xml", "text"."""
    if _is_binary(data):
        return "binary"
    text = _head_text(data).lstrip("\ufeff \t\r\n\x0c")
    if not text:
        return "empty" if not data.strip() else "text"
    if text[0] in "{[":
        return _JSON
    if text[0] != "<":
        return _TEXT
    doctype, root = _root_tag(text)
    local = root.rsplit(":", 1)[-1] if root else None
    if local == "opml":
        return _OPML
    if local in _FEED_ROOTS:
        return _FEED
    if local in _HTML_ROOTS or doctype == "html":
        return _HTML
    return "xml"


def _is_whitespace_only(data: bytes) -> bool:
    if not data.strip():
        return True
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return not data[len(bom) :].decode(encoding, "ignore").strip()
    return False


def _load_file(path: str, max_bytes: int) -> bytes | Rejection:
    try:
        info = os.stat(path)
    except FileNotFoundError as error:
        return _reject(path, "file_not_found", error.strerror or "no such file", path)
    except OSError as error:
        return _reject(path, "unreadable_file", _describe_error(error), path)
    if stat.S_ISDIR(info.st_mode):
        return _reject(path, "unreadable_file", "is a directory", path)
    if not stat.S_ISREG(info.st_mode):
        return _reject(path, "unreadable_file", "not a regular file (FIFO, socket or device)", path)
    if info.st_size > max_bytes:
        return _reject(path, "too_large", f"{info.st_size} bytes exceeds the limit of {max_bytes}", path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(max_bytes + 1)
    except FileNotFoundError as error:
        return _reject(path, "file_not_found", error.strerror or "no such file", path)
    except OSError as error:
        return _reject(path, "unreadable_file", _describe_error(error), path)
    if len(data) > max_bytes:
        return _reject(path, "too_large", f"file exceeds the limit of {max_bytes} bytes", data[:200])
    return data


def _compression_of(data: bytes) -> str | None:
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"BZh") and data[3:4].isdigit() and data[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bzip2"
    if data.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return None


def _bounded_read(method: str, data: bytes, limit: int) -> bytes:
    """At most ``limit`` decompressed bytes: the decompressors inflate in bounded steps, never more."""
    buffer = io.BytesIO(data)
    if method == "gzip":
        with gzip.GzipFile(fileobj=buffer, mode="rb") as gz:
            return gz.read(limit)
    if method == "bzip2":
        with bz2.BZ2File(buffer, mode="rb") as bz:
            return bz.read(limit)
    with lzma.LZMAFile(buffer, mode="rb") as xz:
        return xz.read(limit)


def _decompress(data: bytes, source: str, max_bytes: int) -> bytes | Rejection | None:
    """Decompressed ``data`` (at most ``max_bytes``), None when not compressed, or a Rejection."""
    method = _compression_of(data)
    if method is None:
        return None
    try:
        output = _bounded_read(method, data, max_bytes + 1)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, ValueError) as error:
        return _reject(source, "bad_compression", f"corrupt {method} data: {_describe_error(error)}", data[:64])
    if len(output) > max_bytes:
        return _reject(
            source, "too_large", f"decompressed {method} data exceeds the limit of {max_bytes} bytes", output[:200]
        )
    return output


# --------------------------------------------------------------------------------------------------
# Sources


@dataclass(frozen=True, slots=True)
class _Source:
    """Bytes of one input, with where they came from."""

    input: str
    data: bytes
    name: str
    fetch: FetchResult | None = None
    ref_title: str | None = None
    opml_depth: int = 0
    config: ReadConfig = field(default_factory=ReadConfig)

    @property
    def url(self) -> str | None:
        return self.fetch.final_url if self.fetch is not None else None

    @property
    def fetched_at(self) -> datetime | None:
        return self.fetch.fetched_at if self.fetch is not None else None

    @property
    def feed_url(self) -> str | None:
        """For a fetched feed: the URL asked for, or the new one after a permanent redirect."""
        if self.fetch is None:
            return None
        return self.fetch.final_url if self.fetch.permanent_redirect else self.fetch.url


# --------------------------------------------------------------------------------------------------
# Plain text and Markdown

_BLANK_RUN = re.compile(r"\n[ \t\f\v]*(?:\n[ \t\f\v]*)+")
_SETEXT_UNDERLINE = re.compile(r"^(=+|-+)\s*$")
_ATX_CLOSE = re.compile(r"\s+#+\s*$")
_FRONT_MATTER_KEY = re.compile(r"^([A-Za-z_][\w\-]*)\s*:\s*(.*)$")


def _unquote_yaml(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value.strip()


def _front_matter(text: str) -> tuple[dict[str, Any], str]:
    """A leading YAML front matter block (simple ``key: value`` and ``- item`` lists) and the rest."""
    if not text.startswith("---\n"):
        return {}, text
    lines = text.split("\n")
    for end in range(1, min(len(lines), 200)):
        if lines[end].strip() in ("---", "..."):
            break
    else:
        return {}, text
    meta: dict[str, Any] = {}
    key: str | None = None
    for line in lines[1:end]:
        item = re.match(r"^\s+-\s+(.*)$", line) or re.match(r"^-\s+(.*)$", line)
        if item and key is not None:
            current = meta.get(key)
            values = current if isinstance(current, list) else []
            values.append(_unquote_yaml(item.group(1)))
            meta[key] = values
            continue
        match = _FRONT_MATTER_KEY.match(line)
        if match:
            key = match.group(1).lower()
            raw = match.group(2).strip()
            if raw.startswith("[") and raw.endswith("]"):
                meta[key] = [_unquote_yaml(v) for v in raw[1:-1].split(",") if v.strip()]
            elif raw:
                meta[key] = _unquote_yaml(raw)
    return meta, "\n".join(lines[end + 1 :])


def _front_value(meta: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _normalize_body(text: str) -> str | None:
    lines = [line.rstrip() for line in text.split("\n")]
    body = _BLANK_RUN.sub("\n\n", "\n".join(lines)).strip("\n")
    return body if body.strip() else None


def _read_text(source: _Source, markdown: bool) -> Iterator[RawArticle | Rejection]:
    decoded = _decode_utf(source.data)
    if isinstance(decoded, tuple):
        yield _encoding_reject(source.input, source.data, decoded)
        return
    text = decoded.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        yield _reject(source.input, "empty_file", "only whitespace", source.data)
        return
    meta: dict[str, Any] = {}
    if markdown:
        meta, text = _front_matter(text)
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    title = _front_value(meta, "title")
    body_start = 0
    if first is not None:
        line = lines[first].strip()
        underline = first + 1 < len(lines) and bool(_SETEXT_UNDERLINE.match(lines[first + 1].strip()))
        heading = line
        if markdown and line.startswith("#"):
            heading = _ATX_CLOSE.sub("", line.lstrip("#")).strip()
        if title is None and len(heading) <= _MAX_TITLE_CHARS:
            title = heading or None
            body_start = first + (2 if markdown and underline else 1)
        elif title is not None and heading == title:
            body_start = first + (2 if markdown and underline else 1)
        else:
            body_start = first
    body = _normalize_body("\n".join(lines[body_start:]))
    authors = meta.get("authors", meta.get("author"))
    author_list = [authors] if isinstance(authors, str) else authors if isinstance(authors, list) else []
    published = _front_value(meta, "date", "published", "pubdate", "published_at")
    yield RawArticle(
        input=source.input,
        locator="",
        kind=KIND_TEXT,
        url=_front_value(meta, "url", "link", "canonical_url", "permalink") or source.url,
        title=title,
        text=body,
        summary=_front_value(meta, "summary", "description", "excerpt"),
        published=parse_datetime(published) if published else None,
        authors=tuple(a for a in (_clean_str(x) for x in author_list) if a),
        source=_front_value(meta, "source", "site", "publisher"),
        language_hint=_front_value(meta, "language", "lang"),
        fetched_at=source.fetched_at,
    )


# --------------------------------------------------------------------------------------------------
# JSON and JSON Lines

_URL_KEYS = ("url", "link", "href", "permalink", "canonical_url", "canonicalurl", "web_url", "weburl")
_TITLE_KEYS = ("title", "headline", "heading")
_TEXT_KEYS = ("text", "content_text", "plain_text", "body_text", "articlebody", "article_body",
              "full_text", "fulltext")  # fmt: skip
_HTML_KEYS = ("html", "content_html", "body_html", "html_content")
_BODY_KEYS = ("content", "body", "article", "story")
_SUMMARY_KEYS = ("summary", "abstract", "excerpt", "lede", "snippet", "teaser")
_PUBLISHED_KEYS = ("published", "date", "published_at", "publishedat", "pubdate", "pub_date",
                   "datepublished", "date_published", "publication_date", "published_date",
                   "created_at", "createdat", "created", "timestamp", "time", "updated", "updated_at",
                   "date_modified", "datemodified", "modified")  # fmt: skip
_SOURCE_KEYS = ("source", "source_name", "site", "site_name", "sitename", "publisher", "outlet")
_AUTHOR_KEYS = ("authors", "author", "byline", "creator", "creators", "writer")
_GUID_KEYS = ("guid", "id", "uuid", "_id", "article_id", "doc_id")
_LANGUAGE_KEYS = ("language", "lang", "locale", "language_code")
_WRAPPER_KEYS = ("articles", "items", "entries", "records", "data", "results", "posts", "stories",
                 "documents", "docs")  # fmt: skip
_LOOKS_LIKE_HTML = re.compile(
    r"<(?:p|br|div|span|a|b|i|em|strong|ul|ol|li|h[1-6]|img|blockquote|table|figure|section|article)\b"
    r"[^>]*>|</[a-zA-Z][a-zA-Z0-9]*\s*>",
    re.IGNORECASE,
)


def _first(obj: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = obj.get(key)
        if value is not None and value != "" and value != []:
            return value
    return None


def _as_text(value: Any) -> str | None:
    """A str, or a list of str (paragraphs), or a number → text; anything else → None."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        joined = "\n\n".join(v.strip() for v in value if v.strip())
        return joined or None
    if isinstance(value, dict):
        for key in ("value", "text", "html", "#text"):
            if isinstance(value.get(key), str):
                return _as_text(value[key])
    return None


def _as_id(value: Any) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(value)
    return _clean_str(value)


def _named(value: Any) -> str | None:
    """A name from a str or from an object with a name/title field."""
    if isinstance(value, dict):
        for key in ("name", "title", "display_name", "id", "url", "email"):
            name = _clean_str(value.get(key))
            if name:
                return name
        return None
    return _clean_str(value)


def _authors_of(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list) else [value]
    names: dict[str, None] = {}
    for item in items:
        name = _named(item)
        if name:
            names.setdefault(name, None)
    return tuple(names)


def _record_from_object(obj: Mapping[str, Any], source: _Source, locator: str) -> RawArticle | Rejection:
    folded: dict[str, Any] = {}
    for key, value in obj.items():
        if isinstance(key, str):
            folded.setdefault(key.strip().lower(), value)
    title = _clean_str(_as_text(_first(folded, _TITLE_KEYS)))
    text = _as_text(_first(folded, _TEXT_KEYS))
    html = _as_text(_first(folded, _HTML_KEYS))
    summary = _as_text(_first(folded, _SUMMARY_KEYS))
    description = _as_text(folded.get("description"))
    if text is None and html is None:
        body = _as_text(_first(folded, _BODY_KEYS))
        if body is None and description is not None:
            body, description = description, None
        if body is not None:
            if _LOOKS_LIKE_HTML.search(body):
                html = body
            else:
                text = body
    if summary is None and description is not None:
        summary = description
    if title is None and text is None and html is None and summary is None:
        keys = ", ".join(sorted(str(k) for k in obj)[:12]) or "none"
        return _reject(
            source.input,
            "bad_record",
            f"object has no title or body field (keys: {keys})",
            json.dumps(obj, ensure_ascii=False, default=str)[:400],
            locator,
        )
    published: datetime | None = None
    for key in _PUBLISHED_KEYS:
        if key in folded:
            published = parse_datetime(folded[key])
            if published is not None:
                break
    if html is not None and text is not None:
        html = None  # exactly one body: plain text wins when a record carries both
    return RawArticle(
        input=source.input,
        locator=locator,
        kind=KIND_JSON,
        url=_clean_str(_first(folded, _URL_KEYS)) or None,
        guid=_as_id(_first(folded, _GUID_KEYS)),
        title=title,
        text=text,
        html=html,
        summary=summary,
        published=published,
        authors=_authors_of(_first(folded, _AUTHOR_KEYS)),
        source=_named(_first(folded, _SOURCE_KEYS)),
        language_hint=_clean_str(_first(folded, _LANGUAGE_KEYS)),
        fetched_at=source.fetched_at,
    )


def _record(value: Any, source: _Source, locator: str) -> RawArticle | Rejection:
    if not isinstance(value, dict):
        return _reject(
            source.input,
            "bad_record",
            f"expected a JSON object, found {_json_type(value)}",
            json.dumps(value, ensure_ascii=False, default=str)[:400],
            locator,
        )
    return _record_from_object(value, source, locator)


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__


def _bad_json(source: _Source, error: Exception, sample: bytes | str, locator: str) -> Rejection:
    if isinstance(error, json.JSONDecodeError):
        detail = f"invalid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        sample = error.doc[max(0, error.pos - 40) : error.pos + 80]
    elif isinstance(error, RecursionError):
        detail = "invalid JSON: nested too deeply"
    else:
        detail = f"invalid JSON: {_describe_error(error)}"
    return _reject(source.input, "bad_json", detail, sample, locator)


def _read_jsonl(source: _Source) -> Iterator[RawArticle | Rejection]:
    data = source.data
    lines: list[bytes | str]
    wide = next((enc for bom, enc in _BOMS[1:] if data.startswith(bom)), None)
    if wide is not None:
        decoded = _decode_utf(data)
        if isinstance(decoded, tuple):
            yield _encoding_reject(source.input, data, decoded)
            return
        lines = list(decoded.split("\n"))
    else:
        lines = list((data[3:] if data.startswith(b"\xef\xbb\xbf") else data).split(b"\n"))
    produced = False
    for number, raw in enumerate(lines, start=1):
        locator = f"line {number}"
        if isinstance(raw, bytes):
            if not raw.strip():
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                produced = True
                yield _reject(
                    source.input,
                    "invalid_encoding",
                    f"not UTF-8: invalid byte 0x{raw[error.start]:02x} at byte {error.start} of the line",
                    raw[max(0, error.start - 40) : error.start + 80],
                    locator,
                )
                continue
        else:
            line = raw
        if not line.strip():
            continue
        produced = True
        try:
            value = json.loads(line)
        except (ValueError, RecursionError) as error:
            yield _bad_json(source, error, line, locator)
            continue
        yield _record(value, source, locator)
    if not produced:
        yield _reject(source.input, "empty_file", "no JSON lines", data)


def _is_json_feed(value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    version = value.get("version")
    if isinstance(version, str) and "jsonfeed.org/version" in version:
        return True
    return isinstance(value.get("items"), list) and ("home_page_url" in value or "feed_url" in value)


def _read_json(source: _Source) -> Iterator[RawArticle | Rejection]:
    decoded = _decode_utf(source.data)
    if isinstance(decoded, tuple):
        yield _encoding_reject(source.input, source.data, decoded)
        return
    text = decoded.lstrip("\ufeff")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # several documents: JSON Lines in a .json file
            yield from _read_jsonl(source)
            return
        yield _bad_json(source, error, text, f"line {error.lineno}")
        return
    except (ValueError, RecursionError) as error:
        yield _bad_json(source, error, text, "")
        return
    if _is_json_feed(value):
        yield from _read_json_feed(value, source)
        return
    if isinstance(value, dict):
        record = _record_from_object(value, source, "")
        folded = {k.lower(): v for k, v in value.items() if isinstance(k, str)}
        wrapped = next((folded[k] for k in _WRAPPER_KEYS if isinstance(folded.get(k), list)), None)
        if isinstance(record, RawArticle) or wrapped is None:
            yield record
            return
        value = wrapped  # {"articles": [...]}: an API response wrapping the records
    if not isinstance(value, list):
        yield _record(value, source, "")
        return
    items: list[Any] = value
    if not items:
        yield _reject(source.input, "no_records", "no items in the JSON array", text)
        return
    for index, item in enumerate(items):
        yield _record(item, source, f"item {index}")


# --------------------------------------------------------------------------------------------------
# JSON Feed (https://jsonfeed.org/version/1, /1.1): feedparser 6.0 does not read it


def _json_feed_authors(obj: Mapping[str, Any]) -> tuple[str, ...]:
    authors = obj.get("authors")
    if isinstance(authors, list):
        return _authors_of(authors)
    return _authors_of(obj.get("author")) if obj.get("author") is not None else ()


def _plain_title(value: Any) -> str | None:
    """A JSON Feed title: plain text by the spec, yet publishers leave HTML entities in it."""
    title = _clean_str(value)
    return _clean_str(_unescape_entities(title)) if title and "&" in title else title


def _read_json_feed(feed: Mapping[str, Any], source: _Source) -> Iterator[RawArticle | Rejection]:
    items = feed.get("items")
    if not isinstance(items, list):
        yield _reject(source.input, "not_a_feed", "JSON Feed without an items array", json.dumps(feed)[:200])
        return
    if not items:
        yield _reject(source.input, "empty_feed", "JSON Feed with no items", json.dumps(feed)[:200])
        return
    if len(items) > source.config.max_feed_entries:
        limit = source.config.max_feed_entries
        yield _reject(source.input, "too_large", f"{len(items)} JSON Feed items, more than {limit}", source.data)
        return
    feed_authors = _json_feed_authors(feed)
    feed_language = _clean_str(feed.get("language"))
    feed_url = source.feed_url or _clean_str(feed.get("feed_url")) or source.input
    for index, item in enumerate(items):
        locator = f"entry {index}"
        if not isinstance(item, dict):
            yield _reject(
                source.input, "bad_record", f"JSON Feed item is {_json_type(item)}, not an object",
                json.dumps(item, default=str)[:200], locator,
            )  # fmt: skip
            continue
        html = _as_text(item.get("content_html"))
        text = None if html is not None else _as_text(item.get("content_text"))
        published = parse_datetime(item.get("date_published")) or parse_datetime(item.get("date_modified"))
        url = _clean_str(item.get("url")) or _clean_str(item.get("external_url"))
        if url and source.url:
            url = urljoin(source.url, url)
        yield RawArticle(
            input=source.input,
            locator=locator,
            kind=KIND_FEED,
            url=url,
            guid=_as_id(item.get("id")),
            title=_plain_title(item.get("title")),
            text=text,
            html=html,
            summary=_as_text(item.get("summary")),
            published=published,
            authors=_json_feed_authors(item) or feed_authors,
            feed_url=feed_url,
            language_hint=_clean_str(item.get("language")) or feed_language,
            fetched_at=source.fetched_at,
        )


# --------------------------------------------------------------------------------------------------
# RSS / Atom / RDF via feedparser

_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_BENIGN_BOZO = (feedparser.ThingsNobodyCaresAboutButMe, feedparser.UndeclaredNamespace)
#: Response headers not to hand to feedparser: the body we pass is already decoded and complete.
_DROPPED_HEADERS = frozenset({"content-encoding", "content-length", "transfer-encoding"})


def _detail_text(value: Any, detail: Any) -> str | None:
    """A feedparser text construct as plain text (HTML-typed titles are converted)."""
    if not isinstance(value, str) or not value.strip():
        return None
    kind = detail.get("type", "") if isinstance(detail, Mapping) else ""
    if kind in _HTML_TYPES or kind.endswith("html"):
        return _clean_str(" ".join(html_to_paragraphs(value)))
    return _clean_str(value)


def _raw(entry: Mapping[str, Any], key: str) -> Any:
    """``entry[key]`` or None, bypassing FeedParserDict's key aliases (it answers "summary" with the
    entry's content when there is no summary)."""
    if isinstance(entry, dict):
        return dict.get(entry, key)
    return entry.get(key)


def _entry_body(entry: Mapping[str, Any]) -> tuple[str | None, str | None, bool]:
    """``(html, text, from_summary)``: the fullest content, HTML preferred, else the summary."""
    contents = [c for c in entry.get("content") or [] if isinstance(c, Mapping)]
    html_parts = [c for c in contents if str(c.get("type", "")).lower() in _HTML_TYPES]
    text_parts = [c for c in contents if c not in html_parts]
    for parts, is_html in ((html_parts, True), (text_parts, False)):
        values: list[str] = [c["value"] for c in parts if isinstance(c.get("value"), str) and c["value"].strip()]
        if values:
            best = max(values, key=len)
            if is_html:
                return best, None, False
            return None, best, False
    summary = _raw(entry, "summary")
    if isinstance(summary, str) and summary.strip():
        detail = _raw(entry, "summary_detail")
        detail = detail if isinstance(detail, Mapping) else {}
        kind = str(detail.get("type", "text/html")).lower()
        if kind in _HTML_TYPES or kind.endswith("html"):
            return summary, None, True
        return None, summary, True
    return None, None, False


def _entry_authors(entry: Mapping[str, Any]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for author in entry.get("authors") or []:
        if isinstance(author, Mapping):
            name = _clean_str(author.get("name")) or _clean_str(author.get("email"))
            if name:
                names.setdefault(name, None)
    if not names:
        name = _clean_str(entry.get("author"))
        if name:
            names.setdefault(name, None)
    return tuple(names)


def _entry_published(entry: Mapping[str, Any]) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        published = parse_datetime(_raw(entry, key))
        if published is not None:
            return published
    for key in ("published", "updated", "created", "date"):
        published = parse_datetime(_raw(entry, key))
        if published is not None:
            return published
    return None


def _self_link(links: Any) -> str | None:
    for link in links or []:
        if isinstance(link, Mapping) and link.get("rel") == "self" and _clean_str(link.get("href")):
            return _clean_str(link.get("href"))
    return None


def _alternate_link(links: Any) -> str | None:
    for link in links or []:
        if isinstance(link, Mapping) and link.get("rel", "alternate") == "alternate":
            href = _clean_str(link.get("href"))
            if href:
                return href
    return None


def _feed_parse(source: _Source) -> Any:
    headers: dict[str, str] = {}
    if source.fetch is not None:
        headers = {k: v for k, v in source.fetch.headers if k not in _DROPPED_HEADERS}
        headers.setdefault("content-location", source.fetch.final_url)
    return feedparser.parse(io.BytesIO(source.data), response_headers=headers)


def _read_feed(source: _Source, fallback: str | None) -> Iterator[RawArticle | Rejection]:
    """Entries of an RSS/Atom/RDF feed. ``fallback``: what a body that is no feed becomes instead —
    ``"html"`` (read it as a page), ``"unsupported"`` (``unsupported_input``), or None (``not_a_feed``)."""
    limit = source.config.max_feed_entries
    if sum(1 for _ in itertools.islice(_ENTRY_TAG.finditer(source.data), limit + 1)) > limit:
        yield _reject(source.input, "too_large", f"more than {limit} feed entries", source.data)
        return
    try:
        parsed = _feed_parse(source)
    except Exception as error:  # noqa: BLE001 - feedparser has crashed on odd bodies before
        yield _reject(source.input, "feed_parser_error", _describe_error(error), source.data)
        return
    entries = [e for e in parsed.get("entries") or [] if isinstance(e, Mapping)]
    version = parsed.get("version") or ""
    if not version and _sniff(source.data) == _FEED:
        version = "cdf" if _root_tag(_head_text(source.data).lstrip("\ufeff"))[1] == "channel" else "feed"
    bozo = parsed.get("bozo_exception") if parsed.get("bozo") else None
    if not entries:
        broken = bozo is not None and not isinstance(bozo, _BENIGN_BOZO)
        if version and not broken:
            yield _reject(source.input, "empty_feed", f"{version} feed with no entries", source.data)
        elif version:
            yield _reject(source.input, "malformed_feed", f"{version} feed, no entry readable: {bozo}", source.data)
        elif fallback == "html":
            why = _describe_error(bozo) if bozo is not None else "no RSS, Atom or RDF root element"
            yield from _read_html(source, "not_a_feed", f"neither a feed ({why}) nor an HTML page with main text")
        elif fallback == "unsupported":
            yield _reject(
                source.input, "unsupported_input", "XML that is neither a feed, an HTML page nor OPML",
                source.data,
            )  # fmt: skip
        else:
            why = _describe_error(bozo) if bozo is not None else "no RSS, Atom or RDF root element"
            yield _reject(source.input, "not_a_feed", why, source.data)
        return
    feed = parsed.get("feed") or {}
    feed_language = _clean_str(feed.get("language"))
    feed_authors = _entry_authors(feed) if str(version).startswith("atom") else ()
    # A fetched feed is known by the URL asked for; a local one by its rel=self link, else its path.
    feed_url = source.feed_url if source.fetch is not None else (_self_link(feed.get("links")) or source.input)
    # A guid repeated within one feed does not identify an entry: as Miniflux does, such entries are
    # known by guid + link instead.
    guid_counts = Counter(_clean_str(entry.get("id")) for entry in entries)
    for index, entry in enumerate(entries):
        html, text, from_summary = _entry_body(entry)
        summary = None
        if not from_summary:
            raw_summary = _raw(entry, "summary")
            if raw_summary is not None and raw_summary not in (html, text):
                summary = _detail_text(raw_summary, _raw(entry, "summary_detail"))
        url = _clean_str(entry.get("link")) or _alternate_link(entry.get("links"))
        language = None
        for content in entry.get("content") or []:
            if isinstance(content, Mapping) and _clean_str(content.get("language")):
                language = _clean_str(content.get("language"))
                break
        guid = _clean_str(entry.get("id"))
        if guid is not None and guid_counts[guid] > 1:
            guid = f"{guid} {url or ''}".strip()
        yield RawArticle(
            input=source.input,
            locator=f"entry {index}",
            kind=KIND_FEED,
            url=url,
            guid=guid,
            title=_detail_text(entry.get("title"), entry.get("title_detail")),
            text=text,
            html=html,
            summary=summary,
            published=_entry_published(entry),
            authors=_entry_authors(entry) or feed_authors,
            feed_url=feed_url,
            language_hint=language or feed_language,
            fetched_at=source.fetched_at,
        )


# --------------------------------------------------------------------------------------------------
# HTML pages


def _read_html(
    source: _Source,
    not_found_reason: str = "no_main_text",
    not_found_detail: str = "no main text found in the HTML page",
) -> Iterator[RawArticle | Rejection]:
    page = extract_page(source.data, source.url)
    if page is None:
        yield _reject(source.input, not_found_reason, not_found_detail, source.data)
        return
    paragraphs = page.paragraphs
    if len(paragraphs) > 1 and page.title and paragraphs[0] == page.title:
        paragraphs = paragraphs[1:]  # the page's <h1> repeats the title
    yield RawArticle(
        input=source.input,
        locator="",
        kind=KIND_HTML,
        url=page.url or source.url,
        title=page.title or source.ref_title,
        text="\n\n".join(paragraphs),
        summary=page.description,
        published=page.published,
        authors=page.authors,
        language_hint=page.language,
        fetched_at=source.fetched_at,
    )


# --------------------------------------------------------------------------------------------------
# OPML


def _local_name(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1].lower()


def _parse_opml(data: bytes, base: str, base_is_url: bool, origin: str) -> list[InputRef | Rejection]:
    """The feeds an OPML document lists, in document order (nested outlines included), deduplicated.

    ``xmlUrl`` values that are relative URLs or paths resolve against ``base`` (the OPML's URL, or
    the OPML file's folder).
    """
    try:
        root = DefusedET.fromstring(data)
    except (StdET.ParseError, defusedxml.DefusedXmlException, ValueError, UnicodeError, LookupError) as error:
        # LookupError: an unknown encoding in the XML declaration (found by `make fuzz`)
        return [_reject(base, "bad_opml", f"OPML does not parse: {_describe_error(error)}", data)]
    if _local_name(root.tag) != "opml":
        return [_reject(base, "bad_opml", f"root element is <{_local_name(root.tag)}>, not <opml>", data)]
    results: list[InputRef | Rejection] = []
    seen: set[str] = set()
    for index, outline in enumerate(e for e in root.iter() if _local_name(e.tag) == "outline"):
        attributes = {str(k).lower(): v for k, v in outline.attrib.items()}
        location = (attributes.get("xmlurl") or "").strip()
        if not location and attributes.get("type", "").lower() in ("rss", "atom", "feed"):
            location = (attributes.get("url") or "").strip()
        if not location:
            continue
        title = _clean_str(attributes.get("title")) or _clean_str(attributes.get("text"))
        opaque = _OPAQUE_SCHEME.match(location)
        scheme = _url_scheme(location) or (opaque.group(1).lower() if opaque else None)
        ref: InputRef | Rejection
        if scheme in ("http", "https"):
            ref = InputRef(location=location, is_url=True, origin=origin, title=title)
        elif scheme == "file" and base_is_url:
            ref = _reject(
                location, "unsupported_url_scheme", f"file URL in OPML fetched from {base}: never read",
                location, f"outline {index}",
            )  # fmt: skip
        elif scheme == "file":
            ref = InputRef(location=_file_url_to_path(location), origin=origin, title=title)
        elif scheme is not None:
            ref = _reject(
                location, "unsupported_url_scheme", f"scheme {scheme!r} in OPML {base}", location,
                f"outline {index}",
            )  # fmt: skip
        elif base_is_url:
            ref = InputRef(location=urljoin(base, location), is_url=True, origin=origin, title=title)
        else:
            path = os.path.normpath(os.path.join(os.path.dirname(base), os.path.expanduser(location)))
            ref = InputRef(location=path, origin=origin, title=title)
        key = ref.location if isinstance(ref, InputRef) else ref.input
        if key in seen:
            continue
        seen.add(key)
        results.append(ref)
    if not results:
        return [_reject(base, "empty_opml", "OPML lists no feed (no outline with an xmlUrl)", data)]
    return results


def _read_opml(source: _Source) -> Iterator[RawArticle | Rejection]:
    """An OPML given straight to read_input: read every feed it lists (one level deep)."""
    if source.opml_depth > 0:
        yield _reject(source.input, "nested_opml", "OPML listed inside an OPML is not followed", source.data)
        return
    base = source.url or source.input
    for ref in _parse_opml(source.data, base, source.fetch is not None, source.input):
        if isinstance(ref, Rejection):
            yield ref
        else:
            yield from _read_ref(ref, source.config, opml_depth=source.opml_depth + 1)


# --------------------------------------------------------------------------------------------------
# Dispatch


_BINARY_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "an executable"),
)


def _binary_kind(data: bytes) -> str:
    for magic, name in _BINARY_MAGIC:
        if data.startswith(magic):
            return name
    compressed = _compression_of(data)
    if compressed is not None:
        return f"{compressed} data nested inside a compressed file"
    return "NUL or control bytes"


def _dispatch(source: _Source) -> Iterator[RawArticle | Rejection]:
    data = source.data
    is_url = source.fetch is not None
    if not data or _is_whitespace_only(data):
        reason = "empty_response" if is_url else "empty_file"
        yield _reject(source.input, reason, "no content" if not data else "only whitespace", data)
        return
    sniffed = _sniff(data)
    if sniffed == "binary":
        yield _reject(source.input, "binary_file", f"binary content ({_binary_kind(data)})", data)
        return
    kind = _kind_from_name(source.name)
    content_type = source.fetch.content_type if source.fetch is not None else ""
    if kind in (_TEXT, _MARKDOWN):
        yield from _read_text(source, markdown=kind == _MARKDOWN)
    elif kind == _JSONL:
        yield from _read_jsonl(source)
    elif sniffed == _OPML or kind == _OPML:
        yield from _read_opml(source)
    elif sniffed == _JSON:
        yield from _read_json(source)
    elif sniffed == _FEED:
        yield from _read_feed(source, fallback=None)
    elif sniffed == _HTML:
        yield from _read_html(source)
    elif kind == _JSON or content_type.endswith("json"):
        yield from _read_json(source)
    elif kind == _HTML:
        yield from _read_html(source)
    elif kind == _FEED:
        yield from _read_feed(source, fallback="html" if is_url else None)
    elif is_url and sniffed == _TEXT and content_type in ("text/plain", "text/markdown"):
        yield from _read_text(source, markdown=content_type == "text/markdown")
    elif is_url:
        yield from _read_feed(source, fallback="html")
    elif sniffed == "xml":
        yield from _read_feed(source, fallback="unsupported")
    else:
        yield from _read_text(source, markdown=False)


def _read_url(ref: InputRef, config: ReadConfig, opml_depth: int) -> Iterator[RawArticle | Rejection]:
    result = fetch_url(ref.location, config.fetch, user_given=_user_given(ref))
    if isinstance(result, Rejection):
        yield result
        return
    yield from _read_fetched(ref.location, result, config, ref.title, opml_depth)


def _read_fetched(
    location: str, result: FetchResult, config: ReadConfig, title: str | None, opml_depth: int
) -> Iterator[RawArticle | Rejection]:
    data = result.body
    name = os.path.basename(urlsplit(result.final_url).path)
    decompressed = _decompress(data, location, config.max_bytes)
    if isinstance(decompressed, Rejection):
        yield decompressed
        return
    if decompressed is not None:
        data, name = decompressed, _strip_compression_extension(name)
    yield from _dispatch(_Source(location, data, name, result, title, opml_depth=opml_depth, config=config))


def read_fetched(
    location: str, result: FetchResult, config: ReadConfig, title: str | None = None
) -> Iterator[RawArticle | Rejection]:
    """The records of a body fetched by the caller (the ingester does its own conditional GETs):
    like :func:`read_input` for a URL, without fetching. Never raises."""
    try:
        for record in _read_fetched(location, result, config, title, 0):
            yield _bounded(record, config)
    except Exception as error:  # noqa: BLE001 - same contract as read_input: report, never raise
        yield _reject(location, "internal_error", _describe_error(error), location)


def _read_file(ref: InputRef, config: ReadConfig, opml_depth: int) -> Iterator[RawArticle | Rejection]:
    path = ref.location
    if _url_scheme(path) == "file":
        path = _file_url_to_path(path)
    loaded = _load_file(path, config.max_bytes)
    if isinstance(loaded, Rejection):
        yield loaded
        return
    name = os.path.basename(path)
    decompressed = _decompress(loaded, path, config.max_bytes)
    if isinstance(decompressed, Rejection):
        yield decompressed
        return
    data = loaded
    if decompressed is not None:
        data, name = decompressed, _strip_compression_extension(name)
    yield from _dispatch(_Source(path, data, name, None, ref.title, opml_depth=opml_depth, config=config))


def _read_ref(ref: InputRef, config: ReadConfig, opml_depth: int = 0) -> Iterator[RawArticle | Rejection]:
    if ref.is_url or _is_http_url(ref.location):
        yield from _read_url(ref, config, opml_depth)
        return
    scheme = _url_scheme(ref.location)
    if scheme not in (None, "file"):
        yield _reject(
            ref.location, "unsupported_url_scheme", f"scheme {scheme!r}: only http(s) and files", ref.location
        )
        return
    yield from _read_file(ref, config, opml_depth)


def _bounded(record: RawArticle | Rejection, config: ReadConfig) -> RawArticle | Rejection:
    """A record over ``max_record_chars`` (title, text, HTML, summary together) as a ``too_large`` reject."""
    if isinstance(record, Rejection):
        return record
    size = sum(len(part) for part in (record.title, record.text, record.html, record.summary) if part)
    if size <= config.max_record_chars:
        return record
    sample = record.text or record.html or record.summary or ""
    return _reject(
        record.input, "too_large", f"{size} characters exceeds the limit of {config.max_record_chars} per record",
        sample[:1000], record.locator,
    )  # fmt: skip


def read_input(ref: InputRef, config: ReadConfig) -> Iterator[RawArticle | Rejection]:
    """Every record of one input as a RawArticle or a Rejection, in input order. Never raises.

    An input that yields nothing of its own (which the readers avoid) still gets one Rejection; an
    exception escaping a reader (a bug) ends the input with one ``internal_error`` Rejection.
    """
    produced = False
    try:
        for record in _read_ref(ref, config):
            produced = True
            yield _bounded(record, config)
    except Exception as error:  # noqa: BLE001 - read_input's contract: never raise, report instead
        produced = True
        yield _reject(ref.location, "internal_error", _describe_error(error), ref.location)
    if not produced:
        yield _reject(ref.location, "no_records", "the input produced no records", ref.location)


# --------------------------------------------------------------------------------------------------
# Expansion of command-line arguments


def check_input_arg(arg: str) -> str | None:
    """A one-line error when ``arg`` cannot name any input, else None (URLs are not checked here)."""
    if not arg or not arg.strip():
        return "empty input argument"
    scheme = _url_scheme(arg)
    if scheme in ("http", "https"):
        return None
    if scheme == "file":
        arg = _file_url_to_path(arg)
    elif scheme is not None:
        return f"{arg}: unsupported URL scheme {scheme!r} (only http and https URLs, or paths)"
    if os.path.lexists(arg):
        return None
    if _GLOB_MAGIC.search(arg):
        if any(True for _ in glob.iglob(arg, recursive=True)):
            return None
        return f"{arg}: no file matches this pattern"
    return f"{arg}: no such file or directory"


def _skipped_name(name: str) -> bool:
    lowered = name.lower()
    return name.startswith(".") or lowered in _IGNORED_NAMES or lowered.endswith(_IGNORED_SUFFIXES)


def _walk(directory: str) -> tuple[list[str], list[Rejection]]:
    """Every non-hidden file under ``directory``, sorted by path; unreadable folders as Rejections."""
    files: list[str] = []
    problems: list[Rejection] = []

    def on_error(error: OSError) -> None:
        where = error.filename if isinstance(error.filename, str) else directory
        problems.append(_reject(where, "unreadable_file", _describe_error(error), where))

    for folder, dirnames, filenames in os.walk(directory, onerror=on_error, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(os.path.join(folder, f) for f in filenames if not _skipped_name(f))
    files.sort(key=lambda p: os.path.relpath(p, directory).split(os.sep))
    return files, problems


def _might_be_opml(path: str) -> bool:
    ext = _extension(_strip_compression_extension(os.path.basename(path)))
    if ext == ".opml":
        return True
    if ext not in (".xml", "") and ext in _EXTENSION_KINDS:
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError:
        return False
    return _sniff(head) == _OPML


def _file_refs(path: str, origin: str, config: ReadConfig) -> Iterator[InputRef | Rejection]:
    if not _might_be_opml(path):
        yield InputRef(location=path, origin=origin)
        return
    loaded = _load_file(path, config.max_bytes)
    if isinstance(loaded, Rejection):
        yield loaded
        return
    decompressed = _decompress(loaded, path, config.max_bytes)
    if isinstance(decompressed, Rejection):
        yield decompressed
        return
    yield from _parse_opml(decompressed if decompressed is not None else loaded, path, False, origin)


def _url_refs(url: str, config: ReadConfig) -> Iterator[InputRef | Rejection]:
    if not urlsplit(url).path.lower().endswith(".opml"):
        yield InputRef(location=url, is_url=True, origin=url)
        return
    result = fetch_url(url, config.fetch, user_given=True)  # a command-line argument
    if isinstance(result, Rejection):
        yield result
        return
    yield from _parse_opml(result.body, result.final_url, True, url)


def expand_input(arg: str, config: ReadConfig) -> Iterator[InputRef | Rejection]:
    """One command-line argument → the inputs it names, each once, in a deterministic order.

    A file gives one ref; a directory every file below it (sorted; hidden files and folders and
    editor/OS litter skipped); a glob (``**`` allowed) its sorted matches; an http(s) URL one ref;
    an OPML file (by ``.opml`` extension or an ``<opml>`` root) or an ``.opml`` URL one ref per feed it
    lists. An input reached twice (a feed in a folder and in an OPML there) is given once, first
    place wins. Problems (missing path, empty folder, bad OPML) come out as Rejections.
    """
    seen: set[tuple[str, bool]] = set()
    for item in _expand(arg, config):
        if isinstance(item, InputRef):
            key = (os.path.normpath(item.location) if not item.is_url else item.location, item.is_url)
            if key in seen:
                continue
            seen.add(key)
        yield item


def _expand(arg: str, config: ReadConfig) -> Iterator[InputRef | Rejection]:
    scheme = _url_scheme(arg)
    if scheme in ("http", "https"):
        yield from _url_refs(arg, config)
        return
    if scheme == "file":
        arg = _file_url_to_path(arg)
    elif scheme is not None:
        yield _reject(arg, "unsupported_url_scheme", f"scheme {scheme!r}: only http and https", arg)
        return
    if os.path.isdir(arg):
        yield from _directory_refs(arg, arg, config)
    elif os.path.lexists(arg):
        yield from _file_refs(arg, arg, config)
    elif _GLOB_MAGIC.search(arg):
        matches = sorted(glob.glob(arg, recursive=True))
        if not matches:
            yield _reject(arg, "file_not_found", "no file matches this pattern", arg)
        for match in matches:
            if os.path.isdir(match):
                yield from _directory_refs(match, arg, config)
            elif not _skipped_name(os.path.basename(match)):
                yield from _file_refs(match, arg, config)
    else:
        yield _reject(arg, "file_not_found", "no such file or directory", arg)


def _directory_refs(directory: str, origin: str, config: ReadConfig) -> Iterator[InputRef | Rejection]:
    files, problems = _walk(directory)
    yield from problems
    if not files and not problems:
        yield _reject(directory, "empty_directory", "no input files in this directory", directory)
    for path in files:
        yield from _file_refs(path, origin, config)
