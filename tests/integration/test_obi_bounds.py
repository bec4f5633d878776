"""OBI bodies cost bounded work off the event loop, and odd XML encodings are a 400."""

from __future__ import annotations

import threading
import time
from xml.etree import ElementTree

import httpx
import pytest

from rappel.services.demo import API_TOKEN, TEST_CAMPAIGN_ID

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
    big: dict[str, float | int] = {}

    def post() -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=300) as client:
            big["start"] = time.monotonic()
            big["status"] = client.post(
                f"{CAMPAIGN}/customers", content=body, headers=XML_IN
            ).status_code
            big["end"] = time.monotonic()

    thread = threading.Thread(target=post)
    thread.start()
    polls: list[tuple[float, float]] = []
    while thread.is_alive():
        sent = time.monotonic()
        assert http.get("/healthz").status_code == 200
        polls.append((sent, time.monotonic()))
    thread.join()
    assert big["status"] == 400
    # A health check asked in the second half of the big request was answered before it
    # ended: the server was not frozen by it (before the fix it was, for its whole length).
    middle = (big["start"] + big["end"]) / 2
    assert any(sent > middle and answered < big["end"] for sent, answered in polls), polls
