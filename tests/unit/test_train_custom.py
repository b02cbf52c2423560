"""wakeword-train custom and report: a phrase from a few takes, bad input in one line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

sf = pytest.importorskip("soundfile")

from tests.unit.test_train_takes import phrase  # noqa: E402
from wakeword.errors import ConfigError  # noqa: E402
from wakeword.train.custom_data import near_misses, phrase_keyword  # noqa: E402
from wakeword.train.negbank import MAX_BYTES, SHIPPED_BANK, load_bank, quantise  # noqa: E402

RATE = 16000


def test_phrases_become_keywords_and_a_phrase_without_letters_is_refused():
    assert phrase_keyword("Hey Robot!") == "hey_robot"
    assert phrase_keyword("o'clock 2") == "oclock_2"
    for bad in ("", "123", "!!"):
        with pytest.raises(ConfigError, match="has no letters"):
            phrase_keyword(bad)


def test_near_misses_share_the_phrases_sounds_and_never_are_it():
    misses = near_misses("hey robot")
    assert "hey" in misses and "robot" in misses  # its parts come first
    assert "hey robot" not in misses and len(misses) <= 24
    assert any(m.endswith("obot") and m != "hey robot" for m in misses)  # another onset
    assert near_misses("hey robot") == misses  # deterministic
    assert "amelia" not in near_misses("amelia") and near_misses("amelia")


def test_the_shipped_negative_bank_is_small_and_holds_minutes_of_embeddings():
    assert SHIPPED_BANK.stat().st_size <= MAX_BYTES
    bank = load_bank()
    assert bank.embeddings.shape[1] == 96 and bank.hours > 0.5
    assert "Speech Commands" in bank.info["attribution"] and "precise_community_data" in bank.info["excluded_sources"]
    assert bank.windows(16).shape == (len(bank.embeddings) - 15, 16, 96)
    emb = np.random.default_rng(0).normal(size=(500, 96)).astype(np.float32)
    q = quantise(emb)
    back = q["codes"].astype(np.float32) * q["scale"] + q["offset"]
    assert np.abs(back - emb).max() <= q["scale"].max() / 2 + 1e-6


def custom(*argv, timeout=900):
    return subprocess.run([sys.executable, "-m", "wakeword.train", "custom", *map(str, argv)], capture_output=True, text=True,
                          timeout=timeout)


def assert_one_line(r, needle):
    assert r.returncode == 2, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("wakeword-train")]
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("case, needle", [
    ("empty", "0 usable take(s)"),
    ("few", "3 usable take(s)"),
    ("noaudio", "not audio"),
    ("noletters", "has no letters"),
])
def test_bad_takes_and_phrases_are_one_line_and_exit_2(tmp_path, case, needle):
    folder = tmp_path / "takes"
    folder.mkdir()
    if case == "few":
        for i in range(3):
            sf.write(folder / f"t{i}.wav", phrase(i), RATE)
    if case == "noaudio":
        for i in range(5):
            (folder / f"t{i}.wav").write_bytes(b"RIFF nonsense" * 10)
    r = custom("--phrase", "123" if case == "noletters" else "hello there", "--positives", folder, "--out", tmp_path / "m.tflite")
    assert_one_line(r, needle)
    assert not (tmp_path / "m.tflite").exists()


@pytest.mark.train
def test_a_tiny_custom_run_writes_a_model_the_runtime_runs_and_the_report_reads(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("openwakeword")
    folder = tmp_path / "takes"
    folder.mkdir()
    for i in range(8):
        sf.write(folder / f"t{i}.wav", phrase(i), RATE)
    out = tmp_path / "models" / "hello.tflite"
    r = custom("--phrase", "hello there", "--positives", folder, "--out", out, "--tiny", "--no-tts", "--workers", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["keywords"] == ["hello_there"] and side["training"]["phrase"] == "hello there"
    assert side["frontend"]["type"] == "speech_embedding" and 0 < side["thresholds"]["hello_there"] < 1
    assert side["training"]["takes"] == {"used": 8, "trained": 6, "held_out": 2, "speakers": 8}
    # a threshold held low by the weakest held-out take is said, with the take's name
    low = side["thresholds"]["hello_there"] < 0.9
    assert ("the threshold is only" in r.stderr and "held-out take" in r.stderr and ".wav" in r.stderr) == low, r.stderr[-2000:]
    from wakeword.model import load_model

    model = load_model(out)
    assert model.predict(np.zeros((2, 16, 96), np.float32)).shape == (2, 1)
    # an existing model is not overwritten without --force
    assert_one_line(custom("--phrase", "hello there", "--positives", folder, "--out", out, "--tiny"), "exists; pass --force")
    rep = subprocess.run([sys.executable, "-m", "wakeword.train", "report", "--model", str(out), "--positives", str(folder),
                          "--det", str(tmp_path / "det.png")], capture_output=True, text=True, timeout=900)
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert "threshold:" in rep.stdout and "FRR clean" in rep.stdout and (tmp_path / "det.png").stat().st_size > 1000


@pytest.mark.train
def test_synthetic_voices_are_fitted_only_when_the_takes_alone_miss_a_held_out_take(tmp_path):
    """espeak-ng's voices (real synthesis): the second fit happens exactly when it could win."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("openwakeword")
    import shutil

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    folder = tmp_path / "takes"
    folder.mkdir()
    for i in range(8):
        sf.write(folder / f"t{i}.wav", phrase(i), RATE)
    out = tmp_path / "hello.tflite"
    r = custom("--phrase", "hello there", "--positives", folder, "--out", out, "--tiny", "--tts-engines", "espeak-ng",
               "--tts-cache", tmp_path / "tts", "--workers", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    tts = json.loads(out.with_suffix(".json").read_text())["training"]["tts"]
    assert tts["tried"] and tts["voices"] > 0
    frr = tts["held_out_frr"]
    if frr["takes"] == 0.0:
        assert tts["fitted"] == ["takes"] and not tts["kept"] and "takes+tts: not fitted" in r.stdout
    else:
        assert tts["fitted"] == ["takes", "takes+tts"] and tts["kept"] == (frr["takes+tts"] < frr["takes"])


def test_report_without_negatives_needs_a_speech_embedding_model(tmp_path):
    from tests.conftest import SHIPPED_MODEL

    folder = tmp_path / "takes"
    folder.mkdir()
    sf.write(folder / "t0.wav", phrase(0), RATE)
    r = subprocess.run([sys.executable, "-m", "wakeword.train", "report", "--model", str(SHIPPED_MODEL), "--positives", str(folder)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "pass --negatives DIR" in r.stderr and "Traceback" not in r.stderr
