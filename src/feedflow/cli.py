"""The `feedflow` command: `run` (batch job), `ingest` (scheduled feeds), `feeds`, `query`, `report`."""

from __future__ import annotations

import argparse
import errno
import importlib
import logging
import os
import re
import sys
from collections.abc import Sequence

#: Arrow's choice of allocator, read once when pyarrow is imported: :func:`main` sets it first.
ARROW_POOL_ENV = "ARROW_DEFAULT_MEMORY_POOL"

USAGE = """usage: feedflow run INPUT... --output DIR [--skip entities,topics] [--partition-by date|date,source]
                    [--workers N] [--allow-private] [-- BEAM_OPTIONS...]
       feedflow ingest --feeds FILE... --output DIR [--every 15m] [--once] [--max-ticks N]
                       [--fetch-articles] [--allow-private] [--streaming [--stop-after DURATION]]
                       [-- BEAM_OPTIONS...]
       feedflow feeds DIR
       feedflow check DIR
       feedflow query DIR "SQL"
       feedflow report DIR [--out report.html] [--since DATE] [--until DATE] [--source DOMAIN...]
       feedflow eval ner|topics|extract FILE... [--json] [--limit N]   (`feedflow eval --help`)

  run     read articles (files, folders, globs, feed URLs, OPML), clean, dedup, tag, commit to DIR
  ingest  poll feeds on a schedule (conditional GET, backoff) and append to DIR, one commit per tick
  feeds   list the ingester's per-feed state in DIR
  check   list DIR's problems: unreadable files, schema mismatches, orphan staging, duplicate ids
  query   run SQL with DuckDB over DIR's views: articles, paragraphs, entities, rejects
  report  write one self-contained, offline HTML report of DIR (charts, entities, topics, dedup, feeds)
  eval    measure entity, topic and main-text quality on labelled data (CoNLL, AG News, MasakhaNEWS…)

`feedflow run --help`, `feedflow ingest --help` for every option."""


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    for noisy in ("apache_beam", "absl", "trafilatura", "htmldate", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Beam's BigQuery client stubs warn on import that GCP libraries are absent: irrelevant here.
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())


#: Write failures of the output folder that a run reports in one line (disk full, quota, file size
#: limit, read-only file system, permissions) instead of a traceback.
_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM})


def storage_problem(error: BaseException) -> str | None:
    """What went wrong writing, when ``error`` is (or wraps: Beam re-raises worker errors as
    RuntimeError) an OSError of :data:`_STORAGE_ERRNOS`; None otherwise."""
    from feedflow.core.fetch import causes

    for current in causes(error):
        if isinstance(current, OSError) and current.errno in _STORAGE_ERRNOS:
            return os.strerror(current.errno) + (f": {current.filename}" if current.filename else "")
    match = re.search(r"\[Errno (\d+)\]", str(error))
    if match and int(match.group(1)) in _STORAGE_ERRNOS:
        return os.strerror(int(match.group(1)))
    return None


def _error(message: str, status: int = 2) -> int:
    print(f"feedflow: error: {message}", file=sys.stderr)
    return status


def query_main(argv: Sequence[str]) -> int:
    import duckdb

    from feedflow.query import format_table, run_query

    parser = argparse.ArgumentParser(prog="feedflow query", description="SQL over a feedflow dataset (DuckDB).")
    parser.add_argument("dataset", metavar="DIR")
    parser.add_argument("sql", metavar="SQL")
    ns = parser.parse_args(argv)
    from pathlib import Path

    if "://" not in ns.dataset and not Path(ns.dataset).is_dir():  # s3://, gs://: manifests are listed there
        return _error(f"no dataset at {ns.dataset}")
    try:
        columns, rows = run_query(ns.dataset, ns.sql)
    except duckdb.Error as err:
        return _error(str(err).splitlines()[0], 1)
    print(format_table(columns, rows))
    return 0


def check_main(argv: Sequence[str]) -> int:
    from pathlib import Path

    from feedflow.core.check import check_dataset

    parser = argparse.ArgumentParser(prog="feedflow check", description="List a dataset's problems (read-only).")
    parser.add_argument("dataset", metavar="DIR")
    ns = parser.parse_args(argv)
    if not Path(ns.dataset).is_dir():
        return _error(f"no dataset at {ns.dataset}")
    problems, files = check_dataset(ns.dataset)
    if not problems:
        print(f"{ns.dataset}: no problems in {files} committed file(s)")
        return 0
    for problem in problems:  # one line each, never cut: paths are what the user acts on
        print(f"{problem.kind}  {problem.path}  {problem.detail}")
    print(f"{len(problems)} problem(s) in {ns.dataset} ({files} committed file(s) looked at)")
    return 1


def feeds_main(argv: Sequence[str]) -> int:
    from pathlib import Path

    from feedflow.core.state import StateStore
    from feedflow.query import format_table

    parser = argparse.ArgumentParser(prog="feedflow feeds", description="The ingester's per-feed state.")
    parser.add_argument("dataset", metavar="DIR")
    parser.add_argument("--all", action="store_true", help="include feeds no longer in any feed list")
    ns = parser.parse_args(argv)
    store = StateStore(ns.dataset)
    if not Path(store.path).is_file():
        return _error(f"no ingest state in {ns.dataset} (run `feedflow ingest` first)")

    def when(value: object) -> str | None:
        return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else None

    rows = [
        (s.url, s.last_status, s.last_http_status, s.consecutive_failures, when(s.last_success_at),
         when(s.next_due_at), s.interval_seconds, s.entries_seen, s.fetch_url if s.fetch_url != s.url else "")
        for s in store.load()
        if s.active or ns.all
    ]  # fmt: skip
    columns = ["feed", "status", "http", "failures", "last_success", "next_due", "interval_s", "entries", "moved_to"]
    print(format_table(columns, rows, max_width=70))
    return 0


def use_system_allocator_for_arrow() -> None:
    """Makes pyarrow, in this process and the worker processes it starts, allocate with the C
    library's malloc, unless ``ARROW_DEFAULT_MEMORY_POOL`` already says otherwise. Effective only
    before pyarrow is first imported (the CLI imports it later, where a command needs it).

    pyarrow's default here is mimalloc, which kept what the Parquet writers freed (Arrow tables of
    buffered rows, encoded and compressed pages): the write stage of a ``--skip entities,topics`` run
    grew by 68 MiB at 5,000 articles and by 108-118 MiB at 50,000; with the system allocator by 34 and
    49 (README, "Sixth round")."""
    os.environ.setdefault(ARROW_POOL_ENV, "system")


def main(argv: Sequence[str] | None = None) -> int:
    use_system_allocator_for_arrow()
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    _setup_logging()
    if command in ("run", "ingest"):
        from feedflow.core.dataset import CommitError, DatasetError
        from feedflow.options import UsageError
        from feedflow.runs import AccountingError

        # pipelines/ is installed as feedflow.pipelines (see pyproject.toml); imported by name because
        # type checkers see it as the top-level folder `pipelines`.
        module = "batch" if command == "run" else "ingest"
        if command == "ingest" and "--streaming" in rest[: rest.index("--") if "--" in rest else len(rest)]:
            module = "stream"  # the same transforms as one Beam streaming pipeline
        job = importlib.import_module(f"feedflow.pipelines.{module}")
        try:
            status: int = job.run(rest)
            return status
        except (CommitError, AccountingError) as err:
            return _error(f"run failed, dataset unchanged: {err}", 1)
        except (UsageError, DatasetError) as err:
            return _error(str(err))
        except Exception as err:
            problem = storage_problem(err)
            if problem is None:
                raise
            return _error(f"run failed, cannot write to the output folder ({problem}); the dataset keeps its "
                          "last committed state (an interrupted commit is completed by the next run)", 1)  # fmt: skip
        except KeyboardInterrupt:
            return _error("interrupted; the dataset is unchanged", 130)
    if command == "query":
        return query_main(rest)
    if command == "feeds":
        return feeds_main(rest)
    if command == "check":
        return check_main(rest)
    if command == "eval":
        from feedflow.evaluate import eval_main

        return eval_main(rest)
    if command == "report":
        from feedflow.report import report_main

        return report_main(rest)
    return _error(f"unknown command {command!r}\n{USAGE}")


if __name__ == "__main__":
    sys.exit(main())
