#!/usr/bin/env python3
"""How well a custom wake word trained from 20 takes detects other people saying it.

    python bench/custom_word.py --data ../shared/data --phrase amelia [--takes 20] [--seed 0] [--hours 10]

Takes `--takes` usable recordings of the phrase from the data folder's other-wake-words corpus
(at random; that corpus names no speakers, so each recording counts as its own), trains a custom
model on them with `wakeword-train custom` exactly as a user would (the shipped negative bank,
near-misses, synthetic voices tried), then runs the *other* recordings of the phrase, placed in
quiet audio, and a long remixed stream of everything else in the corpus (other wake words,
command words, sentences, silences, over noise beds) through the daemon's streaming path. It
prints the recall and false accepts per hour at the model's own threshold and at the lowest
threshold with at most 1 false accept per hour, and the CPU of the model against
stop-embedding.tflite on the file path.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from wakeword.detector import ModelSetup  # noqa: E402
from wakeword.model import load_model  # noqa: E402
from wakeword.train import data as datamod  # noqa: E402
from wakeword.train.evalsets import NEGATIVE_KINDS, AudioCache, NegativeStream, build_keyword_trials  # noqa: E402
from wakeword.train.scoring import score_stream  # noqa: E402
from wakeword.train.takes import problem_with  # noqa: E402
from wakeword.train.thresholds import THRESHOLD_GRID, ScoredSet  # noqa: E402

TARGET_FA_PER_HOUR = 1.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--phrase", default="amelia", help="a label of the other-wake-words corpus")
    ap.add_argument("--takes", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--hours", type=float, default=10.0, help="hours of negative stream")
    ap.add_argument("--keep", type=Path, default=None, help="keep the trained model here")
    ap.add_argument("--train-arg", action="append", default=[], help="extra argument for wakeword-train custom")
    args = ap.parse_args(argv)
    clips = datamod.load_corpus(args.data, args.phrase)
    phrase_clips = [c for c in clips if c.kind == datamod.KIND_KEYWORD and c.source == "precise_community_data"]
    if len(phrase_clips) < args.takes + 10:
        ap.error(f"{args.phrase!r}: only {len(phrase_clips)} recordings in the corpus")
    cache = AudioCache()
    rng = np.random.default_rng(args.seed)
    order = [phrase_clips[i] for i in rng.permutation(len(phrase_clips))]
    train = [c for c in order if problem_with(cache.get(c.path)) is None][: args.takes]
    test = [c for c in order if c not in train]
    work = Path(tempfile.mkdtemp(prefix="custom-word-"))
    try:
        takes = work / "takes"
        takes.mkdir()
        for c in train:
            shutil.copy(c.path, takes / c.path.name)
        out = args.keep or work / "custom.tflite"
        from wakeword.train.custom import main as custom_main

        started = time.monotonic()
        rc = custom_main(["--phrase", args.phrase, "--positives", str(takes), "--out", str(out), "--force",
                          "--seed", str(args.seed), *args.train_arg])
        train_s = time.monotonic() - started
        if rc != 0:
            return rc
        model = load_model(out)
        setup = ModelSetup.recommended(model)
        keyword = model.spec.keywords[0]
        trials = build_keyword_trials(test, "clean", args.seed, placements=1, audio_cache=cache)
        window_s = model.spec.frontend.window_samples / model.spec.sample_rate_hz
        held = ScoredSet("test", score_stream(setup, trials.blocks(), trials.rate_hz), trials.index(), window_s)
        negatives = [c for c in clips if c.kind in NEGATIVE_KINDS]
        noises = [(datamod.noise_class(c) + ":" + c.path.stem, cache.get(c.path)) for c in clips if c.kind == datamod.KIND_NOISE]
        stream = NegativeStream(negatives, noises, args.hours, args.seed, cache)
        cpu0 = time.process_time()
        neg = ScoredSet("negative", score_stream(setup, stream.blocks(), stream.rate_hz), stream.index(), window_s, stream.hours)
        cpu_per_hour = (time.process_time() - cpu0) / stream.hours
        trig = setup.trigger

        def at(t):
            recall = float(held.hits(keyword, t, trig).mean())
            fa = neg.false_accepts(keyword, t, trig)
            return recall, fa, fa / neg.hours

        own = model.spec.thresholds[keyword]
        print(f"'{args.phrase}': trained on {len(train)} takes in {train_s:.0f} s; tested on {len(test)} other recordings "
              f"and {neg.hours:.1f} h of other audio ({stream.info['distinct_clips']} clips)")
        r, fa, rate = at(own)
        print(f"  model's threshold {own:.5f}: recall {100 * r:.1f} %, {fa} false accepts, {rate:.2f} FA/h")
        ok = [t for t in THRESHOLD_GRID if at(t)[2] <= TARGET_FA_PER_HOUR]
        if ok:
            t = min(ok)
            r, fa, rate = at(t)
            print(f"  lowest threshold with <= {TARGET_FA_PER_HOUR:g} FA/h, {t:.5f}: recall {100 * r:.1f} %, {fa} false accepts")
        print(f"  file-path CPU of the whole pipeline: {cpu_per_hour:.1f} CPU-s per audio hour "
              "(compare python bench/cost.py --model models/stop-embedding.tflite)")
        causes = neg.index.attribute(neg.detections_s(keyword, own, trig), window_s, "sentence", datamod.KIND_SPEECH)
        if causes:
            from collections import Counter

            print("  false accepts by word: " + ", ".join(f"{k} {v}" for k, v in Counter(c[0] for c in causes).most_common(8)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    from wakeword.nativelog import run_filtered

    sys.exit(run_filtered(main))  # TensorFlow's native chatter filtered, as wakeword-train does
