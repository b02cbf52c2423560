"""Shared fixtures: the real clips in tests/data and the shipped model."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
#: The model under test: the shipped one, or another via WAKEWORD_TEST_MODEL (to try a candidate).
SHIPPED_MODEL = Path(os.environ.get("WAKEWORD_TEST_MODEL", ROOT / "models" / "stop.tflite")).resolve()


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A whole WAV file as float32 mono and its rate, through the project's own reader."""
    from wakeword.wavfile import WavFileSource
    from wakeword.detector import to_float_mono

    src = WavFileSource(path)
    return np.concatenate([to_float_mono(b) for b in src.blocks()]), src.sample_rate_hz


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def stop_clips() -> list[Path]:
    clips = sorted(DATA.glob("stop_*.wav"))
    assert clips, f"no stop_*.wav fixtures in {DATA}"
    return clips


@pytest.fixture(scope="session")
def other_clips() -> list[Path]:
    clips = sorted(p for p in DATA.glob("*.wav") if not p.name.startswith(("stop_", "mixed")))
    assert clips, f"no non-stop fixtures in {DATA}"
    return clips


@pytest.fixture(scope="session")
def shipped_model():
    from wakeword.model import load_model

    assert SHIPPED_MODEL.is_file(), f"{SHIPPED_MODEL} is missing: the project ships a model"
    return load_model(SHIPPED_MODEL)


def _live_unavailable(reason: str):
    """Skip a live test whose setup is missing, or fail it when WAKEWORD_REQUIRE_LIVE=1 (CI):
    there a skip would hide a broken setup."""
    if os.environ.get("WAKEWORD_REQUIRE_LIVE") == "1":
        pytest.fail(f"WAKEWORD_REQUIRE_LIVE=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pulse_server():
    """This session's own PulseAudio server (tests/pulse.py), with os.environ pointing PortAudio,
    paplay and pactl at it for the rest of the session. Started on first use, stopped by its pid
    at the end; no other server is ever touched."""
    from harness.pulse import PrivatePulse, PulseUnavailable, missing_tools

    missing = missing_tools()
    if missing:
        _live_unavailable(f"{', '.join(missing)} not installed (apt-get install pulseaudio pulseaudio-utils)")
    server = PrivatePulse()
    try:
        server.start()
    except PulseUnavailable as exc:
        server.close()
        _live_unavailable(str(exc))
    try:
        with server.client_environment():
            from wakeword.errors import AudioDeviceError
            from wakeword.microphone import list_devices, rescan_devices

            try:
                # PortAudio lists devices once; if it started before PULSE_SERVER pointed here,
                # its `pulse` device was probed against no server (or another one).
                rescan_devices()
                names = [d["name"] for d in list_devices()]
            except AudioDeviceError as exc:
                _live_unavailable(f"PortAudio cannot list devices ({exc})")
            if "pulse" not in names:
                _live_unavailable(f"PortAudio has no 'pulse' input device (apt-get install libasound2-plugins); it has {names}")
            yield server
    finally:
        server.close()
        try:
            from wakeword.microphone import rescan_devices

            rescan_devices()  # forget the server that is gone
        except Exception:  # noqa: BLE001 - PortAudio may be absent; nothing to forget then
            pass


@pytest.fixture
def notify_socket(tmp_path):
    """(socket, path): an AF_UNIX datagram socket standing in for systemd's NOTIFY_SOCKET."""
    path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(60.0)  # a child's start (imports, model) on a loaded machine
    yield sock, path
    sock.close()


def notify_messages(sock, within_s: float) -> list[str]:
    """Every datagram that arrives on a notify_socket within within_s seconds."""
    found, deadline = [], time.monotonic() + within_s
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            found.append(sock.recv(4096).decode())
        except socket.timeout:
            break
    return found
