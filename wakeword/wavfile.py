"""WAV files: a reader that parses the RIFF chunks itself and a small 16-bit writer.

Python's `wave` cannot read float WAVs, so WavFileSource walks the chunks itself and reads the
data chunk incrementally: an hour-long file never sits in memory at once. Sources never
resample; the pipeline (detector.py) does that, in one place.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import AudioFormatError
from .settings import INT16_FULL_SCALE

log = logging.getLogger(__name__)

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
PCM16_FULL_SCALE = INT16_FULL_SCALE
PCM32_FULL_SCALE = 2147483648.0  # 24-bit samples are widened to 32 bits before scaling

CONVERT_HINT = "convert it with `sox IN.wav -e signed-integer -b 16 OUT.wav`"
#: Sample rates and channel counts a header may claim. Outside these it is corrupt or not
#: audio we can use, and believing it would size buffers by it (a 3 KB file claiming 2^31 Hz
#: once asked for 24 GB): 1 kHz is below any speech recording, 384 kHz the top of studio
#: converters; 32 channels the most a microphone array gives.
WAV_RATE_MIN_HZ = 1000
WAV_RATE_MAX_HZ = 384000
WAV_CHANNELS_MAX = 32
#: A read block holds at most this many bytes of the file, whatever block_s and the header's
#: rate and width give, so memory stays bounded (10 s of 16 kHz mono 16-bit is 320 KB).
MAX_BLOCK_BYTES = 4 * 1024 * 1024
RATE_HINT = "resample it with `sox IN.wav -r 16000 OUT.wav`"


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
        self.block_frames = max(1, min(int(round(self.block_s * self.sample_rate_hz)),
                                       MAX_BLOCK_BYTES // self._frame_bytes))

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.sample_rate_hz

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({str(self.path)!r}, {self.encoding}, {self.sample_rate_hz} Hz, "
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
        if not self.path.is_file():  # opening a FIFO would block; a device never ends
            raise self._fail("not a regular file (a FIFO, socket or device); give the path of a WAV file")
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
        if channels > WAV_CHANNELS_MAX:
            raise self._fail(f"the header says {channels} channels, more than the {WAV_CHANNELS_MAX} supported "
                             f"(a corrupt header?); mix it down with `sox IN.wav -c 1 OUT.wav`")
        if rate_hz == 0:
            raise self._fail("the header says a sample rate of 0 Hz")
        if not WAV_RATE_MIN_HZ <= rate_hz <= WAV_RATE_MAX_HZ:
            raise self._fail(f"the header says a sample rate of {rate_hz} Hz, outside the {WAV_RATE_MIN_HZ}-"
                             f"{WAV_RATE_MAX_HZ} Hz supported (a corrupt header?); {RATE_HINT}")
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
        """Yield float32 (n, channels) blocks in [-1, 1], n = block_frames except the last
        (block_frames: block_s of audio, or fewer if that would exceed MAX_BLOCK_BYTES).

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


#: A WAV stream's chunks before the audio (LIST, fact...) are skipped up to this many bytes: a
#: header that claims more is not one a recorder writes.
STREAM_SKIP_MAX_BYTES = 1024 * 1024
#: The largest 'fmt ' chunk a stream may have (40 bytes for WAVE_FORMAT_EXTENSIBLE).
STREAM_FMT_MAX_BYTES = 4096
#: The name a stream's messages and the dry-run table use.
STDIN_NAME = "-"


class WavStreamSource(WavFileSource):
    """Reads a WAV stream from a pipe (`arecord ... | wakeword --dry-run -`), once, in blocks.

    The same formats and checks as WavFileSource, read front to back: the 'fmt ' chunk must come
    before the data, which a recorder writing to a pipe always does. The data chunk's size is a
    limit, not a promise (recorders writing to a pipe cannot know it and write a huge or unset
    one): the audio ends at that size or at the end of the stream, whichever is first. n_frames
    and duration_s count what has been read so far."""

    def __init__(self, stream, block_s: float = 10.0, name: str = STDIN_NAME):
        self._stream, self._read = stream, False
        super().__init__(name, block_s)

    def _fail(self, problem: str) -> AudioFormatError:
        return AudioFormatError(f"standard input: {problem}" if str(self.path) == STDIN_NAME else f"{self.path}: {problem}")

    def _exact(self, n: int) -> bytes:
        """Up to n bytes: fewer only at the end of the stream."""
        parts, got = [], 0
        while got < n:
            part = self._stream.read(n - got)
            if not part:
                break
            parts.append(part)
            got += len(part)
        return b"".join(parts)

    def _parse_header(self) -> None:
        riff = self._exact(RIFF_HEADER_BYTES)
        if not riff:
            raise self._fail("empty input (nothing arrived on standard input)")
        if riff[:4] in (b"RIFX", b"RF64"):
            raise self._fail(f"{'big-endian RIFX' if riff[:4] == b'RIFX' else 'RF64'} WAV streams are not supported; {CONVERT_HINT}")
        if len(riff) < RIFF_HEADER_BYTES or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise self._fail("not a WAV stream (no RIFF/WAVE header); pipe WAV into it, e.g. `arecord -f S16_LE -r 16000 -t wav`")
        fmt, skipped = None, 0
        while True:
            head = self._exact(CHUNK_HEADER_BYTES)
            if len(head) < CHUNK_HEADER_BYTES:
                raise self._fail("the stream ended before its data chunk" if fmt else "the stream ended before its 'fmt ' chunk")
            chunk_id, size = struct.unpack("<4sI", head)
            name = chunk_id.decode("latin-1")
            if chunk_id == b"data":
                if fmt is None:
                    raise self._fail("the data chunk comes before the 'fmt ' chunk, which a stream cannot read")
                break
            padded = size + (size & 1)
            if chunk_id == b"fmt " and fmt is None:
                if size > STREAM_FMT_MAX_BYTES:
                    raise self._fail(f"corrupt 'fmt ' chunk (it claims {size} bytes)")
                body = self._exact(padded)
                if len(body) < padded:
                    raise self._fail("the stream ended inside its 'fmt ' chunk")
                fmt = self._parse_fmt(body[:size])
                continue
            skipped += padded
            if skipped > STREAM_SKIP_MAX_BYTES:
                raise self._fail(f"the {name!r} chunk before the audio claims {size} bytes (a corrupt header?)")
            if len(self._exact(padded)) < padded:
                raise self._fail(f"the stream ended inside its {name!r} chunk")
        self.encoding, self.channels, self.sample_rate_hz, self._bytes_per_sample = fmt
        self._frame_bytes = self.channels * self._bytes_per_sample
        self._data_left = None if size in (0, SIZE_UNKNOWN) else size
        self.n_frames = 0

    def blocks(self) -> Iterator[np.ndarray]:
        """Yield float32 (n, channels) blocks as they arrive (see WavFileSource.blocks); a stream
        can be read once."""
        if self._read:
            raise self._fail("a stream can be read only once")
        self._read = True
        want = self.block_frames * self._frame_bytes
        while self._data_left is None or self._data_left > 0:
            n = want if self._data_left is None else min(want, self._data_left)
            raw = self._exact(n)
            if self._data_left is not None:
                self._data_left -= len(raw)
            whole = len(raw) - len(raw) % self._frame_bytes
            if whole:
                self.n_frames += whole // self._frame_bytes
                yield self._decode(raw[:whole]).reshape(-1, self.channels)
            if len(raw) < n:  # the end of the stream
                if whole < len(raw):
                    log.warning("%s: ignoring %d bytes after the last whole frame", self.path, len(raw) - whole)
                return


def write_wav(path, samples: np.ndarray, sample_rate_hz: int) -> Path:
    """Write float samples in [-1, 1], shape (n,) or (n, channels), as 16-bit PCM; return the path.

    Writes to a temporary name beside `path` and renames it, so a reader never sees half a file.
    """
    import wave

    path = Path(path)
    x = np.asarray(samples, dtype=np.float64)
    x = x.reshape(len(x), -1)
    pcm = np.clip(np.round(x * INT16_FULL_SCALE), -INT16_FULL_SCALE, INT16_FULL_SCALE - 1).astype("<i2")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with wave.open(str(tmp), "wb") as w:
        w.setnchannels(pcm.shape[1])
        w.setsampwidth(2)
        w.setframerate(int(sample_rate_hz))
        w.writeframes(pcm.tobytes())
    os.replace(tmp, path)
    return path
