"""MinHash signatures, LSH parameters, candidate pairs, verification and the non-chaining clusters."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedflow.core import neardup
from feedflow.core.dedup import normalized_body
from feedflow.core.neardup import (
    NUM_PERM,
    BandTable,
    Edge,
    MinHasher,
    NearDupConfig,
    SigRecord,
    _stored_jaccard,
    band_keys,
    bucket_pairs,
    candidate_probability,
    cluster,
    from_stored,
    jaccard_estimate,
    lsh_bands,
    order_key,
    read_committed_signatures,
    signature_digest,
    to_stored,
    verify,
)

# letters only: digits fold to 0 in the dedup normalization ("w1" and "w2" are the same word)
VOCABULARY = ["".join(chr(97 + (n // 26**k) % 26) for k in range(3)) for n in range(400)]


def words(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(VOCABULARY) for _ in range(n)]


def exact_jaccard(hasher: MinHasher, a: list[str], b: list[str]) -> float:
    x, y = set(hasher.shingles(a).tolist()), set(hasher.shingles(b).tolist())
    return len(x & y) / len(x | y)


def signature(hasher: MinHasher, paragraphs: list[str]) -> tuple[int, ...]:
    found = hasher.signature(paragraphs)
    assert found is not None
    return to_stored(found)


# ------------------------------------------------------------------------------------ signatures


def test_the_signature_ignores_case_punctuation_digits_and_paragraph_breaks() -> None:
    hasher = MinHasher()
    a = signature(hasher, ["The storm hit the coast on May 3, 2024.", "Residents fled inland overnight."])
    b = signature(hasher, ["THE STORM — hit the coast on May 9 2025 residents fled inland, overnight"])
    assert a == b and len(a) == NUM_PERM and jaccard_estimate(a, b) == 1.0
    assert signature(MinHasher(), ["The storm hit the coast on May 3, 2024.", "Residents fled inland overnight."]) == a


def test_a_body_shorter_than_one_shingle_has_no_signature() -> None:
    hasher = MinHasher()
    assert hasher.signature(["3.8.4"]) is None and hasher.signature(["Read more here now"]) is None
    assert hasher.signature([""]) is None and hasher.signature([]) is None
    assert hasher.signature(["one two three four five"]) is not None


def test_the_shingles_are_five_word_windows() -> None:
    hasher = MinHasher()
    assert len(hasher.shingles(["a b c d e f g"])) == 3
    assert len(hasher.shingles(["a b c d e a b c d e"])) == 5  # repeated windows count once


@pytest.mark.parametrize("overlap", [0.0, 0.3, 0.5, 0.7, 0.8, 0.9, 1.0])
def test_the_estimate_tracks_the_true_jaccard(overlap: float) -> None:
    hasher = MinHasher()
    base = words(1, 600)
    kept = int(len(base) * overlap)
    other = base[:kept] + words(2, len(base) - kept)
    truth = exact_jaccard(hasher, [" ".join(base)], [" ".join(other)])
    estimate = jaccard_estimate(signature(hasher, [" ".join(base)]), signature(hasher, [" ".join(other)]))
    assert abs(estimate - truth) <= 0.15  # 128 permutations: standard error ≤ 0.045


def test_very_long_bodies_are_signed_in_chunks_with_the_same_result() -> None:
    hasher = MinHasher()
    text = " ".join(words(3, 20_000))
    chunked = signature(hasher, [text])
    assert chunked == signature(MinHasher(), [text])
    assert jaccard_estimate(chunked, signature(hasher, [text + " and one more sentence at the end"])) > 0.99


def test_stored_form_round_trips_and_digest_separates_signatures() -> None:
    hasher = MinHasher()
    sig = hasher.signature([" ".join(words(4, 50))])
    assert sig is not None
    stored = to_stored(sig)
    assert all(-(2**31) <= v < 2**31 for v in stored)
    assert (from_stored(stored) == sig).all()
    other = to_stored(hasher.signature([" ".join(words(5, 50))]))  # type: ignore[arg-type]
    assert signature_digest(stored) == signature_digest(list(stored)) != signature_digest(other)


# ------------------------------------------------------------------------------------------- LSH


def test_bands_and_rows_for_the_documented_thresholds() -> None:
    assert lsh_bands(0.7) == (32, 4)
    assert lsh_bands(0.8) == (21, 6)
    assert lsh_bands(0.9) == (14, 9)


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0.5, max_value=1.0))
def test_a_pair_at_the_threshold_is_almost_always_a_candidate(threshold: float) -> None:
    bands, rows = lsh_bands(threshold)
    assert bands * rows <= NUM_PERM
    assert candidate_probability(threshold, bands, rows) >= 0.995


def test_identical_signatures_share_every_band_key_and_bands_never_collide() -> None:
    sig = to_stored(MinHasher().signature([" ".join(words(6, 80))]))  # type: ignore[arg-type]
    keys = band_keys(sig, 32, 4)
    assert keys == band_keys(list(sig), 32, 4) and len(set(keys)) == 32
    constant = [7] * NUM_PERM  # every band has the same rows: the band index still separates the keys
    assert len(set(band_keys(constant, 32, 4))) == 32


def test_bucket_pairs_pair_new_members_with_earlier_ones_only() -> None:
    old = order_key("old", datetime(2024, 1, 1, tzinfo=UTC), new=False)
    a = order_key("a", datetime(2024, 1, 2, tzinfo=UTC), new=True)
    b = order_key("b", datetime(2024, 1, 3, tzinfo=UTC), new=True)
    old2 = order_key("old2", datetime(2024, 2, 1, tzinfo=UTC), new=False)
    assert sorted(bucket_pairs([b, old2, a, old], 200)) == [
        (("a", 1), ("old", 0)),
        (("a", 1), ("old2", 0)),
        (("b", 1), ("a", 1)),
        (("b", 1), ("old", 0)),
        (("b", 1), ("old2", 0)),
    ]
    assert bucket_pairs([old, old2], 200) == []  # committed roles are final
    assert bucket_pairs([b, a, old], 1) == [(("a", 1), ("old", 0)), (("b", 1), ("old", 0))]  # the earliest only
    again = order_key("old", datetime(2024, 3, 1, tzinfo=UTC), new=True)  # a new version of a committed id
    assert bucket_pairs([again, old], 200) == []


def test_committed_articles_come_first_then_the_earliest_published_undated_last() -> None:
    early, late = datetime(2020, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)
    ordered = sorted(
        [
            order_key("z", None, new=True),
            order_key("b", late, new=True),
            order_key("a", late, new=True),
            order_key("c", early, new=True),
            order_key("y", late, new=False),
        ]
    )
    assert [o[3] for o in ordered] == ["y", "c", "a", "b", "z"]


# ------------------------------------------------------------------------------- verify & cluster


def test_verify_keeps_the_best_committed_version_and_applies_the_threshold() -> None:
    hasher = MinHasher()
    base = words(7, 300)
    new = SigRecord("n", order_key("n", None, new=True), signature(hasher, [" ".join(base)]))
    close = SigRecord("c", order_key("c", None, new=False), signature(hasher, [" ".join(base[:280] + words(8, 20))]))
    far = SigRecord("c", order_key("c", None, new=False), signature(hasher, [" ".join(words(9, 300))]))
    edge = verify([new], [far, close], 0.7)
    assert edge is not None and edge.later == new.order and edge.similarity >= 0.7
    assert verify([new], [far], 0.7) is None


def o(name: str, day: int, new: bool = True) -> tuple[int, int, int, str]:
    return order_key(name, datetime(2024, 1, day, tzinfo=UTC), new=new)


def test_clusters_do_not_chain() -> None:
    a, b, c = o("a", 1), o("b", 2), o("c", 3)
    chain = [Edge(b, a, 0.8), Edge(c, b, 0.8)]  # a≈b, b≈c, but a≉c
    assigned = {x.article_id: (x.duplicate_of, x.similarity) for x in cluster(chain)}
    assert assigned == {"b": ("a", 0.8)}  # c is not put under a; b is a member, so c leads its own cluster
    closed = [*chain, Edge(c, a, 0.75)]
    assigned = {x.article_id: (x.duplicate_of, x.similarity) for x in cluster(closed)}
    assert assigned == {"b": ("a", 0.8), "c": ("a", 0.75)}


def test_a_member_joins_the_earliest_leader_it_is_similar_to() -> None:
    old, a, b, c = o("old", 1, new=False), o("a", 2), o("b", 3), o("c", 4)
    edges = [Edge(b, a, 0.9), Edge(c, b, 0.95), Edge(c, old, 0.72), Edge(a, old, 0.7)]
    assigned = {x.article_id: x.duplicate_of for x in cluster(edges)}
    # a follows the committed leader; b's only earlier neighbour is a member, so b leads; c is similar to
    # two leaders (old, b) and joins the earliest, even though b is more similar
    assert assigned == {"a": "old", "c": "old"}


@settings(max_examples=50, deadline=None)
@given(st.randoms(use_true_random=False))
def test_clusters_depend_on_the_edges_not_their_order(rng: random.Random) -> None:
    nodes = [o(f"n{i}", 1 + i, new=i > 1) for i in range(8)]
    edges = [
        Edge(later, earlier, round(rng.uniform(0.7, 1.0), 3))
        for later, earlier in itertools.combinations(nodes[::-1], 2)
        if later[0] and rng.random() < 0.4 and later > earlier
    ]
    expected = sorted(cluster(edges), key=lambda x: x.article_id)
    shuffled = list(edges)
    rng.shuffle(shuffled)
    assert sorted(cluster(shuffled), key=lambda x: x.article_id) == expected
    leaders = {x.duplicate_of for x in expected}
    assert not leaders & {x.article_id for x in expected}  # a representative is never a member
    similar = {(e.later[3], e.earlier[3]) for e in edges}
    assert all((x.article_id, x.duplicate_of) in similar for x in expected)  # verified with its representative


def test_the_threshold_is_validated() -> None:
    with pytest.raises(ValueError):
        NearDupConfig(threshold=0.3)
    with pytest.raises(ValueError):
        NearDupConfig(threshold=1.2)


# ------------------------------------------------------------------------------- committed files


def test_committed_signatures_are_read_for_representatives_only(tmp_path: Path) -> None:
    published = datetime(2024, 1, 5, tzinfo=UTC)
    table = pa.table(
        {
            "article_id": ["rep", "member", "unsigned"],
            "published_at": pa.array([published, published, None], pa.timestamp("us", tz="UTC")),
            "duplicate_of": [None, "rep", None],
            "minhash": pa.array([[1] * NUM_PERM, [2] * NUM_PERM, None], pa.list_(pa.int32())),
        }
    )
    pq.write_table(table, tmp_path / "new.parquet")
    [record] = read_committed_signatures(str(tmp_path / "new.parquet"))
    assert record.article_id == "rep" and record.order == order_key("rep", published, new=False)
    assert record.minhash == (1,) * NUM_PERM and record.node == ("rep", 0)
    pq.write_table(table.drop_columns(["minhash"]), tmp_path / "old.parquet")  # before signatures were stored
    assert read_committed_signatures(str(tmp_path / "old.parquet")) == []


def test_the_signature_is_the_per_seed_minimum_that_stored_datasets_hold() -> None:
    # committed articles keep their signatures: any faster way of computing one must give the same
    # values as the definition (per seed, the top 32 bits of min splitmix64(shingle ^ seed))
    from feedflow.core.neardup import _SEEDS, splitmix64

    hasher = MinHasher()
    paragraphs = ["The quick brown fox jumps over the lazy dog", "near the river bank, on 3 May 2024 — again."]
    shingles = hasher.shingles(paragraphs)
    expected = [int(splitmix64(shingles ^ seed).min() >> np.uint64(32)) for seed in _SEEDS]
    signature = hasher.signature(paragraphs)
    assert signature is not None and signature.tolist() == expected


_ONE_HASHER = MinHasher()  # reused across examples on purpose: one hasher signs text after text


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(VOCABULARY[:12]), min_size=0, max_size=400), min_size=1, max_size=4))
def test_any_signature_is_the_definition(body: list[list[str]]) -> None:
    """Signatures are computed over shingles with repeats, by one hasher for many texts: each value must
    still be the definition's (per seed, over the distinct shingles)."""
    from feedflow.core.neardup import _SEEDS, splitmix64

    paragraphs = [" ".join(words) for words in body]
    distinct = MinHasher().shingles(paragraphs)
    found = _ONE_HASHER.signature(paragraphs)
    if not len(distinct):
        assert found is None
        return
    expected = [int(splitmix64(distinct ^ seed).min() >> np.uint64(32)) for seed in _SEEDS]
    assert found is not None and found.tolist() == expected
    assert _ONE_HASHER.signature_of_normalized(normalized_body(paragraphs)).tolist() == expected  # type: ignore[union-attr]


def test_splitmix64_is_the_published_mixer() -> None:
    # Vigna's splitmix64.c seeded with 0: its first outputs are the mixer of k * golden gamma. Stored
    # signatures depend on every constant and shift, so they are pinned to the reference, not to us.
    from feedflow.core.neardup import _GOLDEN, splitmix64

    states = np.arange(1, 4, dtype=np.uint64) * _GOLDEN
    assert [int(v) for v in splitmix64(states)] == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]
    assert [int(v) for v in states] == [int(v) for v in np.arange(1, 4, dtype=np.uint64) * _GOLDEN]  # input kept


def test_committed_signatures_are_kept_exactly_when_a_band_key_is_wanted(tmp_path: Path) -> None:
    """Banding stored signatures of any length at once: one longer than the bands need is banded on its
    first bands × rows values, one too short to band is kept (it fails where it always did), the others
    are kept only when one of their band keys is wanted."""
    bands, rows = lsh_bands(NearDupConfig().threshold)
    rng = random.Random(5)
    a, b = ([rng.randint(-(2**31), 2**31 - 1) for _ in range(NUM_PERM)] for _ in range(2))
    longer = [*a[: bands * rows], *(rng.randint(0, 99) for _ in range(NUM_PERM + 5 - bands * rows))]
    signatures = {"a": a, "b": b, "short": a[:10], "longer": longer}
    path = tmp_path / "articles.parquet"
    pq.write_table(
        pa.table({
            "article_id": list(signatures),
            "published_at": pa.array([None] * 4, pa.timestamp("us", "UTC")),
            "duplicate_of": pa.array([None] * 4, pa.string()),
            "minhash": pa.array(list(signatures.values()), pa.list_(pa.int32())),
        }),
        path,
    )  # fmt: skip

    def kept(wanted: list[int]) -> list[str]:
        found = read_committed_signatures(str(path), np.array(sorted(wanted), np.int64), bands, rows)
        return [record.article_id for record in found]

    assert kept([band_keys(a, bands, rows)[3], 12345]) == ["a", "short", "longer"]
    assert kept([band_keys(b, bands, rows)[0]]) == ["b", "short"]
    assert kept([]) == ["short"]
    assert [r.article_id for r in read_committed_signatures(str(path))] == ["a", "b", "short", "longer"]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=40),
    st.lists(st.booleans(), min_size=40, max_size=40),
    st.integers(-(2**31), 2**31 - 1),
)
def test_stored_signatures_are_compared_as_jaccard_estimate_compares_them(
    values: list[int], keep: list[bool], other: int
) -> None:
    a = tuple(values)
    b = tuple(v if kept else other for v, kept in zip(values, keep, strict=False))
    assert _stored_jaccard(a, b) == jaccard_estimate(a, b)
    assert _stored_jaccard(a, a) == 1.0
    with pytest.raises(ValueError, match="equal length"):
        _stored_jaccard(a, (*a, 1))
    # verify() compares stored forms: the same edge as with the general estimate
    later = SigRecord("b", (1, 0, 2, "b"), b)
    earlier = SigRecord("a", (1, 0, 1, "a"), a)
    edge = verify([later], [earlier], 0.5)
    estimate = jaccard_estimate(a, b)
    assert (edge is None) == (estimate < 0.5) and (edge is None or edge.similarity == estimate)


# ------------------------------------------------------------------------------- band tables


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 5),  # band keys per member (one per band: the same for every member of a table)
    st.lists(
        st.tuples(
            st.integers(0, 1),  # committed / new
            st.integers(0, 5),  # published: few values, so ties happen
            st.integers(0, 8),  # article id: repeats are versions of one id
            st.lists(st.integers(0, 12), min_size=5, max_size=5),  # band keys: few values, many buckets shared
        ),
        max_size=25,
    ),
    st.integers(1, 4),
    st.integers(1, 3),
    st.sampled_from([(2, 3), (3, 1), (4096, 1024)]),  # chunk rows, most chunks: small ones chunk and join
)
def test_band_table_pairs_are_the_union_of_every_buckets_pairs(
    bands: int,
    members: list[tuple[int, int, int, list[int]]],
    max_bucket: int,
    parts: int,
    chunking: tuple[int, int],
) -> None:
    """Sorting per-bundle tables band by band gives exactly what one group per band key gave, however
    the members are split into tables and chunks and merged (compacted or not). Keys here repeat across
    bands on purpose (real 32-bit keys of two bands are equal only by chance): a bucket is one band's
    key, whatever the other bands hold."""
    with mock.patch.object(neardup, "_CHUNK_ROWS", chunking[0]), mock.patch.object(neardup, "_MAX_CHUNKS", chunking[1]):
        _check_band_table(bands, members, max_bucket, parts)


def _check_band_table(bands: int, members: list[tuple[int, int, int, list[int]]], max_bucket: int, parts: int) -> None:
    buckets: dict[tuple[int, int], list[tuple[int, int, int, str]]] = {}
    tables = [BandTable(max_bucket) for _ in range(parts)]
    for n, (new, published, article, keys) in enumerate(members):
        order = (new, 0, published, f"id{article}")
        tables[n % parts].add((SigRecord(order[3], order, ()), keys[:bands]))
        for band, key in enumerate(keys[:bands]):
            buckets.setdefault((band, key), []).append(order)
    expected = sorted({pair for bucket in buckets.values() for pair in bucket_pairs(bucket, max_bucket)})
    tables[-1].compact()
    merged = tables[0]  # merged into: members of its own may still wait to be chunked
    for table in tables[1:]:
        merged.merge(table)
    found = merged.result()
    assert list(found) == expected
    assert len(found) == len(expected)


def test_band_table_refuses_members_with_another_band_count() -> None:
    table = BandTable(5)
    table.add((SigRecord("a", (1, 0, 0, "a"), ()), [1, 2, 3]))
    with pytest.raises(ValueError, match="2 band keys"):
        table.add((SigRecord("b", (1, 0, 0, "b"), ()), [1, 2]))
    other = BandTable(5)
    other.add((SigRecord("c", (1, 0, 0, "c"), ()), [1, 2]))
    with pytest.raises(ValueError, match="tables of 2 and 3"):
        table.merge(other)
