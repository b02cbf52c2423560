"""systemd/wakeword.service: key directives, and `systemd-analyze verify` where installed.

verify refuses a unit whose ExecStart binary does not exist, and /opt/wakeword/venv exists only
on the Pi. So the test verifies a copy whose ExecStart path (only the path; the arguments stay)
points at a stub executable in tmp_path. verify also exits 0 on unknown keys and unparsable
values, only printing a warning, so the test fails on any output that names the unit too.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[2] / "systemd" / "wakeword.service"
INSTALLED_EXEC = "/opt/wakeword/venv/bin/wakeword"
VERIFY_TIMEOUT_S = 60


def directives(text: str) -> dict[str, list[str]]:
    """'Section.Key' -> every value it is given (keys such as DeviceAllow repeat)."""
    found: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


@pytest.fixture(scope="module")
def unit() -> dict[str, list[str]]:
    return directives(UNIT.read_text())


def test_unit_is_type_notify_with_watchdog_and_restart_on_failure(unit):
    assert unit["Service.Type"] == ["notify"]
    assert unit["Service.NotifyAccess"] == ["main"]
    assert unit["Service.WatchdogSec"] == ["30"]
    assert unit["Service.Restart"] == ["on-failure"]
    assert unit["Service.RestartSec"] == ["5"]
    assert unit["Service.ExecStart"] == [f"{INSTALLED_EXEC} --config /etc/wakeword/config.yaml"]
    assert unit["Install.WantedBy"] == ["multi-user.target"]


def test_unit_runs_as_wakeword_with_audio_and_gpio_groups(unit):
    assert unit["Service.User"] == ["wakeword"]
    assert unit["Service.Group"] == ["wakeword"]
    assert {"audio", "gpio"} <= set(unit["Service.SupplementaryGroups"][0].split())


def test_unit_sandbox_allows_only_unix_sockets_and_sound_and_gpio_devices(unit):
    assert unit["Service.NoNewPrivileges"] == ["yes"]
    assert unit["Service.ProtectSystem"] == ["strict"]
    assert unit["Service.RestrictAddressFamilies"] == ["AF_UNIX"]
    assert unit["Service.DevicePolicy"] == ["closed"]
    allowed = {v.split()[0] for v in unit["Service.DeviceAllow"]}
    assert {"char-alsa", "char-gpiochip"} <= allowed
    # lgpio writes its FIFOs in the working directory: it must be the writable runtime dir.
    assert unit["Service.WorkingDirectory"] == ["/run/wakeword"]
    assert unit["Service.RuntimeDirectory"] == ["wakeword"]


def test_unit_leaves_memory_deny_write_execute_off_for_cffi_callbacks(unit):
    # sounddevice's PortAudio callback is a cffi ffi.callback(), which needs W+X memory.
    assert "Service.MemoryDenyWriteExecute" not in unit


def _verify(unit_text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    stub = tmp_path / "wakeword"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    assert unit_text.count(f"ExecStart={INSTALLED_EXEC} ") == 1
    copy = tmp_path / "wakeword.service"
    copy.write_text(unit_text.replace(f"ExecStart={INSTALLED_EXEC} ", f"ExecStart={stub} "))
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(copy)],
                          capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S)


needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="systemd-analyze is not installed")


@needs_systemd_analyze
def test_systemd_analyze_verify_passes_without_warnings(tmp_path):
    result = _verify(UNIT.read_text(), tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "wakeword.service" not in output, output


@needs_systemd_analyze
def test_verify_check_catches_a_misspelt_directive(tmp_path):
    # Guards the test above: a typo only warns (exit status 0), so the output check matters.
    broken = UNIT.read_text().replace("ProtectHome=yes", "ProtectHomes=yes")
    result = _verify(broken, tmp_path)
    assert "Unknown key" in result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("systemd-sysusers") is None, reason="systemd-sysusers is not installed")
def test_sysusers_file_creates_the_user_in_audio_and_gpio(tmp_path):
    (tmp_path / "etc").mkdir()
    conf = UNIT.with_name("wakeword.sysusers.conf")
    result = subprocess.run(["systemd-sysusers", f"--root={tmp_path}", str(conf)],
                            capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    users = {line.split(":")[0]: line.split(":") for line in (tmp_path / "etc" / "passwd").read_text().splitlines()}
    assert users["wakeword"][6] == "/usr/sbin/nologin"
    groups = {line.split(":")[0]: line.split(":")[3].split(",")
              for line in (tmp_path / "etc" / "group").read_text().splitlines()}
    assert "wakeword" in groups["audio"] and "wakeword" in groups["gpio"]


#: The exposure `systemd-analyze security` gives the unit must not rise above this (it is 1.6).
EXPOSURE_MAX = 2.0


@needs_systemd_analyze
def test_the_units_security_exposure_stays_at_or_below_2(tmp_path):
    stub = tmp_path / "wakeword"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copy = tmp_path / "wakeword.service"
    copy.write_text(UNIT.read_text().replace(f"ExecStart={INSTALLED_EXEC} ", f"ExecStart={stub} "))
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", "--no-pager", str(copy)],
                            capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S)
    if "--offline" in result.stderr and "unrecognized" in result.stderr:
        pytest.skip("this systemd-analyze cannot check a unit file offline (needs systemd 250)")
    lines = [line for line in result.stdout.splitlines() if "Overall exposure level" in line]
    assert len(lines) == 1, result.stdout + result.stderr
    exposure = float(lines[0].split(":")[1].split()[0])
    assert exposure <= EXPOSURE_MAX, lines[0]
