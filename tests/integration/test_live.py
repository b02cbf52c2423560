"""The daemon through real PortAudio: a PulseAudio null sink is the microphone.

`paplay -d virt` plays real clips into the null sink; its monitor source is what PortAudio's
`pulse` device captures. The daemon runs in-process so that gpiozero's MockFactory pins can be
inspected. The test also kills PulseAudio under the running daemon and brings it back.

Skipped where `pulseaudio` is not installed, unless WAKEWORD_REQUIRE_LIVE=1 (CI sets it), in
which case a missing PulseAudio fails the run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT, SHIPPED_MODEL

pytestmark = pytest.mark.live

START_PULSE = [
    "pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
    "--load=module-null-sink sink_name=virt", "--load=module-native-protocol-unix",
]
#: Generous bounds for events on a loaded 2-core CI machine; every wait ends at one of these.
EVENT_TIMEOUT_S = 20.0


def wait_for(predicate, timeout_s=EVENT_TIMEOUT_S, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def pulse_running() -> bool:
    return subprocess.run(["pactl", "info"], capture_output=True, timeout=10).returncode == 0


def start_pulse():
    subprocess.run(START_PULSE, capture_output=True, timeout=30)
    wait_for(pulse_running, what="PulseAudio to start")
    subprocess.run(["pactl", "set-default-source", "virt.monitor"], check=True, timeout=10)


def stop_pulse():
    subprocess.run(["pulseaudio", "--kill"], capture_output=True, timeout=30)
    wait_for(lambda: not pulse_running(), what="PulseAudio to stop")


@pytest.fixture(scope="module")
def pulse():
    if shutil.which("pulseaudio") is None or shutil.which("paplay") is None:
        if os.environ.get("WAKEWORD_REQUIRE_LIVE") == "1":
            pytest.fail("WAKEWORD_REQUIRE_LIVE=1 but pulseaudio/paplay are not installed")
        pytest.skip("pulseaudio and pulseaudio-utils are not installed")
    started_here = not pulse_running()
    if started_here:
        start_pulse()
    yield
    if started_here:  # a server that CI (or the user) started is left running for other tests
        stop_pulse()


def play(path: Path):
    subprocess.run(["paplay", "-d", "virt", str(path)], check=True, timeout=30)


@pytest.fixture
def notify_socket(tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(EVENT_TIMEOUT_S)
    yield sock, str(tmp_path / "notify")
    sock.close()


def test_daemon_detects_a_played_stop_fires_actions_and_survives_losing_the_device(pulse, tmp_path, notify_socket):
    from gpiozero.pins.mock import MockFactory

    from wakeword.actions import ActionRunner
    from wakeword.settings import HookSettings, LedSettings
    from wakeword.config import apply_overrides, load_config
    from wakeword.detector import ModelSetup
    from wakeword.daemon import Daemon
    from wakeword.model import load_model
    from wakeword.notify import SystemdNotifier

    hook_log = tmp_path / "hook.log"
    config = apply_overrides(load_config(ROOT / "config.yaml"), {"audio.device": "pulse", "model.path": str(SHIPPED_MODEL)})
    config = replace(config, audio=replace(config.audio, stall_timeout_s=1.0, reconnect_interval_s=0.5))
    config = replace(config, actions=replace(
        config.actions,
        log_json=False,
        led=LedSettings(pin=17, mode="on", on_s=0.3),
        hook=HookSettings(command=(sys.executable, "-c",
                                   f"import os; open({str(hook_log)!r}, 'a').write(os.environ['WAKEWORD_KEYWORD'] + '\\n')")),
    ))
    model = load_model(config.model.path)
    setups = [ModelSetup.configured(model, config.trigger)]
    factory = MockFactory()
    actions = ActionRunner(config.actions, pin_factory=factory)
    actions.start()
    sock, address = notify_socket
    notifier = SystemdNotifier(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
    found, fired = [], threading.Event()

    def on_detection(det):
        found.append(det)
        fired.set()

    daemon = Daemon(config, setups, actions, notifier=notifier, on_detection=on_detection)
    daemon.start()
    try:
        # READY=1 is sent once audio flows
        assert daemon.stats.ready.wait(EVENT_TIMEOUT_S)
        messages = []  # watchdog pings may come first: the loop is alive while the device warms up
        while not any("READY=1" in m for m in messages):
            messages.append(sock.recv(4096).decode())  # the socket's timeout bounds each wait
            assert len(messages) < 50, messages

        # a held-out "stop" played into the device: exactly one detection, hook ran, LED lit
        play(DATA / "stop_1f653d27.wav")
        assert fired.wait(EVENT_TIMEOUT_S), "no detection for a played 'stop'"
        windows_after = daemon.stats.windows + 25  # 2.5 s more audio: a second detection would show
        wait_for(lambda: daemon.stats.windows >= windows_after, what="2.5 s of audio after the detection")
        assert [d.keyword for d in found] == ["stop"]
        assert actions.wait_idle(EVENT_TIMEOUT_S)
        assert hook_log.read_text().splitlines() == ["stop"]
        led_pin = factory.pin(17)
        assert any(state.state for state in led_pin.states), "the LED never lit"
        wait_for(lambda: not led_pin.state, what="the LED to go off after on_s")

        # another word: no detection over its length plus a window
        play(DATA / "go_0bac8a71.wav")
        windows_after = daemon.stats.windows + 20
        wait_for(lambda: daemon.stats.windows >= windows_after, what="2 s of audio after 'go'")
        assert len(found) == 1, found

        # the device goes away: reported once, then recovered when it is back
        stop_pulse()
        wait_for(lambda: daemon.stats.device_losses == 1, what="the daemon to notice the lost device")
        assert daemon.error is None
        start_pulse()
        wait_for(lambda: daemon.stats.reconnects == 1, what="the daemon to reconnect")
        # back means audio flows again: PulseAudio's monitor records only what plays after
        # the new stream delivers its first block (about 2 s after opening)
        windows_back = daemon.stats.windows + 10
        wait_for(lambda: daemon.stats.windows >= windows_back, what="audio to flow after the reconnect")
        fired.clear()
        play(DATA / "stop_1fe4c891.wav")
        assert fired.wait(EVENT_TIMEOUT_S), "no detection after the device came back"
        assert len(found) == 2
    finally:
        daemon.stop()
        joined = daemon.join(10.0)
        if not joined:
            import faulthandler

            faulthandler.dump_traceback(all_threads=True)  # where the capture thread is stuck
        actions.close()
        assert joined, "the capture thread did not stop within 10 s"
    assert daemon.error is None
