"""Scheduled feed ingestion: poll feeds politely, append new and revised articles, lose nothing.

Runbook
-------
Run it::

    feedflow ingest --feeds FILE... --output DIR [--every 15m] [--once] [--max-ticks N]
                    [--fetch-articles] [--ignore-schedule] [--per-host N] [--contact URL]
                    [--skip entities,topics] [--workers N] [-- BEAM_OPTIONS...]

* FILE is OPML or a text list (one feed URL or local path per line, ``#`` comments, per-feed option
  ``ignore-etag``). The lists are re-read at every tick: edit them while the ingester runs.
* Each tick polls the feeds that are due (``feedflow feeds DIR`` shows when), runs the same Beam
  transforms as ``feedflow run`` over their entries and commits atomically. Feed state
  (``DIR/_state/feeds.sqlite``) is saved only after the tick's data committed.
* ``--once`` runs one tick and exits (for cron/systemd timers); otherwise it ticks every ``--every``
  until SIGINT/SIGTERM, which abandons the tick in flight (nothing half-written is visible) and exits.
* One ingester (or run) per DIR: a second one exits at once with "DIR is being written by …" (exit 2).
* Killed with SIGKILL mid-tick? Just start it again: the next start finishes or removes the
  interrupted commit, re-polls the feeds whose state was not saved, and the id/content checks make
  that re-poll add exactly what the lost tick would have.
* Exit status: 0 after the last tick; 2 for unusable arguments or a locked DIR; 130/143 when
  interrupted; 1 when a tick failed (the dataset is unchanged by it).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import apache_beam as beam

from feedflow.core.dataset import Dataset, new_run_id
from feedflow.core.faults import crash_point
from feedflow.core.feedlist import FeedListError, read_feed_lists
from feedflow.core.poll import FAILED, NOT_MODIFIED, UNCHANGED, PollConfig
from feedflow.core.state import FeedState, StateStore, state_from_json
from feedflow.options import IngestOptions, UsageError, beam_options, parse_ingest_args
from feedflow.runs import run_settings
from feedflow.signals import stop_on_signals
from feedflow.transforms.ingest import FetchPages, PollFeeds, SaveSidecar
from feedflow.transforms.runner import Job, committed_history, execute
from feedflow.transforms.stages import ArticlesToDataset

_LOG = logging.getLogger("feedflow")
POLLS_FILE = "_polls.json"


def build(
    pipeline: beam.Pipeline, options: IngestOptions, job: Job, staging: str, due: Sequence[FeedState],
    existing: Sequence[str],
) -> None:  # fmt: skip
    """Compose one tick: poll due feeds → the batch job's processing → staged dataset + poll results."""
    run = options.run
    raws, poll_rejects, polls = (
        pipeline
        | "DueFeeds" >> beam.Create(list(due))
        | "Poll" >> PollFeeds(PollConfig(read=run.read), options.per_host)
    )
    enrich = FetchPages(run.read, run.clean, options.per_host) if options.fetch_articles else None
    _ = (raws, poll_rejects) | "ToDataset" >> ArticlesToDataset(run, job.run_id, job.started, staging, existing, enrich)
    _ = polls | "SavePolls" >> SaveSidecar(str(Path(staging) / POLLS_FILE))


def tick(dataset: Dataset, store: StateStore, options: IngestOptions, number: int) -> str:
    """Run one tick; returns its one-line summary."""
    try:
        store.subscribe(read_feed_lists(options.feed_lists))
    except FeedListError as err:
        _LOG.error("feed lists unusable this tick, keeping the previous subscriptions: %s", err)
    started = datetime.now(UTC)
    active = [s for s in store.load() if s.active]
    due = [s for s in active if options.ignore_schedule or s.is_due(started)]
    if not due:
        upcoming = min((s.next_due_at for s in active if s.next_due_at), default=None)
        when = upcoming.isoformat(timespec="seconds") if upcoming else "never"
        return f"tick {number}: no feed due ({len(active)} feeds; next due {when})"
    pipeline_options, runner = beam_options(options.run)
    job = Job(
        run_id=new_run_id(started),
        started=started,
        pipeline_options=pipeline_options,
        runner=runner,
        inputs=tuple(s.url for s in due),
        settings={**run_settings(options.run, runner), "job": "ingest", "tick": number},
    )
    _LOG.info("tick %d (%s): polling %d of %d feeds", number, job.run_id, len(due), len(active))
    existing = committed_history(dataset)
    polled: list[tuple[str, dict[str, Any]]] = []

    def read_polls(staging: str) -> Mapping[str, Any]:
        polled.extend((outcome, state) for outcome, state in json.loads((Path(staging) / POLLS_FILE).read_text()))
        outcomes = Counter(outcome for outcome, _ in polled)
        feeds = {"due": len(due), "polled": len(polled), **dict(sorted(outcomes.items()))}
        return {"feeds": feeds, "damaged_files": dataset.unreadable_files()}

    manifest = execute(
        dataset, job, lambda pipeline, staging: build(pipeline, options, job, staging, due, existing), read_polls
    )
    crash_point("after_commit")
    store.save(state_from_json(state) for _, state in polled)
    outcomes = Counter(outcome for outcome, _ in polled)
    updated = manifest["metrics"].get("DropSeenArticles.new_version", 0)
    counts = manifest["counts"]
    return (
        f"tick {number} ({job.run_id}): {len(polled)} feeds polled, "
        f"{outcomes[NOT_MODIFIED] + outcomes[UNCHANGED]} not modified, {outcomes[FAILED]} failed; "
        f"{counts['articles'] - updated} new articles, {updated} updated, {counts['skipped_existing']} known, "
        f"{counts['rejected']} rejects"
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Entry point of `feedflow ingest`."""
    options = parse_ingest_args(sys.argv[1:] if argv is None else argv)
    try:
        read_feed_lists(options.feed_lists)
    except FeedListError as err:
        raise UsageError(str(err)) from err
    dataset = Dataset(options.output)
    with stop_on_signals() as stop:
        try:
            with dataset.lock():
                for line in dataset.recover():
                    _LOG.warning("recovery: %s", line)
                store = StateStore(dataset.root)
                number = 0
                while True:
                    number += 1
                    print(tick(dataset, store, options, number), flush=True)
                    if options.max_ticks is not None and number >= options.max_ticks:
                        return 0
                    time.sleep(options.every)
        except BaseException:
            if stop.signum is None:
                raise
            print(
                f"feedflow ingest: stopped by {stop.name}; the tick in flight (if any) was abandoned", file=sys.stderr
            )
            return stop.exit_status
