"""Raw PCM bytes as network audio protocols send them -> float32 samples for the pipeline.

Wyoming's audio-chunk carries interleaved little-endian signed integer samples, `width` bytes
each (the wyoming package converts them with audioop, which treats every width as signed, 8-bit
included). The scaling is the same as wavfile.py's for the WAV encoding of that width, so a clip
streamed as bytes and the same clip read from a WAV give the pipeline identical floats (8-bit
WAV is unsigned: its sample u is the signed value u - 128, and both scale by 1/128).
"""

from __future__ import annotations

import numpy as np

from .errors import AudioFormatError
from .settings import INT16_FULL_SCALE

#: Sample widths in bytes that decode() accepts.
PCM_WIDTHS = (1, 2, 3, 4)
INT8_FULL_SCALE = 128.0
#: 24-bit samples are placed in the top three bytes of an int32, then scaled as 32-bit ones.
INT32_FULL_SCALE = 2147483648.0
BYTES_PER_INT32 = 4


def frame_bytes(width: int, channels: int) -> int:
    """Bytes of one frame (one sample per channel)."""
    return width * channels


def decode(raw: bytes, width: int, channels: int) -> np.ndarray:
    """Interleaved signed little-endian PCM -> float32 (frames, channels) in [-1, 1).

    AudioFormatError if width is not 1-4 bytes, channels < 1, or raw is not whole frames.
    """
    if width not in PCM_WIDTHS:
        raise AudioFormatError(f"sample width must be one of {', '.join(map(str, PCM_WIDTHS))} bytes, got {width!r}")
    if channels < 1:
        raise AudioFormatError(f"channels must be at least 1, got {channels!r}")
    step = frame_bytes(width, channels)
    if len(raw) % step:
        raise AudioFormatError(
            f"{len(raw)} bytes are not a whole number of {width}-byte x {channels}-channel frames"
        )
    if width == 2:
        x = np.frombuffer(raw, "<i2").astype(np.float32) / np.float32(INT16_FULL_SCALE)
    elif width == 1:
        x = np.frombuffer(raw, np.int8).astype(np.float32) / np.float32(INT8_FULL_SCALE)
    elif width == 3:
        wide = np.zeros((len(raw) // 3, BYTES_PER_INT32), np.uint8)
        wide[:, 1:] = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        x = wide.view("<i4")[:, 0].astype(np.float32) / np.float32(INT32_FULL_SCALE)
    else:
        # via float64: float32 cannot hold 32-bit integers exactly, and wavfile.py rounds the same way
        x = (np.frombuffer(raw, "<i4").astype(np.float64) / INT32_FULL_SCALE).astype(np.float32)
    return x.reshape(-1, channels)
