"""IPTC Media Topics tagger: the seed article, single-topic texts, the documented scoring, the shipped data."""

from __future__ import annotations

import hashlib
import json
import math
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from conftest import eval_data_dir
from feedflow.config import TopicConfig
from feedflow.core.topics import (
    _PARAGRAPH_SEPARATOR,
    CROSS_LISTED,
    LEARNED_WEIGHT,
    MAX_EVIDENCE,
    SMOOTHING,
    TITLE_WEIGHT,
    IptcConcept,
    IptcVocabulary,
    LearnedWords,
    MatchTerm,
    TermMatcher,
    TopicTagger,
    load_topic_weights,
    load_vocabulary,
    normalize_text,
    parse_topic_weights,
    parse_vocabulary,
)
from feedflow.model import TopicScore

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "harris_border.txt"
DATA = REPO / "src" / "feedflow" / "data"

POLITICS = "medtop:11000000"
SOCIETY = "medtop:14000000"
SPORT = "medtop:15000000"
ECONOMY = "medtop:04000000"
LIFESTYLE = "medtop:10000000"
SCIENCE_TECH = "medtop:13000000"
HEALTH = "medtop:07000000"
ARTS = "medtop:01000000"

SPORTS_TEXT = (
    "Manchester United striker Marcus Rashford scored twice in the second half as his side beat "
    "Liverpool 3-1 at Old Trafford on Sunday, moving up to fourth in the Premier League table. The "
    "goalkeeper made three saves and the manager praised the defenders after the match."
)
BUSINESS_TEXT = (
    "Shares in the carmaker fell 5% after the company reported a drop in quarterly profit and cut "
    "its full-year revenue forecast, citing weaker demand. Investors on Wall Street worried that "
    "higher interest rates would hurt car sales, and the chief executive said the firm would cut "
    "costs. The stock has lost a third of its market value this year."
)


TECH_TEXT = (
    "The new version of the operating system brings a redesigned browser and faster software updates "
    "to laptops and smartphones. Engineers fixed a flaw that let malware read encrypted data, and the "
    "developers say the update uses less memory on older computers."
)
HEALTH_TEXT = (
    "Doctors at the hospital say the new vaccine cut infections among patients by half. Nurses gave "
    "the jab to thousands of people with diabetes and heart disease, and the health ministry will "
    "offer it to everyone over 65 this winter."
)
FILM_TEXT = (
    "The actress won the Oscar for her role in the film, a box office hit directed by a first-time "
    "filmmaker. The movie's soundtrack, sung by a pop star, topped the charts, and the sequel starts "
    "shooting in Hollywood next year."
)


@pytest.fixture(scope="module")
def vocabulary() -> IptcVocabulary:
    return load_vocabulary()


@pytest.fixture(scope="module")
def learned() -> LearnedWords:
    return load_topic_weights()


@pytest.fixture(scope="module")
def tagger() -> TopicTagger:
    """The tagger the pipeline uses: shipped vocabulary and shipped learned words."""
    return TopicTagger(TopicConfig())


def _seed() -> tuple[str, list[str]]:
    text = SEED.read_text(encoding="utf-8")
    title, *rest = [block.strip() for block in text.split("\n\n")]
    return title, [p for p in rest if p]


def _codes(topics: tuple[TopicScore, ...]) -> list[str]:
    return [t.code for t in topics]


# --- real texts ------------------------------------------------------------------------------------


def test_seed_article_is_politics_first_and_society_via_migration(tagger: TopicTagger) -> None:
    title, paragraphs = _seed()
    topics = tagger.tag(title, paragraphs)
    assert topics[0].code == POLITICS
    assert topics[0].label == "politics"
    by_code = {t.code: t for t in topics}
    assert SOCIETY in by_code
    assert "immigration" in by_code[SOCIETY].evidence
    assert by_code[POLITICS].score > by_code[SOCIETY].score >= TopicConfig().min_score


def test_seed_in_repo_is_the_original_seed_when_available() -> None:
    original = eval_data_dir().parent / "seeds" / "000_b6e530941d220a84.txt"
    if not original.exists():
        pytest.skip(f"original seed not found at {original}")
    assert SEED.read_bytes() == original.read_bytes()


def test_sports_paragraph_is_sport(tagger: TopicTagger) -> None:
    topics = tagger.tag("", [SPORTS_TEXT])
    assert topics and topics[0].code == SPORT
    assert "soccer" in topics[0].evidence


def test_business_text_is_economy_business_and_finance(tagger: TopicTagger) -> None:
    topics = tagger.tag("Carmaker shares slump after profit warning", [BUSINESS_TEXT])
    assert topics and topics[0].code == ECONOMY
    assert topics[0].label == "economy, business and finance"


@pytest.mark.parametrize(
    ("title", "text", "code"),
    [
        ("", SPORTS_TEXT, SPORT),
        ("Carmaker shares slump after profit warning", BUSINESS_TEXT, ECONOMY),
        ("Update closes a security hole", TECH_TEXT, SCIENCE_TECH),
        ("", HEALTH_TEXT, HEALTH),
        ("", FILM_TEXT, ARTS),
    ],
)
def test_clear_articles_get_the_right_top_topic(tagger: TopicTagger, title: str, text: str, code: str) -> None:
    topics = tagger.tag(title, [text])
    assert topics and topics[0].code == code, topics


def test_technology_industry_concepts_count_for_science_and_technology_too(tagger: TopicTagger) -> None:
    # "smartphones", "laptops": computer and telecommunications hardware, which IPTC files under
    # economy > products and services > computing and information technology (CROSS_LISTED).
    topics = TopicTagger(TopicConfig(max_topics=5, min_score=0.0), load_vocabulary()).tag("", ["Smartphones, laptops."])
    shares = dict(CROSS_LISTED["medtop:20000225"])
    assert _codes(topics) == sorted(shares, key=lambda code: -shares[code])
    assert all(t.evidence == ("computer and telecommunications hardware",) for t in topics)
    value = 1.5 * (1.0 + math.log(2.0))  # level-4 concept, two hits
    best = value * max(shares.values())
    assert [t.score for t in topics] == [round(value * shares[t.code] / (best + 1.0), 4) for t in topics]


def test_secondary_topics_are_those_above_the_threshold(tagger: TopicTagger) -> None:
    title, paragraphs = _seed()
    everything = TopicTagger(TopicConfig(max_topics=17, min_score=0.0)).tag(title, paragraphs)
    default = tagger.tag(title, paragraphs)
    threshold = TopicConfig().min_score
    assert default == tuple(t for t in everything if t.score >= threshold)[: TopicConfig().max_topics]
    assert len(default) >= 2, "the seed has a secondary topic (society, via immigration)"
    assert any(t.score < threshold for t in everything), "and fainter topics that are left out"


def test_evidence_lists_concepts_and_learned_words_of_that_topic(
    tagger: TopicTagger, vocabulary: IptcVocabulary, learned: LearnedWords
) -> None:
    # Evidence is what counted for the topic: labels of its concepts (cross-listed ones count for the
    # tops CROSS_LISTED gives them) and learned words of that topic.
    allowed: dict[str, set[str]] = {}
    for concept in vocabulary.concepts:
        homes = next(
            (CROSS_LISTED[q] for q in (concept.qcode, *concept.broader) if q in CROSS_LISTED), ((concept.top, 1.0),)
        )
        for top, _ in homes:
            allowed.setdefault(top, set()).add(concept.label)
    for word, (code, _) in learned.words.items():
        allowed.setdefault(code, set()).add(word)
    title, paragraphs = _seed()
    texts = [(title, paragraphs), ("", [SPORTS_TEXT]), ("", [BUSINESS_TEXT]), ("", [TECH_TEXT]), ("", [FILM_TEXT])]
    for text_title, text in texts:
        for topic in tagger.tag(text_title, text):
            assert topic.evidence, topic
            assert set(topic.evidence) <= allowed[topic.code], topic
            assert len(set(topic.evidence)) == len(topic.evidence)


def test_scores_are_in_unit_interval_sorted_and_limited(tagger: TopicTagger) -> None:
    title, paragraphs = _seed()
    for text_title, text in ((title, paragraphs), ("", [SPORTS_TEXT]), ("x", [BUSINESS_TEXT, SPORTS_TEXT])):
        topics = tagger.tag(text_title, text)
        assert 0 < len(topics) <= TopicConfig().max_topics
        scores = [t.score for t in topics]
        assert all(TopicConfig().min_score <= s <= 1.0 for s in scores)
        assert scores == sorted(scores, reverse=True)
        assert len(set(_codes(topics))) == len(topics)
        assert all(t.code.startswith("medtop:") and t.code.endswith("000000") for t in topics)


def test_empty_input_gives_no_topics(tagger: TopicTagger) -> None:
    assert tagger.tag("", []) == ()
    assert tagger.tag("", ["", "   "]) == ()
    assert tagger.tag("   ", ["\n\n"]) == ()


def test_text_without_known_terms_gives_no_topics(tagger: TopicTagger) -> None:
    # (not "Hello": HuffPost's entertainment headlines made it a learned word of arts and entertainment)
    assert tagger.tag("Lorem", ["Lorem ipsum dolor sit amet, consectetur adipiscing elit."]) == ()


def test_tagging_is_deterministic(vocabulary: IptcVocabulary) -> None:
    title, paragraphs = _seed()
    first = TopicTagger(TopicConfig(), vocabulary)
    second = TopicTagger(TopicConfig(), load_vocabulary())
    results = {first.tag(title, paragraphs), first.tag(title, paragraphs), second.tag(title, paragraphs)}
    assert len(results) == 1
    assert first.tag(title, tuple(paragraphs)) == first.tag(title, list(paragraphs))


def test_tagger_survives_pickling(tagger: TopicTagger) -> None:
    title, paragraphs = _seed()
    clone = pickle.loads(pickle.dumps(tagger))
    assert clone.tag(title, paragraphs) == tagger.tag(title, paragraphs)


def test_config_limits_are_respected(vocabulary: IptcVocabulary) -> None:
    title, paragraphs = _seed()
    everything = TopicTagger(TopicConfig(max_topics=20, min_score=0.0), vocabulary).tag(title, paragraphs)
    assert len(everything) > 2
    one = TopicTagger(TopicConfig(max_topics=1, min_score=0.0), vocabulary).tag(title, paragraphs)
    assert one == everything[:1]
    strict = TopicTagger(TopicConfig(max_topics=20, min_score=0.5), vocabulary).tag(title, paragraphs)
    assert strict == tuple(t for t in everything if t.score >= 0.5)
    assert TopicTagger(TopicConfig(max_topics=0), vocabulary).tag(title, paragraphs) == ()


@pytest.mark.parametrize("config", [TopicConfig(max_topics=-1), TopicConfig(min_score=1.5)])
def test_bad_config_is_rejected(config: TopicConfig, vocabulary: IptcVocabulary) -> None:
    with pytest.raises(ValueError):
        TopicTagger(config, vocabulary)


def test_generic_labels_do_not_tag_lifestyle(tagger: TopicTagger) -> None:
    # "game", "party", "trend", "bar" are IPTC lifestyle labels; alone they are far too generic.
    topics = tagger.tag("", ["It was a trend at the bar: the game at the party went on."])
    assert LIFESTYLE not in _codes(topics)


def test_longest_term_wins_and_blocked_phrases_count_for_nothing(tagger: TopicTagger) -> None:
    topics = tagger.tag("", ["Illegal immigration rose."])
    # ("rose" is a learned word of society too; "immigration" alone must not be counted)
    assert topics[0].code == SOCIETY and topics[0].evidence[0] == "illegal immigration"
    assert "immigration" not in topics[0].evidence
    assert tagger.tag("", ["They met in the West Bank."]) == ()


# --- the documented method, on a tiny hand-made vocabulary ---------------------------------------


def _tiny() -> IptcVocabulary:
    def concept(code: str, label: str, level: int, broader: tuple[str, ...], *terms: str) -> IptcConcept:
        return IptcConcept(
            code,
            label,
            "",
            level,
            broader,
            broader[-1] if broader else code,
            tuple(MatchTerm(t, 1.0, "l") for t in terms),
        )

    return IptcVocabulary(
        concepts=(
            concept("medtop:01000000", "alphas", 1, ()),
            concept("medtop:20000001", "alpha", 2, ("medtop:01000000",), "alpha", "alpha beta", "omega"),
            concept("medtop:02000000", "betas", 1, ()),
            concept("medtop:20000002", "beta", 2, ("medtop:02000000",), "beta", "omega"),
        ),
        blocked=("beta blocked",),
    )


def test_scores_follow_the_documented_formula() -> None:
    tiny = _tiny()
    topics = TopicTagger(TopicConfig(max_topics=5, min_score=0.0), tiny).tag("", ["alpha, ALPHA and beta"])
    alpha = 1.0 * (1.0 + math.log(2.0))  # level-2 weight 1.0; two hits → 1 + ln 2
    beta = 1.0
    assert [(t.code, t.score) for t in topics] == [
        ("medtop:01000000", round(alpha / (alpha + 1.0), 4)),
        ("medtop:02000000", round(beta / (alpha + 1.0), 4)),
    ]
    assert topics[0].label == "alphas" and topics[0].evidence == ("alpha",)


def test_a_term_of_two_concepts_gives_each_half_its_weight() -> None:
    topics = TopicTagger(TopicConfig(max_topics=5, min_score=0.0), _tiny()).tag("", ["omega"])
    assert [(t.code, t.score) for t in topics] == [
        ("medtop:01000000", round(0.5 / 1.5, 4)),
        ("medtop:02000000", round(0.5 / 1.5, 4)),
    ]


def test_title_matches_count_double() -> None:
    tiny = _tiny()
    tagger = TopicTagger(TopicConfig(max_topics=5, min_score=0.0), tiny)
    topics = tagger.tag("beta", ["alpha"])
    assert _codes(topics) == ["medtop:02000000", "medtop:01000000"]
    beta = 1.0 + math.log(2.0)
    assert topics[0].score == round(beta / (beta + 1.0), 4)


def test_learned_words_count_as_weak_terms_of_their_topic() -> None:
    learned = LearnedWords(
        words={
            "gamma": ("medtop:02000000", 0.9),  # a learned word of betas
            "alpha": ("medtop:02000000", 0.9),  # a vocabulary term of alphas: the term wins
            "delta": ("medtop:17000000", 0.8),  # a topic this vocabulary lacks: ignored
        }
    )
    tagger = TopicTagger(TopicConfig(max_topics=5, min_score=0.0), _tiny(), learned)
    topics = tagger.tag("", ["gamma, Gamma, alpha and delta"])
    gamma = LEARNED_WEIGHT * (1.0 + math.log(2.0))
    alpha = 1.0
    assert [(t.code, t.score, t.evidence) for t in topics] == [
        ("medtop:01000000", round(alpha / (alpha + 1.0), 4), ("alpha",)),
        ("medtop:02000000", round(gamma / (alpha + 1.0), 4), ("gamma",)),
    ]
    assert TopicTagger(TopicConfig(), _tiny()).tag("", ["gamma delta"]) == ()  # none unless given


def test_shipped_learned_words_come_with_the_shipped_vocabulary_only(
    tagger: TopicTagger, vocabulary: IptcVocabulary, learned: LearnedWords
) -> None:
    assert tagger.learned.words == learned.words
    assert TopicTagger(TopicConfig(), vocabulary).learned.words == {}


def test_matching_is_whole_word_case_insensitive_and_longest_first() -> None:
    tiny = _tiny()
    tagger = TopicTagger(TopicConfig(max_topics=5, min_score=0.0), tiny)
    assert tagger.tag("", ["alphabet betamax subalpha"]) == ()
    assert _codes(tagger.tag("", ["ALPHA"])) == ["medtop:01000000"]
    # "alpha beta" is one term of the alpha concept: beta must not be counted on its own
    assert _codes(tagger.tag("", ["Alpha-Beta"])) == ["medtop:01000000"]
    assert tagger.tag("", ["a beta blocked here"]) == ()
    # no match across paragraphs
    assert _codes(tagger.tag("", ["alpha", "beta"])) == ["medtop:01000000", "medtop:02000000"]


def test_vocabulary_consistency_is_checked() -> None:
    data = json.loads((DATA / "iptc_mediatopics.json").read_text(encoding="utf-8"))
    data["concepts"][1]["top"] = "medtop:99000000"
    with pytest.raises(ValueError):
        parse_vocabulary(data)
    with pytest.raises(ValueError):
        parse_vocabulary({"format": "something else", "concepts": []})


def test_load_vocabulary_from_a_path(tmp_path: Path) -> None:
    data = json.loads((DATA / "iptc_mediatopics.json").read_text(encoding="utf-8"))
    data["concepts"] = [c for c in data["concepts"] if c["top"] == SPORT]
    path = tmp_path / "sport_only.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    sport_only = load_vocabulary(str(path))
    assert {c.top for c in sport_only.concepts} == {SPORT}
    topics = TopicTagger(TopicConfig(), sport_only).tag("", [BUSINESS_TEXT + " " + SPORTS_TEXT])
    assert _codes(topics) == [SPORT]


# --- the shipped data ------------------------------------------------------------------------------


def test_shipped_vocabulary_has_the_17_top_level_topics(vocabulary: IptcVocabulary) -> None:
    tops = vocabulary.top_level()
    assert len(tops) == 17
    assert {t.qcode for t in tops} == {f"medtop:{n:02d}000000" for n in range(1, 18)}
    assert vocabulary.get(POLITICS) is not None and vocabulary.get(POLITICS).label == "politics"  # type: ignore[union-attr]
    assert len(vocabulary.concepts) > 1000
    assert "2023-03-31" in vocabulary.source


def test_generic_words_are_not_terms(vocabulary: IptcVocabulary) -> None:
    terms = {t.text for c in vocabulary.concepts for t in c.terms}
    for generic in ("people", "media", "action", "party", "series", "values", "men", "water", "security", "trend"):
        assert generic not in terms, generic
    assert {"immigration", "election", "soccer", "striker"} <= terms
    lifestyle = {t.text for c in vocabulary.concepts if c.top == LIFESTYLE for t in c.terms}
    assert not {"game", "games", "bar", "club"} & lifestyle
    weak = {t.text for c in vocabulary.concepts for t in c.terms if t.weight < 1.0}
    assert {"team", "company", "officials", "family"} <= weak


def test_curated_entries_name_real_concepts(vocabulary: IptcVocabulary) -> None:
    curated = json.loads((DATA / "iptc_curated.json").read_text(encoding="utf-8"))
    labels = {c.qcode: c.label for c in vocabulary.concepts}
    for section in ("label_terms", "synonyms", "weak"):
        for qcode, entry in curated[section].items():
            assert labels.get(qcode) == entry["label"], (section, qcode)
    for term in curated["block"]:
        assert normalize_text(term) == term


def test_attribution_notice_is_shipped() -> None:
    notice = (DATA / "IPTC-NOTICE.txt").read_text(encoding="utf-8")
    assert "CC BY 4.0" in notice and "IPTC" in notice and "iptc_mediatopics.json" in notice


def test_shipped_learned_words_fit_the_shipped_vocabulary(vocabulary: IptcVocabulary, learned: LearnedWords) -> None:
    assert len(learned.words) > 1000
    terms = {t.text for c in vocabulary.concepts for t in c.terms}
    assert not terms & set(learned.words), "a vocabulary term is never also a learned word"
    assert not {"trend", "game", "bar", "security", "people", "party"} & set(learned.words), "curated generics"
    tops = {c.qcode for c in vocabulary.top_level()}
    assert {code for code, _ in learned.words.values()} <= tops
    assert all(0.5 <= share <= 1.0 for _, share in learned.words.values())
    data = json.loads((DATA / "topic_weights.json").read_text(encoding="utf-8"))
    built_from = data["source"]["vocabulary"]["sha256"]
    assert built_from == hashlib.sha256((DATA / "iptc_mediatopics.json").read_bytes()).hexdigest(), (
        "iptc_mediatopics.json changed: rebuild topic_weights.json (python -m feedflow.data.build_topic_weights)"
    )


def test_topic_weights_are_checked() -> None:
    good = {"format": "feedflow-topic-weights/1", "terms": {"goalless": ["medtop:15000000", 0.9]}}
    assert parse_topic_weights(good).words == {"goalless": ("medtop:15000000", 0.9)}
    bad_terms = [
        {"Goalless": ["medtop:15000000", 0.9]},  # not normalised
        {"goal less": ["medtop:15000000", 0.9]},  # not one word
        {"goalless": ["medtop:20000001", 0.9]},  # not a top-level code
        {"goalless": ["medtop:15000000", 1.5]},  # share out of range
        {"goalless": "medtop:15000000"},  # malformed
    ]
    for terms in bad_terms:
        with pytest.raises(ValueError):
            parse_topic_weights({**good, "terms": terms})
    with pytest.raises(ValueError):
        parse_topic_weights({**good, "format": "something else"})


def test_learning_keeps_words_concentrated_in_one_topic() -> None:
    from feedflow.data.build_topic_weights import learn, words

    docs = [("A", ["goal", "team"]), ("A", ["goal"]), ("B", ["team"]), ("B", ["profit"]), ("B", ["profit", "team"])]
    # rates per topic: goal A 2/2, B 0; team A 1/2, B 2/3 (share 0.57); profit A 0, B 2/3
    assert learn(docs, frozenset(), min_docs=2, min_share=0.5, min_topic_docs=2) == {
        "goal": ("A", 1.0),
        "profit": ("B", 1.0),
        "team": ("B", 0.5714),
    }
    assert learn(docs, frozenset({"profit"}), min_docs=2, min_share=0.6, min_topic_docs=2) == {"goal": ("A", 1.0)}
    assert learn(docs, frozenset(), min_docs=2, min_share=0.5, min_topic_docs=3) == {}
    assert words("The striker's goal-line save — and 3 goals!") == ["striker", "goal", "line", "save", "goals"]


def test_tagger_works_without_the_shared_data(tmp_path: Path) -> None:
    script = (
        "from feedflow.config import TopicConfig\n"
        "from feedflow.core.topics import TopicTagger\n"
        "t = TopicTagger(TopicConfig())\n"
        "print(len(t.learned.words), t.tag('', ['The striker scored twice before half time.'])[0].code)\n"
    )
    env = {**os.environ, "FEEDFLOW_EVAL_DATA": str(tmp_path / "absent")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, check=True, timeout=120
    )
    count, code = done.stdout.split()
    assert int(count) > 1000 and code == SPORT


@pytest.mark.shared_data
def test_shipped_learned_words_are_rebuilt_identically_from_huffpost_alone(eval_data: Path, tmp_path: Path) -> None:
    from feedflow.data.build_topic_weights import HUFFPOST_FILE, build, dump

    # Only the HuffPost file is visible to the build: it must not need (or read) any evaluation set.
    only = tmp_path / "data"
    (only / HUFFPOST_FILE).parent.mkdir(parents=True)
    (only / HUFFPOST_FILE).symlink_to(eval_data / HUFFPOST_FILE)
    assert dump(build(only)) == (DATA / "topic_weights.json").read_text(encoding="utf-8")


@pytest.mark.shared_data
def test_learned_words_help_on_the_huffpost_held_out_split(eval_data: Path) -> None:
    from feedflow.data.build_topic_weights import HUFFPOST_FILE, HUFFPOST_TO_IPTC, is_heldout, load_huffpost

    items = [
        (r["headline"], [r["short_description"]] if r.get("short_description") else [], HUFFPOST_TO_IPTC[r["category"]])
        for r in load_huffpost(eval_data / HUFFPOST_FILE)
        if r["category"] in HUFFPOST_TO_IPTC and is_heldout(r)
    ]
    with_words = TopicTagger(TopicConfig())
    without = TopicTagger(TopicConfig(), load_vocabulary())

    def accuracy(tagger: TopicTagger) -> float:
        tops = [tagger.tag(title, text) for title, text, _ in items]
        return sum(bool(t) and t[0].code == gold for t, (_, _, gold) in zip(tops, items, strict=True)) / len(items)

    # never trained on: the held-out split; learned words must add clearly more than noise
    assert accuracy(with_words) > accuracy(without) + 0.05


@pytest.mark.shared_data
def test_shipped_vocabulary_is_rebuilt_identically_from_the_official_export(eval_data: Path) -> None:
    from feedflow.data.build_iptc import build, dump

    iptc = eval_data / "iptc"
    rebuilt = dump(
        build(
            iptc / "iptc_mediatopic_cptall-en-US_2023-03-31.json",
            iptc / "iptc_extra_rules_english.jsonl",
            DATA / "iptc_curated.json",
        )
    )
    assert rebuilt == (DATA / "iptc_mediatopics.json").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the compiled matcher = the regex scan


def _trie_regex(terms: list[str]) -> str:
    """The alternation of ``terms`` factored as a character trie, longest first (the tagger's matcher
    before the compiled one, kept here as its definition)."""
    trie: dict[str, dict] = {}  # type: ignore[type-arg]
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: dict) -> str:  # type: ignore[type-arg]
        ends = "" in node
        branches = [re.escape(ch) + render(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        if len(branches) == 1 and not ends:
            return branches[0]
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if ends else group

    return render(trie)


def regex_hits(
    terms: dict[str, tuple[tuple[int, float], ...]], title: str, title_weight: float, body: str
) -> dict[int, float]:
    """What the regex loop counted: each match of the trie between (?<!\\w) and (?!\\w), title then
    body, adds weight × zone weight to each of its term's units."""
    pattern = re.compile(r"(?<!\w)(?:" + _trie_regex(sorted(terms)) + r")(?!\w)")
    hits: dict[int, float] = {}
    for text, zone in ((title, title_weight), (body, 1.0)):
        for match in pattern.finditer(text):
            for unit, weight in terms[match.group()]:
                hits[unit] = hits.get(unit, 0.0) + weight * zone
    return hits


# word characters (ASCII, accented, digit, underscore, an astral letter) and non-word ones (space,
# apostrophe, dot, a lone surrogate, a dash): the boundaries the matcher must place as re does
_ALPHABET = ["a", "b", "ab", "é", "1", "_", "\U0001d400", " ", "'", ".", "\ud800", "-"]
_TERM = st.lists(st.sampled_from(_ALPHABET[:-2]), min_size=1, max_size=4).map("".join)
_TEXT = st.lists(st.sampled_from(_ALPHABET), max_size=40).map("".join)


@settings(max_examples=300, deadline=None)
@given(
    terms=st.dictionaries(
        _TERM, st.lists(st.tuples(st.integers(0, 5), st.sampled_from([1.0, 0.5, 1 / 3])), max_size=2), min_size=1
    ),
    title=_TEXT,
    body=_TEXT,
)
@example(terms={"a": ((0, 1.0),), "a b": ((1, 1.0),), "a b a": ((2, 1.0),)}, title="", body="a b ab a b a")
@example(terms={"b a": (), "a": ((0, 1.0),)}, title="a", body="b a a")  # a blocked phrase hides "a"
@example(terms={"a.": ((0, 1.0),), "1": ((1, 0.5),)}, title="a.a.", body="_1 1_ 1")
def test_the_compiled_matcher_counts_what_the_regex_scan_counted(
    terms: dict[str, list[tuple[int, float]]], title: str, body: str
) -> None:
    items = {term: tuple(pairs) for term, pairs in terms.items()}
    found = TermMatcher(items, 6).hits(title, TITLE_WEIGHT, body)
    expected = regex_hits(items, title, TITLE_WEIGHT, body)
    assert list(found.items()) == list(expected.items())  # same units, same first-hit order, same floats


def test_longest_term_then_boundaries_then_title_apart() -> None:
    terms = {"new": ((0, 1.0),), "new york": ((1, 1.0),), "new york city": ((2, 1.0),), "york": ((3, 0.5),)}
    matcher = TermMatcher(terms, 4)
    assert matcher.hits("", 2.0, "new york citizens") == {1: 1.0}  # "new york city" needs a boundary
    assert matcher.hits("", 2.0, "renew york") == {3: 0.5}  # "new" inside a word is no match
    assert matcher.hits("new", 2.0, "york") == {0: 2.0, 3: 0.5}  # no term spans title and body


def test_the_matcher_refuses_an_empty_term_or_an_unknown_unit() -> None:
    with pytest.raises(ValueError, match="empty"):
        TermMatcher({"": ((0, 1.0),)}, 1)
    with pytest.raises(ValueError, match="unit"):
        TermMatcher({"a": ((1, 1.0),)}, 1)


def test_the_shipped_terms_match_as_the_regex_matched(tagger: TopicTagger) -> None:
    title, paragraphs = _seed()
    cases = [(title, paragraphs)] + [
        ("Crónica: l'économie — ça va?", [text]) for text in (SPORTS_TEXT, BUSINESS_TEXT, TECH_TEXT, HEALTH_TEXT)
    ]
    for case_title, case_paragraphs in cases:
        title_text = normalize_text(case_title)
        body = normalize_text(_PARAGRAPH_SEPARATOR.join(case_paragraphs))
        found = tagger._matcher.hits(title_text, TITLE_WEIGHT, body)
        assert found, "every case has terms"
        expected = regex_hits(dict(tagger._matcher.terms), title_text, TITLE_WEIGHT, body)
        assert list(found.items()) == list(expected.items())


# ---------------------------------------------------- the compiled evidence against the Python steps


def reference_evidence(tagger: TopicTagger, title: str, paragraphs: list[str]) -> dict[str, list[tuple[float, str]]]:
    """Steps 3 and 4 of the module docstring in Python, as the tagger computed them before they were
    compiled: normalize_text, the matcher's hits (the regex-equal scan), then each unit's value."""
    body = normalize_text(_PARAGRAPH_SEPARATOR.join(paragraphs)) if paragraphs else ""
    hits = tagger._matcher.hits(normalize_text(title) if title else "", TITLE_WEIGHT, body)
    contributions: dict[str, list[tuple[float, str]]] = {}
    for index, count in hits.items():
        label, weight, homes = tagger._units[index]
        value = weight * (count if count <= 1.0 else 1.0 + math.log(count))
        for code, share in homes:
            contributions.setdefault(code, []).append((value * share, label))
    return contributions


def reference_tag(tagger: TopicTagger, title: str, paragraphs: list[str]) -> tuple[TopicScore, ...]:
    """Step 5 in Python over :func:`reference_evidence` (each topic's evidence summed in order)."""
    contributions = reference_evidence(tagger, title, paragraphs)
    evidence = {}
    for code, values in contributions.items():
        total = 0.0
        for value, _ in values:
            total += value
        evidence[code] = total
    best = max(evidence.values(), default=0.0)
    scored = sorted(
        (
            (score, code)
            for code, value in evidence.items()
            if (score := round(value / (best + SMOOTHING), 4)) >= tagger.config.min_score and score > 0.0
        ),
        key=lambda sc: (-sc[0], sc[1]),
    )
    out = []
    for score, code in scored[: tagger.config.max_topics]:
        ranked = sorted(contributions[code], key=lambda vl: (-vl[0], vl[1]))
        labels = tuple(dict.fromkeys(label for _, label in ranked if label))[:MAX_EVIDENCE]
        out.append(TopicScore(code=code, label=tagger._tops[code].label, score=score, evidence=labels))
    return tuple(out)


# Words of the shipped terms in every case, joined by every kind of space, dash and apostrophe that
# normalize_text folds, and letters whose lower case is special (a final sigma, a dotted capital I).
_NEWS_WORDS = [
    "Soccer", "STRIKER", "striker", "World Cup", "election", "Prime Minister", "stock", "market",
    "interest rates", "don", "t", "parliament", "Σ", "ΣΟΦΙΑ", "İstanbul", "İ", "x", "1", "é", "Wall", "Street",
]  # fmt: skip
_GLUE = [" ", "  ", "\t", "\n\n", "\u00a0", "\u3000", "-", " - ", "\u2014", "\u2212", "’", "'", "\u02bc", "", ".", ","]
_NEWS_TEXT = st.lists(st.tuples(st.sampled_from(_NEWS_WORDS), st.sampled_from(_GLUE)), max_size=30).map(
    lambda pairs: "".join(word + glue for word, glue in pairs)
)


@settings(max_examples=300, deadline=None)
@given(title=_NEWS_TEXT, paragraphs=st.lists(_NEWS_TEXT, max_size=4))
@example(title="", paragraphs=["Wall\u2014Street   stock\u00a0market", "STRIKER’s World\tCup"])
@example(title="ΣΟΦΙΑΣ", paragraphs=["İstanbul election"])
def test_the_compiled_evidence_is_the_python_steps(tagger: TopicTagger, title: str, paragraphs: list[str]) -> None:
    assert tagger.evidence(title, paragraphs) == reference_evidence(tagger, title, paragraphs)
    assert tagger.tag(title, paragraphs) == reference_tag(tagger, title, paragraphs)


def test_the_compiled_evidence_tags_real_articles_as_the_python_steps(tagger: TopicTagger) -> None:
    title, paragraphs = _seed()
    cases = [(title, paragraphs), ("Crónica: l'économie — ça va?", [SPORTS_TEXT, BUSINESS_TEXT]), ("", [TECH_TEXT])]
    for case_title, case_paragraphs in cases:
        found = tagger.tag(case_title, case_paragraphs)
        assert found, "every case has topics"
        assert found == reference_tag(tagger, case_title, case_paragraphs)
