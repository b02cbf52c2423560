"""The microphone: a sounddevice.InputStream whose PortAudio callback only copies.

The callback copies into a preallocated RingBuffer, counts overflows and sets an Event;
everything else (logging, conversion, resampling) happens on the consumer's side. Sources
never resample: the pipeline (detector.py) does that, in one place.
"""

from __future__ import annotations

import logging
import sys
import threading
import time

import numpy as np

from .checks import decimal_index
from .errors import AudioDeviceError, DependencyError
from .ringbuffer import RingBuffer

log = logging.getLogger(__name__)

LIST_DEVICES_HINT = "run `wakeword --list-devices` to see the input devices"


def _sounddevice():
    """Import sounddevice on first use, so file-only modes work without PortAudio."""
    try:
        import sounddevice
    except ImportError as e:
        raise DependencyError(f"sounddevice is not installed: {e}; pip install sounddevice") from None
    except OSError as e:  # the PortAudio library itself is missing
        raise AudioDeviceError(f"PortAudio library not found ({e}); apt install libportaudio2") from None
    return sounddevice


def rescan_devices() -> None:
    """Make PortAudio enumerate devices afresh (it lists them once, at initialisation).

    Needed to see a USB microphone that was plugged back in. Only call it while no stream of
    ours is open: re-initialising PortAudio invalidates open streams.
    """
    sd = _sounddevice()
    # No public call exists; the maintainer recommends this pair (python-sounddevice#125).
    sd._terminate()
    sd._initialize()


def release_portaudio(timeout_s: float) -> bool:
    """PortAudio's teardown (Pa_Terminate), waited for at most timeout_s seconds.

    True if it finished (or PortAudio was never initialised). False if it is still running:
    it closes any stream left open, which blocks while a frozen sound server holds it; the
    caller should then exit without it (sounddevice's exit handler would block the same way).
    """
    sd = sys.modules.get("sounddevice")
    if sd is None:
        return True

    def terminate():
        while getattr(sd, "_initialized", 0):
            sd._terminate()

    worker = threading.Thread(target=terminate, name="wakeword-portaudio-teardown", daemon=True)
    worker.start()
    worker.join(timeout_s)
    return not worker.is_alive()


def list_devices() -> list[dict]:
    """Input devices as dicts: index, name, hostapi (name), max_input_channels,
    default_samplerate (Hz, float), is_default (bool)."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        hostapis = sd.query_hostapis()
    except sd.PortAudioError as e:
        raise AudioDeviceError(f"cannot list audio devices: {e}") from None
    default_index = _default_input_index(sd)
    found = []
    for index, info in enumerate(devices):
        if info["max_input_channels"] <= 0:
            continue
        found.append(
            {
                "index": index,
                "name": info["name"],
                "hostapi": hostapis[info["hostapi"]]["name"],
                "max_input_channels": int(info["max_input_channels"]),
                "default_samplerate": float(info["default_samplerate"]),
                "is_default": index == default_index,
            }
        )
    return found


def _default_input_index(sd) -> int | None:
    try:
        return int(sd.query_devices(kind="input")["index"])
    except (sd.PortAudioError, ValueError, KeyError):
        return None  # no default input device


def format_device_list(devices: list[dict]) -> str:
    """A table of list_devices() output for `wakeword --list-devices`; '*' marks the default."""
    if not devices:
        return "no audio input devices found (is a microphone plugged in, and is the user in the 'audio' group?)"
    name_width = max(len("name"), *(len(d["name"]) for d in devices))
    api_width = max(len("host API"), *(len(d["hostapi"]) for d in devices))
    lines = [f"  {'index':>5}  {'name':<{name_width}}  {'host API':<{api_width}}  {'inputs':>6}  {'rate (Hz)':>9}"]
    for d in devices:
        mark = "*" if d["is_default"] else " "
        lines.append(
            f"{mark} {d['index']:>5}  {d['name']:<{name_width}}  {d['hostapi']:<{api_width}}  "
            f"{d['max_input_channels']:>6}  {d['default_samplerate']:>9.0f}"
        )
    lines.append("* = default input; pass the index or part of the name as --device")
    return "\n".join(lines)


def _resolve_device(sd, device: int | str | None) -> tuple[int, dict]:
    """device (index, name substring, or None for the default) -> (index, query_devices dict).

    Only input devices match. Raises AudioDeviceError naming the device.
    """
    try:
        devices = list(sd.query_devices())
    except sd.PortAudioError as e:
        raise AudioDeviceError(f"cannot list audio devices: {e}") from None
    if device is None:
        index = _default_input_index(sd)
        if index is None:
            raise AudioDeviceError(f"no default audio input device; {LIST_DEVICES_HINT} and pass --device")
        return index, devices[index]
    index = decimal_index(device)
    if index is not None:
        device = index
    if isinstance(device, int):
        if not 0 <= device < len(devices):
            raise AudioDeviceError(f"audio device {device} does not exist; {LIST_DEVICES_HINT}")
        if devices[device]["max_input_channels"] <= 0:
            raise AudioDeviceError(
                f"audio device {device} ({devices[device]['name']}) has no inputs; {LIST_DEVICES_HINT}"
            )
        return device, devices[device]
    wanted = device.strip().lower()
    matches = [
        (i, d) for i, d in enumerate(devices) if d["max_input_channels"] > 0 and wanted in d["name"].lower()
    ]
    exact = [(i, d) for i, d in matches if d["name"].lower() == wanted]
    if len(exact) == 1:
        return exact[0]
    if not matches:
        raise AudioDeviceError(f"no audio input device matches {device!r}; {LIST_DEVICES_HINT}")
    if len(matches) > 1:
        names = ", ".join(f"{i}: {d['name']}" for i, d in matches)
        raise AudioDeviceError(f"audio device {device!r} is ambiguous ({names}); pass the index instead")
    return matches[0]


class MicrophoneSource:
    """A sounddevice.InputStream whose callback only copies into a RingBuffer and counts overflows.

    read(timeout_s) returns the next block_s block as float32 (block_frames, channels) at
    sample_rate_hz (the device's own rate unless one was asked for). Overflows (audio the
    OS dropped before we saw it) and dropped_frames (our ring was full because the consumer
    fell behind) are counted here and logged by the caller.

    Usable as a context manager: `with MicrophoneSource(...) as mic:` starts and stops it.
    """

    def __init__(
        self,
        device: int | str | None = None,
        sample_rate_hz: int | None = None,
        block_s: float = 0.1,
        channels: int = 1,
        buffer_s: float = 5.0,
    ):
        if not block_s > 0 or not buffer_s > 0 or channels < 1:
            raise ValueError(f"block_s, buffer_s and channels must be positive, got {block_s}, {buffer_s}, {channels}")
        self._sd = sd = _sounddevice()
        self.device_index, info = _resolve_device(sd, device)
        self.device_name = info["name"]
        where = f"audio device {self.device_index} ({self.device_name})"
        if channels > info["max_input_channels"]:
            raise AudioDeviceError(
                f"{where} has {info['max_input_channels']} input channel(s), {channels} requested; {LIST_DEVICES_HINT}"
            )
        self.sample_rate_hz = int(sample_rate_hz or round(info["default_samplerate"]))
        self.channels = channels
        try:
            sd.check_input_settings(
                device=self.device_index, channels=channels, dtype="float32", samplerate=self.sample_rate_hz
            )
        except (sd.PortAudioError, ValueError) as e:
            raise AudioDeviceError(
                f"{where} does not support {self.sample_rate_hz} Hz x {channels} ch ({e}); "
                f"{LIST_DEVICES_HINT} (the rate column is the device's own)"
            ) from None
        self.block_s = float(block_s)
        self.block_frames = max(1, int(round(block_s * self.sample_rate_hz)))
        capacity = max(int(round(buffer_s * self.sample_rate_hz)), 2 * self.block_frames)
        self._ring = RingBuffer(capacity, channels, np.float32)
        self._data_ready = threading.Event()
        self._stream = None
        self.overflows = 0

    @property
    def dropped_frames(self) -> int:
        """Frames lost because the ring was full (the reader fell behind)."""
        return self._ring.dropped_frames

    def _callback(self, indata, frames, time_info, status) -> None:
        # Runs on PortAudio's thread: copy, count, signal. Nothing that allocates, blocks or logs.
        if status.input_overflow:
            self.overflows += 1
        self._ring.write(indata)
        self._data_ready.set()

    def start(self) -> None:
        """Open and start the input stream. Raises AudioDeviceError if it cannot be opened."""
        if self._stream is not None:
            return
        sd = self._sd
        try:
            stream = sd.InputStream(
                device=self.device_index,
                samplerate=self.sample_rate_hz,
                blocksize=self.block_frames,
                channels=self.channels,
                dtype="float32",
                callback=self._callback,
                # Wake a waiting reader at once when the stream ends (device unplugged, abort).
                finished_callback=self._data_ready.set,
            )
            stream.start()
        except sd.PortAudioError as e:
            raise AudioDeviceError(
                f"cannot open audio device {self.device_index} ({self.device_name}): {e}; {LIST_DEVICES_HINT}"
            ) from None
        self._stream = stream
        log.debug(
            "opened audio device %d (%s) at %d Hz, %d ch, %.0f ms blocks",
            self.device_index, self.device_name, self.sample_rate_hz, self.channels, 1000 * self.block_s,
        )

    def stop(self) -> None:
        """Stop and close the stream; safe to call more than once or after the device went away."""
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            # abort, not stop: there is nothing to drain on input, and it returns promptly
            # even when the device has gone away.
            stream.abort()
        except self._sd.PortAudioError as e:
            log.warning("stopping audio device %s: %s", self.device_name, e)
        finally:
            try:
                stream.close()
            except self._sd.PortAudioError as e:
                log.warning("closing audio device %s: %s", self.device_name, e)
            self._data_ready.set()  # release a reader blocked in read()

    def __enter__(self) -> "MicrophoneSource":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def active(self) -> bool:
        """True while the stream exists and is running (False once stopped, finished or aborted)."""
        stream = self._stream
        if stream is None:
            return False
        try:
            return bool(stream.active)
        except self._sd.PortAudioError:
            return False

    def read(self, timeout_s: float) -> np.ndarray | None:
        """The next block: float32 (block_frames, channels); None after timeout_s seconds without
        one, or at once if the stream is not running and no whole block is buffered."""
        deadline = time.monotonic() + timeout_s
        while True:
            # Clear before checking, so a callback landing between check and wait is not missed.
            self._data_ready.clear()
            block = self._ring.read(self.block_frames)
            if block is not None:
                return block
            if not self.active:
                return None
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._data_ready.wait(remaining):
                return None
