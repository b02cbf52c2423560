"""What native libraries print on stderr (PortAudio, ALSA, TFLite), routed through logging.

PortAudio and alsa-lib write straight to file descriptor 2: a burst of "Expression ... failed"
lines when a device goes away, "ALSA lib ..." lines at every reconnect attempt while it is
missing, and TFLite an "INFO: Created TensorFlow Lite XNNPACK delegate" line for every
interpreter. In the journal that is noise without a timestamp or a source, repeated every few
seconds.

NativeStderr points fd 2 at a pipe and gives Python's own sys.stderr the original descriptor, so
our log lines and tracebacks go out as before. A reader thread turns each native line into a
log record of the "wakeword.native" logger: known noise is dropped, the rest is logged at INFO,
at most LINES_PER_WINDOW lines per WINDOW_S (the others at DEBUG, counted, and the count
reported with the next line that is shown). The pipe's write end is non-blocking: a native
writer can lose a line when the pipe is full, but never stalls (PortAudio writes from its
audio thread).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

log = logging.getLogger("wakeword.native")

#: Native lines that say nothing a user can act on: dropped.
NOISE_LINES = ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)
#: At most this many native lines per window are logged at INFO; the rest go to DEBUG.
LINES_PER_WINDOW = 5
WINDOW_S = 60.0
#: How long restore() waits for the reader to log what is still in the pipe.
DRAIN_TIMEOUT_S = 1.0
READ_CHUNK_BYTES = 4096


class RateLimiter:
    """allow(now_s) -> (shown, suppressed_before): whether a line is shown, and how many lines
    were held back since the last one shown (to report with it)."""

    def __init__(self, per_window: int = LINES_PER_WINDOW, window_s: float = WINDOW_S):
        self.per_window, self.window_s = per_window, window_s
        self._window_start_s: float | None = None
        self._shown = 0
        self._suppressed = 0

    def allow(self, now_s: float) -> tuple[bool, int]:
        if self._window_start_s is None or now_s - self._window_start_s >= self.window_s:
            self._window_start_s, self._shown = now_s, 0
        if self._shown < self.per_window:
            self._shown += 1
            suppressed, self._suppressed = self._suppressed, 0
            return True, suppressed
        self._suppressed += 1
        return False, 0


def handle_line(line: str, limiter: RateLimiter, now_s: float) -> None:
    """Log one native stderr line (without its newline) as the module docstring says."""
    line = line.rstrip()
    if not line or line in NOISE_LINES:
        return
    shown, suppressed = limiter.allow(now_s)
    if not shown:
        log.debug("%s", line)
        return
    held = f" ({suppressed} more native line(s) before this one were logged at debug level only)" if suppressed else ""
    log.info("%s%s", line, held)


class NativeStderr:
    """install() redirects fd 2 through the filter; restore() puts it back and logs what is
    left. Both are no-ops when fd 2 cannot be duplicated (no stderr at all)."""

    def __init__(self, clock_s=time.monotonic):
        self._clock_s = clock_s
        self._saved_fd: int | None = None
        self._read_fd: int | None = None
        self._saved_stderr = None
        self._thread: threading.Thread | None = None
        self._limiter = RateLimiter()

    def install(self) -> None:
        if self._saved_fd is not None:
            return
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError, AttributeError):
            return
        read_fd, write_fd = os.pipe()
        os.set_blocking(write_fd, False)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self._saved_fd, self._read_fd = saved, read_fd
        self._saved_stderr = sys.stderr
        # Python's stderr keeps the real descriptor; line-buffered like the console's
        sys.stderr = open(saved, "w", buffering=1, encoding=getattr(sys.stderr, "encoding", None) or "utf-8",
                          errors="backslashreplace", closefd=False)
        self._thread = threading.Thread(target=self._read, name="wakeword-native-stderr", daemon=True)
        self._thread.start()

    def restore(self, timeout_s: float = DRAIN_TIMEOUT_S) -> None:
        if self._saved_fd is None:
            return
        os.dup2(self._saved_fd, 2)  # the pipe's last write end closes: the reader sees its end
        if self._thread is not None:
            self._thread.join(timeout_s)
        sys.stderr.flush()
        sys.stderr = self._saved_stderr
        os.close(self._saved_fd)
        self._saved_fd = None

    def _read(self) -> None:
        pending = b""
        while True:
            try:
                chunk = os.read(self._read_fd, READ_CHUNK_BYTES)
            except OSError:
                break
            if not chunk:
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for raw in lines:
                self._log(raw)
        if pending:
            self._log(pending)
        os.close(self._read_fd)

    def _log(self, raw: bytes) -> None:
        try:
            handle_line(raw.decode(errors="replace"), self._limiter, self._clock_s())
        except Exception:  # noqa: BLE001 - a logging failure must not end the reader (the pipe would fill)
            pass


def run_filtered(main, argv=None) -> int:
    """main(argv) with native stderr filtered: for command-line tools that build interpreters
    (wakeword-train, the evaluation) and print their own one-line errors. Native lines that are
    not noise still reach the terminal, through a plain handler when logging is not set up."""
    if not logging.getLogger().handlers and not log.handlers:
        handler = logging.StreamHandler()  # resolves sys.stderr when it writes: the real fd 2
        handler.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
    native = NativeStderr()
    native.install()
    try:
        return main(argv)
    finally:
        native.restore()
