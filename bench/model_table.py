"""The one comparison table of ``bench/model_timebox.sh``: every model on the same data and budget.

Reads what the time box wrote into its output folder and prints, as Markdown:

* one row per model: training budget, training windows/s, recording F1 /
  precision / recall / ROC AUC on the own test subset and on the foreign
  subset, false-positive rate of all clean foreign recordings and the worst
  stimulus kind, parameters, GMAC and torch ms per 5 s window, and the event
  onset error (frames where the model has them, else its 5 s windows);
* the false-positive rate per stimulus kind on both subsets, one column per model
  (``bench/generalization.py``'s table).

Inputs, all in ``OUT`` (default ``runs/timebox``): ``eval-test/report.json``
and ``eval-foreign/report.json`` (``audio-artifacts evaluate``),
``onsets.json`` (``bench/onset_error.py --json``), ``cost.json``
(``bench/model_cost.py --json``) and ``<model>/metrics.json`` (training).
A missing input leaves its columns empty.

Usage::

    python bench/model_table.py [OUT]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from generalization import condition_table  # noqa: E402  (bench/generalization.py, beside this file)


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _models(report: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Evaluated models by name (the model directory's ``name``)."""
    return {} if report is None else {m["model"]["name"]: m for m in report["models"]}


def _rate(item: dict[str, Any] | None) -> str:
    if not item or not item.get("of"):
        return "-"
    return f"{item['rate']:.2f} ({item['count']}/{item['of']})"


def _scores(m: dict[str, Any] | None) -> str:
    if m is None:
        return "-"
    r = m["recordings"]
    auc = "-" if r["roc_auc"] is None else f"{r['roc_auc']:.3f}"
    return f"{r['f1']:.3f} / {r['precision']:.3f} / {r['recall']:.3f} / {auc}"


def _onset(onsets: dict[str, Any], m: dict[str, Any] | None) -> str:
    if m is None:
        return "-"
    key = f"{m['model']['name']} ({m['model']['architecture']})"
    lines = onsets.get(key)
    if not lines:
        return "-"
    line = "frames" if "frames" in lines else "window"
    f = lines[line]["all"]
    if not f["events"] or math.isnan(f["median_s"]):
        return f"{line}: none found"
    return f"{f['median_s']:.2f} / {f['p90_s']:.2f} ({line}, found {f['found']:.2f})"


def _cost_key(m: dict[str, Any]) -> str:
    """``bench/model_cost.py`` names models by architecture (the bundled one is ``fast``)."""
    return m["model"]["architecture"]


def comparison_table(out: Path) -> list[str]:
    """The Markdown lines of the one table (see the module docstring)."""
    test = _models(_load(out / "eval-test" / "report.json"))
    foreign = _models(_load(out / "eval-foreign" / "report.json"))
    onsets = _load(out / "onsets.json") or {}
    cost = _load(out / "cost.json") or {}
    names = list(dict.fromkeys([*test, *foreign]))
    lines = ["| model | trained here | train windows/s | own test F1 / P / R / AUC | foreign F1 / P / R / AUC "
             "| foreign FPR (all clean) | foreign worst stimulus FPR | params | GMAC / 5 s | torch ms / window "
             "| onset median / p90 s |",
             "|---|---|---:|---|---|---|---|---:|---:|---:|---|"]
    for name in names:
        m = test.get(name) or foreign.get(name)
        metrics = _load(out / name / "metrics.json")
        if metrics is not None:
            fit = metrics["fit"]
            trained = f"{fit['global_step']} steps" if "global_step" in fit else "fitted on the subset"
            speed = fit.get("train_windows_per_s", "-")
        else:
            trained, speed = "no (full split)" if name == "default" else "fitted on the subset", "-"
        c = cost.get(_cost_key(m), {})
        if c.get("train_windows_per_s") is not None:
            speed = f"{speed} ({c['train_windows_per_s']:.1f} alone)" if speed != "-" else f"{c['train_windows_per_s']:.1f} alone"
        summary = (foreign.get(name) or {}).get("conditions", {}).get("summary", {})
        worst = summary.get("worst_stimulus_fpr")
        worst_text = "-" if not worst else f"{_rate(worst)} {worst['group']}"
        params = f"{c['params'] / 1e6:.3f} M" if "params" in c else "-"
        gmac = f"{c['gmac']:.3f}" if "gmac" in c else "-"
        ms = f"{c['torch_ms']:.2f}" if "torch_ms" in c else "-"
        label = f"{name} ({m['model']['architecture']})" if name != m["model"]["architecture"] else name
        lines.append(f"| {label} | {trained} | {speed} | {_scores(test.get(name))} | {_scores(foreign.get(name))} "
                     f"| {_rate(summary.get('fpr'))} | {worst_text} | {params} | {gmac} | {ms} "
                     f"| {_onset(onsets, test.get(name))} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=Path("runs/timebox"), help="the time box's output folder")
    args = parser.parse_args(argv)
    if not (args.out / "eval-test" / "report.json").is_file() and not (args.out / "eval-foreign" / "report.json").is_file():
        parser.error(f"{args.out}: no eval-test/report.json or eval-foreign/report.json (run bench/model_timebox.sh)")
    print("\n".join(comparison_table(args.out)))
    reports = {"foreign": _load(args.out / "eval-foreign" / "report.json")}
    reports = {split: r for split, r in reports.items() if r is not None}
    print("\nFalse-positive rate of clean foreign recordings by stimulus:\n")
    rows = condition_table(reports, "stimulus", "fpr")
    kept = rows[:2] + [row for row in rows[2:] if any(cell.strip() for cell in row.split("|")[2:-1])]
    print("\n".join(kept))  # the kinds with clean recordings only
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
