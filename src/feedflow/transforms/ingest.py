"""Beam wrappers of the ingester: poll due feeds (per-host politeness) and keep their new states.

PollFeeds   FeedStates → (raw articles, rejects, poll results)
            Feeds are grouped by host; one worker polls a host's feeds with at most ``per_host``
            requests in flight, so no host sees more than that from a tick.
SaveSidecar a small PCollection → one JSON file in the run's staging folder (read before commit)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection

from feedflow.config import CleanConfig, ReadConfig
from feedflow.core.enrich import PageFetcher
from feedflow.core.poll import PollConfig, PollResult, poll_feed
from feedflow.core.state import FeedState, state_to_json
from feedflow.model import Article, Rejection
from feedflow.transforms.base import NAMESPACE, REJECTS

POLLS = "polls"


def host_of(state: FeedState) -> str:
    return (urlsplit(state.fetch_url).hostname or "").lower() or "(local files)"


class PollHostFn(beam.DoFn):
    """Polls one host's due feeds; emits raw articles, rejects (tagged) and poll results (tagged)."""

    def __init__(self, config: PollConfig, per_host: int) -> None:
        self._config = config
        self._per_host = per_host

    def process(self, element: tuple[str, Iterable[FeedState]]) -> Iterator[Any]:
        _host, states = element
        ordered = sorted(states, key=lambda s: s.url)
        with ThreadPoolExecutor(max_workers=self._per_host) as pool:
            results: list[PollResult] = list(pool.map(lambda s: poll_feed(s, self._config), ordered))
        for result in results:
            Metrics.counter(NAMESPACE, f"PollFeeds.{result.outcome}").inc()
            yield pvalue.TaggedOutput(POLLS, (result.outcome, state_to_json(result.state)))
            for record in result.records:
                if isinstance(record, Rejection):
                    Metrics.counter(NAMESPACE, f"PollFeeds.rejected.{record.reason}").inc()
                    yield pvalue.TaggedOutput(REJECTS, record)
                else:
                    yield record


class PollFeeds(beam.PTransform[PCollection[Any], Any]):
    def __init__(self, config: PollConfig, per_host: int) -> None:
        super().__init__()
        self._config = config
        self._per_host = per_host

    def expand(self, states: PCollection[Any]) -> tuple[PCollection[Any], PCollection[Any], PCollection[Any]]:
        results = (
            states
            | "KeyByHost" >> beam.Map(lambda s: (host_of(s), s))
            | "GroupByHost" >> beam.GroupByKey()
            | "PollHosts"
            >> beam.ParDo(PollHostFn(self._config, self._per_host)).with_outputs(REJECTS, POLLS, main="raw")
        )
        return results["raw"], results[REJECTS], results[POLLS]


class FetchPagesFn(beam.DoFn):
    """Fetches one host's new articles' pages, at most ``per_host`` at a time (PageFetcher per worker)."""

    def __init__(self, read: ReadConfig, clean: CleanConfig, per_host: int) -> None:
        self._read = read
        self._clean = clean
        self._per_host = per_host
        self._fetcher: PageFetcher | None = None

    def setup(self) -> None:
        self._fetcher = PageFetcher(self._read, self._clean)

    def process(self, element: tuple[str, Iterable[Article]]) -> Iterator[Article]:
        assert self._fetcher is not None
        fetcher = self._fetcher
        ordered = sorted(element[1], key=lambda a: a.article_id)
        with ThreadPoolExecutor(max_workers=self._per_host) as pool:
            for article in pool.map(fetcher, ordered):
                if article.page_status is not None:
                    Metrics.counter(NAMESPACE, f"FetchPages.{article.page_status}").inc()
                yield article


class FetchPages(beam.PTransform[PCollection[Any], Any]):
    def __init__(self, read: ReadConfig, clean: CleanConfig, per_host: int) -> None:
        super().__init__()
        self._fn = FetchPagesFn(read, clean, per_host)

    def expand(self, articles: PCollection[Any]) -> PCollection[Any]:
        fetched: PCollection[Any] = (
            articles
            | "KeyByPageHost" >> beam.Map(lambda a: ((urlsplit(a.url or "").hostname or "").lower(), a))
            | "GroupByPageHost" >> beam.GroupByKey()
            | "FetchPages" >> beam.ParDo(self._fn)
        )
        return fetched


def _write_json(_: Any, path: str, items: list[Any]) -> int:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(sorted(items, key=json.dumps), ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(target)
    return len(items)


class SaveSidecar(beam.PTransform[PCollection[Any], Any]):
    """Write a (small) PCollection of JSON-able items to ``path`` after everything upstream finished."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._path = path

    def expand(self, items: PCollection[Any]) -> PCollection[Any]:
        written: PCollection[Any] = (
            items.pipeline
            | "SidecarTrigger" >> beam.Create([None])
            | "WriteSidecar" >> beam.Map(_write_json, path=self._path, items=beam.pvalue.AsList(items))
        )
        return written
