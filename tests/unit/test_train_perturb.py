"""--perturb: sox variants of real keyword clips keep their speaker (so their fold) and really differ."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("soundfile")

from wakeword.train.data import KIND_KEYWORD, Clip, read_audio  # noqa: E402
from wakeword.train.perturb import PERTURBED_SOURCE, perturbed_clips  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox not installed")


@needs_sox
def test_variants_keep_the_speaker_differ_from_the_recording_and_repeat_for_a_seed(tmp_path):
    stop = Clip(DATA / "stop_1fe4c891.wav", "stop", "1fe4c891", "speech_commands", KIND_KEYWORD)
    other = Clip(DATA / "go_0bac8a71.wav", "go", "0bac8a71", "speech_commands", "command")
    out = perturbed_clips([stop, other], 2, seed=5, cache_dir=tmp_path / "a")
    assert [(c.label, c.speaker, c.source, c.kind) for c in out] == [("stop", "1fe4c891", PERTURBED_SOURCE, KIND_KEYWORD)] * 2
    original = read_audio(stop.path, 16000)
    for c in out:
        x = read_audio(c.path, 16000)
        assert np.isfinite(x).all() and np.abs(x).max() > 0.01
        n = min(len(x), len(original))
        assert len(x) != len(original) or not np.allclose(x[:n], original[:n], atol=1e-3)
    again = perturbed_clips([stop], 2, seed=5, cache_dir=tmp_path / "b")
    assert [p.path.name for p in again] == [p.path.name for p in out]
    assert [p.path.name for p in perturbed_clips([stop], 2, seed=6, cache_dir=tmp_path / "c")] != [p.path.name for p in out]
    assert perturbed_clips([stop], 0, seed=5, cache_dir=tmp_path / "d") == []
