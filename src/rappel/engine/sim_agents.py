"""Simulated agents: bots that log in and take calls, for the demo and capacity planning.

`RAPPEL_SIM_AGENTS=n` makes n agent users per outbound queue of every tenant
(usernames `sim-<queue short id>-<k>`, an unusable random password), logs
them in READY and runs one bot per agent. A bot uses the same agent services
as a person at the agent desktop: it accepts an offer after `ACCEPT_S`,
talks until the customer hangs up (the `sim` driver's talk time,
`RAPPEL_SIM_TALK_S`), then wraps up after a drawn wrap-up time
(`RAPPEL_SIM_WRAP_S`) with a SUCCESS disposition and a transaction code.

Bots pick up where a crashed process left them: an offer on the desk is
accepted, a pending wrap-up is finished. Two processes running bots for the
same agents do no harm: the agent log's lock lets one action win, the other
gets Conflict and looks again.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from rappel.clock import Clock
from rappel.domain.agent import AgentState
from rappel.domain.errors import Conflict, RappelError
from rappel.domain.results import CustomerResult, Disposition, TransactionCode
from rappel.services import agents as agent_service
from rappel.services import provisioning
from rappel.store.db import Database
from rappel.store.tables import queues, tenants, users
from rappel.telephony.sim import SimAgentProfile

log = logging.getLogger(__name__)
A = AgentState

#: Seconds a bot takes to accept an offer.
ACCEPT_S = 1.0
#: Seconds between looks at its own state when no change was heard (other processes).
POLL_S = 1.0

SIM_CODE = TransactionCode("Sim", "OK", "Handled by a simulated agent")


@dataclass(frozen=True)
class SimAgent:
    tenant_id: str
    agent_id: str
    username: str


def ensure_sim_agents(db: Database, clock: Clock, per_queue: int) -> list[SimAgent]:
    """Create (idempotently) `per_queue` agent users on each enabled outbound queue."""
    if per_queue <= 0:
        return []
    with db.read() as conn:
        rows = conn.execute(
            select(queues.c.tenant_id, queues.c.id, queues.c.short_id)
            .join(tenants, tenants.c.id == queues.c.tenant_id)
            .where(queues.c.direction == "outbound", queues.c.enabled.is_(True))
            .order_by(queues.c.tenant_id, queues.c.short_id)
        ).all()
        existing = {
            (r[0], r[1]): r[2]
            for r in conn.execute(select(users.c.tenant_id, users.c.username, users.c.id))
        }
    bots: list[SimAgent] = []
    for tenant_id, queue_id, short_id in rows:
        for k in range(1, per_queue + 1):
            username = f"sim-{short_id}-{k}"
            agent_id = existing.get((tenant_id, username))
            if agent_id is None:
                try:
                    user = provisioning.create_user(
                        db,
                        clock,
                        tenant_id,
                        {
                            "username": username,
                            "password": secrets.token_urlsafe(24),
                            "role": "agent",
                            "display_name": f"Simulated agent {k} of queue {short_id}",
                            "queue_ids": [queue_id],
                        },
                    )
                    agent_id = user.id
                except Conflict:
                    continue  # another process made it just now; it runs a bot for it too
            bots.append(SimAgent(tenant_id, agent_id, username))
    return bots


class SimAgentBots:
    """One bot task per simulated agent, all on the engine's loop."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        agents: list[SimAgent],
        profile: SimAgentProfile,
        seed: int = 1,
    ) -> None:
        self.db, self.clock, self.agents, self.profile = db, clock, agents, profile
        self.rng = random.Random(seed)
        self._events: dict[str, asyncio.Event] = {a.agent_id: asyncio.Event() for a in agents}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.handled = 0

    def _heard(self, _tenant_id: str, agent_id: str) -> None:
        event = self._events.get(agent_id)
        if event is None or self._loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            event.set()
        elif not self._loop.is_closed():
            self._loop.call_soon_threadsafe(event.set)

    async def run(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        agent_service.add_listener(self._heard)
        try:
            tasks = [
                asyncio.create_task(self._bot(a, stop), name=f"sim-agent:{a.username}")
                for a in self.agents
            ]
            await stop.wait()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            agent_service.remove_listener(self._heard)

    async def _bot(self, agent: SimAgent, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self._act(agent)
            except Conflict:
                pass  # someone (the engine, another bot) moved first: look again
            except RappelError as exc:
                log.warning("simulated agent %s: %s", agent.username, exc.message)
            await self._wait(agent, POLL_S)

    async def _act(self, agent: SimAgent) -> None:
        view = agent_service.state_of(self.db, agent.tenant_id, agent.agent_id)
        if view.state is A.LOGGED_OUT:
            agent_service.login(self.db, self.clock, agent.tenant_id, agent.agent_id)
        elif view.state is A.PAUSED:
            agent_service.ready(self.db, self.clock, agent.tenant_id, agent.agent_id)
        elif view.state is A.PREVIEW and view.interaction_id:
            await self.clock.sleep(ACCEPT_S)
            agent_service.accept(
                self.db, self.clock, agent.tenant_id, agent.agent_id, view.interaction_id
            )
        elif view.state is A.WRAPUP and view.interaction_id:
            await self.clock.sleep(self.profile.draw_wrap(self.rng))
            disposition = Disposition(
                CustomerResult.SUCCESS, classifier="sim", notes="simulated agent",
                transaction_codes=(SIM_CODE,),
            )  # fmt: skip
            agent_service.wrap_up(
                self.db, self.clock, agent.tenant_id, agent.agent_id, view.interaction_id,
                disposition,
            )  # fmt: skip
            self.handled += 1

    async def _wait(self, agent: SimAgent, seconds: float) -> None:
        event = self._events[agent.agent_id]
        if event.is_set():
            event.clear()
            return
        nap = asyncio.ensure_future(self.clock.sleep(seconds))
        heard = asyncio.ensure_future(event.wait())
        try:
            await asyncio.wait({nap, heard}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            nap.cancel()
            heard.cancel()
            event.clear()
