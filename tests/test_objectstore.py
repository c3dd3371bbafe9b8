"""Output on an object store (S3 through moto's server on 127.0.0.1, through pyarrow's S3 filesystem):
part files are written once under unique names, the run manifest is the commit, readers read only
what manifests list. A run killed between the part uploads and the manifest leaves nothing visible,
and the rerun commits its rows exactly once."""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.fs as pafs
import pytest

from feedflow.cli import main
from feedflow.core import dataset as ds
from feedflow.core.dataset import CommitError, Dataset, ObjectStoreDataset, PartFileWriter
from feedflow.core.schemas import load_schemas
from feedflow.model import Rejection
from feedflow.query import committed_dataset, run_query

moto_server = pytest.importorskip("moto.server", reason="moto[s3] and flask (the test extra) are not installed")

REPO = Path(__file__).resolve().parents[1]
SEEDS = [str(REPO / "seeds" / n) for n in ("harris_border.txt", "sample-feed.xml", "feeds.opml")]
FAST = ["--skip", "entities"]  # NER is not what these tests are about; everything else runs
ARTICLE_SQL = "SELECT article_id, version, title, text, duplicate_of, CAST(date AS VARCHAR) FROM articles ORDER BY ALL"


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (random port) and the AWS_* environment pyarrow reads — also in
    subprocesses and Beam workers, like real credentials would be."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": endpoint, "AWS_EC2_METADATA_DISABLED": "true"}  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        ds._bucket_filesystem.cache_clear()
        try:
            yield endpoint
        finally:
            ds._bucket_filesystem.cache_clear()
            server.stop()


@pytest.fixture
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A fresh bucket per test; returns ``s3://<bucket>/news``."""
    name = request.node.name.lower().replace("_", "-")[:40].strip("-") + f"-{os.getpid()}"
    admin = pafs.S3FileSystem(endpoint_override=s3_endpoint.removeprefix("http://"), scheme="http",
                              access_key="testing", secret_key="testing", allow_bucket_creation=True)  # fmt: skip
    admin.create_dir(name)
    return f"s3://{name}/news"


def _objects(uri: str) -> list[str]:
    filesystem, key = ds.object_store(uri)
    infos = filesystem.get_file_info(pafs.FileSelector(key, recursive=True, allow_not_found=True))
    return sorted(i.path[len(key) + 1 :] for i in infos if i.type == pafs.FileType.File)


def _stage(uri: str, run_id: str, n_rejects: int) -> ObjectStoreDataset:
    dataset = Dataset(uri)
    assert isinstance(dataset, ObjectStoreDataset)
    staging = dataset.staging_dir(run_id)
    writer = PartFileWriter(staging, load_schemas(), max_rows=2)
    files = []
    for i in range(n_rejects):
        rejection = Rejection(input=f"in{i}.txt", locator="", reason="empty_file", detail="d", excerpt="")
        files += writer.add(ds.reject_row(rejection, run_id, date(2024, 1, 2)))
    files += writer.flush()
    ds.write_listing(staging, files, {"rows_rejects": n_rejects})
    return dataset


def _count(uri: str, table: str) -> int:
    value: int = run_query(uri, f"SELECT count(*) FROM {table}")[1][0][0]
    return value


# ------------------------------------------------------------------------------ the protocol, unit


def test_parts_land_in_place_under_run_named_keys_and_only_the_manifest_commits(bucket: str) -> None:
    dataset = _stage(bucket, "r1", 5)
    parts = [p for p in _objects(bucket) if p.endswith(".parquet")]
    assert len(parts) == 3 and all(p.startswith("rejects/date=2024-01-02/r1-") for p in parts)
    assert dataset.table_files("rejects") == [] and _count(bucket, "rejects") == 0  # uploaded, not committed
    assert committed_dataset(bucket, "rejects").count_rows() == 0
    assert sorted(dataset.uncommitted_files()) == [f"{bucket}/{p}" for p in parts]

    manifest = dataset.commit_run("r1", {"run_id": "r1"})
    assert manifest["rows"]["rejects"] == 5 and manifest["committed_files"]["rejects"] == parts
    assert dataset.table_files("rejects") == [f"{bucket}/{p}" for p in parts] and dataset.uncommitted_files() == []
    assert committed_dataset(bucket, "rejects").count_rows() == 5
    assert run_query(bucket, "SELECT input, CAST(date AS VARCHAR) FROM rejects ORDER BY 1")[1] == [
        (f"in{i}.txt", "2024-01-02") for i in range(5)
    ]
    assert not any(p.startswith("_staging/") for p in _objects(bucket))


def test_datasets_survive_pickling_into_workers(bucket: str, tmp_path: Path) -> None:
    _stage(bucket, "r1", 1).commit_run("r1", {"run_id": "r1"})
    remote = pickle.loads(pickle.dumps(Dataset(bucket)))
    on_disk = pickle.loads(pickle.dumps(Dataset(tmp_path)))
    assert isinstance(remote, ObjectStoreDataset) and len(remote.table_files("rejects")) == 1
    assert type(on_disk) is Dataset and on_disk.root == tmp_path


def test_commit_refuses_a_lost_part_and_abandon_removes_what_the_listing_names(bucket: str) -> None:
    dataset = _stage(bucket, "r1", 3)
    filesystem, key = ds.object_store(bucket)
    lost = dataset.read_listing("r1")[0].path
    filesystem.delete_file(f"{key}/{lost}")
    with pytest.raises(CommitError, match="missing"):
        dataset.commit_run("r1", {"run_id": "r1"})
    assert dataset.manifests() == [] and _count(bucket, "rejects") == 0
    assert dataset.abandon("r1") is True
    assert _objects(bucket) == []


def test_recover_deletes_an_unfinished_runs_listed_parts_and_keeps_committed_runs(bucket: str) -> None:
    _stage(bucket, "r1", 2).commit_run("r1", {"run_id": "r1"})
    _stage(bucket, "r2", 2)  # died after its listing, before its manifest
    assert Dataset(bucket).recover() == ["removed the staging files of unfinished run r2"]
    assert [p for p in _objects(bucket) if "/r2-" in p or "_staging" in p] == []
    assert _count(bucket, "rejects") == 2


def test_the_documented_duckdb_filter_reads_only_committed_files(tmp_path: Path) -> None:
    """docs/runners.md: the same filter in SQL, for DuckDB users (shown on a local folder, where DuckDB
    needs no extension; on s3:// it is the same SQL with httpfs loaded)."""
    committed = Dataset(tmp_path)
    staging = committed.staging_dir("r1")
    writer = PartFileWriter(str(staging), load_schemas())
    files = writer.add(ds.reject_row(Rejection("a.txt", "", "empty_file", "d", ""), "r1", date(2024, 1, 2)))
    files += writer.flush()
    ds.write_listing(str(staging), files, {"rows_rejects": 1})
    committed.commit_run("r1", {"run_id": "r1"})
    stray = tmp_path / "rejects" / "date=2024-01-02" / "crashed-run-part.parquet"
    stray.write_bytes(next((tmp_path / "rejects" / "date=2024-01-02").glob("*.parquet")).read_bytes())
    con = duckdb.connect()
    con.execute(
        "SET VARIABLE committed = (SELECT list(concat(?, '/', f)) FROM "
        "(SELECT unnest(committed_files.rejects) AS f FROM read_json(concat(?, '/_runs/*.json'))))",
        [str(tmp_path), str(tmp_path)],
    )
    filtered = con.sql("SELECT count(*) FROM read_parquet(getvariable('committed'), hive_partitioning=true)")
    assert filtered.fetchall() == [(1,)]
    everything = con.execute("SELECT count(*) FROM read_parquet(?)", [f"{tmp_path}/rejects/**/*.parquet"])
    assert everything.fetchall() == [(2,)]  # a plain glob sees the stray file


# --------------------------------------------------------------------------- feedflow run on S3


def test_ingest_refuses_an_object_store_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    feeds = tmp_path / "feeds.txt"
    feeds.write_text(SEEDS[1] + "\n")
    assert main(["ingest", "--feeds", str(feeds), "--output", "s3://bucket/news", "--once"]) == 2
    assert "must be a local folder" in capsys.readouterr().err


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds run into a local folder: what every S3 run must equal."""
    out = tmp_path_factory.mktemp("local") / "data"
    assert main(["run", *SEEDS, "--output", str(out), *FAST]) == 0
    return out


@pytest.mark.slow
def test_a_run_on_s3_writes_the_rows_of_a_local_run(bucket: str, local: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="feedflow")
    assert main(["run", *SEEDS, "--output", bucket, *FAST]) == 0
    assert "Beam runner: FnApiRunner (in-process, 1 SDK worker in this process)" in caplog.text
    for sql in (
        ARTICLE_SQL,
        "SELECT article_id, position, key_hash, duplicate_of FROM paragraphs ORDER BY ALL",
        "SELECT input, locator, reason FROM rejects ORDER BY ALL",
    ):
        expected = run_query(str(local), sql)[1]
        assert expected and run_query(bucket, sql)[1] == expected, sql
    assert committed_dataset(bucket, "articles").count_rows() == _count(str(local), "articles")
    # The articles waited for their lookups in spill files on S3; the commit took those away.
    (first,) = Dataset(bucket).manifests()
    assert first["metrics"]["Spill.files"] >= 1
    assert _objects(bucket) and not [key for key in _objects(bucket) if key.endswith(".spill")]
    # A second run into the bucket reads the committed history back from S3: nothing is new.
    assert main(["run", *SEEDS, "--output", bucket, *FAST]) == 0
    assert run_query(bucket, ARTICLE_SQL)[1] == run_query(str(local), ARTICLE_SQL)[1]
    manifests: list[dict[str, Any]] = Dataset(bucket).manifests()
    assert [m["counts"]["articles"] for m in manifests] == [_count(str(local), "articles"), 0]


@pytest.mark.slow
def test_a_crash_between_part_uploads_and_manifest_is_invisible_and_the_rerun_commits_once(
    bucket: str, local: Path
) -> None:
    crashed = subprocess.run(
        [sys.executable, "-m", "feedflow.cli", "run", *SEEDS, "--output", bucket, *FAST],
        env={**os.environ, "FEEDFLOW_CRASH_AT": "mid_commit"}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    dataset = Dataset(bucket)
    assert isinstance(dataset, ObjectStoreDataset)
    leftovers = [p for p in _objects(bucket) if p.endswith(".parquet")]
    assert leftovers and dataset.manifests() == []  # parts uploaded and verified; no manifest
    for table in ("articles", "paragraphs", "rejects"):
        assert _count(bucket, table) == 0, table
        assert committed_dataset(bucket, table).count_rows() == 0

    assert main(["run", *SEEDS, "--output", bucket, *FAST]) == 0
    assert run_query(bucket, ARTICLE_SQL)[1] == run_query(str(local), ARTICLE_SQL)[1]
    ids = run_query(bucket, "SELECT count(*), count(DISTINCT article_id) FROM articles")[1][0]
    assert ids[0] == ids[1] == _count(str(local), "articles")
    assert len(dataset.manifests()) == 1
    assert dataset.uncommitted_files() == [] and not set(leftovers) & set(_objects(bucket))


@pytest.mark.slow
def test_boilerplate_counts_the_committed_history_on_s3_as_on_a_local_folder(bucket: str, tmp_path: Path) -> None:
    """A footer in two articles of run 1 and a third of run 2 is boilerplate in run 2: on S3 the evidence of
    run 1 comes from the committed paragraphs parts (listed by run), exactly as from a local folder."""
    from test_crossdedup import body, record, write_jsonl

    footer = "Listen to the Harbour Gazette podcast every Friday for the week's news, interviews and local sport."
    first = [
        record("https://gazette.example.com/a", "Gazette A", [*body(601), footer], "2024-04-01T08:00:00Z"),
        record("https://gazette.example.com/b", "Gazette B", [*body(602), footer], "2024-04-02T08:00:00Z"),
    ]
    second = [record("https://gazette.example.com/c", "Gazette C", [*body(603), footer], "2024-04-04T08:00:00Z")]
    runs = [write_jsonl(tmp_path / "run1.jsonl", first), write_jsonl(tmp_path / "run2.jsonl", second)]
    local = tmp_path / "data"
    for out in (str(local), bucket):
        for run in runs:
            assert main(["run", str(run), "--output", out, "--skip", "entities,topics"]) == 0
    sql = "SELECT a.title, p.position, p.boilerplate FROM paragraphs p JOIN articles a USING (article_id) ORDER BY ALL"
    expected = run_query(str(local), sql)[1]
    assert [(title, flag) for title, _, flag in expected if flag] == [("Gazette C", True)]
    assert run_query(bucket, sql)[1] == expected
