"""Shared fixtures: the real clips in tests/data and the shipped model."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
#: The model under test: the shipped one, or another via WAKEWORD_TEST_MODEL (to try a candidate).
SHIPPED_MODEL = Path(os.environ.get("WAKEWORD_TEST_MODEL", ROOT / "models" / "stop.tflite")).resolve()


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """A whole WAV file as float32 mono and its rate, through the project's own reader."""
    from wakeword.wavfile import WavFileSource
    from wakeword.detector import to_float_mono

    src = WavFileSource(path)
    return np.concatenate([to_float_mono(b) for b in src.blocks()]), src.sample_rate_hz


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def stop_clips() -> list[Path]:
    clips = sorted(DATA.glob("stop_*.wav"))
    assert clips, f"no stop_*.wav fixtures in {DATA}"
    return clips


@pytest.fixture(scope="session")
def other_clips() -> list[Path]:
    clips = sorted(p for p in DATA.glob("*.wav") if not p.name.startswith(("stop_", "mixed")))
    assert clips, f"no non-stop fixtures in {DATA}"
    return clips


@pytest.fixture(scope="session")
def shipped_model():
    from wakeword.model import load_model

    assert SHIPPED_MODEL.is_file(), f"{SHIPPED_MODEL} is missing: the project ships a model"
    return load_model(SHIPPED_MODEL)
