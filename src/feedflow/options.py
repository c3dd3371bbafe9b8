"""The edge: command-line arguments → frozen config objects and Beam pipeline options.

Everything a run needs is decided here, once, and validated with one-line errors (UsageError);
deeper layers receive plain, picklable config values.
"""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from apache_beam.options.pipeline_options import (
    DirectOptions,
    GoogleCloudOptions,
    PipelineOptions,
    PortableOptions,
    StandardOptions,
)

from feedflow.config import (
    DEFAULT_USER_AGENT,
    ONTONOTES_NER_MODEL,
    CleanConfig,
    NerConfig,
    ReadConfig,
    TopicConfig,
)
from feedflow.core.boilerplate import BoilerplateConfig
from feedflow.core.neardup import NearDupConfig
from feedflow.core.readers import check_input_arg

_LOG = logging.getLogger("feedflow")
STAGES = ("entities", "topics", "boilerplate", "near-dups")
PARTITIONINGS = {"date": ("date",), "date,source": ("date", "source")}


ALLOW_PRIVATE_HELP = (
    "also fetch URLs found in data (OPML served over HTTP, entry links, redirects) that point at loopback, "
    "private or link-local addresses (refused by default; for local testing)"
)


class UsageError(ValueError):
    """Unusable arguments; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class RunOptions:
    inputs: tuple[str, ...]
    output: str
    partition_by: tuple[str, ...]
    workers: int
    read: ReadConfig
    clean: CleanConfig
    ner: NerConfig | None
    topics: TopicConfig | None
    beam_args: tuple[str, ...] = ()
    started: datetime | None = field(default=None)
    boilerplate: BoilerplateConfig | None = field(default_factory=BoilerplateConfig)
    near_dup: NearDupConfig | None = field(default_factory=NearDupConfig)


def run_parser(prog: str = "feedflow run") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Read articles from files, folders, globs, feed URLs or OPML lists; clean, dedup, tag; "
        "commit them atomically to a Hive-partitioned Parquet dataset.",
        epilog="Anything after `--` is passed to Apache Beam as pipeline options (e.g. -- --runner=...).",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder, glob, http(s) feed URL or OPML")
    parser.add_argument(
        "--output", "-o", required=True, metavar="DIR",
        help="dataset folder (created if missing), or s3://bucket/prefix, gs://bucket/prefix",
    )  # fmt: skip
    parser.add_argument(
        "--skip",
        default="",
        metavar="STAGES",
        help="comma-separated stages to turn off: entities,topics,boilerplate,near-dups",
    )
    parser.add_argument(
        "--partition-by", default="date", choices=sorted(PARTITIONINGS), help="partition folders (default: date)"
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="SDK worker processes (default 1)")
    parser.add_argument(
        "--ner-model",
        default=NerConfig().model,
        metavar="MODEL",
        help="spaCy NER pipeline: feedflow's bundled news model (default: %(default)s), an installed package "
        f"(e.g. {ONTONOTES_NER_MODEL}, the OntoNotes model) or a pipeline folder; labels become PERSON, ORG, "
        "LOC, MISC",
    )
    parser.add_argument(
        "--ner-language", default=NerConfig().language, metavar="CODE", help="language of the NER model"
    )
    parser.add_argument(
        "--max-topics", type=int, default=TopicConfig().max_topics, metavar="N", help="topics kept per article"
    )
    parser.add_argument("--user-agent", default=None, help="User-Agent for HTTP fetches")
    parser.add_argument("--allow-private", action="store_true", help=ALLOW_PRIVATE_HELP)
    parser.add_argument(
        "--boilerplate-min-articles",
        type=int,
        default=BoilerplateConfig().min_articles,
        metavar="N",
        help="a paragraph in at least N articles of one source is boilerplate (default %(default)s)",
    )
    parser.add_argument(
        "--near-dup-threshold",
        type=float,
        default=NearDupConfig().threshold,
        metavar="J",
        help="estimated Jaccard similarity of word 5-grams that makes a near-duplicate, 0.5-1 (default %(default)s)",
    )
    return parser


def absolute_input(arg: str) -> str:
    """Local paths (and globs) made absolute at the edge: Beam workers may run in another directory
    (a worker pool, a remote runner). URLs and other schemes pass unchanged."""
    return arg if "://" in arg else os.path.abspath(arg)


def split_beam_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    args = list(argv)
    if "--" in args:
        cut = args.index("--")
        return args[:cut], args[cut + 1 :]
    return args, []


def parse_run_args(argv: Sequence[str]) -> RunOptions:
    """Parse and validate `feedflow run` arguments (raises UsageError with a one-line message)."""
    own, beam_args = split_beam_args(argv)
    ns = run_parser().parse_args(own)
    skip = {s.strip() for s in ns.skip.split(",") if s.strip()}
    unknown = skip - set(STAGES)
    if unknown:
        raise UsageError(f"--skip: unknown stage(s) {', '.join(sorted(unknown))}; choose from {', '.join(STAGES)}")
    if ns.workers < 1:
        raise UsageError("--workers must be at least 1")
    for arg in ns.inputs:
        problem = check_input_arg(arg)
        if problem:
            raise UsageError(problem)
    if ns.boilerplate_min_articles < 2:
        raise UsageError("--boilerplate-min-articles must be at least 2 (use --skip boilerplate to turn it off)")
    if not 0.5 <= ns.near_dup_threshold <= 1.0:
        raise UsageError("--near-dup-threshold must be between 0.5 and 1.0")
    read = ReadConfig()
    if ns.user_agent:
        read = replace(read, fetch=replace(read.fetch, user_agent=ns.user_agent))
    if ns.allow_private:
        read = replace(read, fetch=replace(read.fetch, allow_private=True))
    return RunOptions(
        inputs=tuple(absolute_input(arg) for arg in ns.inputs),
        output=absolute_input(ns.output),  # s3://, gs:// pass unchanged (feedflow.core.dataset)
        partition_by=PARTITIONINGS[ns.partition_by],
        workers=ns.workers,
        read=read,
        clean=CleanConfig(),
        ner=None if "entities" in skip else NerConfig(model=ns.ner_model, language=ns.ner_language),
        topics=None if "topics" in skip else TopicConfig(max_topics=ns.max_topics),
        beam_args=tuple(beam_args),
        boilerplate=None if "boilerplate" in skip else BoilerplateConfig(min_articles=ns.boilerplate_min_articles),
        near_dup=None if "near-dups" in skip else NearDupConfig(threshold=ns.near_dup_threshold),
    )


def beam_options(options: RunOptions) -> tuple[PipelineOptions, str]:
    """Pipeline options and the runner's name. Without ``--runner``, the in-process FnApiRunner is used
    (Beam's default DirectRunner would first try to download a Prism binary); ``--workers N`` > 1
    runs N SDK worker processes (``direct_running_mode=multi_processing``)."""
    pipeline_options = PipelineOptions(list(options.beam_args))
    runner = pipeline_options.view_as(StandardOptions).runner
    if options.workers > 1:
        direct = pipeline_options.view_as(DirectOptions)
        direct.direct_num_workers = options.workers
        direct.direct_running_mode = "multi_processing"
    runner = runner or "FnApiRunner"
    _LOG.info("Beam runner: %s", describe_runner(runner, options.workers, pipeline_options))
    return pipeline_options, runner


def describe_runner(runner: str, workers: int, pipeline_options: PipelineOptions) -> str:
    """One line saying which Beam runner executes the job and where its workers are."""
    if runner == "FnApiRunner":
        where = "SDK worker processes (multi_processing)" if workers > 1 else "SDK worker in this process"
        return f"FnApiRunner (in-process, {workers} {where})"
    portable = pipeline_options.view_as(PortableOptions)
    google = pipeline_options.view_as(GoogleCloudOptions)
    details = {
        "job_endpoint": portable.job_endpoint,
        "environment": portable.environment_type,
        "environment_config": portable.environment_config,
        "project": google.project,
        "region": google.region,
        "flink_master": pipeline_options.get_all_options().get("flink_master") if "Flink" in runner else None,
    }
    shown = ", ".join(f"{k}={v}" for k, v in details.items() if v)
    return f"{runner} ({shown})" if shown else runner


# ------------------------------------------------------------------------------------------ ingest

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """'90s', '15m', '2h', '1d' or plain seconds → seconds (UsageError otherwise)."""
    value = text.strip().lower()
    unit = value[-1:] if value[-1:] in _UNITS else "s"
    number = value[:-1] if value[-1:] in _UNITS else value
    try:
        seconds = float(number) * _UNITS[unit]
    except ValueError:
        raise UsageError(f"not a duration: {text!r} (use e.g. 30s, 15m, 2h, 1d)") from None
    if seconds <= 0:
        raise UsageError(f"duration must be positive: {text!r}")
    return int(seconds)


@dataclass(frozen=True, slots=True)
class IngestOptions:
    feed_lists: tuple[str, ...]
    output: str
    every: int
    once: bool
    max_ticks: int | None
    fetch_articles: bool
    ignore_schedule: bool
    per_host: int
    run: RunOptions
    streaming: bool = False  # `--streaming`: one Beam streaming pipeline (pipelines/stream.py)
    stop_after: int | None = None  # seconds; bounds a streaming run (with --max-ticks / --once)


def ingest_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="feedflow ingest",
        description="Poll feeds politely on a schedule and append new and revised articles to DIR, "
        "one atomic commit per tick.",
        epilog="Anything after `--` is passed to Apache Beam as pipeline options.",
    )
    parser.add_argument("--feeds", nargs="+", required=True, metavar="FILE", help="OPML or text list(s) of feeds")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="dataset folder")
    parser.add_argument("--every", default="15m", help="time between ticks (default 15m)")
    parser.add_argument("--once", action="store_true", help="run one tick and exit")
    parser.add_argument("--max-ticks", type=int, default=None, metavar="N", help="stop after N ticks")
    parser.add_argument(
        "--fetch-articles", action="store_true", help="fetch each new entry's page and extract its full text"
    )
    parser.add_argument(
        "--ignore-schedule", action="store_true", help="poll every feed now, whatever its next due time"
    )
    parser.add_argument("--per-host", type=int, default=2, metavar="N", help="concurrent requests per host")
    parser.add_argument("--contact", default=None, metavar="URL", help="contact URL sent in the User-Agent")
    parser.add_argument("--allow-private", action="store_true", help=ALLOW_PRIVATE_HELP)
    parser.add_argument("--skip", default="", metavar="STAGES", help="stages to turn off: entities,topics")
    parser.add_argument("--partition-by", default="date", choices=sorted(PARTITIONINGS))
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="SDK worker processes per tick")
    parser.add_argument("--ner-model", default=NerConfig().model, metavar="MODEL", help="as for `feedflow run`")
    parser.add_argument(
        "--streaming", action="store_true", help="one Beam streaming pipeline, one commit per --every window"
    )
    parser.add_argument(
        "--stop-after", default=None, metavar="DURATION", help="with --streaming: stop ticking after DURATION"
    )
    return parser


def parse_ingest_args(argv: Sequence[str]) -> IngestOptions:
    own, beam_args = split_beam_args(argv)
    ns = ingest_parser().parse_args(own)
    if "://" in ns.output:
        raise UsageError("ingest keeps its feed state (SQLite) and lock beside the data: --output must be a local "
                         "folder (object stores are for `feedflow run`)")  # fmt: skip
    if ns.per_host < 1:
        raise UsageError("--per-host must be at least 1")
    if ns.max_ticks is not None and ns.max_ticks < 1:
        raise UsageError("--max-ticks must be at least 1")
    if ns.stop_after is not None and not ns.streaming:
        raise UsageError("--stop-after bounds a streaming run: add --streaming (or use --max-ticks)")
    # Reuse `feedflow run`'s validation for the shared options (inputs are the feed lists themselves).
    shared = ["--output", ns.output, "--skip", ns.skip, "--partition-by", ns.partition_by,
              "--workers", str(ns.workers), "--ner-model", ns.ner_model]  # fmt: skip
    if ns.contact:
        shared += ["--user-agent", f"{DEFAULT_USER_AGENT.split(' ')[0]} (+{ns.contact})"]
    if ns.allow_private:
        shared.append("--allow-private")
    run = parse_run_args([*ns.feeds, *shared, "--", *beam_args])
    return IngestOptions(
        feed_lists=tuple(ns.feeds),
        output=ns.output,
        every=parse_duration(ns.every),
        once=ns.once,
        max_ticks=1 if ns.once else ns.max_ticks,
        fetch_articles=ns.fetch_articles,
        ignore_schedule=ns.ignore_schedule,
        per_host=ns.per_host,
        run=run,
        streaming=ns.streaming,
        stop_after=parse_duration(ns.stop_after) if ns.stop_after is not None else None,
    )
