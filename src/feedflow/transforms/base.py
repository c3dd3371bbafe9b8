"""The one generic Beam wrapper: run a core step, route Rejections to a ``rejects`` output, count them.

A core step is any callable ``element -> record | Rejection | Iterator[record | Rejection]``. It is
built on the worker in ``setup()`` from a picklable factory and its arguments (so models and automata
load once per worker and nothing depends on the launching process), then applied per element.
Rejections are counted per reason with Beam Metrics (namespace ``feedflow``, counter
``<step>.rejected.<reason>``), records per step (``<step>.out``).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

import apache_beam as beam
import numpy as np
import numpy.typing as npt
from apache_beam import pvalue
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection
from apache_beam.transforms import window
from apache_beam.typehints.decorators import no_annotations
from apache_beam.utils.windowed_value import WindowedValue

from feedflow.core.spill import SpillFile, SpillWriter, read_spill
from feedflow.model import Rejection
from feedflow.transforms import pickling
from feedflow.transforms.pickling import from_blob, to_blob

pickling.register()

MAIN = "main"
REJECTS = "rejects"
NAMESPACE = "feedflow"

_LOG = logging.getLogger("feedflow")


_END = object()

_F = TypeVar("_F", bound=Callable[..., Any])
#: Beam's ``no_annotations`` (untyped upstream): Beam takes no type hints from the function's annotations.
_no_beam_hints = cast(Callable[[_F], _F], no_annotations)

#: The cyclic garbage collector's first threshold in processes that run feedflow steps (CPython: 700).
GC_THRESHOLD = 50_000


def tune_collector() -> None:
    """Raises the cyclic garbage collector's allocation threshold in this (worker) process.

    A run allocates and frees millions of short-lived container objects (records, rows, Beam's
    windowed values). With CPython's default the collector ran about 1,300 times in a 20k-article
    ``--skip entities,topics`` run, and its full collections walked everything the runner held: 0.7 of
    25.3 CPU s (3.2 of 264 CPU s with all stages). At 50,000: 0.14 s (0.4 s), peak RSS no higher.
    Objects in reference cycles are still collected, less often. A setting that is higher, or a
    collector that is off (threshold 0), is left as it is."""
    first, second, third = gc.get_threshold()
    if 0 < first < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, max(second, 20), max(third, 20))


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None where the C library has none (musl, macOS) or ``CDLL(None)``
    cannot open it (it is documented for POSIX only; on other systems it raises)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError, TypeError):
        return None
    return trim


def release_free_memory() -> bool:
    """Hands the C heap's free pages back to the operating system (glibc ``malloc_trim(0)``); False
    where that is not available.

    Objects over 512 bytes (texts, pickled articles, the runner's encoded elements) live on the C heap.
    When a stage frees them, glibc keeps the pages for later use unless they are at the heap's top, so
    each stage's peak was left standing under the next. At 50,000 articles (``--skip entities,topics``,
    1 worker) the runs' peak RSS was 567-636 MiB without this and 564-566 MiB with it after each
    batch stage (README, "Sixth round")."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


#: Set (to "1") by :func:`finished_stages_released` for the worker processes a batch run starts.
RELEASE_STAGES_ENV = "FEEDFLOW_RELEASE_STAGES"


def _release_and_shut_down(release: Callable[[Any, str], None]) -> Callable[[Any, str], None]:
    def shut_down_after(cache: Any, instruction_id: str) -> None:
        descriptor_id = cache.active_bundle_processors[instruction_id][0]
        release(cache, instruction_id)  # Beam's own: resets the processor and caches it for its stage
        with cache._lock:
            cached = cache.cached_bundle_processors.get(descriptor_id)
            processor = cached.pop() if cached else None
        if processor is not None:
            processor.shutdown()  # tears its DoFns down; a next bundle of the stage would build a new one
        release_free_memory()  # what the stage freed, back to the system before the next stage runs

    shut_down_after.feedflow_original = release  # type: ignore[attr-defined]
    return shut_down_after


def release_finished_stages(enable: bool = True) -> None:
    """Makes Beam's SDK worker in this process shut a stage's bundle processor down when its bundle
    ends (``enable``), or cache it again as Beam does (not ``enable``).

    Beam keeps every finished bundle processor for a next bundle of the same stage, with its operations'
    buffers: a batch run's stages each run one bundle per worker, so they are never reused, and what
    they hold grows with the stage's output (at 50k articles, --skip entities,topics, 1 worker: live
    16 MiB output buffers; max RSS 674 -> 474 MiB with the band-table change beside it, 5k 401 -> 387
    MiB). Streaming runs (many bundles per stage, each setup costly) keep Beam's cache."""
    from apache_beam.runners.worker.sdk_worker import BundleProcessorCache

    current = BundleProcessorCache.release
    original = getattr(current, "feedflow_original", current)
    setattr(BundleProcessorCache, "release", _release_and_shut_down(original) if enable else original)  # noqa: B010


@contextlib.contextmanager
def finished_stages_released() -> Iterator[None]:
    """:func:`release_finished_stages` for the length of a batch run, in this process and (through
    :data:`RELEASE_STAGES_ENV`) in the worker processes it starts; Beam's behaviour is restored after."""
    before = os.environ.get(RELEASE_STAGES_ENV)
    os.environ[RELEASE_STAGES_ENV] = "1"
    release_finished_stages(True)
    try:
        yield
    finally:
        release_finished_stages(False)
        if before is None:
            os.environ.pop(RELEASE_STAGES_ENV, None)
        else:
            os.environ[RELEASE_STAGES_ENV] = before


class Stopwatch:
    """CPU time of the worker thread spent in a step's own code, summed per step into the counter
    ``<step>.time_us`` (the benchmark's per-stage breakdown; a run's manifest lists it with the other
    counters). Thread CPU time, not wall time: other processes on the machine do not inflate it. Downstream
    DoFns run inside a ``yield``, so only code between yields is timed: ``with watch:`` around code
    that does not yield, ``watch.each(iterator)`` for a lazy step (its ``next()`` calls)."""

    def __init__(self, step: str) -> None:
        self._counter = Metrics.counter(NAMESPACE, f"{step}.time_us")
        self._start = 0

    def __enter__(self) -> None:
        self._start = time.thread_time_ns()

    def __exit__(self, *_: object) -> None:
        self._counter.inc((time.thread_time_ns() - self._start) // 1000)

    def add_ns(self, spent_ns: int) -> None:
        """Adds CPU time measured elsewhere (e.g. by a core object that times its own costly part)."""
        self._counter.inc(spent_ns // 1000)

    def each(self, items: Iterable[Any]) -> Iterator[Any]:
        clock = time.thread_time_ns
        spent = 0
        iterator = iter(items)
        while True:
            start = clock()
            item = next(iterator, _END)
            spent += clock() - start
            if item is _END:
                break
            yield item
        self._counter.inc(spent // 1000)


class CoreStepFn(beam.DoFn):
    """Applies a core step built in ``setup()`` by ``factory(*args)``."""

    def __init__(self, step: str, factory: Callable[..., Callable[[Any], Any]], *args: Any) -> None:
        self._step = step
        self._factory = factory
        self._args = args
        self._fn: Callable[[Any], Any] | None = None
        self._out = Metrics.counter(NAMESPACE, f"{step}.out")
        self._watch = Stopwatch(step)

    def setup(self) -> None:
        tune_collector()  # a worker-process setting: every pipeline's first steps are CoreStepFns
        if os.environ.get(RELEASE_STAGES_ENV) == "1":  # a worker process of a batch run
            release_finished_stages()
        self._fn = self._factory(*self._args)

    def process(self, element: Any) -> Iterator[Any]:
        assert self._fn is not None, "setup() was not called"
        with self._watch:
            result = self._fn(element)
        items: Iterable[Any] = (
            self._watch.each(result)
            if isinstance(result, Iterator)
            else (result if isinstance(result, list) else (result,))
        )
        for item in items:
            if isinstance(item, Rejection):
                Metrics.counter(NAMESPACE, f"{self._step}.rejected.{item.reason}").inc()
                yield pvalue.TaggedOutput(REJECTS, item)
            else:
                self._out.inc()
                yield item


class ApplyCore(beam.PTransform[PCollection[Any], Any]):
    """``pcoll | ApplyCore("Step", factory, *args)`` → ``(records, rejections)``."""

    def __init__(self, step: str, factory: Callable[..., Callable[[Any], Any]], *args: Any) -> None:
        super().__init__(label=step)
        self._fn = CoreStepFn(step, factory, *args)

    def expand(self, pcoll: PCollection[Any]) -> tuple[PCollection[Any], PCollection[Any]]:
        results = pcoll | beam.ParDo(self._fn).with_outputs(REJECTS, main=MAIN)
        return results[MAIN], results[REJECTS]


class LogProgressFn(beam.DoFn):
    """Passes elements through, logging every ``every`` elements per worker (long runs show life)."""

    def __init__(self, what: str, every: int = 500) -> None:
        self._what = what
        self._every = every
        self._seen = 0

    def process(self, element: Any) -> Iterator[Any]:
        self._seen += 1
        if self._seen % self._every == 0:
            _LOG.info("… %d %s so far (this worker)", self._seen, self._what)
        yield element


@dataclass(frozen=True)
class Int64Set:
    """A sorted array of distinct int64 keys, wrapped: Beam tests a side input's default value for
    truth, which a numpy array refuses."""

    values: npt.NDArray[np.int64]


class UnionFn(beam.CombineFn):
    """Iterables of hashable, orderable values → the distinct values, sorted (e.g. the keys of a run's
    new articles, as a side input that filters what is read of the history): a tuple, or with
    ``int64=True`` an :class:`Int64Set` (one buffer to encode and decode, however many keys)."""

    def __init__(self, int64: bool = False) -> None:
        self._int64 = int64

    def create_accumulator(self) -> set[Any]:
        return set()

    def add_input(self, accumulator: set[Any], element: Iterable[Any]) -> set[Any]:
        accumulator.update(element)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[set[Any]]) -> set[Any]:
        merged: set[Any] = set()
        for accumulator in accumulators:
            merged |= accumulator
        return merged

    def extract_output(self, accumulator: set[Any]) -> Any:
        if self._int64:
            return Int64Set(np.sort(np.fromiter(accumulator, dtype=np.int64, count=len(accumulator))))
        return tuple(sorted(accumulator))

    @staticmethod
    def view(int64: bool = False) -> beam.PTransform[PCollection[Any], Any]:
        """``pcoll | UnionFn.view()``: the union as a singleton side input, per window (streaming too;
        an empty input gives the empty union)."""
        view: beam.PTransform[PCollection[Any], Any] = beam.CombineGlobally(UnionFn(int64)).as_singleton_view()
        return view


class Accumulator(Protocol):
    """What :class:`AccumulateFn` needs of a core accumulator (e.g.
    :class:`feedflow.core.boilerplate.KeyCounter`, :class:`feedflow.core.neardup.BandTable`,
    :class:`feedflow.core.dataset.IdsToDecide`)."""

    def add(self, element: Any) -> None: ...
    def merge(self, other: Any) -> None: ...
    def compact(self) -> None: ...
    def result(self) -> Any: ...


class AccumulateFn(beam.CombineFn):
    """The one generic combine over a core accumulator built by ``factory(*args)``: the accumulator
    decides (add, merge, result), this does the Beam plumbing. ``compact`` runs before a lifted
    combine ships its per-bundle accumulator, so what crosses is the compact form."""

    def __init__(self, factory: Callable[..., Accumulator], *args: Any) -> None:
        self._factory = factory
        self._args = args

    def create_accumulator(self) -> Accumulator:
        return self._factory(*self._args)

    def add_input(self, accumulator: Accumulator, element: Any) -> Accumulator:
        accumulator.add(element)
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[Accumulator]) -> Accumulator:
        merged = self.create_accumulator()
        for accumulator in accumulators:
            merged.merge(accumulator)
        return merged

    def compact(self, accumulator: Accumulator) -> Accumulator:
        accumulator.compact()
        return accumulator

    def extract_output(self, accumulator: Accumulator) -> Any:
        return accumulator.result()


def in_global_window(value: Any) -> WindowedValue:
    """``value`` as an output of ``finish_bundle`` in a batch pipeline (which has no element, so no
    window, to take it from): the global window, at its end."""
    return WindowedValue(value, window.GlobalWindow().max_timestamp(), (window.GlobalWindow(),))


class SpillFn(beam.DoFn):
    """Records → one spill file per bundle under ``directory``, emitted as a :class:`SpillFile` when
    the bundle ends (a failed bundle's file is never emitted, so never read). Put it right before a
    step that waits on a side input, as :func:`spill_before` does: the runner then carries the
    file's name, not the records (see :mod:`feedflow.core.spill`). Global window only (batch)."""

    def __init__(self, directory: str) -> None:
        self._directory = directory
        self._writer: SpillWriter | None = None
        self._files = Metrics.counter(NAMESPACE, "Spill.files")
        self._bytes = Metrics.counter(NAMESPACE, "Spill.bytes")
        # Not timed per record: a Stopwatch's two thread-clock reads are a sizeable share of a ~15 µs
        # write (three A/B pairs at 20k articles: 23.6 vs 23.1 CPU s on average, about one run's
        # spread). Spilling counts in the benchmark's `rest`, as the runner's encoding it replaces did.

    def start_bundle(self) -> None:
        self._writer = SpillWriter(self._directory)

    def process(self, record: Any) -> Iterator[Any]:
        assert self._writer is not None
        self._writer.add(to_blob(record))
        yield from ()

    def finish_bundle(self) -> Iterator[WindowedValue]:
        assert self._writer is not None
        spilled = self._writer.close()
        if spilled is not None:
            self._files.inc()
            self._bytes.inc(self._writer.bytes)
            yield in_global_window(spilled)


class FromSpillFn(beam.DoFn):
    """Runs the DoFn ``inner`` over every record of each :class:`SpillFile` it is given, with the side
    inputs the ParDo passes (positional or by name), and yields what ``inner`` yields (tagged outputs
    too). ``inner``'s setup, bundle and teardown methods run as they would on their own."""

    def __init__(self, inner: beam.DoFn) -> None:
        self._inner = inner  # reading is not timed either (see SpillFn)

    def setup(self) -> None:
        self._inner.setup()

    def start_bundle(self) -> None:
        self._inner.start_bundle()

    @_no_beam_hints  # Beam would read **kwargs' hint as Dict[str, Any] and refuse the side inputs' types
    def process(self, element: SpillFile, *args: Any, **kwargs: Any) -> Iterator[Any]:
        process = self._inner.process
        for record in map(from_blob, read_spill(element)):
            outputs = process(record, *args, **kwargs)
            if outputs is not None:
                yield from outputs

    def finish_bundle(self) -> Any:
        return self._inner.finish_bundle()

    def teardown(self) -> None:
        self._inner.teardown()


class ChainFn(beam.DoFn):
    """DoFns run one after the other on each element, as one DoFn: each main output of a step is the
    next step's element, a tagged output leaves at once. ``steps`` pairs each DoFn with the names of
    the ParDo's side inputs (keyword arguments) it takes. So that several steps that wait on side
    inputs wait together: records spilled once, read back once (:func:`spill_before`) instead of one
    spill file round trip per step."""

    def __init__(self, steps: Sequence[tuple[beam.DoFn, tuple[str, ...]]]) -> None:
        if not steps:
            raise ValueError("ChainFn needs at least one step")
        self._steps = list(steps)

    def setup(self) -> None:
        for fn, _ in self._steps:
            fn.setup()

    def start_bundle(self) -> None:
        for fn, _ in self._steps:
            fn.start_bundle()

    @_no_beam_hints  # as FromSpillFn: the side inputs come by name
    def process(self, element: Any, **sides: Any) -> Iterator[Any]:
        return self._run(0, element, sides)

    def _run(self, at: int, element: Any, sides: dict[str, Any]) -> Iterator[Any]:
        fn, names = self._steps[at]
        outputs = fn.process(element, **{name: sides[name] for name in names})
        last = at == len(self._steps) - 1
        for output in outputs or ():
            if last or isinstance(output, pvalue.TaggedOutput):
                yield output
            else:
                yield from self._run(at + 1, output, sides)

    def finish_bundle(self) -> Iterator[Any]:
        for fn, _ in self._steps:  # a step that emits at the end of its bundle cannot be chained
            if fn.finish_bundle() is not None:
                raise TypeError(f"{type(fn).__name__} emits from finish_bundle: it cannot run in a ChainFn")
        yield from ()

    def teardown(self) -> None:
        for fn, _ in self._steps:
            fn.teardown()


def spill_before(
    pcolls: Iterable[PCollection[Any]], label: str, directory: str | None, fn: beam.DoFn
) -> tuple[PCollection[Any], beam.DoFn]:
    """What to ParDo, and with which DoFn, to run ``fn`` over the records of ``pcolls`` — usually a
    step that waits on a side input:
    ``source, fn = spill_before(parts, "Mark", spill_dir, MarkFn()); source | "Mark" >> beam.ParDo(fn, side)``.

    With a ``directory`` each input is spilled where it is made (a SpillFn fused with its producer, one
    per input: a Flatten before it would be materialised by the runner first); the source is then the
    spill files and the DoFn :class:`FromSpillFn` around ``fn``. Without one, the flattened inputs and
    ``fn`` itself."""
    pcolls = list(pcolls)
    if directory is None:
        if len(pcolls) == 1:
            return pcolls[0], fn
        return tuple(pcolls) | f"{label}Inputs" >> beam.Flatten(), fn
    return spill_each(pcolls, label, directory), FromSpillFn(fn)


def spill_each(pcolls: Iterable[PCollection[Any]], label: str, directory: str) -> PCollection[Any]:
    """The spill files of ``pcolls``, each spilled where it is made (a SpillFn fused with its producer,
    labelled ``<label>Spill``, ``<label>Spill-2``, …; a Flatten before it would be materialised by the
    runner first), as one PCollection of :class:`SpillFile`."""
    files = [
        pcoll | (f"{label}Spill" if n == 0 else f"{label}Spill-{n + 1}") >> beam.ParDo(SpillFn(directory))
        for n, pcoll in enumerate(pcolls)
    ]
    spilled: PCollection[Any] = files[0] if len(files) == 1 else tuple(files) | f"{label}SpillFiles" >> beam.Flatten()
    return spilled


def spilled_records(files: Iterable[SpillFile]) -> Iterator[Any]:
    """The records of spill files (:class:`SpillFn`'s), file by file: a side input made of spill files
    instead of the records, whose data the in-process runner would otherwise keep, with a copy in its
    state, until the run ends."""
    for spilled in files:
        yield from map(from_blob, read_spill(spilled))


class SideIndex:
    """A side input of ``(key, value)`` pairs as a dict of key → values, built once and rebuilt only
    when the DoFn is handed another side-input object (a new bundle or window), not per element.
    ``clear`` it in ``finish_bundle``: the runner keeps a finished stage's DoFns (and so the index)."""

    def __init__(self) -> None:
        self._source: object = None
        self._index: dict[Any, list[Any]] = {}

    def clear(self) -> None:
        self._source, self._index = None, {}

    def of(
        self, side: Iterable[Any], pairs_of: Callable[[Iterable[Any]], Iterable[tuple[Any, Any]]] | None = None
    ) -> dict[Any, list[Any]]:
        """The index of the side input ``side``: its pairs, or ``pairs_of(side)`` (e.g. spill files →
        :func:`spilled_records`)."""
        if side is not self._source:
            index: dict[Any, list[Any]] = {}
            for key, value in side if pairs_of is None else pairs_of(side):
                index.setdefault(key, []).append(value)
            self._source, self._index = side, index
        return self._index


def bind(function: Callable[..., Any], *args: Any) -> Callable[[Any], Any]:
    """Factory for plain core functions: ``ApplyCore("Read", bind, read_input, config)`` calls
    ``read_input(element, config)``. Runs on the worker, so the closure is never pickled."""

    def call(element: Any) -> Any:
        return function(element, *args)

    return call


def feedflow_counters(result: Any) -> dict[str, int]:
    """The ``feedflow`` namespace's counters of a finished pipeline result, summed per name."""
    from apache_beam.metrics.metric import MetricsFilter

    totals: dict[str, int] = {}
    for counter in result.metrics().query(MetricsFilter().with_namespace(NAMESPACE))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        totals[counter.key.metric.name] = totals.get(counter.key.metric.name, 0) + int(value or 0)
    return totals
