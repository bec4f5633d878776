"""Which tones a recording heard, and in which order (Goertzel over short frames).

Each phone in a test sends its own tone (customer 440 Hz, agent 1000 Hz,
prompt 600 Hz), so what a phone heard proves where audio flowed::

    tone_sequence("rec.wav", freqs=[440, 600, 1000])   # e.g. [600, 1000]

Also the G.711 u-law codec and tone synthesis, for tests that speak RTP from
plain UDP sockets.
"""

from __future__ import annotations

import math
import wave
from collections.abc import Sequence
from pathlib import Path

RATE = 8000


def read_wav(path: str | Path) -> tuple[list[int], int]:
    """The samples (first channel, 16-bit) and the sample rate of a WAV file."""
    with wave.open(str(path), "rb") as wav:
        if wav.getsampwidth() != 2:
            raise ValueError(f"{path} is not 16-bit PCM")
        channels, rate = wav.getnchannels(), wav.getframerate()
        data = wav.readframes(wav.getnframes())
    samples = [
        int.from_bytes(data[i : i + 2], "little", signed=True) for i in range(0, len(data), 2)
    ]
    return samples[::channels], rate


def write_wav(path: str | Path, samples: Sequence[int], rate: int = RATE) -> None:
    """Write 16-bit mono PCM."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))


def sine(freq: float, seconds: float, rate: int = RATE, amplitude: int = 8000) -> list[int]:
    return [
        round(amplitude * math.sin(2 * math.pi * freq * n / rate))
        for n in range(round(seconds * rate))
    ]


def frame_tone(samples: Sequence[int], rate: int, freqs: Sequence[int]) -> int | None:
    """The one tone of `freqs` that dominates the frame, or None (silence, noise, speech)."""
    energy = sum(s * s for s in samples)
    if not samples or energy / len(samples) < 100**2:
        return None
    best, best_share = None, 0.0
    for freq in freqs:
        share = 2 * _goertzel_power(samples, rate, freq) / (len(samples) * energy)
        if share > best_share:
            best, best_share = freq, share
    return best if best_share > 0.5 else None


def frame_tones(
    samples: Sequence[int], rate: int, freqs: Sequence[int], frame_ms: int = 40
) -> list[int | None]:
    size = rate * frame_ms // 1000
    return [
        frame_tone(samples[i : i + size], rate, freqs)
        for i in range(0, len(samples) - size + 1, size)
    ]


def sequence_of(tones: Sequence[int | None], min_frames: int = 3) -> list[int]:
    """Runs of one tone at least `min_frames` long, in order, repeats merged."""
    runs: list[tuple[int | None, int]] = []
    for tone in tones:
        if runs and runs[-1][0] == tone:
            runs[-1] = (tone, runs[-1][1] + 1)
        else:
            runs.append((tone, 1))
    heard: list[int] = []
    for tone, length in runs:
        if tone is not None and length >= min_frames and (not heard or heard[-1] != tone):
            heard.append(tone)
    return heard


def tone_sequence(
    wav: str | Path, freqs: Sequence[int], frame_ms: int = 40, min_frames: int = 3
) -> list[int]:
    """Which of `freqs` a WAV recording heard, in order; a tone heard twice in a row counts once."""
    samples, rate = read_wav(wav)
    return sequence_of(frame_tones(samples, rate, freqs, frame_ms), min_frames)


def _goertzel_power(samples: Sequence[int], rate: int, freq: float) -> float:
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for sample in samples:
        s1, s2 = sample + coeff * s1 - s2, s1
    return s1 * s1 + s2 * s2 - coeff * s1 * s2


# G.711 u-law -----------------------------------------------------------------

_BIAS = 0x84
_CLIP = 32635


def ulaw_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), _CLIP) + _BIAS
    exponent = max(magnitude.bit_length() - 8, 0)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    exponent, mantissa = (byte >> 4) & 0x07, byte & 0x0F
    magnitude = ((mantissa << 3) + _BIAS) << exponent
    return _BIAS - magnitude if byte & 0x80 else magnitude - _BIAS
