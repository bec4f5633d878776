"""Agents' nailed-up phone calls: rung once, kept up between customers.

Campaign dialing cannot ring an agent's phone for every customer: the ring
time would break the 2-second rule. So on a SIP node an agent who is READY
on a campaign's queue is called once; the call stays up (the agent hears
silence or hold audio between customers), and each answered customer is
joined to it (`Telephony.bridge`) and parted from it again at hang-up
(`Telephony.park`). Only the worker that holds the call can join customers
to it: `agent_connections` rows say which one, under a lease renewed with
the engine's heartbeat. A connection is hung up when its agent pauses or
logs out; an agent who hangs up the phone is simply called again when next
needed, and an agent whose phone did not answer is left alone for
`retry_s` so the phone is not rung every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from rappel.clock import Clock
from rappel.domain.agent import AgentState
from rappel.engine.dialing import Calls, Leg
from rappel.services import agents as agent_service
from rappel.store import agent_connections as store
from rappel.store.db import Database
from rappel.telephony.port import CallEventKind, TrunkBusy

log = logging.getLogger(__name__)
A = AgentState
Key = tuple[str, str]

#: Agent states in which a connection is kept; any other state hangs it up.
WORKING = frozenset({A.READY, A.PREVIEW, A.DIALING, A.TALKING, A.WRAPUP})


@dataclass
class _Connection:
    call_id: str
    leg: Leg | None = None
    up: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class AgentConnections:
    """This worker's nailed-up agent calls (see the module doc)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        calls: Calls,
        owner: str,
        *,
        lease_s: float,
        ring_timeout_s: float = 30.0,
        retry_s: float = 30.0,
    ) -> None:
        self.db, self.clock, self.calls, self.owner = db, clock, calls, owner
        self.lease = timedelta(seconds=lease_s)
        self.ring_timeout_s = ring_timeout_s
        self.retry_s = retry_s
        self._held: dict[Key, _Connection] = {}
        self._not_before: dict[Key, float] = {}

    def live(self, tenant_id: str, agent_ids: Collection[str]) -> set[str]:
        """The agents among `agent_ids` whose call is up here and ready for a customer."""
        found = set()
        for agent_id in agent_ids:
            held = self._held.get((tenant_id, agent_id))
            if held is not None and held.up and held.leg is not None:
                if held.leg.poll() is None:
                    found.add(agent_id)
                else:
                    self._forget((tenant_id, agent_id), "the agent hung up")
        return found

    def want(self, tenant_id: str, agent_id: str) -> None:
        """Call the agent now unless a call is up or ringing, or the phone just failed to answer."""
        key = (tenant_id, agent_id)
        if key in self._held or self.clock.monotonic() < self._not_before.get(key, 0.0):
            return
        held = self._held[key] = _Connection(f"conn-{agent_id}-{uuid.uuid4().hex[:8]}")
        held.task = asyncio.create_task(self._connect(key, held), name=f"agent-conn-{agent_id}")

    def call_id_of(self, tenant_id: str, agent_id: str) -> str | None:
        held = self._held.get((tenant_id, agent_id))
        return held.call_id if held is not None and held.up else None

    async def park(self, tenant_id: str, agent_id: str) -> None:
        """The customer left: the agent's call stays up, on its own."""
        held = self._held.get((tenant_id, agent_id))
        if held is None or not held.up or held.leg is None or held.leg.poll() is not None:
            return
        try:
            await self.calls.telephony.park(held.call_id)
        except Exception:
            log.exception("parking %s failed; hanging the agent's call up", held.call_id)
            await self._hang_up((tenant_id, agent_id))

    async def sweep(self, states: Mapping[Key, AgentState | None]) -> None:
        """Hang up the calls of agents who paused or logged out (`states` by key)."""
        for key in list(self._held):
            if key in states and states[key] not in WORKING:
                await self._hang_up(key)

    def keys(self) -> list[Key]:
        return list(self._held)

    def renew(self) -> None:
        with self.db.begin() as conn:
            store.renew(conn, self.owner, self.clock.now() + self.lease)

    async def close(self) -> None:
        for key in list(self._held):
            await self._hang_up(key)
        with self.db.begin() as conn:
            store.release_all(conn, self.owner)

    # -- inside ------------------------------------------------------------------------

    async def _connect(self, key: Key, held: _Connection) -> None:
        tenant_id, agent_id = key
        now = self.clock.now()
        with self.db.begin() as conn:
            phone = agent_service.agent_phone(conn, tenant_id, agent_id)
            claimed = phone is not None and store.claim(
                conn, tenant_id, agent_id, self.owner, held.call_id, now, now + self.lease
            )
        if not claimed:
            self._back_off(key, "no phone" if phone is None else "held by another worker")
            return
        assert phone is not None
        try:
            leg = await self.calls.originate(held.call_id, phone, "", self.ring_timeout_s, False)
        except TrunkBusy:
            self._back_off(key, "trunk full")
            return
        except Exception:
            log.exception("calling agent %s failed", agent_id)
            self._back_off(key, "driver error")
            return
        held.leg = leg
        event = await leg.answer_or_end()
        if event.kind is CallEventKind.ANSWERED:
            held.up = True
            log.info("agent %s connected on %s", agent_id, held.call_id)
            return
        self._back_off(key, f"{event.kind.value} {event.cause}".strip())

    def _back_off(self, key: Key, why: str) -> None:
        log.info("agent %s not connected (%s); trying again in %gs", key[1], why, self.retry_s)
        self._not_before[key] = self.clock.monotonic() + self.retry_s
        self._forget(key, why)

    def _forget(self, key: Key, why: str) -> None:
        held = self._held.pop(key, None)
        if held is None:
            return
        if held.leg is not None:
            held.leg.close()
        with self.db.begin() as conn:
            store.release(conn, key[0], key[1], self.owner)
        log.debug("agent connection %s dropped: %s", held.call_id, why)

    async def _hang_up(self, key: Key) -> None:
        held = self._held.get(key)
        if held is None:
            return
        if held.task is not None and not held.task.done():
            held.task.cancel()
            with contextlib.suppress(BaseException):
                await held.task
        if held.leg is not None:
            with contextlib.suppress(Exception):
                await held.leg.hangup()
        self._forget(key, "agent left")
