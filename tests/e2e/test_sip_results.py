"""SIP final answers become the seed's call_result, with the status kept and the retry planned.

The "trunk" is a sipp far end answering the customer's INVITE as each case says,
and a kamailio that demands digest authentication (407) before relaying to a
real phone. Calls are placed by a real Rappel on SIP (customer-first callbacks,
which dial the customer before any agent).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, select

from rappel.domain.codes import CallbackStatus, CallResult
from rappel.store.tables import attempts, interactions
from tests.support.databases import postgres_database
from tests.support.kamailio import kamailio_trunk
from tests.support.peers import wait_until
from tests.support.sip_lab import CUSTOMER_HZ, PROMPT_HZ, TOKEN, SipLab
from tests.support.sipp import sipp_uas
from tests.support.tones import tone_sequence

CUSTOMER = "16505551212"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rappel.db'}"
        return
    with postgres_database() as url:
        yield url


def _callback(lab: SipLab) -> str:
    query = {
        "tenant": "Acme",
        "token": TOKEN,
        "phone": CUSTOMER,
        "callback_type": "1",
        "channel_number": "18006661212",
    }
    answer = httpx.get(f"{lab.base}/SC/webcallback.php", params=query, timeout=10)
    assert answer.json()["status"] == "ok", answer.text
    return str(answer.json()["interaction_id"])


def _rows(url: str, interaction_id: str) -> tuple[list[dict[str, object]], dict[str, object]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        tried = [
            dict(r)
            for r in conn.execute(
                select(attempts).where(attempts.c.interaction_id == interaction_id)
            ).mappings()
        ]
        callback = dict(
            conn.execute(select(interactions).where(interactions.c.id == interaction_id))
            .mappings()
            .one()
        )
    engine.dispose()
    return tried, callback


@pytest.mark.parametrize(
    ("scenario", "fill", "result", "cause", "retried"),
    [
        ("uas_reject.xml", {"status": "486", "reason": "Busy Here"}, CallResult.BUSY,
         "SIP 486 Busy Here", True),
        ("uas_reject.xml", {"status": "600", "reason": "Busy Everywhere"}, CallResult.BUSY,
         "SIP 600 Busy Everywhere", True),
        ("uas_reject.xml", {"status": "404", "reason": "Not Found"}, CallResult.SIT_INVALID_NUM,
         "SIP 404 Not Found", False),
        ("uas_reject.xml", {"status": "503", "reason": "Service Unavailable"},
         CallResult.ALL_TRUNKS_BUSY, "SIP 503 Service Unavailable", True),
        ("uas_noanswer.xml", None, CallResult.NO_ANSWER, "SIP 487", True),
    ],
    ids=["486", "600", "404", "503", "ring-timeout"],
)  # fmt: skip
def test_a_sip_final_answer_is_recorded_with_its_call_result(
    tmp_path: Path,
    database_url: str,
    scenario: str,
    fill: dict[str, str] | None,
    result: CallResult,
    cause: str,
    retried: bool,
) -> None:
    url = database_url
    with (
        sipp_uas(scenario, tmp_path, fill=fill, timeout_s=90) as far_end,
        # No OPTIONS probes: sipp's script expects the INVITE first.
        SipLab(
            tmp_path, url, trunk=f"sip:127.0.0.1:{far_end.port}", sip_options_interval_s="0"
        ) as lab,
    ):
        lab.start()
        interaction_id = _callback(lab)
        wait_until(
            lambda: any(a["ended_at"] for a in _rows(url, interaction_id)[0]),
            60,
            "the attempt's outcome",
        )
        assert far_end.finished(30) == 0, far_end.log()  # sipp saw its ACK (and our CANCEL)
        tried, callback = _rows(url, interaction_id)
    assert len(tried) == 1
    assert tried[0]["call_result"] == int(result)
    assert str(tried[0]["network_cause"]).startswith(cause)
    assert tried[0]["dialed"] is True
    if retried:
        # Not final: the retry policy planned the next attempt for later.
        assert callback["callback_status"] != int(CallbackStatus.FINAL)
        assert callback["due_at"] is not None
    else:
        assert callback["callback_status"] == int(CallbackStatus.FINAL)


def test_the_trunk_demands_a_password_and_rappel_answers_the_407(
    tmp_path: Path, database_url: str
) -> None:
    url = database_url
    with SipLab(tmp_path, url) as lab:
        customer = lab.phone(CUSTOMER, CUSTOMER_HZ)
        with kamailio_trunk(tmp_path, relay=customer.uri) as trunk:
            lab.settings.update(trunk=trunk.uri, sip_username="rappel", sip_password="s3cret")
            lab.start()
            _callback(lab)
            customer.wait_for("CALL_ESTABLISHED", timeout_s=30)
            time.sleep(3)  # the prompt plays
            customer.hangup()
            log = trunk.log()
    assert "challenging INVITE" in log
    assert "authenticated rappel" in log
    assert tone_sequence(customer.heard(), freqs=[PROMPT_HZ])[:1] == [PROMPT_HZ]
