"""The vendor code lists Rappel speaks, one member per documented code.

Numbers and spellings are those of the seeds: Genesys "Callback Interaction"
(seed 001) for callback_status, status, call_result, callback_type,
entity_type and desired_response_type; Sinch OBI (seed 003) for dialing modes,
campaign and dialer statuses and dialer types. `CallbackFlow` is Rappel's own.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class CallbackStatus(IntEnum):
    """Genesys `callback_status` of a callback interaction."""

    UNKNOWN = 0  #: not known (never set by Rappel, accepted on input)
    RECEIVED = 1  #: request stored, not yet scheduled
    TIMER = 2  #: waiting for its start time (or a retry time)
    QUEUED = 3  #: due, waiting for an agent or a dialer slot
    DISTRIBUTED = 4  #: taken by the engine: an agent reserved or the customer being dialled
    SUBMITTED_TO_AGT = 5  #: offered to / connected with an agent
    REJECTED_BY_AGT = 6  #: the agent refused the offer; goes back to QUEUED
    CANCELED_BY_AGT = 7  #: the agent cancelled the callback
    PROCESSED_BY_AGT = 8  #: the agent finished the call and recorded a disposition
    FINAL = 9  #: done (handled, cancelled through the API, or out of attempts)
    NOT_QUEUED = 10  #: refused at intake (no queue, closed queue, limit reached)
    ERROR = 11  #: stopped by an unrecoverable error
    REPLACED = 12  #: superseded by a newer request for the same customer
    AGT_TRANSFER = 13  #: the agent is transferring it to another agent
    ENDTIME_EXPIRED = 14  #: the window closed before it could be handled (reported as abandoned)


class InteractionStatus(IntEnum):
    """Genesys common interaction `status`."""

    NEW = 0  #: just received
    PENDING = 1  #: waiting (timer or queue)
    IN_PROCESS = 2  #: being dialled or handled by an agent
    STOPPED = 3  #: ended, for whatever reason (see stopped_reason)


class CallResult(IntEnum):
    """Genesys `call_result` of a dial attempt."""

    OK = 0  #: connected normally
    TRANSFERRED = 1  #: connected, then transferred
    CONFERENCED = 2  #: connected, then conferenced
    GENERAL_ERROR = 3  #: unspecified failure
    SYSTEM_ERROR = 4  #: failure inside the contact center
    REMOTE_RELEASE = 5  #: the far end hung up
    BUSY = 6  #: busy signal
    NO_ANSWER = 7  #: rang out without answer
    SIT_DETECTED = 8  #: special information tone, unclassified
    ANSWERING_MACHINE = 9  #: answering machine detected
    ALL_TRUNKS_BUSY = 10  #: no outgoing trunk free
    SIT_INVALID_NUM = 11  #: SIT: invalid number
    SIT_VACANT = 12  #: SIT: vacant code
    SIT_OPER_INTERCEPT = 13  #: SIT: operator intercept
    SIT_UNKNOWN = 14  #: SIT: unknown cause
    SIT_NO_CIRCUIT = 15  #: SIT: no circuit
    SIT_REORDER = 16  #: SIT: reorder tone
    SIT_FAX_DETECTED = 17  #: fax tone detected
    QUEUE_FULL = 18  #: no room in the agent queue
    CLEARED = 19  #: call cleared
    OVERFLOWED = 20  #: overflowed out of the queue
    ABANDONED = 21  #: customer connected but no agent (or hung up waiting)
    REDIRECTED = 22  #: redirected by the network
    FORWARDED = 23  #: forwarded by the far end
    CONSULT = 24  #: consultation call
    PICKEDUP = 25  #: picked up by another party
    DROPPED = 26  #: dropped
    DROPPED_NO_ANSWER = 27  #: dropped before answer
    UNKNOWN = 28  #: unknown outcome
    COVERED = 29  #: covered (switch feature)
    CONVERSE_ON = 30  #: converse-on (switch feature)
    BRIDGED = 31  #: bridged to an agent
    SILENCE = 32  #: answered, silence only
    ANSWER = 33  #: answered by a person
    NU_TONE = 34  #: number-unobtainable tone
    NO_DIAL_TONE = 35  #: no dial tone
    NO_PROGRESS = 36  #: no call progress
    NO_RING_BACK = 37  #: no ring-back
    NO_ESTABLISHED = 38  #: could not be established
    PAGER_DETECTED = 39  #: pager detected
    WRONG_PARTY = 40  #: answered by someone other than the customer
    DIAL_ERROR = 41  #: dialling error
    CALL_DROPPED_ERROR = 42  #: call dropped by an error
    SWITCH_ERROR = 43  #: switch error
    NO_FREE_PORT_ERROR = 44  #: no free port to dial
    TRANSFER_ERROR = 45  #: transfer to the agent failed
    STALE = 46  #: stale call
    AGT_CALLBACK_ERROR = 47  #: agent callback failed
    GRP_CALLBACK_ERROR = 48  #: group callback failed
    DEAFENED = 49  #: deafened
    HELD = 50  #: held
    DO_NOT_CALL = 51  #: number on the do-not-call list
    CANCEL_RECORD = 52  #: record cancelled
    WRONG_NUMBER = 53  #: the number does not reach the customer


class CallbackType(IntEnum):
    """Genesys `callback_type`."""

    UNKNOWN = 0  #: not given
    ASAP = 1  #: as soon as possible
    SCHEDULED = 2  #: at a chosen time


class EntityType(IntEnum):
    """Genesys `entity_type` (there is no 4)."""

    EMAIL_IN = 0  #: inbound e-mail
    EMAIL_OUT = 1  #: outbound e-mail
    CHAT = 2  #: chat
    PHONE_CALL = 3  #: phone call
    CALLBACK = 5  #: callback (every Rappel interaction)
    COBROWSE = 6  #: co-browsing session
    INTERACTION = 7  #: open media


class DesiredResponseType(StrEnum):
    """Genesys `desired_response_type`."""

    VOICE = "Voice"  #: telephone call
    VOIP = "VoIP"  #: VoIP call
    EMAIL = "Email"  #: e-mail answer


class DialingMode(StrEnum):
    """OBI `dialingMode` of a campaign or customer."""

    PREVIEW = "PREVIEW"  #: the agent sees the record first, then dials
    PROGRESSIVE = "PROGRESSIVE"  #: one call per free agent
    PREDICTIVE = "PREDICTIVE"  #: more calls than free agents, paced by the abandon rate


class CampaignStatus(StrEnum):
    """OBI campaign `status`."""

    PASSIVE = "Passive"  #: not dialling
    ACTIVE = "Active"  #: dialling within its dates and hours
    HANDLED = "Handled"  #: every customer handled
    EXPIRED = "Expired"  #: past its end date
    INVALID = "Invalid"  #: configuration broken (e.g. queue gone)
    DELETED = "Deleted"  #: removed
    QUOTA = "Quota"  #: stopped by a quota


class DialerStatus(StrEnum):
    """OBI `dialerStatus`."""

    OPEN = "OPEN"  #: dialling
    CLOSING = "CLOSING"  #: finishing calls in progress, no new dials
    CLOSING2 = "CLOSING2"  #: second closing phase (wrap-ups finishing)
    CLOSED = "CLOSED"  #: stopped
    PASSIVE = "PASSIVE"  #: idle, campaign passive
    COMPLETED = "COMPLETED"  #: nothing left to dial
    SUSPEND = "SUSPEND"  #: suspended (outside calling hours, no agents)
    EXPIRED = "EXPIRED"  #: campaign past its end date
    SHUTDOWN = "SHUTDOWN"  #: engine shutting down
    QUOTA = "QUOTA"  #: stopped by a quota


class DialerType(StrEnum):
    """OBI `dialerType`."""

    QUEUE_DIALER = "QueueDialer"  #: dials callbacks waiting in a queue
    CAMPAIGN_DIALER = "CampaignDialer"  #: dials campaign lists


class CallbackFlow(StrEnum):
    """How Rappel carries out one callback (see `rappel.domain.callback`)."""

    #: call the customer first, play the channel's IVR script, then queue (8x8 type 1)
    CUSTOMER_FIRST = "CUSTOMER_FIRST"
    #: wait for a free agent, call the agent, then the customer (8x8 type 2)
    AGENT_FIRST = "AGENT_FIRST"
    #: call inside a window [start_time, end_time] chosen by the customer
    SCHEDULED = "SCHEDULED"
    #: call as soon as possible (or after a delay: start_time in the future)
    ASAP = "ASAP"
    #: one OBI campaign customer dialled by the campaign dialer (never by the callback engine)
    CAMPAIGN = "CAMPAIGN"


def callback_type_of(flow: CallbackFlow) -> CallbackType:
    """The Genesys callback_type a flow is shown as."""
    return CallbackType.SCHEDULED if flow is CallbackFlow.SCHEDULED else CallbackType.ASAP
