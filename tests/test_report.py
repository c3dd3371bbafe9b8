"""`feedflow report`: the aggregation queries on a small dataset written here (expected numbers worked out by
hand from the rows below), the HTML (escaping, sections, no network), the CLI, and the report opened in
headless Chromium (skipped with a reason when Chromium is not installed)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from feedflow import report as rp
from feedflow.cli import main
from feedflow.core.dataset import write_parquet_atomic
from feedflow.core.schemas import load_schema
from feedflow.query import connect

A, B, C = "alpha.example", "beta.example", "gamma.example"
F1 = "https://alpha.example/feed.xml"
F2_LISTED, F2_FETCHED = "https://beta.example/rss", "https://beta.example/rss2"
XSS_ENTITY = "<script>window.__pwned=1</script>"
XSS_EXCERPT = '<img src=x onerror="window.__pwned=1">'
POLITICS = ("medtop:11000000", "politics")
ECONOMY = ("medtop:04000000", "economy, business and finance")
SPORT = ("medtop:15000000", "sport")
RUN1, RUN2 = "20240301T000000Z-aaaaaa", "20240310T000000Z-bbbbbb"

# The dataset: (id, version, source, date, language, feed_url, topics, paragraphs' duplicate_of, entities).
# a2 has two versions: only version 2 (dated 03-02, economy) may count anywhere.
ARTICLES: list[dict[str, Any]] = [
    {
        "id": "a1",
        "v": 1,
        "source": A,
        "date": date(2024, 3, 1),
        "lang": "en",
        "feed": F1,
        "topics": [POLITICS, ECONOMY],
        "paragraphs": [None, None, 0],
        "entities": [("Ada Lovelace", "PERSON", 3), ("Acme", "ORG", 1), ("Paris", "GPE", 2)],
    },
    {
        "id": "a2",
        "v": 1,
        "source": A,
        "date": date(2024, 3, 1),
        "lang": "en",
        "feed": F1,
        "topics": [POLITICS],
        "paragraphs": [None, 0],
        "entities": [("Ada Lovelace", "PERSON", 5), ("Old Corp", "ORG", 4)],
    },
    {
        "id": "a2",
        "v": 2,
        "source": A,
        "date": date(2024, 3, 2),
        "lang": "en",
        "feed": F1,
        "topics": [ECONOMY],
        "paragraphs": [None, None],
        "entities": [("Ada Lovelace", "PERSON", 1), ("Paris", "LOC", 1)],
    },
    {
        "id": "a3",
        "v": 1,
        "source": A,
        "date": date(2024, 3, 8),
        "lang": "de",
        "feed": F1,
        "topics": [SPORT],
        "paragraphs": [None],
        "entities": [("Bob Stone", "PERSON", 2), ("Acme", "ORG", 2)],
    },
    {
        "id": "a4",
        "v": 1,
        "source": B,
        "date": date(2024, 3, 8),
        "lang": "en",
        "feed": F2_FETCHED,
        "topics": [],
        "paragraphs": [None, None, 0, 1],
        "entities": [("Acme", "ORG", 1), ("Berlin", "GPE", 1)],
    },
    {
        "id": "a5",
        "v": 1,
        "source": B,
        "date": date(2024, 3, 9),
        "lang": "en",
        "feed": None,
        "topics": [ECONOMY],
        "paragraphs": [None, None],
        "entities": [("Bob Stone", "PERSON", 1), ("Berlin", "GPE", 2), ("Paris", "GPE", 1)],
    },
    {
        "id": "a6",
        "v": 1,
        "source": C,
        "date": date(2024, 3, 14),
        "lang": "fr",
        "feed": None,
        "topics": [POLITICS, SPORT],
        "paragraphs": [None],
        "entities": [("Ada Lovelace", "PERSON", 1), (XSS_ENTITY, "ORG", 1)],
    },
]

REJECTS = [
    (RUN1, "feed.xml", "entry 3", "empty_body", "only boilerplate", "Advertisement"),
    (RUN2, "feed.xml", "entry 9", "empty_body", "only boilerplate", XSS_EXCERPT),
    (RUN2, "feed2.xml", "entry 1", "empty_body", "only boilerplate", "Share this"),
    (RUN2, "broken.jsonl", "line 2", "bad_json", "Expecting value", "{oops"),
]

FEEDS = [
    # url, fetch_url, title, last_status, http, error, failures, polled, success, due, interval, seen
    (F1, F1, "Alpha news", "ok", 200, None, 0, "2024-03-14T10:00:00+00:00", "2024-03-14T10:00:00+00:00",
     "2024-03-14T10:15:00+00:00", 900, 40),
    (F2_LISTED, F2_FETCHED, "Beta & Co", "not_modified", 304, None, 0, "2024-03-14T10:00:00+00:00",
     "2024-03-14T10:00:00+00:00", "2024-03-14T11:00:00+00:00", 3600, 12),
    ("https://gamma.example/atom", "https://gamma.example/atom", "Gamma", "feed_http_500", 500, "<b>boom</b>", 3,
     "2024-03-14T10:00:00+00:00", None, "2024-03-14T12:00:00+00:00", 7200, 0),
]  # fmt: skip


# Columns of the cross-article dedup (newer feedflow). The test datasets are written without them, as an older
# feedflow wrote them, and get them back only as explicit `extra` fields.
NEWER_COLUMNS = {"duplicate_of", "similarity", "minhash"}


def _table(table: str, rows: list[dict[str, Any]], extra: Sequence[pa.Field] = ()) -> pa.Table:
    schema = load_schema(table).arrow
    for name in sorted(NEWER_COLUMNS | {"boilerplate"}):
        if name in schema.names and not (table == "paragraphs" and name == "duplicate_of"):
            schema = schema.remove(schema.get_field_index(name))
    for f in extra:
        schema = schema.append(f)
    return pa.Table.from_pylist(rows, schema=schema)


def _article_row(a: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    published = datetime(a["date"].year, a["date"].month, a["date"].day, 9, 30, tzinfo=UTC)
    return {
        "article_id": a["id"],
        "version": a["v"],
        "url": f"https://{a['source']}/{a['id']}",
        "source": a["source"],
        "feed_url": a["feed"],
        "title": f"Title of {a['id']}",
        "authors": [],
        "published_at": published,
        "fetched_at": published,
        "language": a["lang"],
        "summary": None,
        "text": "body",
        "word_count": 1,
        "paragraph_count": len(a["paragraphs"]),
        "duplicate_paragraphs": sum(1 for d in a["paragraphs"] if d is not None),
        "topics": [{"code": c, "label": label, "score": 0.5, "evidence": []} for c, label in a["topics"]],
        "entities_tagged": True,
        "content_hash": f"h-{a['id']}-{a['v']}",
        "input": "test.jsonl",
        "locator": "",
        "kind": "json",
        "run_id": RUN1,
        **(extra or {}),
    }


def write_dataset(
    root: Path,
    articles: list[dict[str, Any]],
    *,
    article_extra: Sequence[pa.Field] = (),
    paragraph_extra: Sequence[pa.Field] = (),
) -> Path:
    """One Parquet file per (table, article) in Hive date partitions, as feedflow lays them out."""
    for n, a in enumerate(articles):
        part = f"date={a['date'].isoformat()}"
        write_parquet_atomic(
            _table("articles", [_article_row(a, a.get("extra"))], article_extra),
            root / "articles" / part / f"{n:03d}.parquet",
        )
        paragraphs = [
            {
                "article_id": a["id"],
                "version": a["v"],
                "position": i,
                "text": f"p{i}",
                "key_hash": i,
                "duplicate_of": dup,
                "run_id": RUN1,
                **({"boilerplate": i in a.get("boilerplate", ())} if paragraph_extra else {}),
            }
            for i, dup in enumerate(a["paragraphs"])
        ]
        write_parquet_atomic(
            _table("paragraphs", paragraphs, paragraph_extra), root / "paragraphs" / part / f"{n:03d}.parquet"
        )
        entities = [
            {
                "article_id": a["id"],
                "version": a["v"],
                "entity": e,
                "label": label,
                "mentions": m,
                "surface_forms": [e],
                "first_offset": 0,
                "run_id": RUN1,
            }
            for e, label, m in a.get("entities", [])
        ]
        if entities:
            write_parquet_atomic(_table("entities", entities), root / "entities" / part / f"{n:03d}.parquet")
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_dataset(tmp_path_factory.mktemp("report") / "data", ARTICLES)
    rejects = [
        {"run_id": r, "input": i, "locator": loc, "reason": reason, "detail": d, "excerpt": x}
        for r, i, loc, reason, d, x in REJECTS
    ]
    write_parquet_atomic(_table("rejects", rejects), root / "rejects" / "date=2024-03-10" / "0.parquet")
    runs = root / "_runs"
    runs.mkdir()
    for run_id, started, articles in ((RUN1, "2024-03-01T00:00:00+00:00", 5), (RUN2, "2024-03-10T00:00:00+00:00", 2)):
        manifest = {
            "run_id": run_id,
            "started_at": started,
            "seconds": 1.5,
            "counts": {"records_in": articles + 2, "articles": articles, "rejected": 2, "skipped_existing": 0,
                       "paragraphs": 10, "entities": 7},
        }  # fmt: skip
        (runs / f"{run_id}.json").write_text(json.dumps(manifest))
    (runs / "20240311T000000Z-broken.json").write_text("{not json")
    state = root / "_state"
    state.mkdir()
    db = sqlite3.connect(state / "feeds.sqlite")
    db.execute(
        "CREATE TABLE feeds (url TEXT PRIMARY KEY, fetch_url TEXT NOT NULL, title TEXT, last_status TEXT, "
        "last_http_status INTEGER, last_error TEXT, consecutive_failures INTEGER NOT NULL DEFAULT 0, "
        "last_polled_at TEXT, last_success_at TEXT, next_due_at TEXT, interval_seconds INTEGER, "
        "entries_seen INTEGER NOT NULL DEFAULT 0, active INTEGER NOT NULL DEFAULT 1)"
    )
    db.executemany(f"INSERT INTO feeds VALUES ({', '.join('?' * 12)}, 1)", FEEDS)
    db.commit()
    db.close()
    return root


@pytest.fixture
def con(dataset: Path) -> Iterator[Any]:
    connection = connect(str(dataset))
    yield connection
    connection.close()


MARCH_8_14 = rp.Filters(since=date(2024, 3, 8), until=date(2024, 3, 14))


# ------------------------------------------------------------------------------------------ queries


def test_overview_counts_latest_versions_only(con: Any) -> None:
    ov = rp.overview(con, rp.Filters())
    assert (ov.articles, ov.sources, ov.language_count) == (6, 3, 3)
    assert (ov.first_date, ov.last_date) == (date(2024, 3, 1), date(2024, 3, 14))
    assert ov.languages == [("en", 4), ("de", 1), ("fr", 1)]
    assert [(s.source, s.articles, s.first_date, s.last_date) for s in ov.top_sources] == [
        (A, 3, date(2024, 3, 1), date(2024, 3, 8)),
        (B, 2, date(2024, 3, 8), date(2024, 3, 9)),
        (C, 1, date(2024, 3, 14), date(2024, 3, 14)),
    ]


def test_overview_caps_languages_with_other(con: Any) -> None:
    assert rp.overview(con, rp.Filters(), languages=1).languages == [("en", 4), (rp.OTHER, 2)]


def test_filters_dates_and_sources(con: Any) -> None:
    ov = rp.overview(con, rp.Filters(since=date(2024, 3, 2), until=date(2024, 3, 9)))
    assert (ov.articles, ov.sources) == (4, 2)  # a2 v2, a3, a4, a5
    assert rp.overview(con, rp.Filters(sources=(B, C))).articles == 3
    assert rp.overview(con, rp.Filters(since=date(2024, 3, 9), sources=(A,))).articles == 0


@pytest.mark.parametrize("hostile", ["x' OR '1'='1", "'); DROP TABLE articles; --", "o'reilly.example"])
def test_filter_values_are_parameters_not_sql(con: Any, hostile: str) -> None:
    assert rp.overview(con, rp.Filters(sources=(hostile,))).articles == 0
    assert rp.overview(con, rp.Filters()).articles == 6


def test_filter_description() -> None:
    f = rp.Filters(since=date(2024, 3, 8), until=date(2024, 3, 14), sources=("o'reilly",))
    assert f.describe() == "WHERE date BETWEEN DATE '2024-03-08' AND DATE '2024-03-14' AND source IN ('o''reilly')"
    assert rp.Filters().describe() == "no filter (all dates, all sources)"
    assert rp.Filters(until=date(2024, 1, 2)).describe() == "WHERE date <= DATE '2024-01-02'"


def test_runs_newest_first_and_unreadable_counted(dataset: Path) -> None:
    runs = rp.runs(dataset)
    assert runs.total == 3 and runs.unreadable == 1
    assert [(r.run_id, r.articles, r.records_in) for r in runs.latest] == [(RUN2, 2, 4), (RUN1, 5, 7)]
    assert rp.runs(dataset, limit=2).latest == [runs.latest[0]]  # only the 2 newest files are read


def test_rejects_by_reason_with_examples(con: Any) -> None:
    found = rp.rejects_by_reason(con, examples=2)
    assert [(r.reason, r.count, len(r.examples)) for r in found] == [("empty_body", 3, 2), ("bad_json", 1, 1)]
    # latest run first, then input, locator
    assert [(x.input, x.locator) for x in found[0].examples] == [("feed.xml", "entry 9"), ("feed2.xml", "entry 1")]
    assert found[0].examples[0].excerpt == XSS_EXCERPT


def test_volume_top_sources_and_other(con: Any) -> None:
    series = rp.volume_by_day(con, rp.Filters(), top_n=2)
    assert [(s.name, s.days, s.counts) for s in series] == [
        (A, [date(2024, 3, 1), date(2024, 3, 2), date(2024, 3, 8)], [1, 1, 1]),
        (B, [date(2024, 3, 8), date(2024, 3, 9)], [1, 1]),
        (rp.OTHER, [date(2024, 3, 14)], [1]),
    ]


def test_top_entities_overall(con: Any) -> None:
    top = rp.top_entities(con, rp.Filters())
    assert top["PERSON"] == [rp.EntityCount("Ada Lovelace", 3, 5), rp.EntityCount("Bob Stone", 2, 3)]
    assert top["place"] == [rp.EntityCount("Paris", 3, 4), rp.EntityCount("Berlin", 2, 3)]  # GPE + LOC
    # "Old Corp" is only in a2's old version
    assert top["ORG"] == [rp.EntityCount("Acme", 3, 4), rp.EntityCount(XSS_ENTITY, 1, 1)]
    assert rp.top_entities(con, rp.Filters(), limit=1)["ORG"] == [rp.EntityCount("Acme", 3, 4)]


def test_top_entities_in_period_and_by_source(con: Any) -> None:
    assert rp.top_entities(con, MARCH_8_14)["PERSON"] == [
        rp.EntityCount("Bob Stone", 2, 3),
        rp.EntityCount("Ada Lovelace", 1, 1),
    ]
    assert rp.top_entities(con, rp.Filters(sources=(B,)))["place"] == [
        rp.EntityCount("Berlin", 2, 3),
        rp.EntityCount("Paris", 1, 1),
    ]
    assert rp.top_entities(con, rp.Filters(sources=("nobody",))) == {"PERSON": [], "ORG": [], "place": []}


def test_entity_period(con: Any) -> None:
    assert rp.entity_period(con, rp.Filters()) == rp.Period(date(2024, 3, 8), date(2024, 3, 14))  # last 7 days
    assert rp.entity_period(con, rp.Filters(until=date(2024, 3, 9))) == rp.Period(date(2024, 3, 3), date(2024, 3, 9))
    assert rp.entity_period(con, rp.Filters(sources=(B,))) == rp.Period(date(2024, 3, 3), date(2024, 3, 9))
    assert rp.entity_period(con, rp.Filters(sources=("nobody",))) is None
    period = rp.entity_period(con, MARCH_8_14)
    assert period is not None and period.days == 7
    assert (period.previous_start, period.previous_end) == (date(2024, 3, 1), date(2024, 3, 7))


def test_rising_entities(con: Any) -> None:
    period = rp.Period(date(2024, 3, 8), date(2024, 3, 14))
    rising = rp.rising_entities(con, rp.Filters(), period)
    assert [(r.entity, r.kind, r.current, r.previous) for r in rising] == [
        ("Berlin", "place", 2, 0),
        ("Bob Stone", "PERSON", 2, 0),
        ("Acme", "ORG", 2, 1),
        (XSS_ENTITY, "ORG", 1, 0),
    ]  # Paris (1 vs 2) and Ada Lovelace (1 vs 2) fell
    only_b = rp.rising_entities(con, rp.Filters(sources=(B,)), period)
    assert [(r.entity, r.current, r.previous) for r in only_b] == [
        ("Berlin", 2, 0),
        ("Acme", 1, 0),
        ("Bob Stone", 1, 0),
        ("Paris", 1, 0),
    ]


def test_entity_daily_mentions_zero_filled(con: Any) -> None:
    daily = rp.entity_daily(
        con, rp.Filters(), [("Paris", "place"), ("Bob Stone", "PERSON")], date(2024, 3, 1), date(2024, 3, 14)
    )
    assert daily[("Paris", "place")] == [2, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0]
    assert daily[("Bob Stone", "PERSON")] == [0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0]


def test_topic_mix_primary_and_any(con: Any) -> None:
    assert rp.topic_mix(con, rp.Filters()) == [
        rp.TopicCount(ECONOMY[0], ECONOMY[1], primary=2, tagged=3),
        rp.TopicCount(POLITICS[0], POLITICS[1], primary=2, tagged=2),
        rp.TopicCount(SPORT[0], SPORT[1], primary=1, tagged=2),
        rp.TopicCount("", rp.NO_TOPIC, primary=1, tagged=0),
    ]


def test_topics_by_source(con: Any) -> None:
    tbs = rp.topics_by_source(con, rp.Filters(), top_n=2)
    assert tbs.sources == [A, B, rp.OTHER]
    assert tbs.counts == {
        (A, "politics"): 1,
        (A, ECONOMY[1]): 1,
        (A, "sport"): 1,
        (B, ECONOMY[1]): 1,
        (B, rp.NO_TOPIC): 1,
        (rp.OTHER, "politics"): 1,
    }
    assert tbs.labels == [ECONOMY[1], "politics", "sport", rp.NO_TOPIC]


def test_dedup_paragraphs_per_source_without_new_columns(con: Any) -> None:
    columns = rp.dedup_columns(con)
    assert columns == rp.DedupColumns(boilerplate=None, duplicate_of=False, similarity=False)
    rows = rp.dedup_by_source(con, rp.Filters(), columns)
    assert [(r.source, r.articles, r.paragraphs, r.duplicate_paragraphs) for r in rows] == [
        (A, 3, 6, 1),
        (B, 2, 6, 2),
        (C, 1, 1, 0),
    ]
    assert all(r.boilerplate_paragraphs is None and r.near_duplicates is None for r in rows)
    assert rp.syndication_clusters(con, rp.Filters(), columns) == []


NEAR_DUP_ARTICLES: list[dict[str, Any]] = [
    {"id": "x1", "v": 1, "source": A, "date": date(2024, 5, 1), "paragraphs": [None, None], "boilerplate": [1],
     "extra": {"duplicate_of": None, "similarity": None}},
    {"id": "x2", "v": 1, "source": B, "date": date(2024, 5, 1), "paragraphs": [None, None, 0], "boilerplate": [0, 2],
     "extra": {"duplicate_of": "x1", "similarity": 0.75}},
    {"id": "x3", "v": 1, "source": C, "date": date(2024, 5, 2), "paragraphs": [None],
     "extra": {"duplicate_of": "x1", "similarity": 0.5}},
    {"id": "x4", "v": 1, "source": B, "date": date(2024, 5, 2), "paragraphs": [None],
     "extra": {"duplicate_of": "x5", "similarity": 1.0}},
    {"id": "x5", "v": 1, "source": A, "date": date(2024, 5, 1), "paragraphs": [None],
     "extra": {"duplicate_of": None, "similarity": None}},
]  # fmt: skip
for _a in NEAR_DUP_ARTICLES:
    _a.update(lang="en", feed=None, topics=[])


@pytest.fixture(scope="module")
def near_dup_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(
        tmp_path_factory.mktemp("neardup") / "data",
        NEAR_DUP_ARTICLES,
        article_extra=[pa.field("duplicate_of", pa.string()), pa.field("similarity", pa.float32())],
        paragraph_extra=[pa.field("boilerplate", pa.bool_())],
    )


def test_dedup_with_cross_article_columns(near_dup_dataset: Path) -> None:
    con = connect(str(near_dup_dataset))
    try:
        columns = rp.dedup_columns(con)
        assert columns == rp.DedupColumns(boilerplate="BOOLEAN", duplicate_of=True, similarity=True)
        rows = rp.dedup_by_source(con, rp.Filters(), columns)
        assert [
            (r.source, r.articles, r.paragraphs, r.duplicate_paragraphs, r.boilerplate_paragraphs, r.near_duplicates)
            for r in rows
        ] == [(A, 2, 3, 0, 1, 0), (B, 2, 4, 1, 2, 2), (C, 1, 1, 0, 0, 1)]
        assert rows[0].mean_similarity is None
        assert rows[1].mean_similarity == pytest.approx(0.875)
        clusters = rp.syndication_clusters(con, rp.Filters(), columns)
        assert [(c.canonical_id, c.title, c.size, c.sources, c.source_count) for c in clusters] == [
            ("x1", "Title of x1", 3, [A, B, C], 3),
            ("x5", "Title of x5", 2, [A, B], 2),
        ]
        assert clusters[0].mean_similarity == pytest.approx(0.625)
        # the copies are filtered; the original is looked up among all articles
        only_c = rp.syndication_clusters(con, rp.Filters(sources=(C,)), columns)
        assert [(c.canonical_id, c.size, c.sources) for c in only_c] == [("x1", 2, [A, C])]
    finally:
        con.close()


def test_read_feeds_failing_first_read_only(dataset: Path) -> None:
    path = dataset / "_state" / "feeds.sqlite"
    before = path.read_bytes()
    state = rp.read_feeds(dataset)
    assert path.read_bytes() == before and not (dataset / "_state" / "feeds.sqlite-journal").exists()
    assert (state.present, state.error, state.total, state.failing, state.missing_columns) == (True, None, 3, 1, [])
    assert [f.title for f in state.feeds] == ["Gamma", "Alpha news", "Beta & Co"]
    gamma = state.feeds[0]
    assert (gamma.consecutive_failures, gamma.last_http_status, gamma.last_error) == (3, 500, "<b>boom</b>")
    assert gamma.last_success_at is None and gamma.next_due_at == "2024-03-14T12:00:00+00:00"


def test_read_feeds_absent(tmp_path: Path) -> None:
    state = rp.read_feeds(tmp_path)
    assert not state.present and state.feeds == []


def test_feed_articles_by_url_or_fetch_url(con: Any) -> None:
    counts = rp.feed_articles(con, rp.Filters(), [F1, F2_LISTED, F2_FETCHED, "https://gamma.example/atom"])
    assert counts == {F1: rp.FeedArticles(3, 3), F2_FETCHED: rp.FeedArticles(1, 1)}
    assert rp.feed_articles(con, MARCH_8_14, [F1]) == {F1: rp.FeedArticles(1, 1)}
    series = rp.feed_volume_by_day(con, rp.Filters(), top_n=1)
    assert [(s.name, s.counts) for s in series] == [(F1, [1, 1, 1]), (rp.OTHER, [1])]


# --------------------------------------------------------------------------------------------- HTML


def render(dataset: Path, filters: rp.Filters | None = None) -> str:
    return rp.render_html(rp.build_report(str(dataset), filters or rp.Filters()), js="/* plotly.js left out */")


def test_html_has_every_section_and_a_caption_per_chart(dataset: Path) -> None:
    page = render(dataset)
    for section in ("overview", "volume", "entities", "topics", "dedup", "feeds"):
        assert f'<section id="{section}">' in page
    data = rp.build_report(str(dataset), rp.Filters())
    charts = [c for s in rp.build_sections(data) for c in s.charts if c.css_class != "spark"]
    assert len(charts) >= 10
    assert all(c.caption and ("filter" in c.caption or "WHERE" in c.caption) for c in charts)
    assert page.count('data-chart-for="chart-') == len(charts) + len(data.rising)


def test_html_escapes_untrusted_text(dataset: Path) -> None:
    page = render(dataset)
    for raw in (XSS_ENTITY, XSS_EXCERPT, "<b>boom</b>"):
        assert raw not in page
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page  # rising-entities table
    assert "&lt;img src=x onerror=&#34;window.__pwned=1&#34;&gt;" in page  # reject excerpt
    assert "&lt;b&gt;boom&lt;/b&gt;" in page and "Beta &amp; Co" in page  # feeds table
    # chart JSON: no "<" at all; the label itself is HTML-escaped for plotly.js
    assert "\\u003cscript\\u003e" not in page
    assert "\\u0026lt;script\\u0026gt;window.__pwned=1" in page


def test_html_loads_nothing_from_outside(dataset: Path) -> None:
    page = rp.render_html(rp.build_report(str(dataset), rp.Filters()))
    lowered = page.lower()
    assert "<link" not in lowered and "@import" not in lowered and "<iframe" not in lowered
    assert "<script src" not in lowered and "<img" not in lowered.replace("&lt;img", "")
    assert "content-security-policy" in lowered and "default-src 'none'" in lowered
    assert page.count("<script>") == 2  # plotly.js and the loader; chart data are application/json


def test_html_notes_missing_columns_and_feeds(dataset: Path, tmp_path: Path) -> None:
    page = render(dataset)
    assert "paragraphs.boilerplate is not in this dataset" in page
    assert "articles.duplicate_of is not in this dataset" in page
    bare = write_dataset(tmp_path / "bare", ARTICLES[:1])
    assert "No ingest state here" in render(bare)


def test_html_with_cross_article_columns(near_dup_dataset: Path) -> None:
    page = render(near_dup_dataset)
    assert "Largest syndication clusters" in page and "Title of x1" in page
    assert "is not in this dataset" not in page
    assert "The entities table is empty" in page


def test_filtered_report_caption(dataset: Path) -> None:
    page = render(dataset, rp.Filters(since=date(2024, 3, 8), sources=(B,)))
    assert "WHERE date &gt;= DATE &#39;2024-03-08&#39; AND source IN (&#39;beta.example&#39;)" in page


# ---------------------------------------------------------------------------------------------- CLI


def test_cli_report(dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    args = ["report", str(dataset), "--out", str(out), "--since", "2024-03-08", "--source", B, C]
    assert main(args) == 0
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "3 articles, 2 sources" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*.tmp"))


def test_cli_report_usage_errors(dataset: Path, tmp_path: Path) -> None:
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["report", str(tmp_path)]) == 2  # a folder that is not a dataset
    assert main(["report", str(dataset), "--since", "2024-03-09", "--until", "2024-03-01"]) == 2
    assert main(["report", str(dataset), "--out", str(tmp_path / "no" / "r.html")]) == 2
    with pytest.raises(SystemExit):
        main(["report", str(dataset), "--since", "yesterday"])


@pytest.mark.slow
def test_report_of_a_pipeline_run(tmp_path: Path) -> None:
    """End to end: `feedflow run` (NER skipped) over records written here, then `feedflow report`."""
    body = "The harbour authority published its annual report on shipping volumes and port investment. " * 3
    records = [
        {"url": "https://alpha.example/a", "title": "Port volumes rise", "text": body + "One.",
         "published": "2024-03-01T08:00:00Z", "source": A},
        {"url": "https://alpha.example/b", "title": "Port budget approved", "text": body + "Two.",
         "published": "2024-03-03T08:00:00Z", "source": A},
        {"url": "https://beta.example/c", "title": "Ferry timetable changes", "text": body + "Three.",
         "published": "2024-03-03T09:00:00Z", "source": B},
        {"url": "https://beta.example/d", "title": ""},
    ]  # fmt: skip
    inp = tmp_path / "in.jsonl"
    inp.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    data = tmp_path / "data"
    assert main(["run", str(inp), "--output", str(data), "--skip", "entities"]) == 0
    con = connect(str(data))
    try:
        ov = rp.overview(con, rp.Filters())
        assert (ov.articles, ov.sources, ov.first_date, ov.last_date) == (3, 2, date(2024, 3, 1), date(2024, 3, 3))
        assert [(s.name, s.counts) for s in rp.volume_by_day(con, rp.Filters())] == [(A, [1, 1]), (B, [1])]
        assert [(r.reason, r.count) for r in rp.rejects_by_reason(con)] == [("bad_record", 1)]
    finally:
        con.close()
    assert rp.runs(data).total == 1
    out = tmp_path / "report.html"
    assert main(["report", str(data), "--out", str(out)]) == 0
    assert "The entities table is empty" in out.read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------ browser


def chromium_path() -> str | None:
    return os.environ.get("FEEDFLOW_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.mark.browser
def test_report_in_headless_chromium(dataset: Path, tmp_path: Path) -> None:
    """Open the report from file:// with the network off: no console error, no request leaves the file,
    every section is there, charts are drawn (SVG with marks) and answer a hover; injected markup stays text."""
    executable = chromium_path()
    required = os.environ.get("FEEDFLOW_REQUIRE_BROWSER") == "1"
    if executable is None:
        message = "Chromium is not installed (Debian package `chromium`; `make test-browser` installs it)"
        pytest.fail(message) if required else pytest.skip(message)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        message = "the playwright Python package is not installed (pip install -e '.[test]')"
        pytest.fail(message) if required else pytest.skip(message)

    out = tmp_path / "report.html"
    assert main(["report", str(dataset), "--out", str(out)]) == 0
    url = out.resolve().as_uri()
    console: list[tuple[str, str]] = []
    failed: list[str] = []
    requests: list[str] = []
    dialogs: list[str] = []
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"),  # a fresh, empty user-data-dir
            executable_path=executable,
            headless=True,
            args=CHROMIUM_FLAGS,
            offline=True,
            viewport={"width": 1280, "height": 900},
        )
        try:
            page = context.new_page()
            page.on("console", lambda m: console.append((m.type, m.text)))
            page.on("pageerror", lambda e: console.append(("pageerror", str(e))))
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.on("request", lambda r: requests.append(r.url))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(url, wait_until="load")
            page.wait_for_selector("body[data-charts=ready]", timeout=30_000)

            for section in ("overview", "volume", "entities", "topics", "dedup", "feeds"):
                assert page.locator(f"section#{section} > h2").is_visible(), section
            plots = page.locator("div.plot, div.spark")
            assert plots.count() == page.locator(".js-plotly-plot").count() >= 10
            marks = page.evaluate(
                "Array.from(document.querySelectorAll('#chart-volume svg.main-svg .bars path'))"
                ".filter(p => p.getBBox().width > 0 && p.getBBox().height > 0).length"
            )
            assert marks == 6  # one bar per (source, day) of the 6 latest articles

            page.locator("#chart-volume").scroll_into_view_if_needed()
            box = page.locator("#chart-volume .bars path").first.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_selector("#chart-volume .hoverlayer .hovertext", timeout=5_000)
            assert "articles" in (page.locator("#chart-volume .hoverlayer").text_content() or "")

            assert page.evaluate("window.__pwned") is None and not dialogs
            assert page.get_by_text(XSS_ENTITY, exact=True).count() >= 1  # shown as text in the table
            org_labels = page.locator("#chart-ent-org-overall").text_content() or ""
            assert XSS_ENTITY in org_labels  # and as a literal label in the chart
            assert page.get_by_text(XSS_EXCERPT, exact=True).count() == 1
        finally:
            context.close()
    errors = [(kind, text) for kind, text in console if kind in ("error", "pageerror")]
    assert errors == []
    assert failed == []
    assert [r for r in requests if not r.startswith(("file:", "data:", "blob:"))] == []
