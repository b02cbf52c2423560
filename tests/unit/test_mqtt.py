"""wakeword.mqtt without a broker: topics, discovery payloads and the password file."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("paho.mqtt")

from wakeword.errors import ConfigError  # noqa: E402
from wakeword.mqtt import check_files, default_client_id, discovery_messages, read_password, topics_for  # noqa: E402
from wakeword.settings import MqttSettings  # noqa: E402


def test_topics_live_under_prefix_and_client_id_and_discovery_under_its_prefix():
    t = topics_for(MqttSettings(host="b", topic_prefix="home/voice", client_id="kitchen", discovery_prefix="ha"))
    assert (t.availability, t.count, t.event("hey jarvis")) == (
        "home/voice/kitchen/availability", "home/voice/kitchen/detections", "home/voice/kitchen/event/hey_jarvis")
    assert t.event_config("stop") == "ha/event/kitchen/stop/config"
    assert t.count_config == "ha/sensor/kitchen/detections/config"


def test_the_default_client_id_is_the_host_name_made_topic_safe(monkeypatch):
    monkeypatch.setattr("socket.gethostname", lambda: "my pi.local")
    assert default_client_id() == "wakeword-my-pi"
    assert topics_for(MqttSettings(host="b")).base == "wakeword/wakeword-my-pi"


def test_discovery_has_a_sensor_and_one_event_entity_per_keyword_on_one_device():
    t = topics_for(MqttSettings(host="b", client_id="pi"))
    messages = dict(discovery_messages(t, ["stop", "go"]))
    assert set(messages) == {t.count_config, t.event_config("stop"), t.event_config("go")}
    configs = [json.loads(p) for p in messages.values()]
    assert len({c["unique_id"] for c in configs}) == 3
    assert all(c["device"]["identifiers"] == ["pi"] and c["availability_topic"] == t.availability for c in configs)
    assert json.loads(messages[t.event_config("go")])["state_topic"] == t.event("go")


def test_the_password_is_the_first_line_and_a_bad_file_is_named_without_its_content(tmp_path):
    f = tmp_path / "pw"
    f.write_text(" with spaces \r\nsecond line\n")
    assert read_password(f) == " with spaces "
    f.write_text("\n")
    with pytest.raises(ConfigError, match=r"actions.mqtt.password_file .*pw: the first line is empty"):
        read_password(f)
    f.write_bytes(b"\xff\xfe hunter2")
    with pytest.raises(ConfigError, match=r"actions.mqtt.password_file .*pw: not a text file \(not UTF-8\)") as err:
        read_password(f)
    assert "hunter2" not in str(err.value)
    with pytest.raises(ConfigError, match="cannot read it"):
        read_password(tmp_path / "missing")


def test_a_fifo_or_a_huge_file_as_password_file_is_refused_without_blocking(tmp_path):
    import os
    import threading

    fifo = tmp_path / "pw-fifo"
    os.mkfifo(fifo)
    outcome = []

    def read():
        try:
            read_password(fifo)
        except ConfigError as exc:
            outcome.append(str(exc))

    reader = threading.Thread(target=read, daemon=True)  # opening a FIFO with no writer blocks
    reader.start()
    reader.join(5)
    if reader.is_alive():  # release the blocked open() so the test ends
        with open(fifo, "w"):
            pass
        pytest.fail("reading a FIFO as the password file blocked")
    assert outcome and outcome[0].startswith(f"actions.mqtt.password_file {fifo}: not a regular file")
    big = tmp_path / "pw-big"
    big.write_bytes(b"x" * (1 << 20))
    with pytest.raises(ConfigError, match=r"actions.mqtt.password_file .*pw-big: 1048576 bytes, too large"):
        read_password(big)


def test_check_files_loads_the_ca_file_as_the_daemon_will(tmp_path):
    # --check-config runs this: a file that exists but holds no certificate passed it, and the
    # daemon then refused to start
    not_a_ca = tmp_path / "passwd"
    not_a_ca.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ConfigError, match=r"actions.mqtt.ca_file .*passwd: cannot use it \(.*"):
        check_files(MqttSettings(host="b", tls=True, ca_file=not_a_ca))
    with pytest.raises(ConfigError, match="no such file"):
        check_files(MqttSettings(host="b", tls=True, ca_file=tmp_path / "missing.pem"))
    system_ca = next((p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
                      if __import__("os").path.isfile(p)), None)
    if system_ca is not None:  # a real bundle passes
        check_files(MqttSettings(host="b", tls=True, ca_file=system_ca))
