"""OBI statistics equal sums recomputed here from attempt and agent-state rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import insert, select, update

from rappel.services.demo import API_TOKEN, PREVIEW_CAMPAIGN_ID, TEST_CAMPAIGN_ID
from rappel.store.db import Database
from rappel.store.tables import agent_state_log, attempts, customers, interactions, users

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
JSON = {**AUTH, "Accept": "application/json"}
# Yesterday, so that every logged minute is in the past whatever the time of day.
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
DAY = TODAY.strftime("%Y-%m-%dT00:00:00Z")


def _seed(db: Database, tenant_id: str) -> tuple[str, str, list[str]]:
    """Two agents working Test Campaign today; the dialer alone for one customer."""
    with db.begin() as conn:
        agent1, agent2 = (
            conn.execute(select(users.c.id).where(users.c.username == name)).scalar_one()
            for name in ("agent1", "agent2")
        )
        people = list(
            conn.execute(
                select(customers.c.id)
                .where(customers.c.campaign_id == TEST_CAMPAIGN_ID)
                .order_by(customers.c.external_id)
            ).scalars()
        )
        base = TODAY + timedelta(hours=9)
        # (customer, agent, minutes after 9:00, customer_result, amount)
        calls = [
            (people[0], agent1, 1, "SUCCESS", 25.0),
            (people[1], agent1, 10, "REFUSAL", None),
            (people[2], agent2, 2, "BUSY", None),
            (people[2], agent2, 20, "SKIP", None),
            (people[3], None, 5, "ABANDONED", None),
            (people[4], None, 6, "NOT_DIALED", None),
            (people[4], None, 7, "HANGUP", None),
        ]
        for n, (person, agent, minutes, result, amount) in enumerate(calls):
            interaction = f"{n:032X}"
            conn.execute(
                insert(interactions).values(
                    tenant_id=tenant_id,
                    id=interaction,
                    customer_id=person,
                    campaign_id=TEST_CAMPAIGN_ID,
                    flow="ASAP",
                    callback_type=1,
                    callback_status=9,
                    status=3,
                    start_time=base,
                    customer_number="+14155550100",
                    source="obi",
                    start_date=base,
                    updated_at=base,
                )
            )
            conn.execute(
                insert(attempts).values(
                    tenant_id=tenant_id,
                    interaction_id=interaction,
                    attempt_no=1,
                    call_id=f"call-{n}",
                    campaign_id=TEST_CAMPAIGN_ID,
                    customer_id=person,
                    agent_id=agent,
                    number="+14155550100",
                    placed_at=base + timedelta(minutes=minutes),
                    customer_result=result,
                    amount=amount,
                    dialed=result != "NOT_DIALED",
                )
            )
        for person, result in (
            (people[0], "SUCCESS"),
            (people[1], "REFUSAL"),
            (people[4], "HANGUP"),
        ):
            conn.execute(update(customers).where(customers.c.id == person).values(result=result))
        # agent1: READY 9:00, TALKING 9:01-9:05, WRAPUP to 9:06, PAUSED to 9:10, LOGGED_OUT 9:30
        log = [
            (agent1, "READY", 0, None),
            (agent1, "TALKING", 1, TEST_CAMPAIGN_ID),
            (agent1, "WRAPUP", 5, TEST_CAMPAIGN_ID),
            (agent1, "PAUSED", 6, None),
            (agent1, "READY", 10, None),
            (agent1, "LOGGED_OUT", 30, None),
            (agent2, "READY", 0, TEST_CAMPAIGN_ID),
            (agent2, "PREVIEW", 2, TEST_CAMPAIGN_ID),
            (agent2, "READY", 3, None),
            (agent2, "LOGGED_OUT", 40, None),
        ]
        for seq, (agent, state, minutes, campaign) in enumerate(log):
            conn.execute(
                insert(agent_state_log).values(
                    tenant_id=tenant_id,
                    agent_id=agent,
                    seq=seq,
                    state=state,
                    reason="break" if state == "PAUSED" else None,
                    at=base + timedelta(minutes=minutes),
                    campaign_id=campaign,
                    interaction_id=f"{0:032X}"
                    if state in ("TALKING", "WRAPUP", "PREVIEW")
                    else None,
                )
            )
    return agent1, agent2, people


def test_statistics_rows_per_campaign_and_agent_equal_recomputed_sums(
    http: httpx.Client, db: Database, demo: str
) -> None:
    agent1, agent2, _ = _seed(db, demo)
    answer = http.get("/RI/obi/statistics", params={"startDate": DAY, "endDate": DAY}, headers=JSON)
    assert answer.status_code == 200, answer.text
    rows = {(r["campaignId"], r["agentId"]): r for r in answer.json()}
    assert set(rows) == {
        (TEST_CAMPAIGN_ID, agent1),
        (TEST_CAMPAIGN_ID, agent2),
        (TEST_CAMPAIGN_ID, None),
    }
    one = rows[(TEST_CAMPAIGN_ID, agent1)]
    assert one["agentName"] == "Alice Agent"
    assert one["campaignName"] == "Test Campaign"
    assert (one["numberOfCalls"], one["numberOfSuccessfulCalls"], one["numberOfRefusalCalls"]) == (
        2,
        2,
        1,
    )
    assert (one["numberOfAmountCalls"], one["amount"], one["numberOfHandledCustomers"]) == (
        1,
        25.0,
        2,
    )
    # The first minute READY precedes any campaign work, so it belongs to no campaign;
    # then 4 talking, 1 wrap, 4 paused and 20 ready minutes count for Test Campaign.
    assert one["loginTime"] == 29 * 60
    assert (one["talkingTime"], one["wrapTime"], one["pauseTime"]) == (240, 60, 240)
    assert one["waitTime"] == 20 * 60
    two = rows[(TEST_CAMPAIGN_ID, agent2)]
    assert (two["numberOfCalls"], two["numberOfSkipCalls"], two["previewTime"]) == (2, 1, 60)
    assert two["loginTime"] == 40 * 60
    dialer = rows[(TEST_CAMPAIGN_ID, None)]
    assert dialer["agentName"] is None
    assert (
        dialer["numberOfAbandonedCalls"],
        dialer["numberOfNotDialedCalls"],
        dialer["numberOfHangupCalls"],
    ) == (1, 1, 1)
    assert (dialer["numberOfHandledCustomers"], dialer["loginTime"]) == (1, 0)
    assert "numberOfAgents" not in dialer
    only = http.get(
        "/RI/obi/statistics",
        params={"agentId": agent2, "campaignId": TEST_CAMPAIGN_ID},
        headers=JSON,
    )
    assert [r["agentId"] for r in only.json()] == [agent2]
    yesterday = (TODAY - timedelta(days=1)).strftime("%Y-%m-%dT00:00:00Z")
    empty = http.get(
        "/RI/obi/statistics", params={"startDate": yesterday, "endDate": yesterday}, headers=JSON
    )
    assert empty.json() == []


def test_campaign_stats_total_and_daily_match_the_per_agent_sums(
    http: httpx.Client, db: Database, demo: str
) -> None:
    _agent1, agent2, _ = _seed(db, demo)
    rows = http.get("/RI/obi/statistics", headers=JSON).json()
    summed = {
        key: sum(r[key] for r in rows)
        for key in ("numberOfCalls", "talkingTime", "loginTime", "amount")
    }
    answer = http.get(
        "/RI/obi/campaigns", params={"statistics": "true", "name": "Test Campaign"}, headers=JSON
    )
    stats = answer.json()[0]["stats"]
    assert set(stats) == {"total"}  # a passive campaign with no activity today has no daily part
    dated = http.get(
        "/RI/obi/campaigns",
        params={"statistics": "true", "statisticsDate": DAY, "name": "Test Campaign"},
        headers=JSON,
    ).json()[0]["stats"]
    assert set(dated) == {"daily"}
    stats = {**stats, **dated}
    for part in ("total", "daily"):
        for key, value in summed.items():
            assert stats[part][key] == value, (part, key)
        assert stats[part]["numberOfAgents"] == 2
        assert stats[part]["numberOfHandledCustomers"] == 3
    assert stats["total"]["numberOfCustomers"] == 5
    agent_only = http.get(
        "/RI/obi/campaigns", params={"statistics": "true", "agentId": agent2}, headers=JSON
    ).json()
    assert [c["id"] for c in agent_only] == [TEST_CAMPAIGN_ID]
    assert agent_only[0]["stats"]["total"]["numberOfCalls"] == 2
    assert agent_only[0]["stats"]["total"]["numberOfAgents"] == 1
    preview = http.get(
        f"/RI/obi/campaigns/{PREVIEW_CAMPAIGN_ID}", params={"statistics": "true"}, headers=JSON
    )
    assert "stats" not in preview.json()
    # By id, a campaign without the agents' statistics is still answered, without stats.
    for campaign_id, has_stats in ((TEST_CAMPAIGN_ID, True), (PREVIEW_CAMPAIGN_ID, False)):
        one = http.get(
            f"/RI/obi/campaigns/{campaign_id}",
            params={"statistics": "true", "agentId": agent2},
            headers=JSON,
        )
        assert one.status_code == 200, one.text
        assert ("stats" in one.json()) is has_stats


def test_statistics_days_must_be_whole_utc_days(http: httpx.Client, demo: str) -> None:
    for params in (
        {"startDate": "2020-06-29T12:00:00.000Z"},
        {"endDate": "2020-07-29T00:00:01Z"},
        {"startDate": "2020-07-02T00:00:00Z", "endDate": "2020-07-01T00:00:00Z"},
        {"campaignId": "Test*"},
        {"agentId": "x"},
        {"other": "1"},
    ):
        answer = http.get("/RI/obi/statistics", params=params, headers=JSON)
        assert answer.status_code == 400, params
    ok = http.get(
        "/RI/obi/statistics", params={"startDate": "2020-06-29T00:00:00.000Z"}, headers=JSON
    )
    assert ok.status_code == 200
