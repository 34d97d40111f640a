"""Builders shared by the drift tests (they were in ``test_change_points.py``)."""

from datetime import UTC, datetime, timedelta

import polars as pl

MONDAY = datetime(2026, 1, 5, 9, tzinfo=UTC)


def conformance(counts: list[int], *, size: int = 20, low_fitness: float = 0.6) -> tuple:
    """Weekly windows of ``size`` conversations, the first ``counts[w]`` conforming."""
    rows, dates = [], []
    for week, k in enumerate(counts):
        for j in range(size):
            cid = f"k{len(rows):04d}"
            ok = j < k
            rows.append({"conversation_id": cid, "sop_id": "address_change", "version": 1,
                         "variant_id": "v1" if ok else "v2",
                         "fitness": 1.0 if ok else low_fitness, "is_conforming": ok})  # fmt: skip
            dates.append({"conversation_id": cid, "started_at": MONDAY + timedelta(days=7 * week)})
    return pl.DataFrame(rows), pl.DataFrame(dates)


STEP = [19, 17] * 3 + [12, 14] * 3  # 90% conforming, then 65%
