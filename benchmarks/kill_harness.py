"""kill -9 `feedflow run` at random moments, again and again; after each kill one clean rerun must leave
the dataset equal to an uninterrupted run's.

    python benchmarks/kill_harness.py [--kills 50] [--seed 7] [--keep DIR]

One uninterrupted run of a fixed input set (a text article, a feed, 40 JSON articles) gives the
reference dataset and its duration T. Then, KILLS times: a fresh output folder, `feedflow run` started
as a child process and sent SIGKILL after a random delay in [0.2 T, 1.1 T] (import, pipeline, staging,
journal, moves, manifest: wherever it happens to be), then one clean rerun. The state compared:

* the (article_id, version, content_hash) rows of ``articles``, and the row counts of ``paragraphs``
  and ``entities`` — equal to the reference;
* no duplicate article_id;
* every file DuckDB's ``read_parquet('DIR/**/*.parquet')`` would see is a committed table file
  (nothing left in ``_staging``) and readable.

Prints one line per kill and a summary; exits 1 if any kill left a different dataset.
tests/test_faults.py runs the same loop with 5 kills.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

REPO = Path(__file__).resolve().parents[1]
SKIP = "entities,near-dups"


def make_inputs(folder: Path) -> list[str]:
    """A small, fixed input set: a text article, an RSS feed and 40 JSON Lines articles."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "seeds" / "harris_border.txt", folder / "harris_border.txt")
    shutil.copy(REPO / "seeds" / "sample-feed.xml", folder / "sample-feed.xml")
    words = ["council", "budget", "storm", "harbour", "election", "river", "school", "market", "court", "museum"]
    lines = []
    for i in range(40):
        body = " ".join(words[(i * 3 + j) % len(words)] for j in range(60))
        lines.append(json.dumps({
            "url": f"https://kill.example.com/story/{i}", "title": f"Story {i} about the {words[i % 10]}",
            "text": f"Paragraph one of story {i}: {body}.\n\nParagraph two of story {i} with more {body}.",
            "published": f"2024-03-{1 + i % 28:02d}T10:00:00Z", "source": "kill.example.com",
        }))  # fmt: skip
    (folder / "stories.jsonl").write_text("\n".join(lines) + "\n")
    return [str(folder / name) for name in ("harris_border.txt", "sample-feed.xml", "stories.jsonl")]


def run_command(inputs: list[str], out: Path) -> list[str]:
    return [sys.executable, "-m", "feedflow.cli", "run", *inputs, "--output", str(out), "--skip", SKIP]


def clean_run(inputs: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(run_command(inputs, out), capture_output=True, text=True, timeout=600, check=False)


def dataset_state(out: Path) -> dict[str, Any]:
    """What must match the reference after a kill and a rerun (see module docstring)."""
    con = duckdb.connect()
    state: dict[str, Any] = {}
    for table in ("articles", "paragraphs", "entities"):
        files = sorted(glob.glob(str(out / table / "**" / "*.parquet"), recursive=True))
        if not files:
            state[table] = [] if table == "articles" else 0
            continue
        relation = con.read_parquet(files, union_by_name=True)
        if table == "articles":
            state[table] = sorted(relation.select("article_id, version, content_hash").fetchall())
        else:
            state[table] = relation.aggregate("count(*)").fetchall()[0][0]
    ids = [row[0] for row in state["articles"]]
    state["duplicate_ids"] = len(ids) - len(set(ids))
    visible = sorted(glob.glob(str(out / "**" / "*.parquet"), recursive=True))
    tables = ("articles", "paragraphs", "entities", "rejects")
    state["orphans"] = [p for p in visible if Path(p).relative_to(out).parts[0] not in tables]
    unreadable = []
    for path in visible:
        try:
            con.read_parquet(path).aggregate("count(*)").fetchall()
        except duckdb.Error as err:
            unreadable.append(f"{path}: {err}")
    state["unreadable"] = unreadable
    return state


def kill_once(inputs: list[str], out: Path, delay: float) -> tuple[str, subprocess.CompletedProcess[str]]:
    """Start a run, SIGKILL it after ``delay`` s (if still running), then rerun cleanly."""
    child = subprocess.Popen(run_command(inputs, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        child.wait(timeout=delay)
        outcome = f"finished before the kill (rc {child.returncode})"
    except subprocess.TimeoutExpired:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        staged = out / "_staging"
        journal = any(staged.glob("*/_commit.json")) if staged.is_dir() else False
        outcome = "killed" + (" mid-commit (journal present)" if journal else "")
    return outcome, clean_run(inputs, out)


def compare(reference: dict[str, Any], state: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("articles", "paragraphs", "entities"):
        if state[key] != reference[key]:
            got = len(state[key]) if key == "articles" else state[key]
            want = len(reference[key]) if key == "articles" else reference[key]
            problems.append(f"{key} differ ({got} vs {want} in the reference)")
    for key in ("duplicate_ids", "orphans", "unreadable"):
        if state[key]:
            problems.append(f"{key}: {state[key]}")
    return problems


def harness(kills: int, seed: int, workdir: Path, log: Any = print) -> tuple[int, int, list[str]]:
    """Returns (kills that landed while the run was going, iterations, failures)."""
    rng = random.Random(seed)
    inputs = make_inputs(workdir / "inputs")
    started = time.monotonic()
    reference_run = clean_run(inputs, workdir / "reference")
    duration = time.monotonic() - started
    if reference_run.returncode != 0:
        raise RuntimeError(f"the reference run failed: {reference_run.stderr[-2000:]}")
    reference = dataset_state(workdir / "reference")
    log(f"reference: {len(reference['articles'])} articles, {reference['paragraphs']} paragraphs in {duration:.1f}s")
    landed = 0
    failures: list[str] = []
    for n in range(kills):
        out = workdir / f"kill-{n:03d}"
        delay = rng.uniform(0.2 * duration, 1.1 * duration)
        outcome, rerun = kill_once(inputs, out, delay)
        landed += outcome.startswith("killed")
        problems = [f"rerun exit {rerun.returncode}: {rerun.stderr[-500:]}"] if rerun.returncode else []
        problems += compare(reference, dataset_state(out))
        verdict = problems if problems else "same dataset"
        log(f"kill {n + 1:>3}/{kills} at {delay:5.1f}s: {outcome}; rerun: {verdict}")
        if problems:
            failures.append(f"kill {n + 1} at {delay:.1f}s ({outcome}): {problems}")
        else:
            shutil.rmtree(out, ignore_errors=True)
    return landed, kills, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", default=None, metavar="DIR", help="work in DIR and keep it (default: a temp dir)")
    ns = parser.parse_args(argv)
    workdir = Path(ns.keep) if ns.keep else Path(tempfile.mkdtemp(prefix="feedflow-kill-"))
    started = time.monotonic()
    try:
        landed, total, failures = harness(ns.kills, ns.seed, workdir, lambda line: print(line, flush=True))
    finally:
        if not ns.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"{total} runs killed at random moments ({landed} while running), each rerun once: "
          f"{total - len(failures)} left the reference dataset, {len(failures)} did not "
          f"({time.monotonic() - started:.0f}s)")  # fmt: skip
    for failure in failures:
        print("FAILED", failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
