"""`feedflow report`: one self-contained HTML file that shows what a dataset holds.

The dataset is read through :func:`feedflow.query.connect` (DuckDB views ``articles, paragraphs,
entities, rejects``). Every number is aggregated in SQL and every list is capped, so the report stays
the same size and readable at a million articles; nothing is loaded whole into Python. User filters
(``--since``, ``--until``, ``--source``) reach DuckDB only as ``?`` parameters.

Each query is a small function taking a connection (and :class:`Filters`) and returning plain
dataclasses, so it can be tested on its own. :func:`build_report` runs them all,
:func:`render_html` turns the result into HTML with Jinja2 (autoescape on: titles, entities, reject
excerpts and feed errors are untrusted) and Plotly charts whose figure JSON sits in
``<script type="application/json">`` blocks. plotly.js itself is inlined once (from the pinned
``plotly`` package), so the file opens offline, from a USB stick, with no network at all; a
Content-Security-Policy meta tag forbids every network fetch as a second line of defence.

Articles are counted once, at their latest ``version``. Dates are the partition ``date`` (the
publication date in UTC when known, else the run date).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import jinja2

import feedflow
from feedflow.query import connect

OTHER = "(other)"
NO_TOPIC = "(no topic)"
UNKNOWN_LANGUAGE = "(unknown)"
FEEDS_DB = Path("_state") / "feeds.sqlite"
RUNS_DIR = "_runs"
TEMPLATE = "report_template.html"

# Entity kinds shown in the report and the spaCy labels each one covers.
ENTITY_KINDS: dict[str, tuple[str, ...]] = {"PERSON": ("PERSON",), "ORG": ("ORG",), "place": ("GPE", "LOC")}
_KIND_SQL = "CASE WHEN e.label IN ('GPE', 'LOC') THEN 'place' ELSE e.label END"
_ALL_KIND_LABELS = [label for labels in ENTITY_KINDS.values() for label in labels]

FEED_COLUMNS = (
    "url",
    "fetch_url",
    "title",
    "last_status",
    "last_http_status",
    "last_error",
    "consecutive_failures",
    "last_polled_at",
    "last_success_at",
    "next_due_at",
    "interval_seconds",
    "entries_seen",
)

Row = tuple[Any, ...]


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> list[Row]:
    result: list[Row] = con.execute(sql, list(params)).fetchall()
    return result


# ------------------------------------------------------------------------------------------ filters


def _sql_literal(value: str) -> str:
    """A SQL string literal, for *display* in captions only (queries bind values as parameters)."""
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Filters:
    """The report's filter: inclusive partition-date bounds and a set of sources (empty = all)."""

    since: date | None = None
    until: date | None = None
    sources: tuple[str, ...] = ()

    def where(self) -> tuple[str, list[Any]]:
        """A condition on the columns ``date`` and ``source``, with its ``?`` parameters."""
        conditions: list[str] = []
        params: list[Any] = []
        if self.since is not None:
            conditions.append("date >= ?")
            params.append(self.since)
        if self.until is not None:
            conditions.append("date <= ?")
            params.append(self.until)
        if self.sources:
            conditions.append("list_contains(?, source)")
            params.append(list(self.sources))
        return " AND ".join(conditions) or "TRUE", params

    def sources_only(self) -> Filters:
        return Filters(sources=self.sources)

    def describe(self, max_sources: int = 5) -> str:
        """The filter as the equivalent SQL ``WHERE`` clause (for captions)."""
        conditions = []
        if self.since is not None and self.until is not None:
            conditions.append(f"date BETWEEN DATE '{self.since.isoformat()}' AND DATE '{self.until.isoformat()}'")
        elif self.since is not None:
            conditions.append(f"date >= DATE '{self.since.isoformat()}'")
        elif self.until is not None:
            conditions.append(f"date <= DATE '{self.until.isoformat()}'")
        if self.sources:
            shown = [_sql_literal(s) for s in self.sources[:max_sources]]
            if len(self.sources) > max_sources:
                shown.append(f"… {len(self.sources) - max_sources} more")
            conditions.append(f"source IN ({', '.join(shown)})")
        return "WHERE " + " AND ".join(conditions) if conditions else "no filter (all dates, all sources)"


SUPERSEDED = "_feedflow_report_superseded"


def _superseded(con: duckdb.DuckDBPyConnection) -> str:
    """A temporary table of the (article_id, version) rows that a newer version replaced (usually none),
    made once per connection, so that the articles scan needs no window over every row."""
    con.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {SUPERSEDED} AS "
        "SELECT article_id, version FROM (SELECT article_id, version, max(version) OVER (PARTITION BY article_id) AS m "
        "FROM articles WHERE article_id IN (SELECT article_id FROM articles WHERE version > 1)) WHERE version < m"
    )
    return SUPERSEDED


def _articles_cte(
    con: duckdb.DuckDBPyConnection, filters: Filters, columns: Sequence[str] = ()
) -> tuple[str, list[Any]]:
    """``fa``: the latest version of each article that passes the filter, with the given columns.

    Column names are the code's constants, never user input. The filter is applied to the scan, so date
    filters prune partitions.
    """
    superseded = _superseded(con)
    base = ["article_id", "version", "CAST(source AS VARCHAR) AS source", "CAST(date AS DATE) AS date"]
    select = ", ".join([*base, *columns])
    where, params = filters.where()
    sql = (
        f"fa AS (SELECT * FROM (SELECT {select} FROM articles a WHERE NOT EXISTS (SELECT 1 FROM {superseded} s "
        f"WHERE s.article_id = a.article_id AND s.version = a.version)) WHERE {where})"
    )
    return sql, params


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> dict[str, str]:
    """Column name → DuckDB type of a view (to detect optional columns)."""
    return {str(name): str(kind) for name, kind, *_ in _rows(con, f"DESCRIBE {table}")}


# ----------------------------------------------------------------------------------------- overview


@dataclass(frozen=True, slots=True)
class SourceCount:
    source: str
    articles: int
    first_date: date | None
    last_date: date | None


@dataclass(frozen=True, slots=True)
class Overview:
    articles: int
    sources: int
    first_date: date | None
    last_date: date | None
    first_published: datetime | None
    last_published: datetime | None
    language_count: int
    languages: list[tuple[str, int]]
    top_sources: list[SourceCount]


def overview(con: duckdb.DuckDBPyConnection, filters: Filters, languages: int = 12, sources: int = 15) -> Overview:
    cte, params = _articles_cte(con, filters, ["published_at", "language"])
    [(n, n_sources, n_languages, first, last, first_pub, last_pub)] = _rows(
        con,
        f"WITH {cte} SELECT count(*), count(DISTINCT source), count(DISTINCT language), min(date), max(date), "
        "min(published_at), max(published_at) FROM fa",
        params,
    )
    langs = _rows(
        con,
        f"WITH {cte}, l AS (SELECT coalesce(language, ?) AS language, count(*) AS n FROM fa GROUP BY 1) "
        "SELECT language, n FROM l ORDER BY n DESC, language LIMIT ?",
        [*params, UNKNOWN_LANGUAGE, languages],
    )
    language_list = [(str(lang), int(k)) for lang, k in langs]
    rest = int(n) - sum(k for _, k in language_list)
    if rest > 0:
        language_list.append((OTHER, rest))
    top = _rows(
        con,
        f"WITH {cte} SELECT source, count(*) AS n, min(date), max(date) FROM fa "
        "GROUP BY source ORDER BY n DESC, source LIMIT ?",
        [*params, sources],
    )
    return Overview(
        articles=int(n),
        sources=int(n_sources),
        language_count=int(n_languages),
        first_date=first,
        last_date=last,
        first_published=first_pub,
        last_published=last_pub,
        languages=language_list,
        top_sources=[SourceCount(str(s), int(k), a, b) for s, k, a, b in top],
    )


@dataclass(frozen=True, slots=True)
class RunRow:
    run_id: str
    started_at: str
    seconds: float | None
    records_in: int
    articles: int
    rejected: int
    skipped_existing: int
    paragraphs: int
    entities: int


@dataclass(frozen=True, slots=True)
class Runs:
    total: int
    latest: list[RunRow]
    unreadable: int


def runs(root: str | os.PathLike[str], limit: int = 20) -> Runs:
    """The latest ``limit`` run manifests (``DIR/_runs/*.json``, newest first); only those are read."""
    folder = Path(root) / RUNS_DIR
    paths = sorted(p for p in folder.glob("*.json") if not p.name.startswith(".")) if folder.is_dir() else []
    latest: list[RunRow] = []
    unreadable = 0
    for path in reversed(paths[-limit:]):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            counts = doc.get("counts", {})
            latest.append(
                RunRow(
                    run_id=str(doc.get("run_id", path.stem)),
                    started_at=str(doc.get("started_at", "")),
                    seconds=float(doc["seconds"]) if doc.get("seconds") is not None else None,
                    records_in=int(counts.get("records_in", 0)),
                    articles=int(counts.get("articles", 0)),
                    rejected=int(counts.get("rejected", 0)),
                    skipped_existing=int(counts.get("skipped_existing", 0)),
                    paragraphs=int(counts.get("paragraphs", 0)),
                    entities=int(counts.get("entities", 0)),
                )
            )
        except (OSError, ValueError, TypeError, AttributeError):
            unreadable += 1
    latest.sort(key=lambda r: (r.started_at, r.run_id), reverse=True)
    return Runs(total=len(paths), latest=latest, unreadable=unreadable)


@dataclass(frozen=True, slots=True)
class RejectExample:
    input: str
    locator: str
    detail: str
    excerpt: str


@dataclass(frozen=True, slots=True)
class RejectReason:
    reason: str
    count: int
    examples: list[RejectExample]


def rejects_by_reason(
    con: duckdb.DuckDBPyConnection, examples: int = 3, limit: int = 30, excerpt_chars: int = 160
) -> list[RejectReason]:
    """Rejects of all runs by reason (most frequent first) with a few examples each, latest run first.

    Rejects carry the run date only (no source, no publication date), so the report filter does not
    apply to them.
    """
    counts = _rows(
        con, "SELECT reason, count(*) AS n FROM rejects GROUP BY reason ORDER BY n DESC, reason LIMIT ?", [limit]
    )
    if not counts:
        return []
    sample = _rows(
        con,
        "SELECT reason, input, locator, detail, left(excerpt, ?) FROM (SELECT reason, input, locator, detail, excerpt, "
        "row_number() OVER (PARTITION BY reason ORDER BY run_id DESC, input, locator) AS k FROM rejects "
        "WHERE list_contains(?, reason)) WHERE k <= ? ORDER BY reason, k",
        [excerpt_chars, [r for r, _ in counts], examples],
    )
    by_reason: dict[str, list[RejectExample]] = {}
    for reason, inp, locator, detail, excerpt in sample:
        by_reason.setdefault(reason, []).append(
            RejectExample(str(inp), str(locator or ""), str(detail or ""), str(excerpt or ""))
        )
    return [RejectReason(str(r), int(n), by_reason.get(r, [])) for r, n in counts]


# ------------------------------------------------------------------------------------------- volume


@dataclass(frozen=True, slots=True)
class DailySeries:
    """Counts per day for one name (a source, a feed, or ``(other)``); days without rows are absent."""

    name: str
    days: list[date]
    counts: list[int]

    @property
    def total(self) -> int:
        return sum(self.counts)


def _daily_series(rows: Sequence[Row]) -> list[DailySeries]:
    """(name, day, count) rows → one series per name, biggest total first, ``(other)`` last."""
    by_name: dict[str, list[tuple[date, int]]] = {}
    for name, day, n in rows:
        by_name.setdefault(str(name), []).append((day, int(n)))
    series = [
        DailySeries(name, [d for d, _ in sorted(points)], [k for _, k in sorted(points)])
        for name, points in by_name.items()
    ]
    series.sort(key=lambda s: (s.name == OTHER, -s.total, s.name))
    return series


def volume_by_day(con: duckdb.DuckDBPyConnection, filters: Filters, top_n: int = 8) -> list[DailySeries]:
    """Articles per day per source: the ``top_n`` sources by articles, the rest as ``(other)``."""
    cte, params = _articles_cte(con, filters)
    rows = _rows(
        con,
        f"WITH {cte}, top AS (SELECT source FROM fa GROUP BY source ORDER BY count(*) DESC, source LIMIT ?) "
        "SELECT CASE WHEN source IN (SELECT source FROM top) THEN source ELSE ? END AS bucket, date, count(*) "
        "FROM fa GROUP BY ALL ORDER BY bucket, date",
        [*params, top_n, OTHER],
    )
    return _daily_series(rows)


# ----------------------------------------------------------------------------------------- entities


@dataclass(frozen=True, slots=True)
class EntityCount:
    entity: str
    articles: int
    mentions: int


def top_entities(con: duckdb.DuckDBPyConnection, filters: Filters, limit: int = 15) -> dict[str, list[EntityCount]]:
    """Per entity kind (PERSON, ORG, place = GPE+LOC): the entities mentioned by the most articles (ties: more
    mentions, then by name), in one pass over the entities table."""
    cte, params = _articles_cte(con, filters)
    rows = _rows(
        con,
        f"WITH {cte}, c AS (SELECT {_KIND_SQL} AS kind, e.entity, count(DISTINCT e.article_id) AS articles, "
        "sum(e.mentions) AS mentions "
        "FROM entities e JOIN fa ON e.article_id = fa.article_id AND e.version = fa.version "
        "WHERE list_contains(?, e.label) GROUP BY ALL) "
        "SELECT kind, entity, articles, mentions FROM c "
        "QUALIFY row_number() OVER (PARTITION BY kind ORDER BY articles DESC, mentions DESC, entity) <= ? "
        "ORDER BY kind, articles DESC, mentions DESC, entity",
        [*params, _ALL_KIND_LABELS, limit],
    )
    out: dict[str, list[EntityCount]] = {kind: [] for kind in ENTITY_KINDS}
    for kind, entity, articles, mentions in rows:
        out[str(kind)].append(EntityCount(str(entity), int(articles), int(mentions)))
    return out


@dataclass(frozen=True, slots=True)
class Period:
    """The selected period and the equal-length period just before it (all bounds inclusive)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous_start(self) -> date:
        return self.start - timedelta(days=self.days)

    @property
    def previous_end(self) -> date:
        return self.start - timedelta(days=1)


def entity_period(con: duckdb.DuckDBPyConnection, filters: Filters, default_days: int = 7) -> Period | None:
    """The period for "selected period" and "rising" entities: ``--since``..``--until``; a missing end is
    the last date with articles (under the source filter), a missing start is ``default_days`` before the
    end. None when there are no articles to anchor it."""
    end = filters.until
    if end is None:
        cte, params = _articles_cte(con, filters.sources_only())
        [(end,)] = _rows(con, f"WITH {cte} SELECT max(date) FROM fa", params)
        if end is None:
            return None
    start = filters.since if filters.since is not None else end - timedelta(days=default_days - 1)
    if start > end:
        return None
    return Period(start, end)


@dataclass(frozen=True, slots=True)
class RisingEntity:
    entity: str
    kind: str
    current: int
    previous: int
    daily: list[int] = field(default_factory=list)


def rising_entities(
    con: duckdb.DuckDBPyConnection, filters: Filters, period: Period, limit: int = 12
) -> list[RisingEntity]:
    """Entities (PERSON, ORG, place) mentioned in more articles in ``period`` than in the equal-length
    period before it, biggest increase first. Only the source filter of ``filters`` applies."""
    window = replace(filters.sources_only(), since=period.previous_start, until=period.end)
    cte, params = _articles_cte(con, window)
    rows = _rows(
        con,
        f"WITH {cte}, c AS (SELECT e.entity, {_KIND_SQL} AS kind, "
        "count(DISTINCT CASE WHEN fa.date >= ? THEN e.article_id END) AS cur, "
        "count(DISTINCT CASE WHEN fa.date < ? THEN e.article_id END) AS prev "
        "FROM entities e JOIN fa ON e.article_id = fa.article_id AND e.version = fa.version "
        "WHERE list_contains(?, e.label) GROUP BY ALL) "
        "SELECT entity, kind, cur, prev FROM c WHERE cur > prev ORDER BY cur - prev DESC, cur DESC, entity LIMIT ?",
        [*params, period.start, period.start, _ALL_KIND_LABELS, limit],
    )
    return [RisingEntity(str(e), str(k), int(c), int(p)) for e, k, c, p in rows]


def entity_daily(
    con: duckdb.DuckDBPyConnection, filters: Filters, entities: Sequence[tuple[str, str]], start: date, end: date
) -> dict[tuple[str, str], list[int]]:
    """Daily mentions (sum of ``entities.mentions``) of each (entity, kind) from ``start`` to ``end``,
    one number per day, zero-filled. Only the source filter of ``filters`` applies."""
    days = (end - start).days + 1
    out = {key: [0] * days for key in entities}
    if not entities or days <= 0:
        return out
    cte, params = _articles_cte(con, replace(filters.sources_only(), since=start, until=end))
    rows = _rows(
        con,
        f"WITH {cte} SELECT e.entity, {_KIND_SQL} AS kind, fa.date, sum(e.mentions) "
        "FROM entities e JOIN fa ON e.article_id = fa.article_id AND e.version = fa.version "
        "WHERE list_contains(?, e.entity) AND list_contains(?, e.label) GROUP BY ALL",
        [*params, sorted({e for e, _ in entities}), _ALL_KIND_LABELS],
    )
    for entity, kind, day, mentions in rows:
        key = (str(entity), str(kind))
        if key in out:
            out[key][(day - start).days] += int(mentions)
    return out


def entity_count(con: duckdb.DuckDBPyConnection) -> int:
    [(n,)] = _rows(con, "SELECT count(*) FROM entities")
    return int(n)


# ------------------------------------------------------------------------------------------- topics


@dataclass(frozen=True, slots=True)
class TopicCount:
    code: str
    label: str
    primary: int  # articles whose best topic this is
    tagged: int  # articles with this topic anywhere in their list


def topic_mix(con: duckdb.DuckDBPyConnection, filters: Filters) -> list[TopicCount]:
    """IPTC top-level topics: articles whose best topic it is, and articles tagged with it at all.
    Articles without a topic count as ``(no topic)`` (primary only)."""
    cte, params = _articles_cte(con, filters, ["topics"])
    primary = _rows(
        con,
        f"WITH {cte} SELECT coalesce(struct_extract(topics[1], 'code'), ''), "
        "coalesce(struct_extract(topics[1], 'label'), ?), count(*) FROM fa GROUP BY ALL",
        [*params, NO_TOPIC],
    )
    tagged = _rows(
        con,
        f"WITH {cte}, t AS (SELECT article_id, unnest(topics) AS t FROM fa) "
        "SELECT struct_extract(t, 'code'), any_value(struct_extract(t, 'label')), count(DISTINCT article_id) "
        "FROM t GROUP BY 1",
        params,
    )
    out: dict[str, TopicCount] = {}
    for code, label, n in primary:
        out[str(code)] = TopicCount(str(code), str(label), int(n), 0)
    for code, label, n in tagged:
        known = out.get(str(code))
        out[str(code)] = TopicCount(str(code), str(label), known.primary if known else 0, int(n))
    return sorted(out.values(), key=lambda t: (t.label == NO_TOPIC, -t.primary, -t.tagged, t.label))


@dataclass(frozen=True, slots=True)
class TopicsBySource:
    """Primary-topic counts per source (top sources by articles, the rest as ``(other)``)."""

    sources: list[str]
    labels: list[str]
    counts: dict[tuple[str, str], int]


def topics_by_source(con: duckdb.DuckDBPyConnection, filters: Filters, top_n: int = 10) -> TopicsBySource:
    cte, params = _articles_cte(con, filters, ["topics"])
    rows = _rows(
        con,
        f"WITH {cte}, top AS (SELECT source FROM fa GROUP BY source ORDER BY count(*) DESC, source LIMIT ?) "
        "SELECT CASE WHEN source IN (SELECT source FROM top) THEN source ELSE ? END AS bucket, "
        "coalesce(struct_extract(topics[1], 'label'), ?) AS label, count(*) FROM fa GROUP BY ALL",
        [*params, top_n, OTHER, NO_TOPIC],
    )
    counts = {(str(s), str(label)): int(n) for s, label, n in rows}
    source_totals: dict[str, int] = {}
    label_totals: dict[str, int] = {}
    for (s, label), n in counts.items():
        source_totals[s] = source_totals.get(s, 0) + n
        label_totals[label] = label_totals.get(label, 0) + n
    sources = sorted(source_totals, key=lambda s: (s == OTHER, -source_totals[s], s))
    labels = sorted(label_totals, key=lambda x: (x == NO_TOPIC, -label_totals[x], x))
    return TopicsBySource(sources, labels, counts)


# -------------------------------------------------------------------------------------------- dedup


@dataclass(frozen=True, slots=True)
class DedupBySource:
    source: str
    articles: int
    paragraphs: int
    duplicate_paragraphs: int
    boilerplate_paragraphs: int | None  # None when paragraphs.boilerplate does not exist
    near_duplicates: int | None  # None when articles.duplicate_of does not exist
    mean_similarity: float | None


@dataclass(frozen=True, slots=True)
class DedupColumns:
    boilerplate: str | None  # DuckDB type of paragraphs.boilerplate, None when absent
    duplicate_of: bool  # articles.duplicate_of exists
    similarity: bool  # articles.similarity exists


def dedup_columns(con: duckdb.DuckDBPyConnection) -> DedupColumns:
    paragraphs = table_columns(con, "paragraphs")
    articles = table_columns(con, "articles")
    return DedupColumns(
        boilerplate=paragraphs.get("boilerplate"),
        duplicate_of="duplicate_of" in articles,
        similarity="similarity" in articles,
    )


def dedup_by_source(
    con: duckdb.DuckDBPyConnection, filters: Filters, columns: DedupColumns, top_n: int = 10
) -> list[DedupBySource]:
    """Per source (top ``top_n`` by articles, the rest as ``(other)``): paragraphs, paragraphs marked as a
    repeat inside their article (``duplicate_of``), boilerplate paragraphs and near-duplicate articles
    when those columns exist."""
    extra = ["duplicate_of"] if columns.duplicate_of else []
    extra += ["similarity"] if columns.similarity else []
    cte, params = _articles_cte(con, filters, extra)
    top = "top AS (SELECT source FROM fa GROUP BY source ORDER BY count(*) DESC, source LIMIT ?)"
    bucket = "CASE WHEN fa.source IN (SELECT source FROM top) THEN fa.source ELSE ? END"
    if columns.boilerplate is None:
        boiler = "NULL"
    elif columns.boilerplate == "BOOLEAN":
        boiler = "count_if(p.boilerplate)"
    else:
        boiler = "count(p.boilerplate)"  # non-null = marked as boilerplate
    para_rows = _rows(
        con,
        f"WITH {cte}, {top} SELECT {bucket} AS bucket, count(*), count(p.duplicate_of), {boiler} "
        "FROM paragraphs p JOIN fa ON p.article_id = fa.article_id AND p.version = fa.version GROUP BY 1",
        [*params, top_n, OTHER],
    )
    near = "count(fa.duplicate_of)" if columns.duplicate_of else "NULL"
    sim = (
        "avg(TRY_CAST(fa.similarity AS DOUBLE)) FILTER (WHERE fa.duplicate_of IS NOT NULL)"
        if columns.similarity and columns.duplicate_of
        else "NULL"
    )
    art_rows = _rows(
        con,
        f"WITH {cte}, {top} SELECT {bucket} AS bucket, count(*), {near}, {sim} FROM fa GROUP BY 1",
        [*params, top_n, OTHER],
    )
    paragraphs = {str(b): (int(n), int(d), None if x is None else int(x)) for b, n, d, x in para_rows}
    out = []
    for b, n_articles, n_near, mean_sim in art_rows:
        n_par, n_dup, n_boiler = paragraphs.get(str(b), (0, 0, None if columns.boilerplate is None else 0))
        out.append(
            DedupBySource(
                source=str(b),
                articles=int(n_articles),
                paragraphs=n_par,
                duplicate_paragraphs=n_dup,
                boilerplate_paragraphs=n_boiler,
                near_duplicates=None if n_near is None else int(n_near),
                mean_similarity=None if mean_sim is None else float(mean_sim),
            )
        )
    out.sort(key=lambda r: (r.source == OTHER, -r.articles, r.source))
    return out


@dataclass(frozen=True, slots=True)
class Cluster:
    """Articles marked as near-duplicates of one article (``articles.duplicate_of``), plus that article."""

    canonical_id: str
    title: str | None
    canonical_source: str | None
    size: int
    sources: list[str]
    source_count: int
    mean_similarity: float | None


def syndication_clusters(
    con: duckdb.DuckDBPyConnection, filters: Filters, columns: DedupColumns, limit: int = 10, max_sources: int = 6
) -> list[Cluster]:
    """The largest clusters of near-duplicate articles (the copies pass the filter; the original is looked
    up among all articles). Empty when ``articles.duplicate_of`` does not exist."""
    if not columns.duplicate_of:
        return []
    extra = ["duplicate_of", "similarity"] if columns.similarity else ["duplicate_of"]
    cte, params = _articles_cte(con, filters, extra)
    sim = "avg(TRY_CAST(similarity AS DOUBLE))" if columns.similarity else "NULL"
    rows = _rows(
        con,
        f"WITH {cte}, "
        f"c AS (SELECT CAST(duplicate_of AS VARCHAR) AS canonical, count(*) AS copies, {sim} AS sim, "
        "list(DISTINCT source) AS srcs FROM fa WHERE duplicate_of IS NOT NULL GROUP BY 1 "
        "ORDER BY copies DESC, canonical LIMIT ?), "
        "o AS (SELECT article_id, arg_max(title, version) AS title, "
        "arg_max(CAST(source AS VARCHAR), version) AS source "
        "FROM articles WHERE article_id IN (SELECT canonical FROM c) GROUP BY article_id) "
        "SELECT c.canonical, o.title, o.source, c.copies, "
        "list_sort(list_distinct(list_concat(c.srcs, CASE WHEN o.source IS NULL THEN [] ELSE [o.source] END))) "
        "AS sources, c.sim FROM c LEFT JOIN o ON o.article_id = c.canonical ORDER BY c.copies DESC, c.canonical",
        [*params, limit],
    )
    out = []
    for canonical, title, source, copies, sources, sim_value in rows:
        source_list = [str(s) for s in sources or []]
        out.append(
            Cluster(
                canonical_id=str(canonical),
                title=None if title is None else str(title),
                canonical_source=None if source is None else str(source),
                size=int(copies) + 1,
                sources=source_list[:max_sources],
                source_count=len(source_list),
                mean_similarity=None if sim_value is None else float(sim_value),
            )
        )
    return out


# -------------------------------------------------------------------------------------------- feeds


@dataclass(frozen=True, slots=True)
class FeedRow:
    url: str
    fetch_url: str | None
    title: str | None
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    consecutive_failures: int
    last_polled_at: str | None
    last_success_at: str | None
    next_due_at: str | None
    interval_seconds: int | None
    entries_seen: int | None


@dataclass(frozen=True, slots=True)
class FeedsState:
    """``DIR/_state/feeds.sqlite`` as the report shows it."""

    path: str
    present: bool
    error: str | None = None
    total: int = 0
    failing: int = 0
    feeds: list[FeedRow] = field(default_factory=list)
    missing_columns: list[str] = field(default_factory=list)


def _int_or_none(value: Any) -> int | None:
    try:
        return None if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return None


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def read_feeds(root: str | os.PathLike[str], limit: int = 300) -> FeedsState:
    """The feeds table of the ingest state, opened read-only (``file:…?mode=ro``); failing feeds first."""
    path = Path(root) / FEEDS_DB
    if not path.is_file():
        return FeedsState(path=str(path), present=False)
    uri = path.resolve().as_uri() + "?mode=ro"
    try:
        db = sqlite3.connect(uri, uri=True, timeout=5)
    except sqlite3.Error as err:
        return FeedsState(path=str(path), present=True, error=str(err))
    try:
        have = {str(row[1]) for row in db.execute("PRAGMA table_info(feeds)")}
        if "url" not in have:
            return FeedsState(path=str(path), present=True, error="no table 'feeds' with a 'url' column")
        present = [c for c in FEED_COLUMNS if c in have]
        missing = [c for c in FEED_COLUMNS if c not in have]
        failures = "coalesce(consecutive_failures, 0)" if "consecutive_failures" in have else "0"
        [(total, failing)] = db.execute(f"SELECT count(*), coalesce(sum({failures} > 0), 0) FROM feeds").fetchall()
        order_title = "coalesce(title, url)" if "title" in have else "url"
        rows = db.execute(
            f"SELECT {', '.join(present)} FROM feeds ORDER BY {failures} DESC, {order_title}, url LIMIT ?", (limit,)
        ).fetchall()
    except sqlite3.Error as err:
        return FeedsState(path=str(path), present=True, error=str(err))
    finally:
        db.close()
    feeds = []
    for row in rows:
        values = dict(zip(present, row, strict=True))
        feeds.append(
            FeedRow(
                url=str(values["url"]),
                fetch_url=_str_or_none(values.get("fetch_url")),
                title=_str_or_none(values.get("title")),
                last_status=_str_or_none(values.get("last_status")),
                last_http_status=_int_or_none(values.get("last_http_status")),
                last_error=_str_or_none(values.get("last_error")),
                consecutive_failures=_int_or_none(values.get("consecutive_failures")) or 0,
                last_polled_at=_str_or_none(values.get("last_polled_at")),
                last_success_at=_str_or_none(values.get("last_success_at")),
                next_due_at=_str_or_none(values.get("next_due_at")),
                interval_seconds=_int_or_none(values.get("interval_seconds")),
                entries_seen=_int_or_none(values.get("entries_seen")),
            )
        )
    return FeedsState(
        path=str(path),
        present=True,
        total=int(total),
        failing=int(failing),
        feeds=feeds,
        missing_columns=missing,
    )


@dataclass(frozen=True, slots=True)
class FeedArticles:
    articles: int
    days_with_articles: int


def feed_articles(
    con: duckdb.DuckDBPyConnection, filters: Filters, feed_urls: Sequence[str]
) -> dict[str, FeedArticles]:
    """Articles and days with articles per ``articles.feed_url``, for the given feed URLs only."""
    if not feed_urls:
        return {}
    cte, params = _articles_cte(con, filters, ["feed_url"])
    rows = _rows(
        con,
        f"WITH {cte} SELECT feed_url, count(*), count(DISTINCT date) FROM fa WHERE list_contains(?, feed_url) "
        "GROUP BY feed_url",
        [*params, sorted(set(feed_urls))],
    )
    return {str(u): FeedArticles(int(n), int(d)) for u, n, d in rows}


def feed_volume_by_day(con: duckdb.DuckDBPyConnection, filters: Filters, top_n: int = 8) -> list[DailySeries]:
    """Articles per day per feed URL (top ``top_n`` feeds by articles, the rest as ``(other)``); articles
    that did not come from a feed are left out."""
    cte, params = _articles_cte(con, filters, ["feed_url"])
    rows = _rows(
        con,
        f"WITH {cte}, f AS (SELECT * FROM fa WHERE feed_url IS NOT NULL), "
        "top AS (SELECT feed_url FROM f GROUP BY feed_url ORDER BY count(*) DESC, feed_url LIMIT ?) "
        "SELECT CASE WHEN feed_url IN (SELECT feed_url FROM top) THEN feed_url ELSE ? END AS bucket, date, count(*) "
        "FROM f GROUP BY ALL ORDER BY bucket, date",
        [*params, top_n, OTHER],
    )
    return _daily_series(rows)


# --------------------------------------------------------------------------------------- the report


@dataclass(frozen=True, slots=True)
class Chart:
    """One Plotly figure (plain JSON) with its heading and one-line caption."""

    id: str
    title: str
    caption: str
    figure: dict[str, Any]
    css_class: str = "chart"


@dataclass
class Section:
    id: str
    title: str
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ReportData:
    root: str
    generated_at: str
    filters: Filters
    filter_text: str
    overview: Overview
    runs: Runs
    rejects: list[RejectReason]
    period: Period | None
    entities_total: int
    top_overall: dict[str, list[EntityCount]]
    top_period: dict[str, list[EntityCount]]
    rising: list[RisingEntity]
    topics: list[TopicCount]
    topics_by_source: TopicsBySource
    dedup_columns: DedupColumns
    dedup: list[DedupBySource]
    clusters: list[Cluster]
    feeds: FeedsState
    feed_articles: dict[str, FeedArticles]
    feed_range_days: int
    volume: list[DailySeries]
    feed_volume: list[DailySeries]
    timings: dict[str, float] = field(default_factory=dict)


def build_report(root: str, filters: Filters, con: duckdb.DuckDBPyConnection | None = None) -> ReportData:
    """Run every query of the report."""
    own = con is None
    con = con or connect(root)
    timings: dict[str, float] = {}

    def timed(name: str, started: float) -> None:
        timings[name] = round(time.perf_counter() - started, 3)

    try:
        t = time.perf_counter()
        ov = overview(con, filters)
        run_list = runs(root)
        rejects = rejects_by_reason(con)
        timed("overview", t)
        t = time.perf_counter()
        volume = volume_by_day(con, filters)
        timed("volume", t)
        t = time.perf_counter()
        n_entities = entity_count(con)
        period = entity_period(con, filters)
        overall = top_entities(con, filters.sources_only())
        in_period: dict[str, list[EntityCount]] = {}
        rising: list[RisingEntity] = []
        if period is not None:
            selected = replace(filters.sources_only(), since=period.start, until=period.end)
            in_period = top_entities(con, selected)
            rising = rising_entities(con, filters, period)
            daily = entity_daily(con, filters, [(r.entity, r.kind) for r in rising], period.previous_start, period.end)
            rising = [replace(r, daily=daily[(r.entity, r.kind)]) for r in rising]
        timed("entities", t)
        t = time.perf_counter()
        topics = topic_mix(con, filters)
        by_source = topics_by_source(con, filters)
        timed("topics", t)
        t = time.perf_counter()
        columns = dedup_columns(con)
        dedup = dedup_by_source(con, filters, columns)
        clusters = syndication_clusters(con, filters, columns)
        timed("dedup", t)
        t = time.perf_counter()
        feeds = read_feeds(root)
        urls = [u for f in feeds.feeds for u in (f.url, f.fetch_url) if u]
        per_feed = feed_articles(con, filters, urls)
        feed_volume = feed_volume_by_day(con, filters) if feeds.present else []
        timed("feeds", t)
    finally:
        if own:
            con.close()
    first = filters.since or ov.first_date
    last = filters.until or ov.last_date
    range_days = (last - first).days + 1 if first and last and last >= first else 0
    return ReportData(
        root=root,
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        filters=filters,
        filter_text=filters.describe(),
        overview=ov,
        runs=run_list,
        rejects=rejects,
        period=period,
        entities_total=n_entities,
        top_overall=overall,
        top_period=in_period,
        rising=rising,
        topics=topics,
        topics_by_source=by_source,
        dedup_columns=columns,
        dedup=dedup,
        clusters=clusters,
        feeds=feeds,
        feed_articles=per_feed,
        feed_range_days=range_days,
        volume=volume,
        feed_volume=feed_volume,
        timings=timings,
    )


# ------------------------------------------------------------------------------------------- charts

PALETTE = [
    "#4269d0",
    "#efb118",
    "#ff725c",
    "#6cc5b0",
    "#3ca951",
    "#ff8ab7",
    "#a463f2",
    "#97bbf5",
    "#9c6b4e",
    "#9498a0",
]
OTHER_COLOR = "#c9ccd1"


def _label(value: str, limit: int = 48) -> str:
    """Text shown inside a chart. plotly.js reads a small subset of HTML in labels (tags, entities), so
    untrusted text is HTML-escaped (plotly shows the entities as the literal characters) and shortened."""
    text = value if len(value) <= limit else value[: limit - 1] + "…"
    return html.escape(text, quote=True)


def _layout(height: int = 320, **extra: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "height": height,
        "margin": {"l": 50, "r": 16, "t": 28, "b": 40},
        "font": {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "hoverlabel": {"namelength": -1},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "traceorder": "normal"},
        "xaxis": {"automargin": True, "gridcolor": "#e5e7eb"},
        "yaxis": {"automargin": True, "gridcolor": "#e5e7eb"},
    }
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(layout.get(key), dict):
            layout[key] = {**layout[key], **value}
        else:
            layout[key] = value
    return layout


def _color(i: int, name: str) -> str:
    return OTHER_COLOR if name == OTHER else PALETTE[i % len(PALETTE)]


def _daily_chart(series: Sequence[DailySeries], what: str) -> dict[str, Any]:
    per_day: dict[date, int] = {}
    for s in series:
        for day, n in zip(s.days, s.counts, strict=True):
            per_day[day] = per_day.get(day, 0) + n
    data = [
        {
            "type": "bar",
            "name": _label(s.name, 40),
            "x": [d.isoformat() for d in s.days],
            "y": s.counts,
            # the outline keeps a day visible when the axis spans years
            "marker": {"color": _color(i, s.name), "line": {"color": _color(i, s.name), "width": 1}},
            "hovertemplate": "%{x|%Y-%m-%d}<br>%{y:,} " + what + "<extra>%{fullData.name}</extra>",
        }
        for i, s in enumerate(series)
    ]
    return {
        "data": data,
        "layout": _layout(
            360,
            barmode="stack",
            bargap=0.1,
            xaxis={"type": "date"},
            yaxis={"title": {"text": what}, **_count_axis(max(per_day.values(), default=0))},
        ),
    }


def _count_axis(largest: int) -> dict[str, Any]:
    """An axis of counts: whole-number ticks (one per unit while the counts are small)."""
    return {"rangemode": "tozero", "tickformat": ",d", **({"dtick": 1} if largest <= 6 else {})}


def _hbar(names: Sequence[str], values: Sequence[int], hover: Sequence[str], color: str) -> dict[str, Any]:
    height = max(160, 26 * len(names) + 40)
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": [_label(n, 40) for n in names],
                "x": list(values),
                "customdata": [html.escape(h) for h in hover],
                "hovertemplate": "%{y}<br>%{customdata}<extra></extra>",
                "marker": {"color": color},
            }
        ],
        "layout": _layout(
            height,
            xaxis=_count_axis(max(values, default=0)),
            yaxis={"autorange": "reversed", "type": "category"},
            margin={"t": 4, "b": 30},
        ),
    }


def _sparkline(start: date, values: Sequence[int]) -> dict[str, Any]:
    days = [(start + timedelta(days=i)).isoformat() for i in range(len(values))]
    hidden = {"visible": False, "fixedrange": True}
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": days,
                "y": list(values),
                "line": {"width": 1.5, "color": PALETTE[0]},
                "fill": "tozeroy",
                "fillcolor": "rgba(66,105,208,0.15)",
                "hovertemplate": "%{x|%Y-%m-%d}: %{y} mention(s)<extra></extra>",
            }
        ],
        "layout": {
            "height": 36,
            "width": 180,
            "margin": {"l": 2, "r": 2, "t": 2, "b": 2},
            "xaxis": hidden,
            "yaxis": {**hidden, "rangemode": "tozero"},
            "showlegend": False,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
            "hoverlabel": {"font": {"size": 11}},
        },
        "config": {"displayModeBar": False},
    }


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _period_filter(filters: Filters, period: Period) -> str:
    return replace(filters.sources_only(), since=period.start, until=period.end).describe()


def build_sections(data: ReportData) -> list[Section]:
    """The charts (Plotly figure JSON) and notes of each section; tables are drawn by the template."""
    f = data.filter_text
    sections: list[Section] = []

    # Overview
    s = Section("overview", "Overview")
    if data.overview.languages:
        langs = data.overview.languages
        s.charts.append(
            Chart(
                "languages",
                "Languages",
                f"Articles per detected language (top 12, the rest as (other)); {f}.",
                _hbar(
                    [lang for lang, _ in langs],
                    [n for _, n in langs],
                    [f"{n:,} articles ({_pct(n, data.overview.articles)}%)" for _, n in langs],
                    PALETTE[0],
                ),
            )
        )
    if data.rejects:
        s.charts.append(
            Chart(
                "rejects",
                "Rejects by reason",
                "Rejected input records per reason, all runs (rejects have no source or publication date: "
                "the filter does not apply).",
                _hbar(
                    [r.reason for r in data.rejects],
                    [r.count for r in data.rejects],
                    [f"{r.count:,} rejected" for r in data.rejects],
                    PALETTE[2],
                ),
            )
        )
    sections.append(s)

    # Volume
    s = Section("volume", "Volume over time")
    if data.volume:
        s.charts.append(
            Chart(
                "volume",
                "Articles per day per source",
                f"Articles per day (partition date) for the top 8 sources by articles, the rest as (other); {f}.",
                _daily_chart(data.volume, "articles"),
            )
        )
    else:
        s.notes.append("No articles match the filter.")
    sections.append(s)

    # Entities
    s = Section("entities", "Entities")
    if data.entities_total == 0:
        s.notes.append("The entities table is empty: NER was skipped (--skip entities) or no article was tagged.")
    else:
        overall_filter = data.filters.sources_only().describe()
        for i, (kind, title) in enumerate((("PERSON", "People"), ("ORG", "Organizations"), ("place", "Places"))):
            for scope, found, flt in (
                ("overall", data.top_overall.get(kind, []), overall_filter),
                (
                    "period",
                    data.top_period.get(kind, []),
                    _period_filter(data.filters, data.period) if data.period else "",
                ),
            ):
                if scope == "period" and data.period is None:
                    continue
                labels = "+".join(ENTITY_KINDS[kind])
                when = "all dates" if scope == "overall" else "the selected period"
                if not found:
                    s.notes.append(f"No {labels} entities for {when}.")
                    continue
                s.charts.append(
                    Chart(
                        f"ent-{kind.lower()}-{scope}",
                        f"{title}: {when}",
                        f"Top {len(found)} {labels} entities by articles mentioning them, {when}; {flt}.",
                        _hbar(
                            [e.entity for e in found],
                            [e.articles for e in found],
                            [f"{e.articles:,} articles, {e.mentions:,} mentions" for e in found],
                            PALETTE[i],
                        ),
                        css_class="chart half",
                    )
                )
        if data.period is not None:
            for r in data.rising:
                s.charts.append(
                    Chart(
                        f"spark-{len(s.charts)}",
                        r.entity,
                        "",
                        _sparkline(data.period.previous_start, r.daily),
                        css_class="spark",
                    )
                )
    sections.append(s)

    # Topics
    s = Section("topics", "Topics")
    if data.topics:
        s.charts.append(
            Chart(
                "topic-mix",
                "IPTC top-level topic mix",
                f"Articles per IPTC Media Topic: best-scoring topic (primary) and tagged with it at all (any); {f}.",
                {
                    "data": [
                        {
                            "type": "bar",
                            "name": name,
                            "x": [_label(t.label) for t in data.topics],
                            "y": [getattr(t, attr) for t in data.topics],
                            "customdata": [html.escape(t.code) for t in data.topics],
                            "hovertemplate": "%{x} (%{customdata})<br>%{y:,} articles<extra>" + name + "</extra>",
                            "marker": {"color": color},
                        }
                        for name, attr, color in (
                            ("primary topic", "primary", PALETTE[0]),
                            ("any topic", "tagged", PALETTE[7]),
                        )
                    ],
                    "layout": _layout(
                        380,
                        barmode="group",
                        xaxis={"tickangle": -30},
                        yaxis={
                            "title": {"text": "articles"},
                            **_count_axis(max((max(t.primary, t.tagged) for t in data.topics), default=0)),
                        },
                    ),
                },
            )
        )
        tbs = data.topics_by_source
        if tbs.sources:
            totals = {src: sum(tbs.counts.get((src, lab), 0) for lab in tbs.labels) for src in tbs.sources}
            s.charts.append(
                Chart(
                    "topic-source",
                    "Topic mix per source",
                    "Share of each source's articles by primary IPTC topic (top 10 sources by articles, the rest "
                    f"as (other)); {f}.",
                    {
                        "data": [
                            {
                                "type": "bar",
                                "orientation": "h",
                                "name": _label(lab, 40),
                                "y": [_label(src, 40) for src in tbs.sources],
                                "x": [_pct(tbs.counts.get((src, lab), 0), totals[src]) for src in tbs.sources],
                                "customdata": [tbs.counts.get((src, lab), 0) for src in tbs.sources],
                                "hovertemplate": "%{y}<br>%{x:.1f}% (%{customdata:,} articles)<extra>%{fullData.name}"
                                "</extra>",
                                "marker": {"color": OTHER_COLOR if lab == NO_TOPIC else PALETTE[j % len(PALETTE)]},
                            }
                            for j, lab in enumerate(tbs.labels)
                        ],
                        "layout": _layout(
                            max(220, 34 * len(tbs.sources) + 120),
                            barmode="stack",
                            xaxis={"title": {"text": "% of the source's articles"}, "range": [0, 100]},
                            yaxis={"autorange": "reversed", "type": "category"},
                        ),
                    },
                )
            )
    else:
        s.notes.append("No articles match the filter.")
    sections.append(s)

    # Dedup
    s = Section("dedup", "Duplicates")
    cols = data.dedup_columns
    if data.dedup:
        names = [r.source for r in data.dedup]
        traces = [
            {
                "type": "bar",
                "name": "repeated inside the article (duplicate_of)",
                "x": [_label(n, 40) for n in names],
                "y": [_pct(r.duplicate_paragraphs, r.paragraphs) for r in data.dedup],
                "customdata": [[r.duplicate_paragraphs, r.paragraphs] for r in data.dedup],
                "hovertemplate": "%{x}<br>%{y:.2f}% (%{customdata[0]:,} of %{customdata[1]:,} paragraphs)"
                "<extra>%{fullData.name}</extra>",
                "marker": {"color": PALETTE[0]},
            }
        ]
        if cols.boilerplate is not None:
            traces.append(
                {
                    "type": "bar",
                    "name": "boilerplate (paragraphs.boilerplate)",
                    "x": [_label(n, 40) for n in names],
                    "y": [_pct(r.boilerplate_paragraphs or 0, r.paragraphs) for r in data.dedup],
                    "customdata": [[r.boilerplate_paragraphs or 0, r.paragraphs] for r in data.dedup],
                    "hovertemplate": "%{x}<br>%{y:.2f}% (%{customdata[0]:,} of %{customdata[1]:,} paragraphs)"
                    "<extra>%{fullData.name}</extra>",
                    "marker": {"color": PALETTE[1]},
                }
            )
        s.charts.append(
            Chart(
                "dedup-paragraphs",
                "Duplicate paragraphs per source",
                "Share of each source's paragraphs that repeat an earlier paragraph of the same article"
                + (" and that are boilerplate" if cols.boilerplate is not None else "")
                + f" (top 10 sources by articles, the rest as (other)); {f}.",
                {
                    "data": traces,
                    "layout": _layout(340, barmode="group", yaxis={"title": {"text": "% of paragraphs"}}),
                },
            )
        )
        if cols.duplicate_of:
            s.charts.append(
                Chart(
                    "dedup-articles",
                    "Near-duplicate articles per source",
                    "Share of each source's articles marked as a near-duplicate of another article "
                    f"(articles.duplicate_of IS NOT NULL; top 10 sources, the rest as (other)); {f}.",
                    {
                        "data": [
                            {
                                "type": "bar",
                                "x": [_label(n, 40) for n in names],
                                "y": [_pct(r.near_duplicates or 0, r.articles) for r in data.dedup],
                                "customdata": [
                                    [
                                        r.near_duplicates or 0,
                                        r.articles,
                                        "n/a" if r.mean_similarity is None else f"{r.mean_similarity:.3f}",
                                    ]
                                    for r in data.dedup
                                ],
                                "hovertemplate": "%{x}<br>%{y:.2f}% (%{customdata[0]:,} of %{customdata[1]:,} "
                                "articles)<br>mean similarity %{customdata[2]}<extra></extra>",
                                "marker": {"color": PALETTE[2]},
                            }
                        ],
                        "layout": _layout(320, yaxis={"title": {"text": "% of articles"}}),
                    },
                )
            )
    else:
        s.notes.append("No articles match the filter.")
    if cols.boilerplate is None:
        s.notes.append(
            "paragraphs.boilerplate is not in this dataset (written by a newer feedflow): boilerplate shares "
            "are not shown."
        )
    if not cols.duplicate_of:
        s.notes.append(
            "articles.duplicate_of is not in this dataset (cross-article dedup, written by a newer feedflow): "
            "near-duplicate articles and syndication clusters are not shown."
        )
    elif not cols.similarity:
        s.notes.append("articles.similarity is not in this dataset: cluster similarity is not shown.")
    sections.append(s)

    # Feeds
    s = Section("feeds", "Feeds")
    if data.feed_volume:
        s.charts.append(
            Chart(
                "feed-volume",
                "Entries per day per feed",
                "Articles per day per feed URL (articles.feed_url; top 8 feeds by articles, the rest as (other)); "
                f"{f}.",
                _daily_chart(data.feed_volume, "articles"),
            )
        )
    sections.append(s)
    return sections


# ----------------------------------------------------------------------------------------- rendering


def _script_json(value: Any) -> str:
    """JSON that is safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` as ``\\u`` escapes, so no
    data can close the element or open a comment."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=str)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028")):
        text = text.replace(char, escaped)
    return text.replace("\u2029", "\\u2029")


def plotly_js() -> str:
    """The minified plotly.js bundled with the pinned ``plotly`` package, checked safe to inline."""
    from plotly.offline import get_plotlyjs

    source: str = get_plotlyjs()
    lowered = source.lower()
    if "</script" in lowered or "<!--" in source:
        raise RuntimeError("the bundled plotly.js cannot be inlined in a <script> element")
    return source


def _fmt_int(value: Any) -> str:
    return "–" if value is None else f"{int(value):,}"


def _fmt_date(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _fmt_iso(value: str | None) -> str:
    """An ISO-8601 time from the ingest state as ``YYYY-MM-DD HH:MM UTC``; other text as it is."""
    if not value:
        return "–"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value
    return _fmt_date(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _fmt_pct(part: int | None, whole: int) -> str:
    return "–" if part is None else f"{_pct(part, whole):.1f}%"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(
            lambda name: resources.files("feedflow").joinpath(name).read_text(encoding="utf-8")
        ),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["int"] = _fmt_int
    env.filters["when"] = _fmt_date
    env.filters["pct"] = _fmt_pct
    env.filters["iso"] = _fmt_iso
    env.filters["script_json"] = _script_json
    return env


def render_html(data: ReportData, js: str | None = None) -> str:
    """The whole report as one HTML document (plotly.js inlined unless ``js`` is given)."""
    sections = build_sections(data)
    charts = {c.id: c for s in sections for c in s.charts}
    template = _environment().get_template(TEMPLATE)
    return template.render(
        data=data,
        sections={s.id: s for s in sections},
        charts=charts,
        version=feedflow.__version__,
        plotly_js=plotly_js() if js is None else js,
        other=OTHER,
    )


def write_report(root: str, out: str | os.PathLike[str], filters: Filters) -> tuple[Path, ReportData]:
    """Query ``root``, render, and write the report to ``out`` atomically (temporary name, then rename)."""
    data = build_report(root, filters)
    document = render_html(data)
    path = Path(out)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(document, encoding="utf-8")
    os.replace(tmp, path)
    return path, data


# --------------------------------------------------------------------------------------------- CLI


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _is_dataset(root: Path) -> bool:
    return any((root / name).exists() for name in ("articles", "rejects", RUNS_DIR, "_state"))


def report_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="feedflow report",
        description="Write one self-contained, offline HTML report of a feedflow dataset.",
    )
    parser.add_argument("dataset", metavar="DIR")
    parser.add_argument("--out", default="report.html", help="the HTML file to write (default: report.html)")
    parser.add_argument("--since", type=_parse_date, metavar="DATE", help="first date included (YYYY-MM-DD)")
    parser.add_argument("--until", type=_parse_date, metavar="DATE", help="last date included (YYYY-MM-DD)")
    parser.add_argument(
        "--source", dest="sources", nargs="+", action="extend", default=[], metavar="DOMAIN", help="only these sources"
    )
    ns = parser.parse_args(argv)
    root = Path(ns.dataset)
    if not root.is_dir() or not _is_dataset(root):
        print(f"feedflow: error: no feedflow dataset at {root}", file=sys.stderr)
        return 2
    if ns.since and ns.until and ns.since > ns.until:
        print(f"feedflow: error: --since {ns.since} is after --until {ns.until}", file=sys.stderr)
        return 2
    out = Path(ns.out)
    if not out.parent.is_dir():
        print(f"feedflow: error: folder {out.parent} does not exist", file=sys.stderr)
        return 2
    filters = Filters(ns.since, ns.until, tuple(dict.fromkeys(ns.sources)))
    started = time.perf_counter()
    try:
        path, data = write_report(str(root), out, filters)
    except duckdb.Error as err:
        print(f"feedflow: error: reading {root} failed: {str(err).splitlines()[0]}", file=sys.stderr)
        return 1
    except OSError as err:
        print(f"feedflow: error: cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    size = path.stat().st_size
    print(
        f"wrote {path} ({size / 1e6:.1f} MB) in {seconds:.1f}s: {data.overview.articles:,} articles, "
        f"{data.overview.sources:,} sources; {data.filter_text}"
    )
    return 0
