"""The pages in a real browser: Debian's Chromium driven by Playwright (never downloaded).

One server (SQLite, demo data, the engine on with the `sim` driver) serves every
test of this module; each test uses its own phone numbers.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest

pytest.importorskip("playwright")

from playwright.sync_api import Browser, Page, expect, sync_playwright

from rappel.api.app import create_app
from rappel.bootstrap import Container
from rappel.clock import WallClock
from rappel.services import tenancy
from rappel.services.demo import API_TOKEN, provision_demo
from rappel.store.db import Database
from tests.conftest import make_settings
from tests.support.databases import migrated
from tests.support.loopback import LoopbackServer, Reply
from tests.support.servers import running_server

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TIMEOUT_MS = 15_000


@dataclass
class Site:
    url: str
    db: Database
    tenant_id: str
    hooks: LoopbackServer


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with migrated("sqlite", tmp_path_factory.mktemp("browser")) as db, LoopbackServer() as hooks:
        settings = make_settings(
            db,
            run_engine=True,
            offer_timeout_s=600.0,
            widget_phone_per_hour=2,
            sim_ring_s=0.5,
            sim_talk_s=2.0,
            sim_wrap_s=1.0,
            sim_answer_rate=1.0,
            sim_busy_rate=0.0,
            sim_no_answer_rate=0.0,
        )
        tenant_id = provision_demo(db, WallClock()).tenant_id
        container = Container(settings=settings, db=db, clock=WallClock(), secret="browser-secret")
        with running_server(create_app(container)) as url:
            tenancy.update_tenant(
                db,
                tenant_id,
                {
                    "widget_origins": [url, "http://localhost:8080"],
                    # Open around the clock, so "call me now" is offered whenever tests run.
                    "hard_hours_start": "00:00",
                    "hard_hours_end": "23:59",
                },
            )
            yield Site(url, db, tenant_id, hooks)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("Chromium is missing: run scripts/ensure-chromium")
    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


def shot(page: Page, name: str, full: bool = False) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=full)


def widget(page: Page) -> Page:
    """Playwright's CSS locators pierce open shadow roots, so the page is the widget's root."""
    expect(page.get_by_label("Your phone number")).to_be_visible()
    return page


def sign_in(page: Page, url: str, username: str, password: str) -> None:
    page.goto(url)
    page.fill("#login-username", username)
    page.fill("#login-password", password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#app")).to_be_visible()


# -- failures ------------------------------------------------------------------------


def test_invalid_phone_number_is_explained_next_to_the_field(site: Site, page: Page) -> None:
    page.goto(site.url + "/demo")
    widget(page).get_by_label("Your phone number").fill("12345")
    page.get_by_role("button", name="Call me back").click()
    alert = page.locator(".rappel-widget .error").first
    expect(alert).to_contain_text("valid phone number")
    expect(page.get_by_label("Your phone number")).to_have_attribute("aria-invalid", "true")
    shot(page, "widget-invalid-phone")


def test_unknown_widget_key_says_so(site: Site, page: Page) -> None:
    page.goto(site.url + "/demo")
    page.evaluate(
        """() => {
            const spot = document.createElement('div'); spot.id = 'other';
            document.body.prepend(spot);
            const s = document.createElement('script');
            s.src = '/widget.js'; s.dataset.key = 'no-such-widget-key'; s.dataset.target = '#other';
            document.body.append(s);
        }"""
    )
    expect(page.locator("#other")).to_contain_text("unknown widget key")


def test_foreign_origin_cannot_use_the_key(site: Site, page: Page) -> None:
    with LoopbackServer() as foreign:
        html = (
            "<!doctype html><title>Not Acme</title><h1>Someone else's site</h1>"
            f'<script src="{site.url}/widget.js" data-key="demo-widget-key-acme"></script>'
        )
        foreign.reply("/", Reply(200, html.encode(), {"content-type": "text/html"}))
        page.goto(foreign.url("/"))
        expect(page.locator(".rappel-widget")).to_contain_text("not available on this website")
        expect(page.get_by_label("Your phone number")).to_have_count(0)


def test_rate_limit_per_number_stops_the_third_request(site: Site, page: Page) -> None:
    page.goto(site.url + "/demo")
    for attempt in range(3):
        if attempt:
            page.reload()
        widget(page).get_by_label("Your phone number").fill("+1 415 555 0143")
        page.get_by_label("Call me at a time I choose").check()
        expect(
            page.locator(".rappel-widget select").nth(1).locator("option").first
        ).to_be_attached()
        page.get_by_role("button", name="Call me back").click()
        if attempt < 2:
            expect(page.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    expect(page.locator(".rappel-widget .error").last).to_contain_text("too many callbacks")


def test_a_page_on_a_sibling_origin_cannot_act_with_the_agents_session(
    site: Site, page: Page
) -> None:
    with httpx.Client(base_url=site.url, headers={"Authorization": f"Bearer {API_TOKEN}"}) as api:
        check_sibling_origin(site, page, api)


def check_sibling_origin(site: Site, page: Page, api: httpx.Client) -> None:
    users = api.get("/v1/users").json()
    agent3 = next(u["id"] for u in users if u["username"] == "agent3")

    def state() -> str:
        agents = api.get("/v1/agents/states").json()
        return str(next(a["state"] for a in agents if a["agent_id"] == agent3))

    sign_in(page, site.url + "/agent", "agent3", "agent3-demo")
    assert state() == "LOGGED_OUT"
    with LoopbackServer() as sibling:  # 127.0.0.1 on another port: same site, other origin
        html = (
            "<!doctype html><title>Sibling</title>"
            f'<script>fetch("{site.url}/v1/auth/logout", '
            '{method: "POST", mode: "no-cors", credentials: "include"})'
            ".finally(() => document.forms[0].submit())</script>"
            f'<form method="post" action="{site.url}/v1/agent/login"></form>'
        )
        sibling.reply("/", Reply(200, html.encode(), {"content-type": "text/html"}))
        page.goto(sibling.url("/"))
        page.wait_for_url(site.url + "/v1/agent/login")
        # 403, not 401: SameSite=Strict let the cookie through, the origin check refused it.
        expect(page.locator("body")).to_contain_text("cannot use the session cookie")
    assert state() == "LOGGED_OUT"
    page.goto(site.url + "/agent")
    own = page.evaluate(
        """async () => [
            (await fetch('/v1/auth/me')).status,
            (await fetch('/v1/agent/login', {method: 'POST'})).status,
            (await fetch('/v1/agent/logout', {method: 'POST'})).status,
        ]"""
    )
    assert own == [200, 200, 200]  # the session survived, and its own pages may use it


# -- pages ---------------------------------------------------------------------------


def test_cancel_link_cancels_the_callback(site: Site, page: Page) -> None:
    page.goto(site.url + "/demo")
    widget(page).get_by_label("Your phone number").fill("+1 415 555 0177")
    page.get_by_label("Call me in…").check()
    page.get_by_role("button", name="Call me back").click()
    expect(page.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    shot(page, "widget-confirmation")
    link = page.get_by_role("link", name="Cancel the callback").get_attribute("href")
    assert link is not None
    page.goto(link)
    expect(page.get_by_role("heading", name="Cancel your callback")).to_be_visible()
    shot(page, "cancel")
    page.get_by_role("button", name="Cancel the callback").click()
    expect(page.get_by_role("heading", name="Callback cancelled")).to_be_visible()
    assert dict(parse_qsl(link.split("?", 1)[1]))["t"] == site.tenant_id


# -- the whole day of one callback ---------------------------------------------------


def test_visitor_callback_reaches_an_agent_the_dashboard_and_the_webhook(
    site: Site, browser: Browser
) -> None:
    api = httpx.Client(
        base_url=site.url,
        headers={"Authorization": "Bearer fb65d0515b9631c6db72e7e66fe6df49"},
        timeout=10,
    )
    site.hooks.reply("/hook", Reply(200, b"ok"))
    patched = api.patch(
        "/v1/widget-keys/demo-widget-key-acme",
        json={
            "webhook_url": site.hooks.url("/hook"),
            "udata": {"notes": "$notes$", "guid": "$interaction_guid$", "sign": "a$equal$b"},
        },
    )
    assert patched.status_code == 200, patched.text

    agent_tab = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    agent_tab.set_default_timeout(30_000)
    sign_in(agent_tab, site.url + "/agent", "agent1", "agent1-demo")
    agent_tab.click("#ready")
    expect(agent_tab.locator("#state")).to_contain_text(re.compile("READY", re.I))
    shot(agent_tab, "agent")

    visitor = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    visitor.set_default_timeout(30_000)
    visitor.goto(site.url + "/demo")
    widget(visitor).get_by_label("Your phone number").fill("+1 415 555 0199")
    visitor.get_by_label("Call me now").check()
    visitor.get_by_role("button", name="Call me back").click()
    expect(visitor.get_by_role("heading", name=re.compile("Thank you"))).to_be_visible()
    shot(visitor, "demo", full=True)

    expect(agent_tab.locator("#accept")).to_be_visible()
    expect(agent_tab.locator("#facts")).to_contain_text("555")
    agent_tab.click("#accept")
    expect(agent_tab.locator("#wrapup")).to_be_visible()
    agent_tab.select_option("#wu-result", "SUCCESS")
    agent_tab.fill("#wu-classifier", "Booked")
    agent_tab.fill("#wu-notes", "Wants two seats to Lisbon")
    agent_tab.click("#wu-submit")
    expect(agent_tab.locator("#wrapup")).to_be_hidden()
    expect(agent_tab.locator("#stat-handled")).to_have_text("1")

    supervisor = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    supervisor.set_default_timeout(30_000)
    sign_in(supervisor, site.url + "/supervisor", "supervisor", "supervisor-demo-1")
    expect(supervisor.locator("#fig-calls")).not_to_have_text("0")
    expect(supervisor.locator("#agents")).to_contain_text("Alice Agent")
    shot(supervisor, "supervisor", full=True)

    deadline = 30.0
    started = time.monotonic()
    while not site.hooks.requests_to("/hook") and time.monotonic() - started < deadline:
        time.sleep(0.2)
    delivered = site.hooks.requests_to("/hook")
    assert delivered, "the webhook never reached the receiver"
    form = dict(parse_qsl(delivered[0].body.decode()))
    assert form["notes"] == "Wants two seats to Lisbon"
    assert form["sign"] == "a=b"
    assert re.fullmatch(r"[0-9A-F]{32}", form["guid"])
    assert "webhook-signature" in {k.lower() for k in delivered[0].headers}
    api.close()
