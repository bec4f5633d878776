"""Circuit breakers per key (a tenant's CRM URL), on the injected Clock.

A key's circuit is CLOSED while calls work. After `failure_threshold`
consecutive failures it OPENS: calls are refused at once (the IVR does not
wait on a dead CRM). After `reset_after_s` the next `allow` makes it
HALF_OPEN and lets up to `half_open_calls` trial calls through; a success
closes it, a failure opens it again for another `reset_after_s`.

Counters are plain attributes so that metrics code can read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rappel.clock import Clock
from rappel.domain.errors import InvalidTransition


class CircuitState(StrEnum):
    CLOSED = "closed"  #: calls go through; consecutive failures are counted
    OPEN = "open"  #: calls are refused until the reset delay has passed
    HALF_OPEN = "half_open"  #: a few trial calls decide between CLOSED and OPEN


_ALLOWED = {
    (CircuitState.CLOSED, CircuitState.OPEN),
    (CircuitState.OPEN, CircuitState.HALF_OPEN),
    (CircuitState.HALF_OPEN, CircuitState.CLOSED),
    (CircuitState.HALF_OPEN, CircuitState.OPEN),
}


@dataclass
class _Circuit:
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    trials: int = 0

    def move(self, target: CircuitState) -> None:
        if (self.state, target) not in _ALLOWED:
            raise InvalidTransition(f"circuit cannot go from {self.state} to {target}")
        self.state = target


class CircuitBreaker:
    """Per-key breakers sharing one configuration."""

    def __init__(
        self,
        clock: Clock,
        failure_threshold: int = 5,
        reset_after_s: float = 30.0,
        half_open_calls: int = 1,
    ) -> None:
        if failure_threshold < 1 or half_open_calls < 1 or reset_after_s <= 0:
            raise ValueError("circuit breaker needs threshold >= 1, trials >= 1, reset > 0")
        self._clock = clock
        self.failure_threshold = failure_threshold
        self.reset_after_s = reset_after_s
        self.half_open_calls = half_open_calls
        self._circuits: dict[str, _Circuit] = {}
        #: calls refused because their circuit was open
        self.rejected_total = 0
        #: times any circuit opened
        self.opened_total = 0
        self.successes_total = 0
        self.failures_total = 0

    def state(self, key: str) -> CircuitState:
        circuit = self._circuits.get(key)
        return circuit.state if circuit is not None else CircuitState.CLOSED

    @property
    def open_count(self) -> int:
        return sum(1 for c in self._circuits.values() if c.state is not CircuitState.CLOSED)

    def allow(self, key: str) -> bool:
        """May a call to `key` go ahead now? Counts a refusal when not."""
        circuit = self._circuits.get(key)
        if circuit is None or circuit.state is CircuitState.CLOSED:
            return True
        if circuit.state is CircuitState.OPEN:
            if self._clock.monotonic() - circuit.opened_at < self.reset_after_s:
                self.rejected_total += 1
                return False
            circuit.move(CircuitState.HALF_OPEN)
            circuit.trials = 0
        if circuit.trials >= self.half_open_calls:
            self.rejected_total += 1
            return False
        circuit.trials += 1
        return True

    def record_success(self, key: str) -> None:
        self.successes_total += 1
        circuit = self._circuits.get(key)
        if circuit is None:
            return
        if circuit.state is CircuitState.HALF_OPEN:
            circuit.move(CircuitState.CLOSED)
        if circuit.state is CircuitState.CLOSED:
            # A healthy key needs no memory; this keeps the table as small as the trouble.
            del self._circuits[key]

    def record_failure(self, key: str) -> None:
        self.failures_total += 1
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        if circuit.state is CircuitState.HALF_OPEN or (
            circuit.state is CircuitState.CLOSED and circuit.failures >= self.failure_threshold
        ):
            self._open(circuit)

    def _open(self, circuit: _Circuit) -> None:
        circuit.move(CircuitState.OPEN)
        circuit.opened_at = self._clock.monotonic()
        self.opened_total += 1
