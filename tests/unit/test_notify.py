"""wakeword.notify: the sd_notify datagrams, received on a real AF_UNIX socket."""

from __future__ import annotations

import logging
import os
import socket
import uuid

import pytest

from wakeword.notify import SystemdNotifier

RECV_TIMEOUT_S = 5.0


def _receiver(address) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(RECV_TIMEOUT_S)
    return sock


def _assert_nothing_pending(sock: socket.socket) -> None:
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


@pytest.fixture
def notify_socket(tmp_path):
    path = tmp_path / "notify.sock"
    sock = _receiver(str(path))
    yield str(path), sock
    sock.close()


class FakeClock:
    def __init__(self):
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_ready_status_and_stopping_are_sent_as_datagrams(notify_socket):
    path, sock = notify_socket
    notifier = SystemdNotifier(env={"NOTIFY_SOCKET": path})
    assert notifier.enabled

    assert notifier.ready()
    assert sock.recv(4096) == b"READY=1"
    assert notifier.status("listening on\nUSB mic")
    assert sock.recv(4096) == b"STATUS=listening on USB mic"  # a newline would start a new key
    assert notifier.ready(status="up")
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"
    assert notifier.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    notifier.close()


def test_watchdog_is_rate_limited_to_half_of_watchdog_usec(notify_socket):
    path, sock = notify_socket
    clock = FakeClock()
    notifier = SystemdNotifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000"}, clock_s=clock)
    assert notifier.watchdog_timeout_s == 30.0
    assert notifier.watchdog_interval_s == 15.0

    assert notifier.watchdog()
    clock.now_s += 10.0
    assert not notifier.watchdog()
    clock.now_s += 5.0
    assert notifier.watchdog()

    assert sock.recv(4096) == b"WATCHDOG=1"
    assert sock.recv(4096) == b"WATCHDOG=1"
    _assert_nothing_pending(sock)


def test_watchdog_is_off_without_watchdog_usec(notify_socket):
    path, sock = notify_socket
    notifier = SystemdNotifier(env={"NOTIFY_SOCKET": path})
    assert notifier.watchdog_interval_s is None
    assert not notifier.watchdog()
    _assert_nothing_pending(sock)


def test_watchdog_meant_for_another_pid_is_ignored(notify_socket):
    path, _ = notify_socket
    notifier = SystemdNotifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "30000000",
                                    "WATCHDOG_PID": str(os.getpid() + 1)})
    assert notifier.watchdog_interval_s is None
    mine = SystemdNotifier(env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "2000000",
                                "WATCHDOG_PID": str(os.getpid())})
    assert mine.watchdog_interval_s == 1.0


def test_everything_is_a_noop_without_notify_socket():
    notifier = SystemdNotifier(env={"WATCHDOG_USEC": "30000000"})
    assert not notifier.enabled
    assert not notifier.ready()
    assert not notifier.status("x")
    assert not notifier.watchdog()
    assert not notifier.stopping()


def test_abstract_namespace_socket_address():
    name = f"wakeword-test-{os.getpid()}-{uuid.uuid4().hex}"
    sock = _receiver(b"\0" + name.encode())
    try:
        notifier = SystemdNotifier(env={"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_send_failure_is_logged_once_and_never_raised(tmp_path, caplog):
    notifier = SystemdNotifier(env={"NOTIFY_SOCKET": str(tmp_path / "nobody-listens.sock")})
    with caplog.at_level(logging.DEBUG, logger="wakeword.notify"):
        assert not notifier.ready()
        assert not notifier.status("x")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "cannot notify systemd" in warnings[0].getMessage()


def test_a_full_notify_socket_drops_messages_instead_of_blocking(tmp_path):
    # nobody reads the socket: its queue fills, and sends must fail fast, not block the caller
    import threading

    path = tmp_path / "full"
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(str(path))
    try:
        notifier = SystemdNotifier(env={"NOTIFY_SOCKET": str(path)})
        done = threading.Event()
        results = []

        def flood():
            for _ in range(5000):
                results.append(notifier.status("x" * 200))
            done.set()

        threading.Thread(target=flood, daemon=True).start()
        assert done.wait(10), "a send blocked on a full notify socket"
        assert results[0] is True and results[-1] is False
    finally:
        receiver.close()
