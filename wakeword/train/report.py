"""Tables, the DET plot and the printed report of a cross-validation results dict (crossval.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from .thresholds import TARGET_FA_PER_HOUR, TARGET_FRR

#: The DET plot starts at this threshold (the JSON holds the whole grid).
PLOT_MIN_THRESHOLD = 0.05
#: Operating points the tables show: results key, label.
POINTS = (("at_chosen", "chosen"), ("at_target_fa", f"<= {TARGET_FA_PER_HOUR:g} FA/h, oracle"))


def fmt_threshold(t: float) -> str:
    """A threshold with enough digits to tell grid steps near 1 apart: 0.500, 0.9960, 0.99999874."""
    digits = max(3, math.ceil(-math.log10(max(1.0 - t, 1e-9))) + 2)
    return f"{t:.{digits}f}"


def pct(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f} %"


def spread(values) -> str:
    """'a-b %' of per-fold fractions."""
    vals = [v for v in values if not (isinstance(v, float) and math.isnan(v))]
    return f"{100 * min(vals):.0f}-{100 * max(vals):.0f} %" if vals else "n/a"


def frr_cell(point: dict, cond: str) -> str:
    return f"{pct(point['frr'][cond])} ({spread(point['frr_by_fold'][cond])})"


def fa_cell(point: dict) -> str:
    return f"{point['fa_per_hour']:.2f} ({point['fa_count']} in {point['hours']:.0f} h)"


def solo_cell(point: dict, kind: str) -> str:
    s = point.get("solo_fa", {}).get(kind)
    return f"{s['fa_pct']:.1f} % ({s['fired']}/{s['clips']})" if s else "n/a"


def latency_cell(point: dict) -> str:
    lat = point.get("latency_s")
    return f"{1000 * lat['median']:.0f} / {1000 * lat['p90']:.0f} ms" if lat else "n/a"


def table_rows(results: dict) -> list[list[str]]:
    """Rows (header first) of the console table: every recipe at each operating point."""
    conds = results["models"][0]["conditions"]
    header = ["model", "threshold"] + [f"FRR {c} (folds)" for c in conds] + ["FA/h", "FA cmd", "FA wake", "latency p50/p90"]
    rows = [header]
    for m in results["models"]:
        for key, what in POINTS:
            p = m.get(key)
            if p is None:
                rows.append([m["name"], f"{what}: not reached"] + [""] * (len(header) - 2))
                continue
            rows.append([m["name"], f"{fmt_threshold(p['threshold'])} ({what})"] + [frr_cell(p, c) for c in conds]
                        + [fa_cell(p), solo_cell(p, "command"), solo_cell(p, "wakeword"), latency_cell(p)])
    return rows


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def plot_det(results: dict, path: Path) -> None:
    """DET curves: pooled FRR (y, %) against pooled FA/h (x, log), every recipe and condition.

    Zero false accepts cannot sit on a log axis: those points are drawn at half of one false
    accept over the pooled hours (the grey line, "0 FA")."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(5.6, 4.0), dpi=80)
    floor = None
    for mi, m in enumerate(results["models"]):
        det = m["det"]
        hours = m["at_chosen"]["hours"]
        floor = 0.5 / hours
        keep = np.asarray(det["thresholds"], float) >= PLOT_MIN_THRESHOLD
        fa = np.maximum(np.asarray(det["fa_per_hour"], float), floor)[keep]
        for ci, cond in enumerate(m["conditions"]):
            frr = 100 * np.asarray(det["frr"][cond], float)[keep]
            ax.plot(fa, frr, styles[ci % len(styles)], color=f"C{mi}", lw=1.2, marker=".", ms=3, label=f"{m['name']} {cond}")
        p = m["at_chosen"]
        ax.plot(max(p["fa_per_hour"], floor), 100 * p["frr"][m["conditions"][0]], "o", color=f"C{mi}", ms=5)
    if floor:
        ax.axvline(floor, color="0.6", lw=0.8)
        ax.text(floor, 1, " 0 FA", color="0.4", fontsize=7, va="bottom")
    ax.axvline(TARGET_FA_PER_HOUR, color="0.3", lw=0.8, ls=":")
    ax.set_xscale("log")
    ax.set_xlabel(f"false accepts per hour (pooled over {results['folds']} folds' held-out negatives)")
    ax.set_ylabel("false rejects (%)")
    ax.set_ylim(0, 100)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=6, loc="best")
    ax.set_title(f"DET, '{results['keyword']}', {results['folds']}-fold speaker cross-validation (dot: chosen)", fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def print_report(results: dict, out=sys.stdout) -> None:
    info = results["fold_info"]
    print(f"{results['folds']}-fold cross-validation of '{results['keyword']}': "
          f"{sum(f['keyword_clips'] for f in info)} keyword clips from {sum(f['keyword_speakers'] for f in info)} speakers "
          f"x {results['placements']} placements; negatives {sum(f['negative_stream']['hours'] for f in info):.1f} h", file=out)
    print(format_table(table_rows(results)), file=out)
    for m in results["models"]:
        rec = m.get("at_target_recall")
        rec_txt = f"{rec['fa_per_hour']:.2f} FA/h at threshold {fmt_threshold(rec['threshold'])}" if rec else "not reached"
        print(f"{m['name']}: trigger {m['trigger']}; at {100 * (1 - TARGET_FRR):.0f} % recall (clean): {rec_txt}", file=out)
        p = m["at_chosen"]
        causes = ", ".join(f"{k} {v}" for k, v in p["fa_by_label"].items()) or "none"
        print(f"{m['name']}: false accepts at the chosen threshold by word: {causes}; by source: "
              + (", ".join(f"{k} {v}" for k, v in p["fa_by_source"].items()) or "none"), file=out)
        others = ", ".join(f"{c} {pct(v)}" for c, v in p["frr_without_single_speaker"].items())
        print(f"{m['name']}: FRR without the single-speaker folder: {others}", file=out)
        per = p.get("frr_by_speaker", {}).get("clean")
        if per and per["speakers"]:
            print(f"{m['name']}: clean FRR per speaker ({per['speakers']} speakers): mean {pct(per['mean'])}, median "
                  f"{pct(per['median'])}; missed half the time or more: {pct(per['half_or_more'])}, every time: {pct(per['all'])}",
                  file=out)
        for name, x in p.get("held_out_corpora", {}).items():
            print(f"{m['name']}: held-out corpus {name}: {x['fa_per_hour']:.2f} FA/h ({x['fa_count']} in {x['hours']:.1f} h)", file=out)
