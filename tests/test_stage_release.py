"""A batch run shuts each stage's bundle processor down when its bundle ends (transforms.base:
finished_stages_released), so what a finished stage held is freed before later stages run; outside a
batch run Beam's cache of processors is left as it is. Each finished stage also hands the C heap's free
pages back (release_free_memory), and the `feedflow` command makes Arrow allocate with the system
allocator (cli.use_system_allocator_for_arrow)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import apache_beam as beam
import pytest
from apache_beam.runners.portability.fn_api_runner.fn_runner import FnApiRunner
from apache_beam.runners.worker.sdk_worker import BundleProcessorCache

from feedflow.cli import ARROW_POOL_ENV
from feedflow.transforms import base
from feedflow.transforms.base import (
    RELEASE_STAGES_ENV,
    _malloc_trim,
    finished_stages_released,
    release_free_memory,
)


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


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(_malloc_trim() is None, reason="the C library has no malloc_trim (not glibc)")
def test_release_free_memory_hands_freed_heap_pages_back() -> None:
    # 256 MiB in 4 KiB objects (on the C heap, below glibc's mmap threshold), then one kept above them:
    # freed, they stay resident (the heap cannot shrink past the kept one) until released.
    # Written, not zeroed: bytes(n) comes from calloc, whose fresh pages need not be resident at all.
    size = 4096 - 33
    freed = [b"\x01" * size for _ in range(64 * 1024)]
    kept = b"\x01" * size
    before = _rss_bytes()
    del freed
    held = _rss_bytes()
    assert release_free_memory() is True
    after = _rss_bytes()
    assert before - held < 64 << 20, "the freed pages should still be resident before the release"
    assert held - after > 128 << 20, f"released only {(held - after) >> 20} MiB of 256"
    assert kept


def test_each_finished_stage_releases_free_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bool] = []
    monkeypatch.setattr(base, "release_free_memory", lambda: calls.append(True) or True)
    with finished_stages_released():
        _events(tmp_path / "released.log")
    assert len(calls) >= 2  # the two stages, at least (Beam adds stages of its own)
    calls.clear()
    _events(tmp_path / "cached.log")
    assert calls == []  # outside a batch run nothing is released


def _arrow_pool_of_cli(env: dict[str, str]) -> str:
    """The Arrow allocator of a fresh process once the `feedflow` command has started (``--help``)."""
    code = (
        "import contextlib, io\n"
        "from feedflow.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "import pyarrow as pa\n"
        "print(pa.default_memory_pool().backend_name)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_command_makes_arrow_allocate_with_the_system_allocator_unless_told_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k != ARROW_POOL_ENV}
    assert _arrow_pool_of_cli(env) == "system"
    assert _arrow_pool_of_cli({**env, ARROW_POOL_ENV: "mimalloc"}) == "mimalloc"
