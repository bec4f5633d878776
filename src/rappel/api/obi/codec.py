"""OBI bodies in JSON or XML, chosen by `Accept` and `Content-Type` (seed 003).

Negotiation (the seed's "Request Header Data Requirements"):

* Responses are JSON when `Accept` prefers `application/json`, XML when it
  prefers `application/xml` or `text/xml`. The seed says a client *must* ask
  for JSON and *should* ask for XML, so XML is the default: a missing Accept
  or `*/*` gets XML. A request that accepts neither (e.g. only `text/html` on
  POST /customers/list, which answers a document) gets the format of its own
  body, else XML.
* Request bodies are JSON with `Content-Type: application/json`, XML with
  `application/xml` or `text/xml`, and XML when the header is missing (the
  seed's "should"); any other content type is 415.

XML shape: element names are the JSON field names. An object is an element
with one child per field; a list is the same element repeated (JAXB style),
so `"answers": [{...}, {...}]` is `<answers>..</answers><answers>..</answers>`
and the seed's `"attributes": {"attribute": [...]}` is
`<attributes><attribute><name/><value/></attribute>...</attributes>`.
A top-level list has a plural root with one item element per entry
(`<campaigns><campaign>..</campaign></campaigns>`). Null fields are left out.
On input the root element's name is not checked; text values arrive as
strings and the validators accept numeric strings where numbers are wanted.

Tolerance: the seed's own example bodies carry a trailing comma (PUT
/campaigns) and a stray closing brace (POST /customers). JSON that fails
strict parsing is read once more with trailing commas before `}`/`]` removed
and trailing closing brackets ignored, so those examples are accepted;
anything else malformed is 400.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, TreeBuilder, tostring

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import XMLParser

from rappel.api.json_size import MAX_JSON_VALUES, too_many_values
from rappel.domain.errors import ValidationFailed

#: Largest request body accepted under /RI/obi (a full 1000-customer list fits easily).
MAX_BODY_BYTES = 5 * 1024 * 1024
#: Deepest nesting accepted in a body; OBI documents are three levels deep.
MAX_DEPTH = 16
#: Most elements in one XML body. A full list (1000 customers, each with every field
#: and 100 attributes) has about 312,000; 5 MiB of empty elements would be 1.3 million.
MAX_ELEMENTS = 320_000
_FEED_BYTES = 64 * 1024


class Format(StrEnum):
    """A body format OBI speaks."""

    JSON = "application/json"  #: JSON
    XML = "application/xml"  #: XML (the default)


class UnsupportedMediaType(ValidationFailed):
    """The request body's Content-Type is neither JSON nor XML (HTTP 415)."""


_XML_TYPES = {"application/xml", "text/xml"}


def _media_ranges(header: str) -> list[tuple[str, float]]:
    ranges = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        media = pieces[0].lower()
        if not media:
            continue
        quality = 1.0
        for param in pieces[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((media, quality))
    return ranges


def response_format(accept: str | None, body_format: Format | None = None) -> Format:
    """The format to answer in (never refuses: OBI errors must still be readable)."""
    if not accept:
        return body_format or Format.XML
    best: tuple[float, Format] | None = None
    for media, quality in _media_ranges(accept):
        if quality <= 0:
            continue
        found = (
            Format.JSON
            if media == "application/json" or media.endswith("+json")
            else Format.XML
            if media in _XML_TYPES or media.endswith("+xml")
            else None
        )
        if found is None:
            continue
        if best is None or quality > best[0]:
            best = (quality, found)
    if best is not None:
        return best[1]
    return body_format or Format.XML


def request_format(content_type: str | None) -> Format:
    """The format of a request body, from its Content-Type."""
    if not content_type:
        return Format.XML
    media = content_type.split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return Format.JSON
    if media in _XML_TYPES or media.endswith("+xml"):
        return Format.XML
    raise UnsupportedMediaType(
        "Content-Type",
        f"Unsupported Content-Type {media!r}: use application/json or application/xml",
    )


# -- decoding -------------------------------------------------------------


_TRAILING_COMMA = re.compile(r",(\s*[}\]])")
#: A string literal, or an unterminated one up to the end. Possessive, and matching
#: even when unterminated, so no quote is ever tried twice as a start: linear time
#: (a body of `\"` pairs after an open quote took 40 s for 80 KB with backtracking).
_STRING = re.compile(r'("(?:[^"\\]|\\.)*+(?:"|\\?\Z))', re.DOTALL)


def decode(body: bytes, fmt: Format, *, list_items: Iterable[str] = ()) -> Any:
    """A request body as Python data; `list_items` names XML elements that are always lists."""
    if not body.strip():
        raise ValidationFailed("body", "Request body is empty")
    if fmt is Format.JSON:
        return _decode_json(body)
    return _decode_xml(body, frozenset(list_items))


def _decode_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationFailed("body", "Invalid JSON: body is not UTF-8") from exc
    if too_many_values(body):
        raise ValidationFailed("body", f"Invalid JSON: more than {MAX_JSON_VALUES} values")
    try:
        value = json.loads(text, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        value = _lenient_json(text, exc)
    except RecursionError as exc:
        raise ValidationFailed("body", "Invalid JSON: nested too deeply") from exc
    _check_depth(value, 0)
    return value


def _lenient_json(text: str, error: json.JSONDecodeError) -> Any:
    repaired = _strip_trailing_commas(text)
    try:
        value, end = json.JSONDecoder(parse_int=_json_int).raw_decode(repaired.strip())
    except (json.JSONDecodeError, RecursionError):
        raise ValidationFailed(
            "body", f"Invalid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from error
    rest = repaired.strip()[end:]
    if rest.strip(" \t\r\n}]"):
        raise ValidationFailed(
            "body", f"Invalid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        )
    return value


def _json_int(text: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        # Python converts at most 4,300 digits (sys.get_int_max_str_digits); no OBI
        # number comes near, so a longer one is a malformed body, not a server fault.
        raise ValidationFailed(
            "body", f"Invalid JSON: an integer of {len(text.lstrip('-'))} digits is too long"
        ) from exc


def _strip_trailing_commas(text: str) -> str:
    """Drop commas directly before a closing bracket, outside string literals."""
    out: list[str] = []
    for index, piece in enumerate(_STRING.split(text)):
        out.append(piece if index % 2 else _TRAILING_COMMA.sub(r"\1", piece))
    return "".join(out)


def _check_depth(value: Any, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ValidationFailed("body", "Invalid body: nested too deeply")
    if isinstance(value, dict):
        for item in value.values():
            _check_depth(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_depth(item, depth + 1)


def _decode_xml(body: bytes, list_items: frozenset[str]) -> Any:
    parser = XMLParser(target=_BoundedTree(), forbid_dtd=True)
    try:
        # In pieces: the parser's handlers run between them, so a thread parsing a
        # big body never holds the interpreter for the whole document at once.
        for start in range(0, len(body), _FEED_BYTES):
            parser.feed(body[start : start + _FEED_BYTES])
        root = parser.close()
    except _TooBig as exc:
        raise ValidationFailed("body", f"Invalid XML: {exc}") from exc
    except DefusedXmlException as exc:
        raise ValidationFailed("body", "Invalid XML: DTDs and entities are not allowed") from exc
    except ParseError as exc:
        raise ValidationFailed("body", f"Invalid XML: {exc}") from exc
    except (LookupError, ValueError) as exc:
        # expat asks Python for encodings it does not know itself: an unknown name is a
        # LookupError, a multi-byte or non-text codec (shift_jis, hex, idna) a ValueError.
        raise ValidationFailed("body", _encoding_message(body)) from exc
    return _element_value(root, list_items, top=True)


class _TooBig(Exception):
    """The document is past MAX_ELEMENTS or MAX_DEPTH (raised while it is being read)."""


class _BoundedTree(TreeBuilder):
    """A tree builder that stops the parse as soon as a bound is passed."""

    def __init__(self) -> None:
        super().__init__()
        self._elements = 0
        self._depth = 0

    def start(self, tag: str, attrs: dict[str, str]) -> Element:
        self._elements += 1
        self._depth += 1
        if self._elements > MAX_ELEMENTS:
            raise _TooBig(f"more than {MAX_ELEMENTS} elements")
        if self._depth > MAX_DEPTH + 1:
            raise _TooBig("nested too deeply")
        return super().start(tag, attrs)

    def end(self, tag: str) -> Element:
        self._depth -= 1
        return super().end(tag)


_DECLARED_ENCODING = re.compile(rb"<\?xml[^>]{0,200}?encoding\s*=\s*[\"']([^\"'>]{0,40})")


def _encoding_message(body: bytes) -> str:
    found = _DECLARED_ENCODING.search(body[:300])
    name = found.group(1).decode("ascii", "replace") if found else "?"
    return f"Invalid XML: encoding {name!r} is not supported (use UTF-8)"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element_value(element: Element, list_items: frozenset[str], *, top: bool = False) -> Any:
    children = list(element)
    if not children:
        return element.text or ""
    names = [_local(c.tag) for c in children]
    # A root whose children all share one list-item name is a top-level list.
    if top and len(set(names)) == 1 and names[0] in list_items:
        return [_element_value(c, list_items) for c in children]
    # Values are grouped first and lists made once: linear in the number of siblings.
    grouped: dict[str, list[Any]] = {}
    for name, child in zip(names, children, strict=True):
        grouped.setdefault(name, []).append(_element_value(child, list_items))
    return {
        name: values if name in list_items or len(values) > 1 else values[0]
        for name, values in grouped.items()
    }


# -- encoding -------------------------------------------------------------


@dataclass(frozen=True)
class Encoded:
    body: bytes
    media_type: str


def encode(value: Any, fmt: Format, root: str, item: str | None = None) -> Encoded:
    """`value` (dict or list) as JSON or as XML under `root` (list entries named `item`)."""
    if fmt is Format.JSON:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        # An error message may quote an unpaired surrogate the client sent: escaped, not fatal.
        return Encoded(text.encode("utf-8", "backslashreplace"), "application/json")
    element = Element(root)
    if isinstance(value, list):
        for entry in value:
            _fill(SubElement(element, item or "item"), entry)
    else:
        _fill(element, value)
    return Encoded(tostring(element, encoding="utf-8", xml_declaration=True), "application/xml")


def _fill(element: Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for key, child in value.items():
            if child is None:
                continue
            if isinstance(child, list):
                for entry in child:
                    _fill(SubElement(element, key), entry)
            else:
                _fill(SubElement(element, key), child)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
