"""Round trip: Rappel's data-dip consumer pointed at Rappel's own provider, on a running server."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.domain.codes import CallbackFlow
from rappel.services import callbacks, crm_dip, crm_dip_config, session_params
from rappel.services.demo import API_TOKEN, CALLBACK_QUEUE_ID, DATADIP_TOKEN
from rappel.store import datadip as store
from rappel.store.db import Database
from tests.conftest import make_settings

ADMIN = {"Authorization": f"Bearer {API_TOKEN}"}
MAPPINGS = [
    {"key": "phone-num", "source": "customer_number_national"},
    {"key": "account-num", "source": "udata:account"},
]
SAVED = {
    "account-num": "76541643",
    "age": "28",
    "email": "tom.callahan@example.com",
    "is-vip": "true",
    "name": "Tom Callahan",
}
FOR_AGENT = {
    **SAVED,
    "account-manager": "Sam Whitecar(112)",
    "past-due-amount": "575.00",
    "ssn-last-four": "3456",
}


def wait_for(check: Any, seconds: float = 15.0) -> Any:
    """Poll until `check()` is truthy (the dip runs in the background of the intake)."""
    deadline = time.monotonic() + seconds
    while True:
        found = check()
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_callback_taken_over_http_is_enriched_from_rappels_own_provider(
    http: httpx.Client, demo: str, server_url: str, server_container: Container
) -> None:
    config = {"url": f"{server_url}/datadip", "token": DATADIP_TOKEN, "mappings": MAPPINGS}
    put = http.put("/v1/crm-dips/tenant", json=config, headers=ADMIN)
    assert put.status_code == 200
    assert DATADIP_TOKEN not in put.text
    assert put.json()["token_set"] is True
    assert DATADIP_TOKEN not in http.get("/v1/crm-dips", headers=ADMIN).text

    created = http.post(
        "/v1/callbacks",
        json={"phone": "8015551234", "queue_id": CALLBACK_QUEUE_ID, "udata": {"account": "x"}},
        headers=ADMIN,
    )
    assert created.status_code == 201
    interaction_id = created.json()["interaction_id"]

    def found() -> list[Any]:
        listed = http.get("/v1/interactions", params={"param.name": "Tom Callahan"}, headers=ADMIN)
        return [i["interaction_id"] for i in listed.json()["interactions"]]

    assert wait_for(found) == [interaction_id]
    by_secret = http.get("/v1/interactions", params={"param.ssn-last-four": "3456"}, headers=ADMIN)
    assert by_secret.json()["interactions"] == []
    held = session_params.store_for(server_container)
    assert held.for_agent(demo, interaction_id) == FOR_AGENT
    assert held.all(demo, interaction_id)["language"].value == "English"


def test_consumer_dip_against_running_provider_attaches_the_seed_parameters(
    http: httpx.Client, demo: str, server_url: str
) -> None:
    db: Database = http.app_db  # type: ignore[attr-defined]
    consumer = Container(make_settings(db), db, WallClock(), "another-process-secret")
    config = {"url": f"{server_url}/v1/datadip", "token": DATADIP_TOKEN, "mappings": MAPPINGS}
    crm_dip_config.put_crm_config(consumer, demo, "tenant", "", config)
    request = callbacks.CallbackRequest(
        phone="+1 801 555 1234",
        flow=CallbackFlow.ASAP,
        source="native",
        queue=CALLBACK_QUEUE_ID,
        udata={"account": "76541643"},
    )
    interaction_id = callbacks.request_callback(db, consumer.clock, demo, request).interaction_id

    async def dip() -> Any:
        try:
            return await crm_dip.dip_for_interaction(consumer, demo, interaction_id, "intake")
        finally:
            await crm_dip.dipper_for(consumer).aclose()

    outcome = asyncio.run(dip())

    assert outcome is not None
    assert outcome.ok
    assert outcome.parameter_count == 9
    with db.read() as conn:
        assert store.saved_parameters(conn, demo, interaction_id) == SAVED
    held = session_params.store_for(consumer)
    assert held.for_agent(demo, interaction_id) == FOR_AGENT
    assert set(held.all(demo, interaction_id)) == {*FOR_AGENT, "language"}
