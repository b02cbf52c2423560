"""Tests for wakeword.audio: WAV parsing, the ring buffer and the microphone source.

WAV fixtures are written in tmp_path from a known signal by a small writer below (so each
header field can be controlled), and cross-checked against files written by soundfile and sox.
The microphone is tested against a fake sounddevice module (no sound card here) and, for the
device-lookup errors, against the real PortAudio.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from wakeword import audio
from wakeword.audio import MicrophoneSource, RingBuffer, WavFileSource, format_device_list, list_devices
from wakeword.errors import AudioDeviceError, AudioFormatError

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


def test_wav_fixture_clips_are_16_bit_16_khz_mono():
    clips = sorted(DATA_DIR.glob("*.wav"))
    assert len(clips) >= 7
    for clip in clips:
        src = WavFileSource(clip)
        assert (src.encoding, src.sample_rate_hz, src.channels) == ("pcm16", 16000, 1), clip
    assert WavFileSource(DATA_DIR / "mixed_stop.wav").duration_s == pytest.approx(11.5)


# --------------------------------------------------------------------------------------------
# RingBuffer


def frames(start: int, n: int, channels: int = 1) -> np.ndarray:
    """(n, channels) float32 whose values count up from start, so order is checkable."""
    return np.repeat(np.arange(start, start + n, dtype=np.float32)[:, None], channels, axis=1)


def test_ring_read_returns_none_until_enough_frames():
    ring = RingBuffer(10)
    assert ring.read(1) is None
    ring.write(frames(0, 3))
    assert ring.available == 3
    assert ring.read(4) is None
    assert ring.available == 3  # a failed read consumes nothing
    np.testing.assert_array_equal(ring.read(3), frames(0, 3))


def test_ring_wraps_around_and_keeps_order():
    ring = RingBuffer(10, channels=2)
    ring.write(frames(0, 7, 2))
    np.testing.assert_array_equal(ring.read(5), frames(0, 5, 2))
    ring.write(frames(7, 6, 2))  # wraps past the end of the storage
    assert ring.available == 8 and ring.dropped_frames == 0
    np.testing.assert_array_equal(ring.read(8), frames(5, 8, 2))
    assert ring.available == 0


def test_ring_when_full_drops_the_newest_frames_and_counts_them():
    ring = RingBuffer(8)
    ring.write(frames(0, 6))
    ring.write(frames(6, 5))  # only 2 fit
    assert ring.available == 8 and ring.dropped_frames == 3
    ring.write(frames(100, 4))  # none fit
    assert ring.dropped_frames == 7
    np.testing.assert_array_equal(ring.read(8), frames(0, 8))


def test_ring_read_into_preallocated_out_and_int16_mono_1d_writes():
    ring = RingBuffer(6, channels=1, dtype=np.int16)
    ring.write(np.array([1, 2, 3, 4], np.int16))
    out = np.zeros((3, 1), np.int16)
    assert ring.read(3, out=out) is out
    np.testing.assert_array_equal(out[:, 0], [1, 2, 3])
    with pytest.raises(ValueError):
        ring.read(2, out=np.zeros((3, 1), np.int16))
    with pytest.raises(ValueError):
        ring.read(7)


def test_ring_across_threads_delivers_every_frame_in_order():
    ring = RingBuffer(4096)
    block_frames, n_blocks = 64, 2000
    written = threading.Event()

    def produce():
        for i in range(n_blocks):
            while ring.capacity_frames - ring.available < block_frames:
                pass  # spin: this test wants no drops, only interleaving
            ring.write(frames(i * block_frames, block_frames))
        written.set()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    got = []
    total = block_frames * n_blocks
    n_read = 0
    while n_read < total:
        block = ring.read(100) if total - n_read >= 100 else ring.read(total - n_read)
        if block is not None:
            got.append(block)
            n_read += len(block)
        elif written.is_set() and ring.available < min(100, total - n_read):
            break
    producer.join(WAIT_TIMEOUT_S)
    assert written.wait(WAIT_TIMEOUT_S)
    np.testing.assert_array_equal(np.concatenate(got)[:, 0], np.arange(total, dtype=np.float32))
    assert ring.dropped_frames == 0


# --------------------------------------------------------------------------------------------
# MicrophoneSource against a fake sounddevice


class FakePortAudioError(Exception):
    pass


class FakeStatus:
    """Stands in for sounddevice.CallbackFlags."""

    def __init__(self, input_overflow: bool = False):
        self.input_overflow = input_overflow


class FakeStream:
    """Stands in for sounddevice.InputStream: the test drives the callback by hand."""

    instances: list = []

    def __init__(self, device, samplerate, blocksize, channels, dtype, callback, finished_callback):
        self.kwargs = dict(device=device, samplerate=samplerate, blocksize=blocksize, channels=channels, dtype=dtype)
        self.callback = callback
        self.finished_callback = finished_callback
        self.active = False
        self.closed = False
        FakeStream.instances.append(self)

    def start(self):
        self.active = True

    def abort(self):
        self.active = False

    def close(self):
        self.closed = True

    def push(self, block: np.ndarray, overflow: bool = False):
        self.callback(block, len(block), None, FakeStatus(overflow))

    def device_went_away(self):
        self.active = False
        self.finished_callback()


FAKE_DEVICES = [
    {"index": 0, "name": "HDA Intel PCH: ALC3246 Analog (hw:0,0)", "hostapi": 0, "max_input_channels": 2,
     "max_output_channels": 2, "default_samplerate": 44100.0},
    {"index": 1, "name": "HDMI 0 (hw:0,3)", "hostapi": 0, "max_input_channels": 0,
     "max_output_channels": 8, "default_samplerate": 48000.0},
    {"index": 2, "name": "USB PnP Sound Device: Audio (hw:1,0)", "hostapi": 0, "max_input_channels": 1,
     "max_output_channels": 0, "default_samplerate": 48000.0},
    {"index": 3, "name": "pulse", "hostapi": 0, "max_input_channels": 32,
     "max_output_channels": 32, "default_samplerate": 44100.0},
]


class FakeSounddevice:
    PortAudioError = FakePortAudioError

    def __init__(self, default_input=3, supported_rates_hz=(16000, 44100, 48000), open_error=None):
        self.default_input = default_input
        self.supported_rates_hz = supported_rates_hz
        self.open_error = open_error
        self.checked = []

    def query_devices(self, device=None, kind=None):
        if kind == "input":
            if self.default_input is None:
                raise FakePortAudioError("Error querying device -1")
            return FAKE_DEVICES[self.default_input]
        return FAKE_DEVICES

    def query_hostapis(self):
        return ({"name": "ALSA"},)

    def check_input_settings(self, device, channels, dtype, samplerate):
        self.checked.append((device, channels, dtype, samplerate))
        if samplerate not in self.supported_rates_hz:
            raise FakePortAudioError("Invalid sample rate [PaErrorCode -9997]")

    def InputStream(self, **kwargs):
        if self.open_error:
            raise FakePortAudioError(self.open_error)
        return FakeStream(**kwargs)


@pytest.fixture
def fake_sd(monkeypatch):
    sd = FakeSounddevice()
    monkeypatch.setattr(audio, "_sounddevice", lambda: sd)
    FakeStream.instances.clear()
    return sd


def test_mic_defaults_to_the_default_input_at_its_own_rate(fake_sd):
    mic = MicrophoneSource()
    assert (mic.device_index, mic.device_name, mic.sample_rate_hz) == (3, "pulse", 44100)
    assert mic.block_frames == 4410
    assert fake_sd.checked == [(3, 1, "float32", 44100)]


@pytest.mark.parametrize("device,index", [(2, 2), ("2", 2), ("usb pnp", 2), ("ALC3246", 0), ("Pulse", 3)])
def test_mic_finds_input_device_by_index_or_case_insensitive_name(fake_sd, device, index):
    assert MicrophoneSource(device, sample_rate_hz=16000).device_index == index


@pytest.mark.parametrize(
    "device,expected",
    [
        ("no such mic", "no audio input device matches 'no such mic'"),
        (9, "audio device 9 does not exist"),
        (1, "audio device 1 (HDMI 0 (hw:0,3)) has no inputs"),
        ("hdmi", "no audio input device matches 'hdmi'"),  # output-only devices never match
    ],
)
def test_mic_unknown_or_output_only_device_raises_with_list_devices_hint(fake_sd, device, expected):
    with pytest.raises(AudioDeviceError) as info:
        MicrophoneSource(device)
    assert expected in str(info.value) and "wakeword --list-devices" in str(info.value)
    assert "\n" not in str(info.value)


def test_mic_ambiguous_name_lists_the_candidates(fake_sd):
    with pytest.raises(AudioDeviceError, match=r"ambiguous \(0: HDA.*2: USB.*\)"):
        MicrophoneSource("hw:")


def test_mic_unsupported_rate_raises_naming_device_and_rate(fake_sd):
    with pytest.raises(AudioDeviceError) as info:
        MicrophoneSource("usb", sample_rate_hz=22050)
    message = str(info.value)
    assert "USB PnP Sound Device" in message and "22050 Hz" in message and "wakeword --list-devices" in message


def test_mic_too_many_channels_raises(fake_sd):
    with pytest.raises(AudioDeviceError, match="1 input channel"):
        MicrophoneSource("usb", channels=2)


def test_mic_no_default_input_raises(fake_sd):
    fake_sd.default_input = None
    with pytest.raises(AudioDeviceError, match="no default audio input device.*--list-devices"):
        MicrophoneSource()


def test_mic_portaudio_error_on_open_becomes_audio_device_error(fake_sd):
    fake_sd.open_error = "Device unavailable [PaErrorCode -9985]"
    mic = MicrophoneSource("usb")
    with pytest.raises(AudioDeviceError, match="cannot open audio device 2 .*Device unavailable"):
        mic.start()
    assert not mic.active


def test_mic_read_returns_blocks_copied_by_the_callback_and_counts_overflows(fake_sd):
    with MicrophoneSource("usb", sample_rate_hz=16000, block_s=0.1) as mic:
        stream = FakeStream.instances[-1]
        assert stream.kwargs == dict(device=2, samplerate=16000, blocksize=1600, channels=1, dtype="float32")
        assert mic.active
        indata = frames(0, 1600)
        stream.push(indata)
        indata[:] = -1  # PortAudio reuses its buffer: the ring must have copied it
        stream.push(frames(1600, 1600), overflow=True)
        np.testing.assert_array_equal(mic.read(WAIT_TIMEOUT_S), frames(0, 1600))
        np.testing.assert_array_equal(mic.read(WAIT_TIMEOUT_S), frames(1600, 1600))
        assert mic.overflows == 1 and mic.dropped_frames == 0
        assert mic.read(0.01) is None  # nothing buffered: times out
    assert not mic.active and stream.closed
    mic.stop()  # idempotent


def test_mic_read_wakes_on_the_callback_event_from_another_thread(fake_sd):
    mic = MicrophoneSource("usb", sample_rate_hz=16000, block_s=0.1)
    mic.start()
    stream = FakeStream.instances[-1]
    results = []
    reader = threading.Thread(target=lambda: results.append(mic.read(WAIT_TIMEOUT_S)), daemon=True)
    reader.start()
    # Half a block does not wake the reader with data; the second half completes it.
    stream.push(frames(0, 800))
    stream.push(frames(800, 800))
    reader.join(WAIT_TIMEOUT_S)
    assert not reader.is_alive()
    np.testing.assert_array_equal(results[0], frames(0, 1600))
    mic.stop()


def test_mic_read_returns_none_at_once_when_the_device_goes_away(fake_sd):
    mic = MicrophoneSource("usb", sample_rate_hz=16000)
    mic.start()
    stream = FakeStream.instances[-1]
    results = []
    reader = threading.Thread(target=lambda: results.append(mic.read(60.0)), daemon=True)
    reader.start()
    stream.device_went_away()  # finished_callback sets the event: the reader must not wait 60 s
    reader.join(WAIT_TIMEOUT_S)
    assert not reader.is_alive() and results == [None]
    assert not mic.active
    mic.stop()


def test_mic_full_ring_drops_and_counts_frames(fake_sd):
    mic = MicrophoneSource("usb", sample_rate_hz=16000, block_s=0.1, buffer_s=0.2)
    mic.start()
    stream = FakeStream.instances[-1]
    for i in range(3):
        stream.push(frames(i * 1600, 1600))
    assert mic.dropped_frames == 1600
    np.testing.assert_array_equal(mic.read(WAIT_TIMEOUT_S), frames(0, 1600))
    mic.stop()


def test_mic_callback_allocates_no_sample_buffers(fake_sd):
    mic = MicrophoneSource("usb", sample_rate_hz=16000, block_s=0.1, buffer_s=10)
    mic.start()
    stream = FakeStream.instances[-1]
    block = frames(0, 1600)
    status = FakeStatus(True)
    stream.callback(block, 1600, None, status)  # warm up
    mic.read(WAIT_TIMEOUT_S)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(50):
            stream.callback(block, 1600, None, status)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # One block is 6400 bytes; views and int objects are a few hundred bytes at most.
    assert peak - before < block.nbytes // 4
    assert mic.overflows == 51 and mic._ring.available == 50 * 1600
    mic.stop()


def test_list_devices_returns_only_inputs_and_marks_the_default(fake_sd):
    devices = list_devices()
    assert [d["index"] for d in devices] == [0, 2, 3]
    assert [d["is_default"] for d in devices] == [False, False, True]
    assert devices[1] == {
        "index": 2, "name": "USB PnP Sound Device: Audio (hw:1,0)", "hostapi": "ALSA",
        "max_input_channels": 1, "default_samplerate": 48000.0, "is_default": False,
    }
    table = format_device_list(devices)
    lines = table.splitlines()
    assert "USB PnP Sound Device" in lines[2] and "48000" in lines[2]
    assert lines[3].startswith("*") and "pulse" in lines[3]


def test_format_device_list_says_when_there_are_none():
    assert "no audio input devices" in format_device_list([])


# --------------------------------------------------------------------------------------------
# MicrophoneSource against the real PortAudio (works without a sound card)


def test_real_portaudio_nonexistent_device_name_raises_with_list_devices_hint():
    pytest.importorskip("sounddevice")
    with pytest.raises(AudioDeviceError) as info:
        MicrophoneSource("no-such-microphone-xyz")
    assert "no-such-microphone-xyz" in str(info.value) and "wakeword --list-devices" in str(info.value)
    assert isinstance(info.value, OSError)


def test_real_portaudio_list_devices_returns_input_dicts():
    pytest.importorskip("sounddevice")
    for device in list_devices():
        assert device["max_input_channels"] > 0 and set(device) >= {"index", "name", "hostapi", "is_default"}


def _pulse_null_sink_monitor() -> str | None:
    """Name of a null sink's monitor source on a reachable PulseAudio server, else None."""
    if shutil.which("pactl") is None or shutil.which("paplay") is None:
        return None
    try:
        listing = subprocess.run(["pactl", "list", "short", "sources"], capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return None
    for line in listing.stdout.splitlines():
        fields = line.split("\t")
        if len(fields) > 1 and fields[1].endswith(".monitor"):
            return fields[1]
    return None


@pytest.mark.live
def test_live_microphone_captures_a_clip_played_into_a_pulse_null_sink(monkeypatch):
    """Real PortAudio capture: play a clip into a null sink and hear it on the 'pulse' device."""
    pytest.importorskip("sounddevice")
    monitor = _pulse_null_sink_monitor()
    if monitor is None:
        if os.environ.get("WAKEWORD_REQUIRE_LIVE") == "1":
            pytest.fail("WAKEWORD_REQUIRE_LIVE=1 but no PulseAudio server with a null sink is running")
        pytest.skip("no PulseAudio server with a null sink (see tests/integration/test_live.py)")
    sink = monitor[: -len(".monitor")]
    # libpulse reads PULSE_SOURCE when PortAudio connects: no change to the server's default.
    monkeypatch.setenv("PULSE_SOURCE", monitor)
    with MicrophoneSource("pulse", sample_rate_hz=16000, block_s=0.1) as mic:
        assert mic.active
        # The pulse ALSA plugin can take ~2 s to deliver its first block.
        assert mic.read(WAIT_TIMEOUT_S) is not None
        player = subprocess.Popen(["paplay", "-d", sink, str(DATA_DIR / "stop_3f170018.wav")])
        try:
            loudest = 0.0
            for _ in range(30):  # 3 s of blocks; the clip is 1 s
                block = mic.read(WAIT_TIMEOUT_S)
                assert block is not None and block.shape == (1600, 1) and block.dtype == np.float32
                loudest = max(loudest, float(np.sqrt(np.mean(block**2))))
        finally:
            player.wait(timeout=WAIT_TIMEOUT_S)
        assert loudest > 0.03  # the clip's loud part, far above the sink's silence
    assert not mic.active
