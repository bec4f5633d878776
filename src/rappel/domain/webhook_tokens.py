"""The 8x8 `$token$` substitution in user-data values (seed 002, "User Data").

Each documented token is replaced in one pass, so text that a token produces
(an agent's notes containing `$caller_id$`, say) is never expanded again.
Unknown `$words$` are left as they are. Token names are case-sensitive, as
documented.

Choices where the document is silent:

- `$callAnsweredTenantTT$` / `$callHangupTenantTT$`: `YYYY/MM/DD HH:mm:ss Z`
  in the tenant time zone, where Z is the numeric UTC offset `+HHMM`
  (`2026/01/05 09:00:00 +0100`). Empty when the call was not established.
- `$call_answered_time$` / `$call_hangup_time$`: whole UTC epoch seconds,
  `0` when the call was not established (documented).
- `$callDuration$`: answered to hang-up as `HH:MM:SS` (hours may exceed 99),
  `00:00:00` when the call was not established.
- `$year$ $month$ $date$ $hours$ $minutes$ $seconds$`: the moment of
  substitution (`TokenContext.now`) in the tenant time zone, zero-padded.
- `$transaction_codes$`: `<list name>:<shortcode>` for every selected code in
  selection order, joined by `,` (no space). The `$lastTcl...$` tokens
  describe the last code of that order; empty when none was selected.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rappel.domain.errors import ValidationFailed
from rappel.domain.userdata import Pair


@dataclass(frozen=True)
class TransactionCode:
    """A code an agent selected at wrap-up, as 8x8 tokens describe it."""

    list_name: str
    short_code: str
    description: str = ""


@dataclass(frozen=True)
class TokenContext:
    """Everything the tokens of one processed callback can say."""

    caller_id: str
    transaction_id: str
    interaction_guid: str
    tenant_time_zone: str
    now: datetime
    answered_at: datetime | None = None
    hangup_at: datetime | None = None
    transaction_codes: tuple[TransactionCode, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        for name in ("now", "answered_at", "hangup_at"):
            moment = getattr(self, name)
            if moment is not None and moment.utcoffset() is None:
                raise ValidationFailed(name, f"{name} must be timezone-aware")
        try:
            ZoneInfo(self.tenant_time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationFailed(
                "tenant_time_zone", f"unknown time zone {self.tenant_time_zone!r}"
            ) from exc

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tenant_time_zone)

    @property
    def established(self) -> bool:
        return self.answered_at is not None

    @property
    def last_code(self) -> TransactionCode | None:
        return self.transaction_codes[-1] if self.transaction_codes else None


def _epoch(moment: datetime | None) -> str:
    return str(int(moment.timestamp())) if moment is not None else "0"


def _tenant_stamp(moment: datetime | None, ctx: TokenContext) -> str:
    if moment is None:
        return ""
    return moment.astimezone(ctx.zone).strftime("%Y/%m/%d %H:%M:%S %z")


def _duration(ctx: TokenContext) -> str:
    if ctx.answered_at is None or ctx.hangup_at is None:
        return "00:00:00"
    seconds = max(0, int((ctx.hangup_at - ctx.answered_at).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"


def _local_now(ctx: TokenContext, fmt: str) -> str:
    return ctx.now.astimezone(ctx.zone).strftime(fmt)


def _codes(ctx: TokenContext) -> str:
    return ",".join(f"{code.list_name}:{code.short_code}" for code in ctx.transaction_codes)


def _last(ctx: TokenContext, attribute: str) -> str:
    code = ctx.last_code
    return getattr(code, attribute) if code is not None else ""


_TOKENS: dict[str, Callable[[TokenContext], str]] = {
    "caller_id": lambda ctx: ctx.caller_id,
    "transaction_id": lambda ctx: ctx.transaction_id,
    "interaction_guid": lambda ctx: ctx.interaction_guid,
    "call_answered_time": lambda ctx: _epoch(ctx.answered_at),
    "call_hangup_time": lambda ctx: _epoch(ctx.answered_at and ctx.hangup_at),
    "callAnsweredTenantTT": lambda ctx: _tenant_stamp(ctx.answered_at, ctx),
    "callHangupTenantTT": lambda ctx: _tenant_stamp(ctx.answered_at and ctx.hangup_at, ctx),
    "callDuration": _duration,
    "equal": lambda ctx: "=",
    "year": lambda ctx: _local_now(ctx, "%Y"),
    "month": lambda ctx: _local_now(ctx, "%m"),
    "date": lambda ctx: _local_now(ctx, "%d"),
    "hours": lambda ctx: _local_now(ctx, "%H"),
    "minutes": lambda ctx: _local_now(ctx, "%M"),
    "seconds": lambda ctx: _local_now(ctx, "%S"),
    "transaction_codes": _codes,
    "notes": lambda ctx: ctx.notes,
    "lastTclListName": lambda ctx: _last(ctx, "list_name"),
    "lastTclCodeDesc": lambda ctx: _last(ctx, "description"),
    "lastTclCodeShort": lambda ctx: _last(ctx, "short_code"),
}

#: The documented token names, without their `$` delimiters.
TOKEN_NAMES = frozenset(_TOKENS)

# An alternation of known names, so `$a$notes$` still finds `$notes$`.
_PATTERN = re.compile(r"\$(" + "|".join(sorted(_TOKENS, key=len, reverse=True)) + r")\$")


def substitute(value: str, ctx: TokenContext) -> str:
    """Replace every documented token in `value`; leave anything else alone."""
    return _PATTERN.sub(lambda match: _TOKENS[match.group(1)](ctx), value)


def count_tokens(values: Iterable[str]) -> int:
    """How many documented tokens `values` hold (what a webhook would expand)."""
    return sum(len(_PATTERN.findall(value)) for value in values)


def substitute_pairs(pairs: Iterable[Pair], ctx: TokenContext) -> list[Pair]:
    """Substitute tokens in the values (never the names) of user-data pairs."""
    return [(name, substitute(value, ctx)) for name, value in pairs]
