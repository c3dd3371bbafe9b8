"""Cross-article boilerplate: evidence, counting distinct stories, marking, and committed evidence."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedflow.core.articles import ArticleBuilder, BuildConfig
from feedflow.core.boilerplate import (
    SKETCH_SIZE,
    BoilerplateConfig,
    KeyCounter,
    count_stories,
    evidence,
    items_of,
    long_enough,
    mark,
    mix_keys,
    partition_folder,
    read_committed_evidence,
    sketch_of,
    smallest,
)
from feedflow.core.dataset import PartFileWriter, article_rows
from feedflow.core.dedup import key_hash
from feedflow.core.neardup import MinHasher, to_stored
from feedflow.core.neardup import sign as sign_with
from feedflow.core.schemas import load_schemas
from feedflow.model import Article, RawArticle
from feedflow.transforms.dedup import EvidenceFn, SmallestEvidenceFn

CONFIG = BoilerplateConfig()
FOOTER = "Follow the Harbour Gazette on social media for breaking news from the coast."
_VOCABULARY = (
    "council budget harbour storm coast market shares election minister hospital patients court ruling school "
    "teachers energy prices river flood police inquiry festival music rail strike bank rates football league"
)
WORDS = tuple(_VOCABULARY.split(" "))


def sentences(seed: int, n: int = 5) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(30)).capitalize() + "." for _ in range(n)]


def sign(article: Article) -> Article:
    return sign_with(article, MinHasher())


def build(paragraphs: list[str], url: str, source: str = "Harbour Gazette") -> Article:
    raw = RawArticle(
        input="test",
        locator=url,
        kind="json",
        url=url,
        title="A title",
        text="\n\n".join(paragraphs),
        published=datetime(2024, 5, 1, tzinfo=UTC),
        source=source,
    )
    article = ArticleBuilder(BuildConfig(run_started=datetime(2024, 5, 2, tzinfo=UTC)))(raw)
    assert isinstance(article, Article)
    return article


# ---------------------------------------------------------------------------------------- evidence


@pytest.mark.parametrize(
    ("text", "enough"),
    [
        ("Reuters", False),
        ("WASHINGTON (Reuters) -", False),
        ("By Jane Smith, Staff Writer", False),  # 27 characters
        ("Photographs: Associated Press/Reuters", False),  # 37 characters but 4 words
        ("Sign up for our daily newsletter today.", True),
        ("Follow us on Twitter and Facebook for more.", True),
    ],
)
def test_short_paragraphs_are_no_evidence(text: str, enough: bool) -> None:
    assert long_enough(text, CONFIG) is enough


def test_evidence_is_first_copies_of_long_paragraphs_with_one_sketch_per_article() -> None:
    article = sign(build([*sentences(1, 3), FOOTER, "Harbour Gazette staff", FOOTER.upper()], "https://g.example/1"))
    items = evidence(article, CONFIG)
    keys = [key for (_, key), _ in items]
    assert sorted(keys) == sorted({key_hash(p) for p in [*sentences(1, 3), FOOTER]})
    assert {source for (source, _), _ in items} == {"Harbour Gazette"}
    assert {item for _, item in items} == {(article.article_id, items[0][1][1])}
    assert len(items[0][1][1]) == SKETCH_SIZE
    signature = MinHasher().signature(article.body)
    assert signature is not None and items[0][1][1] == to_stored(signature)[:SKETCH_SIZE]


def test_the_builder_signs_the_body_it_built() -> None:
    # in-article repeats (any case) and paragraphs with no words are not part of the signed body
    paragraphs = [*sentences(2, 3), sentences(2, 3)[0].upper(), "— !", "Short one here."]
    article = build(paragraphs, "https://g.example/signed")
    signature = MinHasher().signature(article.body)
    assert signature is not None and article.minhash == to_stored(signature)
    assert article.minhash != to_stored(MinHasher().signature(paragraphs))  # type: ignore[arg-type]
    assert build(["Four words only here."], "https://g.example/short").minhash == ()


def test_evidence_signs_only_an_article_whose_signature_was_cleared() -> None:
    # e.g. --fetch-articles replaced the body after the builder signed it (core.enrich clears minhash)
    fn = EvidenceFn(CONFIG)
    fn.setup()
    built = build([*sentences(3, 3), FOOTER], "https://g.example/page")
    assert next(iter(fn.process(built))) is built
    signed = next(iter(fn.process(replace(built, minhash=()))))
    assert isinstance(signed, Article) and signed.minhash == built.minhash


# ---------------------------------------------------------------------------------------- counting


def ev(article_id: str, seed: int) -> tuple[str, tuple[int, ...]]:
    signature = MinHasher().signature(sentences(seed))
    assert signature is not None
    return article_id, sketch_of(to_stored(signature))


def test_copies_of_one_story_count_once() -> None:
    story = ev("a", 10)
    copy = ("b", story[1])
    revised_signature = MinHasher().signature([*sentences(10)[:4], *sentences(11, 1)])
    assert revised_signature is not None
    revised = ("c", sketch_of(to_stored(revised_signature)))
    assert count_stories([story, copy, revised], 3) == 1
    assert count_stories([story, copy, revised, ev("d", 20), ev("e", 30)], 3) == 3
    assert count_stories([story, copy, revised], 3, same_at=2.0) == 3  # every article counts
    assert count_stories([("x", ()), ("y", ()), ("z", ())], 3) == 3  # no sketch: distinct stories


def test_counting_stops_at_the_limit() -> None:
    assert count_stories([ev(str(i), 100 + i) for i in range(10)], 3) == 3


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 40), st.integers(0, 3)), max_size=60), st.randoms(use_true_random=False))
def test_keeping_the_smallest_ids_does_not_depend_on_grouping_or_order(
    items: list[tuple[int, int]], rng: random.Random
) -> None:
    evidence_items = [(f"id{n:03d}", (v,) * SKETCH_SIZE) for n, v in items]
    expected = smallest([evidence_items], 6)
    shuffled = list(evidence_items)
    rng.shuffle(shuffled)
    cut = sorted(rng.sample(range(len(shuffled) + 1), 2)) if len(shuffled) > 1 else [0, 0]
    parts = [shuffled[: cut[0]], shuffled[cut[0] : cut[1]], shuffled[cut[1] :]]
    assert smallest([smallest([p], 6) for p in parts], 6) == expected
    combine = SmallestEvidenceFn(6)
    accumulators = []
    for part in parts:
        accumulator = combine.create_accumulator()
        for item in part:
            accumulator = combine.add_input(accumulator, item)
        accumulators.append(accumulator)
    assert combine.extract_output(combine.merge_accumulators(accumulators)) == expected
    assert len({i for i, _ in expected}) == len(expected) <= 6


# ----------------------------------------------------------------------------------------- marking


def test_mark_removes_boilerplate_from_the_body_and_flags_every_paragraph() -> None:
    article = sign(build([*sentences(2, 3), "Harbour Gazette staff", FOOTER, FOOTER], "https://g.example/2"))
    marked = mark(article, {key_hash(FOOTER)}, CONFIG)
    assert [p.boilerplate for p in marked.paragraphs] == [False, False, False, None, True, True]
    assert marked.body == (*sentences(2, 3), "Harbour Gazette staff")
    assert FOOTER not in marked.text and marked.boilerplate_paragraphs == 2 and marked.duplicate_paragraphs == 1
    assert marked.minhash == () and sign(marked).minhash != article.minhash  # the old body's signature is dropped
    unmarked = mark(article, set(), CONFIG)
    assert [p.boilerplate for p in unmarked.paragraphs] == [False, False, False, None, False, False]
    assert unmarked.text == article.text and unmarked.minhash == article.minhash


def test_the_builders_signature_is_kept_or_signed_afresh_when_mark_changes_the_body() -> None:
    """The builder signs the body; SignArticlesFn keeps that signature. That is right only because
    mark() clears the values when it removes paragraphs: both paths must end at the final body's
    whole signature."""
    hasher = MinHasher()
    article = build([*sentences(7), FOOTER], "https://gazette.example/sketch")
    whole = MinHasher().signature(article.body)
    assert whole is not None and article.minhash == to_stored(whole)
    assert sign_with(article, hasher) is article  # a signature is kept as it is

    unchanged = mark(article, [], CONFIG)  # no boilerplate: the signature stays
    assert sign_with(unchanged, hasher).minhash == article.minhash

    changed = mark(article, [key_hash(FOOTER)], CONFIG)  # the footer goes: a fresh signature
    assert changed.boilerplate_paragraphs == 1 and changed.minhash == ()
    assert sign_with(changed, hasher).minhash == build(sentences(7), "https://gazette.example/x").minhash


def test_an_article_is_never_emptied() -> None:
    article = build([FOOTER, "Harbour Gazette staff"], "https://g.example/3")
    assert mark(article, {key_hash(FOOTER)}, CONFIG).text == "Harbour Gazette staff"  # not empty: removed
    only = build([FOOTER], "https://g.example/4")
    marked = mark(only, {key_hash(FOOTER)}, CONFIG)
    assert marked.text == FOOTER and [p.boilerplate for p in marked.paragraphs] == [False]


# --------------------------------------------------------------------------------- committed data


def write_committed(root: Path, articles: list[Article]) -> list[str]:
    """Articles and paragraphs files as a committed run leaves them (same layout, same writer)."""
    writer = PartFileWriter(str(root), load_schemas())
    for article in articles:
        for row in article_rows(article, "run1", ("date", "source")):
            writer.add(row)
    writer.flush()
    return sorted(str(p) for p in (root / "articles").rglob("*.parquet"))


def test_committed_evidence_is_read_per_partition_folder(tmp_path: Path) -> None:
    articles = [
        sign(mark(build([*sentences(40 + n, 2), "Staff", FOOTER, FOOTER], f"https://g.example/c{n}"), (), CONFIG))
        for n in range(3)
    ]
    files = write_committed(tmp_path / "data", articles)
    assert len(files) == 1 and partition_folder(files[0]) == "date=2024-05-01/source=Harbour%20Gazette"
    found = sorted(read_committed_evidence(files, CONFIG))
    expected = sorted(
        (("Harbour Gazette", key_hash(text)), (a.article_id, a.minhash[:SKETCH_SIZE]))
        for a in articles
        for text in [*a.body[:2], FOOTER]
    )
    assert found == expected  # the short "Staff" and the repeated footer are no evidence


def test_paragraph_files_from_before_the_flag_column_decide_by_length(tmp_path: Path) -> None:
    article = build([*sentences(50, 2), "Staff", FOOTER], "https://g.example/old")
    files = write_committed(tmp_path / "data", [article])
    for path in (tmp_path / "data" / "paragraphs").rglob("*.parquet"):
        pq.write_table(pq.read_table(path).drop_columns(["boilerplate"]), path)
    for path in files:
        pq.write_table(pq.read_table(path).drop_columns(["minhash"]), path)
    found = sorted(read_committed_evidence(files, CONFIG))
    assert found == sorted(
        (("Harbour Gazette", key_hash(t)), (article.article_id, ())) for t in [*sentences(50, 2), FOOTER]
    )


# ------------------------------------------------------------------- counting keys before stories


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.sets(st.integers(-(2**63), 2**63 - 1) | st.integers(0, 6))),
        max_size=30,
    ),
    st.integers(0, 4),
    st.integers(2, 5),
)
def test_keys_worth_counting_are_those_held_by_enough_articles(
    articles: list[tuple[str, set[int]]], cut: int, min_articles: int
) -> None:
    """The key counter's answer, however the additions are split and merged, is exactly the (source,
    key) pairs held by at least ``min_articles`` articles (new ones plus committed items), as mixes."""
    records = [(f"id{n}", source, tuple(sorted(keys)), ()) for n, (source, keys) in enumerate(articles)]
    committed = {("A", 3): [("old1", ()), ("old2", ()), ("old2", ())]}  # two distinct committed articles
    held: dict[tuple[str, int], int] = {}
    for _, source, keys, _ in records:
        for key in keys:
            held[(source, key)] = held.get((source, key), 0) + 1
    held[("A", 3)] = held.get(("A", 3), 0) + 2
    expected = {mix_keys(s, (k,))[0] for (s, k), n in held.items() if n >= min_articles}

    parts = [KeyCounter(min_articles), KeyCounter(min_articles)]
    for n, record in enumerate(records):
        parts[n < cut * len(records) // 4].add(("new", record))
    parts[0].add(("old", (("A", 3), committed[("A", 3)])))
    parts[1].compact()
    merged = KeyCounter(min_articles)
    for part in parts:
        merged.merge(part)
    assert merged.result() == expected
    for record in records:  # only the items of keys worth counting come out, each as evidence() would
        kept = items_of(record, expected)
        assert [key for (_, key), _ in kept] == [k for k in record[2] if held[(record[1], k)] >= min_articles]
    assert all(items_of(r) == [((r[1], k), (r[0], r[3])) for k in r[2]] for r in records)
