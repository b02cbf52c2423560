"""The model card (models/README.md), written only from a cross-validation results JSON.

Every figure in the card comes from the results file that `python -m wakeword.train.evaluate`
wrote (and the fold models' sidecars it copied in), plus the shipped models' sidecars found beside
the card (their size, their threshold), so re-running the printed commands reproduces it. Nothing
is typed by hand but the data sources' licences and the hand-kept record of experiments
(experiments.json), which the card renders.

    python -m wakeword.train.card models/eval-results.json --out models/README.md
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from ..errors import ConfigError
from .report import PLOT_MIN_THRESHOLD, POINTS, fa_cell, fmt_threshold, format_table, frr_cell, latency_cell, pct, solo_cell, table_rows
from .thresholds import TARGET_FA_PER_HOUR, TARGET_FRR, THRESHOLD_GRID
from .tts import DEBIAN_PACKAGES as TTS_PACKAGES

log = logging.getLogger(__name__)

#: Where the data came from and under which licence (from the data folder's README).
DATA_SOURCES = (
    ("speech_commands/", "Speech Commands v0.02 test set and v0.01 samples (Warden 2018)", "CC BY 4.0"),
    ("single_speaker/", "ros_speech_commands_classification, one speaker (felixchenfy)", "MIT"),
    ("other_wake_words/", "Mycroft Precise community data", "public-domain waivers"),
    ("sentences/librispeech/", "LibriSpeech train-clean-100 (Panayotov et al. 2015)", "CC BY 4.0"),
    ("noise/", "Speech Commands `_background_noise_`", "CC BY 4.0"),
    ("noise/esc10/", "ESC-10 (Piczak 2015), Freesound recordings; authors in noise/LICENCES.csv", "CC0 1.0 or CC BY 3.0"),
    ("noise/music/", "Kevin MacLeod, Karissa Hobbs, Mihai Sorohan; listed in noise/LICENCES.csv", "public domain, CC BY 3.0"),
)
FALLBACK_ATTRIBUTION = "see the data folder's README.md"
EXPERIMENTS_FILE = "experiments.json"
#: Targets per recipe kind (the model issue's table): FRR clean, 10 dB, room at <= 0.5 FA/h.
TARGETS = {"mfcc": {"clean": 0.04, "snr10db": 0.10, "room": 0.12}, "speech_embedding": {"clean": 0.02, "snr10db": 0.06, "room": 0.08}}


def read_attribution(data_root: Path) -> str:
    """The '## Attribution' section of <data_root>/README.md."""
    try:
        text = (Path(data_root) / "README.md").read_text(encoding="utf-8")
    except OSError:
        return FALLBACK_ATTRIBUTION
    m = re.search(r"^## Attribution\s*\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    return " ".join(m.group(1).split()) if m else FALLBACK_ATTRIBUTION


def training_value(training: dict, *path):
    node = training or {}
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def _md_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def shipped_models(card_dir: Path) -> dict[str, dict]:
    """{run folder: {file, bytes, threshold, trigger}} of the models beside the card whose sidecar
    says which cross-validation chose their threshold."""
    out = {}
    for sidecar in sorted(Path(card_dir).glob("*.json")):
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            continue
        results = training_value(data.get("training") if isinstance(data, dict) else {}, "crossval", "results")
        if not results:
            continue
        model = sidecar.with_name(data.get("model_file", sidecar.stem + ".tflite"))
        out[str(Path(results).parent)] = {"file": model.name, "bytes": model.stat().st_size if model.is_file() else None,
                                          "thresholds": data.get("thresholds"), "trigger": data.get("trigger"),
                                          "command": training_value(data.get("training") or {}, "command")}
    return out


def speaker_cell(x: dict) -> str:
    """crossval.speaker_frr's figures in one cell."""
    if not x.get("speakers"):
        return "n/a"
    return f"{pct(x['mean'])} / {pct(x['median'])} / {pct(x['half_or_more'])} of {x['speakers']}"


def comparison_rows(results: dict, shipped: dict) -> list[list[str]]:
    """Metric rows x recipe columns: the card's main table."""
    models = results["models"]
    conds = models[0]["conditions"]
    rows = [["", *[m["name"] for m in models]]]

    def add(label, values):
        rows.append([label, *values])

    add("shipped as", [f"`{shipped[m['run_dir']]['file']}`" if m["run_dir"] in shipped else "not shipped" for m in models])
    add("size", [f"{shipped[m['run_dir']]['bytes'] / 1024:.0f} KiB" if shipped.get(m["run_dir"], {}).get("bytes") else
                 f"{training_value(m['training'], 'figures', 'size_bytes') / 1024:.0f} KiB (fold model)" for m in models])
    add("front end", [m["frontend"]["type"] for m in models])
    add("parameters", [f"{training_value(m['training'], 'figures', 'params'):,}" for m in models])
    add("input", [f"{'x'.join(str(v) for v in m['input']['shape'][1:])} {m['input']['dtype']}" for m in models])
    add("trigger (chosen on the pooled scores)", [f"hop {1000 * m['trigger']['hop_s']:.0f} ms, smoothing {m['trigger']['smoothing_windows']}, "
                                                  f"patience {m['trigger']['patience_windows']}" for m in models])
    for key, what in POINTS:
        add(f"**at the {what} threshold**", [""] * len(models))
        add("threshold", [fmt_threshold(m[key]["threshold"]) if m.get(key) else "not reached" for m in models])
        for c in conds:
            add(f"FRR {c} (fold range)", [frr_cell(m[key], c) if m.get(key) else "n/a" for m in models])
        add("FRR clean, without the single-speaker folder",
            [pct(m[key]["frr_without_single_speaker"]["clean"]) if m.get(key) else "n/a" for m in models])
        if any((m.get(key) or {}).get("frr_by_speaker") for m in models):
            add("FRR clean per speaker: mean / median / share missed half the time or more",
                [speaker_cell(m[key]["frr_by_speaker"]["clean"]) if (m.get(key) or {}).get("frr_by_speaker") else "n/a"
                 for m in models])
        add("FA/h (count in hours)", [fa_cell(m[key]) if m.get(key) else "n/a" for m in models])
        add("FA/h, fold range", [f"{min(m[key]['fa_per_hour_by_fold']):.2f}-{max(m[key]['fa_per_hour_by_fold']):.2f}" if m.get(key) else "n/a" for m in models])
        add("FA on command words", [solo_cell(m[key], "command") if m.get(key) else "n/a" for m in models])
        add("FA on other wake words", [solo_cell(m[key], "wakeword") if m.get(key) else "n/a" for m in models])
        for name in sorted({n for m in models for n in (m.get(key) or {}).get("held_out_corpora", {})}):
            add(f"FA/h on the held-out corpus {name.split(':', 1)[1]}",
                [f"{m[key]['held_out_corpora'][name]['fa_per_hour']:.2f}" if name in (m.get(key) or {}).get("held_out_corpora", {}) else "n/a" for m in models])
        add("latency, end of word to detection, p50 / p90", [latency_cell(m[key]) if m.get(key) else "n/a" for m in models])
    rec = [f"{m['at_target_recall']['fa_per_hour']:.2f} (threshold {fmt_threshold(m['at_target_recall']['threshold'])})"
           if m.get("at_target_recall") else "not reached" for m in models]
    add(f"**FA/h at {100 * (1 - TARGET_FRR):.0f} % recall** (clean)", rec)
    return rows


def target_lines(results: dict) -> list[str]:
    """How far each recipe is from its targets at the chosen threshold."""
    out = []
    for m in results["models"]:
        targets = TARGETS.get(m["frontend"]["type"], {})
        p = m["at_chosen"]
        bits = []
        for cond, goal in targets.items():
            if cond in p["frr"]:
                got = p["frr"][cond]
                verdict = "met" if got <= goal else f"missed by {100 * (got - goal):.1f} points"
                bits.append(f"{cond} {pct(got)} against <= {100 * goal:.0f} % ({verdict})")
        fa = "met" if p["fa_per_hour"] <= TARGET_FA_PER_HOUR else f"missed ({p['fa_per_hour']:.2f})"
        out.append(f"- **{m['name']}**: " + "; ".join(bits) + f"; FA/h <= {TARGET_FA_PER_HOUR:g}: {fa}.")
    return out


def fold_rows(results: dict) -> list[list[str]]:
    rows = [["fold", "keyword clips", "keyword speakers", "negative stream", "negative clips (distinct)", "room RT60 / distance"]]
    for f in results["fold_info"]:
        neg = f["negative_stream"]
        rooms = f.get("rooms") or {}
        room = (f"{rooms['rt60_s'][0]:.2f}-{rooms['rt60_s'][1]:.2f} s / {rooms['distance_m'][0]:.1f}-{rooms['distance_m'][1]:.1f} m"
                if rooms else "n/a")
        rows.append([str(f["fold"]), str(f["keyword_clips"]), str(f["keyword_speakers"]), f"{neg['hours']:.1f} h",
                     str(neg["distinct_clips"]), room])
    return rows


def _room_reverb_text(fold_info: list[dict]) -> str:
    """What the held-out rooms' impulse responses measure: from the run's own figures when it
    recorded them (runs since the diffuse tail), else what was measured on the image-source-only
    rooms those runs used."""
    t20 = [f["rooms"]["t20_s"] for f in fold_info if (f.get("rooms") or {}).get("t20_s")]
    if t20:
        lo, hi = min(v[0] for v in t20), max(v[1] for v in t20)
        return (f"Measured on the impulse responses (Schroeder T20, 5th-95th percentile per fold), the held-out rooms "
                f"reverberate for {lo:.2f}-{hi:.2f} s: early reflections from the image sources, then a diffuse tail at "
                "the nominal RT60, so the room row is a reverberation no training room had. ")
    return ("Measured on the impulse responses, though, these rooms reverberate less than their nominal RT60 (image "
            "sources only, up to order 12: T20 0.17-0.41 s for the held-out rooms, 0.19-0.41 s for the training rooms, "
            "5th-95th percentile), so the room row is a room like the training rooms, not an unheard one. ")


def _causes_lines(results: dict) -> list[str]:
    out = []
    for m in results["models"]:
        p = m["at_chosen"]
        words = ", ".join(f"{k} {v}" for k, v in p["fa_by_label"].items()) or "none"
        sources = ", ".join(f"{k} {v}" for k, v in p["fa_by_source"].items()) or "none"
        solo = ", ".join(f"{k} {v}" for k, v in p.get("solo_fa_by_label", {}).items()) or "none"
        out.append(f"- **{m['name']}** ({fmt_threshold(p['threshold'])}): in the negative streams, by word: {words}; "
                   f"by source: {sources}. Single clips that fired: {solo}.")
    return out


def _cross_corpus_lines(results: dict) -> list[str]:
    """'Across corpora': each model's figures on the sources that lie whole in one fold."""
    whole = results.get("whole_sources") or {}
    if not whole:
        return []
    out = ["### Across corpora", "",
           "A source whose speakers all sit in one fold never reaches that fold's model: its voices, "
           "microphone and room are new to it. "
           + "; ".join(f"`{src}` lies whole in fold {fold}" for src, fold in whole.items())
           + ". That fold's figures on the source's own clips, at the chosen threshold:", ""]
    for m in results["models"]:
        for src, f in m["at_chosen"].get("whole_sources", {}).items():
            frr = ", ".join(f"{c} {100 * v:.1f} %" for c, v in f["frr"].items() if v is not None) or "no keyword clips"
            fa = (f"{f['fa_count']} false accept{'' if f['fa_count'] == 1 else 's'} in the {f['hours']:.1f} h its clips take up in the fold's stream "
                  f"({f['fa_per_hour']:.2f}/h)" if f.get("fa_per_hour") is not None else "none of its clips in the stream")
            out.append(f"- **{m['name']}** on `{src}` (fold {f['fold']}, {f.get('keyword_trials', 0)} keyword trials per condition): "
                       f"FRR {frr}; {fa}.")
    return out + [""]


def _fusion_lines(results: dict, shipped: dict) -> list[str]:
    """'Both models at once': each --fuse pair, at its pooled thresholds and nested."""
    fusions = [f for f in results.get("fusions") or [] if f.get("at_chosen") and f.get("mode", "any") == "any"]
    both = [f for f in results.get("fusions") or [] if f.get("at_chosen") and f.get("mode") == "all"]
    if not fusions:
        return _all_lines(both, results, shipped)
    files = {m["name"]: shipped.get(m["run_dir"], {}).get("file") for m in results["models"]}
    out = ["### Two models at once", "",
           "A `models:` list with two models of one keyword fires when either fires, once per refractory period. "
           "From the same out-of-fold scores: a trial counts as detected when either model detects it, and the "
           "stream's false accepts are the two models' merged as the daemon merges them. The pair of thresholds is "
           f"chosen on the pooled scores (lowest mean FRR over the conditions at <= {TARGET_FA_PER_HOUR:g} FA/h, no margin), "
           "which flatters a pair more than one threshold flatters one model; the nested rows choose each fold's "
           "thresholds on the other folds only, by that same rule, for the pair and for each model alone (so they differ "
           "a little from the single models' own rows above, whose threshold rule adds a margin), and are the fair "
           "comparison.", ""]
    for f in fusions:
        p = f["at_chosen"]
        out += [_pair_table(f, f"**{f['name']}**, pooled choice"), ""]
        twice = p.get("double_fires")
        if twice:
            out += [f"At the pooled choice the pair fires twice on {twice['fired_twice']} of the {twice['trials_fired']} clean "
                    f"keyword trials it detects ({100 * twice['fraction']:.1f} %): the two models' detections of one word "
                    f"more than the keyword's {f['refractory_s']:g} s refractory period apart.", ""]
        named = [files.get(n) for n in f["members"]]
        if all(named):
            trigger = f", trigger: {{refractory_ms: {1000 * f['refractory_s']:.0f}}}" if f.get("refractory_set") else ""
            out += ["In config.yaml, with the shipped models: `{models: [" + ", ".join(
                f"{{path: {file}, threshold: {fmt_threshold(p['thresholds'][n])}}}" for n, file in zip(f["members"], named))
                + f"]{trigger}}}`.", ""]
    return out + _all_lines(both, results, shipped)


def _pair_table(f: dict, pooled_label: str) -> str:
    """A pair's table: its pooled choice of thresholds, then nested, then each member alone nested."""
    conds, p = f["conditions"], f["at_chosen"]
    rows = [["", "thresholds", *[f"FRR {c}" for c in conds], "FA/h", "latency p50 / p90"]]
    rows.append([pooled_label, ", ".join(f"{n} {fmt_threshold(t)}" for n, t in p["thresholds"].items()),
                 *[frr_cell(p, c) for c in conds], fa_cell(p), latency_cell(p)])
    nested = [(f"**{f['name']}**, nested", f["nested"])] + [(f"{n} alone, nested", v) for n, v in f["nested_members"].items()]
    for label, n in nested:
        if not n.get("met"):
            rows.append([label, "not met", *["n/a"] * len(conds), "n/a", ""])
            continue
        rows.append([label, "per fold", *[frr_cell(n, c) for c in conds], fa_cell(n), ""])
    return _md_table(rows)


def _all_lines(fusions: list[dict], results: dict, shipped: dict) -> list[str]:
    """'Two models that must agree': each --fuse-all pair, at its pooled thresholds and nested."""
    if not fusions:
        return []
    files = {m["name"]: shipped.get(m["run_dir"], {}).get("file") for m in results["models"]}
    out = ["### Two models that must agree", "",
           "The keyword fires only when every model of the pair fires within the coincidence window of the other, "
           "once per refractory period. From the same out-of-fold scores: a trial counts as detected when the two "
           "models' coincident detections fall in it, and the stream's false accepts are the coincidences. Each model's "
           "threshold ranges over the grid, also where it fires far too often alone. The pair of thresholds is chosen "
           f"on the pooled scores (lowest mean FRR over the conditions at <= {TARGET_FA_PER_HOUR:g} FA/h), and nested: "
           "each fold's on the other folds only, for the pair and for each model alone. The nested rows are the fair "
           "comparison. In the daemon: a `models:` list with both and `trigger.combine: all`.", ""]
    for f in fusions:
        out += [_pair_table(f, f"**{f['name']}** (within {f['coincidence_s']:g} s), pooled choice"), ""]
        named = [files.get(n) for n in f["members"]]
        if all(named):
            p = f["at_chosen"]
            refractory = f", refractory_ms: {1000 * f['refractory_s']:.0f}" if f.get("refractory_set") else ""
            out += ["In config.yaml, with the shipped models: `{models: [" + ", ".join(
                f"{{path: {file}, threshold: {fmt_threshold(p['thresholds'][n])}}}" for n, file in zip(f["members"], named))
                + f"], trigger: {{combine: all, coincidence_ms: {1000 * f['coincidence_s']:.0f}{refractory}}}}}`.", ""]
    return out


def _experiment_lines(card_dir: Path, name: str = EXPERIMENTS_FILE) -> list[str]:
    """'## What was tried' from card_dir/name (experiments.json); nothing if the file is absent."""
    path = card_dir / name
    if not path.is_file():
        return []
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        experiments = record["experiments"]
        if not all(isinstance(e, dict) and "name" in e for e in experiments):
            raise KeyError("name")
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not an experiments record ({type(exc).__name__}: {exc}); "
                          "expected {'about': ..., 'experiments': [{'name': ..., ...}]}") from None
    lines = ["## What was tried", "", f"From `{name}`: {record.get('about', '')}", ""]
    for e in experiments:
        verdict = "kept" if e.get("kept") else "not kept"
        lines.append(f"- **{e['name']}** ({e.get('model', '')}; {verdict}). Change: `{e.get('change', '')}`. "
                     f"Result ({e.get('basis', e.get('val_split', ''))}): {e.get('result', '')}")
        for key, label in (("train", "Train"), ("baseline_train", "Compared with"), ("evaluate", "Compared by"), ("seed_check", "Seed check")):
            if e.get(key):
                lines.append(f"  - {label}: `{e[key]}`")
    return lines + [""]


def render_card(results: dict, results_path: Path, card_path: Path) -> str:
    """Markdown text of the model card."""
    card_dir = Path(card_path).parent
    shipped = shipped_models(card_dir)
    det_rel = os.path.relpath(results["det_png"], card_dir) if results.get("det_png") else None
    info = results["fold_info"]
    clips = sum(f["keyword_clips"] for f in info)
    speakers = sum(f["keyword_speakers"] for f in info)
    hours = sum(f["negative_stream"]["hours"] for f in info)
    k = results["folds"]
    lines = [
        f"# Model card: '{results['keyword']}' models",
        "",
        f"Generated by `python -m wakeword.train.card` from `{results_path}` ({results.get('created_utc', '')}). Every "
        "figure below comes from that file and the shipped sidecars beside this card; the commands at the end reproduce it.",
        "",
        "## How the figures were made",
        "",
        f"**{k}-fold speaker cross-validation.** The speakers are dealt into {k} folds (seed {results['fold_seed']}; the "
        "single-speaker folder is one speaker, so it sits in one fold), and the noise classes into "
        f"{k} groups. Each recipe is trained {k} times, each time without one fold's speakers and noise group, and "
        "scored on that fold through the daemon's own streaming detector and trigger. "
        f"Keyword trials: {clips} '{results['keyword']}' clips from {speakers} speakers, each placed {results['placements']} "
        "times in a few seconds of audio: clean (on a -60 dBFS floor), mixed with the fold's held-out noise classes at "
        + ", ".join(f"{x:g} dB" for x in results["snrs_db"]) + " SNR, and in a simulated room drawn from a nominal RT60 band "
        "(0.55-0.70 s) that training rooms are not drawn from, a talker 1-5 m away and held-out noise from elsewhere in "
        "the room at 15 dB at the microphone. " + _room_reverb_text(info) +
        f"False accepts: {hours:.0f} h of remixed negative streams ({results['eval_hours_per_fold']:g} h per fold) of the "
        "held-out speakers' command words, other wake words, sentences and silence, over changing noise beds. "
        "Misses are pooled over every trial and false accepts over every hour; the ranges are the folds' own figures.",
        "",
        "**These are estimates for the recipe.** The shipped models are trained once more on every speaker, with the "
        "trigger settings and the threshold chosen on the pooled out-of-fold scores (<= "
        f"{TARGET_FA_PER_HOUR:g} FA/h); they are not measured on held-out speakers here, because none are left. "
        "The recordings in `tests/data` are left out of every training run, so the integration tests play "
        "recordings no shipped model has trained on. Choosing the threshold and the trigger on the same pooled scores they "
        "are reported on makes the 'chosen' row slightly optimistic (the fusion section below gives figures with nested thresholds); the "
        "oracle row is the best the curve allows. The negative streams replay each fold's clips 10-15 times over changing "
        "beds, so their false accepts are not independent events and the counts are less certain than a Poisson count "
        "of that many hours. The `_silence_` clips are cuts of the background-noise recordings, so a held-out noise class "
        "can reach training through them (about one noisy trial in 40-80 draws such a file).",
        "",
        _md_table(comparison_rows(results, shipped)),
        "",
        "### Against the targets (at the chosen threshold)",
        "",
        *target_lines(results),
        "",
    ]
    if det_rel:
        lines += [f"![DET curve]({det_rel})", "", "DET curve: pooled false rejects against pooled false accepts per hour "
                  f"over thresholds {PLOT_MIN_THRESHOLD:g}-{THRESHOLD_GRID[-1]:g} (dot: chosen threshold). Points with no "
                  "false accept sit on the '0 FA' line. The whole curve is in the results file.", ""]
    lines += _fusion_lines(results, shipped)
    lines += ["### What causes the false accepts", "", *_causes_lines(results), ""]
    lines += _cross_corpus_lines(results)
    lines += ["### The folds", "", _md_table(fold_rows(results)), ""]
    lines += ["## Data and licences", "", "| folder | source | licence |", "|---|---|---|"]
    lines += [f"| `{folder}` | {src} | {lic} |" for folder, src, lic in DATA_SOURCES]
    lines += ["", f"Attribution: {read_attribution(Path(results.get('data_root', '')))}", "",
              "Synthetic (text-to-speech) clips, where a recipe uses them, are training material only; every figure is "
              "on real recordings.", "", "## Training", ""]
    for m in results["models"]:
        tr = m["training"]
        lines.append(f"- **{m['name']}**: `{tr.get('command', 'n/a')}`; {training_value(tr, 'data', 'windows', 'trained') or 'n/a'} "
                     f"windows per fold model, {training_value(tr, 'figures', 'training_s') or 0:.0f} s of fitting per fold "
                     f"model on this machine; trigger grid tried: "
                     + "; ".join(f"s{g['smoothing_windows']}p{g['patience_windows']} mean FRR {pct(g['mean_frr']) if g['mean_frr'] <= 1 else 'not met'}"
                                 for g in m.get("trigger_grid", [])) + ".")
    lines += ["", *_experiment_lines(card_dir), "## Reproduce", "", "```sh"]
    if any(training_value(m["training"], "data", "tts", "enabled") for m in results["models"]):
        lines.append(f"# synthetic voices (--tts) need every engine and voice: apt-get install {' '.join(TTS_PACKAGES)}")
    for m in results["models"]:
        # a shipped model's own command (fold models and the final one); else the fold models'
        command = shipped.get(m["run_dir"], {}).get("command") or training_value(m["training"], "command")
        lines.append(command or f"# {m['name']}: no command recorded")
        if m["run_dir"] in shipped:
            lines.append(f"wakeword-train ship {m['run_dir']}/final.tflite {card_dir / shipped[m['run_dir']]['file']}")
    lines += [results.get("command", "python -m wakeword.train.evaluate ..."),
              f"python -m wakeword.train.card {results_path} --out {card_path}", "```", "",
              "Console summary of the same results:", "", "```", format_table(table_rows(results)), "```", ""]
    return "\n".join(lines)


def write_card(results_path: Path, card_path: Path) -> None:
    """Read the results JSON and write the model card markdown to card_path."""
    results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    Path(card_path).parent.mkdir(parents=True, exist_ok=True)
    Path(card_path).write_text(render_card(results, Path(results_path), Path(card_path)), encoding="utf-8")
    log.info("wrote %s from %s", card_path, results_path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m wakeword.train.card", description="Write the model card from a results JSON.")
    p.add_argument("results", type=Path, help="results JSON from python -m wakeword.train.evaluate")
    p.add_argument("--out", type=Path, default=Path("models/README.md"))
    args = p.parse_args(argv)
    try:
        write_card(args.results, args.out)
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        print(f"error: {args.results}: cannot write the card ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
