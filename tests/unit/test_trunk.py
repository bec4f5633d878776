"""The trunk's limits and health, and how a customer's number becomes a Request-URI."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from rappel.domain.errors import ValidationFailed
from rappel.telephony.port import TrunkBusy
from rappel.telephony.prompts import BUILT_IN, PromptLibrary
from rappel.telephony.sip_driver import trunk_target
from rappel.telephony.trunk import TrunkHealth, TrunkLimits


def test_the_trunk_never_carries_more_calls_than_its_limit() -> None:
    limits = TrunkLimits(max_calls=2, calls_per_second=100)
    limits.take(0.0)
    limits.take(0.0)
    with pytest.raises(TrunkBusy, match="limit"):
        limits.take(10.0)
    limits.release()
    limits.take(10.0)
    assert limits.active == 2


def test_new_calls_are_paced_to_the_calls_per_second() -> None:
    limits = TrunkLimits(max_calls=100, calls_per_second=2)
    started = 0
    refused = 0
    # 10 seconds of asking 10 times a second: 2 per second get through (plus the first burst).
    for tick in range(100):
        try:
            limits.take(tick / 10)
            started += 1
        except TrunkBusy:
            refused += 1
    assert started == 2 + 2 * 9 + 1  # the full bucket, then 2 a second over 9.9 s
    assert refused == 100 - started


def test_a_slow_trunk_allows_one_call_then_waits() -> None:
    limits = TrunkLimits(max_calls=10, calls_per_second=0.5)
    limits.take(0.0)
    with pytest.raises(TrunkBusy, match="a second"):
        limits.take(1.0)
    limits.take(2.0)


def test_health_says_up_on_any_answer_and_down_on_silence() -> None:
    health = TrunkHealth(uri="sip:t.example.net")
    assert health.as_dict()["trunk"] == "unknown"
    at = datetime(2026, 12, 4, tzinfo=UTC)
    health.record(405, at)
    assert health.as_dict()["trunk"] == "up"
    health.record(None, at)
    assert (health.alive, health.as_dict()["trunk"]) == (False, "down")


@pytest.mark.parametrize(
    ("trunk", "target"),
    [
        (
            "sip:trunk.example.net:5060;transport=tcp",
            "sip:16505551212@trunk.example.net:5060;transport=tcp",
        ),
        ("sip:127.0.0.1", "sip:16505551212@127.0.0.1"),
        ("SIPS:gw@carrier.example:5061", "sips:16505551212@carrier.example:5061"),
    ],
)
def test_the_customers_digits_are_the_user_part_on_the_trunk(trunk: str, target: str) -> None:
    assert trunk_target(trunk, "16505551212") == target


def test_a_trunk_that_is_not_a_sip_uri_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        trunk_target("http://example.net", "1")


def test_prompt_names_cannot_leave_the_prompts_folder(tmp_path: object) -> None:
    library = PromptLibrary()
    for bad in ("../etc/passwd", "a/b", "", ".hidden", "x" * 200):
        with pytest.raises(ValidationFailed):
            library.path_of(bad)
    assert library.path_of("no-such-prompt") is None


def test_the_demo_channels_prompt_ships_with_rappel() -> None:
    found = PromptLibrary().path_of("welcome-callback")
    assert found is not None
    assert found.parent == BUILT_IN.resolve()
