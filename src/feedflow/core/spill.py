"""Spill files: records one step hands to a later one through a file instead of the runner's memory.

Where a step must wait for the whole run (a side input: the ids to decide, the boilerplate keys, the
near-duplicate assignments), every article made before it has to be kept until it can go on. The
in-process runner keeps such a collection whole in its own memory, encoded, and while the next stage
reads it the stage's output grows beside it: two copies of the corpus at the peak. Written to a file
per bundle instead, only the file's name and frame count (:class:`SpillFile`) cross to the next stage,
and the articles come back one at a time, in the order they were written.

A spill file is a sequence of frames, each an 8-byte little-endian length and that many bytes. Files
live under the run's staging folder (local or an object store) and go with it at commit or rollback.
A file that is shorter or longer than its :class:`SpillFile` says is a broken run, never a dropped
record: :class:`SpillError`.
"""

from __future__ import annotations

import os
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from feedflow.core.dataset import is_object_store, object_store

_LENGTH = struct.Struct("<Q")
_BUFFER = 1 << 20  # bytes of buffering per open file, local disk


class SpillError(RuntimeError):
    """A spill file does not hold what was written to it (truncated, missing or extended)."""


@dataclass(frozen=True, slots=True)
class SpillFile:
    """A closed spill file: where it is and how many frames it holds."""

    path: str
    frames: int


class SpillWriter:
    """Appends frames to one new file under ``directory`` (made on the first frame; a writer given no
    frame makes no file). ``close`` returns the :class:`SpillFile`, or None when empty."""

    def __init__(self, directory: str) -> None:
        self._directory = directory.rstrip("/")
        self._out: IO[bytes] | Any = None
        self._path = ""
        self.frames = 0
        self.bytes = 0

    def add(self, frame: bytes) -> None:
        out = self._out if self._out is not None else self._open()
        out.write(_LENGTH.pack(len(frame)))
        out.write(frame)
        self.frames += 1
        self.bytes += len(frame)

    def _open(self) -> Any:
        self._path = f"{self._directory}/{uuid.uuid4().hex}.spill"
        if is_object_store(self._path):
            filesystem, key = object_store(self._path)
            self._out = filesystem.open_output_stream(key)
        else:
            os.makedirs(self._directory, exist_ok=True)
            self._out = open(self._path, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed by close()
        return self._out

    def close(self) -> SpillFile | None:
        if self._out is None:
            return None
        self._out.close()
        self._out = None
        return SpillFile(self._path, self.frames)


def _open_input(path: str) -> Any:
    if is_object_store(path):
        filesystem, key = object_store(path)
        return filesystem.open_input_stream(key, buffer_size=_BUFFER)
    return open(path, "rb", buffering=_BUFFER)


def read_spill(spilled: SpillFile) -> Iterator[bytes]:
    """The frames of ``spilled`` in the order they were written; :class:`SpillError` when the file is
    missing, cut short, or holds more or fewer frames than ``spilled.frames``."""
    try:
        handle = _open_input(spilled.path)
    except OSError as error:
        raise SpillError(f"spill file {spilled.path} cannot be read: {error}") from error
    with handle:
        for n in range(spilled.frames):
            header = handle.read(_LENGTH.size)
            if len(header) != _LENGTH.size:
                raise SpillError(f"spill file {spilled.path} ends after {n} of {spilled.frames} frames")
            (length,) = _LENGTH.unpack(header)
            frame = handle.read(length)
            if len(frame) != length:
                raise SpillError(f"spill file {spilled.path}: frame {n + 1} is cut short")
            yield frame
        if handle.read(1):
            raise SpillError(f"spill file {spilled.path} holds more than its {spilled.frames} frames")
