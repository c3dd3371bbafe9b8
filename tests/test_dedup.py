"""Dedup keys and within-article paragraph dedup."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from feedflow.core.dedup import content_hash, dedup_paragraphs, key_hash, normalize_for_dedup


def test_normalization_folds_case_digits_accents_punctuation() -> None:
    assert normalize_for_dedup("  Café, May 28 2021 — “Hello”!  ") == "cafe may 00 0000 hello"


def test_later_copies_point_at_the_first() -> None:
    paragraphs = dedup_paragraphs(["A caption.", "Body text.", "a  CAPTION", "Other.", "Body text!"])
    assert [p.duplicate_of for p in paragraphs] == [None, None, 0, None, 1]
    assert paragraphs[0].key_hash == paragraphs[2].key_hash != paragraphs[1].key_hash


def test_key_hash_is_a_signed_64_bit_int_and_stable() -> None:
    value = key_hash("Smugglers abandoned a 5-year-old boy")
    assert -(2**63) <= value < 2**63
    assert value == key_hash("SMUGGLERS abandoned a 7-year-old boy.")


def test_content_hash_ignores_formatting_but_not_words() -> None:
    assert content_hash(["Hello, world."]) == content_hash(["hello world"])
    assert content_hash(["Hello world"]) != content_hash(["Hello there"])


words = st.lists(
    st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=8), min_size=1, max_size=10
)


@settings(max_examples=300, deadline=None)
@given(
    words,
    st.lists(st.sampled_from([" ", "  ", "\t", "\n", " , ", "! ", " — ", "...", " (", ") "]), min_size=1),
    st.booleans(),
)
def test_key_is_invariant_to_whitespace_case_and_punctuation(tokens: list[str], seps: list[str], upper: bool) -> None:
    plain = " ".join(tokens)
    noisy = "".join(t + seps[i % len(seps)] for i, t in enumerate(tokens))
    noisy = noisy.upper() if upper else noisy.lower()
    assert key_hash(noisy) == key_hash(plain)


def _reference_normalization(text: str) -> str:
    """The normalization as first written: NFD, every combining mark dropped char by char, …"""
    import re
    import unicodedata

    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    folded = re.sub(r"\d", "0", stripped.casefold())
    return re.sub(r"[\W_]+", " ", folded).strip()


@settings(max_examples=500, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=60)
    | st.sampled_from(["Café Zürich’s “crème” brûlée", "ǅ ﬁ ᾏ Å ñ"])
)
def test_the_ascii_fast_path_normalizes_exactly_like_the_reference(text: str) -> None:
    assert normalize_for_dedup(text) == _reference_normalization(text)


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.characters(max_codepoint=0x7F), max_size=80))
def test_the_byte_translation_of_ascii_text_equals_the_reference(text: str) -> None:
    # every ASCII character class: controls, digits, letters of both cases, "_", punctuation, DEL
    assert normalize_for_dedup(text) == _reference_normalization(text)


@settings(max_examples=1000, deadline=None)
@given(
    st.text(
        alphabet=st.characters(max_codepoint=0x7F)
        | st.sampled_from([*"\u00a0\u2019\u201c\u201d\u2014\u2026\u00a3\u20ac\u2022\u00ab", *"éüßİǅ\u0301\u0308"]),
        max_size=80,
    )
)
def test_typographic_characters_take_the_fast_path_with_the_same_key(text: str) -> None:
    # quotes, dashes, spaces and currency signs beside ASCII, accented letters and bare combining marks
    assert normalize_for_dedup(text) == _reference_normalization(text)
