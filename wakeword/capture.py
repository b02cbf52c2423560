"""Saving the audio around each detection (capture.dir), to review and to retrain from.

With capture.dir set, the daemon keeps the last few seconds of its input. For each detection
it saves capture.before_s seconds before the detection's end and capture.after_s after it,
as capture-<UTC time>-<keyword>.wav (16 kHz, 16-bit mono), and appends one JSON line to
captures.jsonl in the same folder.

The capture thread only copies each block into a preallocated ring and, after_s later, a
slice of it into a bounded queue (CaptureTap). Resampling, writing and keeping the folder
under capture.max_mb happen on CaptureWriter's own thread; a full queue drops the capture and
counts it, so a slow SD card never holds up detection. To stay under the cap the writer
deletes its own oldest captures in the folder itself; files in subfolders (false/, where the
user moves the false activations for `wakeword-train ... --false-accepts`) are never touched.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import threading
from pathlib import Path

import numpy as np

from .errors import ConfigError
from .resample import resample_signal
from .settings import CaptureSettings
from .trigger import Detection
from .wavfile import write_wav

log = logging.getLogger(__name__)

CAPTURE_RATE_HZ = 16000
INDEX_NAME = "captures.jsonl"
PREFIX = "capture-"
#: Captures waiting for the writer; detections come at most a few per second.
QUEUE_SIZE = 8
#: The ring holds this much more than before_s + after_s, for detections reported late.
RING_SLACK_S = 1.0
MB = 1_000_000

_STOP = object()


def check_folder(folder: Path) -> Path:
    """Create capture.dir if needed and check that files can be written there; ConfigError
    naming the folder and the reason otherwise."""
    key = "capture.dir"
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{key} {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{key} {folder}: cannot write there ({exc.strerror or exc}); "
                          "give a folder the daemon's user may write, e.g. /var/lib/wakeword/captures") from None
    return folder


def own_captures(folder: Path) -> list[Path]:
    """The writer's captures in the folder itself (not in subfolders), oldest first."""
    return sorted(p for p in folder.glob(f"{PREFIX}*.wav") if p.is_file())


class CaptureWriter:
    """Writes captures on its own thread. start() checks the folder (ConfigError if it cannot
    be written); submit() never blocks; close() writes what is queued, within a bound."""

    def __init__(self, settings: CaptureSettings):
        self.settings = settings
        self.folder = Path(settings.dir)
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.stats = {"written": 0, "dropped": 0, "failed": 0, "deleted": 0}
        self._bytes = 0

    def start(self) -> None:
        check_folder(self.folder)
        self._bytes = sum(p.stat().st_size for p in own_captures(self.folder))
        self._thread = threading.Thread(target=self._run, name="wakeword-capture-writer", daemon=True)
        self._thread.start()
        log.info("saving the audio around each detection in %s (at most %g MB)", self.folder, self.settings.max_mb)

    def submit(self, audio: np.ndarray, rate_hz: int, detection: Detection, wall_time_s: float, offset_s: float) -> None:
        """Queue one capture: float32 mono audio at rate_hz whose detection end is offset_s into it."""
        try:
            self._queue.put_nowait((audio, rate_hz, detection, wall_time_s, offset_s))
        except queue.Full:
            with self._lock:
                self.stats["dropped"] += 1

    def close(self, timeout_s: float = 5.0) -> None:
        if self._thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.warning("the capture writer did not finish within %.1f s; leaving it", timeout_s)
        self._thread = None
        if self.stats["dropped"]:
            log.warning("%d capture(s) dropped: the writer fell behind", self.stats["dropped"])

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            try:
                self._write(*item)
            except Exception as exc:  # a full card must not end the thread: log, count, go on
                with self._lock:
                    self.stats["failed"] += 1
                log.error("saving a capture in %s failed: %s", self.folder, exc)

    def _write(self, audio: np.ndarray, rate_hz: int, det: Detection, wall_time_s: float, offset_s: float) -> None:
        wall = dt.datetime.fromtimestamp(wall_time_s, dt.timezone.utc)
        x = resample_signal(audio, rate_hz, CAPTURE_RATE_HZ) if rate_hz != CAPTURE_RATE_HZ else audio
        safe_kw = "".join(c if c.isalnum() or c in "-_" else "_" for c in det.keyword)
        name = f"{PREFIX}{wall.strftime('%Y%m%dT%H%M%S.%f')[:-3]}Z-{safe_kw}.wav"
        path = write_wav(self.folder / name, x, CAPTURE_RATE_HZ)
        size = path.stat().st_size
        line = {"file": name, **det.to_dict(), "wall_time": wall.isoformat(timespec="milliseconds"),
                "detection_at_s": round(offset_s, 3), "duration_s": round(len(x) / CAPTURE_RATE_HZ, 3)}
        with open(self.folder / INDEX_NAME, "a", encoding="utf-8") as index:
            index.write(json.dumps(line) + "\n")
        with self._lock:
            self.stats["written"] += 1
        self._bytes += size
        self._keep_under_cap(keep=path)

    def _keep_under_cap(self, keep: Path) -> None:
        cap = self.settings.max_mb * MB
        if self._bytes <= cap:
            return
        files = own_captures(self.folder)
        self._bytes = sum(p.stat().st_size for p in files)  # the user may have moved some away
        for old in files:
            if self._bytes <= cap:
                break
            if old == keep:
                continue
            size = old.stat().st_size
            old.unlink(missing_ok=True)
            self._bytes -= size
            with self._lock:
                self.stats["deleted"] += 1


class CaptureTap:
    """On the capture thread, beside one Pipeline: the last seconds of the source's audio at its
    own rate, and the detections waiting for their after_s of audio."""

    def __init__(self, writer: CaptureWriter, source_rate_hz: int, clock_s=None):
        import time

        s = writer.settings
        self.writer = writer
        self.rate = int(source_rate_hz)
        self.before = int(round(s.before_s * self.rate))
        self.after = int(round(s.after_s * self.rate))
        self._ring = np.zeros(self.before + self.after + int(RING_SLACK_S * self.rate), np.float32)
        self.total = 0  # samples fed since this tap (and its Pipeline) started
        self._pending: list[tuple[int, Detection, float]] = []
        self._clock_s = clock_s or time.time

    def feed(self, mono: np.ndarray) -> None:
        """Store a float32 mono block (the one the Pipeline gets), then hand over the captures it completes."""
        n = len(mono)
        size = len(self._ring)
        if n >= size:
            self._ring[:] = mono[-size:]
            self._ring = np.roll(self._ring, self.total + n)  # keep index = absolute sample % size
        else:
            i = self.total % size
            first = min(n, size - i)
            self._ring[i:i + first] = mono[:first]
            self._ring[:n - first] = mono[first:]
        self.total += n
        if self._pending:
            self._hand_over(lambda end: self.total >= end + self.after)

    def detection(self, det: Detection) -> None:
        end = int(round(det.t_samples * self.rate / det.sample_rate_hz))
        self._pending.append((min(end, self.total), det, self._clock_s()))
        self._hand_over(lambda end: self.total >= end + self.after)

    def flush(self) -> None:
        """At the end of the stream: the waiting captures, with the audio there is."""
        self._hand_over(lambda end: True)

    def _hand_over(self, ready) -> None:
        waiting = []
        for end, det, wall in self._pending:
            if not ready(end):
                waiting.append((end, det, wall))
                continue
            oldest = max(0, self.total - len(self._ring))
            a, b = max(oldest, end - self.before), min(self.total, end + self.after)
            idx = np.arange(a, b) % len(self._ring)
            self.writer.submit(self._ring[idx].copy(), self.rate, det, wall, (end - a) / self.rate)
        self._pending = waiting
