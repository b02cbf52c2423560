"""MQTT events against a real Mosquitto broker (Debian's `mosquitto`) with a paho-mqtt subscriber:
Home Assistant discovery, availability and its last-will on a kill, events from
`wakeword --dry-run --with-actions`, a broker restart, logins from a password file, and TLS."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from tests.conftest import DATA, ROOT
from tests.integration.test_cli import assert_one_line_error, wakeword
from harness.mosquitto import Broker, Subscriber, have_mosquitto

pytest.importorskip("paho.mqtt")
if not have_mosquitto():
    pytest.skip("mosquitto is not installed (apt-get install mosquitto)", allow_module_level=True)

from wakeword.actions import ActionRunner  # noqa: E402
from wakeword.mqtt import EVENT_VALUE_TEMPLATE  # noqa: E402
from wakeword.settings import ActionSettings, LedSettings, MqttSettings  # noqa: E402
from wakeword.trigger import Detection  # noqa: E402

CLIENT_ID = "testpi"
BASE = f"wakeword/{CLIENT_ID}"
WAIT_TIMEOUT_S = 30.0
#: paho's reconnect backoff can reach RECONNECT_MAX_DELAY_S (30 s) before the broker is back
RECONNECT_TIMEOUT_S = 75.0
PASSWORD = "c0rrect-h0rse"


def detection(i: int) -> Detection:
    return Detection("stop", 0.99, 16000 * (i + 1), 16000)


def mqtt_config(tmp_path, broker: Broker, **mqtt) -> "os.PathLike":
    lines = ["    host: 127.0.0.1", f"    port: {broker.port}", f"    client_id: {CLIENT_ID}"]
    lines += [f"    {k}: {json.dumps(str(v) if isinstance(v, os.PathLike) else v)}" for k, v in mqtt.items()]
    path = tmp_path / "config.yaml"
    path.write_text("actions:\n  led:\n    pin: null\n  mqtt:\n" + "\n".join(lines) + "\n")
    return path


def runner_for(broker: Broker, stdout=None, **mqtt) -> ActionRunner:
    settings = ActionSettings(led=LedSettings(pin=None),
                              mqtt=MqttSettings(host="127.0.0.1", port=broker.port, client_id=CLIENT_ID, **mqtt))
    runner = ActionRunner(settings, stdout=stdout or io.StringIO(), keywords=["stop"])
    runner.start()
    return runner


@pytest.fixture
def broker(tmp_path):
    b = Broker(tmp_path / "broker").start()
    yield b
    b.stop()


def test_a_dry_run_with_actions_publishes_discovery_availability_and_the_log_lines(tmp_path, broker):
    sub = Subscriber(broker, topics=("homeassistant/#", "wakeword/#"))
    try:
        r = wakeword("--config", mqtt_config(tmp_path, broker), "--dry-run", DATA / "mixed_stop.wav", "--with-actions")
        assert r.returncode == 0, r.stderr
        log_lines = [line for line in r.stdout.splitlines() if line.startswith('{"event": "detection"')]
        assert len(log_lines) == 2, r.stdout
        events = sub.wait_for(lambda s: len(s.on(f"{BASE}/event/stop")) == 2 and s.on(f"{BASE}/event/stop"),
                              "two detection events")
        # the same JSON as the log line, byte for byte, in order
        assert [m.payload for m in events] == log_lines
        sub.wait_for(lambda s: [m.payload for m in s.on(f"{BASE}/availability")] == ["online", "offline"],
                     "online at start and offline at the end")
        assert [m.payload for m in sub.on(f"{BASE}/detections")] == ["0", "1", "2"]
        event_config = json.loads(sub.on(f"homeassistant/event/{CLIENT_ID}/stop/config")[0].payload)
        sensor_config = json.loads(sub.on(f"homeassistant/sensor/{CLIENT_ID}/detections/config")[0].payload)
    finally:
        sub.close()
    assert event_config["state_topic"] == f"{BASE}/event/stop" and event_config["event_types"] == ["detection"]
    assert sensor_config["state_topic"] == f"{BASE}/detections" and sensor_config["state_class"] == "total_increasing"
    for config in (event_config, sensor_config):
        assert config["availability_topic"] == f"{BASE}/availability"
        assert config["device"]["identifiers"] == [CLIENT_ID] and config["unique_id"].startswith(CLIENT_ID)
    assert event_config["unique_id"] != sensor_config["unique_id"]
    # Home Assistant's event entity needs "event_type": the template maps the log line's keys
    assert set(re.findall(r"value_json\.(\w+)", EVENT_VALUE_TEMPLATE)) == set(json.loads(log_lines[0]))

    # Home Assistant started later still finds the device: discovery, state and count are retained
    late = Subscriber(broker, topics=("homeassistant/#", "wakeword/#"), client_id="late")
    try:
        late.wait_for(lambda s: len(s.messages) >= 4, "the retained messages")
        retained = {m.topic: m.payload for m in late.messages if m.retain}
    finally:
        late.close()
    assert retained[f"{BASE}/availability"] == "offline" and retained[f"{BASE}/detections"] == "2"
    assert f"homeassistant/event/{CLIENT_ID}/stop/config" in retained
    assert f"{BASE}/event/stop" not in retained  # an event is not a state


KILLABLE = """
import sys, time
from wakeword.actions import ActionRunner
from wakeword.settings import ActionSettings, LedSettings, MqttSettings
runner = ActionRunner(ActionSettings(led=LedSettings(pin=None), mqtt=MqttSettings(
    host="127.0.0.1", port=int(sys.argv[1]), client_id=sys.argv[2])), keywords=["stop"])
runner.start()
print("started", flush=True)
time.sleep(120)
"""


def test_the_last_will_marks_the_device_offline_when_the_process_is_killed(broker):
    sub = Subscriber(broker, topics=(f"{BASE}/availability",))
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, str(broker.port), CLIENT_ID], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE, text=True)
    try:
        sub.wait_for(lambda s: [m.payload for m in s.on(f"{BASE}/availability")] == ["online"], "online")
        proc.send_signal(signal.SIGKILL)  # no goodbye: only the broker's last-will can say it
        proc.wait(WAIT_TIMEOUT_S)
        sub.wait_for(lambda s: [m.payload for m in s.on(f"{BASE}/availability")] == ["online", "offline"],
                     "the last-will")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT_TIMEOUT_S)
        sub.close()


def test_events_queue_while_the_broker_is_away_and_arrive_in_order_after_a_restart(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="wakeword.mqtt")
    broker = Broker(tmp_path / "broker", persistence=True).start()
    # a persistent session, as Home Assistant's would be: the restarted broker keeps it
    sub = Subscriber(broker, topics=(f"{BASE}/event/stop",), client_id="ha-like", persistent=True)
    runner = runner_for(broker, queue_size=3)
    try:
        runner.submit(detection(0))
        sub.wait_for(lambda s: len(s.on(f"{BASE}/event/stop")) == 1, "the first event")
        broker.stop()
        sub.wait_for(lambda s: not runner.mqtt_stats["connected"], "the publisher to notice", WAIT_TIMEOUT_S)
        for i in range(1, 6):
            runner.submit(detection(i))
        assert runner.wait_idle(WAIT_TIMEOUT_S)
        # detection and the other actions went on: the worker handled all six
        assert runner.stats["fired"] == 6
        assert runner.mqtt_stats["queued"] == 3 and runner.mqtt_stats["lost"] == 2
        assert sum("dropped the oldest" in m for m in caplog.messages) == 2
        broker.start()
        events = sub.wait_for(lambda s: len(s.on(f"{BASE}/event/stop")) == 4 and s.on(f"{BASE}/event/stop"),
                              "the three queued events after the restart", RECONNECT_TIMEOUT_S)
        # the oldest two were dropped; the three kept arrive in order
        assert [json.loads(m.payload)["time_s"] for m in events] == [1.0, 4.0, 5.0, 6.0]
        assert any("sent 3 queued event(s), 2 lost while it was unreachable" in m for m in caplog.messages)
        assert runner.wait_idle(WAIT_TIMEOUT_S)
    finally:
        runner.close()
        sub.close()
        broker.stop()
    stats = runner.mqtt_stats
    assert stats["sent"] == 4 and stats["lost"] == 2 and stats["detections"] == 6 and stats["connections"] == 2


def test_a_login_uses_the_password_file_and_the_password_is_never_printed(tmp_path):
    broker = Broker(tmp_path / "broker", users={"pi": PASSWORD}).start()
    password_file = tmp_path / "mqtt-password"
    password_file.write_text(PASSWORD + "\n")
    sub = Subscriber(broker, topics=(f"{BASE}/#",), credentials=("pi", PASSWORD))
    try:
        config = mqtt_config(tmp_path, broker, username="pi", password_file=password_file)
        r = wakeword("--config", config, "--dry-run", DATA / "mixed_stop.wav", "--with-actions", "--debug")
        assert r.returncode == 0, r.stderr
        sub.wait_for(lambda s: len(s.on(f"{BASE}/event/stop")) == 2, "two events from the logged-in client")
        assert PASSWORD not in r.stdout + r.stderr
        # a wrong password: refused and logged; detection and the log line still work
        password_file.write_text("wrong\n")
        r = wakeword("--config", config, "--dry-run", DATA / "mixed_stop.wav", "--with-actions")
        assert r.returncode == 0, r.stderr
        assert "refused the connection: Not authorized" in r.stderr, r.stderr
        assert "2 event(s) were not delivered" in r.stderr
        assert r.stdout.count('"event": "detection"') == 2
        assert len(sub.on(f"{BASE}/event/stop")) == 2  # none from the refused run
    finally:
        sub.close()
        broker.stop()


def test_a_missing_password_file_is_one_line_and_exit_status_2(tmp_path, broker):
    missing = tmp_path / "nope"
    config = mqtt_config(tmp_path, broker, username="pi", password_file=missing)
    r = wakeword("--config", config, "--dry-run", DATA / "go_0bac8a71.wav", "--with-actions")
    assert_one_line_error(r, f"actions.mqtt.password_file {missing}: cannot read it")


@pytest.fixture
def certificates(tmp_path):
    """A CA and a broker certificate for 127.0.0.1 and localhost that it signed, via openssl."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tmp_path / "tls"
    d.mkdir()

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=d, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test CA",
        "-keyout", "ca.key", "-out", "ca.pem")
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-keyout", "broker.key", "-out", "broker.csr")
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
        "-extfile", "san.ext", "-out", "broker.pem")
    return d / "ca.pem", d / "broker.pem", d / "broker.key"


def test_tls_checks_the_broker_against_ca_file(tmp_path, certificates, caplog):
    ca, cert, key = certificates
    broker = Broker(tmp_path / "broker", tls=(ca, cert, key)).start()
    sub = Subscriber(broker, topics=(f"{BASE}/event/stop",), tls_ca=ca)
    try:
        runner = runner_for(broker, tls=True, ca_file=ca)
        runner.submit(detection(0))
        sub.wait_for(lambda s: len(s.on(f"{BASE}/event/stop")) == 1, "an event over TLS")
        runner.close()
        # with the system's CAs, which never signed this broker, it does not connect; nothing breaks
        caplog.set_level(logging.WARNING, logger="wakeword.mqtt")
        untrusted = runner_for(broker, tls=True)
        untrusted.submit(detection(1))
        assert untrusted.wait_idle(WAIT_TIMEOUT_S) and untrusted.stats["fired"] == 1
        untrusted.close(timeout_s=1.0)
        assert untrusted.mqtt_stats["sent"] == 0 and untrusted.mqtt_stats["lost"] == 1
        assert len(sub.on(f"{BASE}/event/stop")) == 1
    finally:
        sub.close()
        broker.stop()
