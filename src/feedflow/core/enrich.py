"""Full articles for feed entries (`feedflow ingest --fetch-articles`).

Most feeds carry only a summary. :class:`PageFetcher` fetches a new entry's page (same HTTP limits and
User-Agent as feed polling), extracts its main text with the same extractor as `feedflow run` uses for
HTML files, and makes that the article's body. When the page cannot be used the feed's content stays,
and ``page_status`` says why (``http_404``, ``no_main_text``, ``http_timeout``…).

Only articles new to the dataset (version 1) are fetched: a page is never fetched again for an article
already in the dataset. ``content_hash`` keeps describing the *feed entry's* content, so the next poll
recognises the entry as known instead of seeing the page text as a revision.
"""

from __future__ import annotations

from dataclasses import replace

from feedflow.config import CleanConfig, ReadConfig
from feedflow.core.clean import clean_paragraphs
from feedflow.core.dedup import dedup_paragraphs
from feedflow.core.fetch import fetch_url
from feedflow.core.html import extract_page
from feedflow.model import Article, Rejection

PAGE = "page"
FEED = "feed"


class PageFetcher:
    """Callable Article → Article with the page's text as body when it could be fetched."""

    def __init__(self, read: ReadConfig, clean: CleanConfig) -> None:
        self._read = read
        self._clean = clean

    def __call__(self, article: Article) -> Article:
        if article.version != 1 or not article.url:
            return article
        # An entry's link is data from the feed: never user-given (non-global addresses refused
        # unless FetchConfig.allow_private).
        result = fetch_url(article.url, self._read.fetch, user_given=False)
        if isinstance(result, Rejection):
            return replace(article, page_status=result.reason)
        page = extract_page(result.body, result.final_url)
        if page is None:
            return replace(article, page_status="no_main_text")
        if sum(len(p) for p in page.paragraphs) > self._read.max_record_chars:
            return replace(article, page_status="too_large")  # the same bound as a record read from a file
        paragraphs = clean_paragraphs(page.paragraphs, self._clean)
        if len(paragraphs) > 1 and paragraphs[0] in (page.title, article.title):
            paragraphs = paragraphs[1:]  # the page's <h1> repeats the title
        if not paragraphs:
            return replace(article, page_status="no_main_text")
        return replace(
            article,
            paragraphs=dedup_paragraphs(paragraphs),
            minhash=(),  # the builder's signature was of the feed's text: the body is the page's now
            page_status="ok",
            authors=article.authors or page.authors,
            published_at=article.published_at or page.published,
        )
