"""Tests for wakeword.wavfile: WAV parsing of every encoding, bad headers, and the writer.

WAV fixtures are written in tmp_path from a known signal by a small writer below (so each
header field can be controlled), and cross-checked against files written by soundfile and sox.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from wakeword.wavfile import WavFileSource, write_wav as write_wav16
from wakeword.errors import AudioFormatError

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
WAIT_TIMEOUT_S = 5.0  # generous: only hit if something is broken

# encoding -> (format tag, bytes per sample, max abs error after the round trip)
ENCODINGS = {
    "pcm8": (1, 1, 1 / 128),
    "pcm16": (1, 2, 1 / 32768),
    "pcm24": (1, 3, 2.0**-23),
    "pcm32": (1, 4, 2.0**-24),  # limited by float32 output, not the file
    "float32": (3, 4, 0.0),
    "float64": (3, 8, 2.0**-24),
}
KS_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def reference_signal(n_frames: int, channels: int = 1, rate_hz: int = 16000) -> np.ndarray:
    """Deterministic float64 (n, channels) in [-0.9, 0.9]: a tone per channel plus seeded noise,
    reaching both extremes so that sign handling is exercised."""
    t = np.arange(n_frames) / rate_hz
    rng = np.random.default_rng(1234)
    cols = [0.6 * np.sin(2 * np.pi * (300 + 200 * c) * t) + 0.2 * rng.uniform(-1, 1, n_frames) for c in range(channels)]
    x = np.stack(cols, axis=1)
    x[0], x[1] = 0.9, -0.9
    return x


def encode(x: np.ndarray, encoding: str) -> bytes:
    """float (n, channels) -> little-endian interleaved bytes in the given encoding."""
    if encoding == "pcm8":
        return np.clip(np.round(x * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    if encoding == "pcm16":
        return np.clip(np.round(x * 32768), -32768, 32767).astype("<i2").tobytes()
    if encoding == "pcm24":
        v = np.clip(np.round(x * 2**23), -(2**23), 2**23 - 1).astype("<i4").reshape(-1)
        return v.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    if encoding == "pcm32":
        return np.clip(np.round(x * 2**31), -(2**31), 2**31 - 1).astype("<i4").tobytes()
    if encoding == "float32":
        return x.astype("<f4").tobytes()
    return x.astype("<f8").tobytes()


def chunk(chunk_id: bytes, body: bytes, size: int | None = None) -> bytes:
    """A RIFF chunk with its pad byte; size overrides the size field (to fake corruption)."""
    return struct.pack("<4sI", chunk_id, len(body) if size is None else size) + body + b"\0" * (len(body) & 1)


def fmt_body(tag: int, channels: int, rate_hz: int, bytes_per_sample: int, extensible: bool = False) -> bytes:
    block_align = channels * bytes_per_sample
    bits = 8 * bytes_per_sample
    if not extensible:
        return struct.pack("<HHIIHH", tag, channels, rate_hz, rate_hz * block_align, block_align, bits)
    return struct.pack(
        "<HHIIHHHHI", 0xFFFE, channels, rate_hz, rate_hz * block_align, block_align, bits, 22, bits, 0
    ) + struct.pack("<H", tag) + KS_GUID_TAIL


def write_wav(
    path: Path,
    x: np.ndarray,
    rate_hz: int = 16000,
    encoding: str = "pcm16",
    extensible: bool = False,
    before: bytes = b"",
    after: bytes = b"",
    data_size: int | None = None,
    riff_size: int | None = None,
) -> Path:
    """Write x (n, channels) as a WAV; before/after are raw chunks placed around the data chunk."""
    tag, nbytes, _ = ENCODINGS[encoding]
    body = b"WAVE" + chunk(b"fmt ", fmt_body(tag, x.shape[1], rate_hz, nbytes, extensible)) + before
    body += chunk(b"data", encode(x, encoding), data_size) + after
    path.write_bytes(struct.pack("<4sI", b"RIFF", len(body) if riff_size is None else riff_size) + body)
    return path


def quantised(x: np.ndarray, encoding: str) -> np.ndarray:
    """What a perfect reader returns for x after writing it in this encoding."""
    raw = encode(x, encoding)
    if encoding == "pcm8":
        return (np.frombuffer(raw, np.uint8).astype(np.float64) - 128) / 128
    if encoding == "pcm16":
        return np.frombuffer(raw, "<i2") / 32768
    if encoding == "pcm24":
        return np.round(x.reshape(-1) * 2**23) / 2**23
    if encoding == "pcm32":
        return np.frombuffer(raw, "<i4") / 2**31
    return x.reshape(-1)



# --------------------------------------------------------------------------------------------
# WAV reading


@pytest.mark.parametrize("extensible", [False, True], ids=["plain", "extensible"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_wav_reads_every_supported_encoding(tmp_path, encoding, extensible):
    x = reference_signal(4000)
    path = write_wav(tmp_path / "x.wav", x, encoding=encoding, extensible=extensible)
    src = WavFileSource(path)
    assert (src.encoding, src.channels, src.sample_rate_hz, src.n_frames) == (encoding, 1, 16000, 4000)
    got = src.read_all()
    assert got.dtype == np.float32 and got.shape == (4000, 1)
    tolerance = ENCODINGS[encoding][2]
    np.testing.assert_allclose(got[:, 0], quantised(x, encoding), rtol=0, atol=tolerance * 1.01 + 1e-7)
    # and within one quantisation step of the original signal
    np.testing.assert_allclose(got[:, 0], x[:, 0], rtol=0, atol=1 / 128 + 1e-7 if encoding == "pcm8" else 1e-4)


def test_wav_stereo_keeps_channels_apart(tmp_path):
    x = reference_signal(3000, channels=2)
    src = WavFileSource(write_wav(tmp_path / "st.wav", x, encoding="pcm24"))
    got = src.read_all()
    assert got.shape == (3000, 2) and src.channels == 2
    np.testing.assert_allclose(got, x, atol=2.0**-23 + 1e-9)


def test_wav_44100_hz_reports_its_own_rate_and_duration(tmp_path):
    x = reference_signal(44100 + 50, rate_hz=44100)
    src = WavFileSource(write_wav(tmp_path / "cd.wav", x, rate_hz=44100))
    assert src.sample_rate_hz == 44100
    assert src.duration_s == pytest.approx((44100 + 50) / 44100)
    np.testing.assert_allclose(src.read_all()[:, 0], x[:, 0], atol=1 / 32768 + 1e-9)


def test_wav_float_overs_and_nan_are_clipped_into_range(tmp_path):
    x = np.array([[1.5], [-2.0], [np.nan], [0.25]])
    got = WavFileSource(write_wav(tmp_path / "f.wav", x, encoding="float32")).read_all()[:, 0]
    np.testing.assert_array_equal(got, np.array([1.0, -1.0, 0.0, 0.25], np.float32))


@pytest.mark.parametrize(
    "subtype,encoding",
    [("PCM_U8", "pcm8"), ("PCM_16", "pcm16"), ("PCM_24", "pcm24"), ("PCM_32", "pcm32"), ("FLOAT", "float32")],
)
@pytest.mark.parametrize("container", ["WAV", "WAVEX"])
def test_wav_matches_soundfile_reading_of_soundfile_written_file(tmp_path, subtype, encoding, container):
    sf = pytest.importorskip("soundfile")
    x = reference_signal(2500, channels=2)
    path = tmp_path / "sf.wav"
    sf.write(path, x, 22050, subtype=subtype, format=container)
    src = WavFileSource(path)
    assert (src.encoding, src.sample_rate_hz, src.channels) == (encoding, 22050, 2)
    expected, _ = sf.read(path, dtype="float64", always_2d=True)
    np.testing.assert_allclose(src.read_all(), expected, atol=1e-7)


def test_wav_matches_a_file_written_by_sox(tmp_path):
    if shutil.which("sox") is None:
        pytest.skip("sox not installed")
    sf = pytest.importorskip("soundfile")
    path = tmp_path / "sox.wav"
    subprocess.run(
        ["sox", "-n", "-r", "48000", "-b", "24", "-c", "2", str(path), "synth", "0.25", "sine", "440", "vol", "0.5"],
        check=True,
        timeout=30,
    )
    src = WavFileSource(path)
    assert (src.encoding, src.sample_rate_hz, src.channels, src.n_frames) == ("pcm24", 48000, 2, 12000)
    expected, _ = sf.read(path, dtype="float64", always_2d=True)
    np.testing.assert_allclose(src.read_all(), expected, atol=1e-7)


def test_wav_skips_unknown_chunks_with_odd_length_padding(tmp_path):
    x = reference_signal(1001)  # odd data length in bytes for pcm8: padded too
    before = chunk(b"LIST", b"INFOabc") + chunk(b"junk", b"\x01" * 5)
    after = chunk(b"id3 ", b"xyz")
    src = WavFileSource(write_wav(tmp_path / "odd.wav", x, encoding="pcm8", before=before, after=after))
    assert src.n_frames == 1001
    np.testing.assert_allclose(src.read_all()[:, 0], quantised(x, "pcm8"), atol=1e-7)


def test_wav_blocks_have_block_s_frames_and_concatenate_to_the_whole_file(tmp_path):
    x = reference_signal(16000 * 3 + 123)
    src = WavFileSource(write_wav(tmp_path / "b.wav", x), block_s=1.0)
    blocks = list(src.blocks())
    assert [len(b) for b in blocks] == [16000, 16000, 16000, 123]
    assert all(b.dtype == np.float32 and b.shape[1] == 1 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), WavFileSource(tmp_path / "b.wav", block_s=100).read_all())
    assert list(src.blocks())[0].shape == (16000, 1)  # each call starts over


def test_wav_blocks_read_incrementally_and_report_a_file_that_shrank(tmp_path):
    path = write_wav(tmp_path / "long.wav", reference_signal(16000 * 4))
    src = WavFileSource(path, block_s=1.0)
    blocks = src.blocks()
    first = next(blocks)  # read before the file is cut, so it was not read in one go
    assert first.shape == (16000, 1)
    with open(path, "r+b") as f:
        f.truncate(44 + 2 * 16000 * 2 + 100)
    next(blocks)
    with pytest.raises(AudioFormatError, match="got shorter"):
        next(blocks)


@pytest.mark.parametrize("riff_size", [0, 0xFFFFFFFF])
def test_wav_unset_streaming_sizes_read_to_end_of_file(tmp_path, riff_size):
    x = reference_signal(500)
    src = WavFileSource(write_wav(tmp_path / "s.wav", x, data_size=0, riff_size=riff_size))
    assert src.n_frames == 500
    src = WavFileSource(write_wav(tmp_path / "s2.wav", x, data_size=0xFFFFFFFF))
    assert src.n_frames == 500


def test_wav_with_an_empty_data_chunk_has_no_blocks(tmp_path):
    src = WavFileSource(write_wav(tmp_path / "e.wav", np.zeros((0, 1))))
    assert src.n_frames == 0 and src.duration_s == 0.0
    assert list(src.blocks()) == []


def test_wav_partial_last_frame_is_ignored(tmp_path):
    x = reference_signal(100, channels=2)
    path = write_wav(tmp_path / "p.wav", x, after=b"")
    raw = bytearray(path.read_bytes())
    # make the data chunk one byte longer than its frames, keeping the file consistent
    raw[40:44] = struct.pack("<I", 401)
    raw += b"\x00\x00"  # the extra byte and its pad
    path.write_bytes(bytes(raw))
    assert WavFileSource(path).n_frames == 100


def _valid_wav_bytes(tmp_path) -> bytes:
    return write_wav(tmp_path / "valid.wav", reference_signal(100)).read_bytes()


def _bad_fmt(tmp_path, **kw) -> bytes:
    fields = dict(tag=1, channels=1, rate=16000, block_align=2, bits=16)
    fields.update(kw)
    body = struct.pack(
        "<HHIIHH", fields["tag"], fields["channels"], fields["rate"], 32000, fields["block_align"], fields["bits"]
    )
    return b"WAVE" + chunk(b"fmt ", body) + chunk(b"data", b"\0" * 200)


def _riff(body: bytes) -> bytes:
    return struct.pack("<4sI", b"RIFF", len(body)) + body


BAD_FILES = {
    "empty": (lambda tp: b"", "empty"),
    "not_wav": (lambda tp: b"hello, this is a text file, not audio\n" * 3, "not a WAV"),
    "riff_not_wave": (lambda tp: _riff(b"AVI " + b"\0" * 40), "not a WAV"),
    "header_cut": (lambda tp: b"RIFF\x24\x00\x00", "truncated"),
    "data_cut": (lambda tp: _valid_wav_bytes(tp)[:-50], "truncated"),
    "fmt_cut": (lambda tp: _valid_wav_bytes(tp)[:30], "truncated"),
    "chunk_header_cut": (lambda tp: _riff(b"WAVE" + chunk(b"fmt ", fmt_body(1, 1, 16000, 2)) + b"da"), "truncated"),
    "no_data": (lambda tp: _riff(b"WAVE" + chunk(b"fmt ", fmt_body(1, 1, 16000, 2)) + chunk(b"LIST", b"ab")), "no data chunk"),
    "no_fmt": (lambda tp: _riff(b"WAVE" + chunk(b"data", b"\0" * 10)), "no 'fmt ' chunk"),
    "short_fmt": (lambda tp: _riff(b"WAVE" + chunk(b"fmt ", b"\1\0\1\0") + chunk(b"data", b"\0" * 10)), "corrupt"),
    "zero_channels": (lambda tp: _riff(_bad_fmt(tp, channels=0)), "0 channels"),
    "zero_rate": (lambda tp: _riff(_bad_fmt(tp, rate=0)), "0 Hz"),
    # rates and channel counts a corrupt header may claim: each once sized buffers by the header
    "rate_10_mhz": (lambda tp: _riff(_bad_fmt(tp, rate=10_000_000)), "10000000 Hz, outside the 1000-384000 Hz"),
    "rate_4_ghz": (lambda tp: _riff(_bad_fmt(tp, rate=4_000_000_000)), "4000000000 Hz, outside"),
    "rate_2_to_31": (lambda tp: _riff(_bad_fmt(tp, rate=2**31)), f"{2**31} Hz, outside"),
    "rate_999_hz": (lambda tp: _riff(_bad_fmt(tp, rate=999)), "999 Hz, outside"),
    "channels_65535": (lambda tp: _riff(_bad_fmt(tp, channels=65535, block_align=65535)), "65535 channels, more than the 32"),
    "channels_33": (lambda tp: _riff(_bad_fmt(tp, channels=33, block_align=66)), "33 channels"),
    "alaw": (lambda tp: _riff(_bad_fmt(tp, tag=6, block_align=1, bits=8)), "A-law"),
    "mulaw": (lambda tp: _riff(_bad_fmt(tp, tag=7, block_align=1, bits=8)), "mu-law"),
    "adpcm": (lambda tp: _riff(_bad_fmt(tp, tag=0x11, block_align=256, bits=4)), "ADPCM"),
    "pcm_48bit": (lambda tp: _riff(_bad_fmt(tp, block_align=6, bits=48)), "unsupported 48-bit PCM"),
    "float16": (lambda tp: _riff(_bad_fmt(tp, tag=3, block_align=2, bits=16)), "unsupported 16-bit float"),
    "block_align_0": (lambda tp: _riff(_bad_fmt(tp, block_align=0)), "block align"),
    "rifx": (lambda tp: b"RIFX" + _riff(b"WAVE")[4:] + b"\0" * 40, "big-endian"),
    "ext_unknown_guid": (
        lambda tp: _riff(
            b"WAVE"
            + chunk(b"fmt ", fmt_body(1, 1, 16000, 2, extensible=True)[:-14] + b"\xff" * 14)
            + chunk(b"data", b"\0" * 10)
        ),
        "subformat",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_wav_bad_file_raises_one_line_audio_format_error_naming_the_file(tmp_path, case):
    make, expected = BAD_FILES[case]
    path = tmp_path / f"{case}.wav"
    path.write_bytes(make(tmp_path))
    with pytest.raises(AudioFormatError) as info:
        WavFileSource(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert expected in message
    assert isinstance(info.value, ValueError)  # callers catching ValueError still work


def test_wav_missing_file_and_directory_raise_audio_format_error(tmp_path):
    with pytest.raises(AudioFormatError, match=f"^{tmp_path / 'nope.wav'}: no such file$"):
        WavFileSource(tmp_path / "nope.wav")
    with pytest.raises(AudioFormatError, match="is a directory"):
        WavFileSource(tmp_path)


def test_a_fifo_or_a_device_is_refused_without_reading_it(tmp_path):
    # opening a FIFO blocked for ever; /dev/zero was "empty file (0 bytes)", then would never end
    import os

    fifo = tmp_path / "x.wav"
    os.mkfifo(fifo)
    for path in (fifo, Path("/dev/zero")):
        with pytest.raises(AudioFormatError, match=f"^{path}: not a regular file"):
            WavFileSource(path)


def test_wav_fixture_clips_are_16_bit_16_khz_mono():
    clips = sorted(DATA_DIR.glob("*.wav"))
    assert len(clips) >= 7
    for clip in clips:
        src = WavFileSource(clip)
        assert (src.encoding, src.sample_rate_hz, src.channels) == ("pcm16", 16000, 1), clip
    assert WavFileSource(DATA_DIR / "mixed_stop.wav").duration_s == pytest.approx(11.5)




def test_write_wav_round_trips_through_the_reader_and_leaves_no_temporary_file(tmp_path):
    x = reference_signal(1601, channels=2) * 0.5
    path = write_wav16(tmp_path / "out.wav", x, 22050)
    src = WavFileSource(path)
    assert (src.sample_rate_hz, src.channels, src.encoding, src.n_frames) == (22050, 2, "pcm16", 1601)
    np.testing.assert_allclose(src.read_all(), x, atol=1 / 32768)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


@pytest.mark.parametrize("rate_hz, channels", [(1000, 1), (384000, 32)])
def test_wav_the_edges_of_the_supported_rates_and_channels_are_read(tmp_path, rate_hz, channels):
    x = reference_signal(500, channels=channels, rate_hz=rate_hz)
    src = WavFileSource(write_wav(tmp_path / "edge.wav", x, rate_hz=rate_hz))
    assert (src.sample_rate_hz, src.channels) == (rate_hz, channels)
    assert src.read_all().shape == (500, channels)


def test_wav_read_blocks_are_bounded_in_bytes_whatever_the_header_says(tmp_path):
    """384 kHz x 32 channels of float64: 10 s would be 983 MB in one block; it is read in
    blocks of at most MAX_BLOCK_BYTES instead, with the same samples."""
    from wakeword.wavfile import MAX_BLOCK_BYTES

    frames = 3 * MAX_BLOCK_BYTES // (32 * 8) + 7  # a little over three blocks' worth
    x = reference_signal(frames, channels=32, rate_hz=384000)
    path = write_wav(tmp_path / "wide.wav", x, rate_hz=384000, encoding="float64")
    src = WavFileSource(path, block_s=10.0)
    assert src.block_frames * 32 * 8 <= MAX_BLOCK_BYTES
    blocks = list(src.blocks())
    assert len(blocks) == 4 and all(len(b) == src.block_frames for b in blocks[:-1])
    np.testing.assert_array_equal(np.concatenate(blocks), x.astype(np.float32))


# --------------------------------------------------------------------------------------------
# WAV streams (standard input)


class Trickle:
    """A pipe that hands out a few bytes per read (1-13, seeded), as a slow writer would."""

    def __init__(self, data: bytes, seed: int = 0):
        self.data, self.pos, self.rng = data, 0, np.random.default_rng(seed)
        self.largest_read = 0

    def read(self, n: int) -> bytes:
        self.largest_read = max(self.largest_read, n)
        k = min(n, int(self.rng.integers(1, 14)))
        part = self.data[self.pos : self.pos + k]
        self.pos += len(part)
        return part


@pytest.mark.parametrize("data_size", [None, 0, 0xFFFFFFFF, 0x7FFFF000], ids=["set", "zero", "unset", "huge"])
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_a_wav_stream_reads_as_the_same_file_does_whatever_its_sizes_say(tmp_path, encoding, data_size):
    from wakeword.wavfile import WavStreamSource

    x = reference_signal(3001, channels=2)
    exact = write_wav(tmp_path / "exact.wav", x, 16000, encoding, before=chunk(b"LIST", b"odd"))
    streamed = write_wav(tmp_path / "streamed.wav", x, 16000, encoding, before=chunk(b"LIST", b"odd"),
                         data_size=data_size, riff_size=0 if data_size == 0 else None)
    source = WavStreamSource(Trickle(streamed.read_bytes()), block_s=0.01)
    assert (source.encoding, source.channels, source.sample_rate_hz, source.n_frames) == (encoding, 2, 16000, 0)
    blocks = list(source.blocks())
    assert max(len(b) for b in blocks) == 160 and source.n_frames == 3001 and source.duration_s == 3001 / 16000
    np.testing.assert_array_equal(np.concatenate(blocks), WavFileSource(exact).read_all())
    with pytest.raises(AudioFormatError, match="only once"):
        next(source.blocks())


def test_a_wav_stream_stops_at_its_data_size_and_ignores_a_partial_last_frame(tmp_path):
    from wakeword.wavfile import WavStreamSource

    x = reference_signal(100)
    data = write_wav(tmp_path / "a.wav", x).read_bytes()
    source = WavStreamSource(Trickle(data + b"trailing bytes of another chunk"))
    np.testing.assert_array_equal(source.read_all(), WavFileSource(tmp_path / "a.wav").read_all())
    cut = write_wav(tmp_path / "b.wav", x, data_size=0xFFFFFFFF).read_bytes()[:-1]  # half a frame at the end
    source = WavStreamSource(Trickle(cut))
    assert len(source.read_all()) == 99 and source.n_frames == 99


def test_a_wav_streams_reads_are_bounded_whatever_its_header_says():
    from wakeword.wavfile import MAX_BLOCK_BYTES, WavStreamSource

    head = _riff(b"WAVE" + chunk(b"fmt ", fmt_body(3, 32, 384000, 8))) + struct.pack("<4sI", b"data", 0xFFFFFFFF)
    pipe = Trickle(head + b"\0" * 4096)
    source = WavStreamSource(pipe, block_s=3600)
    assert source.block_frames * 32 * 8 <= MAX_BLOCK_BYTES
    list(source.blocks())
    assert pipe.largest_read <= MAX_BLOCK_BYTES


FMT = chunk(b"fmt ", fmt_body(1, 1, 16000, 2))
BAD_STREAMS = {
    "empty": (b"", "empty input"),
    "not_wav": (b"hello, this is text\n" * 3, "not a WAV stream"),
    "rifx": (b"RIFX" + b"\0" * 40, "big-endian"),
    "header_cut": (b"RIFF\x24\x00", "not a WAV stream"),
    "ends_before_fmt": (_riff(b"WAVE"), "ended before its 'fmt ' chunk"),
    "fmt_cut": (_riff(b"WAVE" + FMT)[:30], "ended inside its 'fmt ' chunk"),
    "ends_before_data": (_riff(b"WAVE" + FMT + chunk(b"LIST", b"ab")), "ended before its data chunk"),
    "data_before_fmt": (_riff(b"WAVE" + chunk(b"data", b"\0" * 10) + FMT), "data chunk comes before the 'fmt ' chunk"),
    "huge_fmt": (_riff(b"WAVE") + struct.pack("<4sI", b"fmt ", 2**31), "corrupt 'fmt ' chunk (it claims 2147483648 bytes)"),
    "huge_list": (_riff(b"WAVE" + FMT) + struct.pack("<4sI", b"LIST", 2**32 - 2), "'LIST' chunk before the audio claims"),
    "rate_2_to_31": (_riff(b"WAVE" + chunk(b"fmt ", struct.pack("<HHIIHH", 1, 1, 2**31, 0, 2, 16))
                           + chunk(b"data", b"\0" * 10)), f"{2**31} Hz, outside"),
    "channels_65535": (_riff(b"WAVE" + chunk(b"fmt ", struct.pack("<HHIIHH", 1, 65535, 16000, 0, 65535, 16))
                             + chunk(b"data", b"")), "65535 channels"),
}


@pytest.mark.parametrize("case", list(BAD_STREAMS))
def test_a_bad_wav_stream_is_one_line_naming_standard_input(case):
    from wakeword.wavfile import WavStreamSource

    data, expected = BAD_STREAMS[case]
    with pytest.raises(AudioFormatError) as info:
        WavStreamSource(Trickle(data))
    message = str(info.value)
    assert message.startswith("standard input: ") and "\n" not in message and expected in message, message
