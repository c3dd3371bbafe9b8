"""Canonical URLs, article ids and sources."""

from __future__ import annotations

import pytest

from feedflow.core.identity import SourceNamer, article_id, canonical_url


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTPS://WWW.Example.COM/a/b?utm_source=x&id=3&fbclid=9&gclid=1#top", "https://example.com/a/b?id=3"),
        ("http://example.com:80", "http://example.com/"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("https://news.example.co.uk/story?UTM_MEDIUM=rss", "https://news.example.co.uk/story"),
        ("ftp://example.com/file", None),
        ("javascript:alert(1)", None),
        ("not a url", None),
        ("http://[broken", None),
        (None, None),
    ],
)
def test_canonical_url(url: str | None, expected: str | None) -> None:
    assert canonical_url(url) == expected


def test_ids_are_stable_and_prefer_url_then_guid_then_content() -> None:
    a = article_id("https://example.com/a", "g1", "https://example.com/feed", "example.com", "T", "h")
    assert a == article_id("https://example.com/a", "other", None, "x", "U", "i")
    b = article_id(None, "g1", "https://example.com/feed", "example.com", "T", "h")
    assert b == article_id(None, "g1", "https://example.com/feed", "other", "U", "i")
    assert b != article_id(None, "g1", "https://other.org/feed", "example.com", "T", "h")
    c = article_id(None, None, None, "example.com", "T", "h")
    assert len({a, b, c}) == 3 and all(len(x) == 32 for x in (a, b, c))


def test_source_prefers_declared_then_domains_then_file_name() -> None:
    namer = SourceNamer()
    assert namer.domain("https://www.bbc.co.uk/news/1") == "bbc.co.uk"
    assert namer.source("Reuters", "https://www.bbc.co.uk/x", None, "a.json") == "Reuters"
    assert namer.source(None, None, "https://feeds.theguardian.com/rss", "f.xml") == "theguardian.com"
    assert namer.source(None, None, None, "/data/in/story.txt") == "story.txt"


def test_a_site_root_url_does_not_identify_an_article() -> None:
    home = canonical_url("http://www.taverncast.com")
    assert home == "http://taverncast.com/"
    episode_1 = article_id(home, "shows/1.mp3", "https://taverncast.com/feed", "taverncast.com", "Ep 1", "h1")
    episode_2 = article_id(home, "shows/2.mp3", "https://taverncast.com/feed", "taverncast.com", "Ep 2", "h2")
    assert episode_1 != episode_2
    assert article_id("https://taverncast.com/?p=1", None, None, "s", "t", "h") != article_id(
        "https://taverncast.com/?p=2", None, None, "s", "t", "h"
    )
