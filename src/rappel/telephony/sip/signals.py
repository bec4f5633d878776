"""What an outgoing call reports to the telephony driver, and the error of in-dialog requests.

A call yields `Provisional` signals, then `Answered` or `Failed`, then (after an answer)
`Ended`. `Failed.status` is a SIP status: the far end's final, 408 when nothing answered,
503 when the transport failed, 487 when Rappel cancelled, 488 when a 2xx carried no usable
SDP, or the challenge's status when authentication was refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from rappel.domain.errors import RappelError

__all__ = ["Answered", "CallSignal", "Ended", "Failed", "Provisional", "SipCallError"]


@dataclass(frozen=True, slots=True)
class Provisional:
    """A 1xx above 100 (ringing, session progress), with early SDP when there is some."""

    status: int
    reason: str
    sdp: bytes | None


@dataclass(frozen=True, slots=True)
class Answered:
    """The far end answered; `sdp` is its answer to our offer."""

    sdp: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    """The call never connected; `status` is a SIP status (see the module docstring)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Ended:
    """An answered call is over: hung up by the far end, by us, or for a failed refresh."""

    by: Literal["remote", "local", "refresh_failed"]
    reason: str


CallSignal = Provisional | Answered | Failed | Ended


class SipCallError(RappelError):
    """An in-dialog request (re-INVITE) was refused or could not be sent."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
