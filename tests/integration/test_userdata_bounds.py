"""User data is bounded where it is taken: pairs per request, and `$token$`s a webhook expands."""

from __future__ import annotations

import httpx

from rappel.api.webcallback import MAX_USERDATA_PAIRS
from rappel.services.callbacks import MAX_WEBHOOK_TOKENS
from rappel.services.demo import API_TOKEN

HOOK = "http://127.0.0.1:9/hook"
FORM = {"tenant": "Acme", "token": API_TOKEN, "callback_type": "2", "queue_id": "103"}


def _webcallback(http: httpx.Client, phone: str, userdata: str) -> httpx.Response:
    return http.get(
        "/SC/webcallback.php", params={**FORM, "phone": phone, "ctl_userdata": userdata}
    )


def test_8x8_userdata_tokens_past_the_bound_are_ctl_error_16(http: httpx.Client, demo: str) -> None:
    at_bound = f"[ctl_callbackUrl|{HOOK}][n|{'$notes$' * MAX_WEBHOOK_TOKENS}]"
    assert _webcallback(http, "16505551201", at_bound).status_code == 200
    over = f"[ctl_callbackUrl|{HOOK}][n|{'$notes$' * (MAX_WEBHOOK_TOKENS + 1)}]"
    answer = _webcallback(http, "16505551202", over)
    assert answer.status_code == 400
    assert answer.json()["ctl_error"] == 16
    assert f"at most {MAX_WEBHOOK_TOKENS}" in answer.json()["message"]
    # Without a webhook nothing is expanded, so nothing is counted.
    no_hook = f"[n|{'$notes$' * (MAX_WEBHOOK_TOKENS + 1)}]"
    assert _webcallback(http, "16505551203", no_hook).status_code == 200


def test_8x8_userdata_pairs_past_the_bound_are_ctl_error_16(http: httpx.Client, demo: str) -> None:
    pairs = "".join(f"[{i}|]" for i in range(MAX_USERDATA_PAIRS))
    assert _webcallback(http, "16505551204", pairs).status_code == 200
    answer = _webcallback(http, "16505551205", pairs + "[x|]")
    assert answer.status_code == 400
    assert answer.json()["ctl_error"] == 16


def test_native_udata_tokens_past_the_bound_are_a_422_problem(
    http: httpx.Client, demo: str
) -> None:
    body = {
        "phone": "+16505551206",
        "queue_id": "103",
        "webhook_url": HOOK,
        "udata": {f"k{i}": "$notes$$transaction_codes$" for i in range(MAX_WEBHOOK_TOKENS)},
    }
    answer = http.post("/v1/callbacks", json=body, headers={"Authorization": f"Bearer {API_TOKEN}"})
    assert answer.status_code == 422
    assert answer.json()["field"] == "udata"
