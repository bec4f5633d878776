"""Web callbacks as real calls: Rappel on SIP, rtpengine, and baresip phones for agent and customer.

Each phone sends its own tone (customer 440 Hz, agent 1000 Hz) and the demo
channel's IVR prompt is a 600 Hz tone, so the phones' recordings prove who heard
whom and in which order. The 8x8 requests are the README's examples.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rappel.domain.codes import CallbackStatus
from tests.support.databases import postgres_database
from tests.support.loopback import LoopbackServer, Reply
from tests.support.peers import wait_until
from tests.support.sip_lab import AGENT_HZ, CUSTOMER_HZ, PROMPT_HZ, TOKEN, SipLab, talk_for
from tests.support.tones import tone_sequence

CUSTOMER = "16505551212"
TONES = [CUSTOMER_HZ, PROMPT_HZ, AGENT_HZ]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rappel.db'}"
        return
    with postgres_database() as url:
        yield url


@pytest.fixture
def webhooks() -> Iterator[LoopbackServer]:
    with LoopbackServer() as server:
        server.reply("/done", lambda _r: Reply.json({"ok": True}))
        yield server


@pytest.fixture
def lab(tmp_path: Path, database_url: str) -> Iterator[SipLab]:
    with SipLab(tmp_path, database_url) as lab:
        yield lab


def _webcallback(lab: SipLab, webhook: str, **params: str) -> str:
    query = {
        "tenant": "Acme",
        "token": TOKEN,
        "phone": CUSTOMER,
        "ctl_userdata": f"[ctl_callbackUrl|{webhook}][order|A-17]",
        **params,
    }
    answer = httpx.get(f"{lab.base}/SC/webcallback.php", params=query, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "ok", answer.text
    return str(answer.json()["interaction_id"])


def _finish(lab: SipLab, agent_id: str, interaction_id: str, webhooks: LoopbackServer) -> None:
    lab.wait_state(agent_id, "WRAPUP")
    lab.agent(agent_id, f"calls/{interaction_id}/wrapup", result="SUCCESS", classifier="done")
    wait_until(
        lambda: lab.interaction(interaction_id)["callback_status"] == int(CallbackStatus.FINAL),
        30,
        "the callback FINAL",
    )
    wait_until(lambda: bool(webhooks.requests_to("/done")), 30, "the ctl_callbackUrl webhook")


def test_agent_first_callback_rings_the_agent_then_the_customer_and_joins_them(
    lab: SipLab, webhooks: LoopbackServer
) -> None:
    agent = lab.phone("agent1", AGENT_HZ)
    customer = lab.phone(CUSTOMER, CUSTOMER_HZ)
    lab.trunk_phone = CUSTOMER
    lab.start()
    agent_id = lab.set_phone("agent1", agent.uri)
    assert lab.agent(agent_id, "login")["state"] == "READY"

    interaction_id = _webcallback(
        lab, webhooks.url("/done"), callback_type="2", queue_id="103", expiration="3600"
    )
    assert lab.wait_offer(agent_id) == interaction_id
    lab.agent(agent_id, f"offers/{interaction_id}/accept")

    agent.wait_for("CALL_ESTABLISHED", timeout_s=20)
    customer.wait_for("CALL_ESTABLISHED", timeout_s=20)
    lab.wait_state(agent_id, "TALKING")
    talk_for(3)
    customer.hangup()
    agent.wait_for("CALL_CLOSED", timeout_s=20)
    _finish(lab, agent_id, interaction_id, webhooks)

    record = lab.interaction(interaction_id)
    assert record["attempts"] == 1
    assert record["call_result"] == 0  # OK
    # The customer heard the agent (and no prompt: agent-first plays none); the agent, the customer.
    assert tone_sequence(customer.heard(), freqs=TONES)[:1] == [AGENT_HZ]
    assert PROMPT_HZ not in tone_sequence(customer.heard(), freqs=TONES)
    assert CUSTOMER_HZ in tone_sequence(agent.heard(), freqs=TONES)


def test_customer_first_callback_plays_the_prompt_then_joins_an_agent(
    lab: SipLab, webhooks: LoopbackServer
) -> None:
    agent = lab.phone("agent1", AGENT_HZ)
    customer = lab.phone(CUSTOMER, CUSTOMER_HZ)
    lab.trunk_phone = CUSTOMER
    lab.start()
    agent_id = lab.set_phone("agent1", agent.uri)
    lab.agent(agent_id, "login")

    interaction_id = _webcallback(
        lab,
        webhooks.url("/done"),
        callback_type="1",
        channel_number="18006661212",
        caller_id="18006664444",
    )
    customer.wait_for("CALL_ESTABLISHED", timeout_s=30)
    assert lab.wait_offer(agent_id) == interaction_id
    lab.agent(agent_id, f"offers/{interaction_id}/accept")
    agent.wait_for("CALL_ESTABLISHED", timeout_s=20)
    lab.wait_state(agent_id, "TALKING")
    talk_for(3)
    customer.hangup()
    agent.wait_for("CALL_CLOSED", timeout_s=20)
    _finish(lab, agent_id, interaction_id, webhooks)

    heard = tone_sequence(customer.heard(), freqs=TONES)
    assert heard[:2] == [PROMPT_HZ, AGENT_HZ], heard  # the IVR prompt, then the agent
    assert CUSTOMER_HZ in tone_sequence(agent.heard(), freqs=TONES)
    assert lab.interaction(interaction_id)["attempts"] == 1
