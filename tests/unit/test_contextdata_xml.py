from __future__ import annotations

from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rappel.api.contextdata_xml import parse_contextdata
from rappel.domain.errors import ValidationFailed

# The seed's two sample bodies, with real dates in place of the placeholders.
CAMPAIGN_RECORD = b"""<contextdata>
            <campaigndata>
                        <Name>My Customer Name</Name>
                        <PhoneNumber>0123456789</PhoneNumber>
            </campaigndata>
            <systemdata xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
    <CurrentActivity xsi:nil="true" />
                         <State>15</State>
                         <SortInfo>-2</SortInfo>
                         <DialStartDate>2026-01-05 10:00:00.000</DialStartDate>
                         <DialEndDate>2026-01-05 18:30:00.000</DialEndDate>
                         <CreationTime>2026-01-05 09:12:34.567</CreationTime>
                         <ImportTag>ImportTag</ImportTag>
            </systemdata>
</contextdata>"""

ACTIVITY_RECORD = b"""<contextdata>
            <campaigndata>
                        <Name>My Customer Name</Name>
                        <PhoneNumber>0123456789</PhoneNumber>
            </campaigndata>
            <systemdata>
                        <CurrentActivity>47b8f8ead10d45c7ac2331c5b47a48b8</CurrentActivity>
                         <State>15</State>
                         <SortInfo>-2</SortInfo>
                         <DialStartDate>2026-01-05 10:00:00</DialStartDate>
                         <DialEndDate>2026-01-05 18:30:00</DialEndDate>
                         <CreationTime></CreationTime>
                         <ImportTag>web</ImportTag>
            </systemdata>
</contextdata>"""


def body(system: str, campaign: str = "<Name>x</Name>") -> bytes:
    return (
        f"<contextdata><campaigndata>{campaign}</campaigndata>"
        f"<systemdata>{system}</systemdata></contextdata>"
    ).encode()


def refusal(data: bytes, **kwargs: int) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as caught:
        parse_contextdata(data, **kwargs)
    return caught.value


def test_campaign_record_sample_is_read_completely() -> None:
    data = parse_contextdata(CAMPAIGN_RECORD)
    assert data.campaign_fields == {"Name": "My Customer Name", "PhoneNumber": "0123456789"}
    assert data.current_activity is None
    assert data.state == 15
    assert data.is_callback
    assert data.sort_info == -2
    assert data.dial_start == datetime(2026, 1, 5, 10, 0)
    assert data.dial_end == datetime(2026, 1, 5, 18, 30)
    assert data.creation_time == datetime(2026, 1, 5, 9, 12, 34, 567000)
    assert data.import_tag == "ImportTag"


def test_activity_record_sample_pins_the_activity_in_upper_case() -> None:
    data = parse_contextdata(ACTIVITY_RECORD)
    assert data.current_activity == "47B8F8EAD10D45C7AC2331C5B47A48B8"
    assert data.creation_time is None
    assert data.dial_start == datetime(2026, 1, 5, 10, 0)


def test_campaign_field_order_and_case_are_kept() -> None:
    data = parse_contextdata(body("", "<zeta>1</zeta><Alpha>2</Alpha><alpha>3</alpha><E/>"))
    assert list(data.campaign_fields.items()) == [
        ("zeta", "1"),
        ("Alpha", "2"),
        ("alpha", "3"),
        ("E", ""),
    ]


def test_seven_digit_fraction_and_t_separator_are_accepted() -> None:
    data = parse_contextdata(body("<DialStartDate>2026-01-05T10:00:00.1234567</DialStartDate>"))
    assert data.dial_start == datetime(2026, 1, 5, 10, 0, 0, 123456)


def test_missing_systemdata_leaves_every_system_field_empty() -> None:
    data = parse_contextdata(b"<contextdata><campaigndata><A>1</A></campaigndata></contextdata>")
    assert data.state is None
    assert data.dial_start is None


@pytest.mark.parametrize(
    ("system", "field"),
    [
        ("<CurrentActivity>not-an-id</CurrentActivity>", "CurrentActivity"),
        ("<CurrentActivity>47b8f8ead10d45c7ac2331c5b47a48</CurrentActivity>", "CurrentActivity"),
        ("<State>callback</State>", "State"),
        ("<SortInfo>1.5</SortInfo>", "SortInfo"),
        ("<DialStartDate>05/01/2026 10:00</DialStartDate>", "DialStartDate"),
        ("<DialEndDate>2026-02-30 10:00:00</DialEndDate>", "DialEndDate"),
        ("<CreationTime>2026-01-05 25:00:00</CreationTime>", "CreationTime"),
        (f"<ImportTag>{'x' * 251}</ImportTag>", "ImportTag"),
        ("<Priority>1</Priority>", "Priority"),
        ("<State>15</State><State>15</State>", "State"),
        ("<State><x/></State>", "State"),
        (
            "<DialStartDate>2026-01-05 10:00:00</DialStartDate>"
            "<DialEndDate>2026-01-05 09:00:00</DialEndDate>",
            "DialEndDate",
        ),
    ],
)
def test_bad_system_field_is_refused_naming_the_field(system: str, field: str) -> None:
    assert refusal(body(system)).field == field


def test_import_tag_of_exactly_250_characters_is_kept() -> None:
    assert parse_contextdata(body(f"<ImportTag>{'x' * 250}</ImportTag>")).import_tag == "x" * 250


def test_nested_campaign_field_is_refused() -> None:
    assert refusal(body("", "<Name><b>x</b></Name>")).field == "Name"


def test_repeated_campaign_field_is_refused() -> None:
    assert refusal(body("", "<Name>a</Name><Name>b</Name>")).field == "Name"


def test_wrong_root_is_refused() -> None:
    assert "root" in refusal(b"<callback><campaigndata/></callback>").message


def test_missing_campaigndata_is_refused() -> None:
    assert refusal(b"<contextdata><systemdata/></contextdata>").field == "campaigndata"


@pytest.mark.parametrize("data", [b"", b"not xml", b'{"a": 1}', b"<contextdata>", b"\xff\xfe<"])
def test_non_xml_is_refused_as_a_body_fault(data: bytes) -> None:
    assert refusal(data).field == "body"


def test_oversize_body_is_refused_before_parsing() -> None:
    padding = b"<P>" + b"x" * 70_000 + b"</P>"
    assert "larger" in refusal(body("").replace(b"<Name>", padding + b"<Name>")).message


def test_size_limit_is_configurable() -> None:
    assert refusal(CAMPAIGN_RECORD, max_bytes=100).field == "body"


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<contextdata><campaigndata><Name>&lol4;</Name></campaigndata></contextdata>"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE contextdata [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<contextdata><campaigndata><Name>&xxe;</Name></campaigndata></contextdata>"""

EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE contextdata SYSTEM "http://127.0.0.1:9/evil.dtd">
<contextdata><campaigndata><Name>x</Name></campaigndata></contextdata>"""

PLAIN_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE contextdata>
<contextdata><campaigndata><Name>x</Name></campaigndata></contextdata>"""


@pytest.mark.parametrize("data", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD, PLAIN_DTD])
def test_dtds_and_entities_are_refused(data: bytes) -> None:
    failure = refusal(data)
    assert failure.field == "body"
    assert "forbidden" in failure.message


def test_namespaced_elements_are_read_by_local_name() -> None:
    data = parse_contextdata(
        b'<n:contextdata xmlns:n="urn:x"><n:campaigndata><n:Name>a</n:Name></n:campaigndata>'
        b"<n:systemdata><n:State>15</n:State></n:systemdata></n:contextdata>"
    )
    assert data.campaign_fields == {"Name": "a"}
    assert data.state == 15


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_bytes_raise_nothing_but_validation_failed(data: bytes) -> None:
    try:
        parse_contextdata(data)
    except ValidationFailed:
        pass


xml_text = st.text(alphabet=st.sampled_from(list("<>/=\"' &;:!?[]-xsSaTe15 \n")), max_size=80)


@settings(max_examples=300)
@given(xml_text, xml_text)
def test_mangled_documents_raise_nothing_but_validation_failed(campaign: str, system: str) -> None:
    try:
        parse_contextdata(body(system, campaign))
    except ValidationFailed:
        pass
