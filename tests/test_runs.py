"""The accounting check that stands between a run and its commit."""

from __future__ import annotations

import pytest

from feedflow.runs import AccountingError, check_accounting, rejects_by_reason

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
