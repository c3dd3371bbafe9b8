"""Ctrl-C and SIGTERM for long jobs: abandon the work in flight cleanly and exit 128 + signal.

Beam re-raises an exception from inside a DoFn as a RuntimeError, so a KeyboardInterrupt cannot be
recognised by its type once it crossed the pipeline. The handler records which signal arrived; the
entry point checks the record when anything escapes.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType


@dataclass
class StopRequest:
    signum: int | None = None

    @property
    def exit_status(self) -> int:
        return 128 + (self.signum or 0)

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Within the block, SIGINT/SIGTERM raise KeyboardInterrupt and are recorded in the yielded object."""
    request = StopRequest()

    def handler(signum: int, frame: FrameType | None) -> None:
        request.signum = signum
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
