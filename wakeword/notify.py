"""systemd readiness, status and watchdog through the NOTIFY_SOCKET protocol, no extra package.

systemd passes the path of an AF_UNIX datagram socket in $NOTIFY_SOCKET ("@name" for the
abstract namespace) and, with WatchdogSec=, the watchdog timeout in $WATCHDOG_USEC. Each
message is one datagram of newline-separated KEY=VALUE assignments (sd_notify(3)). Outside
systemd NOTIFY_SOCKET is unset and every method does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Callable, Mapping

log = logging.getLogger(__name__)

# Ping at half the watchdog timeout, as sd_watchdog_enabled(3) recommends, so one late ping
# does not get the daemon killed.
WATCHDOG_PING_FRACTION = 0.5


class SystemdNotifier:
    """Sends READY=1, WATCHDOG=1, STATUS=... and STOPPING=1 to systemd.

    env: the environment to read (default os.environ); clock_s: a monotonic clock in seconds
    (tests may pass a fake). Send failures are logged once and never raised. Thread-safe.
    """

    def __init__(self, env: Mapping[str, str] | None = None, clock_s: Callable[[], float] = time.monotonic):
        env = os.environ if env is None else env
        self._clock_s = clock_s
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._failed = False
        self._last_ping_s: float | None = None
        self._address = _parse_address(env.get("NOTIFY_SOCKET", ""))
        self._watchdog_timeout_s = _parse_watchdog_usec(env)

    @property
    def enabled(self) -> bool:
        """True when NOTIFY_SOCKET names a socket we can speak to."""
        return self._address is not None

    @property
    def watchdog_timeout_s(self) -> float | None:
        """The watchdog timeout systemd enforces (WatchdogSec=), in seconds; None if unset."""
        return self._watchdog_timeout_s

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to call watchdog(), in seconds: half of WATCHDOG_USEC; None if unset."""
        if self._watchdog_timeout_s is None:
            return None
        return self._watchdog_timeout_s * WATCHDOG_PING_FRACTION

    def ready(self, status: str | None = None) -> bool:
        """Tell systemd start-up is done (Type=notify waits for this). Returns True if sent."""
        return self._send("READY=1" + (f"\nSTATUS={_one_line(status)}" if status else ""))

    def status(self, text: str) -> bool:
        """Set the one-line status shown by `systemctl status`. Returns True if sent."""
        return self._send(f"STATUS={_one_line(text)}")

    def stopping(self) -> bool:
        """Tell systemd we are shutting down. Returns True if sent."""
        return self._send("STOPPING=1")

    def watchdog(self) -> bool:
        """Send WATCHDOG=1 if at least watchdog_interval_s has passed since the last one, so it
        can be called from a loop that runs every block. Call it only while the audio path is
        healthy: the point is that systemd restarts a daemon that has stopped listening.
        A no-op when the watchdog is not enabled. Returns True if sent."""
        interval_s = self.watchdog_interval_s
        if interval_s is None or self._address is None:
            return False
        now_s = self._clock_s()
        with self._lock:
            if self._last_ping_s is not None and now_s - self._last_ping_s < interval_s:
                return False
            self._last_ping_s = now_s
        return self._send("WATCHDOG=1")

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _send(self, message: str) -> bool:
        if self._address is None:
            return False
        with self._lock:
            try:
                if self._sock is None:
                    # Non-blocking: the watchdog is fed from the capture loop, and a datagram
                    # sendto blocks while the receiver's queue is full. A slow reader must cost
                    # a dropped notification, never a stalled detector.
                    self._sock = socket.socket(
                        socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
                    )
                self._sock.sendto(message.encode(), self._address)
                return True
            except OSError as exc:
                if not self._failed:
                    self._failed = True
                    log.warning("cannot notify systemd at %r (%s); further failures are not logged",
                                _printable(self._address), exc)
                else:
                    log.debug("systemd notification %r failed: %s", message, exc)
                return False


def _parse_address(value: str) -> str | bytes | None:
    """NOTIFY_SOCKET -> an AF_UNIX address for sendto, or None if unset or not AF_UNIX."""
    if not value:
        return None
    if value.startswith("@"):
        # Linux abstract namespace: a leading NUL byte instead of the "@".
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    # Newer systemd may pass vsock: addresses (in VMs); not needed on a Pi.
    log.warning("NOTIFY_SOCKET=%r is not an AF_UNIX path; systemd notifications are off", value)
    return None


def _parse_watchdog_usec(env: Mapping[str, str]) -> float | None:
    """WATCHDOG_USEC in seconds, or None if unset, invalid, or meant for another process."""
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    # WATCHDOG_PID, when set, says which process the watchdog is for (sd_watchdog_enabled(3)):
    # a child that inherited the variables must not think it is being watched.
    pid = env.get("WATCHDOG_PID")
    if pid and pid != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not an integer; ignoring the watchdog", usec)
        return None
    return value / 1e6 if value > 0 else None


def _one_line(text: str) -> str:
    # A newline would start a new KEY=VALUE assignment.
    return " ".join(str(text).splitlines())


def _printable(address: str | bytes) -> str:
    return "@" + address[1:].decode(errors="replace") if isinstance(address, bytes) else address
