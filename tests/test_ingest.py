"""The ingester: polite polling (against a real local HTTP server), scheduling, state, ticks, crash safety."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feedflow.config import FetchConfig, ReadConfig
from feedflow.core import schedule
from feedflow.core.dataset import Dataset
from feedflow.core.feedlist import FeedListError, read_feed_lists
from feedflow.core.poll import FAILED, NEW, NOT_MODIFIED, UNCHANGED, PollConfig, poll_feed
from feedflow.core.state import FeedState, StateStore, Subscription
from feedflow.model import RawArticle, Rejection
from feedflow.query import run_query

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2024, 4, 20, 12, 0, tzinfo=UTC)
FAST = PollConfig(
    read=ReadConfig(fetch=FetchConfig(connect_timeout=2, read_timeout=0.5, max_bytes=200_000, allow_private=True))
)


def rss(*items: tuple[str, str, str], ttl: int | None = None, encoding: str = "utf-8") -> bytes:
    """A small RSS 2.0 feed of (guid, title, body) items, published a day apart before NOW."""
    parts = [f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>T</title>',
             "<link>https://news.example.com/</link>", f"<ttl>{ttl}</ttl>" if ttl else ""]  # fmt: skip
    for n, (guid, title, body) in enumerate(items):
        day = (NOW - timedelta(days=n + 1)).strftime("%a, %d %b %Y %H:%M:%S +0000")
        parts.append(
            f"<item><guid>{guid}</guid><link>https://news.example.com/{guid}</link><title>{title}</title>"
            f"<pubDate>{day}</pubDate><description>{body}</description></item>"
        )
    parts.append("</channel></rss>")
    return "".join(parts).encode(encoding)


FEED = rss(("a1", "Storm nears coast", "The storm is near the coast tonight."),
           ("a2", "Council votes", "The council voted on the new budget."))  # fmt: skip


def state_for(url: str, **changes: Any) -> FeedState:
    return replace(FeedState(url=url, fetch_url=url), **changes)


def entries(records: tuple[RawArticle | Rejection, ...]) -> list[RawArticle]:
    return [r for r in records if isinstance(r, RawArticle)]


# ------------------------------------------------------------------------------ polling one feed


def test_conditional_get_sends_etag_and_last_modified_and_304_means_no_work(http_server: Any) -> None:
    url = http_server.route("/f.xml", FEED, headers={"ETag": '"v1"', "Last-Modified": "Sat, 20 Apr 2024 10:00:00 GMT"})
    first = poll_feed(state_for(url), FAST, NOW)
    assert first.outcome == NEW and len(entries(first.records)) == 2
    assert first.state.etag == '"v1"' and first.state.entries_seen == 2
    http_server.route("/f.xml", b"", status=304)
    second = poll_feed(first.state, FAST, NOW + timedelta(hours=1))
    assert second.outcome == NOT_MODIFIED and second.records == ()
    sent = http_server.requests[-1].headers
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == "Sat, 20 Apr 2024 10:00:00 GMT"
    assert "feedflow" in sent["user-agent"]
    assert second.state.consecutive_failures == 0 and second.state.body_hash == first.state.body_hash


def test_ignore_etag_leaves_if_none_match_out(http_server: Any) -> None:
    url = http_server.route("/f.xml", FEED)
    poll_feed(state_for(url, etag='"v1"', ignore_etag=True, last_modified="x"), FAST, NOW)
    assert "if-none-match" not in http_server.requests[-1].headers


def test_an_unchanged_body_is_not_parsed_again(http_server: Any) -> None:
    url = http_server.route("/f.xml", FEED)  # a server that ignores conditional headers
    first = poll_feed(state_for(url), FAST, NOW)
    second = poll_feed(first.state, FAST, NOW + timedelta(hours=1))
    assert second.outcome == UNCHANGED and second.records == ()
    assert second.state.entries_seen == 2


def test_a_permanent_redirect_moves_the_feed_and_a_temporary_one_does_not(http_server: Any) -> None:
    new = http_server.route("/new.xml", FEED)
    old = http_server.redirect("/old.xml", "/new.xml", status=301)
    moved = poll_feed(state_for(old), FAST, NOW)
    assert moved.outcome == NEW and moved.state.fetch_url == new and moved.state.url == old
    assert all(e.feed_url == old for e in entries(moved.records))  # ids stay stable across the move
    temp = http_server.redirect("/temp.xml", "/new.xml", status=302)
    visited = poll_feed(state_for(temp), FAST, NOW)
    assert visited.outcome == NEW and visited.state.fetch_url == temp


def test_429_with_retry_after_is_a_failure_that_waits_as_asked(http_server: Any) -> None:
    url = http_server.route("/f.xml", b"slow down", status=429, headers={"Retry-After": "7200"})
    result = poll_feed(state_for(url), FAST, NOW)
    assert result.outcome == FAILED and result.state.consecutive_failures == 1
    assert result.state.next_due_at == NOW + timedelta(seconds=7200)
    [reject] = result.records
    assert isinstance(reject, Rejection) and reject.reason == "feed_http_429" and reject.input == url


def test_500_backs_off_exponentially_then_recovers(http_server: Any) -> None:
    url = http_server.route("/f.xml", b"oops", status=500)
    state = state_for(url)
    delays = []
    for n in range(4):
        result = poll_feed(state, FAST, NOW)
        state = result.state
        assert result.outcome == FAILED and state.last_status == "feed_http_500"
        assert state.consecutive_failures == n + 1
        assert state.next_due_at is not None
        delays.append((state.next_due_at - NOW).total_seconds())
    assert delays == [300, 600, 1200, 2400]
    http_server.route("/f.xml", FEED)
    recovered = poll_feed(state, FAST, NOW)
    assert recovered.outcome == NEW and recovered.state.consecutive_failures == 0
    assert recovered.state.last_success_at == NOW


def test_backoff_is_capped_at_a_day_and_the_feed_is_never_dropped() -> None:
    config = schedule.ScheduleConfig()
    assert schedule.after_failure(50, None, config) == 24 * 3600
    assert schedule.after_failure(1, 10 * 24 * 3600, config) == 24 * 3600


def test_a_slow_server_times_out(http_server: Any) -> None:
    url = http_server.route("/f.xml", FEED, delay=3.0)
    result = poll_feed(state_for(url), FAST, NOW)
    assert result.outcome == FAILED and result.state.last_status == "feed_timeout"


def test_an_oversized_body_is_cut_off_and_rejected(http_server: Any) -> None:
    url = http_server.route("/f.xml", b"<rss>" + b" " * 300_000 + b"</rss>", chunked=True)
    result = poll_feed(state_for(url), FAST, NOW)
    assert result.outcome == FAILED and result.state.last_status == "feed_too_large"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_compressed_responses(http_server: Any, encoding: str) -> None:
    body = gzip.compress(FEED) if encoding == "gzip" else zlib.compress(FEED)
    url = http_server.route("/f.xml", body, headers={"Content-Encoding": encoding})
    result = poll_feed(state_for(url), FAST, NOW)
    assert result.outcome == NEW and len(entries(result.records)) == 2


def test_a_wrong_content_type_does_not_matter(http_server: Any) -> None:
    url = http_server.route("/f", FEED, headers={"Content-Type": "text/plain"})
    result = poll_feed(state_for(url), FAST, NOW)
    assert result.outcome == NEW and [e.title for e in entries(result.records)] == [
        "Storm nears coast",
        "Council votes",
    ]


def test_a_charset_declared_only_in_http_headers(http_server: Any) -> None:
    body = rss(("c1", "Atenção à saúde", "Notícias de São Paulo."), encoding="iso-8859-1")
    body = body.replace(b' encoding="iso-8859-1"', b"")  # only the HTTP header says it
    url = http_server.route("/f.xml", body, headers={"Content-Type": "application/rss+xml; charset=ISO-8859-1"})
    [entry] = entries(poll_feed(state_for(url), FAST, NOW).records)
    assert entry.title == "Atenção à saúde"


def test_an_unparsable_body_is_a_failure(http_server: Any) -> None:
    url = http_server.route("/f.xml", b"<html><body>Moved</body></html>" * 2, headers={"Content-Type": "text/html"})
    result = poll_feed(state_for(url), FAST, NOW)
    assert result.outcome == FAILED and result.state.consecutive_failures == 1
    assert all(isinstance(r, Rejection) for r in result.records) and result.records


def test_unreachable_host(closed_port_url: str) -> None:
    result = poll_feed(state_for(closed_port_url), FAST, NOW)
    assert result.outcome == FAILED and result.state.last_status == "feed_unreachable"


# ------------------------------------------------------------------------------- scheduling


def test_interval_adapts_to_the_feeds_rhythm_within_bounds() -> None:
    config = schedule.ScheduleConfig()
    hourly = [NOW - timedelta(hours=h) for h in range(48)]
    assert schedule.observed_interval(hourly, NOW, config) == 7 * 24 * 3600 // 48
    busy = [NOW - timedelta(minutes=m) for m in range(0, 7 * 24 * 60, 2)]  # every 2 min: clamped to 5 min
    assert schedule.observed_interval(busy, NOW, config) == 300
    assert schedule.observed_interval([NOW - timedelta(days=30)], NOW, config) == 24 * 3600
    assert schedule.observed_interval([None], NOW, config) == config.default_interval


def test_server_hints_are_lower_bounds() -> None:
    config = schedule.ScheduleConfig()
    hourly = [NOW - timedelta(hours=h) for h in range(200)]
    assert schedule.after_success(hourly, [schedule.max_age("public, max-age=3600")], NOW, config) == 3600
    assert schedule.rss_ttl(rss(("x", "t", "b"), ttl=90)) == 5400
    assert schedule.retry_after("Sat, 20 Apr 2024 13:00:00 GMT", NOW) == 3600
    assert schedule.retry_after("soon", NOW) is None


def test_ttl_and_max_age_reach_the_feed_state(http_server: Any) -> None:
    url = http_server.route("/f.xml", rss(("x", "t", "b"), ttl=120), headers={"Cache-Control": "max-age=60"})
    result = poll_feed(state_for(url), FAST, NOW)
    assert result.state.interval_seconds is not None and result.state.interval_seconds >= 7200


# ----------------------------------------------------------------------------- lists and state


def test_feed_lists_text_and_opml(tmp_path: Path) -> None:
    text = tmp_path / "feeds.txt"
    text.write_text("# mine\nhttps://a.example/rss   ignore-etag\n\nlocal.xml # a comment\nhttps://a.example/rss\n")
    subs = read_feed_lists([str(text), str(REPO / "seeds" / "feeds.opml")])
    assert subs[0] == Subscription("https://a.example/rss", ignore_etag=True)
    assert subs[1].url == str(tmp_path / "local.xml")
    assert {Path(s.url).name for s in subs[2:]} == {"world.atom", "markets.rss"}
    bad = tmp_path / "bad.txt"
    bad.write_text("https://a.example/rss  ignore-etags\n")
    with pytest.raises(FeedListError, match=r"bad.txt:1: unknown option"):
        read_feed_lists([str(bad)])
    bad.write_text("ftp://a.example/rss\n")
    with pytest.raises(FeedListError, match="only http"):
        read_feed_lists([str(bad)])


def test_state_store_round_trip_and_subscriptions(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    active = store.subscribe([Subscription("https://a/1"), Subscription("https://a/2", ignore_etag=True)])
    assert [(s.url, s.ignore_etag, s.is_due(NOW)) for s in active] == [
        ("https://a/1", False, True),
        ("https://a/2", True, True),
    ]
    changed = replace(active[0], etag='"e"', next_due_at=NOW + timedelta(hours=1), consecutive_failures=2)
    store.save([changed])
    assert store.load()[0] == changed and not store.load()[0].is_due(NOW)
    remaining = store.subscribe([Subscription("https://a/1")])
    assert [s.url for s in remaining] == ["https://a/1"]
    assert [s.active for s in store.load()] == [True, False]


# ----------------------------------------------------------------------------------- ticks


def ingest(out: Path, lists: list[Path], *extra: str, crash_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("FEEDFLOW_CRASH_AT", None)
    if crash_at:
        env["FEEDFLOW_CRASH_AT"] = crash_at
    args = [sys.executable, "-m", "feedflow.cli", "ingest", "--feeds", *map(str, lists), "--output", str(out),
            "--once", "--ignore-schedule", "--skip", "entities", *extra]  # fmt: skip
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, check=False)


def articles(out: Path) -> list[tuple[Any, ...]]:
    return run_query(str(out), "SELECT article_id, version, title FROM articles ORDER BY ALL")[1]


def visible_files(out: Path) -> list[str]:
    return sorted(
        str(p.relative_to(out)) for t in ("articles", "paragraphs", "rejects") for p in (out / t).rglob("*.parquet")
    )


@pytest.fixture
def served_feeds(http_server: Any, tmp_path: Path) -> tuple[Any, Path]:
    http_server.route("/a.xml", FEED, headers={"ETag": '"a1"'})
    http_server.route("/b.xml", rss(("b1", "Markets rally", "Shares rose sharply on Friday.")))
    http_server.route("/down.xml", b"no", status=503, headers={"Retry-After": "120"})
    lst = tmp_path / "feeds.txt"
    lst.write_text("\n".join(http_server.url(p) for p in ("/a.xml", "/b.xml", "/down.xml")) + "\n")
    return http_server, lst


@pytest.mark.slow
def test_two_ticks_over_unchanged_feeds_add_zero_rows_and_a_revision_is_version_2(
    served_feeds: tuple[Any, Path], tmp_path: Path
) -> None:
    server, lst = served_feeds
    out = tmp_path / "data"
    first = ingest(out, [lst])
    assert first.returncode == 0, first.stderr
    assert "3 feeds polled, 0 not modified, 1 failed; 3 new articles" in first.stdout
    before = articles(out)
    second = ingest(out, [lst])
    assert second.returncode == 0, second.stderr
    assert "0 new articles, 0 updated" in second.stdout and articles(out) == before
    server.route("/a.xml", rss(("a1", "Storm reaches coast", "The storm reached the coast at dawn."),
                               ("a2", "Council votes", "The council voted on the new budget.")))  # fmt: skip
    third = ingest(out, [lst])
    assert "0 new articles, 1 updated" in third.stdout, third.stdout
    rows = articles(out)
    assert len(rows) == 4 and sorted(v for _, v, _ in rows) == [1, 1, 1, 2]
    states = {s.url.rsplit("/", 1)[1]: s for s in StateStore(out).load()}
    assert states["down.xml"].consecutive_failures == 3 and states["down.xml"].last_status == "feed_http_503"
    failures = run_query(str(out), "SELECT count(*) FROM rejects WHERE reason = 'feed_http_503'")[1]
    assert failures == [(3,)]


@pytest.mark.slow
def test_a_second_ingester_on_the_same_dir_is_refused(served_feeds: tuple[Any, Path], tmp_path: Path) -> None:
    _, lst = served_feeds
    out = tmp_path / "data"
    with Dataset(out).lock():
        result = ingest(out, [lst])
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("feedflow: error:") and "is being written by feedflow pid" in last


@pytest.mark.slow
@pytest.mark.parametrize("point", ["before_commit", "mid_commit", "after_commit"])
def test_kill_9_during_a_tick_then_a_clean_tick_is_exactly_once(
    served_feeds: tuple[Any, Path], tmp_path: Path, point: str
) -> None:
    _, lst = served_feeds
    reference = tmp_path / "reference"
    assert ingest(reference, [lst]).returncode == 0
    out = tmp_path / "data"
    killed = ingest(out, [lst], crash_at=point)
    assert killed.returncode == -signal.SIGKILL
    if point == "before_commit":
        assert articles(out) == []  # nothing visible from the killed tick
    clean = ingest(out, [lst])
    assert clean.returncode == 0, clean.stderr
    assert articles(out) == articles(reference)
    ids = run_query(str(out), "SELECT count(*), count(DISTINCT (article_id, version)) FROM articles")[1]
    assert ids[0][0] == ids[0][1] == 3
    assert not any((out / "_staging").iterdir())


@pytest.mark.slow
def test_kill_9_at_random_moments_never_leaves_partial_or_duplicate_data(
    served_feeds: tuple[Any, Path], tmp_path: Path
) -> None:
    _, lst = served_feeds
    reference = tmp_path / "reference"
    assert ingest(reference, [lst]).returncode == 0
    out = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "FEEDFLOW_CRASH_AT"}
    args = [sys.executable, "-m", "feedflow.cli", "ingest", "--feeds", str(lst), "--output", str(out),
            "--once", "--ignore-schedule", "--skip", "entities"]  # fmt: skip
    for delay in (0.5, 1.5, 2.5, 3.5):
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        # whatever the moment, what queries can see is whole: no duplicate ids, no temp files
        rows = articles(out) if (out / "articles").exists() else []
        assert len(rows) == len(set(rows))
        assert not [f for f in visible_files(out) if Path(f).name.startswith(".")]
    assert ingest(out, [lst]).returncode == 0
    assert articles(out) == articles(reference)


@pytest.mark.slow
def test_sigterm_abandons_the_tick_in_flight(served_feeds: tuple[Any, Path], tmp_path: Path) -> None:
    server, lst = served_feeds
    server.route("/slow.xml", FEED, delay=5)
    lst.write_text(lst.read_text() + server.url("/slow.xml") + "\n")
    out = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if k != "FEEDFLOW_CRASH_AT"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "feedflow.cli", "ingest", "--feeds", str(lst), "--output", str(out), "--once",
         "--skip", "entities"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(r.path == "/slow.xml" for r in server.requests) and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert "abandoned" in err
    assert visible_files(out) == []
    assert not (out / "_staging").exists() or not any((out / "_staging").iterdir())
    assert not (out / "_state" / "feeds.sqlite").exists() or all(
        s.last_polled_at is None for s in StateStore(out).load()
    )


@pytest.mark.slow
def test_fetch_articles_replaces_summaries_with_page_text_once(http_server: Any, tmp_path: Path) -> None:
    page = (
        "<html><head><title>Storm nears coast</title></head><body><article><h1>Storm nears coast</h1>"
        + "".join(
            f"<p>{w} the storm moved along the coast overnight, forecasters at the national weather service "
            "said on Saturday morning.</p>"
            for w in ("First,", "Then", "Later", "Finally")
        )
        + "</article></body></html>"
    )
    feed = rss(("s1", "Storm nears coast", "Short summary."), ("s2", "Council votes", "Another summary."))
    feed = feed.replace(b"https://news.example.com/s1", http_server.url("/s1").encode())
    feed = feed.replace(b"https://news.example.com/s2", http_server.url("/s2").encode())
    http_server.route("/f.xml", feed)
    http_server.route("/s1", page, headers={"Content-Type": "text/html"})  # /s2 is a 404
    lst = tmp_path / "feeds.txt"
    lst.write_text(http_server.url("/f.xml") + "\n")
    out = tmp_path / "data"
    first = ingest(out, [lst], "--fetch-articles", "--allow-private")
    assert first.returncode == 0, first.stderr
    got = dict((t, (s, x)) for t, s, x in run_query(str(out), "SELECT title, page_status, text FROM articles")[1])
    assert got["Storm nears coast"][0] == "ok" and got["Storm nears coast"][1].startswith("First, the storm moved")
    assert got["Council votes"] == ("http_404", "Another summary.")
    page_requests = [r.path for r in http_server.requests if r.path in ("/s1", "/s2")]
    assert sorted(page_requests) == ["/s1", "/s2"]
    http_server.route("/f.xml", feed + b" ")  # a changed body: parsed again, but the entries are known
    second = ingest(out, [lst], "--fetch-articles", "--allow-private")
    assert second.returncode == 0 and "0 new articles, 0 updated, 2 known" in second.stdout, second.stdout
    assert [r.path for r in http_server.requests if r.path in ("/s1", "/s2")] == page_requests
