"""Flow rules on the virtual clock with the sim driver: calling hours and personal callbacks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from rappel.domain.agent import AgentState
from rappel.domain.codes import CallbackFlow, CallbackStatus
from tests.e2e.test_callback_flows import ANSWER, EngineHarness, run_scenario


def test_callback_due_at_night_waits_for_the_hard_limits_in_the_customers_zone(
    tmp_path: Path,
) -> None:
    run_scenario(tmp_path, _night)


async def _night(h: EngineHarness) -> None:
    # 17:00 UTC is 09:00 in Los Angeles; ask for 05:00 UTC next day = 21:00 LA (closed).
    night = h.clock.now() + timedelta(hours=12)
    iid = h.request(ANSWER, CallbackFlow.CUSTOMER_FIRST, start_time=night)
    await h.advance(12 * 3600 + 60, step=600)
    assert h.status(iid) is CallbackStatus.TIMER
    assert h.attempts(iid) == []
    opening = night + timedelta(hours=11)  # 08:00 LA
    assert h.interaction(iid)["due_at"] == opening
    await h.advance(11 * 3600, step=600)
    await h.advance(30)
    assert len(h.attempts(iid)) == 1


def test_personal_callback_is_offered_to_its_agent_before_a_longer_idle_one(
    tmp_path: Path,
) -> None:
    run_scenario(tmp_path, _personal)


async def _personal(h: EngineHarness) -> None:
    alice, bob = h.agent("agent1"), h.agent("agent2")
    h.login(alice)
    await h.advance(60)
    h.login(bob)
    iid = h.request(ANSWER, CallbackFlow.AGENT_FIRST)
    with h.db.begin() as conn:
        from rappel.store.tables import interactions

        conn.execute(interactions.update().where(interactions.c.id == iid).values(agent_id=bob))
    await h.advance(1)
    assert h.state(bob).state is AgentState.PREVIEW
    assert h.state(alice).state is AgentState.READY
