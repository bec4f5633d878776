"""OBI bodies cost bounded work off the event loop, and odd XML encodings are a 400."""

from __future__ import annotations

from xml.etree import ElementTree

import httpx
import pytest

from rappel.api.json_size import MAX_JSON_VALUES
from rappel.services.demo import API_TOKEN, TEST_CAMPAIGN_ID
from tests.support.responsive import healthz_meanwhile

AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
XML_IN = {**AUTH, "Accept": "application/xml", "Content-Type": "application/xml"}
CAMPAIGN = f"/RI/obi/campaigns/{TEST_CAMPAIGN_ID}"
#: Encodings Python does not know, or that expat cannot take from Python (multi-byte, not text).
ODD_ENCODINGS = ("x-klingon", "utf-7", "shift_jis", "big5", "hex", "base64", "idna")
#: Every OBI route that reads an XML body, with a body it would otherwise accept.
XML_ROUTES = (
    ("POST", f"{CAMPAIGN}/customers", "<customer><numbers>+14155550100</numbers></customer>"),
    (
        "POST",
        f"{CAMPAIGN}/customers/list",
        "<customers><customer><numbers>+14155550101</numbers></customer></customers>",
    ),
    (
        "PUT",
        CAMPAIGN,
        "<campaign><name>Renamed</name><dialingMode>PREVIEW</dialingMode></campaign>",
    ),
    ("PUT", f"{CAMPAIGN}/status", "<status>Active</status>"),
)


@pytest.mark.parametrize(("method", "path", "document"), XML_ROUTES)
def test_an_xml_encoding_nobody_can_read_is_a_400_in_obi_terms(
    http: httpx.Client, demo: str, method: str, path: str, document: str
) -> None:
    for encoding in ODD_ENCODINGS:
        body = f'<?xml version="1.0" encoding="{encoding}"?>{document}'.encode()
        answer = http.request(method, path, content=body, headers=XML_IN)
        assert answer.status_code == 400, (encoding, answer.text)
        root = ElementTree.fromstring(answer.content)
        assert root.tag == "response"
        assert root.findtext("statusCode") == "400"
        expected = f"Invalid XML: encoding {encoding!r} is not supported (use UTF-8)"
        assert root.findtext("error") == expected


def test_a_declared_encoding_python_reads_is_accepted(http: httpx.Client, demo: str) -> None:
    for encoding in ("UTF-8", "ISO-8859-1", "windows-1252"):
        body = f'<?xml version="1.0" encoding="{encoding}"?><status>Active</status>'.encode()
        assert http.put(f"{CAMPAIGN}/status", content=body, headers=XML_IN).status_code == 204


def test_160000_repeated_siblings_answer_4xx_while_healthz_keeps_answering(
    http: httpx.Client, demo: str
) -> None:
    body = b"<customer>" + b"<x/>" * 160_000 + b"</customer>"
    seen = healthz_meanwhile(
        str(http.base_url),
        lambda client: client.post(f"{CAMPAIGN}/customers", content=body, headers=XML_IN),
    )
    assert seen.result is not None
    assert seen.result.status_code == 400
    # Before the fix the server was frozen for the whole request (21 s to 44 s).
    assert seen.answered_in_second_half, seen.polls


def test_a_json_body_of_too_many_values_is_refused_before_it_is_parsed(
    http: httpx.Client, demo: str
) -> None:
    # 5 MiB of `[],` held the interpreter lock (json.loads) for a second, in any thread.
    headers = {**AUTH, "Accept": "application/json", "Content-Type": "application/json"}
    for first in (b"1", b'"\\u0000"'):  # a NUL makes the text guard look at it first
        body = b"[" + first + b"," + b"[]," * 1_700_000 + b"1]"
        answer = http.post(f"{CAMPAIGN}/customers/list", content=body, headers=headers)
        assert answer.status_code == 400
        assert answer.json()["error"] == f"Invalid JSON: more than {MAX_JSON_VALUES} values"
