"""The quality gate: `make eval` (or python benchmarks/eval_gate.py).

Runs every `feedflow eval` on the shared evaluation data (``$FEEDFLOW_EVAL_DATA``, default
``<repo>/../shared/data``) with the product's defaults:

* ``ner.*``: ``feedflow eval ner conll2003/eng.testa`` (the default NER model, or ``--ner-model``);
* ``topics.agnews.*``: ``feedflow eval topics ag_news/test.csv --format agnews``;
* ``topics.masakhanews.*``: ``feedflow eval topics topics/masakhanews_eng_{dev,test}.tsv --format masakhanews``;
* ``extract.*``: ``feedflow eval extract article-extraction``.

It prints a Markdown table ``figure | value | floor | ok`` against the floors pinned in
``benchmarks/eval_floors.json``, writes the same as a JSON record (``--out``, default
``build/eval/eval-gate.json``) and exits 1 when any figure is below its floor or could not be measured,
else 0. Without the data folder it prints "skipped: no data at …" and exits 0. A floor is only ever
lowered by an explicit, reviewed change to the floors file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feedflow.config import NerConfig
from feedflow.evaluate import eval_extract, eval_ner, eval_topics

REPO = Path(__file__).resolve().parent.parent
FLOORS = Path(__file__).resolve().parent / "eval_floors.json"
EVALS = ("ner", "topics.agnews", "topics.masakhanews", "extract")


def data_dir() -> Path:
    return Path(os.environ.get("FEEDFLOW_EVAL_DATA") or REPO.parent / "shared" / "data")


def load_floors(path: Path) -> dict[str, float]:
    """Figure name → floor, from ``{"floors": {name: {"floor": x, "reason": "..."}}}``."""
    data = json.loads(path.read_text(encoding="utf-8"))
    floors = {}
    for name, entry in data["floors"].items():
        if not isinstance(entry, dict) or not isinstance(entry.get("floor"), int | float) or not entry.get("reason"):
            raise SystemExit(f"{path}: {name} needs a numeric 'floor' and a 'reason'")
        floors[name] = float(entry["floor"])
    return floors


def measure(data: Path, which: Sequence[str], ner_model: str | None) -> tuple[dict[str, float], dict[str, Any]]:
    """Run the chosen evaluations: figures ``{prefix.name: value}`` and per-evaluation details."""
    runs: dict[str, Callable[[], Any]] = {
        "ner": lambda: eval_ner(data / "conll2003" / "eng.testa", ner_model),
        "topics.agnews": lambda: eval_topics([data / "ag_news" / "test.csv"], "agnews"),
        "topics.masakhanews": lambda: eval_topics(
            [data / "topics" / "masakhanews_eng_dev.tsv", data / "topics" / "masakhanews_eng_test.tsv"], "masakhanews"
        ),
        "extract": lambda: eval_extract(data / "article-extraction"),
    }
    figures: dict[str, float] = {}
    details: dict[str, Any] = {}
    for name in which:
        started = time.perf_counter()
        try:
            result = runs[name]()
        except (OSError, ValueError, RuntimeError) as err:  # missing file, bad format, model not installed
            details[name] = {"error": f"{type(err).__name__}: {err}"}
            print(f"eval {name}: FAILED: {err}", file=sys.stderr)
            continue
        seconds = time.perf_counter() - started
        for key, value in result.figures().items():
            figures[f"{name}.{key}"] = value
        details[name] = {"seconds": round(seconds, 2)}
        if name == "ner":
            details[name] |= {
                "model": result.model,
                "words": result.words,
                "load_seconds": round(result.load_seconds, 2),
            }
        print(f"eval {name}: {seconds:.1f} s", file=sys.stderr)
    return figures, details


def gate(figures: dict[str, float], floors: dict[str, float], which: Sequence[str]) -> list[dict[str, Any]]:
    """One row per figure measured or floored (within the evaluations run): value, floor, ok."""
    names = sorted(set(figures) | {n for n in floors if any(n.startswith(w + ".") for w in which)})
    rows = []
    for name in names:
        value, floor = figures.get(name), floors.get(name)
        ok = None if floor is None else value is not None and value >= floor
        rows.append({"figure": name, "value": value, "floor": floor, "ok": ok})
    return rows


def markdown(rows: Sequence[dict[str, Any]]) -> str:
    def number(value: float | None, name: str) -> str:
        if value is None:
            return "—"
        return f"{value:,.0f}" if name.endswith("_per_s") else f"{value:.4f}"

    lines = ["| figure | value | floor | ok |", "|---|---:|---:|---|"]
    for row in rows:
        ok = "—" if row["ok"] is None else ("ok" if row["ok"] else "**BELOW FLOOR**")
        if row["value"] is None:
            ok = "**NOT MEASURED**"
        name = row["figure"]
        lines.append(f"| {name} | {number(row['value'], name)} | {number(row['floor'], name)} | {ok} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--floors", type=Path, default=FLOORS)
    parser.add_argument("--out", type=Path, default=REPO / "build" / "eval" / "eval-gate.json")
    parser.add_argument("--ner-model", help=f"NER model to evaluate (default: the product's, {NerConfig().model})")
    parser.add_argument("--only", default=",".join(EVALS), help=f"comma-separated subset of {','.join(EVALS)}")
    ns = parser.parse_args(argv)
    which = [w for w in ns.only.split(",") if w]
    unknown = set(which) - set(EVALS)
    if unknown:
        parser.error(f"unknown evaluation(s) {sorted(unknown)}; known: {', '.join(EVALS)}")
    data = data_dir()
    if not data.is_dir():
        print(f"skipped: no data at {data} (set FEEDFLOW_EVAL_DATA to the shared evaluation data)")
        return 0
    floors = load_floors(ns.floors)
    started = time.perf_counter()
    figures, details = measure(data, which, ns.ner_model)
    rows = gate(figures, floors, which)
    print(markdown(rows))
    failed = [r["figure"] for r in rows if r["ok"] is False or (r["floor"] is not None and r["value"] is None)]
    failed += [f"{name} (could not run)" for name, detail in details.items() if "error" in detail]
    record = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": str(data),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "seconds": round(time.perf_counter() - started, 1),
        "evaluations": details,
        "rows": rows,
        "passed": not failed,
    }
    ns.out.parent.mkdir(parents=True, exist_ok=True)
    ns.out.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    print(f"\nrecord: {ns.out}")
    if failed:
        print(f"quality gate FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    print("quality gate passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
