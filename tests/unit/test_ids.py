"""Entity ids: id32 text, and the time-ordered ids of bulk-created customers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from rappel.domain.ids import is_id, new_ordered_id, parse_id

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_ordered_ids_are_id32_uuid7_values() -> None:
    made = new_ordered_id(AT)
    assert is_id(made)
    assert parse_id(made) == made
    assert uuid.UUID(made).version == 7


def test_ordered_ids_sort_by_their_time() -> None:
    times = [AT + timedelta(milliseconds=k) for k in (0, 1, 2, 1000, 86_400_000)]
    ids = [new_ordered_id(t) for t in times]
    assert ids == sorted(ids)


def test_ordered_ids_of_the_same_millisecond_differ() -> None:
    ids = {new_ordered_id(AT) for _ in range(10_000)}
    assert len(ids) == 10_000
    assert len({i[:12] for i in ids}) == 1
