"""OBI statistics from records, against hand-computed expectations.

The scenario: campaign CAMP over two UTC days (2026-03-02 and 03), agents G
and H, customers c1..c7 and c9; campaign CAMP2 has c8 only. Expected numbers
are worked out in the comments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from rappel.domain.agent import Agent, AgentStateChange
from rappel.domain.codes import CallResult
from rappel.domain.results import CustomerResult
from rappel.domain.statistics import (
    AttemptRecord,
    CampaignStatistics,
    CustomerRecord,
    ResultCount,
    Window,
    campaign_counts,
    campaign_statistics,
    customer_result_statistics,
    daily_statistics,
    statistics_by_agent,
    total_statistics,
)

R = CustomerResult
C = CallResult
CAMP, CAMP2 = "C" * 32, "D" * 32
G, H = "G" * 32, "H" * 32
DAY1, DAY2 = date(2026, 3, 2), date(2026, 3, 3)
NOW = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def d1(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


def d2(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 3, hour, minute, tzinfo=UTC)


def customer(
    cid: str,
    result: CustomerResult,
    created: datetime,
    call_result: CustomerResult | None = None,
    classifier: str | None = None,
    call_count: int = 0,
    next_call_at: datetime | None = None,
    campaign: str = CAMP,
) -> CustomerRecord:
    return CustomerRecord(
        cid, campaign, result, created, call_result, classifier, call_count, next_call_at
    )


CUSTOMERS = [
    customer("c1", R.SUCCESS, d1(8), R.SUCCESS, "Offer accepted", 2),
    customer("c2", R.REFUSAL, d1(8), R.REFUSAL, "Refusal", 1),
    customer("c3", R.MAXCALLS, d1(8), R.NOANSWER, None, 4),
    customer("c4", R.DIALING, d2(8)),
    customer("c5", R.BUSY, d2(8), R.BUSY, None, 1, next_call_at=d2(12)),
    customer("c6", R.FILTERED, d2(8)),
    customer("c7", R.CALLBACK, d1(8), R.CALLBACK, "Call later", 2, next_call_at=d2(9)),
    customer("c9", R.REFUSAL, d1(8), R.REFUSAL, "Refusal", 0),
    customer("c8", R.SUCCESS, d2(8), R.SUCCESS, "Offer accepted", 1, campaign=CAMP2),
]


def attempt(
    cid: str,
    agent: str | None,
    at: datetime,
    call_result: CallResult | None,
    result: CustomerResult,
    amount: float | None = None,
    dialed: bool = True,
    campaign: str = CAMP,
) -> AttemptRecord:
    return AttemptRecord(campaign, cid, agent, at, call_result, result, amount, dialed)


ATTEMPTS = [
    attempt("c1", None, d1(9), C.BUSY, R.BUSY),
    attempt("c1", G, d2(9), C.OK, R.SUCCESS, amount=100.0),
    attempt("c2", G, d1(10), C.OK, R.REFUSAL),
    attempt("c3", None, d1(9, 10), C.NO_ANSWER, R.NOANSWER),
    attempt("c3", None, d1(9, 20), C.NO_ANSWER, R.NOANSWER),
    attempt("c3", None, d1(9, 30), C.NO_ANSWER, R.NOANSWER),
    attempt("c3", None, d2(9, 40), C.NO_ANSWER, R.NOANSWER),
    attempt("c5", H, d2(9, 30), None, R.AGENT_REJECTED, dialed=False),
    attempt("c5", None, d2(9, 35), C.BUSY, R.BUSY),
    attempt("c7", H, d1(11), C.OK, R.CALLBACK),
    attempt("c7", None, d1(11, 30), C.ABANDONED, R.ABANDONED),
    attempt("c8", G, d2(9, 30), C.OK, R.SUCCESS, amount=7.0, campaign=CAMP2),
]


def agent_log() -> list[AgentStateChange]:
    g = Agent(G)
    g.login(d1(8), campaign_id=CAMP)  # READY 08:00-09:55   6900 s wait
    g.preview("I1", CAMP, d1(9, 55))  # PREVIEW               60 s
    g.dial(d1(9, 56))  # DIALING                             240 s call
    g.talk(d1(10))  # TALKING                                300 s
    g.wrap_up(d1(10, 5))  # WRAPUP                            60 s
    g.ready(d1(10, 6))  # READY 10:06-12:00 (still CAMP)     6840 s wait
    g.logout(d1(12))
    g.login(d2(8, 30), campaign_id=CAMP)  # READY           1800 s wait
    g.talk(d2(9), "I2", CAMP)  # TALKING                      600 s
    g.wrap_up(d2(9, 10))  # WRAPUP                            600 s
    g.ready(d2(9, 20), campaign_id=CAMP2)  # READY for CAMP2  600 s
    g.logout(d2(9, 30))
    h = Agent(H)
    h.login(d1(8), paused_reason="meeting", campaign_id=CAMP)  # PAUSED 3600 s
    h.ready(d1(9))  # READY                                    1800 s wait
    h.logout(d1(9, 30))
    h.login(d2(9), campaign_id=CAMP)  # READY                 1800 s wait
    h.preview("I3", CAMP, d2(9, 30))  # PREVIEW                 60 s
    h.ready(d2(9, 31))  # READY until NOW 10:00               1740 s wait
    h.logout(d2(10))
    return g.changes + h.changes


def test_total_statistics_of_a_campaign() -> None:
    stats = total_statistics(CAMP, ATTEMPTS, CUSTOMERS, agent_log(), NOW)
    assert stats == CampaignStatistics(
        numberOfHandledCustomers=2,  # c1 and c2; c9 was never called
        numberOfCalls=11,
        numberOfSuccessfulCalls=2,
        numberOfRefusalCalls=1,
        numberOfAmountCalls=1,
        numberOfSkipCalls=0,
        numberOfRejectCalls=1,
        numberOfOperLogoutCalls=0,
        numberOfNotDialedCalls=0,
        numberOfHangupCalls=0,
        numberOfAbandonedCalls=1,
        amount=100.0,
        loginTime=26400.0,
        pauseTime=3600.0,
        waitTime=20880.0,
        previewTime=120.0,
        callTime=240.0,
        talkingTime=900.0,
        wrapTime=660.0,
        numberOfCustomers=8,
        numberOfAgents=2,
    )


def test_daily_statistics_of_the_first_day() -> None:
    stats = daily_statistics(CAMP, DAY1, ATTEMPTS, CUSTOMERS, agent_log(), NOW)
    assert stats.numberOfCalls == 7
    assert stats.numberOfHandledCustomers == 1  # c2; c1 was handled on day 2
    assert (stats.numberOfSuccessfulCalls, stats.numberOfRefusalCalls) == (1, 1)
    assert (stats.numberOfAbandonedCalls, stats.amount) == (1, 0.0)
    assert (stats.loginTime, stats.pauseTime, stats.waitTime) == (19800.0, 3600.0, 15540.0)
    assert (stats.previewTime, stats.callTime, stats.talkingTime, stats.wrapTime) == (
        60.0,
        240.0,
        300.0,
        60.0,
    )
    assert (stats.numberOfCustomers, stats.numberOfAgents) == (5, 2)


def test_daily_statistics_of_the_second_day() -> None:
    stats = daily_statistics(CAMP, DAY2, ATTEMPTS, CUSTOMERS, agent_log(), NOW)
    assert stats.numberOfCalls == 4
    assert stats.numberOfHandledCustomers == 1
    assert (stats.numberOfSuccessfulCalls, stats.numberOfRejectCalls) == (1, 1)
    assert (stats.numberOfAmountCalls, stats.amount) == (1, 100.0)
    assert (stats.loginTime, stats.waitTime, stats.previewTime) == (6600.0, 5340.0, 60.0)
    assert (stats.talkingTime, stats.wrapTime, stats.pauseTime) == (600.0, 600.0, 0.0)
    assert stats.numberOfCustomers == 3


def test_day_without_activity_is_all_zero() -> None:
    stats = daily_statistics(CAMP, date(2026, 3, 9), ATTEMPTS, CUSTOMERS, agent_log(), NOW)
    assert stats == CampaignStatistics()


def test_statistics_are_grouped_by_campaign_and_agent() -> None:
    rows = statistics_by_agent(ATTEMPTS, CUSTOMERS, agent_log(), Window(), NOW)
    assert set(rows) == {(CAMP, None), (CAMP, G), (CAMP, H), (CAMP2, G)}
    mine = rows[(CAMP, G)]
    assert (mine.numberOfCalls, mine.numberOfSuccessfulCalls, mine.amount) == (2, 2, 100.0)
    assert (mine.numberOfHandledCustomers, mine.numberOfCustomers) == (2, 2)
    assert (mine.loginTime, mine.waitTime, mine.talkingTime) == (17400.0, 15540.0, 900.0)
    dialer = rows[(CAMP, None)]
    assert (dialer.numberOfCalls, dialer.numberOfAbandonedCalls) == (7, 1)
    assert (dialer.loginTime, dialer.numberOfAgents, dialer.numberOfCustomers) == (0.0, 0, 4)
    h = rows[(CAMP, H)]
    assert (h.numberOfRejectCalls, h.pauseTime, h.loginTime) == (1, 3600.0, 9000.0)
    other = rows[(CAMP2, G)]
    assert (other.numberOfCalls, other.amount, other.waitTime) == (1, 7.0, 600.0)


def test_grouped_rows_add_up_to_the_campaign_total() -> None:
    rows = statistics_by_agent(ATTEMPTS, CUSTOMERS, agent_log(), Window(), NOW)
    total = total_statistics(CAMP, ATTEMPTS, CUSTOMERS, agent_log(), NOW)
    camp_rows = [s for (campaign, _), s in rows.items() if campaign == CAMP]
    for name in ("numberOfCalls", "numberOfHandledCustomers", "amount", "loginTime"):
        assert sum(getattr(s, name) for s in camp_rows) == getattr(total, name), name


def test_grouped_statistics_of_one_day() -> None:
    rows = statistics_by_agent(ATTEMPTS, CUSTOMERS, agent_log(), Window.days(DAY2, DAY2), NOW)
    assert rows[(CAMP, G)].numberOfCalls == 1
    assert rows[(CAMP, G)].loginTime == 3000.0
    assert rows[(CAMP, None)].numberOfCalls == 2


def test_obi_dictionary_keeps_the_seed_key_order() -> None:
    keys = list(CampaignStatistics().to_obi())
    assert keys == [
        "numberOfHandledCustomers",
        "numberOfCalls",
        "numberOfSuccessfulCalls",
        "numberOfRefusalCalls",
        "numberOfAmountCalls",
        "numberOfSkipCalls",
        "numberOfRejectCalls",
        "numberOfOperLogoutCalls",
        "numberOfNotDialedCalls",
        "numberOfHangupCalls",
        "numberOfAbandonedCalls",
        "amount",
        "loginTime",
        "pauseTime",
        "waitTime",
        "previewTime",
        "callTime",
        "talkingTime",
        "wrapTime",
        "numberOfCustomers",
        "numberOfAgents",
    ]
    assert "numberOfAgents" not in CampaignStatistics().to_obi(with_agents=False)


def test_expired_callbacks_count_as_abandoned() -> None:
    expired = [attempt("c4", None, d2(9), None, R.EXPIRED, dialed=False)]
    stats = campaign_statistics(CAMP, expired, CUSTOMERS, [], Window(), NOW)
    assert stats.numberOfAbandonedCalls == 1


def test_customer_results_are_grouped_by_result_call_result_and_classifier() -> None:
    rows = customer_result_statistics(c for c in CUSTOMERS if c.campaign_id == CAMP)
    assert rows == [
        ResultCount(R.BUSY, R.BUSY, None, 1),
        ResultCount(R.CALLBACK, R.CALLBACK, "Call later", 1),
        ResultCount(R.DIALING, None, None, 1),
        ResultCount(R.FILTERED, None, None, 1),
        ResultCount(R.MAXCALLS, R.NOANSWER, None, 1),
        ResultCount(R.REFUSAL, R.REFUSAL, "Refusal", 2),
        ResultCount(R.SUCCESS, R.SUCCESS, "Offer accepted", 1),
    ]
    assert rows[2].to_obi() == {"result": "DIALING", "count": 1}
    assert rows[5].to_obi() == {
        "result": "REFUSAL",
        "callResult": "REFUSAL",
        "classifier": "Refusal",
        "count": 2,
    }


@pytest.mark.parametrize(
    ("retry_count", "max_calls", "callable_"),
    [(3, 1, 2), (5, 0, 3)],  # raising RetryCount reopens c3
)
def test_campaign_counts(retry_count: int, max_calls: int, callable_: int) -> None:
    counts = campaign_counts(
        (c for c in CUSTOMERS if c.campaign_id == CAMP), NOW, retry_count=retry_count
    )
    assert (counts.total, counts.handled, counts.notHandled) == (8, 3, 5)
    assert (counts.maxCalls, counts.filtered, counts.callable) == (max_calls, 1, callable_)


def test_window_of_days_covers_whole_utc_days() -> None:
    window = Window.days(DAY1, DAY2)
    assert d1(0) in window
    assert d2(23, 59) in window
    assert d2(0) + timedelta(days=1) not in window
    assert d1(0) - timedelta(microseconds=1) not in window
