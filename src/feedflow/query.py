"""`feedflow query`: SQL over a dataset with DuckDB, through views named after the tables.

Views are built with DuckDB's relational API over the committed files of each table (Hive
partitioning on, columns unified by name), so no path or value is ever pasted into SQL text.
A table with no files yet is an empty view with the table's schema.

On an object store (``s3://…``, ``gs://…``) the committed files are those the run manifests list
(see :mod:`feedflow.core.dataset`); they are read through pyarrow's filesystem as a
``pyarrow.dataset`` that DuckDB scans lazily (DuckDB's own httpfs extension would be a download at
run time). :func:`committed_dataset` is the same filter for pyarrow/Polars users.
"""

from __future__ import annotations

import sys
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pds
import pyarrow.fs as pafs

from feedflow.core.dataset import Dataset, ObjectStoreDataset, object_store
from feedflow.core.schemas import TABLES, load_schema

#: Hive partition keys and their types, as DuckDB infers them from local folder names.
_PARTITION_TYPES = {"date": pa.date32(), "source": pa.string()}


def _table_dataset(filesystem: pafs.FileSystem, base: str, keys: list[str], table: str) -> pds.Dataset:
    """Files of one table (``keys`` under ``base`` on ``filesystem``) as a lazy pyarrow dataset: Hive
    partition values decoded and typed like DuckDB's, files written before a column existed read with
    that column null."""
    schema = load_schema(table).arrow
    present = {part.split("=", 1)[0] for key in keys for part in key[len(base) + 1 :].split("/")[:-1]}
    fields = [pa.field(name, kind) for name, kind in _PARTITION_TYPES.items() if name in present]
    for field in fields:
        if field.name not in schema.names:
            schema = schema.append(field)
    partitioning = pds.partitioning(pa.schema(fields), flavor="hive")
    return pds.dataset(
        keys, schema=schema, format="parquet", filesystem=filesystem, partitioning=partitioning, partition_base_dir=base
    )


def _object_store_dataset(location: str, table: str, files: list[str]) -> pds.Dataset:
    filesystem, base = object_store(f"{location}/{table}")
    return _table_dataset(filesystem, base, [object_store(uri)[1] for uri in files], table)


def committed_dataset(location: str, table: str) -> pds.Dataset:
    """A ``pyarrow.dataset`` of one table's committed files only, in a local folder or on an object
    store: ``pl.scan_pyarrow_dataset(committed_dataset("s3://bucket/news", "articles"))`` for Polars."""
    dataset = Dataset(location)
    if isinstance(dataset, ObjectStoreDataset):
        return _object_store_dataset(dataset.location, table, dataset.table_files(table))
    files = [str(p) for p in dataset.table_files(table)]
    return _table_dataset(pafs.LocalFileSystem(), str(dataset.root / table), files, table)


#: The date column of a view whose files store ``source`` themselves (constant SQL, no data in it).
_DATE_FROM_PATH = "CAST(regexp_extract(filename, '/date=([0-9]{4}-[0-9]{2}-[0-9]{2})/', 1) AS DATE) AS date"


def _local_view(con: duckdb.DuckDBPyConnection, table: str, files: list[str]) -> duckdb.DuckDBPyRelation:
    """One table's local files with ``date`` (and ``source``) columns from their partition folders.

    DuckDB's ``hive_partitioning`` (which prunes files on partition filters) lets a folder value win
    over a file column of the same name, and a very long source is cut and hashed in its folder name.
    So a table that stores ``source`` itself (articles) under ``source=`` folders keeps its stored
    value: its partition columns are parsed from the file names instead.
    """
    stores_source = "source" in load_schema(table).arrow.names
    if not (stores_source and any("/source=" in f for f in files)):
        return con.read_parquet(files, hive_partitioning=True, union_by_name=True)
    relation = con.read_parquet(files, union_by_name=True, filename=True)
    return relation.project(f"* EXCLUDE (filename), {_DATE_FROM_PATH}")


def connect(root: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views ``articles, paragraphs, entities, rejects``."""
    dataset = Dataset(root)
    damaged = dataset.unreadable_files()
    for path, why in damaged.items():
        print(f"feedflow: warning: skipping damaged file {path} ({why})", file=sys.stderr)
    con = duckdb.connect()
    for table in TABLES:
        files = [str(p) for p in dataset.table_files(table) if str(p) not in damaged]
        if files and isinstance(dataset, ObjectStoreDataset):
            relation = con.from_arrow(_object_store_dataset(dataset.location, table, files))
        elif files:
            relation = _local_view(con, table, files)
        else:
            empty = load_schema(table).arrow.empty_table()
            empty = empty.append_column("date", pa.array([], pa.date32()))
            relation = con.from_arrow(empty)
        relation.create_view(table)
    return con


def run_query(root: str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    con = connect(root)
    try:
        relation = con.sql(sql)
        if relation is None:
            return [], []
        return list(relation.columns), relation.fetchall()
    finally:
        con.close()


def format_table(columns: list[str], rows: list[tuple[Any, ...]], max_width: int = 60) -> str:
    """A plain aligned text table."""

    def cell(value: Any) -> str:
        text = "NULL" if value is None else str(value)
        text = text.replace("\n", " ")
        return text if len(text) <= max_width else text[: max_width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)
