"""IPTC Media Topics tagging: which of the 17 top-level news topics an article is about, and why.

The method is a transparent, vocabulary-driven keyword count — no trained model:

1. **Terms.** Every active concept of the IPTC Media Topics vocabulary (1,100 of them, shipped in
   ``feedflow/data/iptc_mediatopics.json``, CC BY 4.0, see ``IPTC-NOTICE.txt``) carries the terms
   that signal it: its own label and the parts of a compound label ("robbery and theft" → "robbery",
   "theft"), with regular plurals; keywords from IPTC's published keyword rules; and a small curated
   synonym list (``iptc_curated.json``: "striker" → soccer, "lawmakers" → legislative body). Each
   term has a weight: 1.0, or 0.5 for weak hints ("team", "company", "officials"). Generic labels
   measured to hurt ("game", "party", "series", "men", "values", "water"…) are excluded there, each
   with its reason. ``feedflow/data/build_iptc.py`` rebuilds the file from IPTC's official export.
2. **Matching.** All terms go into ONE regular expression per tagger, compiled once in ``__init__``
   as a character trie, so a scan is a single left-to-right pass over the text that takes the
   longest term at each position ("illegal immigration" before "immigration"). Text and terms are
   normalised alike: lower case, hyphens and dashes as spaces, curly apostrophes straight, runs of
   whitespace as one space; a match must start and end at a word boundary. A few "blocked" phrases
   ("west bank", "told reporters") are matched and then ignored.
3. **Concept evidence.** A match adds its term weight to its concept (split evenly when a term
   belongs to several concepts); matches in the title count ``TITLE_WEIGHT`` (2) times. A concept's
   evidence is ``spec(level) × f(hits)`` where ``f(x) = x`` for x ≤ 1 and ``1 + ln x`` above
   (repetition helps, with diminishing returns) and ``spec`` grows with the concept's depth in the
   vocabulary (``LEVEL_WEIGHTS``: a match on "soccer" says more than one on "sport").
4. **Topics.** Evidence is summed per top-level ancestor. A topic's score is
   ``evidence / (best evidence + SMOOTHING)``, in [0, 1): relative to the article's main topic, and
   lower when even the main topic rests on a single weak hint. Topics scoring at least
   ``config.min_score`` are returned, best first (ties by code), at most ``config.max_topics``,
   scores rounded to 4 decimals; each topic's ``evidence`` lists the labels of its concepts that
   contributed most (up to ``MAX_EVIDENCE``), e.g. politics ← ("migration policy", "heads of state").

Only top-level codes are output. The same input always gives the same output (no randomness, no
global state); the tagger holds no mutable state after construction, so one instance may be shared.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from feedflow.config import TopicConfig
from feedflow.model import TopicScore

VOCABULARY_PACKAGE = "feedflow.data"
VOCABULARY_RESOURCE = "iptc_mediatopics.json"
VOCABULARY_FORMAT = "feedflow-iptc-vocabulary/1"

#: How much more a match in the title counts than one in the body.
TITLE_WEIGHT = 2.0
#: Specificity weight by concept level (1 = top level); deeper levels use the last value.
LEVEL_WEIGHTS = (0.75, 1.0, 1.25, 1.5)
#: Added to the best topic's evidence when normalising: damps scores that rest on little evidence.
SMOOTHING = 1.0
#: At most this many concept labels per topic as evidence.
MAX_EVIDENCE = 5
#: Separator put between paragraphs, so that no term matches across two of them.
_PARAGRAPH_SEPARATOR = " | "

_DASHES = ("-", "\u2010", "\u2011", "\u2012", "\u2013", "\u2014", "\u2015", "\u2212")
_APOSTROPHES = ("\u2018", "\u2019", "\u02bc")


def normalize_text(text: str) -> str:
    """The form text is matched in (and terms are stored in): lower case, hyphens/dashes as spaces,
    curly apostrophes straight, whitespace runs as one space."""
    text = text.lower()
    for dash in _DASHES:  # str.replace per character beats str.translate by ~5x here
        if dash in text:
            text = text.replace(dash, " ")
    for apostrophe in _APOSTROPHES:
        if apostrophe in text:
            text = text.replace(apostrophe, "'")
    return " ".join(text.split())


@dataclass(frozen=True, slots=True)
class MatchTerm:
    """One term of a concept: normalised ``text``, ``weight`` (1.0 or 0.5) and ``source``
    ("l" label, "r" IPTC keyword rule, "c" curated synonym)."""

    text: str
    weight: float
    source: str


@dataclass(frozen=True, slots=True)
class IptcConcept:
    """An active IPTC Media Topic; ``broader`` runs from the parent up to the top-level ``top``."""

    qcode: str
    label: str
    definition: str
    level: int
    broader: tuple[str, ...]
    top: str
    terms: tuple[MatchTerm, ...] = ()


@dataclass(frozen=True, slots=True)
class IptcVocabulary:
    """The concepts the tagger knows, plus phrases it matches and ignores (``blocked``)."""

    concepts: tuple[IptcConcept, ...]
    blocked: tuple[str, ...] = ()
    source: str = ""

    def top_level(self) -> tuple[IptcConcept, ...]:
        return tuple(c for c in self.concepts if c.level == 1)

    def get(self, qcode: str) -> IptcConcept | None:
        return next((c for c in self.concepts if c.qcode == qcode), None)


def _concept(raw: Mapping[str, Any]) -> IptcConcept:
    return IptcConcept(
        qcode=str(raw["qcode"]),
        label=str(raw["label"]),
        definition=str(raw.get("definition", "")),
        level=int(raw["level"]),
        broader=tuple(str(b) for b in raw.get("broader", ())),
        top=str(raw["top"]),
        terms=tuple(MatchTerm(str(t[0]), float(t[1]), str(t[2])) for t in raw.get("terms", ())),
    )


def parse_vocabulary(data: Mapping[str, Any]) -> IptcVocabulary:
    """Build (and check) a vocabulary from the parsed JSON of ``iptc_mediatopics.json``."""
    if data.get("format") != VOCABULARY_FORMAT:
        raise ValueError(f"not a {VOCABULARY_FORMAT} file (format={data.get('format')!r})")
    try:
        concepts = tuple(_concept(c) for c in data["concepts"])
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise ValueError(f"malformed concept in IPTC vocabulary: {exc!r}") from exc
    codes = {c.qcode for c in concepts}
    tops = {c.qcode for c in concepts if c.level == 1}
    for c in concepts:
        if c.top not in tops or (c.level == 1) != (c.top == c.qcode) or len(c.broader) != c.level - 1:
            raise ValueError(f"IPTC vocabulary: {c.qcode} has an inconsistent top/level/broader")
        if any(b not in codes for b in c.broader):
            raise ValueError(f"IPTC vocabulary: {c.qcode} has an unknown broader concept")
        for t in c.terms:
            if t.text != normalize_text(t.text) or not t.text or not 0.0 < t.weight <= 1.0:
                raise ValueError(f"IPTC vocabulary: bad term {t!r} in {c.qcode}")
    source = data.get("source", {})
    described = f"{source.get('file', '?')} ({source.get('dateReleased', '?')})" if source else ""
    blocked = tuple(normalize_text(str(b)) for b in data.get("blocked", ()))
    return IptcVocabulary(concepts=concepts, blocked=tuple(b for b in blocked if b), source=described)


def load_vocabulary(path: str | None = None) -> IptcVocabulary:
    """Load the IPTC vocabulary: the file at ``path``, or (None) the one shipped in ``feedflow.data``."""
    if path is None:
        text = resources.files(VOCABULARY_PACKAGE).joinpath(VOCABULARY_RESOURCE).read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_vocabulary(json.loads(text))


def _trie_regex(terms: Iterable[str]) -> str:
    """One alternation for all ``terms``, factored as a character trie; longest match first."""
    trie: dict[str, Any] = {}
    for term in terms:
        node = trie
        for ch in term:
            node = node.setdefault(ch, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(ch) + render(child) for ch, child in sorted(node.items()) if ch]
        if not branches:
            return ""
        if len(branches) == 1 and not ends:
            return branches[0]
        group = "(?:" + "|".join(branches) + ")"
        return group + "?" if ends else group

    return render(trie)


def _level_weight(level: int) -> float:
    return LEVEL_WEIGHTS[min(max(level, 1), len(LEVEL_WEIGHTS)) - 1]


def _saturate(hits: float) -> float:
    return hits if hits <= 1.0 else 1.0 + math.log(hits)


class TopicTagger:
    """Tags articles with top-level IPTC Media Topics (see the module docstring for the method)."""

    def __init__(self, config: TopicConfig, vocabulary: IptcVocabulary | None = None) -> None:
        if config.max_topics < 0:
            raise ValueError(f"max_topics must be >= 0, not {config.max_topics}")
        if not 0.0 <= config.min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], not {config.min_score}")
        self.config = config
        self.vocabulary = vocabulary if vocabulary is not None else load_vocabulary()
        concepts = self.vocabulary.concepts
        tops = {c.qcode: c for c in self.vocabulary.top_level()}
        if not tops:
            raise ValueError("IPTC vocabulary has no top-level concepts")
        self._concepts = concepts
        self._tops = tops
        self._specificity = tuple(_level_weight(c.level) for c in concepts)

        claims: dict[str, list[tuple[int, float]]] = {}
        for i, concept in enumerate(concepts):
            for term in concept.terms:
                claims.setdefault(term.text, []).append((i, term.weight))
        # A term claimed by n concepts gives each 1/n of its weight; blocked phrases give nothing.
        self._terms: dict[str, tuple[tuple[int, float], ...]] = {
            text: tuple((i, w / len(owners)) for i, w in owners) for text, owners in claims.items()
        }
        for phrase in self.vocabulary.blocked:
            self._terms.setdefault(phrase, ())
        if not self._terms:
            raise ValueError("IPTC vocabulary has no terms to match")
        self._pattern = re.compile(r"(?<!\w)(?:" + _trie_regex(sorted(self._terms)) + r")(?!\w)")

    def _scan(self, text: str, zone_weight: float, hits: dict[int, float]) -> None:
        terms = self._terms
        for match in self._pattern.finditer(normalize_text(text)):
            for index, weight in terms[match.group()]:
                hits[index] = hits.get(index, 0.0) + weight * zone_weight

    def tag(self, title: str, paragraphs: Sequence[str]) -> tuple[TopicScore, ...]:
        """The article's top-level topics, best first: at most ``max_topics``, each >= ``min_score``."""
        if self.config.max_topics == 0:
            return ()
        hits: dict[int, float] = {}
        if title:
            self._scan(title, TITLE_WEIGHT, hits)
        if paragraphs:
            self._scan(_PARAGRAPH_SEPARATOR.join(paragraphs), 1.0, hits)
        if not hits:
            return ()

        evidence: dict[str, float] = {}
        contributions: dict[str, list[tuple[float, str]]] = {}
        for index, count in hits.items():
            concept = self._concepts[index]
            value = self._specificity[index] * _saturate(count)
            evidence[concept.top] = evidence.get(concept.top, 0.0) + value
            if concept.label:
                contributions.setdefault(concept.top, []).append((value, concept.label))

        best = max(evidence.values())
        scored = []
        for code, value in evidence.items():
            score = round(value / (best + SMOOTHING), 4)
            if score >= self.config.min_score and score > 0.0:
                scored.append((score, code))
        scored.sort(key=lambda sc: (-sc[0], sc[1]))

        out = []
        for score, code in scored[: self.config.max_topics]:
            ranked = sorted(contributions.get(code, ()), key=lambda vl: (-vl[0], vl[1]))
            out.append(
                TopicScore(
                    code=code,
                    label=self._tops[code].label,
                    score=score,
                    evidence=tuple(label for _, label in ranked[:MAX_EVIDENCE]),
                )
            )
        return tuple(out)
