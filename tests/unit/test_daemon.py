"""wakeword.daemon under faults: stalls, reconnects, the watchdog, and a shutdown that always ends.

In-process tests drive the Daemon through its source_factory with fake sources whose reads and
stops can be made to block, and a real SystemdNotifier speaking to a real AF_UNIX socket. The
process tests run `python -m wakeword` against tests/fake_sounddevice, a stand-in for the
sounddevice module whose stream.abort() or Pa_Terminate can be made never to return.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace

import numpy as np
import pytest

from tests.conftest import ROOT, notify_messages
from wakeword.config import Config
from wakeword.daemon import Daemon, probe_source
from wakeword.detector import ModelSetup
from wakeword.errors import AudioDeviceError
from wakeword.notify import SystemdNotifier
from wakeword.settings import ActionSettings, LedSettings

#: Every wait in these tests ends at this bound; only reached when something is broken.
EVENT_TIMEOUT_S = 10.0
#: The process must be gone this long after SIGTERM, whatever PortAudio does (issue 11).
SHUTDOWN_LIMIT_S = 10.0
#: systemd watchdog timeout given to the daemon: it then pings every 50 ms while healthy.
WATCHDOG_USEC = 100_000
#: How long a silent socket must stay silent to show the pings stopped (ten ping intervals).
QUIET_S = 0.5
BLOCK_FRAMES = 1600
FAKE_SD_DIR = ROOT / "tests" / "fake_sounddevice"


class FakeSource:
    """A started source that the test drives. push() queues blocks; read() waits for one.

    read_gate / stop_gate: Events that read() / stop() wait on before doing anything (never set
    = the call never returns, like PortAudio on a frozen server). in_read / in_stop are set on
    entry, so a test knows where the capture thread is.
    """

    def __init__(self, name="fake mic", rate_hz=16000):
        self.device_name, self.sample_rate_hz = name, rate_hz
        self.overflows = self.dropped_frames = 0
        self._blocks: queue.Queue = queue.Queue()
        self._active = True
        self.read_gate: threading.Event | None = None
        self.stop_gate: threading.Event | None = None
        self.in_read, self.in_stop, self.stopped = threading.Event(), threading.Event(), threading.Event()

    @property
    def active(self):
        return self._active

    def push(self, n_blocks=1, rng=np.random.default_rng(0)):
        for _ in range(n_blocks):
            self._blocks.put((rng.standard_normal((BLOCK_FRAMES, 1)) * 1e-3).astype(np.float32))

    def read(self, timeout_s):
        self.in_read.set()
        if self.read_gate is not None:
            self.read_gate.wait()
        try:
            return self._blocks.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def stop(self):
        self.in_stop.set()
        if self.stop_gate is not None:
            self.stop_gate.wait()
        self._active = False
        self.stopped.set()


class Factory:
    """source_factory: hands out the given sources in order; AudioDeviceError when out of them."""

    def __init__(self, *sources):
        self.sources = list(sources)
        self.calls: list[bool] = []

    def __call__(self, block_s, reopening):
        self.calls.append(reopening)
        if not self.sources:
            raise AudioDeviceError("fake: no such device")
        return self.sources.pop(0)


class Feeder:
    """Pushes a block into a FakeSource every 10 ms, as a microphone would (faster than real
    time, so the tests are short)."""

    def __init__(self, source):
        self.source, self._stop = source, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.01):
            self.source.push()

    def stop(self):
        self._stop.set()
        self._thread.join(EVENT_TIMEOUT_S)


class NullActions:
    def __init__(self):
        self.submitted = []

    def submit(self, det):
        self.submitted.append(det)


@pytest.fixture
def config():
    return Config(actions=ActionSettings(led=LedSettings(pin=None)))


def with_audio(config, **audio):
    return replace(config, audio=replace(config.audio, **audio))


@pytest.fixture
def notify(tmp_path):
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    yield sock, SystemdNotifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": str(WATCHDOG_USEC)})
    sock.close()




def wait_for(predicate, what, timeout_s=EVENT_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def make_daemon(config, shipped_model, factory, notifier=None):
    setups = [ModelSetup.configured(shipped_model, config.trigger)]
    return Daemon(config, setups, NullActions(), notifier=notifier or SystemdNotifier(env={}), source_factory=factory)


def finish(daemon):
    daemon.stop()
    assert daemon.wait(join_timeout_s=EVENT_TIMEOUT_S), f"capture thread stuck {daemon.stuck_in}"
    assert daemon.error is None


# ------------------------------------------------------------------------- stalls and reconnects


def test_a_stalled_source_is_reported_lost_before_it_is_stopped_and_the_daemon_reconnects(config, shipped_model, caplog):
    first, second = FakeSource(), FakeSource()
    first.stop_gate = threading.Event()  # held until the test has seen the loss in the log
    daemon = make_daemon(with_audio(config, stall_timeout_s=0.5, reconnect_interval_s=0.1), shipped_model,
                         factory := Factory(first, second))
    with caplog.at_level(logging.WARNING, logger="wakeword.daemon"):
        daemon.start()
        first.push(3)  # audio flowed, then the device went quiet: the stall clock runs
        assert first.in_stop.wait(EVENT_TIMEOUT_S), "the stalled source was never stopped"
        # the loss is in the log while stop() has not returned (a frozen server's stop never does)
        assert "audio device lost (no audio for 0.5 s)" in caplog.text
        assert daemon.stats.device_losses == 1 and daemon.stats.reconnects == 0
        first.stop_gate.set()
        second.push(3)
        wait_for(lambda: daemon.stats.reconnects == 1, "the reconnect")
        assert "audio device back" in caplog.text
    finish(daemon)
    assert factory.calls == [False, True]  # the second open is a reopening (PortAudio rescans devices)
    assert first.stopped.is_set() and second.stopped.is_set()


def test_a_source_that_ends_is_lost_at_once_and_reopened(config, shipped_model):
    first, second = FakeSource(), FakeSource()
    daemon = make_daemon(with_audio(config, stall_timeout_s=600.0, reconnect_interval_s=0.1), shipped_model,
                         Factory(first, second))
    daemon.start()
    first.push(2)
    first._active = False  # the stream finished (USB microphone unplugged): no stall timeout needed
    wait_for(lambda: daemon.stats.reconnects == 1, "the reconnect")
    assert daemon.stats.device_losses == 1
    finish(daemon)


# ------------------------------------------------------------------------- the watchdog


def test_watchdog_pings_while_audio_flows_and_stop_while_a_read_blocks(config, shipped_model, notify):
    sock, notifier = notify
    source = FakeSource()
    daemon = make_daemon(config, shipped_model, Factory(source), notifier)
    daemon.start()
    feeder = Feeder(source)
    try:
        flowing = notify_messages(sock, QUIET_S)
        assert "READY=1" in flowing and flowing.count("WATCHDOG=1") >= 3, flowing
        # the next read never returns: the capture thread is wedged, so systemd must restart us
        source.read_gate = threading.Event()
        source.in_read.clear()
        assert source.in_read.wait(EVENT_TIMEOUT_S)
        notify_messages(sock, 0.1)  # a ping sent just before the read began may still be in flight
        assert "WATCHDOG=1" not in notify_messages(sock, QUIET_S)
        source.read_gate.set()  # the read returns: the pings resume
        assert "WATCHDOG=1" in notify_messages(sock, QUIET_S)
    finally:
        feeder.stop()
        if source.read_gate is not None:
            source.read_gate.set()
    finish(daemon)


def test_a_capture_thread_wedged_in_stopping_a_lost_device_stops_the_pings(config, shipped_model, notify, caplog):
    sock, notifier = notify
    first = FakeSource()
    first.stop_gate = threading.Event()
    daemon = make_daemon(with_audio(config, stall_timeout_s=0.5, reconnect_interval_s=0.1), shipped_model,
                         Factory(first), notifier)
    daemon.start()
    first.push(3)
    assert first.in_stop.wait(EVENT_TIMEOUT_S)
    notify_messages(sock, 0.1)
    assert "WATCHDOG=1" not in notify_messages(sock, QUIET_S)
    # shutdown does not wait for it: wait() returns within its bound and says where it is stuck
    daemon.stop()
    started_s = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="wakeword.daemon"):
        assert not daemon.wait(join_timeout_s=0.5)
    assert time.monotonic() - started_s < EVENT_TIMEOUT_S
    assert daemon.stuck_in == "stopping audio device 'fake mic'"
    assert "did not stop within 0 s: it is stuck stopping audio device 'fake mic'" in caplog.text
    assert "STOPPING=1" in notify_messages(sock, QUIET_S)
    first.stop_gate.set()


def test_watchdog_keeps_pinging_while_the_daemon_waits_to_reconnect(config, shipped_model, notify):
    """A missing device is the daemon's to retry: a restart would not bring it back sooner.
    The pings continue between attempts even when the interval is longer than the watchdog's."""
    sock, notifier = notify
    first = FakeSource()
    daemon = make_daemon(with_audio(config, stall_timeout_s=0.5, reconnect_interval_s=2.0), shipped_model,
                         factory := Factory(first), notifier)
    daemon.start()
    first.push(3)
    assert first.stopped.wait(EVENT_TIMEOUT_S)
    notify_messages(sock, 0.1)
    waiting = notify_messages(sock, QUIET_S)  # inside one 2 s interval: no attempt yet, pings all the same
    assert waiting.count("WATCHDOG=1") >= 3 and factory.calls == [False], (waiting, factory.calls)
    finish(daemon)


# ------------------------------------------------------------------------- shutdown


def test_shutdown_while_a_read_blocks_returns_within_its_bound(config, shipped_model, notify):
    sock, notifier = notify
    source = FakeSource()
    source.read_gate = threading.Event()
    daemon = make_daemon(config, shipped_model, Factory(source), notifier)
    daemon.start()
    assert source.in_read.wait(EVENT_TIMEOUT_S)
    timer = threading.Timer(0.2, daemon.request_stop)  # as the SIGTERM handler does
    timer.start()
    started_s = time.monotonic()
    ended = daemon.wait(join_timeout_s=0.5)
    elapsed_s = time.monotonic() - started_s
    assert not ended and daemon.stuck_in == "reading audio from 'fake mic'"
    assert 0.2 <= elapsed_s < EVENT_TIMEOUT_S
    assert "STOPPING=1" in notify_messages(sock, QUIET_S)
    source.read_gate.set()
    assert daemon.join(EVENT_TIMEOUT_S)  # once the read returns, the thread sees the stop and ends


def test_a_stop_request_ends_a_healthy_daemon_and_stops_its_source(config, shipped_model):
    source = FakeSource()
    daemon = make_daemon(config, shipped_model, Factory(source))
    daemon.start()
    source.push(5)
    wait_for(lambda: daemon.stats.ready.is_set(), "the first block")
    threading.Timer(0.1, daemon.request_stop).start()
    assert daemon.wait(join_timeout_s=EVENT_TIMEOUT_S)
    assert daemon.stuck_in is None and source.stopped.is_set()


def test_wait_returns_when_the_capture_thread_dies(config, shipped_model):
    source = FakeSource()
    daemon = make_daemon(config, shipped_model, Factory(source))

    def broken_read(timeout_s):
        raise RuntimeError("a bug in the capture loop")

    source.read = broken_read
    daemon.start()
    assert daemon.wait(join_timeout_s=EVENT_TIMEOUT_S)  # woken by the thread's end, not by a stop
    assert isinstance(daemon.error, RuntimeError)


# ------------------------------------------------------------------------- band warning and --debug


def test_audio_that_cannot_carry_the_models_band_is_warned_about_once(config, shipped_model, caplog):
    first, second = FakeSource(rate_hz=8000), FakeSource(rate_hz=8000)
    daemon = make_daemon(with_audio(config, stall_timeout_s=0.5, reconnect_interval_s=0.1), shipped_model,
                         Factory(first, second))
    with caplog.at_level(logging.WARNING, logger="wakeword.daemon"):
        daemon.start()
        first.push(2)
        second.push(2)
        wait_for(lambda: daemon.stats.reconnects == 1, "the reconnect")
    finish(daemon)
    warnings = [r.getMessage() for r in caplog.records if "carries frequencies up to 4 kHz only" in r.getMessage()]
    assert len(warnings) == 1, caplog.text
    assert "stop.tflite uses up to 7.6 kHz" in warnings[0]


def test_a_16khz_source_gets_no_band_warning(config, shipped_model, caplog):
    source = FakeSource()
    daemon = make_daemon(config, shipped_model, Factory(source))
    with caplog.at_level(logging.WARNING, logger="wakeword.daemon"):
        daemon.start()
        source.push(2)
        wait_for(lambda: daemon.stats.ready.is_set(), "the first block")
    finish(daemon)
    assert "carries frequencies" not in caplog.text


def test_debug_logs_every_windows_score_in_daemon_mode(config, shipped_model, caplog):
    source = FakeSource()
    daemon = make_daemon(config, shipped_model, Factory(source))
    with caplog.at_level(logging.DEBUG, logger="wakeword.daemon"):
        daemon.start()
        source.push(20)  # 2 s: the first window completes after about 1 s, then one per 100 ms
        wait_for(lambda: daemon.stats.windows >= 5, "five windows")
        finish(daemon)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("t=")]
    assert len(lines) >= 5 and all(" stop=" in line for line in lines), lines


# ------------------------------------------------------------------------- --check-config's probe


def test_probe_reads_one_block_and_closes_the_source(config, shipped_model):
    source = FakeSource()
    source.push(1)
    setups = [ModelSetup.configured(shipped_model, config.trigger)]
    text = probe_source(config, setups, Factory(source))
    assert "opened audio device 'fake mic' at 16000 Hz in 100 ms blocks" in text
    assert source.stopped.is_set()


def test_probe_of_a_device_that_delivers_nothing_fails_and_closes_it(config, shipped_model):
    source = FakeSource()
    source._active = False  # opened, then ended without a block
    setups = [ModelSetup.configured(shipped_model, config.trigger)]
    with pytest.raises(AudioDeviceError, match="opened at 16000 Hz but delivered no audio"):
        probe_source(config, setups, Factory(source))
    assert source.stopped.is_set()


# ------------------------------------------------------------------------- the whole process


def run_daemon_process(tmp_path, faults: str, notify_path: str):
    config = tmp_path / "config.yaml"
    config.write_text("audio: {device: fake mic}\nactions: {led: {pin: null}}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(FAKE_SD_DIR), str(ROOT)]),
           "FAKE_SOUNDDEVICE": faults, "NOTIFY_SOCKET": notify_path}
    return subprocess.Popen([sys.executable, "-m", "wakeword", "--config", str(config)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)


def sigterm_when_ready(proc, sock):
    """Wait for READY=1, SIGTERM the process, and return (seconds until it exited, messages)."""
    seen = []
    while "READY=1" not in seen:
        seen.append(sock.recv(4096).decode())
    proc.send_signal(signal.SIGTERM)
    started_s = time.monotonic()
    try:
        proc.wait(SHUTDOWN_LIMIT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"the daemon did not exit within {SHUTDOWN_LIMIT_S:.0f} s of SIGTERM: {proc.stderr.read()}")
    return time.monotonic() - started_s, seen + notify_messages(sock, 0.2)


def test_the_process_ends_within_10s_of_sigterm_when_the_streams_abort_never_returns(tmp_path, notify_socket):
    sock, path = notify_socket
    proc = run_daemon_process(tmp_path, "abort-blocks", path)
    elapsed_s, seen = sigterm_when_ready(proc, sock)
    err = proc.stderr.read()
    assert elapsed_s < SHUTDOWN_LIMIT_S
    assert "STOPPING=1" in seen
    assert proc.returncode == 1, err  # not a clean stop: something was left behind
    assert "it is stuck stopping audio device 'fake mic'" in err and "exiting now" in err, err
    assert "stopped: 0 detection(s)" in err and "Traceback" not in err


def test_the_process_ends_within_10s_of_sigterm_when_portaudios_teardown_never_returns(tmp_path, notify_socket):
    sock, path = notify_socket
    proc = run_daemon_process(tmp_path, "terminate-blocks", path)
    elapsed_s, _ = sigterm_when_ready(proc, sock)
    err = proc.stderr.read()
    assert elapsed_s < SHUTDOWN_LIMIT_S
    assert proc.returncode == 0, err  # everything of ours stopped; only the teardown was skipped
    assert "PortAudio's teardown did not finish within 1 s" in err, err


def test_native_stderr_lines_are_rate_limited_in_the_journal(tmp_path, notify_socket):
    from wakeword.nativelog import LINES_PER_WINDOW

    sock, path = notify_socket
    proc = run_daemon_process(tmp_path, "native-noise", path)
    seen = []
    while "READY=1" not in seen:
        seen.append(sock.recv(4096).decode())
    time.sleep(1.0)  # ten blocks, ten native lines written to fd 2
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=SHUTDOWN_LIMIT_S)
    noise = [line for line in err.splitlines() if "native noise" in line]
    assert 1 <= len(noise) <= LINES_PER_WINDOW, err
    assert all(line.startswith("INFO wakeword.native: ALSA lib fake_pcm.c") for line in noise), noise
