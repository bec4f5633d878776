"""Rappel's user agent through kamailio as a carrier trunk: 407 digest and the route set.

kamailio challenges the INVITE, checks the answer, record-routes and relays to a sipp far
end. Its log proves that ACK and BYE came back through it with its Route header (loose
routing from the 2xx's Record-Route), and sipp's exit code that they reached the far end.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from rappel.telephony.sip.useragent import (
    Answered,
    CallSignal,
    Ended,
    Failed,
    Provisional,
    SipConfig,
    UserAgent,
)
from tests.integration.test_sip_calls import OFFER, collect
from tests.support.kamailio import kamailio_trunk
from tests.support.sipp import sipp_uas


def call_through(trunk_uri: str, number: str, **config: object) -> list[CallSignal]:
    async def main() -> list[CallSignal]:
        ua = UserAgent(SipConfig(listen_port=0, **config))  # type: ignore[arg-type]
        await ua.start()
        try:
            call = ua.call(
                f"sip:{number}@trunk.test", from_user="rappel", sdp_offer=OFFER, proxy=trunk_uri
            )
            return await asyncio.wait_for(collect(call, hangup_on=Answered), 30)
        finally:
            await ua.close()

    return asyncio.run(main())


def test_trunk_407_is_answered_and_ack_and_bye_follow_the_route_set(tmp_path: Path) -> None:
    with (
        sipp_uas("uas_answer_rr.xml", tmp_path) as far,
        kamailio_trunk(tmp_path, relay=far.uri()) as trunk,
    ):
        signals = call_through(trunk.uri, "16505551212", username="rappel", password="s3cret")
        assert far.finished() == 0, far.log()
        log = trunk.log()
    assert [type(s) for s in signals] == [Provisional, Answered, Ended]
    assert "challenging INVITE sip:16505551212@trunk.test" in log
    assert "authenticated rappel" in log
    route = rf"Route=\[<sip:127\.0\.0\.1:{trunk.port};lr[^\]]*>\]"
    assert re.search(rf"IN ACK sip:bob@127\.0\.0\.1:{far.port}\S* .*{route}", log), log
    assert re.search(rf"IN BYE sip:bob@127\.0\.0\.1:{far.port}\S* .*{route}", log), log
    assert "Proxy-Authorization: Digest" not in far.log()  # consumed by the trunk


def test_trunk_refusing_the_password_is_a_failure_with_407(tmp_path: Path) -> None:
    with (
        sipp_uas("uas_answer_rr.xml", tmp_path) as far,
        kamailio_trunk(tmp_path, relay=far.uri()) as trunk,
    ):
        signals = call_through(trunk.uri, "16505551212", username="rappel", password="wrong")
    assert len(signals) == 1
    assert isinstance(signals[0], Failed)
    assert signals[0].status == 407
