"""A progressive campaign on real calls: two agents' phones stay connected, ten customers join.

The customers are a sipp far end that answers every call and echoes its audio
(`-rtp_echo`), so an agent hears its own tone back only while Rappel has joined
it to a customer. Each agent's phone must ring once for the whole campaign
(the nailed-up line), and every customer's attempt must end OK.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from rappel.services.demo import TEST_CAMPAIGN_ID
from rappel.store.tables import attempts
from tests.support.databases import postgres_database
from tests.support.peers import require_binary, wait_until
from tests.support.sip_lab import AGENT_HZ, SipLab
from tests.support.sipp import SCENARIOS, bound, free_port
from tests.support.tones import tone_sequence

CUSTOMERS = [f"1650555{3000 + k}" for k in range(10)]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rappel.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def customers(tmp_path: Path) -> Iterator[int]:
    """sipp answering (and echoing) up to len(CUSTOMERS) calls; its SIP port."""
    binary = require_binary("sipp")
    port = free_port()
    command = [
        binary, "-sf", str(SCENARIOS / "uas_answer.xml"), "-i", "127.0.0.1", "-p", str(port),
        "-t", "u1", "-m", str(len(CUSTOMERS) + 5), "-nostdin", "-rtp_echo",
        "-mp", str(free_port()), "-cp", str(free_port()),
    ]  # fmt: skip
    with (tmp_path / "sipp.out").open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                   cwd=tmp_path, start_new_session=True)  # fmt: skip
    try:
        wait_until(lambda: bound(port, process, "udp"), 15, "sipp listening")
        yield port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _ended(url: str) -> list[dict[str, object]]:
    """The attempts on this test's customers (the demo's own customer is in the list too)."""
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [
            dict(r)
            for r in conn.execute(
                select(attempts).where(attempts.c.campaign_id == TEST_CAMPAIGN_ID)
            ).mappings()
        ]
    engine.dispose()
    return [r for r in rows if str(r["number"]).lstrip("+") in CUSTOMERS]


def test_a_progressive_campaign_joins_ten_customers_to_two_nailed_up_agent_phones(
    tmp_path: Path, database_url: str, customers: int
) -> None:
    with SipLab(
        tmp_path, database_url, trunk=f"sip:127.0.0.1:{customers}", sip_options_interval_s="0"
    ) as lab:
        phones = {name: lab.phone(name, AGENT_HZ) for name in ("agent1", "agent2")}
        lab.start()
        agents = {name: lab.set_phone(name, phone.uri) for name, phone in phones.items()}
        with lab.client() as api:
            mode = api.patch(
                f"/v1/campaigns/{TEST_CAMPAIGN_ID}", json={"dialing_mode": "PROGRESSIVE"}
            )
            assert mode.status_code == 200, mode.text
            body = [{"externalId": f"c-{n}", "numbers": f"+{n}"} for n in CUSTOMERS]
            added = api.post(f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers/list", json=body)
            assert added.status_code in (200, 201), added.text
            active = api.put(
                f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/status",
                content="Active",
                headers={"Content-Type": "text/plain"},
            )
            assert active.status_code == 204, active.text
        for agent_id in agents.values():
            lab.agent(agent_id, "login")

        # The agents work: talk a moment with each customer they get, then wrap up.
        deadline = time.monotonic() + 180
        while len([a for a in _ended(database_url) if a["ended_at"]]) < len(CUSTOMERS):
            assert time.monotonic() < deadline, _ended(database_url)
            for agent_id in agents.values():
                with lab.client() as api:
                    state = api.get("/v1/agent/state", params={"agent_id": agent_id}).json()
                if state["state"] == "TALKING":
                    time.sleep(1.0)
                    lab.agent(agent_id, f"calls/{state['interaction_id']}/hangup")
                elif state["state"] == "WRAPUP":
                    lab.agent(agent_id, f"calls/{state['interaction_id']}/wrapup", result="SUCCESS")
            time.sleep(0.2)
        for agent_id in agents.values():
            lab.agent(agent_id, "logout")
        for phone in phones.values():
            phone.wait_for("CALL_CLOSED", timeout_s=20)

    tried = _ended(database_url)
    assert sorted(str(a["number"]).lstrip("+") for a in tried) == sorted(CUSTOMERS)
    assert {a["call_result"] for a in tried} == {0}
    assert {a["agent_id"] for a in tried} == set(agents.values())
    for phone in phones.values():
        # One call for the whole campaign, and the echo of its own tone through the customers.
        assert phone.event_types().count("CALL_ESTABLISHED") == 1, phone.event_types()
        assert AGENT_HZ in tone_sequence(phone.heard(), freqs=[AGENT_HZ])
