"""A simulated PREDICTIVE campaign day through the real dialer (claims, attempts, agents).

The campaign starts with increasePredictiveRatio at 100 %, so the dialer
over-dials from the first minute and the abandon controller has to rein it
in; the abandon rate is then measured from the stored attempt rows over every
rolling hour, stepped every minute.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest

from rappel.domain.codes import DialingMode
from rappel.domain.results import CustomerResult
from rappel.engine.simulation import worst_hour_pct
from rappel.store.db import Database
from rappel.telephony.sim import SimRates
from tests.support.databases import migrated
from tests.unit.test_campaign_dialer import START, World, number

TARGET_PCT = 2.0
HOURS = 2.5


@pytest.fixture
def day_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with migrated("sqlite", tmp_path_factory.mktemp("day")) as db:
        yield db


def seconds_since_start(at: datetime) -> float:
    return (at - START).total_seconds()


# A hang guard, not a speed check: the day runs the real dialer over SQLite and takes
# about two minutes on a quiet 2-CPU machine, more when the machine is busy.
@pytest.mark.timeout(900)
def test_predictive_day_never_exceeds_its_abandon_target_in_any_rolling_hour(
    day_db: Database,
) -> None:
    world = World(
        day_db, DialingMode.PREDICTIVE, agents=8, abandon_rate=TARGET_PCT, ratio=100.0,
        rates=SimRates(answer=0.3, busy=0.1, no_answer=0.6), talk_s=60.0, wrap_s=10.0,
    )  # fmt: skip
    for first in range(0, 3000, 1000):
        world.add(*(number(k) for k in range(first, first + 1000)))

    world.play(HOURS * 3600, sample=True)

    tried = world.attempts()
    answers = sorted(seconds_since_start(a["answered_at"]) for a in tried if a["answered_at"])
    abandons = sorted(
        seconds_since_start(a["ended_at"])
        for a in tried
        if a["customer_result"] == CustomerResult.ABANDONED.value
    )
    assert len(answers) > 300
    assert world.peak_ringing_over_free > 0, "the dialer never dialled ahead of its agents"
    assert worst_hour_pct(answers, abandons, HOURS * 3600) <= TARGET_PCT
