"""End-to-end runs of `feedflow run` (in-process FnApiRunner), read back with DuckDB, Polars and pyarrow."""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from feedflow.cli import main
from feedflow.core.schemas import TABLES, load_schemas
from feedflow.query import run_query

REPO = Path(__file__).resolve().parents[1]
SEED = REPO / "seeds" / "harris_border.txt"

pytestmark = pytest.mark.slow


def rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    """SQL over the dataset's views (articles, paragraphs, entities, rejects) as `feedflow query` sees them."""
    return run_query(str(root), sql)[1]


def manifests(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / "_runs").glob("*.json"))]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under the table folders and _runs, with its bytes."""
    out = {}
    for sub in (*TABLES, "_runs"):
        folder = root / sub
        if folder.exists():
            out.update({str(p.relative_to(root)): p.read_bytes() for p in folder.rglob("*") if p.is_file()})
    return out


# ----------------------------------------------------------------------------------- the seed


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("seed") / "data"
    assert main(["run", str(SEED), "--output", str(out)]) == 0
    return out


def test_seed_article_is_cleaned_and_its_two_repeated_captions_dropped(seed_run: Path) -> None:
    [(n, dupes, text, title)] = rows(
        seed_run, "SELECT count(*), any_value(duplicate_paragraphs), any_value(text), any_value(title) FROM articles"
    )
    assert n == 1 and dupes == 2
    assert title == "Kamala Harris’ team ‘panicked’ when Biden gave her border assignment"
    assert text.count("Smugglers abandoned a 5-year-old boy") == 1
    assert text.count("Asylum-seeking migrant families wait") == 1
    assert "•" not in text
    marked = rows(seed_run, "SELECT position, duplicate_of FROM paragraphs WHERE duplicate_of IS NOT NULL ORDER BY 1")
    assert len(marked) == 2 and all(dup == pos - 1 for pos, dup in marked)


def test_seed_entities(seed_run: Path) -> None:
    found = {
        (e, label): (m, forms)
        for e, label, m, forms in rows(seed_run, "SELECT entity, label, mentions, surface_forms FROM entities")
    }
    labels = {e: label for e, label in found}
    assert labels.get("Kamala Harris") == "PERSON"
    mentions, forms = found[("Kamala Harris", "PERSON")]
    assert "Harris" in forms and mentions >= 10
    assert ("Harris", "PERSON") not in found
    assert labels.get("Biden") == "PERSON"
    for place in ("Mexico", "Guatemala", "Texas"):
        assert labels.get(place) == "LOC", place
    for org in ("CNN", "Agence France-Presse"):
        assert labels.get(org) == "ORG", org
    assert labels.get("White House") in ("LOC", "ORG")  # CoNLL-2003 tags it LOC, OntoNotes ORG/FAC
    assert labels.get("Central America") == "LOC" or labels.get("Northern Triangle") == "LOC"
    for entity, _ in found:
        assert not entity.startswith(("•", "-", "*")) and not entity.endswith(("’s", "'s", "’")), entity


def test_seed_topics_include_politics(seed_run: Path) -> None:
    [(topics,)] = rows(seed_run, "SELECT topics FROM articles")
    codes = [t["code"] for t in topics]
    assert "medtop:11000000" in codes
    assert all(0.0 <= t["score"] <= 1.0 and t["evidence"] for t in topics)


def test_every_written_file_carries_its_tables_exact_schema(seed_run: Path) -> None:
    schemas = load_schemas()
    for table in ("articles", "paragraphs", "entities"):
        files = list((seed_run / table).rglob("*.parquet"))
        assert files, table
        for path in files:
            assert pq.read_schema(path).remove_metadata().equals(schemas[table].arrow.remove_metadata())
            assert pq.ParquetFile(path).metadata.row_group(0).column(0).compression == "ZSTD"


def test_manifest_accounts_for_the_run(seed_run: Path) -> None:
    [manifest] = manifests(seed_run)
    assert manifest["counts"]["records_in"] == 1 and manifest["counts"]["articles"] == 1
    assert manifest["rows"]["paragraphs"] == rows(seed_run, "SELECT count(*) FROM paragraphs")[0][0]
    assert manifest["rows"]["entities"] == rows(seed_run, "SELECT count(*) FROM entities")[0][0]
    assert not (seed_run / "_staging").exists() or not any((seed_run / "_staging").iterdir())


# ------------------------------------------------------------------------------ a mixed run


@pytest.fixture(scope="module")
def mixed_inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder with every input kind, good and bad."""
    root = tmp_path_factory.mktemp("inputs")
    shutil.copy(SEED, root / "seed.txt")
    (root / "note.md").write_text("# Markdown title\n\nThe mayor of Lisbon opened a new bridge on Tuesday.\n")
    (root / "batch.jsonl").write_text(
        json.dumps(
            {
                "url": "https://news.example.com/a?utm_source=x",
                "title": "Alpha",
                "text": "Alpha body text.",
                "published": "2024-03-01T10:00:00Z",
                "source": "Example News",
                "authors": ["A. Writer"],
                "unknown_key": {"nested": True},
            }
        )
        + "\n"
        + "{not json\n"
        + json.dumps(["a", "list"])
        + "\n"
        + json.dumps(
            {"title": "Beta", "html": "<p>Beta paragraph one.</p><p>Beta two.</p>", "published": "March 2, 2024"}
        )
        + "\n"
    )
    (root / "page.html").write_text(
        "<html><head><title>Page title</title><link rel='canonical' href='https://site.example.org/story'>"
        "<meta property='article:published_time' content='2024-02-03T04:05:06Z'></head><body><article>"
        "<h1>Page title</h1>"
        + "".join(
            f"<p>Paragraph {i} of a long story about the harbour and its ships, "
            "told at length so the extractor keeps it.</p>"
            for i in range(6)
        )
        + "</article></body></html>"
    )
    with gzip.open(root / "page2.html.gz", "wt") as handle:
        handle.write(
            "<html><head><title>Zipped</title></head><body><article>"
            + "".join(
                f"<p>Zipped paragraph {i} describing the election results in detail for readers.</p>" for i in range(6)
            )
            + "</article></body></html>"
        )
    shutil.copy(REPO / "seeds" / "sample-feed.xml", root / "feed.xml")
    (root / "empty.txt").write_text("")
    (root / "garbage.bin.txt").write_bytes(bytes(range(256)) * 4)
    (root / "latin1.txt").write_bytes("Titre\n\nCaf\xe9 cr\xe8me".encode("latin-1"))
    (root / "truncated.xml").write_text("<?xml version='1.0'?><rss version='2.0'><channel><title>T</title><item><ti")
    (root / "wrong.json").write_text(json.dumps(42))
    (root / "blank.html").write_text("<html><body><script>var x=1;</script></body></html>")
    return root


@pytest.fixture(scope="module")
def mixed_run(mixed_inputs: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mixed") / "data"
    assert main(["run", str(mixed_inputs), "--output", str(out), "--partition-by", "date,source"]) == 0
    return out


def test_mixed_run_accounts_for_every_record(mixed_run: Path) -> None:
    [manifest] = manifests(mixed_run)
    counts = manifest["counts"]
    assert counts["records_in"] == counts["articles"] + counts["rejected"] + counts["skipped_existing"]
    n_articles = rows(mixed_run, "SELECT count(*), count(DISTINCT article_id) FROM articles")[0]
    assert n_articles[0] == n_articles[1] == counts["articles"]
    assert rows(mixed_run, "SELECT count(*) FROM rejects")[0][0] == counts["rejected"]
    reasons = dict(rows(mixed_run, "SELECT reason, count(*) FROM rejects GROUP BY 1"))
    assert reasons == manifest["rejects_by_reason"]


def test_mixed_run_rejects_bad_inputs_with_reasons(mixed_run: Path) -> None:
    by_input = {Path(i).name: r for i, r in rows(mixed_run, "SELECT input, reason FROM rejects WHERE locator = ''")}
    assert by_input["empty.txt"] == "empty_file"
    assert by_input["garbage.bin.txt"] in ("binary_file", "invalid_encoding")
    assert by_input["latin1.txt"] == "invalid_encoding"
    # feedparser recovers what it can: a feed cut inside its first item gives an empty entry, or nothing.
    truncated = set(rows(mixed_run, "SELECT reason FROM rejects WHERE input LIKE '%truncated.xml'"))
    assert truncated and truncated <= {("not_a_feed",), ("empty_feed",), ("empty_body",)}
    assert by_input["wrong.json"] == "bad_record"
    assert by_input["blank.html"] == "no_main_text"
    line_reasons = set(rows(mixed_run, "SELECT reason FROM rejects WHERE input LIKE '%batch.jsonl'"))
    assert line_reasons == {("bad_json",), ("bad_record",)}
    assert ("empty_body",) in set(rows(mixed_run, "SELECT reason FROM rejects WHERE input LIKE '%feed.xml'"))


def test_mixed_run_reads_every_kind(mixed_run: Path) -> None:
    kinds = dict(rows(mixed_run, "SELECT kind, count(*) FROM articles GROUP BY 1"))
    assert kinds.get("text") == 2 and kinds.get("json") == 2 and kinds.get("html") == 2 and kinds.get("feed") == 3
    [(url, source, authors, published)] = rows(
        mixed_run, "SELECT url, source, authors, CAST(published_at AS VARCHAR) FROM articles WHERE title = 'Alpha'"
    )
    assert url == "https://news.example.com/a" and source == "Example News" and authors == ["A. Writer"]
    assert published.startswith("2024-03-01 10:00:00")
    feed_urls = {u for (u,) in rows(mixed_run, "SELECT url FROM articles WHERE kind = 'feed'")}
    assert "https://harbourcity-gazette.example/news/flood-barrier-vote" in feed_urls


@pytest.mark.parametrize("table", TABLES)
def test_partitioned_tables_read_alike_in_duckdb_polars_and_pyarrow(mixed_run: Path, table: str) -> None:
    glob = str(mixed_run / table / "**" / "*.parquet")
    [by_duckdb] = duckdb.sql(
        f"SELECT count(*), count(DISTINCT date) FROM read_parquet('{glob}', hive_partitioning=true)"
    ).fetchall()
    frame = pl.scan_parquet(glob, hive_partitioning=True).collect()
    arrow = pads.dataset(str(mixed_run / table), format="parquet", partitioning="hive").to_table()
    assert by_duckdb[0] > 0
    assert by_duckdb[0] == frame.height == arrow.num_rows
    assert "date" in frame.columns and "date" in arrow.column_names
    if table != "rejects":
        assert "source" in arrow.column_names
        decoded = set(arrow.column("source").to_pylist())
        assert "Example News" in decoded or table != "articles"


# --------------------------------------------------------------------- re-runs and failures


def test_rerun_adds_no_rows_and_counts_what_it_skipped(mixed_inputs: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert main(["run", str(mixed_inputs), "--output", str(out), "--skip", "entities"]) == 0
    before = {t: rows(out, f"SELECT count(*) FROM {t}")[0][0] for t in ("articles", "paragraphs", "entities")}
    ids = rows(out, "SELECT article_id FROM articles ORDER BY 1")
    assert main(["run", str(mixed_inputs), "--output", str(out), "--skip", "entities"]) == 0
    after = {t: rows(out, f"SELECT count(*) FROM {t}")[0][0] for t in ("articles", "paragraphs", "entities")}
    assert after == before and rows(out, "SELECT article_id FROM articles ORDER BY 1") == ids
    first, second = manifests(out)
    assert second["counts"]["articles"] == 0
    assert second["counts"]["skipped_existing"] == first["counts"]["articles"]


def test_changed_content_under_the_same_id_becomes_the_next_version(tmp_path: Path) -> None:
    story = tmp_path / "story.jsonl"
    out = tmp_path / "data"
    first = {"url": "https://news.example.com/story", "title": "Storm nears coast", "text": "The storm is near."}
    story.write_text(json.dumps(first) + "\n")
    assert main(["run", str(story), "--output", str(out), "--skip", "entities"]) == 0
    assert main(["run", str(story), "--output", str(out), "--skip", "entities"]) == 0  # unchanged: skipped
    revised = {**first, "title": "Storm reaches coast", "text": "The storm reached the coast at dawn."}
    story.write_text(json.dumps(revised) + "\n")
    assert main(["run", str(story), "--output", str(out), "--skip", "entities"]) == 0
    versions = rows(out, "SELECT article_id, version, title FROM articles ORDER BY version")
    assert [(v, t) for _, v, t in versions] == [(1, "Storm nears coast"), (2, "Storm reaches coast")]
    assert versions[0][0] == versions[1][0]
    assert rows(out, "SELECT version, text FROM paragraphs ORDER BY version") == [
        (1, "The storm is near."),
        (2, "The storm reached the coast at dawn."),
    ]
    assert [m["counts"]["skipped_existing"] for m in manifests(out)] == [0, 1, 0]


def test_a_run_that_fails_midway_leaves_the_dataset_unchanged(
    mixed_inputs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "data"
    assert main(["run", str(SEED), "--output", str(out), "--skip", "entities"]) == 0
    before = snapshot(out)
    from feedflow.core import tagging

    real: Callable[..., Any] = tagging.TopicStep.__call__
    seen = {"n": 0}

    def fail_on_third(self: tagging.TopicStep, article: Any) -> Any:
        seen["n"] += 1
        if seen["n"] == 3:
            raise RuntimeError("injected failure in the middle of the run")
        return real(self, article)

    monkeypatch.setattr(tagging.TopicStep, "__call__", fail_on_third)
    with pytest.raises(Exception, match="injected failure"):
        main(["run", str(mixed_inputs), "--output", str(out), "--skip", "entities"])
    assert seen["n"] >= 3
    assert snapshot(out) == before
    assert not any((out / "_staging").iterdir())


def test_two_workers_write_the_same_rows_as_one(mixed_inputs: Path, mixed_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "data"
    assert (
        main(["run", str(mixed_inputs), "--output", str(out), "--partition-by", "date,source", "--workers", "2"]) == 0
    )
    [manifest] = manifests(out)
    assert manifest["settings"]["workers"] == 2
    for table, cols in {
        "articles": "article_id, title, text, topics, source, date",
        "paragraphs": "article_id, position, key_hash, duplicate_of",
        "entities": "article_id, entity, label, mentions, first_offset",
        "rejects": "input, locator, reason",
    }.items():
        query = f"SELECT {cols} FROM {table} ORDER BY ALL"
        assert rows(out, query) == rows(mixed_run, query), table


# --------------------------------------------------------------------------------- the CLI


def test_missing_input_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope.txt"), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("feedflow: error:") and "nope.txt" in err[0]


def test_unwritable_output_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", str(SEED), "--output", str(blocker / "out")]) == 2
    assert "not writable" in capsys.readouterr().err


def test_query_command_prints_a_table(seed_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    sql = "SELECT entity, label FROM entities WHERE entity = 'Kamala Harris'"
    assert main(["query", str(seed_run), sql]) == 0
    out = capsys.readouterr().out
    assert "Kamala Harris" in out and "PERSON" in out and "(1 row)" in out
    assert main(["query", str(seed_run), "SELECT * FROM no_such_table"]) == 1


# ------------------------------------------------------------------------------ URLs and OPML


def test_feed_urls_and_opml_over_http(http_server: Any, closed_port_url: str, tmp_path: Path) -> None:
    feed = (REPO / "seeds" / "feeds" / "markets.rss").read_bytes()
    good = http_server.route("/markets.rss", feed, headers={"Content-Type": "application/rss+xml"})
    missing = http_server.url("/gone.xml")
    opml = http_server.route(
        "/list.opml",
        f'<?xml version="1.0"?><opml version="2.0"><body><outline type="rss" xmlUrl="{good}"/>'
        f'<outline type="rss" xmlUrl="{missing}"/></body></opml>',
        headers={"Content-Type": "text/x-opml"},
    )
    out = tmp_path / "data"
    # The OPML's feeds are data from the network on 127.0.0.1: allowed explicitly for this test.
    assert main(["run", opml, closed_port_url, "--output", str(out), "--skip", "entities", "--allow-private"]) == 0
    articles = rows(out, "SELECT feed_url, fetched_at IS NOT NULL, url FROM articles ORDER BY url")
    assert [a[0] for a in articles] == [good, good] and all(a[1] for a in articles)
    assert articles[0][2] == "https://markets.example.com/companies/carmaker-job-cuts"
    reasons = dict(rows(out, "SELECT input, reason FROM rejects"))
    assert reasons == {missing: "http_404", closed_port_url: "url_unreachable"}
    [manifest] = manifests(out)
    assert manifest["counts"] == {**manifest["counts"], "records_in": 4, "articles": 2, "rejected": 2}


# ------------------------------------------------------------------- shared data (optional)


@pytest.mark.shared_data
@pytest.mark.parametrize("folder", ["news-feeds", "feedparser-tests"])
def test_shared_feed_corpora_run_end_to_end_with_every_entry_accounted_for(
    eval_data: Path, folder: str, tmp_path: Path
) -> None:
    """Every file of the corpus through the pipeline: no crash, and each record is an article or a reject."""
    out = tmp_path / "data"
    assert main(["run", str(eval_data / folder), "--output", str(out), "--skip", "entities,topics"]) == 0
    [manifest] = manifests(out)
    counts = manifest["counts"]
    assert counts["records_in"] >= sum(1 for p in (eval_data / folder).rglob("*") if p.is_file())
    assert counts["records_in"] == counts["articles"] + counts["rejected"]
    assert rows(out, "SELECT count(*) FROM articles")[0][0] == counts["articles"] > 0
    assert rows(out, "SELECT count(*) FROM rejects")[0][0] == counts["rejected"]
    # every input file shows up as an article or a reject
    files = {str(p) for p in (eval_data / folder).rglob("*") if p.is_file() and not p.name.startswith(".")}
    seen = {i for (i,) in rows(out, "SELECT input FROM articles UNION SELECT input FROM rejects")}
    assert files - seen == set()


# ------------------------------------------------------------------- damaged datasets, `check`


def test_a_damaged_committed_file_is_skipped_reported_and_listed_by_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "data"
    assert main(["run", str(SEED), "--output", str(out), "--skip", "entities"]) == 0
    assert main(["check", str(out)]) == 0
    [articles_file] = list((out / "articles").rglob("*.parquet"))
    articles_file.write_bytes(articles_file.read_bytes()[:100])  # truncated by someone else
    (out / "_staging" / "20200101T000000Z-dead00").mkdir(parents=True)
    capsys.readouterr()
    assert main(["check", str(out)]) == 1
    report = capsys.readouterr().out
    assert "unreadable_file" in report and articles_file.name in report
    assert "orphan_staging" in report and "20200101T000000Z-dead00" in report
    # a run over the damaged dataset completes, skips the file, says so, and cleans the orphan
    assert main(["run", str(SEED), "--output", str(out), "--skip", "entities"]) == 0
    assert "damaged committed file(s) skipped" in capsys.readouterr().out
    latest = manifests(out)[-1]
    assert list(latest["damaged_files"]) == [str(articles_file)]
    assert latest["counts"]["articles"] == 1  # the damaged file's article could not be seen as known
    assert rows(out, "SELECT count(*) FROM articles") == [(1,)]  # queries skip the damaged file too
    assert not (out / "_staging" / "20200101T000000Z-dead00").exists()


def test_check_finds_duplicate_ids_and_schema_mismatches(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    assert main(["run", str(SEED), "--output", str(out), "--skip", "entities"]) == 0
    [articles_file] = list((out / "articles").rglob("*.parquet"))
    import shutil as _shutil

    _shutil.copy(articles_file, articles_file.with_name("copy.parquet"))
    table = pq.read_table(articles_file).drop_columns(["summary"])
    pq.write_table(table, articles_file.with_name("old.parquet"))
    capsys.readouterr()
    assert main(["check", str(out)]) == 1
    report = capsys.readouterr().out
    assert "duplicate_article" in report and "schema_mismatch" in report and "missing summary" in report
