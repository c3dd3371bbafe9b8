"""RawArticle → Article: clean the body, dedup its paragraphs, identify it, detect its language, sign
its body (MinHash, for near-duplicates: signed here because the paragraph keys already normalize it).

Rejections (reason → meaning):

* ``empty_body``: nothing is left of the body after cleaning (no text, only boilerplate, only
  punctuation). The detail says what the input had.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from feedflow.config import CleanConfig
from feedflow.core.clean import clean_paragraphs, clean_text, clean_title
from feedflow.core.dedup import dedup_with_hash
from feedflow.core.excerpt import excerpt
from feedflow.core.html import html_to_paragraphs
from feedflow.core.identity import SourceNamer, article_id, canonical_url
from feedflow.core.language import LanguageConfig, LanguageDetector
from feedflow.core.neardup import MinHasher, to_stored
from feedflow.model import Article, RawArticle, Rejection


@dataclass(frozen=True, slots=True)
class BuildConfig:
    """What the article builder needs: cleaning rules, language settings, the run's start time, and
    whether to sign bodies (``sign``: only a run that removes boilerplate or marks near-duplicates
    needs signatures)."""

    run_started: datetime
    clean: CleanConfig = field(default_factory=CleanConfig)
    language: LanguageConfig = field(default_factory=LanguageConfig)
    sign: bool = True


class ArticleBuilder:
    """Callable RawArticle → Article | Rejection. Holds per-worker helpers; build it in DoFn.setup()."""

    def __init__(self, config: BuildConfig) -> None:
        self._config = config
        self._sources = SourceNamer()
        self._languages = LanguageDetector(config.language)
        self._hasher = MinHasher() if config.sign else None

    def body_paragraphs(self, raw: RawArticle) -> list[str]:
        if raw.html:
            return clean_paragraphs(html_to_paragraphs(raw.html), self._config.clean)
        if raw.text:
            return clean_text(raw.text, self._config.clean)
        return []

    def __call__(self, raw: RawArticle) -> Article | Rejection:
        paragraphs = self.body_paragraphs(raw)
        if not paragraphs and raw.summary:
            paragraphs = clean_paragraphs(html_to_paragraphs(raw.summary), self._config.clean)
        if not paragraphs:
            had = "no body" if not (raw.html or raw.text) else "only boilerplate or markup"
            return Rejection(
                input=raw.input,
                locator=raw.locator,
                reason="empty_body",
                detail=f"{raw.kind} record with {had}",
                excerpt=excerpt(raw.title or raw.html or raw.text or ""),
            )
        url = canonical_url(raw.url)
        title = clean_title(raw.title)
        feed_url = raw.feed_url
        source = self._sources.source(raw.source, url, canonical_url(feed_url) or None, raw.input)
        dedup, digest, normalized = dedup_with_hash(paragraphs)
        signature = self._hasher.signature_of_normalized(normalized) if self._hasher else None
        body = [p.text for p in dedup if p.duplicate_of is None]
        summary = None
        if raw.summary:
            summary = " ".join(clean_paragraphs(html_to_paragraphs(raw.summary), self._config.clean)) or None
        return Article(
            article_id=article_id(url, raw.guid, feed_url, source, title, digest),
            input=raw.input,
            locator=raw.locator,
            kind=raw.kind,
            url=url,
            source=source,
            feed_url=feed_url,
            title=title,
            authors=tuple(a for a in (clean_title(x) for x in raw.authors) if a),
            published_at=raw.published.astimezone(UTC) if raw.published else None,
            fetched_at=raw.fetched_at or self._config.run_started,
            summary=summary,
            paragraphs=dedup,
            content_hash=digest,
            language=self._languages.detect(title, body, raw.language_hint),
            language_hint=raw.language_hint,
            minhash=to_stored(signature) if signature is not None else (),
        )
