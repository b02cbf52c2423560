"""`wakeword record` through real PortAudio: the session's private PulseAudio null sink is the
microphone, and real "stop" recordings are played into it (tests/data, attributed in its README)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.conftest import DATA, ROOT, read_wav
from wakeword.wavfile import WavFileSource, write_wav

pytestmark = pytest.mark.live

RATE = 16000
TIMEOUT_S = 90.0


def room(seconds: float, seed: int) -> np.ndarray:
    """A quiet room: noise at about -60 dBFS."""
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * 1e-3).astype(np.float32)


def run_prompted(proc, clips, play) -> tuple[list[str], str]:
    """Answer each "now say" prompt of `wakeword record` by playing the next clip, as a user
    would speak when asked; returns what it printed."""
    said, queue = [], list(clips)
    deadline = time.monotonic() + TIMEOUT_S
    for line in proc.stdout:
        said.append(line)
        if "now say" in line and queue:
            play(queue.pop(0))
        assert time.monotonic() < deadline, "".join(said)
    proc.wait(TIMEOUT_S)
    return said, proc.stderr.read()


def test_record_keeps_good_takes_trimmed_at_16khz_refuses_a_clipped_one_and_overwrites_nothing(pulse_server, tmp_path):
    # the second clip is clipped (0.4 % of its samples at full scale): refused, and asked again
    names = ("stop_1f653d27.wav", "stop_3f170018.wav", "stop_1fe4c891.wav")
    clips = [read_wav(DATA / name) for name in names]
    assert all(rate == RATE for _, rate in clips)
    hum = write_wav(tmp_path / "room.wav", room(TIMEOUT_S, 0), RATE)  # the room, under everything
    out = tmp_path / "takes"
    out.mkdir()
    (out / "take_001.wav").write_bytes(b"the user's own earlier take")  # must survive
    env = {**os.environ, **pulse_server.client_env}
    players = [pulse_server.play(hum, wait=False)]
    try:
        proc = subprocess.Popen([sys.executable, "-m", "wakeword", "record", "--out", str(out), "--phrase", "stop",
                                 "--takes", "2", "--device", "pulse", "--speaker", "test"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            said, err = run_prompted(proc, [DATA / n for n in names],
                                     lambda path: players.append(pulse_server.play(path, wait=False)))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    finally:
        for player in players:
            player.kill()
            player.wait()
    assert proc.returncode == 0, "".join(said) + err
    refusals = [line.strip() for line in said if "not kept" in line]
    assert len(refusals) == 1 and refusals[0].startswith("not kept: clipped"), said
    assert (out / "take_001.wav").read_bytes() == b"the user's own earlier take"
    manifest = json.loads((out / "manifest.json").read_text())
    assert [t["file"] for t in manifest["takes"]] == ["take_002.wav", "take_003.wav"]
    assert all(t["speaker"] == "test" for t in manifest["takes"])
    for take, (clip, _) in zip(manifest["takes"], (clips[0], clips[2])):
        source = WavFileSource(out / take["file"])
        assert source.sample_rate_hz == RATE and source.channels == 1
        x = np.concatenate(list(source.blocks()))
        # trimmed to the word and a little around it: shorter than the clip with the room
        # between the prompts, and most of the clip's loud part (the gate opens a frame or two
        # into a word that starts at the clip's first sample)
        loud = np.flatnonzero(np.abs(clip) > 0.1 * np.max(np.abs(clip)))
        assert 0.8 * (loud[-1] - loud[0]) / RATE <= len(x) / RATE <= len(clip) / RATE + 1.0, take
        assert abs(20 * np.log10(np.max(np.abs(x))) - 20 * np.log10(np.max(np.abs(clip)))) < 3.0  # the clip, at its level
