"""Bencode, the encoding of rtpengine's ng protocol.

An own codec because the well-kept PyPI ones either decode byte strings to text
by guessing, or (rightly for torrents) refuse dictionaries whose keys are not
sorted, which rtpengine sends (`d3:sdp...6:result2:oke`). Nesting depth is
bounded both ways, and every malformed input raises `BencodeError`, never
another exception.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: Deepest nesting of lists and dictionaries accepted when decoding.
MAX_DEPTH = 32

Decoded = bytes | int | list["Decoded"] | dict[bytes, "Decoded"]


class BencodeError(ValueError):
    """The bytes are not bencode, or the value cannot be bencoded."""


def encode(value: Any) -> bytes:
    """Bencode bytes, str (as UTF-8), int, bool (as 0/1), sequences and str-keyed mappings."""
    out: list[bytes] = []
    _encode(value, out, 0)
    return b"".join(out)


def _encode(value: Any, out: list[bytes], depth: int) -> None:
    if depth > MAX_DEPTH:
        raise BencodeError("value nested too deeply")
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        out += (str(len(value)).encode(), b":", value)
    elif isinstance(value, int):
        out += (b"i", str(int(value)).encode(), b"e")
    elif isinstance(value, Mapping):
        out.append(b"d")
        items = [(_key(key), item) for key, item in value.items()]
        for key, item in sorted(items, key=lambda pair: pair[0]):
            _encode(key, out, depth + 1)
            _encode(item, out, depth + 1)
        out.append(b"e")
    elif isinstance(value, Sequence):
        out.append(b"l")
        for item in value:
            _encode(item, out, depth + 1)
        out.append(b"e")
    else:
        raise BencodeError(f"cannot bencode a {type(value).__name__}")


def _key(key: Any) -> bytes:
    if isinstance(key, str):
        return key.encode()
    if isinstance(key, bytes):
        return key
    raise BencodeError(f"dictionary keys must be text or bytes, not {type(key).__name__}")


def decode(data: bytes) -> Decoded:
    """Decode one complete bencoded value; trailing bytes are an error."""
    value, end = _Decoder(data).value(0, 0)
    if end != len(data):
        raise BencodeError(f"trailing bytes after the value at offset {end}")
    return value


class _Decoder:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def value(self, at: int, depth: int) -> tuple[Decoded, int]:
        if depth > MAX_DEPTH:
            raise BencodeError("value nested too deeply")
        head = self.data[at : at + 1]
        if head == b"i":
            return self.integer(at)
        if head == b"l":
            return self.list(at, depth)
        if head == b"d":
            return self.dict(at, depth)
        if head.isdigit():
            return self.string(at)
        raise BencodeError(f"unexpected {head!r} at offset {at}")

    def integer(self, at: int) -> tuple[int, int]:
        end = self.data.find(b"e", at)
        text = self.data[at + 1 : end]
        if end < 0 or not _is_canonical_int(text):
            raise BencodeError(f"bad integer at offset {at}")
        return int(text), end + 1

    def string(self, at: int) -> tuple[bytes, int]:
        colon = self.data.find(b":", at)
        length = self.data[at:colon]
        if colon < 0 or not length.isdigit() or (length.startswith(b"0") and length != b"0"):
            raise BencodeError(f"bad string length at offset {at}")
        start = colon + 1
        end = start + int(length)
        if end > len(self.data):
            raise BencodeError(f"string at offset {at} runs past the end")
        return self.data[start:end], end

    def list(self, at: int, depth: int) -> tuple[list[Decoded], int]:
        items: list[Decoded] = []
        at += 1
        while self.data[at : at + 1] != b"e":
            if at >= len(self.data):
                raise BencodeError("list runs past the end")
            item, at = self.value(at, depth + 1)
            items.append(item)
        return items, at + 1

    def dict(self, at: int, depth: int) -> tuple[dict[bytes, Decoded], int]:
        items: dict[bytes, Decoded] = {}
        at += 1
        while self.data[at : at + 1] != b"e":
            if at >= len(self.data):
                raise BencodeError("dictionary runs past the end")
            if not self.data[at : at + 1].isdigit():
                raise BencodeError(f"dictionary key at offset {at} is not a string")
            key, at = self.string(at)
            items[key], at = self.value(at, depth + 1)
        return items, at + 1


def _is_canonical_int(text: bytes) -> bool:
    digits = text.removeprefix(b"-")
    if not digits.isdigit():
        return False
    return (digits == b"0" and text == b"0") or not digits.startswith(b"0")
