"""The accounting check that stands between a run and its commit."""

from __future__ import annotations

from pathlib import Path

import pytest

from feedflow.core.dataset import read_stats
from feedflow.runs import AccountingError, check_accounting, rejects_by_reason
from feedflow.transforms.stages import _finalize

BALANCED = {"records_in": 10, "rows_articles": 6, "rejected.bad_json": 2, "rejected.empty_body": 1,
            "rows_rejects": 3, "skipped_existing": 1}  # fmt: skip


def test_a_balanced_run_passes() -> None:
    check_accounting(BALANCED)
    assert rejects_by_reason(BALANCED) == {"bad_json": 2, "empty_body": 1}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"records_in": 11}, "11 records in, but 6 articles"),  # a record vanished
        ({"rows_articles": 7}, "10 records in, but 7 articles"),  # a record was written twice
        ({"rows_rejects": 2}, "2 reject rows written, 3 rejects counted"),  # a reject row was lost
    ],
)
def test_a_lost_or_duplicated_record_stops_the_commit(change: dict[str, int], message: str) -> None:
    with pytest.raises(AccountingError, match=message):
        check_accounting({**BALANCED, **change})


def test_the_listing_sums_a_counter_delivered_in_parts(tmp_path: Path) -> None:
    # Beam promises one count per key, but a counter is a sum: were one key's count to arrive in
    # parts, keeping the last part (dict() of the pairs, as before) would under-count silently.
    _finalize(None, str(tmp_path), [], [("rows_articles", 18427), ("records_in", 20000), ("rows_articles", 1573)])
    assert read_stats(str(tmp_path)) == {"records_in": 20000, "rows_articles": 20000}
