"""A callback made through one surface is read and managed through the others."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx

from rappel.services.demo import API_TOKEN, WEB_CAMPAIGN_ID

ACME = {"Authorization": f"Bearer {API_TOKEN}"}
TYPE2 = {
    "tenant": "Acme",
    "token": API_TOKEN,
    "phone": "16505551212",
    "callback_type": "2",
    "queue_id": "103",
}


def test_made_through_8x8_read_and_cancelled_through_interactions(
    http: httpx.Client, demo: str
) -> None:
    made = http.get("/SC/webcallback.php?" + urlencode(TYPE2)).json()
    path = f"/v1/interactions/{made['interaction_id']}"
    item = http.get(path, headers=ACME).json()
    assert (item["customer_number"], item["callback_status"]) == ("+16505551212", 3)
    assert http.post(path + "/cancel", headers=ACME).json()["callback_status"] == 9
    # Cancelled, it no longer blocks a new request for the same number and queue.
    again = http.get("/SC/webcallback.php?" + urlencode(TYPE2)).json()
    assert again["created"] is True
    assert again["interaction_id"] != made["interaction_id"]


def test_made_through_nixxis_visible_through_interactions(http: httpx.Client, demo: str) -> None:
    start = datetime.now(ZoneInfo("America/Los_Angeles")) + timedelta(hours=1)
    xml = f"""<contextdata><campaigndata><Name>Ann</Name><PhoneNumber>4155550123</PhoneNumber>
    </campaigndata><systemdata><State>15</State><SortInfo>3</SortInfo>
    <DialStartDate>{start:%Y-%m-%d %H:%M:%S}.000</DialStartDate></systemdata></contextdata>"""
    answer = http.post(
        f"/data/?action=CreateContextData&context={WEB_CAMPAIGN_ID}",
        content=xml.encode(),
        headers=ACME,
    )
    assert answer.status_code == 200, answer.text
    item = http.get(answer.headers["location"], headers=ACME).json()
    assert item["customer_id"] == answer.text
    assert item["customer_number"] == "+14155550123"
    assert item["callback_status"] == 2
    listed = http.get("/v1/interactions?customer_number=%2B14155550123", headers=ACME).json()
    assert [i["interaction_id"] for i in listed["interactions"]] == [item["interaction_id"]]


def test_made_natively_is_a_duplicate_for_8x8_on_the_same_queue(
    http: httpx.Client, demo: str
) -> None:
    native = http.post(
        "/v1/callbacks", json={"phone": "+1 650 555 1212", "queue_id": "103"}, headers=ACME
    ).json()
    via_8x8 = http.get("/SC/webcallback.php?" + urlencode(TYPE2)).json()
    assert via_8x8 == {
        "status": "ok",
        "interaction_id": native["interaction_id"],
        "created": False,
    }
