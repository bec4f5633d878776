"""The in-memory session parameter store and the pure data-dip rules."""

from __future__ import annotations

import threading

import pytest

from rappel.domain.crm_dip import CrmMapping, DipAt, DipStage, InteractionValues, build_request
from rappel.domain.datadip import (
    MalformedDipRequest,
    Record,
    answer,
    parse_provider_config,
    read_dip_request,
)
from rappel.domain.errors import ValidationFailed
from rappel.integrations.datadip_client import SessionParameter
from rappel.services.crm_dip import screen
from rappel.services.session_params import SessionParameterStore

SHOWN_SAVED = SessionParameter("Tom Callahan", True, True)
SHOWN_SECRET = SessionParameter("3456", True, False)
HIDDEN = SessionParameter("English", False, False)
CONFIG = parse_provider_config(
    {
        "keys": [
            {"key": "account-num", "field": "externalId"},
            {"key": "phone-num", "field": "phone"},
        ],
        "returns": [
            {
                "name": "name",
                "source": "attribute:Name",
                "displayToAgent": True,
                "saveToDatabase": True,
            },
            {
                "name": "account-num",
                "source": "externalId",
                "displayToAgent": True,
                "saveToDatabase": True,
            },
        ],
    }
)


def test_for_agent_returns_only_display_values() -> None:
    store = SessionParameterStore()
    store.put("T", "I", {"name": SHOWN_SAVED, "ssn": SHOWN_SECRET, "language": HIDDEN})
    assert store.for_agent("T", "I") == {"name": "Tom Callahan", "ssn": "3456"}
    assert set(store.all("T", "I")) == {"name", "ssn", "language"}


def test_later_dip_replaces_values_of_the_same_name_and_keeps_others() -> None:
    store = SessionParameterStore()
    store.put("T", "I", {"name": SHOWN_SAVED, "ssn": SHOWN_SECRET})
    store.put("T", "I", {"name": SessionParameter("Thomas Callahan", True, True)})
    assert store.for_agent("T", "I") == {"name": "Thomas Callahan", "ssn": "3456"}


def test_drop_forgets_the_interaction_and_nothing_else() -> None:
    store = SessionParameterStore()
    store.put("T", "I", {"ssn": SHOWN_SECRET})
    store.put("T", "J", {"ssn": SHOWN_SECRET})
    store.drop("T", "I")
    store.drop("T", "never-held")
    assert store.all("T", "I") == {}
    assert store.for_agent("T", "J") == {"ssn": "3456"}
    assert len(store) == 1


def test_tenants_are_kept_apart() -> None:
    store = SessionParameterStore()
    store.put("A", "I", {"ssn": SHOWN_SECRET})
    assert store.all("B", "I") == {}


def test_capacity_evicts_the_least_recently_updated_interaction() -> None:
    store = SessionParameterStore(capacity=2)
    store.put("T", "1", {"n": HIDDEN})
    store.put("T", "2", {"n": HIDDEN})
    store.put("T", "1", {"m": HIDDEN})
    store.put("T", "3", {"n": HIDDEN})
    assert store.all("T", "2") == {}
    assert set(store.all("T", "1")) == {"n", "m"}
    assert len(store) == 2


def test_returned_dicts_are_copies() -> None:
    store = SessionParameterStore()
    store.put("T", "I", {"n": HIDDEN})
    store.all("T", "I").clear()
    assert store.all("T", "I") == {"n": HIDDEN}


def test_values_not_to_save_stay_out_of_repr() -> None:
    store = SessionParameterStore()
    store.put("T", "I", {"ssn": SHOWN_SECRET})
    assert "3456" not in repr(store.all("T", "I"))


def test_concurrent_puts_and_drops_keep_the_store_consistent() -> None:
    store = SessionParameterStore()

    def work(n: int) -> None:
        for i in range(200):
            store.put("T", f"{n}-{i}", {"x": HIDDEN})
            store.drop("T", f"{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) == 0


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        SessionParameterStore(capacity=0)


def test_request_keys_come_back_in_priority_order_without_empty_values() -> None:
    given = read_dip_request(b'{"phone-num": "8015551234", "account-num": ""}', CONFIG)
    assert [(k.key, v) for k, v in given] == [("phone-num", "8015551234")]
    both = read_dip_request(b'{"phone-num": "1", "account-num": "2"}', CONFIG)
    assert [k.key for k, _ in both] == ["account-num", "phone-num"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[]", MalformedDipRequest),
        (b"{", MalformedDipRequest),
        (b'{"a": 1}', ValidationFailed),
        (b'{"colour": "x"}', ValidationFailed),
        (b"{" + b" " * 17000 + b"}", MalformedDipRequest),
        ('{"phone-num": "1"}'.encode("utf-16-le"), MalformedDipRequest),
        ('{"phone-num": "1"}'.encode("utf-32"), MalformedDipRequest),
        (b'{"phone-num": "\\ud800"}', MalformedDipRequest),
        (b'{"\\udfff": "1"}', MalformedDipRequest),
        (b'{"phone-num": "1\\u00002"}', ValidationFailed),
    ],
)
def test_bad_requests_are_refused(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        read_dip_request(body, CONFIG)


def test_answer_leaves_out_fields_the_record_lacks() -> None:
    record = Record({"externalId": "76541643"}, {})
    assert answer(record, CONFIG) == {
        "parameters": {
            "account-num": {"value": "76541643", "displayToAgent": True, "saveToDatabase": True}
        }
    }
    assert answer(None, CONFIG) == {"parameters": {}}


def test_crm_request_takes_values_from_their_sources() -> None:
    values = InteractionValues.from_stored(
        "+18015551234", {"account": "7"}, [["order", "SO-1"]], [{"name": "Tier", "value": "gold"}]
    )
    mappings = [
        CrmMapping("phone", "customer_number"),
        CrmMapping("phone-num", "customer_number_national"),
        CrmMapping("account-num", "udata:account"),
        CrmMapping("order", "ext:order"),
        CrmMapping("tier", "attribute:tier"),
        CrmMapping("missing", "udata:nothing"),
    ]
    assert build_request(mappings, values) == {
        "phone": "+18015551234",
        "phone-num": "8015551234",
        "account-num": "7",
        "order": "SO-1",
        "tier": "gold",
    }


def test_dip_at_both_includes_both_stages() -> None:
    assert DipAt.BOTH.includes(DipStage.INTAKE)
    assert DipAt.BOTH.includes(DipStage.OFFER)
    assert not DipAt.OFFER.includes(DipStage.INTAKE)


def test_a_surrogate_pair_is_text_and_passes() -> None:
    given = read_dip_request(b'{"account-num": "\\ud83d\\ude00"}', CONFIG)
    assert given[0][1] == "\U0001f600"


def test_provider_campaigns_are_ids_normalised_and_deduplicated() -> None:
    dashed = "38e8f8df-0a4f-d5b1-d0f8-df4a618b0001"
    config = parse_provider_config({**CONFIG.to_json(), "campaigns": [dashed, dashed.upper()]})
    assert config.campaigns == ("38E8F8DF0A4FD5B1D0F8DF4A618B0001",)
    for bad in ("\u0000", "x" * 5000, "", "38E8F8DF"):
        with pytest.raises(ValidationFailed) as caught:
            parse_provider_config({**CONFIG.to_json(), "campaigns": [bad]})
        assert caught.value.field == "campaigns[0]"


NOT_TEXT = "x\u0000y"


def test_screening_keeps_what_can_be_held_and_saves_what_can_be_saved() -> None:
    screened = screen(
        {
            "name": SHOWN_SAVED,
            "ssn": SHOWN_SECRET,
            "long-value": SessionParameter("\u00e9" * 513, True, True),
            "fits": SessionParameter("\u00e9" * 512, False, True),
            "n" * 201: SessionParameter("v", True, True),
            "n" * 200: SessionParameter("v", True, True),
            "nul": SessionParameter(NOT_TEXT, True, False),
            "surrogate": SessionParameter("\ud800", True, True),
            "\ud800": HIDDEN,
            "a\u0000": HIDDEN,
        }
    )
    assert set(screened.held) == {"name", "ssn", "long-value", "fits", "n" * 201, "n" * 200}
    assert screened.saved == {
        "name": ("Tom Callahan", True),
        "fits": ("\u00e9" * 512, False),
        "n" * 200: ("v", True),
    }
    assert screened.notes == (
        "parameter 'long-value' not saved: value longer than 1024 bytes",
        f"parameter {'n' * 40!r} not saved: name longer than 200 characters",
        "parameter 'nul' dropped: NUL or unpaired surrogate",
        "parameter 'surrogate' dropped: NUL or unpaired surrogate",
        "parameter '\\ud800' dropped: NUL or unpaired surrogate",
        "parameter 'a\\x00' dropped: NUL or unpaired surrogate",
    )
    assert all("3456" not in note and NOT_TEXT not in note for note in screened.notes)
