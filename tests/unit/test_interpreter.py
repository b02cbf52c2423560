"""wakeword.interpreter: the backend choice and opening files with it."""

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
