"""`feedflow check DIR`: what is wrong with a dataset, without changing it.

Problems (kind → meaning):

``unreadable_file``     a committed Parquet file whose footer cannot be read (truncated, overwritten);
                        runs, ingest ticks and queries skip it and say so
``schema_mismatch``     a committed file whose columns or types differ from ``schemas/<table>.json``
``orphan_staging``      a staging folder of a run that did not finish; the next run removes it, or
                        completes its commit when the commit had begun (journal present)
``duplicate_article``   one (article_id, version) in more than one articles row
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from feedflow.core.dataset import JOURNAL, STAGING, Dataset
from feedflow.core.schemas import TABLES, load_schemas


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    path: str
    detail: str


def _schema_difference(path: Path, table: str) -> str | None:
    expected = load_schemas()[table].arrow
    found = pq.read_schema(path)
    if found.remove_metadata().equals(expected.remove_metadata()):
        return None
    want = {f.name: f.type for f in expected}
    have = {f.name: f.type for f in found}
    parts = []
    if missing := sorted(set(want) - set(have)):
        parts.append("missing " + ", ".join(missing))
    if extra := sorted(set(have) - set(want)):
        parts.append("unexpected " + ", ".join(extra))
    changed = sorted(n for n in set(want) & set(have) if want[n] != have[n])
    parts += [f"{n}: {have[n]} instead of {want[n]}" for n in changed]
    return "; ".join(parts) or "nullability or field order differs"


def check_dataset(root: str | os.PathLike[str]) -> tuple[list[Problem], int]:
    """All problems of the dataset at ``root`` and the number of committed files looked at."""
    dataset = Dataset(root)
    problems: list[Problem] = []
    damaged = dataset.unreadable_files()
    problems += [Problem("unreadable_file", path, why) for path, why in sorted(damaged.items())]
    files = 0
    ids: Counter[tuple[str, int]] = Counter()
    for table in TABLES:
        for path in dataset.table_files(table):
            files += 1
            if str(path) in damaged:
                continue
            difference = _schema_difference(path, table)
            if difference:
                problems.append(Problem("schema_mismatch", str(path), difference))
            elif table == "articles":
                columns = pq.read_table(path, columns=["article_id", "version"])
                ids.update(zip(columns.column(0).to_pylist(), columns.column(1).to_pylist(), strict=True))
    problems += [
        Problem("duplicate_article", "articles", f"{article_id} version {version} in {n} rows")
        for (article_id, version), n in sorted(ids.items())
        if n > 1
    ]
    staging = Path(root) / STAGING
    if staging.is_dir() and not dataset.writer_active():
        for folder in sorted(p for p in staging.iterdir() if p.is_dir()):
            journaled = (folder / JOURNAL).is_file()
            why = (
                "interrupted commit: the next run completes it"
                if journaled
                else "unfinished run: the next run removes it"
            )
            problems.append(Problem("orphan_staging", str(folder), why))
    return problems, files
