"""wakeword.pcm: network PCM bytes decode to exactly the floats the WAV reader gives."""

from __future__ import annotations

import numpy as np
import pytest

from tests.wavfile import encode, write_wav
from wakeword.errors import AudioFormatError
from wakeword.pcm import decode
from wakeword.wavfile import WavFileSource

#: WAV encoding -> the Wyoming width that carries the same samples
WIDTH_OF = {"pcm8": 1, "pcm16": 2, "pcm24": 3, "pcm32": 4}


def signed_bytes(x: np.ndarray, encoding: str) -> bytes:
    """The WAV data chunk of x as Wyoming sends it: 8-bit WAV is unsigned, Wyoming's is signed."""
    raw, _, _ = encode(x, encoding)
    if encoding == "pcm8":
        raw = (np.frombuffer(raw, np.uint8).astype(np.int16) - 128).astype(np.int8).tobytes()
    return raw


@pytest.mark.parametrize("encoding", sorted(WIDTH_OF))
@pytest.mark.parametrize("channels", [1, 2])
def test_decoded_samples_equal_the_wav_readers_bit_for_bit(tmp_path, encoding, channels):
    rng = np.random.default_rng(3)
    x = np.clip(rng.standard_normal((4000, channels)) * 0.3, -1, 1)
    path = write_wav(tmp_path / "x.wav", x, 16000, encoding)
    from_wav = WavFileSource(path).read_all()
    from_bytes = decode(signed_bytes(x, encoding), WIDTH_OF[encoding], channels)
    assert from_bytes.dtype == np.float32 and from_bytes.shape == (4000, channels)
    np.testing.assert_array_equal(from_bytes, from_wav)


def test_full_scale_values_of_each_width():
    assert decode(bytes([0x80, 0x7F]), 1, 1)[:, 0].tolist() == [-1.0, 127 / 128]
    assert decode(np.array([-32768, 16384], "<i2").tobytes(), 2, 1)[:, 0].tolist() == [-1.0, 0.5]
    assert decode(bytes([0, 0, 0x80, 0, 0, 0x40]), 3, 1)[:, 0].tolist() == [-1.0, 0.5]
    assert decode(np.array([-2**31, 2**30], "<i4").tobytes(), 4, 1)[:, 0].tolist() == [-1.0, 0.5]


@pytest.mark.parametrize("raw, width, channels, message", [
    (b"\x00\x00\x00", 2, 1, "not a whole number of 2-byte x 1-channel frames"),
    (b"\x00" * 6, 2, 2, "not a whole number of 2-byte x 2-channel frames"),
    (b"\x00" * 8, 8, 1, "sample width must be one of 1, 2, 3, 4 bytes"),
    (b"\x00" * 8, 2, 0, "channels must be at least 1"),
])
def test_malformed_audio_is_an_audio_format_error(raw, width, channels, message):
    with pytest.raises(AudioFormatError, match=message):
        decode(raw, width, channels)
