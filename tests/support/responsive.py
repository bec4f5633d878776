"""Whether a server keeps answering /healthz while one big request is in flight."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import httpx

T = TypeVar("T")


@dataclass
class Meanwhile(Generic[T]):
    """The big request's result, its span, and each health check's (sent, answered)."""

    result: T | None = None
    start: float = 0.0
    end: float = 0.0
    polls: list[tuple[float, float]] = field(default_factory=list)

    @property
    def answered_in_second_half(self) -> bool:
        """A health check sent in the second half of the request was answered before it ended.

        An ordering, not a latency: a server frozen by the request answers nothing
        asked after it started until it is over.
        """
        middle = (self.start + self.end) / 2
        return any(sent > middle and answered < self.end for sent, answered in self.polls)


def healthz_meanwhile(base_url: str, big: Callable[[httpx.Client], T]) -> Meanwhile[T]:
    """Run `big` in a thread and poll /healthz until it returns."""
    seen: Meanwhile[T] = Meanwhile()

    def run() -> None:
        with httpx.Client(base_url=base_url, timeout=300) as client:
            seen.start = time.monotonic()
            seen.result = big(client)
            seen.end = time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    with httpx.Client(base_url=base_url, timeout=300) as client:
        while thread.is_alive():
            sent = time.monotonic()
            assert client.get("/healthz").status_code == 200
            seen.polls.append((sent, time.monotonic()))
    thread.join()
    return seen
