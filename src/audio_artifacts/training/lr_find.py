"""The learning-rate finder (``train --find-lr``): Lightning's ``Tuner.lr_find`` on the configured run.

A short run raises every parameter group's learning rate together,
exponentially from ``min_lr`` to ``max_lr`` over ``steps`` optimiser steps,
and records the (smoothed) training loss; the suggestion is the learning rate
of the steepest fall of the loss. The run's own schedule is set aside for the
search and nothing is trained for real: no checkpoint, no model directory.

Written into the run directory: ``lr_find.png`` (loss against learning rate,
the suggestion marked) and ``lr_find.json`` (the curve and the suggestion).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import lightning.pytorch as pl
from lightning.pytorch.tuner import Tuner

from audio_artifacts.errors import ConfigError
from audio_artifacts.training.config import TrainConfig
from audio_artifacts.training.train import prepare_run, run_directory, trainer_flags

__all__ = ["LRFinderResult", "find_learning_rate"]


@dataclass(frozen=True)
class LRFinderResult:
    """The suggestion (None when the curve was too short or flat to tell) and the files written."""

    suggestion: float | None
    plot: Path | None
    curve: Path


def find_learning_rate(
    cfg: TrainConfig, out: str | Path | None = None, *, steps: int = 100,
    min_lr: float = 1e-6, max_lr: float = 1.0,
) -> LRFinderResult:
    """Run Lightning's LR finder on ``cfg`` and write its curve into the run directory.

    Parameters
    ----------
    cfg : the experiment (its data, model, optimiser groups and trainer flags)
    out : run directory (default ``cfg.out_dir / cfg.name``)
    steps : optimiser steps of the search (Lightning's ``num_training``)
    min_lr, max_lr : range searched

    Raises
    ------
    ConfigError
        ``steps`` < 2 or a range that is not ``0 < min_lr < max_lr``.
    ManifestError
        Unreadable manifests or recordings.
    """
    if steps < 2:
        raise ConfigError(f"--lr-steps must be >= 2, got {steps}")
    if not 0 < min_lr < max_lr:
        raise ConfigError(f"the LR range must satisfy 0 < min_lr < max_lr, got {min_lr}, {max_lr}")
    if cfg.model.name == "dsp_baseline":
        raise ConfigError("'model.name': dsp_baseline is fitted in closed form; it has no learning rate")
    run_dir = run_directory(cfg, out)
    dm, _, module = prepare_run(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    flags = trainer_flags(cfg)
    # enough epochs for `steps` optimiser steps on a small training set
    flags.update(max_epochs=max(cfg.trainer.max_epochs, 1000), max_steps=-1)
    trainer = pl.Trainer(**flags, logger=False, enable_checkpointing=False, default_root_dir=str(run_dir))
    finder = Tuner(trainer).lr_find(module, datamodule=dm, min_lr=min_lr, max_lr=max_lr,
                                    num_training=steps, update_attr=False)
    suggestion = None if finder is None else finder.suggestion()
    if suggestion is not None and not math.isfinite(suggestion):
        suggestion = None
    curve = run_dir / "lr_find.json"
    results = {} if finder is None else finder.results
    curve.write_text(json.dumps({
        "suggestion": suggestion, "min_lr": min_lr, "max_lr": max_lr, "steps": steps,
        "lr": [float(v) for v in results.get("lr", [])],
        "loss": [float(v) for v in results.get("loss", [])],
    }, indent=2) + "\n", encoding="utf-8")
    plot = None
    if finder is not None and results.get("lr"):
        figure = finder.plot(suggest=suggestion is not None, show=False)
        plot = run_dir / "lr_find.png"
        figure.savefig(plot)
        import matplotlib.pyplot as plt  # finder.plot draws with pyplot; free its figure

        plt.close(figure)
    return LRFinderResult(suggestion=suggestion, plot=plot, curve=curve)
