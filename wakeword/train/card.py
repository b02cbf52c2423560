"""The model card (models/README.md), written only from an evaluation results JSON.

Every figure in the card comes from the results file that `python -m wakeword.train.evaluate`
wrote (and from the sidecars' `training` dicts it copied in), so re-running the printed commands
reproduces the card; nothing here is typed by hand except the data sources' licences, which
are facts about the data, not results.

    python -m wakeword.train.card models/eval-results.json --out models/README.md
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shlex
import sys
from pathlib import Path

from ..errors import ConfigError
from .tts import DEBIAN_PACKAGES as TTS_PACKAGES
from .evaluate import (
    PLOT_MIN_THRESHOLD,
    TARGET_FA_PER_HOUR,
    TARGET_FRR,
    THRESHOLD_GRID,
    fmt_threshold,
    format_table,
    table_rows,
)

log = logging.getLogger(__name__)

#: Where the data came from and under which licence (from the data folder's README).
DATA_SOURCES = (
    ("speech_commands/", "Speech Commands v0.02 test set and v0.01 samples (Warden 2018)", "CC BY 4.0"),
    ("single_speaker/", "ros_speech_commands_classification, one speaker (felixchenfy)", "MIT"),
    ("other_wake_words/", "Mycroft Precise community data", "public-domain waivers"),
    ("sentences/librispeech/", "LibriSpeech train-clean-100 (Panayotov et al. 2015)", "CC BY 4.0"),
    ("noise/", "Speech Commands `_background_noise_`", "CC BY 4.0"),
)
#: Used when the data folder's README cannot be read; the same text as its Attribution section.
FALLBACK_ATTRIBUTION = (
    'Speech Commands: Warden P., "Speech Commands: A Dataset for Limited-Vocabulary Speech Recognition", '
    "arXiv:1804.03209, 2018, CC BY 4.0. LibriSpeech: Panayotov et al., ICASSP 2015, CC BY 4.0. "
    "Mycroft Precise community data: contributors' public-domain waivers. Single-speaker commands: "
    "felixchenfy, MIT licence. A project that ships files derived from these keeps this attribution."
)
#: Where the trainer's sidecar `training` dict keeps what the card shows (first found wins).
TRAINING_TIME_KEYS = (("figures", "training_s"), ("train_time_s",))
TOTAL_TIME_KEYS = (("figures", "total_s"),)
TRAINING_COMMAND_KEYS = (("command",),)
THRESHOLD_KEYS = (("figures", "threshold"), ("threshold_choice",))
TOP_CAUSES = 12


def read_attribution(data_root: Path) -> str:
    """The '## Attribution' section of <data_root>/README.md, or FALLBACK_ATTRIBUTION."""
    try:
        text = (Path(data_root) / "README.md").read_text(encoding="utf-8")
    except OSError:
        return FALLBACK_ATTRIBUTION
    m = re.search(r"^## Attribution\s*\n(.*?)(?=^## |\Z)", text, flags=re.S | re.M)
    return " ".join(m.group(1).split()) if m else FALLBACK_ATTRIBUTION


def training_value(training: dict, candidates):
    """The first of `candidates` (key paths into the sidecar's training dict) that exists, or None."""
    for path in candidates:
        node = training or {}
        for key in path:
            node = node.get(key) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def _minutes(seconds) -> str:
    return f"{seconds / 60:.1f} min" if isinstance(seconds, (int, float)) else "n/a"


def _pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def _md_table(rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(out)


def _point_cells(p: dict | None, conditions: list[str]) -> dict:
    if p is None:
        return {}
    solo = p.get("solo_fa", {})
    cells = {f"FRR {c}": _pct(p["frr"][c]) for c in conditions}
    cells["FA/h (count)"] = f"{p['fa_per_hour']:.2f} ({p['fa_count']})"
    for kind, label in (("command", "FA on command words"), ("wakeword", "FA on other wake words")):
        if kind in solo:
            s = solo[kind]
            cells[label] = f"{s['fa_pct']:.1f} % ({s['fired']}/{s['clips']})"
    return cells


def comparison_rows(results: dict) -> list[list[str]]:
    """Metric rows x model columns: the card's main table."""
    models = results["models"]
    conds = results["conditions"]
    header = ["", *[m["name"] for m in models]]
    rows = [header]

    def add(label, values):
        rows.append([label, *values])

    add("model file", [f"`{Path(m['path']).name}`" for m in models])
    add("size", [f"{m['size_bytes'] / 1024:.1f} KiB" for m in models])
    if any(m.get("frontend_files") for m in models):
        add("front-end models", [f"{sum(m['frontend_files'].values()) / 1024:.0f} KiB" if m.get("frontend_files") else "none (MFCC)" for m in models])
    add("parameters", [f"{m['params']:,}" if isinstance(m.get("params"), int) else "n/a" for m in models])
    add("sample rate", [f"{m['sample_rate_hz']} Hz" for m in models])
    add("input", [f"{'x'.join(str(v) for v in m['input']['shape'][1:])} {m['input']['dtype']}" for m in models])
    add("training time (this machine)", [_minutes(training_value(m["training"], TRAINING_TIME_KEYS)) for m in models])
    add("whole training command (features, training, export, validation)",
        [_minutes(training_value(m["training"], TOTAL_TIME_KEYS)) for m in models])
    for key, title in (
        ("at_sidecar_threshold", "at the shipped threshold (chosen on validation)"),
        ("at_target_fa", f"at the lowest test threshold with <= {TARGET_FA_PER_HOUR:g} FA/h (oracle)"),
    ):
        add(f"**{title}**", [""] * len(models))
        add("threshold", [fmt_threshold(m[key]['threshold']) if m.get(key) else "not reached" for m in models])
        cells = [_point_cells(m.get(key), conds) for m in models]
        labels = list(dict.fromkeys(k for c in cells for k in c))
        for label in labels:
            add(label, [c.get(label, "n/a") for c in cells])
    rec = []
    for m in models:
        p = m.get("at_target_recall")
        rec.append(f"{p['fa_per_hour']:.2f} (threshold {fmt_threshold(p['threshold'])})" if p else "not reached")
    add(f"**FA/h at {100 * (1 - TARGET_FRR):.0f} % recall** (clean)", rec)
    return rows


def split_rows(results: dict) -> list[list[str]]:
    counts = results["sets"]["split_counts"]
    kinds = sorted({k for c in counts.values() for k in c["by_kind"]})
    rows = [["split", "speakers", "clips", *kinds]]
    for name, c in counts.items():
        rows.append([name, str(c["speakers"]), str(c["clips"]), *[str(c["by_kind"].get(k, 0)) for k in kinds]])
    return rows


def _frontend_text(f: dict, window_s: float) -> str:
    if f.get("type", "mfcc") == "mfcc" and "winlen_s" in f:
        hi = f.get("highfreq_hz") or f["sample_rate_hz"] / 2
        return (
            f"MFCC at {f['sample_rate_hz']} Hz, {f['winlen_s'] * 1000:g} ms frames every {f['winstep_s'] * 1000:g} ms, "
            f"{f['numcep']} coefficients from {f['nfilt']} filters ({f['lowfreq_hz']:g}–{hi:g} Hz, nfft {f['nfft']}, "
            f"pre-emphasis {f['preemph']:g}, lifter {f['ceplifter']}, energy {'on' if f['append_energy'] else 'off'}, "
            f"{f['winfunc']} window); window {f['window_frames']} frames = {window_s:.3f} s"
        )
    params = ", ".join(f"{k} {v}" for k, v in f.items() if k != "type")
    return f"{f.get('type', 'unknown')} front end ({params}); window {window_s:.3f} s"


def _settings_lines(m: dict) -> list[str]:
    t = m["trigger"]
    files = m.get("frontend_files") or {}
    extra = (" The front end runs " + ", ".join(f"`{n}` ({b / 1024:.0f} KiB)" for n, b in files.items()) + " on every window.") if files else ""
    return [
        f"- **{m['name']}** (`{Path(m['path']).name}`, output {m.get('output_activation', 'sigmoid')}): "
        f"{_frontend_text(m['frontend'], m['window_s'])}. "
        f"Trigger: hop {t['hop_s'] * 1000:g} ms, smoothing over {t['smoothing_windows']} window(s), patience "
        f"{t['patience_windows']}, refractory {t['refractory_s']:g} s, threshold {fmt_threshold(t['threshold'])}." + extra
    ]


def _training_lines(m: dict) -> list[str]:
    tr = m.get("training") or {}
    facts = []
    for label, path in (
        ("architecture", ("arch",)),
        ("seed", ("settings", "seed")),
        ("positive windows", ("data", "windows", "positives")),
        ("negative windows", ("data", "windows", "negatives")),
        ("mined hard negatives", ("data", "windows", "mined")),
        ("synthetic voices", ("data", "tts", "voices")),
        ("synthetic keyword clips", ("data", "tts", "keyword_clips")),
        ("MACs per window", ("figures", "macs_per_window")),
    ):
        value = training_value(tr, (path,))
        if value is not None and not isinstance(value, (dict, list)):
            facts.append(f"{label} {value:,}" if isinstance(value, int) and not isinstance(value, bool) else f"{label} {value}")
    out = [f"- **{m['name']}**: " + ("; ".join(facts) if facts else "no training details in the sidecar") + "."]
    tc = training_value(tr, THRESHOLD_KEYS)
    if isinstance(tc, dict):
        value = tc.get("threshold", tc.get("value"))
        bits = [f"threshold {fmt_threshold(value)}" if isinstance(value, (int, float)) else "threshold"]
        if tc.get("rule"):
            bits.append(str(tc["rule"]))
        if isinstance(tc.get("fa_count"), int) and isinstance(tc.get("stream_hours"), (int, float)):
            bits.append(f"{tc['fa_count']} false accepts in {tc['stream_hours']:.2f} h of validation negatives")
        if isinstance(tc.get("fa_per_hour_upper95"), (int, float)):
            bits.append(f"95 % upper bound {tc['fa_per_hour_upper95']:.2f} FA/h")
        out.append("  - " + "; ".join(bits) + ".")
    return out


def _causes_lines(results: dict) -> list[str]:
    out = []
    for m in results["models"]:
        for key, what in (("at_sidecar_threshold", "shipped threshold"), ("at_target_fa", f"<= {TARGET_FA_PER_HOUR:g} FA/h threshold")):
            p = m.get(key)
            if not p:
                continue
            stream = ", ".join(f"{k} {v}" for k, v in list(p["fa_by_label"].items())[:TOP_CAUSES]) or "none"
            if p.get("fa_by_kind"):
                stream += " (by kind: " + ", ".join(f"{k} {v}" for k, v in p["fa_by_kind"].items()) + ")"
            solo = ", ".join(f"{k} {v}" for k, v in list(p.get("solo_fa_by_label", {}).items())[:TOP_CAUSES]) or "none"
            stray = ", ".join(f"{c} {n}" for c, n in p.get("stray_detections", {}).items())
            out.append(
                f"- **{m['name']}**, {what} ({fmt_threshold(p['threshold'])}): in the negative stream: {stream}. "
                f"Single clips that fired: {solo}."
                + (f" Detections in keyword-trial audio away from the keyword: {stray}." if stray else "")
            )
    return out


#: Hand-written record of training variants tried, beside the card (models/experiments.json).
EXPERIMENTS_FILE = "experiments.json"


def _experiment_lines(card_dir: Path) -> list[str]:
    """'## What was tried' from card_dir/experiments.json: each variant, kept or not, its change,
    the validation comparison and the commands; nothing if the file is absent."""
    path = card_dir / EXPERIMENTS_FILE
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
    lines = ["## What was tried", "", f"From `{EXPERIMENTS_FILE}`: {record.get('about', '')}", ""]
    for e in experiments:
        verdict = "kept" if e.get("kept") else "not kept"
        lines.append(f"- **{e['name']}** ({e.get('model', '')}; {verdict}). Change: `{e.get('change', '')}`. "
                     f"Validation ({e.get('val_split', '')}): {e.get('result', '')}")
        for key, label in (("train", "Train"), ("baseline_train", "Compared with"), ("evaluate", "Compared by"), ("seed_check", "Seed check")):
            if e.get(key):
                lines.append(f"  - {label}: `{e[key]}`")
    return lines + [""]


def _pins_text(sets_info: dict) -> str:
    """', speaker pinned to side, ...' for a split made with --pin ('' without pins)."""
    pins = sets_info.get("pinned") or {}
    return "".join(f", {speaker} pinned to {side}" for speaker, side in sorted(pins.items()))


def _cache_note(results: dict) -> str:
    cached = {m["name"]: len(m.get("scores_from_cache", [])) for m in results["models"] if m.get("scores_from_cache")}
    if not cached:
        return ""
    return " (window scores reused from the score cache for " + ", ".join(f"{k}: {v} audio sets" for k, v in cached.items()) + ")"


def render_card(results: dict, results_path: Path, card_path: Path) -> str:
    """Markdown text of the model card."""
    s = results["sets"]
    neg = s["negative_stream"]
    conds = results["conditions"]
    card_dir = Path(card_path).parent
    det_rel = os.path.relpath(results["det_png"], card_dir) if results.get("det_png") else None
    ours = results["models"][-1]
    lines = [
        f"# Model card: `{Path(ours['path']).name}` ('{s['keyword']}' wake word)",
        "",
        f"Generated by `python -m wakeword.train.card` from `{results_path}` ({results['created_utc']}). "
        "Every figure below comes from that file; the commands at the end reproduce it.",
        "",
        "## Results on the test split",
        "",
        f"Test speakers never appear in training or validation (split by speaker, seed {s['split_seed']}). "
        f"Keyword trials: {s['keyword_clips']} '{s['keyword']}' clips from {s['keyword_speakers']} speakers, each placed "
        f"{s['placements']} times at a random onset in a few seconds of audio; "
        f"clean (on a -60 dBFS floor) and mixed with the held-out noise ({', '.join(s['held_out_noise'])}, never used "
        f"in training) at {', '.join(f'{x:g} dB' for x in s['snrs_db'])} SNR. "
        f"False accepts: a {neg['hours']:.2f} h negative stream of the split's command words, other wake words, "
        f"sentences and silence clips ({neg['distinct_clips']} distinct clips, {neg['clips_placed']} placements in "
        f"{neg['passes']} reshuffled passes) joined with pauses over changing noise beds at varied levels. "
        "FA on command words / other wake words: each clip alone with padding; the share of clips that fire. "
        "Everything runs through the daemon's streaming detector and trigger (1 s windows, the sidecar's hop, "
        "smoothing and refractory period).",
        "",
        _md_table(comparison_rows(results)),
        "",
        f"The shipped threshold was chosen on the validation split; the '<= {TARGET_FA_PER_HOUR:g} FA/h' rows pick the "
        "threshold on the test stream itself, so they are an optimistic reference, not a promise. With "
        f"{s['keyword_clips']} test keyword clips one missed clip is {100 / max(1, s['keyword_clips']):.1f} % FRR, and "
        f"{neg['hours']:.1f} h of negatives cannot resolve rates below about {1 / neg['hours']:.1f} FA/h: read the "
        "figures with that resolution in mind.",
        "",
    ]
    if det_rel:
        lines += [f"![DET curve]({det_rel})", "", "DET curve: false rejects against false accepts per hour over thresholds "
                  f"{PLOT_MIN_THRESHOLD:g}–{THRESHOLD_GRID[-1]:g} ({', '.join(conds)}; dot: shipped threshold). "
                  "Points with no false accept in the stream sit on the '0 FA' line. The whole curve is in the results file.", ""]
    lines += ["### What causes the false accepts", "", *_causes_lines(results), ""]
    lines += ["## Data and licences", "", "| folder | source | licence |", "|---|---|---|"]
    lines += [f"| `{folder}` | {src} | {lic} |" for folder, src, lic in DATA_SOURCES]
    lines += [
        "",
        f"Attribution: {read_attribution(Path(s['data_root']))}",
        "",
        "Synthetic (text-to-speech) keyword clips, if the sidecar lists them below, were used for training only; "
        "validation and test hold real recordings only.",
        "",
        f"### Split (by speaker, seed {s['split_seed']}{_pins_text(s)}; noise files are not split: "
        f"'{', '.join(s['held_out_noise'])}' is held out of training)",
        "",
        _md_table(split_rows(results)),
        "",
        "## Settings",
        "",
        *[line for m in results["models"] for line in _settings_lines(m)],
        "",
        "## Training",
        "",
        *[line for m in results["models"] for line in _training_lines(m)],
        "",
        f"Evaluation machine: {results['machine']['platform']}, Python {results['machine']['python']}. "
        f"Evaluating {len(results['models'])} model(s) on {results['audio_hours']:.2f} h of audio took "
        f"{results.get('wall_time_s', float('nan')):.0f} s of wall time with {results.get('jobs', 1)} process(es)"
        + _cache_note(results) + ".",
        "",
        *_experiment_lines(card_dir),
        "## Reproduce",
        "",
        "```sh",
    ]
    if any(training_value(m.get("training") or {}, [("data", "tts", "enabled")]) for m in results["models"]):
        lines.append(f"# synthetic voices (--tts) need every engine and voice: apt-get install {' '.join(TTS_PACKAGES)}")
    for m in results["models"]:
        cmd = training_value(m.get("training") or {}, TRAINING_COMMAND_KEYS)
        lines.append(f"# {m['name']}: " + (cmd if cmd else "(no training command recorded in its sidecar)"))
        copy = copy_step(cmd, m["path"]) if cmd else None
        if copy:
            lines.append(f"#   then {copy}")
    lines += [
        results.get("command", "python -m wakeword.train.evaluate ..."),
        f"python -m wakeword.train.card {results_path} --out {card_path}",
        "```",
        "",
        "Console summary of the same results:",
        "",
        "```",
        format_table(table_rows(results)),
        "```",
        "",
    ]
    return "\n".join(lines)


def copy_step(command: str, shipped_path: str) -> str | None:
    """The step from a training command's --out PREFIX to the shipped model, if they differ.

    Training writes PREFIX.tflite and PREFIX.json; a model shipped under another name is that
    pair copied, with the sidecar's model_file set to the new name. None if --out is the
    shipped prefix (or absent).
    """
    words = shlex.split(command)
    if "--out" not in words or words.index("--out") + 1 >= len(words):
        return None
    prefix = Path(words[words.index("--out") + 1])
    shipped = Path(shipped_path).with_suffix("")
    if prefix == shipped:
        return None
    return (f"copy {prefix}.tflite and {prefix}.json to {shipped}.tflite and {shipped}.json, "
            f"setting the sidecar's model_file to {shipped.name}.tflite")


def write_card(results_path: Path, card_path: Path) -> None:
    """Read the results JSON and write the model card markdown to card_path."""
    results = json.loads(Path(results_path).read_text(encoding="utf-8"))
    Path(card_path).parent.mkdir(parents=True, exist_ok=True)
    Path(card_path).write_text(render_card(results, Path(results_path), Path(card_path)), encoding="utf-8")
    log.info("wrote %s from %s", card_path, results_path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m wakeword.train.card", description="Write the model card from an evaluation results JSON.")
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
