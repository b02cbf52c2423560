#!/usr/bin/env python3
"""Cost of detection on this machine: CPU per audio hour, live per-hop latency, peak memory.

    python bench/cost.py [--model models/stop.tflite ...] [--minutes 10]

For each model it prints:
  - CPU seconds per hour of audio on the dry-run path (the daemon's Pipeline fed 10 s
    blocks), split into features, model and total;
  - the seed tutorial's approach on the same audio: recompute the whole window's MFCCs at
    every hop and call the interpreter once per window; and the ratio;
  - live capture: CPU seconds per audio hour and per-block latency (p50, p99) when the
    Pipeline is fed blocks of --live-block-ms (default 100 ms) one at a time, as the capture
    thread feeds it;
  - the peak RSS of `wakeword --dry-run` on the bench audio, in a fresh process.
The audio is the real clips in tests/data, repeated with pauses to the requested length.
"""

from __future__ import annotations

import os

# as the daemon does (wakeword/__init__.py), before numpy is imported by anything below
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.measure import run_measured  # noqa: E402
from wakeword.detector import ModelSetup, Pipeline, to_float_mono  # noqa: E402
from wakeword.frontends.mfcc import mfcc_window  # noqa: E402
from wakeword.model import load_model  # noqa: E402
from wakeword.resample import Resampler  # noqa: E402
from wakeword.wavfile import WavFileSource, write_wav  # noqa: E402

SOURCE_RATE_HZ = 16000
DRY_RUN_BLOCK_S = 10.0
LIVE_BLOCK_S = 0.1
SECONDS_PER_HOUR = 3600.0


def bench_audio(minutes: float, seed: int = 0) -> np.ndarray:
    """float32 16 kHz: the tests/data clips in random order with pauses and a faint noise bed."""
    clips = [to_float_mono(WavFileSource(p).read_all()) for p in sorted((ROOT / "tests" / "data").glob("*.wav"))]
    rng = np.random.default_rng(seed)
    parts, total = [], 0
    target = int(minutes * 60 * SOURCE_RATE_HZ)
    while total < target:
        clip = clips[rng.integers(len(clips))]
        pause = np.zeros(int(rng.uniform(0.2, 2.0) * SOURCE_RATE_HZ), np.float32)
        parts += [clip, pause]
        total += len(clip) + len(pause)
    audio = np.concatenate(parts)[:target]
    return (audio + rng.normal(0, 3e-4, len(audio))).astype(np.float32)


class TimedModel:
    """Wraps a TfliteModel and accumulates the CPU time spent in predict()."""

    def __init__(self, model):
        self._model, self.cpu_s, self.calls = model, 0.0, 0

    def __getattr__(self, name):
        return getattr(self._model, name)

    def predict(self, x):
        t = time.process_time()
        y = self._model.predict(x)
        self.cpu_s += time.process_time() - t
        self.calls += 1
        return y


def dry_run_cost(model, audio: np.ndarray) -> dict:
    timed = TimedModel(model)
    pipeline = Pipeline(ModelSetup(timed, dict(model.spec.thresholds), model.spec.trigger), SOURCE_RATE_HZ)
    block = int(DRY_RUN_BLOCK_S * SOURCE_RATE_HZ)
    t = time.process_time()
    for i in range(0, len(audio), block):
        pipeline.feed(audio[i : i + block])
    total = time.process_time() - t
    hours = len(audio) / SOURCE_RATE_HZ / SECONDS_PER_HOUR
    return {
        "total": total / hours,
        "model": timed.cpu_s / hours,
        "features": (total - timed.cpu_s) / hours,  # MFCC frames, windowing, resampling, trigger
        "windows": pipeline.windows_scored,
        "calls": timed.calls,
    }


def seed_cost(model, audio: np.ndarray, max_seconds: float = 120.0) -> dict:
    """The seed tutorial's loop: at every hop, MFCCs of the whole 1 s window, one call each.

    For the speech-embedding front end the same naive loop: at every 80 ms hop, the whole 2 s
    window's mel frames and 16 embeddings recomputed, and one head call.
    """
    spec = model.spec
    p = spec.frontend
    if p.frontend_type != "mfcc":
        return naive_embedding_cost(model, audio, max_seconds / 4)  # 16x the work per hop: less audio
    x = Resampler(SOURCE_RATE_HZ, spec.sample_rate_hz).process(audio[: int(max_seconds * SOURCE_RATE_HZ)])
    hop = int(round(spec.trigger.hop_s / p.winstep_s)) * p.frame_step_samples
    t = time.process_time()
    n = 0
    for end in range(p.window_samples, len(x) + 1, hop):
        feats = spec.normalise(mfcc_window(x[end - p.window_samples : end], p))
        model.predict(feats[None])
        n += 1
    total = time.process_time() - t
    hours = len(x) / spec.sample_rate_hz / SECONDS_PER_HOUR
    return {"total": total / hours, "windows": n}


def naive_embedding_cost(model, audio: np.ndarray, max_seconds: float) -> dict:
    """Recompute every window's embeddings from its audio at every hop (no reuse)."""
    from wakeword.frontends.embedding import FeatureModels, embeddings_of

    spec = model.spec
    p = spec.frontend
    x = audio[: int(max_seconds * SOURCE_RATE_HZ)]
    feature_models = FeatureModels(p)
    # the fewest samples that give window_frames embeddings: their mel groups' calls (32352)
    groups = (p.first_mel_frame + p.mel_frames_per_embedding) // p.embedding_step_mel_frames + p.window_frames - 1
    span = (groups - 1) * p.frame_step_samples + p.mel_call_samples
    t = time.process_time()
    n = 0
    for end in range(span, len(x) + 1, p.frame_step_samples):
        feats = spec.normalise(embeddings_of(x[end - span : end], p, feature_models)[-p.window_frames :])
        model.predict(feats[None])
        n += 1
    total = time.process_time() - t
    hours = len(x) / SOURCE_RATE_HZ / SECONDS_PER_HOUR
    return {"total": total / hours, "windows": n}


def live_cost(model, audio: np.ndarray, block_s: float = LIVE_BLOCK_S, seconds: float = 120.0) -> dict:
    """Per-block latency (p50, p99, max ms) and process CPU seconds per audio hour when the
    Pipeline is fed `block_s` blocks one at a time, as the capture thread feeds it."""
    pipeline = Pipeline(ModelSetup.recommended(model), SOURCE_RATE_HZ)
    block = int(round(block_s * SOURCE_RATE_HZ))
    audio = audio[: int(seconds * SOURCE_RATE_HZ)]
    warm = int(2.0 * SOURCE_RATE_HZ) // block * block  # the first seconds fill the window
    for i in range(0, warm, block):
        pipeline.feed(audio[i : i + block])
    times_ms = []
    cpu0 = time.process_time()
    for i in range(warm, len(audio) - block + 1, block):
        t = time.perf_counter()
        pipeline.feed(audio[i : i + block])
        times_ms.append((time.perf_counter() - t) * 1000)
    cpu = time.process_time() - cpu0
    hours = len(times_ms) * block / SOURCE_RATE_HZ / SECONDS_PER_HOUR
    times_ms = np.array(times_ms)
    return {"block_ms": block_s * 1000, "p50_ms": float(np.percentile(times_ms, 50)), "p99_ms": float(np.percentile(times_ms, 99)),
            "max_ms": float(times_ms.max()), "cpu_s_per_hour": cpu / hours}


def dry_run_rss_mb(model_path: Path, audio: np.ndarray, python: str = sys.executable) -> float:
    """Peak RSS (VmHWM) of `python -m wakeword --dry-run` on the bench audio, in MB, run by the
    interpreter `python` (this checkout's code, that environment's packages)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_wav(Path(tmp) / "bench.wav", audio, SOURCE_RATE_HZ)
        mb, r = run_measured(["--dry-run", wav, "--model", model_path, "--json"], python)
    if r.returncode != 0 or mb is None:
        raise RuntimeError(f"the dry-run for the memory figure failed: {r.stderr.strip()[-500:]}")
    return mb


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", action="append", type=Path, help="model(s) to measure (default: models/stop.tflite)")
    ap.add_argument("--minutes", type=float, default=10.0, help="minutes of bench audio (default 10)")
    ap.add_argument("--live-block-ms", type=int, action="append",
                    help="live block size(s) to measure, as config.yaml's audio.block_ms (default: the model's own, 100 ms MFCC, 160 ms embedding)")
    ap.add_argument("--rss-python", default=sys.executable, metavar="PYTHON",
                    help="interpreter whose packages the peak-RSS child uses (default: this one). The [train] extra "
                         "pulls in Cython, which scipy then imports (about 8 MB): measure a runtime-only install, e.g. "
                         "python3 -m venv /tmp/rt && /tmp/rt/bin/pip install '.[embedding]', with --rss-python /tmp/rt/bin/python")
    args = ap.parse_args()
    if shutil.which(args.rss_python) is None:
        ap.error(f"--rss-python: {args.rss_python} is not an executable")
    for ms in args.live_block_ms or []:
        if not 10 <= ms <= 1000:
            ap.error(f"--live-block-ms must be 10-1000 (as config.yaml's audio.block_ms), got {ms}")
    if args.minutes * 60 < 10:
        ap.error(f"--minutes must give at least 10 s of audio, got {args.minutes}")
    models = args.model or [ROOT / "models" / "stop.tflite"]
    audio = bench_audio(args.minutes)
    print(f"bench audio: {len(audio) / SOURCE_RATE_HZ / 60:.1f} min at {SOURCE_RATE_HZ} Hz; "
          f"CPU figures are process CPU seconds per hour of audio, single thread")
    for path in models:
        model = load_model(path)
        cost = dry_run_cost(model, audio)
        seed = seed_cost(model, audio)
        lives = [live_cost(model, audio, ms / 1000.0) for ms in (args.live_block_ms or [model.spec.frontend.default_block_ms])]
        rss = dry_run_rss_mb(path, audio, args.rss_python)
        spec = model.spec
        print(f"\n{path.name} ({model.backend}, {spec.frontend.sample_rate_hz} Hz, input {list(spec.input_shape)} "
              f"{spec.input_dtype}, {path.stat().st_size / 1024:.1f} KB, hop {spec.trigger.hop_s * 1000:.0f} ms)")
        print(f"  dry-run path   total {cost['total']:6.2f} CPU-s/audio-h   features {cost['features']:6.2f}   "
              f"model {cost['model']:6.2f}   ({cost['windows']} windows in {cost['calls']} calls)")
        print(f"  seed approach  total {seed['total']:6.2f} CPU-s/audio-h   (whole-window features recomputed + one call per window, "
              f"{seed['windows']} windows)")
        print(f"  ratio          seed / ours = {seed['total'] / cost['total']:.1f}x")
        for live in lives:
            print(f"  live {live['block_ms']:.0f} ms blocks: total {live['cpu_s_per_hour']:6.2f} CPU-s/audio-h; per block p50 "
                  f"{live['p50_ms']:.2f} ms, p99 {live['p99_ms']:.2f} ms, max {live['max_ms']:.2f} ms")
        print(f"  peak RSS of wakeword --dry-run: {rss:.1f} MB ({args.rss_python})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
