"""The input layer: expand_input, read_input, check_input_arg, plus parse_datetime and excerpt.

Every input kind is read from small fixtures (tests/fixtures) or files made in tmp_path; URLs are served
by the real local HTTP server of conftest.py. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import bz2
import collections
import gzip
import lzma
import os
import re
import shutil
import time
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import LocalHTTPServer
from feedflow.config import FetchConfig, ReadConfig
from feedflow.core.dates import parse_datetime
from feedflow.core.excerpt import excerpt
from feedflow.core.readers import check_input_arg, expand_input, read_input
from feedflow.model import KIND_FEED, KIND_HTML, KIND_JSON, KIND_TEXT, InputRef, RawArticle, Rejection

CONFIG = ReadConfig(fetch=FetchConfig(connect_timeout=2.0, read_timeout=0.5, max_bytes=256 * 1024, allow_private=True))
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def read(location: str | Path, config: ReadConfig = CONFIG, *, url: bool = False) -> list[RawArticle | Rejection]:
    records = list(read_input(InputRef(location=str(location), is_url=url), config))
    assert records, "read_input must yield at least one record"
    for record in records:
        if isinstance(record, Rejection):
            assert SNAKE.match(record.reason), record
            assert record.input and record.detail, record
            assert record.reason != "internal_error", record
            assert isinstance(record.excerpt, str) and "\n" not in record.excerpt
    return records


def articles(records: Iterable[RawArticle | Rejection]) -> list[RawArticle]:
    return [r for r in records if isinstance(r, RawArticle)]


def only(records: list[RawArticle | Rejection]) -> RawArticle:
    assert len(records) == 1 and isinstance(records[0], RawArticle), records
    return records[0]


def rejection(records: list[RawArticle | Rejection], reason: str) -> Rejection:
    assert len(records) == 1 and isinstance(records[0], Rejection), records
    assert records[0].reason == reason, records[0]
    return records[0]


def shape(records: Iterable[RawArticle | Rejection]) -> list[tuple[str, str]]:
    """(locator, "article" or the rejection reason) for each record."""
    return [(r.locator, "article" if isinstance(r, RawArticle) else r.reason) for r in records]


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# ------------------------------------------------------------------------------------------------
# Plain text and Markdown


def test_plain_text(fixtures_dir: Path) -> None:
    article = only(read(fixtures_dir / "article.txt"))
    assert article.kind == KIND_TEXT
    assert article.locator == ""
    assert article.title == "Harbour Bridge Reopens After Repairs"
    assert article.text == (
        "The city's harbour bridge reopened on Monday after six weeks of repairs.\n"
        "Engineers replaced the worn expansion joints.\n\n"
        "Traffic was light in the morning, officials said."
    )
    assert article.html is None and article.url is None and article.published is None


def test_markdown_front_matter(fixtures_dir: Path) -> None:
    article = only(read(fixtures_dir / "article.md"))
    assert article.title == "Council Approves New Cycle Lanes"
    assert article.published == utc(2021, 5, 28, 7, 30)
    assert article.authors == ("Ana Lima", "Ben Okafor")
    assert article.url == "https://news.example.org/cycle-lanes"
    assert article.text is not None and article.text.startswith("The city council approved")
    assert "# Council" not in article.text  # the heading repeating the title is not body


def test_markdown_atx_heading(fixtures_dir: Path) -> None:
    article = only(read(fixtures_dir / "heading.md"))
    assert article.title == "Rain Expected All Week"
    assert article.text == "Forecasters expect rain every day this week.\n\nUmbrellas recommended."


def test_markdown_setext_heading_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "setext.md"
    path.write_bytes(b"Big News\r\n========\r\n\r\nFirst para.\r\n\r\n\r\n\r\nSecond para.\r\n")
    article = only(read(path))
    assert article.title == "Big News"
    assert article.text == "First para.\n\nSecond para."


def test_text_title_only(tmp_path: Path) -> None:
    path = tmp_path / "title.txt"
    path.write_text("Just a headline\n")
    article = only(read(path))
    assert article.title == "Just a headline" and article.text is None


def test_text_long_first_line_is_body_not_title(tmp_path: Path) -> None:
    path = tmp_path / "long.txt"
    first = "word " * 100
    path.write_text(first + "\n\nSecond paragraph.\n")
    article = only(read(path))
    assert article.title is None
    assert (
        article.text is not None and article.text.startswith("word word") and article.text.endswith("Second paragraph.")
    )


@pytest.mark.parametrize(
    ("bom", "encoding"), [(b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")]
)
def test_text_with_bom(tmp_path: Path, bom: bytes, encoding: str) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(bom + "Überschrift\n\nText über Straßen.".encode(encoding))
    article = only(read(path))
    assert article.title == "Überschrift" and article.text == "Text über Straßen."


# ------------------------------------------------------------------------------------------------
# JSON Lines and JSON


def test_jsonl_mixed_good_and_bad(fixtures_dir: Path) -> None:
    records = read(fixtures_dir / "articles.jsonl")
    assert shape(records) == [
        ("line 1", "article"),
        ("line 2", "article"),
        ("line 4", "bad_json"),
        ("line 5", "article"),
        ("line 6", "bad_record"),
        ("line 7", "bad_record"),
        ("line 8", "article"),
    ]
    first, second, fourth, seventh = articles(records)
    assert first.kind == KIND_JSON
    assert first.url == "https://news.example.org/a"
    assert first.title == "First story" and first.text == "Body of the first story." and first.html is None
    assert first.published == utc(2003, 6, 10, 4, 0)
    assert first.source == "Example News"
    assert first.authors == ("Jane Roe", "John Doe")
    assert first.guid == "a-1" and first.language_hint == "en"
    # aliases: link, headline, content (HTML → html), date, author, numeric id
    assert second.url == "https://news.example.org/b" and second.title == "Second story"
    assert second.html == "<p>Second <b>story</b> body.</p>" and second.text is None
    assert second.published == utc(2021, 5, 28) and second.authors == ("Sam Poe",) and second.guid == "42"
    # body alias, epoch published_at, summary, lang
    assert fourth.text == "Fourth body." and fourth.summary == "Short." and fourth.language_hint == "fr"
    assert fourth.published == utc(2021, 5, 28)
    # description as body, pubDate, source object
    assert (
        seventh.text == "Seventh body."
        and seventh.published == utc(2021, 5, 28, 10)
        and seventh.source == "Example Wire"
    )
    bad = [r for r in records if isinstance(r, Rejection)]
    assert "Expecting" in bad[0].detail and "missing brace" in bad[0].excerpt


def test_jsonl_invalid_utf8_line_does_not_stop_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "enc.ndjson"
    path.write_bytes(b'{"title": "ok one"}\n{"title": "bad \xff\xfe"}\n{"title": "ok two"}\n')
    records = read(path)
    assert shape(records) == [("line 1", "article"), ("line 2", "invalid_encoding"), ("line 3", "article")]
    assert "\\xff" in records[1].excerpt  # type: ignore[union-attr]


def test_json_array(fixtures_dir: Path) -> None:
    records = read(fixtures_dir / "articles.json")
    assert shape(records) == [
        ("item 0", "article"),
        ("item 1", "article"),
        ("item 2", "bad_record"),
        ("item 3", "bad_record"),
    ]
    one, two = articles(records)
    assert one.text == "One." and one.published == utc(2021, 5, 28)
    assert two.html == "<p>Two.</p>" and two.published == utc(2021, 5, 28, 15)


def test_json_wrapper_object(fixtures_dir: Path) -> None:
    records = read(fixtures_dir / "wrapped.json")
    one, two = articles(records)
    assert (one.title, one.text, one.summary, one.source, one.authors) == (
        "Wrapped one",
        "Content one.",
        "Desc one.",
        "Wire",
        ("Kim Lee",),
    )
    assert one.published == utc(2024, 3, 1, 12)
    assert two.text == "Desc two." and two.authors == ()


def test_json_single_object(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(
        '{"Title": "Case-insensitive keys", "Body": ["para 1", "para 2"], "datePublished": "2021-05-28T10:00:00+02:00"}'
    )
    article = only(read(path))
    assert article.locator == ""
    assert article.title == "Case-insensitive keys" and article.text == "para 1\n\npara 2"
    assert article.published == utc(2021, 5, 28, 8)


def test_json_wrong_shape(fixtures_dir: Path) -> None:
    assert "numbers" in rejection(read(fixtures_dir / "wrong_shape.json"), "bad_record").detail


@pytest.mark.parametrize(
    ("content", "reason", "locator"),
    [
        ('{"title": "x",\n "text": }', "bad_json", "line 2"),
        ("[]", "no_records", ""),
        ('{"status": "ok", "articles": []}', "no_records", ""),
        ('"just a string"', "bad_record", ""),
        ("42", "bad_record", ""),
        ("[" * 100_000, "bad_json", ""),
    ],
)
def test_json_bad_documents(tmp_path: Path, content: str, reason: str, locator: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert rejection(read(path), reason).locator == locator


def test_json_file_holding_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "lines.json"
    path.write_text('{"title": "a", "text": "A"}\n{"title": "b", "text": "B"}\n')
    assert shape(read(path)) == [("line 1", "article"), ("line 2", "article")]


# ------------------------------------------------------------------------------------------------
# Feeds


def test_rss2_content_encoded(fixtures_dir: Path) -> None:
    records = read(fixtures_dir / "feeds" / "rss2.xml")
    assert shape(records) == [("entry 0", "article"), ("entry 1", "article"), ("entry 2", "article")]
    storm, markets, empty = articles(records)
    assert storm.kind == KIND_FEED
    assert storm.title == "Storm hits coast"
    assert storm.url == "https://wire.example.com/storm" and storm.guid == "wire-1001"
    assert storm.html is not None and "<p>The storm reached the coast on Friday.</p>" in storm.html
    assert "alert" not in storm.html  # feedparser sanitizes scripts away
    assert storm.summary == "A short teaser about the storm."  # description kept apart from content
    assert storm.published == utc(2021, 5, 28, 8)
    assert storm.authors == ("Ana Lima",)
    assert storm.source is None  # feeds declare no source: core.identity uses the registered domain
    assert storm.feed_url == "https://wire.example.com/rss.xml"  # rel=self of a local file
    assert storm.language_hint == "en-us"
    assert storm.fetched_at is None
    assert markets.title == "Markets & rates" and markets.html == "<p>Rates held <b>steady</b>.</p>"
    assert markets.summary is None and markets.authors == ("Ben Okafor",)
    assert empty.html is None and empty.text is None and empty.published is None


def test_atom(fixtures_dir: Path) -> None:
    first, second = articles(read(fixtures_dir / "feeds" / "atom.xml"))
    assert first.source is None  # feeds declare no source: core.identity uses the registered domain
    assert first.html == "<p>Die neue Brücke ist offen.</p>" and first.summary == "Kurzfassung."
    assert first.published == utc(2021, 5, 28, 6)  # published preferred over updated
    assert first.authors == ("Redaktion",)  # inherited from the feed
    assert first.feed_url == "https://nachrichten.example.de/atom.xml"
    assert first.language_hint == "de"
    assert second.text == "Reiner Text ohne Markup." and second.html is None
    assert second.authors == ("Eva Muster",) and second.published == utc(2021, 5, 27, 12)


def test_rdf(fixtures_dir: Path) -> None:
    path = fixtures_dir / "feeds" / "rdf.rdf"
    paper = only(read(path))
    assert paper.title == "Genome of a fungus" and paper.url == "https://science.example.org/p1"
    assert paper.published == utc(2023, 12, 16) and paper.authors == ("Lapalu, N.",)
    assert paper.feed_url == str(path) and paper.language_hint == "en"


def test_json_feed_1_1(fixtures_dir: Path) -> None:
    records = read(fixtures_dir / "feeds" / "jsonfeed.json")
    assert shape(records) == [("entry 0", "article"), ("entry 1", "article"), ("entry 2", "bad_record")]
    second, first = articles(records)
    assert second.kind == KIND_FEED
    assert second.html == "<p>Hello <em>world</em>.</p>" and second.text is None  # HTML preferred
    assert second.summary == "A greeting." and second.guid == "2"
    assert second.published == utc(2021, 5, 28, 17)
    assert second.authors == ("Pat Q",) and second.source is None
    assert second.feed_url == "https://blog.example.com/feed.json" and second.language_hint == "en-GB"
    assert first.text == "Plain text only." and first.guid == "1"
    assert first.published == utc(2021, 5, 27, 10)  # date_modified when no date_published
    assert first.authors == ("Feed Author",)


def test_json_feed_1_0(fixtures_dir: Path) -> None:
    item = only(read(fixtures_dir / "feeds" / "jsonfeed_v1.json"))
    assert item.url == "https://elsewhere.example.com/x" and item.authors == ("Old Style",)
    assert item.feed_url == str(fixtures_dir / "feeds" / "jsonfeed_v1.json")


def test_empty_feed(fixtures_dir: Path) -> None:
    rejection(read(fixtures_dir / "feeds" / "empty_channel.rss"), "empty_feed")


def test_truncated_feed(fixtures_dir: Path) -> None:
    assert "unclosed token" in rejection(read(fixtures_dir / "feeds" / "truncated.xml"), "malformed_feed").detail


def test_truncated_after_entries_keeps_what_was_read(fixtures_dir: Path, tmp_path: Path) -> None:
    text = (fixtures_dir / "feeds" / "rss2.xml").read_text()
    path = tmp_path / "cut.rss"
    path.write_text(text[: text.index("No date, no body")])
    records = read(path)
    assert [a.title for a in articles(records)][:2] == ["Storm hits coast", "Markets & rates"]


def test_xml_that_is_not_a_feed(fixtures_dir: Path) -> None:
    rejection(read(fixtures_dir / "feeds" / "catalog.xml"), "not_a_feed")


def test_feed_in_latin1_relies_on_feedparser_detection(tmp_path: Path) -> None:
    path = tmp_path / "latin1.rss"
    xml = (
        '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>Notícias</title>'
        "<item><title>Atenção à saúde</title><description>Conteúdo</description></item></channel></rss>"
    )
    path.write_bytes(xml.encode("iso-8859-1"))
    item = only(read(path))
    assert item.title == "Atenção à saúde" and item.source is None


def test_feed_in_utf16(tmp_path: Path) -> None:
    path = tmp_path / "wide.xml"
    xml = (
        '<?xml version="1.0" encoding="utf-16"?><rss version="2.0"><channel><title>W</title>'
        "<item><title>Wide ✓</title></item></channel></rss>"
    )
    path.write_bytes(xml.encode("utf-16"))
    assert only(read(path)).title == "Wide ✓"


# ------------------------------------------------------------------------------------------------
# HTML pages, compression


def test_html_page(fixtures_dir: Path) -> None:
    page = only(read(fixtures_dir / "page.html"))
    assert page.kind == KIND_HTML and page.locator == ""
    assert page.title == "Library Opens Late-Night Reading Room"
    assert page.published == utc(2021, 5, 28, 16, 45)
    assert page.authors == ("Maria Costa",)
    assert page.url == "https://times.example.com/2021/05/28/library-reading-room"
    assert page.source is None  # the page's site name is not a source: its domain is
    assert page.summary == "The central library now stays open until midnight."
    assert page.text is not None
    paragraphs = page.text.split("\n\n")
    assert paragraphs[0].startswith("The central library opened")  # the <h1> repeating the title is dropped
    assert paragraphs[-1].endswith('calm place to read after work."')
    assert "All rights reserved" not in page.text and "Sport" not in page.text


def test_html_without_main_text(fixtures_dir: Path) -> None:
    rejection(read(fixtures_dir / "no_text.html"), "no_main_text")


@pytest.mark.parametrize(
    ("suffix", "compress"),
    [(".gz", gzip.compress), (".bz2", bz2.compress), (".xz", lzma.compress)],
)
def test_compressed_html_page(fixtures_dir: Path, tmp_path: Path, suffix: str, compress: object) -> None:
    path = tmp_path / f"page.html{suffix}"
    path.write_bytes(compress((fixtures_dir / "page.html").read_bytes()))  # type: ignore[operator]
    page = only(read(path))
    assert page.kind == KIND_HTML and page.title == "Library Opens Late-Night Reading Room"
    assert page.input == str(path)


def test_compressed_jsonl_by_inner_extension(fixtures_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "articles.jsonl.gz"
    path.write_bytes(gzip.compress((fixtures_dir / "articles.jsonl").read_bytes()))
    assert shape(read(path)) == shape(read(fixtures_dir / "articles.jsonl"))


def test_gzip_bomb_is_too_large(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xml.gz"
    path.write_bytes(gzip.compress(b" " * 5_000_000))
    assert "decompressed" in rejection(read(path, ReadConfig(max_bytes=100_000)), "too_large").detail


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "broken.html.gz"
    path.write_bytes(gzip.compress(b"<p>hello</p>" * 100)[:40])
    rejection(read(path), "bad_compression")


# ------------------------------------------------------------------------------------------------
# Bad local inputs


@pytest.mark.parametrize(
    "name", ["empty.txt", "empty.jsonl", "empty.xml", "empty.html", "empty.json", "empty.md", "empty"]
)
@pytest.mark.parametrize("content", [b"", b" \n\t\r\n "])
def test_empty_files(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    rejection(read(path), "empty_file")


@pytest.mark.parametrize("name", ["garbage.txt", "garbage.xml", "garbage.json", "garbage.html", "garbage.bin"])
def test_binary_garbage(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(bytes(range(256)) * 8)
    found = rejection(read(path), "binary_file")
    assert found.excerpt.startswith("\\x00\\x01")


def test_zip_archive_is_binary(tmp_path: Path) -> None:
    path = tmp_path / "bundle.xml"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("feed.xml", "<rss/>")
    assert "zip archive" in rejection(read(path), "binary_file").detail


@pytest.mark.parametrize("name", ["latin1.txt", "latin1.md", "latin1.json"])
def test_invalid_utf8(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes('{"title": "Café in São Paulo"}'.encode("iso-8859-1"))
    found = rejection(read(path), "invalid_encoding")
    assert "byte 14" in found.detail and "\\xe9" in found.excerpt


def test_too_large_file(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    path.write_text("Title\n\n" + "x" * 2000)
    assert "exceeds" in rejection(read(path, ReadConfig(max_bytes=1000)), "too_large").detail


def test_missing_file(tmp_path: Path) -> None:
    rejection(read(tmp_path / "nope.txt"), "file_not_found")


def test_directory_as_input(tmp_path: Path) -> None:
    rejection(read(tmp_path), "unreadable_file")


def test_fifo_is_not_read(tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "pipe.txt"
    os.mkfifo(path)
    rejection(read(path), "unreadable_file")


# ------------------------------------------------------------------------------------------------
# Sniffing where the extension lies or is missing


def test_xml_extension_holding_html(fixtures_dir: Path) -> None:
    page = only(read(fixtures_dir / "feeds" / "really_html.xml"))
    assert page.kind == KIND_HTML and page.title == "Really a page"


def test_json_extension_holding_a_feed(fixtures_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "feed.json"
    shutil.copy(fixtures_dir / "feeds" / "rss2.xml", path)
    assert len(articles(read(path))) == 3


@pytest.mark.parametrize(
    ("source", "kind", "count"),
    [
        ("feeds/rss2.xml", KIND_FEED, 3),
        ("feeds/atom.xml", KIND_FEED, 2),
        ("feeds/jsonfeed.json", KIND_FEED, 2),
        ("articles.json", KIND_JSON, 2),
        ("page.html", KIND_HTML, 1),
        ("article.txt", KIND_TEXT, 1),
    ],
)
def test_unknown_extension_is_sniffed(fixtures_dir: Path, tmp_path: Path, source: str, kind: str, count: int) -> None:
    path = tmp_path / "download"
    shutil.copy(fixtures_dir / source, path)
    found = articles(read(path))
    assert len(found) == count and {a.kind for a in found} == {kind}


def test_unknown_extension_unknown_xml(fixtures_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "data.dat"
    shutil.copy(fixtures_dir / "feeds" / "catalog.xml", path)
    rejection(read(path), "unsupported_input")


# ------------------------------------------------------------------------------------------------
# OPML


def test_expand_local_opml(fixtures_dir: Path) -> None:
    opml = fixtures_dir / "opml" / "subscriptions.opml"
    refs = list(expand_input(str(opml), CONFIG))
    assert all(isinstance(r, InputRef) for r in refs)
    feeds = fixtures_dir / "feeds"
    assert [(r.location, r.is_url, r.title) for r in refs] == [  # type: ignore[union-attr]
        (str(feeds / "rss2.xml"), False, "Example Wire"),
        (str(feeds / "atom.xml"), False, "Atom"),
        ("http://127.0.0.1:9/remote-feed.xml", True, "Remote"),
        (str(feeds / "rdf.rdf"), False, "Science"),
    ]
    assert {r.origin for r in refs} == {str(opml)}  # type: ignore[union-attr]
    first = refs[0]
    assert isinstance(first, InputRef)
    assert len(articles(read(first.location))) == 3


def test_opml_sniffed_without_extension(fixtures_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    shutil.copy(fixtures_dir / "feeds" / "atom.xml", tmp_path / "feeds" / "atom.xml")
    subscriptions = tmp_path / "lists" / "subs.xml"
    subscriptions.parent.mkdir()
    subscriptions.write_text('<opml version="1.0"><body><outline xmlUrl="../feeds/atom.xml"/></body></opml>')
    refs = list(expand_input(str(subscriptions), CONFIG))
    assert refs == [InputRef(location=str(tmp_path / "feeds" / "atom.xml"), origin=str(subscriptions))]


def test_read_input_on_opml_reads_its_feeds(fixtures_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "feeds").mkdir()
    for name in ("rss2.xml", "atom.xml"):
        shutil.copy(fixtures_dir / "feeds" / name, tmp_path / "feeds" / name)
    opml = tmp_path / "two.opml"
    opml.write_text(
        '<opml version="2.0"><body><outline xmlUrl="feeds/rss2.xml"/><outline xmlUrl="feeds/atom.xml"/>'
        '<outline xmlUrl="two.opml"/></body></opml>'
    )
    records = read(opml)
    assert len(articles(records)) == 5
    assert [r.reason for r in records if isinstance(r, Rejection)] == ["nested_opml"]


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        ('<?xml version="1.0"?>\n<opml version="2.0"><body><outline text="x" xmlUrl="a.xml">', "bad_opml"),
        ('<opml version="2.0"><body><outline text="folder only"/></body></opml>', "empty_opml"),
        ("<rss><channel/></rss>", "bad_opml"),
        (
            '<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
            '<opml><body><outline xmlUrl="&b;"/></body></opml>',
            "bad_opml",
        ),
    ],
)
def test_bad_opml(tmp_path: Path, content: str, reason: str) -> None:
    path = tmp_path / "bad.opml"
    path.write_text(content)
    refs = list(expand_input(str(path), CONFIG))
    assert len(refs) == 1 and isinstance(refs[0], Rejection) and refs[0].reason == reason, refs
    assert refs[0].reason == rejection(read(path), reason).reason


def test_opml_url(http_server: LocalHTTPServer, fixtures_dir: Path) -> None:
    http_server.route("/feeds/rss2.xml", (fixtures_dir / "feeds" / "rss2.xml").read_bytes())
    opml = (
        '<opml version="2.0"><body><outline text="Group"><outline title="Wire" xmlUrl="feeds/rss2.xml"/>'
        '<outline xmlUrl="/feeds/atom.xml"/></outline><outline xmlUrl="gopher://old.example/feed"/></body></opml>'
    )
    url = http_server.route("/lists/subs.opml", opml, headers={"Content-Type": "text/x-opml"})
    refs = list(expand_input(url, CONFIG))
    assert [(r.location, r.is_url) for r in refs if isinstance(r, InputRef)] == [
        (http_server.url("/lists/feeds/rss2.xml"), True),
        (http_server.url("/feeds/atom.xml"), True),
    ]
    assert [r.reason for r in refs if isinstance(r, Rejection)] == ["unsupported_url_scheme"]


def test_opml_url_without_extension_is_read_inline(http_server: LocalHTTPServer, fixtures_dir: Path) -> None:
    http_server.route("/rss", (fixtures_dir / "feeds" / "rss2.xml").read_bytes())
    url = http_server.route("/subscriptions", '<opml><body><outline xmlUrl="/rss"/></body></opml>')
    refs = list(expand_input(url, CONFIG))
    assert refs == [InputRef(location=url, is_url=True, origin=url)]
    found = articles(read(url, url=True))
    assert len(found) == 3 and {a.input for a in found} == {http_server.url("/rss")}


# ------------------------------------------------------------------------------------------------
# URLs


def test_feed_url(http_server: LocalHTTPServer, fixtures_dir: Path) -> None:
    atom = (
        (fixtures_dir / "feeds" / "atom.xml")
        .read_bytes()
        .replace(b'href="https://nachrichten.example.de/text"', b'href="/relative/text"')
    )
    url = http_server.route("/atom", atom, headers={"Content-Type": "application/atom+xml"})
    before = datetime.now(UTC)
    first, second = articles(read(url, url=True))
    assert first.input == url and first.feed_url == url  # the URL fetched, not rel=self
    assert first.fetched_at is not None and before - timedelta(seconds=1) <= first.fetched_at <= datetime.now(UTC)
    assert second.url == http_server.url("/relative/text")  # resolved against the URL fetched


def test_feed_url_permanent_redirect(http_server: LocalHTTPServer, fixtures_dir: Path) -> None:
    new = http_server.route("/new.rss", (fixtures_dir / "feeds" / "rss2.xml").read_bytes())
    http_server.redirect("/old.rss", "/new.rss", status=301)
    http_server.redirect("/tmp.rss", "/new.rss", status=307)
    assert {a.feed_url for a in articles(read(http_server.url("/old.rss"), url=True))} == {new}
    assert {a.feed_url for a in articles(read(http_server.url("/tmp.rss"), url=True))} == {http_server.url("/tmp.rss")}


def test_json_feed_url(http_server: LocalHTTPServer, fixtures_dir: Path) -> None:
    url = http_server.route(
        "/feed",
        (fixtures_dir / "feeds" / "jsonfeed.json").read_bytes(),
        headers={"Content-Type": "application/feed+json"},
    )
    assert shape(read(url, url=True)) == [("entry 0", "article"), ("entry 1", "article"), ("entry 2", "bad_record")]


def test_url_serving_an_html_page(http_server: LocalHTTPServer, fixtures_dir: Path) -> None:
    url = http_server.route(
        "/story", (fixtures_dir / "page.html").read_bytes(), headers={"Content-Type": "text/html; charset=utf-8"}
    )
    page = only(read(url, url=True))
    assert page.kind == KIND_HTML and page.title == "Library Opens Late-Night Reading Room"
    assert page.fetched_at is not None and page.input == url


def test_url_serving_neither_feed_nor_page(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/thing", b"<catalog><book/></catalog>", headers={"Content-Type": "application/xml"})
    rejection(read(url, url=True), "not_a_feed")


def test_url_gzip_file(http_server: LocalHTTPServer, fixtures_dir: Path) -> None:
    data = gzip.compress((fixtures_dir / "feeds" / "rss2.xml").read_bytes())
    url = http_server.route("/feed.xml.gz", data, headers={"Content-Type": "application/gzip"})
    assert len(articles(read(url, url=True))) == 3


def test_url_plain_text(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/note", b"Headline\n\nBody text.", headers={"Content-Type": "text/plain; charset=utf-8"})
    article = only(read(url, url=True))
    assert (article.kind, article.title, article.text) == (KIND_TEXT, "Headline", "Body text.")
    assert article.fetched_at is not None


def test_url_empty_body(http_server: LocalHTTPServer) -> None:
    rejection(read(http_server.route("/empty", b""), url=True), "empty_response")


def test_url_404(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/gone.xml", b"no such feed", status=404)
    assert rejection(read(url, url=True), "http_404").input == url


def test_url_unreachable(closed_port_url: str) -> None:
    rejection(read(closed_port_url, url=True), "url_unreachable")


def test_url_timeout(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/slow.xml", b"<rss/>", delay=2.0)
    rejection(read(url, url=True), "http_timeout")  # answers after the timeout


def test_url_too_large(http_server: LocalHTTPServer) -> None:
    url = http_server.route("/huge.xml", b"<rss>" + b" " * 300_000, chunked=True)
    rejection(read(url, url=True), "too_large")


def test_url_with_unsupported_scheme() -> None:
    rejection(read("ftp://127.0.0.1/feed.xml", url=True), "unsupported_url_scheme")


# ------------------------------------------------------------------------------------------------
# expand_input and check_input_arg


def make_tree(root: Path) -> None:
    for name in ["b.txt", "a.md", "sub/c.json", "sub/deeper/d.xml", ".hidden.txt", ".git/config", "sub/.DS_Store",
                 "sub/Thumbs.db", "notes.txt~", "z.jsonl"]:  # fmt: skip
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x")


def test_expand_directory_sorted_recursive_skipping_hidden(tmp_path: Path) -> None:
    make_tree(tmp_path)
    refs = list(expand_input(str(tmp_path), CONFIG))
    assert [Path(r.location).relative_to(tmp_path).as_posix() for r in refs] == [  # type: ignore[union-attr]
        "a.md", "b.txt", "sub/c.json", "sub/deeper/d.xml", "z.jsonl",
    ]  # fmt: skip
    assert all(isinstance(r, InputRef) and not r.is_url and r.origin == str(tmp_path) for r in refs)
    assert refs == list(expand_input(str(tmp_path), CONFIG))


def test_expand_glob(tmp_path: Path) -> None:
    make_tree(tmp_path)
    refs = list(expand_input(str(tmp_path / "**" / "*.*"), CONFIG))
    names = [Path(r.location).name for r in refs if isinstance(r, InputRef)]
    assert names == ["a.md", "b.txt", "c.json", "d.xml", "z.jsonl"]
    assert [r.location for r in expand_input(str(tmp_path / "*.txt"), CONFIG)] == [str(tmp_path / "b.txt")]  # type: ignore[union-attr]


def test_expand_single_file_url_and_file_url(tmp_path: Path) -> None:
    path = tmp_path / "a.txt"
    path.write_text("x")
    assert list(expand_input(str(path), CONFIG)) == [InputRef(location=str(path), origin=str(path))]
    url = "https://news.example.org/feed.xml"
    assert list(expand_input(url, CONFIG)) == [InputRef(location=url, is_url=True, origin=url)]
    (ref,) = expand_input(path.as_uri(), CONFIG)
    assert isinstance(ref, InputRef) and ref.location == str(path)


@pytest.mark.parametrize(
    ("arg", "reason"),
    [
        ("missing.txt", "file_not_found"),
        ("nothing-*.xml", "file_not_found"),
        ("ftp://host/feed", "unsupported_url_scheme"),
    ],
)
def test_expand_problems(tmp_path: Path, arg: str, reason: str) -> None:
    target = arg if "://" in arg else str(tmp_path / arg)
    (found,) = expand_input(target, CONFIG)
    assert isinstance(found, Rejection) and found.reason == reason


def test_expand_empty_directory(tmp_path: Path) -> None:
    (tmp_path / ".only-hidden").write_text("x")
    (found,) = expand_input(str(tmp_path), CONFIG)
    assert isinstance(found, Rejection) and found.reason == "empty_directory"


def test_expand_directory_with_opml_deduplicates(fixtures_dir: Path) -> None:
    refs = [r for r in expand_input(str(fixtures_dir), CONFIG) if isinstance(r, InputRef)]
    locations = [os.path.normpath(r.location) for r in refs]
    assert len(locations) == len(set(locations))
    assert os.path.normpath(fixtures_dir / "feeds" / "rss2.xml") in locations


def test_check_input_arg(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_text("x")
    assert check_input_arg(str(tmp_path)) is None
    assert check_input_arg(str(tmp_path / "a.xml")) is None
    assert check_input_arg(str(tmp_path / "*.xml")) is None
    assert check_input_arg("https://example.org/feed") is None
    for bad in (str(tmp_path / "missing.xml"), str(tmp_path / "*.json"), "ftp://example.org/x", ""):
        message = check_input_arg(bad)
        assert message and "\n" not in message


# ------------------------------------------------------------------------------------------------
# Properties: read_input on arbitrary bytes


EXTENSIONS = [".txt", ".md", ".json", ".jsonl", ".ndjson", ".html", ".htm", ".xml", ".rss", ".atom", ".rdf",
              ".opml", ".gz", ".dat", ""]  # fmt: skip
PREFIXES = [
    b"",
    b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>",
    b'{"items": [',
    b"[{",
    b"<html><body><p>",
    b"<opml><body><outline xmlUrl='feeds/",  # a relative path: never a URL, so never any network
    b"\x1f\x8b\x08\x00",
    b"\xff\xfe",
    b"---\n",
]


@pytest.mark.parametrize("extension", EXTENSIONS)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(PREFIXES), data=st.binary(max_size=600))
def test_read_input_never_raises(tmp_path: Path, extension: str, prefix: bytes, data: bytes) -> None:
    path = tmp_path / f"input{extension}"
    path.write_bytes(prefix + data)
    config = ReadConfig(max_bytes=4096, fetch=FetchConfig(connect_timeout=0.2, read_timeout=0.2))
    records = read(path, config)  # asserts ≥ 1 record, no internal_error, well-formed rejections
    for record in records:
        if isinstance(record, RawArticle):
            assert record.published is None or record.published.utcoffset() == timedelta(0)
            assert record.input == str(path) or record.input.startswith(str(tmp_path))


# ------------------------------------------------------------------------------------------------
# parse_datetime and excerpt


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 10 Jun 2003 04:00:00 GMT", utc(2003, 6, 10, 4)),
        ("Tue, 10 Jun 2003 04:00:00 -0500", utc(2003, 6, 10, 9)),
        ("Sat, 29 May 2021 08:15:00 EDT", utc(2021, 5, 29, 12, 15)),
        ("Fri, 28 May 2021 10:00:00 CEST", utc(2021, 5, 28, 8)),
        ("2021-05-28T10:00:00Z", utc(2021, 5, 28, 10)),
        ("2021-05-28T10:00:00.123+02:00", datetime(2021, 5, 28, 8, 0, 0, 123000, tzinfo=UTC)),
        ("2021-05-28T10:00:00+0000", utc(2021, 5, 28, 10)),
        ("2021-05-28 10:00:00", utc(2021, 5, 28, 10)),
        ("2021-05-28", utc(2021, 5, 28)),
        ("20210528", utc(2021, 5, 28)),
        ("May 28, 2021", utc(2021, 5, 28)),
        ("28 May 2021 10:00 PST", utc(2021, 5, 28, 18)),
        ("2024-03-01 12:00:00 +0000 UTC", utc(2024, 3, 1, 12)),
        (1622160000, utc(2021, 5, 28)),
        (1622160000.5, datetime(2021, 5, 28, 0, 0, 0, 500000, tzinfo=UTC)),
        (1622160000000, utc(2021, 5, 28)),
        ("1622160000", utc(2021, 5, 28)),
        (time.struct_time((2021, 5, 28, 10, 0, 60, 4, 148, 0)), utc(2021, 5, 28, 10, 0, 59)),
        (datetime(2021, 5, 28, 10), utc(2021, 5, 28, 10)),
        (datetime(2021, 5, 28, 12, tzinfo=UTC).astimezone(), utc(2021, 5, 28, 12)),
    ],
)
def test_parse_datetime(value: object, expected: datetime) -> None:
    parsed = parse_datetime(value)
    assert parsed == expected and parsed is not None and parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "garbage", "May", "2021", "Mon, 31 Jun 2004 10:00:00 GMT", "9999-12-31T23:59:59-05:00",
     float("nan"), float("inf"), 1e300, True, [], {}, b"\xff", "x" * 500, (1, 2)],
)  # fmt: skip
def test_parse_datetime_rejects(value: object) -> None:
    assert parse_datetime(value) is None


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(max_size=80), st.integers(), st.floats(), st.datetimes(), st.binary(max_size=40), st.none()))
def test_parse_datetime_never_raises(value: object) -> None:
    parsed = parse_datetime(value)
    assert parsed is None or parsed.utcoffset() == timedelta(0)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 -:/.,TZ+JanMayFriGMTESTPM")), max_size=40))
def test_parse_datetime_never_raises_on_date_like_text(value: str) -> None:
    parse_datetime(value)


def test_excerpt() -> None:
    assert excerpt(b"abc\x00\xff\ndef") == "abc\\x00\\xff\\ndef"
    assert excerpt("zero\u200bwidth\u202e") == "zero\\u200bwidth\\u202e"
    cut = excerpt("x" * 500, limit=50)
    assert len(cut) == 50 and cut.endswith("…")
    assert excerpt("abc", limit=3) == "abc" and excerpt("abcd", limit=3) == "ab…"
    assert excerpt(b"", limit=10) == "" and excerpt("abc", limit=0) == ""


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)), st.integers(min_value=0, max_value=300))
def test_excerpt_is_bounded_and_printable(data: bytes | str, limit: int) -> None:
    result = excerpt(data, limit)
    assert len(result) <= limit
    assert result.isprintable() or result == ""


# ------------------------------------------------------------------------------------------------
# Shared evaluation data (optional)


@pytest.mark.shared_data
@pytest.mark.parametrize("folder", ["feedparser-tests", "news-feeds"])
def test_shared_corpora_read_without_exceptions(eval_data: Path, folder: str) -> None:
    root = eval_data / folder
    if not root.is_dir():
        pytest.skip(f"{root} not present")
    reasons: collections.Counter[str] = collections.Counter()
    inputs = entries = 0
    started = time.perf_counter()
    for ref in expand_input(str(root), ReadConfig()):
        assert isinstance(ref, InputRef), ref
        inputs += 1
        records = read(ref.location)  # ≥ 1 record, no internal_error
        entries += len(articles(records))
        reasons.update(r.reason for r in records if isinstance(r, Rejection))
    elapsed = time.perf_counter() - started
    rate = entries / elapsed
    print(f"\n{folder}: {inputs} inputs, {entries} articles, {rate:.0f} articles/s; rejects: {dict(reasons)}")
    assert inputs > 0 and entries > 0
