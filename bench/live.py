#!/usr/bin/env python3
"""Live cost: the real daemon as a process, beside a bare sounddevice capture, on one PulseAudio.

    python bench/live.py [--seconds 120] [--rate 44100 --rate 16000] [--block-ms 100 --block-ms 160]
                         [--model models/stop.tflite [--model models/stop-embedding.tflite]]

It starts its own PulseAudio server (harness/pulse.py: a private socket and runtime directory,
nothing else touched), plays speech (the tests/data clips with pauses, as bench/cost.py makes
it) into its null sink, and, for every capture rate and block size, runs at the same time:

  - bare:   a Python process whose sounddevice.InputStream callback only copies each block into
            a preallocated ring (PortAudio's own cost, plus Python's callback);
  - daemon: `python -m wakeword` on the sink's monitor with that audio.sample_rate_hz and
            audio.block_ms, the model given, no GPIO, JSON event lines to a file.

Both capture the same monitor with the same PortAudio parameters. It reports each process's CPU
(utime + stime from /proc/<pid>/stat, all threads) over the playback, as CPU seconds per hour of
audio, measured after both have started and warmed up, so imports and model loading are not
counted (they are reported apart, as the daemon's start-up CPU), and the server's CPU over
the same span (it serves both clients). The ratio daemon / bare is the figure the README quotes.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cost import SECONDS_PER_HOUR, SOURCE_RATE_HZ, bench_audio  # noqa: E402
from harness.measure import cpu_s  # noqa: E402
from harness.pulse import PrivatePulse  # noqa: E402
from wakeword.sidecar import load_sidecar, sidecar_path_for  # noqa: E402
from wakeword.wavfile import write_wav  # noqa: E402

#: After both processes are capturing, this long passes before the measurement starts: the
#: PulseAudio ALSA plugin's first blocks, numpy's and the interpreter's first calls.
WARM_UP_S = 3.0
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0

#: The bare capture: the callback copies into a preallocated ring and nothing else runs.
BARE_CAPTURE = r"""
import sys, threading
import numpy as np
import sounddevice as sd
rate_hz, block_frames = int(sys.argv[1]), int(sys.argv[2])
ring = np.zeros((rate_hz * 5, 1), np.float32)
state = {"pos": 0}
first = threading.Event()
def callback(indata, frames, time_info, status):
    pos = state["pos"]
    if pos + frames > len(ring):
        pos = 0
    ring[pos:pos + frames] = indata
    state["pos"] = pos + frames
    first.set()
with sd.InputStream(device="pulse", samplerate=rate_hz, blocksize=block_frames, channels=1,
                    dtype="float32", callback=callback):
    first.wait()
    print("READY", flush=True)
    threading.Event().wait()  # until SIGTERM
"""


def start_bare(rate_hz: int, block_ms: int) -> subprocess.Popen:
    block_frames = int(round(rate_hz * block_ms / 1000))
    return subprocess.Popen([sys.executable, "-c", BARE_CAPTURE, str(rate_hz), str(block_frames)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def start_daemon(tmp: Path, models: list[Path], rate_hz: int, block_ms: int, notify_path: str, events: Path):
    config = tmp / f"config-{rate_hz}-{block_ms}.yaml"
    # one model as `model:`, several as a `models:` list (one capture, every model on it)
    # (models sharing a keyword each need their own threshold: their sidecars', for this bench)
    which = (f"model: {{path: {str(models[0])!r}}}" if len(models) == 1
             else "models: [" + ", ".join(f"{{path: {str(m)!r}, threshold: {sidecar_threshold(m)}}}" for m in models) + "]")
    config.write_text(f"audio: {{device: pulse, sample_rate_hz: {rate_hz}, block_ms: {block_ms}}}\n"
                      f"{which}\nactions: {{led: {{pin: null}}}}\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NOTIFY_SOCKET": notify_path}
    return subprocess.Popen([sys.executable, "-m", "wakeword", "--config", str(config)], env=env,
                            stdout=open(events, "w"), stderr=subprocess.PIPE, text=True, cwd=ROOT)


def sidecar_threshold(model: Path) -> dict:
    """The model's thresholds as its (validated) sidecar gives them."""
    return dict(load_sidecar(sidecar_path_for(model)).thresholds)


def wait_ready(bare: subprocess.Popen, notify: socket.socket, daemon: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    notify.settimeout(1.0)
    while True:
        if daemon.poll() is not None:
            raise RuntimeError(f"the daemon exited ({daemon.returncode}) before it was ready: {daemon.stderr.read().strip()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the daemon was not ready within {START_TIMEOUT_S:.0f} s")
        try:
            if notify.recv(4096).startswith(b"READY=1"):
                break
        except socket.timeout:
            continue
    line = bare.stdout.readline()
    if line.strip() != "READY":
        raise RuntimeError(f"the bare capture did not start: {line!r} {bare.stderr.read()}")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(server: PrivatePulse, wav: Path, tmp: Path, models: list[Path], rate_hz: int, block_ms: int) -> dict:
    notify_path = str(tmp / f"notify-{rate_hz}-{block_ms}")
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(notify_path)
    events = tmp / f"events-{rate_hz}-{block_ms}.jsonl"
    bare = start_bare(rate_hz, block_ms)
    daemon = start_daemon(tmp, models, rate_hz, block_ms, notify_path, events)
    try:
        wait_ready(bare, notify, daemon)
        time.sleep(WARM_UP_S)
        start_cpu = {"bare": cpu_s(bare.pid), "daemon": cpu_s(daemon.pid), "server": cpu_s(server.pid)}
        started_s = time.monotonic()
        server.play(wav, timeout_s=len_s(wav) * 2 + 60)
        elapsed_s = time.monotonic() - started_s
        end_cpu = {"bare": cpu_s(bare.pid), "daemon": cpu_s(daemon.pid), "server": cpu_s(server.pid)}
    finally:
        stop(bare)
        stop(daemon)
        notify.close()
    err = daemon.stderr.read()
    if daemon.returncode not in (0, -signal.SIGTERM):
        raise RuntimeError(f"the daemon failed ({daemon.returncode}): {err}")
    hours = elapsed_s / SECONDS_PER_HOUR
    per_hour = {k: (end_cpu[k] - start_cpu[k]) / hours for k in end_cpu}
    return {"rate_hz": rate_hz, "block_ms": block_ms, "audio_s": elapsed_s, **per_hour,
            "daemon_start_cpu_s": start_cpu["daemon"], "detections": sum(1 for _ in open(events)),
            "overflows": err.count("input overflow")}


def len_s(wav: Path) -> float:
    from wakeword.wavfile import WavFileSource

    return WavFileSource(wav).duration_s


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="seconds of audio played per configuration (default 120)")
    ap.add_argument("--rate", type=int, action="append", help="capture rate(s) in Hz (default 44100 and 16000)")
    ap.add_argument("--block-ms", type=int, action="append", help="capture block(s) in ms (default 100 and 160)")
    ap.add_argument("--model", type=Path, action="append",
                    help="model (default models/stop.tflite); repeat to run several at once, as a models: list")
    args = ap.parse_args()
    if args.seconds < 10:
        ap.error("--seconds must be at least 10")
    models = [m.resolve() for m in (args.model or [ROOT / "models" / "stop.tflite"])]
    rates = args.rate or [44100, 16000]
    blocks = args.block_ms or [100, 160]
    with tempfile.TemporaryDirectory(prefix="wakeword-bench-live-") as tmp_name:
        tmp = Path(tmp_name)
        wav = write_wav(tmp / "speech.wav", bench_audio(args.seconds / 60.0), SOURCE_RATE_HZ)
        server = PrivatePulse()
        try:
            server.start()
            with server.client_environment():
                print(f"private PulseAudio (pid {server.pid}); {args.seconds:.0f} s of speech per configuration; "
                      f"model {' + '.join(m.name for m in models)}; CPU seconds per hour of audio, after a {WARM_UP_S:.0f} s warm-up")
                print(f"{'rate Hz':>8} {'block':>6} {'bare':>7} {'daemon':>7} {'ratio':>6} {'server':>7} "
                      f"{'daemon start':>12} {'detections':>10}")
                for rate_hz in rates:
                    for block_ms in blocks:
                        r = measure(server, wav, tmp, models, rate_hz, block_ms)
                        print(f"{rate_hz:>8} {block_ms:>4}ms {r['bare']:>7.1f} {r['daemon']:>7.1f} "
                              f"{r['daemon'] / r['bare']:>5.2f}x {r['server']:>7.1f} {r['daemon_start_cpu_s']:>10.2f} s "
                              f"{r['detections']:>10}" + (f"  ({r['overflows']} overflow warnings)" if r["overflows"] else ""),
                              flush=True)
        finally:
            server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
