"""`feedflow query`: SQL over a dataset with DuckDB, through views named after the tables.

Views are built with DuckDB's relational API over the committed files of each table (Hive
partitioning on, columns unified by name), so no path or value is ever pasted into SQL text.
A table with no files yet is an empty view with the table's schema.
"""

from __future__ import annotations

import sys
from typing import Any

import duckdb
import pyarrow as pa

from feedflow.core.dataset import Dataset
from feedflow.core.schemas import TABLES, load_schema


def connect(root: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with views ``articles, paragraphs, entities, rejects``."""
    dataset = Dataset(root)
    damaged = dataset.unreadable_files()
    for path, why in damaged.items():
        print(f"feedflow: warning: skipping damaged file {path} ({why})", file=sys.stderr)
    con = duckdb.connect()
    for table in TABLES:
        files = [str(p) for p in dataset.table_files(table) if str(p) not in damaged]
        if files:
            relation = con.read_parquet(files, hive_partitioning=True, union_by_name=True)
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
