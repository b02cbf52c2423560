"""The Wyoming wake-word service: Home Assistant and its satellites stream audio, we spot the word.

Built on the wyoming package's AsyncTcpServer/AsyncUnixServer and AsyncEventHandler, as the
other Wyoming wake services are. Each connection gets its own handler; each audio stream in it
its own Pipeline (one resampler and one detector per client, at the client's rate, width and
channel count), framed like a dry-run file (detector.FramedStream):

- `describe` -> `info`: the loaded models, their keywords and phrases, languages, attribution
  and versions;
- `detect`: the keywords wanted for the following audio (none named = every keyword); it ends
  the stream in progress, if any, without the trailing pad;
- `audio-start`: a new stream, which first gets the dry-run's leading window of near-silence;
  an `audio-chunk` without one starts a stream too (wyoming-satellite never sends audio-start);
- `audio-chunk`: PCM bytes through the stream's pipeline; each detection is answered at once
  with `detection`: the keyword, and a timestamp in milliseconds of the client's audio, counted
  from the stream's first sample (client samples / client rate);
- `audio-stop`: the trailing window of near-silence (a word at the very end still fires), then
  `not-detected` if the stream gave no detection; the stream's state is freed;
- `ping` -> `pong`. Other event types are ignored, as the protocol asks.

So a client that streams a clip between audio-start and audio-stop gets exactly the detections
`wakeword --dry-run` reports for that clip. Detections go back to the client only: the audio is
not from this device's microphone, so they do not fire its actions.

Limits: at most wyoming.max_clients connections; an oversized or malformed event, or
wyoming.idle_timeout_s without any event, closes that connection (with an `error` event when
the client can still hear it) and is logged. Nothing a client sends can stop the service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .detector import FramedStream, ModelSetup, Pipeline, keywords_of
from .errors import AudioFormatError, ConfigError
from .pcm import decode
from .settings import WyomingSettings
from .trigger import Detection
from .wyoming_events import AudioFormat, ProtocolError, audio_format, read_event, wanted_names

# wyoming_events has already turned a missing package into DependencyError.
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, WakeModel, WakeProgram
from wyoming.ping import Ping, Pong
from wyoming.server import AsyncEventHandler, AsyncServer, AsyncTcpServer, AsyncUnixServer
from wyoming.wake import Detect, NotDetected
from wyoming.wake import Detection as WyomingDetection

log = logging.getLogger(__name__)

PROGRAM_NAME = "wakeword"
PROGRAM_DESCRIPTION = "wakeword: on-device wake-word detector (MFCC or speech-embedding front end, TFLite)"
#: The wyoming package requires a URL; the project publishes none, so it stays empty.
ATTRIBUTION = Attribution(name="wakeword", url="")
MS_PER_S = 1000
#: How long stop() waits for the handlers to end after their connections were closed.
STOP_TIMEOUT_S = 5.0
#: error event codes, for clients that log them
ERROR_BUSY = "busy"
ERROR_PROTOCOL = "protocol"


def build_info(setups: list[ModelSetup], languages: tuple[str, ...]) -> Info:
    """The `info` reply: one wake program with one model entry per keyword (a keyword several
    models detect is one entry, naming them all)."""
    models = []
    for keyword in keywords_of(setups):
        mine = [s for s in setups if keyword in s.keywords]
        models.append(WakeModel(
            name=keyword,
            description=f"{keyword!r} from " + " or ".join(
                f"{s.model.path.name} ({s.model.spec.frontend.frontend_type} front end, "
                f"threshold {s.thresholds[keyword]:.4g})" for s in mine),
            phrase=keyword.replace("_", " "),
            attribution=ATTRIBUTION,
            installed=True,
            languages=list(languages),
            version=" + ".join(dict.fromkeys(s.model.spec.name for s in mine)),
        ))
    program = WakeProgram(name=PROGRAM_NAME, description=PROGRAM_DESCRIPTION, attribution=ATTRIBUTION,
                          installed=True, version=__version__, models=models)
    return Info(wake=[program])


@dataclass
class ServiceStats:
    """Counters for the log: connections accepted and refused (max_clients), closed for a
    protocol error or for idling, streams started, detections sent."""

    accepted: int = 0
    refused: int = 0
    protocol_errors: int = 0
    idle_closed: int = 0
    streams: int = 0
    detections: int = 0


class _Stream:
    """One client audio stream: its format, its framed pipeline and what it has produced."""

    def __init__(self, fmt: AudioFormat, setups: list[ModelSetup]):
        self.format = fmt
        self.framed = FramedStream(Pipeline(setups, fmt.rate_hz))
        self.frames_received = 0
        self.detections = 0


class WakeHandler(AsyncEventHandler):
    """One client connection. run() replaces the base class's loop to read events within the
    service's limits; handle_event() is the protocol."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, service: "WyomingService"):
        super().__init__(reader, writer)
        self.service = service
        self.peer = _peer_name(writer)
        self.names: tuple[str, ...] | None = None
        self.stream: _Stream | None = None

    async def run(self) -> None:
        service = self.service
        if not service._admit(self):
            log.warning("refusing %s: already serving %d client(s) (wyoming.max_clients)",
                        self.peer, service.settings.max_clients)
            await self._send_error(f"busy: at most {service.settings.max_clients} clients", ERROR_BUSY)
            self.writer.close()
            return
        log.info("%s connected", self.peer)
        try:
            while True:
                try:
                    event = await asyncio.wait_for(read_event(self.reader, service.settings.max_payload_bytes),
                                                   timeout=service.settings.idle_timeout_s)
                    if event is None or not await self.handle_event(event):
                        break
                except asyncio.TimeoutError:
                    service.stats.idle_closed += 1
                    log.info("%s sent nothing for %.0f s (wyoming.idle_timeout_s); closing the connection",
                             self.peer, service.settings.idle_timeout_s)
                    break
                except ProtocolError as exc:
                    service.stats.protocol_errors += 1
                    log.warning("%s sent %s; closing the connection", self.peer, exc)
                    await self._send_error(str(exc), ERROR_PROTOCOL)
                    break
        except (ConnectionError, OSError) as exc:
            log.info("%s: connection lost (%s)", self.peer, exc)
        except Exception:  # a bug here must cost one connection, never the service
            log.exception("%s: unexpected error; closing the connection", self.peer)
        finally:
            await self.disconnect()
            self.writer.close()
            service._release(self)

    async def disconnect(self) -> None:
        if self.stream is not None:
            log.info("%s disconnected in the middle of a stream (%.1f s of audio); its state is freed",
                     self.peer, self.stream.frames_received / self.stream.format.rate_hz)
        else:
            log.info("%s disconnected", self.peer)
        self.stream = None

    async def handle_event(self, event: Event) -> bool:
        if AudioChunk.is_type(event.type):
            fmt = audio_format(event.data, event.type)
            if self.stream is None:
                await self._start_stream(fmt)  # a satellite streams chunks without audio-start
            elif fmt != self.stream.format:
                raise ProtocolError(f"event 'audio-chunk' in {fmt} inside a stream started in {self.stream.format}")
            try:
                samples = decode(event.payload or b"", fmt.width, fmt.channels)
            except AudioFormatError as exc:
                raise ProtocolError(f"event 'audio-chunk' whose payload is malformed: {exc}") from None
            self.stream.frames_received += len(samples)
            await self._answer(self.stream.framed.feed(samples))
        elif AudioStart.is_type(event.type):
            await self._start_stream(audio_format(event.data, event.type))
        elif AudioStop.is_type(event.type):
            await self._stop_stream()
        elif Detect.is_type(event.type):
            self._set_names(wanted_names(event.data))
            # detect opens a new request (wyoming-satellite sends one after each conversation,
            # then streams on): the audio before it is another stream's
            if self.stream is not None:
                log.debug("%s: detect ends the current stream", self.peer)
                self.stream = None
        elif Describe.is_type(event.type):
            await self.write_event(self.service.info_event)
        elif Ping.is_type(event.type):
            text = event.data.get("text")
            await self.write_event(Pong(text=text if isinstance(text, str) else None).event())
        else:
            log.debug("%s: ignoring a %s event", self.peer, event.type)
        return True

    # -- streams -----------------------------------------------------------------------------

    async def _start_stream(self, fmt: AudioFormat) -> None:
        if self.stream is not None:
            log.debug("%s: audio-start without audio-stop; the previous stream is dropped", self.peer)
        self.stream = _Stream(fmt, self.service.setups)
        self.service.stats.streams += 1
        log.debug("%s: audio stream started (%s)", self.peer, fmt)
        await self._answer(self.stream.framed.start())

    async def _stop_stream(self) -> None:
        stream = self.stream
        if stream is not None:
            await self._answer(stream.framed.finish())
        if stream is None or stream.detections == 0:
            await self.write_event(NotDetected().event())
        self.stream = None

    async def _answer(self, found: list[Detection]) -> None:
        stream = self.stream
        rate_hz = stream.format.rate_hz
        for det in found:
            if self.names is not None and det.keyword not in self.names:
                continue
            client_samples = round(det.t_samples * rate_hz / det.sample_rate_hz)
            timestamp_ms = round(client_samples * MS_PER_S / rate_hz)
            stream.detections += 1
            self.service.stats.detections += 1
            log.info("%s: detected %r at %.3f s of its audio (score %.4f)",
                     self.peer, det.keyword, client_samples / rate_hz, det.score)
            await self.write_event(WyomingDetection(name=det.keyword, timestamp=timestamp_ms).event())

    def _set_names(self, names: tuple[str, ...] | None) -> None:
        keywords = self.service.keywords
        if names is not None:
            unknown = [n for n in names if n not in keywords]
            if unknown:
                log.warning("%s asked for %s, which no loaded model has (they have: %s)",
                            self.peer, ", ".join(map(repr, unknown)), ", ".join(keywords))
        self.names = names

    async def _send_error(self, text: str, code: str) -> None:
        # Best effort: a client that sent garbage may not be reading any more.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.write_event(Error(text=text, code=code).event()), timeout=1.0)


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"client {peer[0]}:{peer[1]}"
    return "client on the unix socket"


class WyomingService:
    """The service for `setups` (their models are used on the service's event-loop thread only)
    at settings.address. start()/stop() from a running event loop; run_standalone() and
    BackgroundService below run it as a process or beside the daemon."""

    def __init__(self, settings: WyomingSettings, setups: list[ModelSetup]):
        if settings.address is None:
            raise ConfigError("wyoming.uri is not set")
        self.settings = settings
        self.address = settings.address
        self.setups = list(setups)
        self.keywords = tuple(keywords_of(self.setups))
        self.info_event = build_info(self.setups, settings.languages).event()
        self.stats = ServiceStats()
        self.clients: set[WakeHandler] = set()
        self._server: AsyncServer | None = None
        self._idle: asyncio.Event | None = None

    @property
    def uri(self) -> str:
        return self.address.uri

    def _admit(self, handler: WakeHandler) -> bool:
        if len(self.clients) >= self.settings.max_clients:
            self.stats.refused += 1
            return False
        self.clients.add(handler)
        self.stats.accepted += 1
        self._idle.clear()
        return True

    def _release(self, handler: WakeHandler) -> None:
        self.clients.discard(handler)
        if not self.clients:
            self._idle.set()

    async def start(self) -> None:
        """Listen; ConfigError (one line) if the address cannot be used."""
        self._idle = asyncio.Event()
        self._idle.set()
        if self.address.scheme == "unix":
            _check_socket_path(self.address.path)
            server: AsyncServer = AsyncUnixServer(self.address.path)
        else:
            server = AsyncTcpServer(self.address.host, self.address.port)
        try:
            await server.start(lambda reader, writer: WakeHandler(reader, writer, self))
        except OSError as exc:  # address in use, no permission, unknown host (gaierror)
            raise ConfigError(f"wyoming.uri {self.uri}: cannot listen ({exc.strerror or exc})") from None
        self._server = server
        log.info("Wyoming wake-word service listening on %s (keywords: %s; at most %d clients)",
                 self.uri, ", ".join(self.keywords), self.settings.max_clients)

    async def stop(self) -> None:
        """Close the listening socket and every connection, waiting up to STOP_TIMEOUT_S."""
        if self._server is None:
            return
        await self._server.stop()
        self._server = None
        try:
            await asyncio.wait_for(self._idle.wait(), STOP_TIMEOUT_S)
        except asyncio.TimeoutError:
            log.warning("%d Wyoming connection(s) did not close within %.0f s", len(self.clients), STOP_TIMEOUT_S)
        s = self.stats
        log.info("Wyoming service stopped: %d connection(s), %d refused, %d protocol error(s), %d idle, "
                 "%d stream(s), %d detection(s)", s.accepted, s.refused, s.protocol_errors, s.idle_closed,
                 s.streams, s.detections)


def _check_socket_path(path: Path) -> None:
    """The wyoming package unlinks whatever is at a unix socket's path before it listens there:
    refuse a path that holds anything but a stale socket, so nothing the user has is deleted."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigError(f"wyoming.uri unix://{path}: {exc.strerror}") from None
    if not stat.S_ISSOCK(mode):
        raise ConfigError(f"wyoming.uri unix://{path}: the path exists and is not a socket; refusing to replace it")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return  # nobody listens: a socket left behind by a process that died
    raise ConfigError(f"wyoming.uri unix://{path}: another process is already listening on that socket")


class BackgroundService:
    """A WyomingService on its own thread and event loop, beside the daemon's capture thread.

    start() returns once the service listens, or raises its ConfigError; stop() ends it.
    on_failure(exc) is called (on the service thread) if the loop dies of a bug.
    """

    def __init__(self, service: WyomingService, on_failure=None):
        self.service = service
        self.on_failure = on_failure
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    def start(self, timeout_s: float = 30.0) -> None:
        self._thread = threading.Thread(target=self._run, name="wakeword-wyoming", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise ConfigError(f"wyoming.uri {self.service.uri}: the service did not start within {timeout_s:.0f} s")
        if self._error is not None:
            raise self._error

    def stop(self, timeout_s: float = STOP_TIMEOUT_S + 1.0) -> None:
        if self._loop is not None and self._stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has already ended
                self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("the Wyoming service thread did not stop within %.0f s", timeout_s)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # noqa: BLE001 - reported to the daemon, not lost in a thread
            if not self._started.is_set():
                self._error = exc
                self._started.set()
                return
            log.exception("the Wyoming service failed")
            if self.on_failure is not None:
                self.on_failure(exc)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        await self.service.start()
        self._started.set()
        try:
            await self._stop.wait()
        finally:
            await self.service.stop()


def run_standalone(service: WyomingService, notifier) -> None:
    """Serve until SIGTERM or SIGINT, with systemd readiness (once listening) and watchdog pings
    from the event loop, so a wedged loop gets the service restarted."""
    import signal

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await service.start()
        notifier.ready()
        notifier.status(f"serving Wyoming on {service.uri}")
        interval_s = notifier.watchdog_interval_s
        try:
            while not stop.is_set():
                notifier.watchdog()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=interval_s)
        finally:
            notifier.stopping()
            await service.stop()

    asyncio.run(main())
