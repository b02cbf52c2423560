"""Per-chunk latency of the Wyoming wake service with several clients streaming in real time.

(Not bench/wyoming.py: run as a script, that name would shadow the wyoming package it imports.)

    python bench/wyoming_latency.py [--clients 4] [--seconds 60] [--chunk-ms 64] [--rates 16000,44100,48000,16000]
                            [--model PATH]

Starts `wakeword --wyoming-uri` as its own process (as a user runs it), then N clients (the
wyoming package's AsyncClient) each stream tests/data/mixed_stop.wav, looped and resampled to
its rate, at real-time pace, with chunk starts spread over one chunk period (satellites are not
in step). After every chunk a client sends a `ping`; the service handles a connection's events
in order, so the `pong` comes back once that chunk has gone through the pipeline. The latency
of a chunk is the time from just before it is written to the pong, on this machine's monotonic
clock: it includes the socket, the service's event loop shared by all clients, decoding,
resampling, features, the model and the trigger. Prints percentiles and the service's CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wyoming.audio import AudioChunk, AudioStart  # noqa: E402
from wyoming.client import AsyncClient  # noqa: E402
from wyoming.ping import Ping, Pong  # noqa: E402
from wyoming.wake import Detect, Detection  # noqa: E402

from harness.loopback import LOOPBACK, free_port, wait_listening  # noqa: E402
from harness.measure import cpu_s  # noqa: E402
from wakeword.detector import to_float_mono  # noqa: E402
from wakeword.resample import resample_signal  # noqa: E402
from wakeword.settings import INT16_FULL_SCALE  # noqa: E402
from wakeword.wavfile import WavFileSource  # noqa: E402

CLIP = ROOT / "tests" / "data" / "mixed_stop.wav"
START_TIMEOUT_S = 60.0
PERCENTILES = (50, 90, 99)
READ_TIMEOUT_S = 10.0


def clip_at(rate_hz: int) -> bytes:
    source = WavFileSource(CLIP)
    x = resample_signal(to_float_mono(source.read_all()), source.sample_rate_hz, rate_hz)
    return np.clip(np.round(x * INT16_FULL_SCALE), -INT16_FULL_SCALE, INT16_FULL_SCALE - 1).astype("<i2").tobytes()


async def client(uri: str, rate_hz: int, seconds: float, chunk_ms: float, offset_s: float) -> tuple[list, int]:
    """Stream for `seconds` at real time; return (per-chunk latencies in s, detections received)."""
    audio = clip_at(rate_hz)
    frames = int(round(rate_hz * chunk_ms / 1000))
    step = frames * 2
    n_chunks = int(seconds * 1000 / chunk_ms)
    latencies, detections = [], 0
    async with AsyncClient.from_uri(uri) as c:
        await c.write_event(Detect(names=None).event())
        await c.write_event(AudioStart(rate=rate_hz, width=2, channels=1).event())
        await asyncio.sleep(offset_s)
        start = time.perf_counter()
        pos = 0
        for i in range(n_chunks):
            due = start + i * frames / rate_hz
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            piece = audio[pos:pos + step]
            if len(piece) < step:  # loop the clip
                pos = step - len(piece)
                piece += audio[:pos]
            else:
                pos += step
            sent = time.perf_counter()
            await c.write_event(AudioChunk(rate=rate_hz, width=2, channels=1, audio=piece).event())
            await c.write_event(Ping(text=str(i)).event())
            while True:
                event = await asyncio.wait_for(c.read_event(), READ_TIMEOUT_S)
                if event is None:
                    raise RuntimeError("the service closed the connection")
                if Detection.is_type(event.type):
                    detections += 1
                elif Pong.is_type(event.type):
                    latencies.append(time.perf_counter() - sent)
                    break
    return latencies, detections


def compute_only(rates: list, seconds: float, chunk_ms: float, model_path) -> list:
    """The service's own work per chunk, without sockets or scheduling: the same chunks through
    one FramedStream per client in this process, interleaved as the event loop would run them."""
    from wakeword.config import load_config
    from wakeword.detector import FramedStream, ModelSetup, Pipeline
    from wakeword.model import load_model
    from wakeword.pcm import decode

    config = load_config(None)
    model = load_model(Path(model_path) if model_path else config.model.path)
    setups = [ModelSetup.configured(model, config.trigger)]
    streams = []
    for rate in rates:
        framed = FramedStream(Pipeline(setups, rate))
        framed.start()
        frames = int(round(rate * chunk_ms / 1000))
        audio = clip_at(rate)
        chunks = [audio[i:i + frames * 2] for i in range(0, len(audio) - frames * 2 + 1, frames * 2)]
        streams.append((framed, chunks))
    times = []
    for i in range(int(seconds * 1000 / chunk_ms)):
        for framed, chunks in streams:
            t = time.perf_counter()
            framed.feed(decode(chunks[i % len(chunks)], 2, 1))
            times.append(time.perf_counter() - t)
    return times


def report(name: str, latencies_s: list) -> str:
    ms = np.asarray(latencies_s) * 1000
    parts = ", ".join(f"p{p} {np.percentile(ms, p):.2f}" for p in PERCENTILES)
    return f"{name}: {len(ms)} chunks, {parts}, max {ms.max():.2f} ms"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--seconds", type=float, default=60.0, help="audio each client streams, in real time")
    p.add_argument("--chunk-ms", type=float, default=64.0, help="chunk length (64 ms = wyoming-satellite's 1024 samples at 16 kHz)")
    p.add_argument("--rates", default="16000,44100,48000,16000", help="client rates in Hz, cycled over the clients")
    p.add_argument("--model", help="model .tflite for the service (default: the shipped one)")
    args = p.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    load_before = f"{os.getloadavg()[0]:.2f}"
    port = free_port()
    cmd = [sys.executable, "-m", "wakeword", "--wyoming-uri", f"tcp://{LOOPBACK}:{port}"]
    if args.model:
        cmd += ["--model", args.model]
    service = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_listening(port, START_TIMEOUT_S, alive=lambda: service.poll() is None)
        cpu_before = cpu_s(service.pid)
        rng = np.random.default_rng(0)
        offsets = rng.uniform(0, args.chunk_ms / 1000, args.clients)

        async def everyone():
            return await asyncio.gather(*(client(f"tcp://{LOOPBACK}:{port}", rates[i % len(rates)], args.seconds,
                                                 args.chunk_ms, offsets[i]) for i in range(args.clients)))

        wall_start = time.perf_counter()
        results = asyncio.run(everyone())
        wall_s = time.perf_counter() - wall_start
        cpu_used = cpu_s(service.pid) - cpu_before
    finally:
        service.send_signal(signal.SIGTERM)
        _, err = service.communicate(timeout=30)
    print(f"wakeword Wyoming service, {args.clients} clients streaming {args.seconds:g} s each in real time, "
          f"{args.chunk_ms:g} ms chunks, rates {[rates[i % len(rates)] for i in range(args.clients)]} Hz, "
          f"{os.cpu_count()} CPUs")
    for i, (lat, dets) in enumerate(results):
        print("  " + report(f"client {i} ({rates[i % len(rates)]} Hz, {dets} detections)", lat))
    print(report("all clients", [x for lat, _ in results for x in lat]))
    print(f"service CPU: {cpu_used:.2f} s over {wall_s:.1f} s wall ({100 * cpu_used / wall_s:.1f} % of one core); "
          f"load average before/after: {load_before} / {os.getloadavg()[0]:.2f}")
    client_rates = [rates[i % len(rates)] for i in range(args.clients)]
    print(report("compute only (decode + pipeline, in-process, no sockets)",
                 compute_only(client_rates, args.seconds, args.chunk_ms, args.model)))
    if service.returncode != 0:
        print(err, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
