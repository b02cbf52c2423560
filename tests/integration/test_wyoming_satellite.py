"""End to end with wyoming-satellite from PyPI as the client: its --mic-command plays a WAV, its
--wake-uri points at `wakeword --wyoming-uri`, and its --detection-command records what it heard.

wyoming-satellite 1.0.0 pins wyoming==1.4.1, older than the [wyoming] extra's, so it lives in
its own virtualenv, as it would on a separate device: .venv-satellite/ beside the checkout
(README: "Two commands"), or the Python named by WAKEWORD_SATELLITE_PYTHON. Without it the test
is skipped, unless WAKEWORD_REQUIRE_SATELLITE=1 (CI), where a skip would hide a broken setup.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import DATA, ROOT
from harness.loopback import free_port, wait_listening

DETECTION_TIMEOUT_S = 90.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


def satellite_python() -> Path | None:
    candidate = Path(os.environ.get("WAKEWORD_SATELLITE_PYTHON", ROOT / ".venv-satellite" / "bin" / "python"))
    if candidate.is_file():
        probe = subprocess.run([str(candidate), "-c", "import wyoming_satellite"], capture_output=True, timeout=60)
        if probe.returncode == 0:
            return candidate
    return None


@pytest.fixture(scope="module")
def satellite():
    python = satellite_python()
    if python is None:
        message = "wyoming-satellite is not installed (python3 -m venv .venv-satellite && .venv-satellite/bin/pip install wyoming-satellite==1.0.0)"
        if os.environ.get("WAKEWORD_REQUIRE_SATELLITE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return python


def stop_group(proc: subprocess.Popen) -> str:
    """SIGTERM the process group we started (the satellite and its mic command), then collect."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate(timeout=STOP_TIMEOUT_S)
    return out


def test_wyoming_satellite_receives_our_detection(satellite, tmp_path):
    wake_port, satellite_port = free_port(), free_port()
    log_file = tmp_path / "detections.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    service = subprocess.Popen([sys.executable, "-m", "wakeword", "--wyoming-uri", f"tcp://127.0.0.1:{wake_port}"],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)
    sat = None
    try:
        wait_listening(wake_port, START_TIMEOUT_S, alive=lambda: service.poll() is None)
        mic = f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'tests' / 'play_raw.py'))} {shlex.quote(str(DATA / 'mixed_stop.wav'))}"
        record = f"sh -c {shlex.quote('cat >> ' + shlex.quote(str(log_file)) + '; echo >> ' + shlex.quote(str(log_file)))}"
        sat = subprocess.Popen(
            [str(satellite), "-m", "wyoming_satellite", "--uri", f"tcp://127.0.0.1:{satellite_port}", "--no-zeroconf",
             "--mic-command", mic, "--mic-command-rate", "16000", "--mic-command-width", "2", "--mic-command-channels", "1",
             "--wake-uri", f"tcp://127.0.0.1:{wake_port}", "--wake-word-name", "stop",
             "--detection-command", record, "--debug"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        deadline = time.monotonic() + DETECTION_TIMEOUT_S
        while not (log_file.exists() and "stop" in log_file.read_text()):
            assert sat.poll() is None, "wyoming-satellite exited"
            assert service.poll() is None, "the wakeword service exited"
            assert time.monotonic() < deadline, f"no detection reached the satellite within {DETECTION_TIMEOUT_S} s"
            time.sleep(0.1)
    finally:
        sat_out = stop_group(sat) if sat is not None else ""
        service_out = stop_group(service)
    assert log_file.read_text().split()[0] == "stop", log_file.read_text()
    assert "detected 'stop'" in service_out, service_out
    # the satellite connected to our service and switched to streaming because of our detection
    assert "Connected to wake service" in sat_out and "Streaming audio" in sat_out, sat_out
