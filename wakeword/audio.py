"""Audio sources: WAV files and the microphone, both yielding float32 (n, channels) blocks.

- WavFileSource parses the RIFF chunks itself (Python's `wave` cannot read float WAVs) and
  reads the data chunk incrementally, so an hour-long file never sits in memory at once.
- MicrophoneSource wraps sounddevice.InputStream. Its PortAudio callback only copies into a
  preallocated RingBuffer, counts overflows and sets an Event; everything else (logging,
  conversion, resampling) happens on the consumer's side.

Sources never resample: the pipeline in detector.py does that, in one place.
"""

from __future__ import annotations

import logging
import os
import struct
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import AudioDeviceError, AudioFormatError, DependencyError

log = logging.getLogger(__name__)

LIST_DEVICES_HINT = "run `wakeword --list-devices` to see the input devices"

# RIFF/WAVE format tags (mmreg.h).
WAVE_FORMAT_PCM = 0x0001
WAVE_FORMAT_IEEE_FLOAT = 0x0003
WAVE_FORMAT_EXTENSIBLE = 0xFFFE
#: Tags we recognise only to reject them with a readable name.
UNSUPPORTED_FORMAT_NAMES = {
    0x0002: "Microsoft ADPCM",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0031: "GSM 6.10",
    0x0050: "MPEG",
    0x0055: "MP3",
}
#: The 14 bytes that follow the 2-byte format tag in a KSDATAFORMAT_SUBTYPE_* GUID.
KSDATAFORMAT_GUID_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
#: A data (or RIFF) size that a streaming writer left unset: read to the end of the file.
SIZE_UNKNOWN = 0xFFFFFFFF
RIFF_HEADER_BYTES = 12
CHUNK_HEADER_BYTES = 8
FMT_MIN_BYTES = 16
FMT_EXTENSIBLE_MIN_BYTES = 40

#: (format tag, bytes per sample in the container) -> encoding name
_ENCODINGS = {
    (WAVE_FORMAT_PCM, 1): "pcm8",
    (WAVE_FORMAT_PCM, 2): "pcm16",
    (WAVE_FORMAT_PCM, 3): "pcm24",
    (WAVE_FORMAT_PCM, 4): "pcm32",
    (WAVE_FORMAT_IEEE_FLOAT, 4): "float32",
    (WAVE_FORMAT_IEEE_FLOAT, 8): "float64",
}
PCM8_OFFSET = 128.0  # 8-bit WAV PCM is unsigned, silence at 128
PCM8_FULL_SCALE = 128.0
PCM16_FULL_SCALE = 32768.0
PCM32_FULL_SCALE = 2147483648.0  # 24-bit samples are widened to 32 bits before scaling

CONVERT_HINT = "convert it with `sox IN.wav -e signed-integer -b 16 OUT.wav`"


# --------------------------------------------------------------------------------------------
# WAV files


class WavFileSource:
    """Reads a WAV file in blocks at its own rate.

    The header is validated when the object is built; every problem raises AudioFormatError
    with one line that starts with the file name. Supported: unsigned 8-bit, signed 16/24/32-bit
    PCM, 32/64-bit float, and WAVE_FORMAT_EXTENSIBLE with a PCM or float subformat.

    Attributes: path, sample_rate_hz, channels, n_frames, duration_s, encoding
    ("pcm8", "pcm16", "pcm24", "pcm32", "float32" or "float64"), block_s.
    """

    def __init__(self, path, block_s: float = 10.0):
        self.path = Path(path)
        if not block_s > 0:
            raise ValueError(f"block_s must be positive, got {block_s}")
        self.block_s = float(block_s)
        self._parse_header()
        self.duration_s = self.n_frames / self.sample_rate_hz
        self.block_frames = max(1, int(round(self.block_s * self.sample_rate_hz)))

    def __repr__(self) -> str:
        return (
            f"WavFileSource({str(self.path)!r}, {self.encoding}, {self.sample_rate_hz} Hz, "
            f"{self.channels} ch, {self.duration_s:.3f} s)"
        )

    def _fail(self, problem: str) -> AudioFormatError:
        return AudioFormatError(f"{self.path}: {problem}")

    def _parse_header(self) -> None:
        """Walk the RIFF chunks; set the format attributes, _data_offset and n_frames."""
        if not self.path.exists():
            raise self._fail("no such file")
        if self.path.is_dir():
            raise self._fail("is a directory, not a WAV file")
        try:
            f = open(self.path, "rb")
        except OSError as e:
            raise self._fail(f"cannot open: {e.strerror or e}") from None
        with f:
            file_bytes = os.fstat(f.fileno()).st_size
            if file_bytes == 0:
                raise self._fail("empty file (0 bytes)")
            riff = f.read(RIFF_HEADER_BYTES)
            if riff[:4] in (b"RIFX", b"RF64"):
                kind = "big-endian RIFX" if riff[:4] == b"RIFX" else "RF64 (over 4 GB)"
                raise self._fail(f"{kind} WAV files are not supported; {CONVERT_HINT}")
            if riff[:4] == b"RIFF" and len(riff) < RIFF_HEADER_BYTES:
                raise self._fail(f"truncated: the file ends inside the RIFF header ({file_bytes} bytes)")
            if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
                raise self._fail("not a WAV file (no RIFF/WAVE header)")
            riff_size = struct.unpack("<I", riff[4:8])[0]
            # A streaming writer that never went back to fill the sizes in leaves 0 or 0xFFFFFFFF.
            unfinalised = riff_size in (0, SIZE_UNKNOWN)

            fmt = None
            data_offset = data_bytes = None
            pos = RIFF_HEADER_BYTES
            while pos + CHUNK_HEADER_BYTES <= file_bytes:
                f.seek(pos)
                chunk_id, size = struct.unpack("<4sI", f.read(CHUNK_HEADER_BYTES))
                body = pos + CHUNK_HEADER_BYTES
                name = chunk_id.decode("latin-1")
                if chunk_id == b"data" and data_offset is None:
                    remaining = file_bytes - body
                    if size == SIZE_UNKNOWN or (size == 0 and unfinalised and remaining > 0):
                        log.debug("%s: data size unset (streaming writer); reading to end of file", self.path)
                        size = remaining
                    elif size > remaining:
                        raise self._fail(
                            f"truncated: the data chunk claims {size} bytes but only {remaining} are present"
                        )
                    data_offset, data_bytes = body, size
                elif body + size > file_bytes:
                    if fmt is not None and data_offset is not None:
                        # Trailing metadata cut short does not affect the audio.
                        log.debug("%s: ignoring truncated trailing %r chunk", self.path, name)
                        break
                    raise self._fail(
                        f"truncated: the {name!r} chunk claims {size} bytes but only "
                        f"{file_bytes - body} are present"
                    )
                elif chunk_id == b"fmt " and fmt is None:
                    fmt = self._parse_fmt(f.read(size))
                # Chunks are word-aligned: an odd-sized chunk is followed by one pad byte.
                pos = body + size + (size & 1)

            if fmt is None:
                if data_offset is None and pos < file_bytes:
                    raise self._fail("truncated: the file ends inside a chunk header")
                raise self._fail("no 'fmt ' chunk (corrupt WAV header)")
            if data_offset is None:
                if pos < file_bytes:
                    raise self._fail("truncated: the file ends inside a chunk header")
                raise self._fail("no data chunk")

        self.encoding, self.channels, self.sample_rate_hz, self._bytes_per_sample = fmt
        self._frame_bytes = self.channels * self._bytes_per_sample
        self._data_offset = data_offset
        self.n_frames = data_bytes // self._frame_bytes
        extra = data_bytes - self.n_frames * self._frame_bytes
        if extra:
            log.warning("%s: ignoring %d bytes after the last whole frame", self.path, extra)

    def _parse_fmt(self, body: bytes) -> tuple[str, int, int, int]:
        """'fmt ' chunk body -> (encoding, channels, sample_rate_hz, bytes_per_sample)."""
        if len(body) < FMT_MIN_BYTES:
            raise self._fail(f"corrupt 'fmt ' chunk ({len(body)} bytes, need {FMT_MIN_BYTES})")
        tag, channels, rate_hz, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", body[:16])
        if tag == WAVE_FORMAT_EXTENSIBLE:
            if len(body) < FMT_EXTENSIBLE_MIN_BYTES:
                raise self._fail("corrupt WAVE_FORMAT_EXTENSIBLE 'fmt ' chunk (too short)")
            subformat = body[24:40]
            if subformat[2:] != KSDATAFORMAT_GUID_TAIL:
                raise self._fail(f"unsupported WAVE_FORMAT_EXTENSIBLE subformat {subformat.hex()}; {CONVERT_HINT}")
            tag = struct.unpack("<H", subformat[:2])[0]
        if channels == 0:
            raise self._fail("the header says 0 channels")
        if rate_hz == 0:
            raise self._fail("the header says a sample rate of 0 Hz")
        if tag not in (WAVE_FORMAT_PCM, WAVE_FORMAT_IEEE_FLOAT):
            what = UNSUPPORTED_FORMAT_NAMES.get(tag, "encoding")
            raise self._fail(f"unsupported {what} (format tag 0x{tag:04x}); {CONVERT_HINT}")
        # The container size comes from block_align: extensible files may carry e.g. 20 valid
        # bits left-justified in 24, which read correctly as 24-bit.
        if block_align == 0 or block_align % channels:
            raise self._fail(f"corrupt header: block align {block_align} does not fit {channels} channels")
        bytes_per_sample = block_align // channels
        encoding = _ENCODINGS.get((tag, bytes_per_sample))
        if encoding is None:
            kind = "PCM" if tag == WAVE_FORMAT_PCM else "float"
            raise self._fail(f"unsupported {8 * bytes_per_sample}-bit {kind} (header says {bits} bits); {CONVERT_HINT}")
        return encoding, channels, rate_hz, bytes_per_sample

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield float32 (n, channels) blocks in [-1, 1], n = block_frames except the last.

        Reads block by block from disk. Raises AudioFormatError if the file shrank since it
        was opened. Each call starts again from the beginning of the file.
        """
        frames_left = self.n_frames
        with open(self.path, "rb") as f:
            f.seek(self._data_offset)
            while frames_left > 0:
                n = min(self.block_frames, frames_left)
                raw = f.read(n * self._frame_bytes)
                if len(raw) < n * self._frame_bytes:
                    raise self._fail("truncated: the file got shorter while it was being read")
                frames_left -= n
                yield self._decode(raw).reshape(n, self.channels)

    def read_all(self) -> np.ndarray:
        """The whole file as float32 (n_frames, channels); for short clips and tests."""
        blocks = list(self.blocks())
        if not blocks:
            return np.zeros((0, self.channels), np.float32)
        return np.concatenate(blocks)

    def _decode(self, raw: bytes) -> np.ndarray:
        """Little-endian interleaved samples -> float32 1-D in [-1, 1]."""
        enc = self.encoding
        if enc == "pcm16":
            return np.frombuffer(raw, "<i2").astype(np.float32) / np.float32(PCM16_FULL_SCALE)
        if enc == "pcm8":
            return (np.frombuffer(raw, np.uint8).astype(np.float32) - np.float32(PCM8_OFFSET)) / np.float32(
                PCM8_FULL_SCALE
            )
        if enc == "pcm24":
            # Place the 3 bytes in the top of a little-endian int32, so the sign comes for free.
            wide = np.zeros((len(raw) // 3, 4), np.uint8)
            wide[:, 1:] = np.frombuffer(raw, np.uint8).reshape(-1, 3)
            return wide.view("<i4")[:, 0].astype(np.float32) / np.float32(PCM32_FULL_SCALE)
        if enc == "pcm32":
            # float32 has 24 bits of mantissa: the low bits of 32-bit PCM are below its noise floor anyway.
            return (np.frombuffer(raw, "<i4").astype(np.float64) / PCM32_FULL_SCALE).astype(np.float32)
        # Float files may hold NaN or overs; the contract downstream is [-1, 1].
        samples = np.frombuffer(raw, "<f4" if enc == "float32" else "<f8").astype(np.float32)
        np.nan_to_num(samples, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
        return np.clip(samples, -1.0, 1.0, out=samples)


# --------------------------------------------------------------------------------------------
# Ring buffer


class RingBuffer:
    """Single-producer single-consumer ring of (capacity_frames, channels) samples, preallocated.

    write() is safe to call from the PortAudio callback: it copies into the preallocated array
    and updates counters, with no locks, no logging and no I/O (Python still creates small view
    objects for slices; no sample buffers are allocated). When full it keeps the oldest data
    and drops the newest, counting the frames in dropped_frames.

    The producer only advances _written and the consumer only advances _read (plain int
    attributes, whose assignment is atomic under the GIL); the producer publishes _written
    after copying, so the consumer never sees a half-written frame.
    """

    def __init__(self, capacity_frames: int, channels: int = 1, dtype=np.float32):
        if capacity_frames < 1 or channels < 1:
            raise ValueError(f"capacity_frames and channels must be >= 1, got {capacity_frames}, {channels}")
        self.capacity_frames = int(capacity_frames)
        self.channels = int(channels)
        self.dtype = np.dtype(dtype)
        self._buf = np.zeros((self.capacity_frames, self.channels), self.dtype)
        self._written = 0  # total frames ever stored (producer-owned)
        self._read = 0  # total frames ever consumed (consumer-owned)
        self.dropped_frames = 0  # producer-owned

    @property
    def available(self) -> int:
        """Frames ready to read."""
        return self._written - self._read

    def write(self, data: np.ndarray) -> None:
        """Store data, shape (n, channels) (or (n,) when channels == 1), of the ring's dtype.

        Frames that do not fit are dropped and counted.
        """
        if data.ndim == 1:
            data = data.reshape(-1, 1)  # a view; only valid for mono, checked by the copy below
        n = data.shape[0]
        written = self._written
        free = self.capacity_frames - (written - self._read)
        if n > free:
            self.dropped_frames += n - free
            n = free
        if n <= 0:
            return
        start = written % self.capacity_frames
        first = min(n, self.capacity_frames - start)
        self._buf[start : start + first] = data[:first]
        if n > first:
            self._buf[: n - first] = data[first:n]
        self._written = written + n  # publish after the copy

    def read(self, n_frames: int, out: np.ndarray | None = None) -> np.ndarray | None:
        """Remove and return the oldest n_frames as (n_frames, channels), or None if fewer are stored.

        out: optional preallocated (n_frames, channels) array of the ring's dtype to fill.
        """
        if not 0 < n_frames <= self.capacity_frames:
            raise ValueError(f"n_frames must be in 1..{self.capacity_frames}, got {n_frames}")
        if out is not None and out.shape != (n_frames, self.channels):
            raise ValueError(f"out must have shape {(n_frames, self.channels)}, got {out.shape}")
        read = self._read
        if self._written - read < n_frames:
            return None
        if out is None:
            out = np.empty((n_frames, self.channels), self.dtype)
        start = read % self.capacity_frames
        first = min(n_frames, self.capacity_frames - start)
        out[:first] = self._buf[start : start + first]
        if n_frames > first:
            out[first:] = self._buf[: n_frames - first]
        self._read = read + n_frames  # free the space only after copying it out
        return out


# --------------------------------------------------------------------------------------------
# Microphone


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
    if isinstance(device, str) and device.strip().isdigit():
        device = int(device)
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
