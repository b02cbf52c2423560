"""MQTT events for Home Assistant, through paho-mqtt (the [mqtt] extra).

At every connection: Home Assistant discovery config (retained) for an `event` entity per keyword
and a `sensor` counting detections, all tied to one device and to an availability topic whose
last-will says "offline" if the process dies without saying goodbye. On each detection, from the
action worker: the same JSON as the event log line on `<base>/event/<keyword>`, then the new
count on `<base>/detections` (retained), where <base> is topic_prefix/client_id.

If the broker goes away, detection goes on: paho reconnects on its own network thread, events
wait in a bounded queue (actions.mqtt.queue_size; past it the oldest is dropped) and are sent,
in order, once it is back. Drops, and events the broker never acknowledged by shutdown, are
counted and logged. The password comes only from actions.mqtt.password_file and goes nowhere
but to paho.

Threads: publish_detection() runs on the action worker, the callbacks on paho's thread. paho
calls on_publish while holding its own message lock, so our state lock is never held while
calling into paho; a second lock keeps queued events ahead of new ones after a reconnect.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .errors import ConfigError, DependencyError
from .settings import MqttSettings
from .textfile import read_text_file

MQTT_INSTALL_HINT = "pip install 'wakeword[mqtt]'"

try:
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
except ImportError as exc:
    raise DependencyError(f"actions.mqtt needs the paho-mqtt package ({exc}); {MQTT_INSTALL_HINT}") from None

log = logging.getLogger(__name__)

#: At least once: an event must survive a dropped connection (paho resends unacknowledged ones).
QOS = 1
AVAILABLE = "online"
NOT_AVAILABLE = "offline"
EVENT_TYPE = "detection"
#: paho's reconnect backoff: first retry after the minimum, doubling up to the maximum.
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
#: close(): how long to wait for the broker to acknowledge what was sent.
CLOSE_TIMEOUT_S = 5.0
#: Home Assistant's event entity needs an "event_type" key; this maps the log line's "event"
#: to it, so the payload stays the same JSON as the log line, and the rest become attributes.
EVENT_VALUE_TEMPLATE = (
    '{"event_type": "{{ value_json.event }}", "keyword": "{{ value_json.keyword }}", '
    '"time_s": {{ value_json.time_s }}, "score": {{ value_json.score }}, '
    '"wall_time": "{{ value_json.wall_time }}"}'
)
_NOT_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def _topic_id(name: str) -> str:
    """A keyword or host name as one topic level / Home Assistant object id."""
    return _NOT_ID_CHARS.sub("_", name) or "_"


def default_client_id() -> str:
    return "wakeword-" + _NOT_ID_CHARS.sub("-", socket.gethostname().split(".")[0] or "host")


@dataclass(frozen=True)
class Topics:
    """Where everything is published. base = topic_prefix/client_id."""

    client_id: str
    base: str
    discovery_prefix: str

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def count(self) -> str:
        return f"{self.base}/detections"

    def event(self, keyword: str) -> str:
        return f"{self.base}/event/{_topic_id(keyword)}"

    def event_config(self, keyword: str) -> str:
        return f"{self.discovery_prefix}/event/{self.client_id}/{_topic_id(keyword)}/config"

    @property
    def count_config(self) -> str:
        return f"{self.discovery_prefix}/sensor/{self.client_id}/detections/config"


def topics_for(settings: MqttSettings) -> Topics:
    client_id = settings.client_id or default_client_id()
    return Topics(client_id, f"{settings.topic_prefix}/{client_id}", settings.discovery_prefix)


#: A password file holds one line; anything larger is not one.
MAX_PASSWORD_FILE_BYTES = 64 * 1024


def read_password(path: Path) -> str:
    """The password file's first line (a trailing newline is not part of it); ConfigError naming
    the key and the file, never the content, if it cannot be read or is empty. Read through the
    bounded reader: a FIFO or device there is refused instead of blocking the start."""
    key = "actions.mqtt.password_file"
    try:
        text = read_text_file(path, "password file", ConfigError, limit_bytes=MAX_PASSWORD_FILE_BYTES,
                              missing="cannot read it (No such file or directory)")
    except ConfigError as exc:
        raise ConfigError(f"{key} {exc}") from None
    password = text.split("\n", 1)[0].rstrip("\r")
    if not password:
        raise ConfigError(f"{key} {path}: the first line is empty")
    return password


def check_files(settings: MqttSettings) -> None:
    """ConfigError if the password file or the CA file cannot be read (the password is not kept)."""
    if settings.password_file is not None:
        read_password(settings.password_file)
    if settings.ca_file is not None:
        if not Path(settings.ca_file).is_file():
            raise ConfigError(f"actions.mqtt.ca_file {settings.ca_file}: no such file")
        try:  # what paho's tls_set does with it when the daemon starts
            ssl.create_default_context(cafile=str(settings.ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"actions.mqtt.ca_file {settings.ca_file}: cannot use it ({exc})") from None


def discovery_messages(topics: Topics, keywords) -> list[tuple[str, str]]:
    """(topic, JSON payload) of Home Assistant's discovery config: the detection-count sensor and
    one event entity per keyword, on one device, all with the availability topic."""
    device = {"identifiers": [topics.client_id], "name": topics.client_id, "model": "wakeword",
              "manufacturer": "wakeword", "sw_version": __version__}
    common = {"availability_topic": topics.availability, "payload_available": AVAILABLE,
              "payload_not_available": NOT_AVAILABLE, "qos": QOS, "device": device,
              "origin": {"name": "wakeword", "sw_version": __version__}}
    messages = [(topics.count_config, json.dumps({
        "name": "Detections", "unique_id": f"{topics.client_id}_detections", "state_topic": topics.count,
        "state_class": "total_increasing", "icon": "mdi:counter", **common}))]
    for keyword in keywords:
        messages.append((topics.event_config(keyword), json.dumps({
            "name": keyword.replace("_", " "), "unique_id": f"{topics.client_id}_{_topic_id(keyword)}",
            "state_topic": topics.event(keyword), "event_types": [EVENT_TYPE],
            "value_template": EVENT_VALUE_TEMPLATE, "icon": "mdi:account-voice", **common})))
    return messages


class MqttPublisher:
    """Publishes detections to an MQTT broker; see the module docstring.

    keywords: those to announce at connection (others are announced on their first detection).
    start() raises ConfigError for an unreadable password or CA file; nothing after it raises.
    """

    def __init__(self, settings: MqttSettings, keywords=()):
        self.settings = settings
        self.topics = topics_for(settings)
        self._keywords = list(dict.fromkeys(keywords))
        self._lock = threading.Lock()  # state below; never held while calling paho
        self._delivered = threading.Condition(self._lock)
        self._order = threading.Lock()  # held while events are handed to paho
        self._connected = False
        self._closing = False
        self._queue: deque = deque()  # (keyword, payload) waiting for a connection
        self._unacked: set[int] = set()  # mids of events the broker has not acknowledged
        # mids acknowledged that were not (yet) in _unacked: an event acknowledged before
        # publish() returned its mid, or a discovery/state message. Emptied at each event.
        self._recent_acks: set[int] = set()
        self._counts = dict.fromkeys(("detections", "sent", "lost", "connections"), 0)
        self._lost_reported = 0
        self._outage_logged = False
        self._refusal_logged: str | None = None
        self._client = None

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def stats(self) -> dict:
        """detections seen, events sent (acknowledged by the broker), queued now, lost,
        connections made, and whether it is connected now."""
        with self._lock:
            return {**self._counts, "queued": len(self._queue), "connected": self._connected}

    def start(self) -> None:
        s = self.settings
        password = read_password(s.password_file) if s.password_file is not None else None
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.topics.client_id,
                             protocol=paho.MQTTv311, clean_session=True)
        if s.username is not None:
            client.username_pw_set(s.username, password)
        if s.tls:
            try:
                client.tls_set(ca_certs=None if s.ca_file is None else str(s.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"actions.mqtt.ca_file {s.ca_file}: cannot use it ({exc})") from None
        client.will_set(self.topics.availability, NOT_AVAILABLE, qos=QOS, retain=True)
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        # paho's own messages (at DEBUG: packets sent, never the password) go to our log, and an
        # exception in a callback is logged there instead of ending paho's network thread
        client.enable_logger(logging.getLogger(f"{__name__}.paho"))
        client.suppress_exceptions = True
        self._client = client
        # connect_async: the first connection is made on paho's thread, so a broker that is down
        # at start-up delays nothing; events queue until it is up.
        client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        client.loop_start()
        log.info("MQTT: connecting to %s as %s (%s), topics under %s/", self.where, self.topics.client_id,
                 "TLS" if s.tls else "no TLS", self.topics.base)

    def publish_detection(self, keyword: str, payload: str) -> None:
        """Publish one detection's JSON (the log line) and the new count; queue it while the broker
        is unreachable. Called from the action worker; never blocks on the network."""
        with self._order:
            with self._lock:
                self._counts["detections"] += 1
                count = self._counts["detections"]
                if not self._connected:
                    self._enqueue(keyword, payload)
                    return
            client = self._client
            self._send_event(client, keyword, payload)
            client.publish(self.topics.count, str(count), qos=QOS, retain=True)

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Say "offline", wait up to timeout_s for the broker to acknowledge what was sent, count
        what was not as lost, and disconnect (a clean disconnect, so the last-will is not sent)."""
        client = self._client
        if client is None:
            return
        self._client = None
        deadline = time.monotonic() + timeout_s
        with self._lock:
            self._closing = True
            connected = self._connected
        goodbye = client.publish(self.topics.availability, NOT_AVAILABLE, qos=QOS, retain=True) if connected else None
        with self._delivered:
            while self._unacked and connected and time.monotonic() < deadline:
                self._delivered.wait(deadline - time.monotonic())
            lost_now = len(self._unacked) + len(self._queue)
            self._counts["lost"] += lost_now
            self._queue.clear()
        if lost_now:
            log.warning("MQTT: %d event(s) were not delivered to %s before shutdown", lost_now, self.where)
        if goodbye is not None:
            # acknowledged before DISCONNECT: disconnecting while paho's thread still writes the
            # goodbye could lose the DISCONNECT, and the broker then sends the last-will as well
            try:
                goodbye.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError):
                pass  # the connection went away meanwhile; the last-will says the same
        client.disconnect()
        client.loop_stop()
        s = self.stats
        log.info("MQTT: %d detection(s), %d event(s) delivered, %d lost, %d connection(s)",
                 s["detections"], s["sent"], s["lost"], s["connections"])

    # -- internals (the lock notes say which thread) ------------------------------------------

    def _enqueue(self, keyword: str, payload: str) -> None:
        """With self._lock held: queue an event, dropping (and counting) the oldest past the bound."""
        if len(self._queue) >= self.settings.queue_size:
            self._queue.popleft()
            self._counts["lost"] += 1
            log.warning("MQTT: %s unreachable and %d events queued (actions.mqtt.queue_size): "
                        "dropped the oldest; %d lost in all", self.where, self.settings.queue_size,
                        self._counts["lost"])
        self._queue.append((keyword, payload))

    def _send_event(self, client, keyword: str, payload: str) -> None:
        """With self._order held, self._lock not held: hand one event to paho."""
        if keyword not in self._keywords:
            self._keywords.append(keyword)
            for topic, config in discovery_messages(self.topics, [keyword])[1:]:
                client.publish(topic, config, qos=QOS, retain=True)
        # If the connection dropped just now, paho keeps the message and resends it on reconnect.
        mid = client.publish(self.topics.event(keyword), payload, qos=QOS).mid
        with self._lock:
            if mid in self._recent_acks:
                self._counts["sent"] += 1
            else:
                self._unacked.add(mid)
            # Only one event is handed to paho at a time (self._order), so every other mid in
            # here belongs to a message that is not an event.
            self._recent_acks.clear()

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        """paho's thread: announce, say "online", then send what queued up, in order."""
        if reason_code.is_failure:
            reason = str(reason_code)
            if self._refusal_logged != reason:
                self._refusal_logged = reason
                log.error("MQTT: %s refused the connection: %s (check actions.mqtt.username and "
                          "password_file); retrying", self.where, reason)
            return
        self._refusal_logged = None
        with self._order:
            for topic, config in discovery_messages(self.topics, self._keywords):
                client.publish(topic, config, qos=QOS, retain=True)
            client.publish(self.topics.availability, AVAILABLE, qos=QOS, retain=True)
            with self._lock:
                self._counts["connections"] += 1
                count = self._counts["detections"]
                pending = list(self._queue)
                self._queue.clear()
                self._connected = True
                lost_since = self._counts["lost"] - self._lost_reported
                self._lost_reported = self._counts["lost"]
                self._outage_logged = False
            client.publish(self.topics.count, str(count), qos=QOS, retain=True)
            for keyword, payload in pending:
                self._send_event(client, keyword, payload)
        if pending or lost_since:
            log.warning("MQTT: connected to %s; sent %d queued event(s), %d lost while it was unreachable",
                        self.where, len(pending), lost_since)
        else:
            log.info("MQTT: connected to %s", self.where)

    def _on_connect_fail(self, client, userdata) -> None:
        self._log_outage("cannot connect")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        with self._lock:
            was_connected, self._connected = self._connected, False
            closing = self._closing
        if was_connected and not closing:
            self._log_outage(f"lost the connection ({reason_code})")

    def _log_outage(self, what: str) -> None:
        with self._lock:
            if self._outage_logged or self._closing:
                return
            self._outage_logged = True
        log.warning("MQTT: %s to %s; retrying, and up to %d events wait for it (actions.mqtt.queue_size)",
                    what, self.where, self.settings.queue_size)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        """paho's thread, with paho's message lock held: count an acknowledged event."""
        with self._delivered:
            if mid in self._unacked:
                self._unacked.discard(mid)
                self._counts["sent"] += 1
                self._delivered.notify_all()
            else:
                self._recent_acks.add(mid)
