"""wakeword.interpreter: the backend choice and opening files with it."""

import numpy as np
import pytest

from wakeword.errors import DependencyError, ModelError
from wakeword.interpreter import load_interpreter_class, open_interpreter


def test_litert_is_preferred_and_a_broken_backend_is_skipped():
    cls, backend = load_interpreter_class(("no_such_backend.interpreter", "ai_edge_litert.interpreter", "tflite_runtime.interpreter"))
    assert backend.startswith(("ai_edge_litert", "tflite_runtime"))
    with pytest.raises(DependencyError, match="pip install ai-edge-litert"):
        load_interpreter_class(("no_such_backend.interpreter",))


def test_a_file_the_backend_refuses_is_a_model_error_naming_it(tmp_path):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"not a flatbuffer at all" * 8)
    with pytest.raises(ModelError, match=f"{bad}: not a valid TFLite model"):
        interp, _ = open_interpreter(bad)
        interp.allocate_tensors()


def _shim_backend(tmp_path, package: str, error: str) -> None:
    """A package `package` whose Interpreter raises `error` when constructed, as tflite_runtime
    built for numpy 1 does under numpy 2 (SystemError: ... returned a result with an exception set)."""
    folder = tmp_path / package
    folder.mkdir()
    (folder / "__init__.py").write_text("")
    (folder / "interpreter.py").write_text(
        "import sys\n"
        "class Interpreter:\n"
        "    def __init__(self, *args, **kwargs):\n"
        "        sys.stderr.write('A module that was compiled using NumPy 1.x cannot be run in NumPy 2.x\\n"
        "Traceback (most recent call last): ...\\n')\n"
        f"        raise {error}('_ARRAY_API not found')\n"
    )


@pytest.fixture
def fresh_backends(monkeypatch):
    from wakeword import interpreter

    monkeypatch.setattr(interpreter, "_broken_backends", {})
    interpreter._import_backend.cache_clear()
    yield interpreter
    interpreter._import_backend.cache_clear()


def test_a_backend_whose_constructor_fails_is_skipped_for_the_next(tmp_path, monkeypatch, capsys, fresh_backends):
    from tests.conftest import SHIPPED_MODEL

    _shim_backend(tmp_path, "broken_tflite", "SystemError")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(fresh_backends, "INTERPRETER_MODULES", ("broken_tflite.interpreter", "ai_edge_litert.interpreter"))
    interp, backend = fresh_backends.open_interpreter(SHIPPED_MODEL)
    assert backend.startswith("ai_edge_litert")
    assert "SystemError" in fresh_backends._broken_backends["broken_tflite.interpreter"]
    assert "Traceback" not in capsys.readouterr().err  # what the broken backend printed is kept for --debug


def test_when_every_backend_is_broken_the_error_is_one_dependency_error(tmp_path, monkeypatch, fresh_backends):
    from tests.conftest import SHIPPED_MODEL

    _shim_backend(tmp_path, "broken_tflite", "SystemError")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(fresh_backends, "INTERPRETER_MODULES", ("no_such_backend.interpreter", "broken_tflite.interpreter"))
    with pytest.raises(DependencyError) as info:
        fresh_backends.open_interpreter(SHIPPED_MODEL)
    message = str(info.value)
    assert "no TFLite interpreter works" in message and "SystemError" in message and "ModuleNotFoundError" in message
    assert "pip install ai-edge-litert" in message and "\n" not in message


def test_the_real_tflite_runtime_under_numpy_2_falls_back_to_litert(monkeypatch, capfd, fresh_backends):
    """tflite-runtime (pulled in by openwakeword) was built for numpy 1: under numpy 2 it imports,
    then fails in its constructor. Where that is what is installed, check the real thing."""
    import importlib.util

    from tests.conftest import SHIPPED_MODEL

    if importlib.util.find_spec("tflite_runtime") is None or int(np.__version__.split(".")[0]) < 2:
        pytest.skip("needs tflite_runtime installed beside numpy 2")
    monkeypatch.setattr(fresh_backends, "INTERPRETER_MODULES", ("tflite_runtime.interpreter", "ai_edge_litert.interpreter"))
    _, backend = fresh_backends.open_interpreter(SHIPPED_MODEL)
    if backend.startswith("tflite_runtime"):
        pytest.skip("this tflite_runtime works with this numpy")
    assert backend.startswith("ai_edge_litert")
    assert "Traceback" not in capfd.readouterr().err


def test_the_cli_says_one_line_when_no_interpreter_works(tmp_path):
    """Neither LiteRT (hidden) nor a broken tflite_runtime: one line naming both, exit 2."""
    import os
    import subprocess
    import sys

    from tests.conftest import DATA, ROOT

    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "ai_edge_litert").mkdir()
    (shim / "ai_edge_litert" / "__init__.py").write_text("raise ImportError('hidden by the test')\n")
    _shim_backend(shim, "tflite_runtime", "SystemError")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim), str(ROOT)])}
    r = subprocess.run([sys.executable, "-m", "wakeword", "--dry-run", str(DATA / "mixed_stop.wav")],
                       capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr
    assert "no TFLite interpreter works" in r.stderr and "SystemError" in r.stderr and "hidden by the test" in r.stderr


def test_numpys_flush_to_zero_warning_and_only_it_is_ignored():
    """aarch64 tflite_runtime turns on flush-to-zero; numpy 1.x then warns, once per run, that a
    float type's smallest subnormal is zero. That warning, and no other, is filtered."""
    import warnings

    import wakeword.interpreter  # noqa: F401 - installs the filter

    message = "The value of the smallest subnormal for <class 'numpy.float64'> type is zero."
    with warnings.catch_warnings(record=True) as caught:
        warnings.filterwarnings("default")  # what a user sees, then the module's filter on top
        wakeword.interpreter._quiet_numpy_under_flush_to_zero()
        warnings.warn_explicit(message, UserWarning, "getlimits.py", 1, module="numpy.core.getlimits")
        warnings.warn_explicit(message, UserWarning, "other.py", 1, module="somewhere.else")
        warnings.warn_explicit("The value of something else is zero.", UserWarning, "getlimits.py", 2,
                               module="numpy.core.getlimits")
    texts = [(str(w.message), w.filename) for w in caught]
    assert texts == [(message, "other.py"), ("The value of something else is zero.", "getlimits.py")], texts
