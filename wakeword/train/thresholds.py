"""DET curves and the threshold rule, over window scores of one model on one or several folds.

A `ScoredSet` is one model's recorded window scores on one evaluation set with what is needed
to count from them: the trial events (misses) or the stream's hours and events (false accepts).
Everything here replays the trigger over recorded scores (scoring.fire_times), so a whole DET
curve costs no model call. Figures over several folds are pooled: misses over all trials,
false accepts over all hours; the spread is each fold's own figure.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from dataclasses import dataclass

import numpy as np

from ..settings import TriggerSettings
from .scoring import EventIndex, WindowScores, fire_times, first_hit_s, hits_per_event

log = logging.getLogger(__name__)

#: Operating-point targets.
TARGET_FA_PER_HOUR = 0.5
TARGET_FRR = 0.03  # 97 % recall
#: choose_threshold_from_curve: an optional cap on the false accepts the stream may hold besides
#: the FA/h target, and the margin added above the lowest threshold that meets them, in logit
#: units (0.5 lifts 0.5 to 0.62, 0.9 to 0.94 and 0.99 to 0.994): the same at every confidence.
DEFAULT_MAX_FA_COUNT = None
DEFAULT_THRESHOLD_MARGIN_LOGIT = 0.5
#: ...but the margin may cost at most this much FRR (a fraction).
DEFAULT_MARGIN_FRR_COST = 0.02
#: Poisson: with zero events in T hours, the 95 % upper bound on the rate is -ln(0.05)/T per hour.
POISSON_ZERO_UPPER95 = -math.log(0.05)
#: Thresholds of the DET curve: a 0.01 grid up to 0.99, then 1 - 10^-k for k = 2.1 ... 6 in steps of
#: 0.1: a confident model's low-FA operating points all live above 0.99.
THRESHOLD_GRID = tuple(
    sorted(set(np.round(np.concatenate((np.arange(1, 100) / 100, 1 - 10 ** -np.arange(2.1, 6.05, 0.1))), 8).tolist()))
)
#: (smoothing_windows, patience_windows) tried when the trigger settings are chosen.
TRIGGER_GRID = ((1, 1), (2, 1), (3, 1), (1, 2), (2, 2))


@dataclass
class ScoredSet:
    """One model's window scores on one evaluation set.

    Trials: index holds the clip events; window_s is the model window (a detection counts for a
    clip while its window still overlaps it). Streams: hours is the stream's length.
    """

    name: str
    scores: WindowScores
    index: EventIndex
    window_s: float
    hours: float = 0.0
    fold: int | None = None

    def detections_s(self, keyword: str, threshold: float, trigger: TriggerSettings) -> np.ndarray:
        ws = self.scores
        return fire_times(ws.column(keyword), ws.ends, threshold, trigger, ws.sample_rate_hz) / ws.sample_rate_hz

    def hits(self, keyword: str, threshold: float, trigger: TriggerSettings, labels=None) -> np.ndarray:
        """bool per trial event (optionally only events whose label is in `labels`): detected."""
        starts, ends = self.index.arrays_s()
        if labels is not None:
            keep = np.array([e.label in labels for e in self.index.events], bool)
            starts, ends = starts[keep], ends[keep]
        return hits_per_event(self.detections_s(keyword, threshold, trigger), starts, ends, self.window_s)

    def false_accepts(self, keyword: str, threshold: float, trigger: TriggerSettings) -> int:
        return int(len(self.detections_s(keyword, threshold, trigger)))

    def latencies_s(self, keyword: str, threshold: float, trigger: TriggerSettings) -> np.ndarray:
        """Seconds from the end of each detected keyword (its energy VAD end) to its detection."""
        starts, ends = self.index.arrays_s()
        keep = np.array([e.label == keyword for e in self.index.events], bool)
        word_end = np.array([e.word_end for e in self.index.events], np.float64)[keep] / self.index.rate_hz
        first = first_hit_s(self.detections_s(keyword, threshold, trigger), starts[keep], ends[keep], self.window_s)
        ok = ~np.isnan(first)
        return first[ok] - word_end[ok]


def pooled_frr(sets: list[ScoredSet], keyword: str, threshold: float, trigger: TriggerSettings) -> float:
    """Misses over all trials of `sets` (the keyword's own clips only), as a fraction."""
    hits = np.concatenate([s.hits(keyword, threshold, trigger, labels=(keyword,)) for s in sets]) if sets else np.zeros(0, bool)
    return float(1.0 - hits.mean()) if len(hits) else float("nan")


def pooled_fa(sets: list[ScoredSet], keyword: str, threshold: float, trigger: TriggerSettings) -> tuple[int, float]:
    """(false accepts, hours) over the streams of `sets`."""
    return sum(s.false_accepts(keyword, threshold, trigger) for s in sets), sum(s.hours for s in sets)


def det_curve(trials: dict[str, list[ScoredSet]], streams: list[ScoredSet], keyword: str, trigger: TriggerSettings,
              thresholds=THRESHOLD_GRID) -> dict:
    """{"thresholds", "fa_count", "fa_per_hour", "frr": {condition: [...]}} pooled over folds."""
    out = {"thresholds": list(thresholds), "fa_count": [], "fa_per_hour": [], "frr": {c: [] for c in trials}}
    hours = sum(s.hours for s in streams)
    for t in thresholds:
        fa, _ = pooled_fa(streams, keyword, t, trigger)
        out["fa_count"].append(fa)
        out["fa_per_hour"].append(fa / hours if hours else float("nan"))
        for cond, sets in trials.items():
            out["frr"][cond].append(pooled_frr(sets, keyword, t, trigger))
    return out


def lowest_threshold_meeting(ok) -> int | None:
    """Index into ascending thresholds of the lowest from which `ok` holds at every higher one, or None.

    FA counts are not strictly monotone in the threshold (a higher threshold can split one
    firing run into two), hence "and every threshold above".
    """
    ok = list(ok)
    best = None
    for i in range(len(ok) - 1, -1, -1):
        if not ok[i]:
            break
        best = i
    return best


def highest_threshold_meeting(ok) -> int | None:
    """Index into ascending thresholds of the highest at which `ok` holds, or None.

    Used for "the threshold giving 97 % recall": the highest threshold whose FRR is within the
    target. Not "at every lower threshold too": at the lowest thresholds the score of a noisy
    stream may never fall below the threshold, the trigger never re-arms and FRR rises again.
    """
    hits = [i for i, good in enumerate(ok) if good]
    return hits[-1] if hits else None


@dataclass(frozen=True)
class ThresholdChoice:
    """The recommended threshold and how it was reached (for the sidecar's `training` dict)."""

    threshold: float
    rule: str
    stream_hours: float
    fa_count: int
    fa_per_hour: float
    fa_per_hour_upper95: float
    met: bool
    frr: dict = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def choose_threshold_from_curve(
    thresholds,
    fa_counts,
    stream_hours: float,
    frrs=None,
    max_fa_per_hour: float = TARGET_FA_PER_HOUR,
    max_fa_count: int | None = DEFAULT_MAX_FA_COUNT,
    margin_logit: float = DEFAULT_THRESHOLD_MARGIN_LOGIT,
    max_margin_frr_cost: float = DEFAULT_MARGIN_FRR_COST,
    negatives: str = "validation",
) -> ThresholdChoice:
    """Pick the recommended threshold from a validation curve.

    thresholds: ascending floats in (0, 1); fa_counts: false accepts at each on a negative stream
    of stream_hours; frrs: optional validation FRR (0..1) at each.

    Rule: t0 = the lowest threshold at which the stream holds <= max_fa_per_hour (and, if given,
    <= max_fa_count false accepts), at it and at every higher threshold. Then go up the grid by
    at most `margin_logit` in log-odds, but only while the FRR stays within max_margin_frr_cost
    of FRR(t0).

    Why: a 2 h stream resolves little (one false accept is 0.5 FA/h; even none only bounds the
    rate below -ln(0.05)/hours per hour, 95 %), so the margin keeps the threshold off the edge of
    the highest-scoring negatives seen, where that costs (almost) no recall. Requiring zero false
    accepts instead (max_fa_count=0) was the first default; on the validation split, where one
    speaker holds two thirds of the clips, it cost the embedding model half its test recall for
    no test FA/h gain, so the FA/h target plus the guarded margin is the default. The FRR limit
    also matters for saturating int8 outputs, where a fixed score margin could lift the threshold
    above every keyword score.

    Not met (met=False, with a warning) if no threshold qualifies or the one that does fires on no
    keyword trial (FRR 1): then the lowest threshold with <= max_fa_per_hour at it and above that
    still fires on some keyword trial, else the highest such threshold, so the model stays usable.
    """
    thresholds = [float(t) for t in thresholds]
    if thresholds != sorted(thresholds) or len(thresholds) != len(fa_counts) or not thresholds:
        raise ValueError("thresholds must be ascending and match fa_counts")
    if frrs is not None and len(frrs) != len(thresholds):
        raise ValueError("frrs must match thresholds")
    if stream_hours <= 0:
        raise ValueError("stream_hours must be positive")
    n = len(thresholds)
    reachable = [True] * n if frrs is None else [f < 1.0 for f in frrs]
    strict = [(max_fa_count is None or c <= max_fa_count) and c / stream_hours <= max_fa_per_hour for c in fa_counts]
    i = lowest_threshold_meeting(strict)
    met = i is not None and reachable[i]
    if met:
        j = _raise_by_margin(thresholds, frrs, i, margin_logit, max_margin_frr_cost)
    else:
        relaxed = lowest_threshold_meeting([c / stream_hours <= max_fa_per_hour for c in fa_counts])
        usable = [k for k in range(n) if reachable[k]]
        if relaxed is not None and reachable[relaxed]:
            j = relaxed
        else:
            j = usable[-1] if usable else n - 1
        log.warning(
            "no threshold gives <= %g FA/h (max %s false accepts) in %.2f h while still detecting the keyword; "
            "using %.5g (%d false accepts)",
            max_fa_per_hour, max_fa_count, stream_hours, thresholds[j], fa_counts[j],
        )
    count = int(fa_counts[j])
    upper = (POISSON_ZERO_UPPER95 if count == 0 else _poisson_upper95(count)) / stream_hours
    count_rule = "" if max_fa_count is None else f" and <= {max_fa_count} false accepts"
    rule = (
        f"lowest threshold with <= {max_fa_per_hour:g} FA/h{count_rule} on "
        f"{stream_hours:.2f} h of {negatives} negatives at it and every higher threshold, raised by up to "
        f"{margin_logit:g} in log-odds while {negatives} FRR rises by <= {100 * max_margin_frr_cost:g} points"
    )
    frr = {} if frrs is None else {"at_threshold": float(frrs[j])}
    return ThresholdChoice(thresholds[j], rule, stream_hours, count, count / stream_hours, upper, met, frr)


def _raise_by_margin(thresholds, frrs, i: int, margin_logit: float, max_frr_cost: float) -> int:
    """Index of the highest threshold from i up that is within margin_logit of thresholds[i] in
    log-odds, going up only while the FRR (if given) stays within max_frr_cost of frrs[i]."""
    j = i
    while (
        j + 1 < len(thresholds)
        and logit(thresholds[j + 1]) <= logit(thresholds[i]) + margin_logit + 1e-9
        and (frrs is None or frrs[j + 1] <= frrs[i] + max_frr_cost)
    ):
        j += 1
    return j


def logit(p: float) -> float:
    """log(p / (1 - p)) for p in (0, 1)."""
    return math.log(p / (1.0 - p))


def _poisson_upper95(count: int) -> float:
    """One-sided 95 % upper bound on a Poisson mean after `count` events (Wilson-Hilferty)."""
    k = count + 1
    z = 1.6448536269514722
    return k * (1 - 1 / (9 * k) + z / (3 * math.sqrt(k))) ** 3


def allocate_thresholds(
    thresholds,
    fa_counts: dict,
    frrs: dict,
    stream_hours: float,
    max_fa_per_hour: float,
    margin_logit: float = DEFAULT_THRESHOLD_MARGIN_LOGIT,
    max_margin_frr_cost: float = DEFAULT_MARGIN_FRR_COST,
    negatives: str = "pooled out-of-fold",
) -> dict[str, ThresholdChoice]:
    """A threshold per keyword sharing one false-accept budget: {keyword: ThresholdChoice}.

    thresholds: ascending; fa_counts[kw] and frrs[kw]: each keyword's false accepts on the
    negative stream (stream_hours long) and its FRR at each threshold. The keywords' false
    accepts together may be at most max_fa_per_hour * stream_hours.

    Rule, in three steps:
    1. Min-max: the lowest FRR level r at which every keyword has a threshold with FRR <= r and
       the keywords' false accepts add up within the budget (each keyword taking, among its
       thresholds with FRR <= r, the one with the fewest false accepts at it and at every higher
       threshold, as in choose_threshold_from_curve).
    2. The budget left over is spent greedily: one keyword at a time moves to another threshold,
       the move buying the most FRR per false accept added first, while the total stays within.
    3. Each keyword's threshold is raised by the same guarded margin as the one-keyword rule
       (at most margin_logit in log-odds, at most max_margin_frr_cost FRR); that only removes
       false accepts.
    A keyword that detects none of its trials at any threshold takes its fewest false accepts
    first and is left out of steps 1 and 2 (it is not met), so it does not hold the others back.

    Each keyword's false accepts are reported as the budget counted them (the most at its threshold
    or any higher one). A keyword that detects none of its trials at its threshold is not met.

    Why not an even split of the budget: the words' score distributions differ (a long word
    such as "yes" separates from speech at far fewer false accepts than "go"), so an even split
    leaves the hardest word with the highest FRR; the target is every word's FRR. Not met
    (met=False) when even every keyword at its fewest false accepts exceeds the budget: then each
    keeps that fewest-false-accepts threshold.
    """
    thresholds = [float(t) for t in thresholds]
    n = len(thresholds)
    if thresholds != sorted(thresholds) or not thresholds:
        raise ValueError("thresholds must be ascending")
    if stream_hours <= 0:
        raise ValueError("stream_hours must be positive")
    keywords = list(fa_counts)
    if not keywords:
        raise ValueError("allocate_thresholds needs at least one keyword")
    if set(keywords) != set(frrs) or any(len(fa_counts[k]) != n or len(frrs[k]) != n for k in keywords):
        raise ValueError("fa_counts and frrs must name the same keywords and match thresholds")
    no_trials = [k for k in keywords if np.all(np.isnan(np.asarray(frrs[k], float)))]
    if no_trials:
        raise ValueError(f"no keyword trials to measure the FRR of {', '.join(map(str, no_trials))}")
    budget = math.floor(max_fa_per_hour * stream_hours + 1e-9)
    # false accepts "at it and every higher threshold": the suffix maximum
    env = {k: np.maximum.accumulate(np.asarray(fa_counts[k], float)[::-1])[::-1] for k in keywords}
    frr = {k: np.asarray(frrs[k], float) for k in keywords}
    usable = {k: np.flatnonzero(frr[k] < 1.0) for k in keywords}
    # a keyword that detects none of its trials at any threshold (deaf) takes its fewest false
    # accepts up front and stays out of the search, so that it cannot hold the others' level at 1
    deaf = [k for k in keywords if not len(usable[k])]
    usable = {k: (u if len(u) else np.flatnonzero(~np.isnan(frr[k]))) for k, u in usable.items()}
    hearing = [k for k in keywords if k not in deaf]

    def cheapest(k, level):
        """Index of keyword k's threshold with FRR <= level and the fewest false accepts, ties to
        the lower FRR, then the lower threshold; None if there is none."""
        cand = usable[k][frr[k][usable[k]] <= level + 1e-12]
        if not len(cand):
            return None
        return int(cand[np.lexsort((cand, frr[k][cand], env[k][cand]))[0]])

    fixed = {k: cheapest(k, 1.0) for k in deaf}
    left = budget - sum(env[k][i] for k, i in fixed.items())
    pick = None
    levels = np.unique(np.concatenate([frr[k][usable[k]] for k in hearing])) if hearing else []
    for level in levels:
        idx = {k: cheapest(k, level) for k in hearing}
        if any(i is None for i in idx.values()):
            continue
        if sum(env[k][i] for k, i in idx.items()) <= left:
            pick = {**fixed, **idx}
            break
    met = pick is not None
    if not met:
        pick = {k: cheapest(k, 1.0) for k in keywords}
        if hearing:
            log.warning("the keywords' fewest false accepts together exceed %g FA/h in %.2f h; each keeps its fewest",
                        max_fa_per_hour, stream_hours)
    if deaf:
        log.warning("%s detect%s none of %s trials at any threshold", ", ".join(map(str, deaf)),
                    "s" if len(deaf) == 1 else "", "its" if len(deaf) == 1 else "their")
    else:
        spent = sum(env[k][i] for k, i in pick.items())
        while True:  # each move lowers the FRR total, so this ends
            best = None
            for k in hearing:
                cur = pick[k]
                for j in usable[k][usable[k] != cur]:
                    gain, cost = frr[k][cur] - frr[k][j], env[k][j] - env[k][cur]
                    if gain <= 0 or spent + cost > budget:
                        continue
                    value = (gain / max(cost, 0.5), -j)
                    if best is None or value > best[0]:
                        best = (value, k, int(j), cost)
            if best is None:
                break
            _, k, j, cost = best
            pick[k], spent = j, spent + cost
    out = {}
    for k in keywords:
        j = _raise_by_margin(thresholds, frr[k], pick[k], margin_logit, max_margin_frr_cost)
        count = int(env[k][j])  # as the budget counted it: at the threshold and every higher one
        upper = (POISSON_ZERO_UPPER95 if count == 0 else _poisson_upper95(count)) / stream_hours
        rule = (f"one budget of {max_fa_per_hour:g} FA/h for all keywords on {stream_hours:.2f} h of {negatives} "
                "negatives (each keyword counted at its threshold and every higher one), shared to minimise the "
                f"worst keyword's FRR, then raised by up to {margin_logit:g} in log-odds while {negatives} FRR "
                f"rises by <= {100 * max_margin_frr_cost:g} points")
        out[k] = ThresholdChoice(thresholds[j], rule, stream_hours, count, count / stream_hours, upper,
                                 met and bool(frr[k][j] < 1.0), {"at_threshold": float(frr[k][j])})
    return out
