"""kill -9 of Rappel mid-call: the next process ends the call's media and never re-dials at once.

An agent-first callback is connected (agent and customer phones talking through
rtpengine), then the process is killed. The process that starts next takes
the callback over: it asks its driver about the open attempt, which cannot know
another process's call, so the driver ends the media that call left on rtpengine
(both legs), and the attempt is closed counted as abandoned, so the customer is
not called again at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from rappel.store.tables import attempts, interactions
from rappel.telephony.media import MediaAnchor
from tests.support.databases import postgres_database
from tests.support.peers import wait_until
from tests.support.sip_lab import AGENT_HZ, CUSTOMER_HZ, TOKEN, SipLab

CUSTOMER = "16505551212"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rappel.db'}"
        return
    with postgres_database() as url:
        yield url


def _holder(url: str, interaction_id: str) -> int:
    """The pid of the worker holding the callback's lease (owners are host:pid:n)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        owner = conn.execute(
            select(interactions.c.lease_owner).where(interactions.c.id == interaction_id)
        ).scalar_one()
    engine.dispose()
    return int(str(owner).split(":")[1])


def _attempts(url: str) -> list[dict[str, object]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(attempts)).mappings()]
    engine.dispose()
    return rows


def _carried(address: str, call_ids: list[str]) -> list[str]:
    async def ask() -> list[str]:
        anchor = MediaAnchor(address)
        try:
            return [c for c in call_ids if await anchor.exists(c)]
        finally:
            await anchor.close()

    return asyncio.run(ask())


def test_a_killed_process_leaves_no_media_behind_and_the_customer_is_not_called_again(
    tmp_path: Path, database_url: str
) -> None:
    """SQLite: the one process is killed and started again. PostgreSQL: two workers, and
    the one holding the call is killed; the other takes it over when the lease runs out."""
    url = database_url
    postgres = url.startswith("postgresql")
    extra = {"run_engine": "false"} if postgres else {}
    with SipLab(tmp_path, url, lease_s="3", **extra) as lab:
        agent = lab.phone("agent1", AGENT_HZ)
        customer = lab.phone(CUSTOMER, CUSTOMER_HZ)
        lab.trunk_phone = CUSTOMER
        first = lab.start()
        workers = [lab.worker(), lab.worker()] if postgres else [first]
        agent_id = lab.set_phone("agent1", agent.uri)
        lab.agent(agent_id, "login")
        with lab.client() as api:
            answer = api.get(
                "/SC/webcallback.php",
                params={
                    "tenant": "Acme",
                    "token": TOKEN,
                    "phone": CUSTOMER,
                    "callback_type": "2",
                    "queue_id": "103",
                    "expiration": "3600",
                },
            )
        interaction_id = answer.json()["interaction_id"]
        lab.agent(agent_id, f"offers/{lab.wait_offer(agent_id)}/accept")
        customer.wait_for("CALL_ESTABLISHED", timeout_s=30)
        lab.wait_state(agent_id, "TALKING")
        (placed,) = _attempts(url)
        legs = [str(placed["call_id"]), f"{placed['call_id']}-agent"]
        assert _carried(lab.rtpengine.address, legs) == legs

        pid = _holder(url, interaction_id)
        (victim,) = [w for w in workers if w.popen.pid == pid]
        victim.kill()
        killed_at = time.monotonic()
        if not postgres:
            lab.serve()
        wait_until(lambda: bool(_attempts(url)[0]["ended_at"]), 30, "the open attempt closed")
        wait_until(
            lambda: not _carried(lab.rtpengine.address, legs), 30, "the dead process's media gone"
        )
        ended_after = time.monotonic() - killed_at
        time.sleep(5)  # a re-dial at once would have happened by now
        tried = _attempts(url)
        assert len(tried) == 1, tried
        assert tried[0]["interaction_id"] == interaction_id
        assert tried[0]["customer_result"] == "ABANDONED"
        assert customer.event_types().count("CALL_ESTABLISHED") == 1
    assert ended_after < 30
