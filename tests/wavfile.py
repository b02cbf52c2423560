"""Write WAV files in the encodings users have: PCM 8/16/24/32-bit, float32, extensible.

A test helper, independent of wakeword.wavfile, so the reader is checked against a writer
that does not share its code.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

ENCODINGS = ("pcm8", "pcm16", "pcm24", "pcm32", "float32")


def encode(x: np.ndarray, encoding: str) -> tuple[bytes, int, int]:
    """float (n, ch) in [-1, 1] -> (sample bytes, format tag, bits per sample)."""
    x = np.clip(x, -1.0, 1.0 - 1e-9)
    if encoding == "pcm8":
        return (np.round(x * 128) + 128).astype(np.uint8).tobytes(), 1, 8
    if encoding == "pcm16":
        return np.round(x * 32768).astype("<i2").tobytes(), 1, 16
    if encoding == "pcm24":
        v = np.round(x * 2**23).astype("<i4").reshape(-1)
        b = v.view(np.uint8).reshape(-1, 4)[:, :3]
        return b.tobytes(), 1, 24
    if encoding == "pcm32":
        return np.round(x * 2**31).astype("<i8").clip(-(2**31), 2**31 - 1).astype("<i4").tobytes(), 1, 32
    if encoding == "float32":
        return x.astype("<f4").tobytes(), 3, 32
    raise ValueError(encoding)


def write_wav(path: Path, x: np.ndarray, rate_hz: int, encoding: str = "pcm16", extensible: bool = False) -> Path:
    """x: float (n,) or (n, channels) in [-1, 1]."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    channels = x.shape[1]
    data, tag, bits = encode(x, encoding)
    block_align = channels * bits // 8
    if extensible:
        sub = struct.pack("<H", tag) + b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate_hz, rate_hz * block_align, block_align, bits, 22, bits, 0) + sub
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate_hz, rate_hz * block_align, block_align, bits)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    if len(data) % 2:
        chunks += b"\x00"
    Path(path).write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
    return Path(path)
