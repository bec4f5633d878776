"""The default prompt shipped for the demo channel's IVR script."""

from __future__ import annotations

import wave
from pathlib import Path

import rappel.telephony

SHIPPED = Path(rappel.telephony.__file__).parent / "prompts" / "welcome-callback.wav"


def test_the_demo_channels_script_has_a_small_8khz_mono_16bit_prompt() -> None:
    with wave.open(str(SHIPPED), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.0 < seconds < 8.0
    assert SHIPPED.stat().st_size < 150_000
