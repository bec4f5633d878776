"""Prompts: a channel's IVR script `name` is the audio file `name.wav` in the prompts folder.

Files are 8 kHz mono 16-bit PCM WAV (what G.711 carries; rtpengine plays them
to the caller). The folder is `RAPPEL_PROMPTS_DIR`, or the prompts shipped
with Rappel. Script names are checked so that a name can never leave the folder.
"""

from __future__ import annotations

import re
from pathlib import Path

from rappel.domain.errors import ValidationFailed

#: The prompts shipped with Rappel (the demo channel's `welcome-callback`).
BUILT_IN = Path(__file__).parent / "prompts"

_SCRIPT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")


class PromptLibrary:
    """Finds the audio file of an IVR script."""

    def __init__(self, folder: str | Path = "") -> None:
        self.folder = Path(folder) if folder else BUILT_IN

    def path_of(self, script: str) -> Path | None:
        """The file of `script`, or None when there is none (the call goes on without it)."""
        if not _SCRIPT.match(script) or ".." in script:
            raise ValidationFailed("ivr_script", f"{script!r} is not a prompt name")
        for candidate in (self.folder / f"{script}.wav", BUILT_IN / f"{script}.wav"):
            if candidate.is_file():
                return candidate.resolve()
        return None
