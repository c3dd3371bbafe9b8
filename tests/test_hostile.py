"""Hostile input: XML entity attacks and decompression bombs are inert (first tests of issue 7)."""

from __future__ import annotations

import gzip
from pathlib import Path

from feedflow.config import ReadConfig
from feedflow.core.readers import expand_input, read_input
from feedflow.model import InputRef, RawArticle, Rejection

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
