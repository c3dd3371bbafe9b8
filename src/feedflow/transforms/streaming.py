"""The ingester as one Beam streaming pipeline: ticks → due feeds → polls → ProcessArticles → one commit
per window.

Ticks          ``PeriodicImpulse(start, stop, every)``: one element per tick, timestamped at the tick.
DueFeeds       tick → ``(host, [FeedState…])``, read when the tick is processed: the feed lists (new
               feeds subscribed) and the SQLite state store.
PollInOrder    stateful, keyed by host: the host's latest FeedStates (ETag, body hash, failures, next
               due time) live in Beam state, so tick N polls with what tick N-1 learned even before
               tick N-1 committed. Ticks are polled in event-time order (a watermark timer), a host's
               due feeds with at most ``per_host`` requests in flight (the batch PollHostFn).
Windows        ``FixedWindows(every)`` aligned on the first tick: tick N and everything it produced
               (entries, rejects, poll results) form window N.
ProcessArticles the batch transforms, per window, against the committed files listed at the tick.
CommitInOrder  a GroupByKey per window, then one stateful commit step (a single key) that commits the
               windows in event-time order, each as one atomic run of ``Dataset.commit_run``, and
               saves the window's feed states to SQLite only after its data committed.

Cross-window dedup: DropSeen inside ProcessArticles only sees what was committed when the window's tick
was processed, and an earlier window of the same stream may not have committed yet (on the in-process
runner none has: it runs stage by stage, so every window commits after the last tick). The commit step
therefore checks each article once more against the committed dataset, where every earlier window *has*
committed (commits are ordered): an id whose latest committed version has the same content is skipped
(``skipped_existing``), changed content becomes latest version + 1. Only the window's ids are looked
up (a pyarrow filter over the committed articles files); nothing is kept per article across windows.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam
import pyarrow.parquet as pq
from apache_beam import pvalue
from apache_beam.coders import PickleCoder
from apache_beam.pvalue import PBegin, PCollection
from apache_beam.transforms import window
from apache_beam.transforms.periodicsequence import PeriodicImpulse
from apache_beam.transforms.timeutil import TimeDomain
from apache_beam.transforms.userstate import BagStateSpec, ReadModifyWriteStateSpec, TimerSpec, on_timer
from apache_beam.utils.timestamp import MAX_TIMESTAMP, Timestamp

from feedflow.core.articles import BuildConfig
from feedflow.core.dataset import (
    RUNS,
    Dataset,
    KnownVersion,
    PartFileWriter,
    WrittenFile,
    article_rows,
    reject_row,
    write_listing,
)
from feedflow.core.faults import crash_point
from feedflow.core.feedlist import FeedListError, read_feed_lists
from feedflow.core.poll import FAILED, NOT_MODIFIED, UNCHANGED, PollConfig
from feedflow.core.schemas import load_schemas
from feedflow.core.state import FeedState, StateStore, state_from_json
from feedflow.model import Article, Rejection
from feedflow.options import IngestOptions, UsageError
from feedflow.runs import build_manifest, check_accounting
from feedflow.transforms.base import REJECTS
from feedflow.transforms.ingest import POLLS, FetchPages, PollHostFn, host_of
from feedflow.transforms.runner import committed_history
from feedflow.transforms.stages import ProcessArticles

_LOG = logging.getLogger("feedflow")
_EPOCH = datetime.min.replace(tzinfo=UTC)

# ------------------------------------------------------------------------- event-time ordering

_BUFFER = BagStateSpec("buffer", PickleCoder())
_MEMO = ReadModifyWriteStateSpec("memo", PickleCoder())
_PENDING = ReadModifyWriteStateSpec("pending", PickleCoder())
_DUE = TimerSpec("due", TimeDomain.WATERMARK)
_BUFFER_STATE = beam.DoFn.StateParam(_BUFFER)
_MEMO_STATE = beam.DoFn.StateParam(_MEMO)
_PENDING_STATE = beam.DoFn.StateParam(_PENDING)
_DUE_TIMER = beam.DoFn.TimerParam(_DUE)


class InEventTimeOrder(beam.DoFn):
    """Base of a stateful DoFn over ``(key, value)`` that handles each key's values in event-time order.

    Values are buffered in Beam state; a watermark timer hands them to :meth:`handle` once the
    watermark has passed their timestamp, so no earlier value can still arrive (Beam never promises
    arrival order). ``handle(key, memo, value)`` returns the key's new memo (kept in Beam state) and
    the outputs, which keep the value's timestamp. Timers have millisecond precision, so timestamps
    are compared in milliseconds; values with equal timestamps keep their arrival order.
    """

    def handle(self, key: Any, memo: Any, value: Any) -> tuple[Any, list[Any]]:
        raise NotImplementedError

    def process(
        self,
        element: tuple[Any, Any],
        timestamp: Any = beam.DoFn.TimestampParam,
        buffer: Any = _BUFFER_STATE,
        pending: Any = _PENDING_STATE,
        due: Any = _DUE_TIMER,
    ) -> None:
        millis = timestamp.micros // 1000
        buffer.add((millis, element[1]))
        first = pending.read()
        if first is None or millis < first:
            pending.write(millis)
            due.set(Timestamp(micros=millis * 1000))

    @on_timer(_DUE)
    def on_due(
        self,
        key: Any = beam.DoFn.KeyParam,
        fired: Any = beam.DoFn.TimestampParam,
        buffer: Any = _BUFFER_STATE,
        memo: Any = _MEMO_STATE,
        pending: Any = _PENDING_STATE,
        due: Any = _DUE_TIMER,
    ) -> Iterator[Any]:
        now = fired.micros // 1000
        items = sorted(buffer.read(), key=lambda item: item[0])
        ready = [item for item in items if item[0] <= now]
        later = [item for item in items if item[0] > now]
        buffer.clear()
        for item in later:
            buffer.add(item)
        state = memo.read()
        for millis, value in ready:
            state, outputs = self.handle(key, state, value)
            at = Timestamp(micros=millis * 1000)
            for out in outputs:
                if isinstance(out, pvalue.TaggedOutput):
                    yield pvalue.TaggedOutput(out.tag, window.TimestampedValue(out.value, at))
                else:
                    yield window.TimestampedValue(out, at)
        memo.write(state)
        if later:
            pending.write(later[0][0])
            due.set(Timestamp(micros=later[0][0] * 1000))
        else:
            pending.clear()


# ----------------------------------------------------------------------------------- polling


def due_feeds(tick: Any, feed_lists: Sequence[str], root: str) -> Iterator[tuple[str, list[FeedState]]]:
    """A tick → the active feeds per host, as the feed lists and the state store say now."""
    store = StateStore(root)
    try:
        store.subscribe(read_feed_lists(feed_lists))
    except FeedListError as err:
        _LOG.error("feed lists unusable at tick %s, keeping the previous subscriptions: %s", tick, err)
    by_host: dict[str, list[FeedState]] = {}
    for state in store.load():
        if state.active:
            by_host.setdefault(host_of(state), []).append(state)
    yield from sorted(by_host.items())


def newer(mine: FeedState | None, stored: FeedState) -> FeedState:
    """The fresher of the poller's own state and the stored one; the stored per-feed options win."""
    if mine is None or (stored.last_polled_at or _EPOCH) > (mine.last_polled_at or _EPOCH):
        return stored
    return replace(mine, active=stored.active, ignore_etag=stored.ignore_etag, title=stored.title or mine.title)


class PollInOrderFn(InEventTimeOrder):
    """Keyed by host: polls the host's due feeds at each tick (in tick order) with the freshest state
    (Beam state, else the store); emits raw articles, rejects and poll results at the tick's time."""

    def __init__(self, config: PollConfig, per_host: int, ignore_schedule: bool) -> None:
        self._poll = PollHostFn(config, per_host)
        self._ignore_schedule = ignore_schedule

    def handle(
        self, key: str, memo: dict[str, FeedState] | None, value: list[FeedState]
    ) -> tuple[dict[str, FeedState], list[Any]]:
        known = dict(memo or {})
        now = datetime.now(UTC)
        current = [newer(known.get(stored.url), stored) for stored in value]
        due = [s for s in current if self._ignore_schedule or s.is_due(now)]
        outputs = list(self._poll.process((key, due))) if due else []
        for out in outputs:
            if isinstance(out, pvalue.TaggedOutput) and out.tag == POLLS:
                polled = state_from_json(out.value[1])
                known[polled.url] = polled
        return known, outputs


# ------------------------------------------------------------------------------------ commit


@dataclass(frozen=True, slots=True)
class WindowBatch:
    """Everything one window produced, tagged: ``article``, ``reject``, ``skipped``, ``in``, ``poll``."""

    start: datetime
    end: datetime
    items: tuple[tuple[str, Any], ...]


def latest_versions(files: Sequence[str], ids: Iterable[str]) -> dict[str, KnownVersion]:
    """The latest committed (version, content hash) of each of ``ids``, reading only their rows."""
    wanted = sorted(set(ids))
    latest: dict[str, KnownVersion] = {}
    if not wanted:
        return latest
    for path in files:
        table = pq.read_table(
            path, columns=["article_id", "version", "content_hash"], filters=[("article_id", "in", wanted)]
        )
        for article_id, version, digest in zip(*(table.column(n).to_pylist() for n in range(3)), strict=True):
            if article_id not in latest or version > latest[article_id].version:
                latest[article_id] = KnownVersion(article_id, version, digest)
    return latest


def against_history(article: Article, known: KnownVersion | None) -> Article | None:
    """None when the dataset's latest version already has this content; else the article, as the
    next version when the id is known with other content."""
    if known is None:
        return article
    if known.content_hash == article.content_hash:
        return None
    return replace(article, version=max(article.version, known.version + 1))


def window_run_id(start: datetime, token: str) -> str:
    """One run id per window and stream: a retried commit of the same window finds its manifest."""
    return f"{start.strftime('%Y%m%dT%H%M%SZ')}-{token}"


class CommitInOrderFn(InEventTimeOrder):
    """One key: commits each window's batch atomically, windows in event-time order (see module
    docstring), then saves the window's feed states; outputs the window's one-line summary."""

    def __init__(self, root: str, partition_by: Sequence[str], settings: Mapping[str, Any], token: str) -> None:
        self._root = root
        self._partition_by = tuple(partition_by)
        self._settings = dict(settings)
        self._token = token

    def setup(self) -> None:
        self._schemas = load_schemas()

    def handle(self, key: Any, memo: Any, value: WindowBatch) -> tuple[Any, list[str]]:
        return memo, [self.commit(value)]

    def commit(self, batch: WindowBatch) -> str:
        dataset = Dataset(self._root)
        run_id = window_run_id(batch.start, self._token)
        label = f"window {batch.start:%H:%M:%S}–{batch.end:%H:%M:%S} ({run_id})"
        for line in dataset.recover():  # a failed earlier attempt at this window (commits are serial)
            _LOG.warning("recovery: %s", line)
        if (dataset.root / RUNS / f"{run_id}.json").is_file():
            return f"{label}: already committed"
        groups: dict[str, list[Any]] = {}
        for kind, item in batch.items:
            groups.setdefault(kind, []).append(item)
        stats: Counter[str] = Counter(records_in=len(groups.get("in", [])))
        stats["skipped_existing"] = len(groups.get("skipped", []))
        fresh: list[Article] = sorted(groups.get("article", []), key=lambda a: a.article_id)
        known = latest_versions(committed_history(dataset), (a.article_id for a in fresh))
        writer = PartFileWriter(str(dataset.staging_dir(run_id)), self._schemas)
        files: list[WrittenFile] = []
        updated = 0
        for article in fresh:
            kept = against_history(article, known.get(article.article_id))
            if kept is None:
                stats["skipped_existing"] += 1
                continue
            updated += kept.version > 1
            for row in article_rows(kept, run_id, self._partition_by):
                stats[f"rows_{row.table}"] += row.count
                files += writer.add(row)
        rejects: list[Rejection] = groups.get("reject", [])
        for rejection in rejects:
            stats[f"rejected.{rejection.reason}"] += 1
            stats["rows_rejects"] += 1
            files += writer.add(reject_row(rejection, run_id, batch.start.date()))
        files += writer.flush()
        write_listing(str(dataset.staging_dir(run_id)), files, dict(stats))
        try:
            check_accounting(stats)
            polls = Counter(outcome for outcome, _ in groups.get("poll", []))
            manifest = build_manifest(
                run_id,
                sorted({state["url"] for _, state in groups.get("poll", [])}),
                {**self._settings, "job": "stream", "window": [batch.start.isoformat(), batch.end.isoformat()]},
                batch.start,
                datetime.now(UTC),
                stats,
                {"DropSeenArticles.new_version": updated},
            )
            manifest["feeds"] = {"polled": sum(polls.values()), **dict(sorted(polls.items()))}
            committed = dataset.commit_run(run_id, manifest)
        except BaseException:
            dataset.abandon(run_id)
            raise
        crash_point("after_commit")
        self.save_states(groups.get("poll", []))
        counts = committed["counts"]
        return (
            f"{label}: {sum(polls.values())} feeds polled, {polls[NOT_MODIFIED] + polls[UNCHANGED]} not modified, "
            f"{polls[FAILED]} failed; {counts['articles'] - updated} new articles, {updated} updated, "
            f"{counts['skipped_existing']} known, {counts['rejected']} rejects"
        )

    def save_states(self, polls: Sequence[tuple[str, dict[str, Any]]]) -> None:
        """After the commit: the window's feed states, never replacing a fresher stored one."""
        store = StateStore(self._root)
        stored = {s.url: s.last_polled_at or _EPOCH for s in store.load()}
        states = [state_from_json(state) for _, state in polls]
        store.save(s for s in states if (s.last_polled_at or _EPOCH) >= stored.get(s.url, _EPOCH))


# ------------------------------------------------------------------------------ the pipeline


def _tag(kind: str) -> Any:
    return lambda item: (None, (kind, item))


def _batch(element: tuple[Any, Iterable[tuple[str, Any]]], win: Any = beam.DoFn.WindowParam) -> Any:
    start = win.start.to_utc_datetime(has_tz=True)
    end = win.end.to_utc_datetime(has_tz=True)
    return ("commit", WindowBatch(start, end, tuple(element[1])))


class StreamIngest(beam.PTransform[PBegin, Any]):
    """The streaming ingester (module docstring): pipeline begin → one summary line per window."""

    def __init__(
        self, options: IngestOptions, start: Timestamp, stop: Timestamp, settings: Mapping[str, Any], token: str
    ) -> None:
        super().__init__()
        self._options = options
        self._start = start
        self._stop = stop
        self._settings = dict(settings)
        self._token = token

    def expand(self, begin: PBegin) -> PCollection[Any]:
        options, run = self._options, self._options.run
        every = options.every
        root, lists = run.output, list(options.feed_lists)
        ticks = begin | "Ticks" >> PeriodicImpulse(self._start, self._stop, fire_interval=every)
        polled = (
            ticks
            # keyed by host name (str): a deterministic key coder for the stateful step
            | "DueFeeds" >> beam.FlatMap(due_feeds, feed_lists=lists, root=root).with_output_types(tuple[str, Any])
            | "PollInOrder"
            >> beam.ParDo(
                PollInOrderFn(PollConfig(read=run.read), options.per_host, options.ignore_schedule)
            ).with_outputs(REJECTS, POLLS, main="raw")
        )
        windows = window.FixedWindows(every, offset=self._start.micros // 1_000_000 % every)
        raws = polled["raw"] | "WindowRaw" >> beam.WindowInto(windows)
        poll_rejects = polled[REJECTS] | "WindowRejects" >> beam.WindowInto(windows)
        polls = polled[POLLS] | "WindowPolls" >> beam.WindowInto(windows)
        existing = (
            ticks
            | "CommittedFiles" >> beam.FlatMap(lambda _: committed_history(Dataset(root)))
            | "WindowFiles" >> beam.WindowInto(windows)
        )
        enrich = FetchPages(run.read, run.clean, options.per_host) if options.fetch_articles else None
        started = self._start.to_utc_datetime(has_tz=True)
        articles, rejects, skipped = (raws, existing) | "Process" >> ProcessArticles(
            BuildConfig(run_started=started, clean=run.clean),
            run.topics,
            run.ner,
            boilerplate=run.boilerplate,
            near_dup=run.near_dup,
            enrich=enrich,
            narrow_history=False,  # see ProcessArticles
            lookup=False,  # ditto: joins, not side inputs
        )
        tagged = (
            articles | "TagArticles" >> beam.Map(_tag("article")),
            (rejects, poll_rejects) | "AllRejects" >> beam.Flatten() | "TagRejects" >> beam.Map(_tag("reject")),
            skipped | "TagSkipped" >> beam.Map(_tag("skipped")),
            (raws, poll_rejects) | "RecordsIn" >> beam.Flatten() | "TagIn" >> beam.Map(lambda _: (None, ("in", None))),
            polls | "TagPolls" >> beam.Map(_tag("poll")),
        ) | "AllOfWindow" >> beam.Flatten()
        lines: PCollection[Any] = (
            tagged
            | "OneGroupPerWindow" >> beam.GroupByKey()
            | "WindowBatch" >> beam.Map(_batch).with_output_types(tuple[str, Any])
            | "Unwindowed" >> beam.WindowInto(window.GlobalWindows())
            | "CommitInOrder" >> beam.ParDo(CommitInOrderFn(root, run.partition_by, self._settings, self._token))
            | "Log" >> beam.Map(_log_line)
        )
        return lines


def _log_line(line: str) -> str:
    print(line, flush=True)  # stdout, like the ticks of `feedflow ingest` (a worker's log on remote runners)
    return line


def stream_bounds(options: IngestOptions, start: Timestamp, unbounded_ok: bool) -> Timestamp:
    """The stop timestamp of the ticks (exclusive): ``--max-ticks`` ticks or ``--stop-after``, the
    earlier; unbounded only where the runner commits windows while the stream runs."""
    if options.every < 1:
        raise UsageError("--every must be at least 1s for a stream (it is the window size)")
    stops = []
    if options.max_ticks is not None:
        stops.append(start + options.max_ticks * options.every)
    if options.stop_after is not None:
        stops.append(start + options.stop_after)
    if stops:
        return min(stops)
    if not unbounded_ok:
        raise UsageError(
            "the in-process runner commits a stream's windows only when it ends: give --stop-after DURATION "
            "or --max-ticks N (or a streaming runner after --), or use `feedflow ingest` without --streaming"
        )
    return MAX_TIMESTAMP


def feed_list_paths(lists: Sequence[str]) -> tuple[str, ...]:
    """Feed lists as absolute paths (workers may run elsewhere)."""
    return tuple(str(Path(p).resolve()) for p in lists)
