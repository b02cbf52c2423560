"""A folder of takes: good ones kept, bad ones named, too few a one-line error."""

from __future__ import annotations

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from wakeword.errors import ConfigError  # noqa: E402
from wakeword.train.takes import false_accepts, load_takes, problem_with  # noqa: E402

RATE = 16000


def phrase(seed: int, seconds: float = 0.8, level: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    x = 0.001 * rng.standard_normal(max(int(1.6 * RATE), n + 8000)).astype(np.float32)
    t = np.arange(n) / RATE
    x[4000 : 4000 + n] += level * np.sin(2 * np.pi * (200 + 20 * seed) * t) * np.hanning(n)
    return x


def test_good_takes_are_kept_and_each_bad_one_is_named(tmp_path):
    for i in range(6):
        sf.write(tmp_path / f"take{i}.wav", phrase(i), RATE)
    sf.write(tmp_path / "silent.wav", np.zeros(RATE, np.float32), RATE)
    sf.write(tmp_path / "hiss.flac", 0.01 * np.random.default_rng(0).standard_normal(RATE).astype(np.float32), RATE)
    sf.write(tmp_path / "clipped.wav", np.clip(phrase(9, level=8.0), -1, 1), RATE)
    sf.write(tmp_path / "long.wav", phrase(3, seconds=4.0), RATE)
    (tmp_path / "notes.wav").write_text("not audio at all")
    (tmp_path / "false").mkdir()
    sf.write(tmp_path / "false" / "fa.wav", phrase(7), RATE)  # captured false accepts are not takes
    takes, rejected = load_takes(tmp_path)
    assert sorted(t.path.name for t in takes) == [f"take{i}.wav" for i in range(6)]
    reasons = dict(r.split(": ", 1) for r in rejected)
    assert reasons["silent.wav"].startswith("too quiet")
    assert reasons["hiss.flac"].startswith("no speech")
    assert reasons["clipped.wav"] == "clipped"
    assert reasons["long.wav"].startswith("too long")
    assert reasons["notes.wav"].startswith("not audio")
    assert len(false_accepts(tmp_path)) == 1
    assert all(t.region[0] < t.region[1] for t in takes) and all(t.speaker.startswith("take:") for t in takes)


def test_too_few_takes_or_no_folder_is_one_line_naming_the_folder(tmp_path):
    with pytest.raises(ConfigError, match="not a folder"):
        load_takes(tmp_path / "absent")
    with pytest.raises(ConfigError, match=r"0 usable take\(s\) of the phrase, at least 5 needed"):
        load_takes(tmp_path)
    for i in range(3):
        sf.write(tmp_path / f"t{i}.wav", phrase(i), RATE)
    with pytest.raises(ConfigError) as err:
        load_takes(tmp_path)
    assert "3 usable take(s)" in str(err.value) and "\n" not in str(err.value)


def test_problem_with_accepts_speech_and_rejects_silence():
    assert problem_with(phrase(1)) is None
    assert problem_with(np.zeros(RATE, np.float32)).startswith("too quiet")
    assert problem_with(np.zeros(100, np.float32)) == "too short"
