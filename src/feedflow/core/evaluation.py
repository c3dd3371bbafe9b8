"""Quality metrics and evaluation-data formats (pure Python, no Beam, no model).

Used by ``feedflow eval`` (:mod:`feedflow.evaluate`), which runs the product's own cleaning and
taggers and hands their output here to be scored.

Entities (``feedflow eval ner``)
--------------------------------
* **Format.** CoNLL: one token per line, whitespace-separated columns, the token first and the NER
  tag last; a blank line ends a sentence; a ``-DOCSTART-`` line starts a document. Tags are ``O`` or
  ``B-``/``I-``/``E-``/``S-`` + type, so IOB1 (CoNLL-2003's ``eng.*`` files), IOB2 and IOBES all read.
* **Spans** (:func:`spans_from_tags`) follow seqeval's default (conlleval-compatible) chunking: a
  chunk starts at ``B``/``S``, or at an ``I``/``E`` that does not continue a chunk of its own type;
  it ends before ``O``, ``B``, ``S`` or a change of type, and after ``E``/``S``. That is why IOB1 and
  IOB2 encodings of the same entities give the same spans.
* **Scores** (:func:`score_spans`) are strict: a predicted span counts only when its label and both
  token boundaries equal a gold span's. Per label and micro-averaged over all spans, like seqeval's
  ``classification_report``; a label with no predictions (or no gold spans) scores 0, not NaN.
* **Labels.** Model labels are mapped to CoNLL's PER/ORG/LOC/MISC by :data:`CONLL_LABEL_MAP`
  (OntoNotes: PERSON→PER, ORG→ORG, GPE/LOC/FAC→LOC, NORP/EVENT/PRODUCT/WORK_OF_ART/LAW/LANGUAGE→MISC;
  a CoNLL-style model's PERSON/ORG/LOC/MISC map to PER/ORG/LOC/MISC). Other labels (DATE, MONEY, …)
  are not entities in CoNLL and are dropped.
* **Alignment.** Predictions are character spans in the text the tagger saw; :func:`token_spans`
  turns them into gold-token spans (every token a predicted span overlaps), first-found wins when
  two overlap, so predictions behave like one tag sequence.

Topics (``feedflow eval topics``)
---------------------------------
The tagger's top IPTC code is mapped to the dataset's class (:data:`AGNEWS_IPTC`,
:data:`MASAKHANEWS_IPTC`; for JSON Lines the gold label is itself an IPTC code). A code outside the
mapping, or no topic at all, is a wrong answer. :func:`score_classes` gives accuracy, per-class
precision/recall/F1, macro-F1 over the gold classes, and a confusion matrix.

Main-text extraction (``feedflow eval extract``)
------------------------------------------------
:func:`overlap_counts`: the multiset of case-folded word tokens (``\\w+``) of the extracted text
against the gold text's; precision = shared / extracted, recall = shared / gold.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "AGNEWS_CLASSES",
    "AGNEWS_IPTC",
    "CONLL_LABELS",
    "CONLL_LABEL_MAP",
    "MASAKHANEWS_IPTC",
    "ClassScores",
    "ConllDocument",
    "ConllSentence",
    "EvalFormatError",
    "LabelScore",
    "LabelledText",
    "Span",
    "SpanScores",
    "class_of_code",
    "join_tokens",
    "offset_map",
    "overlap_counts",
    "prf",
    "read_agnews",
    "read_conll",
    "read_jsonl_topics",
    "read_masakhanews",
    "score_classes",
    "score_spans",
    "spans_from_tags",
    "token_spans",
]


class EvalFormatError(ValueError):
    """An evaluation file that does not have the stated format; the message says where."""


# --------------------------------------------------------------------------------------------------
# Precision, recall, F1


def prf(correct: int, predicted: int, gold: int) -> tuple[float, float, float]:
    """Precision, recall and F1 from counts; 0.0 (not NaN) where a denominator is 0."""
    precision = correct / predicted if predicted else 0.0
    recall = correct / gold if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


@dataclass(frozen=True, slots=True)
class LabelScore:
    """Scores of one label (or of all, micro-averaged): ``support`` gold items, ``predicted``, ``correct``."""

    label: str
    precision: float
    recall: float
    f1: float
    support: int
    predicted: int
    correct: int

    @classmethod
    def of(cls, label: str, correct: int, predicted: int, support: int) -> LabelScore:
        p, r, f = prf(correct, predicted, support)
        return cls(label, p, r, f, support, predicted, correct)


# --------------------------------------------------------------------------------------------------
# Entities: CoNLL files, spans, scores


#: The labels of CoNLL-2003.
CONLL_LABELS = ("PER", "ORG", "LOC", "MISC")

#: Model label → CoNLL label. OntoNotes (en_core_web_*) and CoNLL-style models (PERSON/ORG/LOC/MISC)
#: both map through it; labels absent here are not CoNLL entities and are dropped.
CONLL_LABEL_MAP: Mapping[str, str] = {
    "PERSON": "PER",
    "PER": "PER",
    "ORG": "ORG",
    "GPE": "LOC",
    "LOC": "LOC",
    "FAC": "LOC",
    "NORP": "MISC",
    "EVENT": "MISC",
    "PRODUCT": "MISC",
    "WORK_OF_ART": "MISC",
    "LAW": "MISC",
    "LANGUAGE": "MISC",
    "MISC": "MISC",
}

_TAG_RE = re.compile(r"\A([BIES])-(.+)\Z")


@dataclass(frozen=True, slots=True)
class Span:
    """An entity over tokens ``[start, end)`` of one sentence."""

    label: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class ConllSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]

    @property
    def spans(self) -> tuple[Span, ...]:
        return spans_from_tags(self.tags)


@dataclass(frozen=True, slots=True)
class ConllDocument:
    """A ``-DOCSTART-`` document (or the whole file when it has none)."""

    sentences: tuple[ConllSentence, ...]


def _split_tag(tag: str) -> tuple[str, str]:
    if tag == "O":
        return "O", ""
    match = _TAG_RE.match(tag)
    if match is None:
        raise EvalFormatError(f"not an IOB/IOBES tag: {tag!r}")
    return match.group(1), match.group(2)


def spans_from_tags(tags: Sequence[str]) -> tuple[Span, ...]:
    """The entity spans of one sentence's tags (IOB1, IOB2 or IOBES), chunked as seqeval does."""
    spans: list[Span] = []
    label = ""  # the type of the chunk being built ("" when none is open)
    start = 0
    for i, tag in enumerate(tags):
        prefix, kind = _split_tag(tag)
        continues = label == kind and prefix in ("I", "E")
        if label and not continues:
            spans.append(Span(label, start, i))
            label = ""
        if prefix == "O":
            continue
        if not continues:
            label, start = kind, i
        if prefix in ("E", "S"):
            spans.append(Span(label, start, i + 1))
            label = ""
    if label:
        spans.append(Span(label, start, len(tags)))
    return tuple(spans)


@dataclass(frozen=True, slots=True)
class SpanScores:
    """Per-label scores (labels of gold and predictions, sorted) and their micro average."""

    labels: tuple[LabelScore, ...]
    micro: LabelScore

    def label(self, name: str) -> LabelScore:
        """The scores of ``name``; zeros when it occurs in neither gold nor predictions."""
        return next((s for s in self.labels if s.label == name), LabelScore.of(name, 0, 0, 0))


def score_spans(gold: Sequence[Iterable[Span]], predicted: Sequence[Iterable[Span]]) -> SpanScores:
    """Strict span scores; ``gold[i]`` and ``predicted[i]`` are the spans of sentence ``i``."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predicted")
    gold_set = {(i, s.label, s.start, s.end) for i, spans in enumerate(gold) for s in spans}
    pred_set = {(i, s.label, s.start, s.end) for i, spans in enumerate(predicted) for s in spans}
    hits = gold_set & pred_set
    support = Counter(item[1] for item in gold_set)
    guessed = Counter(item[1] for item in pred_set)
    correct = Counter(item[1] for item in hits)
    labels = tuple(
        LabelScore.of(label, correct[label], guessed[label], support[label]) for label in sorted(support | guessed)
    )
    return SpanScores(labels, LabelScore.of("micro", len(hits), len(pred_set), len(gold_set)))


def read_conll(text: str) -> list[ConllDocument]:
    """CoNLL text → documents of sentences. Raises :class:`EvalFormatError` naming the line."""
    documents: list[ConllDocument] = []
    sentences: list[ConllSentence] = []
    tokens: list[str] = []
    tags: list[str] = []

    def end_sentence() -> None:
        if tokens:
            sentences.append(ConllSentence(tuple(tokens), tuple(tags)))
            tokens.clear()
            tags.clear()

    def end_document() -> None:
        end_sentence()
        if sentences:
            documents.append(ConllDocument(tuple(sentences)))
            sentences.clear()

    for number, line in enumerate(text.splitlines(), start=1):
        columns = line.split()
        if not columns:
            end_sentence()
        elif columns[0] == "-DOCSTART-":
            end_document()
        elif len(columns) < 2:
            raise EvalFormatError(f"line {number}: expected a token and a tag, got {line.strip()!r}")
        else:
            try:
                _split_tag(columns[-1])
            except EvalFormatError as err:
                raise EvalFormatError(f"line {number}: {err}") from None
            tokens.append(columns[0])
            tags.append(columns[-1])
    end_document()
    return documents


def join_tokens(tokens: Sequence[str]) -> tuple[str, tuple[tuple[int, int], ...]]:
    """Tokens joined by single spaces, and each token's ``(start, end)`` in that text."""
    offsets: list[tuple[int, int]] = []
    position = 0
    for token in tokens:
        offsets.append((position, position + len(token)))
        position += len(token) + 1
    return " ".join(tokens), tuple(offsets)


def offset_map(original: str, changed: str) -> list[int | None]:
    """For each character of ``changed`` (a cleaned copy of ``original``), its index in ``original``,
    or None for a character cleaning inserted. Identical strings map one to one."""
    if original == changed:
        return list(range(len(changed)))
    mapping: list[int | None] = [None] * len(changed)
    matcher = difflib.SequenceMatcher(None, original, changed, autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            mapping[b + k] = a + k
    return mapping


def token_spans(offsets: Sequence[tuple[int, int]], char_spans: Iterable[tuple[str, int, int]]) -> tuple[Span, ...]:
    """Character spans ``(label, start, end)`` → token spans over every token they overlap.

    A span touching no token is dropped; a span overlapping one already placed (earlier start, then
    longer, first) is dropped, so the result could come from one tag sequence.
    """
    placed: list[Span] = []
    taken: set[int] = set()
    for label, start, end in sorted(char_spans, key=lambda s: (s[1], -s[2], s[0])):
        covered = [i for i, (a, b) in enumerate(offsets) if a < end and start < b]
        if not covered or taken.intersection(covered):
            continue
        taken.update(range(covered[0], covered[-1] + 1))
        placed.append(Span(label, covered[0], covered[-1] + 1))
    return tuple(placed)


# --------------------------------------------------------------------------------------------------
# Topics: datasets, label mappings, classification scores


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One article of a topic dataset: title, body paragraphs and gold class."""

    title: str
    paragraphs: tuple[str, ...]
    label: str


#: AG News class numbers (classes.txt order).
AGNEWS_CLASSES: Mapping[str, str] = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}

#: AG News class → the top-level IPTC codes that count as that class.
AGNEWS_IPTC: Mapping[str, tuple[str, ...]] = {
    "World": (
        "medtop:11000000",  # politics
        "medtop:16000000",  # conflict, war and peace
        "medtop:03000000",  # disaster, accident and emergency incident
        "medtop:02000000",  # crime, law and justice
        "medtop:14000000",  # society
    ),
    "Sports": ("medtop:15000000",),
    "Business": ("medtop:04000000",),  # economy, business and finance
    "Sci/Tech": ("medtop:13000000",),  # science and technology
}

#: MasakhaNEWS category → the top-level IPTC code that counts as it.
MASAKHANEWS_IPTC: Mapping[str, tuple[str, ...]] = {
    "business": ("medtop:04000000",),
    "entertainment": ("medtop:01000000",),  # arts, culture, entertainment and media
    "health": ("medtop:07000000",),
    "politics": ("medtop:11000000",),
    "sports": ("medtop:15000000",),
    "technology": ("medtop:13000000",),  # science and technology
}

#: Confusion-matrix columns for answers that are no class: a code outside the mapping, no topic.
OTHER = "(other)"
NONE = "(none)"

_NUMERIC_ENTITY_RE = re.compile(r"#(\d{1,6});")


def normalize_iptc_code(code: str) -> str:
    """``"04000000"`` or ``"medtop:04000000"`` → ``"medtop:04000000"``."""
    code = code.strip()
    return code if code.startswith("medtop:") else f"medtop:{code}"


def class_of_code(code: str | None, mapping: Mapping[str, Sequence[str]] | None) -> str:
    """The class a predicted top IPTC code counts as: :data:`NONE` without a topic, :data:`OTHER` for a
    code outside ``mapping``; with ``mapping`` None the class is the code itself."""
    if code is None:
        return NONE
    if mapping is None:
        return code
    return next((label for label, codes in mapping.items() if code in codes), OTHER)


def _agnews_text(value: str) -> str:
    # The dataset writes "\" for a newline and "#36;" for "$" (numeric entities without the "&").
    return _NUMERIC_ENTITY_RE.sub(lambda m: chr(int(m.group(1))), value).replace("\\", "\n")


def _paragraphs(text: str) -> tuple[str, ...]:
    return tuple(p for p in (line.strip() for line in text.splitlines()) if p)


def read_agnews(text: str) -> Iterator[LabelledText]:
    """AG News CSV rows ``label,title,description`` (label 1..4; an optional header row is skipped)."""
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if not row or (number == 1 and row[0].strip().lower() in ("label", "class", "class index")):
            continue
        if len(row) != 3 or row[0].strip() not in AGNEWS_CLASSES:
            raise EvalFormatError(f"row {number}: expected label (1-4),title,description, got {row[:3]!r}")
        label, title, description = row
        yield LabelledText(_agnews_text(title).strip(), _paragraphs(_agnews_text(description)), AGNEWS_CLASSES[label])


def read_masakhanews(text: str) -> Iterator[LabelledText]:
    """MasakhaNEWS TSV with a header naming ``category``, ``headline`` and ``text`` columns."""
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    missing = {"category", "headline", "text"} - set(reader.fieldnames or ())
    if missing:
        raise EvalFormatError(f"MasakhaNEWS header lacks column(s) {sorted(missing)}: {reader.fieldnames}")
    for number, row in enumerate(reader, start=2):
        label = (row["category"] or "").strip()
        if label not in MASAKHANEWS_IPTC:
            raise EvalFormatError(f"row {number}: unknown category {label!r} (known: {sorted(MASAKHANEWS_IPTC)})")
        yield LabelledText((row["headline"] or "").strip(), _paragraphs(row["text"] or ""), label)


def read_jsonl_topics(text: str) -> Iterator[LabelledText]:
    """JSON Lines ``{"title", "text", "label"}`` with ``label`` a top-level IPTC code."""
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as err:
            raise EvalFormatError(f"line {number}: not JSON ({err})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("label"), str) or not obj["label"].strip():
            raise EvalFormatError(f"line {number}: expected an object with a string 'label' (an IPTC code)")
        title, body = obj.get("title") or "", obj.get("text") or ""
        if not isinstance(title, str) or not isinstance(body, str):
            raise EvalFormatError(f"line {number}: 'title' and 'text' must be strings")
        yield LabelledText(title.strip(), _paragraphs(body), normalize_iptc_code(obj["label"]))


@dataclass(frozen=True, slots=True)
class ClassScores:
    """Accuracy, per-class scores, macro-F1 over the gold classes, confusion ``gold → predicted → n``."""

    total: int
    correct: int
    classes: tuple[LabelScore, ...]
    confusion: Mapping[str, Mapping[str, int]]

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def macro_f1(self) -> float:
        return sum(c.f1 for c in self.classes) / len(self.classes) if self.classes else 0.0


def score_classes(pairs: Iterable[tuple[str, str]]) -> ClassScores:
    """Scores of ``(gold, predicted)`` class pairs; classes are the gold labels seen (sorted)."""
    confusion: dict[str, Counter[str]] = {}
    guessed: Counter[str] = Counter()
    for gold, predicted in pairs:
        confusion.setdefault(gold, Counter())[predicted] += 1
        guessed[predicted] += 1
    classes = tuple(
        LabelScore.of(label, confusion[label][label], guessed[label], sum(confusion[label].values()))
        for label in sorted(confusion)
    )
    total = sum(guessed.values())
    correct = sum(c.correct for c in classes)
    return ClassScores(total, correct, classes, {g: dict(row) for g, row in sorted(confusion.items())})


# --------------------------------------------------------------------------------------------------
# Main-text extraction

_WORD_RE = re.compile(r"\w+")


def _words(text: str) -> Counter[str]:
    return Counter(_WORD_RE.findall(text.casefold()))


def overlap_counts(extracted: str, gold: str) -> tuple[int, int, int]:
    """``(shared, extracted, gold)`` word-token counts (multisets, case-folded); feed them to :func:`prf`."""
    got, want = _words(extracted), _words(gold)
    return sum((got & want).values()), sum(got.values()), sum(want.values())
