"""A campaign dialled for real, then read through OBI: the figures equal sums over the rows.

The campaign is activated and filled through HTTP (OBI), the dialer then runs
on a virtual clock against the same database with the `sim` carrier and the
demo agents as bots, and OBI's statistics are compared with sums this test
computes itself from the attempt, customer and agent state log rows.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from rappel.clock import VirtualClock
from rappel.engine.campaign_dialer import CampaignDialer, host
from rappel.engine.dialing import Calls
from rappel.engine.sim_agents import SimAgent, SimAgentBots
from rappel.services import agents as agent_service
from rappel.services.demo import API_TOKEN, TEST_CAMPAIGN_ID
from rappel.store.db import Database
from rappel.store.tables import agent_state_log, attempts, customers, users
from rappel.telephony.sim import (
    Distribution,
    DistributionKind,
    SimAgentProfile,
    SimRates,
    SimTelephony,
)

#: A Monday, 11:00 in Berlin: inside the demo campaign's hours.
START = datetime(2021, 1, 4, 10, 0, tzinfo=UTC)
AUTH = {"Authorization": f"Bearer {API_TOKEN}", "Accept": "application/json"}
OBI = "/RI/obi"


def demo_agents(db: Database, tenant_id: str) -> list[SimAgent]:
    with db.read() as conn:
        rows = conn.execute(
            select(users.c.id, users.c.username).where(
                users.c.tenant_id == tenant_id, users.c.role == "agent"
            )
        ).all()
    return [SimAgent(tenant_id, r[0], r[1]) for r in rows]


def dial_for_a_while(db: Database, tenant_id: str, seconds: float) -> None:
    clock = VirtualClock(START)
    telephony = SimTelephony(
        clock, seed=5, rates=SimRates(answer=0.5, busy=0.25, no_answer=0.25),
        ring=Distribution(5.0, DistributionKind.FIXED), talk=Distribution(40.0),
    )  # fmt: skip
    dialer = CampaignDialer(db, clock, Calls(telephony), "integration-dialer")
    agents = demo_agents(db, tenant_id)
    bots = SimAgentBots(db, clock, agents, SimAgentProfile(wrap=Distribution(8.0)))

    async def main() -> None:
        stop = asyncio.Event()
        tasks = [asyncio.create_task(host(dialer, stop)), asyncio.create_task(bots.run(stop))]
        await clock.advance(seconds)
        stop.set()
        await clock.advance(1)
        await asyncio.gather(*tasks)

    asyncio.run(main())
    for agent in agents:  # closes every agent's time, so the sums are final
        agent_service.logout(db, clock, tenant_id, agent.agent_id)


def seconds_in(state: str, rows: list[dict[str, object]], campaign_id: str) -> float:
    """Time spent in `state` on the campaign's interactions, from the raw log."""
    total = 0.0
    by_agent: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        by_agent.setdefault(str(row["agent_id"]), []).append(row)
    for log in by_agent.values():
        log.sort(key=lambda r: int(str(r["seq"])))
        for line, following in itertools.pairwise(log):
            if line["state"] == state and line["campaign_id"] == campaign_id:
                total += (following["at"] - line["at"]).total_seconds()  # type: ignore[operator]
    return total


def test_obi_statistics_equal_sums_over_the_dialled_rows(
    http: httpx.Client, db: Database, demo: str
) -> None:
    status = http.put(
        f"{OBI}/campaigns/{TEST_CAMPAIGN_ID}/status",
        content="Active",
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    assert status.status_code == 204
    body = [
        {"externalId": f"int-{k}", "numbers": f"+4930901820{k:02d}", "date": "2021-01-01T00:00:00Z"}
        for k in range(30)
    ]
    added = http.post(f"{OBI}/campaigns/{TEST_CAMPAIGN_ID}/customers/list", json=body, headers=AUTH)
    assert added.status_code in (200, 201), added.text

    dial_for_a_while(db, demo, 1200)

    with db.read() as conn:
        tried = [
            dict(r)
            for r in conn.execute(
                select(attempts).where(attempts.c.campaign_id == TEST_CAMPAIGN_ID)
            ).mappings()
        ]
        people = [
            dict(r)
            for r in conn.execute(
                select(customers).where(customers.c.campaign_id == TEST_CAMPAIGN_ID)
            ).mappings()
        ]
        log = [dict(r) for r in conn.execute(select(agent_state_log)).mappings()]
    assert len(tried) > 20
    results = Counter(a["customer_result"] for a in tried)

    listed = http.get(f"{OBI}/campaigns", params={"statistics": "true"}, headers=AUTH)
    assert listed.status_code == 200
    (campaign,) = [c for c in listed.json() if c["id"] == TEST_CAMPAIGN_ID]
    total = campaign["stats"]["total"]
    assert total["numberOfCalls"] == len(tried)
    assert total["numberOfSuccessfulCalls"] == results["SUCCESS"] + results["REFUSAL"]
    assert total["numberOfAbandonedCalls"] == results["ABANDONED"] + results["EXPIRED"]
    assert total["numberOfHangupCalls"] == results["HANGUP"]
    assert abs(total["talkingTime"] - seconds_in("TALKING", log, TEST_CAMPAIGN_ID)) < 1e-3
    assert abs(total["callTime"] - seconds_in("DIALING", log, TEST_CAMPAIGN_ID)) < 1e-3
    assert campaign["handled"] == sum(
        1 for p in people if p["result"] in ("SUCCESS", "REFUSAL", "HANGUP", "NOT_DIALED")
    )

    day = http.get(
        f"{OBI}/statistics",
        params={"startDate": "2021-01-04T00:00:00Z", "endDate": "2021-01-04T00:00:00Z"},
        headers=AUTH,
    )
    assert day.status_code == 200
    rows = [r for r in day.json() if r["campaignId"] == TEST_CAMPAIGN_ID]
    assert sum(r["numberOfCalls"] for r in rows) == len(tried)
    by_agent = Counter(a["agent_id"] for a in tried)
    assert {r.get("agentId"): r["numberOfCalls"] for r in rows if r["numberOfCalls"]} == {
        k: v for k, v in by_agent.items()
    }

    grouped = http.get(f"{OBI}/campaigns/{TEST_CAMPAIGN_ID}/customerResultStatistics", headers=AUTH)
    assert grouped.status_code == 200
    expected = Counter((p["result"], p["call_result"], p["classifier"]) for p in people)
    got = {
        (g["result"], g.get("callResult"), g.get("classifier")): g["count"] for g in grouped.json()
    }
    assert got == dict(expected)
