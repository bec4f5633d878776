"""Sign-in through HTTP: throttling with Retry-After on every surface, a password check
whether or not the account exists, and an opaque session cookie. SQLite and PostgreSQL.

A server of this module counts at most 3 failures per account and 4 per client
address; every request comes from 127.0.0.1.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from rappel.api import signin
from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.services.demo import API_TOKEN, DATADIP_TOKEN, TENANT, WEB_ACTIVITY_ID
from rappel.services.secrets import verify_password
from rappel.store.db import Database
from tests.conftest import make_settings
from tests.support.servers import running_server

ACCOUNT_FAILURES, ADDRESS_FAILURES = 3, 4
BAD_TOKEN = "0" * 32


class CountingCheck:
    """The real password check, counting its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, password_hash: str | None, password: str) -> bool:
        with self._lock:
            self.calls += 1
        return verify_password(password_hash, password)


@dataclass
class Server:
    url: str
    container: Container


@pytest.fixture(scope="module")
def server(session_db: Database) -> Iterator[Server]:
    settings = make_settings(
        session_db,
        signin_account_failures=ACCOUNT_FAILURES,
        signin_address_failures=ADDRESS_FAILURES,
    )
    c = Container(settings=settings, db=session_db, clock=WallClock(), secret="signin-secret")
    with running_server(create_app(c)) as url:
        yield Server(url, c)


@pytest.fixture
def checks(server: Server) -> CountingCheck:
    """A fresh throttle, and password checks that count."""
    counting = CountingCheck()
    server.container.parts.pop(signin.GUARD, None)
    server.container.parts[signin.HASHING] = signin.Hashing(1, counting)
    return counting


@pytest.fixture
def client(
    db: Database, demo: str, server: Server, checks: CountingCheck
) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def login(
    client: httpx.Client, username: str, password: str, tenant: str = TENANT
) -> httpx.Response:
    body = {"tenant": tenant, "username": username, "password": password}
    return client.post("/v1/auth/login", json=body)


# -- passwords -----------------------------------------------------------------------


def test_unknown_users_and_tenants_cost_a_password_check_like_known_ones(
    client: httpx.Client, checks: CountingCheck
) -> None:
    assert login(client, "agent1", "wrong").status_code == 401
    assert login(client, "no-such-user", "wrong").status_code == 401
    assert login(client, "agent1", "wrong", tenant="No Such Tenant").status_code == 401
    assert checks.calls == 3


def test_wrong_passwords_for_one_account_are_throttled_before_any_hashing(
    client: httpx.Client, checks: CountingCheck
) -> None:
    for _ in range(ACCOUNT_FAILURES):
        assert login(client, "agent1", "wrong").status_code == 401
    refused = login(client, "agent1", "agent1-demo")  # even the right password waits
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert 0 < int(refused.headers["retry-after"]) <= 900
    assert refused.json()["status"] == 429
    assert login(client, "AGENT1", "wrong").status_code == 429
    assert checks.calls == ACCOUNT_FAILURES
    assert login(client, "agent2", "agent2-demo").status_code == 200


def test_failed_logins_from_one_address_are_throttled_whatever_the_account(
    client: httpx.Client, checks: CountingCheck
) -> None:
    for n in range(ADDRESS_FAILURES):
        assert login(client, f"guess{n}", "wrong").status_code == 401
    assert login(client, "agent2", "agent2-demo").status_code == 429
    assert checks.calls == ADDRESS_FAILURES


def test_a_successful_login_clears_its_accounts_failures(client: httpx.Client) -> None:
    assert [login(client, "agent1", "wrong").status_code for _ in range(2)] == [401, 401]
    assert login(client, "agent1", "agent1-demo").status_code == 200
    assert [login(client, "agent1", "wrong").status_code for _ in range(2)] == [401, 401]


# -- tokens, each surface in its own convention -----------------------------------------


def _basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"acme:{token}".encode()).decode()}


def _native(client: httpx.Client, token: str) -> httpx.Response:
    return client.get("/v1/queues", headers=_basic(token))


def _obi(client: httpx.Client, token: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    return client.get("/RI/obi/campaigns", headers=headers)


def _contextdata(client: httpx.Client, token: str) -> httpx.Response:
    return client.post(
        f"/data/?action=CreateContextData&activity={WEB_ACTIVITY_ID}",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "text/xml"},
        content=b"<contextdata><campaigndata><PhoneNumber>4155550123</PhoneNumber>"
        b"</campaigndata></contextdata>",
    )


def _datadip(client: httpx.Client, token: str) -> httpx.Response:
    good = token if token == BAD_TOKEN else DATADIP_TOKEN
    headers = {"Authorization": f"Bearer {good}"}
    return client.post("/datadip", headers=headers, json={"account-num": "1"})


def _webcallback(client: httpx.Client, token: str) -> httpx.Response:
    params = {"tenant": TENANT, "token": token, "phone": "16505551212", "callback_type": "2"}
    return client.get("/SC/webcallback.php", params={**params, "queue_id": "103"})


def _operator(client: httpx.Client, token: str) -> httpx.Response:
    good = token if token == BAD_TOKEN else "operator-test-token-0123456789"
    return client.get("/v1/tenants", headers={"Authorization": f"Bearer {good}"})


def _problem(answer: httpx.Response) -> None:
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["status"] == 429


def _obi_error(answer: httpx.Response) -> None:
    assert answer.json()["statusCode"] == 429


def _plain(answer: httpx.Response) -> None:
    assert answer.headers["content-type"].startswith("text/plain")
    assert "too many failed sign-ins" in answer.text


def _ctl_error(answer: httpx.Response) -> None:
    assert answer.json()["status"] == "error"
    assert answer.json()["ctl_error"] == 15


SURFACES: dict[str, tuple[Callable[[httpx.Client, str], httpx.Response], Callable[..., None]]] = {
    "native": (_native, _problem),
    "obi": (_obi, _obi_error),
    "contextdata": (_contextdata, _plain),
    "datadip": (_datadip, _problem),
    "webcallback": (_webcallback, _ctl_error),
    "operator": (_operator, _problem),
}


@pytest.mark.parametrize("surface", SURFACES)
def test_wrong_tokens_from_one_address_are_throttled_in_the_surfaces_convention(
    client: httpx.Client, surface: str
) -> None:
    call, convention = SURFACES[surface]
    for _ in range(ADDRESS_FAILURES):
        assert call(client, BAD_TOKEN).status_code == 401
    refused = call(client, API_TOKEN)  # a good token waits too: nothing is checked
    assert refused.status_code == 429, refused.text
    assert 0 < int(refused.headers["retry-after"]) <= 900
    convention(refused)
    assert login(client, "agent1", "agent1-demo").status_code == 200  # passwords count apart


# -- the session cookie ------------------------------------------------------------------


def test_the_session_cookie_reveals_nothing_and_cannot_be_altered(
    client: httpx.Client, demo: str
) -> None:
    assert login(client, "agent1", "agent1-demo").status_code == 200
    cookie = client.cookies["rappel_session"]
    assert demo.lower() not in cookie.lower()
    assert "." not in cookie
    assert client.get("/v1/auth/me").status_code == 200
    flipped = cookie[:20] + ("A" if cookie[20] != "A" else "B") + cookie[21:]
    for forged in (flipped, f"{demo}.{cookie}", cookie[:-4]):
        client.cookies.set("rappel_session", forged)
        assert client.get("/v1/auth/me").status_code == 401
