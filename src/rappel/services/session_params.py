"""Session parameters held in memory for an interaction's life (seed 004).

Every value a data dip returns lives here until the interaction ends, whatever
its flags; only `saveToDatabase: true` values are also written to the
database (by `services.crm_dip`). Values with `saveToDatabase: false` exist
nowhere else, so `drop` at the end of the interaction is what makes them gone.

The store is per process: on a multi-node deployment the node that dipped is
the node that holds the values (an offer on another node shows only the saved
ones). Interactions whose end is never reported are evicted oldest-first once
`capacity` interactions are held, so a lost `drop` cannot grow memory forever.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from rappel.integrations.datadip_client import SessionParameter

PART = "session_params"
DEFAULT_CAPACITY = 200_000


class SessionParameterStore:
    """Interaction -> its session parameters; safe to use from several threads."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._held: OrderedDict[tuple[str, str], dict[str, SessionParameter]] = OrderedDict()
        self._lock = threading.Lock()

    def put(
        self, tenant_id: str, interaction_id: str, params: Mapping[str, SessionParameter]
    ) -> None:
        """Add values; a value of the same name from an earlier dip is replaced."""
        key = (tenant_id, interaction_id)
        with self._lock:
            held = self._held.setdefault(key, {})
            held.update(params)
            self._held.move_to_end(key)
            while len(self._held) > self.capacity:
                self._held.popitem(last=False)

    def for_agent(self, tenant_id: str, interaction_id: str) -> dict[str, str]:
        """The values flagged displayToAgent, by name."""
        return {
            name: p.value
            for name, p in self.all(tenant_id, interaction_id).items()
            if p.display_to_agent
        }

    def all(self, tenant_id: str, interaction_id: str) -> dict[str, SessionParameter]:
        with self._lock:
            return dict(self._held.get((tenant_id, interaction_id), {}))

    def drop(self, tenant_id: str, interaction_id: str) -> None:
        """Forget an ended interaction's values (a no-op when none are held)."""
        with self._lock:
            self._held.pop((tenant_id, interaction_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)


def store_for(container: Any) -> SessionParameterStore:
    """The process's store, kept in `container.parts` (made on first use)."""
    parts: dict[str, Any] = container.parts
    store = parts.get(PART)
    if not isinstance(store, SessionParameterStore):
        store = parts[PART] = SessionParameterStore()
    return store
