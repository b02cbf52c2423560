"""config.yaml: one frozen dataclass per section, defaults that work on a Pi with a USB mic.

Unknown keys are errors (typos are the commonest config bug) and every message names the
file, the key and the problem, e.g.
    config.yaml: trigger.threshold must be between 0 and 1, got 1.5
Command-line flags override the file; they are validated by the same code and named as
"command line" in messages.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import yaml

from .actions import ActionSettings, HookSettings, LedSettings, OutputSettings
from .detector import TriggerSettings
from .errors import ConfigError

#: The model used when config.yaml does not name one.
DEFAULT_MODEL_NAME = "stop.tflite"


def _models_dirs() -> list[Path]:
    """Where shipped models live: the source tree, then the installed data directory."""
    return [Path(__file__).resolve().parents[1] / "models", Path(sys.prefix) / "share" / "wakeword" / "models"]


def default_model_path() -> Path:
    for folder in _models_dirs():
        if (folder / DEFAULT_MODEL_NAME).is_file():
            return folder / DEFAULT_MODEL_NAME
    return _models_dirs()[0] / DEFAULT_MODEL_NAME


@dataclass(frozen=True)
class AudioConfig:
    """device: None (system default input), an index, or part of a device's name.
    sample_rate_hz: None uses the device's default rate; audio is resampled to the model's."""

    device: int | str | None = None
    sample_rate_hz: int | None = None
    block_ms: int | None = None  # None: the model's front end decides (frontend.default_block_ms)
    channels: int = 1
    buffer_s: float = 5.0
    stall_timeout_s: float = 3.0
    reconnect_interval_s: float = 2.0


@dataclass(frozen=True)
class ModelConfig:
    path: Path = field(default_factory=default_model_path)
    num_threads: int = 1


@dataclass(frozen=True)
class TriggerConfig:
    """None means: use the value recommended in the model's sidecar."""

    threshold: float | dict | None = None
    hop_ms: int | None = None
    smoothing_windows: int | None = None
    patience_windows: int | None = None
    refractory_ms: int | None = None


@dataclass(frozen=True)
class Config:
    audio: AudioConfig = field(default_factory=AudioConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    actions: ActionSettings = field(default_factory=ActionSettings)
    source: str = "defaults"


# ---------------------------------------------------------------- validation helpers


class _Checker:
    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, problem: str):
        raise ConfigError(f"{self.where}: {key} {problem}")

    def section(self, raw, key: str, allowed: set[str]) -> dict:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.fail(key, f"must be a mapping of settings, got {type(raw).__name__}")
        unknown = sorted(set(map(str, raw)) - allowed)
        if unknown:
            self.fail(f"{key}.{unknown[0]}", f"is not a known setting (known: {', '.join(sorted(allowed))})")
        return raw

    def number(self, value, key, lo=None, hi=None, integer=False, allow_none=False, lo_open=False):
        if value is None and allow_none:
            return None
        kinds = (int,) if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            self.fail(key, f"must be {'a whole number' if integer else 'a number'}, got {value!r}")
        if lo is not None and (value < lo or (lo_open and value == lo)) or hi is not None and value > hi:
            rng = f"between {lo} and {hi}" if hi is not None else (f"greater than {lo}" if lo_open else f"at least {lo}")
            self.fail(key, f"must be {rng}, got {value!r}")
        return value

    def boolean(self, value, key):
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, got {value!r}")
        return value

    def choice(self, value, key, options):
        if value not in options:
            self.fail(key, f"must be one of {', '.join(map(str, options))}, got {value!r}")
        return value

    def pin(self, value, key):
        if value is None or (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 27):
            return value
        if isinstance(value, str) and value.strip():
            return value  # gpiozero names such as "GPIO17", "BOARD11"
        self.fail(key, f"must be a BCM pin number 0-27, a gpiozero pin name such as \"GPIO17\", or null, got {value!r}")


def _names(cls) -> set[str]:
    return {f.name for f in fields(cls)}


def _audio(c: _Checker, raw) -> AudioConfig:
    raw = c.section(raw, "audio", _names(AudioConfig))
    d = AudioConfig()
    device = raw.get("device", d.device)
    if not (device is None or isinstance(device, str) and device.strip() or isinstance(device, int) and not isinstance(device, bool) and device >= 0):
        c.fail("audio.device", f"must be null, a device index or part of a device name, got {device!r}")
    return AudioConfig(
        device=device,
        sample_rate_hz=c.number(raw.get("sample_rate_hz", d.sample_rate_hz), "audio.sample_rate_hz", 4000, 384000, integer=True, allow_none=True),
        block_ms=c.number(raw.get("block_ms", d.block_ms), "audio.block_ms", 10, 1000, integer=True, allow_none=True),
        channels=c.number(raw.get("channels", d.channels), "audio.channels", 1, 32, integer=True),
        buffer_s=c.number(raw.get("buffer_s", d.buffer_s), "audio.buffer_s", 0.5, 60),
        stall_timeout_s=c.number(raw.get("stall_timeout_s", d.stall_timeout_s), "audio.stall_timeout_s", 0.5, 600),
        reconnect_interval_s=c.number(raw.get("reconnect_interval_s", d.reconnect_interval_s), "audio.reconnect_interval_s", 0.1, 600),
    )


def _model(c: _Checker, raw, base_dir: Path) -> ModelConfig:
    raw = c.section(raw, "model", _names(ModelConfig))
    d = ModelConfig()
    path = raw.get("path")
    if path is None:
        path = d.path
    elif not isinstance(path, str) or not path.strip():
        c.fail("model.path", f"must be a path to a .tflite file, got {path!r}")
    else:
        path = Path(path).expanduser()
        if not path.is_absolute():
            path = base_dir / path  # relative to the config file, not to wherever the daemon started
    if Path(path).suffix not in (".tflite", ".json"):
        c.fail("model.path", f"must name a .tflite model (or its .json sidecar), got {str(path)!r}")
    return ModelConfig(
        path=Path(path),
        num_threads=c.number(raw.get("num_threads", d.num_threads), "model.num_threads", 1, 4, integer=True),
    )


def _trigger(c: _Checker, raw) -> TriggerConfig:
    raw = c.section(raw, "trigger", _names(TriggerConfig))
    d = TriggerConfig()
    threshold = raw.get("threshold", d.threshold)
    if isinstance(threshold, dict):
        for kw, value in threshold.items():
            c.number(value, f"trigger.threshold.{kw}", 0, 1, lo_open=True)
            if value >= 1:
                c.fail(f"trigger.threshold.{kw}", f"must be between 0 and 1, got {value!r}")
    elif threshold is not None:
        c.number(threshold, "trigger.threshold", 0, 1, lo_open=True)
        if threshold >= 1:
            c.fail("trigger.threshold", f"must be between 0 and 1, got {threshold!r}")
    return TriggerConfig(
        threshold=threshold,
        hop_ms=c.number(raw.get("hop_ms", d.hop_ms), "trigger.hop_ms", 10, 1000, integer=True, allow_none=True),
        smoothing_windows=c.number(raw.get("smoothing_windows"), "trigger.smoothing_windows", 1, 50, integer=True, allow_none=True),
        patience_windows=c.number(raw.get("patience_windows"), "trigger.patience_windows", 1, 50, integer=True, allow_none=True),
        refractory_ms=c.number(raw.get("refractory_ms"), "trigger.refractory_ms", 0, 60000, integer=True, allow_none=True),
    )


def _actions(c: _Checker, raw) -> ActionSettings:
    raw = c.section(raw, "actions", {"log_json", "led", "output", "hook"})
    d = ActionSettings()
    led_raw = c.section(raw.get("led"), "actions.led", _names(LedSettings))
    dl = d.led
    led = LedSettings(
        pin=c.pin(led_raw.get("pin", dl.pin), "actions.led.pin"),
        mode=c.choice(led_raw.get("mode", dl.mode), "actions.led.mode", ("blink", "on")),
        on_s=c.number(led_raw.get("on_s", dl.on_s), "actions.led.on_s", 0, 60, lo_open=True),
        blink_on_s=c.number(led_raw.get("blink_on_s", dl.blink_on_s), "actions.led.blink_on_s", 0, 10, lo_open=True),
        blink_off_s=c.number(led_raw.get("blink_off_s", dl.blink_off_s), "actions.led.blink_off_s", 0, 10, lo_open=True),
        active_high=c.boolean(led_raw.get("active_high", dl.active_high), "actions.led.active_high"),
    )
    out_raw = c.section(raw.get("output"), "actions.output", _names(OutputSettings))
    do = d.output
    output = OutputSettings(
        pin=c.pin(out_raw.get("pin", do.pin), "actions.output.pin"),
        active_high=c.boolean(out_raw.get("active_high", do.active_high), "actions.output.active_high"),
        pulse_s=c.number(out_raw.get("pulse_s", do.pulse_s), "actions.output.pulse_s", 0, 60, lo_open=True),
    )
    hook_raw = c.section(raw.get("hook"), "actions.hook", _names(HookSettings))
    dh = d.hook
    command = hook_raw.get("command", list(dh.command))
    if command is None:
        command = []
    if isinstance(command, str):
        c.fail("actions.hook.command", "must be a list of arguments such as [\"/usr/local/bin/on-stop\", \"--fast\"] (it is never run through a shell)")
    if not isinstance(command, list) or not all(isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in command):
        c.fail("actions.hook.command", f"must be a list of arguments, got {command!r}")
    hook = HookSettings(
        command=tuple(str(a) for a in command),
        timeout_s=c.number(hook_raw.get("timeout_s", dh.timeout_s), "actions.hook.timeout_s", 0, 3600, lo_open=True),
        max_concurrent=c.number(hook_raw.get("max_concurrent", dh.max_concurrent), "actions.hook.max_concurrent", 1, 16, integer=True),
    )
    if led.pin is not None and output.pin is not None and str(led.pin) == str(output.pin):
        c.fail("actions.output.pin", f"is the same pin as actions.led.pin ({led.pin})")
    return ActionSettings(
        led=led,
        output=output,
        hook=hook,
        log_json=c.boolean(raw.get("log_json", d.log_json), "actions.log_json"),
    )


def config_from_dict(raw, where: str, base_dir: Path) -> Config:
    """Validate a parsed YAML document; raise ConfigError naming `where` and the key."""
    c = _Checker(where)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping with sections audio, model, trigger, actions")
    raw = c.section(raw, "config", {"audio", "model", "trigger", "actions"})
    return Config(
        audio=_audio(c, raw.get("audio")),
        model=_model(c, raw.get("model"), base_dir),
        trigger=_trigger(c, raw.get("trigger")),
        actions=_actions(c, raw.get("actions")),
        source=where,
    )


def load_config(path: Path | None) -> Config:
    """Read and validate config.yaml; None gives the built-in defaults."""
    if path is None:
        return config_from_dict({}, "defaults", Path.cwd())
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None
    return config_from_dict(raw, str(path), path.resolve().parent)


def apply_overrides(config: Config, overrides: dict) -> Config:
    """Override settings from the command line: {"audio.device": 2, "trigger.threshold": 0.8}.

    Values are validated as if they came from a file called "command line".
    """
    if not overrides:
        return config
    c = _Checker("command line")
    sections = {}
    for dotted, value in overrides.items():
        section, key = dotted.split(".", 1)
        sections.setdefault(section, {})[key] = value
    if "audio" in sections:
        checked = _audio(c, sections["audio"])
        config = replace(config, audio=replace(config.audio, **{k: getattr(checked, k) for k in sections["audio"]}))
    if "model" in sections:
        checked = _model(c, sections["model"], Path.cwd())
        config = replace(config, model=replace(config.model, **{k: getattr(checked, k) for k in sections["model"]}))
    if "trigger" in sections:
        checked = _trigger(c, sections["trigger"])
        config = replace(config, trigger=replace(config.trigger, **{k: getattr(checked, k) for k in sections["trigger"]}))
    return config


def resolve_trigger_settings(trigger: TriggerConfig, spec, where: str = "config") -> TriggerSettings:
    """Combine config.yaml's trigger section with the sidecar's recommendations.

    spec: the model's ModelSpec. Values left null in the config come from the sidecar.
    """
    thresholds = dict(spec.thresholds)
    if isinstance(trigger.threshold, dict):
        for kw, value in trigger.threshold.items():
            if kw not in thresholds:
                raise ConfigError(
                    f"{where}: trigger.threshold.{kw} names a keyword the model does not have "
                    f"(it has: {', '.join(spec.keywords)})"
                )
            thresholds[kw] = float(value)
    elif trigger.threshold is not None:
        thresholds = {kw: float(trigger.threshold) for kw in thresholds}
    rec = spec.trigger
    return TriggerSettings(
        thresholds=thresholds,
        hop_s=rec.hop_s if trigger.hop_ms is None else trigger.hop_ms / 1000.0,
        smoothing_windows=trigger.smoothing_windows or rec.smoothing_windows,
        patience_windows=trigger.patience_windows or rec.patience_windows,
        refractory_s=rec.refractory_s if trigger.refractory_ms is None else trigger.refractory_ms / 1000.0,
    )
