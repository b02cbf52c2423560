"""The Wyoming wake service over a real TCP socket, with the wyoming package's own client classes.

The service runs in this process (BackgroundService, its own thread and event loop), so tests
can read its counters and log; the client side is wyoming.client.AsyncClient. The detections
are compared with `wakeword --dry-run --json` on the same audio, written to WAV files at 16,
44.1 and 48 kHz (resampled here with scipy, not with the runtime's resampler), stereo, and at
8, 24 and 32 bits, and streamed in chunks of several sizes.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import re
import socket
import time
import wave
import weakref
from dataclasses import replace
from math import gcd

import numpy as np
import pytest
from scipy.signal import resample_poly

from tests.conftest import DATA, ROOT, read_wav
from tests.integration.test_cli import wakeword
from harness.loopback import LOOPBACK, free_port
from tests.wavfile import write_wav

pytest.importorskip("wyoming")

from wyoming.audio import AudioChunk, AudioStart, AudioStop  # noqa: E402
from wyoming.client import AsyncClient  # noqa: E402
from wyoming.info import Describe, Info  # noqa: E402
from wyoming.ping import Ping, Pong  # noqa: E402
from wyoming.wake import Detect, Detection, NotDetected  # noqa: E402

from wakeword import __version__  # noqa: E402
from wakeword.config import load_config  # noqa: E402
from wakeword.detector import ModelSetup  # noqa: E402
from wakeword.errors import ConfigError  # noqa: E402
from wakeword.settings import WyomingSettings  # noqa: E402
from wakeword.wyoming_server import BackgroundService, WyomingService  # noqa: E402

READ_TIMEOUT_S = 30.0
WAIT_TIMEOUT_S = 10.0
CLIPS = ["mixed_stop.wav", "stop_1f653d27.wav", "stop_1fe4c891.wav", "stop_3f170018.wav", "go_0bac8a71.wav"]
#: (rate Hz, WAV encoding, channels) of each variant, and the chunk sizes (frames) streamed
VARIANTS = [
    (16000, "pcm16", 1, (160, 1024, 7919)),
    (44100, "pcm16", 1, (441, 1024, 4410)),
    (48000, "pcm16", 1, (480, 1024, 9600)),
    (48000, "pcm16", 2, (1024,)),
    (16000, "pcm8", 1, (1024,)),
    (16000, "pcm24", 1, (1024,)),
    (22050, "pcm32", 1, (1000,)),
]
WIDTH_OF = {"pcm8": 1, "pcm16": 2, "pcm24": 3, "pcm32": 4}
DETECTED_LOG = re.compile(r"detected '(\w+)' at ([\d.]+) s of its audio \(score ([\d.]+)\)")


# ------------------------------------------------------------------------------ helpers


def wav_pcm(path) -> tuple[bytes, int, int, int]:
    """A PCM WAV's data as Wyoming sends it (signed), with rate, width and channels."""
    with wave.open(str(path), "rb") as w:
        raw, rate, width, channels = w.readframes(w.getnframes()), w.getframerate(), w.getsampwidth(), w.getnchannels()
    if width == 1:  # WAV's 8-bit PCM is unsigned; Wyoming's (audioop's) is signed
        raw = (np.frombuffer(raw, np.uint8).astype(np.int16) - 128).astype(np.int8).tobytes()
    return raw, rate, width, channels


async def _collect_until_pong(client: AsyncClient) -> list:
    """Events up to the pong that answers our ping: the service handles a connection's events in
    order, so everything the audio before the ping produced has arrived by then."""
    await client.write_event(Ping(text="end").event())
    events = []
    while True:
        event = await asyncio.wait_for(client.read_event(), READ_TIMEOUT_S)
        assert event is not None, "the service closed the connection"
        if Pong.is_type(event.type):
            return events
        events.append(event)


async def stream(uri: str, raw: bytes, rate: int, width: int, channels: int, chunk_frames: int,
                 names=None, start=True, stop=True, client=None) -> list:
    """Stream one clip (detect, audio-start, chunks, audio-stop) and return the events it got."""
    async def run(c):
        if names is not None:
            await c.write_event(Detect(names=names).event())
        if start:
            await c.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        step = chunk_frames * width * channels
        for i in range(0, len(raw), step):
            await c.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=raw[i:i + step]).event())
        if stop:
            await c.write_event(AudioStop().event())
        return await _collect_until_pong(c)

    if client is not None:
        return await run(client)
    async with AsyncClient.from_uri(uri) as c:
        return await run(c)


def detections_of(events) -> list[tuple[str, int]]:
    return [(Detection.from_event(e).name, Detection.from_event(e).timestamp) for e in events if Detection.is_type(e.type)]


def wait_until(predicate, what: str, timeout_s: float = WAIT_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.01)


@pytest.fixture(scope="module")
def setups(shipped_model):
    config = load_config(None)
    return [ModelSetup.configured(shipped_model, config.trigger)]


@pytest.fixture
def serve(setups):
    """serve(**WyomingSettings fields) -> a started WyomingService on a free loopback port."""
    running = []

    def start(**settings):
        uri = settings.pop("uri", None) or f"tcp://{LOOPBACK}:{free_port()}"
        service = WyomingService(WyomingSettings(uri=uri, **settings), setups)
        background = BackgroundService(service)
        background.start()
        running.append(background)
        return service

    yield start
    for background in running:
        background.stop()


# ------------------------------------------------------------------------------ the same detections


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    """{(clip, rate, encoding, channels): WAV path} for every variant of every clip."""
    folder = tmp_path_factory.mktemp("variants")
    out = {}
    for clip in CLIPS:
        x, rate0 = read_wav(DATA / clip)
        for rate, encoding, channels, _ in VARIANTS:
            g = gcd(rate, rate0)
            y = resample_poly(x.astype(np.float64), rate // g, rate0 // g) if rate != rate0 else x.astype(np.float64)
            if channels == 2:  # the left channel a little quieter: the mixdown is then not a copy
                y = np.stack([0.8 * y, y], axis=1)
            path = folder / f"{clip[:-4]}-{rate}-{encoding}-{channels}ch.wav"
            write_wav(path, np.clip(y, -1, 1 - 2**-15), rate, encoding)
            out[(clip, rate, encoding, channels)] = path
    return out


@pytest.fixture(scope="module")
def dry_run_of(variants):
    """{WAV path: [(keyword, time_ms, score)]} from one `wakeword --dry-run --json` over them all."""
    r = wakeword("--dry-run", *variants.values(), "--json", timeout=300)
    assert r.returncode == 0, r.stderr
    found = {p: [] for p in variants.values()}
    for line in r.stdout.splitlines():
        d = json.loads(line)
        found[next(p for p in variants.values() if str(p) == d["file"])].append(
            (d["keyword"], round(d["time_s"] * 1000), f"{d['score']:.4f}"))
    assert sum(map(len, found.values())) >= 2 * len(VARIANTS), found  # the variants do fire
    return found


@pytest.mark.parametrize("rate, encoding, channels, chunks", VARIANTS,
                         ids=[f"{r}Hz-{e}-{c}ch" for r, e, c, _ in VARIANTS])
def test_detections_equal_the_dry_runs_at_every_rate_width_and_chunk_size(
        serve, variants, dry_run_of, caplog, rate, encoding, channels, chunks):
    service = serve()
    caplog.set_level(logging.INFO, logger="wakeword.wyoming_server")

    async def run_all():
        results = {}
        async with AsyncClient.from_uri(service.uri) as client:  # one connection, many streams
            for clip in CLIPS:
                raw, r, width, ch = wav_pcm(variants[(clip, rate, encoding, channels)])
                assert (r, width, ch) == (rate, WIDTH_OF[encoding], channels)
                for chunk_frames in chunks:
                    caplog.clear()
                    events = await stream(service.uri, raw, rate, width, ch, chunk_frames, client=client)
                    logged = [(m[1], m[3]) for m in map(DETECTED_LOG.search, caplog.messages) if m]
                    results[(clip, chunk_frames)] = (events, logged)
        return results

    for (clip, chunk_frames), (events, logged) in asyncio.run(run_all()).items():
        expected = dry_run_of[variants[(clip, rate, encoding, channels)]]
        got = detections_of(events)
        where = f"{clip} at {rate} Hz {encoding} {channels} ch in {chunk_frames}-frame chunks"
        assert [kw for kw, _ in got] == [kw for kw, _, _ in expected], where
        # timestamps: ms of the client's audio, from its first sample (dry-run time_s has 1 ms steps)
        assert all(abs(ts - ms) <= 1 for (_, ts), (_, ms, _) in zip(got, expected)), (where, got, expected)
        assert [score for _, score in logged] == [score for _, _, score in expected], where
        not_detected = [e for e in events if NotDetected.is_type(e.type)]
        assert len(not_detected) == (0 if expected else 1), where


def test_chunks_without_audio_start_are_a_stream_from_their_first_sample(serve, dry_run_of, variants):
    # wyoming-satellite streams audio-chunks and never sends audio-start or audio-stop
    service = serve()
    path = variants[("mixed_stop.wav", 16000, "pcm16", 1)]
    raw, rate, width, channels = wav_pcm(path)
    events = asyncio.run(stream(service.uri, raw, rate, width, channels, 1024, names=[], start=False, stop=False))
    expected = [(kw, ms) for kw, ms, _ in dry_run_of[path]]
    assert len(expected) == 2  # both stops lie well inside the file, so no trailing pad is needed
    got = detections_of(events)
    assert [kw for kw, _ in got] == [kw for kw, _ in expected]
    assert all(abs(a[1] - b[1]) <= 1 for a, b in zip(got, expected)), (got, expected)


def test_detect_starts_a_new_stream_whose_timestamps_count_from_its_first_chunk(serve, dry_run_of, variants):
    # as wyoming-satellite does after each conversation: detect, then chunks again, no audio-start
    service = serve()
    path = variants[("mixed_stop.wav", 44100, "pcm16", 1)]
    raw, rate, width, channels = wav_pcm(path)
    expected = [(kw, ms) for kw, ms, _ in dry_run_of[path]]

    async def twice():
        async with AsyncClient.from_uri(service.uri) as c:
            first = await stream(service.uri, raw[:3 * rate * width], rate, width, channels, 1024,
                                 names=[], start=False, stop=False, client=c)
            second = await stream(service.uri, raw, rate, width, channels, 1024, names=[], start=False, stop=False,
                                  client=c)
            return first, second

    first, second = asyncio.run(twice())
    assert detections_of(first) == []  # its first 3 s: the first stop ends at 4.6 s
    got = detections_of(second)
    assert [kw for kw, _ in got] == [kw for kw, _ in expected]
    assert all(abs(a[1] - b[1]) <= 1 for a, b in zip(got, expected)), (got, expected)
    assert service.stats.streams == 2


def test_detect_names_choose_the_keywords_and_unknown_ones_are_logged(serve, variants, caplog):
    service = serve()
    raw, rate, width, channels = wav_pcm(variants[("mixed_stop.wav", 16000, "pcm16", 1)])
    wanted = asyncio.run(stream(service.uri, raw, rate, width, channels, 1024, names=["stop"]))
    assert [name for name, _ in detections_of(wanted)] == ["stop", "stop"]
    caplog.set_level(logging.WARNING)
    other = asyncio.run(stream(service.uri, raw, rate, width, channels, 1024, names=["ok_nabu"]))
    assert detections_of(other) == [] and [e.type for e in other] == ["not-detected"]
    assert any("asked for 'ok_nabu', which no loaded model has (they have: stop)" in m for m in caplog.messages)


def test_several_clients_at_once_each_get_their_own_detections(serve, variants):
    service = serve()
    clips = [variants[("mixed_stop.wav", 48000, "pcm16", 1)], variants[("go_0bac8a71.wav", 44100, "pcm16", 1)],
             variants[("stop_1fe4c891.wav", 16000, "pcm16", 1)]]

    async def together():
        return await asyncio.gather(*(stream(service.uri, *wav_pcm(p), 512) for p in clips))

    mixed, go, stop = asyncio.run(together())
    assert [n for n, _ in detections_of(mixed)] == ["stop", "stop"]
    assert detections_of(go) == [] and any(NotDetected.is_type(e.type) for e in go)
    assert [n for n, _ in detections_of(stop)] == ["stop"]
    assert service.stats.streams == 3


# ------------------------------------------------------------------------------ describe


def test_describe_lists_the_models_keywords_phrase_languages_attribution_and_version(serve):
    service = serve(languages=["en", "de"])

    async def describe():
        async with AsyncClient.from_uri(service.uri) as c:
            await c.write_event(Describe().event())
            return await asyncio.wait_for(c.read_event(), READ_TIMEOUT_S)

    event = asyncio.run(describe())
    assert Info.is_type(event.type)
    (program,) = Info.from_event(event).wake
    assert program.name == "wakeword" and program.installed and program.version == __version__
    assert program.attribution.name == "wakeword"
    (model,) = program.models
    assert model.name == "stop" and model.phrase == "stop" and model.installed
    assert model.languages == ["en", "de"]
    sidecar = json.loads((ROOT / "models" / "stop.json").read_text())
    assert model.version == sidecar["name"] and "stop.tflite" in model.description  # the sidecar's name is its version


# ------------------------------------------------------------------------------ limits and bad input


def raw_exchange(uri_port: int, data: bytes, timeout_s: float = READ_TIMEOUT_S) -> bytes:
    """Send raw bytes; return everything the service sent until it closed the connection."""
    with socket.create_connection((LOOPBACK, uri_port), timeout=timeout_s) as s:
        s.sendall(data)
        received = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return received
            received += chunk


def header(event_type: str, data=None, **lengths) -> bytes:
    h = {"type": event_type, **({"data": data} if data is not None else {}), **lengths}
    return json.dumps(h).encode() + b"\n"


CHUNK = {"rate": 16000, "width": 2, "channels": 1}
LIMIT = 4096
MALFORMED = {
    "not JSON": (b"this is not json\n", "an event header that is not JSON"),
    "a JSON list": (b"[1, 2]\n", "an event header that is a JSON list, not an object"),
    "no type": (b'{"data": {}}\n', 'an event header without a "type"'),
    "data not an object": (header("describe", [1]), "event 'describe' whose data is not a JSON object"),
    "payload too large": (header("audio-chunk", CHUNK, payload_length=LIMIT + 1),
                          f"event 'audio-chunk' with {LIMIT + 1} bytes of payload, more than wyoming.max_payload_bytes ({LIMIT})"),
    "data too large": (header("detect", None, data_length=LIMIT + 1),
                       f"event 'detect' with {LIMIT + 1} bytes of data, more than wyoming.max_payload_bytes"),
    "length not a number": (header("audio-chunk", CHUNK, payload_length="lots"),
                            "event 'audio-chunk' with payload_length 'lots' (not a byte count)"),
    "header line too long": (b'{"type": "' + b"x" * 70000, "an event header longer than 65536 bytes"),
    "extra data not JSON": (header("detect", None, data_length=5) + b"{nope", "event 'detect' whose data is not JSON"),
    "width 5": (header("audio-chunk", {**CHUNK, "width": 5}, payload_length=10) + b"\0" * 10,
                "event 'audio-chunk' with width 5 (expected 1, 2, 3, 4 bytes per sample)"),
    "rate a string": (header("audio-start", {**CHUNK, "rate": "fast"}), "event 'audio-start' with rate 'fast'"),
    "no channels": (header("audio-start", {"rate": 16000, "width": 2}), "event 'audio-start' with channels None"),
    "half a frame": (header("audio-chunk", CHUNK, payload_length=3) + b"\0\0\0",
                     "event 'audio-chunk' whose payload is malformed: 3 bytes are not a whole number of 2-byte"),
    "format changes mid-stream": (header("audio-start", CHUNK) + header("audio-chunk", {**CHUNK, "rate": 48000}, payload_length=2) + b"\0\0",
                                  "event 'audio-chunk' in 48000 Hz, 16-bit, 1 ch inside a stream started in 16000 Hz, 16-bit, 1 ch"),
    "names not a list": (header("detect", {"names": "stop"}), "event 'detect' whose names are not a list of strings"),
    "closed mid-event": (header("audio-chunk", CHUNK, payload_length=100) + b"\0" * 10,
                         "event 'audio-chunk' cut short: the connection closed in the middle of it"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_or_oversized_events_are_logged_and_close_only_that_connection(serve, caplog, name):
    service = serve(max_payload_bytes=LIMIT)
    port = service.address.port
    data, problem = MALFORMED[name]
    caplog.set_level(logging.WARNING, logger="wakeword.wyoming_server")
    if name == "closed mid-event":
        with socket.create_connection((LOOPBACK, port), timeout=READ_TIMEOUT_S) as s:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
    else:
        reply = raw_exchange(port, data)
        first = json.loads(reply.split(b"\n", 1)[0])  # the error event, sent before closing
        assert first["type"] == "error", reply[:200]
    wait_until(lambda: service.stats.protocol_errors == 1, "the protocol error to be counted")
    assert any(problem in m and "closing the connection" in m for m in caplog.messages), caplog.messages
    wait_until(lambda: not service.clients, "the connection to be released")
    # the service is unharmed: the next client is served
    assert Info.is_type(asyncio.run(_describe(service.uri)).type)


async def _describe(uri: str):
    async with AsyncClient.from_uri(uri) as c:
        await c.write_event(Describe().event())
        return await asyncio.wait_for(c.read_event(), READ_TIMEOUT_S)


def test_a_client_past_max_clients_is_refused_and_the_others_are_served(serve, caplog):
    service = serve(max_clients=2)
    caplog.set_level(logging.WARNING, logger="wakeword.wyoming_server")
    first, second = (socket.create_connection((LOOPBACK, service.address.port)) for _ in range(2))
    try:
        wait_until(lambda: len(service.clients) == 2, "two clients to be admitted")
        reply = raw_exchange(service.address.port, header("describe"))
        error = json.loads(reply.split(b"\n", 1)[0])
        assert error["type"] == "error" and b'"code": "busy"' in reply, reply
        assert b'"info"' not in reply
        assert service.stats.refused == 1
        assert any("already serving 2 client(s) (wyoming.max_clients)" in m for m in caplog.messages)
    finally:
        first.close()
    wait_until(lambda: len(service.clients) == 1, "the first client to be released")
    assert Info.is_type(asyncio.run(_describe(service.uri)).type)  # a place is free again
    second.close()


def test_a_client_that_disconnects_mid_stream_frees_its_state(serve, variants, caplog):
    service = serve()
    caplog.set_level(logging.INFO, logger="wakeword.wyoming_server")
    raw, rate, width, channels = wav_pcm(variants[("mixed_stop.wav", 48000, "pcm16", 1)])
    refs = []

    async def half_a_stream():
        c = AsyncClient.from_uri(service.uri)
        await c.connect()
        await c.write_event(AudioStart(rate=rate, width=width, channels=channels).event())
        half = len(raw) // 2 // 2 * 2
        await c.write_event(AudioChunk(rate=rate, width=width, channels=channels, audio=raw[:half]).event())
        await _collect_until_pong(c)  # the chunk has been processed
        (handler,) = service.clients
        refs.append(weakref.ref(handler.stream.framed.pipeline))
        refs.append(weakref.ref(handler))
        await c.disconnect()  # no audio-stop

    asyncio.run(half_a_stream())
    wait_until(lambda: not service.clients, "the handler to be released")
    gc.collect()
    assert all(ref() is None for ref in refs), "the stream's pipeline is still referenced"
    seconds = len(raw) // 2 // 2 * 2 / (width * channels) / rate
    assert any(f"disconnected in the middle of a stream ({seconds:.1f} s of audio); its state is freed" in m
               for m in caplog.messages), caplog.messages


def test_an_idle_connection_is_closed_after_idle_timeout(serve, caplog):
    service = serve(idle_timeout_s=1)
    caplog.set_level(logging.INFO, logger="wakeword.wyoming_server")
    with socket.create_connection((LOOPBACK, service.address.port), timeout=READ_TIMEOUT_S) as s:
        assert s.recv(65536) == b""  # closed by the service, not by us
    assert service.stats.idle_closed == 1
    assert any("sent nothing for 1 s (wyoming.idle_timeout_s)" in m for m in caplog.messages)


def test_a_unix_socket_serves_too_and_a_file_in_its_place_is_left_alone(serve, tmp_path, setups):
    path = tmp_path / "wyoming.sock"
    service = serve(uri=f"unix://{path}")

    async def describe_unix():
        async with AsyncClient.from_uri(f"unix://{path}") as c:
            await c.write_event(Describe().event())
            return await asyncio.wait_for(c.read_event(), READ_TIMEOUT_S)

    assert Info.is_type(asyncio.run(describe_unix()).type)
    precious = tmp_path / "notes.txt"
    precious.write_text("keep me")
    other = BackgroundService(WyomingService(WyomingSettings(uri=f"unix://{precious}"), setups))
    with pytest.raises(ConfigError, match="the path exists and is not a socket; refusing to replace it"):
        other.start()
    assert precious.read_text() == "keep me"
    busy = BackgroundService(WyomingService(WyomingSettings(uri=f"unix://{path}"), setups))
    with pytest.raises(ConfigError, match="another process is already listening on that socket"):
        busy.start()
    assert service.clients is not None and path.exists()


def test_a_port_in_use_is_a_config_error_naming_the_uri(serve, setups):
    service = serve()
    twin = BackgroundService(WyomingService(replace(service.settings), setups))
    with pytest.raises(ConfigError, match=rf"wyoming.uri {service.uri}: cannot listen \(.*address already in use"):
        twin.start()
