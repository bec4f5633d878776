"""Logs never carry tokens or passwords."""

from __future__ import annotations

import io
import json
import logging

from rappel.logs import configure_logging, redact

TOKEN = "fb65d0515b9631c6db72e7e66fe6df49"


def test_token_shaped_strings_are_masked_but_entity_ids_are_kept() -> None:
    text = redact(f"GET /SC/webcallback.php?tenant=Acme&token={TOKEN}&queue_id=103")
    assert TOKEN not in text
    assert "token=***" in text
    kept = redact("interaction 8A7C98EAF1164F2FAA93B98EECB95D76 done")
    assert "8A7C98EAF1164F2FAA93B98EECB95D76" in kept


def test_authorization_headers_and_passwords_are_masked() -> None:
    text = redact('Authorization: Bearer abc.def-123 {"password": "hunter22"} whsec_c2VjcmV0')
    assert "abc.def-123" not in text
    assert "hunter22" not in text
    assert "c2VjcmV0" not in text


def test_json_log_lines_are_redacted() -> None:
    stream = io.StringIO()
    configure_logging("INFO", "json", stream)
    logging.getLogger("rappel.test").info("request with token=%s", TOKEN)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert TOKEN not in stream.getvalue()
    assert line["level"] == "info"
    assert line["logger"] == "rappel.test"
    logging.getLogger().handlers.clear()
