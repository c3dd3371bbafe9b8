"""Tagging steps over whole articles: topics per article, entities per batch of articles.

Each step is a callable object built once per worker (it holds a model or an automaton) and applied
to records; the Beam layer only decides when to build it and how to batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from feedflow.config import NerConfig, TopicConfig
from feedflow.core.entities import EntityTagger
from feedflow.core.topics import TopicTagger
from feedflow.model import Article


class TopicStep:
    """Article → the same article with its IPTC top-level topics."""

    def __init__(self, config: TopicConfig) -> None:
        self._tagger = TopicTagger(config)

    def __call__(self, article: Article) -> Article:
        return replace(article, topics=self._tagger.tag(article.title or "", article.body))


class EntityStep:
    """A batch of articles → the same articles with entities; only articles in the model's language
    go through the model, the others come back unchanged with ``entities_tagged`` false."""

    def __init__(self, config: NerConfig) -> None:
        self._config = config
        self._tagger = EntityTagger(config)

    def wants(self, article: Article) -> bool:
        return article.language == self._config.language

    @property
    def stats(self) -> dict[str, int]:
        """Paragraphs asked for and paragraphs the model ran on (the rest came from the tagger's cache)."""
        return self._tagger.stats

    def __call__(self, batch: Sequence[Article]) -> list[Article]:
        chosen = [a for a in batch if self.wants(a)]
        bodies = [a.body_paragraphs for a in chosen]
        found = iter(
            self._tagger.tag_many(
                [[p.text for p in body] for body in bodies], [[p.key_hash for p in body] for body in bodies]
            )
        )
        return [replace(a, entities=next(found), entities_tagged=True) if self.wants(a) else a for a in batch]
