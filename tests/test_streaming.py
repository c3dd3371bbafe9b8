"""The streaming ingester: a bounded PeriodicImpulse run on the in-process runner against feeds served by a
real local HTTP server, compared with what `feedflow ingest --once` ticks write; event-time ordering; the
commit-time check against history."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from apache_beam.transforms import window

from feedflow.cli import main
from feedflow.core.dataset import KnownVersion
from feedflow.core.state import FeedState, StateStore, state_to_json
from feedflow.model import Article
from feedflow.query import run_query
from feedflow.runs import AccountingError
from feedflow.transforms.streaming import (
    CommitInOrderFn,
    InEventTimeOrder,
    WindowBatch,
    against_history,
    latest_versions,
)


def rss(*items: tuple[str, str, str]) -> bytes:
    """An RSS 2.0 feed of (guid, title, body) items with links on news.example.com (ids come from them)."""
    entries = "".join(
        f"<item><guid>{guid}</guid><link>https://news.example.com/{guid}</link><title>{title}</title>"
        f"<pubDate>Sat, 0{n + 1} Jun 2024 10:00:00 +0000</pubDate><description>{body}</description></item>"
        for n, (guid, title, body) in enumerate(items)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>{entries}</channel></rss>'.encode()


A1 = ("a1", "Storm nears coast", "The storm is near the coast tonight, forecasters said.")
A1_REVISED = ("a1", "Storm reaches coast", "The storm reached the coast at dawn, forecasters said.")
A2 = ("a2", "Council votes", "The council voted on the new budget after a long debate.")
B1 = ("b1", "Markets rally", "Shares rose sharply on Friday as investors cheered the data.")
#: What /a.xml answers on its 1st, 2nd and 3rd request: two entries; a1 revised (a2 unchanged, so it
#: must not be written again); the same entries in a changed body (both known).
A_VERSIONS = (rss(A1, A2), rss(A1_REVISED, A2), rss(A1_REVISED, A2) + b" ")


def serve_in_turn(server: Any, path: str, bodies: tuple[bytes, ...]) -> None:
    """The n-th request for ``path`` gets ``bodies[n-1]`` (the last one from then on)."""
    original: Callable[[str], Any] = server._lookup

    def lookup(requested: str) -> Any:
        if urlsplit(requested).path == path:
            n = sum(1 for r in server.requests if urlsplit(r.path).path == path)  # this request included
            server.route(path, bodies[min(n, len(bodies)) - 1], headers={"Content-Type": "application/rss+xml"})
        return original(requested)

    server._lookup = lookup


def publish(server: Any, folder: Path, prefix: str) -> Path:
    """Three feeds under ``prefix``: one changing per request, one static with an ETag, one down."""
    serve_in_turn(server, f"{prefix}/a.xml", A_VERSIONS)
    server.route(f"{prefix}/b.xml", rss(B1), headers={"ETag": '"b1"'})  # ignores If-None-Match: same body
    server.route(f"{prefix}/down.xml", b"no", status=503, headers={"Retry-After": "120"})
    folder.mkdir(parents=True, exist_ok=True)
    lst = folder / "feeds.txt"
    lst.write_text("".join(server.url(f"{prefix}/{name}") + "\n" for name in ("a.xml", "b.xml", "down.xml")))
    return lst


COMMON = ("--ignore-schedule", "--skip", "entities")


def articles(out: Path) -> list[tuple[Any, ...]]:
    return run_query(str(out), "SELECT article_id, version, title, content_hash FROM articles ORDER BY ALL")[1]


@pytest.fixture(scope="module")
def bounded_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One bounded streaming run (3 ticks, 1 s apart) and its reference: three `ingest --once` ticks."""
    from conftest import LocalHTTPServer  # the http_server fixture's class (module scope: one run)

    server = LocalHTTPServer().start()
    try:
        base = tmp_path_factory.mktemp("stream")
        out, reference = base / "stream", base / "reference"
        lst = publish(server, base / "s", "/s")
        began = time.monotonic()
        status = main(["ingest", "--streaming", "--feeds", str(lst), "--output", str(out), "--every", "1s",
                       "--max-ticks", "3", *COMMON])  # fmt: skip
        seconds = time.monotonic() - began
        ref_list = publish(server, base / "r", "/r")
        for _ in range(3):
            assert main(["ingest", "--feeds", str(ref_list), "--output", str(reference), "--once", *COMMON]) == 0
        yield {"status": status, "out": out, "reference": reference, "server": server, "seconds": seconds}
    finally:
        server.stop()


def manifests(out: Path) -> list[dict[str, Any]]:
    return sorted(
        (json.loads(p.read_text()) for p in (out / "_runs").glob("*.json")), key=lambda m: m["settings"]["window"]
    )


@pytest.mark.slow
def test_a_bounded_stream_writes_what_once_ticks_write(bounded_run: dict[str, Any]) -> None:
    out, reference = bounded_run["out"], bounded_run["reference"]
    assert bounded_run["status"] == 0
    rows = articles(out)
    assert rows == articles(reference)
    assert sorted((i[:6], v) for i, v, _, _ in rows) == sorted(
        (i[:6], v) for i, v, _, _ in articles(reference)
    )  # same ids and versions
    [(total, distinct)] = run_query(str(out), "SELECT count(*), count(DISTINCT (article_id, version)) FROM articles")[1]
    assert total == distinct == 4  # a1 v1, a1 v2, a2, b1
    windows = manifests(out)
    assert len(windows) == 3 and all(m["settings"]["job"] == "stream" for m in windows)
    assert [m["counts"]["articles"] for m in windows] == [3, 1, 0]
    assert [m["counts"]["rejected"] for m in windows] == [1, 1, 1]  # the 503 feed at each tick
    assert not any((out / "_staging").iterdir())


@pytest.mark.slow
def test_an_entry_of_window_1_is_not_written_again_and_a_changed_one_is_version_2(
    bounded_run: dict[str, Any],
) -> None:
    out = bounded_run["out"]
    by_title = {title: version for _, version, title, _ in articles(out)}
    assert by_title == {"Storm nears coast": 1, "Storm reaches coast": 2, "Council votes": 1, "Markets rally": 1}
    second = manifests(out)[1]
    assert second["counts"]["skipped_existing"] == 1  # a2, parsed again in window 2, was window 1's
    assert second["metrics"]["DropSeenArticles.new_version"] == 1
    assert manifests(out)[2]["counts"]["skipped_existing"] == 2  # a changed body, both entries known


@pytest.mark.slow
def test_feed_state_flows_between_ticks_in_beam_state_and_is_saved_after_the_commits(
    bounded_run: dict[str, Any],
) -> None:
    out, server = bounded_run["out"], bounded_run["server"]
    b_requests = [r for r in server.requests if r.path == "/s/b.xml"]
    assert len(b_requests) == 3
    # Tick 2 sent the ETag that tick 1 saw, although (in-process) no window had committed yet.
    assert "if-none-match" not in b_requests[0].headers
    assert all(r.headers.get("if-none-match") == '"b1"' for r in b_requests[1:])
    states = {Path(s.url).name: s for s in StateStore(out).load()}
    assert states["down.xml"].consecutive_failures == 3 and states["down.xml"].last_status == "feed_http_503"
    assert states["b.xml"].last_status == "unchanged" and states["a.xml"].last_status == "ok"
    assert run_query(str(out), "SELECT count(*) FROM rejects WHERE reason = 'feed_http_503'")[1] == [(3,)]


class Recorder(InEventTimeOrder):
    """Emits (key, position in the key's order, value)."""

    def handle(self, key: Any, memo: Any, value: Any) -> tuple[Any, list[Any]]:
        seen = (memo or 0) + 1
        return seen, [(key, seen, value)]


def test_values_are_handled_in_event_time_order_per_key() -> None:
    arrivals = [("h", 30), ("h", 10), ("g", 5), ("h", 20), ("g", 1)]  # (key, event time in seconds)
    with beam.Pipeline(runner=FnApiRunner()) as pipeline:
        handled = (
            pipeline
            | beam.Create(arrivals)
            | beam.Map(lambda kv: window.TimestampedValue((kv[0], kv[1]), kv[1]))
            | beam.ParDo(Recorder())
        )
        assert_that(handled, equal_to([("h", 1, 10), ("h", 2, 20), ("h", 3, 30), ("g", 1, 1), ("g", 2, 5)]))


def _article(article_id: str, digest: str) -> Article:
    return Article(
        article_id=article_id, input="i", locator="", kind="feed", url=None, source="s", feed_url=None, title="t",
        authors=(), published_at=None, fetched_at=datetime(2024, 6, 1, tzinfo=UTC), summary=None, paragraphs=(),
        content_hash=digest,
    )  # fmt: skip


def test_commit_time_check_reads_only_the_windows_ids_and_takes_the_latest_version(tmp_path: Path) -> None:
    path = tmp_path / "part.parquet"
    pq.write_table(
        pa.table({"article_id": ["x", "x", "y", "z"], "version": [1, 2, 1, 1], "content_hash": ["1", "2", "y", "z"]}),
        path,
    )
    known = latest_versions([str(path)], ["x", "y", "new"])
    assert known == {"x": KnownVersion("x", 2, "2"), "y": KnownVersion("y", 1, "y")}
    assert against_history(_article("x", "2"), known["x"]) is None  # same as the latest: skipped
    revised = against_history(_article("x", "1"), known["x"])  # other content (even an older one): next version
    assert revised is not None and revised.version == 3
    fresh = _article("new", "hn")
    assert against_history(fresh, known.get("new")) is fresh


def test_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lst = tmp_path / "feeds.txt"
    lst.write_text("https://example.com/rss\n")
    assert main(["ingest", "--streaming", "--feeds", str(lst), "--output", str(tmp_path / "d")]) == 2
    assert "commits a stream's windows only when it ends: give --stop-after" in capsys.readouterr().err
    assert main(["ingest", "--feeds", str(lst), "--output", str(tmp_path / "d"), "--stop-after", "1m"]) == 2
    assert "--stop-after bounds a streaming run" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def _batch(*items: tuple[str, Any]) -> WindowBatch:
    start = datetime(2024, 6, 1, 10, 0, tzinfo=UTC)
    return WindowBatch(start, start + timedelta(minutes=15), items)


def _commit_step(out: Path) -> CommitInOrderFn:
    step = CommitInOrderFn(str(out), ("date",), {"runner": "FnApiRunner"}, "t0k3n")
    step.setup()
    return step


def test_a_window_commits_once_and_its_feed_state_is_saved_after_its_data(tmp_path: Path) -> None:
    out = tmp_path / "data"
    polled = state_to_json(FeedState(url="https://f.example/rss", fetch_url="https://f.example/rss", etag='"e"'))
    batch = _batch(("in", None), ("article", _article("x", "1")), ("poll", ("new", polled)))
    step = _commit_step(out)
    assert "1 new articles" in step.commit(batch)
    assert [s.etag for s in StateStore(out).load()] == ['"e"']
    assert step.commit(batch).endswith("already committed")  # a retried bundle adds nothing
    assert run_query(str(out), "SELECT article_id, version, run_id FROM articles")[1] == [
        ("x", 1, "20240601T100000Z-t0k3n")
    ]


def test_a_window_whose_accounting_fails_commits_nothing_and_saves_no_feed_state(tmp_path: Path) -> None:
    out = tmp_path / "data"
    polled = state_to_json(FeedState(url="https://f.example/rss", fetch_url="https://f.example/rss"))
    lost = _batch(("in", None), ("in", None), ("article", _article("x", "1")), ("poll", ("new", polled)))
    with pytest.raises(AccountingError, match="2 records in"):
        _commit_step(out).commit(lost)
    assert not (out / "articles").exists() and not list((out / "_runs").glob("*.json"))
    assert not any((out / "_staging").iterdir())
    assert not (out / "_state" / "feeds.sqlite").exists() or StateStore(out).load() == []


def stream_args(out: Path, lst: Path) -> list[str]:
    return ["ingest", "--streaming", "--feeds", str(lst), "--output", str(out), "--every", "1s", "--max-ticks", "1",
            *COMMON]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize("point", ["mid_commit", "after_commit"])
def test_kill_9_while_a_window_commits_then_a_clean_stream_is_exactly_once(
    http_server: Any, tmp_path: Path, point: str, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.route("/a.xml", rss(A1, A2), headers={"ETag": '"a"'})
    http_server.route("/b.xml", rss(B1))
    lst = tmp_path / "feeds.txt"
    lst.write_text(http_server.url("/a.xml") + "\n" + http_server.url("/b.xml") + "\n")
    env = {**os.environ, "FEEDFLOW_CRASH_AT": point}
    killed = subprocess.run([sys.executable, "-m", "feedflow.cli", *stream_args(tmp_path / "data", lst)],
                            capture_output=True, text=True, env=env, timeout=300, check=False)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # The first window's data is (mid_commit: journaled, rolled forward at the next start) or is committed;
    # its feed states were not saved, so the next start polls the same entries again.
    assert StateStore(tmp_path / "data").load() == [] or all(
        s.last_polled_at is None for s in StateStore(tmp_path / "data").load()
    )
    assert main(stream_args(tmp_path / "data", lst)) == 0
    assert "0 new articles, 0 updated, 3 known" in capsys.readouterr().out
    rows = articles(tmp_path / "data")  # what one clean stream writes: each entry once, version 1
    assert sorted((title, version) for _, version, title, _ in rows) == [
        ("Council votes", 1),
        ("Markets rally", 1),
        ("Storm nears coast", 1),
    ]
    assert len({article_id for article_id, *_ in rows}) == 3
    assert not any((tmp_path / "data" / "_staging").iterdir())


@pytest.mark.slow
def test_a_stream_tags_entities_like_once_ticks(http_server: Any, tmp_path: Path) -> None:
    """NER groups the pieces of a window by text and joins the mentions back within the window."""
    wire = "Angela Merkel met Emmanuel Macron in Paris on Friday, Reuters reported."
    feed = rss(
        ("e1", "Leaders meet", f"{wire} The talks covered trade."),
        ("e2", "Summit", f"{wire} Officials in Berlin welcomed the meeting."),
    )
    http_server.route("/e.xml", feed, headers={"Content-Type": "application/rss+xml"})
    lst = tmp_path / "feeds.txt"
    lst.write_text(http_server.url("/e.xml") + "\n")
    out, reference = tmp_path / "stream", tmp_path / "reference"
    common = ("--feeds", str(lst), "--ignore-schedule")
    assert main(["ingest", "--streaming", *common, "--output", str(out), "--every", "1s", "--max-ticks", "1"]) == 0
    assert main(["ingest", "--once", *common, "--output", str(reference)]) == 0
    sql = (
        "SELECT a.title, e.entity, e.label, e.first_offset FROM entities e JOIN articles a USING (article_id) "
        "ORDER BY ALL"
    )
    streamed = run_query(str(out), sql)[1]
    assert streamed == run_query(str(reference), sql)[1]
    assert {("Leaders meet", "Angela Merkel"), ("Summit", "Angela Merkel")} <= {(t, e) for t, e, *_ in streamed}
