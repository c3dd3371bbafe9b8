"""Batch job: read articles from files, folders, globs, feed URLs and OPML lists; clean, dedup, tag;
commit them atomically to a Hive-partitioned Parquet dataset.

Runbook
-------
Run it::

    feedflow run INPUT... --output DIR [--skip entities,topics,boilerplate,near-dups]
                 [--partition-by date|date,source] [--workers N] [--boilerplate-min-articles N]
                 [--near-dup-threshold J] [-- BEAM_OPTIONS...]

* Without ``--runner`` the in-process FnApiRunner runs the job (Beam's default DirectRunner first tries
  to download Prism); ``--workers N`` starts N SDK worker processes (multi_processing).
* Exit 0: the run committed (rejected records included: see the summary and ``DIR/rejects``).
  Exit 2: unusable arguments (missing input, unwritable output, another writer holds DIR).
  Exit 1: the run failed; the dataset is exactly as before it (its staging folder is removed).
* Check a run: ``DIR/_runs/<run_id>.json`` holds its counts; ``records_in = articles + rejected +
  skipped_existing`` always (the run refuses to commit otherwise).
* Re-running the same inputs adds no article rows: ids already in DIR with the same content are
  skipped (counted as ``skipped_existing``); an id whose content changed is written again as
  ``version`` = previous + 1. Rejects are the run's own log and are written by every run.
* A run killed mid-way leaves ``DIR/_staging/<run_id>``: the next run over DIR removes it, or finishes
  its commit if the commit had begun (see feedflow.core.dataset).
* Disk: while it runs, a job keeps its articles in spill files under ``DIR/_staging/<run_id>/_spill``
  (about 4× the size of JSON Lines input; ``Spill.bytes`` in the manifest), removed at commit.
* Memory: each stage's Beam bundle processor is shut down when its bundle ends (a batch stage never
  runs a second bundle in a worker), so what a finished stage held is freed, and the freed heap pages
  go back to the system (glibc ``malloc_trim``). The command makes pyarrow allocate with the system
  allocator unless ``ARROW_DEFAULT_MEMORY_POOL`` is set (README, "Sixth round" and "Seventh round":
  50k articles without NER peak at ~525–550 MiB, 1.19× the 5k peak).
* Cross-article dedup compares the run with itself and with everything committed: boilerplate is
  ``paragraphs.boilerplate``, near-duplicates ``articles.duplicate_of``/``similarity``; the manifest's
  ``Boilerplate.*`` and ``NearDup.*`` metrics count them (README, "Deduplication").
* Query: ``feedflow query DIR "SELECT …"`` (views articles, paragraphs, entities, rejects).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

import apache_beam as beam

from feedflow.core.dataset import Dataset, new_run_id
from feedflow.options import RunOptions, beam_options, parse_run_args
from feedflow.runs import format_summary, run_settings
from feedflow.transforms.runner import Job, committed_history, execute
from feedflow.transforms.stages import ArticlesToDataset, ReadArticles

_LOG = logging.getLogger("feedflow")


def build(pipeline: beam.Pipeline, options: RunOptions, run_id: str, staging: str, existing: Sequence[str]) -> None:
    """Compose the batch job's transforms onto ``pipeline``: read the inputs, then what every job does."""
    assert options.started is not None
    raws, read_rejects = pipeline | "Inputs" >> beam.Create(list(options.inputs)) | "Read" >> ReadArticles(options.read)
    _ = (raws, read_rejects) | "ToDataset" >> ArticlesToDataset(options, run_id, options.started, staging, existing)


def run(argv: Sequence[str] | None = None) -> int:
    """Entry point of `feedflow run`; returns the exit status (UsageError/DatasetError propagate)."""
    options = parse_run_args(sys.argv[1:] if argv is None else argv)
    started = datetime.now(UTC)
    options = replace(options, started=started)
    dataset = Dataset(options.output)
    with dataset.lock():
        for line in dataset.recover():
            _LOG.warning("recovery: %s", line)
        pipeline_options, runner = beam_options(options)
        job = Job(
            run_id=new_run_id(started),
            started=started,
            pipeline_options=pipeline_options,
            runner=runner,
            inputs=options.inputs,
            settings=run_settings(options, runner),
        )
        _LOG.info(
            "run %s: %d input(s) → %s with %s, %d worker(s)",
            job.run_id, len(options.inputs), options.output, runner, options.workers,
        )  # fmt: skip
        existing = committed_history(dataset)
        manifest = execute(
            dataset,
            job,
            lambda pipeline, staging: build(pipeline, options, job.run_id, staging, existing),
            lambda staging: {"damaged_files": dataset.unreadable_files()},
        )
    print(format_summary(manifest, options.output))
    return 0
