"""Property/fuzz tests (issue 7): every reader (feed bytes, JSON, HTML, text, OPML), the cleaner, the
dedup key, the URL canonicaliser and the partition-path builder, with hypothesis.

The targets and input strategies live in benchmarks/fuzz.py, which `make fuzz` runs for a long
campaign; here each gets a fast budget (``FUZZ_EXAMPLES``, default 100). Byte inputs are mutations of
the shared corpora (feedparser-tests, news-feeds) when they are present, else hypothesis' own bytes.
A target fails when an exception escapes (other than a reject), a reject is ``internal_error``, or a
record goes unaccounted for. Regression inputs found by the campaign are pinned below.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from conftest import eval_data_dir

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # benchmarks/ holds the shared harness
fuzz = importlib.import_module("benchmarks.fuzz")

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
SEEDS: list[bytes] = fuzz.seed_files(eval_data_dir() if eval_data_dir().is_dir() else None)
FAST = settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def make_test(target: str) -> Any:
    @FAST
    @given(fuzz.strategy(target, SEEDS))
    def test(value: Any) -> None:
        assert fuzz.run_target(target, value) >= 1

    test.__name__ = f"test_fuzz_{target}"
    return test


for _target in fuzz.TARGETS:
    globals()[f"test_fuzz_{_target}"] = make_test(_target)


def test_the_targets_can_fail() -> None:
    """A broken contract is caught: an escaped exception is not swallowed, internal_error is refused."""
    from feedflow.model import Rejection

    with pytest.raises(AssertionError, match=r"internal_error|exception escaped"):
        fuzz.check_records([Rejection(input="x", locator="", reason="internal_error", detail="boom")])
    with pytest.raises(AssertionError):
        fuzz.check_records([])
    with pytest.raises(AssertionError):
        fuzz.check_records([object()])


# ---------------------------------------------------------------- regressions found by `make fuzz`

REGRESSIONS = [
    # expand_input raised LookupError on an OPML declaring an unknown encoding (feedparser-tests seed)
    pytest.param("opml", b'<?xml version="1.0" encoding="bogus"?>\n<opml><body/></opml>', id="opml-bogus-encoding"),
]


@pytest.mark.parametrize(("target", "value"), REGRESSIONS)
def test_fuzz_regression(target: str, value: Any) -> None:
    assert fuzz.run_target(target, value) >= 1


def test_canonical_url_of_an_ipv6_host_is_itself_canonical() -> None:
    from feedflow.core.identity import canonical_url

    canonical = canonical_url("http://[::1]/a")
    assert canonical is not None and canonical_url(canonical) == canonical


def test_a_cut_partition_value_is_still_valid_utf8() -> None:
    from urllib.parse import unquote_to_bytes

    from feedflow.core.dataset import safe_partition_value

    unquote_to_bytes(safe_partition_value("Ж" * 100)).decode("utf-8")


def test_canonical_url_never_returns_a_url_without_host() -> None:
    from feedflow.core.identity import canonical_url

    assert canonical_url("http://example.com@.") is None
