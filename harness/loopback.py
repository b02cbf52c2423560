"""Loopback ports for tests that start servers: pick a free one, wait until something listens."""

from __future__ import annotations

import socket
import time

LOOPBACK = "127.0.0.1"
POLL_S = 0.05


def free_port() -> int:
    """A TCP port nothing listens on now (the kernel's pick; a server started right after gets it
    unless another process grabs it in between, which the callers' retries or failures show)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def wait_listening(port: int, timeout_s: float, alive=lambda: True) -> None:
    """Return once 127.0.0.1:port accepts a connection; AssertionError after timeout_s, or as soon
    as alive() is false (the server process died)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1.0):
                return
        except OSError:
            pass
        if not alive():
            raise AssertionError(f"the server for port {port} exited before it listened")
        if time.monotonic() > deadline:
            raise AssertionError(f"nothing listened on {LOOPBACK}:{port} within {timeout_s} s")
        time.sleep(POLL_S)
