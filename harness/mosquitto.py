"""A real Mosquitto broker for tests, and a paho-mqtt subscriber that records what it receives.

Each Broker gets its own config and persistence files in a test's tmp_path, listens on a
loopback port picked for it, and is stopped by its pid: nothing is shared with other brokers
or the system's own.
"""

from __future__ import annotations

import getpass
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from harness.loopback import LOOPBACK, free_port, wait_listening

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 20.0
WAIT_TIMEOUT_S = 30.0


def have_mosquitto() -> bool:
    return Path(MOSQUITTO).is_file()


class Broker:
    """mosquitto on 127.0.0.1:port. users: {name: password} requires a login (via
    mosquitto_passwd); tls: (ca, cert, key) paths make the listener TLS-only; persistence keeps
    sessions and queued messages across stop()/start() in this broker's folder."""

    def __init__(self, folder: Path, users: dict | None = None, tls=None, persistence: bool = False):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        lines = [f"user {getpass.getuser()}", f"listener {self.port} {LOOPBACK}",
                 f"log_dest file {self.folder / 'mosquitto.log'}", "log_type all"]
        if users:
            passwd = self.folder / "passwd"
            for i, (name, password) in enumerate(users.items()):
                subprocess.run(["mosquitto_passwd", "-b", *(["-c"] if i == 0 else []), str(passwd), name, password],
                               check=True, capture_output=True, timeout=30)
            lines += ["allow_anonymous false", f"password_file {passwd}"]
        else:
            lines.append("allow_anonymous true")
        if tls is not None:
            ca, cert, key = tls
            lines += [f"cafile {ca}", f"certfile {cert}", f"keyfile {key}"]
        lines.append("persistence true" if persistence else "persistence false")
        if persistence:
            lines.append(f"persistence_location {self.folder}/")
        self.config = self.folder / "mosquitto.conf"
        self.config.write_text("\n".join(lines) + "\n")

    def start(self) -> "Broker":
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        wait_listening(self.port, START_TIMEOUT_S, alive=lambda: self.proc.poll() is None)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT_S)
        self.proc = None

    def log(self) -> str:
        path = self.folder / "mosquitto.log"
        return path.read_text(errors="replace") if path.exists() else ""


@dataclass
class Message:
    topic: str
    payload: str
    retain: bool


class Subscriber:
    """A paho client subscribed to `topics` (QoS 1) that records every message. persistent: a
    session the broker keeps (clean_session false), so messages published while this client or
    the broker is down reach it once both are back."""

    def __init__(self, broker: Broker, topics=("#",), client_id: str = "test-subscriber",
                 persistent: bool = False, tls_ca=None, credentials=None):
        import paho.mqtt.client as paho
        from paho.mqtt.enums import CallbackAPIVersion

        self.messages: list[Message] = []
        self._changed = threading.Condition()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311,
                                  clean_session=not persistent)
        if credentials:
            self.client.username_pw_set(*credentials)
        if tls_ca is not None:
            self.client.tls_set(ca_certs=str(tls_ca))
        self.client.reconnect_delay_set(1, 2)
        self._topics = list(topics)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(LOOPBACK, broker.port, keepalive=30)
        self.client.loop_start()
        assert self._subscribed.wait(WAIT_TIMEOUT_S), "the test subscriber could not subscribe"

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        client.subscribe([(t, 1) for t in self._topics])

    def _on_message(self, client, userdata, msg):
        with self._changed:
            self.messages.append(Message(msg.topic, msg.payload.decode(), bool(msg.retain)))
            self._changed.notify_all()

    def on(self, topic: str) -> list[Message]:
        with self._changed:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, predicate, what: str, timeout_s: float = WAIT_TIMEOUT_S):
        """Wait until predicate(self) is truthy; return its value."""
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while True:
                value = predicate(self)
                if value:
                    return value
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; got "
                                         f"{[(m.topic, m.payload[:80]) for m in self.messages]}")
                self._changed.wait(min(remaining_s, 0.2))

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
