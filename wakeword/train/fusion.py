"""Two recipes at once on one keyword: the daemon's `models:` list with both, which fires when
either model fires, once per refractory period (detector.Pipeline).

Computed from the recipes' out-of-fold scores (no model call): a trial is detected when either
member detects it; the negative stream's detections are the members' merged in time order,
dropping one within a refractory period of the last kept one, as the Pipeline does (one
refractory period for the keyword: the longest of the members'). The pair of thresholds is the
one with the lowest mean FRR over the conditions at <= 0.5 FA/h on the pooled scores (the rule a
single recipe's trigger settings are chosen by; a single recipe's shipped threshold follows
thresholds.choose_threshold_from_curve instead, with a margin). Because a pair has two degrees of
freedom, the pooled choice flatters it more than a single threshold flatters one recipe; so the
pair and each member alone, by this same rule, are also given "nested": each fold's figures at
the threshold(s) chosen on the other folds only, pooled. Compare nested with nested. The
members' trigger settings (smoothing, patience) are their own recipes' choices on the pooled
scores, not nested.
"""

from __future__ import annotations

import dataclasses
from itertools import product

import numpy as np

from ..errors import ConfigError
from ..settings import TriggerSettings
from .evalsets import CONDITION_CLEAN
from .scoring import first_hit_s
from .thresholds import TARGET_FA_PER_HOUR, THRESHOLD_GRID


def parse_fusions(texts, names) -> list[tuple[str, ...]]:
    """--fuse values ("A1+E0") -> name tuples; ConfigError unless each names two or more
    distinct recipes among `names`."""
    out = []
    for text in texts:
        combo = tuple(text.split("+"))
        if len(combo) < 2 or len(set(combo)) < len(combo) or any(n not in names for n in combo):
            raise ConfigError(f"--fuse {text}: give two or more different --model names joined by '+' "
                              f"(the names are: {', '.join(names)})")
        out.append(combo)
    return out


def _merged_times(times: np.ndarray, refractory_s: float) -> np.ndarray:
    """Detection times (s) as a Pipeline running every member reports them: in time order, each
    within refractory_s of the last reported one dropped."""
    kept, last = [], None
    for t in np.sort(times):
        if last is None or t - last >= refractory_s:
            kept.append(t)
            last = t
    return np.asarray(kept, np.float64)


def merged_count(detections: list[np.ndarray], refractory_s: float) -> int:
    """How many detections a Pipeline running every member reports (see _merged_times)."""
    return len(_merged_times(np.concatenate(detections), refractory_s)) if detections else 0


@dataclasses.dataclass
class _Member:
    """One member at every threshold of the grid: hits (fold -> condition -> bool per keyword
    trial), negative-stream detections (fold -> seconds) and their count merged at the pair's
    refractory period (fold -> int), and on the clean trials the detection times and the first
    hit per keyword trial (NaN: none)."""

    name: str
    trigger: TriggerSettings
    thresholds: list
    hits: dict
    detections: dict
    fa: dict
    clean_detections: dict
    first: dict


def _member(name: str, scored: list[dict], trigger: TriggerSettings, conditions, keyword: str, grid,
            refractory_s: float) -> _Member:
    hits, dets, fa, clean, first = {}, {}, {}, {}, {}
    for t in grid:
        dets[t] = [s["negative"].detections_s(keyword, t, trigger) for s in scored]
        fa[t] = [merged_count([d], refractory_s) for d in dets[t]]
        hits[t] = [{c: s[f"trials:{c}"].hits(keyword, t, trigger, labels=(keyword,)) for c in conditions} for s in scored]
        clean[t], first[t] = [], []
        for s in scored:
            trials = s[f"trials:{CONDITION_CLEAN}"]
            starts, ends = trials.index.arrays_s()
            keep = np.array([e.label == keyword for e in trials.index.events], bool)
            d = trials.detections_s(keyword, t, trigger)
            clean[t].append(d)
            first[t].append(first_hit_s(d, starts[keep], ends[keep], trials.window_s))
    return _Member(name, trigger, list(grid), hits, dets, fa, clean, first)


def _word_ends(scored: list[dict], keyword: str) -> list[np.ndarray]:
    out = []
    for s in scored:
        idx = s[f"trials:{CONDITION_CLEAN}"].index
        out.append(np.array([e.word_end for e in idx.events if e.label == keyword], np.float64) / idx.rate_hz)
    return out


def _hits(members: list[_Member], combo: tuple, fold: int, condition: str) -> np.ndarray:
    """bool per keyword trial of one fold and condition: some member detected it."""
    return np.logical_or.reduce([m.hits[t][fold][condition] for m, t in zip(members, combo)])


def _figures(members: list[_Member], combo, folds, conditions, hours_by_fold, refractory_s: float) -> dict:
    """Pooled figures of the members at thresholds `combo` (one per member, or one per member
    for each fold when a list of combos is given) over `folds`."""
    folds = list(folds)
    combos = combo if isinstance(combo, list) else [combo] * len(folds)
    fa = sum(merged_count([m.detections[t][f] for m, t in zip(members, c)], refractory_s) for f, c in zip(folds, combos))
    hours = sum(hours_by_fold[f] for f in folds)
    frr = {}
    for cond in conditions:
        hit = np.concatenate([_hits(members, c, f, cond) for f, c in zip(folds, combos)])
        frr[cond] = float(1 - hit.mean()) if len(hit) else float("nan")
    return {"fa_count": fa, "hours": hours, "fa_per_hour": fa / hours if hours else float("nan"), "frr": frr}


def _choose(members, folds, conditions, hours_by_fold, refractory_s):
    """The thresholds (one per member) with the lowest mean FRR at <= TARGET FA/h over `folds`
    (and only those folds: nothing of another fold is looked at); ties go to the fewer false
    accepts. None if no combination meets the FA/h target.

    A pair fires at least as often as each member alone (the merged count keeps the most
    detections spaced a refractory period apart, and adding detections cannot lower that), so
    only each member's thresholds that meet the target alone over `folds` are combined."""
    folds = list(folds)
    budget = TARGET_FA_PER_HOUR * sum(hours_by_fold[f] for f in folds)
    candidates = [[t for t in m.thresholds if sum(m.fa[t][f] for f in folds) <= budget] for m in members]
    best = None
    for combo in product(*candidates):
        fig = _figures(members, combo, folds, conditions, hours_by_fold, refractory_s)
        if fig["fa_per_hour"] > TARGET_FA_PER_HOUR:
            continue
        key = (float(np.mean(list(fig["frr"].values()))), fig["fa_count"])
        if best is None or key < best[0]:
            best = (key, combo, fig)
    return best


def _nested(members, k, conditions, hours_by_fold, refractory_s) -> dict:
    """Each fold at the thresholds chosen on the other k - 1 folds, pooled, with each fold's own."""
    combos = []
    for f in range(k):
        best = _choose(members, [g for g in range(k) if g != f], conditions, hours_by_fold, refractory_s)
        if best is None:
            return {"met": False}
        combos.append(best[1])
    out = _figures(members, combos, range(k), conditions, hours_by_fold, refractory_s)
    out.update(met=True, thresholds_by_fold=[[float(t) for t in c] for c in combos],
               frr_by_fold={c: [_figures(members, combos[f], [f], conditions, hours_by_fold, refractory_s)["frr"][c]
                                for f in range(k)] for c in conditions})
    return out


def _double_fires(parts, members, combo, keyword: str, refractory_s: float) -> dict:
    """Clean keyword trials the pair fires on more than once (the two models' detections of one
    word further apart than the refractory period), of those it fires on at all."""
    twice = fired = 0
    for f, s in enumerate(parts[0][1]):
        trials = s[f"trials:{CONDITION_CLEAN}"]
        starts, ends = trials.index.arrays_s()
        keep = np.array([e.label == keyword for e in trials.index.events], bool)
        window_s = max(p[1][f][f"trials:{CONDITION_CLEAN}"].window_s for p in parts)
        kept = _merged_times(np.concatenate([m.clean_detections[t][f] for m, t in zip(members, combo)]), refractory_s)
        lo = np.searchsorted(kept, starts[keep], side="left")
        hi = np.searchsorted(kept, ends[keep] + window_s, side="right")
        fired += int(np.sum(hi > lo))
        twice += int(np.sum(hi - lo > 1))
    return {"trials_fired": fired, "fired_twice": twice, "fraction": twice / fired if fired else 0.0}


def summarise_fusion(parts: list[tuple[str, list[dict], TriggerSettings]], keyword: str, grid=THRESHOLD_GRID,
                     refractory_s: float | None = None) -> dict:
    """parts: (recipe name, its scored folds as crossval.score_fold gives them, its chosen
    trigger settings) for each member. The results entry of the pair.

    refractory_s: every member's refractory period, as config.yaml's trigger.refractory_ms sets
    every model's; None keeps each member's own (the keyword then stays quiet for the longest)."""
    k = len(parts[0][1])
    conditions = [c.split(":", 1)[1] for c in parts[0][1][0] if c.startswith("trials:")]
    own = {trig.refractory_s for _, _, trig in parts}
    if refractory_s is not None:
        parts = [(name, scored, dataclasses.replace(trig, refractory_s=float(refractory_s))) for name, scored, trig in parts]
    # the Pipeline keeps a shared keyword quiet for the longest refractory period of its models
    refractory_s = max(trig.refractory_s for _, _, trig in parts)
    members = [_member(name, scored, trig, conditions, keyword, grid, refractory_s) for name, scored, trig in parts]
    hours_by_fold = [s["negative"].hours for s in parts[0][1]]
    name = " + ".join(m.name for m in members)
    out = {"name": name, "members": [m.name for m in members], "keyword": keyword, "folds": k, "conditions": conditions,
           "refractory_s": refractory_s, "refractory_set": own != {refractory_s},
           "nested_members": {m.name: _nested([m], k, conditions, hours_by_fold, refractory_s) for m in members},
           "nested": _nested(members, k, conditions, hours_by_fold, refractory_s)}
    best = _choose(members, range(k), conditions, hours_by_fold, refractory_s)
    if best is None:
        out["at_chosen"] = None
        return out
    _, combo, fig = best
    fig["thresholds"] = {m.name: float(t) for m, t in zip(members, combo)}
    by_fold = [_figures(members, combo, [f], conditions, hours_by_fold, refractory_s) for f in range(k)]
    fig["frr_by_fold"] = {c: [b["frr"][c] for b in by_fold] for c in conditions}
    fig["fa_per_hour_by_fold"] = [b["fa_per_hour"] for b in by_fold]
    ends = _word_ends(parts[0][1], keyword)
    lat = []
    for f in range(k):
        firsts = np.vstack([m.first[t][f] for m, t in zip(members, combo)])
        ok = ~np.all(np.isnan(firsts), axis=0)
        lat.append(np.nanmin(firsts[:, ok], axis=0) - ends[f][ok])
    lat = np.concatenate(lat)
    fig["double_fires"] = _double_fires(parts, members, combo, keyword, refractory_s)
    fig["latency_s"] = ({"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90)), "detections": int(len(lat))}
                        if len(lat) else None)
    out["at_chosen"] = fig
    return out
