"""Tagging steps: topics per article; entities per distinct piece of text, joined back to articles.

Each step is a callable object built once per worker (it holds a model or an automaton) and applied
to records; the Beam layer only decides when to build it, how to batch and how to route.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from feedflow.config import NerConfig, TopicConfig
from feedflow.core.entities import MentionValues, Spans, aggregate_values, ner_pieces
from feedflow.core.topics import TopicTagger
from feedflow.model import Article


class TopicStep:
    """Article → the same article with its IPTC top-level topics."""

    def __init__(self, config: TopicConfig) -> None:
        self._tagger = TopicTagger(config)

    def __call__(self, article: Article) -> Article:
        return replace(article, topics=self._tagger.tag(article.title or "", article.body))


# ------------------------------------------------------------------ entities routed by paragraph text
#
# Across workers, a per-worker cache cannot stop two workers from each running the model on the same
# syndicated paragraph. The pipeline instead groups the pieces of all articles by text, so that each
# distinct piece reaches ONE worker ONCE, and joins the mentions back to their articles:
#   article → entity_pieces → (piece, (article_id, offset)) → group by piece → EntityTagger.spans_many
#   → (article_id, mentions_at(...)) → join by article_id → with_mentions


def wants_entities(article: Article, config: NerConfig) -> bool:
    """Only articles in the model's language go through it; the others keep ``entities_tagged`` false."""
    return article.language == config.language


def entity_pieces(article: Article) -> list[tuple[int, str]]:
    """``(offset in Article.text, piece)`` of each piece of the article's body that the model runs on."""
    return [(offset, piece) for _, offset, piece in ner_pieces(article.body)]


# A mention crosses the join back to the articles as plain values (``MentionValues``: text, label,
# offset): Beam's coder encodes such tuples natively, about ten times faster than pickled records.


def mentions_at(text: str, spans: Spans, offset: int) -> tuple[MentionValues, ...]:
    """The spans of one piece as mentions of an article in which the piece starts at ``offset``."""
    return tuple((text[start:end], label, offset + start) for label, start, end in spans)


def with_mentions(article: Article, mentions: Iterable[MentionValues]) -> Article:
    """The article with the entities folded from all its pieces' mentions (in any order)."""
    return replace(article, entities=aggregate_values(mentions), entities_tagged=True)
