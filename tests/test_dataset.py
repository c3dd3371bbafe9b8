"""The dataset on disk: part files with exact schemas, the atomic commit, recovery, partition paths, lock."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import quote, unquote

import duckdb
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feedflow.core import dataset as ds
from feedflow.core.dataset import CommitError, Dataset, DatasetError, PartFileWriter, safe_partition_value
from feedflow.core.schemas import load_schemas
from feedflow.model import Rejection


def _stage(root: Path, run_id: str, n_rejects: int) -> Dataset:
    dataset = Dataset(root)
    staging = dataset.staging_dir(run_id)
    writer = PartFileWriter(str(staging), load_schemas(), max_rows=2)
    files = []
    for i in range(n_rejects):
        rejection = Rejection(input=f"in{i}.txt", locator="", reason="empty_file", detail="d", excerpt="")
        files += writer.add(ds.reject_row(rejection, run_id, date(2024, 1, 2)))
    files += writer.flush()
    ds.write_listing(str(staging), files, {"rows_rejects": n_rejects})
    return dataset


def _reject_rows(root: Path) -> list[tuple[str, str]]:
    return duckdb.sql(
        f"SELECT input, CAST(date AS VARCHAR) FROM read_parquet('{root}/rejects/**/*.parquet', hive_partitioning=true)"
        " ORDER BY input"
    ).fetchall()


def test_commit_moves_every_staged_row_into_the_table_and_writes_the_manifest(tmp_path: Path) -> None:
    dataset = _stage(tmp_path, "r1", 5)
    manifest = dataset.commit_run("r1", {"run_id": "r1"})
    assert manifest["rows"]["rejects"] == 5 and manifest["files"]["rejects"] == 3
    assert _reject_rows(tmp_path) == [(f"in{i}.txt", "2024-01-02") for i in range(5)]
    assert (tmp_path / "_runs" / "r1.json").is_file()
    assert not dataset.staging_dir("r1").exists()
    for path in dataset.table_files("rejects"):
        assert pq.read_schema(path).remove_metadata().equals(load_schemas()["rejects"].arrow.remove_metadata())


def test_commit_refuses_when_rows_sent_differ_from_rows_staged(tmp_path: Path) -> None:
    dataset = _stage(tmp_path, "r1", 3)
    ds.write_listing(str(dataset.staging_dir("r1")), dataset.read_listing("r1"), {"rows_rejects": 4})
    with pytest.raises(CommitError, match="rows sent to the writer"):
        dataset.commit_run("r1", {"run_id": "r1"})
    assert dataset.table_files("rejects") == [] and not (tmp_path / "_runs").exists()


def test_commit_refuses_a_lost_staged_file(tmp_path: Path) -> None:
    dataset = _stage(tmp_path, "r1", 3)
    first = dataset.read_listing("r1")[0]
    (dataset.staging_dir("r1") / first.path).unlink()
    with pytest.raises(CommitError, match="missing"):
        dataset.commit_run("r1", {"run_id": "r1"})
    assert dataset.abandon("r1") is True
    assert dataset.table_files("rejects") == [] and not dataset.staging_dir("r1").exists()


def test_a_commit_interrupted_mid_moves_is_rolled_forward(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = _stage(tmp_path, "r1", 5)
    real_replace = os.replace
    moves = {"n": 0}

    def crash_after_two_moves(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
        if str(dst).endswith(".parquet") and "/rejects/" in str(dst):
            moves["n"] += 1
            if moves["n"] > 2:
                raise OSError("simulated crash")
        real_replace(src, dst)

    monkeypatch.setattr(ds.os, "replace", crash_after_two_moves)
    with pytest.raises(OSError, match="simulated crash"):
        dataset.commit_run("r1", {"run_id": "r1"})
    monkeypatch.setattr(ds.os, "replace", real_replace)
    assert dataset.abandon("r1") is False  # journal written: must roll forward, not back
    assert Dataset(tmp_path).recover() == ["completed the interrupted commit of run r1"]
    assert _reject_rows(tmp_path) == [(f"in{i}.txt", "2024-01-02") for i in range(5)]
    assert (tmp_path / "_runs" / "r1.json").is_file()


def test_recover_removes_unjournaled_staging(tmp_path: Path) -> None:
    _stage(tmp_path, "r1", 2)
    assert Dataset(tmp_path).recover() == ["removed the staging files of unfinished run r1"]
    assert not (tmp_path / "_staging" / "r1").exists() and Dataset(tmp_path).table_files("rejects") == []


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    dataset = Dataset(tmp_path)
    with dataset.lock(), pytest.raises(DatasetError, match="being written by feedflow pid"), Dataset(tmp_path).lock():
        pass
    with dataset.lock():  # released after the block
        pass


def test_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(DatasetError, match="not writable"):
        Dataset(blocker / "sub").check_writable()


@pytest.mark.parametrize(
    "value", ["../../etc", "..", ".", "a/b", "a\x00b", "x" * 500, "ﬁle", "bbc.co.uk", "", "bad\udcffname"]
)
def test_partition_values_cannot_escape_the_folder(value: str) -> None:
    safe = safe_partition_value(value)
    assert "/" not in safe and "\x00" not in safe and not safe.startswith(".")
    assert 0 < len(safe) <= 120


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_short_partition_values_decode_back_exactly(value: str) -> None:
    safe = safe_partition_value(value)
    assert "/" not in safe and not safe.startswith(".")
    if value and len(quote(value, safe="")) <= 120:
        assert unquote(safe) == value


def test_partition_path() -> None:
    assert ds.partition_path(date(2021, 6, 1), "bbc.co.uk", ("date",)) == "date=2021-06-01"
    assert ds.partition_path(date(2021, 6, 1), "bbc.co.uk", ("date", "source")) == "date=2021-06-01/source=bbc.co.uk"


def test_run_ids_sort_by_time() -> None:
    early = ds.new_run_id(datetime(2024, 1, 1, tzinfo=UTC))
    late = ds.new_run_id(datetime(2024, 1, 2, tzinfo=UTC))
    assert early < late


def test_the_part_writer_bounds_memory_over_many_partitions_and_loses_no_row(tmp_path: Path) -> None:
    # 7 partitions, a 5-row budget, row groups of 3, at most 2 files open: rows reach files as row
    # groups long before the bundle ends, every file listed is complete, and every row is in one file.
    staging = tmp_path / "_staging" / "r1"
    limits = {"max_rows": 4, "row_group_rows": 3, "max_buffered_rows": 5, "max_open_files": 2}
    writer = PartFileWriter(str(staging), load_schemas(), **limits)
    files = []
    for i in range(50):
        rejection = Rejection(input=f"in{i:02d}.txt", locator="", reason="empty_file", detail="d", excerpt="")
        files += writer.add(ds.reject_row(rejection, "r1", date(2024, 1, 1 + i % 7)))
        assert writer.buffered_rows <= 5
        for listed in files:  # a file is returned only once it is closed and readable
            assert pq.ParquetFile(staging / listed.path).metadata.num_rows == listed.rows <= 4
    files += writer.flush()
    assert writer.buffered_rows == 0
    assert sum(f.rows for f in files) == 50 and len({f.path for f in files}) == len(files)
    on_disk = sorted(p.relative_to(staging).as_posix() for p in staging.rglob("*.parquet"))
    assert on_disk == sorted(f.path for f in files)  # no temporary file left behind
    parts = f"{staging}/rejects/**/*.parquet"
    query = f"SELECT input, CAST(date AS VARCHAR) FROM read_parquet('{parts}', hive_partitioning=1)"
    rows = duckdb.sql(query).fetchall()
    assert sorted(rows) == sorted((f"in{i:02d}.txt", f"2024-01-0{1 + i % 7}") for i in range(50))


def test_the_part_writer_bounds_buffered_bytes_so_long_rows_are_not_kept_to_the_end(tmp_path: Path) -> None:
    # Many short rows in one partition, few long ones in another: counted in rows, the long rows are
    # never the largest buffer and would wait for flush() (30 of them: 168 kB against a 44 kB budget);
    # by size they are written out as soon as they are the largest.
    staging = tmp_path / "_staging" / "r1"
    budget = 40 * ds.ROW_OVERHEAD_BYTES + 20_000
    writer = PartFileWriter(str(staging), load_schemas(), max_buffered_rows=1_000, max_buffered_bytes=budget)

    def row(n: int, partition: str, text: str) -> ds.TableRow:
        values = {"article_id": f"a{n}", "version": 1, "position": 0, "text": text, "key_hash": n,
                  "duplicate_of": None, "boilerplate": None, "run_id": "r1"}  # fmt: skip
        return ds.TableRow("paragraphs", partition, values)

    files = []
    for n in range(300):
        long_row = n % 10 == 0
        files += writer.add(
            row(n, "date=2024-01-02" if long_row else "date=2024-01-01", "x" * 5_000 if long_row else "short")
        )
        assert writer.buffered_bytes <= budget and writer.buffered_rows <= 1_000
    files += writer.flush()
    assert writer.buffered_bytes == 0 and writer.buffered_rows == 0
    assert sum(f.rows for f in files) == 300
    texts = duckdb.sql(f"SELECT text FROM read_parquet('{staging}/paragraphs/**/*.parquet')").fetchall()
    assert sorted(t for (t,) in texts) == sorted("x" * 5_000 if n % 10 == 0 else "short" for n in range(300))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 9), st.sampled_from(["date=2024-01-01", "date=2024-01-02"]), st.booleans()),
        max_size=12,
    )
)
def test_rows_as_columns_and_single_rows_reach_the_files_as_the_same_rows(
    tmp_path_factory: pytest.TempPathFactory, batches: list[tuple[int, str, bool]]
) -> None:
    # Batches of paragraph rows given as columns (TableRows) and the same rows one by one (TableRow),
    # mixed in one buffer, cut by small limits (a batch longer than a file, files closed early): every
    # row lands once, with its values; a column the batch lacks is null.
    staging = tmp_path_factory.mktemp("cols") / "_staging" / "r1"
    writer = PartFileWriter(str(staging), load_schemas(), max_rows=5, row_group_rows=4, max_buffered_rows=7)
    files, expected, n = [], [], 0
    for count, partition, as_columns in batches:
        values = [(f"a{n + i}", 1, i, f"text {n + i}", n + i, None, i % 2 == 0, "r1") for i in range(count)]
        n += count
        names = ["article_id", "version", "position", "text", "key_hash", "duplicate_of", "boilerplate", "run_id"]
        if as_columns:
            columns = {name: [v[k] for v in values] for k, name in enumerate(names) if name != "duplicate_of"}
            files += writer.add(ds.TableRows("paragraphs", partition, columns, count))
        else:
            for v in values:
                files += writer.add(ds.TableRow("paragraphs", partition, dict(zip(names, v, strict=True))))
        expected += [(v[0], v[3], v[4], v[5], v[6], partition.removeprefix("date=")) for v in values]
        assert writer.buffered_rows <= 7
    files += writer.flush()
    assert writer.buffered_rows == 0 and sum(f.rows for f in files) == n
    assert all(f.rows <= 5 for f in files)
    if n:
        query = (
            "SELECT article_id, text, key_hash, duplicate_of, boilerplate, CAST(date AS VARCHAR) "
            f"FROM read_parquet('{staging}/paragraphs/**/*.parquet', hive_partitioning=1)"
        )
        assert sorted(duckdb.sql(query).fetchall()) == sorted(expected)


def test_rows_whose_columns_differ_in_length_are_refused_where_they_are_added(tmp_path: Path) -> None:
    writer = PartFileWriter(str(tmp_path / "_staging" / "r1"), load_schemas())
    columns = {"article_id": ["a1", "a2"], "version": [1], "position": [0, 1], "text": ["x", "y"]}
    with pytest.raises(ValueError, match=r"2 rows but columns \['version'\]"):
        writer.add(ds.TableRows("paragraphs", "date=2024-01-01", columns, 2))
    assert writer.buffered_rows == 0 and writer.flush() == []


def test_a_column_the_schema_lacks_is_refused_not_dropped(tmp_path: Path) -> None:
    """A misspelt column ("postion") would have been left out of the file and the schema's column written
    null, without a word; as columns or as one row, it is refused where it is added, and nothing is
    buffered."""
    writer = PartFileWriter(str(tmp_path / "_staging" / "r1"), load_schemas())
    columns = {"article_id": ["a1"], "version": [1], "postion": [0], "text": ["x"]}
    with pytest.raises(ValueError, match=r"\['postion'\] are not columns"):
        writer.add(ds.TableRows("paragraphs", "date=2024-01-01", columns, 1))
    with pytest.raises(ValueError, match=r"\['postion'\] are not columns"):
        writer.add(ds.TableRow("paragraphs", "date=2024-01-01", {k: v[0] for k, v in columns.items()}))
    assert writer.buffered_rows == 0 and writer.flush() == []


def test_a_rows_buffered_size_counts_its_text_and_signature() -> None:
    assert ds.buffered_size({"text": "abc"}) == ds.ROW_OVERHEAD_BYTES + 3
    assert ds.buffered_size({"text": None, "minhash": [1] * 128}) == ds.ROW_OVERHEAD_BYTES + 36 * 128
    assert ds.buffered_size({"entity": "x" * 100}) == ds.ROW_OVERHEAD_BYTES
