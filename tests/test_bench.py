"""The benchmark tools' arithmetic (benchmarks/bench.py, benchmarks/replay_ner.py): what the figures are made of."""

from __future__ import annotations

import importlib.util
import json
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


def test_a_repeated_skip_run_is_the_fastest_one_and_says_so_with_the_median(bench: Any) -> None:
    """Three runs of 1,000 articles took 10, 12 and 11 CPU s with 3 of startup: the figure is the
    fastest's (1000 / 7), and the note gives every run and the median's rate (1000 / 8 = 125)."""
    result = {"seconds": 10.5, "cpu_s": 10.0, "peak_rss_mib": 500.0, "repeats_cpu_s": [10.0, 12.0, 11.0]}
    skip = bench.Measure(1000, "skip", 1, 1000, 0, result, (3.2, 3.0))
    [target] = [t for t in bench.targets([skip]) if t["target"].startswith("--skip")]
    assert target["value"] == 142.9 and not target["met"]
    assert "fastest of 3 runs (CPU s 10.0, 12.0, 11.0), median 125 per CPU s" in target["note"]


def test_the_memory_ratio_of_repeated_runs_takes_each_sizes_highest_peak(bench: Any) -> None:
    """5k runs peaked at 500 and 510 MiB, 50k runs at 600, 640 and 620: the ratio is 640 / 510, not that
    of the runs with the least CPU (which peaked at 500 and 600)."""
    small = bench.Measure(
        5000, "skip", 1, 5000, 0, {"seconds": 8, "cpu_s": 8, "peak_rss_mib": 500.0, "repeats_peak_rss_mib": [500, 510]}
    )
    large = bench.Measure(
        50000,
        "skip",
        1,
        50000,
        0,
        {"seconds": 50, "cpu_s": 50, "peak_rss_mib": 600.0, "repeats_peak_rss_mib": [600, 640, 620]},
    )
    [target] = [t for t in bench.targets([small, large]) if t["target"].startswith("peak RSS")]
    assert target["value"] == round(640 / 510, 3) and not target["met"]
    assert "510 → 640 MiB" in target["note"] and "50,000: 600, 640, 620 MiB" in target["note"]


def test_a_runner_stage_is_named_by_its_first_transform(bench: Any) -> None:
    stage = (
        "((((ref_PCollection_PCollection_113/Read)+(ref_AppliedPTransform_ToDataset-Process-CrossDedup-"
        "NearDuplicates-ApplyAssignments_101))+(ref_AppliedPTransform_ToDataset-Write-ArticleRows_150))"
    )
    assert bench.stage_label(stage) == "CrossDedup-NearDuplicates-ApplyAssignments"
    grouped = "((ToDataset/Process/CrossDedup/NearDuplicates/BandTables/CombinePerKey/Group/Read)+(x_3))"
    assert bench.stage_label(grouped) == "CrossDedup/NearDuplicates/BandTables/CombinePerKey/Group/Read"


def test_each_rss_sample_counts_for_the_stage_running_when_it_was_taken(bench: Any) -> None:
    """Stages A (from t=10) and B (from t=20); samples before A are startup's. MiB = 2**20 bytes."""
    mib = 2**20
    samples = [(5.0, 100 * mib), (12.0, 300 * mib), (19.9, 350 * mib), (20.0, 200 * mib), (25.0, 250 * mib)]
    peaks = bench.stage_peaks(samples, [(10.0, "(ref_AppliedPTransform_A_1)"), (20.0, "(ref_AppliedPTransform_B_2)")])
    assert peaks == {"A": 350.0, "B": 250.0, "startup": 100.0}
    assert list(peaks) == ["A", "B", "startup"]  # highest first


def test_the_memory_target_says_in_which_stage_each_size_peaked(bench: Any) -> None:
    """Of repeated runs, the stage of the run with the highest peak is named."""
    small = bench.Measure(
        5000, "skip", 1, 5000, 0, {"seconds": 8, "cpu_s": 8, "peak_rss_mib": 450.0, "peak_stages_mib": {"Write": 450}}
    )
    repeats = {"repeats_peak_rss_mib": [560, 590, 570], "repeats_peak_stage": ["Join", "BandTables", "Join"]}
    large = bench.Measure(50000, "skip", 1, 50000, 0, {"seconds": 50, "cpu_s": 50, "peak_rss_mib": 560.0, **repeats})
    [target] = [t for t in bench.targets([small, large]) if t["target"].startswith("peak RSS")]
    assert "peak stages: 5,000 Write, 50,000 BandTables" in target["note"]


def test_a_run_close_to_its_startup_gets_no_per_cpu_figure_and_its_targets_say_why(bench: Any) -> None:
    """300 articles: the skip run took 5.4 CPU s against a startup of 3.7, the 2-worker one 8.9 against 8.9
    (a fresh clone's `make bench BENCH_SIZES=300` gave these, and "300,000 articles per CPU s" from the
    difference floored at 1 ms). Under 1.5× the startup, what is left is noise: no figure, no target met,
    a note that says so; the larger run beside it is measured as before."""
    small = bench.Measure(300, "skip", 1, 300, 0, {"seconds": 4.8, "cpu_s": 5.4, "peak_rss_mib": 390.0}, (3.1, 3.7))
    pair = bench.Measure(300, "skip", 2, 300, 0, {"seconds": 6.4, "cpu_s": 8.9, "peak_rss_mib": 942.0}, (6.2, 8.9))
    large = bench.Measure(5000, "skip", 1, 5000, 0, {"seconds": 8.0, "cpu_s": 8.7, "peak_rss_mib": 458.0}, (3.1, 3.7))
    assert small.rate_cpu() is None and pair.rate_cpu() is None and small.row()["articles_per_cpu_s"] is None
    assert large.rate_cpu() == pytest.approx(1000.0)
    by_target = {t["target"]: t for t in bench.targets([small, pair, large])}
    tiny = by_target["--skip entities,topics ≥ 1,000 articles/s, 1 core (300)"]
    assert tiny["value"] is None and not tiny["met"]
    assert "300 articles took 5.4 CPU s against the startup's 3.7 (a figure needs at least 1.5×" in tiny["note"]
    assert by_target["--skip entities,topics ≥ 1,000 articles/s, 1 core (5,000)"]["value"] == 1000.0


def test_the_replay_tool_summarises_its_own_run_where_the_output_holds_earlier_ones(tmp_path: Path) -> None:
    """`replay_ner.py` into an output that already holds a dataset (an earlier run's manifest beside this
    run's) failed to unpack the two manifests after the run; it reads the one its run wrote."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "replay_ner.py"
    spec = importlib.util.spec_from_file_location("feedflow_replay_ner", path)
    assert spec is not None and spec.loader is not None
    replay = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(replay)
    runs = tmp_path / "_runs"
    runs.mkdir()
    (runs / "20261208T030000Z-aaaaaa.json").write_text(json.dumps({"metrics": {"TagEntities.time_us": 9_000_000}}))
    before = replay._manifests(tmp_path)
    (runs / "20261208T040000Z-bbbbbb.json").write_text(
        json.dumps({"metrics": {"TagEntities.time_us": 2_000_000, "WriteParts.time_us": 500_000}})
    )
    found = replay.summary(tmp_path, before)
    assert found["model_s"] == 2.0 and found["steps_s"] == {"TagEntities": 2.0, "WriteParts": 0.5}
