"""Named-entity tagging: normalisation and folding (pure), and the spaCy-backed tagger (model loaded once)."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from feedflow.config import NerConfig
from feedflow.core.entities import (
    EntityTagger,
    Mention,
    ModelNotInstalledError,
    _chunks,
    _trim,
    aggregate_mentions,
    aggregate_values,
    mask_bullets,
    normalize_mention,
)
from feedflow.model import Entity

SEED = Path(__file__).resolve().parents[1] / "seeds" / "harris_border.txt"
BULLETS = ("•", "·", "▪", "-", "*")


def by_key(entities: Sequence[Entity]) -> dict[tuple[str, str], Entity]:
    return {(e.entity, e.label): e for e in entities}


def seed_paragraphs() -> list[str]:
    blocks = SEED.read_text(encoding="utf-8").split("\n\n")
    return [b.strip() for b in blocks if b.strip()]


# --------------------------------------------------------------------------------------------------
# normalize_mention
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # possessives and bare trailing apostrophes
        ("Kamala Harris’s", "Kamala Harris"),
        ("Kamala Harris’", "Kamala Harris"),
        ("Biden's", "Biden"),
        ("Biden'", "Biden"),
        ("HARRIS’S", "HARRIS"),
        ("the Smiths’", "Smiths"),
        # bullets
        ("• Official", "Official"),
        ("  • Kamala Harris", "Kamala Harris"),
        ("· Texas", "Texas"),
        ("▪ Mexico", "Mexico"),
        ("- Reuters", "Reuters"),
        ("* Reuters", "Reuters"),
        # leading "the"
        ("the White House", "White House"),
        ("The Northern Triangle", "Northern Triangle"),
        ("the United States’", "United States"),
        # quotes and surrounding punctuation
        ("‘CNN’", "CNN"),
        ("“Agence France-Presse”", "Agence France-Presse"),
        ('"Guatemala"', "Guatemala"),
        ("'Guatemala'", "Guatemala"),
        ("Texas,", "Texas"),
        ("(Mexico", "Mexico"),
        # whitespace
        ("Kamala\n  Harris", "Kamala Harris"),
        ("  Dana   Bash  ", "Dana Bash"),
        # inner punctuation, abbreviations and balanced brackets are kept
        ("Agence France-Presse", "Agence France-Presse"),
        ("U.S.", "U.S."),
        ("Apple Inc.", "Apple Inc."),
        ("Alphabet (Google)", "Alphabet (Google)"),
        # several rules at once
        ("  • the White House’s ", "White House"),
        ("“Harris’s”", "Harris"),
    ],
)
def test_normalize_mention(raw: str, expected: str) -> None:
    assert normalize_mention(raw) == expected


@pytest.mark.parametrize("raw", ["", "   ", "•", "’", "...", "2021", "5-10", "  • 42 ’"])
def test_normalize_mention_drops_empty_punctuation_and_digits(raw: str) -> None:
    assert normalize_mention(raw) == ""


_NAME_PARTS = st.sampled_from(
    ["the", "The", "THE", "Biden", "O'Neil", "U.S.", "Inc.", "Jr", "s", "S", "ſ", "x", "É", "42", "萬", "_"]
)
_ODD_BITS = st.sampled_from(
    [" ", "  ", "\n", "\t", "'", "’", "‘", "`", "'s", "’S", ".", ",", "(", ")", "[", "•", "-", "™", "^"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_NAME_PARTS, _ODD_BITS), max_size=7).map("".join))
@example("the Biden")
@example("THE\tU.S.")
@example("Biden's")
@example("O'Neil’S")
@example("x")
@example("42nd Street")
def test_normalize_mention_fast_path_agrees_with_trimming(raw: str) -> None:
    """Most mentions need no trimming and skip it; the result is what trimming gives, for any text."""
    start, end = _trim(raw)
    canonical = " ".join(raw[start:end].split())
    assert normalize_mention(raw) == (canonical if any(ch.isalpha() for ch in canonical) else "")


def test_mask_bullets_keeps_length_and_text() -> None:
    text = "• Official says\n  • They worried\n- Third item\nA well-known x · y"
    masked = mask_bullets(text)
    assert len(masked) == len(text)
    assert masked == "  Official says\n    They worried\n  Third item\nA well-known x   y"


# --------------------------------------------------------------------------------------------------
# aggregate_mentions (pure)
# --------------------------------------------------------------------------------------------------


def test_aggregate_empty() -> None:
    assert aggregate_mentions([]) == ()
    assert aggregate_mentions([Mention("’s", "PERSON", 3), Mention("2021", "ORG", 9)]) == ()


def test_aggregate_counts_surface_forms_and_offsets() -> None:
    mentions = [
        Mention("the White House", "ORG", 40),
        Mention("Mexico", "GPE", 10),
        Mention("White House", "ORG", 100),
        Mention("the White House", "ORG", 200),
    ]
    assert aggregate_mentions(mentions) == (
        Entity("Mexico", "GPE", 1, ("Mexico",), 10),
        Entity("White House", "ORG", 3, ("the White House", "White House"), 40),
    )


def test_aggregate_is_independent_of_input_order() -> None:
    mentions = [
        Mention("Kamala Harris", "PERSON", 0),
        Mention("Harris", "PERSON", 50),
        Mention("Harris’", "PERSON", 90),
        Mention("Mexico", "GPE", 20),
        Mention("Biden", "ORG", 70),
        Mention("Biden", "PERSON", 30),
        Mention("Biden", "PERSON", 130),
    ]
    expected = aggregate_mentions(mentions)
    shuffled = list(mentions)
    random.Random(7).shuffle(shuffled)
    assert aggregate_mentions(shuffled) == expected
    assert [e.first_offset for e in expected] == sorted(e.first_offset for e in expected)


def test_fold_surname_and_first_name_into_full_name() -> None:
    entities = aggregate_mentions(
        [
            Mention("Kamala Harris’", "PERSON", 0),
            Mention("Harris", "PERSON", 40),
            Mention("Harris’s", "PERSON", 80),
            Mention("Kamala", "PERSON", 120),
        ]
    )
    assert entities == (Entity("Kamala Harris", "PERSON", 4, ("Kamala Harris’", "Harris", "Harris’s", "Kamala"), 0),)


def test_fold_keeps_first_offset_of_the_short_form_when_it_comes_first() -> None:
    entities = aggregate_mentions([Mention("Harris", "PERSON", 5), Mention("Kamala Harris", "PERSON", 60)])
    assert entities == (Entity("Kamala Harris", "PERSON", 2, ("Harris", "Kamala Harris"), 5),)


def test_ambiguous_short_name_stays_unfolded() -> None:
    entities = by_key(
        aggregate_mentions(
            [
                Mention("John Smith", "PERSON", 0),
                Mention("Jane Smith", "PERSON", 20),
                Mention("Smith", "PERSON", 40),
                Mention("Smith", "PERSON", 60),
            ]
        )
    )
    assert set(entities) == {("John Smith", "PERSON"), ("Jane Smith", "PERSON"), ("Smith", "PERSON")}
    assert entities["Smith", "PERSON"].mentions == 2
    assert entities["John Smith", "PERSON"].mentions == 1


def test_fold_follows_chains_to_the_longest_name() -> None:
    entities = aggregate_mentions(
        [
            Mention("King", "PERSON", 0),
            Mention("Martin Luther King", "PERSON", 10),
            Mention("Martin Luther King Jr.", "PERSON", 40),
        ]
    )
    assert [(e.entity, e.mentions) for e in entities] == [("Martin Luther King Jr.", 3)]


def test_no_fold_between_non_person_labels() -> None:
    entities = by_key(aggregate_mentions([Mention("US Mexico", "GPE", 0), Mention("Mexico", "GPE", 30)]))
    assert set(entities) == {("US Mexico", "GPE"), ("Mexico", "GPE")}


def test_majority_label_wins_within_an_article() -> None:
    entities = aggregate_mentions(
        [Mention("Biden", "ORG", 0), Mention("Biden", "PERSON", 30), Mention("Biden’s", "PERSON", 60)]
    )
    assert entities == (Entity("Biden", "PERSON", 3, ("Biden", "Biden’s"), 0),)


def test_label_tie_keeps_both_labels() -> None:
    entities = by_key(aggregate_mentions([Mention("Georgia", "GPE", 0), Mention("Georgia", "ORG", 30)]))
    assert set(entities) == {("Georgia", "GPE"), ("Georgia", "ORG")}


def test_surname_tagged_org_joins_the_person_when_the_article_agrees() -> None:
    entities = aggregate_mentions(
        [
            Mention("Kamala Harris", "PERSON", 0),
            Mention("Harris", "ORG", 30),
            Mention("Kamala Harris", "PERSON", 60),
        ]
    )
    assert entities == (Entity("Kamala Harris", "PERSON", 3, ("Kamala Harris", "Harris"), 0),)


def test_surname_like_org_with_more_own_mentions_stays_org() -> None:
    entities = by_key(
        aggregate_mentions(
            [
                Mention("Henry Ford", "PERSON", 0),
                Mention("Ford", "ORG", 30),
                Mention("Ford", "ORG", 60),
            ]
        )
    )
    assert set(entities) == {("Henry Ford", "PERSON"), ("Ford", "ORG")}
    assert entities["Ford", "ORG"].mentions == 2


def test_surname_org_with_two_candidate_people_stays_org() -> None:
    entities = by_key(
        aggregate_mentions(
            [
                Mention("John Smith", "PERSON", 0),
                Mention("Jane Smith", "PERSON", 20),
                Mention("Smith", "ORG", 40),
            ]
        )
    )
    assert ("Smith", "ORG") in entities
    assert ("Smith", "PERSON") not in entities


# --------------------------------------------------------------------------------------------------
# helpers of the tagger
# --------------------------------------------------------------------------------------------------


def test_chunks_cover_the_paragraph_at_whitespace() -> None:
    paragraph = " ".join(f"word{i}" for i in range(200))
    pieces = list(_chunks(paragraph, limit=50))
    assert len(pieces) > 1
    assert "".join(piece for _, piece in pieces) == paragraph
    for offset, piece in pieces:
        assert len(piece) <= 50
        assert paragraph[offset : offset + len(piece)] == piece
    for _, piece in pieces[:-1]:
        assert piece.endswith(" ")


def test_chunks_without_whitespace_are_cut_hard() -> None:
    pieces = list(_chunks("x" * 120, limit=50))
    assert [(o, len(p)) for o, p in pieces] == [(0, 50), (50, 50), (100, 20)]


# --------------------------------------------------------------------------------------------------
# EntityTagger (real spaCy model, loaded once)
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tagger() -> EntityTagger:
    return EntityTagger(NerConfig())


def test_missing_model_names_the_pip_package() -> None:
    with pytest.raises(ModelNotInstalledError, match=r"pip install feedflow-no-such-model"):
        EntityTagger(NerConfig(model="feedflow_no_such_model"))


def test_only_ner_components_run(tagger: EntityTagger) -> None:
    assert "ner" in tagger.pipe_names
    assert not {"tagger", "parser", "attribute_ruler", "lemmatizer", "senter"} & set(tagger.pipe_names)


def test_empty_input(tagger: EntityTagger) -> None:
    assert tagger.tag_many([]) == []
    assert tagger.tag_many([[], ["", "   "]]) == [(), ()]


def test_article_must_be_a_sequence_of_paragraphs(tagger: EntityTagger) -> None:
    with pytest.raises(TypeError):
        tagger.tag_many(["Kamala Harris visited Mexico."])


def test_offsets_count_every_paragraph_and_separator(tagger: EntityTagger) -> None:
    paragraphs = ["", "Kamala Harris visited Mexico on Monday.", "Later, Harris flew to Guatemala."]
    text = "\n\n".join(paragraphs)
    (entities,) = tagger.tag_many([paragraphs])
    found = by_key(entities)
    assert found["Kamala Harris", "PERSON"].first_offset == text.index("Kamala Harris") == 2
    assert found["Kamala Harris", "PERSON"].mentions == 2
    assert found["Guatemala", "LOC"].first_offset == text.index("Guatemala")
    for entity in entities:
        surface = entity.surface_forms[0]
        assert text[entity.first_offset : entity.first_offset + len(surface)] == surface


def test_no_entity_across_paragraphs(tagger: EntityTagger) -> None:
    paragraphs = [
        "Smugglers abandoned a boy near the Texas border, according to video obtained by Agence France-Presse",
        "Smugglers told CNN they had left him there.",
    ]
    text = "\n\n".join(paragraphs)
    boundary = len(paragraphs[0])
    (entities,) = tagger.tag_many([paragraphs])
    assert ("Agence France-Presse", "ORG") in by_key(entities)
    for entity in entities:
        assert all("\n\n" not in s and "Smugglers" not in s for s in entity.surface_forms)
        start = entity.first_offset
        end = start + len(entity.surface_forms[0])
        assert end <= boundary or start >= boundary + 2, entity
        assert text[start:end] == entity.surface_forms[0]


def test_folding_is_per_article(tagger: EntityTagger) -> None:
    first, second = tagger.tag_many(
        [["Kamala Harris spoke to reporters in Texas."], ["Harris spoke to reporters in Texas."]]
    )
    assert ("Kamala Harris", "PERSON") in by_key(first)
    assert ("Harris", "PERSON") in by_key(second)
    assert ("Kamala Harris", "PERSON") not in by_key(second)


def test_batching_does_not_mix_articles(tagger: EntityTagger) -> None:
    articles = [
        ["Kamala Harris visited Mexico.", "Harris met officials."],
        ["CNN reported from Texas.", "Dana Bash asked questions."],
        ["Biden spoke at the White House."],
    ]
    together = tagger.tag_many(articles)
    alone = [tagger.tag_many([article])[0] for article in articles]
    assert together == alone
    assert all(together)


def test_seed_article_golden(tagger: EntityTagger) -> None:
    paragraphs = seed_paragraphs()
    text = "\n\n".join(paragraphs)
    (entities,) = tagger.tag_many([paragraphs])
    found = by_key(entities)

    # People: every "Harris" in this article is Kamala Harris, every "Biden" is the President.
    harris = found["Kamala Harris", "PERSON"]
    assert "Harris" in harris.surface_forms
    assert harris.mentions == text.count("Harris")
    assert harris.first_offset == 0
    assert found["Biden", "PERSON"].mentions == text.count("Biden")
    assert not any(e.entity == "Harris" for e in entities), "Harris must be folded into Kamala Harris"

    for name in ("Mexico", "Guatemala", "Texas"):
        assert (name, "LOC") in found, name
    for name in ("CNN", "Agence France-Presse"):
        assert (name, "ORG") in found, name
    # CoNLL-2003 annotates the building/administration as a place (LOC 12 times, ORG once in eng.train).
    assert ("White House", "LOC") in found or ("White House", "ORG") in found
    assert ("Central America", "LOC") in found or ("Northern Triangle", "LOC") in found

    for entity in entities:
        assert entity.entity, entity
        assert not entity.entity.startswith(BULLETS), entity
        assert not entity.entity.lower().startswith("the "), entity
        assert not entity.entity.endswith(("’s", "'s", "’", "'")), entity
        assert entity.entity == " ".join(entity.entity.split()), entity
        assert entity.mentions >= len(entity.surface_forms) >= 1
        surface = entity.surface_forms[0]
        assert text[entity.first_offset : entity.first_offset + len(surface)] == surface, entity
    # The bullet line "• Official says Harris aides ..." must not yield an entity "Official".
    assert not any(e.entity == "Official" for e in entities)
    assert [e.first_offset for e in entities] == sorted(e.first_offset for e in entities)
    assert len(found) == len(entities), "one entity per (name, label)"


# ------------------------------------------------ the folding's fast paths against the rules as written


def reference_roots(names: set[str]) -> dict[str, str]:
    """Rule (c) as first written: each PERSON name → the one longest name its tokens run inside."""
    tokens = {name: tuple(name.split()) for name in names}
    roots: dict[str, str] = {}
    for name in sorted(tokens, key=lambda n: (-len(tokens[n]), n)):
        toks = tokens[name]
        targets = {
            roots[other]
            for other in tokens
            if len(tokens[other]) > len(toks)
            and any(tokens[other][i : i + len(toks)] == toks for i in range(len(tokens[other]) - len(toks) + 1))
        }
        roots[name] = targets.pop() if len(targets) == 1 else name
    return roots


def reference_aggregate(mentions: list[tuple[str, str, int]]) -> tuple[Entity, ...]:
    """Rules (a), (b) and (c) of the module docstring, written plainly (no fast path)."""
    norms = [
        [canonical, label, text, offset]
        for text, label, offset in sorted(mentions, key=lambda m: (m[2], m[1], m[0]))
        if (canonical := normalize_mention(text))
    ]
    labels: dict[str, Counter[str]] = defaultdict(Counter)
    for canonical, label, _, _ in norms:
        labels[canonical][label] += 1
    for n in norms:  # (a) the most frequent label, unless tied
        ranked = labels[n[0]].most_common(2)
        if len(ranked) == 2 and ranked[0][1] > ranked[1][1]:
            n[1] = ranked[0][0]
    persons = Counter(n[0] for n in norms if n[1] == "PERSON")
    roots = reference_roots(set(persons))
    root_mentions: Counter[str] = Counter()
    for name, count in persons.items():
        root_mentions[roots[name]] += count
    others = Counter(n[0] for n in norms if n[1] != "PERSON")
    relabel = set()
    for canonical, count in others.items():  # (b) one person's surname, when the article agrees
        toks = tuple(canonical.split())
        owners = {
            roots[name]
            for name in persons
            if len(name.split()) > len(toks) and tuple(name.split())[-len(toks) :] == toks
        }
        if len(owners) == 1:
            (owner,) = owners
            votes = root_mentions[owner] + (
                persons[canonical] if canonical in persons and roots[canonical] != owner else 0
            )
            if votes > count:
                relabel.add(canonical)
    for n in norms:
        if n[0] in relabel:
            n[1] = "PERSON"
    roots = reference_roots({n[0] for n in norms if n[1] == "PERSON"})
    groups: dict[tuple[str, str], list[list[Any]]] = {}
    for n in norms:
        groups.setdefault((roots[n[0]] if n[1] == "PERSON" else n[0], n[1]), []).append(n)
    entities = [
        Entity(canonical, label, len(items), tuple(dict.fromkeys(n[2] for n in items)), items[0][3])
        for (canonical, label), items in groups.items()
    ]
    return tuple(sorted(entities, key=lambda e: (e.first_offset, e.label, e.entity)))


_PEOPLE_TOKENS = st.sampled_from(["Kamala", "Harris", "Henry", "Ford", "John", "Jane", "Smith", "George", "Washington"])


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.lists(_PEOPLE_TOKENS, min_size=1, max_size=3).map(" ".join),
            st.sampled_from(["PERSON", "ORG", "GPE"]),
            st.booleans(),
        ),
        max_size=14,
    )
)
@example([("Kamala Harris", "PERSON", False), ("Harris", "ORG", False), ("Harris", "PERSON", True)])
@example([("John Smith", "PERSON", False), ("Jane Smith", "PERSON", False), ("Smith", "PERSON", False)])
def test_folding_is_the_rules_as_written(names: list[tuple[str, str, bool]]) -> None:
    mentions = [
        (f"{name}’s" if possessive else name, label, 10 * i) for i, (name, label, possessive) in enumerate(names)
    ]
    assert aggregate_values(mentions) == reference_aggregate(mentions)
