"""The benchmark's target arithmetic (benchmarks/bench.py): what the all-stages figure is compared with."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture(scope="module")
def bench() -> Any:
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench.py"
    spec = importlib.util.spec_from_file_location("feedflow_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["feedflow_bench"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_all_stages_ratio_is_also_given_with_the_model_at_the_baselines_time(bench: Any) -> None:
    """1,000 articles: the run took 130 CPU s, 5 of them startup, 95 in the model; nlp.pipe took 100.
    Per CPU s that is 0.8 of the baseline; had the model taken the baseline's 100 s in the run too, the
    rest (30 s) would make it 100 / 130."""
    full = bench.Measure(1000, "full", 1, 1000, 0, {"seconds": 140.0, "cpu_s": 130.0}, (6.0, 5.0), {"NER": 95.0})
    base = bench.Measure(1000, "baseline", 1, 1000, 0, {"seconds": 101.0, "pipe_cpu_s": 100.0})
    [target] = [t for t in bench.targets([full, base]) if t["target"].startswith("all stages")]
    assert target["value"] == 0.8 and not target["met"]
    assert "model 95.0 vs 100.0 CPU s, the rest of the run 30.0 CPU s: 0.769 with the model" in target["note"]
