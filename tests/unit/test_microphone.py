"""Tests for wakeword.microphone: device lookup and capture against a fake sounddevice module
(no sound card here), the device-lookup errors against the real PortAudio, and one capture
through the null sink of the session's own PulseAudio server (tests/pulse.py).
"""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from wakeword import microphone
from wakeword.microphone import MicrophoneSource, format_device_list, list_devices
from wakeword.errors import AudioDeviceError

DATA_DIR = Path(__file__).resolve().parents[1] / "data"
WAIT_TIMEOUT_S = 5.0  # generous: only hit if something is broken

# --------------------------------------------------------------------------------------------
# MicrophoneSource against a fake sounddevice



def frames(start: int, n: int, channels: int = 1) -> np.ndarray:
    """(n, channels) float32 whose values count up from start, so order is checkable."""
    return np.repeat(np.arange(start, start + n, dtype=np.float32)[:, None], channels, axis=1)


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
    monkeypatch.setattr(microphone, "_sounddevice", lambda: sd)
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


@pytest.mark.live
def test_live_microphone_captures_a_clip_played_into_a_pulse_null_sink(pulse_server):
    """Real PortAudio capture from this session's own PulseAudio server (tests/pulse.py): play
    a clip into its null sink and hear it on the 'pulse' device, whose default source is the
    sink's monitor."""
    with MicrophoneSource("pulse", sample_rate_hz=16000, block_s=0.1) as mic:
        assert mic.active
        # The pulse ALSA plugin can take ~2 s to deliver its first block.
        assert mic.read(WAIT_TIMEOUT_S) is not None
        player = pulse_server.play(DATA_DIR / "stop_3f170018.wav", wait=False)
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
