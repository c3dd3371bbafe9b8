"""`feedflow run` with the NER model's answers replayed from a file: the pipeline's own CPU, no model.

An all-stages run is ~89% spaCy, whose own time moves ±5% from run to run: more than most changes to
the rest of the pipeline. To compare two versions of everything but the model, record the model's
answers once, then replay them:

    python benchmarks/replay_ner.py record build/spans.pkl -- run CORPUS --output OUT --workers 1
    python benchmarks/replay_ner.py replay build/spans.pkl -- run CORPUS --output OUT --workers 1

``record`` runs the real model and saves what ``EntityTagger.spans_many`` returned for each distinct
piece of text; ``replay`` loads no model and looks every piece up (a piece it was not recorded for is
an error: record over the same corpus). The run writes the same tables either way. Each prints one
JSON line: the process's CPU seconds, the model's (the ``TagEntities`` timer), the rest, and every
step's ``<step>.time_us`` timer from the run's manifest.

In-process runs only (``--workers 1``): SDK worker processes would load the real model. A tool for
A/B timing (docs/performance.md, tenth round), not a benchmark of record: ``make bench`` is that.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import feedflow.core.entities as entities
from feedflow.cli import main as feedflow_main


class _NoModel:
    """Stands where the spaCy pipeline stood: replayed answers need none."""

    pipe_names = ("ner",)


def install(mode: str, cache_path: Path) -> dict[str, Any]:
    """Replaces ``EntityTagger.spans_many`` (and, to replay, the model's loading); returns the cache."""
    real = entities.EntityTagger.spans_many
    if mode == "record":
        cache: dict[str, Any] = {}

        def recording(self: entities.EntityTagger, texts: Sequence[str]) -> list[Any]:
            found = real(self, texts)
            cache.update(zip(texts, found, strict=True))
            return found

        entities.EntityTagger.spans_many = recording  # type: ignore[method-assign]  # the tool's purpose
        return cache
    with open(cache_path, "rb") as handle:
        cache = pickle.load(handle)  # a file this tool wrote (never input data)

    def replaying(self: entities.EntityTagger, texts: Sequence[str]) -> list[Any]:
        self.stats["tagged"] += len(texts)
        missing = [text for text in texts if text not in cache]
        if missing:
            raise SystemExit(f"replay_ner: {len(missing)} piece(s) were not recorded, e.g. {missing[0][:80]!r}")
        return [cache[text] for text in texts]

    entities._load_pipeline = lambda config: _NoModel()  # type: ignore[assignment]  # no model to load
    entities.EntityTagger.spans_many = replaying  # type: ignore[method-assign]
    return cache


def _manifests(output: Path) -> set[Path]:
    return set((output / "_runs").glob("*.json"))


def summary(output: Path, before: set[Path]) -> dict[str, Any]:
    """CPU seconds of this process, the model's, the rest, and each step's timer, from the manifest of
    this run (the one not in ``before``: an output that holds a dataset has the earlier runs' too)."""
    cpu = time.process_time()
    [path] = _manifests(output) - before
    manifest = json.loads(path.read_text())
    metrics = manifest.get("metrics", {})
    steps = {k.removesuffix(".time_us"): v / 1e6 for k, v in metrics.items() if k.endswith(".time_us")}
    model = steps.get("TagEntities", 0.0) + metrics.get("TagEntities.setup_us", 0) / 1e6
    return {
        "cpu_s": round(cpu, 2),
        "model_s": round(model, 2),
        "outside_model_s": round(cpu - model, 2),
        "steps_s": {name: round(value, 2) for name, value in sorted(steps.items())},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=("record", "replay"))
    parser.add_argument("cache", type=Path, help="the recorded answers (a pickle this tool writes)")
    parser.add_argument("feedflow_args", nargs=argparse.REMAINDER, help="-- then `feedflow` arguments")
    ns = parser.parse_args(argv)
    args = ns.feedflow_args[1:] if ns.feedflow_args[:1] == ["--"] else ns.feedflow_args
    workers = args[args.index("--workers") + 1] if "--workers" in args[:-1] else "1"
    if args[:1] != ["run"] or "--output" not in args[:-1] or workers != "1":
        parser.error("give `-- run INPUT... --output OUT [--workers 1]`: in-process runs only")
    cache = install(ns.mode, ns.cache)
    output = Path(args[args.index("--output") + 1])
    before = _manifests(output)
    rc = feedflow_main(args)
    if rc == 0 and ns.mode == "record":
        ns.cache.parent.mkdir(parents=True, exist_ok=True)
        with open(ns.cache, "wb") as handle:
            pickle.dump(cache, handle, protocol=pickle.HIGHEST_PROTOCOL)
    if rc == 0:
        print(json.dumps(summary(output, before)))
    return rc


if __name__ == "__main__":
    sys.exit(main())
