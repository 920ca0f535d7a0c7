"""Fit a temperature for a model directory on a validation manifest and measure calibration
on another manifest (the held-out foreign split), before and after, per level and per stimulus.

    python bench/calibrate_bundled.py [--model DIR] --val data/sim/val.csv --eval data/sim/foreign.csv
                                      [--json out.json] [--write]

Prints ECE / Brier at window and recording level, per stimulus kind, the fitted temperature,
the threshold mapped to the calibrated scale and how many recording verdicts change (must be 0:
temperature scaling is monotone). ``--write`` stores the temperature and the mapped threshold
in the model directory's model.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

from audio_artifacts.data.labels import DEFAULT_MIN_OVERLAP_S
from audio_artifacts.data.manifest import load_entries
from audio_artifacts.evaluation.calibration import (
    brier_score,
    expected_calibration_error,
    fit_temperature,
    scale_probability,
)
from audio_artifacts.evaluation.predictions import FailedRecording, score_entries
from audio_artifacts.inference.detector import Detector
from audio_artifacts.models.model_dir import INFO_FILE, default_model_dir, read_model_info


def _scores(detector: Detector, manifest: str):
    items = [s for s in score_entries(detector, load_entries(Path(manifest)), DEFAULT_MIN_OVERLAP_S)
             if not isinstance(s, FailedRecording)]
    return items


def _logits(p: np.ndarray, temperature: float) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-15, 1 - 1e-15)
    return (np.log(p) - np.log1p(-p)) * temperature  # the network's logit


def _figures(labels, probs) -> str:
    return f"ECE {expected_calibration_error(labels, probs):.4f}, Brier {brier_score(labels, probs):.4f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=str(default_model_dir()))
    parser.add_argument("--val", required=True)
    parser.add_argument("--eval", required=True)
    parser.add_argument("--json", default=None)
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)

    detector = Detector(args.model, backend="torch")
    info = detector.info
    t0 = info.temperature
    val = _scores(detector, args.val)
    val_logits = np.concatenate([_logits(s.probabilities, t0) for s in val])
    val_labels = np.concatenate([s.window_labels for s in val])
    temperature = fit_temperature(val_logits, val_labels)
    threshold = scale_probability(scale_probability(info.threshold, 1 / t0), temperature)
    print(f"model {info.name} {info.version}: temperature fitted on {args.val} windows "
          f"({val_labels.size}): T = {temperature:.4f}; threshold {info.threshold:.6g} -> {threshold:.6g}")

    result = {"model": args.model, "temperature": temperature, "threshold_before": info.threshold,
              "threshold_after": threshold, "levels": {}, "stimulus": {}}
    for name, items in (("val", val), ("eval", _scores(detector, args.eval))):
        logits = [_logits(s.probabilities, t0) for s in items]
        before = [1 / (1 + np.exp(-z / t0)) for z in logits]  # as the model directory gives them
        after = [1 / (1 + np.exp(-z / temperature)) for z in logits]
        win_y = np.concatenate([s.window_labels for s in items])
        rec_y = np.array([s.entry.label for s in items])
        for level, y, b, a in (("windows", win_y, np.concatenate(before), np.concatenate(after)),
                               ("recordings", rec_y, np.array([x.max() for x in before]),
                                np.array([x.max() for x in after]))):
            print(f"{name} {level} (n={y.size}): before {_figures(y, b)}; after {_figures(y, a)}")
            result["levels"][f"{name}/{level}"] = {
                "n": int(y.size), "ece_before": expected_calibration_error(y, b),
                "ece_after": expected_calibration_error(y, a), "brier_before": brier_score(y, b),
                "brier_after": brier_score(y, a)}
        rec_b = np.array([x.max() for x in before])
        rec_a = np.array([x.max() for x in after])
        changed = int(np.sum((rec_b >= info.threshold) != (rec_a >= threshold)))
        print(f"{name}: recording verdicts changed by calibration: {changed} of {rec_y.size}")
        result["levels"][f"{name}/verdicts_changed"] = changed
        if name == "eval":
            groups = defaultdict(list)
            for i, s in enumerate(items):
                groups[s.entry.columns.get("stimulus", "?")].append(i)
            print("| stimulus | recordings | ECE before | ECE after | Brier before | Brier after |")
            print("|---|---|---|---|---|---|")
            for group, index in sorted(groups.items()):
                y, b, a = rec_y[index], rec_b[index], rec_a[index]
                row = {"n": len(index), "ece_before": expected_calibration_error(y, b),
                       "ece_after": expected_calibration_error(y, a),
                       "brier_before": brier_score(y, b), "brier_after": brier_score(y, a)}
                result["stimulus"][group] = row
                print(f"| {group} | {row['n']} | {row['ece_before']:.4f} | {row['ece_after']:.4f} | "
                      f"{row['brier_before']:.4f} | {row['brier_after']:.4f} |")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.write:
        path = Path(args.model) / INFO_FILE
        data = json.loads(path.read_text(encoding="utf-8"))
        data["temperature"], data["threshold"] = temperature, threshold
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        print(f"written: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
