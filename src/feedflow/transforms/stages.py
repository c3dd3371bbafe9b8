"""Composite transforms of the batch pipeline, each a thin wrapper over feedflow.core.

ReadArticles      input arguments → RawArticles (+ rejects)          core.readers
BuildArticles     RawArticle → Article (+ rejects)                    core.articles
DropSeenArticles  keep one copy per article_id, skip ids in the dataset (+ rejects, skipped ids)
CrossArticleDedup boilerplate and near-duplicates across articles     transforms.dedup
TagArticles       topics per article; entities per distinct piece of text, joined back    core.tagging
WriteDataset      rows → staged Parquet part files + the run's file listing and counters
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection
from apache_beam.transforms import combiners
from apache_beam.utils.windowed_value import WindowedValue

from feedflow.config import NerConfig, ReadConfig, TopicConfig
from feedflow.core.articles import ArticleBuilder, BuildConfig
from feedflow.core.boilerplate import BoilerplateConfig
from feedflow.core.dataset import (
    IdsToDecide,
    KnownVersion,
    PartFileWriter,
    TableRow,
    TableRows,
    WrittenFile,
    article_rows,
    read_known_versions,
    reject_row,
    write_listing,
)
from feedflow.core.entities import EntityTagger
from feedflow.core.neardup import NearDupConfig
from feedflow.core.readers import expand_input, read_input
from feedflow.core.schemas import load_schemas
from feedflow.core.spill import SpillFile
from feedflow.core.tagging import (
    TopicStep,
    entity_pieces,
    mentions_at,
    wants_entities,
    with_mentions,
)
from feedflow.model import Article, Rejection
from feedflow.options import RunOptions
from feedflow.transforms.base import (
    NAMESPACE,
    REJECTS,
    AccumulateFn,
    ApplyCore,
    ChainFn,
    CoreStepFn,
    LogProgressFn,
    SideIndex,
    Stopwatch,
    UnionFn,
    bind,
    in_global_window,
    spill_before,
    spill_each,
    spilled_records,
)
from feedflow.transforms.dedup import ApplyAssignmentsFn, CrossArticleDedup
from feedflow.transforms.pickling import from_blob, to_blob

SKIPPED = "skipped"
#: Under a run's staging folder: the spill files (removed with the folder at commit or rollback).
SPILL_FOLDER = "_spill"

_LOG = logging.getLogger("feedflow")


class ReadArticles(beam.PTransform[PCollection[Any], Any]):
    """Input arguments (paths, globs, URLs, OPML) → ``(raw_articles, rejects)``.

    Expansion runs first, then a Reshuffle spreads the files/URLs over workers before reading.
    """

    def __init__(self, config: ReadConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, args: PCollection[Any]) -> tuple[PCollection[Any], PCollection[Any]]:
        refs, bad_args = args | ApplyCore("ExpandInputs", bind, expand_input, self._config)
        raws, bad_reads = (
            refs | "SpreadInputs" >> beam.Reshuffle() | ApplyCore("ReadInputs", bind, read_input, self._config)
        )
        raws = raws | "ReadProgress" >> beam.ParDo(LogProgressFn("records read"))
        rejects = (bad_args, bad_reads) | "ReadRejects" >> beam.Flatten()
        return raws, rejects


class BuildArticles(beam.PTransform[PCollection[Any], Any]):
    """RawArticle → ``(articles, rejects)``: clean, dedup paragraphs, identify, detect language."""

    def __init__(self, config: BuildConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, raws: PCollection[Any]) -> tuple[PCollection[Any], PCollection[Any]]:
        articles, rejects = raws | ApplyCore("CleanAndIdentify", ArticleBuilder, self._config)
        return articles, rejects


class ChooseOneFn(beam.DoFn):
    """Per article_id: keep the first copy in (input, locator) order and reject the others as
    ``duplicate_article``; then, against what the dataset already holds for the id, skip it when its
    content equals the latest version's, or write it as the next ``version`` when the content changed."""

    def __init__(self) -> None:
        self._skipped = Metrics.counter(NAMESPACE, "DropSeenArticles.skipped_existing")
        self._dupes = Metrics.counter(NAMESPACE, "DropSeenArticles.rejected.duplicate_article")
        self._revised = Metrics.counter(NAMESPACE, "DropSeenArticles.new_version")

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Any]:
        article_id, groups = element
        copies: list[Article] = sorted(map(from_blob, groups["new"]), key=lambda a: (a.input, a.locator))
        if not copies:
            return
        first, *others = copies
        for other in others:
            self._dupes.inc()
            where = f"{first.input} {first.locator}".strip()
            yield pvalue.TaggedOutput(
                REJECTS,
                Rejection(
                    input=other.input,
                    locator=other.locator,
                    reason="duplicate_article",
                    detail=f"same article_id {article_id} as {where}",
                    excerpt=(other.title or "")[:200],
                ),
            )
        known: list[KnownVersion] = list(groups["old"])
        if not known:
            yield first
            return
        latest = max(known, key=lambda k: k.version)
        if latest.content_hash == first.content_hash:
            self._skipped.inc()
            yield pvalue.TaggedOutput(SKIPPED, article_id)
            return
        self._revised.inc()
        yield replace(first, version=latest.version + 1)


TO_DECIDE = "to_decide"


class RouteByIdFn(beam.DoFn):
    """Article → itself (main) when nothing is to be decided about its id, else ``(article_id, bytes)``
    (TO_DECIDE) for the join with its copies and the dataset's versions."""

    def process(self, article: Article, to_decide: Container[str]) -> Iterator[Any]:
        if article.article_id in to_decide:
            yield pvalue.TaggedOutput(TO_DECIDE, (article.article_id, to_blob(article)))
        else:
            yield article


class DropSeenArticles(beam.PTransform[tuple[PCollection[Any], PCollection[Any]], Any]):
    """``(articles, existing_files)`` → ``(articles to write, rejects, skipped ids)``; the articles to
    write come as a tuple of parts (one when every article is joined, two with ``lookup``).

    An anti-join by CoGroupByKey against (id, version, content hash) of the committed dataset: the
    history is read as a PCollection, never loaded whole into one worker's memory, and only for the
    ids of this run's articles (a side input), so it costs in proportion to the run. ``narrow_history``
    False reads the whole history (the streaming pipeline: see ProcessArticles).

    ``lookup`` (batch): only the articles whose id has something to decide — a second copy in the run
    or a version in the dataset — go through the join; the ids are found first from the ids alone (a
    side input), and every other article passes straight on. Without it (streaming, where the
    in-process runner does not run consumers of windowed side inputs) every article is joined.
    ``spill_dir`` (with ``lookup``): the articles wait for the ids in spill files there, not in the
    runner (see :func:`feedflow.transforms.base.spill_before`).
    """

    def __init__(self, narrow_history: bool = True, lookup: bool = True, spill_dir: str | None = None) -> None:
        super().__init__()
        self._narrow = narrow_history
        self._lookup = lookup
        self._spill_dir = spill_dir

    def expand(
        self, inputs: tuple[PCollection[Any], PCollection[Any]]
    ) -> tuple[tuple[PCollection[Any], ...], PCollection[Any], PCollection[Any]]:
        articles, existing_files = inputs
        if self._narrow:
            ids = articles | "NewIds" >> beam.Map(lambda a: (a.article_id,)) | "AllNewIds" >> UnionFn.view()
            known = existing_files | "ReadKnownVersions" >> beam.FlatMap(read_known_versions, wanted=ids)
        else:
            known = existing_files | "ReadKnownVersions" >> beam.FlatMap(read_known_versions)
        old = known | "KeyKnownById" >> beam.Map(lambda k: (k.article_id, k))
        if self._lookup:
            to_decide = (
                (
                    articles | "TagNewIds" >> beam.Map(lambda a: ("new", a.article_id)),
                    known | "TagOldIds" >> beam.Map(lambda k: ("old", k.article_id)),
                )
                | "AllIds" >> beam.Flatten()
                | "IdsToDecide" >> beam.CombineGlobally(AccumulateFn(IdsToDecide)).as_singleton_view()
            )
            source, route = spill_before([articles], "RouteById", self._spill_dir, RouteByIdFn())
            routed = source | "RouteById" >> beam.ParDo(route, to_decide).with_outputs(TO_DECIDE, main="main")
            passed, new = routed["main"], routed[TO_DECIDE]
        else:
            passed, new = None, articles | "KeyById" >> beam.Map(lambda a: (a.article_id, to_blob(a)))
        results = (
            {"new": new, "old": old}
            | "JoinIds" >> beam.CoGroupByKey()
            | "ChooseOne" >> beam.ParDo(ChooseOneFn()).with_outputs(REJECTS, SKIPPED, main="main")
        )
        # Batch: the two parts stay apart, so the next step fuses with each (no materialisation between).
        kept = (results["main"],) if passed is None else (passed, results["main"])
        return kept, results[REJECTS], results[SKIPPED]


OTHER_LANGUAGE = "other_language"
KEYED = "keyed"


class PiecesForNerFn(beam.DoFn):
    """Article in the model's language → ``(piece, (article_id, offset))`` per piece of its body (main)
    and ``(article_id, article bytes)`` (KEYED, for the join); any other article → OTHER_LANGUAGE.
    With ``keyed`` False every article goes to KEYED as it is (to wait for its mentions, or to pass)."""

    def __init__(self, config: NerConfig, keyed: bool = True) -> None:
        self._config = config
        self._keyed = keyed
        self._other_language = Metrics.counter(NAMESPACE, "TagEntities.skipped_language")
        self._pieces = Metrics.counter(NAMESPACE, "TagEntities.paragraphs_paragraphs")

    def process(self, article: Article) -> Iterator[Any]:
        if not wants_entities(article, self._config):
            self._other_language.inc()
            yield pvalue.TaggedOutput(OTHER_LANGUAGE if self._keyed else KEYED, article)
            return
        article_id = article.article_id
        pieces = entity_pieces(article)
        self._pieces.inc(len(pieces))
        yield pvalue.TaggedOutput(KEYED, (article_id, to_blob(article)) if self._keyed else article)
        for offset, piece in pieces:
            yield piece, (article_id, offset)


class TagPiecesFn(beam.DoFn):
    """Batches of ``(piece, [(article_id, offset), ...])`` → ``(article_id, mentions)`` for each article
    the piece is in, where the model found something. Each distinct piece of the run arrives once, on one
    worker, so syndicated text goes through the model once whatever the worker count.

    ``batched``: one list of those pairs per batch instead (for a spill file: one frame per batch, not
    one element and one pickle per pair; ~9 pairs an article)."""

    def __init__(self, config: NerConfig, progress_every_s: float = 15.0, batched: bool = False) -> None:
        self._config = config
        self._batched = batched
        self._tagger: EntityTagger | None = None
        self._tagged = Metrics.counter(NAMESPACE, "TagEntities.paragraphs_tagged")
        self._watch = Stopwatch("TagEntities")
        self._setup_us = 0  # model load; counted in the first bundle (no metrics context in setup())
        self._progress_every_s = progress_every_s  # NER is most of a run: show life, at most this often

    def setup(self) -> None:
        start = time.thread_time_ns()
        self._tagger = EntityTagger(self._config)  # no cache: each distinct piece of a run arrives once
        self._setup_us = (time.thread_time_ns() - start) // 1000
        self._done = 0  # distinct pieces tagged by this instance
        self._started = self._last_log = 0.0  # set by the first batch: the rate leaves out the wait before it

    def _log_progress(self, tagged: int) -> None:
        self._done += tagged
        now = time.monotonic()
        if now - self._last_log >= self._progress_every_s:
            self._last_log = now
            rate = self._done / max(now - self._started, 1e-9)
            _LOG.info("… %d distinct paragraphs through NER so far (this worker, %.0f/s)", self._done, rate)

    def process(self, batch: Sequence[tuple[str, Iterable[tuple[str, int]]]]) -> Iterator[Any]:
        assert self._tagger is not None, "setup() was not called"
        if self._setup_us:
            Metrics.counter(NAMESPACE, "TagEntities.setup_us").inc(self._setup_us)
            self._setup_us = 0
        if not self._done:
            self._started = self._last_log = time.monotonic()
        with self._watch:
            found = self._tagger.spans_many([text for text, _ in batch])
        self._tagged.inc(len(batch))
        self._log_progress(len(batch))
        pairs = [
            (article_id, mentions_at(text, spans, offset))
            for (text, refs), spans in zip(batch, found, strict=True)
            if spans
            for article_id, offset in refs
        ]
        if not self._batched:
            yield from pairs
        elif pairs:
            yield pairs


class AttachEntitiesFn(beam.DoFn):
    """``(article_id, {"article": [bytes], "mentions": [...]})`` → the article with its entities."""

    def __init__(self) -> None:
        self._tagged = Metrics.counter(NAMESPACE, "TagEntities.tagged")
        self._watch = Stopwatch("AttachEntities")  # the folding, apart from the model's time

    def process(self, element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Article]:
        _, groups = element
        for blob in groups["article"]:  # exactly one: ids are unique after DropSeen
            with self._watch:
                article = with_mentions(from_blob(blob), (m for ms in groups["mentions"] for m in ms))
            self._tagged.inc()
            yield article


def _mention_pairs(files: Iterable[SpillFile]) -> Iterator[tuple[str, Any]]:
    """The ``(article_id, mentions)`` pairs of spill files of batches of them (TagPiecesFn, batched)."""
    for batch in spilled_records(files):
        yield from batch


class MentionsFromSideInputFn(beam.DoFn):
    """Article → the article with its entities, its pieces' mentions looked up in a side input of spill
    files of lists of ``(article_id, mentions)`` (TagPiecesFn's batches; read and indexed once per
    bundle); an article in another
    language than the model's passes as it is (``entities_tagged`` false). One output for both, so no
    Flatten after it (the in-process runner would hold every article there before writing)."""

    def __init__(self, config: NerConfig) -> None:
        self._config = config
        self._tagged = Metrics.counter(NAMESPACE, "TagEntities.tagged")
        self._watch = Stopwatch("AttachEntities")  # the folding, apart from the model's time
        self._index = SideIndex()

    def finish_bundle(self) -> None:
        self._index.clear()

    def process(self, article: Article, mention_files: Iterable[SpillFile]) -> Iterator[Article]:
        if not wants_entities(article, self._config):
            yield article
            return
        with self._watch:
            found = self._index.of(mention_files, _mention_pairs).get(article.article_id, ())
            tagged = with_mentions(article, (m for ms in found for m in ms))
        self._tagged.inc()
        yield tagged


class TagEntities(beam.PTransform[Any, Any]):
    """Articles → the same articles with entities, the model run once per distinct piece of text.

    The pieces of all articles are grouped by their text, so each distinct piece goes to one worker
    once (a per-worker cache cannot do that across workers), and the mentions are joined back to their
    articles by id — or, with ``spill_dir``, reach the articles as a side input while the articles
    wait in spill files there (no article through a shuffle). Articles in another language than the
    model's pass with ``entities_tagged`` false.

    With ``spill_dir`` the input may be parts (a tuple of PCollections, each split where it is made) and
    more may happen in the same wait, so that each article is spilled and read back once for all of it:
    ``(parts, assignments)`` as input with ``assignments=True`` applies the near-duplicate assignments
    (``(article_id, Assignment)`` pairs, :class:`MarkNearDuplicates` with ``apply_later``) first, and
    ``topics`` tags topics next (neither needs the other, nor do the pieces)."""

    def __init__(
        self,
        config: NerConfig,
        spill_dir: str | None = None,
        assignments: bool = False,
        topics: TopicConfig | None = None,
    ) -> None:
        super().__init__()
        if (assignments or topics is not None) and spill_dir is None:
            raise ValueError("assignments and topics are applied in the wait for the mentions: it needs a spill_dir")
        self._config = config
        self._spill_dir = spill_dir
        self._assignments = assignments
        self._topics = topics

    def expand(self, inputs: Any) -> PCollection[Any]:
        articles, assignments = inputs if self._assignments else (inputs, None)
        parts: tuple[PCollection[Any], ...] = articles if isinstance(articles, tuple) else (articles,)
        keyed = self._spill_dir is None
        if keyed and len(parts) > 1:
            raise ValueError("a join (no spill_dir) takes the articles as one PCollection")
        splits = [
            part
            | ("Pieces" if n == 0 else f"Pieces-{n + 1}")
            >> beam.ParDo(PiecesForNerFn(self._config, keyed)).with_outputs(OTHER_LANGUAGE, KEYED, main="pieces")
            for n, part in enumerate(parts)
        ]
        pieces = (
            splits[0]["pieces"]
            if len(splits) == 1
            else tuple(split["pieces"] for split in splits) | "AllPieces" >> beam.Flatten()
        )
        mentions = (
            pieces
            | "GroupByText" >> beam.GroupByKey()
            | "BatchPieces" >> beam.BatchElements(min_batch_size=64, max_batch_size=1024)
            | "TagPieces" >> beam.ParDo(TagPiecesFn(self._config, batched=self._spill_dir is not None))
        )
        if self._spill_dir is not None:  # every article waits in spill files; other languages pass Attach
            # The mentions reach Attach as spill files too: as records, the in-process runner would keep
            # them, and a copy in its state, to the end of the run, and measure their deep size on the
            # way (py-spy, 5k articles: ~0.2 ms an article; 2k A/B: CPU outside the model 10.1 → 9.3 s).
            mention_files = spill_each([mentions], "Mentions", self._spill_dir)
            sides: dict[str, Any] = {"mention_files": pvalue.AsIter(mention_files)}
            steps: list[tuple[beam.DoFn, tuple[str, ...]]] = []
            if assignments is not None:
                steps.append((ApplyAssignmentsFn(), ("assignments",)))
                sides["assignments"] = pvalue.AsDict(assignments)
            if self._topics is not None:  # TopicStep never rejects: its rejects output stays empty
                steps.append((CoreStepFn("TagTopics", TopicStep, self._topics), ()))
            steps.append((MentionsFromSideInputFn(self._config), ("mention_files",)))
            fn = steps[0][0] if len(steps) == 1 else ChainFn(steps)
            source, attach = spill_before([split[KEYED] for split in splits], "Attach", self._spill_dir, fn)
            attached: PCollection[Any] = source | "Attach" >> beam.ParDo(attach, **sides)
            return attached
        [split] = splits
        tagged = (
            {"article": split[KEYED], "mentions": mentions}
            | "JoinMentions" >> beam.CoGroupByKey()
            | "Attach" >> beam.ParDo(AttachEntitiesFn())
        )
        result: PCollection[Any] = (tagged, split[OTHER_LANGUAGE]) | "AllTagged" >> beam.Flatten()
        return result


class TagArticles(beam.PTransform[Any, Any]):
    """Topics then entities; either can be skipped (rows then have empty tags). ``spill_dir``: see
    TagEntities. With ``assignments`` (entities on, a ``spill_dir``): the input is ``(article parts,
    near-duplicate assignments)``, applied with the topics in the entities' wait (see TagEntities)."""

    def __init__(
        self,
        topics: TopicConfig | None,
        entities: NerConfig | None,
        spill_dir: str | None = None,
        assignments: bool = False,
    ) -> None:
        super().__init__()
        if assignments and (entities is None or spill_dir is None):
            raise ValueError("assignments are applied in the entities' wait: it needs entities and a spill_dir")
        self._topics = topics
        self._entities = entities
        self._spill_dir = spill_dir
        self._assignments = assignments

    def expand(self, articles: Any) -> PCollection[Any]:
        if self._assignments:
            assert self._entities is not None
            tagged: PCollection[Any] = articles | "TagEntities" >> TagEntities(
                self._entities, self._spill_dir, True, self._topics
            )
            return tagged
        if self._topics is not None:
            articles, _ = articles | ApplyCore("TagTopics", TopicStep, self._topics)
        if self._entities is not None:
            articles = articles | "TagEntities" >> TagEntities(self._entities, self._spill_dir)
        result: PCollection[Any] = articles
        return result


class ProcessArticles(beam.PTransform[tuple[PCollection[Any], PCollection[Any]], Any]):
    """The processing every job shares: ``(raw_articles, existing_files)`` →
    ``(articles to write, rejects, skipped ids)`` — build, keep one copy per id, drop cross-article
    boilerplate and mark near-duplicates (against the committed dataset too), tag.

    ``boilerplate`` / ``near_dup`` default to the documented settings; None turns a step off.
    ``enrich`` runs on the articles that survive DropSeen (new or revised), before dedup and tagging.
    ``narrow_history`` (default): read of the committed history only what this run's articles can meet
    (their ids, paragraph keys and LSH band keys, as side inputs); the streaming pipeline turns it off,
    because the in-process runner does not run a windowed side input's consumers (every bundle waits on
    a watermark that never comes), and reads the whole history each window as before.
    ``lookup`` (default): decisions that concern few articles (ids to choose among, boilerplate keys,
    near-duplicate assignments) reach the articles as side inputs, so the articles themselves never go
    through a GroupByKey; the streaming pipeline turns it off for the same reason and joins.
    ``spill_dir`` (with ``lookup``): where the articles wait for those side inputs — files written by the
    step before, read back by the step after — instead of in the runner's memory (which keeps such a
    collection whole: the corpus, twice, at each wait). The batch jobs spill under their staging folder."""

    def __init__(
        self,
        build: BuildConfig,
        topics: TopicConfig | None,
        entities: NerConfig | None,
        boilerplate: BoilerplateConfig | None = BoilerplateConfig(),  # noqa: B008 - frozen, immutable
        near_dup: NearDupConfig | None = NearDupConfig(),  # noqa: B008 - frozen, immutable
        enrich: beam.PTransform[PCollection[Any], Any] | None = None,
        narrow_history: bool = True,
        lookup: bool = True,
        spill_dir: str | None = None,
    ) -> None:
        super().__init__()
        self._narrow = narrow_history
        self._lookup = lookup
        self._spill_dir = spill_dir if lookup else None
        # the builder signs bodies only for the steps that read signatures (whatever ``build`` said)
        self._build = replace(build, sign=boilerplate is not None or near_dup is not None)
        self._topics = topics
        self._entities = entities
        self._boilerplate = boilerplate
        self._near_dup = near_dup
        self._enrich = enrich

    def expand(
        self, inputs: tuple[PCollection[Any], PCollection[Any]]
    ) -> tuple[PCollection[Any], PCollection[Any], PCollection[Any]]:
        raws, existing_files = inputs
        articles, build_rejects = raws | "Build" >> BuildArticles(self._build)
        fresh, dup_rejects, skipped = (articles, existing_files) | "DropSeen" >> DropSeenArticles(
            self._narrow, self._lookup, self._spill_dir
        )
        if self._enrich is not None:  # e.g. ingest --fetch-articles: only articles new to the dataset
            fresh = (fresh | "Fresh" >> beam.Flatten() | "Enrich" >> self._enrich,)
        # Batch with spill files: the articles wait once for both the near-duplicate assignments and
        # their mentions (each wait is a spill file round trip of every article).
        together = self._spill_dir is not None and self._near_dup is not None and self._entities is not None
        deduped = (fresh, existing_files) | "CrossDedup" >> CrossArticleDedup(
            self._boilerplate, self._near_dup, self._narrow, self._lookup, self._spill_dir, together
        )
        tagged = deduped | "Tag" >> TagArticles(self._topics, self._entities, self._spill_dir, together)
        rejects = (build_rejects, dup_rejects) | "ProcessRejects" >> beam.Flatten()
        return tagged, rejects, skipped


class WritePartsFn(beam.DoFn):
    """Writes batches of rows (one article's, or one reject) into Parquet part files under the run's
    staging folder, one writer per bundle; emits a WrittenFile per file (files of a failed bundle are
    never emitted, so never committed)."""

    def __init__(self, staging_dir: str) -> None:
        self._staging_dir = staging_dir
        self._writer: PartFileWriter | None = None
        self._watch = Stopwatch("WriteParts")

    def setup(self) -> None:
        self._schemas = load_schemas()

    def start_bundle(self) -> None:
        self._writer = PartFileWriter(self._staging_dir, self._schemas)

    def process(self, rows: Sequence[TableRow | TableRows]) -> Iterator[WrittenFile]:
        assert self._writer is not None
        for row in rows:
            yield from self._writer.add(row)

    def finish_bundle(self) -> Iterator[WindowedValue]:
        assert self._writer is not None
        files = self._writer.flush()
        self._watch.add_ns(self._writer.write_ns)
        for written in files:
            yield in_global_window(written)


class ArticleRowsFn(beam.DoFn):
    """Article → its table rows (articles, paragraphs, entities; columns per table), as one element: a
    row per element cost the runner ~1.6 µs a row on its way to the writer and the counter (measured
    in a bare pipeline), ~0.4 CPU s for the ~264k rows of a 20k-article skip run, more with ~450k
    entity rows."""

    def __init__(self, run_id: str, partition_by: Sequence[str]) -> None:
        self._run_id = run_id
        self._partition_by = tuple(partition_by)
        self._watch = Stopwatch("ArticleRows")

    def process(self, article: Article) -> Iterator[list[TableRows]]:
        with self._watch:
            rows = article_rows(article, self._run_id, self._partition_by)
        yield rows


def _rows_per_table(rows: Sequence[TableRow | TableRows]) -> Iterable[tuple[str, int]]:
    counts: Counter[str] = Counter()
    for batch in rows:
        counts[f"rows_{batch.table}"] += batch.count
    return counts.items()


def _counted_rows(batches: PCollection[Any], name: str) -> PCollection[Any]:
    """``("rows_<table>", count)`` pairs of a branch of row batches, summed in the step that makes them
    (lifted), as :func:`_counted` counts records."""
    pairs = batches | f"{name}Stat" >> beam.FlatMap(_rows_per_table)
    counted: PCollection[Any] = pairs | f"Count{name}" >> beam.CombinePerKey(sum)
    return counted


def _counted(pcoll: PCollection[Any], name: str, stat_key: Callable[[Any], str]) -> PCollection[Any]:
    """``(stat key, count)`` pairs of one branch, counted in the step that makes its elements (lifted)."""
    keys = pcoll | f"{name}Stat" >> beam.Map(stat_key)
    counted: PCollection[Any] = keys | f"Count{name}" >> combiners.Count.PerElement()
    return counted


def _finalize(_: Any, staging_dir: str, files: list[WrittenFile], counts: list[tuple[str, int]]) -> int:
    # One (key, count) per key and branch; each key has one branch, so summing equals taking it. A
    # counter is a sum all the same: were a runner to deliver one key's count in parts, a dict() of
    # the pairs would keep only the last part and under-count without a word.
    stats: Counter[str] = Counter()
    for key, count in counts:
        stats[key] += count
    write_listing(staging_dir, files, stats)
    return len(files)


class WriteDataset(beam.PTransform[tuple[PCollection[Any], ...], Any]):
    """``(articles, rejects, skipped, records_in)`` → staged part files + ``_files.json`` listing.
    ``records_in`` is a PCollection or a tuple of them (each counted where it is made).

    The listing holds the files of successful bundles and the run's counters (records in, rows per
    table, rejects per reason, skipped ids), all computed from the data itself: the row counters
    from the rows sent to the writers, independently of the files, so that the commit can prove every
    row reached a file.

    Article rows and reject rows have a writer each, in the same fused step as the rows they write,
    and each branch counts its own rows there (the count is a combine lifted into that step): no
    row crosses a shuffle or the runner between being made and being written.
    """

    def __init__(self, staging_dir: str, run_id: str, run_date: Any, partition_by: Sequence[str]) -> None:
        super().__init__()
        self._staging_dir = staging_dir
        self._run_id = run_id
        self._run_date = run_date
        self._partition_by = tuple(partition_by)

    def expand(self, inputs: tuple[PCollection[Any], ...]) -> PCollection[Any]:
        articles, rejects, skipped, records_in = inputs
        run_id, run_date, partition_by = self._run_id, self._run_date, self._partition_by
        staging_dir = self._staging_dir
        article_rows = articles | "ArticleRows" >> beam.ParDo(ArticleRowsFn(run_id, partition_by))
        reject_rows = rejects | "RejectRows" >> beam.Map(lambda r: (reject_row(r, run_id, run_date),))
        files = (
            article_rows | "WriteArticleParts" >> beam.ParDo(WritePartsFn(staging_dir)),
            reject_rows | "WriteRejectParts" >> beam.ParDo(WritePartsFn(staging_dir)),
        ) | "AllFiles" >> beam.Flatten()
        counts = (
            _counted_rows(article_rows, "ArticleRows"),
            _counted_rows(reject_rows, "RejectRows"),
            _counted(rejects, "Rejects", lambda r: f"rejected.{r.reason}"),
            _counted(skipped, "Skipped", lambda _: "skipped_existing"),
            *(
                _counted(part, "Inputs" if n == 0 else f"Inputs{n + 1}", lambda _: "records_in")
                for n, part in enumerate(records_in if isinstance(records_in, tuple) else (records_in,))
            ),
        ) | "AllCounts" >> beam.Flatten()
        listing: PCollection[Any] = (
            articles.pipeline
            | "FinalizeTrigger" >> beam.Create([None])
            | "WriteListing"
            >> beam.Map(
                _finalize,
                staging_dir=staging_dir,
                files=beam.pvalue.AsList(files),
                counts=beam.pvalue.AsList(counts),
            )
        )
        return listing


class ArticlesToDataset(beam.PTransform[tuple[PCollection[Any], PCollection[Any]], Any]):
    """What every job does once it has records: ``(raw articles, rejects so far)`` → ProcessArticles →
    WriteDataset into the run's staging folder, with the run's accounting. ``existing`` lists the
    committed articles files (the history DropSeen and cross-article dedup join against)."""

    def __init__(
        self,
        options: RunOptions,
        run_id: str,
        started: datetime,
        staging_dir: str,
        existing: Sequence[str],
        enrich: beam.PTransform[PCollection[Any], Any] | None = None,
    ) -> None:
        super().__init__()
        self._options = options
        self._run_id = run_id
        self._started = started
        self._staging_dir = staging_dir
        self._existing = list(existing)
        self._enrich = enrich

    def expand(self, inputs: tuple[PCollection[Any], PCollection[Any]]) -> PCollection[Any]:
        raws, input_rejects = inputs
        o = self._options
        existing_files = raws.pipeline | "ExistingFiles" >> beam.Create(self._existing)
        articles, process_rejects, skipped = (raws, existing_files) | "Process" >> ProcessArticles(
            BuildConfig(run_started=self._started, clean=o.clean),
            o.topics,
            o.ner,
            boilerplate=o.boilerplate,
            near_dup=o.near_dup,
            enrich=self._enrich,
            narrow_history=bool(self._existing),  # nothing committed yet: no history to narrow
            spill_dir=f"{self._staging_dir}/{SPILL_FOLDER}",
        )
        rejects = (input_rejects, process_rejects) | "AllRejects" >> beam.Flatten()
        records_in = (raws, input_rejects)  # counted apart: a Flatten would keep every raw record in the runner
        listing: PCollection[Any] = (articles, rejects, skipped, records_in) | "Write" >> WriteDataset(
            self._staging_dir, self._run_id, self._started.date(), o.partition_by
        )
        return listing
