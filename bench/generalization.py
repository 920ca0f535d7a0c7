"""Own split and foreign split side by side, from `audio-artifacts evaluate` reports.

``scripts/make_default_model.sh`` evaluates the bundled model and the DSP
baseline on the simulator's own test split and on the foreign split (held-out
device families, speakers, voices, engines, soundfonts, pieces, seeds). This
prints, from those two ``report.json`` files, the tables docs/models.md
carries: recording-level metrics per model and split with the targets of the
generalization issue, the false-positive rate per stimulus kind and duration
band, and recall per artifact type and level band.

Usage::

    python bench/generalization.py runs/bundled/eval-test/report.json runs/bundled/eval-foreign/report.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

TARGETS = {"f1": 0.97, "roc_auc": 0.995, "fpr": 0.03, "recall_0db": 0.95}


def _rate(item: dict[str, Any] | None) -> str:
    if not item or item.get("of", 0) == 0:
        return "n/a"
    return f"{item['rate']:.3f} ({item['count']}/{item['of']})"


def _models(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f"{m['model']['name']} {m['model']['version']} ({m['model']['architecture']})": m for m in report["models"]}


def summary_table(reports: dict[str, dict[str, Any]]) -> list[str]:
    """One row per model and split: F1, precision, recall, AUC, FPR figures, recall at >= 0 dB."""
    lines = ["| model | split | F1 | precision | recall | ROC AUC | FPR (all clean) | worst stimulus FPR | FPR < 5 s | recall >= 0 dB |",
             "|---|---|---:|---:|---:|---:|---|---|---|---|"]
    for split, report in reports.items():
        for name, m in _models(report).items():
            r, s = m["recordings"], m["conditions"]["summary"]
            worst = s["worst_stimulus_fpr"]
            worst_text = "n/a" if worst is None else f"{_rate(worst)} {worst['group']}"
            auc = "n/a" if r["roc_auc"] is None else f"{r['roc_auc']:.4f}"
            lines.append(f"| {name} | {split} | {r['f1']:.4f} | {r['precision']:.4f} | {r['recall']:.4f} | {auc} | "
                         f"{_rate(s['fpr'])} | {worst_text} | {_rate(s['fpr_short'])} | {_rate(s['recall_at_0db'])} |")
    return lines


def condition_table(reports: dict[str, dict[str, Any]], condition: str, what: str) -> list[str]:
    """FPR (``what="fpr"``) or recall per group of ``condition``, one column per model and split."""
    columns = [(split, name, m) for split, report in reports.items() for name, m in _models(report).items()]
    groups: list[str] = []
    for _, _, m in columns:
        for row in m["conditions"]["conditions"].get(condition, []):
            if row["group"] not in groups:
                groups.append(row["group"])
    header = "| " + condition + " | " + " | ".join(f"{name.split(' (')[0]}, {split}" for split, name, _ in columns) + " |"
    lines = [header, "|---|" + "---|" * len(columns)]
    for group in groups:
        cells = []
        for _, _, m in columns:
            row = next((r for r in m["conditions"]["conditions"].get(condition, []) if r["group"] == group), None)
            if row is None:
                cells.append("")
            elif what == "fpr":
                cells.append("" if not row["clean"] else f"{row['fpr']:.3f} ({row['false_positives']}/{row['clean']})")
            else:
                cells.append("" if not row["artifacts"] else f"{row['recall']:.3f} ({row['detected']}/{row['artifacts']})")
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return lines


def targets_lines(report: dict[str, Any]) -> list[str]:
    """The generalization issue's targets, checked for the first model of the foreign report."""
    m = next(iter(_models(report).values()))
    r, s = m["recordings"], m["conditions"]["summary"]
    stimulus_rows = [row for row in m["conditions"]["conditions"]["stimulus"] if row["clean"]]
    over = [f"{row['group']} {row['fpr']:.3f}" for row in stimulus_rows if row["fpr"] > TARGETS["fpr"]]
    short = s["fpr_short"]
    checks = [
        ("F1 >= 0.97", r["f1"] >= TARGETS["f1"], f"{r['f1']:.4f}"),
        ("ROC AUC >= 0.995", (r["roc_auc"] or 0) >= TARGETS["roc_auc"], f"{r['roc_auc']:.4f}"),
        ("FPR <= 3 % under every stimulus kind", not over, ", ".join(over) or "all within"),
        ("FPR <= 3 % for recordings < 5 s", short["of"] > 0 and short["rate"] <= TARGETS["fpr"], _rate(short)),
        ("recall >= 0.95 at >= 0 dB", s["recall_at_0db"]["rate"] >= TARGETS["recall_0db"], _rate(s["recall_at_0db"])),
    ]
    return [f"- {name}: {'MET' if ok else 'NOT MET'} ({value})" for name, ok, value in checks]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("own", type=Path, help="report.json of the evaluation on the own test split")
    parser.add_argument("foreign", type=Path, help="report.json of the evaluation on the foreign split")
    args = parser.parse_args(argv)
    reports = {"own test": json.loads(args.own.read_text()), "foreign": json.loads(args.foreign.read_text())}
    blocks = [
        ["Recording level (max over windows), each model at its own threshold:", ""] + summary_table(reports),
        ["Targets on the foreign split (first model):", ""] + targets_lines(reports["foreign"]),
        ["False-positive rate of clean recordings by stimulus:", ""] + condition_table(reports, "stimulus", "fpr"),
        ["False-positive rate by recording duration:", ""] + condition_table(reports, "duration", "fpr"),
        ["Recall by artifact type:", ""] + condition_table(reports, "artifact_type", "recall"),
        ["Recall by artifact level (artifact-to-floor dB, loudest event):", ""]
        + condition_table(reports, "level_band", "recall"),
    ]
    print("\n\n".join("\n".join(block) for block in blocks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
