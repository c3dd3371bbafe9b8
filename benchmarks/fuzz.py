"""Fuzz targets for every reader and the pure core steps, and a long hypothesis campaign over them.

    python benchmarks/fuzz.py [--minutes 15] [--targets feed,json,...] [--data ../shared/data]

Each target takes one input and checks feedflow's contract on it: no exception escapes except the
documented reject path (a ``Rejection`` with a snake_case reason, never ``internal_error``), and every
input record is accounted for (one record per JSON line, one per text file, an item per OPML outline
or one reject…). A target raising anything is a finding.

The campaign runs hypothesis (``database=None``, no deadline) in rounds of ``--examples`` examples
per target, each round with a new seed, until the time budget is spent. Inputs are mutations of real
files — ``feedparser-tests`` and ``news-feeds`` from the shared data (FEEDFLOW_EVAL_DATA, default
../shared/data): byte flips, insertions of hostile tokens (entities, DOCTYPEs, NULs, bidi
characters, deep nesting, huge numbers), deletions, truncations, splices of two files — plus
hypothesis' own text and JSON values. It prints executions and findings per target; every finding
becomes a regression test in tests/test_fuzz.py. No network: fetches inside readers (an OPML's
feeds) are answered by a stub with a reject.

tests/test_fuzz.py runs the same targets with a small budget (about 100 examples each) in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import time
import traceback
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, unquote_to_bytes

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import feedflow.core.readers as readers
from feedflow.config import CleanConfig, ReadConfig
from feedflow.core.clean import clean_paragraphs
from feedflow.core.dataset import partition_path, safe_partition_value
from feedflow.core.dedup import dedup_paragraphs, key_hash, normalize_for_dedup
from feedflow.core.fetch import FetchResult
from feedflow.core.html import extract_page, html_to_paragraphs
from feedflow.core.identity import canonical_url
from feedflow.model import InputRef, RawArticle, Rejection

REPO = Path(__file__).resolve().parents[1]
CONFIG = ReadConfig(max_bytes=2 * 1024 * 1024)
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")
#: Characters the cleaner promises to remove (controls, bidi controls, zero-width, BOM, surrogates).
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})
FORBIDDEN_CHARS = frozenset("\u200b\u200c\u200d\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


# -------------------------------------------------------------------------------------------- checks


def check_records(records: list[Any]) -> int:
    """The reader contract on one input's records; returns how many."""
    assert records, "an input produced no record at all"
    for record in records:
        assert isinstance(record, RawArticle | Rejection), type(record)
        if isinstance(record, Rejection):
            assert SNAKE.match(record.reason), record.reason
            assert record.reason != "internal_error", f"exception escaped a reader: {record.detail}"
    return len(records)


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Readers that would fetch (feeds listed in an OPML) get a reject instead: fuzzing stays offline."""

    def refuse(url: str, *args: Any, **kwargs: Any) -> Rejection:
        return Rejection(input=url, locator="", reason="url_unreachable", detail="fuzzing: no network")

    real = readers.fetch_url
    readers.fetch_url = refuse  # type: ignore[assignment]  # a stub with fetch_url's contract (a Rejection)
    try:
        yield
    finally:
        readers.fetch_url = real


def _fetched(name: str, body: bytes, content_type: str) -> list[Any]:
    url = f"http://fuzz.invalid/{name}"
    result = FetchResult(url=url, final_url=url, status=200, headers=(("content-type", content_type),), body=body)
    with no_network():
        return list(readers.read_fetched(url, result, CONFIG))


def _local(name: str, body: bytes) -> list[Any]:
    with tempfile.TemporaryDirectory(prefix="feedflow-fuzz-") as folder:
        path = Path(folder) / name
        path.write_bytes(body)
        with no_network():
            return list(readers.read_input(InputRef(str(path)), CONFIG))


# ------------------------------------------------------------------------------------------- targets


def target_feed(data: bytes) -> int:
    """Feed bytes, as served over HTTP and as a local .xml file."""
    count = check_records(_fetched("feed.xml", data, "application/rss+xml"))
    return count + check_records(_local("feed.xml", data))


def target_json(data: bytes) -> int:
    """JSON / JSON Lines: one record per non-blank line of a valid-UTF-8 .jsonl file."""
    records = _local("items.jsonl", data)
    check_records(records)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return len(records)
    lines = [line for line in text.lstrip("\ufeff").split("\n") if line.strip()]  # JSON Lines: \n only
    if lines and "\x00" not in text and len(records) > 1:
        assert len(records) == len(lines), (len(records), len(lines))
    return len(records) + check_records(_local("items.json", data))


def target_html(data: bytes) -> int:
    """HTML pages (trafilatura) and HTML fragments (feed content)."""
    page = extract_page(data, "https://example.com/a")
    if page is not None:
        assert all(isinstance(p, str) and p for p in page.paragraphs)
    paragraphs = html_to_paragraphs(data.decode("utf-8", "replace"))
    assert all(isinstance(p, str) for p in paragraphs)
    return check_records(_local("page.html", data))


def target_text(data: bytes) -> int:
    """A text file is one record: an article or a reject."""
    records = _local("note.txt", data)
    check_records(records)
    assert len(records) == 1, records
    return 1


def target_opml(data: bytes) -> int:
    """An OPML list: every outline with a feed URL is a ref or a reject; never an exception."""
    with tempfile.TemporaryDirectory(prefix="feedflow-fuzz-") as folder:
        path = Path(folder) / "list.opml"
        path.write_bytes(data)
        items = list(readers.expand_input(str(path), CONFIG))
    assert items and all(isinstance(i, InputRef | Rejection) for i in items)
    for item in items:
        if isinstance(item, InputRef) and item.is_url:
            assert item.location.lower().startswith(("http://", "https://")), item.location
    return len(items) + check_records(_fetched("list.opml", data, "text/x-opml"))


def target_clean(text: str) -> int:
    """The cleaner: strings out, none empty, none with controls, bidi or zero-width characters."""
    out = clean_paragraphs([text, text.upper(), text[: len(text) // 2]], CleanConfig())
    for paragraph in out:
        assert paragraph and paragraph == paragraph.strip(), repr(paragraph)
        bad = [c for c in paragraph if unicodedata.category(c) in FORBIDDEN_CATEGORIES or c in FORBIDDEN_CHARS]
        assert not bad, (bad, paragraph)
        paragraph.encode("utf-8")  # what Arrow needs: no lone surrogate survives
    return 3  # inputs accounted for (cleaning may rightly keep none of them)


def target_dedup(text: str) -> int:
    """The dedup key: stable, idempotent normalisation, 64-bit, one Paragraph per input paragraph."""
    texts = [text, text, text.upper(), text + " ", ""]
    paragraphs = dedup_paragraphs(texts)
    assert [p.position for p in paragraphs] == list(range(len(texts)))
    assert paragraphs[1].duplicate_of == 0
    for p in paragraphs:
        assert -(2**63) <= p.key_hash < 2**63
        assert p.duplicate_of is None or p.duplicate_of < p.position
    key = normalize_for_dedup(text)
    assert normalize_for_dedup(key) == key
    assert key_hash(text) == key_hash(text)
    return len(paragraphs)


def target_url(url: str) -> int:
    """The URL canonicaliser: None or an http(s) URL, and canonical of canonical is itself."""
    canonical = canonical_url(url)
    if canonical is None:
        return 1
    assert canonical.startswith(("http://", "https://")), canonical
    assert canonical.split("/", 3)[2], (url, canonical)  # never a URL without a host
    assert canonical_url(canonical) == canonical, (url, canonical)
    return 1


def target_partition(value: str) -> int:
    """The partition-path builder: one safe folder name, decoding back to the value when not cut."""
    encoded = safe_partition_value(value)
    assert encoded and encoded not in (".", "..") and not encoded.startswith(".")
    assert len(encoded) <= 120 and encoded.isascii() and encoded.isprintable()
    assert "/" not in encoded and "\\" not in encoded and "\x00" not in encoded
    if not any("\ud800" <= c <= "\udfff" for c in value):  # lone surrogates are no UTF-8 to begin with
        unquote_to_bytes(encoded).decode("utf-8")  # what Hive readers decode: valid UTF-8, even when cut
    if value and len(quote(value.encode("utf-8", "surrogatepass"), safe="")) <= 120:  # not cut: exact
        assert unquote(encoded, errors="surrogatepass") == value, (value, encoded)
    path = partition_path(date(2024, 1, 2), value, ("date", "source"))
    assert path.split("/") == ["date=2024-01-02", f"source={encoded}"], path
    return 1


BYTES_TARGETS: dict[str, Callable[[bytes], int]] = {
    "feed": target_feed,
    "json": target_json,
    "html": target_html,
    "text": target_text,
    "opml": target_opml,
}
TEXT_TARGETS: dict[str, Callable[[str], int]] = {
    "clean": target_clean,
    "dedup": target_dedup,
    "url": target_url,
    "partition": target_partition,
}
TARGETS = [*BYTES_TARGETS, *TEXT_TARGETS]


# ----------------------------------------------------------------------------------------- strategies

HOSTILE_TOKENS = [
    b"\x00", b"\xff\xfe", b"\xef\xbb\xbf", b"\xed\xa0\x80", b"&amp;", b"&#0;", b"&#xD800;", b"&#99999999;",
    b"<!DOCTYPE x [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;\">]>", b"&b;",
    b"<!ENTITY x SYSTEM \"file:///etc/passwd\">", b"<![CDATA[", b"]]>", b"<!--", b"-->", b"<?xml ", b"?>",
    b"<item>", b"</item>", b"<entry>", b"<outline xmlUrl=\"", b"\">", b"<div>" * 50, b"</div>", b"<script>",
    "\u202e".encode(), "\u200b".encode(), b"\r\n", b"\t", b"{", b"}", b"[", b"]", b"\"", b"\\u0000", b"\\ud800",
    b"1e999999", b"-0", b"99999999999999999999999999", b"<![CDATA[", b"encoding=\"utf-16\"", b"encoding=\"x\"",
    b"<rss version=\"2.0\">", b"<feed xmlns=\"http://www.w3.org/2005/Atom\">", b"<opml version=\"2.0\"><body>",
    b"javascript:alert(1)", b"file:///etc/passwd", b"http://127.0.0.1/", b"<html><body><p>", b"<p>", b"</p>",
]  # fmt: skip


def seed_files(data_dir: Path | None) -> list[bytes]:
    """Real files to mutate: feedparser's test corpus and the news feeds (at most 64 KiB each)."""
    if data_dir is None:
        return []
    seeds: list[bytes] = []
    for folder in ("feedparser-tests", "news-feeds"):
        root = data_dir / folder
        if root.is_dir():
            for path in sorted(root.rglob("*")):
                if path.is_file() and path.suffix.lower() not in (".txt", ".md", ".py") and path.stat().st_size:
                    seeds.append(path.read_bytes()[: 64 * 1024])
    return seeds


def _mutate(data: bytes, ops: list[tuple[int, int, int]], other: bytes) -> bytes:
    buffer = bytearray(data)
    for kind, position, value in ops:
        at = position % (len(buffer) + 1)
        if kind == 0 and buffer:  # flip a byte
            buffer[at % len(buffer)] ^= 1 << (value % 8)
        elif kind == 1:  # insert a hostile token
            buffer[at:at] = HOSTILE_TOKENS[value % len(HOSTILE_TOKENS)]
        elif kind == 2:  # delete a run
            del buffer[at : at + 1 + value % 64]
        elif kind == 3:  # truncate
            del buffer[at:]
        elif kind == 4 and other:  # splice another file in
            start = value % len(other)
            buffer[at:at] = other[start : start + 1 + value % 512]
        elif kind == 5:  # repeat a run (quadratic growth, deep nesting)
            run = bytes(buffer[at : at + 1 + value % 32])
            buffer[at:at] = run * (1 + value % 64)
    return bytes(buffer)


def byte_inputs(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    ops = st.lists(st.tuples(st.integers(0, 5), st.integers(0, 1 << 20), st.integers(0, 1 << 16)), max_size=12)
    raw = st.one_of(st.binary(max_size=2048), st.text(max_size=1024).map(lambda t: t.encode("utf-8", "surrogatepass")))
    if not seeds:
        return st.one_of(raw, st.tuples(raw, ops, raw).map(lambda t: _mutate(t[0], t[1], t[2])))
    seed = st.sampled_from(seeds)
    mutated = st.tuples(seed, ops, seed).map(lambda t: _mutate(t[0], t[1], t[2]))
    return st.one_of(mutated, mutated, raw)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=True) | st.integers() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=20,
)


def json_lines() -> st.SearchStrategy[bytes]:
    import json

    article = st.fixed_dictionaries(
        {}, optional={"url": st.text(max_size=40), "title": st.text(max_size=40), "text": st.text(max_size=200),
                      "html": st.text(max_size=200), "source": st.text(max_size=40), "published": st.text(max_size=30),
                      "authors": json_values},
    )  # fmt: skip
    line = st.one_of(article, json_values).map(lambda v: json.dumps(v, ensure_ascii=False))
    raw_line = st.text(max_size=60).filter(lambda t: "\n" not in t and "\r" not in t)
    lines = st.lists(st.one_of(line, line, raw_line), min_size=1, max_size=8)
    return lines.map(lambda ls: "\n".join(ls).encode("utf-8", "surrogatepass"))


def text_inputs(target: str) -> st.SearchStrategy[str]:
    if target == "url":
        parts = st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "//", "", "http://[::1]", "http:///"])
        host = st.sampled_from(["example.com", "WWW.Example.COM.", "xn--e1afmkfd.xn--p1ai", "ex ample", "a:99999", ""])
        url = st.tuples(parts, host, st.text(max_size=40)).map("".join)
        return st.one_of(url, st.text(max_size=80))
    alphabet = st.characters(codec=None, exclude_categories=())
    return st.text(alphabet=alphabet, max_size=400)


def strategy(target: str, seeds: list[bytes]) -> st.SearchStrategy[Any]:
    if target == "json":
        return st.one_of(json_lines(), byte_inputs(seeds))
    if target in BYTES_TARGETS:
        return byte_inputs(seeds)
    return text_inputs(target)


def run_target(target: str, value: Any) -> int:
    if target in BYTES_TARGETS:
        return BYTES_TARGETS[target](value)
    return TEXT_TARGETS[target](value)


# ------------------------------------------------------------------------------------------ campaign


def campaign_round(target: str, seeds: list[bytes], examples: int, seed: int, stats: Counter[str]) -> str | None:
    """One hypothesis round; returns the finding (shrunk input and traceback) or None."""

    @hypothesis_seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), print_blob=False)  # fmt: skip
    @given(strategy(target, seeds))
    def round_(value: Any) -> None:
        stats[target] += 1
        run_target(target, value)

    try:
        round_()
    except Exception:  # noqa: BLE001 - a finding: report it and go on fuzzing
        return traceback.format_exc(limit=-8)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=15.0, help="total time budget (default 15)")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"comma-separated, of {','.join(TARGETS)}")
    parser.add_argument("--examples", type=int, default=300, help="examples per hypothesis round")
    parser.add_argument("--data", default=os.environ.get("FEEDFLOW_EVAL_DATA") or str(REPO.parent / "shared" / "data"))
    ns = parser.parse_args(argv)
    targets = [t for t in ns.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target(s): {', '.join(sorted(unknown))}")
    data_dir = Path(ns.data) if Path(ns.data).is_dir() else None
    seeds = seed_files(data_dir)
    print(f"seeds: {len(seeds)} files from {data_dir or '(none: shared data absent)'}", flush=True)
    stats: Counter[str] = Counter()
    findings: dict[str, list[str]] = {t: [] for t in targets}
    seconds: Counter[str] = Counter()
    deadline = time.monotonic() + ns.minutes * 60
    budget_each = ns.minutes * 60 / len(targets)
    round_number = 0
    while time.monotonic() < deadline:
        for target in targets:
            if seconds[target] >= budget_each or time.monotonic() >= deadline:
                continue
            started = time.monotonic()
            finding = campaign_round(target, seeds, ns.examples, round_number * 7919 + len(target), stats)
            seconds[target] += time.monotonic() - started
            if finding is not None:
                findings[target].append(finding)
                print(f"FINDING in {target} (round {round_number}):\n{finding}", flush=True)
        round_number += 1
        if all(seconds[t] >= budget_each for t in targets):
            break
    print(f"\n{'target':<10} {'executions':>10} {'seconds':>8} {'exec/s':>7} {'findings':>8}")
    for target in targets:
        rate = stats[target] / seconds[target] if seconds[target] else 0.0
        print(f"{target:<10} {stats[target]:>10} {seconds[target]:>8.0f} {rate:>7.1f} {len(findings[target]):>8}")
    total = sum(len(f) for f in findings.values())
    print(f"total: {sum(stats.values())} executions, {total} finding(s)")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
