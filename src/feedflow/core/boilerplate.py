"""Cross-article boilerplate: paragraphs a source repeats in many of its articles.

Rule
    A paragraph is boilerplate when its dedup key (``paragraphs.key_hash``, see
    :mod:`feedflow.core.dedup`) occurs in at least ``BoilerplateConfig.min_articles`` (default 3)
    distinct articles of the same ``source``, counting this run's articles and every article already
    committed to the dataset. Boilerplate is removed from the article's body (``articles.text``, word
    and paragraph counts, topics, entities, near-duplicate signature) and kept in ``paragraphs`` with
    ``boilerplate`` = true.

Evidence
    Only a paragraph of at least ``min_chars`` (30) characters and ``min_words`` (5) words after dedup
    normalization counts, and only its first copy in its article: datelines ("WASHINGTON (Reuters) -"),
    bylines and one-word credits ("Reuters") are too short to tell a source's template from a
    coincidence. Such paragraphs are never removed by this rule (cleaning's fixed list already drops
    "Advertisement" & co.) and have ``boilerplate`` = null; long ones get true or false, a within-article
    repeat its key's value.

Copies count once
    Articles count as distinct only when their stories differ: two articles whose bodies have an
    estimated word-shingle Jaccard similarity ≥ ``SAME_STORY`` (0.4) — the same story under two URLs,
    a revised copy — are one article for counting. Otherwise three copies of one story in one source
    would make the story itself "boilerplate" and empty every copy. The estimate comes from the first
    ``SKETCH_SIZE`` (32) values of the body's MinHash signature (:mod:`feedflow.core.neardup`; for a
    new article, of its body before boilerplate removal; for a committed one, its stored
    ``articles.minhash``), carried with each piece of evidence. Per (source, key) the evidence of the
    ``keep`` smallest article ids (8 × min_articles) is kept (a CombineFn: bounded, order-free) and
    counted greedily in article_id order. Known limit: stock text that makes up most of several short
    articles (a one-line teaser + a long footer) makes them "the same story", so it is kept.

An article is never emptied: when every paragraph of its body would be removed, nothing is (all false).

Across runs, a committed paragraph is evidence when ``duplicate_of`` is null and ``boilerplate`` is not
null (files from before the column existed: by its text's length; articles without a stored
signature count as distinct stories). ``paragraphs`` rows carry no ``source``: every paragraph row is
written in the same partition folder as its article row, so one partition folder at a time is read —
its articles' ``(article_id, version) → (source, signature)`` and its paragraphs' keys — never the whole
history in one worker.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from feedflow.core.dataset import footer_problem, is_object_store, object_store, parquet_source, part_prefix
from feedflow.core.dedup import normalize_for_dedup
from feedflow.model import Article, Paragraph

#: (source, key_hash): what boilerplate is counted per.
SourceKey = tuple[str, int]
#: (article_id, sketch of the article's body): one piece of evidence for a key.
Evidence = tuple[str, tuple[int, ...]]

SKETCH_SIZE = 32
SAME_STORY = 0.4


@cache  # one compiled pattern per word count (a constant of the config, like _band_seeds in neardup)
def _words_at_least(count: int) -> re.Pattern[str]:
    """Matches where ``count`` words of the dedup key follow one another (:func:`normalize_for_dedup`
    splits at every run of ``[\\W_]``): one search instead of a match object per word (1.3 → 0.6 µs
    a paragraph). A match may only start at a word's first character, so a long text without enough
    words is scanned from each word start at most, not from every character (linear, not quadratic);
    the runs are possessive (the two classes are complements, so giving characters back never helps),
    so a failed attempt does not back off through a long run character by character."""
    return re.compile(r"(?<![^\W_])(?:[^\W_]++[\W_]++){" + str(count - 1) + r"}[^\W_]")


@dataclass(frozen=True, slots=True)
class BoilerplateConfig:
    """Cross-article boilerplate: a key in ≥ ``min_articles`` distinct stories of one source; paragraphs
    under ``min_chars`` characters or ``min_words`` words are no evidence."""

    min_articles: int = 3
    min_chars: int = 30
    min_words: int = 5

    def __post_init__(self) -> None:
        if self.min_articles < 2:
            raise ValueError(f"boilerplate needs at least 2 articles, got {self.min_articles}")

    @property
    def keep(self) -> int:
        """Evidence items kept per (source, key): the smallest article ids."""
        return 8 * self.min_articles


def long_enough(text: str, config: BoilerplateConfig) -> bool:
    """Whether a paragraph is long enough to be boilerplate evidence (see module docstring)."""
    if len(text.strip()) < config.min_chars:
        return False
    if text.isascii():  # the key's words are exactly the runs of letters and digits: find min_words of them
        wanted = config.min_words
        return wanted <= 0 or _words_at_least(wanted).search(text) is not None
    return len(normalize_for_dedup(text).split()) >= config.min_words


def sketch_of(minhash: Sequence[int] | None) -> tuple[int, ...]:
    """The story sketch: the first ``SKETCH_SIZE`` values of a stored signature (empty without one)."""
    return tuple(minhash[:SKETCH_SIZE]) if minhash and len(minhash) >= SKETCH_SIZE else ()


def same_story(a: tuple[int, ...], b: tuple[int, ...], at: float = SAME_STORY) -> bool:
    """Whether two sketches estimate a body similarity ≥ ``at`` (never without both sketches)."""
    if not a or not b:
        return False
    matches = sum(1 for x, y in zip(a, b, strict=True) if x == y)
    return matches >= at * len(a)


def evidence_keys(article: Article, config: BoilerplateConfig) -> tuple[int, ...]:
    """The sorted keys of the first copies of the article's long paragraphs: what it is evidence for."""
    return tuple(
        sorted({p.key_hash for p in article.paragraphs if p.duplicate_of is None and long_enough(p.text, config)})
    )


def evidence(article: Article, config: BoilerplateConfig) -> list[tuple[SourceKey, Evidence]]:
    """((source, key), (article_id, sketch)) for the first copy of each long paragraph of an article;
    the sketch comes from the signature of the body as built (sign it first:
    :func:`feedflow.core.neardup.sign`)."""
    return items_of(article_evidence(article, config))


#: One article's evidence in one record: (article_id, source, keys, sketch).
ArticleEvidence = tuple[str, str, tuple[int, ...], tuple[int, ...]]


def article_evidence(article: Article, config: BoilerplateConfig) -> ArticleEvidence:
    """The article's evidence as one record (see :func:`items_of`): one element per article instead of
    one per paragraph until the keys worth counting are known."""
    return article.article_id, article.source, evidence_keys(article, config), sketch_of(article.minhash)


def items_of(record: ArticleEvidence, worth: Container[int] | None = None) -> list[tuple[SourceKey, Evidence]]:
    """The ((source, key), (article_id, sketch)) items of one article's evidence; with ``worth`` (the
    mixes :class:`KeyCounter` gives) only those whose key may reach the threshold."""
    article_id, source, keys, sketch = record
    if worth is not None:
        mixes = mix_keys(source, keys)
        keys = tuple(key for key, mixed in zip(keys, mixes, strict=True) if mixed in worth)
    return [((source, key), (article_id, sketch)) for key in keys]


def mix_keys(source: str, keys: Sequence[int]) -> list[int]:
    """(source, key) pairs folded to one 64-bit integer each: the key XOR a 64-bit hash of the source
    (stable across processes, unlike ``hash``). Distinct pairs may collide: only ever used to keep a
    superset (:class:`KeyCounter`)."""
    salt = int.from_bytes(hashlib.blake2b(source.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")
    salt -= (salt >> 63) << 64  # as signed 64-bit, like the keys
    return [key ^ salt for key in keys]


#: Chunks an accumulator may hold before it sums them (bounds its size by the distinct keys).
_CHUNKS = 4096


class KeyCounter:
    """Counts, per (source, key) mix, the articles holding it and gives the mixes held by at least
    ``min_articles``: every (source, key) that can be boilerplate is among them (distinct stories ≤
    articles; collisions only add). Elements: ``("new", article evidence)`` (:func:`article_evidence`)
    or ``("old", ((source, key), committed items))``. A combine's accumulator
    (:class:`feedflow.transforms.base.AccumulateFn`): numpy arrays, 8 bytes per key."""

    def __init__(self, min_articles: int) -> None:
        self.min_articles = min_articles
        self.mixes: list[npt.NDArray[np.int64]] = []
        self.counts: list[npt.NDArray[np.int64]] = []

    def add(self, element: tuple[str, Any]) -> None:
        side, value = element
        if side == "new":
            _, source, keys, _ = value
            self._append(mix_keys(source, keys), [1] * len(keys))
        else:
            (source, key), items = value
            self._append(mix_keys(source, (key,)), [len({article_id for article_id, _ in items})])

    def _append(self, mixes: Sequence[int], counts: Sequence[int]) -> None:
        if mixes:
            self.mixes.append(np.array(mixes, dtype=np.int64))
            self.counts.append(np.array(counts, dtype=np.int64))
            if len(self.mixes) >= _CHUNKS:
                self.compact()

    def merge(self, other: KeyCounter) -> None:
        self.mixes.extend(other.mixes)
        self.counts.extend(other.counts)
        if len(self.mixes) >= _CHUNKS:
            self.compact()

    def compact(self) -> None:
        """Sums the counts per mix."""
        if len(self.mixes) > 1:
            mixes, inverse = np.unique(np.concatenate(self.mixes), return_inverse=True)
            self.mixes = [mixes]
            self.counts = [np.bincount(inverse, weights=np.concatenate(self.counts)).astype(np.int64)]

    def result(self) -> frozenset[int]:
        self.compact()
        if not self.mixes:
            return frozenset()
        return frozenset(int(m) for m in self.mixes[0][self.counts[0] >= self.min_articles])


def smallest(groups: Iterable[Iterable[Evidence]], keep: int) -> list[Evidence]:
    """The evidence of the ``keep`` smallest distinct article ids of the union (one item per id: the
    smallest), sorted: a CombineFn accumulator that does not depend on grouping or order."""
    best: dict[str, tuple[int, ...]] = {}
    for group in groups:
        for article_id, sketch in group:
            known = best.get(article_id)
            if known is None or sketch < known:
                best[article_id] = sketch
    return sorted(best.items())[:keep]


def count_stories(items: Iterable[Evidence], limit: int, same_at: float = SAME_STORY) -> int:
    """Distinct stories among the evidence, in article_id order: an item counts unless it is the same
    story as one already counted (``same_at`` > 1 counts every article). Stops at ``limit``."""
    counted: list[tuple[int, ...]] = []
    for _, sketch in sorted(items):
        if not any(same_story(sketch, other, same_at) for other in counted):
            counted.append(sketch)
            if len(counted) >= limit:
                break
    return len(counted)


def mark(article: Article, boilerplate_keys: Iterable[int], config: BoilerplateConfig) -> Article:
    """The article with every paragraph's ``boilerplate`` flag set: True for long paragraphs whose key
    is boilerplate (dropped from the body), False for other long ones, None for short ones. When the
    body changes, its signature (``minhash``) is cleared."""
    keys = set(boilerplate_keys)
    flags = [long_enough(p.text, config) for p in article.paragraphs]
    removed = {p.key_hash for p, flag in zip(article.paragraphs, flags, strict=True) if flag and p.key_hash in keys}
    if removed and all(p.key_hash in removed for p in article.paragraphs if p.duplicate_of is None):
        removed = set()  # never empty an article
    return replace(
        article,
        minhash=() if removed else article.minhash,  # a signature of the old body is stale
        paragraphs=tuple(
            Paragraph(p.position, p.text, p.key_hash, p.duplicate_of, (p.key_hash in removed) if flag else None)
            for p, flag in zip(article.paragraphs, flags, strict=True)
        ),
    )


# ------------------------------------------------------------------------------ committed data


def _split(articles_file: str) -> tuple[str, str, str]:
    """``(dataset root, partition, file name)`` of a committed articles file, a local path or a URI:
    files live at ``DIR/articles/<partition>/<name>.parquet`` (see :mod:`feedflow.core.dataset`)."""
    normalized = articles_file.replace(os.sep, "/")
    root, _, rest = normalized.rpartition("/articles/")
    partition, _, name = rest.rpartition("/")
    return root, partition, name


def partition_folder(articles_file: str) -> str:
    """The partition folder of a committed articles file, relative to its table: ``date=…[/source=…]``."""
    return _split(articles_file)[1]


def paragraph_files(articles_files: Sequence[str]) -> list[str]:
    """The committed paragraphs files of the partition folder of ``articles_files`` (one folder).

    Local: the folder's files (staging and temporary names start with a dot). Object store: the parts
    beside them written by the same runs as the committed articles files (a run writes paragraphs
    only where it writes articles), so a crashed run's leftovers are never read.
    """
    root, partition, _ = _split(articles_files[0])
    folder = f"{root}/paragraphs/{partition}"
    if not is_object_store(folder):
        local = Path(folder)
        if not local.is_dir():
            return []
        return [str(p) for p in sorted(local.glob("*.parquet")) if not p.name.startswith(".")]
    runs = {part_prefix(_split(path)[2]) for path in articles_files}
    filesystem, key = object_store(folder)
    infos = filesystem.get_file_info(pafs.FileSelector(key, allow_not_found=True))
    return sorted(
        f"{folder}/{info.base_name}"
        for info in infos
        if info.base_name.endswith(".parquet") and part_prefix(info.base_name) in runs
    )


def read_committed_evidence(
    articles_files: Sequence[str], config: BoilerplateConfig, wanted: Sequence[int] | None = None
) -> Iterator[tuple[SourceKey, Evidence]]:
    """((source, key), (article_id, sketch)) for the committed evidence paragraphs of one partition
    folder, whose committed articles files are ``articles_files`` (the paragraphs files of the same
    folder are listed beside them: an article's paragraph rows may span several files of its folder);
    per (source, key) only the ``keep`` items :func:`smallest` keeps, as the run's combine would.

    With ``wanted`` (the keys of the run's new evidence), only paragraphs with one of those keys: a key
    no new article holds decides nothing in this run, so what the run holds of its history grows with
    the run, not with the dataset."""
    if not articles_files:
        return
    wanted_keys = pa.array(wanted, pa.int64()) if wanted is not None else None
    keys: dict[tuple[str, int], set[int]] = {}
    for paragraphs_file in paragraph_files(articles_files):
        where, filesystem = parquet_source(paragraphs_file)
        if footer_problem(where, filesystem):
            continue  # a damaged committed file: the run reports it (Dataset.unreadable_files) and goes on
        marked = "boilerplate" in pq.read_schema(where, filesystem=filesystem).names
        columns = ["article_id", "version", "key_hash", "duplicate_of", "boilerplate" if marked else "text"]
        table = pq.read_table(where, columns=columns, filesystem=filesystem)
        if wanted_keys is not None:
            table = table.filter(pc.is_in(table["key_hash"], value_set=wanted_keys))
        values = [table.column(i).to_pylist() for i in range(len(columns))]
        for article_id, version, key, duplicate_of, flag in zip(*values, strict=True):
            if duplicate_of is not None:
                continue
            if (flag is not None) if marked else long_enough(flag, config):
                keys.setdefault((article_id, version), set()).add(key)
    if not keys:
        return
    needed = pa.array(sorted({article_id for article_id, _ in keys}), pa.string())
    sources: dict[tuple[str, int], tuple[str, tuple[int, ...]]] = {}
    for path in articles_files:
        where, filesystem = parquet_source(path)
        columns = ["article_id", "version", "source"]
        if "minhash" in pq.read_schema(where, filesystem=filesystem).names:
            columns.append("minhash")
        table = pq.read_table(where, columns=columns, filesystem=filesystem)
        table = table.filter(pc.is_in(table["article_id"], value_set=needed))
        rows = zip(*(table.column(i).to_pylist() for i in range(len(columns))), strict=True)
        for article_id, version, source, *minhash in rows:
            sources[(article_id, version)] = (source, sketch_of(minhash[0] if minhash else None))
    grouped: dict[SourceKey, list[Evidence]] = {}
    for (article_id, version), article_keys in keys.items():
        if (article_id, version) not in sources:
            continue  # a paragraph row of a file that is not committed (or is damaged): not history
        source, sketch = sources[(article_id, version)]
        for key in article_keys:
            grouped.setdefault((source, key), []).append((article_id, sketch))
    for source_key in sorted(grouped):  # only what the combine would keep of this folder: fewer elements
        for item in smallest([grouped[source_key]], config.keep):
            yield source_key, item
