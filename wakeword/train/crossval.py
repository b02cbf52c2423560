"""Speaker-level cross-validation: score fold models on their held-out folds and pool the figures.

For a recipe trained with `--folds K` (one model per fold, each trained on the other folds'
speakers and noise groups), every fold model is scored through the one scorer on its own fold:
keyword trials (clean, each SNR under the fold's held-out noise classes, and a simulated room
from the held-out RT60 band), a >= 10 h remixed negative stream of the fold's other clips, and
each command / wake word alone. Misses are pooled over every trial and false accepts over every
hour; each fold's own figures give the spread. The trigger settings and the threshold for the
final model (trained on every speaker) are chosen on the pooled out-of-fold scores.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections import Counter
from pathlib import Path

import numpy as np

from ..detector import ModelSetup, window_span_s
from ..errors import ConfigError
from ..model import load_model
from ..settings import TriggerSettings
from . import data as datamod
from .common import FoldPlan
from .evalsets import (
    CONDITION_CLEAN,
    CONDITION_ROOM,
    DEFAULT_PLACEMENTS,
    DEFAULT_SNRS_DB,
    NEGATIVE_KINDS,
    AudioCache,
    NegativeStream,
    TrialSet,
    build_keyword_trials,
    build_solo_trials,
    snr_name,
)
from .fusion import summarise_all, summarise_fusion
from .scoring import score_stream
from .thresholds import (
    TARGET_FA_PER_HOUR,
    TARGET_FRR,
    THRESHOLD_GRID,
    TRIGGER_GRID,
    ScoredSet,
    choose_threshold_from_curve,
    det_curve,
    highest_threshold_meeting,
    lowest_threshold_meeting,
    pooled_fa,
    pooled_frr,
)

log = logging.getLogger(__name__)

DEFAULT_EVAL_HOURS = 10.0
DEFAULT_CACHE_DIR = Path("runs/eval-cache")
SENTENCE_LABEL = "sentence"
#: The one-microphone speaker, whose share of the keyword clips is reported apart.
SINGLE_SPEAKER = "felixchenfy"
TOP_CAUSES = 12


@dataclasses.dataclass
class FoldSets:
    """The evaluation audio of one fold (built once, scored by every recipe's fold model)."""

    fold: int | None
    trials: dict  # condition -> TrialSet
    negative: NegativeStream
    solo: TrialSet | None
    extra: dict  # name -> NegativeStream (a held-out corpus)

    def info(self) -> dict:
        first = next(iter(self.trials.values()))
        return {
            "fold": self.fold,
            "keyword_clips": first.info["clips"],
            "keyword_speakers": len({e.speaker for e in first.events}),
            "negative_stream": self.negative.info,
            "rooms": self.trials.get(CONDITION_ROOM).info.get("rooms") if CONDITION_ROOM in self.trials else None,
            "solo_clips": dict(Counter(e.kind for e in self.solo.events)) if self.solo else {},
            "extra": {k: v.info for k, v in self.extra.items()},
        }


def build_fold_sets(plan: FoldPlan, fold: int, keywords: tuple[str, ...], seed: int = 0,
                    hours: float = DEFAULT_EVAL_HOURS, snrs_db=DEFAULT_SNRS_DB, placements: int = DEFAULT_PLACEMENTS,
                    room: bool = True, extra_sources=(), all_clips=None, cache: AudioCache | None = None) -> FoldSets:
    """Fold's evaluation audio. plan.clips must be loaded with `keywords` as the keyword labels.

    extra_sources: manifest sources (held out of training entirely) whose clips make one more
    negative stream each, from all_clips (the corpus before held-out sources were removed)."""
    cache = cache or AudioCache()
    mine = plan.speech([fold])
    keyword_clips = [c for c in mine if c.kind == datamod.KIND_KEYWORD and c.label in keywords]
    if not keyword_clips:
        raise ConfigError(f"fold {fold} holds no clips of {', '.join(keywords)}")
    held = [cache.get(c.path) for c in plan.held_out_noises(fold)]
    fold_seed = seed * 1000 + fold
    trials = {CONDITION_CLEAN: build_keyword_trials(keyword_clips, CONDITION_CLEAN, fold_seed, None, placements, cache)}
    for snr in snrs_db:
        trials[snr_name(snr)] = build_keyword_trials(keyword_clips, snr_name(snr), fold_seed, held, placements, cache)
    if room:
        trials[CONDITION_ROOM] = build_keyword_trials(keyword_clips, CONDITION_ROOM, fold_seed, held, placements, cache)
    negatives = [c for c in mine if c.kind in NEGATIVE_KINDS]
    noises = [(datamod.noise_class(c) + ":" + c.path.stem, cache.get(c.path)) for c in plan.noises(range(plan.n_banks))]
    negative = NegativeStream(negatives, noises, hours, fold_seed, cache)
    solo_clips = [c for c in mine if c.kind in (datamod.KIND_COMMAND, datamod.KIND_WAKEWORD)]
    solo = build_solo_trials(solo_clips, fold_seed, cache) if solo_clips else None
    extra = {}
    for source in extra_sources:
        clips = [c for c in (all_clips or []) if c.source == source and c.kind in NEGATIVE_KINDS]
        if clips:
            extra[f"source:{source}"] = NegativeStream(clips, noises, hours / 2, fold_seed + 77, cache, name=f"source:{source}")
    return FoldSets(fold, trials, negative, solo, extra)


# ---------------------------------------------------------------------------------- scoring


def _model_digest(path: Path, hop_s: float) -> str:
    """What a model's window scores depend on: its bytes, its sidecar less the threshold and the
    free-form training record, and the hop."""
    path = Path(path)
    h = hashlib.sha1(path.read_bytes())
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        data = {k: v for k, v in json.loads(sidecar.read_text(encoding="utf-8")).items() if k not in ("thresholds", "training", "trigger")}
        h.update(json.dumps(data, sort_keys=True).encode())
    h.update(f"{hop_s:.6f}".encode())
    return h.hexdigest()[:16]


def _cached_scores(cache_dir: Path | None, key: str, compute):
    from .scoring import WindowScores

    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / "scores" / f"{key}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as d:
            return WindowScores(d["ends"], d["scores"], int(d["rate"]), tuple(str(k) for k in d["keywords"]))
    ws = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(tmp, ends=ws.ends, scores=ws.scores, rate=ws.sample_rate_hz, keywords=np.array(ws.keywords))
    os.replace(tmp, path)
    return ws


def score_fold(setup: ModelSetup, sets: FoldSets, cache_dir: Path | None = DEFAULT_CACHE_DIR) -> dict[str, ScoredSet]:
    """{set name: ScoredSet}: the model's window scores on every set of the fold ("trials:<cond>",
    "negative", "solo", and the extra streams)."""
    model = setup.model
    window_s = window_span_s(model)
    digest = _model_digest(model.path, setup.trigger.hop_s)
    out = {}
    items = [(f"trials:{c}", t) for c, t in sets.trials.items()] + [("negative", sets.negative)]
    items += [("solo", sets.solo)] if sets.solo is not None else []
    items += list(sets.extra.items())
    for name, audio in items:
        ws = _cached_scores(cache_dir, f"{digest}-{audio.digest()}", lambda a=audio: score_stream(setup, a.blocks(), a.rate_hz))
        hours = audio.hours if isinstance(audio, NegativeStream) else 0.0
        out[name] = ScoredSet(name, ws, audio.index(), window_s, hours, sets.fold)
    return out


def load_fold_model(run_dir: Path, fold: int, plan: FoldPlan, keyword: str) -> ModelSetup:
    """A recipe's fold model, as the daemon would run it, after checking its sidecar says it was
    trained without this fold (so its figures are on speakers it never heard)."""
    path = Path(run_dir) / f"fold{fold}.tflite"
    model = load_model(path)
    if keyword not in model.spec.keywords:
        raise ConfigError(f"{path}: model has no keyword {keyword!r} (it has {list(model.spec.keywords)})")
    data = (model.spec.training or {}).get("data", {}).get("plan", {})
    mismatch = plan_mismatch(data, plan, fold)
    if mismatch:
        raise ConfigError(f"{path} was trained on another split ({mismatch}): scoring it on fold {fold} "
                          "could test it on its own training speakers")
    return ModelSetup.recommended(model)


def plan_mismatch(recorded: dict, plan: FoldPlan, fold: int) -> str:
    """"" if a fold model's recorded plan (its sidecar's training.data.plan) held out exactly
    this plan's fold, else what differs. The held-out speakers are compared by hash; a sidecar
    from before the hash was recorded is compared by its number of training speakers."""
    expect = plan.record(fold)
    keys = ["folds", "fold", "fold_seed"]
    keys.append("held_out_speakers_sha256" if "held_out_speakers_sha256" in recorded else "speakers")
    diff = [f"{k} {recorded.get(k)!r}, not {expect[k]!r}" for k in keys if recorded.get(k) != expect[k]]
    return "; ".join(diff)


# ---------------------------------------------------------------------------------- figures


def _trial_sets(scored: list[dict], cond: str) -> list[ScoredSet]:
    return [s[f"trials:{cond}"] for s in scored if f"trials:{cond}" in s]


def speaker_frr(hits_by_speaker: dict) -> dict:
    """Misses seen per person rather than per clip: {speakers, mean (each speaker's FRR averaged,
    so a speaker with many clips counts once), median, half_or_more (the share of speakers missed
    at least half the time), all (the share missed every time)}."""
    frr = np.array([1.0 - np.mean(v) for v in hits_by_speaker.values() if len(v)], np.float64)
    if not len(frr):
        return {"speakers": 0, "mean": float("nan"), "median": float("nan"), "half_or_more": float("nan"), "all": float("nan")}
    return {"speakers": int(len(frr)), "mean": float(frr.mean()), "median": float(np.median(frr)),
            "half_or_more": float(np.mean(frr >= 0.5)), "all": float(np.mean(frr >= 1.0))}


def operating_point(scored: list[dict], conditions: list[str], keyword: str, threshold: float, trigger,
                    whole_sources: dict[str, int] | None = None) -> dict:
    """Every figure at one threshold, pooled over folds, with each fold's own beside it.

    whole_sources: {source: fold} for the sources whose every speaker is in one fold (see
    whole_source_folds): that fold's model never trained on them, so its figures on their clips
    are a cross-corpus check."""
    streams = [s["negative"] for s in scored]
    point = {"threshold": float(threshold), "frr": {}, "frr_by_fold": {}, "frr_without_single_speaker": {},
             "frr_by_speaker": {}}
    for cond in conditions:
        sets = _trial_sets(scored, cond)
        point["frr"][cond] = pooled_frr(sets, keyword, threshold, trigger)
        point["frr_by_fold"][cond] = [pooled_frr([s], keyword, threshold, trigger) for s in sets]
        others, by_speaker = [], {}
        for s in sets:
            h = s.hits(keyword, threshold, trigger, labels=(keyword,))
            speakers = [e.speaker for e in s.index.events if e.label == keyword]
            mask = np.array([sp != SINGLE_SPEAKER for sp in speakers], bool)
            others.append(h[mask])
            for sp, hit in zip(speakers, h):
                by_speaker.setdefault(sp, []).append(bool(hit))
        joined = np.concatenate(others) if others else np.zeros(0, bool)
        point["frr_without_single_speaker"][cond] = float(1 - joined.mean()) if len(joined) else float("nan")
        point["frr_by_speaker"][cond] = speaker_frr(by_speaker)
    lat = np.concatenate([s.latencies_s(keyword, threshold, trigger) for s in _trial_sets(scored, CONDITION_CLEAN)])
    point["latency_s"] = ({"median": float(np.median(lat)), "p90": float(np.percentile(lat, 90)), "detections": int(len(lat))}
                          if len(lat) else None)
    fa, hours = pooled_fa(streams, keyword, threshold, trigger)
    point.update(fa_count=fa, hours=hours, fa_per_hour=fa / hours if hours else float("nan"),
                 fa_per_hour_by_fold=[s.false_accepts(keyword, threshold, trigger) / s.hours for s in streams])
    labels, sources = Counter(), Counter()
    for s in streams:
        found = s.index.attribute(s.detections_s(keyword, threshold, trigger), s.window_s, SENTENCE_LABEL, datamod.KIND_SPEECH)
        labels.update(lab for lab, _, _ in found)
        sources.update(src or kind for _, kind, src in found)
    point["fa_by_label"] = dict(labels.most_common(TOP_CAUSES))
    point["fa_by_source"] = dict(sources.most_common())
    extra = {}
    for name in sorted({k for s in scored for k in s if k.startswith("source:")}):
        fa_x, h_x = pooled_fa([s[name] for s in scored if name in s], keyword, threshold, trigger)
        extra[name] = {"fa_count": fa_x, "hours": h_x, "fa_per_hour": fa_x / h_x if h_x else float("nan")}
    point["held_out_corpora"] = extra
    point["whole_sources"] = {src: _source_figures(scored[fold], src, fold, conditions, keyword, threshold, trigger)
                              for src, fold in sorted((whole_sources or {}).items()) if fold < len(scored)}
    solos = [s["solo"] for s in scored if "solo" in s]
    if solos:
        by_kind, by_label = Counter(), Counter()
        totals = Counter()
        for s in solos:
            fired = s.hits(keyword, threshold, trigger)
            for e, f in zip(s.index.events, fired):
                totals[e.kind] += 1
                if f:
                    by_kind[e.kind] += 1
                    by_label[e.label] += 1
        point["solo_fa"] = {k: {"clips": totals[k], "fired": by_kind[k], "fa_pct": 100.0 * by_kind[k] / totals[k]} for k in sorted(totals)}
        point["solo_fa_by_label"] = dict(by_label.most_common(TOP_CAUSES))
    return point


def whole_source_folds(plan: FoldPlan) -> dict[str, int]:
    """{source: fold} for every speech source whose speakers all sit in one fold (the
    single-speaker folder, say): the fold's model never heard that source's voices, microphone
    or room."""
    folds: dict[str, set] = {}
    for c in plan.clips:
        if c.kind != datamod.KIND_NOISE and c.speaker in plan.fold_of:
            folds.setdefault(c.source, set()).add(plan.fold_of[c.speaker])
    return {src: next(iter(f)) for src, f in sorted(folds.items()) if len(f) == 1}


def _source_figures(sets: dict, source: str, fold: int, conditions, keyword: str, threshold: float, trigger) -> dict:
    """One fold's figures on one source's clips: FRR on its keyword trials, false accepts on its
    clips in the negative stream per hour of the stream they take up."""
    out = {"fold": fold, "frr": {}}
    for cond in conditions:
        s = sets.get(f"trials:{cond}")
        if s is None:
            continue
        hit = s.hits(keyword, threshold, trigger, labels=(keyword,))
        mine = np.array([e.source == source for e in s.index.events if e.label == keyword], bool)
        out["keyword_trials"] = int(mine.sum())
        out["frr"][cond] = float(1 - hit[mine].mean()) if mine.any() else None
    stream = sets["negative"]
    found = stream.index.attribute(stream.detections_s(keyword, threshold, trigger), stream.window_s,
                                   SENTENCE_LABEL, datamod.KIND_SPEECH)
    hours = stream.index.hours_by_source(stream.hours).get(source, 0.0)
    fa = sum(1 for _, _, src in found if src == source)
    out.update(fa_count=fa, hours=hours, fa_per_hour=fa / hours if hours else None)
    return out


def summarise(name: str, run_dir: Path, scored: list[dict], keyword: str, trigger_grid=TRIGGER_GRID,
              thresholds=THRESHOLD_GRID, whole_sources: dict[str, int] | None = None) -> dict:
    """One recipe's cross-validated entry: the trigger settings and threshold chosen on the pooled
    out-of-fold scores (lowest pooled FRR, clean plus every noisy condition, at <= 0.5 FA/h), the
    figures there and at the oracle points, and the DET curve of the chosen settings."""
    conditions = [k.split(":", 1)[1] for k in scored[0] if k.startswith("trials:")]
    streams = [s["negative"] for s in scored]
    base = scored[0]["negative"]  # any set: the fold models share their recommended trigger
    hop_s = None
    candidates = []
    for smoothing, patience in trigger_grid:
        trig = dataclasses.replace(_base_trigger(run_dir), smoothing_windows=smoothing, patience_windows=patience)
        hop_s = trig.hop_s
        fa = [pooled_fa(streams, keyword, t, trig)[0] for t in thresholds]
        hours = sum(s.hours for s in streams)
        clean = [pooled_frr(_trial_sets(scored, CONDITION_CLEAN), keyword, t, trig) for t in thresholds]
        choice = choose_threshold_from_curve(thresholds, fa, hours, clean, negatives="pooled out-of-fold")
        frrs = [pooled_frr(_trial_sets(scored, c), keyword, choice.threshold, trig) for c in conditions]
        candidates.append((float(np.mean(frrs)) if choice.met else 2.0, smoothing + patience, trig, choice))
    _, _, trigger, choice = min(candidates, key=lambda c: (c[0], c[1]))
    curve = det_curve({c: _trial_sets(scored, c) for c in conditions}, streams, keyword, trigger, thresholds)
    i_fa = lowest_threshold_meeting([f <= TARGET_FA_PER_HOUR for f in curve["fa_per_hour"]])
    i_rec = highest_threshold_meeting([r <= TARGET_FRR for r in curve["frr"][CONDITION_CLEAN]])
    spec = load_model(Path(run_dir) / "fold0.tflite").spec
    return {
        "name": name,
        "run_dir": str(run_dir),
        "keyword": keyword,
        "folds": len(scored),
        "conditions": conditions,
        "trigger": dataclasses.asdict(trigger),
        "threshold_choice": choice.to_dict(),
        "trigger_grid": [{"smoothing_windows": c[2].smoothing_windows, "patience_windows": c[2].patience_windows,
                          "threshold": c[3].threshold, "met": c[3].met, "mean_frr": c[0]} for c in candidates],
        "at_chosen": operating_point(scored, conditions, keyword, choice.threshold, trigger, whole_sources),
        "at_target_fa": operating_point(scored, conditions, keyword, thresholds[i_fa], trigger, whole_sources) if i_fa is not None else None,
        "at_target_recall": operating_point(scored, conditions, keyword, thresholds[i_rec], trigger, whole_sources) if i_rec is not None else None,
        "det": curve,
        "window_s": base.window_s,
        "hop_s": hop_s,
        "frontend": {"type": spec.frontend.frontend_type, **spec.frontend.to_dict()},
        "input": {"shape": list(spec.input_shape), "dtype": spec.input_dtype},
        "output_activation": spec.output_activation,
        "training": spec.training,
    }


def _base_trigger(run_dir: Path):
    return load_model(Path(run_dir) / "fold0.tflite").spec.trigger


def cross_validate(recipes: dict[str, Path], plan: FoldPlan, keyword: str, seed: int = 0,
                   hours: float = DEFAULT_EVAL_HOURS, snrs_db=DEFAULT_SNRS_DB, placements: int = DEFAULT_PLACEMENTS,
                   cache_dir: Path | None = DEFAULT_CACHE_DIR, extra_sources=(), all_clips=None, fusions=(),
                   fusion_refractory_s: float | None = None, fusions_all=(), coincidence_s: float | None = None) -> dict:
    """Score every recipe's fold models ({name: run dir}) on their folds; the results dict.

    fusions: tuples of recipe names run together on the keyword (fusion.py), each summarised
    from the same scores, with every member's refractory period fusion_refractory_s if given.
    fusions_all: the same for keywords that need every member to fire within coincidence_s
    (fusion.summarise_all; its default window if None)."""
    if not plan.k:
        raise ConfigError("cross-validation needs --folds K")
    scored: dict[str, list[dict]] = {name: [] for name in recipes}
    whole = whole_source_folds(plan)
    fold_info = []
    for fold in range(plan.k):
        sets = build_fold_sets(plan, fold, (keyword,), seed, hours, snrs_db, placements, True, extra_sources, all_clips)
        fold_info.append(sets.info())
        for name, run_dir in recipes.items():
            scored[name].append(score_fold(load_fold_model(run_dir, fold, plan, keyword), sets, cache_dir))
        log.info("fold %d scored", fold)
    models = [summarise(name, run_dir, scored[name], keyword, whole_sources=whole) for name, run_dir in recipes.items()]
    by_name = {m["name"]: m for m in models}
    fused = [summarise_fusion([(n, scored[n], TriggerSettings(**by_name[n]["trigger"])) for n in combo], keyword,
                              refractory_s=fusion_refractory_s)
             for combo in fusions]
    fused += [summarise_all([(n, scored[n], TriggerSettings(**by_name[n]["trigger"])) for n in combo], keyword,
                            refractory_s=fusion_refractory_s,
                            **({} if coincidence_s is None else {"window_s": coincidence_s}))
              for combo in fusions_all]
    return {
        "keyword": keyword,
        "folds": plan.k,
        "fold_seed": plan.fold_seed,
        "eval_seed": seed,
        "eval_hours_per_fold": hours,
        "snrs_db": list(snrs_db),
        "placements": placements,
        "held_out_sources": list(plan.held_out_sources),
        "fold_info": fold_info,
        "targets": {"fa_per_hour": TARGET_FA_PER_HOUR, "frr": TARGET_FRR},
        "whole_sources": whole,
        "models": models,
        "fusions": fused,
    }
