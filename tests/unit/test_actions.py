"""wakeword.actions: GPIO through gpiozero's MockFactory, hooks as real subprocesses, the JSON
event line, and the guarantee that submit() never waits for an action.

Pin timing comes from MockPin.states (each entry: seconds since the previous change, new level).
Every wait polls a real condition with a deadline; nothing sleeps in place of an event.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import sys
import threading
import time
from pathlib import Path

import gpiozero
import pytest
from gpiozero.pins.mock import MockFactory

from wakeword.actions import QUEUE_SIZE, ActionRunner
from wakeword.settings import ActionSettings, HookSettings, LedSettings, OutputSettings
from wakeword.errors import ActionError, WakewordError
from wakeword.trigger import Detection

WAIT_TIMEOUT_S = 10.0  # generous: only reached when something is broken
POLL_S = 0.002
TIMING_SLACK_S = 0.005  # Event.wait may wake a hair early relative to the pin timestamps
NO_LED = LedSettings(pin=None)
DETECTION = Detection("stop", 0.93214, 24000, 16000)  # 1.5 s into the stream


def wait_until(predicate, timeout_s: float = WAIT_TIMEOUT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(POLL_S)


def levels(pin) -> list[bool]:
    return [s.state for s in pin.states]


def python_hook(code: str, *args: str) -> tuple[str, ...]:
    return (sys.executable, "-c", code, *args)


# A hook that blocks until a file appears (bounded, so a broken test cannot leave it behind).
WAIT_FOR_FILE = (
    "import os, sys, time\n"
    "open(sys.argv[1], 'a').close()\n"  # announce: started
    "deadline = time.monotonic() + 30\n"
    "while not os.path.exists(sys.argv[2]) and time.monotonic() < deadline:\n"
    "    time.sleep(0.005)\n"
)


@pytest.fixture
def factory():
    f = MockFactory()
    yield f
    f.close()


@pytest.fixture
def make_runner(factory):
    runners = []

    def make(led=NO_LED, output=OutputSettings(), hook=HookSettings(), log_json=True, stdout=None):
        runner = ActionRunner(ActionSettings(led=led, output=output, hook=hook, log_json=log_json),
                              pin_factory=factory, stdout=stdout if stdout is not None else io.StringIO())
        runner.start()
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close(timeout_s=2.0)


# ---------------------------------------------------------------- GPIO


def test_led_on_mode_goes_high_and_returns_low_after_on_s(make_runner, factory):
    runner = make_runner(led=LedSettings(pin=17, mode="on", on_s=0.05))
    pin = factory.pin(17)
    assert levels(pin) == [False]

    runner.submit(DETECTION)
    wait_until(lambda: levels(pin) == [False, True, False], what="LED on then off")

    lit_s = pin.states[2].timestamp
    assert 0.05 - TIMING_SLACK_S <= lit_s < 0.05 + 1.0
    assert pin.state is False


def test_led_blink_mode_blinks_for_about_on_s(make_runner, factory):
    led = LedSettings(pin=17, mode="blink", on_s=0.06, blink_on_s=0.01, blink_off_s=0.01)
    assert led.blink_count == 3
    runner = make_runner(led=led)
    pin = factory.pin(17)

    runner.submit(DETECTION)
    wait_until(lambda: levels(pin) == [False] + [True, False] * 3, what="three blinks")
    for state in pin.states[2:]:  # states[1].timestamp is the wait before the first blink
        assert state.timestamp >= 0.01 - TIMING_SLACK_S


def test_active_high_output_pulses_for_pulse_s(make_runner, factory):
    runner = make_runner(output=OutputSettings(pin=27, active_high=True, pulse_s=0.05))
    pin = factory.pin(27)

    runner.submit(DETECTION)
    wait_until(lambda: levels(pin) == [False, True, False], what="output pulse")
    assert 0.05 - TIMING_SLACK_S <= pin.states[2].timestamp < 0.05 + 1.0


def test_active_low_output_idles_high_and_pulses_low(make_runner, factory):
    runner = make_runner(output=OutputSettings(pin=27, active_high=False, pulse_s=0.05))
    pin = factory.pin(27)
    # Inactive = high for an active-low relay board, from the moment it is opened.
    assert pin.state is True
    pin.clear_states()

    runner.submit(DETECTION)
    wait_until(lambda: levels(pin) == [True, False, True], what="active-low pulse")
    assert 0.05 - TIMING_SLACK_S <= pin.states[2].timestamp < 0.05 + 1.0


def test_close_turns_a_lit_led_off_and_releases_the_pin(factory):
    runner = ActionRunner(ActionSettings(led=LedSettings(pin=17, mode="on", on_s=60)),
                          pin_factory=factory, stdout=io.StringIO())
    runner.start()
    pin = factory.pin(17)
    runner.submit(DETECTION)
    wait_until(lambda: pin.state is True, what="LED on")

    runner.close(timeout_s=2.0)

    assert pin.state is False
    gpiozero.LED(17, pin_factory=factory).close()  # the pin is free again


def test_busy_led_pin_is_an_action_error_naming_the_pin_and_the_fix(factory):
    squatter = gpiozero.LED(17, pin_factory=factory)
    runner = ActionRunner(ActionSettings(led=LedSettings(pin=17)), pin_factory=factory)
    with pytest.raises(ActionError) as err:
        runner.start()
    squatter.close()
    message = str(err.value)
    assert isinstance(err.value, WakewordError)
    assert message.startswith("GPIO17: cannot open the LED pin (")
    assert "set actions.led.pin: null" in message
    assert "\n" not in message


def test_output_pin_failure_closes_the_led_it_already_opened(factory):
    squatter = gpiozero.DigitalOutputDevice(18, pin_factory=factory)
    settings = ActionSettings(led=LedSettings(pin=17), output=OutputSettings(pin=18))
    with pytest.raises(ActionError, match=r"^GPIO18: cannot open the output pin .*actions\.output\.pin: null"):
        ActionRunner(settings, pin_factory=factory).start()
    squatter.close()
    gpiozero.LED(17, pin_factory=factory).close()  # not left reserved by the failed start


# ---------------------------------------------------------------- hooks


def test_hook_gets_env_vars_and_detection_json_on_stdin(make_runner, tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", "/run/systemd/notify")
    out = tmp_path / "hook.json"
    code = (
        "import json, os, sys\n"
        "env = {k: v for k, v in os.environ.items() if k.startswith(('WAKEWORD_', 'NOTIFY_'))}\n"
        "json.dump({'env': env, 'stdin': sys.stdin.read()}, open(sys.argv[1], 'w'))\n"
    )
    runner = make_runner(hook=HookSettings(command=python_hook(code, str(out))))

    runner.submit(DETECTION)
    assert runner.wait_idle(WAIT_TIMEOUT_S)

    got = json.loads(out.read_text())
    env = got["env"]
    assert env["WAKEWORD_KEYWORD"] == "stop"
    assert env["WAKEWORD_SCORE"] == "0.9321"
    assert env["WAKEWORD_TIME"] == "1.5"
    wall = dt.datetime.fromisoformat(env["WAKEWORD_WALLTIME"])
    assert wall.utcoffset() == dt.timedelta(0)
    assert abs((dt.datetime.now(dt.timezone.utc) - wall).total_seconds()) < 60
    assert "NOTIFY_SOCKET" not in env  # a hook must not speak to systemd for the daemon
    assert got["stdin"].endswith("\n")
    assert json.loads(got["stdin"]) == {**DETECTION.to_dict(), "wall_time": env["WAKEWORD_WALLTIME"]}
    assert runner.stats["hook_ok"] == 1


def _process_alive(pid: int) -> bool:
    # A zombie counts as dead: in a container nobody may reap an orphan.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_hook_timeout_kills_the_hook_and_its_children_and_is_counted(make_runner, tmp_path, caplog):
    pid_file = tmp_path / "grandchild.pid"
    # The hook starts a grandchild that inherits its stdout, then hangs: killing only the hook
    # would leave the pipe open and the reaper waiting.
    code = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "open(sys.argv[1], 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    runner = make_runner(hook=HookSettings(command=python_hook(code, str(pid_file)), timeout_s=0.5))

    with caplog.at_level(logging.WARNING, logger="wakeword.actions"):
        runner.submit(DETECTION)
        assert runner.wait_idle(WAIT_TIMEOUT_S)

    assert runner.stats["hook_timeout"] == 1
    assert runner.stats["hook_ok"] == runner.stats["hook_failed"] == 0
    assert "timed out after 0.5 s and was killed" in caplog.text
    grandchild = int(pid_file.read_text())
    wait_until(lambda: not _process_alive(grandchild), what="grandchild killed")


def test_max_concurrent_hooks_skips_and_counts_the_rest(make_runner, tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    runner = make_runner(hook=HookSettings(command=python_hook(WAIT_FOR_FILE, str(started), str(release)),
                                           max_concurrent=1))
    for _ in range(3):
        runner.submit(DETECTION)
    wait_until(lambda: runner.stats["fired"] == 3, what="three detections handled")

    assert runner.stats["hook_skipped_busy"] == 2
    release.touch()
    assert runner.wait_idle(WAIT_TIMEOUT_S)
    assert runner.stats["hook_ok"] == 1


def test_failing_hooks_are_counted_and_the_worker_keeps_going(make_runner, factory, caplog):
    runner = make_runner(led=LedSettings(pin=17, mode="on", on_s=0.01),
                         hook=HookSettings(command=python_hook("import sys; print('no music'); sys.exit(3)")))
    pin = factory.pin(17)
    with caplog.at_level(logging.WARNING, logger="wakeword.actions"):
        for n_fired in (1, 2):
            runner.submit(DETECTION)
            assert runner.wait_idle(WAIT_TIMEOUT_S)
            # Wait for the LED to finish, or the second detection would just extend the first.
            wait_until(lambda: levels(pin) == [False] + [True, False] * n_fired, what=f"LED cycle {n_fired}")
    assert runner.stats["fired"] == 2
    assert runner.stats["hook_failed"] == 2
    assert "exited with status 3: no music" in caplog.text


def test_missing_hook_executable_is_counted_not_raised(make_runner, caplog):
    runner = make_runner(hook=HookSettings(command=("/nonexistent/wakeword-hook",)))
    with caplog.at_level(logging.ERROR, logger="wakeword.actions"):
        runner.submit(DETECTION)
        assert runner.wait_idle(WAIT_TIMEOUT_S)
        runner.submit(DETECTION)
        assert runner.wait_idle(WAIT_TIMEOUT_S)
    assert runner.stats["hook_failed"] == 2
    assert runner.stats["fired"] == 2
    assert "hook /nonexistent/wakeword-hook could not start" in caplog.text


def test_close_kills_a_hook_still_running_after_its_timeout(tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    runner = ActionRunner(ActionSettings(led=NO_LED, hook=HookSettings(
        command=python_hook(WAIT_FOR_FILE, str(started), str(release)))), stdout=io.StringIO())
    runner.start()
    runner.submit(DETECTION)
    wait_until(started.exists, what="hook started")

    t0 = time.monotonic()
    runner.close(timeout_s=0.2)
    assert time.monotonic() - t0 < 0.2 + 3.0
    assert runner.stats["hook_failed"] == 1  # killed by SIGKILL


# ---------------------------------------------------------------- never blocking detection


class BlockingStdout(io.StringIO):
    """A stdout whose write() hangs until released: a worker stuck on a full pipe."""

    def __init__(self):
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, text):
        self.entered.set()
        self.release.wait(WAIT_TIMEOUT_S)
        return super().write(text)


def test_submit_returns_at_once_while_a_slow_hook_runs(make_runner, tmp_path):
    started, release = tmp_path / "started", tmp_path / "release"
    runner = make_runner(hook=HookSettings(command=python_hook(WAIT_FOR_FILE, str(started), str(release))))
    runner.submit(DETECTION)
    wait_until(started.exists, what="slow hook started")

    t0 = time.monotonic()
    runner.submit(DETECTION)
    assert time.monotonic() - t0 < 0.05
    release.touch()
    assert runner.wait_idle(WAIT_TIMEOUT_S)


def test_full_queue_drops_and_counts_without_blocking_and_worker_logs_it(make_runner, caplog):
    stdout = BlockingStdout()
    runner = make_runner(stdout=stdout)
    runner.submit(DETECTION)
    assert stdout.entered.wait(WAIT_TIMEOUT_S)  # the worker holds that one, stuck in write()

    durations_s = []
    with caplog.at_level(logging.WARNING, logger="wakeword.actions"):
        for _ in range(QUEUE_SIZE + 3):
            t0 = time.monotonic()
            runner.submit(DETECTION)
            durations_s.append(time.monotonic() - t0)
        assert runner.stats["dropped"] == 3
        assert caplog.text == ""  # submit() itself never logs

        stdout.release.set()
        assert runner.wait_idle(WAIT_TIMEOUT_S)
    assert max(durations_s) < 0.05
    assert runner.stats["fired"] == 1 + QUEUE_SIZE
    assert "3 detection(s) dropped" in caplog.text


# ---------------------------------------------------------------- event log


def test_event_line_is_one_flushed_json_object_per_detection(make_runner):
    stdout = io.StringIO()
    runner = make_runner(stdout=stdout)
    runner.submit(DETECTION)
    runner.submit(Detection("stop", 0.5, 48000, 16000))
    assert runner.wait_idle(WAIT_TIMEOUT_S)

    lines = stdout.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert list(first) == ["event", "keyword", "time_s", "score", "wall_time"]
    assert first["event"] == "detection"
    assert first["keyword"] == "stop"
    assert first["time_s"] == 1.5
    assert first["score"] == 0.9321
    assert dt.datetime.fromisoformat(first["wall_time"]).utcoffset() == dt.timedelta(0)
    assert json.loads(lines[1])["time_s"] == 3.0


def test_log_json_false_logs_instead_of_printing(make_runner, caplog):
    stdout = io.StringIO()
    runner = make_runner(stdout=stdout, log_json=False)
    with caplog.at_level(logging.INFO, logger="wakeword.actions"):
        runner.submit(DETECTION)
        assert runner.wait_idle(WAIT_TIMEOUT_S)
    assert stdout.getvalue() == ""
    assert "detected 'stop' at 1.50 s" in caplog.text


def test_submit_after_close_is_dropped_not_raised(factory):
    runner = ActionRunner(ActionSettings(led=NO_LED), pin_factory=factory, stdout=io.StringIO())
    runner.start()
    runner.close()
    runner.submit(DETECTION)
    assert runner.stats["dropped"] == 1
    runner.close()  # twice is fine


#: A runner in a process of its own, so its peak memory can be read, with a hook that prints
#: this many megabytes within its timeout and then a last line.
CHATTY_MB = 300
CHATTY_HOOK = (
    "import sys\n"
    "out = sys.stdout.buffer\n"
    f"for _ in range({CHATTY_MB}):\n"
    "    out.write(b'y' * 1_000_000)\n"
    "out.write(b'\\nlast words')\n"
    "out.flush()\n"
    "sys.exit(4)\n"
)
CHATTY_RUNNER = """
import sys
from wakeword.actions import ActionRunner
from wakeword.settings import ActionSettings, HookSettings, LedSettings
from wakeword.trigger import Detection
hook = HookSettings(command=(sys.executable, "-c", sys.argv[1]), timeout_s=60)
runner = ActionRunner(ActionSettings(led=LedSettings(pin=None), hook=hook, log_json=False))
runner.start()
runner.submit(Detection("stop", 0.9, 16000, 16000))
assert runner.wait_idle(60)
# VmHWM, not ru_maxrss: that keeps the peak of the forked test process from before exec
hwm_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print("RESULT", runner.stats["hook_failed"], hwm_kb // 1024)
runner.close()
"""


def test_a_hook_that_prints_hundreds_of_megabytes_costs_the_daemon_no_memory():
    import os
    import subprocess

    r = subprocess.run([sys.executable, "-c", CHATTY_RUNNER, CHATTY_HOOK], capture_output=True, text=True,
                       timeout=120, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert r.returncode == 0, r.stderr
    failed, peak_mb = map(int, r.stdout.split("RESULT", 1)[1].split())
    assert failed == 1
    assert "exited with status 4: " in r.stderr and r.stderr.rstrip().endswith("last words"), r.stderr[-500:]
    assert peak_mb < 150, f"the runner peaked at {peak_mb} MB for a hook printing {CHATTY_MB} MB"
