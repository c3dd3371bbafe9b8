"""The edge: command-line arguments → frozen config objects and Beam pipeline options.

Everything a run needs is decided here, once, and validated with one-line errors (UsageError);
deeper layers receive plain, picklable config values.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, StandardOptions

from feedflow.config import CleanConfig, NerConfig, ReadConfig, TopicConfig
from feedflow.core.readers import check_input_arg

STAGES = ("entities", "topics")
PARTITIONINGS = {"date": ("date",), "date,source": ("date", "source")}


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


def run_parser(prog: str = "feedflow run") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Read articles from files, folders, globs, feed URLs or OPML lists; clean, dedup, tag; "
        "commit them atomically to a Hive-partitioned Parquet dataset.",
        epilog="Anything after `--` is passed to Apache Beam as pipeline options (e.g. -- --runner=...).",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="file, folder, glob, http(s) feed URL or OPML")
    parser.add_argument("--output", "-o", required=True, metavar="DIR", help="dataset folder (created if missing)")
    parser.add_argument(
        "--skip", default="", metavar="STAGES", help="comma-separated stages to turn off: entities,topics"
    )
    parser.add_argument(
        "--partition-by", default="date", choices=sorted(PARTITIONINGS), help="partition folders (default: date)"
    )
    parser.add_argument("--workers", type=int, default=1, metavar="N", help="SDK worker processes (default 1)")
    parser.add_argument(
        "--ner-model",
        default=NerConfig().model,
        metavar="PACKAGE",
        help="installed spaCy pipeline package (default: %(default)s; e.g. en_core_web_sm, en_core_web_trf)",
    )
    parser.add_argument(
        "--ner-language", default=NerConfig().language, metavar="CODE", help="language of the NER model"
    )
    parser.add_argument(
        "--max-topics", type=int, default=TopicConfig().max_topics, metavar="N", help="topics kept per article"
    )
    parser.add_argument("--user-agent", default=None, help="User-Agent for HTTP fetches")
    return parser


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
    read = ReadConfig()
    if ns.user_agent:
        read = replace(read, fetch=replace(read.fetch, user_agent=ns.user_agent))
    return RunOptions(
        inputs=tuple(ns.inputs),
        output=ns.output,
        partition_by=PARTITIONINGS[ns.partition_by],
        workers=ns.workers,
        read=read,
        clean=CleanConfig(),
        ner=None if "entities" in skip else NerConfig(model=ns.ner_model, language=ns.ner_language),
        topics=None if "topics" in skip else TopicConfig(max_topics=ns.max_topics),
        beam_args=tuple(beam_args),
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
    return pipeline_options, runner or "FnApiRunner"
