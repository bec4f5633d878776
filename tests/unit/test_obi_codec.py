"""The OBI codec: negotiation by Accept/Content-Type, XML shape, safe and lenient reading."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from rappel.api.json_size import MAX_JSON_VALUES
from rappel.api.obi.codec import (
    MAX_DEPTH,
    MAX_ELEMENTS,
    Format,
    UnsupportedMediaType,
    decode,
    encode,
    request_format,
    response_format,
)
from rappel.domain.errors import ValidationFailed


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, Format.XML),
        ("*/*", Format.XML),
        ("application/json", Format.JSON),
        ("application/xml", Format.XML),
        ("text/xml", Format.XML),
        ("application/xml;q=0.5, application/json", Format.JSON),
        ("application/json;q=0.1, application/xml;q=0.9", Format.XML),
        ("application/json;q=0", Format.XML),
    ],
)
def test_response_format_follows_accept_with_xml_as_default(
    accept: str | None, expected: Format
) -> None:
    assert response_format(accept) is expected


def test_text_html_accept_answers_in_the_format_of_the_body() -> None:
    assert response_format("text/html", Format.JSON) is Format.JSON
    assert response_format("text/html") is Format.XML


def test_request_format_from_content_type() -> None:
    assert request_format("application/json; charset=utf-8") is Format.JSON
    assert request_format("application/xml") is Format.XML
    assert request_format("text/xml") is Format.XML
    assert request_format(None) is Format.XML
    with pytest.raises(UnsupportedMediaType):
        request_format("text/plain")


def test_xml_uses_json_field_names_and_repeats_list_elements() -> None:
    value = [
        {
            "id": "A",
            "attributes": {"attribute": [{"name": "City", "value": "Oslo"}]},
            "script": {
                "name": "S",
                "answers": [{"question": "q1", "answer": "a1"}, {"question": "q2", "answer": "a2"}],
            },
            "skipped": None,
            "flag": True,
        }
    ]
    root = ElementTree.fromstring(encode(value, Format.XML, "customers", "customer").body)
    customer = root.find("customer")
    assert customer is not None
    assert customer.findtext("attributes/attribute/name") == "City"
    assert [a.findtext("answer") for a in customer.findall("script/answers")] == ["a1", "a2"]
    assert customer.find("skipped") is None
    assert customer.findtext("flag") == "true"


def test_xml_round_trip_of_a_customer_list() -> None:
    value = [{"numbers": "1", "attributes": {"attribute": [{"name": "a", "value": "b"}]}}]
    body = encode(value, Format.XML, "customers", "customer").body
    assert decode(body, Format.XML, list_items=("customer", "attribute")) == value


def test_json_encoding_keeps_unicode() -> None:
    assert encode({"name": "Zoë"}, Format.JSON, "x").body == '{"name":"Zoë"}'.encode()


def test_the_seeds_trailing_comma_and_stray_brace_are_tolerated() -> None:
    assert decode(b'{"a": 1,\n}', Format.JSON) == {"a": 1}
    assert decode(b'{"a": "x,}"\n}\n}', Format.JSON) == {"a": "x,}"}


@pytest.mark.parametrize(
    ("body", "fmt"),
    [
        (b"", Format.JSON),
        (b"{", Format.JSON),
        (b'{"a": 1} trailing', Format.JSON),
        (b"\xff\xfe", Format.JSON),
        (b"[" * 5000 + b"]" * 5000, Format.JSON),
        (b"<a><b></a>", Format.XML),
        (b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', Format.XML),
        (b'<!DOCTYPE a SYSTEM "file:///etc/passwd"><a/>', Format.XML),
        (b"<a>" * 100 + b"</a>" * 100, Format.XML),
    ],
)
def test_bad_bodies_are_validation_errors(body: bytes, fmt: Format) -> None:
    with pytest.raises(ValidationFailed):
        decode(body, fmt)


@pytest.mark.parametrize(
    "body",
    [
        b'{"priority": 1' + b"0" * 5000 + b"}",
        b'{"priority": -1' + b"0" * 5000 + b"}",
        # Strict reading stops at the trailing comma; the lenient one meets the number.
        b'{"tags": ["a",], "priority": 1' + b"0" * 5000 + b"}",
    ],
)
def test_an_integer_python_will_not_convert_is_a_malformed_body(body: bytes) -> None:
    with pytest.raises(ValidationFailed, match="Invalid JSON: an integer of 5001 digits"):
        decode(body, Format.JSON)


def test_long_integers_python_converts_are_read() -> None:
    assert decode(b'{"n": 1' + b"0" * 400 + b"}", Format.JSON) == {"n": 10**400}


def test_many_repeated_siblings_decode_to_one_list_in_order() -> None:
    body = b"<customer>" + b"".join(b"<x>%d</x>" % i for i in range(160_000)) + b"</customer>"
    assert decode(body, Format.XML) == {"x": [str(i) for i in range(160_000)]}


def test_an_xml_body_past_the_element_bound_is_refused() -> None:
    body = b"<customers>" + b"<x/>" * MAX_ELEMENTS + b"</customers>"
    with pytest.raises(ValidationFailed, match=f"more than {MAX_ELEMENTS} elements"):
        decode(body, Format.XML)


def test_xml_nested_past_the_depth_bound_is_refused() -> None:
    deepest = b"<a>" * (MAX_DEPTH + 1) + b"x" + b"</a>" * (MAX_DEPTH + 1)
    assert decode(deepest, Format.XML) is not None
    with pytest.raises(ValidationFailed, match="nested too deeply"):
        decode(b"<a>" + deepest + b"</a>", Format.XML)


@pytest.mark.parametrize("encoding", ["x-klingon", "utf-7", "shift_jis", "hex", "idna"])
def test_an_unreadable_declared_encoding_is_a_validation_error(encoding: str) -> None:
    body = f'<?xml version="1.0" encoding="{encoding}"?><status>Active</status>'.encode()
    with pytest.raises(ValidationFailed, match=f"encoding '{encoding}' is not supported"):
        decode(body, Format.XML)


def test_an_unterminated_json_string_of_escaped_quotes_is_refused_at_once() -> None:
    # The trailing-comma repair used to backtrack from every quote: 40 s for 80 KB.
    body = b'{"a":"' + b'\\"' * 2_000_000
    with pytest.raises(ValidationFailed, match="Unterminated string"):
        decode(body, Format.JSON)


def test_trailing_commas_inside_strings_are_kept() -> None:
    body = b'{"a": "x,]", "b": ["\\",}", 1,],}'
    assert decode(body, Format.JSON) == {"a": "x,]", "b": ['",}', 1]}


def test_a_json_body_past_the_value_bound_is_refused() -> None:
    at_bound = b"[" + b"1," * (MAX_JSON_VALUES - 1) + b"1]"
    assert len(decode(at_bound, Format.JSON)) == MAX_JSON_VALUES
    with pytest.raises(ValidationFailed, match=f"more than {MAX_JSON_VALUES} values"):
        decode(b"[" + b"1," * MAX_JSON_VALUES + b"1]", Format.JSON)
