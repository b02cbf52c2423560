"""`python -m wakeword` as a user runs it: real clips, the shipped model, exit codes, messages."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import DATA, ROOT, SHIPPED_MODEL, read_wav
from tests.wavfile import write_wav

MIXED = DATA / "mixed_stop.wav"
#: Where the two "stop" clips sit in mixed_stop.wav (see tests/data/README.md), in seconds.
MIXED_STOPS_S = [(4.0, 5.0), (9.0, 10.0)]
#: Slack beyond the trigger's own delay between the end of a word and its detection (the energy
#: VAD's end is approximate, and a model may need some of the tail): far less than a window, so a
#: time reported a window off is caught.
VAD_SLACK_S = 0.35


def word_end_s(x: np.ndarray, rate: int, offset_s: float = 0.0) -> float:
    """The end of the loudest stretch of a clip (10 ms frames within 25 dB of the loudest)."""
    frame = rate // 100
    n = len(x) // frame
    energy_db = 10 * np.log10(np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12)
    loud = np.flatnonzero(energy_db > energy_db.max() - 25)
    return offset_s + (loud[-1] + 1) * frame / rate


def trigger_delay_s() -> float:
    """The longest the shipped model's trigger may wait after a word: its smoothing and patience
    windows and one hop."""
    spec = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())["trigger"]
    return spec["hop_s"] * (spec["smoothing_windows"] + spec["patience_windows"] + 1)


def wakeword(*args, timeout=120, cwd=ROOT, stdin: bytes | None = None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if "WAKEWORD_TEST_MODEL" in os.environ and "--model" not in args:
        args = (*args, "--model", SHIPPED_MODEL)
    if stdin is not None:  # bytes on standard input, text out
        r = subprocess.run([sys.executable, "-m", "wakeword", *map(str, args)], input=stdin, capture_output=True,
                           timeout=timeout, cwd=cwd, env=env)
        return subprocess.CompletedProcess(r.args, r.returncode, r.stdout.decode(), r.stderr.decode())
    return subprocess.run([sys.executable, "-m", "wakeword", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env, stdin=subprocess.DEVNULL)


def detections(path, *extra):
    r = wakeword("--dry-run", path, "--json", *extra)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def assert_one_line_error(r, *needles):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    lines = [l for l in r.stderr.splitlines() if l.startswith("wakeword:")]
    assert len(lines) == 1, r.stderr
    assert "Traceback" not in r.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture(scope="module")
def mixed_detections():
    return detections(MIXED)


def test_dry_run_finds_each_stop_in_the_mixed_file_and_nothing_else(mixed_detections):
    assert len(mixed_detections) == 2, mixed_detections
    audio, rate = read_wav(MIXED)
    hop_s = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())["trigger"]["hop_s"]
    for det, (start, end) in zip(mixed_detections, MIXED_STOPS_S):
        assert det["keyword"] == "stop"
        word_end = word_end_s(audio[int(start * rate) : int(end * rate)], rate, start)
        # reported at the end of the window that fired: after the word, within the trigger's delay
        assert word_end - hop_s <= det["time_s"] <= word_end + trigger_delay_s() + VAD_SLACK_S, (det, word_end)
        assert 0.0 < det["score"] <= 1.0


def test_dry_run_times_are_the_live_detection_times_within_two_hops(mixed_detections, shipped_model):
    """The daemon's path fed 100 ms blocks after a second of near-silence, as a microphone would
    deliver the file: its detection times, less that second, are the dry-run's within two hops
    (one for where the window grid falls after a different lead-in, one for the trigger)."""
    from wakeword.detector import ModelSetup, Pipeline

    audio, rate = read_wav(MIXED)
    lead = (np.random.default_rng(1).standard_normal(rate) * 1e-5).astype(np.float32)
    stream = np.concatenate([lead, audio, lead])
    pipe = Pipeline(ModelSetup.recommended(shipped_model), rate)
    live = [d.time_s - 1.0 for i in range(0, len(stream), rate // 10) for d in pipe.feed(stream[i : i + rate // 10])]
    hop_s = shipped_model.spec.trigger.hop_s
    assert len(live) == len(mixed_detections)
    for t, det in zip(live, mixed_detections):
        assert abs(det["time_s"] - t) <= 2 * hop_s + 1e-6, (det, t)


def test_dry_run_json_lines_have_the_documented_fields(mixed_detections):
    for det in mixed_detections:
        assert set(det) == {"file", "keyword", "time_s", "score"}
        assert det["file"] == str(MIXED)


def test_dry_run_table_is_readable():
    r = wakeword("--dry-run", MIXED)
    assert r.returncode == 0, r.stderr
    assert "2 detection(s) in 11.5 s of audio" in r.stdout
    assert r.stdout.count(" stop ") == 2


@pytest.mark.parametrize("flags", [(), ("--json",)])
def test_each_dry_run_line_goes_out_in_one_write(monkeypatch, flags):
    # with --with-actions the action worker writes event lines from its own thread: a row written
    # as text and newline apart (print) let an event line land in the middle of it
    from wakeword import cli

    class Writes:
        def __init__(self):
            self.calls = []

        def write(self, text):
            self.calls.append(text)
            return len(text)

        def flush(self):
            pass

    out = Writes()
    monkeypatch.setattr(sys, "stdout", out)
    assert cli.main(["--dry-run", str(MIXED), *flags]) == 0
    rows = [c for c in out.calls if c]
    assert len(rows) >= 2 and all(c.endswith("\n") and c.count("\n") == 1 for c in rows), out.calls
    assert sum(" stop " in c or '"stop"' in c for c in rows) == 2, out.calls


def test_a_clip_shorter_than_the_window_is_still_scored(stop_clips):
    # the dry-run frames each file with quiet, so a 1 s clip yields whole windows around the word
    r = wakeword("--dry-run", *stop_clips, "--json")
    assert r.returncode == 0, r.stderr
    found = [json.loads(line) for line in r.stdout.splitlines()]
    assert {d["file"] for d in found} >= {str(stop_clips[0])}
    hop_s = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())["trigger"]["hop_s"]
    for d in found:
        audio, rate = read_wav(d["file"])
        word_end = word_end_s(audio, rate)
        assert word_end - hop_s <= d["time_s"] <= word_end + trigger_delay_s() + VAD_SLACK_S, (d, word_end)


def test_other_words_alone_give_no_detection(other_clips):
    r = wakeword("--dry-run", *other_clips, "--json")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == ""


def test_several_files_are_reported_separately(stop_clips):
    found = detections(MIXED, )  # baseline for comparison
    both = [json.loads(l) for l in wakeword("--dry-run", MIXED, stop_clips[0], "--json").stdout.splitlines()]
    assert [d for d in both if d["file"] == str(MIXED)] == found
    assert all(d["file"] in (str(MIXED), str(stop_clips[0])) for d in both)


@pytest.mark.parametrize(
    "encoding, rate_hz, channels, extensible",
    [("pcm8", 16000, 1, False), ("pcm24", 16000, 1, False), ("float32", 16000, 1, False), ("pcm16", 16000, 2, False),
     ("pcm16", 44100, 1, False), ("pcm32", 48000, 2, True), ("float32", 22050, 1, True)],
)
def test_other_wav_formats_give_the_same_detections(tmp_path, mixed_detections, encoding, rate_hz, channels, extensible):
    from wakeword.resample import Resampler

    x, rate = read_wav(MIXED)
    if rate_hz != rate:
        x = Resampler(rate, rate_hz).process(np.concatenate([x, np.zeros(rate // 10, np.float32)]))
    if channels == 2:
        x = np.stack([x, x], axis=1)
    path = write_wav(tmp_path / f"mixed-{encoding}-{rate_hz}-{channels}.wav", x, rate_hz, encoding, extensible)
    found = detections(path)
    assert [d["keyword"] for d in found] == [d["keyword"] for d in mixed_detections]
    for a, b in zip(found, mixed_detections):
        # within one 100 ms hop: 8-bit quantisation noise may move a crossing by a window
        assert abs(a["time_s"] - b["time_s"]) <= 0.1 + 1e-6 and abs(a["score"] - b["score"]) < 0.1


def test_an_8khz_file_is_upsampled_and_scored(tmp_path):
    # telephone-band audio has lost the /s/ of "stop", so only the processing is pinned here
    from wakeword.resample import Resampler

    x, rate = read_wav(MIXED)
    path = write_wav(tmp_path / "phone.wav", Resampler(rate, 8000).process(x), 8000, "pcm16")
    r = wakeword("--dry-run", path, "--debug")
    assert r.returncode == 0, r.stderr
    assert "(8000 Hz, 1 ch, pcm16)" in r.stdout
    assert len([l for l in r.stderr.splitlines() if " t=" in l]) >= 100  # 11.5 s scored at the model's rate


def test_dry_run_does_not_modify_its_input(tmp_path):
    path = tmp_path / "in.wav"
    shutil.copy(MIXED, path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    wakeword("--dry-run", path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.wav"]


# ------------------------------------------------------------------ bad input


def test_missing_file(tmp_path):
    assert_one_line_error(wakeword("--dry-run", tmp_path / "absent.wav"), "absent.wav", "no such file")


def test_empty_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    assert_one_line_error(wakeword("--dry-run", tmp_path / "empty.wav"), "empty.wav", "empty")


def test_non_wav_file(tmp_path):
    (tmp_path / "notes.wav").write_text("these are not samples\n" * 20)
    assert_one_line_error(wakeword("--dry-run", tmp_path / "notes.wav"), "notes.wav", "not a WAV")


def test_truncated_wav(tmp_path):
    data = MIXED.read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: len(data) // 3])
    assert_one_line_error(wakeword("--dry-run", tmp_path / "cut.wav"), "cut.wav", "truncated")


def test_a_bad_file_among_good_ones_fails_before_any_output(tmp_path):
    r = wakeword("--dry-run", MIXED, tmp_path / "absent.wav", "--json")
    assert_one_line_error(r, "absent.wav")
    assert r.stdout == ""


def test_missing_model(tmp_path):
    assert_one_line_error(wakeword("--dry-run", MIXED, "--model", tmp_path / "m.tflite"), "m.tflite", "not found")


def test_corrupt_model(tmp_path):
    (tmp_path / "m.tflite").write_bytes(os.urandom(4096))
    shutil.copy(SHIPPED_MODEL.with_suffix(".json"), tmp_path / "m.json")
    assert_one_line_error(wakeword("--dry-run", MIXED, "--model", tmp_path / "m.tflite"), "m.tflite", "not a valid TFLite model")


def test_model_without_sidecar(tmp_path):
    shutil.copy(SHIPPED_MODEL, tmp_path / "m.tflite")
    assert_one_line_error(wakeword("--dry-run", MIXED, "--model", tmp_path / "m.tflite"), "m.json", "sidecar not found")


def test_sidecar_that_disagrees_with_the_model(tmp_path):
    shutil.copy(SHIPPED_MODEL, tmp_path / "m.tflite")
    side = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text())
    side["model_file"] = "m.tflite"
    side["frontend"]["numcep"] += 1
    side["frontend"]["nfilt"] = max(side["frontend"]["nfilt"], side["frontend"]["numcep"])
    side["normalisation"] = {"mean": [0.0] * side["frontend"]["numcep"], "std": [1.0] * side["frontend"]["numcep"]}
    shape = side["input"]["shape"]
    shape[2] += 1
    (tmp_path / "m.json").write_text(json.dumps(side))
    assert_one_line_error(wakeword("--dry-run", MIXED, "--model", tmp_path / "m.tflite"), "disagree")


def test_config_with_an_unknown_key(tmp_path):
    (tmp_path / "c.yaml").write_text("trigger:\n  treshold: 0.5\n")
    assert_one_line_error(wakeword("--config", tmp_path / "c.yaml", "--check-config"), "c.yaml", "trigger.treshold", "not a known setting")


def test_config_with_an_out_of_range_value(tmp_path):
    (tmp_path / "c.yaml").write_text("trigger:\n  threshold: 1.5\n")
    assert_one_line_error(wakeword("--config", tmp_path / "c.yaml", "--dry-run", MIXED),
                          "c.yaml: trigger.threshold must be between 0 and 1, got 1.5")


def test_threshold_flag_out_of_range():
    assert_one_line_error(wakeword("--dry-run", MIXED, "--threshold", "7"), "command line: trigger.threshold")


def test_a_device_name_that_does_not_exist(tmp_path):
    (tmp_path / "c.yaml").write_text("actions:\n  led:\n    pin: null\n")
    r = wakeword("--config", tmp_path / "c.yaml", "--device", "no-such-microphone-xyz", timeout=60)
    assert_one_line_error(r, "no-such-microphone-xyz", "--list-devices")


# ------------------------------------------------------------------ other modes


def test_check_config_on_the_shipped_config():
    # off the target (this machine has no microphone and no GPIO): --no-probe
    r = wakeword("--config", ROOT / "config.yaml", "--check-config", "--no-probe")
    assert r.returncode == 0, r.stderr
    assert "OK" in r.stdout and "stop=" in r.stdout
    assert "100 ms blocks (the model's default)" in r.stdout
    assert "probe: skipped (--no-probe)" in r.stdout
    pytest.importorskip("openwakeword")  # the embedding model needs the [embedding] extra
    r = wakeword("--config", ROOT / "config.yaml", "--check-config", "--no-probe",
                 "--model", ROOT / "models" / "stop-embedding.tflite")
    assert r.returncode == 0, r.stderr
    assert "160 ms blocks (the model's default)" in r.stdout and "hop 80 ms" in r.stdout


def test_version_and_list_devices_exit_zero():
    from wakeword import __version__

    r = wakeword("--version")
    assert r.returncode == 0 and __version__ in r.stdout
    r = wakeword("--list-devices")
    assert r.returncode == 0, r.stderr


def test_debug_prints_every_window_score():
    r = wakeword("--dry-run", DATA / "go_0bac8a71.wav", "--debug")
    assert r.returncode == 0
    lines = [l for l in r.stderr.splitlines() if " t=" in l and "stop=" in l]
    # a 1 s clip at a 100 ms hop: the first window ends at ~1 s, so at most one or two windows
    assert len(lines) >= 1
    r = wakeword("--dry-run", MIXED, "--debug")
    lines = [l for l in r.stderr.splitlines() if " t=" in l and "stop=" in l]
    # 11.5 s framed by a window (~1 s) of quiet on each side, one score per 100 ms hop
    assert 120 <= len(lines) <= 128, len(lines)
    times = [float(l.split(" t=")[1].split("s ")[0]) for l in lines]
    assert times == sorted(times) and times[0] < 0.2 and times[-1] > 11.5


def test_with_actions_runs_the_hook_in_dry_run(tmp_path):
    out = tmp_path / "hook.log"
    hook = [sys.executable, "-c", f"import os,sys; open({str(out)!r},'a').write(os.environ['WAKEWORD_KEYWORD']+' '+sys.stdin.read()+'\\n')"]
    cfg = tmp_path / "c.yaml"
    cfg.write_text("actions:\n  log_json: false\n  led:\n    pin: null\n  hook:\n    command: " + json.dumps(hook) + "\n")
    r = wakeword("--config", cfg, "--dry-run", MIXED, "--with-actions")
    assert r.returncode == 0, r.stderr
    lines = [l for l in out.read_text().splitlines() if l.strip()]
    assert len(lines) == 2 and all(l.startswith("stop {") for l in lines)
    assert [json.loads(l[len("stop "):])["keyword"] for l in lines] == ["stop", "stop"]
    r = wakeword("--config", cfg, "--dry-run", MIXED)
    assert len([l for l in out.read_text().splitlines() if l.strip()]) == 2  # no actions without --with-actions


# ------------------------------------------------------------------ issue 11: output, flags, names


def test_usage_errors_are_one_line_and_exit_2():
    for args in (("--no-such-flag",), ("--dry-run",), ("--json",), ("--no-probe",), ("--threshold", "high", "--dry-run", MIXED)):
        r = wakeword(*args, timeout=60)
        assert r.returncode == 2, (args, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and r.stderr.startswith("wakeword: "), (args, r.stderr)
        assert "see wakeword --help" in r.stderr


def test_a_wav_stream_on_standard_input_gives_the_files_detections(mixed_detections):
    """arecord and sox write to a pipe with the sizes unknown (sox: 0x7ffff000); the stream
    (-) gives what the file gives, named -, beside a file in the same run."""
    import struct

    data = MIXED.read_bytes()
    at = data.index(b"data")
    streamed = b"RIFF" + struct.pack("<I", 0x7FFFF024) + data[8:at] + b"data" + struct.pack("<I", 0x7FFFF000) + data[at + 8 :]
    r = wakeword("--dry-run", "-", MIXED, "--json", stdin=streamed)
    assert r.returncode == 0, r.stderr
    found = [json.loads(line) for line in r.stdout.splitlines()]
    assert [d for d in found if d["file"] == "-"] == [{**d, "file": "-"} for d in mixed_detections]
    assert [d for d in found if d["file"] == str(MIXED)] == mixed_detections and len(mixed_detections) == 2
    table = wakeword("--dry-run", "-", stdin=streamed)
    assert table.returncode == 0 and f"2 detection(s) in {len(data[at + 8:]) / 2 / 16000:.1f} s of audio" in table.stdout


def test_a_bad_stream_on_standard_input_is_one_line_and_exit_2():
    assert_one_line_error(wakeword("--dry-run", "-", stdin=b""), "standard input: empty input")
    assert_one_line_error(wakeword("--dry-run", "-", stdin=MIXED.read_bytes()[:30]), "standard input: the stream ended")
    assert_one_line_error(wakeword("--dry-run", "-", stdin=b"not audio at all" * 100), "standard input: not a WAV stream")
    r = wakeword("--dry-run", "-", "-", stdin=MIXED.read_bytes())
    assert r.returncode == 2 and "reads standard input (-) once" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_a_terminal_on_standard_input_is_refused_rather_than_waited_on():
    import pty

    leader, follower = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "wakeword", "--dry-run", "-"], stdin=follower, capture_output=True,
                           text=True, timeout=60, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        os.close(leader)
        os.close(follower)
    assert_one_line_error(r, "standard input: is a terminal, not a WAV stream")


def test_no_xnnpack_info_line_on_stderr():
    r = wakeword("--dry-run", MIXED)
    assert r.returncode == 0 and "XNNPACK" not in r.stderr, r.stderr
    assert r.stderr == ""


def test_a_detection_is_never_reported_past_the_end_of_its_file(stop_clips):
    """A window that ends in the trailing pad used to be reported there: 1.10 s in a 1.0 s clip."""
    r = wakeword("--dry-run", *stop_clips, "--json")
    assert r.returncode == 0, r.stderr
    found = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(found) >= len(stop_clips) - 1
    for det in found:
        duration_s = len(read_wav(det["file"])[0]) / 16000
        assert 0.0 < det["time_s"] <= duration_s, det


def test_the_dry_run_table_stays_aligned_with_long_paths(tmp_path):
    deep = tmp_path / ("a-rather-long-folder-name-" * 3) / "and-a-long-file-name-for-the-stop-word.wav"
    deep.parent.mkdir(parents=True)
    shutil.copy(MIXED, deep)
    r = wakeword("--dry-run", deep, MIXED)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    header = next(l for l in lines if l.startswith("file"))
    rows = [l for l in lines if " stop " in l]
    assert len(rows) == 4
    column = header.index("time_s") + len("time_s")  # right-aligned: every time ends here
    for row in rows:
        path, rest = row[: header.index("time_s") - 1].rstrip(), row
        assert path in (str(deep), str(MIXED)) and rest[column - 1].isdigit() and rest[column] == " ", (header, row)


def test_audio_that_cannot_carry_the_models_band_gets_one_warning(tmp_path):
    from wakeword.resample import Resampler

    x, rate = read_wav(MIXED)
    phone = write_wav(tmp_path / "phone.wav", Resampler(rate, 8000).process(x), 8000, "pcm16")
    r = wakeword("--dry-run", phone, MIXED)
    assert r.returncode == 0, r.stderr
    warnings = [l for l in r.stderr.splitlines() if "carries frequencies up to 4 kHz only" in l]
    assert len(warnings) == 1 and str(phone) in warnings[0] and "7.6 kHz" in warnings[0], r.stderr
    assert str(MIXED) not in r.stderr  # 16 kHz audio carries the whole band


def test_shipped_models_are_found_by_name_from_anywhere(tmp_path):
    """A relative model.path that names no file there, but a shipped model, finds the shipped one
    (so /etc/wakeword/config.yaml can say models/stop.tflite or stop-embedding)."""
    for name in ("stop", "stop.tflite", "models/stop.tflite"):
        (tmp_path / "c.yaml").write_text(f"model:\n  path: {name}\n")
        r = wakeword("--config", tmp_path / "c.yaml", "--check-config", "--no-probe", cwd=tmp_path)
        assert r.returncode == 0, (name, r.stderr)
        assert f"model: {ROOT / 'models' / 'stop.tflite'} " in r.stdout, r.stdout
    r = wakeword("--dry-run", MIXED, "--model", "stop", "--json", cwd=tmp_path)
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 2, r.stderr
    # a file of that name next to the config wins over the shipped model (here a broken one)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "stop.tflite").write_bytes(b"not a model" * 100)
    shutil.copy(SHIPPED_MODEL.with_suffix(".json"), tmp_path / "models" / "stop.json")
    (tmp_path / "c.yaml").write_text("model:\n  path: models/stop.tflite\n")
    assert_one_line_error(wakeword("--config", tmp_path / "c.yaml", "--check-config", "--no-probe"),
                          str(tmp_path / "models" / "stop.tflite"), "not a valid TFLite model")


def test_no_gpio_runs_without_the_pins(tmp_path):
    r = wakeword("--config", ROOT / "config.yaml", "--check-config", "--no-probe", "--no-gpio")
    assert r.returncode == 0, r.stderr
    assert "led pin None, output pin None" in r.stdout


@pytest.mark.parametrize("command, needle", [
    (["no-such-hook-program-xyz"], "'no-such-hook-program-xyz' is not on PATH"),
    (["/nonexistent/on-stop"], "/nonexistent/on-stop does not exist"),
])
def test_check_config_resolves_the_hooks_program(tmp_path, command, needle):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("actions:\n  hook:\n    command: " + json.dumps(command) + "\n")
    assert_one_line_error(wakeword("--config", cfg, "--check-config", "--no-probe"), "actions.hook.command", needle)


def test_check_config_refuses_a_hook_that_is_not_executable_and_names_a_good_one(tmp_path):
    hook = tmp_path / "on-stop.sh"
    hook.write_text("#!/bin/sh\nexit 0\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"actions:\n  hook:\n    command: [{str(hook)!r}]\n")
    assert_one_line_error(wakeword("--config", cfg, "--check-config", "--no-probe"), "is not executable", "chmod +x")
    hook.chmod(0o755)
    r = wakeword("--config", cfg, "--check-config", "--no-probe")
    assert r.returncode == 0 and f"({hook})" in r.stdout, r.stderr
    cfg.write_text("actions:\n  hook:\n    command: [sh, -c, 'exit 0']\n")
    r = wakeword("--config", cfg, "--check-config", "--no-probe")
    assert r.returncode == 0 and "(/" in r.stdout and "sh)" in r.stdout, r.stdout


@pytest.mark.live
def test_check_config_without_no_probe_fails_off_the_pi_on_the_gpio_pin_in_one_line(pulse_server):
    """On this machine there is no GPIO: the shipped config's LED pin cannot be claimed."""
    r = wakeword("--config", ROOT / "config.yaml", "--check-config", "--device", "pulse", timeout=60)
    assert_one_line_error(r, "GPIO17: cannot open the LED pin", "actions.led.pin: null")
    assert "probe: opened audio device 'pulse'" in r.stdout  # the device was probed first, and it worked


@pytest.mark.live
def test_check_config_probes_the_device_and_claims_the_pins(pulse_server, tmp_path):
    """The device of the session's private PulseAudio, and gpiozero's mock pins."""
    mock = {"GPIOZERO_PIN_FACTORY": "mock"}
    r = wakeword_env(mock, "--config", ROOT / "config.yaml", "--check-config", "--device", "pulse")
    assert r.returncode == 0, r.stderr
    # the rate is the server's default (44.1 kHz unless /etc/pulse/daemon.conf says otherwise)
    assert re.search(r"probe: opened audio device 'pulse' at \d+ Hz in 100 ms blocks; first block after \d+ ms", r.stdout), r.stdout
    assert "probe: claimed and released GPIO17 (LED)" in r.stdout
    # a pin the board does not have is a one-line failure...
    cfg = tmp_path / "c.yaml"
    cfg.write_text("actions:\n  led:\n    pin: GPIO99\n")
    assert_one_line_error(wakeword_env(mock, "--config", cfg, "--check-config", "--device", "pulse"),
                          "GPIO99: cannot open the LED pin")
    # ...that a check made off the target with --no-probe does not look for
    assert wakeword_env(mock, "--config", cfg, "--check-config", "--no-probe").returncode == 0


def wakeword_env(extra_env, *args, timeout=120):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **extra_env}
    return subprocess.run([sys.executable, "-m", "wakeword", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


@pytest.mark.parametrize("args", [("--dry-run", MIXED), ("--check-config", "--no-probe")])
def test_a_full_stdout_is_one_line_and_exit_2_not_a_traceback(args):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "wakeword", *map(str, args)], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=120, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == "wakeword: cannot write the output: No space left on device", r.stderr


def test_a_closed_pipe_ends_the_dry_run_quietly():
    # `wakeword --dry-run long.wav | head -1`: the reader goes away; no traceback, status 0
    p = subprocess.Popen([sys.executable, "-m", "wakeword", "--dry-run", MIXED, "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    p.stdout.close()
    _, err = p.communicate(timeout=120)
    assert p.returncode == 0 and b"Traceback" not in err, err
