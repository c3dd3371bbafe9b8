"""Near-duplicate articles: MinHash signatures, banded LSH, verification and non-chaining clusters.

Two articles are near-duplicates when the Jaccard similarity of their bodies' word shingles is at
least ``NearDupConfig.threshold`` (default 0.7, chosen from the evaluation's precision/recall curve: see
README). Everything here is pure Python + numpy, with two compiled loops (:mod:`feedflow.core.kernels`,
numba); the Beam wrappers in :mod:`feedflow.transforms.dedup`
decide what is grouped with what.

Signature
    The body (paragraphs still in ``Article.text``: within-article repeats and cross-article
    boilerplate already removed) is normalized with :func:`feedflow.core.dedup.normalize_for_dedup`
    (accents, case, digits, punctuation folded), cut into overlapping ``SHINGLE_WORDS``-word shingles
    (5), and each shingle is hashed to 64 bits with
    a polynomial hash over its UTF-8 bytes (prefix sums, one compiled pass over the bytes) followed by
    the splitmix64 finalizer. ``NUM_PERM`` = 128 hash functions
    ``h_k(x) = splitmix64(x XOR seed_k)`` (fixed seeds) give the signature: for each k, the top 32
    bits of ``min_x h_k(x)``, stored as a signed int32 (``articles.minhash``). The estimate of the
    Jaccard similarity of two bodies is the fraction of equal positions. Identical normalized bodies
    have identical signatures, so exact duplicates always score 1.0 and are always caught. A body of
    fewer than 5 words has no signature and is never compared: "3.8.4" and "3.9.0" normalize alike
    ("0 0 0"), and a few words cannot tell a copy from a coincidence.

LSH
    The first ``bands × rows`` positions are cut into bands; each band hashes to a 32-bit key (a
    64-bit hash folded) and articles sharing a key in any band become candidate pairs. Two unrelated
    bands share a key by chance about n²/2³³ times per band for n articles (~0.3 at 50,000): each such
    coincidence only adds a candidate pair, which verification rejects. On the 50,000-article bench
    corpus the 32-bit keys gave the same 88,395 candidate pairs as 64-bit ones plus 8, and the same
    output; they halve what grouping and the band tables hold. ``rows`` is the largest value for
    which an article pair at exactly the threshold is a candidate with probability ≥ 0.995
    (``1 - (1 - t**rows)**bands``), ``bands = NUM_PERM // rows``: fewest band keys (least shuffle)
    without losing pairs at the threshold. Threshold 0.7 → 32 bands × 4 rows (P(candidate) = 0.9998 at
    J = 0.7, 0.99 at 0.6, 0.87 at 0.5, 0.23 at 0.3, 0.003 at 0.1); 0.8 → 21 × 6; 0.9 → 14 × 9. Lower
    thresholds cost more bands.

Verification and clusters
    Each candidate pair is verified by its signatures' Jaccard estimate ≥ threshold. Clusters are
    built by greedy leader clustering in the order (committed before new, earliest published, undated
    last, then ``article_id``): an article whose verified earlier neighbours include a leader joins the
    earliest such leader; otherwise it is a leader itself. So every member is verified directly
    against its representative (a chain A≈B≈C with A≉C never puts C under A), and a representative is
    never a member. Committed articles keep their role: a new article can only point at a committed
    leader or at a new one.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache
from itertools import chain
from operator import eq
from typing import cast

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from feedflow.core.dataset import parquet_source
from feedflow.core.dedup import normalized_body
from feedflow.model import Article

#: Hash functions per signature (the length of ``articles.minhash``).
NUM_PERM = 128
#: Words per shingle. Fixed, like NUM_PERM and the seeds: signatures stored by earlier runs must stay
#: comparable (the evaluation compared 3, 4, 5 and 7 words: see README).
SHINGLE_WORDS = 5
#: Probability that an article pair whose similarity equals the threshold becomes a candidate.
LSH_RECALL_AT_THRESHOLD = 0.995

U64 = npt.NDArray[np.uint64]
Signature = npt.NDArray[np.uint32]

_POLY = np.uint64(0x100000001B3)  # FNV-1a 64-bit prime: odd, so invertible modulo 2**64
_POLY_INV = np.uint64(pow(0x100000001B3, -1, 2**64))
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True, slots=True)
class NearDupConfig:
    """Near-duplicate detection: estimated Jaccard ``threshold`` of the bodies' shingle sets;
    ``max_bucket`` caps how many earlier members of one LSH bucket a new article is compared with."""

    threshold: float = 0.7
    max_bucket: int = 200

    def __post_init__(self) -> None:
        if not 0.5 <= self.threshold <= 1.0:
            raise ValueError(f"near-duplicate threshold must be in [0.5, 1.0], got {self.threshold}")
        if self.max_bucket < 1:
            raise ValueError("max_bucket must be at least 1")


def splitmix64(x: U64) -> U64:
    """splitmix64's finalizer, elementwise on uint64 arrays (wrapping arithmetic); ``x`` is not changed.
    (The per-signature loops use the compiled :func:`feedflow.core.kernels._mix`; this makes the
    constant seeds and is the tests' reference.)"""
    x = np.array(x, dtype=np.uint64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


_SEEDS: U64 = splitmix64(np.arange(1, NUM_PERM + 1, dtype=np.uint64) * _GOLDEN)


def lsh_bands(threshold: float, num_perm: int = NUM_PERM, recall: float = LSH_RECALL_AT_THRESHOLD) -> tuple[int, int]:
    """``(bands, rows)`` for a threshold: the largest ``rows`` whose ``bands = num_perm // rows`` make a
    pair at the threshold a candidate with probability ≥ ``recall`` (see module docstring)."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= recall:
            best = (bands, rows)
    return best


def candidate_probability(similarity: float, bands: int, rows: int) -> float:
    """Probability that a pair with this Jaccard similarity shares at least one band key."""
    return 1.0 - (1.0 - similarity**rows) ** bands


class MinHasher:
    """Signatures of texts, computed by the compiled loops of :mod:`feedflow.core.kernels` (build one
    per worker in ``DoFn.setup()``; it holds only its shingle width and the kernels)."""

    def __init__(self, shingle_words: int = SHINGLE_WORDS) -> None:
        from feedflow.core.kernels import minhash, shingle_hashes  # numba: imported where it runs (workers)

        self._n = shingle_words
        self._shingle_hashes = shingle_hashes
        self._minhash = minhash

    def _hashes(self, paragraphs: Sequence[str]) -> U64:
        """The 64-bit hashes of a body's shingles in text order, repeats included (empty when it has
        fewer words than a shingle)."""
        return self._hashes_of(normalized_body(paragraphs))

    def _hashes_of(self, normalized: str) -> U64:
        if not normalized:
            return np.empty(0, dtype=np.uint64)
        data = np.frombuffer(normalized.encode("utf-8", "surrogatepass"), dtype=np.uint8)
        hashes: U64 = self._shingle_hashes(data, self._n, _POLY, _POLY_INV)
        return hashes

    def shingles(self, paragraphs: Sequence[str]) -> U64:
        """The distinct 64-bit shingle hashes of a body (empty when it has fewer words than a shingle)."""
        result: U64 = np.unique(self._hashes(paragraphs))
        return result

    def signature(self, paragraphs: Sequence[str]) -> Signature | None:
        """The body's MinHash signature (``NUM_PERM`` uint32), or None for a body shorter than a shingle."""
        return self._signature(self._hashes(paragraphs))

    def signature_of_normalized(self, normalized: str) -> Signature | None:
        """:meth:`signature` of a body given as its :func:`~feedflow.core.dedup.normalized_body` (as
        :func:`feedflow.core.dedup.dedup_with_hash` returns it)."""
        return self._signature(self._hashes_of(normalized))

    def _signature(self, hashes: U64) -> Signature | None:
        if not len(hashes):  # repeated shingles change no minimum: no need to dedup them
            return None
        low = np.full(NUM_PERM, np.iinfo(np.uint64).max, dtype=np.uint64)
        self._minhash(hashes, _SEEDS, low)
        signature: Signature = (low >> np.uint64(32)).astype(np.uint32)
        return signature


def sign(article: Article, hasher: MinHasher) -> Article:
    """The article with its current body's signature in ``minhash`` (as it is when it has one).

    The article builder signs each body as it builds it (from the normalized text it makes for the
    paragraph keys: :meth:`MinHasher.signature_of_normalized`), and whatever changes the body clears
    ``minhash`` (see :func:`feedflow.core.boilerplate.mark`): so values still set belong to the current
    body, and this computes a signature only for a body that boilerplate removal changed."""
    if article.minhash:
        return article
    signature = hasher.signature(article.body)
    return replace(article, minhash=to_stored(signature)) if signature is not None else article


def to_stored(signature: Signature) -> tuple[int, ...]:
    """The signature as stored in ``articles.minhash``: signed int32 values."""
    values: list[int] = signature.view(np.int32).tolist()
    return tuple(values)


def from_stored(values: Sequence[int]) -> Signature:
    stored = np.asarray(values, dtype=np.int64).astype(np.int32)
    signature: Signature = stored.view(np.uint32)
    return signature


def _stored_jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """:func:`jaccard_estimate` of two signatures both in the stored form (a SigRecord's: signed int32
    values), where equal values are equal stored values: no conversion, no mask (7.2 → 2.8 µs a pair;
    tests/test_neardup.py checks it against :func:`jaccard_estimate`)."""
    if len(a) != len(b) or not len(a):
        raise ValueError("signatures must be non-empty and of equal length")
    equal: int = sum(map(eq, a, b))
    return equal / len(a)


def jaccard_estimate(a: Sequence[int] | Signature, b: Sequence[int] | Signature) -> float:
    """Fraction of equal signature positions (signatures of equal length, stored or raw)."""
    left = np.asarray(a, dtype=np.int64) & 0xFFFFFFFF
    right = np.asarray(b, dtype=np.int64) & 0xFFFFFFFF
    if len(left) != len(right) or not len(left):
        raise ValueError("signatures must be non-empty and of equal length")
    return float(np.count_nonzero(left == right)) / len(left)


@cache
def _band_seeds(bands: int, rows: int) -> U64:
    """The starting value of each band's key (a constant of the banding, made once per process)."""
    seeds: U64 = splitmix64((np.arange(bands, dtype=np.uint64) + np.uint64(1)) * _GOLDEN ^ np.uint64(rows))
    seeds.flags.writeable = False
    return seeds


@cache
def _band_kernel() -> Callable[[npt.NDArray[np.int64], U64, int], U64]:
    """The compiled band-key loop, imported on first use (numba loads in the workers only) and then
    held, so a call does not pay an import statement (~0.6 µs of a ~5 µs call)."""
    from feedflow.core.kernels import band_keys as compiled

    return cast(Callable[[npt.NDArray[np.int64], U64, int], U64], compiled)


def band_keys(signature: Sequence[int] | Signature, bands: int, rows: int) -> list[int]:
    """One 32-bit key per band (``0 <= key < 2**32``); the band index is part of the key (a key of one
    band equals one of another only by chance, as any two keys do)."""
    values = np.asarray(signature, dtype=np.int64)
    if values.ndim != 1:
        raise ValueError(f"a signature is one row of values, not an array of shape {values.shape}")
    keys: list[int] = band_keys_many(values[None, :], bands, rows)[0].tolist()
    return keys


def band_keys_many(signatures: npt.NDArray[np.int64], bands: int, rows: int) -> npt.NDArray[np.int64]:
    """:func:`band_keys` of each row of an ``(n, num_perm)`` array of signatures (stored or raw values),
    as an ``(n, bands)`` array, by a compiled loop (:func:`feedflow.core.kernels.band_keys`: one
    signature 34 → 4.5 µs against the numpy passes it replaced; tests/test_kernels.py checks the keys
    against their plain-Python definition)."""
    if signatures.shape[1] < bands * rows:
        raise ValueError(f"signature of {signatures.shape[1]} values is too short for {bands}×{rows} bands")
    values = np.ascontiguousarray(signatures, dtype=np.int64)
    keys: npt.NDArray[np.int64] = _band_kernel()(values, _band_seeds(bands, rows), rows).view(np.int64)
    return keys


def signature_digest(signature: Sequence[int]) -> str:
    """Hex digest of a whole signature: equal bodies (identical shingle sets) share it."""
    data = np.asarray(signature, dtype=np.int64).astype(np.int32).tobytes()
    return hashlib.blake2b(data, digest_size=16).hexdigest()


# ------------------------------------------------------------------------------------- clusters

#: Sort key of an article for clustering: (is_new, undated, published µs, article_id).
Order = tuple[int, int, int, str]


def order_key(article_id: str, published_at: datetime | None, new: bool) -> Order:
    """Committed articles first (their roles are final), then earliest published, undated last."""
    if published_at is None:
        return (int(new), 1, 0, article_id)
    micros = math.floor(published_at.timestamp() * 1_000_000)
    return (int(new), 0, micros, article_id)


@dataclass(frozen=True, slots=True)
class SigRecord:
    """What LSH and verification need of an article: id, sort order and signature (stored form).

    Committed representatives read back from the dataset have ``order[0] == 0`` (see :func:`order_key`)."""

    article_id: str
    order: Order
    minhash: tuple[int, ...]

    @property
    def node(self) -> Node:
        return node_of(self.order)


#: A clustering node: (article_id, 1 for new / 0 for committed). A revised article's new version and its
#: committed version share the id but are different nodes (and are never compared with each other).
Node = tuple[str, int]


def node_of(order: Order) -> Node:
    return (order[3], order[0])


@dataclass(frozen=True, slots=True)
class Edge:
    """A verified pair: ``later`` (a new article) is similar to ``earlier`` (before it in the order)."""

    later: Order
    earlier: Order
    similarity: float


@dataclass(frozen=True, slots=True)
class Assignment:
    """A new article's place in a cluster: its representative and its similarity to it."""

    article_id: str
    duplicate_of: str
    similarity: float


def bucket_pairs(members: Iterable[Order], max_bucket: int) -> list[tuple[Node, Node]]:
    """Candidate pairs of one LSH bucket, as ``(later, earlier)`` nodes: each new member with each member
    before it in the order, at most the ``max_bucket`` earliest (the likely representatives). Pairs of two
    committed articles are never produced (their roles are final), nor pairs of one id's versions."""
    ordered = sorted(set(members))
    pairs: list[tuple[Node, Node]] = []
    for index, member in enumerate(ordered):
        if not member[0]:
            continue
        for earlier in ordered[: min(index, max_bucket)]:
            if earlier[3] != member[3]:
                pairs.append((node_of(member), node_of(earlier)))
    return pairs


#: Members a BandTable gathers before it packs their band keys into one chunk.
_CHUNK_ROWS = 4096
#: Chunks a BandTable holds before it joins them into one (a merge of very many small tables).
_MAX_CHUNKS = 1024
#: The array typecode of an unsigned 32-bit integer here (``I`` on every common platform).
_U32 = next(code for code in "IL" if array(code).itemsize == 4)


def _split_codes(codes: npt.NDArray[np.int64], width: int) -> Iterator[tuple[int, int]]:
    """``(code // width, code % width)`` of each code, ``_CHUNK_ROWS`` codes at a time (never a list
    of every code at once)."""
    for start in range(0, len(codes), _CHUNK_ROWS):
        part = codes[start : start + _CHUNK_ROWS]
        yield from zip((part // width).tolist(), (part % width).tolist(), strict=True)


class CandidatePairs:
    """The distinct candidate pairs of a :class:`BandTable`, sorted as ``(later node, earlier node)``
    tuples sort, held as one int64 per pair (``later × len(nodes) + earlier``, the nodes numbered in
    sorted order) and made into tuples only as they are iterated: at 50,000 articles, 88,395 pairs take
    3.7 MB here (codes and nodes) against 15.5 MB as a list of tuples."""

    __slots__ = ("codes", "nodes")

    def __init__(self, nodes: list[Node], codes: npt.NDArray[np.int64]) -> None:
        self.nodes = nodes
        self.codes = codes

    def __len__(self) -> int:
        return len(self.codes)

    def __iter__(self) -> Iterator[tuple[Node, Node]]:
        nodes = self.nodes
        for later, earlier in _split_codes(self.codes, len(nodes)):
            yield nodes[later], nodes[earlier]


class BandTable:
    """The LSH buckets of many signatures at once: ``add`` each ``(SigRecord, band keys)``, then
    :meth:`result` gives exactly the union of :func:`bucket_pairs` over every band key shared by two or
    more members, found by one sort of all keys instead of one group per key. A combine's accumulator
    (:class:`feedflow.transforms.base.AccumulateFn`): one table per bundle, merged in one place. Every
    member has the same number of band keys (one per band).

    Held in columns: 4 bytes per band key (keys are 32-bit), packed into chunks of ``_CHUNK_ROWS``
    members that are never copied into one array (a merge extends the list, and :meth:`result` reads
    one band's column at a time), and each member's order as its id, two flags and its time (~80 bytes
    decoded, ~27 pickled, against ~170 and ~50 as a tuple). At 50,000 articles the pickled table is
    8.2 MiB instead of 14.6, and the runner holds it twice while the merge reads it."""

    def __init__(self, max_bucket: int) -> None:
        self.max_bucket = max_bucket
        self.ids: list[str] = []  # the members' orders, column by column (see order_key)
        self.new = array("b")
        self.undated = array("b")
        self.micros = array("q")
        self.chunks: list[npt.NDArray[np.uint32]] = []  # (members, bands) rows, in member order
        self._pending = array(_U32)  # band keys of the members after the last chunk, row after row
        self._bands: int | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def order(self, member: int) -> Order:
        """The :func:`order_key` of the ``member``-th member."""
        return (self.new[member], self.undated[member], self.micros[member], self.ids[member])

    def add(self, banded: tuple[SigRecord, Sequence[int]]) -> None:
        record, keys = banded
        if self._bands is None:
            self._bands = len(keys)
        elif len(keys) != self._bands:
            raise ValueError(f"a member has {len(keys)} band keys, the table's members have {self._bands}")
        new, undated, micros, article_id = record.order
        self.new.append(new)
        self.undated.append(undated)
        self.micros.append(micros)
        self.ids.append(article_id)
        self._pending.extend(keys)
        if len(self._pending) >= _CHUNK_ROWS * max(self._bands, 1):
            self.compact()

    def merge(self, other: BandTable) -> None:
        self.compact()
        other.compact()
        if other._bands is not None:
            if self._bands is None:
                self._bands = other._bands
            elif other._bands != self._bands:
                raise ValueError(f"tables of {other._bands} and {self._bands} band keys per member")
        self.ids.extend(other.ids)
        self.new.extend(other.new)
        self.undated.extend(other.undated)
        self.micros.extend(other.micros)
        self.chunks.extend(other.chunks)
        if len(self.chunks) > _MAX_CHUNKS:
            self.chunks = [np.concatenate(self.chunks)]

    def compact(self) -> None:
        """The pending members' band keys as one chunk (cheaper to pickle and to merge)."""
        if self._pending and self._bands:
            self.chunks.append(np.frombuffer(self._pending, dtype=np.uint32).reshape(-1, self._bands).copy())
        self._pending = array(_U32)

    def result(self) -> CandidatePairs:
        """Band by band (a bucket is one band's key: keys are compared only within their band), so the
        sort's work arrays are one band's, not the whole table's.

        A bucket's pairs depend only on its members, and similar articles share most of their bands:
        so each distinct bucket is expanded once. Two-member buckets (most of them) are collected as
        one integer per member pair and made distinct by one ``np.unique`` over all bands; larger ones
        by their members' bytes. Each pair found is kept as one integer over the numbered nodes, and one
        more ``np.unique`` makes the pairs distinct (one id's committed versions are one node)."""
        self.compact()
        count = len(self)
        twos: list[npt.NDArray[np.int64]] = []
        larger: set[bytes] = set()  # members of a bucket of three or more, as int32 bytes (~60 B, not ~280)
        for band in range(self._bands or 0):
            keys = np.concatenate([chunk[:, band] for chunk in self.chunks])
            members = np.argsort(keys, kind="stable")  # stable: a bucket's members in ascending order
            ordered = keys[members]
            starts = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1])))
            sizes = np.diff(np.concatenate((starts, [len(ordered)])))
            two_starts = starts[sizes == 2]
            first, second = members[two_starts], members[two_starts + 1]
            twos.append(np.minimum(first, second).astype(np.int64) * count + np.maximum(first, second))
            big = sizes > 2
            member_bytes = members.astype(np.int32).tobytes()
            for start, size in zip((starts[big] * 4).tolist(), (sizes[big] * 4).tolist(), strict=True):
                larger.add(member_bytes[start : start + size])
        nodes = sorted(set(zip(self.ids, self.new, strict=True)))
        number = {node: n for n, node in enumerate(nodes)}
        width = len(nodes)
        found = array("q")
        codes = np.unique(np.concatenate(twos)) if twos else np.empty(0, dtype=np.int64)
        larger_members = (np.frombuffer(held, dtype=np.int32).tolist() for held in larger)
        for bucket in chain(_split_codes(codes, count), larger_members):
            for later, earlier in bucket_pairs(map(self.order, bucket), self.max_bucket):
                found.append(number[later] * width + number[earlier])
        return CandidatePairs(nodes, np.unique(np.frombuffer(found, dtype=np.int64)))


def verify(later: Iterable[SigRecord], earlier: Iterable[SigRecord], threshold: float) -> Edge | None:
    """The edge between two nodes when their best signature estimate reaches the threshold (a committed
    id can have several versions: the most similar counts)."""
    best: tuple[float, Order, Order] | None = None
    earlier_records = list(earlier)
    for a in later:
        for b in earlier_records:
            score = _stored_jaccard(a.minhash, b.minhash)
            if best is None or score > best[0]:
                best = (score, a.order, b.order)
    if best is None or best[0] < threshold:
        return None
    return Edge(later=best[1], earlier=best[2], similarity=best[0])


def cluster(edges: Iterable[Edge]) -> list[Assignment]:
    """Greedy leader clustering over verified edges (see module docstring). Committed articles are
    leaders by construction (only committed representatives are read back). Deterministic: depends
    only on the set of edges, never on their order."""
    earlier_of: dict[Order, dict[Order, float]] = {}
    for edge in edges:
        neighbours = earlier_of.setdefault(edge.later, {})
        neighbours[edge.earlier] = max(edge.similarity, neighbours.get(edge.earlier, 0.0))
    followers: set[Order] = set()
    out: list[Assignment] = []
    for later in sorted(earlier_of):
        leaders = [(order, score) for order, score in earlier_of[later].items() if order not in followers]
        if leaders:
            representative, score = min(leaders)
            followers.add(later)
            out.append(Assignment(later[3], representative[3], score))
    return out


def cluster_size_bucket(size: int) -> str:
    """Counter label of a cluster size (representative included)."""
    if size <= 2:
        return "2"
    if size <= 5:
        return "3-5"
    if size <= 20:
        return "6-20"
    return "21+"


def read_committed_signatures(
    path: str, wanted: npt.NDArray[np.int64] | None = None, bands: int = 0, rows: int = 0
) -> list[SigRecord]:
    """Committed representatives of one articles file: rows with a signature and no ``duplicate_of``
    (files written before signatures were stored have none and take no part).

    With ``wanted`` (the band keys of the run's new articles: a sorted int64 array of distinct keys),
    only representatives sharing at least one band key with them: no other can fall in an LSH bucket
    with a new article, and pairs of two committed articles are never made, so leaving them out changes
    no result — and keeps what a run holds of its history proportional to the run, not to the dataset."""
    where, filesystem = parquet_source(path)
    names = set(pq.read_schema(where, filesystem=filesystem).names)
    if not {"minhash", "duplicate_of"} <= names:
        return []
    columns = ["article_id", "published_at", "duplicate_of", "minhash"]
    table = pq.read_table(where, columns=columns, filesystem=filesystem)
    lengths = pc.fill_null(pc.list_value_length(table["minhash"]), 0)
    table = table.filter(pc.and_(pc.is_null(table["duplicate_of"]), pc.greater(lengths, 0)))
    if wanted is not None and table.num_rows:
        table = table.filter(_shares_a_band(table["minhash"], wanted, bands, rows))
    return [
        SigRecord(article_id, order_key(article_id, published_at, new=False), tuple(minhash))
        for article_id, published_at, minhash in zip(
            table["article_id"].to_pylist(), table["published_at"].to_pylist(), table["minhash"].to_pylist(),
            strict=True,
        )
    ]  # fmt: skip


def _shares_a_band(minhash: pa.ChunkedArray, wanted: npt.NDArray[np.int64], bands: int, rows: int) -> pa.Array:
    """Per stored signature: whether one of its band keys is in ``wanted``. Only the first ``bands ×
    rows`` values make the keys, so every signature is cut to that and all are banded at once; one too
    short to band is kept, so that it fails where it always did (when the run bands it)."""
    width = bands * rows
    lengths = pc.list_value_length(minhash).to_numpy(zero_copy_only=False)
    long_enough = lengths >= width
    hits = ~long_enough
    if long_enough.any():
        cut = pc.list_slice(pc.filter(minhash, pa.array(long_enough)), 0, width)
        flat = pc.list_flatten(cut).to_numpy(zero_copy_only=False).astype(np.int64)
        keys = band_keys_many(flat.reshape(-1, width), bands, rows)
        hits[long_enough] = _members(keys, wanted).any(axis=1)
    return pa.array(hits)


def _members(values: npt.NDArray[np.int64], sorted_set: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
    """Elementwise: whether each value is in ``sorted_set`` (sorted, distinct) — a binary search per value,
    where np.isin would sort the (large) set again on every call."""
    if not len(sorted_set):
        return np.zeros(values.shape, dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    found: npt.NDArray[np.bool_] = sorted_set[at] == values
    return found
