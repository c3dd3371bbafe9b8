"""--fetch-articles: a new entry's page replaces the feed summary; failures keep the feed's text."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from feedflow.config import CleanConfig, FetchConfig, ReadConfig
from feedflow.core.dedup import content_hash, dedup_paragraphs
from feedflow.core.enrich import PageFetcher
from feedflow.model import Article

PAGE = (
    "<html><head><title>Storm reaches coast</title></head><body><nav>Home | World</nav><article>"
    "<h1>Storm reaches coast</h1>"
    + "".join(
        f"<p>{w} the storm reached the coast at dawn, flooding the harbour and closing roads "
        "for most of the morning, officials said.</p>"
        for w in ("First,", "Then", "Later", "Meanwhile", "Finally")
    )
    + "</article><footer>Share this article</footer></body></html>"
)


def article(url: str | None, version: int = 1) -> Article:
    paragraphs = dedup_paragraphs(["The storm is near."])
    return Article(
        article_id="a" * 32, input="feed", locator="entry 0", kind="feed", url=url, source="example.com",
        feed_url="feed", title="Storm", authors=(), published_at=None, fetched_at=datetime(2024, 1, 1, tzinfo=UTC),
        summary=None, paragraphs=paragraphs, content_hash=content_hash(["The storm is near."]), version=version,
    )  # fmt: skip


FETCHER = PageFetcher(ReadConfig(fetch=FetchConfig(read_timeout=2, allow_private=True)), CleanConfig())


def test_the_page_text_becomes_the_body_and_the_feed_hash_stays(http_server: Any) -> None:
    url = http_server.route("/story", PAGE, headers={"Content-Type": "text/html"})
    before = replace(article(url), minhash=(1, 2, 3))  # as signed by the builder, from the feed's text
    after = FETCHER(before)
    assert after.page_status == "ok"
    assert after.minhash == ()  # that signature was of the feed's text, not of the page's
    assert len(after.body) == 5 and after.body[0].startswith("First, the storm reached the coast")
    assert "Share this article" not in after.text and "Home" not in after.text
    assert after.content_hash == before.content_hash  # the next poll still recognises the entry


def test_a_missing_page_keeps_the_feed_text_and_says_why(http_server: Any) -> None:
    url = http_server.url("/gone")
    after = FETCHER(article(url))
    assert after.page_status == "http_404" and after.body == ("The storm is near.",)


def test_a_page_without_main_text(http_server: Any) -> None:
    url = http_server.route(
        "/empty", "<html><body><nav>Home</nav></body></html>", headers={"Content-Type": "text/html"}
    )
    assert FETCHER(article(url)).page_status == "no_main_text"


def test_known_articles_and_articles_without_url_are_never_fetched(http_server: Any) -> None:
    url = http_server.route("/story", PAGE)
    revised = article(url, version=2)
    assert FETCHER(revised) is revised
    assert FETCHER(replace(revised, url=None, version=1)).page_status is None
    assert http_server.requests == []
