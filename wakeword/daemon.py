"""The live daemon: microphone -> pipeline -> actions, with readiness, watchdog and reconnects.

Threads: PortAudio's callback only copies into the ring buffer (microphone.py); our one
capture thread drains it, runs the pipeline and hands detections to the action worker
(actions.py); the main thread sleeps until a signal or the capture thread's end wakes it, then
joins the capture thread with a bound.

A device that stops delivering audio (unplugged USB mic, PulseAudio restarted) is reported
once, retried every `reconnect_interval_s`, and reported again when it is back.

The systemd watchdog is fed only by the capture thread, each time one of its calls into the
audio source returns. A call that never returns (PortAudio waiting on a frozen sound server,
in a read, an open or a stop) therefore stops the pings, and systemd restarts the service.
Shutdown never waits for such a call for longer than JOIN_TIMEOUT_S: wait() reports where the
thread is stuck, and the CLI exits without PortAudio's teardown, which would block as well.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from dataclasses import dataclass, field

from typing import Callable, Protocol

import numpy as np

from .actions import ActionRunner
from .capture import CaptureTap
from .config import Config
from .detector import ModelSetup, Pipeline, band_warning, format_scores, to_float_mono
from .errors import AudioDeviceError
from .microphone import MicrophoneSource, rescan_devices
from .notify import SystemdNotifier
from .settings import AudioSettings
from .trigger import Detection

log = logging.getLogger(__name__)

#: How long the main thread waits for the capture thread to finish after a stop request. The
#: CLI's whole shutdown (this, the actions' close and PortAudio's release) stays under 10 s,
#: inside the unit's TimeoutStopSec.
JOIN_TIMEOUT_S = 4.0
#: A capture thread that has not come back from a call for this long is reported as stuck.
STUCK_AFTER_S = 10.0
#: How often the sleeping main thread checks for that (its only timed wake-up).
STUCK_CHECK_S = 5.0
#: Bytes read at a time when draining the wake pipe (each wake-up writes one).
WAKE_PIPE_READ_BYTES = 4096
#: The longest a read waits for a block; the stop event and the stall clock are checked this often
#: while no audio arrives (while it flows, each block wakes the reader).
READ_POLL_S = 0.5
#: Extra time a freshly opened device gets to deliver its first block: PulseAudio's ALSA
#: plugin takes about 2 s, some USB microphones longer.
FIRST_BLOCK_GRACE_S = 5.0


def capture_block_ms(config: Config, model) -> int:
    """audio.block_ms, or the (first) model's front end's default when it is null."""
    block = config.audio.block_ms
    return block if block is not None else model.spec.frontend.default_block_ms


class Source(Protocol):
    """What the daemon reads: a started audio source (MicrophoneSource, or a test's fake).

    read(timeout_s) -> float32 (n, channels) block or None after timeout_s without one (at once
    once the stream has ended); active: False once it has ended; stop() releases it (safe to
    call twice). overflows and dropped_frames count lost audio.
    """

    sample_rate_hz: int
    device_name: str
    overflows: int
    dropped_frames: int

    @property
    def active(self) -> bool: ...

    def read(self, timeout_s: float) -> np.ndarray | None: ...

    def stop(self) -> None: ...


#: source_factory(block_s, reopening) -> a started Source; AudioDeviceError if the device is absent.
SourceFactory = Callable[[float, bool], Source]


def microphone_factory(audio: AudioSettings) -> SourceFactory:
    """Open audio.device through sounddevice; on a reconnect, make PortAudio list devices afresh
    first (it lists them once, at start), so a re-plugged USB microphone is found."""

    def open_source(block_s: float, reopening: bool) -> MicrophoneSource:
        if reopening:
            rescan_devices()  # our stream is closed, so this is safe
        source = MicrophoneSource(
            device=audio.device,
            sample_rate_hz=audio.sample_rate_hz,
            block_s=block_s,
            channels=audio.channels,
            buffer_s=audio.buffer_s,
        )
        source.start()
        return source

    return open_source


def probe_source(config: Config, setups: list[ModelSetup], source_factory: SourceFactory | None = None) -> str:
    """Open the input as the daemon's start does (the same factory, device, rate and block),
    wait for one block, and close it again: what `--check-config` does to the device.

    Returns a one-line description. Raises AudioDeviceError if the device cannot be opened or
    delivers no block within the time the daemon's first block gets.
    """
    block_ms = capture_block_ms(config, setups[0].model)
    factory = source_factory or microphone_factory(config.audio)
    source = factory(block_ms / 1000.0, False)
    timeout_s = config.audio.stall_timeout_s + FIRST_BLOCK_GRACE_S
    started_s = time.monotonic()
    try:
        block = None
        while block is None and source.active:
            remaining_s = started_s + timeout_s - time.monotonic()
            if remaining_s <= 0:
                break
            block = source.read(timeout_s=remaining_s)
        if block is None:
            raise AudioDeviceError(
                f"audio device {source.device_name!r} opened at {source.sample_rate_hz} Hz but delivered no audio "
                f"within {timeout_s:.0f} s; check the microphone (arecord -l) and the sound server"
            )
        first_ms = (time.monotonic() - started_s) * 1000
    finally:
        source.stop()
    message = band_warning(source.sample_rate_hz, setups)
    if message:
        log.warning("%s: %s", source.device_name, message)
    return (f"opened audio device {source.device_name!r} at {source.sample_rate_hz} Hz in {block_ms} ms blocks; "
            f"first block after {first_ms:.0f} ms")


@dataclass
class DaemonStats:
    """Counters reported in the log and to systemd's STATUS line."""

    detections: int = 0
    windows: int = 0
    device_losses: int = 0
    reconnects: int = 0
    overflows: int = 0
    dropped_frames: int = 0
    ready: threading.Event = field(default_factory=threading.Event)


class Daemon:
    """Run detection on a live input until stop() is called.

    setups: the models with their thresholds and trigger settings (one Pipeline runs them all).
    source_factory opens the input (default: the configured microphone); tests pass fakes.
    on_detection, if given, is called on the capture thread with each Detection after it was
    handed to the actions (used by tests and by nothing else).
    """

    def __init__(
        self,
        config: Config,
        setups: list[ModelSetup],
        actions: ActionRunner,
        notifier: SystemdNotifier | None = None,
        source_factory: SourceFactory | None = None,
        on_detection=None,
        capture=None,
    ):
        self.config = config
        self.capture = capture  # a started capture.CaptureWriter, or None
        self.setups = list(setups)
        self.model = self.setups[0].model
        self.actions = actions
        self.notifier = notifier or SystemdNotifier()
        self.source_factory = source_factory or microphone_factory(config.audio)
        self.on_detection = on_detection
        self.stats = DaemonStats()
        self._stop = threading.Event()
        self._stop_requested = False  # set by request_stop(), which may run in a signal handler
        # a self-pipe: the main thread sleeps in select() on it; a signal or the capture
        # thread's end writes a byte to wake it, without taking any lock
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread: threading.Thread | None = None
        self._stage = "starting"  # what the capture thread is doing, for the stuck report
        self._progress_s = time.monotonic()  # when it last came back from a call
        self._warned_rates: set[int] = set()
        self.error: BaseException | None = None
        #: None, or what the capture thread was doing when it failed to stop within the bound
        self.stuck_in: str | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def block_ms(self) -> int:
        return capture_block_ms(self.config, self.model)

    def start(self) -> None:
        """Open the device (raising AudioDeviceError if it does not exist) and start capturing."""
        source = self.source_factory(self.block_ms / 1000.0, False)
        self._warn_band(source)
        log.info(
            "listening on %r at %d Hz in %d ms blocks; %s",
            source.device_name,
            source.sample_rate_hz,
            self.block_ms,
            "; ".join(f"model {s.model.path.name} at {s.model.spec.sample_rate_hz} Hz, hop {s.trigger.hop_s * 1000:.0f} ms"
                      for s in self.setups),
        )
        self._thread = threading.Thread(target=self._run, args=(source,), name="wakeword-capture", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        """Ask wait() to shut down. Safe in a signal handler: it takes no lock."""
        self._stop_requested = True
        self._wake()

    def stop(self) -> None:
        """Tell the capture thread to stop (and wait() to return)."""
        self._stop.set()
        self.request_stop()

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # the pipe is full (so the main thread will wake) or already closed

    def join(self, timeout_s: float = JOIN_TIMEOUT_S) -> bool:
        """Wait for the capture thread; True if it finished within timeout_s."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def wait(self, join_timeout_s: float = JOIN_TIMEOUT_S, on_stop=None) -> bool:
        """Sleep until request_stop()/stop() or the capture thread's end; then say STOPPING=1 and
        give the capture thread join_timeout_s seconds to finish. on_stop(), if given, is called
        first when a stop was requested (the CLI logs the signal there, outside its handler).

        Returns True if it finished. If not, it is stuck in a call that does not return (a
        frozen sound server); stuck_in says in what, it has been logged, and the caller should
        exit without waiting for it (and without PortAudio's teardown).
        """
        stuck_reported = False
        while not self._stop_requested and (self._thread is None or self._thread.is_alive()):
            readable, _, _ = select.select([self._wake_r], [], [], STUCK_CHECK_S)
            if readable:
                self._drain_wake_pipe()
            stuck_reported = self._report_stuck(stuck_reported)
        if self._stop_requested and on_stop is not None:
            on_stop()
        self._stop.set()
        self.notifier.stopping()
        ended = self.join(join_timeout_s)
        if not ended:
            self.stuck_in = self._stage
            log.error("the capture thread did not stop within %.0f s: it is stuck %s (is the sound server "
                      "answering?); exiting without it", join_timeout_s, self._stage)
        return ended

    def __del__(self):
        for fd in (getattr(self, "_wake_r", None), getattr(self, "_wake_w", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _drain_wake_pipe(self) -> None:
        try:
            while os.read(self._wake_r, WAKE_PIPE_READ_BYTES):
                pass
        except BlockingIOError:
            pass

    def _report_stuck(self, reported: bool) -> bool:
        """Log once when the capture thread has not come back from a call for STUCK_AFTER_S
        past the time that call may take, and once when it does; returns whether it is
        currently reported stuck."""
        stuck_s = time.monotonic() - self._progress_s
        if not reported and stuck_s >= STUCK_AFTER_S:
            log.error("the capture thread has been stuck %s for %.0f s (is the sound server answering?); "
                      "the systemd watchdog is no longer fed", self._stage, stuck_s)
            self.notifier.status(f"stuck {self._stage}")
            return True
        if reported and stuck_s < STUCK_AFTER_S:
            log.warning("the capture thread is running again")
            return False
        return reported

    def _progress(self, stage: str, expected_s: float = 0.0) -> None:
        """Mark that the capture thread came back from a call and is about to do `stage`, which
        may take expected_s seconds (a read's timeout, the wait between reconnects)."""
        self._stage = stage
        self._progress_s = time.monotonic() + expected_s

    def _warn_band(self, source: Source) -> None:
        rate = source.sample_rate_hz
        if rate in self._warned_rates:
            return
        self._warned_rates.add(rate)
        message = band_warning(rate, self.setups)
        if message:
            log.warning("%s: %s", source.device_name, message)

    # ------------------------------------------------------------------ capture thread

    def _run(self, source: Source) -> None:
        try:
            while not self._stop.is_set():
                if source is None:
                    source = self._reconnect()
                    if source is None:
                        break
                lost = self._capture(source)
                self._account(source)
                if lost and not self._stop.is_set():
                    # reported before stopping the stream: with a frozen sound server the stop
                    # itself may never return, and the loss must be in the journal by then
                    self.stats.device_losses += 1
                    log.warning(
                        "audio device lost (%s); retrying every %.1f s",
                        lost,
                        self.config.audio.reconnect_interval_s,
                    )
                    self.notifier.status(f"audio device lost: {lost}; reconnecting")
                self._stop_source(source)
                source = None
        except BaseException as exc:  # a bug here must not die silently in a thread
            self.error = exc
            log.exception("capture thread failed")
            self._stop.set()
        finally:
            if source is not None:
                self._stop_source(source)
            self._wake()  # the main thread returns from wait()

    def _stop_source(self, source: Source) -> None:
        self._progress(f"stopping audio device {source.device_name!r}")
        source.stop()
        self._progress("between audio devices")

    def _capture(self, source: Source) -> str | None:
        """Run the pipeline on one open source; return why the device was lost, or None on stop."""
        pipeline = Pipeline(self.setups, source.sample_rate_hz)
        if log.isEnabledFor(logging.DEBUG):  # --debug: every window's score, as in a dry run
            pipeline.on_scores = self._log_scores
        tap = CaptureTap(self.capture, source.sample_rate_hz) if self.capture is not None else None
        try:
            return self._capture_blocks(source, pipeline, tap)
        finally:
            if tap is not None:
                tap.flush()

    def _capture_blocks(self, source: Source, pipeline: Pipeline, tap) -> str | None:
        stall_s = self.config.audio.stall_timeout_s + FIRST_BLOCK_GRACE_S
        waited_s = 0.0
        poll_s = min(READ_POLL_S, self.config.audio.stall_timeout_s)
        last_overflows = 0
        windows_before = self.stats.windows
        reading = f"reading audio from {source.device_name!r}"
        while not self._stop.is_set():
            # fed only here, after a read came back: a read that never returns stops the pings
            self.notifier.watchdog()
            self._progress(reading, poll_s)
            block = source.read(timeout_s=poll_s)
            self._progress("running the detector")
            if block is None:
                waited_s += poll_s
                if not source.active:
                    return "the input stream stopped"
                if waited_s >= stall_s:
                    return f"no audio for {waited_s:.1f} s"
                continue
            waited_s = 0.0
            stall_s = self.config.audio.stall_timeout_s
            if not self.stats.ready.is_set():
                self.stats.ready.set()
                self.notifier.ready()
                self.notifier.status(f"listening on {source.device_name}")
            if tap is not None:
                block = to_float_mono(block)
                tap.feed(block)
            for det in pipeline.feed(block):
                self._fire(det)
                if tap is not None:
                    tap.detection(det)
            self.stats.windows = windows_before + pipeline.windows_scored
            if source.overflows != last_overflows:
                # logged here, never from the PortAudio callback
                log.warning("input overflow: %d so far (the capture thread fell behind)", source.overflows)
                last_overflows = source.overflows
        return None

    @staticmethod
    def _log_scores(ends, scores, setup) -> None:
        for line in format_scores(ends, scores, setup):
            log.debug("%s", line)

    def _fire(self, det: Detection) -> None:
        self.stats.detections += 1
        # with log_json the action worker already writes the event line to the journal
        level = logging.DEBUG if self.config.actions.log_json else logging.INFO
        log.log(level, "detected %r (score %.3f%s)", det.keyword, det.score, f", {det.model}" if det.model else "")
        self.actions.submit(det)
        if self.on_detection is not None:
            self.on_detection(det)

    def _account(self, source: Source) -> None:
        self.stats.overflows += source.overflows
        self.stats.dropped_frames += source.dropped_frames

    def _reconnect(self) -> Source | None:
        """Reopen the device every reconnect_interval_s until it opens (or stop is asked)."""
        interval_s = self.config.audio.reconnect_interval_s
        while self._wait_between_attempts(interval_s):
            self._progress("opening the audio device")
            try:
                source = self.source_factory(self.block_ms / 1000.0, True)
            except AudioDeviceError as exc:
                log.debug("reconnect failed: %s", exc)
                continue
            self._warn_band(source)
            self.stats.reconnects += 1
            log.warning("audio device back: listening on %r at %d Hz", source.device_name, source.sample_rate_hz)
            self.notifier.status(f"listening on {source.device_name}")
            return source
        return None

    def _wait_between_attempts(self, seconds: float) -> bool:
        """Sleep `seconds` (False at once if stop is asked), feeding the watchdog meanwhile: the
        process is healthy while it waits for the device, and a restart would not bring the
        device back sooner. An open that never returns stops the pings like a stuck read."""
        deadline_s = time.monotonic() + seconds
        step_s = self.notifier.watchdog_interval_s or seconds
        while True:
            self.notifier.watchdog()
            remaining_s = deadline_s - time.monotonic()
            if remaining_s <= 0:
                return True
            wait_s = min(step_s, remaining_s)
            self._progress("waiting to reopen the audio device", wait_s)
            if self._stop.wait(wait_s):
                return False
