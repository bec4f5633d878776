"""IVR prompts: a channel's IVR script `<name>` plays the file `<prompts dir>/<name>.wav`.

Files are 8 kHz mono 16-bit PCM WAV (what G.711 carries, so rtpengine plays
them without resampling). Rappel ships `welcome-callback.wav`, the demo
channel's script, in this package's folder (`DEFAULT_DIR`); an operator's own
prompts live in any folder that rtpengine can read, since rtpengine opens the
file itself. `scripts/make-prompts` regenerates the shipped ones.
"""

from __future__ import annotations

import re
from pathlib import Path

from rappel.domain.errors import NotFound, ValidationFailed

#: The prompts that ship with Rappel.
DEFAULT_DIR = Path(__file__).resolve().parent

_SCRIPT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def prompt_file(script: str, directory: Path = DEFAULT_DIR) -> Path:
    """The absolute path of the script's prompt; refuses names that leave the folder."""
    if not _SCRIPT_NAME.fullmatch(script) or ".." in script:
        raise ValidationFailed("script", f"{script!r} is not a valid IVR script name")
    path = (directory / f"{script}.wav").resolve()
    if not path.is_file():
        raise NotFound(f"no prompt for the IVR script {script!r} in {directory}")
    return path
