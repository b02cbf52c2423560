"""config.yaml: shipped defaults are valid, typos and bad values are named, flags override."""

from pathlib import Path

import pytest
import yaml

from wakeword.config import apply_overrides, config_from_dict, load_config
from wakeword.errors import ConfigError
from wakeword.sidecar import load_sidecar

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_shipped_config_yaml_is_valid_and_equals_the_built_in_defaults():
    shipped = load_config(ROOT / "config.yaml")
    defaults = load_config(None)
    assert shipped.audio == defaults.audio
    assert shipped.trigger == defaults.trigger
    assert shipped.actions == defaults.actions
    assert shipped.wyoming == defaults.wyoming
    assert shipped.model.path == defaults.model.path == ROOT / "models" / "stop.tflite"
    assert shipped.actions.led.pin == 17


def test_every_default_is_documented_in_config_yaml():
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    text = (ROOT / "config.yaml").read_text()
    for section, values in raw.items():
        for key in values:
            assert f"  {key}:" in text
    assert set(raw) == {"audio", "model", "trigger", "actions", "capture", "wyoming"}


def _documented(value):
    """A config.yaml value as the settings class holds it (lists are tuples there)."""
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("section", ["audio", "actions", "actions.led", "actions.output", "actions.hook", "actions.mqtt", "capture", "wyoming"])
def test_config_yaml_documents_every_field_of_a_section_with_its_built_in_default(section):
    from dataclasses import fields, is_dataclass

    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    node = raw
    for part in section.split("."):
        node = node[part]
    defaults = load_config(None)
    for part in section.split("."):
        defaults = getattr(defaults, part)
    names = {f.name for f in fields(defaults) if not is_dataclass(getattr(defaults, f.name))}
    assert {k for k, v in node.items() if not isinstance(v, dict) or not v} == names
    for name in names:
        assert _documented(node[name]) == getattr(defaults, name), f"{section}.{name}"


@pytest.mark.parametrize(
    "text, message",
    [
        ("trigger:\n  threshold: 1.5\n", "config.yaml: trigger.threshold must be between 0 and 1, got 1.5"),
        ("trigger:\n  treshold: 0.5\n", "config.yaml: trigger.treshold is not a known setting"),
        ("audoi:\n  device: 1\n", "config.yaml: config.audoi is not a known setting"),
        ("audio:\n  block_ms: fast\n", "config.yaml: audio.block_ms must be a whole number, got 'fast'"),
        ("audio:\n  device: -1\n", "config.yaml: audio.device must be null, a device index or part of a device name"),
        ("actions:\n  led:\n    pin: 40\n", "config.yaml: actions.led.pin must be a BCM pin number 0-27"),
        ("actions:\n  led:\n    mode: strobe\n", "config.yaml: actions.led.mode must be one of blink, on"),
        ("actions:\n  led:\n    mode: on\n", 'config.yaml: actions.led.mode must be one of blink, on, got True (YAML reads a bare on, off, yes or no as true or false: quote the word, e.g. "on")'),
        ("actions:\n  hook:\n    command: echo hi\n", "config.yaml: actions.hook.command must be a list of arguments"),
        ("actions:\n  output:\n    pin: 17\n", "config.yaml: actions.output.pin is the same pin as actions.led.pin"),
        ("model:\n  path: model.onnx\n", "config.yaml: model.path must name a .tflite model"),
        ("model:\n  num_threads: 0\n", "config.yaml: model.num_threads must be between 1 and 4, got 0"),
        ("- just\n- a list\n", "config.yaml: the top level must be a mapping"),
        ("trigger: [1\n", "config.yaml: invalid YAML at line"),
        ("wyoming:\n  uri: http://x:1\n", "config.yaml: wyoming.uri must be tcp://HOST:PORT or unix://PATH"),
        ("wyoming:\n  uri: tcp://:10400\n  max_clients: 0\n", "config.yaml: wyoming.max_clients must be between 1 and 64, got 0"),
        ("wyoming:\n  max_payload_bytes: 10\n", "config.yaml: wyoming.max_payload_bytes must be between 1024 and 67108864"),
        ("wyoming:\n  languages: en\n", "config.yaml: wyoming.languages must be a list of language codes"),
        ("wyoming:\n  url: tcp://:1\n", "config.yaml: wyoming.url is not a known setting"),
        ("actions:\n  mqtt:\n    hots: broker\n", "config.yaml: actions.mqtt.hots is not a known setting"),
        ("actions:\n  mqtt:\n    port: 0\n", "config.yaml: actions.mqtt.port must be between 1 and 65535, got 0"),
        ("actions:\n  mqtt:\n    password: hunter2\n", "config.yaml: actions.mqtt.password is not a known setting"),
        ("actions:\n  mqtt:\n    password_file: pw\n", "config.yaml: actions.mqtt.password_file needs actions.mqtt.username"),
        ("actions:\n  mqtt:\n    ca_file: ca.pem\n", "config.yaml: actions.mqtt.ca_file is set but actions.mqtt.tls is false"),
        ("actions:\n  mqtt:\n    topic_prefix: home/#\n", "config.yaml: actions.mqtt.topic_prefix must be an MQTT topic without wildcards"),
        ("actions:\n  mqtt:\n    client_id: my pi\n", "config.yaml: actions.mqtt.client_id must be letters, digits, - and _ only"),
        ("actions:\n  mqtt:\n    host: ''\n", "config.yaml: actions.mqtt.host must be a non-empty string or null"),
    ],
)
def test_bad_values_name_the_file_the_key_and_the_problem(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert str(err.value).startswith(str(tmp_path / "config.yaml"))
    assert message.split("config.yaml: ", 1)[1] in str(err.value)


def test_a_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_an_empty_file_gives_the_defaults(tmp_path):
    assert load_config(write(tmp_path, "")).trigger == load_config(None).trigger


def test_a_relative_model_path_is_relative_to_the_config_file(tmp_path):
    cfg = load_config(write(tmp_path, "model:\n  path: models/x.tflite\n"))
    assert cfg.model.path == tmp_path / "models" / "x.tflite"


def test_command_line_overrides_win_and_are_validated():
    cfg = load_config(ROOT / "config.yaml")
    cfg = apply_overrides(cfg, {"audio.device": "USB", "trigger.threshold": 0.9, "trigger.hop_ms": 200})
    assert cfg.audio.device == "USB" and cfg.trigger.threshold == 0.9 and cfg.trigger.value("hop_ms") == 200
    assert cfg.audio.block_ms is None  # untouched: the model decides
    with pytest.raises(ConfigError, match="command line: trigger.threshold must be between 0 and 1"):
        apply_overrides(cfg, {"trigger.threshold": 2.0})


def test_trigger_settings_come_from_the_sidecar_unless_overridden():
    spec = load_sidecar(ROOT / "models" / "stop.json")
    base = config_from_dict({}, "c.yaml", ROOT)
    assert base.trigger.thresholds(spec.thresholds) == spec.thresholds
    assert base.trigger.apply(spec.trigger) == spec.trigger
    over = config_from_dict({"trigger": {"threshold": 0.77, "refractory_ms": 2500, "smoothing_windows": 4}}, "c.yaml", ROOT)
    s = over.trigger.apply(spec.trigger)
    assert over.trigger.thresholds(spec.thresholds) == {"stop": 0.77} and s.refractory_s == 2.5 and s.smoothing_windows == 4
    assert s.hop_s == spec.trigger.hop_s and s.patience_windows == spec.trigger.patience_windows
    bad = config_from_dict({"trigger": {"threshold": {"go": 0.5}}}, "c.yaml", ROOT)
    with pytest.raises(ConfigError, match="trigger.threshold.go names a keyword the model does not have"):
        bad.trigger.thresholds(spec.thresholds, where="c.yaml")


def test_a_null_block_lets_the_models_front_end_choose_and_a_number_wins():
    from types import SimpleNamespace

    from wakeword.daemon import capture_block_ms

    mfcc = load_sidecar(ROOT / "models" / "stop.json")
    shipped = load_config(ROOT / "config.yaml")
    assert shipped.audio.block_ms is None
    def block(config, spec):
        return capture_block_ms(config, SimpleNamespace(spec=spec))

    assert block(shipped, mfcc) == 100
    pytest.importorskip("openwakeword")
    embedding = load_sidecar(ROOT / "models" / "stop-embedding.json")
    assert block(shipped, embedding) == 160
    fixed = apply_overrides(shipped, {"audio.block_ms": 320})
    assert block(fixed, embedding) == 320
    assert config_from_dict({"audio": {"block_ms": None}}, "c.yaml", ROOT).audio.block_ms is None
    with pytest.raises(ConfigError, match="audio.block_ms must be between 10 and 1000, got 5"):
        config_from_dict({"audio": {"block_ms": 5}}, "c.yaml", ROOT)


def test_mqtt_files_are_relative_to_the_config_file_and_the_password_is_not_in_the_config(tmp_path):
    cfg = load_config(write(tmp_path, "actions:\n  mqtt:\n    host: broker\n    username: pi\n"
                                      "    password_file: secrets/mqtt\n    tls: true\n    ca_file: /etc/ssl/ca.pem\n"))
    m = cfg.actions.mqtt
    assert m.enabled and m.password_file == tmp_path / "secrets" / "mqtt" and m.ca_file == Path("/etc/ssl/ca.pem")
    assert not load_config(None).actions.mqtt.enabled and not load_config(None).wyoming.enabled


def test_the_wyoming_uri_flag_overrides_the_file_and_is_validated():
    cfg = apply_overrides(load_config(ROOT / "config.yaml"), {"wyoming.uri": "tcp://:10400"})
    assert cfg.wyoming.address.uri == "tcp://127.0.0.1:10400"  # no host given: this machine only
    assert cfg.wyoming.max_clients == 8
    with pytest.raises(ConfigError, match="command line: wyoming.uri must be tcp://HOST:PORT or unix://PATH"):
        apply_overrides(cfg, {"wyoming.uri": "10400"})


def test_bare_on_off_yes_no_as_keys_are_the_command_words_not_booleans(tmp_path):
    # YAML 1.1 reads a bare `on:` as True: "actions.keywords.True names a keyword no model has"
    cfg = load_config(write(tmp_path, f"model: {{path: {ROOT / 'models' / 'commands.tflite'}}}\n"
                                      "trigger: {threshold: {no: 0.9, yes: 0.95}}\n"
                                      "actions:\n  log_json: no\n  keywords:\n    on: {output: {pin: 23}}\n"
                                      "    off: {output: {pin: 24}}\n"))
    assert set(cfg.actions.keywords) == {"on", "off"}
    assert cfg.actions.log_json is False  # values are still YAML's booleans
    assert cfg.trigger.thresholds({"no": 0.5, "yes": 0.5, "go": 0.5}, "t") == {"no": 0.9, "yes": 0.95, "go": 0.5}


def test_a_config_with_command_line_overrides_names_both_as_its_source(tmp_path):
    # the hop check runs later, on the model: "hop.yaml: trigger.hop_ms ..." blamed the file for --hop-ms 30
    cfg = apply_overrides(load_config(write(tmp_path, "trigger: {}\n")), {"trigger.hop_ms": 30})
    assert cfg.source == f"{tmp_path / 'config.yaml'} with the command line's trigger.hop_ms"
    assert apply_overrides(cfg, {}).source == cfg.source
