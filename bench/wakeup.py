#!/usr/bin/env python3
"""What one capture block costs the capture thread, stage by stage, warm and as it runs live.

    python bench/wakeup.py [--model models/stop.tflite] [--rate 44100] [--block-ms 100] [--blocks 300]

The daemon's capture thread wakes once per block, converts it, resamples it to the model's
rate, computes the new MFCC frames, scores the window and updates the trigger. This runs the
same pieces (the ones Pipeline is made of) on the bench audio (bench/cost.py's clips) in two
ways, in this one thread:

  - warm:  blocks back to back, so code and data stay in the CPU's caches (what bench/cost.py's
           live figure measures);
  - paced: one block every block_ms, sleeping in between, as the capture thread does live.

It prints each stage's median thread CPU per block (time.thread_time_ns) and the total as CPU
seconds per audio hour. The gap between the two rows is the cost of waking every block_ms to
cold caches, paid by every stage; bench/live.py measures the whole process beside a bare
capture, and this says where the daemon's share of that goes.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cost import SECONDS_PER_HOUR, SOURCE_RATE_HZ, bench_audio  # noqa: E402
from wakeword.detector import ModelSetup, StreamingDetector, to_float_mono  # noqa: E402
from wakeword.model import load_model  # noqa: E402
from wakeword.resample import Resampler, resample_signal  # noqa: E402
from wakeword.trigger import build_trigger  # noqa: E402

STAGES = ("convert", "resample", "features", "model", "trigger")


def run(setup: ModelSetup, blocks: list[np.ndarray], rate_hz: int, pause_s: float) -> np.ndarray:
    """Thread CPU in ns per stage (len(blocks), len(STAGES)), a fresh stream of pieces."""
    spec = setup.model.spec
    resampler = Resampler(rate_hz, spec.frontend.sample_rate_hz)
    stream = spec.frontend.open_stream()
    detector = StreamingDetector(setup.model, setup.trigger.hop_s)
    trigger = build_trigger(spec.keywords, setup.thresholds, setup.trigger, spec.frontend.sample_rate_hz)
    clock = time.thread_time_ns
    out = np.zeros((len(blocks), len(STAGES)), np.int64)
    for i, block in enumerate(blocks):
        if pause_s:
            time.sleep(pause_s)
        t0 = clock()
        x = to_float_mono(block)
        t1 = clock()
        samples = resampler.process(x)
        t2 = clock()
        new = stream.push(samples)
        t3 = clock()
        ends, scores = detector.process_frames(new, stream.frames_emitted)
        t4 = clock()
        for end, row in zip(ends, scores):
            trigger.update(row, int(end))
        t5 = clock()
        out[i] = (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "stop.tflite")
    ap.add_argument("--rate", type=int, default=44100, help="capture rate in Hz (default 44100)")
    ap.add_argument("--block-ms", type=int, default=100, help="capture block in ms (default 100)")
    ap.add_argument("--blocks", type=int, default=300, help="blocks per row (default 300: 30 s paced at 100 ms)")
    args = ap.parse_args()
    if not (10 <= args.block_ms <= 1000 and args.blocks >= 20):
        ap.error("--block-ms must be 10-1000 and --blocks at least 20")
    setup = ModelSetup.recommended(load_model(args.model))
    frames = int(round(args.rate * args.block_ms / 1000))
    audio = resample_signal(bench_audio(1.0), SOURCE_RATE_HZ, args.rate).astype(np.float32)
    blocks = [audio[i:i + frames].reshape(-1, 1) for i in range(0, frames * args.blocks, frames)]
    run(setup, blocks[:20], args.rate, 0.0)  # first calls: imports, allocation, interpreter set-up
    per_hour = SECONDS_PER_HOUR / (args.block_ms / 1000) / 1e9  # ns per block -> CPU-s per audio hour
    print(f"{args.model.name}, {args.rate} Hz capture in {args.block_ms} ms blocks, {args.blocks} blocks per row; "
          "median thread CPU per block in us, total also as CPU-s per audio hour")
    print(f"{'':>6} " + " ".join(f"{s:>9}" for s in STAGES) + f" {'total':>9} {'CPU-s/h':>8}")
    for name, pause in (("warm", 0.0), ("paced", args.block_ms / 1000)):
        ns = run(setup, blocks, args.rate, pause)
        med = np.median(ns, axis=0) / 1000
        total = np.median(ns.sum(axis=1))
        print(f"{name:>6} " + " ".join(f"{v:>9.1f}" for v in med) + f" {total / 1000:>9.1f} {total * per_hour:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
