"""IPTC Media Topics tagging: which of the 17 top-level news topics an article is about, and why.

The method is a transparent, vocabulary-driven term count, refined by a short list of learned words:

1. **Terms.** Every active concept of the IPTC Media Topics vocabulary (1,100 of them, shipped in
   ``feedflow/data/iptc_mediatopics.json``, CC BY 4.0, see ``IPTC-NOTICE.txt``) carries the terms
   that signal it: its own label and the parts of a compound label ("robbery and theft" → "robbery",
   "theft"), with regular plurals; keywords from IPTC's published keyword rules; and a small curated
   synonym list (``iptc_curated.json``: "striker" → soccer, "lawmakers" → legislative body). Each
   term has a weight: 1.0, or 0.5 for weak hints ("team", "company", "officials"). Generic labels
   measured to hurt ("game", "party", "series", "men", "values", "water"…) are excluded there, each
   with its reason. ``feedflow/data/build_iptc.py`` rebuilds the file from IPTC's official export.
2. **Learned words.** ``feedflow/data/topic_weights.json`` lists a few thousand single words that are
   not vocabulary terms but are concentrated in one top-level topic in permissively licensed training
   data — the vocabulary's own definitions and HuffPost's categorised headlines (CC BY 4.0); each is
   rebuilt by ``feedflow/data/build_topic_weights.py`` (its docstring gives the rule). A learned word
   counts for its topic like a weak term (``LEARNED_WEIGHT``, 0.5).
3. **Matching.** All terms and learned words go into ONE character trie per tagger (``TermMatcher``,
   built once in ``__init__``, scanned by a compiled loop), so a scan is a single left-to-right pass
   over the text that takes the longest term at each position ("illegal immigration" before
   "immigration"). Text and terms are normalised alike: lower case, hyphens and dashes as spaces,
   curly apostrophes straight, runs of whitespace as one space; a match must start and end at a word
   boundary. A few "blocked" phrases ("west bank", "told reporters") are matched and then ignored.
   Everything after lowering the text, the normalising, the scan and step 4, is one compiled call
   per article (:func:`feedflow.core.kernels.topic_evidence`), which tests/test_topics.py compares
   with those steps written in Python.
4. **Concept evidence.** A match adds its term weight to its concept (split evenly when a term
   belongs to several concepts); matches in the title count ``TITLE_WEIGHT`` (2) times. A concept's
   evidence is ``spec(level) × f(hits)`` where ``f(x) = x`` for x ≤ 1 and ``1 + ln x`` above
   (repetition helps, with diminishing returns) and ``spec`` grows with the concept's depth in the
   vocabulary (``LEVEL_WEIGHTS``: a match on "soccer" says more than one on "sport"). A learned
   word's evidence is ``LEARNED_WEIGHT × f(hits)``.
5. **Topics.** Evidence is summed per top-level ancestor — except for the concepts IPTC files under
   one top but that also say another (``CROSS_LISTED``: "computing and information technology" and
   everything below it, e.g. software, telecoms, smartphones, is an industry under economy in IPTC,
   and technology news too), whose evidence is shared out as listed there. A topic's score is
   ``evidence / (best evidence + SMOOTHING)``, in [0, 1): relative to the article's main topic, and
   lower when even the main topic rests on a single weak hint. Topics scoring at least
   ``config.min_score`` are returned, best first (ties by code), at most ``config.max_topics``,
   scores rounded to 4 decimals; each topic's ``evidence`` lists what contributed most to it (up to
   ``MAX_EVIDENCE``): labels of its concepts, e.g. politics ← ("migration policy", "heads of
   state"), and learned words as they are (sport ← "broncos", "lakers").

Only top-level codes are output. The same input always gives the same output (no randomness, no
global state but a read-only table of word characters); the tagger holds no mutable state after
construction, so one instance may be shared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from feedflow.config import TopicConfig
from feedflow.model import TopicScore

VOCABULARY_PACKAGE = "feedflow.data"
VOCABULARY_RESOURCE = "iptc_mediatopics.json"
VOCABULARY_FORMAT = "feedflow-iptc-vocabulary/1"
TOPIC_WEIGHTS_RESOURCE = "topic_weights.json"
TOPIC_WEIGHTS_FORMAT = "feedflow-topic-weights/1"

#: How much more a match in the title counts than one in the body.
TITLE_WEIGHT = 2.0
#: Specificity weight by concept level (1 = top level); deeper levels use the last value.
LEVEL_WEIGHTS = (0.75, 1.0, 1.25, 1.5)
#: Added to the best topic's evidence when normalising: damps scores that rest on little evidence.
SMOOTHING = 1.0
#: At most this many concept labels or learned words per topic as evidence.
MAX_EVIDENCE = 5
#: Weight of one occurrence of a learned word: a weak hint, like a weak vocabulary term (a full term
#: weighs 1.0). Chosen on the HuffPost held-out split (benchmarks/topics_dev.py), capped at 0.5.
LEARNED_WEIGHT = 0.5
#: Concepts (with everything below them) whose evidence counts for other tops than their own:
#: qcode → ((top, share), ...). IPTC files the technology industry under economy; its news is also
#: science and technology news.
CROSS_LISTED: Mapping[str, tuple[tuple[str, float], ...]] = MappingProxyType(
    {"medtop:20000225": (("medtop:04000000", 0.5), ("medtop:13000000", 1.0))}  # computing and IT
)
#: A trie node with at least this many children gets a dense row in the compiled matcher.
DENSE_CHILDREN = 4
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


@dataclass(frozen=True, slots=True)
class LearnedWords:
    """Learned single words, each concentrated in one top-level topic: word → (top code, share)."""

    words: Mapping[str, tuple[str, float]]
    source: str = ""


def parse_topic_weights(data: Mapping[str, Any]) -> LearnedWords:
    """Build (and check) the learned words from the parsed JSON of ``topic_weights.json``."""
    if data.get("format") != TOPIC_WEIGHTS_FORMAT:
        raise ValueError(f"not a {TOPIC_WEIGHTS_FORMAT} file (format={data.get('format')!r})")
    learned: dict[str, tuple[str, float]] = {}
    try:
        for word, (code, share) in data["terms"].items():
            learned[str(word)] = (str(code), float(share))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"malformed learned word in topic weights: {exc!r}") from exc
    for word, (code, share) in learned.items():
        if word != normalize_text(word) or " " in word or not word or not 0.0 < share <= 1.0:
            raise ValueError(f"topic weights: bad learned word {word!r}")
        if not code.startswith("medtop:") or not code.endswith("000000"):
            raise ValueError(f"topic weights: {word!r} names {code!r}, not a top-level topic")
    source = data.get("source", {}).get("huffpost", {})
    return LearnedWords(words=learned, source=str(source.get("file", "")))


def load_topic_weights(path: str | None = None) -> LearnedWords:
    """Load the learned words: the file at ``path``, or (None) the one shipped in ``feedflow.data``."""
    if path is None:
        resource = resources.files(VOCABULARY_PACKAGE).joinpath(TOPIC_WEIGHTS_RESOURCE)
        text = resource.read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return parse_topic_weights(json.loads(text))


@cache
def _word_characters() -> npt.NDArray[np.bool_]:
    """Per code point, whether ``re`` counts it as a word character (``\\w`` in a str pattern), read
    off ``re`` itself over all 1,114,112 code points (~30 ms, 1.1 MB, once per process; read-only)."""
    points = np.arange(0x110000, dtype=np.uint32)
    points[0xD800:0xE000] = 0x20  # lone surrogates cannot be decoded; re counts them as non-word
    marked = re.sub(r"\w", "\x01", points.tobytes().decode("utf-32-le"))
    word: npt.NDArray[np.bool_] = np.frombuffer(marked.encode("utf-32-le"), dtype=np.uint32) == 1
    word[1] = re.match(r"\w", "\x01") is not None  # \x01 itself was a mark, not a word character
    word.setflags(write=False)
    return word


@cache
def _fold_table() -> npt.NDArray[np.int32]:
    """What ``normalize_text`` does to each code point after lowering, for the compiled scan: -1 for
    whitespace (``str.split``'s) and dashes, ``'`` for the curly apostrophes, else the code point.
    Every code point past the table (U+3000, the last whitespace) is itself. Read-only, 48 KiB."""
    fold = np.arange(0x3001, dtype=np.int32)
    for code in range(fold.shape[0]):
        if chr(code).isspace():
            fold[code] = -1
    for dash in _DASHES:
        fold[ord(dash)] = -1
    for apostrophe in _APOSTROPHES:
        fold[ord(apostrophe)] = ord("'")
    fold.setflags(write=False)
    return fold


class TermMatcher:
    """All terms of a tagger as one character trie in arrays, scanned by the compiled
    :func:`feedflow.core.kernels.term_hits`: at each position where no word character precedes, the
    longest term that a non-word character follows, exactly as ``re`` scans the alternation of the
    terms between ``(?<!\\w)`` and ``(?!\\w)`` (tests/test_topics.py compares the two). Each term
    adds its ``(unit, weight)`` items to the units' hits.

    Over the 20k bench articles' normalised text (39.5 M characters, 1.13 M matches) the regex took
    2.2 CPU s in ``finditer`` and ~1.5 s more in the Python loop over its matches; this scan, with the
    text's encoding to code points and the dict it returns, ~0.9 s. The tagger's compiled evidence
    scans the same trie from the raw lower-case text, normalising on the way (``text``, ``trie``):
    the tagger's time over the 20k articles went 2.2–3.9 → 1.6–2.3 CPU s (four pairs in turn).
    Nodes with at least ``DENSE_CHILDREN`` children step by a dense row, not a walk along their
    edges: 0.77–0.89 → 0.69–0.78 CPU s for the evidence of the 20k (ten pairs in turn).
    Read-only after construction."""

    def __init__(self, terms: Mapping[str, Sequence[tuple[int, float]]], units: int) -> None:
        texts = list(terms)
        if any(not text for text in texts):
            raise ValueError("a term cannot be empty")
        chars = sorted({ch for text in texts for ch in text})
        symbols = np.full(max(map(ord, chars), default=0) + 1, -1, dtype=np.int32)
        for number, ch in enumerate(chars):
            symbols[ord(ch)] = number
        children: list[dict[int, int]] = [{}]
        node_term = [-1]
        for number, text in enumerate(texts):
            node = 0
            for ch in text:
                symbol = int(symbols[ord(ch)])
                child = children[node].get(symbol)
                if child is None:
                    child = children[node][symbol] = len(children)
                    children.append({})
                    node_term.append(-1)
                node = child
            node_term[node] = number
        root = np.full(len(chars), -1, dtype=np.int32)
        for symbol, child in children[0].items():
            root[symbol] = child
        edge_start = np.zeros(len(children) + 1, dtype=np.int32)
        edges: list[tuple[int, int]] = []
        for node, branches in enumerate(children):
            edge_start[node] = len(edges)
            edges.extend(sorted(branches.items()))
        edge_start[-1] = len(edges)
        # Nodes with many children also get a dense row (child per symbol, -1 for none): the scan's
        # step from them is one lookup, not a walk along their edges (~670 rows of 42 symbols).
        branching = [node for node, branches in enumerate(children) if len(branches) >= DENSE_CHILDREN]
        rows = np.full(len(children), -1, dtype=np.int32)
        dense = np.full(len(branching) * len(chars), -1, dtype=np.int32)
        for row, node in enumerate(branching):
            rows[node] = row
            for symbol, child in children[node].items():
                dense[row * len(chars) + symbol] = child
        item_start = np.zeros(len(texts) + 1, dtype=np.int32)
        items: list[tuple[int, float]] = []
        for number, text in enumerate(texts):
            item_start[number] = len(items)
            items.extend(terms[text])
        item_start[-1] = len(items)
        if any(not 0 <= unit < units for unit, _ in items):
            raise ValueError(f"a term names a unit outside 0..{units - 1}")
        from feedflow.core.kernels import term_hits  # numba: imported where the matcher is built (workers)

        self.terms = terms  # what the matcher matches (read-only)
        self._scan = term_hits
        self._units = units
        self._trie = (
            _word_characters(),
            symbols,
            root,
            edge_start,
            np.array([symbol for symbol, _ in edges], dtype=np.int32),
            np.array([child for _, child in edges], dtype=np.int32),
            np.array(node_term, dtype=np.int32),
            item_start,
            np.array([unit for unit, _ in items], dtype=np.int32),
            np.array([weight for _, weight in items], dtype=np.float64),
            rows,
            dense,
        )

    @property
    def trie(self) -> tuple[Any, ...]:
        """The arrays the compiled scan walks (read-only)."""
        return self._trie

    @staticmethod
    def text(title: str, paragraphs: Sequence[str]) -> tuple[npt.NDArray[np.uint32], int]:
        """An article's title and body (paragraphs joined by ``_PARAGRAPH_SEPARATOR``), lower case, as
        code points, and where the body starts: what the compiled evidence normalises and scans.
        Each is lowered apart, as ``normalize_text`` lowers it (a final sigma depends on what follows)."""
        head = title.lower()
        body = _PARAGRAPH_SEPARATOR.join(paragraphs).lower()
        return np.frombuffer((head + body).encode("utf-32-le", "surrogatepass"), dtype=np.uint32), len(head)

    def hits(self, title: str, title_weight: float, body: str) -> dict[int, float]:
        """Unit → summed ``weight × zone weight`` of the terms found in ``title`` (zone ``title_weight``)
        and then ``body`` (zone 1.0), both normalised already; units in order of first hit."""
        text = np.frombuffer((title + body).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        order, sums = self._scan(text, len(title), title_weight, self._units, self._trie)
        return dict(zip(order.tolist(), sums.tolist(), strict=True))


def _level_weight(level: int) -> float:
    return LEVEL_WEIGHTS[min(max(level, 1), len(LEVEL_WEIGHTS)) - 1]


class TopicTagger:
    """Tags articles with top-level IPTC Media Topics (see the module docstring for the method).

    ``vocabulary`` defaults to the shipped IPTC vocabulary and ``learned`` to the shipped learned
    words when the vocabulary is the shipped one, else to none (learned words belong to a vocabulary:
    they were learned as what its terms do not already say)."""

    def __init__(
        self,
        config: TopicConfig,
        vocabulary: IptcVocabulary | None = None,
        learned: LearnedWords | None = None,
    ) -> None:
        if config.max_topics < 0:
            raise ValueError(f"max_topics must be >= 0, not {config.max_topics}")
        if not 0.0 <= config.min_score <= 1.0:
            raise ValueError(f"min_score must be within [0, 1], not {config.min_score}")
        self.config = config
        if learned is None:
            learned = load_topic_weights() if vocabulary is None else LearnedWords(words={})
        self.vocabulary = vocabulary if vocabulary is not None else load_vocabulary()
        self.learned = learned
        tops = {c.qcode: c for c in self.vocabulary.top_level()}
        if not tops:
            raise ValueError("IPTC vocabulary has no top-level concepts")
        self._tops = tops

        # One "unit" of evidence per concept, then per learned word: (evidence label, weight, homes),
        # homes being the (top code, share) pairs its evidence counts for.
        units: list[tuple[str, float, tuple[tuple[str, float], ...]]] = [
            (c.label, _level_weight(c.level), self._homes(c)) for c in self.vocabulary.concepts
        ]
        claims: dict[str, list[tuple[int, float]]] = {}
        for i, concept in enumerate(self.vocabulary.concepts):
            for term in concept.terms:
                claims.setdefault(term.text, []).append((i, term.weight))
        # A term claimed by n concepts gives each 1/n of its weight; blocked phrases give nothing.
        terms: dict[str, tuple[tuple[int, float], ...]] = {
            text: tuple((i, w / len(owners)) for i, w in owners) for text, owners in claims.items()
        }
        for phrase in self.vocabulary.blocked:
            terms.setdefault(phrase, ())
        for word, (code, _share) in sorted(learned.words.items()):
            if word not in terms and code in tops:  # a vocabulary term always says more
                terms[word] = ((len(units), 1.0),)
                units.append((word, LEARNED_WEIGHT, ((code, 1.0),)))
        if not terms:
            raise ValueError("IPTC vocabulary has no terms to match")
        self._units = tuple(units)
        self._matcher = TermMatcher(terms, len(units))
        # The units' scoring as arrays for the compiled evidence: weight, homes (top index, share).
        self._top_codes = tuple(tops)
        top_index = {code: i for i, code in enumerate(self._top_codes)}
        home_start = np.zeros(len(units) + 1, dtype=np.int32)
        homes: list[tuple[int, float]] = []
        for number, (_, _, unit_homes) in enumerate(units):
            home_start[number] = len(homes)
            homes.extend((top_index[code], share) for code, share in unit_homes)
        home_start[-1] = len(homes)
        scoring = (
            np.array([weight for _, weight, _ in units], dtype=np.float64),
            home_start,
            np.array([top for top, _ in homes], dtype=np.int32),
            np.array([share for _, share in homes], dtype=np.float64),
            len(self._top_codes),
        )
        from feedflow.core.kernels import topic_evidence  # numba: imported where the tagger is built

        self._evidence = topic_evidence
        self._kernel_args = (self._matcher.trie, _fold_table(), scoring)

    def _homes(self, concept: IptcConcept) -> tuple[tuple[str, float], ...]:
        for code in (concept.qcode, *concept.broader):
            listed = CROSS_LISTED.get(code)
            if listed is not None and all(top in self._tops for top, _ in listed):
                return listed
        return ((concept.top, 1.0),)

    def _scored(self, title: str, paragraphs: Sequence[str]) -> tuple[list[float], list[tuple[int, float, int]]]:
        """Each top's evidence (by index) and the contributions in order: (top index, value, unit).
        One compiled call (:func:`feedflow.core.kernels.topic_evidence`) from the raw lower-case text:
        normalising, matching and summing there cost a third of doing them here (20k bench articles)."""
        text, split = self._matcher.text(title, paragraphs)
        sums, c_top, c_value, c_unit = self._evidence(text, split, TITLE_WEIGHT, *self._kernel_args)
        return sums.tolist(), list(zip(c_top.tolist(), c_value.tolist(), c_unit.tolist(), strict=True))

    def evidence(self, title: str, paragraphs: Sequence[str]) -> dict[str, list[tuple[float, str]]]:
        """Top-level code → its evidence as (value, concept label or learned word) pairs, unsorted;
        a topic's evidence is the sum of its values. Empty when nothing matched."""
        contributions: dict[str, list[tuple[float, str]]] = {}
        for top, value, unit in self._scored(title, paragraphs)[1]:
            contributions.setdefault(self._top_codes[top], []).append((value, self._units[unit][0]))
        return contributions

    def tag(self, title: str, paragraphs: Sequence[str]) -> tuple[TopicScore, ...]:
        """The article's top-level topics, best first: at most ``max_topics``, each >= ``min_score``."""
        if self.config.max_topics == 0:
            return ()
        sums, contributions = self._scored(title, paragraphs)
        found = dict.fromkeys(top for top, _, _ in contributions)
        if not found:
            return ()
        best = max(sums[top] for top in found)
        scored = []
        for top in found:
            score = round(sums[top] / (best + SMOOTHING), 4)
            if score >= self.config.min_score and score > 0.0:
                scored.append((score, self._top_codes[top], top))
        scored.sort(key=lambda sc: (-sc[0], sc[1]))

        out = []
        for score, code, top in scored[: self.config.max_topics]:
            ranked = sorted(
                ((value, self._units[unit][0]) for t, value, unit in contributions if t == top),
                key=lambda vl: (-vl[0], vl[1]),
            )
            labels = tuple(dict.fromkeys(label for _, label in ranked if label))
            out.append(TopicScore(code=code, label=self._tops[code].label, score=score, evidence=labels[:MAX_EVIDENCE]))
        return tuple(out)
