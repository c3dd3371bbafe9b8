"""Topic accuracy and speed of the IPTC tagger: `python benchmarks/topics_dev.py [--json]`.

Until `feedflow eval topics` lands this is how the tagger is measured, with the same rule: the tagger's
TOP topic code against the gold label through a fixed label → IPTC mapping; an article with no topic
counts as wrong.

* AG News test (7,600 rows, evaluation only): World → politics, conflict/war/peace, disaster/accident,
  crime/law/justice or society; Sports → sport; Business → economy/business/finance; Sci/Tech →
  science and technology.
* MasakhaNEWS English dev + test (1,420 BBC articles, evaluation only): business → 04, entertainment →
  01, health → 07, politics → 11, sports → 15, technology → 13.
* HuffPost held-out (the development split the shipped weights were NOT fitted on; the categories →
  IPTC mapping and the split are `feedflow.data.build_topic_weights.HUFFPOST_TO_IPTC` / `is_heldout`;
  WORLD NEWS accepts the same five codes as AG News' World).

Speed is articles per second through ``TopicTagger.tag`` (one process, one core), over all of them:
wall clock, and CPU time of this process (steadier on a shared machine).
``--module FILE`` measures another version of ``feedflow/core/topics.py`` instead (e.g. the one before a
change: ``git show REV:src/feedflow/core/topics.py > /tmp/topics_before.py``).
Reads ``$FEEDFLOW_EVAL_DATA`` (default ``<repo>/../shared/data``); exits 0 saying why when absent.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import feedflow.core.topics as topics_module
from feedflow.config import TopicConfig
from feedflow.core.topics import TopicTagger
from feedflow.data.build_topic_weights import HUFFPOST_TO_IPTC, is_heldout, load_huffpost

REPO = Path(__file__).resolve().parents[1]

WORLD = frozenset({"medtop:11000000", "medtop:16000000", "medtop:03000000", "medtop:02000000", "medtop:14000000"})
AGNEWS = {
    "1": WORLD,
    "2": frozenset({"medtop:15000000"}),
    "3": frozenset({"medtop:04000000"}),
    "4": frozenset({"medtop:13000000"}),
}
AGNEWS_NAMES = {"1": "World", "2": "Sports", "3": "Business", "4": "Sci/Tech"}
MASAKHANE = {
    "business": "medtop:04000000",
    "entertainment": "medtop:01000000",
    "health": "medtop:07000000",
    "politics": "medtop:11000000",
    "sports": "medtop:15000000",
    "technology": "medtop:13000000",
}

#: (gold label name, accepted codes, title, paragraphs)
Item = tuple[str, frozenset[str], str, list[str]]


def eval_data_dir() -> Path:
    return Path(os.environ.get("FEEDFLOW_EVAL_DATA") or REPO.parent / "shared" / "data")


def load_agnews(path: Path) -> list[Item]:
    items: list[Item] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            text = row["description"].replace("#36;", "$").replace("\\", "\n")
            paragraphs = [p.strip() for p in text.split("\n") if p.strip()]
            items.append((AGNEWS_NAMES[row["label"]], AGNEWS[row["label"]], row["title"], paragraphs))
    return items


def load_masakhane(paths: Sequence[Path]) -> list[Item]:
    csv.field_size_limit(10_000_000)
    items: list[Item] = []
    for path in paths:
        with path.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                paragraphs = [p.strip() for p in row["text"].split("\n") if p.strip()]
                label = row["category"]
                items.append((label, frozenset({MASAKHANE[label]}), row["headline"], paragraphs))
    return items


def load_huffpost_heldout(path: Path) -> list[Item]:
    items: list[Item] = []
    for record in load_huffpost(path):
        code = HUFFPOST_TO_IPTC.get(record["category"])
        if code is None or not is_heldout(record):
            continue
        text = record.get("short_description", "")
        gold = WORLD if record["category"] == "WORLD NEWS" else frozenset({code})  # as AG News' World
        items.append((record["category"], gold, record["headline"], [text] if text else []))
    return items


def evaluate(tagger: Any, items: Sequence[Item]) -> dict[str, Any]:
    correct = 0
    per_label: Counter[str] = Counter()
    per_label_ok: Counter[str] = Counter()
    confusion: Counter[tuple[str, str]] = Counter()
    untagged = 0
    start, cpu = time.perf_counter(), time.process_time()
    predictions = [tagger.tag(title, paragraphs) for _, _, title, paragraphs in items]
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu
    for (label, gold, _, _), topics in zip(items, predictions, strict=True):
        top = topics[0].code if topics else "none"
        untagged += not topics
        ok = top in gold
        correct += ok
        per_label[label] += 1
        per_label_ok[label] += ok
        confusion[(label, top.removeprefix("medtop:")[:2] if topics else "none")] += 1
    return {
        "n": len(items),
        "accuracy": correct / len(items),
        "untagged": untagged,
        "per_label": {k: round(per_label_ok[k] / per_label[k], 4) for k in sorted(per_label)},
        "confusion": {f"{k[0]}→{k[1]}": v for k, v in sorted(confusion.items()) if v >= max(3, len(items) // 200)},
        "seconds": round(seconds, 3),
        "cpu_seconds": round(cpu_seconds, 3),
        "articles_per_s": round(len(items) / seconds, 1),
        "articles_per_cpu_s": round(len(items) / cpu_seconds, 1),
    }


def _load_module(path: Path) -> Any:
    spec = importlib.util.spec_from_file_location("topics_under_test", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"error: cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--module", type=Path, help="measure this topics.py instead of feedflow.core.topics")
    args = parser.parse_args(argv)
    data = eval_data_dir()
    if not data.is_dir():
        print(f"skipped: shared evaluation data not found at {data} (set FEEDFLOW_EVAL_DATA)")
        return 0
    tagger_class = TopicTagger if args.module is None else _load_module(args.module).TopicTagger
    start = time.perf_counter()
    tagger = tagger_class(TopicConfig())
    build_s = time.perf_counter() - start
    sets = {
        "ag_news": load_agnews(data / "ag_news" / "test.csv"),
        "masakhanews_en": load_masakhane(
            [data / "topics" / "masakhanews_eng_dev.tsv", data / "topics" / "masakhanews_eng_test.tsv"]
        ),
        "huffpost_heldout": load_huffpost_heldout(data / "topics" / "huffpost_news_category_v3_subset_fredstock.jsonl"),
    }
    results = {name: evaluate(tagger, items) for name, items in sets.items()}
    n = sum(int(r["n"]) for r in results.values())
    seconds = sum(float(r["seconds"]) for r in results.values())
    cpu = sum(float(r["cpu_seconds"]) for r in results.values())
    summary = {
        "tagger": str(args.module or topics_module.__file__),
        "tagger_build_s": round(build_s, 3),
        "articles": n,
        "articles_per_s": round(n / seconds, 1),
        "articles_per_cpu_s": round(n / cpu, 1),
    }
    if args.json:
        print(json.dumps({"results": results, "speed": summary}, indent=2, ensure_ascii=False))
        return 0
    print(f"tagger: {summary['tagger']}\n")
    print("| set | n | accuracy | untagged | articles/s | articles/CPU-s |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        row = (name, r["n"], f"{r['accuracy']:.4f}", r["untagged"], r["articles_per_s"], r["articles_per_cpu_s"])
        print("| " + " | ".join(str(v) for v in row) + " |")
    print(
        f"\nall: {n} articles at {summary['articles_per_s']} articles/s "
        f"({summary['articles_per_cpu_s']} per CPU-second); tagger built in {build_s:.2f} s"
    )
    for name, r in results.items():
        print(f"\n{name} per label: {r['per_label']}")
        print(f"{name} confusion (gold→top code, counts ≥ 0.5%): {r['confusion']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
