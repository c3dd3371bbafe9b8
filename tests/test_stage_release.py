"""A batch run shuts each stage's bundle processor down when its bundle ends (transforms.base:
finished_stages_released), so what a finished stage held is freed before later stages run; outside a
batch run Beam's cache of processors is left as it is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.runners.worker.sdk_worker import BundleProcessorCache

from feedflow.transforms.base import RELEASE_STAGES_ENV, finished_stages_released


class _LogFn(beam.DoFn):
    """Appends ``<name> process`` / ``<name> teardown`` to a log file (one line per event)."""

    def __init__(self, name: str, log: str) -> None:
        self._name = name
        self._log = log

    def _note(self, event: str) -> None:
        with open(self._log, "a", encoding="utf-8") as out:
            out.write(f"{self._name} {event}\n")

    def process(self, element: Any) -> Any:
        self._note("process")
        yield element

    def teardown(self) -> None:
        self._note("teardown")


def _events(log: Path) -> list[str]:
    """Two stages (a GroupByKey between them); the events in the order they happened."""
    pipeline = beam.Pipeline(runner=FnApiRunner())
    _ = (
        pipeline
        | beam.Create([("k", 1), ("k", 2)])
        | "First" >> beam.ParDo(_LogFn("first", str(log)))
        | beam.GroupByKey()
        | "Second" >> beam.ParDo(_LogFn("second", str(log)))
    )
    pipeline.run().wait_until_finish()
    lines = log.read_text("utf-8").splitlines()
    return [line for n, line in enumerate(lines) if line not in lines[:n]]  # first occurrence of each


def test_a_stage_is_torn_down_when_its_bundle_ends_only_within_a_batch_run(tmp_path: Path) -> None:
    beams_own = BundleProcessorCache.release
    with finished_stages_released():
        assert os.environ[RELEASE_STAGES_ENV] == "1"  # for the worker processes the run starts
        released = _events(tmp_path / "released.log")
    assert BundleProcessorCache.release is beams_own and RELEASE_STAGES_ENV not in os.environ
    cached = _events(tmp_path / "cached.log")
    # Released: the first stage is torn down before the second processes anything...
    assert released.index("first teardown") < released.index("second process")
    # ...while Beam's cache keeps it until the pipeline ends.
    assert cached.index("first teardown") > cached.index("second process")
