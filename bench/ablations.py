"""Ablations of the fast model: what each hand-designed stage is worth.

Each variant is trained with the project's own ``train()`` from
``configs/default.yaml`` (same data, seed, optimiser and augmentation; a short,
equal budget of epochs and batches) and evaluated with ``audio-artifacts
evaluate`` on the held-out test split. Recording level = max over windows;
F1 / precision / recall at the threshold chosen on validation.

Variants (constructor arguments of ``FastArtifactNet``):

full            the default model
no_periodicity  without the slow and fast envelope-periodicity branches
no_line_stats   per-bin mean and prominence only (no temporal sd / peak / change)
coarse_freq     n_fft 512 / hop 256 (62.5 Hz bins, like a coarse log-mel's low end)

Run (a few minutes per variant on 2 cores)::

    audio-artifacts simulate data/sim --n 2000 --seed 0 --split
    python bench/ablations.py --data data/sim --epochs 3 --batches 60
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

VARIANTS: dict[str, list[str]] = {
    "full": [],
    "no_periodicity": ["model.arguments.periodicity=false"],
    "no_line_stats": ["model.arguments.line_stats=false"],
    "coarse_freq": ["model.arguments.n_fft=512", "model.arguments.hop=256"],
}


def run_variant(name: str, extra: list[str], args: argparse.Namespace) -> dict:
    """Train one variant, evaluate it on the test split; returns its row."""
    from audio_artifacts.training.config import load_config
    from audio_artifacts.training.train import train

    data = Path(args.data)
    overrides = [
        f"name=ablation-{name}",
        f"data.train_manifest={data / 'train.csv'}",
        f"data.val_manifest={data / 'val.csv'}",
        f"trainer.max_epochs={args.epochs}",
        f"trainer.limit_train_batches={args.batches}",
        "trainer.progress_bar=false",
        f"seed={args.seed}",
        *extra,
    ]
    cfg = load_config(args.config, overrides)
    run_dir = Path(args.out) / name
    began = time.perf_counter()
    model_dir = train(cfg, out=run_dir)
    train_s = time.perf_counter() - began
    eval_dir = run_dir / "evaluation"
    subprocess.run(
        [sys.executable, "-c", "import sys; from audio_artifacts.cli import main; sys.exit(main())",
         "evaluate", str(model_dir), str(data / "test.csv"),
         "--out", str(eval_dir), "--by", "artifact_types", "--backend", "torch"],
        check=True, stdout=subprocess.DEVNULL,
    )
    report = json.loads(next(eval_dir.glob("*.json")).read_text())
    return {"variant": name, "train_s": train_s, "report": report}


def _recording_metrics(report: dict) -> dict:
    """The recording-level block of an evaluation JSON (one model)."""
    model = report["models"][0] if "models" in report else report
    return model["recordings"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="simulator output folder (train/val/test CSVs)")
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--out", default="runs/ablations")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batches", type=int, default=60, help="training batches per epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--report-only", action="store_true",
                        help="print the tables from the evaluation reports already in --out")
    args = parser.parse_args(argv)

    rows = []
    for name in args.variants:
        if args.report_only:
            report = json.loads((Path(args.out) / name / "evaluation" / "report.json").read_text())
            rows.append({"variant": name, "train_s": float("nan"), "report": report})
            continue
        row = run_variant(name, VARIANTS[name], args)
        rows.append(row)
        rec = _recording_metrics(row["report"])
        print(f"# {name}: F1 {rec['f1']:.4f} AUC {rec['roc_auc']:.4f} ({row['train_s']:.0f} s)", flush=True)

    print(f"\n{args.epochs} epochs x {args.batches} batches per variant; test split of {args.data}; "
          "recording level (max over windows), threshold from validation\n")
    print("| variant | F1 | precision | recall | ROC AUC | AP | train s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        rec = _recording_metrics(row["report"])
        print(f"| {row['variant']} | {rec['f1']:.4f} | {rec['precision']:.4f} | {rec['recall']:.4f} | "
              f"{rec['roc_auc']:.4f} | {rec['average_precision']:.4f} | {row['train_s']:.0f} |")
    print_by_type(rows)
    return 0


def print_by_type(rows: list[dict]) -> None:
    """Recording-level ROC AUC of each artifact type against all clean recordings."""
    per_variant = {}
    for row in rows:
        model = row["report"]["models"][0]
        groups = model["breakdowns"].get("artifact_types", [])
        per_variant[row["variant"]] = {
            g["group"]: g.get("roc_auc_vs_all_negatives") for g in groups if g["group"] != "none"
        }
    types = sorted({t for v in per_variant.values() for t in v})
    print("\nRecording-level ROC AUC of each artifact type vs all clean test recordings\n")
    print("| variant | " + " | ".join(types) + " |")
    print("|---|" + "---:|" * len(types))
    for name, values in per_variant.items():
        cells = [f"{values[t]:.4f}" if values.get(t) is not None else "-" for t in types]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
