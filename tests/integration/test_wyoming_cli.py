"""`wakeword --wyoming-uri URI` as a user runs it: the service alone, no microphone; its errors; the
extras imported only when configured; systemd readiness; wyoming.uri beside the daemon."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import wave

import pytest

from tests.conftest import DATA, ROOT
from tests.integration.test_cli import assert_one_line_error, wakeword
from harness.loopback import LOOPBACK, free_port, wait_listening

pytest.importorskip("wyoming")

from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncClient  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.wake import Detection  # noqa: E402

START_TIMEOUT_S = 60.0
READ_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 20.0


def start_service(*args, env_extra=None, pythonpath_first=None):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [pythonpath_first, str(ROOT)]))}
    env.update(env_extra or {})
    return subprocess.Popen([sys.executable, "-m", "wakeword", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_service(proc) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=STOP_TIMEOUT_S)
    return proc.returncode, out, err


@pytest.fixture
def no_audio_library(tmp_path):
    """A directory whose sounddevice module refuses to import: put first on PYTHONPATH, it makes
    any attempt to open audio fail loudly."""
    folder = tmp_path / "no-audio"
    folder.mkdir()
    (folder / "sounddevice.py").write_text("raise ImportError('the Wyoming-only mode must not touch audio devices')\n")
    return folder


async def describe_and_stream(uri: str):
    with wave.open(str(DATA / "mixed_stop.wav"), "rb") as w:
        raw, rate = w.readframes(w.getnframes()), w.getframerate()
    async with AsyncClient.from_uri(uri) as c:
        await c.write_event(Describe().event())
        info = Info.from_event(await asyncio.wait_for(c.read_event(), READ_TIMEOUT_S))
        await c.write_event(AudioStart(rate=rate, width=2, channels=1).event())
        for i in range(0, len(raw), 2048):
            await c.write_event(AudioChunk(rate=rate, width=2, channels=1, audio=raw[i:i + 2048]).event())
        await c.write_event(AudioStop().event())
        found = []
        while len(found) < 2:
            event = await asyncio.wait_for(c.read_event(), READ_TIMEOUT_S)
            assert event is not None and Detection.is_type(event.type), event
            found.append(Detection.from_event(event))
    return info, found


def test_the_service_alone_answers_without_opening_audio_and_stops_on_sigterm(no_audio_library):
    port = free_port()
    proc = start_service("--wyoming-uri", f"tcp://:{port}", pythonpath_first=str(no_audio_library))
    try:
        wait_listening(port, START_TIMEOUT_S, alive=lambda: proc.poll() is None)
        info, found = asyncio.run(describe_and_stream(f"tcp://{LOOPBACK}:{port}"))
    finally:
        code, out, err = stop_service(proc)
    assert [m.name for m in info.wake[0].models] == ["stop"]
    dry = wakeword("--dry-run", DATA / "mixed_stop.wav", "--json")
    assert dry.returncode == 0, dry.stderr
    expected = [(d["keyword"], round(d["time_s"] * 1000)) for d in map(json.loads, dry.stdout.splitlines())]
    assert len(expected) == 2 and [(d.name, d.timestamp) for d in found] == expected
    assert code == 0, err
    assert f"listening on tcp://127.0.0.1:{port}" in err  # tcp://:PORT is this machine only
    assert "1 stream(s), 2 detection(s)" in err  # the readiness probe was a connection too
    assert "Traceback" not in err


def test_systemd_hears_ready_once_listening_and_stopping_at_the_end(tmp_path):
    notify_path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sink:
        sink.bind(str(notify_path))
        sink.settimeout(START_TIMEOUT_S)
        port = free_port()
        proc = start_service("--wyoming-uri", f"tcp://127.0.0.1:{port}", env_extra={"NOTIFY_SOCKET": str(notify_path)})
        try:
            first = sink.recv(4096).decode()
            assert first == "READY=1", first
            with socket.create_connection((LOOPBACK, port), timeout=5):  # READY came after listen()
                pass
            assert sink.recv(4096).decode() == f"STATUS=serving Wyoming on tcp://127.0.0.1:{port}"
        finally:
            code, _, err = stop_service(proc)
        assert sink.recv(4096).decode() == "STOPPING=1"
    assert code == 0, err


@pytest.mark.parametrize("uri, message", [
    ("http://example.com:10400", "command line: wyoming.uri must be tcp://HOST:PORT or unix://PATH, got 'http://example.com:10400'"),
    ("tcp://127.0.0.1", "wyoming.uri must be tcp://HOST:PORT"),
    ("tcp://127.0.0.1:70000", "wyoming.uri must be tcp://HOST:PORT"),
    ("unix://relative.sock", "unix:// needs the absolute path of the socket"),
    ("tcp://no-such-host.invalid:10400", "wyoming.uri tcp://no-such-host.invalid:10400: cannot listen"),
])
def test_a_bad_uri_is_one_line_and_exit_status_2(uri, message):
    assert_one_line_error(wakeword("--wyoming-uri", uri, timeout=120), message)


def test_a_port_in_use_is_one_line_and_exit_status_2():
    with socket.socket() as taken:
        taken.bind((LOOPBACK, 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = wakeword("--wyoming-uri", f"tcp://127.0.0.1:{port}")
    assert_one_line_error(r, f"wyoming.uri tcp://127.0.0.1:{port}: cannot listen")


def test_wyoming_uri_does_not_go_with_device():
    r = wakeword("--wyoming-uri", "tcp://:10400", "--device", "USB")
    assert r.returncode == 2 and "--device goes with the daemon" in r.stderr


def run_main_without(module: str, *args) -> subprocess.CompletedProcess:
    """wakeword's main() in a Python where `module` cannot be imported (as if the extra was not
    installed)."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "from wakeword.cli import main\n"
            f"sys.exit(main({[str(a) for a in args]!r}))\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_without_the_wyoming_extra_the_service_names_the_pip_command():
    r = run_main_without("wyoming", "--wyoming-uri", "tcp://:10400")
    assert_one_line_error(r, "the Wyoming service needs the wyoming package", "pip install 'wakeword[wyoming]'")


def test_without_the_mqtt_extra_mqtt_actions_name_the_pip_command(tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("actions:\n  led:\n    pin: null\n  mqtt:\n    host: 127.0.0.1\n")
    r = run_main_without("paho", "--config", config, "--dry-run", DATA / "go_0bac8a71.wav", "--with-actions")
    assert_one_line_error(r, "actions.mqtt needs the paho-mqtt package", "pip install 'wakeword[mqtt]'")
    r = run_main_without("paho", "--config", config, "--check-config")
    assert_one_line_error(r, "pip install 'wakeword[mqtt]'")


def test_the_runtime_imports_neither_wyoming_nor_paho_unless_configured():
    code = ("import sys\n"
            "from wakeword.cli import main\n"
            f"assert main(['--dry-run', {str(DATA / 'mixed_stop.wav')!r}, '--json']) == 0\n"
            f"assert main(['--check-config', '--no-probe']) == 0\n"
            "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('wyoming', 'paho'))\n"
            "print('LOADED', loaded)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                       env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 0, r.stderr
    assert "LOADED []" in r.stdout, r.stdout


def test_check_config_describes_wyoming_and_mqtt(tmp_path):
    password = tmp_path / "mqtt-password"
    password.write_text("s3cret-Pa55\n")
    config = tmp_path / "config.yaml"
    config.write_text("wyoming:\n  uri: tcp://0.0.0.0:10400\n  max_clients: 3\n"
                      "actions:\n  mqtt:\n    host: broker.lan\n    username: pi\n    password_file: mqtt-password\n"
                      "    client_id: kitchen\n")
    r = wakeword("--config", config, "--check-config", "--no-probe")
    assert r.returncode == 0, r.stderr
    assert "wyoming: tcp://0.0.0.0:10400, at most 3 clients" in r.stdout
    assert "mqtt: broker.lan:1883, no TLS, user pi, topics wakeword/kitchen/..., discovery under homeassistant/" in r.stdout
    assert "s3cret" not in r.stdout + r.stderr
    password.unlink()
    assert_one_line_error(wakeword("--config", config, "--check-config", "--no-probe"),
                          f"actions.mqtt.password_file {password}: cannot read it (No such file or directory)")


def test_wyoming_uri_in_the_config_serves_beside_the_daemon(tmp_path):
    from wakeword.config import load_config
    from wakeword.integrations import start_wyoming_beside

    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"wyoming:\n  uri: tcp://127.0.0.1:{port}\n")
    background = start_wyoming_beside(load_config(config))
    try:
        info, found = asyncio.run(describe_and_stream(f"tcp://{LOOPBACK}:{port}"))
    finally:
        background.stop()
    assert [d.name for d in found] == ["stop", "stop"]
    assert start_wyoming_beside(load_config(None)) is None  # off by default


def test_the_daemon_serves_wyoming_beside_its_microphone_and_stops_it_with_itself(tmp_path, monkeypatch, capsys):
    """run_daemon with wyoming.uri set: the service listens while the daemon runs (its capture is
    replaced here: this machine has no microphone) and is gone once the daemon has stopped; a pin
    that cannot be opened stops the service too."""
    from wakeword import cli
    from wakeword.daemon import Daemon

    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(f"wyoming:\n  uri: tcp://127.0.0.1:{port}\nactions:\n  led:\n    pin: null\n")
    seen = {}

    def wait_while_a_client_streams(self, **kwargs):
        seen["info"], seen["found"] = asyncio.run(describe_and_stream(f"tcp://{LOOPBACK}:{port}"))
        return True  # ended: the capture thread finished

    monkeypatch.setattr(Daemon, "start", lambda self: None)
    monkeypatch.setattr(Daemon, "wait", wait_while_a_client_streams)
    monkeypatch.setattr(cli.signal, "signal", lambda *args: None)
    assert cli.main(["--config", str(config)]) == 0
    assert [d.name for d in seen["found"]] == ["stop", "stop"]
    with socket.socket() as s:
        s.bind((LOOPBACK, port))  # the service let go of its port

    config.write_text(f"wyoming:\n  uri: tcp://127.0.0.1:{port}\nactions:\n  led:\n    pin: 27\n")
    monkeypatch.setattr(cli, "_setup_logging", lambda *a, **k: None)
    from gpiozero import Device
    from gpiozero.pins.mock import MockFactory

    factory = MockFactory()
    factory.pin(27)  # taken: gpiozero refuses a second device on it
    from gpiozero import LED

    holder = LED(27, pin_factory=factory)
    monkeypatch.setattr(Device, "pin_factory", factory)
    try:
        assert cli.main(["--config", str(config)]) == 2  # the LED pin is busy: one line, exit 2
        assert "GPIO27: cannot open the LED pin" in capsys.readouterr().err
    finally:
        holder.close()
        factory.close()
    with socket.socket() as s:
        s.bind((LOOPBACK, port))
