"""The performance fast paths (issue 5) give exactly the results of the code they short-cut."""

from __future__ import annotations

import pickle
import pickletools
from dataclasses import FrozenInstanceError, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import cache

import numpy as np
import pytest
from ftfy.badness import BADNESS_RE, is_bad
from hypothesis import given, settings
from hypothesis import strategies as st
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from feedflow.core.boilerplate import BoilerplateConfig, long_enough
from feedflow.core.clean import SAFE_TYPOGRAPHY, _clean_general, clean_line, fold_line, folds_longer_than
from feedflow.core.dedup import (
    content_hash,
    dedup_paragraphs,
    dedup_with_hash,
    normalize_for_dedup,
    normalized_body,
)
from feedflow.model import Article, Entity, Paragraph, TopicScore, slot_builder
from feedflow.transforms import pickling

ASCII = [chr(i) for i in range(128)]


def test_no_ascii_text_is_bad_for_ftfy() -> None:
    """clean.py skips ftfy's badness check for ASCII text: every pattern needs a non-ASCII character.
    Every ASCII string of three characters is checked (the patterns' ASCII parts are at most that long)."""
    triples = (a + b + c for a in ASCII for b in ASCII for c in ASCII)
    assert not any(BADNESS_RE.search(t) for t in triples)
    assert is_bad("The Ã©tudiant said â€œhelloâ€")  # the check itself still sees mojibake


def test_no_text_of_ascii_and_safe_typography_is_bad_for_ftfy() -> None:
    """clean.py skips ftfy's badness check for text whose only non-ASCII characters are SAFE_TYPOGRAPHY:
    every triple of such characters is checked (longer patterns all need Ø, Ù, Ã, Â or Cyrillic letters)."""
    alphabet = ASCII + list(SAFE_TYPOGRAPHY)
    pairs = [a + b for a in alphabet for b in alphabet]
    assert not any(BADNESS_RE.search(p + c) for p in pairs for c in alphabet)
    assert is_bad("caf\u00e9\u2019s \u00c3\u00a9")  # a typographic character next to mojibake still counts


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from(["A caption.", "a  CAPTION", "Body 12 text!", "Café été", "Other.", "— !"]), max_size=8)
)
def test_dedup_with_hash_is_dedup_paragraphs_and_content_hash_of_the_body(texts: list[str]) -> None:
    paragraphs, digest, normalized = dedup_with_hash(texts)
    assert paragraphs == dedup_paragraphs(texts)
    body = [p.text for p in paragraphs if p.duplicate_of is None]
    assert digest == content_hash(body)
    assert normalized == normalized_body(body)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.text(
            alphabet=st.sampled_from(
                [
                    *"ab Z1_ -.,'\t\n",
                    "\u0301",
                    "\u0308",
                    "é",
                    "ß",
                    "İ",
                    "ŉ",
                    "Σ",
                    "ς",
                    "—",
                    "\u00a0",
                    "\u2028",
                    "٣",
                    "ﬁ",
                    "Å",
                ]
            ),
            max_size=12,
        ),
        max_size=6,
    )
)
def test_the_key_of_a_joined_body_is_the_join_of_its_paragraphs_keys(paragraphs: list[str]) -> None:
    """normalized_body (what MinHasher shingles) builds the joined body's key per paragraph (so that one
    non-ASCII paragraph does not send the whole body down the slow path): it must be the key of the
    joined text. Combining
    marks at a paragraph's start, case folding that grows a character, digits, separators."""
    assert normalized_body(paragraphs) == normalize_for_dedup(" ".join(paragraphs))


def _long_enough_reference(text: str, config: BoilerplateConfig) -> bool:
    return len(text.strip()) >= config.min_chars and len(normalize_for_dedup(text).split()) >= config.min_words


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.sampled_from([*"ab1_ -.,'\t", "é", "ß", "—", "\u0301", "0"]), max_size=60),
    st.integers(-1, 8),
    st.integers(0, 12),
)
def test_long_enough_fast_path_matches_the_key_word_count(text: str, min_words: int, min_chars: int) -> None:
    """ASCII text counts its words only up to min_words (any min_words, none or negative included)."""
    config = BoilerplateConfig(min_chars=min_chars, min_words=min_words)
    assert long_enough(text, config) == _long_enough_reference(text, config)


_ARTICLE = Article(
    article_id="a1", input="in", locator="line 1", kind="json", url="https://x.example/1", source="x.example",
    feed_url=None, title="T", authors=("A",), published_at=None, fetched_at=datetime(2024, 1, 1, tzinfo=UTC),
    summary=None,
    paragraphs=(Paragraph(0, "Hello world.", 5, None, False), Paragraph(1, "Hello world!", 5, 0, None)),
    content_hash="h", language="en", entities=(Entity("World", "LOC", 1, ("world",), 6),),
    topics=(TopicScore("medtop:1", "x", 0.5, ("y",)),), entities_tagged=True, minhash=(1, -2),
)  # fmt: skip


def test_records_pickle_to_equal_records_through_the_registered_reducers() -> None:
    pickling.register()
    article = _ARTICLE
    data = pickle.dumps(article, pickle.HIGHEST_PROTOCOL)
    assert pickle.loads(data) == article
    # rebuilt by the constructor from its values (REDUCE), not by dataclasses' per-field state (BUILD)
    opcodes = {op.name for op, _, _ in pickletools.genops(data)}
    assert "REDUCE" in opcodes and "BUILD" not in opcodes
    # its paragraphs travel as plain value tuples, rebuilt in one call: the Paragraph class is not in it
    assert b"Paragraph" not in data and b"Entity" in data
    assert [type(p) for p in pickle.loads(data).paragraphs] == [Paragraph, Paragraph]
    bare = replace(article, paragraphs=())
    assert pickle.loads(pickle.dumps(bare, pickle.HIGHEST_PROTOCOL)) == bare


@settings(max_examples=200, deadline=None)
@given(
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.sampled_from([UTC, None])),
    st.one_of(st.none(), st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]))),
)
def test_an_articles_dates_round_trip_exactly_with_their_time_zone(
    fetched: datetime, published: datetime | None
) -> None:
    """UTC dates travel as integers of microseconds; any other date (naive, another zone) as it is."""
    pickling.register()
    article = replace(_ARTICLE, fetched_at=fetched, published_at=published)
    back = pickle.loads(pickle.dumps(article, pickle.HIGHEST_PROTOCOL))
    assert (back.fetched_at, back.published_at) == (fetched, published)
    assert back.fetched_at.tzinfo == fetched.tzinfo and (back.fetched_at.tzinfo is UTC) == (fetched.tzinfo is UTC)
    assert (back.published_at.tzinfo if back.published_at else None) == (published.tzinfo if published else None)
    if fetched.tzinfo is UTC:
        assert b"datetime" not in pickle.dumps(replace(article, published_at=None), pickle.HIGHEST_PROTOCOL)


def test_the_slot_builder_makes_what_the_constructor_makes_and_only_where_that_is_all_it_does() -> None:
    from dataclasses import dataclass, fields

    build = slot_builder(Article)
    values = [getattr(_ARTICLE, f.name) for f in fields(Article)]
    rebuilt = build(*values)
    assert type(rebuilt) is Article and rebuilt == _ARTICLE and hash(rebuilt.paragraphs) == hash(_ARTICLE.paragraphs)
    paragraph = slot_builder(Paragraph)(3, "text", -7, 1, True)
    assert paragraph == Paragraph(3, "text", -7, 1, True)
    with pytest.raises(FrozenInstanceError):
        paragraph.text = "changed"  # type: ignore[misc]  # the point: still frozen

    @dataclass(frozen=True, slots=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            if self.value < 0:
                raise ValueError("negative")

    @dataclass(frozen=True)
    class Unslotted:
        value: int

    # a class whose __init__ does more than store (or that has no slots) keeps its own constructor
    assert slot_builder(Checked) is Checked and slot_builder(Unslotted) is Unslotted


def test_the_core_records_that_cross_shuffles_pickle_through_the_reducers_too() -> None:
    from feedflow.core.dataset import KnownVersion, TableRow, WrittenFile
    from feedflow.core.neardup import Assignment, Edge, SigRecord

    pickling.register()
    records = [
        SigRecord("a1", (1, 0, 5, "a1"), tuple(range(-64, 64))),
        Edge((1, 0, 7, "a2"), (0, 0, 5, "a1"), 0.8),
        Assignment("a2", "a1", 0.8),
        KnownVersion("a1", 2, "h"),
        TableRow("articles", "date=2024-01-01", {"article_id": "a1", "version": 1}),
        WrittenFile("articles", "date=2024-01-01", "articles/date=2024-01-01/p.parquet", 3),
    ]
    for record in records:
        data = pickle.dumps(record, pickle.HIGHEST_PROTOCOL)
        assert pickle.loads(data) == record
        opcodes = {op.name for op, _, _ in pickletools.genops(data)}
        assert "REDUCE" in opcodes and "BUILD" not in opcodes, type(record).__name__


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from([*"aB1_ -.,!'\t", "é", "ß", "İ", "—"]), max_size=40), st.integers(0, 30))
def test_a_text_that_surely_folds_longer_is_longer_when_folded(text: str, length: int) -> None:
    """clean_paragraphs skips folding a paragraph that cannot be on the boilerplate list (its fold is
    longer than every entry): the shortcut may only ever answer for texts whose fold really is longer."""
    if folds_longer_than(text, length):
        assert len(fold_line(text)) > length
    if text.isascii() and len(fold_line(text)) > length + len(text) // 2 + 1:
        assert folds_longer_than(text, length)  # and it does answer for plainly long ASCII text


_LANGUAGE_SAMPLES = [
    "The minister said on Tuesday that the talks would resume next week in Geneva.",
    "Le gouvernement a annoncé mardi une nouvelle réforme des retraites.",
    "Die Regierung hat am Dienstag eine neue Reform angekündigt.",
    "El presidente dijo que las negociaciones continuarán la próxima semana.",
    "Правительство объявило во вторник о новой реформе.",
    "政府は火曜日に新たな改革を発表した。",
    "THE MINISTER SAID ON TUESDAY THAT THE TALKS WOULD RESUME",
    "a",
    "12 34",
    "Café été naïve façade",
    "",
]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(_LANGUAGE_SAMPLES), min_size=1, max_size=4), st.text(max_size=40))
def test_the_float32_language_table_scores_exactly_as_the_packaged_float16_one(parts: list[str], noise: str) -> None:
    """language._identifier() holds py3langid's table as float32 (a speed-up): every language and
    probability must be the packaged model's, bit for bit."""
    from feedflow.core.language import _identifier

    stock = _stock_identifier()
    text = " ".join([*parts, noise])
    ours = _identifier()
    assert ours.nb_ptc.dtype.name == "float32" and stock.nb_ptc.dtype.name == "float16"
    assert ours.classify(text) == stock.classify(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=700), st.booleans())
def test_the_compiled_windowed_walk_scores_any_text_as_py3langids_loop(text: str, as_bytes: bool) -> None:
    """Any characters (scripts, controls, surrogates), as text or as UTF-8 bytes: same language and
    probability as the stock identifier, and the same raw scores bit for bit."""
    from feedflow.core.language import _identifier

    sample: str | bytes = text.encode("utf-8", "surrogatepass") if as_bytes else text
    ours, stock = _identifier(), _stock_identifier()
    assert ours.classify(sample) == stock.classify(sample)
    encoded = stock._encode(sample)
    assert ours._raw_score(encoded).tobytes() == stock._raw_score(encoded).tobytes()


def test_py3langids_automaton_is_synchronised_after_sync_bytes() -> None:
    """The premise of the windowed walk: from every state, every string of SYNC_BYTES bytes reaches the
    state it reaches from the start. Proved by following all pairs (state from anywhere, state from the
    start) that still differ, byte by byte: none may be left after SYNC_BYTES bytes."""
    from feedflow.core.language import SYNC_BYTES, _identifier

    identifier = _identifier()
    moves = np.frombuffer(identifier.tk_nextmove, dtype=np.uint32).astype(np.int64)
    rows = np.asarray(identifier._rowbase, dtype=np.int64)
    count = len(rows)
    every_byte = np.arange(256)
    anywhere, start = np.arange(count), np.zeros(count, dtype=np.int64)
    left = []
    for _ in range(SYNC_BYTES):
        after_anywhere = moves[rows[anywhere][:, None] + every_byte].ravel()
        after_start = moves[rows[start][:, None] + every_byte].ravel()
        differ = after_anywhere != after_start
        pairs = np.unique(after_anywhere[differ] * count + after_start[differ])
        anywhere, start = pairs // count, pairs % count
        left.append(len(pairs))
    assert left[0] > 0  # the walk's history does matter for a while (the check is not vacuous)...
    assert left[-1] == 0  # ...and not after SYNC_BYTES bytes


@cache
def _stock_identifier() -> LanguageIdentifier:
    """py3langid's packaged model as py3langid loads it (float16 table)."""
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=st.sampled_from([*ASCII, *"  \t\n-*+ab"]), max_size=30))
def test_clean_line_of_ascii_text_is_the_general_loops_result(text: str) -> None:
    """clean.py cleans ASCII lines in one pass (``_clean_ascii``); the general loop (ftfy, NFC,
    controls, whitespace, bullets, until nothing changes) must give the same line for every ASCII text."""
    assert clean_line(text) == _clean_general(text)


def test_clean_line_of_ascii_text_maps_controls_collapses_whitespace_and_drops_bullets() -> None:
    assert clean_line(" \x00- * \x1fThe\t\tteam \x7f said ") == "The team said"


def _identity_step() -> object:
    return lambda element: element


def test_a_worker_raises_the_collectors_threshold_but_never_lowers_it_or_turns_it_on() -> None:
    """CoreStepFn.setup() tunes the cyclic collector of the process it runs in (transforms.base.tune_collector)."""
    import gc

    from feedflow.transforms.base import GC_THRESHOLD, CoreStepFn

    saved = gc.get_threshold()
    try:
        seen = []
        for before in [(700, 10, 10), (GC_THRESHOLD * 2, 5, 5), (0, 10, 10)]:
            gc.set_threshold(*before)
            CoreStepFn("Step", _identity_step).setup()
            seen.append(gc.get_threshold())
        assert seen == [(GC_THRESHOLD, 20, 20), (GC_THRESHOLD * 2, 5, 5), (0, 10, 10)]
    finally:
        gc.set_threshold(*saved)
