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
from ..settings import DEFAULT_COINCIDENCE_S, TriggerSettings
from .evalsets import CONDITION_CLEAN
from .scoring import first_hit_s
from .thresholds import TARGET_FA_PER_HOUR, THRESHOLD_GRID


def parse_fusions(texts, names, flag: str = "--fuse") -> list[tuple[str, ...]]:
    """--fuse (or --fuse-all) values ("A1+E0") -> name tuples; ConfigError unless each names two
    or more distinct recipes among `names`."""
    out = []
    for text in texts:
        combo = tuple(text.split("+"))
        if len(combo) < 2 or len(set(combo)) < len(combo) or any(n not in names for n in combo):
            raise ConfigError(f"{flag} {text}: give two or more different --model names joined by '+' "
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


def _setup(parts, keyword: str, grid, refractory_s: float | None):
    """What both kinds of pair start from: (folds, conditions, the members' own refractory periods,
    parts with refractory_s set if given, the pair's refractory period, the members at every
    grid threshold)."""
    k = len(parts[0][1])
    conditions = [c.split(":", 1)[1] for c in parts[0][1][0] if c.startswith("trials:")]
    own = {trig.refractory_s for _, _, trig in parts}
    if refractory_s is not None:
        parts = [(name, scored, dataclasses.replace(trig, refractory_s=float(refractory_s))) for name, scored, trig in parts]
    # the Pipeline keeps a shared keyword quiet for the longest refractory period of its models
    refractory_s = max(trig.refractory_s for _, _, trig in parts)
    members = [_member(name, scored, trig, conditions, keyword, grid, refractory_s) for name, scored, trig in parts]
    return k, conditions, own, parts, refractory_s, members


def summarise_fusion(parts: list[tuple[str, list[dict], TriggerSettings]], keyword: str, grid=THRESHOLD_GRID,
                     refractory_s: float | None = None) -> dict:
    """parts: (recipe name, its scored folds as crossval.score_fold gives them, its chosen
    trigger settings) for each member. The results entry of the pair.

    refractory_s: every member's refractory period, as config.yaml's trigger.refractory_ms sets
    every model's; None keeps each member's own (the keyword then stays quiet for the longest)."""
    k, conditions, own, parts, refractory_s, members = _setup(parts, keyword, grid, refractory_s)
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


# ------------------------------------------------------------------ every member must agree


#: A member's thresholds at which it alone fires more often than this (per hour, on the folds a
#: choice is made on) are left out of the "all" search, to bound its time. An assumption: no run
#: has yet checked that a pair meeting the target never needs a member beyond it (the entry
#: records the cap, and a chosen threshold next to it would say it binds).
ALL_MEMBER_CAP_PER_HOUR = 100.0


def _thinned(times: np.ndarray, refractory_s: float) -> np.ndarray:
    """_merged_times, without its loop when no two detections are within refractory_s."""
    times = np.sort(times)
    if len(times) < 2 or np.all(np.diff(times) >= refractory_s):
        return times.astype(np.float64)
    return _merged_times(times, refractory_s)


def coincident_times(detections: list[np.ndarray], window_s: float) -> np.ndarray:
    """The times (s, sorted) at which one member detects while every other member has detected
    within the last window_s (at or before that time): where a keyword that needs all its models
    fires, before its refractory period (see _merged_times) thins them."""
    fires = []
    for i, mine in enumerate(detections):
        ok = np.ones(len(mine), bool)
        for j, other in enumerate(detections):
            if j == i:
                continue
            idx = np.searchsorted(other, mine, side="right")
            last = other[np.maximum(idx - 1, 0)] if len(other) else np.zeros(len(mine))
            ok &= (idx > 0) & (mine - last <= window_s)
        fires.append(mine[ok])
    # two members detecting at the same instant agree once, not once from each side
    return np.unique(np.concatenate(fires)) if fires else np.zeros(0)


@dataclasses.dataclass
class _AllTable:
    """Every combination of the members' grid thresholds, per fold: false accepts (n_combo, k),
    misses (n_combo, k, n_conditions), the keyword trials per fold and condition (k, n_conditions),
    and each member's own false accepts at its threshold (n_combo, n_members, k), by which a
    choice over some folds applies ALL_MEMBER_CAP_PER_HOUR on those folds only."""

    combos: list
    fa: np.ndarray
    misses: np.ndarray
    trials: np.ndarray
    member_fa: np.ndarray


def _all_table(parts, members: list[_Member], keyword: str, conditions, window_s: float, refractory_s: float) -> _AllTable:
    k = len(parts[0][1])
    hours = np.array([s["negative"].hours for s in parts[0][1]])

    def capped_somewhere(m, t):  # under the cap on the folds of some nested or pooled choice
        fa = np.array(m.fa[t], np.float64)
        subsets = [np.arange(k) != f for f in range(k)] + [np.ones(k, bool)]
        return any(fa[s].sum() <= ALL_MEMBER_CAP_PER_HOUR * hours[s].sum() for s in subsets)

    grids = [[t for t in m.thresholds if capped_somewhere(m, t)] for m in members]
    combos = list(product(*grids))
    member_fa = np.array([[m.fa[t] for m, t in zip(members, combo)] for combo in combos], np.int64).reshape(len(combos), len(members), k)
    fa = np.zeros((len(combos), k), np.int64)
    misses = np.zeros((len(combos), k, len(conditions)), np.int64)
    trials = np.zeros((k, len(conditions)), np.int64)
    # every member's detections at every grid threshold, once per set
    dets = [{t: {(f, c): (m.detections[t][f] if c == "negative" else
                          p[1][f][f"trials:{c}"].detections_s(keyword, t, m.trigger))
                 for f in range(k) for c in ["negative", *conditions]}
             for t in grid} for p, m, grid in zip(parts, members, grids)]
    spans = {}
    for f in range(k):
        for ci, c in enumerate(conditions):
            s = parts[0][1][f][f"trials:{c}"]
            starts, ends = s.index.arrays_s()
            keep = np.array([e.label == keyword for e in s.index.events], bool)
            window = max(p[1][f][f"trials:{c}"].window_s for p in parts)
            spans[f, c] = (starts[keep], ends[keep], window)
            trials[f, ci] = int(keep.sum())
    for n, combo in enumerate(combos):
        for f in range(k):
            got = [dets[i][t][f, "negative"] for i, t in enumerate(combo)]
            fa[n, f] = len(_thinned(coincident_times(got, window_s), refractory_s))
            for ci, c in enumerate(conditions):
                got = [dets[i][t][f, c] for i, t in enumerate(combo)]
                starts, ends, window = spans[f, c]
                fired = _thinned(coincident_times(got, window_s), refractory_s)
                misses[n, f, ci] = int(np.sum(np.isnan(first_hit_s(fired, starts, ends, window))))
    return _AllTable(combos, fa, misses, trials, member_fa)


def _choose_all(table: _AllTable, folds, hours_by_fold) -> int | None:
    """Index of the combination with the lowest mean FRR over the conditions at <= TARGET FA/h
    over `folds` (only those: the members' cap too), ties to the fewer false accepts, then the
    first in grid order, as _choose breaks them; None if none meets the target."""
    folds = list(folds)
    hours = sum(hours_by_fold[f] for f in folds)
    fa = table.fa[:, folds].sum(axis=1)
    capped = np.all(table.member_fa[:, :, folds].sum(axis=2) <= ALL_MEMBER_CAP_PER_HOUR * hours, axis=1)
    ok = np.flatnonzero((fa <= TARGET_FA_PER_HOUR * hours) & capped)
    if not len(ok):
        return None
    frr = table.misses[ok][:, folds, :].sum(axis=1) / np.maximum(table.trials[folds].sum(axis=0), 1)
    order = np.lexsort((ok, fa[ok], frr.mean(axis=1)))
    return int(ok[order[0]])


def _all_figures(table: _AllTable, index_by_fold: list[int], folds, conditions, hours_by_fold) -> dict:
    folds = list(folds)
    fa = int(sum(table.fa[n, f] for n, f in zip(index_by_fold, folds)))
    hours = sum(hours_by_fold[f] for f in folds)
    missed = sum(table.misses[n, f] for n, f in zip(index_by_fold, folds))
    total = table.trials[folds].sum(axis=0)
    frr = {c: float(missed[i] / total[i]) if total[i] else float("nan") for i, c in enumerate(conditions)}
    return {"fa_count": fa, "hours": hours, "fa_per_hour": fa / hours if hours else float("nan"), "frr": frr}


def summarise_all(parts: list[tuple[str, list[dict], TriggerSettings]], keyword: str, grid=THRESHOLD_GRID,
                  refractory_s: float | None = None, window_s: float = DEFAULT_COINCIDENCE_S) -> dict:
    """Like summarise_fusion, for a keyword that fires only when every member fires within
    window_s of the others: a trial is detected when the members' coincident detections fall in
    it, and the stream's false accepts are the coincidences, thinned by the refractory period.
    Each member's thresholds range over the grid up to ALL_MEMBER_CAP_PER_HOUR false accepts alone
    (a pair that must agree can use members that fire far too often alone). The entry has
    "mode": "all".

    The daemon (detector.Pipeline) keeps each model's latest detection only, and decides as each
    arrives. For models that report in time order (no contest between words, as for the "stop"
    models) that is exactly this; a model that holds a detection back for a contest
    (trigger.contest_ms) longer than the window and the other's refractory period can make the
    daemon miss an agreement counted here."""
    if not window_s > 0:
        raise ConfigError(f"the coincidence window must be positive, got {window_s!r}")
    k, conditions, own, parts, refractory_s, members = _setup(parts, keyword, grid, refractory_s)
    table = _all_table(parts, members, keyword, conditions, window_s, refractory_s)
    hours_by_fold = [s["negative"].hours for s in parts[0][1]]
    name = " & ".join(m.name for m in members)
    out = {"name": name, "mode": "all", "members": [m.name for m in members], "keyword": keyword, "folds": k,
           "conditions": conditions, "coincidence_s": float(window_s), "member_cap_per_hour": ALL_MEMBER_CAP_PER_HOUR,
           "combinations": len(table.combos), "refractory_s": refractory_s,
           "refractory_set": own != {refractory_s},
           "nested_members": {m.name: _nested([m], k, conditions, hours_by_fold, refractory_s) for m in members}}
    picks = []
    for f in range(k):
        n = _choose_all(table, [g for g in range(k) if g != f], hours_by_fold)
        if n is None:
            break
        picks.append(n)
    if len(picks) < k:
        out["nested"] = {"met": False}
    else:
        nested = _all_figures(table, picks, range(k), conditions, hours_by_fold)
        nested.update(met=True, thresholds_by_fold=[[float(t) for t in table.combos[n]] for n in picks],
                      frr_by_fold={c: [_all_figures(table, [picks[f]], [f], conditions, hours_by_fold)["frr"][c]
                                       for f in range(k)] for c in conditions})
        out["nested"] = nested
    best = _choose_all(table, range(k), hours_by_fold)
    if best is None:
        out["at_chosen"] = None
        return out
    combo = table.combos[best]
    fig = _all_figures(table, [best] * k, range(k), conditions, hours_by_fold)
    fig["thresholds"] = {m.name: float(t) for m, t in zip(members, combo)}
    by_fold = [_all_figures(table, [best], [f], conditions, hours_by_fold) for f in range(k)]
    fig["frr_by_fold"] = {c: [b["frr"][c] for b in by_fold] for c in conditions}
    fig["fa_per_hour_by_fold"] = [b["fa_per_hour"] for b in by_fold]
    ends = _word_ends(parts[0][1], keyword)
    lat = []
    for f in range(k):
        s = parts[0][1][f][f"trials:{CONDITION_CLEAN}"]
        starts, stops = s.index.arrays_s()
        keep = np.array([e.label == keyword for e in s.index.events], bool)
        window = max(p[1][f][f"trials:{CONDITION_CLEAN}"].window_s for p in parts)
        fired = _merged_times(coincident_times([m.clean_detections[t][f] for m, t in zip(members, combo)], window_s),
                              refractory_s)
        first = first_hit_s(fired, starts[keep], stops[keep], window)
        ok = ~np.isnan(first)
        lat.append(first[ok] - ends[f][ok])
    lat = np.concatenate(lat)
    fig["latency_s"] = ({"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90)), "detections": int(len(lat))}
                        if len(lat) else None)
    out["at_chosen"] = fig
    return out
