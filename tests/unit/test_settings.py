"""wakeword.settings: every setting's range in one place, NaN and infinity rejected everywhere."""

from dataclasses import fields

import pytest
import yaml

from wakeword.config import config_from_dict, load_config
from wakeword.errors import ConfigError
from wakeword.settings import (
    ActionSettings,
    AudioSettings,
    CaptureSettings,
    HookSettings,
    LedSettings,
    ModelSettings,
    MqttSettings,
    OutputSettings,
    TriggerConfig,
    TriggerSettings,
    WyomingSettings,
    parse_wyoming_uri,
    pin_label,
)

#: (settings class, its config.yaml section)
SECTIONS = [
    (AudioSettings, "audio"),
    (ModelSettings, "model"),
    (LedSettings, "actions.led"),
    (OutputSettings, "actions.output"),
    (HookSettings, "actions.hook"),
    (MqttSettings, "actions.mqtt"),
    (WyomingSettings, "wyoming"),
    (CaptureSettings, "capture"),
]


def numeric_keys():
    """Every config.yaml key that takes a number (GPIO pins included)."""
    keys = []
    for cls, section in SECTIONS:
        for f in fields(cls):
            if f.metadata.get("kind") in ("number", "pin"):  # a pin is a GPIO number too
                keys.append(f"{section}.{f.name}")
    keys += ["trigger.threshold", "trigger.hop_ms", "trigger.smoothing_windows", "trigger.patience_windows",
             "trigger.refractory_ms", "trigger.contest_ms"]
    return keys


def nested(dotted: str, value) -> dict:
    out: dict = {}
    node = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


@pytest.mark.parametrize("key", numeric_keys())
@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf"])
def test_nan_and_infinity_are_rejected_naming_the_key(tmp_path, key, text):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(nested(key, 0)).replace(": 0\n", f": {text}\n"))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(f"{path}: {key} must be")
    assert "\n" not in message


def test_the_numeric_keys_cover_every_number_in_the_shipped_config():
    # so that the NaN test above cannot silently skip a key config.yaml documents
    from pathlib import Path

    raw = yaml.safe_load((Path(__file__).resolve().parents[2] / "config.yaml").read_text())

    def leaves(node, prefix=""):
        for k, v in node.items():
            if isinstance(v, dict):
                yield from leaves(v, f"{prefix}{k}.")
            else:
                yield f"{prefix}{k}", v

    numbers = {k for k, v in leaves(raw) if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numbers and numbers <= set(numeric_keys()), numbers - set(numeric_keys())


def test_the_same_pin_for_the_led_and_the_output_is_rejected_when_built():
    with pytest.raises(ConfigError, match="actions.output.pin is the same pin as actions.led.pin"):
        ActionSettings(led=LedSettings(pin=17), output=OutputSettings(pin=17))
    with pytest.raises(ConfigError, match="actions.output.pin is the same pin"):
        config_from_dict({"actions": {"led": {"pin": "GPIO5"}, "output": {"pin": "GPIO5"}}}, "c.yaml", None)


def test_a_sidecar_trigger_and_config_overrides_share_one_definition():
    recommended = TriggerSettings(hop_s=0.08, smoothing_windows=3, patience_windows=1, refractory_s=1.0)
    over = TriggerConfig.from_keys(hop_ms=160, refractory_ms=2500, smoothing_windows=None)
    assert over.apply(recommended) == TriggerSettings(hop_s=0.16, smoothing_windows=3, patience_windows=1, refractory_s=2.5)
    assert over.value("hop_ms") == 160 and over.value("smoothing_windows") is None
    # the ms keys take their range from TriggerSettings' seconds
    with pytest.raises(ConfigError, match="trigger.refractory_ms must be between 0 and 60000, got 70000"):
        TriggerConfig.from_keys(refractory_ms=70000)
    with pytest.raises(ConfigError, match="trigger.hop_s must be between 0.01 and 1"):
        TriggerSettings(hop_s=2.0)


def test_a_device_given_as_digits_is_an_index():
    assert AudioSettings(device="3").device == 3
    assert AudioSettings(device=" USB ").device == " USB "
    with pytest.raises(ConfigError, match="audio.device must be null, a device index"):
        AudioSettings(device=-1)


def test_hook_command_must_be_an_argument_list_not_a_shell_string():
    with pytest.raises(ConfigError, match=r"actions\.hook\.command must be a list of arguments .*never run through a shell"):
        HookSettings(command="echo hi")
    assert HookSettings(command=["/bin/echo", "hi"]).command == ("/bin/echo", "hi")


@pytest.mark.parametrize("make, key", [
    (lambda: LedSettings(mode="strobe"), "actions.led.mode"),
    (lambda: LedSettings(on_s=0), "actions.led.on_s"),
    (lambda: LedSettings(pin=True), "actions.led.pin"),
    (lambda: OutputSettings(pulse_s=-1), "actions.output.pulse_s"),
    (lambda: HookSettings(max_concurrent=0), "actions.hook.max_concurrent"),
    (lambda: HookSettings(timeout_s=0), "actions.hook.timeout_s"),
])
def test_invalid_settings_name_the_key(make, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        make()


@pytest.mark.parametrize("uri, scheme, where", [
    ("tcp://:10400", "tcp", ("127.0.0.1", 10400)),
    ("tcp://0.0.0.0:10400", "tcp", ("0.0.0.0", 10400)),
    ("tcp://[::1]:10400", "tcp", ("::1", 10400)),
    ("tcp://pi.local:10400", "tcp", ("pi.local", 10400)),
    ("unix:///run/wakeword/wyoming.sock", "unix", "/run/wakeword/wyoming.sock"),
])
def test_wyoming_uris_parse_and_a_missing_host_is_loopback(uri, scheme, where):
    address = parse_wyoming_uri(uri)
    assert address.scheme == scheme
    assert ((address.host, address.port) if scheme == "tcp" else str(address.path)) == where


@pytest.mark.parametrize("uri", ["10400", "http://pi:10400", "tcp://pi", "tcp://pi:0", "tcp://pi:65536",
                                 "tcp://pi:10400/path", "tcp://user:pw@pi:10400", "unix://", "unix://rel.sock",
                                 "unix:///run/", "stdio://", None, 10400])
def test_bad_wyoming_uris_are_config_errors_naming_the_key(uri):
    with pytest.raises(ConfigError, match=r"wyoming\.uri"):
        parse_wyoming_uri(uri)


def test_a_device_or_pin_of_non_ascii_digits_is_a_name_not_a_traceback():
    assert AudioSettings(device="²").device == "²"
    assert AudioSettings(device=" 2 ").device == 2
    assert pin_label("²") == "²" and pin_label("17") == "GPIO17"


@pytest.mark.parametrize("key", ["blink_on_s", "blink_off_s"])
def test_a_blink_shorter_than_10_ms_is_refused(key):
    # 1e-9 s made one detection with on_s 1 a 500-million-step blink on the gpiozero thread
    with pytest.raises(ConfigError, match=f"actions.led.{key}"):
        LedSettings(pin=17, mode="blink", **{key: 1e-9})
    assert getattr(LedSettings(pin=17, mode="blink", **{key: 0.01}), key) == 0.01
