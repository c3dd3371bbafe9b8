"""`feedflow eval`: measure the product's tagging and extraction on labelled data.

Each evaluation runs the same code ``feedflow run`` runs, then scores it with
:mod:`feedflow.core.evaluation` (where the metrics, formats and label mappings are documented):

* ``ner``: every CoNLL sentence is one paragraph (its tokens joined by single spaces), cleaned by
  :func:`feedflow.core.clean.clean_paragraphs`; the paragraphs go through the pipeline's
  :class:`~feedflow.core.entities.EntityTagger` model (bullet masking, one ``nlp.pipe``, the
  configured label map). Each CoNLL document is one article whose sentences are its paragraphs, so
  the article's label rules apply as in the pipeline (one label per name, a PERSON's surname is that
  person: :func:`~feedflow.core.entities.resolve_labels`); each mention, with the label its entity row
  gets and trimmed as :func:`~feedflow.core.entities.normalize_mention` trims it (a leading "the", a
  possessive, punctuation), is mapped back through the cleaning to the gold tokens. The model runs per
  paragraph, as in the pipeline, so a sentence is tagged without its neighbours. Paragraph dedup and
  the folding of mentions into entity rows are not applied: they decide which rows an article gets,
  not where a name is. A paragraph cleaning drops keeps its
  gold entities, which then count as misses. words/s = gold tokens / seconds of cleaning + NER +
  alignment (model loading excluded and reported apart).
* ``topics``: every labelled text becomes a raw text article (title + paragraphs) built by the
  pipeline's :class:`~feedflow.core.articles.ArticleBuilder` and tagged by its
  :class:`~feedflow.core.tagging.TopicStep`; an article rejected as empty has no topic (wrong).
* ``extract``: every page of an article-extraction benchmark folder (``ground-truth.json`` +
  ``html/<id>.html[.gz]``) is read by the pipeline's own reader (:func:`~feedflow.core.readers.read_input`,
  i.e. trafilatura through :func:`~feedflow.core.html.extract_page`) and built into an article; its
  body is compared with the gold ``articleBody``. A page with no main text scores 0.
"""

from __future__ import annotations

import argparse
import bisect
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedflow.config import CleanConfig, NerConfig, ReadConfig, TopicConfig
from feedflow.core.articles import ArticleBuilder, BuildConfig
from feedflow.core.clean import clean_paragraphs
from feedflow.core.entities import (
    PARAGRAPH_SEPARATOR,
    EntityTagger,
    ModelNotInstalledError,
    normalize_mention,
    resolve_labels,
)
from feedflow.core.evaluation import (
    AGNEWS_IPTC,
    CONLL_LABEL_MAP,
    MASAKHANEWS_IPTC,
    ClassScores,
    ConllSentence,
    EvalFormatError,
    LabelledText,
    SpanScores,
    class_of_code,
    join_tokens,
    offset_map,
    overlap_counts,
    prf,
    read_agnews,
    read_conll,
    read_jsonl_topics,
    read_masakhanews,
    score_classes,
    score_spans,
    token_spans,
)
from feedflow.core.readers import read_input
from feedflow.core.tagging import TopicStep
from feedflow.model import Article, InputRef, RawArticle

__all__ = [
    "ExtractResult",
    "NerResult",
    "TopicsResult",
    "eval_extract",
    "eval_main",
    "eval_ner",
    "eval_topics",
]

TOPIC_FORMATS: dict[str, tuple[Callable[[str], Iterator[LabelledText]], dict[str, tuple[str, ...]] | None]] = {
    "agnews": (read_agnews, dict(AGNEWS_IPTC)),
    "masakhanews": (read_masakhanews, dict(MASAKHANEWS_IPTC)),
    "jsonl": (read_jsonl_topics, None),
}


def _builder() -> ArticleBuilder:
    # no MinHash signatures: evaluation never compares articles (and needs no compiled kernels)
    return ArticleBuilder(BuildConfig(run_started=datetime.now(UTC), sign=False))


def _raw(path: str, index: int, title: str, paragraphs: Sequence[str]) -> RawArticle:
    return RawArticle(input=path, locator=f"item {index}", kind="text", title=title or None,
                      text="\n\n".join(paragraphs) or None)  # fmt: skip


# --------------------------------------------------------------------------------------------------
# NER


@dataclass(frozen=True, slots=True)
class NerResult:
    file: str
    model: str
    documents: int
    sentences: int
    words: int
    #: Sentences cleaning dropped (empty, wordless or boilerplate): their gold entities are misses.
    dropped_paragraphs: int
    load_seconds: float
    seconds: float
    scores: SpanScores
    #: Labels the model outputs that the configuration does not keep (dropped, as in the pipeline).
    unkept_model_labels: tuple[str, ...] = ()

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds else 0.0

    def figures(self) -> dict[str, float]:
        out = {"micro_f1": self.scores.micro.f1, "micro_precision": self.scores.micro.precision,
               "micro_recall": self.scores.micro.recall}  # fmt: skip
        for label in ("PER", "ORG", "LOC", "MISC"):
            out[f"{label}_f1"] = self.scores.label(label).f1
        out["words_per_s"] = self.words_per_second
        return out


def _unkept_model_labels(tagger: EntityTagger) -> tuple[str, ...]:
    kept = dict(tagger.config.label_map)
    return tuple(sorted(label for label in tagger.model_labels if label not in kept))


ParagraphMentions = list[tuple[str, int, int]]


def article_mentions(tagger: EntityTagger, articles: Sequence[Sequence[str]]) -> Iterator[list[ParagraphMentions]]:
    """Per article, per paragraph: ``(label, start, end)`` of each mention as the pipeline labels it.

    The tagger runs exactly as in the pipeline (:meth:`EntityTagger.mentions_many`: per paragraph, bullets
    masked, the configured label map); the article's label rules (one label per name, surnames of a
    PERSON) are applied with :func:`resolve_labels`, so each mention carries the label of the entity
    row users see; spans are trimmed as :func:`normalize_mention` trims them.
    """
    for paragraphs, mentions in zip(articles, tagger.mentions_many(articles), strict=True):
        bases, base = [], 0
        for paragraph in paragraphs:
            bases.append(base)
            base += len(paragraph) + len(PARAGRAPH_SEPARATOR)
        found: list[ParagraphMentions] = [[] for _ in paragraphs]
        for mention in resolve_labels(mentions):
            index = bisect.bisect_right(bases, mention.offset) - 1
            paragraph = paragraphs[index]
            start = mention.offset - bases[index]
            end = start + len(mention.text)
            canonical = normalize_mention(mention.text)
            at = paragraph.find(canonical, start, end)  # cleaned text has single spaces: found verbatim
            if at >= 0:
                start, end = at, at + len(canonical)
            found[index].append((mention.label, start, end))
        yield found


def _original_span(mapping: Sequence[int | None], start: int, end: int) -> tuple[int, int] | None:
    inside = [m for m in mapping[start:end] if m is not None]
    return (inside[0], inside[-1] + 1) if inside else None


def eval_ner(path: str | Path, model: str | None = None, limit: int | None = None) -> NerResult:
    """Score the pipeline's NER on a CoNLL file (the first ``limit`` sentences when given)."""
    text = Path(path).read_text(encoding="utf-8")
    documents = read_conll(text)
    numbered = [(n, s) for n, d in enumerate(documents) for s in d.sentences][:limit]
    sentences: list[ConllSentence] = [s for _, s in numbered]
    config = NerConfig(model=model) if model else NerConfig()
    started = time.perf_counter()
    tagger = EntityTagger(config)
    loaded = time.perf_counter()

    joined = [join_tokens(s.tokens) for s in sentences]
    # One article per CoNLL document; its kept (cleaned) sentences are its paragraphs.
    articles: dict[int, list[tuple[int, str]]] = {}
    for index, ((raw, _), (number, _)) in enumerate(zip(joined, numbered, strict=True)):
        kept = clean_paragraphs([raw], CleanConfig())
        if kept:
            articles.setdefault(number, []).append((index, kept[0]))
    cleaned = [item for items in articles.values() for item in items]
    predicted: list[tuple[Any, ...]] = [() for _ in sentences]
    per_article = article_mentions(tagger, [[p for _, p in items] for items in articles.values()])
    for items, found in zip(articles.values(), per_article, strict=True):
        for (index, paragraph), mentions in zip(items, found, strict=True):
            raw, offsets = joined[index]
            mapping = offset_map(raw, paragraph)
            char_spans = []
            for label, start, end in mentions:
                conll = CONLL_LABEL_MAP.get(label)
                where = _original_span(mapping, start, end)
                if conll is not None and where is not None:
                    char_spans.append((conll, *where))
            predicted[index] = token_spans(offsets, char_spans)
    done = time.perf_counter()

    scores = score_spans([s.spans for s in sentences], predicted)
    return NerResult(
        file=str(path),
        model=config.model,
        documents=len({n for n, _ in numbered}),
        sentences=len(sentences),
        words=sum(len(s.tokens) for s in sentences),
        dropped_paragraphs=len(sentences) - len(cleaned),
        load_seconds=loaded - started,
        seconds=done - loaded,
        scores=scores,
        unkept_model_labels=_unkept_model_labels(tagger),
    )


# --------------------------------------------------------------------------------------------------
# Topics


@dataclass(frozen=True, slots=True)
class TopicsResult:
    files: tuple[str, ...]
    format: str
    #: Texts the article builder rejected (nothing left after cleaning): counted as "(none)".
    rejected: int
    seconds: float
    scores: ClassScores

    def figures(self) -> dict[str, float]:
        return {"accuracy": self.scores.accuracy, "macro_f1": self.scores.macro_f1}


def eval_topics(paths: Sequence[str | Path], fmt: str, limit: int | None = None) -> TopicsResult:
    """Score the pipeline's topic tagging on labelled files of format ``agnews|masakhanews|jsonl``."""
    if fmt not in TOPIC_FORMATS:
        raise EvalFormatError(f"unknown topics format {fmt!r} (known: {', '.join(TOPIC_FORMATS)})")
    reader, mapping = TOPIC_FORMATS[fmt]
    items: list[tuple[str, LabelledText]] = []
    for path in paths:
        items.extend((str(path), item) for item in reader(Path(path).read_text(encoding="utf-8")))
    if limit is not None:
        items = items[:limit]
    started = time.perf_counter()
    builder, step = _builder(), TopicStep(TopicConfig())
    pairs: list[tuple[str, str]] = []
    rejected = 0
    for index, (path, item) in enumerate(items):
        built = builder(_raw(path, index, item.title, item.paragraphs))
        top: str | None = None
        if isinstance(built, Article):
            topics = step(built).topics
            top = topics[0].code if topics else None
        else:
            rejected += 1
        pairs.append((item.label, class_of_code(top, mapping)))
    seconds = time.perf_counter() - started
    return TopicsResult(tuple(str(p) for p in paths), fmt, rejected, seconds, score_classes(pairs))


# --------------------------------------------------------------------------------------------------
# Main-text extraction


@dataclass(frozen=True, slots=True)
class PageScore:
    page: str
    precision: float
    recall: float
    f1: float
    extracted_words: int
    gold_words: int


@dataclass(frozen=True, slots=True)
class ExtractResult:
    folder: str
    #: Pages the pipeline rejected (no main text): they score 0.
    rejected: int
    seconds: float
    micro_precision: float
    micro_recall: float
    micro_f1: float
    pages: tuple[PageScore, ...] = field(default=())

    def _mean(self, name: str) -> float:
        return sum(getattr(p, name) for p in self.pages) / len(self.pages) if self.pages else 0.0

    @property
    def mean_precision(self) -> float:
        return self._mean("precision")

    @property
    def mean_recall(self) -> float:
        return self._mean("recall")

    @property
    def mean_f1(self) -> float:
        return self._mean("f1")

    def figures(self) -> dict[str, float]:
        return {"micro_precision": self.micro_precision, "micro_recall": self.micro_recall,
                "micro_f1": self.micro_f1, "mean_f1": self.mean_f1}  # fmt: skip


def _page_file(folder: Path, page: str) -> Path | None:
    for name in (f"{page}.html.gz", f"{page}.html", f"{page}.htm"):
        if (folder / "html" / name).is_file():
            return folder / "html" / name
    return None


def eval_extract(folder: str | Path, limit: int | None = None) -> ExtractResult:
    """Score main-text extraction on a folder with ``ground-truth.json`` and ``html/<id>.html[.gz]``."""
    folder = Path(folder)
    truth_path = folder / "ground-truth.json"
    try:
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EvalFormatError(f"no ground-truth.json in {folder}") from None
    except ValueError as err:
        raise EvalFormatError(f"{truth_path}: not JSON ({err})") from None
    if not isinstance(truth, dict):
        raise EvalFormatError(f"{truth_path}: expected an object of page id → {{articleBody, url}}")
    pages = sorted(truth.items())[:limit] if limit is not None else sorted(truth.items())
    started = time.perf_counter()
    builder, config = _builder(), ReadConfig()
    scores: list[PageScore] = []
    rejected = 0
    totals = [0, 0, 0]
    for page, entry in pages:
        gold = entry.get("articleBody") if isinstance(entry, dict) else None
        html = _page_file(folder, page)
        if not isinstance(gold, str) or html is None:
            raise EvalFormatError(f"page {page}: no articleBody in ground-truth.json or no html/{page}.html[.gz]")
        extracted = ""
        for record in read_input(InputRef(location=str(html.resolve())), config):
            built = builder(record) if isinstance(record, RawArticle) else record
            if isinstance(built, Article):
                extracted = "\n\n".join(built.body)
                break
        rejected += not extracted
        shared, got, want = overlap_counts(extracted, gold)
        totals = [totals[0] + shared, totals[1] + got, totals[2] + want]
        scores.append(PageScore(page, *prf(shared, got, want), got, want))
    seconds = time.perf_counter() - started
    return ExtractResult(str(folder), rejected, seconds, *prf(*totals), pages=tuple(scores))


# --------------------------------------------------------------------------------------------------
# Output


def _r(value: float) -> str:
    return f"{value:.4f}"


def _table(columns: list[str], rows: Iterable[tuple[Any, ...]]) -> str:
    from feedflow.query import format_table

    return format_table(columns, list(rows)).rsplit("\n", 1)[0]  # without the "(n rows)" line


def format_ner(result: NerResult) -> str:
    rows = [(s.label, _r(s.precision), _r(s.recall), _r(s.f1), s.support, s.predicted, s.correct)
            for s in (*result.scores.labels, result.scores.micro)]  # fmt: skip
    lines = [
        f"NER on {result.file}: model {result.model}, {result.documents} documents, {result.sentences} sentences "
        f"(paragraphs), {result.words} words; {result.dropped_paragraphs} paragraph(s) dropped by cleaning",
        _table(["label", "precision", "recall", "f1", "gold", "predicted", "correct"], rows),
        f"speed: {result.words_per_second:,.0f} words/s ({result.seconds:.1f} s tagging; model load "
        f"{result.load_seconds:.1f} s)",
    ]
    if result.unkept_model_labels:
        lines.append(f"note: model labels not kept by the configuration: {', '.join(result.unkept_model_labels)}")
    return "\n".join(lines)


def format_topics(result: TopicsResult) -> str:
    s = result.scores
    rows = [(c.label, _r(c.precision), _r(c.recall), _r(c.f1), c.support, c.predicted) for c in s.classes]
    columns = sorted(
        {p for row in s.confusion.values() for p in row} | set(s.confusion), key=lambda c: (c[0] == "(", c)
    )
    matrix = [(gold, *(s.confusion[gold].get(p, 0) for p in columns)) for gold in s.confusion]
    return "\n".join([
        f"topics ({result.format}) on {', '.join(result.files)}: {s.total} texts, {result.rejected} rejected "
        f"as empty, {result.seconds:.1f} s",
        f"accuracy {_r(s.accuracy)}  macro-F1 {_r(s.macro_f1)}",
        _table(["class", "precision", "recall", "f1", "gold", "predicted"], rows),
        "confusion (rows: gold, columns: predicted)",
        _table(["gold \\ predicted", *columns], matrix),
    ])  # fmt: skip


def format_extract(result: ExtractResult) -> str:
    return "\n".join([
        f"extraction on {result.folder}: {len(result.pages)} pages, {result.rejected} with no main text, "
        f"{result.seconds:.1f} s",
        _table(["average", "precision", "recall", "f1"], [
            ("micro (all words)", _r(result.micro_precision), _r(result.micro_recall), _r(result.micro_f1)),
            ("mean per page", _r(result.mean_precision), _r(result.mean_recall), _r(result.mean_f1)),
        ]),
    ])  # fmt: skip


def to_json(result: NerResult | TopicsResult | ExtractResult) -> dict[str, Any]:
    """A JSON-ready record: every field, plus the headline figures."""
    out = asdict(result)
    out["figures"] = result.figures()
    return out


# --------------------------------------------------------------------------------------------------
# The command

USAGE = """feedflow eval ner FILE [--format conll] [--model NAME|PATH] [--json] [--limit N]
       feedflow eval topics FILE... --format agnews|masakhanews|jsonl [--json] [--limit N]
       feedflow eval extract DIR [--json] [--limit N]"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedflow eval", usage=USAGE, description="Measure tagging and extraction quality on labelled data."
    )
    sub = parser.add_subparsers(dest="what", required=True)
    ner = sub.add_parser("ner", help="entity spans against a CoNLL file (IOB1/IOB2)")
    ner.add_argument("file", metavar="FILE")
    ner.add_argument("--format", choices=["conll"], default="conll")
    ner.add_argument("--model", metavar="NAME|PATH", help="spaCy package or pipeline folder (default: the product's)")
    topics = sub.add_parser("topics", help="top IPTC topic against labelled texts")
    topics.add_argument("file", metavar="FILE", nargs="+")
    topics.add_argument("--format", choices=sorted(TOPIC_FORMATS), required=True)
    extract = sub.add_parser("extract", help="main text of HTML pages against gold text")
    extract.add_argument("file", metavar="DIR")
    for command in (ner, topics, extract):
        command.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
        command.add_argument("--limit", type=int, metavar="N", help="only the first N sentences/texts/pages")
    return parser


def eval_main(argv: Sequence[str]) -> int:
    ns = _parser().parse_args(argv)
    if ns.limit is not None and ns.limit < 1:
        print("feedflow eval: error: --limit must be at least 1", file=sys.stderr)
        return 2
    files = ns.file if isinstance(ns.file, list) else [ns.file]
    for name in files:
        found = Path(name).is_dir() if ns.what == "extract" else Path(name).is_file()
        if not found:
            print(f"feedflow eval: error: no {'folder' if ns.what == 'extract' else 'file'} {name}", file=sys.stderr)
            return 2
    result: NerResult | TopicsResult | ExtractResult
    try:
        if ns.what == "ner":
            result = eval_ner(ns.file, ns.model, ns.limit)
        elif ns.what == "topics":
            result = eval_topics(ns.file, ns.format, ns.limit)
        else:
            result = eval_extract(ns.file, ns.limit)
    except (ModelNotInstalledError, ValueError) as err:  # bad file format or encoding, unusable model
        print(f"feedflow eval: error: {err}", file=sys.stderr)
        return 2
    if ns.json:
        print(json.dumps(to_json(result), indent=1, default=str))
    elif isinstance(result, NerResult):
        print(format_ner(result))
    elif isinstance(result, TopicsResult):
        print(format_topics(result))
    else:
        print(format_extract(result))
    return 0
