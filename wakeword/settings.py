"""Every setting in one place: a frozen dataclass per config section, with its default, unit and range.

config.py reads config.yaml into these, sidecar.py stores a model's recommended TriggerSettings,
trigger.py and the actions run on them. Each field's range lives in its metadata (checks.setting),
and one checker (checks.check_fields, called by every __post_init__) enforces it, so a value is
validated the same way whether it came from a file, a flag or code.

This module imports nothing of the project but errors.py and checks.py, the field rules.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from .checks import check_fields, check_number, check_optional_text, check_threshold, decimal_index, field_names, setting
from .errors import ConfigError

#: int16 full scale: int16 samples are divided by this to give floats in [-1, 1).
INT16_FULL_SCALE = 32768.0
LED_MODES = ("blink", "on")
#: Where a Wyoming tcp:// URI without a host listens: this machine only, unless told otherwise.
WYOMING_DEFAULT_HOST = "127.0.0.1"
WYOMING_SCHEMES = ("tcp", "unix")
TCP_PORT_MAX = 65535
#: MQTT topic levels and Home Assistant node ids allow these characters in a client id.
MQTT_CLIENT_ID_PATTERN = r"[A-Za-z0-9_-]+"


# ---------------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class AudioSettings:
    """The capture device. device: None (the system default input), an index, or part of a name.
    sample_rate_hz None uses the device's own rate; block_ms None lets the model decide."""

    device: int | str | None = setting(None, kind="any")
    sample_rate_hz: int | None = setting(None, lo=4000, hi=384000, integer=True, optional=True)
    block_ms: int | None = setting(None, lo=10, hi=1000, integer=True, optional=True)
    channels: int = setting(1, lo=1, hi=32, integer=True)
    buffer_s: float = setting(5.0, lo=0.5, hi=60)
    stall_timeout_s: float = setting(3.0, lo=0.5, hi=600)
    reconnect_interval_s: float = setting(2.0, lo=0.1, hi=600)

    def __post_init__(self):
        d = self.device
        index = decimal_index(d)
        if index is not None:
            d = index
        ok = d is None or (isinstance(d, str) and d.strip()) or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
        if not ok:
            raise ConfigError(f"audio.device must be null, a device index or part of a device name, got {self.device!r}")
        object.__setattr__(self, "device", d)
        check_fields(self, "audio")


# ---------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ModelSettings:
    """A .tflite model (its .json sidecar beside it) and its interpreter threads."""

    path: Path | None = setting(None, kind="any")
    num_threads: int = setting(1, lo=1, hi=4, integer=True)
    #: this model's thresholds: None (trigger.threshold's, else the sidecar's), a number, or {keyword: number}
    threshold: float | dict | None = setting(None, kind="any")
    #: where the settings came from, for messages: "model" or "models[2]"
    key: str = field(default="model", compare=False)

    def __post_init__(self):
        if self.path is not None:
            path = Path(self.path)
            if path.suffix not in (".tflite", ".json"):
                raise ConfigError(f"{self.key}.path must name a .tflite model (or its .json sidecar), got {str(path)!r}")
            object.__setattr__(self, "path", path)
        t = self.threshold
        if isinstance(t, dict):
            t = {str(k): check_threshold(v, f"{self.key}.threshold.{k}") for k, v in t.items()}
        elif t is not None:
            t = check_threshold(t, f"{self.key}.threshold")
        object.__setattr__(self, "threshold", t)
        check_fields(self, self.key)


# ---------------------------------------------------------------------------------- trigger


@dataclass(frozen=True)
class TriggerSettings:
    """How window scores become detections (trigger.py), in the units the trigger uses.

    The one definition of the trigger settings: a model's sidecar stores the values it was
    evaluated with, config.yaml's trigger section overrides them field by field (TriggerConfig),
    and the trigger runs on the result.
    """

    hop_s: float = setting(0.1, lo=0.01, hi=1.0)
    smoothing_windows: int = setting(1, lo=1, hi=50, integer=True)
    patience_windows: int = setting(1, lo=1, hi=50, integer=True)
    refractory_s: float = setting(1.0, lo=0.0, hi=60.0)
    #: several keywords: how long after one qualifies the others may still compete (trigger.py)
    contest_s: float = setting(0.0, lo=0.0, hi=2.0)

    def __post_init__(self):
        check_fields(self, "trigger")


#: config.yaml's trigger keys that are TriggerSettings fields in another unit: key -> (field, scale).
TRIGGER_CONFIG_KEYS = {
    "hop_ms": ("hop_s", 1e-3),
    "smoothing_windows": ("smoothing_windows", 1),
    "patience_windows": ("patience_windows", 1),
    "refractory_ms": ("refractory_s", 1e-3),
    "contest_ms": ("contest_s", 1e-3),
}


#: trigger.combine's values, and trigger.coincidence_ms's default and range (ms)
COMBINE_MODES = ("any", "all")
DEFAULT_COINCIDENCE_S = 1.0
COINCIDENCE_MS_RANGE = (50, 10000)


@dataclass(frozen=True)
class TriggerConfig:
    """config.yaml's trigger section: overrides of a model's recommended TriggerSettings.

    threshold: None (the sidecar's), one number for every keyword, or {keyword: number}.
    overrides: {TriggerSettings field: value} for the keys given (in the fields' own units).
    """

    threshold: float | dict | None = None
    overrides: tuple = ()
    #: a keyword several models detect: "any" fires when one of them fires, "all" only when every
    #: one of them has fired within coincidence_s of the others (detector.Pipeline)
    combine: str = "any"
    coincidence_s: float = DEFAULT_COINCIDENCE_S

    def __post_init__(self):
        if self.combine not in COMBINE_MODES:
            raise ConfigError(f"trigger.combine must be one of {', '.join(COMBINE_MODES)}, got {self.combine!r}")
        t = self.threshold
        if isinstance(t, dict):
            object.__setattr__(self, "threshold", {str(k): check_threshold(v, f"trigger.threshold.{k}") for k, v in t.items()})
        elif t is not None:
            object.__setattr__(self, "threshold", check_threshold(t, "trigger.threshold"))
        names = field_names(TriggerSettings)
        for name, _ in self.overrides:
            if name not in names:
                raise ConfigError(f"trigger.{name} is not a trigger setting")
        object.__setattr__(self, "overrides", tuple(sorted(dict(self.overrides).items())))

    @classmethod
    def from_keys(cls, threshold=None, combine=None, coincidence_ms=None, **keys) -> "TriggerConfig":
        """From config.yaml's keys (hop_ms, smoothing_windows, patience_windows, refractory_ms);
        None values are left to the model. Ranges are TriggerSettings', in the key's unit.
        combine ("any", the default, or "all") and coincidence_ms (only with "all") are the
        pipeline's, for keywords several models share."""
        combine = "any" if combine is None else combine
        if not isinstance(combine, str) or combine not in COMBINE_MODES:
            raise ConfigError(f"trigger.combine must be one of {', '.join(COMBINE_MODES)}, got {combine!r}")
        coincidence_s = DEFAULT_COINCIDENCE_S
        if coincidence_ms is not None:
            if combine != "all":
                raise ConfigError("trigger.coincidence_ms applies only with trigger.combine: all")
            coincidence_s = check_number(coincidence_ms, "trigger.coincidence_ms", *COINCIDENCE_MS_RANGE) / 1000.0
        over = {}
        for key, value in keys.items():
            if key not in TRIGGER_CONFIG_KEYS:
                raise ConfigError(f"trigger.{key} is not a known setting (known: {', '.join(sorted(TRIGGER_CONFIG_KEYS))})")
            if value is None:
                continue
            name, scale = TRIGGER_CONFIG_KEYS[key]
            meta = next(f.metadata for f in fields(TriggerSettings) if f.name == name)
            lo = None if meta["lo"] is None else round(meta["lo"] / scale, 9)
            hi = None if meta["hi"] is None else round(meta["hi"] / scale, 9)
            check_number(value, f"trigger.{key}", lo, hi, integer=True)
            over[name] = value * scale if scale != 1 else value
        return cls(threshold=threshold, overrides=tuple(over.items()), combine=combine, coincidence_s=float(coincidence_s))

    def value(self, key: str):
        """A config.yaml key's value as given (hop_ms, ...), or None when the model decides."""
        name, scale = TRIGGER_CONFIG_KEYS[key]
        v = dict(self.overrides).get(name)
        return None if v is None else (v if scale == 1 else int(round(v / scale)))

    def apply(self, recommended: TriggerSettings) -> TriggerSettings:
        """The model's recommended settings with these overrides."""
        from dataclasses import replace

        return replace(recommended, **dict(self.overrides))

    def thresholds(self, recommended: dict, where: str = "config") -> dict:
        """{keyword: threshold}: the model's, overridden by this section; ConfigError for a
        keyword the model does not have."""
        out = dict(recommended)
        if isinstance(self.threshold, dict):
            for kw, value in self.threshold.items():
                if kw not in out:
                    raise ConfigError(
                        f"{where}: trigger.threshold.{kw} names a keyword the model does not have "
                        f"(it has: {', '.join(recommended)})"
                    )
                out[kw] = value
        elif self.threshold is not None:
            out = {kw: self.threshold for kw in out}
        return out


# ---------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class LedSettings:
    """An LED on `pin` (BCM number or gpiozero pin name; None = no LED).

    mode "on" holds it lit for on_s seconds; "blink" blinks it (blink_on_s lit, blink_off_s
    dark) for about on_s seconds. active_high=False for an LED wired from 3V3 to the pin.
    """

    pin: int | str | None = setting(17, kind="pin")
    mode: str = setting("blink", kind="choice", choices=LED_MODES)
    on_s: float = setting(1.0, lo=0, hi=60, lo_open=True)
    #: at least 10 ms: shorter is invisible, and on_s / 1e-9 s blinks kept gpiozero busy for hours
    blink_on_s: float = setting(0.1, lo=0.01, hi=10)
    blink_off_s: float = setting(0.1, lo=0.01, hi=10)
    active_high: bool = setting(True, kind="bool")

    def __post_init__(self):
        check_fields(self, "actions.led")

    @property
    def blink_count(self) -> int:
        """How many blinks fill on_s (at least one)."""
        return max(1, round(self.on_s / (self.blink_on_s + self.blink_off_s)))


@dataclass(frozen=True)
class OutputSettings:
    """A digital output on `pin` (None = disabled), active for pulse_s seconds per detection.
    active_high=False drives the pin low while active (most relay boards)."""

    pin: int | str | None = setting(None, kind="pin")
    active_high: bool = setting(True, kind="bool")
    pulse_s: float = setting(0.5, lo=0, hi=60, lo_open=True)

    def __post_init__(self):
        check_fields(self, "actions.output")


@dataclass(frozen=True)
class HookSettings:
    """A command run per detection, as an argument list (never through a shell); empty = none.
    It is killed after timeout_s seconds; at most max_concurrent run at once, and a detection
    that finds them all busy skips the hook."""

    command: tuple[str, ...] = setting((), kind="command")
    timeout_s: float = setting(10.0, lo=0, hi=3600, lo_open=True)
    max_concurrent: int = setting(2, lo=1, hi=16, integer=True)

    def __post_init__(self):
        check_fields(self, "actions.hook")


@dataclass(frozen=True)
class MqttSettings:
    """MQTT events for Home Assistant (mqtt.py); host None = off.

    The broker at host:port, over TLS when tls (ca_file: the CA bundle that signed the broker's
    certificate; None = the system's). username, and the password read from password_file at
    start (never from the config or the command line). Topics live under
    topic_prefix/client_id; Home Assistant's discovery config under discovery_prefix.
    client_id None = "wakeword-<hostname>". queue_size events are kept while the broker is
    unreachable (the oldest is dropped, and counted, past that); keepalive_s is MQTT's keepalive.
    """

    host: str | None = setting(None, kind="any")
    port: int = setting(1883, lo=1, hi=TCP_PORT_MAX, integer=True)
    tls: bool = setting(False, kind="bool")
    ca_file: Path | None = setting(None, kind="any")
    username: str | None = setting(None, kind="any")
    password_file: Path | None = setting(None, kind="any")
    topic_prefix: str = setting("wakeword", kind="any")
    discovery_prefix: str = setting("homeassistant", kind="any")
    client_id: str | None = setting(None, kind="any")
    queue_size: int = setting(100, lo=1, hi=10000, integer=True)
    keepalive_s: int = setting(60, lo=5, hi=3600, integer=True)

    def __post_init__(self):
        key = "actions.mqtt"
        object.__setattr__(self, "host", check_optional_text(self.host, f"{key}.host"))
        object.__setattr__(self, "username", check_optional_text(self.username, f"{key}.username"))
        for name in ("ca_file", "password_file"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, (str, Path)) or not str(value).strip():
                    raise ConfigError(f"{key}.{name} must be a path or null, got {value!r}")
                object.__setattr__(self, name, Path(value).expanduser())
        for name in ("topic_prefix", "discovery_prefix"):
            value = getattr(self, name)
            ok = isinstance(value, str) and value.strip("/") == value and value and not any(c in value for c in "+#\0")
            if not ok:
                raise ConfigError(
                    f"{key}.{name} must be an MQTT topic without wildcards (+, #) or leading/trailing /, got {value!r}"
                )
        if self.client_id is not None and not (
            isinstance(self.client_id, str) and re.fullmatch(MQTT_CLIENT_ID_PATTERN, self.client_id)
        ):
            raise ConfigError(f"{key}.client_id must be letters, digits, - and _ only, or null, got {self.client_id!r}")
        if self.password_file is not None and self.username is None:
            raise ConfigError(f"{key}.password_file needs {key}.username (MQTT sends a password only with a user name)")
        if self.ca_file is not None and not self.tls:
            raise ConfigError(f"{key}.ca_file is set but {key}.tls is false")
        check_fields(self, key)

    @property
    def enabled(self) -> bool:
        return self.host is not None


@dataclass(frozen=True)
class KeywordActions:
    """What one keyword's detection does: its LED, output pin and hook (actions.keywords.<word>;
    the default section's for a keyword without a section of its own)."""

    led: LedSettings
    output: OutputSettings
    hook: HookSettings


@dataclass(frozen=True)
class ActionSettings:
    """All actions. led, output, hook: the default section, for every keyword without its own;
    keywords: {keyword: KeywordActions} for those with one (config.py merges each over the
    default). log_json: one JSON line per detection on stdout (else a log message)."""

    led: LedSettings = field(default_factory=LedSettings)
    output: OutputSettings = field(default_factory=OutputSettings)
    hook: HookSettings = field(default_factory=HookSettings)
    log_json: bool = setting(True, kind="bool")
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    keywords: dict = field(default_factory=dict)

    def __post_init__(self):
        check_fields(self, "actions")
        for kw, acts in self.keywords.items():
            if not isinstance(acts, KeywordActions):
                raise ConfigError(f"actions.keywords.{kw} must be a mapping with led, output and/or hook")
        self.pin_roles()  # raises for a pin with two roles

    @property
    def default(self) -> KeywordActions:
        return KeywordActions(self.led, self.output, self.hook)

    def for_keyword(self, keyword: str) -> KeywordActions:
        return self.keywords.get(keyword, self.default)

    def sections(self) -> list[tuple[str, KeywordActions]]:
        """(config key prefix, actions): the default section, then each keyword's."""
        return [("actions", self.default)] + [(f"actions.keywords.{kw}", a) for kw, a in self.keywords.items()]

    def pin_roles(self, keywords=None) -> dict:
        """{pin label: (role, active_high, config key, pin)} for every pin the actions use: those of
        `keywords` (the default section's for those without their own), or all sections' when None. One pin may serve several
        keywords in one role; ConfigError when it is an LED for one and an output for another,
        or active-high for one and active-low for another."""
        sections = self.sections()
        if keywords is not None:
            wanted = set(keywords)
            uses_default = any(kw not in self.keywords for kw in wanted)
            sections = [(k, a) for k, a in sections
                        if (k == "actions" and uses_default) or k[len("actions.keywords."):] in wanted]
        roles: dict = {}
        for prefix, acts in sections:
            for role, s in (("led", acts.led), ("output", acts.output)):
                if s.pin is None:
                    continue
                label = pin_label(s.pin)
                key = f"{prefix}.{role}.pin"
                if label in roles:
                    other_role, other_high, other_key, _ = roles[label]
                    if other_role != role:
                        raise ConfigError(f"{key} is the same pin as {other_key} ({s.pin}): a pin is either an LED or an output")
                    if other_high != s.active_high:
                        raise ConfigError(f"{key} ({s.pin}) is active_high {str(s.active_high).lower()} here and "
                                          f"{str(other_high).lower()} at {other_key}")
                    continue
                roles[label] = (role, s.active_high, key, s.pin)
        return roles

    def check_keywords(self, known) -> None:
        """ConfigError for a keyword section that no model has."""
        known = list(known)
        for kw in self.keywords:
            if kw not in known:
                raise ConfigError(f"actions.keywords.{kw} names a keyword no model has (they have: {', '.join(known)})")


def pin_label(pin: int | str) -> str:
    """GPIO17 for 17 (and for "GPIO17"); another gpiozero pin name such as "BOARD11" as given."""
    if isinstance(pin, int):
        return f"GPIO{pin}"
    text = str(pin).strip()
    index = decimal_index(text)
    return text.upper() if index is None else f"GPIO{index}"


# ---------------------------------------------------------------------------------- capture


@dataclass(frozen=True)
class CaptureSettings:
    """Saving the audio around each detection (capture.py); dir None = off. before_s and
    after_s around the detection's end; the folder's own captures are kept under max_mb (the
    oldest deleted first; subfolders such as false/ are never touched)."""

    dir: Path | None = setting(None, kind="any")
    before_s: float = setting(2.0, lo=0.5, hi=10)
    after_s: float = setting(0.5, lo=0, hi=5)
    max_mb: float = setting(100.0, lo=1, hi=100000)

    def __post_init__(self):
        if self.dir is not None:
            if not isinstance(self.dir, (str, Path)) or not str(self.dir).strip():
                raise ConfigError(f"capture.dir must be a folder's path or null, got {self.dir!r}")
            object.__setattr__(self, "dir", Path(self.dir).expanduser())
        check_fields(self, "capture")

    @property
    def enabled(self) -> bool:
        return self.dir is not None


# ---------------------------------------------------------------------------------- wyoming


@dataclass(frozen=True)
class WyomingAddress:
    """A parsed wyoming.uri: scheme "tcp" with host and port, or "unix" with path."""

    scheme: str
    host: str | None = None
    port: int | None = None
    path: Path | None = None

    @property
    def uri(self) -> str:
        """The URI with the host always given, for messages."""
        if self.scheme == "unix":
            return f"unix://{self.path}"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"tcp://{host}:{self.port}"


def parse_wyoming_uri(value, key: str = "wyoming.uri") -> WyomingAddress:
    """tcp://HOST:PORT (HOST may be left out: 127.0.0.1) or unix://PATH -> WyomingAddress."""
    usage = f"{key} must be tcp://HOST:PORT or unix://PATH, got {value!r}"
    if not isinstance(value, str) or "://" not in value:
        raise ConfigError(usage)
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        raise ConfigError(usage) from None
    if parts.scheme not in WYOMING_SCHEMES or parts.query or parts.fragment:
        raise ConfigError(usage)
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or parts.path.endswith("/"):
            raise ConfigError(
                f"{key}: unix:// needs the absolute path of the socket to create, such as "
                f"unix:///run/wakeword/wyoming.sock, got {value!r}"
            )
        return WyomingAddress("unix", path=Path(parts.path))
    if port is None or parts.path not in ("", "/") or parts.username or parts.password:
        raise ConfigError(usage)
    check_number(port, f"{key} port", 1, TCP_PORT_MAX, integer=True)
    return WyomingAddress("tcp", host=parts.hostname or WYOMING_DEFAULT_HOST, port=port)


@dataclass(frozen=True)
class WyomingSettings:
    """The Wyoming wake-word service (wyoming_server.py); uri None = off.

    uri: tcp://HOST:PORT or unix://PATH. At most max_clients connections at once; an event whose
    payload or data exceeds max_payload_bytes closes its connection, as does idle_timeout_s
    seconds without any event. languages: what `describe` reports for the models.
    """

    uri: str | None = setting(None, kind="any")
    max_clients: int = setting(8, lo=1, hi=64, integer=True)
    max_payload_bytes: int = setting(1048576, lo=1024, hi=67108864, integer=True)
    idle_timeout_s: float = setting(300.0, lo=1, hi=86400)
    languages: tuple[str, ...] = setting(("en",), kind="any")

    def __post_init__(self):
        if self.uri is not None:
            parse_wyoming_uri(self.uri)
        langs = self.languages
        if isinstance(langs, str) or not isinstance(langs, (list, tuple)) or not all(
            isinstance(x, str) and x.strip() for x in langs
        ):
            raise ConfigError(f"wyoming.languages must be a list of language codes such as [en], got {langs!r}")
        object.__setattr__(self, "languages", tuple(x.strip() for x in langs))
        check_fields(self, "wyoming")

    @property
    def enabled(self) -> bool:
        return self.uri is not None

    @property
    def address(self) -> WyomingAddress | None:
        return None if self.uri is None else parse_wyoming_uri(self.uri)
