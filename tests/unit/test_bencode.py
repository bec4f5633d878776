"""The bencode codec of rtpengine's ng protocol."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rappel.telephony.bencode import MAX_DEPTH, BencodeError, Decoded, decode, encode

values: st.SearchStrategy[Decoded] = st.recursive(
    st.binary(max_size=40) | st.integers(),
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(st.binary(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)


def test_encodes_a_command_with_sorted_keys_and_utf8_text() -> None:
    request = {"sdp": "v=0", "command": "offer", "flags": ["port-latching"], "n": -3}
    assert encode(request) == b"d7:command5:offer5:flagsl13:port-latchinge1:ni-3e3:sdp3:v=0e"
    assert encode("é") == b"2:\xc3\xa9"
    assert encode(True) == b"i1e"


def test_decodes_rtpengines_unsorted_reply() -> None:
    assert decode(b"d3:sdp3:v=06:result2:oke") == {b"sdp": b"v=0", b"result": b"ok"}


@given(values)
def test_what_is_encoded_decodes_to_the_same_value(value: Decoded) -> None:
    assert decode(encode(value)) == value


@given(st.binary(max_size=200))
def test_arbitrary_bytes_decode_or_raise_bencode_error(data: bytes) -> None:
    try:
        decode(data)
    except BencodeError:
        pass


@given(values, st.integers(min_value=0, max_value=200))
def test_truncated_values_are_refused(value: Decoded, cut: int) -> None:
    data = encode(value)
    if cut < len(data):
        with pytest.raises(BencodeError):
            decode(data[:cut])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"i01e",
        b"i-0e",
        b"ie",
        b"i12",
        b"03:abc",
        b"5:abc",
        b"3abc",
        b"l",
        b"d3:abc",
        b"di1ei2ee",
        b"1:ax",
        b"x",
    ],
)
def test_malformed_input_is_refused(data: bytes) -> None:
    with pytest.raises(BencodeError):
        decode(data)


def test_nesting_is_bounded_both_ways() -> None:
    with pytest.raises(BencodeError, match="nested"):
        decode(b"l" * (MAX_DEPTH + 2) + b"e" * (MAX_DEPTH + 2))
    deep: list[object] = []
    for _ in range(MAX_DEPTH + 2):
        deep = [deep]
    with pytest.raises(BencodeError, match="nested"):
        encode(deep)


def test_values_bencode_cannot_hold_are_refused() -> None:
    with pytest.raises(BencodeError, match="float"):
        encode(1.5)
    with pytest.raises(BencodeError, match="keys"):
        encode({1: b"x"})
