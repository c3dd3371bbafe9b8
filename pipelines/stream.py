"""Streaming ingestion: the ingester's transforms as one Beam streaming pipeline, one commit per window.

Runbook
-------
Run it (bounded, on the in-process runner; what the tests run)::

    feedflow ingest --streaming --feeds FILE... --output DIR --every 1m --stop-after 10m
                    [--max-ticks N] [--ignore-schedule] [--fetch-articles] [--per-host N] [--skip ...]

* ``PeriodicImpulse`` ticks every ``--every`` from the next whole second until ``--stop-after`` (or
  ``--max-ticks`` ticks); each tick reads the feed lists and ``DIR/_state/feeds.sqlite``, polls the due
  feeds (per host, in tick order, with the state earlier ticks learned: Beam state), and everything a
  tick produced is one fixed window, processed by the same transforms as ``feedflow run``.
* Each window commits atomically (its own run in ``DIR/_runs``, id ``<window start>-<stream token>``),
  windows in order; the window's feed states are saved only after its data committed. A summary line
  per window goes to stdout.
* An article already committed by an earlier window (of this stream or before) is skipped; changed
  content under a known id becomes the next ``version``.
* On the in-process FnApiRunner (the default) the runner executes stage by stage: polls happen at
  their ticks, but every window commits when the last tick has fired. So a bound is required there
  (``--stop-after`` / ``--max-ticks`` / ``--once``); use ``feedflow ingest`` (ticks) for a long-lived
  ingester on one machine.
* Streaming runners (not run on this project's machines: the Flink job-server jar and GCP are
  unreachable; docs/streaming.md has the status)::

    feedflow ingest --streaming --feeds /shared/feeds.txt --output /shared/news --every 15m -- \\
        --runner=FlinkRunner --flink_master=HOST:8081 --streaming --environment_type=DOCKER \\
        --environment_config=REGISTRY/feedflow-worker:0.1.0
    feedflow ingest --streaming --feeds /shared/feeds.txt --output /shared/news --every 15m -- \\
        --runner=DataflowRunner --streaming --project=P --region=R --temp_location=gs://B/tmp \\
        --sdk_container_image=REGISTRY/feedflow-worker:0.1.0

  Beam's ``--streaming`` is set for you. DIR must be a folder every worker mounts at the same path
  (the commit step renames files and writes SQLite there), and the lock is held by the launching
  process only.
* One writer per DIR, as for ``feedflow ingest``; SIGINT/SIGTERM stop the stream: windows not yet
  committed are abandoned (nothing partial is visible) and their feeds are re-polled next time.
* Exit status: 0 when the bounded stream ended; 2 for unusable arguments or a locked DIR; 130/143 when
  interrupted; 1 when a window failed to commit (earlier windows stay committed).
"""

from __future__ import annotations

import math
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace

import apache_beam as beam
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.utils.timestamp import Timestamp

from feedflow.core.dataset import Dataset
from feedflow.core.feedlist import FeedListError, read_feed_lists
from feedflow.options import UsageError, beam_options, parse_ingest_args
from feedflow.runs import run_settings
from feedflow.signals import stop_on_signals
from feedflow.transforms.streaming import StreamIngest, feed_list_paths, stream_bounds


def run(argv: Sequence[str] | None = None) -> int:
    """Entry point of `feedflow ingest --streaming`."""
    options = parse_ingest_args(sys.argv[1:] if argv is None else argv)
    options = replace(options, feed_lists=feed_list_paths(options.feed_lists))
    try:
        read_feed_lists(options.feed_lists)
    except FeedListError as err:
        raise UsageError(str(err)) from err
    pipeline_options, runner = beam_options(options.run)
    pipeline_options.view_as(StandardOptions).streaming = True
    start = Timestamp(seconds=math.ceil(time.time()))
    stop = stream_bounds(options, start, unbounded_ok=runner != "FnApiRunner")
    settings = run_settings(options.run, runner)
    dataset = Dataset(options.output)
    with stop_on_signals() as stop_request:
        try:
            with dataset.lock():
                for line in dataset.recover():
                    print(f"recovery: {line}", file=sys.stderr)
                pipeline = beam.Pipeline(runner=FnApiRunner() if runner == "FnApiRunner" else None,
                                         options=pipeline_options)  # fmt: skip
                _ = pipeline | "Stream" >> StreamIngest(options, start, stop, settings, uuid.uuid4().hex[:6])
                pipeline.run().wait_until_finish()
                return 0
        except BaseException:
            if stop_request.signum is None:
                raise
            print(
                f"feedflow ingest: stopped by {stop_request.name}; windows not yet committed were abandoned",
                file=sys.stderr,
            )
            return stop_request.exit_status
