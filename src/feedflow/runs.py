"""Run bookkeeping (Beam-free): the manifest of a run, its accounting check and its printed summary."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import feedflow
from feedflow.options import RunOptions


class AccountingError(RuntimeError):
    """Records in ≠ articles + rejects + skipped: a record was lost or duplicated. Never committed."""


def rejects_by_reason(stats: Mapping[str, int]) -> dict[str, int]:
    return {k.split(".", 1)[1]: v for k, v in sorted(stats.items()) if k.startswith("rejected.")}


def check_accounting(stats: Mapping[str, int]) -> None:
    """Every input record must end as exactly one article row, one reject row or one skipped id."""
    records_in = stats.get("records_in", 0)
    articles = stats.get("rows_articles", 0)
    rejected = sum(rejects_by_reason(stats).values())
    skipped = stats.get("skipped_existing", 0)
    if records_in != articles + rejected + skipped:
        raise AccountingError(
            f"accounting mismatch: {records_in} records in, but {articles} articles + {rejected} rejects + "
            f"{skipped} skipped = {articles + rejected + skipped}"
        )
    if stats.get("rows_rejects", 0) != rejected:
        raise AccountingError(
            f"accounting mismatch: {stats.get('rows_rejects', 0)} reject rows written, {rejected} rejects counted"
        )


def run_settings(options: RunOptions, runner: str) -> dict[str, Any]:
    """The settings of a run as recorded in its manifest."""
    return {
        "partition_by": list(options.partition_by),
        "workers": options.workers,
        "runner": runner,
        "ner_model": options.ner.model if options.ner else None,
        "topics": options.topics is not None,
        "beam_args": list(options.beam_args),
        "boilerplate_min_articles": options.boilerplate.min_articles if options.boilerplate else None,
        "near_dup_threshold": options.near_dup.threshold if options.near_dup else None,
    }


def build_manifest(
    run_id: str,
    inputs: Sequence[str],
    settings: Mapping[str, Any],
    started: datetime,
    finished: datetime,
    stats: Mapping[str, int],
    metrics: Mapping[str, int],
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "feedflow_version": feedflow.__version__,
        "started_at": started.isoformat(),
        "finished_at": finished.isoformat(),
        "seconds": round((finished - started).total_seconds(), 3),
        "inputs": list(inputs),
        "settings": dict(settings),
        "counts": {
            "records_in": stats.get("records_in", 0),
            "articles": stats.get("rows_articles", 0),
            "rejected": sum(rejects_by_reason(stats).values()),
            "skipped_existing": stats.get("skipped_existing", 0),
            "paragraphs": stats.get("rows_paragraphs", 0),
            "entities": stats.get("rows_entities", 0),
        },
        "rejects_by_reason": rejects_by_reason(stats),
        "metrics": dict(sorted(metrics.items())),
    }


def format_summary(manifest: Mapping[str, Any], output: str) -> str:
    counts = manifest["counts"]
    seconds = max(float(manifest["seconds"]), 1e-9)
    lines = [
        f"run {manifest['run_id']} committed to {output} in {manifest['seconds']:.1f}s "
        f"({manifest['settings']['runner']}, {manifest['settings']['workers']} worker(s))",
        f"  records in        {counts['records_in']:>8}",
        f"  articles written  {counts['articles']:>8}   ({counts['articles'] / seconds:.1f}/s)",
        f"  rejected          {counts['rejected']:>8}",
        f"  already in data   {counts['skipped_existing']:>8}",
        f"  paragraphs        {counts['paragraphs']:>8}",
        f"  entities          {counts['entities']:>8}",
    ]
    for reason, n in manifest["rejects_by_reason"].items():
        lines.append(f"    {reason:<22}{n:>6}")
    tagged = manifest["metrics"].get("TagEntities.tagged")
    other = manifest["metrics"].get("TagEntities.skipped_language")
    if tagged is not None or other is not None:
        lines.append(f"  NER: {tagged or 0} article(s) tagged, {other or 0} in another language (not tagged)")
    metrics = manifest["metrics"]
    if any(name.startswith(("Boilerplate.", "NearDup.")) for name in metrics):
        lines.append(
            f"  dedup: {metrics.get('Boilerplate.paragraphs_removed', 0)} boilerplate paragraph(s) removed from "
            f"{metrics.get('Boilerplate.articles_changed', 0)} article(s); "
            f"{metrics.get('NearDup.duplicates', 0)} near-duplicate(s) "
            f"in {metrics.get('NearDup.clusters', 0)} cluster(s)"
        )
    if manifest.get("damaged_files"):
        lines.append(
            f"  WARNING: {len(manifest['damaged_files'])} damaged committed file(s) skipped "
            f"(listed in the manifest; `feedflow check {output}`)"
        )
    lines.append(f"  manifest: {output}/_runs/{manifest['run_id']}.json")
    return "\n".join(lines)
