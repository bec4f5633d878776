"""The serving process's heap is settled after start-up."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from rappel.heap import settle_after_startup


@pytest.fixture
def thawed() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_objects_alive_at_startup_leave_the_cyclic_collector(thawed: None) -> None:
    assert gc.get_freeze_count() == 0
    settle_after_startup()
    assert gc.get_freeze_count() > 0
    # The young generations start empty: only what is made after start-up is scanned.
    assert gc.get_count()[1:] == (0, 0)


def test_garbage_cycles_from_startup_are_collected_not_frozen(thawed: None) -> None:
    class Node:
        other: object = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    watch = weakref.ref(a)
    del a, b
    assert watch() is not None  # only the cyclic collector can free them
    settle_after_startup()
    assert watch() is None
