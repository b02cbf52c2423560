"""wakeword record: guided recording of a wake phrase's takes, through the daemon's capture path.

    wakeword record --out takes/ --phrase "hey robot" [--takes 20] [--background-s 120] [--device USB]

For each take: a count-down while the room's level is measured, then it waits for speech (an
energy gate relative to that level), records until the speech has ended, and trims the silence
around it. A take that is clipped, too quiet or too long is refused with the reason and asked for
again. Takes are written as 16 kHz 16-bit mono WAVs (take_001.wav, ...) with a manifest.json; an
existing take is never overwritten (numbering continues after the last one). --background-s
records that many seconds of the room and of the user talking about other things, as negatives
for `wakeword-train custom --background`.

The microphone is opened as the daemon opens it (device choice, the device's own rate) and the
audio is resampled to 16 kHz by the runtime's resampler. A level meter shows on stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .checks import decimal_index
from .errors import AudioDeviceError, ConfigError
from .textfile import read_text_file
from .resample import Resampler
from .settings import AudioSettings
from .wavfile import write_wav

log = logging.getLogger(__name__)

TAKE_RATE_HZ = 16000
BLOCK_S = 0.05
FRAME_S = 0.01
#: The count-down before each take, seconds, which also measures the room's level.
COUNTDOWN_S = 1.5
#: Speech starts when a frame is this far above the room (dB) for SPEECH_MIN_S, and has ended after
#: END_SILENCE_S below the lower END_MARGIN_DB.
START_MARGIN_DB = 12.0
#: The room is taken to be at least this loud (dB): digital silence (a muted input) would
#: otherwise put the speech gate at the level of a single bit.
ROOM_FLOOR_DB = -70.0
END_MARGIN_DB = 6.0
SPEECH_MIN_S = 0.05
END_SILENCE_S = 0.5
#: Kept around the speech when trimming, seconds; frames more than TRIM_RANGE_DB below the take's
#: loudest are not speech.
PAD_S = 0.25
TRIM_RANGE_DB = 25.0
#: A take must start within this long after the count-down, and last at most MAX_TAKE_S.
WAIT_FOR_SPEECH_S = 8.0
MAX_TAKE_S = 3.0
MIN_TAKE_S = 0.15
MIN_PEAK_DBFS = -40.0
CLIP_LEVEL = 0.999
MAX_CLIPPED_SHARE = 0.001
MAX_ATTEMPTS = 3
READ_TIMEOUT_S = 2.0
MANIFEST = "manifest.json"
METER_WIDTH = 30


@dataclass
class TakeResult:
    audio: np.ndarray | None  # 16 kHz float32, trimmed; None if refused
    reason: str | None


def _frames_db(x: np.ndarray, rate: int) -> np.ndarray:
    frame = max(1, int(FRAME_S * rate))
    n = len(x) // frame
    if n == 0:
        return np.zeros(0)
    return 10 * np.log10(np.mean(np.square(x[: n * frame].reshape(n, frame), dtype=np.float64), axis=1) + 1e-12)


def refuse_reason(x: np.ndarray) -> str | None:
    """Why a trimmed take is not kept: clipped, too quiet, too short or too long; None if good."""
    if len(x) < MIN_TAKE_S * TAKE_RATE_HZ:
        return "too short"
    if np.mean(np.abs(x) >= CLIP_LEVEL) > MAX_CLIPPED_SHARE:
        return "clipped: speak a little further from the microphone, or turn its gain down"
    peak = float(np.max(np.abs(x)))
    if peak <= 0 or 20 * np.log10(peak) < MIN_PEAK_DBFS:
        return f"too quiet (peak below {MIN_PEAK_DBFS:g} dBFS): speak up, or move closer"
    if len(x) > (MAX_TAKE_S + 2 * PAD_S) * TAKE_RATE_HZ:
        return f"too long (more than {MAX_TAKE_S:g} s of sound): say the phrase once, then stop"
    return None


class Recorder:
    """Reads 16 kHz audio from a started source (microphone.MicrophoneSource or a test's fake)."""

    def __init__(self, source, meter=sys.stderr):
        self.source = source
        self.resampler = Resampler(source.sample_rate_hz, TAKE_RATE_HZ)
        self.meter = meter

    def read_s(self, seconds: float) -> np.ndarray:
        """About `seconds` of 16 kHz mono audio; AudioDeviceError if the device stops delivering."""
        out, need = [], int(seconds * TAKE_RATE_HZ)
        got = 0
        while got < need:
            block = self.source.read(READ_TIMEOUT_S)
            if block is None:
                raise AudioDeviceError("the microphone stopped delivering audio")
            x = self.resampler.process(block.mean(axis=1) if block.ndim == 2 else block)
            out.append(x)
            got += len(x)
            self._show(x)
        return np.concatenate(out) if out else np.zeros(0, np.float32)

    def _show(self, x: np.ndarray) -> None:
        if self.meter is None or not len(x):
            return
        level = 20 * np.log10(float(np.max(np.abs(x))) + 1e-9)
        bars = int(np.clip((level + 60) / 60, 0, 1) * METER_WIDTH)
        self.meter.write("\r  level [" + "#" * bars + " " * (METER_WIDTH - bars) + f"] {level:6.1f} dBFS ")
        self.meter.flush()

    def take(self, room_db: float) -> TakeResult:
        """Wait for speech, record until it has ended, trim; refused takes carry their reason."""
        pre = int(PAD_S * TAKE_RATE_HZ)
        history = np.zeros(0, np.float32)
        waited = 0.0
        start_db, end_db = room_db + START_MARGIN_DB, room_db + END_MARGIN_DB
        frames_needed = max(1, int(SPEECH_MIN_S / FRAME_S))
        while waited < WAIT_FOR_SPEECH_S:  # the start of speech, keeping a little before it
            x = self.read_s(BLOCK_S)
            waited += len(x) / TAKE_RATE_HZ
            history = np.concatenate((history, x))[-(pre + len(x) + TAKE_RATE_HZ) :]
            loud = _frames_db(history, TAKE_RATE_HZ) > start_db
            if np.convolve(loud, np.ones(frames_needed), "valid").max(initial=0) >= frames_needed:
                break
        else:
            return TakeResult(None, f"no speech heard within {WAIT_FOR_SPEECH_S:g} s")
        audio = history
        quiet_s = 0.0
        while quiet_s < END_SILENCE_S and len(audio) < (MAX_TAKE_S + 2 * PAD_S + END_SILENCE_S) * TAKE_RATE_HZ:
            x = self.read_s(BLOCK_S)
            audio = np.concatenate((audio, x))
            quiet_s = quiet_s + len(x) / TAKE_RATE_HZ if _frames_db(x, TAKE_RATE_HZ).max(initial=-200) < end_db else 0.0
        frames = _frames_db(audio, TAKE_RATE_HZ)
        # the phrase: frames above the room, and within TRIM_RANGE_DB of the take's loudest
        loud = np.flatnonzero(frames > max(end_db, frames.max(initial=-200) - TRIM_RANGE_DB))
        frame = int(FRAME_S * TAKE_RATE_HZ)
        a = max(0, loud[0] * frame - pre) if len(loud) else 0
        b = min(len(audio), (loud[-1] + 1) * frame + pre) if len(loud) else len(audio)
        trimmed = audio[a:b].astype(np.float32)
        return TakeResult(None if refuse_reason(trimmed) else trimmed, refuse_reason(trimmed))

    def room_level_db(self) -> float:
        """The room's level during the count-down (the median frame, dB)."""
        x = self.read_s(COUNTDOWN_S)
        frames = _frames_db(x, TAKE_RATE_HZ)
        level = float(np.median(frames)) if len(frames) else ROOM_FLOOR_DB
        return max(level, ROOM_FLOOR_DB)


def next_index(folder: Path, prefix: str) -> int:
    """One past the highest NNN of prefix_NNN.wav in folder (so nothing is overwritten)."""
    numbers = (decimal_index(p.stem.rsplit("_", 1)[1]) for p in folder.glob(f"{prefix}_*.wav"))
    taken = [n for n in numbers if n is not None]
    return max(taken, default=0) + 1


def _load_manifest(path: Path, phrase: str) -> dict:
    if not path.exists():
        return {"phrase": phrase, "rate_hz": TAKE_RATE_HZ, "takes": [], "background": []}
    move_away = "move it away to start a new one"
    text = read_text_file(path, "recording manifest", ConfigError)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise ConfigError(f"{path}: not a recording manifest (invalid JSON); {move_away}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a recording manifest (not a JSON object); {move_away}")
    if data.get("phrase") not in (None, phrase):
        raise ConfigError(f"{path.parent}: holds takes of {data.get('phrase')!r}, not {phrase!r}; record into another --out")
    for key in ("takes", "background"):
        data.setdefault(key, [])
        if not isinstance(data[key], list) or not all(isinstance(t, dict) for t in data[key]):
            raise ConfigError(f"{path}: not a recording manifest ({key!r} is not a list of entries); {move_away}")
    return data


def _save_manifest(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    tmp.replace(path)


def _say(text: str) -> None:
    print(text, flush=True)  # a prompt must show now, also when stdout is a pipe


def record(out: Path, phrase: str, n_takes: int, background_s: float, source, speaker: str = "", say=_say,
           meter=sys.stderr) -> dict:
    """Record into out (created if needed); returns the manifest. `source` is started and owned by the caller."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    manifest = _load_manifest(manifest_path, phrase)
    rec = Recorder(source, meter)
    index = next_index(out, "take")
    done = 0
    while done < n_takes:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            say(f"take {done + 1}/{n_takes}: get ready...")
            room = rec.room_level_db()
            say(f"  now say {phrase!r}")
            result = rec.take(room)
            if result.audio is not None:
                break
            say(f"  not kept: {result.reason}" + (" - once more" if attempt < MAX_ATTEMPTS else ""))
        else:
            raise ConfigError(f"take {done + 1}: {MAX_ATTEMPTS} attempts refused ({result.reason}); check the microphone "
                              "with `wakeword --list-devices` and try again")
        path = write_wav(out / f"take_{index:03d}.wav", result.audio, TAKE_RATE_HZ)
        peak = float(np.max(np.abs(result.audio)))
        manifest["takes"].append({"file": path.name, "speaker": speaker, "duration_s": round(len(result.audio) / TAKE_RATE_HZ, 3),
                                  "peak_dbfs": round(20 * np.log10(peak), 1),
                                  "recorded_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        _save_manifest(manifest_path, manifest)
        say(f"  kept {path.name} ({len(result.audio) / TAKE_RATE_HZ:.2f} s)")
        index += 1
        done += 1
    if background_s > 0:
        folder = out / "background"
        folder.mkdir(exist_ok=True)
        say(f"now {background_s:g} s of the room: talk about anything but {phrase!r}, let the room make its noises")
        x = rec.read_s(background_s)
        path = write_wav(folder / f"background_{next_index(folder, 'background'):03d}.wav", x, TAKE_RATE_HZ)
        manifest["background"].append({"file": f"background/{path.name}", "duration_s": round(len(x) / TAKE_RATE_HZ, 1)})
        _save_manifest(manifest_path, manifest)
        say(f"  kept {path.relative_to(out)}")
    if meter is not None:
        meter.write("\n")
    return manifest


def run(args, audio: AudioSettings) -> int:
    """`wakeword record` from the CLI's arguments."""
    from .microphone import MicrophoneSource

    if not args.phrase or not any(ch.isalpha() for ch in args.phrase):
        raise ConfigError(f"--phrase {args.phrase!r} has no letters to say")
    if args.takes < 1:
        raise ConfigError(f"--takes must be at least 1, got {args.takes}")
    if not (0 <= args.background_s <= 3600):
        raise ConfigError(f"--background-s must be between 0 and 3600, got {args.background_s}")
    source = MicrophoneSource(device=audio.device, sample_rate_hz=audio.sample_rate_hz, block_s=BLOCK_S,
                              channels=audio.channels, buffer_s=audio.buffer_s)
    source.start()
    try:
        started = time.monotonic()
        manifest = record(args.record, args.phrase, args.takes, args.background_s, source, args.speaker or "")
    finally:
        source.stop()
    print(f"{len(manifest['takes'])} take(s) in {args.record} ({time.monotonic() - started:.0f} s); train with:\n"
          f"  wakeword-train custom --phrase {json.dumps(args.phrase)} --positives {args.record} --out models/NAME.tflite"
          + (f" --background {Path(args.record) / 'background'}" if manifest["background"] else ""))
    return 0
