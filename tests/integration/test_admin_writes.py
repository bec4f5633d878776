"""Native admin writes are all or nothing, and concurrent identical writes all succeed.

On SQLite and PostgreSQL; the concurrency tests need PostgreSQL's row locks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest

from rappel.services.demo import API_TOKEN, TEST_CAMPAIGN_ID, TEST_QUEUE_ID
from rappel.store.db import Database

ACME = {"Authorization": f"Bearer {API_TOKEN}"}
CAMPAIGN = f"/v1/campaigns/{TEST_CAMPAIGN_ID}"
#: How many identical requests race; as many as the fuzzer sent, a little above the pool.
RACERS = 12


@pytest.mark.parametrize(
    "body",
    [
        {"name": "RENAMED", "retry_count": 1000},
        {"remarks": "X", "hours_start": "22:00", "hours_end": "09:00"},
        {"name": "RENAMED", "hours_end": "00:00"},
        {"remarks": "X", "queue_id": "F" * 32, "retry_count": 3},
        # Times without a zone, or that UTC cannot hold (they were 500s).
        {"start_date": "2031-01-01T00:00:00", "end_date": "2032-01-01T00:00:00Z"},
        {"remarks": "X", "start_date": "2031-01-01T00:00:00"},
        {"remarks": "X", "end_date": "9999-12-31T23:59:59-14:00"},
        {"remarks": "X", "start_date": "0001-01-01T00:00:00+14:00"},
    ],
)
def test_refused_campaign_patch_changes_no_field(
    http: httpx.Client, demo: str, body: dict[str, object]
) -> None:
    before = http.get(CAMPAIGN, headers=ACME).json()
    answer = http.patch(CAMPAIGN, json=body, headers=ACME)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert http.get(CAMPAIGN, headers=ACME).json() == before


def test_campaign_patch_changes_fields_and_settings_together(http: httpx.Client, demo: str) -> None:
    body = {"remarks": "spring", "retry_count": 4, "hours_start": "09:30", "hours_end": "18:00"}
    answer = http.patch(CAMPAIGN, json=body, headers=ACME)
    assert answer.status_code == 200, answer.text
    stored = http.get(CAMPAIGN, headers=ACME).json()
    assert {k: stored[k] for k in body} == body


def test_empty_campaign_patch_answers_the_campaign_unchanged(http: httpx.Client, demo: str) -> None:
    before = http.get(CAMPAIGN, headers=ACME).json()
    answer = http.patch(CAMPAIGN, json={}, headers=ACME)
    assert answer.status_code == 200
    assert answer.json() == before


# -- identical requests at once (PostgreSQL) ---------------------------------------


def race(http: httpx.Client, send: Callable[[httpx.Client, int], httpx.Response]) -> list[int]:
    """Send RACERS requests released together, each on its own connection; their statuses.

    `send` gets a client and the racer's number.
    """
    start = threading.Barrier(RACERS)
    statuses: list[int] = []

    def one(n: int) -> None:
        with httpx.Client(base_url=str(http.base_url), headers=ACME, timeout=30) as client:
            start.wait()
            statuses.append(send(client, n).status_code)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(RACERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(statuses)


@pytest.fixture
def concurrent(db: Database) -> None:
    if not db.is_postgres:
        pytest.skip("SQLite writers of one process take turns on one lock: no race to lose")


@pytest.mark.usefixtures("concurrent")
def test_concurrent_puts_of_one_dial_plan_all_succeed(http: httpx.Client, demo: str) -> None:
    plan = {"plan_id": 50, "default_region": "GB", "prefix_rules": [{"match": "00"}]}
    for _ in range(3):  # a race is not lost every time; a few rounds make it likely
        http.delete("/v1/dialplans/50", headers=ACME)
        statuses = race(http, lambda c, _: c.put("/v1/dialplans/50", json=plan))
        assert statuses == [200] * RACERS
    plans = [p for p in http.get("/v1/dialplans", headers=ACME).json() if p["plan_id"] == 50]
    assert len(plans) == 1
    assert plans[0]["prefix_rules"] == [{"match": "00", "replace": ""}]


@pytest.mark.usefixtures("concurrent")
def test_concurrent_puts_of_one_roster_all_succeed(http: httpx.Client, demo: str) -> None:
    roster = [{"weekday": d, "start": "08:00", "end": "20:00", "agents": 3} for d in range(1, 8)]
    path = f"/v1/queues/{TEST_QUEUE_ID}/roster"
    for _ in range(3):
        http.put(path, json=[], headers=ACME)
        statuses = race(http, lambda c, _: c.put(path, json=roster))
        assert statuses == [200] * RACERS
    assert http.get(path, headers=ACME).json() == roster


@pytest.mark.usefixtures("concurrent")
def test_concurrent_different_rosters_leave_one_of_them_whole(
    http: httpx.Client, demo: str
) -> None:
    rosters = [
        [{"weekday": d, "start": start, "end": "20:00", "agents": 2} for d in range(1, 8)]
        for start in ("08:00", "09:00")
    ]
    path = f"/v1/queues/{TEST_QUEUE_ID}/roster"
    for _ in range(3):
        statuses = race(http, lambda c, n: c.put(path, json=rosters[n % 2]))
        assert statuses == [200] * RACERS
        # A replacement, not a merge: the last PUT's roster, never rows of both.
        assert http.get(path, headers=ACME).json() in rosters


@pytest.mark.usefixtures("concurrent")
def test_concurrent_posts_of_one_widget_key_make_one_and_conflict(
    http: httpx.Client, demo: str
) -> None:
    for round_ in range(3):
        key = {"queue_id": TEST_QUEUE_ID, "key": f"wk_race_{round_}_0123456789"}
        statuses = race(http, lambda c, _, key=key: c.post("/v1/widget-keys", json=key))
        assert statuses == [201] + [409] * (RACERS - 1)
    keys = [k["key"] for k in http.get("/v1/widget-keys", headers=ACME).json()]
    assert sum(k.startswith("wk_race_") for k in keys) == 3


@pytest.mark.usefixtures("concurrent")
def test_concurrent_saves_of_data_dip_configurations_all_succeed(
    http: httpx.Client, demo: str
) -> None:
    provider = {
        "keys": [{"key": "account-num", "field": "externalId"}],
        "returns": [
            {
                "name": "name",
                "source": "attribute:Name",
                "displayToAgent": True,
                "saveToDatabase": True,
            }
        ],
    }
    crm = {
        "url": "http://127.0.0.1:9/dip",
        "token": "crm-bearer-token-7d1e5a0c9b",
        "mappings": [{"key": "phone-num", "source": "customer_number_national"}],
    }
    for _ in range(3):
        one = http.put("/v1/datadip/provider-config", json=provider, headers=ACME)
        assert one.status_code == 200, one.text
        statuses = race(http, lambda c, _: c.put("/v1/datadip/provider-config", json=provider))
        assert statuses == [200] * RACERS
        one = http.put("/v1/crm-dips/tenant", json=crm, headers=ACME)
        assert one.status_code == 200, one.text
        statuses = race(http, lambda c, _: c.put("/v1/crm-dips/tenant", json=crm))
        assert statuses == [200] * RACERS
    assert len(http.get("/v1/crm-dips", headers=ACME).json()) == 1


@pytest.mark.usefixtures("concurrent")
def test_concurrent_do_not_call_additions_all_succeed(http: httpx.Client, demo: str) -> None:
    for round_ in range(3):
        numbers = {"numbers": [f"+1415555{round_}{n:03d}" for n in range(5)]}
        statuses = race(http, lambda c, _, body=numbers: c.post("/v1/dnc", json=body))
        assert statuses == [200] * RACERS
    listed = http.get("/v1/dnc", headers=ACME).json()["numbers"]
    assert len([n for n in listed if n.startswith("+1415555")]) == 15


@pytest.mark.parametrize("date", ["2031-01-01T00:00:00", "9999-12-31T23:59:59-14:00"])
def test_a_bulk_customer_date_without_zone_or_past_utc_is_refused(
    http: httpx.Client, demo: str, date: str
) -> None:
    items = [{"external_id": "t-1", "numbers": "+14155550190", "date": date}]
    answer = http.post(f"{CAMPAIGN}/customers/bulk", json=items, headers=ACME)
    assert answer.status_code == 422, answer.text
    listed = http.get(
        f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}/customers",
        params={"externalId": "t-1"},
        headers={**ACME, "Accept": "application/json"},
    )
    assert (listed.status_code, listed.json()) == (200, [])
