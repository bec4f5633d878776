"""The campaign dialer on the virtual clock, with the `sim` carrier and simulated agents.

Each test builds a tenant, a queue with agents and an Active campaign in a
fresh SQLite database, then plays minutes or hours of virtual time through
the real dialer (`engine.campaign_dialer.host`), and reads what happened from
the attempt and customer rows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from rappel.clock import VirtualClock
from rappel.domain.agent import AgentState
from rappel.domain.codes import CampaignStatus, DialingMode
from rappel.domain.results import CustomerResult
from rappel.engine.campaign_dialer import CampaignDialer, host
from rappel.engine.dialing import Calls
from rappel.engine.sim_agents import SimAgent, SimAgentBots, ensure_sim_agents
from rappel.services import agents as agent_service
from rappel.services import campaign_dialing, campaigns, customers, provisioning, tenancy
from rappel.store import customers as customer_store
from rappel.store.db import Database
from rappel.store.tables import attempts
from rappel.store.tables import customers as customers_table
from rappel.telephony.port import DialOutcome
from rappel.telephony.sim import (
    Distribution,
    DistributionKind,
    SimAgentProfile,
    SimRates,
    SimTelephony,
)
from tests.support.databases import migrated, wipe

#: Monday 10:00 in London (UTC in January): inside the campaign's 09:00-20:00.
START = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)
R = CustomerResult


@pytest.fixture(scope="module")
def module_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with migrated("sqlite", tmp_path_factory.mktemp("dialer")) as db:
        yield db


@pytest.fixture
def sdb(module_db: Database) -> Database:
    wipe(module_db)
    return module_db


def number(k: int) -> str:
    return f"+44207946{k:04d}"


class World:
    """A tenant with one outbound queue, simulated agents on it, and one campaign."""

    def __init__(
        self,
        db: Database,
        mode: DialingMode,
        *,
        agents: int = 2,
        start: datetime = START,
        abandon_rate: float = 1.0,
        ratio: float = 0.0,
        retry_count: int = 3,
        rates: SimRates | None = None,
        outcomes: dict[str, DialOutcome] | None = None,
        talk_s: float = 30.0,
        wrap_s: float = 5.0,
    ) -> None:
        self.db, self.clock = db, VirtualClock(start)
        tenant = tenancy.create_tenant(db, self.clock, {"name": "Dialco", "time_zone": "UTC"})
        self.tenant_id = tenant.id
        queue = provisioning.create_queue(
            db, self.clock, tenant.id, {"name": "Outbound", "short_id": 7, "direction": "outbound"}
        )
        self.queue_id = queue.id
        change = campaigns.CampaignUpdate(
            name="Spring", dialing_mode=mode, queue_id=queue.id,
            time_zone="Europe/London", abandon_rate=abandon_rate,
            increase_predictive_ratio=ratio,
        )  # fmt: skip
        settings = {
            "retry_count": retry_count,
            "busy_retry_delay_s": 60,
            "no_answer_retry_delay_s": 60,
            "preview_time": 10,
        }
        self.campaign_id = campaigns.create_campaign(db, self.clock, tenant.id, change, settings)
        self.set_status(CampaignStatus.ACTIVE)
        self.agents: list[SimAgent] = ensure_sim_agents(db, self.clock, agents)
        self.rates = rates or SimRates(answer=1.0, busy=0.0, no_answer=0.0)
        self.outcomes, self.talk_s = outcomes, talk_s
        self.profile = SimAgentProfile(wrap=Distribution(wrap_s, DistributionKind.FIXED))
        self.peak_open = 0
        self.peak_ringing_over_free = 0

    def set_status(self, status: CampaignStatus) -> None:
        campaigns.set_campaign_status(self.db, self.clock, self.tenant_id, self.campaign_id, status)

    def add(self, *numbers: str, **fields: Any) -> list[str]:
        items = [
            customers.NewCustomer(numbers=n, time_zone="Europe/London", **fields) for n in numbers
        ]
        results = customers.add_customers(
            self.db, self.clock, self.tenant_id, self.campaign_id, items
        )
        return [r.id for r in results if r.id is not None]

    def play(
        self,
        seconds: float,
        *,
        bots: bool = True,
        sample: bool = False,
        script: Callable[[], Coroutine[Any, Any, None]] | None = None,
    ) -> None:
        asyncio.run(self._play(seconds, bots, sample, script))

    async def _play(
        self,
        seconds: float,
        bots: bool,
        sample: bool,
        script: Callable[[], Coroutine[Any, Any, None]] | None,
    ) -> None:
        # A fresh carrier per event loop (its wake-up event belongs to one loop).
        telephony = SimTelephony(
            self.clock,
            seed=3,
            rates=self.rates,
            ring=Distribution(4.0, DistributionKind.FIXED),
            talk=Distribution(self.talk_s, DistributionKind.FIXED),
            fixed_outcomes=self.outcomes,
        )
        self.dialer = CampaignDialer(self.db, self.clock, Calls(telephony), "test-dialer")
        stop = asyncio.Event()
        tasks = [asyncio.create_task(host(self.dialer, stop))]
        if bots:
            crew = SimAgentBots(self.db, self.clock, self.agents, self.profile)
            tasks.append(asyncio.create_task(crew.run(stop)))
        if sample:
            tasks.append(asyncio.create_task(self._sample(stop)))
        if script is not None:
            tasks.append(asyncio.create_task(script()))
        await self.clock.advance(seconds)
        stop.set()
        await self.clock.advance(1)
        await asyncio.gather(*tasks)

    async def _sample(self, stop: asyncio.Event) -> None:
        """Once a virtual second: calls open, and ringing calls beyond the free agents."""
        while not stop.is_set():
            with self.db.read() as conn:
                open_calls = conn.execute(
                    select(func.count()).where(attempts.c.ended_at.is_(None))
                ).scalar_one()
                ringing = conn.execute(
                    select(func.count()).where(
                        attempts.c.ended_at.is_(None), attempts.c.answered_at.is_(None)
                    )
                ).scalar_one()
            free = sum(1 for v in self.agent_states() if v is AgentState.READY)
            self.peak_open = max(self.peak_open, int(open_calls))
            self.peak_ringing_over_free = max(self.peak_ringing_over_free, int(ringing) - free)
            await self.clock.sleep(1.0)

    def agent_states(self) -> list[AgentState]:
        return [
            agent_service.state_of(self.db, self.tenant_id, a.agent_id).state for a in self.agents
        ]

    def attempts(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = conn.execute(
                select(attempts)
                .where(attempts.c.tenant_id == self.tenant_id)
                .order_by(attempts.c.placed_at, attempts.c.attempt_no)
            ).mappings()
            return [dict(r) for r in rows]

    def customer(self, customer_id: str) -> dict[str, Any]:
        with self.db.read() as conn:
            row = conn.execute(
                select(customers_table).where(customers_table.c.id == customer_id)
            ).mappings()
            return dict(row.one())


def test_progressive_never_places_more_calls_than_free_agents(sdb: Database) -> None:
    world = World(sdb, DialingMode.PROGRESSIVE, agents=3, rates=SimRates(0.5, 0.2, 0.3))
    world.add(*(number(k) for k in range(30)))

    world.play(900, sample=True)

    placed = world.attempts()
    assert len(placed) > 6
    assert world.peak_open <= 3
    assert all(a["agent_id"] is not None for a in placed)


def test_predictive_launches_more_calls_than_free_agents_at_low_answer_rates(
    sdb: Database,
) -> None:
    # A team large enough that an hour's abandon allowance covers the controller's
    # reserve; with four agents the dialer rightly stays progressive (docs/dialer.md).
    world = World(
        sdb, DialingMode.PREDICTIVE, agents=12, abandon_rate=2.0, ratio=100.0,
        rates=SimRates(answer=0.25, busy=0.0, no_answer=0.75), talk_s=60.0, wrap_s=5.0,
    )  # fmt: skip
    world.add(*(number(k) for k in range(600)))

    world.play(2400, sample=True)

    assert world.peak_ringing_over_free > 0
    abandoned = [a for a in world.attempts() if a["customer_result"] == R.ABANDONED.value]
    answered = [a for a in world.attempts() if a["answered_at"] is not None]
    assert answered
    assert len(abandoned) <= max(1, 0.05 * len(answered))


def test_abandon_rate_zero_makes_no_extra_calls(sdb: Database) -> None:
    world = World(
        sdb, DialingMode.PREDICTIVE, agents=2, abandon_rate=0.0,
        rates=SimRates(answer=0.2, busy=0.0, no_answer=0.8), talk_s=20.0, wrap_s=3.0,
    )  # fmt: skip
    world.add(*(number(k) for k in range(200)))

    world.play(1800, sample=True)

    assert len(world.attempts()) > 10
    assert world.peak_ringing_over_free <= 0
    assert world.peak_open <= 2
    assert not [a for a in world.attempts() if a["customer_result"] == R.ABANDONED.value]


def test_busy_customer_ends_maxcalls_after_retry_count_plus_one_attempts(sdb: Database) -> None:
    world = World(
        sdb, DialingMode.PROGRESSIVE, retry_count=2, outcomes={number(1): DialOutcome.BUSY}
    )
    (customer_id,) = world.add(number(1))

    world.play(900)

    tried = world.attempts()
    assert [a["customer_result"] for a in tried] == [R.BUSY.value] * 3
    row = world.customer(customer_id)
    assert (row["result"], row["call_result"], row["call_count"]) == ("MAXCALLS", "BUSY", 3)
    assert row["next_call_at"] is None


def test_raising_retry_count_makes_maxcalls_customers_callable_again(sdb: Database) -> None:
    world = World(
        sdb, DialingMode.PROGRESSIVE, retry_count=1, outcomes={number(1): DialOutcome.NO_ANSWER}
    )
    (customer_id,) = world.add(number(1))
    world.play(600)
    assert world.customer(customer_id)["result"] == R.MAXCALLS.value

    campaigns.change_settings(
        world.db, world.clock, world.tenant_id, world.campaign_id, {"retry_count": 3}
    )
    world.play(900)

    row = world.customer(customer_id)
    assert (row["result"], row["call_count"]) == ("MAXCALLS", 4)
    assert [a["customer_result"] for a in world.attempts()] == [R.NOANSWER.value] * 4


def test_numbers_are_tried_in_priority_order(sdb: Database) -> None:
    world = World(sdb, DialingMode.PROGRESSIVE, outcomes={number(1): DialOutcome.BUSY})
    (customer_id,) = world.add(f"{number(1)};{number(2)}")

    world.play(300)

    tried = world.attempts()
    assert [(a["number"], a["customer_result"]) for a in tried] == [
        (number(1), R.BUSY.value),
        (number(2), R.SUCCESS.value),
    ]
    row = world.customer(customer_id)
    assert (row["result"], row["last_b_number"], row["classifier"]) == ("SUCCESS", 1, "sim")


def test_do_not_call_customer_is_filtered_at_dial_time(sdb: Database) -> None:
    world = World(sdb, DialingMode.PROGRESSIVE)
    (blocked,) = world.add(number(1))
    (allowed,) = world.add(number(2))
    with world.db.begin() as conn:
        customer_store.add_dnc(conn, world.tenant_id, "", [number(1)], world.clock.now())

    world.play(300)

    assert world.customer(blocked)["result"] == R.FILTERED.value
    assert world.customer(allowed)["result"] == R.SUCCESS.value
    assert [a["number"] for a in world.attempts()] == [number(2)]


def test_nothing_is_dialled_outside_calling_hours(sdb: Database) -> None:
    late = datetime(2026, 1, 5, 21, 30, tzinfo=UTC)
    world = World(sdb, DialingMode.PROGRESSIVE, start=late)
    (customer_id,) = world.add(number(1))

    world.play(1800)

    assert world.attempts() == []
    next_call = world.customer(customer_id)["next_call_at"]
    assert next_call == datetime(2026, 1, 6, 9, 0, tzinfo=UTC)


def test_passive_campaign_is_never_dialled(sdb: Database) -> None:
    world = World(sdb, DialingMode.PREDICTIVE)
    world.add(number(1), number(2))
    world.set_status(CampaignStatus.PASSIVE)

    world.play(600)

    assert world.attempts() == []


def test_preview_skip_records_an_undialled_skip_and_frees_the_agent(sdb: Database) -> None:
    world = World(sdb, DialingMode.PREVIEW, agents=1)
    (first,) = world.add(number(1), priority=5)
    (second,) = world.add(number(2))
    agent = world.agents[0]
    agent_service.login(world.db, world.clock, world.tenant_id, agent.agent_id)
    desks: list[str] = []

    async def skip_what_is_on_the_desk() -> None:
        await world.clock.sleep(3)
        desk = campaign_dialing.preview_on_desk(world.db, world.tenant_id, agent.agent_id)
        desks.append(desk["id"])
        campaign_dialing.preview_skip(
            world.db, world.clock, world.tenant_id, agent.agent_id, desk["id"]
        )
        await world.clock.sleep(3)
        desk = campaign_dialing.preview_on_desk(world.db, world.tenant_id, agent.agent_id)
        desks.append(desk["id"])

    world.play(8, bots=False, script=skip_what_is_on_the_desk)

    assert desks == [first, second]
    (skip,) = world.attempts()
    assert (skip["customer_result"], skip["dialed"], skip["agent_id"]) == (
        "SKIP", False, agent.agent_id,
    )  # fmt: skip
    row = world.customer(first)
    assert (row["result"], row["call_count"]) == ("SKIP", 0)
    assert row["next_call_at"] == skip["ended_at"] + timedelta(seconds=300)


def test_preview_dials_when_the_agent_says_so_and_records_the_disposition(sdb: Database) -> None:
    world = World(sdb, DialingMode.PREVIEW, agents=1)
    (customer_id,) = world.add(number(1))

    world.play(120)

    (call,) = world.attempts()
    assert (call["customer_result"], call["dialed"]) == ("SUCCESS", True)
    assert call["agent_id"] == world.agents[0].agent_id
    assert world.customer(customer_id)["result"] == R.SUCCESS.value


def test_preview_timeout_dials_for_the_agent(sdb: Database) -> None:
    world = World(sdb, DialingMode.PREVIEW, agents=1)
    (customer_id,) = world.add(number(1))
    agent = world.agents[0]
    agent_service.login(world.db, world.clock, world.tenant_id, agent.agent_id)

    world.play(13, bots=False)

    (call,) = world.attempts()
    assert call["dialed"] is True
    placed_after = call["placed_at"] - START
    assert timedelta(seconds=10) <= placed_after <= timedelta(seconds=13)
    assert world.customer(customer_id)["call_count"] in (0, 1)
