"""The Nixxis ContextData body (seed 000), read safely into a `ContextData`.

```
<contextdata>
  <campaigndata><Name>...</Name><PhoneNumber>...</PhoneNumber></campaigndata>
  <systemdata xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <CurrentActivity xsi:nil="true" /> <State>15</State> <SortInfo>-2</SortInfo>
    <DialStartDate>2026-01-05 10:00:00.000</DialStartDate> <DialEndDate>...</DialEndDate>
    <CreationTime>...</CreationTime> <ImportTag>...</ImportTag>
  </systemdata>
</contextdata>
```

Safety: the body is refused above `max_bytes` before parsing; defusedxml
refuses any DTD, entity declaration or external reference, so entity bombs
and XXE cannot even start. Every failure is a ValidationFailed whose field
names the part at fault (`body` for the document as a whole).

Reading rules:

- Element names are compared without namespace. The structural names
  (`contextdata`, `campaigndata`, `systemdata`) and the system fields are
  matched case-insensitively; campaign field names are kept exactly as sent
  ("respect the casing of the fields"), in document order, and may not repeat.
- Campaign fields must be simple text elements; an empty element is "".
- `systemdata` is optional (then every system field is None); an unknown or
  repeated system field is refused rather than silently dropped.
- `CurrentActivity`: None when `xsi:nil="true"` or empty, else a 32-hex id
  (a dashed GUID is accepted too), returned upper case.
- Dates: `yyyy-MM-dd HH:mm:ss`, optionally `.f` to `.fffffff` (7 digits, as
  .NET writes them; cut to microseconds) and optionally `T` for the space.
  They are naive: the caller reads them in the campaign's time zone. Empty
  means absent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from rappel.domain.errors import ValidationFailed
from rappel.domain.ids import parse_id

DEFAULT_MAX_BYTES = 64 * 1024
CALLBACK_STATE = 15
IMPORT_TAG_MAX = 250
_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_DATE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,7}))?$", re.ASCII
)
_INT = re.compile(r"^[+-]?\d{1,9}$", re.ASCII)
_SYSTEM_FIELDS = {
    name.lower(): name
    for name in (
        "CurrentActivity",
        "State",
        "SortInfo",
        "DialStartDate",
        "DialEndDate",
        "CreationTime",
        "ImportTag",
    )
}


@dataclass(frozen=True)
class ContextData:
    """One record to create: campaign fields plus the callback's system data."""

    campaign_fields: dict[str, str] = field(default_factory=dict)
    current_activity: str | None = None
    state: int | None = None
    sort_info: int | None = None
    dial_start: datetime | None = None
    dial_end: datetime | None = None
    creation_time: datetime | None = None
    import_tag: str | None = None

    @property
    def is_callback(self) -> bool:
        return self.state == CALLBACK_STATE


def parse_contextdata(body: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> ContextData:
    """Parse and check a ContextData document; raise ValidationFailed on any fault."""
    if len(body) > max_bytes:
        raise ValidationFailed("body", f"body is larger than {max_bytes} bytes")
    root = _parse_xml(body)
    if _local(root.tag).lower() != "contextdata":
        raise ValidationFailed("body", f"root element must be <contextdata>, not <{root.tag}>")
    sections = _sections(root)
    campaign = sections.get("campaigndata")
    system = _system_texts(sections.get("systemdata"))
    return _build(_campaign_fields(campaign) if campaign is not None else {}, system)


def _parse_xml(body: bytes) -> Element:
    try:
        return fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ValidationFailed("body", f"forbidden XML construct: {type(exc).__name__}") from exc
    except ParseError as exc:
        raise ValidationFailed("body", f"body is not well-formed XML: {exc}") from exc
    except (ValueError, LookupError, UnicodeError) as exc:
        raise ValidationFailed("body", "body is not well-formed XML") from exc


def _local(tag: object) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rsplit("}", 1)[-1]


def _sections(root: Element) -> dict[str, Element]:
    sections: dict[str, Element] = {}
    for child in root:
        name = _local(child.tag).lower()
        if name not in ("campaigndata", "systemdata"):
            raise ValidationFailed("body", f"unexpected element <{_local(child.tag)}>")
        if name in sections:
            raise ValidationFailed(name, f"<{name}> appears more than once")
        sections[name] = child
    if "campaigndata" not in sections:
        raise ValidationFailed("campaigndata", "<campaigndata> is missing")
    return sections


def _campaign_fields(section: Element) -> dict[str, str]:
    fields: dict[str, str] = {}
    for child in section:
        name = _local(child.tag)
        if not name:
            continue
        if len(child):
            raise ValidationFailed(name, f"campaign field <{name}> must hold text only")
        if name in fields:
            raise ValidationFailed(name, f"campaign field <{name}> appears more than once")
        fields[name] = (child.text or "").strip()
    return fields


def _system_texts(section: Element | None) -> dict[str, str | None]:
    texts: dict[str, str | None] = {}
    for child in section if section is not None else ():
        local = _local(child.tag)
        name = _SYSTEM_FIELDS.get(local.lower())
        if name is None:
            if not local:
                continue
            raise ValidationFailed(local, f"unknown system field <{local}>")
        if name in texts:
            raise ValidationFailed(name, f"<{name}> appears more than once")
        if len(child):
            raise ValidationFailed(name, f"<{name}> must hold text only")
        nil = child.get(_XSI_NIL, "").strip().lower() in ("true", "1")
        text = (child.text or "").strip()
        texts[name] = None if nil or not text else text
    return texts


def _build(campaign: dict[str, str], system: dict[str, str | None]) -> ContextData:
    data = ContextData(
        campaign_fields=campaign,
        current_activity=_activity(system.get("CurrentActivity")),
        state=_int(system.get("State"), "State"),
        sort_info=_int(system.get("SortInfo"), "SortInfo"),
        dial_start=_date(system.get("DialStartDate"), "DialStartDate"),
        dial_end=_date(system.get("DialEndDate"), "DialEndDate"),
        creation_time=_date(system.get("CreationTime"), "CreationTime"),
        import_tag=_import_tag(system.get("ImportTag")),
    )
    if data.dial_start and data.dial_end and data.dial_end < data.dial_start:
        raise ValidationFailed("DialEndDate", "DialEndDate is before DialStartDate")
    return data


def _activity(text: str | None) -> str | None:
    return parse_id(text, "CurrentActivity") if text is not None else None


def _int(text: str | None, name: str) -> int | None:
    if text is None:
        return None
    if not _INT.match(text):
        raise ValidationFailed(name, f"{name} must be an integer, not {text[:40]!r}")
    return int(text)


def _date(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    found = _DATE.match(text)
    if found is None:
        raise ValidationFailed(name, f"{name} must be yyyy-MM-dd HH:mm:ss[.fff], not {text[:40]!r}")
    year, month, day, hour, minute, second, fraction = found.groups()
    micro = int((fraction or "0").ljust(6, "0")[:6])
    try:
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro)
    except ValueError as exc:
        raise ValidationFailed(name, f"{name} is not a real date and time: {text!r}") from exc


def _import_tag(text: str | None) -> str | None:
    if text is not None and len(text) > IMPORT_TAG_MAX:
        raise ValidationFailed("ImportTag", f"ImportTag is longer than {IMPORT_TAG_MAX} characters")
    return text
