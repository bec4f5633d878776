"""The tone detector and u-law codec the real-peer tests rely on."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.support.tones import sine, tone_sequence, ulaw_decode, ulaw_encode, write_wav


def test_tones_are_listed_in_the_order_heard(tmp_path: Path) -> None:
    samples = sine(600, 0.5) + [0] * 2000 + sine(1000, 0.5) + sine(440, 0.06) + sine(1000, 0.3)
    write_wav(tmp_path / "heard.wav", samples)
    # 60 ms of 440 Hz is shorter than three 40 ms frames: a glitch, not a tone heard.
    assert tone_sequence(tmp_path / "heard.wav", freqs=[440, 600, 1000]) == [600, 1000]


def test_silence_and_unlisted_tones_are_not_heard(tmp_path: Path) -> None:
    write_wav(tmp_path / "quiet.wav", [0] * 4000 + sine(2000, 0.5))
    assert tone_sequence(tmp_path / "quiet.wav", freqs=[440, 600, 1000]) == []


@given(st.integers(min_value=-32768, max_value=32767))
def test_ulaw_keeps_a_sample_within_its_quantisation_step(sample: int) -> None:
    decoded = ulaw_decode(ulaw_encode(sample))
    assert abs(decoded - sample) <= max(abs(sample) // 16, 8) + 128 * (abs(sample) > 32000)
