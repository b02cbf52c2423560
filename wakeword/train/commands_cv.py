"""Cross-validation of a model with several keywords (the command words), and its card.

The same folds, evaluation audio and scorer as the one-keyword cross-validation (crossval.py):
each fold model is scored through the daemon's streaming path on its own held-out speakers'
clips of every keyword (clean and at 10 dB under held-out noise classes) and on a remixed
stream of that fold's other speech, which holds no keyword. Then:

- a threshold per keyword, all sharing one budget of TOTAL_FA_PER_HOUR false accepts per hour
  on the pooled streams (each word counted alone), shared so that the worst word's clean FRR is
  as low as it can be (thresholds.allocate_thresholds), with the one-keyword rule's guarded
  margin. An even split (TOTAL_FA_PER_HOUR / n_keywords each) was the first rule: it left "go"
  at 78 % FRR while "yes" sat at 13 % with the same share of false accepts;
- the trigger (smoothing, patience) with the lowest worst-word FRR (then mean FRR) at those
  thresholds;
- every figure through the daemon's own multi-keyword Trigger (scoring.replay, with the contest
  between words): per-word FRR, the confusion between words (which word each trial fired),
  the share of detections naming the wrong word, and false accepts per hour of every word.

    python -m wakeword.train.commands_cv --run runs/cv/commands --card models/commands.md \\
        --confusion models/commands-confusion.png     # the card from a finished run's cv.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
from pathlib import Path

if __name__ == "__main__":  # run as a script: name a missing extra before the imports below fail on it
    from . import require_or_exit

    require_or_exit("python -m wakeword.train.commands_cv", "soundfile", "matplotlib")

import numpy as np  # noqa: E402 - after the check above

from ..errors import ConfigError, WakewordError
from ..settings import TriggerSettings
from .common import FoldPlan
from .crossval import DEFAULT_CACHE_DIR, DEFAULT_EVAL_HOURS, build_fold_sets, load_fold_model, score_fold
from .evalsets import CONDITION_CLEAN, DEFAULT_PLACEMENTS
from .scoring import first_hit_s, replay
from .thresholds import (THRESHOLD_GRID, TRIGGER_GRID, allocate_thresholds, choose_threshold_from_curve, pooled_fa,
                         pooled_frr)

log = logging.getLogger(__name__)

TOTAL_FA_PER_HOUR = 1.0
SNRS_DB = (10.0,)
#: Words qualifying within this long of each other compete; only the highest-scoring fires.
CONTEST_S = 0.3
NONE = "(none)"
#: The record of what was tried for this model, beside its card (card.py's format).
EXPERIMENTS_FILE = "commands-experiments.json"


def _trials(scored, cond):
    return [s[f"trials:{cond}"] for s in scored]


def curves(scored: list[dict], keywords, trigger: TriggerSettings, thresholds=THRESHOLD_GRID) -> tuple[dict, dict, float]:
    """({keyword: false accepts at each threshold}, {keyword: clean FRR at each}, stream hours),
    each keyword replayed alone over the pooled out-of-fold scores."""
    streams = [s["negative"] for s in scored]
    fa = {kw: [pooled_fa(streams, kw, t, trigger)[0] for t in thresholds] for kw in keywords}
    clean = {kw: [pooled_frr(_trials(scored, CONDITION_CLEAN), kw, t, trigger) for t in thresholds] for kw in keywords}
    return fa, clean, sum(s.hours for s in streams)


def rank(choices: dict, hours: float, smoothing: int, patience: int) -> tuple:
    """choose()'s order of trigger settings, lowest first: every word within the shared budget
    before any that is not; then the fewest false accepts over the budget; then the worst word's
    FRR, the mean FRR, and the shorter trigger. So among settings that all miss the budget, one in
    which a word never fires but the total is within it ranks before one that is a false accept
    over: the budget is the harder limit, and the never-firing word is already reported unmet."""
    frr = [c.frr.get("at_threshold", 1.0) for c in choices.values()]
    over = max(0, sum(c.fa_count for c in choices.values()) - math.floor(TOTAL_FA_PER_HOUR * hours + 1e-9))
    return (not all(c.met for c in choices.values()), over, max(frr), float(np.mean(frr)), smoothing + patience)


def choose(scored: list[dict], keywords, base: TriggerSettings, grid=TRIGGER_GRID, thresholds=THRESHOLD_GRID):
    """(trigger, {keyword: threshold}, {keyword: ThresholdChoice}, the trigger's curves()) as the
    module docstring says."""
    best = None
    for smoothing, patience in grid:
        trig = dataclasses.replace(base, smoothing_windows=smoothing, patience_windows=patience)
        fa, clean, hours = curves(scored, keywords, trig, thresholds)
        choices = allocate_thresholds(thresholds, fa, clean, hours, TOTAL_FA_PER_HOUR)
        key = rank(choices, hours, smoothing, patience)
        if best is None or key < best[0]:
            best = (key, trig, choices, (fa, clean, hours))
    _, trig, choices, trig_curves = best
    return trig, {kw: c.threshold for kw, c in choices.items()}, choices, trig_curves


def even_split(fa: dict, clean: dict, hours: float, thresholds=THRESHOLD_GRID) -> dict:
    """{keyword: threshold} by the first rule, for comparison, from one trigger's curves(): each
    word alone within TOTAL_FA_PER_HOUR / n_keywords, with the one-keyword rule's margin."""
    return {kw: choose_threshold_from_curve(thresholds, fa[kw], hours, clean[kw], max_fa_per_hour=TOTAL_FA_PER_HOUR / len(fa) + 1e-12,
                                            negatives="pooled out-of-fold").threshold for kw in fa}


def fired_matrix(s, keywords, detections) -> np.ndarray:
    """bool (n_events, n_keywords): which keywords fired within each trial event's reach."""
    starts, ends = s.index.arrays_s()
    out = np.zeros((len(starts), len(keywords)), bool)
    rate = s.scores.sample_rate_hz
    for j, kw in enumerate(keywords):
        times = np.array([d.t_samples / rate for d in detections if d.keyword == kw])
        out[:, j] = ~np.isnan(first_hit_s(times, starts, ends, s.window_s))
    return out


def figures(scored: list[dict], keywords, thresholds: dict, trigger: TriggerSettings) -> dict:
    """Every figure at the chosen operating point, through the daemon's Trigger."""
    keywords = list(keywords)
    conditions = [k.split(":", 1)[1] for k in scored[0] if k.startswith("trials:")]
    out = {"frr": {}, "frr_by_fold": {}, "confusion": {}, "trials": {}, "wrong_word": {}}
    for cond in conditions:
        counts = {kw: dict.fromkeys([*keywords, NONE], 0) for kw in keywords}
        by_fold = {kw: [] for kw in keywords}
        wrong = right = 0
        for s in _trials(scored, cond):
            fired = fired_matrix(s, keywords, replay(s.scores, thresholds, trigger))
            missed, total = dict.fromkeys(keywords, 0), dict.fromkeys(keywords, 0)
            for e, row in zip(s.index.events, fired):
                if e.label not in counts:
                    continue
                total[e.label] += 1
                missed[e.label] += not row[keywords.index(e.label)]
                if not row.any():
                    counts[e.label][NONE] += 1
                for j in np.flatnonzero(row):
                    counts[e.label][keywords[j]] += 1
                    right += keywords[j] == e.label
                    wrong += keywords[j] != e.label
            for kw in keywords:
                by_fold[kw].append(missed[kw] / total[kw] if total[kw] else float("nan"))
        trials = {kw: sum(1 for s in _trials(scored, cond) for e in s.index.events if e.label == kw) for kw in keywords}
        out["confusion"][cond] = counts
        out["trials"][cond] = trials
        out["frr"][cond] = {kw: 1 - counts[kw][kw] / trials[kw] if trials[kw] else float("nan") for kw in keywords}
        out["frr_by_fold"][cond] = by_fold
        out["wrong_word"][cond] = {"wrong": int(wrong), "detections": int(wrong + right),
                                   "share": wrong / (wrong + right) if wrong + right else 0.0}
    streams = [s["negative"] for s in scored]
    hours = sum(s.hours for s in streams)
    fa = dict.fromkeys(keywords, 0)
    for s in streams:
        for d in replay(s.scores, thresholds, trigger):
            fa[d.keyword] += 1
    out.update(fa_by_word=fa, fa_count=sum(fa.values()), hours=hours,
               fa_per_hour=sum(fa.values()) / hours if hours else float("nan"))
    return out


def cross_validate_commands(run_dir: Path, plan: FoldPlan, keywords, seed: int = 0, hours: float = DEFAULT_EVAL_HOURS,
                            cache_dir: Path | None = DEFAULT_CACHE_DIR) -> dict:
    """Score the run's fold models on their folds; the results dict (cv.json)."""
    if not plan.k:
        raise ConfigError("cross-validation needs --folds K")
    keywords = tuple(keywords)
    scored, fold_info = [], []
    for fold in range(plan.k):
        sets = build_fold_sets(plan, fold, keywords, seed, hours, SNRS_DB, DEFAULT_PLACEMENTS, room=False)
        fold_info.append(sets.info())
        setup = load_fold_model(run_dir, fold, plan, keywords[0])
        if tuple(setup.keywords) != keywords:
            raise ConfigError(f"{run_dir}/fold{fold}.tflite has keywords {list(setup.keywords)}, not {list(keywords)}")
        scored.append(score_fold(setup, sets, cache_dir))
        log.info("fold %d scored", fold)
    from ..model import load_model

    base = dataclasses.replace(load_model(Path(run_dir) / "fold0.tflite").spec.trigger, contest_s=CONTEST_S)
    trigger, thresholds, choices, trigger_curves = choose(scored, keywords, base)
    split = even_split(*trigger_curves)
    at_split = figures(scored, keywords, split, trigger)
    return {
        "kind": "commands",
        "keywords": list(keywords),
        "folds": plan.k,
        "fold_seed": plan.fold_seed,
        "eval_seed": seed,
        "eval_hours_per_fold": hours,
        "snrs_db": list(SNRS_DB),
        "fold_info": fold_info,
        "targets": {"fa_per_hour_all_words": TOTAL_FA_PER_HOUR, "frr_clean": 0.10, "frr_10db": 0.20, "wrong_word": 0.02},
        "trigger": dataclasses.asdict(trigger),
        "thresholds": thresholds,
        "threshold_choice": {kw: c.to_dict() for kw, c in choices.items()},
        "at_chosen": figures(scored, keywords, thresholds, trigger),
        "even_split": {"thresholds": split, "frr": at_split["frr"], "fa_by_word": at_split["fa_by_word"],
                       "fa_per_hour": at_split["fa_per_hour"], "wrong_word": at_split["wrong_word"]},
    }


# ---------------------------------------------------------------------------------- the card


def confusion_png(results: dict, path: Path, cond: str = CONDITION_CLEAN) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kws = results["keywords"]
    counts = results["at_chosen"]["confusion"][cond]
    cols = [*kws, NONE]
    m = np.array([[counts[r][c] for c in cols] for r in kws], float)
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(7.5, 6.5), dpi=100)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(kws)):
        for j in range(len(cols)):
            if m[i, j]:
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(kws)), kws)
    ax.set_xlabel("word that fired")
    ax.set_ylabel("word said (held-out speakers)")
    ax.set_title(f"commands: {results['folds']}-fold cross-validated, {cond}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def _cond_name(cond: str) -> str:
    return cond.replace("snr", "").replace("db", " dB")


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f} %"


def card_text(results: dict, png_rel: str | None, model: Path | None = None, card_dir: Path | None = None) -> str:
    kws = results["keywords"]
    a = results["at_chosen"]
    conds = list(a["frr"])
    t = results["trigger"]
    lines = [
        "# Model card: commands.tflite",
        "",
        "Ten command words in one MFCC model (outputs: the words, `_unknown_` speech and `_background_`).",
        f"Everything below is {results['folds']}-fold speaker-level cross-validation: each fold model scored through "
        "the daemon's streaming path and multi-keyword trigger on speakers it never heard. Generated by "
        "`python -m wakeword.train.commands_cv` from the run's cv.json; do not edit by hand.",
        "",
    ]
    if model is not None and model.is_file():
        lines += [f"Model: `{model.name}`, {model.stat().st_size / 1024:.0f} KB, int8.", ""]
    lines += [
        f"Trigger: smoothing {t['smoothing_windows']}, patience {t['patience_windows']}, refractory "
        f"{1000 * t['refractory_s']:.0f} ms, contest {1000 * t['contest_s']:.0f} ms (words qualifying within it compete; "
        "the higher score fires).",
        "",
        "## Per word, at the shipped thresholds",
        "",
        "| word | threshold | " + " | ".join(f"FRR {_cond_name(c)}" for c in conds) + " | FA in streams |",
        "|---|---|" + "---|" * len(conds) + "---|",
    ]
    for kw in kws:
        lines.append(f"| {kw} | {results['thresholds'][kw]:.5f} | " + " | ".join(_pct(a["frr"][c][kw]) for c in conds)
                     + f" | {a['fa_by_word'][kw]} |")
    ww = a["wrong_word"]
    lines += ["", "Thresholds: " + _rule_text(results) + " The thresholds and the trigger are chosen on the same pooled "
              "out-of-fold scores that the figures here are measured on, so the figures are somewhat optimistic for a new "
              "speaker; the per-fold spread below shows how much a fold can differ."]
    ev = results.get("even_split")
    if ev:
        c0 = conds[0]
        worst = max(ev["frr"][c0], key=ev["frr"][c0].get)
        lines += ["", f"The first rule, an even split ({TOTAL_FA_PER_HOUR / len(kws):g} FA/h per word) at the same trigger, "
                  f"gives on the same scores: worst word {worst} at {_pct(ev['frr'][c0][worst])} clean (shared budget: worst "
                  f"{_pct(max(a['frr'][c0].values()))}), mean {_pct(float(np.mean(list(ev['frr'][c0].values()))))} "
                  f"(shared: {_pct(float(np.mean(list(a['frr'][c0].values()))))}), {ev['fa_per_hour']:.2f} FA/h."]
    lines += [
        "",
        f"False accepts, all words together, on speech without command words: **{a['fa_per_hour']:.2f} per hour** "
        f"({a['fa_count']} in {a['hours']:.1f} h).",
        "",
        "Detections naming the wrong word: " + ", ".join(
            f"{_cond_name(c)} {_pct(ww[c]['share'])} ({ww[c]['wrong']} of {ww[c]['detections']})" for c in conds) + ".",
        "",
        "Per-fold FRR (clean), the spread behind the pooled figure: " + "; ".join(
            f"{kw} " + "/".join(f"{100 * v:.0f}" for v in a["frr_by_fold"][conds[0]][kw]) for kw in kws) + ".",
        "",
        "## Confusion between the words (clean, held-out speakers)",
        "",
        "Rows: the word said; columns: the word(s) that fired ((none): a miss). A trial can fire more than one word "
        "only when they come further apart than the contest.",
        "",
    ]
    if png_rel:
        lines += [f"![confusion matrix]({png_rel})", ""]
    cols = [*kws, NONE]
    counts = a["confusion"][conds[0]]
    lines += ["| said / fired | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for kw in kws:
        lines.append(f"| {kw} | " + " | ".join(str(counts[kw][c]) for c in cols) + " |")
    tg = results["targets"]
    worst_clean = max(a["frr"][conds[0]].values())
    worst_noisy = max(a["frr"][conds[-1]].values()) if len(conds) > 1 else float("nan")
    lines += [
        "",
        "## Against the targets",
        "",
        f"- every word's FRR clean <= {_pct(tg['frr_clean'])}: worst {_pct(worst_clean)}",
        f"- every word's FRR at 10 dB <= {_pct(tg['frr_10db'])}: worst {_pct(worst_noisy)}",
        f"- wrong-word detections < {_pct(tg['wrong_word'])}: {_pct(ww[conds[0]]['share'])} clean",
        f"- <= {tg['fa_per_hour_all_words']:g} FA/h all words: {a['fa_per_hour']:.2f}",
        "",
        f"Reproduce: `{results.get('command', 'wakeword-train --keyword ... --folds 5')}`",
        "",
    ]
    if card_dir is not None:
        from .card import _experiment_lines

        lines += _experiment_lines(Path(card_dir), EXPERIMENTS_FILE)
    return "\n".join(lines)


def _rule_text(results: dict) -> str:
    rules = {c.get("rule") for c in results.get("threshold_choice", {}).values()}
    return (rules.pop() + ".") if len(rules) == 1 else "chosen per word on the pooled out-of-fold scores."


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m wakeword.train.commands_cv", description=__doc__.split("\n\n")[0])
    p.add_argument("--run", type=Path, required=True, help="the run folder (its cv.json)")
    p.add_argument("--card", type=Path, required=True, help="the markdown card to write")
    p.add_argument("--confusion", type=Path, required=True, help="the confusion-matrix PNG to write")
    p.add_argument("--model", type=Path, default=None, help="the shipped model, for its size on the card")
    args = p.parse_args(argv)
    try:
        path = args.run / "cv.json"
        if not path.is_file():
            raise ConfigError(f"{path}: no cross-validation results (train with --folds first)")
        results = json.loads(path.read_text(encoding="utf-8"))
        if results.get("kind") != "commands":
            raise ConfigError(f"{path}: not a several-keyword run")
    except (WakewordError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    png = confusion_png(results, args.confusion)
    import os

    rel = os.path.relpath(png, args.card.parent)
    args.card.write_text(card_text(results, rel, args.model, args.card.parent), encoding="utf-8")
    print(f"wrote {args.card} and {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
