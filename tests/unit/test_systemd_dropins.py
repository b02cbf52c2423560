"""systemd/network.conf and systemd/wyoming.conf: drop-ins for wakeword.service that add the network
(and, for wyoming.conf, run the Wyoming service alone). Each is checked as systemd loads it,
beside a copy of the unit in a wakeword.service.d/ folder: `systemd-analyze verify` without
warnings, and `systemd-analyze security --offline` at an exposure of 2.0 or better."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.test_systemd_unit import INSTALLED_EXEC, UNIT, VERIFY_TIMEOUT_S, directives

DROPINS = {name: UNIT.with_name(f"{name}.conf") for name in ("network", "wyoming")}
#: The issue's bound on `systemd-analyze security`'s overall exposure (0 = best, 10 = worst).
MAX_EXPOSURE = 2.0

needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="systemd-analyze is not installed")


def install(tmp_path: Path, dropin_text: str | None, name: str = "x") -> Path:
    """The unit (and the drop-in, if any) where systemd-analyze loads both, with ExecStart paths
    pointing at a stub (verify refuses a missing binary; /opt/wakeword exists only on the Pi)."""
    stub = tmp_path / "wakeword"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    unit = tmp_path / "wakeword.service"
    unit.write_text(UNIT.read_text().replace(INSTALLED_EXEC, str(stub)))
    if dropin_text is not None:
        folder = tmp_path / "wakeword.service.d"
        folder.mkdir()
        (folder / f"{name}.conf").write_text(dropin_text.replace(INSTALLED_EXEC, str(stub)))
    return unit


def exposure(unit: Path) -> tuple[float, str]:
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit)],
                       capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S)
    found = re.search(r"Overall exposure level for wakeword\.service: ([\d.]+)", r.stdout)
    assert found, r.stdout + r.stderr
    return float(found.group(1)), r.stdout


@pytest.mark.parametrize("name", sorted(DROPINS))
def test_dropin_adds_internet_sockets_and_keeps_unix_ones(name):
    d = directives(DROPINS[name].read_text())
    assert set(d["Service.RestrictAddressFamilies"][0].split()) == {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert d["Service.IPAddressDeny"] == ["any"]


def test_the_wyoming_dropin_runs_the_service_alone_with_the_same_config():
    d = directives(DROPINS["wyoming"].read_text())
    assert d["Service.ExecStart"] == ["", f"{INSTALLED_EXEC} --config /etc/wakeword/config.yaml --wyoming-uri tcp://0.0.0.0:10400"]
    assert d["Service.PrivateDevices"] == ["yes"] and d["Service.DeviceAllow"] == [""]


@needs_systemd_analyze
@pytest.mark.parametrize("name", sorted(DROPINS))
def test_verify_passes_with_the_dropin_without_warnings(tmp_path, name):
    unit = install(tmp_path, DROPINS[name].read_text(), name)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)],
                       capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "wakeword.service" not in r.stdout + r.stderr and ".conf" not in r.stdout + r.stderr


@needs_systemd_analyze
def test_verify_reads_the_dropin_so_a_typo_in_it_is_caught(tmp_path):
    broken = DROPINS["network"].read_text().replace("IPAddressDeny=", "IPAdressDeny=")
    r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(install(tmp_path, broken))],
                       capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S)
    assert "Unknown key" in r.stdout + r.stderr and "x.conf" in r.stdout + r.stderr


@needs_systemd_analyze
@pytest.mark.parametrize("name", [None, *sorted(DROPINS)])
def test_exposure_stays_at_2_or_better_with_each_dropin(tmp_path, name):
    level, report = exposure(install(tmp_path, None if name is None else DROPINS[name].read_text(), name or "x"))
    assert level <= MAX_EXPOSURE, report
    internet = re.search(r"(\S) RestrictAddressFamilies=~AF_\(INET\|INET6\)", report).group(1)
    assert internet == ("✓" if name is None else "✗"), report  # the drop-in really applied
