"""Where IVR scripts' prompts are found, and the shipped default prompt."""

from __future__ import annotations

import wave
from pathlib import Path

import pytest

from rappel.domain.errors import NotFound, ValidationFailed
from rappel.telephony.prompts import DEFAULT_DIR, prompt_file


def test_the_demo_channels_script_has_a_small_8khz_mono_16bit_prompt() -> None:
    path = prompt_file("welcome-callback")
    assert path == DEFAULT_DIR / "welcome-callback.wav"
    assert path.is_absolute()
    with wave.open(str(path), "rb") as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        seconds = wav.getnframes() / wav.getframerate()
    assert 1.0 < seconds < 8.0
    assert path.stat().st_size < 150_000


def test_an_operators_folder_is_searched_instead(tmp_path: Path) -> None:
    (tmp_path / "sales_intro.wav").write_bytes(b"RIFF")
    assert prompt_file("sales_intro", tmp_path) == (tmp_path / "sales_intro.wav").resolve()
    with pytest.raises(NotFound, match="welcome-callback"):
        prompt_file("welcome-callback", tmp_path)


@pytest.mark.parametrize("script", ["", "../secrets", "a/b", ".hidden", "x..y", "a b", "é"])
def test_names_that_could_leave_the_folder_are_refused(script: str) -> None:
    with pytest.raises(ValidationFailed, match="not a valid IVR script name"):
        prompt_file(script)
