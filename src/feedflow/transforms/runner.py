"""Run one job's pipeline into a dataset's staging folder and commit it: shared by every entry point.

``execute`` builds the Beam pipeline with the caller's ``compose`` function, runs it (in-process
FnApiRunner unless the options name a runner), checks the run's accounting from the staged counters,
and commits atomically. Any failure before the commit journal exists removes the staging folder; a
failure after it is left for :meth:`feedflow.core.dataset.Dataset.recover` to roll forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner

from feedflow.core.dataset import Dataset, read_stats
from feedflow.core.faults import crash_point
from feedflow.runs import build_manifest, check_accounting
from feedflow.transforms.base import feedflow_counters, finished_stages_released

_LOG = logging.getLogger("feedflow")


@dataclass(frozen=True, slots=True)
class Job:
    """One run of a pipeline: its id, start time, Beam options and the runner's name."""

    run_id: str
    started: datetime
    pipeline_options: PipelineOptions
    runner: str
    inputs: tuple[str, ...]
    settings: Mapping[str, Any]


def committed_history(dataset: Dataset) -> list[str]:
    """The committed articles files a job joins against (DropSeen, cross-article dedup). Files whose
    footer cannot be read are left out with a warning; the caller records them in the manifest."""
    damaged = dataset.unreadable_files()
    for path, why in damaged.items():
        _LOG.warning("skipping damaged committed file %s (%s); `feedflow check` lists problems", path, why)
    return [str(p) for p in dataset.table_files("articles") if str(p) not in damaged]


def execute(
    dataset: Dataset,
    job: Job,
    compose: Callable[[beam.Pipeline, str], None],
    before_commit: Callable[[str], Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Build with ``compose(pipeline, staging_dir)``, run, check, commit; returns the manifest.

    ``before_commit(staging_dir)`` runs after the accounting check and before the commit (the ingester
    reads its poll results there); what it returns is added to the manifest. The caller holds the
    dataset lock.
    """
    staging = str(dataset.staging_dir(job.run_id))
    runner = FnApiRunner() if job.runner == "FnApiRunner" else None
    try:
        pipeline = beam.Pipeline(runner=runner, options=job.pipeline_options)
        compose(pipeline, staging)
        with finished_stages_released():  # a batch run: no stage runs a second bundle in a worker
            result = pipeline.run()
            result.wait_until_finish()
        stats = read_stats(staging)
        check_accounting(stats)
        extra = before_commit(staging) if before_commit is not None else {}
        manifest = build_manifest(
            job.run_id, job.inputs, job.settings, job.started, datetime.now(UTC), stats, feedflow_counters(result)
        )
        crash_point("before_commit")
        return dataset.commit_run(job.run_id, {**manifest, **extra})
    except BaseException:
        dataset.abandon(job.run_id)
        raise
