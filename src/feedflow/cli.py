"""The `feedflow` command: `run` (batch job) and `query` (SQL over a dataset)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from feedflow.core.dataset import CommitError, DatasetError

USAGE = """usage: feedflow run INPUT... --output DIR [--skip entities,topics] [--partition-by date|date,source]
                    [--workers N] [-- BEAM_OPTIONS...]
       feedflow query DIR "SQL"

  run     read articles (files, folders, globs, feed URLs, OPML), clean, dedup, tag, commit to DIR
  query   run SQL with DuckDB over DIR's views: articles, paragraphs, entities, rejects

`feedflow run --help` for every option."""


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    for noisy in ("apache_beam", "absl", "trafilatura", "htmldate", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # Beam's BigQuery client stubs warn on import that GCP libraries are absent: irrelevant here.
    logging.getLogger().addFilter(lambda record: "apitools not found" not in record.getMessage())


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

    if not Path(ns.dataset).is_dir():
        return _error(f"no dataset at {ns.dataset}")
    try:
        columns, rows = run_query(ns.dataset, ns.sql)
    except duckdb.Error as err:
        return _error(str(err).splitlines()[0], 1)
    print(format_table(columns, rows))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    _setup_logging()
    if command == "run":
        from feedflow.options import UsageError
        from feedflow.runs import AccountingError

        # pipelines/ is installed as feedflow.pipelines (see pyproject.toml); imported by name because
        # type checkers see it as the top-level folder `pipelines`.
        batch = importlib.import_module("feedflow.pipelines.batch")
        try:
            status: int = batch.run(rest)
            return status
        except (CommitError, AccountingError) as err:
            return _error(f"run failed, dataset unchanged: {err}", 1)
        except (UsageError, DatasetError) as err:
            return _error(str(err))
        except KeyboardInterrupt:
            return _error("interrupted; the dataset is unchanged", 130)
    if command == "query":
        return query_main(rest)
    return _error(f"unknown command {command!r}\n{USAGE}")


if __name__ == "__main__":
    sys.exit(main())
