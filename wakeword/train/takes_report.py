"""wakeword-train report: how well a model does on *your* recordings, and which threshold to set.

    wakeword-train report --model models/hey_robot.tflite --positives takes/ [--negatives audio/] \\
        [--fa-per-hour 0.5] [--det report.png]

Your takes of the phrase are placed in a few seconds of audio each, three ways: clean, in noise
(coloured noise and knocks at 10 dB below the phrase), and in a simulated room (a reverberant
room from the held-out RT60 band, the talker 1-5 m away, noise from elsewhere in the room). All of
it goes through the daemon's streaming path. False accepts are counted on --negatives (any WAV or
FLAC: the television, a day of the kitchen) played as one stream; without it, on the shipped
negative bank of speech embeddings (speech-embedding models only). The report prints the FRR
and false accepts per hour at the model's threshold and at a few others, draws the DET curve,
and says which `trigger.threshold` to put in config.yaml for the false-accept rate you choose.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from ..detector import ModelSetup
from ..errors import ConfigError, WakewordError
from ..model import load_model
from .augment import coloured_noise, transients
from .data import KIND_KEYWORD, KIND_SPEECH, Clip
from .evalsets import STREAM_RATE_HZ, NegativeStream, build_keyword_trials
from .scoring import EventIndex, score_frames, score_stream
from .takes import load_takes
from .thresholds import THRESHOLD_GRID, ScoredSet, highest_threshold_meeting, lowest_threshold_meeting

PROG = "wakeword-train report"
#: Thresholds printed besides the model's own.
SHOWN = (0.5, 0.9, 0.99, 0.999)
SYNTHETIC_NOISE_S = 30.0


def _noises(seed: int) -> list[np.ndarray]:
    """Noise for the noisy and room conditions when the user has no noise recordings of their own:
    coloured noise and impulsive knocks."""
    rng = np.random.default_rng([seed, 9])
    n = int(SYNTHETIC_NOISE_S * STREAM_RATE_HZ)
    return [coloured_noise(rng, n, e) for e in (0.0, 1.0, 2.0)] + [transients(rng, n, STREAM_RATE_HZ)]


def report(model_path: Path, positives: Path, negatives: Path | None, fa_per_hour: float, det_png: Path | None,
           seed: int = 0, out=sys.stdout) -> dict:
    """Score and print; returns {"thresholds", "frr": {condition: [...]}, "fa_per_hour": [...], "recommended"}."""
    model = load_model(model_path)
    keyword = model.spec.keywords[0]
    setup = ModelSetup.recommended(model)
    takes, rejected = load_takes(positives, minimum=1)
    clips = [Clip(t.path, keyword, t.speaker, "takes", KIND_KEYWORD) for t in takes]
    noises = _noises(seed)
    window_s = model.spec.frontend.window_samples / model.spec.sample_rate_hz
    conditions = {}
    for cond in ("clean", "snr10db", "room"):
        trials = build_keyword_trials(clips, cond, seed, noises, placements=3)
        conditions[cond] = ScoredSet(cond, score_stream(setup, trials.blocks(), trials.rate_hz), trials.index(), window_s)
    if negatives is not None:
        files = [Clip(p, "_speech_", "user", "user", KIND_SPEECH) for p in sorted(Path(negatives).rglob("*"))
                 if p.suffix.lower() in (".wav", ".flac") and p.is_file()]
        if not files:
            raise ConfigError(f"--negatives {negatives}: no WAV or FLAC files")
        total_s = sum(len(_read(c.path)) for c in files) / STREAM_RATE_HZ
        stream = NegativeStream(files, [], total_s / 3600.0, seed)
        neg = ScoredSet("negatives", score_stream(setup, stream.blocks(), stream.rate_hz), stream.index(), window_s, stream.hours)
        where = f"{stream.hours:.2f} h of {negatives}"
    else:
        if model.spec.frontend.frontend_type != "speech_embedding":
            raise ConfigError("without --negatives the report uses the negative bank of speech embeddings, which only a "
                              "speech_embedding model can read; pass --negatives DIR with recordings of ordinary audio")
        from .negbank import load_bank

        bank = load_bank()
        neg = ScoredSet("bank", score_frames(setup, bank.embeddings), EventIndex([], STREAM_RATE_HZ), window_s, bank.hours)
        where = f"the shipped negative bank ({bank.hours * 60:.0f} min of ordinary audio)"
    trig = setup.trigger
    fa = [neg.false_accepts(keyword, t, trig) / neg.hours for t in THRESHOLD_GRID]
    frr = {c: [1.0 - float(s.hits(keyword, t, trig).mean()) for t in THRESHOLD_GRID] for c, s in conditions.items()}
    own = model.spec.thresholds[keyword]
    print(f"{model_path}: '{keyword}', {len(takes)} takes x 3 placements" + (f" ({len(rejected)} files skipped)" if rejected else "")
          + f"; false accepts on {where}", file=out)
    print(f"{'threshold':>12}  " + "  ".join(f"{'FRR ' + c:>12}" for c in conditions) + f"  {'FA/h':>8}", file=out)
    for t in sorted({own, *SHOWN}):
        frr_t = {c: 1.0 - float(s.hits(keyword, t, trig).mean()) for c, s in conditions.items()}
        fa_t = neg.false_accepts(keyword, t, trig) / neg.hours
        mark = "  <- the model's" if t == own else ""
        print(f"{t:>12.5f}  " + "  ".join(f"{100 * frr_t[c]:>11.1f}%" for c in conditions) + f"  {fa_t:>8.2f}{mark}", file=out)
    i = lowest_threshold_meeting([f <= fa_per_hour for f in fa])
    best = highest_threshold_meeting([r < 1.0 for r in frr["clean"]])
    recommended = THRESHOLD_GRID[i] if i is not None else (THRESHOLD_GRID[best] if best is not None else own)
    note = "" if i is not None else f" (no threshold reaches {fa_per_hour:g} FA/h on these negatives; the highest that still detects)"
    print(f"for <= {fa_per_hour:g} false accepts per hour set, in config.yaml:\n  trigger:\n    threshold: {recommended:.5f}{note}",
          file=out)
    result = {"thresholds": list(THRESHOLD_GRID), "frr": frr, "fa_per_hour": fa, "recommended": recommended, "hours": neg.hours}
    if det_png is not None:
        _plot(result, det_png, keyword)
        print(f"wrote {det_png}", file=out)
    return result


def _read(path):
    from .data import read_audio

    return read_audio(path, STREAM_RATE_HZ)


def _plot(result: dict, path: Path, keyword: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    floor = 0.5 / max(result["hours"], 1e-6)
    fig, ax = plt.subplots(figsize=(5.0, 3.6), dpi=80)
    fa = np.maximum(np.asarray(result["fa_per_hour"]), floor)
    for cond, frr in result["frr"].items():
        ax.plot(fa, 100 * np.asarray(frr), marker=".", ms=3, lw=1.2, label=cond)
    ax.axvline(floor, color="0.6", lw=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("false accepts per hour")
    ax.set_ylabel("false rejects of your takes (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    ax.set_title(f"'{keyword}' on your recordings", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, required=True, help="the .tflite model (sidecar beside it)")
    p.add_argument("--positives", type=Path, required=True, help="folder of WAV/FLAC recordings of the phrase")
    p.add_argument("--negatives", type=Path, default=None, help="folder of WAV/FLAC recordings of ordinary audio")
    p.add_argument("--fa-per-hour", type=float, default=0.5, help="the false-accept rate to recommend a threshold for")
    p.add_argument("--det", type=Path, default=None, help="write the DET curve here (PNG)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    try:
        if not args.fa_per_hour > 0 or not np.isfinite(args.fa_per_hour):
            raise ConfigError(f"--fa-per-hour must be a positive number, got {args.fa_per_hour}")
        report(args.model, args.positives, args.negatives, args.fa_per_hour, args.det, args.seed)
    except (WakewordError, FileNotFoundError) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
