"""Two recipes at once on one keyword: the daemon's `models:` list with both, which fires when
either model fires, once per refractory period (detector.Pipeline).

Computed from the recipes' out-of-fold scores (no model call): a trial is detected when either
member detects it; the negative stream's detections are the members' merged in time order,
dropping one within a refractory period of the last kept one, as the Pipeline does. The pair
of thresholds is chosen on the pooled scores by the rule a single recipe's trigger settings
are chosen by (lowest mean FRR over the conditions at <= 0.5 FA/h). Because a pair has two
degrees of freedom, the pooled choice flatters it more than a single threshold flatters one
recipe; so each member alone and the pair are also given "nested": each fold's figures at the
threshold(s) chosen on the other folds only, pooled. Compare nested with nested.
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


def merged_count(detections: list[np.ndarray], refractory_s: float) -> int:
    """How many detections a Pipeline running every member reports: the members' times (s)
    merged in order, each within refractory_s of the last reported one dropped."""
    times = np.sort(np.concatenate(detections)) if detections else np.zeros(0)
    n, last = 0, None
    for t in times:
        if last is None or t - last >= refractory_s:
            n, last = n + 1, t
    return n


@dataclasses.dataclass
class _Member:
    """One member's per-threshold hits (fold -> condition -> bool per keyword trial) and
    negative detections (fold -> seconds), over its candidate thresholds."""

    name: str
    trigger: TriggerSettings
    thresholds: list
    hits: dict
    detections: dict
    first: dict  # threshold -> fold -> first detection time per clean keyword trial (NaN: none)


def _member(name: str, scored: list[dict], trigger: TriggerSettings, conditions, keyword: str, grid) -> _Member:
    streams = [s["negative"] for s in scored]
    hours = sum(s.hours for s in streams)
    hits, dets, first, kept = {}, {}, {}, []
    for t in grid:
        d = [s.detections_s(keyword, t, trigger) for s in streams]
        if sum(len(x) for x in d) / hours > TARGET_FA_PER_HOUR:
            continue  # the pair fires at least as often as each member: this threshold cannot serve
        kept.append(t)
        dets[t] = d
        hits[t] = [{c: s[f"trials:{c}"].hits(keyword, t, trigger, labels=(keyword,)) for c in conditions} for s in scored]
        first[t] = []
        for s in scored:
            trials = s[f"trials:{CONDITION_CLEAN}"]
            starts, ends = trials.index.arrays_s()
            keep = np.array([e.label == keyword for e in trials.index.events], bool)
            first[t].append(first_hit_s(trials.detections_s(keyword, t, trigger), starts[keep], ends[keep], trials.window_s))
    return _Member(name, trigger, kept, hits, dets, first)


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
    """The thresholds (one per member) with the lowest mean FRR at <= TARGET FA/h over `folds`;
    ties go to the fewer false accepts. None if no combination meets the FA/h target."""
    best = None
    for combo in product(*[m.thresholds for m in members]):
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


def summarise_fusion(parts: list[tuple[str, list[dict], TriggerSettings]], keyword: str, grid=THRESHOLD_GRID) -> dict:
    """parts: (recipe name, its scored folds as crossval.score_fold gives them, its chosen
    trigger settings) for each member. The results entry of the pair."""
    k = len(parts[0][1])
    conditions = [c.split(":", 1)[1] for c in parts[0][1][0] if c.startswith("trials:")]
    members = [_member(name, scored, trig, conditions, keyword, grid) for name, scored, trig in parts]
    hours_by_fold = [s["negative"].hours for s in parts[0][1]]
    refractory_s = max(m.trigger.refractory_s for m in members)
    name = " + ".join(m.name for m in members)
    out = {"name": name, "members": [m.name for m in members], "keyword": keyword, "folds": k, "conditions": conditions,
           "refractory_s": refractory_s,
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
    fig["latency_s"] = ({"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90)), "detections": int(len(lat))}
                        if len(lat) else None)
    out["at_chosen"] = fig
    return out
