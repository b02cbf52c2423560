"""What happens on a detection: an LED, an output pin, a hook command, a JSON event line and an
MQTT event (mqtt.py, when actions.mqtt.host is set).

Everything runs on one worker thread fed by a bounded queue, never on the audio thread.
submit() is O(1) and never blocks, so a slow GPIO library, a hung hook or a blocked stdout can
only delay other actions, never detection. Failures are logged and counted in `stats`; after
start() nothing here raises into the caller.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import queue
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings
from typing import TextIO

from .errors import ActionError
from .settings import ActionSettings, HookSettings, KeywordActions, LedSettings, OutputSettings, pin_label
from .trigger import Detection

log = logging.getLogger(__name__)

# Detections waiting for the worker. The trigger's refractory period allows a few per second
# at most, so a full queue means the worker is stuck, and dropping is better than piling up.
QUEUE_SIZE = 16
# After SIGKILL, how long to wait for a hook's pipes to close and for it to be reaped.
HOOK_KILL_GRACE_S = 2.0
# How much of a failing hook's output goes into the log line.
HOOK_OUTPUT_LOG_CHARS = 400
# How much of a hook's output is kept while it runs: the tail, read in chunks and the rest
# dropped, so a chatty or runaway hook (`yes`, a log dump) costs no memory.
HOOK_OUTPUT_KEPT_BYTES = 4096
HOOK_READ_CHUNK_BYTES = 65536
# A hook must not inherit our systemd notify socket: it could then speak for the daemon.
HOOK_ENV_DROPPED = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
STAT_NAMES = ("fired", "hook_ok", "hook_failed", "hook_timeout", "hook_skipped_busy", "dropped")

_STOP = object()


def resolve_hook(hook: HookSettings, path_env: str | None = None, key: str = "actions.hook.command") -> str | None:
    """The executable actions.hook.command would run, as a path; None when there is no hook.

    A name without a slash is looked up on PATH (path_env, default $PATH), as the hook's start
    does; a path must be an executable regular file. Raises ActionError naming the key and
    the fix otherwise. The hook itself is not run.
    """
    if not hook.command:
        return None
    name = hook.command[0]
    if os.sep not in name:
        search = os.environ.get("PATH", os.defpath) if path_env is None else path_env
        found = shutil.which(name, path=search)
        if found is None:
            raise ActionError(f"{key}: {name!r} is not on PATH ({search}); give the program's full path")
        return found
    if not os.path.exists(name):
        raise ActionError(f"{key}: {name} does not exist")
    if os.path.isdir(name):
        raise ActionError(f"{key}: {name} is a directory, not a program")
    if not os.access(name, os.X_OK):
        raise ActionError(f"{key}: {name} is not executable (chmod +x {name})")
    return os.path.abspath(name)


def resolve_hooks(settings: ActionSettings) -> dict:
    """{config key: executable} for the default hook and each keyword's (resolve_hook on each)."""
    found = {}
    for prefix, acts in settings.sections():
        path = resolve_hook(acts.hook, key=f"{prefix}.hook.command")
        if path is not None:
            found[f"{prefix}.hook.command"] = path
    return found


def probe_pins(settings: ActionSettings, pin_factory=None, keywords=None) -> list[str]:
    """Claim and release every GPIO pin the daemon's start would claim (those of `keywords`
    and the default section; every section's when None).

    Returns what was claimed ("GPIO17 (LED)", ...); raises ActionError, naming the pin and the
    key that disables it, for the first pin that cannot be opened.
    """
    runner = ActionRunner(settings, pin_factory=pin_factory, keywords=keywords or ())
    try:
        runner._open_outputs()
    finally:
        runner._close_devices()
    roles = settings.pin_roles(keywords)
    return [f"{label} ({'LED' if role == 'led' else 'output'})" for label, (role, *_) in roles.items()]


class ActionRunner:
    """Runs the actions for each submitted Detection on a worker thread.

    pin_factory: a gpiozero pin factory (tests pass MockFactory()); None = gpiozero's default.
    stdout: where the JSON event lines go; None = sys.stdout at construction time.
    keywords: the models' keywords, for MQTT discovery (one Home Assistant entity each) and to
    open only the pins their actions use (every section's pins when empty).
    Use start(), then submit() from the detection thread, then close().
    """

    def __init__(self, settings: ActionSettings, pin_factory=None, stdout: TextIO | None = None,
                 keywords=()):
        self.settings = settings
        self._keywords = tuple(keywords)
        self._mqtt = None
        self._pin_factory = pin_factory
        self._stdout = sys.stdout if stdout is None else stdout
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        self._lock = threading.Lock()
        # Signalled whenever a detection is done or a hook ends: wait_idle() and close() wait on it.
        self._changed = threading.Condition(self._lock)
        self._counts = dict.fromkeys(STAT_NAMES, 0)
        self._pending = 0  # submitted detections the worker has not finished
        self._hooks: dict[subprocess.Popen, threading.Thread] = {}
        self._stop = threading.Event()
        self._closed = False
        self._worker: threading.Thread | None = None
        self._devices: dict = {}  # pin label -> the open gpiozero device
        self._dropped_logged = 0
        self._stdout_failed = False

    # -- public API --------------------------------------------------------------------------

    @property
    def stats(self) -> dict:
        """A snapshot of the counters: fired, hook_ok, hook_failed, hook_timeout,
        hook_skipped_busy, dropped."""
        with self._lock:
            return dict(self._counts)

    @property
    def mqtt_stats(self) -> dict | None:
        """The MQTT publisher's counters (mqtt.MqttPublisher.stats), or None without MQTT."""
        return None if self._mqtt is None else self._mqtt.stats

    def start(self) -> None:
        """Open the GPIO devices, start MQTT and the worker. Raises ActionError if a pin cannot be
        opened (no GPIO, pin busy, no permission), with the config key that disables it;
        ConfigError or DependencyError if MQTT is configured but cannot start."""
        if self._worker is not None:
            return
        if self.settings.mqtt.enabled:
            from .mqtt import MqttPublisher  # imports paho only when MQTT is configured

            self._mqtt = MqttPublisher(self.settings.mqtt, self._keywords)
            self._mqtt.start()
        try:
            self._open_outputs()
        except BaseException:
            self._close_mqtt(timeout_s=0.0)
            raise
        self._worker = threading.Thread(target=self._run, name="wakeword-actions", daemon=True)
        self._worker.start()

    def submit(self, detection: Detection) -> None:
        """Queue a detection for the actions and return at once. If the queue is full it is
        dropped and counted; the worker logs drops, so this never does I/O."""
        wall_time_s = time.time()  # the wall clock of the detection, not of the action
        with self._lock:
            if self._closed:
                self._counts["dropped"] += 1
                return
            try:
                self._queue.put_nowait((detection, wall_time_s))
            except queue.Full:
                self._counts["dropped"] += 1
                return
            self._pending += 1

    def wait_idle(self, timeout_s: float) -> bool:
        """Wait up to timeout_s seconds until every submitted detection is handled and every
        hook has ended. True if idle, False on timeout. LED/output timers are not waited for."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while self._pending or self._hooks:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    return False
                self._changed.wait(remaining_s)
            return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the worker, give running hooks the rest of timeout_s seconds, kill those left,
        turn the outputs off and close the devices. Detections still queued are discarded
        (call wait_idle() first to run them). Safe to call twice."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        try:
            self._queue.put_nowait(_STOP)
        except queue.Full:
            pass  # the worker has items to take, and checks _stop after each one
        if self._worker is not None:
            self._worker.join(max(0.0, deadline - time.monotonic()))
            if self._worker.is_alive():
                log.warning("the action worker did not stop within %.1f s; leaving it", timeout_s)
        self._discard_queued()
        self._end_hooks(deadline)
        self._close_devices()
        self._close_mqtt(max(0.0, deadline - time.monotonic()))

    def _close_mqtt(self, timeout_s: float) -> None:
        if self._mqtt is not None:
            try:
                self._mqtt.close(timeout_s)
            except Exception as exc:  # shutdown must go on
                log.warning("closing the MQTT connection failed: %s", exc)

    def __enter__(self) -> ActionRunner:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- GPIO --------------------------------------------------------------------------------

    def _open_outputs(self) -> None:
        """Open every pin the keywords' actions use (each once, however many keywords share
        it); ActionError (nothing left open) for the first that cannot be opened."""
        roles = self.settings.pin_roles(self._keywords or None)
        if not roles:
            return
        # imported here so that --dry-run and a config without pins do not pay for gpiozero
        import gpiozero

        try:
            for label, (role, active_high, key, pin) in roles.items():
                cls, what = (gpiozero.LED, "the LED pin") if role == "led" else (gpiozero.DigitalOutputDevice, "the output pin")
                self._devices[label] = self._open_device(
                    cls, pin, active_high, what, f"{key}: null (or --no-gpio) to run without it")
        except ActionError:
            self._close_devices()
            raise

    def _open_device(self, device_class, pin, active_high: bool, what: str, disable_hint: str):
        # gpiozero explains why each default pin factory failed only in warnings; keep them for
        # the error message. catch_warnings is process-wide, which is fine once at start-up.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return device_class(pin, active_high=active_high, initial_value=False,
                                    pin_factory=self._pin_factory)
            except Exception as exc:  # gpiozero, lgpio and OSError all mean "no usable pin"
                log.debug("opening %s %r failed", what, pin, exc_info=True)
                reasons = [str(exc) or type(exc).__name__]
                reasons += [str(w.message) for w in caught]
                raise ActionError(
                    f"{pin_label(pin)}: cannot open {what} ({'; '.join(reasons)}); "
                    f"set {disable_hint}"
                ) from exc
            finally:
                for w in caught:
                    log.debug("gpiozero: %s", w.message)

    def _fire_led(self, led: LedSettings) -> None:
        device = self._devices.get(pin_label(led.pin)) if led.pin is not None else None
        if device is None:
            return
        if led.mode == "on":
            # blink(n=1) rather than on(): gpiozero's own thread turns it off after on_s, so
            # the worker never waits, and a new detection restarts the timer.
            device.blink(on_time=led.on_s, off_time=0, n=1, background=True)
        else:
            device.blink(on_time=led.blink_on_s, off_time=led.blink_off_s, n=led.blink_count, background=True)

    def _fire_output(self, output: OutputSettings) -> None:
        device = self._devices.get(pin_label(output.pin)) if output.pin is not None else None
        if device is not None:
            device.blink(on_time=output.pulse_s, off_time=0, n=1, background=True)

    def _close_devices(self) -> None:
        for label, device in self._devices.items():
            try:
                device.off()
                device.close()
            except Exception as exc:
                log.warning("closing %s failed: %s", label, exc)
        self._devices = {}

    # -- worker ------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP or self._stop.is_set():
                return
            detection, wall_time_s = item
            try:
                self._handle(detection, wall_time_s)
            except Exception:
                log.exception("actions for %r failed; carrying on", detection.keyword)
            finally:
                with self._changed:
                    self._pending -= 1
                    self._changed.notify_all()
            self._log_drops()

    def _handle(self, detection: Detection, wall_time_s: float) -> None:
        wall_time = dt.datetime.fromtimestamp(wall_time_s, dt.timezone.utc).isoformat(timespec="milliseconds")
        with self._lock:
            self._counts["fired"] += 1
        acts = self.settings.for_keyword(detection.keyword)
        # GPIO first: it is what a person sees, and it cannot block. The event line last: a
        # full stdout pipe must not hold back the hook.
        for name, fire, part in (("LED", self._fire_led, acts.led), ("output", self._fire_output, acts.output)):
            try:
                fire(part)
            except Exception as exc:
                log.error("the %s pin failed: %s", name, exc)
        if acts.hook.command:
            self._start_hook(detection, wall_time, acts)
        line = json.dumps({"event": "detection", **detection.to_dict(), "wall_time": wall_time})
        if self._mqtt is not None:
            # before stdout, which can block; publish_detection never does
            try:
                self._mqtt.publish_detection(detection.keyword, line)
            except Exception as exc:
                log.error("the MQTT event failed: %s", exc)
        self._write_event(detection, line)

    def _write_event(self, detection: Detection, line: str) -> None:
        if not self.settings.log_json:
            log.info("detected %r at %.2f s in the stream (score %.2f)",
                     detection.keyword, detection.time_s, detection.score)
            return
        try:
            self._stdout.write(line + "\n")
            self._stdout.flush()
        except (OSError, ValueError) as exc:  # ValueError: stdout was closed
            if not self._stdout_failed:
                log.warning("cannot write detection events to stdout (%s); further failures are not logged", exc)
                self._stdout_failed = True

    def _log_drops(self) -> None:
        with self._lock:
            dropped = self._counts["dropped"]
        if dropped > self._dropped_logged:
            log.warning("%d detection(s) dropped: the action queue (%d) was full; %d dropped in all",
                        dropped - self._dropped_logged, QUEUE_SIZE, dropped)
            self._dropped_logged = dropped

    def _discard_queued(self) -> None:
        discarded = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                discarded += 1
        if discarded:
            log.info("discarded %d queued detection(s) at shutdown", discarded)
        with self._changed:
            self._pending = max(0, self._pending - discarded)
            self._changed.notify_all()

    # -- hooks -------------------------------------------------------------------------------

    def _start_hook(self, detection: Detection, wall_time: str, acts: KeywordActions) -> None:
        hook = acts.hook
        name = hook.command[0]
        with self._lock:
            busy = len(self._hooks) >= hook.max_concurrent
            if busy:
                self._counts["hook_skipped_busy"] += 1
        if busy:
            log.warning("hook %s skipped: %d already running (max_concurrent)", name, hook.max_concurrent)
            return
        payload = {**detection.to_dict(), "wall_time": wall_time}
        env = {k: v for k, v in os.environ.items() if k not in HOOK_ENV_DROPPED}
        env.update(
            WAKEWORD_KEYWORD=detection.keyword,
            WAKEWORD_SCORE=str(payload["score"]),
            WAKEWORD_TIME=str(payload["time_s"]),
            WAKEWORD_WALLTIME=wall_time,
        )
        try:
            # A new session makes the hook a process-group leader, so a timeout kills its
            # children too; otherwise a grandchild could hold the pipes open and the reaper hang.
            proc = subprocess.Popen(
                list(hook.command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )
        except (OSError, ValueError) as exc:
            with self._lock:
                self._counts["hook_failed"] += 1
            log.error("hook %s could not start: %s", name, exc)
            return
        stdin_bytes = (json.dumps(payload) + "\n").encode()
        reaper = threading.Thread(target=self._reap_hook, args=(proc, stdin_bytes, hook.timeout_s),
                                  name=f"wakeword-hook-{proc.pid}", daemon=True)
        with self._lock:
            self._hooks[proc] = reaper
        try:
            reaper.start()
        except RuntimeError as exc:  # cannot start a thread: out of memory or thread limit
            _kill_group(proc)
            with self._changed:
                self._hooks.pop(proc, None)
                self._counts["hook_failed"] += 1
                self._changed.notify_all()
            log.error("hook %s killed: cannot start a thread to wait for it (%s)", name, exc)

    def _reap_hook(self, proc: subprocess.Popen, stdin_bytes: bytes, timeout_s: float) -> None:
        """Feed the hook its JSON, wait up to timeout_s, kill it on timeout, count the outcome."""
        name = proc.args[0]
        outcome = "hook_failed"
        try:
            try:
                output = _talk_bounded(proc, stdin_bytes, timeout_s)
            except subprocess.TimeoutExpired:
                outcome = "hook_timeout"
                _kill_group(proc)
                try:
                    _talk_bounded(proc, b"", HOOK_KILL_GRACE_S)
                except subprocess.TimeoutExpired:
                    # Something outside the group still holds the pipe; the child itself is dead.
                    proc.wait(HOOK_KILL_GRACE_S)
                log.warning("hook %s (pid %d) timed out after %.1f s and was killed",
                            name, proc.pid, timeout_s)
                return
            text = output.decode(errors="replace").strip()
            if proc.returncode == 0:
                outcome = "hook_ok"
                log.debug("hook %s finished: %s", name, text[-HOOK_OUTPUT_LOG_CHARS:])
            else:
                status = (f"was killed by signal {-proc.returncode}" if proc.returncode < 0
                          else f"exited with status {proc.returncode}")
                log.warning("hook %s %s: %s", name, status, text[-HOOK_OUTPUT_LOG_CHARS:] or "(no output)")
        except Exception:
            log.exception("waiting for hook %s failed", name)
        finally:
            with self._changed:
                self._counts[outcome] += 1
                self._hooks.pop(proc, None)
                self._changed.notify_all()

    def _end_hooks(self, deadline: float) -> None:
        # A hook is usually the point of a detection (stop the music), so it may finish within
        # the close timeout; only then is it killed.
        with self._changed:
            while self._hooks and deadline - time.monotonic() > 0:
                self._changed.wait(deadline - time.monotonic())
            left = dict(self._hooks)
        for proc, reaper in left.items():
            log.warning("killing hook %s (pid %d) at shutdown", proc.args[0], proc.pid)
            _kill_group(proc)
        for reaper in left.values():
            reaper.join(HOOK_KILL_GRACE_S)


def _talk_bounded(proc: subprocess.Popen, stdin_bytes: bytes, timeout_s: float) -> bytes:
    """Give the hook its stdin, read its output to EOF and wait for it, within timeout_s.

    Like Popen.communicate, but only the last HOOK_OUTPUT_KEPT_BYTES of the output are kept.
    Raises subprocess.TimeoutExpired when the deadline passes first.
    """
    deadline = time.monotonic() + timeout_s
    if proc.stdin is not None and not proc.stdin.closed:
        try:  # a few hundred bytes: fits the pipe buffer, so this does not block
            proc.stdin.write(stdin_bytes)
            proc.stdin.close()
        except (BrokenPipeError, OSError):  # the hook exited, or closed stdin, without reading it
            pass
    tail = bytearray()
    if proc.stdout is not None and not proc.stdout.closed:
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise subprocess.TimeoutExpired(proc.args, timeout_s)
                if not sel.select(left):
                    continue
                chunk = os.read(fd, HOOK_READ_CHUNK_BYTES)
                if not chunk:
                    break
                tail += chunk
                del tail[:-HOOK_OUTPUT_KEPT_BYTES]
        proc.stdout.close()
    proc.wait(max(0.0, deadline - time.monotonic()))
    return bytes(tail)


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the hook's process group (it leads one: start_new_session)."""
    if proc.returncode is not None:
        return  # reaped: its pid may belong to someone else by now
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass  # already gone
    except OSError:
        proc.kill()
