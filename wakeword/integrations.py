"""The Home Assistant integrations as the command line starts them: the Wyoming service, alone or
beside the daemon, and the --check-config summary of both it and MQTT.

The wyoming and paho packages are imported only here and only when the config uses them, so a
runtime without the [wyoming] or [mqtt] extra never loads them; a missing extra is a
DependencyError naming the pip command (one line, exit status 2).
"""

from __future__ import annotations

import logging

from .config import Config
from .detector import ModelSetup, load_setups

log = logging.getLogger(__name__)


def serve_wyoming_alone(config: Config, setups: list[ModelSetup]) -> None:
    """`wakeword --wyoming-uri URI`: serve until SIGTERM/SIGINT. No microphone, no actions."""
    from .notify import SystemdNotifier
    from .wyoming_server import WyomingService, run_standalone

    service = WyomingService(config.wyoming, setups)
    notifier = SystemdNotifier()
    try:
        run_standalone(service, notifier)
    finally:
        notifier.close()


def start_wyoming_beside(config: Config):
    """wyoming.uri in config.yaml with the daemon: a BackgroundService (already listening), or
    None when wyoming.uri is not set. It loads its own copy of the model: a TFLite interpreter
    must not be shared between the capture thread and the service's thread."""
    if not config.wyoming.enabled:
        return None
    from .wyoming_server import BackgroundService, WyomingService

    setups = load_setups(config)
    background = BackgroundService(WyomingService(config.wyoming, setups))
    background.start()
    return background


def describe_services(config: Config) -> list[str]:
    """Lines for --check-config about Wyoming and MQTT. Checks that each configured one's extra
    is installed and, for MQTT, that its files can be read (DependencyError / ConfigError)."""
    lines = []
    w = config.wyoming
    if w.enabled:
        from . import wyoming_events  # noqa: F401 - raises DependencyError without the [wyoming] extra

        lines.append(f"wyoming: {w.address.uri}, at most {w.max_clients} clients, "
                     f"payloads up to {w.max_payload_bytes} bytes, idle timeout {w.idle_timeout_s:g} s")
    else:
        lines.append("wyoming: off")
    m = config.actions.mqtt
    if m.enabled:
        from .mqtt import check_files, topics_for

        check_files(m)
        topics = topics_for(m)
        tls = f"TLS ({m.ca_file or 'system CAs'})" if m.tls else "no TLS"
        user = f"user {m.username}" if m.username else "no user"
        lines.append(f"mqtt: {m.host}:{m.port}, {tls}, {user}, topics {topics.base}/..., "
                     f"discovery under {m.discovery_prefix}/, queue {m.queue_size} events")
    else:
        lines.append("mqtt: off")
    return lines
