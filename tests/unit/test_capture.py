"""capture.dir: the audio around each detection, saved off the capture thread, under a size cap.

The captures come from the real pipeline and model on a real recording (tests/data/mixed_stop.wav,
two "stop"s at about 4-5 s and 9-10 s)."""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from tests.conftest import DATA, read_wav
from tests.integration.test_cli import MIXED_STOPS_S, assert_one_line_error, wakeword
from wakeword.capture import INDEX_NAME, CaptureTap, CaptureWriter, own_captures
from wakeword.detector import ModelSetup, Pipeline
from wakeword.resample import resample_signal
from wakeword.settings import CaptureSettings, TriggerConfig
from wakeword.trigger import Detection
from wakeword.wavfile import WavFileSource, write_wav

BLOCK_S = 0.1


def run_through(shipped_model, x, rate, writer):
    """The daemon's per-block order: the tap gets the block, then the pipeline, then each detection."""
    pipeline = Pipeline([ModelSetup.configured(shipped_model, TriggerConfig())], rate)
    tap = CaptureTap(writer, rate)
    found = []
    step = int(BLOCK_S * rate)
    for i in range(0, len(x), step):
        block = x[i:i + step]
        tap.feed(block)
        for det in pipeline.feed(block):
            found.append(det)
            tap.detection(det)
    tap.flush()
    return found


def read(path):
    src = WavFileSource(path)
    return np.concatenate([b.reshape(-1) for b in src.blocks()]), src.sample_rate_hz


@pytest.mark.parametrize("rate", [16000, 48000])
def test_each_detection_is_saved_with_2s_before_and_half_a_second_after(tmp_path, shipped_model, rate):
    x, r = read_wav(DATA / "mixed_stop.wav")
    if rate != r:
        x = resample_signal(x, r, rate)
    writer = CaptureWriter(CaptureSettings(dir=tmp_path / "captures"))
    writer.start()
    found = run_through(shipped_model, x, rate, writer)
    writer.close()
    assert len(found) == 2
    lines = [json.loads(line) for line in (tmp_path / "captures" / INDEX_NAME).read_text().splitlines()]
    assert [d["keyword"] for d in lines] == ["stop", "stop"] and writer.stats["written"] == 2
    x16 = resample_signal(x, rate, 16000) if rate != 16000 else x
    for line, det, (word_start_s, word_end_s) in zip(lines, found, MIXED_STOPS_S):
        y, yr = read(tmp_path / "captures" / line["file"])
        assert yr == 16000 and abs(len(y) / yr - 2.5) < 0.01 and line["detection_at_s"] == pytest.approx(2.0, abs=0.01)
        start = int(round((det.time_s - 2.0) * 16000))
        np.testing.assert_allclose(y, x16[start:start + len(y)], atol=2e-3)  # the input itself, at 16 bits
        # the word is in it: its loudest 100 ms lies within the word's span
        loud_s = det.time_s - 2.0 + np.argmax(np.convolve(y ** 2, np.ones(1600), "same")) / 16000
        assert word_start_s - 0.2 <= loud_s <= word_end_s + 0.2


def test_the_folder_is_kept_under_its_cap_and_subfolders_are_never_touched(tmp_path):
    folder = tmp_path / "captures"
    (folder / "false").mkdir(parents=True)
    reviewed = write_wav(folder / "false" / "capture-20260101T000000.000Z-stop.wav", np.zeros(16000), 16000)
    mine = folder / "notes.txt"
    mine.write_text("the user's")
    writer = CaptureWriter(CaptureSettings(dir=folder, max_mb=1, before_s=2.0, after_s=0.5))
    writer.start()
    rate = 16000
    tap = CaptureTap(writer, rate, clock_s=iter(1.8e9 + i for i in range(100)).__next__)
    rng = np.random.default_rng(1)
    for i in range(20):  # 20 captures of 2.5 s (80 kB each): 1.6 MB, over the 1 MB cap
        tap.feed((0.1 * rng.standard_normal(3 * rate)).astype(np.float32))
        tap.detection(Detection("stop", 0.99, tap.total - rate, rate))
        tap.feed(np.zeros(rate, np.float32))
        # the cap is under test here, not the writer's pace (a full queue drops by design; the
        # next test covers that): let each capture be written before the next is handed over
        deadline = time.monotonic() + 10.0
        while writer.stats["written"] + writer.stats["failed"] < i + 1 and time.monotonic() < deadline:
            time.sleep(0.005)
    tap.flush()
    writer.close()
    kept = own_captures(folder)
    assert sum(p.stat().st_size for p in kept) <= 1_000_000 < 20 * kept[0].stat().st_size
    assert writer.stats["written"] == 20 and writer.stats["deleted"] == 20 - len(kept)
    assert len((folder / INDEX_NAME).read_text().splitlines()) == 20
    newest = sorted(json.loads(line)["file"] for line in (folder / INDEX_NAME).read_text().splitlines())[-len(kept):]
    assert [p.name for p in kept] == newest  # the oldest went first
    assert reviewed.exists() and mine.read_text() == "the user's"


def test_a_full_queue_drops_and_counts_and_never_blocks(tmp_path):
    writer = CaptureWriter(CaptureSettings(dir=tmp_path))  # not started: nothing takes from the queue
    for _ in range(20):
        writer.submit(np.zeros(100, np.float32), 16000, Detection("stop", 0.9, 50, 16000), 0.0, 0.0)
    assert writer.stats["dropped"] == 20 - 8


@pytest.mark.parametrize("mode", [("--check-config", "--no-probe"), ()])
def test_a_capture_dir_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, mode):
    blocker = tmp_path / "a-file"
    blocker.write_text("mine")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"capture:\n  dir: {blocker / 'captures'}\naudio:\n  device: no-such-device\n"
                   "actions:\n  led: {pin: null}\n")
    r = wakeword("--config", cfg, *mode, timeout=60)
    assert_one_line_error(r, "capture.dir", "cannot write there")
    assert blocker.read_text() == "mine"


def test_capture_settings_are_checked(tmp_path):
    for text, needle in (("capture:\n  max_mb: 0\n", "capture.max_mb must be between 1"),
                         ("capture:\n  before_s: .nan\n", "capture.before_s must be a finite number"),
                         ("capture:\n  dir: ''\n", "capture.dir must be a folder's path"),
                         ("capture:\n  folder: x\n", "capture.folder is not a known setting")):
        cfg = tmp_path / "c.yaml"
        cfg.write_text(text)
        assert_one_line_error(wakeword("--config", cfg, "--check-config", "--no-probe", timeout=60), needle)
