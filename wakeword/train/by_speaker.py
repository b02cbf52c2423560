"""FRR of one speaker's keyword trials against everyone else's, from an evaluation results file.

    python -m wakeword.train.by_speaker runs/diag/val-v4.json [--speaker felixchenfy]

For each model in the results (written by `python -m wakeword.train.evaluate`), at the lowest
threshold with <= 0.5 FA/h on that run's negative stream and at the threshold its sidecar ships,
prints the FRR of the named speaker's trials and of the other speakers' trials, per condition.
The validation split is two thirds one speaker's laptop recordings, so the split-wide FRR mostly
measures that microphone; the model card's "What was tried" quotes both parts. The audio and
window scores come from the same caches as the evaluation, so this takes seconds after it.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from . import evaluate as ev


def group_frr(ms, audio, threshold: float, in_group: np.ndarray, keyword: str) -> tuple[float, float]:
    """(FRR of the trials in_group marks, FRR of the rest) at threshold."""
    ws = ms.keyword_trials[audio.name]
    det = ev.replay_trigger(ws.scores, ws.ends, threshold, ms.settings, ws.sample_rate_hz, keyword) / ws.sample_rate_hz
    starts, ends = audio.event_arrays()
    hit = ev.hits_per_event(det, starts, ends, ms.window_s)
    part = lambda mask: float(1.0 - hit[mask].mean()) if mask.any() else float("nan")  # noqa: E731
    return part(in_group), part(~in_group)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m wakeword.train.by_speaker", description=__doc__.split("\n\n")[0])
    p.add_argument("results", type=Path, help="results JSON from python -m wakeword.train.evaluate")
    p.add_argument("--speaker", default="felixchenfy", help="the speaker to separate (default %(default)s)")
    args = p.parse_args(argv)
    try:
        results = json.loads(args.results.read_text(encoding="utf-8"))
        s = results["sets"]
        sets = ev.build_eval_sets(Path(s["data_root"]), s["split"], s["keyword"], s["split_seed"], s["seed"],
                                  s["negative_stream"]["hours"], tuple(s["snrs_db"]), s["placements"], False,
                                  ev.DEFAULT_CACHE_DIR, pinned=s.get("pinned") or None)
        models = [(m["name"], Path(m["path"])) for m in results["models"]]
        scored = ev.score_models(models, sets, s["keyword"], cache_dir=ev.DEFAULT_CACHE_DIR)
    except (OSError, json.JSONDecodeError, KeyError, ev.WakewordError) as exc:
        print(f"error: {args.results}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    speakers = {c.path: c.speaker for c in ev.load_corpus(Path(s["data_root"]), s["keyword"])}
    for ms, m in zip(scored, results["models"]):
        det = m["det"]
        i = ev.lowest_threshold_meeting([f <= ev.TARGET_FA_PER_HOUR for f in det["fa_per_hour"]])
        points = [("shipped", float(ms.spec.thresholds[s["keyword"]]))]
        if i is not None:
            points.insert(0, (f"<= {ev.TARGET_FA_PER_HOUR:g} FA/h", det["thresholds"][i]))
        for label, t in points:
            cells = []
            for cond, audio in sets.keyword_trials.items():
                mask = np.array([speakers.get(Path(e.path)) == args.speaker for e in audio.events])
                own, rest = group_frr(ms, audio, t, mask, s["keyword"])
                cells.append(f"{cond}: {args.speaker} {100 * own:.0f} %, others {100 * rest:.0f} %")
            print(f"{ms.name:10s} {label:13s} threshold {t:.5f}  " + "; ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
