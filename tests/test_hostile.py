"""Hostile input (issue 7): XML entity attacks, decompression bombs, huge bodies, lines, feeds and
trees, URLs from data (schemes, private addresses, DNS rebinding, redirects), partition paths and text
that would break Arrow — each inert, bounded, or a reject with a reason."""

from __future__ import annotations

import ast
import gzip
import json
import re
import resource
import socket
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from feedflow.config import FetchConfig, ReadConfig
from feedflow.core.fetch import FetchResult, address_problem, fetch_url
from feedflow.core.html import html_to_paragraphs
from feedflow.core.readers import expand_input, read_input
from feedflow.model import Article, InputRef, RawArticle, Rejection

SECRET = "feedflow-secret-7c1f"


def fields(records: list[RawArticle | Rejection]) -> str:
    """Every non-empty field of every record, as one string."""
    return " ".join(str(getattr(r, name)) for r in records for name in r.__slots__ if getattr(r, name))


def test_external_entities_in_a_feed_are_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    feed = tmp_path / "xxe.xml"
    feed.write_text(
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<rss version="2.0"><channel><title>T &x;</title><item><title>Hello &x;</title>'
        "<link>https://example.com/a</link><description>Body &x; text.</description></item></channel></rss>"
    )
    records = list(read_input(InputRef(str(feed)), ReadConfig()))
    assert records and SECRET not in fields(records)


def test_external_entities_in_opml_are_refused(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text(SECRET)
    opml = tmp_path / "list.opml"
    opml.write_text(
        f'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<opml version="2.0"><body><outline type="rss" xmlUrl="https://example.com/&x;"/></body></opml>'
    )
    [result] = list(expand_input(str(opml), ReadConfig()))
    assert isinstance(result, Rejection) and result.reason == "bad_opml"
    assert SECRET not in result.detail + result.excerpt


def test_billion_laughs_does_not_expand(tmp_path: Path) -> None:
    entities = ['<!ENTITY a0 "lollollollollollollollollollol">']
    entities += [f'<!ENTITY a{i} "{("&a" + str(i - 1) + ";") * 10}">' for i in range(1, 10)]
    feed = tmp_path / "laughs.xml"
    feed.write_text(
        f'<?xml version="1.0"?><!DOCTYPE rss [{"".join(entities)}]>'
        '<rss version="2.0"><channel><title>T</title><item><title>&a9;</title>'
        "<link>https://example.com/a</link><description>x</description></item></channel></rss>"
    )
    records = list(read_input(InputRef(str(feed)), ReadConfig()))
    assert records
    assert len(fields(records)) < 1_000_000  # 10^9 "lol"s were never built


def test_a_gzip_bomb_is_cut_off(tmp_path: Path) -> None:
    bomb = tmp_path / "page.html.gz"
    bomb.write_bytes(gzip.compress(b"<p>" + b"a" * (50 * 1024 * 1024) + b"</p>"))
    assert bomb.stat().st_size < 200_000
    [result] = list(read_input(InputRef(str(bomb)), ReadConfig(max_bytes=5 * 1024 * 1024)))
    assert isinstance(result, Rejection) and result.reason == "too_large"


# ------------------------------------------------------------------------------------------ size


class GeneratedBody:
    """A body of ``size`` bytes that exists only as it is sent: the http_server fixture slices what it
    writes (16 KiB chunks with ``chunked=True``), and each slice is generated on demand."""

    def __init__(self, size: int, start: int = 0) -> None:
        self._size, self._start = size, start

    def __len__(self) -> int:
        return self._size

    def __getitem__(self, cut: slice) -> GeneratedBody | bytes:
        first, last, _ = cut.indices(self._size)
        if last - first > 1 << 20:
            return GeneratedBody(max(0, last - first), self._start + first)
        return b"<p>lorem ipsum</p>"[:1] * max(0, last - first)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_1_gb_body_is_cut_off_at_the_limit_without_being_held(http_server: Any) -> None:
    gigabyte = 1 << 30
    streamed = http_server.route("/huge", GeneratedBody(gigabyte), chunked=True)  # sliced as sent, never held
    declared = http_server.route("/declared", b"", headers={"Content-Length": str(gigabyte)})
    config = FetchConfig(max_bytes=8 * 1024 * 1024, allow_private=True)
    before = peak_rss_mb()
    for url in (streamed, declared):
        result = fetch_url(url, config)
        assert isinstance(result, Rejection) and result.reason == "too_large", result
    assert peak_rss_mb() - before < 200  # never near 1 GB


def test_a_50_mb_single_line_is_rejected_as_too_large(tmp_path: Path) -> None:
    for name, content in {
        "line.txt": "Title\n" + "word " * 10_000_000,
        "line.jsonl": '{"title": "t", "text": "' + "word " * 10_000_000 + '"}\n',
    }.items():
        path = tmp_path / name
        path.write_text(content)
        [result] = list(read_input(InputRef(str(path)), ReadConfig()))
        assert isinstance(result, Rejection) and result.reason == "too_large", result
        assert len(result.excerpt) < 2000


def test_a_feed_with_a_million_entries_is_rejected_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "million.xml"
    with open(path, "w") as handle:
        handle.write('<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>')
        handle.write("".join(f"<item><guid>{i}</guid></item>" for i in range(1_000_000)))
        handle.write("</channel></rss>")
    before = peak_rss_mb()
    [result] = list(read_input(InputRef(str(path)), ReadConfig()))
    assert isinstance(result, Rejection) and result.reason == "too_large" and "entries" in result.detail
    assert peak_rss_mb() - before < 300


def test_a_json_feed_with_a_million_items_is_one_too_large_reject(tmp_path: Path) -> None:
    path = tmp_path / "million.json"
    items = ",".join(f'{{"id":"{i}","content_text":"x"}}' for i in range(1_000_000))
    path.write_text('{"version":"https://jsonfeed.org/version/1.1","title":"T","items":[' + items + "]}")
    [result] = list(read_input(InputRef(str(path)), ReadConfig()))
    assert isinstance(result, Rejection) and result.reason == "too_large" and "1000000 JSON Feed items" in result.detail


def test_a_feed_at_the_entry_limit_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "many.xml"
    items = "".join(f"<item><title>Item {i}</title><link>https://e.com/{i}</link></item>" for i in range(50))
    path.write_text(f'<rss version="2.0"><channel><title>T</title>{items}</channel></rss>')
    records = list(read_input(InputRef(str(path)), ReadConfig(max_feed_entries=50)))
    assert len(records) == 50 and all(isinstance(r, RawArticle) for r in records)
    [over] = list(read_input(InputRef(str(path)), ReadConfig(max_feed_entries=49)))
    assert isinstance(over, Rejection) and over.reason == "too_large"


def test_html_with_100000_nested_elements_is_bounded(tmp_path: Path) -> None:
    page = "<html><body>" + "<div>" * 100_000 + "<p>Deep paragraph text.</p>" + "</div>" * 100_000 + "</body></html>"
    path = tmp_path / "deep.html"
    path.write_text(page)
    [result] = list(read_input(InputRef(str(path)), ReadConfig()))
    assert isinstance(result, Rejection) and result.reason in ("no_main_text", "too_large"), result
    paragraphs = html_to_paragraphs(page)  # the cleaner's HTML path: no RecursionError
    assert isinstance(paragraphs, list)


def test_the_generated_body_really_streams(http_server: Any) -> None:
    """Control for the 1 GB test: under the limit, the generated body arrives whole."""
    url = http_server.route("/two-mb", GeneratedBody(2 << 20), chunked=True)
    result = fetch_url(url, FetchConfig(max_bytes=4 << 20, allow_private=True))
    assert isinstance(result, FetchResult) and len(result.body) == 2 << 20


# ---------------------------------------------------------------------------------- URLs from data

FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
    b"<item><title>Hello</title><link>https://example.com/a</link><description>Body text here.</description>"
    b"</item></channel></rss>"
)
DATA = ReadConfig(fetch=FetchConfig(connect_timeout=1.0, read_timeout=1.0))


def reasons(records: list[Any]) -> list[str]:
    return [r.reason if isinstance(r, Rejection) else "ok" for r in records]


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/feed.xml", "data:text/xml,<rss/>", "javascript:alert(1)",
     "gopher://127.0.0.1:70/", "jar:http://x/y!/z", "//no-scheme.example/feed"],
)  # fmt: skip
def test_only_http_and_https_are_fetched(url: str) -> None:
    result = fetch_url(url, FetchConfig(allow_private=True))
    assert isinstance(result, Rejection) and result.reason in ("unsupported_url_scheme", "invalid_url"), result


def test_an_opml_served_over_http_cannot_name_local_files_or_odd_schemes(http_server: Any, tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    secret.write_bytes(FEED.replace(b"Hello", SECRET.encode()))
    opml = http_server.route(
        "/list.opml",
        f'<opml version="2.0"><body><outline type="rss" xmlUrl="file://{secret}"/>'
        '<outline type="rss" xmlUrl="data:text/xml,&lt;rss/&gt;"/>'
        '<outline type="rss" xmlUrl="javascript:alert(1)"/></body></opml>',
    )
    records = [r for ref in expand_input(opml, DATA) for r in
               ([ref] if isinstance(ref, Rejection) else read_input(ref, DATA))]  # fmt: skip
    assert reasons(records) == ["unsupported_url_scheme"] * 3
    assert SECRET not in fields(records)


def test_a_local_opml_of_the_user_may_name_local_files(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(FEED)
    opml = tmp_path / "list.opml"
    opml.write_text(f'<opml version="2.0"><body><outline type="rss" xmlUrl="file://{feed}"/></body></opml>')
    refs = [ref for ref in expand_input(str(opml), DATA) if isinstance(ref, InputRef)]
    records = [r for ref in refs for r in read_input(ref, DATA)]
    assert reasons(records) == ["ok"]


def test_feeds_listed_in_a_fetched_opml_may_not_point_at_loopback(http_server: Any) -> None:
    feed = http_server.route("/feed.xml", FEED)
    opml = http_server.route("/list.opml", f'<opml version="2.0"><body><outline xmlUrl="{feed}"/></body></opml>')
    refs = [r for r in expand_input(opml, DATA) if isinstance(r, InputRef)]  # the OPML URL is the user's
    assert [r.location for r in refs] == [feed]
    records = list(read_input(refs[0], DATA))
    assert reasons(records) == ["private_address"] and "loopback" in records[0].detail
    assert [r.path for r in http_server.requests] == ["/list.opml"]  # the feed was never asked for
    allowed = replace(DATA, fetch=replace(DATA.fetch, allow_private=True))
    assert reasons(list(read_input(refs[0], allowed))) == ["ok"]


def test_a_user_given_url_may_be_local_but_its_redirects_are_checked(http_server: Any) -> None:
    http_server.route("/feed.xml", FEED)
    hop = http_server.redirect("/hop", "/feed.xml")
    ok = fetch_url(http_server.url("/feed.xml"), DATA.fetch, user_given=True)
    assert isinstance(ok, FetchResult)
    refused = fetch_url(hop, DATA.fetch, user_given=True)
    assert isinstance(refused, Rejection) and refused.reason == "private_address" and "redirect 1" in refused.detail
    assert [r.path for r in http_server.requests] == ["/feed.xml", "/hop"]
    followed = fetch_url(hop, replace(DATA.fetch, allow_private=True), user_given=True)
    assert isinstance(followed, FetchResult) and followed.final_url == http_server.url("/feed.xml")
    for target in ("file:///etc/passwd", "ftp://127.0.0.1/x", "data:text/plain,x"):
        bad = http_server.redirect("/bad", target)
        result = fetch_url(bad, replace(DATA.fetch, allow_private=True), user_given=True)
        assert isinstance(result, Rejection) and result.reason == "unsupported_url_scheme", (target, result)


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.1.2.3", "[::1]", "0.0.0.0", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254",
     "[fe80::1]", "[::ffff:127.0.0.1]", "100.64.0.1", "224.0.0.1", "[fc00::1]", "2130706433"],
)  # fmt: skip
def test_non_global_addresses_from_data_are_refused_without_connecting(host: str) -> None:
    result = fetch_url(f"http://{host}:9/feed.xml", FetchConfig(connect_timeout=5.0))
    assert isinstance(result, Rejection) and result.reason == "private_address", result


def test_global_addresses_pass_the_address_check() -> None:
    for address in ("8.8.8.8", "2606:4700:4700::1111", "93.184.216.34"):
        assert address_problem(address) is None
    for address in ("127.0.0.1", "::1", "169.254.169.254", "10.1.2.3", "::ffff:10.0.0.1", "192.0.2.1"):
        assert address_problem(address) is not None, address


def test_a_name_resolving_to_loopback_is_refused_after_resolution(http_server: Any) -> None:
    url = f"http://localhost:{http_server.port}/feed.xml"
    http_server.route("/feed.xml", FEED)
    result = fetch_url(url, DATA.fetch)
    assert isinstance(result, Rejection) and result.reason == "private_address", result
    assert http_server.requests == []
    assert isinstance(fetch_url(url, DATA.fetch, user_given=True), FetchResult)


def test_dns_rebinding_cannot_slip_through(http_server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A rebinding resolver answers a public address first and 127.0.0.1 afterwards. A check that
    resolves, approves and then connects (resolving again) would reach the server; feedflow checks
    the address of the connection it actually made."""
    http_server.route("/feed.xml", FEED)
    real = socket.getaddrinfo
    answers: list[str] = []

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != "rebind.test":
            return real(host, port, *args, **kwargs)
        address = "192.88.99.7" if not answers else "127.0.0.1"  # 192.88.99.7: global, unroutable here
        answers.append(address)
        return real(address, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    for _ in range(3):
        result = fetch_url(f"http://rebind.test:{http_server.port}/feed.xml", replace(DATA.fetch, connect_timeout=0.5))
        assert isinstance(result, Rejection), result
    assert "127.0.0.1" in answers
    assert http_server.requests == []


def test_entry_links_are_data(http_server: Any) -> None:
    from feedflow.config import CleanConfig
    from feedflow.core.enrich import PageFetcher

    page = http_server.route("/story", b"<html><body><article><p>Long page text.</p></article></body></html>")
    article = Article(
        article_id="a" * 32, input="feed", locator="entry 0", kind="feed", url=page, source="example.com",
        feed_url="feed", title="Storm", authors=(), published_at=None, fetched_at=datetime(2024, 1, 1, tzinfo=UTC),
        summary=None, paragraphs=(), content_hash="h",
    )  # fmt: skip
    fetched = PageFetcher(DATA, CleanConfig())(article)
    assert fetched.page_status == "private_address"
    assert http_server.requests == []


def test_a_fetched_page_over_the_record_limit_keeps_the_feed_text(http_server: Any) -> None:
    from feedflow.config import CleanConfig
    from feedflow.core.enrich import PageFetcher

    words = " ".join(f"word{i}" for i in range(3000))
    page = http_server.route("/long", f"<html><body><article><p>{words}</p><p>{words}.</p></article></body></html>")
    article = Article(
        article_id="a" * 32, input="feed", locator="entry 0", kind="feed", url=page, source="example.com",
        feed_url="feed", title="Storm", authors=(), published_at=None, fetched_at=datetime(2024, 1, 1, tzinfo=UTC),
        summary=None, paragraphs=(), content_hash="h",
    )  # fmt: skip
    allowed = replace(DATA, fetch=replace(DATA.fetch, allow_private=True))
    assert PageFetcher(allowed, CleanConfig())(article).page_status == "ok"
    small = replace(allowed, max_record_chars=10_000)
    fetched = PageFetcher(small, CleanConfig())(article)
    assert fetched.page_status == "too_large" and fetched.paragraphs == ()


def test_a_feed_moved_by_a_redirect_is_polled_as_data(http_server: Any) -> None:
    from feedflow.core.poll import PollConfig, poll_feed
    from feedflow.core.state import FeedState

    moved = http_server.route("/new.xml", FEED)
    own = FeedState(url=moved, fetch_url=moved)
    assert poll_feed(own, PollConfig(read=DATA)).outcome == "new"
    elsewhere = FeedState(url="https://example.com/feed.xml", fetch_url=moved)
    result = poll_feed(elsewhere, PollConfig(read=DATA))
    assert result.outcome == "failed" and result.state.last_status == "feed_private_address"


def test_allow_private_reaches_the_fetch_config_of_run_and_ingest(tmp_path: Path) -> None:
    from feedflow.options import parse_ingest_args, parse_run_args

    feeds = tmp_path / "feeds.txt"
    feeds.write_text("https://example.com/feed.xml\n")
    out = str(tmp_path / "out")
    assert not parse_run_args([str(feeds), "--output", out]).read.fetch.allow_private
    assert parse_run_args([str(feeds), "--output", out, "--allow-private"]).read.fetch.allow_private
    assert not parse_ingest_args(["--feeds", str(feeds), "--output", out]).run.read.fetch.allow_private
    assert parse_ingest_args(["--feeds", str(feeds), "--output", out, "--allow-private"]).run.read.fetch.allow_private


# ------------------------------------------------------------------- paths and text, through a real run

HOSTILE_SOURCES = [
    "../../etc", "..", ".", "a/b", "a\\b", "/abs/path", "nul\x00byte", "x" * 1000, "ехample.com",  # Cyrillic е
    "ｅxample．com", "%2e%2e", "CON", " ", "\u202egnp.exe", "line\nbreak", "tab\there", "~user", "*?[]",
]  # fmt: skip
HOSTILE_TEXTS = {
    "nul": "Before\x00after the NUL byte in the text.",
    "surrogate": "A lone surrogate \ud800 in the middle of text.",
    "controls": "Bell\x07 and escape\x1b[31m red\x1b[0m and backspace\x08 text.",
    "rtl": "Invoice for \u202eexe.fdp\u202c and more words \u2066isolated\u2069 here.",
    "zero_width": "Zero\u200bwidth\u200djoiners\ufeff inside words here.",
    "big": "Huge paragraph " + "lorem ipsum " * 900_000,  # 10.8 MB: over max_record_chars
    "mixed": "Emoji 🎉, CJK 漢字, combining e\u0301, RTL عربى text in one paragraph.",
}


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from feedflow.cli import main

    root = tmp_path_factory.mktemp("hostile")
    lines = [
        json.dumps({"url": f"https://example.com/s{i}", "title": f"Source {i}", "source": source,
                    "text": f"Article number {i} about a hostile source value."})
        for i, source in enumerate(HOSTILE_SOURCES)
    ] + [
        json.dumps({"url": f"https://example.com/t-{name}", "title": f"Text {name}", "text": text})
        for name, text in HOSTILE_TEXTS.items()
    ]  # fmt: skip
    (root / "hostile.jsonl").write_text("\n".join(lines) + "\n")
    (root / "latin1.txt").write_bytes("Title\n\nCaf\xe9 cr\xe8me text.".encode("latin-1"))
    (root / "half.txt").write_bytes(b"Title\n\nBroken \xf0\x9f\x98 emoji then text.")
    out = root / "data"
    status = main([
        "run", str(root / "hostile.jsonl"), str(root / "latin1.txt"), str(root / "half.txt"),
        "--output", str(out), "--partition-by", "date,source", "--skip", "entities,near-dups,boilerplate",
    ])  # fmt: skip
    assert status == 0
    return root, out


@pytest.mark.slow
def test_every_file_stays_inside_the_output_folder(hostile_run: tuple[Path, Path]) -> None:
    root, out = hostile_run
    outside = sorted(str(p) for p in root.rglob("*") if p.is_file() and not p.resolve().is_relative_to(out.resolve()))
    assert outside == [str(root / "half.txt"), str(root / "hostile.jsonl"), str(root / "latin1.txt")]
    for path in out.rglob("*"):
        relative = path.relative_to(out)
        for part in relative.parts:
            assert part not in (".", "..") and "\x00" not in part and "/" not in part and "\\" not in part, part
            assert len(part.encode()) <= 255, part
            assert part.isascii() and part.isprintable(), part
        assert not path.is_symlink()


def stored_and_viewed_sources(out: Path) -> tuple[dict[str, str], dict[str, str]]:
    """source per title as stored in the files' column, and as `feedflow query`'s view (Hive
    partitioning on: the value decoded from the folder name) shows it."""
    from feedflow.query import run_query

    stored = dict(duckdb.connect().execute(
        f"SELECT title, source FROM read_parquet('{out}/articles/**/*.parquet', hive_partitioning=false) "
        "WHERE title LIKE 'Source %'"
    ).fetchall())  # fmt: skip
    viewed = dict(run_query(str(out), "SELECT title, source FROM articles WHERE title LIKE 'Source %'")[1])
    return stored, viewed


@pytest.mark.slow
def test_hostile_sources_read_back_exactly_from_their_partitions(hostile_run: tuple[Path, Path]) -> None:
    _, out = hostile_run
    stored, viewed = stored_and_viewed_sources(out)
    assert len(stored) == len(viewed) == len(HOSTILE_SOURCES)
    for i, source in enumerate(HOSTILE_SOURCES):
        value = stored[f"Source {i}"]
        assert value, source  # declared sources are stored as given (a NUL too: Arrow strings allow it)
        if len(source) <= 100:
            assert viewed[f"Source {i}"] == value, (source, value)


@pytest.mark.slow
def test_a_very_long_source_reads_back_exactly_through_the_query_views(hostile_run: tuple[Path, Path]) -> None:
    _, out = hostile_run
    stored, viewed = stored_and_viewed_sources(out)
    long_title = f"Source {HOSTILE_SOURCES.index('x' * 1000)}"
    assert viewed[long_title] == stored[long_title]


@pytest.mark.slow
def test_hostile_text_is_cleaned_or_rejected_and_parquet_reads_back(hostile_run: tuple[Path, Path]) -> None:
    _, out = hostile_run
    con = duckdb.connect()
    texts = dict(con.execute(
        f"SELECT title, text FROM read_parquet('{out}/articles/**/*.parquet') WHERE title LIKE 'Text %'"
    ).fetchall())  # fmt: skip
    rejects = dict(con.execute(f"SELECT input || locator, reason FROM read_parquet('{out}/rejects/**/*.parquet')")
                   .fetchall())  # fmt: skip
    assert set(texts) == {f"Text {name}" for name in HOSTILE_TEXTS if name != "big"}
    assert "too_large" in rejects.values()
    assert sorted(r for k, r in rejects.items() if k.endswith(".txt")) == ["invalid_encoding", "invalid_encoding"]
    bad = ("\x00", "\ud800", "\x07", "\x1b", "\x08", "\u202e", "\u202c", "\u2066", "\u2069", "\u200b", "\ufeff")
    for title, text in texts.items():
        assert not any(ch in text for ch in bad), (title, text)
    assert "after the NUL byte" in texts["Text nul"]
    assert "漢字" in texts["Text mixed"] and "é" in texts["Text mixed"]  # NFC: e + U+0301 → é
    paragraphs = con.execute(f"SELECT count(*) FROM read_parquet('{out}/paragraphs/**/*.parquet')").fetchall()
    assert paragraphs[0][0] >= len(texts)


# -------------------------------------------------------------------------------------------- SQL

_SQL_WORDS = re.compile(r"\b(SELECT|INSERT|CREATE|UPDATE|DELETE|WHERE|FROM|PRAGMA|VALUES|DROP|ATTACH|COPY)\b")
#: Every expression interpolated into SQL text that feedflow builds, per file, as read and checked by hand:
#: each is a code constant or made only of code constants (column lists, CTE text with ``?`` placeholders).
#: Values from data or users are bound as parameters. A new entry here needs the same review.
REVIEWED_SQL_INTERPOLATIONS = {
    "src/feedflow/core/state.py": {"', '.join(_COLUMNS)", "placeholders"},
    "src/feedflow/report.py": {
        "', '.join(present)",  # FEED_COLUMNS constants that the SQLite table has
        "SUPERSEDED", "_KIND_SQL", "boiler", "bucket", "cte", "failures", "near", "order_title", "select", "sim",
        "superseded", "top", "where",  # constants / CTE text with ? placeholders (Filters.where)
    },
}  # fmt: skip


def sql_interpolations() -> tuple[dict[str, set[str]], list[str]]:
    found: dict[str, set[str]] = {}
    other: list[str] = []
    for path in sorted((REPO / "src" / "feedflow").rglob("*.py")) + sorted((REPO / "pipelines").rglob("*.py")):
        name = str(path.relative_to(REPO))
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
                if _SQL_WORDS.search(text):
                    for value in node.values:
                        if isinstance(value, ast.FormattedValue):
                            found.setdefault(name, set()).add(ast.unparse(value.value))
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
                for side in (node.left, node.right):
                    if isinstance(side, ast.Constant) and isinstance(side.value, str) and _SQL_WORDS.search(side.value):
                        other.append(f"{name}: {ast.unparse(node)}")
            elif (
                isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
                and isinstance(node.func.value, ast.Constant) and isinstance(node.func.value.value, str)
                and _SQL_WORDS.search(node.func.value.value)
            ):  # fmt: skip
                other.append(f"{name}: {ast.unparse(node)}")
    return found, other


REPO = Path(__file__).resolve().parents[1]


def test_nothing_feedflow_builds_interpolates_data_into_sql() -> None:
    found, other = sql_interpolations()
    # Filters.describe: the filter shown as SQL in a report caption (values through _sql_literal), never run.
    assert other == ["src/feedflow/report.py: 'WHERE ' + ' AND '.join(conditions)"]
    assert found == REVIEWED_SQL_INTERPOLATIONS


def test_query_views_take_hostile_paths_without_sql_text(tmp_path: Path) -> None:
    from feedflow.cli import main
    from feedflow.query import run_query

    out = tmp_path / "it's'; DROP TABLE articles; --\"x"
    seed = REPO / "seeds" / "harris_border.txt"
    assert main(["run", str(seed), "--output", str(out), "--skip", "entities,topics,near-dups,boilerplate"]) == 0
    assert run_query(str(out), "SELECT count(*) FROM articles")[1] == [(1,)]


def test_report_filters_bind_hostile_values_as_parameters() -> None:
    from feedflow.report import Filters

    hostile = "x' OR '1'='1"
    where, params = Filters(sources=(hostile,)).where()
    assert hostile not in where and params == [[hostile]]
    con = duckdb.connect()
    con.execute("CREATE TABLE articles AS SELECT * FROM (VALUES ('a.com'), ('b.com')) t(source)")
    assert con.execute(f"SELECT count(*) FROM articles WHERE {where}", params).fetchall() == [(0,)]


def test_urls_typed_by_the_user_are_checked_for_their_scheme_too(tmp_path: Path) -> None:
    from feedflow.core.feedlist import FeedListError, read_feed_lists
    from feedflow.options import UsageError, parse_run_args

    for url in ("ftp://example.com/feed.xml", "gopher://example.com/", "data://text/plain,x"):
        with pytest.raises(UsageError, match="unsupported URL scheme"):
            parse_run_args([url, "--output", str(tmp_path / "out")])
    listing = tmp_path / "feeds.txt"
    listing.write_text("https://example.com/ok.xml\nftp://example.com/feed.xml\n")
    with pytest.raises(FeedListError, match="only http"):
        read_feed_lists([str(listing)])
