"""HTML → text: feed-entry fragments to paragraphs (lxml), whole pages to main text (trafilatura).

Both functions are total: garbage in gives ``[]`` / ``None`` out, never an exception.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

import lxml.etree  # type: ignore[import-untyped]  # no stubs in the env; see report
import lxml.html  # type: ignore[import-untyped]

from feedflow.core.dates import parse_datetime

__all__ = ["BLOCK_TAGS", "DROP_TAGS", "MIN_MAIN_TEXT_WORDS", "PageContent", "extract_page", "html_to_paragraphs"]

#: Elements whose start and end end the current paragraph.
BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "caption", "center", "dd", "details",
        "dialog", "dir", "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form",
        "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "html", "legend", "li",
        "listing", "main", "menu", "nav", "ol", "p", "plaintext", "pre", "section", "summary",
        "table", "tbody", "tfoot", "thead", "tr", "ul", "xmp",
    }
)  # fmt: skip
#: Elements dropped with everything inside them.
DROP_TAGS = frozenset(
    {
        "script", "style", "noscript", "iframe", "template", "head", "title", "meta", "link",
        "object", "embed", "applet", "svg", "math", "canvas", "select", "option", "button",
        "textarea", "input", "frameset", "frame", "noembed", "noframes", "param", "source", "track",
    }
)  # fmt: skip
#: Table cells: separated from each other by a space within their row's paragraph.
_CELL_TAGS = frozenset({"td", "th"})

_WHITESPACE = re.compile(r"\s+")
# Characters libxml2 refuses in a Python string: C0 controls other than \t \n \r, and surrogates.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _local_tag(element: lxml.etree._Element) -> str | None:
    tag = element.tag
    if not isinstance(tag, str):  # comments, processing instructions, entities
        return None
    if "}" in tag:
        tag = tag.rsplit("}", 1)[1]
    return tag.lower()


def _parse_fragment(fragment: str) -> lxml.etree._Element | None:
    cleaned = _XML_INVALID.sub(" ", fragment)
    if not cleaned.strip():
        return None
    parser = lxml.html.HTMLParser(
        remove_comments=True, remove_pis=True, no_network=True, recover=True, encoding="utf-8", huge_tree=True
    )
    try:
        root = lxml.html.document_fromstring(cleaned.encode("utf-8"), parser=parser)
    except (lxml.etree.ParserError, lxml.etree.XMLSyntaxError, ValueError):
        return None
    return root if root is not None else None


class _ParagraphBuilder:
    """Accumulates text runs into paragraphs, tracking pending <br> runs."""

    __slots__ = ("_buffer", "_pending_breaks", "paragraphs")

    def __init__(self) -> None:
        self.paragraphs: list[str] = []
        self._buffer: list[str] = []
        self._pending_breaks = 0

    def text(self, text: str | None) -> None:
        if not text:
            return
        if text.isspace():
            if self._buffer:
                self._buffer.append(" ")
            return
        if self._pending_breaks >= 2:
            self.flush()
        elif self._pending_breaks == 1:
            self._buffer.append(" ")
        self._pending_breaks = 0
        self._buffer.append(text)

    def line_break(self) -> None:
        if self._buffer:
            self._pending_breaks += 1

    def space(self) -> None:
        if self._buffer:
            self._buffer.append(" ")

    def flush(self) -> None:
        self._pending_breaks = 0
        if self._buffer:
            paragraph = _WHITESPACE.sub(" ", "".join(self._buffer)).strip()
            self._buffer.clear()
            if paragraph:
                self.paragraphs.append(paragraph)


#: Block and cell elements of trafilatura's own XML (what ``bare_extraction`` returns as ``body``).
_EXTRACTED_BLOCKS = frozenset({"body", "doc", "main", "p", "head", "list", "item", "table", "row", "quote",
                               "code", "div", "figure", "caption", "note"})  # fmt: skip
_EXTRACTED_CELLS = frozenset({"cell"})
_EXTRACTED_DROP = frozenset({"graphic", "comments"})
_LINE_BREAKS = frozenset({"br", "lb"})


def _paragraphs_of(
    root: lxml.etree._Element,
    blocks: frozenset[str] = BLOCK_TAGS,
    cells: frozenset[str] = _CELL_TAGS,
    drops: frozenset[str] = DROP_TAGS,
) -> list[str]:
    builder = _ParagraphBuilder()
    walker = lxml.etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        tag = _local_tag(element)
        if event == "start":
            if tag is None:
                continue
            if tag in drops:
                walker.skip_subtree()
                continue
            if tag in blocks:
                builder.flush()
            elif tag in cells:
                builder.space()
            builder.text(element.text)
        else:
            if tag in _LINE_BREAKS:
                builder.line_break()
            elif tag in blocks:
                builder.flush()
            elif tag in cells or tag == "img":
                builder.space()
            if element is not root:
                builder.text(element.tail)
    builder.flush()
    return builder.paragraphs


def html_to_paragraphs(fragment: str) -> list[str]:
    """An HTML fragment (a feed entry's content) → its paragraphs of plain text.

    Block elements (p, div, li, h1–h6, blockquote, pre, tr, figcaption …) end a paragraph; a run of
    two or more ``<br>`` splits one, a single ``<br>`` becomes a space; script, style, noscript,
    iframe and other non-text elements are dropped with their content; entities are decoded and
    whitespace (including non-breaking spaces) collapsed. Never raises; ``[]`` when there is no text.
    """
    if not isinstance(fragment, str) or not fragment:
        return []
    try:
        root = _parse_fragment(fragment)
        if root is None:
            return []
        return _paragraphs_of(root)
    except (lxml.etree.LxmlError, ValueError, RecursionError):
        return []


# --------------------------------------------------------------------------------------------------
# Whole pages


@dataclass(frozen=True, slots=True)
class PageContent:
    """The main content of an HTML page and its metadata, as extracted by trafilatura."""

    title: str | None
    published: datetime | None
    authors: tuple[str, ...]
    url: str | None
    paragraphs: tuple[str, ...]
    description: str | None = None
    sitename: str | None = None
    language: str | None = None

    @property
    def text(self) -> str:
        """The paragraphs joined by blank lines."""
        return "\n\n".join(self.paragraphs)


#: Meta tags that carry an article's publication time, most trustworthy first.
_DATE_META = (
    ("property", "article:published_time"),
    ("itemprop", "datePublished"),
    ("name", "article:published_time"),
    ("property", "og:published_time"),
    ("name", "parsely-pub-date"),
    ("name", "sailthru.date"),
    ("name", "publish-date"),
    ("name", "publishdate"),
    ("name", "pubdate"),
    ("name", "dc.date.issued"),
    ("name", "dcterms.created"),
    ("name", "dc.date"),
    ("name", "date"),
)


def _json_ld_dates(node: object, depth: int = 0) -> list[str]:
    if depth > 8:
        return []
    found: list[str] = []
    if isinstance(node, dict):
        value = node.get("datePublished")
        if isinstance(value, str):
            found.append(value)
        for child in node.values():
            if isinstance(child, dict | list):
                found.extend(_json_ld_dates(child, depth + 1))
    elif isinstance(node, list):
        for child in node:
            found.extend(_json_ld_dates(child, depth + 1))
    return found


def _published_from_markup(tree: lxml.etree._Element) -> datetime | None:
    """The precise publication time from meta tags or JSON-LD (trafilatura keeps only the day)."""
    metas: dict[tuple[str, str], str] = {}
    for meta in tree.iter("meta"):
        content = meta.get("content") or meta.get("datetime")
        if not content:
            continue
        for attribute in ("property", "itemprop", "name"):
            key = (meta.get(attribute) or "").strip().lower()
            if key:
                metas.setdefault((attribute, key), content)
    for attribute, key in _DATE_META:
        value = metas.get((attribute, key.lower()))
        published = parse_datetime(value) if value else None
        if published is not None:
            return published
    for script in tree.iter("script"):
        if (script.get("type") or "").strip().lower() != "application/ld+json" or not script.text:
            continue
        try:
            data = json.loads(script.text)
        except (ValueError, RecursionError):
            continue
        for value in _json_ld_dates(data):
            published = parse_datetime(value)
            if published is not None:
                return published
    for element in tree.iter("time"):
        if element.get("itemprop") == "datePublished" or element.get("pubdate") is not None:
            published = parse_datetime(element.get("datetime") or element.text_content())
            if published is not None:
                return published
    return None


def _split_authors(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    seen: dict[str, None] = {}
    for name in value.split(";"):
        name = " ".join(name.split())
        if name:
            seen.setdefault(name, None)
    return tuple(seen)


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None


def _page_tree(html: bytes | str) -> lxml.etree._Element | None:
    parser = lxml.html.HTMLParser(remove_comments=True, remove_pis=True, no_network=True, recover=True)
    try:
        data = html if isinstance(html, bytes) else _XML_INVALID.sub(" ", html).encode("utf-8")
        if isinstance(html, bytes):
            data = data.replace(b"\x00", b" ")
        root = lxml.html.document_fromstring(data, parser=parser)
    except (lxml.etree.LxmlError, ValueError):
        return None
    return root


def _extracted_paragraphs(document: object) -> tuple[str, ...]:
    """Paragraphs from trafilatura's XML body (list items and table rows one each, ``<lb/>`` as in
    :func:`html_to_paragraphs`), else from its plain-text rendering, one line per paragraph."""
    body = getattr(document, "body", None)
    if isinstance(body, lxml.etree._Element):
        found = _paragraphs_of(body, _EXTRACTED_BLOCKS, _EXTRACTED_CELLS, _EXTRACTED_DROP)
        if found:
            return tuple(found)
    text = getattr(document, "text", None)
    if not isinstance(text, str):
        return ()
    return tuple(p for p in (" ".join(line.split()) for line in text.split("\n")) if p)


#: Fewer words than this in the whole extraction is a stub (a lone "Home" link), not main text.
MIN_MAIN_TEXT_WORDS = 6


def extract_page(html: bytes | str, url: str | None, *, favor_precision: bool = True) -> PageContent | None:
    """A full HTML page → its main text and metadata via trafilatura; None when it has no main text.

    No network access. Paragraphs are trafilatura's text blocks (one per paragraph, heading, list
    item, table row…); ``published`` comes from the page's own metadata (meta tags, JSON-LD, a
    ``<time>`` element) when it is precise there, else from trafilatura's date search; ``url`` is the
    canonical URL when the page declares one, else ``url``. An extraction of fewer than
    :data:`MIN_MAIN_TEXT_WORDS` words counts as no main text. Never raises.
    """
    try:
        import trafilatura  # heavy import (htmldate, justext): only when pages are read

        tree = _page_tree(html)
        if tree is None:
            return None
        own_date = _published_from_markup(tree)
        document = trafilatura.bare_extraction(
            html if isinstance(html, bytes) else _XML_INVALID.sub(" ", html),
            url=url,
            favor_precision=favor_precision,
            include_comments=False,
            include_tables=True,
            include_images=False,
            include_links=False,
            with_metadata=True,
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
        if document is None:
            return None
        paragraphs = _extracted_paragraphs(document)
        if sum(len(p.split()) for p in paragraphs) < MIN_MAIN_TEXT_WORDS:
            return None
        published = own_date or parse_datetime(getattr(document, "date", None))
        language = _clean(getattr(document, "language", None)) or _clean(tree.get("lang"))
        return PageContent(
            title=_clean(getattr(document, "title", None)),
            published=published,
            authors=_split_authors(getattr(document, "author", None)),
            url=_clean(getattr(document, "url", None)) or url,
            paragraphs=paragraphs,
            description=_clean(getattr(document, "description", None)),
            sitename=_clean(getattr(document, "sitename", None)),
            language=language,
        )
    except Exception:  # noqa: BLE001 - trafilatura/htmldate raise assorted errors on odd pages
        return None
