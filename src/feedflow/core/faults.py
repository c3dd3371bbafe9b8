"""Named crash points for the crash-safety tests.

``FEEDFLOW_CRASH_AT=<name>`` in the environment makes the process kill itself with SIGKILL when it
reaches that point — the harshest failure there is (no exception handler, no cleanup runs). The
tests use it to prove that a tick or run killed at any stage of its commit leaves a dataset that the
next run brings to exactly the state of an uninterrupted run. Unset (always, in normal use), a crash
point costs one dictionary lookup.

Points: ``before_commit`` (pipeline finished, nothing journaled), ``mid_commit`` (journal written,
first file moved), ``after_commit`` (data committed, feed state not yet saved).
"""

from __future__ import annotations

import os
import signal

ENV = "FEEDFLOW_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
