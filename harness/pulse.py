"""A private PulseAudio server for the live tests and the live benchmark (bench/live.py).

Each PrivatePulse runs its own `pulseaudio` process with a fresh runtime directory, its own
native-protocol socket in it and one null sink whose monitor is the default source. Clients
(PortAudio's `pulse` device through the ALSA plugin, paplay, pactl) reach it through
PULSE_SERVER and the other variables in `client_env`; `client_environment()` puts them into
os.environ for as long as it is active. So a test session:

- never talks to, stops or reconfigures a server it did not start (a desktop's PulseAudio or
  PipeWire keeps running untouched, and its sinks do not matter);
- never lets libpulse autospawn a server (`autospawn = no` in a private client.conf);
- never registers on a D-Bus session bus or writes under ~/.config/pulse;
- does not collide with another session on the same machine (mkdtemp per server).

Stopping, pausing (SIGSTOP) and resuming the server always act on this object's pid.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

#: The null sink every private server has; its monitor is the server's default source.
SINK_NAME = "wakeword_test"
MONITOR_NAME = f"{SINK_NAME}.monitor"
REQUIRED_TOOLS = ("pulseaudio", "pactl", "paplay")
#: Bounds on waits for the server; generous for a loaded 2-core CI machine.
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0
PACTL_TIMEOUT_S = 10.0
POLL_S = 0.05
#: Variables that would send a client elsewhere, or make libpulse read the user's files.
CLIENT_VARIABLES = ("PULSE_SERVER", "PULSE_CLIENTCONFIG", "PULSE_COOKIE", "PULSE_RUNTIME_PATH",
                    "PULSE_STATE_PATH", "PULSE_SINK", "PULSE_SOURCE")


class PulseUnavailable(RuntimeError):
    """The private server cannot run here (a tool is missing, or it did not start)."""


def missing_tools() -> list[str]:
    return [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]


class PrivatePulse:
    """One private PulseAudio server. start() it, use client_environment(), close() it.

    start() and stop() may be called repeatedly (a test takes the "device" away and brings it
    back); the socket path stays the same, so clients reconnect to the new process.
    """

    def __init__(self, prefix: str = "wakeword-pulse-"):
        self.root = Path(tempfile.mkdtemp(prefix=prefix))
        self.socket_path = self.root / "native"
        self.log_path = self.root / "server.log"
        (self.root / "state").mkdir()
        (self.root / "home").mkdir()
        self.client_conf = self.root / "client.conf"
        self.client_conf.write_text("autospawn = no\n")
        self.process: subprocess.Popen | None = None

    # ------------------------------------------------------------------ environment

    @property
    def client_env(self) -> dict[str, str]:
        """What a client needs in its environment to use this server and nothing else."""
        return {
            "PULSE_SERVER": f"unix:{self.socket_path}",
            "PULSE_CLIENTCONFIG": str(self.client_conf),
            "PULSE_COOKIE": str(self.root / "cookie"),
            "PULSE_RUNTIME_PATH": str(self.root),
            "PULSE_STATE_PATH": str(self.root / "state"),
        }

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in CLIENT_VARIABLES}
        env.update(self.client_env)
        # A private home and config dir, an XDG runtime dir inside ours, and no session bus or
        # display: the server must not register itself anywhere a desktop's clients look.
        env.update(HOME=str(self.root / "home"), XDG_CONFIG_HOME=str(self.root / "home" / ".config"),
                   XDG_RUNTIME_DIR=str(self.root), DBUS_SESSION_BUS_ADDRESS=f"unix:path={self.root}/no-dbus")
        for name in ("DISPLAY", "WAYLAND_DISPLAY"):
            env.pop(name, None)
        return env

    @contextmanager
    def client_environment(self):
        """Point os.environ's PulseAudio variables at this server; restore them afterwards."""
        saved = {name: os.environ.get(name) for name in CLIENT_VARIABLES}
        for name in ("PULSE_SINK", "PULSE_SOURCE"):
            os.environ.pop(name, None)
        os.environ.update(self.client_env)
        try:
            yield self
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    # ------------------------------------------------------------------ the process

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start the server and wait until it answers; PulseUnavailable if it does not."""
        if self.running:
            return
        missing = missing_tools()
        if missing:
            raise PulseUnavailable(f"not installed: {', '.join(missing)}")
        command = [
            "pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
            "--system=no", "--high-priority=no", "--realtime=no", "--log-target=stderr",
            f"--load=module-native-protocol-unix socket={self.socket_path} auth-anonymous=1",
            f"--load=module-null-sink sink_name={SINK_NAME}",
        ]
        with open(self.log_path, "ab") as log:
            # its own session: a Ctrl-C in the terminal reaches pytest, which stops it in order
            self.process = subprocess.Popen(command, env=self._server_env(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self.answers():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PulseUnavailable(f"pulseaudio did not start; its log: {self.log_tail()}")
            time.sleep(POLL_S)
        self.pactl("set-default-source", MONITOR_NAME)

    def answers(self) -> bool:
        try:
            return self.pactl("info", check=False).returncode == 0
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        """SIGTERM this server (resuming it first if paused), SIGKILL it if it lingers."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_TIMEOUT_S)

    def pause(self) -> None:
        """SIGSTOP the server: it keeps its sockets but answers nothing (a frozen server)."""
        os.kill(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self.running:
            os.kill(self.process.pid, signal.SIGCONT)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    # ------------------------------------------------------------------ clients

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        env = {**os.environ, **self.client_env}
        return subprocess.run(["pactl", *args], env=env, capture_output=True, text=True,
                              timeout=PACTL_TIMEOUT_S, check=check)

    def play(self, path: Path, timeout_s: float = 60.0, wait: bool = True):
        """paplay a file into the null sink; with wait=False return the Popen."""
        env = {**os.environ, **self.client_env}
        proc = subprocess.Popen(["paplay", "-d", SINK_NAME, str(path)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if not wait:
            return proc
        _, err = proc.communicate(timeout=timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"paplay {path} failed: {err.decode(errors='replace').strip()}")
        return proc
