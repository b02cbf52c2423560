"""Reading Wyoming events from an untrusted client, within limits.

An event on the wire is one JSON header line, then `data_length` bytes of JSON merged into the
header's data, then `payload_length` bytes of payload (audio). The wyoming package's own reader
trusts both lengths (a client could announce gigabytes) and treats a malformed header as the end
of the stream, so nobody learns why a client went quiet. read_event() checks every field before
it reads a byte more, and raises ProtocolError with a sentence for the log; the handler then
closes that one connection. The events themselves are the wyoming package's Event objects.

The audio format checks (rate, width, channels) live here too: they are what turns a client's
numbers into something the pipeline can be built from.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from .errors import DependencyError
from .pcm import PCM_WIDTHS

WYOMING_INSTALL_HINT = "pip install 'wakeword[wyoming]'"

try:
    from wyoming.event import Event
except ImportError as exc:
    raise DependencyError(f"the Wyoming service needs the wyoming package ({exc}); {WYOMING_INSTALL_HINT}") from None

#: asyncio's default StreamReader limit, which the wyoming package's servers use: a header line
#: longer than this cannot be read, so the connection is closed.
HEADER_LINE_LIMIT_BYTES = 2**16
#: The audio formats a client may send. The rates are those the capture side accepts
#: (settings.AudioSettings); more channels than a sound card has are mixed down like any other.
CLIENT_RATE_MIN_HZ = 4000
CLIENT_RATE_MAX_HZ = 384000
CLIENT_CHANNELS_MAX = 32


class ProtocolError(Exception):
    """A client sent something malformed or too large; its connection is closed."""


@dataclass(frozen=True)
class AudioFormat:
    """rate_hz, width (bytes per sample), channels of a client's audio."""

    rate_hz: int
    width: int
    channels: int

    def __str__(self) -> str:
        return f"{self.rate_hz} Hz, {8 * self.width}-bit, {self.channels} ch"


def _length(header: dict, name: str, limit_bytes: int, what: str) -> int:
    value = header.get(name)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"event {what!r} with {name} {value!r} (not a byte count)")
    if value > limit_bytes:
        raise ProtocolError(
            f"event {what!r} with {value} bytes of {name.split('_')[0]}, more than "
            f"wyoming.max_payload_bytes ({limit_bytes})"
        )
    return value


async def read_event(reader: asyncio.StreamReader, max_payload_bytes: int) -> Event | None:
    """The next event from reader; None when the client closed the connection between events.

    ProtocolError for a header that is not a JSON object with a string "type", data that is not
    a JSON object, a length that is not a byte count or exceeds max_payload_bytes, or a
    connection closed in the middle of an event.
    """
    try:
        line = await reader.readline()
    except ValueError:  # asyncio's LimitOverrunError, re-raised as ValueError by readline()
        raise ProtocolError(f"an event header longer than {HEADER_LINE_LIMIT_BYTES} bytes") from None
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise ProtocolError("the connection closed in the middle of an event header")
    try:
        header = json.loads(line)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise ProtocolError("an event header that is not JSON") from None
    if not isinstance(header, dict):
        raise ProtocolError(f"an event header that is a JSON {type(header).__name__}, not an object")
    event_type = header.get("type")
    if not isinstance(event_type, str) or not event_type:
        raise ProtocolError("an event header without a \"type\"")
    data = header.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ProtocolError(f"event {event_type!r} whose data is not a JSON object")
    data_bytes = _length(header, "data_length", max_payload_bytes, event_type)
    payload_bytes = _length(header, "payload_length", max_payload_bytes, event_type)
    try:
        if data_bytes:
            try:
                extra = json.loads(await reader.readexactly(data_bytes))
            except ValueError:
                raise ProtocolError(f"event {event_type!r} whose data is not JSON") from None
            if not isinstance(extra, dict):
                raise ProtocolError(f"event {event_type!r} whose data is not a JSON object")
            data = {**data, **extra}
        payload = await reader.readexactly(payload_bytes) if payload_bytes else None
    except asyncio.IncompleteReadError:
        raise ProtocolError(f"event {event_type!r} cut short: the connection closed in the middle of it") from None
    return Event(type=event_type, data=data, payload=payload)


def _whole(value, name: str, lo: int, hi: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ProtocolError(f"event {what!r} with {name} {value!r} (expected a whole number from {lo} to {hi})")
    return value


def audio_format(data: dict, what: str) -> AudioFormat:
    """The rate, width and channels of an audio-start or audio-chunk event's data; ProtocolError
    naming the field if one is missing or out of range."""
    rate = _whole(data.get("rate"), "rate", CLIENT_RATE_MIN_HZ, CLIENT_RATE_MAX_HZ, what)
    width = data.get("width")
    if isinstance(width, bool) or width not in PCM_WIDTHS:
        raise ProtocolError(
            f"event {what!r} with width {width!r} (expected {', '.join(map(str, PCM_WIDTHS))} bytes per sample)"
        )
    channels = _whole(data.get("channels"), "channels", 1, CLIENT_CHANNELS_MAX, what)
    return AudioFormat(rate, width, channels)


def wanted_names(data: dict) -> tuple[str, ...] | None:
    """A detect event's "names": None (any keyword) or a tuple of names; ProtocolError if it is
    neither null nor a list of strings. An empty list is any keyword too: wyoming-satellite
    sends one when it was given no --wake-word-name."""
    names = data.get("names")
    if names is None or names == []:
        return None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ProtocolError(f"event 'detect' whose names are not a list of strings: {names!r}")
    return tuple(names)
