"""The live daemon: microphone -> pipeline -> actions, with readiness, watchdog and reconnects.

Threads: PortAudio's callback only copies into the ring buffer (audio.py); our one capture
thread drains it, runs the pipeline and hands detections to the action worker (actions.py);
the main thread waits for SIGTERM/SIGINT and joins the capture thread with a bound.

A device that stops delivering audio (unplugged USB mic, PulseAudio restarted) is reported
once, retried every `reconnect_interval_s`, and reported again when it is back. The systemd
watchdog is fed from the capture loop, so a hung loop gets the service restarted.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from typing import Callable, Protocol

import numpy as np

from .actions import ActionRunner
from .config import Config
from .detector import ModelSetup, Pipeline
from .errors import AudioDeviceError
from .microphone import MicrophoneSource, rescan_devices
from .notify import SystemdNotifier
from .settings import AudioSettings
from .trigger import Detection

log = logging.getLogger(__name__)

#: How long the main thread waits for the capture thread to finish after a stop request.
JOIN_TIMEOUT_S = 5.0
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
    ):
        self.config = config
        self.setups = list(setups)
        self.model = self.setups[0].model
        self.actions = actions
        self.notifier = notifier or SystemdNotifier()
        self.source_factory = source_factory or microphone_factory(config.audio)
        self.on_detection = on_detection
        self.stats = DaemonStats()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: BaseException | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def block_ms(self) -> int:
        return capture_block_ms(self.config, self.model)

    def start(self) -> None:
        """Open the device (raising AudioDeviceError if it does not exist) and start capturing."""
        source = self.source_factory(self.block_ms / 1000.0, False)
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

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float = JOIN_TIMEOUT_S) -> bool:
        """Wait for the capture thread; True if it finished within timeout_s."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def wait(self) -> None:
        """Block until stop() (for example from a signal handler); then shut down in order."""
        while not self._stop.wait(0.5):
            if self._thread is not None and not self._thread.is_alive():
                break
        self.notifier.stopping()
        if not self.join():
            log.warning("capture thread did not stop within %.0f s", JOIN_TIMEOUT_S)

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
                source.stop()
                source = None
                if lost and not self._stop.is_set():
                    self.stats.device_losses += 1
                    log.warning(
                        "audio device lost (%s); retrying every %.1f s",
                        lost,
                        self.config.audio.reconnect_interval_s,
                    )
                    self.notifier.status(f"audio device lost: {lost}; reconnecting")
        except BaseException as exc:  # a bug here must not die silently in a thread
            self.error = exc
            log.exception("capture thread failed")
            self._stop.set()
        finally:
            if source is not None:
                source.stop()

    def _capture(self, source: Source) -> str | None:
        """Run the pipeline on one open source; return why the device was lost, or None on stop."""
        pipeline = Pipeline(self.setups, source.sample_rate_hz)
        stall_s = self.config.audio.stall_timeout_s + FIRST_BLOCK_GRACE_S
        waited_s = 0.0
        poll_s = min(0.5, self.config.audio.stall_timeout_s)
        last_overflows = 0
        windows_before = self.stats.windows
        while not self._stop.is_set():
            self.notifier.watchdog()
            block = source.read(timeout_s=poll_s)
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
            for det in pipeline.feed(block):
                self._fire(det)
            self.stats.windows = windows_before + pipeline.windows_scored
            if source.overflows != last_overflows:
                # logged here, never from the PortAudio callback
                log.warning("input overflow: %d so far (the capture thread fell behind)", source.overflows)
                last_overflows = source.overflows
        return None

    def _fire(self, det: Detection) -> None:
        self.stats.detections += 1
        # with log_json the action worker already writes the event line to the journal
        level = logging.DEBUG if self.config.actions.log_json else logging.INFO
        log.log(level, "detected %r (score %.3f)", det.keyword, det.score)
        self.actions.submit(det)
        if self.on_detection is not None:
            self.on_detection(det)

    def _account(self, source: Source) -> None:
        self.stats.overflows += source.overflows
        self.stats.dropped_frames += source.dropped_frames

    def _reconnect(self) -> Source | None:
        interval_s = self.config.audio.reconnect_interval_s
        while not self._stop.wait(interval_s):
            self.notifier.watchdog()  # the process is healthy while it waits for the device
            try:
                source = self.source_factory(self.block_ms / 1000.0, True)
            except AudioDeviceError as exc:
                log.debug("reconnect failed: %s", exc)
                continue
            self.stats.reconnects += 1
            log.warning("audio device back: listening on %r at %d Hz", source.device_name, source.sample_rate_hz)
            self.notifier.status(f"listening on {source.device_name}")
            return source
        return None
