"""config.yaml: read with yaml.safe_load into the frozen settings of settings.py.

Unknown keys are errors (typos are the commonest config bug) and every message names the
file, the key and the problem, e.g.
    config.yaml: trigger.threshold must be between 0 and 1, got 1.5
The ranges live in settings.py, so a file, a command-line flag and code are checked the same
way. Command-line flags override the file; they are named "command line" in messages.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from .checks import field_names
from .errors import ConfigError
from .textfile import read_text_file
from .settings import (
    ActionSettings,
    AudioSettings,
    CaptureSettings,
    HookSettings,
    KeywordActions,
    LedSettings,
    ModelSettings,
    MqttSettings,
    OutputSettings,
    DEFAULT_COINCIDENCE_S,
    TRIGGER_CONFIG_KEYS,
    TriggerConfig,
    WyomingSettings,
)

#: The model used when config.yaml does not name one.
DEFAULT_MODEL_NAME = "stop.tflite"
#: The source tree's folder of shipped models, as a relative model.path may name it.
SHIPPED_MODELS_DIR_NAME = "models"
SECTIONS = ("audio", "model", "models", "trigger", "actions", "capture", "wyoming")
#: The most models one daemon runs (each costs its window scoring on every hop).
MODELS_MAX = 8


def models_dirs() -> list[Path]:
    """Where shipped models live: the source tree, then the installed data directory."""
    return [Path(__file__).resolve().parents[1] / "models", Path(sys.prefix) / "share" / "wakeword" / "models"]


def default_model_path() -> Path:
    return shipped_model(DEFAULT_MODEL_NAME) or models_dirs()[0] / DEFAULT_MODEL_NAME


def shipped_model(name: str) -> Path | None:
    """A shipped model by file name ("stop-embedding.tflite") or bare name ("stop-embedding"):
    its path in the first of models_dirs() that has it, else None."""
    if not Path(name).suffix:
        name += ".tflite"
    for folder in models_dirs():
        if (folder / name).is_file():
            return folder / name
    return None


def _shipped_fallback(path: Path) -> Path | None:
    """For a relative model.path that names no file: the shipped model it names, if it is a
    bare name ("stop-embedding", "stop.tflite") or one under models/ as the README writes it
    ("models/stop-embedding.tflite"). So /etc/wakeword/config.yaml can name a shipped model
    although /etc/wakeword/models does not exist."""
    parts = path.parts
    if len(parts) == 1 or (len(parts) == 2 and parts[0] == SHIPPED_MODELS_DIR_NAME):
        return shipped_model(parts[-1])
    return None


@dataclass(frozen=True)
class Config:
    """models: the model section (one), or the models list's entries, in order; every model
    shares the capture, the resampler and (when their front ends match) the features."""

    audio: AudioSettings = field(default_factory=AudioSettings)
    models: tuple = field(default_factory=lambda: (ModelSettings(path=default_model_path()),))
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    actions: ActionSettings = field(default_factory=ActionSettings)
    wyoming: WyomingSettings = field(default_factory=WyomingSettings)
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    source: str = "defaults"

    @property
    def model(self) -> ModelSettings:
        """The first model (the only one, unless config.yaml has a models list)."""
        return self.models[0]


def _mapping(raw, key: str, allowed) -> dict:
    """A section's mapping, with unknown keys named; None is an empty section."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{key} must be a mapping of settings, got {type(raw).__name__}")
    unknown = sorted(set(map(str, raw)) - set(allowed))
    if unknown:
        raise ConfigError(f"{key}.{unknown[0]} is not a known setting (known: {', '.join(sorted(allowed))})")
    return raw


def _build(cls, raw, key: str, **extra):
    """cls(**section) for a settings dataclass; unknown keys and bad values raise ConfigError."""
    values = _mapping(raw, key, field_names(cls) - set(extra))
    return cls(**values, **extra)


def _model(raw, base_dir: Path, key: str = "model") -> ModelSettings:
    if isinstance(raw, (str, Path)) and key != "model":
        raw = {"path": raw}  # a models entry may be the path alone
    raw = dict(_mapping(raw, key, field_names(ModelSettings) - {"key"}))
    path = raw.get("path")
    if path is None:
        if key != "model":
            raise ConfigError(f"{key}.path is missing: each entry of models names a .tflite file")
        raw["path"] = default_model_path()
    elif not isinstance(path, (str, Path)) or not str(path).strip():
        raise ConfigError(f"{key}.path must be a path to a .tflite file, got {path!r}")
    else:
        path = Path(path).expanduser()
        # relative to the config file, not to wherever the daemon started; a shipped model's
        # name when no such file is there
        if not path.is_absolute():
            relative = base_dir / path
            path = relative if relative.exists() else (_shipped_fallback(path) or relative)
        raw["path"] = path
    return ModelSettings(**raw, key=key)


def _models(raw_model, raw_models, base_dir: Path) -> tuple:
    """The model section, or the models list (not both)."""
    if raw_models is None:
        return (_model(raw_model, base_dir),)
    if raw_model is not None:
        raise ConfigError("give either model (one model) or models (a list), not both")
    if not isinstance(raw_models, list) or not raw_models:
        raise ConfigError("models must be a list of models, each a path or a mapping with path and threshold")
    if len(raw_models) > MODELS_MAX:
        raise ConfigError(f"models lists {len(raw_models)} models; at most {MODELS_MAX} run at once")
    models = tuple(_model(entry, base_dir, f"models[{i}]") for i, entry in enumerate(raw_models))
    paths = [m.path.with_suffix(".tflite").resolve() for m in models]
    for i, p in enumerate(paths):
        if p in paths[:i]:
            raise ConfigError(f"models[{i}].path names the same model as models[{paths.index(p)}] ({p.name})")
    return models


def _trigger(raw) -> TriggerConfig:
    raw = dict(_mapping(raw, "trigger", {"threshold", "combine", "coincidence_ms", *TRIGGER_CONFIG_KEYS}))
    return TriggerConfig.from_keys(**raw)


def _actions(raw, base_dir: Path) -> ActionSettings:
    raw = _mapping(raw, "actions", field_names(ActionSettings))
    led = _build(LedSettings, raw.get("led"), "actions.led")
    output = _build(OutputSettings, raw.get("output"), "actions.output")
    hook = _build(HookSettings, raw.get("hook"), "actions.hook")
    return ActionSettings(
        led=led, output=output, hook=hook,
        mqtt=_mqtt(raw.get("mqtt"), base_dir),
        keywords=_keyword_actions(raw.get("keywords"), KeywordActions(led, output, hook)),
        **({"log_json": raw["log_json"]} if "log_json" in raw else {}),
    )


def _keyword_actions(raw, default: KeywordActions) -> dict:
    """actions.keywords: {keyword: {led, output, hook}}; each part given is merged key by key
    over the default section's (so `output: {pin: 23}` keeps the default pulse_s), each part
    left out is the default's. `led: {pin: null}` turns the LED off for that keyword."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"actions.keywords must map keywords to their actions, got {type(raw).__name__}")
    out = {}
    for kw, section in raw.items():
        key = f"actions.keywords.{kw}"
        section = _mapping(section, key, ("led", "output", "hook"))
        parts = {}
        for part, cls in (("led", LedSettings), ("output", OutputSettings), ("hook", HookSettings)):
            base = getattr(default, part)
            if part not in section:
                parts[part] = base
                continue
            given = _mapping(section[part], f"{key}.{part}", field_names(cls))
            try:
                parts[part] = replace(base, **given)
            except ConfigError as exc:  # the settings name their section as actions.<part>
                raise ConfigError(str(exc).replace(f"actions.{part}.", f"{key}.{part}.", 1)) from None
        out[str(kw)] = KeywordActions(**parts)
    return out


def _mqtt(raw, base_dir: Path) -> MqttSettings:
    raw = dict(_mapping(raw, "actions.mqtt", field_names(MqttSettings)))
    for key in ("ca_file", "password_file"):
        path = raw.get(key)
        if isinstance(path, str) and path.strip():
            # relative to the config file, like model.path
            path = Path(path).expanduser()
            raw[key] = path if path.is_absolute() else base_dir / path
    return MqttSettings(**raw)


def _wyoming(raw) -> WyomingSettings:
    raw = dict(_mapping(raw, "wyoming", field_names(WyomingSettings)))
    return WyomingSettings(**raw)


def _capture(raw, base_dir: Path) -> CaptureSettings:
    raw = dict(_mapping(raw, "capture", field_names(CaptureSettings)))
    folder = raw.get("dir")
    if isinstance(folder, str) and folder.strip():
        folder = Path(folder).expanduser()
        raw["dir"] = folder if folder.is_absolute() else base_dir / folder  # relative to the config file
    return CaptureSettings(**raw)


def config_from_dict(raw, where: str, base_dir: Path) -> Config:
    """Validate a parsed YAML document; raise ConfigError naming `where` and the key."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: the top level must be a mapping with sections {', '.join(SECTIONS)}")
    try:
        raw = _mapping(raw, "config", SECTIONS)
        return Config(
            audio=_build(AudioSettings, raw.get("audio"), "audio"),
            models=_models(raw.get("model"), raw.get("models"), base_dir),
            trigger=_trigger(raw.get("trigger")),
            actions=_actions(raw.get("actions"), base_dir),
            wyoming=_wyoming(raw.get("wyoming")),
            capture=_capture(raw.get("capture"), base_dir),
            source=where,
        )
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


class _ConfigLoader(yaml.SafeLoader):
    """safe_load, except that a mapping key is never a boolean: YAML 1.1 reads a bare on, off,
    yes or no as true or false, and four of the command words are exactly those, so
    `actions.keywords: {on: ...}` meant the keyword "on", not True. Keys keep their text;
    values (log_json: yes) are read as YAML always read them."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            for key_node, _ in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag == "tag:yaml.org,2002:bool":
                    key_node.tag = "tag:yaml.org,2002:str"
        return super().construct_mapping(node, deep=deep)


def load_config(path: Path | None) -> Config:
    """Read and validate config.yaml; None gives the built-in defaults."""
    if path is None:
        return config_from_dict({}, "defaults", Path.cwd())
    path = Path(path)
    text = read_text_file(path, "config file", ConfigError)
    try:
        raw = yaml.load(text, Loader=_ConfigLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{at}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a config file") from None
    return config_from_dict(raw, str(path), path.resolve().parent)


def _override_actions(actions: ActionSettings, keys: dict) -> ActionSettings:
    """actions.led.pin / actions.output.pin from the command line (--no-gpio sets both null)."""
    known = {"led.pin", "output.pin"}
    unknown = sorted(set(keys) - known)
    if unknown:
        raise ConfigError(f"actions.{unknown[0]} cannot be set from the command line")
    led, output = actions.led, actions.output
    if "led.pin" in keys:
        led = replace(led, pin=keys["led.pin"])
    if "output.pin" in keys:
        output = replace(output, pin=keys["output.pin"])
    return replace(actions, led=led, output=output)


def apply_overrides(config: Config, overrides: dict) -> Config:
    """Override settings from the command line: {"audio.device": 2, "trigger.threshold": 0.8}.

    Values are validated by the same settings classes, as if they came from a file called
    "command line"; a relative model path is relative to the working directory.
    """
    if not overrides:
        return config
    sections: dict[str, dict] = {}
    for dotted, value in overrides.items():
        section, key = dotted.split(".", 1)
        sections.setdefault(section, {})[key] = value
    try:
        if "audio" in sections:
            config = replace(config, audio=replace(config.audio, **_mapping(sections["audio"], "audio", field_names(AudioSettings))))
        if "model" in sections:
            given = sections["model"]
            if "path" in given:  # --model: that model alone, instead of the file's list
                merged = {"num_threads": config.model.num_threads, **given}
                models = (_model(merged, Path.cwd()),)
                if config.trigger.combine == "all":  # the file's models must agree; one alone has none to agree with
                    config = replace(config, trigger=replace(config.trigger, combine="any", coincidence_s=DEFAULT_COINCIDENCE_S))
            else:
                models = tuple(replace(m, **given) for m in config.models)
            config = replace(config, models=models)
        if "trigger" in sections:
            keys = {k: config.trigger.value(k) for k in TRIGGER_CONFIG_KEYS}
            t = config.trigger
            kept = {"combine": t.combine, "coincidence_ms": 1000 * t.coincidence_s} if t.combine == "all" else {}
            merged = {"threshold": t.threshold, **keys, **kept, **sections["trigger"]}
            config = replace(config, trigger=_trigger(merged))
            if "threshold" in sections["trigger"]:  # --threshold: every keyword of every model
                config = replace(config, models=tuple(replace(m, threshold=None) for m in config.models))
        if "wyoming" in sections:
            values = _mapping(sections["wyoming"], "wyoming", field_names(WyomingSettings))
            config = replace(config, wyoming=replace(config.wyoming, **values))
        if "actions" in sections:
            config = replace(config, actions=_override_actions(config.actions, sections["actions"]))
    except ConfigError as exc:
        raise ConfigError(f"command line: {exc}") from None
    # later checks (a hop that is no whole number of the model's frames) name the source; the
    # value may have come from either
    return replace(config, source=f"{config.source} with the command line's " + ", ".join(sorted(overrides)))
