"""capture.dir in the running daemon: `python -m wakeword` on the session's private PulseAudio,
a real recording played into its null sink, the captures read back after SIGTERM."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import DATA
from tests.integration.test_live import DaemonProcess, wait_for
from wakeword.capture import INDEX_NAME
from wakeword.wavfile import WavFileSource

pytestmark = pytest.mark.live


def test_the_daemon_saves_each_detection_it_makes(pulse_server, tmp_path, notify_socket):
    _, notify_path = notify_socket
    folder = tmp_path / "captures"
    daemon = DaemonProcess(tmp_path, notify_path, extra_config=f"capture: {{dir: {folder}}}\n")
    try:
        daemon.wait_for_line("listening on", "the daemon to start listening")
        pulse_server.play(DATA / "mixed_stop.wav")
        wait_for(lambda: len(list(folder.glob("capture-*.wav"))) >= 2, what=f"two captures; daemon said:\n{daemon.stderr}")
        assert daemon.sigterm_and_time_exit() < 10
    finally:
        daemon.kill()
    assert daemon.proc.returncode == 0, daemon.stderr
    lines = [json.loads(line) for line in (folder / INDEX_NAME).read_text().splitlines()]
    assert [d["keyword"] for d in lines] == ["stop", "stop"], daemon.stderr
    assert lines[1]["time_s"] - lines[0]["time_s"] == pytest.approx(5.0, abs=0.5)  # the recording's stops are 5 s apart
    for line in lines:
        src = WavFileSource(folder / line["file"])
        x = np.concatenate([b.reshape(-1) for b in src.blocks()])
        assert src.sample_rate_hz == 16000 and abs(len(x) / 16000 - 2.5) < 0.05
        assert np.max(np.abs(x)) > 0.1  # the played word, not silence
