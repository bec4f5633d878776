"""Name/value pairs in the 8x8 bracket syntax: `[name1|value1][name2|value2]...`.

Used for `ctl_userdata` and `extTransactionData` (seed 002).

Grammar, as this parser reads it:

- The text is a sequence of pairs. Whitespace (spaces, tabs, line breaks)
  between pairs is ignored, because copied URLs often wrap there; any other
  character outside a pair is an error.
- A pair is `[`, a name, `|`, a value, `]`.
- The name is non-empty and contains none of `|`, `[`, `]`. It is kept as
  given (no trimming, case preserved).
- The value runs from the first `|` to the `]` that balances the pair's
  opening `[`. So a value may contain `|` freely (`[url|a|b]` has the value
  `a|b`) and may contain `[` and `]` as long as they balance
  (`[note|see [1]]` has the value `see [1]`). There is no escape character:
  the 8x8 document defines none, and a backslash escape would silently change
  values that contain backslashes. A value with unbalanced brackets therefore
  cannot be written; `format_pairs` refuses it.
- Names may repeat; the order of pairs is kept.

Names that start with `ctl_` (case-sensitive, as documented) are system data
(`ctl_callbackUrl`); every other pair is user data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rappel.domain.errors import ValidationFailed

SYSTEM_PREFIX = "ctl_"
_NAME_FORBIDDEN = frozenset("|[]")
_BETWEEN_PAIRS = frozenset(" \t\r\n")

Pair = tuple[str, str]


def parse_pairs(text: str, field: str = "ctl_userdata") -> list[Pair]:
    """Read `[name|value]...`; raise ValidationFailed(field, ...) on malformed text."""
    pairs: list[Pair] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in _BETWEEN_PAIRS:
            pos += 1
        elif char == "[":
            pair, pos = _read_pair(text, pos, field)
            pairs.append(pair)
        else:
            raise ValidationFailed(
                field, f"{field}: expected '[' at position {pos}, found {char!r}"
            )
    return pairs


def _read_pair(text: str, start: int, field: str) -> tuple[Pair, int]:
    bar = start + 1
    while bar < len(text) and text[bar] not in _NAME_FORBIDDEN:
        bar += 1
    if bar >= len(text):
        raise ValidationFailed(field, f"{field}: pair at position {start} is not closed")
    if text[bar] != "|":
        raise ValidationFailed(
            field, f"{field}: pair at position {start} has no '|' between name and value"
        )
    name = text[start + 1 : bar]
    if not name:
        raise ValidationFailed(field, f"{field}: pair at position {start} has an empty name")
    end = _closing_bracket(text, bar + 1)
    if end is None:
        raise ValidationFailed(
            field, f"{field}: pair {name!r} at position {start} is not closed (unbalanced brackets)"
        )
    return (name, text[bar + 1 : end]), end + 1


def _closing_bracket(text: str, pos: int) -> int | None:
    depth = 0
    for index in range(pos, len(text)):
        char = text[index]
        if char == "[":
            depth += 1
        elif char == "]":
            if depth == 0:
                return index
            depth -= 1
    return None


def format_pairs(pairs: Iterable[Pair], field: str = "ctl_userdata") -> str:
    """The inverse of `parse_pairs`: `parse_pairs(format_pairs(p)) == list(p)`."""
    parts = []
    for name, value in pairs:
        if not name or any(char in _NAME_FORBIDDEN for char in name):
            raise ValidationFailed(field, f"{field}: name {name!r} cannot be written")
        if not has_balanced_brackets(value):
            raise ValidationFailed(field, f"{field}: value of {name!r} has unbalanced brackets")
        parts.append(f"[{name}|{value}]")
    return "".join(parts)


def has_balanced_brackets(value: str) -> bool:
    depth = 0
    for char in value:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


def is_system_name(name: str) -> bool:
    return name.startswith(SYSTEM_PREFIX)


def split_system_data(pairs: Sequence[Pair]) -> tuple[dict[str, str], list[Pair]]:
    """Separate system data (`ctl_*`, last value wins) from user data (order kept)."""
    system: dict[str, str] = {}
    user: list[Pair] = []
    for name, value in pairs:
        if is_system_name(name):
            system[name] = value
        else:
            user.append((name, value))
    return system, user
