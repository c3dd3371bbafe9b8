"""The output dataset on disk: rows per table, partition paths, staged part files and the atomic commit.

Layout of a dataset folder ``DIR``::

    DIR/articles/date=YYYY-MM-DD[/source=S]/<run_id>-<n>.parquet
    DIR/paragraphs/…, DIR/entities/…          (same partitioning as articles)
    DIR/rejects/date=YYYY-MM-DD/<run_id>-<n>.parquet
    DIR/_runs/<run_id>.json                   run manifest: written last, it marks the run committed
    DIR/_staging/<run_id>/                    a run's part files until its commit (never read by queries)
    DIR/.feedflow.lock                        held by the one process writing to DIR

Commit protocol (all or nothing, crash-safe):

1. Workers write Parquet part files under ``_staging/<run_id>/<table>/<partition>/`` (each file written
   to a temporary name, then renamed, so a listed file is always complete). The pipeline's last step
   writes ``_staging/<run_id>/_files.json``: the files that the *successful* bundles produced, with row
   counts. Files of retried or failed bundles are not listed and are never committed.
2. After the pipeline finished, :func:`commit_run` checks every listed file (it exists, its Parquet
   footer has the listed row count and the table's exact schema), then writes the journal
   ``_staging/<run_id>/_commit.json`` (every move and the manifest) atomically.
3. It then renames each file into its table folder (same filesystem: each rename is atomic), checks the
   final files' row counts against the listing, writes ``_runs/<run_id>.json`` and removes the staging
   folder.

A process killed before step 2's journal exists leaves only a staging folder: :func:`recover` removes
it (rolled back). Killed after it: :func:`recover` replays the journal (rolled forward). ``recover``
runs at the start of every run under the lock, so the dataset is always either before or after a run.

Object stores (``s3://bucket/prefix``, ``gs://bucket/prefix``; :class:`ObjectStoreDataset`, through
pyarrow filesystems). A rename there is a copy plus a delete, neither atomic nor cheap, so the commit
marker is the manifest alone:

1. Workers write each part file once, straight to its final place under a name no other run can
   produce: ``<table>/<partition>/<run_id>-<uuid>.parquet`` (one PUT: an object is visible whole or
   not at all). The listing goes to ``_staging/<run_id>/_files.json`` as above.
2. :meth:`ObjectStoreDataset.commit_run` checks every listed file's footer (schema, row count), then
   writes ``_runs/<run_id>.json`` with ``committed_files`` (every file of the run, relative to DIR).
   That single PUT is the commit; the staging listing is deleted afterwards.
3. Readers read only files listed by a manifest (:meth:`Dataset.table_files`, ``feedflow query``,
   :func:`feedflow.runs.committed_files`). A run that died before its manifest leaves part files
   that no reader sees; the next run removes the ones its listing names, ``uncommitted_files()``
   lists any others (files of failed bundles) for a lifecycle rule or a manual delete.

No lock exists on an object store: one writer at a time per DIR is the operator's job there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime
from functools import lru_cache
from operator import attrgetter
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import quote, urlsplit

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from feedflow.core.faults import crash_point
from feedflow.core.schemas import TABLES, TableSchema, load_schemas
from feedflow.model import Article, Rejection

STAGING = "_staging"
RUNS = "_runs"
LOCK = ".feedflow.lock"
FILE_LISTING = "_files.json"
JOURNAL = "_commit.json"
PARTITION_KEYS = ("date", "source")
#: URI schemes of object stores; any other location is a local folder.
OBJECT_STORE_SCHEMES = ("s3", "gs", "gcs")


class DatasetError(RuntimeError):
    """The dataset folder cannot be used; the message is one line."""


class CommitError(DatasetError):
    """A run's files failed a check before or during its commit (nothing partial stays visible)."""


# ---------------------------------------------------------------------------------------------- rows


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row for one output table, with the relative partition folder it belongs in."""

    table: str
    partition: str
    row: dict[str, Any]

    @property
    def count(self) -> int:
        return 1


@dataclass(frozen=True, slots=True)
class TableRows:
    """Rows of one output table in one partition, as columns: every column of the table's schema, each
    a list of ``count`` values. An article's rows come so (one per table): the writer extends its
    buffers by whole columns and Arrow converts them from those, with no dict made per row. The 20k
    bench articles' 717,689 rows, made and written article by article: 4.4–6.4 → 3.4–3.9 CPU s (five
    pairs in turn), the same rows in the tables (DuckDB ``EXCEPT ALL`` both ways)."""

    table: str
    partition: str
    columns: dict[str, list[Any]]
    count: int


def safe_partition_value(value: str, limit: int = 120) -> str:
    """A partition folder value that cannot escape DIR or surprise a filesystem, and that Hive readers
    (DuckDB, Polars, pyarrow) decode back to the exact value: Hive-style percent-encoding of every
    byte outside ``[A-Za-z0-9_.~-]`` (so ``/``, NUL, ``..`` and look-alikes are inert), a leading dot
    encoded too; values longer than ``limit`` are cut and suffixed with a hash of the whole value.
    """
    encoded = quote(value.encode("utf-8", "surrogatepass"), safe="")
    if encoded.startswith("."):
        encoded = "%2E" + encoded[1:]
    if not encoded:
        return "unknown"
    if len(encoded) > limit:
        digest = hashlib.blake2b(value.encode("utf-8", "surrogatepass"), digest_size=6).hexdigest()
        # Cut between characters, never inside one's UTF-8 bytes: readers decode the value as UTF-8.
        head, budget = [], limit - 13
        for char in value:
            piece = quote(char.encode("utf-8", "surrogatepass"), safe="")
            if len(piece) > budget:
                break
            head.append(piece)
            budget -= len(piece)
        encoded = f"{''.join(head)}-{digest}"
        if encoded.startswith("."):
            encoded = "%2E" + encoded[1:]
    return encoded


def partition_path(day: date, source: str | None, partition_by: Sequence[str]) -> str:
    parts = [f"date={day.isoformat()}"]
    if "source" in partition_by and source is not None:
        parts.append(f"source={safe_partition_value(source)}")
    return "/".join(parts)


def article_date(article: Article) -> date:
    """The partition date: publication date in UTC when known, else the fetch (run) date."""
    return (article.published_at or article.fetched_at).date()


#: The columns of the paragraphs and entities tables that are their records' fields (Arrow takes an
#: entity's ``surface_forms`` tuple as the list it is stored as).
_PARAGRAPH_FIELDS = ("position", "text", "key_hash", "duplicate_of", "boilerplate")
_ENTITY_FIELDS = ("entity", "label", "mentions", "surface_forms", "first_offset")


def _article_child_rows(
    table: str, partition: str, article: Article, run_id: str, columns: dict[str, list[Any]], count: int
) -> TableRows:
    """Rows of a table keyed by the article (paragraphs, entities): its id, version and the run's id
    on each row besides ``columns``."""
    keyed: dict[str, list[Any]] = {"article_id": [article.article_id] * count, "version": [article.version] * count}
    return TableRows(table, partition, {**keyed, **columns, "run_id": [run_id] * count}, count)


def article_rows(article: Article, run_id: str, partition_by: Sequence[str]) -> list[TableRows]:
    """All rows an article contributes, as columns per table: one article row, its paragraphs and its
    entities (a table without rows is left out)."""
    partition = partition_path(article_date(article), article.source, partition_by)
    text = article.text
    body = article.body
    rows = [
        TableRows(
            "articles",
            partition,
            {
                "article_id": [article.article_id],
                "version": [article.version],
                "url": [article.url],
                "source": [article.source],
                "feed_url": [article.feed_url],
                "title": [article.title],
                "authors": [list(article.authors)],
                "published_at": [article.published_at],
                "fetched_at": [article.fetched_at],
                "language": [article.language],
                "summary": [article.summary],
                "text": [text],
                "word_count": [len(text.split())],
                "paragraph_count": [len(body)],
                "duplicate_paragraphs": [article.duplicate_paragraphs],
                "topics": [
                    [
                        {"code": t.code, "label": t.label, "score": t.score, "evidence": list(t.evidence)}
                        for t in article.topics
                    ]
                ],
                "entities_tagged": [article.entities_tagged],
                "content_hash": [article.content_hash],
                "page_status": [article.page_status],
                "duplicate_of": [article.duplicate_of],
                "similarity": [article.similarity],
                "minhash": [list(article.minhash) or None],
                "input": [article.input],
                "locator": [article.locator],
                "kind": [article.kind],
                "run_id": [run_id],
            },
            1,
        )
    ]
    for table, records, fields in (
        ("paragraphs", article.paragraphs, _PARAGRAPH_FIELDS),
        ("entities", article.entities, _ENTITY_FIELDS),
    ):
        if records:
            columns = {name: list(map(attrgetter(name), records)) for name in fields}
            rows.append(_article_child_rows(table, partition, article, run_id, columns, len(records)))
    return rows


def reject_row(rejection: Rejection, run_id: str, run_date: date) -> TableRow:
    return TableRow(
        "rejects",
        partition_path(run_date, None, ()),
        {
            "run_id": run_id,
            "input": rejection.input,
            "locator": rejection.locator,
            "reason": rejection.reason,
            "detail": rejection.detail,
            "excerpt": rejection.excerpt,
        },
    )


# ------------------------------------------------------------------------------------ object stores


def is_object_store(location: str | os.PathLike[str]) -> bool:
    """True for ``s3://…``, ``gs://…`` (and ``gcs://…``) locations; False for local paths."""
    return isinstance(location, str) and urlsplit(location).scheme in OBJECT_STORE_SCHEMES


@lru_cache(maxsize=16)
def _bucket_filesystem(scheme: str, bucket: str) -> pafs.FileSystem:
    # One client per bucket and process (credentials, region and endpoint come from the environment:
    # AWS_* / AWS_ENDPOINT_URL for S3, GOOGLE_APPLICATION_CREDENTIALS for GCS).
    filesystem, _ = pafs.FileSystem.from_uri(f"{scheme}://{bucket}")
    return filesystem


def object_store(uri: str) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem of an object-store URI and the key it names (``bucket/prefix/…``)."""
    parts = urlsplit(uri)
    if parts.scheme not in OBJECT_STORE_SCHEMES or not parts.netloc:
        raise DatasetError(f"not an object-store location: {uri} (use s3://bucket/prefix or gs://bucket/prefix)")
    return _bucket_filesystem(parts.scheme, parts.netloc), f"{parts.netloc}{parts.path}".rstrip("/")


def parquet_source(path: str) -> tuple[str, pafs.FileSystem | None]:
    """What pyarrow's Parquet readers take for a local path or an object-store URI: ``(path, None)``,
    or ``(key, filesystem)`` with this process's client for the bucket (see :func:`object_store`)."""
    if not is_object_store(path):
        return path, None
    filesystem, key = object_store(path)
    return key, filesystem


def _write_json_object(uri: str, document: Any) -> None:
    """One PUT: an object store shows the whole object or none of it."""
    filesystem, key = object_store(uri)
    data = (json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    with filesystem.open_output_stream(key) as out:
        out.write(data)


def _read_json(location: str | os.PathLike[str]) -> Any:
    if is_object_store(location):
        filesystem, key = object_store(str(location))
        with filesystem.open_input_stream(key) as handle:
            return json.loads(handle.read().decode("utf-8"))
    with open(location, encoding="utf-8") as handle:
        return json.load(handle)


def _exists(location: str | os.PathLike[str]) -> bool:
    if is_object_store(location):
        filesystem, key = object_store(str(location))
        return bool(filesystem.get_file_info(key).type == pafs.FileType.File)
    return Path(location).is_file()


def parts_location(staging_dir: str) -> tuple[str, str]:
    """Where a run's part files go and how their names start: local runs stage them in their own
    folder (``part-…``, moved at commit); object-store runs write them once, in their final place
    under the dataset root, named after the run (``<run_id>-…``) so no other run can collide."""
    if not is_object_store(staging_dir):
        return staging_dir, "part-"
    root, _, run_id = staging_dir.rstrip("/").rpartition(f"/{STAGING}/")
    return root, f"{run_id}-"


def part_name(prefix: str) -> str:
    """A new part file name: ``<prefix><32 hex>.parquet`` (see :func:`parts_location`)."""
    return f"{prefix}{uuid.uuid4().hex}.parquet"


def part_prefix(name: str) -> str:
    """The prefix of a part file name made by :func:`part_name` (an object-store part's ``<run_id>-``)."""
    return name[: -len(".parquet") - 32]


# -------------------------------------------------------------------------------------- part files


@dataclass(frozen=True, slots=True)
class WrittenFile:
    """A staged part file: its path relative to the run's staging folder and its row count."""

    table: str
    partition: str
    path: str
    rows: int


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write a zstd Parquet file to a temporary name beside ``path``, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, path)


class _OpenPart:
    """One part file being written: a Parquet writer on a temporary name (local) or an upload that
    becomes visible when closed (object store)."""

    def __init__(self, base: str, relpath: str, schema: pa.Schema) -> None:
        self.relpath = relpath
        self.rows = 0
        self._final: Path | None = None
        if is_object_store(base):
            filesystem, object_key = object_store(f"{base}/{relpath}")
            self._writer = pq.ParquetWriter(object_key, schema, filesystem=filesystem, compression="zstd")
        else:
            self._final = Path(base) / relpath
            self._final.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self._final.with_name(f".{self._final.name}.tmp")
            self._writer = pq.ParquetWriter(self._tmp, schema, compression="zstd")

    def write(self, data: pa.Table) -> None:
        self._writer.write_table(data)
        self.rows += data.num_rows

    def close(self) -> None:
        self._writer.close()
        if self._final is not None:
            os.replace(self._tmp, self._final)


#: What a buffered row is taken to cost besides its long values (the dict and its small values).
ROW_OVERHEAD_BYTES = 600
#: What one MinHash value of a buffered row is taken to cost (a Python int in a list).
SIGNATURE_VALUE_BYTES = 36


def buffered_size(row: Mapping[str, Any]) -> int:
    """A buffered row's approximate memory in bytes: a fixed overhead plus its ``text`` and ``minhash``
    (the values that make an article row ten times a paragraph row). Two lookups: cheap per row."""
    text = row.get("text")
    minhash = row.get("minhash")
    return ROW_OVERHEAD_BYTES + (len(text) if text else 0) + (SIGNATURE_VALUE_BYTES * len(minhash) if minhash else 0)


def _columns_size(columns: Mapping[str, list[Any]], count: int) -> int:
    """:func:`buffered_size` summed over rows given as columns."""
    size = ROW_OVERHEAD_BYTES * count
    texts = columns.get("text")
    if texts:
        size += sum(len(text) for text in texts if text)
    signatures = columns.get("minhash")
    if signatures:
        size += SIGNATURE_VALUE_BYTES * sum(len(signature) for signature in signatures if signature)
    return size


class PartFileWriter:
    """Writes rows into Parquet part files, one file per (table, partition) at a time, with exact schemas.

    One writer per bundle: ``add`` returns the files it had to close, ``flush`` closes the rest. Rows
    (one :class:`TableRow`, or :class:`TableRows` as columns) are buffered per (table, partition), as
    one list per column of the table's schema, and written as a row group when that buffer reaches
    ``row_group_rows``, or, for the largest buffers (by :func:`buffered_size`), when all buffers
    together hold more than ``max_buffered_rows`` rows or ``max_buffered_bytes``: memory stays bounded
    however many rows and partitions a bundle has (the in-process runner makes a whole stage one
    bundle). The byte bound matters: counted in rows only, the article rows (full text and signature)
    were never the largest buffers and waited for ``flush`` (at 50k articles: one row group of ~830
    article rows per partition, all held to the end).
    A file is closed at ``max_rows`` rows, when more
    than ``max_open_files`` are open (the least recently written), or at ``flush``; only closed files
    are returned, so only complete files are ever listed. ``write_ns`` is the thread CPU time spent
    writing (building Arrow tables, encoding, I/O); appending a row is not timed, as a clock read would
    cost more than the append.
    """

    def __init__(
        self,
        staging_dir: str,
        schemas: Mapping[str, TableSchema],
        max_rows: int = 1_000_000,
        row_group_rows: int = 10_000,
        max_buffered_rows: int = 20_000,
        max_open_files: int = 64,
        max_buffered_bytes: int = 32 << 20,
    ) -> None:
        if min(max_rows, row_group_rows, max_buffered_rows, max_open_files, max_buffered_bytes) < 1:
            raise ValueError("PartFileWriter limits must be at least 1")
        self._base, self._prefix = parts_location(staging_dir)
        self._schemas = schemas
        self._max_rows = max_rows
        self._row_group_rows = min(row_group_rows, max_rows)
        self._max_buffered = max_buffered_rows
        self._max_bytes = max_buffered_bytes
        self._max_open = max_open_files
        # per (table, partition): the buffered rows as one list per column of the table's schema
        self._buffers: dict[tuple[str, str], dict[str, list[Any]]] = {}
        self._counts: dict[tuple[str, str], int] = {}  # rows per buffer
        self._sizes: dict[tuple[str, str], int] = {}  # buffered_size summed per buffer
        self._buffered = 0
        self._buffered_bytes = 0
        self._open: dict[tuple[str, str], _OpenPart] = {}  # least recently written first
        self.write_ns = 0

    def add(self, rows: TableRow | TableRows) -> list[WrittenFile]:
        """Buffers one row, or rows given as columns (a column the schema has and they lack is null; one
        it lacks is refused: it would be dropped without a word)."""
        key = (rows.table, rows.partition)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = {name: [] for name in self._schemas[rows.table].arrow.names}
        names = (rows.columns if isinstance(rows, TableRows) else rows.row).keys()
        if not names <= buffer.keys():
            unknown = sorted(names - buffer.keys())
            raise ValueError(f"{rows.table} rows: {unknown} are not columns of the table's schema")
        if isinstance(rows, TableRows):
            given = rows.columns
            uneven = [name for name, values in given.items() if len(values) != rows.count]
            if uneven:  # the buffer's columns would no longer line up: say where, not at the write
                raise ValueError(f"{rows.table} rows: {rows.count} rows but columns {uneven} differ in length")
            for name, column in buffer.items():
                values = given.get(name)
                column.extend(values if values is not None else [None] * rows.count)
            size = _columns_size(given, rows.count)
        else:
            row = rows.row
            for name, column in buffer.items():
                column.append(row.get(name))
            size = buffered_size(row)
        count = self._counts[key] = self._counts.get(key, 0) + rows.count
        self._sizes[key] = self._sizes.get(key, 0) + size
        self._buffered += rows.count
        self._buffered_bytes += size
        closed: list[WrittenFile] = []
        if count >= self._row_group_rows:
            closed += self._timed(self._write_group, key)
        while self._buffered > self._max_buffered or self._buffered_bytes > self._max_bytes:
            largest = max(self._sizes, key=self._sizes.__getitem__)
            closed += self._timed(self._write_group, largest)
        return closed

    @property
    def buffered_rows(self) -> int:
        """Rows held in memory, not yet in a file (at most ``max_buffered_rows`` after each ``add``)."""
        return self._buffered

    @property
    def buffered_bytes(self) -> int:
        """Their :func:`buffered_size` in all (at most ``max_buffered_bytes`` after each ``add``)."""
        return self._buffered_bytes

    def flush(self) -> list[WrittenFile]:
        closed: list[WrittenFile] = []
        for key in sorted(self._buffers):
            closed += self._timed(self._write_group, key)
        for key in sorted(self._open):
            closed += self._timed(self._close, key)
        return closed

    def _timed(self, step: Callable[[tuple[str, str]], list[WrittenFile]], key: tuple[str, str]) -> list[WrittenFile]:
        started = time.thread_time_ns()
        try:
            return step(key)
        finally:
            self.write_ns += time.thread_time_ns() - started

    def _write_group(self, key: tuple[str, str]) -> list[WrittenFile]:
        """Writes ``key``'s buffered rows as row groups of its open file(s), closing full files."""
        columns = self._buffers.pop(key, {})
        count = self._counts.pop(key, 0)
        self._buffered -= count
        self._buffered_bytes -= self._sizes.pop(key, 0)
        schema = self._schemas[key[0]].arrow
        closed: list[WrittenFile] = []
        done = 0
        while done < count:
            part = self._open.pop(key, None)
            if part is None:
                if len(self._open) >= self._max_open:
                    closed += self._close(next(iter(self._open)))
                table, partition = key
                relpath = f"{table}/{partition}/{part_name(self._prefix)}"
                part = _OpenPart(self._base, relpath, schema)
            self._open[key] = part  # now the most recently written
            room = min(self._max_rows - part.rows, count - done)
            if done == 0 and room == count:
                chunk = columns
            else:
                chunk = {name: column[done : done + room] for name, column in columns.items()}
            part.write(pa.Table.from_pydict(chunk, schema=schema))
            done += room
            if part.rows >= self._max_rows:
                closed += self._close(key)
        return closed

    def _close(self, key: tuple[str, str]) -> list[WrittenFile]:
        part = self._open.pop(key)
        part.close()
        table, partition = key
        return [WrittenFile(table=table, partition=partition, path=part.relpath, rows=part.rows)]


# -------------------------------------------------------------------------------------- the dataset


def _write_json_atomic(path: Path, document: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, ensure_ascii=False, default=str)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class Dataset:
    """A dataset folder (see module docstring). ``Dataset("s3://…")`` or ``Dataset("gs://…")`` gives an
    :class:`ObjectStoreDataset`: same methods, the object-store commit protocol."""

    def __new__(cls, root: str | os.PathLike[str] | None = None) -> Dataset:  # None: unpickling
        if cls is Dataset and root is not None and is_object_store(root):
            return super().__new__(ObjectStoreDataset)
        return super().__new__(cls)

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self._root = Path(root)

    @property
    def root(self) -> Path:
        """The local dataset folder."""
        return self._root

    @property
    def location(self) -> str:
        """Where the dataset lives, as the user wrote it (a folder path or an object-store URI)."""
        return str(self._root)

    def staging_dir(self, run_id: str) -> Path:
        return self.root / STAGING / run_id

    def table_files(self, table: str) -> list[Path]:
        """Committed Parquet files of a table, sorted (hidden temporary names excluded)."""
        folder = self.root / table
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith("."))

    def unreadable_files(self) -> dict[str, str]:
        """Committed files whose Parquet footer cannot be read (truncated or overwritten by someone
        else), with the error. Runs skip them (reported in the manifest); `feedflow check` lists them."""
        bad: dict[str, str] = {}
        for table in TABLES:
            for path in self.table_files(table):
                problem = footer_problem(path)
                if problem:
                    bad[str(path)] = problem
        return bad

    def manifests(self) -> list[dict[str, Any]]:
        folder = self.root / RUNS
        if not folder.is_dir():
            return []
        out = []
        for path in sorted(folder.glob("*.json")):
            with open(path, encoding="utf-8") as handle:
                out.append(json.load(handle))
        return out

    def check_writable(self) -> None:
        """Create DIR if needed and prove it is writable; raise DatasetError with one line if not."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".write-probe-{uuid.uuid4().hex}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as err:
            raise DatasetError(f"output folder {self.root} is not writable: {err.strerror or err}") from err

    def writer_active(self) -> bool:
        """True while another process holds the writer lock (its staging folders are in use)."""
        path = self.root / LOCK
        if not path.is_file():
            return False
        with open(path, "a+", encoding="utf-8") as handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
        return False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the dataset's writer lock; a second writer gets DatasetError at once."""
        self.check_writable()
        path = self.root / LOCK
        handle: TextIO = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the block
        try:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EACCES):
                    handle.seek(0)
                    holder = handle.read().strip() or "another process"
                    raise DatasetError(f"{self.root} is being written by {holder}; try again later") from err
                raise
            handle.seek(0)
            handle.truncate()
            handle.write(f"feedflow pid {os.getpid()}")
            handle.flush()
            yield
        finally:
            handle.close()

    # ---------------------------------------------------------------------------------- commit

    def read_listing(self, run_id: str) -> list[WrittenFile]:
        path = self.staging_dir(run_id) / FILE_LISTING
        if not path.is_file():
            raise CommitError(f"run {run_id} left no file listing at {path}: the pipeline did not finish")
        with open(path, encoding="utf-8") as handle:
            return [WrittenFile(**item) for item in json.load(handle)["files"]]

    def commit_run(self, run_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Verify the run's staged files, journal the moves, move them into place, write the manifest.

        Returns the manifest as written, with per-table ``rows`` and ``files`` added.
        """
        staging = self.staging_dir(run_id)
        files = self.read_listing(run_id)
        schemas = load_schemas()
        rows = {table: 0 for table in TABLES}
        moves: list[tuple[str, str]] = []
        for n, item in enumerate(sorted(files, key=lambda f: f.path)):
            source = staging / item.path
            verify_part_file(source, schemas[item.table], item.rows)
            rows[item.table] += item.rows
            moves.append((item.path, f"{item.table}/{item.partition}/{run_id}-{n:05d}.parquet"))
        stats = read_stats(str(staging))
        emitted = {table: stats.get(f"rows_{table}", 0) for table in TABLES}
        if emitted != rows:
            raise CommitError(f"run {run_id}: rows sent to the writer {emitted} != rows in staged files {rows}")
        document = dict(manifest)
        document["rows"] = rows
        document["files"] = {table: sum(1 for f in files if f.table == table) for table in TABLES}
        document["committed_files"] = committed_by_table(dst for _src, dst in moves)
        _write_json_atomic(staging / JOURNAL, {"run_id": run_id, "moves": moves, "manifest": document})
        self._apply_journal(run_id)
        return document

    def _apply_journal(self, run_id: str) -> None:
        staging = self.staging_dir(run_id)
        with open(staging / JOURNAL, encoding="utf-8") as handle:
            journal = json.load(handle)
        for n, (src_rel, dst_rel) in enumerate(journal["moves"]):
            src, dst = staging / src_rel, self.root / dst_rel
            if src.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src, dst)
            elif not dst.exists():
                raise CommitError(f"run {run_id}: {src_rel} vanished before it reached {dst_rel}")
            if n == 0:
                crash_point("mid_commit")
        manifest = journal["manifest"]
        final_rows = {table: 0 for table in TABLES}
        for _src_rel, dst_rel in journal["moves"]:
            table = dst_rel.split("/", 1)[0]
            final_rows[table] += pq.read_metadata(self.root / dst_rel).num_rows
        if final_rows != manifest["rows"]:
            raise CommitError(f"run {run_id}: rows in final files {final_rows} != staged {manifest['rows']}")
        _write_json_atomic(self.root / RUNS / f"{run_id}.json", manifest)
        shutil.rmtree(staging)

    def abandon(self, run_id: str) -> bool:
        """After a failure: remove the run's staging folder unless its commit journal exists — then
        the moves have begun and only rolling forward (:meth:`recover`) keeps the tables whole.
        Returns True when the run was rolled back."""
        staging = self.staging_dir(run_id)
        if (staging / JOURNAL).is_file():
            return False
        shutil.rmtree(staging, ignore_errors=True)
        return True

    def recover(self) -> list[str]:
        """Finish journaled commits and remove abandoned staging folders; returns what was done."""
        done: list[str] = []
        folder = self.root / STAGING
        if not folder.is_dir():
            return done
        for staging in sorted(p for p in folder.iterdir() if p.is_dir()):
            if (staging / JOURNAL).is_file():
                self._apply_journal(staging.name)
                done.append(f"completed the interrupted commit of run {staging.name}")
            else:
                shutil.rmtree(staging)
                done.append(f"removed the staging files of unfinished run {staging.name}")
        return done


class ObjectStoreDataset(Dataset):
    """A dataset under an ``s3://`` or ``gs://`` prefix: part files are written once under unique
    names, the manifest's ``committed_files`` is the commit, readers read only what manifests list
    (see the module docstring). Everything goes through one pyarrow filesystem per bucket."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.uri = str(root).rstrip("/")
        self._fs, self._key = object_store(self.uri)

    @property
    def root(self) -> Path:
        raise DatasetError(f"{self.uri} is on an object store: this needs a local dataset folder")

    @property
    def location(self) -> str:
        return self.uri

    def _k(self, relpath: str) -> str:
        return f"{self._key}/{relpath}"

    def _list(self, relpath: str, suffix: str) -> list[str]:
        """Paths relative to DIR of the objects under ``relpath`` whose names end in ``suffix``."""
        selector = pafs.FileSelector(self._k(relpath), allow_not_found=True, recursive=True)
        start = len(self._key) + 1
        return sorted(
            info.path[start:]
            for info in self._fs.get_file_info(selector)
            if info.type == pafs.FileType.File and info.path.endswith(suffix) and not info.base_name.startswith(".")
        )

    def staging_dir(self, run_id: str) -> str:  # type: ignore[override]  # a URI: there is no local folder
        return f"{self.uri}/{STAGING}/{run_id}"

    def manifests(self) -> list[dict[str, Any]]:
        return [_read_json(f"{self.uri}/{path}") for path in self._list(RUNS, ".json")]

    def committed_files(self) -> dict[str, list[str]]:
        """Per table, the files that committed manifests list (paths relative to DIR)."""
        return {table: committed_files(self.manifests(), table) for table in TABLES}

    def table_files(self, table: str) -> list[str]:  # type: ignore[override]  # URIs, not local paths
        """URIs of a table's committed files: only those a manifest lists, never a crashed run's."""
        return [f"{self.uri}/{path}" for path in committed_files(self.manifests(), table)]

    def uncommitted_files(self) -> list[str]:
        """Part files under the tables that no manifest lists: a run that died before its commit, or
        failed bundles. Invisible to readers; safe to delete while no run is writing."""
        committed = {path for paths in self.committed_files().values() for path in paths}
        return [
            f"{self.uri}/{path}" for table in TABLES for path in self._list(table, ".parquet") if path not in committed
        ]

    def unreadable_files(self) -> dict[str, str]:
        bad: dict[str, str] = {}
        for paths in self.committed_files().values():
            for path in paths:
                problem = footer_problem(self._k(path), self._fs)
                if problem:
                    bad[f"{self.uri}/{path}"] = problem
        return bad

    def check_writable(self) -> None:
        probe = self._k(f".write-probe-{uuid.uuid4().hex}")
        try:
            with self._fs.open_output_stream(probe) as out:
                out.write(b"")
            self._fs.delete_file(probe)
        except OSError as err:
            raise DatasetError(f"output location {self.uri} is not writable: {str(err).splitlines()[0]}") from err

    def writer_active(self) -> bool:
        return False

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """No lock exists on an object store: proves the location writable; one writer at a time is
        the operator's job (a scheduler that never overlaps runs)."""
        self.check_writable()
        yield

    def read_listing(self, run_id: str) -> list[WrittenFile]:
        location = f"{self.staging_dir(run_id)}/{FILE_LISTING}"
        if not _exists(location):
            raise CommitError(f"run {run_id} left no file listing at {location}: the pipeline did not finish")
        return [WrittenFile(**item) for item in _read_json(location)["files"]]

    def commit_run(self, run_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
        """Check every listed part file (present, exact schema, listed row count), then write the
        manifest with ``committed_files``: that one PUT is the commit."""
        files = sorted(self.read_listing(run_id), key=lambda f: f.path)
        schemas = load_schemas()
        rows = {table: 0 for table in TABLES}
        for item in files:
            verify_part_file(self._k(item.path), schemas[item.table], item.rows, self._fs)
            rows[item.table] += item.rows
        emitted = {table: read_stats(self.staging_dir(run_id)).get(f"rows_{table}", 0) for table in TABLES}
        if emitted != rows:
            raise CommitError(f"run {run_id}: rows sent to the writer {emitted} != rows in part files {rows}")
        document = dict(manifest)
        document["rows"] = rows
        document["files"] = {table: sum(1 for f in files if f.table == table) for table in TABLES}
        document["committed_files"] = committed_by_table(f.path for f in files)
        crash_point("mid_commit")  # parts uploaded and checked, manifest not written: nothing visible
        _write_json_object(f"{self.uri}/{RUNS}/{run_id}.json", document)
        self._fs.delete_dir_contents(self._k(f"{STAGING}/{run_id}"), missing_dir_ok=True)
        return document

    def _remove_uncommitted_run(self, run_id: str) -> None:
        """Delete the part files a run's listing names (when it has one), then its staging objects."""
        listing = f"{self.staging_dir(run_id)}/{FILE_LISTING}"
        if _exists(listing):
            for item in _read_json(listing)["files"]:
                with contextlib.suppress(FileNotFoundError):
                    self._fs.delete_file(self._k(item["path"]))
        self._fs.delete_dir_contents(self._k(f"{STAGING}/{run_id}"), missing_dir_ok=True)

    def abandon(self, run_id: str) -> bool:
        """After a failure before the manifest: remove what the run's listing names. Once the
        manifest exists the run is committed and nothing is removed."""
        if _exists(f"{self.uri}/{RUNS}/{run_id}.json"):
            return False
        self._remove_uncommitted_run(run_id)
        return True

    def recover(self) -> list[str]:
        """Clean up after runs that died: a staging listing with a manifest is a committed run whose
        cleanup was cut short; one without is an unfinished run whose listed parts are deleted."""
        done: list[str] = []
        committed = {Path(path).stem for path in self._list(RUNS, ".json")}
        for run_id in sorted({path.split("/", 2)[1] for path in self._list(STAGING, "")}):
            if run_id in committed:
                self._fs.delete_dir_contents(self._k(f"{STAGING}/{run_id}"), missing_dir_ok=True)
                done.append(f"removed the leftover staging listing of committed run {run_id}")
            else:
                self._remove_uncommitted_run(run_id)
                done.append(f"removed the staging files of unfinished run {run_id}")
        return done


def committed_by_table(paths: Iterable[str]) -> dict[str, list[str]]:
    """A manifest's ``committed_files``: per table, the run's files relative to DIR, sorted."""
    out: dict[str, list[str]] = {table: [] for table in TABLES}
    for path in paths:
        out[path.split("/", 1)[0]].append(path)
    return {table: sorted(paths) for table, paths in out.items()}


def committed_files(manifests: Iterable[Mapping[str, Any]], table: str) -> list[str]:
    """The files of ``table`` (relative to DIR) that committed runs list in their manifests — the reader
    filter for object stores: anything else under the table is an uncommitted leftover."""
    return sorted({path for m in manifests for path in m.get("committed_files", {}).get(table, [])})


def footer_problem(path: str | os.PathLike[str], filesystem: pafs.FileSystem | None = None) -> str | None:
    """Why a Parquet file's footer cannot be read, or None when it can (``path`` is a key of
    ``filesystem`` when one is given)."""
    try:
        pq.read_metadata(path, filesystem=filesystem)
    except (OSError, pa.ArrowException) as err:
        return f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else 'unreadable'}"
    return None


def verify_part_file(
    path: str | os.PathLike[str], schema: TableSchema, expected_rows: int, filesystem: pafs.FileSystem | None = None
) -> None:
    """A staged file must exist, carry the table's exact schema and hold the listed row count (``path``
    is a key of ``filesystem`` when one is given)."""
    present = filesystem.get_file_info(str(path)).type == pafs.FileType.File if filesystem else Path(path).is_file()
    if not present:
        raise CommitError(f"staged file {path} is missing (lost write)")
    found = pq.read_schema(path, filesystem=filesystem)
    if not found.remove_metadata().equals(schema.arrow.remove_metadata()):
        raise CommitError(f"staged file {path} does not have the {schema.name} schema")
    rows = pq.read_metadata(path, filesystem=filesystem).num_rows
    if rows != expected_rows:
        raise CommitError(f"staged file {path} has {rows} rows, the writer reported {expected_rows}")


def write_listing(staging_dir: str, files: Sequence[WrittenFile], stats: Mapping[str, int]) -> None:
    """The pipeline's last step: record the files of successful bundles and the run's counters."""
    document = {"files": [asdict(f) for f in files], "stats": dict(sorted(stats.items()))}
    if is_object_store(staging_dir):
        _write_json_object(f"{staging_dir.rstrip('/')}/{FILE_LISTING}", document)
    else:
        _write_json_atomic(Path(staging_dir) / FILE_LISTING, document)


def read_stats(staging_dir: str) -> dict[str, int]:
    remote = is_object_store(staging_dir)
    stats: dict[str, int] = _read_json(
        f"{staging_dir.rstrip('/')}/{FILE_LISTING}" if remote else Path(staging_dir) / FILE_LISTING
    )["stats"]
    return stats


@dataclass(frozen=True, slots=True)
class KnownVersion:
    """What the dataset already holds for an article id: its latest version and that version's content."""

    article_id: str
    version: int
    content_hash: str


class IdsToDecide:
    """Which article ids of a run need choosing among copies (DropSeen's join): those with more than one
    copy in the run or a version in the dataset. Elements: ``("new", article_id)`` per article of the
    run, ``("old", article_id)`` per committed row. A combine's accumulator
    (:class:`feedflow.transforms.base.AccumulateFn`): two sets of ids, merged across bundles."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.decide: set[str] = set()

    def add(self, element: tuple[str, str]) -> None:
        side, article_id = element
        if side == "old" or article_id in self.seen:
            self.decide.add(article_id)
        self.seen.add(article_id)

    def merge(self, other: IdsToDecide) -> None:
        self.decide |= other.decide | (self.seen & other.seen)
        self.seen |= other.seen

    def compact(self) -> None:
        """Nothing to compact: sets are their own compact form."""

    def result(self) -> frozenset[str]:
        return frozenset(self.decide)


def read_known_versions(path: str, wanted: Sequence[str] | None = None) -> list[KnownVersion]:
    """(article_id, version, content_hash) of every row of one committed articles file; with ``wanted``
    (the run's new article ids), of those rows only: no other id can meet this run's articles."""
    where, filesystem = parquet_source(path)
    table = pq.read_table(where, columns=["article_id", "version", "content_hash"], filesystem=filesystem)
    if wanted is not None:
        table = table.filter(pc.is_in(table["article_id"], value_set=pa.array(wanted, pa.string())))
    return [KnownVersion(i, v, h) for i, v, h in zip(*(table.column(n).to_pylist() for n in range(3)), strict=True)]


def new_run_id(now: datetime) -> str:
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"
