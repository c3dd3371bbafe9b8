"""Cross-article dedup as Beam transforms over feedflow.core.boilerplate and feedflow.core.neardup.

DropBoilerplate     (articles, existing_files) → articles with source-wide repeated paragraphs removed
MarkNearDuplicates  (articles, existing_files) → articles with a MinHash signature, duplicate_of, similarity
CrossArticleDedup   both, boilerplate first (near-duplicate signatures are taken of the cleaned body)

Every decision is a GroupByKey or a combine over the data of this run and the committed dataset (read
as PCollections from its files, one file or partition folder per element): no worker holds the history,
no process keeps a cache, and the result does not depend on worker count or input order.

Batch runs (``lookup``, the default) keep the articles themselves out of every GroupByKey: what the
articles need back — their boilerplate keys, their near-duplicate assignment — is small and reaches
them as a side input; evidence is one record per article, and only keys that enough articles hold are
expanded for the story count (:class:`feedflow.core.boilerplate.KeyCounter`); LSH buckets come from
per-bundle band tables merged in one combine (:class:`feedflow.core.neardup.BandTable`: 4 bytes per
band per article of the run, plus its sort order); the candidate pairs are verified against the
signatures of the paired nodes only, once each, as a side input. Where the articles wait for a side
input they wait in spill files (``spill_dir``, see :func:`feedflow.transforms.base.spill_before`), not
in the runner's memory; so do the signatures, while grouping and the band tables see each record
without its signature. Streaming runs join instead: the in-process runner does not run the consumers
of a windowed side input.

Of the committed dataset only what this run's articles can meet is read ("narrow history"): the union of
their paragraph keys and of their LSH band keys goes to the readers as a side input, which drop every
other committed row before it becomes a Python object. A key no new article holds decides nothing here,
and a committed representative that shares no band with a new article can never be paired with one
(committed pairs are never compared), so the result is the same and the cost follows the run's size,
not the dataset's (README, "Deduplication").
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection

from feedflow.core.boilerplate import (
    BoilerplateConfig,
    Evidence,
    KeyCounter,
    SourceKey,
    article_evidence,
    count_stories,
    items_of,
    mark,
    read_committed_evidence,
    smallest,
)
from feedflow.core.neardup import (
    Assignment,
    BandTable,
    Edge,
    MinHasher,
    NearDupConfig,
    Node,
    SigRecord,
    band_keys,
    bucket_pairs,
    cluster,
    cluster_size_bucket,
    lsh_bands,
    order_key,
    read_committed_signatures,
    sign,
    signature_digest,
    verify,
)
from feedflow.core.spill import SpillFile
from feedflow.model import Article
from feedflow.transforms.base import (
    NAMESPACE,
    AccumulateFn,
    SideIndex,
    Stopwatch,
    UnionFn,
    spill_before,
    spill_each,
    spilled_records,
)
from feedflow.transforms.pickling import from_blob, to_blob

# ------------------------------------------------------------------------------------ boilerplate


class SmallestEvidenceFn(beam.CombineFn):
    """Per (source, key): the evidence of the ``keep`` smallest article ids (order- and grouping-free)."""

    def __init__(self, keep: int) -> None:
        self._keep = keep

    def create_accumulator(self) -> list[Evidence]:
        return []

    def add_input(self, accumulator: list[Evidence], element: Evidence) -> list[Evidence]:
        accumulator.append(element)
        if len(accumulator) > 4 * self._keep:
            accumulator = smallest([accumulator], self._keep)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[list[Evidence]]) -> list[Evidence]:
        return smallest(accumulators, self._keep)

    def extract_output(self, accumulator: list[Evidence]) -> list[Evidence]:
        return smallest([accumulator], self._keep)


def _boilerplate_hits(
    element: tuple[SourceKey, dict[str, Iterable[Any]]], config: BoilerplateConfig
) -> Iterator[tuple[str, int]]:
    """(article_id, key) for each new article holding a key found in ≥ min_articles distinct stories."""
    (_, key), groups = element
    new = list(groups["new"])
    if not new:
        return
    items = smallest([new, *groups["old"]], config.keep)
    if count_stories(items, config.min_articles) >= config.min_articles:
        for article_id in sorted({article_id for article_id, _ in new}):
            yield article_id, key


EVIDENCE = "evidence"


class EvidenceFn(beam.DoFn):
    """Article → itself, signed (main output: the first ``SKETCH_SIZE`` values of its signature are its
    story sketch), and its evidence as one record (``evidence``: see
    :func:`feedflow.core.boilerplate.article_evidence`) when it has any. The article builder signs
    bodies already; only an article whose body was replaced since (``--fetch-articles``) is signed here."""

    def __init__(self, config: BoilerplateConfig) -> None:
        self._config = config
        self._hasher: MinHasher | None = None
        self._watch = Stopwatch("Evidence")

    def setup(self) -> None:
        self._hasher = MinHasher()

    def process(self, article: Article) -> Iterator[Any]:
        assert self._hasher is not None, "setup() was not called"
        with self._watch:
            signed = sign(article, self._hasher)
            record = article_evidence(signed, self._config)
        yield signed
        if record[2]:
            yield pvalue.TaggedOutput(EVIDENCE, record)


class MarkBoilerplateFn(beam.DoFn):
    """Sets every paragraph's ``boilerplate`` flag; counts removed paragraphs and changed articles.

    Elements are either ``(article_id, {"article": [bytes], "keys": [key, ...]})`` (the join) or, with
    ``lookup``, articles with their boilerplate keys as a side input ``{article_id: (key, ...)}``."""

    def __init__(self, config: BoilerplateConfig) -> None:
        self._config = config
        self._removed = Metrics.counter(NAMESPACE, "Boilerplate.paragraphs_removed")
        self._articles = Metrics.counter(NAMESPACE, "Boilerplate.articles_changed")
        self._kept = Metrics.counter(NAMESPACE, "Boilerplate.kept_whole_article")
        self._watch = Stopwatch("MarkBoilerplate")

    def _mark(self, article: Article, keys: Collection[int]) -> Article:
        with self._watch:
            marked = mark(article, keys, self._config)
        removed = marked.boilerplate_paragraphs
        if removed:
            self._removed.inc(removed)
            self._articles.inc()
        elif keys:
            self._kept.inc()
        return marked

    def process(self, element: Any, hits: Mapping[str, tuple[int, ...]] | None = None) -> Iterator[Article]:
        if hits is not None:
            yield self._mark(element, hits.get(element.article_id, ()))
            return
        _, groups = element
        keys = set(groups["keys"])
        for article in map(from_blob, groups["article"]):
            yield self._mark(article, keys)


NEW_FILE = "new_file"


def _records_of_file(spilled: SpillFile) -> Iterator[Any]:
    return spilled_records((spilled,))


def _new_from_file(element: tuple[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(NEW_FILE, spill file)`` → ``("new", evidence)`` for each record in it; other elements as they are."""
    side, value = element
    if side == NEW_FILE:
        for record in spilled_records((value,)):
            yield "new", record
    else:
        yield element


def _keys_per_article(element: tuple[str, Iterable[int]]) -> tuple[str, tuple[int, ...]]:
    return element[0], tuple(sorted(set(element[1])))


#: Articles as one PCollection, or as parts (batch DropSeen keeps the articles it passed straight on
#: apart from those it chose among copies, so that the next step runs fused with each: one
#: materialisation of every article fewer).
Articles = PCollection[Any] | tuple[PCollection[Any], ...]


def _parts(articles: Articles) -> tuple[PCollection[Any], ...]:
    return articles if isinstance(articles, tuple) else (articles,)


def _each(articles: Articles, label: str, make: Any) -> list[Any]:
    """``make()`` applied to each part (labels ``label``, ``label-2``, …): fused with what made it."""
    return [part | (label if n == 0 else f"{label}-{n + 1}") >> make() for n, part in enumerate(_parts(articles))]


def _flatten(pcolls: list[PCollection[Any]], label: str) -> PCollection[Any]:
    return pcolls[0] if len(pcolls) == 1 else tuple(pcolls) | label >> beam.Flatten()


def _folder_of(path: str) -> tuple[str, str]:
    return str(Path(path).parent), path


class _CrossArticleStep(beam.PTransform[tuple[Articles, PCollection[Any]], Any]):
    """What DropBoilerplate and MarkNearDuplicates are built with: the step's config, and how the run
    meets history and waits (``narrow_history``, ``lookup``, ``spill_dir``: see ProcessArticles)."""

    def __init__(
        self, config: Any, narrow_history: bool = True, lookup: bool = True, spill_dir: str | None = None
    ) -> None:
        super().__init__()
        self._config = config
        self._narrow = narrow_history
        self._lookup = lookup
        self._spill_dir = spill_dir


class DropBoilerplate(_CrossArticleStep):
    """``(articles, existing_files)`` → articles whose paragraphs carry ``boilerplate`` flags, with the
    boilerplate removed from their body. Counting is a CombinePerKey over (source, key) of the evidence
    of new articles and of the committed dataset (read per partition folder), then a CoGroupByKey; copies
    of one story count once (see feedflow.core.boilerplate). With ``lookup`` the hits reach the articles
    as a side input, the articles waiting in spill files under ``spill_dir`` when one is given."""

    _config: BoilerplateConfig

    def expand(self, inputs: tuple[Articles, PCollection[Any]]) -> PCollection[Any]:
        parts, existing_files = inputs
        config = self._config
        signed = _each(
            parts, "NewEvidence", lambda: beam.ParDo(EvidenceFn(config)).with_outputs(EVIDENCE, main="articles")
        )
        spill_dir = self._spill_dir if self._lookup else None
        evidence: Callable[[str], PCollection[Any]]
        if spill_dir is not None:
            # The evidence (a record per article) waits in spill files as the articles do: the runner held
            # it, and a copy for each of its three consumers (+93 MiB of RSS in one stage at 50,000).
            evidence_files = spill_each([out[EVIDENCE] for out in signed], "Evidence", spill_dir)

            def evidence(label: str) -> PCollection[Any]:  # read where it is used: fused with its consumer
                records: PCollection[Any] = evidence_files | label >> beam.FlatMap(_records_of_file)
                return records

        else:
            per_article = _flatten([out[EVIDENCE] for out in signed], "AllEvidence")

            def evidence(label: str) -> PCollection[Any]:
                return per_article

        folders = (
            existing_files | "KeyFilesByFolder" >> beam.Map(_folder_of) | "GroupFilesByFolder" >> beam.GroupByKey()
        )
        if self._narrow:  # only the keys this run's articles hold can decide anything
            wanted = (
                evidence("ReadEvidenceForKeys")
                | "NewKeys" >> beam.Map(lambda record: record[2])
                | "AllNewKeys" >> UnionFn.view(int64=True)
            )
            evidence_read = folders | "ReadCommittedEvidence" >> beam.FlatMap(
                lambda kv, keys: read_committed_evidence(sorted(kv[1]), config, keys.values), keys=wanted
            )
        else:
            evidence_read = folders | "ReadCommittedEvidence" >> beam.FlatMap(
                lambda kv: read_committed_evidence(sorted(kv[1]), config)
            )
        committed = evidence_read | "KeepSmallest" >> beam.CombinePerKey(SmallestEvidenceFn(config.keep))
        if self._lookup:  # most keys are in one article: count keys first, then shuffle only those that may count
            old = committed | "TagOld" >> beam.Map(lambda kv: ("old", kv))
            if spill_dir is not None:  # the files meet the committed evidence, then are read (no records flattened)
                counted = (
                    (evidence_files | "TagNewFiles" >> beam.Map(lambda spilled: (NEW_FILE, spilled)), old)
                    | "AllKeys" >> beam.Flatten()
                    | "ReadNewEvidence" >> beam.FlatMap(_new_from_file)
                )
            else:
                counted = (evidence("") | "TagNew" >> beam.Map(lambda record: ("new", record)), old) | "AllKeys" >> (
                    beam.Flatten()
                )
            worth = (
                counted
                | "KeysWorthCounting"
                >> beam.CombineGlobally(AccumulateFn(KeyCounter, config.min_articles)).as_singleton_view()
            )
            new_evidence = evidence("ReadEvidenceForItems") | "NewEvidenceItems" >> beam.FlatMap(items_of, worth=worth)
        else:
            new_evidence = evidence("") | "NewEvidenceItems" >> beam.FlatMap(items_of)
        hits = (
            {"new": new_evidence, "old": committed}
            | "JoinEvidence" >> beam.CoGroupByKey()
            | "CountStories" >> beam.FlatMap(_boilerplate_hits, config)
        )
        marked: PCollection[Any]
        if self._lookup:  # the hits are few (boilerplate paragraphs): a side input, no article shuffled
            hit_keys = hits | "HitsPerArticle" >> beam.GroupByKey() | "KeysPerArticle" >> beam.Map(_keys_per_article)
            source, mark_fn = spill_before(
                [out["articles"] for out in signed], "MarkBoilerplate", self._spill_dir, MarkBoilerplateFn(config)
            )
            marked = source | "MarkBoilerplate" >> beam.ParDo(mark_fn, hits=pvalue.AsDict(hit_keys))
        else:
            articles = _flatten([out["articles"] for out in signed], "AllSigned")
            marked = (
                {"article": articles | "KeyArticles" >> beam.Map(lambda a: (a.article_id, to_blob(a))), "keys": hits}
                | "JoinHits" >> beam.CoGroupByKey()
                | "MarkBoilerplate" >> beam.ParDo(MarkBoilerplateFn(config))
            )
        return marked


# ---------------------------------------------------------------------------------- near-duplicates

MEMBERS = "members"


class SignArticlesFn(beam.DoFn):
    """Article → the same article with its body's MinHash signature (one MinHasher per worker): kept
    as the article builder signed it when boilerplate removal left the body as it was, else computed."""

    def __init__(self) -> None:
        self._hasher: MinHasher | None = None
        self._watch = Stopwatch("Sign")

    def setup(self) -> None:
        self._hasher = MinHasher()

    def process(self, article: Article) -> Iterator[Article]:
        assert self._hasher is not None, "setup() was not called"
        with self._watch:
            signed = sign(article, self._hasher)
        yield signed


def _sig_record(article: Article) -> Iterator[SigRecord]:
    if article.minhash:
        order = order_key(article.article_id, article.published_at, new=True)
        yield SigRecord(article.article_id, order, article.minhash)


class SplitIdenticalFn(beam.DoFn):
    """Articles with identical signatures, as ``(SigRecord, band keys)`` bytes: the earliest goes on to
    LSH (main output); the others are tagged ``members`` as (head article_id, member article_id) and
    later follow the head's cluster."""

    def __init__(self) -> None:
        self._identical = Metrics.counter(NAMESPACE, "NearDup.identical")

    def process(self, element: tuple[str, Iterable[bytes]]) -> Iterator[Any]:
        _, blobs = element
        head, *others = sorted(map(from_blob, blobs), key=lambda banded: banded[0].order)
        yield head
        for other in others:
            self._identical.inc()
            yield pvalue.TaggedOutput(MEMBERS, (head[0].article_id, other[0].article_id))


def _with_bands(record: SigRecord, bands: int, rows: int) -> tuple[SigRecord, list[int]]:
    return record, band_keys(record.minhash, bands, rows)


def _by_digest(record: SigRecord, bands: int, rows: int, light: bool) -> tuple[str, bytes]:
    """``(signature digest, (record, band keys) as bytes)``; ``light``: the record without its signature
    (what grouping and the band tables need; the signature itself waits in a spill file)."""
    kept = replace(record, minhash=()) if light else record
    return signature_digest(record.minhash), to_blob((kept, band_keys(record.minhash, bands, rows)))


class KeyIfPairedFn(beam.DoFn):
    """SigRecord (``banded``: ``(SigRecord, band keys)``) → ``(node, record bytes)`` when the node is in
    a candidate pair: side input ``paired``, the spill files of ``(node, None)`` pairs (indexed once
    per bundle, released at its end)."""

    def __init__(self, banded: bool = False) -> None:
        self._banded = banded
        self._index = SideIndex()

    def finish_bundle(self) -> None:
        self._index.clear()

    def process(self, element: Any, paired: Iterable[SpillFile]) -> Iterator[tuple[Node, bytes]]:
        yield from _keyed_if_paired(element[0] if self._banded else element, self._index.of(paired, spilled_records))


def _keyed_if_paired(record: SigRecord, paired: Collection[Node]) -> Iterator[tuple[Node, bytes]]:
    if record.node in paired:
        yield record.node, to_blob(record)


def _half_join(element: tuple[Node, dict[str, Iterable[Any]]]) -> Iterator[tuple[Node, tuple[bytes, ...]]]:
    """Pairs keyed by their later node + that node's signatures → (earlier node, later signatures).

    Signatures cross these joins as pickled bytes (:func:`feedflow.transforms.pickling.to_blob`): the
    in-process runner holds a group's values decoded, and a SigRecord's 128 Python ints take ~5 KB
    there against ~1.2 KB as bytes (77,094 candidate pairs at 50,000 articles)."""
    _, groups = element
    later = tuple(groups["sig"])
    if later:
        for earlier in sorted(set(groups["pair"])):
            yield earlier, later


class VerifyPairFn(beam.DoFn):
    """A candidate pair ``(later node, earlier node)`` → its edge when verified, with the paired nodes'
    signatures as a side input of ``(node, signature bytes)`` (a node can have several: a committed
    id's versions). The side input is indexed once per bundle and set of values."""

    def __init__(self, threshold: float, spilled: bool = False) -> None:
        self._threshold = threshold
        self._spilled = spilled
        self._candidates = Metrics.counter(NAMESPACE, "NearDup.candidate_pairs")
        self._verified = Metrics.counter(NAMESPACE, "NearDup.verified_pairs")
        self._watch = Stopwatch("Verify")
        self._index = SideIndex()

    def finish_bundle(self) -> None:
        self._index.clear()

    def process(self, pair: tuple[Node, Node], signatures: Iterable[Any]) -> Iterator[Edge]:
        """``signatures``: the ``(node, signature bytes)`` pairs, or (``spilled``) the spill files
        that hold them."""
        with self._watch:
            by_node = self._index.of(signatures, spilled_records if self._spilled else None)
            later, earlier = pair
            self._candidates.inc()
            edge = verify(
                map(from_blob, by_node[later]), [from_blob(blob) for blob in by_node[earlier]], self._threshold
            )
        if edge is not None:
            self._verified.inc()
            yield edge


class VerifyPairsFn(beam.DoFn):
    """(earlier node, its signatures, the later nodes' signatures) → verified edges."""

    def __init__(self, threshold: float) -> None:
        self._threshold = threshold
        self._candidates = Metrics.counter(NAMESPACE, "NearDup.candidate_pairs")
        self._verified = Metrics.counter(NAMESPACE, "NearDup.verified_pairs")
        self._watch = Stopwatch("Verify")

    def process(self, element: tuple[Node, dict[str, Iterable[Any]]]) -> Iterator[Edge]:
        _, groups = element
        earlier = [from_blob(blob) for blob in groups["sig"]]
        for later in groups["half"]:
            self._candidates.inc()
            with self._watch:
                edge = verify(map(from_blob, later), earlier, self._threshold)
            if edge is not None:
                self._verified.inc()
                yield edge


def _cluster_all(element: tuple[int, Iterable[Edge]]) -> list[Assignment]:
    return cluster(element[1])


def _follow_heads(element: tuple[str, dict[str, Iterable[Any]]]) -> Iterator[Assignment]:
    """Members of an identical group take the head's representative (same signature, so the same
    verified similarity), or the head itself (similarity 1.0) when the head is a representative."""
    head, groups = element
    assigned = list(groups["head"])
    for member in sorted(set(groups["members"])):
        if assigned:
            yield Assignment(member, assigned[0].duplicate_of, assigned[0].similarity)
        else:
            yield Assignment(member, head, 1.0)


class ApplyAssignmentsFn(beam.DoFn):
    """Sets ``duplicate_of`` and ``similarity`` of assigned articles. Elements are either
    ``(article_id, {"article": [bytes], "assignment": [Assignment]})`` (the join) or, with ``lookup``,
    articles with the assignments as a side input ``{article_id: Assignment}``."""

    def __init__(self) -> None:
        self._duplicates = Metrics.counter(NAMESPACE, "NearDup.duplicates")
        self._watch = Stopwatch("ApplyAssignments")

    def _apply(self, article: Article, assigned: Assignment | None) -> Article:
        if assigned is None:
            return article
        self._duplicates.inc()
        with self._watch:
            return replace(article, duplicate_of=assigned.duplicate_of, similarity=assigned.similarity)

    def process(self, element: Any, assignments: Mapping[str, Assignment] | None = None) -> Iterator[Article]:
        if assignments is not None:
            yield self._apply(element, assignments.get(element.article_id))
            return
        _, groups = element
        assigned: list[Assignment] = list(groups["assignment"])
        for article in map(from_blob, groups["article"]):
            yield self._apply(article, assigned[0] if assigned else None)


class CountClustersFn(beam.DoFn):
    """Counters ``NearDup.clusters`` and ``NearDup.cluster_size.<2|3-5|6-20|21+>`` (representative
    included; a committed representative counts once per run that adds to it)."""

    def __init__(self) -> None:
        self._clusters = Metrics.counter(NAMESPACE, "NearDup.clusters")

    def process(self, element: tuple[str, int]) -> Iterator[None]:
        self._clusters.inc()
        Metrics.counter(NAMESPACE, f"NearDup.cluster_size.{cluster_size_bucket(element[1] + 1)}").inc()
        yield from ()


class MarkNearDuplicates(_CrossArticleStep):
    """``(articles, existing_files)`` → articles with ``minhash``, ``duplicate_of`` and ``similarity``.

    Identical signatures are grouped first (GroupByKey on the signature digest) so that many exact
    copies cost one LSH entry; the group heads and the committed representatives then go through
    banded LSH (batch: per-bundle band tables merged in one combine; streaming: GroupByKey on band
    keys), candidate pairs are verified (batch: against a side input of the paired nodes' signatures;
    streaming: after two joins on the article node), and one greedy clustering step orders the verified
    edges (edges only: no text, no signature). With ``lookup`` the assignments reach the articles as a
    side input, the articles waiting in spill files under ``spill_dir`` when one is given; without it
    they are joined.

    ``apply_later`` (with ``lookup`` and ``spill_dir``): the step does not apply the assignments; it
    gives ``(signed article parts, (article_id, Assignment) pairs)`` so that the caller applies them
    where the articles wait anyway (the entities' wait: :class:`ApplyAssignmentsFn` chained before the
    mentions' step), one spill round trip per article fewer.
    """

    _config: NearDupConfig

    def __init__(
        self,
        config: NearDupConfig,
        narrow_history: bool = True,
        lookup: bool = True,
        spill_dir: str | None = None,
        apply_later: bool = False,
    ) -> None:
        super().__init__(config, narrow_history, lookup, spill_dir)
        if apply_later and not (lookup and spill_dir):
            raise ValueError("apply_later needs lookup and a spill_dir: the articles wait for the assignments")
        self._apply_later = apply_later

    def expand(self, inputs: tuple[Articles, PCollection[Any]]) -> Any:
        parts, existing_files = inputs
        config = self._config
        bands, rows = lsh_bands(config.threshold)
        signed_parts = _each(parts, "Sign", lambda: beam.ParDo(SignArticlesFn()))
        # Records are taken of each part where it is made: the runner materialises a Flatten's input.
        records_parts = _each(tuple(signed_parts), "SigRecords", lambda: beam.FlatMap(_sig_record))
        # Batch with spill files: the signatures wait on disk for the candidate pairs, and only a light
        # copy of each record (id, order, band keys: no signature) goes through grouping and band tables.
        spill_dir = self._spill_dir if self._lookup else None
        light = spill_dir is not None
        keyed_parts = _each(tuple(records_parts), "KeyByDigest", lambda: beam.Map(_by_digest, bands, rows, light))
        split = (
            _flatten(keyed_parts, "AllByDigest")
            | "GroupIdentical" >> beam.GroupByKey()
            | "SplitIdentical" >> beam.ParDo(SplitIdenticalFn()).with_outputs(MEMBERS, main="heads")
        )
        new_banded = split["heads"]
        if self._narrow:  # only representatives sharing a band key with a new article can pair with one
            wanted = (
                new_banded
                | "NewBandKeys" >> beam.Map(lambda banded: banded[1])
                | "AllNewBandKeys" >> UnionFn.view(int64=True)
            )
            signatures = existing_files | "ReadCommittedSignatures" >> beam.FlatMap(
                lambda path, keys: read_committed_signatures(path, keys.values, bands, rows), keys=wanted
            )
        else:
            signatures = existing_files | "ReadCommittedSignatures" >> beam.FlatMap(read_committed_signatures)
        committed = signatures | "CommittedBands" >> beam.Map(_with_bands, bands, rows)
        banded = (new_banded, committed) | "AllSignatures" >> beam.Flatten()
        edges: PCollection[Any]
        if self._lookup:  # batch: all buckets from one sort of per-bundle tables (few elements)
            pairs = (
                banded
                # without defaults: Beam would hand the result to its default-injecting step as a side
                # input, which the runner keeps to the end (every candidate pair: 5.7 MiB at 50,000)
                | "BandTables" >> beam.CombineGlobally(AccumulateFn(BandTable, config.max_bucket)).without_defaults()
                | "TablePairs" >> beam.FlatMap(lambda found: found)
            )
            # The signatures of the paired nodes only, once each, as a side input (not every signature
            # of the run through two joins, and a copy of one per pair it is in).
            paired = pairs | "PairedNodes" >> beam.FlatMap(lambda pair: [(pair[0], None), (pair[1], None)])
            if spill_dir is not None:  # new signatures from their spill files, committed ones from what was read
                # Side inputs as spill files (here and for Verify): the runner keeps a side input's data, and
                # a copy in its state, until the run ends (paired nodes: 8 MiB encoded at 50,000 articles,
                # once per consumer; their signatures: 25 MiB).
                paired_files = pvalue.AsIter(spill_each([paired], "PairedNodes", spill_dir))
                source, key_fn = spill_before(records_parts, "PairedSignatures", spill_dir, KeyIfPairedFn())
                found = (
                    source | "PairedSignatures" >> beam.ParDo(key_fn, paired=paired_files),
                    committed | "PairedCommitted" >> beam.ParDo(KeyIfPairedFn(banded=True), paired=paired_files),
                )
                candidates = spill_each(found, "FoundPaired", spill_dir)
            else:
                records = banded | "Records" >> beam.Map(lambda banded: banded[0])
                candidates = records | "PairedSignatures" >> beam.FlatMap(
                    _keyed_if_paired, paired=pvalue.AsDict(paired)
                )
            verify_fn = VerifyPairFn(config.threshold, spilled=light)
            edges = pairs | "Verify" >> beam.ParDo(verify_fn, pvalue.AsIter(candidates))
        else:  # streaming: per window, one element per band key (a global combine needs defaults per window)
            records = banded | "Records" >> beam.Map(lambda banded: banded[0])
            by_node = records | "KeyByNode" >> beam.Map(lambda r: (r.node, to_blob(r)))
            pairs = (
                banded
                | "BandKeys" >> beam.FlatMap(lambda banded: [(key, banded[0].order) for key in banded[1]])
                | "GroupBands" >> beam.GroupByKey()
                | "BucketPairs" >> beam.FlatMap(lambda kv: bucket_pairs(kv[1], config.max_bucket))
                | "DistinctPairs" >> beam.Distinct()
            )
            half = (
                {"sig": by_node, "pair": pairs}
                | "JoinLater" >> beam.CoGroupByKey()
                | "LaterSignatures" >> beam.FlatMap(_half_join)
            )
            edges = (
                {"sig": by_node, "half": half}
                | "JoinEarlier" >> beam.CoGroupByKey()
                | "Verify" >> beam.ParDo(VerifyPairsFn(config.threshold))
            )
        heads = (
            edges
            | "OneClusteringKey" >> beam.Map(lambda e: (0, e))
            | "GatherEdges" >> beam.GroupByKey()
            | "Cluster" >> beam.FlatMap(_cluster_all)
        )
        members = (
            {
                "head": heads | "KeyHeads" >> beam.Map(lambda a: (a.article_id, a)),
                "members": split[MEMBERS],
            }
            | "JoinMembers" >> beam.CoGroupByKey()
            | "FollowHeads" >> beam.FlatMap(_follow_heads)
        )
        assignments = (heads, members) | "AllAssignments" >> beam.Flatten()
        _ = (
            assignments
            | "ByRepresentative" >> beam.Map(lambda a: (a.duplicate_of, 1))
            | "ClusterSizes" >> beam.CombinePerKey(sum)
            | "CountClusters" >> beam.ParDo(CountClustersFn())
        )
        keyed = assignments | "KeyAssignments" >> beam.Map(lambda a: (a.article_id, a))
        if self._apply_later:
            return tuple(signed_parts), keyed
        applied: PCollection[Any]
        if self._lookup:  # one assignment per near-duplicate (a few per cent): a side input
            source, apply_fn = spill_before(signed_parts, "ApplyAssignments", self._spill_dir, ApplyAssignmentsFn())
            applied = source | "ApplyAssignments" >> beam.ParDo(apply_fn, assignments=pvalue.AsDict(keyed))
        else:
            signed = _flatten(signed_parts, "AllSigned")
            applied = (
                {"article": signed | "KeySigned" >> beam.Map(lambda a: (a.article_id, to_blob(a))), "assignment": keyed}
                | "JoinAssignments" >> beam.CoGroupByKey()
                | "ApplyAssignments" >> beam.ParDo(ApplyAssignmentsFn())
            )
        return applied


class CrossArticleDedup(beam.PTransform[tuple[Articles, PCollection[Any]], Any]):
    """Boilerplate then near-duplicates; either can be turned off with None. The articles, as one
    PCollection; with ``apply_later`` (and near-duplicates on) their parts and the near-duplicate
    assignments, not yet applied (see :class:`MarkNearDuplicates`)."""

    def __init__(
        self,
        boilerplate: BoilerplateConfig | None,
        near_dup: NearDupConfig | None,
        narrow_history: bool = True,
        lookup: bool = True,
        spill_dir: str | None = None,
        apply_later: bool = False,
    ) -> None:
        super().__init__()
        if apply_later and near_dup is None:
            raise ValueError("apply_later leaves the near-duplicate assignments to the caller: it needs near_dup")
        self._narrow = narrow_history
        self._lookup = lookup
        self._spill_dir = spill_dir
        self._boilerplate = boilerplate
        self._near_dup = near_dup
        self._apply_later = apply_later

    def expand(self, inputs: tuple[Articles, PCollection[Any]]) -> Any:
        articles, existing_files = inputs
        if self._boilerplate is not None:
            articles = (articles, existing_files) | "Boilerplate" >> DropBoilerplate(
                self._boilerplate, self._narrow, self._lookup, self._spill_dir
            )
        if self._near_dup is not None:
            articles = (articles, existing_files) | "NearDuplicates" >> MarkNearDuplicates(
                self._near_dup, self._narrow, self._lookup, self._spill_dir, self._apply_later
            )
            if self._apply_later:
                return articles  # (parts, assignments)
        elif self._boilerplate is not None:  # signatures are written only with near-duplicate detection
            articles = articles | "DropSignatures" >> beam.Map(lambda a: replace(a, minhash=()))
        result: PCollection[Any] = _flatten(list(_parts(articles)), "AllArticles")
        return result
