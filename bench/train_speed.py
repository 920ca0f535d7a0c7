"""Training throughput (windows/s) of a config, measured by a short real training run.

    python bench/train_speed.py --config configs/default.yaml [--batches 20] [KEY=VALUE ...]

Trains for one epoch of ``--batches`` batches (plus validation and the
threshold choice) into a temporary run directory and prints the windows per
second through data loading, augmentation, forward and backward (validation
excluded), as logged by the training module, together with the hardware.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import torch

from audio_artifacts.training.config import load_config
from audio_artifacts.training.train import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--batches", type=int, default=20, help="training batches to time")
    parser.add_argument("overrides", nargs="*")
    args = parser.parse_args()
    overrides = [f"trainer.limit_train_batches={args.batches}", "trainer.max_epochs=1",
                 "trainer.progress_bar=false", "logger.mlflow=false", *args.overrides]
    cfg = load_config(args.config, overrides)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        model_dir = train(cfg, os.path.join(tmp, "run"))
        wall = time.perf_counter() - start
        fit = json.loads((model_dir.parent / "metrics.json").read_text())["fit"]
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() and cfg.trainer.accelerator != "cpu" \
        else f"CPU, {torch.get_num_threads()} threads"
    print(f"{cfg.model.name}: {fit.get('train_windows_per_s')} training windows/s "
          f"(batch {cfg.data.batch_size}, {args.batches} batches, precision {cfg.trainer.precision}, "
          f"{device}); whole run incl. decoding and validation {wall:.1f} s")


if __name__ == "__main__":
    main()
