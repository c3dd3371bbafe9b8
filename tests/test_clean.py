"""Cleaning: paragraphs, bullets, boilerplate, mojibake, controls — and idempotence (hypothesis)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from feedflow.config import CleanConfig
from feedflow.core.clean import clean_line, clean_paragraphs, clean_text, clean_title, split_text


def test_bullets_become_their_own_paragraphs_without_glyphs() -> None:
    text = "Title line\n\n  • Official says aides panicked\n  • They worried\n  • But her team insisted"
    assert clean_text(text) == ["Title line", "Official says aides panicked", "They worried", "But her team insisted"]


def test_hard_wrapped_lines_are_joined_and_whitespace_collapsed() -> None:
    assert split_text("one\ntwo   three\n\n\n four") == ["one two   three", "four"]
    assert clean_text("one\ntwo   three\n\n\n four") == ["one two three", "four"]


def test_boilerplate_and_wordless_lines_are_dropped() -> None:
    paragraphs = ["Advertisement", "SHARE THIS ARTICLE!", "Read more »", "* * *", "—", "Real news here."]
    assert clean_paragraphs(paragraphs) == ["Real news here."]


def test_custom_boilerplate_list_replaces_the_default() -> None:
    config = CleanConfig(boilerplate_lines=frozenset({"subscribe now"}))
    assert clean_paragraphs(["Subscribe now.", "Advertisement"], config) == ["Advertisement"]


def test_mojibake_is_repaired_and_typographic_quotes_kept() -> None:
    assert clean_line("The team â€˜panickedâ€™ when") == "The team ‘panicked’ when"
    assert clean_line("‘We are all part of one team’") == "‘We are all part of one team’"


def test_controls_bidi_and_zero_width_characters_are_removed() -> None:
    assert clean_line("a\u200bb\u202ec\x00d\x07e") == "abc d e"


def test_nfc_normalization() -> None:
    assert clean_line("Cafe\u0301") == "Café"


def test_titles() -> None:
    assert clean_title("  • Breaking:\n news ") == "Breaking: news"
    assert clean_title("   ") is None
    assert clean_title(None) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(max_size=80), max_size=8))
def test_cleaning_is_idempotent(paragraphs: list[str]) -> None:
    once = clean_paragraphs(paragraphs)
    assert clean_paragraphs(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_text_cleaning_is_idempotent_through_a_round_trip(text: str) -> None:
    once = clean_text(text)
    assert clean_text("\n\n".join(once)) == once
    assert all(p and p == p.strip() and "\n" not in p for p in once)
