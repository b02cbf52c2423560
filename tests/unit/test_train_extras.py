"""Training commands on an install without the [train] or [embedding] extra: one line naming what
is missing and the extra that installs it, exit status 2, no traceback. The extras are really
installed here, so each run hides them from its own interpreter (a finder that refuses them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Runs argv[2:] as `python -m argv[1]` in an interpreter where the modules named in argv[0] cannot
#: be imported, as on an install without their extra.
HIDE = """
import runpy, sys
hidden = set(sys.argv[1].split(","))
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in hidden:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Refuse())
module = sys.argv[2]
sys.argv = [module] + sys.argv[3:]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def run_hiding(hidden: str, module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", HIDE, hidden, module, *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("hidden, args, named, extra", [
    ("tensorflow", ["--folds", "5", "--out", "runs/never"], "tensorflow", "wakeword[train]"),
    ("soundfile,tensorflow", ["--folds", "5"], "tensorflow, soundfile", "wakeword[train]"),
    ("openwakeword", ["--frontend", "speech_embedding", "--folds", "5"], "openwakeword", "wakeword[embedding]"),
    ("tensorflow,openwakeword", ["custom", "--phrase", "hey pi", "--positives", "x", "--out", "y.tflite"],
     "tensorflow, openwakeword", "wakeword[train,embedding]"),
    ("soundfile", ["report", "--model", "models/stop.tflite", "--positives", "x"], "soundfile", "wakeword[train]"),
    ("matplotlib", ["report", "--model", "models/stop.tflite", "--positives", "x", "--det", "d.png"], "matplotlib",
     "wakeword[train]"),
    ("matplotlib", ["evaluate", "--folds", "5", "--model", "runs/never"], "matplotlib", "wakeword[train]"),
])
def test_wakeword_train_without_its_extra_is_one_line_naming_it(hidden, args, named, extra):
    done = run_hiding(hidden, "wakeword.train", *args)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert f"needs {named}, which this install lacks" in lines[0] and f"pip install '{extra}'" in lines[0], lines[0]
    assert not (ROOT / "runs/never").exists()


@pytest.mark.parametrize("module, args", [("wakeword.train.evaluate", ["--folds", "5", "--model", "runs/never"]),
                                          ("wakeword.train.commands_cv", ["--run", "runs/never"])])
def test_the_evaluations_run_as_modules_without_soundfile_are_one_line_naming_it(module, args):
    done = run_hiding("soundfile", module, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (f"error: python -m {module} needs soundfile, which this install "
                                   "lacks: pip install 'wakeword[train]'"), done.stderr


def test_the_finder_really_hides_a_module_and_nothing_else():
    """The check above is only worth something if the hiding works: soundfile really fails to import,
    and with nothing hidden the same command gets past the check (to its own usage error)."""
    hidden = subprocess.run([sys.executable, "-c", HIDE, "soundfile", "soundfile"], capture_output=True, text=True, timeout=60)
    assert "No module named 'soundfile'" in hidden.stderr
    shown = run_hiding("nothing", "wakeword.train", "evaluate", "--folds", "1", "--model", "runs/never")
    assert shown.returncode == 2 and "--folds must be at least 2" in shown.stderr, shown.stderr


def test_with_every_extra_installed_no_command_is_refused():
    """No false refusals: this environment has every extra, so each command's check passes and
    its help (made by its module, after the check) is shown."""
    from wakeword.train import require
    from wakeword.train.__main__ import NEEDS

    for command, modules in NEEDS.items():
        require(command, *modules, "matplotlib")
    for args, shown in [(["custom", "--help"], "--phrase"), (["--frontend", "speech_embedding", "--help"], "--head"),
                        (["--help"], "--arch"), (["report", "--help"], "--positives")]:
        done = run_hiding("nothing", "wakeword.train", *args)
        assert done.returncode == 0 and shown in done.stdout, (args, done.stderr)


def test_a_module_that_is_not_installed_is_named(monkeypatch):
    """The plain case, without the refusing finder: find_spec finds nothing."""
    import importlib.util

    from wakeword.errors import DependencyError
    from wakeword.train import require

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openwakeword" else real(name, *a))
    monkeypatch.delitem(sys.modules, "openwakeword", raising=False)
    with pytest.raises(DependencyError, match=r"^x needs openwakeword, which this install lacks: pip install 'wakeword\[embedding\]'$"):
        require("x", "soundfile", "openwakeword")
    require("x", "soundfile")
