"""Named-entity tagging of cleaned articles with an installed spaCy pipeline (pure Python, no Beam).

How an article is tagged
------------------------
1. **Per paragraph.** NER runs on each body paragraph separately, never on the whole article: over
   joined text the model glues entities across paragraph breaks ("Agence France-Presse\\n\\nSmugglers").
   All paragraphs of all articles of one :meth:`EntityTagger.tag_many` call go through ONE
   ``nlp.pipe(..., batch_size=config.batch_size)``. Line-leading list markers ("  • ", "- ", "* ")
   and free-standing bullet glyphs are replaced by spaces of the same length before NER (layout, not
   language: the model otherwise tags "• Official" as an ORG); offsets are unchanged by this.
2. **Only what NER needs.** The pipeline is loaded once, in ``__init__``, and every component except
   ``ner`` and the components ``ner`` listens to is removed. In ``en_core_web_sm`` the ``ner`` model
   embeds its own tok2vec (the shared ``tok2vec`` only feeds ``tagger`` and ``parser``), so only
   ``ner`` is kept. Side effect: without the parser there are no sentence boundaries, which the NER
   transition system would otherwise respect; on real articles this changes ~0.3% of entity spans
   (mostly in non-English text) and halves the cost.
3. **Normalisation** (:func:`normalize_mention`): the mention is trimmed of surrounding whitespace,
   bullets, quotes and punctuation, a leading "the", a possessive "’s"/"'s" or a bare trailing
   apostrophe; inner whitespace is collapsed. Mentions left empty or without any letter are dropped.
4. **Folding** (:func:`aggregate_mentions`), within one article only:

   a. *Label consistency* ("one sense per discourse"): when the same canonical name is tagged with
      several labels in the article, all its mentions take the label with the most mentions
      (a tie leaves the labels as the model gave them).
   b. *Surnames tagged as something else*: a non-PERSON name that is the trailing token(s) of the
      full name of exactly one PERSON of the article ("Harris" ORG next to "Kamala Harris" PERSON)
      becomes PERSON when the PERSON evidence (its own PERSON mentions plus the mentions of that
      person's names) outnumbers its non-PERSON mentions. So a lone "Ford" ORG beside a single
      "Henry Ford" is left alone, while "Washington" GPE in an article naming "George Washington"
      twice becomes him: the article's own majority decides.
   c. *Short PERSON names*: a PERSON name whose tokens appear, contiguously, inside longer PERSON
      names of the article ("Harris", "Kamala" in "Kamala Harris") is folded into that name when all
      of them lead to exactly one longest name; two Smiths ("John Smith", "Jane Smith") leave
      "Smith" unfolded.

5. **Output**: one :class:`~feedflow.model.Entity` per (canonical name, label), ordered by
   ``first_offset`` = offset of its first mention in the article text (the paragraphs joined by
   ``"\\n\\n"``: paragraph start + ``ent.start_char``). ``surface_forms`` are the distinct raw
   spans as the model found them ("Kamala Harris’s", "the White House"), in first-seen order, so
   ``text[first_offset:first_offset + len(surface_forms[0])] == surface_forms[0]``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from importlib import resources
from operator import itemgetter
from typing import Any

from feedflow.config import BUNDLED_NER_MODEL, NerConfig
from feedflow.model import Entity, slot_builder

__all__ = [
    "PARAGRAPH_SEPARATOR",
    "EntityTagger",
    "Mention",
    "MentionValues",
    "ModelNotInstalledError",
    "Spans",
    "aggregate_mentions",
    "aggregate_values",
    "mask_bullets",
    "ner_pieces",
    "normalize_mention",
]

#: How paragraphs are joined into ``Article.text``; offsets are computed in that joined string.
PARAGRAPH_SEPARATOR = "\n\n"

PERSON = "PERSON"

#: Paragraphs longer than this are cut (at whitespace) into pieces tagged separately, so a pathological
#: input cannot exceed spaCy's ``max_length`` or blow up memory.
MAX_CHUNK_CHARS = 100_000
#: What the model found in one paragraph: (output label, start, end) per kept entity.
Spans = tuple[tuple[str, int, int], ...]
#: The folder of ``feedflow.data`` that holds the bundled pipeline (:data:`BUNDLED_NER_MODEL`).
BUNDLED_NER_FOLDER = "ner-en"

_BULLETS = "•·▪‣◦●○■□►▸▹➢➤✓✔"
# A list marker at the start of a line: bullet glyph, dash or asterisk, followed by whitespace.
_LINE_BULLET_RE = re.compile(r"(?m)^([^\S\n]*)([" + re.escape(_BULLETS) + r"\-–—*+])(?=\s)")
# A bullet glyph standing alone between whitespace (separators such as "CNN · 5 min read").
_LONE_BULLET_RE = re.compile(r"(?<=\s)[" + re.escape(_BULLETS) + r"](?=\s)")
_LEADING_THE_RE = re.compile(r"the\s+", re.IGNORECASE)
_APOSTROPHES = "'’‘`"
_POSSESSIVE_RE = re.compile(f"[{_APOSTROPHES}]s\\Z", re.IGNORECASE)
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {v: k for k, v in _OPENERS.items()}


class ModelNotInstalledError(RuntimeError):
    """The spaCy model package named in ``NerConfig.model`` is not installed (it is never downloaded)."""


@dataclass(frozen=True, slots=True)
class Mention:
    """One entity span found by the model, before normalisation.

    ``text`` is the span exactly as it is in the article text, ``offset`` its start in that text
    (the paragraphs joined by :data:`PARAGRAPH_SEPARATOR`).
    """

    text: str
    label: str
    offset: int


# --------------------------------------------------------------------------------------------------
# Normalisation (pure)
# --------------------------------------------------------------------------------------------------


def mask_bullets(text: str) -> str:
    """Replace list markers (line-leading bullets/dashes/asterisks, lone bullet glyphs) by spaces.

    The result has the same length as ``text``, so character offsets stay valid.
    """
    masked = _LINE_BULLET_RE.sub(lambda m: m.group(1) + " ", text)
    return _LONE_BULLET_RE.sub(" ", masked)


def _is_abbreviation_period(text: str, start: int, end: int) -> bool:
    """Whether the "." ending ``text[start:end]`` belongs to an abbreviation ("U.S.", "Inc.", "Jr.")."""
    words = text[start : end - 1].split()
    if not words:
        return False
    word = words[-1]
    return "." in word or (word.isalpha() and len(word) <= 4 and word[0].isupper())


def _strip_lead(text: str, start: int, end: int) -> bool:
    ch = text[start]
    if ch in _OPENERS:
        return _OPENERS[ch] not in text[start + 1 : end]  # keep a bracket closed inside the mention
    cat = unicodedata.category(ch)
    return cat[0] == "P" or cat in ("So", "Sk")


def _strip_trail(text: str, start: int, end: int) -> bool:
    ch = text[end - 1]
    if ch in _CLOSERS:
        return _CLOSERS[ch] not in text[start : end - 1]
    if ch == ".":
        return not _is_abbreviation_period(text, start, end)
    cat = unicodedata.category(ch)
    return cat[0] == "P" or cat in ("So", "Sk")


def _trim(text: str) -> tuple[int, int]:
    """The slice ``[start, end)`` of a raw mention that remains once its ends are normalised."""
    start, end = 0, len(text)
    while True:
        before = (start, end)
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if (m := _POSSESSIVE_RE.search(text, start, end)) is not None:
            end = m.start()
        elif start < end and _strip_lead(text, start, end):
            start += 1
        elif start < end and _strip_trail(text, start, end):
            end -= 1
        elif (m := _LEADING_THE_RE.match(text, start, end)) is not None and m.end() < end:
            start = m.end()
        if (start, end) == before:
            return start, end


def normalize_mention(text: str) -> str:
    """The canonical form of a raw mention; ``""`` when nothing name-like is left.

    Strips surrounding whitespace, bullets, quotes and punctuation (keeping an abbreviation's final
    "." and balanced brackets), a leading "the", a possessive "’s"/"'s" or bare trailing apostrophe,
    and collapses inner whitespace. A result without any letter (punctuation, digits) becomes "".

    >>> normalize_mention("  • the White House’s ")
    'White House'
    """
    if (
        text[:1].isalpha()  # nothing to strip in front: not blank, a bracket, a quote or punctuation
        and text[-1:].isalnum()  # nor behind (whitespace, closers, "." and symbols are not alphanumeric)
        and text[-2:-1] not in _APOSTROPHES  # no possessive "'s" (a 1-char text takes the long way)
        and _LEADING_THE_RE.match(text) is None
    ):  # most mentions: _trim would change nothing, and the first letter is kept
        return " ".join(text.split())
    start, end = _trim(text)
    canonical = " ".join(text[start:end].split())
    return canonical if any(ch.isalpha() for ch in canonical) else ""


# --------------------------------------------------------------------------------------------------
# Aggregation and folding (pure)
# --------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Norm:
    canonical: str
    label: str
    surface: str
    offset: int


def _contains_run(longer: tuple[str, ...], shorter: tuple[str, ...]) -> bool:
    n = len(shorter)
    return any(longer[i : i + n] == shorter for i in range(len(longer) - n + 1))


def _person_roots(names: Iterable[str]) -> dict[str, str]:
    """Map each PERSON name to the longest name it unambiguously folds into (itself when none/ambiguous)."""
    tokens = {name: tuple(name.split()) for name in names}
    by_token: dict[str, list[str]] = defaultdict(list)  # token -> the names containing it
    for name, toks in tokens.items():
        for token in set(toks):
            by_token[token].append(name)
    roots: dict[str, str] = {}
    # Longer names are resolved before the shorter ones that refer to them (no cycles: lengths grow).
    for name in sorted(tokens, key=lambda n: (-len(tokens[n]), n)):
        toks = tokens[name]
        containing = by_token[toks[0]]
        if len(containing) == 1:  # only the name itself has its first token: nothing to fold into
            roots[name] = name
            continue
        if len(toks) == 1:  # every name holding the token holds the one-token run
            targets = {roots[other] for other in containing if len(tokens[other]) > 1}
        else:
            targets = {
                roots[other]
                for other in containing
                if len(tokens[other]) > len(toks) and _contains_run(tokens[other], toks)
            }
        roots[name] = targets.pop() if len(targets) == 1 else name
    return roots


def _majority_labels(norms: list[_Norm]) -> None:
    """Rule (a): one label per canonical name, the most frequent one, unless tied."""
    first: dict[str, str] = {}
    mixed: set[str] = set()  # the names with more than one label: the only ones the rule can change
    for n in norms:
        if first.setdefault(n.canonical, n.label) != n.label:
            mixed.add(n.canonical)
    if not mixed:
        return
    counts: dict[str, Counter[str]] = {canonical: Counter() for canonical in mixed}
    for n in norms:
        if n.canonical in mixed:
            counts[n.canonical][n.label] += 1
    winners: dict[str, str] = {}
    for canonical, labels in counts.items():
        ranked = labels.most_common(2)
        if len(ranked) == 2 and ranked[0][1] > ranked[1][1]:
            winners[canonical] = ranked[0][0]
    for n in norms:
        n.label = winners.get(n.canonical, n.label)


def _surnames_to_person(norms: list[_Norm]) -> dict[str, str] | None:
    """Rule (b): a non-PERSON name that is one person's surname becomes PERSON when the article agrees.
    Returns the PERSON roots (:func:`_person_roots`) when no name changed label (they are then the
    roots of the final PERSON names too), else None."""
    person_counts = Counter(n.canonical for n in norms if n.label == PERSON)
    roots = _person_roots(person_counts)
    root_mentions: Counter[str] = Counter()
    for name, count in person_counts.items():
        root_mentions[roots[name]] += count
    by_last: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)  # surname -> names
    for name in person_counts:
        toks = tuple(name.split())
        by_last[toks[-1]].append((name, toks))
    other_counts = Counter(n.canonical for n in norms if n.label != PERSON)
    relabel: set[str] = set()
    for canonical, others in other_counts.items():
        if canonical.rpartition(" ")[2] not in by_last:  # no PERSON name ends as it ends
            continue
        toks = tuple(canonical.split())
        owners = {
            roots[name]
            for name, name_toks in by_last[toks[-1]]
            if len(name_toks) > len(toks) and name_toks[-len(toks) :] == toks
        }
        if len(owners) != 1:
            continue
        (owner,) = owners
        # PERSON votes: the owner's mentions (including this name's PERSON mentions when they fold
        # into the owner) plus this name's PERSON mentions that stayed apart (ambiguous as a token).
        votes = root_mentions[owner]
        if canonical in person_counts and roots[canonical] != owner:
            votes += person_counts[canonical]
        if votes > others:
            relabel.add(canonical)
    if not relabel:
        return roots
    for n in norms:
        if n.canonical in relabel:
            n.label = PERSON
    return None


_new_entity = slot_builder(Entity)  # Entity(*values), twice as fast: ~22 entities an article

#: A mention as plain values ``(text, label, offset)`` (what crosses the pipeline's join back to articles).
MentionValues = tuple[str, str, int]
_BY_OFFSET = itemgetter(2, 1, 0)  # (offset, label, text): the order mentions are resolved in


def _resolved(mentions: Iterable[MentionValues]) -> tuple[list[_Norm], dict[str, str] | None]:
    """Normalised mentions in offset order, with the article's label rules (a) and (b) applied; and
    the PERSON roots when rule (b) changed no label (None: to be worked out again)."""
    norms: list[_Norm] = []
    canonicals: dict[str, str] = {}  # an article names the same things again and again
    for text, label, offset in sorted(mentions, key=_BY_OFFSET):
        canonical = canonicals.get(text)
        if canonical is None:
            canonical = canonicals[text] = normalize_mention(text)
        if canonical:
            norms.append(_Norm(canonical, label, text, offset))
    _majority_labels(norms)
    return norms, _surnames_to_person(norms)


def resolve_labels(mentions: Sequence[Mention]) -> list[Mention]:
    """The mentions of ONE article with the labels its entity rows get (rules a and b), in offset order.

    Mentions that normalise to nothing are dropped, as :func:`aggregate_mentions` drops them; text and
    offsets are the model's spans, unchanged. Used to score what users see, mention by mention.
    """
    return [Mention(n.surface, n.label, n.offset) for n in _resolved((m.text, m.label, m.offset) for m in mentions)[0]]


def aggregate_mentions(mentions: Sequence[Mention]) -> tuple[Entity, ...]:
    """Normalise and fold the mentions of ONE article into its entities, ordered by first offset.

    Pure: the result depends only on ``mentions`` (their order does not matter). See the module
    docstring for the folding rules.
    """
    return aggregate_values((m.text, m.label, m.offset) for m in mentions)


def aggregate_values(mentions: Iterable[MentionValues]) -> tuple[Entity, ...]:
    """:func:`aggregate_mentions` of mentions given as ``(text, label, offset)`` values (no Mention
    objects made for them: the pipeline's mentions arrive as such values)."""
    norms, known_roots = _resolved(mentions)
    if not norms:
        return ()
    roots = known_roots
    if roots is None:
        roots = _person_roots({n.canonical for n in norms if n.label == PERSON})
    for n in norms:
        if n.label == PERSON:
            n.canonical = roots[n.canonical]

    groups: dict[tuple[str, str], list[_Norm]] = {}
    for n in norms:  # norms are in offset order, so each group's first item is its first mention
        groups.setdefault((n.canonical, n.label), []).append(n)
    entities = [  # (entity, label, mentions, surface_forms, first_offset); 95% of groups are one mention
        _new_entity(
            canonical,
            label,
            len(items),
            (items[0].surface,) if len(items) == 1 else tuple(dict.fromkeys(n.surface for n in items)),
            items[0].offset,
        )
        for (canonical, label), items in groups.items()
    ]
    entities.sort(key=lambda e: (e.first_offset, e.label, e.entity))
    return tuple(entities)


# --------------------------------------------------------------------------------------------------
# The tagger (holds the loaded spaCy pipeline)
# --------------------------------------------------------------------------------------------------


def _chunks(paragraph: str, limit: int = MAX_CHUNK_CHARS) -> Iterator[tuple[int, str]]:
    """``(offset, piece)`` pieces of at most ``limit`` chars, cut at whitespace where possible."""
    start = 0
    while len(paragraph) - start > limit:
        cut = max(paragraph.rfind(" ", start, start + limit), paragraph.rfind("\n", start, start + limit))
        end = cut + 1 if cut > start else start + limit
        yield start, paragraph[start:end]
        start = end
    yield start, paragraph[start:]


def ner_pieces(paragraphs: Sequence[str]) -> Iterator[tuple[int, int, str]]:
    """``(paragraph number, offset in the joined text, piece)`` of each piece the model runs on: every
    paragraph (cut at :data:`MAX_CHUNK_CHARS`) that is not blank; offsets count :data:`PARAGRAPH_SEPARATOR`."""
    base = 0
    for number, paragraph in enumerate(paragraphs):
        for offset, piece in _chunks(paragraph):
            if piece.strip():
                yield number, base + offset, piece
        base += len(paragraph) + len(PARAGRAPH_SEPARATOR)


def model_location(model: str) -> str:
    """What ``spacy.load`` gets for ``NerConfig.model``: the bundled pipeline folder, or ``model`` itself."""
    if model == BUNDLED_NER_MODEL:
        return str(resources.files("feedflow.data").joinpath(BUNDLED_NER_FOLDER))
    return model


def _load_pipeline(config: NerConfig) -> Any:
    import spacy  # imported here: importing feedflow.core must stay cheap

    try:
        nlp = spacy.load(model_location(config.model))
    except OSError as exc:  # spaCy's E050 "Can't find model"
        raise ModelNotInstalledError(
            f"spaCy model {config.model!r} is not installed; feedflow never downloads models at run "
            f"time. Install the model package, e.g. `pip install {config.model.replace('_', '-')}` "
            f"(pinned in the project's dependencies), or give the path of a spaCy pipeline folder."
        ) from exc
    if nlp.lang != config.language:
        raise ValueError(f"spaCy model {config.model!r} is for language {nlp.lang!r}, not {config.language!r}")
    if "ner" not in nlp.component_names:
        raise ValueError(f"spaCy model {config.model!r} has no 'ner' component")
    # Keep ner and whatever it listens to (e.g. a shared tok2vec/transformer); drop everything else.
    keep = {"ner"} | {
        name
        for name in nlp.component_names
        if "ner" in (getattr(nlp.get_pipe(name), "listening_components", None) or ())
    }
    for name in list(nlp.component_names):
        if name not in keep:
            nlp.remove_pipe(name)
    return nlp


class EntityTagger:
    """Holds one loaded spaCy pipeline; built once per Beam worker in DoFn.setup()."""

    def __init__(self, config: NerConfig) -> None:
        self.config = config
        self._labels = dict(config.label_map)
        self._nlp = _load_pipeline(config)
        #: Paragraph pieces asked for, and how many of them the model actually ran on.
        self.stats = {"paragraphs": 0, "tagged": 0}

    @property
    def pipe_names(self) -> tuple[str, ...]:
        """The components that actually run (for logs and tests)."""
        return tuple(self._nlp.pipe_names)

    def tag_many(self, articles: Sequence[Sequence[str]]) -> list[tuple[Entity, ...]]:
        """Entities of each article; an article is its deduplicated body paragraphs, in order.

        Offsets refer to the paragraphs joined by :data:`PARAGRAPH_SEPARATOR` (``Article.text``).
        """
        return [aggregate_mentions(found) for found in self.mentions_many(articles)]

    def mentions_many(self, articles: Sequence[Sequence[str]]) -> list[list[Mention]]:
        """The raw mentions of each article (output labels, offsets into the joined text), before folding.

        Each distinct piece of text in the call goes through the model once (:meth:`spans_many`); NER
        runs on each piece alone, so batching never changes what is found. (The pipeline goes further:
        it groups the pieces of the whole run by text, so each reaches the model once per run.)"""
        units: list[tuple[int, int, str]] = []  # (article index, offset in the article text, text)
        for index, paragraphs in enumerate(articles):
            if isinstance(paragraphs, str):
                raise TypeError("each article must be a sequence of paragraphs, not a str")
            units.extend((index, offset, piece) for _, offset, piece in ner_pieces(paragraphs))
        distinct = list(dict.fromkeys(text for _, _, text in units))
        found = dict(zip(distinct, self.spans_many(distinct), strict=True))
        self.stats["paragraphs"] += len(units)

        mentions: list[list[Mention]] = [[] for _ in articles]
        for index, base, text in units:
            for label, start, end in found[text]:
                mentions[index].append(Mention(text[start:end], label, base + start))
        return mentions

    def spans_many(self, texts: Sequence[str]) -> list[Spans]:
        """What the model finds in each text, each run alone: ONE ``nlp.pipe`` over the texts sorted by
        length, so that each batch pads little; bullets masked first. Counts ``tagged``."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        docs = self._nlp.pipe((mask_bullets(texts[i]) for i in order), batch_size=self.config.batch_size)
        spans: list[Spans] = [()] * len(texts)
        for i, doc in zip(order, docs, strict=True):
            spans[i] = tuple(
                (label, int(ent.start_char), int(ent.end_char))
                for ent in doc.ents
                if (label := self._labels.get(str(ent.label_))) is not None
            )
        self.stats["tagged"] += len(texts)
        return spans

    @property
    def model_labels(self) -> tuple[str, ...]:
        """The labels the loaded model can predict (before ``label_map``)."""
        return tuple(str(label) for label in self._nlp.get_pipe("ner").labels)

    def tag(self, paragraphs: Sequence[str]) -> tuple[Entity, ...]:
        """Entities of one article (prefer :meth:`tag_many`, which batches)."""
        return self.tag_many([paragraphs])[0]
